"""Known answers for the PE-array model fixes: posted writes through a write buffer, next-layer
weight prefetch, integrate-once aligned inputs and pooled inputs in dense cycles.

Each test works its numbers by hand in the docstring (``pe_array_tiny``: M = N = 2, S = 1,
V = 2, 1 byte per cycle of DRAM, 10-cycle bursts, unless said otherwise).
"""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import convert, energy, functional, hw
from neurosim.mapping.pe_array import compile_pe_array
from neurosim.timing import pipeline
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.pe_array_costs import layer_costs
from tests.conftest import random_codes, random_qann
from tests.mapping.test_pe_array import conv_net
from tests.timing.test_pe_array import _config, _trace

# --------------------------------------------------------------------------------------------
# Posted writes
# --------------------------------------------------------------------------------------------

NEURON_ONLY = {"load": [0, 0, 0], "pe": [0, 0, 0], "neuron": [1, 1, 1]}
"""Three items reach the write-back stage at 1, 2 and 3 (one neuron-unit cycle each)."""


def _three_writes(buffer: int, wb: list[int], latency: int, occ: list[int] | None):
    times = pipeline.layer_times(
        0,
        NEURON_ONLY["load"],
        NEURON_ONLY["pe"],
        NEURON_ONLY["neuron"],
        wb,
        cap_load=3,
        cap_pe=3,
        cap_wb=3,
        psum=False,
        occ=occ,
        buffer=buffer,
        latency=latency,
    )
    return times, pipeline.layer_end(times, 0)


def test_write_buffer_full_empty_and_unposted():
    """Three 4-byte writes of 2 transfer cycles and a 10-cycle DRAM latency.

    Unposted (no buffer): every write-back waits for its burst, 2 + 10 = 12 cycles: [1, 13),
    [13, 25), [25, 37); the layer ends at 37.

    8-byte buffer (full after two writes): write 0 [1, 3) leaves at 13, write 1 [3, 5) leaves
    at 15; write 2 arrives at 5 but needs 4 bytes of a full buffer: it waits (memory) until
    write 0 leaves at 13, transfers [13, 15) and leaves at 25. The stage then waits for it
    (memory, [15, 25)): the layer ends at 25; memory stalls 8 + 10 = 18 cycles.

    64-byte buffer (never full): writes [1, 3), [3, 5), [5, 7), the last leaves at 17: the
    layer ends at 17 with one 10-cycle drain.
    """
    times, (_, _, end) = _three_writes(0, [12, 12, 12], 0, None)
    assert times[:, pipeline.WB_END].tolist() == [13, 25, 37]
    assert end == 37

    times, (_, drained, end) = _three_writes(8, [2, 2, 2], 10, [4, 4, 4])
    assert times[:, pipeline.WB_SPACE].tolist() == [1, 3, 13]
    assert times[:, pipeline.WB_END].tolist() == [3, 5, 15]
    assert times[:, pipeline.WB_DONE].tolist() == [13, 15, 25]
    assert (drained, end) == (25, 25)
    rows = pipeline.layer_intervals(times, load_wait=(0, 0))
    memory = rows[(rows[:, 0] == 3) & (rows[:, 1] == 1) & (rows[:, 2] == 1)]
    assert memory[:, 3:].tolist() == [[5, 13], [15, 25]]

    times, (_, _, end) = _three_writes(64, [2, 2, 2], 10, [4, 4, 4])
    assert times[:, pipeline.WB_SPACE].tolist() == [1, 3, 5]
    assert end == 17


def test_posted_write_back_costs_the_transfer_only():
    """conv_net's conv (32 tiles, each writing 2·2·1 spikes = 1 byte) on pe_array_tiny: without
    a buffer each write-back is 1 + 10 = 11 cycles (352 busy); with a 4-byte buffer it is the
    1-cycle transfer (32 busy), the latency overlaps later work, and the write-back stage's
    memory stalls include the final wait for the last write (10 cycles) at least."""
    net = conv_net()
    trace = _trace(net, density=0.3)
    base = _config(pe__zero_skipping="group")
    posted = hw.replace_field(base, "buffers.write_buffer_bytes", 4)
    stages = {}
    for name, cfg in (("base", base), ("posted", posted)):
        result = simulate_pe_array(compile_pe_array(net, cfg), trace, cfg)
        stages[name] = result.per_stage().set_index("stage")
    assert stages["base"].loc["conv.writeback", "busy_cycles"] == 32 * 11
    assert stages["posted"].loc["conv.writeback", "busy_cycles"] == 32
    assert stages["posted"].loc["conv.writeback", "stall_memory_cycles"] >= 10
    assert stages["base"].loc["conv.writeback", "stall_memory_cycles"] == 0


# --------------------------------------------------------------------------------------------
# Weight prefetch
# --------------------------------------------------------------------------------------------


