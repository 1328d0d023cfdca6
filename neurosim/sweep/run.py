"""Running a sweep: the functional pass once per setting, every hardware point costed by
workers (in-process, local processes or ``dask.distributed``), results kept as they arrive.

Imports ``experiment``, ``hw``, ``mapping``, ``qann``, ``timing``, ``energy``, ``_files``,
``errors`` and ``sweep.spec``/``sweep.points``. Files written into the output folder:

* ``sweep.json`` — the spec, its identity hash and the columns (written first);
* ``points.jsonl`` — one JSON line per finished point, appended and flushed as each point
  finishes: the resume journal (a torn last line from a crash is discarded);
* ``results.csv`` (and ``results.parquet`` when pyarrow is installed) — every point in index
  order, rewritten atomically at most every ``flush_seconds`` and at the end;
* ``pareto.csv`` — the latency/energy Pareto front, at the end.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import math
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from neurosim import experiment, hw, mapping, qann, timing
from neurosim._files import atomic_write
from neurosim.energy import COMPONENTS
from neurosim.errors import ConfigError, NeurosimError
from neurosim.io.inputs import BUNDLED_MODEL, bundled_path
from neurosim.mapping.pe_array import COMPILE_FIELDS
from neurosim.sweep.points import (
    Point,
    canonical,
    generate_points,
    hw_values,
    point_key,
    settings,
    settings_key,
)
from neurosim.sweep.spec import BUNDLED, Scalar, SweepSpec, load_spec
from neurosim.timing import pe_array as pe_timing
from neurosim.timing.stages import STALL_CAUSES

FORMAT = "neurosim-sweep"
FORMAT_VERSION = 1

ID_COLUMNS = ("point", "key", "status", "error")
"""Leading columns: point index, stable key, ``ok``/``error``/``dropped``, message or reason."""

INT_METRICS = (
    "latency_cycles",
    "makespan_cycles",
    "compute_cycles",
    "stall_cycles",
    *(f"stall_{c}_cycles" for c in STALL_CAUSES),
    "dram_read_bytes",
    "dram_write_bytes",
    "sram_read_bytes",
    "sram_write_bytes",
    "noc_bit_hops",
    "event_count",
)
"""Integer metrics (cycles over the timed stream, bytes and bit-hops over the stream)."""

METRIC_COLUMNS = (
    "hw",
    "family",
    "scheme",
    "accuracy",
    "ann_agreement",
    "mean_time_steps",
    "spikes_per_inference",
    "synaptic_ops_per_inference",
    "latency_cycles",
    "latency_us",
    "interval_cycles",
    "throughput_sps",
    "makespan_cycles",
    "compute_cycles",
    "utilisation",
    "mapping_utilisation",
    "stall_cycles",
    *(f"stall_{c}_cycles" for c in STALL_CAUSES),
    "dram_read_bytes",
    "dram_write_bytes",
    "sram_read_bytes",
    "sram_write_bytes",
    "noc_bit_hops",
    "event_count",
    "energy_pj",
    "compute_energy_pj",
    "ann_energy_pj",
    "energy_ratio",
    "opf",
    *(f"energy_{c}_pj" for c in COMPONENTS),
)
"""Metrics of every point (units in the names; README "Architecture sweeps" defines each).

Latency and energy are per inference; ``*_cycles`` stalls, ``makespan_cycles``,
``compute_cycles`` and traffic cover the whole timed stream of ``stream`` samples;
``energy_ratio`` = ``ann_energy_pj`` / ``compute_energy_pj`` (MT-SNN Table 7's E_ANN/E_SNN,
compute only on both sides)."""

PARETO_AXES = ("latency_us", "energy_pj")
"""The two objectives of the Pareto front (both minimised)."""


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep is: points to compute this run, finished, failed; skipped points."""

    total: int
    """Points this run computes (not resumed, not dropped)."""
    done: int
    failed: int
    resumed: int
    """Points already in the output folder (not recomputed)."""
    dropped: int
    """Points removed by a constraint or as duplicates."""


@dataclass(frozen=True, eq=False)
class SweepResult:
    """What ``run_sweep`` returns: the results table and its Pareto front."""

    table: pd.DataFrame
    """One row per point (``results.csv``)."""
    pareto: pd.DataFrame
    """The rows on the latency/energy Pareto front, by latency (``pareto.csv``)."""
    out: Path
    axes: tuple[str, ...]
    computed: int
    resumed: int
    failed: int
    dropped: int
    seconds: Mapping[str, float] = field(default_factory=dict)
    """Wall-clock seconds: ``model`` (building or loading the model and inputs),
    ``functional`` (functional passes in this process), ``points`` (costing the points) and
    ``total``."""


