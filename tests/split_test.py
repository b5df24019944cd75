#!/usr/bin/python3
"""zinfer split and zinfer plan end to end: a model split into 2 and 3
processes (hops priced by `zinfer calibrate` in one of them) and over the
two hosts of a hosts file (--hosts), the
topology loaded by `zinfer plan`, started by `zinfer up`,
and one request's answer bit for bit the one `zinfer run --threads 1`
gives.

    /usr/bin/python3 tests/split_test.py --zinfer build/zinfer --models build/models \
        --port-base 30300

Uses ports from --port-base to --port-base + 100 (tests/ports.cmake): the
splits from +0 and +20, calibrate's chains of actors from +30, the two
hosts of --hosts from +80.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

MODEL = "mobilenet_v3_small_op17"


class Up:
    """`zinfer up` in the background, in a session of its own; stop() ends it"""

    def __init__(self, zinfer, topology, base_port, timeout=120, host=None,
                 until="clients connect to"):
        command = [zinfer, "up", topology]
        command += ["--base-port", str(base_port)] if base_port else []
        command += ["--host", host] if host else []
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        self.stderr = []
        threading.Thread(target=self._drain, args=(self.process.stderr, self.stderr),
                         daemon=True).start()
        self.ready = False
        deadline = time.time() + timeout
        for line in self.process.stdout:
            if until in line:
                self.ready = True
                break
            if time.time() > deadline:
                break
        threading.Thread(target=self._drain, args=(self.process.stdout, []), daemon=True).start()

    @staticmethod
    def _drain(stream, lines):
        for line in stream:
            lines.append(line)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def runtime_cost_case(zinfer, model, profile, folder, check):
    """The calibration's runtime costs are read and priced: the same split
    and plan with 500 us per actor predict 500 us more per node than with
    none, 50 ms per hand-over between threads a hand-over's worth more, and
    a calibration written before the runtime was measured still reads"""
    base = {"host": "test", "ipc": {"usecs": 20, "bytes_per_usec": 2000},
            "tcp": {"usecs": 40, "bytes_per_usec": 1000}}
    files = {}
    for name, runtime in (("none", {"actor_usecs": 0, "thread_usecs": 0}),
                          ("actors", {"actor_usecs": 500, "thread_usecs": 0}),
                          ("threads", {"actor_usecs": 0, "thread_usecs": 50000}), ("old", None)):
        files[name] = os.path.join(folder, f"hops-{name}.json")
        with open(files[name], "w") as handle:
            json.dump(dict(base, runtime=runtime) if runtime else base, handle)

    def predicted(name, threads=1):
        topology = os.path.join(folder, f"runtime-{name}-{threads}.yaml")
        result = run([zinfer, "split", model, "-o", topology, "--processes", "2",
                      "--threads", str(threads), "--profile", profile, "--calibration",
                      files[name]])
        if not check(result.returncode == 0, f"split with the {name} calibration",
                     result.stderr):
            return None, None, ""
        with open(topology) as handle:
            comment = [line for line in handle if line.startswith("# Predicted: latency")]
        result = run([zinfer, "plan", topology, "--profile", profile, "--calibration",
                      files[name]])
        line = [line for line in result.stdout.splitlines() if line.startswith("predicted:")]
        if not check(result.returncode == 0 and comment and line,
                     f"plan with the {name} calibration predicts", result.stdout + result.stderr):
            return None, None, ""
        nodes = int(result.stdout.split(" nodes of ")[0].rsplit(" ", 1)[1])
        return (float(comment[0].split()[3]), float(line[0].split()[2]), nodes,
                result.stdout)

    none_split, none_plan, nodes, _ = predicted("none")
    actor_split, actor_plan, _, text = predicted("actors")
    if none_split is not None and actor_split is not None:
        extra = nodes * 0.5
        check(abs(actor_split - none_split - extra) < 0.01
              and abs(actor_plan - none_plan - extra) < 0.01,
              f"500 us per actor adds {extra:.1f} ms for {nodes} nodes to split's and plan's "
              f"predicted latency",
              f"split {none_split} -> {actor_split}, plan {none_plan} -> {actor_plan}")
        check("500.00 us per actor" in text and "measured by zinfer calibrate" in text,
              "plan says what an actor costs and where that comes from", text[-600:])
    thread_split, thread_plan, _, _ = predicted("threads", threads=2)
    same_split, same_plan, _, _ = predicted("none", threads=2)
    if thread_split is not None and same_split is not None:
        # Two threads in each of two processes: split counts one hand-over
        # in each process of two nodes or more (a hand-over this dear may
        # move the cut to leave one node alone); plan every edge between
        # threads, at least as many (a skip connection may cross too)
        by_split = (thread_split - same_split) / 50
        by_plan = (thread_plan - same_plan) / 50
        check(min(abs(by_split - 1), abs(by_split - 2)) < 0.001
              and by_plan > by_split - 0.001 and abs(by_plan - round(by_plan)) < 0.001,
              "50 ms per hand-over between threads adds one or two of them to split's "
              "prediction for two processes of two threads, and a whole number to plan's",
              f"split {same_split} -> {thread_split}, plan {same_plan} -> {thread_plan}")
    old_split, old_plan, _, text = predicted("old")
    check(old_split is not None and abs(old_split - none_split) < 0.01
          and "written before zinfer calibrate measured it" in text,
          "a calibration without the runtime's costs prices them at 0 and says so",
          text[-600:])


def cores_worth_case(zinfer, models, model, profile, folder, check):
    """plan divides a host's work by the cores' worth of the model that
    split divides it by, not by the host's cores. Given the same profile,
    calibration and cores' worth, plan predicts split's throughput to the
    request per second for tiny_cnn, a chain: each cut crosses one value,
    so both price the same hops (where a cut crosses several, plan prices
    each edge and split one hop per cut). For MODEL both divide a request's
    work (its latency and the gateway's copies of the request) by that
    cores' worth; measured, plan says so and divides by what it read"""
    calibration = os.path.join(folder, "hops-worth.json")
    with open(calibration, "w") as handle:
        json.dump({"host": "test", "ipc": {"usecs": 20, "bytes_per_usec": 2000},
                   "tcp": {"usecs": 40, "bytes_per_usec": 1000},
                   "runtime": {"actor_usecs": 3, "thread_usecs": 10}}, handle)
    tiny = os.path.join(models, "tiny_cnn_op13")
    tiny_profile = os.path.join(folder, "tiny-profile.json")
    result = run([zinfer, "run", tiny + ".onnx", "--input", tiny + ".input.npy", "--threads",
                  "1", "--repeat", "5", "--profile-json", tiny_profile])
    if not check(result.returncode == 0, "a profile of tiny_cnn", result.stderr):
        return
    cores = os.cpu_count()
    # Below the cores, so that dividing by their count would predict more
    worth = "1.25" if cores > 1 else "1"

    def predicted(onnx, node_times, processes):
        """split's and plan's predicted lines, or None"""
        topology = os.path.join(folder, f"worth-{os.path.basename(onnx)}-{processes}.yaml")
        common = ["--profile", node_times, "--calibration", calibration]
        result = run([zinfer, "split", onnx, "-o", topology, "--processes", str(processes),
                      "--objective", "throughput", "--cores-worth", worth] + common)
        if not check(result.returncode == 0, f"split --cores-worth {worth}, {processes} "
                     "processes", result.stderr):
            return None
        with open(topology) as handle:
            comment = [line for line in handle if line.startswith("# Predicted: latency")]
        result = run([zinfer, "plan", topology, "--cores-worth", worth] + common)
        line = [line for line in result.stdout.splitlines() if line.startswith("predicted:")]
        if not check(result.returncode == 0 and comment and line
                     and f"{float(worth):.2f} cores' worth of this model at once (given by "
                     "--cores-worth)" in result.stdout,
                     f"plan --cores-worth {worth} predicts and says what it divides by, "
                     f"{processes} processes", result.stdout + result.stderr):
            return None
        return comment[0], line[0]

    def rate(line):
        return float(line.split(" throughput ")[1].split()[0])

    def shared_ms(line):
        return float(line.split("work at " if line.startswith("#") else "work, ")[1].split()[0])

    def work_ms(line):
        return float(line.split(" ms of work")[0].rsplit("(", 1)[1])

    for processes in (2, 3):
        lines = predicted(tiny + ".onnx", tiny_profile, processes)
        if lines:
            check(rate(lines[0]) == rate(lines[1]) and " share all its" in lines[1],
                  f"tiny_cnn in {processes} processes: plan predicts split's throughput from "
                  f"the same {worth} cores' worth", "\n".join(lines))
        lines = predicted(model, profile, processes)
        if lines:
            latencies = [float(lines[0].split()[3]), float(lines[1].split()[2])]
            works = [work_ms(text) for text in lines]
            check(all(abs(shared_ms(text) * float(worth) - work) < 0.01
                      for text, work in zip(lines, works)),
                  f"{MODEL} in {processes} processes: split and plan share a request's work "
                  f"among {worth} cores' worth", "\n".join(lines))
            # The gateway copies the 602112 bytes in and 4000 out at 2000
            # bytes a us
            expected = [latency + 606112 / 2000 / 1000 for latency in latencies]
            check(all(abs(work - want) < 0.003 for work, want in zip(works, expected)),
                  f"{MODEL} in {processes} processes: the work is the latency and the "
                  f"gateway's copies ({works} ms, expected {expected})", "\n".join(lines))
    if cores < 2:
        return
    # Measured: three processes on this host's cores
    result = run([zinfer, "plan", os.path.join(folder, f"worth-{MODEL}.onnx-3.yaml"),
                  "--profile", profile, "--calibration", calibration])
    line = [line for line in result.stdout.splitlines() if line.startswith("predicted:")]
    read = re.search(r"([0-9.]+) cores' worth of this model at once \(measured now as "
                     rf"{cores} stages at once", result.stdout)
    if check(result.returncode == 0 and line and read and "timing" in result.stderr,
             "plan measures the cores' worth, the model cut into a stage per core, when this "
             "host runs three processes",
             result.stdout + result.stderr):
        shared = 1000 / (work_ms(line[0]) / float(read.group(1)))
        slowest = 1000 / float(line[0].split(" with its sends")[0].rsplit(" at ", 1)[1].split()[0])
        check(abs(rate(line[0]) - min(shared, slowest)) <= 0.01 * rate(line[0]) + 1,
              "plan's throughput is the least of its slowest process and the host's work "
              "over the measured cores' worth", f"shared {shared:.1f}/s, slowest "
              f"{slowest:.1f}/s\n{line[0]}")


def plan_warning_cases(zinfer, folder, check):
    """zinfer plan's warnings, each made to happen, split's note, and --png"""
    digits = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "digits",
                          "digits.onnx")
    base = [f"model: {digits}", "processes:"]

    def plan(name, lines, *extra):
        path = os.path.join(folder, name)
        with open(path, "w") as handle:
            handle.write("\n".join(base + lines) + "\n")
        return run([zinfer, "plan", path, "--runs", "3"] + list(extra))

    # Three replicas on the one thread of their process take turns
    result = plan("lonely.yaml", ["  - {name: front}", "  - {name: back}", "placement:",
                                  "  - {process: back, node: /conv2/Conv, replicas: 3}",
                                  "default: back"], "--profile", uneven_profile(folder))
    check(result.returncode == 0 and "has 3 replicas on 1 thread of process back"
          in result.stdout, "plan warns of replicas sharing one thread", result.stdout)
    lonely = float(result.stdout.split("the slowest process ")[1].split(" at ")[1].split()[0])
    result = plan("spread.yaml", ["  - {name: front}", "  - {name: back, threads: 3}",
                                  "placement:",
                                  "  - {process: back, node: /conv2/Conv, replicas: 3}",
                                  "default: back"], "--profile", uneven_profile(folder))
    spread = float(result.stdout.split("the slowest process ")[1].split(" at ")[1].split()[0])
    check(result.returncode == 0 and "replicas on one" not in result.stdout,
          "three threads for three replicas: no warning", result.stdout)
    # /conv2/Conv takes 1 ms: on one thread its replicas share nothing,
    # on three each takes a third of the requests
    check(abs(lonely - spread - 2 / 3) < 0.01, f"three replicas on one thread predict the "
          f"node's whole time, on three a third ({lonely} ms against {spread} ms)")
    # The first node in four replicas on the gateway's process: the
    # gateway's thread runs one replica, and the input edge still crosses
    # a thread to the other three, so the edge list names it
    result = plan("entry.yaml", ["  - {name: front, threads: 4}", "  - {name: back}",
                                 "placement:",
                                 "  - {process: front, node: /conv1/Conv, replicas: 4}",
                                 "default: back"], "--profile", uneven_profile(folder))
    entry = [line for line in result.stdout.splitlines() if line.startswith("  gateway -> ")]
    check(result.returncode == 0 and len(entry) == 1
          and "/conv1/Conv#" in entry[0] and "(or one of 3 other replicas)" in entry[0]
          and "thread front -> front, inproc" in entry[0],
          "plan lists the gateway's edge into replicas when one shares the gateway's thread",
          result.stdout + result.stderr)
    # More compute threads than this machine has cores
    cores = os.cpu_count()
    result = plan("crowded.yaml", [f"  - {{name: p, threads: {cores + 1}}}"])
    check(result.returncode == 0 and f"{cores + 1} compute threads" in result.stdout
          and "take turns" in result.stdout, "plan warns of more threads than cores",
          result.stdout)
    # A remote host that says its cores is checked against those
    result = plan("remote.yaml", ["  - {name: p, host: a}", "  - {name: q, host: b, threads: 4}",
                                  "placement:", "  - {process: p, node: /conv1/Conv}",
                                  "default: q", "security: {curve: false}", "hosts:",
                                  "  - {name: a, address: 127.0.0.1}",
                                  "  - {name: b, address: 10.9.9.9, cores: 2}"])
    check(result.returncode == 0 and "host b: 4 compute threads" in result.stdout
          and "on 2 cores" in result.stdout, "plan checks a remote host's declared cores",
          result.stdout)
    # One process far slower than the other
    result = plan("uneven.yaml", ["  - {name: front}", "  - {name: back}", "placement:",
                                  "  - {process: front, node: /conv1/Conv}", "default: back"],
                  "--profile", uneven_profile(folder))
    check(result.returncode == 0 and "slower than the fastest" in result.stdout,
          "plan warns of a stage far slower than the others", result.stdout)
    # split for latency into stages that do next to nothing says so
    result = run([zinfer, "split", digits, "-o", os.path.join(folder, "tiny.yaml"),
                  "--processes", "3", "--profile", uneven_profile(folder, range(2, 8))])
    check(result.returncode == 0 and "of the compute: for latency every process adds hops"
          in result.stderr, "split for latency notes a stage with next to no compute",
          result.stderr)
    result = run([zinfer, "split", digits, "-o", os.path.join(folder, "even.yaml"),
                  "--processes", "2", "--objective", "throughput", "--profile",
                  uneven_profile(folder)])
    check(result.returncode == 0 and "note:" not in result.stderr,
          "no note for throughput", result.stderr)
    # --png draws it with graphviz
    png = os.path.join(folder, "plan.png")
    result = plan("picture.yaml", ["  - {name: front}", "  - {name: back}", "placement:",
                                   "  - {process: front, node: /conv1/Conv}", "default: back"],
                  "--png", png)
    with open(png, "rb") as handle:
        head = handle.read(24)
    check(result.returncode == 0 and head[:8] == b"\x89PNG\r\n\x1a\n"
          and int.from_bytes(head[16:20], "big") > 100, "plan --png draws a PNG",
          result.stderr)


