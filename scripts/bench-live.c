/* scripts/bench-live.c: N live 16-byte blocks at once (argv[1], default
 * 5,000,000), then all freed: the workload scripts/bench measures memprof's
 * memory per live block on.  The pointers escape through a volatile sink,
 * so the compiler keeps every call. */
#include <stdio.h>
#include <stdlib.h>

static void *volatile escape;

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    void **blocks = malloc((size_t)(n > 0 ? n : 1) * sizeof *blocks);
    if (!blocks)
        return 1;
    for (long i = 0; i < n; i++)
        escape = blocks[i] = malloc(16);
    for (long i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
    printf("%ld\n", n);
    return 0;
}
