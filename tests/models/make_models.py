#!/usr/bin/python3
"""Build the ONNX test models for zinfer, with reference inputs and outputs.

For every model NAME this writes, into the output directory:

    NAME.onnx        the exported graph (input "input", output "output")
    NAME.input.npy   float32 input tensor
    NAME.output.npy  float32 output of the PyTorch model (eval mode) on that input

Weights are random but reproducible: every model architecture has a fixed
seed, so e.g. resnet18_op13, resnet18_op17 and resnet18_bn_op13 share the same
weights and (up to float rounding) the same expected output.

A model whose three files already exist is skipped, so test drivers can call
this script before every run.  Files are written under temporary names and
renamed at the end, so an interrupted run never leaves a truncated file under
a final name.

Usage:
    /usr/bin/python3 tests/models/make_models.py --out DIR [--only NAME ...] [--list]

Needs Debian's python3-torch, python3-torchvision, python3-onnx, python3-numpy.
"""

import argparse
import collections
import os
import signal
import sys
import time
import warnings
import zlib

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torchvision


# --------------------------------------------------------------------------
# Small hand-written models
# --------------------------------------------------------------------------

class TinyCNN(nn.Module):
    """conv-bn-relu-maxpool twice, then a dense layer and softmax (MNIST-sized)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool2(torch.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        return torch.softmax(self.fc(x), dim=1)


def make_mlp():
    """784-512-256-10 multilayer perceptron (Linear exports as Gemm)."""
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )


# --------------------------------------------------------------------------
# The "Keras" activation pattern
# --------------------------------------------------------------------------
# Models converted from Keras/TF (e.g. via tf2onnx) spell hard-swish and
# hard-sigmoid with elementwise primitives instead of the dedicated ONNX ops.
# Replacing the torch modules with these reproduces that graph shape, so the
# engine's handling of Add/Clip/Mul/Div chains (and any fusion of them) is
# exercised on a real network.

class KerasHardSwish(nn.Module):
    def forward(self, x):
        return x * torch.clamp(x + 3.0, 0.0, 6.0) * (1.0 / 6.0)


class KerasHardSigmoid(nn.Module):
    def forward(self, x):
        return torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


def replace_modules(model, old_type, make_new):
    """Swap every submodule of type old_type for make_new(), in place."""
    # Collect first: mutating the tree while iterating named_modules is unsafe.
    targets = [name for name, m in model.named_modules() if isinstance(m, old_type)]
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make_new())
    return len(targets)


def make_mobilenet_v3_small_keras():
    model = torchvision.models.mobilenet_v3_small(weights=None)
    n_swish = replace_modules(model, nn.Hardswish, KerasHardSwish)
    n_sigm = replace_modules(model, nn.Hardsigmoid, KerasHardSigmoid)
    assert n_swish > 0 and n_sigm > 0, "torchvision layout changed?"
    return model


# --------------------------------------------------------------------------
# Model table
# --------------------------------------------------------------------------

# One entry per exported file.  Fields:
#   arch     architecture key; selects the constructor and the weight seed
#   shape    input shape used for the reference input/output
#   opset    ONNX opset to export with
#   keep_bn  export BatchNormalization as separate nodes instead of folding it
#   dynbatch mark dimension 0 of input and output as dynamic ("batch")
Spec = collections.namedtuple("Spec", "name arch shape opset keep_bn dynbatch")

BUILDERS = {
    "tiny_cnn": TinyCNN,
    "mlp": make_mlp,
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(weights=None),
    "mobilenet_v3_large": lambda: torchvision.models.mobilenet_v3_large(weights=None),
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "squeezenet1_1": lambda: torchvision.models.squeezenet1_1(weights=None),
    "mobilenet_v3_small_keras": make_mobilenet_v3_small_keras,
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
}

# The Keras variant shares its weights with plain mobilenet_v3_small (the
# activation swap adds no parameters), so both expect the same output.
SEED_ARCH = {"mobilenet_v3_small_keras": "mobilenet_v3_small"}

IMAGENET = (1, 3, 224, 224)


def build_specs():
    specs = []

    def add(base, arch, shape, opsets=(13, 17), keep_bn=False, dynbatch=False):
        for opset in opsets:
            specs.append(Spec(f"{base}_op{opset}", arch, shape, opset, keep_bn, dynbatch))

    add("tiny_cnn", "tiny_cnn", (1, 1, 28, 28))
    add("tiny_cnn_bn", "tiny_cnn", (1, 1, 28, 28), keep_bn=True)
    add("mlp_b1", "mlp", (1, 784))
    add("mlp_b32", "mlp", (32, 784))
    add("mobilenet_v3_small", "mobilenet_v3_small", IMAGENET)
    add("mobilenet_v3_small_bn", "mobilenet_v3_small", IMAGENET, keep_bn=True)
    add("mobilenet_v3_large", "mobilenet_v3_large", IMAGENET)
    add("resnet18", "resnet18", IMAGENET)
    add("resnet18_bn", "resnet18", IMAGENET, keep_bn=True)
    add("squeezenet1_1", "squeezenet1_1", IMAGENET)
    add("mobilenet_v3_small_keras", "mobilenet_v3_small_keras", IMAGENET)
    add("resnet18_dynbatch", "resnet18", (4, 3, 224, 224), dynbatch=True)
    # Benchmark models: one opset, folded BN; resnet18 at batch 8 for batch
    # throughput against ONNX Runtime.
    add("resnet50", "resnet50", IMAGENET, opsets=(17,))
    add("resnet18_b8", "resnet18", (8, 3, 224, 224), opsets=(17,))
    return specs


def arch_seed(arch):
    """Stable per-architecture seed (Python's hash() is randomised per run)."""
    return zlib.crc32(SEED_ARCH.get(arch, arch).encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------
# Building a model and its reference data
# --------------------------------------------------------------------------

def batchnorm_modules(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def randomize_batchnorm(model, gen, shape):
    """Give every BatchNorm random affine params and realistic running stats.

    A freshly constructed BatchNorm in eval mode is the identity, so a test
    could not tell whether the engine applies BN at all, or applies it with
    mean and variance swapped.  Purely random statistics, on the other hand,
    let activations drift far from unit scale in deep nets (resnet50's logits
    reach ~1e3), unlike any trained network.

    So the statistics are measured: one eval-mode forward pass on random data,
    where a pre-hook on each BN sets its running mean/var from the input it
    actually receives, then perturbs them.  Layers run in order, so each BN is
    calibrated against the final (already randomised) layers upstream of it
    and every BN output stays near unit scale; nonlinearities such as
    HardSwish are then exercised in their interesting range.
    """
    done = set()

    def pre_hook(bn, inputs):
        if bn in done:  # a module reused twice keeps its first calibration
            return
        done.add(bn)
        x = inputs[0]
        dims = [0] + list(range(2, x.dim()))  # all but the channel axis
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False).clamp_min(1e-3)  # dead channels

        def uniform(lo, hi):
            return torch.empty(bn.num_features).uniform_(lo, hi, generator=gen)

        bn.weight.copy_(uniform(0.5, 1.5))
        bn.bias.copy_(uniform(-0.3, 0.3))
        bn.running_mean.copy_(mean + uniform(-0.2, 0.2) * var.sqrt())
        bn.running_var.copy_(var * uniform(0.5, 1.5))  # stays positive

    bns = batchnorm_modules(model)
    if not bns:
        return
    handles = [bn.register_forward_pre_hook(pre_hook) for bn in bns]
    try:
        with torch.no_grad():
            model(torch.randn(2, *shape[1:], generator=gen))
    finally:
        for h in handles:
            h.remove()
    assert len(done) == len(bns), "some BatchNorm was not reached"


def build_model(spec):
    """Construct the model with reproducible random weights, in eval mode."""
    seed = arch_seed(spec.arch)
    torch.manual_seed(seed)  # governs the constructors' default init
    model = BUILDERS[spec.arch]().eval()
    # The calibration batch uses the per-sample shape only, so every batch
    # size variant of an architecture gets identical weights.
    bn_gen = torch.Generator().manual_seed(seed + 1)
    randomize_batchnorm(model, bn_gen, spec.shape)
    return model


def make_input(spec):
    # Seeded separately from the weights so the input does not depend on how
    # many random numbers a constructor happened to draw.
    gen = torch.Generator().manual_seed(arch_seed(spec.arch) + 2)
    return torch.randn(*spec.shape, generator=gen)


def export(model, x, spec, path):
    kwargs = dict(
        opset_version=spec.opset,
        input_names=["input"],
        output_names=["output"],
        do_constant_folding=True,
    )
    if spec.keep_bn:
        # In EVAL mode (the default) the exporter fuses BatchNormalization into
        # the preceding Conv.  PRESERVE exports the model in the mode it is in;
        # since it is in eval mode, BN is emitted as an inference-mode
        # BatchNormalization node (one output, training_mode 0) reading the
        # running statistics, but is no longer fused.
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
    if spec.dynbatch:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    with warnings.catch_warnings():
        # torch warns that constant folding plus PRESERVE may alter trainable
        # parameters; that concerns models in *training* mode, not ours.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, **kwargs)


# --------------------------------------------------------------------------
# Checks on the exported graph
# --------------------------------------------------------------------------

def op_counts(path):
    graph = onnx.load(path).graph
    return collections.Counter(node.op_type for node in graph.node)


def check_batchnorm_nodes(path, model):
    """Kept BN nodes must be inference-mode BN holding the model's statistics."""
    proto = onnx.load(path)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    bn_nodes = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    bn_modules = batchnorm_modules(model)
    assert len(bn_nodes) == len(bn_modules), (
        f"{len(bn_nodes)} BatchNormalization nodes for {len(bn_modules)} BN modules")
    known_means = {m.running_mean.numpy().tobytes() for m in bn_modules}
    for node in bn_nodes:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs.get("training_mode", 0) == 0, f"{node.name} in training mode"
        assert len(node.output) == 1, f"{node.name} has training outputs"
        # Input 3 is the mean; it must be a stored running mean, i.e. the node
        # normalises with fixed statistics rather than batch statistics.
        mean = inits.get(node.input[3])
        assert mean is not None and mean.tobytes() in known_means, (
            f"{node.name}: mean input is not one of the model's running means")


def check_graph(spec, path, model):
    counts = op_counts(path)
    if spec.keep_bn:
        check_batchnorm_nodes(path, model)
        assert counts["BatchNormalization"] > 0
    else:
        assert counts["BatchNormalization"] == 0, "BN was not folded"
    if spec.arch == "mobilenet_v3_small_keras":
        leftover = counts["HardSwish"] + counts["HardSigmoid"]
        assert leftover == 0, f"{leftover} HardSwish/HardSigmoid nodes remain"
        assert counts["Clip"] > 0
    if spec.dynbatch:
        dim0 = onnx.load(path).graph.input[0].type.tensor_type.shape.dim[0]
        assert dim0.dim_param, "batch dimension is not symbolic"
    return counts


# --------------------------------------------------------------------------
# File handling
# --------------------------------------------------------------------------

def final_paths(out_dir, name):
    return [os.path.join(out_dir, name + ext)
            for ext in (".onnx", ".input.npy", ".output.npy")]


def temp_path(path):
    # Hidden, per-process name: never mistaken for a finished file, and two
    # concurrent runs (e.g. parallel test jobs) do not clobber each other.
    d, base = os.path.split(path)
    return os.path.join(d, f".{base}.{os.getpid()}.tmp")


def save_npy(path, array):
    # Pass a file object: np.save(str) would append ".npy" to our temp name.
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array, dtype=np.float32))


