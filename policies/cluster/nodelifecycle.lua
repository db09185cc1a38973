-- The embedded cluster's node lifecycle controller, as kube-controller-manager 1.32 runs the
-- node-lifecycle-controller (its node health monitor and taint management), the
-- taint-eviction-controller and the pod garbage collector (podgc):
--
--  * health (nodelifecycle/health.lua): a node whose kubelet stopped posting status and
--    renewing its Lease in kube-node-lease for nodeMonitorGracePeriod (50 s; 60 s for a node
--    that never posted) gets its Ready, MemoryPressure, DiskPressure and PIDPressure conditions
--    set to Unknown, reason NodeStatusUnknown "Kubelet stopped posting node status.";
--  * taints (nodelifecycle/taints.lua): NoSchedule taints from conditions and cordon
--    (not-ready, unreachable, memory/disk/pid-pressure, network-unavailable, unschedulable), and
--    the NoExecute not-ready / unreachable taints (timeAdded set), added at the eviction rate per
--    zone, swapped and removed at once; no tainting when every zone lost every node;
--  * pods (nodelifecycle/eviction.lua): Ready=False on the pods of a node that stops being
--    Ready (NodeNotReady); pods that do not tolerate a NoExecute taint of their node are
--    deleted (after their tolerationSeconds), with DisruptionTarget=True;
--  * PodGC (nodelifecycle/podgc.lua): terminated pods beyond 12500, pods of nodes that no longer
--    exist, unscheduled terminating pods, terminating pods of out-of-service nodes.
-- Events as upstream's: RegisteredNode, RemovingNode, NodeNotReady (node and pods),
-- TaintManagerEviction.
--
-- Keys: a node's name (its health, taints and pods), ":monitor" (zone states and the
-- rate-limited NoExecute tainting, every nodeMonitorPeriod, 5 s) and ":podgc" (every 20 s); the
-- two periodic passes also run from a node's sync when they are due.
-- Node health is event-driven: Lease renewals are noted by a watch map, and each node is
-- requeued for the moment it would become overdue, instead of upstream's poll every 5 s.
--
-- Differences from upstream, on purpose:
--  * the zone queues of nodes waiting for a NoExecute taint are FIFO (upstream re-adds a node
--    on every monitor pass, which reorders its queue);
--  * pods already being deleted are not evicted again; a terminating pod on a node that is not
--    Ready is force-deleted once its grace period has passed (see podgc.lua), so that a
--    stopped simulated node does not leave pods Terminating for ever;
--  * the node's lease is read from the cache (upstream too) but a deleted node is confirmed with
--    a fresh read only by PodGC, as upstream.
local kube = require("kube")
local health = require("nodelifecycle.health")
local taints = require("nodelifecycle.taints")
local eviction = require("nodelifecycle.eviction")
local podgc = require("nodelifecycle.podgc")

local NODES, PODS, LEASES = "v1/nodes", "v1/pods", "coordination.k8s.io/v1/leases"
local LEASE_NS = "kube-node-lease"
local MONITOR_KEY, PODGC_KEY = ":monitor", ":podgc"
local MONITOR_PERIOD = 5 -- nodeMonitorPeriod
local NOT_READY, UNREACHABLE = taints.NOT_READY, taints.UNREACHABLE

-- Beta labels kept equal to their stable twins (reconcileNodeLabels).
local LABEL_TWINS = {
  { "kubernetes.io/os", "beta.kubernetes.io/os" },
  { "kubernetes.io/arch", "beta.kubernetes.io/arch" },
}

local known = {} -- name -> the node's latest view (RegisteredNode / RemovingNode)
local ready_of = {} -- name -> its Ready status after our update (nil: none)
local mark_pods = {} -- name -> pods on it are to be marked not ready
local noexecute = {} -- name -> it had NoExecute taints at its last sync
local armed = false

