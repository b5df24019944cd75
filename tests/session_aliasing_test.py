#!/usr/bin/python3
"""A local session shares memory between values: producers of a Concat
write straight into its output, and values whose lifetimes do not overlap
share a buffer. Each case here builds a small ONNX model whose graph
stresses one of those shortcuts (joins of joins, a join's input that is
also a graph output or read twice, joins on axis 0 and on inner axes,
batch > 1, relabelling ops between joins) and checks that `zinfer run`,
fused and with --no-fuse, and again after repeated runs, gives what numpy
(or PyTorch, for the exported InceptionV3-like block) computes from the
same graph.

    /usr/bin/python3 tests/session_aliasing_test.py ZINFER_BINARY [--case NAME ...]
    /usr/bin/python3 tests/session_aliasing_test.py ZINFER_BINARY --scale

--scale instead times `zinfer info` on a 100,000-node chain: import and
planning must stay near linear in the number of nodes.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
TOLERANCE = 1e-5                #  relative to each output's range
CHAIN_NODES = 100000
CHAIN_SECONDS = 10              #  a quadratic step takes well over 30 s here


def value(name, shape=None, elem_type=FLOAT):
    return helper.make_tensor_value_info(name, elem_type, shape)


def node(op, inputs, outputs, **attributes):
    return helper.make_node(op, inputs, outputs, name=outputs[0] + "_" + op.lower(),
                            **attributes)


def concat(inputs, output, axis):
    return node("Concat", inputs, [output], axis=axis)


def graph_model(nodes, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, "aliasing", inputs, outputs,
                              initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def rng_input(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def relu(x):
    return np.maximum(x, 0)


#   Each case returns (model, {input name: array}, {output name: expected})

CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


def three_branches(x):
    """Relu, Neg and Abs of x: three values that each feed a join"""
    nodes = [node("Relu", ["x"], ["a"]), node("Neg", ["x"], ["b"]), node("Abs", ["x"], ["c"])]
    return nodes, relu(x), -x, np.abs(x)


def nested(batch, width=16):
    x = rng_input([batch, width], 1 + batch)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 1), concat(["j1", "c"], "j2", 1),
              node("Neg", ["j2"], ["y"])]
    want = -np.concatenate([np.concatenate([a, b], 1), c], 1)
    return (graph_model(nodes, [value("x", [batch, width])], [value("y")]),
            {"x": x}, {"y": want})


@case
def nested_batch1():
    """Concat feeding Concat: the inner join's slice of the outer one"""
    return nested(1)


@case
def nested_batch2():
    """The same at batch 2, where axis 1 is not contiguous and both run"""
    return nested(2)


@case
def nested_unaligned():
    """Slices not on a 64-byte boundary: the joins run"""
    return nested(1, width=5)


@case
def doubly_nested():
    """A join of a join of a join, the innermost last"""
    x = rng_input([1, 16], 3)
    nodes, a, b, c = three_branches(x)
    nodes += [node("Sigmoid", ["x"], ["d"]),
              concat(["a", "b"], "j1", 1), concat(["j1", "c"], "j2", 1),
              concat(["d", "j2"], "j3", 1), node("Neg", ["j3"], ["y"])]
    d = 1 / (1 + np.exp(-x))
    want = -np.concatenate([d, np.concatenate([np.concatenate([a, b], 1), c], 1)], 1)
    return graph_model(nodes, [value("x", [1, 16])], [value("y")]), {"x": x}, {"y": want}


@case
def deep_chain_of_joins():
    """Ten joins, each taking the previous one and a new branch"""
    x = rng_input([1, 16], 4)
    nodes = [node("Relu", ["x"], ["j0"])]
    want = relu(x)
    for level in range(1, 11):
        nodes += [node("Mul", ["x", "k%d" % level], ["m%d" % level]),
                  concat(["m%d" % level, "j%d" % (level - 1)] if level % 2 else
                         ["j%d" % (level - 1), "m%d" % level], "j%d" % level, 1)]
        part = x * np.float32(level)
        want = np.concatenate([part, want] if level % 2 else [want, part], 1)
    nodes.append(node("Neg", ["j10"], ["y"]))
    constants = [numpy_helper.from_array(np.array(level, np.float32), "k%d" % level)
                 for level in range(1, 11)]
    return (graph_model(nodes, [value("x", [1, 16])], [value("y")], constants),
            {"x": x}, {"y": -want})


