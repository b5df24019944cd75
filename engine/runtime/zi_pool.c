/*  =========================================================================
    zi_pool - recycled tensor buffers for actors

    An actor's outputs travel inside ZeroMQ messages and are freed by
    whoever lets go last, often another thread. Allocating them fresh per
    request would make the kernel fault in new pages every time (about
    4 us per 4 KiB page here: 0.75 ms for an 800 KiB activation). So
    buffers are kept and handed out again, in power-of-two size classes,
    last freed first out: a chain of layers of different sizes then keeps
    reusing the same few buffers, still warm in cache, as a local session
    does, rather than one buffer per distinct size that all go cold.

    Last freed first out across classes too: a request takes the most
    recently freed buffer of its own class or of the next S_LARGER ones
    (up to 4 times its size). A local session writes each output into a
    buffer a layer just finished reading; by class alone, an output of a
    size the chain has not made for a while gets a buffer last touched
    that long ago, and the kernel's writes miss in cache (mobilenet's
    chain changes class at most layers: by class alone, a modelled 2.5 MiB
    of its outputs per request went into buffers colder than the L2
    cache; across classes 1.4 MiB).
    =========================================================================
*/

#include "zi_classes.h"
#include <pthread.h>

#define S_MIN_SHIFT 12          //  the smallest class: 4 KiB
#define S_CLASSES 51            //  4 KiB to 2^62 bytes, a bucket each
#define S_MAX_KEPT 32           //  buffers kept per size; more are freed
#define S_LARGER 2              //  classes above a request's that may serve it
#define S_MAX_BYTES (INT64_C (1) << 38) //  the largest tensor, as zi_tensor_new allows

//  A free buffer and when it was freed (the pool's tick), side by side:
//  taking the top buffer reads one line, not one in each of two arrays
typedef struct {
    void *block;
    uint64_t freed;
} s_kept_t;

typedef struct {
    int count;                  //  buffers on the stack
    uint64_t top_freed;         //  when the top one was freed (the pool's tick),
                                //  next to count: a look at a bucket is one line
    s_kept_t stack [S_MAX_KEPT];    //  free buffers, the last freed on top
} s_bucket_t;

//  A bucket per size class, found by the class's power of two: taking a
//  buffer and giving it back touch that bucket's cache lines and no
//  others (a search through the buckets touched one line per size, on
//  every hop, in caches the kernels had just swept)
typedef struct zi_pool_t {
    pthread_mutex_t lock;       //  buffers come back from any thread
    uint64_t tick;              //  buffers given back so far
    atomic_int live;            //  tensors handed out and not returned
                                //  (these three share a line, touched on
                                //  every take and give, a line fewer each)
    s_bucket_t buckets [S_CLASSES];
} zi_pool_t;

static_assert (offsetof (zi_pool_t, buckets) <= 64, "the pool's shared fields fit one line");

