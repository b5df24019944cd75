/*  =========================================================================
    zi_selftest - runs the self test of each engine class and op family

    Usage: zi_selftest [-v] [NAME ...]    (no NAME: run them all)
    The list comes from the build (zi_test_list.h), so a new act_*.c file
    gets its test run without touching this file.
    =========================================================================
*/

#include "zi_classes.h"

#define ZI_TEST(name) void zi_##name##_test (zi_test_t *t);
#include "zi_test_list.h"
#undef ZI_TEST

typedef struct {
    const char *name;
    void (*test) (zi_test_t *t);
} s_test_entry_t;

static const s_test_entry_t s_tests [] = {
#define ZI_TEST(name) {#name, zi_##name##_test},
#include "zi_test_list.h"
#undef ZI_TEST
};

#define S_TEST_COUNT (sizeof s_tests / sizeof s_tests [0])

int
main (int argc, char *argv [])
{
    bool verbose = false;
    int first = 1;
    if (argc > 1 && strcmp (argv [1], "-v") == 0) {
        verbose = true;
        first = 2;
    }
    int passed = 0, failed = 0, ran = 0;
    for (size_t index = 0; index < S_TEST_COUNT; index++) {
        bool wanted = first >= argc;
        for (int arg = first; arg < argc; arg++)
            if (strcmp (argv [arg], s_tests [index].name) == 0)
                wanted = true;
        if (!wanted)
            continue;
        zi_test_t t = {.name = s_tests [index].name, .verbose = verbose};
        s_tests [index].test (&t);
        printf ("%-24s %d checks, %d failed\n", t.name, t.checks, t.fails);
        if (t.checks == 0) {
            fprintf (stderr, "%s: no checks ran\n", t.name);
            t.fails++;
        }
        ran++;
        if (t.fails)
            failed++;
        else
            passed++;
    }
    if (ran == 0) {
        fprintf (stderr, "zi_selftest: no test named");
        for (int arg = first; arg < argc; arg++)
            fprintf (stderr, " '%s'", argv [arg]);
        fprintf (stderr, "\n");
        return 2;
    }
    return failed? 1: 0;
}
