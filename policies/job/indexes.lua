-- Sets of completion indexes as ordered, non-overlapping intervals {{first, last}, ...}, the
-- form kube-controller-manager keeps them in (orderedIntervals in indexed_job_utils.go), and
-- their string form "1,3-5,7" (a run of three or more is "a-b", two in a row are "a,b").
local M = {}

-- Parses status.completedIndexes / failedIndexes / successPolicy succeededIndexes. Indexes at
-- or beyond completions are dropped (parsing stops at the first interval starting there, the
-- last interval is clipped); corrupted intervals are skipped, as upstream does.
function M.parse(s, completions)
  local out = {}
  if s == nil or s == "" then return out end
  local last
  for part in string.gmatch(s, "[^,]+") do
    local a, b = string.match(part, "^([+-]?%d+)%-([+-]?%d+)$")
    if a == nil then a = string.match(part, "^([+-]?%d+)$") end
    local first = a and math.tointeger(tonumber(a))
    local stop
    if first ~= nil then
      if first >= completions then break end
      if b ~= nil then
        stop = math.tointeger(tonumber(b))
        if stop ~= nil and stop >= completions then stop = completions - 1 end
      else
        stop = first
      end
    end
    if first ~= nil and stop ~= nil then
      if last ~= nil and last[2] == first - 1 then
        last[2] = stop
      else
        last = { first, stop }
        out[#out + 1] = last
      end
    end
  end
  return out
end

-- Merges two interval lists into a new one (adjacent and overlapping intervals join).
function M.merge(a, b)
  local out, last = {}, nil
  local function add(iv)
    if last == nil or iv[1] > last[2] + 1 then
      last = { iv[1], iv[2] }
      out[#out + 1] = last
    elseif last[2] < iv[2] then
      last[2] = iv[2]
    end
  end
  local i, j = 1, 1
  while i <= #a and j <= #b do
    if a[i][1] < b[j][1] then
      add(a[i]); i = i + 1
    else
      add(b[j]); j = j + 1
    end
  end
  for k = i, #a do add(a[k]) end
  for k = j, #b do add(b[k]) end
  return out
end

-- The intervals plus the indexes of an ascending list.
function M.with(ivs, sorted)
  if #sorted == 0 then return ivs end
  local single = {}
  for k, x in ipairs(sorted) do single[k] = { x, x } end
  return M.merge(ivs, single)
end

-- Builds intervals from a set {index = true}.
function M.from_set(set)
  local list = {}
  for x in pairs(set) do list[#list + 1] = x end
  table.sort(list)
  return M.with({}, list)
end

function M.total(ivs)
  local n = 0
  for _, iv in ipairs(ivs) do n = n + iv[2] - iv[1] + 1 end
  return n
end

function M.has(ivs, x)
  local lo, hi = 1, #ivs + 1
  while hi > lo do
    local mid = (lo + hi) // 2
    if ivs[mid][2] >= x then hi = mid else lo = mid + 1 end
  end
  return hi <= #ivs and ivs[hi][1] <= x
end

function M.format(ivs)
  local parts = {}
  for _, iv in ipairs(ivs) do
    if iv[2] == iv[1] then
      parts[#parts + 1] = tostring(iv[1])
    elseif iv[2] == iv[1] + 1 then
      parts[#parts + 1] = iv[1] .. "," .. iv[2]
    else
      parts[#parts + 1] = iv[1] .. "-" .. iv[2]
    end
  end
  return table.concat(parts, ",")
end

-- The first `count` indexes below completions outside the intervals (firstPendingIndexes).
function M.first_missing(ivs, count, completions)
  local out = {}
  if count <= 0 then return out end
  local candidate = 0
  for _, iv in ipairs(ivs) do
    while candidate < completions and #out < count and candidate < iv[1] do
      out[#out + 1] = candidate
      candidate = candidate + 1
    end
    if candidate < iv[2] + 1 then candidate = iv[2] + 1 end
  end
  while candidate < completions and #out < count do
    out[#out + 1] = candidate
    candidate = candidate + 1
  end
  return out
end

-- How many indexes of `rule` are in `succeeded` (matchSucceededIndexesRule's count).
function M.overlap(rule, succeeded)
  local contains, r, s = 0, 1, 1
  while r <= #rule and s <= #succeeded do
    local o = math.min(rule[r][2], succeeded[s][2]) - math.max(rule[r][1], succeeded[s][1]) + 1
    if o > 0 then contains = contains + o end
    if succeeded[s][2] < rule[r][2] then
      s = s + 1
    elseif succeeded[s][2] > rule[r][2] then
      r = r + 1
    else
      s = s + 1
      r = r + 1
    end
  end
  return contains
end

return M
