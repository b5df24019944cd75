#!/usr/bin/python3
"""LSTM, GRU and RNN against PyTorch.

torch.nn.LSTM, GRU and RNN (stacked, bidirectional, batch-first, with and
without initial states) are exported to ONNX at every opset from 9 to 17
and run by `zinfer run`; every output must match PyTorch's. Then models
written with onnx.helper from the same weights reach what the exporter
never writes: sequence_lens (against PyTorch's packed sequences), the
layout attribute of opset 14, an explicit activations list, omitted
outputs and a GRU that resets before its recurrent product.

    /usr/bin/python3 tests/rnn_test.py ZINFER_BINARY
"""

import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper
import torch

TOLERANCE = 2e-5


class Wrap(torch.nn.Module):
    """A recurrent layer whose outputs are all returned as a flat tuple"""

    def __init__(self, layer, with_state):
        super().__init__()
        self.layer = layer
        self.with_state = with_state

    def forward(self, x, *state):
        if not self.with_state:
            out, last = self.layer(x)
        elif isinstance(self.layer, torch.nn.LSTM):
            out, last = self.layer(x, (state[0], state[1]))
        else:
            out, last = self.layer(x, state[0])
        return (out,) + (tuple(last) if isinstance(last, tuple) else (last,))


def run_zinfer(zinfer, folder, path, inputs, output_names):
    """zinfer run on named numpy inputs; a list of arrays, or an error string"""
    command = [zinfer, "run", path, "--threads", "1"]
    for name, array in inputs.items():
        file = os.path.join(folder, "in_%s.npy" % name)
        np.save(file, array)
        command += ["--input", "%s=%s" % (name, file)]
    for name in output_names:
        command += ["--output", "%s=%s" % (name, os.path.join(folder, "out_%s.npy" % name))]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        return "zinfer run exited %d: %s" % (run.returncode, run.stderr.strip())
    return [np.load(os.path.join(folder, "out_%s.npy" % name)) for name in output_names]


def compare(label, got, wants, names):
    """Prints one line; 1 if an output differs"""
    if isinstance(got, str):
        print("FAIL %s: %s" % (label, got))
        return 1
    for name, g, w in zip(names, got, wants):
        if g.shape != w.shape:
            print("FAIL %s: %s has shape %s, want %s" % (label, name, g.shape, w.shape))
            return 1
        worst = float(np.abs(g - w).max()) if w.size else 0.0
        if not np.allclose(g, w, rtol=TOLERANCE * 10, atol=TOLERANCE):
            print("FAIL %s: %s differs by up to %g" % (label, name, worst))
            return 1
    print("ok   %s" % label)
    return 0


def exported_cases():
    """(label, module, input arrays) for the exporter's forms"""
    torch.manual_seed(1)
    g = np.random.default_rng(1)
    seq, batch = 6, 3
    x = g.standard_normal((seq, batch, 10)).astype(np.float32)
    xb = np.ascontiguousarray(x.transpose(1, 0, 2))
    h2 = g.standard_normal((4, batch, 16)).astype(np.float32)
    c2 = g.standard_normal((4, batch, 16)).astype(np.float32)
    h1 = g.standard_normal((1, batch, 12)).astype(np.float32)
    return [
        ("LSTM 2 layers bidirectional, h0 c0",
         Wrap(torch.nn.LSTM(10, 16, num_layers=2, bidirectional=True), True), [x, h2, c2]),
        ("LSTM batch_first",
         Wrap(torch.nn.LSTM(10, 12, batch_first=True), False), [xb]),
        ("GRU 2 layers bidirectional, h0",
         Wrap(torch.nn.GRU(10, 16, num_layers=2, bidirectional=True), True), [x, h2]),
        ("GRU batch_first, no bias",
         Wrap(torch.nn.GRU(10, 12, batch_first=True, bias=False), False), [xb]),
        ("RNN tanh bidirectional",
         Wrap(torch.nn.RNN(10, 8, bidirectional=True), False), [x]),
        ("RNN relu, h0",
         Wrap(torch.nn.RNN(10, 12, nonlinearity="relu"), True), [x, h1]),
    ]


