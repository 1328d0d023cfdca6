"""PE-array SimPy model: closed forms, roofline bounds, monotonicity, stall bookkeeping.

The network is ``conv_net()`` (tests/mapping/test_pe_array.py): input (4×4×4 codes) → src
(1×1 conv) → conv (3×3, pad 1, C_i = C_o = 4, T = 2) → flatten → fc (64 → 3), on
``pe_array_tiny`` (M=2, N=2, S=1, V=2), with hand-made traces.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import convert, functional, hw
from neurosim.errors import MappingError
from neurosim.mapping.pe_array import compile_pe_array, tile_store_bytes
from neurosim.timing import cost
from neurosim.timing import pe_array as pe_timing
from neurosim.timing.activity import TraceStats
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.pe_array_costs import _group_each_row, _group_rows, layer_costs
from neurosim.timing.stages import STALL_CAUSES
from tests.conftest import random_codes, random_qann
from tests.mapping.test_pe_array import conv_net, make_trace


def _config(**fields) -> hw.PEArrayConfig:
    cfg = hw.load("pe_array_tiny")
    for path, value in fields.items():
        cfg = hw.replace_field(cfg, path.replace("__", "."), value)
    return cfg


AMPLE = {"dram__bandwidth_gbps": 1000.0, "dram__latency_cycles": 0}
"""1000 GB/s at 100 MHz = 10,000 B/cycle: every non-empty burst takes 1 cycle."""


def _trace(net, density: float = 0.0, seed: int = 0, batch: int = 1):
    rng = np.random.default_rng(seed)
    spikes = {}
    for name in ("src", "conv"):
        shape = (net.layer(name).neuron.num_steps, batch, *net.shapes[name])
        spikes[name] = (rng.random(shape) < density).astype(np.int8)
    codes = rng.integers(0, 16, size=(batch, *net.shapes["input"]))
    return make_trace(net, spikes, codes)


def _span(result, layer: str, sample: int = 0) -> int:
    iv = result.intervals
    iv = iv[(iv["layer"] == layer) & (iv["sample"] == sample) & (iv["kind"] == "busy")]
    return int(iv["end_cycles"].max() - iv["start_cycles"].min())


def _totals(mapping, trace, cfg, sample: int = 0) -> dict[str, int]:
    """Σ over layers of the cost arrays: pe, neuron, load, writeback cycles."""
    out = dict.fromkeys(("load", "pe", "neuron", "writeback"), 0)
    for sched in mapping.layers:
        c = layer_costs(mapping, sched, trace, cfg, sample)
        for key in out:
            out[key] += sum(getattr(c, key))
    return out


def _event_bound(mapping, num_samples: int = 1) -> int:
    """At most 12 SimPy events per tile — load: timeout, put; PE: get, partial-sum token,
    timeout, put; neuron: get, timeout, token, put; write-back: get, timeout — plus 10 per
    layer (4 process starts and ends, the controller's wait)."""
    tiles = sum(s.num_tiles for s in mapping.layers)
    return num_samples * (12 * tiles + 10 * len(mapping.layers))


def test_dense_layer_matches_algorithm_2_closed_form():
    """Dense conv, ample bandwidth, 4 neuron lanes, neuron overlapped with the PE array.

    PE: ⌈4/2⌉·4·⌈4/2⌉·⌈2/1⌉·3·3·⌈4/2⌉ = 32 tiles × 18 = 576 cycles, back to back. Fixed
    overheads: the first load (72 + 8 bytes → 1 cycle) before the PE starts, and the last tile's
    neuron update (⌈2·2·1/4⌉ = 1) and write-back (1 byte → 1 cycle) after it ends:
    span = 1 + 576 + 1 + 1 = 579. Without overlap every tile also waits for its neuron update:
    1 + 32·(18 + 1) + 1 = 610.
    """
    net = conv_net()
    cfg = _config(
        pe__zero_skipping="none",
        neuron_unit__overlap_with_pe=True,
        neuron_unit__updates_per_cycle=4,
        **AMPLE,
    )
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density=0.3)
    result = simulate_pe_array(mapping, trace, cfg)
    assert mapping.layer("conv").dense_pe_cycles == 576
    assert _span(result, "conv") == 1 + 576 + 1 + 1
    stages = result.per_stage().set_index("stage")
    assert stages.loc["conv.pe", "busy_cycles"] == 576
    assert result.makespan_cycles == sum(_span(result, n) for n in ("src", "conv", "fc"))
    no_overlap = _config(
        pe__zero_skipping="none",
        neuron_unit__overlap_with_pe=False,
        neuron_unit__updates_per_cycle=4,
        **AMPLE,
    )
    result = simulate_pe_array(compile_pe_array(net, no_overlap), trace, no_overlap)
    assert _span(result, "conv") == 1 + 32 * (18 + 1) + 1


