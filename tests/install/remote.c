/*  remote.c - asks a running topology through the installed libzinfer's
    client

        remote ENDPOINT INPUT.npy OUTPUT.npy
*/

#include <stdio.h>
#include <zinfer.h>

int
main (int argc, char *argv [])
{
    if (argc != 4) {
        fprintf (stderr, "usage: remote ENDPOINT INPUT.npy OUTPUT.npy\n");
        return 2;
    }
    zi_client_t *client = zi_client_new (argv [1]);
    zi_tensor_t *input = zi_npy_load (argv [2]);
    if (!client || !input) {
        fprintf (stderr, "remote: %s\n", zi_error_text ());
        return 1;
    }
    zi_tensor_t *output = NULL;
    int rc = zi_client_infer (client, &input, 1, &output, 1, 30000) == 1? 0: -1;
    if (rc == 0)
        rc = zi_npy_save (output, argv [3]);
    if (rc)
        fprintf (stderr, "remote: %s\n", zi_error_text ());
    zi_tensor_destroy (&output);
    zi_tensor_destroy (&input);
    zi_client_destroy (&client);
    return rc? 1: 0;
}
