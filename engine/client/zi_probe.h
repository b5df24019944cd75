/*  =========================================================================
    zi_probe.h - is anything listening at an endpoint? (plain connects,
    before ZeroMQ's silent retries)
    =========================================================================
*/

#ifndef ZI_PROBE_H_INCLUDED
#define ZI_PROBE_H_INCLUDED

#include "zi_classes.h"

//  How long a probe waits to learn whether anything listens over tcp; a
//  host that has not answered by then is taken as slow, not absent
#define ZI_PROBE_MSECS 1500

//  Connects to a unix socket path: 0 when something listens there, else
//  the errno (ENOENT: no socket; ECONNREFUSED: a socket file whose
//  listener is gone)
int
    zi_probe_unix (const char *path);
//  Connects to HOST:PORT: 0 when something accepted or nothing was said
//  within ZI_PROBE_MSECS, ECONNREFUSED when refused
int
    zi_probe_tcp (const char *address);
//  0 unless nothing listens at an ipc:// or tcp:// endpoint; then -1 with
//  an error that names the endpoint and the likely cause (the topology
//  is not running, or runs on other ports)
int
    zi_probe_listening (const char *endpoint);

#endif
