#!/usr/bin/python3
"""Dynamic shapes and batching in running topologies.

A model that leaves dimensions open (batch, image size) is served at any
size through a split topology, sizes mixed from concurrent clients, each
answer bitwise equal to `zinfer run` on the same input; a shape the model
cannot take is refused to its client while the others are served; the
gateway stacks concurrent requests into batches, cuts the answers back to
each client, and fails every request of a batch it cannot serve.

    /usr/bin/python3 tests/topology/dynamic_test.py --zinfer build/zinfer \
        --models build/models --case NAME [--port-base BASE]
"""

import os
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import topotest  # noqa: E402
from topotest import Failure, check, local_result  # noqa: E402
from topotest import Topology, top_json, zinfer_client  # noqa: E402


MODEL_SCRIPT = r'''
import sys, torch, torch.nn as nn
torch.manual_seed(7)

class Net(nn.Module):
    """Two convolutions, a global pool, and (head) a fully connected layer
    behind the x.view(x.size(0), -1) that exporters turn into a Reshape
    whose shape is computed from the input's: planning folds it to
    constants of each request's batch size."""
    def __init__(self, head):
        super().__init__()
        self.head = head
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1)) if self.head else x

for head, path in ((True, sys.argv[1]), (False, sys.argv[2])):
    torch.onnx.export(Net(head).eval(), (torch.randn(2, 3, 16, 16),), path,
                      input_names=["input"], output_names=["output"], opset_version=17,
                      dynamic_axes={"input": {0: "batch", 2: "h", 3: "w"},
                                    "output": {0: "batch"}})
'''


def make_models(folder):
    """Exports the test's two models (batch, height and width open) into
    folder: with the fully connected head, and convolutions only"""
    script = os.path.join(folder, "make_dynamic.py")
    with open(script, "w") as handle:
        handle.write(MODEL_SCRIPT)
    head, convs = os.path.join(folder, "dynamic.onnx"), os.path.join(folder, "dynamic_convs.onnx")
    subprocess.run([sys.executable, script, head, convs], check=True, capture_output=True)
    return head, convs


def write(folder, name, lines):
    path = os.path.join(folder, name)
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def two_processes(folder, model, port, first_to, extra=(), transport="tcp"):
    """model in two processes: p0 up to first_to, p1 the rest"""
    return write(folder, f"topology-{port}.yaml", [
        f"name: dynamic-{port}", f"model: {model}", f"base_port: {port}",
        f"transport: {transport}", *extra,
        "processes:", "  - name: p0", "  - name: p1",
        "placement:", "  - process: p0", f"    to: {first_to}", "default: p1"])


class Expected:
    """zinfer run --threads 1 on one input, each input once"""

    def __init__(self, zinfer, model, folder):
        self.zinfer, self.model, self.folder = zinfer, model, folder
        self.count = 0

    def __call__(self, x):
        self.count += 1
        path = os.path.join(self.folder, f"expected-{self.count}.npy")
        np.save(path, x)
        return local_result(self.zinfer, self.model, [path], self.folder)


