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
#include <sched.h>

#define S_MIN_SHIFT 12          //  the smallest class: 4 KiB
#define S_CLASSES 51            //  4 KiB to 2^62 bytes, a bucket each
#define S_MAX_KEPT 32           //  buffers kept per size; more are freed
#define S_LARGER 2              //  classes above a request's that may serve it
#define S_MAX_BYTES (INT64_C (1) << 38) //  the largest tensor, as zi_tensor_new allows
#define S_CACHE_KEPT 4          //  buffers a thread cache keeps per class
#define S_CACHE_BYTES (16 << 20)    //  and in all: more go to the shared stacks
#define S_CACHE_CLASSES 13      //  classes a thread cache holds: 4 KiB to 16 MiB

//  A buffer's block: its size, then the tensor around it, then the data,
//  aligned as zi_alloc aligns the block. The tensor lives with its buffer
//  and goes back to the pool with it (shell_in_block): a malloc and a free
//  for it on every hop cost more than the rest of taking and giving the
//  buffer, and their bookkeeping was lines of glibc's the kernels had
//  swept from the caches since the last hop
#define S_HEAD 128
typedef struct {
    size_t size;                //  the block's class
    zi_tensor_t tensor;         //  the tensor, while the buffer is handed out
} s_head_t;
static_assert (sizeof (s_head_t) <= S_HEAD, "a block's head fits before its data");

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

//  A thread's own free buffers of one pool, the last freed on top of
//  each class. Only its thread reads and writes the stacks, except when
//  the pool is destroyed (the thread is then done with the pool) or the
//  thread exits (under s_caches_lock, which pool destruction holds too)
typedef struct s_cache_t {
    _Atomic (struct zi_pool_t *) pool;  //  the pool it caches, or NULL
    struct s_cache_t *next;     //  in the pool's list of caches
    uint64_t tick;              //  buffers given back to this cache so far
    size_t bytes;               //  bytes of the buffers it holds
    s_bucket_t *buckets;        //  S_CACHE_CLASSES of them
} s_cache_t;

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
    s_cache_t *caches;          //  threads' caches, under s_caches_lock
    s_bucket_t buckets [S_CLASSES];
} zi_pool_t;

static_assert (offsetof (zi_pool_t, buckets) <= 64, "the pool's shared fields fit one line");

//  Guards every pool's list of caches and each cache's tie to its pool:
//  taken when a thread first caches a pool, when it exits, and when a
//  pool is destroyed, never on a take or a give
static pthread_mutex_t s_caches_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t s_cache_key;
static pthread_once_t s_cache_once = PTHREAD_ONCE_INIT;
//  This thread's cache (also held by s_cache_key, for its destructor)
static __thread s_cache_t *s_cache;

static void s_shared_give (zi_pool_t *self, void *block, size_t size);

//  Empties a cache into its pool's shared stacks and unties it; the
//  caller holds s_caches_lock
static void
s_cache_untie (s_cache_t *cache, bool to_pool)
{
    zi_pool_t *pool = atomic_load_explicit (&cache->pool, memory_order_relaxed);
    if (!pool)
        return;
    for (int index = 0; index < S_CACHE_CLASSES; index++) {
        s_bucket_t *bucket = &cache->buckets [index];
        //  Oldest first, so that the most recent ends on top
        for (int item = 0; item < bucket->count; item++) {
            void *block = bucket->stack [item].block;
            if (to_pool)
                s_shared_give (pool, block, ((s_head_t *) block)->size);
            else
                zi_free (block);
        }
        bucket->count = 0;
        bucket->top_freed = 0;
    }
    cache->bytes = 0;
    for (s_cache_t **link = &pool->caches; *link; link = &(*link)->next)
        if (*link == cache) {
            *link = cache->next;
            break;
        }
    cache->next = NULL;
    atomic_store_explicit (&cache->pool, NULL, memory_order_relaxed);
}

//  At a thread's exit: its buffers go back to the shared stacks
static void
s_cache_exit (void *arg)
{
    s_cache_t *cache = arg;
    s_cache = NULL;             //  a tensor freed later on this thread goes to the shared stacks
    pthread_mutex_lock (&s_caches_lock);
    s_cache_untie (cache, true);
    pthread_mutex_unlock (&s_caches_lock);
    free (cache->buckets);
    free (cache);
}

static bool s_cache_keyed;       //  the key was made: threads may cache

static void
s_cache_key_new (void)
{
    s_cache_keyed = pthread_key_create (&s_cache_key, s_cache_exit) == 0;
}