@case
def inner_join_is_output():
    """The inner join is also a graph output, so it cannot be a slice"""
    x = rng_input([1, 16], 5)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 1), concat(["j1", "c"], "j2", 1),
              node("Neg", ["j2"], ["y"])]
    j1 = np.concatenate([a, b], 1)
    return (graph_model(nodes, [value("x", [1, 16])], [value("y"), value("j1")]),
            {"x": x}, {"y": -np.concatenate([j1, c], 1), "j1": j1})


@case
def outer_join_is_output():
    """The outer join is the graph output; the inner one can still be a slice"""
    x = rng_input([1, 16], 6)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 1), concat(["j1", "c"], "y", 1)]
    return (graph_model(nodes, [value("x", [1, 16])], [value("y")]),
            {"x": x}, {"y": np.concatenate([np.concatenate([a, b], 1), c], 1)})


@case
def branch_is_output():
    """A join's input that is also a graph output"""
    x = rng_input([1, 16], 7)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 1), concat(["j1", "c"], "j2", 1),
              node("Neg", ["j2"], ["y"])]
    return (graph_model(nodes, [value("x", [1, 16])], [value("y"), value("b")]),
            {"x": x}, {"y": -np.concatenate([a, b, c], 1), "b": b})


@case
def input_read_by_two_joins():
    """One value joined into two Concats, each then nested"""
    x = rng_input([1, 16], 8)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 1), concat(["a", "c"], "j2", 1),
              concat(["j1", "c"], "o1", 1), concat(["b", "j2"], "o2", 1),
              node("Add", ["o1", "o2"], ["y"])]
    want = np.concatenate([a, b, c], 1) + np.concatenate([b, a, c], 1)
    return graph_model(nodes, [value("x", [1, 16])], [value("y")]), {"x": x}, {"y": want}


@case
def same_tensor_twice():
    """Concat (a, a) inside another join"""
    x = rng_input([1, 16], 9)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "a"], "j1", 1), concat(["b", "j1"], "j2", 1),
              concat(["j2", "j2"], "j3", 1), node("Neg", ["j3"], ["y"])]
    j2 = np.concatenate([b, a, a], 1)
    return (graph_model(nodes, [value("x", [1, 16])], [value("y")]),
            {"x": x}, {"y": -np.concatenate([j2, j2], 1)})


@case
def graph_input_joined():
    """A graph input inside an inner join: that join runs, the outer may not"""
    x = rng_input([1, 16], 10)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["x", "a"], "j1", 1), concat(["j1", "b"], "j2", 1),
              node("Neg", ["j2"], ["y"])]
    return (graph_model(nodes, [value("x", [1, 16])], [value("y")]),
            {"x": x}, {"y": -np.concatenate([x, a, b], 1)})


@case
def axis0_of_axis1():
    """Two joins on axis 1 stacked by a join on axis 0"""
    x = rng_input([1, 16], 11)
    nodes, a, b, c = three_branches(x)
    nodes += [node("Sigmoid", ["x"], ["d"]),
              concat(["a", "b"], "j1", 1), concat(["c", "d"], "j2", 1),
              concat(["j1", "j2"], "j3", 0), node("Neg", ["j3"], ["y"])]
    d = 1 / (1 + np.exp(-x))
    want = -np.concatenate([np.concatenate([a, b], 1), np.concatenate([c, d], 1)], 0)
    return graph_model(nodes, [value("x", [1, 16])], [value("y")]), {"x": x}, {"y": want}


@case
def axis0_batch2():
    """Joins on axis 0 of batch-2 values: contiguous at any batch"""
    x = rng_input([2, 16], 12)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 0), concat(["c", "j1"], "j2", 0),
              node("Neg", ["j2"], ["y"])]
    want = -np.concatenate([c, a, b], 0)
    return graph_model(nodes, [value("x", [2, 16])], [value("y")]), {"x": x}, {"y": want}


