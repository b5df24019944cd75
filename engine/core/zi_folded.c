/*  =========================================================================
    zi_folded - constants that passes make from a model's constants, once

    Passes fold constants into new ones: a BatchNormalization's scale and
    shift into the Conv before it, 8-bit weights turned for QLinearMatMul;
    and planning runs each node whose inputs are all constant (a Cast of
    float16 weights). Each node is folded on its own, and planning runs
    once per copy of the model (each thread's plan, each new input shape),
    so a Keras block called four times, planned on two threads, would fold
    its weights eight times; and since zi_packed knows a weight by its
    address, each copy would also be packed again. Here a pass asks first
    whether the same recipe was already applied to the same sources, and
    takes that constant if so.

    A table belongs to an imported graph and is shared by reference with
    every zi_graph_dup of it, so it lives as long as the model or one of
    its plans, and never mixes two models. It holds a reference to each
    constant and to its sources: a source cannot be freed, and its address
    taken by another tensor, while a key names it. A constant only the
    table still holds is let go when the next is kept (s_drop_unused), so
    the table holds what live plans use, not every input size seen. One
    mutex guards it; a pass folds outside the lock, and if two threads
    fold the same key at once, the second to keep its result gets the
    first's instead.
    =========================================================================
*/

#include "zi_classes.h"
#include <pthread.h>

typedef struct s_entry_t s_entry_t;
struct s_entry_t {
    zi_folded_key_t key;        //  what it was made from; sources referenced
    zi_tensor_t *tensor;        //  the folded constant (one reference)
    s_entry_t *next;            //  next in the table
};

struct zi_folded_t {
    atomic_int refs;            //  the graph and its copies
    pthread_mutex_t lock;       //  guards entries and size
    s_entry_t *entries;         //  every constant kept
    size_t size;                //  how many
};

