#!/usr/bin/python3
"""Runs `zinfer info` on every malformed model of the catalogue and checks
that each is refused the way a user needs: exit code 2 (not a signal, not
success), exactly one line on stderr, and that line containing the text
expect.txt gives for the file.

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


def check(zinfer, path, expected, asan):
    """Returns a description of what went wrong, or None"""
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
