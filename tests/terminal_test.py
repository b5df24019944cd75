#!/usr/bin/python3
"""What zinfer shows on a terminal: progress lines on long starts and runs
(only when stderr is a terminal), the warning of `up` when a host's worker
threads outnumber its cores, and `zinfer top` fitting the terminal it runs
in, with keys that sort and filter and `q` that quits. Each command runs in
a pseudo-terminal of a known size (python pty), and once with stderr piped.

    /usr/bin/python3 tests/terminal_test.py --zinfer build/zinfer \
        --models build/models --port-base 30400
"""

import argparse
import fcntl
import faulthandler
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

import numpy as np

failures = 0


def check(condition, message):
    global failures
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    failures += not condition


class Terminal:
    """A command on a pseudo-terminal of rows x cols: its stdout and
    stderr both go to the terminal, as in a shell"""

    def __init__(self, args, rows=24, cols=80, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(args[0], args, dict(os.environ, **(env or {})))
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = b""

    def read(self, seconds, until=None):
        """Collects output for up to seconds, or until the bytes until show"""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if until and until in self.output:
                break
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    break           # the command ended and closed the terminal
                if not data:
                    break
                self.output += data
        return self.output

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self, seconds):
        """The exit code, or None while it still runs after seconds"""
        deadline = time.time() + seconds
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            self.read(0.1)
        return None

    def stop(self, sig=signal.SIGTERM):
        if self.pid:
            os.kill(self.pid, sig)
            if self.wait(20) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.wait(5)
        os.close(self.fd)


def write_topology(folder, name, model, port, threads=1, processes=1):
    path = os.path.join(folder, name + ".yaml")
    with open(path, "w") as handle:
        handle.write(f"name: {name}\nmodel: {model}\nbase_port: {port}\nprocesses:\n")
        for index in range(processes):
            handle.write(f"  - name: p{index}\n    threads: {threads}\n")
        if processes > 1:
            handle.write("default: p1\n")
    return path


def progress_cases(args, folder, port):
    zinfer = args.zinfer
    model = os.path.join(args.models, "resnet18_op17.onnx")
    data = os.path.join(args.models, "resnet18_op17.input.npy")
    # run --repeat for well over the half second after which progress shows
    terminal = Terminal([zinfer, "run", model, "--input", data, "--repeat", "150",
                         "--threads", "1"])
    code = terminal.wait(300)
    text = terminal.output.decode(errors="replace")
    check(code == 0 and re.search(r"\rzinfer run: \d+ of 150 runs, [\d.]+ s", text) is not None,
          "run --repeat on a terminal draws a progress line")
    check("latency: median" in text and text.count("\r\x1b[K") >= 1,
          "the progress line is wiped before the results")
    terminal.stop()
    piped = subprocess.run([zinfer, "run", model, "--input", data, "--repeat", "150",
                            "--threads", "1"], capture_output=True, text=True, timeout=300)
    check(piped.returncode == 0 and piped.stderr == "",
          f"with stderr piped, run --repeat writes nothing to it ({piped.stderr[:80]!r})")

    # up of a large model, two processes: the workers take a while to load
    # and plan it, and the launcher says how many are ready meanwhile
    big = os.path.join(args.models, "resnet50_op17.onnx")
    path = write_topology(folder, "big", big, port, processes=2)
    # A quiet machine starts it in well under the half second after which
    # a line shows: the test asks for lines from the first moment
    terminal = Terminal([zinfer, "up", path], env={"ZI_PROGRESS_AFTER_MS": "0"})
    started = time.time()
    text = terminal.read(240, until=b"clients connect to").decode(errors="replace")
    took = time.time() - started
    check("clients connect to" in text, f"up of resnet50 started ({took:.1f} s)")
    check(re.search(r"\rzinfer up: \d of 2 processes ready", text) is not None,
          "up drew a progress line while the workers loaded the model")
    # infer --repeat against it
    x = os.path.join(folder, "x.npy")
    np.save(x, np.load(os.path.join(args.models, "resnet50_op17.input.npy")))
    client = Terminal([zinfer, "infer", path, "--input", x, "--repeat", "30"])
    code = client.wait(300)
    text = client.output.decode(errors="replace")
    check(code == 0 and re.search(r"\rzinfer infer: \d+ of 30 answered", text) is not None,
          "infer --repeat on a terminal draws a progress line")
    client.stop()
    terminal.stop(signal.SIGINT)


