"""Multi-core mapping: partitions within core capacity, snake placement, XY hops, errors.

The hand-worked cases use ``multicore_tiny`` (2x2 mesh; 64 neurons and 4096 synapse bytes per
core; 8-bit weights). ``chain_net`` and ``make_trace`` are shared with the timing tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import hw, ir
from neurosim.errors import MappingError
from neurosim.mapping.multicore import LayerPartition, _shared_neurons, compile_multicore
from neurosim.mapping.multicore_geometry import (
    PLACEMENTS,
    balanced_bounds,
    conv_fanout,
    core_pairs,
    place_snake,
    run_overlap,
    xy_routes,
)
from neurosim.schemes import IFSpec, LMHTSpec, TSASpec
from neurosim.trace import LayerTrace, Trace
from tests.reference import multicore_geometry as ref_geometry

# --------------------------------------------------------------------------------------------
# Hand-built networks and traces (the timing model reads only shapes, specs and spikes)
# --------------------------------------------------------------------------------------------


def neuron_for(
    scheme: str, n: int, steps: int, *, align: str = "when_T_differs", silent_steps: int = 0
) -> ir.NeuronSpec:
    th = np.ones(n, np.int64)
    if scheme in ("if", "mtif"):
        return IFSpec(threshold=th, max_level=steps, steps=steps, align=align)
    if scheme == "sws":
        return TSASpec(threshold=th, max_level=15, coding_steps=steps, silent_steps=silent_steps)
    return LMHTSpec(threshold=th, max_level=steps * 2, steps=steps, num_levels=2)


def chain_net(
    widths: tuple[int, ...],
    steps: tuple[int, ...],
    scheme: str = "if",
    *,
    align: str = "when_T_differs",
    silent_steps: int = 0,
) -> ir.Network:
    """input (widths[0],) → fc1 … fc{L} (spiking, steps[i]) → out (linear, non-spiking)."""
    layers: list[ir.Layer] = [ir.Input(name="input", shape=(widths[0],), levels=15)]
    prev = "input"
    names = [f"fc{i + 1}" for i in range(len(widths) - 2)] + ["out"]
    for i, name in enumerate(names):
        w = np.zeros((widths[i + 1], widths[i]), np.int8)
        neuron = (
            None
            if name == "out"
            else neuron_for(scheme, widths[i + 1], steps[i], align=align, silent_steps=silent_steps)
        )
        layers.append(ir.Linear(name=name, inputs=(prev,), weight=w, neuron=neuron))
        prev = name
    meta = {"coding_steps": steps[0], "silent_steps": silent_steps} if scheme == "sws" else {}
    return ir.Network(layers=tuple(layers), kind="snn", scheme=scheme, name="chain", meta=meta)


def make_trace(net: ir.Network, spikes: dict[str, np.ndarray], codes: np.ndarray) -> Trace:
    """A one-sample trace: ``spikes[name]`` is [steps, *shape] (the SWS encoder: 'input')."""
    layers = []
    for lay in net.layers:
        sp = spikes.get(lay.name)
        arr = None if sp is None else np.asarray(sp, np.int8)[:, None]
        layers.append(
            LayerTrace(
                name=lay.name,
                op=lay.op,
                family=None,
                num_steps=1 if arr is None else arr.shape[0],
                shape=net.shapes[lay.name],
                spikes=arr,
            )
        )
    classes = net.shapes[net.output.name][0]
    return Trace(
        network=net.name,
        scheme=net.scheme,
        batch_size=1,
        layers=tuple(layers),
        outputs=np.zeros((1, classes)),
        output_int=np.zeros((1, classes), np.int64),
        predictions=np.zeros(1, np.int64),
        inputs=np.asarray(codes)[None],
    )


def conv_net(channels: int = 8, size: int = 4) -> ir.Network:
    """input (2, size, size) → conv (3×3, pad 1, IF T=2) → pool 2 → flatten → fc (10)."""
    w = np.zeros((channels, 2, 3, 3), np.int8)
    n_fc = channels * (size // 2) ** 2
    layers = (
        ir.Input(name="input", shape=(2, size, size), levels=15),
        ir.Conv2d(
            name="conv",
            inputs=("input",),
            weight=w,
            padding=1,
            neuron=neuron_for("if", channels, 2),
        ),
        ir.AvgPool2d(name="pool", inputs=("conv",), kernel=2, stride=2),
        ir.Flatten(name="flatten", inputs=("pool",)),
        ir.Linear(name="fc", inputs=("flatten",), weight=np.zeros((10, n_fc), np.int8)),
    )
    return ir.Network(layers=layers, kind="snn", scheme="if", name="convnet")


def tiny(**fields) -> hw.MulticoreConfig:
    cfg = hw.load("multicore_tiny")
    for path, value in fields.items():
        cfg = hw.replace_field(cfg, path.replace("__", "."), value)
    return cfg


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def test_conv_fanout_counts_output_positions_per_input():
    """3×3, pad 1, 4×4 → 4×4, one chunk: a corner input feeds 2·2 = 4 outputs, an edge 2·3 = 6,
    an interior one 3·3 = 9; in total Σ over outputs of in-image kernel taps = 100."""
    fan = conv_fanout((4, 4), (4, 4), (3, 3), 1, 1, np.array([0, 16])).reshape(4, 4)
    assert fan.tolist() == [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]]
    assert fan.sum() == 100


def test_conv_fanout_splits_by_chunk_and_stride():
    """Two chunks of 8 positions (rows 0-1, rows 2-3) of the 4×4 output: their maps add up to
    the one-chunk map; input row 3 feeds only output rows 2-3 (pad 1 → rows 2..4 ∩ 0..3).
    A 1×1 stride-2 conv on 4×4 reads only inputs (even, even), once each."""
    two = conv_fanout((4, 4), (4, 4), (3, 3), 1, 1, np.array([0, 8, 16]))
    one = conv_fanout((4, 4), (4, 4), (3, 3), 1, 1, np.array([0, 16]))
    assert np.array_equal(two.sum(axis=0), one[0])
    assert two[0].reshape(4, 4)[3].tolist() == [0, 0, 0, 0]
    strided = conv_fanout((4, 4), (2, 2), (1, 1), 2, 0, np.array([0, 4])).reshape(4, 4)
    assert strided.tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_conv_fanout_equals_shifted_slices(seed):
    """The compiled fan-out map equals one shifted slice per tap over a padded one-hot map of
    the chunks, for any kernel, stride, padding, dilation and chunking."""
    rng = np.random.default_rng(seed)
    geometry = ref_geometry.random_conv_geometry(rng)
    if geometry is None:
        return
    kh, kw, stride, dilation, padding, h, w, ho, wo = geometry
    inner = rng.integers(0, ho * wo + 1, size=int(rng.integers(0, 4)))
    bounds = np.unique(np.concatenate([[0], inner, [ho * wo]])).astype(np.int64)
    args = ((h, w), (ho, wo), (kh, kw), stride, padding, bounds, dilation)
    got = conv_fanout(*args)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref_geometry.conv_fanout(*args))


def test_xy_routes_go_x_then_y():
    """Width 3. (0,0)→(2,1): east from router 0 (id 4·0+0), east from router 1 (4·1+0), north
    from router 2 (4·2+2) = [0, 4, 10]. (2,1)→(0,0): west from router 5 (4·5+1 = 21), west
    from router 4 (17), south from router 3 (4·3+3 = 15)."""
    pair, link = xy_routes(np.array([[0, 0], [2, 1]]), np.array([[2, 1], [0, 0]]), 3)
    assert pair.tolist() == [0, 0, 0, 1, 1, 1]
    assert link.tolist() == [0, 4, 10, 21, 17, 15]


def test_snake_placement():
    """2 + 3 + 1 cores on a 3x2 mesh: row 0 left→right, row 1 right→left."""
    xy = place_snake([2, 3, 1], 3, 2)
    assert xy.tolist() == [[0, 0], [1, 0], [2, 0], [2, 1], [1, 1], [0, 1]]
    assert "snake" in PLACEMENTS


# --------------------------------------------------------------------------------------------
# Partitioning and placement
# --------------------------------------------------------------------------------------------


def test_conv_and_linear_partition_known_answer():
    """conv: 8 channels × 4×4 = 128 neurons; 16 positions per channel → 64 // 16 = 4 channels
    per core; one channel's weights 2·3·3 = 18 bytes (4096 // 18 = 227 channels fit) → 2 cores
    of 4 channels, 64 neurons and 4·18 = 72 bytes. fc: 10 neurons, fan-in 8·2·2 = 32 bytes
    each → 1 core, 320 bytes. Snake on 2x2: conv cores (0,0), (1,0); fc (1,1). Hops conv→fc:
    2 and 1 → mean 1.5, max 2. Utilisation: conv 128/(2·64) = 1, 144/(2·4096); fc 10/64,
    320/4096. Pool and flatten take no core; the edge carries them in ``via``."""
    m = compile_multicore(conv_net(), tiny())
    assert m.family == "multicore"
    assert [p.name for p in m.layers] == ["conv", "fc"]
    conv, fc = m.layers
    assert conv.num_cores == 2
    assert conv.neurons_per_core.tolist() == [64, 64]
    assert conv.synapse_bytes.tolist() == [72, 72]
    assert fc.num_cores == 1
    assert fc.synapse_bytes.tolist() == [320]
    assert conv.xy.tolist() == [[0, 0], [1, 0]]
    assert fc.xy.tolist() == [[1, 1]]
    edge = next(e for e in m.edges if e.source == "conv")
    assert edge.kind == "dense"
    assert edge.via == ("pool", "flatten")
    assert sorted(edge.hops.tolist()) == [1, 2]
    host = next(e for e in m.edges if e.source == "input")
    assert host.from_host
    assert host.target == "conv"
    df = m.to_frame()
    row = df.set_index("layer")
    assert row.loc["conv", "cores"] == 2
    assert row.loc["conv", "neurons_per_core"] == 64
    assert row.loc["conv", "synapse_bytes_per_core"] == 72
    assert row.loc["conv", "neuron_utilisation"] == 1.0
    assert row.loc["conv", "synapse_utilisation"] == pytest.approx(144 / 8192)
    assert row.loc["conv", "mean_hops"] == 1.5
    assert row.loc["conv", "max_hops"] == 2
    assert row.loc["fc", "neuron_utilisation"] == pytest.approx(10 / 64)
    assert row.loc["fc", "synapse_utilisation"] == pytest.approx(320 / 4096)
    assert np.isnan(row.loc["fc", "mean_hops"])
    assert m.cores_frame()["core"].tolist() == [0, 1, 2]


def test_synapse_memory_limits_channels_per_core():
    """With 40 synapse bytes per core only 40 // 18 = 2 conv channels fit (not 4): 4 cores;
    fc then holds 40 // 32 = 1 neuron per core: 10 cores (a 4x4 mesh holds the 14)."""
    m = compile_multicore(
        conv_net(), tiny(core__synapse_bytes_per_core=40, mesh__width=4, mesh__height=4)
    )
    assert m.layer("fc").num_cores == 10
    conv = m.layer("conv")
    assert conv.num_cores == 4
    assert conv.channels_per_core.tolist() == [2, 2, 2, 2]
    assert conv.synapse_bytes.tolist() == [36, 36, 36, 36]


