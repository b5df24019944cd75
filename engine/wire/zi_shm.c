/*  =========================================================================
    zi_shm - request inputs through shared memory, on the gateway's host

    Through a socket a 588 KiB input is copied into the kernel and out
    again, a socket buffer at a time, each round waking the I/O threads of
    both processes. Through shared memory the client copies it once into a
    block it keeps for the next request (or makes the input there in the
    first place), the gateway once out of it, and the message that travels
    is a few dozen bytes.

    Trust: the gateway follows references only from ipc peers, and only to
    blocks named after the peer's own process id, which the kernel reports
    for the connection. A client can make the gateway read nothing but its
    own blocks; a tcp client, which may be on another host, none at all.
    Blocks are created for this user only (mode 0600). The gateway keeps
    each block open and mapped, and copies an input out of the mapping
    into a tensor of its own (kernels never read a client's memory, which
    the client could change under them). A client that shrinks its block
    would make that copy fault with SIGBUS: the copy runs under a guard
    that turns the fault into a refusal (s_guarded_copy).
    =========================================================================
*/

#include "zi_shm.h"
#include "zi_msg.h"
#include "zi_hash.h"
#include <czmq.h>
#include <msgpack.h>
#include <zmq.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define S_PREFIX "/zinfer-"
#define S_CACHE_MAX 256                 //  blocks a gateway keeps mapped
#define S_CACHE_MAX_BYTES (INT64_C (1) << 30)   //  and their bytes at most
#define S_BLOCK_MAX (INT64_C (1) << 38) //  the largest tensor zinfer takes

//  --------------------------------------------------------------------------
//  Reference frames: msgpack [name, offset, size]

size_t
zi_shm_ref_encode (const zi_shm_ref_t *ref, unsigned char *buffer, size_t size)
{
    msgpack_sbuffer sbuffer;
    msgpack_sbuffer_init (&sbuffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &sbuffer, msgpack_sbuffer_write);
    size_t length = strlen (ref->name);
    msgpack_pack_array (&packer, 3);
    msgpack_pack_str (&packer, length);
    msgpack_pack_str_body (&packer, ref->name, length);
    msgpack_pack_uint64 (&packer, ref->offset);
    msgpack_pack_uint64 (&packer, ref->size);
    size_t written = sbuffer.size <= size? sbuffer.size: 0;
    if (written)
        memcpy (buffer, sbuffer.data, written);
    msgpack_sbuffer_destroy (&sbuffer);
    return written;
}