local function conflict_or(err, what)
  if err ~= nil and (err.conflict or err.not_found) then return { requeue = true } end
  return nil, what .. ": " .. tostring(err)
end

local function label_fixes(node)
  local labels = node.metadata.labels
  if labels == nil then return nil end
  local fix
  for _, twin in ipairs(LABEL_TWINS) do
    local v = labels[twin[1]]
    if v ~= nil and labels[twin[2]] ~= v then
      fix = fix or {}
      fix[twin[2]] = v
    end
  end
  return fix
end

-- One update of the node's spec and labels: owned taints as computed, label twins fixed.
local function write_node(ctx, node, add, remove, now)
  local list, changed = taints.compute(node, add, remove, now)
  local fix = label_fixes(node)
  if not changed and fix == nil then return node end
  local n = kube.copy(node)
  n.spec = n.spec or kube.object()
  if #list == 0 then
    n.spec.taints = nil
  else
    n.spec.taints = list
  end
  if fix ~= nil then
    n.metadata.labels = n.metadata.labels or kube.object()
    for k, v in pairs(fix) do
      n.metadata.labels[k] = v
    end
  end
  return ctx:update(NODES, n)
end

local function has_noexecute(node)
  for _, t in ipairs(node.spec and node.spec.taints or {}) do
    if t.effect == "NoExecute" then return true end
  end
  return false
end

-- doNoExecuteTaintingPass: the nodes at the head of the zone queues, as far as the zones' rate
-- limiters allow, get their NoExecute taint from their Ready condition.
local function taint_pass(ctx, now)
  for _ = 1, 1000 do
    local name = taints.next_to_taint(now)
    if name == nil then return nil end
    local node = ctx:get(NODES, name)
    if node ~= nil then
      local ready = kube.condition(node, "Ready")
      local add, remove
      if ready == nil then
        taints.enqueue(node, now)
      elseif ready.status == "False" then
        add, remove = { NOT_READY }, { [UNREACHABLE] = true }
      elseif ready.status == "Unknown" then
        add, remove = { UNREACHABLE }, { [NOT_READY] = true }
      end
      if add ~= nil then
        local written, err = write_node(ctx, node, add, remove, now)
        if written == nil then
          taints.enqueue(node, now)
          return "tainting node " .. name .. ": " .. tostring(err)
        end
        known[name] = written
      end
    end
  end
  return nil
end

-- monitorNodeHealth's cluster-wide part (handleDisruption): the zone states and their rate
-- limiters; entering the all-zones-down mode removes every NoExecute taint of ours.
local function disruption(ctx, now)
  local mode = taints.disruption(now)
  local first_err
  if mode == "enter" then
    ctx.log:info("every node is not ready: the controller stops tainting and evicting")
    for name in pairs(known) do
      local node = ctx:get(NODES, name)
      if node ~= nil and (taints.has(node, NOT_READY, "NoExecute")
          or taints.has(node, UNREACHABLE, "NoExecute")) then
        local both = { [NOT_READY] = true, [UNREACHABLE] = true }
        local written, err = write_node(ctx, node, {}, both, now)
        if written == nil then
          first_err = first_err or ("untainting node " .. name .. ": " .. tostring(err))
        else
          known[name] = written
        end
      end
    end
  elseif mode == "exit" then
    ctx.log:info("some nodes are ready again: the controller resumes")
    health.reset_all(now)
  end
  return first_err
end

-- Periodic work: the monitor pass (zone states, then the nodes waiting for a NoExecute taint)
-- and the PodGC pass. Each runs from its own key (":monitor", ":podgc") and, when it is due,
-- from any node sync too (the keys start with the first watch event; a cluster where nothing
-- happens still gets its passes). Returns the seconds until the task is due again.
local periodic = {
  monitor = { due = -math.huge, running = false },
  podgc = { due = -math.huge, running = false },
}

