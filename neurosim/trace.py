"""The ``Trace`` value: what a functional run produced (spikes, outputs, op counts).

A leaf module: mapping, timing and energy depend on this data, never on the runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

OP_NAMES = (
    "spikes",
    "synaptic_ops",
    "synaptic_ac_equiv",
    "first_layer_macs",
    "neuron_updates",
    "amplifications",
    "compares",
    "alignment_ops",
    "tgim_macs",
    "leak_mults",
)
"""Counted operations, each an int64 array per time-step summed over the batch.

- ``spikes``: non-zero output spikes of the layer at each of its steps (±1 both count).
- ``synaptic_ops``: synaptic accumulations (ACs) = incoming non-zero spikes × fan-out, indexed by
  the *producer's* step (MT-SNN eq. 22 FLOPS_SNN; SWS eq. 10 second term).
- ``synaptic_ac_equiv``: Σ spike level × fan-out (an LM-HT level-k spike is k ACs; equal to
  ``synaptic_ops`` for binary and ternary spikes).
- ``first_layer_macs``: multiply-accumulates of a layer fed by the analog input (direct coding:
  the input current is computed once per sample and held for every step).
- ``neuron_updates``: membrane updates (one per neuron per step; per sub-step when
  re-parameterised).
- ``amplifications``: TSA β-shifts, one per neuron per step over Tc + Ts (SWS eq. 10 first term).
- ``compares``: threshold comparisons (IF 1, TSA 2 per firing step, LM-HT L per step).
- ``alignment_ops``: MT-SNN average-alignment adds (T^{l-1} − 1 per neuron, Alg. 1 lines 25-28).
- ``tgim_macs``: multiply-adds of a trained (non-uniform) LM-HT T-GIM, T² per neuron and sample.
- ``leak_mults``: membrane leak multiplies (LM-HT λ ≠ 1: T per neuron and sample).
"""

ENCODER_FAMILY = "encoder"
"""``LayerTrace.family`` of the network input when the scheme encodes it into spikes."""


@dataclass(frozen=True, eq=False)
class LayerTrace:
    """One layer's share of a run."""

    name: str
    op: str
    family: str | None
    """Neuron family of a spiking layer, ``ENCODER_FAMILY`` for a spiking input (encoded by the
    scheme or given as events), or None."""
    num_steps: int
    """Time-steps (or sub-steps) of the layer's own clock; 1 for a held analog value."""
    shape: tuple[int, ...]
    """Output shape per sample (without batch)."""
    spikes: np.ndarray | None = None
    """int8 [steps, batch, *shape]: 0/1, ±1 (TSA) or levels 0..L (LM-HT); None if not spiking."""
    ops: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Op name → int64 counts per time-step, summed over the batch (see ``OP_NAMES``)."""
    spike_levels: int = 1
    """Largest magnitude of one spike (1 for binary and ternary spikes, L for LM-HT levels)."""

    def total(self, op: str) -> int:
        """Sum of an op over steps and batch (0 if the layer does not do that op)."""
        arr = self.ops.get(op)
        return 0 if arr is None else int(np.sum(arr))


@dataclass(frozen=True, eq=False)
class Trace:
    """Result of ``functional.run``: per-layer spikes and op counts, outputs, predictions."""

    network: str
    scheme: str
    batch_size: int
    layers: tuple[LayerTrace, ...]
    outputs: np.ndarray
    """float64 [batch, classes]: real-valued readout of the output layer."""
    output_int: np.ndarray
    """int64 [batch, classes]: the integer readout (argmax of it gives ``predictions``)."""
    predictions: np.ndarray
    """int64 [batch]: predicted class per sample."""
    meta: Mapping[str, object] = field(default_factory=dict)
    inputs: np.ndarray | None = None
    """The input codes [batch, *input_shape] (the timing models cost a direct-coded layer)."""

    def layer(self, name: str) -> LayerTrace:
        for lt in self.layers:
            if lt.name == name:
                return lt
        raise KeyError(f"trace has no layer '{name}'")

    def total(self, op: str) -> int:
        """Sum of an op over all layers, steps and samples."""
        return sum(lt.total(op) for lt in self.layers)

    def per_sample(self, op: str) -> float:
        """Mean count of an op per sample."""
        return self.total(op) / max(self.batch_size, 1)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (layer, op, step) with the count summed over the batch."""
        rows = []
        for lt in self.layers:
            for op, arr in lt.ops.items():
                for step, count in enumerate(np.asarray(arr).tolist()):
                    rows.append({"layer": lt.name, "op": op, "step": step, "count": int(count)})
        return pd.DataFrame(rows, columns=["layer", "op", "step", "count"])

    def concat(self, *others: Trace) -> Trace:
        """Join the traces of batches of the same network and scheme, in order (one copy)."""
        parts = (self, *others)
        join = TraceJoin(sum(t.batch_size for t in parts))
        for part in parts:
            join.add(part)
        return join.trace()

    def without_spikes(self) -> Trace:
        """The same trace without its per-layer spikes and input codes (op counts, outputs)."""
        return dataclasses.replace(
            self,
            layers=tuple(dataclasses.replace(lt, spikes=None) for lt in self.layers),
            inputs=None,
        )


