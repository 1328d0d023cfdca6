"""Integrate-and-fire schemes: ``if`` (uniform T, the QCFS baseline) and ``mtif`` (mixed
time-steps with average temporal alignment, MT-SNN), and their soft-reset IF neuron.

Imports ``ir``, ``kernels``, ``errors`` and ``schemes.base``. The neuron: V0 = θ/2, soft reset,
θ^l = γ^l, T^l steps (MT-SNN eq. 1-3); under alignment a layer integrates its producers'
whole-sample spike counts, each re-added every step (MT-SNN eq. 20, Alg. 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError
from neurosim.kernels.if_mt import MAX_SHIFT, if_scan
from neurosim.schemes.base import NeuronBuild, Options, Scheme, check_int, option, per_channel

ALIGN_MODES = ("when_T_differs", "always")
"""MT-SNN average temporal alignment: paper mode (Alg. 1) or at every boundary (exact)."""


@dataclass(frozen=True, eq=False)
class IFSpec(ir.NeuronSpec):
    """Soft-reset IF neuron, V0 = θ/2 (MT-SNN eq. 1-3; QCFS), running ``steps`` time-steps."""

    family: ClassVar[str] = "if"
    steps: int = 1
    """T^l, time-steps of this layer."""
    align: str = "when_T_differs"
    """MT-SNN average alignment of this layer's inputs: ``when_T_differs`` or ``always``."""

    @property
    def level_gain(self) -> int:
        return self.steps

    @property
    def num_steps(self) -> int:
        return self.steps

    def dynamics(self) -> ir.Dynamics:
        """Soft reset, V0 = Θ/2, fire at equality (alignment is this family's own)."""
        return ir.Dynamics(v_init=np.asarray(self.threshold, np.float64) / 2)

    def receives_levels(self, producer_steps: Sequence[int]) -> bool:
        """Aligned at every boundary (``always``) or where a producer's T differs (Alg. 1)."""
        return self.align == "always" or any(t != self.steps for t in producer_steps)

    def run(self, ctx) -> None:
        """Charge Σ W·x (<< f, + B) each step and fire at 2Θ on the doubled membrane.

        Ops per neuron and step: one update and one compare; under alignment T^{l−1} − 1
        averaging adds per neuron per sample (Alg. 1 lines 25-28).
        """
        t = self.steps
        src_steps = ctx.source_steps
        aligned = self.receives_levels(src_steps)
        # Σ W·x only: the scan applies << f (and a power-of-two step gain) and the bias.
        cur, shift = ctx.unshifted_current("const" if aligned else "steps", MAX_SHIFT)
        bias = getattr(ctx.layer, "bias", None)
        threshold, size = per_channel(self.threshold, ctx.shape)
        n, b = ctx.neurons, ctx.batch
        fired = np.zeros(t, np.int64)
        out = ctx.spike_out(t)
        spikes, _ = if_scan(
            cur.reshape(cur.shape[0], b, n),
            t,
            threshold,
            mem_bits=self.mem_bits,
            layer=ctx.name,
            shift=shift,
            bias=None if bias is None else per_channel(bias, ctx.shape)[0],
            channel_size=size,
            keep_membrane=False,
            step_spikes=fired,
            out=None if out is None else out.view(np.uint8),
        )
        ctx.store(spikes, None, t, t, counts=fired)
        per_step = np.full(t, n * b, np.int64)
        ctx.count(neuron_updates=per_step, compares=per_step.copy())
        if aligned and src_steps:
            ctx.count(alignment_ops=np.array([n * b * (max(src_steps) - 1)], np.int64))


@dataclass(frozen=True, kw_only=True)
class UniformOptions(Options):
    """``if``: one T for every layer."""

    num_steps: int = option(
        8,
        minimum=1,
        maximum=ir.MAX_TIME_STEPS,
        label="T",
        help="T, time-steps of every layer",
        check=lambda k, v: _one_t(v),
    )


def _one_t(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ModelError("scheme 'if' uses one T for every layer: num_steps must be an int")
    return check_int("num_steps", value, 1, ir.MAX_TIME_STEPS)


def _steps_option(name: str, value: Any) -> int | Mapping[str, int] | None:
    """mtif's T: None (each layer's learned levels), an int, or layer name → T^l."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {
            str(k): check_int(f"{name}[{k!r}]", v, 1, ir.MAX_TIME_STEPS) for k, v in value.items()
        }
    return check_int(name, value, 1, ir.MAX_TIME_STEPS)


@dataclass(frozen=True, kw_only=True)
class MixedOptions(Options):
    """``mtif``: per-layer T^l and the alignment mode."""

    num_steps: int | Mapping[str, int] | None = option(
        None,
        label="T",
        unset="learned",
        cli=False,
        check=_steps_option,
        help="T^l: None = each layer's learned levels Q^l (MT-SNN Combination 4), an int for "
        "every layer, or a mapping layer name -> T^l",
    )
    align: str = option(
        "when_T_differs",
        choices=ALIGN_MODES,
        help="average temporal alignment where T differs (MT-SNN Alg. 1) or at every "
        "boundary (exact)",
    )


@dataclass(frozen=True, eq=False)
class _IFScheme(Scheme):
    """Conversion shared by ``if`` and ``mtif``: θ = γ, T^l steps, output σ = γ / T^l."""

    def theta(self, act: ir.ActQuant, opts: Options) -> float:
        return float(act.clip)

    def _steps(self, build: NeuronBuild) -> int:
        ns = build.options.num_steps
        levels = int(build.act.levels)
        if isinstance(ns, Mapping):
            ns = ns.get(build.layer)
        if ns is not None:
            return int(ns)
        if levels > ir.MAX_TIME_STEPS:
            raise ModelError(
                f"layer '{build.layer}': T^l = its {levels} levels is more than the "
                f"{ir.MAX_TIME_STEPS} time-steps a layer may run; give num_steps"
            )
        return levels

    def _align(self, opts: Options) -> str:
        return ALIGN_MODES[0]

    def make_neuron(self, build: NeuronBuild) -> tuple[ir.NeuronSpec, float]:
        steps = self._steps(build)
        th = build.threshold(self.theta(build.act, build.options))
        spec = IFSpec(
            threshold=th,
            max_level=steps,
            mem_bits=build.mem_bits,
            steps=steps,
            align=self._align(build.options),
        )
        return spec, float(build.act.clip) / steps

    def meta(self, network: ir.Network, opts: Options) -> dict[str, Any]:
        return {"align": self._align(opts)}


@dataclass(frozen=True, eq=False)
class _MixedScheme(_IFScheme):
    def _align(self, opts: Options) -> str:
        return opts.align


UNIFORM = _IFScheme(
    name="if",
    spec=IFSpec,
    options=UniformOptions,
    description="soft-reset IF, one T for all layers, raw spikes between layers (QCFS baseline)",
    table_settings=tuple({"num_steps": t} for t in (4, 8, 16, 32)),
)
"""``if``: θ^l = γ^l, one T (QCFS)."""

MIXED = _MixedScheme(
    name="mtif",
    spec=IFSpec,
    options=MixedOptions,
    description="IF with per-layer T^l = the layer's learned levels and average temporal "
    "alignment (MT-SNN)",
    table_settings=({},),
)
"""``mtif``: T^l = Q^l (MT-SNN Combination 4), θ^l = γ^l, alignment where T differs."""
