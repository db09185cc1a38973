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

-- DaemonSets seen by reconciles, for the watch maps: key -> {ns, uid, selector, ...}; and their
-- keys by uid, for the pods watch.
local known = {}
local key_of_uid = {}
-- Last seen (uid, labels, taints) of every node: only changes there can change placement.
local node_seen = {}
-- Bumped by the node watch whenever placement may have changed (a node added or deleted, or its
-- labels or taints changed). A sync lists the nodes again only when it moved.
local node_epoch = 0

local function has_selector_terms(sel)
  if sel == nil then return false end
  if sel.matchLabels ~= nil and next(kube.copy(sel.matchLabels)) ~= nil then return true end
  return sel.matchExpressions ~= nil and #sel.matchExpressions > 0
end

-- ---- Per-sync state -------------------------------------------------------------------------

-- Placement per node, memoised per DaemonSet for its template generation and keyed by the node's
-- view (see daemonset.pods): {name, shouldRun, shouldContinueRunning}. The nodes are listed only
-- when the node watch saw a change that matters since the previous sync (node_epoch) or the
-- template changed: a list of thousands of nodes costs more than the rest of a quiet sync.
local function new_state(ctx, ds, k)
  local st = {
    ctx = ctx,
    ds = ds,
    k = k,
    ns = ds.metadata.namespace,
    uid = ds.metadata.uid,
    selector = k.selector,
    generation = C.template_generation(ds),
    min_ready = ds.spec.minReadySeconds or 0,
    now = ctx.now,
    -- Filled below (shared with later syncs: not to be modified):
    node_names = nil,   -- node names, in the cache's order
    node_by_name = nil, -- name -> node
    run = nil,          -- name -> shouldRun
    cont = nil,         -- name -> shouldContinueRunning
    desired = 0,
    wrote = false,
  }
  local generation = ds.metadata.generation
  if k.nodes ~= nil and k.node_epoch == node_epoch and k.node_memo_generation == generation then
    local t = k.nodes
    st.node_names, st.node_by_name, st.run, st.cont = t.names, t.by_name, t.run, t.cont
    st.desired = t.desired
    return st
  end
  k.node_epoch = node_epoch
  local nodes = ctx:list(C.NODES)
  local old = k.node_memo_generation == generation and k.node_memo or {}
  local n = #nodes
  -- Nothing changed since the previous sync: same views, so the same placement.
  local same = k.nodes ~= nil and n == #k.nodes.names
  if same then
    for i = 1, n do
      if old[nodes[i]] == nil then
        same = false
        break
      end
    end
  end
  if not same then
    local memo = {}
    local should_run = kube.nodes.should_run_daemon_pod
    local t = { names = {}, by_name = {}, run = {}, cont = {}, desired = 0 }
    local names, by_name, runs, conts = t.names, t.by_name, t.run, t.cont
    local desired = 0
    for i = 1, n do
      local node = nodes[i]
      local e = old[node]
      if e == nil then
        local run, cont = should_run(node, ds)
        e = { node.metadata.name, run, cont }
      end
      memo[node] = e
      local name, run = e[1], e[2]
      names[i] = name
      by_name[name] = node
      runs[name] = run
      conts[name] = e[3]
      if run then desired = desired + 1 end
    end
    t.desired = desired
    k.nodes, k.node_memo, k.node_memo_generation = t, memo, generation
  end
  local t = k.nodes
  st.node_names, st.node_by_name, st.run, st.cont = t.names, t.by_name, t.run, t.cont
  st.desired = t.desired
  return st
end

-- The pods index for a step: the one of the previous step while nothing was written since.
-- Also sets st.idx_n, the number of nodes in it.
local function pods_index(st)
  if st.idx ~= nil and not st.wrote then return st.idx, nil end
  local idx, n, err = P.by_node(st, false)
  st.idx, st.idx_n, st.wrote = idx, n, false
  return idx, err
end

