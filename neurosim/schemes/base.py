"""What a conversion scheme is: its options (declared once), its record and the helpers its
neuron runner shares with the functional pass.

Imports ``ir`` and ``errors``. A scheme module subclasses ``Scheme`` and ``Options`` and defines
its neuron family as an ``ir.NeuronSpec`` subclass; everything outside ``neurosim.schemes``
asks the record or the spec, never a scheme's name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field
from typing import Any, ClassVar

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError, OverflowDetected, UnsupportedError

THRESHOLD_LSBS = 2**16
"""Fractional bits are added to a layer only until its smallest threshold spans this many LSBs."""

INT_LIMIT = 2**62
"""Largest magnitude of an integer parameter a conversion produces (bias B, gains, Θ)."""


def exact_int64(values: Any, what: str) -> np.ndarray:
    """``round(values)`` as int64; OverflowDetected if one is not finite or beyond ±INT_LIMIT
    (a float outside the int64 range would otherwise become INT64_MIN)."""
    v = np.round(np.asarray(values, dtype=np.float64))
    bad = ~np.isfinite(v) | (np.abs(v) > INT_LIMIT)
    if np.any(bad):
        value = float(np.asarray(v)[bad].flat[0])
        raise OverflowDetected(
            f"{what} = {value:g} does not fit a 64-bit integer (limit ±2^62); the scales of "
            f"the model make this integer too large"
        )
    return v.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Options: one declaration per keyword (default, range, help, report label)
# --------------------------------------------------------------------------------------------


def option(
    default: Any,
    *,
    help: str,
    minimum: int | None = None,
    maximum: int | None = None,
    choices: tuple[Any, ...] | None = None,
    label: str | None = None,
    unset: str | None = None,
    cli: bool = True,
    check: Callable[[str, Any], Any] | None = None,
) -> Any:
    """Declare one conversion keyword of a scheme's ``Options`` dataclass.

    ``label`` is its short name in setting labels (``T``, ``Tc``), ``unset`` what a label says
    when the keyword is left at a None default (``T=learned``); ``cli=False`` keeps it off the
    command line (it stays settable from Python and sweep specs); ``check`` validates values
    the range and choices cannot express (it returns the value to use or raises ModelError).
    """
    meta: dict[str, Any] = {"help": help, "label": label, "unset": unset, "cli": cli}
    for key, value in (("min", minimum), ("max", maximum), ("choices", choices), ("check", check)):
        if value is not None:
            meta[key] = value
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class Options:
    """Keywords every scheme takes (integer membrane layout)."""

    frac_bits: int = option(
        8,
        minimum=0,
        maximum=24,
        help="most fractional bits f of the integer membranes; each layer takes the fewest "
        "that give its smallest threshold 2^16 LSBs",
    )
    mem_bits: int = option(
        32, minimum=8, maximum=60, help="membrane width in bits (overflow is raised, never wrapped)"
    )

    @classmethod
    def declared(cls) -> tuple[dataclasses.Field, ...]:
        """The declared keywords, in declaration order."""
        return dataclasses.fields(cls)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def parse(cls, scheme: str, values: Mapping[str, Any]) -> Options:
        """Validated options from keywords; ModelError names the keyword and what is allowed."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise ModelError(
                    f"scheme {scheme!r} has no option {key!r}; allowed: {', '.join(known)}"
                )
        kwargs = {k: _checked(known[k], v) for k, v in values.items()}
        return cls(**kwargs)

    def given(self) -> dict[str, Any]:
        """Every keyword and its value."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _checked(f: dataclasses.Field, value: Any) -> Any:
    meta = f.metadata
    if "check" in meta:
        return meta["check"](f.name, value)
    if "choices" in meta:
        if value not in meta["choices"] or isinstance(value, bool) != isinstance(
            meta["choices"][0], bool
        ):
            raise ModelError(f"{f.name} must be one of {list(meta['choices'])}, got {value!r}")
        return value
    if isinstance(f.default, bool):
        if not isinstance(value, bool):
            raise ModelError(f"{f.name} must be true or false, got {value!r}")
        return value
    if isinstance(f.default, int):
        return check_int(f.name, value, meta.get("min"), meta.get("max"))
    return value


def check_int(name: str, value: Any, lo: int | None, hi: int | None) -> int:
    """``value`` if it is an integer in [lo, hi] (either bound may be None), else ModelError."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if ok and (lo is None or value >= lo) and (hi is None or value <= hi):
        return int(value)
    if lo is not None and hi is not None:
        allowed = f"an integer in [{lo}, {hi}]"
    elif lo is not None:
        allowed = f"an integer >= {lo}"
    else:
        allowed = "an integer"
    raise ModelError(f"{name} must be {allowed}, got {value!r}")


