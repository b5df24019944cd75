#!/usr/bin/python3
"""Writes the seed corpus of the fuzz harnesses into tests/fuzz/corpus/.

    /usr/bin/python3 tests/fuzz/make_corpus.py

The seeds are small valid inputs (plus a few near misses) that show the
fuzzer each format's structure, so that it spends its time on the
interesting corners rather than on rediscovering the magic bytes. The
output is deterministic; run it again after changing a format. Files
named regress_* are inputs that once crashed the engine (moved here from
tests/fuzz/crashes/ when fixed) and are kept.
"""

import glob
import io
import json
import os
import struct
import sys

import msgpack
import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(ROOT, "tests", "keras"))
import write_keras_files  # noqa: E402


def write(harness, name, data):
    folder = os.path.join(CORPUS, harness)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(data)


def msg_seeds():
    # [version, kind, request, source, slot, count, dtype, [dims], flags] (+ text)
    headers = {
        "tensor": [1, 1, 42, 3, 0, 1, 1, [1, 16, 8, 8], 0],
        "request": [1, 2, 7, 0xffff, 0, 1, 1, [1, 1, 8, 8], 0],
        "reply": [1, 3, 7, 0xffff, 0, 1, 1, [1, 10], 0],
        "error": [1, 4, 9, 0xffff, 0, 0, 0, [], 0, "input 0: expected float32 [1, 1, 8, 8]"],
        "traced": [1, 1, 2**63, 5, 1, 2, 7, [3], 1],
        "bool_scalar": [1, 1, 0, 0, 0, 1, 9, [], 0],
        "eight_dims": [1, 1, 1, 1, 1023, 1024, 1, [1, 2, 1, 2, 1, 2, 1, 2], 0],
        "large_dim": [1, 1, 1, 1, 0, 1, 7, [2**37], 0],
        "empty_dim": [1, 2, 1, 0, 0, 1, 1, [0, 4], 0],
        "wrong_version": [2, 1, 1, 1, 0, 1, 1, [1], 0],
        "short": [1, 1, 1, 1, 0, 1, 1, [1]],
    }
    for name, header in headers.items():
        write("msg", name, msgpack.packb(header))
    # The C encoder writes fixed-width integers, not the shortest form
    wide = (b"\x99\xce\x00\x00\x00\x01\xce\x00\x00\x00\x01\xcf" + (42).to_bytes(8, "big")
            + b"\xce\x00\x00\x00\x03\xce\x00\x00\x00\x00\xce\x00\x00\x00\x01"
            + b"\xce\x00\x00\x00\x01\x94" + b"".join(b"\xd3" + d.to_bytes(8, "big")
                                                    for d in (1, 16, 8, 8))
            + b"\xce\x00\x00\x00\x00")
    write("msg", "wide_ints", wide)
    write("msg", "map_not_array", msgpack.packb({"version": 1, "kind": 1}))
    # Shared-memory reference frames go to the same harness
    write("msg", "shared_request", msgpack.packb([1, 2, 8, 0xffff, 0, 1, 1, [1, 3, 224, 224], 2]))
    write("msg", "reference", msgpack.packb(["/zinfer-4242-1-0badcafe", 64, 602112]))
    write("msg", "reference_long_name", msgpack.packb(["/zinfer-" + "7" * 70, 0, 1]))


def topology_seeds():
    # The harness names its text /fuzz/topology.yaml, where no model
    # exists; /proc/version is a regular file on every Linux system, which
    # lets the proc_ variants get past that check and on to placement
    paths = sorted(glob.glob(os.path.join(ROOT, "topology", "examples", "*.yaml")))
    paths += [os.path.join(ROOT, "tests", "bad", "topology", name)
              for name in ("backwards_range.yaml", "duplicate_key.yaml", "overlap.yaml",
                           "rule_forms.yaml", "undefined_alias.yaml", "unplaced.yaml",
                           "unknown_node.yaml", "wrong_type.yaml", "second_document.yaml")]
    for path in paths:
        with open(path) as handle:
            text = handle.read()
        name = os.path.basename(path)
        write("topology", name, text)
        if "\nmodel:" in text and "proc_" not in name:
            write("topology", "proc_" + name,
                  "\n".join("model: /proc/version" if line.startswith("model:") else line
                            for line in text.splitlines()) + "\n")
    write("topology", "proc_hosts.yaml", """\
name: two-hosts
model: /proc/version
input_shape: [1, 1, 8, 8]
base_port: 7300
client_port: 7399
transport: tcp
fuse: true
hosts:
  - name: a
    address: 10.0.0.1
  - name: b
    address: 10.0.0.2
    base_port: 7400
processes:
  - name: front
    host: a
    threads: 2
    blas_threads: 1
    monitor_port: 7350
  - name: back
    host: b
placement:
  - process: front
    nodes: [/conv1/Conv, /relu1/Relu]
    replicas: 2
  - process: back
    from: /conv2/Conv
    to: /softmax/Softmax
default: back
gateway: front
""")
    write("topology", "proc_anchors.yaml", """\
model: /proc/version
processes:
  - &p {name: one, threads: 1}
  - {name: two}
placement:
  - {process: one, node: /conv1/Conv}
  - {process: two, from: /relu1/Relu}
""")


