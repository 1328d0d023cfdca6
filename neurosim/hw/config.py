"""Hardware descriptions: one frozen dataclass per TOML section, for each hardware family.

Every field is declared once, here, with its unit, allowed range, description and source in the
field metadata; ``neurosim.hw.load`` validates against that metadata and ``config_reference``
prints it. Imports only the standard library.
"""

import dataclasses
import functools
import math
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any, ClassVar

FAMILY_NAMES = ("pe_array", "multicore")
"""Registry keys of the hardware families (``[meta].family``)."""

SCHEMA_VERSION = 1
"""The ``[meta].schema_version`` this neurosim reads."""

EFFECTS = ("mapping", "activity", "energy", "timing")
"""What a field's value can change, each the key of one kind of reuse (``reuse_key``):

- ``mapping``: the family's compile (tiles, reuse, core placement): a sweep reuses a mapping
  while no such field changes;
- ``activity``: the trace statistics the timing model memoises (PE cycles per tile);
- ``energy``: the timing-independent part of the energy estimate (op and ANN-baseline rows,
  the SRAM/DRAM energy per byte), memoised per setting;
- ``timing``: the timing simulation and what follows it each point (traffic, static energy).

A field lists every effect it has; a field with none (``[meta]``) only names the point."""


def spec(
    default: Any = MISSING,
    *,
    unit: str,
    doc: str,
    source: str,
    minimum: float | None = None,
    maximum: float | None = None,
    greater_than: float | None = None,
    choices: tuple[Any, ...] | None = None,
    affects: tuple[str, ...],
) -> Any:
    """Declare one leaf field: default (MISSING = required), unit, range, description, source
    and what its value affects (``EFFECTS``; every reuse key is derived from these)."""
    unknown = set(affects) - set(EFFECTS)
    if unknown:
        raise ValueError(f"unknown effects {sorted(unknown)}; allowed: {EFFECTS}")
    metadata: dict[str, Any] = {"unit": unit, "doc": doc, "source": source, "affects": affects}
    for key, value in (("min", minimum), ("max", maximum), ("gt", greater_than)):
        if value is not None:
            metadata[key] = value
    if choices is not None:
        metadata["choices"] = choices
    return field(default=default, metadata=metadata)


def section(doc: str) -> dict[str, Any]:
    """Metadata marking a field as a TOML table (``field(metadata=section(...))``)."""
    return {"section": True, "doc": doc}


def _source_path() -> Any:
    """The file a config came from, for messages; not a TOML key and not part of equality."""
    return field(default="", compare=False, repr=False, metadata={"internal": True})


# --------------------------------------------------------------------------------------------
# Sections shared by both families
# --------------------------------------------------------------------------------------------


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
        greater_than=0,
        doc="Clock frequency; converts cycles to seconds and DRAM GB/s to bytes per cycle.",
        source="per file: a data sheet or a stated modelling assumption",
        affects=("timing",),
    )


def _energy_table() -> Any:
    """The top-level ``energy_table`` key (a fresh Field per family class)."""
    return spec(
        "horowitz_45nm",
        unit="",
        doc="Name of the energy table used by the energy model (stored here, loaded later).",
        source="Horowitz, ISSCC 2014, 45 nm, as quoted in MT-SNN Table 8",
        affects=("energy",),
    )


