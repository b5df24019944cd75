#!/usr/bin/python3
"""Other local users, and the faults of a launcher's own files and workers.

zinfer keeps a run's files (ipc sockets, the launcher's control socket, the
lock that lets one launcher run a topology on a host) in a private runtime
folder: $XDG_RUNTIME_DIR/zinfer, else /tmp/zinfer-UID. This test points
XDG_RUNTIME_DIR at a folder of its own, so that it can plant what another
user could plant without disturbing anyone else's runs, and checks:

  foreign_folder   the runtime folder owned by another uid: refused, naming
                   it; a client sends nothing to a socket planted in it
  open_folder      our own runtime folder with mode 0777: refused (not
                   repaired: files may already wait in it)
  symlink_folder   the runtime folder a symbolic link: refused
  control_socket   the launcher's control socket lies in the private
                   folder, not in /tmp where another user could squat it
  unsafe_name      name: ../x is refused at load; nothing is created
  empty_process    a 3-process topology with a process running no node
  clean_stop       SIGINT, SIGTERM and a failed start leave no file behind
  stale_socket     a `clients` socket left by a stopped topology: infer
                   fails within 2 s saying nothing listens
  wrong_port       a topology started with --base-port, infer without it:
                   fails within 2 s naming --base-port
  second_up        a second `zinfer up` of a running topology is refused,
                   naming the first's pid; the first keeps answering, also
                   over ipc, and stops cleanly
  hung_worker      a worker stopped with SIGSTOP is killed and restarted
                   within its liveness deadline and answers right after
  busy_worker      a worker thread in one kernel call four deadlines long
                   is busy, not hung: not killed, and its answer is right
  orphan_stopped   the launcher SIGKILLed while a worker is stopped: the
                   worker dies too and its ports are free

    /usr/bin/python3 tests/topology/local_users_test.py --zinfer build/zinfer \\
        --models build/models [--port-base 29300] [--case NAME]

Exits 77 (skipped) when it cannot hand a folder to another uid (not root)
and every other case passed.
"""

import argparse
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import numpy as np
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from topotest import Failure, check, local_result, worker_pids, zinfer_client  # noqa: E402
from zinfer_harness import (HarnessError, Topology, node_names, range_placement,  # noqa: E402
                            ranges, write_topology)

OTHER_UID = 65534           # nobody
SKIP = 77


class Skip(Exception):
    pass


def run(args, *command, timeout=30):
    started = time.time()
    out = subprocess.run([args.zinfer] + list(command), capture_output=True, text=True,
                         timeout=timeout)
    return out, time.time() - started


def runtime_dir():
    return os.path.join(os.environ["XDG_RUNTIME_DIR"], "zinfer")


def tiny_topology(args, folder, port, processes=("p0", "p1"), transport="ipc", extra=()):
    model = os.path.join(args.models, "tiny_cnn_op13.onnx")
    names = node_names(args.zinfer, model)
    path = write_topology(folder, model, list(processes),
                          range_placement(ranges(names, len(processes))), port, transport)
    if extra:
        with open(path, "a") as handle:
            handle.write("\n".join(extra) + "\n")
    return path


def model_input(args, folder):
    data = os.path.join(args.models, "tiny_cnn_op13.input.npy")
    want = local_result(args.zinfer, os.path.join(args.models, "tiny_cnn_op13.onnx"), [data],
                        folder)
    return data, want


def answers_right(args, topology, data, want, label):
    client = zinfer_client.Client(topology.endpoint)
    try:
        (y,) = client.infer([np.load(data)], timeout=30)
    finally:
        client.close()
    check(y.tobytes() == want.tobytes(), f"{label}: answers bitwise right")


def leftovers(port):
    """Files of the run named test-PORT left in the runtime folder."""
    base = runtime_dir()
    if not os.path.isdir(base):
        return []
    return sorted(name for name in os.listdir(base)
                  if name.startswith(f"test-{port}") or name.startswith("up-"))


def up_refused(args, path, needles, label):
    out, took = run(args, "up", path, timeout=60)
    check(out.returncode != 0, f"{label}: zinfer up refuses (exit {out.returncode})")
    for needle in needles:
        check(needle in out.stderr, f"... saying {needle!r}: {out.stderr.strip()[-400:]}")
    return out


