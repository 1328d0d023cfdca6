"""The ``TimingResult`` value returned by every hardware family's ``simulate``.

Imports ``errors`` and ``timing.stages``. Also the cycle bound every timing engine checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurosim.errors import ConfigError
from neurosim.timing.stages import STALL_CAUSES, StageLog, stall_columns, text_array

CYCLE_LIMIT = 2**48
"""Most cycles a timed stream may take (about 3·10^14: 78 hours at 1 GHz). Every cycle count
the timing models form (item cycles, times, per-stage sums) is then far inside int64 and exact
in float64, so no engine can wrap; a stream whose a-priori bound (the sum of every work and
delay cycle, which no schedule can exceed) is larger is refused with a ConfigError."""


def check_cycle_bound(bound: float, what: str | Callable[[], str]) -> None:
    """ConfigError if ``bound`` (a float upper bound of a stream's cycles) exceeds
    ``CYCLE_LIMIT``; ``what`` says which configuration fields make it large (or is a function
    giving that text, formed only for the error: a sweep point checks dozens of bounds)."""
    if not bound <= CYCLE_LIMIT:
        raise ConfigError(
            f"the timed stream would take up to {bound:.3g} cycles, more than the 2^48 "
            f"({CYCLE_LIMIT:.3g}) the timing models count exactly; "
            f"{what if isinstance(what, str) else what()}"
        )


def stage_columns() -> tuple[str, ...]:
    """Columns of ``TimingResult.per_stage`` (stall columns for every registered cause)."""
    return ("stage", "busy_cycles", *stall_columns())


TOTAL_COLUMNS = ("stage", "layer", "sample", "kind", "cause", "cycles")
"""Columns of ``TimingResult.totals`` (summed cycles instead of single intervals)."""


def summarise_intervals(intervals: pd.DataFrame) -> pd.DataFrame:
    """Sum busy/stall intervals per (stage, layer, sample, kind, cause), in order of first
    appearance: the ``totals`` of a result that keeps no intervals."""
    keys = list(TOTAL_COLUMNS[:-1])
    if intervals.empty:
        return pd.DataFrame(columns=list(TOTAL_COLUMNS))
    cyc = intervals.assign(cycles=intervals["end_cycles"] - intervals["start_cycles"])
    return cyc.groupby(keys, sort=False)["cycles"].sum().reset_index()[list(TOTAL_COLUMNS)]


def log_totals(log: StageLog) -> tuple[pd.DataFrame | Columns, CycleSums | None]:
    """``summarise_intervals(log.to_frame())`` and its ``CycleSums``, summed from the log's
    integer records (``StageLog.summed``): a SimPy run that keeps no intervals never forms
    their table (pandas grouped its text columns in ~3 ms of a 20 ms multi-core pass)."""
    if not len(log):
        return summarise_intervals(log.to_frame()), None
    data = log.summed()
    busy, stall = data["kind"] == "busy", data["kind"] == "stall"
    sums = CycleSums(
        busy_by_stage=_sum_by(data["stage"][busy], data["cycles"][busy]),
        stall_by_cause=_sum_by(data["cause"][stall], data["cycles"][stall]),
    )
    return Columns(
        {k: data[k] for k in TOTAL_COLUMNS}, text=("stage", "layer", "kind", "cause")
    ), sums


@dataclass(frozen=True)
class CycleSums:
    """Busy cycles per stage and stall cycles per cause, each summed over the whole stream:
    what the stall metrics and a sweep point's figures read (``TimingResult.cycle_sums``)."""

    busy_by_stage: Mapping[str, int]
    stall_by_cause: Mapping[str, int]

    @property
    def busy(self) -> int:
        return int(sum(self.busy_by_stage.values()))


def sum_cycles(cycles: pd.DataFrame) -> CycleSums:
    """``CycleSums`` of a ``TimingResult.cycles()`` table (intervals or totals)."""
    values = cycles["cycles"].to_numpy(np.int64)
    stall = (cycles["kind"] == "stall").to_numpy()
    busy_rows = (cycles["kind"] == "busy").to_numpy()
    return CycleSums(
        busy_by_stage=_sum_by(cycles["stage"].to_numpy()[busy_rows], values[busy_rows]),
        stall_by_cause=_sum_by(cycles["cause"].to_numpy()[stall], values[stall]),
    )


def _sum_by(labels: np.ndarray, values: np.ndarray) -> dict[str, int]:
    """Σ ``values`` per distinct label, labels in order of first appearance."""
    if not len(labels):
        return {}
    names, first, inverse = np.unique(labels.astype(str), return_index=True, return_inverse=True)
    sums = np.zeros(len(names), np.int64)
    np.add.at(sums, inverse.ravel(), values)
    order = np.argsort(first, kind="stable")
    return {str(names[i]): int(sums[i]) for i in order}


@dataclass(frozen=True, eq=False)
class Columns:
    """A table kept as its column arrays until it is read as a DataFrame (``frame``): a sweep
    point reads only sums, and forming pandas text columns cost it more than its max-plus
    schedule."""

    data: Mapping[str, np.ndarray]
    """Column name → values, in column order."""
    text: tuple[str, ...] = ()
    """Columns of Python strings, made pandas text columns (``stages.text_array``)."""

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {k: text_array(v) if k in self.text else v for k, v in self.data.items()},
            columns=list(self.data),
            copy=False,
        )


