/*  =========================================================================
    zi_packed - packed forms of constant weights, one per weight and packing

    Kernels that multiply by a constant weight pack it once, at prepare,
    into the layout their inner loops read (zi_mm_pack, the Winograd
    transform). A weight the model uses in several nodes (a Keras layer
    called four times, an ONNX initializer read by two Convs) would be
    packed once per node, and the copies are as large as the weight. So
    the forms live here, process-wide, keyed by the constant tensor and the
    packing's parameters, and counted: nodes that would make the same form
    share one, and the last to let go frees it.

    The key names the tensor by its address, and a form holds a reference
    to it: the tensor cannot be freed, and its address handed to another
    weight, while a form made from it is alive. Plans of other shapes and
    other threads' plans share the model's constants (zi_graph_dup takes
    references), so they find the forms the first plan made; constants
    the passes fold (a BatchNormalization into a Conv) come from the
    model's table of folded constants (zi_folded), one tensor for every
    call and plan that folds the same ones, and so share a form too.

    One mutex guards the table; a form is filled outside it, so threads
    preparing different weights pack at once, and a thread that asks for
    a form another is filling waits on the condition until it is ready.
    Each process (a worker of a split topology) has its own table and packs
    what its own nodes use.
    =========================================================================
*/

#include "zi_classes.h"
#include <pthread.h>
#include <time.h>

