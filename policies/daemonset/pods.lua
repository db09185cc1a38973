-- The DaemonSet's pods: claiming (adoption and release, as ClaimPods does), the index by target
-- node, and pod control (creates in slow-start batches, deletes, their events and
-- expectations: syncNodes of pkg/controller/daemon).
local kube = require("kube")
local C = require("daemonset.common")

local M = {}

-- ClaimPods: the pods of the namespace owned by ds (selector still matching) plus matching
-- orphans, which are adopted; owned pods that no longer match are released.
function M.claim(st)
  local ctx, ds, ns, uid, sel = st.ctx, st.ds, st.ns, st.uid, st.selector
  local claimed = {}
  local first_err
  local owned = ctx:list(C.PODS, { namespace = ns, owner = uid })
  for i = 1, #owned do
    local pod = owned[i]
    if sel:matches(pod.metadata.labels) then
      claimed[#claimed + 1] = pod
    else
      local _, err = ctx:patch(C.PODS, ns, pod.metadata.name, {
        metadata = { ownerReferences = { { ["$patch"] = "delete", uid = uid } }, uid = pod.metadata.uid },
      }, { type = "strategic" })
      if err and not err.not_found and not err.invalid then first_err = first_err or err end
    end
  end
  -- Every matching pod that is ours is in `claimed` already; when the counts agree there is
  -- no orphan to adopt and the scan is skipped.
  local matching = ctx:list(C.PODS, { namespace = ns, selector = ds.spec.selector })
  if #matching ~= #claimed then
    for i = 1, #matching do
      local pod = matching[i]
      if C.controller_uid(pod) == nil and pod.metadata.deletionTimestamp == nil then
        local adopted, err = ctx:patch(C.PODS, ns, pod.metadata.name, {
          metadata = { ownerReferences = { C.controller_ref(ds) }, uid = pod.metadata.uid },
        }, { type = "strategic" })
        if adopted then
          claimed[#claimed + 1] = adopted
        elseif not err.not_found then
          first_err = first_err or err
        end
      end
    end
  end
  return claimed, first_err
end

-- getNodesToDaemonPods: claimed pods grouped by target node (spec.nodeName, else the
-- metadata.name matchFields term); terminal pods already being deleted are left out unless
-- include_deleted_terminal. Returns the index, the claimed pods, and the claim error.
function M.by_node(st, include_deleted_terminal)
  local claimed, err = M.claim(st)
  local idx = {}
  local target_node, is_terminal = kube.pods.target_node, kube.pods.is_terminal
  for i = 1, #claimed do
    local pod = claimed[i]
    if include_deleted_terminal or pod.metadata.deletionTimestamp == nil or not is_terminal(pod) then
      local node = target_node(pod)
      if node ~= nil then
        local list = idx[node]
        if list == nil then
          idx[node] = { pod }
        else
          list[#list + 1] = pod
        end
      end
    end
  end
  return idx, claimed, err
end

local function terminating_namespace(err)
  local m = err and err.message
  return type(m) == "string" and m:find("because it is being terminated", 1, true) ~= nil
end

-- syncNodes: deletes pods (a list of pod objects) and creates one pod on each named node, at
-- most BURST_REPLICAS of each; returns the first error.
function M.sync_nodes(st, to_delete, to_create)
  local ctx, ds, ns = st.ctx, st.ds, st.ns
  local ncreate = math.min(#to_create, C.BURST_REPLICAS)
  local ndelete = math.min(#to_delete, C.BURST_REPLICAS)
  if ncreate == 0 and ndelete == 0 then return nil end
  st.wrote = true
  local del_keys = {}
  for i = 1, ndelete do del_keys[i] = ns .. "/" .. to_delete[i].metadata.name end
  C.expect(ctx, ncreate, del_keys)

  local first_err
  local created = {}
  if ncreate > 0 then
    local labels = { [C.HASH_LABEL] = st.hash }
    if st.generation ~= nil then labels[C.GENERATION_LABEL] = tostring(st.generation) end
    local opts = {
      api_version = "apps/v1",
      kind = "DaemonSet",
      labels = labels,
      tolerations = kube.nodes.daemonset_tolerations(ds),
    }
    local _, err, attempted = kube.slow_start(ncreate, function(i)
      opts.pin_node = to_create[i]
      local pod, perr = kube.pods.from_template(ds.spec.template, ds, opts)
      if not pod then
        C.lower_creations(ctx, 1)
        return nil, perr
      end
      local done, cerr = ctx:create(C.PODS, pod)
      if done then
        created[#created + 1] = done.metadata.name
        ctx:event(ds, "Normal", "SuccessfulCreate", "Created pod: " .. done.metadata.name)
        return true
      end
      if terminating_namespace(cerr) then return true end
      C.lower_creations(ctx, 1)
      ctx:event(ds, "Warning", "FailedCreate", "Error creating: " .. tostring(cerr.message))
      return nil, cerr
    end)
    if attempted < ncreate then C.lower_creations(ctx, ncreate - attempted) end
    first_err = err
  end

  local deleted = {}
  for i = 1, ndelete do
    local name = to_delete[i].metadata.name
    local ok, err = ctx:delete(C.PODS, ns, name)
    if ok then
      deleted[#deleted + 1] = del_keys[i]
      ctx:event(ds, "Normal", "SuccessfulDelete", "Deleted pod: " .. name)
    else
      C.deletion_failed(ctx, del_keys[i])
      if not err.not_found then
        ctx:event(ds, "Warning", "FailedDelete", "Error deleting: " .. tostring(err.message))
        first_err = first_err or err
      end
    end
  end
  C.resync_expectations(ctx, ns, created, deleted)
  return first_err
end

return M