//  This thread's cache of the pool, tying an untied one to it first; NULL
//  when the thread caches another pool
static s_cache_t *
s_cache_of (zi_pool_t *self)
{
    s_cache_t *cache = s_cache;
    if (cache && atomic_load_explicit (&cache->pool, memory_order_relaxed) == self)
        return cache;
    if (!cache) {
        //  Without the key a cache could not be given back at the
        //  thread's exit: the thread takes from the shared stacks
        pthread_once (&s_cache_once, s_cache_key_new);
        if (!s_cache_keyed)
            return NULL;
        cache = calloc (1, sizeof (s_cache_t));
        //  Whole lines: aligned_alloc wants a multiple of the alignment
        size_t size = (S_CACHE_CLASSES * sizeof (s_bucket_t) + 63) & ~(size_t) 63;
        s_bucket_t *buckets = aligned_alloc (64, size);
        if (!cache || !buckets) {
            free (cache);
            free (buckets);
            return NULL;
        }
        memset (buckets, 0, size);
        cache->buckets = buckets;
        if (pthread_setspecific (s_cache_key, cache)) {
            free (buckets);
            free (cache);
            return NULL;
        }
        s_cache = cache;
    }
    if (atomic_load_explicit (&cache->pool, memory_order_relaxed))
        return NULL;
    pthread_mutex_lock (&s_caches_lock);
    atomic_store_explicit (&cache->pool, self, memory_order_relaxed);
    cache->next = self->caches;
    self->caches = cache;
    pthread_mutex_unlock (&s_caches_lock);
    return cache;
}

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
    //  Threads still alive may hold buffers of it: freed here, and their
    //  caches untied, ready for another pool
    pthread_mutex_lock (&s_caches_lock);
    while (self->caches)
        s_cache_untie (self->caches, false);
    pthread_mutex_unlock (&s_caches_lock);
    for (int index = 0; index < S_CLASSES; index++)
        for (int item = 0; item < self->buckets [index].count; item++)
            zi_free (self->buckets [index].stack [item].block);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  The size class of a request: the next power of two, at least 4 KiB
//  (a size is at most S_MAX_BYTES, so the shift stays in range)
static size_t
s_class (size_t size)
{
    if (size <= ((size_t) 1 << S_MIN_SHIFT))
        return (size_t) 1 << S_MIN_SHIFT;
    return (size_t) 1 << (64 - __builtin_clzll ((unsigned long long) (size - 1)));
}

//  The bucket of a size class (a power of two from 4 KiB)
static s_bucket_t *
s_bucket (zi_pool_t *self, size_t class)
{
    int shift = __builtin_ctzll ((unsigned long long) class);
    assert (shift >= S_MIN_SHIFT && shift - S_MIN_SHIFT < S_CLASSES);
    return &self->buckets [shift - S_MIN_SHIFT];
}

