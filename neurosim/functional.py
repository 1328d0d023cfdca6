"""Runs a converted SNN on a batch of inputs, layer by layer; returns a ``Trace``.

Imports ``ir``, ``trace``, ``kernels``, ``schemes`` and ``errors``. Synapses in bulk, neurons in
a scan (DESIGN decision 3): each layer's synaptic currents for all its time-steps come from one
integer accumulation call, then its neuron family's runner (``NeuronSpec.run``, in
``neurosim.schemes``) scans the neuron dynamics over time through a ``LayerContext``.

Integer units: a spiking layer's output is carried in two forms. The *const* form is the
per-sample level (IF: spike count N; TSA: encoded value A = Σ a_τ 2^(Tc−τ); LM-HT: Σ k), whose
real value is σ = θ/G per unit. The *steps* form is the per-step value in the same units (IF and
LM-HT: T·s_t because one spike of amplitude θ is T units of θ/T; TSA: the ternary slot a_τ).
Average alignment (MT-SNN eq. 20) feeds the const form; raw propagation feeds the steps form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurosim import ir, schemes
from neurosim.errors import ModelError
from neurosim.kernels import (
    channel_axpy,
    conv2d,
    conv2d_fanout,
    linear,
    linear_fanout,
    sum_pool2d,
)
from neurosim.schemes.base import channel_view, per_neuron, scaled_steps
from neurosim.trace import ENCODER_FAMILY, LayerTrace, Trace


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
        Integer codes 0..``network.input.levels`` per input element.
    batch_size
        Samples simulated together (bounds memory: spikes are kept as int8).
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
    codes = _check_inputs(network, inputs)
    if batch_size < 1:
        raise ModelError(f"batch_size must be >= 1, got {batch_size}")
    trace: Trace | None = None
    for start in range(0, len(codes), batch_size):
        part = _BatchRun(network, codes[start : start + batch_size], "snn", keep_spikes).trace()
        trace = part if trace is None else trace.concat(part)
        if progress is not None:
            progress(len(codes[start : start + batch_size]))
    if trace is None:
        raise ModelError("no inputs given")
    return trace


def evaluate_levels(network: ir.Network, inputs: np.ndarray) -> LevelResult:
    """The integer quantized ANN of a converted network (the exact reference of the SNN)."""
    if network.kind != "snn":
        raise ModelError(f"evaluate_levels needs a converted SNN, got kind '{network.kind}'")
    codes = _check_inputs(network, inputs)
    r = _BatchRun(network, codes, "ann", False)
    out = r.readout()
    levels = {lay.name: r.value(lay.name, "const")[0] for lay in network.spiking_layers()}
    return LevelResult(levels=levels, output_int=out, predictions=predict(network, out))


def real_outputs(network: ir.Network, output_int: np.ndarray) -> np.ndarray:
    """Real-valued logits: each output channel's integer times its own LSB value σ_P[c]."""
    scale = getattr(network.output, "out_scale", None)
    scale = 1.0 if scale is None else np.asarray(scale, np.float64).reshape(1, -1)
    return output_int.astype(np.float64) * scale


def predict(network: ir.Network, output_int: np.ndarray) -> np.ndarray:
    """Predicted classes from integer logits (argmax of the real values: per-channel scales)."""
    return np.argmax(real_outputs(network, output_int), axis=1).astype(np.int64)


def _check_inputs(network: ir.Network, inputs: np.ndarray) -> np.ndarray:
    codes = np.asarray(inputs)
    inp = network.input
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


_INT32_MAX = 2**31 - 1

_MAX_GAIN_SHIFT = 30
"""Largest power-of-two step gain (as a shift) a reader of a layer's sums applies itself."""


def _absmax(a: np.ndarray) -> int:
    """max |a| (0 for an empty array)."""
    return int(max(int(a.max(initial=0)), -int(a.min(initial=0))))


def _nonzero_per_step(a: np.ndarray) -> np.ndarray:
    """int64 [S]: non-zero entries of each step a[s] (numpy's per-axis count is ~5x slower)."""
    return np.array([np.count_nonzero(row) for row in a.reshape(a.shape[0], -1)], np.int64)


