// scripts/bench-bp-stl.cpp: the static C++ STL workload scripts/bench times
// the breakpoint engine on (built with -static, so memprof picks that
// engine): N rounds (argv[1], default 100000) of a std::map insert of a
// heap-sized std::string, a std::vector that grows, a std::list node, and
// every 4th round an erase; about 6 allocations per round, from a handful
// of call stacks (operator new -> malloc).
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <string>
#include <vector>

int main(int argc, char **argv)
{
    long n = argc > 1 ? std::atol(argv[1]) : 100000;
    std::map<long, std::string> m;
    std::list<long> l;
    size_t total = 0;
    for (long i = 0; i < n; i++) {
        m.emplace(i, std::string(24 + (size_t)(i % 40), 'x'));
        std::vector<long> v;
        for (long k = 0; k < 5; k++)
            v.push_back(i + k);
        l.push_back(v.back());
        total += v.size();
        if (i % 4 == 3) {
            m.erase(i - 3);
            l.pop_front();
        }
    }
    std::printf("%zu %zu %zu\n", m.size(), l.size(), total);
    return 0;
}
