/* memprof: recognising a CPython program and Python --function patterns
 * before launch (see py_detect.h). */
#define _GNU_SOURCE
#include "py_detect.h"

#include <ctype.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mp_py_program_is_cpython(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    int found = 0;
    Elf_Scn *scn = NULL;
    while (elf && !found && (scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_DYNAMIC))
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        if (!data || !sh.sh_entsize)
            continue;
        size_t count = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < count && !found; i++) {
            if (sh.sh_type == SHT_DYNSYM) {
                GElf_Sym sym;
                const char *name = gelf_getsym(data, (int)i, &sym) ? elf_strptr(elf, sh.sh_link, sym.st_name) : NULL;
                found = name && sym.st_shndx != SHN_UNDEF && strcmp(name, "_PyRuntime") == 0;
            } else {
                GElf_Dyn dyn;
                const char *name = gelf_getdyn(data, (int)i, &dyn) && dyn.d_tag == DT_NEEDED
                                       ? elf_strptr(elf, sh.sh_link, dyn.d_un.d_val)
                                       : NULL;
                found = name && strncmp(name, "libpython3", 10) == 0;
            }
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return found;
}

/* The FILE part of FILE:NAME ending in ".py" (or a glob that does). */
static int names_python_file(const char *pattern)
{
    const char *colon = strrchr(pattern, ':');
    if (!colon)
        return 0;
    size_t len = (size_t)(colon - pattern);
    return (len >= 3 && strncmp(colon - 3, ".py", 3) == 0) || (len >= 1 && colon[-1] == '*');
}

/* Appends "name" to a list of definitions (comma separated, bounded). */
static void add_name(char *list, size_t cap, const char *name, size_t len)
{
    size_t used = strlen(list);
    if (used + len + 3 >= cap)
        return;
    if (used)
        memcpy(list + used, ", ", 2), used += 2;
    memcpy(list + used, name, len);
    list[used + len] = '\0';
}

/* FILE.py:NAME where FILE.py can be read: is there a "def NAME" (NAME's last
 * dotted part) in it?  Globs are not checked.  0, or 2 with a message. */
static int check_python_pattern(const char *pattern, char *err, size_t errlen)
{
    const char *colon = strrchr(pattern, ':');
    if (!colon || strpbrk(pattern, "*?["))
        return 0;
    char path[4096];
    size_t len = (size_t)(colon - pattern);
    if (len >= sizeof path)
        return 0;
    memcpy(path, pattern, len);
    path[len] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return 0; /* a module found on sys.path at run time: the report says if it never ran */
    const char *leaf = strrchr(colon + 1, '.');
    leaf = leaf ? leaf + 1 : colon + 1;
    size_t leaf_len = strlen(leaf);
    char line[4096], defs[512] = "";
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "async ", 6) == 0)
            for (p += 6; *p == ' ' || *p == '\t'; p++)
                ;
        if (strncmp(p, "def ", 4) != 0)
            continue;
        for (p += 4; *p == ' ' || *p == '\t'; p++)
            ;
        size_t n = 0;
        while (isalnum((unsigned char)p[n]) || p[n] == '_' || (unsigned char)p[n] >= 0x80)
            n++;
        if (n == leaf_len && strncmp(p, leaf, n) == 0)
            found = 1;
        else
            add_name(defs, sizeof defs, p, n);
    }
    fclose(f);
    if (found)
        return 0;
    snprintf(err, errlen, "memprof: --function %s: %s has no def %s%s%s%s", pattern, path, leaf,
             defs[0] ? " (its functions: " : "", defs, defs[0] ? ")" : "");
    return 2;
}

int mp_py_split_functions(const char *program_path, const char *const *patterns, size_t n, const char **native,
                          size_t *n_native, const char **python, size_t *n_python, char *err, size_t errlen)
{
    *n_native = *n_python = 0;
    int cpython = -1;
    for (size_t i = 0; i < n; i++) {
        int is_python = names_python_file(patterns[i]);
        if (!is_python && !strchr(patterns[i], ':')) {
            if (cpython < 0)
                cpython = program_path && *program_path && mp_py_program_is_cpython(program_path);
            is_python = cpython;
        }
        if (is_python) {
            int rc = check_python_pattern(patterns[i], err, errlen);
            if (rc)
                return rc;
            python[(*n_python)++] = patterns[i];
        } else {
            native[(*n_native)++] = patterns[i];
        }
    }
    if (*n_native && *n_python) {
        snprintf(err, errlen, "memprof: --function %s is a Python function and --function %s a native one: "
                 "profile them in separate runs", python[0], native[0]);
        return 2;
    }
    return 0;
}
