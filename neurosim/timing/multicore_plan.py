"""The plan the multi-core SimPy model sequences: per-layer step cycles and per-bundle NoC
costs, built by vectorised numpy over a mapping and a trace (``build_plan``) or by hand.

Imports ``ir``, ``schemes``, ``errors``, ``mapping.multicore``/``multicore_geometry``, ``trace``
and ``timing.multicore_cost``. The modelling decisions are in ``timing.multicore``'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neurosim import ir, schemes
from neurosim.errors import ConfigError, UnsupportedError
from neurosim.mapping.multicore import EdgeMapping, LayerPartition, MulticoreMapping
from neurosim.mapping.multicore_geometry import xy_routes
from neurosim.timing import multicore_cost as cost
from neurosim.timing import multicore_events as events
from neurosim.trace import Trace

# --------------------------------------------------------------------------------------------
# The plan: what the SimPy model sequences
# --------------------------------------------------------------------------------------------


def _read_only(value):
    """Freeze a numpy array in place (frozen values hold read-only arrays); pass others."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    return value


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
        lat = np.broadcast_to(np.asarray(self.latency_cycles, np.int64), ser.shape).copy()
        routes = self.routes
        if len(routes) == 0 or isinstance(routes[0], int | np.integer):
            one = tuple(int(x) for x in routes)
            routes = tuple(tuple(one for _ in range(ser.shape[1])) for _ in range(ser.shape[0]))
        hops = (
            np.zeros_like(ser)
            if self.bit_hops is None
            else np.broadcast_to(np.asarray(self.bit_hops, np.int64), ser.shape).copy()
        )
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


def _sum_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(-2, -1))
    return win[..., ::s, ::s, :, :].sum(axis=(-2, -1))


class _Grouper:
    """Sums per label: Σ of x [slots, N] over the neurons sharing a label → [slots, num]."""

    def __init__(self, labels: np.ndarray, num: int) -> None:
        # Partitions with one position chunk give labels already in order: no gather needed.
        self.order = (
            None if np.all(labels[1:] >= labels[:-1]) else np.argsort(labels, kind="stable")
        )
        lab = labels if self.order is None else labels[self.order]
        self.starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        self.keys = lab[self.starts]
        self.num = num

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = x if self.order is None else x[:, self.order]
        out = np.zeros((x.shape[0], self.num), dtype=np.int64)
        out[:, self.keys] = np.add.reduceat(x, self.starts, axis=1)
        return out


