#!/usr/bin/python3
"""Distributed tests for zinfer: start real topologies, check real answers.

Each case writes a topology YAML for one of the test models into a temporary
folder, starts it with `zinfer up` on 127.0.0.1 with a base port of its own,
sends requests through `zinfer infer` or the Python client, and checks the
answers bit for bit against `zinfer run --threads 1` on the same model.
Everything it starts is stopped again, also when a check fails.

    /usr/bin/python3 tests/topology/topotest.py --zinfer build/zinfer \
        --models build/models --case NAME [--port BASE]
    /usr/bin/python3 tests/topology/topotest.py --list
"""

import argparse
import faulthandler
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "engine", "client"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import zinfer_client  # noqa: E402  (the Python client, engine/client/zinfer_client.py)
from zinfer_harness import (HarnessError, Topology, node_names, range_placement,  # noqa: E402
                            ranges, write_topology)


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print("ok  ", message, flush=True)


def local_result(zinfer, model, inputs, folder, fuse=True):
    out = os.path.join(folder, "local.npy")
    args = [zinfer, "run", model, "--threads", "1", "--output", out]
    for path in inputs:
        args += ["--input", path]
    if not fuse:
        args.append("--no-fuse")
    subprocess.run(args, check=True, capture_output=True)
    return np.load(out)


def workers_of(pid_of_up):
    """Worker processes whose parent is the launcher."""
    out = subprocess.run(["pgrep", "-P", str(pid_of_up)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def split_case(model_name, parts, transport, per_actor=False, replicas=0, requests=20,
               inflight=1, clients=1, threads=1):
    def run(args, folder, port):
        model = os.path.join(args.models, model_name + ".onnx")
        data = os.path.join(args.models, model_name + ".input.npy")
        names = node_names(args.zinfer, model)
        if per_actor:
            processes = [f"p{i}" for i in range(len(names))]
            placement = []
            for i, name in enumerate(names):
                placement += [f"  - process: p{i}", f"    node: {name}"]
        else:
            processes = [f"p{i}" for i in range(parts)]
            placement = range_placement(ranges(names, parts))
        if replicas:
            # Replicate the second node of the last process's range
            target = names[names.index(ranges(names, parts)[-1][0]) + 1]
            print(f"    replicating {target} x{replicas}", flush=True)
            placement = rebuild_with_replica(names, parts, target, replicas)
        path = write_topology(folder, model, processes, placement, port, transport, threads=threads)
        want = local_result(args.zinfer, model, [data], folder)
        with Topology(args.zinfer, path) as topology:
            x = np.load(data)
            results = {}
            errors = []

            def one_client(index):
                try:
                    # Odd clients take the gateway's ipc endpoint for this host
                    client = zinfer_client.Client(topology.local_endpoint if index % 2
                                                  else topology.endpoint)
                    # Each client perturbs its input so answers are told apart
                    mine = (x + np.float32(index)).astype(np.float32)
                    answers = client.infer_many([[mine]] * requests, inflight=inflight)
                    results[index] = (mine, answers)
                    client.close()
                except Exception as error:  # reported below
                    errors.append(f"client {index}: {error!r}")

            workers = [threading.Thread(target=one_client, args=(i,)) for i in range(clients)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            check(not errors, f"clients finished without errors {errors}")
            for index in range(clients):
                mine, answers = results[index]
                check(len(answers) == requests, f"client {index}: {requests} answers")
                if index == 0:
                    expected = want
                else:
                    inp = os.path.join(folder, f"in{index}.npy")
                    np.save(inp, mine)
                    expected = local_result(args.zinfer, model, [inp], folder)
                same = all(a[0].dtype == expected.dtype and a[0].shape == expected.shape
                           and a[0].tobytes() == expected.tobytes() for a in answers)
                check(same, f"client {index}: every answer bitwise equal to zinfer run")
            # The CLI client too, on the first input: through the topology
            # (ipc on this host) and at the tcp endpoint
            for target in ([path], ["--endpoint", topology.endpoint]):
                out = os.path.join(folder, "remote.npy")
                subprocess.run([args.zinfer, "infer"] + target + ["--input", data,
                               "--output", out], check=True, capture_output=True)
                check(np.load(out).tobytes() == want.tobytes(),
                      f"zinfer infer {target[-1].split(':')[0]}: bitwise equal")
            code = topology.stop()
            check(code == 0, f"zinfer up stopped cleanly (exit {code})")
    return run


def rebuild_with_replica(names, parts, target, replicas):
    placement = []
    for i, (first, last) in enumerate(ranges(names, parts)):
        lo, hi = names.index(first), names.index(last)
        chunk = names[lo:hi + 1]
        if target in chunk:
            at = chunk.index(target)
            if at > 0:
                placement += [f"  - process: p{i}", f"    from: {chunk[0]}", f"    to: {chunk[at - 1]}"]
            placement += [f"  - process: p{i}", f"    node: {target}", f"    replicas: {replicas}"]
            if at + 1 < len(chunk):
                placement += [f"  - process: p{i}", f"    from: {chunk[at + 1]}", f"    to: {chunk[-1]}"]
        else:
            placement += [f"  - process: p{i}", f"    from: {first}", f"    to: {last}"]
    return placement


def runtime_folder():
    """Where zinfer keeps this user's runtime files (docs/security.md):
    $XDG_RUNTIME_DIR/zinfer when that is a private folder of ours"""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        info = os.stat(xdg)
        if info.st_uid == os.getuid() and info.st_mode & 0o077 == 0:
            return os.path.join(xdg, "zinfer")
    return f"/tmp/zinfer-{os.getuid()}"


def no_orphans_case(args, folder, port):
    """SIGINT or SIGTERM to zinfer up leaves no worker behind, and so
    does SIGKILL (workers die with their launcher)."""
    model = os.path.join(args.models, "tiny_cnn_op13.onnx")
    names = node_names(args.zinfer, model)
    path = write_topology(folder, model, ["p0", "p1", "p2"], range_placement(ranges(names, 3)),
                          port, "ipc")
    for how in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        topology = Topology(args.zinfer, path)
        workers = workers_of(topology.process.pid)
        check(len(workers) == 3, f"three workers running ({workers})")
        topology.process.send_signal(how)
        topology.process.wait(timeout=15)
        deadline = time.time() + 10
        alive = workers
        while alive and time.time() < deadline:
            time.sleep(0.05)
            alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}")
                     and "zombie" not in open(f"/proc/{pid}/status").read().lower()]
        check(not alive, f"after {signal.Signals(how).name}: no worker left ({alive})")
    # A launcher killed outright leaves its control socket; the next one
    # removes it
    control = os.path.join(runtime_folder(), f"up-{topology.process.pid}.ctl")
    check(os.path.exists(control), "the killed launcher's control socket is left behind")
    with Topology(args.zinfer, path):
        check(not os.path.exists(control), "the next zinfer up removes it")


def one_thread_case(args, folder, port):
    """Every node of resnet18 in one process with one worker thread:
    hundreds of actors, one thread, no deadlock, even with many requests
    in flight."""
    model = os.path.join(args.models, "resnet18_op17.onnx")
    data = os.path.join(args.models, "resnet18_op17.input.npy")
    path = write_topology(folder, model, ["all"], [], port, "ipc", threads=1)
    want = local_result(args.zinfer, model, [data], folder)
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        x = np.load(data)
        answers = client.infer_many([[x]] * 16, inflight=16, timeout=120)
        check(len(answers) == 16, "16 answers with 16 in flight on one thread")
        check(all(a[0].tobytes() == want.tobytes() for a in answers), "all bitwise equal")
        client.close()


def inflight_case(args, folder, port):
    """1,000 requests in flight through a 4-process split, each answer
    matched to its own request (inputs differ per request)."""
    model = os.path.join(args.models, "tiny_cnn_op17.onnx")
    data = os.path.join(args.models, "tiny_cnn_op17.input.npy")
    names = node_names(args.zinfer, model)
    path = write_topology(folder, model, ["p0", "p1", "p2", "p3"],
                          range_placement(ranges(names, 4)), port, "tcp")
    x = np.load(data)
    rng = np.random.default_rng(5)
    count = 1000
    inputs = [rng.standard_normal(x.shape).astype(np.float32) for _ in range(count)]
    # Every answer must be its own request's: a sample is checked bit for
    # bit against zinfer run, and all answers must differ (as the inputs do)
    expected = []
    for i in range(0, count, 97):
        sample = os.path.join(folder, f"sample{i}.npy")
        np.save(sample, inputs[i])
        expected.append((i, local_result(args.zinfer, model, [sample], folder)))
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        ids = [client.send([inp]) for inp in inputs]
        check(client.pending() == count, f"{count} requests in flight")
        answers = {}
        while len(answers) < count:
            rid, outputs = client.recv(timeout=60)
            if rid in answers:
                raise Failure(f"answer {rid} arrived twice")
            answers[rid] = outputs
        check(sorted(answers) == sorted(ids), "every request answered exactly once")
        for i, want in expected:
            check(answers[ids[i]][0].tobytes() == want.tobytes(),
                  f"request {i}: answer is its own, bitwise equal to zinfer run")
        distinct = len({answers[r][0].tobytes() for r in ids})
        check(distinct == count, f"{distinct} distinct answers for {count} distinct inputs")
        client.close()


def relu(x):
    """Relu as PyTorch computes it (and zinfer): -0 and NaN pass through,
    where np.maximum (x, 0) gives +0 for -0"""
    return np.where(x < 0, np.float32(0), x)


def relu_neg_topology(folder, port, shape, transport):
    """y = -relu(x) on float32 of the given shape, Relu in process p0 and
    Neg in p1, so that x and y both cross a process boundary"""
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("Neg", ["r"], ["y"], name="neg")],
        "relu_neg", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = os.path.join(folder, "relu_neg.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    placement = ["  - process: p0", "    node: relu", "  - process: p1", "    node: neg"]
    return write_topology(folder, model, ["p0", "p1"], placement, port, transport)


def huge_tensor_case(args, folder, port):
    """No size caps: a 256 MiB tensor crosses a tcp hop between two
    processes (Relu in one, Neg in the other), and comes back intact, at
    the default liveness deadline."""
    shape = [64, 1024, 1024]                       # 256 MiB of float32
    path = relu_neg_topology(folder, port, shape, "tcp")
    x = np.random.default_rng(3).standard_normal(shape, dtype=np.float32)
    want = -relu(x)
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        start = time.time()
        (y,) = client.infer([x], timeout=120)
        seconds = time.time() - start
        check(y.shape == tuple(shape) and y.tobytes() == want.tobytes(),
              f"256 MiB through a tcp hop and back, bitwise right ({seconds:.2f} s)")
        client.close()
        # Hashing, relaying and copying 256 MiB keeps a thread from its loop
        # for a while, but on the CPU: busy, never killed as hung
        killed = [line.strip() for line in topology.stderr if "killing" in line]
        check(not killed, f"no worker was killed as hung ({killed[:1]})")


def relay_case(args, folder, port):
    """A tensor crosses to another process once, however many consumers it
    has on one thread there: relu's output goes to neg, mul and a Concat
    that takes it 40 times in p1 (one message, handed on inside p1) and to
    abs in p2 (a second). Answers stay bitwise right, and relu sends two
    messages per request, not 43."""
    import onnx
    from onnx import TensorProto, helper
    shape = [1, 4, 32, 32]
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["a"], name="relu"),
         helper.make_node("Neg", ["a"], ["b"], name="neg"),
         helper.make_node("Mul", ["a", "b"], ["c"], name="mul"),
         helper.make_node("Abs", ["a"], ["d"], name="abs"),
         helper.make_node("Concat", ["a"] * 40, ["e"], name="concat", axis=1)],
        "relay", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, shape),
         helper.make_tensor_value_info("d", TensorProto.FLOAT, shape),
         helper.make_tensor_value_info("e", TensorProto.FLOAT,
                                       [shape[0], shape[1] * 40] + shape[2:])])
    model = os.path.join(folder, "relay.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    placement = ["  - process: p0", "    node: relu", "  - process: p1", "    node: neg",
                 "  - process: p1", "    node: mul", "  - process: p1", "    node: concat",
                 "  - process: p2", "    node: abs"]
    path = write_topology(folder, model, ["p0", "p1", "p2"], placement, port, "tcp")
    x = np.random.default_rng(11).standard_normal(shape, dtype=np.float32)
    a = relu(x)
    requests = 40
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        answers = client.infer_many([[x]] * requests, inflight=4)
        check(all(c.tobytes() == (a * -a).tobytes() and d.tobytes() == np.abs(a).tobytes()
                  and e.tobytes() == np.concatenate([a] * 40, axis=1).tobytes()
                  for c, d, e in answers), f"{requests} answers bitwise right")
        client.close()
        actors = {actor["name"]: actor for actor in top_json(args, path)["actors"]}
        sent = actors["relu"]["messages_out"]
        check(sent == 2 * requests, f"relu sent {sent} messages for {requests} requests: "
              f"one per process, not one per consumer")
        check(actors["neg"]["requests"] == requests and actors["mul"]["requests"] == requests,
              "neg and mul each computed every request")
        # The monitor counts what neg handed on as sent to mul (queue depths)
        to_mul = sent_to(args, path, "neg", actors["mul"]["index"])
        check(to_mul == 2 * requests, f"neg's monitor counts {to_mul} tensors to mul: its "
              f"own {requests} and the {requests} it handed on")


