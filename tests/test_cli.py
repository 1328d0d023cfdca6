"""`neurosim run`: table, JSON, errors with exit code 2."""

import json

import numpy as np

from neurosim.cli import main


def test_run_writes_json_table(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["run", "--samples", "40", "--json", str(out), "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "ann_agreement" in text
    assert "digits_cnn" in text
    data = json.loads(out.read_text())
    assert data["samples"] == 40
    assert [row["scheme"] for row in data["schemes"]] == ["if", "mtif", "sws", "lmht"]
    for row in data["schemes"]:
        for key in ("accuracy", "ann_accuracy", "ann_agreement"):
            assert 0.0 <= row[key] <= 1.0
        assert row["spikes_per_image"] > 0
        assert row["synaptic_ops_per_image"] > 0
    rows = {r["scheme"]: r for r in data["schemes"]}
    assert rows["if"]["mean_time_steps"] == 8
    assert rows["sws"]["mean_time_steps"] == 8 + 2 * 4
    assert rows["lmht"]["mean_time_steps"] == 2
    assert rows["mtif"]["mean_time_steps"] == (8 + 4 + 4 + 8) / 4
    assert rows["sws"]["first_layer_macs_per_image"] == 0


def test_run_one_scheme_with_own_inputs(tmp_path, capsys, bundled):
    _, images, labels = bundled
    inputs = tmp_path / "in.npz"
    np.savez(inputs, images=images[:5], labels=labels[:5])
    code = main(["run", "--scheme", "if", "--num-steps", "4", "--inputs", str(inputs),
                 "--no-progress"])
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
