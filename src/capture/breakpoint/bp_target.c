/* memprof: finding the allocator's entry points and the loader's hooks in a
 * target process (see bp_target.h).  Symbols come from the ELF files through
 * libelf; the load biases from the auxiliary vector (executable, ld.so) and
 * from the loader's link map (l_addr) for libraries. */
#define _GNU_SOURCE
#include "bp_target.h"
#include "supervise/procfs.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <fnmatch.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const fn_names[MP_FN_COUNT] = {
    [MP_FN_MALLOC] = "malloc",
    [MP_FN_FREE] = "free",
    [MP_FN_CALLOC] = "calloc",
    [MP_FN_REALLOC] = "realloc",
    [MP_FN_POSIX_MEMALIGN] = "posix_memalign",
    [MP_FN_ALIGNED_ALLOC] = "aligned_alloc",
    [MP_FN_MEMALIGN] = "memalign",
    [MP_FN_VALLOC] = "valloc",
    [MP_FN_PVALLOC] = "pvalloc",
    [MP_FN_REALLOCARRAY] = "reallocarray",
    [MP_FN_NEW] = "_Znwm",
    [MP_FN_NEW_ARRAY] = "_Znam",
    [MP_FN_NEW_NOTHROW] = "_ZnwmRKSt9nothrow_t",
    [MP_FN_NEW_ARRAY_NOTHROW] = "_ZnamRKSt9nothrow_t",
    [MP_FN_NEW_ALIGNED] = "_ZnwmSt11align_val_t",
    [MP_FN_NEW_ARRAY_ALIGNED] = "_ZnamSt11align_val_t",
    [MP_FN_NEW_ALIGNED_NOTHROW] = "_ZnwmSt11align_val_tRKSt9nothrow_t",
    [MP_FN_NEW_ARRAY_ALIGNED_NOTHROW] = "_ZnamSt11align_val_tRKSt9nothrow_t",
    [MP_FN_DELETE] = "_ZdlPv",
    [MP_FN_DELETE_ARRAY] = "_ZdaPv",
    [MP_FN_DELETE_SIZED] = "_ZdlPvm",
    [MP_FN_DELETE_ARRAY_SIZED] = "_ZdaPvm",
    [MP_FN_DELETE_NOTHROW] = "_ZdlPvRKSt9nothrow_t",
    [MP_FN_DELETE_ARRAY_NOTHROW] = "_ZdaPvRKSt9nothrow_t",
    [MP_FN_DELETE_ALIGNED] = "_ZdlPvSt11align_val_t",
    [MP_FN_DELETE_ARRAY_ALIGNED] = "_ZdaPvSt11align_val_t",
    [MP_FN_DELETE_SIZED_ALIGNED] = "_ZdlPvmSt11align_val_t",
    [MP_FN_DELETE_ARRAY_SIZED_ALIGNED] = "_ZdaPvmSt11align_val_t",
    [MP_FN_DELETE_ALIGNED_NOTHROW] = "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    [MP_FN_DELETE_ARRAY_ALIGNED_NOTHROW] = "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    [MP_FN_MALLOCX] = "mallocx",
    [MP_FN_RALLOCX] = "rallocx",
    [MP_FN_XALLOCX] = "xallocx",
    [MP_FN_SDALLOCX] = "sdallocx",
    [MP_FN_DALLOCX] = "dallocx",
    [MP_FN_MMAP] = "mmap",
    [MP_FN_MMAP64] = "mmap64",
    [MP_FN_MUNMAP] = "munmap",
    [MP_FN_MREMAP] = "mremap",
    [MP_FN_BRK] = "brk",
    [MP_FN_SBRK] = "sbrk",
    [MP_FN_CXA_THROW] = "__cxa_throw",
};

const char *mp_alloc_fn_name(enum mp_alloc_fn fn)
{
    return fn < MP_FN_COUNT ? fn_names[fn] : "?";
}

enum mp_fn_kind mp_alloc_fn_kind(enum mp_alloc_fn fn)
{
    switch (fn) {
    case MP_FN_FREE: case MP_FN_SDALLOCX: case MP_FN_DALLOCX:
        return MP_KIND_FREE;
    case MP_FN_CALLOC: return MP_KIND_CALLOC;
    case MP_FN_REALLOC: case MP_FN_RALLOCX: return MP_KIND_REALLOC;
    case MP_FN_REALLOCARRAY: return MP_KIND_REALLOCARRAY;
    case MP_FN_ALIGNED_ALLOC: case MP_FN_MEMALIGN: return MP_KIND_ALIGNED;
    case MP_FN_POSIX_MEMALIGN: return MP_KIND_POSIX_MEMALIGN;
    case MP_FN_XALLOCX: return MP_KIND_XALLOCX;
    case MP_FN_MMAP: case MP_FN_MMAP64: return MP_KIND_MMAP;
    case MP_FN_MUNMAP: return MP_KIND_MUNMAP;
    case MP_FN_MREMAP: return MP_KIND_MREMAP;
    case MP_FN_BRK: return MP_KIND_BRK;
    case MP_FN_SBRK: return MP_KIND_SBRK;
    case MP_FN_CXA_THROW: return MP_KIND_THROW;
    default:
        return fn >= MP_FN_DELETE && fn <= MP_FN_DELETE_ARRAY_ALIGNED_NOTHROW ? MP_KIND_FREE : MP_KIND_ALLOC;
    }
}

