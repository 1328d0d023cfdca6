"""Runs a converted SNN on a batch of inputs, layer by layer; returns a ``Trace``.

Imports ``ir``, ``trace``, ``kernels``, ``schemes`` and ``errors``. Synapses in bulk, neurons in
a scan (DESIGN decision 3): each layer's synaptic currents for all its time-steps come from one
integer accumulation call, then its neuron family's runner (``NeuronSpec.run``, in
``neurosim.schemes``) scans the neuron dynamics over time through a ``LayerContext``.
This package's ``__init__`` holds the public entry points; ``batch.py`` runs one batch
(``_BatchRun``), ``context.py`` is what a neuron runner sees of a layer (``LayerContext``) and
``outputs.py`` turns integer logits into real values and classes.

Integer units: a spiking layer's output is carried in two forms. The *const* form is the
per-sample level (IF: spike count N; TSA: encoded value A = Σ a_τ 2^(Tc−τ); LM-HT: Σ k), whose
real value is σ = θ/G per unit. The *steps* form is the per-step value in the same units (IF and
LM-HT: T·s_t because one spike of amplitude θ is T units of θ/T; TSA: the ternary slot a_τ).
Average alignment (MT-SNN eq. 20) feeds the const form; raw propagation feeds the steps form.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError
from neurosim.functional.batch import _BatchRun
from neurosim.functional.context import LayerContext
from neurosim.functional.equivalence import carry_trace, same_spikes
from neurosim.functional.outputs import predict, real_outputs
from neurosim.trace import Trace, TraceJoin

__all__ = [
    "PASS_BYTES",
    "LayerContext",
    "LevelResult",
    "carry_trace",
    "check_inputs",
    "evaluate_levels",
    "max_batch",
    "predict",
    "real_outputs",
    "run",
    "same_spikes",
]


@dataclass(frozen=True, eq=False)
class LevelResult:
    """The integer quantized ANN that a converted network is exact against."""

    levels: dict[str, np.ndarray]
    """Spiking layer → int64 levels M = clip(rhu(G·P, Θ), 0, max_level) [batch, *shape]."""
    output_int: np.ndarray
    """int64 [batch, classes]: integer logits."""
    predictions: np.ndarray


def run(
    network: ir.Network,
    inputs: np.ndarray,
    *,
    batch_size: int = 256,
    keep_spikes: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """Simulate ``network`` (an SNN) on integer input codes [batch, *input_shape].

    Parameters
    ----------
    network
        A converted network (``kind="snn"``).
    inputs
        Integer codes 0..``network.input.levels`` [batch, *input_shape]; for a spike-raster
        input (``network.input.steps`` = T > 0) 0/1 spikes [batch, T, *input_shape] (batch
        first like codes; inputs files store [T, batch, ...], ``io.load_inputs`` turns them).
    batch_size
        Samples simulated together (bounds memory: spikes are kept as int8); at most
        ``max_batch(network)`` (a bound on the memory of the largest layer).
    keep_spikes
        Keep per-layer spike tensors in the trace (op counts are always kept).
    progress
        Called with the number of samples finished after each batch.
    """
    if network.kind != "snn":
        raise ModelError(
            f"functional.run needs a converted SNN, got kind '{network.kind}' "
            f"(use neurosim.convert.convert first)"
        )
    codes = check_inputs(network, inputs)
    if batch_size < 1:
        raise ModelError(f"batch_size must be >= 1, got {batch_size}")
    batch_size = min(batch_size, max_batch(network))
    if not len(codes):
        raise ModelError("no inputs given")
    memo: dict[tuple[str, str], int] = {}  # weight facts, measured once for every batch
    # Each batch's spikes go into the joined arrays as it finishes (one-sample batches: their
    # scans write them there) and are dropped with the batch.
    join = TraceJoin(len(codes)) if batch_size < len(codes) else None
    for start in range(0, len(codes), batch_size):
        batch = codes[start : start + batch_size]
        slot = None
        if join is not None and keep_spikes and len(batch) == 1:
            slot = functools.partial(join.spike_slot, sample=start)
        part = _BatchRun(network, batch, "snn", keep_spikes, memo, slot).trace()
        if join is not None:
            join.add(part)
            del part
        if progress is not None:
            progress(len(batch))
    return part if join is None else join.trace()


PASS_BYTES = 128 << 20
"""Bytes the largest layer's arrays of one batch may take (``max_batch``)."""


