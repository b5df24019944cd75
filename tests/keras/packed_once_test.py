#!/usr/bin/python3
"""Packed weights once per weight: a Keras layer called several times is
packed once, not once per call.

    packed_once_test.py --zinfer ZINFER --port-base PORT

Three TF.js layers-models of the same layers, on an [N, 8, 8, 384] input: a 1x1 Conv2D (packed for the matrix product), a
3x3 Conv2D (transformed for Winograd), GlobalAveragePooling2D and a
Dense (packed for Gemm):

    once      each layer called once
    shared    each layer called CALLS times in a chain, one set of weights
    distinct  CALLS layers of each kind in the chain, each holding its own
              copy of the same weights

`zinfer run`'s peak resident memory (ru_maxrss) grows from `once` to
`shared` by less than half of one packed copy of the layers' weights
(packed once, and the later calls transpose no kernel again: the calls
add only their activations), where `distinct` grows by more than
CALLS - 1 copies; `shared` answers bit for bit as `distinct` (a shared
form holds what each node would have packed) and matches a numpy
reference, and `shared` written as .keras and .h5 (write_keras_files.py)
answers bit for bit as its model.json. (A .keras or .h5 file's peak is
its HDF5 reader's, before anything is packed, so memory is measured on
model.json.) Then `shared.keras` is placed over 2 processes of 2
threads with calls of one layer in both processes and on different
threads, and answers a batch of 1 and a batch of 3 (which each thread
plans afresh, at once: threads ask for the same forms together) bit for
bit as `zinfer run`.

Then the same three kinds of a chain of Conv2D + BatchNormalization
pairs (a 1x1 Conv2D without bias and a BatchNormalization, a 3x3 Conv2D
and a BatchNormalization without scale, as Keras applications build
their blocks), each pair called CALLS times: each BatchNormalization
folds into its Conv2D, and the calls of a pair fold into one constant
and so pack it once. The peak grows from `once` to `shared` by less
than half a copy, `zinfer info --fuse` reports for `shared` the packed
forms and bytes of `once` (and CALLS times as many for `distinct`), and
`shared` answers bit for bit as `distinct` and as its .keras file, and
matches numpy. Uses ports from PORT to PORT + 20.
"""

import argparse
import re
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import write_keras_files  # noqa: E402
from shared_layers_test import conv_same, write_model_json  # noqa: E402
from split_test import Up  # noqa: E402

CALLS = 4
CHANNELS = 384
SIZE = 8


def ref(layer, node=0):
    return [layer, node, 0, {}]


def layer(class_name, name, config, calls):
    return {"class_name": class_name, "name": name, "config": dict(config, name=name),
            "inbound_nodes": calls}


def model(kind):
    """The chain x -> point^CALLS -> wide^CALLS -> pool -> dense^CALLS, each
    layer called CALLS times (shared), once (once) or CALLS layers of it
    (distinct)"""
    calls = 1 if kind == "once" else CALLS
    layers = [layer("InputLayer", "x", {"batch_input_shape": [None, SIZE, SIZE, CHANNELS]},
                    [])]
    configs = [("point", "Conv2D", {"filters": CHANNELS, "kernel_size": [1, 1]}),
               ("wide", "Conv2D", {"filters": CHANNELS, "kernel_size": [3, 3],
                                   "padding": "same"}),
               ("pool", "GlobalAveragePooling2D", {}),
               ("dense", "Dense", {"units": CHANNELS})]
    previous = ref("x")
    for name, class_name, config in configs:
        n = 1 if name == "pool" else calls
        if kind == "distinct" and n > 1:
            for index in range(n):
                layers.append(layer(class_name, "%s%d" % (name, index), config, [[previous]]))
                previous = ref("%s%d" % (name, index))
        else:
            #  Call 0 on the chain so far, call i on call i - 1's output
            calls_in = [[previous]] + [[ref(name, index)] for index in range(n - 1)]
            layers.append(layer(class_name, name, config, calls_in))
            previous = ref(name, n - 1)
    return {"class_name": "Functional", "config": {
        "name": "packed_" + kind, "layers": layers, "input_layers": [["x", 0, 0]],
        "output_layers": [[previous[0], previous[1], 0]]}}


