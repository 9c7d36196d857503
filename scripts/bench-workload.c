/* bench-workload.c: the allocation-heavy workload scripts/bench profiles.
 *
 * Deterministic (fixed-seed PRNG, no time or address dependence in what it
 * does), single-threaded, and shaped like real C/C++ programs rather than a
 * malloc loop:
 *
 *   1. a symbol table: a chained hash table of strdup'ed keys whose bucket
 *      array grows by calloc + rehash, with lookups and deletions;
 *   2. string building: std::string-like buffers grown by realloc, plus
 *      short-lived formatted strings (strdup of snprintf output);
 *   3. a growing vector of records (realloc doubling) with per-record
 *      payloads, shrunk at the end like shrink_to_fit;
 *   4. a tree (an AST-like n-ary tree with child arrays grown by realloc and
 *      mixed node sizes) built and torn down several times.
 *
 * Usage: bench-workload [SCALE]   (SCALE defaults to 1; work is linear in it)
 * Prints one checksum line on stdout so the work cannot be optimised away.
 *
 * Build: gcc -O2 -g -o bench-workload bench-workload.c
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("bench-workload: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fputs("bench-workload: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static void *xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (!p) {
        fputs("bench-workload: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        fputs("bench-workload: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static uint64_t checksum;

/* ---- 1. chained hash table of strdup'ed keys -------------------------- */

struct entry {
    struct entry *next;
    char *key;
    uint64_t hash;
    int *values; /* small int vector, grown by realloc */
    size_t nvalues;
};