@case
def inner_axes():
    """NCHW joins on channels inside joins on height and on the last axis"""
    x = rng_input([1, 4, 4, 4], 13)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 1), concat(["j1", "j1b"], "j2", 2),
              node("Sigmoid", ["x"], ["d"]), concat(["c", "d"], "j1b", 1),
              concat(["j2", "j2"], "j3", -1), concat(["a", "c"], "k1", 1),
              concat(["k1", "j1"], "k2", 1), node("Neg", ["j3"], ["y"]),
              node("Neg", ["k2"], ["z"])]
    d = 1 / (1 + np.exp(-x))
    j1 = np.concatenate([a, b], 1)
    j2 = np.concatenate([j1, np.concatenate([c, d], 1)], 2)
    want_y = -np.concatenate([j2, j2], 3)
    want_z = -np.concatenate([a, c, j1], 1)
    return (graph_model(nodes, [value("x", [1, 4, 4, 4])], [value("y"), value("z")]),
            {"x": x}, {"y": want_y, "z": want_z})


@case
def relabels_between_joins():
    """Identity, Reshape, Flatten and Squeeze between a join and the next"""
    x = rng_input([1, 16], 14)
    nodes, a, b, c = three_branches(x)
    nodes += [concat(["a", "b"], "j1", 1), node("Identity", ["j1"], ["i1"]),
              concat(["i1", "c"], "j2", 1),
              node("Reshape", ["j2", "flat_shape"], ["r2"]), concat(["r2", "b"], "j3", 1),
              node("Flatten", ["j3"], ["f3"], axis=1), concat(["f3", "a"], "j4", 1),
              node("Unsqueeze", ["b", "axes"], ["u"]), node("Squeeze", ["u", "axes"], ["s"]),
              concat(["j4", "s"], "j5", 1),
              node("Reshape", ["a", "shape"], ["ra"]), node("Identity", ["c"], ["ic"]),
              concat(["ra", "ic"], "j6", 1), concat(["j5", "j6"], "j7", 1),
              node("Neg", ["j7"], ["y"])]
    constants = [numpy_helper.from_array(np.array([1, 16], np.int64), "shape"),
                 numpy_helper.from_array(np.array([1, 48], np.int64), "flat_shape"),
                 numpy_helper.from_array(np.array([0], np.int64), "axes")]
    want = -np.concatenate([a, b, c, b, a, b, a, c], 1)
    return (graph_model(nodes, [value("x", [1, 16])], [value("y")], constants),
            {"x": x}, {"y": want})


@case
def split_into_joins():
    """A Split's outputs written into joins, crossed over and nested"""
    x = rng_input([1, 32], 15)
    nodes = [node("Relu", ["x"], ["r"]), node("Split", ["r"], ["p", "q"], axis=1),
             node("Neg", ["x"], ["n"]), concat(["q", "p"], "j1", 1),
             concat(["j1", "n"], "j2", 1), node("Abs", ["j2"], ["y"])]
    r = relu(x)
    want = np.abs(np.concatenate([r[:, 16:], r[:, :16], -x], 1))
    return graph_model(nodes, [value("x", [1, 32])], [value("y")]), {"x": x}, {"y": want}


@case
def lifetimes_around_joins():
    """Values that die while a join is being filled, next to a long skip"""
    x = rng_input([1, 16], 16)
    nodes = [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["b"]),
             node("Abs", ["b"], ["c"]), node("Sigmoid", ["c"], ["d"]),
             node("Neg", ["d"], ["e"]), concat(["b", "e"], "j1", 1),
             node("Tanh", ["x"], ["f"]), node("Neg", ["f"], ["g"]),
             concat(["g", "j1"], "j2", 1), node("Add", ["j2", "j2"], ["h"]),
             node("Relu", ["x"], ["skip"]), node("Neg", ["h"], ["k"]),
             concat(["k", "skip"], "y", 1)]
    a = relu(x)
    b = -a
    d = 1 / (1 + np.exp(-np.abs(b)))
    h = 2 * np.concatenate([-np.tanh(x), b, -d], 1)
    want = np.concatenate([-h, relu(x)], 1)
    return graph_model(nodes, [value("x", [1, 16])], [value("y")]), {"x": x}, {"y": want}


