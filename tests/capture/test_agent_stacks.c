/* memprof tests: the agent's table of stacks it named to memprof
 * (src/capture/agent/agent_stacks.c, built into this test on its own): a
 * stack keeps its id; stacks whose hashes collide get ids of their own;
 * an entry being filled is never found; a full table (ids, pool, probes)
 * says so instead of handing out a wrong id; a table the program wrote
 * over never makes the agent read outside it; a forked child starts with
 * an empty table and ids from 1; a stack's hash is the fold the agent's
 * walk keeps frame by frame from the outermost frame in. */
#define _GNU_SOURCE
#include "harness.h"
#include "capture/agent/agent_stacks.c"

#include <check.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* A stack of n frames, different for each seed. */
static void stack_of(uint64_t *f, uint32_t n, uint64_t seed)
{
    for (uint32_t i = 0; i < n; i++)
        f[i] = 0x400000 + seed * 4096 + i * 16;
}

/* The id of the stack, naming it if new (as the agent does: publish). */
static uint32_t id_of(struct agent_stack_table *t, const uint64_t *f, uint32_t n, uint32_t truncated, uint64_t hash)
{
    struct agent_stack_claim c;
    uint32_t id = agent_stacks_find(t, f, n, truncated, hash, &c);
    if (id == 0 && c.entry) {
        id = c.entry->id;
        agent_stacks_publish(&c);
    }
    return id;
}

/* The walk (agent_fastunwind.c) keeps, for each frame, the fold of
 * agent_stack_hash_step over it and the frames above it, and hashes a
 * stack with agent_stack_hash_end of that fold: it must be the table's
 * hash, or every stack would get a new id on each walk. */
START_TEST(hash_is_the_walks_fold)
{
    uint64_t f[48];
    stack_of(f, 48, 7);
    for (uint32_t n = 0; n <= 48; n += 8) {
        uint64_t fold = AGENT_STACK_HASH_SEED;
        for (uint32_t i = n; i-- > 0;) /* outermost first */
            fold = agent_stack_hash_step(fold, f[i]);
        ck_assert_uint_eq(agent_stack_hash_end(fold, n, 0), agent_stack_hash(f, n, 0));
        ck_assert_uint_ne(agent_stack_hash_end(fold, n, 1), agent_stack_hash(f, n, 0));
    }
    /* the inner frames of one stack are the outer frames' fold carried on */
    uint64_t outer = AGENT_STACK_HASH_SEED;
    for (uint32_t i = 48; i-- > 10;)
        outer = agent_stack_hash_step(outer, f[i]);
    uint64_t whole = outer;
    for (uint32_t i = 10; i-- > 0;)
        whole = agent_stack_hash_step(whole, f[i]);
    ck_assert_uint_eq(agent_stack_hash_end(whole, 48, 0), agent_stack_hash(f, 48, 0));
    ck_assert_uint_eq(agent_stack_hash_end(outer, 38, 0), agent_stack_hash(f + 10, 38, 0));
}
END_TEST

START_TEST(same_stack_same_id)
{
    struct agent_stack_table *t = agent_stacks_create();
    ck_assert_ptr_nonnull(t);
    uint64_t a[20], b[20];
    stack_of(a, 20, 1);
    stack_of(b, 20, 2);
    uint32_t ia = id_of(t, a, 20, 0, agent_stack_hash(a, 20, 0));
    uint32_t ib = id_of(t, b, 20, 0, agent_stack_hash(b, 20, 0));
    ck_assert_uint_eq(ia, 1);
    ck_assert_uint_eq(ib, 2);
    ck_assert_uint_eq(id_of(t, a, 20, 0, agent_stack_hash(a, 20, 0)), 1);
    ck_assert_uint_eq(id_of(t, b, 20, 0, agent_stack_hash(b, 20, 0)), 2);
    /* a prefix, the same frames cut short, and no frames at all are other stacks */
    ck_assert_uint_eq(id_of(t, a, 19, 0, agent_stack_hash(a, 19, 0)), 3);
    ck_assert_uint_eq(id_of(t, a, 20, 1, agent_stack_hash(a, 20, 1)), 4);
    ck_assert_uint_eq(id_of(t, a, 0, 0, agent_stack_hash(a, 0, 0)), 5);
    ck_assert_uint_eq(id_of(t, a, 0, 0, agent_stack_hash(a, 0, 0)), 5);
    munmap(t, agent_stacks_bytes());
}
END_TEST

