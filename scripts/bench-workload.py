# memprof's Python benchmark workload (scripts/bench --python): allocation
# heavy pure Python (dicts, lists, strings and ints, about 2.5 million
# allocator calls), with memory_profiler's @profile on the function when it
# runs under `python3 -m memory_profiler` (which defines `profile`).
import sys

try:
    profile
except NameError:
    def profile(function):
        return function


@profile
def workload(n):
    rows = []
    total = 0
    for i in range(n):
        row = {"id": i, "name": "item%d" % i, "tags": [str(i % 7), "x"]}
        rows.append(row)
        if len(rows) > 10000:
            del rows[:5000]
        total += len(row["name"])
    text = ",".join(r["name"] for r in rows)
    return total + len(text)


if __name__ == "__main__":
    print(workload(int(sys.argv[1]) if len(sys.argv) > 1 else 300000))