@pytest.mark.parametrize("mode", ["group", "event"])
def test_all_zero_input_costs_only_the_overheads(mode):
    """No input spikes: no PE cycles, so the conv costs the first load (1), the neuron unit
    (32 tiles × ⌈2·2·1/1⌉ = 4 cycles, one lane) and the last write-back (1): 130 cycles.
    Dense, the same layer takes 1 + 32·(18 + 4) + 1 = 706."""
    net = conv_net()
    trace = _trace(net, density=0.0)
    cfg = _config(pe__zero_skipping=mode, **AMPLE)
    result = simulate_pe_array(compile_pe_array(net, cfg), trace, cfg)
    assert _span(result, "conv") == 1 + 32 * 4 + 1
    stages = result.per_stage().set_index("stage")
    assert stages.loc["conv.pe", "busy_cycles"] == 0
    dense = _config(pe__zero_skipping="none", **AMPLE)
    result = simulate_pe_array(compile_pe_array(net, dense), trace, dense)
    assert _span(result, "conv") == 1 + 32 * (18 + 4) + 1


def _random_case(seed: int, mode: str, overlap: bool, fmt: str, m: int, n: int, v: int):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(3, 6))
    net = conv_net(
        c_in=int(rng.integers(1, 5)),
        size=size,
        c_out=int(rng.integers(1, 6)),
        kernel=int(rng.choice([1, 3])),
        stride=int(rng.choice([1, 2])),
        steps=int(rng.integers(1, 4)),
    )
    cfg = _config(
        pe__zero_skipping=mode,
        neuron_unit__overlap_with_pe=overlap,
        datapath__spike_format=fmt,
        pe__unroll_out_channels=m,
        pe__unroll_out_columns=n,
        pe__unroll_in_channels=v,
        buffers__spike_bytes=int(rng.choice([8, 64])),
        buffers__weight_bytes=int(rng.choice([16, 256])),
        neuron_unit__updates_per_cycle=int(rng.integers(1, 5)),
        dram__latency_cycles=int(rng.integers(0, 20)),
    )
    return net, cfg


CASES = {
    "seed": st.integers(0, 10_000),
    "mode": st.sampled_from(["none", "group", "event"]),
    "overlap": st.booleans(),
    "fmt": st.sampled_from(["bitmap", "event_list"]),
    "m": st.integers(1, 3),
    "n": st.integers(1, 3),
    "v": st.integers(1, 3),
}