# --------------------------------------------------------------------------------------------
# Input encoding and the conversion context
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InputEncoding:
    """How a scheme turns the input codes into spikes (absent: direct coding, the analog codes
    drive the first layer once per sample)."""

    steps: int
    """Slots the input is encoded into."""
    spike_bits: int
    """Stored bits of one input spike (1 binary, 2 ternary)."""
    encode: Callable[[np.ndarray], np.ndarray]
    """int64 codes [batch, *shape] → int8 spikes [steps, batch, *shape]."""


@dataclass(frozen=True, eq=False)
class NeuronBuild:
    """What a scheme's ``make_neuron`` gets for one spiking layer of the quantized ANN."""

    layer: str
    act: ir.ActQuant
    sigma_p: np.ndarray
    """Real value of one LSB of the layer's pre-activation P, per output channel."""
    options: Options
    network: ir.Network
    mem_bits: int

    def threshold(self, theta: float) -> np.ndarray:
        """Integer thresholds Θ[c] = round(θ / σ_P[c]) (neuron-models §1.5); ModelError if one
        rounds to 0."""
        th = exact_int64(theta / self.sigma_p, f"layer '{self.layer}': integer threshold Θ")
        if np.any(th < 1):
            raise ModelError(
                f"layer '{self.layer}': integer threshold rounds to 0 (θ={theta:g}); raise "
                f"frac_bits (now {self.options.frac_bits})"
            )
        return th


# --------------------------------------------------------------------------------------------
# The scheme record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Scheme:
    """One conversion scheme: a quantized ANN → integer SNN recipe and its neuron family.

    Subclasses override the hooks that differ from these defaults (direct-coded input, no
    skip-path delays, readout of the output layer's whole-sample current, T̄ = mean T^l).
    """

    name: str
    """Registry key (lower-case; the value of ``Network.scheme``)."""
    spec: type[ir.NeuronSpec]
    """The neuron family its spiking layers use."""
    options: type[Options]
    """Its keywords: the single source for ``convert``, the CLI, sweep specs and labels."""
    description: str
    """One line for help texts and reports."""
    table_settings: tuple[Mapping[str, Any], ...] = ()
    """The option sets ``neurosim table`` compares for this scheme, in row order."""
    family_kind: ClassVar[str] = ""

    # -- conversion --------------------------------------------------------------------------
    def theta(self, act: ir.ActQuant, opts: Options) -> float:
        """Real threshold of one neuron of a layer with activation ``act``."""
        raise NotImplementedError

    def make_neuron(self, build: NeuronBuild) -> tuple[ir.NeuronSpec, float]:
        """The neuron spec of one layer and σ, the real value of one unit of its output level."""
        raise NotImplementedError

    def check(self, network: ir.Network, opts: Options) -> None:
        """Reject a network the scheme cannot convert with these options (ModelError)."""

    def add_delays(self, depths: Sequence[int], opts: Options) -> tuple[int, ...]:
        """Delay per input of a residual Add, in global steps, from the number of spiking
        layers on each input's path (none by default)."""
        return ()

    def meta(self, network: ir.Network, opts: Options) -> dict[str, Any]:
        """Facts stored in the converted network's ``meta`` besides ``frac_bits``/``mem_bits``."""
        return {}

    # -- running -----------------------------------------------------------------------------
    def input_encoding(self, meta: Mapping[str, Any]) -> InputEncoding | None:
        """How the input codes become spikes (None: direct coding)."""
        return None

    def readout(self, ctx) -> np.ndarray:
        """Integer logits of the (non-spiking) output layer: its current from the inputs'
        whole-sample levels, which equal the time-average of the per-step outputs."""
        return ctx.current("const")[0]

    def spikes_like(self, network: ir.Network) -> ir.Network | None:
        """A network of another scheme that this one fires spike for spike like, with the same
        op counts, readout and input encoding (its trace is this one's, relabelled: the
        functional pass of one serves both), or None (by default: none)."""
        return None

    # -- reports -----------------------------------------------------------------------------
    def with_steps(self, network: ir.Network, steps: int) -> ir.Network:
        """The same network run for ``steps`` time-steps (a network whose T follows its spike
        inputs); by default a scheme fixes T at conversion."""
        raise UnsupportedError(
            f"scheme {self.name!r} fixes its time-steps at conversion; convert again for T = "
            f"{steps}"
        )

    def mean_time_steps(self, network: ir.Network) -> float:
        """Latency in time-steps: MT-SNN T̄ = Σ_l T^l / L over the spiking layers."""
        neurons = network.neurons()
        return float(np.mean([n.num_steps for n in neurons])) if neurons else 0.0

    def opf(self, trace, network: ir.Network) -> tuple[float, float] | None:
        """(operations per frame, the encoder's share) where the scheme defines them (SWS eq.
        10), else None."""
        return None

    def label(self, options: Mapping[str, Any]) -> str:
        """Readable name of a setting, e.g. ``sws Tc=8 Ts=2`` or ``mtif T=learned``."""
        parts = []
        for f in self.options.declared():
            label = f.metadata.get("label") or f.name
            if f.name in options:
                parts.append(f"{label}={options[f.name]}")
            elif f.default is None and f.metadata.get("unset"):
                parts.append(f"{label}={f.metadata['unset']}")
        for key, value in options.items():
            if key not in self.options.names():
                parts.append(f"{key}={value}")
        return " ".join([self.name, *parts])

    def parse_options(self, values: Mapping[str, Any]) -> Options:
        opts = self.options.parse(self.name, values)
        return opts


