/* memprof: tests of the symbolizer (src/symbols/).
 *
 * main() builds the fixtures from tests/fixtures/sym_* into a temporary
 * directory (-O0 -g, -O2 -g, no -g, split debug behind a .gnu_debuglink
 * (also compressed, as Debian's -dbg packages are: read through its inflated copy),
 * .debug_aranges removed, a dlopen'd plugin, a C++ program).  Each test runs a
 * fixture, reads the addresses it prints, opens the symbolizer on its pid and
 * checks the frames against "@line NAME" markers in the fixture sources. */
#define _GNU_SOURCE
#include <check.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "symbols/symbolizer.h"
#include "symbols/sym_runtime.h"
#include "symbols/sym_strings.h"

#define TARGET_SRC "tests/fixtures/sym_target.c"
#define PLUGIN_SRC "tests/fixtures/sym_plugin.c"
#define VECTOR_SRC "tests/fixtures/sym_vector.cpp"

static char build_dir[256];
static char bin_o0[512], bin_o2[512], bin_nodebug[512], bin_debuglink[512], bin_zdebuglink[512],
    bin_noaranges[512], bin_plugin[512], bin_vector[512], bin_clang[512];
static int have_clang;

/* ---- helpers ------------------------------------------------------------ */

static int run_command(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_command(const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "test_symbolizer: failed (%d): %s\n", rc, cmd);
    free(cmd);
    return rc;
}

/* Line number of the "@line NAME" marker in `path` (0 when missing). */
static int marker_line(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char text[1024], marker[128];
    snprintf(marker, sizeof marker, "@line %s", name);
    size_t mlen = strlen(marker);
    int lineno = 0, found = 0;
    while (!found && fgets(text, sizeof text, f) != NULL) {
        lineno++;
        const char *hit = strstr(text, marker);
        if (hit != NULL && (hit[mlen] == ' ' || hit[mlen] == '\n' || hit[mlen] == '*'))
            found = lineno;
    }
    fclose(f);
    return found;
}

