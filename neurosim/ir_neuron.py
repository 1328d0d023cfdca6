"""Per-value parts of the network IR: rounding, the ANN's activation quantizer and the SNN's
neuron spec (the contract every scheme's spec subclass answers).

A leaf module (imports only numpy and ``neurosim.errors``); ``neurosim.ir`` re-exports
everything here, so code names them ``ir.ActQuant``, ``ir.NeuronSpec``, ….
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurosim.errors import ModelError


def rhu(x: np.ndarray | int, d: np.ndarray | int) -> np.ndarray:
    """Integer round-half-up of x/d for d > 0: floor((2x + d) / (2d)) (QCFS rounding)."""
    x = np.asarray(x, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    return (2 * x + d) // (2 * d)


ROUNDING_MODES = ("half_up", "half_even")
"""How a quantizer rounds x to an integer level: ``half_up`` floor(x + 1/2) (QCFS, MT-SNN eq. 5;
the native default) or ``half_even`` (ONNX QuantizeLinear, ``torch.round``)."""


def round_levels(x: np.ndarray, rounding: str) -> np.ndarray:
    """x rounded to integers (float64) by ``rounding`` (one of ``ROUNDING_MODES``)."""
    if rounding == "half_even":
        return np.rint(x)
    if rounding == "half_up":
        return np.floor(x + 0.5)
    raise ModelError(f"rounding must be one of {list(ROUNDING_MODES)}, got {rounding!r}")


# --------------------------------------------------------------------------------------------
# Activation quantizer (ANN side) and neuron specs (SNN side)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ActQuant:
    """Quantized ReLU of the ANN: a = (clip/levels)·clip(rhu(z·levels/clip), 0, levels).

    QCFS activation / MT-SNN eq. 5; levels 0..Q, i.e. Q+1 of them.
    """

    levels: int
    """Q, the largest integer level; Q = 2^n (MT-SNN) or a learned t^l (MT-SNN Combination 4)."""
    clip: float
    """γ (QCFS ϑ), the learned clip of the activation, in activation units."""
    tgim: np.ndarray | None = None
    """Optional trained LM-HT T-GIM Ω [T, T] (LM-HT §3.1); None means uniform Ω = 1/T."""
    leak: float | None = None
    """Optional trained LM-HT leak λ; None means λ = 1."""
    rounding: str = "half_up"
    """How z·Q/γ is rounded to a level (``ROUNDING_MODES``): the source graph's rule (ONNX and
    ``torch.round``: ``half_even``). Converted SNNs round half up (docs/import.md)."""


@dataclass(frozen=True)
class StepSchedule:
    """How a neuron family's layer steps on a multi-core chip (one layer's time semantics).

    ``local_steps`` steps per sample; step t < ``local_steps`` needs its producers' slot t
    (``whole_sample=False``: per-step streaming) or all of their slots before its first step
    (``True``: a whole-sample wait, e.g. MT-SNN alignment); output slot τ leaves after local
    step τ + ``emit_delay`` (TSA: Ts silent steps, SWS §3.3); each neuron does
    ``updates_per_neuron`` updates per step (LM-HT: one per threshold level).
    """

    local_steps: int
    whole_sample: bool
    updates_per_neuron: int = 1
    emit_delay: int = 0


@dataclass(frozen=True, eq=False)
class Dynamics:
    """A neuron family seen as a leaky integrate-and-fire neuron, in membrane LSBs: per step
    V ← λ·V + P_t (+ bias), fire on V > Θ (``strict``) or V ≥ Θ, then reset. Exchange formats
    (NIR) describe a spiking layer with it; what a family holds beyond it (ternary or
    multi-level spikes, alignment, silent steps) stays in its own fields."""

    leak: np.ndarray | None = None
    """λ per channel or neuron (float, in [0, 1]); None: λ = 1."""
    syn_leak: np.ndarray | None = None
    """α of a synaptic current J_t = α·J_{t−1} + P_t that charges the membrane instead of P_t
    (a current-based LIF); None: no synaptic state."""
    reset: str = "subtract"
    """``zero``, ``value`` or ``subtract``."""
    v_reset: np.ndarray | None = None
    v_init: np.ndarray | None = None
    """Initial membrane (LSBs, may be fractional); None: 0."""
    bias: np.ndarray | None = None
    """Constant drive per neuron and step besides the layer's bias."""
    strict: bool = False


@dataclass(frozen=True, eq=False)
class NeuronSpec:
    """Integer neuron parameters of one spiking layer; each neuron family subclasses it.

    The integer quantized ANN that a spiking layer is exact against computes, per neuron,
    M = clip(rhu(G·P, Θ), min_level, max_level) from the integer pre-activation P
    (neuron-models §1.5). The concrete families live in ``neurosim.schemes`` (one module per
    scheme), each answering the questions below for mapping, timing and energy; the defaults
    describe a binary-spike neuron with one update and no wait per step.
    """

    family: ClassVar[str] = ""
    threshold: np.ndarray
    """Θ per output channel (int64, membrane LSBs of P), > 0."""
    max_level: int
    """Largest output level M (spike count, encoded value or Σ levels)."""
    mem_bits: int = 32
    """Membrane width (bits); leaving it raises OverflowDetected."""

    @property
    def level_gain(self) -> int:
        """G in M = clip(rhu(G·P, Θ), min_level, max_level)."""
        raise NotImplementedError

    @property
    def num_steps(self) -> int:
        """Time-steps this layer runs per sample (output slots)."""
        raise NotImplementedError

    @property
    def min_level(self) -> int:
        """Smallest output level (0: the layer rectifies like the ANN's clipped ReLU)."""
        return 0

    @property
    def spike_bits(self) -> int:
        """Bits of one stored spike (1 binary, 2 ternary, ⌈log2(L+1)⌉ for L-level spikes)."""
        return 1

    @property
    def spike_levels(self) -> int:
        """Largest magnitude of one spike (1 for binary and ternary spikes)."""
        return 1

    @property
    def silent_shift_steps(self) -> int:
        """Shift-only steps the PE array's neuron unit adds per tile group (TSA: Ts)."""
        return 0

    @property
    def mixing_steps(self) -> int:
        """Currents mixed into each membrane update (LM-HT with a trained T-GIM: T)."""
        return 1

    @property
    def neuron_wait(self) -> tuple[int, str] | None:
        """(cycles, stall cause) the neuron hardware waits before each step's update (a
        hand-shake or refractory phase the family needs), or None: no wait."""
        return None

    def receives_levels(self, producer_steps: Sequence[int]) -> bool:
        """Whether the layer integrates its producers' whole-sample levels (MT-SNN average
        alignment, eq. 20) instead of their per-step spikes. ``producer_steps``: T of each
        spiking producer (the network input excluded)."""
        return False

    def step_schedule(self, producer_steps: Sequence[int]) -> StepSchedule:
        """This layer's time semantics on a multi-core chip (see ``StepSchedule``)."""
        return StepSchedule(self.num_steps, self.receives_levels(producer_steps))

    def dynamics(self) -> Dynamics:
        """The neuron as a leaky integrate-and-fire (``Dynamics``); by default a soft-reset
        IF starting at 0 that fires at equality."""
        return Dynamics()

    def run(self, ctx) -> None:
        """Simulate the layer's neurons over its steps through the functional pass's layer
        context (``neurosim.functional``): read its input current, scan, store, count."""
        raise NotImplementedError(f"neuron family {self.family!r} has no functional runner")
