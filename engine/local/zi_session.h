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

//  Runs only the planned nodes [first, last), as one stage of a split does
//  with each request: the values they read from earlier nodes are made by
//  the first call and kept, and copied back into place by each call. The
//  session must have run whole on inputs of these shapes. For timing stages
//  side by side (zi_cli_cores.c); the outputs stay inside
int
    zi_session_run_stage (zi_session_t *self, zi_tensor_t *const *inputs, int first, int last);

#endif