class _Table:
    """A ``TimingResult`` field holding a DataFrame, which may be given as ``Columns``: it is
    then formed on the first read and kept (the result stays immutable to its readers)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: object, owner: type | None = None) -> pd.DataFrame | None:
        if obj is None:
            return None  # the dataclass field's default
        value = obj.__dict__.get(self.slot)
        if isinstance(value, Columns):
            value = obj.__dict__[self.slot] = value.frame()
        return value

    def __set__(self, obj: object, value: pd.DataFrame | Columns | None) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True, eq=False)
class TimingResult:
    """Latency, throughput, busy/stall intervals and traffic of one timing simulation."""

    family: str
    """Hardware family (``pe_array`` or ``multicore``)."""
    frequency_mhz: float
    """Clock used to convert cycles to µs."""
    latency_cycles: int
    """Cycles from the first input of sample 0 to its last output (one sample alone)."""
    interval_cycles: float
    """Steady-state cycles between consecutive samples of a stream (initiation interval)."""
    num_samples: int
    """Samples in the simulated stream."""
    makespan_cycles: int
    """Cycles to finish the whole stream."""
    intervals: pd.DataFrame
    """Busy and stall intervals: columns ``timing.stages.INTERVAL_COLUMNS``."""
    event_count: int
    """SimPy events processed (coarse: tiles, time-steps, bundles — never single spikes)."""
    traffic: Mapping[str, int] = field(default_factory=dict)
    """Per-stream totals: ``dram_read_bytes``, ``dram_write_bytes``, ``sram_read_bytes``,
    ``sram_write_bytes``, ``noc_bit_hops`` (those that apply to the family)."""
    layer_traffic: pd.DataFrame | None = _Table()  # type: ignore[assignment]
    """Per-layer traffic (one row per layer, the same keys as ``traffic``) for the energy model
    (given as a DataFrame or as ``Columns``)."""
    totals: pd.DataFrame | None = _Table()  # type: ignore[assignment]
    """Summed cycles per (stage, layer, sample, kind, cause) (``TOTAL_COLUMNS``) of a run that
    kept no single intervals (``simulate(..., keep_intervals=False)``; ``intervals`` is then
    empty). None when ``intervals`` holds every interval. Like ``keep_spikes=False`` in the
    functional pass: every total, no timeline. Given as a DataFrame or as ``Columns``."""
    stage_order: tuple[str, ...] = ()
    """The family's order of stages for ``per_stage`` (stages not listed follow, in order of
    first appearance): both PE-array engines then give the same table row for row."""
    sums: CycleSums | None = None
    """``cycle_sums()`` when the engine formed them from its own arrays (the same values, no
    pass over the table); None: summed from ``cycles()`` when asked."""

    @property
    def has_totals(self) -> bool:
        """Whether the result holds ``totals`` (asked without forming them)."""
        return self.__dict__.get("_totals") is not None

    def layer_traffic_columns(self) -> Mapping[str, np.ndarray] | None:
        """``layer_traffic``'s columns as arrays (None without it), read without forming the
        DataFrame when it was given as ``Columns``."""
        raw = self.__dict__.get("_layer_traffic")
        if isinstance(raw, Columns):
            return raw.data
        frame = self.layer_traffic
        return None if frame is None else {k: frame[k].to_numpy() for k in frame.columns}

    def cycle_sums(self) -> CycleSums:
        """Busy cycles per stage and stall cycles per cause over the stream."""
        return self.sums if self.sums is not None else sum_cycles(self.cycles())

    @property
    def latency_us(self) -> float:
        return self.latency_cycles / self.frequency_mhz

    @property
    def throughput_sps(self) -> float:
        """Steady-state samples per second."""
        return self.frequency_mhz * 1e6 / self.interval_cycles if self.interval_cycles else 0.0

    @property
    def stall_cycles(self) -> int:
        """All stall cycles of all stages over the stream."""
        if self.has_totals:
            t = self.totals
            stall = t["kind"].to_numpy() == "stall"
            return int(t["cycles"].to_numpy(np.int64)[stall].sum())
        iv = self.intervals
        return int((iv["end_cycles"] - iv["start_cycles"])[iv["kind"] == "stall"].sum())

    def cycles(self) -> pd.DataFrame:
        """Cycles by stage, layer, sample, kind and cause: every interval with its length
        (``intervals`` plus a ``cycles`` column), or ``totals`` if no intervals were kept."""
        if self.has_totals:
            return self.totals
        return self.intervals.assign(
            cycles=self.intervals["end_cycles"] - self.intervals["start_cycles"]
        )

    def per_stage(self) -> pd.DataFrame:
        """One row per stage: busy cycles and stall cycles by cause."""
        iv = self.cycles()
        busy = iv[iv["kind"] == "busy"].groupby("stage", sort=False)["cycles"].sum()
        stall = (
            iv[iv["kind"] == "stall"].pivot_table(
                index="stage", columns="cause", values="cycles", aggfunc="sum"
            )
            if (iv["kind"] == "stall").any()
            else pd.DataFrame()
        )
        seen = list(dict.fromkeys(iv["stage"]))
        present = set(seen)
        stages = [st for st in self.stage_order if st in present]
        stages += [st for st in seen if st not in set(stages)]
        rows = []
        for st in stages:
            row = {"stage": st, "busy_cycles": int(busy.get(st, 0))}
            for c in STALL_CAUSES:
                v = stall.loc[st, c] if st in stall.index and c in stall.columns else 0
                row[f"stall_{c}_cycles"] = 0 if pd.isna(v) else int(v)
            rows.append(row)
        return pd.DataFrame(rows, columns=list(stage_columns()))

    def per_layer(self) -> pd.DataFrame:
        """One row per layer: busy and stall cycles by cause, summed over its stages."""
        iv = self.cycles()
        rows = []
        for layer, grp in iv.groupby("layer", sort=False):
            row = {
                "layer": layer,
                "busy_cycles": int(grp.loc[grp["kind"] == "busy", "cycles"].sum()),
            }
            for c in STALL_CAUSES:
                sel = (grp["kind"] == "stall") & (grp["cause"] == c)
                row[f"stall_{c}_cycles"] = int(grp.loc[sel, "cycles"].sum())
            rows.append(row)
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """A one-row summary (the columns ``neurosim run --hw`` adds)."""
        return pd.DataFrame(
            [
                {
                    "family": self.family,
                    "latency_cycles": self.latency_cycles,
                    "latency_us": self.latency_us,
                    "interval_cycles": self.interval_cycles,
                    "throughput_sps": self.throughput_sps,
                    "stall_cycles": self.stall_cycles,
                    "event_count": self.event_count,
                    **dict(self.traffic),
                }
            ]
        )
