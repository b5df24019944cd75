/*  =========================================================================
    zi_exec.h - a thread's execution context: scratch memory and parallel loops

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_EXEC_H_INCLUDED
#define ZI_EXEC_H_INCLUDED

#include "zinfer.h"
#include "zi_test.h"

typedef struct zi_exec_t zi_exec_t;

//  Execution context: one per thread that runs kernels. Holds reusable
//  scratch memory so kernels allocate nothing per request.

zi_exec_t *
    zi_exec_new (void);
void
    zi_exec_destroy (zi_exec_t **self_p);
//  A 64-byte aligned scratch buffer of at least size bytes, valid until the
//  next call on this exec; NULL if memory is short. slot 0..3 lets one
//  kernel hold several buffers at once.
void *
    zi_exec_scratch (zi_exec_t *self, int slot, size_t size);
//  The same for thread 0 .. zi_exec_threads () - 1 of a parallel loop:
//  each thread of a zi_exec_parallel call uses its own
void *
    zi_exec_scratch_of (zi_exec_t *self, int thread, int slot, size_t size);

//  Threads the kernels run on: the exec's own setting (a session's
//  --threads), else the process default given before the exec was made
//  (a topology process's blas_threads); 1 unless set
void
    zi_exec_default_threads (int threads);
//  The threads OpenBLAS would use as the process started (the cores, or
//  OPENBLAS_NUM_THREADS): a session's default
int
    zi_exec_blas_default (void);
//  Runs OpenBLAS single-threaded from now on and stops the threads it
//  started as it loaded (idempotent; the kernels share their work out
//  themselves)
void
    zi_exec_blas_single (void);
void
    zi_exec_set_threads (zi_exec_t *self, int threads);
int
    zi_exec_threads (const zi_exec_t *self);

//  One part of a parallel loop: items [first, last) on thread `thread`
//  (0 .. zi_exec_threads () - 1, for zi_exec_scratch_of)
typedef void (zi_exec_fn_t) (void *args, int64_t first, int64_t last, int thread);
//  Runs fn over items [0, count) on the exec's threads, in parts whose
//  boundaries are multiples of unit. With one thread, or one unit of work,
//  fn is called once for everything on the calling thread. Parts must
//  write disjoint outputs; each item is then computed as it would be alone.
void
    zi_exec_parallel (zi_exec_t *self, int64_t count, int64_t unit, zi_exec_fn_t *fn,
                      void *args);
//  What the parallel loops of an exec did with more than one thread, to
//  tell whether its helpers take part: a helper the scheduler keeps off
//  the CPU finds each loop already done (docs/performance.md, "Whether
//  the helpers take part")
typedef struct {
    int64_t loops;              //  loops shared out (more than one thread)
    int64_t joined;             //  of those, loops a helper took a part of
    int64_t units;              //  units of work in those loops
    int64_t helper_units;       //  of those, units the helpers did
    int64_t wait_usecs;         //  the caller's time waiting for helpers' parts
} zi_exec_stats_t;
void
    zi_exec_stats (const zi_exec_t *self, zi_exec_stats_t *stats);
void
    zi_exec_stats_reset (zi_exec_t *self);
//  Items per part of a loop whose items cost macs_per_item multiply-adds
//  each, so that a part is worth a thread's wake-up
int64_t
    zi_exec_unit (int64_t macs_per_item);
//  Self test
void
    zi_exec_test (zi_test_t *t);

#endif
