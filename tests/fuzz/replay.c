/*  =========================================================================
    replay - runs saved inputs through the fuzz harnesses without libFuzzer

    Built with the normal compiler, so that every test run checks that the
    committed corpus still loads without a crash (and under ZI_SANITIZE,
    without a sanitizer report), and so that a crashing input found by the
    fuzzer can be replayed in a debugger on a plain build.

        zi_fuzz_replay CORPUS               every file in CORPUS/<harness>/
        zi_fuzz_replay HARNESS PATH...      the given files or folders

    Harnesses: msg, topology, onnx, npy, keras. Each harness source defines
    LLVMFuzzerTestOneInput; this build renames it per harness (see
    tests/fuzz/fuzz.cmake) so that all of them link into one program.
    =========================================================================
*/

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef int (s_entry_fn) (const uint8_t *data, size_t size);

s_entry_fn zi_fuzz_msg, zi_fuzz_topology, zi_fuzz_onnx, zi_fuzz_npy, zi_fuzz_keras;

static const struct {
    const char *name;           //  harness, and its corpus folder
    s_entry_fn *entry;          //  its renamed LLVMFuzzerTestOneInput
} s_harnesses [] = {
    {"msg", zi_fuzz_msg},
    {"topology", zi_fuzz_topology},
    {"onnx", zi_fuzz_onnx},
    {"npy", zi_fuzz_npy},
    {"keras", zi_fuzz_keras},
};
#define S_HARNESSES (sizeof s_harnesses / sizeof s_harnesses [0])

//  Reads a whole file into a buffer of exactly its size, so that the
//  sanitizers see a read past the end as libFuzzer's own buffers would
static int
s_replay_file (s_entry_fn *entry, const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "zi_fuzz_replay: %s: cannot open\n", path);
        return -1;
    }
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    rewind (file);
    uint8_t *data = malloc (size > 0? (size_t) size: 1);
    if (!data || size < 0 || fread (data, 1, (size_t) size, file) != (size_t) size) {
        fprintf (stderr, "zi_fuzz_replay: %s: cannot read\n", path);
        free (data);
        fclose (file);
        return -1;
    }
    fclose (file);
    entry (data, (size_t) size);
    free (data);
    return 0;
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  Replays a file, or every regular file of a folder in name order (the
//  order matters only in that a report is then the same on every machine);
//  returns the number of inputs run, -1 on an unreadable path
static int
s_replay_path (s_entry_fn *entry, const char *path)
{
    struct stat info;
    if (stat (path, &info)) {
        fprintf (stderr, "zi_fuzz_replay: %s: no such file or folder\n", path);
        return -1;
    }
    if (!S_ISDIR (info.st_mode))
        return s_replay_file (entry, path) == 0? 1: -1;

    DIR *folder = opendir (path);
    if (!folder) {
        fprintf (stderr, "zi_fuzz_replay: %s: cannot list\n", path);
        return -1;
    }
    char **names = NULL;
    size_t n_names = 0;
    struct dirent *entry_info;
    while ((entry_info = readdir (folder))) {
        if (entry_info->d_name [0] == '.')
            continue;
        names = realloc (names, (n_names + 1) * sizeof (char *));
        names [n_names] = malloc (strlen (path) + strlen (entry_info->d_name) + 2);
        if (!names || !names [n_names]) {
            fprintf (stderr, "zi_fuzz_replay: out of memory\n");
            exit (1);
        }
        sprintf (names [n_names++], "%s/%s", path, entry_info->d_name);
    }
    closedir (folder);
    if (n_names)
        qsort (names, n_names, sizeof (char *), s_compare_names);
    int replayed = 0;
    for (size_t index = 0; index < n_names; index++) {
        if (stat (names [index], &info) == 0 && S_ISREG (info.st_mode)) {
            if (s_replay_file (entry, names [index]))
                replayed = -1;
            else
            if (replayed >= 0)
                replayed++;
        }
        free (names [index]);
    }
    free (names);
    return replayed;
}

static s_entry_fn *
s_harness (const char *name)
{
    for (size_t index = 0; index < S_HARNESSES; index++)
        if (strcmp (s_harnesses [index].name, name) == 0)
            return s_harnesses [index].entry;
    return NULL;
}

int
main (int argc, char *argv [])
{
    if (argc < 2) {
        fprintf (stderr, "usage: zi_fuzz_replay CORPUS | zi_fuzz_replay HARNESS PATH...\n");
        return 2;
    }
    int failed = 0;
    if (argc == 2) {
        //  A corpus root: one folder per harness, each must have inputs
        for (size_t index = 0; index < S_HARNESSES; index++) {
            char path [4096];
            snprintf (path, sizeof path, "%s/%s", argv [1], s_harnesses [index].name);
            int replayed = s_replay_path (s_harnesses [index].entry, path);
            if (replayed <= 0) {
                fprintf (stderr, "zi_fuzz_replay: %s: no inputs replayed\n", path);
                failed++;
            }
            else
                printf ("%s: %d inputs replayed\n", s_harnesses [index].name, replayed);
        }
        return failed? 1: 0;
    }
    s_entry_fn *entry = s_harness (argv [1]);
    if (!entry) {
        fprintf (stderr, "zi_fuzz_replay: unknown harness '%s' (harnesses: msg, topology, "
                 "onnx, npy, keras)\n", argv [1]);
        return 2;
    }
    int total = 0;
    for (int index = 2; index < argc; index++) {
        int replayed = s_replay_path (entry, argv [index]);
        if (replayed < 0)
            failed++;
        else
            total += replayed;
    }
    printf ("%s: %d inputs replayed\n", argv [1], total);
    return failed? 1: 0;
}
