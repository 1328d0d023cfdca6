"""Train the bundled quantized CNN on scikit-learn's digits and export it with
``neurosim.frontends.torch``.

Usage::

    pip install torch==2.13.0 scikit-learn     # needed by this script only
    python scripts/train_digits.py [--out-dir neurosim/data] [--epochs N] [--seed 0]

torch and scikit-learn are used here and in the optional ``neurosim.frontends.torch``; the
neurosim runtime never needs them. The script writes two files into ``--out-dir``:

* ``digits.qann.npz`` -- the quantized ANN (``kind="qann"``), written by
  ``neurosim.frontends.torch.export``;
* ``digits_test.npz`` -- the held-out test set: ``images`` (uint8 [N, 1, 8, 8], codes 0..16) and
  ``labels`` (int64 [N]).

Data and split: ``sklearn.datasets.load_digits`` (1797 8x8 images, pixel codes 0..16, 10
classes), stratified 70/30 split with ``random_state=seed`` (1257 train / 540 test images).
Training is CPU-only and deterministic (``torch.manual_seed(seed)``, deterministic algorithms,
one intra-op thread).

Network (the layer names are the names in the file)::

    QuantInput(1/16, 16) -> conv1 1->16 3x3 p1 -> QuantReLU(8) -> conv2 16->32 3x3 p1
    -> QuantReLU(4) -> pool1 avg 2 -> conv3 32->32 3x3 p1 -> QuantReLU(4) -> pool2 avg 2
    -> flatten (128) -> fc1 128->64 -> QuantReLU(8) -> fc2 64->10 (logits)

Training: quantization-aware from the start -- every activation is a ``QuantReLU`` (L levels,
learned clip, straight-through gradient, rounding half to even); weights stay float while
training and are quantized per output channel to int8 by the export (the error is printed).

Before anything is written, the exported network's quantized-ANN forward (``neurosim.qann``) is
compared with torch's forward of the same quantized model (``quantized_copy``, float64): the
predictions must agree on every train and test image. After writing, the file is read back and
re-evaluated once more.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as nnf

from neurosim import qann
from neurosim.frontends import torch as ft
from neurosim.io import load_model, save_model

INPUT_LEVELS = 16
"""Largest input code of sklearn digits (pixel codes 0..16)."""
INIT_CLIP = 3.0
"""Initial gamma of every quantized activation (then trained)."""
BATCH = 32
LR = 3e-3
LR_CLIP = 1e-2
MIN_ACCURACY = 0.95


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = ft.QuantInput(1 / INPUT_LEVELS, INPUT_LEVELS)
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.act1 = ft.QuantReLU(8, INIT_CLIP)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.act2 = ft.QuantReLU(4, INIT_CLIP)
        self.pool1 = nn.AvgPool2d(2)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.act3 = ft.QuantReLU(4, INIT_CLIP)
        self.pool2 = nn.AvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(128, 64)
        self.act4 = ft.QuantReLU(8, INIT_CLIP)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.act1(self.conv1(self.quant(x)))))
        x = self.pool2(self.act3(self.conv3(self.pool1(x))))
        return self.fc2(self.act4(self.fc1(self.flatten(x))))


def to_input(codes: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Codes 0..16 -> real input values q0/16 (QuantInput gives the codes back exactly)."""
    return torch.from_numpy(codes.astype(np.float64) / INPUT_LEVELS).to(dtype)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    model.eval()
    return model(x).argmax(dim=1).numpy()


def train(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> DigitsCNN:
    gen = torch.Generator().manual_seed(seed)
    model = DigitsCNN()
    weights = [p for n, p in model.named_parameters() if not n.endswith(".clip")]
    clips = [p for n, p in model.named_parameters() if n.endswith(".clip")]
    opt = torch.optim.Adam([{"params": weights, "lr": LR}, {"params": clips, "lr": LR_CLIP}])
    steps = max(1, epochs * math.ceil(len(x) / BATCH))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), BATCH):
            idx = perm[i : i + BATCH]
            loss = nnf.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out-dir", default="neurosim/data", type=Path)
    ap.add_argument("--epochs", default=100, type=int, help="training epochs")
    ap.add_argument("--seed", default=0, type=int, help="split random_state and torch seed")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    # Imported here: examples/onnx_digits.py reuses this module's network without the data.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    digits = load_digits()
    codes = digits.images.astype(np.uint8)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    assert codes.max() <= INPUT_LEVELS
    c_tr, c_te, y_tr, y_te = train_test_split(
        codes, labels, test_size=0.3, stratify=labels, random_state=args.seed
    )
    print(f"digits: {len(c_tr)} train / {len(c_te)} test images")
    x_tr, x_te = to_input(c_tr), to_input(c_te)
    model = train(x_tr, torch.from_numpy(y_tr), args.epochs, args.seed)
    t_train = time.perf_counter() - t0

    def acc(pred: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(pred == y))

    acc_torch = (acc(predict(model, x_tr), y_tr), acc(predict(model, x_te), y_te))
    meta: dict[str, object] = {
        "dataset": "sklearn digits",
        "trained_by": "scripts/train_digits.py",
        "seed": args.seed,
        "epochs": args.epochs,
        "split": f"train_test_split(test_size=0.3, stratify=y, random_state={args.seed})",
        "test_set": "digits_test.npz",
        "n_test": len(c_te),
    }
    exp = ft.export(model, x_te[:1], name="digits_cnn", meta=meta)
    net = exp.network
    quantized = ft.quantized_copy(model, x_te[:1])
    q64 = (predict(quantized, to_input(c_tr, torch.float64)), predict(quantized, x_te.double()))
    ref = (qann.forward(net, c_tr).predictions, qann.forward(net, c_te).predictions)
    acc_q = (acc(ref[0], y_tr), acc(ref[1], y_te))
    print(f"{'model':<40} {'train':>7} {'test':>7}")
    print(f"{'torch, float weights (QuantReLU)':<40} {acc_torch[0]:>7.2%} {acc_torch[1]:>7.2%}")
    print(f"{'exported qANN (int8 weights), neurosim':<40} {acc_q[0]:>7.2%} {acc_q[1]:>7.2%}")
    print("weight quantization error (max / RMS, relative):")
    for name, e in exp.weight_error.items():
        print(f"  {name:<6} {e.max_rel:.2e} / {e.rms_rel:.2e}")
    print("layer  Q  gamma")
    for lay in net.spiking_layers():
        print(f"{lay.name:<6} {lay.act.levels}  {lay.act.clip:.4f}")
    if not (np.array_equal(q64[0], ref[0]) and np.array_equal(q64[1], ref[1])):
        raise SystemExit("export check failed: neurosim and torch disagree; nothing written")
    if acc_q[1] < MIN_ACCURACY:
        print(f"WARNING: quantized test accuracy {acc_q[1]:.2%} < {MIN_ACCURACY:.0%}")

    net.meta.update(
        {"ann_test_accuracy": acc_q[1], "torch_float_weight_test_accuracy": acc_torch[1]}
    )
    model_path = save_model(net, args.out_dir / "digits.qann.npz")
    test_path = args.out_dir / "digits_test.npz"
    np.savez_compressed(test_path, images=c_te.astype(np.uint8), labels=y_te.astype(np.int64))

    back = load_model(model_path)
    with np.load(test_path) as f:
        re_pred = qann.forward(back, f["images"]).predictions
        if not np.array_equal(re_pred, ref[1]) or not np.array_equal(f["labels"], y_te):
            raise SystemExit("read-back check failed: the written files do not reproduce")
    print(f"wrote {model_path} and {test_path}")
    print(f"runtime: training {t_train:.1f} s, total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
