/* memprof: tests of the inflated copies of compressed debug files
 * (src/symbols/sym_debug_cache.c).
 *
 * The fixture's debug file is split off with its sections compressed
 * (objcopy --only-keep-debug --compress-debug-sections=zlib, as Debian's
 * -dbg packages ship them).  The oracle for the copy's contents is binutils'
 * own inflation (objcopy --decompress-debug-sections): every section of the
 * copy must have exactly its bytes.  Then: the copy is reused, not written
 * again; a damaged copy is made again; nothing is written for a file without
 * compressed sections, for another build-id, with MEMPROF_DEBUG_CACHE=0, or
 * where the cache directory cannot be made (and the caller reads the
 * original). */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "symbols/sym_debug_cache.h"

static char dir[512], zdebug[600], plain[600], reference[600];

static int sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "test_debug_cache: failed (%d): %s\n", rc, cmd);
    return rc;
}

/* A fresh cache home for one test: its path (static). */
static const char *fresh_cache(const char *name)
{
    static char home[700];
    snprintf(home, sizeof home, "%s/%s", dir, name);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    ck_assert_int_eq(sh(cmd), 0);
    setenv("XDG_CACHE_HOME", home, 1);
    unsetenv("MEMPROF_DEBUG_CACHE");
    return home;
}

/* Files in HOME/memprof/debug (-1: no such directory). */
static int cached_files(const char *home)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "test -d '%s/memprof/debug'", home);
    if (system(cmd) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "exit $(ls -A '%s/memprof/debug' | wc -l)", home);
    return WEXITSTATUS(system(cmd));
}

static int open_copy(const char *path, char **copy)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    *copy = NULL;
    int cached = sym_debug_cache_open(fd, path, NULL, 0, copy);
    close(fd);
    return cached;
}

/* Every section of `a` has the name and type of the same section of `b`,
 * none is compressed, and every DWARF section has b's flags and bytes. */
static void assert_same_sections(int fd_a, const char *path_b)
{
    int fd_b = open(path_b, O_RDONLY);
    ck_assert_int_ge(fd_b, 0);
    Elf *a = elf_begin(fd_a, ELF_C_READ, NULL), *b = elf_begin(fd_b, ELF_C_READ, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    size_t na, nb, stra, strb;
    ck_assert_int_eq(elf_getshdrnum(a, &na), 0);
    ck_assert_int_eq(elf_getshdrnum(b, &nb), 0);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(elf_getshdrstrndx(a, &stra), 0);
    ck_assert_int_eq(elf_getshdrstrndx(b, &strb), 0);
    int debug_sections = 0;
    for (size_t i = 1; i < na; i++) {
        Elf_Scn *sa = elf_getscn(a, i), *sb = elf_getscn(b, i);
        GElf_Shdr ha, hb;
        ck_assert_ptr_nonnull(gelf_getshdr(sa, &ha));
        ck_assert_ptr_nonnull(gelf_getshdr(sb, &hb));
        const char *name = elf_strptr(a, stra, ha.sh_name);
        ck_assert_str_eq(name, elf_strptr(b, strb, hb.sh_name));
        ck_assert_uint_eq(ha.sh_type, hb.sh_type);
        ck_assert_uint_eq(ha.sh_flags & SHF_COMPRESSED, 0);
        if (strncmp(name, ".debug_", 7) != 0) /* objcopy sets flags of its own on the others */
            continue;
        ck_assert_uint_eq(ha.sh_flags, hb.sh_flags);
        Elf_Data *da = elf_rawdata(sa, NULL), *db = elf_rawdata(sb, NULL);
        ck_assert_ptr_nonnull(da);
        ck_assert_ptr_nonnull(db);
        ck_assert_uint_eq(da->d_size, db->d_size);
        ck_assert_msg(da->d_size == 0 || memcmp(da->d_buf, db->d_buf, da->d_size) == 0, "%s differs", name);
        debug_sections++;
    }
    ck_assert_int_ge(debug_sections, 4); /* info, abbrev, line, str at least */
    elf_end(a);
    elf_end(b);
    close(fd_b);
}

START_TEST(test_copy_is_the_inflated_file)
{
    const char *home = fresh_cache("inflated");
    char *copy;
    int fd = open_copy(zdebug, &copy);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(strncmp(copy, home, strlen(home)) == 0, "copy %s not under %s", copy, home);
    ck_assert_int_eq(cached_files(home), 1);
    assert_same_sections(fd, reference);
    close(fd);
    free(copy);
}
END_TEST

START_TEST(test_copy_reused_then_remade_when_damaged)
{
    const char *home = fresh_cache("reused");
    char *copy, *again;
    int fd = open_copy(zdebug, &copy);
    ck_assert_int_ge(fd, 0);
    struct stat first, second;
    ck_assert_int_eq(fstat(fd, &first), 0);
    close(fd);
    fd = open_copy(zdebug, &again);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &second), 0);
    ck_assert_str_eq(copy, again);
    ck_assert_uint_eq(first.st_ino, second.st_ino); /* the same file: not written again */
    close(fd);
    free(again);
    /* cut short (as by a full disk before an older memprof renamed it): made again */
    ck_assert_int_eq(truncate(copy, first.st_size / 2), 0);
    fd = open_copy(zdebug, &again);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &second), 0);
    ck_assert_int_eq(second.st_size, first.st_size);
    assert_same_sections(fd, reference);
    ck_assert_int_eq(cached_files(home), 1);
    close(fd);
    free(again);
    free(copy);
}
END_TEST

