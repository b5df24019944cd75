/*  =========================================================================
    zi_ids.h - hash tables keyed by request id

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_IDS_H_INCLUDED
#define ZI_IDS_H_INCLUDED

#include "zinfer.h"
#include "zi_test.h"

//  A zhashx keyed by request id (zi_ids.c): keys are the ids themselves,
//  cast to pointers (never 0); destructor frees items
void *
    zi_id_table_new (void (*destructor) (void **item_p));

//  An open-addressed table from request id to item, for an actor's joins:
//  a handful in flight is the common case, where a lookup is a multiply,
//  a shift and a compare or two, with no allocation per entry. It grows
//  as more are in flight. Items are never NULL; the table does not own
//  them.
typedef struct zi_id_map_t zi_id_map_t;

zi_id_map_t *
    zi_id_map_new (void);

void
    zi_id_map_destroy (zi_id_map_t **self_p);

//  The item under id, or NULL
void *
    zi_id_map_lookup (zi_id_map_t *self, uint64_t id);

//  Puts item under id, which must not be there yet
void
    zi_id_map_insert (zi_id_map_t *self, uint64_t id, void *item);

//  Takes id's item out and returns it (NULL if id is not there)
void *
    zi_id_map_take (zi_id_map_t *self, uint64_t id);

//  Entries in the table
size_t
    zi_id_map_size (zi_id_map_t *self);

//  Takes out every item that stale (item, arg) says is, hands each to
//  destructor (if not NULL) and returns how many went
size_t
    zi_id_map_purge (zi_id_map_t *self, bool (*stale) (void *item, void *arg), void *arg,
                     void (*destructor) (void **item_p));

void
    zi_ids_test (zi_test_t *t);

#endif
