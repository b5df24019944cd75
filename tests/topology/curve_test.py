#!/usr/bin/python3
"""CURVE between hosts: two hosts of one topology on 127.0.0.1, each with its
own key pair, started with `zinfer up --host` in either order.

Checks that answers are bitwise `zinfer run`'s, that clients need a listed
key, and that peers with unknown keys are refused, counted and logged: a
rogue client, a rogue worker pushing forged frames into a mailbox, a rogue
monitor query, and a rogue listener that takes over a stopped host's port
(nothing is sent to it; the request completes once the real host is back).
Exposed or mismatched secret key files are refused before anything starts.

    /usr/bin/python3 tests/topology/curve_test.py --zinfer build/zinfer \
        --models build/models --port-base 27800
"""

import argparse
import faulthandler
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "engine", "client"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import zinfer_client  # noqa: E402
from zinfer_harness import HarnessError, Topology, node_names, ranges  # noqa: E402

MODEL = "mobilenet_v3_small_op17"


class Failure(Exception):
    pass


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    if not condition:
        raise Failure(message)


def run(*args, timeout=60, env=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env)


#  The environment without a client key
NO_KEY = {name: value for name, value in os.environ.items() if name != "ZINFER_KEY"}


def write_yaml(path, model, names, port, keys, host_b_secret=None):
    # Host a runs two processes (ipc between them, plain inside the host),
    # host b one (CURVE from a to b)
    (a_first, a_last), (a2_first, a2_last), (b_first, b_last) = ranges(names, 3)
    lines = ["name: curve-test", f"model: {model}", "hosts:",
             "  - name: a", "    address: 127.0.0.1", f"    base_port: {port}",
             f"    public_key: {keys}/a.key", f"    secret_key_file: {keys}/a.key_secret",
             "  - name: b", "    address: 127.0.0.1", f"    base_port: {port + 50}",
             f"    public_key: {keys}/b.key",
             f"    secret_key_file: {host_b_secret or keys + '/b.key_secret'}",
             "security:", f"  clients: [{keys}/client.key]",
             "processes:", "  - {name: p0, host: a}", "  - {name: p1, host: a}",
             "  - {name: p2, host: b}",
             "placement:", f"  - {{process: p0, from: '{a_first}', to: '{a_last}'}}",
             f"  - {{process: p1, from: '{a2_first}', to: '{a2_last}'}}",
             f"  - {{process: p2, from: '{b_first}', to: '{b_last}'}}"]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return b_first


def top_json(zinfer, path, key):
    # Each monitor given up to 10 s (top ends once all have answered): its
    # 800 ms default is for a person watching, and a loaded machine
    # answers later
    out = run(zinfer, "top", path, "--json", "--key", key, "--timeout", "10000")
    check(out.returncode == 0, f"zinfer top --json --key answers ({out.stderr.strip()[:200]})")
    return json.loads(out.stdout)


def security_of(snapshot, process):
    return next(p for p in snapshot["processes"] if p["name"] == process)["security"]


def push_forged(context, mailbox, server_key, secret):
    """A PUSH with the given CURVE secret key that sends five forged
    frames to an actor's mailbox; returned open, for the caller to close"""
    push = context.socket(zmq.PUSH)
    push.linger = 0
    push.curve_serverkey = server_key
    push.curve_secretkey = secret
    push.curve_publickey = zmq.curve_public(secret)
    push.connect(mailbox)
    for _ in range(5):
        try:
            push.send_multipart([b"\x95\x01\x01\x00\x00\x00", b"\0" * 16], zmq.NOBLOCK)
        except zmq.Again:
            pass
    return push


def refused_or_silent(client, x):
    """True when a client's request is refused at its send (a timeout: no
    peer took it) or gets no answer within 1.5 s"""
    try:
        client.send([x])
    except TimeoutError:
        return True
    return silent(client._socket, 1.5)


def silent(socket, seconds):
    """True when nothing arrives on socket within seconds."""
    return not socket.poll(int(seconds * 1000))


