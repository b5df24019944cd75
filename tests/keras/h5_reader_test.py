#!/usr/bin/python3
"""The HDF5 reader: .h5 files, and the weights file of a .keras zip, are
read in a child process that may crash, hang or answer garbage without
taking zinfer with it.

    h5_reader_test.py ZINFER

A small Dense model is written as a TF.js model.json (read in zinfer's
own process, no HDF5), as a Keras 2 .h5 file and as a .keras zip. Then:

- `zinfer run` on the .h5 and the .keras file gives outputs bit for bit
  those of the model.json, which match numpy within 1e-5: the weights
  come through the child's pipe unchanged;
- a truncated .h5 file and a .keras zip holding one are refused in one
  line naming HDF5's reason;
- with the test hook ZI_KERAS_READER_FAULT, the child raises SIGSEGV,
  sleeps for ever (with ZI_KERAS_READER_TIMEOUT=1) or answers garbage:
  `zinfer info` exits with 2 and one line on stderr naming what happened
  and the file, within a few seconds for the hang.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import write_keras_files as writer  # noqa: E402


def model_config():
    return {"class_name": "Sequential", "config": {"name": "dense_pair", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 6]}},
        {"class_name": "Dense", "config": {"name": "fc1", "units": 8, "activation": "relu"}},
        {"class_name": "Dense", "config": {"name": "fc2", "units": 3,
                                           "activation": "linear"}}]}}


def write_model_json(folder, model, by_layer):
    specs, data = [], b""
    for layer, weights in by_layer.items():
        for name, array in weights:
            specs.append({"name": "%s/%s" % (layer, name), "shape": list(array.shape),
                          "dtype": "float32"})
            data += array.astype("<f4").tobytes()
    with open(os.path.join(folder, "weights.bin"), "wb") as file:
        file.write(data)
    with open(os.path.join(folder, "model.json"), "w") as file:
        json.dump({"format": "layers-model", "modelTopology": model,
                   "weightsManifest": [{"paths": ["weights.bin"], "weights": specs}]}, file)


def run(zinfer, folder, name):
    """zinfer run on x.npy; the output array, or the error"""
    out = os.path.join(folder, "y_%s.npy" % name)
    result = subprocess.run([zinfer, "run", os.path.join(folder, name), "--threads", "1",
                             "--input", os.path.join(folder, "x.npy"), "--output", out],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip()
    return np.load(out), None


def refused(zinfer, path, want, env=None, within=None):
    """zinfer info on path: exit code 2, one line holding want; the failures"""
    start = time.monotonic()
    result = subprocess.run([zinfer, "info", path], capture_output=True, text=True,
                            env=dict(os.environ, **(env or {})))
    seconds = time.monotonic() - start
    lines = result.stderr.strip().splitlines()
    label = "%s%s" % (os.path.basename(path),
                      "".join(" %s=%s" % item for item in (env or {}).items()))
    ok = result.returncode == 2 and len(lines) == 1 and want in lines[0]
    if within is not None and seconds > within:
        ok = False
    print("%s %s: %s (%.1f s)" % ("ok  " if ok else "FAIL", label,
                                   lines[0] if len(lines) == 1 else lines, seconds))
    if not ok and result.returncode != 2:
        print("     exit code %d, expected 2" % result.returncode)
    return 0 if ok else 1


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    zinfer = sys.argv[1]
    rng = np.random.default_rng(11)
    by_layer = {"fc1": [("kernel", rng.standard_normal((6, 8)).astype(np.float32)),
                        ("bias", rng.standard_normal(8).astype(np.float32))],
                "fc2": [("kernel", rng.standard_normal((8, 3)).astype(np.float32)),
                        ("bias", rng.standard_normal(3).astype(np.float32))]}
    x = rng.standard_normal((4, 6)).astype(np.float32)
    hidden = np.maximum(x.astype(np.float64) @ by_layer["fc1"][0][1] + by_layer["fc1"][1][1], 0)
    want = hidden @ by_layer["fc2"][0][1] + by_layer["fc2"][1][1]
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "x.npy"), x)
        write_model_json(folder, model_config(), by_layer)
        writer.write_h5(os.path.join(folder, "model.h5"), model_config(), by_layer)
        writer.write_keras(os.path.join(folder, "model.keras"), model_config(), by_layer)

        reference, error = run(zinfer, folder, "model.json")
        close = reference is not None and np.allclose(reference, want, rtol=1e-5, atol=1e-6)
        print("%s model.json against numpy%s" % ("ok  " if close else "FAIL",
                                                  ": " + error if error else ""))
        failures += not close
        for name in ("model.h5", "model.keras"):
            got, error = run(zinfer, folder, name)
            same = (got is not None and reference is not None and got.shape == reference.shape
                    and got.tobytes() == reference.tobytes())
            print("%s %s: bit for bit as model.json%s" % ("ok  " if same else "FAIL", name,
                                                          ": " + error if error else ""))
            failures += not same

        # Truncated: HDF5's own refusal, from the child
        data = open(os.path.join(folder, "model.h5"), "rb").read()
        truncated = os.path.join(folder, "truncated.h5")
        with open(truncated, "wb") as file:
            file.write(data[:len(data) // 2])
        failures += refused(zinfer, truncated, "truncated.h5: not a readable HDF5 file")
        members = {}
        import zipfile
        with zipfile.ZipFile(os.path.join(folder, "model.keras")) as archive:
            for member in archive.namelist():
                members[member] = archive.read(member)
        members["model.weights.h5"] = members["model.weights.h5"][:300]
        cut = os.path.join(folder, "truncated_weights.keras")
        with zipfile.ZipFile(cut, "w") as archive:
            for member, content in members.items():
                archive.writestr(member, content)
        failures += refused(zinfer, cut, "truncated_weights.keras: model.weights.h5: not a "
                            "readable HDF5 file")

        # The child fails as a crafted file could make libhdf5 fail
        for name in ("model.h5", "model.keras"):
            path = os.path.join(folder, name)
            what = path if name == "model.h5" else path + ": model.weights.h5"
            failures += refused(zinfer, path, "HDF5 reader stopped by signal 11 reading %s: "
                                "the file is damaged or crafted" % what,
                                {"ZI_KERAS_READER_FAULT": "crash"})
            failures += refused(zinfer, path, "HDF5 reader stopped after 1.0 s reading %s" % what,
                                {"ZI_KERAS_READER_FAULT": "hang",
                                 "ZI_KERAS_READER_TIMEOUT": "1"}, within=10)
            failures += refused(zinfer, path, "HDF5 reader's answer reading %s is malformed "
                                "(record" % what, {"ZI_KERAS_READER_FAULT": "garbage"})
    print("h5_reader: %d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
