"""PE-array mapping: Algorithm 2 tiling, the reuse rule (bytes per tile), fit errors.

Hand-worked cases use the shipped ``pe_array_tiny`` config: M=2, N=2, S=1, V=2, 8-bit weights,
16-bit membranes, bitmap spikes, 8-bit event addresses, buffers 256 / 64 / 256 bytes.

``conv_net`` and ``make_trace`` are shared with ``tests/timing/test_pe_array.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurosim import convert, functional, hw, ir
from neurosim.errors import MappingError
from neurosim.mapping.pe_array import compile_pe_array
from neurosim.mapping.pe_array_bytes import tile_load_bytes, tile_store_bytes
from neurosim.mapping.pe_array_schedule import LOOP_ORDER
from neurosim.schemes import IFSpec, LMHTSpec
from neurosim.trace import LayerTrace, Trace
from tests.conftest import random_codes, random_qann


def conv_net(
    *,
    c_in: int = 4,
    size: int = 4,
    c_out: int = 4,
    kernel: int = 3,
    stride: int = 1,
    padding: int = 1,
    steps: int = 2,
    levels: int = 15,
    pool: int = 0,
    neuron: str = "if",
    num_levels: int = 3,
) -> ir.Network:
    """input (analog) → src (1×1 conv, spiking) → conv (the layer under test) → [pool] →
    flatten → fc (output). Weights are zero: the timing models only read shapes and spikes."""

    def spec(c: int) -> ir.NeuronSpec:
        if neuron == "lmht":
            return LMHTSpec(
                threshold=np.ones(c, np.int64),
                max_level=steps * num_levels,
                steps=steps,
                num_levels=num_levels,
            )
        return IFSpec(threshold=np.ones(c, np.int64), max_level=steps, steps=steps)

    layers: list[ir.Layer] = [
        ir.Input(name="input", shape=(c_in, size, size), levels=levels),
        ir.Conv2d(
            name="src",
            inputs=("input",),
            weight=np.zeros((c_in, c_in, 1, 1), np.int8),
            neuron=spec(c_in),
        ),
        ir.Conv2d(
            name="conv",
            inputs=("src",),
            weight=np.zeros((c_out, c_in, kernel, kernel), np.int8),
            stride=stride,
            padding=padding,
            neuron=spec(c_out),
        ),
    ]
    last = "conv"
    out = (size + 2 * padding - kernel) // stride + 1
    if pool:
        layers.append(ir.AvgPool2d(name="pool", inputs=("conv",), kernel=pool, stride=pool))
        last, out = "pool", out // pool
    layers.append(ir.Flatten(name="flatten", inputs=(last,)))
    layers.append(
        ir.Linear(name="fc", inputs=("flatten",), weight=np.zeros((3, c_out * out * out), np.int8))
    )
    scheme = "lmht" if neuron == "lmht" else "if"
    return ir.Network(layers=tuple(layers), kind="snn", scheme=scheme, name="conv_net")


def make_trace(net: ir.Network, spikes: dict[str, np.ndarray], codes: np.ndarray) -> Trace:
    """A hand-made Trace: ``spikes[name]`` int8 [steps, batch, *shape] for each spiking layer."""
    layers = []
    for lay in net.layers:
        sp = spikes.get(lay.name)
        family = lay.neuron.family if ir.is_spiking(lay) else None
        layers.append(
            LayerTrace(
                name=lay.name,
                op=lay.op,
                family=family,
                num_steps=1 if sp is None else sp.shape[0],
                shape=net.shapes[lay.name],
                spikes=None if sp is None else sp.astype(np.int8),
            )
        )
    batch = len(codes)
    classes = net.shapes[net.output.name][0]
    return Trace(
        network=net.name,
        scheme=net.scheme or "if",
        batch_size=batch,
        layers=tuple(layers),
        outputs=np.zeros((batch, classes)),
        output_int=np.zeros((batch, classes), np.int64),
        predictions=np.zeros(batch, np.int64),
        inputs=np.asarray(codes, np.int32),
    )


@pytest.fixture
def tiny():
    return hw.load("pe_array_tiny")


def test_conv_schedule_follows_algorithm_2(tiny):
    """conv: C_i=4, C_o=4, K=3, pad 1, 4×4, T=2 on M=2, N=2, S=1, V=2.

    tiles = ⌈4/2⌉·4·⌈4/2⌉·⌈2/1⌉ = 2·4·2·2 = 32; reduction steps K_h·K_w·⌈C_i/V⌉ = 3·3·2 = 18;
    dense PE cycles = 32·18 = 576; useful MACs 4·4·4·2·9·4 = 4608 = 576 cycles × 8 lanes → 1.0.
    """
    sched = compile_pe_array(conv_net(), tiny).layer("conv")
    assert sched.op == "conv2d"
    assert sched.tiles == (2, 4, 2, 2)
    assert sched.num_tiles == 32
    assert sched.reduction_steps == 18
    assert sched.dense_pe_cycles == 576
    assert sched.utilisation == 1.0
    assert sched.loop_order == LOOP_ORDER == "o>h>w>t>kh>kw>i"
    assert sched.weight_block_bytes == 72  # 2·4·3·3·8/8
    assert sched.weights_resident
    assert sched.input_total_bytes == 16  # 4·4·4 spikes × 2 steps × 1 bit / 8
    assert sched.band_bytes == 12  # 4 channels × 3 rows × 4 columns × 2 steps / 8
    assert sched.input_reuse == "layer"
    assert sched.membrane_tile_bytes == 8  # 2·2·16/8


def test_linear_is_a_1x1_conv_and_analog_layer_has_one_t_tile(tiny):
    """fc: 64 → 3 as a 1×1 conv with H_o = W_o = 1: tiles ⌈3/2⌉·1·1·⌈2/1⌉ = 4, reduction
    ⌈64/2⌉ = 32, dense 128, utilisation 3·2·64 / (128·8) = 0.375.
    src (reads the analog input): one t tile, tiles 2·4·2·1 = 16, reduction 1·1·⌈4/2⌉ = 2."""
    mapping = compile_pe_array(conv_net(), tiny)
    fc = mapping.layer("fc")
    assert (fc.op, fc.in_shape, fc.out_shape, fc.kernel) == (
        "linear",
        (64, 1, 1),
        (3, 1, 1),
        (1, 1),
    )
    assert fc.tiles == (2, 1, 1, 2)
    assert fc.dense_pe_cycles == 128
    assert fc.utilisation == pytest.approx(0.375)
    assert fc.output_kind == "logits"
    src = mapping.layer("src")
    assert src.inputs[0].kind == "analog"
    assert src.inputs[0].element_bits == 4  # codes 0..15
    assert (src.compute_steps, src.steps, src.tiles) == (1, 2, (2, 4, 2, 1))
    assert src.dense_pe_cycles == 32
    np.testing.assert_array_equal(src.neuron_step_extent(), [2])
    assert [s.name for s in mapping.layers] == ["src", "conv", "fc"]


def test_reuse_rule_whole_input_resident(tiny):
    """Tier ``layer`` (16 B input ≤ 64 B buffer): rows fetched once, during o = 0.

    New input rows per output row h (3×3, pad 1, 4 rows): h=0 → rows 0-1 (2), h=1 → row 2,
    h=2 → row 3, h=3 → none: [2, 1, 1, 0]; a row is 4 channels × 4 columns × 2 steps × 1 bit
    = 4 bytes → [8, 4, 4, 0] on the (o=0, h, w=0, t=0) tiles. Weights: 72 B per o block on its
    first tile.
    """
    sched = compile_pe_array(conv_net(), tiny).layer("conv")
    weights, inputs = tile_load_bytes(sched)
    assert weights.shape == inputs.shape == (2, 4, 2, 2)
    assert weights[0, 0, 0, 0] == weights[1, 0, 0, 0] == 72
    assert weights.sum() == 144
    np.testing.assert_array_equal(inputs[0, :, 0, 0], [8, 4, 4, 0])
    assert inputs.sum() == 16
    assert sched.dram_read_bytes == 160


def test_reuse_rule_band_per_o_iteration(tiny):
    """Tier ``band`` (band 12 B ≤ buffer 12 B < input 16 B): [8, 4, 4, 0] again for each o."""
    cfg = hw.replace_field(tiny, "buffers.spike_bytes", 12)
    sched = compile_pe_array(conv_net(), cfg).layer("conv")
    assert sched.input_reuse == "band"
    _, inputs = tile_load_bytes(sched)
    for o in range(2):
        np.testing.assert_array_equal(inputs[o, :, 0, 0], [8, 4, 4, 0])
    assert inputs.sum() == 32


def test_reuse_rule_receptive_field_per_tile_and_streamed_weights(tiny):
    """Tier ``tile`` (buffer 8 B < band 12 B): each tile reads valid rows × valid columns ×
    4 channels × 1 step × 1 bit. Valid rows per h: [2, 3, 3, 2]; columns: w=0 reads input
    columns −1..2 → 3, w=1 reads 1..4 → 3. Bytes ⌈rows·3·4/8⌉ = 3 (2 rows) or 5 (3 rows).
    Weight buffer 64 B < block 72 B: 72 B on every tile."""
    cfg = hw.replace_field(
        hw.replace_field(tiny, "buffers.spike_bytes", 8), "buffers.weight_bytes", 64
    )
    sched = compile_pe_array(conv_net(), cfg).layer("conv")
    assert sched.input_reuse == "tile"
    assert not sched.weights_resident
    weights, inputs = tile_load_bytes(sched)
    assert (weights == 72).all()
    for o in range(2):
        for w in range(2):
            for t in range(2):
                np.testing.assert_array_equal(inputs[o, :, w, t], [3, 5, 5, 3])
    assert sched.dram_read_bytes == 32 * 72 + 8 * (3 + 5 + 5 + 3)  # 8 (o, w, t) tiles per h
    assert not sched.data_dependent


def test_tile_extents_known_answers_and_read_only(tiny):
    """C_o = 5 by M = 2 → channels [2, 2, 1]; W_o = 3 by N = 2 → columns [2, 1]; T = 3 by S = 2
    → steps [2, 1]. Formed once per schedule and shared, so they cannot be written."""
    cfg = hw.replace_field(tiny, "pe.unroll_steps", 2)
    sched = compile_pe_array(conv_net(size=3, c_out=5, steps=3), cfg).layer("conv")
    extents = (sched.channel_extent(), sched.column_extent(), sched.step_extent())
    for got, want in zip(extents, ([2, 2, 1], [2, 1], [2, 1]), strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.int64
        assert not got.flags.writeable
    assert sched.channel_extent() is extents[0]


def test_reuse_rule_event_list_counts_events(tiny):
    """Event lists: ⌈events × 8 bits / 8⌉ per burst. Row events [3, 0, 5, 1] with the sliding
    band give o=0 rows: h=0 → rows 0-1 = 3, h=1 → row 2 = 5, h=2 → row 3 = 1, h=3 → 0."""
    cfg = hw.replace_field(tiny, "datapath.spike_format", "event_list")
    sched = compile_pe_array(conv_net(), cfg).layer("conv")
    assert sched.data_dependent
    assert sched.dram_read_bytes is None
    assert sched.dram_write_bytes is None
    _, inputs = tile_load_bytes(
        sched, row_events=[np.array([3, 0, 5, 1])], tile_events=[np.zeros((4, 2, 2), np.int64)]
    )
    np.testing.assert_array_equal(inputs[0, :, 0, 0], [3, 5, 1, 0])
    assert inputs.sum() == 9
    with pytest.raises(ValueError, match="event-list input"):
        tile_load_bytes(sched)


def test_store_bytes_spikes_and_logits(tiny):
    """Spikes: ⌈2·2·1 step·1 bit / 8⌉ = 1 byte per tile. src (analog, one t tile covering both
    steps): ⌈2·2·2·1/8⌉ = 1. fc logits: o=0 2 channels × 16 bits = 4 B, o=1 1 channel = 2 B,
    only on the last t tile."""
    mapping = compile_pe_array(conv_net(), tiny)
    conv = tile_store_bytes(mapping.layer("conv"))
    assert (conv == 1).all()
    assert conv.shape == (2, 4, 2, 2)
    assert (tile_store_bytes(mapping.layer("src")) == 1).all()
    fc = tile_store_bytes(mapping.layer("fc"))
    np.testing.assert_array_equal(fc[:, 0, 0, :], [[0, 4], [0, 2]])
    assert mapping.layer("fc").dram_write_bytes == 6


def test_pooling_folds_into_the_consumer_load(tiny):
    """conv → AvgPool 2×2 → flatten → fc: fc reads the unpooled spikes (4 bits per pooled
    element = 2·2 windows × 1 bit) and a pooled value can reach 4."""
    mapping = compile_pe_array(conv_net(pool=2), tiny)
    inp = mapping.layer("fc").inputs[0]
    assert (inp.source, inp.pool_area, inp.element_bits, inp.max_level) == ("conv", 4, 4, 4)
    assert mapping.layer("fc").in_shape == (16, 1, 1)
    assert mapping.layer("fc").input_total_bytes == 16  # 16 × 4 bits × 2 steps / 8
    assert [s.name for s in mapping.layers] == ["src", "conv", "fc"]


def test_lmht_inputs_are_multi_level(tiny):
    """LM-HT with L = 3: spikes take ⌈log2(3+1)⌉ = 2 bits, a value reaches level 3."""
    sched = compile_pe_array(conv_net(neuron="lmht"), tiny).layer("conv")
    assert (sched.inputs[0].element_bits, sched.inputs[0].max_level) == (2, 3)
    assert sched.output_bits == 2


def test_residual_network_schedules_every_synaptic_and_add_layer(tiny):
    """A converted residual net: one schedule per Conv2d/Linear/Add; the Add reads the
    partial sums of res.conv2 (membrane width) and the spikes of conv1."""
    net = random_qann(3, residual=True)
    snn = convert.convert(net, "if", num_steps=2)
    mapping = compile_pe_array(snn, tiny)
    expected = [lay.name for lay in snn.layers if lay.op in ("conv2d", "linear", "add")]
    assert [s.name for s in mapping.layers] == expected
    add = mapping.layer("res.add")
    assert add.op == "add"
    assert add.reduction_steps == 0
    assert add.dense_pe_cycles == 0
    assert [(i.source, i.kind, i.element_bits) for i in add.inputs] == [
        ("res.conv2", "psum", 16),
        ("conv1", "spikes", 1),
    ]
    assert mapping.layer("res.conv2").output_kind == "psum"
    frame = mapping.to_frame()
    assert list(frame["layer"]) == expected
    assert {
        "tiles",
        "loop_order",
        "tile_size",
        "utilisation",
        "weight_bytes",
        "input_bytes",
        "output_bytes",
        "membrane_bytes",
        "weights_on_chip",
        "inputs_on_chip",
        "membranes_on_chip",
        "dram_bytes",
    } <= set(frame.columns)
    assert (frame["dram_bytes"] == frame["dram_read_bytes"] + frame["dram_write_bytes"]).all()
    trace = functional.run(snn, random_codes(net, 1, 0))
    assert trace.network == mapping.network.name


def test_bitmap_tile_bytes_and_totals_are_the_reuse_rule_sums(tiny):
    """Every schedule of a residual net: ``bitmap_tile_bytes`` are ``tile_load_bytes`` (weights
    + inputs) and ``tile_store_bytes``; ``bitmap_tile_totals`` their integer and float64 sums
    and non-empty tiles; ``dram_read_bytes`` and ``dram_write_bytes`` the integer sums."""
    snn = convert.convert(random_qann(3, residual=True), "if", num_steps=2)
    for sched in compile_pe_array(snn, tiny).layers:
        w_bytes, i_bytes = tile_load_bytes(sched)
        store = tile_store_bytes(sched)
        load, kept = sched.bitmap_tile_bytes
        np.testing.assert_array_equal(load, w_bytes + i_bytes)
        np.testing.assert_array_equal(kept, store)
        assert sched.bitmap_tile_totals == tuple(
            (int(a.sum()), float(a.sum(dtype=np.float64)), int(np.count_nonzero(a)))
            for a in (w_bytes + i_bytes, store)
        )
        assert sched.dram_read_bytes == int(w_bytes.sum() + i_bytes.sum()) > 0
        assert sched.dram_write_bytes == int(store.sum()) > 0


def test_mixed_timesteps_are_aligned(tiny):
    """MT-IF with T = 2 then 4: the consumer aligns, so it reads both producer steps, a value
    reaches the producer's count 2, and it integrates the counts once: one ``t`` tile
    (compute_steps 1) whose neuron update covers all 4 steps, 2 dense passes (``repeat``)."""
    net = conv_net()
    src = net.layer("src")
    layers = [
        dataclasses.replace(src, neuron=dataclasses.replace(src.neuron, steps=2)),
        dataclasses.replace(
            net.layer("conv"),
            neuron=dataclasses.replace(net.layer("conv").neuron, steps=4, max_level=4),
        ),
    ]
    mixed = ir.Network(
        layers=(net.layers[0], *layers, *net.layers[3:]), kind="snn", scheme="mtif", name="mixed"
    )
    sched = compile_pe_array(mixed, tiny).layer("conv")
    inp = sched.inputs[0]
    assert inp.aligned
    assert inp.stored_steps == 2
    assert inp.max_level == 2
    assert (sched.compute_steps, sched.tiles[3], sched.dense_passes) == (1, 1, 2)
    np.testing.assert_array_equal(sched.stored_steps_covered(inp), [2])
    np.testing.assert_array_equal(sched.neuron_step_extent(), [4])


def test_analog_slice_too_big_for_the_spike_buffer(tiny):
    """src reads 4-bit codes: one slice is N·V·steps·bits/8 = 2·2·1·4/8 = 2 bytes; a 1-byte
    spike buffer (valid for 1-bit spikes: ⌈N·S·V/8⌉ = 1) cannot run it."""
    cfg = hw.replace_field(tiny, "buffers.spike_bytes", 1)
    with pytest.raises(MappingError) as err:
        compile_pe_array(conv_net(), cfg)
    text = str(err.value)
    assert "layer 'src'" in text
    assert "spike buffer" in text
    assert "= 2 bytes" in text
    assert "available 1 bytes" in text


def test_weight_and_membrane_buffers_too_small(tiny):
    """One reduction step needs M·V·8/8 = 4 weight bytes; one tile M·N·16/8 = 8 membrane
    bytes (configs built with dataclasses.replace, bypassing the loader's cross-checks)."""
    small_w = dataclasses.replace(tiny, buffers=dataclasses.replace(tiny.buffers, weight_bytes=3))
    with pytest.raises(
        MappingError,
        match=r"layer 'src': weight buffer .* = 4 bytes, "
        r"available 3 bytes",
    ):
        compile_pe_array(conv_net(), small_w)
    small_m = dataclasses.replace(tiny, buffers=dataclasses.replace(tiny.buffers, membrane_bytes=7))
    with pytest.raises(MappingError, match=r"membrane buffer .* = 8 bytes, available 7 bytes"):
        compile_pe_array(conv_net(), small_m)


def test_wrong_family_or_network_kind(tiny):
    with pytest.raises(MappingError, match="pe_array"):
        compile_pe_array(conv_net(), hw.load("multicore_tiny"))
    with pytest.raises(MappingError, match="convert it"):
        compile_pe_array(random_qann(1), tiny)
