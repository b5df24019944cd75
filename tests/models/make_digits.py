#!/usr/bin/python3
"""Train the small handwritten-digits CNN used by zinfer's demo and tests.

Unlike the random-weight models of make_models.py, this one is really
trained, so a test can check something meaningful end to end: the engine's
accuracy on held-out images.  Data is scikit-learn's bundled copy of the UCI
8x8 digits set (load_digits needs no download).

Writes, next to this script (or into --out):
    digits.onnx   opset 13, input "input" [batch,1,8,8] float32 in 0..1,
                  output "output" [batch,10] class probabilities (softmax)
    digits_x.npy  held-out images, float32 [360,1,8,8]
    digits_y.npy  held-out labels, int64 [360]

Usage: /usr/bin/python3 tests/models/make_digits.py [--out DIR]
"""

import argparse
import collections
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
EPOCHS = 10
BATCH = 32
MIN_ACCURACY = 0.97


class DigitsNet(nn.Module):
    """Three 3x3 convolutions and two dense layers; ~27k parameters.

    Attribute names become ONNX node names (/conv1/Conv, /fc2/Gemm, ...), so
    they are kept short and descriptive.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)                    # 8x8 -> 4x4
        self.conv3 = nn.Conv2d(32, 16, 3, padding=1)   # 16 maps keep fc1 small
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(64, 10)
        self.softmax = nn.Softmax(dim=1)
        # Training wants logits (CrossEntropyLoss applies log-softmax itself,
        # more stably); the exported graph should give probabilities.
        self.probabilities = False

    def forward(self, x):
        # Activations are modules, not torch.relu calls, so that their ONNX
        # nodes get names like /relu2/Relu instead of /Relu_1.
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.pool(x)
        x = self.relu3(self.conv3(x))
        x = self.fc2(self.relu4(self.fc1(self.flatten(x))))
        return self.softmax(x) if self.probabilities else x


def load_data():
    """Images scaled to 0..1 as [N,1,8,8] float32, labels int64; fixed split."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    # Stratified so every class appears in the held-out set in proportion.
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def train(model, x_train, y_train):
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    x_all, y_all = torch.from_numpy(x_train), torch.from_numpy(y_train)
    model.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(x_all), generator=gen)
        total = 0.0
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(x_all[idx]), y_all[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        print(f"epoch {epoch + 1:2d}: train loss {total / len(x_all):.4f}", file=sys.stderr)
    model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((pred == y).mean())


def export(model, path):
    model.probabilities = True
    example = torch.zeros(1, 1, 8, 8)
    torch.onnx.export(
        model, (example,), path,
        opset_version=13,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        do_constant_folding=True,  # eval-mode export folds BN into the convs
    )
    ops = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
    assert ops["BatchNormalization"] == 0 and ops["Softmax"] == 1, ops
    return ops


def save_npy(path, array):
    with open(path, "wb") as f:
        np.save(f, array)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="Train and export the digits demo CNN.")
    p.add_argument("--out", default=os.path.join(here, "digits"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(SEED)
    x_train, x_test, y_train, y_test = load_data()
    model = DigitsNet()
    t0 = time.monotonic()
    train(model, x_train, y_train)
    acc = accuracy(model, x_test, y_test)
    print(f"trained in {time.monotonic() - t0:.1f}s; "
          f"held-out accuracy {acc:.4f} ({len(y_test)} images)")
    if acc < MIN_ACCURACY:
        sys.exit(f"accuracy below {MIN_ACCURACY}; not writing files")

    onnx_path = os.path.join(args.out, "digits.onnx")
    ops = export(model, onnx_path)
    save_npy(os.path.join(args.out, "digits_x.npy"), np.ascontiguousarray(x_test))
    save_npy(os.path.join(args.out, "digits_y.npy"), y_test)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes, ops {dict(ops)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