def gateway_stats(args, path):
    return next(p["gateway"] for p in top_json(args, path)["processes"] if "gateway" in p)


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def dynamic_shapes_case(args, folder, port):
    """Batch, height and width sized by each request, through two
    processes: three clients at once, one cycling batch 1, 3 and 8, one
    cycling through more image sizes than the plan cache holds, one
    sending a wrong channel count and a tensor beyond max_tensor_bytes
    between good requests; every answer bitwise equal to zinfer run"""
    model, _ = make_models(folder)
    # 1 MiB: batch 8 of 72x72 images makes a 1.3 MB activation
    path = two_processes(folder, model, port, "/c2/Conv",
                         ["plan_cache: 3", "max_tensor_bytes: 1048576"])
    expected = Expected(args.zinfer, model, folder)
    rng = np.random.default_rng(5)
    batches = [rng.standard_normal((b, 3, 16, 16)).astype(np.float32) for b in (1, 3, 8) * 3]
    sizes = [(h, w) for h in (5, 9, 16) for w in (7, 16)]
    images = [rng.standard_normal((2, 3, h, w)).astype(np.float32) for h, w in sizes * 2]
    good = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    answers, errors, refusals = {}, [], []

    def serve(name, inputs):
        try:
            client = zinfer_client.Client(topology.endpoint)
            answers[name] = [client.infer([x])[0] for x in inputs]
            client.close()
        except Exception as error:  # reported below
            errors.append(f"{name}: {error!r}")

    def misbehave():
        try:
            client = zinfer_client.Client(topology.endpoint)
            outcome = []
            for x in (rng.standard_normal((2, 4, 16, 16)).astype(np.float32), good,
                      rng.standard_normal((8, 3, 72, 72)).astype(np.float32), good):
                try:
                    outcome.append(client.infer([x])[0])
                except zinfer_client.ZinferError as error:
                    refusals.append(str(error))
                    outcome.append(None)
            answers["misbehaving"] = outcome
            client.close()
        except Exception as error:  # reported below
            errors.append(f"misbehaving: {error!r}")

    with Topology(args.zinfer, path) as topology:
        threads = [threading.Thread(target=serve, args=("batches", batches)),
                   threading.Thread(target=serve, args=("images", images)),
                   threading.Thread(target=misbehave)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        check(not errors, f"clients finished without errors {errors}")
        for name, inputs in (("batches", batches), ("images", images)):
            same = all(y.shape == (x.shape[0], 10) and y.tobytes() == expected(x).tobytes()
                       for x, y in zip(inputs, answers[name]))
            check(same, f"{name}: {len(inputs)} answers of shapes "
                        f"{sorted({x.shape for x in inputs})} bitwise equal to zinfer run")
        outcome = answers["misbehaving"]
        check(len(refusals) == 2 and "expected float32 [-1, 3, -1, -1], got float32 "
              "[2, 4, 16, 16]" in refusals[0], f"a wrong channel count is refused: {refusals[:1]}")
        check("max_tensor_bytes" in refusals[1] and "[8, 8, 72, 72]" in refusals[1],
              f"a request beyond max_tensor_bytes is refused, naming it: {refusals[1:]}")
        want = expected(good).tobytes()
        check(outcome[1].tobytes() == want and outcome[3].tobytes() == want,
              "that client is served before and after its refusals")
        check(topology.stop() == 0, "zinfer up stopped cleanly")


def resnet18_dynbatch_case(args, folder, port):
    """resnet18 exported with a dynamic batch, split in two processes over
    ipc: two clients at once, batches 1, 3 and 8 interleaved, each answer
    bitwise equal to zinfer run on the same batch"""
    model = os.path.join(args.models, "resnet18_dynbatch_op17.onnx")
    path = two_processes(folder, model, port, "/layer2/layer2.1/conv2/Conv", transport="ipc")
    expected = Expected(args.zinfer, model, folder)
    rng = np.random.default_rng(18)
    inputs = {0: [rng.standard_normal((b, 3, 224, 224)).astype(np.float32) for b in (1, 3, 8)],
              1: [rng.standard_normal((b, 3, 224, 224)).astype(np.float32) for b in (3, 1)]}
    answers, errors = {}, []
    with Topology(args.zinfer, path) as topology:
        def one(index):
            try:
                client = zinfer_client.Client(topology.endpoint if index else
                                              topology.local_endpoint)
                answers[index] = client.infer_many([[x] for x in inputs[index]], inflight=2,
                                                   timeout=120)
                client.close()
            except Exception as error:  # reported below
                errors.append(f"client {index}: {error!r}")
        threads = [threading.Thread(target=one, args=(index,)) for index in inputs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        check(not errors, f"clients finished without errors {errors}")
        for index in inputs:
            same = all(y[0].shape == (x.shape[0], 1000)
                       and y[0].tobytes() == expected(x).tobytes()
                       for x, y in zip(inputs[index], answers[index]))
            check(same, f"client {index}: batches {[x.shape[0] for x in inputs[index]]} "
                        "bitwise equal to zinfer run")
        check(topology.stop() == 0, "zinfer up stopped cleanly")


def batching_case(args, folder, port):
    """The gateway stacks concurrent requests: answers cut back to each
    client bitwise equal to unbatched ones on convolutions (batch-invariant
    kernels), within float rounding through a fully connected layer (not
    batch-invariant, docs/topology.md); a request alone waits max_delay_us
    for company and no longer; a batch the topology cannot serve fails
    every request in it; batching a model with a fixed batch is refused"""
    head, convs = make_models(folder)
    rng = np.random.default_rng(9)

    # Convolutions only: bitwise equal however requests were stacked
    path = two_processes(folder, convs, port, "/c1/Conv",
                         ["batching: {max_batch: 8, max_delay_us: 20000}",
                          f"metrics: {{port: {port + 90}}}"])
    expected = Expected(args.zinfer, convs, folder)
    inputs = {k: [rng.standard_normal((1 + (k + i) % 2, 3, 16, 16)).astype(np.float32)
                  for i in range(6)] for k in range(4)}
    answers, errors = {}, []
    with Topology(args.zinfer, path) as topology:
        def one(index):
            try:
                client = zinfer_client.Client(topology.endpoint, resend=False)
                answers[index] = client.infer_many([[x] for x in inputs[index]], inflight=3)
                client.close()
            except Exception as error:  # reported below
                errors.append(f"client {index}: {error!r}")
        threads = [threading.Thread(target=one, args=(index,)) for index in inputs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        check(not errors, f"clients finished without errors {errors}")
        same = all(y[0].tobytes() == expected(x).tobytes()
                   for k in inputs for x, y in zip(inputs[k], answers[k]))
        check(same, "24 answers of batch 1 and 2, cut from batches, bitwise equal to zinfer run")
        stats = gateway_stats(args, path)
        check(stats["batched"] >= 4 and stats["batches"] < stats["batched"],
              f"requests went in batches ({stats['batched']} requests in "
              f"{stats['batches']} batches)")
        # The launcher refreshes what it serves from the workers' stats
        # now and then: read until the counters catch up, 15 s at most
        deadline, exported = time.monotonic() + 15, {}
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port + 90}/metrics",
                                        timeout=10) as page:
                text = page.read().decode()
            exported = {name: float(line.split()[-1]) for line in text.splitlines()
                        for name in ("zinfer_gateway_batches_total",
                                     "zinfer_gateway_batched_total")
                        if line.startswith(name)}
            if (exported.get("zinfer_gateway_batched_total", 0) >= stats["batched"]
                    and exported.get("zinfer_gateway_batches_total", 0) >= stats["batches"]):
                break
            time.sleep(0.2)
        check(exported.get("zinfer_gateway_batched_total", 0) >= stats["batched"]
              and exported.get("zinfer_gateway_batches_total", 0) >= stats["batches"],
              f"/metrics exports the batch counters ({exported})")

        # Alone, a request waits max_delay_us (20 ms) for company, no longer
        client = zinfer_client.Client(topology.endpoint, resend=False)
        client.infer([inputs[0][0]])
        waits = []
        for _ in range(5):
            started = time.monotonic()
            client.infer([inputs[0][0]])
            waits.append(time.monotonic() - started)
        client.close()
        check(0.020 <= min(waits) and sorted(waits)[2] < 0.020 + 0.030,
              f"a lone request waits 20 ms for company and then goes "
              f"({', '.join(f'{w * 1000:.1f}' for w in waits)} ms)")
        check(topology.stop() == 0, "zinfer up stopped cleanly")

    # Through Gemm: batch 1 runs as sgemv, larger batches as a matrix
    # product, so rows may differ in the last bits
    path = two_processes(folder, head, port + 20, "/c2/Conv",
                         ["batching: {max_batch: 8, max_delay_us: 100000}",
                          # a batch of 8 8x8 images: 16 KiB tensors, 1 is 2 KiB
                          "max_tensor_bytes: 8192"])
    expected = Expected(args.zinfer, head, folder)
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint, resend=False)
        xs = [rng.standard_normal((1, 3, 4, 4)).astype(np.float32) for _ in range(4)]
        ys = client.infer_many([[x] for x in xs], inflight=4)
        close = all(np.allclose(y[0], expected(x), rtol=1e-5, atol=1e-6) for x, y in zip(xs, ys))
        check(close, "through a fully connected layer: batched answers within 1e-5 of zinfer run")
        # Eight at once go as one batch, whose activations are beyond
        # max_tensor_bytes: each of the eight gets the error, and a
        # request alone is served afterwards
        small = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(8)]
        ids = [client.send([x]) for x in small]
        failed = []
        for _ in ids:
            try:
                client.recv()
            except zinfer_client.ZinferError as error:
                failed.append(str(error))
        check(len(failed) == 8 and all("a batch of 8 requests: input 'input' [8, 3, 8, 8]"
                                       in text and "max_tensor_bytes" in text
                                       for text in failed),
              f"a batch beyond the bound fails every request in it: {failed[:1]}")
        alone = client.infer([small[0]])
        check(alone[0].tobytes() == expected(small[0]).tobytes(),
              "a request alone is served after that batch failed")
        client.close()
        check(topology.stop() == 0, "zinfer up stopped cleanly")

    # A model whose batch dimension is fixed cannot batch
    fixed = os.path.join(args.models, "tiny_cnn_op17.onnx")
    path = two_processes(folder, fixed, port + 40, "/conv1/Conv",
                         ["batching: {max_batch: 4}"])
    out = subprocess.run([args.zinfer, "up", path], capture_output=True, text=True, timeout=60)
    check(out.returncode != 0 and ":5:11: batching stacks requests along dimension 0, which "
          "the model must leave unknown; input 'input' is float32 [1, 1, 28, 28]" in out.stderr,
          f"batching a fixed batch is refused: {out.stderr.strip()[:200]}")


