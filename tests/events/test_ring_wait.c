/* memprof tests: the ring's wait protocol (src/events/ring_wait.h) on a
 * header in this process's memory: writers_asleep is a flag the reader
 * takes back, so a writer that left its sleep by siglongjmp, or a target
 * that wrote the word, costs one wake-up, not one at every tail. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "events/ring_wait.h"

static struct mp_ring_header header;

START_TEST(test_scribbled_flag_costs_one_wake)
{
    atomic_store(&header.writers_asleep, 7); /* the target wrote it */
    uint32_t wake = atomic_load(&header.writers_wake);
    mp_ring_wake_writers(&header);
    ck_assert_uint_eq(atomic_load(&header.writers_asleep), 0);
    ck_assert_uint_eq(atomic_load(&header.writers_wake), wake + 1);
    mp_ring_wake_writers(&header); /* nobody asleep: no wake-up */
    mp_ring_wake_writers(&header);
    ck_assert_uint_eq(atomic_load(&header.writers_wake), wake + 1);
}
END_TEST

static _Atomic uint64_t slot_seq; /* 0: the slot a writer waits for is not free (it wants 1) */
static _Atomic int writer_done;

static void *writer(void *arg)
{
    (void)arg;
    while (atomic_load(&slot_seq) != 1)
        mp_ring_writer_sleep(&header, &slot_seq, 1, 5L * 1000 * 1000 * 1000); /* woken, not timed out */
    atomic_store(&writer_done, 1);
    return NULL;
}

START_TEST(test_sleeping_writer_woken_and_flag_cleared)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, writer, NULL), 0);
    while (atomic_load(&header.writers_asleep) == 0) { /* it says it sleeps */
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    atomic_store(&slot_seq, 1); /* room made */
    mp_ring_wake_writers(&header);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &end);
    ck_assert_int_eq(atomic_load(&writer_done), 1);
    ck_assert_int_lt(end.tv_sec - start.tv_sec, 4); /* not the 5-second timeout */
    ck_assert_uint_eq(atomic_load(&header.writers_asleep), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ring_wait");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_scribbled_flag_costs_one_wake);
    tcase_add_test(tc, test_sleeping_writer_woken_and_flag_cleared);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
