"""The PE-array accelerator's hardware description: its sections, cross-field rules and
``PEArrayConfig`` (MT-SNN appendix E, Algorithm 2).

Imports ``hw.fields`` and ``hw.common``.
"""

import math
from dataclasses import dataclass, field
from typing import ClassVar

from neurosim.hw.common import (
    ClockConfig,
    Meta,
    _energy_table,
    _membrane_bits,
    _weight_bits,
)
from neurosim.hw.fields import (
    MAX_BANDWIDTH_GBPS,
    MAX_BYTES,
    MAX_DELAY_CYCLES,
    MAX_DRAM_BYTES_PER_CYCLE,
    MAX_QUEUE,
    MAX_RATE,
    MAX_UNITS,
    MIN_BANDWIDTH_GBPS,
    MIN_DRAM_BYTES_PER_CYCLE,
    CrossCheck,
    _source_path,
    section,
    spec,
)


@dataclass(frozen=True, kw_only=True)
class PEConfig:
    """``[pe]``: the PE array's unroll factors and zero-skipping granularity (MT-SNN Alg. 2)."""

    unroll_out_channels: int = spec(
        unit="channels",
        minimum=1,
        maximum=MAX_UNITS,
        doc="M: output channels of one tile (a tile is M channels x 1 row x N columns x S steps).",
        source="MT-SNN App. E, Alg. 2 (loop 'o')",
        affects=("mapping",),
    )
    unroll_out_columns: int = spec(
        unit="columns",
        minimum=1,
        maximum=MAX_UNITS,
        doc="N: output columns of one tile.",
        source="MT-SNN App. E, Alg. 2 (loop 'w')",
        affects=("mapping", "activity"),
    )
    unroll_steps: int = spec(
        unit="steps",
        minimum=1,
        maximum=MAX_UNITS,
        doc="S: time-steps of one tile.",
        source="MT-SNN App. E, Alg. 2 (loop 't')",
        affects=("mapping", "activity"),
    )
    unroll_in_channels: int = spec(
        unit="channels",
        minimum=1,
        maximum=MAX_UNITS,
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
        maximum=MAX_RATE,
        doc="Input events the array consumes per cycle with zero_skipping = event.",
        source="default: one event per cycle, the most conservative event-driven array",
        affects=("activity",),
    )
    multilevel: str = spec(
        "repeat",
        unit="",
        choices=("repeat", "multiply"),
        doc=(
            "A multi-valued input (LM-HT level-k spike, pooled sum of k spikes, aligned count "
            "k): repeat = k accumulate cycles; multiply = one cycle on a low-bit multiplier. "
            "Sets the passes of dense_pe_cycles."
        ),
        source="default: repeat keeps every PE a plain accumulator, no multiplier",
        affects=("mapping", "activity", "energy"),
    )
    dataflow: str = spec(
        "algorithm2",
        unit="",
        choices=("algorithm2", "os", "ws", "is"),
        doc=(
            "Model of the PE stage's compute for conv/linear layers: algorithm2 = MT-SNN Alg. 2 "
            "on the M x N x S x V unrolling; os / ws / is = an array_rows x array_cols systolic "
            "array, output-, weight- or input-stationary, cycles as SCALE-Sim v3 computes them "
            "(dense MACs: zero_skipping must be none)."
        ),
        source="MT-SNN App. E, Alg. 2; Samajdar et al., SCALE-Sim (v3 source) for os/ws/is",
        affects=("mapping", "activity"),
    )
    array_rows: int = spec(
        32,
        unit="PEs",
        minimum=1,
        maximum=MAX_UNITS,
        doc="R: rows of the systolic array (SCALE-Sim ArrayHeight); unused with algorithm2.",
        source="Assumption: 32 x 32, the array of SCALE-Sim's examples and of neurosim validate",
        affects=("mapping", "activity"),
    )
    array_cols: int = spec(
        32,
        unit="PEs",
        minimum=1,
        maximum=MAX_UNITS,
        doc="C: columns of the systolic array (SCALE-Sim ArrayWidth); unused with algorithm2.",
        source="Assumption: 32 x 32, the array of SCALE-Sim's examples and of neurosim validate",
        affects=("mapping", "activity"),
    )