def onnx_weights(layer, kind, suffix):
    """W, R, B in ONNX's gate order from one torch layer (and direction)"""
    w = getattr(layer, "weight_ih_l0" + suffix).detach().numpy()
    r = getattr(layer, "weight_hh_l0" + suffix).detach().numpy()
    bias = getattr(layer, "bias_ih_l0" + suffix, None)
    if bias is not None:
        b = np.concatenate([bias.detach().numpy(),
                            getattr(layer, "bias_hh_l0" + suffix).detach().numpy()])
    else:
        b = np.zeros(2 * w.shape[0], np.float32)
    h = r.shape[1]
    if kind == "LSTM":          # torch i f g o -> ONNX i o f c
        order = [0, 3, 1, 2]
    elif kind == "GRU":         # torch r z n -> ONNX z r h
        order = [1, 0, 2]
    else:
        order = [0]

    def gates(a):
        return np.concatenate([a[k * h:(k + 1) * h] for k in order])
    b = np.concatenate([gates(b[:len(b) // 2]), gates(b[len(b) // 2:])])
    return gates(w), gates(r), b


def helper_model(kind, layer, inputs, outputs, attributes, opset):
    """One recurrent node; inputs as (name, array or None for a graph input
    given at run time, dtype, shape)"""
    dirs = 2 if layer.bidirectional else 1
    parts = [onnx_weights(layer, kind, s) for s in ["", "_reverse"][:dirs]]
    w, r, b = (np.stack([p[k] for p in parts]) for k in range(3))
    initializers = [onnx.numpy_helper.from_array(w, "W"), onnx.numpy_helper.from_array(r, "R"),
                    onnx.numpy_helper.from_array(b, "B")]
    graph_inputs = [oh.make_tensor_value_info(name, dtype, shape)
                    for name, dtype, shape in inputs]
    graph_outputs = [oh.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                     for name in outputs if name]
    node_inputs = ["X", "W", "R", "B"] + [name for name, _, _ in inputs[1:]]
    node = oh.make_node(kind, node_inputs, list(outputs), hidden_size=layer.hidden_size,
                        direction="bidirectional" if dirs == 2 else "forward", **attributes)
    graph = oh.make_graph([node], "rnn", graph_inputs, graph_outputs, initializers)
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])


def main():
    zinfer = os.path.abspath(sys.argv[1])
    failures = 0
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="zinfer-rnn-") as folder:
        for label, module, arrays in exported_cases():
            module.eval()
            names = ["x", "h0", "c0"][:len(arrays)]
            n_out = 3 if isinstance(module.layer, torch.nn.LSTM) else 2
            out_names = ["y", "y_h", "y_c"][:n_out]
            with torch.no_grad():
                wants = [t.numpy() for t in module(*[torch.from_numpy(a) for a in arrays])]
            for opset in range(9, 18):
                path = os.path.join(folder, "model.onnx")
                torch.onnx.export(module, tuple(torch.from_numpy(a) for a in arrays), path,
                                  input_names=names, output_names=out_names,
                                  opset_version=opset)
                got = run_zinfer(zinfer, folder, path, dict(zip(names, arrays)), out_names)
                failures += compare("%s, opset %d" % (label, opset), got, wants, out_names)

        #  sequence_lens, against packed sequences; bidirectional, with h0
        torch.manual_seed(2)
        g = np.random.default_rng(2)
        seq, batch, size = 7, 4, 5
        lens = np.array([7, 3, 5, 1], np.int64)
        x = g.standard_normal((seq, batch, size)).astype(np.float32)
        for kind, cls in (("LSTM", torch.nn.LSTM), ("GRU", torch.nn.GRU),
                          ("RNN", torch.nn.RNN)):
            layer = cls(size, 6, bidirectional=True).eval()
            h0 = g.standard_normal((2, batch, 6)).astype(np.float32)
            c0 = g.standard_normal((2, batch, 6)).astype(np.float32)
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                torch.from_numpy(x), torch.from_numpy(lens), enforce_sorted=False)
            with torch.no_grad():
                state = torch.from_numpy(h0)
                if kind == "LSTM":
                    state = (state, torch.from_numpy(c0))
                out, last = layer(packed, state)
                y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=seq)
            last = last if isinstance(last, tuple) else (last,)
            #  torch's [seq, batch, dirs x hidden] is ONNX's [seq, dirs, batch, hidden]
            wants = [y.numpy().reshape(seq, batch, 2, 6).transpose(0, 2, 1, 3)]
            wants += [t.numpy() for t in last]
            f = onnx.TensorProto.FLOAT
            inputs = [("X", f, [seq, batch, size]),
                      ("sequence_lens", onnx.TensorProto.INT64, [batch]),
                      ("initial_h", f, [2, batch, 6])]
            feeds = {"X": x, "sequence_lens": lens, "initial_h": h0}
            if kind == "LSTM":
                inputs.append(("initial_c", f, [2, batch, 6]))
                feeds["initial_c"] = c0
            attributes = {"linear_before_reset": 1} if kind == "GRU" else {}
            outputs = ["Y", "Y_h", "Y_c"][:len(wants)]
            model = helper_model(kind, layer, inputs, outputs, attributes, 13)
            path = os.path.join(folder, "lens.onnx")
            onnx.save(model, path)
            got = run_zinfer(zinfer, folder, path, feeds, outputs)
            failures += compare("%s sequence_lens against packed sequences" % kind, got, wants,
                                outputs)

        #  layout 1 (opset 14) against batch_first, activations spelled
        #  out, Y omitted
        torch.manual_seed(3)
        xb = g.standard_normal((batch, seq, size)).astype(np.float32)
        for kind, cls in (("LSTM", torch.nn.LSTM), ("GRU", torch.nn.GRU),
                          ("RNN", torch.nn.RNN)):
            layer = cls(size, 6, batch_first=True, bidirectional=True).eval()
            with torch.no_grad():
                out, last = layer(torch.from_numpy(xb))
            last = last if isinstance(last, tuple) else (last,)
            fns = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                   "RNN": ["Tanh"]}[kind] * 2
            attributes = {"layout": 1, "activations": fns}
            if kind == "GRU":
                attributes["linear_before_reset"] = 1
            #  Y [batch, seq, dirs, hidden]; Y_h [batch, dirs, hidden]
            wants = [out.numpy().reshape(batch, seq, 2, 6)]
            wants += [t.numpy().transpose(1, 0, 2) for t in last]
            outputs = ["Y", "Y_h", "Y_c"][:len(wants)]
            model = helper_model(kind, layer, [("X", onnx.TensorProto.FLOAT, [batch, seq, size])],
                                 outputs, attributes, 14)
            path = os.path.join(folder, "layout.onnx")
            onnx.save(model, path)
            got = run_zinfer(zinfer, folder, path, {"X": xb}, outputs)
            failures += compare("%s layout 1, activations listed" % kind, got, wants, outputs)
            if kind != "RNN":
                model = helper_model(kind, layer, [("X", onnx.TensorProto.FLOAT,
                                                    [batch, seq, size])],
                                     [""] + outputs[1:], attributes, 14)
                onnx.save(model, path)
                got = run_zinfer(zinfer, folder, path, {"X": xb}, outputs[1:])
                failures += compare("%s with Y omitted" % kind, got, wants[1:], outputs[1:])
    print("rnn_test: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
