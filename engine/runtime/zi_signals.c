/*  =========================================================================
    zi_signals - SIGTERM and SIGINT as something a loop can wait for

    A process-directed signal goes to any thread that does not block it,
    and libraries start threads of their own (OpenBLAS before main even
    runs), so blocking the signals in the main thread is not enough: one
    of those threads would take the default action and end the process
    mid-request. A handler that writes to a pipe works whichever thread
    runs it; the main loop reads the pipe.
    =========================================================================
*/

#include "zi_classes.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

static int s_pipe [2] = {-1, -1};

static void
s_on_signal (int signal_number)
{
    (void) signal_number;
    int saved = errno;
    ssize_t written = write (s_pipe [1], "x", 1);
    (void) written;             //  a full pipe already holds a stop
    errno = saved;
}

int
zi_signals_install (void)
{
    if (s_pipe [0] < 0 && pipe (s_pipe))
        return zi_error ("cannot create a pipe for signals: %s", strerror (errno));
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGTERM, &action, NULL);
    sigaction (SIGINT, &action, NULL);
    return 0;
}

bool
zi_signals_wait (int timeout_msecs)
{
    struct pollfd item = {s_pipe [0], POLLIN, 0};
    int rc;
    do
        rc = poll (&item, 1, timeout_msecs);
    while (rc < 0 && errno == EINTR);
    if (rc <= 0)
        return false;
    char byte;
    if (read (s_pipe [0], &byte, 1) < 0)
        return false;
    return true;
}
