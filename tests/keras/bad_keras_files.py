#!/usr/bin/python3
"""Broken .h5 and .keras files, one per kind of error.

    bad_keras_files.py FOLDER
        Writes each broken file into FOLDER and prints, one per line,
        FILE<TAB>part of the error line `zinfer info FILE` must print.

Each starts from one small good model (an input of 4 values, Dense 'fc'
of 2 units), written as write_keras_files.py writes Keras's layouts, and
breaks one thing. keras_test.py bad runs them with tests/bad/keras.
"""

import copy
import io
import json
import os
import struct
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import write_keras_files as writer  # noqa: E402

MODEL = {"class_name": "Sequential", "config": {"name": "small", "layers": [
    {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 4]}},
    {"class_name": "Dense", "config": {"name": "fc", "units": 2, "activation": "relu",
                                       "use_bias": True}}]}}


def weights(kernel_shape=(4, 2)):
    return {"fc": [("kernel", np.ones(kernel_shape, np.float32)),
                   ("bias", np.zeros(2, np.float32))]}


def with_layer(class_name):
    model = copy.deepcopy(MODEL)
    model["config"]["layers"].append({"class_name": class_name,
                                      "config": {"name": "custom", "function": "x"}})
    return model


def keras_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def keras_members(model, by_layer):
    config = writer.keras3_config(model)
    data = io.BytesIO()
    with writer.h5py.File(data, "w") as file:
        writer.write_keras3_weights(file, config, by_layer)
    return {"metadata.json": "{}", "config.json": json.dumps(config),
            "model.weights.h5": data.getvalue()}


# A chunked dataset whose shape claims 30000 x 30000 float32 values
# (3.6 GB) in a file of a few kilobytes: one chunk of 4 x 2 is written,
# and its size in the chunk index (a version 1 B-tree, as h5py writes by
# default) is made to claim 4 GB, so that what libhdf5 says the dataset
# stores no longer gives it away. libhdf5 would fill the missing chunks
# with the fill value: the shape alone must be refused.
HUGE_SHAPE = (30000, 30000)


def lying_chunked(group, name):
    dataset = group.create_dataset(name, shape=HUGE_SHAPE, dtype="f4", chunks=(4, 2))
    dataset[0:4, 0:2] = np.ones((4, 2), np.float32)


def claim_big_chunks(data):
    """The file's bytes, each raw-data chunk's size in its B-tree made
    0xfffffff0; the B-tree keys of a rank-2 dataset: size (4 bytes),
    filter mask (4), 3 offsets (8 each)"""
    data = bytearray(data)
    at, patched = data.find(b"TREE"), 0
    while at >= 0:
        node_type, entries = data[at + 4], struct.unpack_from("<H", data, at + 6)[0]
        if node_type == 1:
            for entry in range(entries):
                key = at + 24 + entry * (32 + 8)
                if struct.unpack_from("<I", data, key)[0] == 4 * 2 * 4:
                    struct.pack_into("<I", data, key, 0xFFFFFFF0)
                    patched += 1
        at = data.find(b"TREE", at + 4)
    assert patched == 1, "expected one chunk of 32 bytes in the file's chunk B-tree"
    return bytes(data)


