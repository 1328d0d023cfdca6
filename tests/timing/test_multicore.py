"""Multi-core SimPy model: closed forms, time-step semantics, stalls with causes, traffic.

Hand-worked cases run either the pipeline engine on a plan with given cycles per step
(``chain_plan``, ``PipelinePlan``) or the whole model on a hand-built network and trace
(``tests/mapping/test_multicore.py``) on ``multicore_tiny``: 1 synop and 1 neuron update per
cycle, 8-bit links and 8-bit events (one event per link cycle), 1-cycle hops, 2x2 mesh (snake:
cores (0,0), (1,0), (1,1), (0,1)), no barrier, one-sample input buffers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from neurosim import convert, energy, functional, hw
from neurosim.errors import ConfigError, MappingError
from neurosim.hw.energy_table import load_energy_table
from neurosim.mapping.multicore import compile_multicore
from neurosim.timing import multicore_cost as cost
from neurosim.timing import multicore_events
from neurosim.timing.multicore import simulate_multicore, simulate_plan
from neurosim.timing.multicore_plan import (
    EdgePlan,
    PipelinePlan,
    StagePlan,
    build_plan,
    chain_plan,
)
from tests.conftest import random_codes, random_qann
from tests.mapping.test_multicore import chain_net, make_trace, tiny


def _stalls(result, stage: str, cause: str, sample: int | None = None) -> int:
    iv = result.intervals
    sel = (iv["stage"] == stage) & (iv["kind"] == "stall") & (iv["cause"] == cause)
    if sample is not None:
        sel &= iv["sample"] == sample
    return int((iv.loc[sel, "end_cycles"] - iv.loc[sel, "start_cycles"]).sum())


# --------------------------------------------------------------------------------------------
# Pure formulas
# --------------------------------------------------------------------------------------------


def test_cycle_formulas_by_hand():
    """syn 10 ops at 4/cycle, 3 neurons at 2/cycle: phases alone ceil(2.5) = 3 and ceil(1.5)
    = 2; the step rounds once: ceil(2.5 + 1.5) = 4 (= ceil((10·2 + 3·4) / 8)). With 1/cycle
    both forms give 10 + 3 = 13. LM-HT with L = 4 compares: ceil(3·4 / 2) = 6.
    A 20-bit bundle on 8-bit links over 3 hops of 2 cycles: ceil(20/8) + 3·2 = 3 + 6 = 9."""
    assert int(cost.syn_cycles(10, 4)) == 3
    assert int(cost.neuron_cycles(3, 2)) == 2
    assert int(cost.step_cycles(10, 3, 4, 2)) == 4
    assert int(cost.step_cycles(10, 3, 1, 1)) == 13
    assert int(cost.neuron_cycles(3, 2, updates_per_neuron=4)) == 6
    assert int(cost.bundle_bits(5, 4)) == 20
    assert int(cost.link_cycles(20, 8)) == 3
    assert int(cost.transfer_cycles(20, 3, 8, 2)) == 9
    assert cost.step_cycles(np.array([0, 1, 8]), 0, 8, 1).tolist() == [0, 1, 1]


def test_synaptic_event_formulas():
    """Conv: inputs [2 events at pos 0, 1 at pos 1] with fan-out chunk maps [[1, 2], [3, 0]]:
    chunk 0 gets 2·1 + 1·2 = 4, chunk 1 gets 2·3 = 6; cores (chunk 0, 2 channels) and (chunk 1,
    3 channels) → 8 and 18. Linear: 5 events × 4 neurons = 20."""
    syn = cost.conv_synaptic_events(
        np.array([[2, 1]]), np.array([[1, 2], [3, 0]]), np.array([2, 3]), np.array([0, 1])
    )
    assert syn.tolist() == [[8, 18]]
    assert cost.dense_synaptic_events(np.array([5]), np.array([4])).tolist() == [[20]]


def test_link_loads_sum_shared_links():
    """Pair 0 uses links [3, 5], pair 1 uses [5]; 16 and 8 bits → link 3: 16, link 5: 24;
    Σ loads = 16·2 + 8·1 = 40 bit-hops."""
    loads = cost.link_loads(np.array([[16, 8]]), np.array([0, 0, 1]), np.array([3, 5, 5]), 8)
    assert loads[0, 3] == 16
    assert loads[0, 5] == 24
    assert loads.sum() == 40


def test_closed_forms():
    """τ = (10, 30, 6): whole-sample latency 46 + NoC 3 + 3 = 52; interval 30; idle 20, 0, 24.
    Per-step with c = (5, 15, 3), T = 2: 23 + 6 + 1·15 = 44. SWS: 8 + 2·16 = 40, 10."""
    tau = cost.stage_cycles(np.array([[5, 5], [15, 15], [3, 3]]))
    assert tau.tolist() == [10, 30, 6]
    assert cost.latency_whole_sample(tau, [3, 3]) == 52
    assert cost.steady_interval(tau) == 30
    assert cost.idle_per_sample(tau).tolist() == [20, 0, 24]
    assert cost.latency_per_step([5, 15, 3], [3, 3], 2) == 44
    assert cost.sws_latency_steps(8, 2, 16) == 40
    assert cost.sws_frame_interval_steps(8, 2) == 10


# --------------------------------------------------------------------------------------------
# The pipeline engine with given cycles (closed forms)
# --------------------------------------------------------------------------------------------


def test_whole_sample_chain_latency_interval_and_idle():
    """3 stages, 2 steps each of 5, 15 and 3 cycles (τ = 10, 30, 6); every bundle holds its link
    2 cycles and arrives 1 later (NoC 3); each stage waits for its predecessor's whole sample.
    Latency: A ends 10, its last bundle arrives 13; B runs 13-43, its last bundle arrives 46;
    C runs 46-52 → 52 = Σ τ + 2·3. A stream of 20 (buffers of 2): interval = max τ = 30.
    In steady state A waits 30 − 10 = 20 per sample (backpressure: B has not started sample
    k − 2), C waits 30 − 6 = 24 (dependency); B never waits after sample 0."""
    plan = chain_plan(
        [[5, 5], [15, 15], [3, 3]], whole_sample=True, link_cycles=2, latency_cycles=1
    )
    r = simulate_plan(plan, num_samples=20)
    assert r.latency_cycles == 52 == cost.latency_whole_sample([10, 30, 6], [3, 3])
    assert r.interval_cycles == 30 == cost.steady_interval([10, 30, 6])
    assert r.makespan_cycles == 52 + 19 * 30
    assert all(_stalls(r, "stage0", "backpressure", k) == 20 for k in range(4, 20))
    assert all(_stalls(r, "stage2", "dependency", k) == 24 for k in range(1, 20))
    assert _stalls(r, "stage1", "dependency") == 13
    assert isinstance(r.latency_cycles, int)
    assert r.intervals["end_cycles"].dtype.kind == "i"


def test_per_step_chain_latency():
    """Same stages pipelined step by step: A steps end 5, 10 (arrive 8, 13); B runs 8-23, 23-38
    (arrive 26, 41); C runs 26-29, 41-44 → 44 = Σc + ΣNoC + (T−1)·max c = 23 + 6 + 15."""
    plan = chain_plan([[5, 5], [15, 15], [3, 3]], link_cycles=2, latency_cycles=1)
    r = simulate_plan(plan, num_samples=20)
    assert r.latency_cycles == 44 == cost.latency_per_step([5, 15, 3], [3, 3], 2)
    assert r.interval_cycles == 30


def test_single_sample_interval_is_longest_stage_occupancy():
    """One sample: stage occupancies 10, 30, 6 (whole-sample, no waits inside a sample)."""
    r = simulate_plan(chain_plan([[5, 5], [15, 15], [3, 3]], whole_sample=True))
    assert r.interval_cycles == 30
    assert r.num_samples == 1


def test_two_bundles_sharing_a_link_stall_on_it():
    """A (one 4-cycle step) sends to B and to C at cycle 4; both bundles need link 7 for 5
    cycles. A->B holds it 4-9 (arrives 10, B runs 10-11); A->C waits 4-9 (a 5-cycle 'link'
    stall), holds it 9-14, arrives 15, C runs 15-16. On separate links C would start at 10."""

    def plan(route_c):
        return PipelinePlan(
            stages=(
                StagePlan("A", [[4]]),
                StagePlan("B", [[1]], inputs=(0,), need=[[0]]),
                StagePlan("C", [[1]], inputs=(1,), need=[[0]]),
            ),
            edges=(
                EdgePlan(0, 1, [[5]], 1, routes=(7,), name="A->B"),
                EdgePlan(0, 2, [[5]], 1, routes=route_c, name="A->C"),
            ),
        )

    shared = simulate_plan(plan((7,)))
    assert _stalls(shared, "A->C", "link") == 5
    assert _stalls(shared, "A->B", "link") == 0
    assert shared.latency_cycles == 16
    apart = simulate_plan(plan((8,)))
    assert _stalls(apart, "A->C", "link") == 0
    assert apart.latency_cycles == 11


def test_global_barrier_stalls():
    """Steps of 3 (A) and 5 (B) cycles, barrier 10, free NoC. Global step 0 (0-13): A works
    0-3 and waits at the barrier 3-13; B has no input (dependency 0-13). Step 1 (13-28): A 13-16
    then barrier 16-28 (12); B 13-18, barrier 18-28 (10). Step 2 (28-43): B 28-33, barrier
    33-43. Barrier stalls: A 10 + 12 = 22, B 10 + 10 = 20; latency 33 (B's last step)."""
    r = simulate_plan(chain_plan([[3, 3], [5, 5]], barrier_cycles=10))
    assert _stalls(r, "stage0", "barrier") == 22
    assert _stalls(r, "stage1", "barrier") == 20
    assert _stalls(r, "stage1", "dependency") == 13
    assert r.latency_cycles == 33


# --------------------------------------------------------------------------------------------
# The whole model on hand-built networks
# --------------------------------------------------------------------------------------------


def test_if_chain_end_to_end_known_answer():
    """input (4) → fc1 (3 IF, T=2) → fc2 (2 IF, T=2) → out (2), codes [3, 0, 5, 1].
    fc1 step 0: 3 non-zero codes × 3 neurons + 3 updates = 12; step 1: 3. Spikes fc1
    [1,0,1], [1,1,0] → bundles of 2 events = 16 bits: 2 link cycles + 1 hop. fc2 (per-step)
    step t: 2 events × 2 neurons + 2 = 6. fc2 spikes [1,0], [1,1] → 8 and 16 bits.
    fc1 0-12, 12-15; bundles: link 12-14 → 15, link 15-17 → 18. fc2 15-21, 21-27; bundles:
    link 21-22 → 23, link 27-29 → 30. out (2 neurons): step 0: 1·2 + 2 = 4 (23-27), step 1:
    2·2 + 2 = 6 (30-36) → latency 36. Synaptic ops 9 + 8 + 6 = 23 (= bytes at 8 bits);
    bit-hops (16 + 16)·1 + (8 + 16)·1 = 56."""
    net = chain_net((4, 3, 2, 2), (2, 2))
    tr = make_trace(
        net, {"fc1": [[1, 0, 1], [1, 1, 0]], "fc2": [[1, 0], [1, 1]]}, np.array([3, 0, 5, 1])
    )
    cfg = tiny()
    r = simulate_multicore(compile_multicore(net, cfg), tr, cfg)
    assert r.latency_cycles == 36
    assert r.family == "multicore"
    busy = r.per_stage().set_index("stage")["busy_cycles"].to_dict()
    assert busy == {"fc1": 15, "fc1->fc2": 4, "fc2": 12, "fc2->out": 3, "out": 10}
    assert _stalls(r, "fc2", "dependency") == 15
    assert _stalls(r, "out", "dependency") == 23 + 3
    assert {k: r.traffic[k] for k in ("sram_read_bytes", "noc_bit_hops")} == {
        "sram_read_bytes": 23,
        "noc_bit_hops": 56,
    }
    lt = r.layer_traffic.set_index("layer")
    assert lt.loc["fc1", "noc_bit_hops"] == 32
    assert lt.loc["out", "sram_read_bytes"] == 6
    assert r.latency_us == pytest.approx(36 / 100.0)


def test_mixed_time_steps_make_the_consumer_wait_for_all_steps():
    """MT-IF: fc1 (T=4) feeds fc2 (T=2), so fc2 aligns and needs all 4 of fc1's bundles.
    Codes [2, 0, 0, 0]: fc1 step 0 = 1·3 + 3 = 6, steps 1-3 = 3 → ends 6, 9, 12, 15. Spikes
    [1,0,0], [0,1,0], [0,0,0], [1,0,0]: one-event bundles take 1 link cycle + 1 hop (arrive 8,
    11, 17); the empty step sends a 0-bit end-of-step token (1 hop, arrives 13). fc2 waits
    0-17: 17 dependency cycles = τ_fc1 (15) + the last bundle's transfer (2). It then does
    the whole sample's synaptic work in its first step (3 events × 2 + 2 = 8, 17-25) and
    1 neuron step (2, 25-27). With equal T = 4 (raw propagation) fc2 would wait only for
    slot 0: 8 cycles."""
    codes = np.array([2, 0, 0, 0])
    fc1 = [[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]]
    cfg = tiny()
    net = chain_net((4, 3, 2, 2), (4, 2), "mtif")
    r = simulate_multicore(
        compile_multicore(net, cfg),
        make_trace(net, {"fc1": fc1, "fc2": [[1, 1], [0, 1]]}, codes),
        cfg,
    )
    assert _stalls(r, "fc2", "dependency") == 17
    iv = r.intervals
    fc2_busy = iv[(iv["stage"] == "fc2") & (iv["kind"] == "busy")]
    assert fc2_busy[["start_cycles", "end_cycles"]].values.tolist() == [[17, 25], [25, 27]]
    net_eq = chain_net((4, 3, 2, 2), (4, 4), "mtif")
    r_eq = simulate_multicore(
        compile_multicore(net_eq, cfg),
        make_trace(net_eq, {"fc1": fc1, "fc2": [[1, 1], [0, 1], [0, 0], [0, 0]]}, codes),
        cfg,
    )
    first = r_eq.intervals[(r_eq.intervals["stage"] == "fc2")].iloc[0]
    assert (first["cause"], first["start_cycles"], first["end_cycles"]) == ("dependency", 0, 8)


IDEAL = {
    "core__synops_per_cycle": 10**9,
    "core__neuron_updates_per_cycle": 10**9,
    "noc__link_bits_per_cycle": 10**9,
    "noc__hop_latency_cycles": 0,
}
"""Ideal hardware: a step of any layer is 1 cycle, a non-empty bundle 1 link cycle, no hops."""


@pytest.mark.parametrize(("tc", "ts"), [(4, 2), (4, 1), (5, 2), (3, 0)])
def test_sws_latency_follows_eq6_on_ideal_hardware(tc, ts):
    """Three TSA layers (L_TSA = 3) and a linear output, every slot carrying spikes, on ideal
    hardware: 1 cycle per step, 1 cycle per bundle. Layer l's window is offset by Ts from its
    predecessor's (step t < Tc needs the predecessor's slot t, emitted after its step t + Ts).
    Convention: a time-step is one cycle, and each of the L_TSA layer boundaries adds a hand-off
    of 2 cycles (the consumer's step after the producer's, plus the bundle), which eq. 6 does not
    count because it integrates a spike in the step it is emitted. (4, 2): fc1 emits slot s at
    s + 3 (arrives s + 4); fc2 at s + 7 (s + 8); fc3 at s + 11 (s + 12); the output's step 3
    ends at 16 = Tc + Ts·3 + 2·3. A new frame enters every Tc + Ts cycles (interval 6)."""
    net = chain_net((3, 2, 2, 2, 2), (tc, tc, tc), "sws", silent_steps=ts)
    spikes = {n: np.ones((tc, 2), np.int8) for n in ("fc1", "fc2", "fc3")}
    spikes["input"] = np.ones((tc, 3), np.int8)
    cfg = tiny(**IDEAL)
    r = simulate_multicore(
        compile_multicore(net, cfg), make_trace(net, spikes, np.ones(3)), cfg, num_samples=10
    )
    assert r.latency_cycles == cost.sws_latency_steps(tc, ts, 3) + 2 * 3
    assert r.interval_cycles == cost.sws_frame_interval_steps(tc, ts)


def test_uniform_if_on_ideal_hardware_pipelines_step_by_step():
    """Three IF layers (T = 4) and the output, spikes at every step, ideal hardware: each step
    1 cycle, each bundle 1 cycle: latency = T + 2·(stages − 1) = 4 + 2·3 = 10, i.e. Σc + ΣNoC
    + (T − 1)·max c = 4 + 3 + 3; a stream enters a sample every T = 4 cycles."""
    net = chain_net((3, 2, 2, 2, 2), (4, 4, 4))
    spikes = {n: np.ones((4, 2), np.int8) for n in ("fc1", "fc2", "fc3")}
    cfg = tiny(**IDEAL)
    r = simulate_multicore(
        compile_multicore(net, cfg), make_trace(net, spikes, np.ones(3)), cfg, num_samples=10
    )
    assert r.latency_cycles == 10 == cost.latency_per_step([1, 1, 1, 1], [1, 1, 1], 4)
    assert r.interval_cycles == 4


# --------------------------------------------------------------------------------------------
# Converted networks: invariants
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def residual_runs():
    """A residual network (6 cores on a 3x3 tiny mesh) converted with every scheme."""
    qann = random_qann(3, residual=True)
    codes = random_codes(qann, 2, 3)
    out = {}
    for scheme, kw in [
        ("if", {"num_steps": 3}),
        ("mtif", {"align": "always"}),
        ("sws", {"coding_steps": 4, "silent_steps": 1}),
        ("lmht", {}),
    ]:
        snn = convert.convert(qann, scheme, **kw)
        out[scheme] = (snn, functional.run(snn, codes))
    return out


def test_synapse_reads_match_trace_op_counts(residual_runs):
    """Synaptic operations per layer = the trace's ``synaptic_ops`` (incoming events ×
    fan-out; integrate-once under alignment; one graded event per LM-HT spike), for every layer
    with spiking inputs. (The direct-coded first layer counts non-zero codes, the trace dense
    MACs; the trace does not count the residual conv.)"""
    cfg = tiny(mesh__width=3, mesh__height=3)
    for snn, tr in residual_runs.values():
        plan = build_plan(compile_multicore(snn, cfg), tr, cfg, num_variants=2)
        checked = 0
        for st in plan.stages:
            ref = tr.layer(st.layer).total("synaptic_ops")
            if st.layer in ("conv1", "res.conv2"):
                continue
            assert int(st.synaptic_events.sum()) == ref, (snn.scheme, st.layer)
            checked += 1
        assert checked == 4


def test_whole_sample_layers_start_after_their_producer_finished(residual_runs):
    """MT-IF with alignment and LM-HT: every spiking consumer starts each sample after the
    last bundle of each producer arrived, so after the producer finished that sample."""
    cfg = tiny(mesh__width=3, mesh__height=3)
    for scheme in ("mtif", "lmht"):
        snn, tr = residual_runs[scheme]
        r = simulate_multicore(compile_multicore(snn, cfg), tr, cfg, num_samples=3)
        iv = r.intervals[r.intervals["kind"] == "busy"]
        first = iv.groupby(["stage", "sample"])["start_cycles"].min()
        last = iv.groupby(["stage", "sample"])["end_cycles"].max()
        for cons, prod in [
            ("res.conv1", "conv1"),
            ("res.add", "res.conv2"),
            ("res.add", "conv1"),
            ("fc1", "res.add"),
        ]:
            for k in range(3):
                assert first[(cons, k)] >= last[(prod, k)], (scheme, cons, prod, k)


def test_residual_skip_contends_and_barrier_shows(residual_runs):
    """conv1's spikes leave for res.conv1 and (skip) res.add over the same first links: the
    skip bundle waits ('link' stalls). With a barrier every layer records 'barrier' stalls."""
    cfg = tiny(mesh__width=3, mesh__height=3)
    snn, tr = residual_runs["if"]
    m = compile_multicore(snn, cfg)
    r = simulate_multicore(m, tr, cfg, num_samples=2)
    link = r.per_stage().set_index("stage")["stall_link_cycles"]
    assert link["conv1->res.add"] > 0
    assert link.drop("conv1->res.add").sum() == 0
    rb = simulate_multicore(m, tr, hw.replace_field(cfg, "sync.barrier_cycles", 7), num_samples=2)
    per_layer = rb.per_stage().set_index("stage")
    assert (per_layer.loc[[p.name for p in m.layers], "stall_barrier_cycles"] >= 7).all()
    assert rb.latency_cycles > r.latency_cycles


def test_runs_are_deterministic_with_integer_cycles(residual_runs):
    """Two runs give identical interval tables and event counts; every cycle is an integer."""
    cfg = tiny(mesh__width=3, mesh__height=3)
    snn, tr = residual_runs["sws"]
    m = compile_multicore(snn, cfg)
    a = simulate_multicore(m, tr, cfg, num_samples=4)
    b = simulate_multicore(m, tr, cfg, num_samples=4)
    pd.testing.assert_frame_equal(a.intervals, b.intervals)
    assert a.event_count == b.event_count
    assert all(
        np.issubdtype(a.intervals[c].dtype, np.integer) for c in ("start_cycles", "end_cycles")
    )
    assert isinstance(a.makespan_cycles, int)
    assert isinstance(a.latency_cycles, int)


def test_event_count_does_not_grow_with_spikes():
    """Events are coarse (steps and bundles): 1 spike per step or 60 per step (60× the spikes,
    20× the cycles) give about the same number of SimPy events (they differ only in which
    waits happen before their data is there)."""
    net = chain_net((4, 60, 60, 2), (4, 4))
    cfg = tiny()
    m = compile_multicore(net, cfg)
    sparse = np.zeros((4, 60), np.int8)
    sparse[:, 0] = 1
    dense = np.ones((4, 60), np.int8)
    codes = np.array([1, 2, 3, 4])
    r_sparse = simulate_multicore(
        m, make_trace(net, {"fc1": sparse, "fc2": sparse}, codes), cfg, num_samples=3
    )
    r_dense = simulate_multicore(
        m, make_trace(net, {"fc1": dense, "fc2": dense}, codes), cfg, num_samples=3
    )
    assert abs(r_dense.event_count - r_sparse.event_count) <= 0.1 * r_sparse.event_count
    assert r_dense.latency_cycles > 15 * r_sparse.latency_cycles


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_errors_name_the_problem(residual_runs):
    snn, tr = residual_runs["if"]
    cfg = tiny(mesh__width=3, mesh__height=3)
    m = compile_multicore(snn, cfg)
    with pytest.raises(MappingError, match="compiled for mesh 3x3"):
        simulate_multicore(m, tr, tiny(mesh__width=4, mesh__height=3))
    with pytest.raises(ConfigError, match="multicore config"):
        simulate_multicore(m, tr, hw.load("pe_array_tiny"))
    with pytest.raises(ConfigError, match="num_samples"):
        simulate_multicore(m, tr, cfg, num_samples=0)
    bare = functional.run(snn, random_codes(random_qann(3, residual=True), 1, 0), keep_spikes=False)
    with pytest.raises(ConfigError, match="keep_spikes=True"):
        simulate_multicore(m, bare, cfg)
    other, tr_other = residual_runs["sws"]
    with pytest.raises(ConfigError, match="does not belong"):
        simulate_multicore(m, tr_other, cfg)
    assert other.scheme == "sws"


def test_add_through_pooling_synaptic_work_equals_the_trace():
    """The pooled skip input of ``pooled_skip_qann``: the Add's synaptic operations (one per
    spike of each pooling window, Σ pooled values) equal the trace's ``synaptic_ops`` of the
    Add (each conv1 spike once: the 2×2 windows do not overlap)."""
    from tests.mapping.test_multicore import pooled_skip_qann

    qann = pooled_skip_qann()
    snn = convert.convert(qann, "if", num_steps=3)
    trace = functional.run(snn, random_codes(qann, 2, 5))
    cfg = tiny(mesh__width=6, mesh__height=6, core__neurons_per_core=16)
    plan = build_plan(compile_multicore(snn, cfg), trace, cfg, num_variants=2)
    add = next(st for st in plan.stages if st.layer == "add")
    assert int(add.synaptic_events.sum()) == trace.layer("add").total("synaptic_ops")
    # Each conv1 spike lies in exactly one 2×2 window (stride 2 over an 8×8 map).
    assert int(add.synaptic_events.sum()) == int(np.count_nonzero(trace.layer("conv1").spikes))
    result = simulate_multicore(compile_multicore(snn, cfg), trace, cfg, num_samples=2)
    assert result.latency_cycles > 0


def test_chain_event_counts_and_per_event_energy_known_answer():
    """The chain above (snake: fc1 at (0, 0), fc2 at (1, 0), out at (1, 1)). Neuron-steps
    3·2 + 2·2 + 2·2 = 14, all active (fc1 reads the direct-coded input every step; fc2 and
    out get input in both steps); spikes out 2 + 2 (fc1) + 1 + 2 (fc2) = 7, one message each
    to the one consumer core: 4 E-W hops (fc1 → fc2) and 3 N-S hops (fc2 → out).
    Priced by loihi_davies2018 (hand trace: no synaptic ops): 14 active updates × 81 pJ =
    1134 pJ; messages 7 × 1.7 = 11.9 pJ, hops 4 × 3.0 + 3 × 4.0 = 24 pJ."""
    net = chain_net((4, 3, 2, 2), (2, 2))
    tr = make_trace(
        net, {"fc1": [[1, 0, 1], [1, 1, 0]], "fc2": [[1, 0], [1, 1]]}, np.array([3, 0, 5, 1])
    )
    cfg = tiny()
    r = simulate_multicore(compile_multicore(net, cfg), tr, cfg)
    lt = r.layer_traffic.set_index("layer")
    assert lt["neuron_steps"].tolist() == [6, 4, 4]
    assert lt["active_neuron_steps"].tolist() == [6, 4, 4]
    assert lt["spikes_out"].tolist() == [4, 3, 0]
    assert lt["messages"].tolist() == [4, 3, 0]
    assert lt["hops_east_west"].tolist() == [4, 0, 0]
    assert lt["hops_north_south"].tolist() == [0, 3, 0]
    eb = energy.estimate(tr, "loihi_davies2018", network=net, timing=r, hw=cfg)
    assert eb.totals["neuron_updates"] == pytest.approx(14 * 81.0)
    assert eb.totals["noc"] == pytest.approx(7 * 1.7 + 4 * 3.0 + 3 * 4.0)
    assert "sram" not in eb.totals
    assert math.isnan(eb.ann_total_pj)


def test_table_step_time_and_barrier_known_answer():
    """A core step of 10 synaptic ops, 4 neurons (3 active), 1 spike, 2 messages out and 1 in,
    at 1 GHz. Davies et al.: 10·3.5 + 3·8.4 + 1·5.3 + 2·2.1 = 69.7 ns → 70 cycles. SANA-FE:
    10·3.1 + 4·6.0 + 3·3.7 + 1·30 + 2·5.1 + 1·16 = 122.3 ns → 123 cycles (3.8 ns per op on a
    linear layer: 129.3 → 130). Barrier: Davies 113 ns at 1 tile, 465 at 32, linear between
    (16 tiles: 113 + 352·15/31 = 283.3 ns → 284 cycles); SANA-FE's step table 1.0 µs at 3
    tiles, 1.4 µs at 4 to 28, 1.8 µs from 29."""
    counts = {
        "synaptic_ops": np.array([[10]]),
        "neurons": np.array([[4]]),
        "active": np.array([[3]]),
        "fired": np.array([[1]]),
        "messages_out": np.array([[2]]),
        "messages_in": np.array([[1]]),
    }
    davies = load_energy_table("loihi_davies2018")
    sanafe = load_energy_table("loihi_sanafe")
    step = multicore_events.table_step_cycles
    assert step(counts, davies, linear=False, frequency_mhz=1000.0).tolist() == [[70]]
    assert step(counts, sanafe, linear=False, frequency_mhz=1000.0).tolist() == [[123]]
    assert step(counts, sanafe, linear=True, frequency_mhz=1000.0).tolist() == [[130]]
    assert multicore_events.barrier_cycles(davies, 16, 1000.0) == 284
    assert [sanafe.barrier_ns(t) for t in (1, 3, 4, 28, 29, 64)] == [
        600.0,
        1000.0,
        1400.0,
        1400.0,
        1800.0,
        1800.0,
    ]


def test_shipped_loihi_configs_time_with_the_table():
    """``op_latencies = "table"``: the plan's barrier is the table's at the cores used, and a
    rates config with the same table keeps its own cycles."""
    net = chain_net((4, 3, 2, 2), (2, 2))
    tr = make_trace(
        net, {"fc1": [[1, 0, 1], [1, 1, 0]], "fc2": [[1, 0], [1, 1]]}, np.array([3, 0, 5, 1])
    )
    for name, barrier_ns in (("loihi", 113 + 352 * 2 / 31), ("loihi_sanafe", 1000.0)):
        cfg = hw.load(name)
        mapping = compile_multicore(net, cfg)
        table = load_energy_table(cfg.energy_table)
        plan = build_plan(mapping, tr, cfg, table=table)
        assert mapping.num_cores == 3
        assert plan.barrier_cycles == math.ceil(barrier_ns - 1e-9)
        r = simulate_multicore(mapping, tr, cfg)
        assert r.latency_cycles > 0
        rates = hw.replace_field(cfg, "core.op_latencies", "rates")
        assert build_plan(mapping, tr, rates).barrier_cycles == 0
    bad = hw.replace_field(hw.load("loihi"), "energy_table", "horowitz_45nm")
    with pytest.raises(ConfigError, match=r"needs an energy table with \[\[core_op\]\]"):
        simulate_multicore(compile_multicore(net, bad), tr, bad)
