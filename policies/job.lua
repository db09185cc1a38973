-- The Job controller (batch/v1), as kube-controller-manager 1.31-1.33 runs it: pods created from
-- the template up to parallelism, NonIndexed and Indexed completion, retries with the
-- exponential pod-failure backoff, backoffLimit, backoffLimitPerIndex / maxFailedIndexes,
-- podFailurePolicy, podReplacementPolicy, activeDeadlineSeconds, suspend / resume,
-- successPolicy, and pod tracking with the batch.kubernetes.io/job-tracking finalizer and
-- status.uncountedTerminatedPods, so that every finished pod is counted exactly once across
-- controller restarts. Terminal conditions are delayed as in 1.31+: FailureTarget or
-- SuccessCriteriaMet first, Failed or Complete once no pod of the Job is terminating.
--
-- Differences from upstream, on purpose:
--  * the pod-failure backoff record is rebuilt from the pods' finish times after a restart
--    (upstream keeps it in memory only, kubernetes#114650);
--  * while creations wait for the backoff, status.active reports the pods that are really
--    active (upstream writes 0, which the API server rejects when ready > 0: #139428);
--  * a Job sync lists only the pods it owns (ctx:list by owner uid); pods without a controller
--    are handled on their own events under the key "<ns>/pod:<name>" (the orphan-pod worker):
--    adopted by a running Job that selects them, else stripped of the tracking finalizer;
--  * pod deletions that fail do not lower status.ready.
-- And because of the runtime: a sync's API calls go one at a time (each ctx call waits for its
-- answer), where upstream creates a slow-start batch's pods, and removes finalizers, in
-- parallel; the caps per sync are upstream's.
local kube = require("kube")
local iv = require("job.indexes")
local pu = require("job.podutil")

-- spec.managedBy values this controller takes. By default Jobs without the field, those that
-- name the upstream controller (kubelua is its drop-in replacement) and those that name kubelua.
-- Set ONLY_KUBELUA_MANAGED to true to take only Jobs with managedBy "kubelua.io/job-controller",
-- so that kubelua can run selected Jobs beside a real kube-controller-manager.
local ONLY_KUBELUA_MANAGED = false
local KUBELUA_MANAGER = "kubelua.io/job-controller"
local UPSTREAM_MANAGER = "kubernetes.io/job-controller"

local JOBS, PODS = "batch/v1/jobs", "v1/pods"
local TRACKING = pu.TRACKING_FINALIZER
local MAX_UNCOUNTED = 500 -- MaxUncountedPods
local MAX_CREATE_DELETE = 500 -- MaxPodCreateDeletePerSync
local BACKOFF_BASE, BACKOFF_MAX = 10, 600 -- DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff
local MIN_DELAY = 1 -- syncJobBatchPeriod: the shortest delayed requeue
local MAX_GENERATED_NAME = 58 -- names.MaxGeneratedNameLength
local MAX_INT32 = 2147483647
-- A successful finalizer removal not seen in the cache after this long is forgotten (a lost
-- watch event); the pod is then handled from what the cache shows again.
local RM_EXPECTATION_TTL = 300
local EXPECTATIONS_TTL = 300 -- ExpectationsTimeout: the runtime's expectations expire then

-- Per Job key, for the life of the policy state (reset by a reload or restart, like upstream's
-- in-memory stores):
local backoff = {} -- key -> {failures = n, last = t}: the pod-failure backoff record
local rm_expected = {} -- key -> {uid = time issued}: finalizer removals not yet seen
local known_uid = {} -- key -> uid of the Job last seen under that key

local REMOVE_FINALIZER = { metadata = { ["$deleteFromPrimitiveList/finalizers"] = { TRACKING } } }

-- ---- Small helpers ------------------------------------------------------------------------

local function managed(job)
  local mb = job.spec and job.spec.managedBy
  if ONLY_KUBELUA_MANAGED then return mb == KUBELUA_MANAGER end
  return mb == nil or mb == UPSTREAM_MANAGER or mb == KUBELUA_MANAGER
end

local function find_cond(conds, ctype)
  if conds == nil then return nil end
  for _, c in ipairs(conds) do
    if c.type == ctype then return c end
  end
  return nil
end

local function finished(job)
  local conds = job.status and job.status.conditions
  if conds == nil then return false end
  for _, c in ipairs(conds) do
    if (c.type == "Complete" or c.type == "Failed") and c.status == "True" then return true end
  end
  return false
end

local function fmt_time(t)
  return kube.time.format(math.floor(t))
end

local function new_cond(ctype, status, reason, message, now)
  local ts = fmt_time(now)
  return {
    type = ctype,
    status = status,
    reason = (reason ~= nil and reason ~= "") and reason or nil,
    message = (message ~= nil and message ~= "") and message or nil,
    lastProbeTime = ts,
    lastTransitionTime = ts,
  }
end

-- ensureJobConditionStatus: updates the condition of that type when status, reason or message
-- differ, appends it when absent (never a False one). Returns whether the list changed.
local function ensure_cond(st, ctype, status, reason, message, now)
  st.conditions = st.conditions or kube.array({})
  local conds = st.conditions
  for i, c in ipairs(conds) do
    if c.type == ctype then
      if c.status ~= status or (c.reason or "") ~= (reason or "") or (c.message or "") ~= (message or "") then
        conds[i] = new_cond(ctype, status, reason, message, now)
        return true
      end
      return false
    end
  end
  if status ~= "False" then
    conds[#conds + 1] = new_cond(ctype, status, reason, message, now)
    return true
  end
  return false
end

local function set_of(list)
  local s = {}
  if list ~= nil then
    for _, v in ipairs(list) do s[v] = true end
  end
  return s
end

local function pod_key(pod)
  return pod.metadata.namespace .. "/" .. pod.metadata.name
end

-- Delay before the n-th consecutive failure may be replaced, still to wait at `now`.
local function remaining_backoff(failures, last, now)
  if failures == nil or failures <= 0 or last == nil then return 0 end
  local d = BACKOFF_BASE
  for _ = 2, failures do
    d = d * 2
    if d >= BACKOFF_MAX then
      d = BACKOFF_MAX
      break
    end
  end
  local elapsed = now - last
  if d < elapsed then return 0 end
  return d - elapsed
end

local function err_text(err)
  if type(err) == "table" then return err.message or tostring(err) end
  return tostring(err)
end

-- A create refused because the namespace is being deleted (upstream ignores those).
local function namespace_terminating(err)
  return type(err) == "table" and err.reason == "Forbidden" and
      string.find(err.message or "", "because it is being terminated", 1, true) ~= nil
end

-- Expectations the runtime cannot lower one by one: after failures, the record is set again
-- to what is still pending, read from the cache (an object visible there has been, or is about
-- to be, observed by the informer).
local function reset_creations(ctx, names, ns)
  local pending = 0
  for _, name in ipairs(names) do
    if ctx:get(PODS, ns, name) == nil then pending = pending + 1 end
  end
  ctx:expect_creations(pending)
end

local function reset_deletions(ctx, pods)
  local pending = {}
  for _, pod in ipairs(pods) do
    local cur = ctx:get(PODS, pod.metadata.namespace, pod.metadata.name)
    if cur ~= nil and cur.metadata.uid == pod.metadata.uid and cur.metadata.deletionTimestamp == nil then
      pending[#pending + 1] = pod_key(pod)
    end
  end
  ctx:expect_deletions(pending)
end

local function strip_finalizer(ctx, pod)
  local _, err = ctx:patch(PODS, pod.metadata.namespace, pod.metadata.name, REMOVE_FINALIZER,
    { type = "strategic" })
  if err ~= nil and not err.not_found then return err end
  return nil
end

-- ---- Pods of Jobs that are gone, finished, or not owned by a Job ----------------------------

-- The orphan-pod worker (syncOrphanPod), plus adoption: a pod without a controller that a
-- running Job selects is adopted by it; otherwise the tracking finalizer goes.
local function sync_pod(ctx, ns, name)
  local pod = ctx:get(PODS, ns, name)
  if pod == nil then return end
  local md = pod.metadata
  local ref = pu.controller_ref(md)
  if ref ~= nil then
    if not pu.has_finalizer(md.finalizers) then return end
    if ref.kind ~= "Job" or ref.apiVersion ~= "batch/v1" then return end
    local job = ctx:get(JOBS, ns, ref.name)
    if job ~= nil and job.metadata.uid ~= ref.uid then job = nil end
    if job ~= nil and (not managed(job) or not finished(job)) then return end
  elseif md.deletionTimestamp == nil then
    for _, job in ipairs(ctx:list(JOBS, { namespace = ns })) do
      if managed(job) and not finished(job) and job.metadata.deletionTimestamp == nil and
          job.spec.selector ~= nil then
        local sel = kube.labels.selector(job.spec.selector)
        if sel ~= nil and not sel:empty() and sel:matches(md.labels or {}) then
          local patch = {
            metadata = {
              uid = md.uid,
              ownerReferences = { {
                apiVersion = "batch/v1", kind = "Job", name = job.metadata.name,
                uid = job.metadata.uid, controller = true, blockOwnerDeletion = true,
              } },
              finalizers = { TRACKING },
            },
          }
          local _, err = ctx:patch(PODS, ns, name, patch, { type = "strategic" })
          if err ~= nil and not err.not_found then return nil, err end
          return
        end
      end
    end
    if not pu.has_finalizer(md.finalizers) then return end
  elseif not pu.has_finalizer(md.finalizers) then
    return
  end
  local err = strip_finalizer(ctx, pod)
  if err ~= nil then return nil, err end
end

-- Watch mapping: pods that may need the orphan worker get a key of their own.
local function map_pod(pod)
  local md = pod.metadata
  local ref = pu.controller_ref(md)
  if ref == nil or (md.deletionTimestamp ~= nil and ref.kind == "Job" and pu.has_finalizer(md.finalizers)) then
    return { md.namespace .. "/pod:" .. md.name }
  end
  return nil
end

-- Strips the tracking finalizer from the Job's pods (a finished Job, or one that is gone).
local function strip_all(ctx, ns, uid)
  local first
  for _, pod in ipairs(ctx:list(PODS, { namespace = ns, owner = uid })) do
    if pu.has_finalizer(pod.metadata.finalizers) then
      local err = strip_finalizer(ctx, pod)
      first = first or err
    end
  end
  if first ~= nil then return nil, first end
end

-- ---- The sync ------------------------------------------------------------------------------

-- The backoff record after this sync's newly finished pods (newBackoffRecord). With no record
-- yet (first sync after a start), it is first rebuilt from the pods already accounted for.
local function next_backoff(key, new_succ, new_fail, history)
  local function rule(rec, succ, fail)
    table.sort(succ, function(a, b) return a.finish < b.finish end)
    table.sort(fail, function(a, b) return a.finish < b.finish end)
    if #succ == 0 then
      if #fail == 0 then return rec end
      return { failures = rec.failures + #fail, last = fail[#fail].finish }
    end
    local out = { failures = 0, last = nil }
    local last_success = succ[#succ].finish
    for i = #fail, 1, -1 do
      if not (fail[i].finish > last_success) then break end
      if out.last == nil then out.last = fail[i].finish end
      out.failures = out.failures + 1
    end
    return out
  end
  local rec = backoff[key]
  if rec == nil then rec = rule({ failures = 0 }, history.succ, history.fail) end
  return rule(rec, new_succ, new_fail)
end

local function with_finish(list)
  for _, r in ipairs(list) do
    if r.finish == nil then r.finish = pu.finish_time(r.pod) end
  end
  return list
end

-- The pods to delete when there are too many, or (Indexed) pods without a valid index and
-- all but the best pod of a repeated index (activePodsForRemoval).
local function pods_for_removal(jc, list, at_least)
  local rm, left = {}, {}
  if jc.indexed then
    local sorted = {}
    for i, r in ipairs(list) do sorted[i] = r end
    for i, r in ipairs(sorted) do r.pos = i end
    table.sort(sorted, function(a, b)
      local ia, ib = a.index or -1, b.index or -1
      if ia ~= ib then return ia < ib end
      return a.pos < b.pos
    end)
    local i = 1
    while i <= #sorted do
      local r = sorted[i]
      local ix = r.index
      local j = i
      while j + 1 <= #sorted and sorted[j + 1].index == ix do j = j + 1 end
      if ix == nil or ix >= jc.completions then
        for k = i, j do rm[#rm + 1] = sorted[k] end
      elseif j == i then
        left[#left + 1] = r
      else
        local group = {}
        for k = i, j do group[#group + 1] = sorted[k] end
        local ranked = jc.rank(group)
        for k = 1, #ranked - 1 do rm[#rm + 1] = ranked[k] end
        left[#left + 1] = ranked[#ranked]
      end
      i = j + 1
    end
  else
    left = list
  end
  if #rm < at_least then
    local ranked = jc.rank(left)
    for k = 1, at_least - #rm do rm[#rm + 1] = ranked[k] end
  end
  return rm
end

-- Removes pods the Job no longer wants: finalizer first (so the pod is not counted as failed),
-- then DELETE (deleteJobPods). Returns removed ready pods, removed pods, error.
local function delete_job_pods(ctx, jc, recs)
  local pods = {}
  for i, r in ipairs(recs) do pods[i] = r.pod end
  ctx:expect_deletions(pods)
  local removed, removed_ready, first, untidy = 0, 0, nil, false
  for _, r in ipairs(recs) do
    local ok = true
    local err
    if r.fin then
      err = strip_finalizer(ctx, r.pod)
      if err ~= nil then ok = false end
    end
    if ok then
      local _, derr = ctx:delete(PODS, r.pod)
      if derr ~= nil then
        if derr.not_found then
          untidy = true
        else
          ok = false
          err = derr
          ctx:event(jc.job, "Warning", "FailedDelete", "Error deleting: " .. err_text(derr))
        end
      else
        ctx:event(jc.job, "Normal", "SuccessfulDelete", "Deleted pod: " .. r.name)
      end
    end
    if ok then
      removed = removed + 1
      if r.ready then removed_ready = removed_ready + 1 end
    else
      untidy = true
      first = first or err
    end
  end
  if untidy then reset_deletions(ctx, pods) end
  return removed_ready, removed, first
end

-- DELETE every active pod of a Job that reached a finish condition, keeping the finalizers
-- (the tracking step counts them). No expectations (deleteActivePods).
local function delete_active_pods(ctx, jc, recs)
  local deleted, deleted_ready, first = 0, 0, nil
  for _, r in ipairs(recs) do
    local _, err = ctx:delete(PODS, r.pod)
    if err ~= nil and not err.not_found then
      first = first or err
      ctx:event(jc.job, "Warning", "FailedDelete", "Error deleting: " .. err_text(err))
    else
      deleted = deleted + 1
      if r.ready then deleted_ready = deleted_ready + 1 end
      if err == nil then ctx:event(jc.job, "Normal", "SuccessfulDelete", "Deleted pod: " .. r.name) end
    end
  end
  return deleted_ready, deleted, first
end

local function index_generate_name(job_name, ix)
  local suffix = "-" .. ix .. "-"
  local prefix = job_name .. suffix
  if #prefix > MAX_GENERATED_NAME then
    prefix = string.sub(prefix, 1, MAX_GENERATED_NAME - #suffix) .. suffix
  end
  return prefix
end

-- The pod template with JOB_COMPLETION_INDEX in every (init) container that lacks it.
local function indexed_template(job)
  local tmpl = kube.copy(job.spec.template)
  local function add(containers)
    if containers == nil then return end
    for _, c in ipairs(containers) do
      local has = false
      for _, e in ipairs(c.env or {}) do
        if e.name == "JOB_COMPLETION_INDEX" then has = true end
      end
      if not has then
        c.env = c.env or kube.array({})
        c.env[#c.env + 1] = {
          name = "JOB_COMPLETION_INDEX",
          valueFrom = { fieldRef = { fieldPath = "metadata.labels['" .. pu.INDEX_KEY .. "']" } },
        }
      end
    end
  end
  add(tmpl.spec.initContainers)
  add(tmpl.spec.containers)
  return tmpl
end

local function build_pod(jc, tmpl, ix)
  local job = jc.job
  local opts = { api_version = "batch/v1", kind = "Job", finalizers = { TRACKING } }
  if ix ~= nil then
    local s = tostring(ix)
    opts.generate_name = index_generate_name(job.metadata.name, ix)
    opts.labels = { [pu.INDEX_KEY] = s }
    opts.annotations = { [pu.INDEX_KEY] = s }
    if jc.per_index then
      -- getNewIndexFailureCounts from the failed pod this one replaces.
      local fails, ignored = 0, 0
      local prev = jc.delayed[ix]
      if prev ~= nil then
        fails, ignored = pu.failure_count(prev.pod), pu.ignored_count(prev.pod)
        if jc.counts_failure(prev) then fails = fails + 1 else ignored = ignored + 1 end
      end
      opts.annotations[pu.FAILURE_COUNT_KEY] = tostring(fails)
      if ignored > 0 then opts.annotations[pu.IGNORED_COUNT_KEY] = tostring(ignored) end
    end
  end
  local pod, err = kube.pods.from_template(tmpl, job, opts)
  if pod == nil then return nil, err end
  if ix ~= nil then pod.spec.hostname = job.metadata.name .. "-" .. ix end
  return pod
end

-- manageJob: deletes surplus pods or creates missing ones. Returns the active count and an
-- error (which asks for a rate-limited retry).
local function manage_job(ctx, jc)
  local job, spec = jc.job, jc.job.spec
  local active = #jc.active
  local parallelism = spec.parallelism or 1

  if spec.suspend then
    local rm = pods_for_removal(jc, jc.active, active)
    local removed_ready, removed, err = delete_job_pods(ctx, jc, rm)
    jc.terminating = jc.terminating + removed
    jc.ready = jc.ready - removed_ready
    return active - removed, err
  end

  local want
  if jc.completions == nil then
    want = jc.succeeded > 0 and active or parallelism
  else
    want = math.max(0, math.min(jc.completions - jc.succeeded, parallelism))
  end

  local rm = pods_for_removal(jc, jc.active, math.max(0, active - want))
  if #rm > MAX_CREATE_DELETE then
    for k = #rm, MAX_CREATE_DELETE + 1, -1 do rm[k] = nil end
  end
  if #rm > 0 then
    local removed_ready, removed, err = delete_job_pods(ctx, jc, rm)
    jc.terminating = jc.terminating + removed
    jc.ready = jc.ready - removed_ready
    return active - removed, err
  end

  local diff = want - active - (jc.only_failed and jc.terminating or 0)
  if diff <= 0 then return active end

  if not jc.per_index then
    local remaining = remaining_backoff(jc.backoff.failures, jc.backoff.last, jc.now)
    if remaining > 0 then
      ctx:requeue_after(math.max(MIN_DELAY, remaining))
      return active
    end
  end
  diff = math.min(diff, MAX_CREATE_DELETE)

  local indexes
  if jc.indexed then
    local busy = iv.with(jc.succ_iv, jc.index_list(jc.active))
    if jc.only_failed then busy = iv.with(busy, jc.index_list(jc.terminating_list)) end
    if jc.failed_iv ~= nil then busy = iv.merge(busy, jc.failed_iv) end
    indexes = iv.first_missing(busy, diff, jc.completions)
    if jc.per_index then
      local now_ok, min_wait = {}, nil
      for _, ix in ipairs(indexes) do
        local prev = jc.delayed[ix]
        local wait = 0
        if prev ~= nil then
          wait = remaining_backoff(pu.failure_count(prev.pod) + pu.ignored_count(prev.pod) + 1,
            prev.finish or pu.finish_time(prev.pod), jc.now)
        end
        if wait == 0 then
          now_ok[#now_ok + 1] = ix
        elseif min_wait == nil or wait < min_wait then
          min_wait = wait
        end
      end
      if #now_ok == 0 and min_wait ~= nil then
        ctx:requeue_after(math.max(MIN_DELAY, min_wait))
        return active
      end
      indexes = now_ok
    end
    diff = #indexes
  end
  if diff <= 0 then return active end

  local tmpl = jc.indexed and indexed_template(job) or job.spec.template
  local ns = job.metadata.namespace
  -- Expectations rise one creation at a time, just before its request: a reconcile stopped
  -- half-way (its Lua time budget on a loaded machine, a shutdown) leaves at most the creation
  -- it was issuing expected, not all those it never issued.
  ctx:expect_creations(0)
  local expectations, key = ctx.expectations, jc.key
  local shared -- NonIndexed pods are all alike: built once per sync
  local created = {}
  local successes, err = kube.slow_start(diff, function(i)
    local pod, berr
    if indexes == nil then
      if shared == nil then shared, berr = build_pod(jc, tmpl, nil) end
      pod = shared
    else
      pod, berr = build_pod(jc, tmpl, indexes[i])
    end
    if pod == nil then
      ctx:event(job, "Warning", "FailedCreate", "Error creating: " .. tostring(berr))
      return nil, berr
    end
    expectations:raise(key, 1, 0)
    local p, cerr = ctx:create(PODS, pod)
    if p ~= nil then
      created[#created + 1] = p.metadata.name
      ctx:event(job, "Normal", "SuccessfulCreate", "Created pod: " .. p.metadata.name)
      return true
    end
    if namespace_terminating(cerr) then return true end
    ctx:event(job, "Warning", "FailedCreate", "Error creating: " .. err_text(cerr))
    return nil, cerr
  end)
  if successes < diff then reset_creations(ctx, created, ns) end
  return active + successes, err
end

-- Whether a pod's finalizer may go now (canRemoveFinalizer).
local function can_remove_finalizer(jc, r)
  if jc.deleting or jc.fc ~= nil or r.phase == "Succeeded" then return true end
  if not r.failed then return false end
  if jc.per_index and r.index ~= nil then
    local d = jc.delayed[r.index]
    if d ~= nil and d.uid == r.uid then return false end
  end
  return true
end

-- Moves the uncounted pods whose finalizer is gone into the counters.
local function clean_uncounted(st, with_fin)
  local unc = st.uncountedTerminatedPods
  local updated = false
  for _, field in ipairs({ "succeeded", "failed" }) do
    local list = unc[field] or {}
    local keep = {}
    for _, u in ipairs(list) do
      if with_fin[u] then keep[#keep + 1] = u end
    end
    if #keep ~= #list then
      updated = true
      st[field] = (st[field] or 0) + (#list - #keep)
      unc[field] = kube.array(keep)
    end
  end
  return updated
end

local function uncounted_size(st)
  local unc = st.uncountedTerminatedPods
  return #(unc.succeeded or {}) + #(unc.failed or {})
end

-- The status as upstream serialises it (omitempty counters and lists).
local function status_body(jc)
  local w = jc.w
  local st = w.status
  local out = {}
  for k, v in pairs(st) do out[k] = v end
  for _, k in ipairs({ "active", "succeeded", "failed" }) do
    if out[k] == 0 then out[k] = nil end
  end
  local unc = {}
  if #(st.uncountedTerminatedPods.succeeded or {}) > 0 then unc.succeeded = st.uncountedTerminatedPods.succeeded end
  if #(st.uncountedTerminatedPods.failed or {}) > 0 then unc.failed = st.uncountedTerminatedPods.failed end
  out.uncountedTerminatedPods = kube.object(unc)
  if out.completedIndexes == "" then out.completedIndexes = nil end
  if out.conditions ~= nil and #out.conditions == 0 then out.conditions = nil end
  local body = {
    apiVersion = "batch/v1",
    kind = "Job",
    metadata = w.metadata,
    spec = w.spec,
    status = kube.object(out),
  }
  return body
end

local function flush(ctx, jc)
  local res, err = ctx:update_status(JOBS, status_body(jc))
  if res == nil then return err end
  jc.w.metadata.resourceVersion = res.metadata.resourceVersion
  return nil
end

-- trackJobStatusAndRemoveFinalizers with flushUncountedAndRemoveFinalizers and
-- enactJobFinished.
local function track(ctx, jc, needs_flush)
  local st = jc.w.status
  local unc = st.uncountedTerminatedPods
  unc.succeeded = unc.succeeded or kube.array({})
  unc.failed = unc.failed or kube.array({})
  local recs = jc.recs
  if jc.indexed then
    local sorted = {}
    for i, r in ipairs(recs) do
      sorted[i] = r
      r.pos = i
    end
    table.sort(sorted, function(a, b)
      local ia, ib = a.index or -1, b.index or -1
      if ia ~= ib then return ia < ib end
      return a.pos < b.pos
    end)
    recs = sorted
  end
  local with_fin = {}
  for _, r in ipairs(recs) do
    if r.fin and not jc.rm[r.uid] then with_fin[r.uid] = true end
  end
  if clean_uncounted(st, with_fin) then needs_flush = true end

  local to_remove = {}
  local new_succ_idx = {}
  local reached_max = false
  local fc = jc.fc
  local failure_target = fc ~= nil and fc.type ~= "SuccessCriteriaMet"
  for _, r in ipairs(recs) do
    if r.fin and not jc.rm[r.uid] and can_remove_finalizer(jc, r) then
      to_remove[#to_remove + 1] = r
      if r.phase == "Succeeded" and not jc.unc_f0[r.uid] then
        if jc.indexed then
          local ix = r.index
          if ix ~= nil and ix < jc.completions and not iv.has(jc.prev_succ, ix) then
            new_succ_idx[#new_succ_idx + 1] = ix
            needs_flush = true
          end
        elseif not jc.unc_s0[r.uid] then
          needs_flush = true
          unc.succeeded[#unc.succeeded + 1] = r.uid
        end
      elseif r.failed or failure_target then
        local ix = r.index
        if not jc.unc_f0[r.uid] and (not jc.indexed or (ix ~= nil and ix < jc.completions)) then
          if jc.counts_failure(r) then
            needs_flush = true
            unc.failed[#unc.failed + 1] = r.uid
          end
        end
      end
      if #new_succ_idx + #unc.succeeded + #unc.failed >= MAX_UNCOUNTED then
        reached_max = true
        break
      end
    end
  end

  if jc.indexed then
    table.sort(new_succ_idx)
    jc.succ_iv = iv.with(jc.succ_iv, new_succ_idx)
    local s = iv.format(jc.succ_iv)
    if s ~= (st.completedIndexes or "") then needs_flush = true end
    st.succeeded = iv.total(jc.succ_iv)
    st.completedIndexes = s
    local f = jc.failed_iv and iv.format(jc.failed_iv) or nil
    if f ~= st.failedIndexes then
      st.failedIndexes = f
      needs_flush = true
    end
  end

  if fc ~= nil and fc.type == "FailureTarget" then
    st.conditions = st.conditions or kube.array({})
    st.conditions[#st.conditions + 1] = fc
    needs_flush = true
    fc = new_cond("Failed", "True", fc.reason, fc.message, jc.now)
  end
  if fc ~= nil and fc.type == "SuccessCriteriaMet" then
    local have = find_cond(st.conditions, "SuccessCriteriaMet")
    if have == nil or have.status ~= "True" then
      st.conditions = st.conditions or kube.array({})
      st.conditions[#st.conditions + 1] = fc
      needs_flush = true
    end
    fc = new_cond("Complete", "True", fc.reason, fc.message, jc.now)
  end

  -- Flush #1: new uncounted pods and interim conditions, before any finalizer goes.
  if needs_flush then
    local err = flush(ctx, jc)
    if err ~= nil then return err end
    backoff[jc.key] = jc.backoff
    needs_flush = false
  end
  local rm_err
  if #to_remove > 0 then
    -- A removal is expected only once its patch succeeded: a pod in rm_expected is treated as
    -- having lost its finalizer (so its uid leaves uncountedTerminatedPods and is counted).
    -- Recorded before the patch, a reconcile stopped between the two (time budget, shutdown)
    -- would count a pod that keeps its finalizer, and count it again once the record expires.
    local exp = rm_expected[jc.key] or {}
    rm_expected[jc.key] = exp
    for _, r in ipairs(to_remove) do
      local err = strip_finalizer(ctx, r.pod)
      if err ~= nil then
        rm_err = rm_err or err
      else
        exp[r.uid] = jc.now
        with_fin[r.uid] = nil
      end
    end
  end
  if clean_uncounted(st, with_fin) then needs_flush = true end
  if rm_err ~= nil then
    if needs_flush then
      local err = flush(ctx, jc)
      if err ~= nil then return err end
    end
    return rm_err
  end

  -- enactJobFinished
  local done = false
  if not reached_max and fc ~= nil and uncounted_size(st) == 0 and jc.terminating == 0 then
    ensure_cond(st, fc.type, fc.status, fc.reason, fc.message, jc.now)
    if fc.type == "Complete" then st.completionTime = fc.lastTransitionTime end
    done = true
    needs_flush = true
  end
  if needs_flush then
    local err = flush(ctx, jc)
    if err ~= nil then return err end
    if done then
      local job = jc.job
      if fc.type == "Complete" then
        if jc.completions ~= nil and st.succeeded > jc.completions then
          ctx:event(job, "Warning", "TooManySucceededPods",
            "Too many succeeded pods running after completion count reached")
        end
        ctx:event(job, "Normal", "Completed", "Job completed")
      else
        ctx:event(job, "Warning", fc.reason or "", fc.message or "")
      end
    end
  end
  return nil
end

-- A pod whose labels no longer match the selector is released (controllerRef removed).
local function release(ctx, job, md)
  local patch = { metadata = { uid = md.uid,
    ownerReferences = { { ["$patch"] = "delete", uid = job.metadata.uid } } } }
  ctx:patch(PODS, md.namespace, md.name, patch, { type = "strategic" })
end

local function sync_job(ctx, key, job)
  local now = ctx.now
  local spec = job.spec
  local ns, uid = job.metadata.namespace, job.metadata.uid
  local indexed = spec.completionMode == "Indexed"
  local pfp = spec.podFailurePolicy
  local only_failed = spec.podReplacementPolicy == "Failed" or pfp ~= nil
  local w = kube.copy(job)
  w.status = w.status or kube.object({})
  local st = w.status
  st.uncountedTerminatedPods = st.uncountedTerminatedPods or kube.object({})
  local unc = st.uncountedTerminatedPods

  local jc = {
    ctx = ctx, key = key, job = job, w = w, now = now,
    indexed = indexed,
    completions = spec.completions,
    per_index = indexed and spec.backoffLimitPerIndex ~= nil,
    only_failed = only_failed,
    deleting = job.metadata.deletionTimestamp ~= nil,
    unc_s0 = set_of(unc.succeeded),
    unc_f0 = set_of(unc.failed),
    delayed = {},
  }

  local satisfied = ctx:satisfied()
  if not satisfied then
    -- Expectations that a stopped reconcile left behind go only when they expire, and nothing
    -- else may bring the Job back then.
    local _, _, age, expired = ctx.expectations:get(key)
    if age ~= nil and not expired then
      ctx:requeue_after(math.max(MIN_DELAY, EXPECTATIONS_TTL - age))
    end
  end
  -- Pods that no longer match the selector are released, and left out (claimPods).
  local sel
  if job.metadata.deletionTimestamp == nil and spec.selector ~= nil then
    sel = kube.labels.selector(spec.selector)
  end

  -- Finalizer removals issued earlier count as observed once the cache shows the pod without
  -- the finalizer, or without the pod.
  local rm = rm_expected[key] or {}
  for u, t in pairs(rm) do
    if now - t > RM_EXPECTATION_TTL then rm[u] = nil end
  end
  -- recs: a record per pod still to account for or to act on. Pods finished and counted
  -- already (no tracking finalizer: most pods of a long Job) get no record; only the rare
  -- paths that look at them (the back-off history, podFailurePolicy) read them from pods.
  -- One walk, each pod's metadata read once: this is the part of a sync that grows with the
  -- Job's size, and it must stay well inside the reconcile's time budget.
  local pods, rec_of = {}, {}
  local recs, by_pod = {}, {}
  local active, terminating_list = {}, {}
  local ready = 0
  local still = {}
  for _, pod in ipairs(ctx:list(PODS, { namespace = ns, owner = uid })) do
    local md = pod.metadata
    if sel ~= nil and not sel:matches(md.labels or {}) then
      release(ctx, job, md)
      goto continue
    end
    pods[#pods + 1] = pod
    local pst = pod.status
    local phase = pst and pst.phase
    local terminal = phase == "Succeeded" or phase == "Failed"
    local fin = pu.has_finalizer(md.finalizers)
    if terminal and not fin then goto continue end
    local r = { pod = pod, phase = phase, fin = fin }
    r.uid, r.name = md.uid, md.name
    r.deleted = md.deletionTimestamp ~= nil
    if indexed then r.index = pu.completion_index(md.annotations) end
    if fin and rm[r.uid] then still[r.uid] = rm[r.uid] end
    r.failed = phase == "Failed" or (not only_failed and r.deleted and phase ~= "Succeeded")
    if not terminal then
      if r.deleted then
        terminating_list[#terminating_list + 1] = r
      else
        r.ready = pu.is_ready(pod)
        if r.ready then ready = ready + 1 end
        active[#active + 1] = r
      end
    end
    recs[#recs + 1] = r
    rec_of[#pods] = r
    by_pod[pod] = r
    ::continue::
  end
  rm_expected[key] = next(still) and still or nil
  jc.rm = still
  jc.recs, jc.active, jc.terminating_list = recs, active, terminating_list
  jc.terminating = #terminating_list
  jc.ready = ready
  jc.rank = function(list)
    local ps = {}
    for i, r in ipairs(list) do ps[i] = r.pod end
    local out = {}
    for i, p in ipairs(kube.pods.rank(ps)) do out[i] = by_pod[p] end
    return out
  end
  jc.index_list = function(list)
    local set = {}
    for _, r in ipairs(list) do
      if r.index ~= nil then set[r.index] = true end
    end
    local out = {}
    for x in pairs(set) do out[#out + 1] = x end
    table.sort(out)
    return out
  end
  local function pfp_match(r)
    if r.pfp_done == nil then
      r.pfp_msg, r.pfp_count, r.pfp_action = pu.match_failure_policy(pfp, r.pod)
      r.pfp_done = true
    end
    return r.pfp_msg, r.pfp_count, r.pfp_action
  end
  jc.counts_failure = function(r)
    if pfp == nil then return true end
    local _, count = pfp_match(r)
    return count
  end

  -- Newly finished pods: carrying the finalizer, not uncounted yet, valid index.
  local new_succ, new_fail, history = {}, {}, { succ = {}, fail = {} }
  local completions = jc.completions
  for _, r in ipairs(recs) do
    local valid = r.fin and not still[r.uid] and
        (not indexed or (r.index ~= nil and r.index < completions))
    local is_new = false
    if valid and r.phase == "Succeeded" and not jc.unc_s0[r.uid] then
      new_succ[#new_succ + 1] = r
      is_new = true
    elseif valid and r.failed and not jc.unc_f0[r.uid] then
      new_fail[#new_fail + 1] = r
      is_new = true
    end
    if not is_new and backoff[key] == nil then
      if r.phase == "Succeeded" then
        history.succ[#history.succ + 1] = r
      elseif r.phase == "Failed" then
        history.fail[#history.fail + 1] = r
      end
    end
  end
  -- A record for a pod counted already (no record in recs), for the rare paths below.
  local function counted_rec(i)
    local pod = pods[i]
    local phase = pod.status.phase
    return { pod = pod, phase = phase, fin = false, failed = phase == "Failed" }
  end
  if backoff[key] == nil then
    for i in ipairs(pods) do
      if rec_of[i] == nil then
        local r = counted_rec(i)
        local list = r.phase == "Succeeded" and history.succ or history.fail
        list[#list + 1] = r
      end
    end
  end
  local counted_new_fail = #new_fail
  if pfp ~= nil then
    counted_new_fail = 0
    for _, r in ipairs(new_fail) do
      if jc.counts_failure(r) then counted_new_fail = counted_new_fail + 1 end
    end
  end
  jc.succeeded = (st.succeeded or 0) + #new_succ + #(unc.succeeded or {})
  local failed = (st.failed or 0) + counted_new_fail + #(unc.failed or {})

  if st.startTime == nil and not spec.suspend then st.startTime = fmt_time(now) end

  if backoff[key] == nil then
    with_finish(history.succ)
    with_finish(history.fail)
  end
  jc.backoff = next_backoff(key, with_finish(new_succ), with_finish(new_fail), history)

  -- The finish condition, in upstream's order of precedence.
  local fc
  local scm = find_cond(st.conditions, "SuccessCriteriaMet")
  if scm ~= nil and scm.status == "True" then
    fc = scm
  else
    local ft = find_cond(st.conditions, "FailureTarget")
    if ft ~= nil and ft.status == "True" then
      fc = new_cond("Failed", "True", ft.reason, ft.message, now)
    elseif pfp ~= nil then
      for i in ipairs(pods) do
        local r = rec_of[i] or counted_rec(i)
        if r.failed then
          local msg = pfp_match(r)
          if msg ~= nil then
            fc = new_cond("FailureTarget", "True", "PodFailurePolicy", msg, now)
            break
          end
        end
      end
    end
  end
  if fc == nil then
    local limit = spec.backoffLimit
    if limit == nil then limit = jc.per_index and MAX_INT32 or 6 end
    local past_restarts = false
    if spec.template.spec.restartPolicy == "OnFailure" then
      local sum = 0
      for _, r in ipairs(recs) do sum = sum + pu.restarts(r.pod) end
      if limit == 0 then past_restarts = sum > 0 else past_restarts = sum >= limit end
    end
    local ads = spec.activeDeadlineSeconds
    local started = st.startTime and kube.time.parse(st.startTime)
    if failed > limit or past_restarts then
      fc = new_cond("FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit", now)
    elseif ads ~= nil and started ~= nil and not spec.suspend and now - started >= ads then
      fc = new_cond("FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline", now)
    elseif ads ~= nil and started ~= nil and not spec.suspend then
      ctx:requeue_after(ads - (now - started))
    end
  end

  if indexed then
    jc.prev_succ = iv.parse(st.completedIndexes, completions)
    local set = {}
    for _, r in ipairs(recs) do
      if r.phase == "Succeeded" and r.index ~= nil and r.index < completions and r.fin then set[r.index] = true end
    end
    jc.succ_iv = iv.merge(jc.prev_succ, iv.from_set(set))
    jc.succeeded = iv.total(jc.succ_iv)
    if jc.per_index then
      local fset = {}
      for _, r in ipairs(recs) do
        if r.index ~= nil and r.index < completions and r.fin and r.failed then
          local _, count, action = nil, true, nil
          if pfp ~= nil then _, count, action = pfp_match(r) end
          if action == "FailIndex" or (count and pu.failure_count(r.pod) >= spec.backoffLimitPerIndex) then
            fset[r.index] = true
          end
        end
      end
      jc.failed_iv = iv.merge(iv.parse(st.failedIndexes, completions), iv.from_set(fset))
      local nfailed = iv.total(jc.failed_iv)
      if fc == nil then
        if spec.maxFailedIndexes ~= nil and nfailed > spec.maxFailedIndexes then
          fc = new_cond("FailureTarget", "True", "MaxFailedIndexesExceeded",
            "Job has exceeded the specified maximal number of failed indexes", now)
        elseif nfailed > 0 and nfailed + jc.succeeded >= completions then
          fc = new_cond("FailureTarget", "True", "FailedIndexes", "Job has failed indexes", now)
        end
      end
      -- getPodsWithDelayedDeletionPerIndex: the last failed pod of each index still to retry.
      local active_idx = {}
      for _, r in ipairs(active) do
        if r.index ~= nil then active_idx[r.index] = true end
      end
      for _, r in ipairs(recs) do
        local ix = r.index
        if r.fin and not still[r.uid] and r.failed and ix ~= nil and ix < completions and
            not iv.has(jc.succ_iv, ix) and not iv.has(jc.failed_iv, ix) and not active_idx[ix] then
          r.finish = r.finish or pu.finish_time(r.pod)
          local prev = jc.delayed[ix]
          if prev == nil then
            jc.delayed[ix] = r
          else
            local pa = pu.failure_count(prev.pod) + pu.ignored_count(prev.pod)
            local ra = pu.failure_count(r.pod) + pu.ignored_count(r.pod)
            if pa <= ra and not (r.finish < prev.finish) then jc.delayed[ix] = r end
          end
        end
      end
    end
    local sp = spec.successPolicy
    if fc == nil and sp ~= nil and sp.rules ~= nil and #jc.succ_iv > 0 then
      for i, rule in ipairs(sp.rules) do
        local matched = false
        if rule.succeededIndexes ~= nil then
          local want = iv.parse(rule.succeededIndexes, completions)
          if #want > 0 then
            local have = iv.overlap(want, jc.succ_iv)
            matched = have == iv.total(want) or (rule.succeededCount ~= nil and have >= rule.succeededCount)
          end
        elseif rule.succeededCount ~= nil then
          matched = jc.succeeded >= rule.succeededCount
        end
        if matched then
          fc = new_cond("SuccessCriteriaMet", "True", "SuccessPolicy", "Matched rules at index " .. (i - 1), now)
          break
        end
      end
    end
  end

  local suspend_changed = false
  local nactive = #active
  local manage_err
  if fc ~= nil then
    local dready, deleted, err = delete_active_pods(ctx, jc, active)
    if deleted ~= nactive or not satisfied then fc = nil end
    nactive = nactive - deleted
    jc.terminating = jc.terminating + deleted
    jc.ready = jc.ready - dready
    manage_err = err
  else
    local called = false
    if satisfied and not jc.deleting then
      nactive, manage_err = manage_job(ctx, jc)
      called = true
    end
    local complete
    if completions == nil then
      complete = jc.succeeded > 0 and nactive == 0
    else
      complete = jc.succeeded >= completions and nactive == 0
    end
    if complete then
      fc = new_cond("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods", now)
    elseif called then
      if spec.suspend then
        if ensure_cond(st, "Suspended", "True", "JobSuspended", "Job suspended", now) then
          suspend_changed = true
          ctx:event(job, "Normal", "Suspended", "Job suspended")
        end
      elseif ensure_cond(st, "Suspended", "False", "JobResumed", "Job resumed", now) then
        suspend_changed = true
        ctx:event(job, "Normal", "Resumed", "Job resumed")
        st.startTime = fmt_time(now)
      end
    end
  end
  jc.fc = fc

  local needs = suspend_changed or nactive ~= (st.active or 0) or jc.ready ~= st.ready or
      jc.terminating ~= st.terminating
  st.active = nactive
  st.ready = jc.ready
  st.terminating = jc.terminating
  local err = track(ctx, jc, needs)
  if err ~= nil then
    if type(err) == "table" and err.conflict then return { requeue = true } end
    return nil, err
  end
  if manage_err ~= nil then return { requeue = true } end
end

local function reconcile(ctx, key)
  local ns, name = ctx.namespace, ctx.name
  if string.sub(name, 1, 4) == "pod:" then return sync_pod(ctx, ns, string.sub(name, 5)) end
  local job = ctx:get(JOBS, key)
  if job == nil then
    backoff[key] = nil
    rm_expected[key] = nil
    local uid = known_uid[key]
    known_uid[key] = nil
    if uid ~= nil then return strip_all(ctx, ns, uid) end
    return
  end
  if not managed(job) then return end
  if known_uid[key] ~= job.metadata.uid then
    backoff[key] = nil
    rm_expected[key] = nil
    known_uid[key] = job.metadata.uid
  end
  if finished(job) then
    backoff[key] = nil
    rm_expected[key] = nil
    return strip_all(ctx, ns, job.metadata.uid)
  end
  local mode = job.spec.completionMode
  if mode ~= nil and mode ~= "NonIndexed" and mode ~= "Indexed" then
    ctx:event(job, "Warning", "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
    return
  end
  return sync_job(ctx, key, job)
end

return {
  name = "job",
  primary = JOBS,
  owns = { PODS },
  watches = { { resource = PODS, map = map_pod } },
  workers = 5,
  -- syncJobBatchPeriod: pod events and status-only updates of a Job wait 1 s, so a burst of
  -- them costs one sync; a new Job, a spec change or a deletion is synced at once.
  batch_period = MIN_DELAY,
  reconcile = reconcile,
}
