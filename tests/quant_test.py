#!/usr/bin/python3
"""Quantized models end to end: small models built with onnx.helper the
way quantization tools write them, run by `zinfer run`, against numpy.

- QDQ: QuantizeLinear -> DequantizeLinear around a Conv whose int8 weights
  (per output channel) and int32 bias come through DequantizeLinear, then
  Relu, QuantizeLinear, DequantizeLinear, and a MatMul the same way; the
  answer within one quantization step of the same arithmetic in float64;
- QOperator: QuantizeLinear, QLinearConv (uint8 x int8, per-channel
  weights, int32 bias), Flatten on uint8, QLinearMatMul, DequantizeLinear,
  against the integer formulas in numpy (within one step);
- QDQ fusion: Conv (per-tensor and per-channel int8 or uint8 weights,
  int32 or float bias, strides and pads, groups and depthwise, Relu or Clip before the
  quantizer, int8 and uint8 activations), MatMul and Gemm (B as it is
  and transposed) in the QDQ pattern
  become QLinearConv and QLinearMatMul (`zinfer info --fuse`); their
  outputs equal the unfused graph's within one step, most exactly, and
  numpy's float64 QDQ arithmetic within one step; a chain the pass must
  leave alone (a Relu the output range does not absorb, a Gemm with a
  bias) stays in float;
- QDQ fusion with a DequantizeLinear read by several nodes (one
  activation into two Convs and a ReduceMean, one into two MatMuls and
  the graph's output, one weight shared by two Convs): every Conv and
  MatMul fuses, the activation's DequantizeLinear stays only for the
  ReduceMean or the output, and the outputs equal the unfused graph's
  as above (the ReduceMean's and the output's bit for bit);
- dynamic: DynamicQuantizeLinear, MatMulInteger and ConvInteger, Cast to
  float and Mul by the scales, exactly as numpy's integer arithmetic, and
  within the quantization error of the float product.

    /usr/bin/python3 tests/quant_test.py ZINFER_BINARY
    /usr/bin/python3 tests/quant_test.py --write-cnn MODEL.onnx   (the timed CNN)
"""

import os
import re
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


def model(nodes, inputs, outputs, initializers, opset):
    graph = helper.make_graph(nodes, "quant", inputs, outputs, initializers)
    made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    made.ir_version = 7
    return made


def run(zinfer, folder, made, feeds, names, flags=()):
    path = os.path.join(folder, "model.onnx")
    onnx.save(made, path)
    command = [zinfer, "run", path, "--threads", "2"] + list(flags)
    for name, array in feeds.items():
        np.save(os.path.join(folder, name + ".npy"), array)
        command += ["--input", "%s=%s" % (name, os.path.join(folder, name + ".npy"))]
    for name in names:
        command += ["--output", "%s=%s" % (name, os.path.join(folder, "out_" + name + ".npy"))]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        check(False, "zinfer run: " + done.stderr.strip())
        return [None] * len(names)
    return [np.load(os.path.join(folder, "out_" + name + ".npy")) for name in names]


def quantize(x, scale, zero, dtype, axis=None):
    """The spec's QuantizeLinear in numpy: x / scale in float32, ties to even"""
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    info = np.iinfo(dtype)
    q = np.rint(x.astype(np.float32) / scale.astype(np.float32)) + zero.astype(np.float32)
    return np.clip(q, info.min, info.max).astype(dtype)


def conv2d(x, w, pads, stride=1):
    """NCHW direct convolution in float64 (or int64 for integer inputs)"""
    kind = np.int64 if x.dtype.kind in "iu" else np.float64
    x = np.pad(x.astype(kind), ((0, 0), (0, 0), (pads, pads), (pads, pads)))
    w = w.astype(kind)
    n, c, h, width = x.shape
    m, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (width - kw) // stride + 1
    y = np.zeros((n, m, oh, ow), kind)
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.tensordot(patch, w, ([1, 2, 3], [1, 2, 3]))
    return y


def within_one(got, want, step, what):
    ok = got is not None and got.shape == want.shape
    worst = np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))) if ok else -1
    check(ok and worst <= step * 1.0001, "%s: worst %g, one step %g" % (what, worst, step))


