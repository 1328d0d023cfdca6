"""``sws``: ternary TSA neurons with stepwise weighted spikes (SWS), β = 2 as a shift.

Imports ``ir``, ``kernels``, ``errors`` and ``schemes.base``. A TSA layer encodes its value in
Tc coding steps, slot τ weighing 2^(Tc−τ), after a silent period of Ts steps; threshold
β^Ts·θ/2, reset θ·β^Ts (SWS eq. 3, §3.2-3.3); conversion after SWS App. A.1 eq. 16-19 in
integers. The input codes are encoded into Tc slots by a digital or a neuron encoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError
from neurosim.kernels.if_mt import MAX_SHIFT
from neurosim.kernels.tsa import encode_digital, encode_neuron, tsa_scan
from neurosim.schemes.base import (
    InputEncoding,
    NeuronBuild,
    Options,
    Scheme,
    channel_view,
    option,
    per_channel,
)
from neurosim.trace import ENCODER_FAMILY

ENCODERS = ("digital", "neuron")
"""Input encoders: binary digits of the code (exact) or SWS's constant-current neuron (eq. 8-9)."""


@dataclass(frozen=True, eq=False)
class TSASpec(ir.NeuronSpec):
    """Ternary TSA neuron with stepwise weighted spikes, β = 2 (SWS eq. 3, §3.2-3.3)."""

    family: ClassVar[str] = "tsa"
    coding_steps: int = 8
    """Tc, coding time-steps per frame."""
    silent_steps: int = 2
    """Ts, silent period before firing."""
    rectify: bool = True
    """Suppress spikes that push the encoded value outside [0, max_level] (neuron-models §2.4)."""

    @property
    def level_gain(self) -> int:
        return 1

    @property
    def num_steps(self) -> int:
        return self.coding_steps

    @property
    def min_level(self) -> int:
        """−(2^Tc − 1) for the plain symmetric neuron, 0 when it rectifies."""
        return 0 if self.rectify else -(2**self.coding_steps - 1)

    @property
    def spike_bits(self) -> int:
        """Ternary spikes: two bits."""
        return 2

    @property
    def silent_shift_steps(self) -> int:
        """The Ts silent-period shifts of the membrane (β = 2)."""
        return self.silent_steps

    def step_schedule(self, producer_steps: Sequence[int]) -> ir.StepSchedule:
        """Tc + Ts local steps per frame; slot τ leaves after step τ + Ts (SWS §3.3)."""
        return ir.StepSchedule(
            self.coding_steps + self.silent_steps, False, emit_delay=self.silent_steps
        )

    def run(self, ctx) -> None:
        """Frames of Tc + Ts steps; ops: Tc + Ts shifts, Tc updates and 2·Tc compares per
        neuron (SWS eq. 10 first term counts the shifts)."""
        tc, ts = self.coding_steps, self.silent_steps
        # Σ W·x only: the scan applies << f and injects the bias (SWS eq. 19) as it charges.
        cur, shift = ctx.unshifted_current("steps", MAX_SHIFT)
        n, b = ctx.neurons, ctx.batch
        threshold, size = per_channel(self.threshold, ctx.shape)
        bias = getattr(ctx.layer, "bias", None)
        counts, signs = np.zeros(tc, np.int64), np.zeros(2, np.int64)
        events = np.empty((tc, b, n), np.uint8)
        spikes, _ = tsa_scan(
            cur.reshape(cur.shape[0], b, n),
            tc,
            ts,
            threshold,
            max_level=self.max_level if self.rectify else -1,
            mem_bits=self.mem_bits,
            layer=ctx.name,
            shift=shift,
            bias=None if bias is None else per_channel(bias, ctx.shape)[0],
            channel_size=size,
            keep_membrane=False,
            step_spikes=counts,
            sign_counts=signs,
            events=events,
            out=ctx.spike_out(tc),
        )
        bounds = (-int(signs[1] > 0), int(signs[0] > 0))
        # Readers take the slots (steps form); A is made only if one asks for it.
        ctx.store(
            spikes,
            lambda: encoded_value(spikes),
            spikes,
            tc,
            counts=counts,
            events=events,
            bounds=bounds,
        )
        ctx.count(
            amplifications=np.full(tc + ts, n * b, np.int64),
            neuron_updates=np.full(tc, n * b, np.int64),
            compares=np.full(tc, 2 * n * b, np.int64),
        )


