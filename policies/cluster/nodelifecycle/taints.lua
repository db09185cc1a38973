-- Taints the node lifecycle controller owns, as 1.32 sets them:
--  * NoSchedule from conditions (TaintNodesByCondition): Ready False -> not-ready, Ready
--    Unknown -> unreachable, MemoryPressure/DiskPressure/PIDPressure/NetworkUnavailable True ->
--    memory-pressure/..., and spec.unschedulable -> unschedulable; added and removed at once;
--  * NoExecute not-ready / unreachable (with timeAdded) for nodes whose Ready condition is False /
--    Unknown: swapped at once when the node already carries the other one, removed at once when
--    Ready is True again, and otherwise added through a per-zone queue drained at the eviction
--    rate (--node-eviction-rate 0.1 nodes/s, burst 1). A zone where at least 55% of more than
--    two nodes are not ready is partially disrupted (0.01/s when it has more than 50 nodes, else
--    no tainting); when every zone is fully disrupted (no ready node at all) the controller
--    assumes it, not the nodes, lost touch: it removes every NoExecute taint it set and stops
--    tainting until a node is ready again.
local kube = require("kube")

local M = {}

M.NOT_READY = "node.kubernetes.io/not-ready"
M.UNREACHABLE = "node.kubernetes.io/unreachable"
local UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
local OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
M.OUT_OF_SERVICE = OUT_OF_SERVICE

local EVICTION_QPS = 0.1 -- --node-eviction-rate
local SECONDARY_QPS = 0.01 -- --secondary-node-eviction-rate
local LARGE_CLUSTER = 50 -- --large-cluster-size-threshold
local UNHEALTHY_ZONE = 0.55 -- --unhealthy-zone-threshold
local EXCLUDE_LABEL = "node.kubernetes.io/exclude-disruption"

-- Condition type -> status -> taint key (nodeConditionToTaintKeyStatusMap).
local CONDITION_TAINTS = {
  Ready = { False = M.NOT_READY, Unknown = M.UNREACHABLE },
  MemoryPressure = { True = "node.kubernetes.io/memory-pressure" },
  DiskPressure = { True = "node.kubernetes.io/disk-pressure" },
  NetworkUnavailable = { True = "node.kubernetes.io/network-unavailable" },
  PIDPressure = { True = "node.kubernetes.io/pid-pressure" },
}
local OWNED_NOSCHEDULE = { [UNSCHEDULABLE] = true }
for _, m in pairs(CONDITION_TAINTS) do
  for _, key in pairs(m) do
    OWNED_NOSCHEDULE[key] = true
  end
end

function M.has(node, key, effect)
  local taints = node.spec and node.spec.taints
  if taints == nil then return false end
  for i = 1, #taints do
    local t = taints[i]
    if t.key == key and t.effect == effect then return true end
  end
  return false
end

-- The NoSchedule taints the node's conditions and cordon call for, as a set of keys.
local function wanted_noschedule(node)
  local want = {}
  local conds = node.status and node.status.conditions
  if conds ~= nil then
    for i = 1, #conds do
      local m = CONDITION_TAINTS[conds[i].type]
      local key = m and m[conds[i].status]
      if key ~= nil then want[key] = true end
    end
  end
  if node.spec and node.spec.unschedulable then want[UNSCHEDULABLE] = true end
  return want
end

