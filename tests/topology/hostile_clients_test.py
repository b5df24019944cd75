#!/usr/bin/python3
"""Clients and peers that break the rules: tests that no answer is ever
wrong and no bound can be lifted by what a client or a forged frame does.

Each case starts a real topology with `zinfer up` on 127.0.0.1 (ports from
BASE + 100 * its index), attacks it, and checks the answers of honest
clients bit for bit against `zinfer run --threads 1`.

    /usr/bin/python3 tests/topology/hostile_clients_test.py --zinfer build/zinfer \
        --models build/models --case NAME [--port-base BASE]
"""

import json
import os
import signal
import subprocess
import sys
import time

import msgpack
import numpy as np
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import topotest  # noqa: E402
from topotest import (Failure, Topology, check, local_result,  # noqa: E402
                      node_names, range_placement, ranges, rss_kib, split_topology, worker_pids,
                      write_topology, zinfer_client)

ERROR = 4           # message kind of a refusal (docs/protocol.md)


def request_frames(request_id, x, flags=0):
    """One request of a single-input model, as the wire format has it"""
    header = msgpack.packb([1, 2, request_id, 0xFFFF, 0, 1, 1, list(x.shape), flags])
    return [header, x.tobytes()]


def top_snapshot(args, path):
    """`zinfer top --json` (a stopped process makes it exit 1 after printing
    what the others said)"""
    out = subprocess.run([args.zinfer, "top", path, "--json"], capture_output=True, text=True,
                         timeout=30)
    return json.loads(out.stdout)


def tcp_mailboxes(snapshot):
    """The tcp endpoints of the actors' mailboxes in a `top --json` snapshot"""
    return [endpoint for actor in snapshot["actors"]
            for endpoint in actor["endpoints"] if endpoint.startswith("tcp://")]


def gateway_stats(args, path):
    for process in top_snapshot(args, path)["processes"]:
        if "gateway" in process:
            return process["name"], process["gateway"]
    raise Failure("no process reports a gateway")


def admitted(args, path, count, seconds=30):
    """Waits until the gateway has admitted count requests"""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if gateway_stats(args, path)[1]["requests"] >= count:
                return
        except (Failure, ValueError, KeyError):
            pass            # the gateway's process restarting
        time.sleep(0.1)
    raise Failure(f"the gateway did not admit {count} requests within {seconds} s")


def stopped_worker_topology(path):
    """Tests that stop a worker on purpose keep the launcher's liveness
    check from restarting it under them"""
    with open(path, "a") as handle:
        handle.write("liveness_timeout_ms: 120000\n")
    return path


def byte_budget_topology(path, budget):
    """Caps the input bytes the gateway holds admitted (max_inflight_bytes)"""
    with open(path, "a") as handle:
        handle.write(f"max_inflight_bytes: {budget}\n")
    return path


def cut_bytes(args, model, names, folder):
    """Bytes one request sends from the first process of a split in two
    (split_topology's ranges) to the second: each tensor made there that a
    node placed later reads, once per reader (as many copies as could
    queue for a stopped worker), from the plan's own sizes
    (`zinfer run --profile-json`)"""
    profile = os.path.join(folder, "cut-profile.json")
    data = model[:-len(".onnx")] + ".input.npy"
    subprocess.run([args.zinfer, "run", model, "--input", data, "--repeat", "1",
                    "--profile-json", profile], check=True, capture_output=True)
    nodes = json.load(open(profile))["nodes"]
    first = set(names[:names.index(ranges(names, 2)[1][0])])
    made = {node["output"]: node for node in nodes}
    return sum(made[value]["bytes"] for node in nodes if node["name"] not in first
               for value in node["inputs"] if value in made and made[value]["name"] in first)


def dealer(context, endpoint, receive_hwm=None):
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    if receive_hwm is not None:
        socket.setsockopt(zmq.RCVHWM, receive_hwm)
    socket.connect(endpoint)
    return socket