/* Every stack given the same hash: each its own id, each found again,
 * up to the probe limit; the next one is told there is no room. */
START_TEST(colliding_hashes)
{
    struct agent_stack_table *t = agent_stacks_create();
    uint64_t f[8];
    for (uint32_t s = 0; s < AGENT_STACK_PROBES; s++) {
        stack_of(f, 8, s);
        ck_assert_uint_eq(id_of(t, f, 8, 0, 42), s + 1);
    }
    for (uint32_t s = 0; s < AGENT_STACK_PROBES; s++) {
        stack_of(f, 8, s);
        ck_assert_uint_eq(id_of(t, f, 8, 0, 42), s + 1);
    }
    stack_of(f, 8, AGENT_STACK_PROBES);
    struct agent_stack_claim c;
    ck_assert_uint_eq(agent_stacks_find(t, f, 8, 0, 42, &c), 0);
    ck_assert_ptr_null(c.entry);
    /* another hash still finds room */
    ck_assert_uint_eq(id_of(t, f, 8, 0, 43), AGENT_STACK_PROBES + 1);
    munmap(t, agent_stacks_bytes());
}
END_TEST

/* A claimed entry is invisible until published; an abandoned one for good. */
START_TEST(claimed_entry_is_not_found)
{
    struct agent_stack_table *t = agent_stacks_create();
    uint64_t f[5];
    stack_of(f, 5, 7);
    uint64_t h = agent_stack_hash(f, 5, 0);
    struct agent_stack_claim first, second;
    ck_assert_uint_eq(agent_stacks_find(t, f, 5, 0, h, &first), 0);
    ck_assert_ptr_nonnull(first.entry);
    ck_assert_uint_eq(first.entry->id, 1);
    /* another thread meanwhile: not found, a second entry of its own */
    ck_assert_uint_eq(agent_stacks_find(t, f, 5, 0, h, &second), 0);
    ck_assert_ptr_nonnull(second.entry);
    ck_assert_uint_eq(second.entry->id, 2);
    agent_stacks_abandon(&first);
    agent_stacks_publish(&second);
    ck_assert_uint_eq(id_of(t, f, 5, 0, h), 2);
    munmap(t, agent_stacks_bytes());
}
END_TEST

/* Ids run out below AGENT_STACK_IDS; the return-address pool at
 * AGENT_STACK_POOL. */
START_TEST(full_table)
{
    struct agent_stack_table *t = agent_stacks_create();
    atomic_store(&t->ids_given, AGENT_STACK_IDS - 6);
    uint64_t f[3];
    for (uint32_t s = 0; s < 5; s++) {
        stack_of(f, 3, s);
        ck_assert_uint_eq(id_of(t, f, 3, 0, agent_stack_hash(f, 3, 0)), AGENT_STACK_IDS - 5 + s);
    }
    stack_of(f, 3, 5);
    struct agent_stack_claim c;
    ck_assert_uint_eq(agent_stacks_find(t, f, 3, 0, agent_stack_hash(f, 3, 0), &c), 0);
    ck_assert_ptr_null(c.entry);
    stack_of(f, 3, 4); /* the named ones are still found */
    ck_assert_uint_eq(id_of(t, f, 3, 0, agent_stack_hash(f, 3, 0)), AGENT_STACK_IDS - 1);
    munmap(t, agent_stacks_bytes());

    t = agent_stacks_create();
    uint64_t big[AGENT_STACK_MAX_FRAMES];
    uint32_t named = 0;
    for (uint32_t s = 0;; s++) {
        stack_of(big, AGENT_STACK_MAX_FRAMES, s);
        uint32_t id = id_of(t, big, AGENT_STACK_MAX_FRAMES, 0, agent_stack_hash(big, AGENT_STACK_MAX_FRAMES, 0));
        if (id == 0)
            break;
        ck_assert_uint_eq(id, s + 1);
        named++;
    }
    ck_assert_uint_eq(named, AGENT_STACK_POOL / AGENT_STACK_MAX_FRAMES);
    stack_of(big, AGENT_STACK_MAX_FRAMES, 0);
    ck_assert_uint_eq(id_of(t, big, AGENT_STACK_MAX_FRAMES, 0, agent_stack_hash(big, AGENT_STACK_MAX_FRAMES, 0)), 1);
    /* too many frames for a record: never named */
    uint64_t deep[AGENT_STACK_MAX_FRAMES + 1] = {0};
    struct agent_stack_claim c2;
    ck_assert_uint_eq(agent_stacks_find(t, deep, AGENT_STACK_MAX_FRAMES + 1, 0, 1, &c2), 0);
    ck_assert_ptr_null(c2.entry);
    munmap(t, agent_stacks_bytes());
}
END_TEST

