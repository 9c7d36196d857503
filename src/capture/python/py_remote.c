/* memprof: Python frames read from outside (memprof -p), see py_remote.h. */
#define _GNU_SOURCE
#include "py_remote.h"

#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "events/py_channel.h"
#include "events/py_merge.h"
#include "events/py_read.h"
#include "py_session.h"

#define MAX_WALK 4096
#define MAX_THREADS 100000
#define MAX_LINETABLE (MP_PYCODE_MAX_PAYLOAD - 8192)

struct remote_code {
    uint64_t code;                     /* 0: empty */
    uint64_t filename, qualname, linetable; /* what the description was made of */
    int32_t first_line;
    uint32_t id;
};

struct thread_state {
    pid_t tid;
    uint64_t tstate;
};

struct mp_py_remote {
    pid_t pid;
    struct mp_py_session *session;
    struct mp_py_layout L;
    struct mp_py_text text;
    uint64_t runtime, code_type;
    struct remote_code *codes;
    size_t cap_codes, n_codes;
    uint32_t next_id;
    struct thread_state threads[64]; /* tid -> PyThreadState, checked at each use */
};

static int read_mem(void *ctx, uint64_t addr, void *dst, size_t len)
{
    const struct mp_py_remote *r = ctx;
    struct iovec local = { dst, len }, remote = { (void *)(uintptr_t)addr, len };
    return len == 0 || process_vm_readv(r->pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
}

static uint64_t read_u64(struct mp_py_remote *r, uint64_t addr)
{
    uint64_t v = 0;
    return read_mem(r, addr, &v, sizeof v) == 0 ? v : 0;
}

/* ---- finding the interpreter ---- */

struct found {
    uint64_t runtime, version, code_type, eval, eval_size;
};

/* The dynamic symbols of the ELF file at path, if it exports _PyRuntime. */
static int lookup_symbols(const char *path, struct found *f, uint64_t *first_vaddr)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    memset(f, 0, sizeof *f);
    Elf_Scn *scn = NULL;
    while (elf && (scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
                continue;
            const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
            if (!name)
                continue;
            if (strcmp(name, "_PyRuntime") == 0)
                f->runtime = sym.st_value;
            else if (strcmp(name, "Py_Version") == 0)
                f->version = sym.st_value;
            else if (strcmp(name, "PyCode_Type") == 0)
                f->code_type = sym.st_value;
            else if (strcmp(name, "_PyEval_EvalFrameDefault") == 0) {
                f->eval = sym.st_value;
                f->eval_size = sym.st_size;
            }
        }
    }
    size_t phnum = 0;
    *first_vaddr = UINT64_MAX;
    if (elf && elf_getphdrnum(elf, &phnum) == 0)
        for (size_t i = 0; i < phnum; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_vaddr < *first_vaddr)
                *first_vaddr = ph.p_vaddr & ~(uint64_t)4095;
        }
    if (elf)
        elf_end(elf);
    close(fd);
    return f->runtime ? 0 : -1;
}

/* Walks /proc/PID/maps: the file exporting _PyRuntime, its load bias and
 * its executable mappings. */
static int find_interpreter(struct mp_py_remote *r, struct found *f)
{
    char name[64], line[PATH_MAX + 128], checked[PATH_MAX] = "";
    snprintf(name, sizeof name, "/proc/%d/maps", (int)r->pid);
    FILE *maps = fopen(name, "re");
    if (!maps)
        return -1;
    char interp[PATH_MAX] = "";
    uint64_t bias = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long long lo, hi, offset;
        char perms[8];
        int at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &lo, &hi, perms, &offset, &at) < 4 || !at ||
            line[at] != '/')
            continue;
        line[strcspn(line, "\n")] = '\0';
        const char *path = line + at;
        if (!interp[0] && offset == 0 && strcmp(path, checked) != 0) {
            snprintf(checked, sizeof checked, "%s", path);
            uint64_t first_vaddr;
            if (lookup_symbols(path, f, &first_vaddr) == 0) {
                snprintf(interp, sizeof interp, "%s", path);
                bias = lo - first_vaddr;
            }
        }
        if (interp[0] && strcmp(path, interp) == 0 && perms[2] == 'x' && r->text.n < MP_PY_TEXT_RANGES) {
            r->text.lo[r->text.n] = lo;
            r->text.hi[r->text.n] = hi;
            r->text.n++;
        }
    }
    fclose(maps);
    if (!interp[0])
        return -1;
    f->runtime += bias;
    f->version = f->version ? f->version + bias : 0;
    f->code_type = f->code_type ? f->code_type + bias : 0;
    f->eval = f->eval ? f->eval + bias : 0;
    return 0;
}