zi_folded_t *
zi_folded_new (void)
{
    zi_folded_t *self = calloc (1, sizeof (zi_folded_t));
    assert (self);
    atomic_init (&self->refs, 1);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

zi_folded_t *
zi_folded_ref (zi_folded_t *self)
{
    assert (self);
    atomic_fetch_add (&self->refs, 1);
    return self;
}

//  Lets go of an unlinked entry's constant and sources
static void
s_entry_free (s_entry_t *entry)
{
    for (int slot = 0; slot < ZI_FOLDED_SOURCES; slot++) {
        zi_tensor_t *source = (zi_tensor_t *) entry->key.sources [slot];
        zi_tensor_destroy (&source);
    }
    zi_tensor_destroy (&entry->tensor);
    free ((char *) entry->key.recipe);
    free (entry);
}

//  Drops the constants no plan holds any more, only the table; under the
//  lock. A constant made from the input's shape (ConstantOfShape of Shape)
//  is kept anew for each input size, and a server re-planning for size
//  after size would otherwise keep one for every size it ever saw. A
//  constant held by the table alone can only be reached through it, so
//  it cannot be taken while this runs; one dropped is folded again if a
//  later plan needs it, as its packed form would be packed again anyway.
static void
s_drop_unused (zi_folded_t *self)
{
    s_entry_t **link = &self->entries;
    while (*link) {
        s_entry_t *entry = *link;
        if (atomic_load (&entry->tensor->refs) == 1) {
            *link = entry->next;
            self->size--;
            s_entry_free (entry);
        }
        else
            link = &entry->next;
    }
}

void
zi_folded_destroy (zi_folded_t **self_p)
{
    assert (self_p);
    zi_folded_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (atomic_fetch_sub (&self->refs, 1) > 1)
        return;
    while (self->entries) {
        s_entry_t *entry = self->entries;
        self->entries = entry->next;
        s_entry_free (entry);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
}

//  The same tensor, or a small one of the same type, shape and contents
static bool
s_same_source (const zi_tensor_t *one, const zi_tensor_t *other)
{
    if (one == other)
        return true;
    if (!one || !other || !one->data || !other->data || !zi_tensor_same_shape (one, other)
    ||  one->nbytes != other->nbytes || one->nbytes > ZI_FOLDED_COMPARED_BYTES)
        return false;
    return memcmp (one->data, other->data, one->nbytes) == 0;
}

static bool
s_same_key (const zi_folded_key_t *one, const zi_folded_key_t *other)
{
    if (strcmp (one->recipe, other->recipe) != 0
    ||  memcmp (one->params, other->params, sizeof one->params) != 0)
        return false;
    for (int slot = 0; slot < ZI_FOLDED_SOURCES; slot++)
        if (!s_same_source (one->sources [slot], other->sources [slot]))
            return false;
    return true;
}

//  The entry for an equal key; under the lock
static s_entry_t *
s_lookup (zi_folded_t *self, const zi_folded_key_t *key)
{
    for (s_entry_t *entry = self->entries; entry; entry = entry->next)
        if (s_same_key (&entry->key, key))
            return entry;
    return NULL;
}

zi_tensor_t *
zi_folded_find (zi_folded_t *self, const zi_folded_key_t *key)
{
    assert (self && key && key->recipe);
    pthread_mutex_lock (&self->lock);
    s_entry_t *entry = s_lookup (self, key);
    zi_tensor_t *tensor = entry? zi_tensor_ref (entry->tensor): NULL;
    pthread_mutex_unlock (&self->lock);
    return tensor;
}

zi_tensor_t *
zi_folded_keep (zi_folded_t *self, const zi_folded_key_t *key, zi_tensor_t **tensor_p)
{
    assert (self && key && key->recipe && tensor_p && *tensor_p);
    pthread_mutex_lock (&self->lock);
    s_entry_t *entry = s_lookup (self, key);
    if (entry)
        zi_tensor_destroy (tensor_p);
    else {
        s_drop_unused (self);
        entry = calloc (1, sizeof (s_entry_t));
        assert (entry);
        entry->key = *key;
        entry->key.recipe = strdup (key->recipe);
        assert (entry->key.recipe);
        for (int slot = 0; slot < ZI_FOLDED_SOURCES; slot++)
            if (key->sources [slot])
                entry->key.sources [slot] = zi_tensor_ref ((zi_tensor_t *) key->sources [slot]);
        entry->tensor = *tensor_p;
        *tensor_p = NULL;
        entry->next = self->entries;
        self->entries = entry;
        self->size++;
    }
    zi_tensor_t *tensor = zi_tensor_ref (entry->tensor);
    pthread_mutex_unlock (&self->lock);
    return tensor;
}

size_t
zi_folded_size (zi_folded_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t size = self->size;
    pthread_mutex_unlock (&self->lock);
    return size;
}


//  --------------------------------------------------------------------------
//  Self test

//  A thread that folds a key the others fold at once, as threads planning
//  a new batch size do
typedef struct {
    zi_folded_t *folded;        //  the table they share
    const zi_folded_key_t *key; //  what each folds
    pthread_barrier_t *start;   //  they begin together
    zi_tensor_t *got;           //  the constant this thread ended with
} s_folder_t;

static void *
s_folder (void *arg)
{
    s_folder_t *self = arg;
    pthread_barrier_wait (self->start);
    self->got = zi_folded_find (self->folded, self->key);
    if (!self->got) {
        zi_tensor_t *made = zi_test_random (1, (int64_t []) {64}, 11);
        self->got = zi_folded_keep (self->folded, self->key, &made);
    }
    return NULL;
}

void
zi_folded_test (zi_test_t *t)
{
    zi_folded_t *folded = zi_folded_new ();
    zi_tensor_t *weight = zi_test_random (2, (int64_t []) {4, 3}, 1);
    zi_tensor_t *scale = zi_test_random (1, (int64_t []) {4}, 2);
    zi_tensor_t *twin = zi_test_random (1, (int64_t []) {4}, 2);
    zi_tensor_t *other = zi_test_random (1, (int64_t []) {4}, 3);
    zi_folded_key_t key = {.recipe = "test", .sources = {weight, scale}, .params = {1e-3}};
    ZI_CHECK (t, zi_folded_find (folded, &key) == NULL, "an empty table finds nothing");

    zi_tensor_t *made = zi_test_random (2, (int64_t []) {4, 3}, 9);
    zi_tensor_t *expect = made;
    zi_tensor_t *kept = zi_folded_keep (folded, &key, &made);
    ZI_CHECK (t, kept == expect && made == NULL, "keep takes the tensor and returns it");
    ZI_CHECK (t, atomic_load (&kept->refs) == 2, "the table and the caller hold it: %d",
              atomic_load (&kept->refs));
    ZI_CHECK (t, atomic_load (&weight->refs) == 2, "the table holds its sources: %d",
              atomic_load (&weight->refs));

    //  Equal keys: the same sources, or a source of equal contents
    zi_folded_key_t same = key;
    same.sources [1] = twin;
    zi_tensor_t *found = zi_folded_find (folded, &same);
    ZI_CHECK (t, found == kept, "a source of equal contents finds the constant");
    zi_tensor_destroy (&found);

    //  Any difference is another key
    zi_folded_key_t others [4] = {key, key, key, key};
    others [0].recipe = "another";
    others [1].params [0] = 1e-5;
    others [2].sources [1] = other;
    others [3].sources [2] = scale;
    for (int index = 0; index < 4; index++) {
        found = zi_folded_find (folded, &others [index]);
        ZI_CHECK (t, found == NULL, "key difference %d: not found", index);
        zi_tensor_destroy (&found);
    }

    //  A large source is known by identity alone: a weight of equal
    //  contents in another layer is another key
    int64_t large_dims [1] = {ZI_FOLDED_COMPARED_BYTES / sizeof (float) + 1};
    zi_tensor_t *large = zi_test_random (1, large_dims, 4);
    zi_tensor_t *large_twin = zi_test_random (1, large_dims, 4);
    zi_folded_key_t by_large = {.recipe = "test", .sources = {large}};
    zi_tensor_t *made_large = zi_test_random (1, (int64_t []) {2}, 5);
    zi_tensor_t *kept_large = zi_folded_keep (folded, &by_large, &made_large);
    found = zi_folded_find (folded, &by_large);
    ZI_CHECK (t, found == kept_large, "a large source finds its own constant");
    zi_tensor_destroy (&found);
    by_large.sources [0] = large_twin;
    found = zi_folded_find (folded, &by_large);
    ZI_CHECK (t, found == NULL, "a large source of equal contents is another key");
    zi_tensor_destroy (&found);
    zi_tensor_destroy (&kept_large);
    zi_tensor_destroy (&large_twin);

    //  A second keep of an equal key gets the first constant; its own is dropped
    zi_tensor_t *late = zi_test_random (2, (int64_t []) {4, 3}, 9);
    zi_tensor_t *second = zi_folded_keep (folded, &same, &late);
    ZI_CHECK (t, second == kept && late == NULL && zi_folded_size (folded) == 2,
              "a late keep gets the first constant");
    zi_tensor_destroy (&second);

    //  Threads folding one key at once all end with one constant
    enum { S_FOLDERS = 8 };
    zi_folded_key_t raced = {.recipe = "raced", .sources = {weight}};
    pthread_barrier_t start;
    pthread_barrier_init (&start, NULL, S_FOLDERS);
    pthread_t threads [S_FOLDERS];
    s_folder_t folders [S_FOLDERS];
    for (int index = 0; index < S_FOLDERS; index++) {
        folders [index] = (s_folder_t) {.folded = folded, .key = &raced, .start = &start};
        if (pthread_create (&threads [index], NULL, s_folder, &folders [index]))
            abort ();       //  the test cannot go on without its thread
    }
    for (int index = 0; index < S_FOLDERS; index++)
        pthread_join (threads [index], NULL);
    pthread_barrier_destroy (&start);
    int agree = 0;
    for (int index = 0; index < S_FOLDERS; index++)
        agree += folders [index].got && folders [index].got == folders [0].got;
    //  and the large key's constant, which nothing held but the table, was
    //  let go when theirs was kept
    ZI_CHECK (t, agree == S_FOLDERS && zi_folded_size (folded) == 2,
              "%d threads folding one key at once end with one constant: %d do, %zu kept",
              S_FOLDERS, agree, zi_folded_size (folded));
    by_large.sources [0] = large;
    found = zi_folded_find (folded, &by_large);
    ZI_CHECK (t, found == NULL, "a constant only the table held is dropped at the next keep");
    zi_tensor_destroy (&found);
    zi_tensor_destroy (&large);
    for (int index = 0; index < S_FOLDERS; index++)
        zi_tensor_destroy (&folders [index].got);

    //  Copies share the table; the last reference frees what it holds
    zi_folded_t *copy = zi_folded_ref (folded);
    zi_folded_destroy (&folded);
    ZI_CHECK (t, folded == NULL && zi_folded_size (copy) == 2, "a copy keeps the table");
    zi_folded_destroy (&copy);
    ZI_CHECK (t, atomic_load (&kept->refs) == 1 && atomic_load (&weight->refs) == 1,
              "the last reference lets go of constants and sources: %d, %d",
              atomic_load (&kept->refs), atomic_load (&weight->refs));
    zi_tensor_destroy (&kept);
    zi_tensor_destroy (&weight);
    zi_tensor_destroy (&scale);
    zi_tensor_destroy (&twin);
    zi_tensor_destroy (&other);
}
