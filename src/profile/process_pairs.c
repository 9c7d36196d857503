/* memprof: pairing the images of two process trees (process_pairs.h). */
#define _GNU_SOURCE
#include "process_pairs.h"

#include <stdlib.h>
#include <string.h>

/* The command line, its words separated by a byte no argument holds. */
static char *command_key(const struct mp_report_run *run)
{
    size_t len = 1;
    for (size_t i = 0; run->command && run->command[i]; i++)
        len += strlen(run->command[i]) + 1;
    char *k = malloc(len), *o = k;
    if (!k)
        return NULL;
    for (size_t i = 0; run->command && run->command[i]; i++) {
        size_t l = strlen(run->command[i]);
        memcpy(o, run->command[i], l);
        o += l;
        *o++ = '\x1f';
    }
    *o = '\0';
    return k;
}

struct keys {
    char **prog;      /* argv[0] */
    char **cmd;       /* command line */
    char **place;     /* command lines from the image up to the first, '\x1e' between */
};

static int make_keys(const struct mp_report_run *const *runs, size_t n, struct keys *k)
{
    k->prog = calloc(n ? n : 1, sizeof *k->prog);
    k->cmd = calloc(n ? n : 1, sizeof *k->cmd);
    k->place = calloc(n ? n : 1, sizeof *k->place);
    if (!k->prog || !k->cmd || !k->place)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!(k->cmd[i] = command_key(runs[i])) ||
            !(k->prog[i] = strdup(runs[i]->command && runs[i]->command[0] ? runs[i]->command[0] : "")))
            return -1;
    for (size_t i = 0; i < n; i++) {
        int up = runs[i]->tree_exec_of ? runs[i]->tree_exec_of : runs[i]->tree_parent;
        const char *above = up > 0 && (size_t)up <= n && (size_t)up - 1 < i ? k->place[up - 1] : "";
        size_t len = strlen(k->cmd[i]) + strlen(above) + 2;
        if (!(k->place[i] = malloc(len)))
            return -1;
        strcpy(k->place[i], k->cmd[i]);
        strcat(k->place[i], "\x1e");
        strcat(k->place[i], above);
    }
    return 0;
}

static void free_keys(struct keys *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (k->prog)
            free(k->prog[i]);
        if (k->cmd)
            free(k->cmd[i]);
        if (k->place)
            free(k->place[i]);
    }
    free(k->prog);
    free(k->cmd);
    free(k->place);
}

/* Pairs OLD and NEW images whose key agrees, in tree order. */
static void pair_by(char **old_keys, size_t n_old, char **new_keys, size_t n_new, long *old_of_new, long *new_of_old)
{
    for (size_t j = 0; j < n_new; j++) {
        if (old_of_new[j] >= 0)
            continue;
        for (size_t i = 0; i < n_old; i++)
            if (new_of_old[i] < 0 && strcmp(old_keys[i], new_keys[j]) == 0) {
                old_of_new[j] = (long)i;
                new_of_old[i] = (long)j;
                break;
            }
    }
}

int mp_process_pairs(const struct mp_report_run *const *old_runs, size_t n_old,
                     const struct mp_report_run *const *new_runs, size_t n_new, struct mp_process_pair **out,
                     size_t *n_out)
{
    struct keys ko = { 0 }, kn = { 0 };
    long *old_of_new = malloc((n_new ? n_new : 1) * sizeof *old_of_new);
    long *new_of_old = malloc((n_old ? n_old : 1) * sizeof *new_of_old);
    struct mp_process_pair *pairs = calloc(n_old + n_new + 1, sizeof *pairs);
    int rc = -1;
    if (!old_of_new || !new_of_old || !pairs || make_keys(old_runs, n_old, &ko) || make_keys(new_runs, n_new, &kn))
        goto out;
    for (size_t j = 0; j < n_new; j++)
        old_of_new[j] = -1;
    for (size_t i = 0; i < n_old; i++)
        new_of_old[i] = -1;
    pair_by(ko.place, n_old, kn.place, n_new, old_of_new, new_of_old);
    pair_by(ko.cmd, n_old, kn.cmd, n_new, old_of_new, new_of_old);
    pair_by(ko.prog, n_old, kn.prog, n_new, old_of_new, new_of_old);
    size_t n = 0;
    for (size_t j = 0; j < n_new; j++)
        pairs[n++] = (struct mp_process_pair){ old_of_new[j], (long)j };
    for (size_t i = 0; i < n_old; i++)
        if (new_of_old[i] < 0)
            pairs[n++] = (struct mp_process_pair){ (long)i, -1 };
    *out = pairs;
    *n_out = n;
    pairs = NULL;
    rc = 0;
out:
    free_keys(&ko, n_old);
    free_keys(&kn, n_new);
    free(old_of_new);
    free(new_of_old);
    free(pairs);
    return rc;
}