struct mp_py_remote *mp_py_remote_open(pid_t pid, struct mp_py_session *session, struct mp_symbolizer *sym)
{
    struct mp_py_remote *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->pid = pid;
    r->session = session;
    r->next_id = 1;
    struct found f;
    if (find_interpreter(r, &f) != 0) {
        free(r);
        return NULL;
    }
    uint32_t version = 0;
    if (f.version)
        read_mem(r, f.version, &version, sizeof version);
    mp_py_session_attached(session);
    if (mp_py_session_layout(session, pid, f.runtime, version, sym, &r->L) != 0 ||
        !f.code_type || !f.eval || !f.eval_size) {
        free(r);
        return NULL;
    }
    r->runtime = f.runtime;
    r->code_type = f.code_type;
    r->text.eval_lo = f.eval;
    r->text.eval_hi = f.eval + f.eval_size;
    return r;
}

void mp_py_remote_free(struct mp_py_remote *r)
{
    if (!r)
        return;
    free(r->codes);
    free(r);
}

/* ---- the thread's state ---- */

static uint64_t scan_tstate(struct mp_py_remote *r, pid_t tid)
{
    const struct mp_py_layout *L = &r->L;
    uint64_t interp = read_u64(r, r->runtime + (uint64_t)L->runtime_interpreters_head);
    for (int i = 0; interp && i < 64; i++) {
        uint64_t ts = read_u64(r, interp + (uint64_t)L->interp_threads_head);
        for (int k = 0; ts && k < MAX_THREADS; k++) {
            if (read_u64(r, ts + (uint64_t)L->tstate_native_thread_id) == (uint64_t)tid)
                return ts;
            ts = read_u64(r, ts + (uint64_t)L->tstate_next);
        }
        interp = read_u64(r, interp + (uint64_t)L->interp_next);
    }
    return 0;
}

static uint64_t thread_state_of(struct mp_py_remote *r, pid_t tid)
{
    struct thread_state *slot = &r->threads[(unsigned)tid % (sizeof r->threads / sizeof *r->threads)];
    if (slot->tid == tid && slot->tstate &&
        read_u64(r, slot->tstate + (uint64_t)r->L.tstate_native_thread_id) == (uint64_t)tid)
        return slot->tstate;
    slot->tid = tid;
    slot->tstate = scan_tstate(r, tid);
    return slot->tstate;
}

/* ---- code objects ---- */

static struct remote_code *code_slot(struct mp_py_remote *r, uint64_t code)
{
    if ((r->n_codes + 1) * 2 > r->cap_codes) {
        size_t cap = r->cap_codes ? r->cap_codes * 2 : 1024;
        struct remote_code *bigger = calloc(cap, sizeof *bigger);
        if (!bigger)
            return NULL;
        for (size_t i = 0; i < r->cap_codes; i++) {
            if (!r->codes[i].code)
                continue;
            size_t j = (size_t)(r->codes[i].code >> 4) & (cap - 1);
            while (bigger[j].code)
                j = (j + 1) & (cap - 1);
            bigger[j] = r->codes[i];
        }
        free(r->codes);
        r->codes = bigger;
        r->cap_codes = cap;
    }
    size_t i = (size_t)(code >> 4) & (r->cap_codes - 1);
    while (r->codes[i].code && r->codes[i].code != code)
        i = (i + 1) & (r->cap_codes - 1);
    return &r->codes[i];
}

/* The id of the code object at `code` (header: its first bytes, read),
 * describing it to the session when it is new; 0 when it cannot be. */
