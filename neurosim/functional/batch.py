"""One batch through a converted network: the tensors of every layer in each form, op counts.

Imports ``ir``, ``trace``, ``kernels``, ``schemes`` and ``errors``; ``functional.context`` (what a
neuron runner sees of a layer) and ``functional.outputs``. The forms (``const``, ``steps``,
``events``, ``magnitude``) are described in ``neurosim.functional``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from neurosim import ir, schemes
from neurosim.errors import ModelError, OverflowDetected
from neurosim.functional.context import LayerContext
from neurosim.functional.counting import count_synaptic
from neurosim.functional.outputs import real_outputs
from neurosim.functional.pooling import max_pool
from neurosim.kernels import (
    channel_axpy,
    conv2d,
    linear,
    sum_pool2d,
)
from neurosim.schemes.base import channel_view, scaled_steps
from neurosim.trace import ENCODER_FAMILY, LayerTrace, Trace

_INT32_MAX = 2**31 - 1

CURRENT_LIMIT = 2**61
"""Largest |P| of an integer input current (int64 path): the neuron kernels' operand headroom,
so that doubling it (LM-HT) or adding a membrane never leaves int64. Beyond it the layer
raises OverflowDetected instead of wrapping."""

_MAX_GAIN_SHIFT = 30
"""Largest power-of-two step gain (as a shift) a reader of a layer's sums applies itself."""


def _absmax(a: np.ndarray) -> int:
    """max |a| (0 for an empty array)."""
    return int(max(int(a.max(initial=0)), -int(a.min(initial=0))))


def _nonzero_per_step(a: np.ndarray) -> np.ndarray:
    """int64 [S]: non-zero entries of each step a[s] (numpy's per-axis count is ~5x slower)."""
    return np.array([np.count_nonzero(row) for row in a.reshape(a.shape[0], -1)], np.int64)


def _check_current(layer: str, bound: int, what: str) -> None:
    """OverflowDetected if a current's bound leaves ±CURRENT_LIMIT (it would wrap in int64)."""
    if bound > CURRENT_LIMIT:
        raise OverflowDetected(
            f"layer '{layer}': input current {what} reaches {bound}, beyond ±2^61; the "
            f"integers cannot be computed exactly in int64"
        )