static const char *base_name(const char *path)
{
    if (path == NULL)
        return "(null)";
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

struct fixture {
    pid_t pid;
    FILE *from_child, *to_child;
    int naddrs;
    char names[64][32];
    uint64_t addrs[64];
};

/* Read "name 0xADDR" lines up to "ready". */
static void fixture_read(struct fixture *fx)
{
    char text[512];
    while (fgets(text, sizeof text, fx->from_child) != NULL && strncmp(text, "ready", 5) != 0) {
        char name[32];
        uint64_t addr;
        if (fx->naddrs < 64 && sscanf(text, "%31s 0x%" SCNx64, name, &addr) == 2) {
            strcpy(fx->names[fx->naddrs], name);
            fx->addrs[fx->naddrs++] = addr;
        }
    }
}

static void fixture_start(struct fixture *fx, const char *binary)
{
    int to[2], from[2];
    memset(fx, 0, sizeof *fx);
    ck_assert_int_eq(pipe(to), 0);
    ck_assert_int_eq(pipe(from), 0);
    fx->pid = fork();
    ck_assert_int_ge(fx->pid, 0);
    if (fx->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        execl(binary, binary, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    fx->to_child = fdopen(to[1], "w");
    fx->from_child = fdopen(from[0], "r");
    fixture_read(fx);
    ck_assert_msg(fx->naddrs > 0, "fixture %s printed no addresses", binary);
}

static uint64_t fixture_addr(const struct fixture *fx, const char *name)
{
    for (int i = fx->naddrs - 1; i >= 0; i--)
        if (strcmp(fx->names[i], name) == 0)
            return fx->addrs[i];
    ck_abort_msg("fixture did not print %s", name);
    return 0;
}

static void fixture_stop(struct fixture *fx)
{
    fclose(fx->to_child);       /* EOF on its stdin: it exits */
    int status;
    ck_assert_int_eq(waitpid(fx->pid, &status, 0), fx->pid);
    fclose(fx->from_child);
}

static struct mp_symbolizer *open_on(const struct fixture *fx)
{
    char err[256] = "";
    struct mp_symbolizer *s = mp_symbolizer_open(fx->pid, err, sizeof err);
    ck_assert_msg(s != NULL, "mp_symbolizer_open: %s", err);
    return s;
}

static void assert_frame(const struct mp_frame_info *f, const char *function,
                         const char *file_base, int line)
{
    ck_assert_ptr_nonnull(f->function);
    ck_assert_ptr_nonnull(f->module);
    ck_assert_str_eq(f->function, function);
    ck_assert_ptr_nonnull(f->file);
    ck_assert_msg(f->file[0] == '/', "file %s is not absolute", f->file);
    ck_assert_str_eq(base_name(f->file), file_base);
    ck_assert_int_eq(f->line, line);
}

/* The direct call, inline chain and function extent checks shared by every
 * debug-info flavour of the target fixture; the symbolizer's warnings:
 * none, or `warning` alone. */
static void check_target_lines_warned(const char *binary, int check_extent, const char *warning)
{
    struct fixture fx;
    fixture_start(&fx, binary);
    struct mp_symbolizer *s = open_on(&fx);
    struct mp_frame_info frames[16];

    int n = mp_symbolizer_resolve(s, fixture_addr(&fx, "direct"), 1, frames, 16);
    ck_assert_int_eq(n, 1);
    assert_frame(&frames[0], "main", "sym_target.c", marker_line(TARGET_SRC, "direct_call"));
    ck_assert_int_eq(frames[0].is_runtime, 0);
    ck_assert_str_eq(frames[0].module, binary);

    n = mp_symbolizer_resolve(s, fixture_addr(&fx, "inlined"), 1, frames, 16);
    ck_assert_int_eq(n, 2);
    assert_frame(&frames[0], "sym_inlined", "sym_target.c", marker_line(TARGET_SRC, "inl_call"));
    assert_frame(&frames[1], "main", "sym_target.c", marker_line(TARGET_SRC, "inl_site"));
    ck_assert_int_eq(frames[0].is_runtime, 0);
    ck_assert_int_eq(frames[1].is_runtime, 0);

    n = mp_symbolizer_resolve(s, fixture_addr(&fx, "known"), 0, frames, 16);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(frames[0].function, "sym_known");
    ck_assert_str_eq(base_name(frames[0].func_file), "sym_target.c");
    ck_assert_int_eq(frames[0].func_first_line, marker_line(TARGET_SRC, "known_first"));
    if (check_extent)
        ck_assert_int_eq(frames[0].func_last_line, marker_line(TARGET_SRC, "known_last"));

    n = mp_symbolizer_resolve(s, fixture_addr(&fx, "split"), 0, frames, 16);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(frames[0].function, "sym_split");
    ck_assert_int_eq(frames[0].func_first_line, marker_line(TARGET_SRC, "split_first"));
    if (check_extent)
        ck_assert_int_eq(frames[0].func_last_line, marker_line(TARGET_SRC, "split_last"));

    const char *const *warnings;
    ck_assert_uint_eq(mp_symbolizer_warnings(s, &warnings), warning ? 1 : 0);
    if (warning)
        ck_assert_str_eq(warnings[0], warning);
    mp_symbolizer_close(s);
    fixture_stop(&fx);
}

static void check_target_lines(const char *binary, int check_extent)
{
    check_target_lines_warned(binary, check_extent, NULL);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_lines_and_inline_chain_O0)
{
    check_target_lines(bin_o0, 1);
}
END_TEST

START_TEST(test_lines_and_inline_chain_O2)
{
    check_target_lines(bin_o2, 1);
}
END_TEST

START_TEST(test_split_debug_via_debuglink)
{
    ck_assert_int_eq(run_command("! readelf -S %s | grep -q debug_info", bin_debuglink), 0);
    check_target_lines(bin_debuglink, 1);
}
END_TEST

/* The same with the debug file's sections compressed: read through the
 * inflated copy written into the cache directory on first use, then reused. */
START_TEST(test_compressed_split_debug_via_cache)
{
    char copies[700];
    snprintf(copies, sizeof copies, "%s/xdg/memprof/debug", build_dir);
    ck_assert_int_eq(run_command("readelf -SW %s.debug | grep -q '\\.debug_info .* C '", bin_zdebuglink), 0);
    for (int run = 0; run < 2; run++) {
        check_target_lines(bin_zdebuglink, 1);
        ck_assert_int_eq(run_command("test $(ls %s | grep -c '^target_zdebuglink-') = 1", copies), 0);
    }
}
END_TEST

/* Through caches that must not be used (a symlinked debug directory, a
 * FIFO at the copy's name, a directory writable by all): the lines are
 * the same, read from the original, and nothing is written elsewhere.
 * The directory writable by all gets the one note (its path, the fix). */
START_TEST(test_compressed_split_debug_through_hostile_caches)
{
    char xdg[700], copies[800];
    snprintf(xdg, sizeof xdg, "%s/xdg", build_dir);
    snprintf(copies, sizeof copies, "%s/memprof/debug", xdg);
    setenv("XDG_CACHE_HOME", xdg, 1);
    check_target_lines(bin_zdebuglink, 1); /* the copy's name, learnt in the normal cache */
    ck_assert_int_eq(run_command("rm -rf %s/hostile* && mkdir -m 700 %s/hostile-out %s/hostile-fifo"
                                 " %s/hostile-link %s/hostile-open && mkdir -p -m 700 %s/hostile-fifo/memprof/debug"
                                 " %s/hostile-link/memprof %s/hostile-open/memprof/debug"
                                 " && ln -s %s/hostile-out %s/hostile-link/memprof/debug"
                                 " && chmod 777 %s/hostile-open/memprof/debug"
                                 " && mkfifo %s/hostile-fifo/memprof/debug/$(ls %s | grep '^target_zdebuglink-')",
                                 build_dir, build_dir, build_dir, build_dir, build_dir, build_dir, build_dir,
                                 build_dir, build_dir, build_dir, build_dir, build_dir, copies),
                     0);
    const char *homes[] = { "hostile-link", "hostile-fifo", "hostile-open" };
    for (int i = 0; i < 3; i++) {
        snprintf(xdg, sizeof xdg, "%s/%s", build_dir, homes[i]);
        setenv("XDG_CACHE_HOME", xdg, 1);
        char note[4096];
        snprintf(note, sizeof note,
                 "memprof keeps no debug cache: %s/memprof/debug is writable by its group or others, so compressed "
                 "debug information is inflated at every run (chmod 700 %s/memprof/debug, or "
                 "MEMPROF_DEBUG_CACHE=0 to silence this)", xdg, xdg);
        check_target_lines_warned(bin_zdebuglink, 1, i == 2 ? note : NULL);
    }
    ck_assert_int_eq(run_command("test -z \"$(find %s/hostile-out %s/hostile-open/memprof/debug -mindepth 1)\""
                                 " && test $(ls -A %s/hostile-fifo/memprof/debug | wc -l) = 1",
                                 build_dir, build_dir, build_dir),
                     0);
}
END_TEST

/* Premise: libdw 0.188 cannot map the address to a CU without aranges. */
static void assert_addrdie_fails(const char *binary, const char *symbol)
{
    static const Dwfl_Callbacks offline = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
    };
    Dwfl *dwfl = dwfl_begin(&offline);
    ck_assert_ptr_nonnull(dwfl);
    Dwfl_Module *mod = dwfl_report_offline(dwfl, "target", binary, -1);
    ck_assert_ptr_nonnull(mod);
    dwfl_report_end(dwfl, NULL, NULL);
    GElf_Addr addr = 0;
    int nsyms = dwfl_module_getsymtab(mod);
    for (int i = 0; i < nsyms && addr == 0; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL);
        if (name != NULL && strcmp(name, symbol) == 0)
            addr = value;
    }
    ck_assert_uint_ne(addr, 0);
    Dwarf_Addr bias;
    ck_assert_ptr_nonnull(dwfl_module_getdwarf(mod, &bias));
    ck_assert_ptr_null(dwfl_module_addrdie(mod, addr, &bias));
    dwfl_end(dwfl);
}

START_TEST(test_without_debug_aranges)
{
    assert_addrdie_fails(bin_noaranges, "sym_known");
    check_target_lines(bin_noaranges, 1);
}
END_TEST

/* clang omits .debug_aranges and numbers the primary file 0 (DWARF 5). */
START_TEST(test_clang_build)
{
    if (!have_clang)
        return;
    assert_addrdie_fails(bin_clang, "sym_known");
    check_target_lines(bin_clang, 0);
}
END_TEST

START_TEST(test_runtime_frames_and_vdso)
{
    struct fixture fx;
    fixture_start(&fx, bin_o0);
    struct mp_symbolizer *s = open_on(&fx);
    struct mp_frame_info frames[16];

    int n = mp_symbolizer_resolve(s, fixture_addr(&fx, "libc_malloc"), 0, frames, 16);
    ck_assert_int_ge(n, 1);
    ck_assert_msg(strncmp(base_name(frames[0].module), "libc.so", 7) == 0, "module %s", frames[0].module);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(frames[i].is_runtime, 1);
    ck_assert_msg(strstr(frames[0].function, "malloc") != NULL, "function %s", frames[0].function);

    n = mp_symbolizer_resolve(s, fixture_addr(&fx, "libc_return"), 1, frames, 16);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(frames[0].is_runtime, 1);
    ck_assert_msg(strncmp(base_name(frames[0].module), "libc.so", 7) == 0, "module %s", frames[0].module);

    n = mp_symbolizer_resolve(s, fixture_addr(&fx, "vdso"), 0, frames, 16);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(frames[0].module, "[vdso]");
    ck_assert_ptr_nonnull(frames[0].function);
    ck_assert_int_eq(frames[0].is_runtime, 1);

    const char *const *warnings;
    ck_assert_uint_eq(mp_symbolizer_warnings(s, &warnings), 0);   /* runtime: no warning */
    mp_symbolizer_close(s);
    fixture_stop(&fx);
}
END_TEST

START_TEST(test_no_debug_info_warns_once)
{
    struct fixture fx;
    fixture_start(&fx, bin_nodebug);
    struct mp_symbolizer *s = open_on(&fx);
    struct mp_frame_info frames[16];

    int n = mp_symbolizer_resolve(s, fixture_addr(&fx, "direct"), 1, frames, 16);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(frames[0].function, "main");
    ck_assert_ptr_null(frames[0].file);
    ck_assert_int_eq(frames[0].line, 0);
    ck_assert_int_eq(frames[0].is_runtime, 0);
    ck_assert_str_eq(frames[0].module, bin_nodebug);

    n = mp_symbolizer_resolve(s, fixture_addr(&fx, "known"), 0, frames, 16);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(frames[0].function, "sym_known");
    ck_assert_int_eq(frames[0].func_first_line, 0);
    mp_symbolizer_resolve(s, fixture_addr(&fx, "inlined"), 1, frames, 16);
    mp_symbolizer_resolve(s, fixture_addr(&fx, "libc_malloc"), 0, frames, 16);

    const char *const *warnings;
    ck_assert_uint_eq(mp_symbolizer_warnings(s, &warnings), 1);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s has no debug info: lines are shown as function "
             "names; rebuild it with -g", bin_nodebug);
    ck_assert_str_eq(warnings[0], expected);
    mp_symbolizer_close(s);
    fixture_stop(&fx);
}
END_TEST

