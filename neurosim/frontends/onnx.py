"""ONNX importer: quantized (QDQ / Brevitas QCDQ) graphs → a neurosim quantized ANN.

Imports ``ir``, ``errors`` and ``frontends._onnx_values``; the ``onnx`` package (the ``onnx``
extra) is imported when a file is read. Every supported pattern is exact in real arithmetic:

* the graph input's QuantizeLinear (→ Clip) → DequantizeLinear is the ``Input`` layer: scale s,
  levels = the code range (which must start at 0), rounding half to even;
* a weight is DequantizeLinear(int W, per-channel or per-tensor scale, zero point 0) of a
  constant (or QuantizeLinear → DequantizeLinear of a float constant, re-quantized here);
* QuantizeLinear (→ Clip) → DequantizeLinear after a Conv / Gemm / MatMul(+Add) / Add, with a
  Relu or Clip(0, c) or an unsigned code range, is the layer's activation: levels
  Q = top code − zero point (≤ round(c/s)), clip γ = Q·s, rounding half to even;
* BatchNormalization after a Conv (or Gemm) is folded into its weight scales and bias;
* AveragePool / GlobalAveragePool / MaxPool / Flatten / Reshape / Squeeze become pooling and
  flatten layers; a quantizer after them is accepted only when it is lossless.

See docs/import.md for the list of ops and attributes and what exactness means.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError, UnsupportedError
from neurosim.frontends._onnx_shapes import _ShapeOps
from neurosim.frontends._onnx_values import (
    Constants,
    NodeInfo,
    QTensor,
    Quantized,
    Real,
    attrs,
    check_batch_norm,
    fold_batch_norm,
    lossless_requant,
    scalar,
    tensor_range,
)

SUPPORTED_OPS = (
    "QuantizeLinear",
    "DequantizeLinear",
    "Clip",
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Relu",
    "BatchNormalization",
    "AveragePool",
    "GlobalAveragePool",
    "MaxPool",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Dropout",
    "Identity",
    "Constant",
)
"""ONNX ops the importer reads (default domain; Q/DQ also from ``com.microsoft``)."""

ROUNDING = "half_even"
"""QuantizeLinear rounds half to even (ONNX spec); recorded on every quantizer imported."""

_DOMAINS = ("", "ai.onnx")


def load(path: str | os.PathLike, **options: Any) -> ir.Network:
    """Read an ONNX file as a quantized ANN (``kind="qann"``); the registry's ``.onnx`` loader.

    Raises
    ------
    ModelError
        Unreadable file, missing ``onnx`` package, an unknown option, a dynamic shape.
    UnsupportedError
        An op, attribute or pattern outside the supported set (the node, its op and the
        supported ops are named).
    """
    if options:
        raise ModelError(f"{path}: the ONNX importer takes no options, got {sorted(options)}")
    onnx = _onnx()
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise ModelError(f"{path}: not a readable ONNX file ({exc})") from None
    return from_model(model, source=str(path), name=path.name.removesuffix(".onnx"))


def from_model(model: Any, *, source: str = "<onnx>", name: str = "onnx") -> ir.Network:
    """Import an in-memory ``onnx.ModelProto`` (see ``load``); ``source`` prefixes messages."""
    _onnx()
    return _Importer(model, source, name).run()


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ModelError(
            "reading .onnx files needs the onnx package: pip install 'neurosim-snn[onnx]'"
        ) from None
    return onnx


class _Importer(_ShapeOps):
    """One pass over the graph's nodes (ONNX keeps them in topological order)."""

    def __init__(self, model: Any, source: str, name: str) -> None:
        self.graph = model.graph
        self.source = source
        self.name = name
        self.consts = Constants(self.graph, source)
        self.vals: dict[str, Real | Quantized] = {}
        self.layers: dict[str, ir.Layer] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.readers: dict[str, int] = {}
        for node in self.graph.node:
            for t in node.input:
                self.readers[t] = self.readers.get(t, 0) + 1
        for out in self.graph.output:
            self.readers[out.name] = self.readers.get(out.name, 0) + 1
        self.dropped: list[str] = []

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> ir.Network:
        inputs = [i for i in self.graph.input if not self.consts.has(i.name)]
        if len(inputs) != 1:
            raise UnsupportedError(
                f"{self.source}: the graph must have one (non-constant) input, got "
                f"{[i.name for i in inputs]}"
            )
        self.vals[inputs[0].name] = Real(
            layer="", shape=self._input_shape(inputs[0]), graph_input=True
        )
        for index, node in enumerate(self.graph.node):
            info = NodeInfo(node, index, self.source)
            if not node.output or not node.output[0]:
                raise info.fail("has no output")
            if self.consts.fold(info):
                continue
            self._node(info)
        if len(self.graph.output) != 1:
            raise UnsupportedError(
                f"{self.source}: the graph must have one output, got "
                f"{[o.name for o in self.graph.output]}"
            )
        out = self.vals.get(self.graph.output[0].name)
        if not isinstance(out, Real) or out.graph_input or out.quantized or out.relu:
            raise UnsupportedError(
                f"{self.source}: the graph output '{self.graph.output[0].name}' must be the "
                f"real output of a Conv/Gemm/MatMul/Add without activation (the logits)"
            )
        last = list(self.layers)[-1]
        if out.layer != last:
            raise UnsupportedError(
                f"{self.source}: the graph output comes from '{out.layer}', but '{last}' is "
                f"computed after it; only one output branch is supported"
            )
        meta: dict[str, object] = {"source_format": "onnx", "rounding": ROUNDING}
        if self.dropped:
            meta["dropped_output_quantizer"] = ", ".join(self.dropped)
        try:
            return ir.Network(
                layers=tuple(self.layers.values()), kind="qann", name=self.name, meta=meta
            )
        except ModelError as exc:
            raise ModelError(f"{self.source}: {exc}") from None

    def _input_shape(self, value_info: Any) -> tuple[int, ...]:
        dims = value_info.type.tensor_type.shape.dim
        shape = []
        for i, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(int(d.dim_value))
            elif i == 0:
                shape.append(-1)
            else:
                raise ModelError(
                    f"{self.source}: input '{value_info.name}': dimension {i} is dynamic "
                    f"({d.dim_param or '?'}); only the batch dimension may be"
                )
        if len(shape) not in (2, 4):
            raise UnsupportedError(
                f"{self.source}: input '{value_info.name}' must be [N, C, H, W] or [N, F], "
                f"got {len(shape)} dimensions"
            )
        return tuple(shape[1:])

    # -- helpers -------------------------------------------------------------------------------
    def _add_layer(self, info: NodeInfo, layer: ir.Layer, name: str = "") -> Real:
        name = name or info.layer_name(self.layers)
        layer = dataclasses.replace(layer, name=name)
        try:
            shape = layer.infer_shape([self.shapes[s] for s in layer.inputs])
        except ModelError as exc:
            raise info.unsupported(str(exc)) from None
        self.layers[name] = layer
        self.shapes[name] = shape
        return Real(layer=name, shape=shape)

    def _val(self, info: NodeInfo, i: int) -> Real | Quantized:
        if i >= len(info.node.input) or not info.node.input[i]:
            raise info.fail(f"input {i} is missing ({len(info.node.input)} inputs given)")
        name = info.node.input[i]
        if name not in self.vals:
            if self.consts.has(name):
                raise info.unsupported(
                    f"input {i} ('{name}') is a constant where a tensor computed from the "
                    f"graph input is expected"
                )
            raise info.fail(f"input '{name}' is not produced by any node before it")
        return self.vals[name]

    def _operand(self, info: NodeInfo, i: int = 0) -> Real:
        """A real tensor a synaptic, pooling or flatten node may read: input codes or
        activation levels (possibly pooled / flattened), never an unquantized value."""
        v = self._val(info, i)
        if isinstance(v, Quantized):
            raise info.unsupported("reads integer codes; a DequantizeLinear must come first")
        if v.requant:
            raise info.unsupported(
                f"reads the output of quantizer '{v.requant}', which quantizes a value that is "
                f"not a ReLU activation (a signed or offset range); neurosim quantizes "
                f"activations after a ReLU only (levels 0..Q)"
            )
        if v.graph_input:
            raise info.unsupported(
                f"reads the graph input '{info.node.input[i]}' without a QuantizeLinear → "
                f"DequantizeLinear: neurosim imports quantized (QDQ) graphs only, a float "
                f"model must be quantized first (docs/import.md)"
            )
        if not v.quantized:
            raise info.unsupported(
                f"reads '{v.layer}', an unquantized {'activation' if v.relu else 'value'}; "
                f"neurosim imports quantized graphs: put a QuantizeLinear → DequantizeLinear "
                f"(or Brevitas QCDQ) after each ReLU"
            )
        return v

    def _set(self, info: NodeInfo, value: Real | Quantized) -> None:
        self.vals[info.node.output[0]] = value

    def _pre_activation(self, info: NodeInfo, v: Real) -> ir.Layer:
        """The layer whose raw output ``v`` is, for folding a bias or a batch-norm into it."""
        lay = self.layers.get(v.layer)
        if (
            not isinstance(lay, ir.Conv2d | ir.Linear)
            or v.quantized
            or v.relu
            or v.lo is not None
            or lay.act is not None
            or self.readers.get(info.node.input[0], 0) != 1
        ):
            raise info.unsupported(
                "can only follow a Conv / Gemm / MatMul directly (its only reader), to be "
                "folded into it"
            )
        return lay

    # -- nodes ---------------------------------------------------------------------------------
    def _node(self, info: NodeInfo) -> None:
        op = info.node.op_type
        domain = info.node.domain
        qdq = op in ("QuantizeLinear", "DequantizeLinear") and domain == "com.microsoft"
        if (domain not in _DOMAINS and not qdq) or op not in SUPPORTED_OPS:
            raise info.unsupported(
                f"op '{op}'{f' (domain {domain})' if domain else ''} is not supported; "
                f"supported ops: {', '.join(SUPPORTED_OPS)}"
            )
        getattr(self, "_op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower())(info)

    def _op_identity(self, info: NodeInfo) -> None:
        self._set(info, self._val(info, 0))

    def _op_dropout(self, info: NodeInfo) -> None:
        if (
            len(info.node.output) > 1
            and info.node.output[1]
            and self.readers.get(info.node.output[1])
        ):
            raise info.unsupported("the dropout mask output is read; only inference is supported")
        self._set(info, self._val(info, 0))

    def _op_constant(self, info: NodeInfo) -> None:  # pragma: no cover - folded before
        raise info.fail("constant was not folded")

    def _op_quantize_linear(self, info: NodeInfo) -> None:
        v = self._val(info, 0)
        if isinstance(v, Quantized):
            raise info.unsupported("quantizes integer codes again")
        scale, zp, lo, hi = self._quant_params(info)
        self._set(info, Quantized(src=v, scale=scale, zero_point=zp, lo=lo, hi=hi, node=info.name))

    def _quant_params(self, info: NodeInfo) -> tuple[float, int, int, int]:
        a = attrs(info.node)
        if a.get("block_size", 0):
            raise info.unsupported("blocked quantization (block_size) is not supported")
        scale = self.consts.get(info, 1, "y_scale")
        if np.size(scale) != 1:
            raise info.unsupported(
                f"an activation quantizer needs one scale, got {np.size(scale)} (per-axis "
                f"quantization is supported for constant weights only)"
            )
        if len(info.node.input) > 2 and info.node.input[2]:
            zp_arr = self.consts.get(info, 2, "y_zero_point", raw=True)
            if np.size(zp_arr) != 1:
                raise info.unsupported("an activation quantizer needs one zero point")
            lo, hi = tensor_range(info, zp_arr.dtype)
            zp = int(np.asarray(zp_arr).astype(np.int64).reshape(()))
        else:
            lo, hi = tensor_range(info, a.get("output_dtype", 0) or np.uint8)
            zp = 0
        s = float(np.asarray(scale, np.float64).reshape(()))
        if not (np.isfinite(s) and s > 0):
            raise info.unsupported(f"scale must be finite and > 0, got {s}")
        return s, zp, lo, hi

    def _op_clip(self, info: NodeInfo) -> None:
        v = self._val(info, 0)
        lo, hi = self._clip_bounds(info)
        if isinstance(v, Quantized):  # Brevitas QCDQ: a clip of the integer codes
            new_lo = v.lo if lo is None else max(v.lo, int(np.ceil(lo)))
            new_hi = v.hi if hi is None else min(v.hi, int(np.floor(hi)))
            self._set(info, dataclasses.replace(v, lo=new_lo, hi=new_hi))
            return
        if v.graph_input or v.quantized or v.requant:
            raise info.unsupported(
                "a float Clip is supported only on a Conv/Gemm/Add output before its quantizer "
                "(a ReLU with a ceiling) or on integer codes (QCDQ)"
            )
        if lo is not None and lo != 0 and not (lo < 0 and v.relu):
            raise info.unsupported(
                f"a float Clip before a quantizer must have min 0 (a ReLU), got {lo}"
            )
        relu = v.relu or lo == 0
        top = hi if v.hi is None or hi is None else min(v.hi, hi)
        self._set(info, dataclasses.replace(v, relu=relu, lo=0.0 if relu else None, hi=top))

    def _clip_bounds(self, info: NodeInfo) -> tuple[float | None, float | None]:
        a = attrs(info.node)
        lo, hi = a.get("min"), a.get("max")
        for i in (1, 2):
            if len(info.node.input) > i and info.node.input[i]:
                value = scalar(info, self.consts.get(info, i, "min/max"), ("min", "max")[i - 1])
                lo, hi = (value, hi) if i == 1 else (lo, value)
        return lo, hi

    def _op_relu(self, info: NodeInfo) -> None:
        v = self._val(info, 0)
        if isinstance(v, Quantized):
            raise info.unsupported("a Relu on integer codes is not supported")
        if v.graph_input:
            raise info.unsupported("a Relu on the float graph input is not supported")
        # Levels and codes are >= 0 already: a Relu on them changes nothing.
        self._set(info, v if v.quantized else dataclasses.replace(v, relu=True))

    def _op_dequantize_linear(self, info: NodeInfo) -> None:
        q = self._val(info, 0)
        if not isinstance(q, Quantized):
            raise info.unsupported("dequantizes a real tensor (a QuantizeLinear must come first)")
        scale, zp, _, _ = self._quant_params(info)
        if scale != q.scale or zp != q.zero_point:
            raise info.unsupported(
                f"scale/zero point ({scale}, {zp}) differ from those of quantizer '{q.node}' "
                f"({q.scale}, {q.zero_point})"
            )
        self._set(info, self._dequantized(info, q))

    def _dequantized(self, info: NodeInfo, q: Quantized) -> Real:
        src, s = q.src, q.scale
        n_lo, n_hi = q.lo - q.zero_point, q.hi - q.zero_point
        qname = q.node
        if src.graph_input:
            if n_lo != 0 or n_hi < 1:
                raise info.unsupported(
                    f"the input quantizer '{qname}' gives codes {n_lo}..{n_hi} after its zero "
                    f"point; neurosim inputs are codes 0..levels (the zero point must be the "
                    f"code range's minimum)"
                )
            if len(src.shape) not in (1, 3):
                raise info.unsupported(f"input shape {src.shape} must be (C, H, W) or (F,)")
            layer = ir.Input(
                name="input", shape=src.shape, scale=s, levels=int(n_hi), rounding=ROUNDING
            )
            real = self._add_layer(info, layer, name="input")
            return dataclasses.replace(real, quantized=True, lsb=s, units=int(n_hi))
        if src.quantized:
            if not lossless_requant(src, s, n_lo, n_hi):
                raise info.unsupported(
                    f"quantizer '{qname}' re-quantizes '{src.layer}' (levels, one unit = "
                    f"{src.lsb:g}) to scale {s:g}, codes {n_lo}..{n_hi}: "
                    f"that rounds, and neurosim's pooling and flatten do not; export them "
                    f"without a quantizer after them"
                )
            return src
        lay = self.layers[src.layer]
        if not isinstance(lay, ir.Conv2d | ir.Linear | ir.Add) or lay.act is not None:
            raise info.unsupported(f"quantizer '{qname}' follows '{src.layer}' ({lay.op})")
        if n_lo > 0 or (n_lo < 0 and not src.relu):
            if self.readers.get(info.node.output[0], 0) == 1 and self._is_graph_output(info):
                self.dropped.append(qname)
                return dataclasses.replace(src, requant=None)
            return dataclasses.replace(src, requant=qname)
        top = n_hi
        if src.hi is not None:
            top = min(top, int(ir.round_levels(np.float64(src.hi) / s, ROUNDING)))
        if top < 1:
            raise info.unsupported(f"activation quantizer '{qname}' leaves no level above 0")
        act = ir.ActQuant(levels=int(top), clip=float(top) * s, rounding=ROUNDING)
        self.layers[src.layer] = dataclasses.replace(lay, act=act)
        return Real(layer=src.layer, shape=src.shape, quantized=True, lsb=s, units=int(top))

    def _is_graph_output(self, info: NodeInfo) -> bool:
        return info.node.output[0] in {o.name for o in self.graph.output}

    # -- synaptic layers -----------------------------------------------------------------------
    def _weight(self, info: NodeInfo, i: int, axis: int) -> QTensor:
        w = self.consts.qtensor(info, i)
        if np.any(w.zero_point != 0):
            raise info.unsupported(
                f"weight '{info.node.input[i]}' has a non-zero zero point (from node "
                f"'{w.node}'); neurosim weights are symmetric (zero point 0): re-export with "
                f"symmetric weight quantization"
            )
        if np.size(w.scale) > 1 and w.axis % w.q.ndim != axis:
            raise info.unsupported(
                f"weight '{info.node.input[i]}' is quantized along axis {w.axis}; per-channel "
                f"scales must run along the output channels (axis {axis})"
            )
        return w

    def _bias(self, info: NodeInfo, i: int, channels: int) -> np.ndarray | None:
        if len(info.node.input) <= i or not info.node.input[i]:
            return None
        b = np.asarray(self.consts.get(info, i, "bias"), np.float64).reshape(-1)
        if b.size == 1:
            b = np.full(channels, float(b[0]))
        if b.shape != (channels,):
            raise info.unsupported(f"bias must have {channels} values, got {b.size}")
        return b

    def _op_conv(self, info: NodeInfo) -> None:
        x = self._operand(info, 0)
        w = self._weight(info, 1, 0)
        if w.q.ndim != 4 or len(x.shape) != 3:
            raise info.unsupported("only 2-D convolutions on (C, H, W) inputs are supported")
        a = attrs(info.node)
        kh, kw = w.q.shape[2:]
        stride = info.square(a, "strides", 1)
        dilation = info.square(a, "dilations", 1)
        if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise info.unsupported(
                f"auto_pad={a['auto_pad']!r} is not supported (give explicit symmetric pads)"
            )
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if len(set(pads)) != 1:
            raise info.unsupported(f"pads must be equal on every side, got {pads}")
        if kh != kw or list(a.get("kernel_shape", [kh, kw])) != [kh, kw]:
            raise info.unsupported(f"the kernel must be square, got {kh}x{kw}")
        channels = w.q.shape[0]
        layer = ir.Conv2d(
            name="",
            inputs=(x.layer,),
            weight=w.int_weight(),
            weight_scale=w.channel_scale(channels),
            bias=self._bias(info, 2, channels),
            stride=stride,
            padding=int(pads[0]),
            groups=int(a.get("group", 1)),
            dilation=dilation,
        )
        self._set(info, self._add_layer(info, layer))

    def _op_gemm(self, info: NodeInfo) -> None:
        a = attrs(info.node)
        if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
            raise info.unsupported(
                f"only alpha=1, beta=1, transA=0 are supported, got alpha={a.get('alpha', 1.0)} "
                f"beta={a.get('beta', 1.0)} transA={a.get('transA', 0)}"
            )
        self._linear(info, transposed=bool(a.get("transB", 0)), bias_input=2)

    def _op_mat_mul(self, info: NodeInfo) -> None:
        self._linear(info, transposed=False, bias_input=None)

    def _linear(self, info: NodeInfo, *, transposed: bool, bias_input: int | None) -> None:
        x = self._operand(info, 0)
        if len(x.shape) != 1:
            raise info.unsupported(f"reads a tensor of shape {x.shape}; flatten it first")
        w = self._weight(info, 1, 0 if transposed else 1)
        if w.q.ndim != 2:
            raise info.unsupported(f"the weight must be 2-D, got {w.q.ndim}-D")
        if not transposed:
            w = w.transposed()
        channels = w.q.shape[0]
        layer = ir.Linear(
            name="",
            inputs=(x.layer,),
            weight=w.int_weight(),
            weight_scale=w.channel_scale(channels),
            bias=None if bias_input is None else self._bias(info, bias_input, channels),
        )
        self._set(info, self._add_layer(info, layer))

    def _op_batch_normalization(self, info: NodeInfo) -> None:
        v = self._val(info, 0)
        if not isinstance(v, Real):
            raise info.unsupported("normalizes integer codes")
        if len(info.node.output) > 1 and any(self.readers.get(o) for o in info.node.output[1:]):
            raise info.unsupported("training-mode outputs (running mean/var) are read")
        lay = self._pre_activation(info, v)
        gamma, beta, mean, var = (
            np.asarray(self.consts.get(info, i, "batch-norm parameter"), np.float64).reshape(-1)
            for i in (1, 2, 3, 4)
        )
        eps = float(attrs(info.node).get("epsilon", 1e-5))
        check_batch_norm(info, lay.out_channels, [gamma, beta, mean, var], eps)
        self.layers[lay.name] = fold_batch_norm(lay, gamma, beta, mean, var, eps)
        self._set(info, v)

    def _op_add(self, info: NodeInfo) -> None:
        names = info.node.input
        consts = [self.consts.has(n) for n in names]
        if len(names) != 2:
            raise info.unsupported(f"needs 2 inputs, got {len(names)}")
        if any(consts):
            v = self._val(info, consts.index(False))
            if not isinstance(v, Real):
                raise info.unsupported("adds a constant to integer codes")
            lay = self._pre_activation(info, v)
            b = np.asarray(self.consts.get(info, consts.index(True), "bias"), np.float64)
            if b.size not in (1, lay.out_channels) or not np.all(np.isfinite(b)):
                raise info.fail(
                    f"a bias must hold 1 or {lay.out_channels} finite values, got shape {b.shape}"
                )
            b = np.broadcast_to(b.reshape(-1), (lay.out_channels,))
            old = np.zeros(lay.out_channels) if lay.bias is None else lay.bias
            self.layers[lay.name] = dataclasses.replace(lay, bias=old + b)
            self._set(info, v)
            return
        srcs = []
        for i in range(2):
            v = self._val(info, i)
            if isinstance(v, Real) and not v.quantized and not v.graph_input and not v.requant:
                lay = self.layers[v.layer]
                if isinstance(lay, ir.Conv2d | ir.Linear) and not v.relu and v.hi is None:
                    srcs.append(v)  # a residual branch's conv without activation
                    continue
            srcs.append(self._operand(info, i))
        if srcs[0].shape != srcs[1].shape:
            raise info.unsupported(f"input shapes differ: {srcs[0].shape} and {srcs[1].shape}")
        layer = ir.Add(name="", inputs=tuple(v.layer for v in srcs))
        self._set(info, self._add_layer(info, layer))


__all__ = ["ROUNDING", "SUPPORTED_OPS", "from_model", "load"]
