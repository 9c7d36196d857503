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
 * original).  Hostile caches (the suite runs as root, as `sudo memprof -p`
 * does): a symlinked debug directory or parent, a directory of another
 * user's or writable by all, root with another user's HOME, a FIFO at the
 * copy's name, a copy with another build-id, a file whose headers claim
 * gigabytes: nothing is written outside, nothing hangs, nothing wrong is
 * used.  (test_symbolizer checks the lines through such caches.) */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* The copy's file name (without its directory), made in a scratch cache. */
static void copy_base_name(char *out, size_t size)
{
    fresh_cache("scratch");
    char *copy;
    int fd = open_copy(zdebug, &copy);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(out, size, "%s", strrchr(copy, '/') + 1);
    free(copy);
}

START_TEST(test_symlinked_directories_are_not_followed)
{
    char cmd[4096], outside[700], *copy;
    /* HOME/memprof/debug -> a directory elsewhere */
    const char *home = fresh_cache("symlink-debug");
    snprintf(outside, sizeof outside, "%s/outside-debug", dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -m 700 '%s' && mkdir -p -m 700 '%s/memprof' && ln -s '%s' '%s/memprof/debug'",
             outside, outside, home, outside, home);
    ck_assert_int_eq(sh(cmd), 0);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(count_entries(outside), 0);
    /* HOME/memprof -> a directory elsewhere (holding a debug directory) */
    home = fresh_cache("symlink-parent");
    snprintf(outside, sizeof outside, "%s/outside-parent", dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p -m 700 '%s/debug' && mkdir -m 700 '%s' && ln -s '%s' '%s/memprof'",
             outside, outside, home, outside, home);
    ck_assert_int_eq(sh(cmd), 0);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(count_entries(outside), 1);
    snprintf(cmd, sizeof cmd, "%s/debug", outside);
    ck_assert_int_eq(count_entries(cmd), 0);
}
END_TEST

START_TEST(test_directory_not_ours_alone_keeps_no_cache)
{
    if (geteuid() != 0)
        return; /* needs root: it gives files to nobody */
    char cmd[4096], *copy;
    /* the debug directory belongs to nobody */
    const char *home = fresh_cache("nobodys");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof/debug' && chown nobody '%s/memprof/debug'", home, home);
    ck_assert_int_eq(sh(cmd), 0);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(cached_files(home), 0);
    /* the memprof directory is writable by all (its debug directory ours) */
    home = fresh_cache("world-writable");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof/debug' && chmod 0777 '%s/memprof'", home, home);
    ck_assert_int_eq(sh(cmd), 0);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(cached_files(home), 0);
    /* the debug directory itself 0777 */
    home = fresh_cache("world-writable-debug");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof/debug' && chmod 0777 '%s/memprof/debug'", home, home);
    ck_assert_int_eq(sh(cmd), 0);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(cached_files(home), 0);
}
END_TEST

/* The report's note when a cache directory is not private, and only then:
 * a compressed file read without a cache because of it.  Its words are
 * the directory's path and the fix. */
static void expect_note(const char *file, const char *dir_path, const char *how)
{
    const char *note;
    unsigned before = sym_debug_cache_refusals(&note);
    char *copy;
    ck_assert_int_eq(open_copy(file, &copy), -1);
    unsigned after = sym_debug_cache_refusals(&note);
    if (!how) {
        ck_assert_uint_eq(after, before);
        return;
    }
    ck_assert_uint_eq(after, before + 1);
    char want[8192];
    if (strcmp(how, "writable") == 0)
        snprintf(want, sizeof want,
                 "memprof keeps no debug cache: %s is writable by its group or others, so compressed debug "
                 "information is inflated at every run (chmod 700 %s, or MEMPROF_DEBUG_CACHE=0 to silence this)",
                 dir_path, dir_path);
    else
        snprintf(want, sizeof want,
                 "memprof keeps no debug cache: %s belongs to user %s, not to you, so compressed debug "
                 "information is inflated at every run (set XDG_CACHE_HOME to a directory of yours, or "
                 "MEMPROF_DEBUG_CACHE=0 to silence this)", dir_path, how);
    ck_assert_str_eq(note, want);
}

