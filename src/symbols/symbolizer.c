/* memprof: the symbolizer (symbolizer.h).  Owns the libdwfl session on
 * the target pid, the module list and its refresh on a miss, per-module state
 * (CU map, function cache, debug info warning), the PC cache and the
 * warnings.  The DWARF walk itself lives in sym_dwarf.c. */
#define _GNU_SOURCE
#include "symbolizer.h"

#include <dirent.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sym_cu_map.h"
#include "sym_debug_cache.h"
#include "sym_dwarf.h"
#include "sym_runtime.h"
#include "sym_scopes.h"
#include "sym_shared.h"
#include "sym_strings.h"
#include "sym_symtab.h"

#define MAX_INLINE_CHAIN 64

/* What we keep per Dwfl_Module, in the module's userdata slot. */
struct module_state {
    struct mp_symbolizer *owner;
    const char *path;           /* pooled; "[vdso]" for the vdso */
    int is_runtime;
    int debug_checked;          /* the no-debug-info check ran */
    const char *no_debug_warning; /* what it said, or NULL */
    int cu_map_built;
    struct sym_cu_map *cu_map;  /* NULL until needed, or when useless */
    struct sym_func_cache *funcs;
    struct sym_scope_index *scopes;
    int symtab_built;
    struct sym_symtab *symtab;  /* NULL until needed, or when the module has none */
};

struct pc_entry {
    uint64_t pc;
    size_t first_frame;
    uint32_t frame_count;       /* 0 = empty slot */
    uint32_t is_return_address;
};

struct mp_symbolizer {
    pid_t pid;
    Dwfl_Callbacks callbacks;   /* must outlive the Dwfl */
    char *debuginfo_path;
    Dwfl *dwfl;
    uint64_t maps_hash;         /* of /proc/PID/maps at the last report */
    char *saved_maps;           /* /proc/PID/maps as it was before the process ended, or NULL */
    const char *(*saved)(void *ctx); /* asks for it */
    void *saved_ctx;
    int ever_reported;          /* some modules were reported */
    int map_warned;
    struct mp_sym_cache *shared; /* frames shared with the tree's other symbolizers, or NULL */
    int saved_reported;         /* the modules were reported from it */

    struct sym_string_pool *strings;

    struct pc_entry *pcs;
    size_t npc_slots, npcs;
    struct mp_frame_info *frames;
    size_t nframes, frames_capacity;

    const char **warnings;
    size_t nwarnings, warnings_capacity;

    /* modules dropped by the last reports: their PCs may be other code now */
    struct mp_code_range *removed;
    size_t nremoved, removed_capacity;
};

/* ---- modules ---------------------------------------------------------- */

static void module_state_free(struct module_state *state)
{
    if (state == NULL)
        return;
    sym_cu_map_destroy(state->cu_map);
    sym_func_cache_destroy(state->funcs);
    sym_scope_index_destroy(state->scopes);
    sym_symtab_destroy(state->symtab);
    free(state);
}

static struct module_state *module_state_of(struct mp_symbolizer *s, Dwfl_Module *mod)
{
    void **userdata;
    const char *name = dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
    if (*userdata != NULL)
        return *userdata;
    struct module_state *state = calloc(1, sizeof *state);
    if (state == NULL)
        return NULL;
    state->owner = s;
    state->funcs = sym_func_cache_create();
    state->scopes = sym_scope_index_create(s->strings);
    if (name == NULL)
        name = "[unknown]";
    state->path = sym_strings_intern(s->strings, strncmp(name, "[vdso", 5) == 0 ? "[vdso]" : name);
    if (state->funcs == NULL || state->scopes == NULL || state->path == NULL) {
        module_state_free(state);
        return NULL;
    }
    state->is_runtime = sym_runtime_module(state->path);
    *userdata = state;
    return state;
}

static int module_removed(Dwfl_Module *mod, void *userdata, const char *name,
                          Dwarf_Addr base, void *arg)
{
    (void)name, (void)base;
    struct mp_symbolizer *s = arg;
    Dwarf_Addr start = 0, end = 0;
    dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
    if (s && end > start) {
        if (s->nremoved == s->removed_capacity) {
            size_t cap = s->removed_capacity ? s->removed_capacity * 2 : 8;
            struct mp_code_range *r = realloc(s->removed, cap * sizeof *r);
            if (r) {
                s->removed = r;
                s->removed_capacity = cap;
            }
        }
        if (s->nremoved < s->removed_capacity)
            s->removed[s->nremoved++] = (struct mp_code_range){ start, end };
    }
    /* libdwfl passes &module->userdata here (MODCB_ARGS), not the userdata. */
    void **slot = userdata;
    module_state_free(*slot);
    *slot = NULL;
    return DWARF_CB_OK;
}

