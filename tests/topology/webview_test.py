#!/usr/bin/python3
"""The live web view in a real browser: zinfer up serves the page at / of
the topology's metrics: port, Debian's headless Chromium loads it, runs its
script and dumps the DOM it drew, once before and once during load, and
takes a screenshot. The drawing must show every process, every actor by
name, the edges between processes with their bytes and the messages they
carried (as the monitors count them), and live busy %, queue depth and
latency that move with the load. A model whose node names are markup
shows them as text. Exits 77 (skipped) where chromium is not installed.

    /usr/bin/python3 tests/topology/webview_test.py --zinfer build/zinfer \
        --models build/models --port-base 30700 [--screenshot web-view.png]
"""

import argparse
import faulthandler
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "engine", "client"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import zinfer_client  # noqa: E402
from zinfer_harness import Topology, node_names, range_placement, ranges, \
    write_topology  # noqa: E402

WIDTH, HEIGHT = 1280, 900
# An actor's live line: busy % over the last second, queue depth, p50
LIVE = r"busy ([\d.]+)%  queue (\d+)  p50 ([\d.]+) (ms|\u00b5s)"
failures = 0


def check(condition, message):
    global failures
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    failures += not condition


def latency(live):
    """The p50 of an actor's live line, in ms"""
    match = re.fullmatch(LIVE, live)
    return float(match.group(3)) / (1 if match.group(4) == "ms" else 1000)


def http_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.load(response)


class Drawing(html.parser.HTMLParser):
    """The dumped DOM as the page drew it: the text of each element by its
    class, the tags seen, and each actor node's texts"""

    def __init__(self):
        super().__init__()
        self.texts = {}         # class -> [text, ...]
        self.tags = set()
        self.stack = []
        self.actors = []        # per actor node: [title, name, op, live]
        self.fills = []         # per actor node: its box's fill

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        cls = attrs.get("class", "")
        if cls == "actor":
            self.actors.append([])
        if tag == "rect" and self.stack and self.stack[-1][1] == "actor" and self.actors:
            self.fills.append(attrs.get("fill", ""))
        self.stack.append((tag, cls))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if not self.stack:
            return
        tag, cls = self.stack[-1]
        self.texts.setdefault(cls, []).append(data)
        if tag in ("title", "text") and any(c == "actor" for _, c in self.stack) and self.actors:
            self.actors[-1].append(data)


def chromium(browser, url, folder, screenshot=None):
    """The DOM after the page ran for a few seconds of virtual time (its
    fetches and two or three of its ticks), or the screenshot taken then.
    (--timeout would give real time, but --dump-dom does not wait for it)"""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={os.path.join(folder, 'chromium')}",
               "--virtual-time-budget=3500", f"--window-size={WIDTH},{HEIGHT}"]
    command += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    result = subprocess.run(command + [url], capture_output=True, text=True, timeout=120)
    return result.stdout


def drawing_of(browser, url, folder):
    drawing = Drawing()
    drawing.feed(chromium(browser, url, folder))
    return drawing


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


class Load:
    """Requests in flight from a thread until stopped"""

    def __init__(self, endpoint, x):
        self.client = zinfer_client.Client(endpoint, resend=False)
        self.x, self.done, self.answered = x, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            self.client.infer_many([[self.x]] * 8, inflight=4, timeout=60)
            self.answered += 8

    def stop(self):
        self.done.set()
        self.thread.join(120)
        self.client.close()
        return self.answered


