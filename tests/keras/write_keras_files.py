#!/usr/bin/python3
"""Writes a TF.js layers-model again as a Keras 2 .h5 file and a .keras zip.

    write_keras_files.py FOLDER ...
        For each FOLDER holding model.json and its shards, writes
        FOLDER/model.h5 and FOLDER/model.keras holding the same model and
        the same weights, so that one reference checks all three formats.

The files follow Keras's own layouts, written with h5py and zipfile:

- model.h5 (Keras 2, `model.save("m.h5")`): the root's `model_config`
  attribute is the model's JSON config; group `model_weights` lists its
  layers in `layer_names`, each layer's group lists its weights in
  `weight_names` ("conv/kernel:0") and holds them at those paths (a nested
  model's group holds the weights of all its layers).
- model.keras (Keras 3, `model.save("m.keras")`; a model whose meaning
  differs in Keras 3, hard_sigmoid, as Keras 2.13 and later write it, the
  config in Keras 2's form and metadata.json naming Keras 2): a zip of
  config.json
  (inbound_nodes as {"args": [...], "kwargs": {...}} with __keras_tensor__
  references, a model's only input or output as a bare reference),
  metadata.json and model.weights.h5, where a layer's variables are
  `layers/<snake_case class>[_N]/vars/<i>` in the model's layer order and
  a nested model's layers are under its own group.

References to a nested model's calls are renumbered from tfjs's (from 1)
to Keras's (from 0) in both.
"""

import io
import json
import os
import re
import sys
import zipfile

import h5py
import numpy as np

MODEL_CLASSES = ("Sequential", "Functional", "Model")
MERGE_CLASSES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                 "Concatenate")