# --------------------------------------------------------------------------------------------
# Metrics of one point
# --------------------------------------------------------------------------------------------


def point_metrics(fn: experiment.FunctionalResult, cost: experiment.HardwareCost) -> dict[str, Any]:
    """Every ``METRIC_COLUMNS`` value of one costed point, as plain Python numbers.

    ``compute_cycles``: busy cycles of the compute stages over the stream (PE array: the
    ``<layer>.pe`` stages; multi-core: every layer's cores). ``utilisation``: PE array,
    compute_cycles / makespan (the array runs one layer at a time); multi-core,
    compute_cycles / (mapped layers × makespan) (mean busy fraction of a layer's cores).
    ``mapping_utilisation``: PE array, useful lane-cycles / (dense PE cycles × M·N·S·V) over
    all layers; multi-core, neurons / (cores used × neurons per core).
    """
    res, eb, mapped = cost.timing, cost.energy, cost.mapping
    totals = res.cycles()
    cycles = totals["cycles"].to_numpy(np.int64)
    stall = (totals["kind"] == "stall").to_numpy()
    stalls = _sum_by(totals["cause"].to_numpy()[stall], cycles[stall])
    stalls = {c: stalls.get(c, 0) for c in STALL_CAUSES}
    busy = _sum_by(totals["stage"].to_numpy()[~stall], cycles[~stall])
    family = res.family
    if family == "pe_array":
        compute = int(sum(int(busy.get(f"{s.name}.pe", 0)) for s in mapped.layers))
        units = 1
        dense = sum(s.dense_pe_cycles for s in mapped.layers)
        mapping_util = (
            sum(s.utilisation * s.dense_pe_cycles for s in mapped.layers) / dense
            if dense
            else math.nan
        )
    elif family == "multicore":
        compute = int(sum(int(busy.get(p.name, 0)) for p in mapped.layers))
        units = len(mapped.layers)
        capacity = sum(p.num_cores for p in mapped.layers) * mapped.neurons_per_core
        mapping_util = sum(p.num_neurons for p in mapped.layers) / capacity
    else:
        raise ConfigError(
            f"no sweep metrics for hardware family {family!r}; allowed: pe_array, multicore"
        )
    makespan = int(res.makespan_cycles)
    traffic = {
        k: int(res.traffic.get(k, 0))
        for k in (
            "dram_read_bytes",
            "dram_write_bytes",
            "sram_read_bytes",
            "sram_write_bytes",
            "noc_bit_hops",
        )
    }
    row: dict[str, Any] = {
        "hw": str(cost.row["hw"]),
        "family": family,
        "scheme": str(fn.row["scheme"]),
        "accuracy": float(fn.row["accuracy"]),
        "ann_agreement": float(fn.row["ann_agreement"]),
        "mean_time_steps": float(fn.row["mean_time_steps"]),
        "spikes_per_inference": float(fn.row["spikes_per_image"]),
        "synaptic_ops_per_inference": float(fn.row["synaptic_ops_per_image"]),
        "latency_cycles": int(res.latency_cycles),
        "latency_us": float(res.latency_us),
        "interval_cycles": float(res.interval_cycles),
        "throughput_sps": float(res.throughput_sps),
        "makespan_cycles": makespan,
        "compute_cycles": compute,
        "utilisation": compute / (units * makespan) if makespan else math.nan,
        "mapping_utilisation": float(mapping_util),
        "stall_cycles": int(sum(stalls.values())),
        **{f"stall_{c}_cycles": v for c, v in stalls.items()},
        **traffic,
        "event_count": int(res.event_count),
        "energy_pj": float(eb.total_pj),
        "compute_energy_pj": float(eb.paper_pj),
        "ann_energy_pj": float(eb.ann_total_pj),
        "energy_ratio": float(eb.paper_ratio),
        "opf": math.nan if eb.opf is None else float(eb.opf),
        **{f"energy_{c}_pj": float(eb.totals.get(c, 0.0)) for c in COMPONENTS},
    }
    return row