START_TEST(test_directory_not_private_is_noted)
{
    char cmd[4096], path[800];
    /* the debug directory writable by all */
    const char *home = fresh_cache("noted-debug");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof/debug' && chmod 0777 '%s/memprof/debug'", home, home);
    ck_assert_int_eq(sh(cmd), 0);
    snprintf(path, sizeof path, "%s/memprof/debug", home);
    expect_note(zdebug, path, "writable");
    /* nothing to inflate, or the cache turned off: nothing to say */
    expect_note(plain, path, NULL);
    setenv("MEMPROF_DEBUG_CACHE", "0", 1);
    expect_note(zdebug, path, NULL);
    unsetenv("MEMPROF_DEBUG_CACHE");
    /* the cache home itself writable by its group (a shared home) */
    home = fresh_cache("noted-home");
    snprintf(cmd, sizeof cmd, "mkdir -m 770 '%s' && chmod 0770 '%s'", home, home);
    ck_assert_int_eq(sh(cmd), 0);
    expect_note(zdebug, home, "writable");
    ck_assert_int_eq(count_entries(home), 0);
    /* HOME's .cache (no XDG_CACHE_HOME) writable by others */
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    home = fresh_cache("noted-dot-cache");
    unsetenv("XDG_CACHE_HOME");
    snprintf(cmd, sizeof cmd, "mkdir -m 700 '%s' && mkdir -m 700 '%s/.cache' && chmod 0757 '%s/.cache'", home, home,
             home);
    ck_assert_int_eq(sh(cmd), 0);
    setenv("HOME", home, 1);
    snprintf(path, sizeof path, "%s/.cache", home);
    expect_note(zdebug, path, "writable");
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
    /* a symlinked directory is refused without this note (not a matter of
     * permissions: test_symlinked_directories_are_not_followed) */
    home = fresh_cache("noted-link");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof' '%s-out' && ln -s '%s-out' '%s/memprof/debug'", home,
             home, home, home);
    ck_assert_int_eq(sh(cmd), 0);
    expect_note(zdebug, NULL, NULL);
    if (geteuid() != 0)
        return; /* the rest gives files to nobody */
    home = fresh_cache("noted-nobody");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof/debug' && chown nobody '%s/memprof/debug'", home, home);
    ck_assert_int_eq(sh(cmd), 0);
    snprintf(path, sizeof path, "%s/memprof/debug", home);
    char uid[32];
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    snprintf(uid, sizeof uid, "%u", (unsigned)st.st_uid);
    ck_assert_uint_ne(st.st_uid, 0);
    expect_note(zdebug, path, uid);
}
END_TEST

/* root (the suite's user) with the HOME of another user, as after sudo -E */
START_TEST(test_root_with_another_users_home_writes_nothing)
{
    if (geteuid() != 0)
        return; /* needs root: it gives files to nobody */
    char home[700], cmd[4096], *copy;
    snprintf(home, sizeof home, "%s/alice", dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -m 755 '%s' && chown nobody '%s'", home, home, home);
    ck_assert_int_eq(sh(cmd), 0);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("MEMPROF_DEBUG_CACHE");
    setenv("HOME", home, 1);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(count_entries(home), 0);
    /* the same through XDG_CACHE_HOME */
    setenv("XDG_CACHE_HOME", home, 1);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(count_entries(home), 0);
}
END_TEST

START_TEST(test_fifo_at_the_copys_name_does_not_hang)
{
    char name[300], cmd[4096], *copy;
    copy_base_name(name, sizeof name);
    const char *home = fresh_cache("fifo");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof/debug' && mkfifo '%s/memprof/debug/%s'", home, home, name);
    ck_assert_int_eq(sh(cmd), 0);
    alarm(20); /* bounded: a hang is a failure, not a stuck suite */
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    alarm(0);
    snprintf(cmd, sizeof cmd, "test -p '%s/memprof/debug/%s'", home, name); /* left alone */
    ck_assert_int_eq(sh(cmd), 0);
    ck_assert_int_eq(cached_files(home), 1);
}
END_TEST

/* The section header of `section` in the file at fd. */
static GElf_Shdr section_header(int fd, const char *section)
{
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    ck_assert_ptr_nonnull(elf);
    size_t strndx;
    ck_assert_int_eq(elf_getshdrstrndx(elf, &strndx), 0);
    GElf_Shdr found = { 0 };
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        ck_assert_ptr_nonnull(gelf_getshdr(scn, &shdr));
        if (strcmp(elf_strptr(elf, strndx, shdr.sh_name), section) == 0)
            found = shdr;
    }
    elf_end(elf);
    ck_assert_msg(found.sh_size > 0, "no %s", section);
    return found;
}

static int same_build_id(int fd_a, const char *path_b)
{
    int fd_b = open(path_b, O_RDONLY);
    ck_assert_int_ge(fd_b, 0);
    Elf *a = elf_begin(fd_a, ELF_C_READ, NULL), *b = elf_begin(fd_b, ELF_C_READ, NULL);
    const void *ia, *ib;
    ssize_t la = dwelf_elf_gnu_build_id(a, &ia), lb = dwelf_elf_gnu_build_id(b, &ib);
    int same = la > 0 && la == lb && memcmp(ia, ib, (size_t)la) == 0;
    elf_end(a);
    elf_end(b);
    close(fd_b);
    return same;
}

