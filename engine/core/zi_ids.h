/*  =========================================================================
    zi_ids.h - hash tables keyed by request id

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_IDS_H_INCLUDED
#define ZI_IDS_H_INCLUDED

#include "zinfer.h"

//  A zhashx keyed by request id (zi_ids.c): keys are the ids themselves,
//  cast to pointers (never 0); destructor frees items
void *
    zi_id_table_new (void (*destructor) (void **item_p));

#endif