def test_large_feature_map_splits_positions_and_only_neighbours_talk():
    """1 channel of 16×16 = 256 positions > 64 → 4 chunks of 64 positions (4 rows each).
    A following 3×3 conv chunk reads its own rows ±1, so chunk j talks to source chunks
    j−1, j, j+1: 2 + 3 + 3 + 2 = 10 core pairs (not 16)."""
    w1 = np.zeros((1, 1, 3, 3), np.int8)
    layers = (
        ir.Input(name="input", shape=(1, 16, 16), levels=15),
        ir.Conv2d(name="a", inputs=("input",), weight=w1, padding=1, neuron=neuron_for("if", 1, 2)),
        ir.Conv2d(name="b", inputs=("a",), weight=w1, padding=1, neuron=neuron_for("if", 1, 2)),
        ir.Flatten(name="flatten", inputs=("b",)),
        ir.Linear(name="fc", inputs=("flatten",), weight=np.zeros((2, 256), np.int8)),
    )
    net = ir.Network(layers=layers, kind="snn", scheme="if", name="big")
    m = compile_multicore(net, tiny(mesh__width=4, mesh__height=3))
    a = m.layer("a")
    assert a.num_cores == 4
    assert a.chunk_bounds.tolist() == [0, 64, 128, 192, 256]
    edge = next(e for e in m.edges if e.source == "a")
    pairs = sorted(zip(edge.pair_source.tolist(), edge.pair_target.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3)]


