/*  =========================================================================
    fuzz_npy - libFuzzer harness for the .npy reader

    `zinfer run --input` and the demo read .npy files from anywhere, so the
    header parser and the element conversion must take any bytes. A tensor
    that loads must be as large as its shape says, which the harness checks
    by reading every byte (the address sanitizer sees any shortfall).
    =========================================================================
*/

#include "zi_classes.h"

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define s_expect(condition) \
    do { if (!(condition)) { \
        fprintf (stderr, "fuzz_npy: %s:%d: expected %s\n", __FILE__, __LINE__, #condition); \
        abort (); \
    } } while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zi_error ("%s", "");
    zi_tensor_t *tensor = zi_npy_load_buffer (data, size, "fuzz.npy");
    if (!tensor) {
        s_expect (*zi_error_text ());
        return 0;
    }
    zi_dtype_t dtype = zi_tensor_dtype (tensor);
    s_expect (zi_dtype_size (dtype) > 0);
    s_expect (zi_tensor_ndim (tensor) >= 0 && zi_tensor_ndim (tensor) <= ZI_MAX_DIMS);
    s_expect (zi_tensor_nbytes (tensor) == zi_tensor_count (tensor) * zi_dtype_size (dtype));
    const unsigned char *bytes = zi_tensor_data (tensor);
    size_t sum = 0;
    for (size_t index = 0; index < zi_tensor_nbytes (tensor); index++)
        sum += bytes [index];
    if (dtype == ZI_BOOL)
        s_expect (sum <= zi_tensor_count (tensor));     //  every element 0 or 1
    zi_tensor_destroy (&tensor);
    return 0;
}
