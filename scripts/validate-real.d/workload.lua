-- memprof validate-real: deterministic Lua workload (tables, strings,
-- closures, gsub, sort, GC).  No os.time/os.clock/math.random/os.getenv,
-- no tables or functions used as keys (their hash is their address).

-- Records: array part, hash part, nested tables, string building.
local t = {}
for i = 1, 5000 do
  t[i] = { id = i, name = "item" .. i, tags = { "a" .. (i % 7), "b" .. (i % 13) } }
end
local byname = {}
for i = 1, #t do byname[t[i].name] = t[i] end

-- Formatting and concatenation (buffers grow through realloc).
local parts = {}
for i = 1, 3000 do parts[#parts + 1] = string.format("%d:%s", i, t[i].name) end
local s = table.concat(parts, ",")
local acc = ""
for i = 1, 400 do acc = acc .. tostring(i) .. ";" end

-- Pattern matching with a function replacement.
local replaced, nsub = s:gsub("item(%d+)", function(d) return "I" .. (d * 2) end)

-- Closures with upvalues.
local counters = {}
local function counter(start)
  local c = start
  return function() c = c + 1; return c end
end
for i = 1, 2000 do counters[i] = counter(i) end
local sum = 0
for i = 1, #counters do sum = sum + counters[i]() end

-- Sorting with a Lua comparator, word counting with gmatch.
table.sort(t, function(a, b) return a.name < b.name end)
local words = {}
for w in ("the quick brown fox jumps over the lazy dog "):rep(200):gmatch("%a+") do
  words[w] = (words[w] or 0) + 1
end

-- String-keyed inserts and deletes: when a table rehashes depends on how the
-- keys collide, i.e. on the string hash seed (see luai_makeseed in
-- validate-real).  With Lua's default address/time-based seed this part
-- alone makes the allocation count vary from run to run.
local churn = {}
for r = 1, 200 do
  for i = 1, 50 do churn["k" .. (r * 50 + i)] = i end
  for i = 1, 45 do churn["k" .. (r * 50 + i)] = nil end
end
local left = 0
for _ in pairs(churn) do left = left + 1 end

collectgarbage("collect")
print(#t, #s, #acc, #replaced, nsub, sum, words.the, left)