START_TEST(test_dlopened_module_found_on_miss)
{
    struct fixture fx;
    fixture_start(&fx, bin_o0);
    struct mp_symbolizer *s = open_on(&fx);     /* before the plugin is mapped */
    struct mp_frame_info frames[16];
    mp_symbolizer_resolve(s, fixture_addr(&fx, "direct"), 1, frames, 16);

    fprintf(fx.to_child, "load %s\n", bin_plugin);
    fflush(fx.to_child);
    fixture_read(&fx);
    uint64_t plugin = fixture_addr(&fx, "plugin");
    ck_assert_uint_ne(plugin, 0);

    int n = mp_symbolizer_resolve(s, plugin, 0, frames, 16);
    ck_assert_int_eq(n, 1);
    assert_frame(&frames[0], "sym_plugin_func", "sym_plugin.c", marker_line(PLUGIN_SRC, "plugin_entry"));
    ck_assert_str_eq(frames[0].module, bin_plugin);
    mp_symbolizer_close(s);
    fixture_stop(&fx);
}
END_TEST

/* libtool's case: the program in a .libs directory beside a library built
 * with -g (jq/.libs/jq and jq/.libs/libjq.so.1) loads another copy of
 * that library, built without -g (the system's): the note about it names
 * the .libs directory and LD_LIBRARY_PATH.  A library of another name, or
 * the .libs copy itself, gets no such hint. */