class _EdgeGeometry:
    """Static per-edge data: core pairs, their XY routes, label maps."""

    def __init__(
        self, edge: EdgeMapping, src: LayerPartition, tgt: LayerPartition, width: int
    ) -> None:
        self.edge = edge
        self.src, self.tgt = src, tgt
        self.ps, self.pt = edge.pair_source, edge.pair_target
        self.route_pair, self.route_link = xy_routes(src.xy[self.ps], tgt.xy[self.pt], width)
        self.hops = edge.hops
        self.need = None if edge.need is None else edge.need.astype(np.float64)
        # Route of pair p = route_link[route_start[p]:route_start[p + 1]] (pairs in order);
        # the pairs crossing link l are by_link_pair where by_link == l (sorted by link).
        self.route_start = np.concatenate([[0], np.cumsum(self.hops)])
        order = np.argsort(self.route_link, kind="stable")
        self.by_link_pair = self.route_pair[order]
        self.by_link = self.route_link[order]
        if edge.kind == "one_to_one" and edge.need is None:
            d = tgt.num_cores
            self.group = _Grouper(src.neuron_core() * d + tgt.neuron_core(), src.num_cores * d)
        elif edge.kind == "dense":
            self.group = _Grouper(src.neuron_core(), src.num_cores)

    def pair_events(self, x: np.ndarray) -> np.ndarray:
        """Events each core pair carries per slot, from source events x [slots, C, H·W]."""
        kind = self.edge.kind
        slots = x.shape[0]
        if kind == "dense":
            return self.group(x.reshape(slots, -1))[:, self.ps]
        if kind == "one_to_one" and self.need is None:
            per = self.group(x.reshape(slots, -1))
            return per[:, self.ps * self.tgt.num_cores + self.pt]
        if kind == "one_to_one":
            return self._pooled_pair_events(x)
        src = self.src
        sizes = np.diff(src.group_bounds)
        if np.all(sizes == sizes[0]):
            # Equal channel groups: a reshape-sum, much faster than reduceat along axis 1.
            gsum = x.reshape(slots, len(sizes), int(sizes[0]), -1).sum(axis=2)
        else:
            gsum = np.add.reduceat(x, src.group_bounds[:-1], axis=1)
        gsum = gsum.astype(np.float64)
        need = self.need
        per = np.zeros((slots, src.num_cores, need.shape[0]), dtype=np.float64)
        groups = np.arange(src.num_groups) * src.num_chunks
        for j, (a, b) in enumerate(zip(src.chunk_bounds[:-1], src.chunk_bounds[1:], strict=True)):
            per[:, groups + j, :] = gsum[:, :, a:b] @ need[:, a:b].T
        return np.rint(per[:, self.ps, self.tgt.core_chunk[self.pt]]).astype(np.int64)

    def _pooled_pair_events(self, x: np.ndarray) -> np.ndarray:
        """Events per pair of an elementwise input read through pooling: the source core's
        spikes in the channels both cores hold and the positions the target chunk's pooling
        windows cover (``EdgeMapping.need``)."""
        src, tgt, need = self.src, self.tgt, self.need
        slots = x.shape[0]
        # per[t, c, j_s, j_t]: channel c's events in source chunk j_s needed by target chunk j_t.
        per = np.stack(
            [
                x[:, :, a:b].astype(np.float64) @ need[:, a:b].T
                for a, b in zip(src.chunk_bounds[:-1], src.chunk_bounds[1:], strict=True)
            ],
            axis=2,
        )
        cum = np.concatenate([np.zeros((slots, 1, *per.shape[2:])), np.cumsum(per, axis=1)], 1)
        gs, gt = src.core_group[self.ps], tgt.core_group[self.pt]
        lo = np.maximum(src.group_bounds[gs], tgt.group_bounds[gt])
        hi = np.minimum(src.group_bounds[gs + 1], tgt.group_bounds[gt + 1])
        js, jt = src.core_chunk[self.ps], tgt.core_chunk[self.pt]
        out = cum[:, hi, js, jt] - cum[:, lo, js, jt]
        return np.rint(out).astype(np.int64)


def _bundles(
    geo: _EdgeGeometry,
    bits: np.ndarray,
    hw,
    num_links: int,
    tokens: bool,
    pair_lat: np.ndarray | None = None,
):
    """Link cycles, latency, route and bit-hops of each slot's bundle (vectorised over pairs);
    ``pair_lat``: each pair's hop latency in cycles (default hops × ``noc.hop_latency_cycles``)."""
    loads = cost.link_loads(bits, geo.route_pair, geo.route_link, num_links)
    peak = loads.max(axis=1) if num_links else np.zeros(bits.shape[0], np.int64)
    ser = cost.link_cycles(peak, hw.noc.link_bits_per_cycle)
    if pair_lat is None:
        pair_lat = geo.hops * int(hw.noc.hop_latency_cycles)
    max_lat = int(pair_lat.max()) if pair_lat.size else 0
    lat = np.zeros(bits.shape[0], np.int64)
    routes = []
    for t in range(bits.shape[0]):
        if peak[t] == 0:
            lat[t] = max_lat if tokens else 0
            routes.append(())
            continue
        lat[t] = int(pair_lat[bits[t] > 0].max())
        best = int(np.argmax(loads[t]))
        lo, hi = np.searchsorted(geo.by_link, [best, best + 1])
        cand = geo.by_link_pair[lo:hi]
        # The heaviest flow through the bottleneck link; on a tie the shorter route.
        pair = int(cand[np.lexsort((geo.hops[cand], -bits[t, cand]))[0]])
        route = geo.route_link[geo.route_start[pair] : geo.route_start[pair + 1]]
        routes.append(tuple(route.tolist()))
    return ser, lat, tuple(routes), loads.sum(axis=1)


