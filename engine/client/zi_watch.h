/*  =========================================================================
    zi_watch.h - asks every worker process of a topology what it is doing

    The client side of the monitor protocol, shared by `zinfer top`,
    `inspect` and `trace`: one DEALER per process, queries sent to all at
    once, answers collected until a deadline, so a process that does not
    answer is reported as such instead of hanging the caller.
    =========================================================================
*/

#ifndef ZI_WATCH_H_INCLUDED
#define ZI_WATCH_H_INCLUDED

#include "zi_deploy.h"
#include <msgpack.h>

typedef struct zi_watch_t zi_watch_t;

typedef struct {
    bool answered;              //  replied before the deadline
    msgpack_unpacked reply;     //  the decoded reply (a map), when answered
    void *frame;                //  its bytes, which the decoded strings point into
    size_t frame_size;
    void *data;                 //  a data frame that followed (TAP), or NULL
    size_t data_size;
    int64_t sent_nsecs;         //  realtime clock when the query went out
    int64_t received_nsecs;     //  realtime clock when the reply came
} zi_watch_reply_t;

zi_watch_t *
    zi_watch_new (zi_deploy_t *deploy);
void
    zi_watch_destroy (zi_watch_t **self_p);
//  Sends the same query (a msgpack array of strings and one optional
//  integer, e.g. "STATS") to every process (or one, process >= 0) and
//  waits up to timeout_msecs for the answers; replies [process] filled
void
    zi_watch_query (zi_watch_t *self, int process, const char *command, const char *argument,
                    int64_t number, int timeout_msecs, zi_watch_reply_t *replies);
void
    zi_watch_replies_clear (zi_watch_t *self, zi_watch_reply_t *replies);

//  Reading decoded replies
const msgpack_object *
    zi_watch_get (const msgpack_object *map, const char *key);
double
    zi_watch_number (const msgpack_object *map, const char *key);
//  Copies a string value into buffer ("" if absent)
const char *
    zi_watch_string (const msgpack_object *map, const char *key, char *buffer, size_t size);

#endif