def view_case(args, browser, folder, port):
    """tiny_cnn in two processes, drawn before and during load"""
    metrics_port = port + 30
    model = os.path.join(args.models, "tiny_cnn_op17.onnx")
    names = node_names(args.zinfer, model)
    path = write_topology(folder, model, ["p0", "p1"], range_placement(ranges(names, 2)),
                          port, "tcp")
    with open(path, "a") as handle:
        handle.write(f"metrics: {{port: {metrics_port}}}\n")
    x = np.load(os.path.join(args.models, "tiny_cnn_op17.input.npy"))
    url = f"http://127.0.0.1:{metrics_port}/"
    with Topology(args.zinfer, path) as topology:
        placement = http_json(metrics_port, "/api/placement")
        crossing = [e for e in placement["edges"] if e["crossing"] in ("process", "host")]
        check(sorted(a["name"] for a in placement["actors"]) == sorted(names)
              and [p["name"] for p in placement["processes"]] == ["p0", "p1"]
              and len(crossing) >= 2, f"/api/placement: {len(placement['actors'])} actors, "
              f"{len(placement['edges'])} edges, {len(crossing)} between processes")
        # The same edges as zinfer plan lists, with the same bytes
        plan = subprocess.run([args.zinfer, "plan", path, "--runs", "1"], capture_output=True,
                              text=True, timeout=300).stdout
        listed = sorted((m.group(1), m.group(2), int(m.group(3))) for m in re.finditer(
            r"^  (\S+) -> (\S+): '.*' (\d+) bytes, (?:process|host) ", plan, re.M))

        def name(index):
            return "gateway" if index < 0 else placement["actors"][index]["name"]
        drawn = sorted((name(e["from"]), name(e["to"]), int(e["bytes"])) for e in crossing)
        check(listed and drawn == listed,
              f"its edges between processes are zinfer plan's: {drawn}")
        deadline = time.time() + 10
        while time.time() < deadline and not all(
                p["actors"] or p.get("gateway") for p in http_json(metrics_port,
                                                                   "/api/view")["processes"]):
            time.sleep(0.2)

        idle = drawing_of(browser, url, folder)
        shown = [actor[1] for actor in idle.actors]
        check({"svg", "rect", "path", "text"} <= idle.tags,
              "the page drew an SVG of boxes, edges and labels")
        hostnames = " ".join(idle.texts.get("hostname", []))
        check("host local" in hostnames, f"the host is drawn: {hostnames!r}")
        processes = idle.texts.get("pname", [])
        check(processes == ["process p0", "process p1"], f"both processes drawn: {processes}")
        check(sorted(actor[0] for actor in idle.actors) == sorted(names),
              f"every actor is drawn by name ({len(shown)} of {len(names)})")
        lives = [actor[-1] for actor in idle.actors]
        check(all(re.fullmatch(LIVE, live) for live in lives),
              f"every actor shows busy, queue and latency: {lives[:2]}")
        idle_labels = idle.texts.get("elabel", [])
        check(len(idle_labels) == len(crossing)
              and all(re.fullmatch(r"[\d.]+ (B|KiB|MiB)/msg, 0 msgs", t) for t in idle_labels),
              f"each edge between processes shows its bytes, no messages yet: {idle_labels}")
        gateway_idle = [t for t in idle.texts.get("live", []) if "end to end" in t]
        idle_lives = lives

        load = Load(topology.endpoint, x)
        try:
            # The monitors publish every second. A headless browser's
            # timers run in virtual time, faster than that, so the page
            # shows busy % averaged since each process started: load until
            # the busiest actor's average is clearly above 0 (2 %)
            deadline = time.time() + 30
            time.sleep(2.5)
            while time.time() < deadline and max(
                    a["busy_s"] / max(p["uptime_s"], 1e-9)
                    for p in http_json(metrics_port, "/api/view")["processes"]
                    for a in p["actors"]) < 0.02:
                time.sleep(0.5)
            busy = drawing_of(browser, url, folder)
            if args.screenshot:
                picture = os.path.abspath(args.screenshot)
            else:
                picture = os.path.join(folder, "view.png")
            chromium(browser, url, folder, picture)
        finally:
            answered = load.stop()
        check(answered > 0, f"{answered} requests answered during the load")
        lives = [actor[-1] for actor in busy.actors]
        percents = [float(re.fullmatch(LIVE, live).group(1)) for live in lives
                    if re.fullmatch(LIVE, live)]
        check(len(percents) == len(names) and max(percents) > 0,
              f"under load the actors are busy: {percents}")
        latencies = [latency(live) for live in lives if re.fullmatch(LIVE, live)]
        check(len(latencies) == len(names) and max(latencies) > 0
              and max(latency(live) for live in idle_lives) == 0,
              f"and their p50 latencies, 0 before any request: {latencies} ms")
        hues = [int(re.match(r"hsl\((\d+),", fill).group(1)) for fill in busy.fills]
        check(len(hues) == len(percents)
              and all(abs(hue - (120 - 1.2 * p)) <= 1 for hue, p in zip(hues, percents)),
              f"each box's colour follows its busy %: hues {hues}")
        labels = busy.texts.get("elabel", [])
        counts = [int(m.group(1)) for m in (re.search(r", (\d+) msgs", t) for t in labels) if m]
        check(len(counts) == len(crossing) and min(counts) > 0,
              f"the edges between processes count their messages: {labels}")
        gateway_busy = [t for t in busy.texts.get("live", []) if "end to end" in t]
        answers = [int(m.group(1)) for m in (re.fullmatch(r"(\d+) answers, \d+ in flight", t)
                                             for t in busy.texts.get("aop", [])) if m]
        check(gateway_busy != gateway_idle and len(answers) == 1 and answers[0] > 0,
              f"the gateway's answers and latency moved: {gateway_idle[:1]} -> "
              f"{gateway_busy[:1]}, {answers} answers")
        tables = busy.texts.get("name", [])
        check(sorted(tables) == sorted(names), "the tables below list every actor too")
        size = png_size(picture)
        check(size == (WIDTH, HEIGHT) and os.path.getsize(picture) > 20000,
              f"the screenshot is a {size} PNG of {os.path.getsize(picture)} bytes")
        code = topology.stop()
        check(code == 0, f"zinfer up stopped cleanly (exit {code})")


