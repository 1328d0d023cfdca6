"""Hostile TOML inputs, sweep specs, output folders and output paths: each a ConfigError
naming the file, key or path, or (a constraint that cannot be evaluated) a dropped point that
says why; never an untyped exception, a hang or exhausted memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurosim import hw
from neurosim.cli import main
from neurosim.errors import ConfigError
from neurosim.hw.energy_table import load_energy_table
from neurosim.io import save_model
from neurosim.sweep import Constraint, generate_points, load_spec, run_sweep
from neurosim.sweep.constraints import MAX_CHARS, MAX_DEPTH, known_names
from tests.conftest import random_codes, random_qann

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "hwconfigs"

# --------------------------------------------------------------------------------------------
# TOML files: hardware configs, energy tables, sweep specs
# --------------------------------------------------------------------------------------------


def _load(kind: str, path: Path):
    if kind == "hw":
        return hw.load(path)
    if kind == "energy":
        return load_energy_table(path)
    return load_spec(path)


SEEDS = {
    "hw": SHIPPED / "pe_array_tiny.hw.toml",
    "energy": SHIPPED / "energy" / "45nm.toml",
    "sweep": SHIPPED / "pe_array_small.sweep.toml",
}


@pytest.mark.parametrize("kind", list(SEEDS))
@pytest.mark.parametrize(
    ("addition", "message"),
    [
        ("\n[zz]\nv = " + "[" * 5000 + "1" + "]" * 5000 + "\n", "nested deeper than 16 levels"),
        ("\n[zz]\nv = " + "{a = " * 200 + "1" + "}" * 200 + "\n", "nested deeper than 16 levels"),
        ("\n[zz]\nv = 1" + "0" * 5000 + "\n", "Exceeds the limit .* digits"),
    ],
)
def test_deep_nesting_and_huge_integers_are_config_errors(tmp_path, kind, addition, message):
    """tomllib raises RecursionError for deep nesting and ValueError (not TOMLDecodeError) for
    an integer of more than 4,300 digits."""
    path = tmp_path / f"x.{kind}.toml"
    path.write_text(SEEDS[kind].read_text() + addition)
    with pytest.raises(ConfigError, match=rf"{path}: not valid TOML here: {message}"):
        _load(kind, path)


@pytest.mark.parametrize("kind", list(SEEDS))
def test_invalid_utf8_and_special_files(tmp_path, kind):
    path = tmp_path / f"x.{kind}.toml"
    path.write_bytes(SEEDS[kind].read_bytes() + b"\n# \xff\xfe\n")
    with pytest.raises(ConfigError, match=f"{path}: cannot read"):
        _load(kind, path)
    with pytest.raises(ConfigError, match="a folder"):
        _load(kind, tmp_path)


# --------------------------------------------------------------------------------------------
# Constraints
# --------------------------------------------------------------------------------------------

KNOWN = known_names("pe_array", ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1+" * 3000 + "1", f"6001 characters; a constraint has at most {MAX_CHARS}"),
        ("-" * 100000 + "1", "100001 characters"),
        ("-" * 900 + "1", f"nested deeper than {MAX_DEPTH} levels"),
        ("(" * 300 + "1" + ")" * 300, "is not an expression"),
        ("min(" + ", ".join(["1"] * 400) + ")", "characters; a constraint has at most"),
        ("__import__('os')", "only min, max, abs, log2"),
        ("pe.M.__class__ > 1", "unknown parameter"),
    ],
)
def test_constraints_beyond_their_bounds_are_refused_at_load(text, message):
    with pytest.raises(ConfigError, match=message):
        Constraint.parse(text, KNOWN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a' * 10**10 == 'b'", "a string of more than 1000 characters"),
        ("((9**64)**64)**64 > 0", r"exceeds 2\^128"),
        ("2**64 ** 64 > 0", r"64 \*\* 64 exceeds 2\^128"),
        ("(2**63) * (2**63) * (2**63) > 0", r"an intermediate integer exceeds 2\^128"),
        ("1e308 * 1e308 > 0", "not finite"),
        ("log2(0) > 1", "math domain error"),
        ("1 / 0 > 1", "division by zero"),
        ("'a' < 1", "not supported"),
    ],
)
def test_constraints_whose_values_leave_the_bounds_drop_the_point_with_the_reason(text, message):
    spec = load_spec(SHIPPED / "pe_array_small.sweep.toml")
    data = spec.to_dict()
    data["sampling"]["constraints"] = [text]
    spec = type(spec).from_dict(data, source="s.sweep.toml")
    points = generate_points(spec)
    assert points
    assert all(p.dropped for p in points)
    assert all("cannot be evaluated" in p.dropped for p in points)
    assert all(__import__("re").search(message, p.dropped) for p in points), points[0].dropped


@pytest.mark.parametrize("mode", ["lhs", "random"])
def test_a_sample_of_2_to_the_40_points_is_refused(mode):
    data = load_spec(SHIPPED / "pe_array_small.sweep.toml").to_dict()
    data["sampling"].update(mode=mode, points=2**40)
    with pytest.raises(ConfigError, match=r"sampling.points: = 1099511627776 is not allowed; "):
        load_spec.__globals__["SweepSpec"].from_dict(data, source="s.sweep.toml")


# --------------------------------------------------------------------------------------------
# The output folder of a sweep
# --------------------------------------------------------------------------------------------

TINY = """
[meta]
name = "tiny"
[base]
hw = "pe_array_tiny"
model = "model.npz"
inputs = "inputs.npz"
samples = 2
stream = 1
options = { num_steps = 2 }
[axes]
pe.M = [1, 2]
dram.bandwidth_gbps = [0.1, 0.4]
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    net = random_qann(5)
    save_model(net, tmp_path / "model.npz")
    np.savez(tmp_path / "inputs.npz", images=random_codes(net, 2, 0), labels=np.arange(2))
    (tmp_path / "tiny.sweep.toml").write_text(TINY)
    return tmp_path