def save_model(name, nodes, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    write("onnx", name + ".onnx", model.SerializeToString())


def tensor(name, array):
    return numpy_helper.from_array(array, name)


def onnx_seeds():
    with open(os.path.join(ROOT, "tests", "models", "digits", "digits.onnx"), "rb") as handle:
        write("onnx", "digits.onnx", handle.read())
    rng = np.random.default_rng(1)
    value = helper.make_tensor_value_info

    # Conv with bias, padding and stride, then a fusable activation
    save_model("conv", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], strides=[2, 2], group=1),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ], [value("x", TensorProto.FLOAT, ["batch", 2, 6, 6])],
       [value("y", TensorProto.FLOAT, None)],
       [tensor("w", rng.standard_normal((4, 2, 3, 3)).astype(np.float32)),
        tensor("b", rng.standard_normal(4).astype(np.float32))])

    # Reshape whose target shape is computed from the input's shape, as
    # exporters write flatten: Shape -> Gather -> Unsqueeze -> Concat
    save_model("reshape_shape", [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ], [value("x", TensorProto.FLOAT, [2, 3, 4])],
       [value("y", TensorProto.FLOAT, None)],
       [tensor("zero", np.array(0, np.int64)),
        tensor("axes", np.array([0], np.int64)),
        tensor("minus_one", np.array([-1], np.int64))])

    # Concat of an input with a constant along a middle axis, then Add with
    # broadcasting
    save_model("concat", [
        helper.make_node("Concat", ["x", "k"], ["c"], name="concat", axis=1),
        helper.make_node("Add", ["c", "bias"], ["y"], name="add"),
    ], [value("x", TensorProto.FLOAT, [1, 2, 3])],
       [value("y", TensorProto.FLOAT, None)],
       [tensor("k", np.ones((1, 1, 3), np.float32)),
        tensor("bias", np.arange(3, dtype=np.float32))])

    # BatchNormalization after Conv and a HardSigmoid * x chain: what the
    # fusion passes rewrite
    save_model("fusion", [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
        helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["n"],
                         name="bn", epsilon=1e-5),
        helper.make_node("HardSigmoid", ["n"], ["h"], name="hsig", alpha=1 / 6, beta=0.5),
        helper.make_node("Mul", ["n", "h"], ["y"], name="mul"),
    ], [value("x", TensorProto.FLOAT, [1, 3, 4, 4])],
       [value("y", TensorProto.FLOAT, None)],
       [tensor("w", rng.standard_normal((2, 3, 1, 1)).astype(np.float32)),
        tensor("g", np.ones(2, np.float32)), tensor("beta", np.zeros(2, np.float32)),
        tensor("mean", np.zeros(2, np.float32)), tensor("var", np.ones(2, np.float32))])

    # Subgraphs: an If on the data whose branches read outer values, and
    # inside a Loop with a scan output a nested If on a constant; a Scan
    then_branch = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["t"], name="add")], "then", [],
        [value("t", TensorProto.FLOAT, None)])
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"], name="neg")], "else", [],
        [value("e", TensorProto.FLOAT, None)])
    body = helper.make_graph(
        [helper.make_node("If", ["yes"], ["h_next"], name="inner", then_branch=helper.make_graph(
            [helper.make_node("Mul", ["h", "w"], ["m"], name="mul")], "inner_then", [],
            [value("m", TensorProto.FLOAT, None)]), else_branch=else_branch),
         helper.make_node("Identity", ["cond"], ["cond_out"], name="keep")], "body",
        [value("i", TensorProto.INT64, []), value("cond", TensorProto.BOOL, []),
         value("h", TensorProto.FLOAT, None)],
        [value("cond_out", TensorProto.BOOL, []), value("h_next", TensorProto.FLOAT, None),
         value("h_next", TensorProto.FLOAT, None)],
        [tensor("yes", np.array(True))])
    save_model("control", [
        helper.make_node("If", ["c"], ["a"], name="choose", then_branch=then_branch,
                         else_branch=else_branch),
        helper.make_node("Loop", ["trips", "", "a"], ["y", "rows"], name="loop", body=body),
    ], [value("x", TensorProto.FLOAT, [1, 4]), value("c", TensorProto.BOOL, [])],
       [value("y", TensorProto.FLOAT, None), value("rows", TensorProto.FLOAT, None)],
       [tensor("w", np.arange(4, dtype=np.float32)), tensor("trips", np.array(3, np.int64))])
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["s", "r"], ["s_next"], name="add")], "body",
        [value("s", TensorProto.FLOAT, None), value("r", TensorProto.FLOAT, None)],
        [value("s_next", TensorProto.FLOAT, None), value("s_next", TensorProto.FLOAT, None)])
    save_model("scan", [
        helper.make_node("Scan", ["s0", "x"], ["y", "all"], name="scan", body=scan_body,
                         num_scan_inputs=1, scan_input_axes=[1], scan_output_directions=[1]),
    ], [value("x", TensorProto.FLOAT, [4, 3])],
       [value("y", TensorProto.FLOAT, None), value("all", TensorProto.FLOAT, None)],
       [tensor("s0", np.zeros(4, np.float32))])