/* The program writes over the table: its stacks may be wrong, the agent
 * never reads outside the table. */
START_TEST(scribbled_table)
{
    struct agent_stack_table *t = agent_stacks_create();
    uint64_t f[10];
    stack_of(f, 10, 3);
    uint64_t h = agent_stack_hash(f, 10, 0);
    ck_assert_uint_eq(id_of(t, f, 10, 0, h), 1);
    struct agent_stack_entry *e = &t->entries[h & (AGENT_STACK_SLOTS - 1)];
    ck_assert_uint_eq(e->id, 1);
    e->first = 0xfffffff0u; /* far past the pool */
    struct agent_stack_claim c;
    ck_assert_uint_eq(agent_stacks_find(t, f, 10, 0, h, &c), 0);
    ck_assert_ptr_nonnull(c.entry); /* a new entry instead */
    agent_stacks_abandon(&c);
    e->first = 0;
    e->nframes = 0xffff;
    ck_assert_uint_eq(agent_stacks_find(t, f, 10, 0, h, &c), 0);
    memset(t->entries, 0xff, sizeof t->entries); /* every key "taken", every field wild */
    ck_assert_uint_eq(agent_stacks_find(t, f, 10, 0, h, &c), 0);
    ck_assert_ptr_null(c.entry);
    munmap(t, agent_stacks_bytes());
}
END_TEST

/* fork: the child's table is empty (MADV_WIPEONFORK), its ids start at 1;
 * the parent's is untouched. */
START_TEST(forked_child_starts_afresh)
{
    struct agent_stack_table *t = agent_stacks_create();
    uint64_t a[6], b[6];
    stack_of(a, 6, 1);
    stack_of(b, 6, 2);
    ck_assert_uint_eq(id_of(t, a, 6, 0, agent_stack_hash(a, 6, 0)), 1);
    ck_assert_uint_eq(id_of(t, b, 6, 0, agent_stack_hash(b, 6, 0)), 2);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        struct agent_stack_claim c;
        int ok = agent_stacks_find(t, b, 6, 0, agent_stack_hash(b, 6, 0), &c) == 0 && c.entry &&
                 c.entry->id == 1 && atomic_load(&t->ids_given) == 1;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
    ck_assert_uint_eq(id_of(t, b, 6, 0, agent_stack_hash(b, 6, 0)), 2);
    ck_assert_uint_eq(id_of(t, a, 6, 0, agent_stack_hash(a, 6, 0)), 1);
    munmap(t, agent_stacks_bytes());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent_stacks");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hash_is_the_walks_fold);
    tcase_add_test(tc, same_stack_same_id);
    tcase_add_test(tc, colliding_hashes);
    tcase_add_test(tc, claimed_entry_is_not_found);
    tcase_add_test(tc, full_table);
    tcase_add_test(tc, scribbled_table);
    tcase_add_test(tc, forked_child_starts_afresh);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
