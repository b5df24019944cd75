#!/usr/bin/python3
"""Indexing, search and element-wise ops as PyTorch exports them.

Each case is a small function of torch tensors; it is exported to ONNX at
every opset from 9 to 17 that torch.onnx can write it in (the exporter's
own gaps are skipped, but every case must export at least once), run by
`zinfer run`, and every output compared with PyTorch's: TopK, ArgMax,
ArgMin, GatherElements (and torch's opset 9 OneHot form of gather),
Scatter and ScatterElements (with reduction add from 16), CumSum, Trilu,
Einsum, DepthToSpace, Celu, IsNaN, Mod, ReduceL1, ReduceL2,
ReduceLogSumExp and OneHot. (torch.isinf goes through a Cast to float64,
which zinfer does not run; the self test covers IsInf.) A ScatterND written with onnx.helper is
compared with numpy, and so are TopK, ArgMax, ArgMin, CumSum, ReduceSum,
ReduceMax, ReduceMin and ReduceProd of int32 tensors (which the spec
allows for all of them), and the
forms opsets 18 to 21 give ops, which torch.onnx does not write
(tests/ops_later_opsets.py).

    /usr/bin/python3 tests/ops_export_test.py ZINFER_BINARY
"""

import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnx.helper as oh
from onnx import numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_later_opsets  # noqa: E402


def cases():
    """(name, function, inputs as numpy arrays, lowest opset to try)"""
    g = np.random.default_rng(5)
    x = g.standard_normal((3, 6, 5)).astype(np.float32)
    x[0, 1, 2] = x[0, 3, 2]                 # ties for TopK, ArgMax
    x[1, :, 4] = 0.5
    distinct = g.permutation(90).reshape(3, 6, 5).astype(np.float32) / 10
    idx = g.integers(0, 6, (3, 4, 5)).astype(np.int64)
    #  Before opset 16 torch writes scatter_add as Add after Scatter, which
    #  is only the same without repeated indices
    unique = np.stack([g.permutation(6)[:4] for _ in range(15)], 1).reshape(4, 3, 5)
    unique = np.ascontiguousarray(unique.transpose(1, 0, 2)).astype(np.int64)
    special = x.copy()
    special[0, 0, :3] = [np.nan, np.inf, -np.inf]
    special[2, 5, 4] = np.nan
    image = g.standard_normal((2, 8, 3, 4)).astype(np.float32)
    return [
        #  torch orders equal values as it likes; ONNX asks for the lower
        #  index first, which the self test checks
        ("topk largest", lambda x: torch.topk(x, 3, dim=1), [distinct]),
        ("topk smallest", lambda x: torch.topk(x, 2, dim=-1, largest=False), [distinct]),
        ("argmax", lambda x: torch.argmax(x, dim=1), [x]),
        ("argmin keepdim", lambda x: torch.argmin(x, dim=2, keepdim=True), [x]),
        ("gather", lambda x, i: torch.gather(x, 1, i), [x, idx]),
        ("scatter", lambda x, i: torch.zeros(3, 6, 5).scatter(1, i[:, :1], x[:, :1]), [x, idx]),
        ("scatter_add", lambda x, i: torch.ones(3, 6, 5).scatter_add(1, i, x[:, :4]),
         [x, unique]),
        ("scatter_add, repeated indices",
         lambda x, i: torch.ones(3, 6, 5).scatter_add(1, i, x[:, :4]), [x, idx], 16),
        ("cumsum", lambda x: torch.cumsum(x, dim=1), [x]),
        ("triu", lambda x: torch.triu(x, 1), [x]),
        ("tril", lambda x: torch.tril(x, -1), [x]),
        ("einsum attention", lambda x: torch.einsum("bij,bkj->bik", x, x), [x]),
        ("einsum transpose sum", lambda x: torch.einsum("bij->jb", x), [x]),
        ("pixel_shuffle", lambda x: torch.nn.functional.pixel_shuffle(x, 2), [image]),
        ("celu", lambda x: torch.nn.functional.celu(x, 0.7), [x]),
        ("isnan", lambda x: torch.isnan(x), [special]),
        ("fmod", lambda x: torch.fmod(x, 0.7), [x]),
        ("norm l2", lambda x: torch.norm(x, p=2, dim=1), [x]),
        ("norm l1", lambda x: torch.norm(x, p=1, dim=2, keepdim=True), [x]),
        ("logsumexp", lambda x: torch.logsumexp(x * 30, dim=1), [x]),
        ("one_hot", lambda i: torch.nn.functional.one_hot(i, 6), [idx]),
    ]


