/* memprof: Check tests for the agent in a CPython process, with this test
 * playing memprof's side of the ring and of the Python channel
 * (events/py_channel.h): it answers the agent's MP_EV_PYSTART with a layout
 * of its choosing and reads the records.
 *  - the right layout (the built-in table for the stock interpreter): the
 *    allocations carry Python frames of the code objects described before
 *    them;
 *  - a layout that does not fit the interpreter (what a build of its own
 *    would get from the table): the agent refuses it, says so in the
 *    channel, reads no frame, and the program runs to its end;
 *  - no answer for it (an unknown version): native frames, every object
 *    still recorded (the allocator is wrapped all the same). */
#define _GNU_SOURCE
#include <check.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/python/py_layout.h"
#include "events/py_channel.h"
#include "events/ring.h"
#include "events/ring_reader.h"
#include "harness.h"
#include "py_harness.h"

enum answer { RIGHT, SKEWED, NONE };

struct run {
    struct mp_ring_reader *ring;
    enum answer answer;
    int starts;                  /* MP_EV_PYSTART seen */
    uint32_t version;
    uint64_t allocs, allocs_with_python, python_frames_undescribed;
    uint8_t described[1 << 16];  /* code ids seen in MP_EV_PYCODE */
};

static void sink(void *ctx, const struct mp_event *ev)
{
    struct run *r = ctx;
    struct mp_py_channel *ch = mp_ring_reader_py_channel(r->ring);
    if (ev->kind == MP_EV_PYSTART) {
        r->starts++;
        r->version = (uint32_t)ev->size;
        struct mp_py_layout layout;
        if (r->answer == NONE || mp_py_layout_builtin(r->version, &layout) != 0) {
            atomic_store(&ch->state, MP_PY_UNSUPPORTED);
            return;
        }
        if (r->answer == SKEWED)
            layout.code_code_adaptive += 8; /* what a build with other fields would have */
        ch->layout = layout;
        atomic_store(&ch->state, MP_PY_ANSWERED);
    } else if (ev->kind == MP_EV_PYCODE) {
        if (ev->addr < sizeof r->described)
            r->described[ev->addr] = 1;
    } else if (ev->kind == MP_EV_ALLOC) {
        r->allocs++;
        int python = 0;
        for (uint32_t i = 0; i < ev->nframes; i++) {
            if (!mp_is_pyframe(ev->frames[i]))
                continue;
            python = 1;
            uint32_t id = mp_pyframe_code(ev->frames[i]);
            if (id >= sizeof r->described || !r->described[id])
                r->python_frames_undescribed++;
        }
        r->allocs_with_python += python;
    }
}

static void run_python(struct run *r, const char *code)
{
    char err[256], preload[PATH_MAX + 16], ring_env[64];
    r->ring = mp_ring_reader_create(MP_RING_DEFAULT_CAPACITY, err, sizeof err);
    ck_assert_msg(r->ring != NULL, "%s", err);
    const char *agent = getenv("MEMPROF_AGENT");
    ck_assert_msg(agent != NULL, "MEMPROF_AGENT is not set (make check sets it)");
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", agent);
    snprintf(ring_env, sizeof ring_env, "%s=%d", MP_RING_ENV_FD, mp_ring_reader_fd(r->ring));
    char *envp[] = { preload, ring_env, NULL };
    char *argv[] = { PYTHON, "-c", (char *)code, NULL };
    ck_assert_int_eq(mp_ring_reader_start(r->ring, sink, r), 0);
    /* as memprof does: the target's pid is set by memprof's side (the
     * reader keeps its own copy of the header's words, ring.h) before the
     * child runs the program */
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char byte;
        close(go[1]);
        if (read(go[0], &byte, 1) != 1)
            _exit(126);
        execve(PYTHON, argv, envp);
        _exit(127);
    }
    close(go[0]);
    mp_ring_reader_set_target(r->ring, pid);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    close(go[1]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "python: status %d", status);
    uint64_t lost = 0;
    mp_ring_reader_stop(r->ring, &lost);
    ck_assert_uint_eq(lost, 0);
}

static const char code[] = "def grow():\n    return [bytearray(1000) for i in range(100)]\nx = grow()\n";

START_TEST(right_layout)
{
    struct run *r = calloc(1, sizeof *r);
    r->answer = RIGHT;
    run_python(r, code);
    struct mp_py_channel *ch = mp_ring_reader_py_channel(r->ring);
    ck_assert_int_eq(r->starts, 1);
    ck_assert_uint_eq(atomic_load(&ch->layout_mismatch), 0);
    ck_assert_uint_eq(atomic_load(&ch->hooks_installed), 1);
    ck_assert_uint_ge(r->allocs_with_python, 200); /* 100 bytearrays, 2 blocks each */
    ck_assert_uint_eq(r->python_frames_undescribed, 0);
    mp_ring_reader_destroy(r->ring);
    free(r);
}
END_TEST

START_TEST(skewed_layout_refused)
{
    struct run *r = calloc(1, sizeof *r);
    r->answer = SKEWED;
    run_python(r, code);
    struct mp_py_channel *ch = mp_ring_reader_py_channel(r->ring);
    ck_assert_int_eq(r->starts, 1);
    ck_assert_uint_eq(atomic_load(&ch->layout_mismatch), 1);
    ck_assert_uint_eq(r->allocs_with_python, 0);
    ck_assert_uint_ge(r->allocs, 200);
    mp_ring_reader_destroy(r->ring);
    free(r);
}
END_TEST

START_TEST(no_layout)
{
    struct run *r = calloc(1, sizeof *r);
    r->answer = NONE;
    run_python(r, code);
    ck_assert_int_eq(r->starts, 1);
    ck_assert_uint_eq(r->allocs_with_python, 0);
    ck_assert_uint_eq(atomic_load(&mp_ring_reader_py_channel(r->ring)->hooks_installed), 1);
    ck_assert_uint_ge(r->allocs, 200); /* pymalloc's objects too: the wrap does not need frames */
    mp_ring_reader_destroy(r->ring);
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("py_agent");
    TCase *tc = tcase_create("agent");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, right_layout);
    tcase_add_test(tc, skewed_layout_refused);
    tcase_add_test(tc, no_layout);
    suite_add_tcase(s, tc);
    return py_run_suite(s);
}
