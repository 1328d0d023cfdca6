"""Energy model: hand-counted components, MT-SNN eq. 22-23, SWS eq. 10 (OPF), linearity, errors."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import convert, energy, families, functional, hw, ir
from neurosim.errors import ConfigError, ModelError
from neurosim.hw.energy_table import from_dict, load_energy_table
from neurosim.timing.result import TimingResult
from tests.conftest import random_codes, random_qann


@pytest.fixture(scope="module")
def table():
    return load_energy_table("horowitz_45nm")


def _op_entries(table) -> list[dict]:
    """The ``[[op]]`` entries of a loaded table, as a TOML document would hold them."""
    return [
        {"op": e.op, "kind": e.kind, "bits": e.bits, "energy_pj": e.energy_pj, "source": e.source}
        for e in table.ops
    ]


def _linear(name, src, w, act):
    w = np.asarray(w, np.int8)
    return ir.Linear(
        name=name,
        inputs=(src,),
        weight=w,
        weight_scale=np.full(w.shape[0], 0.01),
        bias=np.zeros(w.shape[0]),
        act=act,
    )


def hand_qann(act1: ir.ActQuant | None = None, act2: ir.ActQuant | None = None) -> ir.Network:
    """input (2 codes 0..3, 2 bits) → fc1 (3 neurons, Q=2) → fc2 (2 neurons, Q=4) → out (2).

    Weights are ±100 LSBs of 0.01 (= ±1.0). For the input codes [3, 3] (real 1.0 each):
    fc1: z = [2, 2, −2] → levels [2, 2, 0] (clip 1.0); fc2: a = [1, 1, 0] → z = [2, 0] →
    levels [4, 0]; out is linear.
    """
    layers = (
        ir.Input(name="input", shape=(2,), scale=1 / 3, levels=3),
        _linear(
            "fc1",
            "input",
            [[100, 100], [100, 100], [-100, -100]],
            act1 or ir.ActQuant(levels=2, clip=1.0),
        ),
        _linear(
            "fc2", "fc1", [[100, 100, 100], [100, -100, 0]], act2 or ir.ActQuant(levels=4, clip=1.0)
        ),
        _linear("out", "fc2", [[100, 0], [0, 100]], None),
    )
    return ir.Network(layers=layers, kind="qann", name="hand")


INPUTS = np.array([[3, 3], [3, 3]])
"""Two identical samples: every count below is per sample (the trace sums the batch of 2)."""


def _fake_timing(
    layer_traffic: dict[str, dict[str, int]],
    num_samples: int = 2,
    family: str = "pe_array",
    makespan_cycles: int = 600,
    frequency_mhz: float = 300.0,
) -> TimingResult:
    frame = pd.DataFrame([{"layer": k, **v} for k, v in layer_traffic.items()])
    totals = {c: int(frame[c].sum()) for c in frame.columns if c != "layer"}
    return TimingResult(
        family=family,
        frequency_mhz=frequency_mhz,
        latency_cycles=300,
        interval_cycles=300.0,
        num_samples=num_samples,
        makespan_cycles=makespan_cycles,
        intervals=pd.DataFrame(),
        event_count=0,
        traffic=totals,
        layer_traffic=frame,
    )


def _energies(eb: energy.EnergyBreakdown) -> dict[tuple[str, str], float]:
    return {(r.layer, r.component): r.energy_pj for r in eb.per_layer.itertuples()}


# -- the two-spiking-layer network, counted by hand ---------------------------------------------


def test_hand_counted_network_every_component(table):
    """mtif: fc1 runs T=2, fc2 runs T=4 (T^l = Q^l), so fc2's input is aligned (MT-SNN Alg. 1).

    Counts per sample (spike counts N = ANN levels: fc1 [2, 2, 0], fc2 [4, 0]):
      fc1: first-layer MACs 3·2 = 6; neuron updates = compares = 3·2 = 6; resets = spikes = 4.
      fc2: ACs = 4 fc1 spikes × fan-out 2 = 8; updates = compares = 2·4 = 8; resets = 4;
           alignment = N·(T^{l−1} − 1) = 2·1 = 2 adds.
      out: ACs = 4 fc2 spikes × fan-out 2 = 8.
    Energies (pe_array: 8-bit weights, 32-bit membranes; E_MAC at the 2-bit input code width):
      fc1: 6·0.08 = 0.48 (MAC) + 6·0.1 = 0.6 (updates) + 4·0.1 = 0.4 (reset) + 6·0.1 = 0.6
      fc2: 8·0.03 = 0.24 + 8·0.1 = 0.8 + 4·0.1 = 0.4 + 8·0.1 = 0.8 + 2·0.1 = 0.2 (alignment)
      out: 8·0.03 = 0.24
    Traffic (stream of 2 samples, so halved; SRAM class of pe_array's largest buffer, 256 KiB,
    7.075 pJ/byte; DRAM 162.5 pJ/byte):
      fc1: DRAM (40+8)/2 = 24 B → 3900; SRAM (200+100)/2 = 150 B → 1061.25
      fc2: DRAM (20+4)/2 = 12 B → 1950; SRAM (100+60)/2 = 80 B → 566
      out: DRAM (10+2)/2 = 6 B → 975;   SRAM (50+30)/2 = 40 B → 283
    """
    snn = convert.convert(hand_qann(), "mtif")
    tr = functional.run(snn, INPUTS)
    per_sample = {(lt.name, op): lt.total(op) / 2 for lt in tr.layers for op in lt.ops}
    assert per_sample == {
        ("fc1", "first_layer_macs"): 6,
        ("fc1", "spikes"): 4,
        ("fc1", "neuron_updates"): 6,
        ("fc1", "compares"): 6,
        ("fc2", "synaptic_ops"): 8,
        ("fc2", "synaptic_ac_equiv"): 8,
        ("fc2", "spikes"): 4,
        ("fc2", "neuron_updates"): 8,
        ("fc2", "compares"): 8,
        ("fc2", "alignment_ops"): 2,
        ("out", "synaptic_ops"): 8,
        ("out", "synaptic_ac_equiv"): 8,
    }
    fake = _fake_timing(
        {
            "fc1": {
                "dram_read_bytes": 40,
                "dram_write_bytes": 8,
                "sram_read_bytes": 200,
                "sram_write_bytes": 100,
            },
            "fc2": {
                "dram_read_bytes": 20,
                "dram_write_bytes": 4,
                "sram_read_bytes": 100,
                "sram_write_bytes": 60,
            },
            "out": {
                "dram_read_bytes": 10,
                "dram_write_bytes": 2,
                "sram_read_bytes": 50,
                "sram_write_bytes": 30,
            },
        }
    )
    eb = energy.estimate(tr, table, network=snn, timing=fake, hw=hw.load("pe_array"))
    want = {
        ("fc1", "first_layer_macs"): 0.48,
        ("fc1", "neuron_updates"): 0.6,
        ("fc1", "reset"): 0.4,
        ("fc1", "compares"): 0.6,
        ("fc2", "synaptic"): 0.24,
        ("fc2", "neuron_updates"): 0.8,
        ("fc2", "reset"): 0.4,
        ("fc2", "compares"): 0.8,
        ("fc2", "alignment"): 0.2,
        ("out", "synaptic"): 0.24,
        ("fc1", "dram"): 3900.0,
        ("fc2", "dram"): 1950.0,
        ("out", "dram"): 975.0,
        ("fc1", "sram"): 1061.25,
        ("fc2", "sram"): 566.0,
        ("out", "sram"): 283.0,
    }
    got = _energies(eb)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert eb.total_pj == pytest.approx(sum(want.values()), rel=1e-12)
    assert eb.totals["synaptic"] == pytest.approx(0.48)
    assert eb.totals["dram"] == pytest.approx(6825.0)
    assert eb.paper_pj == pytest.approx(0.48 + 0.48)
    # count × energy per unit, row by row
    pl = eb.per_layer
    assert np.allclose(pl["count"] * pl["energy_pj_per_unit"], pl["energy_pj"], rtol=0, atol=0)
    assert eb.opf is None
    assert eb.opf_encoder is None


def test_ann_baseline_of_the_hand_network(table):
    """MT-SNN eq. 22-23: dense MACs × E_MAC at the width of the activation feeding the layer.

    fc1: 3·2 = 6 MACs at 2 bits (input codes 0..3) → 6·0.08 = 0.48
    fc2: 2·3 = 6 MACs at 2 bits (fc1, Q = 2: levels 0..2) → 0.48
    out: 2·2 = 4 MACs at 3 bits (fc2, Q = 4: levels 0..4) → 4·0.105 = 0.42;  E_ANN = 1.38 pJ
    Paper-mode E_SNN = 0.48 (fc1 MACs) + 0.24 + 0.24 (ACs) = 0.96 → ratio 1.38/0.96 = 1.4375.
    """
    qann = hand_qann()
    snn = convert.convert(qann, "mtif")
    tr = functional.run(snn, INPUTS)
    eb = energy.estimate(tr, table, network=snn, mode="paper", ann=qann)
    ann = eb.ann_per_layer.set_index("layer")
    assert ann["macs"].tolist() == [6, 6, 4]
    assert ann["act_bits"].tolist() == [2, 2, 3]
    assert ann["energy_pj"].tolist() == pytest.approx([0.48, 0.48, 0.42])
    assert eb.ann_total_pj == pytest.approx(1.38)
    assert eb.total_pj == pytest.approx(0.96)
    assert eb.ratio == pytest.approx(1.4375)
    assert set(eb.per_layer["component"]) == {"first_layer_macs", "synaptic"}
    # mtif takes T^l = Q^l, so the SNN alone gives the same widths...
    assert energy.estimate(tr, table, network=snn).ann_total_pj == pytest.approx(1.38)
    # ...and so does the quantized ANN passed as the network.
    assert energy.estimate(tr, table, network=qann).ann_total_pj == pytest.approx(1.38)
    # With a fixed T = 8 only the ANN knows the widths: fc2 and out would be read as 4 bits.
    snn8 = convert.convert(qann, "if", num_steps=8)
    tr8 = functional.run(snn8, INPUTS)
    assert energy.estimate(tr8, table, network=snn8, ann=qann).ann_total_pj == pytest.approx(1.38)
    assert energy.estimate(tr8, table, network=snn8).ann_per_layer["act_bits"].tolist() == [2, 4, 4]


def test_real_timing_traffic_is_costed_per_byte_and_bit_hop(table, tmp_path):
    """PE array: SRAM class of pe_array_tiny's largest buffer (256 B ≤ 8 KiB: 1.25 pJ/B), DRAM
    162.5 pJ/B. Multicore: synapse memory of 4 KiB per core ≤ 8 KiB → 1.25 pJ/B; NoC 0.6
    pJ/bit/hop. Static (a table with 2 mW/core): 2 mW·cores·(makespan/n) cycles / f → pJ."""
    snn = convert.convert(hand_qann(), "mtif")
    tr = functional.run(snn, INPUTS)
    for name in ("pe_array_tiny", "multicore_tiny"):
        cfg = hw.load(name)
        res = families.simulate(families.compile(snn, cfg), tr, cfg, num_samples=3)
        eb = energy.estimate(tr, table, network=snn, timing=res, hw=cfg)
        lt = res.layer_traffic.set_index("layer")
        got = _energies(eb)
        sram = 1.25
        assert eb.assumptions["sram_class_bytes"] == ("256" if cfg.family == "pe_array" else "4096")
        for layer in lt.index:
            row = lt.loc[layer]
            s = sum(row.get(k, 0) for k in ("sram_read_bytes", "sram_write_bytes")) / 3
            assert got[(layer, "sram")] == pytest.approx(s * sram)
            if "dram_read_bytes" in row:
                d = (row["dram_read_bytes"] + row["dram_write_bytes"]) / 3
                assert got[(layer, "dram")] == pytest.approx(d * 162.5)
            if "noc_bit_hops" in row:
                assert got[(layer, "noc")] == pytest.approx(row["noc_bit_hops"] / 3 * 0.6)
        if cfg.family == "multicore":
            assert eb.totals["noc"] == pytest.approx(res.traffic["noc_bit_hops"] / 3 * 0.6)
            assert eb.totals["noc"] > 0
        # Static power, when the table gives it.
        data = {
            "meta": {"schema_version": 1, "name": "s", "description": "d", "sources": ["t"]},
            "op": _op_entries(table),
            "memory": [
                {
                    "memory": m.memory,
                    "access_bits": m.access_bits,
                    "energy_pj": m.energy_pj,
                    "source": m.source,
                    **({"max_bytes": m.max_bytes} if m.max_bytes else {}),
                }
                for m in table.memories
            ],
            "noc": {"energy_pj_per_bit_hop": 0.6, "source": "t"},
            "static": {"power_mw_per_core": 2.0, "source": "assumption for a test"},
        }
        with_static = energy.estimate(tr, from_dict(data), network=snn, timing=res, hw=cfg)
        cores = cfg.num_cores if cfg.family == "multicore" else 1
        seconds = res.makespan_cycles / 3 / (cfg.clock.frequency_mhz * 1e6)
        assert with_static.totals["static"] == pytest.approx(2.0 * cores * seconds * 1e9)
        assert with_static.total_pj == pytest.approx(eb.total_pj + with_static.totals["static"])


def test_memo_reuses_op_rows_across_timings_and_keys_on_the_datapath(table):
    """With a memo, a second hardware point (other timing, same datapath) reuses the op and ANN
    rows and still gives every number of a fresh estimate; another weight width or mode is
    computed anew."""
    snn = convert.convert(hand_qann(), "mtif")
    tr = functional.run(snn, INPUTS)
    base = hw.load("pe_array_tiny")
    memo: dict = {}
    for bw, bits, mode in ((0.4, 8, "full"), (1.6, 8, "full"), (1.6, 4, "full"), (0.4, 8, "paper")):
        cfg = hw.replace_fields(base, {"dram.bandwidth_gbps": bw, "datapath.weight_bits": bits})
        res = families.simulate(families.compile(snn, cfg), tr, cfg, num_samples=2)
        fresh = energy.estimate(tr, table, network=snn, timing=res, hw=cfg, mode=mode)
        got = energy.estimate(tr, table, network=snn, timing=res, hw=cfg, mode=mode, memo=memo)
        assert got.rows == fresh.rows
        assert got.ann_rows == fresh.ann_rows
        assert (got.total_pj, got.ann_total_pj, got.totals) == (
            fresh.total_pj,
            fresh.ann_total_pj,
            fresh.totals,
        )
    assert len(memo) == 3  # (8 bits, full) shared by two bandwidths; 4 bits; paper mode


# -- MT-SNN eq. 22-23 ----------------------------------------------------------------------------


def test_mt_snn_eq23_hand_check(table):
    """O=4, N=2, k=3, M=4 → FLOPS_ANN = 16·2·9·4 = 1152. T=4, f_r=0.125:
    E_SNN = 0.03·4·1152·0.125 = 0.03·4·144 = 17.28 pJ; E_ANN(2-bit) = (0.05+0.03)·1152 = 92.16;
    E_ANN(8-bit) = 0.23·1152 = 264.96 pJ."""
    flops = energy.conv_flops(4, 2, 3, 4)
    assert flops == 1152
    e_snn, e_ann2 = energy.mt_snn_eq23(flops, 0.125, 4, 2, table)
    assert e_snn == pytest.approx(17.28)
    assert e_ann2 == pytest.approx(92.16)
    assert energy.mt_snn_eq23(flops, 0.125, 4, 8, table)[1] == pytest.approx(264.96)
    # Per layer, T_l inside the sum: two such layers at T = 4 and 2, 2 and 8 bits.
    e_snn, e_ann = energy.mt_snn_eq23([flops, flops], [0.125, 0.125], [4, 2], [2, 8], table)
    assert e_snn == pytest.approx(17.28 + 8.64)
    assert e_ann == pytest.approx(92.16 + 264.96)


def test_mt_snn_int2_multiply_is_one_sixteenth_of_int8(table):
    """MT-SNN App. C: multipliers are quadratic in width, so 2×2 costs (2/8)² = 1/16 of 8×8."""
    assert table.op_energy("mult", 2) / table.op_energy("mult", 8) == pytest.approx(1 / 16)


def test_eq23_at_the_producers_steps_equals_the_traced_acs(table):
    """out: FLOPS = 2·2 = 4; its input fc2 fires 4 spikes over 2 neurons × T=4 → f_r = 0.5;
    E = 0.03·4·4·0.5 = 0.24 pJ = 8 traced ACs · 0.03. fc2: FLOPS = 6, fc1 fires 4 spikes over
    3 neurons × T=2 → f_r = 2/3; E = 0.03·2·6·(2/3) = 0.24 pJ = 8 ACs · 0.03."""
    snn = convert.convert(hand_qann(), "mtif")
    eb = energy.estimate(functional.run(snn, INPUTS), table, network=snn, mode="paper")
    got = _energies(eb)
    assert energy.mt_snn_eq23(4, 0.5, 4, 3, table)[0] == pytest.approx(got[("out", "synaptic")])
    assert energy.mt_snn_eq23(6, 2 / 3, 2, 2, table)[0] == pytest.approx(got[("fc2", "synaptic")])


# -- SWS eq. 10 -----------------------------------------------------------------------------------


def test_sws_opf_toy_check():
    """N_TSA = 5, Tc=4, Ts=1; layer 1 fires n = [1,0,2,1] with fan-out 2; the last layer has
    fan-out 0: OPF = (4+1)·5 + 2·(1+0+2+1) = 25 + 8 = 33."""
    assert energy.sws_opf(4, 1, 5, [[1, 0, 2, 1], [0, 0, 0, 0]], [2, 0]) == 33


def test_sws_opf_from_a_trace(table):
    """sws, Tc=3, Ts=1, digital encoder. Per sample: the encoder sends code 3 = 011 → 2 spikes per
    input × 2 inputs = 4 spikes × fan-out 3 = 12 (opf_encoder). fc1 (3 TSA neurons) encodes
    levels [2, 2, 0] = 010 → 2 spikes, fan-out 2; fc2 (2 neurons) encodes [4, 0] = 100 → 1 spike,
    fan-out 2 (into the readout). N_TSA = 5:
    OPF = (3+1)·5 + 2·2 + 2·1 = 20 + 6 = 26."""
    snn = convert.convert(hand_qann(), "sws", coding_steps=3, silent_steps=1)
    tr = functional.run(snn, INPUTS)
    eb = energy.estimate(tr, table, network=snn)
    n1 = tr.layer("fc1").ops["spikes"] / 2
    n2 = tr.layer("fc2").ops["spikes"] / 2
    assert n1.tolist() == [0, 2, 0]
    assert n2.tolist() == [1, 0, 0]
    assert eb.opf == energy.sws_opf(3, 1, 5, [n1, n2], [2, 2]) == 26
    assert eb.opf_encoder == 12
    # The first term is the traced amplifications; the second, the TSA-fed synaptic ops.
    assert (3 + 1) * 5 == tr.per_sample("amplifications")
    assert eb.totals["amplification"] == pytest.approx(20 * 0.1)


@pytest.mark.parametrize("seed", [3, 8])
def test_sws_opf_accounts_for_every_synaptic_op(table, seed):
    """Residual network: OPF + encoder term = (Tc+Ts)·N_TSA + all synaptic ops per sample, and
    the encoder term is the first conv's synaptic ops (the only layer the encoder feeds)."""
    qann = random_qann(seed, residual=True)
    snn = convert.convert(qann, "sws", coding_steps=4, silent_steps=2)
    tr = functional.run(snn, random_codes(qann, 3, seed))
    eb = energy.estimate(tr, table, network=snn)
    n_tsa = sum(int(np.prod(lt.shape)) for lt in tr.layers if lt.family == "tsa")
    assert eb.opf + eb.opf_encoder == pytest.approx((4 + 2) * n_tsa + tr.per_sample("synaptic_ops"))
    assert eb.opf_encoder == pytest.approx(tr.layer("conv1").total("synaptic_ops") / 3)


