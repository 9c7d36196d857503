/* memprof tests: any bytes in the JSON report, and back (report/json_bytes.h).
 *
 *  - every single byte and every pair of bytes, and random byte strings,
 *    written by mp_json_string are valid JSON for jansson (which refuses
 *    invalid UTF-8 and lone surrogates), and decode to the very bytes;
 *  - valid UTF-8 (other than U+EF80-U+EFFF) is written as it is;
 *  - end to end: a program compiled from a directory and a file whose names
 *    are not UTF-8, with Latin-1 and U+EF80 in its source lines, run with
 *    arguments that are not UTF-8: the JSON report is valid JSON, and
 *    `memprof report` of it prints byte for byte the text report memprof
 *    wrote while recording. */
#define _GNU_SOURCE
#include "harness.h"
#include "report/json_bytes.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mp_json_string(s) parsed by jansson (strict: valid UTF-8, no lone
 * surrogates) and decoded: must give s back. */
static void round_trip(const char *s, size_t len)
{
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    ck_assert_ptr_nonnull(f);
    fputc('[', f);
    mp_json_string(f, s);
    fputc(']', f);
    fclose(f);
    json_error_t je;
    json_t *root = json_loadb(text, text_len, 0, &je);
    ck_assert_msg(root != NULL, "not valid JSON: %s (%s)", text, je.text);
    json_t *v = json_array_get(root, 0);
    ck_assert(json_is_string(v));
    char *back = strndup(json_string_value(v), json_string_length(v));
    size_t n = mp_json_bytes_decode(back, json_string_length(v));
    ck_assert_msg(n == len && memcmp(back, s, len) == 0, "%s did not decode to the bytes written", text);
    free(back);
    json_decref(root);
    free(text);
}

START_TEST(every_byte_and_pair)
{
    char s[3] = { 0 };
    for (int a = 1; a < 256; a++) {
        s[0] = (char)a;
        s[1] = 0;
        round_trip(s, 1);
        for (int b = 1; b < 256; b++) {
            s[1] = (char)b;
            round_trip(s, 2);
        }
    }
}
END_TEST

START_TEST(random_strings)
{
    unsigned long long x = 88172645463325252ull;
    char s[64];
    for (int i = 0; i < 200000; i++) {
        size_t len = (size_t)(i % 63);
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* bias towards the bytes that make UTF-8 sequences */
            unsigned v = (unsigned)(x >> 32);
            s[k] = (char)(v % 4 == 0 ? 0xe0 + (v >> 8) % 32 : v % 4 == 1 ? 0x80 + (v >> 8) % 64 : 1 + (v >> 8) % 255);
            if (s[k] == 0)
                s[k] = 'x';
        }
        s[len] = '\0';
        round_trip(s, len);
    }
}
END_TEST

static char *json_of(const char *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    mp_json_string(f, s);
    fclose(f);
    return text;
}

START_TEST(utf8_as_is_bytes_escaped)
{
    /* é, €, 😀 as they are; a lone 0xff, a cut sequence, an overlong '/',
     * an encoded surrogate, and U+EF80 itself byte by byte */
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
        { "x\xffy", "\"x\\uefffy\"" },
        { "\xe2\x82", "\"\\uefe2\\uef82\"" },
        { "\xc0\xaf", "\"\\uefc0\\uefaf\"" },
        { "\xed\xa0\x80", "\"\\uefed\\uefa0\\uef80\"" },
        { "\xee\xbe\x80", "\"\\uefee\\uefbe\\uef80\"" },
        { "\xee\xbd\xbf", "\"\xee\xbd\xbf\"" }, /* U+EF7F: not ours */
        { "tab\tquote\"back\\slash\x01", "\"tab\\tquote\\\"back\\\\slash\\u0001\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = json_of(cases[i].in);
        ck_assert_msg(strcmp(got, cases[i].out) == 0, "case %zu: got %s, expected %s", i, got, cases[i].out);
        free(got);
    }
}
END_TEST

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