def _sum_by(labels: np.ndarray, values: np.ndarray) -> dict[str, int]:
    """Σ ``values`` per distinct label (a groupby-sum without pandas' per-call overhead)."""
    names, inverse = np.unique(labels.astype(str), return_inverse=True)
    sums = np.zeros(len(names), np.int64)
    np.add.at(sums, inverse.ravel(), values)
    return dict(zip(names.tolist(), sums.tolist(), strict=True))


# --------------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """What a worker needs to cost one point."""

    index: int
    hw: tuple[tuple[str, Scalar], ...]
    setting: str
    """``settings_key`` of the point's conversion (selects the shared functional result)."""
    scheme: str
    options: tuple[tuple[str, Scalar], ...]


@dataclass(frozen=True)
class Outcome:
    """A worker's answer for one point."""

    index: int
    status: str
    """``ok`` or ``error``."""
    error: str
    metrics: Mapping[str, Any]


class PointWorker:
    """Costs points on the shared functional results; holds one ``TraceStats`` per result.

    Sent once to each worker (process-pool argument, or a dask ``scatter``), never per point;
    its statistics memo lives as long as the worker (state on an object, not a module).
    With ``reuse=False`` every point reruns the functional pass (for the benchmark).
    """

    def __init__(
        self,
        base: hw.HwConfig,
        functionals: Mapping[str, Any],
        engine: str,
        *,
        reuse: bool = True,
        model: tuple | None = None,
    ) -> None:
        self.base = base
        self.functionals = dict(functionals)
        """``settings_key`` → ``FunctionalResult``, or the error message of its pass."""
        self.engine = "fast" if engine == "fast" else "simpy"
        self.reuse = reuse
        self.model = model
        """(network, images, labels, stream, batch_size) for ``reuse=False``."""
        self._stats: dict[str, timing.TraceStats] = {}
        self._energy: dict[str, dict] = {}
        """Per setting: ``energy.estimate``'s memo of the rows every point shares."""
        self._mapped: tuple[Any, Any] = (None, None)
        """(key, mapping) of the last point: the next point with the same setting and
        ``mapping.compile_key`` reuses it (points are ordered so that they follow)."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_stats"] = {}
        state["_energy"] = {}
        state["_mapped"] = (None, None)
        return state

    def run(self, task: Task) -> Outcome:
        """Cost one point; a ``NeurosimError`` becomes an ``error`` outcome with its message."""
        try:
            cfg = hw.replace_fields(self.base, dict(task.hw)) if task.hw else self.base
            if self.reuse:
                fn = self.functionals[task.setting]
                if isinstance(fn, str):
                    return Outcome(task.index, "error", fn, {})
                stats = self._stats.get(task.setting)
                if stats is None:
                    stats = self._stats[task.setting] = timing.TraceStats(fn.snn, fn.timed)
            else:
                net, images, labels, stream, batch_size = self.model
                fn = experiment.run_functional(
                    net,
                    images,
                    labels,
                    task.scheme,
                    dict(task.options),
                    stream=stream,
                    batch_size=batch_size,
                )
                stats = timing.TraceStats(fn.snn, fn.timed)
            key = (task.setting, mapping.compile_key(cfg))
            if key[1] is None or self._mapped[0] != key:
                self._mapped = (key, mapping.compile(fn.snn, cfg))
            memo = self._energy.setdefault(task.setting, {}) if self.reuse else None
            cost = experiment.hardware_cost(
                fn,
                cfg,
                engine=self.engine,
                stats=stats,
                keep_intervals=False,
                mapped=self._mapped[1],
                energy_memo=memo,
            )
            return Outcome(task.index, "ok", "", point_metrics(fn, cost))
        except NeurosimError as exc:
            return Outcome(task.index, "error", _message(exc), {})


def _memo_order(task: Task) -> tuple:
    """Sort key of the tasks: by setting, then the fields the ``TraceStats`` memo depends on,
    then those the mapping depends on (so that points reusing either follow one another)."""
    values = dict(task.hw)
    mapped = [
        repr(v)
        for k, v in sorted(values.items())
        if any(k == f or (f.endswith(".") and k.startswith(f)) for f in COMPILE_FIELDS)
    ]
    return (
        task.setting,
        tuple(repr(values.get(f)) for f in pe_timing.ACTIVITY_FIELDS),
        tuple(mapped),
        task.index,
    )


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_point(worker: PointWorker, task: Task) -> Outcome:
    """Entry point of every executor (tests replace it to interrupt a sweep)."""
    return worker.run(task)


def _pool_main(init: Any, tasks: Any, results: Any) -> None:
    """Body of a local worker process: warm up (then report ``started``), take the worker
    object once (then report ``ready``), then cost tasks until the ``None`` sentinel.

    Ctrl-C is left to the parent, which terminates the workers (finished points are saved).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pe_timing.warm_up()  # a no-op in a worker forked from the preloaded fork server
    results.put(("started",))
    worker = init.get()
    results.put(("ready",))
    while True:
        task = tasks.get()
        if task is None:
            return
        try:
            results.put(("ok", run_point(worker, task)))
        except BaseException:
            results.put(("crash", task.index, traceback.format_exc()))
            return