def can_chown():
    probe = tempfile.mkdtemp(prefix="zlu-chown-")
    try:
        os.chown(probe, OTHER_UID, OTHER_UID)
        return True
    except PermissionError:
        return False
    finally:
        os.rmdir(probe)


def foreign_folder_case(args, folder, port):
    """The runtime folder made first by another user: nothing starts, and a
    client sends nothing to the socket that user planted there."""
    if not can_chown():
        raise Skip("needs root to hand a folder to another uid")
    path = tiny_topology(args, folder, port)
    base = runtime_dir()
    os.mkdir(base, 0o700)
    # The squatter's gateway stand-in, where the victim's clients would look
    planted = os.path.join(base, f"test-{port}")
    os.mkdir(planted, 0o777)
    os.chmod(planted, 0o777)
    context = zmq.Context()
    squatter = context.socket(zmq.ROUTER)
    squatter.linger = 0
    squatter.bind(f"ipc://{planted}/clients")
    for name in (planted, os.path.join(planted, "clients"), base):
        os.chown(name, OTHER_UID, OTHER_UID)
    try:
        up_refused(args, path, [base, f"uid {OTHER_UID}", "mode 0700",
                                f"expected a folder of uid {os.getuid()}"],
                   "a runtime folder owned by uid 65534")
        data, _ = model_input(args, folder)
        out, took = run(args, "infer", path, "--input", data, "--timeout", "3000")
        check(out.returncode != 0 and took < 2.5,
              f"zinfer infer fails in {took:.2f} s: {out.stderr.strip()}")
        check(not squatter.poll(500), "the squatter's socket received no request")
    finally:
        squatter.close()
        context.term()
        shutil.rmtree(base)


def open_folder_case(args, folder, port):
    """Our own runtime folder, but open to all (0777): refused, not
    repaired, since another user may have put files in it already."""
    path = tiny_topology(args, folder, port)
    base = runtime_dir()
    os.mkdir(base)
    os.chmod(base, 0o777)
    try:
        up_refused(args, path, [base, "mode 0777", "expected", "(mode 0700)"],
                   "a runtime folder of mode 0777")
        check(stat.S_IMODE(os.lstat(base).st_mode) == 0o777 and not os.listdir(base),
              "... left as it was, with nothing created in it")
    finally:
        shutil.rmtree(base)


def symlink_folder_case(args, folder, port):
    """The runtime folder a symbolic link (to a private folder of ours even):
    refused, as the link could be changed under us."""
    path = tiny_topology(args, folder, port)
    target = tempfile.mkdtemp(prefix="zlu-target-")
    base = runtime_dir()
    os.symlink(target, base)
    try:
        up_refused(args, path, [base, "symbolic link", target], "a symlinked runtime folder")
        check(not os.listdir(target), "... and nothing was created where it points")
    finally:
        os.unlink(base)
        shutil.rmtree(target)


def control_socket_case(args, folder, port):
    """The launcher's control socket: in the private folder, where no other
    user can squat its name first, not in /tmp."""
    path = tiny_topology(args, folder, port)
    with Topology(args.zinfer, path, quiet=True) as topology:
        pid = topology.process.pid
        control = os.path.join(runtime_dir(), f"up-{pid}.ctl")
        check(stat.S_ISSOCK(os.lstat(control).st_mode), f"control socket at {control}")
        check(not os.path.exists(f"/tmp/zinfer-{os.getuid()}-up-{pid}.ctl"),
              "... and none in /tmp")
    check(not os.path.exists(control), "removed when the launcher stops")
    # One killed outright leaves it; the next launcher sweeps it
    topology = Topology(args.zinfer, path, quiet=True)
    pid = topology.process.pid
    topology.process.send_signal(signal.SIGKILL)
    topology.process.wait(timeout=15)
    time.sleep(0.5)         # the workers die with it (PDEATHSIG)
    control = os.path.join(runtime_dir(), f"up-{pid}.ctl")
    check(os.path.exists(control), "a launcher killed outright leaves its control socket")
    with Topology(args.zinfer, path, quiet=True):
        check(not os.path.exists(control), "the next zinfer up removes it")