class TraceJoin:
    """The trace of several batches, filled batch by batch (``Trace.concat`` in steps): each
    layer's spikes go straight into their slice of one array of every sample, so a run keeps
    one batch's spikes besides it instead of every batch's and a joined copy.

    A one-sample batch's scans may write their spikes in place (``spike_slot``): those layers
    are held sample-major, [N, T, *shape], and the trace gets the [T, N, *shape] view of it
    (the per-sample ``spikes[:, i]`` the timing models read is then contiguous)."""

    def __init__(self, total: int) -> None:
        """Room for ``total`` samples."""
        self._total = total
        self._filled = 0
        self._first: Trace | None = None
        self._slabs: dict[str, np.ndarray] = {}
        self._spikes: list[np.ndarray | None] = []
        self._ops: list[dict[str, np.ndarray]] = []
        self._outputs: list[tuple[np.ndarray, ...]] = []
        self._inputs: list[np.ndarray] | None = []

    def spike_slot(
        self, name: str, num_steps: int, shape: tuple[int, ...], sample: int
    ) -> np.ndarray:
        """int8 [T, 1, *shape]: where sample ``sample`` of layer ``name`` keeps its spikes (a
        C-contiguous view of the layer's sample-major array, made at the first request)."""
        slab = self._slabs.get(name)
        if slab is None:
            slab = self._slabs[name] = np.empty((self._total, num_steps, *shape), np.int8)
        return slab[sample].reshape(num_steps, 1, *shape)

    def _start(self, first: Trace) -> None:
        self._first = first
        for lt in first.layers:
            slab = self._slabs.get(lt.name)
            if lt.spikes is None:
                self._spikes.append(None)
            elif slab is not None and slab.shape[1:] == (lt.spikes.shape[0], *lt.spikes.shape[2:]):
                self._spikes.append(np.moveaxis(slab, 0, 1))
            else:
                shape = (lt.spikes.shape[0], self._total, *lt.spikes.shape[2:])
                self._spikes.append(np.empty(shape, lt.spikes.dtype))
            self._ops.append({})
        if first.inputs is None:
            self._inputs = None

    def add(self, part: Trace) -> None:
        """Append the next batch's trace (same network and scheme, the layers in order)."""
        if self._first is None:
            self._start(part)
        first = self._first
        assert first is not None
        if (part.network, part.scheme) != (first.network, first.scheme):
            raise ValueError("cannot join traces of different networks or schemes")
        if len(part.layers) != len(first.layers):
            raise ValueError("cannot join traces with different layers")
        lo, hi = self._filled, self._filled + part.batch_size
        if hi > self._total:
            raise ValueError(f"the joined trace has room for {self._total} samples")
        for i, lt in enumerate(part.layers):
            target = self._spikes[i]
            if lt.spikes is None:
                self._spikes[i] = None
            elif target is not None and not _same_memory(target[:, lo:hi], lt.spikes):
                target[:, lo:hi] = lt.spikes
            ops = self._ops[i]
            for k in first.layers[i].ops:
                ops[k] = lt.ops[k].copy() if k not in ops else ops[k] + lt.ops[k]
        self._outputs.append((part.outputs, part.output_int, part.predictions))
        if self._inputs is not None:
            if part.inputs is None:
                self._inputs = None
            else:
                self._inputs.append(part.inputs)
        self._filled = hi

    def trace(self) -> Trace:
        """The joined trace of the batches added so far (all of them: they fill the room)."""
        if self._filled != self._total or self._first is None:
            raise ValueError(f"the joined trace has {self._filled} of {self._total} samples")
        first = self._first
        layers = tuple(
            LayerTrace(a.name, a.op, a.family, a.num_steps, a.shape, spikes, ops, a.spike_levels)
            for a, spikes, ops in zip(first.layers, self._spikes, self._ops, strict=True)
        )
        outputs, output_int, predictions = (
            np.concatenate(x) for x in zip(*self._outputs, strict=True)
        )
        return Trace(
            first.network,
            first.scheme,
            self._filled,
            layers,
            outputs,
            output_int,
            predictions,
            dict(first.meta),
            None if self._inputs is None else np.concatenate(self._inputs),
        )


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` are the same elements (same start, shape and the strides of
    every axis longer than 1): a batch that wrote its spikes in place needs no copy."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and all(n <= 1 or x == y for n, x, y in zip(a.shape, a.strides, b.strides, strict=True))
    )
