-- scripts/bench: the Lua workload (tables, strings, closures, GC), about
-- 1.2 million allocations.  Deterministic: no os.time/os.clock/math.random,
-- no tables or functions as keys (their hash is their address).
local N = 50000

local function records(n)
  local t = {}
  for i = 1, n do
    t[i] = { id = i, name = "item" .. i, tags = { "a" .. (i % 7), "b" .. (i % 13) } }
  end
  return t
end

local total = 0
for round = 1, 4 do
  local t = records(N)
  local byname = {}
  for i = 1, #t do byname[t[i].name] = t[i] end
  local parts = {}
  for i = 1, N, 3 do parts[#parts + 1] = string.format("%d:%s", i, t[i].name) end
  local s = table.concat(parts, ",")
  local replaced, nsub = s:gsub("item(%d+)", function(d) return "I" .. (d * 2) end)
  table.sort(t, function(a, b) return a.name < b.name end)
  local counters = {}
  for i = 1, 5000 do
    local c = i
    counters[i] = function() c = c + round; return c end
  end
  for i = 1, #counters do total = total + counters[i]() end
  total = total + #replaced + nsub + #s
  collectgarbage("collect")
end
print(total)
