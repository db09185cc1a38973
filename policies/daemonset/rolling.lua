-- RollingUpdate (rollingUpdate of pkg/controller/daemon/update.go): with maxSurge = 0, delete
-- old pods while at most maxUnavailable nodes lack an available pod (manage recreates them);
-- with maxSurge > 0, create the new pod first and delete the old one once the new one is
-- available.
local C = require("daemonset.common")
local P = require("daemonset.pods")

local M = {}

-- findUpdatedPodsOnNode: at most one new and one old pod among those not being deleted; ok is
-- false when there are more.
local function split(pods, hash, generation)
  local new, old
  if pods == nil then return nil, nil, true end
  for i = 1, #pods do
    local pod = pods[i]
    if not pod.deleted then
      if C.is_updated(pod, hash, generation) then
        if new ~= nil then return nil, nil, false end
        new = pod
      else
        if old ~= nil then return nil, nil, false end
        old = pod
      end
    end
  end
  return new, old, true
end

-- The node names to look at, in a stable order: nodes with pods or that should run a pod (as
-- updatedDesiredNodeCounts adds them), then pods' nodes that are not in the node list. Calls
-- fn(name, pods) for each, stopping at the first non-nil result.
local function each_node(st, idx, gone, fn)
  local names, run = st.node_names, st.run
  for i = 1, #names do
    local n = names[i]
    local pods = idx[n]
    if pods ~= nil or run[n] then
      local r = fn(n, pods)
      if r ~= nil then return r end
    end
  end
  for i = 1, #gone do
    local r = fn(gone[i], idx[gone[i]])
    if r ~= nil then return r end
  end
  return nil
end

-- Whether some pod not being deleted is out of date; cached per (index, hash, generation).
local function any_old(st, idx)
  local k, hash, gen = st.k, st.hash, st.generation
  local c = k.old_cache
  if c and c.idx == idx and c.hash == hash and c.generation == gen then return c.any end
  local gens = gen ~= nil and tostring(gen) or nil
  local any = false
  for _, pods in pairs(idx) do
    for i = 1, #pods do
      local p = pods[i]
      if not p.deleted and (hash == nil or hash == "" or p.hash ~= hash)
          and (gens == nil or p.generation ~= gens) then
        any = true
        break
      end
    end
    if any then break end
  end
  k.old_cache = { idx = idx, hash = hash, generation = gen, any = any }
  return any
end

function M.run(st, idx, gone)
  -- Without old pods there is nothing to replace (every branch below acts on old pods only).
  if not any_old(st, idx) then return nil end
  local ds, hash, gen = st.ds, st.hash, st.generation
  local max_surge, serr = C.surge_count(ds, st.desired)
  if max_surge == nil then return "invalid value for MaxSurge: " .. serr end
  local max_unavailable, uerr = C.unavailable_count(ds, st.desired)
  if max_unavailable == nil then return "invalid value for MaxUnavailable: " .. uerr end
  if st.desired > 0 and max_unavailable == 0 and max_surge == 0 then max_unavailable = 1 end
  local mrs, now = st.min_ready, st.now
  local available = C.is_available

  if max_surge == 0 then
    local num_unavailable = 0
    local allowed, candidates = {}, {}
    each_node(st, idx, gone, function(_, pods)
      local new, old, ok = split(pods, hash, gen)
      if not ok then
        num_unavailable = num_unavailable + 1
      elseif (old == nil and new == nil) or (old ~= nil and new ~= nil) then
        num_unavailable = num_unavailable + 1
      elseif new ~= nil then
        if not available(new, mrs, now) then num_unavailable = num_unavailable + 1 end
      elseif not available(old, mrs, now) then
        allowed[#allowed + 1] = old
        num_unavailable = num_unavailable + 1
      elseif num_unavailable < max_unavailable then
        candidates[#candidates + 1] = old
      end
    end)
    local remaining = math.max(0, max_unavailable - num_unavailable)
    remaining = math.min(remaining, #candidates)
    for i = 1, remaining do allowed[#allowed + 1] = candidates[i] end
    return P.sync_nodes(st, allowed, {})
  end

  local to_delete, should_not_run, candidates, allowed_nodes = {}, {}, {}, {}
  local num_surge, num_available = 0, 0
  local err = each_node(st, idx, gone, function(name, pods)
    local new, old, ok = split(pods, hash, gen)
    if not ok then
      num_surge = num_surge + 1
    else
      if old ~= nil then
        if available(old, mrs, now) then num_available = num_available + 1 end
      elseif new ~= nil then
        if available(new, mrs, now) then num_available = num_available + 1 end
      end
      if old == nil then
        -- Nothing to do here: manage handles nodes without pods.
      elseif new == nil then
        if st.node_by_name[name] == nil then
          return string.format("couldn't get node for nodeName %q: node %q not found", name, name)
        end
        if not available(old, mrs, now) then
          if not st.run[name] then
            to_delete[#to_delete + 1] = old
          else
            allowed_nodes[#allowed_nodes + 1] = name
          end
        elseif not st.run[name] then
          should_not_run[#should_not_run + 1] = old
        elseif num_surge < max_surge then
          candidates[#candidates + 1] = name
        end
      elseif not available(new, mrs, now) then
        num_surge = num_surge + 1
      else
        to_delete[#to_delete + 1] = old
      end
    end
  end)
  if err then return err end
  local remaining = math.min(math.max(0, max_surge - num_surge), #candidates)
  for i = 1, remaining do allowed_nodes[#allowed_nodes + 1] = candidates[i] end
  local extra = num_available - st.desired
  if extra > 0 then
    for i = 1, math.min(extra, #should_not_run) do to_delete[#to_delete + 1] = should_not_run[i] end
  end
  return P.sync_nodes(st, to_delete, allowed_nodes)
end

return M