def test(args, folder):
    zinfer, port = args.zinfer, args.port_base
    keys = os.path.join(folder, "keys")
    os.mkdir(keys)
    for name in ("a", "b", "client", "rogue"):
        made = run(zinfer, "keygen", os.path.join(keys, name))
        check(made.returncode == 0 and "public key" in made.stdout, f"zinfer keygen {name}")
    mode = os.stat(os.path.join(keys, "a.key_secret")).st_mode & 0o777
    check(mode == 0o600, f"secret key files are made mode 0600 ({mode:o})")
    again = run(zinfer, "keygen", os.path.join(keys, "a"))
    check(again.returncode == 2 and "exists" in again.stderr, "keygen never overwrites a key")

    model = os.path.join(args.models, MODEL + ".onnx")
    data = os.path.join(args.models, MODEL + ".input.npy")
    names = node_names(zinfer, model)
    path = os.path.join(folder, "hosts.yaml")
    b_first = write_yaml(path, model, names, port, keys)
    want_path = os.path.join(folder, "want.npy")
    run(zinfer, "run", model, "--input", data, "--threads", "1", "--output", want_path)
    want = np.load(want_path).tobytes()
    x = np.load(data)
    client_key = os.path.join(keys, "client.key_secret")

    # Refused before anything starts: an exposed secret, and a secret that
    # is not the host's
    os.chmod(os.path.join(keys, "b.key_secret"), 0o644)
    loose = run(zinfer, "up", path, "--host", "b", timeout=30)
    check(loose.returncode != 0 and "chmod 600" in loose.stderr,
          f"an exposed secret key file is refused: {loose.stderr.strip()[:160]}")
    os.chmod(os.path.join(keys, "b.key_secret"), 0o600)
    wrong_path = os.path.join(folder, "wrong.yaml")
    write_yaml(wrong_path, model, names, port, keys, host_b_secret=f"{keys}/a.key_secret")
    wrong = run(zinfer, "up", wrong_path, "--host", "b", timeout=30)
    check(wrong.returncode != 0 and "does not belong" in wrong.stderr,
          f"another host's secret key is refused: {wrong.stderr.strip()[:160]}")
    missing = run(zinfer, "infer", path, "--input", data, env=NO_KEY)
    check(missing.returncode == 2 and "uses CURVE" in missing.stderr,
          f"a client without a key is told what to do: {missing.stderr.strip()[:160]}")

    context = zmq.Context()
    hosts = {}
    try:
        # Any order: host b (no gateway) first
        hosts["b"] = Topology(zinfer, path, extra=["--host", "b"], gateway=False, quiet=True)
        hosts["a"] = Topology(zinfer, path, extra=["--host", "a"], quiet=True)
        served = run(zinfer, "infer", path, "--input", data, "--key", client_key,
                     "--repeat", "20", "--check", want_path)
        check(served.returncode == 0 and "20 of 20 requests" in served.stdout,
              "zinfer infer with a listed key: 20 answers, bitwise zinfer run's")
        client = zinfer_client.Client(hosts["a"].endpoint, server_key=f"{keys}/a.key",
                                      key_file=client_key, context=context)
        (y,) = client.infer([x])
        check(y.tobytes() == want, "the Python client with keys: bitwise right")
        with zinfer_client.Client.from_topology(path, key_file=client_key,
                                                context=context) as named:
            check(named.input_names == ["input"] and named.output_names == ["output"],
                  f"from_topology with CURVE learns the model's names from the monitor "
                  f"({named.input_names}, {named.output_names})")
            answer = named.infer({"input": x})
            check(answer["output"].tobytes() == want, "and answers a dict of named inputs "
                  "by name, bitwise right")

        no_key = run(zinfer, "top", path, "--json", env=NO_KEY)
        check(no_key.returncode == 2 and "--key" in no_key.stderr,
              "zinfer top without a key says which one it needs")
        snapshot = top_json(zinfer, path, client_key)
        check(all(p["answered"] for p in snapshot["processes"]), "every monitor answers a key")
        check(all(p["security"]["curve"] for p in snapshot["processes"]),
              "every process reports CURVE on")
        refused_before = {p: security_of(snapshot, p)["refused"] for p in ("p0", "p1", "p2")}

        # A rogue client and a plain one get nothing back
        # Their send may wait for a peer that the refused handshake never
        # gives them: it ends at their timeout, as a refusal should
        rogue = zinfer_client.Client(hosts["a"].endpoint, server_key=f"{keys}/a.key",
                                     key_file=os.path.join(keys, "rogue.key_secret"),
                                     resend=False, context=context, timeout=2)
        check(refused_or_silent(rogue, x), "a client with an unknown key gets no answer")
        rogue.close()
        plain = zinfer_client.Client(hosts["a"].endpoint, resend=False, context=context,
                                     timeout=2)
        check(refused_or_silent(plain, x), "a client without CURVE gets no answer")
        plain.close()
        refused = run(zinfer, "infer", path, "--input", data, "--timeout", "3000",
                      "--key", os.path.join(keys, "rogue.key_secret"))
        check(refused.returncode == 1 and "refused this client's key" in refused.stderr,
              f"zinfer infer says its key was refused: {refused.stderr.strip()[:160]}")

        # A rogue worker pushes forged frames into a mailbox on host b
        actor = next(a for a in snapshot["actors"] if a["name"] == b_first)
        mailbox = next(e for e in actor["endpoints"] if e.startswith("tcp://"))
        received_before = actor["messages_in"]
        secret = zinfer_client.read_key(os.path.join(keys, "rogue.key_secret"), secret=True)
        push = push_forged(context, mailbox, zinfer_client.read_key(f"{keys}/b.key"), secret)
        # A rogue monitor query: plain, then with the unknown key
        monitor = next(p for p in snapshot["processes"] if p["name"] == "p0")["monitor"]
        for keyed in (False, True):
            probe = context.socket(zmq.DEALER)
            probe.linger = 0
            if keyed:
                probe.curve_serverkey = zinfer_client.read_key(f"{keys}/a.key")
                probe.curve_secretkey = secret
                probe.curve_publickey = zmq.curve_public(secret)
            probe.connect(monitor)
            # Once the handshake is refused the socket has no peer, and a
            # blocking send would wait for one forever
            probe.sndtimeo = 1500
            try:
                probe.send(b"\x91\xa5STATS")
            except zmq.Again:
                pass
            check(silent(probe, 1.5), f"a monitor query {'with an unknown key' if keyed else 'without CURVE'} "
                  f"gets no answer")
            probe.close()
        push.close()
        time.sleep(0.5)
        snapshot = top_json(zinfer, path, client_key)
        actor = next(a for a in snapshot["actors"] if a["name"] == b_first)
        check(actor["messages_in"] == received_before and actor["rejected"] == 0,
              f"no forged frame reached actor {b_first} (it counted none, rejected none)")
        counts = {p: security_of(snapshot, p)["refused"] - refused_before[p]
                  for p in ("p0", "p1", "p2")}
        check(counts["p0"] >= 2 and counts["p2"] >= 1 and counts["p1"] == 0,
              f"refusals are counted: gateway's process {counts['p0']}, host b {counts['p2']}, "
              f"the untouched process {counts['p1']}")
        last = security_of(snapshot, "p2")["last_refusal"]
        rogue_public = zinfer_client.read_key(f"{keys}/rogue.key").decode()
        check(rogue_public in last, f"the last refusal names the rogue key: {last}")
        logged = "".join(hosts["a"].stderr + hosts["b"].stderr)
        check("refused a CURVE peer" in logged and rogue_public in logged,
              "refusals are logged by the hosts")
        check("handshake failed before it showed a key" in logged,
              "plain peers (a client, a monitor query) are refused, counted and logged too")

        # Keys in the wrong role: a listed client's key opens no actor's
        # mailbox (it could forge results), reads no tensor at a monitor,
        # and a host's key is no client at the gateway
        push = push_forged(context, mailbox, zinfer_client.read_key(f"{keys}/b.key"),
                           zinfer_client.read_key(client_key, secret=True))
        time.sleep(1)
        push.close()
        snapshot = top_json(zinfer, path, client_key)
        actor = next(a for a in snapshot["actors"] if a["name"] == b_first)
        check(actor["messages_in"] == received_before and actor["rejected"] == 0,
              "a listed client's key cannot push frames into an actor's mailbox")
        last = security_of(snapshot, "p2")["last_refusal"]
        check("a client's key where only hosts connect" in last,
              f"the refusal says why: {last}")
        tap = run(zinfer, "inspect", path, b_first, "--tap", os.path.join(folder, "tap.npy"),
                  "--key", client_key)
        check(tap.returncode != 0 and "may not read tensors" in tap.stderr,
              f"a client's key may not tap a tensor: {tap.stderr.strip()[:160]}")
        host_as_client = zinfer_client.Client(hosts["a"].endpoint, server_key=f"{keys}/a.key",
                                              key_file=os.path.join(keys, "b.key_secret"),
                                              resend=False, context=context, timeout=3.0)
        # The request is queued if the send comes before the gateway's
        # refusal, and then never answered; after it the socket has no
        # connection to take it, and the send times out saying so
        try:
            host_as_client.send([x])
            refused = silent(host_as_client._socket, 1.5)
            how = "no answer"
        except TimeoutError as error:
            refused = "refused this client's handshake" in str(error)
            how = str(error)[:120]
        check(refused, f"a host's key gets no answer as a client: {how}")
        host_as_client.close()

        # A rogue listener on host b's mailbox port while b is down: the
        # gateway host will not talk to it; once b is back the request is
        # answered
        hosts.pop("b").stop()
        listener = context.socket(zmq.PULL)
        listener.linger = 0
        listener.curve_server = True
        listener.curve_secretkey = secret
        listener.curve_publickey = zmq.curve_public(secret)
        listener.bind(mailbox)
        pending = zinfer_client.Client(hosts["a"].endpoint, server_key=f"{keys}/a.key",
                                       key_file=client_key, context=context)
        request = pending.send([x])
        check(silent(listener, 2.0), "a rogue listener in host b's place receives nothing")
        listener.close()
        hosts["b"] = Topology(zinfer, path, extra=["--host", "b"], gateway=False, quiet=True)
        answered, (y,) = pending.recv(timeout=60)
        check(answered == request and y.tobytes() == want,
              "the request is answered once host b is back, bitwise right")
        pending.close()
        client.close()
    finally:
        for host in hosts.values():
            host.stop()
        context.destroy(linger=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--port-base", type=int, default=27800)
    args = parser.parse_args()
    # A case that hangs prints where every thread stands before ctest's
    # timeout kills it silently
    faulthandler.dump_traceback_later(540, exit=True)
    args.zinfer = os.path.abspath(args.zinfer)
    args.models = os.path.abspath(args.models)
    with tempfile.TemporaryDirectory(prefix="zinfer-curve-") as folder:
        try:
            test(args, folder)
        except (Failure, HarnessError) as failure:
            print("FAIL", failure, flush=True)
            return 1
    print("curve: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
