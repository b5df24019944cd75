#!/usr/bin/python3
"""An ONNX graph evaluated in float64: the exact answer that float32
engines are measured against.

ONNX Runtime has no double Conv on the CPU, so converting a model to
float64 and running it there does not work for convolution networks.
This evaluates the graph itself, node by node, with PyTorch's float64
kernels for convolution, pooling and resizing and numpy for the rest.
It knows only the ops and attributes it has been written for and says
so for anything else (None from supported(), a ValueError from
evaluate()), so a model it cannot evaluate gets no exact reference
rather than a wrong one.

    tests/zoo/exact.py MODEL.onnx OUTDIR --input NAME=FILE.npy ...
                       [--output NAME ...] [--float32]

writes each output as OUTDIR/0.npy, 1.npy, ... in float64 (--float32:
the same evaluation in float32, to check the evaluator's semantics
against ONNX Runtime without the rounding question).
"""

import argparse
import os
import sys

import numpy as np


def _attributes(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def _conv(node, inputs, attrs, fdtype):
    torch = _torch()
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    spatial = x.ndim - 2
    if spatial not in (1, 2):
        raise ValueError(f"Conv over {spatial} spatial axes")
    kernel = list(w.shape[2:])
    strides = list(attrs.get("strides", [1] * spatial))
    dilations = list(attrs.get("dilations", [1] * spatial))
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    auto_pad = _text(attrs.get("auto_pad", "NOTSET"))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * 2 * spatial
        for axis in range(spatial):
            size = x.shape[2 + axis]
            out = -(-size // strides[axis])
            total = max(0, (out - 1) * strides[axis] + (kernel[axis] - 1) * dilations[axis] + 1
                        - size)
            small, large = total // 2, total - total // 2
            pads[axis], pads[axis + spatial] = (small, large) if auto_pad == "SAME_UPPER" \
                else (large, small)
    elif auto_pad == "VALID":
        pads = [0] * 2 * spatial
    elif auto_pad != "NOTSET":
        raise ValueError(f"Conv auto_pad {auto_pad}")
    # torch pads (last axis first, begin then end)
    torch_pads = []
    for axis in reversed(range(spatial)):
        torch_pads += [pads[axis], pads[axis + spatial]]
    tx = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(x)), torch_pads)
    conv = torch.nn.functional.conv1d if spatial == 1 else torch.nn.functional.conv2d
    y = conv(tx, torch.from_numpy(np.ascontiguousarray(w)),
             None if bias is None else torch.from_numpy(np.ascontiguousarray(bias)),
             stride=strides, dilation=dilations, groups=attrs.get("group", 1))
    return [y.numpy()]


def _maxpool(node, inputs, attrs, fdtype):
    torch = _torch()
    x = inputs[0]
    if len(node.output) > 1 and node.output[1]:
        raise ValueError("MaxPool's Indices output")
    if _text(attrs.get("auto_pad", "NOTSET")) != "NOTSET" or x.ndim != 4:
        raise ValueError("MaxPool other than 2-D with explicit pads")
    kernel = list(attrs["kernel_shape"])
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    tx = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(x)),
                                 [pads[1], pads[3], pads[0], pads[2]], value=-np.inf)
    # ceil_mode keeps a last window that runs past the input, the max of
    # what it covers; torch and ONNX agree on it while no window would
    # start in the padding, as with none
    y = torch.nn.functional.max_pool2d(tx, kernel, stride=list(attrs.get("strides", [1, 1])),
                                       dilation=list(attrs.get("dilations", [1, 1])),
                                       ceil_mode=bool(attrs.get("ceil_mode", 0)))
    return [y.numpy()]


def _resize(node, inputs, attrs, fdtype):
    torch = _torch()
    x = inputs[0]
    mode = _text(attrs.get("mode", "nearest"))
    transform = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
    if mode != "linear" or transform not in ("half_pixel", "pytorch_half_pixel") or x.ndim != 4:
        raise ValueError(f"Resize mode {mode}, {transform}, rank {x.ndim}")
    sizes = inputs[3] if len(inputs) > 3 and inputs[3] is not None and inputs[3].size else None
    if sizes is not None:
        out = [int(v) for v in sizes[2:]]
    else:
        scales = inputs[2]
        out = [int(np.floor(x.shape[2 + a] * scales[2 + a])) for a in range(2)]
    if sizes is None or any(o % s for o, s in zip(out, x.shape[2:])) or \
            (transform == "pytorch_half_pixel" and min(out) == 1):
        # torch's scale is in/out; ONNX's, out/in: they agree for whole factors
        raise ValueError(f"Resize to {out} from {list(x.shape[2:])}")
    y = torch.nn.functional.interpolate(torch.from_numpy(np.ascontiguousarray(x)), size=out,
                                        mode="bilinear", align_corners=False)
    return [y.numpy()]


def _slice(node, inputs, attrs, fdtype):
    x = inputs[0]
    starts, ends = inputs[1], inputs[2]
    axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else np.arange(len(starts))
    steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else np.ones(len(starts), int)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        size = x.shape[int(axis)]
        start, end, step = int(start), int(end), int(step)
        # ONNX clamps to the axis; python slices do too, but not past int64 extremes
        start = max(-size - 1, min(size, start))
        end = max(-size - 1, min(size, end))
        if step < 0 and end < -size:
            end = None
        index[int(axis)] = slice(start, end, step)
    return [x[tuple(index)]]


def _reshape(node, inputs, attrs, fdtype):
    x, shape = inputs[0], [int(v) for v in inputs[1]]
    shape = [x.shape[i] if v == 0 and not attrs.get("allowzero", 0) else v
             for i, v in enumerate(shape)]
    return [x.reshape(shape)]


