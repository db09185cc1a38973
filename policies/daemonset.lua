-- The DaemonSet controller, as kube-controller-manager's (pkg/controller/daemon, 1.31-1.33):
-- one pod on every node that should run it (nodeSelector, required node affinity, taints and
-- the tolerations the controller adds), ControllerRevision history, RollingUpdate (maxSurge or
-- maxUnavailable, minReadySeconds) and OnDelete updates, failed-pod backoff, and status.
--
-- A sync (syncDaemonSet): read the DaemonSet and the nodes from the cache; an empty selector
-- only raises SelectingAll; a DaemonSet being deleted is left to the garbage collector; build
-- the history (current revision hash); with expectations pending only refresh the status;
-- otherwise manage placement, then (expectations satisfied) advance the rollout, clean up the
-- history, and write the status.
local kube = require("kube")
local C = require("daemonset.common")
local H = require("daemonset.history")
local P = require("daemonset.pods")
local R = require("daemonset.rolling")

-- DaemonSets seen by reconciles, for the watch maps: key -> {ns, uid, selector}.
local known = {}
-- Last seen (uid, labels, taints) of every node: only changes there can change placement.
local node_seen = {}

local function has_selector_terms(sel)
  if sel == nil then return false end
  if sel.matchLabels ~= nil and next(kube.copy(sel.matchLabels)) ~= nil then return true end
  return sel.matchExpressions ~= nil and #sel.matchExpressions > 0
end

-- ---- Per-sync state -------------------------------------------------------------------------

local function new_state(ctx, ds, selector, nodes)
  local st = {
    ctx = ctx,
    ds = ds,
    ns = ds.metadata.namespace,
    uid = ds.metadata.uid,
    selector = selector,
    generation = C.template_generation(ds),
    min_ready = ds.spec.minReadySeconds or 0,
    now = ctx.now,
    nodes = nodes,
    node_names = {},
    node_by_name = {},
    run = {},  -- name -> shouldRun
    cont = {}, -- name -> shouldContinueRunning
    desired = 0,
    wrote = false,
  }
  local should_run = kube.nodes.should_run_daemon_pod
  for i = 1, #nodes do
    local node = nodes[i]
    local name = node.metadata.name
    local run, cont = should_run(node, ds)
    st.node_names[i] = name
    st.node_by_name[name] = node
    st.run[name] = run
    st.cont[name] = cont
    if run then st.desired = st.desired + 1 end
  end
  return st
end

-- The pods index for a step: the one of the previous step while nothing was written since.
local function pods_index(st)
  if st.idx ~= nil and not st.wrote then return st.idx, nil end
  local idx, _, err = P.by_node(st, false)
  st.idx, st.wrote = idx, false
  return idx, err
end

-- ---- manage ----------------------------------------------------------------------------------

