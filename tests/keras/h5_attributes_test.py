#!/usr/bin/python3
"""Keras 2 .h5 files as Keras itself writes their attributes, against numpy.

    h5_attributes_test.py ZINFER

Keras 2's save_attributes_to_hdf5_group writes a list as one attribute,
except in two cases the suite's own writer does not make:

- a layer without weights (the InputLayer) gets an empty weight_names,
  which numpy makes an array of float64, not of strings (a real .h5 file
  shipped on npm has this: tests/keras/corpus.json, isr_psnr_small_h5);
- a list longer than an HDF5 object header holds (64 kB: a model of
  many layers, or long names) is split into name0, name1, ... .

A Dense, Dense model written with both (layer_names in two parts, one
layer's weight_names in two parts, the input's weight_names empty
float64) must load, and its output match numpy within 1e-5; and one with
weight_names0 but a missing part must be refused in one line.
"""

import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

MODEL = {"class_name": "Sequential", "config": {"name": "parts", "layers": [
    {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 4]}},
    {"class_name": "Dense", "config": {"name": "fc1", "units": 3, "activation": "tanh"}},
    {"class_name": "Dense", "config": {"name": "fc2", "units": 2, "activation": "linear"}}]}}


def write(path, weights, drop_bias_part=False):
    with h5py.File(path, "w") as file:
        file.attrs["model_config"] = json.dumps(MODEL).encode()
        file.attrs["keras_version"] = b"2.3.0-tf"
        file.attrs["backend"] = b"tensorflow"
        group = file.create_group("model_weights")
        group.attrs["layer_names0"] = np.array([b"x", b"fc1"])
        group.attrs["layer_names1"] = np.array([b"fc2"])
        group.create_group("x").attrs["weight_names"] = np.array([])
        for layer in ("fc1", "fc2"):
            layer_group = group.create_group(layer)
            names = []
            for weight in ("kernel", "bias"):
                names.append(("%s/%s:0" % (layer, weight)).encode())
                layer_group.create_dataset(names[-1].decode(), data=weights[layer][weight])
            if layer == "fc1":
                layer_group.attrs["weight_names0"] = np.array(names[:1])
                if not drop_bias_part:
                    layer_group.attrs["weight_names1"] = np.array(names[1:])
            else:
                layer_group.attrs["weight_names"] = np.array(names)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    zinfer = sys.argv[1]
    rng = np.random.default_rng(23)
    weights = {"fc1": {"kernel": rng.standard_normal((4, 3)).astype(np.float32),
                       "bias": rng.standard_normal(3).astype(np.float32)},
               "fc2": {"kernel": rng.standard_normal((3, 2)).astype(np.float32),
                       "bias": rng.standard_normal(2).astype(np.float32)}}
    x = rng.standard_normal((5, 4)).astype(np.float32)
    hidden = np.tanh(x.astype(np.float64) @ weights["fc1"]["kernel"] + weights["fc1"]["bias"])
    want = hidden @ weights["fc2"]["kernel"] + weights["fc2"]["bias"]
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "x.npy"), x)
        path = os.path.join(folder, "parts.h5")
        write(path, weights)
        result = subprocess.run([zinfer, "run", path, "--input", os.path.join(folder, "x.npy"),
                                 "--output", os.path.join(folder, "y.npy")],
                                capture_output=True, text=True)
        got = np.load(os.path.join(folder, "y.npy")) if result.returncode == 0 else None
        ok = got is not None and got.shape == want.shape and np.allclose(got, want, rtol=1e-5,
                                                                           atol=1e-6)
        print("%s parts.h5: attributes in parts and an empty float64 weight_names%s"
              % ("ok  " if ok else "FAIL", "" if ok else ": " + result.stderr.strip()))
        failures += not ok

        path = os.path.join(folder, "missing_part.h5")
        write(path, weights, drop_bias_part=True)
        result = subprocess.run([zinfer, "info", path], capture_output=True, text=True)
        lines = result.stderr.strip().splitlines()
        expected = "weight 'fc1/bias' is not among the model's weights"
        ok = result.returncode == 2 and len(lines) == 1 and expected in lines[0]
        print("%s missing_part.h5: exit %d: %s" % ("ok  " if ok else "FAIL", result.returncode,
                                                  result.stderr.strip()))
        failures += not ok
    print("h5_attributes: %d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
