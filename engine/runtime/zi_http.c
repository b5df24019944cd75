/*  =========================================================================
    zi_http - a small HTTP server (libmicrohttpd) for a launcher's
    /metrics, /healthz, /readyz and the live web view

    It listens where the topology says (loopback by default), so other
    local users, and hosts the topology lets in, can reach it: it answers
    GET and HEAD only, of paths the handler knows, and refuses anything
    else. What a request may cost is bounded: a few connections at once
    and per address, a small memory budget per connection (request
    headers beyond it are refused by libmicrohttpd with 431), no request
    body, and a connection that sends or reads nothing for a few seconds
    is closed, so slow or silent clients cannot hold it.
    =========================================================================
*/

#include "zi_metrics.h"
#include <arpa/inet.h>
#include <microhttpd.h>

#define S_MAX_CONNECTIONS 32            //  at once, in all
#define S_MAX_PER_ADDRESS 8             //  at once, from one address
#define S_IDLE_SECONDS 5                //  a silent connection is closed
#define S_CONNECTION_MEMORY (16 * 1024) //  request line and headers must fit

struct zi_http_t {
    struct MHD_Daemon *daemon;  //  its own thread
    zi_http_handler_fn *handler;
    void *arg;
};

static enum MHD_Result
s_reply (struct MHD_Connection *connection, int status, const char *content_type,
         char *body, size_t size)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer (size, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    //  Counters change every second: no cache should keep them
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    //  The page's script is inline and fetches from here alone; nothing
    //  else may run or load
    MHD_add_response_header (response, "Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; "
                             "style-src 'unsafe-inline'; connect-src 'self'");
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (connection, (unsigned int) status, response);
    MHD_destroy_response (response);
    return rc;
}

static char *
s_text (const char *text, size_t *size)
{
    *size = strlen (text);
    char *copy = strdup (text);
    assert (copy);
    return copy;
}

//  Every request is answered on the first call, when its headers are in:
//  nothing served here needs a body, and one that comes is never read
//  (libmicrohttpd closes the connection instead)
static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *connection, const char *url,
              const char *method, const char *version, const char *upload_data,
              size_t *upload_data_size, void **state)
{
    (void) version;
    (void) upload_data;
    (void) upload_data_size;
    (void) state;
    zi_http_t *self = cls;
    size_t size = 0;
    if (strcmp (method, MHD_HTTP_METHOD_GET) && strcmp (method, MHD_HTTP_METHOD_HEAD))
        return s_reply (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                        s_text ("only GET and HEAD are served here\n", &size), size);
    int status = MHD_HTTP_OK;
    const char *content_type = "text/plain; charset=utf-8";
    char *body = self->handler (self->arg, url, &status, &content_type, &size);
    if (!body)
        return s_reply (connection, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                        s_text ("not found; served here: / /api/view /api/placement /metrics "
                                "/healthz /readyz\n", &size), size);
    return s_reply (connection, status, content_type, body, size);
}

zi_http_t *
zi_http_new (const char *address, int port, zi_http_handler_fn *handler, void *arg)
{
    struct sockaddr_storage where = {0};
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    struct sockaddr_in *v4 = (struct sockaddr_in *) &where;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &where;
    if (inet_pton (AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons ((uint16_t) port);
    }
    else
    if (inet_pton (AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons ((uint16_t) port);
        flags |= MHD_USE_IPv6;
    }
    else {
        zi_error ("metrics: bind address '%s' is no IP address", address);
        return NULL;
    }
    zi_http_t *self = calloc (1, sizeof (zi_http_t));
    assert (self);
    self->handler = handler;
    self->arg = arg;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_on_request, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &where,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) S_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) S_MAX_PER_ADDRESS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) S_IDLE_SECONDS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) S_CONNECTION_MEMORY,
        MHD_OPTION_END);
    if (!self->daemon) {
        zi_error ("metrics: cannot listen on %s%s%s:%d (port taken, or no such address "
                  "here?)", strchr (address, ':')? "[": "", address,
                  strchr (address, ':')? "]": "", port);
        free (self);
        return NULL;
    }
    return self;
}

void
zi_http_destroy (zi_http_t **self_p)
{
    assert (self_p);
    zi_http_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}
