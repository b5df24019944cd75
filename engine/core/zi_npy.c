/*  =========================================================================
    zi_npy - numpy .npy files in and out

    Format (numpy's NEP 1): magic "\x93NUMPY", version byte pair, header
    length (2 bytes in v1, 4 in v2/v3), then a Python dict literal such as
    {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), } and the raw
    C-order data. We read and write little-endian float32 '<f4', float16
    '<f2', int64 '<i8', int32 '<i4', int8 '|i1', uint8 '|u1' and bool
    '|b1' as they are, and read float64 '<f8' narrowed to float32 (zinfer
    has no float64 tensors); we write v1.
    =========================================================================
*/

#include "zi_classes.h"

#include <errno.h>
#include <unistd.h>

#define S_MAGIC "\x93NUMPY"

//  Finds 'key': in the header dict and returns the text after the colon
static const char *
s_header_value (const char *header, const char *key)
{
    char quoted [32];
    snprintf (quoted, sizeof quoted, "'%s'", key);
    const char *at = strstr (header, quoted);
    if (!at) {
        snprintf (quoted, sizeof quoted, "\"%s\"", key);
        at = strstr (header, quoted);
    }
    if (!at)
        return NULL;
    at = strchr (at + strlen (quoted), ':');
    if (!at)
        return NULL;
    at++;
    while (*at == ' ')
        at++;
    return at;
}

//  The element types, as numpy spells them; the first of a dtype's
//  spellings is the one written
static const struct {
    const char *descr;          //  numpy's type string
    zi_dtype_t dtype;           //  the tensor's dtype
    size_t size;                //  bytes per element in the file
} s_descrs [] = {
    {"<f4", ZI_F32, 4}, {"<f8", ZI_F32, 8}, {"<f2", ZI_F16, 2}, {"<i8", ZI_I64, 8},
    {"<i4", ZI_I32, 4}, {"|i1", ZI_I8, 1}, {"<i1", ZI_I8, 1}, {"|u1", ZI_U8, 1},
    {"<u1", ZI_U8, 1}, {"|b1", ZI_BOOL, 1}
};
#define S_N_DESCRS ((int) (sizeof s_descrs / sizeof s_descrs [0]))

//  Parses the header dict: which entry of s_descrs, the shape
static int
s_parse_header (const char *path, const char *header, int *descr,
                int *ndim, int64_t *dims)
{
    const char *value = s_header_value (header, "descr");
    if (!value || (*value != '\'' && *value != '"'))
        return zi_error ("%s: .npy header has no 'descr'", path);
    char type [16] = "";
    sscanf (value + 1, "%15[^'\"]", type);
    *descr = -1;
    for (int index = 0; index < S_N_DESCRS; index++)
        if (strcmp (type, s_descrs [index].descr) == 0)
            *descr = index;
    if (*descr < 0)
        return zi_error ("%s: element type '%s' is not supported (expected <f4, <f2, <f8, "
                         "<i8, <i4, |i1, |u1 or |b1)", path, type);

    value = s_header_value (header, "fortran_order");
    if (!value)
        return zi_error ("%s: .npy header has no 'fortran_order'", path);
    if (strncmp (value, "False", 5) != 0)
        return zi_error ("%s: Fortran-order arrays are not supported "
                         "(save with numpy.ascontiguousarray)", path);

    value = s_header_value (header, "shape");
    if (!value || *value != '(')
        return zi_error ("%s: .npy header has no 'shape' tuple", path);
    value++;
    *ndim = 0;
    while (true) {
        while (*value == ' ' || *value == ',')
            value++;
        if (*value == ')')
            break;
        char *end;
        long long extent = strtoll (value, &end, 10);
        if (end == value || extent < 0)
            return zi_error ("%s: bad shape in .npy header near '%.20s'", path, value);
        if (*ndim == ZI_MAX_DIMS)
            return zi_error ("%s: more than %d dimensions", path, ZI_MAX_DIMS);
        dims [(*ndim)++] = extent;
        value = end;
    }
    return 0;
}

