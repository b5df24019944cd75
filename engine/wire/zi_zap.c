/*  =========================================================================
    zi_zap - the process's ZAP handler (ZeroMQ RFC 27)

    libzmq asks a REP socket at inproc://zeromq.zap.01, in the same
    context, whether each peer that completed a CURVE handshake may in.
    We answer yes only for the public keys the topology names, each in
    its role: the domain a socket was served with (zi_keys_serve) says
    whether hosts, clients or both may connect to it, and the user id we
    give back ("host" or "client") is what a monitor reads to tell the
    two apart. Every no is counted and logged.
    CZMQ's zauth does the same job, but lives in CZMQ's global context,
    which the engine's sockets do not use, and it cannot count refusals
    for the monitor; the protocol is small enough to answer here. The
    handler's thread is a CZMQ actor all the same (zactor: one start/stop
    handshake, "$TERM" to leave); its REP socket is in the served context.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_zap.h"
#include "zi_keys.h"
#include "zi_zactor.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <zmq.h>

#define S_FRAMES 8              //  version .. one credentials frame, and spare
#define S_LOG_FIRST 10          //  refusals logged one by one, then every 1000th
#define S_MAX_WATCHED 256       //  CURVE sockets whose failed handshakes are counted
#define S_WATCH_MSECS 100       //  how soon a socket monitor asked for is connected

//  The handler of this process, for zi_zap_watch
static zi_zap_t *s_process_zap = NULL;

struct zi_zap_t {
    void *context;              //  the context it serves
    void *socket;               //  REP, owned by the thread once started
    zi_zactor_t *actor;         //  the handler's thread
    int n_keys;                 //  allowed public keys, hosts first
    int n_hosts;                //  of them, hosts'
    uint8_t (*keys) [32];       //  binary
    char who [96];              //  names the process in log lines
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t refused;
    pthread_mutex_t lock;       //  guards last and the watch list
    //  Peers that do not speak CURVE never reach the ZAP handler: their
    //  handshake fails first. Each CURVE socket's monitor reports them
    int n_watch_asked;          //  endpoints of socket monitors to read (under lock)
    char (*watch_asked) [48];
    int n_watched;              //  of them, connected (the thread's own)
    void *watched [S_MAX_WATCHED];
    char last [256];            //  the last refusal in words
};

//  The role of a known key: "host", "client", or NULL for a stranger
static const char *
s_user (const zi_zap_t *self, const uint8_t *key)
{
    for (int index = 0; index < self->n_keys; index++)
        if (memcmp (self->keys [index], key, 32) == 0)
            return index < self->n_hosts? ZI_USER_HOST: ZI_USER_CLIENT;
    return NULL;
}

//  Whether a peer of that role may connect where the domain says
static bool
s_role_fits (const char *user, const char *domain)
{
    if (strcmp (domain, zi_role_domain (ZI_ROLE_MONITOR)) == 0)
        return true;
    if (strcmp (domain, zi_role_domain (ZI_ROLE_CLIENT)) == 0)
        return strcmp (user, ZI_USER_CLIENT) == 0;
    return strcmp (user, ZI_USER_HOST) == 0;
}

//  Counts a refusal, keeps it as the last, and logs it (the first few,
//  then every thousandth)
static void
s_refused (zi_zap_t *self, const char *line)
{
    uint64_t refused = atomic_fetch_add (&self->refused, 1) + 1;
    pthread_mutex_lock (&self->lock);
    snprintf (self->last, sizeof self->last, "%s", line);
    pthread_mutex_unlock (&self->lock);
    if (refused <= S_LOG_FIRST || refused % 1000 == 0)
        fprintf (stderr, "zinfer worker: %s: security: %s (%llu so far)\n", self->who,
                 line, (unsigned long long) refused);
}

//  Connects the socket monitors that zi_zap_watch asked for since
static void
s_connect_watches (zi_zap_t *self)
{
    pthread_mutex_lock (&self->lock);
    while (self->n_watched < self->n_watch_asked && self->n_watched < S_MAX_WATCHED) {
        void *pair = zmq_socket (self->context, ZMQ_PAIR);
        if (!pair || zmq_connect (pair, self->watch_asked [self->n_watched])) {
            if (pair)
                zmq_close (pair);
            break;
        }
        self->watched [self->n_watched++] = pair;
    }
    pthread_mutex_unlock (&self->lock);
}

//  One event from a socket monitor: a handshake that failed before any
//  key was shown (a plain peer, or one speaking another mechanism)
static void
s_on_watch_event (zi_zap_t *self, void *pair)
{
    zmq_msg_t event, where;
    zmq_msg_init (&event);
    zmq_msg_init (&where);
    if (zmq_msg_recv (&event, pair, ZMQ_DONTWAIT) >= 0 && zmq_msg_more (&event)
    &&  zmq_msg_recv (&where, pair, 0) >= 0 && zmq_msg_size (&event) >= 6) {
        uint16_t kind;
        memcpy (&kind, zmq_msg_data (&event), sizeof kind);
        if (kind & (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
            char line [256];
            snprintf (line, sizeof line, "refused a peer at %.*s: its handshake failed before "
                      "it showed a key (not CURVE, or not ZeroMQ)",
                      (int) zmq_msg_size (&where), (const char *) zmq_msg_data (&where));
            s_refused (self, line);
        }
    }
    zmq_msg_close (&event);
    zmq_msg_close (&where);
}

//  Answers one request; frames holds what came (count of them)
static void
s_answer (zi_zap_t *self, zmq_msg_t *frames, int count)
{
    const char *status = "400", *text = "malformed ZAP request";
    char mechanism [16] = "", address [64] = "", key [ZI_KEY_TEXT] = "", domain [32] = "";
    const char *user = "";
    if (count >= 6) {
        snprintf (domain, sizeof domain, "%.*s", (int) zmq_msg_size (&frames [2]),
                  (const char *) zmq_msg_data (&frames [2]));
        snprintf (mechanism, sizeof mechanism, "%.*s", (int) zmq_msg_size (&frames [5]),
                  (const char *) zmq_msg_data (&frames [5]));
        snprintf (address, sizeof address, "%.*s", (int) zmq_msg_size (&frames [3]),
                  (const char *) zmq_msg_data (&frames [3]));
    }
    if (count == 7 && strcmp (mechanism, "CURVE") == 0 && zmq_msg_size (&frames [6]) == 32) {
        const uint8_t *binary = zmq_msg_data (&frames [6]);
        zmq_z85_encode (key, binary, 32);
        const char *role = s_user (self, binary);
        if (role && s_role_fits (role, domain)) {
            status = "200";
            text = "OK";
            user = role;
        }
        else
            text = role? (strcmp (role, ZI_USER_HOST) == 0?
                          "a host's key where only clients connect":
                          "a client's key where only hosts connect"):
                   "unknown public key";
    }
    else
    if (count >= 6)
        text = "only CURVE peers are let in";

    if (*status == '2')
        atomic_fetch_add (&self->accepted, 1);
    else {
        char line [256];
        snprintf (line, sizeof line, "refused a %s peer at %s%s%s: %s",
                  *mechanism? mechanism: "?", *address? address: "?",
                  *key? " with key ": "", key, text);
        s_refused (self, line);
    }
    //  version, request id (echoed), status, text, user id, metadata
    zmq_send (self->socket, "1.0", 3, ZMQ_SNDMORE);
    if (count >= 2)
        zmq_send (self->socket, zmq_msg_data (&frames [1]), zmq_msg_size (&frames [1]), ZMQ_SNDMORE);
    else
        zmq_send (self->socket, "", 0, ZMQ_SNDMORE);
    zmq_send (self->socket, status, 3, ZMQ_SNDMORE);
    zmq_send (self->socket, text, strlen (text), ZMQ_SNDMORE);
    zmq_send (self->socket, user, strlen (user), ZMQ_SNDMORE);
    zmq_send (self->socket, "", 0, 0);
}

//  The handler's thread: answers ZAP requests and reads the socket
//  monitors until "$TERM", then closes the sockets it owns
static void
s_zap_actor (zsock_t *pipe, void *args)
{
    zi_zap_t *self = args;
    prctl (PR_SET_NAME, "zi-zap", 0, 0, 0);
    zsock_signal (pipe, 0);
    while (true) {
        s_connect_watches (self);
        zmq_pollitem_t items [S_MAX_WATCHED + 2] = {
            {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
            {self->socket, 0, ZMQ_POLLIN, 0}
        };
        for (int index = 0; index < self->n_watched; index++)
            items [index + 2] = (zmq_pollitem_t) {self->watched [index], 0, ZMQ_POLLIN, 0};
        //  Not forever: zi_zap_watch asks for monitors from other threads,
        //  which connect on the next pass
        if (zmq_poll (items, self->n_watched + 2, S_WATCH_MSECS) <= 0)
            continue;
        if (items [0].revents & ZMQ_POLLIN) {
            //  The pipe carries one command, from zi_zactor_destroy
            char *command = zstr_recv (pipe);
            assert (!command || streq (command, "$TERM"));
            zstr_free (&command);
            break;
        }
        for (int index = 0; index < self->n_watched; index++)
            if (items [index + 2].revents & ZMQ_POLLIN)
                s_on_watch_event (self, self->watched [index]);
        if (!(items [1].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t frames [S_FRAMES];
        int count = 0;
        bool more = true;
        while (more) {
            zmq_msg_t frame;
            zmq_msg_init (&frame);
            if (zmq_msg_recv (&frame, self->socket, 0) < 0) {
                zmq_msg_close (&frame);
                break;
            }
            more = zmq_msg_more (&frame);
            if (count < S_FRAMES)
                frames [count++] = frame;
            else
                zmq_msg_close (&frame);
        }
        s_answer (self, frames, count);
        for (int index = 0; index < count; index++)
            zmq_msg_close (&frames [index]);
    }
    zmq_close (self->socket);
    for (int index = 0; index < self->n_watched; index++)
        zmq_close (self->watched [index]);
}

zi_zap_t *
zi_zap_new (void *context, int n_hosts, const char *const *hosts,
            int n_clients, const char *const *clients, const char *who)
{
    zi_zap_t *self = calloc (1, sizeof (zi_zap_t));
    assert (self);
    self->keys = calloc (n_hosts + n_clients + 1, 32);
    assert (self->keys);
    for (int index = 0; index < n_hosts; index++)
        if (zmq_z85_decode (self->keys [self->n_keys], hosts [index]))
            self->n_keys++;
    self->n_hosts = self->n_keys;
    for (int index = 0; index < n_clients; index++)
        if (zmq_z85_decode (self->keys [self->n_keys], clients [index]))
            self->n_keys++;
    snprintf (self->who, sizeof self->who, "%s", who? who: "zinfer");
    pthread_mutex_init (&self->lock, NULL);
    self->context = context;
    self->socket = zmq_socket (context, ZMQ_REP);
    int linger = 0;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind (self->socket, "inproc://zeromq.zap.01")) {
        zi_error ("cannot start the ZAP handler: %s", zmq_strerror (zmq_errno ()));
        zmq_close (self->socket);
        free (self->keys);
        free (self);
        return NULL;
    }
    self->actor = zi_zactor_new (s_zap_actor, self);
    if (!self->actor) {
        zi_error ("cannot start the ZAP handler's thread");
        zmq_close (self->socket);
        pthread_mutex_destroy (&self->lock);
        free (self->keys);
        free (self);
        return NULL;
    }
    s_process_zap = self;
    return self;
}

void
zi_zap_destroy (zi_zap_t **self_p)
{
    assert (self_p);
    zi_zap_t *self = *self_p;
    if (!self)
        return;
    //  Returns once the thread has left and closed its sockets
    zi_zactor_destroy (&self->actor);
    if (s_process_zap == self)
        s_process_zap = NULL;
    free (self->watch_asked);
    pthread_mutex_destroy (&self->lock);
    free (self->keys);
    free (self);
    *self_p = NULL;
}

uint64_t
zi_zap_accepted (zi_zap_t *self)
{
    return self? atomic_load (&self->accepted): 0;
}

uint64_t
zi_zap_refused (zi_zap_t *self)
{
    return self? atomic_load (&self->refused): 0;
}

void
zi_zap_last_refusal (zi_zap_t *self, char *buffer, size_t size)
{
    if (!self) {
        snprintf (buffer, size, "%s", "");
        return;
    }
    pthread_mutex_lock (&self->lock);
    snprintf (buffer, size, "%s", self->last);
    pthread_mutex_unlock (&self->lock);
}

void
zi_zap_watch (void *socket)
{
    zi_zap_t *self = s_process_zap;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    if (self->n_watch_asked < S_MAX_WATCHED) {
        char endpoint [48];
        snprintf (endpoint, sizeof endpoint, "inproc://zinfer-zap-watch-%d", self->n_watch_asked);
        if (zmq_socket_monitor (socket, endpoint, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                              | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
            self->watch_asked = realloc (self->watch_asked,
                                         (self->n_watch_asked + 1) * sizeof *self->watch_asked);
            assert (self->watch_asked);
            snprintf (self->watch_asked [self->n_watch_asked++], 48, "%s", endpoint);
        }
    }
    pthread_mutex_unlock (&self->lock);
}
