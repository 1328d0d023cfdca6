"""SimPy model of the PE-array accelerator: load → PE → neuron → write-back per layer.

Imports ``ir``, ``trace``, ``hw``, ``mapping``, ``errors`` and ``timing``. The processes only
*sequence* costs: every cycle count comes from ``timing.cost`` arrays computed before the event
loop starts (``timing.pe_array_costs``), so one SimPy event stands for one tile (or one group of
tiles, see ``simulate_pe_array``), never a spike (DESIGN decision 4).
"""

from __future__ import annotations

import itertools
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from neurosim.errors import MappingError
from neurosim.hw import PEArrayConfig, reuse_key
from neurosim.mapping.pe_array import PEArrayMapping, PELayerSchedule, weight_prefetch_bytes
from neurosim.timing import cost
from neurosim.timing.activity import TraceStats
from neurosim.timing.pe_array_costs import LayerCosts, layer_costs
from neurosim.timing.pe_array_maxplus import STAGES, maxplus_stream
from neurosim.timing.result import (
    Columns,
    TimingResult,
    check_cycle_bound,
    log_totals,
)
from neurosim.timing.stages import BUSY, StageLog, no_intervals
from neurosim.trace import Trace

TRAFFIC_KEYS = ("dram_read_bytes", "dram_write_bytes", "sram_read_bytes", "sram_write_bytes")
"""Traffic totals of a PE-array run (``TimingResult.traffic`` and ``layer_traffic`` columns)."""

ENGINES = ("simpy", "maxplus")
"""How ``simulate_pe_array`` runs the pipeline: SimPy processes, or the exact max-plus recurrence
of ``timing.pipeline`` (same intervals, events and times, without an event loop)."""

AUTO_MAX_TILES = 1024
"""With ``tiles_per_event=None``, a layer with more tiles than this (per sample) runs its tiles
in groups, so that it has about this many work items (see ``simulate_pe_array``)."""


def _auto_tiles_per_item(sched: PELayerSchedule, limit: int) -> int:
    """1 if the layer has at most ``limit`` tiles, else the smallest group size that brings it
    to about ``limit`` items (capped at one whole (o, h) row)."""
    if sched.num_tiles <= limit:
        return 1
    row = sched.tiles[2] * sched.tiles[3]
    return min(row, cost.ceil_div(sched.num_tiles, limit))


# --------------------------------------------------------------------------------------------
# SimPy processes (generator functions with explicit state; STYLE §4.7)
# --------------------------------------------------------------------------------------------

Proc = Generator[Any, Any, Any]

# The processes below record their intervals inline (``StageLog.record`` with integer keys and
# cause codes looked up once per process): a helper generator per wait measured 17 % of a run.


def _load(
    env: simpy.Environment,
    log: StageLog,
    out: simpy.Store,
    layer: str,
    sample: int,
    cycles: list[int],
    prefetch: int = 0,
) -> Proc:
    """Read each item's bytes from DRAM (its burst), then queue it for the PE array; after the
    last item, fetch the next layer's first weight block (``prefetch`` cycles)."""
    key, full = log.key(f"{layer}.load", layer), log.code("backpressure")
    record, timeout, put = log.record, env.timeout, out.put
    for item, c in enumerate(cycles):
        if c > 0:
            t = env.now
            yield timeout(c)
            record(key, sample, BUSY, t, env.now)
        t = env.now
        yield put(item)
        record(key, sample, full, t, env.now)
    if prefetch > 0:
        t = env.now
        yield timeout(prefetch)
        record(key, sample, BUSY, t, env.now)
    return env.now


def _pe(
    env: simpy.Environment,
    log: StageLog,
    inp: simpy.Store,
    out: simpy.Store,
    psum: simpy.Container | None,
    layer: str,
    sample: int,
    cycles: list[int],
) -> Proc:
    """Reduce each loaded item; waiting for the load is ``memory``."""
    key = log.key(f"{layer}.pe", layer)
    memory, full = log.code("memory"), log.code("backpressure")
    record, timeout, get, put = log.record, env.timeout, inp.get, out.put
    for c in cycles:
        t = env.now
        item = yield get()
        record(key, sample, memory, t, env.now)
        if psum is not None:
            # No overlap with the neuron unit: wait until it has drained the partial sums.
            t = env.now
            yield psum.get(1)
            record(key, sample, full, t, env.now)
        if c > 0:
            t = env.now
            yield timeout(c)
            record(key, sample, BUSY, t, env.now)
        t = env.now
        yield put(item)
        record(key, sample, full, t, env.now)
    return env.now


