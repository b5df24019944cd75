/*  =========================================================================
    zi_keys - CURVE key pairs: making them, reading them safely, and
    putting them on sockets

    The files are CZMQ certificates (zcert), so any CZMQ or pyzmq program
    can read them. What zinfer adds is care: a secret key file that others
    could read is refused, not used, since whoever reads it can pose as
    that host.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_keys.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

bool
zi_keys_valid (const char *text)
{
    uint8_t binary [32];
    return text && strlen (text) == 40 && zmq_z85_decode (binary, text) != NULL;
}

//  Creates path empty with the given mode, failing if it exists: the
//  certificate is then written into a file that was never more open than
//  it should be
static int
s_create_exclusive (const char *path, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return errno == EEXIST?
            zi_error ("'%s' exists; expected a new file name (keys are never "
                      "overwritten)", path):
            zi_error ("cannot create '%s': %s", path, strerror (errno));
    //  The mode asked for is cut by the umask; make it exact
    fchmod (fd, mode);
    close (fd);
    return 0;
}

int
zi_keys_generate (const char *path, const char *name, zi_keypair_t *pair)
{
    assert (path && pair);
    char secret_path [4096];
    if (snprintf (secret_path, sizeof secret_path, "%s_secret", path) >= (int) sizeof secret_path)
        return zi_error ("path too long: %.80s...", path);
    zcert_t *cert = zcert_new ();
    if (!cert)
        return zi_error ("this ZeroMQ has no CURVE support (built without libsodium)");
    zcert_set_meta (cert, "name", "%s", name? name: "zinfer");
    zcert_set_meta (cert, "made-by", "zinfer keygen");
    int rc = s_create_exclusive (path, 0644);
    if (rc == 0 && (rc = s_create_exclusive (secret_path, 0600)))
        unlink (path);
    if (rc == 0 && (zcert_save_public (cert, path) || zcert_save_secret (cert, secret_path))) {
        rc = zi_error ("cannot write '%s': %s", path, strerror (errno));
        unlink (path);
        unlink (secret_path);
    }
    if (rc == 0) {
        snprintf (pair->public_key, ZI_KEY_TEXT, "%s", zcert_public_txt (cert));
        snprintf (pair->secret_key, ZI_KEY_TEXT, "%s", zcert_secret_txt (cert));
    }
    zcert_destroy (&cert);
    return rc;
}

int
zi_keys_load_secret (const char *path, zi_keypair_t *pair)
{
    assert (path && pair);
    struct stat info;
    if (stat (path, &info))
        return zi_error ("secret key file '%s': %s; expected the NAME.key_secret file "
                         "`zinfer keygen NAME` made", path, strerror (errno));
    if (!S_ISREG (info.st_mode))
        return zi_error ("secret key file '%s' is not a regular file", path);
    if (info.st_uid != geteuid ())
        return zi_error ("secret key file '%s' is owned by uid %d, not by uid %d that runs "
                         "zinfer; refused (chown it, or run as its owner)", path,
                         (int) info.st_uid, (int) geteuid ());
    if (info.st_mode & 077)
        return zi_error ("secret key file '%s' has mode %04o: group or others may read or "
                         "change it; refused (chmod 600 '%s')", path,
                         (unsigned) (info.st_mode & 07777), path);
    //  Not zcert_load: it also reads PATH_secret when that exists, and
    //  then would use a file whose permissions were never checked
    zconfig_t *config = zconfig_load (path);
    const char *public_key = config? zconfig_get (config, "curve/public-key", NULL): NULL;
    const char *secret_key = config? zconfig_get (config, "curve/secret-key", NULL): NULL;
    if (!zi_keys_valid (public_key) || !zi_keys_valid (secret_key)) {
        zconfig_destroy (&config);
        return zi_error ("secret key file '%s' holds no key pair; expected the NAME.key_secret "
                         "file `zinfer keygen NAME` made", path);
    }
    snprintf (pair->public_key, ZI_KEY_TEXT, "%s", public_key);
    snprintf (pair->secret_key, ZI_KEY_TEXT, "%s", secret_key);
    zconfig_destroy (&config);
    char derived [ZI_KEY_TEXT];
    if (zmq_curve_public (derived, pair->secret_key) || strcmp (derived, pair->public_key))
        return zi_error ("secret key file '%s': its public key does not match its secret "
                         "key; expected a file made by `zinfer keygen`", path);
    return 0;
}

int
zi_keys_read_public (const char *text_or_path, char *key)
{
    assert (text_or_path && key);
    if (zi_keys_valid (text_or_path)) {
        snprintf (key, ZI_KEY_TEXT, "%s", text_or_path);
        return 0;
    }
    struct stat info;
    if (stat (text_or_path, &info))
        return zi_error ("'%s' is neither a 40-character Z85 public key nor a key file: %s",
                         text_or_path, strerror (errno));
    if (!S_ISREG (info.st_mode))
        return zi_error ("public key file '%s' is not a regular file", text_or_path);
    zconfig_t *config = zconfig_load (text_or_path);
    const char *public_key = config? zconfig_get (config, "curve/public-key", NULL): NULL;
    if (!zi_keys_valid (public_key)) {
        zconfig_destroy (&config);
        return zi_error ("public key file '%s' holds no public key; expected a file made by "
                         "`zinfer keygen`", text_or_path);
    }
    snprintf (key, ZI_KEY_TEXT, "%s", public_key);
    zconfig_destroy (&config);
    return 0;
}

const char *
zi_role_domain (zi_role_t role)
{
    return role == ZI_ROLE_CLIENT? "zinfer-clients":
           role == ZI_ROLE_MONITOR? "zinfer-monitor": "zinfer-hosts";
}

void
zi_keys_serve (void *socket, const zi_keypair_t *own, zi_role_t role)
{
    int server = 1;
    zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &server, sizeof server);
    zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, own->secret_key, 40);
    //  A domain makes libzmq ask the process's ZAP handler about every
    //  peer (without one it would let any key in); the domain names the
    //  role, so a client's key opens no actor's mailbox
    const char *domain = zi_role_domain (role);
    zmq_setsockopt (socket, ZMQ_ZAP_DOMAIN, domain, strlen (domain));
}

void
zi_keys_connect_as (void *socket, const zi_keypair_t *own, const char *server_public)
{
    zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, server_public, 40);
    zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, own->public_key, 40);
    zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, own->secret_key, 40);
}

void
zi_keys_plain (void *socket)
{
    //  Setting CURVE_SERVER to 0 puts the socket back on the NULL mechanism
    int server = 0;
    zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &server, sizeof server);
    zmq_setsockopt (socket, ZMQ_ZAP_DOMAIN, "", 0);
}

const char *
zi_keys_client_path (const char *given)
{
    if (given && *given)
        return given;
    const char *from_env = getenv ("ZINFER_KEY");
    return from_env && *from_env? from_env: NULL;
}


//  --------------------------------------------------------------------------
//  Self test: key files, and the ZAP handler letting in only known keys

#include "zi_zap.h"

//  Sends a request from a client with the given keys to the CURVE server
//  and says whether it arrived and the answer came back
static bool
s_try_request (void *context, void *server, const char *endpoint, const zi_keypair_t *client,
               const char *server_public)
{
    void *socket = zmq_socket (context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    if (client)
        zi_keys_connect_as (socket, client, server_public);
    zmq_connect (socket, endpoint);
    zmq_send (socket, "ping", 4, ZMQ_DONTWAIT);
    bool answered = false;
    zmq_pollitem_t item = {server, 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, 1500) == 1) {
        zmq_msg_t identity, body;
        zmq_msg_init (&identity);
        zmq_msg_init (&body);
        zmq_msg_recv (&identity, server, 0);
        zmq_msg_recv (&body, server, 0);
        zmq_msg_send (&identity, server, ZMQ_SNDMORE);
        zmq_msg_send (&body, server, 0);
        zmq_msg_close (&identity);
        zmq_msg_close (&body);
        char reply [8];
        int timeout = 1500;
        zmq_setsockopt (socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        answered = zmq_recv (socket, reply, sizeof reply, 0) == 4;
    }
    zmq_close (socket);
    return answered;
}

void
zi_keys_test (zi_test_t *t)
{
    char folder [] = "/tmp/zi_keys_XXXXXX";
    ZI_CHECK (t, mkdtemp (folder) != NULL, "temporary folder");
    char path [128], secret [160];
    snprintf (path, sizeof path, "%s/host.key", folder);
    snprintf (secret, sizeof secret, "%s_secret", path);
    zi_keypair_t made, loaded;
    ZI_CHECK (t, zi_keys_generate (path, "host", &made) == 0, "keygen: %s", zi_error_text ());
    struct stat info;
    ZI_CHECK (t, stat (secret, &info) == 0 && (info.st_mode & 0777) == 0600,
              "the secret file is made mode 0600");
    ZI_CHECK (t, zi_keys_generate (path, "host", &loaded) == -1
              && strstr (zi_error_text (), "exists"), "keygen never overwrites: %s",
              zi_error_text ());
    ZI_CHECK (t, zi_keys_load_secret (secret, &loaded) == 0
              && strcmp (loaded.public_key, made.public_key) == 0
              && strcmp (loaded.secret_key, made.secret_key) == 0,
              "the secret file reads back: %s", zi_error_text ());
    char key [ZI_KEY_TEXT];
    ZI_CHECK (t, zi_keys_read_public (path, key) == 0 && strcmp (key, made.public_key) == 0,
              "the public file reads back");
    ZI_CHECK (t, zi_keys_read_public (made.public_key, key) == 0, "Z85 text is a key");
    ZI_CHECK (t, zi_keys_read_public ("not-a-key", key) == -1
              && strstr (zi_error_text (), "neither"), "garbage is no key: %s", zi_error_text ());

    chmod (secret, 0644);
    ZI_CHECK (t, zi_keys_load_secret (secret, &loaded) == -1
              && strstr (zi_error_text (), "0644") && strstr (zi_error_text (), "chmod 600"),
              "a secret file others can read is refused: %s", zi_error_text ());
    chmod (secret, 0640);
    ZI_CHECK (t, zi_keys_load_secret (secret, &loaded) == -1, "group-readable refused too");
    chmod (secret, 0600);
    chmod (path, 0600);
    ZI_CHECK (t, zi_keys_load_secret (path, &loaded) == -1
              && strstr (zi_error_text (), "holds no key pair"),
              "a public file is no secret one: %s", zi_error_text ());
    char missing [160];
    snprintf (missing, sizeof missing, "%s/none.key_secret", folder);
    ZI_CHECK (t, zi_keys_load_secret (missing, &loaded) == -1
              && strstr (zi_error_text (), "No such file"), "a missing file: %s", zi_error_text ());

    //  The ZAP handler lets in the keys it knows, and only those
    zi_keypair_t client, stranger;
    char client_path [128], stranger_path [128];
    snprintf (client_path, sizeof client_path, "%s/client.key", folder);
    snprintf (stranger_path, sizeof stranger_path, "%s/stranger.key", folder);
    zi_keys_generate (client_path, "client", &client);
    zi_keys_generate (stranger_path, "stranger", &stranger);
    void *context = zmq_ctx_new ();
    const char *hosts [] = {made.public_key};
    const char *clients [] = {client.public_key};
    zi_zap_t *zap = zi_zap_new (context, 1, hosts, 1, clients, "keys test");
    ZI_CHECK (t, zap != NULL, "ZAP handler starts");
    void *server = zmq_socket (context, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (server, ZMQ_LINGER, &linger, sizeof linger);
    zi_keys_serve (server, &made, ZI_ROLE_CLIENT);
    zmq_bind (server, "tcp://127.0.0.1:*");
    char endpoint [64];
    size_t size = sizeof endpoint;
    zmq_getsockopt (server, ZMQ_LAST_ENDPOINT, endpoint, &size);
    ZI_CHECK (t, s_try_request (context, server, endpoint, &client, made.public_key),
              "a listed client key is answered");
    ZI_CHECK (t, !s_try_request (context, server, endpoint, &stranger, made.public_key),
              "an unknown key is refused");
    ZI_CHECK (t, !s_try_request (context, server, endpoint, NULL, NULL),
              "a plain peer is refused");
    ZI_CHECK (t, !s_try_request (context, server, endpoint, &client, stranger.public_key),
              "a client that expects another server gets nothing");
    ZI_CHECK (t, !s_try_request (context, server, endpoint, &made, made.public_key),
              "a host's key is refused where clients connect");
    //  Where hosts connect, a client's key is refused
    void *mailbox = zmq_socket (context, ZMQ_ROUTER);
    zmq_setsockopt (mailbox, ZMQ_LINGER, &linger, sizeof linger);
    zi_keys_serve (mailbox, &made, ZI_ROLE_HOST);
    zmq_bind (mailbox, "tcp://127.0.0.1:*");
    char mailbox_endpoint [64];
    size = sizeof mailbox_endpoint;
    zmq_getsockopt (mailbox, ZMQ_LAST_ENDPOINT, mailbox_endpoint, &size);
    ZI_CHECK (t, !s_try_request (context, mailbox, mailbox_endpoint, &client, made.public_key),
              "a client's key is refused where hosts connect");
    ZI_CHECK (t, s_try_request (context, mailbox, mailbox_endpoint, &made, made.public_key),
              "a host's key is let in where hosts connect");
    zmq_close (mailbox);
    char last [256];
    zi_zap_last_refusal (zap, last, sizeof last);
    ZI_CHECK (t, zi_zap_accepted (zap) >= 1 && zi_zap_refused (zap) >= 1
              && strstr (last, client.public_key) && strstr (last, "only hosts"),
              "refusals are counted (%llu) and name the key: %s",
              (unsigned long long) zi_zap_refused (zap), last);
    zmq_close (server);
    zi_zap_destroy (&zap);
    zmq_ctx_term (context);
    const char *files [] = {path, secret, client_path, stranger_path};
    for (int index = 0; index < 4; index++) {
        char other [200];
        snprintf (other, sizeof other, "%s_secret", files [index]);
        unlink (files [index]);
        unlink (other);
    }
    rmdir (folder);
}