def profile_pacing_case(zinfer, models, profile, folder, check):
    """`zinfer run --gap` and `--cold` time the same nodes as a profile run
    back to back, and the pause is honoured: four runs with --gap 100 take
    at least 400 ms. zinfer split profiles with --gap run for latency and back to
    back for throughput, and says so in the topology; a bad --gap is
    refused before anything runs."""
    with open(profile) as handle:
        names = [node["name"] for node in json.load(handle)["nodes"]]
    tiny = os.path.join(models, "tiny_cnn_op13")
    model = os.path.join(models, MODEL + ".onnx")
    data = os.path.join(models, MODEL + ".input.npy")
    walls = {}
    for label, extra, runs in (("back to back", [], 4), ("--gap 100", ["--gap", "100"], 4),
                               ("--gap run", ["--gap", "run"], 4), ("--cold", ["--cold"], 2)):
        paced = os.path.join(folder, "paced.json")
        start = time.monotonic()
        result = run([zinfer, "run", model, "--input", data, "--threads", "1", "--repeat",
                      str(runs), "--profile-json", paced] + extra)
        walls[label] = time.monotonic() - start
        if not check(result.returncode == 0, f"zinfer run {label} writes a profile",
                     result.stderr):
            continue
        with open(paced) as handle:
            written = json.load(handle)
        check([node["name"] for node in written["nodes"]] == names
              and all(node["ms"] >= 0 for node in written["nodes"])
              and sum(node["ms"] for node in written["nodes"]) > 0 and written["runs"] == runs,
              f"{label}: every node of the first profile, in its order, timed over {runs} runs",
              f"{len(written['nodes'])} nodes against {len(names)}")
    # Four pauses of 100 ms cannot take less than 400 ms, whatever the
    # machine's load (a difference against the back-to-back runs could:
    # two processes started under load differ by more than that). Four
    # runs of the model take a quarter of it here, so a run that ignored
    # --gap would fail
    if "--gap 100" in walls:
        check(walls["--gap 100"] >= 0.4, f"--gap 100: four pauses of 100 ms are honoured "
              f"({walls['--gap 100'] * 1000:.0f} ms for four runs, at least 400 expected; "
              f"{walls.get('back to back', 0) * 1000:.0f} ms back to back)")
    result = run([zinfer, "run", tiny + ".onnx", "--input", tiny + ".input.npy", "--repeat",
                  "2", "--gap", "-5"])
    check(result.returncode == 2 and "--gap expects milliseconds" in result.stderr
          and "'-5'" in result.stderr, "zinfer run refuses --gap -5, saying what it expects",
          result.stderr)
    for objective, words in (("latency", "each after a pause as long as the run before"),
                             ("throughput", "back to back")):
        topology = os.path.join(folder, f"paced-{objective}.yaml")
        result = run([zinfer, "split", tiny + ".onnx", "-o", topology, "--processes", "2",
                      "--objective", objective, "--runs", "3", "--cores-worth", "1"])
        text = open(topology).read() if os.path.exists(topology) else ""
        check(result.returncode == 0 and words in result.stderr
              and f"over 3 runs, {words}:" in text,
              f"split --objective {objective} profiles {words}", result.stderr + text[:400])
    result = run([zinfer, "split", tiny + ".onnx", "-o", os.path.join(folder, "x.yaml"),
                  "--processes", "2", "--gap", "soon"])
    check(result.returncode == 2 and "--gap expects milliseconds" in result.stderr
          and "profiling" not in result.stderr,
          "split refuses --gap soon before it profiles", result.stderr)
    result = run([zinfer, "split", tiny + ".onnx", "-o", os.path.join(folder, "x.yaml"),
                  "--processes", "2", "--gap", "5", "--profile", profile])
    check(result.returncode == 2 and "--gap 5 with --profile" in result.stderr,
          "split refuses --gap with --profile: a file's profile is paced already",
          result.stderr)


