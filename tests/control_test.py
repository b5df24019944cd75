#!/usr/bin/python3
"""Control flow (If, Loop, Scan), end to end.

    control_test.py ZINFER OUT_DIR

Builds the models of tests/control/make_control_models.py into OUT_DIR,
runs `zinfer run` on each run's inputs and compares every output with the
expected one: numpy's arithmetic for the onnx.helper models, PyTorch's
own answer for the torch.jit.script exports, within 1e-5 absolute plus
1e-4 relative (integer and bool outputs exactly); a run meant to fail
must fail with the error its case names. A case that names op
types the plan must not hold (an If on a constant is inlined) is checked
in `zinfer info --fuse` too.
"""

import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def check_case(zinfer, folder):
    with open(os.path.join(folder, "meta.json")) as handle:
        meta = json.load(handle)
    model = os.path.join(folder, "model.onnx")
    problems = []
    for run in range(meta["runs"]):
        command = [zinfer, "run", model]
        for index, name in enumerate(meta["inputs"]):
            command += ["--input", "%s=%s" % (name, os.path.join(folder, "in%d_%d.npy" % (run, index)))]
        for index, name in enumerate(meta["outputs"]):
            command += ["--output", "%s=%s" % (name, os.path.join(folder, "got%d_%d.npy" % (run, index)))]
        result = subprocess.run(command, capture_output=True, text=True)
        error = meta.get("errors", [None] * meta["runs"])[run]
        if error:
            if result.returncode == 0 or error not in result.stderr:
                problems.append("run %d: expected to fail with '%s', got exit %d: %s"
                                % (run, error, result.returncode, result.stderr.strip()))
            continue
        if result.returncode != 0:
            problems.append("run %d: zinfer run: %s" % (run, result.stderr.strip()))
            continue
        for index, name in enumerate(meta["outputs"]):
            want = np.load(os.path.join(folder, "want%d_%d.npy" % (run, index)))
            got = np.load(os.path.join(folder, "got%d_%d.npy" % (run, index)))
            if got.shape != want.shape:
                problems.append("run %d: output '%s': shape %s, expected %s"
                                % (run, name, got.shape, want.shape))
            elif want.dtype.kind in "fc":
                error = np.abs(got.astype(np.float64) - want)
                limit = 1e-5 + 1e-4 * np.abs(want)
                if not (error <= limit).all():
                    problems.append("run %d: output '%s': off by %.3g (worst at %s)"
                                    % (run, name, error.max(), np.unravel_index(
                                        np.argmax(error - limit), want.shape)))
            elif not np.array_equal(got.astype(want.dtype), want):
                problems.append("run %d: output '%s': %s, expected %s"
                                % (run, name, got.tolist(), want.tolist()))
    if meta["absent"]:
        result = subprocess.run([zinfer, "info", "--fuse", model], capture_output=True, text=True)
        ops = [line.split()[2] for line in result.stdout.splitlines()
               if len(line.split()) > 3 and line.split()[0].isdigit()]
        if result.returncode != 0:
            problems.append("zinfer info --fuse: %s" % result.stderr.strip())
        for op in meta["absent"]:
            if op in ops:
                problems.append("the plan still holds %s (ops: %s)" % (op, " ".join(ops)))
    return problems


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: control_test.py ZINFER OUT_DIR")
    zinfer, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    made = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "control",
                                                            "make_control_models.py"), out])
    if made.returncode != 0:
        print("FAIL make_control_models.py exited with %d" % made.returncode)
        return 1
    failures = 0
    names = sorted(os.listdir(out))
    for name in names:
        problems = check_case(zinfer, os.path.join(out, name))
        print("%s %s%s" % ("FAIL" if problems else "ok  ", name,
                           "".join("\n     " + problem for problem in problems)))
        failures += bool(problems)
    print("%d cases, %d failed" % (len(names), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
