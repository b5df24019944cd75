/*  =========================================================================
    isa_mask_probe - what CPUID said about AVX-512 and AVX2 while a library
    loaded, for tests/isa_mask_test.py

    Built twice: as a shared library whose constructor asks CPUID, as
    OpenBLAS's does to pick its kernels, and as the program that links it
    and prints that answer and the one main gets. Under the ISA mask both
    must be capped: the mask's constructor has to run before any other.
    =========================================================================
*/

#include <stdio.h>
#if defined (__GNUC__) && defined (__x86_64__)
#   include <cpuid.h>
#endif

int zi_isa_probe_at_load (void);
int zi_isa_probe_avx2_at_load (void);

//  Whether CPUID leaf 7 reports the feature at this bit of EBX
static int
s_leaf7_bit (int bit)
{
#if defined (__GNUC__) && defined (__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count (7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    return (ebx >> bit) & 1;
#else
    (void) bit;
    return 0;
#endif
}

#define S_AVX512F_BIT   16
#define S_AVX2_BIT      5

#if defined (ZI_ISA_PROBE_MAIN)
int
main (void)
{
    printf ("avx512f at load %d, in main %d; avx2 at load %d, in main %d\n",
            zi_isa_probe_at_load (), s_leaf7_bit (S_AVX512F_BIT),
            zi_isa_probe_avx2_at_load (), s_leaf7_bit (S_AVX2_BIT));
    return 0;
}
#else
static int s_at_load = -1;          //  CPUID's answers in the constructor
static int s_avx2_at_load = -1;

__attribute__ ((constructor))
static void
s_on_load (void)
{
    s_at_load = s_leaf7_bit (S_AVX512F_BIT);
    s_avx2_at_load = s_leaf7_bit (S_AVX2_BIT);
}

int
zi_isa_probe_at_load (void)
{
    return s_at_load;
}

int
zi_isa_probe_avx2_at_load (void)
{
    return s_avx2_at_load;
}
#endif
