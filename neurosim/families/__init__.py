"""The hardware-family registry: one record per family ties its config class, its compiler, its
timing model and what reports and the energy model ask of it.

Imports ``ir``, ``trace``, ``hw``, ``mapping``, ``timing``, ``registry`` and ``errors``;
downstream modules (energy, experiment, sweep, cli) look a family up here instead of branching
on its name. The reuse keys of a family (which points may share a mapping, trace statistics or
energy rows) are derived from its config fields' declared effects (``hw.reuse_key``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from neurosim import ir
from neurosim.errors import ConfigError
from neurosim.families.base import HardwareFamily, Registry
from neurosim.families.multicore import MULTICORE
from neurosim.families.pe_array import PE_ARRAY
from neurosim.timing.result import TimingResult, summarise_intervals
from neurosim.timing.stages import no_intervals
from neurosim.trace import Trace

REGISTRY = Registry((PE_ARRAY, MULTICORE))
"""The hardware families neurosim ships."""


def get(name: str) -> HardwareFamily:
    """The record of hardware family ``name`` (ConfigError lists the known ones)."""
    return REGISTRY.get(name)


def names() -> tuple[str, ...]:
    return REGISTRY.names()


def of(config: Any) -> HardwareFamily:
    """The record of a config's family."""
    return get(getattr(config, "family", None))


def registered(record: HardwareFamily) -> contextlib.AbstractContextManager[HardwareFamily]:
    """Register ``record`` for the duration of a ``with`` block."""
    return REGISTRY.registered(record)


def compile(network: ir.Network, config: Any) -> Any:
    """Map ``network`` (a converted SNN) onto ``config``; MappingError if it does not fit."""
    return of(config).compile(network, config)


def resolve_engine(config: Any, engine: str) -> str:
    """The timing engine ``engine`` names for ``config``'s family (``"fast"``: the family's
    ``fast_engine``); ConfigError if the family has no such engine."""
    family = of(config)
    if engine == "fast":
        engine = family.fast_engine
    if engine not in family.engines:
        raise ConfigError(
            f"timing engine {engine!r} is not available for the {family.name} family; "
            f"allowed: {[*family.engines, 'fast']}"
        )
    return engine


def simulate(
    mapping: Any,
    trace: Trace,
    config: Any,
    *,
    num_samples: int = 1,
    engine: str = "simpy",
    stats: Any = None,
    keep_intervals: bool = True,
) -> TimingResult:
    """Time a stream of ``num_samples`` samples (sample k uses trace sample k mod batch).

    ``engine`` is one of the family's ``engines`` (``"simpy"``: the SimPy processes; on a PE
    array also ``"maxplus"``, the same pipeline as an exact recurrence) or ``"fast"`` (the
    family's ``fast_engine``). ``stats`` is a ``timing.TraceStats`` of ``trace`` shared by many
    calls. ``keep_intervals=False`` keeps summed cycles per stage, layer, sample, kind and
    cause (``TimingResult.totals``) instead of every interval: the same latency, stalls,
    traffic and per-stage/per-layer tables, no timeline (what a sweep needs).
    """
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    family = of(config)
    engine = resolve_engine(config, engine)
    result = family.simulate(
        mapping,
        trace,
        config,
        num_samples=num_samples,
        engine=engine,
        stats=stats,
        keep_intervals=keep_intervals,
    )
    if not keep_intervals and not result.has_totals:
        result = dataclasses.replace(
            result,
            totals=summarise_intervals(result.intervals),
            intervals=no_intervals(),
        )
    return result


__all__ = [
    "REGISTRY",
    "HardwareFamily",
    "Registry",
    "compile",
    "get",
    "names",
    "of",
    "registered",
    "resolve_engine",
    "simulate",
]
