#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <glob.h>
#include <iconv.h>
#include <langinfo.h>
#include <locale.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <regex.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <malloc.h>
#include <libintl.h>
#include <fnmatch.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
static void *thr(void *arg) { void *p = malloc(100); free(p); return arg; }
static void nop(void) {}
static void nopf(void *p) { (void)p; }

static void t_strdup(void) { char *s = strdup("hello"); char *t = strndup("hello", 3); free(s); free(t); }
static void t_fopen(void) { FILE *f = fopen("/etc/hostname", "r"); if (f) { char b[64]; if (fgets(b, sizeof b, f)) {} fclose(f);} }
static void t_getline(void) { FILE *f = fopen("/etc/passwd", "r"); char *l = NULL; size_t n = 0; while (getline(&l, &n, f) > 0) {} free(l); fclose(f); }
static void t_qsort(void) { int n = 100000; int *a = malloc(n * sizeof *a); for (int i = 0; i < n; i++) a[i] = (i * 7919) % n; qsort(a, n, sizeof *a, cmp); free(a); }
static void t_memstream(void) { char *b; size_t n; FILE *f = open_memstream(&b, &n); for (int i = 0; i < 1000; i++) fprintf(f, "%d,", i); fclose(f); free(b); }
static void t_asprintf(void) { char *s; if (asprintf(&s, "%s-%d-%*d", "x", 42, 3000, 7) > 0) free(s); }
static void t_getpwuid(void) { struct passwd *p = getpwuid(0); struct group *g = getgrgid(0); (void)p; (void)g; }
static void t_locale(void) { setlocale(LC_ALL, "C.UTF-8"); (void)nl_langinfo(CODESET); setlocale(LC_ALL, "C"); }
static void t_iconv(void) { iconv_t c = iconv_open("UTF-16", "UTF-8"); if (c != (iconv_t)-1) iconv_close(c); }
static void t_getaddrinfo(void) { struct addrinfo *r; if (getaddrinfo("localhost", "80", NULL, &r) == 0) freeaddrinfo(r); }
static void t_regex(void) { regex_t re; regcomp(&re, "a(b|c)*d+[0-9]{2,5}", REG_EXTENDED); regexec(&re, "abcbcdd123", 0, NULL, 0); regfree(&re); }
static void t_glob(void) { glob_t g; glob("/etc/*.conf", 0, NULL, &g); globfree(&g); }
static void t_scandir(void) { struct dirent **l; int n = scandir("/etc", &l, NULL, alphasort); for (int i = 0; i < n; i++) free(l[i]); if (n >= 0) free(l); }
static void t_opendir(void) { DIR *d = opendir("/usr"); while (readdir(d)) {} closedir(d); }
static void t_tmpfile(void) { FILE *f = tmpfile(); fputs("x", f); fclose(f); }
static void t_localtime(void) { time_t t = 1700000000; struct tm tm; localtime_r(&t, &tm); char b[64]; strftime(b, sizeof b, "%c %Z", &tm); }
static void t_backtrace(void) { void *b[16]; int n = backtrace(b, 16); char **s = backtrace_symbols(b, n); free(s); }
static void t_thread(void) { pthread_t t; pthread_create(&t, NULL, thr, NULL); pthread_join(t, NULL); }
static void t_dlopen(void) { void *h = dlopen("libz.so.1", RTLD_NOW); if (h) dlclose(h); }
static void t_setenv(void) { for (int i = 0; i < 50; i++) { char n[16]; snprintf(n, sizeof n, "MPV_%d", i); setenv(n, "v", 1); } unsetenv("MPV_3"); }
static void t_atexit(void) { for (int i = 0; i < 40; i++) atexit(nop); }
static void t_printf_wide(void) { char b[16]; snprintf(b, sizeof b, "%ls %.*f", L"wide", 2000, 1.0); printf("%ls\n", L"wide"); }
static void t_tsearch(void) { void *root = NULL; static int k[100]; for (int i = 0; i < 100; i++) { k[i] = i; tsearch(&k[i], &root, cmp); } tdestroy(root, nopf); }
static void t_gettext(void) { bindtextdomain("x", "/nonexistent"); textdomain("x"); (void)gettext("hello"); (void)strerror(2); }
static void t_realpath(void) { char *p = realpath("/usr/bin/../lib", NULL); free(p); char *c = getcwd(NULL, 0); free(c); char *q = canonicalize_file_name("/etc"); free(q); }
static void t_memalign(void) { void *p; if (posix_memalign(&p, 64, 100) == 0) free(p); free(aligned_alloc(64, 128)); free(memalign(32, 50)); free(valloc(10)); free(pvalloc(10)); free(aligned_alloc(64, 100)); free(memalign(48, 10)); }
static void t_realloc_edges(void) { void *p = realloc(NULL, 10); p = realloc(p, 20); p = realloc(p, 0); free(p); free(NULL); void *q = malloc(0); free(q); void *r = calloc(0, 4); free(r); void *z = reallocarray(NULL, 3, 4); z = reallocarray(z, 5, 4); free(z); }
static void t_mallocfail(void) { void *p = malloc((size_t)-1 / 2); free(p); void *q = malloc(10); void *r = realloc(q, (size_t)-1 / 2); free(r ? r : q); void *c = calloc((size_t)1 << 40, (size_t)1 << 40); free(c); }
static void t_libc_malloc(void) { extern void *__libc_malloc(size_t); extern void __libc_free(void *); void *p = __libc_malloc(10); __libc_free(p); }
static void t_big(void) { void *p = malloc(1 << 20); void *q = realloc(p, 4 << 20); free(q); }
static void t_stdio_buf(void) { setvbuf(stdout, NULL, _IOFBF, 4096); printf("x\n"); fflush(stdout); }
static void t_wordfree(void) { char *d = strdupa("abc"); (void)d; }
static void t_hcreate(void) { hcreate(100); ENTRY e = { "k", NULL }; hsearch(e, ENTER); hdestroy(); }
static void t_fnmatch(void) { (void)fnmatch("*[a-z]?", "hello", FNM_EXTMATCH); }

struct t { const char *name; void (*fn)(void); };
static const struct t tests[] = {
#define T(x) {#x, t_##x}
  T(strdup), T(fopen), T(getline), T(qsort), T(memstream), T(asprintf), T(getpwuid), T(locale),
  T(iconv), T(getaddrinfo), T(regex), T(glob), T(scandir), T(opendir), T(tmpfile), T(localtime),
  T(backtrace), T(thread), T(dlopen), T(setenv), T(atexit), T(printf_wide), T(tsearch), T(gettext),
  T(realpath), T(memalign), T(realloc_edges), T(mallocfail), T(libc_malloc), T(big), T(stdio_buf), T(wordfree), T(hcreate), T(fnmatch),
};
int main(int argc, char **argv)
{
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    for (int a = 1; a < argc; a++)
      if (strcmp(argv[a], "all") == 0 || strcmp(argv[a], tests[i].name) == 0) tests[i].fn();
  if (argc == 2 && strcmp(argv[1], "list") == 0)
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) printf("%s\n", tests[i].name);
  return 0;
}
