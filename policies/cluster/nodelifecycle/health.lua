-- Node health, as the node lifecycle controller's tryUpdateNodeHealth (1.32): a node is healthy
-- while its kubelet keeps posting either signal, the Ready condition's lastHeartbeatTime or the
-- renewTime of its Lease in kube-node-lease. What counts is when this controller saw a signal
-- change (probe), not the times the kubelet wrote, so clock skew does not matter. When no signal
-- changed for nodeMonitorGracePeriod (nodeStartupGracePeriod for a node that never posted a
-- Ready condition), the Ready, MemoryPressure, DiskPressure and PIDPressure conditions become
-- Unknown ("Kubelet stopped posting node status.", or "Kubelet never posted node status." for
-- conditions that were never there).
local kube = require("kube")

local M = {}

M.MONITOR_GRACE = 50 -- nodeMonitorGracePeriod (kube-controller-manager 1.32 default)
M.STARTUP_GRACE = 60 -- nodeStartupGracePeriod

local UNKNOWN_TYPES = { "Ready", "MemoryPressure", "DiskPressure", "PIDPressure" }

-- name -> {probe, ready_tt, has_ready, hb, ltt, renew}: the last observation of each node.
local data = {}
M.data = data

local function parse(t)
  if t == nil then return nil end
  return (kube.time.parse(t))
end

-- A Lease renewal seen (by a watch map or a reconcile): a newer renewTime is a sign of life.
function M.observe_lease(name, renew, now)
  local d = data[name]
  if d == nil or renew == nil then return false end
  local t = parse(renew)
  if t ~= nil and (d.renew == nil or t > d.renew) then
    d.renew = t
    d.probe = now
    return true
  end
  return false
end

function M.forget(name)
  data[name] = nil
end

-- Everyone alive: after the controller leaves the disruption mode, probes restart from now.
function M.reset_all(now)
  for _, d in pairs(data) do
    d.probe = now
    d.ready_tt = now
  end
end

local function set_unknown(status, created, now)
  local conds = status.conditions
  if conds == nil then
    conds = kube.array()
    status.conditions = conds
  end
  local ts = kube.time.format(now)
  for _, ctype in ipairs(UNKNOWN_TYPES) do
    local cur
    for i = 1, #conds do
      if conds[i].type == ctype then cur = conds[i] end
    end
    if cur == nil then
      conds[#conds + 1] = {
        type = ctype,
        status = "Unknown",
        reason = "NodeStatusNeverUpdated",
        message = "Kubelet never posted node status.",
        lastHeartbeatTime = created,
        lastTransitionTime = ts,
      }
    elseif cur.status ~= "Unknown" then
      cur.status = "Unknown"
      cur.reason = "NodeStatusUnknown"
      cur.message = "Kubelet stopped posting node status."
      cur.lastTransitionTime = ts
    end
  end
end

-- Updates the health record from the node (and its lease) and, when the node is overdue,
-- writes the Unknown conditions. Returns the node (the written one if written), the Ready
-- status the kubelet had reported (observed, nil when there was no Ready condition: "Unknown"
-- then, as upstream's stand-in), the status now (current, nil when there is still no Ready
-- condition), and when the node becomes overdue (a time), or nil and an error.
function M.update(ctx, node, lease, now)
  local md = node.metadata
  local name = md.name
  local created = md.creationTimestamp
  local ready = kube.condition(node, "Ready")
  local d = data[name]
  local grace, observed
  if ready == nil then
    observed = "Unknown"
    grace = M.STARTUP_GRACE
    if d == nil then
      local c = parse(created) or now
      d = { probe = c, ready_tt = c }
      data[name] = d
    end
  else
    observed = ready.status
    grace = M.MONITOR_GRACE
  end
  if d == nil then
    d = { probe = now, ready_tt = now }
    data[name] = d
  elseif ready ~= nil and not d.has_ready then
    d.probe, d.ready_tt = now, now
  elseif ready == nil and d.has_ready then
    d.probe, d.ready_tt = now, now
  elseif ready ~= nil and d.hb ~= ready.lastHeartbeatTime then
    if d.ltt ~= ready.lastTransitionTime then d.ready_tt = now end
    d.probe = now
  end
  d.has_ready = ready ~= nil
  d.hb = ready and ready.lastHeartbeatTime
  d.ltt = ready and ready.lastTransitionTime
  if lease ~= nil and lease.spec ~= nil then M.observe_lease(name, lease.spec.renewTime, now) end
  local current = ready and ready.status
  if now > d.probe + grace then
    local n = kube.copy(node)
    n.status = n.status or kube.object()
    set_unknown(n.status, created, now)
    local nr
    for _, c in ipairs(n.status.conditions) do
      if c.type == "Ready" then nr = c end
    end
    if ready == nil or nr.status ~= ready.status or nr.reason ~= ready.reason
      or nr.message ~= ready.message or nr.lastTransitionTime ~= ready.lastTransitionTime
    then
      local written, err = ctx:update_status("v1/nodes", n)
      if written == nil then return nil, err end
      node = written
      d.ready_tt = now
      d.has_ready = true
      d.hb = nr.lastHeartbeatTime
      d.ltt = nr.lastTransitionTime
    end
    current = "Unknown"
    return node, observed, current, nil
  end
  return node, observed, current, d.probe + grace
end

return M
