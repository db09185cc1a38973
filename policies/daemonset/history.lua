-- ControllerRevision history of a DaemonSet (constructHistory, snapshot, dedupCurHistories,
-- cleanupHistory of pkg/controller/daemon/update.go).
--
-- A revision's data is the patch {"spec":{"template":{...,"$patch":"replace"}}} that
-- `kubectl rollout undo` applies to go back to it; the current revision is the one whose data
-- equals the DaemonSet's template patch (compared as deterministic JSON). Revision names are
-- "<ds>-<hash>" with kube.hash(template, collisionCount).
local kube = require("kube")
local C = require("daemonset.common")

local M = {}

-- Per DaemonSet uid: the patch, its JSON and the hash, for one (generation, collisionCount).
local patch_cache = {}
local patch_cache_n = 0
-- Per revision uid: the JSON of its data (revision data never changes).
local data_cache = {}
local data_cache_n = 0

local function ds_patch(ds)
  local uid = ds.metadata.uid
  local cc = ds.status and ds.status.collisionCount
  local e = patch_cache[uid]
  if e and e.generation == ds.metadata.generation and e.cc == cc then return e end
  local template = kube.copy(ds.spec.template)
  template["$patch"] = "replace"
  local patch = { spec = { template = template } }
  e = {
    generation = ds.metadata.generation,
    cc = cc,
    patch = patch,
    json = kube.json.encode(patch),
    hash = cc ~= nil and kube.hash(ds.spec.template, cc) or kube.hash(ds.spec.template),
  }
  if patch_cache[uid] == nil then
    patch_cache_n = patch_cache_n + 1
    if patch_cache_n > 10000 then
      patch_cache, patch_cache_n = {}, 1
    end
  end
  patch_cache[uid] = e
  return e
end

local function data_json(rev)
  local uid = rev.metadata.uid
  local j = uid and data_cache[uid]
  if j then return j end
  j = rev.data ~= nil and kube.json.encode(rev.data) or "null"
  if uid then
    data_cache_n = data_cache_n + 1
    if data_cache_n > 10000 then
      data_cache, data_cache_n = {}, 1
    end
    data_cache[uid] = j
  end
  return j
end

-- Match(ds, history).
local function matches(p, rev)
  return data_json(rev) == p.json
end

