"""Interrupts, killed parents and killed writes; the command line's exit-status contract.

The sweep tests run ``neurosim sweep`` with two workers in a session of its own, as a terminal
would, and look at every process of that session through /proc (Linux).
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurosim import _files, cli
from neurosim._files import atomic_write, remove_stale_temporaries
from neurosim.errors import ConfigError
from neurosim.io import save_model
from neurosim.sweep import run_sweep
from tests.conftest import random_codes, random_qann

ROOT = Path(__file__).resolve().parents[1]
LINUX = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

SPEC = """
[meta]
name = "long"
[base]
hw = "pe_array_tiny"
model = "model.npz"
inputs = "inputs.npz"
samples = 2
stream = 1
options = { num_steps = 2 }
[axes]
pe.M = [1, 2, 3, 4]
pe.unroll_in_channels = [1, 2, 3, 4]
dram.bandwidth_gbps = [0.1, 0.2, 0.4, 0.8, 1.6]
dram.latency_cycles = [0, 5, 10, 20, 40, 80]
clock.frequency_mhz = [100, 150, 200, 250, 300]
"""
"""2400 points: seconds of work for two workers (~1.4 ms a point), so the sweep is mid-way
when it is hit (480 points were: the parent finished them alone while the workers started)."""

POINTS = 2400


@pytest.fixture
def sweep_dir(tmp_path) -> Path:
    net = random_qann(6)
    save_model(net, tmp_path / "model.npz")
    np.savez(tmp_path / "inputs.npz", images=random_codes(net, 2, 0), labels=np.arange(2))
    (tmp_path / "long.sweep.toml").write_text(SPEC)
    return tmp_path


def _session(sid: int) -> list[tuple[int, str]]:
    """(pid, command) of every live (not zombie) process in session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append((int(entry.name), cmd))
    return found