def qdq_case(zinfer, folder, rng):
    x = rng.standard_normal((2, 3, 10, 10)).astype(np.float32)
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32) * 0.1
    fc = (rng.standard_normal((8 * 10 * 10, 5)) * 0.02).astype(np.float32)
    x_scale, x_zero = np.float32(0.03), np.uint8(128)
    w_scale = (np.abs(w).reshape(8, -1).max(1) / 127).astype(np.float32)
    w_q = quantize(w, w_scale, np.zeros(8, np.int8), np.int8, axis=0)
    b_scale = (x_scale * w_scale).astype(np.float32)
    b_q = np.rint(bias / b_scale).astype(np.int32)
    y_scale, y_zero = np.float32(0.02), np.uint8(0)
    fc_scale = np.float32(np.abs(fc).max() / 127)
    fc_q = quantize(fc, np.array(fc_scale), np.array(0), np.int8)
    z_scale, z_zero = np.float32(0.05), np.int8(0)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (np.array(x_scale), "x_scale"), (np.array(x_zero), "x_zero"), (w_q, "w_q"),
        (w_scale, "w_scale"), (np.zeros(8, np.int8), "w_zero"), (b_q, "b_q"),
        (b_scale, "b_scale"), (np.zeros(8, np.int32), "b_zero"), (np.array(y_scale), "y_scale"),
        (np.array(y_zero), "y_zero"), (fc_q, "fc_q"), (np.array(fc_scale), "fc_scale"),
        (np.array(np.int8(0)), "fc_zero"), (np.array(z_scale), "z_scale"),
        (np.array(z_zero), "z_zero"))]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"], axis=0),
        helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zero"], ["b_dq"], axis=0),
        helper.make_node("Conv", ["x_dq", "w_dq", "b_dq"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "y_scale", "y_zero"], ["r_q"]),
        helper.make_node("DequantizeLinear", ["r_q", "y_scale", "y_zero"], ["r_dq"]),
        helper.make_node("Flatten", ["r_dq"], ["flat"]),
        helper.make_node("DequantizeLinear", ["fc_q", "fc_scale", "fc_zero"], ["fc_dq"]),
        helper.make_node("MatMul", ["flat", "fc_dq"], ["m"]),
        helper.make_node("QuantizeLinear", ["m", "z_scale", "z_zero"], ["m_q"]),
        helper.make_node("DequantizeLinear", ["m_q", "z_scale", "z_zero"], ["y"]),
    ]
    # The same arithmetic in float64, rounding where the model rounds
    x_dq = (quantize(x, np.array(x_scale), np.array(x_zero), np.uint8).astype(np.float64)
            - 128) * x_scale
    w_dq = w_q.astype(np.float64) * w_scale.reshape(8, 1, 1, 1)
    r = np.maximum(conv2d(x_dq, w_dq, 1) + (b_q * b_scale).reshape(1, 8, 1, 1), 0)
    r_dq = quantize(r, np.array(y_scale), np.array(y_zero), np.uint8).astype(np.float64) * y_scale
    m = r_dq.reshape(2, -1) @ (fc_q.astype(np.float64) * fc_scale)
    want = quantize(m, np.array(z_scale), np.array(z_zero), np.int8).astype(np.float32) * z_scale
    for opset in (13, 17):
        made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                      helper.make_tensor_value_info("r_q", TensorProto.UINT8, None)],
                     inits, opset)
        y, r_q = run(zinfer, folder, made, {"x": x}, ["y", "r_q"])
        within_one(r_q, quantize(r, np.array(y_scale), np.array(y_zero), np.uint8), 1,
                   "QDQ opset %d: Conv + Relu, quantized" % opset)
        within_one(y, want, z_scale, "QDQ opset %d: the MatMul after it" % opset)
        check(r_q is not None and r_q.dtype == np.uint8, "QDQ: a uint8 output as declared")


def fused_ops(zinfer, folder, made):
    """The op types of the graph after the fusion passes, by count"""
    path = os.path.join(folder, "model.onnx")
    onnx.save(made, path)
    done = subprocess.run([zinfer, "info", path, "--fuse"], capture_output=True, text=True)
    if done.returncode != 0:
        check(False, "zinfer info --fuse: " + done.stderr.strip())
        return {}
    counts = {}
    for op in ("QLinearConv", "QLinearMatMul", "QuantizeLinear", "DequantizeLinear", "Conv",
               "MatMul", "Gemm", "Relu", "Clip"):
        counts[op] = len(re.findall(r"\b%s\b" % op, done.stdout))
    return counts