START_TEST(test_no_debug_info_names_libtool_build)
{
    char libs[700], sys[700], prog[800], sys_lib[800], cmd[8192];
    snprintf(libs, sizeof libs, "%s/lt/.libs", build_dir);
    snprintf(sys, sizeof sys, "%s/lt-sys", build_dir);
    snprintf(prog, sizeof prog, "%s/target", libs);
    snprintf(sys_lib, sizeof sys_lib, "%s/sym_plugin.so", sys);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s && cp %s %s && gcc -O0 -g -shared -fPIC -o %s/sym_plugin.so " PLUGIN_SRC
             " && gcc -O0 -shared -fPIC -o %s " PLUGIN_SRC " && cp %s %s/other_plugin.so",
             libs, sys, bin_o0, prog, libs, sys_lib, sys_lib, sys);
    ck_assert_int_eq(system(cmd), 0);
    const char *loads[] = { sys_lib, NULL };
    char other[800];
    snprintf(other, sizeof other, "%s/other_plugin.so", sys);
    loads[1] = other;
    for (int i = 0; i < 2; i++) {
        struct fixture fx;
        fixture_start(&fx, prog);
        struct mp_symbolizer *s = open_on(&fx);
        fprintf(fx.to_child, "load %s\n", loads[i]);
        fflush(fx.to_child);
        fixture_read(&fx);
        struct mp_frame_info frames[16];
        ck_assert_int_eq(mp_symbolizer_resolve(s, fixture_addr(&fx, "plugin"), 0, frames, 16), 1);
        ck_assert_str_eq(frames[0].function, "sym_plugin_func");
        const char *const *warnings;
        ck_assert_uint_eq(mp_symbolizer_warnings(s, &warnings), 1);
        char want[8192];
        if (i == 0)
            snprintf(want, sizeof want, "%s has no debug info: lines are shown as function names; rebuild it with -g "
                     "(a build of it is in %s: LD_LIBRARY_PATH=%s runs the program with that one)", loads[i], libs,
                     libs);
        else
            snprintf(want, sizeof want, "%s has no debug info: lines are shown as function names; rebuild it with -g",
                     loads[i]);
        ck_assert_str_eq(warnings[0], want);
        mp_symbolizer_close(s);
        fixture_stop(&fx);
    }
}
END_TEST