# -- LM-HT: multi-level synapses, T-GIM mixing and leak ------------------------------------------


def test_lmht_multilevel_repeat_or_multiply(table):
    """lmht T=2, L=2 with fc1 at Q = T·L = 4 (exact): fc1 levels [4, 4, 0] are k = [2, 2] per
    step, so fc2 sees 2 level-2 events per step: 4 events × fan-out 2 = 8 synaptic events, and
    Σk·fan-out = 8·2 = 16 AC-equivalents per sample.
    repeat:   16 ACs · 0.03 = 0.48 pJ.
    multiply: 8 low-bit MACs at ⌈log2(L+1)⌉ = 2 bits: 8·(0.05 + 0.03) = 0.64 pJ.
    Re-parameterised (T·L = 4 binary sub-steps): 8 spikes × fan-out 2 = 16 ACs whatever the
    setting: 0.48 pJ."""
    qann = hand_qann(act1=ir.ActQuant(levels=4, clip=1.0))
    cfg = hw.load("pe_array")
    for reparam, multiply_pj in ((False, 0.64), (True, 0.48)):
        snn = convert.convert(qann, "lmht", num_steps=2, num_levels=2, reparameterize=reparam)
        tr = functional.run(snn, INPUTS)
        assert tr.layer("fc2").total("synaptic_ac_equiv") / 2 == 16
        assert tr.layer("fc2").total("synaptic_ops") / 2 == (16 if reparam else 8)
        rep = energy.estimate(tr, table, network=snn, hw=cfg, mode="paper")
        mul = energy.estimate(
            tr,
            table,
            network=snn,
            mode="paper",
            hw=hw.replace_field(cfg, "pe.multilevel", "multiply"),
        )
        assert _energies(rep)[("fc2", "synaptic")] == pytest.approx(0.48)
        assert _energies(mul)[("fc2", "synaptic")] == pytest.approx(multiply_pj)


