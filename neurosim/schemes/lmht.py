"""``lmht``: LM-HT multi-level neurons (L thresholds per step, T-GIM Ω, leak λ) and their
re-parameterisation into a single-threshold IF neuron over T·L sub-steps.

Imports ``ir``, ``kernels``, ``errors`` and ``schemes.base``. Conversion: θ = γ/L, uniform
Ω = 1/T, λ = 1, v0 = θ/2, or the trained Ω and λ of the file in 16-bit fixed point
(neuron-models §3.3-3.4); with Q = T·L the layer equals QCFS with Q levels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels.lmht import lmht_reparam_scan, lmht_scan
from neurosim.schemes.base import (
    INT_LIMIT,
    NeuronBuild,
    Options,
    Scheme,
    exact_int64,
    option,
    per_channel,
    per_neuron,
    scaled_steps,
)

FIXED_POINT_BITS = 16
"""Fractional bits of a trained T-GIM Ω and leak λ in fixed point (neuron-models §3.4)."""


@dataclass(frozen=True, eq=False)
class LMHTSpec(ir.NeuronSpec):
    """LM-HT neuron: L threshold levels per step, T-GIM Ω, leak λ (LM-HT; neuron-models §3)."""

    family: ClassVar[str] = "lmht"
    steps: int = 2
    """T, time-steps."""
    num_levels: int = 4
    """L, threshold levels θ, 2θ, …, Lθ."""
    tgim: np.ndarray | None = None
    """Ω in fixed point, round(Ω·2^tgim_bits), int64 [T, T]; None = uniform Ω = 1/T (exact)."""
    tgim_bits: int = 0
    """g, fractional bits of ``tgim``."""
    leak: int = 1
    """λ in fixed point, round(λ·2^leak_bits)."""
    leak_bits: int = 0
    """h, fractional bits of ``leak``."""
    reparameterized: bool = False
    """Run as a single-threshold IF over T·L sub-steps (LM-HT re-parameterisation)."""

    @property
    def level_gain(self) -> int:
        return self.steps

    @property
    def num_steps(self) -> int:
        return self.steps * self.num_levels if self.reparameterized else self.steps

    @property
    def spike_bits(self) -> int:
        """⌈log2(L+1)⌉ bits per level-k spike; one bit once re-parameterised."""
        return 1 if self.reparameterized else max(1, int(self.num_levels).bit_length())

    @property
    def spike_levels(self) -> int:
        """A spike carries a level k ≤ L (binary once re-parameterised)."""
        return 1 if self.reparameterized else int(self.num_levels)

    @property
    def mixing_steps(self) -> int:
        """A trained T-GIM mixes all T currents into each update."""
        return self.steps if self.tgim is not None and not self.reparameterized else 1

    def step_schedule(self, producer_steps: Sequence[int]) -> ir.StepSchedule:
        """The T-GIM mixes every input step (a uniform Ω too), so a layer waits for its whole
        input; each step updates every neuron once per threshold level (L compares)."""
        updates = 1 if self.reparameterized else int(self.num_levels)
        return ir.StepSchedule(self.num_steps, True, updates_per_neuron=updates)

    def _check_threshold(self, ctx, th: np.ndarray) -> None:
        """OverflowDetected if the membrane scale 2·T·Θ leaves int64."""
        t = self.steps
        if 2 * t * int(th.max(initial=0)) > INT_LIMIT:
            raise OverflowDetected(
                f"layer '{ctx.name}': the scaled threshold 2·T·Θ = {2 * t * int(th.max())} "
                f"does not fit a 64-bit integer"
            )

    def _run_reparameterized(self, ctx) -> None:
        """T·L binary sub-steps of the re-parameterised IF neuron (one update and compare
        each)."""
        t, lv = self.steps, self.num_levels
        n, b = ctx.neurons, ctx.batch
        th = per_neuron(self.threshold, ctx.shape)
        self._check_threshold(ctx, th)
        if self.tgim is None:
            cur = np.multiply(ctx.current("const"), 2, dtype=np.int64)
            tgim, g = np.ones((t, t), np.int64), 0
            theta, v0 = 2 * t * th, t * th
        else:
            cur = np.multiply(ctx.current("steps"), 2, dtype=np.int64)
            tgim, g = np.asarray(self.tgim, np.int64), self.tgim_bits
            theta, v0 = 2 * th, th
        cur = cur.reshape(cur.shape[0], b, n)
        args = (cur, tgim, g, self.leak, self.leak_bits, lv, theta, v0)
        spikes, _ = lmht_reparam_scan(*args, mem_bits=self.mem_bits, layer=ctx.name)
        k = spikes.reshape(t, lv, b, n).sum(axis=1, dtype=np.int64)
        sub = t * lv
        ctx.store(spikes, k.sum(axis=0), scaled_steps(k, t), sub)
        per = np.full(sub, n * b, np.int64)
        ctx.count(neuron_updates=per, compares=per.copy())

    def run(self, ctx) -> None:
        """Scan T steps (or T·L re-parameterised sub-steps). Ops per neuron and step: one
        update and L compares (one per sub-step once re-parameterised); a trained Ω costs T²
        multiply-adds and λ ≠ 1 T multiplies per neuron and sample (neuron-models §3.6)."""
        t, lv = self.steps, self.num_levels
        n, b = ctx.neurons, ctx.batch
        if self.reparameterized:
            self._run_reparameterized(ctx)
        else:
            th, size = per_channel(self.threshold, ctx.shape)
            self._check_threshold(ctx, th)
            # The scan doubles the current itself (shift 1): no int64 copy of 2P.
            if self.tgim is None:
                # Uniform Ω = 1/T: scale the membrane by 2T so nothing is rounded (§3.4 exact).
                cur, tgim, g = ctx.current("const"), np.ones((t, t), np.int64), 0
                theta, v0 = 2 * t * th, t * th
            else:
                cur = ctx.current("steps")
                tgim, g = np.asarray(self.tgim, np.int64), self.tgim_bits
                theta, v0 = 2 * th, th
            counts = np.zeros(t + 1, np.int64)  # non-zero levels per step, then the peak
            events = np.empty((t, b, n), np.uint8)
            const = np.empty((b, n), np.int64)
            k, _ = lmht_scan(
                cur.reshape(cur.shape[0], b, n),
                tgim,
                g,
                self.leak,
                self.leak_bits,
                lv,
                theta,
                v0,
                mem_bits=self.mem_bits,
                layer=ctx.name,
                shift=1,
                channel_size=size,
                keep_membrane=False,
                step_spikes=counts,
                events=events,
                level_sum=const,
                out=None if (out := ctx.spike_out(t)) is None else out.view(np.uint8),
            )
            peak = int(counts[t])
            # Σ_t k and T·k are both at most T·peak; T·k is made only if a reader asks.
            top = {"steps": t * peak, "const": t * peak}
            ctx.store(
                k,
                const,
                lambda: scaled_steps(k, t, peak),
                t,
                counts=counts[:t],
                events=events,
                bounds=(0, peak),
                peaks=top,
            )
            per = np.full(t, n * b, np.int64)
            ctx.count(neuron_updates=per, compares=per * lv)
        if self.tgim is not None:
            ctx.count(tgim_macs=np.array([t * t * n * b], np.int64))
        if int(self.leak) != 1 << int(self.leak_bits):
            ctx.count(leak_mults=np.array([t * n * b], np.int64))


@dataclass(frozen=True, kw_only=True)
class LMHTOptions(Options):
    """``lmht`` keywords."""

    num_steps: int = option(2, minimum=1, maximum=64, label="T", help="T, time-steps")
    num_levels: int = option(4, minimum=1, maximum=127, label="L", help="L, threshold levels")
    reparameterize: bool = option(
        False, help="run each layer as a single-threshold IF over T·L sub-steps"
    )
    exact: bool = option(False, help="require levels Q = T·L in every layer (exact QCFS)")


@dataclass(frozen=True, eq=False)
class _LMHTScheme(Scheme):
    def theta(self, act: ir.ActQuant, opts: Options) -> float:
        """θ = γ/L: the top level Lθ reaches the clip."""
        return float(act.clip) / opts.num_levels

    def make_neuron(self, build: NeuronBuild) -> tuple[ir.NeuronSpec, float]:
        opts, act, name = build.options, build.act, build.layer
        t, lv = opts.num_steps, opts.num_levels
        if opts.exact and int(act.levels) != t * lv:
            raise ModelError(
                f"layer '{name}': exact LM-HT conversion needs levels Q = T·L = {t * lv}, the "
                f"layer has Q = {int(act.levels)}"
            )
        theta = self.theta(act, opts)
        tgim, tgim_bits = None, 0
        if act.tgim is not None:
            omega = np.asarray(act.tgim, dtype=np.float64)
            if omega.shape != (t, t):
                raise ModelError(
                    f"layer '{name}': act.tgim must be [T, T] = [{t}, {t}], got {omega.shape}"
                )
            tgim = exact_int64(omega * 2**FIXED_POINT_BITS, f"layer '{name}': act.tgim")
            tgim_bits = FIXED_POINT_BITS
        leak, leak_bits = 1, 0
        if act.leak is not None and float(act.leak) != 1.0:
            if not 0.0 < float(act.leak) < 2.0:
                raise ModelError(f"layer '{name}': act.leak must be in (0, 2), got {act.leak}")
            leak = round(float(act.leak) * 2**FIXED_POINT_BITS)
            leak_bits = FIXED_POINT_BITS
        spec = LMHTSpec(
            threshold=build.threshold(theta),
            max_level=t * lv,
            mem_bits=build.mem_bits,
            steps=t,
            num_levels=lv,
            tgim=tgim,
            tgim_bits=tgim_bits,
            leak=leak,
            leak_bits=leak_bits,
            reparameterized=opts.reparameterize,
        )
        return spec, theta / t

    def meta(self, network: ir.Network, opts: Options) -> dict[str, Any]:
        return {
            "num_steps": opts.num_steps,
            "num_levels": opts.num_levels,
            "reparameterized": opts.reparameterize,
        }


LMHT = _LMHTScheme(
    name="lmht",
    spec=LMHTSpec,
    options=LMHTOptions,
    description="LM-HT multi-level neurons: L thresholds per step, T-GIM, leak (LM-HT)",
    table_settings=tuple({"num_steps": t, "num_levels": lv} for t in (1, 2, 4) for lv in (2, 4)),
)
"""``lmht``: θ = γ/L, uniform Ω = 1/T, λ = 1, v0 = θ/2 (trained Ω/λ when the file has them)."""


def reparameterize(network: ir.Network) -> ir.Network:
    """Turn every LM-HT layer of an ``lmht`` network into its single-threshold IF form over T·L
    sub-steps (the LM-HT re-parameterisation)."""
    if network.scheme != LMHT.name:
        raise ModelError(
            f"only an '{LMHT.name}' network can be re-parameterised, got {network.scheme!r}"
        )
    layers = []
    for lay in network.layers:
        neuron = getattr(lay, "neuron", None)
        if isinstance(neuron, LMHTSpec):
            lay = dataclasses.replace(lay, neuron=dataclasses.replace(neuron, reparameterized=True))
        layers.append(lay)
    return ir.Network(
        layers=tuple(layers),
        kind="snn",
        scheme=network.scheme,
        name=network.name,
        meta={**network.meta, "reparameterized": True},
    )
