-- The embedded cluster's scheduler: binds pending pods to nodes, as kube-scheduler 1.32's default
-- profile would for the plugins implemented here (see scheduler/plugins.lua), through the
-- pods/binding subresource, with upstream's events and PodScheduled condition.
--
-- A pod is ours when spec.nodeName is empty, spec.schedulerName is "default-scheduler" (or
-- empty), it has no scheduling gates, is not being deleted and has not finished. Its
-- reconcile filters the nodes (cordon, taints NoSchedule/NoExecute against tolerations, a node
-- whose Ready condition is False or Unknown counting as tainted not-ready/unreachable,
-- nodeSelector and required node affinity, host ports, resource requests against allocatable
-- minus what the pods bound to the node request, pods per node), scores the feasible ones and
-- binds to the best (ties go to the node seen first; for the nodes listed at start, the first by
-- name). Success: the Normal event "Scheduled". No
-- node: PodScheduled=False (Unschedulable) with upstream's "0/N nodes are available: ..."
-- message, written only when it changed, and a FailedScheduling warning; the pod waits until
-- something changes that may make room (a node added, or its labels, taints, cordon,
-- readiness or allocatable changed; a bound pod deleted or finished), at most five minutes
-- (podMaxInUnschedulablePodsDuration), with upstream's backoff of 1 s doubling to 10 s between
-- attempts.
--
-- Speed: per-node sums are kept in this policy's state (scheduler/cache.lua), updated from what
-- reconciles and watch maps observe, so placing a pod never walks the cluster's pods; the
-- search itself (upstream's: from a round-robin start, the best of the first k feasible nodes,
-- k from the adaptive percentageOfNodesToScore) runs in O(log n) on a segment tree per pod
-- signature and request shape (scheduler/ring.lua). A binding is accounted before the write
-- yields, so reconciles running side by side never double-book a node.
--
-- What kube-scheduler does and this does not:
--  * no preemption: the message says which nodes preemption could not help, like upstream when
--    it finds no victims, but lower-priority pods are never evicted; no nominatedNodeName;
--  * no inter-pod affinity/anti-affinity, topology spread constraints (neither the pod's nor the
--    system default spreading), volume plugins (bindings, zones, limits), image locality,
--    dynamic resources, extenders, or scheduler profiles other than the default;
--  * pods are taken in the order the work queue gives them (upstream's active queue orders by
--    priority, then age);
--  * among the best-scored nodes the one seen first wins (upstream picks one at random);
--  * PodScheduled=False is written with a full status update (a 409 just retries) rather than a
--    strategic patch; scheduling-gated pods are left alone (upstream records
--    SchedulingGated).
local kube = require("kube")
local cache = require("scheduler.cache")
local podinfo = require("scheduler.podinfo")
local plugins = require("scheduler.plugins")

local PODS, NODES = "v1/pods", "v1/nodes"
local SCHEDULER_NAME = "default-scheduler"
local FLUSH = 300 -- podMaxInUnschedulablePodsDuration
local BACKOFF_INITIAL, BACKOFF_MAX = 1, 10 -- podInitialBackoffSeconds, podMaxBackoffSeconds
local ASSUME_TTL = 30 -- a binding not seen in the cache after this long is tried again

-- Pods that did not fit: key -> {attempts, last (time), gen (cache.gen then), fp, resolvable}.
local waiting = {}

local function backoff(attempts)
  local d = BACKOFF_INITIAL
  for _ = 2, attempts do
    d = d * 2
    if d >= BACKOFF_MAX then return BACKOFF_MAX end
  end
  return d
end

local function ours(pod)
  local spec = pod.spec
  local node = spec.nodeName
  if node ~= nil and node ~= "" then return false end
  local sn = spec.schedulerName
  if sn ~= nil and sn ~= "" and sn ~= SCHEDULER_NAME then return false end
  if spec.schedulingGates ~= nil and #spec.schedulingGates > 0 then return false end
  if pod.metadata.deletionTimestamp ~= nil then return false end
  local phase = pod.status and pod.status.phase
  return phase ~= "Succeeded" and phase ~= "Failed"
end

