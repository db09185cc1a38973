-- Shared pieces of the DaemonSet controller: label keys, IntOrString scaling, pod ordering,
-- "updated" and "available" tests, the failed-pod backoff and expectations bookkeeping.
local kube = require("kube")

local M = {}

M.DS = "apps/v1/daemonsets"
M.PODS = "v1/pods"
M.REVISIONS = "apps/v1/controllerrevisions"
M.NODES = "v1/nodes"

M.HASH_LABEL = "controller-revision-hash"
M.GENERATION_LABEL = "pod-template-generation"
M.GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

-- Creates and deletes per sync (kube-controller-manager's burstReplicas).
M.BURST_REPLICAS = 250

-- The controller reference every pod and revision of ds carries.
function M.controller_ref(ds)
  return {
    apiVersion = "apps/v1",
    kind = "DaemonSet",
    name = ds.metadata.name,
    uid = ds.metadata.uid,
    controller = true,
    blockOwnerDeletion = true,
  }
end

-- The uid of obj's controller owner, or nil.
function M.controller_uid(obj)
  local refs = obj.metadata.ownerReferences
  if refs == nil then return nil end
  for i = 1, #refs do
    local r = refs[i]
    if r.controller then return r.uid end
  end
  return nil
end

-- util.GetTemplateGeneration: the deprecated annotation as an integer, nil when absent or bad.
function M.template_generation(ds)
  local a = ds.metadata.annotations
  local v = a and a[M.GENERATION_ANNOTATION]
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if n == nil or not v:match("^[+-]?%d+$") then return nil end
  return n
end

-- util.IsPodUpdated (of a pod info record, see daemonset.pods): the revision hash or the
-- template generation label says current.
function M.is_updated(info, hash, generation)
  if generation ~= nil and info.generation == tostring(generation) then return true end
  return hash ~= nil and hash ~= "" and info.hash == hash
end

-- podutil.IsPodAvailable (of a pod info record): ready, and ready for more than min_ready
-- seconds.
function M.is_available(info, min_ready, now)
  if not info.ready then return false end
  if min_ready == 0 then return true end
  local since = info.ready_since
  return since ~= nil and since + min_ready < now
end

-- intstrutil.GetScaledValueFromIntOrPercent(v, total, roundUp = true).
function M.scaled(v, total)
  if v == nil then return nil, "nil value for IntOrString" end
  if math.type(v) == "integer" then return v end
  if type(v) == "number" then return math.floor(v) end
  if type(v) ~= "string" then return nil, "invalid type: neither int nor percentage" end
  local digits = v:match("^(.*)%%$")
  if digits == nil then return nil, "invalid type: string is not a percentage" end
  local p = math.tointeger(tonumber(digits))
  if p == nil or not digits:match("^[+-]?%d+$") then
    return nil, string.format("invalid value %q: strconv.Atoi: parsing %q: invalid syntax",
      v, digits)
  end
  return math.ceil(p * total / 100)
end

local function rolling(ds)
  local us = ds.spec.updateStrategy
  if us == nil or us.type ~= "RollingUpdate" then return nil end
  return us.rollingUpdate
end

-- util.SurgeCount / util.UnavailableCount: 0 unless RollingUpdate with a rollingUpdate block.
function M.surge_count(ds, total)
  local r = rolling(ds)
  if r == nil then return 0 end
  return M.scaled(r.maxSurge, total)
end

function M.unavailable_count(ds, total)
  local r = rolling(ds)
  if r == nil then return 0 end
  return M.scaled(r.maxUnavailable, total)
end

-- util.AllowsSurge.
function M.allows_surge(ds)
  local n = M.surge_count(ds, 1)
  return n ~= nil and n ~= 0
end

-- Seconds since the epoch of an RFC 3339 timestamp; nil (a zero time) when absent or bad.
local function seconds(ts)
  if ts == nil then return nil end
  return kube.time.parse(ts)
end
M.seconds = seconds

local function created(info)
  local t = info.created
  if t == nil then
    t = seconds(info.pod.metadata.creationTimestamp) or -math.huge
    info.created = t
  end
  return t
end

-- podByCreationTimestampAndPhase (of pod info records): scheduled pods first, then older
-- creationTimestamp, then name.
function M.older(a, b)
  if a.scheduled ~= b.scheduled then return a.scheduled end
  local at, bt = created(a), created(b)
  if at == bt then return a.name < b.name end
  return at < bt
end

-- The oldest of a list of pod infos (the list itself is not reordered).
function M.oldest(infos)
  local best = infos[1]
  for i = 2, #infos do
    if M.older(infos[i], best) then best = infos[i] end
  end
  return best
end

-- A copy of a list of pod infos sorted oldest first.
function M.sorted_oldest_first(infos)
  local t = {}
  for i = 1, #infos do t[i] = infos[i] end
  table.sort(t, M.older)
  return t
end

-- The Ready condition of a pod: ready, lastTransitionTime in seconds (nil when absent).
function M.readiness(pod)
  local st = pod.status
  local conds = st and st.conditions
  if conds == nil then return false, nil end
  for i = 1, #conds do
    local c = conds[i]
    if c.type == "Ready" then
      if c.status ~= "True" then return false, nil end
      return true, seconds(c.lastTransitionTime)
    end
  end
  return false, nil
end

-- ---- Failed-pod backoff (flowcontrol.NewBackOff(1s, 15min)) -------------------------------
-- Entries live as long as the policy generation, keyed "<ds uid>/<observedGeneration>/<node>".

local BACKOFF_INITIAL = 1
local BACKOFF_MAX = 15 * 60
local backoff = {}
local backoff_gc_at = nil

local function expired(e, now)
  return now - e.t > 2 * BACKOFF_MAX
end

function M.backoff_key(ds, node)
  local st = ds.status
  return string.format("%s/%d/%s", ds.metadata.uid, (st and st.observedGeneration) or 0, node)
end

-- IsInBackOffSinceUpdate.
function M.in_backoff(id, now)
  local e = backoff[id]
  if e == nil or expired(e, now) then return false end
  return now - e.t < e.d
end

function M.backoff_delay(id)
  local e = backoff[id]
  return e and e.d or 0
end

-- Next: starts at 1 s (or again after 30 min of quiet), else doubles up to 15 min.
function M.backoff_next(id, now)
  local e = backoff[id]
  if e == nil or expired(e, now) then
    e = { d = BACKOFF_INITIAL }
    backoff[id] = e
  else
    e.d = math.min(e.d * 2, BACKOFF_MAX)
  end
  e.t = now
end

-- GC of idle entries, at most once a minute (upstream's BackoffGCInterval).
function M.backoff_gc(now)
  if backoff_gc_at ~= nil and now - backoff_gc_at < 60 then return end
  backoff_gc_at = now
  for id, e in pairs(backoff) do
    if expired(e, now) then backoff[id] = nil end
  end
end

-- ---- Expectations ---------------------------------------------------------------------------
-- SetExpectations(key, creates, deletes) and LowerExpectations need the runtime's shared
-- expectations object (ctx.expectations, a kube.Expectations). Without it only one counter can
-- be set at a time through ctx:expect_creations / ctx:expect_deletions, so the record is rebuilt
-- from the cache after the writes instead (resync below): creations still missing from the
-- cache first, else deletions still pending.

function M.expect(ctx, adds, del_keys)
  local e = ctx.expectations
  if e ~= nil then
    e:set(ctx.key, adds, del_keys)
  elseif adds > 0 then
    ctx:expect_creations(adds)
  elseif #del_keys > 0 then
    ctx:expect_deletions(del_keys)
  end
end

function M.lower_creations(ctx, n)
  local e = ctx.expectations
  if e ~= nil and n > 0 then e:lower(ctx.key, n, 0) end
end

function M.deletion_failed(ctx, pod_key)
  local e = ctx.expectations
  if e ~= nil then e:deletion_observed(ctx.key, pod_key) end
end

-- After the writes of a sync (fallback only): created pods not yet in the cache, else deleted
-- pods still in the cache without a deletionTimestamp.
function M.resync_expectations(ctx, ns, created, deleted)
  if ctx.expectations ~= nil then return end
  local adds = 0
  for i = 1, #created do
    if ctx:get(M.PODS, ns, created[i]) == nil then adds = adds + 1 end
  end
  if adds > 0 then
    ctx:expect_creations(adds)
    return
  end
  local pending = {}
  for i = 1, #deleted do
    local p = ctx:get(M.PODS, deleted[i])
    if p ~= nil and p.metadata.deletionTimestamp == nil then pending[#pending + 1] = deleted[i] end
  end
  if #pending > 0 then
    ctx:expect_deletions(pending)
  else
    ctx:expect_creations(0)
  end
end

return M