# --------------------------------------------------------------------------------------------
# PE-array accelerator (MT-SNN appendix E, Algorithm 2)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PEConfig:
    """``[pe]``: the PE array's unroll factors and zero-skipping granularity (MT-SNN Alg. 2)."""

    unroll_out_channels: int = spec(
        unit="channels",
        minimum=1,
        doc="M: output channels of one tile (a tile is M channels x 1 row x N columns x S steps).",
        source="MT-SNN App. E, Alg. 2 (loop 'o')",
        affects=("mapping",),
    )
    unroll_out_columns: int = spec(
        unit="columns",
        minimum=1,
        doc="N: output columns of one tile.",
        source="MT-SNN App. E, Alg. 2 (loop 'w')",
        affects=("mapping", "activity"),
    )
    unroll_steps: int = spec(
        unit="steps",
        minimum=1,
        doc="S: time-steps of one tile.",
        source="MT-SNN App. E, Alg. 2 (loop 't')",
        affects=("mapping", "activity"),
    )
    unroll_in_channels: int = spec(
        unit="channels",
        minimum=1,
        doc="V: input channels reduced per PE cycle (one reduction step feeds V x N x S inputs).",
        source="MT-SNN App. E, Alg. 2 (loop 'i')",
        affects=("mapping", "activity"),
    )
    zero_skipping: str = spec(
        "none",
        unit="",
        choices=("none", "group", "event"),
        doc=(
            "Skipped work: none = dense loop nest; group = reduction steps whose V x N x S input "
            "slice is all zero; event = non-zero input events only, events_per_cycle per cycle."
        ),
        source="default: dense, as MT-SNN Alg. 2 is written",
        affects=("activity",),
    )
    events_per_cycle: int = spec(
        1,
        unit="events/cycle",
        minimum=1,
        doc="Input events the array consumes per cycle with zero_skipping = event.",
        source="default: one event per cycle, the most conservative event-driven array",
        affects=("activity",),
    )
    multilevel: str = spec(
        "repeat",
        unit="",
        choices=("repeat", "multiply"),
        doc=(
            "LM-HT level-k spike: repeat = k accumulate cycles; multiply = one cycle on a "
            "low-bit multiplier."
        ),
        source="default: repeat keeps every PE a plain accumulator, no multiplier",
        affects=("activity", "energy"),
    )


@dataclass(frozen=True, kw_only=True)
class NeuronUnitConfig:
    """``[neuron_unit]``: the neuron-update stage after each tile's reduction."""

    updates_per_cycle: int = spec(
        unit="updates/cycle",
        minimum=1,
        doc="Neuron-update lanes: a tile's M x N x S updates take ceil(M*N*S / lanes) cycles.",
        source="per file",
        affects=("timing",),
    )
    overlap_with_pe: bool = spec(
        False,
        unit="",
        doc="A partial-sum buffer lets neuron updates of tile i overlap the reduction of tile i+1.",
        source="default: no partial-sum buffer, the conservative case",
        affects=("timing",),
    )


@dataclass(frozen=True, kw_only=True)
class BufferConfig:
    """``[buffers]``: on-chip SRAM sizes and the capacities of the bounded stage queues."""

    weight_bytes: int = spec(
        unit="bytes",
        minimum=1,
        doc="Weight SRAM; must hold at least one weight tile (M x V x 1 x 1 weights).",
        source="per file",
        affects=("mapping", "energy"),
    )
    spike_bytes: int = spec(
        unit="bytes",
        minimum=1,
        doc="Input-spike SRAM; must hold at least one input slice (N x S x V spikes at 1 bit).",
        source="per file",
        affects=("mapping", "energy"),
    )
    membrane_bytes: int = spec(
        unit="bytes",
        minimum=1,
        doc="Membrane SRAM; must hold one tile's M x N membranes at membrane_bits.",
        source="per file",
        affects=("energy",),
    )
    load_queue_tiles: int = spec(
        2,
        unit="tiles",
        minimum=1,
        doc="Capacity of the buffer between DRAM load and the PE array.",
        source="default: double buffering",
        affects=("timing",),
    )
    pe_queue_tiles: int = spec(
        2,
        unit="tiles",
        minimum=1,
        doc="Capacity of the buffer between the PE array and the neuron unit.",
        source="default: double buffering",
        affects=("timing",),
    )
    writeback_queue_tiles: int = spec(
        2,
        unit="tiles",
        minimum=1,
        doc="Capacity of the buffer between the neuron unit and DRAM write-back.",
        source="default: double buffering",
        affects=("timing",),
    )


