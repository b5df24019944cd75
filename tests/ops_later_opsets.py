#!/usr/bin/python3
"""Ops in the forms opsets 18 to 21 give them, against numpy.

torch.onnx here writes opsets up to 17 only, so each case is one node (or
a few) written with onnx.helper at the opset that introduced the form,
and its expected output is the same arithmetic in numpy, from the ONNX
text: Reduce* with axes as an input (18), Split's num_outputs (18), Pad's
axes input (18), ScatterElements and ScatterND max and min (18), Resize's
axes and keep_aspect_ratio_policy (18) and half_pixel_symmetric (19),
Mish (18), AveragePool's dilations (19), Cast's saturate (19), Gelu (20),
ReduceMax and ReduceMin of bool (20), QuantizeLinear's output_dtype (21),
and the shape ops at 21. Pad's wrap (19) is compared with numpy.pad, and
Resize's antialias (18) and cubic mode with PyTorch's interpolate where
it computes the same and with the ONNX text in numpy elsewhere; those
cases are also run by ONNX Runtime when onnxruntime-node is installed in
bench/node_modules. Forms zinfer does not run must be refused with an
error that names them (blocked quantization, opset 22), never answered
wrongly.

    /usr/bin/python3 tests/ops_later_opsets.py ZINFER_BINARY

ops_export_test.py runs these cases too (ctest ops_export).
"""

import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.helper as oh
from onnx import TensorProto, numpy_helper

RNG = np.random.default_rng(18)
TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
         np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8,
         np.dtype(np.bool_): TensorProto.BOOL}


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def const(name, data):
    return numpy_helper.from_array(np.asarray(data), name)


class Case:
    """One model: nodes over inputs in0, in1, ... (fed) and initializers,
    with outputs out0, out1, ...; want: the expected arrays, or the text
    the error must hold; ort: compare with ONNX Runtime too, when
    onnxruntime-node is installed (bench/node_modules)"""

    def __init__(self, name, opset, nodes, feeds, want, initializers=(), ort=False):
        self.name, self.opset, self.nodes = name, opset, nodes
        self.feeds, self.want, self.initializers = feeds, want, list(initializers)
        self.ort = ort

    def model(self):
        n_out = 1 if isinstance(self.want, str) else len(self.want)
        inputs = [oh.make_tensor_value_info("in%d" % index, TYPES[array.dtype], array.shape)
                  for index, array in enumerate(self.feeds)]
        outputs = [oh.make_empty_tensor_value_info("out%d" % index) for index in range(n_out)]
        graph = oh.make_graph(self.nodes, self.name.replace(" ", "_"), inputs, outputs,
                              initializer=self.initializers)
        proto = oh.make_model(graph, opset_imports=[oh.make_opsetid("", self.opset)])
        proto.ir_version = 8
        return proto


def node(op, inputs, outputs=("out0",), **attributes):
    return oh.make_node(op, list(inputs), list(outputs), **attributes)


# --------------------------------------------------------------------------
# numpy references

def reduce_reference(op, x, axes, keepdims):
    axes = tuple(range(x.ndim)) if axes is None else tuple(a % x.ndim for a in axes)
    x64 = x.astype(np.float64)
    results = {
        "ReduceSum": lambda: x64.sum(axes, keepdims=keepdims),
        "ReduceMean": lambda: x64.mean(axes, keepdims=keepdims),
        "ReduceMax": lambda: x64.max(axes, keepdims=keepdims),
        "ReduceMin": lambda: x64.min(axes, keepdims=keepdims),
        "ReduceProd": lambda: x64.prod(axes, keepdims=keepdims),
        "ReduceSumSquare": lambda: (x64 * x64).sum(axes, keepdims=keepdims),
        "ReduceL1": lambda: np.abs(x64).sum(axes, keepdims=keepdims),
        "ReduceL2": lambda: np.sqrt((x64 * x64).sum(axes, keepdims=keepdims)),
        "ReduceLogSum": lambda: np.log(x64.sum(axes, keepdims=keepdims)),
        "ReduceLogSumExp": lambda: np.log(np.exp(x64).sum(axes, keepdims=keepdims)),
    }
    return np.asarray(results[op]()).astype(np.float32)