class _BatchRun:
    """One batch through the network; ``mode`` is ``snn`` (kernels) or ``ann`` (levels)."""

    def __init__(
        self,
        net: ir.Network,
        codes: np.ndarray,
        mode: str,
        keep_spikes: bool,
        memo: dict[tuple[str, str], int] | None = None,
        slot: Callable[[str, int, tuple[int, ...]], np.ndarray] | None = None,
    ):
        self.net = net
        self.slot = slot
        """Where a spiking layer's kept spikes go (name, steps, shape → int8 [T, B, *shape]),
        for a scan to write them in place (``trace.TraceJoin.spike_slot``); None: anywhere."""
        self.memo = {} if memo is None else memo
        """Facts of the network's constant weights (max |W| per layer), shared by the batches
        of one run: each is measured once, not once per batch."""
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
        self.nonzero: dict[str, int] = {}
        """Non-zero spikes of spiking layers whose events are 0/1 (their events' count)."""
        self.peak: dict[tuple[str, str], int] = {}
        """A bound on max |form| of a spiking layer's ``steps`` or ``const`` form that its
        runner knew without a pass (e.g. TSA steps = spikes, IF spike counts <= T)."""
        self.spikes: dict[str, np.ndarray] = {}
        self.steps: dict[str, int] = {}
        self.ops: dict[str, dict[str, np.ndarray]] = {lay.name: {} for lay in net.layers}
        self.meta = dict(net.meta)
        self.record = schemes.check_network(net)
        self.encoding = schemes.input_encoding(net)
        self.done: set[str] = set()
        """Spiking layers whose neurons have run."""
        self.readers = (
            {lay.name: len({c.name for c in net.consumers(lay.name)}) for lay in net.layers}
            if mode == "snn"
            else None
        )
        """SNN runs: consumer layers of each layer that have not finished; at 0 the layer's
        tensors are dropped (the pass's memory is then a few layers', not every layer's)."""

    def _finish(self, lay: ir.Layer) -> None:
        """``lay`` has read its inputs for the last time: release those nobody else reads.

        A pooling, flatten or synaptic layer without neurons derives its forms from its input
        on demand, so it finishes (and releases its input) only when its own readers have."""
        if self.readers is None:
            return
        for src in set(lay.inputs):
            self.readers[src] -= 1
            if self.readers[src] == 0:
                for form in ("const", "steps", "events", "magnitude", "spikes", "sums"):
                    self.cache.pop((src, form), None)
                    self.lazy.pop((src, form), None)
                src_lay = self.net.layer(src)
                if not ir.is_spiking(src_lay) and not isinstance(src_lay, ir.Input):
                    self._finish(src_lay)

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
        if isinstance(lay, ir.AvgPool2d | ir.MaxPool2d | ir.Flatten):
            return self._step_scale(lay.inputs[0])
        return self.step_scale.get(name, 0)

    def _event_max(self, name: str) -> int:
        """Largest value of the events form of a ``_step_scale`` source (1, times pool k²)."""
        lay = self.net.layer(name)
        if isinstance(lay, ir.AvgPool2d):
            return lay.kernel**2 * self._event_max(lay.inputs[0])
        if isinstance(lay, ir.Flatten | ir.MaxPool2d):
            return self._event_max(lay.inputs[0])
        return 1

    def _form_bound(self, name: str, form: str) -> int | None:
        """A bound on max |``form``| of ``name`` known without a pass: a spiking layer's
        ``peak``, through flattening, max pooling and sum pooling (times k²); else None."""
        if (name, form) in self.peak:
            return self.peak[(name, form)]
        lay = self.net.layer(name)
        if not isinstance(lay, ir.AvgPool2d | ir.MaxPool2d | ir.Flatten):
            return None
        bound = self._form_bound(lay.inputs[0], form)
        return (
            bound * lay.kernel**2 if bound is not None and isinstance(lay, ir.AvgPool2d) else bound
        )

    def _scaled_input(
        self, src: str, form: str, *, pooled: bool = False
    ) -> tuple[np.ndarray, int, int | None]:
        """(x, G, max|x| if known) for reading ``src`` in ``form``: the binary events and G > 0
        when steps = G × events (``_step_scale``), else the form itself, G = 0. The bound is a
        spiking source's known peak (``pooled``: any form, also through pooling)."""
        if form == "steps" and self.value(src, "events") is not None:
            gain = self._step_scale(src)
            if gain:
                return self.value(src, "events"), gain, self._event_max(src)
        bound = (
            self._form_bound(src, form)
            if pooled
            else self.peak.get((src, form))
            if form == "steps"
            else None
        )
        if bound is not None:
            return self.value(src, form), 0, bound
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
        if isinstance(lay, ir.MaxPool2d):
            return self._max_pool(lay, form)
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

    def _max_pool(self, lay: ir.MaxPool2d, form: str) -> np.ndarray | None:
        """Max pooling of whole-sample levels: the const form is the window's largest level;
        every per-step form forwards the winner's values (the first position, in raster
        order, holding that level), so the pooled steps sum to the pooled level and op counts
        follow the winner's spikes. Exact for consumers that integrate levels (convert
        checks that only those read a max pool)."""
        src = lay.inputs[0]
        const = self.value(src, "const")
        x = self.value(src, form)
        if x is None:
            return None
        return max_pool(const, x, form, lay.kernel, lay.stride, lay.padding)

    def _input(self, lay: ir.Input, form: str) -> np.ndarray | None:
        enc = self.encoding
        if lay.steps and form == "const":
            # Given spikes: the whole-sample level is the spike count.
            return self.codes.sum(axis=1, dtype=np.int64)[None]
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
            if lay.steps:
                # Given 0/1 spikes: consumers read the 1-byte events with gain 1.
                self.step_scale[lay.name] = 1
                self.cache[(lay.name, "events")] = sp.view(np.uint8)
                self.cache[(lay.name, "magnitude")] = sp.view(np.uint8)
        sp = self.cache[(lay.name, "spikes")]
        if form == "steps":
            return sp.astype(np.int64)
        return (sp != 0).astype(np.int64) if form == "events" else np.abs(sp).astype(np.int64)

    def _weight_max(self, lay: ir.Conv2d | ir.Linear) -> int:
        """max |W| of a synaptic layer (measured once per run, see ``memo``)."""
        key = (lay.name, "weight_max")
        if key not in self.memo:
            self.memo[key] = _absmax(lay.weight)  # min and max: |−128| does not wrap
        return self.memo[key]

    def _synaptic_sum(self, lay: ir.Conv2d | ir.Linear, x: np.ndarray) -> np.ndarray:
        if isinstance(lay, ir.Conv2d):
            # Binary events read unpooled: their peak (1) and count (the spikes) are known.
            src = lay.inputs[0]
            known = self.cache.get((src, "events")) is x and src in self.nonzero
            return conv2d(
                x,
                lay.weight,
                lay.stride,
                lay.padding,
                groups=lay.groups,
                dilation=lay.dilation,
                stats=(1, self.nonzero[src]) if known and x.dtype == np.uint8 else None,
                weight_max=self._weight_max(lay),
            )
        return linear(x, lay.weight, weight_max=self._weight_max(lay))

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
        x, gain, x_max = self._scaled_input(lay.inputs[0], form, pooled=True)
        p = self._synaptic_sum(lay, x)
        if p.dtype != np.int64:

            def fits(peak: int) -> bool:
                return (peak * max(gain, 1) << shift) + headroom <= _INT32_MAX

            # The a priori bound max|W|·fan-in·max|x| saves a pass when it already fits.
            w = lay.weight
            prior = (
                None if x_max is None else self._weight_max(lay) * int(np.prod(w.shape[1:])) * x_max
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
            if p.dtype == np.int64:
                # The sums are exact in int64; the shift and the bias must not wrap them.
                _check_current(
                    lay.name, (_absmax(p) << lay.shift) + bmax, f"(Σ W·x) << {lay.shift} + B"
                )
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
            if bound > CURRENT_LIMIT:
                xs = [(x, _absmax(x)) for x, _ in xs]
                bound = total([peak for _, peak in xs])
            _check_current(lay.name, bound, "Σ gain·x + B")
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
        if lay.name in self.done:
            return
        neuron = lay.neuron
        shape = self.net.shapes[lay.name]
        if self.mode == "ann":
            self._ann_levels(lay, neuron, shape)
        else:
            self._count_synaptic(lay)
            neuron.run(LayerContext(self, lay))
        self.done.add(lay.name)
        self._finish(lay)

    def _ann_levels(self, lay: ir.Layer, neuron: ir.NeuronSpec, shape: tuple[int, ...]) -> None:
        p = self.current(lay, "const").astype(np.int64)
        _check_current(lay.name, _absmax(p) * int(neuron.level_gain), "G·P")
        th = channel_view(neuron.threshold, p.ndim)
        m = np.clip(ir.rhu(neuron.level_gain * p, th), neuron.min_level, neuron.max_level)
        self.cache[(lay.name, "const")] = m

    def spike_out(self, lay: ir.Layer, num_steps: int) -> np.ndarray | None:
        """int8 [T, B, n]: where a scan should write the kept spikes of ``lay``, or None."""
        if self.slot is None or not self.keep:
            return None
        shape = self.net.shapes[lay.name]
        return self.slot(lay.name, num_steps, shape).reshape(num_steps, self.batch, -1)

    def _store(
        self,
        lay: ir.Layer,
        spikes: np.ndarray,
        const: np.ndarray | Callable[[], np.ndarray] | None,
        steps: np.ndarray | int | Callable[[], np.ndarray],
        num_steps: int,
        shape: tuple[int, ...],
        counts: np.ndarray | None = None,
        events: np.ndarray | None = None,
        bounds: tuple[int, int] | None = None,
        peaks: dict[str, int] | None = None,
    ) -> None:
        """Cache a spiking layer's forms. ``const`` None means the spike count Σ_t s_t, made
        only if something asks for it; ``steps`` an int G means steps = G × spikes, which for
        binary spikes is also left unmade (synaptic layers read the events and scale by G).
        ``counts``, ``events``, ``bounds`` and ``peaks``: see ``LayerContext.store``."""
        b = self.batch
        full = (spikes.shape[0], b, *shape)
        given, spikes = spikes, spikes.reshape(full)
        if callable(const):
            make = const
            self.lazy[(lay.name, "const")] = lambda: make().reshape((1, b, *shape))
        elif const is None:
            self.lazy[(lay.name, "const")] = lambda: spikes.sum(axis=0, dtype=np.int64)[None]
            if bounds is not None or counts is not None:
                # A count of spikes of at most the peak each: <= steps x peak.
                top = 1 if bounds is None else max(abs(v) for v in bounds)
                self.peak[(lay.name, "const")] = spikes.shape[0] * top
        else:
            self.cache[(lay.name, "const")] = const.reshape((1, b, *shape))
        # 0/1 spikes the kernel counted: the peak follows from the count (no pass).
        if bounds is not None:
            low, peak = bounds
        else:
            peak = int(spikes.max(initial=0)) if counts is None else int(counts.sum() > 0)
            low = 0 if spikes.dtype.kind == "u" or counts is not None else None
        binary = spikes.dtype == np.uint8 and peak <= 1
        # Ternary (or binary signed) spikes: |s| is 1 per event, so magnitude = events.
        unit = peak <= 1 and (low is not None or int(spikes.min(initial=0)) >= -1)
        if low is None and unit:
            low = int(spikes.min(initial=0))
        if isinstance(steps, int) and binary:
            self.step_scale[lay.name] = steps
            self.lazy[(lay.name, "steps")] = lambda: scaled_steps(spikes, steps)
        elif isinstance(steps, int):
            self.cache[(lay.name, "steps")] = scaled_steps(spikes, steps)
        elif callable(steps):
            make_steps = steps
            self.lazy[(lay.name, "steps")] = lambda: make_steps().reshape((-1, b, *shape))
        else:
            if steps is given or steps is spikes or steps.base is given:
                self.peak[(lay.name, "steps")] = max(
                    peak, -(int(spikes.min(initial=0)) if low is None else low)
                )
            self.cache[(lay.name, "steps")] = steps.reshape((steps.shape[0], b, *shape))
        if events is None:
            events = spikes if binary else (spikes != 0).view(np.uint8)
        events = events.reshape(full)
        self.cache[(lay.name, "events")] = events
        self.cache[(lay.name, "magnitude")] = (
            events
            if unit
            else spikes
            if spikes.dtype.kind == "u"
            else np.abs(spikes, dtype=np.int16)
        )
        for form, bound in (peaks or {}).items():
            self.peak[(lay.name, form)] = bound
        self.steps[lay.name] = num_steps
        if self.keep:
            # The kept spikes share the cached arrays' memory (nothing writes to those).
            self.spikes[lay.name] = (
                spikes.view(np.int8)
                if spikes.dtype == np.uint8 and peak <= 127
                else spikes.astype(np.int8, copy=False)
            )
        self.ops[lay.name]["spikes"] = (
            _nonzero_per_step(spikes) if counts is None else np.asarray(counts, np.int64).copy()
        )
        if binary or unit:
            self.nonzero[lay.name] = int(self.ops[lay.name]["spikes"].sum())

    # -- op counts ----------------------------------------------------------------------------
    def _count_synaptic(self, lay: ir.Layer) -> None:
        """Synaptic ops of ``lay`` from its inputs' spikes (``counting.count_synaptic``)."""
        count_synaptic(self, lay)

    # -- readout -----------------------------------------------------------------------------
    def readout(self) -> np.ndarray:
        """Integer logits of the (non-spiking) output layer: the scheme's readout in an SNN run
        (``Scheme.readout``), the current from the inputs' levels in the ANN reference."""
        lay = self.net.output
        if self.mode == "snn":
            self._count_synaptic(lay)
            out = self.record.readout(LayerContext(self, lay))
            self._finish(lay)
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
            family, levels = layer_family(self.net, lay)
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
            meta=trace_meta(self.net),
            inputs=self.codes.astype(np.int32) if self.keep and not self.net.input.steps else None,
        )


def layer_family(net: ir.Network, lay: ir.Layer) -> tuple[str | None, int]:
    """(``LayerTrace.family``, ``spike_levels``) of a layer: its neuron family, the input's
    encoder when the scheme encodes the input codes as spikes, else None."""
    if isinstance(lay, ir.Input):
        return (ENCODER_FAMILY if schemes.input_encoding(net) is not None else None), 1
    if ir.is_spiking(lay):
        return lay.neuron.family, lay.neuron.spike_levels
    return None, 1


def trace_meta(net: ir.Network) -> dict:
    """``Trace.meta`` of a run of ``net``: its own meta and how alignment is costed."""
    return {"alignment_cost": "alg1_average_currents", **net.meta}
