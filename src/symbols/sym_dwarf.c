/* memprof symbolizer: the DWARF walk for one address.  Inline chain from
 * dwarf_getscopes / dwarf_getscopes_die (as elfutils src/addr2line.c does):
 * the innermost frame gets the line table line of the address, each outer
 * frame the DW_AT_call_file / DW_AT_call_line of the inlined instance inside
 * it.  Function facts (name, definition file, first and last line) are
 * computed once per function DIE and cached; the last line reads only the
 * line table rows inside the function's own ranges (binary search), and the
 * CU-wide questions (the next function's start, an inlined function's
 * out-of-line copy) are answered by the CU's index (sym_scopes.h). */
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

static int compare_ranges(const void *a, const void *b)
{
    const struct addr_range *x = a, *y = b;
    return x->low < y->low ? -1 : x->low > y->low;
}

/* Sorted by start, overlapping and touching ranges merged, empty ones gone. */
static void merge_ranges(struct range_list *list)
{
    if (list->count > 1)
        qsort(list->items, list->count, sizeof *list->items, compare_ranges);
    size_t out = 0;
    for (size_t i = 0; i < list->count; i++) {
        struct addr_range r = list->items[i];
        if (r.high <= r.low)
            continue;
        if (out > 0 && r.low <= list->items[out - 1].high) {
            if (r.high > list->items[out - 1].high)
                list->items[out - 1].high = r.high;
        } else {
            list->items[out++] = r;
        }
    }
    list->count = out;
}

/* Index of the first line table row at or above addr (libdw sorts the rows
 * of a CU by address). */
static size_t first_row_at(Dwarf_Lines *lines, size_t nlines, Dwarf_Addr addr)
{
    size_t lo = 0, hi = nlines;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        Dwarf_Addr a;
        Dwarf_Line *line = dwarf_onesrcline(lines, mid);
        if (line != NULL && dwarf_lineaddr(line, &a) == 0 && a < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Largest line of `file` in [first_line, line_limit) in the CU line table
 * at addresses of `code_die`'s own code (nested inlined callees excluded);
 * 0 when none.  Only the rows inside the function's ranges are read: binary
 * search to the first one, nested ranges swept alongside. */
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
    merge_ranges(&own);
    struct nested_code nested = { .strings = strings, .comp_dir = comp_dir, .file = file };
    if (dwarf_getsrcfiles(&cu, &nested.files, NULL) != 0)
        nested.files = NULL;
    collect_nested_code(code_die, &nested, 0);
    merge_ranges(&nested.ranges);
    int last_line = nested.max_call_line < line_limit ? nested.max_call_line : 0;
    const char *last_raw = NULL, *last_path = NULL;
    size_t k = 0;   /* nested range not yet passed */
    for (size_t r = 0; r < own.count; r++) {
        for (size_t i = first_row_at(lines, nlines, own.items[r].low); i < nlines; i++) {
            Dwarf_Line *line = dwarf_onesrcline(lines, i);
            Dwarf_Addr addr;
            bool end_sequence;
            int lineno;
            if (line == NULL || dwarf_lineaddr(line, &addr) != 0 || addr >= own.items[r].high)
                break;
            while (k < nested.ranges.count && nested.ranges.items[k].high <= addr)
                k++;
            if ((k < nested.ranges.count && nested.ranges.items[k].low <= addr)
                || dwarf_lineendsequence(line, &end_sequence) != 0 || end_sequence
                || dwarf_lineno(line, &lineno) != 0 || lineno <= last_line
                || lineno < first_line || lineno >= line_limit)
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
    }
    free(own.items);
    free(nested.ranges.items);
    return last_line;
}

static const struct func_facts *function_facts(struct sym_string_pool *strings,
                                               struct sym_func_cache *cache,
                                               struct sym_scope_index *scope_index, Dwarf_Die *die)
{
    Dwarf_Off off = dwarf_dieoffset(die);
    struct func_facts *known = func_cache_find(cache, off);
    if (known != NULL)
        return known;

    struct func_facts facts = { .die_offset = off };
    facts.name = function_name(strings, die);
    const char *decl_comp_dir;
    const char *decl_file = sym_decl_file(die, &decl_comp_dir);
    facts.file = sym_strings_intern_path(strings, decl_comp_dir, decl_file);
    if (dwarf_decl_line(die, &facts.first_line) != 0)
        facts.first_line = 0;

    Dwarf_Die code_die = *die, cu;
    int have_cu = dwarf_diecu(die, &cu, NULL, NULL) != NULL;
    /* The next function's start always bounds this one: line-table rows of
     * code inlined from elsewhere in the file must not stretch it. */
    int line_limit = INT_MAX;
    if (have_cu && decl_file != NULL)
        line_limit = sym_scope_next_function_line(scope_index, &cu, sym_strings_intern(strings, decl_file),
                                                  facts.first_line);
    /* An inlined function's lines come from its out-of-line copy, if its
     * CU has one. */
    Dwarf_Attribute attr;
    Dwarf_Die origin;
    if (have_cu && dwarf_tag(die) == DW_TAG_inlined_subroutine
        && dwarf_formref_die(dwarf_attr(die, DW_AT_abstract_origin, &attr), &origin) != NULL)
        sym_scope_out_of_line_copy(scope_index, &cu, dwarf_dieoffset(&origin), &code_die);
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
        set_function(frame, function_facts(strings, funcs, scope_index, die));
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