def npy_bytes(array, version=None):
    handle = io.BytesIO()
    if version:
        np.lib.format.write_array(handle, array, version=version)
    else:
        np.save(handle, array)
    return handle.getvalue()


def npy_seeds():
    write("npy", "f32.npy", npy_bytes(np.arange(6, dtype=np.float32).reshape(2, 3)))
    write("npy", "f64.npy", npy_bytes(np.linspace(-1, 1, 5)))
    write("npy", "i64.npy", npy_bytes(np.arange(-3, 5, dtype=np.int64).reshape(2, 2, 2)))
    write("npy", "i32.npy", npy_bytes(np.arange(4, dtype=np.int32)))
    write("npy", "bool.npy", npy_bytes(np.array([True, False, True])))
    write("npy", "scalar.npy", npy_bytes(np.float32(2.5)))
    write("npy", "empty.npy", npy_bytes(np.zeros((0, 3), np.float32)))
    write("npy", "v2.npy", npy_bytes(np.ones((1, 1, 2, 2), np.float32), version=(2, 0)))
    write("npy", "fortran.npy", npy_bytes(np.asfortranarray(np.ones((2, 3), np.float32))))
    write("npy", "big_endian.npy", npy_bytes(np.ones(2, ">f4")))
    write("npy", "u8.npy", npy_bytes(np.ones(2, np.uint8)))


def keras_layer(class_name, name, inbound=None, **config):
    layer = {"class_name": class_name, "name": name, "config": dict(config, name=name)}
    if inbound is not None:
        layer["inbound_nodes"] = [[[ref, 0, 0, {}] for ref in inbound]]
    return layer


