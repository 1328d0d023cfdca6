"""The max-plus engine equals the SimPy processes, interval for interval (Brian2-style
cross-implementation equivalence), and ``TraceStats`` memoisation changes no number."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import convert, families, functional, hw, timing
from neurosim.errors import ConfigError, MappingError
from neurosim.families import compile as compile_any
from neurosim.mapping.pe_array import compile_pe_array
from neurosim.timing import pe_array as pe_timing
from neurosim.timing import pipeline, pipeline_stream
from neurosim.timing.activity import TraceStats
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.result import Columns, log_totals, sum_cycles, summarise_intervals
from neurosim.timing.stages import STALL_CAUSES, StageLog
from tests.conftest import random_codes, random_qann
from tests.timing.test_pe_array import _config, _random_case, _trace


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _assert_same(a: timing.TimingResult, b: timing.TimingResult) -> None:
    pd.testing.assert_frame_equal(_sorted(a.intervals), _sorted(b.intervals))
    assert a.event_count == b.event_count
    assert (a.latency_cycles, a.interval_cycles, a.makespan_cycles) == (
        b.latency_cycles,
        b.interval_cycles,
        b.makespan_cycles,
    )
    assert dict(a.traffic) == dict(b.traffic)
    pd.testing.assert_frame_equal(a.layer_traffic, b.layer_traffic)
    pd.testing.assert_frame_equal(a.per_stage(), b.per_stage())
    pd.testing.assert_frame_equal(a.per_layer(), b.per_layer())


def _simpy_layer(load, pe, neuron, wb, caps, psum, occ=None, buffer=0, latency=0, prefetch=0):
    """The four SimPy processes of one layer alone: (intervals, events, end)."""
    env = simpy.Environment()
    log = StageLog()
    q_load, q_pe, q_wb = (simpy.Store(env, capacity=c) for c in caps)
    token = simpy.Container(env, capacity=1, init=1) if psum else None
    wbuf = simpy.Container(env, capacity=buffer) if occ is not None else None
    load_proc = env.process(pe_timing._load(env, log, q_load, "x", 0, load, prefetch))
    env.process(pe_timing._pe(env, log, q_load, q_pe, token, "x", 0, pe))
    env.process(pe_timing._neuron(env, log, q_pe, q_wb, token, "x", 0, neuron))
    wb_proc = env.process(pe_timing._writeback(env, log, q_wb, "x", 0, wb, occ, wbuf, latency))

    def layer():
        yield wb_proc
        yield load_proc

    env.process(layer())
    events = -2  # the helper process above (the stream's controller is counted apart)
    try:
        while True:
            env.step()
            events += 1
    except simpy.core.EmptySchedule:
        pass
    return log.to_frame(), events, env.now


def test_hand_case_three_items():
    """Load 1, PE 5, neuron 1, write-back 1 cycle per item, queues of 1, overlap on:
    the PE array is the bottleneck. Load puts at 1, 2 and (queue full until the PE takes item
    1 at 6) 6; PE works [1, 6), [6, 11), [11, 16); neuron [6, 7), [11, 12), [16, 17);
    write-back [7, 8), [12, 13), [17, 18). Events: 8 process starts/ends + 6 queue operations
    per item + 4 timeouts per item = 8 + 3·10 = 38."""
    times = pipeline.layer_times(
        0, [1, 1, 1], [5, 5, 5], [1, 1, 1], [1, 1, 1], cap_load=1, cap_pe=1, cap_wb=1, psum=False
    )
    assert times[:, pipeline.LOAD_PUT].tolist() == [1, 2, 6]
    assert times[:, pipeline.PE_END].tolist() == [6, 11, 16]
    assert times[:, pipeline.NEURON_END].tolist() == [7, 12, 17]
    assert times[:, pipeline.WB_END].tolist() == [8, 13, 18]
    assert pipeline.layer_events([1] * 3, [5] * 3, [1] * 3, [1] * 3, psum=False) == 38
    _, events, end = _simpy_layer([1] * 3, [5] * 3, [1] * 3, [1] * 3, (1, 1, 1), False)
    assert (events, end) == (38, 18)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(st.tuples(*(st.integers(0, 9),) * 4), min_size=1, max_size=25),
    caps=st.tuples(*(st.integers(1, 3),) * 3),
    psum=st.booleans(),
)
def test_one_layer_equals_simpy(items, caps, psum):
    """Random per-item cycles (zeros included), queue capacities and partial-sum mode."""
    load, pe, neuron, wb = (list(col) for col in zip(*items, strict=True))
    frame, events, end = _simpy_layer(load, pe, neuron, wb, caps, psum)
    times = pipeline.layer_times(
        0, load, pe, neuron, wb, cap_load=caps[0], cap_pe=caps[1], cap_wb=caps[2], psum=psum
    )
    assert int(times[-1, pipeline.WB_END]) == end
    assert pipeline.layer_events(load, pe, neuron, wb, psum=psum) == events
    busy = frame[frame["kind"] == "busy"]
    for stage, col in (
        ("load", pipeline.LOAD_START),
        ("pe", pipeline.PE_PSUM),
        ("neuron", pipeline.NEURON_GOT),
        ("writeback", pipeline.WB_GOT),
    ):
        starts = busy.loc[busy["stage"] == f"x.{stage}", "start_cycles"].tolist()
        cycles = {"load": load, "pe": pe, "neuron": neuron, "writeback": wb}[stage]
        assert starts == [int(t) for t, c in zip(times[:, col], cycles, strict=True) if c > 0]


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(*(st.integers(0, 9),) * 4, st.integers(0, 6)), min_size=1, max_size=25
    ),
    caps=st.tuples(*(st.integers(1, 3),) * 3),
    psum=st.booleans(),
    buffer=st.integers(6, 20),
    latency=st.integers(0, 30),
    prefetch=st.integers(0, 40),
)
def test_posted_writes_and_prefetch_equal_simpy(items, caps, psum, buffer, latency, prefetch):
    """Posted writes through a write buffer (random occupancies, zeros included) and a weight
    prefetch after the last load: the max-plus times, intervals and event count equal the
    SimPy processes'."""
    load, pe, neuron, wb, occ = (list(col) for col in zip(*items, strict=True))
    frame, events, end = _simpy_layer(
        load, pe, neuron, wb, caps, psum, occ, buffer, latency, prefetch
    )
    times = pipeline.layer_times(
        0,
        load,
        pe,
        neuron,
        wb,
        cap_load=caps[0],
        cap_pe=caps[1],
        cap_wb=caps[2],
        psum=psum,
        occ=occ,
        buffer=buffer,
        latency=latency,
    )
    _, drained, layer_end = pipeline.layer_end(times, 0, prefetch)
    assert layer_end == end
    drain = drained - int(times[-1, pipeline.WB_END])
    assert (
        pipeline.layer_events(
            load,
            pe,
            neuron,
            wb,
            psum=psum,
            occ=occ,
            latency=latency,
            prefetch=prefetch,
            drain=drain,
        )
        == events
    )
    rows = pipeline.layer_intervals(times, load_wait=(0, 0), prefetch=prefetch)
    got = sorted(
        (
            f"x.{('load', 'pe', 'neuron', 'writeback')[r[0]]}",
            ("busy", "stall")[r[1]],
            pipeline.CAUSES[r[2]],
            int(r[3]),
            int(r[4]),
        )
        for r in rows
    )
    cols = ["stage", "kind", "cause", "start_cycles", "end_cycles"]
    want = sorted((a, b, c, int(d), int(e)) for a, b, c, d, e in frame[cols].itertuples(False))
    assert got == want