def inception_case(batch):
    """An InceptionV3-like block exported by PyTorch: branches of Conv +
    BatchNorm + Relu joined, a branch that is itself a join of two, and
    the block's join fed to the next Conv"""
    import torch
    from torch import nn

    torch.manual_seed(20)

    def conv_bn(cin, cout, kernel, padding):
        return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=padding, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.branch1 = conv_bn(8, 16, 1, 0)
            self.branch3 = conv_bn(8, 16, 1, 0)
            self.branch3a = conv_bn(16, 16, (1, 3), (0, 1))
            self.branch3b = conv_bn(16, 16, (3, 1), (1, 0))
            self.pool = conv_bn(8, 16, 1, 0)
            self.after = nn.Conv2d(64, 8, 1)

        def forward(self, x):
            b3 = self.branch3(x)
            inner = torch.cat([self.branch3a(b3), self.branch3b(b3)], 1)
            pooled = self.pool(nn.functional.avg_pool2d(x, 3, 1, 1))
            joined = torch.cat([self.branch1(x), inner, pooled], 1)
            return self.after(joined)

    block = Block().eval()
    for module in block.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    x = torch.randn(batch, 8, 6, 6)
    with torch.no_grad():
        want = block(x).numpy()
    with tempfile.TemporaryDirectory(prefix="zinfer-export-") as folder:
        path = os.path.join(folder, "block.onnx")
        torch.onnx.export(block, (x,), path, input_names=["x"], output_names=["y"],
                          opset_version=13)
        model = onnx.load(path)
    #  This PyTorch flattens cat (b1, cat (b3a, b3b), pool) into one
    #  Concat of four; others (the InceptionV3 export that found the bug)
    #  keep the inner one, so it is put back
    joins = [item for item in model.graph.node if item.op_type == "Concat"]
    if len(joins) == 1 and len(joins[0].input) == 4:
        outer = joins[0]
        first, second, third, fourth = list(outer.input)
        inner = helper.make_node("Concat", [second, third], ["/inner/Concat_output_0"],
                                 name="/inner/Concat", axis=1)
        del outer.input[:]
        outer.input.extend([first, "/inner/Concat_output_0", fourth])
        position = list(model.graph.node).index(outer)
        model.graph.node.insert(position, inner)
    return model, {"x": x.numpy()}, {"y": want}


@case
def inception_batch1():
    return inception_case(1)


@case
def inception_batch2():
    return inception_case(2)


def run_zinfer(zinfer, folder, model, feeds, names, extra):
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    command = [zinfer, "run", path]
    for name, array in feeds.items():
        file = os.path.join(folder, "in_%s.npy" % name)
        np.save(file, array)
        command += ["--input", "%s=%s" % (name, file)]
    for name in names:
        command += ["--output", "%s=%s" % (name, os.path.join(folder, "out_%s.npy" % name))]
    result = subprocess.run(command + extra, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        return None, "exit %d: %s" % (result.returncode, result.stderr.strip()[-400:])
    return {name: np.load(os.path.join(folder, "out_%s.npy" % name)) for name in names}, None


def compare(got, want):
    """A description of the first difference, or None"""
    for name, expected in want.items():
        answer = got[name]
        if answer.shape != expected.shape:
            return "output '%s': shape %s, expected %s" % (name, answer.shape, expected.shape)
        scale = max(float(np.ptp(expected)), 1e-6)
        error = float(np.max(np.abs(answer - expected))) if expected.size else 0.0
        if not error <= TOLERANCE * scale * 10 + 1e-6:
            return "output '%s': differs by %.3g (%.1f %% of its range)" % (
                name, error, 100 * error / scale)
    return None


def check_cases(zinfer, names):
    failed = 0
    for name in names:
        model, feeds, want = CASES[name]()
        problems = []
        with tempfile.TemporaryDirectory(prefix="zinfer-alias-") as folder:
            for label, extra in (("fused", []), ("--no-fuse", ["--no-fuse"]),
                                 ("--repeat 3", ["--repeat", "3"])):
                got, error = run_zinfer(zinfer, folder, model, feeds, list(want), extra)
                problem = error or compare(got, want)
                if problem:
                    problems.append("%s: %s" % (label, problem))
        if problems:
            failed += 1
            print("FAIL %s: %s" % (name, "; ".join(problems)))
        else:
            print("ok   %s" % name)
    print("%d passed, %d failed" % (len(names) - failed, failed))
    return failed


def check_initializer_inputs(zinfer):
    """Graph inputs that have an initializer (IR version 3 lists every
    weight so) are constants: a model of only such inputs needs no
    --input, and feeding one is refused in one line, not an assertion"""
    weight = numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(1, 4), "w")
    only = graph_model([node("Relu", ["w"], ["y"])], [value("w", [1, 4])], [value("y")],
                       [weight])
    mixed = graph_model([node("Add", ["x", "w"], ["y"])],
                        [value("x", [1, 4]), value("w", [1, 4])], [value("y")], [weight])
    failed = 0
    with tempfile.TemporaryDirectory(prefix="zinfer-init-") as folder:
        feed = os.path.join(folder, "x.npy")
        np.save(feed, np.ones([1, 4], np.float32))
        for label, model, arguments, expected in (
                ("no input to feed", only, ["--input", feed], "has no inputs to feed"),
                ("initializer fed by name", mixed, ["--input", "x=" + feed, "--input", "w=" + feed],
                 "input 'w' has an initializer")):
            model.ir_version = 3
            path = os.path.join(folder, "model.onnx")
            onnx.save(model, path)
            result = subprocess.run([zinfer, "run", path] + arguments, capture_output=True,
                                    text=True, timeout=60)
            lines = result.stderr.splitlines()
            if result.returncode != 2 or len(lines) != 1 or expected not in lines[0]:
                failed += 1
                print("FAIL initializer inputs, %s: exit %d: %s" % (
                    label, result.returncode, " | ".join(lines[-3:])))
            else:
                print("ok   initializer inputs, %s" % label)
    return failed