-- The node's taints after the changes: every owned NoSchedule taint as the conditions say,
-- NoExecute keys in add (with timeAdded now) and without those in remove. Returns the new list
-- and whether it differs.
function M.compute(node, add, remove, now)
  local want = wanted_noschedule(node)
  local out = kube.array()
  local changed = false
  local have = {}
  local taints = node.spec and node.spec.taints
  if taints ~= nil then
    for i = 1, #taints do
      local t = taints[i]
      local drop = false
      if t.effect == "NoSchedule" and OWNED_NOSCHEDULE[t.key] and not want[t.key] then
        drop = true
      elseif t.effect == "NoExecute" and remove[t.key] then
        drop = true
      end
      if drop then
        changed = true
      else
        out[#out + 1] = kube.copy(t)
        have[t.key .. "\0" .. t.effect] = true
      end
    end
  end
  -- Added NoSchedule taints follow the conditions' order, as upstream's list does.
  local conds = node.status and node.status.conditions
  local order = {}
  if conds ~= nil then
    for i = 1, #conds do
      local m = CONDITION_TAINTS[conds[i].type]
      local key = m and m[conds[i].status]
      if key ~= nil then order[#order + 1] = key end
    end
  end
  if want[UNSCHEDULABLE] then order[#order + 1] = UNSCHEDULABLE end
  for _, key in ipairs(order) do
    if not have[key .. "\0NoSchedule"] then
      out[#out + 1] = { key = key, effect = "NoSchedule" }
      have[key .. "\0NoSchedule"] = true
      changed = true
    end
  end
  for _, key in ipairs(add) do
    if not have[key .. "\0NoExecute"] then
      out[#out + 1] = { key = key, effect = "NoExecute", timeAdded = kube.time.format(now) }
      have[key .. "\0NoExecute"] = true
      changed = true
    end
  end
  return out, changed
end

-- Writes the taints; returns the updated node, or nil and the error.
function M.write(ctx, node, add, remove, now)
  local taints, changed = M.compute(node, add, remove, now)
  if not changed then return node end
  local n = kube.copy(node)
  n.spec = n.spec or kube.object()
  if #taints == 0 then
    n.spec.taints = nil
  else
    n.spec.taints = taints
  end
  return ctx:update("v1/nodes", n)
end

-- ---- Zones --------------------------------------------------------------------------------

-- GetZoneKey: region and zone labels (or their deprecated failure-domain twins).
function M.zone_key(node)
  local l = node.metadata.labels
  if l == nil then return "" end
  local region = l["topology.kubernetes.io/region"] or l["failure-domain.beta.kubernetes.io/region"]
  local zone = l["topology.kubernetes.io/zone"] or l["failure-domain.beta.kubernetes.io/zone"]
  if (region == nil or region == "") and (zone == nil or zone == "") then return "" end
  return (region or "") .. ":\0:" .. (zone or "")
end

function M.excluded(node)
  local l = node.metadata.labels
  return l ~= nil and l[EXCLUDE_LABEL] ~= nil
end

-- zone -> {state, qps, tokens, last, queue = {names}, queued = {name = true}}
local zones = {}
M.zones = zones
-- name -> {zone, ready (current Ready status or nil), excluded}
local members = {}
M.members = members
M.all_disrupted = false

local function zone(key, now)
  local z = zones[key]
  if z == nil then
    z = { state = "Initial", qps = EVICTION_QPS, tokens = 1, last = now, queue = {}, queued = {} }
    zones[key] = z
  end
  return z
end

-- Records where a node is and whether it is ready (for the zone states). Returns true when
-- that changed.
function M.member(node, ready, now)
  local name = node.metadata.name
  local key = M.zone_key(node)
  zone(key, now)
  local m = members[name]
  if m == nil then
    m = {}
    members[name] = m
  end
  local excluded = M.excluded(node)
  local changed = m.zone ~= key or m.ready ~= ready or m.excluded ~= excluded
  m.zone, m.ready, m.excluded = key, ready, excluded
  return changed
end

function M.unqueue(name)
  for _, z in pairs(zones) do
    if z.queued[name] then
      z.queued[name] = nil
      for i = 1, #z.queue do
        if z.queue[i] == name then
          table.remove(z.queue, i)
          break
        end
      end
    end
  end
end

function M.remove_member(name)
  M.unqueue(name)
  members[name] = nil
end

-- markNodeForTainting: the node waits in its zone's queue for a NoExecute taint.
function M.enqueue(node, now)
  local name = node.metadata.name
  local z = zone(M.zone_key(node), now)
  if not z.queued[name] then
    z.queued[name] = true
    z.queue[#z.queue + 1] = name
  end
end

-- A token of the zone's rate limiter (token bucket, burst 1), if one is there.
local function take(z, now)
  if z.qps <= 0 then return false end
  z.tokens = math.min(1, z.tokens + (now - z.last) * z.qps)
  z.last = now
  if z.tokens >= 1 then
    z.tokens = z.tokens - 1
    return true
  end
  return false
end

local function set_qps(z, qps, now)
  if z.qps == qps then return end
  -- SwapLimiter: a new bucket starts full, unless the old one was empty.
  local had = take(z, now)
  z.qps = qps
  z.tokens = (qps > 0 and had) and 1 or 0
  z.last = now
end

-- The next node to taint in any zone whose limiter has a token: the name, or nil. Each name
-- taken costs a token, as upstream's RateLimitedTimedQueue.Try.
function M.next_to_taint(now)
  local keys = {}
  for key in pairs(zones) do
    keys[#keys + 1] = key
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local z = zones[key]
    if #z.queue > 0 and take(z, now) then
      local name = table.remove(z.queue, 1)
      z.queued[name] = nil
      return name
    end
  end
  return nil
end

-- Seconds until a zone with nodes waiting gets its next token (nil: no zone can taint).
function M.next_token_in(now)
  local best
  for _, z in pairs(zones) do
    if #z.queue > 0 and z.qps > 0 then
      local tokens = math.min(1, z.tokens + (now - z.last) * z.qps)
      local wait = tokens >= 1 and 0 or (1 - tokens) / z.qps
      if best == nil or wait < best then best = wait end
    end
  end
  return best
end

-- ComputeZoneState over the members of each zone; then handleDisruption. Returns "enter" when
-- every zone just became fully disrupted, "exit" when that ended, else nil.
function M.disruption(now)
  local counts = {}
  for _, m in pairs(members) do
    if not m.excluded then
      local c = counts[m.zone]
      if c == nil then
        c = { ready = 0, not_ready = 0 }
        counts[m.zone] = c
      end
      if m.ready == "True" then
        c.ready = c.ready + 1
      else
        c.not_ready = c.not_ready + 1
      end
    end
  end
  local new = {}
  local all_full = next(counts) ~= nil
  for key, c in pairs(counts) do
    local st = "Normal"
    if c.ready == 0 and c.not_ready > 0 then
      st = "FullDisruption"
    elseif c.not_ready > 2 and c.not_ready / (c.ready + c.not_ready) >= UNHEALTHY_ZONE then
      st = "PartialDisruption"
    end
    if st ~= "FullDisruption" then all_full = false end
    new[key] = { state = st, size = c.ready + c.not_ready }
    zone(key, now)
  end
  local was_full = true
  for key, z in pairs(zones) do
    if counts[key] == nil then
      zones[key] = nil
    elseif z.state ~= "FullDisruption" then
      was_full = false
    end
  end
  if all_full and was_full then return nil end
  local function limit(z, st, size)
    if st == "Normal" or st == "FullDisruption" then
      set_qps(z, EVICTION_QPS, now)
    elseif st == "PartialDisruption" then
      set_qps(z, size > LARGE_CLUSTER and SECONDARY_QPS or 0, now)
    end
  end
  if all_full then
    for _, z in pairs(zones) do
      set_qps(z, 0, now)
      z.state = "FullDisruption"
    end
    M.all_disrupted = true
    return "enter"
  end
  if was_full and next(zones) ~= nil then
    for key, z in pairs(zones) do
      local n = new[key]
      limit(z, n.state, n.size)
      z.state = n.state
    end
    M.all_disrupted = false
    return "exit"
  end
  for key, z in pairs(zones) do
    local n = new[key]
    if n ~= nil and z.state ~= n.state then
      limit(z, n.state, n.size)
      z.state = n.state
    end
  end
  M.all_disrupted = false
  return nil
end

return M