/* The agent's view of a push_back: operator new's caller chain.  The frames
 * inlined from /usr/include/c++ are runtime, the user line that called
 * push_back is the first frame that is not. */
START_TEST(test_cxx_attribution_through_inlined_headers)
{
    struct fixture fx;
    fixture_start(&fx, bin_vector);
    struct mp_symbolizer *s = open_on(&fx);
    const struct mp_frame_info *user = NULL;
    int saw_header_frame = 0, saw_push_back = 0;
    struct mp_frame_info frames[64];
    /* Entry 0 is operator new itself (the fixture's hook). */
    for (int i = 1; i < fx.naddrs && user == NULL; i++) {
        if (strcmp(fx.names[i], "frame") != 0)
            continue;
        int n = mp_symbolizer_resolve(s, fx.addrs[i], 1, frames, 64);
        for (int j = 0; j < n && user == NULL; j++) {
            if (!frames[j].is_runtime) {
                user = &frames[j];
            } else {
                if (frames[j].file && strncmp(frames[j].file, "/usr/include/c++/", 17) == 0)
                    saw_header_frame = 1;
                if (strstr(frames[j].function, "push_back") != NULL)
                    saw_push_back = 1;
            }
        }
    }
    ck_assert_ptr_nonnull(user);
    assert_frame(user, "main", "sym_vector.cpp", marker_line(VECTOR_SRC, "push_back"));
    ck_assert_int_eq(saw_header_frame, 1);
    ck_assert_int_eq(saw_push_back, 1);     /* demangled, inlined into main */
    mp_symbolizer_close(s);
    fixture_stop(&fx);
}
END_TEST

