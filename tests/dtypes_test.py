#!/usr/bin/python3
"""Every dtype end to end: small models built with onnx.helper, run by
`zinfer run` from .npy files, against numpy.

- Cast from float32 to every dtype and back, the outputs written as .npy
  of the model's declared types;
- int32 shape arithmetic as exporters write it (Shape, Cast to INT32,
  Gather, Mul, Div, Sub, Equal, Where, Concat, Range, Slice, Unsqueeze,
  ConstantOfShape, back to INT64 for Reshape and Expand), constant and not;
- float16 models: float16 inputs, outputs and weights (raw_data and the
  typed int32_data field), a float32 model with a Cast to FLOAT16 at its
  input as fp16 exports have it;
- uint8 and int8 weights in raw_data and int32_data, uint8 graph inputs and
  outputs; an int32 .npy widened for an int64 input;
- the errors: an input of a type zinfer lacks, a Cast to one.

    /usr/bin/python3 tests/dtypes_test.py ZINFER_BINARY
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def model(nodes, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, "dtypes", inputs, outputs, list(initializers))
    made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    made.ir_version = 7
    return made


def run(zinfer, folder, made, feeds, names):
    """Runs the model on feeds (name -> array); returns the named outputs"""
    path = os.path.join(folder, "model.onnx")
    onnx.save(made, path)
    command = [zinfer, "run", path, "--threads", "1"]
    for name, array in feeds.items():
        np.save(os.path.join(folder, name + ".npy"), array)
        command += ["--input", "%s=%s" % (name, os.path.join(folder, name + ".npy"))]
    for name in names:
        command += ["--output", "%s=%s" % (name, os.path.join(folder, "out_" + name + ".npy"))]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        check(False, "zinfer run: " + done.stderr.strip())
        return None
    return [np.load(os.path.join(folder, "out_" + name + ".npy")) for name in names]


def fails(zinfer, folder, made, feeds, words, what):
    path = os.path.join(folder, "model.onnx")
    onnx.save(made, path)
    command = [zinfer, "run", path]
    for name, array in feeds.items():
        np.save(os.path.join(folder, name + ".npy"), array)
        command += ["--input", "%s=%s" % (name, os.path.join(folder, name + ".npy"))]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    check(done.returncode != 0 and len(lines) == 1 and all(w in done.stderr for w in words),
          "%s: one clear line: %s" % (what, done.stderr.strip()))


def same(got, want, what, atol=0.0, rtol=0.0):
    ok = got is not None and got.dtype == want.dtype and got.shape == want.shape
    if ok and (atol or rtol):
        ok = np.allclose(got.astype(np.float64), want.astype(np.float64), atol=atol, rtol=rtol,
                         equal_nan=True)
    elif ok:
        ok = np.array_equal(got, want, equal_nan=want.dtype.kind == "f")
    detail = "" if got is None else " (got %s %s)" % (got.dtype, got.shape)
    if not ok and got is not None and got.shape == want.shape:
        detail += " worst %g" % np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))
    check(ok, what + detail)


def cast_case(zinfer, folder):
    """float32 to every type and back, outputs of every type"""
    types = [("f16", TensorProto.FLOAT16, np.float16), ("i32", TensorProto.INT32, np.int32),
             ("i8", TensorProto.INT8, np.int8), ("u8", TensorProto.UINT8, np.uint8),
             ("i64", TensorProto.INT64, np.int64), ("b", TensorProto.BOOL, np.bool_)]
    x = np.array([[-100.7, -2.5, -0.4, 0, 0.4, 2.5], [7.9, 100.2, 0.1, 65.5, -1, 33.33]],
                 np.float32)
    for opset in (9, 13, 17):
        nodes, outputs, names, wants = [], [], [], []
        for short, code, numpy_type in types:
            nodes.append(helper.make_node("Cast", ["x"], [short], to=code))
            nodes.append(helper.make_node("Cast", [short], [short + "_back"], to=TensorProto.FLOAT))
            outputs.append(helper.make_tensor_value_info(short, code, [2, 6]))
            outputs.append(helper.make_tensor_value_info(short + "_back", TensorProto.FLOAT, [2, 6]))
            names += [short, short + "_back"]
            # In range everywhere, so numpy's astype is ONNX's Cast
            narrow = x.astype(numpy_type)
            wants += [narrow, narrow.astype(np.float32)]
        made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                     outputs, opset=opset)
        for first in range(0, len(names), 8):           # zinfer run writes at most 8
            got = run(zinfer, folder, made, {"x": x}, names[first: first + 8])
            for index, name in enumerate(names[first: first + 8]):
                same(got and got[index], wants[first + index], "opset %d Cast to %s" % (opset, name))

    # Between the integer types and float16, both ways, through the graph
    ints = np.array([-129, -128, -1, 0, 1, 127, 128, 255, 256, 70000], np.int64)
    nodes = [helper.make_node("Cast", ["n"], ["n32"], to=TensorProto.INT32),
             helper.make_node("Cast", ["n32"], ["n8"], to=TensorProto.INT8),
             helper.make_node("Cast", ["n32"], ["nu8"], to=TensorProto.UINT8),
             helper.make_node("Cast", ["n8"], ["h"], to=TensorProto.FLOAT16),
             helper.make_node("Cast", ["nu8"], ["hu"], to=TensorProto.FLOAT16)]
    outputs = [helper.make_tensor_value_info(name, code, [10]) for name, code in
               (("n32", TensorProto.INT32), ("n8", TensorProto.INT8), ("nu8", TensorProto.UINT8),
                ("h", TensorProto.FLOAT16), ("hu", TensorProto.FLOAT16))]
    made = model(nodes, [helper.make_tensor_value_info("n", TensorProto.INT64, [10])], outputs)
    got = run(zinfer, folder, made, {"n": ints}, ["n32", "n8", "nu8", "h", "hu"])
    wants = [ints.astype(np.int32), ints.astype(np.int8), ints.astype(np.uint8),
             ints.astype(np.int8).astype(np.float16), ints.astype(np.uint8).astype(np.float16)]
    for index, name in enumerate(["int32", "int8 (wraps)", "uint8 (wraps)", "int8 to float16",
                                  "uint8 to float16"]):
        same(got and got[index], wants[index], "int64 to " + name)


def int32_case(zinfer, folder):
    """Shape arithmetic in int32 as PaddleOCR exports it, on a computed
    shape (run) and on a constant one (folded)"""
    i32 = lambda name, values: numpy_helper.from_array(np.array(values, np.int32), name)
    nodes = [
        helper.make_node("Shape", ["x"], ["shape64"]),
        helper.make_node("Cast", ["shape64"], ["shape"], to=TensorProto.INT32),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Gather", ["shape", "rest"], ["tail"], axis=0),
        helper.make_node("ReduceProd", ["tail64"], ["flat64"], keepdims=1),
        helper.make_node("Cast", ["tail"], ["tail64"], to=TensorProto.INT64),
        helper.make_node("Cast", ["flat64"], ["flat"], to=TensorProto.INT32),
        helper.make_node("Mul", ["batch", "two"], ["twice"]),
        helper.make_node("Div", ["flat", "two"], ["half"]),
        helper.make_node("Sub", ["half", "one"], ["less_one"]),
        helper.make_node("Add", ["less_one", "one"], ["half_again"]),
        helper.make_node("Concat", ["twice", "half_again"], ["new_shape"], axis=0),
        helper.make_node("Cast", ["new_shape"], ["new_shape64"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["x", "new_shape64"], ["reshaped"]),
        helper.make_node("Equal", ["shape", "three"], ["is_three"]),
        helper.make_node("Where", ["is_three", "shape", "minus"], ["picked"]),
        helper.make_node("Less", ["shape", "three"], ["below"]),
        helper.make_node("Range", ["zero_s", "limit", "one_s"], ["counting"]),
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["sliced"]),
        helper.make_node("Unsqueeze", ["batch_s", "axes0"], ["batch_1"]),
        helper.make_node("ConstantOfShape", ["shape64"], ["filled"],
                         value=numpy_helper.from_array(np.array([-7], np.int32))),
        helper.make_node("Max", ["shape", "three"], ["at_least_3"]),
        helper.make_node("Squeeze", ["batch", "axes0"], ["batch_s"]),
        helper.make_node("Gather", ["shape", "two_s"], ["last"]),
        helper.make_node("Cast", ["last"], ["limit"], to=TensorProto.INT32),
    ]
    inits = [i32("zero", [0]), i32("rest", [1, 2]), i32("two", [2]), i32("one", [1]),
             i32("three", [3]), i32("minus", [-1, -2, -3]),
             numpy_helper.from_array(np.array(0, np.int32), "zero_s"),
             numpy_helper.from_array(np.array(1, np.int32), "one_s"),
             numpy_helper.from_array(np.array(2, np.int64), "two_s"),
             i32("starts", [1, -3]), i32("ends", [3, 100]), i32("axes", [1, 2]),
             numpy_helper.from_array(np.array([0], np.int64), "axes0")]
    names = ["reshaped", "picked", "below", "counting", "sliced", "batch_1", "filled",
             "at_least_3"]
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    shape = np.array(x.shape, np.int32)
    wants = [x.reshape(4, 6), np.where(shape == 3, shape, np.array([-1, -2, -3], np.int32)),
             shape < 3, np.arange(0, 4, dtype=np.int32), x[:, 1:3, -3:],
             np.array([2], np.int32), np.full(x.shape, -7, np.int32),
             np.maximum(shape, 3).astype(np.int32)]
    codes = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32,
             np.dtype(np.bool_): TensorProto.BOOL}
    outputs = [helper.make_tensor_value_info(name, codes[want.dtype], None)
               for name, want in zip(names, wants)]
    for constant in (False, True):
        inputs = [] if constant else [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [2, 3, 4])]
        extra = [numpy_helper.from_array(x, "x")] if constant else []
        made = model(nodes, inputs, outputs, inits + extra)
        if constant:
            # Nothing to feed: a model of constants only still runs (a dummy input)
            made.graph.input.append(helper.make_tensor_value_info("d", TensorProto.FLOAT, [1]))
            made.graph.node.append(helper.make_node("Identity", ["d"], ["d_out"]))
            made.graph.output.append(helper.make_tensor_value_info("d_out", TensorProto.FLOAT, [1]))
        got = run(zinfer, folder, made, {"d": np.zeros(1, np.float32)} if constant else {"x": x},
                  names)
        for index, name in enumerate(names):
            same(got and got[index], wants[index], "int32 %s (%s)" % (
                name, "folded" if constant else "run"))


def float16_case(zinfer, folder):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float16)
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float16)
    b = rng.standard_normal(4).astype(np.float16)
    z = rng.standard_normal((1, 4, 8, 8)).astype(np.float16)

    def conv(x, w, b):
        x, w = x.astype(np.float32), w.astype(np.float32)
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((1, w.shape[0], 8, 8), np.float64)
        for i in range(8):
            for j in range(8):
                patch = padded[0, :, i:i + 3, j:j + 3].astype(np.float64)
                out[0, :, i, j] = np.tensordot(w.astype(np.float64), patch, 3)
        return out + b.astype(np.float64)[None, :, None, None]

    # float16 in, float16 out, weights in raw_data and in int32_data
    # make_tensor stores float16 values as their bits in int32_data
    w_typed = helper.make_tensor("w", TensorProto.FLOAT16, w.shape,
                                 w.astype(np.float32).flatten().tolist())
    assert not w_typed.HasField("raw_data") and len(w_typed.int32_data) == w.size
    for typed in (False, True):
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["r"]),
                 helper.make_node("Add", ["r", "z"], ["y"]),
                 helper.make_node("Shape", ["y"], ["y_shape"])]
        made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT16, x.shape),
                             helper.make_tensor_value_info("z", TensorProto.FLOAT16, z.shape)],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT16, None),
                      helper.make_tensor_value_info("r", TensorProto.FLOAT16, None),
                      helper.make_tensor_value_info("y_shape", TensorProto.INT64, None)],
                     [w_typed if typed else numpy_helper.from_array(w, "w"),
                      numpy_helper.from_array(b, "b")])
        got = run(zinfer, folder, made, {"x": x, "z": z}, ["y", "r", "y_shape"])
        relu = np.maximum(conv(x, w, b), 0)
        want = (relu + z.astype(np.float64)).astype(np.float16)
        label = "int32_data" if typed else "raw_data"
        same(got and got[0], want, "float16 model, weights in %s: y" % label, 1e-3, 2e-3)
        same(got and got[1], relu.astype(np.float16), "float16 model: a middle output", 1e-3, 2e-3)
        same(got and got[2], np.array([1, 4, 8, 8], np.int64), "float16 model: Shape")

    # float32 in, Cast to FLOAT16 at the input, float16 weights, Cast back
    nodes = [helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16),
             helper.make_node("Conv", ["x16", "w", "b"], ["c16"], pads=[1, 1, 1, 1]),
             helper.make_node("Cast", ["c16"], ["y"], to=TensorProto.FLOAT)]
    x32 = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    for opset in (9, 13, 17):
        made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x32.shape)],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                      helper.make_tensor_value_info("x16", TensorProto.FLOAT16, None)],
                     [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")], opset)
        got = run(zinfer, folder, made, {"x": x32}, ["y", "x16"])
        # The input rounded to float16 as the model says, the rest in float32
        want = conv(x32.astype(np.float16), w, b).astype(np.float32)
        same(got and got[0], want, "opset %d Cast to FLOAT16 at the input: y" % opset, 1e-4, 1e-4)
        same(got and got[1], x32.astype(np.float16), "opset %d: the float16 input, exact" % opset)


def bytes_case(zinfer, folder):
    """uint8 and int8: weights in raw_data and int32_data, inputs, outputs"""
    image = np.arange(24, dtype=np.uint8).reshape(1, 2, 3, 4) * 10
    scale = np.array([0.5, 2.0], np.float32).reshape(1, 2, 1, 1)
    offsets = np.array([-128, -5, 0, 127], np.int8)
    bias = helper.make_tensor("bias", TensorProto.INT8, [4], offsets.tolist())   # int32_data
    table = numpy_helper.from_array(np.array([1, 2, 250, 255], np.uint8), "table")
    nodes = [helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["pixels", "scale"], ["scaled"]),
             helper.make_node("Cast", ["bias"], ["bias_f"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["scaled", "bias_f"], ["y"]),
             helper.make_node("Transpose", ["image"], ["flipped"], perm=[0, 1, 3, 2]),
             helper.make_node("Concat", ["table", "table"], ["tables"], axis=0),
             helper.make_node("Add", ["image", "image"], ["doubled"]),
             helper.make_node("Less", ["image", "hundred"], ["dark"])]
    made = model(nodes, [helper.make_tensor_value_info("image", TensorProto.UINT8, image.shape)],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                  helper.make_tensor_value_info("flipped", TensorProto.UINT8, None),
                  helper.make_tensor_value_info("tables", TensorProto.UINT8, None),
                  helper.make_tensor_value_info("doubled", TensorProto.UINT8, None),
                  helper.make_tensor_value_info("dark", TensorProto.BOOL, None),
                  helper.make_tensor_value_info("bias", TensorProto.INT8, None)],
                 [numpy_helper.from_array(scale, "scale"), bias, table,
                  numpy_helper.from_array(np.array(100, np.uint8), "hundred")])
    names = ["y", "flipped", "tables", "doubled", "dark", "bias"]
    got = run(zinfer, folder, made, {"image": image}, names)
    wants = [image.astype(np.float32) * scale + offsets.astype(np.float32),
             image.transpose(0, 1, 3, 2), np.array([1, 2, 250, 255] * 2, np.uint8),
             (image.astype(np.int32) * 2).astype(np.uint8), image < 100, offsets]
    for index, name in enumerate(names):
        same(got and got[index], wants[index], "uint8 / int8: " + name)

    # An int32 .npy for an int64 input is widened; an int64 one for int32 is not
    nodes = [helper.make_node("Add", ["n", "n"], ["y"])]
    made = model(nodes, [helper.make_tensor_value_info("n", TensorProto.INT64, [3])],
                 [helper.make_tensor_value_info("y", TensorProto.INT64, None)])
    got = run(zinfer, folder, made, {"n": np.array([1, -2, 2 ** 30], np.int32)}, ["y"])
    same(got and got[0], np.array([2, -4, 2 ** 31], np.int64), "int32 .npy into an int64 input")
    made = model(nodes, [helper.make_tensor_value_info("n", TensorProto.INT32, [3])],
                 [helper.make_tensor_value_info("y", TensorProto.INT32, None)])
    fails(zinfer, folder, made, {"n": np.array([1, 2, 3], np.int64)}, ["expected int32", "int64"],
          "an int64 .npy for an int32 input")


def errors_case(zinfer, folder):
    made = model([helper.make_node("Identity", ["x"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2])],
                 [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)])
    fails(zinfer, folder, made, {"x": np.zeros(2, np.float32)}, ["'x'", "DOUBLE", "supported"],
          "a double input")
    made = model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                 [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, None)])
    fails(zinfer, folder, made, {"x": np.zeros(2, np.float32)}, ["BFLOAT16", "not supported"],
          "a Cast to bfloat16")
    weights = helper.make_tensor("w", TensorProto.UINT16, [2], [1, 2])
    made = model([helper.make_node("Add", ["x", "w"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.UINT16, [2])],
                 [helper.make_tensor_value_info("y", TensorProto.UINT16, None)], [weights])
    fails(zinfer, folder, made, {"x": np.zeros(2, np.float32)}, ["'w'", "UINT16", "supported"],
          "a uint16 initializer")


def main():
    zinfer = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="zinfer-dtypes-") as folder:
        for case in (cast_case, int32_case, float16_case, bytes_case, errors_case):
            case(zinfer, folder)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
