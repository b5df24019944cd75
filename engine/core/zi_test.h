/*  =========================================================================
    zi_test.h - self-test checks and test tensors

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_TEST_H_INCLUDED
#define ZI_TEST_H_INCLUDED

#include "zinfer.h"
#include "zi_tensor.h"

//  Self tests: each class / op family ends with a test function.

typedef struct {
    const char *name;           //  test being run
    bool verbose;               //  print each check
    int checks;                 //  checks made
    int fails;                  //  checks failed
} zi_test_t;

void
    zi_test_check (zi_test_t *t, bool ok, const char *file, int line, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));
#define ZI_CHECK(t, cond, ...) zi_test_check ((t), (cond), __FILE__, __LINE__, __VA_ARGS__)

//  Compare n floats with tolerance atol + rtol * |want|; reports the worst
//  element; returns true when they match
bool
    zi_test_close (zi_test_t *t, const char *file, int line, const char *what,
                   const float *got, const float *want, size_t n, float atol, float rtol);
#define ZI_CHECK_CLOSE(t, what, got, want, n, atol, rtol) \
    zi_test_close ((t), __FILE__, __LINE__, (what), (got), (want), (n), (atol), (rtol))


//  Tensors for tests: from values, and seeded pseudo-random in [-1, 1)
zi_tensor_t *
    zi_test_tensor (int ndim, const int64_t *dims, const float *values);
zi_tensor_t *
    zi_test_random (int ndim, const int64_t *dims, uint32_t seed);
zi_tensor_t *
    zi_test_ints (int n, const int64_t *values);
zi_tensor_t *
    zi_test_scalar (float value);
//  Reproducible contents of any dtype that differ per element
zi_tensor_t *
    zi_test_data (zi_dtype_t dtype, int ndim, const int64_t *dims, uint32_t seed);
//  A shape without data, as a non-constant input looks to shape inference
zi_tensor_t *
    zi_test_shape_only (zi_dtype_t dtype, int ndim, const int64_t *dims);

#endif
