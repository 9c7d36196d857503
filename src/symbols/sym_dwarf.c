/* memprof symbolizer: the DWARF walk for one address.  Inline chain from
 * dwarf_getscopes / dwarf_getscopes_die (as elfutils src/addr2line.c does):
 * the innermost frame gets the line table line of the address, each outer
 * frame the DW_AT_call_file / DW_AT_call_line of the inlined instance inside
 * it.  Function facts (name, definition file, first and last line) are
 * computed once per function DIE and cached. */
#define _GNU_SOURCE
#include "sym_dwarf.h"
#include "sym_scopes.h"

#include <dwarf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCOPE_DEPTH 128

struct func_facts {
    Dwarf_Off die_offset;   /* 0 = empty slot */
    const char *name;
    const char *file;
    int first_line, last_line;
};

struct sym_func_cache {
    struct func_facts *slots;
    size_t nslots, count;
};

struct sym_func_cache *sym_func_cache_create(void)
{
    return calloc(1, sizeof(struct sym_func_cache));
}

void sym_func_cache_destroy(struct sym_func_cache *cache)
{
    if (cache == NULL)
        return;
    free(cache->slots);
    free(cache);
}

static size_t hash_offset(Dwarf_Off off, size_t mask)
{
    return (size_t)((off * 0x9E3779B97F4A7C15ull) >> 17) & mask;
}

static struct func_facts *func_cache_find(struct sym_func_cache *cache, Dwarf_Off off)
{
    if (cache->nslots == 0)
        return NULL;
    size_t mask = cache->nslots - 1;
    for (size_t i = hash_offset(off, mask);; i = (i + 1) & mask) {
        if (cache->slots[i].die_offset == off)
            return &cache->slots[i];
        if (cache->slots[i].die_offset == 0)
            return NULL;
    }
}

static struct func_facts *func_cache_insert(struct sym_func_cache *cache,
                                            const struct func_facts *facts)
{
    if ((cache->count + 1) * 2 > cache->nslots) {
        size_t nslots = cache->nslots ? cache->nslots * 2 : 256;
        struct func_facts *slots = calloc(nslots, sizeof *slots);
        if (slots == NULL)
            return NULL;
        for (size_t i = 0; i < cache->nslots; i++) {
            if (cache->slots[i].die_offset == 0)
                continue;
            size_t j = hash_offset(cache->slots[i].die_offset, nslots - 1);
            while (slots[j].die_offset != 0)
                j = (j + 1) & (nslots - 1);
            slots[j] = cache->slots[i];
        }
        free(cache->slots);
        cache->slots = slots;
        cache->nslots = nslots;
    }
    size_t mask = cache->nslots - 1;
    size_t i = hash_offset(facts->die_offset, mask);
    while (cache->slots[i].die_offset != 0)
        i = (i + 1) & mask;
    cache->slots[i] = *facts;
    cache->count++;
    return &cache->slots[i];
}

static const char *comp_dir_of(Dwarf_Die *die)
{
    Dwarf_Die cu;
    Dwarf_Attribute attr;
    if (dwarf_diecu(die, &cu, NULL, NULL) == NULL)
        return NULL;
    return dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));
}

/* DW_AT_decl_file as a name, through abstract_origin / specification.
 * (libdw 0.188's dwarf_decl_file rejects file index 0, which DWARF 5 uses
 * for the primary source file.)  *comp_dir gets the declaring CU's. */
static const char *decl_file_of(Dwarf_Die *die, const char **comp_dir)
{
    Dwarf_Attribute attr;
    Dwarf_Word index;
    Dwarf_Die cu;
    Dwarf_Files *files;
    if (comp_dir != NULL)
        *comp_dir = NULL;
    if (dwarf_formudata(dwarf_attr_integrate(die, DW_AT_decl_file, &attr), &index) != 0
        || dwarf_cu_die(attr.cu, &cu, NULL, NULL, NULL, NULL, NULL, NULL) == NULL
        || dwarf_getsrcfiles(&cu, &files, NULL) != 0)
        return NULL;
    if (comp_dir != NULL)
        *comp_dir = comp_dir_of(&cu);
    return dwarf_filesrc(files, index, NULL, NULL);
}

