/*  =========================================================================
    zi_runtime_test - a whole deployment inside the test binary

    `zinfer worker` runs zi_worker_run: threads, actors, the gateway and
    the monitor of one process. Here it runs on a thread of the test
    itself, one process of two worker threads serving the digits CNN, and
    the test is its client, as CZMQ's actor tests talk to the actor they
    start: requests from the C client over tcp and ipc, several in flight,
    each answer compared bit for bit with a local session of the same
    model; the monitor's STATS counting what was sent; a malformed frame
    and a wrongly shaped input refused while the runtime keeps serving;
    then SIGTERM, as the launcher stops a worker, and nothing left behind
    (the AddressSanitizer build checks for leaks at exit). Then once more
    with CURVE: the process's ZAP handler lets the listed client in and
    refuses a stranger, and the monitor counts both. A test sits on
    top of what it tests: this one uses client/ (zi_client, zi_watch),
    which the runtime itself never does.
    =========================================================================
*/

#include "zi_worker.h"
#include "zi_watch.h"
#include "zi_keys.h"
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <zmq.h>

//  Its ports come from the test suite's plan (tests/ports.cmake)
#ifndef ZI_RUNTIME_TEST_PORT
#define ZI_RUNTIME_TEST_PORT 30700
#endif

#define S_IN_FLIGHT 48          //  requests sent before the first answer is read
#define S_TIMEOUT_MSECS 30000   //  generous: the sanitizer builds are slow

//  The worker process's main, on a thread of the test
typedef struct {
    zi_deploy_t *deploy;        //  the deployment, not owned
    char control [256];         //  where it reports READY
    pthread_t handle;
    int rc;                     //  zi_worker_run's exit code
} s_worker_t;

static void *
s_worker_main (void *args)
{
    s_worker_t *self = args;
    self->rc = zi_worker_run (self->deploy, 0, self->control, true);
    return NULL;
}

//  A file beside the sources
static void
s_source_path (const char *relative, char *path, size_t size)
{
    const char *source = __FILE__;
    const char *slash = strrchr (source, '/');
    snprintf (path, size, "%.*s../../%s", slash? (int) (slash - source + 1): 0, source,
              relative);
}

static bool
s_same (const zi_tensor_t *got, const zi_tensor_t *want)
{
    return got && want && got->dtype == want->dtype && got->ndim == want->ndim
        && memcmp (got->dims, want->dims, want->ndim * sizeof (int64_t)) == 0
        && got->nbytes == want->nbytes && memcmp (got->data, want->data, want->nbytes) == 0;
}

//  Image index of images, as a request's input (borrowing its data)
static zi_tensor_t *
s_image (const zi_tensor_t *images, int index)
{
    int64_t dims [4] = {1, images->dims [1], images->dims [2], images->dims [3]};
    size_t size = zi_shape_count (3, dims + 1) * sizeof (float);
    return zi_tensor_wrap (ZI_F32, 4, dims, (char *) images->data + index * size, NULL, NULL);
}

//  Requests from one client, all sent before any answer is read; true if
//  every answer came, the same as the local session's
static bool
s_serve_in_flight (zi_test_t *t, zi_client_t *client, const zi_tensor_t *images,
                   zi_tensor_t **expected, int count)
{
    //  Each request sent once, however slow a sanitizer build is: the
    //  gateway's counters are then exactly what the test sent
    zi_client_set_resend (client, -1);
    uint64_t ids [S_IN_FLIGHT];
    bool sent = true;
    for (int image = 0; image < count; image++) {
        zi_tensor_t *input = s_image (images, image);
        sent &= zi_client_send (client, &input, 1, &ids [image]) == 0;
        zi_tensor_destroy (&input);         //  the client keeps its own reference
    }
    ZI_CHECK (t, sent && zi_client_pending (client) == count, "%d requests in flight from "
              "%s (%d pending)", count, zi_client_endpoint (client), zi_client_pending (client));
    int same = 0, answered = 0;
    for (int answer = 0; answer < count; answer++) {
        uint64_t id = 0;
        zi_tensor_t *output = NULL;
        int n_outputs = 0;
        if (zi_client_recv (client, &id, &output, 1, &n_outputs, S_TIMEOUT_MSECS)) {
            ZI_CHECK (t, false, "answer %d: %s", answer, zi_error_text ());
            break;
        }
        answered++;
        for (int image = 0; image < count; image++)
            if (ids [image] == id && n_outputs == 1 && s_same (output, expected [image]))
                same++;
        zi_tensor_destroy (&output);
    }
    ZI_CHECK (t, answered == count && same == count, "%d of %d answers, %d bit for bit the "
              "local session's", answered, count, same);
    return same == count;
}

