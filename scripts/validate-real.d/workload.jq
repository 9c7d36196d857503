# validate-real's jq workload: objects, arrays, strings, a group_by and
# an output of fixed size, all generated from -n (no input file).
[range(0; 6000) | {id: ., name: "item\(.)", tags: [range(0; (. % 5)) | "t\(.)"], n: (. * 7 % 101)}]
| map(select(.id % 3 != 1) | .label = (.name + ":" + (.tags | join(","))))
| group_by(.n)
| map({n: .[0].n, count: length, first: .[0].label, total: (map(.id) | add)})
| (length, (.[0:3][] | tostring), (map(.total) | add))
