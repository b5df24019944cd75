#!/usr/bin/python3
"""docs/keras.md's lists of what the Keras importer supports, taken from
the importer's own tables so that the two cannot differ.

    layer_lists.py ZINFER [--doc docs/keras.md] [--write]

The importer names what it supports in the error a model with something
else gets: a layer class it has no builder for, a TFOpLambda function, a
Keras 3 operation. This script makes three such models (a layer of class
ZiNoSuchLayer, a TFOpLambda calling zi.no_such, a keras.src.ops operation
ZiNoSuchOp), runs `zinfer info` on each, checks that each is refused with
exit code 2 and one line naming the layer and the class, and reads the
list after "supported:". Each list must equal the one in the doc between
<!-- BEGIN keras-NAME --> and <!-- END keras-NAME --> (NAME: layers,
tf-functions, ops): with --write the doc is rewritten to match,
else a difference fails, saying what is missing from the doc or extra.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "keras.md")


def probe_model(layer):
    """A Sequential model.json: an input, then the layer to probe"""
    return {"format": "layers-model", "modelTopology": {
        "class_name": "Sequential", "config": {"name": "probe_model", "layers": [
            {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 4]}},
            layer]}}, "weightsManifest": []}


PROBES = {
    "layers": ({"class_name": "ZiNoSuchLayer", "config": {"name": "probe"}},
               "layer 'probe': Keras layer class 'ZiNoSuchLayer' is not supported"),
    "tf-functions": ({"class_name": "TFOpLambda",
                      "config": {"name": "probe", "function": "zi.no_such"}},
                     "layer 'probe' (TFOpLambda): TensorFlow function 'zi.no_such' is not "
                     "supported"),
    "ops": ({"module": "keras.src.ops.numpy", "class_name": "ZiNoSuchOp",
                   "config": {"name": "probe"}},
                  "layer 'probe' (ZiNoSuchOp): Keras operation 'ZiNoSuchOp' "
                  "(keras.src.ops.numpy) is not supported"),
}


def supported(zinfer, folder, name):
    """The list the importer's error gives for the probe, or an error text"""
    layer, expected = PROBES[name]
    path = os.path.join(folder, name + ".json")
    with open(path, "w") as file:
        json.dump(probe_model(layer), file)
    result = subprocess.run([zinfer, "info", path], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    if result.returncode != 2 or len(lines) != 1 or expected not in lines[0]:
        return None, (f"{name}: expected exit 2 and one line containing \"{expected}\", got "
                      f"exit {result.returncode}: {result.stderr.strip()}")
    found = re.search(r"\(supported: ([^()]*)\)$", lines[0])
    if not found:
        return None, f"{name}: no \"(supported: ...)\" at the end of: {lines[0]}"
    return [item.strip() for item in found.group(1).split(",")], None


def section(name, items):
    body = textwrap.fill(", ".join(f"`{item}`" for item in items), width=74)
    return (f"<!-- BEGIN keras-{name}: tests/keras/layer_lists.py --write makes this list "
            f"from the importer -->\n{body}\n<!-- END keras-{name} -->")


def pattern(name):
    return re.compile(r"<!-- BEGIN keras-%s\b.*?-->\n(.*?)\n?<!-- END keras-%s -->"
                      % (re.escape(name), re.escape(name)), re.S)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zinfer")
    parser.add_argument("--doc", default=DOC)
    parser.add_argument("--write", action="store_true", help="rewrite the doc's lists")
    args = parser.parse_args()
    with open(args.doc) as file:
        doc = file.read()
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        for name in PROBES:
            items, error = supported(args.zinfer, folder, name)
            if error:
                print(f"FAIL {error}")
                failures += 1
                continue
            if len(set(items)) != len(items):
                print(f"FAIL {name}: the importer lists some twice: {', '.join(items)}")
                failures += 1
            found = pattern(name).search(doc)
            if not found:
                print(f"FAIL {name}: {args.doc} has no <!-- BEGIN keras-{name} --> ... "
                      f"<!-- END keras-{name} --> section")
                failures += 1
                continue
            if args.write:
                doc = doc[:found.start()] + section(name, items) + doc[found.end():]
                print(f"wrote {name}: {len(items)} entries")
                continue
            listed = re.findall(r"`([^`]+)`", found.group(1))
            missing = [item for item in items if item not in listed]
            extra = [item for item in listed if item not in items]
            ok = not missing and not extra and listed == items
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(items)} in the importer, "
                  f"{len(listed)} in the doc")
            if missing:
                print(f"     not in the doc: {', '.join(missing)}")
            if extra:
                print(f"     in the doc, not in the importer: {', '.join(extra)}")
            if not ok and not missing and not extra:
                print("     the same entries in another order")
            if not ok:
                print("     (tests/keras/layer_lists.py ZINFER --write rewrites them)")
            failures += not ok
    if args.write and not failures:
        with open(args.doc, "w") as file:
            file.write(doc)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
