"""`neurosim sweep`: the shipped example end to end, resume, Pareto output, plots, errors."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from neurosim.cli import main

TINY = """
[meta]
name = "tiny"
[base]
hw = "pe_array_tiny"
samples = 8
stream = 2
options = { num_steps = 2 }
[axes]
pe.M = [1, 2, 4]
dram.bandwidth_gbps = [0.05, 0.4]
[sampling]
mode = "random"
points = 5
seed = 7
"""


def test_sweep_cli_tiny_spec_and_resume(tmp_path, capsys):
    spec = tmp_path / "tiny.sweep.toml"
    spec.write_text(TINY)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert (
        "sweep: tiny   points: 5   ok: 5   failed: 0   dropped: 0   computed now: 5   "
        "resumed: 0" in text
    )
    assert "Pareto-optimal points (latency vs energy" in text
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 5
    assert (table["status"] == "ok").all()
    front = pd.read_csv(out / "pareto.csv")
    for point in front["point"]:
        assert re.search(rf"^\s*{point}\s+\d", text, re.MULTILINE)
    for name in ("pareto.png", "axis_effects.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = (out / "results.csv").read_bytes()
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    assert "computed now: 0   resumed: 5" in capsys.readouterr().out
    assert (out / "results.csv").read_bytes() == before


def test_sweep_cli_calls_started_once_with_the_collector_paused(tmp_path):
    """``main(started=...)`` calls ``started`` once, at the sweep's first progress report,
    while this process's collector is still paused (so that the console script's
    ``freeze_start_up`` there freezes the model and traces before any collection walks them);
    the console script passes ``freeze_start_up``."""
    import gc
    import inspect

    import neurosim.__main__ as entry

    spec = tmp_path / "tiny.sweep.toml"
    spec.write_text(TINY)
    calls: list[bool] = []
    argv = ["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1", "--no-progress"]
    assert main(argv, started=lambda: calls.append(gc.isenabled())) == 0
    assert calls == [False]
    assert gc.isenabled()
    assert "main(started=freeze_start_up)" in inspect.getsource(entry.run)


def test_sweep_cli_errors_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.sweep.toml"
    bad.write_text(TINY.replace("pe.M", "pe.Q"))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "neurosim: error:" in err
    assert "bad.sweep.toml: axes.pe.Q: not a field" in err
    assert main(["sweep", "no_such_sweep", "--out", str(tmp_path / "o")]) == 2
    assert "unknown sweep 'no_such_sweep'" in capsys.readouterr().err
    good = tmp_path / "good.sweep.toml"
    good.write_text(TINY)
    assert main(["sweep", str(good), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "workers must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_shipped_example_end_to_end(tmp_path, capsys):
    """The README walk-through: `neurosim sweep pe_array_small` with two workers."""
    out = tmp_path / "small"
    assert (
        main(["sweep", "pe_array_small", "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    )
    text = capsys.readouterr().out
    table = pd.read_csv(out / "results.csv")
    counts = table["status"].value_counts().to_dict()
    assert counts == {"ok": 96, "dropped": 24, "error": 8}
    assert "points: 128   ok: 96   failed: 8   dropped: 24" in text
    errors = table[table["status"] == "error"]
    assert (errors["pe.unroll_out_channels"] == 32).all()
    assert (errors["buffers.membrane_bytes"] == 256).all()
    assert errors["error"].str.contains("is smaller than one tile's membranes").all()
    ok = table[table["status"] == "ok"]
    assert (ok["accuracy"] > 0.9).all()
    # T = 8 doubles the synaptic work of T = 4 (same images): compute energy rises.
    by_t = ok.groupby("num_steps")["compute_energy_pj"].mean()
    assert by_t[8] > 1.5 * by_t[4]