//  A frame that is no request, straight to the gateway: it answers with
//  an error, not with silence or a crash
static void
s_check_malformed (zi_test_t *t, const char *endpoint)
{
    void *context = zmq_ctx_new ();
    void *dealer = zmq_socket (context, ZMQ_DEALER);
    int linger = 0, timeout = S_TIMEOUT_MSECS;
    zmq_setsockopt (dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect (dealer, endpoint);
    zmq_send (dealer, "no msgpack header here", 22, 0);
    zi_msg_header_t header = {0};
    zi_tensor_t *tensor = NULL;
    int rc = zi_msg_recv (dealer, &header, &tensor, NULL, false);
    ZI_CHECK (t, rc == 0 && header.kind == ZI_MSG_ERROR
              && strstr (header.text, "malformed request"),
              "a malformed frame gets an error answer: %s",
              rc? zi_error_text (): header.text);
    zi_tensor_destroy (&tensor);
    zmq_close (dealer);
    zmq_ctx_term (context);
}

//  The monitor's STATS of the only process, once the gateway has counted
//  the replies expected (it counts them as it sends them)
static bool
s_stats (zi_watch_t *watch, uint64_t replies, zi_watch_reply_t *reply)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        zi_watch_query (watch, -1, "STATS", NULL, -1, S_TIMEOUT_MSECS, reply);
        const msgpack_object *gateway = reply->answered?
            zi_watch_get (&reply->reply.data, "gateway"): NULL;
        if (gateway && gateway->type == MSGPACK_OBJECT_MAP
        &&  zi_watch_number (gateway, "replies") >= replies)
            return true;
        zi_watch_replies_clear (watch, reply);
        usleep (20000);
    }
    return false;
}

