"""PyTorch front end: train with ``QuantReLU``, export to a neurosim quantized ANN or to ONNX.

Needs PyTorch (the ``torch`` extra; ``pip install torch==2.13.0``). Imports ``ir``, ``io``,
``errors``, ``frontends._torch_modules`` (the quantizer modules, re-exported here) and
``frontends._torch_graph``. The flow (docs/import.md):

1. build a network from ``nn.Conv2d`` (any ``groups``/``dilation``), ``nn.Linear``,
   ``nn.BatchNorm1d/2d`` (after a conv/linear), ``nn.AvgPool2d``, ``nn.AdaptiveAvgPool2d(1)``,
   ``nn.MaxPool2d``, ``nn.Flatten`` / ``torch.flatten`` / ``view(n, -1)``, ``nn.Dropout``, residual
   ``+``, a ``QuantInput`` first and a ``QuantReLU`` after every hidden conv/linear/``+``;
2. train it as usual (``QuantReLU`` has a straight-through gradient and a learnable clip);
3. ``export(model, example_input, "m.qann.npz")``: batch-norms folded, weights quantized per
   output channel (``weight_bits``, int8 by default; the error is reported), the graph read
   with ``torch.fx``; or ``export_onnx`` for a QDQ / QCDQ ONNX file of the same network;
4. ``quantized_copy(model)`` is a float64 copy that computes exactly what neurosim simulates.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "neurosim.frontends.torch needs PyTorch: pip install torch==2.13.0 (CPU wheel)"
    ) from exc

import numpy as np

from neurosim import io, ir
from neurosim.errors import ModelError
from neurosim.frontends._torch_modules import QuantInput, QuantReLU

ROUNDING = "half_even"
"""``torch.round`` rounds half to even, as ONNX QuantizeLinear does."""


class _DequantizeWeight(torch.autograd.Function):
    """ONNX export of an integer weight: DequantizeLinear(int8 W, per-channel scale, 0, axis 0)."""

    @staticmethod
    def forward(ctx, w_int, scale, zero):
        shape = (-1,) + (1,) * (w_int.dim() - 1)
        return w_int.to(scale.dtype) * scale.reshape(shape)

    @staticmethod
    def symbolic(g, w_int, scale, zero):
        return g.op("DequantizeLinear", w_int, scale, zero, axis_i=0)


class _QDQLayer(nn.Module):
    """A conv/linear whose weight is DequantizeLinear(int8, scales) in the ONNX graph."""

    def __init__(self, module: nn.Conv2d | nn.Linear, w_int: np.ndarray, scale: np.ndarray):
        super().__init__()
        self.inner = module
        self.register_buffer("w_int", torch.from_numpy(w_int.astype(np.int8)))
        self.register_buffer("w_scale", torch.from_numpy(scale.astype(np.float32)))
        self.register_buffer("w_zero", torch.zeros(len(scale), dtype=torch.int8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = _DequantizeWeight.apply(self.w_int, self.w_scale, self.w_zero)
        m = self.inner
        b = m.bias
        if isinstance(m, nn.Conv2d):
            return nn.functional.conv2d(x, w, b, m.stride, m.padding, m.dilation, m.groups)
        return nn.functional.linear(x, w, b)


@dataclass(frozen=True)
class WeightError:
    """Per-output-channel quantization error of one layer's (batch-norm folded) weights."""

    max_rel: float
    """max |W − s·W_int| / max |W| over the layer."""
    rms_rel: float
    """RMS(W − s·W_int) / RMS(W)."""


@dataclass(frozen=True, eq=False)
class TorchExport:
    """What ``export`` produced."""

    network: ir.Network
    path: Path | None
    weight_error: dict[str, WeightError]
    """Layer name → its weight quantization error."""
    activations: dict[str, str]
    """``QuantReLU`` module name → the layer whose ``act`` it became."""


def quantized_copy(
    model: nn.Module, example_input: torch.Tensor, *, weight_bits: int = 8
) -> nn.Module:
    """A float64 copy of ``model`` in eval mode computing exactly the exported network: every
    batch-norm after a conv/linear folded into it (replaced by ``nn.Identity``), every
    conv/linear weight s·W_int with per-output-channel s = float32(max|W|/(2^(b−1)−1)), biases
    and quantizer steps rounded to float32 (what an ONNX file holds)."""
    return _prepare(model, example_input, weight_bits)[0]


def export(
    model: nn.Module,
    example_input: torch.Tensor,
    path: str | os.PathLike | None = None,
    *,
    weight_bits: int = 8,
    name: str | None = None,
    meta: dict[str, object] | None = None,
) -> TorchExport:
    """Export a trained model as a neurosim quantized ANN (written to ``path`` if given);
    ``meta`` adds file-level facts (strings and numbers) to the network's.

    Raises ``UnsupportedError`` for a module, function or pattern outside the supported set
    (the fx node, its target and the supported list are named).
    """
    from neurosim.frontends._torch_graph import read_graph

    q, table, errors = _prepare(model, example_input, weight_bits)
    net, acts = read_graph(
        q,
        example_input.to(torch.float64),
        table,
        name=name or type(model).__name__,
        meta={
            "source_format": "torch",
            "rounding": ROUNDING,
            "weight_bits": weight_bits,
            **(meta or {}),
        },
    )
    out = None if path is None else io.save_model(net, path)
    return TorchExport(network=net, path=out, weight_error=errors, activations=acts)


