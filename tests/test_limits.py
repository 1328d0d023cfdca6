"""Values that load but used to break later: stated limits, checked before anything is
allocated, and integers that are detected, never wrapped.

Every limit here is documented in docs/formats.md and docs/hardware.md ("Errors and limits").
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from neurosim import convert, experiment, functional, hw, ir, schemes
from neurosim.cli import main
from neurosim.errors import ConfigError, ModelError, OverflowDetected
from neurosim.hw.energy_table import from_dict as energy_from_dict
from neurosim.hw.energy_table import load_energy_table
from neurosim.hw.load import to_dict
from neurosim.timing import multicore, multicore_plan
from neurosim.timing.result import CYCLE_LIMIT
from tests.conftest import random_codes, random_qann

# --------------------------------------------------------------------------------------------
# Model values
# --------------------------------------------------------------------------------------------


def _replace_input(net: ir.Network, **changes) -> ir.Network:
    layers = [
        dataclasses.replace(lay, **changes) if lay.op == "input" else lay for lay in net.layers
    ]
    return ir.Network(layers=tuple(layers), kind=net.kind, name=net.name)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scale": 0.0}, r"scale must be a number in \[1e-30, 1e\+30\]"),
        ({"scale": math.nan}, r"scale must be a number in \[1e-30, 1e\+30\]"),
        ({"scale": math.inf}, r"scale must be a number in \[1e-30, 1e\+30\]"),
        ({"scale": 1e308}, r"scale must be a number in \[1e-30, 1e\+30\]"),
        ({"levels": 2**31}, r"levels must be in \[1, 65536\] \(16-bit codes\)"),
        ({"levels": 0}, r"levels must be in \[1, 65536\]"),
    ],
)
def test_input_scale_and_levels_are_checked_at_load(changes, message):
    with pytest.raises(ModelError, match=rf"layer 'input' \(input\): {message}"):
        _replace_input(random_qann(1), **changes)


@pytest.mark.parametrize(
    ("act", "message"),
    [
        (ir.ActQuant(levels=4, clip=math.inf), r"act.levels .* and act.clip in \[1e-30, 1e\+30\]"),
        (ir.ActQuant(levels=2**31, clip=1.0), r"act.levels must be in \[1, 65536\]"),
        (ir.ActQuant(levels=4, clip=1.0, leak=math.nan), "act.leak must be finite"),
    ],
)
def test_activation_clip_levels_and_leak_are_checked(act, message):
    net = random_qann(1)
    layers = [
        dataclasses.replace(lay, act=act) if lay.name == "conv1" else lay for lay in net.layers
    ]
    with pytest.raises(ModelError, match=rf"layer 'conv1': {message}"):
        ir.Network(layers=tuple(layers), kind="qann")


def test_time_steps_are_capped_before_anything_is_allocated(capsys):
    net = random_qann(1)
    with pytest.raises(
        ModelError, match=r"num_steps must be an integer in \[1, 4096\], got 100000000"
    ):
        convert.convert(net, "if", num_steps=10**8)
    code = main(["run", "--num-steps", str(10**8), "--scheme", "if", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "neurosim: error: num_steps must be an integer in [1, 4096], got 100000000\n"


def test_mtif_learned_steps_above_the_cap_are_refused():
    """mtif's T^l is the layer's levels Q^l: 5000 levels would mean 5000 steps."""
    net = random_qann(1, levels=(5000, 3, 3, 3))
    with pytest.raises(ModelError, match=r"layer 'conv1': T\^l = its 5000 levels is more than"):
        convert.convert(net, "mtif")
    assert convert.convert(net, "mtif", num_steps={"conv1": 16}).layer("conv1").neuron.steps == 16


def test_padding_and_dilation_that_would_inflate_a_layer_are_refused():
    net = random_qann(1)
    for changes, message in (
        ({"padding": 2**20}, "padding 1048576 is wider than the 3x3 kernel extent"),
        ({"dilation": 2**20, "padding": 1}, "dilation 1048576 is larger than the"),
    ):
        layers = [
            dataclasses.replace(lay, **changes) if lay.name == "conv1" else lay
            for lay in net.layers
        ]
        with pytest.raises(ModelError, match=message):
            ir.Network(layers=tuple(layers), kind="qann")


@pytest.mark.parametrize("scheme", schemes.names())
def test_a_bias_beyond_int64_raises_overflow_instead_of_becoming_int64_min(scheme):
    """B = round(b / σ_P): with b = 1e20 and σ_P ~ 1e-5, B ~ 1e25 > 2^63. It used to become
    INT64_MIN (LM-HT then ran with no spikes; the others reported overflow of the wrong
    sign)."""
    net = random_qann(2)
    layers = [
        dataclasses.replace(lay, bias=np.full(lay.out_channels, 1e20)) if lay.name == "fc1" else lay
        for lay in net.layers
    ]
    net = ir.Network(layers=tuple(layers), kind="qann", name="huge_bias")
    with pytest.raises(OverflowDetected, match=r"layer 'fc1': integer bias B = .* 64-bit"):
        convert.convert(net, scheme)


def _wide_output_net(fan_in: int) -> ir.Network:
    """Input (codes 0..65535) -> one linear output layer with int16 weights 32767."""
    return ir.Network(
        layers=(
            ir.Input(name="in", shape=(fan_in,), scale=1.0, levels=2**16 - 1),
            ir.Linear(
                name="out",
                inputs=("in",),
                weight=np.full((2, fan_in), 32767, np.int16),
                weight_scale=np.full(2, 1.0),
                bias=np.array([0.0, 3.0]),
            ),
        ),
        kind="qann",
        name="wide",
    )


@pytest.mark.parametrize("scheme", ["if", "lmht", "mtif"])
def test_the_output_shift_is_exact_or_raises(scheme):
    """P = (Σ W·x) << f + B of the output layer, f = 24. With 16 inputs at 65535 and weights
    32767, Σ = 16·65535·32767 = 34,358,689,520 (< 2^35): P < 2^59 and equals the exact integer.
    With 256 inputs Σ·2^24 = 9.2e18 > 2^61: it used to wrap in int64 (the issue's −4.5e15 for an
    exact 1.48e20); now OverflowDetected."""
    small = convert.convert(_wide_output_net(16), scheme, frac_bits=24)
    codes = np.full((1, 16), 2**16 - 1, np.int64)
    out = small.layer("out")
    got = functional.run(small, codes).output_int[0]
    exact = [(16 * 65535 * 32767 << out.shift) + int(b) for b in out.bias]
    assert out.shift == 24
    assert [int(v) for v in got] == exact
    big = convert.convert(_wide_output_net(256), scheme, frac_bits=24)
    with pytest.raises(OverflowDetected, match=r"layer 'out': input current \(Σ W·x\) << 24"):
        functional.run(big, np.full((1, 256), 2**16 - 1, np.int64))


def test_evaluate_levels_detects_a_gain_times_current_overflow():
    """The integer ANN multiplies P by G = T before rounding; beyond 2^61 it raises."""
    net = random_qann(4)
    snn = convert.convert(net, "if", num_steps=8)
    lay = snn.layer("fc1")
    huge = dataclasses.replace(lay, bias=np.full(lay.out_channels, 2**59, np.int64))
    layers = tuple(huge if x.name == "fc1" else x for x in snn.layers)
    snn = ir.Network(layers=layers, kind="snn", scheme="if", name=snn.name, meta=snn.meta)
    with pytest.raises(OverflowDetected, match="layer 'fc1'"):
        functional.evaluate_levels(snn, random_codes(net, 2, 0))


# --------------------------------------------------------------------------------------------
# Hardware fields and cycle counts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path", "value", "message"),
    [
        ("pe_array_tiny", "dram.latency_cycles", 2**62, r"integer in \[0, 2\^32\]"),
        ("pe_array_tiny", "pe.unroll_out_channels", 1e308, r"integer in \[1, 65536\]"),
        ("pe_array_tiny", "dram.bandwidth_gbps", 1e-300, r"finite float in \[1e-06, 1000000\]"),
        ("pe_array_tiny", "clock.frequency_mhz", 1e300, r"finite float in \[0.001, 1000000\]"),
        ("multicore_tiny", "noc.hop_latency_cycles", 2**62, r"integer in \[0, 2\^32\]"),
        ("multicore_tiny", "sync.barrier_cycles", 2**61, r"integer in \[0, 2\^32\]"),
        ("multicore_tiny", "mesh.width", 10**4, r"integer in \[1, 256\]"),
        ("multicore_tiny", "core.synops_per_cycle", 2**31, r"integer in \[1, 2\^30\]"),
    ],
)
def test_every_hardware_field_has_a_stated_range(name, path, value, message):
    with pytest.raises(ConfigError, match=rf"{path} = .* is out of range; allowed: {message}"):
        hw.replace_fields(hw.load(name), {path: value})


def test_every_numeric_hardware_field_declares_a_maximum():
    """The cycle bounds rest on it: no field may take an unbounded number."""
    from neurosim.hw.fields import leaf_fields, type_name

    for family, cls in hw.FAMILIES.items():
        for path, f, tp in leaf_fields(cls):
            if type_name(tp) in ("int", "float") and "choices" not in f.metadata:
                assert "max" in f.metadata, f"{family}: {path}"


def test_dram_bytes_per_cycle_must_be_representable():
    """1e-6 GB/s at 1 THz is 1e-9 bytes per cycle: the rate would round to 0."""
    cfg = hw.load("pe_array_tiny")
    with pytest.raises(ConfigError, match=r"dram.bandwidth_gbps = 1e-06 GB/s at 1e\+06 MHz is"):
        hw.replace_fields(cfg, {"dram.bandwidth_gbps": 1e-6, "clock.frequency_mhz": 1e6})
    with pytest.raises(ConfigError, match="bytes per cycle"):
        hw.replace_fields(cfg, {"dram.bandwidth_gbps": 1e6, "clock.frequency_mhz": 1e-3})


@pytest.fixture(scope="module")
def digits_fn():
    net, images, labels = experiment.resolve_model(None, None, 64)
    return {
        n: experiment.run_functional(net, images, labels, "if", {"num_steps": 2}, stream=n)
        for n in (4, 64)
    }


def test_both_pe_array_engines_count_exactly_at_the_largest_latency(digits_fn):
    """dram.latency_cycles = 2^32 (its maximum): the fast engine used to return -9.2e18 or a
    plausible 3,128 cycles near 2^62; now both engines agree to the cycle, far above 2^32."""
    cfg = hw.replace_fields(hw.load("pe_array_tiny"), {"dram.latency_cycles": 2**32})
    fast = experiment.hardware_cost(digits_fn[4], cfg, engine="fast")
    slow = experiment.hardware_cost(digits_fn[4], cfg, engine="simpy")
    assert fast.timing.latency_cycles == slow.timing.latency_cycles > 2**32
    assert fast.timing.makespan_cycles == slow.timing.makespan_cycles < CYCLE_LIMIT
    assert math.isfinite(fast.energy.total_pj)


@pytest.mark.parametrize("engine", ["fast", "simpy"])
def test_a_stream_beyond_the_cycle_limit_is_refused_by_both_engines(digits_fn, engine):
    """64 samples of ~2,000 bursts at 2^32 cycles each: over 2^48 cycles."""
    cfg = hw.replace_fields(hw.load("pe_array_tiny"), {"dram.latency_cycles": 2**32})
    with pytest.raises(ConfigError, match=r"more than the 2\^48 .* the timing models count"):
        experiment.hardware_cost(digits_fn[64], cfg, engine=engine)


def test_the_cycle_bound_forms_its_message_only_to_raise():
    """``check_cycle_bound`` takes the fields' text or a function giving it, called only for the
    error (a sweep point checks dozens of bounds)."""
    from neurosim.timing.result import check_cycle_bound

    called = []

    def what() -> str:
        called.append(1)
        return "layer 'conv1': its DRAM loads alone need that many"

    check_cycle_bound(float(CYCLE_LIMIT), what)
    assert called == []
    with pytest.raises(ConfigError, match=r"2\^48 .* layer 'conv1': its DRAM loads alone"):
        check_cycle_bound(float(CYCLE_LIMIT) * 2, what)
    assert called == [1]
    with pytest.raises(ConfigError, match=r"count exactly; dram.latency_cycles"):
        check_cycle_bound(float("inf"), "dram.latency_cycles")


def test_the_multicore_model_refuses_a_plan_beyond_the_cycle_limit():
    plan = multicore_plan.chain_plan([[2**47, 2**47], [1, 1]])
    with pytest.raises(ConfigError, match=r"2\^48"):
        multicore.simulate_plan(plan)
    ok = multicore.simulate_plan(multicore_plan.chain_plan([[2**40, 2**40], [1, 1]]))
    # Per-step pipelining (multicore_cost.latency_per_step): Σ c + (T − 1)·max c, exact.
    assert ok.latency_cycles == (2**40 + 1) + (2 - 1) * 2**40


def test_multicore_step_cycles_do_not_overflow_at_the_largest_rates():
    """ceil(syn/S + upd/U) with S = U = 2^30 and syn = 2^40: the old (syn·U + upd·S) / (S·U)
    needed 2^70."""
    from neurosim.timing.multicore_cost import step_cycles

    got = step_cycles(np.array([2**40, 2**40 + 1]), np.array([2**30, 5]), 2**30, 2**30)
    assert got.tolist() == [2**10 + 1, 2**10 + 1]


# --------------------------------------------------------------------------------------------
# Energy tables
# --------------------------------------------------------------------------------------------


def _table_dict():
    table = load_energy_table("horowitz_45nm")
    import tomllib
    from pathlib import Path

    return tomllib.loads(Path(table.source_path).read_text())


@pytest.mark.parametrize("value", [1e308, math.inf, -1.0, 10**400])
def test_energy_entries_must_be_finite_and_plausible(value):
    doc = _table_dict()
    doc["op"][0]["energy_pj"] = value
    with pytest.raises(
        ConfigError, match=r"op\[0\].energy_pj = .* allowed: a number in \[0, 1e\+06\]"
    ):
        energy_from_dict(doc, source="t.toml")


def test_energies_of_a_run_are_finite_at_the_largest_entries():
    doc = _table_dict()
    for entry in doc["op"] + doc["memory"]:
        entry["energy_pj"] = 1e6
    table = energy_from_dict(doc, source="big.toml")
    net, images, labels = experiment.resolve_model(None, None, 2)
    fn = experiment.run_functional(net, images, labels, "if", {}, stream=2)
    cfg = hw.load("pe_array")
    cost = experiment.hardware_cost(fn, cfg)
    from neurosim import energy

    eb = energy.estimate(fn.trace, table, network=fn.snn, timing=cost.timing, hw=cfg, ann=fn.ann)
    assert all(math.isfinite(v) for v in (eb.total_pj, eb.ann_total_pj, eb.paper_ratio))
    assert to_dict(cfg)["energy_table"] == "horowitz_45nm"