static void
s_check_stats (zi_test_t *t, zi_deploy_t *deploy, uint64_t served, uint64_t refused)
{
    zi_watch_t *watch = zi_watch_new (deploy);
    zi_watch_reply_t reply [1];
    memset (reply, 0, sizeof reply);
    zi_watch_query (watch, -1, "PING", NULL, -1, S_TIMEOUT_MSECS, reply);
    char text [64];
    ZI_CHECK (t, reply->answered && strcmp (zi_watch_string (&reply->reply.data, "kind", text,
              sizeof text), "pong") == 0, "the monitor answers PING");
    zi_watch_replies_clear (watch, reply);
    zi_watch_query (watch, -1, "NO SUCH QUERY", NULL, -1, S_TIMEOUT_MSECS, reply);
    ZI_CHECK (t, reply->answered && strcmp (zi_watch_string (&reply->reply.data, "kind", text,
              sizeof text), "error") == 0, "the monitor answers an unknown query with an error");
    zi_watch_replies_clear (watch, reply);

    bool answered = s_stats (watch, served, reply);
    ZI_CHECK (t, answered, "the monitor answers STATS, its gateway counting %llu replies",
              (unsigned long long) served);
    if (answered) {
        const msgpack_object *stats = &reply->reply.data;
        const msgpack_object *gateway = zi_watch_get (stats, "gateway");
        ZI_CHECK (t, strcmp (zi_watch_string (stats, "process", text, sizeof text), "main") == 0
                  && zi_watch_number (stats, "threads") == 2
                  && zi_watch_number (stats, "pid") == getpid (),
                  "STATS names process 'main' of this very process, 2 threads");
        ZI_CHECK (t, zi_watch_number (gateway, "requests") == served
                  && zi_watch_number (gateway, "replies") == served
                  && zi_watch_number (gateway, "rejected") == refused,
                  "the gateway admitted and answered %llu requests and refused %llu "
                  "(%.0f, %.0f, %.0f)", (unsigned long long) served,
                  (unsigned long long) refused, zi_watch_number (gateway, "requests"),
                  zi_watch_number (gateway, "replies"), zi_watch_number (gateway, "rejected"));
        ZI_CHECK (t, zi_watch_number (stats, "bad_queries") == 1, "one bad query counted (%.0f)",
                  zi_watch_number (stats, "bad_queries"));
        //  Every actor computed every request, on the thread the deployment gave it
        const msgpack_object *actors = zi_watch_get (stats, "actors");
        bool all = actors && actors->type == MSGPACK_OBJECT_ARRAY
                && (int) actors->via.array.size == deploy->n_actors;
        for (uint32_t index = 0; all && index < actors->via.array.size; index++) {
            const msgpack_object *actor = &actors->via.array.ptr [index];
            int which = (int) zi_watch_number (actor, "index");
            all = which >= 0 && which < deploy->n_actors
               && zi_watch_number (actor, "requests") == served
               && zi_watch_number (actor, "errors") == 0
               && zi_watch_number (actor, "rejected") == 0
               && zi_watch_number (actor, "thread") == deploy->actors [which].thread;
        }
        ZI_CHECK (t, all, "each of the %d actors computed the %llu requests on its thread, "
                  "with no error", deploy->n_actors, (unsigned long long) served);
    }
    zi_watch_replies_clear (watch, reply);
    //  Kept answers are hashed once the thread has been idle a moment: no
    //  request's input stays held for it (asked again for up to a second)
    double held = -1;
    for (int attempt = 0; attempt < 50 && held != 0; attempt++) {
        if (attempt)
            usleep (20000);
        zi_watch_query (watch, -1, "STATS", NULL, -1, S_TIMEOUT_MSECS, reply);
        const msgpack_object *gateway = reply->answered?
            zi_watch_get (&reply->reply.data, "gateway"): NULL;
        held = gateway? zi_watch_number (gateway, "unsigned_kept"): -1;
        zi_watch_replies_clear (watch, reply);
    }
    ZI_CHECK (t, held == 0, "every kept answer hashed once idle, none holding its inputs "
              "(%.0f still held)", held);
    zi_watch_destroy (&watch);
}

