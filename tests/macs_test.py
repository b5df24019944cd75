#!/usr/bin/python3
"""Multiply-accumulates that `zinfer info` lists per node, against the
count worked out here from the ONNX model itself: shapes from ONNX shape
inference, each op's arithmetic from its definition in the ONNX spec.

resnet18 (Conv and Gemm, 1.8 GMACs) and small models made here for the
other ops that count (ConvTranspose, Gemm with transA, batched MatMul,
LSTM, bidirectional GRU, RNN, ConvInteger, MatMulInteger, QLinearConv,
QLinearMatMul) and one that does not (Relu).

    /usr/bin/python3 tests/macs_test.py ZINFER_BINARY MODEL_DIR
"""

import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

ROW = re.compile(r"^\s*\d+\s+(\S+)\s+\S+\s+.*\s(\d+)\s*$")


def shapes_of(model):
    """Every value's shape, from the initializers and shape inference"""
    inferred = shape_inference.infer_shapes(model)
    graph = inferred.graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [dim.dim_value if dim.HasField("dim_value") else 1 for dim in dims]
    return shapes


def expected_macs(node, shapes):
    """One node's multiply-accumulates, from the spec: a convolution sums
    C_in / group x kernel products per output element; ConvTranspose
    spreads each input element over C_out / group x kernel outputs; a
    matrix product sums K products per output element; a recurrent cell
    multiplies input and hidden state by every gate's rows per step"""
    def shape(slot):
        return shapes[node.input[slot]]
    op = node.op_type
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        weight = shape(3 if op == "QLinearConv" else 1)
        return int(np.prod(shapes[node.output[0]])) * int(np.prod(weight[1:]))
    if op == "ConvTranspose":
        return int(np.prod(shape(0))) * int(np.prod(shape(1)[1:]))
    if op in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
        a = shape(0)
        trans_a = any(attr.name == "transA" and attr.i for attr in node.attribute)
        inner = a[0] if op == "Gemm" and trans_a else a[-1]
        return int(np.prod(shapes[node.output[0]])) * inner
    if op in ("LSTM", "GRU", "RNN"):
        seq, batch, _ = shape(0)
        directions, gate_rows, input_size = shape(1)
        hidden = shape(2)[2]
        return seq * batch * directions * gate_rows * (input_size + hidden)
    return 0


def listed_macs(zinfer, path):
    """Node name -> MACs, as `zinfer info` lists them"""
    run = subprocess.run([zinfer, "info", path], capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        raise RuntimeError(f"zinfer info {path}: {run.stderr.strip()}")
    listed = {}
    for line in run.stdout.splitlines():
        match = ROW.match(line)
        if match:
            listed[match.group(1)] = int(match.group(2))
    return listed


def compare(zinfer, path, label):
    """Returns the failures: per node, then the total"""
    model = onnx.load(path)
    shapes = shapes_of(model)
    want = {node.name: expected_macs(node, shapes) for node in model.graph.node}
    got = listed_macs(zinfer, path)
    failures = 0
    for name, macs in want.items():
        if macs and got.get(name) != macs:
            print(f"FAIL {label}: node '{name}': zinfer lists {got.get(name)} MACs, "
                  f"the model's shapes give {macs}")
            failures += 1
    total_want, total_got = sum(want.values()), sum(got.values())
    if total_want != total_got or total_want == 0:
        print(f"FAIL {label}: total {total_got} MACs, the model's shapes give {total_want}")
        failures += 1
    else:
        counted = sum(1 for macs in want.values() if macs)
        print(f"ok   {label}: {total_got} MACs over {counted} counting nodes")
    return failures


def tensor(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def small_models(folder):
    """Paths of models made here, one per op family that counts"""
    rng = np.random.default_rng(5)

    def save(name, nodes, inputs, outputs, initializers, opset=13):
        graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        path = os.path.join(folder, name + ".onnx")
        onnx.save(model, path)
        return path

    def value(name, dtype, dims):
        return helper.make_tensor_value_info(name, dtype, dims)

    def floats(*dims):
        return rng.standard_normal(dims).astype(np.float32)

    f32, u8 = TensorProto.FLOAT, TensorProto.UINT8
    paths = []
    # ConvTranspose (stride 2, groups 2), Gemm with transA, batched MatMul, Relu
    paths.append(save("float_ops", [
        helper.make_node("ConvTranspose", ["x", "wt"], ["up"], name="deconv", strides=[2, 2],
                         group=2),
        helper.make_node("Gemm", ["a", "b"], ["g"], name="gemm_ta", transA=1),
        helper.make_node("MatMul", ["m", "n"], ["mm"], name="matmul"),
        helper.make_node("Relu", ["mm"], ["r"], name="relu"),
    ], [value("x", f32, [1, 4, 5, 5]), value("a", f32, [6, 4]), value("m", f32, [2, 3, 4])],
        [value("up", f32, None), value("g", f32, None), value("r", f32, None)],
        [tensor("wt", floats(4, 3, 3, 3)), tensor("b", floats(6, 5)),
         tensor("n", floats(4, 5))]))
    # The recurrent ops, one direction and two
    hidden = 8
    paths.append(save("recurrent", [
        helper.make_node("LSTM", ["s", "lw", "lr"], ["ly"], name="lstm", hidden_size=hidden),
        helper.make_node("GRU", ["s", "gw", "gr"], ["gy"], name="gru", hidden_size=6,
                         direction="bidirectional"),
        helper.make_node("RNN", ["s", "rw", "rr"], ["ry"], name="rnn", hidden_size=3),
    ], [value("s", f32, [7, 2, 5])],
        [value("ly", f32, None), value("gy", f32, None), value("ry", f32, None)],
        [tensor("lw", floats(1, 4 * hidden, 5)), tensor("lr", floats(1, 4 * hidden, hidden)),
         tensor("gw", floats(2, 18, 5)), tensor("gr", floats(2, 18, 6)),
         tensor("rw", floats(1, 3, 5)), tensor("rr", floats(1, 3, 3))]))
    # The integer forms
    qw = rng.integers(0, 255, (3, 2, 3, 3), dtype=np.uint8)
    qb = rng.integers(0, 255, (6, 4), dtype=np.uint8)
    scale, zero = tensor("scale", np.float32(0.05)), tensor("zero", np.uint8(128))
    paths.append(save("integer_ops", [
        helper.make_node("ConvInteger", ["q", "qw"], ["ci"], name="conv_integer"),
        helper.make_node("MatMulInteger", ["p", "qb"], ["mi"], name="matmul_integer"),
        helper.make_node("QLinearConv", ["q", "scale", "zero", "qw", "scale", "zero",
                                         "scale", "zero"], ["qc"], name="qlinear_conv",
                         pads=[1, 1, 1, 1]),
        helper.make_node("QLinearMatMul", ["p", "scale", "zero", "qb", "scale", "zero",
                                           "scale", "zero"], ["qm"], name="qlinear_matmul"),
    ], [value("q", u8, [1, 2, 6, 6]), value("p", u8, [5, 6])],
        [value("ci", TensorProto.INT32, None), value("mi", TensorProto.INT32, None),
         value("qc", u8, None), value("qm", u8, None)],
        [tensor("qw", qw), tensor("qb", qb), scale, zero]))
    return paths


def main():
    zinfer, models = os.path.abspath(sys.argv[1]), sys.argv[2]
    failures = compare(zinfer, os.path.join(models, "resnet18_op17.onnx"), "resnet18")
    with tempfile.TemporaryDirectory(prefix="zinfer-macs-") as folder:
        for path in small_models(folder):
            failures += compare(zinfer, path, os.path.basename(path))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
