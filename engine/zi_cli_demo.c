/*  =========================================================================
    zi_cli_demo - `zinfer demo`: classify held-out handwritten digits with
    the small CNN embedded in the binary, and report accuracy and latency
    =========================================================================
*/

#include "zi_cli.h"

static const char *s_usage =
    "usage: zinfer demo [--threads T]\n"
    "\n"
    "Classifies the held-out 8x8 digits of scikit-learn's digits data set with\n"
    "the small CNN built into zinfer, one request per image, and prints the\n"
    "accuracy and the latency per image.\n";

int
zi_cli_demo (int argc, char **argv)
{
    long threads = 1;
    for (int index = 1; index < argc; index++) {
        const char *value;
        if (zi_cli_is_help (argv [index])) {
            fputs (s_usage, stdout);
            return 0;
        }
        else
        if (strcmp (argv [index], "--threads") == 0) {
            if (!(value = zi_cli_value ("demo", argc, argv, &index))
            ||  zi_cli_int ("demo", "--threads", value, 1, 256, &threads))
                return ZI_EXIT_USAGE;
        }
        else
            return zi_cli_fail ("demo", "unexpected argument '%s' (see zinfer demo --help)",
                                argv [index]);
    }
    const zi_embedded_t *model_file = zi_embedded_find ("digits.onnx");
    const zi_embedded_t *images_file = zi_embedded_find ("digits_x.npy");
    const zi_embedded_t *labels_file = zi_embedded_find ("digits_y.npy");
    if (!model_file || !images_file || !labels_file)
        return zi_cli_fail ("demo", "this build has no embedded demo model");

    zi_model_t *model = zi_model_load_buffer (model_file->data, model_file->size, "digits.onnx");
    zi_tensor_t *images = zi_npy_load_buffer (images_file->data, images_file->size, "digits_x.npy");
    zi_tensor_t *labels = zi_npy_load_buffer (labels_file->data, labels_file->size, "digits_y.npy");
    int rc = ZI_EXIT_FAILURE;
    zi_session_t *session = NULL;
    double *times = NULL;
    if (!model || !images || !labels) {
        fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
        goto done;
    }
    int64_t count = images->dims [0];
    if (images->ndim != 4 || labels->dtype != ZI_I64 || labels->dims [0] != count) {
        fprintf (stderr, "zinfer demo: embedded data has unexpected shapes\n");
        goto done;
    }
    zi_options_t options = {.threads = (int) threads};
    session = zi_session_new (model, &options);
    times = malloc (count * sizeof (double));
    assert (times);
    int64_t one_dims [4] = {1, images->dims [1], images->dims [2], images->dims [3]};
    size_t per_image = zi_shape_count (3, one_dims + 1) * sizeof (float);
    int correct = 0;
    for (int64_t image = 0; image < count; image++) {
        zi_tensor_t *input = zi_tensor_wrap (ZI_F32, 4, one_dims,
                                             (char *) images->data + image * per_image, NULL, NULL);
        zi_tensor_t *output = NULL;
        int64_t start = zi_cli_usecs ();
        int failed = zi_session_run (session, &input, &output);
        times [image] = (zi_cli_usecs () - start) / 1000.0;
        zi_tensor_destroy (&input);
        if (failed) {
            fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
            goto done;
        }
        const float *scores = output->data;
        int best = 0;
        for (int digit = 1; digit < (int) zi_tensor_count (output); digit++)
            if (scores [digit] > scores [best])
                best = digit;
        if (best == zi_tensor_i64 (labels) [image])
            correct++;
        zi_tensor_destroy (&output);
    }
    //  The first request plans the session: report it apart
    double first = times [0];
    double median = zi_cli_quantile (times + 1, (int) count - 1, 0.5);
    double p90 = zi_cli_quantile (times + 1, (int) count - 1, 0.9);
    printf ("zinfer demo: digits CNN, %lld held-out 8x8 images, one request each\n",
            (long long) count);
    printf ("accuracy: %.2f%% (%d of %lld)\n", 100.0 * correct / count, correct, (long long) count);
    printf ("latency:  median %.3f ms, p90 %.3f ms per image (first request, with planning: %.3f ms)\n",
            median, p90, first);
    rc = 0;
done:
    free (times);
    zi_session_destroy (&session);
    zi_tensor_destroy (&images);
    zi_tensor_destroy (&labels);
    zi_model_destroy (&model);
    return rc;
}
