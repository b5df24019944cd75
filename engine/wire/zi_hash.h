/*  =========================================================================
    zi_hash.h - a fast 64-bit hash of a byte string

    Private to the engine.
    =========================================================================
*/

#ifndef ZI_HASH_H_INCLUDED
#define ZI_HASH_H_INCLUDED

#include "zi_classes.h"

//  A 64-bit hash of size bytes at data, reading every byte, continuing
//  from seed (pass the hash of what came before to hash several pieces as
//  one key). For fingerprints that tell inputs apart, not against an
//  adversary: it is no cryptographic hash. The value depends on the byte
//  order of the machine and may change between versions of zinfer; keep it
//  in memory only.
uint64_t
    zi_hash (const void *data, size_t size, uint64_t seed);

//  Copies size bytes from src to dst (they must not overlap) and returns
//  zi_hash of them, reading src once: for data that is copied anyway
uint64_t
    zi_hash_copy (void *dst, const void *src, size_t size, uint64_t seed);

#endif
