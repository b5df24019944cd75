#!/usr/bin/python3
"""bench/zi_isa_mask.so caps the instruction set a whole process sees: under
ZI_ISA_MASK=avx2 zinfer finds an AVX2 CPU and under portable one without
AVX, while without the mask it finds the CPU's own level (AVX-512 or
AVX2); a bad ZI_ISA_MASK stops the process with one line; libraries asking
CPUID in their constructors (OpenBLAS) already see the cap; node's own
SIGSEGV handler (WebAssembly bounds checks) still gets its faults; a fault
that is not CPUID still kills the process as SIGSEGV; PyTorch (where it
loads) dispatches to no AVX kernel under the portable mask. Where
onnxruntime-node loads (bench/node_modules), ONNX Runtime's output under
the cap below the CPU's (avx2 on an AVX-512 CPU, portable on an AVX2 one)
has other bits than without it (other kernels add in another order) and is
still right.

Skipped (exit 77) on machines without AVX2 or without CPUID faulting.

    isa_mask_test.py ZINFER MASK_LIBRARY MODELS_DIR PROBE_PROGRAM

PROBE_PROGRAM (tests/isa_mask_probe.c) prints what CPUID said about
AVX-512 in a library's constructor and in main.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

SKIP = 77
# A WebAssembly load far past its one page of memory, caught as an error
WASM_OUT_OF_BOUNDS = """
const bytes = new Uint8Array ([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f,  3, 2, 1, 0,  5, 3, 1, 0, 1,  7, 5, 1, 1, 0x66, 0, 0,
    0x0a, 9, 1, 7, 0, 0x20, 0, 0x28, 2, 0, 0x0b]);
const load = new WebAssembly.Instance (new WebAssembly.Module (bytes)).exports.f;
try { load (1 << 30); console.log ('no fault'); }
catch (error) { console.log (error.message); }
"""
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def cpu_flags():
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def masked(mask, library):
    env = dict(os.environ)
    env.pop("ZI_ISA", None)
    if mask is not None:
        env.update(ZI_ISA_MASK=mask, LD_PRELOAD=library)
    return env


def isa_line(zinfer, mask, library):
    """zinfer's `isa: LEVEL (cpu: ...)` line under the mask"""
    result = subprocess.run([zinfer, "--version"], env=masked(mask, library),
                            capture_output=True, text=True, timeout=60)
    found = re.search(r"^isa: (\w+) \(cpu: (\w+)", result.stdout, re.M)
    return (found.group(1), found.group(2)) if found else (None, result.stdout + result.stderr)