@settings(max_examples=100, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(
            st.lists(st.tuples(*(st.integers(0, 9),) * 4), min_size=0, max_size=8),
            st.tuples(*(st.integers(1, 3),) * 3),
            st.integers(0, 2),
        ),
        min_size=0,
        max_size=7,
    ),
    psum=st.booleans(),
)
def test_stream_summary_equals_layer_by_layer(blocks, psum):
    """Random blocks (empty ones included) on 3 layers: the one compiled call gives every
    block's summed intervals, end and the event count of running them one by one."""
    arrays, caps, layers = [], [], []
    for items, cap, layer in blocks:
        cols = (
            [np.array(c, np.int64) for c in zip(*items, strict=True)]
            if items
            else [np.zeros(0, np.int64)] * 4
        )
        arrays.append(tuple(cols))
        caps.append(cap)
        layers.append(layer)
    cells, ends, events = pipeline_stream.stream_summary(
        arrays,
        np.array(caps, np.int64).reshape(len(blocks), 3),
        np.array(layers, np.int64),
        3,
        psum=psum,
    )
    now, want_events, idle = 0, 2, {}
    for b, (cols, cap, layer) in enumerate(zip(arrays, caps, layers, strict=True)):
        times = pipeline.layer_times(
            now, *cols, cap_load=cap[0], cap_pe=cap[1], cap_wb=cap[2], psum=psum
        )
        rows = pipeline.layer_intervals(times, load_wait=(idle.get(layer, 0), now))
        want = np.zeros(pipeline.NUM_TOTALS, np.int64)
        np.add.at(
            want,
            (rows[:, 0] * 2 + rows[:, 1]) * pipeline.NUM_CAUSES + rows[:, 2],
            rows[:, 4] - rows[:, 3],
        )
        np.testing.assert_array_equal(cells[b], want)
        want_events += pipeline.layer_events(*cols, psum=psum)
        if len(times):
            idle[layer] = int(times[-1, pipeline.LOAD_PUT])
            now = int(times[-1, pipeline.WB_END])
        else:
            idle[layer] = now
        assert ends[b] == now
    assert events == want_events


