-- The embedded cluster's TTL-after-finished controller (kube-controller-manager's
-- ttl-after-finished, pkg/controller/ttlafterfinished, 1.32): a Job with
-- spec.ttlSecondsAfterFinished that has finished (a Complete or Failed condition with status True)
-- is deleted, with propagationPolicy Foreground and a uid precondition, that many seconds after
-- it finished (the condition's lastTransitionTime); 0 deletes it at once. The key is requeued for
-- exactly the expiry; before deleting, the Job is read again from the API server (not the
-- cache) and the TTL checked once more, so a TTL raised or removed meanwhile wins.
--
-- Differences from upstream, on purpose:
--  * a finished condition without lastTransitionTime falls back to status.completionTime
--    (upstream errors and retries until someone sets it); with neither the Job waits for its
--    next update;
--  * a Job that finished "in the future" (clock skew) is logged like upstream and waits.
local kube = require("kube")

local JOBS = "batch/v1/jobs"

local function finished_at(job)
  local st = job.status
  local conds = st and st.conditions
  if conds == nil then return nil end
  for _, c in ipairs(conds) do
    if (c.type == "Complete" or c.type == "Failed") and c.status == "True" then
      local t = c.lastTransitionTime or st.completionTime
      if t == nil then return nil, "no time for when it finished" end
      return kube.time.parse(t)
    end
  end
  return nil
end

-- needsCleanup and processTTL: the expiry time of a Job that should go, or nil.
local function expiry(job)
  if job.metadata.deletionTimestamp ~= nil then return nil end
  local ttl = job.spec and job.spec.ttlSecondsAfterFinished
  if ttl == nil then return nil end
  local finished, err = finished_at(job)
  if finished == nil then return nil, err end
  return finished + ttl, nil, finished
end

local function reconcile(ctx, key)
  local job = ctx:get(JOBS, key)
  if job == nil then return nil end
  local now = ctx.now
  local expires, err, finished = expiry(job)
  if expires == nil then
    if err ~= nil then ctx.log:warn("Job", key, "finished but", err) end
    return nil
  end
  if finished > now then
    ctx.log:info("Job", key, "finished in the future (clock skew?); its cleanup is deferred")
  end
  if expires > now then return { requeue_after = expires - now } end

  -- The cache may be stale: the TTL may have changed. Check the Job as the server has it.
  local ns, name = job.metadata.namespace, job.metadata.name
  local fresh, ferr = ctx:get(JOBS, ns, name, { fresh = true })
  if ferr ~= nil then return nil, "reading Job " .. key .. ": " .. tostring(ferr) end
  if fresh == nil then return nil end
  expires = expiry(fresh)
  if expires == nil then return nil end
  if expires > now then return { requeue_after = expires - now } end

  local _, derr = ctx:delete(JOBS, fresh, { propagation = "Foreground" })
  if derr ~= nil then
    -- Gone already, or replaced by a Job of the same name (uid precondition): nothing to do.
    if derr.not_found or derr.conflict then return nil end
    return nil, "deleting Job " .. key .. ": " .. tostring(derr)
  end
  ctx.log:info("cleaned up Job", key, "its TTL after finishing expired")
  return nil
end

return {
  name = "ttl",
  component = "ttl-after-finished-controller",
  primary = JOBS,
  workers = 5, -- --concurrent-ttl-after-finished-syncs
  reconcile = reconcile,
}
