/*  =========================================================================
    zi_error - one error message per thread

    Failing functions return -1 or NULL and leave a sentence here that says
    where, what was expected and what came, so that callers several layers
    up can print it or send it on without each layer inventing its own
    error type.
    =========================================================================
*/

#include "zi_classes.h"

static _Thread_local char s_text [2048];

const char *
zi_error_text (void)
{
    return s_text;
}

int
zi_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_text, sizeof s_text, format, args);
    va_end (args);
    return -1;
}

void
zi_error_prefix (const char *format, ...)
{
    char prefix [512];
    va_list args;
    va_start (args, format);
    vsnprintf (prefix, sizeof prefix, format, args);
    va_end (args);

    //  Shift the old message right and put the prefix in front; whatever
    //  does not fit is cut at the end, which keeps the where before the what
    size_t prefix_size = strlen (prefix);
    if (prefix_size + 2 >= sizeof s_text)
        prefix_size = sizeof s_text - 3;
    memmove (s_text + prefix_size + 2, s_text, sizeof s_text - prefix_size - 2);
    memcpy (s_text, prefix, prefix_size);
    memcpy (s_text + prefix_size, ": ", 2);
    s_text [sizeof s_text - 1] = 0;
}