def generate(spec, out_dir):
    """Export one model; returns the op-type counts of the exported graph."""
    finals = final_paths(out_dir, spec.name)
    temps = [temp_path(p) for p in finals]
    try:
        model = build_model(spec)
        x = make_input(spec)
        with torch.no_grad():
            y = model(x)
        export(model, x, spec, temps[0])
        counts = check_graph(spec, temps[0], model)
        save_npy(temps[1], x.numpy())
        save_npy(temps[2], y.numpy())
        # The .onnx goes last: "all three exist" is the completion test, and
        # each rename is atomic, so a crash mid-way is simply redone next run.
        for tmp, final in reversed(list(zip(temps, finals))):
            os.replace(tmp, final)
        return counts
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.remove(tmp)


def human_size(nbytes):
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 1e6 else f"{nbytes / 1e3:.0f} KB"


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def parse_args(names):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", help="output directory (created if missing)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=names,
                   help="generate only these models")
    p.add_argument("--list", action="store_true", help="print model names and exit")
    args = p.parse_args()
    if not args.list and not args.out:
        p.error("--out is required")
    return args


def main():
    specs = build_specs()
    args = parse_args([s.name for s in specs])
    if args.list:
        print("\n".join(s.name for s in specs))
        return 0

    # Turn SIGTERM into an exception so generate()'s cleanup removes temp files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(args.out, exist_ok=True)
    wanted = [s for s in specs if not args.only or s.name in args.only]
    t_start = time.monotonic()
    for i, spec in enumerate(wanted, 1):
        tag = f"[{i}/{len(wanted)}] {spec.name}"
        paths = final_paths(args.out, spec.name)
        if all(os.path.exists(p) for p in paths):
            print(f"{tag}: exists, skipped", file=sys.stderr)
            continue
        t0 = time.monotonic()
        counts = generate(spec, args.out)
        print(f"{tag}: {time.monotonic() - t0:.1f}s, "
              f"{human_size(os.path.getsize(paths[0]))}, "
              f"{sum(counts.values())} nodes", file=sys.stderr)
    print(f"done in {time.monotonic() - t_start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
