-- The DaemonSet's pods: claiming (adoption and release, as ClaimPods does), the index by target
-- node, and pod control (creates in slow-start batches, deletes, their events and
-- expectations: syncNodes of pkg/controller/daemon).
--
-- Pods are handled as info records {pod, name, node, deleted, phase, terminal, scheduled, hash,
-- generation, ready, ready_since, matches}. Reading fields through the cache's read-only views
-- costs about 0.2 us each, so the records are memoised per DaemonSet, keyed by the view itself:
-- a view stays the same object for one version of a pod while something references it (the
-- memo does), and a new version of the pod comes as a new view. Steady-state syncs of a large
-- DaemonSet thus read no pod fields at all.
local kube = require("kube")
local C = require("daemonset.common")

local M = {}

local target_node, is_ready = kube.pods.target_node, kube.pods.is_ready

local function new_info(pod, selector)
  local md, spec, status = pod.metadata, pod.spec, pod.status
  local labels = md.labels
  local phase = status and status.phase
  local nn = spec and spec.nodeName
  local ready, since = false, nil
  if is_ready(pod) then ready, since = C.readiness(pod) end
  return {
    pod = pod,
    name = md.name,
    node = target_node(pod),
    deleted = md.deletionTimestamp ~= nil,
    phase = phase,
    terminal = phase == "Succeeded" or phase == "Failed",
    scheduled = nn ~= nil and nn ~= "",
    hash = labels and labels[C.HASH_LABEL],
    generation = labels and labels[C.GENERATION_LABEL],
    ready = ready,
    ready_since = since,
    matches = selector:matches(labels),
  }
end
M.new_info = new_info

-- The most pods changed since the previous claim that it updates one by one; beyond, it lists
-- them all again.
M.MAX_CHANGED = 64

-- The fields of a pod's record that the sync's decisions read (the memoised answers keyed by
-- the index stay valid when a pod changes in none of them: an annotation, a label the selector
-- does not use, a status heartbeat).
local DECISIVE = {
  "node", "deleted", "phase", "terminal", "scheduled", "hash", "generation", "ready",
  "ready_since", "matches",
}