@settings(max_examples=20, deadline=None)
@given(bandwidth=st.sampled_from([0.05, 0.2, 1.0, 5.0]), density=st.floats(0.0, 0.6), **CASES)
def test_roofline_bounds(seed, mode, overlap, fmt, m, n, v, bandwidth, density):
    """max(Σ load, Σ PE, Σ neuron, Σ write-back) ≤ makespan ≤ their sum (hardware-models
    §1.5), where Σ load ≥ DRAM read bytes / bandwidth and Σ write-back ≥ written bytes /
    bandwidth (reads and writes use separate channels)."""
    net, cfg = _random_case(seed, mode, overlap, fmt, m, n, v)
    cfg = hw.replace_field(cfg, "dram.bandwidth_gbps", bandwidth)
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density=density, seed=seed)
    result = simulate_pe_array(mapping, trace, cfg)
    tot = _totals(mapping, trace, cfg)
    rate = cfg.dram_bytes_per_cycle
    assert result.traffic["dram_read_bytes"] / rate <= tot["load"]
    assert result.traffic["dram_write_bytes"] / rate <= tot["writeback"]
    assert max(tot.values()) <= result.makespan_cycles <= sum(tot.values())


@settings(max_examples=20, deadline=None)
@given(density=st.floats(0.0, 0.5), extra=st.floats(0.01, 0.5), **CASES)
def test_adding_spikes_never_lowers_cycles(seed, mode, overlap, fmt, m, n, v, density, extra):
    """The same layer with a superset of input spikes takes at least as long."""
    net, cfg = _random_case(seed, mode, overlap, fmt, m, n, v)
    mapping = compile_pe_array(net, cfg)
    sparse = _trace(net, density=density, seed=seed)
    rng = np.random.default_rng(seed + 1)
    src = sparse.layer("src").spikes
    denser = src | (rng.random(src.shape) < extra).astype(np.int8)
    dense = make_trace(net, {"src": denser, "conv": sparse.layer("conv").spikes}, sparse.inputs)
    a = simulate_pe_array(mapping, sparse, cfg)
    b = simulate_pe_array(mapping, dense, cfg)
    assert b.makespan_cycles >= a.makespan_cycles
    # Events count tiles, not spikes: only zero-cycle work (a skipped tile, an empty burst)
    # saves its events, so more spikes can only add some, up to the per-tile bound.
    assert a.event_count <= b.event_count <= _event_bound(mapping)


@settings(max_examples=20, deadline=None)
@given(
    slow=st.sampled_from([0.02, 0.1, 0.5]),
    factor=st.sampled_from([1.5, 2.0, 10.0]),
    density=st.floats(0.0, 0.5),
    **CASES,
)
def test_more_bandwidth_never_increases_latency(
    seed, mode, overlap, fmt, m, n, v, slow, factor, density
):
    net, cfg = _random_case(seed, mode, overlap, fmt, m, n, v)
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density=density, seed=seed)
    latency = [
        simulate_pe_array(
            mapping, trace, hw.replace_field(cfg, "dram.bandwidth_gbps", bw)
        ).latency_cycles
        for bw in (slow, slow * factor)
    ]
    assert latency[1] <= latency[0]


def test_env_now_stays_an_integer(monkeypatch):
    """Every step of the event loop leaves ``env.now`` a Python int."""
    seen = []

    class Checked(simpy.Environment):
        def step(self):
            super().step()
            assert type(self.now) is int, type(self.now)
            seen.append(self.now)

    monkeypatch.setattr(pe_timing.simpy, "Environment", Checked)
    net = conv_net()
    cfg = _config(pe__zero_skipping="event", dram__bandwidth_gbps=0.37)  # 3.7 B/cycle
    result = simulate_pe_array(compile_pe_array(net, cfg), _trace(net, 0.3), cfg)
    assert len(seen) == result.event_count > 0
    assert type(result.makespan_cycles) is int
    assert seen[-1] == result.makespan_cycles
    iv = result.intervals
    assert iv["start_cycles"].dtype == np.int64
    assert iv["end_cycles"].dtype == np.int64


