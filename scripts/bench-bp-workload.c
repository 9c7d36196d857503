/* scripts/bench-bp-workload.c: N malloc+free pairs (argv[1], default 20000),
 * the workload scripts/bench times the breakpoint engine and ltrace on.  The
 * block escapes through a volatile pointer, so the compiler keeps the calls. */
#include <stdio.h>
#include <stdlib.h>

static void *volatile escape;

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    for (long i = 0; i < n; i++) {
        escape = malloc(32 + (size_t)(i % 64));
        free(escape);
    }
    printf("%ld\n", n);
    return 0;
}
