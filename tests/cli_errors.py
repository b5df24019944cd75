#!/usr/bin/python3
"""Bad input to the zinfer command: every case must end with a non-zero
exit (not a signal), and one clear error line saying where, what was
expected and what came.

    /usr/bin/python3 tests/cli_errors.py ZINFER_BINARY
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.join(HERE, "models", "digits", "digits.onnx")


def small_model(folder, name, node, inputs=None, initializers=(), opset=13):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])]
    graph = helper.make_graph([node], name, inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=list(initializers))
    path = os.path.join(folder, name + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def main():
    zinfer = os.path.abspath(sys.argv[1])
    failures = 0
    with tempfile.TemporaryDirectory(prefix="zinfer-cli-") as folder:
        def path(name):
            return os.path.join(folder, name)

        good_input = path("good.npy")
        np.save(good_input, np.load(os.path.join(HERE, "models", "digits", "digits_x.npy"))[:1])
        np.save(path("shape.npy"), np.zeros((1, 1, 9, 9), np.float32))
        np.save(path("dtype.npy"), np.zeros((1, 1, 8, 8), np.int64))
        np.save(path("x.npy"), np.zeros((1, 3, 4, 4), np.float32))
        with open(DIGITS, "rb") as handle:
            data = handle.read()
        with open(path("truncated.onnx"), "wb") as handle:
            handle.write(data[: len(data) // 3])
        with open(path("text.onnx"), "w") as handle:
            handle.write("this is not a model\n" * 20)
        with open(path("notnpy.npy"), "w") as handle:
            handle.write("hello")
        unsupported = small_model(folder, "unsupported", helper.make_node(
            "LpNormalization", ["x"], ["y"], name="the_norm"))
        cropping = small_model(folder, "cropping", helper.make_node(
            "Resize", ["x", "", "scales"], ["y"], name="upsample", mode="linear",
            coordinate_transformation_mode="tf_crop_and_resize"),
            initializers=[helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])])
        # A topology that uses CURVE (keys made here), for the key options
        with open(path("good.key"), "w") as handle:     # keygen must not overwrite it
            handle.write("taken\n")
        subprocess.run([zinfer, "keygen", path("host")], check=True, capture_output=True)
        curve_topology = path("curve.yaml")
        with open(curve_topology, "w") as handle:
            handle.write(f"model: {DIGITS}\ninput_shape: [1, 1, 8, 8]\n"
                         f"security: {{curve: true}}\nhosts:\n"
                         f"  - {{name: h, address: 127.0.0.1, public_key: host.key, "
                         f"secret_key_file: host.key_secret}}\nprocesses:\n  - {{name: p}}\n")
        # Weights stored outside the .onnx file
        model = onnx.load(DIGITS)
        onnx.save_model(model, path("external.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="external.bin", size_threshold=0)
        cycle = helper.make_graph(
            [helper.make_node("Relu", ["b"], ["a"], name="one"),
             helper.make_node("Relu", ["a"], ["b"], name="two")], "cycle",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
        onnx.save(helper.make_model(cycle, opset_imports=[helper.make_opsetid("", 13)]),
                  path("cycle.onnx"))

        cases = [
            ("missing model", ["run", path("nope.onnx"), "--input", good_input],
             ["nope.onnx", "cannot open"]),
            ("truncated model", ["run", path("truncated.onnx"), "--input", good_input],
             ["truncated.onnx", "not a valid ONNX"]),
            ("text file as model", ["run", path("text.onnx"), "--input", good_input],
             ["text.onnx", "not a valid ONNX"]),
            ("unsupported op", ["run", unsupported, "--input", path("x.npy")],
             ["'the_norm'", "'LpNormalization'", "supported: ", "Conv"]),
            ("crop without its roi input", ["run", cropping, "--input", path("x.npy")],
             ["'upsample'", "tf_crop_and_resize", "needs input 1 (roi)"]),
            ("external data", ["run", path("external.onnx"), "--input", good_input],
             ["external data", "external.bin"]),
            ("cyclic graph", ["run", path("cycle.onnx"), "--input", good_input],
             ["cycle", "'one'"]),
            ("input of the wrong shape", ["run", DIGITS, "--input", path("shape.npy")],
             ["input 'input'", "expected float32 [-1, 1, 8, 8]", "got float32 [1, 1, 9, 9]"]),
            ("input of the wrong dtype", ["run", DIGITS, "--input", path("dtype.npy")],
             ["expected float32", "got int64"]),
            ("input that is not .npy", ["run", DIGITS, "--input", path("notnpy.npy")],
             ["notnpy.npy", "not a .npy file"]),
            ("missing input", ["run", DIGITS], ["1 input", "got 0 --input"]),
            ("input named wrongly", ["run", DIGITS, "--input", "wrong=" + good_input],
             ["no input named 'wrong'"]),
            ("bad thread count", ["run", DIGITS, "--input", good_input, "--threads", "two"],
             ["--threads", "whole number", "'two'"]),
            ("unknown option", ["run", DIGITS, "--fast"], ["unknown option '--fast'"]),
            ("unknown command", ["fly"], ["unknown command 'fly'"]),
            ("info of a truncated model", ["info", path("truncated.onnx")],
             ["not a valid ONNX"]),
            ("up without a topology", ["up"], ["no topology given"]),
            ("up with a missing topology", ["up", path("none.yaml")], ["none.yaml"]),
            ("keygen without a name", ["keygen"], ["no name given"]),
            ("keygen with two names", ["keygen", path("k1"), path("k2")],
             ["unexpected argument"]),
            ("keygen over an existing key", ["keygen", path("good")], ["exists"]),
            ("keygen into a missing folder", ["keygen", path("no/such/key")],
             ["cannot create", "No such file"]),
            ("infer with --key and no value", ["infer", "t.yaml", "--key"], ["--key"]),
            ("infer --local without --repeat", ["infer", "t.yaml", "--input", good_input,
                                                "--local", DIGITS], ["--local", "--repeat 1"]),
            ("infer --local with many in flight", ["infer", "t.yaml", "--input", good_input,
                                                   "--local", DIGITS, "--repeat", "5",
                                                   "--inflight", "4"], ["--inflight 4"]),
            ("infer --local-times alone", ["infer", "t.yaml", "--input", good_input,
                                           "--repeat", "5", "--local-times", path("t.txt")],
             ["--local-times needs --local"]),
            ("trace with too many in flight", ["trace", "t.yaml", "--input", good_input, "--out",
                                               path("t.json"), "--inflight", "65"],
             ["--inflight", "65"]),
            ("trace with none in flight", ["trace", "t.yaml", "--input", good_input, "--out",
                                           path("t.json"), "--inflight", "0"],
             ["--inflight", "'0'"]),
            ("status with a missing key file", ["status", curve_topology, "--key",
                                                path("none.key_secret")],
             ["none.key_secret", "No such file"]),
            ("top without a key for a CURVE topology", ["top", curve_topology, "--once"],
             ["uses CURVE", "--key"]),
        ]
        # Names that would become paths outside the runtime folder, a
        # process with nothing to run, and clients of a topology that does
        # not run: each says so at once instead of waiting out a timeout
        def topology(name, text):
            with open(path(name), "w") as handle:
                handle.write(f"model: {DIGITS}\n" + text)
            return path(name)
        unused = socket.socket()
        unused.bind(("127.0.0.1", 0))
        free_port = unused.getsockname()[1]
        unused.close()                  # nothing listens there now
        stale = path("stale.sock")
        leftover = socket.socket(socket.AF_UNIX)
        leftover.bind(stale)
        leftover.close()                # a socket file nobody listens on
        cases += [
            ("up with a name that leaves its folder",
             ["up", topology("dots.yaml", "name: ../x\nprocesses: [{name: p}]\n")],
             ["dots.yaml:2:7", "bad value for name", "got '../x'"]),
            ("up with a process named '..'",
             ["up", topology("dotdot.yaml", "processes: [{name: '..'}]\n")],
             ["dotdot.yaml:2:20", "not starting with '.'"]),
            ("up with a process that runs no node",
             ["up", topology("idle.yaml", "processes: [{name: a}, {name: b}]\ndefault: a\n")],
             ["process 'b' runs no node", "remove it"]),
            ("infer of a topology that is not running",
             ["infer", topology("off.yaml", f"base_port: {free_port}\n"
                                "processes: [{name: p}]\n"), "--input", good_input],
             [f"tcp://127.0.0.1:{free_port}", "connection refused", "zinfer status",
              "--base-port"]),
            # Every command that talks to a running topology says at once
            # that nothing listens, where, and the likely causes (timed below)
            *[(f"{command} of a topology that is not running",
               [command, path("off.yaml")] + extra,
               [f"tcp://127.0.0.1:{free_port + 1}", "connection refused", "zinfer status",
                "--base-port"])
              for command, extra in (("status", []), ("top", ["--once"]),
                                     ("top", ["--json", "--timeout", "500"]),
                                     ("inspect", ["/conv1/Conv"]),
                                     ("trace", ["--input", good_input, "--out",
                                                path("t.json"), "--timeout", "60000"]))],
            ("infer at a stale ipc socket",
             ["infer", "--endpoint", "ipc://" + stale, "--input", good_input],
             ["nothing listens", "left by a topology that stopped"]),
            # A fourth item: the environment the command runs in
            ("unknown instruction set in ZI_ISA", ["run", DIGITS, "--input", good_input],
             ["ZI_ISA", "'avx1024'", "portable, avx2, avx512"], {"ZI_ISA": "avx1024"}),
        ]
        # split and plan: each bad argument is one line and exit code 2,
        # said before anything is profiled
        with open(path("empty_profile.json"), "w") as handle:
            handle.write('{"nodes": [], "runs": 1}\n')
        with open(path("broken_profile.json"), "w") as handle:
            handle.write('{"nodes": [{"name": "/conv1/Conv", "ms": }]}\n')
        good_topology = topology("plan.yaml", "processes: [{name: p}]\n")
        with open(path("nine_hosts.yaml"), "w") as handle:
            handle.write("security: {curve: false}\nhosts:\n" + "".join(
                f"  - {{name: h{index}, address: 10.0.0.{index + 1}}}\n" for index in range(9)))
        usage_cases = [
            ("trace with --gnuplot but no --png", ["trace", good_topology, "--input", DIGITS,
                                                   "--out", path("t.json"), "--gnuplot",
                                                   path("t.gp")],
             ["--gnuplot keeps the script of the --png chart"]),
            ("split over a missing hosts file", ["split", DIGITS, "-o", path("s.yaml"),
                                                 "--hosts", path("none.yaml")],
             ["--hosts", "none.yaml", "cannot open the hosts file"]),
            ("split over more hosts than nodes", ["split", DIGITS, "-o", path("s.yaml"),
                                                  "--hosts", path("nine_hosts.yaml")],
             ["--hosts: 9 hosts", "8 nodes", "at most one process per node"]),
            ("split with --hosts and --cores", ["split", DIGITS, "-o", path("s.yaml"),
                                                "--hosts", path("nine_hosts.yaml"),
                                                "--cores", "4"],
             ["--hosts with --cores", "the hosts file alone"]),
            ("split without --processes", ["split", DIGITS, "-o", path("s.yaml")],
             ["needs MODEL, -o TOPOLOGY.yaml and --processes N or --hosts FILE"]),
            ("split without -o", ["split", DIGITS, "--processes", "2"],
             ["needs MODEL, -o TOPOLOGY.yaml and --processes N or --hosts FILE"]),
            ("split into no processes", ["split", DIGITS, "-o", path("s.yaml"),
                                         "--processes", "0"], ["--processes", "'0'"]),
            ("split into more processes than nodes", ["split", DIGITS, "-o", path("s.yaml"),
                                                      "--processes", "9"],
             ["--processes 9", "8 nodes", "at most one process per node"]),
            ("split with an unknown objective", ["split", DIGITS, "-o", path("s.yaml"),
                                                 "--processes", "2", "--objective", "speed"],
             ["--objective expects latency or throughput", "'speed'"]),
            ("split with an unknown transport", ["split", DIGITS, "-o", path("s.yaml"),
                                                 "--processes", "2", "--transport", "udp"],
             ["--transport expects ipc or tcp", "'udp'"]),
            ("split with a missing profile", ["split", DIGITS, "-o", path("s.yaml"),
                                              "--processes", "2", "--profile",
                                              path("none.json")],
             ["none.json", "cannot open"]),
            ("split with a profile of another model", ["split", DIGITS, "-o", path("s.yaml"),
                                                       "--processes", "2", "--profile",
                                                       path("empty_profile.json")],
             ["no time for node '/conv1/Conv'", "this model"]),
            ("split of a truncated model", ["split", path("truncated.onnx"), "-o",
                                            path("s.yaml"), "--processes", "2"],
             ["not a valid ONNX"]),
            ("plan without a topology", ["plan"], ["no topology given"]),
            ("plan of a missing topology", ["plan", path("none.yaml")], ["none.yaml"]),
            ("plan with a broken profile", ["plan", good_topology, "--profile",
                                            path("broken_profile.json")],
             ["broken_profile.json", "at byte", "not a profile written by"]),
            ("plan with no runs", ["plan", good_topology, "--runs", "0"], ["--runs", "'0'"]),
            ("plan with a missing calibration", ["plan", good_topology, "--calibration",
                                                 path("none.json")],
             ["--calibration", "none.json", "cannot open"]),
            ("split with a calibration that is not one", ["split", DIGITS, "-o", path("s.yaml"),
                                                          "--processes", "2", "--calibration",
                                                          path("empty_profile.json")],
             ["empty_profile.json", "no \"ipc\" entry", "zinfer calibrate"]),
            ("calibrate with too few pings", ["calibrate", "--pings", "3"],
             ["--pings", "from 10", "'3'"]),
            ("calibrate into a folder that cannot be made", ["calibrate", "--pings", "10", "-o",
                                                              path("empty_profile.json") + "/x/h.json"],
             ["cannot create", "empty_profile.json"]),
            ("plan with an unknown option", ["plan", good_topology, "--pdf", "x.pdf"],
             ["unknown option '--pdf'"]),
            ("split with a cores' worth below one core", ["split", DIGITS, "-o",
                                                          path("s.yaml"), "--processes", "2",
                                                          "--cores-worth", "0.5"],
             ["--cores-worth expects a number from 1 to", "'0.5'"]),
            ("plan with a cores' worth that is not a number", ["plan", good_topology,
                                                              "--cores-worth", "many"],
             ["--cores-worth expects a number from 1 to", "'many'"]),
        ]
        cases += usage_cases
        usage_names = {case[0] for case in usage_cases}
        for name, args, needles, *environment in cases:
            env = dict(os.environ, **environment[0]) if environment else None
            started = time.monotonic()
            result = subprocess.run([zinfer] + args, capture_output=True, text=True, timeout=60,
                                    env=env)
            took = time.monotonic() - started
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            problems = []
            if "not running" in name and took > 2:
                problems.append(f"took {took:.1f} s, expected an answer within 2 s")
            if result.returncode <= 0:
                problems.append(f"exit code {result.returncode}, expected a positive one")
            elif name in usage_names and result.returncode != 2:
                problems.append(f"exit code {result.returncode}, expected 2")
            if len(lines) != 1:
                problems.append(f"{len(lines)} error lines, expected exactly 1")
            for needle in needles:
                if needle not in result.stderr:
                    problems.append(f"missing {needle!r}")
            if problems:
                failures += 1
                print(f"FAIL {name}: {'; '.join(problems)}\n     stderr: {result.stderr.strip()}")
            else:
                print(f"ok   {name}: {lines[0]}")
        # The Python client: a topology that is not running is refused at
        # once, naming the cause; a timeout that is no positive number too
        sys.path.insert(0, os.path.join(HERE, "..", "engine", "client"))
        import zinfer_client
        started = time.monotonic()
        try:
            zinfer_client.Client.from_topology(path("off.yaml"), timeout=5)
            refused = "no error"
        except ConnectionRefusedError as error:
            refused = str(error)
        took = time.monotonic() - started
        ok = took < 2 and "connection refused" in refused and "zinfer status" in refused
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} python client of a topology that is not running "
              f"({took:.2f} s): {refused}")
        try:
            zinfer_client.Client(f"tcp://127.0.0.1:{free_port}", timeout=0)
            refused = "no error"
        except (ValueError, ConnectionRefusedError) as error:
            refused = str(error)
        ok = "timeout must be a positive number" in refused
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} python client with timeout=0: {refused}")
        # --help works everywhere
        for command in ("run", "info", "demo", "up", "infer", "status", "top", "inspect",
                        "trace", "keygen", "worker", "split", "plan", "calibrate"):
            result = subprocess.run([zinfer, command, "--help"], capture_output=True, text=True)
            ok = result.returncode == 0 and "usage: zinfer " + command in result.stdout
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} zinfer {command} --help")
    print(f"cli_errors: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