def encoded_value(spikes: np.ndarray) -> np.ndarray:
    """int64 A = Σ_τ a_τ·2^(Tc−τ) of slots [Tc, ...] (SWS eq. 7 in levels), accumulated slot by
    slot (no [Tc, ...] int64 temporary)."""
    tc = spikes.shape[0]
    value = np.zeros(spikes.shape[1:], np.int64)
    for t in range(tc):
        value += spikes[t].astype(np.int64) << (tc - 1 - t)
    return value


def inject_bias(lay: ir.Layer, cur: np.ndarray, tc: int) -> np.ndarray:
    """Inject bias B as q at every coding step plus r at t = Tc, B = q·(2^Tc − 1) + r, so the
    slot-weighted total is exactly B (SWS eq. 19 in integers; neuron-models §2.3).

    ``cur`` (the layer's fresh Σ W·x) is updated in place when it has every step, in int32
    when |Σ W·x| + |q| + |r| fits (half the bytes of the scan's largest input), else int64.
    """
    q = r = np.zeros(1, np.int64)
    if lay.bias is not None:
        q, r = np.divmod(np.asarray(lay.bias, np.int64), 2**tc - 1)
    dtype = np.int64
    if cur.dtype == np.int32 and cur.size:
        peak = max(-int(cur.min()), int(cur.max()))
        if peak + int(np.abs(q).max()) + int(np.abs(r).max()) <= np.iinfo(np.int32).max:
            dtype = np.int32
    if cur.shape[0] != tc or cur.dtype != dtype:
        cur = np.broadcast_to(cur, (tc, *cur.shape[1:])).astype(dtype)
    if lay.bias is None:
        return cur
    cur += channel_view(q.astype(dtype), cur.ndim)
    cur[tc - 1] += channel_view(r.astype(dtype), cur.ndim)[0]
    return cur


@dataclass(frozen=True, kw_only=True)
class SWSOptions(Options):
    """``sws`` keywords: the coding window, the silent period and the input encoder."""

    coding_steps: int = option(8, minimum=1, maximum=16, label="Tc", help="Tc, coding steps")
    silent_steps: int = option(2, minimum=0, maximum=16, label="Ts", help="Ts, silent steps")
    encoder: str = option(
        "digital",
        choices=ENCODERS,
        help="input encoder: digital (binary digits of the code, exact) or neuron (SWS eq. 8-9)",
    )
    encoder_silent_steps: int = option(
        1,
        minimum=0,
        maximum=16,
        help="silent period of the neuron encoder (exact for every code when >= 1)",
    )
    rectify: bool = option(
        True, help="clamp each TSA layer's encoded value to [0, levels] (neuron-models §2.4)"
    )


