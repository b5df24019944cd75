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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
