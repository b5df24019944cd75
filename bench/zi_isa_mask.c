/*  =========================================================================
    zi_isa_mask - makes a whole process believe the CPU stops at AVX2 (or
    at plain SSE), so that zinfer and ONNX Runtime can be measured at the
    same instruction-set cap on one machine

    Loaded with LD_PRELOAD; does nothing unless ZI_ISA_MASK is set:

        ZI_ISA_MASK=avx2 LD_PRELOAD=build/zi_isa_mask.so node bench/peers_ort.js ...

    ZI_ISA_MASK=avx2 hides every AVX-512 feature; portable also hides AVX,
    AVX2, FMA, F16C and OSXSAVE; native (or unset) leaves the CPU alone.

    Engines pick their kernels by asking the CPUID instruction, and most
    have no switch of their own to cap that choice. Linux can make CPUID
    fault in a thread (arch_prctl ARCH_SET_CPUID, on CPUs with CPUID
    faulting); the fault arrives as SIGSEGV, and the handler here runs
    the real CPUID with faulting briefly off, clears the feature bits
    above the cap and steps over the instruction. The setting is per
    thread but passes to threads created later, so one call in the
    constructor covers every pool thread an engine starts after it.
    The library is linked with -z initfirst, so that its constructor runs
    before those of the program's other libraries: OpenBLAS picks its
    kernels in its own constructor, from CPUID, and must already see the
    cap. That is before the C library's constructor too, so the
    environment is read from the constructor's arguments, not getenv.

    Engines may install SIGSEGV handlers of their own (node's V8 does).
    sigaction and signal are wrapped so that for SIGSEGV they record the
    engine's handler instead of replacing ours; faults that are not
    CPUID go on to it, and without one the process dies as it would
    have. Where the cap cannot be set (no CPUID faulting, an unknown
    ZI_ISA_MASK) the process stops at once with one line on stderr,
    rather than quietly running at the wrong level.

    glibc's string functions pick their forms from cpuid answers cached
    before any constructor; GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,...
    caps them too (bench/peers sets it).
    =========================================================================
*/

#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

typedef enum {
    ZI_MASK_NATIVE,             //  leave the CPU as it is
    ZI_MASK_AVX2,               //  nothing above AVX2 + FMA
    ZI_MASK_PORTABLE            //  nothing from AVX on
} zi_mask_level_t;

typedef int (zi_sigaction_fn) (int, const struct sigaction *, struct sigaction *);

static zi_mask_level_t s_level = ZI_MASK_NATIVE;    //  the cap, from ZI_ISA_MASK
static zi_sigaction_fn *s_real_sigaction;           //  libc's sigaction
static struct sigaction s_chained;                  //  the engine's own SIGSEGV handler

//  Leaf 1 ECX: AVX needs the OS to save YMM (OSXSAVE), FMA and F16C are
//  VEX-encoded; all go at the portable cap
#define LEAF1_ECX_FMA       (1u << 12)
#define LEAF1_ECX_OSXSAVE   (1u << 27)
#define LEAF1_ECX_AVX       (1u << 28)
#define LEAF1_ECX_F16C      (1u << 29)

//  Leaf 7 subleaf 0 EBX: AVX2 (bit 5); AVX-512 F, DQ, IFMA, PF, ER, CD,
//  BW, VL (bits 16, 17, 21, 26, 27, 28, 30, 31)
#define LEAF7_EBX_AVX2      (1u << 5)
#define LEAF7_EBX_AVX512    ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) \
                           | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
//  ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14
#define LEAF7_ECX_AVX512    ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
//  ECX: VAES 9 and VPCLMULQDQ 10 are VEX forms (AVX) as well as EVEX
#define LEAF7_ECX_VEX       ((1u << 9) | (1u << 10))
//  EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, FP16 23
#define LEAF7_EDX_AVX512    ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
//  Leaf 7 subleaf 1 EAX: AVX-VNNI 4 (VEX), AVX512_BF16 5
#define LEAF7_1_EAX_AVX_VNNI    (1u << 4)
#define LEAF7_1_EAX_AVX512_BF16 (1u << 5)
//  Leaf 0xD subleaf 0 EAX: the state components the OS may enable; AVX-512's
//  opmask, ZMM_Hi256 and Hi16_ZMM (5, 6, 7), AVX's YMM upper halves (2)
#define LEAF_D_EAX_AVX512   ((1u << 5) | (1u << 6) | (1u << 7))
#define LEAF_D_EAX_AVX      (1u << 2)

static long
s_set_cpuid_faulting (int on)
{
    //  ARCH_SET_CPUID's argument is whether CPUID is allowed
    return syscall (SYS_arch_prctl, ARCH_SET_CPUID, on? 0: 1);
}

//  What CPUID answers at the cap: the real answer with faulting off for
//  the moment, less the features above the cap
static void
s_masked_cpuid (uint32_t leaf, uint32_t subleaf, uint32_t regs [4])
{
    s_set_cpuid_faulting (0);
    __cpuid_count (leaf, subleaf, regs [0], regs [1], regs [2], regs [3]);
    s_set_cpuid_faulting (1);

    bool portable = s_level == ZI_MASK_PORTABLE;
    if (leaf == 1 && portable)
        regs [2] &= ~(LEAF1_ECX_FMA | LEAF1_ECX_OSXSAVE | LEAF1_ECX_AVX | LEAF1_ECX_F16C);
    else
    if (leaf == 7 && subleaf == 0) {
        regs [1] &= ~(LEAF7_EBX_AVX512 | (portable? LEAF7_EBX_AVX2: 0));
        regs [2] &= ~(LEAF7_ECX_AVX512 | (portable? LEAF7_ECX_VEX: 0));
        regs [3] &= ~LEAF7_EDX_AVX512;
    }
    else
    if (leaf == 7 && subleaf == 1)
        regs [0] &= ~(LEAF7_1_EAX_AVX512_BF16 | (portable? LEAF7_1_EAX_AVX_VNNI: 0));
    else
    if (leaf == 0xD && subleaf == 0)
        regs [0] &= ~(LEAF_D_EAX_AVX512 | (portable? LEAF_D_EAX_AVX: 0));
}

