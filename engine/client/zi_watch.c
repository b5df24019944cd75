/*  =========================================================================
    zi_watch - the client side of the monitor protocol
    =========================================================================
*/

#include "zi_watch.h"
#include "zi_msg.h"
#include <time.h>
#include <zmq.h>

struct zi_watch_t {
    zi_deploy_t *deploy;        //  not owned
    void *context;
    int n_sockets;
    void **sockets;             //  one DEALER per process
};

static int64_t
s_realtime_nsecs (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

zi_watch_t *
zi_watch_new (zi_deploy_t *deploy)
{
    zi_watch_t *self = calloc (1, sizeof (zi_watch_t));
    assert (self);
    self->deploy = deploy;
    self->context = zmq_ctx_new ();
    self->n_sockets = deploy->topology->n_processes;
    self->sockets = calloc (self->n_sockets, sizeof (void *));
    assert (self->sockets);
    return self;
}

void
zi_watch_destroy (zi_watch_t **self_p)
{
    zi_watch_t *self = *self_p;
    if (!self)
        return;
    for (int index = 0; index < self->n_sockets; index++)
        if (self->sockets [index])
            zmq_close (self->sockets [index]);
    zmq_ctx_term (self->context);
    free (self->sockets);
    free (self);
    *self_p = NULL;
}

//  A fresh socket per query round: an answer that comes after its
//  deadline must not be taken for the next question's answer
static void *
s_socket (zi_watch_t *self, int process)
{
    if (self->sockets [process])
        zmq_close (self->sockets [process]);
    void *socket = zmq_socket (self->context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    char endpoint [256];
    zi_deploy_monitor_endpoint (self->deploy, process, endpoint, sizeof endpoint);
    zi_deploy_connect (self->deploy, socket, endpoint, process, NULL);
    self->sockets [process] = socket;
    return socket;
}

void
zi_watch_query (zi_watch_t *self, int process, const char *command, const char *argument,
                int64_t number, int timeout_msecs, zi_watch_reply_t *replies)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    msgpack_pack_array (&packer, 1 + (argument? 1: 0) + (number >= 0? 1: 0));
    msgpack_pack_str (&packer, strlen (command));
    msgpack_pack_str_body (&packer, command, strlen (command));
    if (argument) {
        msgpack_pack_str (&packer, strlen (argument));
        msgpack_pack_str_body (&packer, argument, strlen (argument));
    }
    if (number >= 0)
        msgpack_pack_int64 (&packer, number);

    int first = process >= 0? process: 0;
    int last = process >= 0? process: self->n_sockets - 1;
    int waiting = 0;
    for (int index = first; index <= last; index++) {
        memset (&replies [index], 0, sizeof replies [index]);
        void *socket = s_socket (self, index);
        replies [index].sent_nsecs = s_realtime_nsecs ();
        if (zmq_send (socket, buffer.data, buffer.size, ZMQ_DONTWAIT) >= 0)
            waiting++;
    }
    msgpack_sbuffer_destroy (&buffer);

    int64_t deadline = zi_clock_usecs () + (int64_t) timeout_msecs * 1000;
    while (waiting > 0) {
        int64_t left = (deadline - zi_clock_usecs ()) / 1000;
        if (left <= 0)
            break;
        zmq_pollitem_t items [256];
        int map [256], count = 0;
        for (int index = first; index <= last && count < 256; index++)
            if (!replies [index].answered) {
                items [count] = (zmq_pollitem_t) {self->sockets [index], 0, ZMQ_POLLIN, 0};
                map [count++] = index;
            }
        if (zmq_poll (items, count, (long) left) <= 0)
            continue;
        for (int item = 0; item < count; item++) {
            if (!(items [item].revents & ZMQ_POLLIN))
                continue;
            zi_watch_reply_t *reply = &replies [map [item]];
            zmq_msg_t frame;
            zmq_msg_init (&frame);
            if (zmq_msg_recv (&frame, items [item].socket, 0) < 0) {
                zmq_msg_close (&frame);
                continue;
            }
            reply->received_nsecs = s_realtime_nsecs ();
            msgpack_unpacked_init (&reply->reply);
            size_t offset = 0;
            //  The decoded strings point into the frame: keep a copy
            reply->frame_size = zmq_msg_size (&frame);
            reply->frame = malloc (reply->frame_size + 1);
            assert (reply->frame);
            memcpy (reply->frame, zmq_msg_data (&frame), reply->frame_size);
            if (zi_msgpack_plausible (reply->frame, reply->frame_size)
            &&  msgpack_unpack_next (&reply->reply, reply->frame, reply->frame_size, &offset)
                    == MSGPACK_UNPACK_SUCCESS
            &&  reply->reply.data.type == MSGPACK_OBJECT_MAP)
                reply->answered = true;
            else
                msgpack_unpacked_destroy (&reply->reply);
            zmq_msg_close (&frame);
            int more = 0;
            size_t size = sizeof more;
            zmq_getsockopt (items [item].socket, ZMQ_RCVMORE, &more, &size);
            if (more) {
                zmq_msg_t data;
                zmq_msg_init (&data);
                if (zmq_msg_recv (&data, items [item].socket, 0) >= 0 && reply->answered) {
                    reply->data_size = zmq_msg_size (&data);
                    reply->data = malloc (reply->data_size + 1);
                    assert (reply->data);
                    memcpy (reply->data, zmq_msg_data (&data), reply->data_size);
                }
                zmq_msg_close (&data);
                zi_msg_drain (items [item].socket);
            }
            waiting--;
        }
    }
}

void
zi_watch_replies_clear (zi_watch_t *self, zi_watch_reply_t *replies)
{
    for (int index = 0; index < self->n_sockets; index++) {
        if (replies [index].answered)
            msgpack_unpacked_destroy (&replies [index].reply);
        free (replies [index].data);
        free (replies [index].frame);
        memset (&replies [index], 0, sizeof replies [index]);
    }
}

const msgpack_object *
zi_watch_get (const msgpack_object *map, const char *key)
{
    return zi_msgpack_get (map, key);
}

double
zi_watch_number (const msgpack_object *map, const char *key)
{
    return zi_msgpack_number (map, key);
}

const char *
zi_watch_string (const msgpack_object *map, const char *key, char *buffer, size_t size)
{
    return zi_msgpack_string (map, key, buffer, size);
}
