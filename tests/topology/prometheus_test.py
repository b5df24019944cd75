#!/usr/bin/python3
"""A Prometheus server scrapes a running topology: zinfer up serves
/metrics (the topology's metrics: key), Debian's prometheus scrapes it every
second on a loopback port, and its query API (/api/v1/query) must return
the gateway's and the actors' series with the requests sent. Exits 77
(skipped) where the prometheus command is not installed.

    /usr/bin/python3 tests/topology/prometheus_test.py --zinfer build/zinfer \
        --models build/models --port-base 30500
"""

import argparse
import faulthandler
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "engine", "client"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import zinfer_client  # noqa: E402
from zinfer_harness import Topology, node_names, range_placement, ranges, \
    write_topology  # noqa: E402

failures = 0


def check(condition, message):
    global failures
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    failures += not condition


def query(port, expression):
    """The result list of an instant query, [] when Prometheus has none yet"""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.load(response)
    except OSError:
        return []
    return answer.get("data", {}).get("result", []) if answer.get("status") == "success" else []


def wait_for(port, expression, accept, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        result = query(port, expression)
        if result and accept(result):
            return result
        time.sleep(0.5)
    return query(port, expression)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zinfer", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--port-base", type=int, default=30500)
    args = parser.parse_args()
    prometheus = shutil.which("prometheus")
    if not prometheus:
        print("skipped: the prometheus command is not installed (apt-get install prometheus)")
        return 77
    faulthandler.dump_traceback_later(540, exit=True)
    zinfer = os.path.abspath(args.zinfer)
    models = os.path.abspath(args.models)
    port = args.port_base
    metrics_port, prometheus_port = port + 30, port + 35
    with tempfile.TemporaryDirectory(prefix="zinfer-prometheus-") as folder:
        model = os.path.join(models, "tiny_cnn_op17.onnx")
        names = node_names(zinfer, model)
        path = write_topology(folder, model, ["p0", "p1"], range_placement(ranges(names, 2)),
                              port, "tcp")
        with open(path, "a") as handle:
            handle.write(f"metrics: {{port: {metrics_port}}}\n")
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w") as handle:
            handle.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                         "scrape_configs:\n  - job_name: zinfer\n    static_configs:\n"
                         f"      - targets: ['127.0.0.1:{metrics_port}']\n")
        x = np.load(os.path.join(models, "tiny_cnn_op17.input.npy"))
        with Topology(zinfer, path) as topology:
            server = subprocess.Popen(
                [prometheus, f"--config.file={config}",
                 f"--storage.tsdb.path={os.path.join(folder, 'data')}",
                 f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                up = wait_for(prometheus_port, 'up{job="zinfer"}',
                              lambda result: result[0]["value"][1] == "1")
                check(bool(up) and up[0]["value"][1] == "1",
                      "Prometheus scrapes the launcher's /metrics (up == 1)")
                client = zinfer_client.Client(topology.endpoint, resend=False)
                requests = 25
                client.infer_many([[x]] * requests, inflight=4, timeout=60)
                client.close()
                replies = wait_for(prometheus_port, "sum(zinfer_gateway_replies_total)",
                                   lambda result: float(result[0]["value"][1]) >= requests)
                check(bool(replies) and float(replies[0]["value"][1]) == requests,
                      f"zinfer_gateway_replies_total reached {requests} in Prometheus")
                actors = wait_for(prometheus_port, "zinfer_actor_requests_total",
                                  lambda result: len(result) == len(names)
                                  and all(float(r["value"][1]) == requests for r in result))
                check(sorted(r["metric"].get("actor") for r in actors) == sorted(names)
                      and all(float(r["value"][1]) == requests for r in actors),
                      f"every actor's zinfer_actor_requests_total is {requests}")
                latency = query(prometheus_port, "histogram_quantile(0.5, sum by (le) "
                                "(zinfer_gateway_latency_seconds_bucket))")
                check(bool(latency) and 0 < float(latency[0]["value"][1]) < 10,
                      "histogram_quantile over the gateway's latency buckets: "
                      f"{latency[0]['value'][1] if latency else None} s")
                rss = query(prometheus_port, 'zinfer_process_resident_memory_bytes'
                            f'{{topology="test-{port}",host="local"}}')
                check(len(rss) == 2 and all(float(r["value"][1]) > 0 for r in rss),
                      "both processes' RSS, labelled with topology and host")
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            code = topology.stop()
            check(code == 0, f"zinfer up stopped cleanly (exit {code})")
    print(f"prometheus: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