static int is_function_tag(int tag)
{
    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine
        || tag == DW_TAG_entry_point;
}

/* Demangled linkage name, else DW_AT_name (through abstract_origin and
 * specification). */
static const char *function_name(struct sym_string_pool *strings, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (linkage == NULL)
        linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (linkage != NULL)
        return sym_strings_intern_demangled(strings, linkage);
    return sym_strings_intern(strings, dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr)));
}

/* The out-of-line concrete copy of an inlined function, if its CU has one:
 * a top-level DW_TAG_subprogram with the same abstract origin and code. */
static int find_out_of_line_copy(Dwarf_Die *inlined, Dwarf_Die *copy)
{
    Dwarf_Attribute attr;
    Dwarf_Die origin, cu, child;
    if (dwarf_formref_die(dwarf_attr(inlined, DW_AT_abstract_origin, &attr), &origin) == NULL)
        return 0;
    Dwarf_Off origin_off = dwarf_dieoffset(&origin);
    if (dwarf_diecu(inlined, &cu, NULL, NULL) == NULL || dwarf_child(&cu, &child) != 0)
        return 0;
    do {
        Dwarf_Die ref;
        if (dwarf_tag(&child) == DW_TAG_subprogram
            && dwarf_formref_die(dwarf_attr(&child, DW_AT_abstract_origin, &attr), &ref) != NULL
            && dwarf_dieoffset(&ref) == origin_off
            && (dwarf_hasattr(&child, DW_AT_low_pc) || dwarf_hasattr(&child, DW_AT_ranges))) {
            *copy = child;
            return 1;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

/* Smallest declaration line, above `first_line` in `decl_file`, of the
 * functions defined at the top level of the CU holding `die`: the next
 * function's start bounds an inlined function whose ranges are blurred
 * with its caller's code.  INT_MAX when none. */
static int next_function_line(Dwarf_Die *die, const char *decl_file, int first_line)
{
    Dwarf_Die cu, child;
    int next = INT_MAX;
    if (decl_file == NULL || dwarf_diecu(die, &cu, NULL, NULL) == NULL
        || dwarf_child(&cu, &child) != 0)
        return next;
    do {
        int line;
        const char *file;
        if (dwarf_tag(&child) == DW_TAG_subprogram
            && dwarf_decl_line(&child, &line) == 0 && line > first_line && line < next
            && (file = decl_file_of(&child, NULL)) != NULL && strcmp(file, decl_file) == 0)
            next = line;
    } while (dwarf_siblingof(&child, &child) == 0);
    return next;
}

struct addr_range {
    Dwarf_Addr low, high;
};

struct range_list {
    struct addr_range *items;
    size_t count, cap;
};

static void add_die_ranges(struct range_list *list, Dwarf_Die *die)
{
    Dwarf_Addr base, low, high;
    ptrdiff_t offset = 0;
    while ((offset = dwarf_ranges(die, offset, &base, &low, &high)) > 0) {
        if (list->count == list->cap) {
            size_t cap = list->cap ? list->cap * 2 : 16;
            struct addr_range *grown = realloc(list->items, cap * sizeof *grown);
            if (grown == NULL)
                return;
            list->items = grown;
            list->cap = cap;
        }
        list->items[list->count++] = (struct addr_range){ low, high };
    }
}

/* What the function's nested code tells: the ranges of functions nested in
 * it (inlined callees, nested subprograms), whose lines are not its own, and
 * the call lines of its inlined callees in its own file, which are. */
struct nested_code {
    struct range_list ranges;
    struct sym_string_pool *strings;
    Dwarf_Files *files;         /* of the function's CU */
    const char *comp_dir;
    const char *file;           /* pooled definition file of the function */
    int max_call_line;
};

static void note_call_line(struct nested_code *nested, Dwarf_Die *inlined)
{
    Dwarf_Attribute attr;
    Dwarf_Word call_file, call_line;
    if (nested->files == NULL
        || dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &call_file) != 0
        || dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &call_line) != 0
        || (int)call_line <= nested->max_call_line)
        return;
    const char *path = sym_strings_intern_path(nested->strings, nested->comp_dir,
                                               dwarf_filesrc(nested->files, call_file, NULL, NULL));
    if (path == nested->file)
        nested->max_call_line = (int)call_line;
}

static void collect_nested_code(Dwarf_Die *die, struct nested_code *nested, int depth)
{
    Dwarf_Die child;
    if (depth > 32 || dwarf_child(die, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
            add_die_ranges(&nested->ranges, &child);
            if (tag == DW_TAG_inlined_subroutine)
                note_call_line(nested, &child);
        } else if (dwarf_haschildren(&child)) {
            collect_nested_code(&child, nested, depth + 1);
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int in_ranges(const struct range_list *list, Dwarf_Addr addr)
{
    for (size_t i = 0; i < list->count; i++)
        if (addr >= list->items[i].low && addr < list->items[i].high)
            return 1;
    return 0;
}

/* Largest line of `file` in [first_line, line_limit) in the CU line table
 * at addresses of `code_die`'s own code (nested inlined callees excluded);
 * 0 when none. */
static int function_last_line(struct sym_string_pool *strings, Dwarf_Die *code_die,
                              const char *file, int first_line, int line_limit)
{
    Dwarf_Die cu;
    Dwarf_Lines *lines;
    size_t nlines;
    if (file == NULL || dwarf_diecu(code_die, &cu, NULL, NULL) == NULL
        || dwarf_getsrclines(&cu, &lines, &nlines) != 0)
        return 0;
    const char *comp_dir = comp_dir_of(code_die);
    struct range_list own = { .items = NULL };
    add_die_ranges(&own, code_die);
    struct nested_code nested = { .strings = strings, .comp_dir = comp_dir, .file = file };
    if (dwarf_getsrcfiles(&cu, &nested.files, NULL) != 0)
        nested.files = NULL;
    collect_nested_code(code_die, &nested, 0);
    int last_line = nested.max_call_line < line_limit ? nested.max_call_line : 0;
    const char *last_raw = NULL, *last_path = NULL;
    for (size_t i = 0; i < nlines; i++) {
        Dwarf_Line *line = dwarf_onesrcline(lines, i);
        Dwarf_Addr addr;
        bool end_sequence;
        int lineno;
        if (line == NULL || dwarf_lineaddr(line, &addr) != 0
            || dwarf_lineendsequence(line, &end_sequence) != 0 || end_sequence
            || dwarf_lineno(line, &lineno) != 0 || lineno <= last_line
            || lineno < first_line || lineno >= line_limit || !in_ranges(&own, addr) || in_ranges(&nested.ranges, addr))
            continue;
        const char *raw = dwarf_linesrc(line, NULL, NULL);
        if (raw == NULL)
            continue;
        if (raw != last_raw) {
            last_raw = raw;
            last_path = sym_strings_intern_path(strings, comp_dir, raw);
        }
        if (last_path == file)
            last_line = lineno;
    }
    free(own.items);
    free(nested.ranges.items);
    return last_line;
}

static const struct func_facts *function_facts(struct sym_string_pool *strings,
                                               struct sym_func_cache *cache, Dwarf_Die *die)
{
    Dwarf_Off off = dwarf_dieoffset(die);
    struct func_facts *known = func_cache_find(cache, off);
    if (known != NULL)
        return known;

    struct func_facts facts = { .die_offset = off };
    facts.name = function_name(strings, die);
    const char *decl_comp_dir;
    const char *decl_file = decl_file_of(die, &decl_comp_dir);
    facts.file = sym_strings_intern_path(strings, decl_comp_dir, decl_file);
    if (dwarf_decl_line(die, &facts.first_line) != 0)
        facts.first_line = 0;

    Dwarf_Die code_die = *die;
    /* The next function's start always bounds this one: line-table rows of
     * code inlined from elsewhere in the file must not stretch it. */
    int line_limit = next_function_line(die, decl_file, facts.first_line);
    if (dwarf_tag(die) == DW_TAG_inlined_subroutine)
        find_out_of_line_copy(die, &code_die);
    facts.last_line = function_last_line(strings, &code_die, facts.file, facts.first_line,
                                         line_limit);
    if (facts.last_line < facts.first_line)
        facts.last_line = facts.first_line;

    struct func_facts *stored = func_cache_insert(cache, &facts);
    return stored != NULL ? stored : func_cache_find(cache, off);
}

static void set_function(struct mp_frame_info *frame, const struct func_facts *facts)
{
    if (facts == NULL)
        return;
    frame->function = facts->name;
    frame->func_file = facts->file;
    frame->func_first_line = facts->first_line;
    frame->func_last_line = facts->last_line;
}

int sym_dwarf_frames(struct sym_string_pool *strings, struct sym_func_cache *funcs,
                     struct sym_scope_index *scope_index, Dwarf_Die *cudie, Dwarf_Addr dwarf_addr,
                     struct mp_frame_info *out, int max)
{
    if (max <= 0)
        return 0;
    memset(&out[0], 0, sizeof out[0]);
    int nframes = 0;

    /* Innermost position: the line table row for the address. */
    Dwarf_Line *line = dwarf_getsrc_die(cudie, dwarf_addr);
    const char *file = NULL;
    int lineno = 0;
    if (line != NULL) {
        file = sym_strings_intern_path(strings, comp_dir_of(cudie), dwarf_linesrc(line, NULL, NULL));
        if (dwarf_lineno(line, &lineno) != 0)
            lineno = 0;
    }

    /* The physical scope chain, innermost first: from the CU's function
     * index, else (nested functions, odd DWARF) from dwarf_getscopes and its
     * physical nesting (inlined instances sit inside their callers, not
     * inside their abstract definitions). */
    Dwarf_Die indexed[MAX_SCOPE_DEPTH];
    Dwarf_Die *scopes = NULL;
    int nscopes = sym_scope_chain(scope_index, cudie, dwarf_addr, indexed, MAX_SCOPE_DEPTH);
    if (nscopes == 0) {
        Dwarf_Die innermost;
        Dwarf_Die *found = NULL;
        int have_scope = dwarf_getscopes(cudie, dwarf_addr, &found) > 0;
        if (have_scope)
            innermost = found[0];
        free(found);
        nscopes = have_scope ? dwarf_getscopes_die(&innermost, &scopes) : 0;
    }
    Dwarf_Die *chain = scopes != NULL ? scopes : indexed;

    for (int i = 0; i < nscopes && nframes < max; i++) {
        Dwarf_Die *die = &chain[i];
        int tag = dwarf_tag(die);
        if (!is_function_tag(tag))
            continue;
        struct mp_frame_info *frame = &out[nframes++];
        memset(frame, 0, sizeof *frame);
        frame->file = file;
        frame->line = lineno;
        set_function(frame, function_facts(strings, funcs, die));
        if (tag != DW_TAG_inlined_subroutine)
            break;      /* the concrete function: the chain ends here */

        /* The caller's position is this instance's call site. */
        Dwarf_Attribute attr;
        Dwarf_Word value;
        Dwarf_Die cu;
        Dwarf_Files *files;
        file = NULL;
        lineno = 0;
        if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &value) == 0
            && dwarf_diecu(die, &cu, NULL, NULL) != NULL
            && dwarf_getsrcfiles(&cu, &files, NULL) == 0)
            file = sym_strings_intern_path(strings, comp_dir_of(die),
                                           dwarf_filesrc(files, value, NULL, NULL));
        if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &value) == 0)
            lineno = (int)value;
    }
    free(scopes);

    if (nframes == 0 && line != NULL) {
        /* Line info but no subprogram DIE (assembly, or DWARF without
         * functions): the caller names the function from the symbol table. */
        out[0].file = file;
        out[0].line = lineno;
        nframes = 1;
    }
    return nframes;
}