def keras_seeds():
    rng = np.random.default_rng(0)

    def weights(**shapes):
        return [(name, rng.standard_normal(shape).astype(np.float32))
                for name, shape in shapes.items()]

    sequential = {"class_name": "Sequential", "config": {"name": "small", "layers": [
        keras_layer("InputLayer", "image", batch_input_shape=[None, 6, 6, 2]),
        keras_layer("Conv2D", "conv", filters=3, kernel_size=[3, 3], padding="same",
                    activation="relu"),
        keras_layer("BatchNormalization", "bn"),
        keras_layer("MaxPooling2D", "pool", pool_size=[2, 2]),
        keras_layer("Flatten", "flat"),
        keras_layer("Dense", "fc", units=2, activation="softmax")]}}
    by_layer = {"conv": weights(kernel=(3, 3, 2, 3), bias=(3,)),
                "bn": weights(gamma=(3,), beta=(3,), moving_mean=(3,))
                + [("moving_variance", np.ones(3, np.float32))],
                "fc": weights(kernel=(27, 2), bias=(2,))}
    functional = {"class_name": "Functional", "config": {
        "name": "two", "input_layers": [["a", 0, 0], ["b", 0, 0]],
        "output_layers": [["sum", 0, 0], ["hs", 0, 0]], "layers": [
            keras_layer("InputLayer", "a", None, batch_input_shape=[None, 4]),
            keras_layer("InputLayer", "b", None, batch_input_shape=[None, 4]),
            keras_layer("Dense", "fc", ["a"], units=4),
            keras_layer("Add", "sum", ["fc", "b"]),
            keras_layer("Activation", "hs", ["sum"], activation="hard_swish")]}}
    for name, model, weights_of in (("sequential", sequential, by_layer),
                                    ("functional", functional,
                                     {"fc": weights(kernel=(4, 4), bias=(4,))})):
        folder = os.path.join(CORPUS, "keras")
        os.makedirs(folder, exist_ok=True)
        h5_path = os.path.join(folder, name + ".h5")
        keras_path = os.path.join(folder, name + ".keras")
        write_keras_files.write_h5(h5_path, model, weights_of)
        write_keras_files.write_keras(keras_path, model, weights_of)
        # Near misses: each cut short
        for path in (h5_path, keras_path):
            with open(path, "rb") as handle:
                data = handle.read()
            write("keras", "cut_" + os.path.basename(path), data[:len(data) * 3 // 4])
        # What the HDF5 reader's child answers for the .h5 file, which the
        # harness decodes as the parent would
        write("keras", name + ".answer", reader_answer(model, weights_of))
    write("keras", "weights_error.answer",
          reader_answer(sequential, {}, error=b"Wno weights: model_weights is missing"))


def keras_json_seeds():
    """TF.js model.json files: one without weights, which imports and plans
    as it is, and one with a weights manifest, whose shard the harness
    cannot open (it imports from a folder that does not exist)"""
    def tf_op(name, function, x, **kwargs):
        return {"class_name": "TFOpLambda", "name": name,
                "config": {"name": name, "function": function},
                "inbound_nodes": [[[x, 0, 0, dict(kwargs, name=None)]]]}

    weightless = {"class_name": "Functional", "config": {
        "name": "weightless", "input_layers": [["a", 0, 0], ["b", 0, 0]],
        "output_layers": [["joined", 0, 0], ["grid", 0, 0]], "layers": [
            keras_layer("InputLayer", "a", None, batch_input_shape=[None, 4]),
            keras_layer("InputLayer", "b", None, batch_input_shape=[None, 4]),
            tf_op("shifted", "__operators__.add", "a", y=3.0),
            tf_op("capped", "nn.relu6", "shifted"),
            tf_op("scaled", "math.multiply", "capped", y=[0.5, 1.0, 2.0, 4.0]),
            keras_layer("Multiply", "product", ["scaled", "b"]),
            keras_layer("Concatenate", "joined", ["product", "a"], axis=-1),
            keras_layer("Reshape", "grid", ["joined"], target_shape=[2, 4])]}}
    write("keras", "weightless.json", json.dumps(
        {"format": "layers-model", "modelTopology": weightless,
         "weightsManifest": []}).encode())
    dense = {"class_name": "Sequential", "config": {"name": "dense", "layers": [
        keras_layer("InputLayer", "x", batch_input_shape=[None, 3]),
        keras_layer("Dense", "fc", units=2)]}}
    write("keras", "manifest.json", json.dumps(
        {"format": "layers-model", "modelTopology": dense, "weightsManifest": [
            {"paths": ["group1-shard1of1.bin"], "weights": [
                {"name": "fc/kernel", "shape": [3, 2], "dtype": "float32"},
                {"name": "fc/bias", "shape": [2], "dtype": "float32",
                 "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1}}]}]}).encode())


def reader_answer(model, by_layer, error=None):
    """The HDF5 reader's answer for a Keras 2 .h5 file holding model and
    by_layer's weights (engine/import/zi_keras_reader.c): "ZIH5", then
    records of a kind, a length and a payload"""
    records = [(b"C", json.dumps(model).encode())]
    for layer, weights in by_layer.items():
        for name, array in weights:
            key = ("%s/%s" % (layer, name)).encode()
            records.append((b"W", struct.pack("<H", len(key)) + key
                            + struct.pack("<B%dq" % array.ndim, array.ndim, *array.shape)
                            + array.astype("<f4").tobytes()))
    if error:
        records.append((b"E", error))
    records.append((b"D", b""))
    return b"ZIH5" + b"".join(kind + struct.pack("<Q", len(payload)) + payload
                              for kind, payload in records)


def main():
    # Inputs that once crashed the engine stay as regress_* files; the rest
    # is made afresh
    for path in glob.glob(os.path.join(CORPUS, "*", "*")):
        if not os.path.basename(path).startswith("regress_"):
            os.remove(path)
    msg_seeds()
    topology_seeds()
    onnx_seeds()
    npy_seeds()
    keras_seeds()
    keras_json_seeds()
    for harness in sorted(os.listdir(CORPUS)):
        print("%s: %d seeds" % (harness, len(os.listdir(os.path.join(CORPUS, harness)))))


if __name__ == "__main__":
    main()