def read_weights(folder, manifest):
    """The manifest's weights, float32, as (name, array) in order."""
    weights = []
    for group in manifest:
        data = b"".join(open(os.path.join(folder, path), "rb").read()
                        for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"], dtype=np.int64))
            quantization = spec.get("quantization")
            stored = quantization["dtype"] if quantization else spec["dtype"]
            numpy_type = {"float32": np.float32, "int32": np.int32, "float16": np.float16,
                          "uint8": np.uint8, "uint16": np.uint16}[stored]
            size = count * np.dtype(numpy_type).itemsize
            values = np.frombuffer(data[offset:offset + size], dtype=numpy_type)
            offset += size
            if stored in ("uint8", "uint16"):
                values = (values.astype(np.float32) * np.float32(quantization["scale"])
                          + np.float32(quantization["min"]))
            weights.append((spec["name"], values.astype(np.float32).reshape(spec["shape"])))
    return weights


def layer_weights(weights):
    """Layer name -> [(weight name, array)], in the manifest's order."""
    by_layer = {}
    for name, array in weights:
        layer, weight = name.split("/")[-2:]
        by_layer.setdefault(layer, []).append((weight, array))
    return by_layer


def write_model_json(folder, model_config, by_layer):
    """A TF.js layers-model of float32 weights in one shard, as the
    converter writes one from a Keras file; by_layer as layer_weights
    returns it."""
    specs, data = [], b""
    for layer, weights in by_layer.items():
        for weight, array in weights:
            specs.append({"name": "%s/%s" % (layer, weight), "shape": list(array.shape),
                          "dtype": "float32"})
            data += array.astype("<f4").tobytes()
    with open(os.path.join(folder, "group1-shard1of1.bin"), "wb") as file:
        file.write(data)
    with open(os.path.join(folder, "model.json"), "w") as file:
        json.dump({"format": "layers-model", "generatedBy": "keras v2.15.0",
                   "convertedBy": "hand-written test", "modelTopology": {
                       "keras_version": "2.15.0", "backend": "tensorflow",
                       "model_config": model_config},
                   "weightsManifest": [{"paths": ["group1-shard1of1.bin"],
                                        "weights": specs}]}, file)


def model_layers(model):
    config = model["config"]
    return config if isinstance(config, list) else config["layers"]


def layer_name(layer):
    return layer.get("name") or layer["config"]["name"]


def inner_layer_names(layer):
    """The names of a layer's own layers, nested ones included."""
    if layer["class_name"] not in MODEL_CLASSES:
        return [layer_name(layer)]
    names = []
    for inner in model_layers(layer):
        names += inner_layer_names(inner)
    return names


def renumber(model):
    """tfjs numbers a nested model's calls from 1; Keras from 0."""
    layers = model_layers(model)
    nested = {layer_name(layer) for layer in layers if layer["class_name"] in MODEL_CLASSES}

    def fix(ref):
        if isinstance(ref, list) and len(ref) >= 3 and ref[0] in nested:
            ref[1] -= 1

    for layer in layers:
        if layer["class_name"] in MODEL_CLASSES:
            renumber(layer)
        for call in layer.get("inbound_nodes", []):
            for ref in call:
                fix(ref)
                if len(ref) > 3 and isinstance(ref[3], dict):
                    fix(ref[3].get("y"))
    if isinstance(model["config"], dict):
        for key in ("input_layers", "output_layers"):
            for ref in model["config"].get(key, []):
                fix(ref)


def write_h5(path, model, by_layer):
    with h5py.File(path, "w") as file:
        file.attrs["model_config"] = json.dumps(model).encode("utf8")
        file.attrs["keras_version"] = b"2.15.0"
        file.attrs["backend"] = b"tensorflow"
        group = file.create_group("model_weights")
        layers = model_layers(model)
        group.attrs["layer_names"] = np.array([layer_name(l).encode() for l in layers])
        for layer in layers:
            layer_group = group.create_group(layer_name(layer))
            names = []
            for inner in inner_layer_names(layer):
                for weight, array in by_layer.get(inner, []):
                    names.append("%s/%s:0" % (inner, weight))
                    layer_group.create_dataset(names[-1], data=array)
            layer_group.attrs["weight_names"] = np.array([n.encode() for n in names],
                                                         dtype="S%d" % max(
                                                             [len(n) for n in names] + [1]))


def keras_tensor(ref):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": "float32", "keras_history": ref[:3]}}


def keras3_config(model):
    """A Keras 2 / tfjs model config in Keras 3's form."""
    config = model["config"]
    if model["class_name"] == "Sequential":
        layers = config if isinstance(config, list) else config["layers"]
        layers = [keras3_layer(layer, False) for layer in layers]
        first = layers[0]["config"]
        if layers[0]["class_name"] != "InputLayer" and "batch_input_shape" in first:
            layers.insert(0, {"class_name": "InputLayer",
                              "config": {"name": first["name"] + "_input",
                                         "batch_shape": first.pop("batch_input_shape")}})
        return {"module": "keras", "class_name": "Sequential",
                "config": {"name": config.get("name", "sequential") if isinstance(config, dict)
                           else "sequential", "layers": layers}}
    out = dict(config)
    out["layers"] = [keras3_layer(layer, True) for layer in config["layers"]]
    for key in ("input_layers", "output_layers"):
        if len(config[key]) == 1:
            out[key] = config[key][0]
    return {"module": "keras", "class_name": "Functional", "config": out}


def keras3_layer(layer, functional):
    if layer["class_name"] in MODEL_CLASSES:
        out = keras3_config(dict(layer, config=layer["config"], name=layer_name(layer)))
        out["config"]["name"] = layer_name(layer)
        out["name"] = layer_name(layer)
    else:
        config = dict(layer["config"])
        if layer["class_name"] == "InputLayer":
            config["batch_shape"] = config.pop("batch_input_shape")
        out = {"module": "keras.layers", "class_name": layer["class_name"], "config": config,
               "registered_name": None, "name": layer_name(layer)}
    if functional:
        calls = []
        for call in layer.get("inbound_nodes", []):
            tensors = [keras_tensor(ref) for ref in call]
            kwargs = dict(call[0][3]) if len(call[0]) > 3 else {}
            if isinstance(kwargs.get("y"), list) and len(kwargs["y"]) >= 3 \
                    and isinstance(kwargs["y"][0], str):
                kwargs["y"] = keras_tensor(kwargs["y"])
            many = len(tensors) > 1 or layer["class_name"] in MERGE_CLASSES
            calls.append({"args": [tensors] if many else tensors, "kwargs": kwargs})
        out["inbound_nodes"] = calls
    return out


def snake_case(name):
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def write_keras3_weights(group, model, by_layer):
    used = {}
    for layer in model_layers(model):
        key = snake_case(layer["class_name"])
        count = used.get(key, -1) + 1
        used[key] = count
        path = "layers/" + (key if count == 0 else "%s_%d" % (key, count))
        if layer["class_name"] in MODEL_CLASSES:
            write_keras3_weights(group.require_group(path), layer, by_layer)
            continue
        variables = by_layer.get(layer_name(layer), [])
        if variables:
            var_group = group.require_group(path + "/vars")
            for index, (_, array) in enumerate(variables):
                var_group.create_dataset(str(index), data=array)


def keras2_only(model):
    """Whether the model means what only Keras 2 means: hard_sigmoid is
    clip(0.2 x + 0.5, 0, 1) in Keras 2 and tfjs, relu6(x + 3) / 6 in Keras 3."""
    return '"hard_sigmoid"' in json.dumps(model)


def write_keras(path, model, by_layer, keras3=None):
    """As Keras 3 writes it, or as Keras 2.13 and later do (the config in
    Keras 2's form, metadata naming Keras 2) for a model only Keras 2
    reads as meant; keras3 True or False chooses."""
    keras2 = keras2_only(model) if keras3 is None else not keras3
    config = model if keras2 else keras3_config(model)
    weights = io.BytesIO()
    with h5py.File(weights, "w") as file:
        write_keras3_weights(file, config, by_layer)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({
            "keras_version": "2.15.0" if keras2 else "3.3.3",
            "date_saved": "2024-01-01@00:00:00"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights.getvalue())


def write_folder(folder):
    with open(os.path.join(folder, "model.json")) as file:
        root = json.load(file)
    topology = root["modelTopology"]
    model = topology.get("model_config", topology)
    renumber(model)
    by_layer = layer_weights(read_weights(folder, root.get("weightsManifest", [])))
    write_h5(os.path.join(folder, "model.h5"), model, by_layer)
    write_keras(os.path.join(folder, "model.keras"), model, by_layer)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    for folder in sys.argv[1:]:
        write_folder(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
