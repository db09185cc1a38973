-- What the scheduler needs to know about a pod, read once per attempt: the resources it
-- requests (as the NodeResourcesFit filter counts them), the non-zero requests the scoring
-- counts, the host ports it asks for, and the signature of its node constraints (nodeSelector,
-- node affinity, tolerations), which keys the per-node filter results cached on node records.
local kube = require("kube")

local M = {}

-- Requests a container without any counts for, in the scoring only (upstream's
-- DefaultMilliCPURequest and DefaultMemoryRequest): pods without requests still spread.
local DEFAULT_MILLI_CPU = 100
local DEFAULT_MEMORY = 200 * 1024 * 1024

local NATIVE = { cpu = true, memory = true, ["ephemeral-storage"] = true, pods = true }

-- The request of one container for cpu (millicores) or memory (bytes): the request, else the
-- limit (the API server defaults a missing request to the limit), else the default.
local function container_amount(c, name, default)
  local res = c.resources
  local q = res and ((res.requests and res.requests[name]) or (res.limits and res.limits[name]))
  if q == nil then return default end
  local v, milli = kube.quantity.parse(q)
  if v == nil then return default end
  if name == "cpu" then return milli end
  return v
end

-- resourcehelper.PodRequests with NonMissingContainerRequests: containers summed (sidecars
-- too), raised to the largest init container, plus the overhead.
local function nonzero(spec)
  local cpu, mem = 0, 0
  local cs = spec.containers
  if cs ~= nil then
    for i = 1, #cs do
      cpu = cpu + container_amount(cs[i], "cpu", DEFAULT_MILLI_CPU)
      mem = mem + container_amount(cs[i], "memory", DEFAULT_MEMORY)
    end
  end
  local inits = spec.initContainers
  if inits ~= nil then
    local side_cpu, side_mem, init_cpu, init_mem = 0, 0, 0, 0
    for i = 1, #inits do
      local c = inits[i]
      local ccpu = container_amount(c, "cpu", DEFAULT_MILLI_CPU)
      local cmem = container_amount(c, "memory", DEFAULT_MEMORY)
      if c.restartPolicy == "Always" then
        cpu, mem = cpu + ccpu, mem + cmem
        side_cpu, side_mem = side_cpu + ccpu, side_mem + cmem
        ccpu, cmem = side_cpu, side_mem
      else
        ccpu, cmem = ccpu + side_cpu, cmem + side_mem
      end
      if ccpu > init_cpu then init_cpu = ccpu end
      if cmem > init_mem then init_mem = cmem end
    end
    if init_cpu > cpu then cpu = init_cpu end
    if init_mem > mem then mem = init_mem end
  end
  local oh = spec.overhead
  if oh ~= nil then
    if oh.cpu ~= nil then
      local _, milli = kube.quantity.parse(oh.cpu)
      if math.type(milli) == "integer" then cpu = cpu + milli end
    end
    if oh.memory ~= nil then
      local v = kube.quantity.parse(oh.memory)
      if v ~= nil then mem = mem + v end
    end
  end
  return cpu, mem
end

local function add_ports(list, cs, sidecars_only)
  if cs == nil then return list end
  for i = 1, #cs do
    local c = cs[i]
    if c.ports ~= nil and (not sidecars_only or c.restartPolicy == "Always") then
      for k = 1, #c.ports do
        local p = c.ports[k]
        local hp = p.hostPort
        if hp ~= nil and hp > 0 then
          list = list or {}
          local ip = p.hostIP
          if ip == nil or ip == "" then ip = "0.0.0.0" end
          list[#list + 1] = { (p.protocol or "TCP") .. "/" .. hp, ip }
        end
      end
    end
  end
  return list
end

-- Host ports wanted by the pod: {{"TCP/8080", "0.0.0.0"}, ...} or nil.
local function host_ports(spec)
  local list = add_ports(nil, spec.containers, false)
  return add_ports(list, spec.initContainers, true)
end

-- What an assigned pod takes from its node: {req = amounts, nzc, nzm, ports}.
function M.usage(pod)
  local spec = pod.spec
  local req, err = kube.nodes.pod_requests(pod)
  if req == nil then
    -- Quantities the API server accepted always parse; count nothing rather than fail.
    kube.log.warn("pod", pod.metadata.namespace .. "/" .. pod.metadata.name, err)
    req = {}
  end
  local nzc, nzm = nonzero(spec)
  return { req = req, nzc = nzc, nzm = nzm, ports = host_ports(spec) }
end

local function enc(v)
  if v == nil then return "" end
  return kube.json.encode(v)
end

-- The nodes a pod's required node affinity can match at most, as upstream's NodeAffinity
-- PreFilter finds them: when every term requires `metadata.name In [...]` (a DaemonSet's pods
-- do), the names those requirements list; otherwise nil (any node).
function M.node_names(aff)
  local req = aff and aff.requiredDuringSchedulingIgnoredDuringExecution
  local terms = req and req.nodeSelectorTerms
  if terms == nil or #terms == 0 then return nil end
  local names = {}
  for i = 1, #terms do
    local fields = terms[i].matchFields
    local found = false
    for k = 1, fields and #fields or 0 do
      local f = fields[k]
      if f.key == "metadata.name" and f.operator == "In" and f.values ~= nil then
        for v = 1, #f.values do
          names[#names + 1] = f.values[v]
        end
        found = true
        break
      end
    end
    if not found then return nil end
  end
  return names
end

-- Everything a scheduling attempt needs: usage plus the request split for the fit check, the
-- constraint signature and the preferred node affinity terms.
function M.info(pod)
  local u = M.usage(pod)
  local spec = pod.spec
  local req = u.req
  u.cpu, u.mem, u.eph = req.cpu or 0, req.memory or 0, req["ephemeral-storage"] or 0
  local names
  for name in pairs(req) do
    if not NATIVE[name] then
      names = names or {}
      names[#names + 1] = name
    end
  end
  if names ~= nil then
    table.sort(names)
    local scalars = {}
    for i = 1, #names do
      scalars[#scalars + 1] = names[i]
      scalars[#scalars + 1] = req[names[i]]
    end
    u.scalars = scalars
  end
  -- fitsRequest checks resources only when the pod asks for any.
  u.any = u.cpu > 0 or u.mem > 0 or u.eph > 0 or names ~= nil
  local aff = spec.affinity and spec.affinity.nodeAffinity
  u.preferred = aff and aff.preferredDuringSchedulingIgnoredDuringExecution
  if u.preferred ~= nil and #u.preferred == 0 then u.preferred = nil end
  u.names = M.node_names(aff)
  u.sig = enc(spec.nodeSelector) .. "\n" .. enc(aff) .. "\n" .. enc(spec.tolerations)
  -- What makes a new attempt worth it when nothing in the cluster changed.
  u.shape = u.nzc .. " " .. u.nzm .. " " .. kube.json.encode(req)
  u.fp = u.sig .. "\n" .. u.shape
  u.never_preempt = spec.preemptionPolicy == "Never"
  return u
end

return M
