/*  =========================================================================
    zi_probe - is anything listening at a topology's endpoint?

    ZeroMQ retries a connection nobody accepts forever, in silence, so a
    client of a stopped topology (or of one started on other ports) would
    wait out its whole timeout. A plain connect first tells a stopped
    topology from a slow one at once; every client command and the C
    client ask here before they wait for an answer.
    =========================================================================
*/

#include "zi_probe.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

//  Connects a plain socket to a unix socket path: 0 when something
//  listens there, else the errno (ENOENT: no socket; ECONNREFUSED: a
//  socket file whose listener is gone)
int
zi_probe_unix (const char *path)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen (path) >= sizeof address.sun_path)
        return ENAMETOOLONG;
    strcpy (address.sun_path, path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return errno;
    int rc = connect (fd, (struct sockaddr *) &address, sizeof address) == 0
          || errno == EAGAIN? 0: errno;     //  EAGAIN: listening, its backlog full
    close (fd);
    return rc;
}

//  Connects a plain socket to tcp://HOST:PORT: 0 when something accepted
//  or nothing was said within ZI_PROBE_MSECS, ECONNREFUSED when refused
int
zi_probe_tcp (const char *address)
{
    char host [256];
    snprintf (host, sizeof host, "%s", address);
    char *colon = strrchr (host, ':');
    if (!colon)
        return 0;
    *colon = 0;
    const char *port = colon + 1, *name = host;
    if (*name == '[' && name [strlen (name) - 1] == ']') {
        host [strlen (host) - 1] = 0;       //  [v6 address]
        name++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *found;
    if (getaddrinfo (name, port, &hints, &found))
        return 0;                           //  ZeroMQ will say what it makes of it
    int rc = 0;
    int fd = socket (found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && connect (fd, found->ai_addr, found->ai_addrlen) < 0) {
        rc = errno == EINPROGRESS? 0: errno;
        struct pollfd item = {.fd = fd, .events = POLLOUT};
        if (rc == 0 && poll (&item, 1, ZI_PROBE_MSECS) == 1) {
            socklen_t size = sizeof rc;
            getsockopt (fd, SOL_SOCKET, SO_ERROR, &rc, &size);
        }
    }
    if (fd >= 0)
        close (fd);
    freeaddrinfo (found);
    return rc == ECONNREFUSED? rc: 0;
}

//  ZeroMQ retries a connection nobody accepts forever, in silence, and a
//  request would wait its whole timeout (30 s) for an answer that cannot
//  come. A plain connect tells a stopped topology from a slow one at once.
int
zi_probe_listening (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        int error = zi_probe_unix (endpoint + 6);
        if (error == ENOENT)
            return zi_error ("nothing listens at %s (no socket there): is the topology "
                             "running? see zinfer status", endpoint);
        if (error == ECONNREFUSED)
            return zi_error ("nothing listens at %s (a socket file left by a topology that "
                             "stopped): the topology is not running; see zinfer status",
                             endpoint);
    }
    else
    if (strncmp (endpoint, "tcp://", 6) == 0 && zi_probe_tcp (endpoint + 6) == ECONNREFUSED)
        return zi_error ("nothing listens at %s (connection refused): is the topology "
                         "running? see zinfer status. Started with --base-port? Give the "
                         "same --base-port", endpoint);
    return 0;
}
