/*
 * Upto session ids: uuid4 text, and its strict check.
 */

#include <stddef.h>
#include <stdint.h>

#include "x402.h"


static const char  x402_hex_lower[] = "0123456789abcdef";


void
x402_session_id_format(char out[X402_SESSION_ID_LEN + 1],
    const uint8_t random[16])
{
    size_t   i, o;
    uint8_t  b;

    o = 0;

    for (i = 0; i < 16; i++) {
        b = random[i];

        if (i == 6) {
            b = (uint8_t) ((b & 0x0f) | 0x40);      /* version 4 */

        } else if (i == 8) {
            b = (uint8_t) ((b & 0x3f) | 0x80);      /* RFC 4122 variant */
        }

        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }

        out[o++] = x402_hex_lower[b >> 4];
        out[o++] = x402_hex_lower[b & 0x0f];
    }

    out[o] = '\0';
}


int
x402_session_id_valid(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (s == NULL || len != X402_SESSION_ID_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }

            continue;
        }

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    return s[14] == '4'
           && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}