local function monitor_pass(ctx, now)
  local err = disruption(ctx, now) or taint_pass(ctx, now)
  if err ~= nil then ctx.log:warn(err) end
  -- Upstream drains the queues every 100 ms: come back when the next token is there.
  local wait = taints.next_token_in(now)
  return wait ~= nil and math.min(math.max(wait, 0.1), MONITOR_PERIOD) or MONITOR_PERIOD
end

local function podgc_pass(ctx)
  local err = podgc.pass(ctx)
  if err ~= nil then ctx.log:warn("pod gc: " .. err) end
  return podgc.PERIOD
end

local function run_periodic(ctx, name, fn)
  local p = periodic[name]
  local now = ctx.now
  if p.running then return MONITOR_PERIOD end
  if now < p.due then return p.due - now end
  p.running = true
  local ok, wait = pcall(fn, ctx, now)
  p.running = false
  if not ok then
    p.due = now + 1
    error(wait, 0)
  end
  p.due = now + wait
  return wait
end

local function node_gone(ctx, name)
  local last = known[name]
  if last ~= nil then
    ctx:event(last, "Normal", "RemovingNode", "Removing Node " .. name .. " from Controller")
  end
  known[name] = nil
  ready_of[name] = nil
  mark_pods[name] = nil
  noexecute[name] = nil
  health.forget(name)
  taints.remove_member(name)
  return nil
end

local function sync_node(ctx, name)
  local now = ctx.now
  local node = ctx:get(NODES, name)
  if node == nil then return node_gone(ctx, name) end
  local err
  if known[name] == nil then
    ctx:event(node, "Normal", "RegisteredNode", "Registered Node " .. name .. " in Controller")
    -- A node new to the controller starts without NoExecute taints of its own (upstream's
    -- markNodeAsReachable for added nodes); they come back if still called for.
    node, err = write_node(ctx, node, {}, { [NOT_READY] = true, [UNREACHABLE] = true }, now)
    if node == nil then return conflict_or(err, "untainting node " .. name) end
  end
  known[name] = node

  -- Health.
  local lease = ctx:get(LEASES, LEASE_NS, name)
  local observed, current, due
  node, observed, current, due = health.update(ctx, node, lease, now)
  if node == nil then return conflict_or(observed, "updating the status of node " .. name) end
  known[name] = node
  ready_of[name] = current
  -- A change of readiness may change the zone's state: weighed at once, before any tainting.
  local perr
  if taints.member(node, current, now) then perr = disruption(ctx, now) end

  -- Taints: NoExecute by the Ready status the kubelet reported (processTaintBaseEviction),
  -- NoSchedule by the conditions as they are now.
  local add, remove = {}, {}
  if current ~= nil then
    if observed == "False" then
      if taints.has(node, UNREACHABLE, "NoExecute") then
        add, remove = { NOT_READY }, { [UNREACHABLE] = true }
      elseif not taints.has(node, NOT_READY, "NoExecute") then
        taints.enqueue(node, now)
      end
    elseif observed == "Unknown" then
      if taints.has(node, NOT_READY, "NoExecute") then
        add, remove = { UNREACHABLE }, { [NOT_READY] = true }
      elseif not taints.has(node, UNREACHABLE, "NoExecute") then
        taints.enqueue(node, now)
      end
    else
      remove = { [NOT_READY] = true, [UNREACHABLE] = true }
      taints.unqueue(name)
    end
    if current ~= "True" and observed == "True" then
      ctx:event(node, "Normal", "NodeNotReady", "Node " .. name .. " status is now: NodeNotReady")
      mark_pods[name] = true
    end
  end
  node, err = write_node(ctx, node, add, remove, now)
  if node == nil then return conflict_or(err, "updating node " .. name) end
  known[name] = node
  perr = perr or taint_pass(ctx, now)
  node = known[name] -- the pass may have tainted this node too

  -- Pods: marked not ready, evicted for NoExecute taints.
  local tainted = has_noexecute(node)
  local next_due
  if tainted or noexecute[name] or mark_pods[name] then
    local pods = ctx:list(PODS, { node = name })
    if mark_pods[name] then
      if current ~= nil and current ~= "True" then
        perr = perr or eviction.mark_not_ready(ctx, pods, now)
      end
      mark_pods[name] = nil
    end
    local eerr
    next_due, eerr = eviction.process(ctx, node, pods, now)
    perr = perr or eerr
  end
  noexecute[name] = tainted

  local after
  if due ~= nil then after = due - now + 1 end
  if next_due ~= nil and (after == nil or next_due - now < after) then after = next_due - now end
  if perr ~= nil then return nil, perr end
  if after ~= nil then return { requeue_after = math.max(after, 0.001) } end
  return nil
