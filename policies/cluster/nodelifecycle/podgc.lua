-- The pod garbage collector (pkg/controller/podgc, 1.32), one pass every 20 s (gcCheckPeriod):
--  * terminated pods (phase neither Pending, Running nor Unknown) beyond
--    --terminated-pod-gc-threshold (12500) are deleted, evicted ones first, then the oldest;
--  * terminating pods on a node that is not ready and carries the
--    node.kubernetes.io/out-of-service taint are force-deleted;
--  * pods bound to a node that does not exist (missing for quarantineTime, 40 s, and confirmed by
--    a read from the API server) get DisruptionTarget=True (DeletionByPodGC, "PodGC: node no
--    longer exists") and phase Failed, then are force-deleted;
--  * terminating pods that were never scheduled are force-deleted.
-- Force deletion is a delete with grace period 0, after the phase was set to Failed (status
-- patch) for pods that had not finished.
--
-- kubelua addition (FORCE_DELETE_OVERDUE below): a terminating pod on a node whose Ready
-- condition is not True is force-deleted once its deletion grace period has run out
-- (metadata.deletionTimestamp has passed). Upstream leaves it Terminating until the node comes
-- back, is deleted, or is tainted out-of-service; in the embedded cluster a stopped simulated
-- node never comes back by itself.
local kube = require("kube")
local taints = require("nodelifecycle.taints")

local M = {}

M.PERIOD = 20 -- gcCheckPeriod
local QUARANTINE = 40 -- quarantineTime
local THRESHOLD = 12500 -- --terminated-pod-gc-threshold
local FORCE_DELETE_OVERDUE = true

local PODS, NODES = "v1/pods", "v1/nodes"

local missing_since = {} -- node name -> time first seen missing

local function pod_key(pod)
  return pod.metadata.namespace .. "/" .. pod.metadata.name
end

local function terminated(pod)
  local phase = pod.status and pod.status.phase
  return phase ~= nil and phase ~= "Pending" and phase ~= "Running" and phase ~= "Unknown"
end

local function evicted(pod)
  return pod.status ~= nil and pod.status.phase == "Failed" and pod.status.reason == "Evicted"
end

local function ready(node)
  local c = kube.condition(node, "Ready")
  return c ~= nil and c.status == "True"
end

-- markFailedAndDeletePodWithCondition.
local function force_delete(ctx, pod, cond)
  local phase = pod.status and pod.status.phase
  if phase ~= "Succeeded" and phase ~= "Failed" then
    local status = { phase = "Failed" }
    if cond ~= nil then
      cond.lastTransitionTime = kube.time.format(ctx.now)
      status.conditions = { cond }
    end
    local _, err = ctx:patch(PODS, pod.metadata.namespace, pod.metadata.name, { status = status },
      { type = "strategic", subresource = "status" })
    if err ~= nil then
      if err.not_found then return nil end
      return "marking " .. pod_key(pod) .. " failed: " .. tostring(err)
    end
  end
  local _, err = ctx:delete(PODS, pod, { grace_period = 0 })
  if err ~= nil and not err.not_found then
    return "deleting " .. pod_key(pod) .. ": " .. tostring(err)
  end
  ctx.log:info("force-deleted pod", pod_key(pod))
  return nil
end

local function older(a, b)
  local ea, eb = evicted(a), evicted(b)
  if ea ~= eb then return ea end
  local ca, cb = a.metadata.creationTimestamp or "", b.metadata.creationTimestamp or ""
  if ca ~= cb then
    return (kube.time.parse(ca) or 0) < (kube.time.parse(cb) or 0)
  end
  return a.metadata.name < b.metadata.name
end

-- One pass. Returns the first error (the pass goes on after errors, as upstream's).
function M.pass(ctx)
  local now = ctx.now
  local pods = ctx:list(PODS)
  local nodes = {}
  for _, node in ipairs(ctx:list(NODES)) do
    nodes[node.metadata.name] = node
  end
  local first_err
  local deleted = {}
  local function note(err)
    first_err = first_err or err
  end
  local function force(pod, cond)
    if deleted[pod.metadata.uid] then return end
    deleted[pod.metadata.uid] = true
    note(force_delete(ctx, pod, cond))
  end

  -- gcTerminated
  local done = {}
  for _, pod in ipairs(pods) do
    if terminated(pod) then done[#done + 1] = pod end
  end
  if #done > THRESHOLD then
    table.sort(done, older)
    for i = 1, #done - THRESHOLD do
      force(done[i])
    end
  end

  -- gcTerminating (out-of-service), and overdue pods on nodes that are not ready
  for _, pod in ipairs(pods) do
    local dt = pod.metadata.deletionTimestamp
    local node = dt ~= nil and nodes[pod.spec.nodeName or ""]
    if node and not ready(node) then
      local oos = false
      for _, t in ipairs(node.spec and node.spec.taints or {}) do
        if t.key == taints.OUT_OF_SERVICE then oos = true end
      end
      local overdue = FORCE_DELETE_OVERDUE and (kube.time.parse(dt) or now) <= now
      if oos or overdue then force(pod) end
    end
  end

  -- gcOrphaned
  local gone = {}
  for _, pod in ipairs(pods) do
    local name = pod.spec.nodeName
    if name ~= nil and name ~= "" and nodes[name] == nil and gone[name] == nil then
      local since = missing_since[name]
      if since == nil then
        missing_since[name] = now
        gone[name] = false
      elseif now - since >= QUARANTINE then
        local fresh, err = ctx:get(NODES, nil, name, { fresh = true })
        if fresh == nil and err ~= nil and not err.not_found then
          note("checking node " .. name .. ": " .. tostring(err))
          gone[name] = false
        else
          gone[name] = fresh == nil
          if fresh ~= nil then missing_since[name] = nil end
        end
      else
        gone[name] = false
      end
    end
  end
  for name in pairs(missing_since) do
    if nodes[name] ~= nil then missing_since[name] = nil end
  end
  for _, pod in ipairs(pods) do
    local name = pod.spec.nodeName
    if name ~= nil and gone[name] then
      force(pod, {
        type = "DisruptionTarget",
        status = "True",
        reason = "DeletionByPodGC",
        message = "PodGC: node no longer exists",
      })
    end
  end
  for name, g in pairs(gone) do
    if g then missing_since[name] = nil end
  end

  -- gcUnscheduledTerminating
  for _, pod in ipairs(pods) do
    local name = pod.spec.nodeName
    if pod.metadata.deletionTimestamp ~= nil and (name == nil or name == "") then force(pod) end
  end
  return first_err
end

return M
