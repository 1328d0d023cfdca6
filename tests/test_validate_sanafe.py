"""The SANA-FE target of ``neurosim validate``: the ``lif`` options that give SANA-FE's
semantics (known answers), and the reduced suite against the recorded SANA-FE 2.2.9 figures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurosim import functional, io, ir, schemes, validate
from neurosim.errors import ConfigError
from neurosim.schemes.lif import delayed
from neurosim.validate import sanafe
from neurosim.validate.checks import number, percent

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "fixtures" / "validation"


def _chain(delay: int, strict: bool = True) -> ir.Network:
    """input (1 spike neuron, 6 steps) → one lif neuron, weight 3, Θ = 5, subtractive reset."""
    neuron = schemes.LIFSpec(
        threshold=np.array([5], np.int64), max_level=1, steps=6, strict=strict, delay=delay
    )
    return ir.Network(
        layers=(
            ir.Input(name="in", shape=(1,), levels=1, steps=6),
            ir.Linear(name="a", inputs=("in",), weight=np.array([[3]], np.int8), neuron=neuron),
        ),
        kind="snn",
        scheme=schemes.LIF.name,
        name="chain",
    )


def _spikes(net: ir.Network, raster: list[int]) -> list[int]:
    inputs = np.array(raster, np.int64).reshape(1, len(raster), 1)
    return functional.run(net, inputs).layer("a").spikes[:, 0, 0].tolist()


def test_one_step_synaptic_delay_known_answer():
    """Input spikes at steps 0-3 (weight 3, Θ = 5, fire on V > Θ, V −= Θ).

    No delay: V = 3, 6 → fire (1), 4, 7 → fire (2), 2, 2 — spikes at steps 1 and 3.
    delay = 1 (SANA-FE): step 0 gets nothing, then V = 3, 6 → fire (1), 4, 7 → fire (2), 2 —
    spikes at steps 2 and 4, one step later. delay = 2: at steps 3 and 5. With V ≥ Θ (not
    strict) and delay 1 nothing changes here (no V equals 5)."""
    raster = [1, 1, 1, 1, 0, 0]
    assert _spikes(_chain(0), raster) == [0, 1, 0, 1, 0, 0]
    assert _spikes(_chain(1), raster) == [0, 0, 1, 0, 1, 0]
    assert _spikes(_chain(2), raster) == [0, 0, 0, 1, 0, 1]
    assert _spikes(_chain(1, strict=False), raster) == [0, 0, 1, 0, 1, 0]


def test_delayed_current():
    """Per-step currents move ``delay`` steps later (zeros first); a held current [1, ...]
    starts after the delay."""
    cur = np.arange(1, 5).reshape(4, 1)
    np.testing.assert_array_equal(delayed(cur, 4, 1)[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(delayed(cur, 4, 3)[:, 0], [0, 0, 0, 1])
    np.testing.assert_array_equal(delayed(cur, 4, 9)[:, 0], [0, 0, 0, 0])
    np.testing.assert_array_equal(delayed(np.array([[7]]), 3, 1)[:, 0], [0, 7, 7])


def test_recorded_networks_rebuild_with_sanafe_semantics():
    """The conv network as neurosim builds it: valid convolutions of the recorded shapes,
    membranes in 1/64 units (current shift 6, Θ × 64), leak 7/8 = 7 / 2^3 truncated toward
    zero, a one-step delay everywhere."""
    nets = sanafe.load_networks(REFERENCES)
    net = sanafe.build_network(nets["dvs_conv"], "dvs_conv", 0.875, "soft")
    shapes = [net.shapes[lay.name] for lay in net.layers]
    assert shapes == [
        (1, 32, 32),
        (16, 15, 15),
        (32, 13, 13),
        (64, 11, 11),
        (11, 9, 9),
        (891,),
        (11,),
    ]
    conv1 = net.layer("conv1")
    assert conv1.shift == 6
    assert conv1.neuron.threshold.tolist() == [10 * 64]
    assert (conv1.neuron.leak.tolist(), conv1.neuron.leak_bits) == ([7], 3)
    assert conv1.neuron.leak_rounding == "zero"
    assert conv1.neuron.delay == 1
    assert conv1.neuron.strict
    assert conv1.neuron.v_init is None
    plain = sanafe.build_network(nets["dense"], "dense", 1.0, "hard")
    assert plain.layer("fc1").neuron.leak is None
    assert plain.layer("fc1").neuron.reset == "zero"


def test_delay_survives_the_model_file(tmp_path):
    net = _chain(1)
    back = io.load_model(io.save_model(net, tmp_path / "chain.npz"))
    assert back.layer("a").neuron.delay == 1
    assert _spikes(back, [1, 1, 1, 1, 0, 0]) == [0, 0, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def quick():
    (result,) = validate.run(["sanafe"], mode="recorded", quick=True)
    return result


def test_reduced_sanafe_suite_passes(quick):
    """Both networks' primary variants (dvs_conv leak 7/8 soft, dense IF soft): every layer's
    spike count equals SANA-FE's at every step; the synapse energy is the same count × the
    same per-event energy; total energy within 5 % and latency within 25 %."""
    assert quick.mode == "recorded"
    assert quick.passed
    frame = quick.to_frame()
    assert set(frame["group"]) == {"dvs_conv, leak 0.875, soft reset", "dense, leak 1, soft reset"}
    cells = frame[frame["quantity"] == "layer × step spike counts equal"]
    assert cells["reference"].tolist() == [5 * 16, 3 * 16]
    assert (cells["neurosim"] == cells["reference"]).all()
    spikes = frame[frame["quantity"] == "spikes"].set_index(["group", "workload"])
    # SANA-FE's spikes per layer over the 16 steps (its spike trace)
    assert spikes.loc[("dvs_conv, leak 0.875, soft reset", "conv3"), "reference"] == 12149
    assert spikes.loc[("dense, leak 1, soft reset", "fc3"), "neurosim"] == 96
    synapse = frame[frame["quantity"] == "synapse energy (pJ)"]
    np.testing.assert_allclose(synapse["neurosim"], synapse["reference"], rtol=1e-9)
    total = frame[frame["quantity"] == "energy (pJ)"]
    assert (total["error"].abs() <= 0.05).all()
    latency = frame[frame["quantity"] == "latency (ns)"]
    assert (latency["error"].abs() <= 0.25).all()


def test_docs_page_holds_the_sanafe_rows(quick):
    text = (ROOT / "docs" / "validation.md").read_text()
    begin, end = "<!-- validate:sanafe:begin -->", "<!-- validate:sanafe:end -->"
    section = text[text.index(begin) : text.index(end)]
    for c in quick.checks:
        row = (
            f"| {c.group} | {c.workload} | {c.quantity} | {number(c.reference)} | "
            f"{number(c.neurosim)} | {percent(c.error)} |"
        )
        assert row in section, row


def test_missing_recordings(tmp_path):
    with pytest.raises(ConfigError, match="recorded SANA-FE networks not found"):
        validate.run(["sanafe"], mode="recorded", references=tmp_path)
    (tmp_path / sanafe.NETWORKS).write_bytes((REFERENCES / sanafe.NETWORKS).read_bytes())
    with pytest.raises(ConfigError, match="recorded SANA-FE figures not found"):
        validate.run(["sanafe"], mode="recorded", references=tmp_path)
    frame = pd.read_csv(REFERENCES / sanafe.RUNS)
    frame[frame["net"] != "dense"].to_csv(tmp_path / sanafe.RUNS, index=False)
    (tmp_path / sanafe.LAYERS).write_bytes((REFERENCES / sanafe.LAYERS).read_bytes())
    with pytest.raises(ConfigError, match="no recorded SANA-FE figures for dense"):
        validate.run(["sanafe"], mode="recorded", quick=True, references=tmp_path)


def _tool_python() -> str | None:
    found = os.environ.get("NEUROSIM_VALIDATE_SANAFE_PYTHON")
    if found:
        return found
    return sanafe.tool_available(None)


@pytest.mark.skipif(_tool_python() is None, reason="SANA-FE is not installed")
def test_live_sanafe_reproduces_the_recording(tmp_path):
    """The live path (quick: the two primary variants, both timing models): SANA-FE run now
    writes back the recorded rows byte for byte."""
    for name in (sanafe.NETWORKS, sanafe.RUNS, sanafe.LAYERS):
        (tmp_path / name).write_bytes((REFERENCES / name).read_bytes())
    (result,) = validate.run(
        ["sanafe"],
        mode="live",
        tool_python=_tool_python(),
        references=tmp_path,
        quick=True,
        record=True,
    )
    assert result.mode == "live"
    assert result.passed
    for name in (sanafe.RUNS, sanafe.LAYERS):
        assert (tmp_path / name).read_bytes() == (REFERENCES / name).read_bytes(), name