int
zi_shm_ref_decode (const void *data, size_t size, zi_shm_ref_t *ref)
{
    memset (ref, 0, sizeof *ref);
    if (size == 0 || size > 128 || !zi_msgpack_plausible (data, size))
        return zi_error ("shared memory: a reference frame of %zu bytes is not msgpack "
                         "[name, offset, size]", size);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    int rc = -1;
    if (msgpack_unpack_next (&unpacked, data, size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        msgpack_object object = unpacked.data;
        msgpack_object *items = object.via.array.ptr;
        if (object.type == MSGPACK_OBJECT_ARRAY && object.via.array.size == 3
        &&  items [0].type == MSGPACK_OBJECT_STR
        &&  items [0].via.str.size > 0              //  msgpack-c: no pointer when empty
        &&  items [0].via.str.size < ZI_SHM_NAME_MAX
        &&  items [1].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        &&  items [2].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            memcpy (ref->name, items [0].via.str.ptr, items [0].via.str.size);
            ref->name [items [0].via.str.size] = 0;
            ref->offset = items [1].via.u64;
            ref->size = items [2].via.u64;
            rc = strlen (ref->name) == items [0].via.str.size? 0: -1;
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    if (rc)
        zi_error ("shared memory: expected a reference [name, offset, size], got something "
                  "else");
    return rc;
}

//  --------------------------------------------------------------------------
//  Client side

struct zi_shm_block_t {
    char name [ZI_SHM_NAME_MAX];
    void *data;
    size_t size;
};

zi_shm_block_t *
zi_shm_block_new (size_t size)
{
    static atomic_uint sequence;
    size = (size + 65535) / 65536 * 65536;
    if (size == 0 || (int64_t) size > S_BLOCK_MAX) {
        zi_error ("shared memory: a block of %zu bytes is out of range", size);
        return NULL;
    }
    zi_shm_block_t *self = calloc (1, sizeof (zi_shm_block_t));
    assert (self);
    int fd = -1;
    //  A random part keeps a name unused even when a dead client's pid
    //  comes round again and its blocks were never swept
    for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
        uint32_t random = 0;
        if (getrandom (&random, sizeof random, 0) != sizeof random)
            random = (uint32_t) zi_clock_usecs () * 2654435761u;
        snprintf (self->name, sizeof self->name, S_PREFIX "%d-%u-%08x", (int) getpid (),
                  atomic_fetch_add (&sequence, 1), random);
        fd = shm_open (self->name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        zi_error ("shared memory: cannot create a block: %s", strerror (errno));
        free (self);
        return NULL;
    }
    if (ftruncate (fd, (off_t) size) == 0)
        self->data = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int error = errno;
    close (fd);
    if (!self->data || self->data == MAP_FAILED) {
        zi_error ("shared memory: cannot size or map a %zu-byte block: %s", size,
                  strerror (error));
        shm_unlink (self->name);
        free (self);
        return NULL;
    }
    self->size = size;
    return self;
}

void
zi_shm_block_destroy (zi_shm_block_t **self_p)
{
    assert (self_p);
    zi_shm_block_t *self = *self_p;
    if (!self)
        return;
    munmap (self->data, self->size);
    shm_unlink (self->name);
    free (self);
    *self_p = NULL;
}

void *
zi_shm_block_data (zi_shm_block_t *self)
{
    return self->data;
}

size_t
zi_shm_block_size (const zi_shm_block_t *self)
{
    return self->size;
}

const char *
zi_shm_block_name (const zi_shm_block_t *self)
{
    return self->name;
}

//  The pid a block name carries, or -1 if it is not one of ours
static int
s_owner (const char *name)
{
    if (strncmp (name, S_PREFIX, strlen (S_PREFIX)) != 0)
        return -1;
    const char *at = name + strlen (S_PREFIX);
    if (!isdigit ((unsigned char) *at))
        return -1;              //  strtol would skip blanks and take a sign
    char *end = NULL;
    long pid = strtol (at, &end, 10);
    if (end == at || *end != '-' || pid <= 0 || pid > INT32_MAX)
        return -1;
    for (const char *rest = end; *rest; rest++)
        if (!isxdigit ((unsigned char) *rest) && *rest != '-')
            return -1;
    return (int) pid;
}

void
zi_shm_sweep (void)
{
    DIR *folder = opendir ("/dev/shm");
    if (!folder)
        return;
    struct dirent *entry;
    while ((entry = readdir (folder))) {
        char name [ZI_SHM_NAME_MAX + 1];
        if (strlen (entry->d_name) + 2 > sizeof name)
            continue;
        snprintf (name, sizeof name, "/%s", entry->d_name);
        int pid = s_owner (name);
        struct stat info;
        if (pid > 0 && kill (pid, 0) < 0 && errno == ESRCH
        &&  fstatat (dirfd (folder), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) == 0
        &&  S_ISREG (info.st_mode) && info.st_uid == geteuid ())
            shm_unlink (name);
    }
    closedir (folder);
}

//  --------------------------------------------------------------------------
//  Gateway side

typedef struct {
    int fd;                     //  the block, open read-only
    const void *map;            //  mapped read-only, or NULL (then read with pread)
    size_t size;                //  its size when opened
    uint64_t used;              //  the cache's clock when last read
} s_mapping_t;

//  Copying out of a mapping costs a memcpy; pread also looks each 4 KiB
//  page up in the file (0.15 ms against 0.09 ms for 588 KiB here). But a
//  block its client shrank faults the copy with SIGBUS. The copy runs
//  under a guard: the handler jumps back out of it and the read is
//  refused. A SIGBUS anywhere else goes to whatever handled it before
static _Thread_local sigjmp_buf *volatile s_guard;     //  volatile: the handler reads it
static struct sigaction s_bus_before;
static pthread_once_t s_bus_once = PTHREAD_ONCE_INIT;

static void
s_on_bus (int signal, siginfo_t *info, void *context)
{
    (void) signal;
    (void) info;
    (void) context;
    if (s_guard)
        siglongjmp (*s_guard, 1);
    //  Not in a guarded copy: put the previous handler back, and the
    //  access that faulted faults again, as it would have without us
    sigaction (SIGBUS, &s_bus_before, NULL);
}

static void
s_bus_install (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_sigaction = s_on_bus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset (&action.sa_mask);
    sigaction (SIGBUS, &action, &s_bus_before);
}

//  0, or -1 if the source went away under the copy. With hash, the
//  bytes are hashed as they are copied (zi_hash_copy), under the same guard
static int
s_guarded_copy (void *dst, const void *src, size_t size, uint64_t *hash)
{
    pthread_once (&s_bus_once, s_bus_install);
    sigjmp_buf jump;
    //  The signal mask is not saved: that is a system call on every copy.
    //  A jump out of the handler leaves SIGBUS blocked, as it is while a
    //  handler runs, so the rare fault unblocks it itself
    if (sigsetjmp (jump, 0)) {
        s_guard = NULL;
        sigset_t bus;
        sigemptyset (&bus);
        sigaddset (&bus, SIGBUS);
        pthread_sigmask (SIG_UNBLOCK, &bus, NULL);
        return -1;
    }
    s_guard = &jump;
    atomic_signal_fence (memory_order_seq_cst);
    if (hash)
        *hash = zi_hash_copy (dst, src, size, 0);
    else
        memcpy (dst, src, size);
    atomic_signal_fence (memory_order_seq_cst);
    s_guard = NULL;
    return 0;
}

//  An open block keeps its memory alive after the client unlinked it, so
//  blocks are let go when their names are gone (zi_shm_cache_prune), and
//  the cache is bounded in blocks and in bytes
struct zi_shm_cache_t {
    zhashx_t *mappings;         //  name -> s_mapping_t
    uint64_t clock;             //  counts reads, for least recently used
    size_t bytes;               //  kept open in all
};

static void
s_mapping_destroy (void **item_p)
{
    s_mapping_t *mapping = *item_p;
    if (!mapping)
        return;
    if (mapping->map)
        munmap ((void *) mapping->map, mapping->size);
    close (mapping->fd);
    free (mapping);
    *item_p = NULL;
}

zi_shm_cache_t *
zi_shm_cache_new (void)
{
    zi_shm_cache_t *self = calloc (1, sizeof (zi_shm_cache_t));
    assert (self);
    self->mappings = zhashx_new ();
    assert (self->mappings);
    zhashx_set_destructor (self->mappings, s_mapping_destroy);
    return self;
}

void
zi_shm_cache_destroy (zi_shm_cache_t **self_p)
{
    assert (self_p);
    zi_shm_cache_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->mappings);
    free (self);
    *self_p = NULL;
}

int
zi_shm_cache_size (const zi_shm_cache_t *self)
{
    return (int) zhashx_size (self->mappings);
}

static void
s_drop (zi_shm_cache_t *self, const char *name)
{
    s_mapping_t *mapping = zhashx_lookup (self->mappings, name);
    if (mapping) {
        self->bytes -= mapping->size;
        zhashx_delete (self->mappings, name);
    }
}

void
zi_shm_cache_prune (zi_shm_cache_t *self)
{
    zlistx_t *names = zhashx_keys (self->mappings);
    for (const char *name = zlistx_first (names); name; name = zlistx_next (names)) {
        s_mapping_t *mapping = zhashx_lookup (self->mappings, name);
        struct stat info;
        if (fstat (mapping->fd, &info) || info.st_nlink == 0)
            s_drop (self, name);
    }
    zlistx_destroy (&names);
}

//  Makes room for one more mapping: the least recently read goes (a
//  client that is gone has unlinked its blocks; only the mapping is left)
static void
s_evict (zi_shm_cache_t *self)
{
    const char *oldest = NULL;
    uint64_t oldest_used = UINT64_MAX;
    for (s_mapping_t *mapping = zhashx_first (self->mappings); mapping;
         mapping = zhashx_next (self->mappings))
        if (mapping->used < oldest_used) {
            oldest_used = mapping->used;
            oldest = zhashx_cursor (self->mappings);
        }
    if (oldest)
        s_drop (self, oldest);
}

static s_mapping_t *
s_map (zi_shm_cache_t *self, const char *name)
{
    int fd = shm_open (name, O_RDONLY, 0);
    if (fd < 0) {
        zi_error ("shared memory: cannot open block %s: %s", name, strerror (errno));
        return NULL;
    }
    struct stat info;
    if (fstat (fd, &info) || !S_ISREG (info.st_mode) || info.st_size <= 0
    ||  info.st_size > S_BLOCK_MAX || info.st_size > S_CACHE_MAX_BYTES) {
        zi_error ("shared memory: block %s is not a usable block", name);
        close (fd);
        return NULL;
    }
    s_mapping_t *mapping = calloc (1, sizeof (s_mapping_t));
    assert (mapping);
    mapping->fd = fd;
    mapping->size = (size_t) info.st_size;
    //  Mapped with its pages in place, so no request faults them in; where
    //  mapping fails, pread still works
    void *map = mmap (NULL, mapping->size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    mapping->map = map == MAP_FAILED? NULL: map;
    while (zhashx_size (self->mappings) > 0
    &&    (zhashx_size (self->mappings) >= S_CACHE_MAX
       ||  self->bytes + mapping->size > (size_t) S_CACHE_MAX_BYTES))
        s_evict (self);
    zhashx_insert (self->mappings, name, mapping);
    self->bytes += mapping->size;
    return mapping;
}

//  Refuses a read from a block its client shrank, and lets the block go
static int
s_shrunk (zi_shm_cache_t *self, s_mapping_t *mapping, const zi_shm_ref_t *ref)
{
    struct stat info;
    long long now = fstat (mapping->fd, &info) == 0? (long long) info.st_size: -1;
    s_drop (self, ref->name);
    return zi_error ("shared memory: bytes %llu..%llu are past the end of block %s "
                     "(%lld bytes now)", (unsigned long long) ref->offset,
                     (unsigned long long) (ref->offset + ref->size), ref->name, now);
}

int
zi_shm_cache_read (zi_shm_cache_t *self, int peer_pid, const zi_shm_ref_t *ref, void *dst,
                   uint64_t *hash)
{
    if (peer_pid <= 0)
        return zi_error ("shared memory: only for clients on the gateway's host, connected "
                         "over ipc; send the data in the message instead");
    if (s_owner (ref->name) != peer_pid)
        return zi_error ("shared memory: block '%.63s' is not this client's (its blocks are "
                         "named " S_PREFIX "%d-...)", ref->name, peer_pid);
    s_mapping_t *mapping = zhashx_lookup (self->mappings, ref->name);
    if (!mapping && !(mapping = s_map (self, ref->name)))
        return -1;
    if (ref->offset > mapping->size || ref->size > mapping->size - ref->offset)
        return zi_error ("shared memory: bytes %llu..%llu are past the end of block %s "
                         "(%zu bytes)", (unsigned long long) ref->offset,
                         (unsigned long long) (ref->offset + ref->size), ref->name,
                         mapping->size);
    mapping->used = ++self->clock;
    if (mapping->map)
        return s_guarded_copy (dst, (const char *) mapping->map + ref->offset, ref->size,
                               hash) == 0?
               0: s_shrunk (self, mapping, ref);
    //  pread moves at most about 2 GiB a call, and a block shrunk since it
    //  was opened reads short
    uint64_t done = 0;
    while (done < ref->size) {
        ssize_t got = pread (mapping->fd, (char *) dst + done, ref->size - done,
                             (off_t) (ref->offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return s_shrunk (self, mapping, ref);
        done += (uint64_t) got;
    }
    if (hash)
        *hash = zi_hash (dst, ref->size, 0);
    return 0;
}

int
zi_shm_peer_pid (void *frame)
{
    //  "localhost:UID:GID:PID" over ipc, read by hand: sscanf took
    //  several thousand instructions, on every request
    const char *address = zmq_msg_gets ((zmq_msg_t *) frame, "Peer-Address");
    static const char prefix [] = "localhost:";
    if (!address || strncmp (address, prefix, sizeof prefix - 1))
        return -1;
    const char *cursor = address + sizeof prefix - 1;
    long fields [3];
    for (int field = 0; field < 3; field++) {
        if (field > 0 && *cursor++ != ':')
            return -1;
        if (*cursor < '0' || *cursor > '9')
            return -1;
        long value = 0;
        while (*cursor >= '0' && *cursor <= '9' && value <= INT_MAX)
            value = value * 10 + (*cursor++ - '0');
        if (value > INT_MAX)
            return -1;
        fields [field] = value;
    }
    return *cursor == 0 && fields [2] > 0? (int) fields [2]: -1;
}

//  --------------------------------------------------------------------------
//  Self test

void
zi_shm_test (zi_test_t *t)
{
    //  References round-trip, and garbage is refused
    zi_shm_ref_t ref = {.offset = 64, .size = 4096}, back;
    snprintf (ref.name, sizeof ref.name, S_PREFIX "%d-1-00ab", (int) getpid ());
    unsigned char buffer [128];
    size_t size = zi_shm_ref_encode (&ref, buffer, sizeof buffer);
    ZI_CHECK (t, size > 0 && zi_shm_ref_decode (buffer, size, &back) == 0
              && strcmp (back.name, ref.name) == 0 && back.offset == 64 && back.size == 4096,
              "a reference round-trips");
    ZI_CHECK (t, zi_shm_ref_decode ("\x93\x01\x02\x03", 4, &back) == -1
              && strstr (zi_error_text (), "reference"), "a reference without a name is refused");
    ZI_CHECK (t, zi_shm_ref_decode ("\xff", 1, &back) == -1, "garbage is refused");
    ZI_CHECK (t, zi_shm_ref_decode ("\x93\xa0\x00\x00", 4, &back) == -1, "an empty name too");

    //  A block written here is read through the cache, by its owner only
    zi_shm_block_t *block = zi_shm_block_new (100000);
    ZI_CHECK (t, block && zi_shm_block_size (block) >= 100000, "a block: %s",
              block? zi_shm_block_name (block): zi_error_text ());
    if (!block)
        return;
    uint8_t *data = zi_shm_block_data (block);
    for (int index = 0; index < 100000; index++)
        data [index] = (uint8_t) (index * 7);
    zi_shm_cache_t *cache = zi_shm_cache_new ();
    snprintf (ref.name, sizeof ref.name, "%s", zi_shm_block_name (block));
    ref.offset = 1000;
    ref.size = 5000;
    uint8_t copy [5000];
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &ref, copy, NULL) == 0
              && memcmp (copy, data + 1000, 5000) == 0, "the owner's bytes are read");
    //  A later write is seen: the mapping is shared, not a snapshot
    data [1000] ^= 0xff;
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &ref, copy, NULL) == 0 && copy [0] == data [1000]
              && zi_shm_cache_size (cache) == 1, "one mapping, kept and current");
    uint64_t hash = 0;
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &ref, copy, &hash) == 0
              && memcmp (copy, data + 1000, 5000) == 0 && hash == zi_hash (data + 1000, 5000, 0),
              "read with its hash: the bytes, and zi_hash of them");
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid () + 1, &ref, copy, NULL) == -1
              && strstr (zi_error_text (), "not this client's"), "another process's block is refused");
    ZI_CHECK (t, zi_shm_cache_read (cache, -1, &ref, copy, NULL) == -1
              && strstr (zi_error_text (), "ipc"), "a peer that is not on ipc is refused");
    ref.offset = zi_shm_block_size (block) - 10;
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &ref, copy, NULL) == -1
              && strstr (zi_error_text (), "past the end"), "bytes past the block are refused");
    ref.offset = UINT64_MAX - 2;
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &ref, copy, NULL) == -1, "an offset that wraps");
    zi_shm_ref_t missing = {.offset = 0, .size = 1};
    snprintf (missing.name, sizeof missing.name, S_PREFIX "%d-9-0000dead", (int) getpid ());
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &missing, copy, NULL) == -1
              && strstr (zi_error_text (), "cannot open"), "a block that is not there");
    snprintf (missing.name, sizeof missing.name, S_PREFIX "%d-../../etc/passwd", (int) getpid ());
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &missing, copy, NULL) == -1
              && strstr (zi_error_text (), "not this client's"), "a name that leaves /dev/shm");

    //  A client that shrinks its block after the gateway opened it: the
    //  copy out of the mapping faults (SIGBUS), and the guard turns that
    //  into a clean refusal (the read that hashes as it copies is the
    //  gateway's, so that is the one checked)
    zi_shm_block_t *shrinking = zi_shm_block_new (100000);
    if (shrinking) {
        zi_shm_ref_t tail = {.offset = 90000, .size = 4096};
        snprintf (tail.name, sizeof tail.name, "%s", zi_shm_block_name (shrinking));
        ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &tail, copy, NULL) == 0, "read before");
        int fd = shm_open (tail.name, O_RDWR, 0);
        ZI_CHECK (t, fd >= 0 && ftruncate (fd, 4096) == 0, "the client shrinks its block");
        if (fd >= 0)
            close (fd);
        ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &tail, copy, &hash) == -1
                  && strstr (zi_error_text (), "past the end"), "... and is refused: %s",
                  zi_error_text ());
        sigset_t mask;
        pthread_sigmask (SIG_BLOCK, NULL, &mask);
        ZI_CHECK (t, !sigismember (&mask, SIGBUS), "SIGBUS is unblocked again after the fault");
        //  The guard catches faults in its own copies only: any other
        //  SIGBUS still ends the process (here a child, reading past the
        //  end of a shrunk mapping of its own)
        fd = shm_open (tail.name, O_RDWR, 0);
        void *map = fd >= 0? mmap (NULL, 100000, PROT_READ, MAP_SHARED, fd, 0): MAP_FAILED;
        if (fd >= 0)
            close (fd);
        fflush (NULL);
        pid_t child = map != MAP_FAILED? fork (): -1;
        if (child == 0) {
            volatile const char *past = (const char *) map + 90000;
            char byte = *past;          //  faults
            _exit (byte == 123? 0: 0);  //  reached only if the fault was swallowed
        }
        int status = 0;
        bool waited = child > 0 && waitpid (child, &status, 0) == child;
        ZI_CHECK (t, waited && !(WIFEXITED (status) && WEXITSTATUS (status) == 0),
                  "a SIGBUS outside a guarded copy is not swallowed (%s %d)",
                  WIFSIGNALED (status)? "signal": "exit code",
                  WIFSIGNALED (status)? WTERMSIG (status): WEXITSTATUS (status));
        if (map != MAP_FAILED)
            munmap (map, 100000);
        zi_shm_block_destroy (&shrinking);
    }
    snprintf (missing.name, sizeof missing.name, S_PREFIX "+%d-1-00", (int) getpid ());
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &missing, copy, NULL) == -1
              && strstr (zi_error_text (), "not this client's"), "a pid with a sign");

    //  The peer's pid comes from ZeroMQ's ipc metadata
    void *context = zmq_ctx_new ();
    void *server = zmq_socket (context, ZMQ_ROUTER);
    void *client = zmq_socket (context, ZMQ_DEALER);
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc:///tmp/zinfer-shm-test-%d", (int) getpid ());
    int linger = 0;
    zmq_setsockopt (server, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (client, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind (server, endpoint) == 0 && zmq_connect (client, endpoint) == 0) {
        zmq_send (client, "x", 1, 0);
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        ZI_CHECK (t, zmq_msg_recv (&frame, server, 0) >= 0
                  && zi_shm_peer_pid (&frame) == getpid (), "an ipc peer's pid: %d",
                  zi_shm_peer_pid (&frame));
        zmq_msg_close (&frame);
    }
    zmq_close (client);
    zmq_close (server);
    zmq_ctx_term (context);

    //  Destroyed, the block is gone; the gateway's mapping outlives it
    //  until evicted
    snprintf (ref.name, sizeof ref.name, "%s", zi_shm_block_name (block));
    zi_shm_block_destroy (&block);
    ref.offset = 0;
    ref.size = 16;
    ZI_CHECK (t, zi_shm_cache_read (cache, getpid (), &ref, copy, NULL) == 0,
              "a mapped block stays readable after its name is gone");
    zi_shm_cache_prune (cache);
    ZI_CHECK (t, zi_shm_cache_size (cache) == 0, "... until the cache is pruned");
    zi_shm_cache_destroy (&cache);
    ZI_CHECK (t, shm_open (ref.name, O_RDONLY, 0) < 0 && errno == ENOENT, "the block was unlinked");
}