def _dask_run(worker: PointWorker, task: Task) -> Outcome:
    return run_point(worker, task)


def _execute_serial(
    worker: PointWorker, tasks: Sequence[Task], on_outcome: Callable[[Outcome], None]
) -> None:
    for task in tasks:
        on_outcome(run_point(worker, task))


QUEUED_PER_WORKER = 2
"""Points queued to each ready worker process at a time (one running, one waiting)."""

PRELOAD = "neurosim.sweep._preload"
"""Module the fork server imports before it forks workers: the costing modules, warmed up."""


class LocalPool:
    """``workers`` local processes that cost points (with the calling process, if
    ``participate``); started early, fed once.

    Where the platform has it (Linux, macOS), the workers are forked from multiprocessing's
    fork server, which imports ``PRELOAD`` once: a worker then starts in milliseconds with the
    modules imported and the timing kernels loaded, instead of each worker importing numpy,
    pandas, Numba and neurosim (about 1.2 s of CPU each, competing on a small machine with the
    parent's functional pass). The fork server is a fresh interpreter, so no Numba or OpenMP
    thread pool of the parent is ever forked. Elsewhere the workers are spawned. The fork
    server is started in the constructor and the workers by a background thread (a fork
    server's first start waits for its preload), while the parent runs the functional pass;
    ``run`` then sends each worker the ``PointWorker`` once (its own queue) and the tasks
    through a shared queue, while the parent costs points too (from the start, so no core
    idles while the workers start). A script that calls ``run_sweep`` with several workers
    needs the ``if __name__ == "__main__":`` guard, as with any spawned multiprocessing.
    """

    def __init__(self, workers: int, *, participate: bool = True) -> None:
        self.participate = participate
        """Whether ``run`` also costs points in the calling process."""
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
        ctx = multiprocessing.get_context(method)
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        self.inits = [ctx.Queue() for _ in range(workers)]
        self.procs = [
            ctx.Process(
                target=_pool_main,
                args=(init, self.tasks, self.results),
                daemon=True,
                name=f"neurosim-sweep-{i}",
            )
            for i, init in enumerate(self.inits)
        ]
        self._finished = False
        self._early: list[tuple] = []
        """Messages that ``booting`` received before ``run``."""
        self._started = 0
        self._start_error: BaseException | None = None
        self._starter: threading.Thread | None = None
        with _single_threaded_children():
            if method == "spawn":
                self._start()
                return
            ctx.set_forkserver_preload([PRELOAD])
            forkserver.ensure_running()
        self._starter = threading.Thread(
            target=self._start, name="neurosim-sweep-start", daemon=True
        )
        self._starter.start()

    def _start(self) -> None:
        try:
            for p in self.procs:
                p.start()
        except BaseException as exc:  # reported by run() or close() in the calling thread
            self._start_error = exc

    def booting(self) -> bool:
        """Whether a worker is still starting: not every worker has reported ``started``
        (and none has failed)."""
        if self._start_error is not None or any(p.exitcode not in (None, 0) for p in self.procs):
            return False
        while self._started < len(self.procs):
            try:
                msg = self.results.get_nowait()
            except queue.Empty:
                return True
            self._early.append(msg)
            self._started += msg[0] == "started"
        return False

    def run(
        self, worker: PointWorker, tasks: Sequence[Task], on_outcome: Callable[[Outcome], None]
    ) -> None:
        """Cost ``tasks`` in the workers and (``participate``) in this process: this process
        takes points from the front of the list, and hands points from its back to each
        worker that is ready, ``QUEUED_PER_WORKER`` at a time (so a worker never waits for the
        next). Outcomes are passed to ``on_outcome`` here, as they arrive."""
        for init in self.inits:
            init.put(worker)
        pending = collections.deque(tasks)
        # One Numba thread here, as in every worker: one busy thread per process and core.
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            self._feed(worker, pending, on_outcome)
        finally:
            numba.set_num_threads(threads)
        for _ in self.procs:
            self.tasks.put(None)
        self._finished = True

    def _feed(
        self, worker: PointWorker, pending: collections.deque, on_outcome: Callable[[Outcome], None]
    ) -> None:
        ready = in_flight = 0
        while pending or in_flight:
            for msg in self._messages(wait=not (pending and self.participate)):
                if msg[0] == "started":
                    continue
                if msg[0] == "ready":
                    ready += 1
                elif msg[0] == "ok":
                    in_flight -= 1
                    on_outcome(msg[1])
                else:
                    raise RuntimeError(f"point {msg[1]} failed in a worker:\n{msg[2]}")
            while pending and in_flight < QUEUED_PER_WORKER * ready:
                self.tasks.put(pending.pop())
                in_flight += 1
            if pending and self.participate:
                on_outcome(run_point(worker, pending.popleft()))

    def _messages(self, *, wait: bool) -> list[tuple]:
        """The workers' messages that have arrived; with ``wait``, at least one (raising if
        the workers died)."""
        out, self._early = self._early, []
        while True:
            try:
                if wait and not out:
                    out.append(self.results.get(timeout=0.5))
                else:
                    out.append(self.results.get_nowait())
            except queue.Empty:
                if out or not wait:
                    return out
                if self._starter is not None:
                    self._starter.join()
                dead = [p for p in self.procs if p.exitcode not in (None, 0)]
                if dead or not any(p.is_alive() for p in self.procs):
                    why = (
                        ""
                        if self._start_error is None
                        else f" (start: {type(self._start_error).__name__}: {self._start_error})"
                    )
                    raise RuntimeError(
                        f"sweep worker process(es) "
                        f"{[p.name for p in dead] or 'all'} exited with "
                        f"{[p.exitcode for p in dead]}{why}; finished points "
                        f"are saved, rerun to resume"
                    ) from None

    def close(self) -> None:
        """Stop the workers: after a finished ``run`` they exit on their own (so that their
        resources are released); otherwise (an error, Ctrl-C) they are terminated. Workers
        that could not start leave a warning (this process then costed every point)."""
        if self._starter is not None:
            self._starter.join()
        if self._finished and self._start_error is not None:
            warnings.warn(
                f"sweep worker processes could not start "
                f"({type(self._start_error).__name__}: {self._start_error}); the "
                f"points ran in this process and any worker that did start",
                RuntimeWarning,
                stacklevel=2,
            )
        if self._finished:
            for p in self.procs:
                if p.pid is not None:
                    p.join(timeout=5)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            if p.pid is not None:
                p.join(timeout=5)
        for q in (self.tasks, self.results, *self.inits):
            q.close()
            q.cancel_join_thread()