@pytest.mark.parametrize("manifest", [b"[]", b'"text"', b"1e999", b"null", b"{", b"\xff\xfe"])
def test_a_manifest_that_is_not_an_object_is_refused(tiny, manifest, capsys):
    out = tiny / "out"
    out.mkdir()
    (out / "sweep.json").write_bytes(manifest)
    argv = ["sweep", str(tiny / "tiny.sweep.toml"), "--out", str(out), "--no-progress"]
    assert main([*argv, "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "sweep.json: " in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_journal_with_invalid_utf8_or_foreign_lines_is_resumed(tiny):
    spec = tiny / "tiny.sweep.toml"
    first = run_sweep(spec, tiny / "out", workers=1)
    journal = tiny / "out" / "points.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    bad = [b"\xff\xfe\xfd\n", b'{"key": {"a": 1}}\n', b'{"key": "zz", "status": "ok"}\n']
    damaged = json.loads(lines[0])
    damaged["latency_cycles"] = "a lot"
    journal.write_bytes(lines[1] + bad[0] + bad[1] + bad[2] + json.dumps(damaged).encode() + b"\n")
    again = run_sweep(spec, tiny / "out", workers=1)
    assert again.resumed == 1  # the one intact line
    assert again.computed == 3  # the damaged row, and the two that were not journaled
    pd.testing.assert_frame_equal(again.table, first.table)


@pytest.mark.parametrize("where", ["file", "under_file", "proc"])
def test_output_paths_that_cannot_be_written_are_one_line_errors(tiny, where, capsys):
    target = {
        "file": str(tiny / "model.npz"),
        "under_file": str(tiny / "model.npz" / "out"),
        "proc": "/proc/neurosim-test/out",
    }[where]
    sweep = ["sweep", str(tiny / "tiny.sweep.toml"), "--out", target, "--workers", "1"]
    # run --json names a file: a file there is replaced, so "a file" means a folder here.
    json_target = str(tiny) if where == "file" else target
    run = ["run", "--model", str(tiny / "model.npz"), "--inputs", str(tiny / "inputs.npz")]
    run += ["--scheme", "if", "--samples", "1", "--stream", "1", "--json", json_target]
    table = ["table", "--model", str(tiny / "model.npz"), "--inputs", str(tiny / "inputs.npz")]
    table += ["--samples", "1", "--stream", "1", "--out", target]
    for argv in (sweep, run, table):
        assert main([*argv, "--no-progress"]) == 2, argv[0]
        err = capsys.readouterr().err
        assert err.startswith("neurosim: error: "), err
        assert "Traceback" not in err
        assert "model.npz" in err or "/proc" in err or "it is a folder" in err
    assert (tiny / "model.npz").read_bytes()[:2] == b"PK"  # nothing overwritten


def test_a_closed_output_pipe_exits_quietly():
    """``neurosim ... | head``: the reader is gone before the table is printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "neurosim", "inspect", "--hw", "pe_array"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # like `head` exiting before neurosim writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


# --------------------------------------------------------------------------------------------
# A sweep's identity covers the content of every file it reads
# --------------------------------------------------------------------------------------------


def _with_table(folder: Path, energy: str) -> Path:
    """tiny.sweep.toml on a copy of pe_array_tiny whose energy table is ``energy`` (a path)."""
    text = (SHIPPED / "pe_array_tiny.hw.toml").read_text()
    text = text.replace('energy_table = "horowitz_45nm"', f'energy_table = "{energy}"')
    (folder / "tiny.hw.toml").write_text(text)
    spec = folder / "tiny.sweep.toml"
    spec.write_text(TINY.replace('hw = "pe_array_tiny"', 'hw = "tiny.hw.toml"'))
    return spec


@pytest.mark.parametrize("edited", ["energy table", "energy table axis", "inputs", "hw file"])
def test_editing_a_file_the_sweep_reads_between_runs_refuses_to_resume(tiny, monkeypatch, edited):
    """The issue's case: a crash, the energy table named by path edited, a resume: 46 of 96
    rows had stale energies. Now the identity changes and the folder is refused."""
    monkeypatch.chdir(tiny)  # energy tables named by a relative path are read from here
    table = tiny / "e.toml"
    table.write_text((SHIPPED / "energy" / "45nm.toml").read_text())
    spec = _with_table(tiny, "./e.toml")
    if edited == "energy table axis":
        (tiny / "f.toml").write_text(table.read_text())
        spec.write_text(spec.read_text() + 'energy_table = ["./e.toml", "./f.toml"]\n')
    first = run_sweep(spec, tiny / "out", workers=1)
    assert run_sweep(spec, tiny / "out", workers=1).resumed == len(first.table)
    target = {
        "energy table": table,
        "energy table axis": tiny / "f.toml",
        "inputs": tiny / "inputs.npz",
        "hw file": tiny / "tiny.hw.toml",
    }[edited]
    if edited == "inputs":
        with np.load(target) as data:
            np.savez(target, images=data["images"], labels=data["labels"][::-1].copy())
    else:
        target.write_text(
            target.read_text().replace("energy_pj = 0.03", "energy_pj = 0.06") + "#\n"
        )
    with pytest.raises(ConfigError, match=r"holds results of another sweep .* one of their files"):
        run_sweep(spec, tiny / "out", workers=1)


def test_a_path_too_long_to_look_up_is_an_error_naming_it(tiny, capsys):
    """``[base] hw = "aaaa…"`` (5,000 characters): the file lookup itself raised OSError
    (ENAMETOOLONG) before."""
    long = "a" * 5000
    spec = tiny / "tiny.sweep.toml"
    for key, value in (("hw", long), ("model", long + ".npz"), ("inputs", long + ".npz")):
        spec.write_text(TINY.replace(f'{key} = "', f'{key} = "{value}" # "', 1))
        argv = ["sweep", str(spec), "--out", str(tiny / "out"), "--workers", "1"]
        assert main([*argv, "--no-progress"]) == 2, key
        err = capsys.readouterr().err
        assert err.startswith("neurosim: error: "), err
        assert "Traceback" not in err
    assert main(["run", "--model", long + ".npz", "--no-progress"]) == 2
    assert "neurosim: error: " in capsys.readouterr().err
