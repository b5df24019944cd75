/*  =========================================================================
    zi_keys.h - CURVE key pairs: making them, reading them safely, and
    putting them on sockets

    Keys are kept as 40-character Z85 text, the form ZeroMQ's socket
    options and CZMQ's certificate files use. A key pair lives in two
    files made by `zinfer keygen NAME`: NAME.key holds the public key and
    may be shared; NAME.key_secret holds both keys and must be readable by
    its owner only.
    =========================================================================
*/

#ifndef ZI_KEYS_H_INCLUDED
#define ZI_KEYS_H_INCLUDED

#include <stdbool.h>

#define ZI_KEY_TEXT 41          //  40 Z85 characters and a NUL

typedef struct {
    char public_key [ZI_KEY_TEXT];
    char secret_key [ZI_KEY_TEXT];
} zi_keypair_t;

//  Makes a new key pair and writes it to path (public, mode 0644) and
//  path_secret (both keys, mode 0600). Refuses to overwrite either file.
int
    zi_keys_generate (const char *path, const char *name, zi_keypair_t *pair);

//  Reads a secret key file. Refuses, with a message naming the file and
//  the fix, a file that is missing, not a regular file, not owned by the
//  user running zinfer, or readable or writable by group or others.
int
    zi_keys_load_secret (const char *path, zi_keypair_t *pair);

//  A public key given either as 40 Z85 characters or as the path of a
//  key file (public or secret). key receives the Z85 text.
int
    zi_keys_read_public (const char *text_or_path, char *key);

//  True for 40 characters of valid Z85 that decode to 32 bytes
bool
    zi_keys_valid (const char *text);

//  Who may connect to a socket served with CURVE: the topology's hosts
//  (actor mailboxes, the gateway's results), its clients (the gateway's
//  client endpoint), or both (monitors, where only hosts may tap)
typedef enum {
    ZI_ROLE_HOST,
    ZI_ROLE_CLIENT,
    ZI_ROLE_MONITOR
} zi_role_t;

//  The ZAP domain that names a role, and the user id the ZAP handler
//  gives each peer it lets in (ZeroMQ's "User-Id" message property)
const char *
    zi_role_domain (zi_role_t role);
#define ZI_USER_HOST "host"
#define ZI_USER_CLIENT "client"

//  The next bind or connect of socket uses CURVE: as the server with own
//  keys, letting in the peers of one role, or as a client of the server
//  whose public key is given. Socket options are copied when an endpoint
//  is bound or connected, so the endpoints of one socket can differ;
//  zi_keys_plain turns it off again.
void
    zi_keys_serve (void *socket, const zi_keypair_t *own, zi_role_t role);
void
    zi_keys_connect_as (void *socket, const zi_keypair_t *own, const char *server_public);
void
    zi_keys_plain (void *socket);

//  The key file a command uses as a client: the path given, else the
//  ZINFER_KEY environment variable, else NULL
const char *
    zi_keys_client_path (const char *given);

#endif