-- ClaimControllerRevisions: owned and matching revisions; adopts matching orphans, releases
-- owned ones that no longer match.
local function claim(ctx, ds, selector)
  local ns = ds.metadata.namespace
  local uid = ds.metadata.uid
  local out = {}
  local first_err
  for _, rev in ipairs(ctx:list(C.REVISIONS, { namespace = ns })) do
    local owner = C.controller_uid(rev)
    local labels = rev.metadata.labels or {}
    if owner == uid then
      if selector:matches(labels) then
        out[#out + 1] = rev
      else
        local _, err = ctx:patch(C.REVISIONS, ns, rev.metadata.name, {
          metadata = {
            ownerReferences = { { ["$patch"] = "delete", uid = uid } },
            uid = rev.metadata.uid,
          },
        }, { type = "strategic" })
        if err and not err.not_found and not err.invalid then first_err = first_err or err end
      end
    elseif owner == nil and rev.metadata.deletionTimestamp == nil and selector:matches(labels) then
      local adopted, err = ctx:patch(C.REVISIONS, ns, rev.metadata.name, {
        metadata = { ownerReferences = { C.controller_ref(ds) }, uid = rev.metadata.uid },
      }, { type = "strategic" })
      if adopted then
        out[#out + 1] = adopted
      elseif not err.not_found then
        first_err = first_err or err
      end
    end
  end
  return out, first_err
end

local function max_revision(revs)
  local m = 0
  for i = 1, #revs do
    local r = revs[i].revision or 0
    if r > m then m = r end
  end
  return m
end

-- snapshot: creates the revision for the current template; on a name collision with another
-- template, bumps status.collisionCount and fails (the requeue then uses a new name).
local function snapshot(ctx, ds, p, revision)
  local ns = ds.metadata.namespace
  local name = ds.metadata.name .. "-" .. p.hash
  local labels = kube.copy(ds.spec.template.metadata and ds.spec.template.metadata.labels) or {}
  labels[C.HASH_LABEL] = p.hash
  local rev = {
    apiVersion = "apps/v1",
    kind = "ControllerRevision",
    metadata = {
      name = name,
      namespace = ns,
      labels = labels,
      annotations = ds.metadata.annotations and kube.copy(ds.metadata.annotations) or nil,
      ownerReferences = { C.controller_ref(ds) },
    },
    data = p.patch,
    revision = revision,
  }
  local created, err = ctx:create(C.REVISIONS, rev)
  if created then return created end
  if not err.already_exists then return nil, err end
  local existing = ctx:get(C.REVISIONS, ns, name)
  if existing == nil then
    return nil, string.format("controller revision %s/%s exists but is not in the cache yet",
      ns, name)
  end
  if matches(p, existing) then return existing end
  local fresh = ctx:get(C.DS, ns, ds.metadata.name)
  if fresh == nil or fresh.metadata.uid ~= ds.metadata.uid then
    return nil, string.format("DaemonSet %s/%s is gone", ns, ds.metadata.name)
  end
  local cc = ds.status and ds.status.collisionCount
  local fresh_cc = fresh.status and fresh.status.collisionCount
  if fresh_cc ~= cc then
    return nil, string.format("found a stale collision count (%s, expected %s) of DaemonSet %q "
      .. "while processing; will retry until it is updated",
      tostring(cc), tostring(fresh_cc), ds.metadata.name)
  end
  local upd = kube.copy(fresh)
  upd.status = upd.status or {}
  upd.status.collisionCount = (fresh_cc or 0) + 1
  local _, uerr = ctx:update_status(C.DS, upd)
  if uerr then return nil, uerr end
  ctx.log:info("hash collision for DaemonSet: bumping collisionCount to", upd.status.collisionCount)
  return nil, err
end

-- dedupCurHistories: keeps the highest revision among those matching the template, relabels
-- the DaemonSet's pods (claimed, as getDaemonPods does) to its hash and deletes the others.
local function dedup(ctx, ds, current, claim_pods)
  if #current == 1 then return current[1] end
  local keep = current[1]
  for i = 1, #current do
    if (current[i].revision or 0) >= (keep.revision or 0) then keep = current[i] end
  end
  local ns = ds.metadata.namespace
  local keep_hash = keep.metadata.labels[C.HASH_LABEL]
  local relabeled = false
  for i = 1, #current do
    local rev = current[i]
    if rev.metadata.name ~= keep.metadata.name then
      if not relabeled then
        relabeled = true
        local pods, perr = claim_pods()
        if perr then return nil, perr end
        for _, info in ipairs(pods) do
          if info.hash ~= keep_hash then
            local _, err = ctx:patch(C.PODS, ns, info.name,
              { metadata = { labels = { [C.HASH_LABEL] = keep_hash } } }, { type = "strategic" })
            if err and not err.not_found then return nil, err end
          end
        end
      end
      local _, err = ctx:delete(C.REVISIONS, ns, rev.metadata.name)
      if err and not err.not_found then return nil, err end
    end
  end
  return keep
end

-- constructHistory -> current revision, old revisions | nil, nil, err. claim_pods() -> the
-- DaemonSet's pods (claimed, as info records of daemonset.pods), err.
function M.construct(ctx, ds, selector, claim_pods)
  local revs, err = claim(ctx, ds, selector)
  if err then return nil, nil, err end
  local p = ds_patch(ds)
  local current, old = {}, {}
  for i = 1, #revs do
    local rev = revs[i]
    local labels = rev.metadata.labels
    if labels == nil or labels[C.HASH_LABEL] == nil then
      local upd = kube.copy(rev)
      upd.metadata.labels = upd.metadata.labels or {}
      upd.metadata.labels[C.HASH_LABEL] = rev.metadata.name
      local updated, uerr = ctx:update(C.REVISIONS, upd)
      if not updated then return nil, nil, uerr end
      rev = updated
    end
    if matches(p, rev) then
      current[#current + 1] = rev
    else
      old[#old + 1] = rev
    end
  end
  local next_revision = max_revision(old) + 1
  local cur
  if #current == 0 then
    cur, err = snapshot(ctx, ds, p, next_revision)
    if not cur then return nil, nil, err end
  else
    cur, err = dedup(ctx, ds, current, claim_pods)
    if not cur then return nil, nil, err end
    if (cur.revision or 0) < next_revision then
      -- A rollback to an older template: the matching revision becomes the newest.
      local upd = kube.copy(cur)
      upd.revision = next_revision
      local _, uerr = ctx:update(C.REVISIONS, upd)
      if uerr then return nil, nil, uerr end
    end
  end
  return cur, old
end

-- cleanupHistory: deletes the oldest revisions beyond spec.revisionHistoryLimit, except those
-- whose hash a pod still carries (terminal deleted pods included). pods_hashes() gives that set.
function M.cleanup(ctx, ds, old, pods_hashes)
  local limit = ds.spec.revisionHistoryLimit or 10
  local to_kill = #old - limit
  if to_kill <= 0 then return nil end
  local live = pods_hashes()
  local sorted = {}
  for i = 1, #old do sorted[i] = old[i] end
  table.sort(sorted, function(a, b)
    local ra, rb = a.revision or 0, b.revision or 0
    if ra ~= rb then return ra < rb end
    return a.metadata.name < b.metadata.name
  end)
  for i = 1, #sorted do
    if to_kill <= 0 then break end
    local rev = sorted[i]
    local h = rev.metadata.labels and rev.metadata.labels[C.HASH_LABEL]
    if not (h and live[h]) then
      local _, err = ctx:delete(C.REVISIONS, ds.metadata.namespace, rev.metadata.name)
      if err and not err.not_found then return err end
      to_kill = to_kill - 1
    end
  end
  return nil
end

return M
