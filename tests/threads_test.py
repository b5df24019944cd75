#!/usr/bin/python3
"""A zinfer process runs no thread it does not need. OpenBLAS starts a
server thread per extra core as the library loads, and each spins for
about 0.1 s before it sleeps; zinfer shares its kernels out itself, so it
stops them first thing. A client's spinning BLAS thread had taken a core
from the worker answering it.

    threads_test.py ZINFER MODELS_DIR
"""

import os
import subprocess
import sys
import time


def threads_of(pid):
    return sorted(os.listdir(f"/proc/{pid}/task"))


def main():
    zinfer, models = sys.argv[1], sys.argv[2]
    model = os.path.join(models, "tiny_cnn_op13")
    failed = 0
    # One compute thread, so the run needs no thread but its own
    run = subprocess.Popen([zinfer, "run", model + ".onnx", "--input", model + ".input.npy",
                            "--threads", "1", "--repeat", "10000000"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.time() + 2.0
        while time.time() < deadline and run.poll() is None:
            seen.append(len(threads_of(run.pid)))
            time.sleep(0.02)
        if run.poll() is not None:
            print(f"FAIL zinfer run ended early: {run.stderr.read().strip()}")
            return 1
        # The first look may come before main() stopped OpenBLAS's threads
        steady = seen[len(seen) // 2:]
        ok = len(steady) > 10 and max(steady) == 1
        print(f"{'ok  ' if ok else 'FAIL'} zinfer run --threads 1 runs on one thread "
              f"(thread counts seen after the first second: {sorted(set(steady))}; "
              f"{os.cpu_count()} cores)")
        failed += not ok
    finally:
        run.kill()
        run.wait()
    failed += check_helper_profile(zinfer, model)
    return 1 if failed else 0


def check_helper_profile(zinfer, model):
    """--profile says what the helper threads did with two threads, and
    says nothing of them with one (no loop is shared)"""
    failed = 0
    for threads in (1, 2):
        done = subprocess.run([zinfer, "run", model + ".onnx", "--input", model + ".input.npy",
                               "--threads", str(threads), "--repeat", "20", "--profile"],
                              capture_output=True, text=True, timeout=120)
        lines = [line for line in done.stdout.splitlines() if "helper threads:" in line]
        if threads == 1:
            ok = done.returncode == 0 and not lines
            detail = lines[0].strip() if lines else "no helper line"
        else:
            # e.g. "helper threads: 5.6% of the shared work; in 13% of 43
            # shared loops per run; waited for 0.260 ms per run"
            numbers = []
            if len(lines) == 1:
                words = lines[0].replace("%", " ").replace(";", " ").split()
                numbers = [float(word) for word in words if word.replace(".", "", 1).isdigit()]
            ok = (done.returncode == 0 and len(numbers) == 4 and 0 <= numbers[0] <= 100
                  and 0 <= numbers[1] <= 100 and numbers[2] > 0 and numbers[3] >= 0)
            detail = lines[0].strip() if lines else done.stdout.strip()[-200:]
        print(f"{'ok  ' if ok else 'FAIL'} zinfer run --threads {threads} --profile: {detail}")
        failed += not ok
    return failed


if __name__ == "__main__":
    sys.exit(main())