end

-- The zone states need every node: the first reconcile takes them all in, as upstream's first
-- monitor pass does before it weighs any zone.
local inited = false
local function init(ctx)
  local now = ctx.now
  for _, node in ipairs(ctx:list(NODES)) do
    local ready = kube.condition(node, "Ready")
    taints.member(node, ready and ready.status, now)
  end
  inited = true
end

local function reconcile(ctx, key)
  if not inited then init(ctx) end
  if key == MONITOR_KEY then
    return { requeue_after = run_periodic(ctx, "monitor", monitor_pass) }
  end
  if key == PODGC_KEY then return { requeue_after = run_periodic(ctx, "podgc", podgc_pass) } end
  local res, err = sync_node(ctx, key)
  run_periodic(ctx, "monitor", monitor_pass)
  run_periodic(ctx, "podgc", podgc_pass)
  return res, err
end

-- ---- Watch maps ---------------------------------------------------------------------------

-- The periodic keys start with the first event of any kind.
local function arm(keys)
  if armed then return keys end
  armed = true
  keys = keys or {}
  keys[#keys + 1] = MONITOR_KEY
  keys[#keys + 1] = PODGC_KEY
  return keys
end

local function map_node()
  return arm(nil)
end

-- A Lease renewal is a heartbeat: noted here, so that a node's sync only runs when it is due.
local function map_lease(lease, _, change)
  if lease.metadata.namespace ~= LEASE_NS or change == "delete" or lease.spec == nil then
    return arm(nil)
  end
  health.observe_lease(lease.metadata.name, lease.spec.renewTime, kube.time.now())
  return arm(nil)
end

local function tolerations_changed(pod, old)
  local a, b = pod.spec.tolerations, old.spec.tolerations
  if a == nil or b == nil then return a ~= b end
  return kube.json.encode(a) ~= kube.json.encode(b)
end

-- Pods bound to a node that is not ready are marked not ready; pods bound to a node with
-- NoExecute taints, or whose tolerations changed there, are looked at by that node's sync.
local function map_pod(pod, old, change)
  if change == "delete" then
    eviction.forget_pod(pod.metadata.uid)
    return arm(nil)
  end
  local node = pod.spec.nodeName
  if node == nil or node == "" then return arm(nil) end
  local assigned = change == "add" or (old ~= nil and old.spec.nodeName ~= node)
  local keys
  if assigned and ready_of[node] ~= nil and ready_of[node] ~= "True" then
    mark_pods[node] = true
    keys = { node }
  elseif noexecute[node] and (assigned or (old ~= nil and tolerations_changed(pod, old))) then
    keys = { node }
  end
  return arm(keys)
end

return {
  name = "nodelifecycle",
  component = "node-controller",
  primary = NODES,
  watches = {
    { resource = NODES, map = map_node },
    { resource = LEASES, map = map_lease },
    { resource = PODS, map = map_pod },
  },
  workers = 8, -- nodeUpdateWorkerSize
  -- The periodic passes (PodGC, the node monitor) walk every pod or node: tens of thousands
  -- on a busy cluster, more than the default second on a loaded machine.
  time_budget = 10,
  reconcile = reconcile,
}