typedef struct s_form_t s_form_t;
struct s_form_t {
    zi_packed_key_t key;        //  what it was made from; key.source is referenced
    float *data;                //  the packed form, once filled
    int refs;                   //  nodes holding it, and threads waiting for it
    bool ready;                 //  filled: readers may use data
    bool failed;                //  its fill found no memory: waiters give up
    s_form_t *next;             //  next in the table
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_filled = PTHREAD_COND_INITIALIZER;
static s_form_t *s_forms = NULL;        //  every form alive or being filled
static zi_packed_stats_t s_stats;       //  guarded by s_lock

static bool
s_same_key (const zi_packed_key_t *one, const zi_packed_key_t *other)
{
    return one->source == other->source && one->kind == other->kind
        && one->floats == other->floats && one->scale == other->scale
        && memcmp (one->params, other->params, sizeof one->params) == 0;
}

//  Unlinks a form from the table; under the lock
static void
s_unlink (s_form_t *form)
{
    for (s_form_t **link = &s_forms; *link; link = &(*link)->next)
        if (*link == form) {
            *link = form->next;
            return;
        }
}

//  Frees an unlinked form and drops its reference to the source
static void
s_form_free (s_form_t *form)
{
    zi_tensor_t *source = (zi_tensor_t *) form->key.source;
    zi_tensor_destroy (&source);
    zi_free (form->data);
    free (form);
}

const float *
zi_packed_get (const zi_packed_key_t *key, zi_packed_fill_fn *fill, const void *arg)
{
    assert (key && key->source && key->source->data && fill);
    pthread_mutex_lock (&s_lock);
    s_form_t *form = s_forms;
    while (form && !(s_same_key (&form->key, key) && !form->failed))
        form = form->next;
    if (form) {
        form->refs++;
        while (!form->ready && !form->failed)
            pthread_cond_wait (&s_filled, &s_lock);
        if (form->ready) {
            s_stats.references++;
            pthread_mutex_unlock (&s_lock);
            return form->data;
        }
        //  Its filler found no memory and unlinked it; the last waiter frees it
        bool last = --form->refs == 0;
        pthread_mutex_unlock (&s_lock);
        if (last)
            s_form_free (form);
        zi_error ("out of memory for packed weights (%zu bytes)", key->floats * sizeof (float));
        return NULL;
    }
    //  A new form, in the table before it is filled, so that others who
    //  ask for it meanwhile wait for this one
    form = calloc (1, sizeof (s_form_t));
    assert (form);
    form->key = *key;
    form->key.source = zi_tensor_ref ((zi_tensor_t *) key->source);
    form->refs = 1;
    form->next = s_forms;
    s_forms = form;
    pthread_mutex_unlock (&s_lock);

    float *data = zi_alloc (key->floats? key->floats * sizeof (float): sizeof (float));
    if (data)
        fill (data, &form->key, arg);

    pthread_mutex_lock (&s_lock);
    bool last = false;
    if (data) {
        form->data = data;
        form->ready = true;
        s_stats.forms++;
        s_stats.bytes += key->floats * sizeof (float);
        s_stats.references++;
        s_stats.fills++;
    }
    else {
        form->failed = true;
        s_unlink (form);
        last = --form->refs == 0;
    }
    pthread_cond_broadcast (&s_filled);
    pthread_mutex_unlock (&s_lock);
    if (data)
        return data;
    if (last)
        s_form_free (form);
    zi_error ("out of memory for packed weights (%zu bytes)", key->floats * sizeof (float));
    return NULL;
}

void
zi_packed_release (const float **packed_p)
{
    assert (packed_p);
    const float *packed = *packed_p;
    if (!packed)
        return;
    *packed_p = NULL;
    pthread_mutex_lock (&s_lock);
    s_form_t *form = s_forms;
    while (form && form->data != packed)
        form = form->next;
    assert (form && form->ready);      //  a pointer zi_packed_get did not give: our bug
    s_stats.references--;
    bool last = --form->refs == 0;
    if (last) {
        s_unlink (form);
        s_stats.forms--;
        s_stats.bytes -= form->key.floats * sizeof (float);
    }
    pthread_mutex_unlock (&s_lock);
    if (last)
        s_form_free (form);
}

zi_packed_stats_t
zi_packed_stats (void)
{
    pthread_mutex_lock (&s_lock);
    zi_packed_stats_t stats = s_stats;
    pthread_mutex_unlock (&s_lock);
    return stats;
}


//  --------------------------------------------------------------------------
//  Self test

//  A fill the test can watch: each element the source's times the scale
//  plus params [0], slowly enough that racing threads overlap it
static atomic_int s_test_fills;

static void
s_test_fill (float *packed, const zi_packed_key_t *key, const void *arg)
{
    atomic_fetch_add (&s_test_fills, 1);
    if (arg)
        nanosleep (&(struct timespec) {0, *(const int *) arg * 1000000L}, NULL);
    const float *source = key->source->data;
    size_t count = key->source->nbytes / sizeof (float);
    for (size_t item = 0; item < key->floats; item++)
        packed [item] = source [item % count] * key->scale + (float) key->params [0];
}

//  Every element of a form as s_test_fill makes it
static bool
s_test_form_right (const float *packed, const zi_packed_key_t *key)
{
    const float *source = key->source->data;
    size_t count = key->source->nbytes / sizeof (float);
    for (size_t item = 0; item < key->floats; item++)
        if (packed [item] != source [item % count] * key->scale + (float) key->params [0])
            return false;
    return true;
}

typedef struct {
    const zi_packed_key_t *key; //  what every thread asks for
    pthread_barrier_t *start;   //  they begin together
    const float *got;           //  what this thread got
    bool right;                 //  and whether it was filled when it came
} s_racer_t;

static void *
s_racer (void *arg)
{
    s_racer_t *self = arg;
    pthread_barrier_wait (self->start);
    static const int slow_ms = 30;
    self->got = zi_packed_get (self->key, s_test_fill, &slow_ms);
    self->right = self->got && s_test_form_right (self->got, self->key);
    return NULL;
}

void
zi_packed_test (zi_test_t *t)
{
    zi_packed_stats_t before = zi_packed_stats ();
    zi_tensor_t *weight = zi_test_random (2, (int64_t []) {8, 16}, 7);
    zi_tensor_t *twin = zi_test_random (2, (int64_t []) {8, 16}, 7);
    ZI_CHECK (t, memcmp (weight->data, twin->data, weight->nbytes) == 0,
              "two tensors of the same contents");
    zi_packed_key_t key = {.source = weight, .kind = ZI_PACKED_MM, .params = {8, 16},
                           .scale = 1, .floats = 200};
    atomic_store (&s_test_fills, 0);

    //  Equal keys share one form, filled once
    const float *first = zi_packed_get (&key, s_test_fill, NULL);
    const float *second = zi_packed_get (&key, s_test_fill, NULL);
    ZI_CHECK (t, first && first == second, "an equal key gets the same form");
    ZI_CHECK (t, atomic_load (&s_test_fills) == 1, "filled once, not %d times",
              atomic_load (&s_test_fills));
    ZI_CHECK (t, first && s_test_form_right (first, &key), "the form holds the fill");
    zi_packed_stats_t now = zi_packed_stats ();
    ZI_CHECK (t, now.forms - before.forms == 1 && now.bytes - before.bytes == 800
                 && now.references - before.references == 2,
              "one form of 800 bytes, two references: %zu, %zu, %zu",
              now.forms - before.forms, now.bytes - before.bytes,
              now.references - before.references);

    //  Any difference in the key is another form: parameters, scale, kind,
    //  size, and another tensor even of the same contents
    zi_packed_key_t others [5] = {key, key, key, key, key};
    others [0].params [1] = 17;
    others [1].scale = 0.5f;
    others [2].kind = ZI_PACKED_WINOGRAD;
    others [3].floats = 100;
    others [4].source = twin;
    const float *other [5];
    for (int index = 0; index < 5; index++) {
        other [index] = zi_packed_get (&others [index], s_test_fill, NULL);
        ZI_CHECK (t, other [index] && other [index] != first
                     && s_test_form_right (other [index], &others [index]),
                  "key difference %d: a form of its own", index);
    }
    ZI_CHECK (t, atomic_load (&s_test_fills) == 6, "six forms filled, not %d",
              atomic_load (&s_test_fills));
    for (int index = 0; index < 5; index++)
        zi_packed_release (&other [index]);
    ZI_CHECK (t, other [0] == NULL, "release clears the caller's pointer");

    //  A form keeps its source alive: the caller may drop the tensor, and
    //  the address cannot come back as another weight meanwhile
    int refs_held = atomic_load (&weight->refs);
    ZI_CHECK (t, refs_held == 2, "the form holds the source: %d references", refs_held);
    zi_tensor_t *caller = weight;
    zi_tensor_destroy (&caller);
    ZI_CHECK (t, s_test_form_right (first, &key), "the source outlives the caller's reference");
    zi_packed_release (&first);
    ZI_CHECK (t, zi_packed_stats ().forms - before.forms == 1, "one reference left, one form");
    zi_packed_release (&second);
    now = zi_packed_stats ();
    ZI_CHECK (t, now.forms == before.forms && now.bytes == before.bytes
                 && now.references == before.references,
              "the last release frees the form: %zu forms, %zu bytes",
              now.forms - before.forms, now.bytes - before.bytes);

    //  Threads asking at once for a form that takes a while to fill: one
    //  fills, the others wait for it and read it filled
    enum { S_RACERS = 8 };
    zi_tensor_t *shared = zi_test_random (1, (int64_t []) {64}, 3);
    zi_packed_key_t race = {.source = shared, .kind = ZI_PACKED_MM, .params = {4},
                            .scale = 2, .floats = 4096};
    pthread_barrier_t start;
    pthread_barrier_init (&start, NULL, S_RACERS);
    pthread_t threads [S_RACERS];
    s_racer_t racers [S_RACERS];
    atomic_store (&s_test_fills, 0);
    for (int index = 0; index < S_RACERS; index++) {
        racers [index] = (s_racer_t) {.key = &race, .start = &start};
        if (pthread_create (&threads [index], NULL, s_racer, &racers [index]))
            abort ();       //  the test cannot go on without its thread
    }
    for (int index = 0; index < S_RACERS; index++)
        pthread_join (threads [index], NULL);
    pthread_barrier_destroy (&start);
    int same = 0, right = 0;
    for (int index = 0; index < S_RACERS; index++) {
        same += racers [index].got == racers [0].got;
        right += racers [index].right;
    }
    ZI_CHECK (t, atomic_load (&s_test_fills) == 1 && same == S_RACERS && right == S_RACERS,
              "%d racing threads: %d fills, %d got the same form, %d found it filled",
              S_RACERS, atomic_load (&s_test_fills), same, right);
    for (int index = 0; index < S_RACERS; index++)
        zi_packed_release (&racers [index].got);

    now = zi_packed_stats ();
    ZI_CHECK (t, now.forms == before.forms && now.references == before.references,
              "nothing held at the end");
    zi_tensor_destroy (&shared);
    zi_tensor_destroy (&twin);
}
