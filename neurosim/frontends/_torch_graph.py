"""The ``torch.fx`` walk of ``neurosim.frontends.torch``: a prepared (folded, quantized) model's
graph → neurosim layers. Imports ``ir``, ``errors``, ``frontends._torch_modules`` and torch
(the caller has checked it)."""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from neurosim import ir
from neurosim.errors import ModelError, UnsupportedError
from neurosim.frontends._torch_modules import QuantInput, QuantReLU

SUPPORTED = (
    "QuantInput",
    "Conv2d",
    "Linear",
    "BatchNorm1d/2d (after a Conv2d/Linear)",
    "QuantReLU",
    "AvgPool2d",
    "AdaptiveAvgPool2d(1)",
    "MaxPool2d",
    "Flatten / torch.flatten / view(n, -1) / reshape(n, -1)",
    "Dropout",
    "Identity",
    "+ (operator.add, torch.add)",
)
"""What the exporter reads, for messages and docs/import.md."""


class _Tracer(fx.Tracer):
    """Keeps neurosim's quantizers as leaves (fx would trace through them)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QuantInput | QuantReLU) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, ...
        raise UnsupportedError(
            f"torch.fx cannot trace {type(model).__name__} ({exc}); keep data-dependent "
            f"control flow out of forward()"
        ) from None
    return fx.GraphModule(model, graph)


def batch_norm_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv/linear, batch-norm) module names where the batch-norm reads only that layer's
    output and nothing else reads it (foldable)."""
    gm = trace(model)
    pairs = []
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(
            gm.get_submodule(node.target), nn.BatchNorm1d | nn.BatchNorm2d
        ):
            continue
        src = node.args[0]
        if (
            isinstance(src, fx.Node)
            and src.op == "call_module"
            and isinstance(gm.get_submodule(src.target), nn.Conv2d | nn.Linear)
            and len(src.users) == 1
        ):
            pairs.append((str(src.target), str(node.target)))
    return pairs


@dataclass(frozen=True)
class _Val:
    """A traced tensor: the output of neurosim layer ``layer``."""

    layer: str
    shape: tuple[int, ...]
    quantized: bool = False
    """Input codes or activation levels (possibly pooled or flattened)."""
    graph_input: bool = False