def weights():
    rng = np.random.default_rng(29)

    def normal(shape, fan_in):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    return {"point": (normal((1, 1, CHANNELS, CHANNELS), CHANNELS), normal(CHANNELS, 25)),
            "wide": (normal((3, 3, CHANNELS, CHANNELS), 9 * CHANNELS), normal(CHANNELS, 25)),
            "dense": (normal((CHANNELS, CHANNELS), CHANNELS), normal(CHANNELS, 25))}


def by_layer(kind, arrays):
    out = {}
    for name, (kernel, bias) in arrays.items():
        names = ["%s%d" % (name, index) for index in range(CALLS)] if kind == "distinct" \
            else [name]
        for each in names:
            out[each] = [("kernel", kernel), ("bias", bias)]
    return out


def reference(x, arrays):
    x = x.astype(np.float64)
    w = {name: tuple(a.astype(np.float64) for a in pair) for name, pair in arrays.items()}
    for _ in range(CALLS):
        x = conv_same(x, *w["point"])
    for _ in range(CALLS):
        x = conv_same(x, *w["wide"])
    x = x.mean(axis=(1, 2))
    for _ in range(CALLS):
        x = x @ w["dense"][0] + w["dense"][1]
    return x


#  Conv2D + BatchNormalization pairs: (conv, its config, its norm, the
#  norm's config); the second norm has no scale, so Keras's importer makes
#  its ones anew at each call
PAIRS = [("point", {"filters": CHANNELS, "kernel_size": [1, 1], "use_bias": False},
          "point_bn", {"axis": 3, "epsilon": 1e-3}),
         ("wide", {"filters": CHANNELS, "kernel_size": [3, 3], "padding": "same"},
          "wide_bn", {"axis": 3, "epsilon": 1e-3, "scale": False})]


def pair_model(kind):
    """x -> (point, point_bn)^CALLS -> (wide, wide_bn)^CALLS, each pair
    called CALLS times (shared), once (once) or CALLS pairs of layers of
    the same weights (distinct)"""
    calls = 1 if kind == "once" else CALLS
    layers = [layer("InputLayer", "x", {"batch_input_shape": [None, SIZE, SIZE, CHANNELS]},
                    [])]
    previous = ref("x")
    for conv, conv_config, norm, norm_config in PAIRS:
        if kind == "distinct":
            for index in range(calls):
                names = ("%s%d" % (conv, index), "%s%d" % (norm, index))
                layers.append(layer("Conv2D", names[0], conv_config, [[previous]]))
                layers.append(layer("BatchNormalization", names[1], norm_config,
                                    [[ref(names[0])]]))
                previous = ref(names[1])
        else:
            conv_calls = [[previous]] + [[ref(norm, index)] for index in range(calls - 1)]
            layers.append(layer("Conv2D", conv, conv_config, conv_calls))
            layers.append(layer("BatchNormalization", norm, norm_config,
                                [[ref(conv, index)] for index in range(calls)]))
            previous = ref(norm, calls - 1)
    return {"class_name": "Functional", "config": {
        "name": "pairs_" + kind, "layers": layers, "input_layers": [["x", 0, 0]],
        "output_layers": [[previous[0], previous[1], 0]]}}


def pair_weights():
    """Each layer's weights, by Keras's names"""
    rng = np.random.default_rng(37)

    def normal(shape, fan_in):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    def norm(scale):
        weights = [("gamma", (1 + 0.2 * rng.standard_normal(CHANNELS)).astype(np.float32))] \
            if scale else []
        return weights + [("beta", normal(CHANNELS, 25)),
                          ("moving_mean", normal(CHANNELS, 25)),
                          ("moving_variance",
                           rng.uniform(0.5, 2, CHANNELS).astype(np.float32))]

    return {"point": [("kernel", normal((1, 1, CHANNELS, CHANNELS), CHANNELS))],
            "point_bn": norm(True),
            "wide": [("kernel", normal((3, 3, CHANNELS, CHANNELS), 9 * CHANNELS)),
                     ("bias", normal(CHANNELS, 25))],
            "wide_bn": norm(False)}