@settings(max_examples=100, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(
            st.lists(st.tuples(*(st.integers(0, 9),) * 5, st.integers(0, 6)), max_size=8),
            st.tuples(*(st.integers(1, 3),) * 3),
            st.integers(0, 2),
            st.integers(0, 5),
        ),
        max_size=6,
    ),
    psum=st.booleans(),
    buffer=st.integers(6, 12),
    latency=st.integers(0, 7),
)
def test_stream_summary_with_waits_posted_writes_and_prefetch(blocks, psum, buffer, latency):
    """Neuron waits, posted writes (occupancy up to the buffer) and weight prefetch: the
    one-pass kernel gives each block's cells, end and events as ``layer_times``,
    ``layer_intervals``, ``layer_end`` and ``layer_events`` block by block."""
    arrays = [
        tuple(np.array(c, np.int64) for c in zip(*items, strict=True))
        if items
        else (np.zeros(0, np.int64),) * 6
        for items, _, _, _ in blocks
    ]
    caps = np.array([cap for _, cap, _, _ in blocks], np.int64).reshape(len(blocks), 3)
    layers = np.array([layer for _, _, layer, _ in blocks], np.int64)
    ahead = np.array([pf for _, _, _, pf in blocks], np.int64)
    cells, ends, events = pipeline_stream.stream_summary(
        arrays, caps, layers, 3, psum=psum, prefetch=ahead, buffer=buffer, latency=latency
    )
    now, want_events, idle = 0, 2, {}
    for b, (load, pe, neuron, wb, wait, occ) in enumerate(arrays):
        kw = {"psum": psum, "wait": wait, "occ": occ, "latency": latency}
        cap = caps[b]
        times = pipeline.layer_times(
            now,
            load,
            pe,
            neuron,
            wb,
            cap_load=cap[0],
            cap_pe=cap[1],
            cap_wb=cap[2],
            buffer=buffer,
            **kw,
        )
        rows = pipeline.layer_intervals(
            times, load_wait=(idle.get(layers[b], 0), now), prefetch=int(ahead[b])
        )
        want = np.zeros(pipeline.NUM_TOTALS, np.int64)
        np.add.at(
            want,
            (rows[:, 0] * 2 + rows[:, 1]) * pipeline.NUM_CAUSES + rows[:, 2],
            rows[:, 4] - rows[:, 3],
        )
        np.testing.assert_array_equal(cells[b], want)
        load_free, drained, end = pipeline.layer_end(times, now, int(ahead[b]))
        wb_end = int(times[-1, pipeline.WB_END]) if len(times) else now
        want_events += pipeline.layer_events(
            load, pe, neuron, wb, prefetch=int(ahead[b]), drain=drained - wb_end, **kw
        )
        idle[layers[b]], now = load_free, end
        assert ends[b] == now
    assert events == want_events


