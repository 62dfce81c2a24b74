/*
 * HTTP field-name lists, as a browser sends them in a CORS preflight.
 */

#include <string.h>

#include "x402.h"


int
x402_field_list_valid(const char *s, size_t len)
{
    static const char  tchar[] = "!#$%&'*+-.^_`|~";
    size_t             i;
    int                names;
    char               c;

    if (s == NULL || len == 0 || len > X402_FIELD_LIST_MAX) {
        return 0;
    }

    names = 0;

    for (i = 0; i < len; i++) {
        c = s[i];

        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z')
            || (c != '\0' && strchr(tchar, c) != NULL))
        {
            names = 1;
            continue;
        }

        if (c != ',' && c != ' ' && c != '\t') {
            return 0;
        }
    }

    return names;
}
