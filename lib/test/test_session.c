/*
 * Upto session ids: the uuid4 shape, the bits kept, and the strict check.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x402.h"


static void
test_format(void **state)
{
    char     id[X402_SESSION_ID_LEN + 1];
    uint8_t  r[16];

    (void) state;

    memset(r, 0xff, sizeof(r));
    x402_session_id_format(id, r);
    assert_string_equal(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    assert_true(x402_session_id_valid(id, strlen(id)));

    memset(r, 0, sizeof(r));
    x402_session_id_format(id, r);
    assert_string_equal(id, "00000000-0000-4000-8000-000000000000");
    assert_true(x402_session_id_valid(id, strlen(id)));

    for (size_t i = 0; i < 16; i++) {
        r[i] = (uint8_t) (i * 17 + 3);
    }

    x402_session_id_format(id, r);
    assert_string_equal(id, "03142536-4758-497a-8b9c-adbecfe0f102");
}


/* 122 of the 128 bits reach the text: any other bit changes it */
static void
test_bits_kept(void **state)
{
    char     a[X402_SESSION_ID_LEN + 1], b[X402_SESSION_ID_LEN + 1];
    size_t   i, kept;
    uint8_t  r[16];

    (void) state;

    memset(r, 0x5a, sizeof(r));
    x402_session_id_format(a, r);

    kept = 0;

    for (i = 0; i < 128; i++) {
        r[i / 8] ^= (uint8_t) (1u << (i % 8));
        x402_session_id_format(b, r);
        kept += strcmp(a, b) != 0;
        r[i / 8] ^= (uint8_t) (1u << (i % 8));
    }

    assert_int_equal(kept, 122);
}


static void
test_valid(void **state)
{
    (void) state;

    assert_false(x402_session_id_valid(NULL, 0));
    assert_false(x402_session_id_valid("", 0));
    /* upper case, another version, another variant, no dashes, braces */
    assert_false(x402_session_id_valid(
        "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF", 36));
    assert_false(x402_session_id_valid(
        "ffffffff-ffff-1fff-bfff-ffffffffffff", 36));
    assert_false(x402_session_id_valid(
        "ffffffff-ffff-4fff-cfff-ffffffffffff", 36));
    assert_false(x402_session_id_valid(
        "ffffffffXffffX4fffXbfffXffffffffffff", 36));
    assert_false(x402_session_id_valid(
        "{fffffff-ffff-4fff-bfff-fffffffffff}", 36));
    assert_false(x402_session_id_valid(
        "ffffffff-ffff-4fff-bfff-ffffffffffff0", 37));
    assert_false(x402_session_id_valid(
        "x402:*\r\n-ffff-4fff-bfff-ffffffffffff", 36));
    assert_true(x402_session_id_valid(
        "12345678-9abc-4def-9012-3456789abcde", 36));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_bits_kept),
        cmocka_unit_test(test_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