def profile_middle_case(zinfer, models, folder, check):
    """A profile's node times are their means over the middle half of the
    runs ranked by time, with what the session spends between nodes shared
    out over them: the nodes add up to a run time between the quartiles of
    the same runs' times, whatever a preempted run took. Without --runs,
    split profiles as many runs as last about a second, 20 to 1000."""
    model = os.path.join(models, MODEL + ".onnx")
    data = os.path.join(models, MODEL + ".input.npy")
    written, times = os.path.join(folder, "middle.json"), os.path.join(folder, "middle.txt")
    result = run([zinfer, "run", model, "--input", data, "--threads", "1", "--repeat", "12",
                  "--profile-json", written, "--times", times])
    if check(result.returncode == 0, "zinfer run --profile-json --times", result.stderr):
        with open(written) as handle:
            total = sum(node["ms"] for node in json.load(handle)["nodes"])
        with open(times) as handle:
            runs = sorted(float(line) for line in handle if line.strip())
        low, high = runs[round(0.25 * (len(runs) - 1))], runs[round(0.75 * (len(runs) - 1))]
        # The times file rounds each run to a microsecond
        check(low - 0.002 <= total <= high + 0.002,
              f"the profile's nodes add up to a run between the quartiles of its runs "
              f"({total:.3f} ms in {low:.3f} .. {high:.3f})", f"runs {runs}")
    tiny = os.path.join(models, "tiny_cnn_op13")
    topology = os.path.join(folder, "auto-runs.yaml")
    result = run([zinfer, "split", tiny + ".onnx", "-o", topology, "--processes", "2",
                  "--objective", "throughput", "--cores-worth", "1"])
    text = open(topology).read() if os.path.exists(topology) else ""
    found = re.search(r"over (\d+) runs, back to back: ([0-9.]+) ms", text)
    check(result.returncode == 0 and found and 20 <= int(found.group(1)) <= 1000
          and (int(found.group(1)) in (20, 1000)
               or 300 <= int(found.group(1)) * float(found.group(2)) <= 3000),
          "split without --runs profiles about a second's worth of runs, 20 to 1000",
          result.stderr + text[:300])


