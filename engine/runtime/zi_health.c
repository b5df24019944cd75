/*  =========================================================================
    zi_health - what a host's launcher serves over HTTP

    /healthz    200 while the launcher runs: it answers from its own thread
    /readyz     200 once every process of the host runs and has reported
                READY (all its actors bound and connected), else 503 with
                the reason: starting, a process restarting, stopping
    /metrics    the processes' latest monitor stats (zi_metrics_render)
    /           the live web view, /api/view its live JSON (zi_view.c) and
                /api/placement the topology's placement it draws, set once
                by the launcher (zi_placement.c)

    The launcher's thread sets the state here as it changes; the server's
    thread only reads it, under a lock, and never waits on a worker: an
    answer takes as long as rendering a few kilobytes of text.
    =========================================================================
*/

#include "zi_metrics.h"
#include <pthread.h>

typedef struct {
    char *name;                 //  process name, owned
    int pid;                    //  0 when not running
    bool ready;                 //  reported READY since its last start
    uint64_t restarts;          //  restarts so far
    void *stats;                //  its monitor's latest stats map, owned, or NULL
    size_t stats_size;
} s_process_t;

struct zi_health_t {
    char *topology;             //  topology name, owned
    char *host;                 //  this host's name, owned
    pthread_mutex_t lock;       //  guards what follows
    char phase [32];            //  "starting", "running" or "stopping"
    int n_processes;
    s_process_t *processes;
    char *placement;            //  the placement's JSON, owned, or NULL
    zi_http_t *http;            //  the server, last: it reads the rest
};

static char *
s_copy (const char *text, size_t *size)
{
    char *copy = strdup (text);
    assert (copy);
    *size = strlen (copy);
    return copy;
}

//  Why the host is not ready, or "" when it is
static void
s_not_ready (zi_health_t *self, char *reason, size_t size)
{
    *reason = 0;
    if (strcmp (self->phase, "running")) {
        snprintf (reason, size, "not ready: the launcher is %s", self->phase);
        return;
    }
    for (int index = 0; index < self->n_processes; index++) {
        s_process_t *process = &self->processes [index];
        if (process->pid <= 0 || !process->ready) {
            snprintf (reason, size, "not ready: process '%s' is %s", process->name,
                      process->pid > 0? "starting": "not running (restarting)");
            return;
        }
    }
}

static char *
s_handle (void *arg, const char *path, int *status, const char **content_type, size_t *size)
{
    zi_health_t *self = arg;
    char *body = NULL;
    pthread_mutex_lock (&self->lock);
    if (strcmp (path, "/healthz") == 0)
        body = s_copy ("ok\n", size);
    else
    if (strcmp (path, "/readyz") == 0) {
        char reason [256], text [300];
        s_not_ready (self, reason, sizeof reason);
        *status = *reason? 503: 200;
        if (*reason)
            snprintf (text, sizeof text, "%s\n", reason);
        else
            snprintf (text, sizeof text, "ready: %d of %d processes\n", self->n_processes,
                      self->n_processes);
        body = s_copy (text, size);
    }
    else
    if (strcmp (path, "/metrics") == 0 || strcmp (path, "/api/view") == 0) {
        zi_metrics_process_t *processes = calloc (self->n_processes + 1,
                                                  sizeof (zi_metrics_process_t));
        assert (processes);
        for (int index = 0; index < self->n_processes; index++) {
            s_process_t *process = &self->processes [index];
            processes [index] = (zi_metrics_process_t) {
                .name = process->name, .pid = process->pid, .ready = process->ready,
                .restarts = process->restarts, .stats = process->stats,
                .stats_size = process->stats_size};
        }
        if (strcmp (path, "/metrics") == 0) {
            body = zi_metrics_render (self->topology, self->host, processes,
                                      self->n_processes, size);
            *content_type = "text/plain; version=0.0.4; charset=utf-8";
        }
        else {
            body = zi_view_json (self->topology, self->host, processes, self->n_processes,
                                 size);
            *content_type = "application/json";
        }
        free (processes);
    }
    else
    if (strcmp (path, "/api/placement") == 0 && self->placement) {
        body = s_copy (self->placement, size);
        *content_type = "application/json";
    }
    else
    if (strcmp (path, "/") == 0) {
        body = s_copy (zi_view_page, size);
        *content_type = "text/html; charset=utf-8";
    }
    pthread_mutex_unlock (&self->lock);
    return body;
}

zi_health_t *
zi_health_new (const char *topology, const char *host, const char *const *processes,
               int count, const char *address, int port)
{
    zi_health_t *self = calloc (1, sizeof (zi_health_t));
    assert (self);
    self->topology = strdup (topology);
    self->host = strdup (host);
    pthread_mutex_init (&self->lock, NULL);
    snprintf (self->phase, sizeof self->phase, "starting");
    self->n_processes = count;
    self->processes = calloc (count + 1, sizeof (s_process_t));
    assert (self->topology && self->host && self->processes);
    for (int index = 0; index < count; index++) {
        self->processes [index].name = strdup (processes [index]);
        assert (self->processes [index].name);
    }
    self->http = zi_http_new (address, port, s_handle, self);
    if (!self->http)
        zi_health_destroy (&self);
    return self;
}

void
zi_health_destroy (zi_health_t **self_p)
{
    assert (self_p);
    zi_health_t *self = *self_p;
    if (!self)
        return;
    //  The server first: its thread reads everything else
    zi_http_destroy (&self->http);
    for (int index = 0; index < self->n_processes; index++) {
        free (self->processes [index].name);
        free (self->processes [index].stats);
    }
    free (self->processes);
    free (self->placement);
    pthread_mutex_destroy (&self->lock);
    free (self->topology);
    free (self->host);
    free (self);
    *self_p = NULL;
}

void
zi_health_set_process (zi_health_t *self, int index, int pid, bool ready, uint64_t restarts)
{
    assert (index >= 0 && index < self->n_processes);
    pthread_mutex_lock (&self->lock);
    s_process_t *process = &self->processes [index];
    process->pid = pid;
    process->ready = ready;
    process->restarts = restarts;
    pthread_mutex_unlock (&self->lock);
}

void
zi_health_set_stats (zi_health_t *self, int index, const void *stats, size_t size)
{
    assert (index >= 0 && index < self->n_processes);
    void *copy = NULL;
    if (stats) {
        copy = malloc (size? size: 1);
        assert (copy);
        memcpy (copy, stats, size);
    }
    pthread_mutex_lock (&self->lock);
    s_process_t *process = &self->processes [index];
    void *old = process->stats;
    process->stats = copy;
    process->stats_size = stats? size: 0;
    pthread_mutex_unlock (&self->lock);
    free (old);
}

void
zi_health_set_phase (zi_health_t *self, const char *phase)
{
    pthread_mutex_lock (&self->lock);
    snprintf (self->phase, sizeof self->phase, "%s", phase);
    pthread_mutex_unlock (&self->lock);
}

void
zi_health_set_placement (zi_health_t *self, const char *placement)
{
    char *copy = strdup (placement);
    assert (copy);
    pthread_mutex_lock (&self->lock);
    char *old = self->placement;
    self->placement = copy;
    pthread_mutex_unlock (&self->lock);
    free (old);
}