START_TEST(test_cache_truncation_unknown_and_reset)
{
    struct fixture fx;
    fixture_start(&fx, bin_o2);
    struct mp_symbolizer *s = open_on(&fx);
    struct mp_frame_info a[16], b[16];
    uint64_t pc = fixture_addr(&fx, "inlined");

    int n = mp_symbolizer_resolve(s, pc, 1, a, 16);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(mp_symbolizer_resolve(s, pc, 1, b, 16), 2);
    ck_assert_ptr_eq(a[0].function, b[0].function);     /* served from the cache */
    ck_assert_ptr_eq(a[1].file, b[1].file);
    ck_assert_int_eq(mp_symbolizer_resolve(s, pc, 1, b, 1), 1);
    ck_assert_str_eq(b[0].function, "sym_inlined");
    ck_assert_int_eq(mp_symbolizer_resolve(s, pc, 1, b, 0), 0);

    /* Not a return address: pc itself, a different cache entry. */
    ck_assert_int_ge(mp_symbolizer_resolve(s, pc, 0, b, 16), 1);

    n = mp_symbolizer_resolve(s, 0x10, 1, b, 16);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(b[0].module, "[unknown]");
    ck_assert_ptr_nonnull(b[0].function);
    ck_assert_ptr_null(b[0].file);

    mp_symbolizer_reset(s);
    n = mp_symbolizer_resolve(s, pc, 1, b, 16);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(b[1].function, "main");
    ck_assert_str_eq(a[0].function, "sym_inlined");    /* old strings still valid */
    mp_symbolizer_close(s);
    fixture_stop(&fx);
}
END_TEST

START_TEST(test_runtime_filter_rules)
{
    ck_assert_int_eq(sym_runtime_module("/usr/lib/x86_64-linux-gnu/libc.so.6"), 1);
    ck_assert_int_eq(sym_runtime_module("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"), 1);
    ck_assert_int_eq(sym_runtime_module("/lib64/ld-linux-x86-64.so.2"), 1);
    ck_assert_int_eq(sym_runtime_module("/opt/memprof/lib/libmemprof-agent.so"), 1);
    ck_assert_int_eq(sym_runtime_module("/usr/lib/x86_64-linux-gnu/libm.so.6"), 1);
    ck_assert_int_eq(sym_runtime_module("[vdso]"), 1);
    ck_assert_int_eq(sym_runtime_module("/usr/lib/x86_64-linux-gnu/libcrypto.so.3"), 0);
    ck_assert_int_eq(sym_runtime_module("/home/u/libcalc.so"), 0);
    ck_assert_int_eq(sym_runtime_module("/home/u/app"), 0);
    ck_assert_int_eq(sym_runtime_source("/usr/include/c++/12/bits/stl_vector.h"), 1);
    ck_assert_int_eq(sym_runtime_source("/usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h"), 1);
    ck_assert_int_eq(sym_runtime_source("/usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h"), 1);
    ck_assert_int_eq(sym_runtime_source("/usr/local/include/foo.h"), 1);
    ck_assert_int_eq(sym_runtime_source("/home/u/include/foo.h"), 0);
    ck_assert_int_eq(sym_runtime_source(NULL), 0);
}
END_TEST

START_TEST(test_path_normalisation)
{
    struct sym_string_pool *pool = sym_strings_create();
    ck_assert_ptr_nonnull(pool);
    ck_assert_str_eq(sym_strings_intern_path(pool, "/src/app", "./a/../b/./c.c"), "/src/app/b/c.c");
    ck_assert_str_eq(sym_strings_intern_path(pool, "/src/app/", "../lib//d.c"), "/src/lib/d.c");
    ck_assert_str_eq(sym_strings_intern_path(pool, "/ignored", "/abs/x/../y.c"), "/abs/y.c");
    ck_assert_str_eq(sym_strings_intern_path(pool, NULL, "rel.c"), "rel.c");
    ck_assert_ptr_eq(sym_strings_intern(pool, "same"), sym_strings_intern(pool, "same"));
    ck_assert_str_eq(sym_strings_intern_demangled(pool, "_ZN3foo3barEi"), "foo::bar(int)");
    ck_assert_str_eq(sym_strings_intern_demangled(pool, "plain_c"), "plain_c");
    sym_strings_destroy(pool);
}
END_TEST

/* ---- fixtures build and main ----------------------------------------------- */

