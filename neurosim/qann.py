"""The quantized ANN's forward pass: the accuracy reference of every scheme.

Imports ``ir``, ``kernels`` and ``errors``. Semantics of a ``kind="qann"`` network: real
weight = weight_scale[c]·W_int; z = conv(a, W) + b; a = (γ/Q)·clip(round(z·Q/γ), 0, Q) (QCFS;
MT-SNN eq. 5, rounded half up, or half to even where ``ActQuant.rounding`` says so); average
pooling averages, max pooling takes the window's maximum; the input's real value is
scale·code.

Two evaluations. ``forward`` is plain float64 numpy and keeps every layer's levels and
pre-activations (calibration, tests). ``predict`` (the reported ``ann_accuracy``) gives the
logits and classes of the same network evaluated exactly — real arithmetic on its float64
parameters — in batches of ``PREDICT_BATCH`` samples, so its memory stays bounded:

* a layer reading integer levels × one real step (the input codes, a quantized activation,
  their sums through pooling) has z = (weight_scale[c]·step)·Σ W_int·level + b: the integer
  sums come from ``kernels.conv2d`` / ``linear`` (a float32 GEMM where |Σ| < 2^24 proves it
  exact, else an integer accumulator), the affine part is float64;
* a level is rounded from that float64 value unless z·Q/γ lies within 1e-9 (relative) of a
  rounding boundary; there it is recomputed in rational arithmetic (``fractions``). Such ties
  are not rare: a clip calibrated on data sits exactly on some input's z, and every input
  with the same integer sum meets it again. ``forward`` rounds ties by the order of its
  float sums, so the two can differ there (and only there);
* residual sums, pooling (average and max) and flattening keep this form; any other layer
  (a conv reading a conv without activation) falls back to ``forward``'s float64 arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError
from neurosim.kernels import affine_levels, conv2d, linear, max_abs, sum_pool2d

PREDICT_BATCH = 32
"""Samples ``predict`` evaluates together: its memory is that of this many samples' largest
activations (ResNet-18 CIFAR: 14 MiB peak; VGG-16 ImageNet: ~0.4 GiB), not of every sample's.
Each batch repeats every layer's per-call work (weight transposes, thread split, measuring its
input): on ResNet-18 CIFAR ×64 the reference took 0.81× the time of batches of 16 (64: 0.90×
again, at twice the memory)."""


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


_TIE_TOLERANCE = 1e-9
"""Relative distance of z·Q/γ from a rounding boundary below which ``predict`` rounds in
rational arithmetic (float64 sums of a few terms err by ~1e-15 relative)."""


@dataclass(frozen=True, eq=False)
class QannPrediction:
    """Logits and classes of a quantized-ANN run (``predict``)."""

    logits: np.ndarray
    """float64 [batch, classes]."""
    predictions: np.ndarray
    """int64 [batch]."""


def predict(
    network: ir.Network, codes: np.ndarray, *, batch_size: int = PREDICT_BATCH
) -> QannPrediction:
    """Logits and classes of a quantized ANN on input codes [batch, *input_shape] (real images
    are quantized first, as in ``forward``),
    evaluated exactly from the integer levels, ``batch_size`` samples at a time (see the
    module docstring); a layer's tensors are dropped once its last reader has run."""
    if network.kind != "qann":
        raise ModelError(f"qann.predict needs a quantized ANN, got kind '{network.kind}'")
    inp = network.input
    codes = inp.quantize(np.asarray(codes))
    if codes.ndim < 1 or codes.shape[1:] != network.shapes[inp.name]:
        raise ModelError(
            f"inputs have shape {codes.shape[1:]} per sample, layer "
            f"'{inp.name}' expects {network.shapes[inp.name]}"
        )
    if batch_size < 1:
        raise ModelError(f"batch_size must be >= 1, got {batch_size}")
    last = {lay.name: i for i, lay in enumerate(network.layers)}
    for i, lay in enumerate(network.layers):
        last.update((src, i) for src in lay.inputs)
    consts: dict[tuple[str, Fraction | str], tuple | int] = {}
    parts = [
        _predict_batch(network, codes[start : start + batch_size], last, consts)
        for start in range(0, len(codes), batch_size)
    ]
    shape = (0, *network.shapes[network.output.name])
    logits = np.concatenate(parts) if parts else np.zeros(shape, np.float64)
    return QannPrediction(logits=logits, predictions=np.argmax(logits, axis=1).astype(np.int64))


