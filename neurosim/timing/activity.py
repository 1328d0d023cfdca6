"""Per-sample input activity of each layer, read from a ``Trace`` (vectorised numpy).

Imports ``ir``, ``trace``, ``errors`` and ``kernels`` (the compiled window sum). The timing
models cost tiles and time-steps from these arrays: how many non-zero input values (and of what
magnitude) each layer sees at each of its steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurosim import ir
from neurosim.errors import UnsupportedError
from neurosim.kernels.sums import sum_pool2d
from neurosim.trace import Trace


@dataclass(frozen=True, eq=False)
class LayerInput:
    """What one layer's synaptic stage consumes for one sample."""

    layer: str
    source: str
    """The spiking layer (or the input) whose output reaches this layer via pool/flatten."""
    magnitude: np.ndarray
    """Integer [steps, *in_shape]: |input value| per step (spike level, pooled spike count, or
    the analog code for a direct-coded first layer), in the narrowest of int8, int16, int32
    and int64 that holds it (readers sum in int64)."""
    analog: bool
    """True for the direct-coded first layer (multi-bit MACs, computed once per sample)."""
    aligned: bool
    """True under MT-SNN average alignment: ``magnitude`` is then one step, the producer's
    whole-sample count, which the layer integrates once and re-adds at each of its steps."""


def _narrowest(bound: int) -> type:
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if bound <= np.iinfo(t).max)


def _sum_pool(x: np.ndarray, k: int, s: int, bound: int) -> np.ndarray:
    """Σ over k×k windows at stride s of the last two axes, in the narrowest dtype holding
    ``bound`` (the largest sum): the synaptic kernels' compiled window sum, each plane of the
    leading axes a plane of it (k² numpy strided adds took ~3x longer over VGG-16 ImageNet's
    five pooled inputs)."""
    planes = x.reshape(-1, 1, 1, *x.shape[-2:])
    out = sum_pool2d(planes, k, s, dtype=_narrowest(bound))
    return out.reshape(*x.shape[:-2], *out.shape[-2:])


def _windows(x: np.ndarray, pool: ir.MaxPool2d) -> np.ndarray:
    """[..., Ho, Wo, k·k]: every max-pooling window of ``x`` [..., H, W] (zero padding)."""
    k, p = pool.kernel, pool.padding
    x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)])
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(-2, -1))
    win = win[..., :: pool.stride, :: pool.stride, :, :]
    return win.reshape(*win.shape[:-2], k * k)


def max_pool(x: np.ndarray, pool: ir.MaxPool2d) -> np.ndarray:
    """Max pooling of whole-sample levels x [..., H, W] (zero padding; levels are >= 0)."""
    return _windows(x, pool).max(axis=-1)


def max_pool_winner(x: np.ndarray, pool: ir.MaxPool2d) -> np.ndarray:
    """Per-step values [slots, ..., Ho, Wo] of each window's winner: the first position (in
    raster order) holding the window's largest count Σ_slots x — how the functional pass
    forwards a max pool's spikes (its levels are the counts' max)."""
    win = _windows(x, pool)
    best = np.argmax(_windows(x.sum(axis=0, keepdims=True), pool), axis=-1)[..., None]
    return np.take_along_axis(win, np.broadcast_to(best, (*win.shape[:-1], 1)), -1)[..., 0]


def pool_chain(mag: np.ndarray, chain: tuple[ir.Layer, ...]) -> np.ndarray:
    """``mag`` [steps, *shape] through folded pooling and flatten: sums of AvgPool windows, the
    max of MaxPool windows (``mag`` holds whole-sample levels then), flattened C-order (int64)."""
    mag = np.asarray(mag, np.int64)
    for c in chain:
        if isinstance(c, ir.AvgPool2d):
            mag = _sum_pool(mag, c.kernel, c.stride, np.iinfo(np.int64).max)
        elif isinstance(c, ir.MaxPool2d):
            mag = max_pool(mag, c)
        else:
            mag = mag.reshape(mag.shape[0], -1)
    return mag


def _source_chain(net: ir.Network, name: str) -> tuple[str, tuple[ir.Layer, ...]]:
    """Follow pool/flatten layers back from ``name`` to a spiking layer or the input."""
    producer, chain = net.producer(name)
    return producer.name, chain


def layer_steps(layer: ir.Layer) -> int:
    """Time-steps a layer's neurons run (IF T^l, TSA Tc, LM-HT T or T·L); 1 if not spiking."""
    neuron = getattr(layer, "neuron", None)
    return 1 if neuron is None else neuron.num_steps


