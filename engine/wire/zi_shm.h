/*  =========================================================================
    zi_shm.h - request inputs through shared memory, on the gateway's host

    A client on the gateway's host, connected over ipc, can hand large
    inputs over in POSIX shared memory instead of pushing their bytes
    through a socket: it puts them in a block of its own (copied there per
    request, or made there from the start with zi_client_tensor) and sends,
    in place of each data frame, a reference (block name, offset, size). The
    gateway maps the block read-only once and copies each input out into a
    tensor of its own. docs/protocol.md describes the reference frame.
    =========================================================================
*/

#ifndef ZI_SHM_H_INCLUDED
#define ZI_SHM_H_INCLUDED

#include "zi_classes.h"

//  Longest block name, with its leading slash and terminating zero
#define ZI_SHM_NAME_MAX 64

//  What a reference frame says: where an input's bytes are
typedef struct zi_shm_ref_t {
    char name [ZI_SHM_NAME_MAX];    //  "/zinfer-<pid>-<sequence>-<random>"
    uint64_t offset;                //  where in the block the input starts
    uint64_t size;                  //  its bytes
} zi_shm_ref_t;

//  Encodes a reference (msgpack [name, offset, size]); returns its size
size_t
    zi_shm_ref_encode (const zi_shm_ref_t *ref, unsigned char *buffer, size_t size);

//  Decodes and checks a reference frame; -1 with the reason
int
    zi_shm_ref_decode (const void *data, size_t size, zi_shm_ref_t *ref);

//  --------------------------------------------------------------------------
//  Client side: blocks of its own, unlinked when destroyed

typedef struct zi_shm_block_t zi_shm_block_t;

//  Creates a block of at least size bytes, readable and writable by this
//  user only; NULL with the reason when the system refuses
zi_shm_block_t *
    zi_shm_block_new (size_t size);

void
    zi_shm_block_destroy (zi_shm_block_t **self_p);

void *
    zi_shm_block_data (zi_shm_block_t *self);

size_t
    zi_shm_block_size (const zi_shm_block_t *self);

const char *
    zi_shm_block_name (const zi_shm_block_t *self);

//  Removes the blocks of client processes that are gone (a client that
//  crashed cannot unlink its own)
void
    zi_shm_sweep (void);

//  --------------------------------------------------------------------------
//  Gateway side: blocks opened and mapped once, inputs copied out

typedef struct zi_shm_cache_t zi_shm_cache_t;

zi_shm_cache_t *
    zi_shm_cache_new (void);

void
    zi_shm_cache_destroy (zi_shm_cache_t **self_p);

//  Copies what ref names into dst (ref->size bytes). The block must be
//  named after peer_pid, the process at the other end of the connection;
//  -1 with the reason when it is not, is gone, or is too small. With
//  hash, *hash is set to zi_hash of the bytes (seed 0), taken as they are
//  copied rather than in a second pass
int
    zi_shm_cache_read (zi_shm_cache_t *self, int peer_pid, const zi_shm_ref_t *ref, void *dst,
                       uint64_t *hash);

//  Blocks open now
int
    zi_shm_cache_size (const zi_shm_cache_t *self);

//  Lets go of blocks their clients have unlinked (an open block would keep
//  their memory alive); the gateway calls it on its housekeeping tick
void
    zi_shm_cache_prune (zi_shm_cache_t *self);

//  The process id of an ipc peer, from a received frame's metadata
//  ("Peer-Address" is "localhost:uid:gid:pid" on ipc, from the kernel's
//  peer credentials); -1 for any other peer (tcp may be another host)
int
    zi_shm_peer_pid (void *frame);

void
    zi_shm_test (zi_test_t *t);

#endif
