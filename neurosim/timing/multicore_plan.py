"""The plan the multi-core SimPy model sequences: per-layer step cycles and per-bundle NoC
costs, built over a mapping and a trace (``build_plan``) or by hand.

Imports ``ir``, ``schemes``, ``errors``, ``mapping.multicore``, ``trace`` and the
``timing.multicore_*`` helpers (``multicore_traffic`` counts events per core, pair and bundle;
``multicore_events`` the per-event table's counts). The modelling decisions are in
``timing.multicore``'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neurosim import ir, schemes
from neurosim.errors import UnsupportedError
from neurosim.mapping.multicore import EdgeMapping, LayerPartition, MulticoreMapping
from neurosim.timing import multicore_bundles as bundles
from neurosim.timing import multicore_cost as cost
from neurosim.timing import multicore_events as events
from neurosim.timing import multicore_traffic as traffic
from neurosim.trace import Trace

# --------------------------------------------------------------------------------------------
# The plan: what the SimPy model sequences
# --------------------------------------------------------------------------------------------


def _read_only(value):
    """Freeze a numpy array in place (frozen values hold read-only arrays); pass others."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    return value


def _filled(shape: tuple[int, ...], value) -> np.ndarray:
    """A new int64 array of ``shape`` holding ``value`` broadcast to it (a copy: the plan's
    arrays are its own)."""
    out = np.empty(shape, np.int64)
    out[...] = value
    return out


@dataclass(frozen=True, eq=False)
class StagePlan:
    """One pipeline stage (a mapped layer): its steps, their cycles, inputs and outputs."""

    name: str
    """Stage name in the interval table (the layer name)."""
    step_cycles: np.ndarray
    """int64 [variants, steps]: cycles of each local time-step (max over the layer's cores);
    stream sample k uses variant k mod variants."""
    inputs: tuple[int, ...] = ()
    """Indices of the plan's edges this stage reads."""
    need: np.ndarray | None = None
    """int64 [len(inputs), steps]: step t needs input slots 0..need[i, t] of edge i (−1: none)."""
    emit: np.ndarray | None = None
    """int64 [steps]: output slot sent after step t, or −1 (default: slot t after step t)."""
    layer: str = ""
    """Layer name (defaults to ``name``)."""
    synaptic_events: np.ndarray | None = None
    """int64 [variants]: synaptic operations per sample (events × fan-out; SRAM weight reads)."""
    event_counts: np.ndarray | None = None
    """int64 [variants, len(EVENT_KEYS)]: per-sample event counts (``EVENT_KEYS``)."""
    wait_cycles: int = 0
    """Cycles the layer's cores wait before each step's work (``NeuronSpec.neuron_wait``)."""
    wait_cause: str = ""
    """Stall cause of that wait."""

    def __post_init__(self) -> None:
        cyc = np.atleast_2d(np.asarray(self.step_cycles, dtype=np.int64))
        steps = cyc.shape[1]
        need = (
            np.zeros((0, steps), np.int64)
            if self.need is None
            else np.asarray(self.need, np.int64).reshape(len(self.inputs), steps)
        )
        emit = np.arange(steps) if self.emit is None else np.asarray(self.emit, np.int64)
        syn = (
            np.zeros(cyc.shape[0], np.int64)
            if self.synaptic_events is None
            else np.asarray(self.synaptic_events, np.int64)
        )
        counts = (
            np.zeros((cyc.shape[0], len(EVENT_KEYS)), np.int64)
            if self.event_counts is None
            else np.asarray(self.event_counts, np.int64)
        )
        for key, val in (
            ("event_counts", counts),
            ("step_cycles", cyc),
            ("need", need),
            ("emit", emit),
            ("synaptic_events", syn),
            ("layer", self.layer or self.name),
        ):
            object.__setattr__(self, key, _read_only(val))

    @property
    def num_steps(self) -> int:
        return int(self.step_cycles.shape[1])

    @property
    def num_slots(self) -> int:
        """Output slots (bundles) per sample."""
        return int(np.count_nonzero(self.emit >= 0))


