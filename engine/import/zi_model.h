/*  =========================================================================
    zi_model.h - a loaded model: its source and imported graph

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_MODEL_H_INCLUDED
#define ZI_MODEL_H_INCLUDED

#include "zinfer.h"
#include "zi_graph.h"

struct zi_model_t {
    char *source;               //  file name, for messages
    zi_graph_t *graph;          //  as imported, never planned
};

#endif
