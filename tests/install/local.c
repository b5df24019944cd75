/*  local.c - runs a model through the installed libzinfer, as a program
    that only has zinfer.h and pkg-config would

        local MODEL.onnx INPUT.npy OUTPUT.npy
*/

#include <stdio.h>
#include <zinfer.h>

int
main (int argc, char *argv [])
{
    if (argc != 4) {
        fprintf (stderr, "usage: local MODEL.onnx INPUT.npy OUTPUT.npy\n");
        return 2;
    }
    zi_model_t *model = zi_model_load (argv [1]);
    zi_tensor_t *input = zi_npy_load (argv [2]);
    if (!model || !input) {
        fprintf (stderr, "local: %s\n", zi_error_text ());
        return 1;
    }
    zi_options_t options = { .threads = 1 };
    zi_session_t *session = zi_session_new (model, &options);
    zi_tensor_t *output = NULL;
    int rc = session? zi_session_run (session, &input, &output): -1;
    if (rc == 0)
        rc = zi_npy_save (output, argv [3]);
    if (rc)
        fprintf (stderr, "local: %s\n", zi_error_text ());
    zi_tensor_destroy (&output);
    zi_tensor_destroy (&input);
    zi_session_destroy (&session);
    zi_model_destroy (&model);
    return rc? 1: 0;
}
