"""Architecture sweeps: closed-form cycles over M, trace reuse, resume after a crash, identical
tables from every executor, error rows, Pareto front."""

from __future__ import annotations

import collections
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurosim import experiment, hw, ir
from neurosim.errors import ConfigError, NeurosimError
from neurosim.io import save_model
from neurosim.sweep import SweepSpec, pareto_front, run_sweep, ship
from neurosim.sweep import pool as sweep_pool
from neurosim.sweep import run as sweep_run
from tests.conftest import random_codes, random_qann


def dense_toy() -> ir.Network:
    """input 4×4×4 (codes 0..15) → conv 3×3 pad 1, 4 → 4 channels → flatten → fc 64 → 4.

    Every layer has 4 output channels, so ⌈4/M⌉ = 4, 2, 1 for M = 1, 2, 4."""
    rng = np.random.default_rng(5)
    return ir.Network(
        name="dense_toy",
        kind="qann",
        layers=(
            ir.Input(name="input", shape=(4, 4, 4), scale=1 / 15, levels=15),
            ir.Conv2d(
                name="conv",
                inputs=("input",),
                weight=rng.integers(-127, 128, (4, 4, 3, 3)).astype(np.int8),
                weight_scale=np.full(4, 0.01),
                bias=np.zeros(4),
                padding=1,
                act=ir.ActQuant(levels=2, clip=1.0),
            ),
            ir.Flatten(name="flatten", inputs=("conv",)),
            ir.Linear(
                name="fc",
                inputs=("flatten",),
                weight=rng.integers(-127, 128, (4, 64)).astype(np.int8),
                weight_scale=np.full(4, 0.01),
                bias=np.zeros(4),
            ),
        ),
    )


def write_model(folder: Path, net: ir.Network, n: int = 2, seed: int = 0) -> None:
    save_model(net, folder / "model.qann.npz")
    codes = random_codes(net, n, seed)
    np.savez(folder / "inputs.npz", images=codes, labels=np.arange(n) % 3)


def make_spec(
    folder: Path,
    axes: dict,
    *,
    scheme_axes: dict | None = None,
    sampling: dict | None = None,
    **base,
) -> SweepSpec:
    data = {
        "meta": {"name": "test"},
        "base": {
            "hw": "pe_array_tiny",
            "model": "model.qann.npz",
            "inputs": "inputs.npz",
            "stream": 2,
            "scheme": "if",
            "options": {"num_steps": 2},
            **base,
        },
        "axes": axes,
        "scheme_axes": scheme_axes or {},
        "sampling": sampling or {"mode": "grid"},
    }
    return SweepSpec.from_dict(data, source=str(folder / "test.sweep.toml"), base_dir=folder)


@pytest.fixture
def toy_dir(tmp_path: Path) -> Path:
    write_model(tmp_path, dense_toy())
    return tmp_path


@pytest.fixture
def qann_dir(tmp_path: Path) -> Path:
    write_model(tmp_path, random_qann(4), n=3, seed=4)
    return tmp_path


def test_unroll_m_gives_closed_form_compute_cycles(toy_dir):
    """Dense (``zero_skipping = "none"``) on pe_array_tiny (N = 2, S = 1, V = 2), T = 2,
    a stream of 2 samples. Algorithm 2 per sample:

    * conv (direct-coded, one t tile): ⌈4/M⌉·H_o 4·⌈4/2⌉·1·K 3·3·⌈4/2⌉ = ⌈4/M⌉·144;
    * fc (a 1×1 conv on 64 inputs, T = 2): ⌈4/M⌉·1·⌈1/2⌉·⌈2/1⌉·1·1·⌈64/2⌉ = ⌈4/M⌉·64;

    so compute cycles = 2 samples × ⌈4/M⌉·208 = 1664, 832, 416 for M = 1, 2, 4 (4 : 2 : 1).
    """
    spec = make_spec(toy_dir, {"pe.M": [1, 2, 4]})
    result = run_sweep(spec, toy_dir / "out", workers=1)
    table = result.table
    assert table["status"].tolist() == ["ok"] * 3
    assert table["pe.unroll_out_channels"].tolist() == [1, 2, 4]
    assert table["compute_cycles"].tolist() == [1664, 832, 416]
    assert (
        table["compute_cycles"].iloc[0]
        == 2 * table["compute_cycles"].iloc[1]
        == (4 * table["compute_cycles"].iloc[2])
    )
    # The same numbers as one plain evaluation of that hardware point.
    net = experiment.load_network(str(toy_dir / "model.qann.npz"))
    images = np.load(toy_dir / "inputs.npz")["images"]
    cfg = hw.replace_field(hw.load("pe_array_tiny"), "pe.unroll_out_channels", 2)
    ev = experiment.evaluate(net, images, None, "if", {"num_steps": 2}, cfg, stream=2)
    row = table.iloc[1]
    for key in (
        "latency_cycles",
        "latency_us",
        "throughput_sps",
        "stall_cycles_per_sample",
        "energy_pj",
        "compute_energy_pj",
        "ann_energy_pj",
        "energy_ratio",
    ):
        assert row[key] == ev.row[key], key
    stages = ev.timing.per_stage().set_index("stage")
    assert row["compute_cycles"] == stages.loc[["conv.pe", "fc.pe"], "busy_cycles"].sum()
    for cause in ("memory", "dependency", "backpressure"):
        assert row[f"stall_{cause}_cycles"] == stages[f"stall_{cause}_cycles"].sum()
    assert row["utilisation"] == row["compute_cycles"] / row["makespan_cycles"]
    energy = ev.energy.to_frame().iloc[0]
    assert row["energy_dram_pj"] == energy["energy_dram_pj"]
    assert row["energy_synaptic_pj"] == energy["energy_synaptic_pj"]


