/* memprof: sizes, counts and paths as the reports show them. */
#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void mp_format_size(char *buf, size_t len, int64_t bytes, int precision)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    uint64_t mag = bytes < 0 ? (uint64_t)(-(bytes + 1)) + 1 : (uint64_t)bytes;
    if (mag < 1024) {
        snprintf(buf, len, "%" PRId64 " B", bytes);
        return;
    }
    double v = (double)bytes;
    size_t u = 0;
    v /= 1024.0;
    while (u + 1 < sizeof units / sizeof *units && (v >= 1024.0 || v <= -1024.0)) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.*f %s", precision, v, units[u]);
}

void mp_format_count(char *buf, size_t len, uint64_t n)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, n);
    size_t o = 0;
    for (int i = 0; i < nd && o + 1 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0 && o + 2 < len)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o < len ? o : len - 1] = '\0';
}

const char *mp_display_path(const char *path, const char *cwd)
{
    if (!path || !cwd || !*cwd)
        return path;
    size_t n = strlen(cwd);
    if (strncmp(path, cwd, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}
