"""A NIR file read, checked and discretised: the float network both the importer (which
quantizes it) and the float reference (which runs it in float64) start from.

Imports ``errors`` and ``frontends.nir_common``; the ``nir`` package (h5py) only inside
``read_file``. NIR is continuous-time; with time step dt (forward Euler, input held over the step,
spikes worth 1) a node becomes, per step t and neuron n:

- IF (dv/dt = R·I): v_t = v_{t−1} + R·I_t;
- LIF (τ dv/dt = v_leak − v + R·I): v_t = λ·v_{t−1} + (dt/τ)·R·I_t + (dt/τ)·v_leak, λ = 1 − dt/τ;
- CubaLIF: as LIF on the synaptic current, which is I_t itself when dt = τ_syn; other τ_syn need
  a second state (UnsupportedError);
- Threshold: v_t = I_t (λ = 0);
- then z_t = [v_t > v_threshold] and, on a spike, v_t = v_reset (the file), 0, or v_t − v_threshold
  (``reset="subtract"``, for exporters that wrote a subtractive reset as reset to zero).

IF carries no dt: every framework that exports IF nodes (Sinabs, Norse, snnTorch) integrates
its input unscaled. A neuron is written v_t = λ·v_{t−1} + g·I_t + d with per-neuron λ, gain g and
drive d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import ModelError, UnsupportedError

DEFAULT_DT = 1e-4
"""Seconds per step: the NIR paper's time step (its LIF and CNN comparisons use dt = 0.0001)."""

RESETS = ("zero", "value", "subtract")

NEURON_TYPES = ("IF", "LIF", "CubaLIF", "Threshold")
SYNAPTIC_TYPES = ("Conv1d", "Conv2d", "Affine", "Linear")
POOL_TYPES = ("SumPool2d", "AvgPool2d")
UNSUPPORTED = {
    "LI": "a leaky integrator without spikes (a non-spiking state the lif family does not hold)",
    "CubaLI": "a current-based leaky integrator without spikes",
    "I": "an integrator without spikes",
    "Delay": "a per-edge delay (neurosim layers have none)",
    "NIRGraph": "a nested graph (recurrent layers)",
    "Identity": "an identity node",
}
"""NIR node types the importer leaves out, and why."""
KNOWN = (*NEURON_TYPES, *SYNAPTIC_TYPES, *POOL_TYPES, "Input", "Output", "Flatten", "Scale")


@dataclass(frozen=True, eq=False)
class FloatNeuron:
    """One spiking node discretised: v_t = λ·v_{t−1} + g·I_t + d, z_t = [v_t > θ], reset."""

    node: str
    kind: str
    """The NIR node type."""
    leak: np.ndarray
    """λ per neuron (float64 [N], C-order)."""
    gain: np.ndarray
    """g per neuron (> 0)."""
    drive: np.ndarray
    """d per neuron and step."""
    threshold: np.ndarray
    reset: str
    """``zero``, ``value`` or ``subtract``."""
    v_reset: np.ndarray


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """One neurosim layer of the float network: a synaptic node (with the neuron after it), a
    pooling node, a flatten or the input. ``op`` is the ``ir`` op it becomes."""

    name: str
    op: str
    nodes: tuple[str, ...]
    input: str | None
    shape: tuple[int, ...]
    weight: np.ndarray | None = None
    """float64 conv [Co, Ci/groups, Kh, Kw] or linear [out, in]."""
    bias: np.ndarray | None = None
    """float64 [Co] (per output channel)."""
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    kernel: int = 0
    """Pooling window side."""
    pool_scale: float = 1.0
    """1 for a sum pool, 1/k² for an average pool."""
    neuron: FloatNeuron | None = None


@dataclass(frozen=True, eq=False)
class FloatGraph:
    """A checked, discretised NIR graph: layers in order, the last one the output."""

    name: str
    layers: tuple[FloatLayer, ...]
    dt: float
    reset: str | None
    """The reset override, or None (each node's own)."""
    native: dict[str, Any] | None = field(default=None)
    """neurosim's own description when the file is a neurosim export (graph metadata)."""

    @property
    def input(self) -> FloatLayer:
        return self.layers[0]