def export_onnx(
    model: nn.Module,
    example_input: torch.Tensor,
    path: str | os.PathLike,
    *,
    weight_bits: int = 8,
    opset: int = 17,
) -> Path:
    """Write the exported network as a QDQ / QCDQ ONNX file (``torch.onnx``): weights as
    DequantizeLinear of int8 constants with per-channel scales, each quantizer as
    QuantizeLinear → Clip → DequantizeLinear (uint8); nodes named after neurosim's layers.
    ``neurosim import`` of the file gives the network ``export`` gives."""
    import onnx

    exported = export(model, example_input, weight_bits=weight_bits)
    q, table, _ = _prepare(model, example_input, weight_bits)
    for qname, (w_int, scale) in table.items():
        parent, attr = _parent(q, qname)
        setattr(parent, attr, _QDQLayer(getattr(parent, attr), w_int, scale))
    q = q.float().eval()
    path = Path(path)
    with warnings.catch_warnings():
        # The legacy exporter is deprecated and warns that quantizer steps become constants
        # (they are constants); torch.onnx's dynamo exporter needs onnxscript.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        _export_legacy(q, example_input, path, opset)
    m = onnx.load(str(path))
    _name_nodes(m, exported.network)
    onnx.save(m, str(path))
    return path


def _export_legacy(q: nn.Module, example_input: torch.Tensor, path: Path, opset: int) -> None:
    torch.onnx.export(
        q,
        (example_input.to(torch.float32),),
        str(path),
        dynamo=False,
        opset_version=opset,
        do_constant_folding=False,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
    )


# -- preparation: fold, quantize, snap ------------------------------------------------------------


def _prepare(
    model: nn.Module, example_input: torch.Tensor, weight_bits: int
) -> tuple[nn.Module, dict[str, tuple[np.ndarray, np.ndarray]], dict[str, WeightError]]:
    from neurosim.frontends._torch_graph import batch_norm_pairs

    if not 2 <= int(weight_bits) <= 16:
        raise ModelError(f"weight_bits must be in [2, 16], got {weight_bits}")
    q = copy.deepcopy(model).eval().double()
    qmax = 2 ** (int(weight_bits) - 1) - 1
    with torch.no_grad():
        for conv_name, bn_name in batch_norm_pairs(q):
            conv, bn = q.get_submodule(conv_name), q.get_submodule(bn_name)
            a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shape = (-1,) + (1,) * (conv.weight.dim() - 1)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight.copy_(conv.weight * a.reshape(shape))
            conv.bias = nn.Parameter((bias - bn.running_mean) * a + bn.bias)
            parent, attr = _parent(q, bn_name)
            setattr(parent, attr, nn.Identity())
        table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        errors: dict[str, WeightError] = {}
        for mname, m in q.named_modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                w = m.weight.detach().numpy().astype(np.float64)
                flat = np.abs(w.reshape(len(w), -1)).max(axis=1)
                scale = np.where(flat > 0, (flat / qmax).astype(np.float32), 1.0).astype(np.float64)
                shape = (-1,) + (1,) * (w.ndim - 1)
                w_int = np.clip(np.rint(w / scale.reshape(shape)), -qmax, qmax)
                wq = w_int * scale.reshape(shape)
                m.weight.copy_(torch.from_numpy(wq))
                if m.bias is not None:
                    m.bias.copy_(m.bias.to(torch.float32).to(torch.float64))
                dtype = np.int8 if qmax <= 127 else np.int16
                table[mname] = (w_int.astype(dtype), scale)
                big = float(np.abs(w).max())
                rms = float(np.sqrt(np.mean(w**2)))
                errors[mname] = WeightError(
                    max_rel=float(np.abs(w - wq).max()) / big if big else 0.0,
                    rms_rel=float(np.sqrt(np.mean((w - wq) ** 2))) / rms if rms else 0.0,
                )
            elif isinstance(m, QuantReLU):
                m.clip.copy_(torch.tensor(m.levels * m.step(), dtype=torch.float64))
    return q, table, errors


def _parent(model: nn.Module, qualified: str) -> tuple[nn.Module, str]:
    parent_name, _, attr = qualified.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), attr


_LAYER_OPS = {
    "conv2d": ("Conv",),
    "linear": ("Gemm", "MatMul"),
    "add": ("Add",),
    "avgpool2d": ("AveragePool", "GlobalAveragePool"),
    "maxpool2d": ("MaxPool",),
    "flatten": ("Flatten", "Reshape"),
}


def _name_nodes(model: Any, network: ir.Network) -> None:
    """Name the ONNX nodes that become layers after those layers (same order both ways)."""
    ops = {op for names in _LAYER_OPS.values() for op in names}
    dynamic = {i.name for i in model.graph.input}
    nodes = []
    for node in model.graph.node:
        if any(t in dynamic for t in node.input):
            if node.op_type in ops:
                nodes.append(node)
            dynamic.update(node.output)
    layers = [lay for lay in network.layers if lay.op in _LAYER_OPS]
    if len(nodes) == len(layers) and all(
        n.op_type in _LAYER_OPS[lay.op] for n, lay in zip(nodes, layers, strict=True)
    ):
        for n, lay in zip(nodes, layers, strict=True):
            n.name = lay.name


__all__ = [
    "ROUNDING",
    "QuantInput",
    "QuantReLU",
    "TorchExport",
    "WeightError",
    "export",
    "export_onnx",
    "quantized_copy",
]