def ort_hello(model, mask, library):
    """peers_ort.js's first line (output digest, difference from the
    reference) under the mask, or None where ONNX Runtime does not load"""
    try:
        result = subprocess.run(["node", os.path.join(BENCH, "peers_ort.js"), model + ".onnx",
                                 model + ".input.npy", model + ".output.npy"],
                                input="quit\n", env=masked(mask, library), cwd=BENCH,
                                capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, str(error)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return None, (result.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(lines[0]), ""


def main():
    zinfer, library, models, probe_program = (os.path.abspath(arg) for arg in sys.argv[1:5])
    flags = cpu_flags()
    lacking = [flag for flag in ("avx2", "fma", "cpuid_fault") if flag not in flags]
    if lacking:
        print(f"SKIP: the ISA mask test needs an AVX2 CPU with CPUID faulting; "
              f"this one lacks {', '.join(lacking)}")
        return SKIP
    # The CPU's own level, and the cap below it whose kernels differ
    avx512 = all(flag in flags for flag in ("avx512f", "avx512bw", "avx512vl", "avx512dq"))
    top, below = ("avx512", "avx2") if avx512 else ("avx2", "portable")
    print(f"note: this CPU's level is {top}; the cap below it is {below}")
    failed = 0

    def check(ok, what):
        nonlocal failed
        print(("ok   " if ok else "FAIL ") + what)
        failed += not ok

    for mask, want in ((None, top), ("avx2", "avx2"), ("portable", "portable"),
                       ("native", top)):
        level, cpu = isa_line(zinfer, mask, library)
        check(level == want and cpu == want,
              f"ZI_ISA_MASK={mask or 'unset'}: zinfer finds {want}, got {level} ({cpu})")

    # A library's constructor asks CPUID before main, as OpenBLAS's does
    # to pick its kernels: the mask must already be on
    has512 = int(avx512)
    for mask, want512, want2 in ((None, has512, 1), ("avx2", 0, 1), ("portable", 0, 0)):
        probe = subprocess.run([probe_program], env=masked(mask, library),
                               capture_output=True, text=True, timeout=60)
        want = (f"avx512f at load {want512}, in main {want512}; "
                f"avx2 at load {want2}, in main {want2}")
        check(probe.stdout.strip() == want,
              f"ZI_ISA_MASK={mask or 'unset'}: a library's constructor and main see "
              f"avx512f={want512} avx2={want2}: {probe.stdout.strip() or probe.stderr.strip()}")

    bad = subprocess.run([zinfer, "--version"], env=masked("avx1024", library),
                         capture_output=True, text=True, timeout=60)
    check(bad.returncode != 0 and "avx1024" in bad.stderr and len(bad.stderr.splitlines()) == 1,
          f"ZI_ISA_MASK=avx1024 refused in one line: exit {bad.returncode}, {bad.stderr.strip()!r}")

    # A real fault goes on to the default action, not into a loop
    crash = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.string_at(8)"],
                           env=masked(below, library), capture_output=True, timeout=60)
    check(crash.returncode == -signal.SIGSEGV,
          f"a bad address under the mask still ends in SIGSEGV: exit {crash.returncode}")

    # node's V8 takes its WebAssembly bounds checks as SIGSEGV in a handler
    # of its own, installed after the mask's: the fault must reach it
    if shutil.which("node"):
        trap = subprocess.run(["node", "-e", WASM_OUT_OF_BOUNDS], env=masked(below, library),
                              capture_output=True, text=True, timeout=60)
        check(trap.returncode == 0 and "out of bounds" in trap.stdout,
              f"node's own SIGSEGV handler still gets its faults under the mask: exit "
              f"{trap.returncode}, {(trap.stdout + trap.stderr).strip()[-120:]!r}")
    else:
        print("note: node part left out: no node")

    # PyTorch says which kernels it dispatches to; its own best may be below
    # the CPU's, so only the portable cap's answer is sure
    probe = ("import torch; print([line.split(':')[1].strip() for line in "
             "torch.__config__.show().splitlines() if 'CPU capability' in line][0])")
    torch = subprocess.run([sys.executable, "-c", probe], env=masked("portable", library),
                           capture_output=True, text=True, timeout=120)
    if torch.returncode != 0:
        print("note: PyTorch part left out: " +
              (torch.stderr.strip().splitlines() or ["no output"])[-1])
    else:
        check(torch.stdout.strip() == "NO AVX",
              f"PyTorch under the portable mask uses no AVX: {torch.stdout.strip()}")

    model = os.path.join(models, "mobilenet_v3_small_op17")
    native, why = ort_hello(model, None, library)
    if native is None:
        print(f"note: ONNX Runtime part left out: {why}")
    else:
        capped, why = ort_hello(model, below, library)
        check(capped is not None, f"ONNX Runtime runs under the {below} mask: {why or 'yes'}")
        if capped:
            check(capped["output_sha256"] != native["output_sha256"],
                  f"ONNX Runtime's output bits differ under the {below} mask (other kernels)")
            check(max(capped["max_abs_diff"], native["max_abs_diff"]) < 1e-4,
                  f"ONNX Runtime's output right at both caps: largest difference from "
                  f"PyTorch's {native['max_abs_diff']:.2e} and {capped['max_abs_diff']:.2e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
