"""Grouped (depthwise) and dilated convolutions on both hardware families: known answers
worked by hand, brute-force references of the per-tile cycle formulas, the multi-core
synaptic operations against the functional pass, and engine equivalence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import convert, families, functional, hw, ir
from neurosim.mapping.multicore_geometry import conv_fanout, input_channel_bounds
from neurosim.mapping.pe_array import compile_pe_array, tile_load_bytes
from neurosim.timing import cost
from neurosim.timing.activity import TraceStats
from neurosim.timing.multicore_cost import grouped_conv_synaptic_events
from neurosim.timing.multicore_plan import build_plan
from neurosim.timing.pe_array import simulate_pe_array
from tests.test_grouped_conv import _net
from tests.timing.test_pipeline import _assert_same


def _small(seed: int = 0) -> ir.Network:
    """input 8×4×4 → c1 depthwise 8→8 3×3 p1 (g 8) → c2 8→8 3×3 g 4, dilation 2, p2 → fc."""
    rng = np.random.default_rng(seed)

    def conv(name, src, g, d):
        return ir.Conv2d(
            name=name,
            inputs=(src,),
            weight=rng.integers(-127, 128, size=(8, 8 // g, 3, 3)).astype(np.int8),
            weight_scale=rng.uniform(0.01, 0.03, 8),
            bias=rng.normal(0, 0.1, 8),
            padding=d,
            groups=g,
            dilation=d,
            act=ir.ActQuant(levels=4, clip=1.0),
        )

    return ir.Network(
        (
            ir.Input(name="input", shape=(8, 4, 4), scale=1 / 15, levels=15),
            conv("c1", "input", 8, 1),
            conv("c2", "c1", 4, 2),
            ir.Flatten(name="flat", inputs=("c2",)),
            ir.Linear(
                name="fc",
                inputs=("flat",),
                weight=rng.integers(-127, 128, size=(3, 128)).astype(np.int8),
                weight_scale=np.full(3, 0.01),
            ),
        ),
        name="small",
    )


def _pe(m=3, n=4, s=2, v=2, **fields):
    cfg = hw.load("pe_array")
    for path, value in {
        "pe.unroll_out_channels": m,
        "pe.unroll_out_columns": n,
        "pe.unroll_steps": s,
        "pe.unroll_in_channels": v,
        **fields,
    }.items():
        cfg = hw.replace_field(cfg, path, value)
    return cfg


def test_pe_array_grouped_and_dilated_known_answers():
    """M = 3, N = 4, S = 2, V = 2, T = 2 (``if``), inputs 8×4×4.

    c1 depthwise (g = 8, C_i/g = 1): the o blocks hold output channels 0-2, 3-5, 6-7, so they
    reduce 3, 3 and 2 input channels: K_h·K_w·⌈C_i(o)/V⌉ = 9·2, 9·2, 9·1 = 18, 18, 9.
    Dense cycles = H_o·⌈W_o/N⌉·⌈T/S⌉·Σ_o = 4·1·1·45 = 180 (a dense 8→8 conv: 3·4·9·4 = 432).
    Weight block 3·1·9·8/8 = 27 bytes; all weights 8·1·9 = 72 bytes. Utilisation (c1 reads
    the analog input: one computed step): useful 8·4·4·1·9·1 = 1152 lane-cycles of
    180·(3·4·2·2) = 8640: 0.1333.
    c2 (g = 4: C_i/g = 2, C_o/g = 2): blocks 0-2, 3-5, 6-7 touch groups {0, 1}, {1, 2}, {3}:
    4, 4, 2 input channels → 18, 18, 9 again; weight block 3·2·9 = 54 bytes, all 144 bytes.
    Dilation 2, padding 2: extent 5; output row h reads input rows h−2 … h+2, of which
    [3, 4, 4, 3] exist.
    """
    snn = convert.convert(_small(), "if", num_steps=2)
    mapping = compile_pe_array(snn, _pe())
    c1, c2 = mapping.layer("c1"), mapping.layer("c2")
    for sched in (c1, c2):
        np.testing.assert_array_equal(sched.block_reduction_steps(), [18, 18, 9])
        assert sched.reduction_steps == 18
        assert sched.dense_pe_cycles == 180
    np.testing.assert_array_equal(c1.block_in_channels(), [3, 3, 2])
    np.testing.assert_array_equal(c2.block_in_channels(), [4, 4, 2])
    np.testing.assert_array_equal(c2.block_in_offset(), [0, 2, 6])
    assert (c1.weight_block_bytes, c2.weight_block_bytes) == (27, 54)
    assert (c1.to_row()["weight_bytes"], c2.to_row()["weight_bytes"]) == (72, 144)
    assert c1.utilisation == pytest.approx(1152 / 8640)
    assert c2.extent == (5, 5)
    np.testing.assert_array_equal(c2.input_row_counts(), [3, 4, 4, 3])
    np.testing.assert_array_equal(c2.input_column_counts(), [4])


def test_pe_array_grouped_tile_tier_bytes():
    """c2 in the ``tile`` tier: a tile loads C_i(o) channels × its valid rows × its columns
    × 2 stored steps × 1 bit: o = 0, h = 0: 4·3·4·2/8 = 12 bytes; o = 2 (2 channels): 6;
    h = 1: 4·4·4·2/8 = 16. Weights: the first tile of each o block, 3·2·9·8/8 = 54 bytes and
    2·2·9 = 36 for the last block."""
    snn = convert.convert(_small(), "if", num_steps=2)
    c2 = dataclasses.replace(compile_pe_array(snn, _pe()).layer("c2"), input_reuse="tile")
    weights, inputs = tile_load_bytes(c2)
    assert inputs.shape == (3, 4, 1, 1)
    np.testing.assert_array_equal(inputs[:, :, 0, 0], [[12, 16, 16, 12]] * 2 + [[6, 8, 8, 6]])
    np.testing.assert_array_equal(weights[:, 0, 0, 0], [54, 54, 36])


def _blocks(sched):
    """(first input channel, channels) of each o block."""
    return list(zip(sched.block_in_offset(), sched.block_in_channels(), strict=True))


def _group_reference(mag, sched, multilevel):
    """Brute force: cycles[o, h, w, t] = Σ over (k_h, k_w, V-slice of the block's channels)
    of the slice's largest level (0 when all zero) — rows h·s − p + k_h·d, columns
    (w·N + j)·s − p + k_w·d, the tile's S steps."""
    lvl = (mag != 0).astype(np.int64) if multilevel == "multiply" else mag.astype(np.int64)
    _, n, s, v = sched.unroll
    _n_o, h_o, n_w, n_t = sched.tiles
    _, h_i, w_i = sched.in_shape
    k_h, k_w = sched.kernel
    p, st_, d = sched.padding, sched.stride, sched.dilation
    out = np.zeros(sched.tiles, np.int64)
    for o, (a, c) in enumerate(_blocks(sched)):
        for h in range(h_o):
            for w in range(n_w):
                cols = range(w * n, min((w + 1) * n, sched.out_shape[2]))
                for t in range(n_t):
                    for kh in range(k_h):
                        r = h * st_ - p + kh * d
                        if not 0 <= r < h_i:
                            continue
                        for kw in range(k_w):
                            for i in range(a, a + c, v):
                                best = 0
                                for j in cols:
                                    x = j * st_ - p + kw * d
                                    if 0 <= x < w_i:
                                        sl = lvl[t * s : (t + 1) * s, i : min(i + v, a + c), r, x]
                                        best = max(best, int(sl.max(initial=0)))
                                out[o, h, w, t] += best
    return out


@settings(max_examples=25, deadline=None)
@given(
    groups=st.sampled_from([1, 2, 4, 8]),
    dilation=st.integers(1, 3),
    stride=st.integers(1, 2),
    m=st.integers(1, 5),
    n=st.integers(1, 4),
    v=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    multilevel=st.sampled_from(["repeat", "multiply"]),
)
def test_group_and_event_skipping_match_brute_force(
    groups, dilation, stride, m, n, v, seed, multilevel
):
    """Group zero skipping equals the brute-force slice maxima, and event skipping equals the
    events at the taps each tile reads (summed over its block's channels), for any groups,
    dilation, stride and unroll."""
    rng = np.random.default_rng(seed)
    layer = ir.Conv2d(
        name="c",
        inputs=("input",),
        weight=np.ones((8, 8 // groups, 3, 3), np.int8),
        weight_scale=np.ones(8),
        stride=stride,
        padding=dilation,
        groups=groups,
        dilation=dilation,
        act=ir.ActQuant(levels=4, clip=1.0),
    )
    net = ir.Network(
        (
            ir.Input(name="input", shape=(8, 7, 7), scale=1.0, levels=3),
            ir.Conv2d(
                name="c0",
                inputs=("input",),
                weight=np.ones((8, 8, 1, 1), np.int8),
                weight_scale=np.ones(8),
                act=ir.ActQuant(levels=4, clip=1.0),
            ),
            dataclasses.replace(layer, inputs=("c0",)),
            ir.Flatten(name="f", inputs=("c",)),
            ir.Linear(
                name="fc",
                inputs=("f",),
                weight=np.ones((2, int(np.prod(_shape(layer, stride, dilation)))), np.int8),
                weight_scale=np.ones(2),
            ),
        )
    )
    snn = convert.convert(net, "if", num_steps=3)
    sched = compile_pe_array(snn, _pe(m=m, n=n, s=2, v=v)).layer("c")
    mag = rng.integers(0, 3, (3, 8, 7, 7)) * (rng.random((3, 8, 7, 7)) < 0.3)
    got = cost.group_step_levels(mag, sched, multilevel=multilevel)
    got = np.broadcast_to(got if got.ndim == 4 else got[None], sched.tiles)
    np.testing.assert_array_equal(got, _group_reference(mag, sched, multilevel))
    # event skipping: Σ of the events at the taps of each tile (level counts, S steps)
    events = cost.receptive_field_events(mag, sched, count="level")
    events = np.broadcast_to(events if events.ndim == 4 else events[None], sched.tiles)
    np.testing.assert_array_equal(events, _event_reference(mag, sched))


def _event_reference(mag, sched):
    """Events at the taps each tile reads (dilation > 1) or in its span (d = 1, the existing
    model), summed over the block's channels and the tile's steps."""
    _, n, s, _ = sched.unroll
    _n_o, h_o, n_w, n_t = sched.tiles
    _, h_i, w_i = sched.in_shape
    k_h, k_w = sched.kernel
    p, st_, d = sched.padding, sched.stride, sched.dilation
    out = np.zeros(sched.tiles, np.int64)
    for o, (a, c) in enumerate(_blocks(sched)):
        for h in range(h_o):
            if d == 1:
                rows = set(range(h * st_ - p, h * st_ - p + k_h))
            else:
                rows = {h * st_ - p + kh * d for kh in range(k_h)}
            for w in range(n_w):
                j0, j1 = w * n, min((w + 1) * n, sched.out_shape[2]) - 1
                if d == 1:
                    cols = set(range(j0 * st_ - p, j1 * st_ - p + k_w))
                else:
                    cols = {j * st_ - p + kw * d for j in range(j0, j1 + 1) for kw in range(k_w)}
                rr = [r for r in rows if 0 <= r < h_i]
                cc = [x for x in cols if 0 <= x < w_i]
                for t in range(n_t):
                    block = mag[t * s : (t + 1) * s, a : a + c][:, :, rr][:, :, :, cc]
                    out[o, h, w, t] = int(block.sum())
    return out


def _shape(layer, stride, dilation):
    h = (7 + 2 * dilation - 2 * dilation - 1) // stride + 1
    return (8, h, h)


def test_multicore_fanout_and_grouped_ops_known_answers():
    """conv_fanout with dilation 2: a 1×3 kernel over a 1×5 input, one output (no padding)
    reads x = 0, 2, 4. Grouped ops: 2 groups, 1 chunk, fan-out 1 per position; core 0 holds
    output channels of group 0 only (2 of them), core 1 one of each group; events per group
    [3, 5] → core 0: 2·3 = 6, core 1: 3 + 5 = 8."""
    fan = conv_fanout((1, 5), (1, 1), (1, 3), 1, 0, np.array([0, 1]), dilation=2)
    np.testing.assert_array_equal(fan, [[1, 0, 1, 0, 1]])
    ops = grouped_conv_synaptic_events(
        np.array([[[3], [5]]]), np.ones((1, 1)), np.array([[2, 0], [1, 1]]), np.array([0, 0])
    )
    np.testing.assert_array_equal(ops, [[6, 8]])
    lo, hi = input_channel_bounds(np.array([0, 3, 8]), c_in=16, c_out=8, groups=4)
    # output channels 0-2: groups 0-1 → inputs 0-7; 3-7: groups 1-3 → inputs 4-15
    np.testing.assert_array_equal(lo, [0, 4])
    np.testing.assert_array_equal(hi, [8, 16])


@pytest.mark.parametrize(("groups", "dilation"), [(4, 2), (1, 2), (4, 1)])
def test_multicore_synaptic_ops_equal_the_functional_count(groups, dilation):
    """Per layer and sample, the multi-core plan's synaptic operations (fan-out × channels of
    each core, per group) equal the functional pass's count (conv2d_fanout), on a net with a
    grouped/dilated conv and a depthwise conv, through a small-core config that splits every
    layer over several cores."""
    net = _net(5, groups, dilation)
    snn = convert.convert(net, "if", num_steps=3)
    codes = np.random.default_rng(1).integers(0, 16, (1, 4, 9, 9))
    trace = functional.run(snn, codes)
    cfg = hw.replace_field(hw.load("multicore"), "core.neurons_per_core", 96)
    mapping = families.compile(snn, cfg)
    assert max(p.num_cores for p in mapping.layers) > 2
    plan = build_plan(mapping, trace, cfg)
    for stage in plan.stages:
        lt = trace.layer(stage.layer)
        expected = int(lt.ops.get("synaptic_ops", np.zeros(1)).sum())
        if stage.layer == "c1":
            continue  # the direct-coded first layer counts MACs, once per sample
        assert int(stage.synaptic_events[0]) == expected, stage.layer


def test_depthwise_costs_less_than_dense_on_both_families():
    """The same network with c1 dense (g = 1) and grouped (g = 4, C_i/g = 1, C_o/g = 2): with
    M = 2 and V = 1 an o block reduces 1 input channel instead of 4 (¼ of the PE cycles and
    of the weight block); the multi-core synaptic operations of c1 drop to ¼ as well."""
    dense, grouped = (convert.convert(_net(2, g, 1), "if", num_steps=4) for g in (1, 4))
    codes = np.random.default_rng(2).integers(0, 16, (2, 4, 9, 9))
    pe, mc = _pe(m=2, n=4, s=2, v=1), hw.load("multicore")
    res = {}
    for key, snn in (("dense", dense), ("grouped", grouped)):
        trace = functional.run(snn, codes)
        m = compile_pe_array(snn, pe)
        res[key] = (
            m.layer("c1").dense_pe_cycles,
            m.layer("c1").weight_block_bytes,
            families.simulate(families.compile(snn, mc), trace, mc).layer_traffic,
        )
    assert res["grouped"][0] * 4 == res["dense"][0]  # ⌈C_i(o)/V⌉: 1 group of 4 → ¼
    assert res["grouped"][1] * 4 == res["dense"][1]
    ops = {k: v[2].set_index("layer").loc["c1", "synaptic_ops"] for k, v in res.items()}
    assert ops["grouped"] * 4 == ops["dense"]


@pytest.mark.parametrize("zero_skipping", ["none", "group", "event"])
def test_pe_array_engines_agree_on_grouped_dilated_nets(zero_skipping):
    """SimPy, max-plus and the fast engine give the same intervals and totals, with one
    TraceStats shared across M (grouped blocks depend on M: their memo keys hold it)."""
    snn = convert.convert(_net(7, 4, 2), "if", num_steps=3)
    trace = functional.run(snn, np.random.default_rng(3).integers(0, 16, (2, 4, 9, 9)))
    stats = TraceStats(snn, trace)
    for m in (3, 8):
        cfg = _pe(m=m, n=4, s=2, v=4, **{"pe.zero_skipping": zero_skipping})
        mapping = compile_pe_array(snn, cfg)
        a = simulate_pe_array(mapping, trace, cfg, num_samples=2)
        b = simulate_pe_array(mapping, trace, cfg, num_samples=2, engine="maxplus", stats=stats)
        _assert_same(a, b)


def _max_pool_net() -> ir.Network:
    """_net with a 3×3, stride-1, padding-1 max pool between c1 (8 levels) and c2."""
    net = _net(3, 1, 2)
    layers = list(net.layers)
    layers.insert(2, ir.MaxPool2d(name="mp", inputs=("c1",), kernel=3, stride=1, padding=1))
    layers[3] = dataclasses.replace(layers[3], inputs=("mp",))
    return ir.Network(tuple(layers), name="mp")


def test_max_pool_on_both_families():
    """mtif align="always": c2 integrates c1's whole-sample counts, max-pooled. The PE array
    reads 3·3 = 9 producer bits per pooled element (element_bits 9), the largest value is
    T = 8 (a count; max pooling does not add); the activity is the max over each window of
    the counts; the multi-core plan's synaptic operations equal the functional count (the
    max pool forwards each window's winner); both PE-array engines agree."""
    snn = convert.convert(_max_pool_net(), "mtif", align="always")
    codes = np.random.default_rng(4).integers(0, 16, (2, 4, 9, 9))
    trace = functional.run(snn, codes)
    cfg = _pe(m=4, n=4, s=2, v=4)
    mapping = compile_pe_array(snn, cfg)
    inp = mapping.layer("c2").inputs[0]
    assert (inp.source, inp.element_bits, inp.max_level, inp.aligned) == ("c1", 9, 8, True)
    stats = TraceStats(snn, trace)
    mag = stats.layer_inputs("c2", 0)[0].magnitude
    counts = trace.layer("c1").spikes[:, 0].astype(np.int64).sum(axis=0)
    padded = np.pad(counts, ((0, 0), (1, 1), (1, 1)))
    expected = np.max([padded[:, i : i + 9, j : j + 9] for i in range(3) for j in range(3)], 0)
    np.testing.assert_array_equal(mag, expected[None])
    a = simulate_pe_array(mapping, trace, cfg, num_samples=2)
    b = simulate_pe_array(mapping, trace, cfg, num_samples=2, engine="maxplus", stats=stats)
    _assert_same(a, b)
    one = functional.run(snn, codes[:1])
    mc = hw.replace_field(hw.load("multicore"), "core.neurons_per_core", 96)
    plan = build_plan(families.compile(snn, mc), one, mc)
    for stage in plan.stages:
        if stage.layer != "c1":  # the direct-coded first layer counts MACs
            assert int(stage.synaptic_events[0]) == int(
                one.layer(stage.layer).ops["synaptic_ops"].sum()
            ), stage.layer


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_systolic_dataflows_refuse_grouped_convs(dataflow):
    """A systolic dataflow maps a conv as one GEMM; a grouped conv is refused, naming the
    layer and the dataflow that models it."""
    from neurosim.errors import UnsupportedError

    snn = convert.convert(_small(), "if", num_steps=2)
    with pytest.raises(UnsupportedError, match=r"layer 'c1'.*algorithm2"):
        compile_pe_array(snn, _pe(**{"pe.zero_skipping": "none", "pe.dataflow": dataflow}))