def qdq_fusion_case(zinfer, folder, rng):
    """QuantizeLinear (x) -> DequantizeLinear -> op (DequantizeLinear (W_q))
    [-> Relu or Clip] -> QuantizeLinear: fused, unfused and numpy agree"""
    cases = [
        # label, op, x type, x zero, W type, per channel, bias, act, stride, pads, y type, y zero
        ("Conv u8 x, per-tensor s8 W, stride 2, pads", "Conv", np.uint8, 121, np.int8, False,
         None, None, 2, 1, np.uint8, 131),
        ("Conv u8 x, per-channel s8 W, int32 bias, Relu", "Conv", np.uint8, 128, np.int8, True,
         "int32", "Relu", 1, 1, np.uint8, 0),
        ("Conv s8 x, per-channel s8 W, float bias, s8 out", "Conv", np.int8, -5, np.int8, True,
         "float", None, 1, 0, np.int8, 3),
        ("Conv s8 x, per-tensor u8 W, Clip to the range, stride 2", "Conv", np.int8, 2,
         np.uint8, False, "int32", "Clip", 2, 0, np.int8, -128),
        ("Conv u8 x, depthwise (6 groups), per-channel s8 W, int32 bias, Relu", "Conv",
         np.uint8, 128, np.int8, True, "int32", "Relu", 1, 1, np.uint8, 0, 6),
        ("Conv s8 x, 2 groups, per-channel s8 W, stride 2", "Conv", np.int8, -1, np.int8,
         True, None, None, 2, 1, np.int8, 5, 2),
        ("MatMul u8 A, per-tensor s8 B", "MatMul", np.uint8, 100, np.int8, False, None, None,
         1, 0, np.uint8, 120),
        ("MatMul s8 A, per-column s8 B, Relu", "MatMul", np.int8, 0, np.int8, True, None,
         "Relu", 1, 0, np.int8, -128),
        ("Gemm u8 A, transB, per-output s8 B", "GemmT", np.uint8, 90, np.int8, True, None,
         None, 1, 0, np.uint8, 140),
        ("Gemm s8 A, per-tensor u8 B", "Gemm", np.int8, 7, np.uint8, False, None, None,
         1, 0, np.int8, 0),
    ]
    for (label, op, x_type, x_zero, w_type, per_channel, bias_kind, act, stride, pads, y_type,
         y_zero, *more) in cases:
        groups = more[0] if more else 1
        conv, gemm, turned = op == "Conv", op.startswith("Gemm"), op == "GemmT"
        x = rng.standard_normal((2, 6, 11, 9) if conv else (6, 24) if gemm else (2, 5, 24))
        x = x.astype(np.float32)
        w_shape = ((6 if groups == 6 else 8, 6 // groups, 3, 3) if conv
                   else (10, 24) if turned else (24, 10))
        w = (rng.standard_normal(w_shape) * 0.2).astype(np.float32)
        axis = 0 if conv or turned else 1
        channels = w.shape[axis]
        w_info = np.iinfo(w_type)
        w_zero = np.zeros(channels, w_type) + (0 if w_type == np.int8 else 128)
        moved = np.moveaxis(w, axis, 0).reshape(channels, -1)
        w_scale = (np.abs(moved).max(1) / 127).astype(np.float32)
        if not per_channel:
            w_scale, w_zero = np.float32(w_scale.max()), w_zero[:1].reshape(())
        w_q = quantize(w, np.asarray(w_scale), np.asarray(w_zero), w_type,
                       axis=axis if per_channel else None)
        x_scale, y_scale = np.float32(0.025), np.float32(0.04 if conv else 0.05)
        inits = [(np.array(x_scale), "x_scale"), (np.array(x_type(x_zero)), "x_zero"),
                 (w_q, "w_q"), (np.asarray(w_scale), "w_scale"), (np.asarray(w_zero), "w_zero"),
                 (np.array(y_scale), "y_scale"), (np.array(y_type(y_zero)), "y_zero")]
        nodes = [
            helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
            helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"],
                             axis=axis),
        ]
        # numpy: the QDQ semantics in float64
        x_dq = (quantize(x, np.array(x_scale), np.array(x_zero), x_type).astype(np.float64)
                - x_zero) * x_scale
        shape = [1] * w.ndim
        shape[axis] = -1
        w_dq = ((w_q.astype(np.float64) - np.asarray(w_zero, np.float64).reshape(
            shape if per_channel else ())) * np.asarray(w_scale, np.float64).reshape(
            shape if per_channel else ()))
        inputs = ["x_dq", "w_dq"]
        bias_value = 0
        if bias_kind:
            bias = rng.standard_normal(channels).astype(np.float32) * 0.3
            b_scale = (x_scale * np.broadcast_to(w_scale, (channels,))).astype(np.float32)
            b_q = np.rint(bias / b_scale).astype(np.int32)
            if bias_kind == "int32":
                inits += [(b_q, "b_q"), (b_scale, "b_scale")]
                nodes.append(helper.make_node("DequantizeLinear", ["b_q", "b_scale"], ["b"],
                                              axis=0))
            else:
                inits.append(((b_q * b_scale).astype(np.float32), "b"))
            bias_value = (b_q * b_scale).astype(np.float32).astype(np.float64).reshape(1, -1, 1, 1)
            inputs.append("b")
        if conv:
            nodes.append(helper.make_node("Conv", inputs, ["c"], pads=[pads] * 4,
                                          strides=[stride, stride], group=groups))
            ins, outs = x.shape[1] // groups, w.shape[0] // groups
            c = np.concatenate([conv2d(x_dq[:, g * ins:(g + 1) * ins],
                                       w_dq[g * outs:(g + 1) * outs], pads, stride)
                                for g in range(groups)], axis=1) + bias_value
        elif gemm:
            nodes.append(helper.make_node("Gemm", inputs, ["c"], transB=int(turned)))
            c = x_dq @ (w_dq.T if turned else w_dq)
        else:
            nodes.append(helper.make_node("MatMul", inputs, ["c"]))
            c = x_dq @ w_dq
        last = "c"
        if act == "Relu":
            nodes.append(helper.make_node("Relu", ["c"], ["a"]))
            c, last = np.maximum(c, 0), "a"
        elif act == "Clip":
            # Wider than the int8 range from -128 at this scale: it folds
            inits += [(np.array(np.float32(-1.0)), "lo"), (np.array(np.float32(20.0)), "hi")]
            nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["a"]))
            c, last = np.clip(c, -1.0, 20.0), "a"
        nodes.append(helper.make_node("QuantizeLinear", [last, "y_scale", "y_zero"], ["y"]))
        made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                     [helper.make_tensor_value_info("y", TensorProto.UINT8 if y_type == np.uint8
                                                   else TensorProto.INT8, None)],
                     [numpy_helper.from_array(a, n) for a, n in inits], 13)
        counts = fused_ops(zinfer, folder, made)
        fused_op = "QLinearConv" if conv else "QLinearMatMul"
        check(counts.get(fused_op) == 1 and counts.get("DequantizeLinear") == 0
              and counts.get(op.rstrip("T")) == 0 and counts.get("QuantizeLinear") == 1
              and counts.get("Relu") == 0 and counts.get("Clip") == 0,
              "QDQ fusion, %s: one %s after --fuse (%s)" % (label, fused_op, counts))
        fused, = run(zinfer, folder, made, {"x": x}, ["y"])
        plain, = run(zinfer, folder, made, {"x": x}, ["y"], ["--no-fuse"])
        want = quantize(c, np.array(y_scale), np.array(y_zero), y_type)
        within_one(fused, plain, 1, "QDQ fusion, %s: fused vs unfused" % label)
        same = np.mean(fused == plain) if fused is not None and plain is not None else 0
        check(same >= 0.98 and fused.dtype == y_type,
              "QDQ fusion, %s: %.2f%% of elements exactly as unfused" % (label, 100 * same))
        within_one(fused, want, 1, "QDQ fusion, %s: fused vs numpy" % label)
        # Not every output on one saturated value: the test can fail
        check(fused is not None and len(np.unique(fused)) > 20,
              "QDQ fusion, %s: %d distinct outputs" % (label, len(np.unique(fused))))

    # Chains the pass must leave alone: a Relu whose zero the output range
    # does not absorb; a Gemm with a bias
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    w_q = rng.integers(-100, 100, (4, 3, 3, 3)).astype(np.int8)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (np.array(np.float32(0.02)), "s"), (np.array(np.uint8(128)), "z"), (w_q, "w_q"),
        (np.array(np.float32(0.01)), "w_scale"), (np.array(np.int8(0)), "w_zero"),
        (np.array(np.float32(0.1)), "y_scale"), (np.array(np.uint8(50)), "y_zero"),
        (rng.integers(-100, 100, (12, 5)).astype(np.int8), "g_q"),
        (rng.standard_normal(5).astype(np.float32), "g_bias"))]
    head = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["x_q"]),
            helper.make_node("DequantizeLinear", ["x_q", "s", "z"], ["x_dq"]),
            helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"]),
            helper.make_node("Conv", ["x_dq", "w_dq"], ["c"])]
    chains = {
        "a Gemm with a bias C": ([
            helper.make_node("QuantizeLinear", ["x2", "s", "z"], ["x_q"]),
            helper.make_node("DequantizeLinear", ["x_q", "s", "z"], ["x_dq"]),
            helper.make_node("DequantizeLinear", ["g_q", "w_scale", "w_zero"], ["g_dq"]),
            helper.make_node("Gemm", ["x_dq", "g_dq", "g_bias"], ["c"]),
            helper.make_node("QuantizeLinear", ["c", "y_scale", "y_zero"], ["y"])], ["y"]),
        "a Relu above the output's lowest value": (head + [
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("QuantizeLinear", ["r", "y_scale", "y_zero"], ["y"])], ["y"]),
    }
    for label, (nodes, names) in chains.items():
        outputs = [helper.make_tensor_value_info(n, TensorProto.UINT8 if n == "y" else
                                                 TensorProto.FLOAT, None) for n in names]
        gemm = "Gemm" in label
        feed = {"x2": rng.standard_normal((3, 12)).astype(np.float32)} if gemm else {"x": x}
        made = model(nodes, [helper.make_tensor_value_info(name, TensorProto.FLOAT, array.shape)
                             for name, array in feed.items()],
                     outputs, [i for i in inits if gemm or not i.name.startswith("g_")], 13)
        counts = fused_ops(zinfer, folder, made)
        check(counts.get("QLinearConv") == 0 and counts.get("QLinearMatMul") == 0
              and counts.get("Gemm" if gemm else "Conv") == 1,
              "QDQ fusion left alone, %s (%s)" % (label, counts))
        fused = run(zinfer, folder, made, feed, names)
        plain = run(zinfer, folder, made, feed, names, ["--no-fuse"])
        check(all(a is not None and b is not None and np.array_equal(a, b)
                  for a, b in zip(fused, plain)),
              "QDQ fusion left alone, %s: same outputs as unfused" % label)


