#!/usr/bin/python3
"""Runs `zinfer info` on every malformed model of the catalogue and checks
that each is refused the way a user needs: exit code 2 (not a signal, not
success), exactly one line on stderr, and that line containing the text
expect.txt gives for the file. A file whose text is "(runs)" is legal
instead (it sits near a limit): `zinfer info` succeeds, and `zinfer run`
on the inputs in FILE.npz gives the outputs there, with every output
saved, once and with --repeat.

    /usr/bin/python3 tests/bad/models/check_bad_models.py ZINFER_BINARY [FILE...]

Some cases describe absurd sizes, so zinfer runs with its address space
capped (or, under AddressSanitizer, which needs a huge address space, with
ASan's own cap on single allocations): a model that makes zinfer allocate
without bound then gets an error rather than the machine's memory.
"""

import os
import re
import resource
import signal
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MEMORY_LIMIT = 4 << 30          # bytes of address space for a plain build
TIMEOUT = 60                    # seconds per model


def expectations():
    table = {}
    with open(os.path.join(HERE, "expect.txt")) as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, tab, expected = line.partition("\t")
            if not tab or not expected:
                sys.exit("expect.txt:%d: expected FILE<TAB>TEXT, got %r" % (number, line))
            table[name] = expected
    return table


def sanitized(binary):
    with open(binary, "rb") as handle:
        return b"__asan_init" in handle.read()


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


RUNS = "(runs)"


def describe(result):
    if result.returncode < 0:
        return "killed by %s" % signal.Signals(-result.returncode).name
    return "exit code %d: %s" % (result.returncode, result.stderr.strip()[-300:])


def check_runs(zinfer, path):
    """A legal model: info succeeds, run gives the outputs of FILE.npz"""
    result = subprocess.run([zinfer, "info", path], capture_output=True, text=True,
                            errors="replace", timeout=TIMEOUT)
    if result.returncode != 0:
        return "zinfer info: " + describe(result)
    saved = np.load(path[: -len(".onnx")] + ".npz")
    inputs = {key[len("input_"):]: saved[key] for key in saved if key.startswith("input_")}
    outputs = {key[len("output_"):]: saved[key] for key in saved if key.startswith("output_")}
    with tempfile.TemporaryDirectory(prefix="zinfer-runs-") as folder:
        command = [zinfer, "run", path]
        for name, data in inputs.items():
            np.save(os.path.join(folder, "in_%s.npy" % name), data)
            command += ["--input", "%s=%s" % (name, os.path.join(folder, "in_%s.npy" % name))]
        for name in outputs:
            command += ["--output", "%s=%s" % (name, os.path.join(folder, "%s.npy" % name))]
        for extra in ([], ["--repeat", "3"]):
            result = subprocess.run(command + extra, capture_output=True, text=True,
                                    errors="replace", timeout=TIMEOUT)
            what = "zinfer run%s" % "".join(" " + word for word in extra)
            if result.returncode != 0:
                return "%s: %s" % (what, describe(result))
            for name, want in outputs.items():
                got = np.load(os.path.join(folder, "%s.npy" % name))
                if got.shape != want.shape or not np.allclose(got, want, atol=1e-6):
                    return "%s: output '%s' differs from FILE.npz" % (what, name)
    return None


def check(zinfer, path, expected, asan):
    """Returns a description of what went wrong, or None"""
    if expected == RUNS:
        return check_runs(zinfer, path)
    env = dict(os.environ)
    if asan:
        env["ASAN_OPTIONS"] = "allocator_may_return_null=1:max_allocation_size_mb=%d:%s" % (
            MEMORY_LIMIT >> 20, env.get("ASAN_OPTIONS", ""))
    try:
        result = subprocess.run([zinfer, "info", path], capture_output=True, text=True,
                                errors="replace", timeout=TIMEOUT, env=env,
                                preexec_fn=None if asan else limit_memory)
    except subprocess.TimeoutExpired:
        return "no answer in %d s" % TIMEOUT
    lines = result.stderr.splitlines()
    if asan:
        # With allocator_may_return_null, ASan notes each refused
        # allocation on stderr before zinfer reports it
        lines = [line for line in lines if not re.match(
            r"==\d+==WARNING: AddressSanitizer failed to allocate", line)]
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        return "killed by %s: %s" % (name, " | ".join(lines[-3:]) or "no output")
    if result.returncode != 2:
        # A sanitizer's report says more than the banner above it
        reports = [line for line in lines if "ERROR:" in line or "runtime error:" in line]
        shown = (reports or lines or [None])[0]
        return "exit code %d, expected 2%s" % (
            result.returncode, (": " + shown) if shown else " (and no error line)")
    if len(lines) != 1:
        return "%d lines on stderr, expected 1: %s" % (len(lines), " | ".join(lines[:4]))
    if expected not in lines[0]:
        return "expected %r in: %s" % (expected, lines[0])
    return None


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: check_bad_models.py ZINFER_BINARY [FILE...]")
    zinfer = os.path.abspath(sys.argv[1])
    table = expectations()
    names = [os.path.basename(name) for name in sys.argv[2:]] or sorted(table)
    on_disk = sorted(name for name in os.listdir(HERE) if name.endswith(".onnx"))
    asan = sanitized(zinfer)
    passed = failed = 0
    for name in names:
        if name not in table:
            problem = "no line in expect.txt"
        else:
            problem = check(zinfer, os.path.join(HERE, name), table[name], asan)
        if problem:
            failed += 1
            print("FAIL %s: %s" % (name, problem))
        else:
            passed += 1
            print("ok   %s" % name)
    if not sys.argv[2:]:
        for name in on_disk:
            if name not in table:
                failed += 1
                print("FAIL %s: no line in expect.txt" % name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
