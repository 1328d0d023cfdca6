"""The compiled sums and bundles of the multi-core plan against plain-numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import ir
from neurosim.mapping.multicore import EdgeMapping, LayerPartition
from neurosim.mapping.multicore_geometry import xy_routes
from neurosim.timing import multicore_bundles, multicore_events, multicore_traffic
from tests.reference import multicore_geometry as ref_geometry
from tests.reference import multicore_traffic as ref

SEEDS = st.integers(0, 2**31 - 1)


def _bounds(rng: np.random.Generator, total: int, parts: int) -> np.ndarray:
    """Sorted run boundaries from 0 to total, empty runs allowed."""
    inner = np.sort(rng.integers(0, total + 1, size=parts - 1))
    return np.concatenate([[0], inner, [total]]).astype(np.int64)


def _values(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    if dtype is bool:
        return rng.random(shape) < 0.3
    high = 2 if dtype is np.uint8 else 1000
    return rng.integers(0, high, size=shape).astype(dtype)


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, dtype=st.sampled_from([bool, np.uint8, np.int64, np.int32]))
def test_run_sums_equal_numpy(seed, dtype):
    rng = np.random.default_rng(seed)
    rows, n, inner = (int(v) for v in rng.integers(1, 6, size=3))
    n *= int(rng.integers(1, 5))
    x = _values(rng, (rows, n, inner), dtype)
    bounds = _bounds(rng, n, int(rng.integers(1, 5)))
    got = multicore_traffic.run_sums(x, bounds, 1)
    for b in range(inner):
        np.testing.assert_array_equal(got[:, :, b], ref.run_sums(x[:, :, b], bounds))


def _partition(rng: np.random.Generator, shape: tuple[int, int, int]) -> LayerPartition:
    c, h, w = shape
    groups = _bounds(rng, c, int(rng.integers(1, c + 1)))
    groups = np.unique(groups)  # non-empty channel groups, as the mapping makes them
    chunks = np.unique(_bounds(rng, h * w, int(rng.integers(1, h * w + 1))))
    cores = (len(groups) - 1) * (len(chunks) - 1)
    return LayerPartition(
        name="x",
        op="conv2d",
        role="spiking",
        shape=shape,
        group_bounds=groups,
        chunk_bounds=chunks,
        synapse_bytes=np.zeros(cores, np.int64),
        first_core=0,
        xy=np.stack([np.arange(cores), np.zeros(cores, np.int64)], axis=1),
    )


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, broadcast=st.booleans())
def test_core_sums_equal_a_scatter_over_neuron_cores(seed, broadcast):
    """Per-core sums of [variants, steps, C, H·W] and of the per-position form [.., 1, H·W]
    (every channel alike) equal np.add.at over each neuron's core."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 6, size=3))
    part = _partition(rng, shape)
    lead = (2, 3)
    x = _values(rng, (*lead, 1 if broadcast else shape[0], shape[1] * shape[2]), bool)
    full = np.broadcast_to(x, (*lead, shape[0], shape[1] * shape[2])).reshape(6, -1)
    labels = ref.neuron_core(shape, part.group_bounds, part.chunk_bounds)
    want = ref.label_sums(full, labels, part.num_cores).reshape(*lead, -1)
    np.testing.assert_array_equal(multicore_traffic.core_sums(x, part), want)
    np.testing.assert_array_equal(labels, part.neuron_core())


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, tokens=st.booleans(), bits_per_event=st.sampled_from([1, 8, 33]))
def test_edge_traffic_equals_bincount_and_lexsort(seed, tokens, bits_per_event):
    """Messages per source and target core and their hops; link loads, the busiest link, the
    route held (heaviest pair there, then fewest hops, then first), latency and bits × hops
    equal the row-by-row numpy reference, ties included (events drawn from a few values and
    read per pair through shared labels)."""
    rng = np.random.default_rng(seed)
    width, height = (int(v) for v in rng.integers(1, 7, size=2))
    pairs = int(rng.integers(1, 24))
    n_src, n_tgt, n_lab = (int(v) for v in rng.integers(1, 6, size=3))
    ps, pt = rng.integers(0, n_src, pairs), rng.integers(0, n_tgt, pairs)
    label = rng.integers(0, n_lab, pairs)
    src_cores = np.stack([rng.integers(0, width, n_src), rng.integers(0, height, n_src)], 1)
    dst_cores = np.stack([rng.integers(0, width, n_tgt), rng.integers(0, height, n_tgt)], 1)
    src, dst = src_cores[ps], dst_cores[pt]
    hops = np.abs(src - dst).sum(axis=1)
    values = rng.choice([0, 1, 2], size=(int(rng.integers(1, 6)), n_lab)).astype(np.int64)
    pair_lat = hops * int(rng.integers(0, 3))
    links = 4 * width * height
    flow = multicore_bundles.edge_traffic(
        values,
        multicore_bundles.pair_table(label, ps, pt, src_cores, dst_cores),
        n_src,
        n_tgt,
        bits_per_event=bits_per_event,
        link_bits_per_cycle=4,
        tokens=tokens,
        pair_lat=pair_lat,
        width=width,
        links=links,
    )
    per_pair = values[:, label]
    np.testing.assert_array_equal(flow.sent, ref.label_sums(per_pair, ps, n_src))
    np.testing.assert_array_equal(flow.received, ref.label_sums(per_pair, pt, n_tgt))
    d = np.abs(src - dst)
    np.testing.assert_array_equal(
        flow.moves, np.stack([per_pair.sum(1), per_pair @ d[:, 0], per_pair @ d[:, 1]], 1)
    )
    bits = per_pair * bits_per_event
    route_pair, route_link = xy_routes(src, dst, width)
    peak, want_lat, best, want_total = ref.bundles(
        bits, route_pair, route_link, hops, pair_lat, links, tokens
    )
    np.testing.assert_array_equal(flow.link_cycles, -(-peak // 4))
    np.testing.assert_array_equal(flow.latency, want_lat)
    np.testing.assert_array_equal(flow.bit_hops, want_total)
    for r, pair in enumerate(best):
        want = () if pair < 0 else tuple(route_link[route_pair == pair].tolist())
        assert flow.routes[r] == want


@settings(max_examples=80, deadline=None)
@given(seed=SEEDS)
def test_receptive_active_equals_shifted_slices(seed):
    """Output positions with an event among their (strided, dilated, zero-padded) taps equal
    the sum of one shifted slice per tap."""
    rng = np.random.default_rng(seed)
    geometry = ref_geometry.random_conv_geometry(rng)
    if geometry is None:
        return
    kh, kw, stride, dilation, padding, h, w, ho, wo = geometry
    m = rng.integers(0, 3, size=(int(rng.integers(1, 4)), h, w)) * (rng.random((h, w)) < 0.2)
    lay = ir.Conv2d(
        name="c",
        inputs=("x",),
        weight=np.zeros((1, 1, kh, kw), np.int64),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    want = ref.receptive_active(m, (kh, kw), padding, stride, dilation, (ho, wo))
    got = multicore_events.receptive_active(m, lay, (ho, wo))
    assert got.dtype == bool
    np.testing.assert_array_equal(got, want)


def test_per_step_and_emitted_fast_paths_equal_scatters():
    """Slots read in their own step (identity), all in step 0 (whole sample) or in an uneven
    order; emitted slots with an emit delay — against np.add.at and a loop."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 9, size=(2, 4, 3))
    for slot_step in ([0, 1, 2, 3], [0, 0, 0, 0], [0, 2, 2, 1]):
        slot_step = np.array(slot_step)
        want = np.zeros((2, 5, 3), np.int64)
        for v in range(2):
            np.add.at(want[v], slot_step, values[v])
        got = multicore_events.per_step(values, slot_step, 5, axis=1)
        np.testing.assert_array_equal(got, want)
        flags = values > 4
        np.testing.assert_array_equal(
            multicore_events.per_step(flags, slot_step, 5, axis=1), want_any(flags, slot_step)
        )
    emit = np.array([-1, 0, 1, 2, 3, -1])
    got = multicore_events.emitted_per_step(values, emit, axis=1)
    want = np.zeros((2, 6, 3), np.int64)
    want[:, 1:5] = values
    np.testing.assert_array_equal(got, want)


def want_any(flags: np.ndarray, slot_step: np.ndarray) -> np.ndarray:
    out = np.zeros((flags.shape[0], 5, flags.shape[2]), bool)
    for k, t in enumerate(slot_step):
        out[:, t] |= flags[:, k]
    return out


def _pair_edge(kind, src, tgt, need=None) -> EdgeMapping:
    ps, pt = np.nonzero(np.ones((src.num_cores, tgt.num_cores), bool))
    return EdgeMapping(
        source="x",
        target="y",
        via=(),
        kind=kind,
        payload="spikes",
        from_host=False,
        need=need,
        pair_source=ps,
        pair_target=pt,
        hops=np.ones(len(ps), np.int64),
    )


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, dtype=st.sampled_from([bool, np.uint8, np.int64]))
def test_cell_sums_of_spatial_and_elementwise_pairs_equal_masked_sums(seed, dtype):
    """A conv input's pair events (the source core's events in the positions the target chunk
    needs) and an elementwise input's (the events of the neurons both cores hold) equal
    masked numpy sums; the needed-position runs tile ``need`` within the source chunks."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 6, size=3))
    src, tgt = _partition(rng, shape), _partition(rng, shape)
    positions = shape[1] * shape[2]
    x = _values(rng, (3, shape[0], positions), dtype)
    need = rng.random((tgt.num_chunks, positions)) < 0.6
    jt, js, a, b = multicore_traffic.need_runs(need, src.chunk_bounds)
    tiled = np.zeros_like(need)
    for t, j, lo, hi in zip(jt, js, a, b, strict=True):
        assert src.chunk_bounds[j] <= lo < hi <= src.chunk_bounds[j + 1]
        assert not tiled[t, lo:hi].any()
        tiled[t, lo:hi] = True
    np.testing.assert_array_equal(tiled, need)
    for got, want in zip((jt, js, a, b), ref.need_runs(need, src.chunk_bounds), strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    edge = _pair_edge("spatial", src, tgt, need)
    geo = multicore_traffic.EdgeGeometry(edge, src, tgt, 8, 4 * 8 * 8)
    want = ref.spatial_pair_events(
        x,
        src.group_bounds,
        src.chunk_bounds,
        need,
        edge.pair_source,
        tgt.core_chunk[edge.pair_target],
    )
    np.testing.assert_array_equal(geo.pair_events(x), want)
    edge = _pair_edge("one_to_one", src, tgt)
    geo = multicore_traffic.EdgeGeometry(edge, src, tgt, 8, 4 * 8 * 8)
    labels = src.neuron_core() * tgt.num_cores + tgt.neuron_core()
    per_pair = ref.label_sums(x.reshape(3, -1), labels, src.num_cores * tgt.num_cores)
    want = per_pair[:, edge.pair_source * tgt.num_cores + edge.pair_target]
    np.testing.assert_array_equal(geo.pair_events(x), want)


@settings(max_examples=80, deadline=None)
@given(
    a=st.lists(st.integers(0, 12), min_size=1, max_size=8),
    b=st.lists(st.integers(0, 12), min_size=1, max_size=8),
)
def test_merged_runs_equal_union_and_searchsorted(a, b):
    """The compiled merge of two sorted bound arrays (repeated bounds included) equals
    ``np.union1d`` and, per merged bound, ``searchsorted(side="right") − 1`` in each."""
    a, b = np.sort(np.array(a, np.int64)), np.sort(np.array(b, np.int64))
    bounds, run_a, run_b = multicore_traffic._merged_runs(a, b)
    np.testing.assert_array_equal(bounds, np.union1d(a, b))
    np.testing.assert_array_equal(run_a, np.searchsorted(a, bounds, side="right") - 1)
    np.testing.assert_array_equal(run_b, np.searchsorted(b, bounds, side="right") - 1)


def test_pair_table_refuses_a_pair_outside_its_layers():
    """A pair naming a core its layer does not have is refused (the compiled pass reads
    nothing for it), naming the pair and both core counts."""
    xy = np.zeros((3, 2), np.int64)
    with pytest.raises(ValueError, match=r"pair 1 names source core 3 .* 3 and 2 cores"):
        multicore_bundles.pair_table(
            np.zeros(2, np.int64), np.array([0, 3]), np.array([0, 1]), xy, xy[:2]
        )
    table = multicore_bundles.pair_table(
        np.array([5, 6]),
        np.array([0, 2]),
        np.array([1, 0]),
        np.array([[0, 0], [1, 0], [3, 4]]),
        np.array([[0, 1], [2, 2]]),
    )
    np.testing.assert_array_equal(
        table, [[5, 0, 1, 2, 2, 4, 0, 0, 2, 2], [6, 2, 0, 3, 3, 6, 3, 4, 0, 1]]
    )