static int free_module_state(Dwfl_Module *mod, void **userdata, const char *name,
                             Dwarf_Addr base, void *arg)
{
    (void)mod, (void)name, (void)base, (void)arg;
    module_state_free(*userdata);
    *userdata = NULL;
    return DWARF_CB_OK;
}

/* A mapped file deleted since (rebuilt while running): read it through
 * /proc/PID/map_files, which still holds the old inode. */
static int open_deleted_module(pid_t pid, Dwarf_Addr base, char **file_name)
{
    char dir_path[64], prefix[32];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/map_files", (int)pid);
    int prefix_len = snprintf(prefix, sizeof prefix, "%" PRIx64 "-", (uint64_t)base);
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        return -1;
    int fd = -1;
    struct dirent *entry;
    while (fd < 0 && (entry = readdir(dir)) != NULL) {
        if (strncmp(entry->d_name, prefix, (size_t)prefix_len) != 0)
            continue;
        char *path;
        if (asprintf(&path, "%s/%s", dir_path, entry->d_name) < 0)
            break;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            *file_name = path;
        else
            free(path);
    }
    closedir(dir);
    return fd;
}

static int find_module_elf(Dwfl_Module *mod, void **userdata, const char *name,
                           Dwarf_Addr base, char **file_name, Elf **elfp)
{
    static const char deleted[] = " (deleted)";
    size_t len = strlen(name), dlen = sizeof deleted - 1;
    struct module_state *state = *userdata;
    if (state != NULL && name[0] == '/' && len > dlen && strcmp(name + len - dlen, deleted) == 0) {
        int fd = open_deleted_module(state->owner->pid, base, file_name);
        if (fd >= 0)
            return fd;
    }
    return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

/* FNV-1a of /proc/PID/maps; 0 when it cannot be read (the process is gone). */
static uint64_t hash_maps(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    uint64_t h = 1469598103934665603ull;
    char buf[4096];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++)
            h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
        total += n;
    }
    fclose(f);
    return total == 0 ? 0 : (h ? h : 1);
}

/* Report the modules of /proc/PID/maps (again).  Modules still mapped keep
 * their loaded ELF/DWARF; unmapped ones are dropped with their state. */
/* The process is gone: report its modules from the saved map, once. */
static int report_saved(struct mp_symbolizer *s)
{
    if (!s->saved_maps && s->saved) {
        const char *maps = s->saved(s->saved_ctx);
        if (maps)
            s->saved_maps = strdup(maps);
    }
    if (!s->saved_maps || s->saved_reported)
        return -1;
    FILE *f = fmemopen(s->saved_maps, strlen(s->saved_maps), "r");
    if (!f)
        return -1;
    s->saved_reported = 1;
    dwfl_report_begin(s->dwfl);
    int rc = dwfl_linux_proc_maps_report(s->dwfl, f);
    dwfl_report_end(s->dwfl, module_removed, s);
    fclose(f);
    s->ever_reported |= rc == 0;
    return rc;
}

static int report_modules(struct mp_symbolizer *s)
{
    uint64_t h = hash_maps(s->pid);
    if (h == 0)
        return report_saved(s); /* gone: what it had mapped, if known */
    if (h == s->maps_hash)
        return -1;      /* nothing new mapped since last time */
    s->maps_hash = h;
    dwfl_report_begin(s->dwfl);
    int rc = dwfl_linux_proc_report(s->dwfl, s->pid);
    dwfl_report_end(s->dwfl, module_removed, s); /* dropped modules wait for mp_symbolizer_modules_changed */
    s->ever_reported |= rc == 0;
    return rc;
}

static int start_session(struct mp_symbolizer *s)
{
    s->dwfl = dwfl_begin(&s->callbacks);
    if (s->dwfl == NULL)
        return -1;
    s->maps_hash = 0;
    /* a process that may be gone already is reported from its saved map,
     * now or when it is known */
    return report_modules(s) == 0 || s->saved ? 0 : -1;
}