# --------------------------------------------------------------------------------------------
# Helpers shared by the neuron runners and the functional pass
# --------------------------------------------------------------------------------------------


def per_neuron(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Expand a per-channel vector to one value per neuron of a (C, ...) layer (C-order)."""
    per = math.prod(shape[1:]) if len(shape) > 1 else 1
    return np.repeat(np.broadcast_to(np.asarray(values, np.int64), (shape[0],)), per)


def per_channel(values: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """(int64 [C] values, neurons per channel) of a per-channel vector (or scalar) on a
    (C, ...) layer: what a scan expands itself instead of taking ``per_neuron``'s copy."""
    per = math.prod(shape[1:]) if len(shape) > 1 else 1
    vec = np.ascontiguousarray(np.broadcast_to(np.asarray(values, np.int64), (shape[0],)))
    return vec, per


def channel_view(vec: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a per-channel vector to broadcast over [S, B, C, ...] of ``ndim`` dims."""
    return np.asarray(vec).reshape((1, 1, -1) + (1,) * (ndim - 3))


def scaled_steps(spikes: np.ndarray, t: int, peak: int | None = None) -> np.ndarray:
    """Steps form T·s of binary or level spikes, in the narrowest dtype that holds it (``peak``:
    max s when the caller knows it, which saves a pass); one multiply, no widened copy."""
    peak = int(spikes.max(initial=0)) if peak is None else peak
    dtype = np.int16 if t * max(peak, 1) < 2**15 else np.int64
    return np.multiply(spikes, dtype(t), dtype=dtype)


def fields_with(cls: type, key: str) -> dict[str, Any]:
    """``{name: metadata[key]}`` of the dataclass fields of ``cls`` that declare ``key``."""
    return {f.name: f.metadata[key] for f in dataclasses.fields(cls) if key in f.metadata}


__all__ = [
    "INT_LIMIT",
    "MISSING",
    "THRESHOLD_LSBS",
    "InputEncoding",
    "NeuronBuild",
    "Options",
    "Scheme",
    "channel_view",
    "check_int",
    "exact_int64",
    "fields_with",
    "option",
    "per_channel",
    "per_neuron",
    "scaled_steps",
]