def chain_model(fusable):
    """CHAIN_NODES nodes in a row: Neg, or Add of a constant then Relu
    (which the fusion passes fold into one node each)"""
    nodes, initializers = [], []
    for index in range(CHAIN_NODES):
        op, inputs = ("Neg", ["v%d" % index]) if not fusable else \
            ("Add", ["v%d" % index, "one"]) if index % 2 == 0 else ("Relu", ["v%d" % index])
        nodes.append(helper.make_node(op, inputs, ["v%d" % (index + 1)], name="n%d" % index))
    if fusable:
        initializers.append(numpy_helper.from_array(np.ones([1, 4], np.float32), "one"))
    return graph_model(nodes, [value("v0", [1, 4])], [value("v%d" % CHAIN_NODES)],
                       initializers)


def check_scale(zinfer):
    """`zinfer info` on long chains, timed: import, sorting, planning and
    the fusion passes must stay near linear in the number of nodes"""
    failed = 0
    with tempfile.TemporaryDirectory(prefix="zinfer-chain-") as folder:
        for label, fusable, extra in (("Neg chain", False, []),
                                      ("Add+Relu chain, --fuse", True, ["--fuse"])):
            path = os.path.join(folder, "chain.onnx")
            onnx.save(chain_model(fusable), path)
            what = "%s of %d nodes" % (label, CHAIN_NODES)
            start = time.monotonic()
            try:
                result = subprocess.run([zinfer, "info", path] + extra, capture_output=True,
                                        text=True, timeout=CHAIN_SECONDS * 6)
            except subprocess.TimeoutExpired:
                print("FAIL %s: no answer in %d s" % (what, CHAIN_SECONDS * 6))
                failed += 1
                continue
            seconds = time.monotonic() - start
            if result.returncode != 0:
                print("FAIL %s: exit %d: %s" % (what, result.returncode, result.stderr.strip()))
                failed += 1
            elif seconds > CHAIN_SECONDS:
                print("FAIL %s: zinfer info took %.1f s, expected under %d s" % (
                    what, seconds, CHAIN_SECONDS))
                failed += 1
            else:
                print("ok   %s: zinfer info in %.1f s" % (what, seconds))
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zinfer")
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--scale", action="store_true")
    args = parser.parse_args()
    zinfer = os.path.abspath(args.zinfer)
    if args.scale:
        return 1 if check_scale(zinfer) else 0
    failed = check_cases(zinfer, args.case or list(CASES))
    if not args.case:
        failed += check_initializer_inputs(zinfer)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