def _survivors(sid: int, seconds: float = 5.0) -> list[tuple[int, str]]:
    """The processes of session ``sid`` still alive after up to ``seconds`` (helpers exit on
    their own once their parent is gone; an exiting process shows for a moment)."""
    deadline = time.monotonic() + seconds
    while _session(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _session(sid)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    return left


def _parent(pid: int) -> int:
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


BUSY = """
import sys, threading
threading.Thread(target=threading.Event().wait, daemon=True).start()
from neurosim.__main__ import run
sys.exit(run())
"""
"""``neurosim`` from a process in which another thread runs: its workers cannot be forked from
it, so they come from the fork server."""


def _start_sweep(folder: Path, *, busy: bool = False) -> subprocess.Popen:
    """``neurosim sweep`` with two workers in a new session (its progress bar on, as on a
    terminal, though stderr is a pipe); returns once points are being journaled and the
    worker runs: forked from the sweep's process, or (``busy``: another thread runs there)
    from the fork server, beside which the resource tracker runs.

    A two-point sweep with two workers runs first, so that Numba's cache holds every kernel
    the parent and the workers load: from a cold cache the workers compiled for seconds while
    the parent alone finished every point before they started."""
    warm = folder / "warm.sweep.toml"
    warm.write_text(SPEC.replace("[1, 2, 3, 4]", "[1, 2]", 1).split("pe.unroll_in")[0])
    run_sweep(warm, folder / "warm", workers=2)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, *(["-c", BUSY] if busy else ["-m", "neurosim"])]
    argv += ["sweep", "long.sweep.toml", "--out", "out"]
    proc = subprocess.Popen(
        [*argv, "--workers", "2"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    journal = folder / "out" / "points.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        helpers = [(pid, c) for pid, c in _session(proc.pid) if pid != proc.pid]
        started = journal.exists() and journal.stat().st_size
        if started and busy and sum("forkserver" in c for _, c in helpers) >= 2:
            return proc  # the fork server and a worker it forked
        if started and not busy and helpers:
            # Forked from the sweep's process: no fork server, no resource tracker (the
            # progress bar's monitor thread would have ruled the fork out).
            assert [_parent(pid) for pid, _ in helpers] == [proc.pid]
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the sweep did not start its workers")


@LINUX
def test_ctrl_c_on_a_two_worker_sweep_exits_130_leaves_nothing_and_resumes(sweep_dir):
    proc = _start_sweep(sweep_dir)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        survivors = _survivors(proc.pid)
    assert proc.returncode == 130
    assert err.decode().splitlines() == [
        "neurosim: interrupted; finished points are saved in out, run the same command again "
        "to resume"
    ]
    assert survivors == []
    done = len((sweep_dir / "out" / "points.jsonl").read_bytes().splitlines())
    assert 0 < done < POINTS
    # The journal is resumable: the rest is computed and the table equals an uninterrupted run.
    resumed = run_sweep(sweep_dir / "long.sweep.toml", sweep_dir / "out", workers=2)
    assert resumed.resumed == done
    assert resumed.computed == POINTS - done
    fresh = run_sweep(sweep_dir / "long.sweep.toml", sweep_dir / "fresh", workers=2)
    pd.testing.assert_frame_equal(resumed.table, fresh.table)


@LINUX
@pytest.mark.parametrize("busy", [False, True], ids=["forked", "fork-server"])
def test_killing_the_parent_takes_its_helpers_with_it(sweep_dir, busy):
    proc = _start_sweep(sweep_dir, busy=busy)
    helpers = [pid for pid, _ in _session(proc.pid) if pid != proc.pid]
    # The worker (with --workers 2, the sweep's process is the other); with the fork server,
    # the server and the resource tracker too.
    assert len(helpers) == (3 if busy else 1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _survivors(proc.pid, seconds=5.0) == []


# --------------------------------------------------------------------------------------------
# Killed writes
# --------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_temporary_file_of_a_killed_write_is_removed_by_the_next_write(tmp_path):
    dead = tmp_path / f".results.csv.{_dead_pid()}-0123abcd.x1y2z3.tmp"
    reused = tmp_path / f".results.csv.{os.getpid()}-89abcdef.q1w2e3.tmp"  # same pid, old run
    live = tmp_path / f".results.csv.{os.getpid()}-{_files._TOKEN}.r4t5y6.tmp"  # ours, in flight
    other = tmp_path / ".notes.tmp"
    for path in (dead, reused, live, other):
        path.write_bytes(b"half")
    atomic_write(tmp_path / "pareto.csv", b"a,b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, "pareto.csv"]
    )
    assert remove_stale_temporaries(tmp_path) == []


def test_a_sweep_rerun_leaves_no_temporary_file(sweep_dir):
    spec = sweep_dir / "long.sweep.toml"
    spec.write_text(SPEC.replace("[0, 5, 10, 20, 40, 80]", "[0]").replace(", 3, 4]", "]"))
    out = sweep_dir / "out"
    out.mkdir()
    (out / f".results.csv.{_dead_pid()}-0123abcd.abcdef.tmp").write_bytes(b"torn")
    run_sweep(spec, out, workers=1)
    assert not list(out.glob("*.tmp"))
    assert not list(out.glob(".*.tmp"))


def test_atomic_write_errors_name_the_path(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"file/out.json: cannot write this file: a part of its"):
        atomic_write(tmp_path / "file" / "out.json", b"{}")
    with pytest.raises(ConfigError, match="it is a folder"):
        atomic_write(tmp_path, b"{}")
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


# --------------------------------------------------------------------------------------------
# The command line's contract
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "code", "expected"),
    [
        (ConfigError("x.hw.toml: pe.M = 0 is out of range"), 2, ["neurosim: error: x.hw.toml"]),
        (KeyboardInterrupt(), 130, ["neurosim: interrupted"]),
        (BrokenPipeError(), 141, []),
        (MemoryError(), 2, ["neurosim: error: out of memory; lower --batch-size"]),
    ],
)
def test_user_side_outcomes_print_at_most_one_line(monkeypatch, capsys, raised, code, expected):
    def fail(args):
        raise raised

    monkeypatch.setattr(cli, "_cmd_inspect", fail)
    monkeypatch.setattr(cli, "_quiet_stdout", lambda: None)  # pytest's capture has no fd 1
    assert cli.main(["inspect", "--hw", "pe_array"]) == code
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(expected)
    assert all(line.startswith(prefix) for line, prefix in zip(err, expected, strict=True))


def test_a_bug_in_neurosim_prints_a_traceback_says_so_and_exits_1(monkeypatch, capsys):
    def bug(args):
        return {}["missing"]

    monkeypatch.setattr(cli, "_cmd_inspect", bug)
    assert cli.main(["inspect", "--hw", "pe_array"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in err
    assert err.rstrip().splitlines()[-1] == cli.BUG_MESSAGE


def test_a_command_line_mistake_is_one_line_too(capsys):
    assert cli.main(["run", "--samples", "abc"]) == 2
    assert capsys.readouterr().err == (
        "neurosim: error: neurosim run: argument --samples: invalid int value: 'abc' "
        "(see neurosim run --help)\n"
    )
    assert cli.main(["sweep"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the following arguments are required: spec, --out" in err


def test_the_command_keeps_numpy_arrays_on_ordinary_pages():
    """``neurosim._memory.ordinary_pages`` turns numpy's huge-page requests off for the
    process (numpy's own getter reads it back), and the console script calls it."""
    code = (
        "from numpy._core import multiarray\n"
        "from neurosim._memory import ordinary_pages\n"
        "assert ordinary_pages()\n"
        "print(multiarray._get_madvise_hugepage())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    import inspect

    import neurosim.__main__ as entry

    assert "ordinary_pages()" in inspect.getsource(entry.run)


def test_the_command_freezes_its_start_up_out_of_the_collector():
    """``neurosim._memory.freeze_start_up`` moves the imported modules' objects into the
    collector's permanent generation (its generations then hold only what is made later, a
    few), and the console script calls it once the command line is imported."""
    code = (
        "import gc\n"
        "import neurosim.cli\n"
        "from neurosim._memory import freeze_start_up\n"
        "before = len(gc.get_objects())\n"
        "freeze_start_up()\n"
        "frozen = gc.get_freeze_count()\n"
        "made_later = [[i] for i in range(10)]\n"
        "print(before, frozen, len(gc.get_objects()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, frozen, after = map(int, out.stdout.split())
    assert frozen >= before > 50_000  # numpy, pandas, Numba and neurosim
    assert 10 <= after < 1_000
    import inspect

    import neurosim.__main__ as entry

    source = inspect.getsource(entry.run)
    assert source.index("freeze_start_up()") > source.index("from neurosim.cli import main")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's mallopt",
)
def test_the_command_reuses_freed_memory_without_page_faults():
    """After ``neurosim._memory.reuse_freed_memory`` a 64 MiB array allocated again after one
    was freed lands on pages already mapped: no page faults (numpy's default: one per 4 KiB
    page, or per 2 MiB huge page, each time); the console script calls it."""
    code = (
        "import resource\n"
        "import numpy as np\n"
        "from neurosim._memory import reuse_freed_memory\n"
        "assert reuse_freed_memory()\n"
        "def touch():\n"
        "    a = np.ones(2**23)\n"
        "    del a\n"
        "touch()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "touch()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) <= 16  # 64 MiB freshly mapped: >= 32 faults even on huge pages
    import inspect

    import neurosim.__main__ as entry

    assert "reuse_freed_memory()" in inspect.getsource(entry.run)