def test_stalls_and_busy_add_up_per_stage():
    """For each stage, busy + stall cycles ≤ makespan, its intervals never overlap, and its
    busy cycles equal the cost arrays. Causes follow the stage: PE waits for loads (memory),
    the neuron unit and write-back wait upstream (dependency), blocked puts are backpressure."""
    net = conv_net()
    cfg = _config(
        pe__zero_skipping="group",
        buffers__spike_bytes=8,
        dram__bandwidth_gbps=0.05,
        dram__latency_cycles=30,
    )
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density=0.3)
    result = simulate_pe_array(mapping, trace, cfg, num_samples=2)
    span = result.makespan_cycles
    iv = result.intervals.sort_values(["stage", "start_cycles", "end_cycles"])
    for stage, grp in iv.groupby("stage"):
        assert (grp["end_cycles"] - grp["start_cycles"]).sum() <= span, stage
        assert (grp["start_cycles"].to_numpy()[1:] >= grp["end_cycles"].to_numpy()[:-1]).all()
    causes = {
        (row.stage.split(".")[-1], row.cause) for row in iv.itertuples() if row.kind == "stall"
    }
    allowed = {
        ("load", "dependency"),
        ("load", "backpressure"),
        ("pe", "memory"),
        ("pe", "backpressure"),
        ("neuron", "dependency"),
        ("neuron", "backpressure"),
        ("writeback", "dependency"),
    }
    assert causes <= allowed
    assert ("pe", "memory") in causes
    stages = result.per_stage().set_index("stage")
    c = layer_costs(mapping, mapping.layer("conv"), trace, cfg, 0)
    assert stages.loc["conv.pe", "busy_cycles"] == 2 * sum(c.pe)
    assert stages.loc["conv.neuron", "busy_cycles"] == 2 * sum(c.neuron)
    assert set(STALL_CAUSES) >= set(iv["cause"][iv["kind"] == "stall"])


def test_stream_of_samples_runs_back_to_back():
    """3 samples from a batch of 2: sample 2 reuses trace sample 0, so it takes exactly as long
    as sample 0; the interval is the mean time between finishes; traffic adds up."""
    net = conv_net()
    cfg = _config(pe__zero_skipping="group")
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density=0.3, batch=2)
    one = simulate_pe_array(mapping, trace, cfg)
    three = simulate_pe_array(mapping, trace, cfg, num_samples=3)
    iv = three.intervals
    finish = [int(iv.loc[iv["sample"] == k, "end_cycles"].max()) for k in range(3)]
    assert three.latency_cycles == one.latency_cycles == finish[0]
    assert finish[2] - finish[1] == finish[0]
    assert three.interval_cycles == (finish[2] - finish[0]) / 2
    assert three.makespan_cycles == finish[2]
    costs = [layer_costs(mapping, s, trace, cfg, b) for s in mapping.layers for b in (0, 0, 1)]
    assert three.traffic["dram_read_bytes"] == sum(c.traffic["dram_read_bytes"] for c in costs)
    assert list(three.layer_traffic["layer"]) == ["src", "conv", "fc"]


def test_traffic_matches_the_mapping():
    """Bitmap spikes: DRAM bytes are the reuse rule's, known at compile time."""
    net = conv_net()
    cfg = _config()
    mapping = compile_pe_array(net, cfg)
    result = simulate_pe_array(mapping, _trace(net, 0.2), cfg)
    per_layer = result.layer_traffic.set_index("layer")
    for sched in mapping.layers:
        assert per_layer.loc[sched.name, "dram_read_bytes"] == sched.dram_read_bytes
        assert per_layer.loc[sched.name, "dram_write_bytes"] == sched.dram_write_bytes
    assert (
        result.traffic["dram_read_bytes"]
        == 160 + mapping.layer("src").dram_read_bytes + mapping.layer("fc").dram_read_bytes
    )
    assert result.traffic["sram_read_bytes"] > 0
    assert result.traffic["sram_write_bytes"] > 0