def test_lmht_trained_tgim_and_leak_are_costed(table):
    """A trained Ω (T×T) and λ = 0.9 on fc1 (3 neurons, T = 2): mixing T²·N = 4·3 = 12 MACs at
    32 bits (3.1 + 0.1 pJ) = 38.4 pJ; leak T·N = 6 multiplies · 3.1 = 18.6 pJ. fc2 keeps the
    uniform Ω and λ = 1: no rows."""
    act1 = ir.ActQuant(levels=4, clip=1.0, tgim=np.array([[0.75, 0.25], [0.5, 0.5]]), leak=0.9)
    snn = convert.convert(hand_qann(act1=act1), "lmht", num_steps=2, num_levels=2)
    tr = functional.run(snn, INPUTS)
    got = _energies(energy.estimate(tr, table, network=snn))
    assert got[("fc1", "tgim_mixing")] == pytest.approx(38.4)
    assert got[("fc1", "leak")] == pytest.approx(18.6)
    assert ("fc2", "tgim_mixing") not in got
    assert ("fc2", "leak") not in got
    # The same from the quantized ANN (act.tgim / act.leak) with T from the trace's meta.
    got_q = _energies(energy.estimate(tr, table, network=hand_qann(act1=act1)))
    assert got_q[("fc1", "tgim_mixing")] == pytest.approx(38.4)


