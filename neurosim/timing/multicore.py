"""SimPy timing of the multi-core chip: every layer resident on its cores, samples pipelined.

Imports ``errors``, ``mapping.multicore``, ``trace`` and the ``timing`` helpers
(``multicore_plan`` for the plan, ``stages`` for busy/stall records, ``result``).

Two steps. ``build_plan`` (in ``timing.multicore_plan``) turns a mapping and a trace into a
``PipelinePlan``: for each layer (stage) its cycles per time-step (max over its cores, which
work in lockstep), which input slots each step needs, and for each layer-to-layer edge the cost
of every time-step's spike bundle, for every sample variant at once (vectorised numpy and
compiled passes over the trace's spikes, ``timing.multicore_traffic``).
``simulate_plan`` then runs the plan as a stream of samples in one ``simpy.Environment``
(MT-SNN appendix E, Fig. 7): one process per layer, one sender process per edge, one
first-come-first-served link (``_Link``: a capacity-1 ``simpy.Resource``'s events) per directed
mesh link a bundle holds.

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
from collections.abc import Callable

import numpy as np
import simpy
from simpy.core import EmptySchedule
from simpy.events import Event

from neurosim.errors import ConfigError, MappingError
from neurosim.hw.energy_table import load_energy_table
from neurosim.mapping.multicore import MulticoreMapping
from neurosim.timing.multicore_plan import EVENT_KEYS, PipelinePlan, build_plan
from neurosim.timing.result import Columns, TimingResult, check_cycle_bound, log_totals
from neurosim.timing.stages import BUSY, StageLog, no_intervals
from neurosim.trace import Trace

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


class _Release(Event):
    """A link's release: triggered at once, it grants the next request when processed. The
    same event as ``Event()`` + a callback + ``succeed()``, initialised inline as
    ``simpy.Timeout`` does (one of the two events of every link a bundle holds)."""

    def __init__(self, env: simpy.Environment, grant: Callable[[object], None]) -> None:
        self.env = env
        self.callbacks = [grant]
        self._value = None
        self._ok = True
        env.schedule(self)


class _Link:
    """A directed mesh link that one bundle holds at a time, first come first served.

    The events of a capacity-1 ``simpy.Resource`` — a request is one event, triggered when
    granted; a release is one event, triggered at once, that grants the next request when it
    is processed — without the Resource's generic put/get queues (a third of a one-sample run).
    """

    __slots__ = ("env", "holder", "waiting")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.holder: simpy.Event | None = None
        self.waiting: deque[simpy.Event] = deque()

    def request(self) -> simpy.Event:
        """An Event that triggers when the link is granted (at once if it is free)."""
        ev = Event(self.env)
        if self.holder is None and not self.waiting:
            self.holder = ev  # a free link with no queue: granted at once (``_grant``)
            ev.succeed()
            return ev
        self.waiting.append(ev)
        if self.holder is None:
            self._grant()
        return ev

    def release(self, request: simpy.Event) -> None:
        """Free the link now; the next request is granted when the release event is
        processed."""
        if self.holder is request:
            self.holder = None
        _Release(self.env, self._grant)

    def _grant(self, _event: object = None) -> None:
        if self.holder is None and self.waiting:
            self.holder = self.waiting.popleft()
            self.holder.succeed()


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
        self.links: dict[int, _Link] = {}
        self.out_edges: list[list[int]] = [[] for _ in plan.stages]
        for e, ed in enumerate(plan.edges):
            self.out_edges[ed.source].append(e)
        shape = (len(plan.stages), num_samples)
        self.start = np.full(shape, -1, dtype=np.int64)
        self.finish = np.full(shape, -1, dtype=np.int64)
        # Plain Python lists: the processes index them once per step.
        self.need = [st.need.tolist() for st in plan.stages]
        self.emit = [st.emit.tolist() for st in plan.stages]
        self.cycles = [st.step_cycles.tolist() for st in plan.stages]

    def link(self, link_id: int) -> _Link:
        res = self.links.get(link_id)
        if res is None:
            res = self.links[link_id] = _Link(self.env)
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
    key, record = log.key(st.name, st.layer), log.record
    full, dependency = log.code("backpressure"), log.code("dependency")
    wait_code = log.code(st.wait_cause) if st.wait_cycles > 0 else BUSY
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
                        record(key, k, full, t0, env.now)
            for i, e in enumerate(inputs):
                hi = need[i][t]
                while confirmed[i] < hi:
                    confirmed[i] += 1
                    ev = run.arrived.wait((e, k, confirmed[i]))
                    if ev is not None:
                        t0 = env.now
                        yield ev
                        record(key, k, dependency, t0, env.now)
            if t == 0:
                run.started.fire((s, k))
                run.start[s, k] = env.now
            if st.wait_cycles > 0:
                t0 = env.now
                yield env.timeout(st.wait_cycles)
                record(key, k, wait_code, t0, env.now)
            c = cyc[t]
            if c > 0:
                t0 = env.now
                yield env.timeout(c)
                record(key, k, BUSY, t0, env.now)
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
            # The family's wait before the step's work, then the work itself.
            c = stages[s].wait_cycles + run.cycles[s][k % run.nv][t]
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
            w = stages[s].wait_cycles
            log.stall(name, layer, k, begin, begin + w, stages[s].wait_cause or "barrier")
            log.busy(name, layer, k, begin + w, begin + c)
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
    key = log.key(edge.name or f"edge{e}", run.plan.stages[edge.source].layer)
    record, link = log.record, log.code("link")
    queue, links = run.queues[e], run.links
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
                res = links.get(link_id) or run.link(link_id)
                req = res.request()
                held.append((res, req))
                yield req
            record(key, k, link, t0, env.now)
            t1 = env.now
            yield env.timeout(ser)
            record(key, k, BUSY, t1, env.now)
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
    keep_intervals: bool = True,
) -> TimingResult:
    """Run a plan as a stream of ``num_samples`` samples; see ``simulate_multicore``."""
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    if plan.input_buffer_samples < 1:
        raise ConfigError(f"input_buffer_samples must be >= 1, got {plan.input_buffer_samples}")
    out = plan.output % len(plan.stages)
    _check_plan_bound(plan, num_samples)
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
    totals = sums = None
    if not keep_intervals:
        totals, sums = log_totals(stream.log)
    return TimingResult(
        family="multicore",
        frequency_mhz=float(frequency_mhz),
        latency_cycles=latency,
        interval_cycles=interval,
        num_samples=num_samples,
        makespan_cycles=int(fin[-1]),
        intervals=stream.log.to_frame() if keep_intervals else no_intervals(),
        event_count=events,
        traffic=traffic,
        layer_traffic=layer_traffic,
        totals=totals,
        sums=sums,
    )


def _check_plan_bound(plan: PipelinePlan, num_samples: int) -> None:
    """ConfigError unless every step, wait, bundle and barrier cycle of the stream, summed (a
    bound no schedule exceeds), is within ``CYCLE_LIMIT``."""
    counts = np.bincount(np.arange(num_samples) % plan.num_variants, minlength=plan.num_variants)
    # Every [variants, ...] array side by side: one sum per kind instead of one per stage.
    arrays = [st.step_cycles for st in plan.stages]
    arrays += [a for ed in plan.edges for a in (ed.link_cycles, ed.latency_cycles)]
    per = np.concatenate(arrays, axis=1).sum(axis=1, dtype=np.float64)
    per += float(sum((st.wait_cycles + plan.barrier_cycles) * st.num_steps for st in plan.stages))
    check_cycle_bound(
        2 * float(per @ counts),
        "lower noc.hop_latency_cycles, sync.barrier_cycles or the sample count, or raise the "
        "per-cycle rates of the cores and links",
    )


def _plan_traffic(plan: PipelinePlan, num_samples: int) -> tuple[dict[str, int], Columns]:
    """Stream totals and per-layer rows: synapse reads (bytes) and NoC bits × hops. The rows
    are ``Columns``, a table formed when read (the energy model reads the arrays)."""
    counts = np.bincount(np.arange(num_samples) % plan.num_variants, minlength=plan.num_variants)
    stages = plan.stages
    syn = np.stack([st.synaptic_events for st in stages]) @ counts
    # Bits × hops are counted at the sending layer: each edge's stream total, by source.
    sent = [ed.bit_hops.sum(axis=1) for ed in plan.edges]
    hops = np.zeros(len(stages), np.int64)
    if sent:
        np.add.at(hops, [ed.source for ed in plan.edges], np.stack(sent) @ counts)
    events = np.einsum("svk,v->sk", np.stack([st.event_counts for st in stages]), counts)
    columns = {
        "layer": np.array([st.layer for st in stages], dtype=object),
        "sram_read_bytes": -(-(syn * plan.weight_bits) // 8),
        "noc_bit_hops": hops,
        "synaptic_ops": syn,
        **{key: events[:, i] for i, key in enumerate(EVENT_KEYS)},
    }
    traffic = {key: int(col.sum()) for key, col in columns.items() if key != "layer"}
    return traffic, Columns(columns)


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
    mapping: MulticoreMapping,
    trace: Trace,
    hw,
    *,
    num_samples: int = 1,
    keep_intervals: bool = True,
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
    keep_intervals
        False: ``totals`` (cycles summed per stage, layer, sample, kind and cause) instead of
        every interval, summed from the stage log's integer records.

    Returns
    -------
    TimingResult
        ``latency_cycles``: sample 0 alone, from its first input (cycle 0) to the end of the
        output layer's last step. ``interval_cycles``: (finish of the last sample − finish of
        the first) / (samples − 1) for a stream; for one sample, the longest stage occupancy
        (first step start to last step end), the interval a stream would approach.
        ``makespan_cycles``: finish of the last sample. ``event_count``: SimPy events processed
        (``env.step`` calls, of the stream and, for a stream, the one-sample latency run).
        ``traffic``: ``sram_read_bytes`` (synaptic operations × weight_bits / 8),
        ``noc_bit_hops`` (Σ bundle bits × hops over XY routes), ``synaptic_ops`` and the event
        counts a per-event energy table prices (``multicore_plan.EVENT_KEYS``: neuron-steps,
        active ones, spikes out, messages, E-W and N-S hops); ``layer_traffic`` per layer.

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
    table = None
    if hw.core.op_latencies == "table":
        table = load_energy_table(hw.energy_table)
        if not table.prices_core_ops:
            raise ConfigError(
                f"core.op_latencies = 'table' needs an energy table with [[core_op]] entries; "
                f"'{table.name}' has none (energy_table = {hw.energy_table!r})"
            )
    plan = build_plan(
        mapping, trace, hw, num_variants=min(num_samples, trace.batch_size), table=table
    )
    return simulate_plan(
        plan,
        num_samples=num_samples,
        frequency_mhz=hw.clock.frequency_mhz,
        keep_intervals=keep_intervals,
    )
