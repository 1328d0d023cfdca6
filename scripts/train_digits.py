"""Train the bundled quantized CNN on scikit-learn's digits and export it as a neurosim qANN.

Usage::

    pip install torch==2.13.0 scikit-learn     # needed by this script only
    python scripts/train_digits.py [--out-dir neurosim/data] [--epochs N] [--seed 0]

torch and scikit-learn are used here and nowhere else: the neurosim package, its runtime and its
tests never import them. The script writes two files into ``--out-dir``:

* ``digits.qann.npz`` -- the quantized ANN (``kind="qann"``), written with
  ``neurosim.io.save_model``;
* ``digits_test.npz`` -- the held-out test set: ``images`` (uint8 [N, 1, 8, 8], codes 0..16) and
  ``labels`` (int64 [N]).

Data and split: ``sklearn.datasets.load_digits`` (1797 8x8 images, pixel codes 0..16, 10
classes), stratified 70/30 split with ``random_state=seed`` (1257 train / 540 test images).
Training is CPU-only and deterministic (``torch.manual_seed(seed)``, deterministic algorithms,
one intra-op thread: for a net this small it is faster than two, and the float sums are
reproducible).

Network (the layer names are the names in the file)::

    input (1,8,8) -> conv1 1->16 3x3 p1 -> act(Q=8) -> conv2 16->32 3x3 p1 -> act(Q=4)
    -> pool1 avg 2 -> conv3 32->32 3x3 p1 -> act(Q=4) -> pool2 avg 2 -> flatten (128)
    -> fc1 128->64 -> act(Q=8) -> fc2 64->10 (logits, no activation)

Every synaptic layer has a bias; there is no batch-norm, so nothing is folded.

Meaning of the exported quantized ANN (the semantics neurosim assumes for ``kind="qann"``):

* Input: the network reads integer codes q0 in 0..levels (here 0..16); the real value a layer
  sees is ``scale * q0`` (here q0/16, so pixels lie in [0, 1]).
* Conv2d / Linear: the stored weight is an integer tensor W_int (int8, per-output-channel
  symmetric, |W_int| <= 127); the real weight of output channel c is
  ``weight_scale[c] * W_int[c]``. The real pre-activation is the plain cross-correlation / matrix
  product of the previous layer's real activations with those real weights, plus the real
  (float) bias: ``z = conv(a_prev, W) + b``.
* Activation (``act``, QCFS / MT-SNN eq. 5) with Q = ``act.levels`` and gamma = ``act.clip``:
  ``a = (gamma/Q) * clip(floor(z*Q/gamma + 0.5), 0, Q)``, i.e. z/gamma*Q rounded half *up*
  (not half-to-even) to one of the Q+1 levels 0..Q, then scaled back to activation units.
* AvgPool2d: the plain mean over each kernel x kernel window. Flatten: C-order (C, H, W).
* The last layer has no activation; its z are the logits and the class is their argmax.

Training: a float warm-up (float weights, plain ReLU) and then quantization-aware training:
per-output-channel symmetric int8 fake-quant of every weight (s_w[c] = max|W[c]|/127,
W_int = clip(round(W/s_w), -127, 127)) and the quantized activation above, both with a
straight-through estimator for the rounding. Each activation's clip gamma is a trained parameter
(QCFS / LSQ-style gradient: d a/d gamma = n/Q - z/gamma inside the range, 1 above it).

Before anything is written, the exported integer model is re-evaluated by an independent
float64 numpy implementation of the semantics above (``numpy_qann_forward``); its predictions
are compared with the torch fake-quant model evaluated in float64, and the script stops if
they disagree on more than ``MAX_DISAGREE`` test images. After writing, the file is read back
with ``neurosim.io.load_model`` and re-evaluated once more.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as nnf

from neurosim import ir
from neurosim.io import load_model, save_model

INPUT_LEVELS = 16
"""Largest input code of sklearn digits (pixel codes 0..16)."""
INIT_CLIP = 3.0
"""Initial gamma of every quantized activation (then trained)."""
FLOAT_FRACTION = 0.3
"""Share of the epochs spent in the float warm-up; the rest is QAT."""
BATCH = 32
LR_FLOAT = 3e-3
LR_QAT = 1e-3
LR_CLIP = 1e-2
MAX_DISAGREE = 2
"""Largest tolerated number of test images on which numpy and torch (float64) disagree."""
MIN_ACCURACY = 0.95


# --------------------------------------------------------------------------------------------
# Quantizers (torch, straight-through estimators)
# --------------------------------------------------------------------------------------------


def ste_floor(x: torch.Tensor) -> torch.Tensor:
    """floor(x) forward, identity gradient backward."""
    return x + (torch.floor(x) - x).detach()


def weight_int_and_scale(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric int8: (W_int as float tensor, s_w [Co])."""
    flat = w.detach().reshape(w.shape[0], -1)
    s = flat.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    shape = (-1,) + (1,) * (w.dim() - 1)
    w_int = torch.clamp(torch.round(w.detach() / s.reshape(shape)), -127, 127)
    return w_int, s


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """s_w[c]·W_int[c] forward (as the exported file holds it), identity gradient to w."""
    w_int, s = weight_int_and_scale(w)
    shape = (-1,) + (1,) * (w.dim() - 1)
    wq = s.reshape(shape) * w_int
    return w + (wq - w).detach()