class Wrap(torch.nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, *inputs):
        return self.function(*inputs)


def run_zinfer(zinfer, folder, path, arrays, n_outputs):
    command = [zinfer, "run", path, "--threads", "1"]
    for index, array in enumerate(arrays):
        file = os.path.join(folder, "in%d.npy" % index)
        np.save(file, array)
        command += ["--input", "in%d=%s" % (index, file)]
    for index in range(n_outputs):
        command += ["--output", "out%d=%s" % (index, os.path.join(folder, "out%d.npy" % index))]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        return "zinfer run exited %d: %s" % (run.returncode, run.stderr.strip())
    return [np.load(os.path.join(folder, "out%d.npy" % index)) for index in range(n_outputs)]


def differs(got, want):
    """'' when got matches want, else what differs"""
    if got.shape != want.shape:
        return "shape %s, want %s" % (got.shape, want.shape)
    if want.dtype == np.bool_ or want.dtype.kind in "iu":
        if got.dtype.kind not in "biu" or (got.astype(np.int64) != want.astype(np.int64)).any():
            return "values differ (%s, want %s)" % (got.dtype, want.dtype)
        return ""
    if not np.allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True):
        return "values differ by up to %g" % np.nanmax(np.abs(got - want))
    return ""


def int32_cases(zinfer, folder, path):
    """Ops on int32 tensors, written with onnx.helper, against numpy;
    returns how many failed"""
    g = np.random.default_rng(7)
    x = g.integers(-9, 9, (3, 5, 4)).astype(np.int32) * 100003   # ties, large values
    small = g.integers(1, 6, (3, 5, 4)).astype(np.int32)
    order = np.argsort(-x, axis=1, kind="stable")[:, :3]
    cases = [
        # name, node, input, initializers {name: array}, outputs (numpy)
        ("TopK", oh.make_node("TopK", ["in0", "k"], ["out0", "out1"], axis=1), x,
         {"k": np.array([3], np.int64)},
         [np.take_along_axis(x, order, 1), order]),
        ("ArgMax", oh.make_node("ArgMax", ["in0"], ["out0"], axis=2, keepdims=0), x, {},
         [np.argmax(x, axis=2)]),
        ("ArgMin select_last_index",
         oh.make_node("ArgMin", ["in0"], ["out0"], axis=0, select_last_index=1), x, {},
         [x.shape[0] - 1 - np.argmin(x[::-1], axis=0)[None]]),
        ("CumSum reverse", oh.make_node("CumSum", ["in0", "axis"], ["out0"], reverse=1), x,
         {"axis": np.array(1, np.int32)},
         [np.flip(np.cumsum(np.flip(x, 1), 1, dtype=np.int32), 1)]),
        ("ReduceSum", oh.make_node("ReduceSum", ["in0", "axes"], ["out0"], keepdims=0), x,
         {"axes": np.array([0, 2], np.int64)}, [x.sum((0, 2), dtype=np.int32)]),
        ("ReduceMax", oh.make_node("ReduceMax", ["in0"], ["out0"], axes=[1]), x, {},
         [x.max(1, keepdims=True)]),
        ("ReduceMin", oh.make_node("ReduceMin", ["in0"], ["out0"], axes=[-1], keepdims=0), x,
         {}, [x.min(-1)]),
        ("ReduceProd", oh.make_node("ReduceProd", ["in0"], ["out0"], axes=[1]), small, {},
         [small.prod(1, keepdims=True, dtype=np.int32)]),
    ]
    failures = 0
    for name, node, data, inits, wants in cases:
        graph = oh.make_graph(
            [node], "int32", [oh.make_tensor_value_info("in0", onnx.TensorProto.INT32,
                                                        data.shape)],
            [oh.make_empty_tensor_value_info(output) for output in node.output],
            [numpy_helper.from_array(value, key) for key, value in inits.items()])
        onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)]), path)
        got = run_zinfer(zinfer, folder, path, [data], len(wants))
        problem = got if isinstance(got, str) else next(
            (differs(g_, w) for g_, w in zip(got, wants) if differs(g_, w)), "")
        if not problem and not isinstance(got, str) and got[0].dtype != wants[0].dtype:
            problem = "output 0 is %s, want %s" % (got[0].dtype, wants[0].dtype)
        print("%s %s of int32%s" % ("FAIL" if problem else "ok  ", name,
                                    ": " + problem if problem else ""))
        failures += bool(problem)
    return failures