static int build_fixtures(void)
{
    const char *tmp = getenv("MEMPROF_TEST_TMP");
    snprintf(build_dir, sizeof build_dir, "%s/memprof-symtest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(build_dir) == NULL)
        return -1;
    snprintf(bin_o0, sizeof bin_o0, "%s/target_O0", build_dir);
    snprintf(bin_o2, sizeof bin_o2, "%s/target_O2", build_dir);
    snprintf(bin_nodebug, sizeof bin_nodebug, "%s/target_nodebug", build_dir);
    snprintf(bin_debuglink, sizeof bin_debuglink, "%s/target_debuglink", build_dir);
    snprintf(bin_zdebuglink, sizeof bin_zdebuglink, "%s/target_zdebuglink", build_dir);
    snprintf(bin_noaranges, sizeof bin_noaranges, "%s/target_noaranges", build_dir);
    snprintf(bin_plugin, sizeof bin_plugin, "%s/sym_plugin.so", build_dir);
    snprintf(bin_vector, sizeof bin_vector, "%s/vector", build_dir);
    snprintf(bin_clang, sizeof bin_clang, "%s/target_clang", build_dir);
    have_clang = system("command -v clang >/dev/null 2>&1") == 0;
    if (have_clang && run_command("clang -O0 -g -o %s " TARGET_SRC, bin_clang))
        return -1;
    if (run_command("gcc -O0 -g -o %s " TARGET_SRC, bin_o0)
        || run_command("gcc -O2 -g -o %s " TARGET_SRC, bin_o2)
        || run_command("gcc -O2 -o %s " TARGET_SRC, bin_nodebug)
        || run_command("cp %s %s && cd %s && objcopy --only-keep-debug %s %s.debug"
                       " && objcopy --strip-debug %s && objcopy --add-gnu-debuglink=%s.debug %s",
                       bin_o0, bin_debuglink, build_dir, base_name(bin_debuglink),
                       base_name(bin_debuglink), base_name(bin_debuglink),
                       base_name(bin_debuglink), base_name(bin_debuglink))
        || run_command("cp %s %s && cd %s && objcopy --only-keep-debug --compress-debug-sections=zlib %s %s.debug"
                       " && objcopy --strip-debug %s && objcopy --add-gnu-debuglink=%s.debug %s",
                       bin_o0, bin_zdebuglink, build_dir, base_name(bin_zdebuglink),
                       base_name(bin_zdebuglink), base_name(bin_zdebuglink),
                       base_name(bin_zdebuglink), base_name(bin_zdebuglink))
        || run_command("objcopy --remove-section=.debug_aranges %s %s", bin_o0, bin_noaranges)
        || run_command("gcc -O0 -g -shared -fPIC -o %s " PLUGIN_SRC, bin_plugin)
        || run_command("g++ -O2 -g -o %s " VECTOR_SRC, bin_vector))
        return -1;
    return 0;
}

static Suite *symbolizer_suite(void)
{
    Suite *suite = suite_create("symbolizer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lines_and_inline_chain_O0);
    tcase_add_test(tc, test_lines_and_inline_chain_O2);
    tcase_add_test(tc, test_split_debug_via_debuglink);
    tcase_add_test(tc, test_compressed_split_debug_via_cache);
    tcase_add_test(tc, test_compressed_split_debug_through_hostile_caches);
    tcase_add_test(tc, test_without_debug_aranges);
    tcase_add_test(tc, test_clang_build);
    tcase_add_test(tc, test_runtime_frames_and_vdso);
    tcase_add_test(tc, test_no_debug_info_warns_once);
    tcase_add_test(tc, test_dlopened_module_found_on_miss);
    tcase_add_test(tc, test_no_debug_info_names_libtool_build);
    tcase_add_test(tc, test_cxx_attribution_through_inlined_headers);
    tcase_add_test(tc, test_cache_truncation_unknown_and_reset);
    tcase_add_test(tc, test_runtime_filter_rules);
    tcase_add_test(tc, test_path_normalisation);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    unsetenv("DEBUGINFOD_URLS");    /* hermetic: no debug info downloads */
    int ok = build_fixtures() == 0;
    char xdg[300]; /* inflated debug files go here, not into the user's cache */
    snprintf(xdg, sizeof xdg, "%s/xdg", build_dir);
    setenv("XDG_CACHE_HOME", xdg, 1);
    unsetenv("MEMPROF_DEBUG_CACHE");
    int failed = 1;
    if (ok) {
        SRunner *runner = srunner_create(symbolizer_suite());
        srunner_run_all(runner, CK_NORMAL);
        failed = srunner_ntests_failed(runner);
        srunner_free(runner);
    } else {
        fprintf(stderr, "test_symbolizer: cannot build the fixtures\n");
    }
    if (build_dir[0] != '\0' && strstr(build_dir, "XXXXXX") == NULL)
        run_command("rm -rf %s", build_dir);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
