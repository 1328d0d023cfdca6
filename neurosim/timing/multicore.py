"""SimPy timing of the multi-core chip: every layer resident on its cores, samples pipelined.

Imports ``ir``, ``errors``, ``mapping.multicore``, ``trace`` and the ``timing`` helpers
(``multicore_cost`` for the cycle formulas, ``stages`` for busy/stall records, ``result``).

Two steps. ``build_plan`` turns a mapping and a trace into a ``PipelinePlan``: for each layer
(stage) its cycles per time-step (max over its cores, which work in lockstep), which input slots
each step needs, and for each layer-to-layer edge the cost of every time-step's spike bundle.
All of that is vectorised numpy over the trace's spikes. ``simulate_plan`` then runs the plan as
a stream of samples in one ``simpy.Environment`` (MT-SNN appendix E, Fig. 7): one process per
layer, one sender process per edge, one ``simpy.Resource`` per directed mesh link.

Modelling decisions (each also in the README):

- **Granularity.** One process per layer: the layer's cores work in lockstep, so a step of the
  layer takes the maximum over its cores. A bundle stands for all spikes of one time-step from
  one layer to one consumer layer (not per core pair, which would be ∝ cores² events); it holds
  the links of the *busiest route* — the XY route of the heaviest core-pair flow through the
  most loaded link — for ceil(bottleneck link bits / link_bits_per_cycle) cycles, then arrives
  after max hops × hop_latency_cycles. The per-link bits come from every core pair's XY route,
  so the bottleneck and ``noc_bit_hops`` are exact for the core-level traffic; contention
  between bundles is modelled on the busiest routes only. Events are ∝ layers × T × samples.
- **Time-step semantics** (``_schedule``): per-step pipelining for uniform-T IF with raw
  propagation (a step needs the producer's bundle of the same step); whole-sample dependency for
  MT-IF with alignment and for LM-HT (full T-GIM; a uniform Ω = 1/T also mixes every step):
  step 0 needs all of the producer's T^{l−1} bundles, and the synaptic work of the whole sample
  is done in that step (integrate once, then T^l neuron steps — the trace's synaptic op counts
  follow the same rule); SWS/TSA: a layer runs Tc + Ts local steps per frame, step t < Tc needs
  the producer's output slot t, and slot τ is emitted after step τ + Ts. ``Add.delays`` of a
  skip path are realised as a FIFO of slots in the Add's input buffer: they never add cycles,
  because the other input (Ts later per TSA layer it crosses) arrives later anyway.
- **Hand-off.** A consumer's step starts after the producer's step ended and its bundle arrived,
  so every layer boundary adds (one consumer step + the bundle's transfer) to the latency. On
  ideal hardware (every step 1 cycle; unbounded link width and no hop latency, so a non-empty
  bundle holds its link 1 cycle) the SWS latency is Tc + Ts·L_TSA (eq. 6) + 2·L_TSA cycles,
  and uniform-T IF gives T + 2·(stages − 1): neuron-models §6.2's "T + layers − 1 steps" with
  a 2-cycle hand-off. Eq. 6 has no hand-off because it integrates a spike in its own step.
- **Stages** in the interval table: one per layer (its name) and one per edge
  (``"<producer>-><consumer>"``: busy while its bundle holds the links, ``link`` stalls).
- **Barrier.** With ``sync.barrier_cycles > 0`` the chip runs in global lockstep: a global step
  ends when every working layer has finished its step and every bundle sent in it has arrived,
  plus ``barrier_cycles``; a layer does at most one of its steps per global step, and waiting for
  the step to close is a ``barrier`` stall. With 0 there is no barrier: each layer runs as soon
  as its inputs are there, and an empty time-step still sends an end-of-step token (0 bits, the
  hop latency only), which a barrier makes unnecessary.
- **Buffers.** Between two layers the consumer's input buffer holds ``input_buffer_samples``
  samples: a producer starts sample k only after each consumer has started sample
  k − input_buffer_samples (waiting is ``backpressure``).
- **Host.** The network input (analog codes, or the SWS encoder's spikes) is streamed in by the
  host and is ready whenever the first layers ask for it; it uses no mesh link.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy
from simpy.core import EmptySchedule

from neurosim import ir, schemes
from neurosim.errors import ConfigError, MappingError, UnsupportedError
from neurosim.mapping.multicore import EdgeMapping, LayerPartition, MulticoreMapping, xy_routes
from neurosim.timing import multicore_cost as cost
from neurosim.timing.result import TimingResult
from neurosim.timing.stages import StageLog
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
        for key, val in (
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
# The SimPy model
# --------------------------------------------------------------------------------------------


class _Signals:
    """One-shot named signals; an Event is created only when someone waits before the fire."""

    __slots__ = ("env", "fired", "pending")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.fired: set = set()
        self.pending: dict = {}

    def fire(self, key: tuple, _event: object = None) -> None:
        self.fired.add(key)
        ev = self.pending.pop(key, None)
        if ev is not None:
            ev.succeed()

    def wait(self, key: tuple) -> simpy.Event | None:
        """None if ``key`` already fired, else the Event that fires with it."""
        if key in self.fired:
            return None
        ev = self.pending.get(key)
        if ev is None:
            ev = self.pending[key] = self.env.event()
        return ev


class _Pipeline:
    """State of one run: the environment, signals, link resources and the records."""

    def __init__(self, plan: PipelinePlan, num_samples: int) -> None:
        self.env = simpy.Environment()
        self.plan = plan
        self.n = num_samples
        self.nv = plan.num_variants
        self.log = StageLog()
        self.arrived = _Signals(self.env)
        """(edge, sample, slot) → the bundle arrived at its consumer."""
        self.started = _Signals(self.env)
        """(stage, sample) → the stage took the sample from its input buffer."""
        self.queues: list[deque] = [deque() for _ in plan.edges]
        self.wake: list[simpy.Event | None] = [None] * len(plan.edges)
        """A sender's wake-up Event while its queue is empty (a deque, not a Store: one event
        per wake-up instead of a put and a get per bundle)."""
        self.links: dict[int, simpy.Resource] = {}
        self.out_edges = [
            [e for e, ed in enumerate(plan.edges) if ed.source == s]
            for s in range(len(plan.stages))
        ]
        shape = (len(plan.stages), num_samples)
        self.start = np.full(shape, -1, dtype=np.int64)
        self.finish = np.full(shape, -1, dtype=np.int64)
        # Plain Python lists: the processes index them once per step.
        self.need = [st.need.tolist() for st in plan.stages]
        self.emit = [st.emit.tolist() for st in plan.stages]
        self.cycles = [st.step_cycles.tolist() for st in plan.stages]

    def link(self, link_id: int) -> simpy.Resource:
        res = self.links.get(link_id)
        if res is None:
            res = self.links[link_id] = simpy.Resource(self.env, capacity=1)
        return res

    def send(self, stage: int, sample: int, slot: int, _event: object = None) -> None:
        for e in self.out_edges[stage]:
            self.queues[e].append((sample, slot))
            ev = self.wake[e]
            if ev is not None:
                self.wake[e] = None
                ev.succeed()

    def run(self) -> int:
        """Run to completion; returns the number of SimPy events processed (``env.step``)."""
        env = self.env
        for e in range(len(self.plan.edges)):
            env.process(_sender(self, e))
        if self.plan.barrier_cycles > 0:
            env.process(_lockstep(self))
        else:
            for s in range(len(self.plan.stages)):
                env.process(_stage(self, s))
        count = 0
        step = env.step
        try:
            while True:
                step()
                count += 1
        except EmptySchedule:
            pass
        if np.any(self.finish < 0):
            stuck = [self.plan.stages[s].name for s in np.nonzero((self.finish < 0).any(1))[0]]
            raise RuntimeError(f"multicore pipeline stopped before finishing stages {stuck}")
        return count


def _stage(run: _Pipeline, s: int):
    """Self-timed layer process: per sample, per local step, wait for inputs, then work."""
    env, log, plan = run.env, run.log, run.plan
    st = plan.stages[s]
    name, layer = st.name, st.layer
    need, emit, cycles = run.need[s], run.emit[s], run.cycles[s]
    inputs = st.inputs
    targets = [plan.edges[e].target for e in run.out_edges[s]]
    depth = plan.input_buffer_samples
    for k in range(run.n):
        cyc = cycles[k % run.nv]
        confirmed = [-1] * len(inputs)
        for t in range(st.num_steps):
            if t == 0 and k >= depth:
                for tgt in targets:
                    ev = run.started.wait((tgt, k - depth))
                    if ev is not None:
                        t0 = env.now
                        yield ev
                        log.stall(name, layer, k, t0, env.now, "backpressure")
            for i, e in enumerate(inputs):
                hi = need[i][t]
                while confirmed[i] < hi:
                    confirmed[i] += 1
                    ev = run.arrived.wait((e, k, confirmed[i]))
                    if ev is not None:
                        t0 = env.now
                        yield ev
                        log.stall(name, layer, k, t0, env.now, "dependency")
            if t == 0:
                run.started.fire((s, k))
                run.start[s, k] = env.now
            c = cyc[t]
            if c > 0:
                t0 = env.now
                yield env.timeout(c)
                log.busy(name, layer, k, t0, env.now)
            if emit[t] >= 0:
                run.send(s, k, emit[t])
        run.finish[s, k] = env.now


def _lockstep(run: _Pipeline):
    """Barrier-synchronised chip: every layer does at most one step per global time-step."""
    env, log, plan = run.env, run.log, run.plan
    stages = plan.stages
    depth = plan.input_buffer_samples
    pos = [[0, 0] for _ in stages]
    confirmed = [[-1] * len(st.inputs) for st in stages]
    targets = [[plan.edges[e].target for e in run.out_edges[s]] for s in range(len(stages))]
    active = list(range(len(stages)))
    while active:
        begin = env.now
        ready, blocked = [], []
        for s in active:
            k, t = pos[s]
            cause = None
            if (
                t == 0
                and k >= depth
                and any((tgt, k - depth) not in run.started.fired for tgt in targets[s])
            ):
                cause = "backpressure"
            if cause is None:
                for i, e in enumerate(stages[s].inputs):
                    hi = run.need[s][i][t]
                    while confirmed[s][i] < hi and (e, k, confirmed[s][i] + 1) in run.arrived.fired:
                        confirmed[s][i] += 1
                    if confirmed[s][i] < hi:
                        cause = "dependency"
                        break
            (blocked if cause else ready).append((s, cause))
        if not ready:
            raise RuntimeError("multicore lockstep: no layer can run (internal error)")
        waits, work = [], []
        for s, _ in ready:
            k, t = pos[s]
            if t == 0:
                run.started.fire((s, k))
                run.start[s, k] = begin
            c = run.cycles[s][k % run.nv][t]
            ev = env.timeout(c)
            slot = run.emit[s][t]
            if slot >= 0 and run.out_edges[s]:
                ev.callbacks.append(functools.partial(run.send, s, k, slot))
                waits.extend(run.arrived.wait((e, k, slot)) for e in run.out_edges[s])
            waits.append(ev)
            work.append((s, k, t, c))
        yield _all_done(env, waits)
        yield env.timeout(plan.barrier_cycles)
        end = env.now
        for s, k, t, c in work:
            name, layer = stages[s].name, stages[s].layer
            log.busy(name, layer, k, begin, begin + c)
            log.stall(name, layer, k, begin + c, end, "barrier")
            if t + 1 < stages[s].num_steps:
                pos[s][1] = t + 1
            else:
                run.finish[s, k] = begin + c
                pos[s] = [k + 1, 0]
                confirmed[s] = [-1] * len(stages[s].inputs)
        for s, cause in blocked:
            log.stall(stages[s].name, stages[s].layer, pos[s][0], begin, end, cause)
        active = [s for s in active if pos[s][0] < run.n]


def _all_done(env: simpy.Environment, events: list) -> simpy.Event:
    """An Event that fires when every event in ``events`` has been processed (a counter;
    cheaper than ``simpy.AllOf``, whose value we do not need)."""
    done = env.event()
    left = [len(events)]

    def _one(_event: object) -> None:
        left[0] -= 1
        if left[0] == 0:
            done.succeed()

    for ev in events:
        if ev.callbacks is None:
            left[0] -= 1
        else:
            ev.callbacks.append(_one)
    if left[0] == 0:
        done.succeed()
    return done


def _sender(run: _Pipeline, e: int):
    """An edge's output port: sends its bundles in order over the busiest route's links."""
    env, log = run.env, run.log
    edge = run.plan.edges[e]
    name = edge.name or f"edge{e}"
    layer = run.plan.stages[edge.source].layer
    queue = run.queues[e]
    ser_all, lat_all = edge.link_cycles.tolist(), edge.latency_cycles.tolist()
    while True:
        if not queue:
            run.wake[e] = env.event()
            yield run.wake[e]
        k, slot = queue.popleft()
        v = k % run.nv
        ser, lat = ser_all[v][slot], lat_all[v][slot]
        if ser > 0:
            t0 = env.now
            held = []
            for link_id in edge.routes[v][slot]:
                res = run.link(link_id)
                req = res.request()
                held.append((res, req))
                yield req
            log.stall(name, layer, k, t0, env.now, "link")
            t1 = env.now
            yield env.timeout(ser)
            log.busy(name, layer, k, t1, env.now)
            for res, req in held:
                res.release(req)
        if lat > 0:
            env.timeout(lat).callbacks.append(functools.partial(run.arrived.fire, (e, k, slot)))
        else:
            run.arrived.fire((e, k, slot))


def simulate_plan(
    plan: PipelinePlan,
    *,
    num_samples: int = 1,
    frequency_mhz: float = 1.0,
    traffic: dict[str, int] | None = None,
    layer_traffic=None,
) -> TimingResult:
    """Run a plan as a stream of ``num_samples`` samples; see ``simulate_multicore``."""
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    if plan.input_buffer_samples < 1:
        raise ConfigError(f"input_buffer_samples must be >= 1, got {plan.input_buffer_samples}")
    out = plan.output % len(plan.stages)
    stream = _Pipeline(plan, num_samples)
    events = stream.run()
    if num_samples > 1:
        alone = _Pipeline(plan, 1)
        events += alone.run()
        latency = int(alone.finish[out, 0])
    else:
        latency = int(stream.finish[out, 0])
    fin = stream.finish[out]
    if num_samples > 1:
        interval = float(fin[-1] - fin[0]) / (num_samples - 1)
    else:
        interval = float(np.max(stream.finish[:, 0] - stream.start[:, 0]))
    if traffic is None:
        traffic, layer_traffic = _plan_traffic(plan, num_samples)
    return TimingResult(
        family="multicore",
        frequency_mhz=float(frequency_mhz),
        latency_cycles=latency,
        interval_cycles=interval,
        num_samples=num_samples,
        makespan_cycles=int(fin[-1]),
        intervals=stream.log.to_frame(),
        event_count=events,
        traffic=traffic,
        layer_traffic=layer_traffic,
    )


def _plan_traffic(plan: PipelinePlan, num_samples: int):
    """Stream totals and per-layer rows: synapse reads (bytes) and NoC bits × hops."""
    counts = np.bincount(np.arange(num_samples) % plan.num_variants, minlength=plan.num_variants)
    rows = []
    for s, st in enumerate(plan.stages):
        syn_bits = int(st.synaptic_events @ counts) * plan.weight_bits
        hops = sum(int(ed.bit_hops.sum(axis=1) @ counts) for ed in plan.edges if ed.source == s)
        rows.append({"layer": st.layer, "sram_read_bytes": -(-syn_bits // 8), "noc_bit_hops": hops})
    frame = pd.DataFrame(rows, columns=["layer", "sram_read_bytes", "noc_bit_hops"])
    traffic = {
        "sram_read_bytes": int(frame["sram_read_bytes"].sum()),
        "noc_bit_hops": int(frame["noc_bit_hops"].sum()),
    }
    return traffic, frame


# --------------------------------------------------------------------------------------------
# From mapping + trace to a plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Schedule:
    """Time-step semantics of one stage (see the module docstring)."""

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


def _receptive_active(m: np.ndarray, lay: ir.Conv2d, out_hw: tuple[int, int]) -> np.ndarray:
    """bool [slots, H_out·W_out]: output positions whose receptive field got an event."""
    kh, kw = lay.weight.shape[2:]
    p, s = lay.padding, lay.stride
    padded = np.pad(m, ((0, 0), (p, p), (p, p)))
    ho, wo = out_hw
    acc = np.zeros((m.shape[0], ho, wo), dtype=np.int64)
    for dy in range(kh):
        for dx in range(kw):
            acc += padded[:, dy : dy + (ho - 1) * s + 1 : s, dx : dx + (wo - 1) * s + 1 : s]
    return (acc > 0).reshape(m.shape[0], -1)


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
        if edge.kind == "one_to_one":
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
        if kind == "one_to_one":
            per = self.group(x.reshape(slots, -1))
            return per[:, self.ps * self.tgt.num_cores + self.pt]
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


def _bundles(geo: _EdgeGeometry, bits: np.ndarray, hw, num_links: int, tokens: bool):
    """Link cycles, latency, route and bit-hops of each slot's bundle (vectorised over pairs)."""
    loads = cost.link_loads(bits, geo.route_pair, geo.route_link, num_links)
    peak = loads.max(axis=1) if num_links else np.zeros(bits.shape[0], np.int64)
    ser = cost.link_cycles(peak, hw.noc.link_bits_per_cycle)
    lat_per_hop = int(hw.noc.hop_latency_cycles)
    max_hops = int(geo.hops.max()) if geo.hops.size else 0
    lat = np.zeros(bits.shape[0], np.int64)
    routes = []
    for t in range(bits.shape[0]):
        if peak[t] == 0:
            lat[t] = lat_per_hop * max_hops if tokens else 0
            routes.append(())
            continue
        lat[t] = lat_per_hop * int(geo.hops[bits[t] > 0].max())
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
    mapping: MulticoreMapping, trace: Trace, hw, *, num_variants: int = 1
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
    """
    net = mapping.network
    scheme = net.scheme
    width, height = mapping.mesh_width, mapping.mesh_height
    num_links = 4 * width * height
    tokens = int(hw.sync.barrier_cycles) == 0
    syn_rate, upd_rate = int(hw.core.synops_per_cycle), int(hw.core.neuron_updates_per_cycle)
    spike_bits = int(hw.noc.event_bits)
    psum_bits = spike_bits + int(hw.datapath.membrane_bits)
    encoding = schemes.get(scheme).input_encoding(net.meta)
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
    e_ser, e_lat, e_routes, e_hops = ([[None] * num_variants for _ in noc_edges] for _ in range(4))
    groupers: dict[str, _Grouper] = {}
    for v in range(num_variants):
        src = _SampleEvents(trace, net, v)
        psum_active: dict[str, np.ndarray] = {}
        for p in mapping.layers:
            lay = net.layer(p.name)
            sch = scheds[p.name]
            syn = np.zeros((sch.num_steps, p.num_cores), dtype=np.int64)
            for i, e in enumerate(in_edges[p.name]):
                if e.payload == "partial_sums":
                    act = psum_active[e.source]
                    channels = mapping.layer(e.source).shape[0]
                    x = np.broadcast_to(act[:, None, :], (act.shape[0], channels, act.shape[1]))
                else:
                    x = src.spikes(e.source)
                    syn_e = _synaptic(net, lay, p, e, src, groupers)
                    np.add.at(syn, sch.slot_step(i), syn_e)
                    if p.role == "partial_sum":
                        m = src.pooled_channel_sum(e.source, e.via)
                        psum_active[p.name] = _receptive_active(m, lay, p.shape[1:])
                if e.from_host:
                    continue
                j = edge_id[id(e)]
                bits = cost.bundle_bits(
                    geos[j].pair_events(x), psum_bits if e.payload == "partial_sums" else spike_bits
                )
                e_ser[j][v], e_lat[j][v], e_routes[j][v], e_hops[j][v] = _bundles(
                    geos[j], bits, hw, num_links, tokens
                )
            syn_total[p.name][v] = int(syn.sum())
            cyc = cost.step_cycles(
                syn, p.neurons_per_core[None, :], syn_rate, upd_rate, sch.updates_per_neuron
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
    return PipelinePlan(
        stages=tuple(stages),
        edges=edges,
        input_buffer_samples=int(hw.core.input_buffer_samples),
        barrier_cycles=int(hw.sync.barrier_cycles),
        weight_bits=int(hw.datapath.weight_bits),
    )


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
    x = src.spikes(edge.source)
    return groupers[p.name](x.reshape(x.shape[0], -1))


def _check(mapping: MulticoreMapping, trace: Trace, hw) -> None:
    if getattr(hw, "family", None) != "multicore":
        raise ConfigError(
            f"simulate_multicore needs a multicore config, got family "
            f"{getattr(hw, 'family', None)!r}"
        )
    if not isinstance(mapping, MulticoreMapping):
        raise ConfigError(
            f"simulate_multicore needs a MulticoreMapping, got {type(mapping).__name__}"
        )
    compiled = (
        mapping.mesh_width,
        mapping.mesh_height,
        mapping.neurons_per_core,
        mapping.synapse_bytes_per_core,
        mapping.weight_bits,
    )
    given = (
        hw.mesh.width,
        hw.mesh.height,
        hw.core.neurons_per_core,
        hw.core.synapse_bytes_per_core,
        hw.datapath.weight_bits,
    )
    if compiled != given:
        raise MappingError(
            f"the mapping was compiled for mesh {compiled[0]}x{compiled[1]}, "
            f"{compiled[2]} neurons and {compiled[3]} synapse bytes per core, "
            f"{compiled[4]}-bit weights; the hardware has {given[0]}x{given[1]}, "
            f"{given[2]}, {given[3]}, {given[4]}-bit: compile it again"
        )
    net = mapping.network
    if trace.network != net.name or trace.scheme != net.scheme:
        raise ConfigError(
            f"trace of '{trace.network}' ({trace.scheme}) does not belong to the "
            f"mapped network '{net.name}' ({net.scheme})"
        )


def simulate_multicore(
    mapping: MulticoreMapping, trace: Trace, hw, *, num_samples: int = 1
) -> TimingResult:
    """Time a stream of samples on a multi-core chip (MT-SNN appendix E, Fig. 7).

    Parameters
    ----------
    mapping
        From ``compile_multicore`` for the same hardware.
    trace
        A functional run of the mapped network with spikes kept; stream sample k uses trace
        sample k mod batch.
    hw
        The ``MulticoreConfig``.
    num_samples
        Samples in the stream.

    Returns
    -------
    TimingResult
        ``latency_cycles``: sample 0 alone, from its first input (cycle 0) to the end of the
        output layer's last step. ``interval_cycles``: (finish of the last sample − finish of
        the first) / (samples − 1) for a stream; for one sample, the longest stage occupancy
        (first step start to last step end), the interval a stream would approach.
        ``makespan_cycles``: finish of the last sample. ``event_count``: SimPy events processed
        (``env.step`` calls, of the stream and, for a stream, the one-sample latency run).
        ``traffic``: ``sram_read_bytes`` (synaptic operations × weight_bits / 8) and
        ``noc_bit_hops`` (Σ bundle bits × hops over XY routes); ``layer_traffic`` per layer.

    Raises
    ------
    ConfigError
        Wrong family, a trace without spikes or of another network, ``num_samples`` < 1.
    MappingError
        The mapping was compiled for a different mesh or core capacity.
    """
    _check(mapping, trace, hw)
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    plan = build_plan(mapping, trace, hw, num_variants=min(num_samples, trace.batch_size))
    return simulate_plan(plan, num_samples=num_samples, frequency_mhz=hw.clock.frequency_mhz)