@dataclass(frozen=True, kw_only=True)
class DramConfig:
    """``[dram]``: off-chip memory seen by the load and write-back stages."""

    bandwidth_gbps: float = spec(
        unit="GB/s",
        greater_than=0,
        doc="Sustained DRAM bandwidth in 1e9 bytes per second.",
        source="per file",
        affects=("timing",),
    )
    latency_cycles: int = spec(
        unit="cycles",
        minimum=0,
        doc="Latency added once per burst (one burst per tile load or write-back).",
        source="per file",
        affects=("timing",),
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


@dataclass(frozen=True, kw_only=True)
class DatapathConfig:
    """``[datapath]`` of a PE array: data widths and the format of spikes in memory."""

    weight_bits: int = _weight_bits(("mapping", "energy"))
    membrane_bits: int = _membrane_bits(("mapping", "energy"))

    spike_format: str = spec(
        "bitmap",
        unit="",
        choices=("bitmap", "event_list"),
        doc="Spikes in memory: bitmap = bits per position; event_list = one address per spike.",
        source="default: bitmap, the dense layout of Alg. 2's input tensor",
        affects=("mapping",),
    )
    event_address_bits: int = spec(
        16,
        unit="bits",
        minimum=1,
        maximum=64,
        doc="Bits per event in an event list (used with spike_format = event_list).",
        source="default: 16 bits address 65,536 positions of one input row band",
        affects=("mapping",),
    )


def _weight_tile(cfg: "PEArrayConfig") -> str | None:
    pe, bits, have = cfg.pe, cfg.datapath.weight_bits, cfg.buffers.weight_bytes
    m, v = pe.unroll_out_channels, pe.unroll_in_channels
    need = math.ceil(m * v * bits / 8)
    if have >= need:
        return None
    return (
        f"= {have} is smaller than one weight tile: M·V·K_h·K_w·weight_bits/8 = "
        f"{m}·{v}·1·1·{bits}/8 = {need} bytes (1x1 kernel, the smallest); "
        f"allowed: integer >= {need}"
    )


def _spike_slice(cfg: "PEArrayConfig") -> str | None:
    pe, have = cfg.pe, cfg.buffers.spike_bytes
    n, s, v = pe.unroll_out_columns, pe.unroll_steps, pe.unroll_in_channels
    need = math.ceil(n * s * v / 8)
    if have >= need:
        return None
    return (
        f"= {have} is smaller than one input slice: N·S·V/8 = {n}·{s}·{v}/8 -> {need} bytes "
        f"(1 bit per spike); allowed: integer >= {need}"
    )


def _membrane_tile(cfg: "PEArrayConfig") -> str | None:
    pe, bits, have = cfg.pe, cfg.datapath.membrane_bits, cfg.buffers.membrane_bytes
    m, n = pe.unroll_out_channels, pe.unroll_out_columns
    need = math.ceil(m * n * bits / 8)
    if have >= need:
        return None
    return (
        f"= {have} is smaller than one tile's membranes: M·N·membrane_bits/8 = "
        f"{m}·{n}·{bits}/8 = {need} bytes; allowed: integer >= {need}"
    )


@dataclass(frozen=True)
class CrossCheck:
    """A rule over several fields: ``check`` returns the problem text for ``path`` or None.

    It runs only when every field in ``reads`` passed its own checks.
    """

    path: str
    reads: tuple[str, ...]
    rule: str
    check: Callable[[Any], str | None]


@dataclass(frozen=True, kw_only=True)
class PEArrayConfig:
    """A layer-by-layer PE-array accelerator running MT-SNN Algorithm 2 (appendix E)."""

    FAMILY: ClassVar[str] = "pe_array"
    CROSS_CHECKS: ClassVar[tuple[CrossCheck, ...]] = (
        CrossCheck(
            "buffers.weight_bytes",
            (
                "pe.unroll_out_channels",
                "pe.unroll_in_channels",
                "datapath.weight_bits",
                "buffers.weight_bytes",
            ),
            "weight_bytes >= ceil(M·V·weight_bits/8): one weight tile of a 1x1 kernel",
            _weight_tile,
        ),
        CrossCheck(
            "buffers.spike_bytes",
            (
                "pe.unroll_out_columns",
                "pe.unroll_steps",
                "pe.unroll_in_channels",
                "buffers.spike_bytes",
            ),
            "spike_bytes >= ceil(N·S·V/8): one input slice at 1 bit per spike",
            _spike_slice,
        ),
        CrossCheck(
            "buffers.membrane_bytes",
            (
                "pe.unroll_out_channels",
                "pe.unroll_out_columns",
                "datapath.membrane_bits",
                "buffers.membrane_bytes",
            ),
            "membrane_bytes >= ceil(M·N·membrane_bits/8): one tile's membranes",
            _membrane_tile,
        ),
    )

    meta: Meta = field(metadata=section("File identity and provenance."))
    energy_table: str = _energy_table()
    clock: ClockConfig = field(metadata=section("Clock."))
    pe: PEConfig = field(metadata=section("PE array."))
    neuron_unit: NeuronUnitConfig = field(metadata=section("Neuron-update unit."))
    buffers: BufferConfig = field(metadata=section("On-chip buffers and stage queues."))
    dram: DramConfig = field(metadata=section("Off-chip DRAM."))
    datapath: DatapathConfig = field(
        default_factory=DatapathConfig, metadata=section("Data widths.")
    )
    source_path: str = _source_path()

    @property
    def family(self) -> str:
        """Registry key of this family, ``"pe_array"``."""
        return self.FAMILY

    @property
    def dram_bytes_per_cycle(self) -> float:
        """DRAM bytes per clock cycle: bandwidth_gbps·1e9 / (frequency_mhz·1e6)."""
        return self.dram.bandwidth_gbps * 1e9 / (self.clock.frequency_mhz * 1e6)


# --------------------------------------------------------------------------------------------
# Multi-core neuromorphic chip (TrueNorth/Loihi-like, MT-SNN Fig. 7)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MeshConfig:
    """``[mesh]``: cores on a 2-D mesh network-on-chip."""

    width: int = spec(
        unit="cores", minimum=1, doc="Cores per mesh row.", source="per file", affects=("mapping",)
    )
    height: int = spec(
        unit="cores",
        minimum=1,
        doc="Cores per mesh column.",
        source="per file",
        affects=("mapping",),
    )


@dataclass(frozen=True, kw_only=True)
class CoreConfig:
    """``[core]``: capacity and throughput of one neuromorphic core."""

    neurons_per_core: int = spec(
        unit="neurons",
        minimum=1,
        doc="Neurons one core holds; a layer is split over ceil(neurons / this) cores.",
        source="per file",
        affects=("mapping",),
    )
    synapse_bytes_per_core: int = spec(
        unit="bytes",
        minimum=1,
        doc="Synapse (weight) memory of one core.",
        source="per file",
        affects=("mapping", "energy"),
    )
    synops_per_cycle: int = spec(
        unit="synops/cycle",
        minimum=1,
        doc="Synaptic operations (weight accumulations) one core performs per cycle.",
        source="per file",
        affects=("timing",),
    )
    neuron_updates_per_cycle: int = spec(
        unit="updates/cycle",
        minimum=1,
        doc="Neuron updates one core performs per cycle.",
        source="per file",
        affects=("timing",),
    )
    input_buffer_samples: int = spec(
        2,
        unit="samples",
        minimum=1,
        doc="Samples a layer may queue ahead of the next (bounded buffer between layers).",
        source="default: double buffering",
        affects=("timing",),
    )


@dataclass(frozen=True, kw_only=True)
class NocConfig:
    """``[noc]``: the mesh network that carries spike events between cores."""

    link_bits_per_cycle: int = spec(
        unit="bits/cycle",
        minimum=1,
        doc="Bits one link carries per cycle; a bundle holds a link ceil(bits / this) cycles.",
        source="per file",
        affects=("timing",),
    )
    hop_latency_cycles: int = spec(
        unit="cycles",
        minimum=0,
        doc="Router plus link latency added per hop.",
        source="per file",
        affects=("timing",),
    )
    event_bits: int = spec(
        unit="bits",
        minimum=1,
        maximum=64,
        doc="Bits per spike event on the NoC: address plus sign/level bits.",
        source="per file",
        affects=("timing",),
    )
    routing: str = spec(
        "xy",
        unit="",
        choices=("xy",),
        doc="Routing: xy = dimension-ordered, hops = Manhattan distance.",
        source="default: dimension-ordered routing, the usual choice on a 2-D mesh",
        affects=("timing",),
    )


@dataclass(frozen=True, kw_only=True)
class SyncConfig:
    """``[sync]``: global time-step synchronisation."""

    barrier_cycles: int = spec(
        0,
        unit="cycles",
        minimum=0,
        doc="Cost of the global barrier that ends each time-step; 0 = no barrier.",
        source="default: no barrier",
        affects=("timing",),
    )


@dataclass(frozen=True, kw_only=True)
class MulticoreDatapathConfig:
    """``[datapath]`` of a multi-core chip: stored weight and membrane widths."""

    weight_bits: int = _weight_bits(("mapping", "energy"))
    membrane_bits: int = _membrane_bits(("energy", "timing"))


@dataclass(frozen=True, kw_only=True)
class MulticoreConfig:
    """A multi-core neuromorphic chip: layers resident on cores of a mesh, samples pipelined."""

    FAMILY: ClassVar[str] = "multicore"
    CROSS_CHECKS: ClassVar[tuple[CrossCheck, ...]] = ()

    meta: Meta = field(metadata=section("File identity and provenance."))
    energy_table: str = _energy_table()
    clock: ClockConfig = field(metadata=section("Clock."))
    mesh: MeshConfig = field(metadata=section("Core mesh."))
    core: CoreConfig = field(metadata=section("One core."))
    noc: NocConfig = field(metadata=section("Network-on-chip."))
    sync: SyncConfig = field(default_factory=SyncConfig, metadata=section("Time-step barrier."))
    datapath: MulticoreDatapathConfig = field(
        default_factory=MulticoreDatapathConfig, metadata=section("Data widths.")
    )
    source_path: str = _source_path()

    @property
    def family(self) -> str:
        """Registry key of this family, ``"multicore"``."""
        return self.FAMILY

    @property
    def num_cores(self) -> int:
        """Cores on the mesh: width·height."""
        return self.mesh.width * self.mesh.height


HwConfig = PEArrayConfig | MulticoreConfig
"""A validated hardware description of any family."""

FAMILIES: dict[str, type[PEArrayConfig] | type[MulticoreConfig]] = {
    PEArrayConfig.FAMILY: PEArrayConfig,
    MulticoreConfig.FAMILY: MulticoreConfig,
}
"""Family name -> top-level config class (one entry per name in FAMILY_NAMES)."""

DERIVED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "pe_array": (
        ("dram_bytes_per_cycle", "bytes/cycle", "bandwidth_gbps·1e9 / (frequency_mhz·1e6)"),
    ),
    "multicore": (("num_cores", "cores", "width·height"),),
}
"""Derived properties per family, for the reference: (name, unit, formula)."""


