-- Filtering and scoring, as kube-scheduler's default profile does them for the plugins kubelua
-- implements: NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts and NodeResourcesFit
-- filter (in that order; a node fails on the first plugin that rejects it); NodeResourcesFit
-- (LeastAllocated), NodeResourcesBalancedAllocation, TaintToleration (PreferNoSchedule) and
-- NodeAffinity (preferred terms) score, with upstream's weights. The search visits nodes
-- round-robin from where the previous one stopped and ends once it found as many feasible
-- nodes as upstream's adaptive percentageOfNodesToScore asks for.
local kube = require("kube")
local cache = require("scheduler.cache")
local ring = require("scheduler.ring")

local M = {}

local MAX_SCORE = 100
local MIN_FEASIBLE = 100 -- minFeasibleNodesToFind
local MIN_PERCENT = 5 -- minFeasibleNodesPercentageToFind
local W_TAINT, W_AFFINITY, W_FIT, W_BALANCED = 3, 2, 1, 1

local R_UNSCHEDULABLE = "node(s) were unschedulable"
local R_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
local R_PORTS = "node(s) didn't have free ports for the requested pod ports"
local R_TOO_MANY = "Too many pods"
local UNSCHEDULABLE_TAINT = { { key = "node.kubernetes.io/unschedulable", effect = "NoSchedule" } }

-- ---- Signatures ---------------------------------------------------------------------------

-- Pods with the same nodeSelector, node affinity and tolerations get the same filter answers
-- on a node; each distinct signature gets an id that keys the memo on node records. Ids are
-- never reused (memos and search trees keyed by old ones simply stop being hit).
local sigs = {} -- signature -> {id, tolerates_unschedulable}
local live_sigs, last_sig = 0, 0
local MAX_SIGS = 256

local function signature(pod, info)
  local s = sigs[info.sig]
  if s ~= nil then return s end
  if live_sigs >= MAX_SIGS then
    -- Too many kinds of pods: start the memo over.
    sigs, live_sigs = {}, 0
    for _, r in pairs(cache.nodes) do
      r.cache, r.pt, r.pa = {}, {}, {}
    end
  end
  live_sigs, last_sig = live_sigs + 1, last_sig + 1
  s = {
    id = last_sig,
    tolerates_unschedulable = kube.nodes.untolerated_taint(UNSCHEDULABLE_TAINT, pod) == nil,
  }
  sigs[info.sig] = s
  return s
end

-- Pods with the same requests (non-zero and actual) get the same resource answers from a node:
-- the shape's id keys the per-node memo of those.
local shapes, live_shapes, last_shape = {}, 0, 0
local MAX_SHAPES = 4096

local function shape_id(info)
  local id = shapes[info.shape]
  if id == nil then
    if live_shapes >= MAX_SHAPES then shapes, live_shapes = {}, 0 end
    live_shapes, last_shape = live_shapes + 1, last_shape + 1
    id = last_shape
    shapes[info.shape] = id
  end
  return id
end

-- ---- Filters ------------------------------------------------------------------------------

local function taint_reason(t)
  return "node(s) had untolerated taint {" .. t.key .. ": " .. (t.value or "") .. "}"
end

-- PreferNoSchedule taints of the node that the pod does not tolerate (tolerations with an
-- empty or PreferNoSchedule effect count).
local function intolerable_pns(node, pod)
  local taints = node.spec and node.spec.taints
  local tols = pod.spec.tolerations
  local n = 0
  for i = 1, #taints do
    local t = taints[i]
    if t.effect == "PreferNoSchedule" then
      local ok = false
      if tols ~= nil then
        for k = 1, #tols do
          local tol = tols[k]
          local e = tol.effect
          if (e == nil or e == "" or e == "PreferNoSchedule") and kube.nodes.tolerates(tol, t) then
            ok = true
            break
          end
        end
      end
      if not ok then n = n + 1 end
    end
  end
  return n