def test_functional_pass_runs_once_per_setting(qann_dir, monkeypatch):
    calls = []
    real = experiment.run_functional

    def counting(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(experiment, "run_functional", counting)
    spec = make_spec(
        qann_dir,
        {"pe.M": [1, 2, 4], "pe.unroll_in_channels": [1, 2], "dram.bandwidth_gbps": [0.1, 0.4]},
    )
    result = run_sweep(spec, qann_dir / "a", workers=1)
    assert result.computed == 12
    assert calls == ["if"]
    calls.clear()
    spec2 = make_spec(
        qann_dir,
        {"pe.M": [1, 2, 4], "pe.unroll_in_channels": [1, 2]},
        scheme_axes={"scheme": ["if", "lmht"]},
    )
    result = run_sweep(spec2, qann_dir / "b", workers=1)
    assert result.computed == 12
    assert sorted(calls) == ["if", "lmht"]
    # Without reuse (benchmark only) every point reruns it; the numbers do not change.
    calls.clear()
    plain = run_sweep(spec, qann_dir / "c", workers=1, reuse_traces=False)
    assert len(calls) == 12
    pd.testing.assert_frame_equal(plain.table, run_sweep(spec, qann_dir / "a").table)


def test_points_sharing_a_mapping_give_the_numbers_of_a_fresh_evaluation(qann_dir):
    """Points run grouped by setting, PE-cycle fields and mapping fields; a worker reuses the
    last mapping while the mapping reuse key (``hw.reuse_key``) holds. Every row still equals a
    plain evaluation of its hardware point (SimPy engine, mapping compiled anew)."""
    spec = make_spec(
        qann_dir,
        {"dram.bandwidth_gbps": [0.1, 0.4], "pe.M": [2, 1], "pe.zero_skipping": ["event", "group"]},
    )
    result = run_sweep(spec, qann_dir / "out", workers=1)
    assert (result.table["status"] == "ok").all()
    assert result.computed == 8
    net = experiment.load_network(str(qann_dir / "model.qann.npz"))
    data = np.load(qann_dir / "inputs.npz")
    fn = experiment.run_functional(
        net, data["images"], data["labels"], "if", {"num_steps": 2}, stream=2
    )
    for _, row in result.table.iterrows():
        cfg = hw.replace_fields(
            hw.load("pe_array_tiny"),
            {
                "dram.bandwidth_gbps": row["dram.bandwidth_gbps"],
                "pe.unroll_out_channels": int(row["pe.unroll_out_channels"]),
                "pe.zero_skipping": row["pe.zero_skipping"],
            },
        )
        cost = experiment.hardware_cost(fn, cfg)
        for key in ("latency_cycles", "stall_cycles_per_sample", "energy_pj", "energy_ratio"):
            assert row[key] == cost.row[key], (row["point"], key)
    # By V (a PE-cycle field), then by the mapping fields (V, M), then by index.
    order = [
        sweep_run.Task(
            index=i,
            hw=(("pe.unroll_in_channels", v), ("pe.unroll_out_channels", m)),
            setting="s",
            scheme="if",
            options=(),
        )
        for i, (m, v) in enumerate([(2, 1), (1, 2), (2, 2), (1, 1)])
    ]
    assert [t.index for t in sorted(order, key=lambda t: sweep_run._memo_order(t, "pe_array"))] == [
        3,
        0,
        1,
        2,
    ]


def test_workers_that_cannot_start_leave_a_warning_and_the_points_done(qann_dir, monkeypatch):
    """With trace reuse this process costs points too: if no worker process starts (here
    every start raises), the sweep still finishes with the serial table, and says so."""
    import multiprocessing.process

    def refuse(self):
        raise OSError("no processes here (simulated)")

    spec = make_spec(qann_dir, {"pe.M": [1, 2, 4], "dram.bandwidth_gbps": [0.1, 0.4]})
    serial = run_sweep(spec, qann_dir / "serial", workers=1)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
    with pytest.warns(RuntimeWarning, match="could not start.*simulated"):
        pooled = run_sweep(spec, qann_dir / "pooled", workers=3)
    assert pooled.computed == 6
    pd.testing.assert_frame_equal(pooled.table, serial.table)
    # Without reuse only the workers run points: the failure stops the sweep, and says why.
    with pytest.raises(RuntimeError, match="simulated"):
        run_sweep(spec, qann_dir / "plain", workers=2, reuse_traces=False)


def test_one_thread_here_while_the_workers_start():
    """While a local pool's workers start, the functional pass here runs on one Numba and
    one BLAS thread; otherwise (no pool, or every worker started) on all of them, from the
    first check (a batch's end) after the workers have started."""
    import numba
    from threadpoolctl import threadpool_info

    class Pool:
        def __init__(self, booting: bool) -> None:
            self._booting = booting

        def booting(self) -> bool:
            return self._booting

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    threads, blas = numba.get_num_threads(), blas_threads()
    with sweep_pool._threads_while_booting(Pool(True)):
        assert numba.get_num_threads() == 1
        assert blas_threads() <= {1}
    assert (numba.get_num_threads(), blas_threads()) == (threads, blas)
    for pool in (None, Pool(False)):
        with sweep_pool._threads_while_booting(pool) as check:
            assert (numba.get_num_threads(), blas_threads()) == (threads, blas)
            check(32)
            assert (numba.get_num_threads(), blas_threads()) == (threads, blas)
    # Checked between batches: one thread while the workers start, all of them once they
    # have (before the block ends), and all of them after it.
    pool = Pool(True)
    with sweep_pool._threads_while_booting(pool) as check:
        check(32)
        assert numba.get_num_threads() == 1
        pool._booting = False
        check(32)
        assert (numba.get_num_threads(), blas_threads()) == (threads, blas)
    assert (numba.get_num_threads(), blas_threads()) == (threads, blas)


def test_workers_fork_only_from_a_single_threaded_process(tmp_path):
    """In a fresh process: ``fork`` (Linux); the fork server while another thread runs, and
    once Numba's thread pool has been launched (never a fork of a process with threads)."""
    import subprocess
    import sys
    import textwrap

    if not sys.platform.startswith("linux"):
        pytest.skip("workers fork only on Linux")
    script = textwrap.dedent(
        """
        import json, threading
        import numba
        from neurosim.sweep import pool

        seen = [pool.start_method()]
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        seen.append(pool.start_method())
        stop.set()
        other.join()
        seen.append(pool.start_method())
        numba.set_num_threads(1)  # launches Numba's threading layer
        seen.append(pool.start_method())
        print(json.dumps(seen))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == ["fork", "forkserver", "fork", "forkserver"]


@pytest.mark.parametrize("worker_fails", [False, True])
def test_a_sweep_forks_its_workers_from_a_fresh_process_with_the_serial_table(
    qann_dir, worker_fails
):
    """A fresh process (as ``neurosim sweep``) forks its worker, whose points equal the
    serial run's byte for byte; a fork server was never started. The worker computes the
    quantized ANN's reference (the sweep's process does not); if it fails there, the sweep's
    process computes it, once for both settings, with the same table."""
    import subprocess
    import sys
    import textwrap

    if not sys.platform.startswith("linux"):
        pytest.skip("workers fork only on Linux")
    spec = make_spec(
        qann_dir,
        {"pe.M": [1, 2, 4], "pe.unroll_in_channels": [1, 2]},
        scheme_axes={"scheme": ["if", "sws"]},
    )
    (qann_dir / "spec.json").write_text(json.dumps(spec.to_dict()))
    serial = run_sweep(spec, qann_dir / "serial", workers=1)
    script = textwrap.dedent(
        """
        import json, os, sys
        from multiprocessing import forkserver
        from neurosim import qann
        from neurosim.sweep import SweepSpec, pool, run_sweep

        PARENT, FAIL = os.getpid(), sys.argv[1] == "fail"
        here, real = [], qann.predict

        def predict(*args, **kwargs):
            if os.getpid() == PARENT:
                here.append(1)
            elif FAIL:
                raise MemoryError("a worker that cannot compute the reference")
            return real(*args, **kwargs)

        qann.predict = predict

        def main():
            data = json.loads(open("spec.json").read())
            spec = SweepSpec.from_dict(data, source="spec.json", base_dir=".")
            method = pool.start_method()
            done = run_sweep(spec, "forked", workers=2)
            server = forkserver._forkserver._forkserver_pid
            print(json.dumps([method, done.computed, server, len(here)]))

        if __name__ == "__main__":
            main()
        """
    )
    (qann_dir / "forked.py").write_text(script)
    out = subprocess.run(
        [sys.executable, "forked.py", "fail" if worker_fails else "ok"],
        cwd=qann_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    method, computed, server, references_here = json.loads(out.stdout.strip().splitlines()[-1])
    assert (method, computed, server) == ("fork", 12, None)
    assert references_here == (1 if worker_fails else 0)
    forked = qann_dir / "forked" / "results.csv"
    assert forked.read_bytes() == (serial.out / "results.csv").read_bytes()


def test_a_forked_worker_compiles_with_one_numba_thread(tmp_path):
    """A worker forked from a fresh process compiles a kernel (as after an install, with
    Numba's cache empty) and runs on one Numba thread: its Numba keeps the thread count it
    was imported with, which it checks at every compile."""
    import subprocess
    import sys
    import textwrap

    if not sys.platform.startswith("linux"):
        pytest.skip("workers fork only on Linux")
    script = textwrap.dedent(
        """
        import json
        import numba
        import numpy as np
        from neurosim.sweep import pool

        class Compiles:
            def run(self, task):
                @numba.njit
                def add(x):
                    return x + task

                return [int(add(np.int64(1))), numba.get_num_threads()]

        if __name__ == "__main__":
            method = pool.start_method()
            local = pool.LocalPool(1, participate=False)
            out = []
            try:
                local.run(Compiles(), [1, 2, 3], out.append)
            finally:
                local.close()
            print(json.dumps([method, sorted(out)]))
        """
    )
    (tmp_path / "compiles.py").write_text(script)
    out = subprocess.run(
        [sys.executable, "compiles.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == ["fork", [[2, 1], [3, 1], [4, 1]]]


def test_a_worker_applies_its_thread_counts(monkeypatch):
    """A forked worker has its libraries loaded already: the counts of its environment are
    applied to Numba and BLAS directly (1 where the user set none)."""
    import numba
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = numba.get_num_threads()
    with threadpool_limits(None):  # restores the BLAS pools' counts at the end
        try:
            sweep_pool._child_thread_limits()
            assert numba.get_num_threads() == 1
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} <= {1}
            monkeypatch.setenv("NUMBA_NUM_THREADS", "many")  # malformed: left as it is
            numba.set_num_threads(threads)
            sweep_pool._child_thread_limits()
            assert numba.get_num_threads() == threads
        finally:
            numba.set_num_threads(threads)


def test_pool_reports_booting_until_its_workers_start(qann_dir):
    """``booting`` turns False once every worker has started, and the messages it read on
    the way are not lost to ``run`` (every point comes back)."""
    import time

    spec = make_spec(qann_dir, {})
    net, images, labels = experiment.resolve_model(
        str(qann_dir / "model.qann.npz"), str(qann_dir / "inputs.npz"), None
    )
    fn = experiment.run_functional(net, images, labels, "if", {"num_steps": 2}, stream=2)
    tasks = [
        sweep_run.Task(
            index=i,
            hw=(("pe.unroll_out_channels", m),),
            setting="s",
            scheme="if",
            options=(("num_steps", 2),),
        )
        for i, m in enumerate([1, 2, 4])
    ]
    worker = sweep_run.PointWorker(spec.load_hw(), {"s": fn}, spec.engine)
    pool = sweep_pool.LocalPool(2, participate=False)
    try:
        deadline = time.monotonic() + 120
        while pool.booting():
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.05)
        outcomes = []
        pool.run(worker, tasks, outcomes.append)
    finally:
        pool.close()
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    here = {t.index: worker.run(t) for t in tasks}
    for o in outcomes:
        assert o.status == "ok", o.error
        pd.testing.assert_series_equal(pd.Series(o.metrics), pd.Series(here[o.index].metrics))


class _HeapProbe:
    """A point worker that reports its process's garbage collector instead of costing."""

    def run(self, task):
        import gc

        return sweep_run.Outcome(
            task.index,
            "ok",
            "",
            {
                "frozen": gc.get_freeze_count(),
                "tracked": len(gc.get_objects()),
                "on": gc.isenabled(),
            },
        )


def test_a_worker_freezes_what_it_starts_with():
    """A pool worker freezes the objects it starts with (inherited, or made by Numba's set-up
    in its warm-up) out of the collector's scans: its collector is on and tracks only what
    came later, far fewer."""
    pool = sweep_pool.LocalPool(1, participate=False)
    try:
        outcomes = []
        task = sweep_run.Task(index=0, hw=(), setting="s", scheme="if", options=())
        pool.run(_HeapProbe(), [task], outcomes.append)
    finally:
        pool.close()
    (probe,) = outcomes
    assert probe.metrics["on"]
    # Tracked later: the unpickled probe (and, in a worker forked from the fork server, this
    # test module, imported to unpickle it): ~40 or ~10 k objects against ~140 k frozen.
    assert probe.metrics["frozen"] > 50_000
    assert probe.metrics["tracked"] < probe.metrics["frozen"] // 5


def test_warm_up_frozen_leaves_a_paused_collector_paused():
    """``warm_up_frozen`` pauses the collector during the warm-up and restores its state: on
    if it was on, off if the caller had turned it off."""
    import gc

    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            sweep_pool.warm_up_frozen()
            assert gc.isenabled() == enabled
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_start_up_pauses_this_process_collector_until_the_first_report(toy_dir):
    """``run_sweep`` pauses this process's collector from its start to its first progress
    report (which may freeze the start-up's objects), then restores it: on after the first
    report if it was on, off throughout if the caller had turned it off."""
    import gc

    spec = make_spec(toy_dir, {"pe.M": [1, 2]})
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            seen: list[bool] = []
            run_sweep(
                spec,
                toy_dir / f"out{enabled}",
                workers=1,
                progress=lambda p, seen=seen: seen.append(gc.isenabled()),
            )
            assert seen == [False] + [enabled] * 2  # the start, then each point
            assert gc.isenabled() == enabled
        # An error in the start-up (a model file that is not there) restores it too.
        gc.enable()
        with pytest.raises(NeurosimError):
            run_sweep(
                make_spec(toy_dir, {"pe.M": [1]}, model="missing.qann.npz"),
                toy_dir / "bad",
                workers=1,
            )
        assert gc.isenabled()
    finally:
        gc.enable()


def test_pause_collector_resumes_once():
    """``pause_collector`` turns a running collector off and its resume back on, once: a later
    resume does not undo a caller's own ``gc.disable``; a paused collector stays paused."""
    import gc

    try:
        gc.enable()
        resume = sweep_pool.pause_collector()
        assert not gc.isenabled()
        resume()
        assert gc.isenabled()
        gc.disable()
        resume()
        assert not gc.isenabled()
        sweep_pool.pause_collector()()
        assert not gc.isenabled()
    finally:
        gc.enable()


class _ScriptedPool(sweep_pool.LocalPool):
    """``LocalPool._feed`` without processes: the workers' messages come from ``arrivals``
    (one list per call that does not wait), and a call that waits finishes every queued
    point."""

    def __init__(self, arrivals: list[list[tuple]]) -> None:  # no processes
        self.participate = True
        self.arrivals = arrivals
        self.queued: list[int] = []
        self.finished: list[int] = []
        self.tasks = self
        self.runs_prelude = False
        self._prelude: list = []

    def put(self, task) -> None:
        self.queued.append(task.index)

    def _messages(self, *, wait: bool) -> list[tuple]:
        if not wait:
            return self.arrivals.pop(0) if self.arrivals else []
        done = [i for i in self.queued if i not in self.finished]
        self.finished += done
        return [("ok", sweep_run.Outcome(i, "ok", "", {})) for i in done]


def test_a_prelude_result_nobody_asked_for_is_kept_not_an_error(monkeypatch):
    """A worker's prelude result that arrives while the points run (every setting's pass
    failed before asking for it) is kept; the points run as usual. A pool whose workers run
    no prelude has no result to give."""
    tasks = [sweep_run.Task(i, (), "s", "if", ()) for i in range(10)]
    pool = _ScriptedPool([[(sweep_pool.PRELUDE, "reference"), ("started",)]])
    monkeypatch.setattr(
        sweep_pool, "run_point", lambda w, t: sweep_run.Outcome(t.index, "ok", "", {})
    )
    outcomes = []
    pool._feed(None, collections.deque(tasks), outcomes.append)
    assert sorted(o.index for o in outcomes) == list(range(10))
    assert pool._prelude == ["reference"]
    with pytest.raises(RuntimeError, match="no prelude"):
        pool.prelude_result()


@pytest.mark.parametrize("late", [False, True])
def test_a_started_worker_gets_its_first_fill_at_once(monkeypatch, late):
    """A worker that reports ``started`` gets ``QUEUED_AT_START`` points from the back of the
    list at once — before the parent's first point (which may load kernels for 0.2 s) or, if
    it starts while that point runs, right after it; the parent takes the front, and every
    point runs exactly once."""
    tasks = [sweep_run.Task(i, (), "s", "if", ()) for i in range(40)]
    started = [("started",)]
    pool = _ScriptedPool([[], started] if late else [started])
    seen: list[tuple[int, int]] = []

    def parent_point(worker, task):
        seen.append((task.index, len(pool.queued)))
        return sweep_run.Outcome(task.index, "ok", "", {})

    monkeypatch.setattr(sweep_pool, "run_point", parent_point)
    outcomes = []
    pool._feed(None, collections.deque(tasks), outcomes.append)
    first = sweep_pool.QUEUED_AT_START
    assert pool.queued[:first] == list(range(39, 39 - first, -1))
    assert seen[int(late)] == (int(late), first)
    assert sorted(o.index for o in outcomes) == list(range(40))
    assert sorted(pool.queued + [i for i, _ in seen]) == list(range(40))


def _interrupt_after(monkeypatch, k: int, exc: type[BaseException]) -> list[int]:
    done: list[int] = []
    real = sweep_pool.run_point

    def flaky(worker, task):
        if len(done) == k:
            raise exc("stopped by the test")
        done.append(task.index)
        return real(worker, task)

    monkeypatch.setattr(sweep_pool, "run_point", flaky)
    return done


def test_results_table_rewritten_after_flush_seconds_and_at_the_end(qann_dir, monkeypatch):
    """``results.csv`` is rewritten at most every ``flush_seconds``, counted from the start: a
    sweep shorter than that writes it once, at the end; with 0 s, after every point."""
    from neurosim.sweep import store as sweep_store

    spec = make_spec(qann_dir, {"pe.M": [1, 2, 4]})
    real, flushes = sweep_store.ResultStore.flush, []

    def counted(self):
        flushes.append(len(self.rows))
        return real(self)

    monkeypatch.setattr(sweep_store.ResultStore, "flush", counted)
    run_sweep(spec, qann_dir / "slow", workers=1, flush_seconds=3600)
    assert flushes == [3]
    flushes.clear()
    run_sweep(spec, qann_dir / "each", workers=1, flush_seconds=0)
    assert flushes == [1, 2, 3, 3]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_resume_after_interruption(qann_dir, monkeypatch, exc):
    spec = make_spec(qann_dir, {"pe.M": [1, 2, 4], "dram.bandwidth_gbps": [0.1, 0.4, 1.6]})
    full = run_sweep(spec, qann_dir / "full", workers=1)
    assert full.computed == 9

    with monkeypatch.context() as m:
        _interrupt_after(m, 4, exc)
        with pytest.raises(exc):
            run_sweep(spec, qann_dir / "part", workers=1)
    journal = (qann_dir / "part" / "points.jsonl").read_text().splitlines()
    assert len(journal) == 4
    partial = pd.read_csv(qann_dir / "part" / "results.csv")
    assert partial["point"].tolist() == [0, 1, 2, 3]

    with monkeypatch.context() as m:
        ran = _interrupt_after(m, 100, RuntimeError)
        resumed = run_sweep(spec, qann_dir / "part", workers=1)
    assert ran == [4, 5, 6, 7, 8]
    assert (resumed.computed, resumed.resumed) == (5, 4)
    assert (qann_dir / "part" / "results.csv").read_bytes() == (
        qann_dir / "full" / "results.csv"
    ).read_bytes()
    pd.testing.assert_frame_equal(resumed.table, full.table)


def test_torn_journal_line_is_dropped_and_recomputed(qann_dir):
    spec = make_spec(qann_dir, {"pe.M": [1, 2]})
    full = run_sweep(spec, qann_dir / "out", workers=1)
    journal = qann_dir / "out" / "points.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + lines[1][:25])  # a crash in the middle of the second line
    again = run_sweep(spec, qann_dir / "out", workers=1)
    assert (again.computed, again.resumed) == (1, 1)
    pd.testing.assert_frame_equal(again.table, full.table)
    assert len(journal.read_text().splitlines()) == 2


def test_another_sweep_in_the_same_folder_is_refused(qann_dir):
    run_sweep(make_spec(qann_dir, {"pe.M": [1, 2]}), qann_dir / "out", workers=1)
    other = make_spec(qann_dir, {"pe.M": [1, 2]}, stream=1)
    with pytest.raises(ConfigError, match="holds results of another sweep"):
        run_sweep(other, qann_dir / "out", workers=1)


def test_extending_an_axis_reuses_finished_points(qann_dir):
    first = run_sweep(make_spec(qann_dir, {"pe.M": [1, 2]}), qann_dir / "out", workers=1)
    more = run_sweep(make_spec(qann_dir, {"pe.M": [1, 2, 4]}), qann_dir / "out", workers=1)
    assert (more.computed, more.resumed) == (1, 2)
    pd.testing.assert_frame_equal(more.table.iloc[:2], first.table)


@pytest.mark.slow
def test_serial_pool_and_dask_give_identical_tables(qann_dir):
    distributed = pytest.importorskip("distributed")
    spec = make_spec(
        qann_dir,
        {"pe.M": [1, 2, 4], "pe.unroll_in_channels": [1, 2]},
        scheme_axes={"scheme": ["if", "sws"]},
        sampling={"mode": "random", "points": 9, "seed": 3},
    )
    serial = run_sweep(spec, qann_dir / "serial", workers=1)
    pool = run_sweep(spec, qann_dir / "pool", workers=2)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        dask = run_sweep(spec, qann_dir / "dask", scheduler=cluster.scheduler_address)
    assert serial.computed == pool.computed == dask.computed == 9
    for other in (pool, dask):
        pd.testing.assert_frame_equal(other.table, serial.table)
        assert (other.out / "results.csv").read_bytes() == (serial.out / "results.csv").read_bytes()
    assert (serial.table["status"] == "ok").all()


def test_invalid_points_are_error_rows(qann_dir):
    """pe.M = 0 is out of range (ConfigError); a 1-byte spike buffer holds neither the 4-bit
    analog input slice of ``if`` (N·V·4/8 = 2 bytes) nor an 8-bit SWS slice (MappingError);
    SWS with Tc = 2 cannot encode codes up to 15 (a failed functional pass: every point of
    that setting). The other points run."""
    spec = make_spec(
        qann_dir,
        {"pe.M": [0, 2], "buffers.spike_bytes": [1, 64]},
        scheme_axes={"scheme": ["if", "sws"], "coding_steps": [2, 8]},
    )
    table = run_sweep(spec, qann_dir / "out", workers=1).table
    ok = table[table["status"] == "ok"]
    dropped = table[table["status"] == "dropped"]
    errors = table[table["status"] == "error"].set_index("point")
    assert len(table) == 16
    # coding_steps does not apply to "if": its second value repeats the first.
    assert (dropped["scheme"] == "if").all()
    assert len(dropped) == 4
    assert dropped["error"].str.contains("coding_steps does not apply to scheme 'if'").all()
    assert (ok["pe.unroll_out_channels"] == 2).all()
    assert set(zip(ok["scheme"], ok["buffers.spike_bytes"], ok["coding_steps"], strict=True)) == {
        ("if", 64, 2),
        ("sws", 64, 8),
    }
    assert (
        errors.loc[errors["pe.unroll_out_channels"] == 0, "error"]
        .str.contains("ConfigError: .*pe.unroll_out_channels = 0 is out of range")
        .all()
    )
    mapping_err = errors[errors["error"].str.startswith("MappingError: ")]
    assert set(zip(mapping_err["scheme"], mapping_err["buffers.spike_bytes"], strict=True)) == {
        ("if", 1),
        ("sws", 1),
    }
    assert mapping_err["error"].str.contains("spike buffer too small for one input slice").all()
    tc2 = errors[
        (errors["scheme"] == "sws")
        & (errors["coding_steps"] == 2)
        & (errors["pe.unroll_out_channels"] == 2)
    ]
    assert len(tc2) == 2
    assert tc2["error"].str.contains("ModelError: .*coding_steps >= 4").all()
    assert errors["latency_cycles"].isna().all()


def test_constraints_drop_points_with_the_reason(qann_dir):
    spec = make_spec(
        qann_dir,
        {"pe.M": [1, 2, 4], "pe.V": [1, 2, 4]},
        sampling={
            "mode": "grid",
            "constraints": ["pe.M * pe.V <= 4", "max(pe.M, pe.V) < 4 or scheme == 'if'"],
        },
    )
    table = run_sweep(spec, qann_dir / "out", workers=1).table
    kept = table[table["status"] == "ok"]
    assert list(
        zip(kept["pe.unroll_out_channels"], kept["pe.unroll_in_channels"], strict=True)
    ) == [(1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (4, 1)]
    dropped = table[table["status"] == "dropped"]
    assert len(dropped) == 3
    assert dropped["error"].iloc[0] == (
        "constraint 'pe.M * pe.V <= 4' is false (pe.unroll_out_channels = 2, "
        "pe.unroll_in_channels = 4)"
    )


def test_results_files_and_pareto_front(qann_dir):
    spec = make_spec(qann_dir, {"pe.M": [1, 2, 4], "dram.bandwidth_gbps": [0.05, 0.4]})
    result = run_sweep(spec, qann_dir / "out", workers=1)
    out = qann_dir / "out"
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["format"] == "neurosim-sweep"
    assert manifest["spec"]["axes"] == {
        "pe.unroll_out_channels": [1, 2, 4],
        "dram.bandwidth_gbps": [0.05, 0.4],
    }
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == manifest["columns"]
    assert csv["key"].is_unique
    assert csv["point"].tolist() == list(range(6))
    np.testing.assert_allclose(
        csv["energy_ratio"], csv["ann_energy_pj"] / csv["compute_energy_pj"], rtol=1e-12
    )
    np.testing.assert_allclose(csv["latency_us"], csv["latency_cycles"] / 100.0, rtol=1e-12)
    component_sum = csv[
        [
            c
            for c in csv.columns
            if c.startswith("energy_") and c.endswith("_pj") and c != "energy_pj"
        ]
    ].sum(axis=1)
    np.testing.assert_allclose(component_sum, csv["energy_pj"], rtol=1e-9)
    # More bandwidth never slows a point down; more M never adds compute cycles.
    for _, grp in csv.groupby("pe.unroll_out_channels"):
        assert grp["latency_cycles"].is_monotonic_decreasing
    for _, grp in csv.groupby("dram.bandwidth_gbps"):
        assert grp["compute_cycles"].is_monotonic_decreasing
    # The front: no ok point beats a front point on both objectives, and every other point
    # is beaten by one.
    front = result.pareto
    assert not front.empty
    saved = pd.read_csv(out / "pareto.csv")
    assert saved["point"].tolist() == front["point"].tolist()
    assert saved["latency_us"].is_monotonic_increasing
    assert saved["energy_pj"].is_monotonic_decreasing
    for _, r in csv.iterrows():
        beaten = (
            (csv["latency_us"] <= r["latency_us"])
            & (csv["energy_pj"] <= r["energy_pj"])
            & ((csv["latency_us"] < r["latency_us"]) | (csv["energy_pj"] < r["energy_pj"]))
        )
        assert beaten.any() != (r["point"] in set(front["point"]))


def test_pareto_front_by_hand():
    table = pd.DataFrame(
        {
            "point": range(6),
            "status": ["ok"] * 5 + ["error"],
            "latency_us": [1.0, 2.0, 3.0, 2.0, 4.0, 0.1],
            "energy_pj": [5.0, 3.0, 1.0, 4.0, 1.0, 0.1],
        }
    )
    assert pareto_front(table)["point"].tolist() == [0, 1, 2]


def test_parquet_copy_when_pyarrow_is_installed(qann_dir):
    pytest.importorskip("pyarrow")
    result = run_sweep(make_spec(qann_dir, {"pe.M": [1, 2]}), qann_dir / "out", workers=1)
    pd.testing.assert_frame_equal(
        pd.read_parquet(qann_dir / "out" / "results.parquet"), result.table
    )


def test_a_scheme_axis_reuses_the_if_pass_for_a_lif_that_fires_alike(qann_dir, functional_runs):
    """``lif`` at its defaults fires as ``if`` (``Scheme.spikes_like``): a sweep over both runs
    the ``if`` functional pass only, and its ``lif`` rows equal those of a sweep of ``lif``
    alone (which runs its own pass)."""
    axes = {"pe.M": [1, 4], "dram.bandwidth_gbps": [0.1, 0.4]}
    both = make_spec(qann_dir, axes, scheme_axes={"scheme": ["if", "lif"]})
    alone = make_spec(qann_dir, axes, scheme="lif")
    runs = functional_runs
    shared = run_sweep(both, qann_dir / "both", workers=1).table
    assert set(runs) == {"if"}
    runs.clear()
    own = run_sweep(alone, qann_dir / "alone", workers=1).table
    assert set(runs) == {"lif"}
    metrics = [c for c in own.columns if c not in ("point", "key", "scheme")]
    got = shared[shared["scheme"] == "lif"][metrics].reset_index(drop=True)
    assert len(got) == len(own) == 4
    assert {"latency_cycles", "energy_pj", "accuracy", "spikes_per_inference"} <= set(metrics)
    pd.testing.assert_frame_equal(got, own[metrics].reset_index(drop=True), check_exact=True)
    assert (shared["status"] == "ok").all()


@pytest.mark.parametrize(
    ("config", "scheme", "options", "axes"),
    [
        (
            "pe_array_tiny",
            "if",
            {"num_steps": 2},
            {"pe.unroll_out_channels": [1, 2], "pe.zero_skipping": ["group"]},
        ),
        ("pe_array_tiny", "lmht", {}, {"pe.zero_skipping": ["event"]}),
        ("multicore_tiny", "if", {"num_steps": 2}, {"core.neurons_per_core": [256, 512]}),
        ("multicore_tiny", "sws", {}, {"core.neurons_per_core": [256, 1024]}),
    ],
)
def test_workers_are_sent_no_weights_and_cost_the_same_points(
    qann_dir, config, scheme, options, axes
):
    """A worker process gets the ``PointWorker`` by pickle, its networks' weights replaced by
    zeros of their shape that pickle as shape and dtype (``sweep.ship``): mapping, timing and
    energy read only the shapes, so every point's metrics are those of the original worker."""
    import pickle

    net, images, labels = experiment.resolve_model(
        str(qann_dir / "model.qann.npz"), str(qann_dir / "inputs.npz"), None
    )
    fn = experiment.run_functional(net, images, labels, scheme, options, stream=2)
    base = hw.load(config)
    worker = sweep_run.PointWorker(base, {"s": fn}, "fast")
    blob = pickle.dumps(worker)
    sent = pickle.loads(blob)
    synaptic = [lay for lay in fn.snn.layers if hasattr(lay, "weight")]
    for lay in synaptic:
        assert lay.weight.tobytes() not in blob  # no layer's weight values travel
        assert len(pickle.dumps(ship.for_workers(fn).snn.layer(lay.name).weight)) < 200
    sent_fn = sent.functionals["s"]
    for lay, orig in zip(sent_fn.snn.layers, fn.snn.layers, strict=True):
        if hasattr(orig, "weight"):
            assert (lay.weight.shape, lay.weight.dtype) == (orig.weight.shape, orig.weight.dtype)
            assert not lay.weight.any()
    assert sent_fn.snn.shapes == fn.snn.shapes
    keys = list(axes)
    points = [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]
    for i, values in enumerate(points):
        task = sweep_run.Task(
            index=i, hw=tuple(values.items()), setting="s", scheme=scheme, options=()
        )
        want, got = worker.run(task), sent.run(task)
        assert want.status == got.status == "ok", (want.error, got.error)
        assert want.metrics == got.metrics