def test_grouped_tiles_keep_cycle_sums():
    """tiles_per_event = a whole (o, h) row (n_w·n_t = 4 tiles): same busy cycles per stage,
    fewer events."""
    net = conv_net()
    cfg = _config(pe__zero_skipping="group")
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density=0.3)
    fine = simulate_pe_array(mapping, trace, cfg, tiles_per_event=1)
    coarse = simulate_pe_array(mapping, trace, cfg, tiles_per_event=4)
    busy = [r.per_stage().set_index("stage")["busy_cycles"] for r in (fine, coarse)]
    assert (busy[0] == busy[1]).all()
    assert coarse.event_count < fine.event_count
    assert coarse.makespan_cycles >= busy[1].max()


@settings(max_examples=20, deadline=None)
@given(
    density=st.floats(0.0, 0.6),
    posted=st.booleans(),
    prefetch=st.booleans(),
    shared=st.booleans(),
    **CASES,
)
def test_work_bound_is_the_float_sum_of_the_item_arrays(
    seed, mode, overlap, fmt, m, n, v, density, posted, prefetch, shared
):
    """``LayerCosts.work_bound`` (the stream bound's term, memoised with the arrays) equals the
    float64 sums of load, PE, neuron, write-back and wait cycles added in that order, and
    ``pe_cycles`` the exact Σ PE cycles — with or without a shared ``TraceStats``, for every
    sample of a batch."""
    net, cfg = _random_case(seed, mode, overlap, fmt, m, n, v)
    cfg = hw.replace_field(cfg, "buffers.write_buffer_bytes", 64 if posted else 0)
    cfg = hw.replace_field(cfg, "buffers.prefetch_weights", prefetch)
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, density, seed, batch=2)
    stats = TraceStats(net, trace) if shared else None
    memo: dict = {}
    for b in (0, 1, 0):
        for sched in mapping.layers:
            c = layer_costs(mapping, sched, trace, cfg, b, stats=stats, shared=memo)
            wait = np.zeros(len(c.neuron), np.int64) if c.neuron_wait is None else c.neuron_wait
            parts = [float(a.sum(dtype=np.float64)) for a in (c.load, c.pe, c.neuron, c.writeback)]
            assert c.work_bound == sum(parts) + float(wait.sum(dtype=np.float64))
            assert c.pe_cycles == int(np.sum(c.pe, dtype=np.int64))
            assert c.work_bound >= c.pe_cycles
            # One o block's PE items, repeated for every block: one per work item.
            assert len(c.pe) == len(c.load) == c.pe_repeats * len(c.pe_block)


@settings(max_examples=40, deadline=None)
@given(
    n_o=st.integers(1, 4),
    h_o=st.integers(1, 4),
    n_w=st.integers(1, 5),
    n_t=st.integers(1, 4),
    group=st.integers(1, 7),
    seed=st.integers(0, 10_000),
)
def test_grouping_one_row_equals_grouping_every_row(n_o, h_o, n_w, n_t, group, seed):
    """An array that is the same in every output row, grouped from one row and repeated
    (``_group_each_row``), gives the items of the full [n_o, H_o, n_w, n_t] array grouped
    (``_group_rows``): the same int64 values, row-padded groups included."""
    row = np.random.default_rng(seed).integers(0, 50, (n_o, 1, n_w, n_t))
    tiles = (n_o, h_o, n_w, n_t)
    full = _group_rows(np.broadcast_to(row, tiles), tiles, group)
    got = _group_each_row(row, tiles, group)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, full)