@settings(max_examples=60, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(
            st.lists(st.tuples(*(st.integers(0, 9),) * 5, st.integers(0, 6)), max_size=5),
            st.lists(st.integers(0, 9), min_size=1, max_size=4),
            st.integers(1, 4),
        ),
        max_size=5,
    ),
    psum=st.booleans(),
    latency=st.integers(0, 5),
)
def test_stream_summary_repeated_pe_runs(blocks, psum, latency):
    """A block's PE cycles given as one run and a repeat count (a layer's o blocks) give what
    the whole repeated column gives, item for item."""
    runs, tiled, repeats = [], [], []
    for items, run, times in blocks:
        n = len(run) * times
        cols = [
            np.resize(np.array([it[j] for it in items], np.int64), n)
            if items
            else np.zeros(n, np.int64)
            for j in range(6)
        ]
        pe_run = np.array(run, np.int64)
        runs.append((cols[0], pe_run, cols[2], cols[3], cols[4], cols[5]))
        tiled.append((cols[0], np.tile(pe_run, times), cols[2], cols[3], cols[4], cols[5]))
        repeats.append(times)
    n = len(blocks)
    caps = np.tile(np.array([[2, 1, 1]], np.int64), (n, 1))
    layers = np.arange(n, dtype=np.int64) % 2
    kw = {"psum": psum, "prefetch": np.arange(n, dtype=np.int64), "buffer": 6, "latency": latency}
    got = pipeline_stream.stream_summary(
        runs, caps, layers, 2, pe_repeats=np.array(repeats, np.int64), **kw
    )
    want = pipeline_stream.stream_summary(tiled, caps, layers, 2, **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    if n:
        with pytest.raises(ValueError, match="pe_repeats"):
            pipeline_stream.stream_summary(
                runs, caps, layers, 2, pe_repeats=np.zeros(n, np.int64), **kw
            )
        wrong = np.array(repeats, np.int64) + 1
        with pytest.raises(ValueError, match="one value"):
            pipeline_stream.stream_summary(runs, caps, layers, 2, pe_repeats=wrong, **kw)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["none", "group", "event"]),
    overlap=st.booleans(),
    fmt=st.sampled_from(["bitmap", "event_list"]),
    m=st.integers(1, 3),
    n=st.integers(1, 3),
    v=st.integers(1, 3),
    density=st.floats(0.0, 0.6),
    bandwidth=st.sampled_from([0.05, 0.2, 1.0, 5.0]),
    queues=st.integers(1, 3),
    samples=st.integers(1, 3),
    tiles_per_event=st.sampled_from([None, 1, 2, 5]),
    write_buffer=st.sampled_from([0, 1, 3, 64]),
    prefetch=st.booleans(),
)
def test_whole_stream_equals_simpy(
    seed,
    mode,
    overlap,
    fmt,
    m,
    n,
    v,
    density,
    bandwidth,
    queues,
    samples,
    tiles_per_event,
    write_buffer,
    prefetch,
):
    net, cfg = _random_case(seed, mode, overlap, fmt, m, n, v)
    cfg = hw.replace_fields(
        cfg,
        {
            "dram.bandwidth_gbps": bandwidth,
            "buffers.load_queue_tiles": queues,
            "buffers.pe_queue_tiles": queues,
            "buffers.writeback_queue_tiles": queues,
            "buffers.write_buffer_bytes": write_buffer,
            "buffers.prefetch_weights": prefetch,
        },
    )
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density=density, seed=seed, batch=2)
    kw = {"num_samples": samples, "tiles_per_event": tiles_per_event}
    a = simulate_pe_array(mapping, trace, cfg, **kw)
    b = simulate_pe_array(mapping, trace, cfg, engine="maxplus", **kw)
    _assert_same(a, b)
    # The one-pass stream kernel (no intervals) sums the SimPy intervals cell by cell.
    lean = simulate_pe_array(mapping, trace, cfg, engine="maxplus", keep_intervals=False, **kw)
    keys = ["sample", "stage", "kind", "cause"]
    pd.testing.assert_frame_equal(
        lean.totals.sort_values(keys, ignore_index=True),
        summarise_intervals(a.intervals).sort_values(keys, ignore_index=True),
    )
    assert (lean.latency_cycles, lean.makespan_cycles, lean.event_count) == (
        a.latency_cycles,
        a.makespan_cycles,
        a.event_count,
    )
    # The kernel's own per-stage and per-cause sums equal those of the SimPy intervals.
    assert lean.sums is not None
    assert a.sums is None
    assert lean.cycle_sums() == a.cycle_sums() == sum_cycles(lean.totals)


