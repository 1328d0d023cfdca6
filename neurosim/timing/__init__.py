"""SimPy timing models: ``simulate(mapping, trace, hw)`` → ``TimingResult``.

Imports ``mapping``, ``trace``, ``hw``, ``ir`` and ``errors``. ``FAMILIES`` is the registry.
"""

from collections.abc import Callable, Mapping

from neurosim.errors import ConfigError
from neurosim.timing.multicore import simulate_multicore
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.result import TimingResult
from neurosim.timing.stages import STALL_CAUSES

FAMILIES: Mapping[str, Callable[..., TimingResult]] = {
    "pe_array": simulate_pe_array,
    "multicore": simulate_multicore,
}
"""Hardware family → SimPy simulator."""


def simulate(mapping, trace, hw, *, num_samples: int = 1) -> TimingResult:
    """Time a stream of ``num_samples`` samples (sample k uses trace sample k mod batch)."""
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    try:
        fn = FAMILIES[hw.family]
    except KeyError:
        raise ConfigError(f"unknown hardware family {hw.family!r}; allowed: "
                          f"{sorted(FAMILIES)}") from None
    return fn(mapping, trace, hw, num_samples=num_samples)


__all__ = ["FAMILIES", "STALL_CAUSES", "TimingResult", "simulate"]
