/* Each new thread gets a DTV from ld.so: calloc(max_tls_modid + 16, 16).
 * memprof's preload adds two TLS modules (libmemprof-agent.so and
 * libunwind.so.8), valgrind's preloads add none, so under memprof the
 * calloc is 2*16 bytes bigger: valgrind 272 bytes, memprof 304. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
static void *thr(void *a) { return a; }
int main(int argc, char **argv)
{
  if (argc > 1 && !strcmp(argv[1], "threads"))
    for (int i = 0; i < 10; i++) { pthread_t t; pthread_create(&t, NULL, thr, NULL); pthread_join(t, NULL); }
  return 0;
}
