"""SimPy timing models: ``simulate(mapping, trace, hw)`` → ``TimingResult``.

Imports ``mapping``, ``trace``, ``hw``, ``ir`` and ``errors``. ``FAMILIES`` is the registry.
"""

from collections.abc import Callable, Mapping

from neurosim.errors import ConfigError
from neurosim.timing.activity import TraceStats
from neurosim.timing.multicore import simulate_multicore
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.result import TimingResult
from neurosim.timing.stages import STALL_CAUSES

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


def simulate(mapping, trace, hw, *, num_samples: int = 1, engine: str = "simpy",
             stats: TraceStats | None = None) -> TimingResult:
    """Time a stream of ``num_samples`` samples (sample k uses trace sample k mod batch).

    ``engine`` is one of ``ENGINES[hw.family]``: ``"simpy"`` (the SimPy processes) or, on a
    PE array, ``"maxplus"`` (the same pipeline as an exact recurrence; identical results);
    ``"fast"`` picks ``"maxplus"`` where the family has it and ``"simpy"`` otherwise.
    ``stats`` is a ``TraceStats`` of ``trace`` shared by many calls (used by the PE array).
    """
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    try:
        fn = FAMILIES[hw.family]
    except KeyError:
        raise ConfigError(f"unknown hardware family {hw.family!r}; allowed: "
                          f"{sorted(FAMILIES)}") from None
    engines = ENGINES[hw.family]
    if engine == "fast":
        engine = "maxplus" if "maxplus" in engines else "simpy"
    if engine not in engines:
        raise ConfigError(f"timing engine {engine!r} is not available for the {hw.family} "
                          f"family; allowed: {[*engines, 'fast']}")
    if hw.family == "pe_array":
        return fn(mapping, trace, hw, num_samples=num_samples, engine=engine, stats=stats)
    return fn(mapping, trace, hw, num_samples=num_samples)


__all__ = ["ENGINES", "FAMILIES", "STALL_CAUSES", "TimingResult", "TraceStats", "simulate"]
