#!/usr/bin/python3
"""Three hosts on one machine: network namespaces joined by veth pairs and a
bridge, each running one host of a topology with `zinfer up --host`, with
CURVE between them (on by default across hosts; keys from `zinfer keygen`).

The hosts start in reverse order (the gateway's host last), the answers are
checked bit for bit against `zinfer run`, then the link of the middle host is
cut in the middle of a stream of requests and restored, and every request
must still be answered exactly once. Addresses are from 198.18.0.0/24, the
range set aside for benchmarking, inside namespaces this test makes and
always removes. Skipped (exit 77) where the machine forbids namespaces.

    /usr/bin/python3 tests/topology/netns_test.py ZINFER MODELS_DIR
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
from zinfer_harness import node_names, ranges  # noqa: E402

SKIP = 77
PREFIX = f"zi{os.getpid() % 100000}"
HOSTS = [f"{PREFIX}h{i}" for i in (1, 2, 3)]
SWITCH = f"{PREFIX}sw"


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def ns(name, *args, check=True):
    return sh("ip", "netns", "exec", name, *args, check=check)


def setup():
    sh("ip", "netns", "add", SWITCH)
    for name in HOSTS:
        sh("ip", "netns", "add", name)
    ns(SWITCH, "ip", "link", "add", "br0", "type", "bridge")
    ns(SWITCH, "ip", "link", "set", "br0", "up")
    for index, name in enumerate(HOSTS, start=1):
        inside, outside = f"{PREFIX}v{index}", f"{PREFIX}s{index}"
        sh("ip", "link", "add", inside, "netns", name, "type", "veth", "peer", "name", outside,
           "netns", SWITCH)
        ns(name, "ip", "addr", "add", f"198.18.0.{index}/24", "dev", inside)
        ns(name, "ip", "link", "set", inside, "up")
        ns(name, "ip", "link", "set", "lo", "up")
        ns(SWITCH, "ip", "link", "set", outside, "master", "br0")
        ns(SWITCH, "ip", "link", "set", outside, "up")


def teardown():
    for name in HOSTS + [SWITCH]:
        sh("ip", "netns", "del", name, check=False)


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    if not condition:
        raise AssertionError(message)


def main():
    zinfer, models = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.geteuid() != 0:
        print("skipped: network namespaces need root")
        return SKIP
    probe = sh("ip", "netns", "add", f"{PREFIX}probe", check=False)
    if probe.returncode != 0:
        print(f"skipped: this machine forbids network namespaces ({probe.stderr.strip()})")
        return SKIP
    sh("ip", "netns", "del", f"{PREFIX}probe", check=False)

    model = os.path.join(models, "mobilenet_v3_small_op17.onnx")
    data = os.path.join(models, "mobilenet_v3_small_op17.input.npy")
    launchers = []
    try:
        setup()
        with tempfile.TemporaryDirectory(prefix="zinfer-netns-") as folder:
            names = node_names(zinfer, model)
            # CURVE is on by default across hosts: a key pair per host, one
            # for the client (each host reads only its own secret file)
            keys = os.path.join(folder, "keys")
            os.mkdir(keys)
            for name in HOSTS + ["client"]:
                sh(zinfer, "keygen", os.path.join(keys, name))
            client_key = os.path.join(keys, "client.key_secret")
            lines = [f"name: three-hosts", f"model: {model}", "base_port: 7400",
                     f"security: {{clients: [{keys}/client.key]}}", "hosts:"]
            for index, name in enumerate(HOSTS, start=1):
                lines += [f"  - name: {name}", f"    address: 198.18.0.{index}",
                          f"    public_key: {keys}/{name}.key",
                          f"    secret_key_file: {keys}/{name}.key_secret"]
            lines.append("processes:")
            for index, name in enumerate(HOSTS, start=1):
                lines += [f"  - name: p{index}", f"    host: {name}"]
            lines.append("placement:")
            for index, (first, last) in enumerate(ranges(names, 3), start=1):
                lines += [f"  - process: p{index}", f"    from: {first}", f"    to: {last}"]
            path = os.path.join(folder, "hosts.yaml")
            with open(path, "w") as handle:
                handle.write("\n".join(lines) + "\n")
            want = os.path.join(folder, "want.npy")
            sh(zinfer, "run", model, "--input", data, "--threads", "1", "--output", want)

            # Hosts in any order: the gateway's host (the first) comes up last
            for name in reversed(HOSTS):
                launcher = subprocess.Popen(
                    ["ip", "netns", "exec", name, zinfer, "up", path, "--host", name],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                    start_new_session=True)
                launchers.append(launcher)
                line = launcher.stdout.readline()
                print("    " + name + ": " + line.strip(), flush=True)
                check("ready" in line, f"host {name} is up")
                threading.Thread(target=lambda p=launcher: [None for _ in p.stdout],
                                 daemon=True).start()
            status = ns(HOSTS[0], zinfer, "status", path, "--key", client_key, check=False)
            print(status.stdout, end="", flush=True)
            check(status.returncode == 0, "zinfer status: every host and process is up")

            first = ns(HOSTS[0], zinfer, "infer", path, "--key", client_key, "--input", data,
                       "--repeat", "20", "--check", want, check=False)
            print(first.stdout, end="", flush=True)
            check(first.returncode == 0, "answers across three hosts are bitwise zinfer run's")

            # Cut the middle host's link during a stream, then restore it
            count = 600
            stream = subprocess.Popen(
                ["ip", "netns", "exec", HOSTS[0], zinfer, "infer", path, "--key", client_key,
                 "--input", data, "--repeat", str(count), "--inflight", "8", "--check", want, "--timeout", "60000"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(1.5)
            ns(SWITCH, "ip", "link", "set", f"{PREFIX}s2", "down")
            print("    cut the link of host 2", flush=True)
            time.sleep(1.5)
            ns(SWITCH, "ip", "link", "set", f"{PREFIX}s2", "up")
            print("    restored it", flush=True)
            out, _ = stream.communicate(timeout=300)
            print(out, end="", flush=True)
            check(stream.returncode == 0 and f"{count} of {count} requests, each once" in out,
                  f"all {count} requests answered exactly once across the cut, bitwise right")
    finally:
        for launcher in launchers:
            if launcher.poll() is None:
                os.killpg(launcher.pid, signal.SIGTERM)
        for launcher in launchers:
            try:
                launcher.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
        teardown()
    print("multi_host_netns: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
