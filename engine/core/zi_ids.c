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
