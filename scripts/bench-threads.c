/* scripts/bench's threads workload: THREADS threads (argv[1]) share
 * TOTAL (argv[2], default 640000) malloc+free pairs equally, all at once
 * (a barrier), each pair from the same three-deep call chain.  Run with 1
 * and with 64 threads, the per-allocation cost of a profiler should stay
 * about the same (issue 12: within 3x). */
#include <pthread.h>
#include <stdlib.h>

static long per_thread;
static pthread_barrier_t start;

__attribute__((noinline)) static void *make(long i) { return malloc(16 + (size_t)(i % 64)); }
__attribute__((noinline)) static void *middle(long i) { return make(i); }

static void *worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (long i = 0; i < per_thread; i++) {
        void *p = middle(i);
        if (!p)
            abort();
        *(volatile char *)p = 1;
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    long total = argc > 2 ? atol(argv[2]) : 640000;
    if (threads < 1 || threads > 1024)
        return 2;
    per_thread = total / threads;
    pthread_t t[1024];
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0)
            return 1;
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return 0;
}
