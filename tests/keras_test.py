#!/usr/bin/python3
"""Keras import, end to end.

    keras_test.py models ZINFER TFJS_DIR OUT_DIR
        Builds the models of tests/keras/make_keras_models.js with tfjs (node
        and `npm install --prefix TFJS_DIR @tensorflow/tfjs`; without them
        the test is skipped, exit 77), runs `zinfer run` on each model.json
        with the inputs tfjs was given, and compares every output with
        tfjs's model.predict: within 1e-4 relative (1e-5 absolute near 0).
        Each model is also written as a Keras 2 .h5 file and a Keras 3
        .keras zip (tests/keras/write_keras_files.py, with h5py), and those
        are checked against the same tfjs outputs.

    keras_test.py bad ZINFER
        Runs `zinfer info` on each broken model of tests/bad/keras and on
        the broken .h5 and .keras files tests/keras/bad_keras_files.py
        writes: exit code 2, exactly one line on stderr, containing the
        text expect.txt (or the script) gives for it.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
FORMATS = ("model.json", "model.h5", "model.keras")


def check_models(zinfer, tfjs_dir, out_dir):
    if not shutil.which("node"):
        print("keras_test: skipped: node is not installed (apt-get install nodejs)")
        return SKIP
    if not os.path.isdir(os.path.join(tfjs_dir, "node_modules", "@tensorflow", "tfjs")):
        print("keras_test: skipped: @tensorflow/tfjs is not in %s "
              "(npm install --prefix %s @tensorflow/tfjs)" % (tfjs_dir, tfjs_dir))
        return SKIP
    shutil.rmtree(out_dir, ignore_errors=True)
    made = subprocess.run(["node", os.path.join(HERE, "keras", "make_keras_models.js"),
                           tfjs_dir, out_dir], stdout=subprocess.DEVNULL)
    if made.returncode != 0:
        print("FAIL make_keras_models.js exited with %d" % made.returncode)
        return 1
    names = sorted(os.listdir(out_dir))
    written = subprocess.run([sys.executable, os.path.join(HERE, "keras", "write_keras_files.py")]
                             + [os.path.join(out_dir, name) for name in names])
    if written.returncode != 0:
        print("FAIL write_keras_files.py exited with %d" % written.returncode)
        return 1
    failures = 0
    for name in names:
        folder = os.path.join(out_dir, name)
        for model_file in FORMATS:
            failures += check_model(zinfer, folder, name, model_file)
    print("keras_test: %d models in %d formats, %d failures" % (len(names), len(FORMATS),
                                                                 failures))
    return 1 if failures else 0


def check_model(zinfer, folder, name, model_file):
    """Runs one model file on the folder's inputs; the number of failures."""
    with open(os.path.join(folder, "meta.json")) as file:
        meta = json.load(file)
    label = "%s/%s" % (name, model_file)
    command = [zinfer, "run", os.path.join(folder, model_file)]
    # By position: tfjs's own input names may differ from the saved ones
    for index in range(len(meta["inputs"])):
        command += ["--input", os.path.join(folder, "x%d.npy" % index)]
    for index, output_name in enumerate(meta["outputs"]):
        command += ["--output", "%s=%s" % (output_name,
                                           os.path.join(folder, "got%d.npy" % index))]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print("FAIL %s: zinfer run: %s" % (label, result.stderr.strip()))
        return 1
    failures = 0
    for index, output_name in enumerate(meta["outputs"]):
        want = np.load(os.path.join(folder, "y%d.npy" % index))
        got = np.load(os.path.join(folder, "got%d.npy" % index))
        os.remove(os.path.join(folder, "got%d.npy" % index))
        if got.shape != want.shape:
            print("FAIL %s: output '%s': shape %s, tfjs gives %s"
                  % (label, output_name, got.shape, want.shape))
            failures += 1
            continue
        error = np.abs(got - want) / np.maximum(np.abs(want), 0.1)
        worst = float(error.max()) if error.size else 0.0
        ok = worst <= 1e-4
        print("%s %s: output '%s' %s, worst relative error %.2e"
              % ("ok  " if ok else "FAIL", label, output_name, list(got.shape), worst))
        failures += not ok
    return failures


def check_bad(zinfer):
    folder = os.path.join(HERE, "bad", "keras")
    with open(os.path.join(folder, "expect.txt")) as file:
        cases = [[os.path.join(folder, part) if index == 0 else part
                  for index, part in enumerate(line.rstrip("\n").split("\t", 1))]
                 for line in file if line.strip() and not line.startswith("#")]
    # The broken .h5 and .keras files are written afresh (binary, with h5py)
    with tempfile.TemporaryDirectory() as scratch:
        made = subprocess.run([sys.executable, os.path.join(HERE, "keras", "bad_keras_files.py"),
                               scratch], capture_output=True, text=True)
        if made.returncode != 0:
            print("FAIL bad_keras_files.py: %s" % made.stderr.strip())
            return 1
        cases += [[os.path.join(scratch, part) if index == 0 else part
                   for index, part in enumerate(line.split("\t", 1))]
                  for line in made.stdout.splitlines()]
        failures = sum(not check_bad_file(zinfer, path, expected) for path, expected in cases)
    print("keras_test bad: %d files, %d failures" % (len(cases), failures))
    return 1 if failures else 0


def check_bad_file(zinfer, path, expected):
    result = subprocess.run([zinfer, "info", path], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    ok = result.returncode == 2 and len(lines) == 1 and expected in lines[0]
    print("%s %s: exit %d: %s" % ("ok  " if ok else "FAIL", os.path.basename(path),
                                 result.returncode, result.stderr.strip()))
    if not ok:
        print("     expected exit 2 and one line containing: %s" % expected)
    return ok


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "models":
        return check_models(sys.argv[2], sys.argv[3], sys.argv[4])
    if len(sys.argv) == 3 and sys.argv[1] == "bad":
        return check_bad(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