def control_flow_case(args, folder, port):
    """An If on the data, alone in a second process: its condition and the
    values its branches read from the enclosing graph (a weight, x, and
    relu (x) computed in p0) travel there as its inputs, it runs the
    branch the request takes inside its actor, and a Loop in p0 reads its
    answer. Answers for both branches are bitwise those of zinfer run."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(16)
    shape = [1, 16]

    def value(name, elem_type=TensorProto.FLOAT):
        return helper.make_tensor_value_info(name, elem_type, None)

    then_branch = helper.make_graph(
        [helper.make_node("MatMul", ["r", "w"], ["mm"], name="mm"),
         helper.make_node("Add", ["mm", "x"], ["t"], name="add")], "then", [], [value("t")])
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["r"], ["nr"], name="neg"),
         helper.make_node("Mul", ["nr", "x"], ["e"], name="mul")], "else", [], [value("e")])
    body = helper.make_graph(
        [helper.make_node("Tanh", ["h"], ["h_next"], name="tanh"),
         helper.make_node("Add", ["h_next", "b"], ["h_out"], name="bias"),
         helper.make_node("Identity", ["cond"], ["cond_out"], name="keep")], "body",
        [value("i", TensorProto.INT64), value("cond", TensorProto.BOOL), value("h")],
        [value("cond_out", TensorProto.BOOL), value("h_out")])
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("ReduceSum", ["x"], ["total"], name="total", keepdims=0),
         helper.make_node("Greater", ["total", "zero"], ["positive"], name="positive"),
         helper.make_node("If", ["positive"], ["chosen"], name="choose",
                          then_branch=then_branch, else_branch=else_branch),
         helper.make_node("Loop", ["trips", "", "chosen"], ["y"], name="loop", body=body)],
        "control", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        initializer=[numpy_helper.from_array(rng.standard_normal([16, 16]).astype(np.float32), "w"),
                     numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), "b"),
                     numpy_helper.from_array(np.array(0, np.float32), "zero"),
                     numpy_helper.from_array(np.array(3, np.int64), "trips")])
    model = os.path.join(folder, "control.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    names = node_names(args.zinfer, model)
    check("choose" in names and "loop" in names, f"the If and the Loop are planned nodes ({names})")
    placement = []
    for name in names:
        placement += [f"  - process: {'p1' if name == 'choose' else 'p0'}", f"    node: {name}"]
    path = write_topology(folder, model, ["p0", "p1"], placement, port, "tcp")
    inputs = [np.abs(rng.standard_normal(shape)).astype(np.float32) * sign
              for sign in (1, -1, 1, -1)]
    wants = []
    for index, x in enumerate(inputs):
        np.save(os.path.join(folder, f"x{index}.npy"), x)
        wants.append(local_result(args.zinfer, model, [os.path.join(folder, f"x{index}.npy")],
                                  folder))
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        answers = client.infer_many([[x] for x in inputs] * 5, inflight=4)
        check(all(y.tobytes() == wants[index % 4].tobytes() for index, (y,) in enumerate(answers)),
              f"{len(answers)} answers, both branches, bitwise those of zinfer run")
        client.close()
        actors = {actor["name"]: actor for actor in top_json(args, path)["actors"]}
        check(actors["choose"]["requests"] == len(answers),
              f"the If's actor computed every request ({actors['choose']['requests']})")


def split_topology(args, folder, port, model_name, parts, transport="tcp"):
    """A topology of model_name cut into parts processes by node count"""
    model = os.path.join(args.models, model_name + ".onnx")
    names = node_names(args.zinfer, model)
    path = write_topology(folder, model, [f"p{i}" for i in range(parts)],
                          range_placement(ranges(names, parts)), port, transport)
    return model, names, path


def three_way_split(args, folder, port, model_name, transport="tcp"):
    return split_topology(args, folder, port, model_name, 3, transport)


def one_stream_case(args, folder, port):
    """What one process sends to actors on one thread of another goes to
    one mailbox there, which hands each tensor on to its actor: relu's
    output crosses to abs and neg's to add, both in p1, and both arrive in
    abs's mailbox, which p1's thread waits on alone. Answers stay bitwise
    equal to a local run; the monitor shows add's mailbox listening on
    inproc only, abs handing each of neg's tensors on to add without
    taking it (counted as sent to add, as a relay's are), and add counting
    every one it took."""
    import onnx
    from onnx import TensorProto, helper
    shape = [1, 4, 32, 32]
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["a"], name="relu"),
         helper.make_node("Neg", ["a"], ["b"], name="neg"),
         helper.make_node("Abs", ["a"], ["d"], name="abs"),
         helper.make_node("Add", ["b", "d"], ["e"], name="add")],
        "one_stream", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, shape)])
    model = os.path.join(folder, "one_stream.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    placement = ["  - process: p0", "    node: relu", "  - process: p0", "    node: neg",
                 "  - process: p1", "    node: abs", "  - process: p1", "    node: add"]
    path = write_topology(folder, model, ["p0", "p1"], placement, port, "ipc")
    metrics_port = port + 30
    with open(path, "a") as handle:
        handle.write(f"metrics: {{port: {metrics_port}}}\n")
    x = np.random.default_rng(18).standard_normal(shape, dtype=np.float32)
    data = os.path.join(folder, "x.npy")
    np.save(data, x)
    want = local_result(args.zinfer, model, [data], folder)
    requests = 40
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        answers = client.infer_many([[x]] * requests, inflight=4)
        check(all(e.tobytes() == want.tobytes() for (e,) in answers),
              f"{requests} answers bitwise equal to a local run")
        client.close()
        actors = {actor["name"]: actor for actor in top_json(args, path)["actors"]}
        endpoints = actors["add"]["endpoints"]
        check(len(endpoints) == 1 and endpoints[0].startswith("inproc://"),
              f"add's mailbox listens on inproc only ({endpoints}): p1 receives one stream")
        check(len(actors["abs"]["endpoints"]) == 2, "abs's mailbox takes p0's tensors over ipc")
        # relu and neg run on one thread of p0 and send through one
        # connection: the ipc socket of abs's mailbox has one peer
        ipc = [e[len("ipc://"):] for e in actors["abs"]["endpoints"] if e.startswith("ipc://")]
        listing = subprocess.run(["ss", "-xH", "state", "connected"], capture_output=True,
                                 text=True).stdout
        peers = sum(1 for line in listing.splitlines() if ipc and f" {ipc[0]} " in f"{line} ")
        check(peers == 1, f"p0 reaches abs's mailbox through one connection ({peers} on {ipc})")
        handed = sent_to(args, path, "abs", actors["add"]["index"])
        # abs's own output and neg's tensor it handed on, both to add
        check(handed == 2 * requests, f"abs's monitor counts {handed} tensors to add: its own "
              f"{requests} and the {requests} of neg's it handed on")
        check(actors["abs"]["messages_in"] == requests
              and actors["add"]["messages_in"] == 2 * requests,
              f"abs counts the {actors['abs']['messages_in']} tensors it took, add the "
              f"{actors['add']['messages_in']} it took (its two inputs a request)")
        # Received counts what was taken from the mailbox, carried or not,
        # so that what senders sent there minus it is the queue (zinfer top)
        received = {}
        for name in ("abs", "add"):
            count = inspect_line(args, path, name, "received")
            received[name] = int(count.split()[0]) if count else -1
        check(received == {"abs": 2 * requests, "add": 2 * requests},
              f"abs's mailbox received {received['abs']} (its own and the carried), add "
              f"{received['add']} (handed over), as many as were sent to each")
        check(actors["relu"]["messages_out"] == 2 * requests
              and actors["neg"]["messages_out"] == requests,
              "relu and neg each send one message a consumer elsewhere")
        # zinfer trace draws neg's transfer to add, the actor that took it,
        # not to abs, whose mailbox only carried it
        trace_file = os.path.join(folder, "trace.json")
        result = subprocess.run([args.zinfer, "trace", path, "--input", data, "--out",
                                 trace_file], capture_output=True, text=True, timeout=120)
        check(result.returncode == 0, f"zinfer trace ran: {(result.stdout + result.stderr)[:300]}")
        transfers = {e["name"] for e in json.load(open(trace_file))["traceEvents"]
                     if e.get("cat") == "transfer"}
        check({"relu -> abs", "neg -> add", "abs -> add"} <= transfers
              and "neg -> abs" not in transfers,
              f"the trace's transfers follow the tensors ({sorted(transfers)})")
        # The web view's placement names the mailbox a carried edge lands
        # in, so that the page counts its messages where its sender counts
        # them (as sent to abs)
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/api/placement",
                                    timeout=10) as reply:
            placed = json.load(reply)
        index = {actor["name"]: i for i, actor in enumerate(placed["actors"])}
        lands = {(e["from"], e["to"]): e.get("mailbox") for e in placed["edges"]}
        check(lands.get((index["neg"], index["add"])) == index["abs"]
              and lands.get((index["relu"], index["abs"]), -2) is None,
              f"/api/placement: neg -> add lands in abs's mailbox, relu -> abs in its own "
              f"({lands})")
    # zinfer plan names the mailbox each crossing edge goes to
    out = subprocess.run([args.zinfer, "plan", path], capture_output=True, text=True,
                         timeout=120).stdout
    edges = {line.split(":")[0].strip(): line for line in out.splitlines()
             if " -> " in line and "bytes" in line}
    abs_mailbox = edges.get("relu -> abs", "").split(", ")[-1]
    check(edges.get("neg -> add", "").endswith(f"{abs_mailbox} (abs's mailbox)"),
          f"zinfer plan shows neg's tensor going to abs's mailbox ({edges.get('neg -> add')})")


def pipeline_order_case(args, folder, port):
    """Several requests in flight through a 2-process pipeline: each thread
    takes them one at a time down its chain (depth first), so the stages
    overlap instead of handing requests on in bursts. `zinfer trace
    --inflight` shows it: in each process the compute events of one
    request come in one run, never interleaved with another's; and every
    request passes every actor once, each after its producers. The cut
    is where one tensor crosses."""
    model = os.path.join(args.models, "mobilenet_v3_small_op17.onnx")
    data = os.path.join(args.models, "mobilenet_v3_small_op17.input.npy")
    names = node_names(args.zinfer, model)
    producers = producers_of(args.zinfer, model)
    # Cut near the middle where one tensor crosses: with two, the second
    # process would wait at a join for a request's other tensor and rightly
    # take the next request meanwhile
    def crossing(cut):
        return {p for n in names[cut:] for p in producers.get(n, []) if p in names[:cut]}
    cut = min((c for c in range(1, len(names)) if len(crossing(c)) == 1),
              key=lambda c: abs(c - len(names) // 2))
    placement = range_placement([(names[0], names[cut - 1]), (names[cut], names[-1])])
    path = write_topology(folder, model, ["p0", "p1"], placement, port, "tcp")
    requests = 6
    with Topology(args.zinfer, path, quiet=True):
        trace_file = os.path.join(folder, "trace.json")
        png_file = os.path.join(folder, "trace.png")
        script_file = os.path.join(folder, "trace.gp")
        result = subprocess.run([args.zinfer, "trace", path, "--input", data, "--out", trace_file,
                                 "--inflight", str(requests), "--png", png_file,
                                 "--gnuplot", script_file],
                                capture_output=True, text=True, timeout=120)
        check(result.returncode == 0 and f"{requests} requests in flight" in result.stdout,
              f"zinfer trace --inflight {requests} ran: {(result.stdout + result.stderr)[:300]}")
        events = json.load(open(trace_file))["traceEvents"]
        computes = [e for e in events if e.get("cat") == "compute"]
        for request in range(requests):
            mine = [e for e in computes if e["args"]["request"] == request]
            check(sorted(e["name"] for e in mine) == sorted(names),
                  f"request {request} passed every actor once")
            start = {e["name"]: e["ts"] for e in mine}
            end = {e["name"]: e["ts"] + e["dur"] for e in mine}
            check(all(end[p] <= start[n] + 1e-3 for n in names for p in producers.get(n, [])),
                  f"request {request}: every actor starts after its producers ended")
        for process in sorted({e["pid"] for e in computes}):
            order = [e["args"]["request"] for e in sorted(
                (e for e in computes if e["pid"] == process), key=lambda e: e["ts"])]
            runs = 1 + sum(1 for a, b in zip(order, order[1:]) if a != b)
            check(runs == requests, f"process {process} took the {requests} requests one at "
                  f"a time ({runs} runs of compute events, by request: {order})")
        check(os.path.getsize(png_file) > 1000, "a Gantt chart of them was drawn")
        script = open(script_file).read()
        data_rows = [line.split() for line in open(script_file + ".dat")]
        check("lc variable" in script and "a colour per request" in script
              and {row[4] for row in data_rows if row[3] == "0"} == {str(r) for r in
                                                                      range(requests)},
              "several requests: compute in a colour per request, each request's rows "
              "marked with it")
        check(script.count("set arrow") == 1 and "'process p0'" in script
              and "'process p1'" in script, "the line between p0 and p1, and their names")


def inspect_line(args, path, actor, key):
    """The rest of the line of `zinfer inspect` on actor that starts with
    key (such as "sent" or "received"), or None when there is none"""
    out = subprocess.run([args.zinfer, "inspect", path, actor], capture_output=True,
                         text=True, timeout=30).stdout
    line = [text for text in out.splitlines() if text.strip().startswith(key)]
    return line[0].split(None, 1)[1] if line else None


def sent_to(args, path, actor, to):
    """How many tensors actor's monitor counts as sent to actor index to"""
    pairs = json.loads(inspect_line(args, path, actor, "sent") or "[]")
    return sum(count for index, count in pairs if index == to)


def top_json(args, path, stopped=(), timeout_ms=10000):
    """`zinfer top --json`, every process answering but those named in
    stopped (which the caller stopped on purpose). Each monitor gets up to
    timeout_ms: top ends as soon as all have answered, and a monitor
    waits behind its process's work on a loaded machine (top's default,
    800 ms, is for a person watching, not for a test that needs them all)"""
    out = subprocess.run([args.zinfer, "top", path, "--json", "--timeout", str(timeout_ms)],
                         capture_output=True, text=True, timeout=30 + 2 * timeout_ms / 1000)
    snapshot = json.loads(out.stdout) if out.stdout.strip() else {"processes": []}
    silent = [p["name"] for p in snapshot["processes"] if not p["answered"]]
    check(out.returncode == 0 or (silent and set(silent) <= set(stopped)),
          f"zinfer top --json answers (exit {out.returncode}; silent: {silent}): "
          f"{out.stderr.strip()}")
    return snapshot


def monitor_case(args, folder, port):
    """Counts, queue depths, taps and traces through the monitors of a
    3-process topology (resnet18: joins on every residual Add)."""
    model, names, path = three_way_split(args, folder, port, "resnet18_op17")
    data = os.path.join(args.models, "resnet18_op17.input.npy")
    requests = 40
    with Topology(args.zinfer, path) as topology:
        # No resends: the counts checked below must be exactly what was sent
        client = zinfer_client.Client(topology.endpoint, resend=False)
        x = np.load(data)
        cpu_before = {p["name"]: p["cpu_usecs"] for p in top_json(args, path)["processes"]}
        client.infer_many([[x]] * requests, inflight=8, timeout=120)
        snapshot = top_json(args, path)
        check(all(p["answered"] for p in snapshot["processes"]), "every process answers")
        actors = snapshot["actors"]
        # CPU time: the worker threads' grew with the requests, and the
        # whole process's covers them
        grew = {p["name"]: p["cpu_usecs"] - cpu_before.get(p["name"], 0)
                for p in snapshot["processes"]}
        check(all(grew[p["name"]] > 0 and p["cpu_usecs"] <= p["process_cpu_usecs"]
                  for p in snapshot["processes"]),
              "each process's worker threads used CPU for the requests, within the "
              "process's: " + ", ".join(f"{p['name']} +{grew[p['name']] / 1e3:.0f} ms, "
                                        f"{p['cpu_usecs'] / 1e3:.0f} <= "
                                        f"{p['process_cpu_usecs'] / 1e3:.0f} ms"
                                        for p in snapshot["processes"]))
        check(sorted(a["name"] for a in actors) == sorted(names), "every planned node is an actor")
        check(all(a["requests"] == requests for a in actors),
              f"every actor computed exactly {requests} requests")
        # The residual Adds are fused into the Convs before them, which
        # then join their two inputs by request id
        info = subprocess.run([args.zinfer, "info", model, "--fuse"], capture_output=True,
                              text=True, check=True).stdout
        residual = {line.split()[1] for line in info.splitlines()
                    if len(line.split()) > 2 and line.split()[2].startswith("Conv+add")}
        joins = [a for a in actors if a["name"] in residual]
        check(len(residual) == 8 and len(joins) == 8
              and all(a["messages_in"] == 2 * requests for a in joins),
              f"each of the {len(joins)} Convs with a fused residual joined 2 x {requests} "
              f"inputs")
        check(all(a["queue"] == 0 and a["joins_pending"] == 0 for a in actors),
              "queue depths and pending joins back to 0")
        check(all(a["rejected"] == 0 and a["errors"] == 0 for a in actors), "nothing rejected")
        gateway = [p["gateway"] for p in snapshot["processes"] if "gateway" in p]
        check(len(gateway) == 1 and gateway[0]["requests"] == requests + 0 and
              gateway[0]["inflight"] == 0, "gateway counted the requests, none in flight")
        # Each monitor given up to 10 s, as in top_json: top's 800 ms is
        # for a person watching, and a loaded machine answers later
        once = subprocess.run([args.zinfer, "top", path, "--once", "--sort", "latency",
                               "--timeout", "10000"], capture_output=True, text=True, timeout=60)
        check(once.returncode == 0 and all(n in once.stdout for n in names),
              "zinfer top --once lists every actor")

        # A tap on a middle actor equals zinfer run's output of that node
        middle = names[len(names) // 2]
        tap_file = os.path.join(folder, "tap.npy")
        inspect = subprocess.Popen([args.zinfer, "inspect", path, middle, "--tap", tap_file],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # inspect subscribes to the tap asynchronously; keep requests coming
        # until it has caught one, however slow its start
        deadline = time.time() + 30
        while inspect.poll() is None and time.time() < deadline:
            client.infer([x])
            time.sleep(0.2)
        out, err = inspect.communicate(timeout=30)
        check(inspect.returncode == 0 and "saved to" in out, f"inspect --tap {middle}: {out.strip()[-200:]} {err.strip()}")
        local_tap = os.path.join(folder, "local_tap.npy")
        subprocess.run([args.zinfer, "run", model, "--input", data, "--threads", "1",
                        "--tap", f"{middle}={local_tap}"], check=True, capture_output=True)
        check(np.load(tap_file).tobytes() == np.load(local_tap).tobytes(),
              f"the tap of {middle} is bitwise zinfer run's output of that node")

        # A trace lists every actor once, in an order the graph allows
        trace_file = os.path.join(folder, "trace.json")
        png_file = os.path.join(folder, "trace.png")
        script_file = os.path.join(folder, "trace.gp")
        result = subprocess.run([args.zinfer, "trace", path, "--input", data, "--out", trace_file,
                                 "--png", png_file, "--gnuplot", script_file],
                                capture_output=True, text=True, timeout=60)
        check(result.returncode == 0, f"zinfer trace ran: {result.stdout.strip()[:200]}")
        events = json.load(open(trace_file))["traceEvents"]
        computes = [e for e in events if e.get("cat") == "compute"]
        check(sorted(e["name"] for e in computes) == sorted(names),
              "the trace has one compute event per actor")
        start = {e["name"]: e["ts"] for e in computes}
        end = {e["name"]: e["ts"] + e["dur"] for e in computes}
        producers = producers_of(args.zinfer, model)
        ordered = all(end[p] <= start[n] + 1e-3 for n in names for p in producers.get(n, []))
        check(ordered, "every actor starts after its producers ended")
        # Its transfers are the graph's edges, the gateway's two ends
        # included, also where a tensor crossed once and a neighbour
        # handed it on: what the wiring sends, not guessed from routes
        transfers = {tuple(e["name"].split(" -> ")) for e in events if e.get("cat") == "transfer"}
        edges = planned_edges(args.zinfer, model, data, folder)
        check(transfers == edges, f"the trace's transfers are the graph's {len(edges)} edges "
              f"(missing {sorted(edges - transfers)[:3]}, extra {sorted(transfers - edges)[:3]})")
        check(os.path.getsize(png_file) > 1000, "a Gantt chart was drawn")
        # The chart's script: every actor's whole name on its row, a line
        # and a label at each process's first row, one colour for compute
        script = open(script_file).read()
        processes = sorted({p["name"] for p in snapshot["processes"]})
        check(all(f"'{name}'" in script for name in names),
              "the chart names every actor's row by its whole name")
        check(script.count("set arrow") == len(processes) - 1
              and all(f"'process {name}'" in script for name in processes),
              f"a dashed line between processes and each process's name "
              f"({script.count('set arrow')} lines, {len(processes)} processes)")
        check("lc rgb '#3366aa' title 'compute'" in script and "lc variable" not in script,
              "one request: compute in one colour")
        check(os.path.getsize(script_file + ".dat") > 0, "the chart's data is kept beside it")

        # Garbage to a monitor gets an error reply, and the topology serves on
        monitor = snapshot["processes"][0]["monitor"]
        import zmq
        import msgpack
        context = zmq.Context.instance()
        probe = context.socket(zmq.DEALER)
        probe.setsockopt(zmq.LINGER, 0)
        probe.connect(monitor)
        for garbage in (b"\xff\x00garbage", msgpack.packb(["FLY"]), msgpack.packb({"a": 1}),
                        b"", msgpack.packb(["TAP", "no such actor", 10])):
            probe.send(garbage)
            check(probe.poll(5000), f"monitor answers {garbage[:12]!r}")
            reply = msgpack.unpackb(probe.recv())
            check(reply.get("kind") == "error", f"... with an error: {reply.get('error')}")
        probe.close()
        (y,) = client.infer([x])
        want = local_result(args.zinfer, model, [data], folder)
        check(y.tobytes() == want.tobytes(), "the topology still answers correctly")
        client.close()


def producers_of(zinfer, model):
    """Node name -> names of the nodes feeding it, from zinfer info --fuse
    is not enough; ask onnx for the planned graph's edges instead. For the
    trace order check it is enough to know, for each node, the nodes whose
    outputs it reads in the exported graph after fusion, which the test
    approximates by execution order within chains: a node's producers are
    the nodes listed before it that share a value with it."""
    import onnx
    graph = onnx.load(model, load_external_data=False).graph
    made_by = {}
    for node in graph.node:
        for output in node.output:
            made_by[output] = node.name
    planned = set(node_names(zinfer, model))
    producers = {}
    for node in graph.node:
        if node.name not in planned:
            continue
        feeding = []
        stack = list(node.input)
        seen = set()
        while stack:            # walk back through nodes fused away
            value = stack.pop()
            if value in seen or value not in made_by:
                continue
            seen.add(value)
            maker = made_by[value]
            if maker in planned:
                feeding.append(maker)
            else:
                stack += [i for n in graph.node if n.name == maker for i in n.input]
        producers[node.name] = feeding
    return producers


def planned_edges(zinfer, model, data, folder):
    """(producer, consumer) of every tensor between planned nodes, and
    ("gateway in", node) / (node, "gateway out") for the model's inputs
    and outputs, from the plan a local session runs (`zinfer run
    --profile-json`): the trace's transfers must be these"""
    import onnx
    graph = onnx.load(model, load_external_data=False).graph
    profile = os.path.join(folder, "edges-profile.json")
    subprocess.run([zinfer, "run", model, "--input", data, "--repeat", "1",
                    "--profile-json", profile], check=True, capture_output=True)
    nodes = json.load(open(profile))["nodes"]
    made_by = {node["output"]: node["name"] for node in nodes}
    made_by.update({value.name: "gateway in" for value in graph.input})
    edges = {(made_by[value], node["name"]) for node in nodes for value in node["inputs"]
             if value in made_by}
    edges |= {(made_by[value.name], "gateway out") for value in graph.output}
    return edges


def hostile_case(args, folder, port):
    """Garbage at the gateway and at an actor's tcp mailbox: rejected,
    counted, and the topology keeps serving correct answers."""
    import zmq
    import msgpack
    model, names, path = three_way_split(args, folder, port, "tiny_cnn_op17")
    data = os.path.join(args.models, "tiny_cnn_op17.input.npy")
    want = local_result(args.zinfer, model, [data], folder)
    x = np.load(data)
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        context = zmq.Context.instance()
        rogue = context.socket(zmq.DEALER)
        rogue.setsockopt(zmq.LINGER, 0)
        rogue.connect(topology.endpoint)
        good = [1, 2, 7, 0xFFFF, 0, 1, 1, list(x.shape), 0]
        cases = [
            ("random bytes", [b"\x93\x01garbage"]),
            ("header only", [msgpack.packb(good)]),
            ("wrong version", [msgpack.packb([9] + good[1:]), x.tobytes()]),
            ("wrong size", [msgpack.packb(good), x.tobytes()[:-4]]),
            ("wrong shape", [msgpack.packb(good[:7] + [[1, 2, 3]] + good[8:]), b"\0" * 24]),
            ("wrong dtype", [msgpack.packb(good[:6] + [7] + good[7:]), b"\0" * (x.size * 8)]),
            ("huge shape", [msgpack.packb(good[:7] + [[2 ** 39, 2 ** 39]] + good[8:]), b"x"]),
            ("two inputs for one", [msgpack.packb(good[:5] + [2] + good[6:]), x.tobytes()]),
            ("empty frames", [b"", b""]),
        ]
        for name, frames in cases:
            rogue.send_multipart(frames)
            check(rogue.poll(5000), f"gateway answers {name}")
            reply = rogue.recv_multipart()
            header = msgpack.unpackb(reply[0])
            check(header[1] == 4, f"... with an error: {header[9] if len(header) > 9 else header}")
        rogue.close()
        snapshot = top_json(args, path)
        gateway = [p["gateway"] for p in snapshot["processes"] if "gateway" in p][0]
        check(gateway["rejected"] == len(cases), f"gateway counted {len(cases)} rejections")

        # An actor's tcp mailbox: garbage and forged tensors
        victim = next(a for a in snapshot["actors"]
                      if any(e.startswith("tcp://") for e in a["endpoints"]))
        endpoint = next(e for e in victim["endpoints"] if e.startswith("tcp://"))
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 1000)
        push.connect(endpoint)
        forged = [1, 1, 12345, 0, 0, 1, 1, [1, 2], 0]
        attacks = [[b"noise"], [msgpack.packb(forged), b"\0" * 8],
                   [msgpack.packb(forged[:4] + [99] + forged[5:]), b"\0" * 8],
                   [msgpack.packb([1, 1, 5, 0, 0, 1, 1, [2 ** 40], 0]), b""],
                   [os.urandom(64), os.urandom(64), os.urandom(64)]]
        for frames in attacks:
            push.send_multipart(frames)
        push.close()
        # The frames travel asynchronously: wait for them to be counted
        deadline = time.time() + 20
        while True:
            snapshot = top_json(args, path)
            hit = next(a for a in snapshot["actors"] if a["name"] == victim["name"])
            if hit["rejected"] >= len(attacks) or time.time() > deadline:
                break
            time.sleep(0.1)
        check(hit["rejected"] == len(attacks), f"actor {victim['name']} rejected {len(attacks)} "
              f"forged messages ({hit['rejected']}): {hit['last_error']}")
        (y,) = client.infer([x])
        check(y.tobytes() == want.tobytes(), "answers after the attacks are still bitwise right")
        client.close()


def worker_pids(launcher_pid):
    """Process name -> pid of the workers a launcher started."""
    pids = {}
    for pid in workers_of(launcher_pid):
        try:
            args = open(f"/proc/{pid}/cmdline").read().split("\0")
        except OSError:
            continue
        if "--process" in args:
            pids[args[args.index("--process") + 1]] = pid
    return pids


def sanitized(zinfer):
    """Whether this zinfer was built with AddressSanitizer or ThreadSanitizer"""
    linked = subprocess.run(["ldd", zinfer], capture_output=True, text=True).stdout
    return "libasan" in linked or "libtsan" in linked


def kill_recovery_case(args, folder, port):
    """10,000 requests through a 4-process tcp split of mobilenet_v3_small
    (2,000 in a sanitizer's build, which runs them five to seven times
    slower: the same two faults, each well inside the stream); a middle
    process is killed with SIGKILL twice during the stream. The launcher
    restarts it, the client resends what was lost, and every answer
    arrives exactly once, bitwise equal to the local result."""
    model_name = "mobilenet_v3_small_op17"
    model = os.path.join(args.models, model_name + ".onnx")
    data = os.path.join(args.models, model_name + ".input.npy")
    names = node_names(args.zinfer, model)
    path = write_topology(folder, model, ["p0", "p1", "p2", "p3"],
                          range_placement(ranges(names, 4)), port, "tcp")
    want = local_result(args.zinfer, model, [data], folder).tobytes()
    x = np.load(data)
    count = args.requests or (2000 if sanitized(args.zinfer) else 10000)
    kills = {count // 4: "p1", (3 * count) // 5: "p2"}
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint)
        answers, sent, faults, wrong = {}, 0, 0, 0
        start = time.time()
        while len(answers) < count:
            while sent < count and sent - len(answers) < 16:
                client.send([x])
                sent += 1
            request, outputs = client.recv(timeout=120)
            if request in answers:
                raise Failure(f"request {request} answered twice")
            answers[request] = True
            wrong += outputs[0].tobytes() != want
            victim = kills.pop(len(answers), None)
            if victim:
                pid = worker_pids(topology.process.pid)[victim]
                os.kill(pid, signal.SIGKILL)
                faults += 1
                print(f"    killed {victim} (pid {pid}) with SIGKILL after {len(answers)} answers",
                      flush=True)
        seconds = time.time() - start
        print(f"requests sent: {count}, faults injected: {faults}, answers: {len(answers)}, "
              f"lost: {count - len(answers)}, wrong: {wrong}, resent: {client.resends}, "
              f"duplicates dropped: {client.duplicates}, {seconds:.1f} s", flush=True)
        check(faults == 2, "two processes were killed during the stream")
        check(len(answers) == count, f"all {count} requests answered, each exactly once")
        check(wrong == 0, "every answer bitwise equal to zinfer run")
        restarted = worker_pids(topology.process.pid)
        check(len(restarted) == 4, f"the launcher restarted what died ({sorted(restarted)})")
        # The copies lost with the killed processes were replaced by their
        # resends, so the gateway soon holds nothing (a resend sent just as
        # its first answer came may still be computing for a moment; lost
        # copies would stay for 60 s)
        deadline = time.time() + 10
        while True:
            gateway = [p["gateway"] for p in top_json(args, path)["processes"]
                       if "gateway" in p][0]
            if gateway["inflight"] == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        print(f"gateway: {gateway['replaced']} replaced, {gateway['late']} late, "
              f"{gateway['inflight']} in flight", flush=True)
        check(gateway["inflight"] == 0, "no slot left held by a lost copy")
        client.close()


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def backpressure_case(args, folder, port):
    """A client pushes 100,000 requests as fast as the engine takes them:
    the gateway's in-flight limit and ZeroMQ's queues push back, worker
    memory stays bounded, and every request is answered."""
    import zmq
    model, names, path = three_way_split(args, folder, port, "tiny_cnn_op13")
    data = os.path.join(args.models, "tiny_cnn_op13.input.npy")
    want = local_result(args.zinfer, model, [data], folder).tobytes()
    x = np.load(data)
    count = args.requests or 100000
    bound_kib = 256 * 1024
    if sanitized(args.zinfer):
        bound_kib *= 8          # sanitizers keep freed memory in quarantine
    with Topology(args.zinfer, path) as topology:
        pids = list(worker_pids(topology.process.pid).values())
        baseline = max(rss_kib(pid) for pid in pids)
        client = zinfer_client.Client(topology.endpoint)
        import msgpack
        frames = [msgpack.packb([1, 2, 0, 0xFFFF, 0, 1, 1, list(x.shape), 0]), x.tobytes()]
        sent, answered, wrong, peak, blocked, busy = 0, 0, 0, baseline, 0, 0
        again = []      # requests refused as busy, to send again
        socket = client._socket
        start = time.time()
        while answered < count:
            # Send until ZeroMQ says no (the engine is full), then read
            while sent < count or again:
                request = again[-1] if again else sent + 1
                frames[0] = msgpack.packb([1, 2, request, 0xFFFF, 0, 1, 1, list(x.shape), 0])
                try:
                    socket.send_multipart(frames, flags=zmq.NOBLOCK)
                    if again:
                        again.pop()
                    else:
                        sent += 1
                except zmq.Again:
                    blocked += 1
                    break
            if not socket.poll(60000):
                raise Failure(f"no answer for 60 s ({answered} of {count} answered)")
            reply = socket.recv_multipart()
            header = msgpack.unpackb(reply[0])
            if header[1] == 4:
                # Its answers waited so long that it holds every slot: the
                # gateway refuses more until it reads (a form of pushing back)
                if not header[-1].startswith("busy"):
                    raise Failure(f"refused, not as busy: {header[-1]!r}")
                busy += 1
                again.append(header[2])
                continue
            answered += 1
            wrong += reply[1] != want
            if answered % 5000 == 0:
                peak = max(peak, *(rss_kib(pid) for pid in pids))
        seconds = time.time() - start
        print(f"requests sent: {sent}, answered: {answered}, lost: {count - answered}, "
              f"wrong: {wrong}, sender held back {blocked} times, refused busy {busy} times "
              f"(sent again), worker RSS {baseline} KiB "
              f"at rest, {peak} KiB at peak, {seconds:.1f} s", flush=True)
        check(answered == count and wrong == 0, f"all {count} answered, bitwise right")
        check(blocked + busy > 0, "the engine pushed back on the sender")
        check(peak < bound_kib, f"worker RSS stayed under {bound_kib // 1024} MiB")
        client.close()


def slow_reader_case(args, folder, port):
    """A client that sends thousands of requests before it reads a single
    answer, over ipc with a tiny receive queue: answers the client's queue
    cannot take wait in the gateway, holding their slots, up to the
    client's share; beyond it the client is refused (busy, a few requests
    each 10 ms) instead of taking slots from everyone else. Once it reads,
    every request it sent has had exactly one outcome: a bitwise-right
    answer, a busy refusal, or a refusal that could not be kept for it,
    counted as unroutable."""
    import zmq
    import msgpack
    model, names, path = three_way_split(args, folder, port, "tiny_cnn_op13")
    data = os.path.join(args.models, "tiny_cnn_op13.input.npy")
    want = local_result(args.zinfer, model, [data], folder).tobytes()
    x = np.load(data)
    count = min(args.requests or 20000, 20000)
    with Topology(args.zinfer, path) as topology:
        context = zmq.Context()
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.RCVHWM, 10)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(topology.local_endpoint)
        sent, answered, refused, wrong, seen = 0, 0, 0, 0, set()

        def send_some():
            nonlocal sent
            while sent < count:
                header = msgpack.packb([1, 2, sent + 1, 0xFFFF, 0, 1, 1, list(x.shape), 0])
                try:
                    socket.send_multipart([header, x.tobytes()], flags=zmq.NOBLOCK)
                except zmq.Again:
                    return
                sent += 1

        # Fill everything without reading: the engine answers until the
        # client's queues are full, then holds what it computes until the
        # client holds its share (a sanitizer build gets there slowly)
        deadline = time.time() + 120
        while True:
            send_some()
            gateway = [p["gateway"] for p in top_json(args, path)["processes"]
                       if "gateway" in p][0]
            full = gateway["inflight"] == gateway["max_inflight"]
            if (full and gateway["undelivered"] > 0) or sent == count or time.time() > deadline:
                break
            time.sleep(0.5)
        print(f"sent {sent} unread; gateway holds {gateway['undelivered']} answers, "
              f"{gateway['inflight']} of {gateway['max_inflight']} slots taken", flush=True)
        check(gateway["undelivered"] > 0, "the gateway holds answers the client cannot take yet")
        check(gateway["inflight"] == gateway["max_inflight"],
              "held answers keep their slots: the lone client holds them all, no more")
        quiet_since = time.time()
        while time.time() - quiet_since < 3:
            if not socket.poll(500):
                continue
            quiet_since = time.time()
            reply = socket.recv_multipart()
            header = msgpack.unpackb(reply[0])
            ident = header[2]
            if ident in seen:
                raise Failure(f"request {ident} answered twice")
            seen.add(ident)
            if header[1] == 4:
                check(header[-1].startswith("busy"), f"a refusal says busy: {header[-1]!r}")
                refused += 1
            else:
                answered += 1
                wrong += reply[1] != want
            send_some()
        gateway = [p["gateway"] for p in top_json(args, path)["processes"] if "gateway" in p][0]
        print(f"sent {sent}: answered {answered}, {wrong} wrong, refused busy {refused}; "
              f"{gateway['held']} answers waited for the client, {gateway['busy']} busy, "
              f"{gateway['unroutable']} refusals unroutable", flush=True)
        check(sent == count, f"all {count} sent")
        check(answered + refused + gateway["unroutable"] == count,
              "every request has one outcome: answered, refused, or its refusal unroutable")
        check(wrong == 0 and answered >= gateway["max_inflight"],
              "every answer held for the client arrived, bitwise right")
        check(gateway["held"] > 0 and gateway["undelivered"] == 0 and gateway["inflight"] == 0,
              "answers waited instead of being dropped, and none is left")
        check(gateway["busy"] == refused + gateway["unroutable"], "each refusal was counted busy")
        socket.close()
        context.term()


def resend_case(args, folder, port):
    """A client sends a request again while its first copy is still being
    computed (as it does when the answer is overdue): the gateway keeps one
    entry per client request, so it answers once, drops the first copy's
    late result, and holds no slot for it afterwards (a stop then need not
    wait for an entry that would only expire after 60 s)."""
    import zmq
    import msgpack
    model, names, path = split_topology(args, folder, port, "resnet18_op17", 2)
    data = os.path.join(args.models, "resnet18_op17.input.npy")
    want = local_result(args.zinfer, model, [data], folder).tobytes()
    x = np.load(data)
    with Topology(args.zinfer, path) as topology:
        context = zmq.Context()
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(topology.endpoint)
        header = msgpack.packb([1, 2, 7, 0xFFFF, 0, 1, 1, list(x.shape), 0])
        for _ in range(2):
            socket.send_multipart([header, x.tobytes()])
        check(socket.poll(60000), "the request is answered")
        reply = socket.recv_multipart()
        check(msgpack.unpackb(reply[0])[2] == 7 and reply[1] == want,
              "answered under its id, bitwise equal to zinfer run")
        deadline = time.time() + 30
        while True:
            gateway = [p["gateway"] for p in top_json(args, path)["processes"]
                       if "gateway" in p][0]
            if gateway["late"] >= 1 or time.time() > deadline:
                break
            time.sleep(0.1)
        print(f"gateway: {gateway}", flush=True)
        check(gateway["replaced"] == 1, "the second copy replaced the first")
        check(gateway["late"] == 1, "the first copy's result came late and was dropped")
        check(gateway["inflight"] == 0, "no slot left held")
        check(gateway["rejected"] == 0, "nothing counted as hostile")
        check(not socket.poll(500), "no second answer")
        socket.close()
        context.term()


def graceful_case(args, folder, port):
    """SIGTERM to zinfer up: requests already in flight are answered, the
    processes then exit; a request sent after the stop gets a clear
    timeout, not a hang."""
    model, names, path = split_topology(args, folder, port, "resnet18_op17", 2)
    # The second process is stopped below on purpose: the launcher's
    # liveness check must not restart it meanwhile
    with open(path, "a") as handle:
        handle.write("liveness_timeout_ms: 120000\n")
    data = os.path.join(args.models, "resnet18_op17.input.npy")
    want = local_result(args.zinfer, model, [data], folder).tobytes()
    x = np.load(data)
    topology = Topology(args.zinfer, path)
    held = None
    try:
        client = zinfer_client.Client(topology.endpoint, resend=False)
        client.infer([x])
        snapshot = top_json(args, path)
        gateway_name = [p["name"] for p in snapshot["processes"] if "gateway" in p][0]
        pids = worker_pids(topology.process.pid)
        # Requests that are surely in flight at the stop: the process after
        # the gateway's is stopped, so what the gateway admits stays there
        # (a snapshot that merely caught some in flight needs them slower
        # than `zinfer top`, which a loaded machine does not promise)
        held = pids[[name for name in pids if name != gateway_name][0]]
        os.kill(held, signal.SIGSTOP)
        # Few enough that a sanitizer build, several times slower, still
        # answers them within the 8 s drain limit
        ids = [client.send([x]) for _ in range(6)]
        others = [name for name in pids if name != gateway_name]
        deadline = time.time() + 30
        while True:
            # The stopped process cannot answer: each query waits 2 s for it
            snapshot = top_json(args, path, stopped=others + [gateway_name], timeout_ms=2000)
            gateway = [p["gateway"] for p in snapshot["processes"] if "gateway" in p]
            inflight = gateway[0]["inflight"] if gateway else "no answer"
            if inflight == len(ids):
                break
            check(time.time() < deadline, f"the gateway admitted {len(ids)} requests within "
                  f"30 s ({inflight} in flight)")
            time.sleep(0.05)
        topology.process.send_signal(signal.SIGTERM)
        # The gateway drains once a request sent now is turned away. Until
        # then probes may still be admitted (the launcher passes the signal
        # on), and are held like the rest. Only then do the held requests
        # go on, so that they finish during the drain, not before it
        probes, refused = [], 0
        deadline = time.time() + 30
        while not refused:
            check(time.time() < deadline, "a request sent after SIGTERM is refused within 30 s")
            probes.append(client.send([x]))
            try:
                request, _ = client.recv(timeout=0.25)
                raise Failure(f"request {request} answered while the second process is stopped")
            except TimeoutError:
                continue        # admitted before the stop reached the gateway, or not yet read
            except zinfer_client.ZinferError as error:
                check(error.request in probes and "shutting down" in error.text,
                      f"request {error.request}, sent after SIGTERM, refused clearly: "
                      f"{error.text}")
                refused += 1
        # Held a while longer, five times the 100 ms of quiet after which a
        # process without admitted requests ends its drain: a gateway that
        # stopped waiting for its own would be gone by then. Not a wait for
        # anything: a right gateway passes however long this takes, up to
        # the 8 s drain limit
        time.sleep(0.5)
        os.kill(held, signal.SIGCONT)
        held = None
        answered = set()
        for _ in range(len(ids) + len(probes) - refused):
            try:
                request, outputs = client.recv(timeout=20)
                check(outputs[0].tobytes() == want, f"request {request} answered, bitwise right")
                answered.add(request)
            except zinfer_client.ZinferError as error:
                check(error.request in probes and "shutting down" in error.text,
                      f"request {error.request}, sent after SIGTERM, refused clearly: "
                      f"{error.text}")
                refused += 1
            except TimeoutError as error:
                raise Failure(f"a request admitted before the stop was left hanging: {error}")
        check(set(ids) <= answered, f"the {len(ids)} requests admitted before the stop were "
              f"all answered ({len(answered & set(ids))})")
        print(f"in flight at SIGTERM: {len(ids)}, then {len(probes)} probes: {len(answered)} "
              f"answered, {refused} refused, 0 left hanging", flush=True)
        code = topology.process.wait(timeout=15)
        check(code == 0, f"zinfer up exited cleanly after draining (exit {code})")
        late = client.send([x])
        try:
            client.recv(timeout=1)
            raise Failure("a request after the stop was answered")
        except TimeoutError as error:
            check(client.pending() == 1, f"request {late} after the stop stays unanswered and "
                  f"times out clearly: {error}")
        client.close()
    finally:
        if held is not None:
            os.kill(held, signal.SIGCONT)
        topology.stop()


def shared_memory_case(args, folder, port):
    """Large inputs from clients on the gateway's host travel in shared
    memory: bitwise right from the C and the Python client, counted by the
    gateway, nothing left in /dev/shm. References from tcp, to blocks that
    are not the sender's, past a block's end or of the wrong size are
    refused one by one, and the topology keeps serving."""
    import msgpack
    import zmq
    shape = [1, 8, 96, 96]                          # 288 KiB of float32
    path = relu_neg_topology(folder, port, shape, "ipc")
    x = np.random.default_rng(5).standard_normal(shape, dtype=np.float32)
    data, expected = os.path.join(folder, "x.npy"), os.path.join(folder, "want.npy")
    np.save(data, x)
    np.save(expected, -relu(x))
    want = np.load(expected)
    ours = lambda: {n for n in os.listdir("/dev/shm") if n.startswith("zinfer-")}  # noqa: E731
    before = ours()

    def shared_count():
        snapshot = top_json(args, path)
        return [p["gateway"] for p in snapshot["processes"] if "gateway" in p][0]

    def infer(env=None, extra=()):
        return subprocess.run([args.zinfer, "infer", path, "--input", data, "--repeat", "20",
                               "--inflight", "4", "--check", expected] + list(extra),
                              capture_output=True, text=True, timeout=120, env=env)

    with Topology(args.zinfer, path) as topology:
        out = infer()
        check(out.returncode == 0 and "0 differ" in out.stdout,
              f"zinfer infer on this host: 21 answers bitwise right ({out.stdout.strip()})")
        gateway = shared_count()
        check(gateway["shared"] == 21, f"... all 21 inputs came in shared memory "
              f"({gateway['shared']})")
        # --local: each request paired with a local run made just before it
        local_times = os.path.join(folder, "local.txt")
        out = subprocess.run([args.zinfer, "infer", path, "--input", data, "--repeat", "5",
                              "--check", expected, "--local", os.path.join(folder, "relu_neg.onnx"),
                              "--local-times", local_times],
                             capture_output=True, text=True, timeout=120)
        runs = [float(line) for line in open(local_times)] if out.returncode == 0 else []
        check(out.returncode == 0 and "split over local, per request: median" in out.stdout
              and len(runs) == 5 and min(runs) > 0,
              f"zinfer infer --local times a local run before each request ({out.stdout.strip()})")
        out = infer(dict(os.environ, ZINFER_SHARED_MEMORY="0"))
        check(out.returncode == 0 and shared_count()["shared"] == 27,
              "ZINFER_SHARED_MEMORY=0 sends them inline, as right")
        out = infer(extra=["--no-shared-memory"])
        check(out.returncode == 0 and shared_count()["shared"] == 27,
              "so does --no-shared-memory")
        client = zinfer_client.Client(topology.local_endpoint)
        answers = client.infer_many([[x]] * 10, inflight=4)
        check(client.shared_memory and all(a[0].tobytes() == want.tobytes() for a in answers)
              and shared_count()["shared"] == 37,
              "the Python client on ipc: shared memory, bitwise right")
        # An input made with Client.array is read where it lies: no block
        # per request, and a change to it shows in the next answer
        placed = client.array(x.shape)
        placed[...] = x
        blocks = ours()
        answers = client.infer_many([[placed]] * 10, inflight=4)
        check(all(a[0].tobytes() == want.tobytes() for a in answers) and ours() == blocks
              and shared_count()["shared"] == 47,
              "Client.array: read in place, bitwise right, no block made per request")
        placed *= -1
        check(client.infer([placed])[0].tobytes() == (-relu(-x)).tobytes(),
              "... and the next request sees the array as it is now")
        del placed
        client.close()
        # A gateway that refuses the blocks (here: named after another
        # process): the client sends inline from then on, the same request too
        block_class = zinfer_client._Block
        zinfer_client._Block = lambda size: block_class(size, owner=1)
        try:
            client = zinfer_client.Client(topology.local_endpoint)
            rejected = shared_count()["rejected"]
            answers = client.infer_many([[x]] * 3, inflight=1)
        finally:
            zinfer_client._Block = block_class
        check(not client.shared_memory and all(a[0].tobytes() == want.tobytes() for a in answers)
              and shared_count()["rejected"] == rejected + 1,
              "refused blocks: one refusal, then inline, every answer right")
        client.close()
        # Other tests running at the same time have blocks of their own:
        # a leak is a new block of this process, or of one that has ended
        # (the zinfer infer runs above)
        def leaked():
            found = set()
            for name in ours() - before:
                owner = int(name.split("-")[1]) if name.split("-")[1].isdigit() else -1
                if owner == os.getpid() or not os.path.exists(f"/proc/{owner}"):
                    found.add(name)
            return found
        check(not leaked(), f"no block left in /dev/shm once the clients are done: {leaked()}")

        # Forged references. A block of this process's own, named as the
        # gateway requires, holding x
        name = f"/zinfer-{os.getpid()}-1-{os.urandom(4).hex()}"
        with open("/dev/shm" + name, "wb") as handle:
            handle.write(x.tobytes())
        header = [1, 2, 7, 0xFFFF, 0, 1, 1, shape, 2]
        context = zmq.Context.instance()
        rejected = shared_count()["rejected"]
        cases = [
            ("over tcp", topology.endpoint, [name, 0, x.nbytes], "over ipc"),
            ("another process's block", topology.local_endpoint,
             [f"/zinfer-1-1-{os.urandom(4).hex()}", 0, x.nbytes], "not this client's"),
            ("a block that is not there", topology.local_endpoint,
             [f"/zinfer-{os.getpid()}-2-00", 0, x.nbytes], "cannot open"),
            ("past the block's end", topology.local_endpoint, [name, 64, x.nbytes],
             "past the end"),
            ("the wrong size", topology.local_endpoint, [name, 0, 100], "needs"),
            ("not a reference", topology.local_endpoint, ["just a name"], "reference"),
        ]
        try:
            for label, endpoint, ref, needle in cases:
                rogue = context.socket(zmq.DEALER)
                rogue.setsockopt(zmq.LINGER, 0)
                rogue.connect(endpoint)
                rogue.send_multipart([msgpack.packb(header), msgpack.packb(ref)])
                check(rogue.poll(10000), f"gateway answers {label}")
                reply = msgpack.unpackb(rogue.recv_multipart()[0])
                check(reply[1] == 4 and needle in reply[9], f"... refused: {reply[9]}")
                rogue.close()
            # The same block, rightly referenced over ipc: the right answer
            rogue = context.socket(zmq.DEALER)
            rogue.setsockopt(zmq.LINGER, 0)
            rogue.connect(topology.local_endpoint)
            rogue.send_multipart([msgpack.packb(header), msgpack.packb([name, 0, x.nbytes])])
            check(rogue.poll(10000), "gateway answers a reference done right")
            frames = rogue.recv_multipart()
            check(frames[1] == want.tobytes(), "... with the right answer")
            rogue.close()
        finally:
            os.unlink("/dev/shm" + name)
        gateway = shared_count()
        check(gateway["rejected"] == rejected + len(cases),
              f"gateway counted {len(cases)} refusals ({gateway['rejected'] - rejected})")
        out = infer()
        check(out.returncode == 0 and "0 differ" in out.stdout, "and serves on, bitwise right")


def python_client_case(args, folder, port):
    """The Python client behaves as numpy code expects: from_topology and a
    with block; one array, a list, a tuple or a dict by input name;
    outputs by index or by name (names from the gateway's process);
    float64 converted as zinfer run converts .npy files; infer() and wait()
    keep the answers of earlier send() calls for recv(), none lost."""
    model, names, path = split_topology(args, folder, port, "tiny_cnn_op13", 2, "ipc")
    data = os.path.join(args.models, "tiny_cnn_op13.input.npy")
    x = np.load(data)
    other = (x[..., ::-1] * np.float32(0.5)).copy()
    np.save(os.path.join(folder, "other.npy"), other)
    want = local_result(args.zinfer, model, [data], folder).tobytes()
    want_other = local_result(args.zinfer, model, [os.path.join(folder, "other.npy")],
                              folder).tobytes()
    # float16 inputs: zinfer run widens them to the model's float32, as the gateway does
    np.save(os.path.join(folder, "half.npy"), other.astype(np.float16))
    want_half = local_result(args.zinfer, model, [os.path.join(folder, "half.npy")],
                             folder).tobytes()
    np.save(os.path.join(folder, "half.npy"), other.astype(np.float16).astype(np.float32))
    want_half_wide = local_result(args.zinfer, model, [os.path.join(folder, "half.npy")],
                                  folder).tobytes()
    check(want_half == want_half_wide, "zinfer run widens a float16 .npy to float32")
    info = subprocess.run([args.zinfer, "info", model], capture_output=True, text=True,
                          check=True).stdout
    input_name = info.split("input  '")[1].split("'")[0]
    output_name = info.split("output '")[1].split("'")[0]
    with Topology(args.zinfer, path):
        with zinfer_client.Client.from_topology(path) as client:
            check(client.input_names == [input_name] and client.output_names == [output_name],
                  f"from_topology learns the model's names ({client.input_names}, "
                  f"{client.output_names})")
            outputs = client.infer({input_name: other})
            check(outputs[output_name].tobytes() == want_other
                  and outputs[0] is outputs[output_name]
                  and list(outputs.as_dict()) == [output_name],
                  "inputs and outputs by name, outputs by index too")
            try:
                outputs["nope"]
                check(False, "an unknown output name is refused")
            except KeyError as error:
                check(output_name in str(error), f"an unknown output lists the real ones: {error}")
            client.input_names = client.output_names = None
            check(client.endpoint.startswith("ipc://"), f"from_topology picks ipc on this host "
                  f"({client.endpoint})")
            early = [client.send([x]) for _ in range(3)]
            (y,) = client.infer(other)
            check(y.tobytes() == want_other, "infer() of one bare array: its own answer")
            kept = {}
            for _ in range(3):
                request, (out,) = client.recv(timeout=30)
                kept[request] = out.tobytes()
            check(sorted(kept) == early and all(v == want for v in kept.values()),
                  "the three earlier send()s' answers were kept for recv(), none lost")
            a, b = client.send((x,)), client.send([other])
            check(client.wait(b)[0].tobytes() == want_other
                  and client.wait(a)[0].tobytes() == want, "wait() takes answers in any order")
            (y,) = client.infer([x.astype(np.float64)])
            check(y.tobytes() == want, "float64 is narrowed to float32 as zinfer run does")
            try:
                client.infer({input_name: x})
                check(False, "a dict needs input names")
            except TypeError as error:
                check("input_names" in str(error), f"a dict without names says how: {error}")
            client.input_names = [input_name]
            (y,) = client.infer({input_name: other})
            check(y.tobytes() == want_other, "a dict by input name")
            try:
                client.infer({"nope": x})
                check(False, "an unknown input name is refused")
            except KeyError as error:
                check(input_name in str(error), f"an unknown name lists the real ones: {error}")
            try:
                client.send([x.astype(np.complex64)])
                check(False, "complex64 is refused")
            except TypeError as error:
                check("complex64" in str(error), f"an unsupported dtype is named: {error}")
            (y,) = client.infer([other.astype(np.float16)])
            check(y.tobytes() == want_half, "float16 goes on the wire; the gateway widens it")
            try:
                client.infer([x.astype(np.int8)])
                check(False, "int8 for a float32 input is refused by the gateway")
            except zinfer_client.ZinferError as error:
                check("int8" in str(error) and "float32" in str(error),
                      f"the gateway names both dtypes: {error}")
            pending = client.send([other])
            outs = client.infer_many([[x], [x]])
            check(all(o[0].tobytes() == want for o in outs), "infer_many answers in order")
            check(client.recv(timeout=30)[1][0].tobytes() == want_other,
                  "infer_many keeps an earlier send()'s answer too")
            check(client.pending() == 0 and pending, "nothing left pending")


def http_get(port, path, method="GET", headers=None, timeout=5, address="127.0.0.1"):
    """(status, body) of one HTTP request to address:port"""
    import http.client
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request(method, path, body=b"x=1" if method == "POST" else None,
                           headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def metric_samples(text):
    """{(name, frozenset of label pairs): value} of a Prometheus text page"""
    import re
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
        if not match:
            raise Failure(f"not a sample line: {line!r}")
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def metric(samples, name, **labels):
    """The sum of a series over the samples whose labels include these"""
    wanted = set(labels.items())
    return sum(value for (series, pairs), value in samples.items()
               if series == name and wanted <= set(pairs))


def metrics_case(args, folder, port):
    """Each host's launcher serves /metrics (Prometheus text), /healthz,
    /readyz and the live web view (/ and /api/view) over HTTP where the
    topology's metrics: key says (loopback).
    The series move with traffic; readyz fails while a killed worker is
    restarted and names it; bad and hostile HTTP requests are refused and
    the server and topology serve on. zinfer status needs no model load."""
    model, names, path = split_topology(args, folder, port, "tiny_cnn_op17", 2)
    metrics_port = port + 90
    with open(path, "a") as handle:
        handle.write(f"metrics: {{port: {metrics_port}}}\n")
    data = os.path.join(args.models, "tiny_cnn_op17.input.npy")
    x = np.load(data)
    with Topology(args.zinfer, path) as topology:
        started = time.time()
        status, body = http_get(metrics_port, "/healthz")
        check(status == 200 and body == "ok\n", "/healthz answers 200 ok")
        status, body = http_get(metrics_port, "/readyz")
        took = time.time() - started
        check(status == 200 and body.startswith("ready: 2 of 2"),
              f"/readyz: {status} {body.strip()} (both in {took * 1000:.0f} ms)")
        check(took < 1, "health answers in well under a second")
        # The monitors publish every second: wait for the first stats
        deadline = time.time() + 10
        while time.time() < deadline:
            samples = metric_samples(http_get(metrics_port, "/metrics")[1])
            if metric(samples, "zinfer_process_resident_memory_bytes", process="p0") > 0 and \
                    metric(samples, "zinfer_process_resident_memory_bytes", process="p1") > 0:
                break
            time.sleep(0.2)
        labels = {"topology": f"test-{port}", "host": "local"}
        check(metric(samples, "zinfer_process_up", process="p0", **labels) == 1
              and metric(samples, "zinfer_process_up", process="p1", **labels) == 1,
              "zinfer_process_up is 1 for both processes, labelled with topology and host")
        check(metric(samples, "zinfer_process_resident_memory_bytes", process="p0") > 1 << 20,
              "RSS of each process is there")
        before = samples
        client = zinfer_client.Client(topology.endpoint, resend=False)
        requests = 30
        client.infer_many([[x]] * requests, inflight=4, timeout=60)
        # Each process's monitor publishes on its own second: the gateway's
        # process can show all the replies while the other process's last
        # stats still predate the last requests, so wait for every series
        # the checks read
        def grew(name, **labels):
            return metric(samples, name, **labels) - metric(before, name, **labels)

        deadline = time.time() + 10
        while time.time() < deadline:
            samples = metric_samples(http_get(metrics_port, "/metrics")[1])
            if grew("zinfer_gateway_replies_total") >= requests and \
                    all(grew("zinfer_actor_requests_total", actor=name) >= requests
                        and grew("zinfer_actor_compute_seconds_count", actor=name) >= requests
                        for name in names):
                break
            time.sleep(0.2)
        check(grew("zinfer_gateway_requests_total") == requests
              and grew("zinfer_gateway_replies_total") == requests,
              f"gateway requests and replies grew by {requests}")
        check(grew("zinfer_gateway_latency_seconds_count") == requests
              and grew("zinfer_gateway_latency_seconds_sum") > 0
              and metric(samples, "zinfer_gateway_latency_seconds_bucket", le="+Inf")
              == metric(samples, "zinfer_gateway_latency_seconds_count"),
              "the end-to-end latency histogram counted every request")
        check(all(grew("zinfer_actor_requests_total", actor=name) == requests for name in names),
              f"every actor's requests_total grew by {requests}")
        check(all(grew("zinfer_actor_compute_seconds_count", actor=name) == requests
                  for name in names), "every actor's compute histogram counted them")
        buckets = sorted((float(dict(pairs)["le"]) if dict(pairs)["le"] != "+Inf" else 1e99,
                          value) for (series, pairs), value in samples.items()
                         if series == "zinfer_actor_compute_seconds_bucket"
                         and ("actor", names[0]) in pairs)
        check(len(buckets) == 20 and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
              "histogram buckets are cumulative, 19 bounds and +Inf")
        check(grew("zinfer_process_worker_cpu_seconds_total") > 0
              and grew("zinfer_process_cpu_seconds_total") > 0, "CPU seconds grew")
        check(metric(samples, "zinfer_curve_refused_total") == 0,
              "CURVE refusals are counted (none here)")
        promtool = subprocess.run(["promtool", "check", "metrics"],
                                  input=http_get(metrics_port, "/metrics")[1], text=True,
                                  capture_output=True) if shutil.which("promtool") else None
        if promtool:
            check(promtool.returncode == 0, f"promtool check metrics: {promtool.stdout.strip()}"
                  f"{promtool.stderr.strip()}")

        # The live web view: one static page and the JSON it polls
        status, page = http_get(metrics_port, "/")
        check(status == 200 and "<script>" in page and "/api/view" in page,
              "/ serves the live view's page")
        status, body = http_get(metrics_port, "/api/view")
        view = json.loads(body) if status == 200 else {}
        shown = {a["name"]: a for p in view.get("processes", []) for a in p["actors"]}
        check(view.get("topology") == f"test-{port}" and sorted(shown) == sorted(names)
              and all(a["requests"] == requests and a["queue"] == 0 for a in shown.values())
              and any(a["busy_s"] > 0 and a["compute_p50_ms"] > 0 for a in shown.values()),
              "/api/view lists every actor with its requests, queue depth, busy time and "
              "latency")
        gateway = [p["gateway"] for p in view.get("processes", []) if "gateway" in p]
        check(len(gateway) == 1 and gateway[0]["replies"] == requests
              and gateway[0]["latency_p50_ms"] > 0, "and the gateway's answers and latency")

        # zinfer status reads the topology only, and answers in milliseconds
        started = time.time()
        result = subprocess.run([args.zinfer, "status", path], capture_output=True, text=True,
                                timeout=30)
        took = time.time() - started
        check(result.returncode == 0 and "all 2 processes up" in result.stdout and took < 1,
              f"zinfer status in {took * 1000:.0f} ms")

        # Hostile requests: each refused, nothing else changes
        check(http_get(metrics_port, "/metrics", "POST")[0] == 405, "POST is refused with 405")
        check(http_get(metrics_port, "/nope")[0] == 404, "an unknown path is 404")
        check(http_get(metrics_port, "/metrics", headers={"X-Big": "a" * 20000})[0] in (413, 431),
              "a 20 kB header is refused")
        silent = [socket.create_connection(("127.0.0.1", metrics_port)) for _ in range(40)]
        client.infer([x], timeout=30)
        check(True, "40 silent connections open; the topology still answers")
        for connection in silent:
            connection.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if http_get(metrics_port, "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        check(http_get(metrics_port, "/healthz")[0] == 200,
              "after the silent connections, health answers again")

        # A worker killed: readyz says which is down until it is back
        victim = worker_pids(topology.process.pid)["p1"]
        os.kill(victim, signal.SIGKILL)
        deadline = time.time() + 5
        status, body = 200, ""
        while time.time() < deadline and status == 200:
            status, body = http_get(metrics_port, "/readyz")
            time.sleep(0.02)
        check(status == 503 and "'p1'" in body, f"/readyz while p1 restarts: {status} {body.strip()}")
        deadline = time.time() + 30
        while time.time() < deadline and http_get(metrics_port, "/readyz")[0] != 200:
            time.sleep(0.1)
        samples = metric_samples(http_get(metrics_port, "/metrics")[1])
        check(http_get(metrics_port, "/readyz")[0] == 200
              and metric(samples, "zinfer_process_restarts_total", process="p1") == 1,
              "ready again once p1 restarted; restarts_total counts it")
        client.close()
        code = topology.stop()
        check(code == 0, f"zinfer up stopped cleanly (exit {code})")
    try:
        http_get(metrics_port, "/healthz", timeout=2)
        check(False, "the HTTP server stopped with the launcher")
    except OSError:
        check(True, "the HTTP server stopped with the launcher")


def answers_at(address, port):
    """Whether address:port answers /healthz with 200; False when nothing
    listens there (connection refused)"""
    try:
        return http_get(port, "/healthz", timeout=2, address=address)[0] == 200
    except OSError:
        return False


def metrics_bind_case(args, folder, port):
    """The metrics server listens where metrics: bind says, and only there:
    by default the loopback 127.0.0.1; bind: host the host's own address
    (127.0.0.2 here, which Linux routes to loopback like all of 127/8); an
    explicit address that one (IPv4 or IPv6), 0.0.0.0 every interface. An
    address this machine does not have stops zinfer up with a clear error."""
    model = os.path.join(args.models, "tiny_cnn_op17.onnx")
    metrics_port = port + 90
    path = os.path.join(folder, "topology.yaml")

    def write(bind):
        with open(path, "w") as handle:
            handle.write(f"name: bind-{port}\nmodel: {model}\nbase_port: {port}\n"
                         "transport: ipc\nhosts:\n  - {name: here, address: 127.0.0.2}\n"
                         "processes:\n  - {name: p0}\n"
                         f"metrics: {{port: {metrics_port}"
                         + (f", bind: '{bind}'" if bind else "") + "}\n")

    # ::1 where the loopback has it (not in a container without IPv6)
    try:
        with open("/proc/net/if_inet6") as handle:
            ipv6 = any(line.startswith("0" * 31 + "1 ") for line in handle)
    except OSError:
        ipv6 = False
    forms = [(None, ["127.0.0.1"], ["127.0.0.2"]),
             ("host", ["127.0.0.2"], ["127.0.0.1"]),
             ("127.0.0.3", ["127.0.0.3"], ["127.0.0.1", "127.0.0.2"]),
             ("0.0.0.0", ["127.0.0.1", "127.0.0.2"], [])]
    if ipv6:
        forms.append(("::1", ["::1"], ["127.0.0.1", "127.0.0.2"]))
    for bind, served, silent in forms:
        write(bind)
        with Topology(args.zinfer, path, quiet=True) as topology:
            said = f"bind: {bind}" if bind else "no bind"
            for address in served:
                check(answers_at(address, metrics_port),
                      f"{said}: /healthz answers on {address}")
            for address in silent:
                check(not answers_at(address, metrics_port),
                      f"{said}: nothing listens on {address}")
            code = topology.stop()
            check(code == 0, f"{said}: zinfer up stopped cleanly (exit {code})")

    # An address that is no interface of this machine (TEST-NET-1): up
    # refuses to start rather than serve nowhere
    write("192.0.2.1")
    result = subprocess.run([args.zinfer, "up", path], capture_output=True, text=True,
                            timeout=60)
    check(result.returncode != 0 and f"cannot listen on 192.0.2.1:{metrics_port}"
          in result.stderr, f"bind: 192.0.2.1 stops zinfer up (exit {result.returncode}): "
          f"{result.stderr.strip().splitlines()[-1:] }")


def syscalls_case(args, folder, port):
    """System calls a request costs the gateway's worker thread, in
    mobilenet_v3_small split before its classifier over ipc, single
    requests back to back (strace on that one thread). zmq_poll looks at
    every descriptor without waiting and asks every socket for its
    events, a poll and a getpid each, before each sleep; the worker's own
    wait asks only the sockets that may have changed since they were last
    found empty and then sleeps (zi_worker.c), and the answers stay
    bitwise right. Skipped where strace is missing or may not trace
    (docs/performance.md, "Where an actor's hop goes")."""
    strace = shutil.which("strace")
    if strace is None:
        print("strace not found: skipped")
        return
    model_name = "mobilenet_v3_small_op17"
    data = os.path.join(args.models, model_name + ".input.npy")
    model = os.path.join(args.models, model_name + ".onnx")
    names = node_names(args.zinfer, model)
    # Cut where `zinfer split` cuts it for latency: the classifier (its
    # last three nodes) in the second process, 2 KiB crossing
    placement = range_placement([(names[0], names[-4]), (names[-3], names[-1])])
    path = write_topology(folder, model, ["p0", "p1"], placement, port, "ipc")
    expected = os.path.join(folder, "local.npy")
    subprocess.run([args.zinfer, "run", model, "--input", data, "--threads", "1", "--output",
                    expected], check=True, capture_output=True, timeout=120)
    requests = 200
    with Topology(args.zinfer, path) as topology:
        def infer(count):
            return subprocess.run([args.zinfer, "infer", "--endpoint", topology.local_endpoint,
                                   "--input", data, "--repeat", str(count), "--check",
                                   expected], capture_output=True, text=True, timeout=300)
        out = infer(20)
        check(out.returncode == 0 and "0 differ" in out.stdout,
              f"warm-up answers bitwise right ({out.stdout.strip()})")
        pids = worker_pids(topology.process.pid)
        tracers, logs = [], []
        for name in ("p0", "p1"):
            threads = [tid for tid in os.listdir(f"/proc/{pids[name]}/task")
                       if open(f"/proc/{pids[name]}/task/{tid}/comm").read().strip()
                       == "zi-worker-0"]
            check(len(threads) == 1, f"process {name} has one worker thread ({threads})")
            logs.append(os.path.join(folder, f"strace-{name}.txt"))
            tracers.append(subprocess.Popen([strace, "-qq", "-o", logs[-1], "-p", threads[0]],
                                            stderr=subprocess.PIPE, text=True))
        time.sleep(1.0)
        for tracer in tracers:
            if tracer.poll() is not None:
                print(f"strace cannot trace here: skipped ({tracer.stderr.read().strip()})")
                for other in tracers:
                    if other.poll() is None:
                        other.send_signal(signal.SIGINT)
                        other.wait(timeout=30)
                return
        out = infer(requests)
        for tracer in tracers:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
        check(out.returncode == 0 and "0 differ" in out.stdout,
              f"{requests} answers bitwise right under strace ({out.stdout.strip()})")
        # The second process's one thread, fed through one mailbox alone,
        # waits in a receive on it as a floor stage does: a getpid and a
        # poll that sleeps, the read of the mailbox's descriptor, and the
        # look that ends the commands (a getpid and a poll); the send adds
        # its own look and the write that wakes the I/O thread, with their
        # getpids: 10 a request. Waiting in a poll of the descriptor, then
        # asking for the socket's events and draining until a receive
        # found nothing, it made 13 (two polls and a getpid more)
        stage = [line for line in open(logs[1]) if line[:1].isalpha() and "(" in line]
        calls = {}
        for line in stage:
            name = line[:line.index("(")]
            calls[name] = calls.get(name, 0) + 1
        summary = ", ".join(f"{name} {count / requests:.2f}"
                            for name, count in sorted(calls.items()))
        print(f"second process's worker thread: {len(stage) / requests:.1f} system calls a "
              f"request ({summary})")
        check(len(stage) / requests < 11.5, f"at most 11.5 system calls a request on the second "
              f"process's worker thread ({len(stage) / requests:.1f})")
        lines = [line for line in open(logs[0]) if line[:1].isalpha() and "(" in line]
        per_request = len(lines) / requests
        # Each wait's polls of all the sockets' descriptors: a look that
        # does not wait (timeout 0), or a sleep. zmq_poll looks before
        # every sleep (its first pass), with only its questions to each
        # socket (a getpid and a poll of one descriptor) in between; the
        # thread's own wait sleeps without a look first
        polls, sleeps, looked_first, last_look = 0, 0, 0, False
        for line in lines:
            match = re.match(r"poll\(\[.*\], (\d+), (-?\d+)\)", line)
            if match and int(match.group(1)) > 1:
                polls += 1
                if int(match.group(2)) == 0:
                    last_look = True
                    continue
                sleeps += 1
                looked_first += last_look
            elif match and int(match.group(2)) == 0 or line.startswith("getpid"):
                polls += bool(match)
                continue
            last_look = False
        print(f"gateway's worker thread: {per_request:.1f} system calls a request, "
              f"{polls / requests:.1f} of them poll; {sleeps / requests:.2f} sleeps a request, "
              f"{looked_first} of {sleeps} right after a look")
        # zmq_poll: 32 to 49 a request, every sleep right after a look;
        # the wait: 27 to 29, and hardly a sleep after a look
        check(sleeps > 0 and looked_first < 0.5 * sleeps, f"the worker thread sleeps without "
              f"looking first ({looked_first} of {sleeps} sleeps right after a look)")
        check(per_request < 38, f"at most 38 system calls a request on the gateway's worker "
              f"thread ({per_request:.1f})")


CASES = {
    "backpressure": backpressure_case,
    "graceful_stop": graceful_case,
    "kill_recovery": kill_recovery_case,
    "monitor": monitor_case,
    "hostile_frames": hostile_case,
    "huge_tensor_tcp": huge_tensor_case,
    "local_inproc_tiny_cnn": split_case("tiny_cnn_op17", 1, "ipc"),
    "local_inproc_resnet18": split_case("resnet18_op17", 1, "ipc", requests=5),
    "tiny_cnn_per_actor": split_case("tiny_cnn_op13", 0, "tcp", per_actor=True),
    "mobilenet_small_2_ipc": split_case("mobilenet_v3_small_op17", 2, "ipc", requests=5),
    "mobilenet_small_4_tcp": split_case("mobilenet_v3_small_op17", 4, "tcp", requests=5),
    "mobilenet_keras_4_tcp": split_case("mobilenet_v3_small_keras_op13", 4, "tcp", requests=5),
    "mobilenet_keras_2_ipc": split_case("mobilenet_v3_small_keras_op17", 2, "ipc", requests=5),
    "resnet18_2_ipc": split_case("resnet18_op17", 2, "ipc", requests=5),
    "resnet18_4_tcp": split_case("resnet18_op13", 4, "tcp", requests=5),
    "replicated_actor": split_case("tiny_cnn_op17", 2, "tcp", replicas=3, requests=30, inflight=8),
    "three_clients": split_case("tiny_cnn_op13", 3, "tcp", requests=50, inflight=4, clients=3),
    "one_thread_resnet18": one_thread_case,
    "inflight_1000": inflight_case,
    "no_orphans": no_orphans_case,
    "slow_reader": slow_reader_case,
    "resend_replaces": resend_case,
    "shared_memory": shared_memory_case,
    "relay_once": relay_case,
    "one_stream": one_stream_case,
    "pipeline_order": pipeline_order_case,
    "python_client": python_client_case,
    "control_flow_if": control_flow_case,
    "metrics": metrics_case,
    "metrics_bind": metrics_bind_case,
    "syscalls_per_request": syscalls_case,
}


def main(cases=None, doc=None, prefix="zinfer-topotest-"):
    """Runs one case of a table like CASES from the command line (other
    test scripts pass their own table)"""
    cases = CASES if cases is None else cases
    parser = argparse.ArgumentParser(description=(doc or __doc__).splitlines()[0])
    parser.add_argument("--zinfer")
    parser.add_argument("--models")
    parser.add_argument("--case")
    parser.add_argument("--port", type=int)
    parser.add_argument("--port-base", type=int, default=24000,
                        help="each case uses ports from BASE + 100 * its index")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--requests", type=int, help="fewer requests, for a quick run")
    args = parser.parse_args()
    if args.list:
        print("\n".join(cases))
        return 0
    if args.case not in cases:
        print(f"unknown case {args.case!r}; cases: {', '.join(cases)}", file=sys.stderr)
        return 2
    if args.port is None:
        args.port = args.port_base + 100 * list(cases).index(args.case)
    # A case that hangs prints where every thread stands before ctest's
    # timeout kills it silently
    faulthandler.dump_traceback_later(540, exit=True)
    args.zinfer = os.path.abspath(args.zinfer)
    args.models = os.path.abspath(args.models)
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        try:
            cases[args.case](args, folder, args.port)
        except (Failure, HarnessError) as failure:
            print("FAIL", failure, flush=True)
            return 1
    print(f"{args.case}: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