@pytest.mark.parametrize(
    ("scheme", "kwargs"),
    [
        ("if", {"num_steps": 3}),
        ("mtif", {}),
        ("sws", {"coding_steps": 4, "silent_steps": 1}),
        ("lmht", {"num_steps": 2, "num_levels": 2}),
    ],
)
def test_converted_networks_on_shipped_configs(scheme, kwargs):
    """Every scheme on a residual net, both shipped PE-array configs, both overlap modes;
    one ``TraceStats`` shared by all calls changes nothing."""
    net = random_qann(11, residual=True, levels=(2, 3, 4, 2))
    snn = convert.convert(net, scheme, **kwargs)
    trace = functional.run(snn, random_codes(net, 3, 11))
    stats = TraceStats(snn, trace)
    for name in ("pe_array", "pe_array_tiny"):
        base = hw.load(name)
        for overlap in (True, False):
            cfg = hw.replace_field(base, "neuron_unit.overlap_with_pe", overlap)
            mapping = compile_pe_array(snn, cfg)
            a = families.simulate(mapping, trace, cfg, num_samples=4)
            b = families.simulate(mapping, trace, cfg, num_samples=4, engine="maxplus", stats=stats)
            c = families.simulate(mapping, trace, cfg, num_samples=4, engine="fast", stats=stats)
            _assert_same(a, b)
            _assert_same(a, c)


def test_stats_shared_across_unroll_factors_change_nothing():
    """PE cycles are memoised without M in the key: sweeping M with one TraceStats gives the
    SimPy numbers of fresh runs."""
    net = random_qann(3)
    snn = convert.convert(net, "if", num_steps=4)
    trace = functional.run(snn, random_codes(net, 2, 3))
    stats = TraceStats(snn, trace)
    for m in (1, 2, 4):
        cfg = _config(pe__unroll_out_channels=m, pe__zero_skipping="group")
        mapping = compile_pe_array(snn, cfg)
        _assert_same(
            simulate_pe_array(mapping, trace, cfg, num_samples=2),
            simulate_pe_array(mapping, trace, cfg, num_samples=2, engine="maxplus", stats=stats),
        )
    arr = next(iter(stats._memo.values()))
    assert not arr.flags.writeable


def test_engine_and_stats_errors():
    net = random_qann(3)
    snn = convert.convert(net, "if", num_steps=2)
    trace = functional.run(snn, random_codes(net, 2, 3))
    other = functional.run(snn, random_codes(net, 2, 4))
    cfg = hw.load("pe_array_tiny")
    mapping = compile_pe_array(snn, cfg)
    with pytest.raises(MappingError, match="engine must be one of"):
        simulate_pe_array(mapping, trace, cfg, engine="fastest")
    with pytest.raises(MappingError, match="another trace"):
        simulate_pe_array(mapping, trace, cfg, engine="maxplus", stats=TraceStats(snn, other))
    with pytest.raises(ConfigError, match=r"not available for the multicore family"):
        families.simulate(None, trace, hw.load("multicore"), engine="maxplus")
    with pytest.raises(ValueError, match=r"one value \(cycle count or bytes\) per item"):
        pipeline.layer_times(0, [1], [1, 2], [1], [1], cap_load=1, cap_pe=1, cap_wb=1, psum=False)