def inputs_of(args, model_name, folder):
    """The test input and a second, different one, with their local answers"""
    model = os.path.join(args.models, model_name + ".onnx")
    first = np.load(os.path.join(args.models, model_name + ".input.npy"))
    second = (first[::-1] * np.float32(0.5) + np.float32(0.25)).astype(np.float32).copy()
    path = os.path.join(folder, "second.npy")
    np.save(path, second)
    want_first = local_result(args.zinfer, model, [os.path.join(args.models,
                                                                model_name + ".input.npy")],
                              folder).tobytes()
    want_second = local_result(args.zinfer, model, [path], folder).tobytes()
    check(want_first != want_second, "the two inputs have different answers")
    return first, second, want_first, want_second


def gateway_restart_case(args, folder, port):
    """The gateway's process is killed while a stopped worker further down
    holds requests it admitted; once the worker goes on, their results reach the
    restarted gateway. They must be dropped (another epoch), never handed to
    a second client whose requests reuse the same internal counts."""
    model_name = "tiny_cnn_op13"
    model, names, path = split_topology(args, folder, port, model_name, 3)
    stopped_worker_topology(path)
    first, second, want_first, want_second = inputs_of(args, model_name, folder)
    count = 50
    context = zmq.Context()
    with Topology(args.zinfer, path) as topology:
        gateway_name, _ = gateway_stats(args, path)
        pids = worker_pids(topology.process.pid)
        #  The last process, which the gateway reaches through another: a
        #  connection from the dying gateway could take queued data with it
        middle = sorted(name for name in pids if name != gateway_name)[-1]
        os.kill(pids[middle], signal.SIGSTOP)
        try:
            alice = dealer(context, topology.endpoint)
            for request in range(1, count + 1):
                alice.send_multipart(request_frames(request, first))
            admitted(args, path, count)
            time.sleep(0.3)         # and passed on, queued for the stopped worker
            os.kill(pids[gateway_name], signal.SIGKILL)
            deadline = time.time() + 30
            while time.time() < deadline:
                restarted = worker_pids(topology.process.pid).get(gateway_name)
                if restarted and restarted != pids[gateway_name]:
                    break
                time.sleep(0.05)
            check(restarted != pids[gateway_name], "the launcher restarted the gateway")
            bob = dealer(context, topology.endpoint)
            for request in range(1, count + 1):
                bob.send_multipart(request_frames(request, second))
            admitted(args, path, count)         # Bob's, behind Alice's
        finally:
            os.kill(pids[middle], signal.SIGCONT)
        answers, wrong = {}, 0
        while len(answers) < count:
            if not bob.poll(30000):
                raise Failure(f"Bob is not answered ({len(answers)} of {count} so far)")
            reply = bob.recv_multipart()
            header = msgpack.unpackb(reply[0])
            if header[1] == ERROR:
                raise Failure(f"Bob's request refused: {header}")
            answers[header[2]] = reply[1]
            wrong += reply[1] != want_second
        _, gateway = gateway_stats(args, path)
        print(f"Bob: {len(answers)} answers, {wrong} computed from another input; gateway "
              f"dropped {gateway.get('stale')} results of its earlier epoch", flush=True)
        check(wrong == 0, "every answer Bob got was computed from Bob's input")
        check(gateway.get("stale", 0) >= 1, "the dead gateway's results came and were dropped")
        alice.close()
        bob.close()
    context.term()


def fair_share_case(args, folder, port):
    """A client that sends without ever reading fills the gateway with
    answers it cannot deliver; a second client is still served, and the
    first is refused (busy) once it holds its share."""
    model_name = "tiny_cnn_op13"
    model, names, path = split_topology(args, folder, port, model_name, 2, "ipc")
    first, second, want_first, want_second = inputs_of(args, model_name, folder)
    context = zmq.Context()
    with Topology(args.zinfer, path) as topology:
        hog = dealer(context, topology.local_endpoint, receive_hwm=10)
        sent, deadline = 0, time.time() + 120
        while time.time() < deadline:
            try:
                while True:
                    hog.send_multipart(request_frames(sent + 1, first), flags=zmq.NOBLOCK)
                    sent += 1
            except zmq.Again:
                pass
            _, gateway = gateway_stats(args, path)
            if gateway["undelivered"] > 0 and gateway["busy"] > 0:
                break
            time.sleep(0.3)
        print(f"the hog sent {sent} without reading; gateway: {gateway}", flush=True)
        check(gateway["undelivered"] > 0, "answers wait for the hog")
        check(gateway["busy"] > 0, "the hog is refused once it holds its share")
        check(gateway["inflight"] <= gateway["max_inflight"], "the hog holds no more than all slots")
        honest = dealer(context, topology.endpoint)
        start = time.time()
        for request in range(1, 6):
            honest.send_multipart(request_frames(request, second))
        got = 0
        while got < 5:
            check(honest.poll(10000), f"the honest client is answered ({got} of 5)")
            reply = honest.recv_multipart()
            check(msgpack.unpackb(reply[0])[1] != ERROR, "the honest client is not refused")
            check(reply[1] == want_second, "its answer is bitwise right")
            got += 1
        print(f"the honest client got 5 answers in {time.time() - start:.2f} s", flush=True)
        _, gateway = gateway_stats(args, path)
        check(gateway["inflight"] < 2 * gateway["max_inflight"], "within the hard limit")
        hog.close()
        honest.close()
    context.term()


