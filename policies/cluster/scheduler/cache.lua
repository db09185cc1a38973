-- The scheduler's cache: a record per node with its allocatable resources and the sums of what
-- the pods bound (or being bound) to it request, kept incrementally, so that placing a pod never
-- walks the pods of the cluster. Pods are accounted when a reconcile sees them bound and not
-- terminal, and when the scheduler assumes a binding (before the write yields, so that
-- concurrent reconciles never book the same room twice); they are released when they go,
-- finish, or a binding fails.
--
-- A node record: name, present (the node exists), node (its latest view), rv, alloc (amounts),
-- req (summed requests, all resources), nzc / nzm (summed non-zero cpu and memory, for
-- scoring), npods, ports ("TCP/80" -> {ip -> count}), and the memo of filter answers per pod
-- signature (cache, pt, pa), dropped whenever the node's labels, taints, cordon or readiness
-- change.
local kube = require("kube")
local podinfo = require("scheduler.podinfo")

local M = {}

M.nodes = {} -- name -> record (also placeholders for nodes that pods name but that are absent)
M.list = {} -- present records, in the order they appeared
M.gen = 0 -- bumped whenever room may have appeared (unschedulable pods compare it)
M.pns_nodes = 0 -- present nodes with PreferNoSchedule taints
M.next_start = 0 -- where the next search starts (0-based index into list)
M.ready = false -- the first reconcile filled the cache from the informers
M.seq = 0 -- nodes in the order they were first seen (ties between scores go to the first)
M.layout = 0 -- bumped when nodes go (positions in list change; new nodes are appended)
M.log = {} -- records whose amounts or filter answers changed, in order (see scheduler/ring.lua)
local LOG_MAX = 65536

local pods = {} -- pod key -> {node, uid, req, nzc, nzm, ports, assumed, at}
M.pods = pods