//  A block to the shared stacks, or freed when its class's is full
static void
s_shared_give (zi_pool_t *self, void *block, size_t size)
{
    pthread_mutex_lock (&self->lock);
    s_bucket_t *bucket = s_bucket (self, size);
    if (bucket->count < S_MAX_KEPT) {
        bucket->top_freed = ++self->tick;
        bucket->stack [bucket->count++] = (s_kept_t) {block, bucket->top_freed};
        block = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    zi_free (block);
}

static void
s_give_back (void *data, void *hint)
{
    zi_pool_t *self = hint;
    //  The size travels in the head before the data
    void *block = (char *) data - S_HEAD;
    size_t size = ((s_head_t *) block)->size;
    //  To this thread's cache if it caches this pool and has room: a
    //  full class gives its oldest to the shared stacks, keeping the
    //  warm one here
    s_cache_t *cache = s_cache;
    int shift = __builtin_ctzll ((unsigned long long) size) - S_MIN_SHIFT;
    if (cache && atomic_load_explicit (&cache->pool, memory_order_relaxed) == self
    &&  shift < S_CACHE_CLASSES && cache->bytes + size <= S_CACHE_BYTES) {
        s_bucket_t *bucket = &cache->buckets [shift];
        if (bucket->count == S_CACHE_KEPT) {
            void *oldest = bucket->stack [0].block;
            memmove (bucket->stack, bucket->stack + 1, (S_CACHE_KEPT - 1) * sizeof (s_kept_t));
            bucket->count--;
            cache->bytes -= size;
            s_shared_give (self, oldest, size);
        }
        bucket->top_freed = ++cache->tick;
        bucket->stack [bucket->count++] = (s_kept_t) {block, bucket->top_freed};
        cache->bytes += size;
    }
    else
        s_shared_give (self, block, size);
    atomic_fetch_sub (&self->live, 1);
}

//  A block of at least size bytes (a class): the most recently freed of
//  its class or a few above, from this thread's cache, then from the
//  shared stacks, else a new one; NULL when out of memory
static void *
s_take_block (zi_pool_t *self, size_t size)
{
    void *block = NULL;
    s_cache_t *cache = s_cache_of (self);
    int shift = __builtin_ctzll ((unsigned long long) size) - S_MIN_SHIFT;
    if (cache && shift < S_CACHE_CLASSES) {
        s_bucket_t *chosen = NULL;
        for (int index = shift; index <= shift + S_LARGER && index < S_CACHE_CLASSES; index++) {
            s_bucket_t *larger = &cache->buckets [index];
            if (larger->count > 0 && (!chosen || larger->top_freed > chosen->top_freed))
                chosen = larger;
        }
        if (chosen) {
            block = chosen->stack [--chosen->count].block;
            chosen->top_freed = chosen->count? chosen->stack [chosen->count - 1].freed: 0;
            cache->bytes -= ((s_head_t *) block)->size;
        }
    }
    if (!block) {
        pthread_mutex_lock (&self->lock);
        //  The most recently freed buffer of this class or a few above
        s_bucket_t *bucket = s_bucket (self, size), *last = &self->buckets [S_CLASSES - 1];
        s_bucket_t *chosen = NULL;
        for (s_bucket_t *larger = bucket; larger <= bucket + S_LARGER && larger <= last;
             larger++)
            if (larger->count > 0 && (!chosen || larger->top_freed > chosen->top_freed))
                chosen = larger;
        if (chosen) {
            block = chosen->stack [--chosen->count].block;
            chosen->top_freed = chosen->count? chosen->stack [chosen->count - 1].freed: 0;
        }
        pthread_mutex_unlock (&self->lock);
    }
    if (!block) {
        block = zi_alloc (size + S_HEAD);
        if (!block) {
            zi_error ("out of memory for a %zu-byte tensor", size);
            return NULL;
        }
        ((s_head_t *) block)->size = size;
    }
    return block;
}

//  The tensor in a block's head, made here, not by zi_tensor_wrap: its
//  shape was checked. Its dims from ndim on are the caller's to set
static zi_tensor_t *
s_dress (zi_pool_t *self, void *block, zi_dtype_t dtype, int ndim, size_t nbytes)
{
    zi_tensor_t *tensor = &((s_head_t *) block)->tensor;
    tensor->dtype = dtype;
    tensor->ndim = ndim;
    tensor->data = (char *) block + S_HEAD;
    tensor->nbytes = nbytes;
    atomic_init (&tensor->refs, 1);
    tensor->shell_in_block = true;
    tensor->free_fn = s_give_back;
    tensor->hint = self;
    atomic_fetch_add (&self->live, 1);
    return tensor;
}

zi_tensor_t *
zi_pool_tensor (zi_pool_t *self, zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    int64_t count = ndim >= 0 && ndim <= ZI_MAX_DIMS? zi_shape_count (ndim, dims): -1;
    int64_t element = (int64_t) zi_dtype_size (dtype);
    if (count < 0 || element == 0 || count > S_MAX_BYTES / element) {
        zi_error ("bad tensor shape");
        return NULL;
    }
    void *block = s_take_block (self, s_class ((size_t) (count * element)));
    if (!block)
        return NULL;
    zi_tensor_t *tensor = s_dress (self, block, dtype, ndim, (size_t) (count * element));
    //  The dims past ndim cleared, as a new tensor's are, whoever last
    //  used the block
    for (int axis = 0; axis < ZI_MAX_DIMS; axis++)
        tensor->dims [axis] = axis < ndim? dims [axis]: 0;
    return tensor;
}

bool
zi_pool_fits (const zi_tensor_t *shape)
{
    if (shape->ndim < 0 || shape->ndim > ZI_MAX_DIMS)
        return false;
    for (int axis = shape->ndim; axis < ZI_MAX_DIMS; axis++)
        if (shape->dims [axis])
            return false;
    int64_t count = zi_shape_count (shape->ndim, shape->dims);
    int64_t element = (int64_t) zi_dtype_size (shape->dtype);
    return count >= 0 && element > 0 && count <= S_MAX_BYTES / element
        && shape->nbytes == (size_t) (count * element);
}

zi_tensor_t *
zi_pool_tensor_like (zi_pool_t *self, const zi_tensor_t *shape)
{
    //  (zi_pool_fits is the caller's to ask, once: asked here it would
    //  cost what this saves)
    void *block = s_take_block (self, s_class (shape->nbytes));
    if (!block)
        return NULL;
    zi_tensor_t *tensor = s_dress (self, block, shape->dtype, shape->ndim, shape->nbytes);
    memcpy (tensor->dims, shape->dims, sizeof tensor->dims);
    return tensor;
}

int
zi_pool_live (zi_pool_t *self)
{
    return atomic_load (&self->live);
}

//  For the self test: a thread that takes tensors of a pool and lets
//  them go, or hands them out
typedef struct {
    zi_pool_t *pool;
    int64_t elements;           //  floats a tensor
    int n_tensors;
    bool keep;                  //  hand them out rather than let them go
    zi_tensor_t *tensors [8];
    void *data [8];             //  their buffers
    atomic_int stage;           //  1: done with the tensors; 2: told to exit
    bool wait;                  //  wait for stage 2 before exiting
} s_tester_t;

static void *
s_tester_run (void *args)
{
    s_tester_t *tester = args;
    for (int index = 0; index < tester->n_tensors; index++) {
        tester->tensors [index] = zi_pool_tensor (tester->pool, ZI_F32, 1, &tester->elements);
        tester->data [index] = tester->tensors [index]? tester->tensors [index]->data: NULL;
    }
    if (!tester->keep)
        for (int index = 0; index < tester->n_tensors; index++)
            zi_tensor_destroy (&tester->tensors [index]);
    atomic_store (&tester->stage, 1);
    while (tester->wait && atomic_load (&tester->stage) < 2)
        sched_yield ();
    return NULL;
}

//  A thread that only lets go, as ZeroMQ's I/O thread does
static void *
s_tester_free (void *args)
{
    s_tester_t *tester = args;
    for (int index = 0; index < tester->n_tensors; index++)
        zi_tensor_destroy (&tester->tensors [index]);
    return NULL;
}

static void
s_tester_go (s_tester_t *tester, void *(*fn) (void *))
{
    pthread_t thread;
    if (pthread_create (&thread, NULL, fn, tester) == 0)
        pthread_join (thread, NULL);        //  else the checks after it fail
}

//  Buffers in the pool's shared stacks
static int
s_shared_count (zi_pool_t *self)
{
    int count = 0;
    pthread_mutex_lock (&self->lock);
    for (int index = 0; index < S_CLASSES; index++)
        count += self->buckets [index].count;
    pthread_mutex_unlock (&self->lock);
    return count;
}

static bool
s_contains (void **set, int count, void *data)
{
    for (int index = 0; index < count; index++)
        if (set [index] == data)
            return true;
    return false;
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
    void *freed = shaped->data;
    zi_tensor_destroy (&shaped);
    ZI_CHECK (t, zi_pool_live (pool) == 0, "none live after the refusals");

    //  A planned shape, checked once, then taken as it is: the same
    //  tensor as zi_pool_tensor makes, in the buffer just freed
    zi_tensor_t planned = {0};
    zi_tensor_set_shape (&planned, ZI_I64, 2, dims);
    ZI_CHECK (t, zi_pool_fits (&planned), "a planned shape fits");
    zi_tensor_t *like = zi_pool_tensor_like (pool, &planned);
    ZI_CHECK (t, like && like->data == freed && like->dtype == ZI_I64 && like->ndim == 2
              && like->dims [0] == 100 && like->dims [1] == 100 && like->dims [2] == 0
              && like->nbytes == 80000 && zi_pool_live (pool) == 1,
              "a tensor like a planned shape has its dtype and shape");
    zi_tensor_destroy (&like);
    zi_tensor_t unfit = planned;
    unfit.dims [2] = 3;
    bool refused = !zi_pool_fits (&unfit);
    unfit = planned;
    unfit.nbytes = 4;
    refused &= !zi_pool_fits (&unfit);
    unfit = planned;
    unfit.dims [1] = -1;
    refused &= !zi_pool_fits (&unfit);
    unfit = planned;
    unfit.dtype = 99;
    refused &= !zi_pool_fits (&unfit);
    ZI_CHECK (t, refused && zi_pool_live (pool) == 0,
              "shapes with dims past their rank, other bytes, a negative size or an unknown type do not fit");
    zi_pool_destroy (&pool);

    //  Thread caches. A thread's exit gives its buffers back: another
    //  thread takes them from the shared stacks
    pool = zi_pool_new ();
    s_tester_t tester = {.pool = pool, .elements = 20000, .n_tensors = 1, .keep = true};
    s_tester_go (&tester, s_tester_run);
    void *held = tester.tensors [0]->data;
    zi_tensor_destroy (&tester.tensors [0]);
    ZI_CHECK (t, zi_pool_live (pool) == 0, "a tensor freed by another thread is counted back");
    zi_tensor_t *taken = zi_pool_tensor (pool, ZI_F32, 1, &tester.elements);
    ZI_CHECK (t, taken && taken->data == held,
              "a buffer let go on another thread than its taker's is taken again");
    zi_tensor_destroy (&taken);
    zi_pool_destroy (&pool);

    pool = zi_pool_new ();
    tester = (s_tester_t) {.pool = pool, .elements = 20000, .n_tensors = 2};
    tester.keep = true;
    s_tester_go (&tester, s_tester_run);
    void *pair [2] = {tester.tensors [0]->data, tester.tensors [1]->data};
    tester.keep = false;
    //  Let go on a thread that never took any (ZeroMQ's I/O thread)
    s_tester_go (&tester, s_tester_free);
    ZI_CHECK (t, s_shared_count (pool) == 2, "a thread without a cache gives to the shared stacks");
    taken = zi_pool_tensor (pool, ZI_F32, 1, &tester.elements);
    ZI_CHECK (t, taken && s_contains (pair, 2, taken->data),
              "a buffer let go on a thread without a cache goes to the shared stacks");
    zi_tensor_destroy (&taken);
    zi_pool_destroy (&pool);

    //  A thread's buffers go back to the shared stacks when it exits
    pool = zi_pool_new ();
    tester = (s_tester_t) {.pool = pool, .elements = 20000, .n_tensors = 2, .keep = true};
    s_tester_t exiting = {.pool = pool, .elements = 20000, .n_tensors = 2};
    s_tester_go (&exiting, s_tester_run);       //  takes two, lets them go, exits
    ZI_CHECK (t, s_shared_count (pool) == 2, "an exiting thread gives its cache back");
    //  It kept them: the next taker is given the same two
    tester.keep = true;
    s_tester_go (&tester, s_tester_run);
    ZI_CHECK (t, tester.tensors [0] && tester.tensors [1]
              && tester.tensors [0]->data != tester.tensors [1]->data,
              "two buffers taken");
    void *again [2] = {tester.tensors [0]->data, tester.tensors [1]->data};
    zi_tensor_destroy (&tester.tensors [0]);
    zi_tensor_destroy (&tester.tensors [1]);
    tester.keep = true;
    s_tester_go (&tester, s_tester_run);
    ZI_CHECK (t, s_contains (again, 2, tester.tensors [0]->data)
              && s_contains (again, 2, tester.tensors [1]->data),
              "an exited thread's cached buffers are taken by the next thread");
    zi_tensor_destroy (&tester.tensors [0]);
    zi_tensor_destroy (&tester.tensors [1]);
    zi_pool_destroy (&pool);

    //  A thread cache holds at most S_CACHE_KEPT a class: the first let
    //  go of the rest go to the shared stacks while the thread lives
    pool = zi_pool_new ();
    s_tester_t hoarder = {.pool = pool, .elements = 20000, .n_tensors = S_CACHE_KEPT + 2,
                          .wait = true};
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_tester_run, &hoarder))
        abort ();       //  the test cannot go on without its thread
    while (atomic_load (&hoarder.stage) < 1)
        sched_yield ();
    ZI_CHECK (t, s_shared_count (pool) == 2, "a thread cache passes on what it cannot keep");
    zi_tensor_t *first_out = zi_pool_tensor (pool, ZI_F32, 1, &hoarder.elements);
    zi_tensor_t *second_out = zi_pool_tensor (pool, ZI_F32, 1, &hoarder.elements);
    ZI_CHECK (t, first_out && second_out && s_contains (hoarder.data, 2, first_out->data)
              && s_contains (hoarder.data, 2, second_out->data),
              "a thread cache keeps %d buffers of a class and passes on the rest",
              S_CACHE_KEPT);
    zi_tensor_destroy (&first_out);
    zi_tensor_destroy (&second_out);
    atomic_store (&hoarder.stage, 2);
    pthread_join (thread, NULL);
    zi_pool_destroy (&pool);

    //  Destroying a pool frees what live threads' caches hold of it (the
    //  leak check finds any left), and the thread can cache another
    pool = zi_pool_new ();
    s_tester_t alive = {.pool = pool, .elements = 20000, .n_tensors = 3, .wait = true};
    if (pthread_create (&thread, NULL, s_tester_run, &alive))
        abort ();       //  the test cannot go on without its thread
    while (atomic_load (&alive.stage) < 1)
        sched_yield ();
    ZI_CHECK (t, zi_pool_live (pool) == 0, "a live thread's tensors let go");
    zi_pool_destroy (&pool);
    atomic_store (&alive.stage, 2);
    pthread_join (thread, NULL);
}