START_TEST(test_nothing_written_when_not_wanted_or_not_possible)
{
    char *copy;
    /* no compressed section: the file is read as it is */
    const char *home = fresh_cache("plain");
    ck_assert_int_eq(open_copy(plain, &copy), -1);
    ck_assert_int_eq(cached_files(home), -1);
    /* turned off */
    home = fresh_cache("off");
    setenv("MEMPROF_DEBUG_CACHE", "0", 1);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(cached_files(home), -1);
    /* a cache home that is a file: no directory can be made there */
    home = fresh_cache("a-file");
    FILE *f = fopen(home, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    /* another build-id than the module's: not this module's file */
    home = fresh_cache("other-id");
    int fd = open(zdebug, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    const unsigned char other[20] = { 1, 2, 3 };
    ck_assert_int_eq(sym_debug_cache_open(fd, zdebug, other, (int)sizeof other, &copy), -1);
    close(fd);
    ck_assert_int_eq(cached_files(home), -1);
}
END_TEST

static int build(void)
{
    snprintf(dir, sizeof dir, "%s/memprof-debugcache-XXXXXX", test_tmp_dir());
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(zdebug, sizeof zdebug, "%s/target.zdebug", dir);
    snprintf(plain, sizeof plain, "%s/target.debug", dir);
    snprintf(reference, sizeof reference, "%s/target.reference", dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && gcc -O0 -g -gz=none -o target '%s'"
             " && objcopy --only-keep-debug target '%s'"
             " && objcopy --only-keep-debug --compress-debug-sections=zlib target '%s'"
             " && objcopy --decompress-debug-sections '%s' '%s'"
             " && readelf -SW '%s' | grep -q '\\.debug_info .* C '",
             dir, repo_path("tests/fixtures/sym_target.c"), plain, zdebug, zdebug, reference, zdebug);
    return sh(cmd);
}

static Suite *debug_cache_suite(void)
{
    Suite *suite = suite_create("debug_cache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_copy_is_the_inflated_file);
    tcase_add_test(tc, test_copy_reused_then_remade_when_damaged);
    tcase_add_test(tc, test_nothing_written_when_not_wanted_or_not_possible);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    elf_version(EV_CURRENT);
    if (build() != 0)
        return EXIT_FAILURE;
    SRunner *runner = srunner_create(debug_cache_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