def unsafe_name_case(args, folder, port):
    """Names end up in paths: name: ../x would put sockets outside the
    runtime folder. Refused at load, with the place and what was expected."""
    path = tiny_topology(args, folder, port)
    text = open(path).read().replace(f"name: test-{port}", "name: ../x", 1)
    with open(path, "w") as handle:
        handle.write(text)
    up_refused(args, path, [f"{path}:1:7: bad value for name; expected a name of at most 64",
                            "got '../x'"], "name: ../x")
    check(not os.path.exists(os.path.join(os.environ["XDG_RUNTIME_DIR"], "x")),
          "nothing was created outside the runtime folder")
    for name in ("..", "a/b"):
        with open(path, "w") as handle:
            handle.write(text.replace("name: ../x", f"name: '{name}'", 1))
        up_refused(args, path, ["bad value for name", f"got '{name}'"], f"name: {name}")


def empty_process_case(args, folder, port):
    """Three processes, one of which runs no node: refused, naming it."""
    model = os.path.join(args.models, "tiny_cnn_op13.onnx")
    names = node_names(args.zinfer, model)
    halves = ranges(names, 2)
    placement = [f"  - process: p0", f"    from: {halves[0][0]}", f"    to: {halves[0][1]}",
                 f"  - process: p2", f"    from: {halves[1][0]}", f"    to: {halves[1][1]}"]
    path = write_topology(folder, model, ["p0", "p1", "p2"], placement, port, "ipc")
    up_refused(args, path, ["process 'p1' runs no node", "place nodes on it or remove it"],
               "a process without nodes")
    check(leftovers(port) == [], "nothing left behind")


def clean_stop_case(args, folder, port):
    """A run removes what it created, however it ends: SIGINT, SIGTERM, and
    a start that fails (its client port taken)."""
    path = tiny_topology(args, folder, port)
    data, want = model_input(args, folder)
    for how in (signal.SIGINT, signal.SIGTERM):
        topology = Topology(args.zinfer, path, quiet=True)
        try:
            ipc = topology.local_endpoint[len("ipc://"):]
            check(stat.S_ISSOCK(os.lstat(ipc).st_mode), f"the clients socket {ipc} is there")
            answers_right(args, topology, data, want, "running")
            topology.process.send_signal(how)
            rc = topology.process.wait(timeout=20)
        finally:
            topology.stop()
        check(rc == 0, f"after {signal.Signals(how).name}: zinfer up exits 0")
        check(leftovers(port) == [], f"... and leaves no file ({leftovers(port)})")
        check(not os.path.exists(os.path.dirname(ipc)), "... not even the ipc folder")
    taken = socket.socket()
    taken.bind(("127.0.0.1", port))         # the client port
    taken.listen()
    try:
        out, _ = run(args, "up", path, timeout=60)
    finally:
        taken.close()
    check(out.returncode != 0, f"a start that fails exits {out.returncode}")
    check(leftovers(port) == [], f"... and leaves no file ({leftovers(port)})")