@dataclass(frozen=True, eq=False)
class EdgePlan:
    """Bundles from one stage to another: per (variant, slot) link time, latency and route."""

    source: int
    target: int
    link_cycles: np.ndarray
    """int64 [variants, slots]: cycles the bundle holds its route (serialisation)."""
    latency_cycles: np.ndarray | int = 0
    """int64 [variants, slots]: cycles from releasing the links to arrival (hops × latency)."""
    routes: Sequence[Sequence[Sequence[int]]] | Sequence[int] = ()
    """Links held, per variant and slot (or one route for all bundles)."""
    name: str = ""
    bit_hops: np.ndarray | None = None
    """int64 [variants, slots]: Σ bits × hops of the bundle (for ``noc_bit_hops``)."""

    def __post_init__(self) -> None:
        ser = np.atleast_2d(np.asarray(self.link_cycles, dtype=np.int64))
        lat = _filled(ser.shape, self.latency_cycles)
        routes = self.routes
        if len(routes) == 0 or isinstance(routes[0], int | np.integer):
            one = tuple(int(x) for x in routes)
            routes = tuple(tuple(one for _ in range(ser.shape[1])) for _ in range(ser.shape[0]))
        hops = _filled(ser.shape, 0 if self.bit_hops is None else self.bit_hops)
        for key, val in (
            ("link_cycles", ser),
            ("latency_cycles", lat),
            ("routes", routes),
            ("bit_hops", hops),
        ):
            object.__setattr__(self, key, _read_only(val))


@dataclass(frozen=True, eq=False)
class PipelinePlan:
    """Stages in network order (the last one is the output) and the edges between them."""

    stages: tuple[StagePlan, ...]
    edges: tuple[EdgePlan, ...] = ()
    input_buffer_samples: int = 2
    """Samples a consumer's input buffer holds (a producer may run that far ahead)."""
    barrier_cycles: int = 0
    """Global barrier per step; 0 = no barrier (self-timed)."""
    weight_bits: int = 8
    """Bits read from synapse memory per synaptic operation."""
    output: int = field(default=-1)
    """Index of the output stage (default: the last)."""

    @property
    def num_variants(self) -> int:
        return int(self.stages[0].step_cycles.shape[0])


def chain_plan(
    step_cycles: Sequence[Sequence[int]],
    *,
    whole_sample: bool = False,
    link_cycles: int = 0,
    latency_cycles: int = 0,
    input_buffer_samples: int = 2,
    barrier_cycles: int = 0,
) -> PipelinePlan:
    """A linear chain of stages with given cycles per step (for closed-form checks).

    Stage i+1 reads stage i's slot t at its step t (``whole_sample=False``) or all of them at
    its step 0 (``True``); every bundle holds its own link ``link_cycles`` cycles and arrives
    ``latency_cycles`` later (no two edges share a link).
    """
    stages, edges = [], []
    for i, cyc in enumerate(step_cycles):
        steps = len(cyc)
        if i == 0:
            stages.append(StagePlan(name=f"stage{i}", step_cycles=[cyc]))
            continue
        slots = len(step_cycles[i - 1])
        need = (
            np.full(steps, slots - 1) if whole_sample else np.minimum(np.arange(steps), slots - 1)
        )
        edges.append(
            EdgePlan(
                source=i - 1,
                target=i,
                link_cycles=[[link_cycles] * slots],
                latency_cycles=latency_cycles,
                routes=(i,),
                name=f"stage{i - 1}->stage{i}",
            )
        )
        stages.append(StagePlan(name=f"stage{i}", step_cycles=[cyc], inputs=(i - 1,), need=[need]))
    return PipelinePlan(
        stages=tuple(stages),
        edges=tuple(edges),
        input_buffer_samples=input_buffer_samples,
        barrier_cycles=barrier_cycles,
    )


# --------------------------------------------------------------------------------------------
# From mapping + trace to a plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Schedule:
    """Time-step semantics of one stage (see ``timing.multicore``'s docstring)."""

    num_steps: int
    updates_per_neuron: int
    whole: tuple[bool, ...]
    """Per input edge (host inputs included): whole-sample dependency."""
    slots: tuple[int, ...]
    """Per input edge: slots per sample."""
    emit: np.ndarray

    def need(self, i: int) -> np.ndarray:
        steps, slots = self.num_steps, self.slots[i]
        if self.whole[i]:
            return np.full(steps, slots - 1, dtype=np.int64)
        return np.minimum(np.arange(steps), slots - 1)

    def slot_step(self, i: int) -> np.ndarray:
        """Local step in which each input slot's synaptic work is done."""
        slots = self.slots[i]
        return np.zeros(slots, np.int64) if self.whole[i] else np.arange(slots)