class _SampleEvents:
    """Events of every producer for one trace sample, computed once and shared by consumers."""

    def __init__(self, trace: Trace, net: ir.Network, sample: int) -> None:
        self.trace, self.net, self.v = trace, net, sample
        self._spikes: dict[str, np.ndarray] = {}
        self._chsum: dict[str, np.ndarray] = {}

    def spikes(self, name: str) -> np.ndarray:
        """int32 [slots, C, H·W]: 1 per non-zero spike (the network input: per non-zero code,
        one slot, unless SWS encodes it into spikes)."""
        if name not in self._spikes:
            net, trace = self.net, self.trace
            shape = net.shapes[name]
            lt = trace.layer(name)
            if isinstance(net.layer(name), ir.Input) and lt.spikes is None:
                if trace.inputs is None:
                    raise ConfigError(
                        "the trace has no input codes; run functional.run(..., keep_spikes=True)"
                    )
                ev = (np.asarray(trace.inputs[self.v]) != 0)[None]
            elif lt.spikes is None:
                raise ConfigError(
                    f"the trace has no spikes for layer '{name}'; run "
                    f"functional.run(..., keep_spikes=True)"
                )
            else:
                ev = lt.spikes[:, self.v] != 0
            c = shape[0] if len(shape) == 3 else int(np.prod(shape))
            self._spikes[name] = ev.reshape(ev.shape[0], c, -1).astype(np.int32)
        return self._spikes[name]

    def pooled_spikes(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """int [slots, C, positions] of the consumer's input space: the spikes, each pooling
        window summed (a pooled value v is v accumulations); the spikes themselves without
        pooling."""
        x = self.spikes(name)
        pools = [self.net.layer(n) for n in via]
        pools = [lay for lay in pools if isinstance(lay, ir.AvgPool2d)]
        if not pools:
            return x
        shape = self.net.shapes[name]
        m = x.reshape(x.shape[0], shape[0], shape[1], shape[2]).astype(np.int64)
        for lay in pools:
            m = _sum_pool(m, lay.kernel, lay.stride)
        return m.reshape(m.shape[0], m.shape[1], -1)

    def pooled_channel_sum(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """int [slots, H, W] (or [slots, n]): events per position summed over channels, carried
        through folded pooling (a pooled input counts the spikes of its window)."""
        key = name
        if key not in self._chsum:
            x = self.spikes(name)
            shape = self.net.shapes[name]
            per_pos = x.sum(axis=1, dtype=np.int64)
            self._chsum[key] = (
                per_pos.reshape(x.shape[0], *shape[1:])
                if len(shape) == 3
                else x[:, :, 0].astype(np.int64)
            )
        m = self._chsum[key]
        for layer_name in via:
            lay = self.net.layer(layer_name)
            if isinstance(lay, ir.AvgPool2d):
                m = _sum_pool(m, lay.kernel, lay.stride)
        return m


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
    """
    net = mapping.network
    width, height = mapping.mesh_width, mapping.mesh_height
    num_links = 4 * width * height
    tokens = table is None and int(hw.sync.barrier_cycles) == 0
    syn_rate, upd_rate = int(hw.core.synops_per_cycle), int(hw.core.neuron_updates_per_cycle)
    spike_bits = int(hw.noc.event_bits)
    psum_bits = spike_bits + int(hw.datapath.membrane_bits)
    encoding = schemes.input_encoding(net)
    host_slots = 1 if encoding is None else encoding.steps
    index = {p.name: i for i, p in enumerate(mapping.layers)}
    in_edges = {p.name: [e for e in mapping.edges if e.target == p.name] for p in mapping.layers}
    noc_edges = [e for e in mapping.edges if not e.from_host]
    edge_id = {id(e): i for i, e in enumerate(noc_edges)}
    geos = [
        _EdgeGeometry(e, mapping.layer(e.source), mapping.layer(e.target), width) for e in noc_edges
    ]

    scheds: dict[str, _Schedule] = {}
    for p in mapping.layers:
        slots = [
            host_slots if e.from_host else int(np.count_nonzero(scheds[e.source].emit >= 0))
            for e in in_edges[p.name]
        ]
        scheds[p.name] = _schedule(net, net.layer(p.name), p.role, slots)

    steps_cyc = {
        p.name: np.zeros((num_variants, scheds[p.name].num_steps), np.int64) for p in mapping.layers
    }
    syn_total = {p.name: np.zeros(num_variants, np.int64) for p in mapping.layers}
    totals = {p.name: np.zeros((num_variants, len(EVENT_KEYS)), np.int64) for p in mapping.layers}
    e_ser, e_lat, e_routes, e_hops = ([[None] * num_variants for _ in noc_edges] for _ in range(4))
    groupers: dict[str, _Grouper] = {}
    pair_lat = [
        None
        if table is None
        else events.hop_latency_cycles(*_pair_dxdy(g), table, hw.clock.frequency_mhz)
        for g in geos
    ]
    for v in range(num_variants):
        src = _SampleEvents(trace, net, v)
        psum_active: dict[str, np.ndarray] = {}
        counts = {p.name: _zero_counts(scheds[p.name].num_steps, p) for p in mapping.layers}
        for p in mapping.layers:
            lay = net.layer(p.name)
            sch = scheds[p.name]
            c = counts[p.name]
            active = np.zeros((sch.num_steps, p.num_neurons), bool)
            for i, e in enumerate(in_edges[p.name]):
                if e.payload == "partial_sums":
                    act = psum_active[e.source]
                    channels = mapping.layer(e.source).shape[0]
                    x = np.broadcast_to(act[:, None, :], (act.shape[0], channels, act.shape[1]))
                    got = np.broadcast_to(act[:, None, :], x.shape).reshape(act.shape[0], -1)
                else:
                    x = src.spikes(e.source)
                    syn_e = _synaptic(net, lay, p, e, src, groupers)
                    np.add.at(c["synaptic_ops"], sch.slot_step(i), syn_e)
                    got = _received(net, lay, p, e, src)
                    if p.role == "partial_sum":
                        m = src.pooled_channel_sum(e.source, e.via)
                        psum_active[p.name] = events.receptive_active(m, lay, p.shape[1:])
                if e.from_host and encoding is None:
                    active[:] = True  # direct coding: the input current every step
                else:
                    active |= events.per_step(got, sch.slot_step(i), sch.num_steps)
                if e.from_host:
                    continue
                j = edge_id[id(e)]
                pairs = geos[j].pair_events(x)
                _count_messages(geos[j], pairs, counts[e.source], scheds[e.source], c, sch, i)
                t_src = totals[e.source][v]
                dx, dy = _pair_dxdy(geos[j])
                t_src[3] += int(pairs.sum())
                t_src[4] += int((pairs * np.abs(dx)).sum())
                t_src[5] += int((pairs * np.abs(dy)).sum())
                bits = cost.bundle_bits(
                    pairs, psum_bits if e.payload == "partial_sums" else spike_bits
                )
                e_ser[j][v], e_lat[j][v], e_routes[j][v], e_hops[j][v] = _bundles(
                    geos[j], bits, hw, num_links, tokens, pair_lat[j]
                )
            if sch.whole[0] if sch.whole else False:
                # Integrated once, the current is re-added at every step.
                active[:] = active.any(axis=0)
            c["active"] = events.per_core(active, p)
            if ir.is_spiking(lay):
                fired = (src.spikes(p.name) != 0).reshape(-1, p.num_neurons)
                c["fired"] = events.per_core(events.emitted_per_step(fired, sch.emit), p)
            syn_total[p.name][v] = int(c["synaptic_ops"].sum())
            totals[p.name][v, :3] = (
                int(c["neurons"].sum()),
                int(c["active"].sum()),
                int(c["fired"].sum()),
            )
        for p in mapping.layers:
            c, sch = counts[p.name], scheds[p.name]
            if table is None:
                cyc = cost.step_cycles(
                    c["synaptic_ops"],
                    p.neurons_per_core[None, :],
                    syn_rate,
                    upd_rate,
                    sch.updates_per_neuron,
                )
            else:
                linear = isinstance(net.layer(p.name), ir.Linear)
                cyc = events.table_step_cycles(
                    c, table, linear=linear, frequency_mhz=hw.clock.frequency_mhz
                )
            steps_cyc[p.name][v] = cyc.max(axis=1)

    stages = []
    for p in mapping.layers:
        sch = scheds[p.name]
        ins = [(i, e) for i, e in enumerate(in_edges[p.name]) if not e.from_host]
        stages.append(
            StagePlan(
                name=p.name,
                step_cycles=steps_cyc[p.name],
                inputs=tuple(edge_id[id(e)] for _, e in ins),
                need=np.array([sch.need(i) for i, _ in ins], np.int64).reshape(
                    len(ins), sch.num_steps
                ),
                emit=sch.emit,
                synaptic_events=syn_total[p.name],
                event_counts=totals[p.name],
                **_wait(net.layer(p.name)),
            )
        )
    edges = tuple(
        EdgePlan(
            source=index[e.source],
            target=index[e.target],
            link_cycles=np.stack(e_ser[j]),
            latency_cycles=np.stack(e_lat[j]),
            routes=tuple(e_routes[j]),
            name=e.name,
            bit_hops=np.stack(e_hops[j]),
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


def _zero_counts(steps: int, p: LayerPartition) -> dict[str, np.ndarray]:
    zeros = np.zeros((steps, p.num_cores), np.int64)
    return {
        "synaptic_ops": zeros.copy(),
        "neurons": np.broadcast_to(p.neurons_per_core[None, :], zeros.shape).copy(),
        "active": zeros.copy(),
        "fired": zeros.copy(),
        "messages_out": zeros.copy(),
        "messages_in": zeros.copy(),
    }


def _pair_dxdy(geo: _EdgeGeometry) -> tuple[np.ndarray, np.ndarray]:
    d = geo.src.xy[geo.ps] - geo.tgt.xy[geo.pt]
    return d[:, 0], d[:, 1]


def _count_messages(geo, pairs, out_counts, out_sched, in_counts, in_sched, i) -> None:
    """Spike messages per core and step: sent at the producer's emitting step, received at
    the step of the consumer that reads the slot."""
    sent = np.zeros((pairs.shape[0], geo.src.num_cores), np.int64)
    np.add.at(sent.T, geo.ps, pairs.T)
    out_counts["messages_out"] += events.emitted_per_step(sent, out_sched.emit)
    received = np.zeros((pairs.shape[0], geo.tgt.num_cores), np.int64)
    np.add.at(received.T, geo.pt, pairs.T)
    in_counts["messages_in"] += events.per_step(received, in_sched.slot_step(i), in_sched.num_steps)


def _received(net: ir.Network, lay: ir.Layer, p: LayerPartition, e, src) -> np.ndarray:
    """bool [slots, neurons]: which neurons of ``p`` a slot of input ``e`` reaches."""
    slots = src.spikes(e.source).shape[0]
    if isinstance(lay, ir.Conv2d):
        m = src.pooled_channel_sum(e.source, e.via)
        pos = events.receptive_active(m, lay, p.shape[1:])
        return np.broadcast_to(pos[:, None, :], (slots, p.shape[0], pos.shape[1])).reshape(
            slots, -1
        )
    if isinstance(lay, ir.Linear):
        m = src.pooled_channel_sum(e.source, e.via)
        any_event = m.reshape(m.shape[0], -1).sum(axis=1) > 0
        return np.broadcast_to(any_event[:, None], (slots, p.num_neurons))
    return src.pooled_spikes(e.source, e.via).reshape(slots, -1) > 0


def _wait(lay: ir.Layer) -> dict:
    """``wait_cycles``/``wait_cause`` of a stage from its neuron family (none without one)."""
    neuron = getattr(lay, "neuron", None)
    found = None if neuron is None else neuron.neuron_wait
    if not found or found[0] <= 0:
        return {}
    return {"wait_cycles": int(found[0]), "wait_cause": found[1]}


def _synaptic(
    net: ir.Network,
    lay: ir.Layer,
    p: LayerPartition,
    edge: EdgeMapping,
    src: _SampleEvents,
    groupers: dict[str, _Grouper],
) -> np.ndarray:
    """Synaptic operations [slots, cores] of layer ``lay`` from the spikes of one input."""
    if isinstance(lay, ir.Conv2d):
        m = src.pooled_channel_sum(edge.source, edge.via)
        return cost.conv_synaptic_events(
            m.reshape(m.shape[0], -1), p.fanout, p.channels_per_core, p.core_chunk
        )
    if isinstance(lay, ir.Linear):
        m = src.pooled_channel_sum(edge.source, edge.via)
        return cost.dense_synaptic_events(m.reshape(m.shape[0], -1).sum(axis=1), p.neurons_per_core)
    if p.name not in groupers:
        groupers[p.name] = _Grouper(p.neuron_core(), p.num_cores)
    x = src.pooled_spikes(edge.source, edge.via)
    return groupers[p.name](x.reshape(x.shape[0], -1))