def test_intervals_are_ordered_by_sample_layer_and_stage():
    net = random_qann(5)
    snn = convert.convert(net, "if", num_steps=2)
    trace = functional.run(snn, random_codes(net, 2, 5))
    cfg = hw.load("pe_array_tiny")
    result = simulate_pe_array(
        compile_pe_array(snn, cfg), trace, cfg, num_samples=2, engine="maxplus"
    )
    iv = result.intervals
    assert iv["sample"].is_monotonic_increasing
    first = iv[iv["sample"] == 0]
    stages = list(dict.fromkeys(first["stage"]))
    layers = [s.split(".")[0] for s in stages]
    assert layers == sorted(layers, key=[lay.name for lay in snn.layers].index)
    for _, grp in first.groupby("stage"):
        assert grp["start_cycles"].is_monotonic_increasing
        assert (grp["start_cycles"].to_numpy()[1:] >= grp["end_cycles"].to_numpy()[:-1]).all()


@pytest.mark.parametrize("name", ["pe_array_tiny", "multicore"])
def test_totals_without_intervals_give_the_same_tables(name):
    """``keep_intervals=False``: no intervals, the same stall cycles, per-stage and per-layer
    tables, latency, events and traffic, from either engine (and the multi-core model)."""
    net = random_qann(11, residual=True, levels=(2, 3, 4, 2))
    snn = convert.convert(net, "if", num_steps=3)
    trace = functional.run(snn, random_codes(net, 3, 11))
    cfg = hw.load(name)
    mapping = compile_any(snn, cfg)
    full = families.simulate(mapping, trace, cfg, num_samples=3)
    engines = ["simpy", "maxplus"] if cfg.family == "pe_array" else ["simpy"]
    for engine in engines:
        lean = families.simulate(
            mapping, trace, cfg, num_samples=3, engine=engine, keep_intervals=False
        )
        assert lean.intervals.empty
        assert list(lean.totals.columns) == ["stage", "layer", "sample", "kind", "cause", "cycles"]
        assert lean.stall_cycles == full.stall_cycles
        assert (lean.latency_cycles, lean.makespan_cycles, lean.event_count) == (
            full.latency_cycles,
            full.makespan_cycles,
            full.event_count,
        )
        assert dict(lean.traffic) == dict(full.traffic)
        pd.testing.assert_frame_equal(lean.per_stage(), full.per_stage())
        pd.testing.assert_frame_equal(lean.per_layer(), full.per_layer())
        assert int(lean.totals["cycles"].sum()) == int(
            (full.intervals["end_cycles"] - full.intervals["start_cycles"]).sum()
        )
        if engine == "simpy":
            # Summed from the stage log's records: the rows of summing the intervals, in order.
            pd.testing.assert_frame_equal(lean.totals, summarise_intervals(full.intervals))
            assert lean.cycle_sums() == sum_cycles(full.cycles())
        if engine == "maxplus":
            # Summed in the kernel, cell by cell: the same rows as summing the intervals.
            keys = ["sample", "stage", "kind", "cause"]
            want = summarise_intervals(
                families.simulate(mapping, trace, cfg, num_samples=3, engine=engine).intervals
            )
            pd.testing.assert_frame_equal(
                lean.totals.sort_values(keys, ignore_index=True),
                want.sort_values(keys, ignore_index=True),
            )


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.tuples(
            st.sampled_from([("load", "a"), ("pe", "a"), ("pe", "b"), ("core", "c")]),
            st.integers(0, 3),
            st.sampled_from([None, *STALL_CAUSES]),
            st.integers(0, 50),
            st.integers(0, 20),
        ),
        max_size=40,
    )
)
def test_stage_log_sums_equal_the_summed_intervals(records):
    """``log_totals``: a stage log's cycles summed from its integer records are the rows of
    ``summarise_intervals`` of its interval table, in the same order, with the same
    ``CycleSums`` (empty intervals are not recorded; an empty log gives the empty table)."""
    log = StageLog()
    for (stage, layer), sample, cause, start, length in records:
        if cause is None:
            log.busy(stage, layer, sample, start, start + length)
        else:
            log.stall(stage, layer, sample, start, start + length, cause)
    totals, sums = log_totals(log)
    frame = totals.frame() if isinstance(totals, Columns) else totals
    want = summarise_intervals(log.to_frame())
    pd.testing.assert_frame_equal(frame, want)
    if len(log):
        assert sums == sum_cycles(want)