def test_weight_prefetch_hit_and_miss():
    """conv_net: src (1×1, 4 → 4), conv (3×3, 4 → 4), fc (64 → 3); full M = 2 weight blocks of
    2·4 = 8, 2·4·9 = 72 and 2·64 = 128 bytes.

    Weight buffer 256 bytes: src + conv = 80 and conv + fc = 200 fit, so src's load stage
    fetches conv's first block after its last tile (72 bytes: 72 + 10 = 82 cycles) and conv's
    fetches fc's (128 + 10 = 138 cycles); conv's first burst is 72 cycles shorter and fc's 128.
    Weight buffer 150: conv + fc = 200 do not fit (a miss): fc loads its own block; src still
    prefetches conv's. DRAM bytes are the same either way.
    """
    net = conv_net()
    trace = _trace(net, density=0.3)
    for weights, conv_prefetch, fc_saved in ((256, 138, 128), (150, 0, 0)):
        off = _config(buffers__weight_bytes=weights)
        on = hw.replace_field(off, "buffers.prefetch_weights", True)
        runs = {}
        for name, cfg in (("off", off), ("on", on)):
            result = simulate_pe_array(compile_pe_array(net, cfg), trace, cfg)
            runs[name] = result
        a = runs["off"].per_stage().set_index("stage")["busy_cycles"]
        b = runs["on"].per_stage().set_index("stage")["busy_cycles"]
        assert b["src.load"] - a["src.load"] == 82
        assert b["conv.load"] - a["conv.load"] == -72 + conv_prefetch
        assert b["fc.load"] - a["fc.load"] == -fc_saved
        assert dict(runs["on"].traffic) == dict(runs["off"].traffic)
        mapping = compile_pe_array(net, on)
        conv = mapping.layer("conv")
        first = layer_costs(mapping, conv, trace, on, 0, prefetched=72)
        plain = layer_costs(mapping, conv, trace, on, 0)
        assert int(plain.load[0] - first.load[0]) == 72


# --------------------------------------------------------------------------------------------
# Aligned (MT-SNN) inputs: one accounting for timing and energy
# --------------------------------------------------------------------------------------------


def test_aligned_layer_pe_work_equals_the_energy_op_count():
    """MT-IF with T^l = 2, 5, 3, 4 on a residual net: res.conv1 (T = 5) reads conv1 (T = 2)
    aligned, the Add (T = 3) and fc1 (T = 4, through pooling) too. On a 1×1×1×1 array with
    event skipping at one event per cycle a tile is one output neuron and costs the input
    values in its receptive field, so Σ PE cycles of a layer = Σ input value × fan-out: the
    ``synaptic_ac_equiv`` the functional pass counts and the energy model prices. Integrating
    the whole-sample counts once makes them equal; charging them at every own step would
    multiply res.conv1's by 5 and fc1's by 4."""
    qann = random_qann(7, residual=True, levels=(2, 5, 3, 4))
    snn = convert.convert(qann, "mtif")
    codes = random_codes(qann, 2, 7)
    trace = functional.run(snn, codes, keep_spikes=True)
    cfg = _config(
        pe__unroll_out_channels=1,
        pe__unroll_out_columns=1,
        pe__unroll_in_channels=1,
        pe__zero_skipping="event",
        pe__events_per_cycle=1,
        buffers__weight_bytes=4096,
        buffers__spike_bytes=4096,
    )
    mapping = compile_pe_array(snn, cfg)
    checked = []
    eb = energy.estimate(trace, "horowitz_45nm", network=snn, hw=cfg)
    synaptic = {r["layer"]: r["count"] for r in eb.rows if r["component"] == "synaptic"}
    for sched in mapping.layers:
        if sched.op == "add" or sched.inputs[0].kind != "spikes":
            continue
        pe = sum(
            layer_costs(mapping, sched, trace, cfg, b).pe_cycles for b in range(trace.batch_size)
        )
        want = trace.layer(sched.name).total("synaptic_ac_equiv")
        assert pe == want, sched.name
        assert synaptic[sched.name] * trace.batch_size == pytest.approx(want)
        checked.append((sched.name, sched.inputs[0].aligned, sched.compute_steps))
    assert ("res.conv1", True, 1) in checked
    assert ("fc1", True, 1) in checked


# --------------------------------------------------------------------------------------------
# Pooled inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("multilevel", ["repeat", "multiply"])
def test_pooled_input_dense_cycles_bound_every_skipping_mode(multilevel):
    """conv_net(pool=2): fc reads the 2×2-pooled conv output, 4·2·2 = 16 values of 0..4.

    fc on M = 2, N = 2, S = 1, V = 2, T = 2: ⌈3/2⌉·1·1·2 = 4 tiles × ⌈16/2⌉ = 8 reduction
    steps = 32; a pooled value v takes v passes with ``repeat``, so the dense count is
    32 × 4 = 128 (32 with ``multiply``), which is what ``zero_skipping = "none"`` charges, and
    group skipping and event skipping at V = 2 events per cycle never exceed it (a tile's
    inputs are at most 16 values of 4: ⌈64/2⌉ = 32 = 8 steps × 4 passes). Utilisation stays
    the geometric 16/16 · 3/4 · 1/2 = 3/8 (passes fill the same lanes)."""
    net = conv_net(pool=2)
    trace = _trace(net, density=0.9, seed=3)
    passes = 4 if multilevel == "repeat" else 1
    for mode in ("none", "group", "event"):
        cfg = _config(pe__zero_skipping=mode, pe__multilevel=multilevel, pe__events_per_cycle=2)
        mapping = compile_pe_array(net, cfg)
        fc = mapping.layer("fc")
        assert fc.dense_passes == passes
        assert fc.dense_pe_cycles == 32 * passes
        assert fc.utilisation == pytest.approx(3 / 8)
        pe = layer_costs(mapping, fc, trace, cfg, 0).pe_cycles
        if mode == "none":
            assert pe == fc.dense_pe_cycles
        else:
            assert 0 < pe <= fc.dense_pe_cycles
        row = mapping.to_frame().set_index("layer").loc["fc"]
        assert (row["dense_passes"], row["dense_pe_cycles"]) == (passes, 32 * passes)
    assert np.all(trace.layer("conv").spikes >= 0)