//  Requests over both endpoints, refusals, STATS; the worker is running
static void
s_exercise (zi_test_t *t, zi_deploy_t *deploy, const zi_tensor_t *images,
            zi_tensor_t **expected, int count)
{
    uint64_t served = 0, refused = 0;
    char endpoint [256];
    zi_deploy_client_endpoint (deploy, endpoint, sizeof endpoint);
    zi_client_t *remote = zi_client_new (endpoint);
    ZI_CHECK (t, remote != NULL, "a client connects over tcp: %s",
              remote? endpoint: zi_error_text ());
    if (remote && s_serve_in_flight (t, remote, images, expected, count))
        served += count;

    //  On the gateway's host, under its user, a client takes ipc
    zi_client_t *local = zi_deploy_client (deploy, NULL);
    const char *where = local? zi_client_endpoint (local): "";
    ZI_CHECK (t, local && strncmp (where, "ipc://", 6) == 0,
              "a client of the topology on this host takes ipc (%s)",
              local? where: zi_error_text ());
    if (local && s_serve_in_flight (t, local, images, expected, count / 2))
        served += count / 2;

    //  Refused: a frame that is no request, and an input of the wrong shape
    s_check_malformed (t, endpoint);
    refused++;
    if (remote) {
        int64_t dims [4] = {1, 1, 4, 4};
        zi_tensor_t *wrong = zi_tensor_new (ZI_F32, 4, dims);
        memset (wrong->data, 0, wrong->nbytes);
        zi_tensor_t *output = NULL;
        int rc = zi_client_infer (remote, &wrong, 1, &output, 1, S_TIMEOUT_MSECS);
        ZI_CHECK (t, rc < 0 && strstr (zi_error_text (), "expected float32 [1, 1, 8, 8], "
                  "got float32 [1, 1, 4, 4]"), "a wrongly shaped input is refused: %s",
                  rc < 0? zi_error_text (): "answered");
        refused++;
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&wrong);

        //  ... and the runtime serves on
        zi_tensor_t *input = s_image (images, count - 1);
        rc = zi_client_infer (remote, &input, 1, &output, 1, S_TIMEOUT_MSECS);
        ZI_CHECK (t, rc == 1 && s_same (output, expected [count - 1]),
                  "after the refusals it still answers, bit for bit: %s",
                  rc == 1? "yes": zi_error_text ());
        served += rc == 1;
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
    }
    s_check_stats (t, deploy, served, refused);
    zi_client_destroy (&local);
    zi_client_destroy (&remote);
}

//  With CURVE on: the listed client's requests, the monitor read with
//  its key, a stranger's key refused by the ZAP handler and counted
static void
s_exercise_curve (zi_test_t *t, const char *path, const char *folder,
                  const zi_tensor_t *images, zi_tensor_t **expected, int count)
{
    //  A client computes its side from the YAML alone, with its own key
    char client_key [256], stranger_key [256], host_key [256];
    snprintf (client_key, sizeof client_key, "%s/client.key_secret", folder);
    snprintf (stranger_key, sizeof stranger_key, "%s/stranger.key_secret", folder);
    snprintf (host_key, sizeof host_key, "%s/host.key", folder);
    zi_deploy_t *mine = zi_deploy_new_endpoints (path, 0);
    bool keyed = mine && zi_deploy_load_client_key (mine, client_key) == 0;
    ZI_CHECK (t, keyed, "the client side loads its key: %s", keyed? "yes": zi_error_text ());
    if (!keyed) {
        zi_deploy_destroy (&mine);
        return;
    }
    zi_client_t *client = zi_deploy_client (mine, NULL);
    const char *where = client? zi_client_endpoint (client): "";
    ZI_CHECK (t, client && strncmp (where, "tcp://", 6) == 0,
              "with CURVE on, a client takes tcp even on the gateway's host (%s)",
              client? where: zi_error_text ());
    if (client)
        s_serve_in_flight (t, client, images, expected, count / 4);

    char endpoint [256];
    zi_deploy_client_endpoint (mine, endpoint, sizeof endpoint);
    zi_client_t *stranger = zi_client_new_secure (endpoint, host_key, stranger_key);
    if (stranger) {
        zi_tensor_t *input = s_image (images, 0);
        zi_tensor_t *output = NULL;
        int rc = zi_client_infer (stranger, &input, 1, &output, 1, 2000);
        ZI_CHECK (t, rc < 0 && strstr (zi_error_text (), "refused this client's key"),
                  "a key the topology does not list is refused: %s",
                  rc < 0? zi_error_text (): "answered");
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
    }
    ZI_CHECK (t, stranger != NULL, "a stranger's client starts: %s",
              stranger? "yes": zi_error_text ());

    zi_watch_t *watch = zi_watch_new (mine);
    zi_watch_reply_t reply [1];
    memset (reply, 0, sizeof reply);
    zi_watch_query (watch, -1, "STATS", NULL, -1, S_TIMEOUT_MSECS, reply);
    const msgpack_object *security = reply->answered?
        zi_watch_get (&reply->reply.data, "security"): NULL;
    const msgpack_object *curve = security? zi_watch_get (security, "curve"): NULL;
    char last [256] = "";
    if (security)
        zi_watch_string (security, "last_refusal", last, sizeof last);
    ZI_CHECK (t, curve && curve->type == MSGPACK_OBJECT_BOOLEAN && curve->via.boolean
              && zi_watch_number (security, "accepted") >= 2
              && zi_watch_number (security, "refused") >= 1
              && strstr (last, "unknown public key"),
              "the monitor, asked with the client's key, counts the keys let in (%.0f) "
              "and refused (%.0f): %s", security? zi_watch_number (security, "accepted"): 0,
              security? zi_watch_number (security, "refused"): 0, last);
    zi_watch_replies_clear (watch, reply);
    zi_watch_destroy (&watch);
    zi_client_destroy (&stranger);
    zi_client_destroy (&client);
    zi_deploy_destroy (&mine);
}

