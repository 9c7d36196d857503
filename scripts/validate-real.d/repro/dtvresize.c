/* dlopen N libraries (DIR/libtlsI.so, each with a PT_TLS segment) and touch
 * their TLS.  When the module count outgrows the main thread's DTV (14 spare
 * slots), ld.so's _dl_resize_dtv reallocates it with
 * malloc((2 + max_modid + 14) * 16) -- realloc in other threads.  memprof's
 * preload adds two TLS modules (libmemprof-agent.so, libunwind.so.8), so that
 * malloc is 32 bytes bigger than under valgrind: run with N >= 15. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
  int n = argc > 1 ? atoi(argv[1]) : 16;
  const char *dir = argc > 2 ? argv[2] : ".";
  for (int i = 1; i <= n; i++) {
    char lib[4096], sym[16];
    snprintf(lib, sizeof lib, "%s/libtls%d.so", dir, i);
    snprintf(sym, sizeof sym, "get%d", i);
    void *h = dlopen(lib, RTLD_NOW);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    int (*g)(void) = (int (*)(void))dlsym(h, sym);
    g();
  }
  return 0;
}