START_TEST(end_to_end_report_round_trip)
{
    char dir[4096], src[4200], exe[4200], json[4200], text[4200], again[4200];
    snprintf(dir, sizeof dir, "%s/bytes\xff\xfe", test_tmp_dir());
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/n\xe9on\xff.c", dir);
    snprintf(exe, sizeof exe, "%s/prog", dir);
    snprintf(json, sizeof json, "%s/r.json", dir);
    snprintf(text, sizeof text, "%s/r.txt", dir);
    snprintf(again, sizeof again, "%s/again.txt", dir);
    ck_assert_int_eq(write_file(src, "#include <stdio.h>\n"
                                     "#include <stdlib.h>\n"
                                     "/* caf\xe9 na\xefve \xee\xbe\x80 \xe2\x82\xac */\n"
                                     "static void *keep[16];\n"
                                     "int main(int argc, char **argv)\n"
                                     "{\n"
                                     "\tfor (int i = 0; i < argc && i < 16; i++)\n"
                                     "\t\tkeep[i] = malloc(100); /* \xff\xfe le\xe7on */\n"
                                     "\tprintf(\"%d\\n\", argc);\n"
                                     "\treturn 0;\n"
                                     "}\n"),
                     0);
    char *cc[] = { "gcc", "-O0", "-g", "-o", exe, src, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(cc, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "gcc: %s", o.err);
    run_output_free(&o);
    char *run[] = { (char *)memprof_path(), "-o", text, "--json", json, exe, "x\xffy", "\xee\xbe\x80",
                    "\xc3\xa9", "\x80", NULL };
    ck_assert_int_eq(run_cmd(run, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0 && strcmp(o.out, "5\n") == 0, "memprof: status %d\n%s", o.status, o.err);
    run_output_free(&o);

    /* strict JSON, and what it says */
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_msg(root != NULL, "%s is not valid JSON: %d:%d: %s", json, je.line, je.column, je.text);
    json_t *cmd = json_object_get(root, "command");
    ck_assert_int_eq(json_array_size(cmd), 5);
    ck_assert_str_eq(json_string_value(json_array_get(cmd, 1)), "x\xee\xbf\xbfy"); /* U+EFFF */
    ck_assert_str_eq(json_string_value(json_array_get(cmd, 3)), "\xc3\xa9");
    json_t *lines = json_object_get(root, "lines"), *line8 = NULL;
    for (size_t i = 0; i < json_array_size(lines); i++)
        if (json_integer_value(json_object_get(json_array_get(lines, i), "line")) == 8)
            line8 = json_array_get(lines, i);
    ck_assert_ptr_nonnull(line8);
    const char *file = json_string_value(json_object_get(line8, "file"));
    ck_assert_msg(file && strstr(file, "n\xee\xbf\xa9on\xee\xbf\xbf.c"), "the file of line 8: %s", file);
    ck_assert_int_eq(json_integer_value(json_object_get(line8, "alloc_calls")), 5); /* argc = 5 */
    json_decref(root);

    /* memprof report gives the text report back, byte for byte */
    char *rep[] = { (char *)memprof_path(), "report", json, NULL };
    ck_assert_int_eq(run_cmd(rep, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "memprof report: %s", o.err);
    size_t want_len;
    char *want = read_file(text, &want_len);
    ck_assert_ptr_nonnull(want);
    ck_assert_msg(o.out_len == want_len && memcmp(o.out, want, want_len) == 0,
                  "memprof report differs from the report written while recording:\n--- recorded\n%s\n--- "
                  "report\n%s",
                  want, o.out);
    ck_assert_msg(memmem(want, want_len, "\xff\xfe le\xe7on", 8) != NULL, "the source line lost its bytes:\n%s", want);
    free(want);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_bytes");
    TCase *tc = tcase_create("bytes");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_byte_and_pair);
    tcase_add_test(tc, random_strings);
    tcase_add_test(tc, utf8_as_is_bytes_escaped);
    tcase_add_test(tc, end_to_end_report_round_trip);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