-- Node names of the index that are not in the node list, sorted (shared: not to be modified);
-- the same answer for the same node list and index.
local function gone_nodes(st, idx)
  local k = st.k
  local c = k.gone_cache
  if c and c.nodes == k.nodes and c.idx == idx then return c.gone end
  local gone = {}
  local seen = 0
  for i = 1, #st.node_names do
    if idx[st.node_names[i]] ~= nil then seen = seen + 1 end
  end
  if seen ~= st.idx_n then
    for name in pairs(idx) do
      if st.node_by_name[name] == nil then gone[#gone + 1] = name end
    end
    table.sort(gone)
  end
  k.gone_cache = { nodes = k.nodes, idx = idx, gone = gone }
  return gone
end

-- ---- manage ----------------------------------------------------------------------------------

-- podsShouldBeOnNode: appends to to_create (node names) and to_delete (pod infos).
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
      if not pods[i].deleted then to_delete[#to_delete + 1] = pods[i] end
    end
    return
  end
  local running = {}
  for i = 1, #pods do
    local pod = pods[i]
    if not pod.deleted then
      if pod.phase == "Failed" then
        -- Kubelets that reject a pod make the controller fight them: back off per node.
        local id = C.backoff_key(ds, name)
        if C.in_backoff(id, st.now) then
          ctx.log:debug("deleting failed pod", pod.name, "on node", name, "limited by backoff")
          ctx:requeue_after(C.backoff_delay(id))
        else
          C.backoff_next(id, st.now)
          ctx:event(ds, "Warning", "FailedDaemonPod", string.format(
            "Found failed daemon pod %s/%s on node %s, will try to kill it", st.ns, pod.name, name))
          to_delete[#to_delete + 1] = pod
        end
      elseif pod.phase == "Succeeded" then
        ctx:event(ds, "Normal", "SucceededDaemonPod", string.format(
          "Found succeeded daemon pod %s/%s on node %s, will try to delete it",
          st.ns, pod.name, name))
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
    if pod.hash == st.hash then
      if newest == nil then newest = pod else to_delete[#to_delete + 1] = pod end
    else
      if oldest == nil then oldest = pod else to_delete[#to_delete + 1] = pod end
    end
  end
  if newest ~= nil and oldest ~= nil then
    if not oldest.ready or C.is_available(newest, st.min_ready, st.now) then
      to_delete[#to_delete + 1] = oldest
    end
  end
end

local function manage(st)
  local idx, err = pods_index(st)
  if err then return err end
  local surge = C.allows_surge(st.ds)
  -- A pass that found nothing to do, with no pod needing a decision, gives the same answer for
  -- the same placement and pods.
  local k = st.k
  local c = k.manage_cache
  if c and c.nodes == k.nodes and c.idx == idx and c.surge == surge then return nil end
  local to_create, to_delete = {}, {}
  local names, run, cont = st.node_names, st.run, st.cont
  local decided = 0
  for i = 1, #names do
    local name = names[i]
    local pods = idx[name]
    if pods == nil then
      if run[name] then to_create[#to_create + 1] = name end
    elseif #pods == 1 and cont[name] and not pods[1].terminal
        and not (surge and pods[1].deleted) then
      -- One running (or, without surge, terminating) pod where it may stay: nothing to do.
    else
      decided = decided + 1
      pods_for_node(st, name, pods, surge, to_create, to_delete)
    end
  end
  -- Unscheduled pods aimed at nodes that are gone.
  local gone = gone_nodes(st, idx)
  for i = 1, #gone do
    local pods = idx[gone[i]]
    for j = 1, #pods do
      if not pods[j].scheduled then to_delete[#to_delete + 1] = pods[j] end
    end
  end
  if decided == 0 and #to_create == 0 and #to_delete == 0 then
    k.manage_cache = { nodes = k.nodes, idx = idx, surge = surge }
    return nil
  end
  k.manage_cache = nil
  return P.sync_nodes(st, to_delete, to_create)
end

-- ---- Status ----------------------------------------------------------------------------------

local STATUS_FIELDS = {
  "desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled", "numberReady",
  "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
}

-- The counts of updateDaemonSetStatus; with minReadySeconds, also the delay until a Ready pod
-- turns available.
local function status_counts(st, idx)
  local desired, current, misscheduled, ready, updated, available = 0, 0, 0, 0, 0, 0
  local is_available, is_updated = C.is_available, C.is_updated
  local mrs, now, hash, gen = st.min_ready, st.now, st.hash, st.generation
  local names, run = st.node_names, st.run
  local wake
  for i = 1, #names do
    local name = names[i]
    local pods = idx[name]
    if run[name] then
      desired = desired + 1
      if pods ~= nil then
        current = current + 1
        local pod = #pods == 1 and pods[1] or C.oldest(pods)
        if pod.ready then
          ready = ready + 1
          if is_available(pod, mrs, now) then available = available + 1 end
        end
        if is_updated(pod, hash, gen) then updated = updated + 1 end
      end
    elseif pods ~= nil then
      misscheduled = misscheduled + 1
    end
    -- Upstream requeues minReadySeconds + 1 s after a pod turns Ready (pod update handler).
    if mrs > 0 and pods ~= nil then
      for j = 1, #pods do
        local since = pods[j].ready_since
        if since ~= nil and since + mrs >= now then
          local d = since + mrs + 1 - now
          if wake == nil or d < wake then wake = d end
        end
      end
    end
  end
  return {
    desiredNumberScheduled = desired, currentNumberScheduled = current,
    numberMisscheduled = misscheduled, numberReady = ready, updatedNumberScheduled = updated,
    numberAvailable = available, numberUnavailable = desired - available,
  }, wake
end

local function update_status(st, observed)
  local ctx, ds, k = st.ctx, st.ds, st.k
  local idx, err = pods_index(st)
  if err then return err end
  -- Without minReadySeconds the counts depend on nothing but placement and pods: unchanged
  -- inputs (the same shared tables) give the previous counts.
  local n, wake
  local c = k.status_cache
  if st.min_ready == 0 and c and c.nodes == k.nodes and c.idx == idx and c.hash == st.hash
      and c.generation == st.generation then
    n = c.counts
  else
    n, wake = status_counts(st, idx)
    k.status_cache = {
      nodes = k.nodes, idx = idx, hash = st.hash, generation = st.generation, counts = n,
    }
  end
  local mrs = st.min_ready
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
  local k = known[key]
  if ds == nil then
    if k ~= nil then key_of_uid[k.uid] = nil end
    known[key] = nil
    return
  end
  if k == nil or k.uid ~= ds.metadata.uid then
    local sel, perr = kube.labels.selector(ds.spec.selector)
    if sel == nil then return nil, "invalid selector: " .. tostring(perr) end
    if k ~= nil then key_of_uid[k.uid] = nil end
    k = { ns = ds.metadata.namespace, uid = ds.metadata.uid, selector = sel, pod_epoch = 0 }
    known[key] = k
    key_of_uid[k.uid] = key
  end
  C.backoff_gc(ctx.now)
  if not has_selector_terms(ds.spec.selector) then
    ctx:event(ds, "Warning", "SelectingAll",
      "This daemon set is selecting all pods. A non-empty selector is required.")
    return
  end
  if ds.metadata.deletionTimestamp ~= nil then return end

  local cur, old, herr = H.construct(ctx, ds, k.selector, function()
    return P.claim({ ctx = ctx, ds = ds, k = k, ns = ds.metadata.namespace, uid = ds.metadata.uid,
      selector = k.selector })
  end)
  if not cur then
    return nil, "failed to construct revisions of DaemonSet: " .. tostring(herr)
  end
  local st = new_state(ctx, ds, k)
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
      if not err then err = R.run(st, idx, gone_nodes(st, idx)) end
    end
    if not err then
      err = H.cleanup(ctx, ds, old, function()
        local all = P.by_node(st, true)
        local live = {}
        for _, pods in pairs(all) do
          for i = 1, #pods do
            local h = pods[i].hash
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
    if k.ns == ns and k.selector ~= nil and k.selector:matches(labels) then
      keys[#keys + 1] = key
    end
  end
  return keys
end

-- Orphan pods make the next claim of the matching DaemonSets look for pods to adopt.
local function matching_pods(ns, labels)
  local keys = matching(ns, labels)
  for i = 1, #keys do known[keys[i]].orphans = true end
  return keys
end

-- A node matters when it is new, deleted, or its labels or taints changed (node status
-- heartbeats do not). Every known DaemonSet is then synced; each one decides from the whole node
-- list.
local function map_node(node, _, change)
  local md = node.metadata
  if change == "delete" then
    node_seen[md.name] = nil
    node_epoch = node_epoch + 1
    return all_known()
  end
  local labels = md.labels and kube.json.encode(md.labels) or ""
  local taints = node.spec and node.spec.taints and kube.json.encode(node.spec.taints) or ""
  local fp = tostring(md.uid) .. "\n" .. labels .. "\n" .. taints
  if node_seen[md.name] == fp then return nil end
  node_seen[md.name] = fp
  node_epoch = node_epoch + 1
  return all_known()
end

-- A change to a pod of a known DaemonSet (now or before the change) bumps that DaemonSet's
-- pod_epoch and notes the pod in its `changed` set: its next claim reads those pods again, or
-- lists them all when there were many (daemonset.pods). Pods with a controller are enqueued
-- through `owns`; orphans wake the DaemonSets whose selector matches them (adoption).
local function bump_pods(uid, md)
  local key = uid and key_of_uid[uid]
  local k = key and known[key]
  if k == nil then return end
  k.pod_epoch = k.pod_epoch + 1
  local changed = k.changed
  if changed then
    local pod_key = md.namespace .. "/" .. md.name
    if changed[pod_key] == nil then
      local n = (k.changed_n or 0) + 1
      if n > P.MAX_CHANGED then
        k.changed = false
        return
      end
      k.changed_n = n
      changed[pod_key] = true
    end
  end
end

local function map_pod(pod, old)
  local uid = C.controller_uid(pod)
  local md = pod.metadata
  bump_pods(uid, md)
  if old ~= nil then
    local old_uid = C.controller_uid(old)
    if old_uid ~= uid then bump_pods(old_uid, md) end
  end
  if uid ~= nil then return nil end
  return matching_pods(md.namespace, md.labels)
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
    { resource = C.PODS, map = map_pod },
    -- Not in `owns`: revision events must not count as pod creations in the expectations.
    { resource = C.REVISIONS, map = map_revision },
  },
  workers = 2,
  reconcile = sync,
}
