#!/usr/bin/python3
"""Writes the control-flow test models (If, Loop, Scan) with their inputs
and the outputs they must give.

    /usr/bin/python3 tests/control/make_control_models.py OUT_DIR

Each case is a folder OUT_DIR/NAME holding model.onnx, meta.json (input and
output names, how many runs, the tolerance, op types the plan must no
longer hold, per run the error it must fail with, if any) and, per run k,
in{k}_{j}.npy and want{k}_{j}.npy. Models built with onnx.helper get their
expected outputs from the same arithmetic written in numpy;
torch.jit.script modules exported by torch.onnx.export get PyTorch's own
outputs. control_test.py runs them through zinfer.
"""

import json
import os
import shutil
import sys
import warnings

import numpy as np
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
BOOL = TensorProto.BOOL


def value(name, elem_type=FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem_type, shape)


def const(name, data):
    return numpy_helper.from_array(np.asarray(data), name)


def graph(nodes, name, inputs, outputs, initializers=()):
    return helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))


def model(nodes, inputs, outputs, initializers=(), opset=13):
    proto = helper.make_model(graph(nodes, "control", inputs, outputs, initializers),
                              opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 7
    return proto


def node(op, inputs, outputs, name=None, **attributes):
    return helper.make_node(op, inputs, outputs, name=name or outputs[0], **attributes)


RNG = np.random.default_rng(16)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


#   Each case: name, model, input names, output names, runs (a list of
#   (inputs, outputs) pairs), and op types the plan must not hold

def if_constant():
    """An If whose condition folds (a Shape compare): only the branch taken
    is kept, inlined; it reads an outer weight and the outer input; inside
    it another If on a constant is inlined too"""
    w = randn(4, 4)
    inner_then = graph([node("Relu", ["t"], ["inner_t"])], "inner_then", [], [value("inner_t")])
    inner_else = graph([node("Neg", ["t"], ["inner_e"])], "inner_else", [], [value("inner_e")])
    then_branch = graph(
        [node("MatMul", ["x", "w"], ["t"]),
         node("If", ["yes"], ["inner"], name="inner_if", then_branch=inner_then,
              else_branch=inner_else)],
        "then", [], [value("inner")], [const("yes", np.array(True))])
    else_branch = graph([node("Neg", ["x"], ["e"])], "else", [], [value("e")])
    nodes = [node("Shape", ["x"], ["shape"]),
             node("Gather", ["shape", "zero"], ["rows"], axis=0),
             node("Greater", ["rows", "zero"], ["positive"]),
             node("If", ["positive"], ["y"], name="choose", then_branch=then_branch,
                  else_branch=else_branch)]
    proto = model(nodes, [value("x", FLOAT, [3, 4])], [value("y")],
                  [const("w", w), const("zero", np.array(0, np.int64))])
    x = randn(3, 4)
    return proto, ["x"], ["y"], [([x], [np.maximum(x @ w, 0)])], ["If"]


def if_dynamic():
    """An If on the data: sum (x) > 0 takes x @ w + b (outer weights), else
    relu (x) * s, where s is computed outside; two outputs, the second
    passing an outer value straight through in one branch"""
    w, b = randn(4, 4), randn(4)
    then_branch = graph([node("MatMul", ["x", "w"], ["mm"]), node("Add", ["mm", "b"], ["t"])],
                        "then", [], [value("t"), value("s")])
    else_branch = graph([node("Relu", ["x"], ["r"]), node("Mul", ["r", "s"], ["e"]),
                         node("Neg", ["s"], ["ns"])],
                        "else", [], [value("e"), value("ns")])
    nodes = [node("ReduceSum", ["x"], ["total"], keepdims=0),
             node("Greater", ["total", "zero"], ["positive"]),
             node("Sigmoid", ["x"], ["s"]),
             node("If", ["positive"], ["y", "z"], name="choose", then_branch=then_branch,
                  else_branch=else_branch)]
    proto = model(nodes, [value("x", FLOAT, [2, 4])], [value("y"), value("z")],
                  [const("w", w), const("b", b), const("zero", np.array(0, np.float32))])
    runs = []
    for sign in (1, -1):
        x = np.abs(randn(2, 4)) * sign
        s = 1 / (1 + np.exp(-x))
        if x.sum() > 0:
            runs.append(([x], [x @ w + b, s]))
        else:
            runs.append(([x], [np.maximum(x, 0) * s, -s]))
    return proto, ["x"], ["y", "z"], runs, []


def loop_scan():
    """A recurrence over the rows of x for a constant M: h = tanh (h @ w +
    x [i]), carried, and every h stacked as a scan output"""
    w = randn(4, 4) * 0.5
    body = graph(
        [node("Gather", ["x", "i"], ["row"], axis=0),
         node("MatMul", ["h", "w"], ["hw"]),
         node("Add", ["hw", "row"], ["pre"]),
         node("Tanh", ["pre"], ["h_next"]),
         node("Identity", ["cond"], ["cond_out"]),
         node("Identity", ["h_next"], ["h_seen"])],
        "body", [value("i", INT64, []), value("cond", BOOL, []), value("h", FLOAT, None)],
        [value("cond_out", BOOL, []), value("h_next"), value("h_seen")])
    nodes = [node("Loop", ["trips", "", "h0"], ["h_final", "hs"], name="loop", body=body)]
    proto = model(nodes, [value("x", FLOAT, [5, 4]), value("h0", FLOAT, [1, 4])],
                  [value("h_final"), value("hs")],
                  [const("w", w), const("trips", np.array(5, np.int64))])
    x, h = randn(5, 4), randn(1, 4)
    h0, seen = h.copy(), []
    for i in range(5):
        h = np.tanh(h @ w + x[i])
        seen.append(h)
    return proto, ["x", "h0"], ["h_final", "hs"], [([x, h0], [h, np.stack(seen)])], []


def loop_while():
    """A trip count given per request and a condition from the body: h
    doubles until its sum passes a limit, and the count is carried too"""
    body = graph(
        [node("Mul", ["h", "two"], ["h_next"]),
         node("Add", ["n", "one"], ["n_next"]),
         node("ReduceSum", ["h_next"], ["total"], keepdims=0),
         node("Less", ["total", "limit"], ["cond_out"])],
        "body", [value("i", INT64, []), value("cond", BOOL, []), value("h"), value("n", INT64)],
        [value("cond_out", BOOL, []), value("h_next"), value("n_next", INT64)],
        [const("two", np.array(2, np.float32)), const("one", np.array(1, np.int64))])
    nodes = [node("Loop", ["m", "go", "x", "n0"], ["y", "count"], name="loop", body=body)]
    proto = model(nodes, [value("x", FLOAT, [3]), value("m", INT64, []),
                          value("go", BOOL, []), value("limit", FLOAT, [])],
                  [value("y"), value("count")], [const("n0", np.array([0], np.int64))])
    runs = []
    for m, go, limit in ((50, True, 100.0), (3, True, 1e9), (50, False, 100.0)):
        x = np.abs(randn(3)) + 0.1
        h, n, cond, i = x.copy(), 0, go, 0
        while i < m and cond:
            h = h * 2
            n += 1
            cond = h.sum() < limit
            i += 1
        runs.append(([x, np.array(m, np.int64), np.array(go), np.array(limit, np.float32)],
                     [h, np.array([n], np.int64)]))
    return proto, ["x", "m", "go", "limit"], ["y", "count"], runs, []


def scan_case(reverse, opset):
    """Scan over axis 1 of x [2, 5, 3] and, read backwards, of u [5, 2]:
    state s = tanh (s @ w + x_t) + u_t [:, None], stacked along axis 0 and,
    reversed, along the last axis"""
    w = randn(3, 3) * 0.5
    body = graph(
        [node("MatMul", ["s", "w"], ["sw"]),
         node("Add", ["sw", "xt"], ["pre"]),
         node("Tanh", ["pre"], ["th"]),
         node("Unsqueeze", ["ut", "one"] if opset >= 13 else ["ut"], ["ut2"],
              **({} if opset >= 13 else {"axes": [1]})),
         node("Add", ["th", "ut2"], ["s_next"]),
         node("Identity", ["s_next"], ["out_a"]),
         node("ReduceSum", ["s_next"], ["out_b"], axes=[1], keepdims=0)],
        "body", [value("s"), value("xt"), value("ut")],
        [value("s_next"), value("out_a"), value("out_b")],
        [const("one", np.array([1], np.int64))] if opset >= 13 else [])
    scan_input_axes = [1, 0] if opset >= 11 else [1, 0]
    nodes = [node("Scan", ["s0", "x", "u"], ["s_final", "a", "b"], name="scan", body=body,
                  num_scan_inputs=2, scan_input_axes=scan_input_axes,
                  scan_input_directions=[1 if reverse else 0, 1],
                  scan_output_axes=[0, -1 if opset >= 11 else 1],
                  scan_output_directions=[0, 1])]
    proto = model(nodes, [value("s0", FLOAT, [2, 3]), value("x", FLOAT, [2, 5, 3]),
                          value("u", FLOAT, [5, 2])],
                  [value("s_final"), value("a"), value("b")], [const("w", w)], opset=opset)
    s0, x, u = randn(2, 3), randn(2, 5, 3), randn(5, 2)
    s, outs_a, outs_b = s0.copy(), [], []
    for step in range(5):
        xt = x[:, 4 - step if reverse else step, :]
        ut = u[4 - step]
        s = np.tanh(s @ w + xt) + ut[:, None]
        outs_a.append(s)
        outs_b.append(s.sum(axis=1))
    a = np.stack(outs_a, axis=0)
    b = np.stack(outs_b[::-1], axis=-1)
    return proto, ["s0", "x", "u"], ["s_final", "a", "b"], [([s0, x, u], [s, a, b])], []


def if_in_loop():
    """An If nested in a Loop body, on the parity of the iteration number;
    its branches read z from the model's own graph (two levels out) and the
    loop's carried value"""
    then_branch = graph([node("Add", ["h", "z"], ["t"])], "then", [], [value("t")])
    else_branch = graph([node("Mul", ["h", "z"], ["e"])], "else", [], [value("e")])
    body = graph(
        [node("Div", ["i", "two"], ["half"]),
         node("Mul", ["half", "two"], ["even_part"]),
         node("Equal", ["even_part", "i"], ["even"]),
         node("If", ["even"], ["h_next"], name="parity_if", then_branch=then_branch,
              else_branch=else_branch),
         node("Identity", ["cond"], ["cond_out"]),
         node("ReduceSum", ["h_next"], ["seen"], keepdims=1)],
        "body", [value("i", INT64, []), value("cond", BOOL, []), value("h")],
        [value("cond_out", BOOL, []), value("h_next"), value("seen")],
        [const("two", np.array(2, np.int64))])
    nodes = [node("Loop", ["trips", "", "x"], ["y", "sums"], name="loop", body=body)]
    proto = model(nodes, [value("x", FLOAT, [2, 3]), value("z", FLOAT, [2, 3])],
                  [value("y"), value("sums")], [const("trips", np.array(4, np.int64))])
    x, z = randn(2, 3), randn(2, 3) * 0.5
    h, sums = x.copy(), []
    for i in range(4):
        h = h + z if i % 2 == 0 else h * z
        sums.append(h.sum(keepdims=True).reshape(1, 1))
    return proto, ["x", "z"], ["y", "sums"], [([x, z], [h, np.stack(sums)])], []


def if_nested():
    """If in the branch of an If on the data, the shape of Silero VAD's
    exports: the outer condition is known per request; inside its then
    branch one If folds (on x's rank) and is inlined there, another stays
    on the data; both read values of the enclosing branch (t) and of the
    model's graph (w, z), and a node of the enclosing branch reads what
    each gives. w is positive, so the sign of x picks data_if's branch"""
    w = np.abs(randn(3, 3))
    folded_then = graph([node("Add", ["t", "z"], ["ft"])], "folded_then", [], [value("ft")])
    folded_else = graph([node("Sub", ["t", "z"], ["fe"])], "folded_else", [], [value("fe")])
    data_then = graph([node("Mul", ["t", "z"], ["dt"])], "data_then", [], [value("dt")])
    data_else = graph([node("Neg", ["x"], ["de"])], "data_else", [], [value("de")])
    then_branch = graph(
        [node("MatMul", ["x", "w"], ["t"]),
         node("Shape", ["x"], ["shape"]),
         node("Size", ["shape"], ["rank"]),
         node("Equal", ["rank", "two"], ["is_matrix"]),
         node("If", ["is_matrix"], ["folded"], name="folded_if", then_branch=folded_then,
              else_branch=folded_else),
         node("ReduceMax", ["t"], ["peak"], keepdims=0),
         node("Greater", ["peak", "zero"], ["rising"]),
         node("If", ["rising"], ["data"], name="data_if", then_branch=data_then,
              else_branch=data_else),
         node("Add", ["folded", "data"], ["both"]),
         node("Relu", ["folded"], ["folded_relu"])],
        "then", [], [value("both"), value("folded_relu")],
        [const("two", np.array(2, np.int64))])
    else_branch = graph([node("Neg", ["x"], ["nx"]), node("Identity", ["z"], ["nz"])],
                        "else", [], [value("nx"), value("nz")])
    nodes = [node("If", ["c"], ["y", "v"], name="outer_if", then_branch=then_branch,
                  else_branch=else_branch)]
    proto = model(nodes, [value("x", FLOAT, [2, 3]), value("z", FLOAT, [2, 3]),
                          value("c", BOOL, [])],
                  [value("y"), value("v")],
                  [const("w", w), const("zero", np.array(0, np.float32))])
    runs = []
    for c, sign in ((True, 1), (True, -1), (False, 1)):
        x, z = np.abs(randn(2, 3)) * sign, randn(2, 3)
        t = x @ w
        if c:
            folded = t + z
            data = t * z if t.max() > 0 else -x
            want = [folded + data, np.maximum(folded, 0)]
        else:
            want = [-x, z]
        runs.append(([x, z, np.array(c)], want))
    return proto, ["x", "z", "c"], ["y", "v"], runs, []


def if_folded_then_read():
    """An If of the model's graph whose condition folds (x's rank), its
    output read by later nodes: the branch's nodes take the If's place,
    ahead of their readers"""
    then_branch = graph([node("Mul", ["x", "x"], ["sq"]), node("Add", ["sq", "one"], ["t"])],
                        "then", [], [value("t")])
    else_branch = graph([node("Neg", ["x"], ["e"])], "else", [], [value("e")])
    nodes = [node("Shape", ["x"], ["shape"]),
             node("Size", ["shape"], ["rank"]),
             node("Equal", ["rank", "two"], ["is_matrix"]),
             node("If", ["is_matrix"], ["chosen"], name="rank_if", then_branch=then_branch,
                  else_branch=else_branch),
             node("Mul", ["chosen", "x"], ["scaled"]),
             node("Sigmoid", ["scaled"], ["y"])]
    proto = model(nodes, [value("x", FLOAT, [2, 3])], [value("y")],
                  [const("one", np.array(1, np.float32)), const("two", np.array(2, np.int64))])
    x = randn(2, 3)
    want = 1 / (1 + np.exp(-((x * x + 1) * x)))
    return proto, ["x"], ["y"], [([x], [want])], ["If"]


def if_branch_unplannable():
    """An If on the data whose else branch cannot run on the inputs' shape
    (a Reshape to 5 elements of a [2, 3] tensor): the model loads and runs
    the then branch; a request that takes the else branch fails, saying
    why"""
    then_branch = graph([node("Relu", ["x"], ["r"])], "then", [], [value("r")])
    else_branch = graph([node("Reshape", ["x", "five"], ["e"])], "else", [], [value("e")],
                        [const("five", np.array([5], np.int64))])
    nodes = [node("If", ["c"], ["y"], name="guarded_if", then_branch=then_branch,
                  else_branch=else_branch)]
    proto = model(nodes, [value("x", FLOAT, [2, 3]), value("c", BOOL, [])], [value("y")])
    x = randn(2, 3)
    runs = [([x, np.array(True)], [np.maximum(x, 0)]),
            ([x, np.array(False)], "else_branch cannot run on these inputs")]
    return proto, ["x", "c"], ["y"], runs, []


def onnx_cases():
    yield "if_constant", if_constant()
    yield "if_dynamic", if_dynamic()
    yield "loop_scan", loop_scan()
    yield "loop_while", loop_while()
    yield "scan_forward", scan_case(False, 13)
    yield "scan_reverse", scan_case(True, 13)
    yield "scan_opset9", scan_case(True, 9)
    yield "if_in_loop", if_in_loop()
    yield "if_nested", if_nested()
    yield "if_folded_then_read", if_folded_then_read()
    yield "if_branch_unplannable", if_branch_unplannable()


def torch_cases():
    """torch.jit.script modules with Python control flow, exported"""
    import torch

    torch.manual_seed(16)

    class Choose(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            if bool(x.sum() > 0):
                y = self.lin(x)
            else:
                y = torch.relu(x) * 2.0
            return y

    class Recur(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x, h):
            for i in range(x.size(0)):
                h = torch.tanh(self.lin(h) + x[i])
            return h

    class Grow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            h = x
            i = 0
            while bool(h.abs().sum() < 20.0) and i < 30:
                h = self.lin(h) * 1.5 + x
                i += 1
            return h

    class Detector(torch.nn.Module):
        """A voice-activity detector's shape: the sample rate, an input,
        picks one of two LSTMs; the states go in and come out"""
        def __init__(self):
            super().__init__()
            self.lstm16 = torch.nn.LSTM(8, 16)
            self.lstm8 = torch.nn.LSTM(8, 16)
            self.head = torch.nn.Linear(16, 1)

        def forward(self, x, sr, h, c):
            if bool(sr == 16000):
                y, (h2, c2) = self.lstm16(x, (h, c))
            else:
                y, (h2, c2) = self.lstm8(x, (h, c))
            return torch.sigmoid(self.head(y[-1])), h2, c2

    def export(module, inputs, names, dynamic=None, output_names=("y",)):
        module.eval()
        scripted = torch.jit.script(module)
        path = os.path.join(SCRATCH, "export.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(scripted, tuple(inputs), path, opset_version=13,
                              input_names=names, output_names=list(output_names),
                              dynamic_axes=dynamic)
        import onnx
        return onnx.load(path)

    def outputs(module, inputs):
        with torch.no_grad():
            answer = module(*inputs)
        return [t.numpy() for t in answer] if isinstance(answer, tuple) else [answer.numpy()]

    choose = Choose()
    xs = [torch.randn(2, 4).abs(), -torch.randn(2, 4).abs()]
    yield "torch_if", (export(choose, [xs[0]], ["x"]), ["x"], ["y"],
                       [([x.numpy()], outputs(choose, [x])) for x in xs], [])
    recur = Recur()
    x, h = torch.randn(6, 4), torch.randn(1, 4)
    # The trip count is x.size (0), a constant once the input shape is known
    yield "torch_loop", (export(recur, [x, h], ["x", "h"], {"x": {0: "steps"}}), ["x", "h"],
                         ["y"], [([x.numpy(), h.numpy()], outputs(recur, [x, h]))], [])
    detector = Detector()
    x, h, c = torch.randn(5, 1, 8), torch.randn(1, 1, 16), torch.randn(1, 1, 16)
    names = ["x", "sr", "h", "c"]
    runs = []
    for rate in (16000, 8000):
        feeds = [x, torch.tensor(rate), h, c]
        runs.append(([t.numpy() for t in feeds], outputs(detector, feeds)))
    yield "torch_detector", (export(detector, [x, torch.tensor(16000), h, c], names,
                                    output_names=["p", "hn", "cn"]),
                             names, ["p", "hn", "cn"], runs, [])
    grow = Grow()
    xs = [torch.randn(1, 4) * 0.1, torch.randn(1, 4) * 10]
    yield "torch_while", (export(grow, [xs[0]], ["x"]), ["x"], ["y"],
                          [([x.numpy()], outputs(grow, [x])) for x in xs], [])


SCRATCH = None


def main():
    global SCRATCH
    if len(sys.argv) != 2:
        sys.exit("usage: make_control_models.py OUT_DIR")
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    SCRATCH = out
    import itertools
    for name, (proto, inputs, outputs, runs, absent) in itertools.chain(onnx_cases(),
                                                                         torch_cases()):
        folder = os.path.join(out, name)
        os.makedirs(folder)
        with open(os.path.join(folder, "model.onnx"), "wb") as handle:
            handle.write(proto.SerializeToString())
        errors = []
        for run, (feeds, wants) in enumerate(runs):
            for index, data in enumerate(feeds):
                np.save(os.path.join(folder, "in%d_%d.npy" % (run, index)), data)
            #   A string instead of outputs: the run must fail with it
            errors.append(wants if isinstance(wants, str) else None)
            for index, data in enumerate([] if errors[-1] else wants):
                np.save(os.path.join(folder, "want%d_%d.npy" % (run, index)), data)
        with open(os.path.join(folder, "meta.json"), "w") as handle:
            json.dump({"inputs": inputs, "outputs": outputs, "runs": len(runs),
                       "errors": errors, "absent": absent}, handle)
    os.remove(os.path.join(out, "export.onnx"))


if __name__ == "__main__":
    main()