def uneven_profile(folder, fast=(0,)):
    """A profile of digits.onnx whose nodes at the indices fast take 1 us,
    the others 1 ms"""
    nodes = ["/conv1/Conv", "/conv2/Conv", "/pool/MaxPool", "/conv3/Conv", "/flatten/Flatten",
             "/fc1/Gemm", "/fc2/Gemm", "/softmax/Softmax"]
    path = os.path.join(folder, f"uneven{len(fast)}.json")
    with open(path, "w") as handle:
        json.dump({"runs": 1, "nodes": [{"name": name, "ms": 0.001 if index in fast else 1.0}
                                         for index, name in enumerate(nodes)]}, handle)
    return path


def hosts_case(zinfer, model, data, reference, profile, folder, port, check):
    """zinfer split --hosts: one process per host of a hosts file, each
    host's speed weighing its stage, the file's network pricing the hops,
    its keys and client list carried into a topology that runs on two
    "hosts" of loopback and answers bit for bit"""
    keys = os.path.join(folder, "keys")
    os.mkdir(keys)
    for name in ("a", "b", "client"):
        run([zinfer, "keygen", os.path.join(keys, name)])

    def hosts_file(name, b_speed):
        path = os.path.join(folder, name)
        with open(path, "w") as handle:
            handle.write("\n".join([
                f"base_port: {port}",
                "network: {usecs: 200, megabytes_per_second: 100}",
                "security: {clients: [keys/client.key]}",
                "hosts:",
                "  - {name: a, address: 127.0.0.1, cores: 1, public_key: keys/a.key,",
                "     secret_key_file: keys/a.key_secret}",
                f"  - {{name: b, address: 127.0.0.1, base_port: {port + 10}, cores: 3,",
                f"     speed: {b_speed}, public_key: keys/b.key, secret_key_file: keys/b.key_secret}}",
                ""]))
        return path

    stage_nodes = {}
    for speed in (4, 0.25):
        topology = os.path.join(folder, f"hosts{speed}.yaml")
        result = run([zinfer, "split", model, "-o", topology, "--profile", profile,
                      "--hosts", hosts_file(f"machines{speed}.yaml", speed)])
        if not check(result.returncode == 0, f"split --hosts (b at speed {speed}) writes a "
                     "topology", result.stderr):
            return
        with open(topology) as handle:
            text = handle.read()
        stage_nodes[speed] = [int(word) for word in
                              result.stdout.split("nodes ")[1].split(";")[0].split(", ")]
        check("host: a" in text and "host: b" in text and f"speed: {speed:g}" in text
              and "network: {usecs: 200, megabytes_per_second: 100}" in text
              and "a hop between hosts costs 200.0 us" in text.replace("A hop", "a hop")
              and "clients:" in text and text.count("public_key:") == 2,
              f"speed {speed}: the topology has both hosts, their speeds, keys, clients and "
              "the network", text[:1500])
    check(stage_nodes[4][1] > stage_nodes[0.25][1],
          f"a faster host b takes more of the model (nodes {stage_nodes[4]} at speed 4, "
          f"{stage_nodes[0.25]} at 0.25)")

    both = run([zinfer, "split", model, "-o", os.path.join(folder, "x.yaml"), "--profile",
                profile, "--hosts", os.path.join(folder, "machines4.yaml"), "--processes", "2"])
    check(both.returncode == 2 and "--hosts with --processes" in both.stderr,
          "--hosts with --processes is refused", both.stderr)
    bad = os.path.join(folder, "bad_hosts.yaml")
    with open(bad, "w") as handle:
        handle.write("hosts:\n  - {name: a, address: 127.0.0.1, speed: fast}\n")
    refused = run([zinfer, "split", model, "-o", os.path.join(folder, "x.yaml"), "--profile",
                   profile, "--hosts", bad])
    check(refused.returncode != 0 and "bad_hosts.yaml:2:" in refused.stderr
          and "bad value for speed" in refused.stderr,
          "a bad hosts file: where and what", refused.stderr)

    topology = os.path.join(folder, "hosts4.yaml")
    host_b = Up(zinfer, topology, None, host="b", until="ready")
    host_a = None
    try:
        host_a = Up(zinfer, topology, None, host="a")
        if not check(host_b.ready and host_a.ready, "zinfer up --host b, then --host a",
                     "".join(host_b.stderr[-10:] + host_a.stderr[-10:])):
            return
        answer = os.path.join(folder, "answer_hosts.npy")
        result = run([zinfer, "infer", topology, "--input", data, "--output", answer,
                      "--key", os.path.join(keys, "client.key_secret"), "--timeout", "60000"])
        if check(result.returncode == 0, "zinfer infer with the client key answers",
                 result.stderr):
            got, want = np.load(answer), np.load(reference)
            check(got.tobytes() == want.tobytes() and got.shape == want.shape,
                  "the two-host answer is bit for bit that of zinfer run --threads 1")
    finally:
        if host_a:
            host_a.stop()
        host_b.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--port-base", type=int, default=30300)
    options = parser.parse_args()
    zinfer = os.path.abspath(options.zinfer)
    model = os.path.join(options.models, MODEL + ".onnx")
    data = os.path.join(options.models, MODEL + ".input.npy")
    failures = 0

    def check(ok, what, detail=""):
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""),
              flush=True)
        return ok

    with tempfile.TemporaryDirectory(prefix="zinfer-split-") as folder:
        reference = os.path.join(folder, "reference.npy")
        result = run([zinfer, "run", model, "--input", data, "--threads", "1",
                      "--output", reference])
        if not check(result.returncode == 0, "zinfer run --threads 1 gives the reference",
                     result.stderr):
            return 1
        profile = os.path.join(folder, "profile.json")
        result = run([zinfer, "run", model, "--input", data, "--threads", "1", "--repeat", "5",
                      "--profile-json", profile])
        check(result.returncode == 0, "zinfer run --profile-json writes a profile", result.stderr)

        # zinfer calibrate into a configuration folder of the test's own,
        # where split and plan then find it without being told
        config = os.path.join(folder, "config")
        calibrated = dict(os.environ, XDG_CONFIG_HOME=config)
        result = run([zinfer, "calibrate", "--pings", "20", "--base-port",
                      str(options.port_base + 30)], env=calibrated)
        hops_file = os.path.join(config, "zinfer", "hops.json")
        hops = {}
        if check(result.returncode == 0 and os.path.exists(hops_file),
                 "zinfer calibrate measures and writes its default file",
                 result.stdout + result.stderr):
            with open(hops_file) as handle:
                hops = json.load(handle)
            for transport in ("ipc", "tcp"):
                entry = hops.get(transport, {})
                points = entry.get("measured", [])
                check(entry.get("usecs", 0) > 0 and entry.get("bytes_per_usec", 0) > 0
                      and len(points) >= 3 and points[-1]["usecs"] > points[0]["usecs"],
                      f"calibrate: {transport} has a fixed cost, a bandwidth, and 4 MiB takes "
                      f"longer than 64 bytes", json.dumps(entry))
            runtime = hops.get("runtime", {})
            check(0 <= runtime.get("actor_usecs", -1) < 1000
                  and 0 <= runtime.get("thread_usecs", -1) < 10000
                  and "per actor" in result.stdout,
                  "calibrate measures the runtime's cost per actor and per hand-over between "
                  "threads", json.dumps(runtime) + result.stdout)

        # 2 processes: profiled by split itself, for latency, over ipc,
        # hops from the calibration it finds; 3 processes: from the
        # profile file, for throughput, over tcp, documented hop costs
        cases = [(2, ["--objective", "latency", "--transport", "ipc", "--runs", "5"], calibrated),
                 (3, ["--objective", "throughput", "--transport", "tcp", "--profile", profile],
                  dict(os.environ, XDG_CONFIG_HOME=os.path.join(folder, "empty")))]
        for index, (processes, extra, environment) in enumerate(cases):
            name = f"{processes} processes"
            base_port = options.port_base + 20 * index
            topology = os.path.join(folder, f"split{processes}.yaml")
            result = run([zinfer, "split", model, "-o", topology, "--processes", str(processes)]
                         + extra, env=environment)
            if not check(result.returncode == 0, f"{name}: zinfer split writes {topology}",
                         result.stderr):
                continue
            if "--profile" not in extra:
                check("profiling" in result.stderr, f"{name}: split says it profiles on stderr",
                      result.stderr)
            with open(topology) as handle:
                text = handle.read()
            check(text.count("  - process: stage") == processes
                  and text.count("  # cut: ") == processes - 1
                  and text.count("  # stage") == processes and "# Predicted: latency" in text,
                  f"{name}: one range per process, a comment per process and per cut", text)
            if environment is calibrated and hops:
                check("measured by zinfer calibrate" in text
                      and f"costs {hops['ipc']['usecs']:.1f} us" in text,
                      f"{name}: split prices hops with the calibration", text[:600])
            else:
                check("documented defaults" in text, f"{name}: without a calibration split "
                      "says it uses the documented defaults", text[:600])

            dot = os.path.join(folder, f"split{processes}.dot")
            svg = os.path.join(folder, f"split{processes}.svg")
            result = run([zinfer, "plan", topology, "--base-port", str(base_port),
                          "--runs", "2", "--dot", dot, "--svg", svg], env=environment)
            check(("measured by zinfer calibrate" in result.stdout)
                  == (environment is calibrated and bool(hops)),
                  f"{name}: plan says where its hop costs come from", result.stdout)
            check(result.returncode == 0 and "process stage1 (gateway)" in result.stdout
                  and f"process stage{processes}:" in result.stdout
                  and "predicted: latency" in result.stdout,
                  f"{name}: zinfer plan loads and places it", result.stdout + result.stderr)
            crossings = [line for line in result.stdout.splitlines()
                         if ", process stage" in line and " -> " in line]
            check(len(crossings) >= processes, f"{name}: plan lists the edges between "
                  f"processes ({len(crossings)})", result.stdout)
            with open(dot) as handle:
                graph = handle.read()
            check(graph.count("subgraph cluster_p") == processes and "style=dashed" in graph,
                  f"{name}: --dot draws a cluster per process and dashed cuts", graph[:400])
            with open(svg) as handle:
                picture = handle.read()
            check("<svg" in picture and picture.count("stage") >= processes,
                  f"{name}: --svg draws it as SVG", picture[:300])

            up = Up(zinfer, topology, base_port)
            try:
                if not check(up.ready, f"{name}: zinfer up starts it", "".join(up.stderr[-20:])):
                    continue
                answer = os.path.join(folder, f"answer{processes}.npy")
                # Inputs and outputs by the model's names (input, output)
                result = run([zinfer, "infer", topology, "--base-port", str(base_port),
                              "--input", f"input={data}", "--output", f"output={answer}",
                              "--timeout", "60000"])
                summary = [line for line in result.stdout.splitlines() if line.strip()]
                check(any(line.lstrip().startswith("output") for line in summary)
                      and not any(line.lstrip().startswith("0:") for line in summary),
                      f"{name}: infer names the output as the model does", result.stdout)
                if check(result.returncode == 0, f"{name}: zinfer infer NAME=FILE answers",
                         result.stderr):
                    got, want = np.load(answer), np.load(reference)
                    check(got.dtype == want.dtype and got.shape == want.shape
                          and got.tobytes() == want.tobytes(),
                          f"{name}: the answer is bit for bit that of zinfer run --threads 1",
                          f"max difference {np.max(np.abs(got - want))}")
            finally:
                up.stop()
        # Throughput with cores to spare: the slowest stage, one node that
        # no cut makes shorter, gets replicas on threads of its own
        tiny = os.path.join(options.models, "tiny_cnn_op13.onnx")
        replicated = os.path.join(folder, "replicated.yaml")
        result = run([zinfer, "split", tiny, "-o", replicated, "--processes", "7", "--objective",
                      "throughput", "--cores", "10", "--runs", "5"])
        if check(result.returncode == 0, "split for throughput with 3 cores to spare",
                 result.stderr):
            with open(replicated) as handle:
                text = handle.read()
            counts = [int(line.split(":")[1]) for line in text.splitlines()
                      if line.strip().startswith("replicas:")]
            threads = [int(line.split(":")[1]) for line in text.splitlines()
                       if line.strip().startswith("threads:")]
            check(counts and sum(c - 1 for c in counts) <= 3 and sum(threads) <= 10
                  and all(c > 1 for c in counts),
                  f"replicas on spare threads only ({counts}, threads {threads})", text)
            result = run([zinfer, "plan", replicated, "--runs", "2",
                          "--base-port", str(options.port_base + 60)])
            check(result.returncode == 0 and "other replica" in result.stdout
                  and "replicas on one thread" not in result.stdout,
                  "plan loads the replicated topology: a thread per replica, no warning",
                  result.stdout + result.stderr)
        runtime_cost_case(zinfer, model, profile, folder, check)
        cores_worth_case(zinfer, options.models, model, profile, folder, check)
        profile_pacing_case(zinfer, options.models, profile, folder, check)
        profile_middle_case(zinfer, options.models, folder, check)
        plan_warning_cases(zinfer, folder, check)
        hosts_case(zinfer, model, data, reference, profile, folder, options.port_base + 80,
                   check)
    print(f"split_test: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