_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


@contextlib.contextmanager
def _single_threaded_children():
    """Start worker processes (or the fork server they are forked from) with one thread per
    numeric library (unless the user set a count): one worker per core, with no thread pools
    competing for the cores (measured on 2 cores: points 2.5-4x slower with the libraries'
    default thread pools)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    try:
        for key, value in saved.items():
            if value is None:
                os.environ[key] = "1"
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


@contextlib.contextmanager
def _threads_while_booting(pool: LocalPool | None):
    """One Numba and one BLAS thread in this process while the pool's workers start.

    Their start (the fork server's imports) keeps a core busy; a two-thread parallel section
    here then runs at the pace of its slower thread, and idle OpenBLAS threads spin on the
    busy core (measured on 2 cores: the ANN reference and functional pass of the sweep
    benchmark 1.7x faster single-threaded while the workers start). Once they wait for
    points, this process uses every thread again.
    """
    if pool is None or not pool.booting():
        yield
        return
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(threads)


def _execute_dask(
    worker: PointWorker, tasks: Sequence[Task], address: str, on_outcome: Callable[[Outcome], None]
) -> None:
    """Submit every point to a dask.distributed scheduler; the worker object is scattered
    (broadcast) once."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError(
            "--scheduler needs dask.distributed: pip install 'neurosim-snn[dask]'"
        ) from None
    try:
        client = Client(address, set_as_default=False, timeout=10)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the dask scheduler at {address!r}: {exc}") from None
    futures = []
    try:
        remote = client.scatter(worker, broadcast=True, hash=False)
        futures = [client.submit(_dask_run, remote, task, pure=False) for task in tasks]
        for fut in as_completed(futures, loop=client.loop):
            on_outcome(fut.result())
    finally:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        client.close()