def _pad_add(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    """Sum of two per-step count arrays of possibly different lengths."""
    if a is None:
        return b.astype(np.int64)
    n = max(len(a), len(b))
    out = np.zeros(n, np.int64)
    out[: len(a)] += a
    out[: len(b)] += b
    return out


class _BatchRun:
    """One batch through the network; ``mode`` is ``snn`` (kernels) or ``ann`` (levels)."""

    def __init__(self, net: ir.Network, codes: np.ndarray, mode: str, keep_spikes: bool):
        self.net = net
        self.codes = codes
        self.mode = mode
        self.keep = keep_spikes
        self.batch = len(codes)
        self.scheme = net.scheme
        self.cache: dict[tuple[str, str], np.ndarray | None] = {}
        self.lazy: dict[tuple[str, str], Callable[[], np.ndarray]] = {}
        self.step_scale: dict[str, int] = {}
        self.sum_shift: dict[str, int] = {}
        self.sum_bound: dict[str, int] = {}
        """A priori bound of |Σ W·x| of a synaptic layer (max|W|·fan-in·max|x|), when known."""
        self.spikes: dict[str, np.ndarray] = {}
        self.steps: dict[str, int] = {}
        self.ops: dict[str, dict[str, np.ndarray]] = {lay.name: {} for lay in net.layers}
        self.meta = dict(net.meta)
        self.record = schemes.check_network(net)
        self.encoding = self.record.input_encoding(net.meta)

    # -- values of tensors in the requested form ----------------------------------------------
    def value(self, name: str, form: str) -> np.ndarray | None:
        """Integer tensor [S, B, *shape] of layer ``name`` in ``form``, or None if undefined.

        Forms: ``const`` and ``steps`` (see the module docstring), ``events`` (1 per non-zero
        spike, per step) and ``magnitude`` (|spike level| per step).
        """
        key = (name, form)
        if key not in self.cache:
            make = self.lazy.pop(key, None)
            self.cache[key] = (
                make() if make is not None else self._compute(self.net.layer(name), form)
            )
        return self.cache[key]

    def _step_scale(self, name: str) -> int:
        """G if layer ``name``'s steps form is exactly G × its binary events form, else 0.

        True of IF spikes (steps = T·s) and of pooling or flattening them, which are linear;
        a synaptic layer then accumulates the 1-byte events and multiplies the sums by G.
        """
        lay = self.net.layer(name)
        if isinstance(lay, ir.AvgPool2d | ir.Flatten):
            return self._step_scale(lay.inputs[0])
        return self.step_scale.get(name, 0)

    def _event_max(self, name: str) -> int:
        """Largest value of the events form of a ``_step_scale`` source (1, times pool k²)."""
        lay = self.net.layer(name)
        if isinstance(lay, ir.AvgPool2d):
            return lay.kernel**2 * self._event_max(lay.inputs[0])
        if isinstance(lay, ir.Flatten):
            return self._event_max(lay.inputs[0])
        return 1

    def _scaled_input(self, src: str, form: str) -> tuple[np.ndarray, int, int | None]:
        """(x, G, max|x| if known) for reading ``src`` in ``form``: the binary events and G > 0
        when steps = G × events (``_step_scale``), else the form itself, G = 0."""
        if form == "steps" and self.value(src, "events") is not None:
            gain = self._step_scale(src)
            if gain:
                return self.value(src, "events"), gain, self._event_max(src)
        lay = self.net.layer(src)
        if (
            form == "steps"
            and isinstance(lay, ir.Conv2d | ir.Linear)
            and (src, "steps") not in self.cache
        ):
            # A synaptic layer without neurons (a residual branch): its sums and their step
            # gain, which the reader applies (saves a pass over the sums).
            p, extra = self._sums(lay)
            return p, (1 << extra) if extra else 0, None
        return self.value(src, form), 0, None

    def _sums(self, lay: ir.Conv2d | ir.Linear) -> tuple[np.ndarray, int]:
        """(Σ W·x, k) of a synaptic layer without neurons in steps form: the steps form is the
        sums << k (k > 0 when its input is 2^k × binary events), computed once."""
        key = (lay.name, "sums")
        if key not in self.cache:
            p, extra = self._weighted_sum(lay, "steps", max_shift=_MAX_GAIN_SHIFT)
            self.cache[key] = p
            self.sum_shift[lay.name] = extra
        return self.cache[key], self.sum_shift[lay.name]

    def _compute(self, lay: ir.Layer, form: str) -> np.ndarray | None:
        if isinstance(lay, ir.Input):
            return self._input(lay, form)
        if ir.is_spiking(lay):
            self._ensure_spiking(lay)
            return self.value(lay.name, form)
        if isinstance(lay, ir.Conv2d | ir.Linear):
            if form in ("events", "magnitude"):
                return None
            if form == "steps":
                p, extra = self._sums(lay)
                return np.left_shift(p, extra) if extra else p
            return self._weighted_sum(lay, form)[0]
        src = [self.value(s, form) for s in lay.inputs]
        if any(s is None for s in src):
            return None
        if (
            form == "magnitude"
            and isinstance(lay, ir.AvgPool2d | ir.Flatten)
            and src[0] is self.value(lay.inputs[0], "events")
        ):
            return self.value(lay.name, "events")
        if isinstance(lay, ir.AvgPool2d):
            return sum_pool2d(src[0], lay.kernel, lay.stride)
        if isinstance(lay, ir.Flatten):
            return src[0].reshape(src[0].shape[0], src[0].shape[1], -1)
        if form in ("events", "magnitude"):
            return None
        raise ModelError(f"layer '{lay.name}': op '{lay.op}' has no value in form '{form}'")

    def _input(self, lay: ir.Input, form: str) -> np.ndarray | None:
        enc = self.encoding
        if enc is None or form == "const":
            return self.codes[None] if form in ("const", "steps") else None
        if (lay.name, "spikes") not in self.cache:
            sp = enc.encode(self.codes)
            self.cache[(lay.name, "spikes")] = sp
            self.spikes[lay.name] = sp
            self.steps[lay.name] = enc.steps
            self.ops[lay.name]["spikes"] = np.count_nonzero(
                sp.reshape(enc.steps, -1), axis=1
            ).astype(np.int64)
        sp = self.cache[(lay.name, "spikes")]
        if form == "steps":
            return sp.astype(np.int64)
        return (sp != 0).astype(np.int64) if form == "events" else np.abs(sp).astype(np.int64)

    def _synaptic_sum(self, lay: ir.Conv2d | ir.Linear, x: np.ndarray) -> np.ndarray:
        if isinstance(lay, ir.Conv2d):
            return conv2d(x, lay.weight, lay.stride, lay.padding)
        return linear(x, lay.weight)

    def _weighted_sum(
        self,
        lay: ir.Conv2d | ir.Linear,
        form: str,
        shift: int = 0,
        headroom: int = 0,
        *,
        max_shift: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """(Σ W·x, extra shift) of a conv/linear layer in ``form``: the sums are Σ W·x << extra
        shift; int32 while (|Σ W·x| << shift) + headroom fits.

        A steps-form input that is G × binary events (``_step_scale``) is accumulated from the
        1-byte events and the sums multiplied by G: the same integers, far fewer bytes. A
        caller that shifts the sums itself, by at most ``max_shift`` more, gets a power-of-two
        G as that extra shift instead, which saves a pass over the sums.
        """
        x, gain, x_max = self._scaled_input(lay.inputs[0], form)
        p = self._synaptic_sum(lay, x)
        if p.dtype != np.int64:

            def fits(peak: int) -> bool:
                return (peak * max(gain, 1) << shift) + headroom <= _INT32_MAX

            # The a priori bound max|W|·fan-in·max|x| saves a pass when it already fits.
            w = lay.weight
            prior = (
                None
                if x_max is None
                else int(np.abs(w).max(initial=0)) * int(np.prod(w.shape[1:])) * x_max
            )
            if prior is not None:
                self.sum_bound[lay.name] = prior
            if not (prior is not None and fits(prior)) and not fits(_absmax(p)):
                p = p.astype(np.int64)
        if gain > 1:
            extra = gain.bit_length() - 1
            if max_shift is not None and gain == 1 << extra and extra <= max_shift:
                return p, extra
            np.multiply(p, gain, out=p)
        return p, 0

    def current(self, lay: ir.Layer, form: str, *, with_bias: bool = True) -> np.ndarray:
        """Integer input current of a synaptic or Add layer: P = (Σ W·x) << f + B.

        Kept in int32 when a bound on |P| proves it fits (it halves the memory traffic of the
        largest arrays of the pass), else int64; never wrapped.
        """
        bias = lay.bias if with_bias else None
        bmax = 0 if bias is None else int(np.abs(bias).max(initial=0))
        if isinstance(lay, ir.Conv2d | ir.Linear):
            p, _ = self._weighted_sum(lay, form, lay.shift, bmax)
            if lay.shift:
                np.left_shift(p, lay.shift, out=p)
        elif isinstance(lay, ir.Add):
            xs, gains, prior = [], [], []
            for src, g in zip(lay.inputs, lay.gains, strict=True):
                x, scale, x_max = self._scaled_input(src, form)
                # The sums of a synaptic input have an a priori bound; the exact peak is
                # measured (a pass) only if that bound does not prove int32.
                known = x_max is None and x is self.cache.get((src, "sums"))
                if known and src in self.sum_bound:
                    x_max = self.sum_bound[src]
                    prior.append(len(xs))
                xs.append((x, _absmax(x) if x_max is None else x_max))
                gains.append(np.asarray(g, np.int64) * max(scale, 1))

            def total(peaks: list[int]) -> int:
                return (
                    sum(
                        peak * int(np.abs(g).max(initial=0))
                        for peak, g in zip(peaks, gains, strict=True)
                    )
                    + bmax
                )

            bound = total([peak for _, peak in xs])
            if bound > _INT32_MAX and prior:
                xs = [(x, _absmax(x) if i in prior else peak) for i, (x, peak) in enumerate(xs)]
                bound = total([peak for _, peak in xs])
            dtype = np.int32 if bound <= _INT32_MAX else np.int64
            steps = max(x.shape[0] for x, _ in xs)
            p = np.empty((steps, *xs[0][0].shape[1:]), dtype)
            for i, ((x, _), gain) in enumerate(zip(xs, gains, strict=True)):
                # One fused pass per input, no temporaries: p (=|+=) x·gain[c].
                channel_axpy(
                    p.reshape(steps, self.batch, gain.size, -1),
                    x.reshape(x.shape[0], self.batch, gain.size, -1),
                    np.broadcast_to(gain, (p.shape[2],)).astype(np.int64),
                    i == 0,
                )
        else:
            raise ModelError(f"layer '{lay.name}': op '{lay.op}' has no input current")
        if bias is not None:
            p += channel_view(bias.astype(p.dtype), p.ndim)
        return p

    # -- spiking layers -----------------------------------------------------------------------
    def _ensure_spiking(self, lay: ir.Layer) -> None:
        if (lay.name, "const") in self.cache or (lay.name, "const") in self.lazy:
            return
        neuron = lay.neuron
        shape = self.net.shapes[lay.name]
        if self.mode == "ann":
            self._ann_levels(lay, neuron, shape)
            return
        self._count_synaptic(lay)
        neuron.run(LayerContext(self, lay))

    def _ann_levels(self, lay: ir.Layer, neuron: ir.NeuronSpec, shape: tuple[int, ...]) -> None:
        p = self.current(lay, "const").astype(np.int64)
        th = channel_view(neuron.threshold, p.ndim)
        m = np.clip(ir.rhu(neuron.level_gain * p, th), neuron.min_level, neuron.max_level)
        self.cache[(lay.name, "const")] = m

    def _store(
        self,
        lay: ir.Layer,
        spikes: np.ndarray,
        const: np.ndarray | None,
        steps: np.ndarray | int,
        num_steps: int,
        shape: tuple[int, ...],
    ) -> None:
        """Cache a spiking layer's forms. ``const`` None means the spike count Σ_t s_t, made
        only if something asks for it; ``steps`` an int G means steps = G × spikes, which for
        binary spikes is also left unmade (synaptic layers read the events and scale by G)."""
        b = self.batch
        full = (spikes.shape[0], b, *shape)
        spikes = spikes.reshape(full)
        if const is None:
            self.lazy[(lay.name, "const")] = lambda: spikes.sum(axis=0, dtype=np.int64)[None]
        else:
            self.cache[(lay.name, "const")] = const.reshape((1, b, *shape))
        peak = int(spikes.max(initial=0))
        binary = spikes.dtype == np.uint8 and peak <= 1
        if isinstance(steps, int) and binary:
            self.step_scale[lay.name] = steps
            self.lazy[(lay.name, "steps")] = lambda: scaled_steps(spikes, steps)
        elif isinstance(steps, int):
            self.cache[(lay.name, "steps")] = scaled_steps(spikes, steps)
        else:
            self.cache[(lay.name, "steps")] = steps.reshape((steps.shape[0], b, *shape))
        events = spikes if binary else (spikes != 0).view(np.uint8)
        self.cache[(lay.name, "events")] = events
        self.cache[(lay.name, "magnitude")] = events if binary else np.abs(spikes.astype(np.int16))
        self.steps[lay.name] = num_steps
        if self.keep:
            self.spikes[lay.name] = (
                spikes.view(np.int8)
                if spikes.dtype == np.uint8 and peak <= 127
                else spikes.astype(np.int8)
            )
        self.ops[lay.name]["spikes"] = _nonzero_per_step(spikes)

    # -- op counts ----------------------------------------------------------------------------
    def _count_synaptic(self, lay: ir.Layer) -> None:
        """Synaptic ops of ``lay`` from its inputs' spikes (ACs = non-zero spikes × fan-out)."""
        ops = self.ops[lay.name]
        if isinstance(lay, ir.Conv2d | ir.Linear):
            src = lay.inputs[0]
            events = self.value(src, "events")
            shape_out = self.net.shapes[lay.name]
            if events is None:
                fan_in = int(np.prod(lay.weight.shape[1:]))
                ops["first_layer_macs"] = np.array(
                    [int(np.prod(shape_out)) * fan_in * self.batch], np.int64
                )
                return
            mags = self.value(src, "magnitude")
            if isinstance(lay, ir.Conv2d):
                k = lay.weight.shape[2]
                ops["synaptic_ops"] = conv2d_fanout(
                    events, lay.out_channels, k, lay.stride, lay.padding
                )
                ops["synaptic_ac_equiv"] = (
                    ops["synaptic_ops"]
                    if mags is events
                    else conv2d_fanout(mags, lay.out_channels, k, lay.stride, lay.padding)
                )
            else:
                ops["synaptic_ops"] = linear_fanout(events, lay.out_channels)
                ops["synaptic_ac_equiv"] = (
                    ops["synaptic_ops"] if mags is events else linear_fanout(mags, lay.out_channels)
                )
        elif isinstance(lay, ir.Add):
            syn, equiv = None, None
            for src in lay.inputs:
                src_lay = self.net.layer(src)
                if isinstance(src_lay, ir.Conv2d | ir.Linear) and not ir.is_spiking(src_lay):
                    # A residual branch's conv without activation: its ACs are its own.
                    self._count_synaptic(src_lay)
                    continue
                ev = self.value(src, "events")
                if ev is None:
                    continue
                # Events are 0/1, so their per-step sum is a non-zero count.
                step_ops = _nonzero_per_step(ev)
                syn = _pad_add(syn, step_ops)
                mg = self.value(src, "magnitude")
                equiv = _pad_add(
                    equiv,
                    step_ops
                    if mg is ev
                    else mg.reshape(mg.shape[0], -1).sum(axis=1, dtype=np.int64),
                )
            if syn is not None:
                ops["synaptic_ops"], ops["synaptic_ac_equiv"] = syn, equiv

    # -- readout -----------------------------------------------------------------------------
    def readout(self) -> np.ndarray:
        """Integer logits of the (non-spiking) output layer: the scheme's readout in an SNN run
        (``Scheme.readout``), the current from the inputs' levels in the ANN reference."""
        lay = self.net.output
        if self.mode == "snn":
            self._count_synaptic(lay)
            out = self.record.readout(LayerContext(self, lay))
        else:
            out = self.current(lay, "const")[0]
        return out.reshape(self.batch, -1).astype(np.int64)

    def trace(self) -> Trace:
        out = self.readout()
        for lay in self.net.layers:
            if ir.is_spiking(lay):
                self._ensure_spiking(lay)
        real = real_outputs(self.net, out)
        layers = []
        for lay in self.net.layers:
            spikes = self.spikes.get(lay.name)
            levels = 1
            if isinstance(lay, ir.Input):
                family = ENCODER_FAMILY if self.encoding is not None else None
            elif ir.is_spiking(lay):
                family, levels = lay.neuron.family, lay.neuron.spike_levels
            else:
                family = None
            layers.append(
                LayerTrace(
                    name=lay.name,
                    op=lay.op,
                    family=family,
                    num_steps=self.steps.get(lay.name, 1),
                    shape=self.net.shapes[lay.name],
                    spikes=spikes if self.keep else None,
                    ops=self.ops[lay.name],
                    spike_levels=levels,
                )
            )
        return Trace(
            network=self.net.name,
            scheme=self.scheme,
            batch_size=self.batch,
            layers=tuple(layers),
            outputs=real,
            output_int=out,
            predictions=np.argmax(real, axis=1).astype(np.int64),
            meta={"alignment_cost": "alg1_average_currents", **self.meta},
            inputs=self.codes.astype(np.int32) if self.keep else None,
        )


class LayerContext:
    """What a neuron family's runner (``NeuronSpec.run``) sees of one layer of a batch run.

    The runner reads the layer's integer input current in the form it integrates, scans its
    neurons with its kernel, then hands back the spikes (``store``) and its op counts
    (``count``); everything else (caching, forms for the consumers, synaptic op counts) stays
    here.
    """

    def __init__(self, run: _BatchRun, lay: ir.Layer) -> None:
        self._run = run
        self.layer = lay
        self.name = lay.name
        self.shape = run.net.shapes[lay.name]
        self.batch = run.batch
        self.neurons = int(np.prod(self.shape))
        self.meta = run.meta

    @property
    def source_steps(self) -> list[int]:
        """T of each spiking layer feeding this one (the network input excluded)."""
        return self._run.net.source_steps(self.name)

    def current(self, form: str, *, with_bias: bool = True) -> np.ndarray:
        """Integer input current P = (Σ W·x) << f (+ B) [steps, batch, *shape] of the inputs'
        ``const`` (whole-sample levels) or ``steps`` (per-step values) form."""
        return self._run.current(self.layer, form, with_bias=with_bias)

    def unshifted_current(self, form: str, max_shift: int) -> tuple[np.ndarray, int]:
        """(I, k) with P − B = I << k: a synaptic layer's Σ W·x and its shift f (plus a
        power-of-two step gain, k <= ``max_shift``), which a scan applies as it charges; an
        Add's sum with k = 0. The bias is left to the scan (``bias_per_neuron``)."""
        lay = self.layer
        if isinstance(lay, ir.Conv2d | ir.Linear):
            cur, extra = self._run._weighted_sum(lay, form, max_shift=max_shift - lay.shift)
            return cur, lay.shift + extra
        return self._run.current(lay, form, with_bias=False), 0

    def bias_per_neuron(self) -> np.ndarray | None:
        """The integer bias B expanded to one value per neuron, or None."""
        bias = getattr(self.layer, "bias", None)
        return None if bias is None else per_neuron(bias, self.shape)

    def store(
        self, spikes: np.ndarray, const: np.ndarray | None, steps: np.ndarray | int, num_steps: int
    ) -> None:
        """Keep the layer's output: ``spikes`` [steps, batch, n]; ``const`` its whole-sample
        level (None: the spike count, made on demand); ``steps`` its per-step value, or an int
        G when that is G × the (binary) spikes; ``num_steps`` its own clock."""
        self._run._store(self.layer, spikes, const, steps, num_steps, self.shape)

    def count(self, **ops: np.ndarray) -> None:
        """Record op counts (int64 per step, summed over the batch; ``trace.OP_NAMES``)."""
        self._run.ops[self.name].update(ops)