static void end_session(struct mp_symbolizer *s)
{
    if (s->dwfl == NULL)
        return;
    dwfl_getmodules(s->dwfl, free_module_state, NULL, 0);
    dwfl_end(s->dwfl);
    s->dwfl = NULL;
}

/* ---- warnings ----------------------------------------------------------- */

static void add_warning(struct mp_symbolizer *s, const char *text)
{
    const char *pooled = sym_strings_intern(s->strings, text);
    if (pooled == NULL)
        return;
    for (size_t i = 0; i < s->nwarnings; i++)
        if (s->warnings[i] == pooled)
            return;
    if (s->nwarnings == s->warnings_capacity) {
        size_t cap = s->warnings_capacity ? s->warnings_capacity * 2 : 8;
        const char **w = realloc(s->warnings, cap * sizeof *w);
        if (w == NULL)
            return;
        s->warnings = w;
        s->warnings_capacity = cap;
    }
    s->warnings[s->nwarnings++] = pooled;
}

/* libtool's case: the program in (or beside) a .libs directory that holds
 * a library of lib's name, another file than lib (.libs/prog loads the
 * system's copy, not the one built beside it): that directory, else "". */
static void libtool_build_dir(const struct mp_symbolizer *s, const char *lib, char *dir, size_t len)
{
    char exe[4096], proc[64];
    dir[0] = '\0';
    snprintf(proc, sizeof proc, "/proc/%d/exe", (int)s->pid);
    ssize_t n = readlink(proc, exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    if (slash == NULL)
        return;
    *slash = '\0'; /* the program's directory */
    const char *last = strrchr(exe, '/'), *name = strrchr(lib, '/') ? strrchr(lib, '/') + 1 : lib;
    char built[4096 + 256];
    int k = snprintf(dir, len, last && strcmp(last + 1, ".libs") == 0 ? "%s" : "%s/.libs", exe);
    struct stat a, b;
    if (k < 0 || (size_t)k >= len || snprintf(built, sizeof built, "%s/%s", dir, name) >= (int)sizeof built ||
        stat(built, &a) != 0 || stat(lib, &b) != 0 || (a.st_dev == b.st_dev && a.st_ino == b.st_ino))
        dir[0] = '\0';
}

/* The warning (pooled), or NULL when the module deserves none. */
static const char *warn_no_debug_info(struct mp_symbolizer *s, struct module_state *state)
{
    if (state->is_runtime || state->path[0] != '/')
        return NULL;
    char *text, built[4096], hint[3 * 4096];
    libtool_build_dir(s, state->path, built, sizeof built);
    hint[0] = '\0';
    if (built[0])
        snprintf(hint, sizeof hint, " (a build of it is in %s: LD_LIBRARY_PATH=%s runs the program with that one)",
                 built, built);
    if (asprintf(&text, "%s has no debug info: lines are shown as function names; "
                 "rebuild it with -g%s", state->path, hint) < 0)
        return NULL;
    add_warning(s, text);
    const char *pooled = sym_strings_intern(s->strings, text);
    free(text);
    return pooled;
}

/* The module's DWARF (libdwfl finds its debug file the first time): a
 * compressed debug file read without a cache because the cache directory
 * is not private gets its note. */
static Dwarf *module_dwarf(struct mp_symbolizer *s, Dwfl_Module *mod, Dwarf_Addr *bias)
{
    const char *note;
    unsigned before = sym_debug_cache_refusals(&note);
    Dwarf *dwarf = dwfl_module_getdwarf(mod, bias);
    if (sym_debug_cache_refusals(&note) != before)
        add_warning(s, note);
    return dwarf;
}

/* ---- resolving ----------------------------------------------------------- */

static const char *pooled_or(struct mp_symbolizer *s, const char *text, const char *fallback)
{
    const char *pooled = sym_strings_intern(s->strings, text);
    return pooled != NULL ? pooled : fallback;
}

static const char *symbol_name(struct mp_symbolizer *s, Dwfl_Module *mod,
                               struct module_state *state, Dwarf_Addr addr)
{
    if (!state->symtab_built) {
        state->symtab = sym_symtab_build(mod);
        state->symtab_built = 1;
    }
    const char *name;
    if (state->symtab != NULL) {
        name = sym_symtab_lookup(state->symtab, mod, addr);
    } else {
        GElf_Off offset;
        GElf_Sym sym;
        name = dwfl_module_addrinfo(mod, addr, &offset, &sym, NULL, NULL, NULL);
    }
    if (name != NULL && name[0] != '\0') {
        const char *pooled = sym_strings_intern_demangled(s->strings, name);
        if (pooled != NULL)
            return pooled;
    }
    Dwarf_Addr bias = 0;
    if (dwfl_module_getelf(mod, &bias) == NULL)
        dwfl_module_info(mod, NULL, &bias, NULL, NULL, NULL, NULL, NULL);
    const char *slash = strrchr(state->path, '/');
    char text[512];
    snprintf(text, sizeof text, "%s+0x%" PRIx64, slash ? slash + 1 : state->path,
             (uint64_t)(addr - bias));
    return pooled_or(s, text, "??");
}

static int resolve_in_module(struct mp_symbolizer *s, Dwfl_Module *mod, Dwarf_Addr addr,
                             struct mp_frame_info *frames, int max, const char **warning)
{
    struct module_state *state = module_state_of(s, mod);
    if (state == NULL)
        return 0;
    int n = 0, outside_debug_info = 0;
    Dwarf_Addr bias;
    if (module_dwarf(s, mod, &bias) != NULL) {
        Dwarf_Die cudie;
        Dwarf_Die *found = dwfl_module_addrdie(mod, addr, &bias);
        int have_cu = found != NULL;
        if (have_cu) {
            cudie = *found;
        } else {
            /* No .debug_aranges (clang) or an incomplete one. */
            if (!state->cu_map_built) {
                state->cu_map = sym_cu_map_build(mod);
                state->cu_map_built = 1;
            }
            have_cu = state->cu_map != NULL && sym_cu_map_lookup(state->cu_map, addr - bias, &cudie);
        }
        if (have_cu)
            n = sym_dwarf_frames(s->strings, state->funcs, state->scopes, &cudie, addr - bias, frames, max);
        /* A module with debug info, but not for this code: linked in from an
         * archive built without -g (libc.a in a static program). */
        outside_debug_info = !have_cu;
    } else {
        if (!state->debug_checked)
            state->no_debug_warning = warn_no_debug_info(s, state);
        state->debug_checked = 1;
        *warning = state->no_debug_warning;
    }
    if (n == 0) {
        memset(&frames[0], 0, sizeof frames[0]);
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        if (frames[i].function == NULL)
            frames[i].function = symbol_name(s, mod, state, addr);
        frames[i].module = state->path;
        frames[i].is_runtime = state->is_runtime || outside_debug_info || sym_runtime_source(frames[i].file);
    }
    return n;
}

static int resolve_uncached(struct mp_symbolizer *s, uint64_t pc, int is_return_address,
                            struct mp_frame_info *frames, int max)
{
    Dwarf_Addr addr = is_return_address && pc > 0 ? pc - 1 : pc;
    Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, addr) : NULL;
    if (mod == NULL && s->dwfl != NULL && report_modules(s) == 0)
        mod = dwfl_addrmodule(s->dwfl, addr);   /* dlopen'd since the last report */
    if (mod != NULL) {
        /* the same file at the same offset resolves the same in any process of the tree */
        const unsigned char *id = NULL;
        int id_len = 0;
        uint64_t offset = 0;
        if (s->shared) {
            Dwarf_Addr bias, start = 0;
            GElf_Addr id_vaddr;
            if (dwfl_module_getelf(mod, &bias) != NULL)
                id_len = dwfl_module_build_id(mod, &id, &id_vaddr);
            dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
            offset = addr - start;
            int n;
            const char *warning;
            const struct mp_frame_info *hit =
                mp_sym_cache_find(s->shared, id, id_len, offset, is_return_address, &n, &warning);
            if (hit) {
                if (n > max)
                    n = max;
                memcpy(frames, hit, (size_t)n * sizeof *frames);
                if (warning)
                    add_warning(s, warning);
                return n;
            }
        }
        const char *warning = NULL;
        int n = resolve_in_module(s, mod, addr, frames, max, &warning);
        if (n > 0) {
            mp_sym_cache_insert(s->shared, id, id_len, offset, is_return_address, frames, n, warning);
            return n;
        }
    }
    if (!s->ever_reported && !s->map_warned) {
        char text[128];
        snprintf(text, sizeof text, "symbolizer: process %d: cannot read its memory map: its frames are [unknown]",
                 (int)s->pid);
        add_warning(s, text);
        s->map_warned = 1;
    }
    char text[64];
    snprintf(text, sizeof text, "[unknown]+0x%" PRIx64, (uint64_t)addr);
    memset(&frames[0], 0, sizeof frames[0]);
    frames[0].function = pooled_or(s, text, "??");
    frames[0].module = pooled_or(s, "[unknown]", "[unknown]");
    return 1;
}

