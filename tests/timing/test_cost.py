"""PE-array cycle formulas (``timing.cost``), each checked on a case worked by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neurosim import hw
from neurosim.mapping.pe_array import compile_pe_array
from neurosim.timing import cost
from tests.mapping.test_pe_array import conv_net


@pytest.fixture
def tiny_s2():
    """pe_array_tiny with S = 2: M=2, N=2, S=2, V=2."""
    return hw.replace_field(hw.load("pe_array_tiny"), "pe.unroll_steps", 2)


def _two_spikes(level_a: int = 1) -> np.ndarray:
    """[T=2, C=4, 4, 4] input: A at (t=0, c=3, y=1, x=2) with level ``level_a``, B at
    (t=1, c=0, y=1, x=0)."""
    mag = np.zeros((2, 4, 4, 4), np.int64)
    mag[0, 3, 1, 2] = level_a
    mag[1, 0, 1, 0] = 1
    return mag


def test_dense_closed_form_worked_example():
    """⌈64/16⌉·8·⌈8/4⌉·⌈4/2⌉·3·3·⌈32/8⌉ = 4·8·2·2·9·4 = 4608 (neuron-models §6.1)."""
    assert cost.dense_cycles(64, 16, 8, 8, 4, 4, 2, 3, 3, 32, 8) == 4608
    got = cost.dense_cycles(np.array([64, 65]), 16, 8, 8, 4, 4, 2, 3, 3, 32, 8)
    np.testing.assert_array_equal(got, [4608, 5760])  # 65 channels → 5 o blocks
    assert cost.reduction_steps(3, 3, 32, 8) == 36


def test_dense_pe_cycles_equal_closed_form(tiny_s2):
    """zero_skipping = none: 3·3·⌈4/2⌉ = 18 per tile whatever the spikes; the layer's sum is
    ⌈4/2⌉·4·⌈4/2⌉·⌈2/2⌉·18 = 288."""
    sched = compile_pe_array(conv_net(), tiny_s2).layer("conv")
    cyc = cost.pe_tile_cycles(sched, _two_spikes(), sched.inputs[0], zero_skipping="none")
    assert cyc.shape == (4, 2, 1)
    assert (cyc == 18).all()
    assert cyc.sum() * sched.tiles[0] == cost.dense_cycles(4, 2, 4, 4, 2, 2, 2, 3, 3, 4, 2)
    assert cyc.sum() * sched.tiles[0] == 288


def test_group_skipping_hand_case(tiny_s2):
    """3×3 conv, pad 1, C_i=4 in V=2 groups, tiles of N=2 columns × S=2 steps.

    A (c=3 → group 1, y=1, x=2) is read by output rows h=0,1,2 (one k_h each). Columns
    w=0 (x_o 0,1) reach x=2 only with k_w=2 → 1 step; w=1 (x_o 2,3) with k_w=1 (x_o=2) and
    k_w=0 (x_o=3) → 2 steps. B (group 0, y=1, x=0) adds k_w=1 (x_o=0) and k_w=0 (x_o=1) to w=0.
    Only A: [[1,2],[1,2],[1,2],[0,0]]; A and B: [[3,2],[3,2],[3,2],[0,0]] (h × w, one t tile).
    """
    sched = compile_pe_array(conv_net(), tiny_s2).layer("conv")
    only_a = _two_spikes()
    only_a[1] = 0
    got = cost.pe_tile_cycles(sched, only_a, sched.inputs[0], zero_skipping="group")
    np.testing.assert_array_equal(got[..., 0], [[1, 2], [1, 2], [1, 2], [0, 0]])
    got = cost.pe_tile_cycles(sched, _two_spikes(), sched.inputs[0], zero_skipping="group")
    np.testing.assert_array_equal(got[..., 0], [[3, 2], [3, 2], [3, 2], [0, 0]])
    ternary = np.abs(-_two_spikes())  # a −1 spike is an add or a subtract: same cost
    np.testing.assert_array_equal(
        cost.pe_tile_cycles(sched, ternary, sched.inputs[0], zero_skipping="group"), got
    )


def test_event_skipping_hand_case(tiny_s2):
    """Receptive field of (h, w): rows h−1..h+1; w=0 columns −1..2 holds A and B, w=1 columns
    1..4 holds A. events [[2,1],[2,1],[2,1],[0,0]]; ⌈·/1⌉ as is, ⌈·/2⌉ → [[1,1],…,[0,0]]."""
    sched = compile_pe_array(conv_net(), tiny_s2).layer("conv")
    got = cost.pe_tile_cycles(
        sched, _two_spikes(), sched.inputs[0], zero_skipping="event", events_per_cycle=1
    )
    np.testing.assert_array_equal(got[..., 0], [[2, 1], [2, 1], [2, 1], [0, 0]])
    got = cost.pe_tile_cycles(
        sched, _two_spikes(), sched.inputs[0], zero_skipping="event", events_per_cycle=2
    )
    np.testing.assert_array_equal(got[..., 0], [[1, 1], [1, 1], [1, 1], [0, 0]])


def test_multilevel_repeat_and_multiply(tiny_s2):
    """LM-HT, L = 3, A at level 3. repeat: a group step costs its largest level — w=0: 3 (A)
    + 1 + 1 (B) = 5, w=1: 3 + 3 = 6; an event costs its level — w=0: 3 + 1, w=1: 3; dense:
    18 steps × 3 passes = 54. multiply: as binary (group [[3, 2], …], dense 18)."""
    sched = compile_pe_array(conv_net(neuron="lmht"), tiny_s2).layer("conv")
    inp = sched.inputs[0]
    mag = _two_spikes(level_a=3)
    grp = cost.pe_tile_cycles(sched, mag, inp, zero_skipping="group", multilevel="repeat")
    np.testing.assert_array_equal(grp[..., 0], [[5, 6], [5, 6], [5, 6], [0, 0]])
    evt = cost.pe_tile_cycles(sched, mag, inp, zero_skipping="event", multilevel="repeat")
    np.testing.assert_array_equal(evt[..., 0], [[4, 3], [4, 3], [4, 3], [0, 0]])
    dense = cost.pe_tile_cycles(sched, mag, inp, zero_skipping="none", multilevel="repeat")
    assert (dense == 54).all()
    grp = cost.pe_tile_cycles(sched, mag, inp, zero_skipping="group", multilevel="multiply")
    np.testing.assert_array_equal(grp[..., 0], [[3, 2], [3, 2], [3, 2], [0, 0]])
    evt = cost.pe_tile_cycles(sched, mag, inp, zero_skipping="event", multilevel="multiply")
    np.testing.assert_array_equal(evt[..., 0], [[2, 1], [2, 1], [2, 1], [0, 0]])
    assert (
        cost.pe_tile_cycles(sched, mag, inp, zero_skipping="none", multilevel="multiply") == 18
    ).all()


def test_analog_first_layer_is_dense_once_per_sample(tiny_s2):
    """src reads 4-bit codes: 1·1·⌈4/2⌉ = 2 multi-bit MAC cycles per tile, one t tile, even with
    event skipping and all-zero codes."""
    sched = compile_pe_array(conv_net(), tiny_s2).layer("src")
    codes = np.zeros((1, 4, 4, 4), np.int64)
    for mode in ("none", "group", "event"):
        got = cost.pe_tile_cycles(sched, codes, sched.inputs[0], zero_skipping=mode)
        assert got.shape == (4, 2, 1)
        assert (got == 2).all()


def test_add_has_no_pe_cycles(tiny_s2):
    sched = compile_pe_array(conv_net(), tiny_s2).layer("conv")
    add = dataclasses.replace(sched, op="add")
    assert (cost.pe_tile_cycles(add, None, None, zero_skipping="group") == 0).all()


def test_neuron_unit_cycles_hand_case(tiny_s2):
    """C_o=5 → m ∈ {2, 2, 1}; W_o=3 → n ∈ {2, 1}; T=3, S=2 → s ∈ {2, 1}; 3 lanes:
    ⌈m·n·s/3⌉: (2,2,2) 8 → 3, (2,2,1) 4 → 2, (2,1,2) 4 → 2, (2,1,1) 2 → 1, (1,1,1) 1 → 1.
    TSA Ts = 2 adds ⌈m·n·2/3⌉ on the last t tile: (2,2) → 3, (2,1) → 2, (1,1) → 1."""
    sched = compile_pe_array(conv_net(size=3, c_out=5, steps=3), tiny_s2).layer("conv")
    assert sched.tiles == (3, 3, 2, 2)
    cyc = cost.neuron_tile_cycles(sched, 3)
    assert cyc.shape == (3, 3, 2, 2)
    np.testing.assert_array_equal(cyc[0, 0], [[3, 2], [2, 1]])
    np.testing.assert_array_equal(cyc[2, 0], [[2, 1], [1, 1]])
    tsa = cost.neuron_tile_cycles(dataclasses.replace(sched, silent_steps=2), 3)
    np.testing.assert_array_equal(tsa[0, 0], [[3, 2 + 3], [2, 1 + 2]])
    np.testing.assert_array_equal(tsa[2, 0], [[2, 1 + 2], [1, 1 + 1]])
    upd = cost.neuron_tile_updates(sched)
    assert upd.sum() == cost.neuron_updates_total(sched) == 5 * 3 * 3 * 3  # C_o·H_o·W_o·T
    tsa_updates = cost.neuron_tile_updates(dataclasses.replace(sched, silent_steps=2))
    assert tsa_updates.sum() == 5 * 3 * 3 * (3 + 2)
    assert cost.neuron_updates_total(dataclasses.replace(sched, silent_steps=2)) == 5 * 3 * 3 * 5
    # The analog layer's single t tile updates all 3 steps: 2·2·3 = 12 on 1 lane.
    src = compile_pe_array(conv_net(size=3, c_out=5, steps=3), tiny_s2).layer("src")
    assert cost.neuron_tile_cycles(src, 1)[0, 0, 0, 0] == 12


def test_dram_cycles_exact_ceil():
    """12.8 GB/s at 300 MHz = 42.666… B/cycle = 128/3: 128 B → ⌈128·3/128⌉ = 3 (+100 latency;
    float division would give 3.0000000000000004 → 4); 129 B → ⌈3.02⌉ = 4; 1 B → 1;
    0 B → no burst, no latency."""
    rate = 12.8e9 / 300e6
    assert cost.dram_rate(rate) == cost.Fraction(128, 3)
    np.testing.assert_array_equal(cost.dram_cycles([0, 1, 128, 129], rate, 100), [0, 101, 103, 104])
    assert cost.dram_cycles(5, 1.0, 0) == 5
    # One burst without numpy: the same known answers.
    rate = cost.dram_rate(rate)
    assert [cost.burst_cycles(b, rate, 100) for b in (0, 1, 128, 129)] == [0, 101, 103, 104]


@settings(max_examples=80, deadline=None)
@given(
    num_bytes=st.integers(-3, 10**12),
    gbps=st.sampled_from([0.1, 6.4, 12.8, 25.6, 3.3]),
    latency=st.integers(0, 200),
)
def test_one_burst_equals_dram_cycles(num_bytes, gbps, latency):
    """``burst_cycles`` (a Python int, for single prefetch bursts) equals ``dram_cycles``."""
    rate = cost.dram_rate(gbps * 1e9 / 300e6)
    got = cost.burst_cycles(num_bytes, rate, latency)
    assert isinstance(got, int)
    assert got == int(cost.dram_cycles(max(num_bytes, 0), rate, latency))


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    tiles=st.tuples(*(st.integers(1, 5) for _ in range(4))),
    group=st.integers(1, 30),
    gbps=st.sampled_from([0.1, 6.4, 12.8, 25.6, 3.3]),
    latency=st.integers(0, 200),
)
def test_dram_item_cycles_equal_per_tile_bursts_summed(seed, tiles, group, gbps, latency):
    """The compiled per-item DRAM cycles equal ``dram_cycles`` of every tile (zero-byte tiles
    included), summed ``group`` tiles at a time within each (o, h) row, the last item of a row
    short (plain numpy)."""
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 5000, size=tiles) * (rng.random(tiles) < 0.7)
    rate = gbps * 1e9 / 300e6
    per_tile = cost.dram_cycles(b, rate, latency).reshape(tiles[0] * tiles[1], -1)
    row = per_tile.shape[1]
    items = [per_tile[:, j : j + group].sum(axis=1) for j in range(0, row, group)]
    expected = np.stack(items, axis=1).ravel()
    got = cost.dram_item_cycles(b, rate, latency, group=group)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    items, total = cost.dram_item_cycles_summed(b, rate, latency, group=group)
    np.testing.assert_array_equal(items, expected)
    assert isinstance(total, int)
    assert total == int(per_tile.sum())


def test_event_counts_for_event_lists(tiny_s2):
    """Row events sum channels, columns and steps: A and B both sit in row 1 → [0, 2, 0, 0].
    Output region events of tile (o, h, w, t): channel block o, row h, N columns, S steps."""
    sched = compile_pe_array(conv_net(), tiny_s2).layer("conv")
    np.testing.assert_array_equal(
        cost.input_row_events(_two_spikes(), sched.inputs[0]), [0, 2, 0, 0]
    )
    out = np.zeros((2, 4, 4, 4), np.int64)
    out[0, 1, 2, 3] = 1  # o=0, h=2, w=1
    out[1, 1, 2, 2] = 2  # same tile, the other step: level 2 counts 2
    out[1, 3, 0, 0] = 1  # o=1, h=0, w=0
    ev = cost.region_events(out, sched)
    assert ev.shape == (2, 4, 2, 1)
    assert ev[0, 2, 1, 0] == 3
    assert ev[1, 0, 0, 0] == 1
    assert ev.sum() == 4


def _conv_schedule(
    fields: dict, *, c_in: int, size: int, c_out: int, k: int, stride: int, steps: int
):
    """The ``conv`` layer of ``conv_net`` (padding k // 2) compiled on pe_array_tiny with
    ``fields`` replaced."""
    cfg = hw.replace_fields(hw.load("pe_array_tiny"), fields)
    net = conv_net(
        c_in=c_in, size=size, c_out=c_out, kernel=k, stride=stride, padding=k // 2, steps=steps
    )
    return compile_pe_array(net, cfg).layer("conv")


@settings(max_examples=40, deadline=None)
@given(
    c_out=st.integers(1, 7),
    size=st.integers(1, 6),
    steps=st.integers(1, 4),
    m=st.integers(1, 4),
    n=st.integers(1, 4),
    s=st.integers(1, 3),
    silent=st.integers(0, 3),
)
def test_neuron_updates_total_is_the_tile_sum(c_out, size, steps, m, n, s, silent):
    """The closed form H_o·Σm·Σn·(Σs + Ts) equals the summed tile array, edge tiles and TSA's
    silent shifts included, for the conv and the analog first layer."""
    fields = {
        f"pe.unroll_{k}": v
        for k, v in zip(("out_channels", "out_columns", "steps"), (m, n, s), strict=True)
    }
    cfg = hw.replace_fields(hw.load("pe_array_tiny"), fields)
    mapping = compile_pe_array(conv_net(size=size, c_out=c_out, steps=steps), cfg)
    for sched in mapping.layers:
        sched = dataclasses.replace(sched, silent_steps=silent)
        assert cost.neuron_updates_total(sched) == int(cost.neuron_tile_updates(sched).sum())


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.sampled_from([1, 3]),
    stride=st.sampled_from([1, 2]),
    c_in=st.integers(1, 5),
    size=st.integers(3, 6),
    steps=st.integers(1, 3),
    m=st.integers(1, 3),
    n=st.integers(1, 3),
    s=st.integers(1, 2),
    v=st.integers(1, 3),
)
def test_skipping_is_bounded_by_dense_and_monotone(seed, k, stride, c_in, size, steps, m, n, s, v):
    """For random layers and spikes: group ≤ dense per tile, the dense sum equals the closed
    form, and adding spikes never lowers a tile's group or event cycles."""
    sched = _conv_schedule(
        {
            "pe.unroll_out_channels": m,
            "pe.unroll_out_columns": n,
            "pe.unroll_steps": s,
            "pe.unroll_in_channels": v,
            "buffers.spike_bytes": 4096,
        },
        c_in=c_in,
        size=size,
        c_out=3,
        k=k,
        stride=stride,
        steps=steps,
    )
    inp = sched.inputs[0]
    rng = np.random.default_rng(seed)
    a = (rng.random((steps, c_in, size, size)) < 0.2).astype(np.int64)
    b = a | (rng.random(a.shape) < 0.2)
    dense = cost.pe_tile_cycles(sched, a, inp, zero_skipping="none")
    _, h_o, w_o = sched.out_shape
    assert dense.sum() * sched.tiles[0] == cost.dense_cycles(
        3, m, h_o, w_o, n, steps, s, k, k, c_in, v
    )
    ga = cost.pe_tile_cycles(sched, a, inp, zero_skipping="group")
    gb = cost.pe_tile_cycles(sched, b, inp, zero_skipping="group")
    assert (ga <= dense).all()
    assert (ga <= gb).all()
    ea = cost.pe_tile_cycles(sched, a, inp, zero_skipping="event", events_per_cycle=2)
    eb = cost.pe_tile_cycles(sched, b, inp, zero_skipping="event", events_per_cycle=2)
    assert (ea <= eb).all()
    assert (ga == 0).sum() >= (gb == 0).sum()


def group_levels_reference(mag: np.ndarray, sched, multilevel: str) -> np.ndarray:
    """Plain-numpy ``cost.group_step_levels`` (``group_levels_numpy`` on the schedule's
    geometry)."""
    _, n, s, v = sched.unroll
    _, h_o, w_o = sched.out_shape
    lvl = (mag != 0).astype(np.int64) if multilevel == "multiply" else mag
    geometry = (sched.padding, sched.stride, *sched.kernel, sched.dilation)
    return group_levels_numpy(lvl, n, s, v, *geometry, h_o, w_o)


def group_levels_numpy(lvl, n, s, v, pad, stride, k_h, k_w, dil, h_o, w_o) -> np.ndarray:
    """Pad, take the largest level over each S×V block, then per (k_h, k_w) the strided
    slice's largest level over each tile's N columns, summed over the channel groups:
    int64 [H_o, n_w, n_t]."""
    steps, c_i, h_i, w_i = lvl.shape
    n_w, n_t, groups = -(-w_o // n), -(-steps // s), -(-c_i // v)
    x = np.zeros((n_t * s, groups * v, h_i + 2 * pad, w_i + 2 * pad), np.int64)
    x[:steps, :c_i, pad : pad + h_i, pad : pad + w_i] = lvl
    x = x.reshape(n_t, s, groups, v, *x.shape[2:]).max(axis=(1, 3))
    total = np.zeros((n_t, h_o, n_w), np.int64)
    for kh in range(k_h):
        for kw in range(k_w):
            r0, c0 = kh * dil, kw * dil
            rows = slice(r0, r0 + stride * (h_o - 1) + 1, stride)
            sl = x[:, :, rows, c0 : c0 + stride * (w_o - 1) + 1 : stride]
            sl = np.concatenate([sl, np.zeros((*sl.shape[:3], n_w * n - w_o), sl.dtype)], axis=3)
            total += sl.reshape(n_t, groups, h_o, n_w, n).max(axis=4).sum(axis=1)
    return total.transpose(1, 2, 0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.sampled_from([1, 2, 3]),
    stride=st.sampled_from([1, 2]),
    c_in=st.integers(1, 6),
    size=st.integers(2, 7),
    steps=st.integers(1, 4),
    n=st.integers(1, 4),
    s=st.integers(1, 3),
    v=st.integers(1, 4),
    max_level=st.integers(1, 4),
    multilevel=st.sampled_from(["repeat", "multiply"]),
    dtype=st.sampled_from([np.int8, np.int16, np.int64]),
)
def test_group_skipping_kernel_equals_numpy_reference(
    seed, k, stride, c_in, size, steps, n, s, v, max_level, multilevel, dtype
):
    """The compiled group-skipping loop nest equals the numpy formulation on random layers
    (kernels 1-3, strides 1-2, edge tiles in N, S and V) and random multi-level inputs, in
    each dtype ``LayerInput.magnitude`` comes in (the kernel keeps the levels' dtype)."""
    sched = _conv_schedule(
        {
            "pe.unroll_out_columns": n,
            "pe.unroll_steps": s,
            "pe.unroll_in_channels": v,
            "buffers.spike_bytes": 1 << 16,
        },
        c_in=c_in,
        size=size,
        c_out=2,
        k=k,
        stride=stride,
        steps=steps,
    )
    rng = np.random.default_rng(seed)
    mag = rng.integers(0, max_level + 1, (steps, c_in, size, size)) * (
        rng.random((steps, c_in, size, size)) < 0.3
    )
    mag = mag.astype(dtype)
    got = cost.group_step_levels(mag, sched, multilevel=multilevel)
    np.testing.assert_array_equal(got, group_levels_reference(mag, sched, multilevel))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    dil=st.integers(1, 3),
    pad=st.integers(0, 2),
    c_in=st.integers(1, 5),
    size=st.integers(3, 14),
    steps=st.integers(1, 4),
    n=st.integers(1, 5),
    s=st.integers(1, 3),
    v=st.integers(1, 4),
)
def test_group_levels_kernel_with_dilation_equals_numpy(
    seed, k, stride, dil, pad, c_in, size, steps, n, s, v
):
    """``cost._group_levels`` on raw geometry, dilation and wide rows included (many tiles
    with all N columns beside a partial last one), equals the numpy formulation."""
    span = dil * (k - 1) + 1
    assume(size + 2 * pad >= span)
    h_o = w_o = (size + 2 * pad - span) // stride + 1
    n_w, n_t, groups = -(-w_o // n), -(-steps // s), -(-c_in // v)
    rng = np.random.default_rng(seed)
    lvl = (
        rng.integers(0, 4, (steps, c_in, size, size))
        * (rng.random((steps, c_in, size, size)) < 0.4)
    ).astype(np.int16)
    got = cost._group_levels(lvl, n_t, s, v, groups, pad, stride, k, k, h_o, w_o, n, n_w, dil)
    want = group_levels_numpy(lvl, n, s, v, pad, stride, k, k, dil, h_o, w_o)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    size=st.integers(2, 9),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    signed=st.booleans(),
)
def test_activity_window_sum_equals_strided_adds(seed, lead, size, k, stride, signed):
    """``activity._sum_pool`` (the compiled window sum, any leading axes, a read-only view
    as the trace gives it) equals k² numpy strided adds, in the dtype its bound asks for."""
    from neurosim.timing import activity

    k = min(k, size)
    rng = np.random.default_rng(seed)
    x = rng.integers(-3 if signed else 0, 4, (*lead, size, size)).astype(np.int8)
    x.flags.writeable = False
    h = (size - k) // stride + 1
    want = np.zeros((*lead, h, h), np.int64)
    for dy in range(k):
        for dx in range(k):
            want += x[
                ...,
                dy : dy + (h - 1) * stride + 1 : stride,
                dx : dx + (h - 1) * stride + 1 : stride,
            ]
    got = activity._sum_pool(x, k, stride, 127 * k * k)
    assert got.dtype == (np.int8 if 127 * k * k <= 127 else np.int16)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scheme", ["if", "sws"])
def test_input_activity_is_the_spikes_magnitude(scheme):
    """``activity.layer_inputs``: |spikes| of every spiking source; non-negative spikes (IF)
    are read as a read-only view of the trace, signed ones (SWS's ternary spikes) copied."""
    from neurosim import convert, functional
    from neurosim.timing import activity
    from tests.conftest import random_codes, random_qann

    net = random_qann(5, levels=(2, 3, 2))
    snn = convert.convert(net, scheme, **({"num_steps": 3} if scheme == "if" else {}))
    trace = functional.run(snn, random_codes(net, 2, 5), keep_spikes=True)
    signed, checked = False, 0
    for lay in snn.layers[1:]:
        for act in activity.layer_inputs(snn, trace, lay.name, 1):
            if act.analog or act.aligned or act.source == snn.input.name:
                continue
            spikes = trace.layer(act.source).spikes[:, 1]
            if act.magnitude.shape != spikes.shape:
                continue  # pooled on the way
            np.testing.assert_array_equal(act.magnitude, np.abs(spikes))
            view = np.shares_memory(act.magnitude, spikes)
            assert view == (spikes.min() >= 0)
            assert not view or not act.magnitude.flags.writeable
            signed |= bool(spikes.min() < 0)
            checked += 1
    assert checked
    assert signed == (scheme == "sws")
