"""What every hardware family declares: ``[meta]``, ``[clock]``, ``energy_table`` and the
``[datapath]`` widths, plus the family names and the schema version ``[meta]`` accepts.

Imports ``hw.fields`` only.
"""

from dataclasses import dataclass
from typing import Any

from neurosim.hw.fields import MAX_FREQUENCY_MHZ, MIN_FREQUENCY_MHZ, spec

FAMILY_NAMES = ("pe_array", "multicore")
"""Registry keys of the hardware families (``[meta].family``)."""

SCHEMA_VERSION = 1
"""The ``[meta].schema_version`` this neurosim reads."""


@dataclass(frozen=True, kw_only=True)
class Meta:
    """``[meta]``: what the file describes and where its numbers come from."""

    schema_version: int = spec(
        unit="",
        choices=(SCHEMA_VERSION,),
        doc="Version of the file format; this neurosim reads version 1.",
        source="neurosim file format",
        affects=(),
    )
    name: str = spec(
        unit="",
        doc="Short name of this hardware point, used in reports.",
        source="the file's author",
        affects=(),
    )
    family: str = spec(
        unit="",
        choices=FAMILY_NAMES,
        doc="Hardware family; selects the sections below and the mapping and timing models.",
        source="MT-SNN App. E: ANN-accelerator variants and multi-core chips",
        affects=(),
    )
    description: str = spec(
        unit="",
        doc="One or two sentences: what this point models and whether it reproduces a paper.",
        source="the file's author",
        affects=(),
    )
    sources: tuple[str, ...] = spec(
        unit="",
        doc="References for the numbers in the file (each number's comment says which applies).",
        source="the file's author",
        affects=(),
    )


@dataclass(frozen=True, kw_only=True)
class ClockConfig:
    """``[clock]``: the one clock every cycle count refers to."""

    frequency_mhz: float = spec(
        unit="MHz",
        minimum=MIN_FREQUENCY_MHZ,
        maximum=MAX_FREQUENCY_MHZ,
        doc="Clock frequency; converts cycles to seconds and DRAM GB/s to bytes per cycle.",
        source="per file: a data sheet or a stated modelling assumption",
        affects=("timing",),
    )


def _energy_table(affects: tuple[str, ...] = ("energy",)) -> Any:
    """The top-level ``energy_table`` key (a fresh Field per family class); a family whose
    timing can read the table's latencies declares ``timing`` too."""
    return spec(
        "horowitz_45nm",
        unit="",
        doc="Name or path of the energy table (a shipped name, or a .toml file).",
        source="Horowitz, ISSCC 2014, 45 nm, as quoted in MT-SNN Table 8",
        affects=affects,
    )


def _weight_bits(affects: tuple[str, ...]) -> Any:
    """The stored weight width, a field of both families' ``[datapath]``."""
    return spec(
        8,
        unit="bits",
        minimum=1,
        maximum=32,
        doc="Stored weight width (DRAM and SRAM traffic, synapse memory).",
        source="default: the quantised ANNs neurosim converts store int8 weights",
        affects=affects,
    )


def _membrane_bits(affects: tuple[str, ...]) -> Any:
    """The stored membrane width, a field of both families' ``[datapath]``."""
    return spec(
        32,
        unit="bits",
        minimum=8,
        maximum=63,
        doc="Stored membrane-potential width.",
        source="default: neurosim's integer membrane width, ir.NeuronSpec.mem_bits = 32",
        affects=affects,
    )