def input_activity(net: ir.Network, trace: Trace, layer: str, src: str, sample: int) -> LayerInput:
    """Activity of input ``src`` of ``layer`` for one sample (batch index ``sample``)."""
    source, chain = _source_chain(net, src)
    lay = net.layer(layer)
    src_lay = net.layer(source)
    steps = layer_steps(lay)
    if isinstance(src_lay, ir.Input) and trace.layer(source).spikes is None:
        raise ValueError("analog input activity needs the input codes; use analog_activity")
    spikes = trace.layer(source).spikes
    if spikes is None:
        raise ValueError(f"trace has no spikes for layer '{source}' (run with keep_spikes=True)")
    # Spikes are int8 with |s| <= 127: their magnitude stays one byte until pooling sums it.
    # Spikes without a negative value are their own magnitudes: a read-only view of them (a
    # min is cheaper than an absolute copy).
    mag = spikes[:, sample]
    if mag.size and mag.min() < 0:
        mag = np.abs(mag)
    else:
        mag = mag.view()
        mag.flags.writeable = False
    bound = 127
    if any(isinstance(c, ir.MaxPool2d) for c in chain):
        # Max pooling is exact on whole-sample levels only: the consumer integrates them
        # (alignment; convert refuses any other reader), so the counts are pooled once.
        neuron = getattr(lay, "neuron", None)
        src_steps = [getattr(src_lay.neuron, "num_steps", 1)] if src_lay.neuron else []
        if neuron is None or not neuron.receives_levels(src_steps):
            raise UnsupportedError(
                f"layer '{layer}' reads max-pooled '{source}' without receiving its levels"
            )
        mag = pool_chain(mag.sum(axis=0, keepdims=True, dtype=np.int64), chain)
        return LayerInput(layer=layer, source=source, magnitude=mag, analog=False, aligned=True)
    for c in chain:
        if isinstance(c, ir.AvgPool2d):
            bound *= c.kernel**2
            mag = _sum_pool(mag, c.kernel, c.stride, bound)
        else:
            mag = mag.reshape(mag.shape[0], -1)
    neuron = getattr(lay, "neuron", None)
    aligned = False
    if neuron is not None and not isinstance(src_lay, ir.Input):
        src_steps = src_lay.neuron.num_steps
        aligned = neuron.receives_levels([src_steps])
        if not aligned and src_steps > steps and src_steps % steps == 0:
            # A producer on a finer clock (a re-parameterised LM-HT layer's T·L sub-steps
            # read by T-step neurons): each consumer step reads its block of producer steps.
            mag = mag.reshape(steps, -1, *mag.shape[1:]).sum(axis=1)
    if aligned:
        # The whole sample's counts, integrated once (one step).
        mag = mag.sum(axis=0, keepdims=True)
    return LayerInput(layer=layer, source=source, magnitude=mag, analog=False, aligned=aligned)


def analog_activity(
    net: ir.Network, layer: str, codes: np.ndarray, chain: tuple[ir.Layer, ...] = ()
) -> LayerInput:
    """Activity of a direct-coded first layer: the input codes (through any folded pooling),
    one step (computed once)."""
    return LayerInput(
        layer=layer,
        source=net.input.name,
        magnitude=pool_chain(np.abs(np.asarray(codes, np.int64))[None], chain),
        analog=True,
        aligned=False,
    )


def layer_inputs(
    net: ir.Network, trace: Trace, layer: str, sample: int, codes: np.ndarray | None = None
) -> list[LayerInput]:
    """Activity of every spiking (or input) source of a synaptic or Add layer for one sample.

    A direct-coded first layer reads the analog codes (``codes`` or the trace's ``inputs``);
    under SWS the input is encoded into spikes and the trace holds them. An Add's input from a
    non-spiking conv is a partial sum, not spikes: it is left out here (costed by the neuron
    unit that adds it).
    """
    out = []
    for src in net.layer(layer).inputs:
        source, chain = _source_chain(net, src)
        src_lay = net.layer(source)
        if isinstance(src_lay, ir.Conv2d | ir.Linear) and not ir.is_spiking(src_lay):
            continue
        if source == net.input.name and trace.layer(source).spikes is None:
            if codes is None:
                if trace.inputs is None:
                    raise ValueError(
                        f"layer '{layer}' reads the analog input: the trace has "
                        f"no input codes (run with keep_spikes=True)"
                    )
                codes = trace.inputs[sample]
            out.append(analog_activity(net, layer, codes, chain))
        else:
            out.append(input_activity(net, trace, layer, src, sample))
    return out


class TraceStats:
    """Statistics of one trace that every hardware point reads, each computed once.

    DESIGN decision 1: a sweep costs one trace on many hardware points; the input activity of
    a layer (``layer_inputs``) does not depend on the hardware at all, and per-tile cycle
    arrays depend only on the few hardware fields in their key. This object memoises both for
    the calls that share it (one per worker and trace; it is never module state). Returned
    arrays are read-only.
    """

    def __init__(self, network: ir.Network, trace: Trace) -> None:
        self.network = network
        self.trace = trace
        self._inputs: dict[tuple[str, int], list[LayerInput]] = {}
        self._memo: dict[tuple, np.ndarray] = {}
        self._summed: dict[tuple, tuple[np.ndarray, int, float]] = {}

    def layer_inputs(self, layer: str, sample: int) -> list[LayerInput]:
        """``layer_inputs(network, trace, layer, sample)``, computed on the first call."""
        key = (layer, int(sample))
        if key not in self._inputs:
            found = layer_inputs(self.network, self.trace, layer, sample)
            for act in found:
                act.magnitude.flags.writeable = False
            self._inputs[key] = found
        return self._inputs[key]

    def memo_summed(
        self, key: tuple, compute: Callable[[], np.ndarray]
    ) -> tuple[np.ndarray, int, float]:
        """``memo(key, compute)`` with its Σ and its Σ summed in float64, kept with it (one
        lookup for the three a sweep point reads of every layer and sample)."""
        found = self._summed.get(key)
        if found is None:
            arr = self.memo(key, compute)
            found = (arr, int(arr.sum()), float(arr.sum(dtype=np.float64)))
            self._summed[key] = found
        return found

    def memo(self, key: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` on the first call with ``key`` (which must name everything the array
        depends on besides this trace), the stored array afterwards."""
        if key not in self._memo:
            arr = np.asarray(compute())
            arr.flags.writeable = False
            self._memo[key] = arr
        return self._memo[key]
