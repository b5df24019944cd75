/*  =========================================================================
    zi_modeltest - checks zinfer against PyTorch on an exported model

    Usage: zi_modeltest DIR NAME
    Loads DIR/NAME.onnx, DIR/NAME.input.npy and DIR/NAME.output.npy (what
    PyTorch computed), runs the model with and without the fusion passes,
    and requires max |diff| <= 1e-4 * max (1, max |expected|) for both.
    =========================================================================
*/

#include "zi_classes.h"

static int
s_check (const char *what, const zi_tensor_t *got, const zi_tensor_t *want)
{
    char got_shape [128], want_shape [128];
    if (!zi_tensor_same_shape (got, want)) {
        fprintf (stderr, "%s: shape %s %s, expected %s %s\n", what,
                 zi_dtype_name (got->dtype), zi_shape_str (got->ndim, got->dims, got_shape, 128),
                 zi_dtype_name (want->dtype), zi_shape_str (want->ndim, want->dims, want_shape, 128));
        return -1;
    }
    const float *a = got->data, *b = want->data;
    size_t count = zi_tensor_count (want);
    double scale = 1, worst = 0;
    size_t at = 0;
    for (size_t item = 0; item < count; item++)
        if (fabs (b [item]) > scale)
            scale = fabs (b [item]);
    for (size_t item = 0; item < count; item++) {
        double diff = fabs ((double) a [item] - b [item]);
        if (!(diff <= worst)) {     //  catches NaN too
            worst = isnan (diff)? INFINITY: diff;
            at = item;
        }
    }
    double limit = 1e-4 * scale;
    printf ("%s: %zu values, max |diff| %.3g at [%zu] (got %.7g, want %.7g), limit %.3g: %s\n",
            what, count, worst, at, a [at], b [at], limit, worst <= limit? "ok": "FAIL");
    return worst <= limit? 0: -1;
}

int
main (int argc, char *argv [])
{
    if (argc != 3) {
        fprintf (stderr, "usage: zi_modeltest DIR NAME\n");
        return 2;
    }
    char path [1024];
    snprintf (path, sizeof path, "%s/%s.onnx", argv [1], argv [2]);
    zi_model_t *model = zi_model_load (path);
    snprintf (path, sizeof path, "%s/%s.input.npy", argv [1], argv [2]);
    zi_tensor_t *input = zi_npy_load (path);
    snprintf (path, sizeof path, "%s/%s.output.npy", argv [1], argv [2]);
    zi_tensor_t *expected = model && input? zi_npy_load (path): NULL;
    if (!model || !input || !expected) {
        fprintf (stderr, "zi_modeltest: %s\n", zi_error_text ());
        return 1;
    }
    int failures = 0;
    for (int fused = 1; fused >= 0; fused--) {
        zi_options_t options = {.threads = 1, .no_fuse = !fused};
        zi_session_t *session = zi_session_new (model, &options);
        zi_tensor_t *output = NULL;
        if (zi_session_run (session, &input, &output)) {
            fprintf (stderr, "%s (%s): %s\n", argv [2], fused? "fused": "unfused", zi_error_text ());
            failures++;
        }
        else {
            char what [256];
            snprintf (what, sizeof what, "%s (%s)", argv [2], fused? "fused": "unfused");
            if (s_check (what, output, expected))
                failures++;
            //  Run again: a second run must give the same bits (buffers
            //  are reused, nothing may leak from the first run)
            zi_tensor_t *again = NULL;
            if (zi_session_run (session, &input, &again)
            ||  memcmp (again->data, output->data, output->nbytes) != 0) {
                fprintf (stderr, "%s: second run differs\n", what);
                failures++;
            }
            zi_tensor_destroy (&again);
        }
        zi_tensor_destroy (&output);
        zi_session_destroy (&session);
    }
    zi_tensor_destroy (&input);
    zi_tensor_destroy (&expected);
    zi_model_destroy (&model);
    return failures? 1: 0;
}