-- Keys of the pods waiting for room; with resources_only, those some node rejected for ports or
-- resources (a pod going away frees nothing else).
local function retry_keys(resources_only)
  local keys
  for key, w in pairs(waiting) do
    if not resources_only or w.resolvable then
      keys = keys or {}
      keys[#keys + 1] = key
    end
  end
  if keys ~= nil then table.sort(keys) end
  return keys
end

local function pod_key(pod)
  return pod.metadata.namespace .. "/" .. pod.metadata.name
end

-- ---- Failure ------------------------------------------------------------------------------

local function set_condition(pod, cond)
  local st = pod.status
  if st == nil then
    st = kube.object()
    pod.status = st
  end
  local conds = st.conditions or kube.array()
  st.conditions = conds
  for i = 1, #conds do
    if conds[i].type == cond.type then
      conds[i] = cond
      return
    end
  end
  conds[#conds + 1] = cond
end

local function unschedulable(ctx, key, pod, info, diag)
  local now = ctx.now
  local w = waiting[key] or { attempts = 0 }
  w.attempts = w.attempts + 1
  w.last = now
  w.gen = cache.gen
  w.fp = info.fp
  w.resolvable = diag.resolvable
  waiting[key] = w
  local cur = kube.condition(pod, "PodScheduled")
  if cur == nil or cur.status ~= "False" or cur.reason ~= diag.reason
    or cur.message ~= diag.message
  then
    local changed = cur == nil or cur.status ~= "False"
    local p = kube.copy(pod)
    set_condition(p, {
      type = "PodScheduled",
      status = "False",
      reason = diag.reason,
      message = diag.message,
      lastProbeTime = kube.null,
      lastTransitionTime = changed and kube.time.format(now) or cur.lastTransitionTime,
    })
    local _, err = ctx:update_status(PODS, p)
    if err ~= nil and not err.not_found then
      if err.conflict then return { requeue = true } end
      return nil, "cannot write PodScheduled: " .. tostring(err)
    end
  end
  ctx:event(pod, "Warning", "FailedScheduling", diag.message)
  if diag.reason ~= "Unschedulable" then return { requeue_after = backoff(w.attempts) } end
  return { requeue_after = FLUSH }
end

-- ---- Scheduling one pod -------------------------------------------------------------------

local function schedule(ctx, key, pod, info)
  local choice, diag = plugins.pick(pod, info)
  -- A node the informer still shows but the cache no longer has: forget it, search again.
  while choice ~= nil and ctx:get(NODES, choice.name) == nil do
    cache.absent(choice.name)
    choice, diag = plugins.pick(pod, info)
  end
  if choice == nil then return unschedulable(ctx, key, pod, info, diag) end
  local node = choice.name
  local md = pod.metadata
  cache.assume(key, pod, node, info, ctx.now)
  local _, err = ctx:create(PODS, {
    apiVersion = "v1",
    kind = "Binding",
    metadata = { name = md.name, namespace = md.namespace, uid = md.uid },
    target = { apiVersion = "v1", kind = "Node", name = node },
  }, { subresource = "binding" })
  if err ~= nil then
    local a = cache.assumed(key)
    if a ~= nil and a.node == node then cache.forget(key) end
    cache.gen = cache.gen + 1
    if err.not_found then return nil end
    -- Bound by someone else or being deleted (409), or refused: the pod goes back to the
    -- queue with backoff, as upstream's binding cycle failures do.
    local w = waiting[key] or { attempts = 0, gen = -1, resolvable = true }
    w.attempts = w.attempts + 1
    w.last = ctx.now
    waiting[key] = w
    ctx:event(pod, "Warning", "FailedScheduling", "Binding rejected: " .. tostring(err))
    return { requeue_after = backoff(w.attempts) }
  end
  waiting[key] = nil
  ctx:event(pod, "Normal", "Scheduled",
    "Successfully assigned " .. md.namespace .. "/" .. md.name .. " to " .. node)
  return nil
end

local function reconcile(ctx, key)
  if not cache.ready then cache.init(ctx) end
  local pod = ctx:get(PODS, key)
  if cache.account(key, pod) then cache.gen = cache.gen + 1 end
  if pod == nil or not ours(pod) then
    waiting[key] = nil
    return nil
  end
  local now = ctx.now
  local a = cache.assumed(key)
  if a ~= nil then
    -- Our binding is on its way; the pod's update will confirm it.
    if now - a.at < ASSUME_TTL then return { requeue_after = ASSUME_TTL - (now - a.at) } end
    cache.forget(key)
  end
  local info = podinfo.info(pod)
  local w = waiting[key]
  if w ~= nil then
    -- Nothing changed since the last attempt: wait for a change or the flush.
    if w.gen == cache.gen and w.fp == info.fp and now < w.last + FLUSH then
      return { requeue_after = w.last + FLUSH - now }
    end
    local wait = w.last + backoff(w.attempts) - now
    if wait > 0 then return { requeue_after = wait } end
  end
  return schedule(ctx, key, pod, info)
end

-- ---- Watch maps ---------------------------------------------------------------------------

-- A node that appeared or changed in a way that may make room retries every waiting pod.
local function map_node(node, _, change)
  if change == "delete" then
    cache.absent(node.metadata.name)
    return nil
  end
  if cache.observe(node) then
    cache.gen = cache.gen + 1
    return retry_keys(false)
  end
  return nil
end

-- A bound pod that went away or finished frees room: release it now and retry the pods that
-- some node rejected for resources or ports.
local function map_pod(pod, old, change)
  local node = pod.spec.nodeName
  if node == nil or node == "" then return nil end
  local key = pod_key(pod)
  local freed = false
  if change == "delete" then
    freed = cache.forget(key)
  elseif change == "update" and kube.pods.is_terminal(pod) and not kube.pods.is_terminal(old) then
    freed = cache.forget(key)
  end
  if not freed then return nil end
  cache.gen = cache.gen + 1
  return retry_keys(true)
end

return {
  name = "scheduler",
  component = "default-scheduler",
  primary = PODS,
  watches = {
    { resource = NODES, map = map_node },
    { resource = PODS, map = map_pod },
  },
  -- Upstream binds in a goroutine per pod; a reconcile here waits for its binding, so many run
  -- at once (32 held the binding rate of `kubelua up` near 1,700 pods/s, bench/up_sched.sh).
  workers = 128,
  reconcile = reconcile,
}