def test_residual_add_is_one_to_one_and_partial_sums_are_mapped(rng):
    """A residual block: the non-spiking conv2 gets cores (role partial_sum) and feeds the Add
    one-to-one; the skip input too. Under SWS the skip input carries ``Add.delays`` = Ts."""
    from neurosim import convert
    from tests.conftest import random_qann

    snn = convert.convert(random_qann(3, residual=True), "if", num_steps=2)
    m = compile_multicore(snn, hw.load("multicore"))
    roles = {p.name: p.role for p in m.layers}
    assert roles["res.conv2"] == "partial_sum"
    assert roles["fc2"] == "output"
    assert roles["res.add"] == "spiking"
    into_add = [e for e in m.edges if e.target == "res.add"]
    sws = convert.convert(random_qann(3, residual=True), "sws", coding_steps=4, silent_steps=2)
    skip = [e for e in compile_multicore(sws, hw.load("multicore")).edges if e.target == "res.add"]
    assert [e.delay_steps for e in skip] == [0, 2]  # the skip path crosses one TSA layer: Ts
    assert [(e.source, e.kind, e.payload) for e in into_add] == [
        ("res.conv2", "one_to_one", "partial_sums"),
        ("conv1", "one_to_one", "spikes"),
    ]


# --------------------------------------------------------------------------------------------
# Errors and extension points
# --------------------------------------------------------------------------------------------