static zi_tensor_t *
s_load_file (const char *path, FILE *file)
{
    unsigned char prefix [10];
    if (fread (prefix, 1, 10, file) != 10 || memcmp (prefix, S_MAGIC, 6) != 0) {
        zi_error ("%s: not a .npy file (no \\x93NUMPY magic)", path);
        return NULL;
    }
    size_t header_size;
    int major = prefix [6];
    if (major == 1)
        header_size = prefix [8] | (prefix [9] << 8);
    else
    if (major == 2 || major == 3) {
        unsigned char more [2];
        if (fread (more, 1, 2, file) != 2) {
            zi_error ("%s: truncated .npy header", path);
            return NULL;
        }
        header_size = prefix [8] | (prefix [9] << 8) | (more [0] << 16) | ((size_t) more [1] << 24);
    }
    else {
        zi_error ("%s: .npy version %d is not supported", path, major);
        return NULL;
    }
    if (header_size > 65536) {
        zi_error ("%s: .npy header of %zu bytes is implausible", path, header_size);
        return NULL;
    }
    char *header = calloc (1, header_size + 1);
    assert (header);
    if (fread (header, 1, header_size, file) != header_size) {
        zi_error ("%s: truncated .npy header", path);
        free (header);
        return NULL;
    }
    int descr = 0;
    int ndim = 0;
    int64_t dims [ZI_MAX_DIMS];
    int rc = s_parse_header (path, header, &descr, &ndim, dims);
    free (header);
    if (rc)
        return NULL;

    zi_dtype_t dtype = s_descrs [descr].dtype;
    size_t file_size = s_descrs [descr].size;
    //  Does the file hold what the header declares? Checked before
    //  allocating: a small file may declare a huge shape
    int64_t declared = zi_shape_count (ndim, dims);
    long here = ftell (file);
    if (declared >= 0 && here >= 0 && fseek (file, 0, SEEK_END) == 0) {
        long end = ftell (file);
        fseek (file, here, SEEK_SET);
        if (end >= here && (uint64_t) declared > (uint64_t) (end - here) / file_size) {
            char shape [128];
            zi_error ("%s: truncated: shape %s needs %lld elements of %zu bytes, the file "
                      "holds %ld bytes after its header", path,
                      zi_shape_str (ndim, dims, shape, sizeof shape), (long long) declared,
                      file_size, end - here);
            return NULL;
        }
    }
    zi_tensor_t *tensor = zi_tensor_new (dtype, ndim, dims);
    if (!tensor) {
        zi_error_prefix ("%s", path);
        return NULL;
    }
    size_t count = zi_tensor_count (tensor);
    if (file_size == zi_dtype_size (dtype)) {
        if (fread (tensor->data, file_size, count, file) != count)
            goto truncated;
    }
    else {
        //  float64, narrowed through a small buffer
        double buffer [512];
        size_t per = sizeof buffer / sizeof buffer [0];
        for (size_t done = 0; done < count; ) {
            size_t chunk = count - done < per? count - done: per;
            if (fread (buffer, file_size, chunk, file) != chunk)
                goto truncated;
            for (size_t item = 0; item < chunk; item++)
                ((float *) tensor->data) [done + item] = (float) buffer [item];
            done += chunk;
        }
    }
    if (dtype == ZI_BOOL)
        for (size_t item = 0; item < count; item++)
            ((unsigned char *) tensor->data) [item] = ((unsigned char *) tensor->data) [item] != 0;
    return tensor;

truncated:
    zi_error ("%s: truncated: expected %zu elements of %zu bytes", path, count, file_size);
    zi_tensor_destroy (&tensor);
    return NULL;
}