def _split(node, inputs, attrs, fdtype):
    x = inputs[0]
    axis = attrs.get("axis", 0)
    sizes = list(attrs["split"]) if "split" in attrs else \
        [x.shape[axis] // len(node.output)] * len(node.output)
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def _pad(node, inputs, attrs, fdtype):
    x, pads = inputs[0], [int(v) for v in inputs[1]]
    if _text(attrs.get("mode", "constant")) != "constant" or min(pads) < 0:
        raise ValueError("Pad other than constant and growing")
    value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0
    rank = x.ndim
    return [np.pad(x, [(pads[a], pads[a + rank]) for a in range(rank)], constant_values=value)]


def _clip(node, inputs, attrs, fdtype):
    x = inputs[0]
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("min", -np.inf)
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else attrs.get("max", np.inf)
    return [np.minimum(np.maximum(x, np.asarray(low, x.dtype)), np.asarray(high, x.dtype))]


def _cast(node, inputs, attrs, fdtype):
    import onnx
    target = attrs["to"]
    # A float16 model's casts between float types round in float32 and
    # float16 engines; the exact answer keeps every float in double
    if target in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE) \
            and inputs[0].dtype.kind == "f":
        return [inputs[0].astype(fdtype)]
    return [inputs[0].astype(onnx.helper.tensor_dtype_to_np_dtype(target)
                             if hasattr(onnx.helper, "tensor_dtype_to_np_dtype")
                             else onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[target])]


def _constant(node, inputs, attrs, fdtype):
    from onnx import numpy_helper
    if "value" not in attrs:
        raise ValueError(f"Constant with {sorted(attrs)}")
    return [numpy_helper.to_array(attrs["value"])]


OPS = {
    "Constant": _constant,
    "Conv": _conv,
    "MaxPool": _maxpool,
    "Resize": _resize,
    "Slice": _slice,
    "Reshape": _reshape,
    "Split": _split,
    "Pad": _pad,
    "Clip": _clip,
    "Cast": _cast,
    "Relu": lambda n, i, a, f: [np.maximum(i[0], 0).astype(i[0].dtype)],
    "Sigmoid": lambda n, i, a, f: [(1 / (1 + np.exp(-i[0]))).astype(i[0].dtype)],
    "Add": lambda n, i, a, f: [i[0] + i[1]],
    "Sub": lambda n, i, a, f: [i[0] - i[1]],
    "Mul": lambda n, i, a, f: [i[0] * i[1]],
    "Equal": lambda n, i, a, f: [np.equal(i[0], i[1])],
    "Concat": lambda n, i, a, f: [np.concatenate(i, axis=a["axis"])],
    "Transpose": lambda n, i, a, f: [np.transpose(i[0], a.get("perm"))],
    "Shape": lambda n, i, a, f: [np.array(i[0].shape, np.int64)],
}


def supported(model):
    """None if every node of the main graph is one evaluate() knows (and
    there are no subgraphs), else a line naming what it does not"""
    missing = sorted({node.op_type for node in model.graph.node
                      if node.domain not in ("", "ai.onnx") or node.op_type not in OPS})
    return f"no float64 evaluator for {', '.join(missing)}" if missing else None


def _to(value, fdtype):
    """Floating values in the evaluation's precision, the rest as they are"""
    return value.astype(fdtype) if value.dtype.kind == "f" else value


def _in_order(nodes, known):
    """The nodes so that each comes after those that make its inputs: a
    float16 converter appends the graph input's Cast at the end"""
    known, waiting, ordered = set(known), list(nodes), []
    while waiting:
        ready = [node for node in waiting if all(name in known for name in node.input)]
        if not ready:
            raise ValueError(f"node '{waiting[0].name}' ({waiting[0].op_type}) reads a value "
                             "no node makes")
        for node in ready:
            ordered.append(node)
            known.update(node.output)
        taken = {id(node) for node in ready}
        waiting = [node for node in waiting if id(node) not in taken]
    return ordered


def evaluate(model, feeds, outputs=None, fdtype=np.float64):
    """{name: array} of the graph's outputs (or the named values), every
    floating weight, input and intermediate value held in fdtype"""
    from onnx import numpy_helper
    why = supported(model)
    if why:
        raise ValueError(why)
    graph = model.graph
    values = {t.name: _to(numpy_helper.to_array(t), fdtype) for t in graph.initializer}
    values.update({name: _to(np.asarray(array), fdtype) for name, array in feeds.items()})
    values[""] = None
    wanted = list(outputs or [o.name for o in graph.output])
    for node in _in_order(graph.node, set(values)):
        inputs = [values[name] for name in node.input]
        try:
            results = OPS[node.op_type](node, inputs, _attributes(node), fdtype)
        except (ValueError, KeyError, IndexError, RuntimeError) as error:
            raise ValueError(f"node '{node.name}' ({node.op_type}): {error}") from error
        for name, result in zip(node.output, results):
            values[name] = _to(np.asarray(result), fdtype)
    return {name: values[name] for name in wanted}


def main():
    import onnx
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out_dir")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--output", action="append", metavar="NAME")
    parser.add_argument("--float32", action="store_true")
    args = parser.parse_args()
    feeds = {}
    for entry in args.input:
        name, _, path = entry.rpartition("=")
        feeds[name] = np.load(path)
    try:
        results = evaluate(onnx.load(args.model), feeds, args.output,
                           np.float32 if args.float32 else np.float64)
    except ValueError as error:
        print(f"exact: {args.model}: {error}", file=sys.stderr)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    for index, array in enumerate(results.values()):
        np.save(os.path.join(args.out_dir, f"{index}.npy"), array)
    return 0


if __name__ == "__main__":
    sys.exit(main())