end

local function preferred_weight(node, preferred)
  local w = 0
  for i = 1, #preferred do
    local term = preferred[i]
    if term.preference ~= nil
      and kube.nodes.matches_selector_terms(node, { nodeSelectorTerms = { term.preference } })
    then
      w = w + (term.weight or 0)
    end
  end
  return w
end

-- The node-only filters (NodeUnschedulable, TaintToleration, NodeAffinity) for a signature:
-- true, or the reason. Memoised on the node record until the node changes.
local function static(r, s, pod, info)
  local node = r.node
  local res = true
  if r.unschedulable and not s.tolerates_unschedulable then
    res = R_UNSCHEDULABLE
  else
    local t = kube.nodes.untolerated_taint(node, pod)
    if t == nil and r.implicit ~= nil then t = kube.nodes.untolerated_taint(r.implicit, pod) end
    if t ~= nil then
      res = taint_reason(t)
    elseif not kube.nodes.matches_affinity(node, pod) then
      res = R_AFFINITY
    end
  end
  local id = s.id
  r.cache[id] = res
  if res == true then
    if r.pns then r.pt[id] = intolerable_pns(node, pod) end
    if info.preferred ~= nil then r.pa[id] = preferred_weight(node, info.preferred) end
  end
  return res
end

local function ports_free(r, info)
  local want = info.ports
  if want == nil then return true end
  local have = r.ports
  for i = 1, #want do
    local m = have[want[i][1]]
    if m ~= nil then
      local ip = want[i][2]
      if ip == "0.0.0.0" then
        if next(m) ~= nil then return false end
      elseif m[ip] ~= nil or m["0.0.0.0"] ~= nil then
        return false
      end
    end
  end
  return true
end

local function fits_scalars(r, sc)
  local alloc, used = r.alloc, r.req
  for i = 1, #sc, 2 do
    local name, amount = sc[i], sc[i + 1]
    if amount > 0 and amount > (alloc[name] or 0) - (used[name] or 0) then return false end
  end
  return true
end

