"""Plain-numpy float64 forward of a quantized ANN: the accuracy reference of every scheme.

Imports ``ir`` and ``errors`` only. Semantics of a ``kind="qann"`` network: real weight =
weight_scale[c]·W_int; z = conv(a, W) + b; a = (γ/Q)·clip(round(z·Q/γ), 0, Q) (QCFS; MT-SNN eq. 5,
rounded half up, or half to even where ``ActQuant.rounding`` says so); average pooling averages,
max pooling takes the window's maximum; the input's real value is scale·code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError


@dataclass(frozen=True, eq=False)
class QannResult:
    """Logits, predictions and every activation's integer level of a quantized-ANN run."""

    logits: np.ndarray
    """float64 [batch, classes]."""
    predictions: np.ndarray
    """int64 [batch]."""
    levels: dict[str, np.ndarray]
    """Layer name → int64 levels 0..Q [batch, *shape] of each quantized activation."""
    preactivations: dict[str, np.ndarray]
    """Layer name → float64 z [batch, *shape] of each quantized activation (for calibration)."""


def quantize(z: np.ndarray, act: ir.ActQuant) -> np.ndarray:
    """Integer level clip(round(z·Q/γ), 0, Q) of the quantized ReLU (QCFS; MT-SNN eq. 5),
    rounded by ``act.rounding`` (half up natively, half to even for ONNX / torch graphs)."""
    q = ir.round_levels(z * (act.levels / act.clip), act.rounding)
    return np.clip(q, 0, act.levels).astype(np.int64)


def conv2d_float(
    x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int = 1, dilation: int = 1
) -> np.ndarray:
    """float64 cross-correlation [B, Ci, H, W] * [Co, Ci/groups, Kh, Kw] → [B, Co, Ho, Wo]
    (PyTorch semantics for groups and dilation)."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    ekh, ekw = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (ekh, ekw), axis=(2, 3))
    win = win[:, :, ::stride, ::stride, ::dilation, ::dilation]
    cig, cog = w.shape[1], w.shape[0] // groups
    parts = [
        np.tensordot(
            win[:, g * cig : (g + 1) * cig], w[g * cog : (g + 1) * cog], axes=([1, 4, 5], [1, 2, 3])
        )
        for g in range(groups)
    ]
    out = parts[0] if groups == 1 else np.concatenate(parts, axis=3)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def avg_pool_float(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Average pooling without padding, [B, C, H, W] → [B, C, Ho, Wo]."""
    win = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(2, 3))
    return win[:, :, ::stride, ::stride].mean(axis=(4, 5))


def max_pool_float(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Max pooling with zero padding (inputs are activations >= 0), [B, C, H, W] → pooled."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(2, 3))
    return win[:, :, ::stride, ::stride].max(axis=(4, 5))


def layer_preactivation(
    lay: ir.Layer, vals: dict[str, np.ndarray], codes: np.ndarray
) -> np.ndarray:
    """Real pre-activation z of one layer [batch, *shape] from its inputs' real values."""
    if isinstance(lay, ir.Input):
        return codes.astype(np.float64) * lay.scale
    if isinstance(lay, ir.Conv2d | ir.Linear):
        w = lay.weight.astype(np.float64) * np.asarray(lay.weight_scale).reshape(
            (-1,) + (1,) * (lay.weight.ndim - 1)
        )
        x = vals[lay.inputs[0]]
        if isinstance(lay, ir.Conv2d):
            z = conv2d_float(x, w, lay.stride, lay.padding, lay.groups, lay.dilation)
            bshape: tuple[int, ...] = (1, -1, 1, 1)
        else:
            z = x @ w.T
            bshape = (1, -1)
        if lay.bias is not None:
            z = z + np.asarray(lay.bias, dtype=np.float64).reshape(bshape)
        return z
    if isinstance(lay, ir.AvgPool2d):
        return avg_pool_float(vals[lay.inputs[0]], lay.kernel, lay.stride)
    if isinstance(lay, ir.MaxPool2d):
        return max_pool_float(vals[lay.inputs[0]], lay.kernel, lay.stride, lay.padding)
    if isinstance(lay, ir.Flatten):
        x = vals[lay.inputs[0]]
        return x.reshape(x.shape[0], -1)
    if isinstance(lay, ir.Add):
        return sum(vals[s] for s in lay.inputs)
    raise ModelError(f"layer '{lay.name}': op '{lay.op}' has no quantized-ANN forward")


def forward(network: ir.Network, codes: np.ndarray) -> QannResult:
    """Evaluate a quantized ANN on input codes [batch, *input_shape] (real images are
    quantized first by the input layer's scale, levels and rounding: ``ir.Input.quantize``)."""
    if network.kind != "qann":
        raise ModelError(f"qann.forward needs a quantized ANN, got kind '{network.kind}'")
    inp = network.input
    codes = inp.quantize(np.asarray(codes))
    if codes.shape[1:] != network.shapes[inp.name]:
        raise ModelError(
            f"inputs have shape {codes.shape[1:]} per sample, layer "
            f"'{inp.name}' expects {network.shapes[inp.name]}"
        )
    vals: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}
    pre: dict[str, np.ndarray] = {}
    for lay in network.layers:
        z = layer_preactivation(lay, vals, codes)
        act = getattr(lay, "act", None)
        if act is not None:
            pre[lay.name] = z
            levels[lay.name] = quantize(z, act)
            z = levels[lay.name] * (act.clip / act.levels)
        vals[lay.name] = z
    logits = vals[network.output.name]
    return QannResult(
        logits=logits,
        predictions=np.argmax(logits, axis=1).astype(np.int64),
        levels=levels,
        preactivations=pre,
    )
