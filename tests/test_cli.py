"""`neurosim run`: table, JSON, errors with exit code 2."""

import json

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.timing import STALL_CAUSES


def test_run_writes_json_table(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["run", "--samples", "40", "--json", str(out), "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "ann_agreement" in text
    assert "digits_cnn" in text
    data = json.loads(out.read_text())
    assert data["samples"] == 40
    assert [row["scheme"] for row in data["schemes"]] == ["if", "mtif", "sws", "lmht", "lif"]
    for row in data["schemes"]:
        for key in ("accuracy", "ann_accuracy", "ann_agreement"):
            assert 0.0 <= row[key] <= 1.0
        assert row["spikes_per_inference"] > 0
        assert row["synaptic_ops_per_inference"] > 0
    rows = {r["scheme"]: r for r in data["schemes"]}
    assert rows["if"]["mean_time_steps"] == 8
    assert rows["sws"]["mean_time_steps"] == 8 + 2 * 4
    assert rows["lmht"]["mean_time_steps"] == 2
    assert rows["mtif"]["mean_time_steps"] == (8 + 4 + 4 + 8) / 4
    assert rows["sws"]["first_layer_macs_per_inference"] == 0
    for row in data["schemes"]:
        assert row["hw"] == "pe_array"
        assert isinstance(row["latency_cycles"], int)
        assert row["latency_cycles"] > 0
        assert row["latency_us"] == row["latency_cycles"] / 300.0
        assert row["throughput_sps"] > 0
        assert row["stall_cycles_per_sample"] >= 0
        shares = [v for k, v in row.items() if k.startswith("stall_") and k.endswith("_share")]
        assert len(shares) == len(STALL_CAUSES) + 1
        assert sum(shares) - row["stall_share"] == pytest.approx(row["stall_share"])
    assert data["provenance"]["model"]["name"] == "digits_cnn"
    assert data["provenance"]["hw"]["name"] == "pe_array"
    assert data["provenance"]["energy_table"]["name"] == "horowitz_45nm"
    assert data["provenance"]["command"].startswith("neurosim run --samples 40")
    assert "modelled" in data["provenance"]["note"]


def test_run_on_multicore_saves_timeline(tmp_path, capsys):
    png = tmp_path / "timeline.png"
    code = main(
        [
            "run",
            "--scheme",
            "mtif",
            "--samples",
            "6",
            "--stream",
            "3",
            "--hw",
            "multicore",
            "--timeline",
            str(png),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "multicore" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inspect_prints_the_mapping(capsys):
    assert main(["inspect", "--hw", "pe_array"]) == 0
    out = capsys.readouterr().out
    for layer in ("conv1", "conv2", "conv3", "fc1", "fc2"):
        assert f"\n{layer} " in out or f"\n  {layer} " in out or f" {layer} " in out
    assert "dense_pe_cycles" in out
    assert main(["inspect", "--hw", "multicore", "--scheme", "sws"]) == 0
    assert "neurons_per_core" in capsys.readouterr().out


def test_run_one_scheme_with_own_inputs(tmp_path, capsys, bundled):
    _, images, labels = bundled
    inputs = tmp_path / "in.npz"
    np.savez(inputs, images=images[:5], labels=labels[:5])
    code = main(
        ["run", "--scheme", "if", "--num-steps", "4", "--inputs", str(inputs), "--no-progress"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "samples: 5" in out
    assert " if " in out
    assert "mtif" not in out


def test_errors_exit_2_with_message(tmp_path, capsys):
    assert main(["run", "--model", str(tmp_path / "missing.npz"), "--inputs", "x.npz"]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["run", "--coding-steps", "3", "--scheme", "sws", "--no-progress"]) == 2
    assert "need coding_steps >= 5" in capsys.readouterr().err
    assert main(["run", "--hw", "nope", "--no-progress"]) == 2
    assert "pe_array" in capsys.readouterr().err
    assert main(["run", "--stream", "0", "--no-progress"]) == 2
    assert "--stream must be >= 1" in capsys.readouterr().err
    assert main(["table", "--out", "unused", "--jobs", "0", "--no-progress"]) == 2
    assert "--jobs must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run"], ["table", "--out", "unused"]])
@pytest.mark.parametrize("samples", ["0", "-3"])
def test_samples_below_one_are_refused(command, samples, capsys):
    assert main([*command, "--samples", samples, "--no-progress"]) == 2
    assert f"--samples) must be an integer >= 1, got {samples}" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run"], ["table", "--out", "unused"]])
def test_a_model_that_does_not_fit_fails_before_simulating(command, tmp_path, capsys, monkeypatch):
    """Mapping comes first: on a 2×2-core chip the bundled model's first layer does not fit,
    and neither the quantized-ANN reference nor a functional pass ever runs (``run`` exits
    2; ``table`` reports every setting's mapping error)."""
    from importlib.resources import files

    from neurosim import functional, qann

    shipped = files("neurosim.hwconfigs").joinpath("multicore.hw.toml").read_text()
    text = shipped.replace("width = 32", "width = 2").replace("height = 32", "height = 2")
    small = tmp_path / "small.hw.toml"
    small.write_text(text)

    monkeypatch.setattr(functional, "run", _never)
    monkeypatch.setattr(qann, "predict", _never)
    args = [a if a != "unused" else str(tmp_path / "out") for a in command]
    code = main([*args, "--hw", str(small), "--samples", "4", "--no-progress"])
    if command[0] == "run":
        assert code == 2
        assert "does not fit" in capsys.readouterr().err
    else:
        assert code == 0
        assert capsys.readouterr().out.count("does not fit") >= 1


def _never(*args, **kwargs):
    raise AssertionError("simulated although the command cannot succeed")


def test_run_engines_give_the_same_table(tmp_path, capsys, monkeypatch):
    """``run`` times on the family's fast engine (the max-plus recurrence on a PE array,
    summed cycles only) unless asked otherwise: the SimPy processes give the same row."""
    from neurosim import functional

    rows = {}
    for engine in ("fast", "simpy", "maxplus"):
        out = tmp_path / f"{engine}.json"
        args = ["run", "--samples", "6", "--stream", "3", "--engine", engine, "--json", str(out)]
        assert main([*args, "--no-progress"]) == 0
        rows[engine] = json.loads(out.read_text())["schemes"]
    capsys.readouterr()
    assert rows["fast"] == rows["simpy"] == rows["maxplus"]
    monkeypatch.setattr(functional, "run", _never)
    assert main(["run", "--hw", "multicore", "--engine", "maxplus", "--no-progress"]) == 2
    assert "not available for the multicore family" in capsys.readouterr().err
