"""NIR nodes grouped into neurosim layers and discretised (``build``): the checks that name a
node, the shape walk, Scale folding, and each neuron's λ, gain, drive, threshold and reset
(the equations are in ``nir_graph``).

Imports ``errors`` and ``frontends.nir_graph``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from neurosim.errors import ModelError, UnsupportedError
from neurosim.frontends.nir_graph import (
    DEFAULT_DT,
    RESETS,
    FloatGraph,
    FloatLayer,
    FloatNeuron,
    chain,
    node_error,
    one_int,
    param_array,
    shape_of,
)


class _Builder:
    """Walks the chain and groups nodes into neurosim layers, tracking the shape."""

    def __init__(self, nodes: dict[str, dict], dt: float, reset: str | None) -> None:
        self.nodes = nodes
        self.dt = dt
        self.reset = reset
        self.layers: list[FloatLayer] = []
        self.pending: dict[str, Any] | None = None
        """A synaptic layer waiting for its neuron (or Scale, or the Output)."""
        self.col_scale: np.ndarray | None = None
        """A Scale before a synaptic node, folded into its weight columns."""
        self.col_nodes: list[str] = []
        self.shape: tuple[int, ...] = ()
        self.last = ""
        self.conv1d = False

    # -- per node ------------------------------------------------------------------------------
    def add(self, name: str) -> None:
        d = self.nodes[name]
        kind = d["type"]
        getattr(self, "_" + kind.lower())(name, d)

    def _input(self, name: str, d: dict[str, Any]) -> None:
        shape = shape_of(d, "shape", name)
        if not shape or any(s <= 0 for s in shape):
            raise node_error(name, "Input", f"shape must be positive, got {shape}")
        if len(shape) == 2:
            self.conv1d = True
            shape = (shape[0], 1, shape[1])
        if len(shape) not in (1, 3):
            raise UnsupportedError(
                f"node '{name}' (Input): shape {shape}; neurosim takes (C, H, W), (C, L) or (n,)"
            )
        self.shape = shape
        self.layers.append(FloatLayer(name, "input", (name,), None, shape))
        self.last = name

    def _output(self, name: str, d: dict[str, Any]) -> None:
        if self.pending is not None:
            self._finish(None)
        want = shape_of(d, "shape", name)
        if want is not None and math.prod(want) != math.prod(self.shape):
            raise node_error(name, "Output", f"shape {want} does not match its input {self.shape}")
        if self.layers[-1].op in ("input", "avgpool2d", "flatten"):
            raise UnsupportedError(
                f"node '{name}' (Output): the graph must end in a synaptic or spiking node, "
                f"not '{self.layers[-1].name}' ({self.layers[-1].op})"
            )

    def fit(self, name: str, kind: str, d: dict[str, Any], key: str, default: Any = None):
        """A parameter of one value per neuron of the current shape, float64 [N] (C-order): a
        single value, or an array of the input's shape (a Conv1d layer's (C, L) too)."""
        arr = param_array(name, kind, d, key, default)
        shape, n = self.shape, math.prod(self.shape)
        # A Conv1d layer is (C, 1, L) here; its NIR parameters are (C, L).
        shapes = {shape, tuple(v for i, v in enumerate(shape) if not (self.conv1d and i == 1))}
        if arr.size not in (1, n) or (arr.size == n and arr.ndim > 1 and arr.shape not in shapes):
            raise node_error(
                name,
                kind,
                f"parameter '{key}' has shape {arr.shape}, its input (from node '{self.last}') "
                f"is {shape}",
            )
        return np.broadcast_to(arr.reshape(-1), (n,)).astype(np.float64)

    def _scale(self, name: str, d: dict[str, Any]) -> None:
        s = self.fit(name, "Scale", d, "scale")
        if self.pending is not None:
            self.pending["row_scale"] = self.pending["row_scale"] * s
            self.pending["nodes"].append(name)
            return
        s = s.reshape(self.shape)
        self.col_scale = s if self.col_scale is None else self.col_scale * s
        self.col_nodes.append(name)

    def _flatten(self, name: str, d: dict[str, Any]) -> None:
        self._no_pending(name, "Flatten")
        declared = shape_of(d, "input_type", name)
        if declared is not None and math.prod(declared) != math.prod(self.shape):
            raise node_error(
                name, "Flatten", f"input_type {declared} does not match its input {self.shape}"
            )
        self.shape = (math.prod(self.shape),)
        self._append(FloatLayer(name, "flatten", (name,), self.last, self.shape))

    def _sumpool2d(self, name: str, d: dict[str, Any]) -> None:
        self._pool(name, d, "SumPool2d")

    def _avgpool2d(self, name: str, d: dict[str, Any]) -> None:
        self._pool(name, d, "AvgPool2d")

    def _pool(self, name: str, d: dict[str, Any], kind: str) -> None:
        self._no_pending(name, kind)
        if len(self.shape) != 3:
            raise node_error(name, kind, f"needs a (C, H, W) input, got {self.shape}")
        k = one_int(name, kind, d.get("kernel_size", 0), "kernel_size")
        s = one_int(name, kind, d.get("stride", k), "stride")
        p = one_int(name, kind, d.get("padding", 0), "padding")
        if p:
            raise UnsupportedError(f"node '{name}' ({kind}): padding {p}; pooling takes none")
        c, h, w = self.shape
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        if k < 1 or s < 1 or ho < 1 or wo < 1:
            raise node_error(
                name, kind, f"kernel {k}, stride {s} do not fit the input {self.shape}"
            )
        self.shape = (c, ho, wo)
        scale = 1.0 if kind == "SumPool2d" else 1.0 / (k * k)
        self._append(
            FloatLayer(
                name,
                "avgpool2d",
                (name,),
                self.last,
                self.shape,
                kernel=k,
                stride=s,
                pool_scale=scale,
            )
        )

    def _affine(self, name: str, d: dict[str, Any]) -> None:
        self._linear(name, d, "Affine")

    def _linear(self, name: str, d: dict[str, Any], kind: str = "Linear") -> None:
        self._no_pending(name, kind)
        w = param_array(name, kind, d, "weight")
        if w.ndim != 2:
            raise node_error(name, kind, f"weight must be [out, in], got shape {w.shape}")
        if len(self.shape) != 1 or self.shape[0] != w.shape[1]:
            raise node_error(
                name, kind, f"weight expects {w.shape[1]} inputs, its input is {self.shape}"
            )
        b = param_array(name, kind, d, "bias") if kind == "Affine" else np.zeros(w.shape[0])
        if b.shape not in ((w.shape[0],), ()):
            raise node_error(name, kind, f"bias must have {w.shape[0]} values, got shape {b.shape}")
        w = self._fold_columns(name, kind, w)
        self._start(name, "linear", w, np.broadcast_to(b, (w.shape[0],)).copy(), (w.shape[0],))

    def _conv1d(self, name: str, d: dict[str, Any]) -> None:
        self._conv(name, d, "Conv1d")

    def _conv2d(self, name: str, d: dict[str, Any]) -> None:
        self._conv(name, d, "Conv2d")

    def _conv(self, name: str, d: dict[str, Any], kind: str) -> None:
        self._no_pending(name, kind)
        w = param_array(name, kind, d, "weight")
        one_d = kind == "Conv1d"
        if w.ndim != (3 if one_d else 4):
            raise node_error(name, kind, f"weight has {w.ndim} dimensions")
        if len(self.shape) != 3 or (one_d and self.shape[1] != 1):
            raise node_error(name, kind, f"input shape {self.shape} does not suit a {kind}")
        groups = one_int(name, kind, d.get("groups", 1), "groups")
        stride = one_int(name, kind, d.get("stride", 1), "stride")
        dil = one_int(name, kind, d.get("dilation", 1), "dilation")
        k = w.shape[-1]
        pad_raw = d.get("padding", 0)
        if isinstance(pad_raw, str):
            if pad_raw == "valid":
                pad = 0
            elif pad_raw == "same" and stride == 1 and (dil * (k - 1)) % 2 == 0:
                pad = dil * (k - 1) // 2
            else:
                raise UnsupportedError(f"node '{name}' ({kind}): padding '{pad_raw}' is asymmetric")
        else:
            pad = one_int(name, kind, pad_raw, "padding")
        extent = dil * (max(w.shape[2:]) - 1) + 1  # the dilated kernel, as ir.Conv2d bounds it
        if stride < 1 or dil < 1 or not 0 <= pad <= extent:
            raise node_error(
                name,
                kind,
                f"stride and dilation must be >= 1 and padding in [0, {extent}] (the dilated "
                f"kernel), "
                f"got stride={stride} dilation={dil} padding={pad}",
            )
        if groups < 1 or w.shape[0] % groups or w.shape[1] * groups != self.shape[0]:
            raise node_error(
                name,
                kind,
                f"weight {w.shape} with groups={groups} does not take "
                f"{self.shape[0]} input channels",
            )
        if one_d:
            # A Conv1d over (C, 1, L): kernel rows 2p/dilation + 1, all zero but the middle one,
            # so the padded rows add nothing and the output keeps one row (exact).
            if pad % dil:
                raise UnsupportedError(
                    f"node '{name}' (Conv1d): padding {pad} is not a multiple of dilation {dil}"
                )
            rows = 2 * (pad // dil) + 1
            full = np.zeros((w.shape[0], w.shape[1], rows, k))
            full[:, :, pad // dil, :] = w
            w = full
        declared = shape_of(d, "input_shape", name)
        spatial = self.shape[2:] if one_d else self.shape[1:]
        if declared is not None and tuple(declared) != tuple(spatial):
            raise node_error(
                name, kind, f"input_shape {declared} does not match its input {self.shape}"
            )
        _, h, wd = self.shape
        kh, kw = w.shape[2:]
        ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
        wo = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
        if ho < 1 or wo < 1:
            raise node_error(name, kind, f"kernel does not fit the input {self.shape}")
        b = param_array(name, kind, d, "bias", np.zeros(w.shape[0]))
        if b.size not in (1, w.shape[0]):
            raise node_error(name, kind, f"bias must have {w.shape[0]} values, got {b.size}")
        w = self._fold_columns(name, kind, w)
        self._start(
            name,
            "conv2d",
            w,
            np.broadcast_to(b.reshape(-1), (w.shape[0],)).copy(),
            (w.shape[0], ho, wo),
            stride=stride,
            padding=pad,
            dilation=dil,
            groups=groups,
        )

    def _fold_columns(self, name: str, kind: str, w: np.ndarray) -> np.ndarray:
        """Fold a preceding Scale into the weight columns (per input; per channel for a conv)."""
        if self.col_scale is None:
            return w
        s = self.col_scale
        self.col_scale = None
        if w.ndim == 2:
            return w * s.reshape(1, -1)
        per_channel = s.reshape(s.shape[0], -1)
        if not np.all(per_channel == per_channel[:, :1]):
            raise UnsupportedError(
                f"node '{name}' ({kind}): the Scale before it varies within a channel; only a "
                f"per-channel scale folds into a convolution"
            )
        if w.shape[1] != s.shape[0]:  # grouped: input channel of column j of group g
            groups = s.shape[0] // w.shape[1]
            col = per_channel[:, 0].reshape(groups, w.shape[1])
            per_out = np.repeat(col, w.shape[0] // groups, axis=0)
            return w * per_out[:, :, None, None]
        return w * per_channel[:, 0].reshape(1, -1, 1, 1)

    # -- neurons -----------------------------------------------------------------------------
    def _if(self, name: str, d: dict[str, Any]) -> None:
        self._neuron(name, d, "IF")

    def _lif(self, name: str, d: dict[str, Any]) -> None:
        self._neuron(name, d, "LIF")

    def _cubalif(self, name: str, d: dict[str, Any]) -> None:
        self._neuron(name, d, "CubaLIF")

    def _threshold(self, name: str, d: dict[str, Any]) -> None:
        self._neuron(name, d, "Threshold")

    def _neuron(self, name: str, d: dict[str, Any], kind: str) -> None:
        if self.pending is None:
            raise UnsupportedError(
                f"node '{name}' ({kind}): a neuron must follow a synaptic node (Conv, Affine, "
                f"Linear), not '{self.last}'"
            )
        n = math.prod(self.shape)

        def param(key: str, default: Any = None) -> np.ndarray:
            return self.fit(name, kind, d, key, default)

        syn = None
        if kind == "Threshold":
            leak, gain, drive = np.zeros(n), np.ones(n), np.zeros(n)
            theta, v_reset = param("threshold"), np.zeros(n)
        else:
            theta = param("v_threshold")
            v_reset = param("v_reset", np.zeros(1))
            r = param("r")
            if kind == "IF":
                leak, gain, drive = np.ones(n), r, np.zeros(n)
            else:
                alpha = self._rate(name, kind, param("tau" if kind == "LIF" else "tau_mem"))
                leak, gain, drive = 1.0 - alpha, alpha * r, alpha * param("v_leak")
                if kind == "CubaLIF":
                    # I_t = (1 − a)·I_{t−1} + a·w_in·x_t: in units of a·w_in the synaptic
                    # current is J_t = (1 − a)·J_{t−1} + x_t, and a·w_in joins the gain.
                    a_syn = self._rate(name, kind, param("tau_syn"))
                    gain = gain * a_syn * param("w_in", np.ones(1))
                    syn = 1.0 - a_syn
                    if not np.any(syn):
                        syn = None  # τ_syn = dt: the synaptic current is the input
        if np.any(gain <= 0):
            raise UnsupportedError(
                f"node '{name}' ({kind}): input gain (r, dt/τ, w_in) must be > 0 for every neuron"
            )
        mode = self.reset or ("zero" if not np.any(v_reset) else "value")
        if np.any(theta / gain <= 0):
            raise UnsupportedError(f"node '{name}' ({kind}): thresholds must be > 0")
        self.pending["nodes"].append(name)
        self._finish(FloatNeuron(name, kind, leak, gain, drive, theta, mode, v_reset, syn))

    def _rate(self, name: str, kind: str, tau: np.ndarray) -> np.ndarray:
        """dt/τ per neuron; ModelError for τ <= 0 or dt > τ (forward Euler's limit)."""
        if np.any(tau <= 0):
            raise node_error(name, kind, "time constants must be > 0")
        rate = self.dt / tau
        if np.any(rate > 1):
            raise node_error(
                name,
                kind,
                f"dt = {self.dt:g} s exceeds the time constant {tau.min():g} s (forward Euler "
                f"needs dt <= τ; pass a smaller dt)",
            )
        return rate

    # -- layer bookkeeping -------------------------------------------------------------------
    def _start(self, name: str, op: str, w: np.ndarray, b: np.ndarray, shape, **kw) -> None:
        nodes = [*self.col_nodes, name]
        self.col_nodes = []
        self.pending = {
            "name": name,
            "op": op,
            "weight": w,
            "bias": b,
            "shape": shape,
            "kw": kw,
            "nodes": nodes,
            "row_scale": np.ones(math.prod(shape)),
            "input": self.last,
        }
        self.shape = shape
        self.last = name

    def _finish(self, neuron: FloatNeuron | None) -> None:
        p, self.pending = self.pending, None
        w, b, row = p["weight"], p["bias"], p["row_scale"]
        if neuron is not None:
            # A Scale between the synaptic node and its neuron multiplies the neuron's gain.
            neuron = dataclasses.replace(neuron, gain=neuron.gain * row)
        elif np.any(row != 1):
            per = row.reshape(p["shape"][0], -1)
            if not np.all(per == per[:, :1]):
                raise UnsupportedError(
                    f"node '{p['nodes'][-1]}' (Scale): varies within a channel before the Output"
                )
            s = per[:, 0]
            w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
            b = b * s
        self.layers.append(
            FloatLayer(
                p["name"],
                p["op"],
                tuple(p["nodes"]),
                p["input"],
                p["shape"],
                weight=w,
                bias=b,
                neuron=neuron,
                **p["kw"],
            )
        )
        self.last = p["name"]

    def _no_pending(self, name: str, kind: str) -> None:
        if self.pending is not None:
            raise UnsupportedError(
                f"node '{name}' ({kind}): follows synaptic node '{self.pending['name']}' "
                f"without a neuron between them; neurosim needs a neuron (or the Output) after "
                f"each synaptic node"
            )
        if self.col_scale is not None and kind in ("SumPool2d", "AvgPool2d", "Flatten"):
            raise UnsupportedError(
                f"node '{name}' ({kind}): a Scale before pooling or flatten is not supported"
            )

    def _append(self, layer: FloatLayer) -> None:
        self.layers.append(layer)
        self.last = layer.name


def build(
    raw: dict[str, Any], name: str, *, dt: float = DEFAULT_DT, reset: str | None = None
) -> FloatGraph:
    """Check and discretise a raw NIR graph (``read_raw``) with time step ``dt`` and an optional
    reset override; every error names the node."""
    if not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
        raise ModelError(f"dt must be a positive number of seconds, got {dt!r}")
    if reset is not None and reset not in RESETS:
        raise ModelError(f"reset must be one of {list(RESETS)} or None (the file's), got {reset!r}")
    nodes, order = chain(raw)
    b = _Builder(nodes, float(dt), reset)
    for node in order:
        b.add(node)
    return FloatGraph(name=name, layers=tuple(b.layers), dt=float(dt), reset=reset)