def _schedule(net: ir.Network, lay: ir.Layer, role: str, slots: list[int]) -> _Schedule:
    neuron = getattr(lay, "neuron", None)
    n_in = len(slots)
    if neuron is None:
        steps = max(slots)
        whole = len(set(slots)) > 1
        emit = np.arange(steps) if role == "partial_sum" else np.full(steps, -1)
        return _Schedule(steps, 1, (whole,) * n_in, tuple(slots), emit)
    plan = neuron.step_schedule(net.source_steps(lay.name))
    steps, whole = plan.local_steps, plan.whole_sample
    if not whole and any(s > steps for s in slots):
        raise UnsupportedError(
            f"layer '{lay.name}': per-step input with more slots than its {steps} steps"
        )
    emit = np.arange(steps) - plan.emit_delay
    return _Schedule(
        steps,
        plan.updates_per_neuron,
        (whole,) * n_in,
        tuple(slots),
        np.where(emit >= 0, emit, -1),
    )


def build_plan(
    mapping: MulticoreMapping, trace: Trace, hw, *, num_variants: int = 1, table=None
) -> PipelinePlan:
    """Per-step cycles of every layer and per-bundle NoC costs for trace samples 0..variants−1.

    Synaptic work of core c at a step (``multicore_cost.step_cycles``): conv cores
    Σ_pos events·fan-out_chunk(pos)·channels; linear cores events × neurons; Add cores one
    operation per skip-path event of their own neurons (partial sums of a residual conv are
    added by the neuron update). A direct-coded first layer does one operation per non-zero
    input code and fan-out target, once per sample in its first step. A level-k LM-HT spike is
    one graded event: one NoC event, one weight read, one operation. NoC payload: a spike is
    ``noc.event_bits``; a residual conv sends a partial sum (``event_bits + membrane_bits``) for
    every neuron whose receptive field received an event in that step (an upper bound on the
    non-zero sums).

    Every stage also counts the events a per-event energy table prices
    (``timing.multicore_events``, ``StagePlan.event_counts``). With ``table`` (an
    ``EnergyTable`` with ``[[core_op]]`` entries; ``core.op_latencies = "table"``) a core's step
    takes the sum of its events' latencies, a bundle's hops the table's E-W and N-S hop
    latencies, and the barrier the table's time at the cores used (one core per mesh node).

    Every count is computed for all variants and slots at once (``timing.multicore_traffic``):
    arrays carry a leading variant axis, so the work in Python grows with layers and edges,
    not with samples.
    """
    net = mapping.network
    nv = num_variants
    encoding = schemes.input_encoding(net)
    in_edges: dict[str, list[EdgeMapping]] = {p.name: [] for p in mapping.layers}
    for e in mapping.edges:
        in_edges[e.target].append(e)
    noc_edges = [e for e in mapping.edges if not e.from_host]
    edge_id = {id(e): i for i, e in enumerate(noc_edges)}
    width = mapping.mesh_width
    links = 4 * width * mapping.mesh_height
    parts = {p.name: p for p in mapping.layers}
    geos = [
        traffic.EdgeGeometry(
            e,
            parts[e.source],
            parts[e.target],
            width,
            links,
            getattr(net.layer(e.target), "groups", 1) if e.kind == "spatial" else 1,
        )
        for e in noc_edges
    ]
    scheds: dict[str, _Schedule] = {}
    for p in mapping.layers:
        slots = [
            (1 if encoding is None else encoding.steps)
            if e.from_host
            else int(np.count_nonzero(scheds[e.source].emit >= 0))
            for e in in_edges[p.name]
        ]
        scheds[p.name] = _schedule(net, net.layer(p.name), p.role, slots)
    build = _Build(mapping, trace, hw, nv, table, scheds, geos)
    for p in mapping.layers:
        build.layer(p, [(i, e, edge_id.get(id(e))) for i, e in enumerate(in_edges[p.name])])
    stages = []
    for p in mapping.layers:
        sch = scheds[p.name]
        ins = [(i, e) for i, e in enumerate(in_edges[p.name]) if not e.from_host]
        sums = build.blocks[p.name].sum(axis=(2, 3))  # [_BLOCK, variants]
        stages.append(
            StagePlan(
                name=p.name,
                step_cycles=build.step_cycles(p),
                inputs=tuple(edge_id[id(e)] for _, e in ins),
                need=np.array([sch.need(i) for i, _ in ins], np.int64).reshape(
                    len(ins), sch.num_steps
                ),
                emit=sch.emit,
                synaptic_events=sums[0],
                # EVENT_KEYS: neurons, active, fired, then the messages and hops sent.
                event_counts=np.concatenate([sums[1:].T, build.sent[p.name]], axis=1),
                **_wait(net.layer(p.name)),
            )
        )
    index = {p.name: i for i, p in enumerate(mapping.layers)}
    edges = tuple(
        EdgePlan(
            source=index[e.source],
            target=index[e.target],
            link_cycles=build.bundles[j][0],
            latency_cycles=build.bundles[j][1],
            routes=build.bundles[j][2],
            name=e.name,
            bit_hops=build.bundles[j][3],
        )
        for j, e in enumerate(noc_edges)
    )
    barrier = int(hw.sync.barrier_cycles)
    if table is not None:
        barrier = events.barrier_cycles(table, mapping.num_cores, hw.clock.frequency_mhz)
    return PipelinePlan(
        stages=tuple(stages),
        edges=edges,
        input_buffer_samples=int(hw.core.input_buffer_samples),
        barrier_cycles=barrier,
        weight_bits=int(hw.datapath.weight_bits),
    )


