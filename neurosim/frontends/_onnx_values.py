"""What the ONNX importer knows about each tensor: constants (folded), quantized codes, real
values carried by a neurosim layer; node messages; batch-norm folding.

Imports ``ir`` and ``errors``; the ``onnx`` package is imported by the caller first.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError, UnsupportedError

_FOLDED = ("Constant", "Identity", "QuantizeLinear", "DequantizeLinear", "Clip")
"""Ops evaluated here when all their inputs are constants (weights, biases, their QDQ or
Brevitas' QCDQ: a Clip of the integer weight codes)."""

MAX_INITIALIZER_VALUES = 2**28
"""Most values an initializer may declare (its dims' product): checked before it is read, so a
damaged header that declares far more than the file holds is refused without allocating."""


@dataclass(frozen=True)
class Real:
    """A real-valued tensor: the output of neurosim layer ``layer`` (shape without batch)."""

    layer: str
    shape: tuple[int, ...]
    graph_input: bool = False
    """The float graph input itself (not yet quantized)."""
    quantized: bool = False
    """Input codes or activation levels (possibly pooled / flattened): ``lsb`` · integer."""
    relu: bool = False
    """A ReLU (or Clip with min 0) was applied to this pre-activation."""
    lo: float | None = None
    hi: float | None = None
    """A float Clip's ceiling on this pre-activation (``lo`` is 0 when set)."""
    requant: str | None = None
    """Name of a quantizer with a signed or offset range that re-quantized this value."""
    lsb: float = 0.0
    """Real value of one integer unit of a quantized tensor (pooling divides it by k²)."""
    units: int = 0
    """Largest integer value of a quantized tensor (levels; times k² after a sum pool)."""


@dataclass(frozen=True)
class Quantized:
    """The integer codes of a QuantizeLinear (narrowed by a QCDQ Clip), before dequantizing."""

    src: Real
    scale: float
    zero_point: int
    lo: int
    hi: int
    """Code range (the type's, or a Clip's)."""
    node: str


@dataclass(frozen=True)
class QTensor:
    """A constant's integer form: DequantizeLinear(q, scale, zero_point, axis) of a constant."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int
    node: str

    def int_weight(self) -> np.ndarray:
        """The integer weight: int8 when it fits, else int16 (ModelError beyond)."""
        q = self.q.astype(np.int64)
        lo, hi = int(q.min(initial=0)), int(q.max(initial=0))
        if -128 <= lo and hi <= 127:
            return q.astype(np.int8)
        if -32768 <= lo and hi <= 32767:
            return q.astype(np.int16)
        raise UnsupportedError(
            f"node '{self.node}': weights {lo}..{hi} do not fit 16 bits; neurosim weights "
            f"are int8 or int16"
        )

    def channel_scale(self, channels: int) -> np.ndarray:
        """float64 [channels]: one scale per output channel (a per-tensor scale repeated)."""
        s = np.asarray(self.scale, np.float64).reshape(-1)
        return np.full(channels, float(s[0])) if s.size == 1 else s.copy()

    def transposed(self) -> QTensor:
        """[in, out] → [out, in] (MatMul / Gemm transB=0); a per-column scale moves to axis 0."""
        return dataclasses.replace(self, q=self.q.T, axis=1 - self.axis % 2)


class NodeInfo:
    """A node with its display name, for messages that name the node and its op."""

    def __init__(self, node: Any, index: int, source: str) -> None:
        self.node = node
        self.index = index
        self.source = source
        self.name = node.name or f"{node.op_type}_{index}"

    def fail(self, msg: str) -> ModelError:
        return ModelError(f"{self.source}: node '{self.name}' ({self.node.op_type}): {msg}")

    def unsupported(self, msg: str) -> UnsupportedError:
        return UnsupportedError(f"{self.source}: node '{self.name}' ({self.node.op_type}): {msg}")

    def layer_name(self, taken: dict[str, Any]) -> str:
        """A readable, unique layer name from the node's name (``/conv1/Conv`` → ``conv1``)."""
        base = re.sub(r"[^0-9A-Za-z_.]+", ".", self.node.name).strip(".")
        base = (
            re.sub(
                r"\.(Conv|Gemm|MatMul|Add|AveragePool|GlobalAveragePool|MaxPool|Flatten|"
                r"Reshape|Squeeze)(_\d+)?$",
                "",
                base,
            )
            or self.node.op_type.lower()
        )
        name, k = base, 1
        while name in taken or name == "input":
            k += 1
            name = f"{base}_{k}"
        return name

    def square(self, a: dict[str, Any], key: str, default: int | None) -> int:
        """A 2-D attribute with equal values (strides, dilations, kernel_shape) as one int."""
        if key not in a:
            if default is None:
                raise self.unsupported(f"attribute {key} is required")
            return default
        v = [int(x) for x in a[key]]
        if len(v) != 2 or v[0] != v[1]:
            raise self.unsupported(f"{key} must be two equal values, got {v}")
        return v[0]


def attrs(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values."""
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def tensor_range(info: NodeInfo, dtype: Any) -> tuple[int, int]:
    """Code range (min, max) of a quantized type (numpy dtype or ONNX type number)."""
    import onnx

    if isinstance(dtype, int | np.integer) and not isinstance(dtype, bool):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(int(dtype))
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        info_ = np.iinfo(dtype)
        return int(info_.min), int(info_.max)
    if dtype.name in ("int4", "uint4", "int2", "uint2"):
        import ml_dtypes

        info_ = ml_dtypes.iinfo(dtype)
        return int(info_.min), int(info_.max)
    raise info.unsupported(
        f"quantized type {dtype.name} is not supported (int/uint 4, 8 or 16 bits)"
    )


class Constants:
    """Initializers and constant-folded nodes (Constant, Identity, Q/DQ of constants)."""

    def __init__(self, graph: Any, source: str) -> None:
        from onnx import numpy_helper

        self.source = source
        self.values: dict[str, np.ndarray] = {}
        for t in graph.initializer:
            n = math.prod(t.dims)
            if any(d < 0 for d in t.dims) or n > MAX_INITIALIZER_VALUES:
                raise ModelError(
                    f"{source}: initializer '{t.name}': dims {list(t.dims)}; at most "
                    f"{MAX_INITIALIZER_VALUES} values are read"
                )
            try:
                self.values[t.name] = numpy_helper.to_array(t)
            except Exception as exc:  # onnx raises ValueError, TypeError, KeyError, OSError...
                raise ModelError(
                    f"{source}: initializer '{t.name}' cannot be read ({type(exc).__name__}: "
                    f"{str(exc)[:200]})"
                ) from None
        self.qtensors: dict[str, QTensor] = {}

    def has(self, name: str) -> bool:
        return name in self.values

    def get(self, info: NodeInfo, i: int, what: str, *, raw: bool = False) -> np.ndarray:
        """Constant input ``i`` of a node (float64 unless ``raw``), or UnsupportedError."""
        name = info.node.input[i] if len(info.node.input) > i else ""
        if not name or name not in self.values:
            raise info.unsupported(f"input {i} ({what}) must be a constant, got '{name}'")
        v = self.values[name]
        if raw:
            return v
        if v.dtype.kind not in "fiu":
            v = v.astype(np.int64)
        return np.asarray(v, np.float64)

    def qtensor(self, info: NodeInfo, i: int) -> QTensor:
        """The integer form of weight input ``i``."""
        if i >= len(info.node.input) or not info.node.input[i]:
            raise info.fail(f"input {i} (the weight) is missing")
        name = info.node.input[i]
        if name in self.qtensors:
            return self.qtensors[name]
        if name in self.values:
            raise info.unsupported(
                f"weight '{name}' is a float tensor without a DequantizeLinear: neurosim imports "
                f"quantized (QDQ) graphs only, quantize the model first (docs/import.md)"
            )
        raise info.unsupported(f"weight '{name}' must be a constant (an initializer)")

    def fold(self, info: NodeInfo) -> bool:
        """Evaluate the node if it is a constant expression; True if it was."""
        node = info.node
        if node.op_type not in _FOLDED:
            return False
        ins = [n for n in node.input if n]
        if node.op_type != "Constant" and not all(n in self.values for n in ins):
            return False
        out = node.output[0]
        if node.op_type == "Constant":
            import onnx
            from onnx import numpy_helper

            a = {x.name: x for x in node.attribute}
            if "value" not in a:
                raise info.unsupported(f"only a 'value' tensor is supported, got {sorted(a)}")
            self.values[out] = numpy_helper.to_array(onnx.helper.get_attribute_value(a["value"]))
        elif node.op_type == "Identity":
            self.values[out] = self.values[ins[0]]
            if ins[0] in self.qtensors:
                self.qtensors[out] = self.qtensors[ins[0]]
        elif node.op_type == "Clip":
            x = self.values[ins[0]]
            a = attrs(node)
            lo, hi = a.get("min"), a.get("max")
            if len(node.input) > 1 and node.input[1]:
                lo = scalar(info, self.values[node.input[1]], "min")
            if len(node.input) > 2 and node.input[2]:
                hi = scalar(info, self.values[node.input[2]], "max")
            self.values[out] = np.clip(x, lo, hi).astype(x.dtype)
        else:
            self._fold_qdq(info, out)
        return True

    def _fold_qdq(self, info: NodeInfo, out: str) -> None:
        node = info.node
        a = attrs(node)
        if a.get("block_size", 0):
            raise info.unsupported("blocked quantization (block_size) is not supported")
        if len(node.input) < 2:
            raise info.fail("needs an input and a scale")
        x = self.values[node.input[0]]
        scale = np.asarray(self.values[node.input[1]], np.float64)
        has_zp = len(node.input) > 2 and node.input[2]
        axis = int(a.get("axis", 1))
        _along(info, x, scale, axis, "scale")
        if has_zp:
            _along(info, x, self.values[node.input[2]], axis, "zero point")
        if not np.all(np.isfinite(scale) & (scale > 0)):
            raise info.fail("scale must be finite and > 0")
        if node.op_type == "QuantizeLinear":
            zp = self.values[node.input[2]] if has_zp else np.zeros((), np.uint8)
            out_type = zp.dtype if has_zp or not a.get("output_dtype") else a["output_dtype"]
            lo, hi = tensor_range(info, out_type)
            x32 = np.asarray(x, np.float32)
            q = np.rint(x32 / _along(info, x32, scale.astype(np.float32), axis)).astype(np.float64)
            q = np.clip(q + _along(info, x32, zp.astype(np.float64), axis), lo, hi).astype(np.int64)
            self.values[out] = q.astype(zp.dtype) if has_zp else q
            return
        zp = (
            np.asarray(self.values[node.input[2]]).astype(np.int64)
            if has_zp
            else np.zeros(scale.shape, np.int64)
        )
        q = np.asarray(x).astype(np.int64)
        self.values[out] = (q - _along(info, q, zp, axis)) * _along(info, q, scale, axis)
        self.qtensors[out] = QTensor(q=q, scale=scale, zero_point=zp, axis=axis, node=info.name)


def _along(
    info: NodeInfo, x: np.ndarray, v: np.ndarray, axis: int, what: str = "scale"
) -> np.ndarray:
    """``v`` (one value, or one per entry of ``x`` along ``axis``) shaped to broadcast along
    ``axis`` of ``x``; ModelError naming the node for any other shape or axis."""
    v = np.asarray(v)
    if v.size == 1:
        return v.reshape(())
    n = np.ndim(x)
    if not -n <= axis < n or v.ndim != 1 or v.size != np.shape(x)[axis]:
        raise info.fail(
            f"{what} must be one value or one per entry along axis {axis} of a tensor of shape "
            f"{np.shape(x)}, got shape {v.shape}"
        )
    shape = [1] * n
    shape[axis % n] = v.size
    return v.reshape(shape)


def scalar(info: NodeInfo, v: Any, what: str) -> float | None:
    """One number (a Clip bound); None for an infinite bound (no bound), ModelError for a
    NaN or more than one value."""
    v = np.asarray(v)
    if v.size != 1 or v.dtype.kind not in "biuf":
        raise info.fail(f"{what} must be one number, got shape {v.shape} of {v.dtype}")
    value = float(v.reshape(()))
    if np.isnan(value):
        raise info.fail(f"{what} is NaN")
    return None if np.isinf(value) else value


def check_batch_norm(info: NodeInfo, channels: int, params: list[np.ndarray], eps: float) -> None:
    """ModelError unless gamma, beta, mean and var hold one value or one per channel, all
    finite, with var + epsilon > 0."""
    for key, p in zip(("scale", "B", "mean", "var"), params, strict=True):
        if p.size not in (1, channels) or not np.all(np.isfinite(p)):
            raise info.fail(f"{key} must hold 1 or {channels} finite values, got shape {p.shape}")
    if not (np.isfinite(eps) and np.all(params[3] + eps > 0)):
        raise info.fail(f"var + epsilon must be > 0 (epsilon {eps})")


def lossless_requant(src: Real, scale: float, n_lo: int, n_hi: int) -> bool:
    """Whether quantizing ``src`` (multiples of ``src.lsb``, 0..units) to ``scale`` with codes
    n_lo..n_hi changes nothing: lsb/scale is a whole number m and m·units fits the range."""
    m = src.lsb / scale
    whole = round(m)
    return whole >= 1 and abs(m - whole) <= 1e-9 * m and n_lo <= 0 and whole * src.units <= n_hi


def fold_batch_norm(
    lay: ir.Conv2d | ir.Linear,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
) -> ir.Conv2d | ir.Linear:
    """``lay`` followed by y = (z − mean)·a + beta, a = gamma/√(var + eps), as one layer:
    weight scale s·|a| (the integer weights negated where a < 0, zeroed where a = 0) and
    bias (b − mean)·a + beta. Exact in real arithmetic."""
    co = lay.out_channels
    a = np.broadcast_to(gamma / np.sqrt(var + eps), (co,)).astype(np.float64)
    b = np.zeros(co) if lay.bias is None else np.asarray(lay.bias, np.float64)
    bias = (b - np.broadcast_to(mean, (co,))) * a + np.broadcast_to(beta, (co,))
    w = lay.weight
    sign = np.sign(a).reshape((-1,) + (1,) * (w.ndim - 1))
    if np.any(a < 0) and w.dtype == np.int8 and np.any(w == -128):
        w = w.astype(np.int16)
    w = (w * sign).astype(w.dtype)
    scale = np.where(a != 0, np.asarray(lay.weight_scale) * np.abs(a), 1.0)
    return dataclasses.replace(lay, weight=w, weight_scale=scale, bias=bias)
