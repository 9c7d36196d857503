/* memprof: the source lines the reports show (report_sources.h). */
#include "report_sources.h"
#include "profile/tables.h"

void mp_report_load_sources(struct mp_sources *src, const struct mp_profile *p, size_t max_tables)
{
    if (!src)
        return;
    /* The file of every function that has a table, in the order of the
     * profile's lines (the order of the report's "not found" notes; a line
     * outside its function's file, such as one whose function's file is
     * named relative to its compilation directory, has no table, and its
     * file is not looked for: the JSON's tables are all `memprof report`
     * knows of)... */
    for (size_t i = 0; i < mp_profile_line_count(p); i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        if (mp_line_tabulable(l))
            mp_sources_want(src, l->func_file, 1, 0);
    }
    /* ...and of each only the rows of its tables that are shown (the
     * biggest first). */
    struct mp_tables tables;
    if (mp_tables_build(p, &tables) == 0) {
        size_t shown = max_tables && max_tables < tables.n ? max_tables : tables.n;
        for (size_t i = 0; i < shown; i++)
            mp_sources_want(src, tables.tables[i].file, tables.tables[i].first_line, tables.tables[i].last_line);
        mp_tables_free(&tables);
    }
    mp_sources_read(src);
}
