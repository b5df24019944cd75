/*  =========================================================================
    zi_session.h - what the engine asks of a local session beyond zinfer.h

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_SESSION_H_INCLUDED
#define ZI_SESSION_H_INCLUDED

#include "zinfer.h"
#include "zi_graph.h"

//  The plan of a session's last run (NULL before the first)
const zi_graph_t *
    zi_session_plan (const zi_session_t *self);
//  How many outputs a run fills: the size of the array zi_session_run takes
int
    zi_session_n_outputs (const zi_session_t *self);

#endif