def overlapping_heaps(count, tail):
    """count global heap collections ("GCOL", version 1, each reaching the
    end of the file) back to back, then tail bytes of words that read as
    objects of 8 bytes. Each collection's first object steps over the
    other collections to the tail, through which the walk goes 24 bytes
    at a time: checking them all would take count * tail / 24 steps"""
    heads = 32 * count
    size = heads + tail
    data = bytearray(struct.pack("<Q", 8) * (size // 8))
    for index in range(count):
        at = 32 * index
        data[at:at + 16] = b"GCOL\x01\x00\x00\x00" + struct.pack("<Q", size - at)
        data[at + 16:at + 32] = struct.pack("<HHIQ", 1, 1, 0, heads - at - 32)
    return bytes(data)


def cases(folder):
    def path(name):
        return os.path.join(folder, name)

    writer.write_h5(path("good.h5"), MODEL, weights())
    good = open(path("good.h5"), "rb").read()

    def h5(name, model, by_layer, expected):
        writer.write_h5(path(name), model, by_layer)
        return name, expected

    yield h5("missing_weight.h5", MODEL, {"fc": weights()["fc"][:1]},
             "layer 'fc' (Dense): weight 'fc/bias' is not among the model's weights")
    yield h5("wrong_shape.h5", MODEL, weights((3, 2)),
             "layer 'fc' (Dense): weight 'fc/kernel' has shape [3, 2], expected [4, 2]")
    yield h5("unknown_layer.h5", with_layer("LSTM"), weights(),
             "layer 'custom': Keras layer class 'LSTM' is not supported")
    yield h5("lambda.h5", with_layer("Lambda"), weights(),
             "layer 'custom' (Lambda): Lambda layers hold Python code")
    with open(path("truncated.h5"), "wb") as file:
        file.write(good[:len(good) // 2])
    yield "truncated.h5", "truncated.h5: not a readable HDF5 file"
    with writer.h5py.File(path("weights_only.h5"), "w") as file:
        file.create_dataset("fc/kernel", data=np.ones((4, 2), np.float32))
    yield "weights_only.h5", "no 'model_config' attribute"
    writer.write_h5(path("huge_chunked.h5"), MODEL, weights())
    with writer.h5py.File(path("huge_chunked.h5"), "a") as file:
        del file["model_weights/fc/fc/kernel:0"]
        lying_chunked(file["model_weights/fc/fc"], "kernel:0")
    with open(path("huge_chunked.h5"), "rb") as file:
        lying = claim_big_chunks(file.read())
    with open(path("huge_chunked.h5"), "wb") as file:
        file.write(lying)
    with writer.h5py.File(path("huge_chunked.h5"), "r") as file:
        claimed = file["model_weights/fc/fc/kernel:0"].id.get_storage_size()
        assert claimed >= HUGE_SHAPE[0] * HUGE_SHAPE[1] * 4, claimed
    yield ("huge_chunked.h5", "dataset 'model_weights/fc/fc/kernel:0': 900000000 values of "
           "4 bytes, more than the whole file (%d bytes) holds" % len(lying))
    with open(path("overlapping_heaps.h5"), "wb") as file:
        file.write(good + overlapping_heaps(8192, 3 << 18))
    yield ("overlapping_heaps.h5", "not a readable HDF5 file (its global heap collections "
           "overlap: more than")

    members = keras_members(MODEL, weights())
    keras_zip(path("good.keras"), members)
    good = open(path("good.keras"), "rb").read()
    with open(path("truncated.keras"), "wb") as file:
        file.write(good[:len(good) - 40])
    yield "truncated.keras", "truncated.keras: not a readable zip"
    keras_zip(path("not_a_model.keras"), dict(members, **{"config.json": '{"answer": 42}'}))
    yield "not_a_model.keras", "no 'class_name' and 'config' of a Keras model"
    keras_zip(path("cut_config.keras"), dict(members, **{"config.json": '{"class_name": '}))
    yield "cut_config.keras", "config.json: JSON ends early"
    keras_zip(path("no_weights.keras"), {name: data for name, data in members.items()
                                         if name != "model.weights.h5"})
    yield "no_weights.keras", "no 'model.weights.h5' in the zip"
    keras_zip(path("missing_weights.keras"), keras_members(MODEL, {}))
    yield ("missing_weights.keras",
           "layer 'fc' (Dense): no weights in the file (expected group 'layers/dense'")
    keras_zip(path("wrong_shape.keras"), keras_members(MODEL, weights((4, 3))))
    yield "wrong_shape.keras", "weight 'fc/kernel' has shape [4, 3], expected [4, 2]"
    keras_zip(path("lambda.keras"), keras_members(with_layer("Lambda"), weights()))
    yield "lambda.keras", "layer 'custom' (Lambda): Lambda layers hold Python code"
    data = io.BytesIO()
    with writer.h5py.File(data, "w") as file:
        lying_chunked(file.require_group("layers/dense/vars"), "0")
        file["layers/dense/vars/1"] = np.zeros(2, np.float32)
    lying = claim_big_chunks(data.getvalue())
    keras_zip(path("huge_chunked.keras"), dict(members, **{"model.weights.h5": lying}))
    yield ("huge_chunked.keras", "dataset 'layers/dense/vars/0': 900000000 values of 4 bytes, "
           "more than the whole file (%d bytes) holds" % len(lying))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, expected in cases(sys.argv[1]):
        print("%s\t%s" % (name, expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