def linear_resize_axis(x, axis, out_extent, source):
    """Linear resize of one axis; source(i) is output i's input coordinate"""
    n = x.shape[axis]
    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    out = np.empty(moved.shape[:-1] + (out_extent,))
    for i in range(out_extent):
        c = min(max(source(i), 0.0), n - 1.0)
        low = int(math.floor(c))
        high = min(low + 1, n - 1)
        weight = c - low
        out[..., i] = moved[..., low] * (1 - weight) + moved[..., high] * weight
    return np.moveaxis(out, -1, axis).astype(np.float32)


def average_pool_reference(x, kernel, strides, dilations, pads, include_pad):
    n, c, h, w = x.shape
    kh, kw = kernel
    out_h = (h + pads[0] + pads[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    out_w = (w + pads[1] + pads[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    y = np.zeros((n, c, out_h, out_w), np.float64)
    for oh_ in range(out_h):
        for ow in range(out_w):
            total, count = np.zeros((n, c)), 0
            for i in range(kh):
                for j in range(kw):
                    ih = oh_ * strides[0] - pads[0] + i * dilations[0]
                    iw = ow * strides[1] - pads[1] + j * dilations[1]
                    inside = 0 <= ih < h and 0 <= iw < w
                    if inside:
                        total += x[:, :, ih, iw]
                    if inside or include_pad:
                        count += 1
            y[:, :, oh_, ow] = total / count
    return y.astype(np.float32)


def erf(values):
    return np.vectorize(math.erf)(values.astype(np.float64))


# --------------------------------------------------------------------------
# The cases

def reduce_cases():
    x = randn(3, 4, 5)
    positive = np.abs(x) + 0.1
    ops = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
           "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"]
    for op in ops:
        data = positive if op == "ReduceLogSum" else x
        for axes, keepdims in (([-1, 0], 1), ([1], 0), (None, 0)):
            inputs = ["in0", "axes"] if axes is not None else ["in0"]
            inits = [const("axes", np.array(axes, np.int64))] if axes is not None else []
            yield Case("%s-18 axes %s keepdims %d" % (op, axes, keepdims), 18,
                       [node(op, inputs, keepdims=keepdims)], [data],
                       [reduce_reference(op, data, axes, keepdims)], inits)
        #   Empty axes: every axis, unless noop_with_empty_axes; then each
        #   element is reduced alone (the norms still square it, take its
        #   absolute value or logarithm, as ONNX Runtime does)
        empty = [const("axes", np.zeros(0, np.int64))]
        yield Case("%s-18 empty axes" % op, 18, [node(op, ["in0", "axes"], keepdims=0)],
                   [data], [reduce_reference(op, data, None, 0)], empty)
        yield Case("%s-18 empty axes, noop" % op, 18,
                   [node(op, ["in0", "axes"], noop_with_empty_axes=1)], [data],
                   [reduce_reference(op, data, [], 1)], empty)
    #   Opset 20 lets ReduceMax and ReduceMin take bool: any and all
    truths = x > 0.3
    truths[1] = True
    yield Case("ReduceMax-20 of bool", 20, [node("ReduceMax", ["in0", "axes"], keepdims=0)],
               [truths], [truths.any(axis=(0, 2))],
               [const("axes", np.array([0, 2], np.int64))])
    yield Case("ReduceMin-20 of bool", 20, [node("ReduceMin", ["in0"], keepdims=1)],
               [truths[1:2]], [truths[1:2].all(axis=(0, 1, 2), keepdims=True)])
    yield Case("ReduceMin-20 of bool, one axis", 20,
               [node("ReduceMin", ["in0", "axes"], keepdims=1)], [truths],
               [truths.all(axis=1, keepdims=True)], [const("axes", np.array([1], np.int64))])
    yield Case("ReduceMax-18 of bool", 18, [node("ReduceMax", ["in0"], keepdims=0)],
               [truths], "opset 20 form")


def split_cases():
    x = randn(2, 7)
    #   Not evenly divisible: ceil (7 / 3) = 3, the last part smaller
    yield Case("Split-18 num_outputs 3 of 7", 18,
               [node("Split", ["in0"], ["out0", "out1", "out2"], axis=1, num_outputs=3)],
               [x], np.split(x, [3, 6], axis=1))
    yield Case("Split-18 num_outputs 2 of 2", 18,
               [node("Split", ["in0"], ["out0", "out1"], axis=0, num_outputs=2)],
               [x], np.split(x, 2, axis=0))
    yield Case("Split-18 sizes as input", 18,
               [node("Split", ["in0", "sizes"], ["out0", "out1"], axis=-1)], [x],
               np.split(x, [5], axis=1), [const("sizes", np.array([5, 2], np.int64))])


def pad_cases():
    x = randn(2, 3, 4)
    #   axes (2, 1): pads are begins (axis 2, axis 1), then ends
    pads = np.array([1, 0, 2, 1], np.int64)
    width = [(0, 0), (0, 1), (1, 2)]
    inits = [const("pads", pads), const("value", np.array(1.5, np.float32)),
             const("axes", np.array([-1, 1], np.int64))]
    yield Case("Pad-18 axes, constant", 18, [node("Pad", ["in0", "pads", "value", "axes"])],
               [x], [np.pad(x, width, constant_values=1.5)], inits)
    for mode, numpy_mode in (("reflect", "reflect"), ("edge", "edge")):
        yield Case("Pad-18 axes, %s" % mode, 18,
                   [node("Pad", ["in0", "pads", "", "axes"], mode=mode)], [x],
                   [np.pad(x, width, mode=numpy_mode)], inits)
    #   wrap: numpy.pad's wrap on what negative pads leave (they crop first,
    #   as in the other modes); pads longer than the axis go round it again
    for name, pads, axes in (("axes", [1, 0, 2, 1], [-1, 1]),
                             ("every axis", [1, 2, 3, 0, 1, 2], None),
                             ("crop then wrap", [0, -1, 2, 1, 2, -1], None),
                             ("longer than the axis", [3, 7, 0, 9], [0, 2])):
        ints = [const("pads", np.array(pads, np.int64))]
        inputs = ["in0", "pads"]
        if axes is not None:
            ints.append(const("axes", np.array(axes, np.int64)))
            inputs += ["", "axes"]
        listed = axes if axes is not None else list(range(x.ndim))
        width = [(0, 0)] * x.ndim
        for index, axis in enumerate(listed):
            width[axis] = (pads[index], pads[index + len(listed)])
        kept = x[tuple(slice(max(-b, 0), x.shape[a] - max(-e, 0))
                       for a, (b, e) in enumerate(width))]
        want = np.pad(kept, [(max(b, 0), max(e, 0)) for b, e in width], mode="wrap")
        #   ONNX Runtime 1.30 leaves zeros where a pad is longer than the axis
        yield Case("Pad-19 wrap, %s" % name, 19, [node("Pad", inputs, mode="wrap")], [x],
                   [want], ints, ort=name != "longer than the axis")
    yield Case("Pad-18 wrap", 18, [node("Pad", ["in0", "pads"], mode="wrap")], [x],
               "'wrap' exists from opset 19", [const("pads", np.ones(6, np.int64))])
    yield Case("Pad-19 wrap of an axis cropped away", 19,
               [node("Pad", ["in0", "pads"], mode="wrap")], [x], "cannot wrap-pad axis 0",
               [const("pads", np.array([1, 0, 0, -2, 0, 0], np.int64))])


def scatter_cases():
    data = randn(3, 4)
    index = np.array([[1, 0, 3], [2, 2, 0]], np.int64)
    updates = randn(2, 3)
    for reduction, combine in (("max", np.maximum), ("min", np.minimum)):
        want = data.copy()
        for i in range(index.shape[0]):
            for j in range(index.shape[1]):
                want[i, index[i, j]] = combine(want[i, index[i, j]], updates[i, j])
        yield Case("ScatterElements-18 %s" % reduction, 18,
                   [node("ScatterElements", ["in0", "in1", "in2"], axis=1,
                         reduction=reduction)], [data, index, updates], [want])
        nd_index = np.array([[1], [0], [1]], np.int64)
        nd_updates = randn(3, 4)
        want = data.copy()
        for row, target in enumerate(nd_index[:, 0]):
            want[target] = combine(want[target], nd_updates[row])
        yield Case("ScatterND-18 %s" % reduction, 18,
                   [node("ScatterND", ["in0", "in1", "in2"], reduction=reduction)],
                   [data, nd_index, nd_updates], [want])


def resize_cases():
    x = randn(1, 2, 3, 4)
    #   axes: scales or sizes for some axes, the others kept
    yield Case("Resize-18 axes, scales", 18,
               [node("Resize", ["in0", "", "scales"], mode="nearest", axes=[3, 2],
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
               [x], [np.repeat(np.repeat(x, 2, axis=2), 3, axis=3)],
               [const("scales", np.array([3, 2], np.float32))])
    yield Case("Resize-18 axes, sizes", 18,
               [node("Resize", ["in0", "", "", "sizes"], mode="nearest", axes=[-1],
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
               [x], [np.repeat(x, 2, axis=3)], [const("sizes", np.array([8], np.int64))])
    #   half_pixel_symmetric: 5 x 1.5 = 7.5 gives 7 outputs, centred
    line = randn(1, 1, 2, 5)
    scale, n, out = 1.5, 5, 7
    adjustment = out / (scale * n)
    offset = n / 2 * (1 - adjustment)
    want = linear_resize_axis(line, 3, out, lambda i: offset + (i + 0.5) / scale - 0.5)
    yield Case("Resize-19 half_pixel_symmetric", 19,
               [node("Resize", ["in0", "", "scales"], mode="linear",
                     coordinate_transformation_mode="half_pixel_symmetric")],
               [line], [want], [const("scales", np.array([1, 1, 1, scale], np.float32))])
    yield from filtered_resize_cases()
    #   keep_aspect_ratio_policy: one scale for the axes of sizes, the
    #   smallest ratio (not_larger) or the largest (not_smaller); extents
    #   rounded half up (6 x 1.25 = 7.5 gives 8)
    image = randn(1, 2, 5, 7)
    for policy, sizes, pick in (("not_larger", [8, 8], min), ("not_smaller", [3, 3], max),
                                ("not_smaller", [9, 4], max)):
        data = image if sizes != [9, 4] else randn(1, 2, 6, 5)
        ratio = pick(np.float32(sizes[0]) / np.float32(data.shape[2]),
                     np.float32(sizes[1]) / np.float32(data.shape[3]))
        want = data
        for axis in (2, 3):
            extent = int(math.floor(ratio * np.float32(data.shape[axis]) + np.float32(0.5)))
            want = linear_resize_axis(want, axis, extent,
                                      lambda i: (i + 0.5) / float(ratio) - 0.5)
        yield Case("Resize-18 keep_aspect_ratio_policy %s %s" % (policy, sizes), 18,
                   [node("Resize", ["in0", "", "", "sizes"], mode="linear", axes=[2, 3],
                         keep_aspect_ratio_policy=policy)],
                   [data], [want], [const("sizes", np.array(sizes, np.int64))])


def filter_resize_axis(x, axis, out, mode, a, antialias, exclude):
    """One axis of cubic or antialiased linear Resize (half_pixel), by the
    ONNX text: the filter (stretched by 1 / scale when antialias shrinks
    the axis) weighs the inputs around the source coordinate; those beyond
    the input take the edge value, or weigh nothing with exclude_outside;
    antialias and exclude_outside divide the weights by their sum"""
    n = x.shape[axis]
    scale = float(np.float32(out) / np.float32(n))
    stretch = min(scale, 1.0) if antialias else 1.0
    reach = (2.0 if mode == "cubic" else 1.0) / stretch

    def weight(t):
        t = np.abs(t)
        if mode == "linear":
            return np.maximum(0.0, 1 - t)
        return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                        np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))

    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    y = np.empty(moved.shape[:-1] + (out,))
    for i in range(out):
        c = (i + 0.5) / scale - 0.5
        taps = np.arange(math.floor(c - reach) + 1, math.floor(c + reach) + 1)
        w = weight((taps - c) * stretch)
        if antialias:
            w = w / w.sum()
        if exclude:
            w = np.where((taps < 0) | (taps >= n), 0, w)
            w = w / w.sum()
        y[..., i] = (moved[..., np.clip(taps, 0, n - 1)] * w).sum(-1)
    return np.moveaxis(y, -1, axis)


def filtered_resize_cases():
    """Cubic, and antialias (opset 18) for linear and cubic: against
    PyTorch's interpolate where it computes the same (bicubic is cubic
    with a = -0.75; its antialias=True is exclude_outside=1, with a = -0.5
    for bicubic), against the ONNX text in numpy otherwise, and against
    ONNX Runtime when it is installed"""
    import torch
    import torch.nn.functional as F
    image = randn(1, 2, 13, 17)
    for sizes in ([5, 7], [4, 30], [6, 3], [1, 2]):
        full = np.array([1, 2] + sizes, np.int64)
        for mode, torch_mode, a in (("linear", "bilinear", -0.75), ("cubic", "bicubic", -0.5)):
            with torch.no_grad():
                want = F.interpolate(torch.from_numpy(image), size=sizes, mode=torch_mode,
                                     antialias=True, align_corners=False).numpy()
            yield Case("Resize-18 antialias %s to %s, as PyTorch" % (mode, sizes), 18,
                       [node("Resize", ["in0", "", "", "sizes"], mode=mode, antialias=1,
                             exclude_outside=1, cubic_coeff_a=a)],
                       [image], [want], [const("sizes", full)], ort=True)
            #   exclude_outside 0: the edge value beyond the input
            want = image
            for axis in (2, 3):
                want = filter_resize_axis(want, axis, full[axis], mode, a, True, False)
            yield Case("Resize-18 antialias %s to %s, edge beyond the input" % (mode, sizes),
                       18, [node("Resize", ["in0", "", "", "sizes"], mode=mode, antialias=1,
                                 cubic_coeff_a=a)],
                       [image], [want.astype(np.float32)], [const("sizes", full)], ort=True)
        with torch.no_grad():
            want = F.interpolate(torch.from_numpy(image), size=sizes, mode="bicubic",
                                 align_corners=False).numpy()
        yield Case("Resize-13 cubic to %s, as PyTorch" % sizes, 13,
                   [node("Resize", ["in0", "", "", "sizes"], mode="cubic")],
                   [image], [want], [const("sizes", full)], ort=True)
    #   Growing: antialias changes nothing; scales rather than sizes
    with torch.no_grad():
        want = F.interpolate(torch.from_numpy(image), scale_factor=2, mode="bilinear",
                             antialias=True, align_corners=False).numpy()
    yield Case("Resize-18 antialias linear growing", 18,
               [node("Resize", ["in0", "", "scales"], mode="linear", antialias=1)],
               [image], [want], [const("scales", np.array([1, 1, 2, 2], np.float32))], ort=True)
    yield Case("Resize-17 antialias", 17,
               [node("Resize", ["in0", "", "scales"], mode="linear", antialias=1)], [image],
               "'antialias' exists from opset 18",
               [const("scales", np.array([1, 1, 0.5, 0.5], np.float32))])


def other_cases():
    x = randn(2, 3, 9, 10)
    for include_pad in (0, 1):
        yield Case("AveragePool-19 dilations, count_include_pad %d" % include_pad, 19,
                   [node("AveragePool", ["in0"], kernel_shape=[2, 3], strides=[2, 1],
                         dilations=[3, 2], pads=[1, 2, 1, 0], count_include_pad=include_pad)],
                   [x], [average_pool_reference(x, (2, 3), (2, 1), (3, 2), (1, 2, 1, 0),
                                                include_pad)])
    v = randn(4, 5) * 3
    yield Case("Mish-18", 18, [node("Mish", ["in0"])], [v],
               [(v * np.tanh(np.log1p(np.exp(v.astype(np.float64))))).astype(np.float32)])
    yield Case("Gelu-20", 20, [node("Gelu", ["in0"])], [v],
               [(0.5 * v * (1 + erf(v / math.sqrt(2)))).astype(np.float32)])
    tanh_form = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    yield Case("Gelu-20 tanh", 20, [node("Gelu", ["in0"], approximate="tanh")], [v],
               [tanh_form.astype(np.float32)])
    ints = RNG.integers(-50, 50, (3, 4)).astype(np.int64)
    yield Case("Cast-19 saturate", 19, [node("Cast", ["in0"], to=TensorProto.FLOAT, saturate=1)],
               [ints], [ints.astype(np.float32)])
    #   QuantizeLinear-21: output_dtype names the type when no zero point does
    q = randn(3, 4) * 4
    scale = np.float32(0.05)
    yield Case("QuantizeLinear-21 output_dtype int8", 21,
               [node("QuantizeLinear", ["in0", "scale"], output_dtype=TensorProto.INT8)], [q],
               [np.clip(np.rint(q / scale), -128, 127).astype(np.int8)],
               [const("scale", np.array(scale, np.float32))])
    yield Case("DequantizeLinear-21 per axis", 21,
               [node("DequantizeLinear", ["in0", "scales", "zeros"], axis=0)],
               [RNG.integers(0, 255, (3, 4)).astype(np.uint8)], None,
               [const("scales", np.array([0.5, 0.25, 2], np.float32)),
                const("zeros", np.array([128, 0, 10], np.uint8))])
    yield Case("QuantizeLinear-21 block_size", 21,
               [node("QuantizeLinear", ["in0", "scales"], axis=1, block_size=2)], [q],
               "blocked quantization",
               [const("scales", np.full((3, 2), 0.05, np.float32))])
    #   Shape ops at 21 (only their type lists grew)
    s = randn(2, 1, 3, 4)
    yield Case("shape ops at 21", 21,
               [node("Squeeze", ["in0", "one"], ["squeezed"]),
                node("Transpose", ["squeezed"], ["turned"], perm=[2, 0, 1]),
                node("Reshape", ["turned", "shape"], ["reshaped"]),
                node("Unsqueeze", ["reshaped", "zero"], ["grown"]),
                node("Flatten", ["grown"], ["flat"], axis=2),
                node("Identity", ["flat"], ["out0"]),
                node("Shape", ["in0"], ["out1"], start=1),
                node("Size", ["in0"], ["out2"])],
               [s], [s.reshape(2, 3, 4).transpose(2, 0, 1).reshape(4, 6),
                     np.array([1, 3, 4], np.int64), np.array(24, np.int64)],
               [const("one", np.array([1], np.int64)), const("zero", np.array([0], np.int64)),
                const("shape", np.array([4, 6], np.int64))])
    yield Case("opset 22", 22, [node("Relu", ["in0"])], [v], "expected 9 to 21")
    yield Case("Col2Im-18", 18, [node("Col2Im", ["in0", "size", "block"])], [v],
               "op 'Col2Im' is not supported",
               [const("size", np.array([2, 2], np.int64)),
                const("block", np.array([1, 1], np.int64))])


def fix_dequantize(case):
    """The per-axis DequantizeLinear's expected output, from its inputs"""
    if case.name.startswith("DequantizeLinear-21"):
        scales = numpy_helper.to_array(case.initializers[0])
        zeros = numpy_helper.to_array(case.initializers[1]).astype(np.float32)
        data = case.feeds[0].astype(np.float32)
        case.want = [((data - zeros[:, None]) * scales[:, None]).astype(np.float32)]
    return case


def cases():
    for family in (reduce_cases, split_cases, pad_cases, scatter_cases, resize_cases,
                   other_cases):
        for case in family():
            yield fix_dequantize(case)


# --------------------------------------------------------------------------
# Running

def differs(got, want):
    if got.shape != want.shape:
        return "shape %s, want %s" % (got.shape, want.shape)
    if want.dtype.kind in "biu":
        if got.dtype.kind not in "biu" or (got.astype(np.int64) != want.astype(np.int64)).any():
            return "values differ (%s, want %s)" % (got.dtype, want.dtype)
        return ""
    if not np.allclose(got, want, rtol=1e-5, atol=1e-5):
        return "values differ by up to %g" % np.max(np.abs(got - want))
    return ""


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ort_available():
    """True when bench/zoo_ort.js can load onnxruntime-node here"""
    if not os.path.isdir(os.path.join(ROOT, "bench", "node_modules", "onnxruntime-node")):
        return False
    try:
        probe = subprocess.run(["node", os.path.join(ROOT, "bench", "zoo_ort.js"), "--probe"],
                               capture_output=True, text=True)
    except OSError:
        return False
    return probe.returncode == 0


def run_ort(folder, path, inputs, n_out):
    """ONNX Runtime's outputs for the model at path, or what went wrong"""
    outdir = os.path.join(folder, "ort")
    os.makedirs(outdir, exist_ok=True)
    command = ["node", os.path.join(ROOT, "bench", "zoo_ort.js"), path, outdir]
    for name, file in inputs:
        command += ["--input", "%s=%s" % (name, file)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        return "ONNX Runtime failed: %s" % run.stderr.strip()[-300:]
    return [np.load(os.path.join(outdir, "%d.npy" % index)) for index in range(n_out)]


def check(zinfer, folder, case, ort=False):
    """'' if zinfer gives what the case wants (and, with ort, what ONNX
    Runtime gives), else what went wrong"""
    path = os.path.join(folder, "model.onnx")
    onnx.save(case.model(), path)
    command = [zinfer, "run", path, "--threads", "1"]
    inputs = []
    for index, array in enumerate(case.feeds):
        file = os.path.join(folder, "in%d.npy" % index)
        np.save(file, array)
        command += ["--input", "in%d=%s" % (index, file)]
        inputs.append(("in%d" % index, file))
    n_out = 1 if isinstance(case.want, str) else len(case.want)
    for index in range(n_out):
        command += ["--output", "out%d=%s" % (index, os.path.join(folder, "out%d.npy" % index))]
    run = subprocess.run(command, capture_output=True, text=True)
    if isinstance(case.want, str):
        if run.returncode == 0:
            return "ran; expected the error '%s'" % case.want
        if case.want not in run.stderr:
            return "error '%s', expected it to say '%s'" % (run.stderr.strip(), case.want)
        return ""
    if run.returncode != 0:
        return "zinfer run exited %d: %s" % (run.returncode, run.stderr.strip())
    gots = [np.load(os.path.join(folder, "out%d.npy" % index)) for index in range(n_out)]
    for index, want in enumerate(case.want):
        problem = differs(gots[index], np.asarray(want))
        if problem:
            return "output %d: %s" % (index, problem)
    if ort and case.ort:
        wants = run_ort(folder, path, inputs, n_out)
        if isinstance(wants, str):
            return wants
        for index, want in enumerate(wants):
            problem = differs(gots[index], want)
            if problem:
                return "output %d against ONNX Runtime: %s" % (index, problem)
    return ""


def run_all(zinfer):
    """Prints a line per case; returns how many failed"""
    failures = 0
    ort = ort_available()
    if not ort:
        print("(onnxruntime-node is not installed in bench/node_modules: "
              "numpy references only)")
    with tempfile.TemporaryDirectory(prefix="zinfer-opsets-") as folder:
        for case in cases():
            problem = check(zinfer, folder, case, ort)
            also = ", and ONNX Runtime" if ort and case.ort and not problem else ""
            print("%s %s%s%s" % ("FAIL" if problem else "ok  ", case.name, also,
                                 ": " + problem if problem else ""))
            failures += bool(problem)
    return failures


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: ops_later_opsets.py ZINFER_BINARY")
    failures = run_all(os.path.abspath(sys.argv[1]))
    print("ops_later_opsets: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