def read_raw(path: str | Path) -> dict[str, Any]:
    """The file's graph as a plain dict (``nir.serialization.hdf2dict``); ModelError if it is
    not a readable NIR file, UnsupportedError naming the extra if ``nir`` is missing."""
    try:
        import h5py
        from nir.serialization import hdf2dict
    except ImportError:
        raise UnsupportedError(
            'reading NIR files needs the nir package: pip install "neurosim-snn[nir]"'
        ) from None
    try:
        with h5py.File(path, "r") as f:
            return hdf2dict(f["node"])
    except (OSError, KeyError) as exc:
        raise ModelError(f"{path}: not a readable NIR file ({exc})") from None


def _fail(node: str, kind: str, msg: str) -> ModelError:
    return ModelError(f"node '{node}' ({kind}): {msg}")


def _array(node: str, kind: str, d: dict[str, Any], key: str, default: Any = None) -> np.ndarray:
    if key not in d:
        if default is None:
            raise _fail(node, kind, f"missing parameter '{key}'")
        return np.asarray(default, np.float64)
    try:
        arr = np.asarray(d[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(node, kind, f"parameter '{key}' is not numeric") from None
    if not np.all(np.isfinite(arr)):
        raise _fail(node, kind, f"parameter '{key}' has NaN or infinite values")
    return arr


def _pair(node: str, kind: str, value: Any, what: str) -> int:
    """One int from a NIR int, [a] or [a, a]; UnsupportedError for unequal axes."""
    arr = np.atleast_1d(np.asarray(value)).reshape(-1)
    if arr.size == 0 or not np.all(arr == arr[0]) or arr[0] != int(arr[0]):
        raise UnsupportedError(
            f"node '{node}' ({kind}): {what} {arr.tolist()} differs between axes; neurosim's "
            f"layers take one {what} for both"
        )
    return int(arr[0])


def _order(raw: dict[str, Any]) -> tuple[dict[str, dict], list[str], dict[str, str]]:
    """Nodes, their names from Input to Output, and each node's single producer."""
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        raise ModelError("the graph has no nodes")
    for name, d in nodes.items():
        kind = d.get("type") if isinstance(d, dict) else None
        if kind in UNSUPPORTED:
            raise UnsupportedError(f"node '{name}' ({kind}): not supported: {UNSUPPORTED[kind]}")
        if kind not in KNOWN:
            raise ModelError(
                f"node '{name}': unknown NIR node type {kind!r}; supported: {', '.join(KNOWN)}"
            )
    edges = [
        (str(_str(a)), str(_str(b))) for a, b in np.asarray(raw.get("edges", [])).reshape(-1, 2)
    ]
    src: dict[str, list[str]] = {n: [] for n in nodes}
    dst: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ModelError(f"edge ('{a}', '{b}'): node '{end}' is not in the graph")
        src[b].append(a)
        dst[a].append(b)
    inputs = [n for n, d in nodes.items() if d["type"] == "Input"]
    outputs = [n for n, d in nodes.items() if d["type"] == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(
            f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; neurosim "
            f"imports graphs with one of each"
        )
    order, seen, node = [], set(), inputs[0]
    while True:
        if node in seen:
            raise ModelError(f"node '{node}': recurrent edge (a cycle back to '{node}')")
        seen.add(node)
        order.append(node)
        if len(src[node]) > 1:
            raise UnsupportedError(
                f"node '{node}' ({nodes[node]['type']}): {len(src[node])} incoming edges "
                f"({', '.join(src[node])}); merging branches is not supported"
            )
        if nodes[node]["type"] == "Output":
            break
        if len(dst[node]) != 1:
            what = "no outgoing edge" if not dst[node] else f"{len(dst[node])} outgoing edges"
            raise UnsupportedError(
                f"node '{node}' ({nodes[node]['type']}): {what}; neurosim imports a chain from "
                f"the Input to the Output"
            )
        node = dst[node][0]
    stray = [n for n in nodes if n not in seen]
    if stray:
        cyc = [n for n in stray if any(p in stray for p in src[n])]
        if cyc:
            raise ModelError(f"node '{cyc[0]}': recurrent edge (it is on a cycle)")
        raise UnsupportedError(f"node '{stray[0]}': not on the path from Input to Output")
    producer = {b: a for a, b in edges}
    return nodes, order, producer


def _str(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _shape_of(d: dict[str, Any], key: str) -> tuple[int, ...] | None:
    if key not in d or d[key] is None:
        return None
    arr = np.atleast_1d(np.asarray(d[key])).reshape(-1)
    return tuple(int(v) for v in arr)


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
        shape = _shape_of(d, "shape")
        if not shape or any(s <= 0 for s in shape):
            raise _fail(name, "Input", f"shape must be positive, got {shape}")
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
        want = _shape_of(d, "shape")
        if want is not None and math.prod(want) != math.prod(self.shape):
            raise _fail(name, "Output", f"shape {want} does not match its input {self.shape}")
        if self.layers[-1].op in ("input", "avgpool2d", "flatten"):
            raise UnsupportedError(
                f"node '{name}' (Output): the graph must end in a synaptic or spiking node, "
                f"not '{self.layers[-1].name}' ({self.layers[-1].op})"
            )

    def _scale(self, name: str, d: dict[str, Any]) -> None:
        s = _array(name, "Scale", d, "scale")
        if self.pending is not None:
            s = np.broadcast_to(s, self.shape).reshape(-1)
            self.pending["row_scale"] = self.pending["row_scale"] * s
            self.pending["nodes"].append(name)
            return
        s = np.broadcast_to(s, self.shape).astype(np.float64)
        self.col_scale = s if self.col_scale is None else self.col_scale * s
        self.col_nodes.append(name)

    def _flatten(self, name: str, d: dict[str, Any]) -> None:
        self._no_pending(name, "Flatten")
        declared = _shape_of(d, "input_type")
        if declared is not None and math.prod(declared) != math.prod(self.shape):
            raise _fail(
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
            raise _fail(name, kind, f"needs a (C, H, W) input, got {self.shape}")
        k = _pair(name, kind, d.get("kernel_size", 0), "kernel_size")
        s = _pair(name, kind, d.get("stride", k), "stride")
        p = _pair(name, kind, d.get("padding", 0), "padding")
        if p:
            raise UnsupportedError(f"node '{name}' ({kind}): padding {p}; pooling takes none")
        c, h, w = self.shape
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        if k < 1 or s < 1 or ho < 1 or wo < 1:
            raise _fail(name, kind, f"kernel {k}, stride {s} do not fit the input {self.shape}")
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
        w = _array(name, kind, d, "weight")
        if w.ndim != 2:
            raise _fail(name, kind, f"weight must be [out, in], got shape {w.shape}")
        if len(self.shape) != 1 or self.shape[0] != w.shape[1]:
            raise _fail(
                name, kind, f"weight expects {w.shape[1]} inputs, its input is {self.shape}"
            )
        b = _array(name, kind, d, "bias") if kind == "Affine" else np.zeros(w.shape[0])
        if b.shape not in ((w.shape[0],), ()):
            raise _fail(name, kind, f"bias must have {w.shape[0]} values, got shape {b.shape}")
        w = self._fold_columns(name, kind, w)
        self._start(name, "linear", w, np.broadcast_to(b, (w.shape[0],)).copy(), (w.shape[0],))

    def _conv1d(self, name: str, d: dict[str, Any]) -> None:
        self._conv(name, d, "Conv1d")

    def _conv2d(self, name: str, d: dict[str, Any]) -> None:
        self._conv(name, d, "Conv2d")

    def _conv(self, name: str, d: dict[str, Any], kind: str) -> None:
        self._no_pending(name, kind)
        w = _array(name, kind, d, "weight")
        one_d = kind == "Conv1d"
        if w.ndim != (3 if one_d else 4):
            raise _fail(name, kind, f"weight has {w.ndim} dimensions")
        if len(self.shape) != 3 or (one_d and self.shape[1] != 1):
            raise _fail(name, kind, f"input shape {self.shape} does not suit a {kind}")
        groups = int(np.asarray(d.get("groups", 1)).reshape(-1)[0])
        stride = _pair(name, kind, d.get("stride", 1), "stride")
        dil = _pair(name, kind, d.get("dilation", 1), "dilation")
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
            pad = _pair(name, kind, pad_raw, "padding")
        if groups < 1 or w.shape[0] % groups or w.shape[1] * groups != self.shape[0]:
            raise _fail(
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
        declared = _shape_of(d, "input_shape")
        spatial = self.shape[2:] if one_d else self.shape[1:]
        if declared is not None and tuple(declared) != tuple(spatial):
            raise _fail(name, kind, f"input_shape {declared} does not match its input {self.shape}")
        _, h, wd = self.shape
        kh, kw = w.shape[2:]
        ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
        wo = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
        if ho < 1 or wo < 1:
            raise _fail(name, kind, f"kernel does not fit the input {self.shape}")
        b = _array(name, kind, d, "bias", np.zeros(w.shape[0]))
        if b.size not in (1, w.shape[0]):
            raise _fail(name, kind, f"bias must have {w.shape[0]} values, got {b.size}")
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
        shape = self.shape
        n = math.prod(shape)
        # A Conv1d layer is (C, 1, L) here; its NIR parameters are (C, L).
        shapes = {shape, tuple(s for i, s in enumerate(shape) if not (self.conv1d and i == 1))}

        def param(key: str, default: Any = None) -> np.ndarray:
            arr = _array(name, kind, d, key, default)
            if arr.size not in (1, n) or (
                arr.size == n and arr.ndim > 1 and arr.shape not in shapes
            ):
                raise _fail(
                    name,
                    kind,
                    f"parameter '{key}' has shape {arr.shape}, its input "
                    f"(from node '{self.last}') is {shape}",
                )
            return np.broadcast_to(arr.reshape(-1), (n,)).astype(np.float64)

        dt = self.dt
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
                tau = param("tau" if kind == "LIF" else "tau_mem")
                if np.any(tau <= 0):
                    raise _fail(name, kind, "time constants must be > 0")
                alpha = dt / tau
                if np.any(alpha > 1):
                    raise _fail(
                        name,
                        kind,
                        f"dt = {dt:g} s exceeds the time constant "
                        f"{tau.min():g} s (forward Euler needs dt <= τ; pass a smaller dt)",
                    )
                leak, gain, drive = 1.0 - alpha, alpha * r, alpha * param("v_leak")
                if kind == "CubaLIF":
                    tau_syn = param("tau_syn")
                    if not np.all(tau_syn == dt):
                        raise UnsupportedError(
                            f"node '{name}' (CubaLIF): τ_syn = {tau_syn.min():g} s ≠ dt = "
                            f"{dt:g} s needs a synaptic current state, which the lif family "
                            f"does not hold (with τ_syn = dt it is a LIF)"
                        )
                    gain = gain * param("w_in", np.ones(1))
        if np.any(gain <= 0):
            raise UnsupportedError(
                f"node '{name}' ({kind}): input gain (r, dt/τ, w_in) must be > 0 for every neuron"
            )
        mode = self.reset or ("zero" if not np.any(v_reset) else "value")
        if np.any(theta / gain <= 0):
            raise UnsupportedError(f"node '{name}' ({kind}): thresholds must be > 0")
        self.pending["nodes"].append(name)
        self._finish(FloatNeuron(name, kind, leak, gain, drive, theta, mode, v_reset))

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
            neuron = FloatNeuron(
                neuron.node,
                neuron.kind,
                neuron.leak,
                neuron.gain * row,
                neuron.drive,
                neuron.threshold,
                neuron.reset,
                neuron.v_reset,
            )
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
    nodes, order, _ = _order(raw)
    b = _Builder(nodes, float(dt), reset)
    for node in order:
        b.add(node)
    return FloatGraph(name=name, layers=tuple(b.layers), dt=float(dt), reset=reset)