def cores_cases(args, folder, port):
    zinfer = args.zinfer
    cores = os.cpu_count()
    model = os.path.join(args.models, "tiny_cnn_op17.onnx")
    # More worker threads than cores: warned; as many as the cores: not
    for threads, warned in ((cores + 1, True), (1, False)):
        path = write_topology(folder, f"cores{threads}", model, port + 10, threads=threads)
        up = subprocess.Popen([zinfer, "up", path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        try:
            for line in up.stdout:
                if "clients connect to" in line:
                    break
        finally:
            up.send_signal(signal.SIGTERM)
            _, err = up.communicate(timeout=30)
        said = f"runs {threads} worker threads" in err and f"on {cores} cores" in err
        check(said == warned and up.returncode == 0,
              f"up with {threads} threads on {cores} cores "
              f"{'warns' if warned else 'does not warn'}: {err.strip()[:160]!r}")


def last_screen(output):
    """The last complete screen top drew: the text between the last two
    clear-screen sequences, as lines"""
    text = output.decode(errors="replace").replace("\x1b[?25l", "").replace("\x1b[?25h", "")
    screens = text.split("\x1b[H\x1b[2J")
    complete = [screen for screen in screens if "q quit" in screen]
    return complete[-1].split("\r\n") if complete else []


def top_cases(args, folder, port):
    zinfer = args.zinfer
    model = os.path.join(args.models, "resnet18_op17.onnx")
    path = write_topology(folder, "top", model, port, processes=2)
    up = subprocess.Popen([zinfer, "up", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    try:
        for line in up.stdout:
            if "clients connect to" in line:
                break
        else:
            up.wait(timeout=30)
            check(False, f"up starts the topology for top: {up.stderr.read().strip()[:300]!r}")
            return
        rows, cols = 12, 60
        terminal = Terminal([zinfer, "top", path], rows=rows, cols=cols)
        try:
            terminal.read(8, until=b"q quit")
            terminal.read(1.5)
            lines = last_screen(terminal.output)
            check(0 < len(lines) <= rows and all(len(line) <= cols for line in lines),
                  f"top fits a {rows} x {cols} terminal: {len(lines)} lines, the longest "
                  f"{max(map(len, lines)) if lines else 0} characters"
                  + ("" if lines else f"; top wrote {terminal.output[-300:]!r}"))
            if not lines:
                return
            check(lines and lines[0].startswith("zinfer top:")
                  and lines[1].lstrip().startswith("process p0")
                  and any(line.startswith("ACTOR") for line in lines)
                  and lines[-1].startswith("sort busy, process all"),
                  "process lines first, then the actors that fit, the keys last")
            actors = [line for line in lines[lines.index(next(line for line in lines
                                                               if line.startswith("ACTOR"))) + 1:-1]]
            check(len(actors) >= 3, f"{len(actors)} actors shown of resnet18's many")

            terminal.output = b""
            terminal.send("l")
            terminal.read(3, until=b"sort latency")
            check(b"sort latency" in terminal.output, "l sorts by latency, redrawn at once")
            terminal.send("p")
            terminal.read(3, until=b"process p0 |")
            terminal.output = b""
            terminal.send("p")
            terminal.read(3, until=b"process p1 |")
            terminal.read(0.5)
            lines = last_screen(terminal.output)
            process_lines = [line for line in lines if line.startswith("  process")]
            check(lines and "process p1 |" in lines[-1] and len(process_lines) == 1
                  and "p1" in process_lines[0], "p, p shows process p1 alone")
            #  Resized just after a once-a-second redraw, so that a top that
            #  waits for its next tick to read the size shows the new one
            #  only a second later: the resize (SIGWINCH) must redraw at once
            terminal.output = b""
            terminal.read(3, until=b"q quit")
            fcntl.ioctl(terminal.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
            resized = time.time()
            terminal.output = b""
            lines = []
            while time.time() - resized < 0.5 and len(lines) <= rows:
                terminal.read(0.05)
                lines = last_screen(terminal.output)
            check(rows < len(lines) <= 30 and all(len(line) <= 100 for line in lines),
                  f"a larger window (30 x 100) shows more within 0.5 s of the resize: "
                  f"{len(lines)} lines after {time.time() - resized:.2f} s")
            started = time.time()
            terminal.send("q")
            code = terminal.wait(5)
            check(code == 0, f"q quits (exit {code}, {time.time() - started:.2f} s)")
        finally:
            terminal.stop()
        # Each monitor given up to 10 s: top's 800 ms is for a person
        # watching, and a loaded machine answers later
        once = subprocess.run([zinfer, "top", path, "--once", "--sort", "name",
                               "--timeout", "10000"], capture_output=True, text=True, timeout=60)
        names = [line.split()[0] for line in once.stdout.splitlines()[5:] if line.strip()]
        check(once.returncode == 0 and len(names) > 10 and names == sorted(names),
              f"top --once --sort name lists every actor, by name ({len(names)})")
    finally:
        up.send_signal(signal.SIGTERM)
        up.communicate(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--port-base", type=int, default=30400)
    args = parser.parse_args()
    args.zinfer = os.path.abspath(args.zinfer)
    args.models = os.path.abspath(args.models)
    faulthandler.dump_traceback_later(540, exit=True)
    port = args.port_base
    with tempfile.TemporaryDirectory(prefix="zinfer-terminal-") as folder:
        cores_cases(args, folder, port)
        top_cases(args, folder, port + 40)
        progress_cases(args, folder, port + 20)
    print(f"terminal: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