def stale_socket_case(args, folder, port):
    """A `clients` socket nobody listens on (left by a topology that was
    killed) must not make clients wait their whole timeout."""
    path = tiny_topology(args, folder, port)
    data, _ = model_input(args, folder)
    ipc_dir = os.path.join(runtime_dir(), f"test-{port}")
    os.makedirs(ipc_dir, mode=0o700)
    os.chmod(runtime_dir(), 0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(os.path.join(ipc_dir, "clients"))
    stale.close()
    try:
        out, took = run(args, "infer", path, "--input", data)
        check(out.returncode != 0 and took < 2, f"zinfer infer fails in {took:.2f} s")
        check("nothing listens" in out.stderr and "zinfer status" in out.stderr,
              f"... saying why: {out.stderr.strip()}")
        endpoint = f"ipc://{ipc_dir}/clients"
        out, took = run(args, "infer", path, "--input", data, "--endpoint", endpoint)
        check(out.returncode != 0 and took < 2 and "left by a topology that stopped"
              in out.stderr, f"over that ipc endpoint: {out.stderr.strip()} ({took:.2f} s)")
        started = time.time()
        try:
            zinfer_client.Client(endpoint)
            check(False, "the Python client refuses a stale socket")
        except ConnectionRefusedError as error:
            check(time.time() - started < 2 and "nothing listens" in str(error),
                  f"the Python client refuses it at once: {error}")
    finally:
        shutil.rmtree(ipc_dir)


def wrong_port_case(args, folder, port):
    """Started with --base-port, asked without: refused at once, not after
    30 s of silence."""
    path = tiny_topology(args, folder, port)
    data, _ = model_input(args, folder)
    with Topology(args.zinfer, path, quiet=True, extra=["--base-port", str(port + 50)]):
        out, took = run(args, "infer", path, "--input", data)
        check(out.returncode != 0 and took < 2, f"infer on the wrong ports fails in {took:.2f} s")
        check("connection refused" in out.stderr and "--base-port" in out.stderr,
              f"... naming the likely cause: {out.stderr.strip()}")
        out, _ = run(args, "infer", path, "--input", data, "--base-port", str(port + 50))
        check(out.returncode == 0, "with the same --base-port it answers")


def second_up_case(args, folder, port):
    """A second zinfer up of a running topology is refused before it
    touches anything; the first serves on, over ipc too, and stops cleanly."""
    path = tiny_topology(args, folder, port)
    data, want = model_input(args, folder)
    with Topology(args.zinfer, path, quiet=True) as first:
        ipc = first.local_endpoint[len("ipc://"):]
        inode = os.lstat(ipc).st_ino
        out, took = run(args, "up", path, timeout=60)
        check(out.returncode != 0 and took < 10, f"the second up exits {out.returncode} "
              f"in {took:.1f} s")
        check("already runs" in out.stderr and f"pid {first.process.pid}" in out.stderr,
              f"... naming the running launcher: {out.stderr.strip()}")
        check(os.lstat(ipc).st_ino == inode, "the running topology's sockets are untouched")
        answers_right(args, first, data, want, "the first, over tcp")
        client = zinfer_client.Client(first.local_endpoint)
        (y,) = client.infer([np.load(data)], timeout=10)
        client.close()
        check(y.tobytes() == want.tobytes(), "the first, over ipc: answers bitwise right")
        first.process.send_signal(signal.SIGTERM)
        check(first.process.wait(timeout=20) == 0, "the first stops cleanly")
    check(leftovers(port) == [], f"... leaving nothing ({leftovers(port)})")


# A restart comes within a heartbeat period or so of the deadline (its
# clock starts at the last answer, up to a period before the stop), and on
# a machine busy with other tests (ctest -j) the launcher's loop and the
# new worker's fork can wait a while longer; one that never restarts is
# caught all the same (the loop gives up 5 s after the deadline)
S_RESTART_SLACK = 2.5
S_PING_SECS = 0.5


def restarted_in_time(restarted, deadline_ms):
    """Neither before the deadline (less the heartbeat period), which would
    kill a worker that is only slow, nor long after it"""
    return (restarted is not None and deadline_ms / 1000 - S_PING_SECS <= restarted
            < deadline_ms / 1000 + S_RESTART_SLACK)


def hung_worker_case(args, folder, port):
    """A stopped worker answers no heartbeat, and one whose worker thread
    is stuck reports no progress: either way, after liveness_timeout_ms it
    is killed and restarted, and the topology answers right after."""
    deadline_ms = 2000
    path = tiny_topology(args, folder, port, transport="tcp",
                         extra=[f"liveness_timeout_ms: {deadline_ms}"])
    data, want = model_input(args, folder)
    with Topology(args.zinfer, path, quiet=True) as topology:
        answers_right(args, topology, data, want, "before")
        pids = worker_pids(topology.process.pid)
        victim = pids["p1"]
        os.kill(victim, signal.SIGSTOP)
        stopped_at = time.time()
        restarted = None
        while time.time() - stopped_at < deadline_ms / 1000 + 5:
            now = worker_pids(topology.process.pid).get("p1")
            if now and now != victim:
                restarted = time.time() - stopped_at
                break
            time.sleep(0.05)
        if restarted is None:
            os.kill(victim, signal.SIGKILL)
        check(restarted_in_time(restarted, deadline_ms),
              f"the stopped worker was restarted {restarted and round(restarted, 2)} s after "
              f"SIGSTOP (deadline {deadline_ms / 1000} s)")
        check(any("has not answered its heartbeat" in line and "restart" in line
                  for line in topology.stderr), "the launcher says why")
        answers_right(args, topology, data, want, "right after")
        check(not os.path.exists(f"/proc/{victim}"), "the stopped process is gone")

        # Only its worker thread stuck (as in a deadlock or an endless
        # loop), its monitor still answering: the heartbeat says the thread
        # made no progress, and the worker is restarted all the same
        victim = worker_pids(topology.process.pid)["p1"]
        thread = worker_thread(victim)
        check(thread is not None, "the worker thread is found by its name")
        stopped_at = time.time()
        if not stop_thread(thread):
            print("skipped the stuck-thread part: ptrace is not permitted here", flush=True)
            return
        restarted = None
        while time.time() - stopped_at < deadline_ms / 1000 + 5:
            # A traced thread that dies must be reaped by its tracer before
            # its process can be: until then the launcher sees no death
            reap_traced(thread)
            now = worker_pids(topology.process.pid).get("p1")
            if now and now != victim:
                restarted = time.time() - stopped_at
                break
            time.sleep(0.05)
        release_thread(thread)
        if restarted is None:
            os.kill(victim, signal.SIGKILL)
        check(restarted_in_time(restarted, deadline_ms),
              f"the worker whose thread was stuck was restarted "
              f"{restarted and round(restarted, 2)} s after (deadline {deadline_ms / 1000} s)")
        answers_right(args, topology, data, want, "after the stuck thread")


def busy_worker_case(args, folder, port):
    """A thread inside one long kernel call stamps no progress until it
    returns, but it runs on the CPU, where a stuck one (a deadlock, a wait
    that never ends) uses none: the launcher counts it busy and leaves it
    up to 12 deadlines. Here a MatMul whose one call lasts about two and a
    half deadlines (measured first, so that slow builds and CPUs scale it)
    answers right, and its process is never killed. The call is measured
    alone but runs beside whatever else the machine runs then (other tests
    under ctest -j): up to 4.8 times its measured length stays within the
    12 deadlines."""
    size = 4096                 # W is 4096 x 4096; X has `rows` rows of 4096
    model = os.path.join(folder, "busy.onnx")
    data = os.path.join(folder, "busy_input.npy")
    want = os.path.join(folder, "busy_want.npy")

    def product_ms(rows):
        """Writes the model and its input for X of `rows` rows, and returns
        the product's time at one thread (the best of two runs)"""
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        w = np.random.default_rng(5).standard_normal([size, size], dtype=np.float32) / 64
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w"], ["y"], name="product")],
            "busy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, size])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, size])],
            [numpy_helper.from_array(w, "w")])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
        np.save(data, np.random.default_rng(6).standard_normal([rows, size], dtype=np.float32))
        times = os.path.join(folder, "busy_times.txt")
        subprocess.run([args.zinfer, "run", model, "--input", data, "--output", want,
                        "--threads", "1", "--repeat", "2", "--times", times],
                       check=True, capture_output=True)
        return min(float(line) for line in open(times) if line.strip())

    # 137 GFLOP at 4096 rows: over a second on the cores seen so far; a
    # faster core gets proportionally more rows, so that the call still
    # lasts two and a half of the shortest deadline below
    rows = size
    kernel_ms = product_ms(rows)
    if kernel_ms < 1500:
        rows = -(-int(rows * 1500 / kernel_ms) // 64) * 64
        kernel_ms = product_ms(rows)
    # An idle thread stamps its progress every 100 ms: the deadline stays
    # well above that, and the kernel well above the deadline
    deadline_ms = max(300, int(kernel_ms / 2.5))
    check(kernel_ms >= 2 * deadline_ms,
          f"the product takes {kernel_ms:.0f} ms, {kernel_ms / deadline_ms:.1f} deadlines of "
          f"{deadline_ms} ms")
    path = write_topology(folder, model, ["p0", "p1"],
                          ["  - process: p0", "    node: relu",
                           "  - process: p1", "    node: product"], port, "ipc")
    with open(path, "a") as handle:
        handle.write(f"liveness_timeout_ms: {deadline_ms}\n")
    with Topology(args.zinfer, path, quiet=True) as topology:
        before = worker_pids(topology.process.pid)
        client = zinfer_client.Client(topology.endpoint)
        try:
            started = time.time()
            (y,) = client.infer([np.load(data)], timeout=120)
            seconds = time.time() - started
        finally:
            client.close()
        check(y.tobytes() == np.load(want).tobytes(),
              f"the answer is bitwise right ({seconds:.1f} s, {seconds * 1000 / deadline_ms:.1f} "
              f"deadlines)")
        killed = [line.strip() for line in topology.stderr if "killing" in line]
        check(not killed and worker_pids(topology.process.pid) == before,
              f"no worker was killed or restarted ({killed[:1]})")


def worker_thread(pid):
    """The id of a worker process's first worker thread (named zi-worker-0)"""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().strip() == "zi-worker-0":
                return int(tid)
        except OSError:
            pass
    return None


_PTRACE_SEIZE, _PTRACE_INTERRUPT, _WALL = 0x4206, 0x4207, 0x40000000


def stop_thread(tid):
    """Stops one thread of another process, leaving its other threads
    running (PTRACE_SEIZE + PTRACE_INTERRUPT; SIGSTOP would stop them all)"""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(_PTRACE_SEIZE, tid, None, None) != 0:
        return False
    libc.ptrace(_PTRACE_INTERRUPT, tid, None, None)
    os.waitpid(tid, _WALL)
    return True


def reap_traced(tid):
    """Reaps the stopped thread if it has died (non-blocking)"""
    try:
        os.waitpid(tid, _WALL | os.WNOHANG)
    except ChildProcessError:
        pass


def release_thread(tid):
    """Reaps what the tracer is told once the stopped thread's process is
    killed (a traced thread otherwise lingers until its tracer waits)"""
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            done, status = os.waitpid(tid, _WALL | os.WNOHANG)
        except ChildProcessError:
            return
        if done and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
            return
        time.sleep(0.05)


def orphan_stopped_case(args, folder, port):
    """A launcher killed while a worker is stopped: the worker dies too
    (SIGKILL as its parent-death signal) and frees its ports."""
    path = tiny_topology(args, folder, port, transport="tcp")
    topology = Topology(args.zinfer, path, quiet=True)
    pids = {}
    try:
        pids = worker_pids(topology.process.pid)
        os.kill(pids["p1"], signal.SIGSTOP)
        topology.process.send_signal(signal.SIGKILL)
        topology.process.wait(timeout=15)
        deadline = time.time() + 5
        alive = list(pids.values())
        while alive and time.time() < deadline:
            time.sleep(0.05)
            alive = [pid for pid in alive if os.path.exists(f"/proc/{pid}")
                     and "zombie" not in open(f"/proc/{pid}/status").read().lower()]
        check(not alive, f"no worker left, the stopped one included ({alive})")
        listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
        held = [line for line in listening.splitlines()
                if any(f"127.0.0.1:{p} " in line for p in range(port, port + 40))]
        check(not held, f"none of the topology's ports is held ({held})")
    finally:
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        topology.stop()


CASES = {
    "foreign_folder": foreign_folder_case,
    "open_folder": open_folder_case,
    "symlink_folder": symlink_folder_case,
    "control_socket": control_socket_case,
    "unsafe_name": unsafe_name_case,
    "empty_process": empty_process_case,
    "clean_stop": clean_stop_case,
    "stale_socket": stale_socket_case,
    "wrong_port": wrong_port_case,
    "second_up": second_up_case,
    "hung_worker": hung_worker_case,
    "busy_worker": busy_worker_case,
    "orphan_stopped": orphan_stopped_case,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--port-base", type=int, default=29300,
                        help="case i uses ports from BASE + 76 * i")
    parser.add_argument("--case", choices=list(CASES), action="append")
    args = parser.parse_args()
    args.zinfer = os.path.abspath(args.zinfer)
    args.models = os.path.abspath(args.models)
    skipped, failed = [], []
    # A runtime folder of the test's own, short enough for socket names
    with tempfile.TemporaryDirectory(prefix="zlu-", dir="/tmp") as runtime:
        os.chmod(runtime, 0o700)
        os.environ["XDG_RUNTIME_DIR"] = runtime
        for index, name in enumerate(CASES):
            if args.case and name not in args.case:
                continue
            print(f"== {name}", flush=True)
            with tempfile.TemporaryDirectory(prefix="zinfer-lu-") as folder:
                try:
                    CASES[name](args, folder, args.port_base + 76 * index)
                except Skip as reason:
                    print(f"skip {name}: {reason}", flush=True)
                    skipped.append(name)
                except (Failure, HarnessError, subprocess.TimeoutExpired, OSError) as failure:
                    print(f"FAIL {name}: {failure}", flush=True)
                    failed.append(name)
                finally:
                    base = os.path.join(runtime, "zinfer")
                    if os.path.islink(base):
                        os.unlink(base)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    if skipped:
        print(f"passed, but skipped {', '.join(skipped)}")
        return SKIP
    print("local_users: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
