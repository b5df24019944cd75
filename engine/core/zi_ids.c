/*  =========================================================================
    zi_ids - hash tables keyed by request id

    Joins, the gateway's requests in flight and the client's pending
    requests are all looked up by a 64-bit request id. A CZMQ zhashx keyed
    by the id itself (stored in the key pointer, never 0) avoids turning
    every id into a string.
    =========================================================================
*/

#include "zi_classes.h"
#include <czmq.h>

static size_t
s_id_hash (const void *key)
{
    //  The ids are sequential: mix them so buckets fill evenly
    uint64_t id = (uintptr_t) key;
    id ^= id >> 33;
    id *= UINT64_C (0xff51afd7ed558ccd);
    id ^= id >> 33;
    return (size_t) id;
}

static int
s_id_compare (const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) a, y = (uintptr_t) b;
    return x < y? -1: x > y;
}

void *
zi_id_table_new (void (*destructor) (void **item_p))
{
    zhashx_t *table = zhashx_new ();
    assert (table);
    zhashx_set_key_hasher (table, s_id_hash);
    zhashx_set_key_comparator (table, s_id_compare);
    zhashx_set_key_duplicator (table, NULL);
    zhashx_set_key_destructor (table, NULL);
    zhashx_set_destructor (table, destructor);
    return table;
}

//  --------------------------------------------------------------------------
//  The open-addressed map. Linear probing from the id's mixed hash; an
//  entry taken out pulls later entries of its run back into the hole
//  (no tombstones, so lookups never slow down with churn). At most half
//  full, so runs stay short.

#define S_MAP_FIRST     8           //  slots to start with: a power of two

typedef struct {
    uint64_t id;                    //  request id
    void *item;                     //  NULL: the slot is free
} s_slot_t;

struct zi_id_map_t {
    s_slot_t *slots;                //  capacity slots
    size_t capacity;                //  a power of two
    size_t size;                    //  slots in use
};

static inline size_t
s_home (const zi_id_map_t *self, uint64_t id)
{
    //  Fibonacci hashing: the top bits of the product, so sequential ids
    //  spread over the slots
    return (size_t) ((id * UINT64_C (0x9e3779b97f4a7c15)) >> 32) & (self->capacity - 1);
}

zi_id_map_t *
zi_id_map_new (void)
{
    zi_id_map_t *self = malloc (sizeof (zi_id_map_t));
    assert (self);
    self->capacity = S_MAP_FIRST;
    self->slots = calloc (self->capacity, sizeof (s_slot_t));
    assert (self->slots);
    self->size = 0;
    return self;
}

void
zi_id_map_destroy (zi_id_map_t **self_p)
{
    assert (self_p);
    zi_id_map_t *self = *self_p;
    if (!self)
        return;
    free (self->slots);
    free (self);
    *self_p = NULL;
}

void *
zi_id_map_lookup (zi_id_map_t *self, uint64_t id)
{
    size_t mask = self->capacity - 1;
    for (size_t at = s_home (self, id); self->slots [at].item; at = (at + 1) & mask)
        if (self->slots [at].id == id)
            return self->slots [at].item;
    return NULL;
}

static void
s_place (zi_id_map_t *self, uint64_t id, void *item)
{
    size_t mask = self->capacity - 1;
    size_t at = s_home (self, id);
    while (self->slots [at].item) {
        assert (self->slots [at].id != id);
        at = (at + 1) & mask;
    }
    self->slots [at].id = id;
    self->slots [at].item = item;
}

void
zi_id_map_insert (zi_id_map_t *self, uint64_t id, void *item)
{
    assert (item);
    if (2 * (self->size + 1) > self->capacity) {
        s_slot_t *old = self->slots;
        size_t old_capacity = self->capacity;
        self->capacity *= 2;
        self->slots = calloc (self->capacity, sizeof (s_slot_t));
        assert (self->slots);
        for (size_t at = 0; at < old_capacity; at++)
            if (old [at].item)
                s_place (self, old [at].id, old [at].item);
        free (old);
    }
    s_place (self, id, item);
    self->size++;
}

void *
zi_id_map_take (zi_id_map_t *self, uint64_t id)
{
    size_t mask = self->capacity - 1;
    size_t hole = s_home (self, id);
    while (self->slots [hole].item && self->slots [hole].id != id)
        hole = (hole + 1) & mask;
    void *item = self->slots [hole].item;
    if (!item)
        return NULL;
    //  Later entries of the run whose home is not between the hole and
    //  them (cyclically) would be cut off from it: each moves into the hole
    for (size_t at = (hole + 1) & mask; self->slots [at].item; at = (at + 1) & mask) {
        size_t home = s_home (self, self->slots [at].id);
        if (((at - home) & mask) >= ((at - hole) & mask)) {
            self->slots [hole] = self->slots [at];
            hole = at;
        }
    }
    self->slots [hole].item = NULL;
    self->size--;
    return item;
}

size_t
zi_id_map_size (zi_id_map_t *self)
{
    return self->size;
}