/* What memprof needs from one ELF file. */
struct elf_facts {
    uint64_t entry;            /* e_entry */
    int has_interp;            /* PT_INTERP: a dynamic program */
    uint64_t lo, hi;           /* span of the PT_LOAD segments (link-time addresses) */
    uint64_t text[MP_BP_MAX_TEXT][2]; /* executable PT_LOAD segments */
    int n_text;
};

/* Looks up `n` names among the defined functions of path's symbol tables
 * (.dynsym only when dynsym_only).  values[i] = st_value or stays 0. */
static int elf_lookup_sized(const char *path, const char *const *names, size_t n, uint64_t *values,
                            uint64_t *sizes, int dynsym_only, struct elf_facts *facts);

static int elf_lookup(const char *path, const char *const *names, size_t n, uint64_t *values, int dynsym_only,
                      struct elf_facts *facts)
{
    return elf_lookup_sized(path, names, n, values, NULL, dynsym_only, facts);
}

/* The same, with each symbol's st_size in sizes[i] when sizes is not NULL. */
static int elf_lookup_sized(const char *path, const char *const *names, size_t n, uint64_t *values,
                            uint64_t *sizes, int dynsym_only, struct elf_facts *facts)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr ehdr;
    if (!elf || !gelf_getehdr(elf, &ehdr)) {
        if (elf)
            elf_end(elf);
        close(fd);
        return -1;
    }
    if (facts) {
        memset(facts, 0, sizeof *facts);
        facts->entry = ehdr.e_entry;
        facts->lo = UINT64_MAX;
        size_t phnum = 0;
        elf_getphdrnum(elf, &phnum);
        for (size_t i = 0; i < phnum; i++) {
            GElf_Phdr ph;
            if (!gelf_getphdr(elf, (int)i, &ph))
                continue;
            if (ph.p_type == PT_INTERP)
                facts->has_interp = 1;
            if (ph.p_type != PT_LOAD)
                continue;
            if (ph.p_vaddr < facts->lo)
                facts->lo = ph.p_vaddr;
            if (ph.p_vaddr + ph.p_memsz > facts->hi)
                facts->hi = ph.p_vaddr + ph.p_memsz;
            if ((ph.p_flags & PF_X) && facts->n_text < MP_BP_MAX_TEXT) {
                facts->text[facts->n_text][0] = ph.p_vaddr;
                facts->text[facts->n_text][1] = ph.p_vaddr + ph.p_memsz;
                facts->n_text++;
            }
        }
    }
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && (dynsym_only || sh.sh_type != SHT_SYMTAB)))
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t count = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
        for (size_t i = 0; data && i < count; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
                continue;
            int type = GELF_ST_TYPE(sym.st_info);
            if (type != STT_FUNC && type != STT_OBJECT)
                continue;
            const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
            if (!name)
                continue;
            for (size_t k = 0; k < n; k++)
                if (values[k] == 0 && strcmp(name, names[k]) == 0) {
                    values[k] = sym.st_value;
                    if (sizes)
                        sizes[k] = sym.st_size;
                }
        }
    }
    elf_end(elf);
    close(fd);
    return 0;
}

static int read_mem(int mem_fd, uint64_t addr, void *buf, size_t len)
{
    return pread(mem_fd, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

/* The path of the mapping that starts at `start` in /proc/PID/maps. */
static int mapping_path(pid_t pid, uint64_t start, char *path, size_t len)
{
    char maps[64], line[PATH_MAX + 128];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "re");
    if (!f)
        return -1;
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo;
        int off = 0;
        if (sscanf(line, "%lx-%*x %*s %*x %*s %*u %n", &lo, &off) < 1 || lo != start || !off)
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (line[off] == '/') {
            snprintf(path, len, "%s", line + off);
            rc = 0;
        }
        break;
    }
    fclose(f);
    return rc;
}

