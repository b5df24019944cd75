"""Shared helpers for zinfer's benchmark scripts and distributed tests:
list a model's planned nodes, write topology files, and run `zinfer up`
in the background, stopped again whatever happens.
"""

import json
import os
import sys
import signal
import subprocess
import threading
import time


class HarnessError(Exception):
    pass


def run_checked(args):
    """Runs a command to its end, its output captured (text). A failure
    raises HarnessError with the command and the end of what it said on
    stderr: CalledProcessError drops that, and a benchmark that fails
    once on a loaded machine must say why in the test log, as it may not
    fail again when rerun."""
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        said = "\n".join(result.stderr.strip().splitlines()[-20:])
        raise HarnessError(f"{' '.join(str(arg) for arg in args)} exited with "
                           f"{result.returncode}: {said or '(nothing on stderr)'}")
    return result


def node_names(zinfer, model, fuse=True):
    """Planned node names in execution order, from `zinfer info`."""
    args = [zinfer, "info", model] + (["--fuse"] if fuse else [])
    out = run_checked(args).stdout
    names, table = [], False
    for line in out.splitlines():
        if line.strip().startswith("#  node"):
            table = True
            continue
        if table and line.strip() and line.split()[0].isdigit():
            names.append(line.split()[1])
        elif table and line.startswith("total"):
            break
    if not names:
        raise HarnessError(f"no nodes listed by zinfer info for {model}")
    return names


def ranges(names, parts):
    """Splits node names into `parts` contiguous (from, to) ranges."""
    size = len(names) / parts
    bounds = [round(i * size) for i in range(parts + 1)]
    return [(names[bounds[i]], names[bounds[i + 1] - 1]) for i in range(parts)]


def range_placement(parts_ranges):
    """Topology placement lines putting the i-th (from, to) range on
    process p<i>"""
    placement = []
    for i, (first, last) in enumerate(parts_ranges):
        placement += [f"  - process: p{i}", f"    from: {first}", f"    to: {last}"]
    return placement


def cut_points(names, parts_ranges):
    """Where contiguous ranges of names begin, but for the first: the
    indices of the nodes a split cuts before"""
    return [names.index(first) for first, _ in parts_ranges][1:]


def node_profile(zinfer, model, data, folder, runs=None, gap=None):
    """Planned nodes in execution order with their measured time at one
    thread, output bytes and inputs (`zinfer run --profile-json`: each
    node's mean over the middle half of the runs); gap paces the runs as
    `zinfer run --gap` does (None: back to back, as a pipeline's requests
    come; "run": single requests, as `zinfer split --objective latency`
    profiles). runs None: as many as last about a second, 20 to 1000, as
    `zinfer split` profiles by default: this machine's speed swings within
    a second, and 20 runs of a small model caught one moment of it."""
    out = os.path.join(folder, "profile.json")

    def profile(count):
        run_checked([zinfer, "run", model, "--input", data, "--threads", "1",
                     "--repeat", str(count), "--profile-json", out]
                    + (["--gap", str(gap)] if gap is not None else []))
        with open(out) as file:
            return json.load(file)["nodes"]
    if runs is None:
        probe_ms = sum(node["ms"] for node in profile(3))
        runs = min(1000, max(20, int(1000.0 / probe_ms) + 1 if probe_ms > 0 else 20))
    return profile(runs)


def crossing_bytes(nodes, cut):
    """Bytes that pass from nodes [0, cut) to nodes [cut, ...)"""
    made = {node["output"]: node["bytes"] for node in nodes[:cut]}
    read = {name for node in nodes[cut:] for name in node["inputs"]}
    return sum(size for name, size in made.items() if name in read)


def calibrate(zinfer, folder, base_port):
    """`zinfer calibrate` into folder: this machine's hop costs and the
    runtime's cost per actor, measured now (its chains of actors on ports
    base_port .. base_port + 29), for zinfer_split to price them with. The
    path of the file."""
    path = os.path.join(folder, "hops.json")
    run_checked([zinfer, "calibrate", "-o", path, "--pings", "100", "--base-port",
                 str(base_port)])
    return path