def test_network_bigger_than_chip_names_layer_and_numbers():
    """16 channels × 8×8 = 1024 neurons → 64 // 64 = 1 channel per core → 16 cores; the tiny
    chip has 4 (2x2)."""
    with pytest.raises(MappingError) as err:
        compile_multicore(conv_net(channels=16, size=8), tiny())
    msg = str(err.value)
    for part in (
        "'conv'",
        "16 cores",
        "1024 neurons",
        "18 synapse bytes",
        "4 cores",
        "2x2 mesh",
        "64 neurons",
        "4096 synapse bytes",
        "17 cores",
    ):
        assert part in msg, (part, msg)


def test_channel_bigger_than_core_memory():
    """fc fan-in 8·2·2 = 32 weights → 32 bytes per neuron > 20 bytes of synapse memory (the
    conv's 18 bytes per channel fit, one channel per core, on a 3x3 mesh)."""
    with pytest.raises(MappingError, match=r"'fc'.*32 bytes.*20 bytes"):
        compile_multicore(
            conv_net(), tiny(core__synapse_bytes_per_core=20, mesh__width=3, mesh__height=3)
        )


def test_custom_and_unknown_placement():
    def column_major(counts, width, height):
        idx = np.arange(sum(counts))
        return np.stack([idx // height, idx % height], axis=1)

    m = compile_multicore(conv_net(), tiny(), placement=column_major)
    assert m.layer("fc").xy.tolist() == [[1, 0]]
    assert m.placement == "column_major"
    with pytest.raises(MappingError, match="unknown placement 'spiral'"):
        compile_multicore(conv_net(), tiny(), placement="spiral")


# --------------------------------------------------------------------------------------------
# Residual inputs that arrive through pooling (an ImageNet ResNet's stem)
# --------------------------------------------------------------------------------------------


def pooled_skip_qann(seed: int = 5) -> ir.Network:
    """input (1, 8, 8) → conv1 (3×3, 4 channels) → pool (2×2) → conv2 (3×3, no activation)
    → add(conv2, pool) → flatten → fc (3): the Add reads conv1's spikes through the pooling,
    as an ImageNet ResNet's first block reads the stem."""
    from tests.conftest import _weights

    rng = np.random.default_rng(seed)

    def act() -> ir.ActQuant:
        return ir.ActQuant(levels=3, clip=float(rng.uniform(0.5, 2.0)))

    w1, s1, b1 = _weights(rng, (4, 1, 3, 3))
    w2, s2, b2 = _weights(rng, (4, 4, 3, 3))
    w3, s3, b3 = _weights(rng, (3, 64))
    layers = (
        ir.Input(name="input", shape=(1, 8, 8), scale=1 / 15, levels=15),
        ir.Conv2d(
            name="conv1",
            inputs=("input",),
            weight=w1,
            weight_scale=s1,
            bias=b1,
            padding=1,
            act=act(),
        ),
        ir.AvgPool2d(name="pool", inputs=("conv1",), kernel=2, stride=2),
        ir.Conv2d(name="conv2", inputs=("pool",), weight=w2, weight_scale=s2, bias=b2, padding=1),
        ir.Add(name="add", inputs=("conv2", "pool"), act=act()),
        ir.Flatten(name="flatten", inputs=("add",)),
        ir.Linear(name="fc", inputs=("flatten",), weight=w3, weight_scale=s3, bias=b3),
    )
    return ir.Network(layers=layers, kind="qann", name="pooled_skip")


def test_add_reads_its_channels_through_pooling():
    """16 neurons per core: conv1 (4 × 8×8) is 4 channels × 4 runs of 16 positions (two rows
    each) = 16 cores; the Add (4 × 4×4) one channel per core, all 16 positions = 4 cores. Add
    core c pools channel c over the whole 8×8 map, so it receives from the 4 conv1 cores of
    channel c, 4·c … 4·c + 3, and from no other: 16 pairs."""
    from neurosim import convert

    snn = convert.convert(pooled_skip_qann(), "if", num_steps=2)
    m = compile_multicore(snn, tiny(mesh__width=6, mesh__height=6, core__neurons_per_core=16))
    assert (m.layer("conv1").num_cores, m.layer("add").num_cores) == (16, 4)
    (skip,) = [e for e in m.edges if e.target == "add" and e.source == "conv1"]
    assert (skip.kind, skip.via, skip.payload) == ("one_to_one", ("pool",), "spikes")
    pairs = sorted(zip(skip.pair_source.tolist(), skip.pair_target.tolist(), strict=True))
    assert pairs == [(4 * c + j, c) for c in range(4) for j in range(4)]


def test_imagenet_resnet18_maps_on_a_64x64_mesh():
    """ResNet-18/ImageNet: layer1.0.add reads 'pool1' (the stem's 2×2 pooling of conv1), which
    the family could not map. On a 64 × 64 mesh of the shipped multicore cores it maps on
    3,814 cores, and the core pairs of that input are exactly those of a neuron-by-neuron
    count: Add neuron (c, y, x) reads conv1 neurons (c, 2y + dy, 2x + dx), dy, dx ∈ {0, 1}."""
    from neurosim import convert, zoo

    qann = zoo.build("resnet18", dataset="imagenet", calibration_samples=1)
    snn = convert.convert(qann, "if", num_steps=2)
    cfg = hw.replace_fields(hw.load("multicore"), {"mesh.width": 64, "mesh.height": 64})
    m = compile_multicore(snn, cfg)
    assert m.num_cores == 3814
    (skip,) = [e for e in m.edges if e.target == "layer1.0.add" and e.source == "conv1"]
    assert skip.via == ("pool1",)
    src, tgt = m.layer("conv1"), m.layer("layer1.0.add")
    c, h, w = tgt.shape
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    target = tgt.neuron_core().reshape(c, h, w)
    src_core = src.neuron_core().reshape(src.shape)
    want = set()
    for dy in (0, 1):
        for dx in (0, 1):
            s = src_core[cc, 2 * yy + dy, 2 * xx + dx]
            want |= set(zip(s.ravel().tolist(), target.ravel().tolist(), strict=True))
    got = set(zip(skip.pair_source.tolist(), skip.pair_target.tolist(), strict=True))
    assert got == want
    assert len(got) == 1024


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_shared_neurons_equal_a_scatter_over_neuron_cores(seed):
    """An elementwise edge's core pairs from channel and position overlaps equal marking the
    (source core, target core) of every neuron; ``run_overlap`` equals a set intersection."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, size=3))

    def part(name: str) -> LayerPartition:
        c, h, w = shape
        groups = balanced_bounds(c, int(rng.integers(1, c + 1)))
        chunks = balanced_bounds(h * w, int(rng.integers(1, h * w + 1)))
        cores = (len(groups) - 1) * (len(chunks) - 1)
        return LayerPartition(
            name=name,
            op="add",
            role="spiking",
            shape=shape,
            group_bounds=groups,
            chunk_bounds=chunks,
            synapse_bytes=np.zeros(cores, np.int64),
            first_core=0,
            xy=np.zeros((cores, 2), np.int64),
        )

    src, tgt = part("a"), part("b")
    want = np.zeros((src.num_cores, tgt.num_cores), dtype=bool)
    want[src.neuron_core(), tgt.neuron_core()] = True
    np.testing.assert_array_equal(np.kron(*_shared_neurons(src, tgt)), want)
    a, b = src.group_bounds, tgt.group_bounds
    brute = [
        [bool(set(range(a[i], a[i + 1])) & set(range(b[j], b[j + 1]))) for j in range(len(b) - 1)]
        for i in range(len(a) - 1)
    ]
    np.testing.assert_array_equal(run_overlap(a, b), np.array(brute, dtype=bool))


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_core_pairs_equal_the_nonzero_entries_of_the_kronecker_product(seed):
    """``core_pairs`` lists the pairs of kron(group mask, chunk mask) in ``np.nonzero``
    order, each with the Manhattan distance of its cores' mesh positions."""
    rng = np.random.default_rng(seed)
    gs, gt, js, jt = (int(v) for v in rng.integers(1, 6, size=4))
    group_comm = rng.random((gs, gt)) < rng.random()
    chunk_comm = rng.random((js, jt)) < rng.random()
    src_xy = rng.integers(0, 9, size=(gs * js, 2))
    tgt_xy = rng.integers(0, 9, size=(gt * jt, 2))
    source, target, hops = core_pairs(group_comm, chunk_comm, src_xy, tgt_xy)
    want_s, want_t = np.nonzero(np.kron(group_comm, chunk_comm))
    np.testing.assert_array_equal(source, want_s)
    np.testing.assert_array_equal(target, want_t)
    np.testing.assert_array_equal(hops, np.abs(src_xy[want_s] - tgt_xy[want_t]).sum(axis=1))
    assert source.dtype == target.dtype == hops.dtype == np.int64


def test_core_pairs_needs_a_position_per_core():
    """Positions that do not match the masks' core counts are refused, not read past."""
    ones = np.ones((2, 2), bool)
    with pytest.raises(ValueError, match="4 source and 4 target cores"):
        core_pairs(ones, ones, np.zeros((3, 2), np.int64), np.zeros((4, 2), np.int64))