def hostile_names_case(args, browser, folder, port):
    """Node names that are markup stay text in the page"""
    import onnx
    from onnx import TensorProto, helper
    metrics_port = port + 30
    first = "<img src=x onerror=\"document.title='owned'\">relu"
    second = "</script><b id=bold>neg</b>&amp;"
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name=first),
         helper.make_node("Neg", ["r"], ["y"], name=second)],
        "hostile_names", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])])
    model = os.path.join(folder, "hostile_names.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    placement = ["  - process: p0", f"    node: {json.dumps(first)}",
                 "  - process: p1", f"    node: {json.dumps(second)}"]
    path = write_topology(folder, model, ["p0", "p1"], placement, port, "ipc")
    with open(path, "a") as handle:
        handle.write(f"metrics: {{port: {metrics_port}}}\n")
    with Topology(args.zinfer, path):
        dom = chromium(browser, f"http://127.0.0.1:{metrics_port}/", folder)
        drawing = Drawing()
        drawing.feed(dom)
        title = re.search(r"<title>([^<]*)</title>", dom)
        check("img" not in drawing.tags and "b" not in drawing.tags
              and title is not None and title.group(1) == "zinfer",
              "no element came from a node name, and nothing in one ran")
        check(sorted(actor[0] for actor in drawing.actors) == sorted([first, second]),
              f"both names are shown whole as text: {[a[0] for a in drawing.actors]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--port-base", type=int, default=30700)
    parser.add_argument("--screenshot", help="also keep the screenshot under load here")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print("skipped: chromium is not installed (apt-get install chromium)")
        return 77
    faulthandler.dump_traceback_later(540, exit=True)
    args.zinfer = os.path.abspath(args.zinfer)
    args.models = os.path.abspath(args.models)
    with tempfile.TemporaryDirectory(prefix="zinfer-webview-") as folder:
        view_case(args, browser, folder, args.port_base)
    with tempfile.TemporaryDirectory(prefix="zinfer-webview-") as folder:
        hostile_names_case(args, browser, folder, args.port_base + 50)
    print(f"webview: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