ROWS_SCRIPT = r"""
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

def model(path, nodes, inits=(), out_shape=("N", 4)):
    graph = helper.make_graph(
        nodes, "rows",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        [numpy_helper.from_array(np.asarray(v), name) for name, v in inits])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)

w = np.arange(16, dtype=np.float32).reshape(4, 4) / 16
folder = sys.argv[1]
# Rows apart: a weight on the right, softmax along the features, a reshape keeping dim 0
model(folder + "/apart.onnx", [
    helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
    helper.make_node("Softmax", ["h"], ["s"], name="soft", axis=-1),
    helper.make_node("Reshape", ["s", "shape"], ["y"], name="keep")],
    [("w", w), ("shape", np.array([0, -1], np.int64))])
# Rows mixed, each a different way
model(folder + "/fold.onnx", [
    helper.make_node("Reshape", ["x", "shape"], ["y"], name="fold")],
    [("shape", np.array([-1, 2], np.int64))], ("M", 2))
model(folder + "/reduce.onnx", [
    helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="total", keepdims=1)],
    [("axes", np.array([0], np.int64))], (1, 4))
model(folder + "/softmax0.onnx", [
    helper.make_node("Softmax", ["x"], ["y"], name="soft0", axis=0)])
model(folder + "/gram.onnx", [
    helper.make_node("Transpose", ["x"], ["xt"], name="turn", perm=[1, 0]),
    helper.make_node("MatMul", ["xt", "x"], ["y"], name="gram")], (), (4, 4))
model(folder + "/concat.onnx", [
    helper.make_node("Concat", ["x", "pad"], ["y"], name="append", axis=0)],
    [("pad", np.zeros((1, 4), np.float32))], ("M", 4))
model(folder + "/flatten0.onnx", [
    helper.make_node("Flatten", ["x"], ["y"], name="flat", axis=0)], (), (1, "M"))
model(folder + "/place.onnx", [
    helper.make_node("Add", ["x", "bias"], ["y"], name="by_place")],
    [("bias", np.arange(20, dtype=np.float32).reshape(5, 4))])
"""


