-- RollingUpdate (rollingUpdate of pkg/controller/daemon/update.go): with maxSurge = 0, delete
-- old pods while at most maxUnavailable nodes lack an available pod (manage recreates them);
-- with maxSurge > 0, create the new pod first and delete the old one once the new one is
-- available.
local kube = require("kube")
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
    if pod.metadata.deletionTimestamp == nil then
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
-- updatedDesiredNodeCounts adds them), then pods' nodes that are not in the node list.
local function node_order(st, idx)
  local names = {}
  for i = 1, #st.node_names do
    local n = st.node_names[i]
    if idx[n] ~= nil or st.run[n] then names[#names + 1] = n end
  end
  local extra = {}
  for n in pairs(idx) do
    if st.node_by_name[n] == nil then extra[#extra + 1] = n end
  end
  table.sort(extra)
  for i = 1, #extra do names[#names + 1] = extra[i] end
  return names
end

function M.run(st, idx)
  local ds, hash, gen = st.ds, st.hash, st.generation
  local max_surge, serr = C.surge_count(ds, st.desired)
  if max_surge == nil then return "invalid value for MaxSurge: " .. serr end
  local max_unavailable, uerr = C.unavailable_count(ds, st.desired)
  if max_unavailable == nil then return "invalid value for MaxUnavailable: " .. uerr end
  if st.desired > 0 and max_unavailable == 0 and max_surge == 0 then max_unavailable = 1 end
  local mrs, now = st.min_ready, st.now
  local available = kube.pods.is_available
  local names = node_order(st, idx)

  if max_surge == 0 then
    local num_unavailable = 0
    local allowed, candidates = {}, {}
    for i = 1, #names do
      local new, old, ok = split(idx[names[i]], hash, gen)
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
    end
    local remaining = math.max(0, max_unavailable - num_unavailable)
    remaining = math.min(remaining, #candidates)
    for i = 1, remaining do allowed[#allowed + 1] = candidates[i] end
    return P.sync_nodes(st, allowed, {})
  end

  local to_delete, should_not_run, candidates, allowed_nodes = {}, {}, {}, {}
  local num_surge, num_available = 0, 0
  for i = 1, #names do
    local name = names[i]
    local new, old, ok = split(idx[name], hash, gen)
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
  end
  local remaining = math.min(math.max(0, max_surge - num_surge), #candidates)
  for i = 1, remaining do allowed_nodes[#allowed_nodes + 1] = candidates[i] end
  local extra = num_available - st.desired
  if extra > 0 then
    for i = 1, math.min(extra, #should_not_run) do to_delete[#to_delete + 1] = should_not_run[i] end
  end
  return P.sync_nodes(st, to_delete, allowed_nodes)
end

return M
