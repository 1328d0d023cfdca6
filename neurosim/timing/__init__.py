"""SimPy timing models: ``simulate(mapping, trace, hw)`` → ``TimingResult``.

Imports ``mapping``, ``trace``, ``hw``, ``ir`` and ``errors``. ``FAMILIES`` is the registry.
"""

import dataclasses
from collections.abc import Callable, Mapping

import pandas as pd

from neurosim.errors import ConfigError
from neurosim.timing.activity import TraceStats
from neurosim.timing.multicore import simulate_multicore
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.result import TimingResult, summarise_intervals
from neurosim.timing.stages import INTERVAL_COLUMNS, STALL_CAUSES

FAMILIES: Mapping[str, Callable[..., TimingResult]] = {
    "pe_array": simulate_pe_array,
    "multicore": simulate_multicore,
}
"""Hardware family → SimPy simulator."""


ENGINES: Mapping[str, tuple[str, ...]] = {
    "pe_array": ("simpy", "maxplus"),
    "multicore": ("simpy",),
}
"""Hardware family → the ways its timing model can run (the first is the default)."""


def simulate(
    mapping,
    trace,
    hw,
    *,
    num_samples: int = 1,
    engine: str = "simpy",
    stats: TraceStats | None = None,
    keep_intervals: bool = True,
) -> TimingResult:
    """Time a stream of ``num_samples`` samples (sample k uses trace sample k mod batch).

    ``engine`` is one of ``ENGINES[hw.family]``: ``"simpy"`` (the SimPy processes) or, on a
    PE array, ``"maxplus"`` (the same pipeline as an exact recurrence; identical results);
    ``"fast"`` picks ``"maxplus"`` where the family has it and ``"simpy"`` otherwise.
    ``stats`` is a ``TraceStats`` of ``trace`` shared by many calls (used by the PE array).
    ``keep_intervals=False`` keeps summed cycles per stage, layer, sample, kind and cause
    (``TimingResult.totals``) instead of every interval: the same latency, stalls, traffic and
    per-stage/per-layer tables, no timeline (what a sweep needs, at a fraction of the memory).
    """
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    try:
        fn = FAMILIES[hw.family]
    except KeyError:
        raise ConfigError(
            f"unknown hardware family {hw.family!r}; allowed: {sorted(FAMILIES)}"
        ) from None
    engines = ENGINES[hw.family]
    if engine == "fast":
        engine = "maxplus" if "maxplus" in engines else "simpy"
    if engine not in engines:
        raise ConfigError(
            f"timing engine {engine!r} is not available for the {hw.family} "
            f"family; allowed: {[*engines, 'fast']}"
        )
    if hw.family == "pe_array":
        result = fn(
            mapping,
            trace,
            hw,
            num_samples=num_samples,
            engine=engine,
            stats=stats,
            keep_intervals=keep_intervals,
        )
    else:
        result = fn(mapping, trace, hw, num_samples=num_samples)
    if not keep_intervals and result.totals is None:
        result = dataclasses.replace(
            result,
            totals=summarise_intervals(result.intervals),
            intervals=pd.DataFrame(columns=list(INTERVAL_COLUMNS)),
        )
    return result


__all__ = ["ENGINES", "FAMILIES", "STALL_CAUSES", "TimingResult", "TraceStats", "simulate"]