static uint32_t code_id(struct mp_py_remote *r, uint64_t code, const uint8_t *header)
{
    const struct mp_py_layout *L = &r->L;
    uint64_t filename, qualname, linetable;
    int32_t first_line;
    memcpy(&filename, header + L->code_filename, 8);
    memcpy(&qualname, header + (L->code_qualname >= 0 ? L->code_qualname : L->code_name), 8);
    memcpy(&linetable, header + L->code_linetable, 8);
    memcpy(&first_line, header + L->code_firstlineno, 4);
    struct remote_code *c = code_slot(r, code);
    if (!c)
        return 0;
    if (c->code == code && c->filename == filename && c->qualname == qualname && c->linetable == linetable &&
        c->first_line == first_line)
        return c->id;
    if (r->next_id > MP_PYFRAME_MAX_CODE_ID)
        return 0;
    char file[4096], qual[1024];
    long file_len = mp_py_read_str(L, filename, file, sizeof file, read_mem, r);
    long qual_len = mp_py_read_str(L, qualname, qual, sizeof qual, read_mem, r);
    int64_t lt_len = linetable ? (int64_t)read_u64(r, linetable + (uint64_t)L->bytes_size) : 0;
    if (file_len < 0 || qual_len < 0 || lt_len < 0)
        return 0;
    if (lt_len > MAX_LINETABLE)
        lt_len = MAX_LINETABLE;
    struct mp_py_code_head head = { r->next_id, first_line, 0, (uint32_t)file_len, (uint32_t)qual_len,
                                    (uint32_t)lt_len };
    size_t total = sizeof head + (size_t)file_len + (size_t)qual_len + (size_t)lt_len;
    uint8_t *payload = malloc(total);
    if (!payload)
        return 0;
    memcpy(payload, &head, sizeof head);
    memcpy(payload + sizeof head, file, (size_t)file_len);
    memcpy(payload + sizeof head + file_len, qual, (size_t)qual_len);
    if (read_mem(r, linetable + (uint64_t)L->bytes_sval, payload + sizeof head + file_len + qual_len,
                 (size_t)lt_len) != 0) {
        free(payload);
        return 0;
    }
    struct mp_event ev = { .kind = MP_EV_PYCODE, .addr = head.id, .payload = payload, .payload_len = (uint32_t)total };
    mp_py_session_code(r->session, &ev);
    free(payload);
    if (!c->code)
        r->n_codes++;
    *c = (struct remote_code){ code, filename, qualname, linetable, first_line, r->next_id++ };
    return c->id;
}

/* ---- frames ---- */

static int walk(struct mp_py_remote *r, pid_t tid, struct mp_py_run_frame *out, int max, int *more)
{
    const struct mp_py_layout *L = &r->L;
    *more = 0;
    uint64_t tstate = thread_state_of(r, tid);
    uint64_t cframe = tstate ? read_u64(r, tstate + (uint64_t)L->tstate_cframe) : 0;
    uint64_t frame = cframe ? read_u64(r, cframe + (uint64_t)L->cframe_current_frame) : 0;
    int n = 0;
    uint32_t run = 0;
    uint8_t fb[128], header[512];
    size_t frame_bytes = (size_t)L->frame_owner + 1;
    if (frame_bytes > sizeof fb || (size_t)L->code_code_adaptive > sizeof header)
        return 0;
    for (int steps = 0; frame && steps < MAX_WALK; steps++) {
        if ((frame & 7) || read_mem(r, frame, fb, frame_bytes) != 0)
            break;
        char owner = (char)fb[L->frame_owner];
        uint64_t previous, code, prev_instr;
        memcpy(&previous, fb + L->frame_previous, 8);
        if (L->owner_cstack >= 0 && owner == L->owner_cstack) {
            run++;
            frame = previous;
            continue;
        }
        memcpy(&code, fb + L->frame_code, 8);
        memcpy(&prev_instr, fb + L->frame_prev_instr, 8);
        uint64_t type;
        if (!code || read_mem(r, code, header, (size_t)L->code_code_adaptive) != 0)
            break;
        memcpy(&type, header + L->object_type, 8);
        if (type != r->code_type)
            break;
        int32_t traceable;
        memcpy(&traceable, header + L->code_firsttraceable, 4);
        uint64_t first = code + (uint64_t)L->code_code_adaptive;
        if (owner == L->owner_generator || prev_instr >= first + (uint64_t)traceable * 2) {
            uint32_t id = n < max ? code_id(r, code, header) : 0;
            if (n == max || !id) {
                *more = 1;
            } else {
                int64_t lasti = ((int64_t)prev_instr - (int64_t)first) / 2;
                out[n].frame = mp_pyframe(id, lasti < 0 ? 0xffffffffu : (uint32_t)lasti);
                out[n].run = run;
                n++;
            }
        }
        if (L->frame_is_entry >= 0 && fb[L->frame_is_entry])
            run++;
        frame = previous;
    }
    return n;
}

int mp_py_remote_merge(struct mp_py_remote *r, pid_t tid, uint64_t *frames, int n, int max, uint32_t *truncated)
{
    if (!r || n <= 0)
        return n;
    struct mp_py_run_frame py[MP_MAX_FRAMES];
    int more = 0;
    int n_py = walk(r, tid, py, MP_MAX_FRAMES, &more);
    if (!n_py)
        return n;
    uint64_t native[MP_MAX_FRAMES];
    int n_native = n < MP_MAX_FRAMES ? n : MP_MAX_FRAMES;
    memcpy(native, frames, (size_t)n_native * sizeof *native);
    if (more)
        *truncated = 1;
    return mp_py_merge(&r->text, py, n_py, native, n_native, frames, max, truncated);
}