def main():
    zinfer = os.path.abspath(sys.argv[1])
    warnings.filterwarnings("ignore")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="zinfer-ops-") as folder:
        path = os.path.join(folder, "model.onnx")
        for name, function, arrays, *lowest in cases():
            module = Wrap(function).eval()
            tensors = [torch.from_numpy(a) for a in arrays]
            with torch.no_grad():
                wants = module(*tensors)
            wants = [t.numpy() for t in (wants if isinstance(wants, tuple) else (wants,))]
            names = ["in%d" % index for index in range(len(arrays))]
            outputs = ["out%d" % index for index in range(len(wants))]
            exported = 0
            for opset in range(lowest[0] if lowest else 9, 18):
                try:
                    torch.onnx.export(module, tuple(tensors), path, opset_version=opset,
                                      input_names=names, output_names=outputs)
                except Exception:
                    continue            # the exporter cannot write it at this opset
                exported += 1
                got = run_zinfer(zinfer, folder, path, arrays, len(wants))
                problem = got if isinstance(got, str) else next(
                    (differs(g, w) for g, w in zip(got, wants) if differs(g, w)), "")
                print("%s %s, opset %d%s" % ("FAIL" if problem else "ok  ", name, opset,
                                              ": " + problem if problem else ""))
                failures += bool(problem)
            if not exported:
                print("FAIL %s: exported at no opset" % name)
                failures += 1

        #  ScatterND, written by hand, against numpy
        g = np.random.default_rng(6)
        data = g.standard_normal((4, 5, 3)).astype(np.float32)
        indices = np.array([[[1, 2], [3, 0]], [[0, 4], [-1, -1]]], np.int64)
        updates = g.standard_normal((2, 2, 3)).astype(np.float32)
        for reduction, opset in (("none", 13), ("add", 16), ("mul", 16)):
            want = data.copy()
            for index in np.ndindex(indices.shape[:-1]):
                target = tuple(indices[index])
                if reduction == "add":
                    want[target] += updates[index]
                elif reduction == "mul":
                    want[target] *= updates[index]
                else:
                    want[target] = updates[index]
            attributes = {"reduction": reduction} if reduction != "none" else {}
            node = oh.make_node("ScatterND", ["in0", "in1", "in2"], ["out0"], **attributes)
            graph = oh.make_graph(
                [node], "scatter_nd",
                [oh.make_tensor_value_info("in0", onnx.TensorProto.FLOAT, data.shape),
                 oh.make_tensor_value_info("in1", onnx.TensorProto.INT64, indices.shape),
                 oh.make_tensor_value_info("in2", onnx.TensorProto.FLOAT, updates.shape)],
                [oh.make_tensor_value_info("out0", onnx.TensorProto.FLOAT, data.shape)])
            onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)]), path)
            got = run_zinfer(zinfer, folder, path, [data, indices, updates], 1)
            problem = got if isinstance(got, str) else differs(got[0], want)
            print("%s ScatterND reduction %s%s" % ("FAIL" if problem else "ok  ", reduction,
                                                  ": " + problem if problem else ""))
            failures += bool(problem)
        failures += int32_cases(zinfer, folder, path)
    failures += ops_later_opsets.run_all(zinfer)
    print("ops_export_test: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
