/* memprof agent: symbols of a loaded object from its dynamic section (see
 * agent_elf.h). */
#define _GNU_SOURCE
#include "agent_elf.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int agent_elf_object_holds(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + ph->p_memsz)
            return 1;
    }
    return 0;
}

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

static uint32_t sysv_hash(const char *s)
{
    uint32_t h = 0;
    for (; *s; s++) {
        h = (h << 4) + (unsigned char)*s;
        uint32_t g = h & 0xf0000000u;
        if (g)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

struct dyn_tables {
    const ElfW(Sym) *symtab;
    const char *strtab;
    const uint32_t *gnu_hash;
    const uint32_t *sysv_hash;
};

/* The loader relocates these d_ptr values in place for most objects, not
 * for the vdso: an address below the load bias is still an offset. */
static const void *dyn_ptr(const struct dl_phdr_info *info, ElfW(Addr) v)
{
    return (const void *)(v < info->dlpi_addr ? v + info->dlpi_addr : v);
}

static int find_tables(const struct dl_phdr_info *info, struct dyn_tables *t)
{
    memset(t, 0, sizeof *t);
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn)
        return -1;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB: t->symtab = dyn_ptr(info, dyn->d_un.d_ptr); break;
        case DT_STRTAB: t->strtab = dyn_ptr(info, dyn->d_un.d_ptr); break;
        case DT_GNU_HASH: t->gnu_hash = dyn_ptr(info, dyn->d_un.d_ptr); break;
        case DT_HASH: t->sysv_hash = dyn_ptr(info, dyn->d_un.d_ptr); break;
        default: break;
        }
    }
    return t->symtab && t->strtab && (t->gnu_hash || t->sysv_hash) ? 0 : -1;
}

static void *defined(const struct dl_phdr_info *info, const struct dyn_tables *t, uint32_t i, const char *name)
{
    const ElfW(Sym) *s = &t->symtab[i];
    int type = ELF64_ST_TYPE(s->st_info);
    if (s->st_shndx == SHN_UNDEF || s->st_value == 0 || (type != STT_FUNC && type != STT_OBJECT) ||
        strcmp(t->strtab + s->st_name, name) != 0)
        return NULL;
    return (void *)(info->dlpi_addr + s->st_value);
}

void *agent_elf_symbol(const struct dl_phdr_info *info, const char *name)
{
    struct dyn_tables t;
    if (find_tables(info, &t) != 0)
        return NULL;
    if (t.gnu_hash) {
        uint32_t nbuckets = t.gnu_hash[0], symoffset = t.gnu_hash[1], bloom_size = t.gnu_hash[2];
        if (nbuckets == 0)
            return NULL;
        const uint32_t *buckets = t.gnu_hash + 4 + bloom_size * (sizeof(ElfW(Addr)) / 4);
        const uint32_t *chain = buckets + nbuckets;
        uint32_t h = gnu_hash(name);
        for (uint32_t i = buckets[h % nbuckets]; i >= symoffset && i != 0; i++) {
            uint32_t h2 = chain[i - symoffset];
            void *p = (h | 1) == (h2 | 1) ? defined(info, &t, i, name) : NULL;
            if (p)
                return p;
            if (h2 & 1)
                break;
        }
        return NULL;
    }
    uint32_t nbucket = t.sysv_hash[0];
    const uint32_t *bucket = t.sysv_hash + 2, *chain = bucket + nbucket;
    if (nbucket == 0)
        return NULL;
    for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i != 0; i = chain[i]) {
        void *p = defined(info, &t, i, name);
        if (p)
            return p;
    }
    return NULL;
}

static int read_at(int fd, uint64_t off, void *buf, size_t len)
{
    return pread(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

/* (Only 8-byte objects are looked at: the one symbol looked for is a pointer.) */
uint64_t agent_elf_file_symbol(const char *path, const char *name)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint64_t found = 0;
    size_t want = strlen(name);
    ElfW(Ehdr) eh;
    if (read_at(fd, 0, &eh, sizeof eh) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_shentsize != sizeof(ElfW(Shdr)))
        goto out;
    for (unsigned i = 0; i < eh.e_shnum && !found; i++) {
        ElfW(Shdr) sh, strsh;
        if (read_at(fd, eh.e_shoff + (uint64_t)i * sizeof sh, &sh, sizeof sh) != 0 || sh.sh_type != SHT_SYMTAB ||
            sh.sh_entsize != sizeof(ElfW(Sym)) ||
            read_at(fd, eh.e_shoff + (uint64_t)sh.sh_link * sizeof strsh, &strsh, sizeof strsh) != 0)
            continue;
        uint64_t n = sh.sh_size / sizeof(ElfW(Sym));
        for (uint64_t k = 0; k < n && !found; k += 128) {
            ElfW(Sym) syms[128];
            uint64_t m = n - k < 128 ? n - k : 128;
            if (read_at(fd, sh.sh_offset + k * sizeof *syms, syms, m * sizeof *syms) != 0)
                break;
            for (uint64_t j = 0; j < m && !found; j++) {
                const ElfW(Sym) *sym = &syms[j];
                char buf[64];
                if (sym->st_shndx == SHN_UNDEF || sym->st_value == 0 || sym->st_size != sizeof(void *) ||
                    ELF64_ST_TYPE(sym->st_info) != STT_OBJECT || sym->st_name >= strsh.sh_size ||
                    want + 1 > sizeof buf || read_at(fd, strsh.sh_offset + sym->st_name, buf, want + 1) != 0)
                    continue;
                if (memcmp(buf, name, want + 1) == 0)
                    found = sym->st_value;
            }
        }
    }
out:
    close(fd);
    return found;
}