@dataclass(frozen=True, kw_only=True)
class NeuronUnitConfig:
    """``[neuron_unit]``: the neuron-update stage after each tile's reduction."""

    updates_per_cycle: int = spec(
        unit="updates/cycle",
        minimum=1,
        maximum=MAX_RATE,
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
        maximum=MAX_BYTES,
        doc="Weight SRAM; must hold at least one weight tile (M x V x 1 x 1 weights).",
        source="per file",
        affects=("mapping", "energy"),
    )
    spike_bytes: int = spec(
        unit="bytes",
        minimum=1,
        maximum=MAX_BYTES,
        doc="Input-spike SRAM; must hold at least one input slice (N x S x V spikes at 1 bit).",
        source="per file",
        affects=("mapping", "energy"),
    )
    membrane_bytes: int = spec(
        unit="bytes",
        minimum=1,
        maximum=MAX_BYTES,
        doc="Membrane SRAM; must hold one tile's M x N membranes at membrane_bits.",
        source="per file",
        affects=("energy",),
    )
    load_queue_tiles: int = spec(
        2,
        unit="tiles",
        minimum=1,
        maximum=MAX_QUEUE,
        doc="Capacity of the buffer between DRAM load and the PE array.",
        source="default: double buffering",
        affects=("timing",),
    )
    pe_queue_tiles: int = spec(
        2,
        unit="tiles",
        minimum=1,
        maximum=MAX_QUEUE,
        doc="Capacity of the buffer between the PE array and the neuron unit.",
        source="default: double buffering",
        affects=("timing",),
    )
    writeback_queue_tiles: int = spec(
        2,
        unit="tiles",
        minimum=1,
        maximum=MAX_QUEUE,
        doc="Capacity of the buffer between the neuron unit and DRAM write-back.",
        source="default: double buffering",
        affects=("timing",),
    )
    write_buffer_bytes: int = spec(
        0,
        unit="bytes",
        minimum=0,
        maximum=MAX_BYTES,
        doc=(
            "Posted-write buffer in front of DRAM: a write-back costs its transfer alone and "
            "holds min(its bytes, this) bytes until dram.latency_cycles after the transfer; "
            "write-back stalls (memory) while the buffer is full, and a layer ends when its "
            "last write has left. 0 = no buffer: every write-back waits for its burst latency."
        ),
        source="default: no write buffer, every write is a blocking burst",
        affects=("timing",),
    )
    prefetch_weights: bool = spec(
        False,
        unit="",
        doc=(
            "After a layer's last tile, its load stage fetches the next layer's first weight "
            "block when the weight buffer holds a full block of both layers."
        ),
        source="default: no prefetch, each layer loads its own first block",
        affects=("timing",),
    )


@dataclass(frozen=True, kw_only=True)
class DramConfig:
    """``[dram]``: off-chip memory seen by the load and write-back stages."""

    bandwidth_gbps: float = spec(
        unit="GB/s",
        minimum=MIN_BANDWIDTH_GBPS,
        maximum=MAX_BANDWIDTH_GBPS,
        doc="Sustained DRAM bandwidth in 1e9 bytes per second.",
        source="per file",
        affects=("timing",),
    )
    latency_cycles: int = spec(
        unit="cycles",
        minimum=0,
        maximum=MAX_DELAY_CYCLES,
        doc="Latency added once per burst (one burst per tile load or write-back).",
        source="per file",
        affects=("timing",),
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


def _systolic_dense(cfg: "PEArrayConfig") -> str | None:
    pe = cfg.pe
    if pe.dataflow == "algorithm2" or pe.zero_skipping == "none":
        return None
    return (
        f'= "{pe.zero_skipping}" with pe.dataflow = "{pe.dataflow}": a systolic array streams '
        f'every operand, zero or not; allowed: "none" (or pe.dataflow = "algorithm2")'
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


def _dram_rate(cfg: "PEArrayConfig") -> str | None:
    rate = cfg.dram_bytes_per_cycle
    if MIN_DRAM_BYTES_PER_CYCLE <= rate <= MAX_DRAM_BYTES_PER_CYCLE:
        return None
    return (
        f"= {cfg.dram.bandwidth_gbps:g} GB/s at {cfg.clock.frequency_mhz:g} MHz is {rate:g} "
        f"bytes per cycle; allowed: {MIN_DRAM_BYTES_PER_CYCLE:g} to "
        f"{MAX_DRAM_BYTES_PER_CYCLE:g} bytes per cycle"
    )


@dataclass(frozen=True, kw_only=True)
class PEArrayConfig:
    """A layer-by-layer PE-array accelerator running MT-SNN Algorithm 2 (appendix E)."""

    FAMILY: ClassVar[str] = "pe_array"
    CROSS_CHECKS: ClassVar[tuple[CrossCheck, ...]] = (
        CrossCheck(
            "pe.zero_skipping",
            ("pe.dataflow", "pe.zero_skipping"),
            'zero_skipping = "none" with a systolic dataflow (os, ws, is): dense MACs',
            _systolic_dense,
        ),
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
        CrossCheck(
            "dram.bandwidth_gbps",
            ("dram.bandwidth_gbps", "clock.frequency_mhz"),
            f"bandwidth_gbps·1e3 / frequency_mhz in [{MIN_DRAM_BYTES_PER_CYCLE:g}, "
            f"{MAX_DRAM_BYTES_PER_CYCLE:g}] bytes per cycle",
            _dram_rate,
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