def pair_by_layer(kind, arrays):
    if kind != "distinct":
        return arrays
    return {"%s%d" % (name, index): weights for name, weights in arrays.items()
            for index in range(CALLS)}


def pair_reference(x, arrays):
    x = x.astype(np.float64)
    w = {name: {weight: array.astype(np.float64) for weight, array in weights}
         for name, weights in arrays.items()}
    for conv, _, norm, config in PAIRS:
        kernel = w[conv]["kernel"]
        bias = w[conv].get("bias", np.zeros(CHANNELS))
        gamma = w[norm].get("gamma", np.ones(CHANNELS))
        for _ in range(CALLS):
            x = conv_same(x, kernel, bias)
            x = (x - w[norm]["moving_mean"]) / np.sqrt(w[norm]["moving_variance"]
                                                       + config["epsilon"])
            x = x * gamma + w[norm]["beta"]
    return x


#  A process's peak resident set (ru_maxrss) counts what it held before its
#  exec, and a child of this one starts as a copy of it (numpy loaded): so
#  zinfer is started from a small Python of its own, which reports the peak
#  of its child alone
MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss * 1024)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss(command):
    """Runs command; returns (exit code, stderr, peak resident set in bytes)"""
    result = subprocess.run([sys.executable, "-S", "-c", MEASURE] + command,
                            capture_output=True, text=True, timeout=300)
    peak = int(result.stdout.split()[-1]) if result.stdout.split() else 0
    return result.returncode, result.stderr, peak


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