START_TEST(test_copy_with_another_build_id_is_not_used)
{
    if (geteuid() != 0)
        return; /* needs root: it gives files to nobody */
    const char *home = fresh_cache("build-id");
    char *copy, *again;
    int fd = open_copy(zdebug, &copy);
    ck_assert_int_ge(fd, 0);
    struct stat first;
    ck_assert_int_eq(fstat(fd, &first), 0);
    /* the copy's build-id changed in place: same size, other bytes */
    GElf_Shdr note = section_header(fd, ".note.gnu.build-id");
    close(fd);
    int rw = open(copy, O_RDWR);
    ck_assert_int_ge(rw, 0);
    unsigned char byte;
    off_t last = (off_t)(note.sh_offset + note.sh_size - 1);
    ck_assert_int_eq(pread(rw, &byte, 1, last), 1);
    byte ^= 0xff;
    ck_assert_int_eq(pwrite(rw, &byte, 1, last), 1);
    ck_assert_int_eq(same_build_id(rw, zdebug), 0);
    close(rw);
    /* ours: made again, the original's build-id and bytes */
    fd = open_copy(zdebug, &again);
    ck_assert_int_ge(fd, 0);
    struct stat second;
    ck_assert_int_eq(fstat(fd, &second), 0);
    unsigned char now;
    ck_assert_int_eq(pread(fd, &now, 1, last), 1);
    ck_assert_uint_eq(now, (unsigned char)(byte ^ 0xff)); /* the original's byte again */
    ck_assert_int_eq(second.st_size, first.st_size);
    ck_assert_int_eq(same_build_id(fd, zdebug), 1);
    assert_same_sections(fd, reference);
    close(fd);
    free(again);
    /* not ours (nobody's), damaged the same way: not used, left alone */
    rw = open(copy, O_RDWR);
    ck_assert_int_ge(rw, 0);
    ck_assert_int_eq(pwrite(rw, &byte, 1, last), 1);
    close(rw);
    ck_assert_int_eq(chown(copy, 65534, 65534), 0);
    ck_assert_int_eq(open_copy(zdebug, &again), -1);
    ck_assert_int_eq(cached_files(home), 1);
    free(copy);
}
END_TEST

START_TEST(test_new_version_removes_the_old_copy)
{
    const char *home = fresh_cache("versions");
    char *first, *second, cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s.v'", zdebug, zdebug);
    ck_assert_int_eq(sh(cmd), 0);
    char path[700];
    snprintf(path, sizeof path, "%s.v", zdebug);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    int cached = sym_debug_cache_open(fd, zdebug, NULL, 0, &first);
    ck_assert_int_ge(cached, 0);
    close(cached);
    close(fd);
    /* the debug file changes (an upgrade): a new copy, the old one gone */
    snprintf(cmd, sizeof cmd, "touch -d '2001-02-03 04:05:06' '%s'", path);
    ck_assert_int_eq(sh(cmd), 0);
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    cached = sym_debug_cache_open(fd, zdebug, NULL, 0, &second);
    ck_assert_int_ge(cached, 0);
    close(fd);
    ck_assert_str_ne(first, second);
    ck_assert_int_eq(access(first, F_OK), -1);
    ck_assert_int_eq(access(second, F_OK), 0);
    ck_assert_int_eq(cached_files(home), 1);
    assert_same_sections(cached, reference);
    close(cached);
    free(first);
    free(second);
}
END_TEST

START_TEST(test_marked_bad_copy_is_not_made_again)
{
    char name[300], cmd[4096], *copy;
    copy_base_name(name, sizeof name);
    const char *home = fresh_cache("marked");
    snprintf(cmd, sizeof cmd, "mkdir -p -m 700 '%s/memprof/debug' && touch '%s/memprof/debug/%s.bad'", home, home, name);
    ck_assert_int_eq(sh(cmd), 0);
    ck_assert_int_eq(open_copy(zdebug, &copy), -1);
    ck_assert_int_eq(cached_files(home), 1); /* the marker alone */
}
END_TEST

/* A compressed section whose header claims 4 GiB inflated: not copied. */
START_TEST(test_file_claiming_gigabytes_is_not_copied)
{
    const char *home = fresh_cache("huge");
    char path[700], cmd[4096], *copy;
    snprintf(path, sizeof path, "%s.huge", zdebug);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", zdebug, path);
    ck_assert_int_eq(sh(cmd), 0);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    GElf_Shdr info = section_header(fd, ".debug_info");
    ck_assert_uint_ne(info.sh_flags & SHF_COMPRESSED, 0);
    uint64_t claim = 4ull << 30; /* Elf64_Chdr: ch_type, ch_reserved, then ch_size */
    ck_assert_int_eq(pwrite(fd, &claim, sizeof claim, (off_t)info.sh_offset + 8), (ssize_t)sizeof claim);
    ck_assert_int_eq(sym_debug_cache_open(fd, path, NULL, 0, &copy), -1);
    close(fd);
    ck_assert_int_le(cached_files(home), 0);
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
    tcase_add_test(tc, test_symlinked_directories_are_not_followed);
    tcase_add_test(tc, test_directory_not_ours_alone_keeps_no_cache);
    tcase_add_test(tc, test_directory_not_private_is_noted);
    tcase_add_test(tc, test_root_with_another_users_home_writes_nothing);
    tcase_add_test(tc, test_fifo_at_the_copys_name_does_not_hang);
    tcase_add_test(tc, test_copy_with_another_build_id_is_not_used);
    tcase_add_test(tc, test_new_version_removes_the_old_copy);
    tcase_add_test(tc, test_marked_bad_copy_is_not_made_again);
    tcase_add_test(tc, test_file_claiming_gigabytes_is_not_copied);
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