-- The previous claim's records with the pods the watch saw change (k.changed: keys) read again
-- from the cache, when every one of them is a pod the claim had and still has, on the same
-- node, still matching: the common case of a large DaemonSet whose pods' statuses change a few
-- at a time. Returns the new records (a new list; the index, when there was one, is rebuilt
-- for the changed nodes only), or nil when a full claim is needed (a pod new, gone, released,
-- moved, or one that no longer matches). Orphans are the full claim's business.
local function claim_changed(st)
  local ctx, ns, uid, sel, k = st.ctx, st.ns, st.uid, st.selector, st.k
  local changed, claimed, memo = k.changed, k.claimed, k.pod_memo
  if changed == false or claimed == nil or memo == nil then return nil end
  local pos = k.pos
  if pos == nil or k.pos_of ~= claimed then
    pos = {}
    for i = 1, #claimed do pos[claimed[i].name] = i end
  end
  local updates = {}
  for key in pairs(changed) do
    local pns, name = key:match("^([^/]*)/(.*)$")
    if pns == ns then
      local i = pos[name]
      local pod = ctx:get(C.PODS, ns, name)
      if i == nil then
        if pod ~= nil and C.controller_uid(pod) == uid then return nil end
      else
        local old = claimed[i]
        if pod ~= old.pod then
          if pod == nil or pod.metadata.uid ~= old.pod.metadata.uid
              or C.controller_uid(pod) ~= uid then
            return nil
          end
          local info = new_info(pod, sel)
          if not info.matches or info.node ~= old.node
              or (info.deleted and info.terminal) ~= (old.deleted and old.terminal) then
            return nil
          end
          updates[#updates + 1] = { i, old, info }
        end
      end
    end
  end
  if #updates == 0 then return claimed end
  -- Whether any of the changes can change a decision (placement, rollout, status counts).
  local relevant = false
  for u = 1, #updates do
    local old, info = updates[u][2], updates[u][3]
    for f = 1, #DECISIVE do
      if old[DECISIVE[f]] ~= info[DECISIVE[f]] then relevant = true end
    end
  end
  local new = table.move(claimed, 1, #claimed, 1, {})
  local idx = k.idx
  local new_idx
  if idx ~= nil then
    new_idx = {}
    for node, list in next, idx do new_idx[node] = list end
  end
  for u = 1, #updates do
    local i, old, info = updates[u][1], updates[u][2], updates[u][3]
    new[i] = info
    memo[old.pod] = nil
    memo[info.pod] = info
    local list = new_idx and info.node and new_idx[info.node]
    if list ~= nil then
      local copy = {}
      for j = 1, #list do copy[j] = list[j] == old and info or list[j] end
      new_idx[info.node] = copy
    end
  end
  k.claimed, k.pos, k.pos_of = new, pos, new
  k.idx = new_idx
  if not relevant and idx ~= nil then
    -- The answers memoised for the old index hold for the new one (see daemonset.lua).
    for _, name in ipairs({ "manage_cache", "status_cache", "old_cache", "gone_cache" }) do
      local c = k[name]
      if c ~= nil and c.idx == idx then c.idx = new_idx end
    end
  end
  return new
end

-- ClaimPods: info records of the pods of the namespace owned by the DaemonSet whose labels still
-- match its selector, plus matching orphans, which are adopted; owned pods that no longer match
-- are released. st.k is the DaemonSet's entry of the policy's registry: memo (view -> info),
-- orphans (set by the orphan watch; a full scan for orphans happens only then, and on the first
-- claim), pod_epoch (bumped by the pods watch on any change to the DaemonSet's pods) and
-- changed (the keys of those pods, or false when there were too many to follow).
function M.claim(st)
  local ctx, ds, ns, uid, sel, k = st.ctx, st.ds, st.ns, st.uid, st.selector, st.k
  -- No pod of the DaemonSet changed (k.pod_epoch, bumped by the pods watch) and no orphan to
  -- look at since the previous claim: the same records, without listing the pods.
  local epoch = k.pod_epoch
  if k.claimed ~= nil and k.claim_epoch == epoch and k.orphans == false then
    return k.claimed, nil
  end
  if k.orphans == false then
    local claimed = claim_changed(st)
    k.changed, k.changed_n = {}, 0
    if claimed ~= nil then
      k.claim_epoch = epoch
      return claimed, nil
    end
  end
  k.changed, k.changed_n = {}, 0
  k.claim_epoch = epoch
  local old_memo = k.pod_memo or {}
  local owned = ctx:list(C.PODS, { namespace = ns, owner = uid })
  local n = #owned
  -- Nothing changed since the previous claim: same views, so the same records.
  local same = n == k.pod_count and k.claimed ~= nil
  if same then
    for i = 1, n do
      if old_memo[owned[i]] == nil then
        same = false
        break
      end
    end
  end
  local claimed, first_err
  if same then
    claimed = k.claimed
  else
    local memo = {}
    claimed = {}
    for i = 1, n do
      local pod = owned[i]
      local info = old_memo[pod]
      if info == nil then info = new_info(pod, sel) end
      memo[pod] = info
      if info.matches then
        claimed[#claimed + 1] = info
      else
        local _, err = ctx:patch(C.PODS, ns, info.name, {
          metadata = {
            ownerReferences = { { ["$patch"] = "delete", uid = uid } },
            uid = pod.metadata.uid,
          },
        }, { type = "strategic" })
        if err and not err.not_found and not err.invalid then first_err = first_err or err end
      end
    end
    k.pod_memo, k.pod_count, k.claimed, k.idx = memo, n, claimed, nil
  end
  if k.orphans ~= false then
    k.orphans = false
    local adopted_any = false
    for _, pod in ipairs(ctx:list(C.PODS, { namespace = ns, selector = ds.spec.selector })) do
      if C.controller_uid(pod) == nil and pod.metadata.deletionTimestamp == nil then
        local adopted, err = ctx:patch(C.PODS, ns, pod.metadata.name, {
          metadata = { ownerReferences = { C.controller_ref(ds) }, uid = pod.metadata.uid },
        }, { type = "strategic" })
        if adopted then
          if not adopted_any then
            -- The cached records stay as they were; this claim's list gets the adoptees.
            adopted_any = true
            local copy = {}
            for i = 1, #claimed do copy[i] = claimed[i] end
            claimed = copy
            k.claimed, k.idx = nil, nil
          end
          claimed[#claimed + 1] = new_info(adopted, sel)
        elseif not err.not_found then
          first_err = first_err or err
        end
      end
    end
  end
  if first_err then k.claimed, k.idx = nil, nil end
  return claimed, first_err
end

-- The index: node name -> list of infos, and the number of nodes in it.
local function index(claimed, include_deleted_terminal)
  local idx, n = {}, 0
  for i = 1, #claimed do
    local info = claimed[i]
    local node = info.node
    if node ~= nil and (include_deleted_terminal or not (info.deleted and info.terminal)) then
      local list = idx[node]
      if list == nil then
        idx[node] = { info }
        n = n + 1
      else
        list[#list + 1] = info
      end
    end
  end
  return idx, n
end

-- getNodesToDaemonPods: claimed pod infos grouped by target node (spec.nodeName, else the
-- metadata.name matchFields term); terminal pods already being deleted are left out unless
-- include_deleted_terminal. Returns the index (shared: not to be modified), the number of nodes
-- in it, and the claim error.
function M.by_node(st, include_deleted_terminal)
  local claimed, err = M.claim(st)
  local k = st.k
  if include_deleted_terminal then
    local idx, n = index(claimed, true)
    return idx, n, err
  end
  if k.claimed == claimed and k.idx ~= nil then return k.idx, k.idx_n, err end
  local idx, n = index(claimed, false)
  if k.claimed == claimed then k.idx, k.idx_n = idx, n end
  return idx, n, err
end

local function terminating_namespace(err)
  local m = err and err.message
  return type(m) == "string" and m:find("because it is being terminated", 1, true) ~= nil
end

-- syncNodes: deletes pods (a list of pod infos) and creates one pod on each named node, at most
-- BURST_REPLICAS of each; returns the first error.
function M.sync_nodes(st, to_delete, to_create)
  local ctx, ds, ns = st.ctx, st.ds, st.ns
  local ncreate = math.min(#to_create, C.BURST_REPLICAS)
  local ndelete = math.min(#to_delete, C.BURST_REPLICAS)
  if ncreate == 0 and ndelete == 0 then return nil end
  st.wrote = true
  local del_keys = {}
  for i = 1, ndelete do del_keys[i] = ns .. "/" .. to_delete[i].name end
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
    local name = to_delete[i].name
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