int mp_bp_find_loader(pid_t pid, struct mp_loader_hooks *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char exe[64];
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
    struct elf_facts facts;
    uint64_t none = 0;
    if (elf_lookup(exe, NULL, 0, &none, 1, &facts) != 0) {
        snprintf(err, errlen, "cannot read the program's ELF headers (%s): %s", exe, strerror(errno));
        return -1;
    }
    if (!facts.has_interp)
        return 0;
    uint64_t base = 0;
    char ldso[PATH_MAX];
    if (mp_proc_auxv(pid, AT_BASE, &base) != 0 || base == 0 || mapping_path(pid, base, ldso, sizeof ldso) != 0) {
        snprintf(err, errlen, "cannot find the dynamic loader of process %d (AT_BASE in /proc/%d/auxv)", (int)pid,
                 (int)pid);
        return -1;
    }
    static const char *const names[] = { "_dl_debug_state", "_r_debug" };
    uint64_t values[2] = { 0, 0 };
    if (elf_lookup(ldso, names, 2, values, 1, NULL) != 0 || !values[0] || !values[1]) {
        snprintf(err, errlen, "the dynamic loader %s does not export _dl_debug_state and _r_debug", ldso);
        return -1;
    }
    out->debug_state = base + values[0];
    out->r_debug = base + values[1];
    return 0;
}

int mp_bp_link_map_consistent(int mem_fd, const struct mp_loader_hooks *hooks)
{
    return mp_bp_link_map_state(mem_fd, hooks) == RT_CONSISTENT;
}

int mp_bp_link_map_state(int mem_fd, const struct mp_loader_hooks *hooks)
{
    struct r_debug rd;
    if (read_mem(mem_fd, hooks->r_debug, &rd, sizeof rd) != 0 || !rd.r_map)
        return -1;
    return (int)rd.r_state;
}

/* Binds the names no earlier module defined to this one's definitions;
 * remembers the module.  Returns the number of names it bound. */
static int bind_module(const char *path, uint64_t bias, int dynsym_only, struct mp_alloc_entries *out)
{
    uint64_t values[MP_FN_COUNT] = { 0 };
    struct elf_facts facts;
    if (elf_lookup(path, fn_names, MP_FN_COUNT, values, dynsym_only, &facts) != 0)
        return 0;
    struct mp_bp_module *grown = realloc(out->modules, (out->n_modules + 1) * sizeof *grown);
    if (!grown)
        return 0;
    out->modules = grown;
    struct mp_bp_module *m = &out->modules[out->n_modules];
    m->path = strdup(path);
    if (!m->path)
        return 0;
    m->bias = bias;
    m->lo = facts.lo == UINT64_MAX ? 0 : bias + facts.lo;
    m->hi = bias + facts.hi;
    out->n_modules++;
    /* memprof.h's hook: the program's own copy is rarely exported (.symtab) */
    static const char *const hook_name[1] = { "memprof_client_hook" };
    uint64_t hook = 0;
    if (out->n_client_hooks < MP_BP_MAX_HOOKS && elf_lookup(path, hook_name, 1, &hook, 0, NULL) == 0 && hook)
        out->client_hooks[out->n_client_hooks++] = bias + hook;
    int bound = 0;
    for (int i = 0; i < MP_FN_COUNT; i++)
        if (!out->addr[i] && values[i]) {
            out->addr[i] = bias + values[i];
            bound++;
        }
    const char *slash = strrchr(path, '/');
    if (dynsym_only && fnmatch("libc.so*", slash ? slash + 1 : path, 0) == 0)
        for (int t = 0; t < facts.n_text; t++) {
            out->libc_text[t][0] = bias + facts.text[t][0];
            out->libc_text[t][1] = bias + facts.text[t][1];
            out->n_libc_text = t + 1;
        }
    if (values[MP_FN_MALLOC] && out->addr[MP_FN_MALLOC] == bias + values[MP_FN_MALLOC]) {
        snprintf(out->module, sizeof out->module, "%s", path);
        /* malloc's library when it is a library of its own (not libc, not
         * the program) */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (dynsym_only && out->n_modules > 1 && fnmatch("libc.so*", base, 0) != 0)
            for (int t = 0; t < facts.n_text; t++) {
                out->allocator_text[t][0] = bias + facts.text[t][0];
                out->allocator_text[t][1] = bias + facts.text[t][1];
                out->n_allocator_text = t + 1;
            }
    }
    return bound;
}

void mp_alloc_entries_free(struct mp_alloc_entries *e)
{
    for (size_t i = 0; i < e->n_modules; i++)
        free(e->modules[i].path);
    free(e->modules);
    e->modules = NULL;
    e->n_modules = 0;
}

uint64_t mp_bp_lookup(const struct mp_alloc_entries *e, const char *name)
{
    for (size_t i = 0; i < e->n_modules; i++) {
        uint64_t v = 0;
        const char *names[1] = { name };
        if (elf_lookup(e->modules[i].path, names, 1, &v, i > 0 || e->n_modules > 1, NULL) == 0 && v)
            return e->modules[i].bias + v;
    }
    return 0;
}

