/* memprof: the stacks the agents named, per process.
 *
 * An agent names each distinct stack once (MP_REC_STACK: an id and the
 * frames) and then sends allocations with the id only (MP_REC_ALLOC_ID).
 * Ids are small (below MP_RING_STACK_IDS, given in order from 1 by each
 * agent), so each process's stacks sit in an array indexed by id, grown
 * as ids come: memory is bounded by the ids an agent can give, whatever
 * the target writes into the ring.  A process's stacks are forgotten when
 * a new agent says HELLO under its pid (an exec, or a pid used again) and
 * when memprof is done with it. */
#include "ring_stacks.h"

#include <stdlib.h>
#include <string.h>

#include "ring.h"

struct named_stack {
    uint64_t *frames;     /* NULL: not named */
    uint32_t nframes;
    uint32_t truncated;
    uint64_t memo;        /* the profile's word for these frames (mp_event.stack_memo) */
};

struct process_stacks {
    uint32_t pid;
    uint32_t cap;         /* entries of `by_id` */
    struct named_stack *by_id;
    struct process_stacks *next;
};

struct mp_ring_stacks {
    struct process_stacks *list;
    struct process_stacks *last; /* the one looked up last (records come in runs of one process) */
};

struct mp_ring_stacks *mp_ring_stacks_new(void)
{
    return calloc(1, sizeof(struct mp_ring_stacks));
}

static void free_process(struct process_stacks *p)
{
    for (uint32_t i = 0; i < p->cap; i++)
        free(p->by_id[i].frames);
    free(p->by_id);
    free(p);
}

void mp_ring_stacks_free(struct mp_ring_stacks *s)
{
    if (!s)
        return;
    for (struct process_stacks *p = s->list, *next; p; p = next) {
        next = p->next;
        free_process(p);
    }
    free(s);
}

static struct process_stacks *lookup(struct mp_ring_stacks *s, uint32_t pid)
{
    if (s->last && s->last->pid == pid)
        return s->last;
    for (struct process_stacks *p = s->list; p; p = p->next)
        if (p->pid == pid)
            return s->last = p;
    return NULL;
}

int mp_ring_stacks_define(struct mp_ring_stacks *s, uint32_t pid, uint64_t id, const uint64_t *frames,
                          uint32_t nframes, uint32_t truncated)
{
    if (id == 0 || id >= MP_RING_STACK_IDS || nframes > MP_MAX_FRAMES)
        return -1;
    struct process_stacks *p = lookup(s, pid);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return -1;
        p->pid = pid;
        p->next = s->list;
        s->list = s->last = p;
    }
    if (id >= p->cap) {
        uint32_t cap = p->cap ? p->cap : 256;
        while (cap <= id)
            cap *= 2;
        struct named_stack *grown = realloc(p->by_id, cap * sizeof *grown);
        if (!grown)
            return -1;
        memset(grown + p->cap, 0, (cap - p->cap) * sizeof *grown);
        p->by_id = grown;
        p->cap = cap;
    }
    struct named_stack *n = &p->by_id[id];
    uint64_t *copy = malloc((nframes ? nframes : 1) * sizeof *copy);
    if (!copy)
        return -1;
    memcpy(copy, frames, nframes * sizeof *copy);
    free(n->frames); /* named again: only a target that wrote into the ring does that */
    n->frames = copy;
    n->nframes = nframes;
    n->truncated = truncated & (1u | MP_REC_TRUNC_FAULT); /* deeper than a record; cut short by a fault */
    n->memo = 0; /* other frames: what the profile knew of the old ones is void */
    return 0;
}

const uint64_t *mp_ring_stacks_find(struct mp_ring_stacks *s, uint32_t pid, uint32_t id, uint32_t *nframes,
                                    uint32_t *truncated, uint64_t **memo)
{
    struct process_stacks *p = lookup(s, pid);
    if (!p || id >= p->cap || !p->by_id[id].frames)
        return NULL;
    *nframes = p->by_id[id].nframes;
    *truncated = p->by_id[id].truncated;
    *memo = &p->by_id[id].memo;
    return p->by_id[id].frames;
}

void mp_ring_stacks_forget(struct mp_ring_stacks *s, uint32_t pid)
{
    for (struct process_stacks **link = &s->list; *link; link = &(*link)->next)
        if ((*link)->pid == pid) {
            struct process_stacks *p = *link;
            *link = p->next;
            if (s->last == p)
                s->last = NULL;
            free_process(p);
            return;
        }
}
