"""The multi-core neuromorphic chip family (TrueNorth/Loihi-like, MT-SNN Fig. 7): its record.

Imports ``hw``, ``mapping.multicore`` and ``timing.multicore``.
"""

from __future__ import annotations

from typing import Any

from neurosim import hw
from neurosim.families.base import HardwareFamily
from neurosim.mapping.multicore import MulticoreMapping, compile_multicore
from neurosim.timing.multicore import simulate_multicore
from neurosim.timing.result import TimingResult


def _simulate(
    mapping: MulticoreMapping,
    trace: Any,
    config: hw.MulticoreConfig,
    *,
    num_samples: int = 1,
    engine: str = "simpy",
    stats: Any = None,
    keep_intervals: bool = True,
) -> TimingResult:
    """The SimPy pipeline (its only engine; it needs no trace statistics memo)."""
    return simulate_multicore(
        mapping, trace, config, num_samples=num_samples, keep_intervals=keep_intervals
    )


def _mapping_utilisation(mapping: MulticoreMapping) -> float:
    """Neurons / (cores used × neurons per core)."""
    capacity = sum(p.num_cores for p in mapping.layers) * mapping.neurons_per_core
    return sum(p.num_neurons for p in mapping.layers) / capacity


MULTICORE = HardwareFamily(
    name="multicore",
    config=hw.MulticoreConfig,
    compile=compile_multicore,
    simulate=_simulate,
    engines=("simpy",),
    fast_engine="simpy",
    compute_stages=lambda mapping: [p.name for p in mapping.layers],
    compute_units=lambda mapping: len(mapping.layers),
    mapping_utilisation=_mapping_utilisation,
    sram_class_bytes=lambda config: int(config.core.synapse_bytes_per_core),
    static_units=lambda config: int(config.num_cores),
)
"""Every layer resident on its cores; each layer's cores are one compute unit."""