def test_lean_tables_are_formed_when_read():
    """The lean max-plus result keeps ``totals`` and ``layer_traffic`` as column arrays
    (``Columns``) until read; read, they are the DataFrames of the SimPy run, and one read
    object is kept. ``layer_traffic_columns`` reads the arrays without forming the table."""
    net = random_qann(12, levels=(2, 3, 2))
    snn = convert.convert(net, "if", num_steps=2)
    trace = functional.run(snn, random_codes(net, 2, 12))
    cfg = hw.load("pe_array_tiny")
    mapping = compile_any(snn, cfg)
    full = families.simulate(mapping, trace, cfg, num_samples=2)
    lean = families.simulate(
        mapping, trace, cfg, num_samples=2, engine="maxplus", keep_intervals=False
    )
    assert isinstance(lean.__dict__["_totals"], Columns)
    assert isinstance(lean.__dict__["_layer_traffic"], Columns)
    cols = lean.layer_traffic_columns()
    assert isinstance(lean.__dict__["_layer_traffic"], Columns)
    assert list(cols) == list(full.layer_traffic.columns)
    for key, values in cols.items():
        assert np.asarray(values).tolist() == full.layer_traffic[key].tolist()
    pd.testing.assert_frame_equal(lean.layer_traffic, full.layer_traffic)
    assert lean.layer_traffic is lean.layer_traffic
    assert lean.totals is lean.totals
    assert lean.cycle_sums() == sum_cycles(lean.totals)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lean.totals = None


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(st.tuples(*(st.integers(0, 9),) * 5), min_size=1, max_size=20),
    caps=st.tuples(*(st.integers(1, 3),) * 3),
    psum=st.booleans(),
)
def test_neuron_wait_equals_simpy(items, caps, psum):
    """A neuron family's wait before each update (``NeuronSpec.neuron_wait``): the max-plus
    times, intervals (under the family's cause) and event count equal the SimPy processes'."""
    load, pe, neuron, wb, wait = (list(col) for col in zip(*items, strict=True))
    env = simpy.Environment()
    log = StageLog()
    q_load, q_pe, q_wb = (simpy.Store(env, capacity=c) for c in caps)
    token = simpy.Container(env, capacity=1, init=1) if psum else None
    env.process(pe_timing._load(env, log, q_load, "x", 0, load))
    env.process(pe_timing._pe(env, log, q_load, q_pe, token, "x", 0, pe))
    env.process(pe_timing._neuron(env, log, q_pe, q_wb, token, "x", 0, neuron, wait, "barrier"))
    env.process(pe_timing._writeback(env, log, q_wb, "x", 0, wb))
    events = 0
    try:
        while True:
            env.step()
            events += 1
    except simpy.core.EmptySchedule:
        pass
    times = pipeline.layer_times(
        0,
        load,
        pe,
        neuron,
        wb,
        cap_load=caps[0],
        cap_pe=caps[1],
        cap_wb=caps[2],
        psum=psum,
        wait=wait,
    )
    assert int(times[-1, pipeline.WB_END]) == env.now
    assert pipeline.layer_events(load, pe, neuron, wb, psum=psum, wait=wait) == events
    rows = pipeline.layer_intervals(times, load_wait=(0, 0))
    causes = np.array(pipeline.CAUSES, dtype=object)
    causes[pipeline.WAIT_CODE] = "barrier"
    got = sorted(
        (
            f"x.{('load', 'pe', 'neuron', 'writeback')[r[0]]}",
            ("busy", "stall")[r[1]],
            causes[r[2]],
            int(r[3]),
            int(r[4]),
        )
        for r in rows
    )
    frame = log.to_frame()
    want = sorted(
        zip(
            frame["stage"],
            frame["kind"],
            frame["cause"],
            frame["start_cycles"],
            frame["end_cycles"],
            strict=True,
        )
    )
    assert got == [tuple(w) for w in want]
