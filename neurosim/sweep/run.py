"""Running a sweep: the functional pass once per setting, every hardware point costed by
workers (in-process, local processes or ``dask.distributed``), results kept as they arrive.

Imports ``experiment``, ``hw``, ``mapping``, ``qann``, ``timing``, ``report`` (plots),
``_files``, ``errors`` and ``sweep.spec``/``points``/``pool`` (executors)/``store`` (output folder).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neurosim import experiment, families, hw, metrics, qann, timing
from neurosim._files import atomic_write
from neurosim.energy import COMPONENTS
from neurosim.errors import ConfigError, NeurosimError
from neurosim.sweep import ship
from neurosim.sweep.points import generate_points, hw_values, point_key, settings, settings_key
from neurosim.sweep.pool import (
    LocalPool,
    _execute_dask,
    _execute_serial,
    _threads_while_booting,
    pause_collector,
)
from neurosim.sweep.spec import BUNDLED, Scalar, SweepSpec, load_spec
from neurosim.sweep.store import ResultStore, spec_identity
from neurosim.timing.stages import STALL_CAUSES

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
    """Every ``metric_columns()`` value of one costed point, as plain Python numbers.

    ``compute_cycles``: busy cycles of the family's compute stages over the stream (PE array:
    the ``<layer>.pe`` stages; multi-core: every layer's cores); ``utilisation`` =
    compute_cycles / (compute units × makespan) (PE array: one unit, the array runs one layer
    at a time; multi-core: one per mapped layer); ``mapping_utilisation`` as the family
    defines it (``HardwareFamily``).
    """
    res, eb, mapped = cost.timing, cost.energy, cost.mapping
    sums = res.cycle_sums()
    stalls = {c: sums.stall_by_cause.get(c, 0) for c in STALL_CAUSES}
    busy = sums.busy_by_stage
    record = families.get(res.family)
    family = record.name
    compute = int(sum(int(busy.get(stage, 0)) for stage in record.compute_stages(mapped)))
    units = record.compute_units(mapped)
    mapping_util = record.mapping_utilisation(mapped)
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
        "spikes_per_inference": float(fn.row["spikes_per_inference"]),
        "synaptic_ops_per_inference": float(fn.row["synaptic_ops_per_inference"]),
        "latency_cycles": int(res.latency_cycles),
        "latency_us": float(res.latency_us),
        "interval_cycles": float(res.interval_cycles),
        "throughput_sps": float(res.throughput_sps),
        "makespan_cycles": makespan,
        "compute_cycles": compute,
        "utilisation": compute / (units * makespan) if makespan else math.nan,
        "mapping_utilisation": float(mapping_util),
        **{k: cost.row[k] for k in metrics.stall_metric_columns()},
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
        mapping reuse key (``hw.reuse_key(cfg, "mapping")``) reuses it (points are ordered so
        that they follow)."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        # Sent without weight values: a point reads only their shapes (``sweep.ship``).
        state["functionals"] = {k: ship.for_workers(fn) for k, fn in self.functionals.items()}
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
            key = (task.setting, hw.reuse_key(cfg, "mapping"))
            if self._mapped[0] != key:
                self._mapped = (key, families.compile(fn.snn, cfg))
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


def _memo_order(task: Task, family: str) -> tuple:
    """Sort key of the tasks: by setting, then the fields declaring an ``activity`` effect
    (the ``TraceStats`` memo), then those declaring ``mapping``, so that points reusing either
    follow one another (keys derived from the declarations, ``hw.effect_paths``)."""
    values = dict(task.hw)
    return (
        task.setting,
        *(
            tuple(repr(values.get(p)) for p in hw.effect_paths(family, effect))
            for effect in ("activity", "mapping")
        ),
        task.index,
    )


def _reference(
    pool: LocalPool | None, net: Any, images: Any
) -> Callable[[], qann.QannPrediction] | None:
    """The quantized ANN's predictions on ``images``, for every setting's functional pass
    (``experiment.run_functional(reference=...)``, called after the pass), obtained once: from
    the pool's first worker (its prelude) if it runs one and it succeeded, else computed here;
    None for an SNN (no quantized ANN)."""
    if net.kind != "qann":
        return None
    found: list[qann.QannPrediction] = []

    def get() -> qann.QannPrediction:
        if not found:
            got = pool.prelude_result() if pool is not None and pool.runs_prelude else None
            found.append(got if got is not None else qann.predict(net, images))
        return found[0]

    return get


def _collector_running() -> None:
    """``resume_collector`` before the collector is paused: nothing to resume."""


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------
# Pareto front, the driver
# --------------------------------------------------------------------------------------------


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
        Called with a ``SweepProgress`` at the start and after every point. This process's
        garbage collector is paused from the start until the first call returns (the start-up's
        objects live for the whole sweep: ``sweep.pool.pause_collector``), so that the first
        call may ``gc.freeze()`` them, as the ``neurosim`` command does.
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
    # The worker processes boot while this process runs the functional pass (sized for every
    # point that is not dropped; a resumed sweep may need fewer).
    candidates = sum(1 for p in points if not p.dropped)
    n_local = min((os.cpu_count() or 1) if workers is None else workers, candidates)
    # With trace reuse this process is one of the n_local that cost points (a point is a few
    # milliseconds of single-threaded work). Without, every point is a functional pass whose
    # numpy calls use every core: the workers alone run them, one per core.
    helpers = n_local - 1 if reuse_traces else n_local
    local = not scheduler and n_local > 1
    # Without trace reuse the workers start at once (each of their points is a functional
    # pass); with it, once the model is loaded (below).
    pool = LocalPool(helpers, participate=False) if local and not reuse_traces else None
    resume_collector = _collector_running
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
        if local and reuse_traces:
            # The first worker, forked from this process with the model, computes the
            # quantized ANN's reference (its prelude) while this process runs the functional
            # pass; then both load the timing kernels.
            prelude = functools.partial(qann.predict, net, images) if net.kind == "qann" else None
            pool = LocalPool(helpers, prelude=prelude)
        # Forked, the workers keep the caller's collector; this process pauses its own until
        # the first progress report (pause_collector).
        resume_collector = pause_collector()
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
        tasks.sort(key=lambda task: _memo_order(task, base.family))
    except BaseException:
        resume_collector()
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
            reference = _reference(pool, net, images)
            for task in tasks:
                if task.setting in functionals:
                    continue
                try:
                    with _threads_while_booting(pool) as check_threads:
                        functionals[task.setting] = experiment.run_functional(
                            net,
                            images,
                            labels,
                            task.scheme,
                            dict(task.options),
                            stream=spec.stream,
                            batch_size=spec.batch_size,
                            reference=reference,
                            progress=check_threads,
                            known=[
                                f
                                for f in functionals.values()
                                if isinstance(f, experiment.FunctionalResult)
                            ],
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
        resume_collector()
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
        resume_collector()
        # The table first: after a finished run the workers exit meanwhile (they have their
        # sentinels), so ``close`` then finds them gone instead of waiting ~20 ms for them.
        try:
            table = store.flush()
        finally:
            if pool is not None:
                pool.close()
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


def save_plots(
    result: SweepResult,
    *,
    title: str | None = None,
    pdf: bool = False,
    info: Mapping[str, Any] | None = None,
) -> list[Path]:
    """``pareto.png`` (latency vs energy, the front highlighted) and ``axis_effects.png`` (each
    axis against latency and energy, axis units from the hardware field declarations) in the
    result's folder; none if no point succeeded. ``info``: the caption's provenance."""
    from neurosim import report

    ok = result.table[result.table["status"] == "ok"]
    if ok.empty:
        return []
    title = title or f"sweep: {len(ok)} points"
    families_seen = sorted(set(ok["family"].astype(str))) if "family" in ok else []
    hw_names = ", ".join(sorted(set(ok["hw"].astype(str)))) if "hw" in ok else ""
    info = {**(info or {}), **({"hw": hw_names} if hw_names and "hw" not in (info or {}) else {})}
    paths = [
        report.plot_pareto(
            ok,
            result.pareto,
            result.out / "pareto.png",
            x=PARETO_AXES[0],
            y=PARETO_AXES[1],
            title=title,
            pdf=pdf,
            info=info,
        )
    ]
    if result.axes:
        units = {a: axis_unit(a, families_seen) for a in result.axes}
        paths.append(
            report.plot_axis_effects(
                ok,
                result.axes,
                result.out / "axis_effects.png",
                units=units,
                title=title,
                pdf=pdf,
                info=info,
            )
        )
    return paths


def axis_unit(axis: str, family_names: list[str]) -> str:
    """The unit a hardware field declares (``hw.config.spec(unit=...)``) for a swept axis
    path, from the first family that has the field; ``""`` for conversion options."""
    from neurosim.hw.fields import leaf_fields

    for name in family_names:
        cls = hw.FAMILIES.get(name)
        if cls is None:
            continue
        for path, f, _ in leaf_fields(cls):
            if path == axis:
                return str(f.metadata.get("unit") or "")
    return ""