class QAct(nn.Module):
    """ReLU during the float warm-up; QCFS quantized activation with a trained clip in QAT."""

    def __init__(self, levels: int, init_clip: float) -> None:
        super().__init__()
        self.levels = levels
        self.clip = nn.Parameter(torch.tensor(float(init_clip)))
        self.quant = False

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if not self.quant:
            return nnf.relu(z)
        q = self.levels
        g = self.clip.clamp_min(1e-3)
        # Same operation order as numpy_qann_forward: floor(z*Q/γ + 0.5), then (γ/Q)·n.
        u = torch.clamp(z * q / g, 0.0, float(q))
        n = ste_floor(u + 0.5)
        return (g / q) * n


class QConv(nn.Conv2d):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.quant = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = fake_quant_weight(self.weight) if self.quant else self.weight
        return nnf.conv2d(x, w, self.bias, self.stride, self.padding)


class QLinear(nn.Linear):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.quant = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = fake_quant_weight(self.weight) if self.quant else self.weight
        return nnf.linear(x, w, self.bias)


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = QConv(1, 16, 3, padding=1)
        self.act1 = QAct(8, INIT_CLIP)
        self.conv2 = QConv(16, 32, 3, padding=1)
        self.act2 = QAct(4, INIT_CLIP)
        self.conv3 = QConv(32, 32, 3, padding=1)
        self.act3 = QAct(4, INIT_CLIP)
        self.fc1 = QLinear(128, 64)
        self.act4 = QAct(8, INIT_CLIP)
        self.fc2 = QLinear(64, 10)

    def synaptic(self) -> list[tuple[str, nn.Module, QAct | None]]:
        """(file layer name, layer, its activation) in order."""
        return [
            ("conv1", self.conv1, self.act1),
            ("conv2", self.conv2, self.act2),
            ("conv3", self.conv3, self.act3),
            ("fc1", self.fc1, self.act4),
            ("fc2", self.fc2, None),
        ]

    def set_quant(self, on: bool) -> None:
        for m in self.modules():
            if hasattr(m, "quant"):
                m.quant = on

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.conv1(x))
        x = self.act2(self.conv2(x))
        x = nnf.avg_pool2d(x, 2, 2)
        x = self.act3(self.conv3(x))
        x = nnf.avg_pool2d(x, 2, 2)
        x = torch.flatten(x, 1)
        x = self.act4(self.fc1(x))
        return self.fc2(x)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def to_input(codes: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Codes 0..16 -> real input values q0/16."""
    return torch.from_numpy(codes.astype(np.float64) / INPUT_LEVELS).to(dtype)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    model.eval()
    return model(x).argmax(dim=1).numpy()


def run_epochs(
    model: DigitsCNN,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
) -> None:
    steps_per_epoch = math.ceil(len(x) / BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps_per_epoch))
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


def train(
    x_tr: torch.Tensor, y_tr: torch.Tensor, epochs: int, seed: int
) -> tuple[DigitsCNN, DigitsCNN]:
    """Float warm-up, then QAT; returns (float model after warm-up, QAT model)."""
    gen = torch.Generator().manual_seed(seed)
    model = DigitsCNN()
    weights = [p for n, p in model.named_parameters() if not n.endswith(".clip")]
    clips = [p for n, p in model.named_parameters() if n.endswith(".clip")]
    ep_float = max(1, round(epochs * FLOAT_FRACTION))
    ep_qat = max(1, epochs - ep_float)

    opt = torch.optim.Adam(weights, lr=LR_FLOAT)
    run_epochs(model, x_tr, y_tr, ep_float, opt, gen)
    float_model = DigitsCNN()
    float_model.load_state_dict(model.state_dict())

    model.set_quant(True)
    opt = torch.optim.Adam([{"params": weights, "lr": LR_QAT}, {"params": clips, "lr": LR_CLIP}])
    run_epochs(model, x_tr, y_tr, ep_qat, opt, gen)
    return float_model, model


# --------------------------------------------------------------------------------------------
# Export and independent numpy re-evaluation
# --------------------------------------------------------------------------------------------


def export(model: DigitsCNN, meta: dict[str, object]) -> ir.Network:
    """Build the neurosim IR from a (float64) QAT model."""
    params: dict[str, dict[str, object]] = {}
    for name, mod, act in model.synaptic():
        w_int, s = weight_int_and_scale(mod.weight.detach().double())
        params[name] = {
            "weight": w_int.numpy().astype(np.int8),
            "weight_scale": s.numpy().astype(np.float64),
            "bias": mod.bias.detach().double().numpy().astype(np.float64),
            "act": None
            if act is None
            else ir.ActQuant(levels=act.levels, clip=float(act.clip.detach())),
        }
    layers = [
        ir.Input(name="input", shape=(1, 8, 8), scale=1 / INPUT_LEVELS, levels=INPUT_LEVELS),
        ir.Conv2d(name="conv1", inputs=("input",), stride=1, padding=1, **params["conv1"]),
        ir.Conv2d(name="conv2", inputs=("conv1",), stride=1, padding=1, **params["conv2"]),
        ir.AvgPool2d(name="pool1", inputs=("conv2",), kernel=2, stride=2),
        ir.Conv2d(name="conv3", inputs=("pool1",), stride=1, padding=1, **params["conv3"]),
        ir.AvgPool2d(name="pool2", inputs=("conv3",), kernel=2, stride=2),
        ir.Flatten(name="flatten", inputs=("pool2",)),
        ir.Linear(name="fc1", inputs=("flatten",), **params["fc1"]),
        ir.Linear(name="fc2", inputs=("fc1",), **params["fc2"]),
    ]
    return ir.Network(layers=tuple(layers), kind="qann", name="digits_cnn", meta=meta)


def _act_np(z: np.ndarray, act: ir.ActQuant | None) -> np.ndarray:
    if act is None:
        return z
    q, g = int(act.levels), float(act.clip)
    n = np.clip(np.floor(z * q / g + 0.5), 0, q)
    return (g / q) * n


def _windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """[N, C, H, W] -> [N, C, Ho, Wo, k, k]."""
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def numpy_qann_forward(net: ir.Network, codes: np.ndarray) -> np.ndarray:
    """Logits of a quantized ANN in float64 numpy, from the IR alone (semantics: see top)."""
    vals: dict[str, np.ndarray] = {}
    for lay in net.layers:
        src = vals[lay.inputs[0]] if lay.inputs else None
        if isinstance(lay, ir.Input):
            out = codes.astype(np.float64) * float(lay.scale)
        elif isinstance(lay, ir.Conv2d):
            w = lay.weight.astype(np.float64) * np.asarray(lay.weight_scale)[:, None, None, None]
            p = lay.padding
            xp = np.pad(src, ((0, 0), (0, 0), (p, p), (p, p)))
            win = _windows(xp, w.shape[2], lay.stride)
            z = np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
            if lay.bias is not None:
                z = z + np.asarray(lay.bias, np.float64)[None, :, None, None]
            out = _act_np(z, lay.act)
        elif isinstance(lay, ir.Linear):
            w = lay.weight.astype(np.float64) * np.asarray(lay.weight_scale)[:, None]
            z = src @ w.T
            if lay.bias is not None:
                z = z + np.asarray(lay.bias, np.float64)[None, :]
            out = _act_np(z, lay.act)
        elif isinstance(lay, ir.AvgPool2d):
            out = _windows(src, lay.kernel, lay.stride).mean(axis=(-2, -1))
        elif isinstance(lay, ir.Flatten):
            out = src.reshape(src.shape[0], -1)
        else:
            raise TypeError(f"numpy_qann_forward: unsupported layer {lay.op}")
        vals[lay.name] = out
    return vals[net.output.name]


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out-dir", default="neurosim/data", type=Path)
    ap.add_argument("--epochs", default=100, type=int, help="float warm-up + QAT epochs")
    ap.add_argument("--seed", default=0, type=int, help="split random_state and torch seed")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

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
    t_tr = torch.from_numpy(y_tr)

    float_model, qat_model = train(x_tr, t_tr, args.epochs, args.seed)
    t_train = time.perf_counter() - t0

    def acc(pred: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(pred == y))

    float_model.set_quant(False)
    acc_float = (acc(predict(float_model, x_tr), y_tr), acc(predict(float_model, x_te), y_te))
    pred32_te = predict(qat_model, x_te)
    acc_q32 = (acc(predict(qat_model, x_tr), y_tr), acc(pred32_te, y_te))
    qat64 = copy.deepcopy(qat_model).double()
    pred64_tr = predict(qat64, to_input(c_tr, torch.float64))
    pred64_te = predict(qat64, to_input(c_te, torch.float64))
    acc_q64 = (acc(pred64_tr, y_tr), acc(pred64_te, y_te))

    meta: dict[str, object] = {
        "dataset": "sklearn digits",
        "trained_by": "scripts/train_digits.py",
        "seed": args.seed,
        "epochs": args.epochs,
        "split": f"train_test_split(test_size=0.3, stratify=y, random_state={args.seed})",
        "test_set": "digits_test.npz",
        "n_test": len(c_te),
    }
    net = export(qat64, meta)
    np_tr = numpy_qann_forward(net, c_tr).argmax(axis=1)
    np_te = numpy_qann_forward(net, c_te).argmax(axis=1)
    acc_np = (acc(np_tr, y_tr), acc(np_te, y_te))

    print(f"{'model':<34} {'train':>7} {'test':>7}")
    for what, (a_tr, a_te) in (
        ("float (after warm-up, ReLU)", acc_float),
        ("QAT fake-quant, torch float32", acc_q32),
        ("QAT fake-quant, torch float64", acc_q64),
        ("exported qANN, numpy float64", acc_np),
    ):
        print(f"{what:<34} {a_tr:>7.2%} {a_te:>7.2%}")
    print("layer  Q  gamma")
    for name, _, act in qat_model.synaptic():
        if act is not None:
            print(f"{name:<6} {act.levels}  {float(act.clip.detach()):.4f}")
    dis_te = int(np.sum(np_te != pred64_te))
    dis_tr = int(np.sum(np_tr != pred64_tr))
    dis32 = int(np.sum(np_te != pred32_te))
    print(
        f"numpy vs torch-float64 prediction disagreements: test {dis_te}, train {dis_tr}; "
        f"numpy vs torch-float32 on test: {dis32}"
    )
    if dis_te > MAX_DISAGREE:
        raise SystemExit(
            f"export check failed: numpy re-evaluation disagrees with torch on "
            f"{dis_te} test images (> {MAX_DISAGREE}); nothing written"
        )
    if acc_np[1] < MIN_ACCURACY:
        print(f"WARNING: quantized test accuracy {acc_np[1]:.2%} < {MIN_ACCURACY:.0%}")

    net.meta.update(
        {
            "ann_test_accuracy": acc_np[1],
            "float_test_accuracy": acc_float[1],
            "qat_torch_test_accuracy": acc_q32[1],
        }
    )
    model_path = save_model(net, args.out_dir / "digits.qann.npz")
    test_path = args.out_dir / "digits_test.npz"
    np.savez_compressed(test_path, images=c_te.astype(np.uint8), labels=y_te.astype(np.int64))

    back = load_model(model_path)
    with np.load(test_path) as f:
        re_pred = numpy_qann_forward(back, f["images"]).argmax(axis=1)
        if not np.array_equal(re_pred, np_te) or not np.array_equal(f["labels"], y_te):
            raise SystemExit("read-back check failed: the written files do not reproduce")
    print(f"wrote {model_path} and {test_path}")
    print(f"runtime: training {t_train:.1f} s, total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
