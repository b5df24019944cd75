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