const struct mp_bp_module *mp_bp_module_at(const struct mp_alloc_entries *e, uint64_t addr)
{
    for (size_t i = 0; i < e->n_modules; i++)
        if (addr >= e->modules[i].lo && addr < e->modules[i].hi)
            return &e->modules[i];
    return NULL;
}

int mp_bp_got_symbol(const struct mp_bp_module *m, uint64_t slot, char *name, size_t len)
{
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int rc = -1;
    Elf_Scn *scn = NULL;
    while (elf && rc != 0 && (scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
            continue;
        Elf_Scn *symscn = elf_getscn(elf, sh.sh_link);
        GElf_Shdr symsh;
        Elf_Data *data = elf_getdata(scn, NULL), *syms = symscn ? elf_getdata(symscn, NULL) : NULL;
        if (!data || !syms || !gelf_getshdr(symscn, &symsh))
            continue;
        for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Rela r;
            GElf_Sym sym;
            if (!gelf_getrela(data, (int)i, &r) || r.r_offset + m->bias != slot ||
                !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym))
                continue;
            const char *n = elf_strptr(elf, symsh.sh_link, sym.st_name);
            if (n && *n) {
                snprintf(name, len, "%s", n);
                rc = 0;
            }
            break;
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return rc;
}

int mp_bp_find_allocator(pid_t pid, int mem_fd, const struct mp_loader_hooks *hooks, struct mp_alloc_entries *out,
                         char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char exe[64], exe_path[PATH_MAX];
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(exe, exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    if (!hooks->debug_state) {
        struct elf_facts facts;
        uint64_t none = 0, at_entry = 0;
        if (elf_lookup(exe, NULL, 0, &none, 1, &facts) != 0 || mp_proc_auxv(pid, AT_ENTRY, &at_entry) != 0) {
            snprintf(err, errlen, "cannot read the program's ELF headers or auxiliary vector (process %d)", (int)pid);
            return -1;
        }
        uint64_t bias = at_entry - facts.entry;
        bind_module(exe, bias, 0, out);
        if (!out->addr[MP_FN_MALLOC] || !out->addr[MP_FN_FREE])
            return 1;
        out->curbrk = mp_bp_lookup(out, "__curbrk");
        /* libc is part of the program: its functions that map memory for
         * themselves stand for libc's text (thread stacks, TLS, malloc's heaps) */
        static const char *const libc_mappers[] = { "__pthread_create_2_1", "__libc_setup_tls", "_dl_early_allocate",
                                                    "alloc_new_heap", "new_heap", "sysmalloc" };
        enum { N_MAPPERS = sizeof libc_mappers / sizeof *libc_mappers };
        uint64_t at[N_MAPPERS] = { 0 }, len[N_MAPPERS] = { 0 };
        elf_lookup_sized(exe, libc_mappers, N_MAPPERS, at, len, 0, NULL);
        for (int i = 0; i < N_MAPPERS && out->n_libc_text < MP_BP_MAX_TEXT_STATIC; i++)
            if (at[i] && len[i]) {
                out->libc_text[out->n_libc_text][0] = bias + at[i];
                out->libc_text[out->n_libc_text][1] = bias + at[i] + len[i];
                out->n_libc_text++;
            }
        snprintf(out->module, sizeof out->module, "%s", n > 0 ? exe_path : exe);
        return 0;
    }
    struct r_debug rd;
    if (read_mem(mem_fd, hooks->r_debug, &rd, sizeof rd) != 0) {
        snprintf(err, errlen, "cannot read the loader's r_debug in process %d: %s", (int)pid, strerror(errno));
        return -1;
    }
    uint64_t lm_addr = (uint64_t)(uintptr_t)rd.r_map;
    for (int guard = 0; lm_addr && guard < 4096; guard++) {
        struct link_map lm;
        if (read_mem(mem_fd, lm_addr, &lm, sizeof lm) != 0)
            break;
        char name[PATH_MAX] = "";
        if (lm.l_name)
            for (size_t i = 0; i + 1 < sizeof name; i++)
                if (read_mem(mem_fd, (uint64_t)(uintptr_t)lm.l_name + i, &name[i], 1) != 0 || name[i] == '\0') {
                    name[i] = '\0';
                    break;
                }
        /* the first entry is the program (empty name); the vdso has a name but no file */
        const char *path = guard == 0 ? exe : name;
        if (path[0] == '/')
            bind_module(path, lm.l_addr, 1, out);
        lm_addr = (uint64_t)(uintptr_t)lm.l_next;
    }
    if (!out->addr[MP_FN_MALLOC] || !out->addr[MP_FN_FREE])
        return 1;
    out->curbrk = mp_bp_lookup(out, "__curbrk");
    if (out->n_modules && strcmp(out->module, exe) == 0)
        snprintf(out->module, sizeof out->module, "%s", exe_path);
    return 0;
}