def zinfer_split(zinfer, model, folder, parts, transport="ipc", objective="latency",
                 profile=None, calibration=None):
    """The cut `zinfer split` chooses: `parts` contiguous (from, to) node
    ranges, and its prediction in ms (the latency of one request, and the
    time per request of the pipeline: its slowest stage, or all stages'
    work shared by this host's cores), as a dict with keys ranges,
    latency_ms, slowest_ms, stage_ms (the slowest stage with its send
    alone), work_ms (a request's work that the cores share, copies priced
    for a pipeline), and cores_worth: the cores' worth of the model split
    measured (None when it did not say)."""
    path = os.path.join(folder, f"split-{parts}-{transport}-{objective}.yaml")
    command = [zinfer, "split", model, "-o", path, "--processes", str(parts),
               "--transport", transport, "--objective", objective]
    if profile:
        command += ["--profile", profile]
    if calibration:
        command += ["--calibration", calibration]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise HarnessError(f"zinfer split failed: {result.stderr.strip()}")
    starts, ends, latency, slowest, worth, stage, work = [], [], None, None, None, None, None
    with open(path) as handle:
        for line in handle:
            stripped = line.strip()
            if stripped.startswith("from: "):
                starts.append(json.loads(stripped[6:]))
            elif stripped.startswith("to: "):
                ends.append(json.loads(stripped[4:]))
            elif stripped.startswith("# Predicted: latency"):
                words = stripped.split()
                latency = float(words[3])
                rate = float(stripped.split(" throughput ")[1].split()[0])
                slowest = 1000.0 / rate if rate > 0 else float("inf")
                stage = float(stripped.split(" ms with its send")[0].rsplit(" at ", 1)[1])
                if " cores' worth of this model" in stripped:
                    worth = float(stripped.split(" cores' worth of this model")[0]
                                  .rsplit("(", 1)[1])
                if " ms of work" in stripped:
                    work = float(stripped.split(" ms of work")[0].rsplit("(", 1)[1])
    if len(starts) != parts or len(ends) != parts or latency is None:
        raise HarnessError(f"cannot read the ranges and prediction of {path}")
    return {"ranges": list(zip(starts, ends)), "latency_ms": latency, "slowest_ms": slowest,
            "cores_worth": worth, "stage_ms": stage,
            "work_ms": work if work is not None else latency}


def write_topology(folder, model, processes, placement, base_port, transport="ipc",
                   threads=1):
    lines = [f"name: test-{base_port}", f"model: {model}", f"base_port: {base_port}",
             f"transport: {transport}", "processes:"]
    for name in processes:
        lines += [f"  - name: {name}", f"    threads: {threads}"]
    if placement:
        lines.append("placement:")
        lines += placement
    path = os.path.join(folder, "topology.yaml")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


