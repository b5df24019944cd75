#!/usr/bin/python3
"""Resize's coordinate_transformation_mode 'tf_crop_and_resize', against
numpy and, when onnxruntime-node is installed in bench/node_modules,
against ONNX Runtime.

TensorFlow exports write it for tf.image.crop_and_resize (detection
models' CropAndResize). The numpy reference follows the ONNX text: along
each axis, output position i lies at

    start * (in - 1) + i * (end - start) * (in - 1) / (out - 1)

(the crop's middle when out is 1), start and end from input 'roi'; a
position outside [0, in - 1] on any axis gives extrapolation_value, the
others are interpolated as in the other modes (nearest with each
nearest_mode, linear, cubic with and without exclude_outside). Cases:
4-d NCHW inputs, crops inside the input and across its border, growing
and shrinking, to one element, by sizes and by scales, at opsets 11, 13,
18 (roi for the axes of attribute 'axes' only) and 19; bad roi must be
refused with an error that names it.

Coordinates are computed in float32 in the text's order, as zinfer and
ONNX Runtime do, so exact ties of nearest fall the same way. The crops
keep away from coordinates a float ulp above a tie: there ONNX Runtime's
nearest rounds as if on the tie while its linear mode sees the same
coordinate as zinfer (a 6-row crop from 0.9 to 0.1 over 8 rows ends at
0.5000005; ONNX Runtime's nearest reads row 0 there).

    /usr/bin/python3 tests/ops_resize_crop.py ZINFER_BINARY
"""

import math
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_later_opsets import Case, check, const, node, ort_available  # noqa: E402

RNG = np.random.default_rng(2011)
F = np.float32


def source_coordinate(i, n, out, start, end):
    """Where output position i of an axis lies on the input, in float32
    as the ONNX text writes it (ties of nearest depend on it)"""
    if out > 1:
        return F(start) * F(n - 1) + F(i) * (F(end) - F(start)) * F(n - 1) / F(out - 1)
    return F(0.5 * float(F(start) + F(end)) * (n - 1))


def nearest_index(c, nearest):
    whole = math.floor(c)
    fraction = float(c) - whole
    if nearest == "round_prefer_floor":
        return whole if fraction <= 0.5 else whole + 1
    if nearest == "round_prefer_ceil":
        return whole if fraction < 0.5 else whole + 1
    if nearest == "floor":
        return whole
    return math.ceil(c)


def keys_cubic(d, a):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def axis_weights(mode, nearest, a, exclude, n, out, start, end):
    """weights [i, j]: what input j gives output i along one axis, and
    which outputs lie outside the input"""
    weights = np.zeros((out, n))
    outside = np.zeros(out, bool)
    for i in range(out):
        c = source_coordinate(i, n, out, start, end)
        if c < 0 or c > n - 1:
            outside[i] = True
            continue
        c = float(c)
        if mode == "nearest":
            weights[i, min(max(nearest_index(c, nearest), 0), n - 1)] = 1
        elif mode == "linear":
            low = math.floor(c)
            weights[i, low] += 1 - (c - low)
            weights[i, min(low + 1, n - 1)] += c - low
        else:
            low = math.floor(c)
            taps = [(at, keys_cubic(at - c, a)) for at in range(low - 1, low + 3)]
            if exclude:
                taps = [(at, w) for at, w in taps if 0 <= at < n]
                total = sum(w for _, w in taps)
                taps = [(at, w / total) for at, w in taps]
            for at, w in taps:
                weights[i, min(max(at, 0), n - 1)] += w
    return weights, outside


def crop_reference(x, sizes, starts, ends, mode, nearest="round_prefer_floor", a=-0.75,
                   exclude=False, extrapolation=0.0):
    matrices, masks = [], []
    for axis in range(4):
        weights, outside = axis_weights(mode, nearest, a, exclude, x.shape[axis], sizes[axis],
                                        starts[axis], ends[axis])
        matrices.append(weights)
        masks.append(outside)
    y = np.einsum("ai,bj,ck,dl,ijkl->abcd", *matrices, x.astype(np.float64))
    outside = (masks[0][:, None, None, None] | masks[1][None, :, None, None]
               | masks[2][None, None, :, None] | masks[3][None, None, None, :])
    y[outside] = extrapolation
    return y.astype(np.float32)


MODES = [("nearest", "round_prefer_floor", False), ("nearest", "round_prefer_ceil", False),
         ("nearest", "floor", False), ("nearest", "ceil", False), ("linear", None, False),
         ("cubic", None, False), ("cubic", None, True)]

#   (input shape, output sizes, roi starts, roi ends): inside and growing,
#   inside and shrinking, across the border (extrapolation) both ways,
#   to one element, one axis to one element, reversed (a flip)
CROPS = [((1, 2, 7, 8), (1, 2, 11, 13), (0, 0, 0.2, 0.1), (1, 1, 0.8, 0.7)),
         ((1, 3, 9, 8), (1, 3, 4, 3), (0, 0, 0.15, 0.3), (1, 1, 0.9, 0.95)),
         ((2, 1, 6, 7), (2, 1, 9, 5), (0, 0, -0.3, 0.4), (1, 1, 0.9, 1.45)),
         ((1, 2, 5, 6), (1, 2, 1, 1), (0, 0, 0.3, 0.6), (1, 1, 0.5, 0.9)),
         ((1, 1, 5, 6), (1, 1, 1, 7), (0, 0, 1.2, -0.2), (1, 1, 1.4, 0.9)),
         ((1, 2, 6, 6), (1, 2, 8, 5), (0, 0, 0.9, 0.8), (1, 1, 0.13, -0.1))]


