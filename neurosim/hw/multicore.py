"""The multi-core neuromorphic chip's hardware description: its sections and
``MulticoreConfig`` (TrueNorth/Loihi-like, MT-SNN Fig. 7).

Imports ``hw.fields`` and ``hw.common``.
"""

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
    MAX_BYTES,
    MAX_CORE_NEURONS,
    MAX_DELAY_CYCLES,
    MAX_MESH_SIDE,
    MAX_QUEUE,
    MAX_RATE,
    CrossCheck,
    _source_path,
    section,
    spec,
)


@dataclass(frozen=True, kw_only=True)
class MeshConfig:
    """``[mesh]``: cores on a 2-D mesh network-on-chip."""

    width: int = spec(
        unit="cores",
        minimum=1,
        maximum=MAX_MESH_SIDE,
        doc="Cores per mesh row.",
        source="per file",
        affects=("mapping",),
    )
    height: int = spec(
        unit="cores",
        minimum=1,
        maximum=MAX_MESH_SIDE,
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
        maximum=MAX_CORE_NEURONS,
        doc="Neurons one core holds; a layer is split over ceil(neurons / this) cores.",
        source="per file",
        affects=("mapping",),
    )
    synapse_bytes_per_core: int = spec(
        unit="bytes",
        minimum=1,
        maximum=MAX_BYTES,
        doc="Synapse (weight) memory of one core.",
        source="per file",
        affects=("mapping", "energy"),
    )
    synops_per_cycle: int = spec(
        unit="synops/cycle",
        minimum=1,
        maximum=MAX_RATE,
        doc="Synaptic operations (weight accumulations) one core performs per cycle.",
        source="per file",
        affects=("timing",),
    )
    neuron_updates_per_cycle: int = spec(
        unit="updates/cycle",
        minimum=1,
        maximum=MAX_RATE,
        doc="Neuron updates one core performs per cycle.",
        source="per file",
        affects=("timing",),
    )
    op_latencies: str = spec(
        "rates",
        unit="",
        choices=("rates", "table"),
        doc=(
            "Time of a core's step: rates = synops_per_cycle and neuron_updates_per_cycle, "
            "hops at noc.hop_latency_cycles, sync.barrier_cycles; table = the energy table's "
            "[[core_op]] latencies summed over the core's events, its E-W/N-S hop latencies "
            "and its [[barrier]] time at the cores used (a Loihi-style per-event table)."
        ),
        source="default: per-cycle rates of the config",
        affects=("timing",),
    )
    input_buffer_samples: int = spec(
        2,
        unit="samples",
        minimum=1,
        maximum=MAX_QUEUE,
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
        maximum=MAX_RATE,
        doc="Bits one link carries per cycle; a bundle holds a link ceil(bits / this) cycles.",
        source="per file",
        affects=("timing",),
    )
    hop_latency_cycles: int = spec(
        unit="cycles",
        minimum=0,
        maximum=MAX_DELAY_CYCLES,
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
        maximum=MAX_DELAY_CYCLES,
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
    energy_table: str = _energy_table(("energy", "timing"))
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
