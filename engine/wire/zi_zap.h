/*  =========================================================================
    zi_zap.h - the process's ZAP handler: decides which CURVE keys may
    connect to its sockets, and counts and logs the ones refused
    =========================================================================
*/

#ifndef ZI_ZAP_H_INCLUDED
#define ZI_ZAP_H_INCLUDED

#include <stdint.h>

typedef struct zi_zap_t zi_zap_t;

//  Starts the handler in a ZeroMQ context, before any CURVE socket of
//  that context binds. hosts, clients: the Z85 public keys of each role
//  (zi_keys.h): hosts may connect where hosts or monitors listen,
//  clients where clients or monitors do. who names the process in log
//  lines.
zi_zap_t *
    zi_zap_new (void *context, int n_hosts, const char *const *hosts,
                int n_clients, const char *const *clients, const char *who);
//  Stops it; call before the context terminates
void
    zi_zap_destroy (zi_zap_t **self_p);

//  Counts and logs, as refusals, the failed handshakes of a socket just
//  bound with CURVE (peers that do not speak CURVE never reach the
//  handler); call from the socket's own thread, after the bind
void
    zi_zap_watch (void *socket);

//  Peers let in and refused so far, and the last refusal in words
uint64_t
    zi_zap_accepted (zi_zap_t *self);
uint64_t
    zi_zap_refused (zi_zap_t *self);
void
    zi_zap_last_refusal (zi_zap_t *self, char *buffer, size_t size);

#endif