struct table {
    struct entry **buckets;
    size_t nbuckets, count;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static void table_grow(struct table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    struct entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct entry *e = t->buckets[i];
        while (e) {
            struct entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

static struct entry *table_find(struct table *t, const char *key, uint64_t h)
{
    if (!t->nbuckets)
        return NULL;
    for (struct entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void table_add(struct table *t, const char *key, int value)
{
    uint64_t h = hash_str(key);
    struct entry *e = table_find(t, key, h);
    if (!e) {
        if (t->count >= t->nbuckets * 3 / 4)
            table_grow(t);
        e = xmalloc(sizeof *e);
        e->key = xstrdup(key);
        e->hash = h;
        e->values = NULL;
        e->nvalues = 0;
        e->next = t->buckets[h & (t->nbuckets - 1)];
        t->buckets[h & (t->nbuckets - 1)] = e;
        t->count++;
    }
    e->values = xrealloc(e->values, (e->nvalues + 1) * sizeof *e->values);
    e->values[e->nvalues++] = value;
}

static int table_remove(struct table *t, const char *key)
{
    uint64_t h = hash_str(key);
    if (!t->nbuckets)
        return 0;
    struct entry **pp = &t->buckets[h & (t->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            *pp = e->next;
            free(e->key);
            free(e->values);
            free(e);
            t->count--;
            return 1;
        }
    }
    return 0;
}

static void table_clear(struct table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct entry *e = t->buckets[i];
        while (e) {
            struct entry *next = e->next;
            checksum += e->nvalues;
            free(e->key);
            free(e->values);
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = t->count = 0;
}

static void make_key(char *buf, size_t len, uint32_t id)
{
    static const char *const prefixes[] = {"user", "session", "tmp", "config.value", "x",
                                           "module::function::local", "k"};
    snprintf(buf, len, "%s_%u", prefixes[id % 7], id);
}

static void phase_hash(unsigned scale)
{
    struct table t = {0};
    char key[64];
    uint32_t keyspace = 60000;
    for (unsigned round = 0; round < 4 * scale; round++) {
        for (uint32_t i = 0; i < 100000; i++) {
            make_key(key, sizeof key, rnd() % keyspace);
            table_add(&t, key, (int)i);
        }
        for (uint32_t i = 0; i < 40000; i++) {
            make_key(key, sizeof key, rnd() % keyspace);
            if (i & 1)
                checksum += (uint64_t)table_remove(&t, key);
            else
                checksum += table_find(&t, key, hash_str(key)) != NULL;
        }
    }
    checksum += t.count;
    table_clear(&t);
}

/* ---- 2. string building ------------------------------------------------ */

struct sbuf {
    char *data;
    size_t len, cap;
};

static void sbuf_append(struct sbuf *s, const char *text, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        /* std::string-like growth: 1.5x, starting small */
        size_t cap = s->cap ? s->cap + s->cap / 2 : 16;
        while (cap < s->len + n + 1)
            cap += cap / 2;
        s->data = xrealloc(s->data, cap);
        s->cap = cap;
    }
    memcpy(s->data + s->len, text, n);
    s->len += n;
    s->data[s->len] = '\0';
}

static void phase_strings(unsigned scale)
{
    static const char *const words[] = {"alpha", "be", "gamma-delta", "e", "zeta_eta_theta",
                                        "iota", "kappa lambda mu", "nu"};
    char tmp[96];
    for (unsigned i = 0; i < 120000 * scale; i++) {
        struct sbuf s = {0};
        unsigned nwords = 2 + rnd() % 14;
        for (unsigned w = 0; w < nwords; w++) {
            const char *word = words[rnd() % 8];
            sbuf_append(&s, word, strlen(word));
            sbuf_append(&s, " ", 1);
        }
        /* temporaries: formatted copies that die at once */
        snprintf(tmp, sizeof tmp, "%u:%zu:%.20s", i, s.len, s.data);
        char *copy = xstrdup(tmp);
        char *upper = xstrdup(s.data);
        for (char *c = upper; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        checksum += (unsigned char)upper[0] + strlen(copy);
        free(copy);
        free(upper);
        free(s.data);
    }
}

/* ---- 3. growing vector of records --------------------------------------- */

struct record {
    uint32_t id;
    uint32_t len;
    char *payload; /* 8..263 bytes */
};

static void phase_vector(unsigned scale)
{
    for (unsigned rep = 0; rep < 2 * scale; rep++) {
        struct record *v = NULL;
        size_t n = 0, cap = 0;
        for (uint32_t i = 0; i < 150000; i++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 4;
                v = xrealloc(v, cap * sizeof *v);
            }
            uint32_t len = 8 + rnd() % 256;
            v[n].id = i;
            v[n].len = len;
            v[n].payload = (i % 5 == 0) ? xcalloc(1, len) : xmalloc(len);
            v[n].payload[0] = (char)i;
            n++;
            /* erase-like churn: drop and replace an older payload */
            if (i % 3 == 0 && n > 1) {
                struct record *r = &v[rnd() % n];
                free(r->payload);
                r->len = 8 + rnd() % 64;
                r->payload = xmalloc(r->len);
                r->payload[0] = 1;
            }
        }
        v = xrealloc(v, n * sizeof *v); /* shrink_to_fit */
        for (size_t i = 0; i < n; i++) {
            checksum += (unsigned char)v[i].payload[0] + v[i].len;
            free(v[i].payload);
        }
        free(v);
    }
}

/* ---- 4. a tree built and torn down ------------------------------------- */

struct node {
    int kind;
    struct node **kids; /* grown by realloc, like a vector<Node*> */
    size_t nkids;
    char *name; /* some nodes carry an identifier */
    double value;
    char extra[]; /* mixed node sizes */
};

static struct node *build(int depth)
{
    size_t extra = (rnd() % 4) * 24;
    struct node *n = xmalloc(sizeof *n + extra);
    n->kind = (int)(rnd() % 16);
    n->kids = NULL;
    n->nkids = 0;
    n->value = depth;
    n->name = NULL;
    if (n->kind < 5) {
        char buf[32];
        snprintf(buf, sizeof buf, "id%d_%u", depth, rnd() % 1000);
        n->name = xstrdup(buf);
    }
    if (depth > 0) {
        unsigned kids = rnd() % 5; /* 0..4 children, mean 2 */
        for (unsigned i = 0; i < kids; i++) {
            n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof *n->kids);
            n->kids[n->nkids++] = build(depth - 1);
        }
    }
    return n;
}

static uint64_t teardown(struct node *n)
{
    uint64_t count = 1;
    for (size_t i = 0; i < n->nkids; i++)
        count += teardown(n->kids[i]);
    free(n->kids);
    free(n->name);
    free(n);
    return count;
}

static void phase_tree(unsigned scale)
{
    uint64_t nodes = 0;
    for (unsigned rep = 0; rep < 12 * scale; rep++) {
        /* depth 13 with mean 2 kids: ~10^4..10^5 nodes, varies by seed */
        struct node *root = NULL;
        while (!root || root->nkids == 0) {
            if (root)
                nodes += teardown(root);
            root = build(15);
        }
        nodes += teardown(root);
    }
    checksum += nodes;
}

int main(int argc, char **argv)
{
    unsigned scale = 1;
    if (argc > 1) {
        long s = strtol(argv[1], NULL, 10);
        if (s < 1 || s > 1000) {
            fputs("usage: bench-workload [SCALE 1..1000]\n", stderr);
            return 2;
        }
        scale = (unsigned)s;
    }
    phase_hash(scale);
    phase_strings(scale);
    phase_vector(scale);
    phase_tree(scale);
    printf("bench-workload: checksum %llu\n", (unsigned long long)checksum);
    return 0;
}