zi_pool_t *
zi_pool_new (void)
{
    //  On a line of its own, so that the lock, tick and count share one
    size_t size = (sizeof (zi_pool_t) + 63) & ~(size_t) 63;
    zi_pool_t *self = aligned_alloc (64, size);
    assert (self);
    memset (self, 0, size);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
zi_pool_destroy (zi_pool_t **self_p)
{
    assert (self_p);
    zi_pool_t *self = *self_p;
    if (!self)
        return;
    for (int index = 0; index < S_CLASSES; index++)
        for (int item = 0; item < self->buckets [index].count; item++)
            zi_free (self->buckets [index].stack [item].block);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  The size class of a request: the next power of two, at least 4 KiB
static size_t
s_class (size_t size)
{
    size_t class = (size_t) 1 << S_MIN_SHIFT;
    while (class < size && class < ((size_t) 1 << 62))
        class <<= 1;
    return class;
}

//  The bucket of a size class (a power of two from 4 KiB)
static s_bucket_t *
s_bucket (zi_pool_t *self, size_t class)
{
    int shift = __builtin_ctzll ((unsigned long long) class);
    assert (shift >= S_MIN_SHIFT && shift - S_MIN_SHIFT < S_CLASSES);
    return &self->buckets [shift - S_MIN_SHIFT];
}

static void
s_give_back (void *data, void *hint)
{
    zi_pool_t *self = hint;
    //  The size travels in the 64 bytes before the data
    size_t size = *(size_t *) ((char *) data - 64);
    void *block = (char *) data - 64;
    pthread_mutex_lock (&self->lock);
    s_bucket_t *bucket = s_bucket (self, size);
    if (bucket->count < S_MAX_KEPT) {
        bucket->top_freed = ++self->tick;
        bucket->stack [bucket->count++] = (s_kept_t) {block, bucket->top_freed};
        block = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    zi_free (block);
    atomic_fetch_sub (&self->live, 1);
}

zi_tensor_t *
zi_pool_tensor (zi_pool_t *self, zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    int64_t count = ndim >= 0 && ndim <= ZI_MAX_DIMS? zi_shape_count (ndim, dims): -1;
    if (count < 0 || zi_dtype_size (dtype) == 0
    ||  count > S_MAX_BYTES / (int64_t) zi_dtype_size (dtype)) {
        zi_error ("bad tensor shape");
        return NULL;
    }
    size_t size = s_class ((size_t) count * zi_dtype_size (dtype));
    void *block = NULL;
    pthread_mutex_lock (&self->lock);
    //  The most recently freed buffer of this class or a few above
    s_bucket_t *bucket = s_bucket (self, size), *last = &self->buckets [S_CLASSES - 1];
    s_bucket_t *chosen = NULL;
    for (s_bucket_t *larger = bucket; larger <= bucket + S_LARGER && larger <= last; larger++)
        if (larger->count > 0 && (!chosen || larger->top_freed > chosen->top_freed))
            chosen = larger;
    if (chosen) {
        block = chosen->stack [--chosen->count].block;
        chosen->top_freed = chosen->count? chosen->stack [chosen->count - 1].freed: 0;
    }
    pthread_mutex_unlock (&self->lock);
    if (!block) {
        block = zi_alloc (size + 64);
        if (!block) {
            zi_error ("out of memory for a %zu-byte tensor", size);
            return NULL;
        }
        *(size_t *) block = size;
    }
    //  The tensor around it made here, not by zi_tensor_wrap: the shape
    //  was checked above, and its calloc takes glibc's slow path (calloc
    //  skips the per-thread cache that malloc serves small blocks from),
    //  the dearest part of a hop between two actors after the kernel
    zi_tensor_t *tensor = malloc (sizeof (zi_tensor_t));
    if (!tensor) {
        zi_error ("out of memory");
        zi_free (block);
        return NULL;
    }
    *tensor = (zi_tensor_t) {.dtype = dtype, .ndim = ndim, .data = (char *) block + 64,
                             .nbytes = (size_t) count * zi_dtype_size (dtype),
                             .free_fn = s_give_back, .hint = self};
    memcpy (tensor->dims, dims, ndim * sizeof (int64_t));
    atomic_init (&tensor->refs, 1);
    atomic_fetch_add (&self->live, 1);
    return tensor;
}

int
zi_pool_live (zi_pool_t *self)
{
    return atomic_load (&self->live);
}

void
zi_pool_test (zi_test_t *t)
{
    zi_pool_t *pool = zi_pool_new ();
    int64_t dims [2] = {100, 100};
    zi_tensor_t *first = zi_pool_tensor (pool, ZI_F32, 2, dims);
    ZI_CHECK (t, first && ((uintptr_t) first->data & 63) == 0, "aligned pooled tensor");
    void *data = first->data;
    ZI_CHECK (t, zi_pool_live (pool) == 1, "one live");
    zi_tensor_destroy (&first);
    ZI_CHECK (t, zi_pool_live (pool) == 0, "none live");
    zi_tensor_t *second = zi_pool_tensor (pool, ZI_F32, 2, dims);
    ZI_CHECK (t, second->data == data, "buffer reused");
    zi_tensor_t *third = zi_pool_tensor (pool, ZI_F32, 2, dims);
    ZI_CHECK (t, third->data != data, "a second buffer while the first is out");
    int64_t other [1] = {7};
    zi_tensor_t *small = zi_pool_tensor (pool, ZI_I64, 1, other);
    ZI_CHECK (t, small && small->nbytes == 56, "other size");
    //  A different size of the same class reuses the same buffer
    zi_tensor_destroy (&second);
    int64_t near [2] = {90, 100};
    zi_tensor_t *similar = zi_pool_tensor (pool, ZI_F32, 2, near);
    ZI_CHECK (t, similar && similar->data == data, "same size class, same buffer");
    zi_tensor_destroy (&similar);
    zi_tensor_destroy (&third);
    zi_tensor_destroy (&small);

    //  Across classes: the most recently freed buffer up to four times
    //  the size, as a session's next output goes where the last input was
    int64_t large_dims [1] = {16384}, half_dims [1] = {8192}, tiny_dims [1] = {100};
    zi_tensor_t *large = zi_pool_tensor (pool, ZI_F32, 1, large_dims);     //  64 KiB
    zi_tensor_t *half = zi_pool_tensor (pool, ZI_F32, 1, half_dims);       //  32 KiB
    void *large_data = large->data, *half_data = half->data;
    zi_tensor_destroy (&half);
    zi_tensor_destroy (&large);
    zi_tensor_t *taker = zi_pool_tensor (pool, ZI_F32, 1, half_dims);
    ZI_CHECK (t, taker && taker->data == large_data && taker->nbytes == 32768,
              "a smaller tensor takes the buffer freed last, of a larger class");
    zi_tensor_t *own = zi_pool_tensor (pool, ZI_F32, 1, half_dims);
    ZI_CHECK (t, own && own->data == half_data, "then its own class's");
    zi_tensor_destroy (&own);
    zi_tensor_destroy (&taker);
    zi_tensor_t *back = zi_pool_tensor (pool, ZI_F32, 1, large_dims);
    ZI_CHECK (t, back && back->data == large_data, "the lent buffer went back to its class");
    zi_tensor_destroy (&back);
    zi_tensor_t *tiny = zi_pool_tensor (pool, ZI_F32, 1, tiny_dims);        //  4 KiB class
    ZI_CHECK (t, tiny && tiny->data != large_data && tiny->data != half_data,
              "a buffer more than four times the size is not taken");
    zi_tensor_destroy (&tiny);
    ZI_CHECK (t, zi_pool_live (pool) == 0, "every tensor given back");

    //  Shapes no tensor can have are refused, not wrapped
    int64_t nine [9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, negative [2] = {4, -1};
    ZI_CHECK (t, !zi_pool_tensor (pool, ZI_F32, 9, nine), "a rank above %d refused", ZI_MAX_DIMS);
    ZI_CHECK (t, !zi_pool_tensor (pool, ZI_F32, 2, negative), "a negative size refused");
    ZI_CHECK (t, !zi_pool_tensor (pool, 99, 2, dims), "an unknown element type refused");
    zi_tensor_t *shaped = zi_pool_tensor (pool, ZI_I64, 2, dims);
    ZI_CHECK (t, shaped && shaped->dtype == ZI_I64 && shaped->ndim == 2 && shaped->dims [0] == 100
              && shaped->dims [1] == 100 && shaped->dims [2] == 0 && shaped->nbytes == 80000
              && zi_tensor_count (shaped) == 10000, "a pooled tensor has its dtype and shape");
    zi_tensor_destroy (&shaped);
    ZI_CHECK (t, zi_pool_live (pool) == 0, "none live after the refusals");
    zi_pool_destroy (&pool);
}