# --------------------------------------------------------------------------------------------
# The output folder
# --------------------------------------------------------------------------------------------


class ResultStore:
    """The output folder of one sweep: manifest, resume journal, results table.

    Refuses a folder that holds another sweep (different identity). Rows are kept by point
    key; ``table()`` orders them by point index.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        spec: SweepSpec,
        identity: str,
        points: Sequence[Point],
        keys: Sequence[str],
        *,
        flush_seconds: float = 1.0,
    ) -> None:
        self.out = Path(out)
        self.spec = spec
        self.points = points
        self.keys = list(keys)
        self.axes = spec.axis_names
        self.columns = [*ID_COLUMNS, *self.axes, *(c for c in METRIC_COLUMNS if c not in self.axes)]
        self.flush_seconds = flush_seconds
        self._last_flush = -math.inf
        self.out.mkdir(parents=True, exist_ok=True)
        manifest = self.out / "sweep.json"
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"{manifest}: unreadable sweep manifest ({exc}); delete it "
                    f"or choose another output folder"
                ) from None
            if old.get("identity") != identity:
                name = old.get("spec", {}).get("meta", {}).get("name", "?")
                raise ConfigError(
                    f"{self.out} holds results of another sweep ({name!r}: different base "
                    f"hardware, model, inputs or settings); choose another output folder or "
                    f"delete it"
                )
        atomic_write(
            manifest,
            (
                json.dumps(
                    {
                        "format": FORMAT,
                        "version": FORMAT_VERSION,
                        "identity": identity,
                        "spec": spec.to_dict(),
                        "columns": self.columns,
                    },
                    indent=2,
                )
                + "\n"
            ).encode(),
        )
        self.journal = self.out / "points.jsonl"
        self.rows: dict[str, dict[str, Any]] = self._read_journal()

    def _read_journal(self) -> dict[str, dict[str, Any]]:
        if not self.journal.exists():
            return {}
        data = self.journal.read_bytes()
        if data and not data.endswith(b"\n"):
            # A line torn by a crash mid-write: drop it (its point is simply recomputed).
            data = data[: data.rfind(b"\n") + 1]
            atomic_write(self.journal, data)
        rows = {}
        for line in data.decode("utf-8").splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict) and "key" in row:
                    rows[row["key"]] = row
        return rows

    def finished(self, key: str) -> bool:
        return key in self.rows

    def add(self, row: dict[str, Any]) -> None:
        """Journal a finished point (appended and flushed at once), then maybe flush."""
        line = json.dumps(row, allow_nan=True) + "\n"
        with open(self.journal, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
        self.rows[row["key"]] = row
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def table(self) -> pd.DataFrame:
        """Every point in index order: journaled rows and dropped points."""
        rows = []
        for point, key in zip(self.points, self.keys, strict=True):
            base = {"point": point.index, "key": key, **dict(point.values)}
            if point.dropped:
                rows.append({**base, "status": "dropped", "error": point.dropped})
            elif key in self.rows:
                rows.append({**self.rows[key], **base})
        df = pd.DataFrame(rows, columns=self.columns)
        df["error"] = df["error"].fillna("")
        for col in INT_METRICS:
            if col in df.columns and col not in self.axes:
                df[col] = df[col].astype("Int64")
        return df

    def flush(self) -> pd.DataFrame:
        """Rewrite ``results.csv`` (and ``.parquet``) atomically; returns the table."""
        df = self.table()
        atomic_write(self.out / "results.csv", df.to_csv(index=False).encode())
        if _has_pyarrow():
            buf = io.BytesIO()
            df.to_parquet(buf, index=False)
            atomic_write(self.out / "results.parquet", buf.getvalue())
        self._last_flush = time.monotonic()
        return df


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Identity, Pareto front, the driver
# --------------------------------------------------------------------------------------------


def spec_identity(
    spec: SweepSpec, base: hw.HwConfig, images: np.ndarray, labels: np.ndarray | None
) -> str:
    """16 hex digits over what every point's numbers depend on besides its own values: the base
    hardware content, the model (file bytes or zoo name), the inputs actually used, the base
    settings (samples, stream, batch size, scheme, options) and the neurosim version."""
    if spec.model == BUNDLED or spec.model.startswith("zoo:"):
        model = spec.model
        if spec.model == BUNDLED:
            model = _file_hash(bundled_path(BUNDLED_MODEL))
    else:
        model = _file_hash(spec.resolve(spec.model))
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(repr((images.shape, str(images.dtype))).encode())
    if labels is not None:
        h.update(np.ascontiguousarray(labels).tobytes())
    try:
        neurosim_version = version("neurosim-snn")
    except PackageNotFoundError:
        neurosim_version = "0"
    payload = {
        "format": FORMAT_VERSION,
        "neurosim": neurosim_version,
        "hw": hw.to_dict(base),
        "model": model,
        "inputs": h.hexdigest(),
        "samples": spec.samples,
        "stream": spec.stream,
        "batch_size": spec.batch_size,
        "scheme": spec.scheme,
        "options": dict(sorted(spec.options)),
    }
    return hashlib.sha256(canonical(payload).encode()).hexdigest()[:16]


def _file_hash(path: str | os.PathLike) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read model file: {exc}") from None


def pareto_front(
    table: pd.DataFrame, x: str = PARETO_AXES[0], y: str = PARETO_AXES[1]
) -> pd.DataFrame:
    """The ``ok`` rows no other ``ok`` row beats on both ``x`` and ``y`` (both minimised),
    sorted by ``x``; rows with equal (x, y) are all kept."""
    ok = table[(table["status"] == "ok")].dropna(subset=[x, y])
    if ok.empty:
        return ok
    ok = ok.sort_values([x, y, "point"], kind="stable")
    keep, best, best_x = [], math.inf, None
    for idx, xv, yv in zip(ok.index, ok[x].to_numpy(float), ok[y].to_numpy(float), strict=True):
        if yv < best or (yv == best and xv == best_x):
            keep.append(idx)
            if yv < best:
                best, best_x = yv, xv
    return ok.loc[keep]


def run_sweep(
    spec: SweepSpec | str | os.PathLike,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
    reuse_traces: bool = True,
    flush_seconds: float = 1.0,
) -> SweepResult:
    """Run (or resume) a sweep into ``out`` and return its results.

    Parameters
    ----------
    spec
        A ``SweepSpec``, a ``.sweep.toml`` path or a shipped sweep name.
    out
        Output folder (created). Points already journaled there by the same sweep are not
        recomputed; a folder of another sweep is refused.
    workers
        Processes that cost points (default ``os.cpu_count()``): this one and ``workers`` − 1
        worker processes (without trace reuse, ``workers`` worker processes); 1 runs every
        point in this process. The workers start like spawned processes (from a fork server):
        a script calling this with several workers needs the ``if __name__ == "__main__":``
        guard.
    scheduler
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``); overrides
        ``workers``.
    progress
        Called with a ``SweepProgress`` at the start and after every point.
    reuse_traces
        False reruns the functional pass for every point (benchmark only; same numbers).
    flush_seconds
        Least time between two rewrites of ``results.csv`` (the journal is written at once).

    Raises
    ------
    ConfigError, ModelError
        The spec, the base config, the model or the inputs are invalid (before any point).
    """
    t_start = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    else:
        spec = SweepSpec.from_dict(spec.to_dict(), source=spec.source, base_dir=spec.base_dir)
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    base = spec.load_hw()
    points = generate_points(spec, base)
    # The worker processes boot while this process builds the model and runs the functional
    # pass (sized for every point that is not dropped; a resumed sweep may need fewer).
    candidates = sum(1 for p in points if not p.dropped)
    n_local = min((os.cpu_count() or 1) if workers is None else workers, candidates)
    # With trace reuse this process is one of the n_local that cost points (a point is a few
    # milliseconds of single-threaded work). Without, every point is a functional pass whose
    # numpy calls use every core: the workers alone run them, one per core.
    helpers = n_local - 1 if reuse_traces else n_local
    pool = LocalPool(helpers, participate=reuse_traces) if not scheduler and n_local > 1 else None
    try:
        model = (
            None
            if spec.model == BUNDLED
            else (spec.model if spec.model.startswith("zoo:") else spec.resolve(spec.model))
        )
        inputs = None if spec.inputs is None else spec.resolve(spec.inputs)
        t_model = time.perf_counter()
        net, images, labels = experiment.resolve_model(model, inputs, spec.samples)
        model_s = time.perf_counter() - t_model
        identity = spec_identity(spec, base, images, labels)
        keys = [point_key(identity, p) for p in points]
        store = ResultStore(out, spec, identity, points, keys, flush_seconds=flush_seconds)
        todo = [
            p for p, k in zip(points, keys, strict=True) if not p.dropped and not store.finished(k)
        ]
        tasks = []
        for p in todo:
            scheme, options = settings(spec, p)
            tasks.append(
                Task(
                    index=p.index,
                    hw=tuple(hw_values(spec, p).items()),
                    setting=settings_key(scheme, options),
                    scheme=scheme,
                    options=tuple(sorted(options.items())),
                )
            )
        # Points that share a conversion setting and the PE-cycle fields run back to back, so
        # that a worker's TraceStats memo serves them all (results are kept by point index).
        tasks.sort(key=_memo_order)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    dropped = len(points) - candidates
    resumed = candidates - len(todo)
    by_index = {p.index: (p, k) for p, k in zip(points, keys, strict=True)}
    state = {"done": 0, "failed": 0}

    def report() -> None:
        if progress is not None:
            progress(
                SweepProgress(
                    total=len(tasks),
                    done=state["done"],
                    failed=state["failed"],
                    resumed=resumed,
                    dropped=dropped,
                )
            )

    def on_outcome(outcome: Outcome) -> None:
        point, key = by_index[outcome.index]
        row = {
            "point": point.index,
            "key": key,
            "status": outcome.status,
            "error": outcome.error,
            **dict(point.values),
            **outcome.metrics,
        }
        store.add(row)
        state["done"] += 1
        state["failed"] += outcome.status != "ok"
        report()

    t_fn = time.perf_counter()
    t_points = t_fn
    try:
        functionals: dict[str, Any] = {}
        if reuse_traces and tasks:
            with _threads_while_booting(pool):
                reference = qann.forward(net, images)
            for task in tasks:
                if task.setting in functionals:
                    continue
                try:
                    with _threads_while_booting(pool):
                        functionals[task.setting] = experiment.run_functional(
                            net,
                            images,
                            labels,
                            task.scheme,
                            dict(task.options),
                            stream=spec.stream,
                            batch_size=spec.batch_size,
                            reference=reference,
                        )
                except NeurosimError as exc:
                    functionals[task.setting] = _message(exc)
        functional_s = time.perf_counter() - t_fn
        worker = PointWorker(
            base,
            functionals,
            spec.engine,
            reuse=reuse_traces,
            model=None if reuse_traces else (net, images, labels, spec.stream, spec.batch_size),
        )
        report()
        t_points = time.perf_counter()
        if not tasks:
            pass
        elif scheduler:
            _execute_dask(worker, tasks, scheduler, on_outcome)
        elif pool is not None:
            pool.run(worker, tasks, on_outcome)
        else:
            _execute_serial(worker, tasks, on_outcome)
    finally:
        if pool is not None:
            pool.close()
        table = store.flush()
    points_s = time.perf_counter() - t_points
    front = pareto_front(table)
    atomic_write(store.out / "pareto.csv", front.to_csv(index=False).encode())
    return SweepResult(
        table=table,
        pareto=front,
        out=store.out,
        axes=spec.axis_names,
        computed=state["done"],
        resumed=resumed,
        failed=state["failed"],
        dropped=dropped,
        seconds={
            "model": model_s,
            "functional": functional_s,
            "points": points_s,
            "total": time.perf_counter() - t_start,
        },
    )


def save_plots(result: SweepResult, *, title: str | None = None, pdf: bool = False) -> list[Path]:
    """``pareto.png`` (latency vs energy, the front highlighted) and ``axis_effects.png`` (each
    axis against latency and energy) in the result's folder; none if no point succeeded."""
    from neurosim import report

    ok = result.table[result.table["status"] == "ok"]
    if ok.empty:
        return []
    title = title or f"sweep: {len(ok)} points"
    paths = [
        report.plot_pareto(
            ok,
            result.pareto,
            result.out / "pareto.png",
            x=PARETO_AXES[0],
            y=PARETO_AXES[1],
            title=title,
            pdf=pdf,
        )
    ]
    if result.axes:
        paths.append(
            report.plot_axis_effects(
                ok, result.axes, result.out / "axis_effects.png", title=title, pdf=pdf
            )
        )
    return paths
