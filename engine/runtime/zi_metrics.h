/*  =========================================================================
    zi_metrics.h - a host's monitor stats as Prometheus text, and the
    small HTTP server that serves them (/metrics, /healthz, /readyz)
    =========================================================================
*/

#ifndef ZI_METRICS_H_INCLUDED
#define ZI_METRICS_H_INCLUDED

#include "zi_classes.h"

//  One worker process of the host, as its launcher sees it
typedef struct {
    const char *name;           //  process name
    int pid;                    //  0 when not running
    bool ready;                 //  running and reported READY since it started
    uint64_t restarts;          //  times restarted since the launcher started
    const void *stats;          //  its monitor's latest stats map (msgpack), or NULL
    size_t stats_size;
} zi_metrics_process_t;

//  The Prometheus text exposition (version 0.0.4) of a host's processes:
//  per-process CPU seconds, RSS, uptime, restarts and CURVE refusals;
//  the gateway's counters and end-to-end latency histogram; per-actor
//  counters and compute and wait histograms. Every series is labelled
//  with topology and host. Returns a malloc'd text and its size in *size
char *
    zi_metrics_render (const char *topology, const char *host,
                       const zi_metrics_process_t *processes, int count, size_t *size);

//  The live web view (zi_view.c): the host's processes and actors as JSON
//  for the page (cumulative counters, queue depths, latency percentiles),
//  and the page itself, one static HTML document
char *
    zi_view_json (const char *topology, const char *host,
                  const zi_metrics_process_t *processes, int count, size_t *size);
extern const char *zi_view_page;

//  An HTTP server in a thread of its own. handler answers a GET of path:
//  returns a malloc'd body (NULL: 404) and sets *status, *content_type
//  and *size. It runs in the server's thread.
typedef char *(zi_http_handler_fn) (void *arg, const char *path, int *status,
                                    const char **content_type, size_t *size);
typedef struct zi_http_t zi_http_t;

//  Listens on address:port (an IPv4 or IPv6 literal); NULL with the error
//  set when it cannot
zi_http_t *
    zi_http_new (const char *address, int port, zi_http_handler_fn *handler, void *arg);
void
    zi_http_destroy (zi_http_t **self_p);

//  What a host's launcher serves over HTTP: the latest state of each of
//  its processes, set by the launcher's thread and read by the server's
typedef struct zi_health_t zi_health_t;

//  For the host's processes, named in order; starts serving at
//  address:port. NULL with the error set when it cannot listen
zi_health_t *
    zi_health_new (const char *topology, const char *host, const char *const *processes,
                   int count, const char *address, int port);
void
    zi_health_destroy (zi_health_t **self_p);
//  A process's state as the launcher sees it
void
    zi_health_set_process (zi_health_t *self, int index, int pid, bool ready,
                           uint64_t restarts);
//  A process's latest stats map from its monitor (copied), or NULL to
//  forget the last (the process died)
void
    zi_health_set_stats (zi_health_t *self, int index, const void *stats, size_t size);
//  The launcher is starting its processes (readyz says so until all are)
//  or stopping them (readyz fails from then on)
void
    zi_health_set_phase (zi_health_t *self, const char *phase);
//  The topology's placement as JSON (zi_placement_json, copied), served
//  as /api/placement for the web view to draw
void
    zi_health_set_placement (zi_health_t *self, const char *placement);

#endif
