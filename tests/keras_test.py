#!/usr/bin/python3
"""Keras import, end to end.

    keras_test.py models ZINFER TFJS_DIR OUT_DIR
        Builds the models of tests/keras/make_keras_models.js with tfjs (node
        and `npm install --prefix TFJS_DIR @tensorflow/tfjs`; without them
        the test is skipped, exit 77), runs `zinfer run` on each model.json
        with the inputs tfjs was given, and compares every output with
        tfjs's model.predict: within 1e-4 relative (1e-5 absolute near 0).
        It fails if the script did not write the MobileNetV3, ResNet and
        Inception models (REQUIRED).
        Each model is also written as a Keras 2 .h5 file and a Keras 3
        .keras zip (tests/keras/write_keras_files.py, with h5py), and those
        are checked against the same tfjs outputs.

    keras_test.py versions ZINFER
        A Dense layer with a hard_sigmoid activation, which Keras 2
        defines as clip (0.2 x + 0.5, 0, 1) and Keras 3 as relu6 (x + 3)
        / 6: written as .h5 (Keras 2) and as .keras with metadata.json
        naming Keras 3, each checked against numpy within 1e-5. Then a
        Keras 3 model whose hard-swish is written with keras.ops on Keras
        tensors (recorded as operations of module keras.src.ops.*, a
        constant as first operand too), against numpy.

    keras_test.py bad ZINFER
        Runs `zinfer info` on each broken model of tests/bad/keras and on
        the broken .h5 and .keras files tests/keras/bad_keras_files.py
        writes: exit code 2, exactly one line on stderr, containing the
        text expect.txt (or the script) gives for it.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
FORMATS = ("model.json", "model.h5", "model.keras")
# The architectures the Keras import is held to by name: a script that
# stopped building one of them would otherwise still pass
REQUIRED = ("mobilenet_v3_block", "resnet_block", "inception_module")


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
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        print("FAIL make_keras_models.js did not write %s" % ", ".join(missing))
        return 1
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


def check_versions(zinfer):
    sys.path.insert(0, os.path.join(HERE, "keras"))
    import write_keras_files as writer
    model = {"class_name": "Sequential", "config": {"name": "gate", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 5]}},
        {"class_name": "Dense", "config": {"name": "fc", "units": 8,
                                           "activation": "hard_sigmoid"}}]}}
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((5, 8)).astype(np.float32) * 2
    bias = rng.standard_normal(8).astype(np.float32)
    x = rng.standard_normal((4, 5)).astype(np.float32) * 3
    z = x @ kernel + bias
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "x.npy"), x)
        cases = (("model.h5", writer.write_h5, np.clip(0.2 * z + 0.5, 0, 1)),
                 ("model.keras", lambda *args: writer.write_keras(*args, keras3=True),
                  np.clip(z / 6 + 0.5, 0, 1)))
        for name, write, want in cases:
            path = os.path.join(folder, name)
            write(path, model, {"fc": [("kernel", kernel), ("bias", bias)]})
            result = subprocess.run([zinfer, "run", path, "--input", os.path.join(folder, "x.npy"),
                                     "--output", os.path.join(folder, "y.npy")],
                                    capture_output=True, text=True)
            got = np.load(os.path.join(folder, "y.npy")) if result.returncode == 0 else None
            ok = got is not None and got.shape == want.shape and np.allclose(got, want, atol=1e-5)
            print("%s %s: hard_sigmoid as its Keras version defines it%s"
                  % ("ok  " if ok else "FAIL", name, "" if ok else ": " + result.stderr.strip()))
            failures += not ok
    return (1 if failures else 0) | check_keras3_ops(zinfer, writer)


def keras3_tensor(layer):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": "float32", "keras_history": [layer, 0, 0]}}


def keras3_op(class_name, name, module, *args):
    args = [keras3_tensor(a) if isinstance(a, str) else a for a in args]
    return {"module": "keras.src.ops." + module, "class_name": class_name, "config": {"name": name},
            "registered_name": class_name, "name": name,
            "inbound_nodes": [{"args": args, "kwargs": {}}]}


def check_keras3_ops(zinfer, writer):
    config = {"module": "keras", "class_name": "Functional", "config": {
        "name": "ops", "input_layers": ["x", 0, 0], "output_layers": ["subtract", 0, 0],
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "name": "x",
             "config": {"name": "x", "batch_shape": [None, 4, 4, 3]}, "inbound_nodes": []},
            {"module": "keras.layers", "class_name": "Conv2D", "name": "conv",
             "config": {"name": "conv", "filters": 4, "kernel_size": [1, 1]},
             "inbound_nodes": [{"args": [keras3_tensor("x")], "kwargs": {}}]},
            keras3_op("Add", "add", "numpy", "conv", 3.0),
            keras3_op("Relu6", "relu6", "nn", "add"),
            keras3_op("Multiply", "multiply", "numpy", "conv", "relu6"),
            keras3_op("TrueDivide", "true_divide", "numpy", "multiply", 6.0),
            keras3_op("Subtract", "subtract", "numpy", 1.0, "true_divide")]}}
    rng = np.random.default_rng(4)
    kernel = rng.standard_normal((1, 1, 3, 4)).astype(np.float32) * 2
    bias = rng.standard_normal(4).astype(np.float32)
    x = rng.standard_normal((2, 4, 4, 3)).astype(np.float32) * 2
    z = np.einsum("nhwc,cf->nhwf", x, kernel[0, 0]) + bias
    want = 1 - z * np.clip(z + 3, 0, 6) / 6
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ops.keras")
        weights = io.BytesIO()
        with writer.h5py.File(weights, "w") as file:
            writer.write_keras3_weights(file, config, {"conv": [("kernel", kernel),
                                                                ("bias", bias)]})
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", weights.getvalue())
        np.save(os.path.join(folder, "x.npy"), x)
        result = subprocess.run([zinfer, "run", path, "--input", os.path.join(folder, "x.npy"),
                                 "--output", os.path.join(folder, "y.npy")],
                                capture_output=True, text=True)
        got = np.load(os.path.join(folder, "y.npy")) if result.returncode == 0 else None
    ok = got is not None and got.shape == want.shape and np.allclose(got, want, atol=1e-5)
    print("%s ops.keras: keras.ops on Keras tensors%s"
          % ("ok  " if ok else "FAIL", "" if ok else ": " + result.stderr.strip()))
    return 0 if ok else 1


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
    if len(sys.argv) == 3 and sys.argv[1] == "versions":
        return check_versions(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "bad":
        return check_bad(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