# -- linearity (property tests) -------------------------------------------------------------------

OP_COMPONENT = {
    "synaptic_ac_equiv": "synaptic",
    "first_layer_macs": "first_layer_macs",
    "neuron_updates": "neuron_updates",
    "spikes": "reset",
    "amplifications": "amplification",
    "compares": "compares",
    "alignment_ops": "alignment",
}


def _scale_op(tr, layer: str, op: str, factor: int):
    layers = tuple(
        dataclasses.replace(lt, ops={**lt.ops, op: lt.ops[op] * factor}) if lt.name == layer else lt
        for lt in tr.layers
    )
    return dataclasses.replace(tr, layers=layers)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 50),
    scheme=st.sampled_from(["if", "mtif", "sws", "lmht"]),
    pick=st.integers(0, 1000),
)
def test_energy_is_linear_in_counts(table, seed, scheme, pick):
    qann = random_qann(seed, residual=seed % 2 == 1)
    options = {"sws": {"coding_steps": 4, "silent_steps": 1}, "if": {"num_steps": 4}}
    snn = convert.convert(qann, scheme, **options.get(scheme, {}))
    tr = functional.run(snn, random_codes(qann, 2, seed))
    base = energy.estimate(tr, table, network=snn)
    # Doubling the batch with the same inputs leaves per-inference energy unchanged.
    twice = energy.estimate(tr.concat(tr), table, network=snn)
    pd.testing.assert_frame_equal(twice.per_layer, base.per_layer, rtol=1e-12)
    assert twice.total_pj == pytest.approx(base.total_pj, rel=1e-12)
    assert twice.opf == base.opf
    assert twice.opf_encoder == base.opf_encoder
    # Doubling one count doubles its component and changes nothing else.
    candidates = [
        (lt.name, op)
        for lt in tr.layers
        for op in lt.ops
        if op in OP_COMPONENT and (op != "spikes" or lt.family != "encoder")
    ]
    layer, op = candidates[pick % len(candidates)]
    doubled = _energies(energy.estimate(_scale_op(tr, layer, op, 2), table, network=snn))
    before = _energies(base)
    for key, value in before.items():
        want = 2 * value if key == (layer, OP_COMPONENT[op]) else value
        assert doubled[key] == pytest.approx(want, rel=1e-12), key