def crop_node(mode, nearest, exclude, inputs, **more):
    attributes = dict(mode=mode, coordinate_transformation_mode="tf_crop_and_resize", **more)
    if nearest:
        attributes["nearest_mode"] = nearest
    if exclude:
        attributes["exclude_outside"] = 1
    return node("Resize", inputs, **attributes)


def cases():
    empty = const("none", np.zeros(0, np.float32))
    for index, (shape, sizes, starts, ends) in enumerate(CROPS):
        x = RNG.standard_normal(shape).astype(np.float32)
        roi = const("roi", np.array(starts + ends, np.float32))
        for mode, nearest, exclude in MODES:
            name = "%s%s%s, %s to %s, roi %s..%s" % (
                mode, " " + nearest if nearest else "", " exclude_outside" if exclude else "",
                list(shape), list(sizes), list(starts), list(ends))
            want = crop_reference(x, sizes, starts, ends, mode, nearest or "round_prefer_floor",
                                  exclude=exclude, extrapolation=-2.5)
            opset = (11, 13, 19)[index % 3]
            yield Case("Resize-%d sizes %s" % (opset, name), opset,
                       [crop_node(mode, nearest, exclude, ["in0", "roi", "none", "sizes"],
                                  extrapolation_value=-2.5)],
                       [x], [want], [roi, empty, const("sizes", np.array(sizes, np.int64))],
                       ort=True)
        #   By scales: the extents are floor (shape * scales), whatever the
        #   crop (half an element over sizes, so that float and double agree)
        scales = (np.array(sizes, np.float32) + F(0.5)) / np.array(shape, np.float32)
        scales[:2] = 1
        extents = [int(math.floor(n * float(s))) for n, s in zip(shape, scales)]
        for mode, nearest, exclude in MODES[::3]:
            want = crop_reference(x, extents, starts, ends, mode, nearest or "round_prefer_floor",
                                  exclude=exclude)
            yield Case("Resize-13 scales %s %s, %s to %s" % (mode, nearest or "", list(shape),
                                                           extents), 13,
                       [crop_node(mode, nearest, exclude, ["in0", "roi", "scales"])],
                       [x], [want], [roi, const("scales", scales)], ort=True)
    #   Opset 18's axes: roi for height and width only
    x = RNG.standard_normal((1, 2, 6, 7)).astype(np.float32)
    for mode, nearest, exclude in MODES:
        want = crop_reference(x, (1, 2, 9, 4), (0, 0, -0.1, 0.2), (1, 1, 0.8, 1.3), mode,
                              nearest or "round_prefer_floor", exclude=exclude)
        yield Case("Resize-18 axes [2, 3] %s %s" % (mode, nearest or ""), 18,
                   [crop_node(mode, nearest, exclude, ["in0", "roi", "", "sizes"], axes=[2, 3])],
                   [x], [want], [const("roi", np.array([-0.1, 0.2, 0.8, 1.3], np.float32)),
                                 const("sizes", np.array([9, 4], np.int64))], ort=True)
    #   Crops of N and C too (ONNX Runtime resizes only height and width
    #   with linear and cubic, so numpy alone for those)
    x = RNG.standard_normal((3, 4, 3, 4)).astype(np.float32)
    starts, ends, sizes = (0.2, -0.1, 0, 0), (0.9, 1.2, 1, 1), (2, 6, 3, 4)
    for mode, nearest, exclude in MODES:
        want = crop_reference(x, sizes, starts, ends, mode, nearest or "round_prefer_floor",
                              exclude=exclude)
        yield Case("Resize-13 crop of N and C %s %s" % (mode, nearest or ""), 13,
                   [crop_node(mode, nearest, exclude, ["in0", "roi", "", "sizes"])],
                   [x], [want], [const("roi", np.array(starts + ends, np.float32)),
                                 const("sizes", np.array(sizes, np.int64))],
                   ort=mode == "nearest")
    #   Bad roi: one clear error each
    x = RNG.standard_normal((1, 1, 4, 4)).astype(np.float32)
    sizes = const("sizes", np.array([1, 1, 6, 6], np.int64))
    bad = [("no roi", ["in0", "", "", "sizes"], [sizes], "needs input 1 (roi)"),
           ("roi of 4 values", ["in0", "roi", "", "sizes"],
            [const("roi", np.array([0, 0, 1, 1], np.float32)), sizes],
            "(roi) has 4 values; expected 8"),
           ("roi with NaN", ["in0", "roi", "", "sizes"],
            [const("roi", np.array([0, 0, np.nan, 0, 1, 1, 1, 1], np.float32)), sizes],
            "(roi) [2] = nan; expected a finite value"),
           ("roi computed at run time", ["in0", "in1", "", "sizes"], [sizes],
            "(roi) must be a constant")]
    for name, inputs, initializers, error in bad:
        feeds = [x] + ([np.array([0, 0, 0, 0, 1, 1, 1, 1], np.float32)]
                       if "in1" in inputs else [])
        yield Case("Resize-13 %s" % name, 13, [crop_node("linear", None, False, inputs)],
                   feeds, error, initializers)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: ops_resize_crop.py ZINFER_BINARY")
    zinfer = os.path.abspath(sys.argv[1])
    ort = ort_available()
    if not ort:
        print("(onnxruntime-node is not installed in bench/node_modules: numpy references only)")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="zinfer-crop-") as folder:
        for case in cases():
            problem = check(zinfer, folder, case, ort)
            also = ", and ONNX Runtime" if ort and case.ort and not problem else ""
            print("%s %s%s%s" % ("FAIL" if problem else "ok  ", case.name, also,
                                 ": " + problem if problem else ""))
            failures += bool(problem)
    print("ops_resize_crop: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