def qdq_shared_case(zinfer, folder, rng):
    """DequantizeLinear nodes read by several nodes, as quantizers share
    them: each Conv and MatMul fuses, and a DequantizeLinear stays only
    while something that cannot fuse still reads it"""
    x = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
    x_scale, y_scale = np.float32(0.03), np.float32(0.05)
    w_a = rng.integers(-90, 90, (8, 6, 3, 3)).astype(np.int8)
    w_b = rng.integers(-90, 90, (4, 6, 1, 1)).astype(np.int8)
    w_m = rng.integers(-90, 90, (8, 5)).astype(np.int8)
    w_scale = np.float32(0.004)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (np.array(x_scale), "x_scale"), (np.array(np.uint8(120)), "x_zero"),
        (w_a, "w_a_q"), (w_b, "w_b_q"), (w_m, "w_m_q"), (np.array(w_scale), "w_scale"),
        (np.array(np.int8(0)), "w_zero"), (np.array(y_scale), "y_scale"),
        (np.array(np.uint8(128)), "y_zero"))]
    dq = lambda q, out: helper.make_node("DequantizeLinear", [q, "w_scale", "w_zero"], [out])
    quant = lambda value, out: helper.make_node("QuantizeLinear", [value, "y_scale", "y_zero"],
                                                [out])
    head = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"])]
    layouts = {
        # One activation into two Convs and a ReduceMean
        "one activation read by two Convs and a ReduceMean": (head + [
            dq("w_a_q", "w_a"), dq("w_b_q", "w_b"),
            helper.make_node("Conv", ["x_dq", "w_a"], ["c1"], pads=[1, 1, 1, 1]),
            helper.make_node("Conv", ["x_dq", "w_b"], ["c2"]),
            helper.make_node("ReduceMean", ["x_dq"], ["m"], keepdims=0),
            quant("c1", "y1"), quant("c2", "y2")], ["y1", "y2", "m"],
            {"QLinearConv": 2, "Conv": 0, "DequantizeLinear": 1}),
        # One weight into two Convs, on the activation and on its half
        "one weight read by two Convs": (head + [
            dq("w_a_q", "w_a"),
            helper.make_node("QuantizeLinear", ["x2", "x_scale", "x_zero"], ["x2_q"]),
            helper.make_node("DequantizeLinear", ["x2_q", "x_scale", "x_zero"], ["x2_dq"]),
            helper.make_node("Conv", ["x_dq", "w_a"], ["c1"], pads=[1, 1, 1, 1]),
            helper.make_node("Conv", ["x2_dq", "w_a"], ["c2"], strides=[2, 2]),
            quant("c1", "y1"), quant("c2", "y2")], ["y1", "y2"],
            {"QLinearConv": 2, "Conv": 0, "DequantizeLinear": 0}),
        # One activation into two MatMuls, and the graph's output too
        "one activation read by two MatMuls and the graph's output": ([
            helper.make_node("QuantizeLinear", ["v", "x_scale", "x_zero"], ["x_q"]),
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
            dq("w_m_q", "w_m"),
            helper.make_node("MatMul", ["x_dq", "w_m"], ["c1"]),
            helper.make_node("MatMul", ["x_dq", "w_m"], ["c2"]),
            quant("c1", "y1"), quant("c2", "y2")], ["y1", "y2", "x_dq"],
            {"QLinearMatMul": 2, "MatMul": 0, "DequantizeLinear": 1}),
    }
    for label, (nodes, names, wanted) in layouts.items():
        feeds = ({"v": rng.standard_normal((16, 8)).astype(np.float32)} if "MatMuls" in label
                 else {"x": x, "x2": x[:, :, :5, :6] * 0.5} if "weight" in label else {"x": x})
        outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT if n in ("m", "x_dq")
                                                 else TensorProto.UINT8, None) for n in names]
        made = model(nodes, [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape)
                             for n, a in feeds.items()], outputs, inits, 13)
        counts = fused_ops(zinfer, folder, made)
        check(all(counts.get(op) == n for op, n in wanted.items()),
              "QDQ fusion, %s: %s after --fuse (%s)" % (label, wanted, counts))
        fused = run(zinfer, folder, made, feeds, names)
        plain = run(zinfer, folder, made, feeds, names, ["--no-fuse"])
        for name, got, want in zip(names, fused, plain):
            if name in ("m", "x_dq"):
                check(got is not None and want is not None and np.array_equal(got, want),
                      "QDQ fusion, %s: %s as unfused, bit for bit" % (label, name))
                continue
            within_one(got, want, 1, "QDQ fusion, %s: %s fused vs unfused" % (label, name))
            same = np.mean(got == want) if got is not None and want is not None else 0
            check(same >= 0.98 and len(np.unique(got)) > 10,
                  "QDQ fusion, %s: %s %.2f%% exactly as unfused, %d distinct" % (
                      label, name, 100 * same, len(np.unique(got)) if got is not None else 0))


