#!/usr/bin/python3
"""Shared layers: one Keras layer called on several inputs with one set of
weights, and layers reused inside a nested model that is itself called
twice, against numpy.

    shared_layers_test.py ZINFER

The model, written by hand as Keras 2 writes a config (references to a
layer's calls counted from 0):

    a, b                      two [N, 5, 5, 3] inputs
    shared = Conv2D (4, 3x3, same, relu), called on a and on b
    tower  = Functional (t_in -> t_conv -> t_relu -> t_conv -> t_sum), its
             t_conv called twice inside it, the tower called on both of
             shared's results: t_conv holds the weights of 4 calls
    pairs  = Concatenate (shared (a), shared (b))
    delta  = Subtract (tower (shared (a)), tower (shared (b)))
    pool, proj = GlobalAveragePooling2D and Dense (3), each called on both
             towers' results; score = Add (proj (pool (.)), proj (pool (.)))

written as a TF.js model.json with its shard, as a Keras 2 .h5 file and
as a .keras zip in Keras 3's form (tests/keras/write_keras_files.py).
Each output of each file must match the numpy reference within 1e-5
relative (1e-6 absolute), `zinfer info` must name the later calls as
Keras layers' calls are named: shared_2, t_conv_2, t_conv_3, ..., and
the graph must hold each layer's weights once: the parameters `zinfer
info` totals (each constant counted once) are exactly the layers'
weights (147), not one copy per call (334).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import write_keras_files as writer  # noqa: E402


def ref(layer, node=0, tensor=0):
    return [layer, node, tensor, {}]


def layer(class_name, name, config, *calls):
    return {"class_name": class_name, "name": name, "config": dict(config, name=name),
            "inbound_nodes": [list(call) for call in calls]}


def model_config():
    tower = {
        "class_name": "Functional", "name": "tower",
        "config": {"name": "tower", "layers": [
            layer("InputLayer", "t_in", {"batch_input_shape": [None, 5, 5, 4]}),
            layer("Conv2D", "t_conv", {"filters": 4, "kernel_size": [1, 1]},
                  [ref("t_in")], [ref("t_relu")]),
            layer("Activation", "t_relu", {"activation": "relu"}, [ref("t_conv", 0)]),
            layer("Add", "t_sum", {}, [ref("t_conv", 0), ref("t_conv", 1)])],
            "input_layers": [["t_in", 0, 0]], "output_layers": [["t_sum", 0, 0]]},
        "inbound_nodes": [[ref("shared", 0)], [ref("shared", 1)]]}
    layers = [
        layer("InputLayer", "a", {"batch_input_shape": [None, 5, 5, 3]}),
        layer("InputLayer", "b", {"batch_input_shape": [None, 5, 5, 3]}),
        layer("Conv2D", "shared", {"filters": 4, "kernel_size": [3, 3], "padding": "same",
                                   "activation": "relu"}, [ref("a")], [ref("b")]),
        tower,
        layer("Concatenate", "pairs", {"axis": -1}, [ref("shared", 0), ref("shared", 1)]),
        layer("Subtract", "delta", {}, [ref("tower", 0), ref("tower", 1)]),
        layer("GlobalAveragePooling2D", "pool", {}, [ref("tower", 0)], [ref("tower", 1)]),
        layer("Dense", "proj", {"units": 3}, [ref("pool", 0)], [ref("pool", 1)]),
        layer("Add", "score", {}, [ref("proj", 0), ref("proj", 1)])]
    return {"class_name": "Functional", "config": {
        "name": "shared_layers", "layers": layers,
        "input_layers": [["a", 0, 0], ["b", 0, 0]],
        "output_layers": [["pairs", 0, 0], ["delta", 0, 0], ["score", 0, 0]]}}


def conv_same(x, kernel, bias):
    """NHWC convolution, stride 1, SAME padding, HWIO kernel"""
    height, width = kernel.shape[:2]
    top, left = (height - 1) // 2, (width - 1) // 2
    padded = np.pad(x, ((0, 0), (top, height - 1 - top), (left, width - 1 - left), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for row in range(height):
        for column in range(width):
            window = padded[:, row:row + x.shape[1], column:column + x.shape[2], :]
            out += np.einsum("nhwc,cf->nhwf", window, kernel[row, column])
    return out + bias


def reference(x_a, x_b, weights):
    relu = lambda v: np.maximum(v, 0)
    shared = [relu(conv_same(x, *weights["shared"])) for x in (x_a, x_b)]

    def tower(x):
        first = conv_same(x, *weights["t_conv"])
        return first + conv_same(relu(first), *weights["t_conv"])

    towers = [tower(s) for s in shared]
    kernel, bias = weights["proj"]
    projected = [t.mean(axis=(1, 2)) @ kernel + bias for t in towers]
    return {"pairs": np.concatenate(shared, axis=-1), "delta": towers[0] - towers[1],
            "score": projected[0] + projected[1]}


def write_model_json(folder, model, weights):
    """A TF.js layers-model of each layer's kernel and bias"""
    writer.write_model_json(folder, model, {name: list(zip(("kernel", "bias"), arrays))
                                            for name, arrays in weights.items()})


