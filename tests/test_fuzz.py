"""A CI-sized slice of the fuzz campaign (``scripts/fuzz.py``), and its reproducibility.

The full campaign (2,000+ cases per input type) is run by hand before a release; this slice runs
40 cases of every type (native model and inputs files, hardware configs, energy tables, sweep
specs, ONNX and NIR files, event inputs, import and export), each in a forked child with time
and memory limits, and asserts what the full run must show: no untyped exception, no out-of-
memory, no hang, no crash and no non-finite result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def test_a_slice_of_the_fuzz_campaign_finds_no_failure(tmp_path):
    out = tmp_path / "fuzz.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(SCRIPTS / "fuzz.py"), "--cases", "40", "--seed", "11"]
    proc = subprocess.run(
        [*argv, "--jobs", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = json.loads(out.read_text())["counts"]
    assert set(counts) == {
        *("model", "inputs", "hw", "energy", "sweep"),
        *("onnx", "nir", "spikes", "import-export"),
    }
    for kind, row in counts.items():
        assert sum(row.values()) == 40, kind
        for failure in ("untyped", "oom", "hang", "crash", "non-finite"):
            assert row[failure] == 0, (kind, failure, proc.stdout)
        # The slice exercises both sides: damaged inputs refused, intact ones simulated.
        assert row["typed"] > 0, kind
    assert sum(row["ok"] for row in counts.values()) > 0


def test_cases_are_a_pure_function_of_seed_type_and_index(tmp_path, monkeypatch):
    """The same cases an hour apart (the clock is moved for the second corpus: a zip member
    that took the current time made this fail whenever two builds straddled a 2 s tick)."""
    import time

    sys.path.insert(0, str(SCRIPTS))
    try:
        import fuzz
    finally:
        sys.path.remove(str(SCRIPTS))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = fuzz.build_corpus(tmp_path / "a")
    now = time.time
    first_cases = {
        (kind, index): fuzz.make_case(a, 5, kind, index)
        for kind in fuzz.GENERATORS
        for index in (0, 7)
    }
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: now() + 3600)
        b = fuzz.build_corpus(tmp_path / "b")
        second_cases = {key: fuzz.make_case(b, 5, *key) for key in first_cases}
    for kind in fuzz.GENERATORS:
        for index in (0, 7):
            first, second = first_cases[kind, index], second_cases[kind, index]
            assert first.files == second.files
            assert first.argv == second.argv
    assert fuzz.make_case(a, 5, "hw", 0).files != fuzz.make_case(a, 6, "hw", 0).files