TOPOLOGY = """model: "{model}"
transport: tcp
processes:
  - name: front
    threads: 2
  - name: back
    threads: 2
placement:
  - process: front
    to: "point_2"
  - process: back
    from: "point_3"
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--port-base", type=int, required=True)
    options = parser.parse_args()
    zinfer = os.path.abspath(options.zinfer)
    failures = 0

    def check(ok, what, detail=""):
        nonlocal failures
        failures += not ok
        print("%s %s%s" % ("ok  " if ok else "FAIL", what,
                           ": " + detail if detail and not ok else ""), flush=True)
        return ok

    arrays = weights()
    rng = np.random.default_rng(31)
    inputs = {batch: rng.standard_normal((batch, SIZE, SIZE, CHANNELS)).astype(np.float32)
              for batch in (1, 3)}
    with tempfile.TemporaryDirectory(prefix="zinfer-packed-") as folder:
        paths, rss, answers = {}, {}, {}
        for batch, x in inputs.items():
            np.save(os.path.join(folder, "x%d.npy" % batch), x)
        for kind in ("once", "shared", "distinct"):
            os.makedirs(os.path.join(folder, kind))
            paths[kind] = os.path.join(folder, kind, "model.json")
            write_model_json(os.path.join(folder, kind), model(kind),
                             {name: tuple(array for _, array in pairs)
                              for name, pairs in by_layer(kind, arrays).items()})
            answer = os.path.join(folder, kind + ".npy")
            # The median of three runs: one run's peak can catch a stray page
            peaks = []
            for _ in range(3):
                code, stderr, peak = peak_rss([zinfer, "run", paths[kind], "--threads", "1",
                                               "--input", os.path.join(folder, "x1.npy"),
                                               "--output", answer])
                if not check(code == 0, "zinfer run %s/model.json" % kind, stderr.strip()):
                    return 1
                peaks.append(peak)
            rss[kind] = sorted(peaks)[1]
            answers[kind] = np.load(answer)

        # One packed copy: what the three layers' kernels take in float32
        # (zi_mm's form is a little larger, Winograd's several times)
        one_copy = sum(kernel.nbytes for kernel, _ in arrays.values())
        grown = rss["shared"] - rss["once"]
        apart = rss["distinct"] - rss["once"]
        print("     peak RSS: once %.1f MB, shared (%d calls) %.1f MB, distinct %.1f MB; "
              "one copy of the kernels %.1f MB" % (rss["once"] / 1e6, CALLS,
                                                   rss["shared"] / 1e6, rss["distinct"] / 1e6,
                                                   one_copy / 1e6))
        check(grown < one_copy / 2,
              "calling each layer %d times packs its weights once: peak RSS grows by "
              "%.1f MB, under half a copy (%.1f MB)" % (CALLS, grown / 1e6, one_copy / 2e6))
        check(apart > (CALLS - 1) * one_copy,
              "the same weights as %d layers each are packed %d times: peak RSS grows "
              "by %.1f MB, over %d copies (%.1f MB)" % (CALLS, CALLS, apart / 1e6, CALLS - 1,
                                                       (CALLS - 1) * one_copy / 1e6))
        check(answers["shared"].tobytes() == answers["distinct"].tobytes(),
              "the shared layers answer bit for bit as the distinct ones",
              "max difference %s" % np.abs(answers["shared"] - answers["distinct"]).max())
        for suffix, write in ((".keras", write_keras_files.write_keras),
                              (".h5", write_keras_files.write_h5)):
            paths["shared" + suffix] = os.path.join(folder, "shared" + suffix)
            write(paths["shared" + suffix], model("shared"), by_layer("shared", arrays))
            answer = os.path.join(folder, "shared%s.npy" % suffix)
            result = run([zinfer, "run", paths["shared" + suffix], "--threads", "1",
                          "--input", os.path.join(folder, "x1.npy"), "--output", answer])
            check(result.returncode == 0 and np.load(answer).tobytes()
                  == answers["shared"].tobytes(),
                  "shared%s answers bit for bit as its model.json" % suffix, result.stderr)
        want = reference(inputs[1], arrays)
        check(np.allclose(answers["shared"], want, rtol=1e-4, atol=1e-5),
              "and as numpy within 1e-4", "max difference %s" %
              np.abs(answers["shared"] - want).max())

        # Conv2D + BatchNormalization pairs called CALLS times fold once
        pair_arrays = pair_weights()
        pair_rss, pair_answers = {}, {}
        for kind in ("once", "shared", "distinct"):
            where = os.path.join(folder, "pairs_" + kind)
            os.makedirs(where)
            write_keras_files.write_model_json(where, pair_model(kind), pair_by_layer(kind, pair_arrays))
            answer = os.path.join(folder, "pairs_%s.npy" % kind)
            peaks = []
            for _ in range(3):
                code, stderr, peak = peak_rss([zinfer, "run", os.path.join(where, "model.json"),
                                               "--threads", "1",
                                               "--input", os.path.join(folder, "x1.npy"),
                                               "--output", answer])
                if not check(code == 0, "zinfer run pairs_%s/model.json" % kind,
                             stderr.strip()):
                    return 1
                peaks.append(peak)
            pair_rss[kind] = sorted(peaks)[1]
            pair_answers[kind] = np.load(answer)
        # zinfer info's packed bytes after planning: the calls of a pair
        # share one form, where distinct pairs pack one each
        packed = {}
        for kind in ("once", "shared", "distinct"):
            result = run([zinfer, "info", "--fuse",
                          os.path.join(folder, "pairs_" + kind, "model.json")])
            lines = [line for line in result.stdout.splitlines()
                     if line.startswith("packed weights:")]
            packed[kind] = lines[0] if lines else result.stdout + result.stderr
        forms = {kind: packed[kind].split(":")[1].split(",")[:2] for kind in packed}
        # How many forms one call packs depends on the machine: a deep
        # 3x3 product goes to OpenBLAS's sgemm on its own weights where
        # OpenBLAS runs this CPU's kernels (AVX2 CPUs), so only the 1x1
        # pair packs there; zi_mm packs both elsewhere
        once_forms = re.match(r"\s*(\d+) forms", forms["once"][0])
        once_forms = int(once_forms.group(1)) if once_forms else 0
        check(forms["shared"] == forms["once"] and once_forms in (1, 2)
              and "%d forms" % (once_forms * CALLS) in forms["distinct"][0],
              "zinfer info --fuse: the shared pairs pack what one call does (%s), distinct "
              "ones %d times as many" % (packed["once"], CALLS),
              "%s / %s / %s" % (packed["once"], packed["shared"], packed["distinct"]))
        one_copy = sum(array.nbytes for name, _, _, _ in PAIRS
                       for weight, array in pair_arrays[name] if weight == "kernel")
        grown = pair_rss["shared"] - pair_rss["once"]
        print("     peak RSS: pairs once %.1f MB, shared (%d calls) %.1f MB, distinct %.1f MB; "
              "one copy of the kernels %.1f MB" % (pair_rss["once"] / 1e6, CALLS,
                                                   pair_rss["shared"] / 1e6,
                                                   pair_rss["distinct"] / 1e6, one_copy / 1e6))
        check(grown < one_copy / 2,
              "calling each Conv2D + BatchNormalization pair %d times folds and packs its "
              "weights once: peak RSS grows by %.1f MB, under half a copy (%.1f MB)"
              % (CALLS, grown / 1e6, one_copy / 2e6))
        check(pair_answers["shared"].tobytes() == pair_answers["distinct"].tobytes(),
              "the shared pairs answer bit for bit as the distinct ones",
              "max difference %s" % np.abs(pair_answers["shared"]
                                           - pair_answers["distinct"]).max())
        pairs_keras = os.path.join(folder, "pairs_shared.keras")
        write_keras_files.write_keras(pairs_keras, pair_model("shared"), pair_arrays)
        answer = os.path.join(folder, "pairs_shared_keras.npy")
        result = run([zinfer, "run", pairs_keras, "--threads", "1",
                      "--input", os.path.join(folder, "x1.npy"), "--output", answer])
        check(result.returncode == 0 and np.load(answer).tobytes()
              == pair_answers["shared"].tobytes(),
              "pairs_shared.keras answers bit for bit as its model.json", result.stderr)
        want = pair_reference(inputs[1], pair_arrays)
        check(np.allclose(pair_answers["shared"], want, rtol=1e-4, atol=1e-4),
              "and as numpy within 1e-4", "max difference %s" %
              np.abs(pair_answers["shared"] - want).max())

        # Placed over processes and threads: each process packs its own,
        # and threads planning a new batch size at once share the forms
        topology = os.path.join(folder, "split.yaml")
        with open(topology, "w") as handle:
            handle.write(TOPOLOGY.format(model=paths["shared.keras"]))
        result = run([zinfer, "plan", topology, "--base-port", str(options.port_base)])
        check(result.returncode == 0 and "process back" in result.stdout,
              "zinfer plan places the calls over 2 processes", result.stdout + result.stderr)
        up = Up(zinfer, topology, options.port_base)
        try:
            if check(up.ready, "zinfer up starts it", "".join(up.stderr[-20:])):
                for batch in (1, 3):
                    data = os.path.join(folder, "x%d.npy" % batch)
                    want_path = os.path.join(folder, "want%d.npy" % batch)
                    got_path = os.path.join(folder, "got%d.npy" % batch)
                    result = run([zinfer, "run", paths["shared.keras"], "--threads", "1",
                                  "--input", data, "--output", want_path])
                    check(result.returncode == 0, "zinfer run, batch %d" % batch,
                          result.stderr)
                    result = run([zinfer, "infer", topology, "--base-port",
                                  str(options.port_base), "--input", data,
                                  "--output", got_path, "--timeout", "60000"])
                    if check(result.returncode == 0, "zinfer infer answers batch %d" % batch,
                             result.stderr):
                        got, want = np.load(got_path), np.load(want_path)
                        check(got.shape == want.shape and got.tobytes() == want.tobytes(),
                              "batch %d: the split answer is bit for bit zinfer run's" % batch,
                              "max difference %s" % np.abs(got - want).max())
        finally:
            up.stop()
    print("packed_once_test: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
