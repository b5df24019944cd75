#!/usr/bin/python3
"""NaN in, NaN out: a small PyTorch model of the ops that clamp or take a
maximum (Conv + Relu, Conv + HardSwish, MaxPool at strides 1 and 2, Clip,
HardSwish, LeakyRelu, ReduceMax, GlobalAveragePool, GlobalMaxPool, Max,
Softmax) is exported to ONNX and run by `zinfer run`, fused and with
--no-fuse, on inputs that hold NaN, +inf and -inf. Every output must have
NaN exactly where PyTorch has it, the same infinities, and the same
numbers elsewhere.

    /usr/bin/python3 tests/nan_test.py ZINFER_BINARY
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

OUTPUTS = ["conv_relu", "pool_s2", "pool_s1", "clip", "conv_hardswish", "hardswish",
           "leaky_relu", "reduce_max", "global_average", "global_max", "maximum", "softmax"]


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x, z):
        conv_relu = torch.relu(self.conv(x))
        return (conv_relu,
                F.max_pool2d(conv_relu, 3, 2, 1),
                F.max_pool2d(x, 3, 1, 1),
                torch.clamp(x, -0.5, 0.5),
                F.hardswish(self.conv2(conv_relu)),
                F.hardswish(x),
                F.leaky_relu(x, 0.1),
                torch.amax(x, dim=-1),
                F.adaptive_avg_pool2d(x, 1),
                F.adaptive_max_pool2d(x, 1),
                torch.maximum(x, z),
                torch.softmax(x, dim=-1))


def inputs(generator):
    """x and z of shape [1, 3, 16, 40]: a row wider than a vector and a
    tail; NaN and infinities scattered, some rows and one plane clean"""
    shape = (1, 3, 16, 40)
    x = generator.standard_normal(shape).astype(np.float32)
    z = generator.standard_normal(shape).astype(np.float32)
    for array, seed in ((x, 1), (z, 2)):
        picks = np.random.default_rng(seed).random(shape)
        array[picks < 0.01] = np.nan
        array[(picks >= 0.01) & (picks < 0.015)] = np.inf
        array[(picks >= 0.015) & (picks < 0.02)] = -np.inf
    x[0, 2] = generator.standard_normal((16, 40))          # a plane without any
    x[0, 0, 3:5] = generator.standard_normal((2, 40))      # rows without any
    x[0, 1, 7, 0] = np.nan                                  # first column
    x[0, 1, 7, 39] = np.nan                                 # last column
    return x, z


def compare(name, got, want):
    """'' when got matches want, else what differs"""
    if got.shape != want.shape:
        return "shape %s, want %s" % (got.shape, want.shape)
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    if (got_nan != want_nan).any():
        where = np.argwhere(got_nan != want_nan)[0]
        return "NaN at %d places where PyTorch has none, none at %d where it has NaN " \
               "(first at %s: got %r, want %r)" % (
                   (got_nan & ~want_nan).sum(), (want_nan & ~got_nan).sum(),
                   tuple(where), got[tuple(where)], want[tuple(where)])
    got_inf, want_inf = np.isinf(got), np.isinf(want)
    if (got_inf != want_inf).any() or (got[want_inf] != want[want_inf]).any():
        where = np.argwhere((got_inf != want_inf) | (want_inf & (got != want)))[0]
        return "infinities differ (first at %s: got %r, want %r)" % (
            tuple(where), got[tuple(where)], want[tuple(where)])
    finite = ~want_nan & ~want_inf
    if not np.allclose(got[finite], want[finite], rtol=1e-4, atol=1e-4):
        worst = np.abs(got[finite] - want[finite]).max()
        return "numbers differ by up to %g" % worst
    if not want_nan.any() and name not in ("conv_hardswish",):
        return "the case has no NaN to check"
    return ""


def main():
    zinfer = os.path.abspath(sys.argv[1])
    torch.manual_seed(0)
    model = Net().eval()
    x, z = inputs(np.random.default_rng(0))
    with torch.no_grad():
        wants = [t.numpy() for t in model(torch.from_numpy(x), torch.from_numpy(z))]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="zinfer-nan-") as folder:
        path = os.path.join(folder, "nan.onnx")
        torch.onnx.export(model, (torch.from_numpy(x), torch.from_numpy(z)), path,
                          input_names=["x", "z"], output_names=OUTPUTS, opset_version=17)
        np.save(os.path.join(folder, "x.npy"), x)
        np.save(os.path.join(folder, "z.npy"), z)
        for options in ([], ["--no-fuse"]):
            label = "fused" if not options else "unfused"
            ran = True
            for first in range(0, len(OUTPUTS), 6):     # zinfer run writes at most 8
                command = [zinfer, "run", path, "--input", "x=" + os.path.join(folder, "x.npy"),
                           "--input", "z=" + os.path.join(folder, "z.npy"), "--threads", "1"]
                for name in OUTPUTS[first: first + 6]:
                    command += ["--output", "%s=%s" % (name, os.path.join(folder, name + ".npy"))]
                run = subprocess.run(command + options, capture_output=True, text=True)
                if run.returncode != 0:
                    print("FAIL %s: zinfer run exited %d: %s" % (label, run.returncode,
                                                                 run.stderr.strip()))
                    failures += 1
                    ran = False
            if not ran:
                continue
            for name, want in zip(OUTPUTS, wants):
                got = np.load(os.path.join(folder, name + ".npy"))
                problem = compare(name, got, want)
                print("%s %s %s%s" % ("FAIL" if problem else "ok  ", label, name,
                                      ": " + problem if problem else ""))
                failures += bool(problem)
    print("nan_test: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
