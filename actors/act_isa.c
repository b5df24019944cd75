/*  =========================================================================
    act_isa - which instruction set the kernels use, decided in one place

    The CPU is asked once (libgcc's cpuid flags, which also check that the
    OS saves the vector registers) for the best level it has: portable,
    avx2 (AVX2 + FMA) or avx512 (AVX-512 F, BW, VL and DQ). The level in
    use is that, capped by the environment variable ZI_ISA or by
    zi_isa_set_cap (the self tests run every level the machine has). Every
    kernel that has a SIMD form asks zi_isa_level, so a cap reaches all of
    them at once.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include <cblas.h>
#include <strings.h>
#if defined (__GNUC__) && (defined (__x86_64__) || defined (__i386__))
#   include <cpuid.h>
#endif

static const char *s_names [] = {"portable", "avx2", "avx512"};

static atomic_int s_cpu = -1;       //  the CPU's best level, -1 until asked
static atomic_int s_cap = ZI_ISA_DEFAULT;   //  set by zi_isa_set_cap
static atomic_int s_level = -1;     //  the level in use, -1 until settled

static zi_isa_t
s_detect (void)
{
#if defined (__GNUC__) && (defined (__x86_64__) || defined (__i386__))
    __builtin_cpu_init ();
    if (!__builtin_cpu_supports ("avx2") || !__builtin_cpu_supports ("fma"))
        return ZI_ISA_PORTABLE;
    if (__builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
    &&  __builtin_cpu_supports ("avx512vl") && __builtin_cpu_supports ("avx512dq"))
        return ZI_ISA_AVX512;
    return ZI_ISA_AVX2;
#else
    return ZI_ISA_PORTABLE;
#endif
}

zi_isa_t
zi_isa_cpu (void)
{
    int cpu = atomic_load_explicit (&s_cpu, memory_order_relaxed);
    if (cpu < 0) {
        cpu = (int) s_detect ();
        atomic_store (&s_cpu, cpu);
    }
    return (zi_isa_t) cpu;
}

int
zi_isa_parse (const char *name, zi_isa_t *isa)
{
    for (int level = 0; level < (int) (sizeof s_names / sizeof s_names [0]); level++)
        if (name && strcmp (name, s_names [level]) == 0) {
            *isa = (zi_isa_t) level;
            return 0;
        }
    return -1;
}

const char *
zi_isa_name (zi_isa_t isa)
{
    assert (isa >= ZI_ISA_PORTABLE && isa <= ZI_ISA_AVX512);
    return s_names [isa];
}

//  The cap ZI_ISA asks for; none (the top level) when it is unset or not
//  a level's name (the command refuses that at start, see zi_isa_check_env)
static zi_isa_t
s_env_cap (void)
{
    zi_isa_t cap = ZI_ISA_AVX512;
    const char *value = getenv ("ZI_ISA");
    if (value && *value && zi_isa_parse (value, &cap))
        cap = ZI_ISA_AVX512;
    return cap;
}

static zi_isa_t
s_settle (void)
{
    int cap = atomic_load (&s_cap);
    zi_isa_t limit = cap == ZI_ISA_DEFAULT? s_env_cap (): (zi_isa_t) cap;
    zi_isa_t cpu = zi_isa_cpu ();
    zi_isa_t level = limit < cpu? limit: cpu;
    atomic_store (&s_level, (int) level);
    return level;
}

zi_isa_t
zi_isa_level (void)
{
    int level = atomic_load_explicit (&s_level, memory_order_relaxed);
    return level < 0? s_settle (): (zi_isa_t) level;
}

void
zi_isa_set_cap (zi_isa_t cap)
{
    assert (cap >= ZI_ISA_DEFAULT && cap <= ZI_ISA_AVX512);
    atomic_store (&s_cap, (int) cap);
    s_settle ();
}

int
zi_isa_check_env (char *message, size_t size)
{
    const char *value = getenv ("ZI_ISA");
    zi_isa_t cap;
    if (!value || !*value || zi_isa_parse (value, &cap) == 0)
        return 0;
    snprintf (message, size, "ZI_ISA: unknown instruction set '%s' (known: portable, avx2, "
              "avx512)", value);
    return -1;
}

//  The instruction set of the kernels OpenBLAS chose, from the name of
//  its core: OpenBLAS picks them once at load by its own CPU table, and a
//  release older than the CPU takes it for something old (0.3.21 runs
//  its SSE3 "Prescott" kernels on Sapphire and Emerald Rapids, a tenth
//  of what its SkylakeX kernels do there). Cores with no AVX2 kernels,
//  and names not known here, count as portable.
static zi_isa_t
s_blas_core_level (const char *core)
{
    static const char *avx512 [] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *avx2 [] = {"haswell", "zen", "skylake", "excavator"};
    for (size_t index = 0; core && index < sizeof avx512 / sizeof avx512 [0]; index++)
        if (strcasecmp (core, avx512 [index]) == 0)
            return ZI_ISA_AVX512;
    for (size_t index = 0; core && index < sizeof avx2 / sizeof avx2 [0]; index++)
        if (strcasecmp (core, avx2 [index]) == 0)
            return ZI_ISA_AVX2;
    return ZI_ISA_PORTABLE;
}

zi_isa_t
zi_isa_blas (void)
{
    return s_blas_core_level (openblas_get_corename ());
}

bool
zi_isa_blas_behind (void)
{
    static atomic_int blas = -1;
    int level = atomic_load_explicit (&blas, memory_order_relaxed);
    if (level < 0) {
        level = (int) zi_isa_blas ();
        atomic_store (&blas, level);
    }
    return level < (int) zi_isa_level ();
}

bool
zi_isa_blas_zen (void)
{
    const char *core = openblas_get_corename ();
    return core && strcasecmp (core, "zen") == 0;
}

//  One feature bit of cpuid leaf 7 (register 0 = EAX .. 3 = EDX), asked
//  directly: compilers differ in the feature names __builtin_cpu_supports
//  knows (clang 14 has no "avxvnni")
static bool
s_leaf7_bit (unsigned subleaf, int reg, int bit)
{
#if defined (__GNUC__) && (defined (__x86_64__) || defined (__i386__))
    unsigned regs [4] = {0, 0, 0, 0};
    if (!__get_cpuid_count (7, subleaf, &regs [0], &regs [1], &regs [2], &regs [3]))
        return false;
    return (regs [reg] >> bit) & 1;
#else
    return false;
#endif
}

bool
zi_isa_has_vnni (void)
{
    //  AVX512_VNNI (leaf 7.0 ECX bit 11) or AVX-VNNI (leaf 7.1 EAX bit 4),
    //  usable only where the vector registers they need are
    bool avx512_vnni = s_leaf7_bit (0, 2, 11) && zi_isa_cpu () >= ZI_ISA_AVX512;
    bool avx_vnni = s_leaf7_bit (1, 0, 4) && zi_isa_cpu () >= ZI_ISA_AVX2;
    return avx512_vnni || avx_vnni;
}

bool
zi_isa_has_avx512_vnni (void)
{
    return s_leaf7_bit (0, 2, 11) && zi_isa_cpu () >= ZI_ISA_AVX512;
}

bool
zi_isa_has_bf16 (void)
{
    //  AVX512_BF16: leaf 7.1 EAX bit 5
    return s_leaf7_bit (1, 0, 5) && zi_isa_cpu () >= ZI_ISA_AVX512;
}

const char *
zi_isa_cpu_model (char *model, size_t size)
{
    snprintf (model, size, "unknown CPU");
    FILE *file = fopen ("/proc/cpuinfo", "r");
    if (!file)
        return model;
    char line [512];
    while (fgets (line, sizeof line, file))
        if (strncmp (line, "model name", 10) == 0) {
            const char *colon = strchr (line, ':');
            if (!colon)
                continue;
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            snprintf (model, size, "%.*s", (int) strcspn (colon, "\n"), colon);
            break;
        }
    fclose (file);
    return model;
}

const char *
zi_isa_describe (char *text, size_t size)
{
    const char *value = getenv ("ZI_ISA");
    snprintf (text, size, "%s (cpu: %s%s%s; ZI_ISA %s%s%s)", zi_isa_name (zi_isa_level ()),
              zi_isa_name (zi_isa_cpu ()), zi_isa_has_vnni ()? ", vnni": "",
              zi_isa_has_bf16 ()? ", bf16": "", value && *value? "'": "",
              value && *value? value: "unset", value && *value? "'": "");
    return text;
}


bool
zi_test_isa (zi_test_t *t, zi_isa_t level)
{
    if (level > zi_isa_cpu ()) {
        printf ("  %s: %s kernels skipped: this CPU has %s at most\n", t->name,
                zi_isa_name (level), zi_isa_name (zi_isa_cpu ()));
        return false;
    }
    zi_isa_set_cap (level);
    return true;
}


//  --------------------------------------------------------------------------
//  Self test: names, caps clamped to the CPU, the default back

void
zi_act_isa_test (zi_test_t *t)
{
    zi_isa_t isa = ZI_ISA_DEFAULT;
    ZI_CHECK (t, zi_isa_parse ("avx2", &isa) == 0 && isa == ZI_ISA_AVX2, "avx2 parses");
    ZI_CHECK (t, zi_isa_parse ("avx512", &isa) == 0 && isa == ZI_ISA_AVX512, "avx512 parses");
    ZI_CHECK (t, zi_isa_parse ("portable", &isa) == 0 && isa == ZI_ISA_PORTABLE,
              "portable parses");
    ZI_CHECK (t, zi_isa_parse ("sse", &isa) == -1 && zi_isa_parse ("", &isa) == -1
              && zi_isa_parse ("AVX2", &isa) == -1, "unknown names are refused");
    for (int cap = ZI_ISA_PORTABLE; cap <= ZI_ISA_AVX512; cap++) {
        zi_isa_set_cap ((zi_isa_t) cap);
        zi_isa_t want = cap < (int) zi_isa_cpu ()? (zi_isa_t) cap: zi_isa_cpu ();
        ZI_CHECK (t, zi_isa_level () == want, "cap %s gives %s, got %s",
                  zi_isa_name ((zi_isa_t) cap), zi_isa_name (want),
                  zi_isa_name (zi_isa_level ()));
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    ZI_CHECK (t, zi_isa_level () <= zi_isa_cpu (), "the level never passes the CPU's");
    char model [256], text [256];
    zi_isa_cpu_model (model, sizeof model);
    ZI_CHECK (t, strlen (model) > 0, "a CPU model name");
    if (t->verbose)
        printf ("  isa: %s on %s\n", zi_isa_describe (text, sizeof text), model);
    //  OpenBLAS's cores by the vector kernels they run
    ZI_CHECK (t, s_blas_core_level ("Prescott") == ZI_ISA_PORTABLE
              && s_blas_core_level ("Sandybridge") == ZI_ISA_PORTABLE
              && s_blas_core_level ("Haswell") == ZI_ISA_AVX2
              && s_blas_core_level ("Zen") == ZI_ISA_AVX2
              && s_blas_core_level ("SkylakeX") == ZI_ISA_AVX512
              && s_blas_core_level ("COOPERLAKE") == ZI_ISA_AVX512
              && s_blas_core_level ("unknown") == ZI_ISA_PORTABLE
              && s_blas_core_level (NULL) == ZI_ISA_PORTABLE, "OpenBLAS cores to levels");
    //  OpenBLAS's kernels are behind exactly when their level is below the
    //  one in use: never at the portable cap
    zi_isa_t blas = zi_isa_blas ();
    for (int cap = ZI_ISA_PORTABLE; cap <= ZI_ISA_AVX512; cap++) {
        zi_isa_set_cap ((zi_isa_t) cap);
        ZI_CHECK (t, zi_isa_blas_behind () == (blas < zi_isa_level ()),
                  "OpenBLAS core %s (%s) behind %s: %s", openblas_get_corename (),
                  zi_isa_name (blas), zi_isa_name (zi_isa_level ()),
                  zi_isa_blas_behind ()? "yes": "no");
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
}