def batching_rows_case(args, folder, port):
    """Batching is refused at load for a model that mixes the rows of a
    batch, naming the first node that does and how, and accepted for one
    that keeps them apart and for every model of the model set (their
    dimension 0 opened to any size)"""
    import onnx
    script = os.path.join(folder, "make_rows.py")
    with open(script, "w") as handle:
        handle.write(ROWS_SCRIPT)
    subprocess.run([sys.executable, script, folder], check=True, capture_output=True)

    def plan(model, name):
        path = write(folder, f"{name}.yaml", [
            f"name: rows-{name}", f"model: {model}", f"base_port: {port}",
            "batching: {max_batch: 4}", "processes:", "  - name: p0", "default: p0"])
        return subprocess.run([args.zinfer, "plan", path, "--runs", "1"], capture_output=True, text=True,
                               timeout=300)

    out = plan(os.path.join(folder, "apart.onnx"), "apart")
    check(out.returncode == 0, f"rows kept apart are accepted: {out.stderr.strip()[:300]}")
    refused = {
        "fold": "node 'fold' (Reshape) folds the batch axis (axis 0 of [5, 4]) into others: "
                "[5, 4] -> [10, 2]",
        "reduce": "node 'total' (ReduceSum) reduces along axis 0, where the batch runs",
        "softmax0": "node 'soft0' (Softmax) normalises along axis 0, where the batch runs",
        "gram": "node 'gram' (MatMul) contracts axis 1 of 'xt', where the batch runs",
        "concat": "node 'append' (Concat) concatenates along axis 0, where the batch runs",
        "flatten0": "node 'flat' (Flatten) folds the batch axis",
        "place": "node 'by_place' (Add) meets the batch with 'bias', whose rows along the "
                 "batch axis differ",
    }
    for name, why in refused.items():
        out = plan(os.path.join(folder, f"{name}.onnx"), name)
        check(out.returncode != 0 and ":4:11: batching needs each row of an answer computed "
              "from the same row of the inputs alone; " in out.stderr and why in out.stderr,
              f"{name} is refused, saying '{why}': {out.stderr.strip()[:400]}")

    # Every model of the set, its inputs' dimension 0 opened
    checked = 0
    for file in sorted(os.listdir(args.models)):
        if not file.endswith(".onnx"):
            continue
        proto = onnx.load(os.path.join(args.models, file))
        for value in list(proto.graph.input) + list(proto.graph.output):
            dim = value.type.tensor_type.shape.dim[0]
            dim.Clear()
            dim.dim_param = "batch"
        opened = os.path.join(folder, "open-" + file)
        onnx.save(proto, opened)
        out = plan(opened, "open-" + file[:-5])
        check(out.returncode == 0, f"{file} keeps rows apart: {out.stderr.strip()[:400]}")
        os.remove(opened)
        checked += 1
    check(checked >= 20, f"every model of the set checked ({checked})")


CASES = {
    "dynamic_shapes": dynamic_shapes_case,
    "resnet18_dynbatch_2_ipc": resnet18_dynbatch_case,
    "batching": batching_case,
    "batching_rows": batching_rows_case,
}


if __name__ == "__main__":
    try:
        sys.exit(topotest.main(CASES, __doc__, prefix="zinfer-dynamic-"))
    except Failure as failure:
        print("FAIL", failure, flush=True)
        sys.exit(1)