# -- modes, summaries and errors -------------------------------------------------------------------


def test_paper_mode_keeps_synaptic_ops_and_first_layer_macs_only(table):
    snn = convert.convert(hand_qann(), "mtif")
    tr = functional.run(snn, INPUTS)
    fake = _fake_timing(
        {
            "fc1": {
                "dram_read_bytes": 10,
                "dram_write_bytes": 0,
                "sram_read_bytes": 10,
                "sram_write_bytes": 0,
            }
        }
    )
    cfg = hw.load("pe_array")
    full = energy.estimate(tr, table, network=snn, timing=fake, hw=cfg)
    paper = energy.estimate(tr, table, network=snn, timing=fake, hw=cfg, mode="paper")
    assert set(paper.totals) == {"synaptic", "first_layer_macs"}
    assert paper.total_pj == pytest.approx(full.paper_pj) == pytest.approx(0.96)
    assert full.paper_ratio == pytest.approx(paper.ratio)
    assert full.ratio == full.ann_total_pj / full.total_pj
    row = full.to_frame()
    assert len(row) == 1
    assert row.loc[0, "energy_pj"] == full.total_pj
    assert row.loc[0, "energy_dram_pj"] == pytest.approx(10 / 2 * 162.5)
    assert row.loc[0, "energy_static_pj"] == 0.0
    assert math.isnan(row.loc[0, "opf"])
    assert {f"energy_{c}_pj" for c in energy.COMPONENTS} <= set(row.columns)


