/* memprof: what the SVG and HTML writers share (see svg.h). */
#define _GNU_SOURCE
#include "svg.h"
#include "base/hashidx.h"

#include <math.h>
#include <string.h>

/* The length of the UTF-8 sequence at s (1-4), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (!n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
        return 0;
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
        return 0;
    return n;
}

void mp_xml_text(FILE *out, const char *s, size_t max_chars)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    size_t total = 0, keep;
    for (const unsigned char *q = p; *q; q++)
        total += (*q & 0xc0) != 0x80;
    keep = max_chars && total > max_chars ? (max_chars > 3 ? max_chars - 3 : 0) : total;
    for (size_t chars = 0; *p && chars < keep; chars++) {
        size_t n = utf8_len(p);
        switch (n ? *p : 0) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        case 0: fputs("\xef\xbf\xbd", out); n = 1; break; /* not UTF-8: U+FFFD */
        default:
            if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
                fputs("\xef\xbf\xbd", out);
            else
                fwrite(p, 1, n, out);
        }
        p += n;
    }
    if (keep < total)
        fputs("...", out);
}

/* DejaVu Sans' advance widths of ' ' to '~' in 1/2048 em (Book, Bold). */
static const unsigned short advance[2][95] = {
    {
        651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690,
        1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716, 1087,
        2048, 1453, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612,
        1235, 1612, 1423, 1300, 1219, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024,
        1024, 1255, 1300, 1126, 1300, 1260, 706, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253,
        1300, 1300, 810, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
    },
    {
        713, 934, 1067, 1716, 1425, 2052, 1786, 627, 936, 936, 1071, 1716, 778, 850, 778, 748,
        1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 819, 819, 1716, 1716, 1716, 1188,
        2048, 1585, 1561, 1503, 1700, 1399, 1399, 1681, 1714, 762, 762, 1587, 1305, 2038, 1714, 1741,
        1501, 1741, 1577, 1392, 1439, 1663, 1585, 2259, 1579, 1483, 1485, 936, 748, 936, 1716, 1024,
        1024, 1382, 1466, 1214, 1466, 1389, 830, 1466, 1458, 702, 702, 1362, 702, 2134, 1458, 1407,
        1466, 1466, 1010, 1219, 979, 1458, 1335, 1892, 1321, 1335, 1192, 1458, 748, 1458, 1716,
    },
};

double mp_svg_text_width(const char *s, size_t max_chars, double font_px, int bold)
{
    if (!s)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t total = 0, keep;
    for (const unsigned char *q = p; *q; q++)
        total += (*q & 0xc0) != 0x80;
    keep = max_chars && total > max_chars ? (max_chars > 3 ? max_chars - 3 : 0) : total;
    double units = keep < total ? 3.0 * advance[bold != 0]['.' - ' '] : 0;
    for (size_t chars = 0; *p && chars < keep; chars++) {
        size_t n = utf8_len(p);
        units += n == 1 && *p >= ' ' && *p <= '~' ? advance[bold != 0][*p - ' '] : 2048;
        p += n ? n : 1;
    }
    return units * font_px / 2048.0;
}

size_t mp_svg_fit_chars(const char *s, double max_px, double font_px, int bold)
{
    if (!s || mp_svg_text_width(s, 0, font_px, bold) <= max_px)
        return 0;
    size_t n = 0;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        n += (*q & 0xc0) != 0x80;
    while (n > 4 && mp_svg_text_width(s, n, font_px, bold) > max_px)
        n--;
    return n;
}

/* The round step (1, 2 or 5 times a power of ten) closest above range/target. */
static void round_step(struct mp_ticks *t, double range, int target)
{
    double raw = range / (target > 0 ? target : 5);
    if (!(raw > 0))
        raw = 1;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    t->step = step;
    t->decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (t->decimals > 6)
        t->decimals = 6;
    t->count = (int)floor(range / step + 1e-9) + 1;
}

void mp_ticks_bytes(struct mp_ticks *t, double max_bytes, int target)
{
    static const char *const suffix[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    size_t u = 0;
    double unit = 1;
    while (u + 1 < sizeof suffix / sizeof *suffix && max_bytes / unit >= 1024)
        unit *= 1024, u++;
    t->unit = unit;
    t->suffix = suffix[u];
    round_step(t, max_bytes / unit, target);
    if (u == 0 && t->step < 1) { /* no fractions of a byte */
        t->step = 1;
        t->decimals = 0;
        t->count = (int)floor(max_bytes) + 1;
    }
}

void mp_ticks_time(struct mp_ticks *t, double max_ns, int target)
{
    if (max_ns < 2e6)
        t->unit = 1e3, t->suffix = "\xc2\xb5s";
    else if (max_ns < 2e9)
        t->unit = 1e6, t->suffix = "ms";
    else if (max_ns < 120e9)
        t->unit = 1e9, t->suffix = "s";
    else if (max_ns < 3 * 3600e9)
        t->unit = 60e9, t->suffix = "min";
    else
        t->unit = 3600e9, t->suffix = "h";
    round_step(t, max_ns / t->unit, target);
}

void mp_format_duration(char *buf, size_t len, double ns)
{
    if (ns < 1e6)
        snprintf(buf, len, "%.0f \xc2\xb5s", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, len, "%.1f ms", ns / 1e6);
    else if (ns < 120e9)
        snprintf(buf, len, "%.2f s", ns / 1e9);
    else if (ns < 3 * 3600e9)
        snprintf(buf, len, "%.1f min", ns / 60e9);
    else
        snprintf(buf, len, "%.2f h", ns / 3600e9);
}

void mp_format_time_on(char *buf, size_t len, double ns, const struct mp_ticks *axis)
{
    /* one decimal more than the axis' steps need, at least the usual */
    int decimals = axis->unit <= 1e3 ? 0 : axis->unit <= 1e6 ? 1 : axis->unit <= 1e9 ? 2 : axis->unit <= 60e9 ? 1 : 2;
    if (axis->decimals + 1 > decimals && axis->unit > 1e3)
        decimals = axis->decimals + 1;
    snprintf(buf, len, "%.*f %s", decimals, ns / axis->unit, axis->suffix);
}

void mp_frame_colour(char *buf, size_t len, const char *name, int cool)
{
    uint64_t h = mp_hash_bytes(name, strlen(name));
    double v1 = (double)(h & 0xff) / 255, v2 = (double)((h >> 8) & 0xff) / 255, v3 = (double)((h >> 16) & 0xff) / 255;
    if (cool)
        snprintf(buf, len, "rgb(%d,%d,%d)", 90 + (int)(50 * v1), 140 + (int)(50 * v1), 190 + (int)(45 * v2));
    else
        snprintf(buf, len, "rgb(%d,%d,%d)", 205 + (int)(50 * v3), (int)(230 * v1), (int)(55 * v2));
}

void mp_run_outcome(char *buf, size_t len, const struct mp_report_run *run)
{
    if (run->detached)
        snprintf(buf, len, "detached");
    else if (run->signal)
        snprintf(buf, len, "killed by signal %d (SIG%s)", run->signal,
                 sigabbrev_np(run->signal) ? sigabbrev_np(run->signal) : "?");
    else
        snprintf(buf, len, "exit status %d", run->exit_code);
}

void mp_run_command(char *buf, size_t len, const struct mp_report_run *run)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; run->command && run->command[i] && o + 1 < len; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? " " : "", run->command[i]);
        if (n < 0)
            break;
        o += (size_t)n < len - o ? (size_t)n : len - o - 1;
    }
}
