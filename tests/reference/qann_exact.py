"""Exact truth for ``neurosim.qann.predict``: the quantized ANN in rational arithmetic.

Every float64 parameter (weight scale, bias, input scale, clip) is read as the exact rational
it stores (``fractions.Fraction``), and every sum, product and rounding is exact: numpy
object arrays of Fractions, direct loops, slow on purpose. Written from the definitions in
``neurosim.qann``'s docstring, not from its code. Groups and dilation are not covered.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from neurosim import ir


def _fractions(values, shape=None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    out = np.array([Fraction(float(v)) for v in arr.reshape(-1)], dtype=object)
    return out.reshape(arr.shape if shape is None else shape)


def _weights(lay: ir.Conv2d | ir.Linear) -> np.ndarray:
    """Exact real weights W_int·weight_scale[o] (object array)."""
    w = lay.weight.astype(np.int64).astype(object)
    scale = 1.0 if lay.weight_scale is None else lay.weight_scale
    per = _fractions(np.broadcast_to(scale, (lay.out_channels,)))
    return w * per.reshape((-1,) + (1,) * (w.ndim - 1))


def _bias(lay: ir.Conv2d | ir.Linear) -> np.ndarray:
    if lay.bias is None:
        return np.array([Fraction(0)] * lay.out_channels, dtype=object)
    return _fractions(lay.bias)


def _conv(x: np.ndarray, lay: ir.Conv2d) -> np.ndarray:
    assert lay.groups == 1
    assert lay.dilation == 1
    w = _weights(lay)
    p, s = lay.padding, lay.stride
    batch, channels, height, width = x.shape
    xp = np.full((batch, channels, height + 2 * p, width + 2 * p), Fraction(0), dtype=object)
    xp[:, :, p : p + height, p : p + width] = x
    kh, kw = w.shape[2:]
    oh, ow = (height + 2 * p - kh) // s + 1, (width + 2 * p - kw) // s + 1
    out = np.empty((batch, lay.out_channels, oh, ow), dtype=object)
    bias = _bias(lay)
    for b in range(batch):
        for o in range(lay.out_channels):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[b, :, i * s : i * s + kh, j * s : j * s + kw]
                    out[b, o, i, j] = sum((patch * w[o]).reshape(-1), bias[o])
    return out


def _quantize(z: np.ndarray, act: ir.ActQuant) -> np.ndarray:
    ratio = Fraction(act.levels) / Fraction(act.clip)

    def level(v: Fraction) -> int:
        return min(max(math.floor(v * ratio + Fraction(1, 2)), 0), act.levels)

    return np.frompyfunc(level, 1, 1)(z).astype(np.int64)


def forward(
    network: ir.Network, codes: np.ndarray, *, until: str | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(logits, levels, pre-activations): exact Fractions (object arrays) and int64 levels;
    ``until``: stop after that layer (its output is returned instead of the logits)."""
    vals: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}
    pre: dict[str, np.ndarray] = {}
    for lay in network.layers:
        if isinstance(lay, ir.Input):
            z = np.asarray(codes).astype(np.int64).astype(object) * Fraction(lay.scale)
        elif isinstance(lay, ir.Conv2d):
            z = _conv(vals[lay.inputs[0]], lay)
        elif isinstance(lay, ir.Linear):
            x = vals[lay.inputs[0]]
            z = np.dot(x, _weights(lay).T) + _bias(lay)
        elif isinstance(lay, ir.AvgPool2d):
            x = vals[lay.inputs[0]]
            k, s = lay.kernel, lay.stride
            oh, ow = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
            z = np.empty((*x.shape[:2], oh, ow), dtype=object)
            for i in range(oh):
                for j in range(ow):
                    window = x[:, :, i * s : i * s + k, j * s : j * s + k]
                    z[:, :, i, j] = window.sum(axis=(2, 3)) / (k * k)
        elif isinstance(lay, ir.Flatten):
            x = vals[lay.inputs[0]]
            z = x.reshape(x.shape[0], -1)
        elif isinstance(lay, ir.Add):
            z = sum(vals[s] for s in lay.inputs)
        else:
            raise NotImplementedError(lay.op)
        act = getattr(lay, "act", None)
        if act is not None:
            pre[lay.name] = z
            levels[lay.name] = _quantize(z, act)
            z = levels[lay.name].astype(object) * (Fraction(act.clip) / act.levels)
        vals[lay.name] = z
        if lay.name == until:
            break
    return vals[until or network.output.name], levels, pre
