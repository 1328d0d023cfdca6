"""``lif``: the leaky integrate-and-fire family (fixed-point leak, reset to zero, to a value or by
subtraction, bias, per-neuron parameters), the neurons of imported NIR graphs and of a
conversion from a quantized ANN.

Imports ``ir``, ``kernels``, ``errors`` and ``schemes.base``. Per step (integers, membrane LSBs):
V ← ⌊λ_int·V / 2^h⌋ + P_t, spike if V > Θ (or V ≥ Θ), reset; see ``kernels.lif``. Conversion
from a quantized ANN: θ = γ, T steps, λ = 1, reset by subtraction, V0 = ⌊Θ/2⌋ and firing at
equality by default, which is the ``if`` neuron exactly (spike for spike); a leak λ < 1 or a reset
to zero make it an approximation whose accuracy ``run`` reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError, UnsupportedError
from neurosim.kernels.lif import LEAK_ROUNDING, MAX_LEAK_BITS, MAX_SHIFT, RESET_MODES, lif_scan
from neurosim.schemes.base import NeuronBuild, Options, Scheme, option
from neurosim.schemes.integrate_fire import IFSpec

LEAK_BITS = 16
"""Default fractional bits of the fixed-point leak λ_int / 2^h (fewer when λ is exact in fewer)."""


def leak_fixed_point(lam: np.ndarray | float, max_bits: int = LEAK_BITS) -> tuple[np.ndarray, int]:
    """(λ_int, h) with λ ≈ λ_int / 2^h: the fewest h <= ``max_bits`` that represent every λ
    exactly (λ = 1/2: h = 1, a shift), else h = ``max_bits`` and λ_int = round(λ·2^h).

    ModelError if a λ lies outside [0, 1] or is not finite.
    """
    arr = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise ModelError(f"leak λ must lie in [0, 1], got {arr.min():g}..{arr.max():g}")
    for bits in range(max_bits + 1):
        scaled = arr * 2.0**bits
        if np.all(scaled == np.round(scaled)):
            return scaled.astype(np.int64), bits
    return np.round(arr * 2.0**max_bits).astype(np.int64), max_bits


def expand(values: np.ndarray | int | None, shape: tuple[int, ...], name: str, layer: str):
    """A per-channel [C], per-neuron [N] or single-value parameter as one int64 per neuron of a
    (C, ...) layer (C-order); None stays None."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    n = int(np.prod(shape))
    if arr.size == n:
        return arr
    if arr.size == 1:
        return np.full(n, arr[0], np.int64)
    if arr.size == shape[0]:
        return np.repeat(arr, n // shape[0])
    raise ModelError(
        f"layer '{layer}': neuron.{name} must have 1, {shape[0]} (per channel) or {n} (per "
        f"neuron) values, got {arr.size}"
    )


@dataclass(frozen=True, eq=False)
class LIFSpec(ir.NeuronSpec):
    """Integer LIF neuron: fixed-point leak, three reset modes, per-neuron parameters.

    ``threshold``, ``leak``, ``v_reset``, ``v_init`` and ``bias`` hold one value per output
    channel [C] or per neuron [N] (C-order), or a single value.
    """

    family: ClassVar[str] = "lif"
    steps: int = 8
    """T, time-steps of the layer (every layer of a ``lif`` network runs the same T)."""
    leak: np.ndarray | None = None
    """λ_int (λ = λ_int / 2^leak_bits, in [0, 1]); None = no leak (λ = 1, an IF neuron)."""
    leak_bits: int = 0
    """h, fractional bits of ``leak``."""
    syn_leak: np.ndarray | None = None
    """α_int of a synaptic current state (α = α_int / 2^syn_leak_bits; a current-based LIF,
    NIR CubaLIF); None = none, the input charges the membrane directly."""
    syn_leak_bits: int = 0
    leak_rounding: str = "floor"
    """``floor`` (arithmetic shift of the products) or ``zero`` (truncate toward zero, Loihi)."""
    reset: str = "subtract"
    """``zero`` (V = 0), ``value`` (V = v_reset) or ``subtract`` (V −= Θ) after a spike."""
    v_reset: np.ndarray | None = None
    """Reset value (``reset="value"``), membrane LSBs."""
    v_init: np.ndarray | None = None
    """Initial membrane V0, membrane LSBs (None = 0)."""
    bias: np.ndarray | None = None
    """Constant drive of the membrane per neuron and step (NIR v_leak); the layer's per-channel
    bias joins the input (through the synaptic current, if any)."""
    strict: bool = True
    """Fire on V > Θ (NIR, SANA-FE) or, when False, on V ≥ Θ (the IF of the ``if`` scheme)."""
    gain: int = 1
    """Value of one output spike in its consumers' input units: 1 for an imported network, T
    for one converted from a quantized ANN (the ``if`` convention: steps form = T·s)."""
    delay: int = 0
    """Synaptic delay in steps: the input charged at step t is the one that arrived at step
    t − delay (none before). 1 is SANA-FE's semantics (a spike sent at step t is integrated
    at t + 1, every connection); the layer's bias and ``bias`` drive are not delayed."""

    @property
    def level_gain(self) -> int:
        """G: one spike is ``gain`` units of its consumers' input (T for a converted network)."""
        return int(self.gain)

    @property
    def num_steps(self) -> int:
        return self.steps

    def step_schedule(self, producer_steps: Sequence[int]) -> ir.StepSchedule:
        """Per-step streaming; a synaptic current is a second state update per neuron and step."""
        updates = 1 if self.syn_leak is None else 2
        return ir.StepSchedule(self.num_steps, False, updates_per_neuron=updates)

    def dynamics(self) -> ir.Dynamics:
        """Its own parameters (λ = λ_int / 2^h); the leak rounding is this family's own."""
        lam = None
        if self.leak is not None:
            lam = np.asarray(self.leak, np.float64) / 2.0 ** int(self.leak_bits)
        alpha = None
        if self.syn_leak is not None:
            alpha = np.asarray(self.syn_leak, np.float64) / 2.0 ** int(self.syn_leak_bits)
        return ir.Dynamics(
            leak=lam,
            syn_leak=alpha,
            reset=self.reset,
            v_reset=self.v_reset,
            v_init=self.v_init,
            bias=self.bias,
            strict=self.strict,
        )

    def run(self, ctx) -> None:
        """Charge Σ W·x (<< f, + B) each step (through the synaptic current, if any) into the
        leaking membrane and fire. Ops per neuron and step: one update (two with a synaptic
        current), one compare, and one multiply at membrane width per decay factor ≠ 1."""
        t, n, b = self.steps, ctx.neurons, ctx.batch
        cur, shift = ctx.unshifted_current("steps", MAX_SHIFT)
        if cur.shape[0] not in (1, t):
            raise ModelError(
                f"layer '{ctx.name}': its inputs run {cur.shape[0]} steps, the layer {t}; every "
                f"layer of a lif network runs the same T"
            )
        if self.delay:
            cur = delayed(cur, t, int(self.delay))
        leak = expand(self.leak, ctx.shape, "leak", ctx.name)
        syn = expand(self.syn_leak, ctx.shape, "syn_leak", ctx.name)
        fired = np.zeros(t, np.int64)
        spikes, _ = lif_scan(
            cur.reshape(cur.shape[0], b, n),
            t,
            expand(self.threshold, ctx.shape, "threshold", ctx.name),
            leak=1 << int(self.leak_bits) if leak is None else leak,
            leak_bits=self.leak_bits,
            syn_leak=syn,
            syn_leak_bits=self.syn_leak_bits,
            leak_rounding=self.leak_rounding,
            reset=self.reset,
            v_reset=expand(self.v_reset, ctx.shape, "v_reset", ctx.name),
            v_init=expand(self.v_init, ctx.shape, "v_init", ctx.name),
            bias=ctx.bias_per_neuron(),
            drive=expand(self.bias, ctx.shape, "bias", ctx.name),
            shift=shift,
            strict=self.strict,
            mem_bits=self.mem_bits,
            layer=ctx.name,
            step_spikes=fired,
        )
        ctx.store(spikes, None, int(self.gain), t, counts=fired)
        per = np.full(t, n * b, np.int64)
        ctx.count(neuron_updates=per * (1 if syn is None else 2), compares=per.copy())
        mults = 0
        for factor, bits in ((leak, self.leak_bits), (syn, self.syn_leak_bits)):
            if factor is not None:
                mults += int(np.count_nonzero(factor != 1 << int(bits)))
        if mults:
            ctx.count(leak_mults=np.full(t, mults * b, np.int64))


def _is_if_neuron(spec: ir.NeuronSpec, steps: int) -> bool:
    """Whether a LIF spec is the ``if`` neuron of ``spikes_like`` (T = ``steps``)."""
    if not isinstance(spec, LIFSpec) or spec.steps != steps or spec.gain != steps:
        return False
    if spec.leak is not None and np.any(np.asarray(spec.leak) != 1 << int(spec.leak_bits)):
        return False
    if spec.syn_leak is not None or spec.reset != "subtract" or spec.strict or spec.delay:
        return False
    if spec.bias is not None and np.any(np.asarray(spec.bias) != 0):
        return False
    threshold = np.asarray(spec.threshold, np.int64).reshape(-1)
    v_init = np.asarray(0 if spec.v_init is None else spec.v_init, np.int64).reshape(-1)
    return v_init.shape == threshold.shape and np.array_equal(v_init, threshold // 2)


def delayed(current: np.ndarray, steps: int, delay: int) -> np.ndarray:
    """The per-step current [q, ...] (q = 1: held every step) as it arrives ``delay`` steps
    later: [steps, ...] with zeros in the first ``delay`` steps."""
    out = np.zeros((steps, *current.shape[1:]), current.dtype)
    if delay < steps:
        out[delay:] = current[: steps - delay] if current.shape[0] > 1 else current[0]
    return out


def _leak_option(name: str, value: Any) -> float:
    try:
        lam = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if isinstance(value, bool) or not 0.0 <= lam <= 1.0:
        raise ModelError(f"{name} must be a number in [0, 1], got {value!r}")
    return lam


@dataclass(frozen=True, kw_only=True)
class LIFOptions(Options):
    """``lif`` conversion keywords (an imported network carries its own parameters)."""

    num_steps: int = option(8, minimum=1, maximum=4096, label="T", help="T, time-steps")
    leak: float = option(
        1.0,
        check=_leak_option,
        help="membrane leak λ in [0, 1] per step (1: no leak, the if neuron)",
    )
    leak_bits: int = option(
        LEAK_BITS,
        minimum=0,
        maximum=MAX_LEAK_BITS,
        help="most fractional bits h of the fixed-point leak λ_int / 2^h",
    )
    reset: str = option(
        "subtract",
        choices=("subtract", "zero"),
        help="after a spike: subtract the threshold (rate-exact) or reset to zero",
    )
    v_init: str = option(
        "half", choices=("half", "zero"), help="initial membrane: ⌊Θ/2⌋ (as if) or 0"
    )
    strict: bool = option(False, help="fire on V > Θ instead of V >= Θ")


@dataclass(frozen=True, eq=False)
class _LIFScheme(Scheme):
    def theta(self, act: ir.ActQuant, opts: Options) -> float:
        """θ = γ, as ``if``."""
        return float(act.clip)

    def make_neuron(self, build: NeuronBuild) -> tuple[ir.NeuronSpec, float]:
        opts = build.options
        t = opts.num_steps
        th = build.threshold(self.theta(build.act, opts))
        lam, bits = leak_fixed_point(opts.leak, opts.leak_bits)
        spec = LIFSpec(
            threshold=th,
            max_level=t,
            mem_bits=build.mem_bits,
            steps=t,
            leak=None if opts.leak == 1.0 else lam,
            leak_bits=0 if opts.leak == 1.0 else bits,
            reset=opts.reset,
            v_init=th // 2 if opts.v_init == "half" else None,
            strict=opts.strict,
            gain=t,
        )
        return spec, float(build.act.clip) / t

    def meta(self, network: ir.Network, opts: Options) -> dict[str, Any]:
        return {
            "num_steps": opts.num_steps,
            "leak": opts.leak,
            "reset": opts.reset,
            "v_init": opts.v_init,
            "strict": opts.strict,
        }

    def readout(self, ctx) -> np.ndarray:
        """A spiking output layer: its spike counts per neuron. A linear one: Σ_t P_t over its
        per-step currents, which for spikes worth T units (a converted network) is T times the
        current of the inputs' counts, so that one is used (the ``if`` readout)."""
        if ir.is_spiking(ctx.layer):
            return ctx.own("const")[0]
        neurons = ctx.network.neurons()
        if neurons and all(n.gain == n.steps for n in neurons):
            return ctx.current("const")[0]
        return ctx.current("steps").sum(axis=0, dtype=np.int64)

    def spikes_like(self, network: ir.Network) -> ir.Network | None:
        """The ``if`` network of a conversion at λ = 1 with subtractive reset, V0 = ⌊Θ/2⌋,
        firing at equality, no delay, drive or synaptic current, spikes worth T units and one T
        (the defaults): V0 + ΣP ≥ Θ ⇔ Θ + 2ΣP ≥ 2Θ, the ``if`` neuron's doubled membrane, so
        spikes, op counts (one update and one compare per neuron and step) and readout agree."""
        neurons = network.neurons()
        if not neurons or ir.is_spiking(network.output):
            return None
        steps = neurons[0].steps
        layers = []
        for lay in network.layers:
            neuron = getattr(lay, "neuron", None)
            if neuron is not None:
                if not _is_if_neuron(neuron, steps):
                    return None
                like = IFSpec(
                    threshold=neuron.threshold,
                    max_level=neuron.max_level,
                    mem_bits=neuron.mem_bits,
                    steps=steps,
                )
                lay = dataclasses.replace(lay, neuron=like)
            layers.append(lay)
        return ir.Network(
            layers=tuple(layers), kind="snn", scheme="if", name=network.name, meta=network.meta
        )

    def mean_time_steps(self, network: ir.Network) -> float:
        neurons = network.neurons()
        return float(neurons[0].num_steps) if neurons else float(network.input.steps)

    def with_steps(self, network: ir.Network, steps: int) -> ir.Network:
        """The same network run for ``steps`` time-steps (an imported network whose T follows
        its event inputs); a converted one (spikes worth T units) cannot be re-timed."""
        if steps < 1:
            raise ModelError(f"time-steps must be >= 1, got {steps}")
        if any(n.gain != 1 for n in network.neurons()):
            raise UnsupportedError(
                f"network '{network.name}' was converted with T = {network.neurons()[0].steps} "
                f"(its spikes carry that T); convert it again for another T"
            )
        layers = []
        for lay in network.layers:
            if isinstance(lay, ir.Input) and lay.steps:
                lay = dataclasses.replace(lay, steps=steps)
            neuron = getattr(lay, "neuron", None)
            if isinstance(neuron, LIFSpec):
                neuron = dataclasses.replace(neuron, steps=steps, max_level=steps)
                lay = dataclasses.replace(lay, neuron=neuron)
            layers.append(lay)
        meta = {**network.meta}
        if "num_steps" in meta:
            meta["num_steps"] = steps
        return ir.Network(
            layers=tuple(layers), kind="snn", scheme=network.scheme, name=network.name, meta=meta
        )


LIF = _LIFScheme(
    name="lif",
    spec=LIFSpec,
    options=LIFOptions,
    description="leaky integrate-and-fire, fixed-point leak, reset to zero/value/by subtraction "
    "(NIR graphs; converted: λ = 1 is the if neuron)",
    table_settings=({"num_steps": 8, "leak": 0.9375},),
)
"""``lif``: imported NIR networks; from a quantized ANN θ = γ, T steps, λ, subtractive reset."""


__all__ = [
    "LEAK_BITS",
    "LEAK_ROUNDING",
    "LIF",
    "MAX_SHIFT",
    "RESET_MODES",
    "LIFOptions",
    "LIFSpec",
    "expand",
    "leak_fixed_point",
]