class Topology:
    """`zinfer up` in the background; stopped on exit, whatever happens."""

    def __init__(self, zinfer, path, timeout=120, quiet=False, extra=(), gateway=True):
        """gateway=False: this host of a multi-host topology runs no gateway,
        so it is ready once `zinfer up` says so, with no client endpoint."""
        self.quiet = quiet
        self.process = subprocess.Popen(
            [zinfer, "up", path] + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        self.endpoint = None
        self.local_endpoint = None      # ipc, for clients on this host
        self.stderr = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.time() + timeout
        for line in self.process.stdout:
            if not quiet:
                print("    up:", line.rstrip(), flush=True)
            if "clients on this host may use" in line:
                self.local_endpoint = line.split()[-1]
            if "clients connect to" in line:
                self.endpoint = line.split()[-1]
                break
            if not gateway and " ready" in line:
                self.endpoint = ""
                break
            if time.time() > deadline:
                break
        if self.endpoint is None:
            self.stop()
            raise HarnessError("zinfer up did not report ready:\n" + "".join(self.stderr[-20:]))
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _drain_stdout(self):
        for line in self.process.stdout:
            if not self.quiet:
                print("    up:", line.rstrip(), flush=True)

    def _drain_stderr(self):
        for line in self.process.stderr:
            self.stderr.append(line)
            if not self.quiet:
                print("    up!", line.rstrip(), flush=True)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()




# --------------------------------------------------------------------------
# For the benchmark scripts
# --------------------------------------------------------------------------

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PYTHON = "/usr/bin/python3"


def default_zinfer():
    return os.path.join(ROOT, "build", "zinfer")


def ensure_models(models_dir, names):
    """Exports the named test models into models_dir unless already there."""
    subprocess.run([PYTHON, os.path.join(ROOT, "tests", "models", "make_models.py"),
                    "--out", models_dir, "--only"] + list(names), check=True)


def model_files(models_dir, model):
    """(name, model path, input path) for a test model's name (exported
    into models_dir if missing), or for the path of any NAME.onnx whose
    input is saved next to it as NAME.input.npy"""
    if model.endswith(".onnx"):
        path = os.path.abspath(model)
        data = path[:-len(".onnx")] + ".input.npy"
        for needed in (path, data):
            if not os.path.exists(needed):
                raise SystemExit(f"{model}: {needed} is missing; expected a model and its input "
                                 f"beside it (numpy.save to NAME.input.npy next to NAME.onnx)")
        return os.path.basename(path)[:-len(".onnx")], path, data
    ensure_models(models_dir, [model])
    return (model, os.path.join(models_dir, model + ".onnx"),
            os.path.join(models_dir, model + ".input.npy"))


def read_times(path):
    with open(path) as handle:
        return [float(line) for line in handle if line.strip()]


def run_local(zinfer, model, data, runs, threads, folder, fuse=True, gap=None):
    """Per-run latencies (ms) of `zinfer run` (one warm-up run excluded),
    back to back or paced by gap as `zinfer run --gap` takes it."""
    times = os.path.join(folder, "local-times.txt")
    args = [zinfer, "run", model, "--input", data, "--repeat", str(runs),
            "--threads", str(threads), "--times", times]
    if gap is not None:
        args += ["--gap", str(gap)]
    if not fuse:
        args.append("--no-fuse")
    run_checked(args)
    return read_times(times)


def run_remote(zinfer, endpoint, data, runs, folder, inflight=1, topology=None, key=None):
    """Per-request latencies (ms) and throughput (requests/s) of
    `zinfer infer` against a running topology: at endpoint, or through the
    topology file with a client key when it uses CURVE."""
    times = os.path.join(folder, "remote-times.txt")
    target = [topology, "--key", key] if topology else ["--endpoint", endpoint]
    out = run_checked([zinfer, "infer"] + target + ["--input", data, "--repeat", str(runs),
                       "--inflight", str(inflight), "--times", times]).stdout
    throughput = 0.0
    for line in out.splitlines():
        if "throughput" in line:
            throughput = float(line.split("throughput")[1].split()[0])
    return read_times(times), throughput


def bootstrap_median(blocks, resamples=2000, seed=18):
    """The median of all values in blocks (lists), and a 95 % interval for
    it: the 2.5th and 97.5th percentiles of the medians of resamples made
    of whole blocks drawn with replacement. Blocks, not single values:
    requests next to each other saw the same moment of the machine, and
    drawing them one by one would take them for independent and narrow
    the interval. The seed is fixed so that a run's table can be made again
    from its --json."""
    return bootstrap_median_runs([blocks], resamples, seed)


def bootstrap_median_runs(runs, resamples=2000, seed=18):
    """The median of all values of several runs (each a list of blocks,
    as bootstrap_median takes), and a 95 % interval that spans runs: each
    resample draws as many runs as there are, with replacement, then within
    each drawn run as many of its blocks as it has. A column moves between
    runs minutes apart (the profile, the cuts taken from it, the host's
    state) by more than one run's scatter of requests; drawing runs first
    puts that spread into the interval, where pooling the blocks of all
    runs would count it as more requests of one run."""
    import random
    import statistics
    runs = [[block for block in blocks if block] for blocks in runs]
    runs = [blocks for blocks in runs if blocks]
    values = [value for blocks in runs for block in blocks for value in block]
    if not values:
        return float("nan"), float("nan"), float("nan")
    generator = random.Random(seed)
    medians = []
    for _ in range(resamples):
        drawn = []
        for _ in runs:
            blocks = runs[generator.randrange(len(runs))]
            for _ in blocks:
                drawn.extend(blocks[generator.randrange(len(blocks))])
        medians.append(statistics.median(drawn))
    medians.sort()
    return (statistics.median(values), medians[int(0.025 * resamples)],
            medians[min(resamples - 1, int(0.975 * resamples))])


class FloorChain:
    """The same split with nothing of zinfer in it (bench/zi_bench_floor.c):
    one process per stage that spins on arithmetic for as long as its nodes
    took in the profile and sends on as many bytes as cross there, and a
    client that pairs each request through the chain with the same
    arithmetic run locally (bench/zi_bench_twins.c, taking turns with a
    split's requests). Its ratio is the least any ZeroMQ split at these
    cut points costs on this machine."""

    def __init__(self, program, nodes, cuts, transport, folder, tag, port, iterations_per_ms,
                 input_bytes=0, via_first=False):
        """via_first: the last stage answers through the first, which
        passes the answer on to the client, as a split's last process
        answers through the gateway's (over the same transport as the
        stages); by default it answers the client itself"""
        self.program = program
        # The first stage copies the model's input out of the client's
        # shared memory, as zinfer's gateway must (bench/zi_bench_floor.c)
        self.input_bytes = input_bytes
        bounds = [0] + list(cuts) + [len(nodes)]
        stage_ms = [sum(node["ms"] for node in nodes[bounds[i]:bounds[i + 1]])
                    for i in range(len(bounds) - 1)]
        sends = [crossing_bytes(nodes, cut) for cut in cuts] + [nodes[-1]["bytes"]]
        self.iterations = [max(1, round(ms * iterations_per_ms)) for ms in stage_ms]
        # The client reaches the first stage and is answered over ipc, as
        # zinfer's client reaches its gateway; the stages talk over transport
        ipc = [f"ipc://{folder}/floor-{tag}-{i}" for i in range(len(stage_ms) + 1)]
        inputs = [ipc[0]] + [(f"tcp://127.0.0.1:{port + i}" if transport == "tcp" else ipc[i])
                             for i in range(1, len(stage_ms))]
        self.first, self.last = ipc[0], ipc[-1]
        back = None
        if via_first and len(stage_ms) > 1:
            back = (f"tcp://127.0.0.1:{port + len(stage_ms)}" if transport == "tcp"
                    else f"ipc://{folder}/floor-{tag}-back")
        self.stages = []
        try:
            for i, iterations in enumerate(self.iterations):
                output = inputs[i + 1] if i + 1 < len(inputs) else (back or self.last)
                passing = [back, self.last] if back and i == 0 else []
                self.stages.append(subprocess.Popen(
                    [program, "stage", inputs[i], output, str(iterations), str(sends[i]),
                     str(input_bytes if i == 0 else 0)] + passing,
                    stderr=subprocess.PIPE, text=True, start_new_session=True))
            time.sleep(0.2)
            for stage in self.stages:
                if stage.poll() is not None:
                    raise HarnessError("zi_bench_floor stage failed: " + stage.stderr.read().strip())
        except Exception:
            self.stop()
            raise

    def _client(self, args, field):
        out = subprocess.run([self.program] + args, capture_output=True, text=True, timeout=600)
        values = dict(line.split(": ") for line in out.stdout.splitlines() if ": " in line)
        if out.returncode != 0 or field not in values:
            raise HarnessError(f"zi_bench_floor {args[0]} failed: {out.stderr.strip()}")
        return float(values[field])

    def twins(self, program, endpoint, model, data, runs, second=None):
        """`runs` requests to a running topology at endpoint (ipc, the input
        in shared memory) taking turns with as many through this chain, from
        one client (bench/zi_bench_twins.c), each after its local run: per
        run, zinfer's (local ms, remote ms) and the floor's, in order; with
        a second chain (of the same stages, answering through its first),
        a third turn through it and its pair last"""
        extra = [second.first, second.last] if second else []
        out = subprocess.run([program, endpoint, model, data, self.first, self.last,
                              str(sum(self.iterations)), str(runs), str(self.input_bytes)]
                             + extra, capture_output=True, text=True, timeout=1200)
        width = 6 if second else 4
        runs_ms = [[float(word) for word in line.split()[1:1 + width]]
                   for line in out.stdout.splitlines() if line.startswith("run_ms: ")]
        if out.returncode != 0 or len(runs_ms) != runs:
            raise HarnessError(f"zi_bench_twins failed: {out.stderr.strip()}")
        return [tuple(tuple(values[at:at + 2]) for at in range(0, width, 2))
                for values in runs_ms]

    def pipeline(self, requests, inflight):
        """Throughput with `inflight` requests in flight over the same
        arithmetic run on one thread (the median of five rounds' ratios)"""
        return self._client(["pipeline", self.first, self.last, str(sum(self.iterations)),
                             str(requests), str(inflight), str(self.input_bytes)], "speedup")

    def stop(self):
        for stage in self.stages:
            if stage.poll() is None:
                stage.kill()
            stage.wait()
        self.stages = []


def npy_data_bytes(path):
    """Bytes of data in a .npy file (after its header): what a request
    carries of that input"""
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head[:6] != b"\x93NUMPY":
        raise HarnessError(f"{path}: not a .npy file")
    if head[6] == 1:
        header = 10 + int.from_bytes(head[8:10], "little")
    else:
        header = 12 + int.from_bytes(head[8:12], "little")
    return os.path.getsize(path) - header


def floor_program(zinfer):
    """zi_bench_floor, built next to zinfer"""
    return os.path.join(os.path.dirname(os.path.abspath(zinfer)), "zi_bench_floor")


def twins_program(zinfer):
    """zi_bench_twins, built next to zinfer"""
    return os.path.join(os.path.dirname(os.path.abspath(zinfer)), "zi_bench_twins")


def floor_calibrate(program):
    """Iterations of zi_bench_floor's arithmetic per millisecond here"""
    out = run_checked([program, "calibrate"])
    return float(out.stdout.split(":")[1])


def core_rates(zinfer):
    """zi_bench_floor's arithmetic per ms and memory read rate on each CPU
    this process may use, pinned there, alone and with all at once, and a
    cache line's round trip between the first two: {"alone": {cpu: rate},
    "together": {cpu: rate}, "memory_gbs_alone": {cpu: GB/s},
    "memory_gbs_together": ..., "round_trip_ns": ns or None}, or {}
    without the program. A shared
    host's two vCPUs can differ by 1.6x for minutes, or slow each other
    only while both run, which moves every two-thread number."""
    program = floor_program(zinfer)
    if not os.path.exists(program):
        return {}
    rates = {"alone": {}, "together": {}, "memory_gbs_alone": {}, "memory_gbs_together": {},
             "round_trip_ns": None}
    try:
        out = run_checked([program, "cores"]).stdout
    except HarnessError as error:
        # A CPU it may not pin itself to (a restricted container): the run
        # goes on, its header saying the vCPUs were not probed
        progress(f"vCPU probe skipped: {error}")
        return {}
    for line in out.splitlines():
        words = line.replace(":", "").split()
        if words[0] == "cpu":
            cpu = int(words[1])
            rates["alone"][cpu] = float(words[3])
            rates["together"][cpu] = float(words[5])
            rates["memory_gbs_alone"][cpu] = float(words[8])
            rates["memory_gbs_together"][cpu] = float(words[10])
        elif words[:2] == ["round", "trip"]:
            rates["round_trip_ns"] = float(words[6])
    return rates


def cores_text(before, after):
    """The vCPUs' state before and after a run, for a table's header: each
    one's arithmetic alone and with all at once as a share of the fastest
    reading alone, and the round trip between the first two"""
    if not before or not after:
        return "vCPUs not probed (no zi_bench_floor, or it could not pin itself)"
    fastest = max(list(before["alone"].values()) + list(after["alone"].values()))

    def state(rates):
        alone = " / ".join(f"{rate / fastest:.2f}" for _, rate in sorted(rates["alone"].items()))
        together = " / ".join(f"{rate / fastest:.2f}"
                              for _, rate in sorted(rates["together"].items()))
        memory = " / ".join(f"{rates['memory_gbs_alone'][cpu]:.0f}-"
                            f"{rates['memory_gbs_together'][cpu]:.0f}"
                            for cpu in sorted(rates["alone"]))
        trip = (f", a cache line's round trip {rates['round_trip_ns']:.0f} ns"
                if rates["round_trip_ns"] is not None else "")
        return (f"{alone} alone, {together} all at once, memory read {memory} GB/s "
                f"(alone-all at once){trip}")
    return (f"vCPUs' arithmetic (`zi_bench_floor cores`, shares of the fastest) before the run "
            f"{state(before)}; after it {state(after)}")


def stats(values):
    values = sorted(values)
    count = len(values)
    mean = sum(values) / count
    std = (sum((v - mean) ** 2 for v in values) / (count - 1)) ** 0.5 if count > 1 else 0.0
    return {"mean": mean, "std": std, "median": values[count // 2],
            "p90": values[min(count - 1, int(0.9 * count))], "count": count}


def progress(message):
    print(message, file=sys.stderr, flush=True)


# The CPU flags that decide zinfer's instruction set (docs/performance.md)
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
             "avx512_bf16")


def cpu_model_and_flags():
    """The CPU's model name and its /proc/cpuinfo flags"""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, flags


def machine_line(isa=None):
    """One line describing this machine, for the tables: cores, CPU model,
    the vector flags zinfer's kernels choose by, and the ZI_ISA cap (or,
    given isa, the caps a run went through)."""
    model, flags = cpu_model_and_flags()
    present = " ".join(flag for flag in ISA_FLAGS if flag in flags) or "none of avx2/avx512"
    cap = f"ISA caps {isa}" if isa else f"ZI_ISA {os.environ.get('ZI_ISA') or 'unset'}"
    line = f"{os.cpu_count()} cores, {model}, flags {present}, {cap}"
    # OpenBLAS 0.3.21 takes CPUs newer than it for a Prescott (SSE3)
    if os.environ.get("OPENBLAS_CORETYPE"):
        line += f", OPENBLAS_CORETYPE {os.environ['OPENBLAS_CORETYPE']}"
    return line


# --------------------------------------------------------------------------
# Instruction-set caps for every engine in a run. zinfer obeys ZI_ISA;
# ONNX Runtime, PyTorch, OpenBLAS and glibc have no such switch, so below
# the CPU's own level each process runs under bench/zi_isa_mask.so, which
# makes CPUID report no feature above the cap (CPUID faulting, Linux x86-64).
# --------------------------------------------------------------------------

ISA_LEVELS = ("portable", "avx2", "avx512")
# glibc picks its string functions before the mask is on; its tunables cap them
GLIBC_HIDDEN = {"avx2": "AVX512F,AVX512CD,AVX512BW,AVX512DQ,AVX512VL,AVX512ER,AVX512PF",
                "portable": "AVX512F,AVX512CD,AVX512BW,AVX512DQ,AVX512VL,AVX512ER,AVX512PF,"
                            "AVX,AVX2,FMA,F16C"}
# OpenBLAS cores above each cap, and the core to take instead
OPENBLAS_ABOVE = {"avx2": ({"skylakex", "cooperlake", "sapphirerapids"}, "Haswell"),
                  "portable": ({"skylakex", "cooperlake", "sapphirerapids", "haswell", "zen",
                               "skylake", "excavator"}, "Nehalem")}


def machine_isa():
    """The highest level of ISA_LEVELS this CPU has"""
    _, flags = cpu_model_and_flags()
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "portable"


def isa_caps(text):
    """The caps --isa names, checked: a comma-separated list of levels, or
    `native` (no cap); None means every level from avx2 up to the CPU's"""
    top = machine_isa()
    if text is None:
        return [level for level in ISA_LEVELS[1:ISA_LEVELS.index(top) + 1]] or [top]
    caps = [word.strip() for word in text.split(",") if word.strip()]
    for cap in caps:
        if cap != "native" and cap not in ISA_LEVELS:
            raise ValueError(f"--isa: unknown level '{cap}' (known: native, "
                             f"{', '.join(ISA_LEVELS)})")
        if cap != "native" and ISA_LEVELS.index(cap) > ISA_LEVELS.index(top):
            raise ValueError(f"--isa: this CPU has no {cap} (its best is {top})")
    if not caps:
        raise ValueError("--isa: no level given")
    return caps


def isa_environment(cap, mask_library):
    """The environment variables that put every engine at cap: {name: value,
    or None to remove}. Raises RuntimeError where the cap cannot be set."""
    if cap == "native":
        return {"ZI_ISA": None, "ZI_ISA_MASK": None}
    changes = {"ZI_ISA": cap, "ZI_ISA_MASK": None}
    if cap == machine_isa():
        return changes
    _, flags = cpu_model_and_flags()
    if "cpuid_fault" not in flags:
        raise RuntimeError(f"cannot cap the other engines at {cap}: this CPU (or its "
                           "hypervisor) has no CPUID faulting (cpuid_fault in /proc/cpuinfo)")
    if not os.path.isfile(mask_library):
        raise RuntimeError(f"cannot cap the other engines at {cap}: no {mask_library} "
                           "(built with zinfer: cmake --build build --target zi_isa_mask)")
    preload = os.environ.get("LD_PRELOAD")
    changes.update(ZI_ISA_MASK=cap,
                   LD_PRELOAD=f"{mask_library}:{preload}" if preload else mask_library)
    hidden = ",".join("-" + name for name in GLIBC_HIDDEN[cap].split(","))
    tunables = os.environ.get("GLIBC_TUNABLES")
    changes["GLIBC_TUNABLES"] = (f"{tunables}:" if tunables else "") + f"glibc.cpu.hwcaps={hidden}"
    above, instead = OPENBLAS_ABOVE[cap]
    if os.environ.get("OPENBLAS_CORETYPE", "").lower() in above:
        changes["OPENBLAS_CORETYPE"] = instead
    return changes


class isa_cap:
    """`with isa_cap(cap, library):` runs every process started inside at cap"""
    def __init__(self, cap, mask_library):
        self.changes = isa_environment(cap, mask_library)

    def __enter__(self):
        self.saved = {name: os.environ.get(name) for name in self.changes}
        self._apply(self.changes)
        return self

    def __exit__(self, *exc):
        self._apply(self.saved)

    @staticmethod
    def _apply(changes):
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def default_mask(zinfer):
    """zi_isa_mask.so, built next to the zinfer it is given"""
    return os.path.join(os.path.dirname(os.path.abspath(zinfer)), "zi_isa_mask.so")


def update_doc(doc_path, section, text):
    """Replaces the part of doc_path between <!-- BEGIN section --> and
    <!-- END section --> (appending the markers if absent)."""
    begin, end = f"<!-- BEGIN {section} -->", f"<!-- END {section} -->"
    try:
        with open(doc_path) as handle:
            doc = handle.read()
    except FileNotFoundError:
        doc = "# Benchmarks\n"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    with open(doc_path, "w") as handle:
        handle.write(doc)


def gnuplot(script, data_rows, png):
    """Draws a chart with gnuplot from rows of whitespace-separated data;
    the script refers to the data as '-' (inline); returns True if drawn."""
    if not png:
        return False
    if subprocess.run(["which", "gnuplot"], capture_output=True).returncode != 0:
        progress("gnuplot not found; no chart (scripts/install-deps.sh installs gnuplot-nox)")
        return False
    payload = (f"set terminal pngcairo size 900,500 font ',10' noenhanced\n"
               f"set output '{png}'\n{script}\n")
    payload += "\n".join(data_rows) + "\ne\n"
    result = subprocess.run(["gnuplot"], input=payload, text=True, capture_output=True)
    if result.returncode != 0:
        progress("gnuplot failed: " + result.stderr.strip())
        return False
    return True


def load_peers():
    """bench/peers as a module: its ONNX Runtime installer and worker, and
    its model list, for the scripts that set zinfer next to the peers"""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("peers", os.path.join(ROOT, "bench", "peers"))
    spec = importlib.util.spec_from_loader("peers", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def process_times(zinfer, topology_path):
    """Per process of a running topology, so far, in usecs, from one
    `zinfer top --json`: its kernels' time (sum of its actors' busy_usecs),
    its worker threads' CPU (kernels, and the gateway's and the actors' own
    work) and the whole process's CPU (ZeroMQ's I/O threads too)"""
    import json
    out = subprocess.run([zinfer, "top", topology_path, "--json"], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        raise HarnessError(f"zinfer top failed: {out.stderr.strip()}")
    snapshot = json.loads(out.stdout)
    busy = {}
    for actor in snapshot["actors"]:
        busy[actor["process"]] = busy.get(actor["process"], 0) + actor["busy_usecs"]
    answered = [process for process in snapshot["processes"] if process.get("answered")]
    cpu = {process["name"]: process.get("cpu_usecs", 0) for process in answered}
    whole = {process["name"]: process.get("process_cpu_usecs", 0) for process in answered}
    return busy, cpu, whole
