/*  =========================================================================
    zi_error.h - the calling thread's last error message

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_ERROR_H_INCLUDED
#define ZI_ERROR_H_INCLUDED

#include "zinfer.h"

//  Errors: zi_error sets the calling thread's message and returns -1, so
//  a failing path reads `return zi_error ("...", ...);`

int
    zi_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
//  Put "prefix: " in front of the current message
void
    zi_error_prefix (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

#endif