# --------------------------------------------------------------------------------------------
# Walking the declarations (shared by the loader and the reference)
# --------------------------------------------------------------------------------------------


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """Resolved field annotations of a config dataclass."""
    return typing.get_type_hints(cls)


def toml_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    """Fields of ``cls`` that are TOML keys (everything except internal ones)."""
    return tuple(f for f in dataclasses.fields(cls) if not f.metadata.get("internal"))


def leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field, type]]:
    """(dotted path, field, Python type) of every leaf value under ``cls``, in file order."""
    out: list[tuple[str, dataclasses.Field, type]] = []
    hints = type_hints(cls)
    for f in toml_fields(cls):
        if f.metadata.get("section"):
            out.extend(leaf_fields(hints[f.name], f"{prefix}{f.name}."))
        else:
            out.append((f"{prefix}{f.name}", f, hints[f.name]))
    return out


def effect_paths(family: str | type, effect: str) -> tuple[str, ...]:
    """Dotted paths of the fields of a family that declare ``effect`` (``EFFECTS``)."""
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect {effect!r}; allowed: {EFFECTS}")
    cls = FAMILIES[family] if isinstance(family, str) else family
    return tuple(path for path, f, _ in leaf_fields(cls) if effect in f.metadata["affects"])


def field_value(cfg: Any, path: str) -> Any:
    """The value of dotted field ``path`` of a config."""
    value = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def reuse_key(cfg: Any, effect: str) -> tuple:
    """A key equal for two configs of one family exactly when every field declaring ``effect``
    has the same value: what that effect names (``EFFECTS``) is then the same, so a sweep may
    reuse it. Derived from the declarations, never from a hand-kept list."""
    paths = effect_paths(type(cfg), effect)
    return (cfg.family, *(field_value(cfg, p) for p in paths))