EVENT_KEYS = (
    "neuron_steps",
    "active_neuron_steps",
    "spikes_out",
    "messages",
    "hops_east_west",
    "hops_north_south",
)
"""Per-layer event counts of a plan (``StagePlan.event_counts`` columns; messages and hops
are counted at the sending layer), the per-event energy table's counts."""


_BLOCK = ("synaptic_ops", "neurons", "active", "fired")
"""The per-core counts of a layer that ``_Build`` keeps in one block, in block order."""


class _Build:
    """The counts of ``build_plan``, layer by layer: per layer int64 [variants, steps, cores]
    arrays (``multicore_events``; the per-core messages only with an energy table, whose step
    latencies price them), per NoC edge its bundles, per layer the messages and hops it
    sends."""

    def __init__(self, mapping, trace, hw, nv, table, scheds, geos) -> None:
        self.mapping, self.hw, self.nv, self.table = mapping, hw, nv, table
        self.net = mapping.network
        self.parts = {p.name: p for p in mapping.layers}
        self.scheds, self.geos = scheds, geos
        self.src = traffic.SampleEvents(trace, self.net, nv)
        self.encoded = schemes.input_encoding(self.net) is not None
        self.tokens = table is None and int(hw.sync.barrier_cycles) == 0
        self.spike_bits = int(hw.noc.event_bits)
        self.psum_bits = self.spike_bits + int(hw.datapath.membrane_bits)
        self.counts: dict[str, dict[str, np.ndarray]] = {}
        self.sent = {p.name: np.zeros((nv, 3), np.int64) for p in mapping.layers}
        self.bundles: dict[int, tuple] = {}
        self.psum_active: dict[str, np.ndarray] = {}
        self.pair_lat = [
            None
            if table is None
            else events.hop_latency_cycles(g.dx, g.dy, table, hw.clock.frequency_mhz)
            for g in geos
        ]
        self.blocks: dict[str, np.ndarray] = {}
        """Per layer int64 [4, variants, steps, cores]: ``counts``' first four arrays in one
        block (the plan sums them in one call)."""
        for p in mapping.layers:
            block = np.zeros((4, nv, scheds[p.name].num_steps, p.num_cores), np.int64)
            block[1] = p.neurons_per_core
            self.blocks[p.name] = block
            self.counts[p.name] = dict(zip(_BLOCK, block, strict=True))
            if table is not None:
                # Per-core messages: only an energy table's step latencies price them.
                self.counts[p.name]["messages_out"] = np.zeros_like(block[0])
                self.counts[p.name]["messages_in"] = np.zeros_like(block[0])

    def layer(self, p: LayerPartition, inputs: list[tuple[int, EdgeMapping, int | None]]) -> None:
        """Count one layer's synaptic work, active and firing neurons, and its input bundles."""
        lay, sch, c, nv = self.net.layer(p.name), self.scheds[p.name], self.counts[p.name], self.nv
        # Neurons with input per step: [variants, steps, C or 1, H·W] (1: every channel).
        active = np.zeros((nv, sch.num_steps, 1, p.shape[1] * p.shape[2]), bool)
        for i, e, j in inputs:
            slot_step = sch.slot_step(i)
            if e.payload == "partial_sums":
                act = self.psum_active[e.source]
                got = act[:, :, None, :]
                x = np.broadcast_to(
                    got, (*act.shape[:2], self.parts[e.source].shape[0], act.shape[2])
                )
            else:
                x = self.src.spikes(e.source)
                syn = self._synaptic(lay, p, e)
                c["synaptic_ops"] += events.per_step(syn, slot_step, sch.num_steps, axis=1)
                got = self._received(lay, p, e)
                if p.role == "partial_sum" and isinstance(lay, ir.Conv2d) and lay.groups == 1:
                    # The same positions ``_received`` found (channels summed, one group).
                    self.psum_active[p.name] = got[:, :, 0, :]
                elif p.role == "partial_sum":
                    m = self.src.pooled_channel_sum(e.source, e.via)
                    rows = m.reshape(-1, *m.shape[2:])
                    act = events.receptive_active(rows, lay, p.shape[1:])
                    self.psum_active[p.name] = act.reshape(*m.shape[:2], -1)
            if e.from_host and not self.encoded:
                active[:] = True  # direct coding: the input current every step
            else:
                step_got = events.per_step(got, slot_step, sch.num_steps, axis=1)
                active = active | step_got
            if j is not None:
                self._edge(j, e, x, c, sch, i)
        if sch.whole and sch.whole[0]:
            # Integrated once, the current is re-added at every step.
            active = np.broadcast_to(active.any(axis=1, keepdims=True), active.shape)
        c["active"][:] = traffic.core_sums(active, p)
        if ir.is_spiking(lay):
            fired = traffic.core_sums(self.src.spikes(p.name), p)
            c["fired"][:] = events.emitted_per_step(fired, sch.emit, axis=1)

    def _edge(self, j: int, e: EdgeMapping, x: np.ndarray, c: dict, sch: _Schedule, i: int):
        """Messages, hops and bundles of NoC edge ``j`` carrying x [variants, slots, C, H·W]."""
        geo, nv = self.geos[j], self.nv
        slots = x.shape[1]
        pair_lat = self.pair_lat[j]
        if pair_lat is None:
            pair_lat = geo.hops * int(self.hw.noc.hop_latency_cycles)
        flow = bundles.edge_traffic(
            geo.pair_values(x.reshape(nv * slots, *x.shape[2:])),
            geo.pairs,
            geo.src.num_cores,
            geo.tgt.num_cores,
            bits_per_event=self.psum_bits if e.payload == "partial_sums" else self.spike_bits,
            link_bits_per_cycle=self.hw.noc.link_bits_per_cycle,
            tokens=self.tokens,
            pair_lat=pair_lat,
            width=geo.width,
            links=geo.links,
        )
        if self.table is not None:
            self.counts[e.source]["messages_out"] += events.emitted_per_step(
                flow.sent.reshape(nv, slots, -1), self.scheds[e.source].emit, axis=1
            )
            c["messages_in"] += events.per_step(
                flow.received.reshape(nv, slots, -1), sch.slot_step(i), sch.num_steps, axis=1
            )
        self.sent[e.source] += flow.moves.reshape(nv, slots, 3).sum(axis=1)
        routes = flow.routes
        self.bundles[j] = (
            flow.link_cycles.reshape(nv, slots),
            flow.latency.reshape(nv, slots),
            tuple(tuple(routes[v * slots : (v + 1) * slots]) for v in range(nv)),
            flow.bit_hops.reshape(nv, slots),
        )

    def _synaptic(self, lay: ir.Layer, p: LayerPartition, e: EdgeMapping) -> np.ndarray:
        """Synaptic operations [variants, slots, cores] of ``lay`` from one input's spikes."""
        if isinstance(lay, ir.Conv2d) and lay.groups > 1:
            m = self.src.pooled_group_sum(e.source, e.via, lay.groups)
            rows = m.reshape(-1, lay.groups, m.shape[3] * m.shape[4])
            ops = cost.grouped_conv_synaptic_events(
                rows, p.fanout, _group_overlap(p, lay.groups), p.core_chunk
            )
            return ops.reshape(*m.shape[:2], -1)
        if isinstance(lay, ir.Conv2d | ir.Linear):
            m = self.src.pooled_channel_sum(e.source, e.via)
            flat = m.reshape(*m.shape[:2], -1)
            if isinstance(lay, ir.Linear):
                return cost.dense_synaptic_events(
                    flat.sum(axis=2).reshape(-1), p.neurons_per_core
                ).reshape(*m.shape[:2], -1)
            rows = flat.reshape(-1, flat.shape[2])
            ops = cost.conv_synaptic_events(rows, p.fanout, p.channels_per_core, p.core_chunk)
            return ops.reshape(*m.shape[:2], -1)
        return traffic.core_sums(self.src.pooled_spikes(e.source, e.via), p)

    def _received(self, lay: ir.Layer, p: LayerPartition, e: EdgeMapping) -> np.ndarray:
        """bool [variants, slots, C or 1, H·W]: which neurons of ``p`` a slot of input ``e``
        reaches (a conv neuron: an event in its receptive field; linear: any event; an Add
        neuron: its own input)."""
        if isinstance(lay, ir.Conv2d) and lay.groups > 1:
            # An output channel's neurons see the events of its own group's input channels.
            m = self.src.pooled_group_sum(e.source, e.via, lay.groups)
            rows = m.reshape(-1, *m.shape[2:])
            pos = np.stack(
                [events.receptive_active(rows[:, g], lay, p.shape[1:]) for g in range(lay.groups)],
                axis=1,
            )
            per_channel = np.repeat(pos, p.shape[0] // lay.groups, axis=1)
            return per_channel.reshape(*m.shape[:2], p.shape[0], -1)
        if isinstance(lay, ir.Conv2d):
            m = self.src.pooled_channel_sum(e.source, e.via)
            pos = events.receptive_active(m.reshape(-1, *m.shape[2:]), lay, p.shape[1:])
            return pos.reshape(*m.shape[:2], 1, -1)
        if isinstance(lay, ir.Linear):
            m = self.src.pooled_channel_sum(e.source, e.via)
            return (m.reshape(*m.shape[:2], -1).sum(axis=2) > 0)[:, :, None, None]
        return self.src.pooled_spikes(e.source, e.via) > 0

    def step_cycles(self, p: LayerPartition) -> np.ndarray:
        """int64 [variants, steps]: each step's cycles, the maximum over the layer's cores."""
        c, sch, hw = self.counts[p.name], self.scheds[p.name], self.hw
        if self.table is None:
            cyc = cost.step_cycles(
                c["synaptic_ops"],
                p.neurons_per_core,
                int(hw.core.synops_per_cycle),
                int(hw.core.neuron_updates_per_cycle),
                sch.updates_per_neuron,
            )
        else:
            linear = isinstance(self.net.layer(p.name), ir.Linear)
            cyc = events.table_step_cycles(
                c, self.table, linear=linear, frequency_mhz=hw.clock.frequency_mhz
            )
        return cyc.max(axis=2)


def _group_overlap(p: LayerPartition, groups: int) -> np.ndarray:
    """int64 [cores, groups]: output channels of each core in each conv group."""
    cog = p.shape[0] // groups
    gb = p.group_bounds
    a, b = gb[p.core_group][:, None], gb[p.core_group + 1][:, None]
    g0 = (np.arange(groups) * cog)[None, :]
    return np.maximum(np.minimum(b, g0 + cog) - np.maximum(a, g0), 0).astype(np.int64)


def _wait(lay: ir.Layer) -> dict:
    """``wait_cycles``/``wait_cause`` of a stage from its neuron family (none without one)."""
    neuron = getattr(lay, "neuron", None)
    found = None if neuron is None else neuron.neuron_wait
    if not found or found[0] <= 0:
        return {}
    return {"wait_cycles": int(found[0]), "wait_cause": found[1]}
