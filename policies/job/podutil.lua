-- What the Job controller reads from its pods: completion indexes, the tracking finalizer,
-- failure, finish times, restart counts and podFailurePolicy matching (job_controller.go,
-- backoff_utils.go, pod_failure_policy.go and indexed_job_utils.go upstream).
local kube = require("kube")

local M = {}

M.TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
M.INDEX_KEY = "batch.kubernetes.io/job-completion-index"
M.FAILURE_COUNT_KEY = "batch.kubernetes.io/job-index-failure-count"
M.IGNORED_COUNT_KEY = "batch.kubernetes.io/job-index-ignored-failure-count"

local MAX_INT32 = 2147483647

-- strconv.Atoi: an optional sign and decimal digits.
local function atoi(s)
  if type(s) ~= "string" or not string.match(s, "^[+-]?%d+$") then return nil end
  return math.tointeger(tonumber(s))
end

-- The completion index annotation as a non-negative integer, or nil ("unknown index").
function M.completion_index(annotations)
  if annotations == nil then return nil end
  local i = atoi(annotations[M.INDEX_KEY])
  if i == nil or i < 0 then return nil end
  return i
end

-- An index-failure-count annotation value (parseInt32: 0 when absent or invalid).
local function count_annotation(annotations, key)
  local v = annotations and annotations[key]
  if v == nil then return 0 end
  local i = atoi(v)
  if i == nil or i < 0 or i > MAX_INT32 then return 0 end
  return i
end

function M.failure_count(pod)
  return count_annotation(pod.metadata.annotations, M.FAILURE_COUNT_KEY)
end

function M.ignored_count(pod)
  return count_annotation(pod.metadata.annotations, M.IGNORED_COUNT_KEY)
end

function M.has_finalizer(finalizers)
  if finalizers == nil then return false end
  for _, f in ipairs(finalizers) do
    if f == M.TRACKING_FINALIZER then return true end
  end
  return false
end

-- The controller owner reference, or nil.
function M.controller_ref(md)
  local refs = md.ownerReferences
  if refs == nil then return nil end
  for _, r in ipairs(refs) do
    if r.controller then return r end
  end
  return nil
end

function M.is_ready(pod)
  local st = pod.status
  local conds = st and st.conditions
  if conds == nil then return false end
  for _, c in ipairs(conds) do
    if c.type == "Ready" then return c.status == "True" end
  end
  return false
end

local function parse_time(s)
  if s == nil then return nil end
  return (kube.time.parse(s))
end

-- getFinishedTime: the latest finishedAt when every container has terminated; else the Ready=False
-- condition's transition time; else deletionTimestamp - deletionGracePeriodSeconds; else the
-- creation time. Unix seconds.
function M.finish_time(pod)
  local st = pod.status
  local statuses = st and st.containerStatuses
  if statuses ~= nil then
    local latest
    for _, cs in ipairs(statuses) do
      local term = cs.state and cs.state.terminated
      local t = term and parse_time(term.finishedAt)
      if t == nil then
        latest = nil
        break
      end
      if latest == nil or t > latest then latest = t end
    end
    if latest ~= nil then return latest end
  end
  local conds = st and st.conditions
  if conds ~= nil then
    for _, c in ipairs(conds) do
      if c.type == "Ready" then
        if c.status == "False" then
          local t = parse_time(c.lastTransitionTime)
          if t ~= nil then return t end
        end
        break
      end
    end
  end
  local md = pod.metadata
  if md.deletionTimestamp ~= nil then
    local t = parse_time(md.deletionTimestamp)
    if t ~= nil then return t - (md.deletionGracePeriodSeconds or 0) end
  end
  return parse_time(md.creationTimestamp) or 0
end

-- pastBackoffLimitOnFailure's sum: restarts of the init and regular containers of the pods
-- that are Running or Pending.
function M.restarts(pod)
  local st = pod.status
  if st == nil or (st.phase ~= "Running" and st.phase ~= "Pending") then return 0 end
  local n = 0
  for _, list in ipairs({ st.initContainerStatuses or {}, st.containerStatuses or {} }) do
    for _, cs in ipairs(list) do n = n + (cs.restartCount or 0) end
  end
  return n
end

-- ---- podFailurePolicy -------------------------------------------------------------------

local function exit_code_matches(code, req)
  local values = req.values or {}
  if req.operator == "In" then
    for _, v in ipairs(values) do
      if v == code then return true end
    end
    return false
  elseif req.operator == "NotIn" then
    for _, v in ipairs(values) do
      if v == code then return false end
    end
    return true
  end
  return false
end

local function matching_container(list, req)
  if list == nil then return nil end
  for _, cs in ipairs(list) do
    local term = cs.state and cs.state.terminated
    if term ~= nil and (req.containerName == nil or req.containerName == cs.name) then
      local code = term.exitCode or 0
      if code ~= 0 and exit_code_matches(code, req) then return cs.name, code end
    end
  end
  return nil
end

local function on_exit_codes(st, req)
  if st == nil then return nil end
  local name, code = matching_container(st.containerStatuses, req)
  if name ~= nil then return name, code end
  return matching_container(st.initContainerStatuses, req)
end

local function on_pod_conditions(st, patterns)
  local conds = st and st.conditions
  if conds == nil then return nil end
  for _, c in ipairs(conds) do
    for _, p in ipairs(patterns) do
      if c.type == p.type and c.status == (p.status or "True") then return c.type end
    end
  end
  return nil
end

-- matchPodFailurePolicy for a failed pod: (FailJob message or nil, whether the failure counts,
-- the action of the matching rule or nil). The first matching rule with a known action wins.
function M.match_failure_policy(policy, pod)
  if policy == nil or policy.rules == nil then return nil, true, nil end
  local st = pod.status
  for i, rule in ipairs(policy.rules) do
    local action = rule.action
    local what, code
    if rule.onExitCodes ~= nil then
      what, code = on_exit_codes(st, rule.onExitCodes)
    elseif rule.onPodConditions ~= nil then
      what = on_pod_conditions(st, rule.onPodConditions)
    end
    if what ~= nil then
      if action == "Ignore" then
        return nil, false, action
      elseif action == "FailIndex" or action == "Count" then
        return nil, true, action
      elseif action == "FailJob" then
        local md = pod.metadata
        local msg
        if code ~= nil then
          msg = string.format("Container %s for pod %s/%s failed with exit code %d matching FailJob rule at index %d",
            what, md.namespace, md.name, code, i - 1)
        else
          msg = string.format("Pod %s/%s has condition %s matching FailJob rule at index %d",
            md.namespace, md.name, what, i - 1)
        end
        return msg, true, action
      end
    end
  end
  return nil, true, nil
end

return M