def qdq_cnn(rng, size=128):
    """A small quantized CNN as quantization tools write it: five QDQ convs
    (per-channel int8 weights, int32 biases, Relu), uint8 activations"""
    widths, strides = [3, 16, 32, 32, 64, 64], [1, 2, 1, 2, 1]
    scale = np.float32(0.05)
    inits = [(np.array(scale), "s"), (np.array(np.uint8(0)), "z"),
             (np.array(np.float32(0.02)), "in_s"), (np.array(np.uint8(128)), "in_z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "in_s", "in_z"], ["q0"])]
    for layer in range(5):
        m, c = widths[layer + 1], widths[layer]
        w = (rng.standard_normal((m, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
        w_scale = (np.abs(w).reshape(m, -1).max(1) / 127).astype(np.float32)
        w_q = quantize(w, w_scale, np.zeros(m, np.int8), np.int8, axis=0)
        x_s, x_z = ("in_s", "in_z") if layer == 0 else ("s", "z")
        b_scale = ((np.float32(0.02) if layer == 0 else scale) * w_scale).astype(np.float32)
        b_q = rng.integers(-500, 500, m).astype(np.int32)
        name = "l%d_" % layer
        inits += [(w_q, name + "w"), (w_scale, name + "ws"), (b_q, name + "b"),
                  (b_scale, name + "bs")]
        nodes += [
            helper.make_node("DequantizeLinear", ["q%d" % layer, x_s, x_z], [name + "x"]),
            helper.make_node("DequantizeLinear", [name + "w", name + "ws"], [name + "wd"],
                             axis=0),
            helper.make_node("DequantizeLinear", [name + "b", name + "bs"], [name + "bd"],
                             axis=0),
            helper.make_node("Conv", [name + "x", name + "wd", name + "bd"], [name + "c"],
                             pads=[1, 1, 1, 1], strides=[strides[layer]] * 2),
            helper.make_node("Relu", [name + "c"], [name + "r"]),
            helper.make_node("QuantizeLinear", [name + "r", "s", "z"], ["q%d" % (layer + 1)]),
        ]
    nodes.append(helper.make_node("DequantizeLinear", ["q5", "s", "z"], ["y"]))
    shape = (1, 3, size, size)
    return model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                 [numpy_helper.from_array(a, n) for a, n in inits], 13)


def qoperator_case(zinfer, folder, rng):
    x = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)
    x_scale, x_zero = np.float32(0.025), np.uint8(120)
    w_q = rng.integers(-127, 128, (6, 4, 3, 3)).astype(np.int8)
    w_scale = (0.002 + 0.001 * np.arange(6)).astype(np.float32)
    b_q = rng.integers(-3000, 3000, 6).astype(np.int32)
    y_scale, y_zero = np.float32(0.1), np.uint8(100)
    fc_q = rng.integers(-127, 128, (6 * 5 * 5, 4)).astype(np.int8)
    fc_scale, fc_zero = np.float32(0.003), np.int8(0)
    z_scale, z_zero = np.float32(0.4), np.uint8(128)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (np.array(x_scale), "x_scale"), (np.array(x_zero), "x_zero"), (w_q, "w_q"),
        (w_scale, "w_scale"), (np.zeros(6, np.int8), "w_zero"), (b_q, "b_q"),
        (np.array(y_scale), "y_scale"), (np.array(y_zero), "y_zero"), (fc_q, "fc_q"),
        (np.array(fc_scale), "fc_scale"), (np.array(fc_zero), "fc_zero"),
        (np.array(z_scale), "z_scale"), (np.array(z_zero), "z_zero"))]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
        helper.make_node("QLinearConv", ["x_q", "x_scale", "x_zero", "w_q", "w_scale", "w_zero",
                                         "y_scale", "y_zero", "b_q"], ["c_q"],
                         pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Flatten", ["c_q"], ["flat_q"]),
        helper.make_node("QLinearMatMul", ["flat_q", "y_scale", "y_zero", "fc_q", "fc_scale",
                                           "fc_zero", "z_scale", "z_zero"], ["m_q"]),
        helper.make_node("DequantizeLinear", ["m_q", "z_scale", "z_zero"], ["y"]),
    ]
    x_q = quantize(x, np.array(x_scale), np.array(x_zero), np.uint8)
    acc = conv2d(x_q.astype(np.int64) - 120, w_q, 1, 2) + b_q.reshape(1, 6, 1, 1)
    multiplier = (x_scale * w_scale / y_scale).astype(np.float32).reshape(1, 6, 1, 1)
    c_q = np.clip(np.rint(acc.astype(np.float32) * multiplier) + 100, 0, 255).astype(np.uint8)
    m_acc = (c_q.reshape(1, -1).astype(np.int64) - 100) @ fc_q.astype(np.int64)
    m_q = np.clip(np.rint(m_acc.astype(np.float32) * np.float32(y_scale * fc_scale / z_scale))
                  + 128, 0, 255).astype(np.uint8)
    want = (m_q.astype(np.float32) - 128) * z_scale
    for opset in (10, 13, 17):
        made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                      helper.make_tensor_value_info("c_q", TensorProto.UINT8, None)],
                     inits, opset)
        y, got_c = run(zinfer, folder, made, {"x": x}, ["y", "c_q"])
        within_one(got_c, c_q, 1, "QOperator opset %d: QLinearConv" % opset)
        within_one(y, want, z_scale, "QOperator opset %d: QLinearMatMul, dequantized" % opset)