@dataclass(frozen=True, eq=False)
class _Levels:
    """Integer levels [batch, ...] times one exact real step."""

    levels: np.ndarray
    step: Fraction

    def real(self) -> np.ndarray:
        return self.levels * float(self.step)

    def exact(self, index: tuple[int, ...]) -> Fraction:
        return int(self.levels[index]) * self.step

    def affine_terms(self) -> list[tuple[np.ndarray, float, float]]:
        return [(self.levels, float(self.step), 0.0)]


@dataclass(frozen=True, eq=False)
class _Affine:
    """A synaptic layer's output sums [batch, ...]·(weight·step) + bias per feature: the
    layer's float64 weight scales and biases (broadcast over ``sums.shape[1:]``), one exact
    step, and the correctly rounded float64 gains and biases; the exact Fractions are formed
    only where a level is near a rounding boundary (``exact``)."""

    sums: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    step: Fraction
    gain_f: np.ndarray

    @classmethod
    def of(cls, sums: np.ndarray, weight: np.ndarray, bias: np.ndarray, step: Fraction) -> _Affine:
        return cls(sums, weight, bias, step, _rounded_products(weight, step))

    def real(self) -> np.ndarray:
        z = self.sums * self.gain_f
        z += self.bias
        return z

    def exact(self, index: tuple[int, ...]) -> Fraction:
        feature = index[1:]
        weight = float(np.broadcast_to(self.weight, self.sums.shape[1:])[feature])
        bias = float(np.broadcast_to(self.bias, self.sums.shape[1:])[feature])
        return int(self.sums[index]) * (Fraction(weight) * self.step) + Fraction(bias)

    def affine_terms(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        per_channel = (self.sums.shape[1],)
        gain = np.broadcast_to(self.gain_f, self.sums.shape[1:])
        bias = np.broadcast_to(self.bias, self.sums.shape[1:])
        if gain.ndim > 1:  # constant over the positions of a channel (conv outputs)
            gain, bias = (
                gain.reshape((*per_channel, -1))[:, 0],
                bias.reshape((*per_channel, -1))[:, 0],
            )
        return [(self.sums, gain, bias)]

    def pooled(self, kernel: int, stride: int) -> _Affine:
        """Average pooling: (Σ_window sums)·weight·step/k² + bias."""
        sums = sum_pool2d(self.sums[None], kernel, stride)[0]
        return _Affine.of(sums, self.weight, self.bias, self.step / kernel**2)

    def flat(self) -> _Affine:
        shape = self.sums.shape[1:]
        flat = self.sums.reshape(self.sums.shape[0], -1)
        weight, bias, gain = (
            np.broadcast_to(a, shape).reshape(-1) for a in (self.weight, self.bias, self.gain_f)
        )
        return _Affine(flat, weight, bias, self.step, gain)


def _rounded_products(values: np.ndarray, step: Fraction) -> np.ndarray:
    """float64 of value·step for each float64 value, correctly rounded (Python's integer true
    division rounds exactly; as ``float(Fraction(value) * step)`` without forming Fractions)."""
    num, den = step.numerator, step.denominator
    out = np.empty(values.shape, np.float64)
    flat = out.reshape(-1)
    for i, value in enumerate(values.reshape(-1).tolist()):
        a, b = value.as_integer_ratio()
        flat[i] = (a * num) / (b * den)
    return out


@dataclass(frozen=True, eq=False)
class _Sum:
    """A residual Add of exact terms."""

    terms: tuple[_Levels | _Affine, ...]

    def real(self) -> np.ndarray:
        return sum(t.real() for t in self.terms)

    def exact(self, index: tuple[int, ...]) -> Fraction:
        return sum((t.exact(index) for t in self.terms), Fraction(0))

    def affine_terms(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return [term for t in self.terms for term in t.affine_terms()]


_Value = _Levels | _Affine | _Sum | np.ndarray
"""A tensor of ``predict``: exact forms, or float64 values (the fallback)."""


def _predict_batch(
    network: ir.Network, codes: np.ndarray, last: dict[str, int], consts: dict
) -> np.ndarray:
    """float64 logits of one batch (``predict``); ``last``: layer → index of its last reader;
    ``consts``: each synaptic layer's weight scales, biases, step and float64 gains, and its
    max |W|, kept across batches."""
    vals: dict[str, _Value] = {}
    for i, lay in enumerate(network.layers):
        value = _layer_value(lay, vals, codes, consts)
        act = getattr(lay, "act", None)
        if act is not None:
            value = _quantized(value, act)
        vals[lay.name] = value
        for src in set(lay.inputs):
            if last[src] == i:
                del vals[src]
    out = vals[network.output.name]
    return out if isinstance(out, np.ndarray) else out.real()


def _quantized(value: _Value, act: ir.ActQuant) -> _Levels:
    """The activation's levels, rounded exactly where float64 cannot decide (near ties)."""
    scale = act.levels / act.clip
    if isinstance(value, np.ndarray):
        levels = np.clip(ir.round_levels(value * scale, act.rounding), 0, act.levels)
        return _Levels(_narrow(levels), Fraction(act.clip) / act.levels)
    levels, near = affine_levels(value.affine_terms(), scale, act.levels, _TIE_TOLERANCE)
    ratio = Fraction(act.levels) / Fraction(act.clip)
    for index in map(tuple, near.tolist()):
        level = _round_exact(value.exact(index) * ratio, act.rounding)
        levels[index] = min(max(level, 0), act.levels)
    return _Levels(levels, Fraction(act.clip) / act.levels)


def _round_exact(x: Fraction, rounding: str) -> int:
    """``x`` rounded to an integer by ``rounding`` (``ir.ROUNDING_MODES``), exactly."""
    low = math.floor(x)
    rest = x - low
    if rest != Fraction(1, 2):
        return low + int(rest > Fraction(1, 2))
    return low + 1 if rounding == "half_up" else low + (low % 2)


def _narrow(levels: np.ndarray) -> np.ndarray:
    """Integer levels in the narrowest of uint8, int16 and int64 that holds them (the
    kernels move fewer bytes)."""
    lo, hi = int(levels.min(initial=0)), int(levels.max(initial=0))
    for dtype in (np.uint8, np.int16):
        if np.iinfo(dtype).min <= lo and hi <= np.iinfo(dtype).max:
            return levels.astype(dtype)
    return levels.astype(np.int64)


def _layer_value(lay: ir.Layer, vals: dict[str, _Value], codes: np.ndarray, consts: dict) -> _Value:
    """One layer's output in the most exact form its inputs allow."""
    if isinstance(lay, ir.Input):
        return _Levels(_narrow(codes), Fraction(lay.scale))
    ins = [vals[s] for s in lay.inputs]
    x = ins[0] if ins else None
    if isinstance(lay, ir.Conv2d | ir.Linear) and isinstance(x, _Levels):
        w_key = (lay.name, "weight_max")  # max |W|, measured once (not once per batch)
        if w_key not in consts:
            consts[w_key] = max_abs(lay.weight)
        if isinstance(lay, ir.Conv2d):
            geometry = (lay.stride, lay.padding)
            shape = {"groups": lay.groups, "dilation": lay.dilation}
            sums = conv2d(x.levels[None], lay.weight, *geometry, **shape, weight_max=consts[w_key])
            sums = sums[0]
        else:
            sums = linear(x.levels[None], lay.weight, weight_max=consts[w_key])[0]
        key = (lay.name, x.step)
        if key not in consts:
            channels = lay.out_channels
            per = (channels,) + (1,) * (sums.ndim - 2)
            scale = np.ones(channels) if lay.weight_scale is None else lay.weight_scale
            bias = np.zeros(channels) if lay.bias is None else lay.bias
            weight = np.broadcast_to(np.asarray(scale, np.float64), channels).reshape(per)
            offset = np.broadcast_to(np.asarray(bias, np.float64), channels).reshape(per)
            consts[key] = (weight, offset, x.step, _rounded_products(weight, x.step))
        return _Affine(sums, *consts[key])
    if isinstance(lay, ir.AvgPool2d) and isinstance(x, _Levels):
        pooled = sum_pool2d(x.levels[None], lay.kernel, lay.stride)[0]
        return _Levels(pooled, x.step / lay.kernel**2)
    if isinstance(lay, ir.AvgPool2d) and isinstance(x, _Affine):
        return x.pooled(lay.kernel, lay.stride)
    if isinstance(lay, ir.MaxPool2d) and isinstance(x, _Levels):  # levels >= 0: zero padding
        pooled = max_pool_float(x.levels, lay.kernel, lay.stride, lay.padding)
        return _Levels(pooled, x.step)
    if isinstance(lay, ir.Flatten) and isinstance(x, _Levels):
        return _Levels(x.levels.reshape(x.levels.shape[0], -1), x.step)
    if isinstance(lay, ir.Flatten) and isinstance(x, _Affine):
        return x.flat()
    if isinstance(lay, ir.Add) and not any(isinstance(v, np.ndarray) for v in ins):
        terms = tuple(t for v in ins for t in (v.terms if isinstance(v, _Sum) else (v,)))
        return _Sum(terms)
    real = {
        s: v if isinstance(v, np.ndarray) else v.real()
        for s, v in zip(lay.inputs, ins, strict=True)
    }
    return layer_preactivation(lay, real, codes)