-- podsShouldBeOnNode: appends to to_create (node names) and to_delete (pods).
local function pods_for_node(st, name, pods, surge, to_create, to_delete)
  local ctx, ds = st.ctx, st.ds
  local run, cont = st.run[name], st.cont[name]
  if run and pods == nil then
    to_create[#to_create + 1] = name
    return
  end
  if pods == nil then return end
  if not cont then
    for i = 1, #pods do
      if pods[i].metadata.deletionTimestamp == nil then to_delete[#to_delete + 1] = pods[i] end
    end
    return
  end
  local running = {}
  for i = 1, #pods do
    local pod = pods[i]
    if pod.metadata.deletionTimestamp == nil then
      local phase = pod.status and pod.status.phase
      if phase == "Failed" then
        -- Kubelets that reject a pod make the controller fight them: back off per node.
        local id = C.backoff_key(ds, name)
        if C.in_backoff(id, st.now) then
          ctx.log:debug("deleting failed pod", pod.metadata.name, "on node", name, "limited by backoff")
          ctx:requeue_after(C.backoff_delay(id))
        else
          C.backoff_next(id, st.now)
          ctx:event(ds, "Warning", "FailedDaemonPod", string.format(
            "Found failed daemon pod %s/%s on node %s, will try to kill it", st.ns, pod.metadata.name, name))
          to_delete[#to_delete + 1] = pod
        end
      elseif phase == "Succeeded" then
        ctx:event(ds, "Normal", "SucceededDaemonPod", string.format(
          "Found succeeded daemon pod %s/%s on node %s, will try to delete it", st.ns, pod.metadata.name, name))
        to_delete[#to_delete + 1] = pod
      else
        running[#running + 1] = pod
      end
    end
  end
  if not surge then
    -- Duplicates: keep the oldest.
    if #running <= 1 then return end
    local sorted = C.sorted_oldest_first(running)
    for i = 2, #sorted do to_delete[#to_delete + 1] = sorted[i] end
    return
  end
  if #running <= 1 then
    if #running == 0 and run then to_create[#to_create + 1] = name end
    return
  end
  -- Surging: keep the oldest new pod and the oldest old pod; the old one goes once it is not
  -- ready or the new one is available.
  local newest, oldest
  local sorted = C.sorted_oldest_first(running)
  for i = 1, #sorted do
    local pod = sorted[i]
    local l = pod.metadata.labels
    if (l and l[C.HASH_LABEL]) == st.hash then
      if newest == nil then newest = pod else to_delete[#to_delete + 1] = pod end
    else
      if oldest == nil then oldest = pod else to_delete[#to_delete + 1] = pod end
    end
  end
  if newest ~= nil and oldest ~= nil then
    if not kube.pods.is_ready(oldest) or kube.pods.is_available(newest, st.min_ready, st.now) then
      to_delete[#to_delete + 1] = oldest
    end
  end
end

local function manage(st)
  local idx, err = pods_index(st)
  if err then return err end
  local surge = C.allows_surge(st.ds)
  local to_create, to_delete = {}, {}
  for i = 1, #st.node_names do
    local name = st.node_names[i]
    pods_for_node(st, name, idx[name], surge, to_create, to_delete)
  end
  -- Unscheduled pods aimed at nodes that are gone.
  local gone = {}
  for name in pairs(idx) do
    if st.node_by_name[name] == nil then gone[#gone + 1] = name end
  end
  table.sort(gone)
  for i = 1, #gone do
    local pods = idx[gone[i]]
    for k = 1, #pods do
      local nn = pods[k].spec.nodeName
      if nn == nil or nn == "" then to_delete[#to_delete + 1] = pods[k] end
    end
  end
  return P.sync_nodes(st, to_delete, to_create)
end

-- ---- Status ----------------------------------------------------------------------------------

local STATUS_FIELDS = {
  "desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled", "numberReady",
  "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
}

local function update_status(st, observed)
  local ctx, ds = st.ctx, st.ds
  local idx, err = pods_index(st)
  if err then return err end
  local n = {
    desiredNumberScheduled = 0, currentNumberScheduled = 0, numberMisscheduled = 0,
    numberReady = 0, updatedNumberScheduled = 0, numberAvailable = 0,
  }
  local is_ready, is_available = kube.pods.is_ready, kube.pods.is_available
  local mrs, now = st.min_ready, st.now
  local wake -- seconds until a Ready pod turns Available
  for i = 1, #st.node_names do
    local name = st.node_names[i]
    local pods = idx[name]
    if st.run[name] then
      n.desiredNumberScheduled = n.desiredNumberScheduled + 1
      if pods ~= nil then
        n.currentNumberScheduled = n.currentNumberScheduled + 1
        local pod = #pods == 1 and pods[1] or C.oldest(pods)
        if is_ready(pod) then
          n.numberReady = n.numberReady + 1
          if is_available(pod, mrs, now) then n.numberAvailable = n.numberAvailable + 1 end
        end
        if C.is_updated(pod, st.hash, st.generation) then
          n.updatedNumberScheduled = n.updatedNumberScheduled + 1
        end
      end
    elseif pods ~= nil then
      n.numberMisscheduled = n.numberMisscheduled + 1
    end
    -- Upstream requeues minReadySeconds + 1 s after a pod turns Ready (pod update handler).
    if mrs > 0 and pods ~= nil then
      for k = 1, #pods do
        local since = C.ready_since(pods[k])
        if since ~= nil and since + mrs >= now then
          local d = since + mrs + 1 - now
          if wake == nil or d < wake then wake = d end
        end
      end
    end
  end
  n.numberUnavailable = n.desiredNumberScheduled - n.numberAvailable
  if mrs > 0 then
    if n.numberReady ~= n.numberAvailable then ctx:requeue_after(mrs) end
    if wake ~= nil then ctx:requeue_after(math.max(wake, 0.001)) end
  end

  local cur = ds.status or {}
  local same = (cur.observedGeneration or 0) >= (ds.metadata.generation or 0)
  for _, f in ipairs(STATUS_FIELDS) do
    if (cur[f] or 0) ~= n[f] then same = false end
  end
  if same then return nil end
  local obj = ds
  for attempt = 1, 2 do
    local upd = kube.copy(obj)
    upd.status = upd.status or {}
    for _, f in ipairs(STATUS_FIELDS) do upd.status[f] = n[f] end
    if observed then upd.status.observedGeneration = ds.metadata.generation end
    local _, uerr = ctx:update_status(C.DS, upd)
    if not uerr then return nil end
    if attempt == 2 or uerr.not_found then return uerr end
    obj = ctx:get(C.DS, st.ns, ds.metadata.name)
    if obj == nil or obj.metadata.uid ~= st.uid then return uerr end
  end
end

-- ---- The sync ---------------------------------------------------------------------------------

local function sync(ctx, key)
  local ds = ctx:get(C.DS, key)
  if ds == nil then
    known[key] = nil
    return
  end
  local k = known[key]
  if k == nil or k.uid ~= ds.metadata.uid then
    local sel, perr = kube.labels.selector(ds.spec.selector)
    if sel == nil then return nil, "invalid selector: " .. tostring(perr) end
    k = { ns = ds.metadata.namespace, uid = ds.metadata.uid, selector = sel }
    known[key] = k
  end
  C.backoff_gc(ctx.now)
  local nodes = ctx:list(C.NODES)
  if not has_selector_terms(ds.spec.selector) then
    ctx:event(ds, "Warning", "SelectingAll",
      "This daemon set is selecting all pods. A non-empty selector is required.")
    return
  end
  if ds.metadata.deletionTimestamp ~= nil then return end

  local cur, old, herr = H.construct(ctx, ds, k.selector, function()
    return P.claim({ ctx = ctx, ds = ds, ns = ds.metadata.namespace, uid = ds.metadata.uid, selector = k.selector })
  end)
  if not cur then
    return nil, "failed to construct revisions of DaemonSet: " .. tostring(herr)
  end
  local st = new_state(ctx, ds, k.selector, nodes)
  st.hash = cur.metadata.labels[C.HASH_LABEL]

  if not ctx:satisfied() then
    local serr = update_status(st, false)
    if serr then return nil, serr end
    return
  end

  local err = manage(st)
  if not err and ctx:satisfied() then
    local strategy = ds.spec.updateStrategy and ds.spec.updateStrategy.type
    if strategy == "RollingUpdate" then
      local idx
      idx, err = pods_index(st)
      if not err then err = R.run(st, idx) end
    end
    if not err then
      err = H.cleanup(ctx, ds, old, function()
        local all = P.by_node(st, true)
        local live = {}
        for _, pods in pairs(all) do
          for i = 1, #pods do
            local l = pods[i].metadata.labels
            local h = l and l[C.HASH_LABEL]
            if h ~= nil and h ~= "" then live[h] = true end
          end
        end
        return live
      end)
      if err then err = "failed to clean up revisions of DaemonSet: " .. tostring(err) end
    end
  end
  local serr = update_status(st, true)
  if err then return nil, err end
  if serr then return nil, serr end
end

-- ---- Watch maps -----------------------------------------------------------------------------

local function all_known()
  local keys = {}
  for key in pairs(known) do keys[#keys + 1] = key end
  return keys
end

-- DaemonSets of ns whose selector matches labels (for orphans).
local function matching(ns, labels)
  local keys = {}
  for key, k in pairs(known) do
    if k.ns == ns and k.selector ~= nil and k.selector:matches(labels) then keys[#keys + 1] = key end
  end
  return keys
end

-- A node matters when it is new or its labels or taints changed (node status heartbeats do
-- not). Every known DaemonSet is then synced; each one decides from the whole node list.
local function map_node(node)
  local md = node.metadata
  local labels = md.labels and kube.json.encode(md.labels) or ""
  local taints = node.spec and node.spec.taints and kube.json.encode(node.spec.taints) or ""
  local fp = tostring(md.uid) .. "\n" .. labels .. "\n" .. taints
  if node_seen[md.name] == fp then return nil end
  node_seen[md.name] = fp
  return all_known()
end

-- Pods and revisions with a controller are handled through `owns` / their owner; orphans wake
-- the DaemonSets whose selector matches them (adoption).
local function map_orphan(obj)
  local md = obj.metadata
  if C.controller_uid(obj) ~= nil then return nil end
  return matching(md.namespace, md.labels)
end

local function map_revision(rev)
  local refs = rev.metadata.ownerReferences
  if refs ~= nil then
    for i = 1, #refs do
      local r = refs[i]
      if r.controller then
        if r.kind ~= "DaemonSet" then return nil end
        local key = rev.metadata.namespace .. "/" .. r.name
        local k = known[key]
        if k ~= nil and k.uid ~= r.uid then return nil end
        return key
      end
    end
  end
  return matching(rev.metadata.namespace, rev.metadata.labels)
end

return {
  name = "daemonset",
  primary = C.DS,
  owns = { C.PODS },
  watches = {
    { resource = C.NODES, map = map_node },
    { resource = C.PODS, map = map_orphan },
    -- Not in `owns`: revision events must not count as pod creations in the expectations.
    { resource = C.REVISIONS, map = map_revision },
  },
  workers = 2,
  reconcile = sync,
}