-- fitsRequest's reasons, for the message of a pod that fits nowhere.
local function fit_reasons(r, info, out)
  local alloc, used = r.alloc, r.req
  if r.npods + 1 > (alloc.pods or 0) then out[#out + 1] = R_TOO_MANY end
  if not info.any then return out end
  local function check(name, amount)
    if amount > 0 and amount > (alloc[name] or 0) - (used[name] or 0) then
      out[#out + 1] = "Insufficient " .. name
    end
  end
  check("cpu", info.cpu)
  check("memory", info.mem)
  check("ephemeral-storage", info.eph)
  local sc = info.scalars
  if sc ~= nil then
    for i = 1, #sc, 2 do
      check(sc[i], sc[i + 1])
    end
  end
  return out
end

-- ---- Scores -------------------------------------------------------------------------------

-- The scores (NodeResourcesFit LeastAllocated on cpu and memory with non-zero requests,
-- weight 1 each; NodeResourcesBalancedAllocation on actual requests, skipped for pods that
-- request neither) are computed inline in the search loop below: it runs for hundreds of nodes
-- per pod.

-- ---- The search ---------------------------------------------------------------------------

-- numFeasibleNodesToFind with the default (adaptive) percentageOfNodesToScore.
local function feasible_to_find(n)
  if n < MIN_FEASIBLE then return n end
  local pct = 50 - n // 125
  if pct < MIN_PERCENT then pct = MIN_PERCENT end
  local k = n * pct // 100
  if k < MIN_FEASIBLE then return MIN_FEASIBLE end
  return k
end

-- Scratch arrays for the candidates of one search (no yield happens while they are in use).
local cand, cand_base = {}, {}

-- DefaultNormalizeScore over the candidates' raw values in map m (keyed by signature id).
local function normalized(m, id, found, reverse)
  local max = 0
  for i = 1, found do
    local v = m(cand[i], id)
    if v > max then max = v end
  end
  return function(r)
    if max == 0 then return reverse and MAX_SCORE or 0 end
    local s = MAX_SCORE * m(r, id) // max
    if reverse then s = MAX_SCORE - s end
    return s
  end
end

local function raw_taints(r, id)
  return r.pt[id] or 0
end

local function raw_affinity(r, id)
  return r.pa[id] or 0
end

local function better(score, r, best_score, best)
  return score > best_score or (score == best_score and r.seq < best.seq)
end

-- Counts why every node rejects the pod, and writes upstream's FitError message.
local function diagnose(pod, info, s)
  local list = cache.list
  local n = #list
  local counts, unresolvable, resolvable = {}, 0, 0
  local reasons = {}
  for i = 1, n do
    local r = list[i]
    local st = r.cache[s.id]
    if st == nil then st = static(r, s, pod, info) end
    local k = #reasons
    if st ~= true then
      reasons[k + 1] = st
      unresolvable = unresolvable + 1
    elseif not ports_free(r, info) then
      reasons[k + 1] = R_PORTS
      resolvable = resolvable + 1
    else
      fit_reasons(r, info, reasons)
      if #reasons > k then resolvable = resolvable + 1 end
    end
  end
  for i = 1, #reasons do
    counts[reasons[i]] = (counts[reasons[i]] or 0) + 1
  end
  local parts = {}
  for reason, c in pairs(counts) do
    parts[#parts + 1] = c .. " " .. reason
  end
  table.sort(parts)
  local msg = "0/" .. n .. " nodes are available: " .. table.concat(parts, ", ") .. "."
  local post
  if info.never_preempt then
    post = "not eligible due to preemptionPolicy=Never"
  else
    local pp = {}
    if unresolvable > 0 then
      pp[#pp + 1] = unresolvable .. " Preemption is not helpful for scheduling"
    end
    if resolvable > 0 then
      pp[#pp + 1] = resolvable .. " No preemption victims found for incoming pod"
    end
    table.sort(pp)
    post = "0/" .. n .. " nodes are available: " .. table.concat(pp, ", ")
  end
  return {
    reason = "Unschedulable",
    message = msg .. " preemption: " .. post .. ".",
    resolvable = resolvable > 0,
  }
end

-- A node's answer for the pod, without NodePorts: false when a filter rejects it, else its
-- resource score (LeastAllocated plus BalancedAllocation). The resource part is memoised on the
-- node per request shape and node version (r.ver): most nodes did not change since the previous
-- pod of a burst looked at them.
local function evaluate(r, s, pod, info, shape)
  local st = r.cache[s.id]
  if st == nil then st = static(r, s, pod, info) end
  if st ~= true then return false end
  if r.s_shape == shape and r.s_ver == r.ver then return r.s_score end
  local score = false
  local pc, pm, pe, sc = info.cpu, info.mem, info.eph, info.scalars
  if r.npods < r.ap
    and (
      not info.any
      or not (
        (pc > 0 and pc > r.ac - r.uc)
        or (pm > 0 and pm > r.am - r.um)
        or (pe > 0 and pe > r.ae - r.ue)
        or (sc ~= nil and not fits_scalars(r, sc))
      )
    )
  then
    local ac, am = r.ac, r.am
    local sum, weights = 0, 0
    if ac > 0 then
      local q = r.nzc + info.nzc
      if q <= ac then sum = sum + (ac - q) * MAX_SCORE // ac end
      weights = 1
    end
    if am > 0 then
      local q = r.nzm + info.nzm
      if q <= am then sum = sum + (am - q) * MAX_SCORE // am end
      weights = weights + 1
    end
    score = weights > 0 and W_FIT * (sum // weights) or 0
    if pc > 0 or pm > 0 then
      local std = 0
      if ac > 0 and am > 0 then
        local f1, f2 = (r.uc + pc) / ac, (r.um + pm) / am
        if f1 > 1 then f1 = 1 end
        if f2 > 1 then f2 = 1 end
        std = (f1 - f2) / 2
        if std < 0 then std = -std end
      end
      score = score + W_BALANCED * ((1 - std) * MAX_SCORE // 1)
    end
  end
  r.s_shape, r.s_ver, r.s_score = shape, r.ver, score
  return score
end

-- The plain search: visits nodes from the start until `want` feasible ones were found. Returns
-- the best record (nil if none), the nodes visited and the number found.
local function scan(pod, info, s, shape, start, want, scored)
  local list = cache.list
  local n = #list
  local ports = info.ports
  local found, processed = 0, 0
  local best, best_score = nil, -1
  local i = start
  for step = 1, n do
    local r = list[i + 1]
    i = i + 1
    if i == n then i = 0 end
    processed = step
    local score = evaluate(r, s, pod, info, shape)
    -- NodePorts runs before NodeResourcesFit upstream; the order does not change the answer.
    if score and (ports == nil or ports_free(r, info)) then
      found = found + 1
      if scored then
        cand[found], cand_base[found] = r, score
      elseif score > best_score or (score == best_score and r.seq < best.seq) then
        best, best_score = r, score
      end
      if found >= want then break end
    end
  end
  if scored and found > 0 then
    local id = s.id
    local taint = normalized(raw_taints, id, found, true)
    local affinity = normalized(raw_affinity, id, found, false)
    for k = 1, found do
      local r = cand[k]
      local score = cand_base[k] + W_TAINT * taint(r) + W_AFFINITY * affinity(r)
      if best == nil or better(score, r, best_score, best) then
        best, best_score = r, score
      end
      cand[k] = nil
    end
  end
  return best, processed
end

-- Picks a node for the pod: the record, or nil and a diagnosis {reason, message, resolvable}.
-- The search among the few nodes the pod's affinity names (PreFilter): the one feasible node,
-- or nil when there are none or several (the full search then decides, with its scores and
-- its diagnosis). A pod pinned to a node (each DaemonSet pod) costs one evaluation instead of
-- one per node, and its one-off signature stays out of the memo.
local TRANSIENT = 0
local function pick_named(pod, info, shape)
  local names = info.names
  if #names > 8 then return nil end
  local s = {
    id = TRANSIENT,
    tolerates_unschedulable = kube.nodes.untolerated_taint(UNSCHEDULABLE_TAINT, pod) == nil,
  }
  local best
  for i = 1, #names do
    local r = cache.nodes[names[i]]
    if r ~= nil and r.present then
      local score = evaluate(r, s, pod, info, shape)
      r.cache[TRANSIENT], r.pt[TRANSIENT], r.pa[TRANSIENT] = nil, nil, nil
      if score and ports_free(r, info) then
        if best ~= nil and best ~= r then return nil end
        best = r
      end
    end
  end
  return best
end

function M.pick(pod, info)
  local n = #cache.list
  if n == 0 then
    return nil, {
      reason = "SchedulerError",
      message = "no nodes available to schedule pods",
      resolvable = true,
    }
  end
  local shape = shape_id(info)
  if info.names ~= nil then
    local r = pick_named(pod, info, shape)
    if r ~= nil then return r end
  end
  local s = signature(pod, info)
  local want = feasible_to_find(n)
  local start = cache.next_start % n
  local scored = info.preferred ~= nil or cache.pns_nodes > 0
  local best, processed
  local found = false
  if not scored and info.ports == nil then
    found, best, processed = ring.search(s.id, shape, function(r)
      return evaluate(r, s, pod, info, shape)
    end, start, want)
  end
  if not found then best, processed = scan(pod, info, s, shape, start, want, scored) end
  cache.next_start = (start + processed) % n
  if best == nil then return nil, diagnose(pod, info, s) end
  return best
end

return M