//  Waits for the worker's report; true on READY
static bool
s_wait_ready (zi_test_t *t, void *control)
{
    char report [800] = "";
    int size = zmq_recv (control, report, sizeof report - 1, 0);
    if (size > 0)
        report [size < (int) sizeof report? size: (int) sizeof report - 1] = 0;
    bool ready = strncmp (report, "READY main ", 11) == 0;
    ZI_CHECK (t, ready, "the worker reports READY: %s", size < 0? "nothing came": report);
    return ready;
}

//  Writes the topology, deploys it, runs its one process on a thread of
//  the test while exercise runs, then stops it with SIGTERM
static void
s_run (zi_test_t *t, const char *folder, const char *name, const char *yaml,
       const zi_tensor_t *images, zi_tensor_t **expected, int count, bool curve)
{
    char path [256];
    snprintf (path, sizeof path, "%s/%s.yaml", folder, name);
    FILE *file = fopen (path, "w");
    if (file) {
        fputs (yaml, file);
        fclose (file);
    }
    zi_deploy_t *deploy = zi_deploy_new (path, 0);
    ZI_CHECK (t, deploy && zi_deploy_make_ipc_dir (deploy) == 0, "%s deploys: %s", name,
              deploy? "yes": zi_error_text ());
    //  The worker reports to the test as to a launcher
    void *context = zmq_ctx_new ();
    void *control = zmq_socket (context, ZMQ_PULL);
    int timeout = S_TIMEOUT_MSECS, linger = 0;
    zmq_setsockopt (control, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (control, ZMQ_LINGER, &linger, sizeof linger);
    s_worker_t worker = {.deploy = deploy, .rc = -1};
    snprintf (worker.control, sizeof worker.control, "ipc://%s/control", folder);
    bool started = deploy && zmq_bind (control, worker.control) == 0
                && pthread_create (&worker.handle, NULL, s_worker_main, &worker) == 0;
    if (started) {
        if (s_wait_ready (t, control)) {
            if (curve)
                s_exercise_curve (t, path, folder, images, expected, count);
            else
                s_exercise (t, deploy, images, expected, count);
        }
        //  Stopped as the launcher stops it
        raise (SIGTERM);
        pthread_join (worker.handle, NULL);
        ZI_CHECK (t, worker.rc == 0, "%s: SIGTERM stops the worker cleanly (exit code %d)",
                  name, worker.rc);
    }
    zmq_close (control);
    zmq_ctx_term (context);
    unlink (worker.control + strlen ("ipc://"));
    if (deploy) {
        //  The gateway's ipc endpoint outlives it, as a file (clients
        //  probe it before they connect)
        char socket_path [256];
        snprintf (socket_path, sizeof socket_path, "%s/clients", deploy->ipc_dir);
        unlink (socket_path);
        rmdir (deploy->ipc_dir);
    }
    zi_deploy_destroy (&deploy);
    unlink (path);
}

void
zi_runtime_test (zi_test_t *t)
{
    char folder [] = "/tmp/zi-runtime-test-XXXXXX";
    if (!mkdtemp (folder)) {
        ZI_CHECK (t, false, "mkdtemp: %s", strerror (errno));
        return;
    }
    char model_path [1024], images_path [1024];
    s_source_path ("tests/models/digits/digits.onnx", model_path, sizeof model_path);
    s_source_path ("tests/models/digits/digits_x.npy", images_path, sizeof images_path);

    //  The answers to compare with: a local session of the same model
    zi_tensor_t *images = zi_npy_load (images_path);
    zi_model_t *model = zi_model_load (model_path);
    zi_options_t options = {.threads = 1};
    zi_session_t *session = model? zi_session_new (model, &options): NULL;
    int count = images? (int) images->dims [0]: 0;
    if (count > S_IN_FLIGHT)
        count = S_IN_FLIGHT;
    zi_tensor_t *expected [S_IN_FLIGHT] = {NULL};
    bool local = session && images && images->ndim == 4 && count >= 4;
    for (int image = 0; local && image < count; image++) {
        zi_tensor_t *input = s_image (images, image);
        local = zi_session_run (session, &input, &expected [image]) == 0;
        zi_tensor_destroy (&input);
    }
    ZI_CHECK (t, local, "the local session answers %d images: %s", count,
              local? "yes": zi_error_text ());
    //  The test's own handler takes SIGTERM before any worker runs, so
    //  that the stop can never end the test instead, whatever became of
    //  the worker
    zi_signals_install ();

    //  One process, its two threads; everything else as a topology
    //  leaves it by default
    char yaml [2048];
    snprintf (yaml, sizeof yaml, "name: runtime-test\nmodel: %s\ninput_shape: [1, 1, 8, 8]\n"
              "base_port: %d\nprocesses:\n  - name: main\n    threads: 2\n", model_path,
              ZI_RUNTIME_TEST_PORT);
    if (local)
        s_run (t, folder, "runtime", yaml, images, expected, count, false);

    //  The same with CURVE, keys made for the host, a client and a stranger
    char key [256];
    zi_keypair_t pair;
    bool keys = true;
    const char *names [] = {"host", "client", "stranger"};
    for (int index = 0; index < 3; index++) {
        snprintf (key, sizeof key, "%s/%s.key", folder, names [index]);
        keys &= zi_keys_generate (key, names [index], &pair) == 0;
    }
    memset (&pair, 0, sizeof pair);
    ZI_CHECK (t, keys, "keys for the host, a client and a stranger: %s",
              keys? "yes": zi_error_text ());
    snprintf (yaml, sizeof yaml, "name: runtime-curve\nmodel: %s\ninput_shape: [1, 1, 8, 8]\n"
              "base_port: %d\nhosts:\n  - name: local\n    address: 127.0.0.1\n"
              "    public_key: host.key\n    secret_key_file: host.key_secret\n"
              "security: {curve: true, clients: [client.key]}\n"
              "processes:\n  - name: main\n    threads: 2\n", model_path,
              ZI_RUNTIME_TEST_PORT + 50);
    if (local && keys)
        s_run (t, folder, "curve", yaml, images, expected, count, true);
    for (int index = 0; index < 3; index++) {
        snprintf (key, sizeof key, "%s/%s.key", folder, names [index]);
        unlink (key);
        snprintf (key, sizeof key, "%s/%s.key_secret", folder, names [index]);
        unlink (key);
    }

    for (int image = 0; image < S_IN_FLIGHT; image++)
        zi_tensor_destroy (&expected [image]);
    zi_session_destroy (&session);
    zi_model_destroy (&model);
    zi_tensor_destroy (&images);
    rmdir (folder);
}