@settings(max_examples=20, deadline=None)
@given(group=st.integers(1, 4), shared=st.booleans(), silent=st.integers(0, 2), **CASES)
def test_neuron_and_write_buffer_items_are_the_grouped_tile_arrays(
    seed, mode, overlap, fmt, m, n, v, group, shared, silent
):
    """``layer_costs``'s neuron items, write-buffer occupancies and write-back cycles (formed
    from one output row and repeated without event lists; occupancies memoised per schedule
    with a ``TraceStats``) equal ``tiles_per_item`` tiles of ``cost.neuron_tile_cycles``, of
    the stored bytes (capped at the buffer) and of their DRAM cycles summed per item — for
    TSA's silent shifts too, on every sample."""
    net, cfg = _random_case(seed, mode, overlap, fmt, m, n, v)
    cfg = hw.replace_field(cfg, "buffers.write_buffer_bytes", 48)
    mapping = compile_pe_array(net, cfg)
    trace = _trace(net, 0.3, seed, batch=2)
    stats = TraceStats(net, trace) if shared else None
    upc = cfg.neuron_unit.updates_per_cycle
    for b in (0, 1, 0):
        for sched in mapping.layers:
            sched = dataclasses.replace(sched, silent_steps=silent) if silent else sched
            c = layer_costs(mapping, sched, trace, cfg, b, tiles_per_item=group, stats=stats)
            tiles = sched.tiles
            neuron = _group_rows(cost.neuron_tile_cycles(sched, upc), tiles, group)
            np.testing.assert_array_equal(c.neuron, neuron)
            stored = (
                tile_store_bytes(sched)
                if sched.spike_format == "bitmap"
                else _stored_event_bytes(sched, trace, b)
            )
            np.testing.assert_array_equal(c.occ, np.minimum(_group_rows(stored, tiles, group), 48))
            # Posted writes: the transfer alone, every tile's bytes.
            rate = cost.dram_rate(cfg.dram_bytes_per_cycle)
            writeback = cost.dram_item_cycles(stored, rate, 0, group=group)
            np.testing.assert_array_equal(c.writeback, writeback)


def _stored_event_bytes(sched, trace, sample: int) -> np.ndarray:
    """``tile_store_bytes`` of an event-list layer in trace sample ``sample``."""
    if sched.output_kind != "spikes":
        return tile_store_bytes(sched)
    out = np.abs(trace.layer(sched.name).spikes[:, sample].astype(np.int64))
    events = cost.region_events(out.reshape(out.shape[0], *sched.out_shape), sched)
    return tile_store_bytes(sched, tile_events=events)


def test_mapping_for_other_unroll_factors_is_refused():
    net = conv_net()
    cfg = _config()
    mapping = compile_pe_array(net, cfg)
    with pytest.raises(MappingError, match="recompile"):
        simulate_pe_array(mapping, _trace(net), hw.replace_field(cfg, "pe.unroll_steps", 2))
    # Timing-only fields may differ.
    faster = hw.replace_field(cfg, "dram.bandwidth_gbps", 1.0)
    assert simulate_pe_array(mapping, _trace(net), faster).latency_cycles > 0


@pytest.mark.parametrize(
    ("scheme", "kwargs"),
    [
        ("if", {"num_steps": 3}),
        ("mtif", {}),
        ("sws", {"coding_steps": 4, "silent_steps": 1}),
        ("lmht", {"num_steps": 2, "num_levels": 2}),
    ],
)
@pytest.mark.parametrize("fmt", ["bitmap", "event_list"])
def test_converted_residual_networks(scheme, kwargs, fmt):
    """Every scheme on a residual net through functional.run: roofline bounds hold, events stay
    coarse (``_event_bound``), TSA pays its silent steps."""
    net = random_qann(7, residual=True, levels=(2, 3, 4, 2))
    snn = convert.convert(net, scheme, **kwargs)
    trace = functional.run(snn, random_codes(net, 2, 7))
    cfg = _config(pe__zero_skipping="group", datapath__spike_format=fmt)
    mapping = compile_pe_array(snn, cfg)
    result = simulate_pe_array(mapping, trace, cfg, num_samples=2)
    tot = _totals(mapping, trace, cfg, 0)
    tot1 = _totals(mapping, trace, cfg, 1)
    assert result.latency_cycles >= max(tot.values())
    assert result.makespan_cycles <= sum(tot.values()) + sum(tot1.values())
    assert result.event_count <= _event_bound(mapping, num_samples=2)
    if scheme == "sws":
        assert all(s.silent_steps == 1 for s in mapping.layers if s.spiking)
