/*  =========================================================================
    zi_cli_demo - `zinfer demo`: classify held-out handwritten digits with
    the small CNN embedded in the binary, and report accuracy and latency
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_launcher.h"
#include <errno.h>
#include <unistd.h>

static const char *s_usage =
    "usage: zinfer demo [--base-port P] [--local-only]\n"
    "\n"
    "Classifies the held-out 8x8 digits of scikit-learn's digits data set with\n"
    "the small CNN built into zinfer: first locally, then through a topology\n"
    "that splits the CNN across three processes talking over tcp on\n"
    "127.0.0.1, one request per image each time. Prints the accuracy of both\n"
    "and a latency table, local against split.\n"
    "\n"
    "  --base-port P   first tcp port of the split topology (default 7300)\n"
    "  --local-only    skip the split run\n";

//  The embedded topology: features | middle | classifier, over tcp
static const char *s_topology =
    "name: digits-demo\n"
    "model: %s\n"
    "input_shape: [1, 1, 8, 8]\n"
    "base_port: %d\n"
    "transport: tcp\n"
    "processes:\n"
    "  - name: features\n"
    "  - name: middle\n"
    "  - name: classifier\n"
    "placement:\n"
    "  - process: features\n"
    "    from: /conv1/Conv\n"
    "    to: /pool/MaxPool\n"
    "  - process: middle\n"
    "    from: /conv3/Conv\n"
    "    to: /flatten/Flatten\n"
    "  - process: classifier\n"
    "    from: /fc1/Gemm\n";

typedef struct {
    const char *name;           //  column title
    double *times;              //  per image, ms
    int correct;                //  images classified right
} s_column_t;

static int
s_argmax (const zi_tensor_t *scores)
{
    const float *data = scores->data;
    int best = 0;
    for (int digit = 1; digit < (int) zi_tensor_count (scores); digit++)
        if (data [digit] > data [best])
            best = digit;
    return best;
}

static void
s_mean_std (const double *values, int count, double *mean, double *std)
{
    double sum = 0, squares = 0;
    for (int index = 0; index < count; index++)
        sum += values [index];
    *mean = sum / count;
    for (int index = 0; index < count; index++)
        squares += (values [index] - *mean) * (values [index] - *mean);
    *std = count > 1? sqrt (squares / (count - 1)): 0;
}

//  Writes data to dir/name; returns 0 or -1 with the error set
static int
s_write_file (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    if (!file)
        return zi_error ("cannot create %s: %s", path, strerror (errno));
    bool ok = fwrite (data, 1, size, file) == size;
    if (fclose (file) || !ok)
        return zi_error ("cannot write %s", path);
    return 0;
}

int
zi_cli_demo (int argc, char **argv)
{
    long base_port = 7300;
    bool local_only = false;
    const zi_opt_t table [] = {
        ZI_CLI_INT ("--base-port", &base_port, 1, 65000),
        ZI_CLI_FLAG ("--local-only", &local_only),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("demo", s_usage, argc, argv, table, NULL, 0);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
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
    zi_launcher_t *launcher = NULL;
    zi_client_t *client = NULL;
    s_column_t columns [2] = {{.name = "local"}, {.name = "split: 3 processes, tcp"}};
    int n_columns = local_only? 1: 2;
    char folder [] = "/tmp/zinfer-demo-XXXXXX";
    bool have_folder = false;
    char model_path [64], topology_path [64];
    if (!model || !images || !labels) {
        fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
        goto done;
    }
    int count = (int) images->dims [0];
    if (images->ndim != 4 || labels->dtype != ZI_I64 || labels->dims [0] != count || count < 2) {
        fprintf (stderr, "zinfer demo: embedded data has unexpected shapes\n");
        goto done;
    }
    int64_t one_dims [4] = {1, images->dims [1], images->dims [2], images->dims [3]};
    size_t per_image = zi_shape_count (3, one_dims + 1) * sizeof (float);
    for (int column = 0; column < n_columns; column++) {
        columns [column].times = calloc (count, sizeof (double));
        assert (columns [column].times);
    }
    printf ("zinfer demo: a CNN for 8x8 handwritten digits, %d held-out images, "
            "one request each\n", count);

    //  Local: a session in this process
    zi_options_t options = {.threads = 1};
    session = zi_session_new (model, &options);
    for (int pass = 0; pass < 2; pass++)        //  the first pass warms up
        for (int image = 0; image < count; image++) {
            zi_tensor_t *input = zi_tensor_wrap (ZI_F32, 4, one_dims,
                                                 (char *) images->data + image * per_image, NULL, NULL);
            zi_tensor_t *output = NULL;
            int64_t start = zi_cli_usecs ();
            int failed = zi_session_run (session, &input, &output);
            columns [0].times [image] = (zi_cli_usecs () - start) / 1000.0;
            zi_tensor_destroy (&input);
            if (failed) {
                fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
                goto done;
            }
            if (pass == 1 && s_argmax (output) == zi_tensor_i64 (labels) [image])
                columns [0].correct++;
            zi_tensor_destroy (&output);
        }

    if (!local_only) {
        //  Split: the same model across three worker processes
        if (!mkdtemp (folder)) {
            fprintf (stderr, "zinfer demo: cannot create a temporary folder: %s\n", strerror (errno));
            goto done;
        }
        have_folder = true;
        snprintf (model_path, sizeof model_path, "%s/digits.onnx", folder);
        snprintf (topology_path, sizeof topology_path, "%s/digits-demo.yaml", folder);
        char topology [2048];
        int length = snprintf (topology, sizeof topology, s_topology, model_path, (int) base_port);
        if (s_write_file (model_path, model_file->data, model_file->size)
        ||  s_write_file (topology_path, topology, length)) {
            fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
            goto done;
        }
        printf ("starting the split topology (%s) ...\n", topology_path);
        fflush (stdout);
        launcher = zi_launcher_new (topology_path, NULL, 0);
        if (!launcher || zi_launcher_start (launcher, 60, false)) {
            fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
            goto done;
        }
        char endpoint [256];
        zi_deploy_client_endpoint (zi_launcher_deploy (launcher), endpoint, sizeof endpoint);
        client = zi_client_new (endpoint);
        if (!client) {
            fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
            goto done;
        }
        for (int pass = 0; pass < 2; pass++)
            for (int image = 0; image < count; image++) {
                zi_tensor_t *input = zi_tensor_wrap (ZI_F32, 4, one_dims,
                                                     (char *) images->data + image * per_image,
                                                     NULL, NULL);
                zi_tensor_t *output = NULL;
                int64_t start = zi_cli_usecs ();
                int got = zi_client_infer (client, &input, 1, &output, 1, 10000);
                columns [1].times [image] = (zi_cli_usecs () - start) / 1000.0;
                zi_tensor_destroy (&input);
                if (got != 1) {
                    fprintf (stderr, "zinfer demo: %s\n", zi_error_text ());
                    goto done;
                }
                if (pass == 1 && s_argmax (output) == zi_tensor_i64 (labels) [image])
                    columns [1].correct++;
                zi_tensor_destroy (&output);
            }
    }

    //  The table, laid out like the study that started zinfer
    double local_mean = 0, local_std;
    printf ("\n%-26s %10s %10s %10s %10s %9s\n", "", "accuracy", "mean ms", "std ms",
            "median ms", "vs local");
    for (int column = 0; column < n_columns; column++) {
        double mean, std;
        s_mean_std (columns [column].times, count, &mean, &std);
        if (column == 0)
            local_mean = mean, local_std = std;
        double median = zi_cli_quantile (columns [column].times, count, 0.5);
        printf ("%-26s %9.2f%% %10.3f %10.3f %10.3f %8.2fx\n", columns [column].name,
                100.0 * columns [column].correct / count, mean, std, median, mean / local_mean);
    }
    (void) local_std;
    if (n_columns == 2)
        printf ("\nThe split pays for 5 network hops per request (client, 3 processes, "
                "gateway, back to the client);\nthe model itself computes in %.3f ms.\n",
                local_mean);
    rc = columns [0].correct * 100 >= 95 * count
      && (n_columns == 1 || columns [1].correct == columns [0].correct)? 0: ZI_EXIT_FAILURE;
done:
    zi_client_destroy (&client);
    zi_launcher_destroy (&launcher);
    if (have_folder) {
        unlink (model_path);
        unlink (topology_path);
        rmdir (folder);
    }
    for (int column = 0; column < 2; column++)
        free (columns [column].times);
    zi_session_destroy (&session);
    zi_tensor_destroy (&images);
    zi_tensor_destroy (&labels);
    zi_model_destroy (&model);
    return rc;
}