def dynamic_case(zinfer, folder, rng):
    x = rng.standard_normal((3, 7, 24)).astype(np.float32)
    w = (rng.standard_normal((24, 10)) * 0.3).astype(np.float32)
    for w_type in (np.uint8, np.int8):
        w_scale = np.float32((w.max() - w.min()) / 255)
        w_zero = (np.array(128 if w_type == np.uint8 else 0)).astype(w_type)
        w_q = quantize(w, np.array(w_scale), w_zero, w_type)
        inits = [numpy_helper.from_array(w_q, "w_q"), numpy_helper.from_array(w_zero, "w_zero"),
                 numpy_helper.from_array(np.array(w_scale), "w_scale")]
        nodes = [
            helper.make_node("DynamicQuantizeLinear", ["x"], ["x_q", "x_scale", "x_zero"]),
            helper.make_node("MatMulInteger", ["x_q", "w_q", "x_zero", "w_zero"], ["acc"]),
            helper.make_node("Cast", ["acc"], ["acc_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["x_scale", "w_scale"], ["scale"]),
            helper.make_node("Mul", ["acc_f", "scale"], ["y"]),
        ]
        # The spec's DynamicQuantizeLinear, then integer sums
        low, high = min(0.0, x.min()), max(0.0, x.max())
        x_scale = np.float32((high - low) / 255)
        x_zero = np.uint8(np.clip(np.rint(-low / x_scale), 0, 255))
        x_q = quantize(x, np.array(x_scale), np.array(x_zero), np.uint8)
        acc = (x_q.astype(np.int64) - x_zero) @ (w_q.astype(np.int64) - w_zero.astype(np.int64))
        for opset in (11, 13, 17):
            made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                          helper.make_tensor_value_info("acc", TensorProto.INT32, None)],
                         inits, opset)
            y, got_acc = run(zinfer, folder, made, {"x": x}, ["y", "acc"])
            check(got_acc is not None and got_acc.dtype == np.int32
                  and np.array_equal(got_acc, acc.astype(np.int32)),
                  "dynamic, %s weights, opset %d: MatMulInteger exact" % (
                      np.dtype(w_type).name, opset))
            error = np.abs(y - x @ w).max() if y is not None else np.inf
            # Each product is off by at most half a step of each factor
            bound = 24 * (0.5 * x_scale * np.abs(w).max() + 0.5 * w_scale * np.abs(x).max()
                          + 0.25 * x_scale * w_scale)
            check(error <= bound, "dynamic, opset %d: within %g of the float product (%g)" % (
                opset, bound, error))

    # ConvInteger with a uint8 input and per-channel int8 weights
    image = rng.integers(0, 256, (1, 3, 8, 8)).astype(np.uint8)
    kernel = rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8)
    zeros = np.array([0, 1, -2, 3], np.int8)
    inits = [numpy_helper.from_array(kernel, "w"), numpy_helper.from_array(zeros, "w_zero"),
             numpy_helper.from_array(np.array(np.uint8(17)), "x_zero")]
    nodes = [helper.make_node("ConvInteger", ["x", "w", "x_zero", "w_zero"], ["y"],
                              pads=[1, 1, 1, 1], dilations=[1, 1])]
    made = model(nodes, [helper.make_tensor_value_info("x", TensorProto.UINT8, image.shape)],
                 [helper.make_tensor_value_info("y", TensorProto.INT32, None)], inits, 10)
    (y,) = run(zinfer, folder, made, {"x": image}, ["y"])
    # The padding is the zero point: padded taps add nothing
    want = conv2d(np.pad(image.astype(np.int64) - 17, ((0, 0), (0, 0), (1, 1), (1, 1))),
                  kernel.astype(np.int64) - zeros.reshape(4, 1, 1, 1), 0)
    check(y is not None and y.dtype == np.int32 and np.array_equal(y, want),
          "ConvInteger, uint8 x int8 per channel, exact")


def main():
    if sys.argv[1] == "--write-cnn":
        # The model docs/performance.md times, fused and not
        onnx.save(qdq_cnn(np.random.default_rng(5)), sys.argv[2])
        return 0
    zinfer = sys.argv[1]
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="zinfer-quant-") as folder:
        for case in (qdq_case, qdq_fusion_case, qdq_shared_case, qoperator_case, dynamic_case):
            case(zinfer, folder, rng)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
