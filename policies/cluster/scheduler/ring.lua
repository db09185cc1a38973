-- The search of scheduler/plugins.lua without visiting every node: for pods of one signature and
-- one request shape, a segment tree over the node list holds, per node, whether it passes the
-- filters and its resource score, and per segment the number of feasible nodes and the best of
-- them. Upstream's search (from the round-robin start, the first k feasible nodes, the best of
-- them; ties to the node seen first) then costs O(log n): find where the k-th feasible node lies,
-- take the best of that window. Nodes whose amounts or filter answers changed are recomputed
-- from the cache's change log before a search. Pods with host ports or with preferred-affinity
-- or PreferNoSchedule scores (normalised over the window) use the plain scan instead.
local cache = require("scheduler.cache")

local M = {}

local MAX_TREES = 16
local TREE_AFTER = 3 -- a tree is built for the third pod of a kind (one-offs scan instead)
local trees = {} -- "sigid shapeid" -> tree
local ntrees = 0
local uses = {} -- "sigid shapeid" -> searches without a tree so far
local nuses = 0

-- A tree: n (leaves in use), size (power of two >= n, twice that at least when built, so that
-- new nodes find room), layout (cache.layout when built), seen
-- (cache.log position applied), sc[pos] (score or false), cnt[k] and best[k] (heap layout:
-- root 1, leaves size .. size + n - 1; best is a list position, 0 for none).

local function better_pos(list, sc, a, b)
  if a == 0 then return b end
  if b == 0 then return a end
  local x, y = sc[a], sc[b]
  if x > y then return a end
  if y > x then return b end
  return list[a].seq < list[b].seq and a or b
end

local function pull(t, list, k)
  local l, r = 2 * k, 2 * k + 1
  t.cnt[k] = t.cnt[l] + t.cnt[r]
  t.best[k] = better_pos(list, t.sc, t.best[l], t.best[r])
end

local function set_leaf(t, list, pos, score)
  t.sc[pos] = score
  local k = t.size + pos - 1
  t.cnt[k] = score and 1 or 0
  t.best[k] = score and pos or 0
  k = k // 2
  while k >= 1 do
    pull(t, list, k)
    k = k // 2
  end
end

local function build(t, eval)
  local list = cache.list
  local n = #list
  local size = 1
  while size < 2 * n do
    size = size * 2
  end
  t.n, t.size, t.layout, t.seen = n, size, cache.layout, #cache.log
  t.sc, t.cnt, t.best = {}, {}, {}
  local sc, cnt, best = t.sc, t.cnt, t.best
  for pos = 1, size do
    local k = size + pos - 1
    local s = false
    if pos <= n then s = eval(list[pos]) end
    sc[pos] = s
    cnt[k] = s and 1 or 0
    best[k] = s and pos or 0
  end
  for k = size - 1, 1, -1 do
    pull(t, list, k)
  end
end

-- Brings the tree up to date with the cache: rebuilt when nodes went (or outgrew it), new
-- nodes added as leaves, and the nodes in the change log since its last use evaluated again.
local function refresh(t, eval)
  local list = cache.list
  local n = #list
  if t.layout ~= cache.layout or #cache.log < t.seen or n > t.size then
    build(t, eval)
    return
  end
  for pos = t.n + 1, n do
    set_leaf(t, list, pos, eval(list[pos]))
  end
  t.n = n
  local log = cache.log
  for i = t.seen + 1, #log do
    local r = log[i]
    local pos = r.pos
    if r.present and pos ~= nil and list[pos] == r then set_leaf(t, list, pos, eval(r)) end
  end
  t.seen = #log
end

-- Feasible nodes in positions [a, b] (1-based, inclusive).
local function count(t, a, b)
  if a > b then return 0 end
  local size, cnt = t.size, t.cnt
  local l, r = a + size - 1, b + size - 1
  local c = 0
  while l <= r do
    if l % 2 == 1 then
      c = c + cnt[l]
      l = l + 1
    end
    if r % 2 == 0 then
      c = c + cnt[r]
      r = r - 1
    end
    l, r = l // 2, r // 2
  end
  return c
end

-- The position of the j-th feasible node (1-based).
local function kth(t, j)
  local cnt, size = t.cnt, t.size
  local k = 1
  while k < size do
    local l = 2 * k
    if cnt[l] >= j then
      k = l
    else
      j = j - cnt[l]
      k = l + 1
    end
  end
  return k - size + 1
end

-- The best feasible position in [a, b], or 0.
local function best_in(t, list, a, b)
  if a > b then return 0 end
  local size, best, sc = t.size, t.best, t.sc
  local l, r = a + size - 1, b + size - 1
  local res = 0
  while l <= r do
    if l % 2 == 1 then
      res = better_pos(list, sc, res, best[l])
      l = l + 1
    end
    if r % 2 == 0 then
      res = better_pos(list, sc, res, best[r])
      r = r - 1
    end
    l, r = l // 2, r // 2
  end
  return res
end

-- Upstream's search for pods of signature sid and shape hid: eval(record) gives a node's score,
-- or false when it fails a filter. Returns false when this kind of pod is too rare to have a
-- tree (the caller scans), else true, the chosen record (nil when no node is feasible) and the
-- number of nodes the search covered (where the next one starts).
function M.search(sid, hid, eval, start, want)
  local key = sid .. " " .. hid
  local t = trees[key]
  if t == nil then
    local u = (uses[key] or 0) + 1
    if u < TREE_AFTER then
      if nuses >= 4096 then uses, nuses = {}, 0 end
      if uses[key] == nil then nuses = nuses + 1 end
      uses[key] = u
      return false
    end
    uses[key] = nil
    if ntrees >= MAX_TREES then
      trees, ntrees = {}, 0
    end
    t = {}
    trees[key] = t
    ntrees = ntrees + 1
    build(t, eval)
  else
    refresh(t, eval)
  end
  local list = cache.list
  local n = t.n
  local total = t.cnt[1]
  if total == 0 then return true, nil, n end
  if total < want then return true, list[t.best[1]], n end
  -- Positions are 1-based; the search starts after `start` (0-based index = position start+1).
  local a = start + 1
  local after = count(t, a, n)
  local p, pos
  if after >= want then
    p = kth(t, count(t, 1, a - 1) + want)
    pos = best_in(t, list, a, p)
    return true, list[pos], p - a + 1
  end
  p = kth(t, want - after)
  pos = better_pos(list, t.sc, best_in(t, list, a, n), best_in(t, list, 1, p))
  return true, list[pos], n - a + 1 + p
end

return M
