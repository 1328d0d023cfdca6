"""What a hardware family is: its record and the registry of records.

Imports ``ir``, ``hw``, ``timing``, ``registry`` and ``errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from neurosim import hw, ir, registry
from neurosim.errors import ConfigError
from neurosim.timing.result import TimingResult


@dataclass(frozen=True, eq=False)
class HardwareFamily:
    """Everything neurosim knows about one hardware family, in one place."""

    name: str
    """Registry key, the value of ``[meta].family``."""
    config: type
    """The frozen config dataclass its TOML files load into (``hw.FAMILIES[name]``)."""
    compile: Callable[[ir.Network, Any], Any]
    """``compile(network, config) -> mapping``; MappingError when the network does not fit."""
    simulate: Callable[..., TimingResult]
    """``simulate(mapping, trace, config, *, num_samples, engine, stats, keep_intervals)``."""
    engines: tuple[str, ...]
    """Ways its timing model runs; the first is the default."""
    fast_engine: str
    """The engine ``engine="fast"`` picks (the quickest one giving the same numbers)."""
    compute_stages: Callable[[Any], list[str]]
    """Names of the stages whose busy cycles are computation, from a mapping."""
    compute_units: Callable[[Any], int]
    """Units those stages run on side by side (utilisation = compute cycles / (units ×
    makespan))."""
    mapping_utilisation: Callable[[Any], float]
    """Share of the mapped hardware the network uses (its own definition, in the docs)."""
    sram_class_bytes: Callable[[Any], int]
    """Bytes of the on-chip memory whose size class prices every SRAM byte (energy)."""
    static_units: Callable[[Any], int]
    """Units that draw the energy table's static power per core."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Short sweep-axis names and the config field each stands for."""

    def reuse_key(self, config: Any, effect: str) -> tuple:
        """``hw.reuse_key``: equal for configs whose fields declaring ``effect`` agree."""
        return hw.reuse_key(config, effect)


class Registry(registry.Registry[HardwareFamily]):
    """Family name → record; a duplicate is rejected, an unknown name lists the known ones."""

    def __init__(self, records: tuple[HardwareFamily, ...]) -> None:
        super().__init__(records, key=_name, what="hardware family", error=ConfigError)

    def check(self, record: HardwareFamily) -> None:
        """A family's config class is the one the hardware loader reads its files into."""
        if hw.FAMILIES.get(record.name) is not record.config:
            raise ValueError(
                f"hardware family {record.name!r}: its config class must be "
                f"hw.FAMILIES[{record.name!r}] (the loader reads files into it)"
            )


def _name(record: HardwareFamily) -> str:
    return record.name