@dataclass(frozen=True, eq=False)
class _SWSScheme(Scheme):
    def theta(self, act: ir.ActQuant, opts: Options) -> float:
        """One level step γ/Q: a TSA layer's output unit."""
        return float(act.clip) / int(act.levels)

    def check(self, network: ir.Network, opts: Options) -> None:
        inp = network.input
        if inp.levels > 2**opts.coding_steps - 1:
            raise ModelError(
                f"layer '{inp.name}': input codes up to {inp.levels} need coding_steps >= "
                f"{int(inp.levels).bit_length()}, got {opts.coding_steps}"
            )

    def make_neuron(self, build: NeuronBuild) -> tuple[ir.NeuronSpec, float]:
        opts = build.options
        step = self.theta(build.act, opts)
        spec = TSASpec(
            threshold=build.threshold(step),
            max_level=min(int(build.act.levels), 2**opts.coding_steps - 1),
            mem_bits=build.mem_bits,
            coding_steps=opts.coding_steps,
            silent_steps=opts.silent_steps,
            rectify=opts.rectify,
        )
        return spec, step

    def add_delays(self, depths: Sequence[int], opts: Options) -> tuple[int, ...]:
        """Ts per TSA layer the other inputs cross more than this one (skip paths)."""
        return tuple(opts.silent_steps * (max(depths) - d) for d in depths)

    def meta(self, network: ir.Network, opts: Options) -> dict[str, Any]:
        return {
            "coding_steps": opts.coding_steps,
            "silent_steps": opts.silent_steps,
            "encoder": opts.encoder,
            "encoder_silent_steps": opts.encoder_silent_steps,
            "rectify": opts.rectify,
        }

    def input_encoding(self, meta: Mapping[str, Any]) -> InputEncoding:
        tc = int(meta.get("coding_steps", 8))
        if meta.get("encoder", "digital") == "digital":
            return InputEncoding(tc, 1, lambda codes: encode_digital(codes, tc))
        silent = int(meta.get("encoder_silent_steps", 1))
        return InputEncoding(tc, 2, lambda codes: encode_neuron(codes, tc, silent))

    def readout(self, ctx) -> np.ndarray:
        """X = Σ_τ 2^(Tc−τ) P(τ) over the output layer's per-slot currents (SWS eq. 7)."""
        tc = int(ctx.meta.get("coding_steps", 8))
        cur = inject_bias(ctx.layer, ctx.current("steps", with_bias=False), tc)
        w = (2 ** np.arange(tc - 1, -1, -1, dtype=np.int64)).reshape((tc,) + (1,) * (cur.ndim - 1))
        return (cur * w).sum(axis=0)

    def mean_time_steps(self, network: ir.Network) -> float:
        """T_inf = Tc + Ts·L_TSA (SWS eq. 6)."""
        tsa = [n for n in network.neurons() if isinstance(n, TSASpec)]
        if not tsa:
            return 0.0
        return float(tsa[0].coding_steps + tsa[0].silent_steps * len(tsa))

    def opf(self, trace, network: ir.Network) -> tuple[float, float]:
        """SWS eq. 10 from the trace: (OPF without the encoder, the encoder's term).

        First term: Σ over TSA layers of (Tc + Ts)·N_l (the membrane amplifications). Second:
        every synaptic op whose spike came from a TSA layer — each spike counted once per
        fan-out target over the layer's whole firing window, readout layer included. The
        encoder is neither a TSA neuron nor in the sum: its spikes × fan-out are its own term.
        """
        batch = max(trace.batch_size, 1)
        first = 0.0
        for lt in trace.layers:
            if lt.family != TSASpec.family:
                continue
            neuron = getattr(network.layer(lt.name), "neuron", None)
            if isinstance(neuron, TSASpec):
                window = neuron.coding_steps + neuron.silent_steps
            else:
                window = int(trace.meta.get("coding_steps", lt.num_steps)) + int(
                    trace.meta.get("silent_steps", 0)
                )
            first += window * int(np.prod(lt.shape))
        input_spikes = sum(lt.total("spikes") for lt in trace.layers if lt.family == ENCODER_FAMILY)
        input_spikes /= batch
        tsa = encoder = 0.0
        for lt in trace.layers:
            if "synaptic_ops" not in lt.ops:
                continue
            total = lt.total("synaptic_ops") / batch
            lay = network.layer(lt.name)
            from_input = sum(isinstance(s, ir.Input) for s in network.spike_sources(lt.name))
            if isinstance(lay, ir.Add):
                # An Add's spiking inputs reach it with fan-out 1: the encoder's share is its
                # spike count.
                share = from_input * input_spikes
            else:
                share = total if from_input else 0.0
            encoder += share
            tsa += total - share
        return first + tsa, encoder


SWS = _SWSScheme(
    name="sws",
    spec=TSASpec,
    options=SWSOptions,
    description="ternary TSA neurons with stepwise weighted spikes, Tc coding and Ts silent "
    "steps (SWS)",
    table_settings=tuple(
        {"coding_steps": tc, "silent_steps": ts} for tc in (4, 8) for ts in (1, 2)
    ),
)
"""``sws``: TSA layers, β = 2, θ = γ/Q, digital input encoder by default."""
