-- DaemonJob (kubelua.io/v1alpha1, crd.yaml beside this file): run a pod to completion once on
-- every eligible node -- the "run-once DaemonSet" / "Job per node" that Kubernetes users keep
-- asking for (kubernetes/kubernetes#36601, #64623, #50689).
--
-- Semantics chosen here (README.md says more):
--  * Eligible nodes are those where the DaemonSet controller would run a pod
--    (kube.nodes.should_run_daemon_pod: the template's nodeSelector, required node affinity,
--    taints against its tolerations plus the ones the DaemonSet controller adds). An eligible
--    node that is not Ready waits: it counts in desiredNumberScheduled but gets its pod only
--    once Ready.
--  * Each eligible node gets exactly one pod at a time, pinned by required node affinity on
--    metadata.name (as DaemonSet pods are), so the scheduler still binds it and checks
--    resources: a full node makes the pod wait Pending instead of being rejected by the
--    kubelet (OutOfcpu), which would burn a retry. Set PIN_WITH_NODE_NAME for clusters without
--    a scheduler.
--  * A node is completed once one of its pods Succeeded. A failed pod is kept (it is the
--    record of the failure) and replaced on the same node after a backoff of 10 s, 20 s, 40 s
--    ... up to 10 min after the last failure, as the Job controller's. With
--    restartPolicy OnFailure, container restarts count as failures too. A node whose failures
--    exceed spec.backoffLimit (default 6) fails the DaemonJob: condition Failed
--    (BackoffLimitExceeded), the other active pods are deleted, as a Job's are.
--  * Nodes that become eligible later (new nodes, relabelled, untainted) get a pod while the
--    DaemonJob is not finished; once Complete or Failed it is final and ignores new nodes.
--    (A DaemonJob that should follow every future node is a DaemonSet; the feature requests
--    differ on this, this one is the "Job" reading.)
--  * Complete when at least one node is eligible, every eligible node completed and no pod
--    is active any more. With no eligible node it waits (desired 0, no condition).
--  * A node that stops being eligible: its running pod stays when only a NoSchedule taint
--    changed, and is deleted when the node no longer matches or a NoExecute taint is not
--    tolerated (the DaemonSet rule); active pods aimed at deleted nodes are deleted. Such
--    nodes no longer count towards completion.
--  * The pods are the record of what ran: finished pods stay until the DaemonJob is deleted
--    (ttlSecondsAfterFinished deletes it, with its pods, that long after it finished). While
--    the DaemonJob runs, status counts are recomputed from its pods, so a succeeded pod
--    deleted by hand makes its node run again. Once finished, the status is frozen.
--  * spec.template.spec.restartPolicy must be Never or OnFailure; an invalid spec is reported
--    with the condition InvalidSpec and a Warning event, and nothing is created until it is
--    fixed. Template changes apply to pods created afterwards (no rollout).
--  * Pods are found by their controller reference. spec.selector is optional; when given it
--    must select the template's labels, and owned pods it no longer selects are released.
--    Orphans are not adopted.
local kube = require("kube")

-- true: bind pods with spec.nodeName (no scheduler involved, as before Kubernetes 1.12's
-- DaemonSets); false: required node affinity, the scheduler binds.
local PIN_WITH_NODE_NAME = false

local DJ, PODS, NODES = "kubelua.io/v1alpha1/daemonjobs", "v1/pods", "v1/nodes"
local API_VERSION, KIND = "kubelua.io/v1alpha1", "DaemonJob"
local UID_LABEL = "daemonjob.kubelua.io/controller-uid"
local NAME_LABEL = "daemonjob.kubelua.io/name"
local DEFAULT_BACKOFF_LIMIT = 6
local BACKOFF_BASE, BACKOFF_MAX = 10, 600 -- seconds, the Job controller's pod-failure backoff
local BURST = 250 -- pod creations and deletions per sync
local MAX_GENERATED_NAME = 58

-- DaemonJobs seen by reconciles, for the node watch: key -> finished (a boolean). The map
-- function gets no ctx (it cannot list DaemonJobs), and every key is reconciled at start and
-- after a reload, so this fills before it matters.
local known = {}

-- ---- Small helpers ----------------------------------------------------------------------

local function fmt_time(t)
  return kube.time.format(math.floor(t))
end

local function parse_time(s)
  if s == nil then return nil end
  return (kube.time.parse(s))
end

local function find_cond(st, ctype)
  local conds = st and st.conditions
  if conds == nil then return nil, nil end
  for i, c in ipairs(conds) do
    if c.type == ctype then return c, i end
  end
  return nil, nil
end

local function is_true(st, ctype)
  local c = find_cond(st, ctype)
  return c ~= nil and c.status == "True"
end

local function finished(dj)
  return is_true(dj.status, "Complete") or is_true(dj.status, "Failed")
end

-- Sets a condition in a mutable status (a True one replaces one of the same type when status,
-- reason or message differ). Returns whether the list changed.
local function set_cond(st, ctype, reason, message, now)
  st.conditions = st.conditions or kube.array()
  local conds = st.conditions
  local c, i = find_cond(st, ctype)
  if c ~= nil and c.status == "True" and c.reason == reason and c.message == message then
    return false
  end
  local ts = fmt_time(now)
  local new = {
    type = ctype, status = "True", reason = reason, message = message,
    lastProbeTime = ts, lastTransitionTime = ts,
  }
  if c ~= nil and c.status == "True" then new.lastTransitionTime = c.lastTransitionTime end
  conds[i or #conds + 1] = new
  return true
end

local function drop_cond(st, ctype)
  local _, i = find_cond(st, ctype)
  if i == nil then return false end
  table.remove(st.conditions, i)
  return true
end

local function err_text(err)
  if type(err) == "table" then return tostring(err.message or err.reason) end
  return tostring(err)
end

local function namespace_terminating(err)
  return type(err) == "table" and
      string.find(err.message or "", "because it is being terminated", 1, true) ~= nil
end

local STATUS_LISTS = { "containerStatuses", "initContainerStatuses" }

-- When a finished pod finished: its containers' latest finishedAt, else when it stopped being
-- Ready, else its creation.
local function finish_time(pod)
  local st = pod.status
  local latest
  for _, field in ipairs(STATUS_LISTS) do
    for _, cs in ipairs(st and st[field] or {}) do
      local term = cs.state and cs.state.terminated
      local t = term and parse_time(term.finishedAt)
      if t ~= nil and (latest == nil or t > latest) then latest = t end
    end
  end
  if latest ~= nil then return latest end
  local ready = st and find_cond(st, "Ready")
  if ready ~= nil and ready.status == "False" then
    local t = parse_time(ready.lastTransitionTime)
    if t ~= nil then return t end
  end
  return parse_time(pod.metadata.creationTimestamp) or 0
end

-- Container restarts of a pod (restartPolicy OnFailure retries in place).
local function restarts(pod)
  local st = pod.status
  local n = 0
  for _, field in ipairs(STATUS_LISTS) do
    for _, cs in ipairs(st and st[field] or {}) do n = n + (cs.restartCount or 0) end
  end
  return n
end

-- The Job controller's delay before the n-th consecutive failure is replaced.
local function backoff_delay(failures)
  local d = BACKOFF_BASE
  for _ = 2, failures do
    d = d * 2
    if d >= BACKOFF_MAX then return BACKOFF_MAX end
  end
  return d
end

local function older(a, b)
  local ta = parse_time(a.metadata.creationTimestamp) or 0
  local tb = parse_time(b.metadata.creationTimestamp) or 0
  if ta ~= tb then return ta < tb end
  return a.metadata.name < b.metadata.name
end

-- ---- Validation -------------------------------------------------------------------------

-- The compiled selector (nil when none is given), or nil, reason, message.
local function validate(dj)
  local spec = dj.spec or {}
  local tmpl = spec.template
  local pspec = tmpl and tmpl.spec
  if pspec == nil then
    return nil, "InvalidTemplate", "spec.template.spec: Required value"
  end
  if pspec.containers == nil or #pspec.containers == 0 then
    return nil, "InvalidTemplate", "spec.template.spec.containers: Required value"
  end
  local rp = pspec.restartPolicy or "Always"
  if rp ~= "Never" and rp ~= "OnFailure" then
    return nil, "UnsupportedRestartPolicy", string.format(
      'spec.template.spec.restartPolicy: Unsupported value: "%s": supported values: ' ..
      '"OnFailure", "Never"', rp)
  end
  for _, f in ipairs({ "backoffLimit", "ttlSecondsAfterFinished" }) do
    local v = spec[f]
    if v ~= nil and (math.type(v) ~= "integer" or v < 0) then
      return nil, "InvalidSpec", string.format(
        "spec.%s: Invalid value: %s: must be greater than or equal to 0", f, tostring(v))
    end
  end
  if spec.selector == nil then return nil end
  local sel, perr = kube.labels.selector(spec.selector)
  if sel == nil then
    return nil, "InvalidSelector", "spec.selector: Invalid value: " .. tostring(perr)
  end
  if sel:empty() then
    return nil, "InvalidSelector", "spec.selector: Invalid value: empty selector is invalid"
  end
  if not sel:matches(tmpl.metadata and tmpl.metadata.labels or {}) then
    return nil, "SelectorMismatch",
        "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
  end
  return sel
end

-- ---- Status -----------------------------------------------------------------------------

local COUNTS = { "desiredNumberScheduled", "active", "succeeded", "failed", "completedNodes" }

-- Writes the status when anything in it changed: counts (nil: keep), conditions already set in
-- w.status by the caller (changed = true), observedGeneration.
local function write_status(ctx, dj, w, counts, changed)
  local st = w.status
  local cur = dj.status or {}
  if counts ~= nil then
    for _, f in ipairs(COUNTS) do
      if cur[f] ~= counts[f] then changed = true end
      st[f] = counts[f]
    end
  end
  if cur.observedGeneration ~= dj.metadata.generation then changed = true end
  st.observedGeneration = dj.metadata.generation
  if not changed then return nil end
  local _, err = ctx:update_status(DJ, w)
  return err
end

-- ---- Pods -------------------------------------------------------------------------------

-- Owned pods grouped by target node: name -> {active, terminating, succeeded, failed}; plus
-- the totals. Pods the selector no longer selects are released and left out.
local function index_pods(ctx, dj, sel)
  local ns, uid = dj.metadata.namespace, dj.metadata.uid
  local idx, totals = {}, { active = 0, succeeded = 0, failed = 0 }
  for _, pod in ipairs(ctx:list(PODS, { namespace = ns, owner = uid })) do
    local md = pod.metadata
    if sel ~= nil and not sel:matches(md.labels or {}) then
      ctx:patch(PODS, ns, md.name, {
        metadata = { uid = md.uid, ownerReferences = { { ["$patch"] = "delete", uid = uid } } },
      }, { type = "strategic" })
    else
      local node = kube.pods.target_node(pod) or ""
      local e = idx[node]
      if e == nil then
        e = { active = {}, terminating = {}, succeeded = {}, failed = {} }
        idx[node] = e
      end
      local class = kube.pods.class(pod)
      local list = e[class]
      list[#list + 1] = pod
      if totals[class] ~= nil then totals[class] = totals[class] + 1 end
    end
  end
  return idx, totals
end

local function generate_name(name)
  local prefix = name .. "-"
  if #prefix > MAX_GENERATED_NAME then prefix = string.sub(name, 1, MAX_GENERATED_NAME - 1) .. "-" end
  return prefix
end

-- Creates one pod on each named node and deletes the given pods, with expectations. Returns
-- pods created, pods deleted, the first error.
local function sync_pods(ctx, dj, to_create, to_delete)
  local ns = dj.metadata.namespace
  local ncreate = math.min(#to_create, BURST)
  local ndelete = math.min(#to_delete, BURST)
  if ncreate == 0 and ndelete == 0 then return 0, 0, nil end
  local exp = ctx.expectations
  local del_keys = {}
  for i = 1, ndelete do del_keys[i] = ns .. "/" .. to_delete[i].metadata.name end
  exp:set(ctx.key, ncreate, del_keys)

  local created, first_err = 0, nil
  if ncreate > 0 then
    local labels = { [UID_LABEL] = dj.metadata.uid }
    if #dj.metadata.name <= 63 then labels[NAME_LABEL] = dj.metadata.name end
    local opts = {
      api_version = API_VERSION,
      kind = KIND,
      generate_name = generate_name(dj.metadata.name),
      labels = labels,
      tolerations = kube.nodes.daemonset_tolerations(dj),
    }
    local _, err, attempted = kube.slow_start(ncreate, function(i)
      if PIN_WITH_NODE_NAME then opts.node_name = to_create[i] else opts.pin_node = to_create[i] end
      local pod, perr = kube.pods.from_template(dj.spec.template, dj, opts)
      if pod == nil then
        exp:lower(ctx.key, 1, 0)
        return nil, perr
      end
      local done, cerr = ctx:create(PODS, pod)
      if done then
        created = created + 1
        ctx:event(dj, "Normal", "SuccessfulCreate", "Created pod: " .. done.metadata.name)
        return true
      end
      exp:lower(ctx.key, 1, 0)
      if namespace_terminating(cerr) then return true end
      ctx:event(dj, "Warning", "FailedCreate", "Error creating: " .. err_text(cerr))
      return nil, cerr
    end)
    if attempted < ncreate then exp:lower(ctx.key, ncreate - attempted, 0) end
    first_err = err
  end

  local deleted = 0
  for i = 1, ndelete do
    local name = to_delete[i].metadata.name
    local ok, err = ctx:delete(PODS, ns, name, { uid = to_delete[i].metadata.uid })
    if ok then
      deleted = deleted + 1
      ctx:event(dj, "Normal", "SuccessfulDelete", "Deleted pod: " .. name)
    else
      exp:deletion_observed(ctx.key, del_keys[i])
      if not err.not_found then
        ctx:event(dj, "Warning", "FailedDelete", "Error deleting: " .. err_text(err))
        first_err = first_err or err
      end
    end
  end
  return created, deleted, first_err
end

-- ---- The sync ---------------------------------------------------------------------------

-- A finished DaemonJob: only ttlSecondsAfterFinished is left to do.
local function sync_finished(ctx, dj)
  local ttl = dj.spec.ttlSecondsAfterFinished
  if math.type(ttl) ~= "integer" or ttl < 0 then return end
  local c = find_cond(dj.status, "Complete")
  if c == nil or c.status ~= "True" then c = find_cond(dj.status, "Failed") end
  local at = parse_time(dj.status.completionTime) or parse_time(c and c.lastTransitionTime)
  if at == nil then return end
  local left = at + ttl - ctx.now
  if left > 0 then return { requeue_after = left } end
  local _, err = ctx:delete(DJ, dj.metadata.namespace, dj.metadata.name,
    { uid = dj.metadata.uid, propagation = "Background" })
  if err ~= nil and not err.not_found then return nil, err end
  ctx.log:info("deleted", ctx.key, "ttlSecondsAfterFinished", ttl, "after it finished")
end

local function sync(ctx, dj)
  local now = ctx.now
  local w = kube.copy(dj)
  w.status = w.status or kube.object()
  local st = w.status

  local sel, reason, message = validate(dj)
  if reason ~= nil then
    local changed = set_cond(st, "InvalidSpec", reason, message, now)
    local err = write_status(ctx, dj, w, nil, changed)
    if err ~= nil then return nil, err end
    if changed then ctx:event(dj, "Warning", "InvalidSpec", message) end
    return
  end
  local changed = drop_cond(st, "InvalidSpec")
  if st.startTime == nil then
    st.startTime = fmt_time(now)
    changed = true
  end

  local spec = dj.spec
  local limit = spec.backoffLimit or DEFAULT_BACKOFF_LIMIT
  local on_failure = spec.template.spec.restartPolicy == "OnFailure"
  local idx, totals = index_pods(ctx, dj, sel)

  -- Per node: what it needs.
  local desired, completed = 0, 0
  local to_create, to_delete = {}, {}
  local failed_node, failed_count
  local wake
  local seen = {}
  for _, node in ipairs(ctx:list(NODES)) do
    local name = node.metadata.name
    seen[name] = true
    local p = idx[name]
    local run, cont = kube.nodes.should_run_daemon_pod(node, dj)
    if not cont then
      for _, pod in ipairs(p and p.active or {}) do to_delete[#to_delete + 1] = pod end
    elseif run then
      desired = desired + 1
      p = p or { active = {}, terminating = {}, succeeded = {}, failed = {} }
      local failures = #p.failed
      if on_failure then
        for _, pod in ipairs(p.active) do failures = failures + restarts(pod) end
      end
      if #p.succeeded > 0 then
        completed = completed + 1
        for _, pod in ipairs(p.active) do to_delete[#to_delete + 1] = pod end
      elseif failures > limit then
        if failed_node == nil then failed_node, failed_count = name, failures end
      elseif #p.active > 0 then
        -- Duplicates (a cache that lagged behind a create): keep the oldest.
        if #p.active > 1 then
          local sorted = table.move(p.active, 1, #p.active, 1, {})
          table.sort(sorted, older)
          for i = 2, #sorted do to_delete[#to_delete + 1] = sorted[i] end
        end
      elseif #p.terminating > 0 then
        -- The pod being deleted goes first; its deletion wakes this DaemonJob.
      elseif not kube.nodes.is_ready(node) then
        -- Waits for the node: its Ready change wakes this DaemonJob (node watch).
      else
        local left = 0
        if #p.failed > 0 then
          local last = 0
          for _, pod in ipairs(p.failed) do last = math.max(last, finish_time(pod)) end
          left = backoff_delay(#p.failed) - (now - last)
        end
        if left > 0 then
          if wake == nil or left < wake then wake = left end
        else
          to_create[#to_create + 1] = name
        end
      end
    end
  end
  -- Active pods aimed at nodes that are gone (or at no node).
  for name, p in pairs(idx) do
    if not seen[name] then
      for _, pod in ipairs(p.active) do to_delete[#to_delete + 1] = pod end
    end
  end

  local counts = {
    desiredNumberScheduled = desired,
    active = totals.active,
    succeeded = totals.succeeded,
    failed = totals.failed,
    completedNodes = completed,
  }

  -- Pod writes wait until the cache shows the previous ones (expectations); a creation still
  -- unseen would otherwise be missed by the deletions below, or be made twice.
  local satisfied = ctx:satisfied()
  local err, event
  if failed_node ~= nil then
    -- A node out of retries fails the DaemonJob: every active pod goes, then the condition.
    if satisfied then
      local active = {}
      for _, p in pairs(idx) do
        for _, pod in ipairs(p.active) do active[#active + 1] = pod end
      end
      local _, deleted
      _, deleted, err = sync_pods(ctx, dj, {}, active)
      counts.active = totals.active - deleted
      if err == nil and deleted == #active then
        local msg = string.format("The pod on node %s failed %d times (backoffLimit %d)",
          failed_node, failed_count, limit)
        set_cond(st, "Failed", "BackoffLimitExceeded", msg, now)
        changed = true
        event = { "Warning", "BackoffLimitExceeded", msg }
      end
    end
  else
    if satisfied then
      local created, deleted
      created, deleted, err = sync_pods(ctx, dj, to_create, to_delete)
      counts.active = totals.active + created - deleted
    end
    if wake ~= nil then ctx:requeue_after(math.max(wake, 0.001)) end
    if satisfied and err == nil and desired > 0 and completed == desired and
        counts.active == 0 and #to_create == 0 then
      set_cond(st, "Complete", "AllNodesCompleted",
        string.format("The pod succeeded on all %d eligible nodes", desired), now)
      st.completionTime = fmt_time(now)
      changed = true
      event = { "Normal", "Completed", "DaemonJob completed" }
    end
  end
  local serr = write_status(ctx, dj, w, counts, changed)
  if serr == nil and event ~= nil then ctx:event(dj, event[1], event[2], event[3]) end
  if err ~= nil then return nil, err end
  if serr ~= nil then
    if serr.conflict then return { requeue = true } end
    return nil, serr
  end
end

local function reconcile(ctx, key)
  local dj = ctx:get(DJ, key)
  if dj == nil then
    known[key] = nil
    return
  end
  local done = finished(dj)
  known[key] = done
  if dj.metadata.deletionTimestamp ~= nil then return end
  if done then return sync_finished(ctx, dj) end
  return sync(ctx, dj)
end

-- ---- Node watch -------------------------------------------------------------------------

local function encode(v)
  if v == nil then return "" end
  return kube.json.encode(v)
end

-- Only what eligibility and readiness read matters: a node added or deleted, or a change of its
-- labels, taints or Ready condition. Heartbeats (status-only updates) enqueue nothing. Every
-- unfinished DaemonJob is enqueued (nodes are cluster-scoped; each decides from the node list).
local function map_node(node, old, change)
  if change == "update" and old ~= nil then
    local md, omd = node.metadata, old.metadata
    if kube.nodes.is_ready(node) == kube.nodes.is_ready(old) and
        encode(md.labels) == encode(omd.labels) and
        encode(node.spec and node.spec.taints) == encode(old.spec and old.spec.taints) then
      return nil
    end
  end
  local keys = {}
  for key, done in pairs(known) do
    if not done then keys[#keys + 1] = key end
  end
  return keys
end

return {
  name = "daemonjob",
  primary = DJ,
  owns = { PODS },
  watches = { { resource = NODES, map = map_node } },
  workers = 2,
  reconcile = reconcile,
}