Dwarf *mp_symbolizer_dwarf(struct mp_symbolizer *s, uint64_t addr, const char **path)
{
    Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, addr) : NULL;
    if (mod == NULL && s->dwfl != NULL && report_modules(s) == 0)
        mod = dwfl_addrmodule(s->dwfl, addr);
    Dwarf_Addr bias;
    if (path)
        *path = mod ? dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL) : NULL;
    return mod ? module_dwarf(s, mod, &bias) : NULL;
}

/* ---- the PC cache --------------------------------------------------------- */

static size_t pc_slot(uint64_t pc, int is_return_address, size_t mask)
{
    return (size_t)(((pc << 1 | (uint64_t)is_return_address) * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static struct pc_entry *pc_cache_find(struct mp_symbolizer *s, uint64_t pc, int is_return_address)
{
    size_t mask = s->npc_slots - 1;
    for (size_t i = pc_slot(pc, is_return_address, mask);; i = (i + 1) & mask) {
        struct pc_entry *e = &s->pcs[i];
        if (e->frame_count == 0)
            return NULL;
        if (e->pc == pc && (int)e->is_return_address == is_return_address)
            return e;
    }
}

static int pc_cache_grow(struct mp_symbolizer *s)
{
    size_t nslots = s->npc_slots ? s->npc_slots * 2 : 4096;
    struct pc_entry *slots = calloc(nslots, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < s->npc_slots; i++) {
        struct pc_entry *e = &s->pcs[i];
        if (e->frame_count == 0)
            continue;
        size_t j = pc_slot(e->pc, (int)e->is_return_address, nslots - 1);
        while (slots[j].frame_count != 0)
            j = (j + 1) & (nslots - 1);
        slots[j] = *e;
    }
    free(s->pcs);
    s->pcs = slots;
    s->npc_slots = nslots;
    return 0;
}

/* Store the frames; NULL when out of memory (the caller still has them). */
static struct pc_entry *pc_cache_add(struct mp_symbolizer *s, uint64_t pc, int is_return_address,
                                     const struct mp_frame_info *frames, int n)
{
    if ((s->npcs + 1) * 2 > s->npc_slots && pc_cache_grow(s) != 0)
        return NULL;
    if (s->nframes + (size_t)n > s->frames_capacity) {
        size_t cap = s->frames_capacity ? s->frames_capacity * 2 : 4096;
        while (cap < s->nframes + (size_t)n)
            cap *= 2;
        struct mp_frame_info *f = realloc(s->frames, cap * sizeof *f);
        if (f == NULL)
            return NULL;
        s->frames = f;
        s->frames_capacity = cap;
    }
    memcpy(&s->frames[s->nframes], frames, (size_t)n * sizeof *frames);
    size_t mask = s->npc_slots - 1;
    size_t i = pc_slot(pc, is_return_address, mask);
    while (s->pcs[i].frame_count != 0)
        i = (i + 1) & mask;
    s->pcs[i] = (struct pc_entry){ pc, s->nframes, (uint32_t)n, (uint32_t)is_return_address };
    s->nframes += (size_t)n;
    s->npcs++;
    return &s->pcs[i];
}

/* Forget the PCs in [lo, hi): the code there is gone. */
static void pc_cache_drop_range(struct mp_symbolizer *s, uint64_t lo, uint64_t hi)
{
    struct pc_entry *old = s->pcs;
    size_t n = s->npc_slots;
    s->pcs = calloc(n, sizeof *s->pcs);
    if (s->pcs == NULL) { /* keep the old table rather than lose everything */
        s->pcs = old;
        return;
    }
    s->npcs = 0;
    for (size_t i = 0; i < n; i++) {
        struct pc_entry *e = &old[i];
        uint64_t addr = e->is_return_address && e->pc > 0 ? e->pc - 1 : e->pc;
        if (e->frame_count == 0 || (addr >= lo && addr < hi))
            continue;
        size_t j = pc_slot(e->pc, (int)e->is_return_address, n - 1);
        while (s->pcs[j].frame_count != 0)
            j = (j + 1) & (n - 1);
        s->pcs[j] = *e;
        s->npcs++;
    }
    free(old);
}

/* ---- public interface ------------------------------------------------------ */

struct mp_symbolizer *mp_symbolizer_open(pid_t pid, char *errbuf, size_t errlen)
{
    return mp_symbolizer_open_saved(pid, NULL, NULL, errbuf, errlen);
}

void mp_symbolizer_share(struct mp_symbolizer *s, struct mp_sym_cache *cache)
{
    if (s)
        s->shared = cache;
}

struct mp_symbolizer *mp_symbolizer_open_saved(pid_t pid, const char *(*saved)(void *ctx), void *ctx,
                                               char *errbuf, size_t errlen)
{
    struct mp_symbolizer *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(errbuf, errlen, "symbolizer: out of memory");
        return NULL;
    }
    s->pid = pid;
    s->saved = saved;
    s->saved_ctx = ctx;
    s->callbacks.find_elf = find_module_elf;
    s->callbacks.find_debuginfo = sym_debug_cache_find; /* the standard search, inflated once */
    s->callbacks.debuginfo_path = &s->debuginfo_path;   /* NULL: the default path */
    s->strings = sym_strings_create();
    if (s->strings == NULL || pc_cache_grow(s) != 0) {
        snprintf(errbuf, errlen, "symbolizer: out of memory");
        mp_symbolizer_close(s);
        return NULL;
    }
    if (start_session(s) != 0) {
        const char *why = s->dwfl ? "cannot read its memory map" : dwfl_errmsg(-1);
        snprintf(errbuf, errlen, "symbolizer: process %d: %s", (int)pid, why);
        mp_symbolizer_close(s);
        return NULL;
    }
    return s;
}

void mp_symbolizer_reset(struct mp_symbolizer *s)
{
    if (s == NULL)
        return;
    end_session(s);
    free(s->saved_maps); /* a new image: its own map */
    s->saved_maps = NULL;
    s->saved_reported = 0;
    memset(s->pcs, 0, s->npc_slots * sizeof *s->pcs);
    s->npcs = 0;
    s->nframes = 0;
    s->nremoved = 0;
    start_session(s);   /* on failure every PC resolves to [unknown] */
}

int mp_symbolizer_resolve(void *ctx, uint64_t pc, int is_return_address,
                          struct mp_frame_info *out, int max)
{
    struct mp_symbolizer *s = ctx;
    if (max <= 0)
        return 0;
    is_return_address = is_return_address != 0;
    const struct mp_frame_info *frames;
    int n;
    struct mp_frame_info fresh[MAX_INLINE_CHAIN];
    struct pc_entry *e = pc_cache_find(s, pc, is_return_address);
    if (e == NULL) {
        n = resolve_uncached(s, pc, is_return_address, fresh, MAX_INLINE_CHAIN);
        e = pc_cache_add(s, pc, is_return_address, fresh, n);
    }
    if (e != NULL) {
        frames = &s->frames[e->first_frame];
        n = (int)e->frame_count;
    } else {
        frames = fresh;
    }
    if (n > max)
        n = max;
    memcpy(out, frames, (size_t)n * sizeof *out);
    return n;
}

size_t mp_symbolizer_modules_changed(struct mp_symbolizer *s, void (*gone)(void *ctx, uint64_t lo, uint64_t hi),
                                     void *ctx)
{
    if (s == NULL || s->dwfl == NULL)
        return 0;
    s->maps_hash = 0; /* read the map again even if it hashes the same */
    report_modules(s);
    size_t n = s->nremoved;
    for (size_t i = 0; i < n; i++) {
        pc_cache_drop_range(s, s->removed[i].lo, s->removed[i].hi);
        if (gone)
            gone(ctx, s->removed[i].lo, s->removed[i].hi);
    }
    s->nremoved = 0;
    return n;
}

size_t mp_symbolizer_warnings(struct mp_symbolizer *s, const char *const **out)
{
    *out = s->warnings;
    return s->nwarnings;
}

void mp_symbolizer_close(struct mp_symbolizer *s)
{
    if (s == NULL)
        return;
    end_session(s);
    free(s->saved_maps);
    free(s->pcs);
    free(s->frames);
    free(s->warnings);
    free(s->removed);
    sym_strings_destroy(s->strings);
    free(s);
}
