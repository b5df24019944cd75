#!/usr/bin/python3
"""Every name docs/keras.md lists as supported is run by a test: the
TensorFlow functions, Keras 3 operations and layer classes that no other
Keras test's model uses.

    every_name_test.py ZINFER

- each TFOpLambda function, in a Keras 2 model.json of one layer per
  function on a [N, 6] input, y a number, a list of numbers or a Keras
  tensor, against numpy;
- each Keras 3 operation, in a .keras file of one operation per name,
  operands Keras tensors or numbers, against numpy;
- the class names Keras also accepts for some layers (Convolution1D,
  Convolution2D, SeparableConvolution2D, Convolution2DTranspose,
  MaxPool2D, AvgPool2D) in a .h5 file, bit for bit as the same model
  written with the usual names (which keras_models checks against tfjs);
  and the layers that do nothing at inference (SpatialDropout2D,
  GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization),
  which must give their input back bit for bit;
- and the one weight dtype of model.json no other test stores: a Dense
  kernel of int32 values, against numpy.

All names are taken from `tests/keras/layer_lists.py`'s reading of the
importer, so a name added there without a case here fails.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import layer_lists  # noqa: E402
import write_keras_files as writer  # noqa: E402


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def relu6(v):
    return np.clip(v, 0, 6)


#  function -> (numpy of x (any sign), p (positive), t (a tensor), y)
#  and its y: a number, a list (over the last axis) or "t", the tensor
Y_LIST = [0.5, -1.0, 2.0, 1.5, -0.25, 3.0]
TF_FUNCTIONS = {
    "__operators__.add": (lambda x, p, t, y: x + y, 1.5),
    "math.add": (lambda x, p, t, y: x + t, "t"),
    "math.subtract": (lambda x, p, t, y: x - y, Y_LIST),
    "__operators__.sub": (lambda x, p, t, y: x - t, "t"),
    "math.multiply": (lambda x, p, t, y: x * y, Y_LIST),
    "__operators__.mul": (lambda x, p, t, y: x * y, -2.5),
    "math.truediv": (lambda x, p, t, y: x / y, 4.0),
    "math.divide": (lambda x, p, t, y: x / y, Y_LIST),
    "__operators__.truediv": (lambda x, p, t, y: x / p, "p"),
    "math.maximum": (lambda x, p, t, y: np.maximum(x, t), "t"),
    "math.minimum": (lambda x, p, t, y: np.minimum(x, y), 0.25),
    "math.pow": (lambda x, p, t, y: p ** y, 1.5),
    "nn.relu": (lambda x, p, t, y: np.maximum(x, 0), None),
    "nn.relu6": (lambda x, p, t, y: relu6(x * 4), None),
    "math.sigmoid": (lambda x, p, t, y: sigmoid(x), None),
    "nn.sigmoid": (lambda x, p, t, y: sigmoid(x), None),
    "math.tanh": (lambda x, p, t, y: np.tanh(x), None),
    "nn.silu": (lambda x, p, t, y: x * sigmoid(x), None),
    "nn.swish": (lambda x, p, t, y: x * sigmoid(x), None),
    "math.negative": (lambda x, p, t, y: -x, None),
    "math.abs": (lambda x, p, t, y: np.abs(x), None),
    "math.sqrt": (lambda x, p, t, y: np.sqrt(p), None),
    "math.exp": (lambda x, p, t, y: np.exp(x), None),
}
#  Which input each function takes as its x: p where x's sign would not do
TF_INPUT = {"math.pow": "p", "math.sqrt": "p", "nn.relu6": "x4"}

#  operation -> (module, numpy, operands: input names or numbers)
KERAS3_OPS = {
    "Add": ("numpy", lambda a, b: a + b, ["x", "t"]),
    "Subtract": ("numpy", lambda a, b: a - b, [1.0, "x"]),
    "Multiply": ("numpy", lambda a, b: a * b, ["x", -3.0]),
    "Divide": ("numpy", lambda a, b: a / b, ["x", "p"]),
    "TrueDivide": ("numpy", lambda a, b: a / b, [2.0, "p"]),
    "Maximum": ("numpy", np.maximum, ["x", "t"]),
    "Minimum": ("numpy", np.minimum, ["x", 0.5]),
    "Power": ("numpy", lambda a, b: a ** b, ["p", 2.5]),
    "Relu": ("nn", lambda a: np.maximum(a, 0), ["x"]),
    "Relu6": ("nn", lambda a: relu6(a), ["x4"]),
    "Sigmoid": ("nn", sigmoid, ["x"]),
    "HardSigmoid": ("nn", lambda a: relu6(a + 3) / 6, ["x4"]),
    "HardSilu": ("nn", lambda a: a * relu6(a + 3) / 6, ["x4"]),
    "HardSwish": ("nn", lambda a: a * relu6(a + 3) / 6, ["x4"]),
    "Silu": ("nn", lambda a: a * sigmoid(a), ["x"]),
    "Swish": ("nn", lambda a: a * sigmoid(a), ["x"]),
    "Tanh": ("numpy", np.tanh, ["x"]),
    "Negative": ("numpy", lambda a: -a, ["x"]),
    "Absolute": ("numpy", np.abs, ["x"]),
    "Abs": ("numpy", np.abs, ["x"]),
    "Sqrt": ("numpy", np.sqrt, ["p"]),
    "Exp": ("numpy", np.exp, ["x"]),
}

#  Other names of layers, and the name keras_models checks against tfjs
ALIASES = {"Convolution1D": "Conv1D", "Convolution2D": "Conv2D",
           "SeparableConvolution2D": "SeparableConv2D",
           "Convolution2DTranspose": "Conv2DTranspose",
           "MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}
IDENTITIES = {"SpatialDropout2D": {"rate": 0.3}, "GaussianNoise": {"stddev": 0.5},
              "GaussianDropout": {"rate": 0.3}, "AlphaDropout": {"rate": 0.3},
              "ActivityRegularization": {"l1": 0.01}}


def inputs(rng):
    x = rng.uniform(-3, 3, (2, 6)).astype(np.float32)
    return {"x": x, "p": rng.uniform(0.25, 3, (2, 6)).astype(np.float32),
            "t": rng.uniform(-3, 3, (2, 6)).astype(np.float32), "x4": x}


def run(zinfer, path, feeds, outputs, folder):
    """zinfer run with named inputs; {output: array} or an error text"""
    command = [zinfer, "run", path]
    for name, array in feeds.items():
        np.save(os.path.join(folder, "in_%s.npy" % name), array)
        command += ["--input", "%s=%s" % (name, os.path.join(folder, "in_%s.npy" % name))]
    for name in outputs:
        command += ["--output", "%s=%s" % (name, os.path.join(folder, "out_%s.npy" % name))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        return result.stderr.strip()
    return {name: np.load(os.path.join(folder, "out_%s.npy" % name)) for name in outputs}


def check_tf_functions(zinfer, folder, listed, check):
    rng = np.random.default_rng(41)
    feeds = inputs(rng)
    feeds.pop("x4")
    layers = [{"class_name": "InputLayer", "name": name,
               "config": {"name": name, "batch_input_shape": [None, 6]}, "inbound_nodes": []}
              for name in feeds]
    # nn.relu6's input scaled by 4 first, so that both of its bends are met
    layers.append({"class_name": "TFOpLambda", "name": "x4", "config": {
        "name": "x4", "function": "math.multiply"},
        "inbound_nodes": [[["x", 0, 0, {"y": 4.0, "name": None}]]]})
    names = {}
    for index, function in enumerate(TF_FUNCTIONS):
        _, y = TF_FUNCTIONS[function]
        kwargs = {"name": None}
        if y is not None:
            kwargs["y"] = [y, 0, 0] if isinstance(y, str) else y
        name = "f%d" % index
        names[function] = name
        layers.append({"class_name": "TFOpLambda", "name": name,
                       "config": {"name": name, "function": function},
                       "inbound_nodes": [[[TF_INPUT.get(function, "x"), 0, 0, kwargs]]]})
    model = {"class_name": "Functional", "config": {
        "name": "tf_functions", "layers": layers,
        "input_layers": [[name, 0, 0] for name in feeds],
        "output_layers": [[name, 0, 0] for name in names.values()]}}
    path = os.path.join(folder, "model.json")
    with open(path, "w") as file:
        json.dump({"format": "layers-model", "modelTopology": model, "weightsManifest": []},
                  file)
    got = run(zinfer, path, feeds, names.values(), folder)
    if not check(isinstance(got, dict), "TFOpLambda model runs", str(got)):
        return
    x, p, t = (feeds[name].astype(np.float64) for name in ("x", "p", "t"))
    for function, name in names.items():
        numpy, y = TF_FUNCTIONS[function]
        want = numpy(x, p, t, np.array(y) if isinstance(y, list) else y)
        if function == "nn.relu6":
            want = relu6(x * 4)
        check(np.allclose(got[name], want, rtol=1e-5, atol=1e-6),
              "TFOpLambda %s" % function, "max difference %.2e" %
              float(np.abs(got[name] - want).max()))
    missing = sorted(set(listed) - set(TF_FUNCTIONS))
    check(not missing, "a case for every TensorFlow function the importer lists",
          "none for %s" % missing)


def keras3_tensor(layer):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": "float32", "keras_history": [layer, 0, 0]}}


def check_keras3_ops(zinfer, folder, listed, check):
    rng = np.random.default_rng(43)
    feeds = inputs(rng)
    feeds.pop("x4")
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "name": name,
               "config": {"name": name, "batch_shape": [None, 6]}, "inbound_nodes": []}
              for name in feeds]
    layers.append({"module": "keras.src.ops.numpy", "class_name": "Multiply", "name": "x4",
                   "config": {"name": "x4"}, "registered_name": "Multiply",
                   "inbound_nodes": [{"args": [keras3_tensor("x"), 4.0], "kwargs": {}}]})
    names = {}
    for index, (op, (module, _, operands)) in enumerate(KERAS3_OPS.items()):
        name = "op%d" % index
        names[op] = name
        args = [keras3_tensor(a) if isinstance(a, str) else a for a in operands]
        layers.append({"module": "keras.src.ops." + module, "class_name": op, "name": name,
                       "config": {"name": name}, "registered_name": op,
                       "inbound_nodes": [{"args": args, "kwargs": {}}]})
    config = {"module": "keras", "class_name": "Functional", "config": {
        "name": "ops", "layers": layers, "input_layers": [[name, 0, 0] for name in feeds],
        "output_layers": [[name, 0, 0] for name in names.values()]}}
    path = os.path.join(folder, "ops.keras")
    weights = io.BytesIO()
    with writer.h5py.File(weights, "w") as file:
        file.create_group("layers")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights.getvalue())
    got = run(zinfer, path, feeds, names.values(), folder)
    if not check(isinstance(got, dict), "Keras 3 operations model runs", str(got)):
        return
    values = {name: array.astype(np.float64) for name, array in feeds.items()}
    values["x4"] = values["x"] * 4
    for op, name in names.items():
        _, numpy, operands = KERAS3_OPS[op]
        want = numpy(*[values[a] if isinstance(a, str) else a for a in operands])
        check(np.allclose(got[name], want, rtol=1e-5, atol=1e-6), "Keras 3 operation %s" % op,
              "max difference %.2e" % float(np.abs(got[name] - want).max()))
    missing = sorted(set(listed) - set(KERAS3_OPS))
    check(not missing, "a case for every Keras 3 operation the importer lists",
          "none for %s" % missing)


def layer(class_name, name, inbound, **config):
    return {"class_name": class_name, "name": name, "config": dict(config, name=name),
            "inbound_nodes": [[[inbound, 0, 0, {}]]] if inbound else []}


def alias_model(names):
    """An image chain and a sequence chain, each layer under its usual
    class name or, names = ALIASES, under the other one"""
    def cls(usual):
        return {v: k for k, v in names.items()}.get(usual, usual)

    chain = [layer("InputLayer", "image", None, batch_input_shape=[None, 8, 8, 3]),
             layer(cls("Conv2D"), "conv", "image", filters=4, kernel_size=[3, 3],
                   padding="same"),
             layer(cls("SeparableConv2D"), "separable", "conv", filters=4,
                   kernel_size=[3, 3], padding="same", depth_multiplier=1),
             layer(cls("Conv2DTranspose"), "up", "separable", filters=4, kernel_size=[2, 2],
                   strides=[2, 2]),
             layer(cls("MaxPooling2D"), "max", "up", pool_size=[2, 2], strides=[2, 2]),
             layer(cls("AveragePooling2D"), "avg", "max", pool_size=[2, 2], strides=[2, 2]),
             layer("InputLayer", "steps", None, batch_input_shape=[None, 10, 3]),
             layer(cls("Conv1D"), "conv1d", "steps", filters=4, kernel_size=[3])]
    return {"class_name": "Functional", "config": {
        "name": "aliases", "layers": chain, "input_layers": [["image", 0, 0], ["steps", 0, 0]],
        "output_layers": [["avg", 0, 0], ["conv1d", 0, 0]]}}


def check_aliases(zinfer, folder, listed, check):
    rng = np.random.default_rng(47)

    def normal(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    weights = {"conv": [("kernel", normal(3, 3, 3, 4)), ("bias", normal(4))],
               "separable": [("depthwise_kernel", normal(3, 3, 4, 1)),
                             ("pointwise_kernel", normal(1, 1, 4, 4)), ("bias", normal(4))],
               "up": [("kernel", normal(2, 2, 4, 4)), ("bias", normal(4))],
               "conv1d": [("kernel", normal(3, 3, 4)), ("bias", normal(4))]}
    feeds = {"image": normal(2, 8, 8, 3), "steps": normal(2, 10, 3)}
    answers = {}
    for kind, names in (("usual", {}), ("aliases", ALIASES)):
        path = os.path.join(folder, kind + ".h5")
        writer.write_h5(path, alias_model(names), weights)
        answers[kind] = run(zinfer, path, feeds, ("avg", "conv1d"), folder)
        check(isinstance(answers[kind], dict), "%s.h5 runs" % kind, str(answers[kind]))
    if all(isinstance(answer, dict) for answer in answers.values()):
        for output in ("avg", "conv1d"):
            check(answers["usual"][output].tobytes() == answers["aliases"][output].tobytes(),
                  "%s: the layers' other class names give what their usual ones give"
                  % output)

    chain = [layer("InputLayer", "image", None, batch_input_shape=[None, 5, 5, 3])]
    for class_name, config in IDENTITIES.items():
        chain.append(layer(class_name, class_name.lower(), chain[-1]["name"], **config))
    model = {"class_name": "Functional", "config": {
        "name": "identities", "layers": chain, "input_layers": [["image", 0, 0]],
        "output_layers": [[chain[-1]["name"], 0, 0]]}}
    path = os.path.join(folder, "identities.h5")
    writer.write_h5(path, model, {})
    image = normal(2, 5, 5, 3)
    got = run(zinfer, path, {"image": image}, (chain[-1]["name"],), folder)
    check(isinstance(got, dict) and got[chain[-1]["name"]].tobytes() == image.tobytes(),
          "%s give their input back" % ", ".join(IDENTITIES), str(got))
    covered = set(ALIASES) | set(IDENTITIES)
    others = set(layer_lists_layers_elsewhere())
    missing = sorted(set(listed) - covered - others)
    check(not missing, "a model with every layer class the importer lists",
          "none here or in the other Keras tests for %s" % missing)


def layer_lists_layers_elsewhere():
    """The layer classes the other Keras tests' models use: tfjs's names in
    make_keras_models.js, class names in the hand-written configs"""
    found = set()
    sources = [os.path.join(HERE, name) for name in os.listdir(HERE)
               if name.endswith((".py", ".js")) and name != os.path.basename(__file__)]
    sources.append(os.path.join(HERE, "..", "keras_test.py"))
    text = "".join(open(path, encoding="utf-8").read() for path in sources)
    for name in ("InputLayer", "Sequential", "Functional", "Model", "Conv1D", "Conv2D",
                 "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense",
                 "BatchNormalization", "LayerNormalization", "Normalization", "Activation",
                 "ReLU", "LeakyReLU", "PReLU", "Softmax", "Add", "Subtract", "Multiply",
                 "Maximum", "Minimum", "Average", "Concatenate", "ZeroPadding2D",
                 "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                 "GlobalMaxPooling2D", "Cropping2D", "UpSampling2D", "Flatten", "Reshape",
                 "Permute", "Dropout", "Rescaling", "TFOpLambda"):
        # tfjs builds layers by function: conv2d for Conv2D, reLU for ReLU
        function = "layers." + name[0].lower() + name[1:]
        if '"%s"' % name in text or "'%s'" % name in text or function.lower() in text.lower():
            found.add(name)
    return found


def check_int32_weights(zinfer, folder, check):
    rng = np.random.default_rng(53)
    kernel = rng.integers(-5, 6, (4, 3)).astype(np.int32)
    bias = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    model = {"class_name": "Sequential", "config": {"name": "int32_weights", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"name": "fc", "units": 3}}]}}
    os.makedirs(os.path.join(folder, "int32"))
    with open(os.path.join(folder, "int32", "group1-shard1of1.bin"), "wb") as file:
        file.write(kernel.astype("<i4").tobytes() + bias.astype("<f4").tobytes())
    path = os.path.join(folder, "int32", "model.json")
    with open(path, "w") as file:
        json.dump({"format": "layers-model", "modelTopology": model, "weightsManifest": [
            {"paths": ["group1-shard1of1.bin"], "weights": [
                {"name": "fc/kernel", "shape": [4, 3], "dtype": "int32"},
                {"name": "fc/bias", "shape": [3], "dtype": "float32"}]}]}, file)
    got = run(zinfer, path, {"x": x}, ("fc",), folder)
    want = x.astype(np.float64) @ kernel + bias
    check(isinstance(got, dict) and np.allclose(got["fc"], want, rtol=1e-5, atol=1e-6),
          "a model.json weight stored as int32", str(got) if not isinstance(got, dict) else
          "max difference %.2e" % float(np.abs(got["fc"] - want).max()))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    zinfer = sys.argv[1]
    failures = 0

    def check(ok, what, detail=""):
        nonlocal failures
        failures += not ok
        print("%s %s%s" % ("ok  " if ok else "FAIL", what,
                           ": " + detail if detail and not ok else ""), flush=True)
        return ok

    with tempfile.TemporaryDirectory(prefix="zinfer-keras-names-") as folder:
        listed = {}
        for name in ("layers", "tf-functions", "ops"):
            listed[name], error = layer_lists.supported(zinfer, folder, name)
            if not check(error is None, "the importer lists its %s" % name, str(error)):
                return 1
        check_tf_functions(zinfer, folder, listed["tf-functions"], check)
        check_keras3_ops(zinfer, folder, listed["ops"], check)
        check_aliases(zinfer, folder, listed["layers"], check)
        check_int32_weights(zinfer, folder, check)
    print("every_name_test: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
