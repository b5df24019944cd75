#!/usr/bin/python3
"""A Keras model split over 3 processes by its Keras layer names.

    keras_split_test.py --zinfer build/zinfer --port-base 30600

Writes a small MobileNetV3-style model (Conv2D, BatchNormalization, a
hard-swish as TFOpLambda layers, DepthwiseConv2D, ReLU, a residual Add,
GlobalAveragePooling2D, Dense) as a .keras file (write_keras_files.py),
checks that `zinfer info` lists its Keras layer names, places it over 3
processes with a topology naming those layers, starts it with `zinfer up`
and checks that one request's answer is bit for bit the one
`zinfer run --threads 1` gives. Uses ports from --port-base to
--port-base + 20.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import write_keras_files  # noqa: E402
from split_test import Up  # noqa: E402


def layer(class_name, name, inbound, **config):
    return {"class_name": class_name, "name": name, "config": dict(config, name=name),
            "inbound_nodes": [[[ref[0], 0, 0, ref[1] if len(ref) > 1 else {}]
                               for ref in inbound]] if inbound else []}


def tf_op(function, x, y=None):
    kwargs = {"name": None} if y is None else {"y": y, "name": None}
    return layer("TFOpLambda", "tf." + function, [(x, kwargs)], function=function)


MODEL = {"class_name": "Functional", "config": {
    "name": "mobile", "input_layers": [["image", 0, 0]], "output_layers": [["logits", 0, 0]],
    "layers": [
        layer("InputLayer", "image", [], batch_input_shape=[None, 16, 16, 3]),
        layer("Conv2D", "stem_conv", [("image",)], filters=8, kernel_size=[3, 3],
              strides=[2, 2], padding="same", use_bias=False),
        layer("BatchNormalization", "stem_bn", [("stem_conv",)], epsilon=1e-3),
        tf_op("__operators__.add", "stem_bn", 3.0),
        tf_op("nn.relu6", "tf.__operators__.add"),
        tf_op("math.multiply", "stem_bn", ["tf.nn.relu6", 0, 0]),
        tf_op("math.truediv", "tf.math.multiply", 6.0),
        layer("DepthwiseConv2D", "dw", [("tf.math.truediv",)], kernel_size=[3, 3],
              padding="same", use_bias=False),
        layer("BatchNormalization", "dw_bn", [("dw",)]),
        layer("ReLU", "dw_relu", [("dw_bn",)]),
        layer("Conv2D", "project", [("dw_relu",)], filters=8, kernel_size=[1, 1]),
        layer("Add", "residual", [("tf.math.truediv",), ("project",)]),
        layer("GlobalAveragePooling2D", "gap", [("residual",)]),
        layer("Dense", "logits", [("gap",)], units=10, activation="softmax"),
    ]}}

# The topology places Keras layers by name; the names are those left after
# fusion (stem_conv holds stem_bn and the hard-swish, project the residual Add)
TOPOLOGY = """model: "{model}"
transport: tcp
processes:
  - name: front
    threads: 1
  - name: middle
    threads: 1
  - name: back
    threads: 1
placement:
  - process: front
    to: "stem_conv"
  - process: middle
    from: "dw"
    to: "project"
  - process: back
    from: "gap"
"""


def weights():
    rng = np.random.default_rng(17)

    def normal(*shape, scale=0.5):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def batchnorm(channels):
        return [("gamma", 1 + normal(channels, scale=0.1)), ("beta", normal(channels)),
                ("moving_mean", normal(channels)),
                ("moving_variance", rng.uniform(0.5, 1.5, channels).astype(np.float32))]

    return {"stem_conv": [("kernel", normal(3, 3, 3, 8))], "stem_bn": batchnorm(8),
            "dw": [("depthwise_kernel", normal(3, 3, 8, 1))], "dw_bn": batchnorm(8),
            "project": [("kernel", normal(1, 1, 8, 8)), ("bias", normal(8))],
            "logits": [("kernel", normal(8, 10)), ("bias", normal(10))]}


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--port-base", type=int, default=30600)
    options = parser.parse_args()
    zinfer = os.path.abspath(options.zinfer)
    failures = 0

    def check(ok, what, detail=""):
        nonlocal failures
        failures += not ok
        print("%s %s%s" % ("ok  " if ok else "FAIL", what,
                           ": " + detail if detail and not ok else ""), flush=True)
        return ok

    with tempfile.TemporaryDirectory(prefix="zinfer-keras-split-") as folder:
        model = os.path.join(folder, "mobile.keras")
        write_keras_files.write_keras(model, MODEL, weights())
        data = os.path.join(folder, "image.npy")
        np.save(data, np.random.default_rng(5).standard_normal((1, 16, 16, 3))
                .astype(np.float32))

        result = run([zinfer, "info", model])
        names = ["stem_conv", "stem_bn", "tf.nn.relu6", "tf.math.truediv", "dw", "dw_relu",
                     "project", "residual", "gap", "logits"]
        missing = [name for name in names if " %s " % name not in result.stdout]
        check(result.returncode == 0 and not missing, "zinfer info lists the Keras layers",
              result.stderr + " missing: %s" % missing)

        reference = os.path.join(folder, "reference.npy")
        result = run([zinfer, "run", model, "--input", data, "--threads", "1",
                      "--output", reference])
        if not check(result.returncode == 0, "zinfer run --threads 1 gives the reference",
                     result.stderr):
            return 1
        topology = os.path.join(folder, "split.yaml")
        with open(topology, "w") as handle:
            handle.write(TOPOLOGY.format(model=model))
        result = run([zinfer, "plan", topology, "--base-port", str(options.port_base)])
        check(result.returncode == 0 and "process middle" in result.stdout
              and "process back" in result.stdout,
              "zinfer plan places the layers over 3 processes", result.stdout + result.stderr)
        up = Up(zinfer, topology, options.port_base)
        try:
            if check(up.ready, "zinfer up starts it", "".join(up.stderr[-20:])):
                answer = os.path.join(folder, "answer.npy")
                result = run([zinfer, "infer", topology, "--base-port", str(options.port_base),
                              "--input", data, "--output", answer, "--timeout", "60000"])
                if check(result.returncode == 0, "zinfer infer answers", result.stderr):
                    got, want = np.load(answer), np.load(reference)
                    check(got.dtype == want.dtype and got.shape == want.shape
                          and got.tobytes() == want.tobytes(),
                          "the answer is bit for bit that of zinfer run --threads 1",
                          "max difference %s" % np.max(np.abs(got - want)))
        finally:
            up.stop()
    print("keras_split_test: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