//  Hands a fault that is not CPUID to the engine's handler, or, with none,
//  lets it kill the process as it would have without us
static void
s_chain (int signum, siginfo_t *info, void *context)
{
    if (s_chained.sa_flags & SA_SIGINFO) {
        if (s_chained.sa_sigaction) {
            s_chained.sa_sigaction (signum, info, context);
            return;
        }
    }
    else
    if (s_chained.sa_handler != SIG_DFL && s_chained.sa_handler != SIG_IGN) {
        s_chained.sa_handler (signum);
        return;
    }
    //  Default action: returning re-runs the faulting instruction, which
    //  faults again and now ends the process with the usual core dump
    struct sigaction fallback;
    memset (&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    s_real_sigaction (SIGSEGV, &fallback, NULL);
}

static void
s_on_segv (int signum, siginfo_t *info, void *context)
{
    ucontext_t *uc = (ucontext_t *) context;
    greg_t *gregs = uc->uc_mcontext.gregs;
    const unsigned char *pc = (const unsigned char *) gregs [REG_RIP];
    //  CPUID faulting raises SIGSEGV from the kernel, not from a bad
    //  address, at the instruction itself (0F A2)
    if (info->si_code == SI_KERNEL && pc && pc [0] == 0x0F && pc [1] == 0xA2) {
        int saved_errno = errno;
        uint32_t regs [4];
        s_masked_cpuid ((uint32_t) gregs [REG_RAX], (uint32_t) gregs [REG_RCX], regs);
        //  CPUID writes 32 bits and clears the upper half of each register
        gregs [REG_RAX] = regs [0];
        gregs [REG_RBX] = regs [1];
        gregs [REG_RCX] = regs [2];
        gregs [REG_RDX] = regs [3];
        gregs [REG_RIP] += 2;
        errno = saved_errno;
        return;
    }
    s_chain (signum, info, context);
}

//  sigaction for everyone in the process: SIGSEGV handlers are kept
//  behind ours while the mask is on, and the caller sees its own
int
sigaction (int signum, const struct sigaction *action, struct sigaction *old)
{
    if (!s_real_sigaction)
        s_real_sigaction = (zi_sigaction_fn *) dlsym (RTLD_NEXT, "sigaction");
    if (signum != SIGSEGV || s_level == ZI_MASK_NATIVE)
        return s_real_sigaction (signum, action, old);
    if (old)
        *old = s_chained;
    if (action)
        s_chained = *action;
    return 0;
}

sighandler_t
signal (int signum, sighandler_t handler)
{
    struct sigaction action, old;
    memset (&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    //  As the C library's signal: the signal blocked while its handler runs
    sigemptyset (&action.sa_mask);
    sigaddset (&action.sa_mask, signum);
    if (sigaction (signum, &action, &old))
        return SIG_ERR;
    return old.sa_handler;
}

static void
s_refuse (const char *value, const char *why)
{
    fprintf (stderr, "zi_isa_mask: cannot cap the instruction set at '%s': %s\n", value, why);
    _exit (3);
}

//  The environment as the loader passes it to constructors: this one runs
//  before the C library's own, which is what sets up getenv
static const char *
s_env (char **envp, const char *name)
{
    size_t length = strlen (name);
    for (char **entry = envp; entry && *entry; entry++)
        if (strncmp (*entry, name, length) == 0 && (*entry) [length] == '=')
            return *entry + length + 1;
    return NULL;
}

__attribute__ ((constructor))
static void
s_start (int argc, char **argv, char **envp)
{
    (void) argc;
    (void) argv;
    s_real_sigaction = (zi_sigaction_fn *) dlsym (RTLD_NEXT, "sigaction");
    const char *value = s_env (envp, "ZI_ISA_MASK");
    if (!value || !*value || strcmp (value, "native") == 0 || strcmp (value, "avx512") == 0)
        return;
    zi_mask_level_t level;
    if (strcmp (value, "avx2") == 0)
        level = ZI_MASK_AVX2;
    else
    if (strcmp (value, "portable") == 0)
        level = ZI_MASK_PORTABLE;
    else
        s_refuse (value, "ZI_ISA_MASK takes avx2, portable, avx512 or native");
    if (!s_real_sigaction)
        s_refuse (value, "sigaction not found in the C library");

    //  Our handler first, then faulting: a CPUID between the two would
    //  otherwise kill the process
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_sigaction = s_on_segv;
    //  SA_NODEFER: a chained handler may itself run CPUID, which must
    //  fault into us again rather than meet a blocked SIGSEGV
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
    sigemptyset (&action.sa_mask);
    if (s_real_sigaction (SIGSEGV, &action, &s_chained))
        s_refuse (value, strerror (errno));
    if (s_set_cpuid_faulting (1)) {
        char why [160];
        snprintf (why, sizeof why, "this CPU or kernel has no CPUID faulting "
                  "(arch_prctl ARCH_SET_CPUID: %s)", strerror (errno));
        s_refuse (value, why);
    }
    s_level = level;
}
