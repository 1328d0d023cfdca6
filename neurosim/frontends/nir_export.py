"""NIR export: an integer SNN of any scheme as a ``.nir`` graph that other frameworks read, with
neurosim's own layers in node metadata so that neurosim reads it back bit for bit.

Imports ``ir``, ``io``, ``_files`` and ``errors``; the ``nir`` package inside ``save``. Each
layer becomes NIR primitives in real units (σ_P = the layer's ``out_scale``, 1 without one): a
conv/linear node with weights W_int·G·2^f·σ_P (G the value of one incoming spike in the layer's
input units, divided by the input scale for analog codes) and bias B·σ_P; its neuron, seen
through ``NeuronSpec.dynamics()``, as an IF (λ = 1, r = 1), a LIF (τ = dt/(1 − λ), r = τ/dt, so
that λ = 1 − dt/τ and the input gain is 1 under the importer's discretisation) or, with a
synaptic current, a CubaLIF (τ_syn = dt/(1 − α), w_in = τ_syn/dt) with threshold Θ·σ_P and
v_reset (a value reset) or 0; an average pool as the SumPool2d the integer path computes (1/k²
lives in the consumer's scale); a residual Add as a Scale per input into the Add's neuron (NIR
sums a node's inputs). What NIR cannot say — subtractive reset, V0, firing at equality, ternary
TSA spikes, multi-level LM-HT spikes, per-layer T, alignment, β shifts, integer scales — is in
the metadata only.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import ir
from neurosim._files import atomic_write
from neurosim.errors import ModelError, UnsupportedError
from neurosim.frontends.nir import ARRAYS_KEY, LAYER_KEY, NATIVE_KEY
from neurosim.frontends.nir_graph import DEFAULT_DT
from neurosim.io import native


def _nir():
    try:
        import nir
    except ImportError:
        raise UnsupportedError(
            'writing NIR files needs the nir package: pip install "neurosim-snn[nir]"'
        ) from None
    return nir


def _out_scale(lay: ir.Layer, channels: int) -> np.ndarray:
    s = getattr(lay, "out_scale", None)
    return np.ones(channels) if s is None else np.broadcast_to(np.asarray(s, float), (channels,))


def _per_neuron(values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A per-channel [C], per-neuron [N] or single value as float64 of ``shape``."""
    arr = np.asarray(values, np.float64).reshape(-1)
    n = int(np.prod(shape))
    if arr.size == n:
        return arr.reshape(shape)
    if arr.size == 1:
        return np.full(shape, arr[0])
    return np.repeat(arr, n // shape[0]).reshape(shape)


class _Writer:
    def __init__(self, network: ir.Network, dt: float) -> None:
        self.net = network
        self.dt = dt
        self.nir = _nir()
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.head: dict[str, str] = {}
        """Layer name → the NIR node that emits its output."""
        self.header, arrays = native.encode_network(network)
        self.entries = {e["name"]: e for e in self.header.pop("layers")}
        self.arrays = arrays

    def metadata(self, layer: str) -> dict[str, Any]:
        entry = self.entries[layer]
        keys = [k for k in self.arrays if k.split("/", 1)[0] == layer]
        return {
            LAYER_KEY: json.dumps(entry),
            ARRAYS_KEY: {k.replace("/", "|"): self.arrays[k] for k in keys},
        }

    def unit_in(self, src: str) -> float:
        """Units of the layer's integer input per real unit of what the NIR producer emits."""
        prod, _ = self.net.producer(src)
        if isinstance(prod, ir.Input):
            return 1.0 / float(prod.scale)
        neuron = getattr(prod, "neuron", None)
        return float(neuron.level_gain) if neuron is not None else 1.0

    def add_node(self, name: str, node: Any, src: str | None) -> None:
        if name in self.nodes:
            raise ModelError(f"layer '{name}': the NIR node name is taken")
        self.nodes[name] = node
        if src is not None:
            self.edges.append((self.head[src], name))

    def layer(self, lay: ir.Layer) -> None:
        nir, shape, meta = self.nir, self.net.shapes[lay.name], self.metadata(lay.name)
        if isinstance(lay, ir.Input):
            self.add_node(
                lay.name, nir.Input(input_type={"input": np.array(shape)}, metadata=meta), None
            )
        elif isinstance(lay, ir.AvgPool2d):
            k, s = np.array([lay.kernel] * 2), np.array([lay.stride] * 2)
            self.add_node(
                lay.name, nir.SumPool2d(k, s, np.array([0, 0]), metadata=meta), lay.inputs[0]
            )
        elif isinstance(lay, ir.Flatten):
            src_shape = self.net.shapes[lay.inputs[0]]
            node = nir.Flatten(
                input_type={"input": np.array(src_shape)}, start_dim=0, metadata=meta
            )
            self.add_node(lay.name, node, lay.inputs[0])
        elif isinstance(lay, ir.Conv2d | ir.Linear):
            self.synaptic(lay, shape, meta)
        elif isinstance(lay, ir.Add):
            self.add(lay, shape, meta)
        else:
            raise UnsupportedError(f"layer '{lay.name}': op '{lay.op}' has no NIR form")
        self.head.setdefault(lay.name, lay.name)

    def synaptic(self, lay: ir.Conv2d | ir.Linear, shape: tuple[int, ...], meta: dict) -> None:
        nir = self.nir
        co = lay.out_channels
        sigma = _out_scale(lay, co)
        gain = self.unit_in(lay.inputs[0]) * 2.0**lay.shift
        w = (
            lay.weight.astype(np.float64)
            * gain
            * sigma.reshape((-1,) + (1,) * (lay.weight.ndim - 1))
        )
        b = np.zeros(co) if lay.bias is None else np.asarray(lay.bias, np.float64) * sigma
        if isinstance(lay, ir.Conv2d):
            if lay.weight.shape[2] != lay.weight.shape[3]:
                raise UnsupportedError(
                    f"layer '{lay.name}': kernel {lay.weight.shape[2]}x{lay.weight.shape[3]}; "
                    f"NIR's Conv2d shape check takes square kernels"
                )
            in_shape = self.net.shapes[lay.inputs[0]]
            node = nir.Conv2d(
                input_shape=tuple(int(v) for v in in_shape[1:]),
                weight=w,
                stride=lay.stride,
                padding=lay.padding,
                dilation=lay.dilation,
                groups=lay.groups,
                bias=b,
                metadata=meta,
            )
        else:
            node = nir.Affine(weight=w, bias=b, metadata=meta)
        self.add_node(lay.name, node, lay.inputs[0])
        if lay.neuron is not None:
            self.neuron(f"{lay.name}.neuron", lay.neuron, sigma, shape, lay.name)
            self.head[lay.name] = f"{lay.name}.neuron"

    def add(self, lay: ir.Add, shape: tuple[int, ...], meta: dict) -> None:
        nir = self.nir
        sigma = _out_scale(lay, shape[0])
        merge = lay.name
        for i, (src, g) in enumerate(zip(lay.inputs, lay.gains, strict=True)):
            prod, _ = self.net.producer(src)
            unit = self.unit_in(src)
            if isinstance(prod, ir.Conv2d | ir.Linear) and prod.neuron is None:
                unit = 1.0 / _out_scale(prod, shape[0])
            scale = _per_neuron(np.asarray(g, float) * sigma * unit, shape)
            name = f"{lay.name}.in{i}"
            self.add_node(name, nir.Scale(scale=scale), src)
            self.edges.append((name, merge))
        if lay.neuron is not None:
            self.neuron(merge, lay.neuron, sigma, shape, None, meta)
        else:
            self.nodes[merge] = nir.Scale(scale=np.ones(shape), metadata=meta)

    def neuron(self, name, neuron, sigma, shape, src, meta=None) -> None:
        """The neuron as an IF or LIF node in real units (``NeuronSpec.dynamics``)."""
        nir, dyn = self.nir, neuron.dynamics()
        sig = _per_neuron(sigma, shape)
        theta = _per_neuron(neuron.threshold, shape) * sig
        v_reset = (
            _per_neuron(dyn.v_reset, shape) * sig
            if dyn.reset == "value" and dyn.v_reset is not None
            else np.zeros(shape)
        )
        lam = np.ones(shape) if dyn.leak is None else _per_neuron(dyn.leak, shape)
        kw = {"metadata": meta} if meta else {}
        # τ = dt/(1 − λ) and r = τ/dt: λ = 1 − dt/τ and an input gain of 1 (λ = 1: τ = 2^53·dt).
        alpha = np.maximum(1.0 - lam, 2.0**-53)
        tau = self.dt / alpha
        drive = np.zeros(shape) if dyn.bias is None else _per_neuron(dyn.bias, shape) * sig
        if dyn.syn_leak is not None:
            # J_t = α_s·J_{t−1} + x_t: τ_syn = dt/(1 − α_s), w_in = τ_syn/dt.
            tau_syn = self.dt / np.maximum(1.0 - _per_neuron(dyn.syn_leak, shape), 2.0**-53)
            node = nir.CubaLIF(
                tau_syn=tau_syn,
                tau_mem=tau,
                r=tau / self.dt,
                v_leak=drive / alpha,
                v_threshold=theta,
                v_reset=v_reset,
                w_in=tau_syn / self.dt,
                **kw,
            )
        elif np.all(lam == 1):
            node = nir.IF(r=np.ones(shape), v_threshold=theta, v_reset=v_reset, **kw)
        else:
            node = nir.LIF(
                tau=tau,
                r=tau / self.dt,
                v_leak=drive / alpha,
                v_threshold=theta,
                v_reset=v_reset,
                **kw,
            )
        self.nodes[name] = node
        if src is not None:
            self.edges.append((src, name))

    def graph(self):
        nir = self.nir
        out = self.net.output.name
        name = "output" if "output" not in self.nodes else f"{out}.output"
        self.nodes[name] = nir.Output(output_type={"output": np.array(self.net.shapes[out])})
        self.edges.append((self.head[out], name))
        header = {**self.header, "layer_nodes": [lay.name for lay in self.net.layers]}
        return nir.NIRGraph(
            nodes=self.nodes, edges=self.edges, metadata={NATIVE_KEY: json.dumps(header)}
        )


def save(network: ir.Network, path: str | Path, *, dt: float = DEFAULT_DT) -> Path:
    """Write an SNN as a NIR file (``nir.write``, atomically); returns the path. ``dt`` sets
    the time constants of LIF nodes (τ = dt/(1 − λ)).

    Raises
    ------
    ModelError
        An ANN, a bad ``dt``, or a graph that does not check.
    ConfigError
        The path cannot be written (a folder, unwritable), naming it and the reason.
    """
    if network.kind != "snn":
        raise ModelError(
            f"network '{network.name}' is a quantized ANN; convert it to a scheme first "
            f"(NIR holds spiking networks)"
        )
    if not (isinstance(dt, int | float) and dt > 0):
        raise ModelError(f"dt must be a positive number of seconds, got {dt!r}")
    writer = _Writer(network, float(dt))
    for lay in network.layers:
        writer.layer(lay)
    try:
        graph = writer.graph()
    except (ValueError, AssertionError) as exc:
        raise ModelError(
            f"network '{network.name}': the NIR graph does not check ({exc})"
        ) from None
    buf = io.BytesIO()
    writer.nir.write(buf, graph)
    return atomic_write(Path(path), buf.getvalue())


__all__ = ["save"]