def check_file(zinfer, folder, path, want, n_weights):
    command = [zinfer, "run", path, "--input", os.path.join(folder, "a.npy"),
               "--input", os.path.join(folder, "b.npy")]
    for name in want:
        command += ["--output", "%s=%s" % (name, os.path.join(folder, "got_%s.npy" % name))]
    result = subprocess.run(command, capture_output=True, text=True)
    label = os.path.basename(path)
    if result.returncode != 0:
        print("FAIL %s: zinfer run: %s" % (label, result.stderr.strip()))
        return 1
    failures = 0
    for name, expected in want.items():
        got = np.load(os.path.join(folder, "got_%s.npy" % name))
        ok = got.shape == expected.shape and np.allclose(got, expected, rtol=1e-5, atol=1e-6)
        worst = float(np.abs(got - expected).max()) if got.shape == expected.shape else -1
        print("%s %s: output '%s' %s, max difference %.2e" % ("ok  " if ok else "FAIL", label,
                                                             name, list(got.shape), worst))
        failures += not ok
    info = subprocess.run([zinfer, "info", path], capture_output=True, text=True).stdout
    names = {line.split()[1] for line in info.splitlines()
             if line.strip() and line.split()[0].isdigit()}
    for node in ("shared", "shared_2", "t_conv", "t_conv_2", "t_conv_3", "t_conv_4",
                 "proj", "proj_2"):
        if node not in names:
            print("FAIL %s: zinfer info lists no node '%s'" % (label, node))
            failures += 1
    # The graph holds each layer's weights once, however often it is
    # called: zinfer info's total counts each constant once
    totals = [line for line in info.splitlines() if line.startswith("total:")]
    held = int(totals[0].split(",")[1].split()[0]) if totals else -1
    ok = held == n_weights
    print("%s %s: the graph holds %d weights, the layers have %d" % ("ok  " if ok else "FAIL",
                                                                   label, held, n_weights))
    failures += not ok
    return failures


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    zinfer = sys.argv[1]
    rng = np.random.default_rng(17)
    weights = {"shared": (rng.standard_normal((3, 3, 3, 4)) * 0.5,
                          rng.standard_normal(4) * 0.2),
               "t_conv": (rng.standard_normal((1, 1, 4, 4)) * 0.5,
                          rng.standard_normal(4) * 0.2),
               "proj": (rng.standard_normal((4, 3)), rng.standard_normal(3) * 0.2)}
    weights = {name: tuple(array.astype(np.float32) for array in arrays)
               for name, arrays in weights.items()}
    x_a = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    x_b = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    # The reference in float64 from the float32 weights and inputs
    want = reference(x_a.astype(np.float64), x_b.astype(np.float64),
                     {name: tuple(a.astype(np.float64) for a in arrays)
                      for name, arrays in weights.items()})
    model = model_config()
    by_layer = {name: list(zip(("kernel", "bias"), arrays)) for name, arrays in weights.items()}
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "a.npy"), x_a)
        np.save(os.path.join(folder, "b.npy"), x_b)
        write_model_json(folder, json.loads(json.dumps(model)), weights)
        writer.write_h5(os.path.join(folder, "model.h5"), json.loads(json.dumps(model)),
                        by_layer)
        writer.write_keras(os.path.join(folder, "model.keras"), json.loads(json.dumps(model)),
                           by_layer, keras3=True)
        for name in ("model.json", "model.h5", "model.keras"):
            failures += check_file(zinfer, folder, os.path.join(folder, name), want,
                                   sum(array.size for arrays in weights.values()
                                       for array in arrays))
    print("shared_layers: %d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