def _neuron(
    env: simpy.Environment,
    log: StageLog,
    inp: simpy.Store,
    out: simpy.Store,
    psum: simpy.Container | None,
    layer: str,
    sample: int,
    cycles: list[int],
    waits: list[int] | None = None,
    wait_cause: str = "",
) -> Proc:
    """Update the neurons of each reduced item; waiting for the PE array is ``dependency``, the
    family's own wait before an update (``waits``) is ``wait_cause``."""
    key = log.key(f"{layer}.neuron", layer)
    dependency, full = log.code("dependency"), log.code("backpressure")
    wait_code = log.code(wait_cause) if waits is not None else BUSY
    record, timeout, get, put = log.record, env.timeout, inp.get, out.put
    for i, c in enumerate(cycles):
        t = env.now
        item = yield get()
        record(key, sample, dependency, t, env.now)
        if waits is not None and waits[i] > 0:
            t = env.now
            yield timeout(waits[i])
            record(key, sample, wait_code, t, env.now)
        if c > 0:
            t = env.now
            yield timeout(c)
            record(key, sample, BUSY, t, env.now)
        if psum is not None:
            yield psum.put(1)
        t = env.now
        yield put(item)
        record(key, sample, full, t, env.now)
    return env.now


def _writeback(
    env: simpy.Environment,
    log: StageLog,
    inp: simpy.Store,
    layer: str,
    sample: int,
    cycles: list[int],
    occ: list[int] | None = None,
    buffer: simpy.Container | None = None,
    latency: int = 0,
) -> Proc:
    """Write each item's outputs to DRAM; waiting for the neuron unit is ``dependency``.

    A posted write (``occ[i]`` > 0 bytes of the write ``buffer``) first waits for room in the
    buffer (``memory``), transfers, and leaves the buffer ``latency`` cycles later; after the
    last item the stage waits (``memory``) until its last posted write has left.
    """
    key = log.key(f"{layer}.writeback", layer)
    dependency, memory = log.code("dependency"), log.code("memory")
    record, timeout, get = log.record, env.timeout, inp.get
    done = env.now
    for i, c in enumerate(cycles):
        t = env.now
        yield get()
        record(key, sample, dependency, t, env.now)
        held = 0 if occ is None else occ[i]
        if held > 0:
            t = env.now
            yield buffer.put(held)
            record(key, sample, memory, t, env.now)
        if c > 0:
            t = env.now
            yield timeout(c)
            record(key, sample, BUSY, t, env.now)
        if held > 0:
            done = env.now + latency
            if latency > 0:
                timeout(latency).callbacks.append(lambda _, a=held: buffer.get(a))
            else:
                buffer.get(held)
    if done > env.now:
        t = env.now
        yield timeout(done - env.now)
        record(key, sample, memory, t, env.now)
    return env.now