def max_batch(network: ir.Network) -> int:
    """The most samples ``run`` simulates together on ``network``: 16 bytes per neuron of the
    largest layer and step (its current, sums and spikes), at least 4 steps' worth (a runner's
    int64 per-sample arrays), within ``PASS_BYTES``.

    Samples are independent, so the batch never changes a result; it bounds memory (ResNet-18
    CIFAR at T = 8: 16 samples per batch, ~130 MiB; VGG-16 ImageNet: one sample). Batches of
    16 to 64 CIFAR samples ran equally fast.
    """
    steps = max([lay.neuron.num_steps for lay in network.spiking_layers()], default=1)
    neurons = max(int(np.prod(network.shapes[lay.name])) for lay in network.layers)
    return max(1, PASS_BYTES // (16 * max(steps, 4) * neurons))


def evaluate_levels(network: ir.Network, inputs: np.ndarray) -> LevelResult:
    """The integer quantized ANN of a converted network (the exact reference of the SNN)."""
    if network.kind != "snn":
        raise ModelError(f"evaluate_levels needs a converted SNN, got kind '{network.kind}'")
    codes = check_inputs(network, inputs)
    r = _BatchRun(network, codes, "ann", False)
    out = r.readout()
    levels = {lay.name: r.value(lay.name, "const")[0] for lay in network.spiking_layers()}
    return LevelResult(levels=levels, output_int=out, predictions=predict(network, out))


def check_inputs(network: ir.Network, inputs: np.ndarray) -> np.ndarray:
    """``inputs`` as int64 codes after checking them against the network's input layer:
    shape [batch, *input shape], an integer dtype, values in [0, levels] (ModelError)."""
    codes = np.asarray(inputs)
    inp = network.input
    if inp.steps:
        return _check_spikes(network, codes)
    if (
        codes.ndim != len(network.shapes[inp.name]) + 1
        or codes.shape[1:] != network.shapes[inp.name]
    ):
        raise ModelError(
            f"inputs must be [batch, {', '.join(map(str, inp.shape))}] for layer "
            f"'{inp.name}', got {codes.shape}"
        )
    if not np.issubdtype(codes.dtype, np.integer):
        raise ModelError(f"inputs must be integer codes (0..{inp.levels}), got {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() > inp.levels):
        raise ModelError(
            f"input codes must lie in [0, {inp.levels}] (layer '{inp.name}'), "
            f"got [{codes.min()}, {codes.max()}]"
        )
    return codes.astype(np.int64)


def _check_spikes(network: ir.Network, spikes: np.ndarray) -> np.ndarray:
    """Given spikes [batch, T, *shape] of 0/1 as uint8 (the input's T and shape)."""
    inp = network.input
    shape = network.shapes[inp.name]
    want = f"[batch, {inp.steps}, {', '.join(map(str, shape))}]"
    if spikes.ndim != len(shape) + 2 or spikes.shape[2:] != shape:
        raise ModelError(
            f"layer '{inp.name}' takes spikes {want} (inputs files: 'spikes' [T, batch, ...]), "
            f"got {spikes.shape}"
        )
    if spikes.shape[1] != inp.steps:
        raise ModelError(
            f"layer '{inp.name}': the network runs {inp.steps} steps, the spikes have "
            f"{spikes.shape[1]} (experiment.resolve_model re-times an imported network)"
        )
    if spikes.dtype != np.bool_ and not np.issubdtype(spikes.dtype, np.integer):
        raise ModelError(f"input spikes must be 0/1 integers or booleans, got {spikes.dtype}")
    if spikes.size and (spikes.min() < 0 or spikes.max() > 1):
        raise ModelError(
            f"input spikes must be 0 or 1 (layer '{inp.name}'), got "
            f"[{spikes.min()}, {spikes.max()}]"
        )
    return spikes.astype(np.uint8)