def resend_flood_case(args, folder, port):
    """A client resends one request id in a loop as fast as it can, then
    resends waves while the downstream worker is stopped: replaced copies
    keep their slots and their bytes until their results are back, so the
    gateway never holds more than its limits and worker memory stays
    within what its byte budget allows."""
    model_name = "resnet18_op17"
    model, names, path = split_topology(args, folder, port, model_name, 2, "ipc")
    stopped_worker_topology(path)
    #  32 MiB of inputs: 55 requests of 588 KiB, where the 1024 slots
    #  alone let 420 ghosts and 600 requests grow the gateway's process
    #  past 550 MiB
    budget = 32 << 20
    byte_budget_topology(path, budget)
    first, second, want_first, want_second = inputs_of(args, model_name, folder)
    #  What a worker may hold beyond its memory at rest, from the budget:
    #  each admitted request's input and what it sends towards the stopped
    #  worker (queued in the sender, or received by the other), plus the
    #  requests read but not admitted (one waiting for room, 16 in the
    #  client's queue at the gateway); doubled for the allocator's and
    #  ZeroMQ's buffers and copies on the way, and 64 MiB for the rest
    cut = cut_bytes(args, model, names, folder)
    admitted_at_most = budget // first.nbytes
    held = admitted_at_most * (first.nbytes + cut) + 17 * first.nbytes
    growth_kib = (2 * held + (64 << 20)) // 1024
    ldd = os.popen(f"ldd {args.zinfer}").read()
    if "libasan" in ldd or "libtsan" in ldd:
        growth_kib *= 4
    context = zmq.Context()
    with Topology(args.zinfer, path) as topology:
        pids = worker_pids(topology.process.pid)
        gateway_name, _ = gateway_stats(args, path)
        downstream = next(name for name in pids if name != gateway_name)
        peak = {name: rss_kib(pid) for name, pid in pids.items()}
        bound_kib = max(peak.values()) + growth_kib
        print(f"budget {budget} bytes: at most {admitted_at_most} requests of {first.nbytes} "
              f"bytes, each sending {cut} bytes on; RSS at rest {peak} KiB, bound {bound_kib} KiB",
              flush=True)
        flooder = dealer(context, topology.endpoint)
        frames = request_frames(7, first)
        sent, start = 0, time.time()
        while time.time() - start < 4:
            try:
                flooder.send_multipart(frames, flags=zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                time.sleep(0.001)
            if sent % 200 == 0:
                for name, pid in pids.items():
                    peak[name] = max(peak[name], rss_kib(pid))
        _, gateway = gateway_stats(args, path)
        print(f"one id resent {sent} times in 4 s; gateway: {gateway}; peak RSS {peak} KiB",
              flush=True)
        check(gateway["inflight"] + gateway["ghosts"] <= gateway["max_inflight"],
              "replaced copies count against the limit")
        check(gateway.get("inflight_bytes", budget + 1) <= budget
              and gateway.get("max_inflight_bytes") == budget,
              "replaced copies count against the byte budget")
        os.kill(pids[downstream], signal.SIGSTOP)
        try:
            for wave in range(3):
                for request in range(100, 400):
                    try:
                        flooder.send_multipart(request_frames(request, first), flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                time.sleep(1)
                for name, pid in pids.items():
                    peak[name] = max(peak[name], rss_kib(pid))
            _, gateway = gateway_stats(args, path)
        finally:
            os.kill(pids[downstream], signal.SIGCONT)
        print(f"three resend waves while {downstream} was stopped; gateway: {gateway}; "
              f"peak RSS {peak} KiB", flush=True)
        check(gateway["inflight"] + gateway["ghosts"] <= gateway["max_inflight"],
              "resend waves stay within the limit")
        check(gateway.get("inflight_bytes", budget + 1) <= budget,
              f"resend waves stay within the byte budget ({gateway.get('inflight_bytes')} "
              f"of {budget})")
        check(max(peak.values()) < bound_kib,
              f"every worker stayed under {bound_kib // 1024} MiB (peak {max(peak.values())} KiB)")
        # Once the flood stops (the flooder gone, its queue with it),
        # everything drains: nothing keeps a slot
        flooder.close()
        deadline = time.time() + 90
        while True:
            _, gateway = gateway_stats(args, path)
            if (gateway["inflight"] == 0 and gateway["ghosts"] == 0
                    and gateway.get("inflight_bytes") == 0 or time.time() > deadline):
                break
            time.sleep(0.3)
        check(gateway["inflight"] == 0 and gateway["ghosts"] == 0
              and gateway.get("inflight_bytes") == 0,
              f"every slot and byte free after the flood ({gateway})")
        honest = zinfer_client.Client(topology.endpoint, context=context)
        (y,) = honest.infer([second])
        check(y.tobytes() == want_second, "served right after the flood")
        honest.close()
    context.term()


def byte_budget_case(args, folder, port):
    """The gateway admits requests while their inputs fit its byte budget
    (max_inflight_bytes), however many slots are free: with the
    downstream worker stopped, of 40 distinct requests only as many as fit
    are admitted, the bytes admitted never above the budget; once the
    worker goes on, every request is answered once, bitwise right."""
    model_name = "resnet18_op17"
    model, names, path = split_topology(args, folder, port, model_name, 2, "ipc")
    stopped_worker_topology(path)
    first, second, want_first, want_second = inputs_of(args, model_name, folder)
    #  A budget that cannot hold one request is refused as the file loads
    small = os.path.join(folder, "small-budget.yaml")
    with open(path) as source, open(small, "w") as target:
        target.write(source.read() + "max_inflight_bytes: 4096\n")
    refused = subprocess.run([args.zinfer, "plan", small], capture_output=True, text=True,
                             timeout=60)
    lines = refused.stderr.strip().splitlines()
    check(refused.returncode != 0 and len(lines) == 1
          and f"max_inflight_bytes 4096 is less than one request's inputs; expected at least "
              f"{first.nbytes}" in lines[0],
          f"a budget below one request is refused in one line: {lines}")
    fit = 8
    budget = fit * first.nbytes + first.nbytes // 2     # 8 fit, a ninth does not
    byte_budget_topology(path, budget)
    count = 40
    context = zmq.Context()
    with Topology(args.zinfer, path) as topology:
        pids = worker_pids(topology.process.pid)
        gateway_name, _ = gateway_stats(args, path)
        downstream = next(name for name in pids if name != gateway_name)
        client = dealer(context, topology.endpoint)
        os.kill(pids[downstream], signal.SIGSTOP)
        try:
            for request in range(1, count + 1):
                client.send_multipart(request_frames(request, first if request % 2 else second))
            #  Watched for 3 s: what is admitted stays within the budget
            highest, admitted_most, deadline = 0, 0, time.time() + 3
            while time.time() < deadline:
                _, gateway = gateway_stats(args, path)
                highest = max(highest, gateway.get("inflight_bytes", budget + 1))
                admitted_most = max(admitted_most, gateway["requests"])
                time.sleep(0.2)
        finally:
            os.kill(pids[downstream], signal.SIGCONT)
        print(f"{count} requests of {first.nbytes} bytes, budget {budget}: {admitted_most} "
              f"admitted, at most {highest} bytes; gateway: {gateway}", flush=True)
        check(gateway.get("max_inflight_bytes") == budget, "the monitor shows the budget")
        check(highest <= budget, f"bytes admitted never above the budget ({highest} of {budget})")
        check(admitted_most == fit and highest == fit * first.nbytes,
              f"{fit} requests fill the budget and no more are admitted ({admitted_most})")
        answers, wrong = {}, []
        while len(answers) < count:
            if not client.poll(60000):
                raise Failure(f"not answered after the worker went on ({len(answers)} of {count})")
            reply = client.recv_multipart()
            header = msgpack.unpackb(reply[0])
            want = want_first if header[2] % 2 else want_second
            if header[1] == ERROR or reply[1] != want or header[2] in answers:
                wrong.append(header)
            answers[header[2]] = reply[1]
        check(not wrong and sorted(answers) == list(range(1, count + 1)),
              f"every request answered once, bitwise right ({wrong[:2]})")
        check(client.poll(500) == 0, "and nothing more")
        deadline = time.time() + 10
        while True:
            _, gateway = gateway_stats(args, path)
            if gateway.get("inflight_bytes") == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        check(gateway.get("inflight_bytes") == 0 and gateway["inflight"] == 0,
              f"every byte free once answered ({gateway})")
        client.close()
    #  With an unknown batch dimension a request may be larger than the
    #  whole budget: refused, saying why, never admitted alone; one that
    #  fills the budget exactly is answered
    model = os.path.join(args.models, "resnet18_dynbatch_op17.onnx")
    image = np.load(os.path.join(args.models, "resnet18_dynbatch_op17.input.npy"))[:1]
    two = np.concatenate([image, image[:, :, ::-1, :]]).astype(np.float32)
    np.save(os.path.join(folder, "two.npy"), two)
    want_two = local_result(args.zinfer, model, [os.path.join(folder, "two.npy")],
                            folder).tobytes()
    dynamic = os.path.join(folder, "dynamic")
    os.makedirs(dynamic, exist_ok=True)
    path = byte_budget_topology(write_topology(dynamic, model, ["p0"], [], port + 50, "ipc"),
                                two.nbytes)
    with Topology(args.zinfer, path) as topology:
        client = dealer(context, topology.endpoint)
        four = np.concatenate([two, two])
        client.send_multipart(request_frames(1, four))
        client.send_multipart(request_frames(2, two))
        replies = {}
        while len(replies) < 2 and client.poll(30000):
            reply = client.recv_multipart()
            replies[msgpack.unpackb(reply[0])[2]] = reply
        refusal = msgpack.unpackb(replies[1][0]) if 1 in replies else []
        check(refusal[1:2] == [ERROR] and f"take {four.nbytes} bytes" in str(refusal[-1])
              and f"max_inflight_bytes: {two.nbytes}" in str(refusal[-1]),
              f"a request larger than the budget is refused, saying why: {refusal}")
        check(2 in replies and msgpack.unpackb(replies[2][0])[1] != ERROR
              and replies[2][1] == want_two,
              "a request that fills the budget exactly is answered, bitwise right")
        client.close()
    context.term()


def huge_frames_case(args, folder, port):
    """256 MiB frames sent to the gateway's client endpoint, to an actor's
    tcp mailbox and to a monitor are refused as their size is read: the
    sender is disconnected before the frame is stored, no process grows by
    anything near the frame, and everyone else is served on."""
    model_name = "tiny_cnn_op13"
    model, names, path = split_topology(args, folder, port, model_name, 2, "tcp")
    first, second, want_first, want_second = inputs_of(args, model_name, folder)
    huge = b"\0" * (256 << 20)
    context = zmq.Context()
    with Topology(args.zinfer, path) as topology:
        pids = worker_pids(topology.process.pid)
        before = {name: rss_kib(pid) for name, pid in pids.items()}
        snapshot = top_snapshot(args, path)
        mailboxes = tcp_mailboxes(snapshot)
        targets = [("gateway", topology.endpoint, zmq.DEALER),
                   ("monitor", snapshot["processes"][-1]["monitor"], zmq.DEALER)]
        check(mailboxes, "an actor listens on tcp")
        targets.append(("mailbox", mailboxes[-1], zmq.PUSH))
        for what, endpoint, kind in targets:
            socket = context.socket(kind)
            socket.setsockopt(zmq.LINGER, 0)
            socket.connect(endpoint)
            header = msgpack.packb([1, 2 if what == "gateway" else 1, 1, 0xFFFF, 0, 1, 1,
                                    [len(huge) // 4], 0])
            socket.send_multipart([header, huge] if what != "monitor" else [huge])
            time.sleep(1.5)
            socket.close()
            grown = {name: rss_kib(pid) - before[name] for name, pid in pids.items()}
            print(f"a 256 MiB frame to the {what} ({endpoint}): workers grew by {grown} KiB",
                  flush=True)
            check(max(grown.values()) < 64 * 1024,
                  f"no worker stored the frame sent to the {what}")
        check(worker_pids(topology.process.pid) == pids, "no worker died or restarted")
        honest = zinfer_client.Client(topology.endpoint, context=context)
        (y,) = honest.infer([second])
        check(y.tobytes() == want_second, "an honest client is served right after")
        honest.close()
    context.term()


def trace_flood_case(args, folder, port):
    """Traced requests whose trace frames are forged: one with more
    records than any request can collect is refused where it arrives; one
    at the limit, of distinct records, crosses every hop in linear time,
    and honest requests behind both are answered promptly and right."""
    model_name = "tiny_cnn_op13"
    model, names, path = split_topology(args, folder, port, model_name, 3, "tcp")
    first, second, want_first, want_second = inputs_of(args, model_name, folder)
    context = zmq.Context()
    record = np.zeros(1, dtype=[("actor", "<u4"), ("process", "<u4"), ("times", "<i8", 4)])
    with Topology(args.zinfer, path) as topology:
        snapshot = top_snapshot(args, path)
        mailboxes = tcp_mailboxes(snapshot)
        check(mailboxes, "an actor listens on tcp")
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(mailboxes[0])
        for count in (65536, 4096):
            records = np.zeros(count, dtype=record.dtype)
            records["actor"] = np.arange(count)
            header = msgpack.packb([1, 1, 5, 0, 0, 1, 1, [1], 1])
            for _ in range(20):
                push.send_multipart([header, np.zeros(1, np.float32).tobytes(),
                                     records.tobytes()])
        honest = zinfer_client.Client(topology.endpoint, context=context)
        start = time.time()
        for _ in range(10):
            (y,) = honest.infer([second])
            check(y.tobytes() == want_second, "an honest request is answered right")
        took = time.time() - start
        print(f"10 honest requests behind 40 forged traces: {took:.2f} s", flush=True)
        check(took < 5, "honest requests are not held up by forged traces")
        honest.close()
        push.close()
    context.term()


def many_outputs_case(args, folder, port):
    """A model with 12 outputs (counts from a file once overflowed arrays
    sized for 8) split over two processes: every output of every answer is
    the reference's, and a request with more inputs than any model may have
    is refused with a clear error."""
    model = os.path.join(HERE, "..", "bad", "models", "many_outputs.onnx")
    reference = np.load(os.path.join(HERE, "..", "bad", "models", "many_outputs.npz"))
    names = node_names(args.zinfer, model)
    path = write_topology(folder, model, ["p0", "p1"], range_placement(ranges(names, 2)),
                          port, "ipc")
    context = zmq.Context()
    with Topology(args.zinfer, path) as topology:
        client = zinfer_client.Client(topology.endpoint, context=context)
        for _ in range(5):
            outputs = client.infer([reference["input_x"]])
            check(len(outputs) == 12, f"12 outputs come back ({len(outputs)})")
            for index, output in enumerate(outputs):
                check(np.array_equal(output, reference[f"output_y{index}"]),
                      f"output y{index} is the reference's")
        client.close()
        socket = dealer(context, topology.endpoint)
        x = reference["input_x"]
        frames = []
        for slot in range(300):
            frames += [msgpack.packb([1, 2, 9, 0xFFFF, slot, 300, 1, list(x.shape), 0]),
                       x.tobytes()]
        socket.send_multipart(frames)
        check(socket.poll(10000), "a request of 300 inputs is answered")
        header = msgpack.unpackb(socket.recv_multipart()[0])
        check(header[1] == ERROR and "input" in header[-1],
              f"it is refused, saying why: {header[-1]!r}")
        socket.close()
    context.term()


def model_names_case(args, folder, port):
    """Node names are the model file's, and a model can come from anyone:
    names with quotes, backquotes and a gnuplot command in them go through
    `zinfer trace --png` (gnuplot runs `backquoted` shell commands inside
    double-quoted strings, and `system` in its commands) as plain text,
    whole, and nothing they say runs."""
    import onnx
    from onnx import TensorProto, helper
    marker = os.path.join(folder, "ran")
    first = f"relu\"`touch {marker}-1`"
    second = f"neg'; system('touch {marker}-2'); print '"
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name=first),
         helper.make_node("Neg", ["r"], ["y"], name=second)],
        "hostile_names", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])])
    model = os.path.join(folder, "hostile_names.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    # YAML's double-quoted scalars take JSON's escapes
    placement = ["  - process: p0", f"    node: {json.dumps(first)}",
                 "  - process: p1", f"    node: {json.dumps(second)}"]
    path = write_topology(folder, model, ["p0", "p1"], placement, port, "ipc")
    data = os.path.join(folder, "x.npy")
    np.save(data, np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 64))
    with Topology(args.zinfer, path):
        for inflight in (1, 3):
            trace_file = os.path.join(folder, f"trace{inflight}.json")
            png_file = os.path.join(folder, f"trace{inflight}.png")
            result = subprocess.run([args.zinfer, "trace", path, "--input", data, "--out",
                                     trace_file, "--png", png_file, "--inflight", str(inflight)],
                                    capture_output=True, text=True, timeout=120)
            check(result.returncode == 0 and "chart written" in result.stdout,
                  f"trace --png --inflight {inflight} draws its chart: "
                  f"{(result.stdout + result.stderr)[-300:]}")
            check(os.path.exists(png_file) and os.path.getsize(png_file) > 1000,
                  f"the chart of {inflight} request(s) is a picture")
            names = {e["name"] for e in json.load(open(trace_file))["traceEvents"]
                     if e.get("cat") == "compute"}
            check(any(first in name for name in names) and any(second in name for name in names),
                  f"the trace keeps both names whole: {sorted(names)}")
        ran = [name for name in os.listdir(folder) if name.startswith("ran")]
        check(not ran, f"no command hidden in a node name ran (found {ran})")