class _Reader:
    def __init__(self, gm: fx.GraphModule, table: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.gm = gm
        self.table = table
        self.layers: dict[str, ir.Layer] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.vals: dict[fx.Node, Any] = {}
        self.acts: dict[str, str] = {}

    def fail(self, node: fx.Node, msg: str) -> UnsupportedError:
        return UnsupportedError(f"fx node '{node.name}' ({_target(self.gm, node)}): {msg}")

    def add(self, node: fx.Node, layer: ir.Layer, quantized: bool) -> _Val:
        name = str(node.target) if node.op == "call_module" else node.name
        name = name if name not in self.layers else f"{name}_{len(self.layers)}"
        layer = replace(layer, name=name)
        try:
            shape = layer.infer_shape([self.shapes[s] for s in layer.inputs])
        except ModelError as exc:
            raise self.fail(node, str(exc)) from None
        self.layers[name] = layer
        self.shapes[name] = shape
        return _Val(layer=name, shape=shape, quantized=quantized)

    def operand(self, node: fx.Node, arg: Any) -> _Val:
        v = self.vals.get(arg) if isinstance(arg, fx.Node) else None
        if not isinstance(v, _Val):
            raise self.fail(node, f"reads {arg!r}, not a tensor of the network")
        if v.graph_input:
            raise self.fail(node, "reads the model input directly; start the model with QuantInput")
        if not v.quantized:
            lay = self.layers[v.layer]
            raise self.fail(
                node,
                f"reads '{v.layer}' ({lay.op}) before any quantized activation; put a "
                f"QuantReLU after each hidden conv/linear/+",
            )
        return v

    # -- nodes ----------------------------------------------------------------------------------
    def module(self, node: fx.Node) -> None:
        m = self.gm.get_submodule(node.target)
        x = self.vals.get(node.args[0]) if node.args else None
        if isinstance(m, QuantInput):
            if not isinstance(x, _Val) or not x.graph_input:
                raise self.fail(node, "QuantInput must read the model input")
            lay = ir.Input(
                name="input",
                shape=x.shape,
                scale=float(m.scale),
                levels=m.levels,
                rounding="half_even",
            )
            self.layers["input"], self.shapes["input"] = lay, x.shape
            self.vals[node] = _Val("input", x.shape, quantized=True)
        elif isinstance(m, nn.Conv2d | nn.Linear):
            self.vals[node] = self.synaptic(node, m, self.operand(node, node.args[0]))
        elif isinstance(m, QuantReLU):
            self.vals[node] = self.activation(node, m, x)
        elif isinstance(m, nn.Dropout | nn.Identity):
            self.vals[node] = x
        elif isinstance(m, nn.AvgPool2d | nn.AdaptiveAvgPool2d | nn.MaxPool2d):
            self.vals[node] = self.pool(node, m, self.operand(node, node.args[0]))
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise self.fail(node, "only Flatten(start_dim=1, end_dim=-1) is supported")
            self.vals[node] = self.flatten(node, self.operand(node, node.args[0]))
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            raise self.fail(
                node, "a batch-norm must directly follow a Conv2d/Linear it can fold into"
            )
        elif isinstance(m, nn.ReLU | nn.ReLU6 | nn.Hardtanh):
            raise self.fail(
                node,
                "an unquantized activation; use neurosim.frontends.torch.QuantReLU(levels) "
                "(docs/import.md)",
            )
        else:
            raise self.fail(
                node,
                f"module {type(m).__name__} is not supported; supported: {', '.join(SUPPORTED)}",
            )

    def synaptic(self, node: fx.Node, m: nn.Conv2d | nn.Linear, x: _Val) -> _Val:
        w_int, scale = self.table[str(node.target)]
        bias = None if m.bias is None else m.bias.detach().numpy().astype(np.float64)
        if isinstance(m, nn.Linear):
            return self.add(
                node,
                ir.Linear(name="", inputs=(x.layer,), weight=w_int, weight_scale=scale, bias=bias),
                False,
            )
        for attr in ("kernel_size", "stride", "padding", "dilation"):
            v = getattr(m, attr)
            if isinstance(v, str) or len(set(v)) != 1:
                raise self.fail(node, f"{attr} must be the same in both dimensions, got {v}")
        if m.padding_mode != "zeros":
            raise self.fail(node, f"padding_mode {m.padding_mode!r}: only 'zeros' is supported")
        layer = ir.Conv2d(
            name="",
            inputs=(x.layer,),
            weight=w_int,
            weight_scale=scale,
            bias=bias,
            stride=m.stride[0],
            padding=m.padding[0],
            groups=m.groups,
            dilation=m.dilation[0],
        )
        return self.add(node, layer, False)

    def activation(self, node: fx.Node, m: Any, x: Any) -> _Val:
        if not isinstance(x, _Val) or x.quantized or x.graph_input:
            raise self.fail(node, "QuantReLU must follow a Conv2d, Linear (or batch-norm) or +")
        lay = self.layers[x.layer]
        if not isinstance(lay, ir.Conv2d | ir.Linear | ir.Add) or lay.act is not None:
            raise self.fail(node, f"QuantReLU follows '{x.layer}' ({lay.op})")
        act = ir.ActQuant(levels=m.levels, clip=m.levels * m.step(), rounding="half_even")
        self.layers[x.layer] = replace(lay, act=act)
        self.acts[str(node.target)] = x.layer
        return replace(x, quantized=True)

    def pool(self, node: fx.Node, m: nn.Module, x: _Val) -> _Val:
        def one(v: Any, what: str) -> int:
            vs = (v, v) if isinstance(v, int) else tuple(v)
            if len(set(vs)) != 1:
                raise self.fail(node, f"{what} must be the same in both dimensions, got {v}")
            return int(vs[0])

        if isinstance(m, nn.AdaptiveAvgPool2d):
            if one(m.output_size, "output_size") != 1 or x.shape[1] != x.shape[2]:
                raise self.fail(node, "only AdaptiveAvgPool2d(1) on a square input is supported")
            k = x.shape[1]
            return self.add(
                node, ir.AvgPool2d(name="", inputs=(x.layer,), kernel=k, stride=k), True
            )
        if getattr(m, "ceil_mode", False):
            raise self.fail(node, "ceil_mode=True is not supported")
        kernel = one(m.kernel_size, "kernel_size")
        stride = one(m.stride if m.stride is not None else kernel, "stride")
        pad = one(m.padding, "padding")
        if isinstance(m, nn.AvgPool2d):
            if pad or m.divisor_override:
                raise self.fail(node, "padding and divisor_override are not supported")
            layer = ir.AvgPool2d(name="", inputs=(x.layer,), kernel=kernel, stride=stride)
        else:
            if one(m.dilation, "dilation") != 1 or m.return_indices:
                raise self.fail(node, "dilation and return_indices are not supported")
            layer = ir.MaxPool2d(
                name="", inputs=(x.layer,), kernel=kernel, stride=stride, padding=pad
            )
        return self.add(node, layer, True)

    def flatten(self, node: fx.Node, x: _Val) -> _Val:
        if len(x.shape) == 1:
            return x
        return self.add(node, ir.Flatten(name="", inputs=(x.layer,)), True)

    def residual(self, node: fx.Node) -> _Val:
        srcs = []
        for arg in node.args[:2]:
            v = self.vals.get(arg) if isinstance(arg, fx.Node) else None
            if isinstance(v, _Val) and not v.quantized and not v.graph_input:
                lay = self.layers[v.layer]
                if isinstance(lay, ir.Conv2d | ir.Linear) and lay.act is None:
                    srcs.append(v)  # a residual branch's conv without activation
                    continue
            srcs.append(self.operand(node, arg))
        if len(node.args) != 2 or node.kwargs:
            raise self.fail(node, "only a + b of two tensors is supported")
        return self.add(node, ir.Add(name="", inputs=tuple(v.layer for v in srcs)), False)

    def function(self, node: fx.Node) -> None:
        f = node.target
        if f in (operator.add, torch.add):
            self.vals[node] = self.residual(node)
        elif f is torch.flatten:
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            if start != 1:
                raise self.fail(node, "only torch.flatten(x, 1) is supported")
            self.vals[node] = self.flatten(node, self.operand(node, node.args[0]))
        elif f is nn.functional.dropout:
            self.vals[node] = self.vals.get(node.args[0])
        else:
            raise self.fail(
                node,
                f"function {getattr(f, '__name__', f)} is not supported; "
                f"supported: {', '.join(SUPPORTED)}",
            )

    def method(self, node: fx.Node) -> None:
        name = node.target
        if name == "size":
            self.vals[node] = None
        elif name == "add":
            self.vals[node] = self.residual(node)
        elif name == "flatten":
            if tuple(node.args[1:]) != (1,):
                raise self.fail(node, "only x.flatten(1) is supported")
            self.vals[node] = self.flatten(node, self.operand(node, node.args[0]))
        elif name in ("view", "reshape"):
            shape = node.args[1:]
            if len(shape) == 1 and isinstance(shape[0], tuple | list):
                shape = tuple(shape[0])
            if len(shape) != 2 or shape[1] != -1:
                raise self.fail(node, f"only {name}(batch, -1) (a flatten) is supported")
            self.vals[node] = self.flatten(node, self.operand(node, node.args[0]))
        else:
            raise self.fail(
                node, f"method .{name}() is not supported; supported: {', '.join(SUPPORTED)}"
            )


def _target(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(node.target)).__name__
    return str(getattr(node.target, "__name__", node.target))


def read_graph(
    model: nn.Module,
    example_input: torch.Tensor,
    table: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    name: str,
    meta: dict[str, object],
) -> tuple[ir.Network, dict[str, str]]:
    """The neurosim quantized ANN of a prepared model; also QuantReLU name → layer name."""
    gm = trace(model)
    r = _Reader(gm, table)
    out: Any = None
    shape = tuple(int(s) for s in example_input.shape[1:])
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if r.vals:
                raise r.fail(node, "the model must take one input")
            r.vals[node] = _Val(layer="", shape=shape, graph_input=True)
        elif node.op == "call_module":
            r.module(node)
        elif node.op == "call_function":
            r.function(node)
        elif node.op == "call_method":
            r.method(node)
        elif node.op == "output":
            out = r.vals.get(node.args[0])
        else:
            raise r.fail(node, f"{node.op} nodes (parameters used in forward) are not supported")
    if not isinstance(out, _Val) or out.quantized or out.layer != list(r.layers)[-1]:
        raise UnsupportedError(
            f"{type(model).__name__}: the output must be the last Conv2d/Linear/+ without "
            f"QuantReLU (the logits)"
        )
    try:
        net = ir.Network(tuple(r.layers.values()), kind="qann", name=name, meta=meta)
    except ModelError as exc:
        raise ModelError(f"{type(model).__name__}: {exc}") from None
    return net, r.acts