local function rec(name)
  local r = M.nodes[name]
  if r == nil then
    r = {
      name = name,
      present = false,
      alloc = {},
      req = {},
      -- Flat copies of the amounts the search reads for every node (allocatable cpu, memory,
      -- ephemeral storage, pods; requested cpu, memory, ephemeral storage).
      ac = 0,
      am = 0,
      ae = 0,
      ap = 0,
      uc = 0,
      um = 0,
      ue = 0,
      nzc = 0,
      ver = 0, -- bumped whenever the amounts change (keys the search's memo, s_*)
      nzm = 0,
      npods = 0,
      ports = {},
      cache = {},
      pt = {},
      pa = {},
    }
    M.nodes[name] = r
  end
  return r
end
M.rec = rec

-- Notes that the node's amounts or filter answers changed.
local function log(r)
  local l = M.log
  if #l >= LOG_MAX then
    l = {}
    M.log = l
    M.layout = M.layout + 1 -- the searches' trees rebuild from scratch
  end
  l[#l + 1] = r
end

local function same_amounts(a, b)
  for k, v in pairs(a) do
    if b[k] ~= v then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- Condition of a node that stands for a taint while the node lifecycle controller has not put
-- it there yet: Ready False is node.kubernetes.io/not-ready, Unknown is unreachable.
local IMPLICIT = {
  False = { { key = "node.kubernetes.io/not-ready", effect = "NoSchedule" } },
  Unknown = { { key = "node.kubernetes.io/unreachable", effect = "NoSchedule" } },
}

local function has_pns(taints)
  if taints == nil then return false end
  for i = 1, #taints do
    if taints[i].effect == "PreferNoSchedule" then return true end
  end
  return false
end

-- Takes in a node's latest view. Returns true when the change may let a pending pod fit: the
-- node is new, or its labels, taints, cordon, readiness or allocatable resources changed.
-- Heartbeats (conditions' times, images, addresses) change nothing here.
function M.observe(node)
  local md = node.metadata
  local r = rec(md.name)
  local changed = false
  if not r.present then
    r.present = true
    M.list[#M.list + 1] = r
    r.pos = #M.list
    M.seq = M.seq + 1
    r.seq = M.seq
    changed = true
  end
  r.node = node
  r.rv = md.resourceVersion
  local spec = node.spec
  local taints = spec and spec.taints
  local ready = kube.condition(node, "Ready")
  local status = ready and ready.status
  local fp = (md.uid or "")
    .. "\n"
    .. (md.labels and kube.json.encode(md.labels) or "")
    .. "\n"
    .. (taints and kube.json.encode(taints) or "")
    .. "\n"
    .. tostring(spec and spec.unschedulable or false)
    .. "\n"
    .. tostring(status)
  if fp ~= r.fp then
    r.fp = fp
    r.cache, r.pt, r.pa = {}, {}, {}
    r.unschedulable = spec and spec.unschedulable or false
    r.implicit = IMPLICIT[status]
    local pns = has_pns(taints)
    if pns ~= r.pns then
      M.pns_nodes = M.pns_nodes + (pns and 1 or 0) - (r.pns and 1 or 0)
      r.pns = pns
    end
    changed = true
  end
  local alloc = kube.nodes.allocatable(node) or {}
  if not same_amounts(alloc, r.alloc) then
    r.alloc = alloc
    r.ac, r.am = alloc.cpu or 0, alloc.memory or 0
    r.ae, r.ap = alloc["ephemeral-storage"] or 0, alloc.pods or 0
    r.ver = r.ver + 1
    changed = true
  end
  if changed then log(r) end
  return changed
end

-- The node is gone: it takes no more pods. Its sums stay for the pods still bound to it (the
-- pod garbage collector deletes them).
function M.absent(name)
  local r = M.nodes[name]
  if r == nil or not r.present then return end
  r.present = false
  if r.pns then
    M.pns_nodes = M.pns_nodes - 1
    r.pns = false
  end
  r.fp = nil
  local list = M.list
  table.remove(list, r.pos)
  for i = r.pos, #list do
    list[i].pos = i
  end
  r.pos = nil
  M.layout = M.layout + 1
  if r.npods == 0 then M.nodes[name] = nil end
end

local function add_usage(r, u, sign)
  local req = r.req
  for k, v in pairs(u.req) do
    req[k] = (req[k] or 0) + sign * v
  end
  r.uc, r.um, r.ue = req.cpu or 0, req.memory or 0, req["ephemeral-storage"] or 0
  r.ver = r.ver + 1
  if r.present then log(r) end
  r.nzc = r.nzc + sign * u.nzc
  r.nzm = r.nzm + sign * u.nzm
  r.npods = r.npods + sign
  local ports = u.ports
  if ports ~= nil then
    for i = 1, #ports do
      local pp, ip = ports[i][1], ports[i][2]
      local m = r.ports[pp]
      if m == nil then
        m = {}
        r.ports[pp] = m
      end
      local n = (m[ip] or 0) + sign
      if n <= 0 then n = nil end
      m[ip] = n
      if next(m) == nil then r.ports[pp] = nil end
    end
  end
end

-- Releases what the pod under key took. Returns true when it had taken something.
function M.forget(key)
  local a = pods[key]
  if a == nil then return false end
  pods[key] = nil
  local r = M.nodes[a.node]
  if r ~= nil then
    add_usage(r, a, -1)
    if r.npods == 0 and not r.present then M.nodes[a.node] = nil end
  end
  return true
end

local function take(key, pod, node, u, assumed, now)
  local r = rec(node)
  u.node = node
  u.uid = pod.metadata.uid
  u.assumed = assumed
  u.at = now
  pods[key] = u
  add_usage(r, u, 1)
end

-- A binding about to be sent: the room is taken now.
function M.assume(key, pod, node, u, now)
  M.forget(key)
  take(key, pod, node, u, true, now)
end

function M.assumed(key)
  local a = pods[key]
  return a ~= nil and a.assumed and a or nil
end

local function terminal(pod)
  local phase = pod.status and pod.status.phase
  return phase == "Succeeded" or phase == "Failed"
end

-- Brings the accounting of key in line with the cache's view of the pod (nil: gone). Returns
-- true when room was released.
function M.account(key, pod)
  local a = pods[key]
  if pod == nil or terminal(pod) then return M.forget(key) end
  local node = pod.spec.nodeName
  if node == "" then node = nil end
  local uid = pod.metadata.uid
  if node == nil then
    -- Not bound in the cache: only our own binding in flight may hold room for it.
    if a ~= nil and (not a.assumed or a.uid ~= uid) then return M.forget(key) end
    return false
  end
  if a ~= nil then
    if a.node == node and a.uid == uid then
      a.assumed = nil
      return false
    end
    M.forget(key)
  end
  take(key, pod, node, podinfo.usage(pod), nil, nil)
  return false
end

-- The first reconcile reads every node and pod the informers hold; from then on the cache
-- follows events.
function M.init(ctx)
  for _, node in ipairs(ctx:list("v1/nodes")) do
    M.observe(node)
  end
  for _, pod in ipairs(ctx:list("v1/pods")) do
    local node = pod.spec.nodeName
    if node ~= nil and node ~= "" then
      M.account(pod.metadata.namespace .. "/" .. pod.metadata.name, pod)
    end
  end
  M.ready = true
end

return M