def field_paths(family: str | type) -> list[str]:
    """Every dotted field path of a family (e.g. ``"pe.unroll_out_channels"``), in file order."""
    cls = FAMILIES[family] if isinstance(family, str) else family
    return [path for path, _, _ in leaf_fields(cls)]


def type_name(tp: Any) -> str:
    """Short TOML-facing name of a field type."""
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if typing.get_origin(tp) is tuple:
        return "list[str]"
    raise TypeError(f"unsupported config field type {tp!r}")


def show(value: Any) -> str:
    """A value as it would be written in TOML (strings quoted, booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def allowed_text(f: dataclasses.Field, tp: Any) -> str:
    """The allowed values of a leaf field in words, from its metadata (validator and reference)."""
    meta = f.metadata
    if "choices" in meta:
        return "one of " + ", ".join(show(c) for c in meta["choices"])
    name = type_name(tp)
    if name == "bool":
        return "true or false"
    if name == "str":
        return "non-empty string"
    if name == "list[str]":
        return "non-empty list of non-empty strings"
    kind = "integer" if name == "int" else "finite float"
    low = meta.get("min")
    high = meta.get("max")
    if "gt" in meta:
        return f"{kind} > {_number(meta['gt'])}"
    if low is not None and high is not None:
        return f"{kind} in [{_number(low)}, {_number(high)}]"
    if low is not None:
        return f"{kind} >= {_number(low)}"
    if high is not None:
        return f"{kind} <= {_number(high)}"
    return kind


def config_reference() -> str:
    """Markdown reference of every field of every family, generated from the declarations.

    Returns
    -------
    str
        One section per family with a table (section, field, type, unit, default, allowed,
        description and source), then the family's derived properties and cross-field rules.
    """
    lines = [
        "# Hardware configuration reference",
        "",
        "Generated by `neurosim.hw.config_reference()` from the field declarations in "
        "`neurosim/hw/config.py`. A field without a default is required. Units are in the "
        "field names. Each family's *effects* list says what each field's value can change: "
        "`mapping` (the compiled mapping), `activity` (the per-tile PE cycles computed from "
        "the trace), `energy` (the timing-independent energy rows and per-byte prices) or "
        "`timing` (the timing simulation and the traffic and static energy that follow it); "
        "a sweep reuses each of the first three while the fields that affect it keep their "
        "values.",
    ]
    for family, cls in FAMILIES.items():
        lines += [
            "",
            f"## `{family}`: {cls.__doc__.splitlines()[0]}",
            "",
            "| section | field | type | unit | default | allowed | description and source |",
            "|---|---|---|---|---|---|---|",
        ]
        for path, f, tp in leaf_fields(cls):
            sect, _, name = path.rpartition(".")
            default = "required" if f.default is MISSING else show(f.default)
            doc = f"{f.metadata['doc']} Source: {f.metadata['source']}.".replace("|", "/")
            row = (
                f"`[{sect}]`" if sect else "(top level)",
                f"`{name}`",
                type_name(tp),
                f.metadata["unit"] or "-",
                f"`{default}`" if f.default is not MISSING else default,
                allowed_text(f, tp),
                doc,
            )
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "Effects (what each field's value can change; every reuse key):", ""]
        for effect in EFFECTS:
            paths = effect_paths(cls, effect)
            lines.append(f"- {effect}: " + (", ".join(f"`{p}`" for p in paths) or "none"))
        lines += ["", "Derived (read-only properties):", ""]
        lines += [f"- `{name}` ({unit}) = {formula}" for name, unit, formula in DERIVED[family]]
        if cls.CROSS_CHECKS:
            lines += ["", "Cross-field rules (checked at load):", ""]
            lines += [f"- `{check.path}`: {check.rule}" for check in cls.CROSS_CHECKS]
    return "\n".join(lines) + "\n"
