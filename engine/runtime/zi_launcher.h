/*  =========================================================================
    zi_launcher.h - starts and supervises a host's worker processes
    =========================================================================
*/

#ifndef ZI_LAUNCHER_H_INCLUDED
#define ZI_LAUNCHER_H_INCLUDED

#include "zi_deploy.h"
#include <signal.h>

typedef struct zi_launcher_t zi_launcher_t;

//  Lays out the topology and picks this host (host_name may be NULL when
//  the topology has one host); NULL with the error set
zi_launcher_t *
    zi_launcher_new (const char *topology_path, const char *host_name, int base_port);
//  Stops every worker that still runs
void
    zi_launcher_destroy (zi_launcher_t **self_p);
//  Starts the workers and waits until each reports READY. When
//  interruptible, SIGINT or SIGTERM (see zi_signals_install) abort the wait.
int
    zi_launcher_start (zi_launcher_t *self, int ready_timeout_secs, bool interruptible);
//  Reaps dead workers and restarts them after their pause; -1 once one
//  keeps dying. Call it often (every 50 ms or so).
int
    zi_launcher_supervise (zi_launcher_t *self);
//  SIGTERM to every worker, SIGKILL after a grace period
void
    zi_launcher_stop (zi_launcher_t *self);

//  Called every 20 ms or so while zi_launcher_start waits, with how many
//  processes are ready of how many (for a progress line)
typedef void (zi_launcher_progress_fn) (void *arg, int ready, int total);
void
    zi_launcher_set_progress (zi_launcher_t *self, zi_launcher_progress_fn *progress, void *arg);
//  Start workers with or without their monitor thread (default with)
void
    zi_launcher_set_monitor (zi_launcher_t *self, bool monitor);
int
    zi_launcher_n_processes (const zi_launcher_t *self);
int
    zi_launcher_host (const zi_launcher_t *self);
zi_deploy_t *
    zi_launcher_deploy (const zi_launcher_t *self);
//  Pid of the index-th worker of this host (0 if not running)
int
    zi_launcher_pid (const zi_launcher_t *self, int index);

#endif
