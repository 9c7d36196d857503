/* memprof: the built-in CPython layouts (see py_layout.h).  The numbers
 * are offsetof() and sizeof() of CPython's own structs on x86-64 (LP64),
 * release builds (no Py_TRACE_REFS), as compiled from the headers of
 * 3.11.2 (Debian 12) and 3.12.1: the tests compare them with the
 * interpreters' debug information and, where installed, their headers. */
#include "py_layout.h"

#include <stdio.h>

static const struct mp_py_layout layout_311 = {
    .tstate_cframe = 56,
    .tstate_c_tracefunc = 72,
    .cframe_current_frame = 8,
    .frame_code = 32,
    .frame_previous = 48,
    .frame_prev_instr = 56,
    .frame_owner = 69,
    .frame_is_entry = 68,
    .owner_generator = 1,
    .owner_cstack = -1,
    .object_type = 8,
    .code_filename = 112,
    .code_name = 120,
    .code_qualname = 128,
    .code_firstlineno = 72,
    .code_linetable = 136,
    .code_firsttraceable = 168,
    .code_code_adaptive = 184,
    .str_length = 16,
    .str_state = 32,
    .str_ascii_size = 48,
    .str_compact_size = 72,
    .str_utf8_length = 48,
    .str_utf8 = 56,
    .state_kind_bit = 2,
    .state_compact_bit = 5,
    .state_ascii_bit = 6,
    .bytes_size = 16,
    .bytes_sval = 32,
    .runtime_interpreters_head = 40,
    .interp_next = 0,
    .interp_threads_head = 16,
    .tstate_next = 8,
    .tstate_native_thread_id = 160,
};

static const struct mp_py_layout layout_312 = {
    .tstate_cframe = 56,
    .tstate_c_tracefunc = 72,
    .cframe_current_frame = 0,
    .frame_code = 0,
    .frame_previous = 8,
    .frame_prev_instr = 56,
    .frame_owner = 70,
    .frame_is_entry = -1,
    .owner_generator = 1,
    .owner_cstack = 3,
    .object_type = 8,
    .code_filename = 112,
    .code_name = 120,
    .code_qualname = 128,
    .code_firstlineno = 68,
    .code_linetable = 136,
    .code_firsttraceable = 176,
    .code_code_adaptive = 192,
    .str_length = 16,
    .str_state = 32,
    .str_ascii_size = 40,
    .str_compact_size = 56,
    .str_utf8_length = 40,
    .str_utf8 = 48,
    .state_kind_bit = 2,
    .state_compact_bit = 5,
    .state_ascii_bit = 6,
    .bytes_size = 16,
    .bytes_sval = 32,
    .runtime_interpreters_head = 40,
    .interp_next = 0,
    .interp_threads_head = 72,
    .tstate_next = 8,
    .tstate_native_thread_id = 144,
};

int mp_py_layout_builtin(uint32_t version, struct mp_py_layout *out)
{
    uint32_t minor = version >> 16;
    if (minor == 0x030b)
        *out = layout_311;
    else if (minor == 0x030c)
        *out = layout_312;
    else
        return -1;
    out->version = version;
    return 0;
}

void mp_py_version_text(uint32_t version, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u", version >> 24, (version >> 16) & 0xff, (version >> 8) & 0xff);
}