def resend_answered_case(args, folder, port):
    """A client that lost an answer the gateway had sent asks again under
    the same id and gets it again, bitwise the same, without the model
    running again; a resend whose first answer is still unread in its
    queue gets a second copy; an id reused for other inputs (also ones
    that differ in a single byte in the middle) is run for them, never
    answered with the kept answer of the first; a resend of a
    request whose answer waits in the gateway for the client's full queue
    is answered by it, once."""
    model_name = "tiny_cnn_op17"
    model, names, path = split_topology(args, folder, port, model_name, 2, "ipc")
    first, second, want_first, want_second = inputs_of(args, model_name, folder)
    context = zmq.Context()

    def answer(socket, request_id, what):
        check(socket.poll(10000), f"{what}: an answer comes")
        reply = socket.recv_multipart()
        header = msgpack.unpackb(reply[0])
        check(header[1] != ERROR and header[2] == request_id,
              f"{what}: an answer to request {request_id} ({header})")
        return reply[1]

    with Topology(args.zinfer, path) as topology:
        client = dealer(context, topology.endpoint)
        client.send_multipart(request_frames(7, first))
        check(answer(client, 7, "the first copy") == want_first, "the first answer is right")
        _, before = gateway_stats(args, path)
        # The answer was read and "lost": the client asks again
        client.send_multipart(request_frames(7, first))
        check(answer(client, 7, "the resend") == want_first,
              "the resend of an answered request gets the same answer, bitwise")
        _, after = gateway_stats(args, path)
        check(after["requests"] == before["requests"] and after["repeated"] == 1,
              f"it came from the kept answers, the model did not run again ({after})")
        # Sent twice before reading: the second copy is answered from the first
        client.send_multipart(request_frames(8, second))
        deadline = time.time() + 10
        while gateway_stats(args, path)[1]["replies"] < after["replies"] + 1:
            check(time.time() < deadline, "the answer to request 8 is sent")
            time.sleep(0.05)
        client.send_multipart(request_frames(8, second))
        check(answer(client, 8, "the unread answer") == want_second
              and answer(client, 8, "its resend") == want_second,
              "a resend while the answer waits unread gets a second copy, both right")
        # The same id with other inputs is a new request: run, not answered from memory
        client.send_multipart(request_frames(7, second))
        check(answer(client, 7, "an id reused for other inputs") == want_second,
              "an id reused for other inputs gets their answer, not the kept one")
        # ... also when they differ in one byte in the middle, far from
        # either end: the fingerprint reads every byte
        middle_input = bytearray(first.tobytes())
        middle = len(middle_input) // 2 // 4 * 4 + 2      # a float's high mantissa byte
        middle_input[middle] ^= 0x40
        third = np.frombuffer(bytes(middle_input), first.dtype).reshape(first.shape)
        np.save(os.path.join(folder, "third.npy"), third)
        want_third = local_result(args.zinfer, model, [os.path.join(folder, "third.npy")],
                                  folder).tobytes()
        check(want_third != want_first and len(middle_input) > 1024 + 4,
              f"the input with byte {middle} of {len(middle_input)} changed has another answer")
        client.send_multipart(request_frames(9, first))
        check(answer(client, 9, "request 9") == want_first, "request 9 is answered")
        client.send_multipart(request_frames(9, third))
        check(answer(client, 9, "id 9 reused, one middle byte changed") == want_third,
              "an id reused for inputs that differ in one middle byte gets their answer, "
              "not the kept one")
        _, last = gateway_stats(args, path)
        check(last["repeated"] == 2 and last["requests"] == after["requests"] + 4,
              f"two answers repeated, five requests run ({last})")
        client.close()

        # A client that does not read until answers wait in the gateway for
        # its full queue, then resends the last request admitted: answered
        # by the waiting answer, once, not run again
        hog = dealer(context, topology.local_endpoint, receive_hwm=10)
        hog.setsockopt(zmq.SNDHWM, 20)
        sent, deadline = 0, time.time() + 120
        while time.time() < deadline:
            try:
                while True:
                    hog.send_multipart(request_frames(1000 + sent, first), flags=zmq.NOBLOCK)
                    sent += 1
            except zmq.Again:
                pass
            _, gateway = gateway_stats(args, path)
            if gateway["undelivered"] > 0:
                break
            time.sleep(0.2)
        stable, previous = time.time(), None
        while time.time() - stable < 1.0 and time.time() < deadline:
            _, gateway = gateway_stats(args, path)
            if previous is None or gateway["requests"] != previous["requests"] \
                    or gateway["inflight"] != gateway["undelivered"]:
                stable = time.time()
            previous = gateway
            time.sleep(0.1)
        admitted = gateway["requests"] - last["requests"]
        print(f"the hog sent {sent} without reading; gateway: {gateway}", flush=True)
        check(gateway["undelivered"] > 0 and gateway["inflight"] == gateway["undelivered"],
              "answers wait for the hog's queue, none still running")
        check(gateway["busy"] == 0 and admitted == sent,
              f"every request of the hog admitted ({admitted} of {sent})")
        hog.send_multipart(request_frames(1000 + sent - 1, first))
        deadline = time.time() + 10
        while gateway["repeated"] == last["repeated"] and time.time() < deadline:
            time.sleep(0.1)
            _, gateway = gateway_stats(args, path)
        check(gateway["repeated"] == last["repeated"] + 1 and gateway["requests"] == last["requests"] + sent,
              f"the resend is answered by the waiting answer, not run again ({gateway})")
        counts, wrong = {}, []
        while len(counts) < sent and hog.poll(10000):
            reply = hog.recv_multipart()
            header = msgpack.unpackb(reply[0])
            if header[1] == ERROR or reply[1] != want_first:
                wrong.append(header)
            counts[header[2]] = counts.get(header[2], 0) + 1
        check(not wrong, f"every answer of the hog is bitwise right ({wrong[:2]})")
        check(hog.poll(500) == 0 and len(counts) == sent and max(counts.values()) == 1,
              f"every request of the hog answered once ({len(counts)} of {sent})")
        hog.close()
    context.term()


CASES = {
    "gateway_restart": gateway_restart_case,
    "fair_share": fair_share_case,
    "resend_flood": resend_flood_case,
    "huge_frames": huge_frames_case,
    "trace_flood": trace_flood_case,
    "many_outputs": many_outputs_case,
    "model_names": model_names_case,
    "resend_answered": resend_answered_case,
    "byte_budget": byte_budget_case,
}


if __name__ == "__main__":
    sys.exit(topotest.main(CASES, __doc__, "zinfer-hostile-"))