def _run_stream(
    env: simpy.Environment,
    log: StageLog,
    hw: PEArrayConfig,
    layers: tuple[PELayerSchedule, ...],
    costs: dict[tuple[str, int], LayerCosts],
    num_samples: int,
    batch: int,
    finish: list[int],
) -> Proc:
    """Samples back to back; within a sample, layer by layer (the array runs one layer)."""
    buf = hw.buffers
    overlap = hw.neuron_unit.overlap_with_pe
    load_idle: dict[str, int] = {}
    for k in range(num_samples):
        for sched in layers:
            name = sched.name
            c = costs[(name, k % batch)]
            # The layer's load stage was idle since its last tile: waiting for its input.
            log.stall(f"{name}.load", name, k, load_idle.get(name, 0), env.now, "dependency")
            q_load = simpy.Store(env, capacity=max(1, buf.load_queue_tiles // c.tiles_per_item))
            q_pe = simpy.Store(env, capacity=max(1, buf.pe_queue_tiles // c.tiles_per_item))
            q_wb = simpy.Store(env, capacity=max(1, buf.writeback_queue_tiles // c.tiles_per_item))
            psum = None if overlap else simpy.Container(env, capacity=1, init=1)
            posted = c.occ is not None
            wbuf = simpy.Container(env, capacity=buf.write_buffer_bytes) if posted else None
            # Python ints keep every SimPy time an int (time is integer cycles).
            load = env.process(_load(env, log, q_load, name, k, c.load.tolist(), c.prefetch))
            env.process(_pe(env, log, q_load, q_pe, psum, name, k, c.pe.tolist()))
            waits = None if c.neuron_wait is None else c.neuron_wait.tolist()
            env.process(
                _neuron(env, log, q_pe, q_wb, psum, name, k, c.neuron.tolist(), waits, c.wait_cause)
            )
            occ = c.occ.tolist() if posted else None
            yield env.process(
                _writeback(
                    env, log, q_wb, name, k, c.writeback.tolist(), occ, wbuf, hw.dram.latency_cycles
                )
            )
            # The next layer starts when the load stage has also finished its prefetch.
            yield load
            load_idle[name] = load.value
        finish.append(env.now)


def _check_stream_bound(
    layers: tuple[PELayerSchedule, ...],
    costs: dict[tuple[str, int], LayerCosts],
    num_samples: int,
    batch: int,
) -> None:
    """ConfigError unless every work and wait cycle of the stream, summed (a bound no
    schedule exceeds), is within ``CYCLE_LIMIT``: both engines then count exactly."""
    per = {key: c.work_bound for key, c in costs.items()}
    counts = np.bincount(np.arange(num_samples) % batch, minlength=batch)
    bound = sum(
        per[(s.name, b)] * int(counts[b]) for s in layers for b in range(len(counts)) if counts[b]
    )
    check_cycle_bound(
        bound,
        "lower the DRAM latency or the sample count, or raise the DRAM bandwidth, the unroll "
        "factors or the neuron-unit lanes",
    )


def simulate_pe_array(
    mapping: PEArrayMapping,
    trace: Trace,
    hw: PEArrayConfig,
    *,
    num_samples: int = 1,
    tiles_per_event: int | None = None,
    engine: str = "simpy",
    stats: TraceStats | None = None,
    keep_intervals: bool = True,
) -> TimingResult:
    """Time ``num_samples`` samples on a PE array, layer by layer (MT-SNN App. E, Alg. 2).

    Per layer, four generator processes — load → pe → neuron → write-back — pass tiles through
    ``simpy.Store`` queues of the configured capacities (``buffers.*_queue_tiles``), so a full
    queue blocks its producer (``backpressure``). The PE array waiting for a load is
    ``memory``; the neuron unit waiting for the PE array and write-back waiting for the neuron
    unit are ``dependency``. Without ``neuron_unit.overlap_with_pe`` a one-tile partial-sum
    buffer makes the PE array wait (``backpressure``) until the neuron unit has drained the
    previous tile. A layer starts when the previous layer has written back its last tile of the
    same sample; its load stage records the wait since its own last tile as ``dependency``.
    Samples run back to back (no overlap between samples: the single array runs one layer at a
    time), sample k using trace sample k mod batch.

    Load and write-back are independent stages, as in hardware-models §1.4-§1.5: DRAM reads and
    writes travel on separate paths (AXI-style read and write channels), each at
    ``dram.bandwidth_gbps``, and do not contend. Reason: with one shared first-come-first-served
    channel the makespan is no longer monotone — a slower PE array can reorder bursts so that a
    layer ends earlier (found by the property tests: one cycle in about 600 random layers) —
    whereas stages that each serve their tiles in a fixed order form a max-plus system, in
    which more spikes or less bandwidth can never shorten a run. The price: when a layer reads
    and writes heavily at the same time, the model can overlap the two (ResNet-18's layers are
    dominated by one direction: the Add layers read, the convs without activation write).

    Parameters
    ----------
    mapping
        ``compile_pe_array(network, hw')`` for a ``hw'`` with the same unroll factors, buffers
        and datapath as ``hw`` (clock, DRAM, zero skipping and neuron unit may differ).
    trace
        ``functional.run`` of the mapping's network (with ``keep_spikes=True``).
    hw
        The PE-array description to time.
    num_samples
        Samples in the stream.
    tiles_per_event
        Tiles per SimPy work item. 1 = every tile is an item (exact pipeline fill and drain per
        tile). None (default) = 1, except that a layer with more than ``AUTO_MAX_TILES`` tiles
        sums consecutive tiles of the same (o, h) row into one item (cycle sums are exact; the
        pipeline overlap between stages becomes item-grained, and the queue capacities count
        items, each capacity divided by the group size, at least 1). On the shipped ``pe_array``
        config ResNet-18/CIFAR's six 2048-tile layer1 layers run in pairs of tiles.
    engine
        ``"simpy"`` runs the processes above; ``"maxplus"`` evaluates the same pipeline as the
        max-plus recurrence of ``timing.pipeline`` — identical intervals, event count, latency
        and traffic (tested), about ten times faster; the rows of ``intervals`` are ordered by
        sample, layer and stage instead of by event time.
    stats
        A ``TraceStats`` of ``trace`` shared by many calls (a sweep): input activity and PE
        cycles are computed once per trace sample and tiling instead of once per call.
    keep_intervals
        False: ``totals`` (cycles summed per stage, layer, sample, kind and cause) instead of
        every interval; ``intervals`` is empty (see ``families.simulate``).

    Returns
    -------
    TimingResult
        ``latency_cycles`` = finish of sample 0; ``interval_cycles`` = mean cycles between
        consecutive finishes (= latency for one sample); ``event_count`` = SimPy events
        processed, counted by stepping the environment (``env.step()``) until its queue is
        empty; ``traffic`` and ``layer_traffic`` sum DRAM and SRAM bytes over the stream.
    """
    if hw.family != "pe_array":
        raise MappingError(
            f"simulate_pe_array needs a pe_array hardware description, got family '{hw.family}'"
        )
    if getattr(mapping, "family", None) != "pe_array":
        raise MappingError("simulate_pe_array needs a PEArrayMapping (compile_pe_array)")
    if reuse_key(mapping.hw, "mapping") != reuse_key(hw, "mapping"):
        raise MappingError(
            "the mapping was compiled for different unroll factors, buffers or "
            "datapath widths than this hardware description; recompile it"
        )
    if num_samples < 1:
        raise MappingError(f"num_samples must be >= 1, got {num_samples}")
    if engine not in ENGINES:
        raise MappingError(f"engine must be one of {ENGINES}, got {engine!r}")
    if stats is not None and stats.trace is not trace:
        raise MappingError(
            "stats were computed for another trace; pass TraceStats(network, trace) of this trace"
        )
    if trace.network != mapping.network.name:
        raise MappingError(
            f"trace of network '{trace.network}' does not belong to the mapped "
            f"network '{mapping.network.name}'"
        )
    batch = int(trace.batch_size)
    costs: dict[tuple[str, int], LayerCosts] = {}
    shared: dict = {}
    # Weight prefetch within a sample: layer i fetches layer i+1's first block after its last
    # tile (the first layer of a sample loads its own: samples stay independent).
    layers = mapping.layers
    ahead = [
        weight_prefetch_bytes(a, b, hw.buffers.weight_bytes) if hw.buffers.prefetch_weights else 0
        for a, b in itertools.pairwise(layers)
    ]
    ahead.append(0)
    behind = [0, *ahead[:-1]]
    if tiles_per_event is not None and int(tiles_per_event) < 1:
        raise MappingError(f"tiles_per_event must be >= 1, got {tiles_per_event}")
    group = [
        _auto_tiles_per_item(sched, AUTO_MAX_TILES)
        if tiles_per_event is None
        else int(tiles_per_event)
        for sched in layers
    ]
    for b in range(min(num_samples, batch)):
        for i, sched in enumerate(layers):
            costs[(sched.name, b)] = layer_costs(
                mapping,
                sched,
                trace,
                hw,
                b,
                tiles_per_item=group[i],
                stats=stats,
                shared=shared,
                prefetched=behind[i],
                prefetch_next=ahead[i],
            )

    _check_stream_bound(mapping.layers, costs, num_samples, batch)
    totals = sums = None
    if engine == "maxplus":
        intervals, totals, finish, events, makespan, sums = maxplus_stream(
            hw, mapping.layers, costs, num_samples, batch, keep_intervals=keep_intervals
        )
    else:
        env = simpy.Environment()
        log = StageLog()
        finish = []
        env.process(_run_stream(env, log, hw, mapping.layers, costs, num_samples, batch, finish))
        events = 0
        step = env.step
        try:
            while True:
                step()
                events += 1
        except simpy.core.EmptySchedule:
            pass
        makespan = int(env.now)
        if keep_intervals:
            intervals = log.to_frame()
        else:
            (totals, sums), intervals = log_totals(log), no_intervals()

    columns: dict[str, list] = {"layer": [], **{key: [] for key in TRAFFIC_KEYS}}
    for sched in mapping.layers:
        columns["layer"].append(sched.name)
        for key in TRAFFIC_KEYS:
            columns[key].append(
                sum(costs[(sched.name, k % batch)].traffic[key] for k in range(num_samples))
            )
    traffic = {key: int(sum(columns[key])) for key in TRAFFIC_KEYS}
    # A table formed when read (a sweep point's energy reads the columns), from arrays: the
    # dtypes pandas gives the lists.
    layer_traffic = Columns(
        {
            "layer": np.array(columns["layer"], dtype=object),
            **{key: np.array(columns[key], np.int64) for key in TRAFFIC_KEYS},
        }
    )
    latency = int(finish[0])
    interval = (
        float(finish[-1] - finish[0]) / (num_samples - 1) if num_samples > 1 else float(latency)
    )
    return TimingResult(
        family="pe_array",
        frequency_mhz=float(hw.clock.frequency_mhz),
        latency_cycles=latency,
        interval_cycles=interval,
        num_samples=num_samples,
        makespan_cycles=makespan,
        intervals=intervals,
        totals=totals,
        event_count=events,
        traffic=traffic,
        layer_traffic=layer_traffic,
        stage_order=tuple(f"{s.name}.{st}" for s in mapping.layers for st in STAGES),
        sums=sums,
    )
