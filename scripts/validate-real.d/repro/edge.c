#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
int main(int argc, char **argv)
{
  const char *w = argc > 1 ? argv[1] : "";
  if (!strcmp(w, "posix_memalign")) { void *p; if (posix_memalign(&p, 64, 100) == 0) free(p); }
  if (!strcmp(w, "posix_memalign_bad")) { void *p = NULL; int r = posix_memalign(&p, 24, 100); if (r == 0) free(p); }
  if (!strcmp(w, "aligned_alloc")) free(aligned_alloc(64, 128));
  if (!strcmp(w, "aligned_alloc_odd")) free(aligned_alloc(64, 100));
  if (!strcmp(w, "aligned_alloc_badalign")) free(aligned_alloc(48, 96));
  if (!strcmp(w, "memalign")) free(memalign(32, 50));
  if (!strcmp(w, "memalign_48")) free(memalign(48, 10));
  if (!strcmp(w, "valloc")) free(valloc(10));
  if (!strcmp(w, "malloc_huge")) { void *p = malloc((size_t)-1 / 2); free(p); }
  if (!strcmp(w, "realloc_huge")) { void *q = malloc(10); void *r = realloc(q, (size_t)-1 / 2); free(r ? r : q); }
  if (!strcmp(w, "calloc_overflow")) { volatile size_t n = (size_t)1 << 40; void *c = calloc(n, n); free(c); }
  if (!strcmp(w, "realloc_zero")) { void *p = malloc(10); p = realloc(p, 0); free(p); }
  if (!strcmp(w, "realloc_null_zero")) { void *p = realloc(NULL, 0); free(p); }
  if (!strcmp(w, "malloc_zero")) free(malloc(0));
  if (!strcmp(w, "libc_malloc")) { extern void *__libc_malloc(size_t); extern void __libc_free(void *); __libc_free(__libc_malloc(10)); }
  if (!strcmp(w, "libc_calloc")) { extern void *__libc_calloc(size_t, size_t); free(__libc_calloc(2, 8)); }
  return 0;
}