zi_tensor_t *
zi_npy_load (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        zi_error ("%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    zi_tensor_t *tensor = s_load_file (path, file);
    fclose (file);
    return tensor;
}

zi_tensor_t *
zi_npy_load_buffer (const void *data, size_t size, const char *name)
{
    FILE *file = fmemopen ((void *) data, size, "rb");
    if (!file) {
        zi_error ("%s: cannot read from memory: %s", name, strerror (errno));
        return NULL;
    }
    zi_tensor_t *tensor = s_load_file (name, file);
    fclose (file);
    return tensor;
}

int
zi_npy_save (const zi_tensor_t *tensor, const char *path)
{
    const char *descr = NULL;
    for (int index = S_N_DESCRS - 1; index >= 0; index--)
        if (s_descrs [index].dtype == tensor->dtype)
            descr = s_descrs [index].descr;
    if (!descr)
        return zi_error ("%s: cannot save a tensor of %s", path, zi_dtype_name (tensor->dtype));
    char header [512];
    int used = snprintf (header, sizeof header,
                         "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int axis = 0; axis < tensor->ndim; axis++)
        used += snprintf (header + used, sizeof header - used, "%lld,%s",
                          (long long) tensor->dims [axis],
                          axis + 1 < tensor->ndim? " ": "");
    used += snprintf (header + used, sizeof header - used, "), }");
    //  Pad with spaces so the data starts on a 64-byte boundary, newline last
    int total = 10 + used + 1;
    int padded = (total + 63) / 64 * 64;
    while (used < padded - 10 - 1)
        header [used++] = ' ';
    header [used++] = '\n';

    FILE *file = fopen (path, "wb");
    if (!file)
        return zi_error ("%s: cannot create: %s", path, strerror (errno));
    unsigned char prefix [10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                 (unsigned char) (used & 0xff), (unsigned char) (used >> 8)};
    bool ok = fwrite (prefix, 1, 10, file) == 10
           && fwrite (header, 1, used, file) == (size_t) used
           && fwrite (tensor->data, 1, tensor->nbytes, file) == tensor->nbytes;
    if (fclose (file) != 0)
        ok = false;
    if (!ok)
        return zi_error ("%s: write failed: %s", path, strerror (errno));
    return 0;
}

void
zi_npy_test (zi_test_t *t)
{
    char path [] = "/tmp/zi_npy_test_XXXXXX";
    int fd = mkstemp (path);
    ZI_CHECK (t, fd >= 0, "temp file");
    close (fd);

    int64_t dims [] = {2, 3, 4};
    zi_tensor_t *tensor = zi_test_random (3, dims, 7);
    ZI_CHECK (t, zi_npy_save (tensor, path) == 0, "save: %s", zi_error_text ());
    zi_tensor_t *back = zi_npy_load (path);
    ZI_CHECK (t, back && zi_tensor_same_shape (back, tensor), "load gives the same shape");
    ZI_CHECK (t, back && memcmp (back->data, tensor->data, tensor->nbytes) == 0,
              "load gives the same bytes");
    zi_tensor_destroy (&back);

    int64_t values [] = {5, -1, 1LL << 40};
    zi_tensor_t *ints = zi_test_ints (3, values);
    ZI_CHECK (t, zi_npy_save (ints, path) == 0, "save int64");
    back = zi_npy_load (path);
    ZI_CHECK (t, back && back->dtype == ZI_I64 && zi_tensor_i64 (back) [2] == (1LL << 40),
              "int64 round trip");
    zi_tensor_destroy (&back);
    zi_tensor_destroy (&ints);

    //  Every dtype comes back as it went, under numpy's name for it
    zi_dtype_t dtypes [] = {ZI_F16, ZI_I32, ZI_I8, ZI_U8, ZI_BOOL};
    const char *descrs [] = {"'<f2'", "'<i4'", "'|i1'", "'|u1'", "'|b1'"};
    for (int index = 0; index < 5; index++) {
        zi_tensor_t *data = zi_test_data (dtypes [index], 2, (int64_t []) {3, 7}, 5);
        ZI_CHECK (t, zi_npy_save (data, path) == 0, "save %s", zi_dtype_name (dtypes [index]));
        char header [128] = "";
        FILE *file = fopen (path, "rb");
        size_t got = fread (header, 1, sizeof header - 1, file);
        fclose (file);
        header [got] = 0;
        ZI_CHECK (t, strstr (header + 10, descrs [index]) != NULL, "%s written as %s",
                  zi_dtype_name (dtypes [index]), descrs [index]);
        back = zi_npy_load (path);
        ZI_CHECK (t, back && zi_tensor_same_shape (back, data)
                  && memcmp (back->data, data->data, data->nbytes) == 0, "%s round trip",
                  zi_dtype_name (dtypes [index]));
        zi_tensor_destroy (&back);
        zi_tensor_destroy (&data);
    }

    //  Truncate the float file: a clear error, no crash
    ZI_CHECK (t, zi_npy_save (tensor, path) == 0, "save again");
    ZI_CHECK (t, truncate (path, 100) == 0, "truncate");
    ZI_CHECK (t, zi_npy_load (path) == NULL && strstr (zi_error_text (), "truncated"),
              "truncated file refused: %s", zi_error_text ());

    FILE *file = fopen (path, "wb");
    fputs ("not numpy at all", file);
    fclose (file);
    ZI_CHECK (t, zi_npy_load (path) == NULL && strstr (zi_error_text (), "not a .npy"),
              "garbage refused: %s", zi_error_text ());

    //  A hand-written header with an unsupported type
    file = fopen (path, "wb");
    const char *header = "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }";
    unsigned char prefix [10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                 (unsigned char) strlen (header), 0};
    fwrite (prefix, 1, 10, file);
    fputs (header, file);
    fclose (file);
    ZI_CHECK (t, zi_npy_load (path) == NULL && strstr (zi_error_text (), "'<c8'"),
              "complex refused: %s", zi_error_text ());

    ZI_CHECK (t, zi_npy_load ("/nonexistent/x.npy") == NULL
              && strstr (zi_error_text (), "cannot open"), "missing file refused");
    zi_tensor_destroy (&tensor);
    unlink (path);
}