size_t
zi_id_map_purge (zi_id_map_t *self, bool (*stale) (void *item, void *arg), void *arg,
                 void (*destructor) (void **item_p))
{
    //  A take pulls later entries of the run back, into the slot just
    //  looked at among others, so that slot is looked at again. Entries
    //  only move back along their run: one that moves past the end into
    //  the first slots came from there and was looked at already
    size_t taken = 0;
    for (size_t at = 0; at < self->capacity; )
        if (self->slots [at].item && stale (self->slots [at].item, arg)) {
            void *item = zi_id_map_take (self, self->slots [at].id);
            if (destructor)
                destructor (&item);
            taken++;
        }
        else
            at++;
    return taken;
}

//  --------------------------------------------------------------------------
//  Self test

static bool
s_is_odd (void *item, void *arg)
{
    (void) arg;
    return (uintptr_t) item & 2;
}

void
zi_ids_test (zi_test_t *t)
{
    //  Against a plain array of what should be in the map, through inserts,
    //  lookups and takes of ids sequential and scattered, from a handful in
    //  flight to thousands (so the table grows), then a purge
    enum { S_IDS = 5000 };
    void **expect = calloc (S_IDS, sizeof (void *));    //  index -> item or NULL
    assert (expect);
    zi_id_map_t *map = zi_id_map_new ();
    uint32_t state = 99;
    int wrong = 0;
    size_t count = 0;
    for (int round = 0; round < 200000; round++) {
        state = state * 1664525 + 1013904223;
        //  Windows of in flight ids that widen over the rounds
        int window = round < 50000? 4: round < 100000? 64: S_IDS;
        int index = (int) ((state >> 8) % (uint32_t) window);
        uint64_t id = index % 3? (uint64_t) index + 1: (uint64_t) index * UINT64_C (0x100000001b3);
        int action = (state >> 4) & 3;
        if (action == 0 || action == 1) {
            if (!expect [index]) {
                expect [index] = (void *) (uintptr_t) (4 * round + 4 + (state & 2));
                zi_id_map_insert (map, id, expect [index]);
                count++;
            }
        }
        else
        if (action == 2) {
            wrong += zi_id_map_take (map, id) != expect [index];
            if (expect [index])
                count--;
            expect [index] = NULL;
        }
        wrong += zi_id_map_lookup (map, id) != expect [index];
        wrong += zi_id_map_size (map) != count;
    }
    ZI_CHECK (t, wrong == 0 && count > 1000, "200000 inserts, takes and lookups agree with an "
              "array (%d wrong, %zu in the map at the end)", wrong, count);
    size_t odd = 0;
    for (int index = 0; index < S_IDS; index++)
        odd += expect [index] && s_is_odd (expect [index], NULL);
    ZI_CHECK (t, zi_id_map_purge (map, s_is_odd, NULL, NULL) == odd
              && zi_id_map_size (map) == count - odd, "a purge takes the %zu it should", odd);
    wrong = 0;
    for (int index = 0; index < S_IDS; index++) {
        uint64_t id = index % 3? (uint64_t) index + 1: (uint64_t) index * UINT64_C (0x100000001b3);
        void *want = expect [index] && !s_is_odd (expect [index], NULL)? expect [index]: NULL;
        wrong += zi_id_map_lookup (map, id) != want;
    }
    ZI_CHECK (t, wrong == 0, "... and leaves the rest (%d wrong)", wrong);
    ZI_CHECK (t, zi_id_map_lookup (map, UINT64_MAX) == NULL
              && zi_id_map_take (map, UINT64_MAX) == NULL, "an id never put there");

    //  A join's life with two in flight: insert, lookup, take. Verbose,
    //  against the zhashx the actors used before; run under callgrind it
    //  gives the instructions of each (docs/performance.md)
    if (t->verbose) {
        zi_id_map_t *small = zi_id_map_new ();
        zhashx_t *table = zi_id_table_new (NULL);
        int64_t started = zi_clock_usecs ();
        uintptr_t sink = 0;
        for (uint64_t id = 1; id <= 1000000; id++) {
            zi_id_map_insert (small, id, (void *) (uintptr_t) id);
            sink += (uintptr_t) zi_id_map_lookup (small, id - 1 + (id == 1));
            sink += (uintptr_t) zi_id_map_take (small, id - 1 + (id == 1)) ;
        }
        int64_t middle = zi_clock_usecs ();
        for (uint64_t id = 1; id <= 1000000; id++) {
            zhashx_insert (table, (void *) (uintptr_t) id, (void *) (uintptr_t) id);
            sink += (uintptr_t) zhashx_lookup (table, (void *) (uintptr_t) (id - 1 + (id == 1)));
            zhashx_delete (table, (void *) (uintptr_t) (id - 1 + (id == 1)));
        }
        int64_t ended = zi_clock_usecs ();
        printf ("    a join's insert, lookup and take: %.1f ns in the map, %.1f ns in a zhashx "
                "(%llx)\n", (middle - started) / 1e3, (ended - middle) / 1e3,
                (unsigned long long) sink);
        zhashx_destroy (&table);
        zi_id_map_destroy (&small);
    }
    zi_id_map_destroy (&map);
    free (expect);
}