def test_estimate_errors(table, tmp_path):
    qann = hand_qann()
    snn = convert.convert(qann, "mtif")
    tr = functional.run(snn, INPUTS)
    with pytest.raises(ConfigError, match=r"energy mode must be one of \['full', 'paper'\]"):
        energy.estimate(tr, table, network=snn, mode="exact")
    other = convert.convert(random_qann(1), "mtif")
    with pytest.raises(
        ModelError,
        match=r"trace of 'hand:mtif' does not match network "
        r"'random1:mtif': layer 'input' has shape \(2,\) in the "
        r"trace, \(1, 5, 5\) in the network",
    ):
        energy.estimate(tr, table, network=other)
    fake = _fake_timing({"fc1": {"sram_read_bytes": 10, "sram_write_bytes": 0}})
    with pytest.raises(ConfigError, match=r"SRAM traffic needs the hardware config"):
        energy.estimate(tr, table, network=snn, timing=fake)
    no_dram = from_dict(
        {
            "meta": {"schema_version": 1, "name": "ops_only", "description": "d", "sources": ["t"]},
            "op": _op_entries(table),
        },
        source="ops_only.toml",
    )
    dram = _fake_timing({"fc1": {"dram_read_bytes": 10, "dram_write_bytes": 0}})
    with pytest.raises(
        ConfigError,
        match=r"ops_only.*no \[\[memory\]\] entry with memory = "
        r"'dram'",
    ):
        energy.estimate(tr, no_dram, network=snn, timing=dram)
    adds_only = from_dict(
        {
            "meta": {"schema_version": 1, "name": "adds", "description": "d", "sources": ["t"]},
            "op": [{"op": "add", "kind": "int", "bits": 8, "energy_pj": 0.03, "source": "t"}],
        },
        source="adds.toml",
    )
    with pytest.raises(
        ConfigError,
        match=r"no 'mult_x8' \(int\) entry of any width, needed "
        r"for a 2-bit mult_x8",
    ):
        energy.estimate(tr, adds_only, network=snn)
    with pytest.raises(ConfigError, match=r"unknown energy table 'nope'"):
        energy.estimate(tr, "nope", network=snn)
