"""The output folder of a sweep: its identity hash, the result columns, the manifest, the
resume journal and the results table.

Imports ``hw``, ``energy`` (component names), ``io.inputs``, ``timing.stages``, ``_files``,
``errors`` and ``sweep.spec``/``sweep.points``. Files written into the output folder:

* ``sweep.json`` — the spec, its identity hash and the columns (written first);
* ``points.jsonl`` — one JSON line per finished point, appended and flushed as each point
  finishes: the resume journal (a torn last line from a crash is discarded);
* ``results.csv`` (and ``results.parquet`` when pyarrow is installed) — every point in index
  order, rewritten atomically at most every ``flush_seconds`` (the first time that long after
  the sweep starts) and at the end;
* ``pareto.csv`` — the latency/energy Pareto front, at the end (written by ``sweep.run``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim import hw
from neurosim._files import atomic_write
from neurosim.energy import COMPONENTS
from neurosim.errors import ConfigError
from neurosim.hw.energy_table import energy_table_bytes
from neurosim.hw.source import path_kind
from neurosim.io.inputs import BUNDLED_MODEL, bundled_path
from neurosim.metrics import stall_metric_columns
from neurosim.sweep.points import Point, canonical
from neurosim.sweep.spec import BUNDLED, SweepSpec
from neurosim.timing.stages import stall_columns

FORMAT = "neurosim-sweep"
FORMAT_VERSION = 1

ID_COLUMNS = ("point", "key", "status", "error")
"""Leading columns: point index, stable key, ``ok``/``error``/``dropped``, message or reason."""


def int_metrics() -> tuple[str, ...]:
    """Integer metrics (cycles over the timed stream, bytes and bit-hops over the stream)."""
    return (
        "latency_cycles",
        "makespan_cycles",
        "compute_cycles",
        *stall_columns(),
        "dram_read_bytes",
        "dram_write_bytes",
        "sram_read_bytes",
        "sram_write_bytes",
        "noc_bit_hops",
        "event_count",
    )


def metric_columns() -> tuple[str, ...]:
    """Metrics of every point (units in the names; docs/sweeps.md defines each).

    Latency, energy and ``stall_cycles_per_sample`` are per inference, ``stall_*share`` a share
    of all stage time (``metrics.stall_metrics``); ``stall_<cause>_cycles``, ``makespan_cycles``,
    ``compute_cycles`` and traffic cover the whole timed stream of ``stream`` samples;
    ``energy_ratio`` = ``ann_energy_pj`` / ``compute_energy_pj`` (MT-SNN Table 7's E_ANN/E_SNN,
    compute only on both sides). Stall columns follow the registered causes
    (``timing.STALL_CAUSES``).
    """
    return (
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
        *stall_metric_columns(),
        *stall_columns(),
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
        self.columns = [
            *ID_COLUMNS,
            *self.axes,
            *(c for c in metric_columns() if c not in self.axes),
        ]
        self.flush_seconds = flush_seconds
        # The first rewrite after flush_seconds (a short sweep writes the table once, at the
        # end; the journal keeps every point meanwhile).
        self._last_flush = time.monotonic()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"{self.out}: cannot create the output folder: {exc.strerror or exc}"
            ) from None
        if not self.out.is_dir():
            raise ConfigError(f"{self.out}: not a folder; give --out a folder (new or a sweep's)")
        manifest = self.out / "sweep.json"
        if manifest.exists():
            old = _read_manifest(manifest)
            if old.get("identity") != identity:
                spec_data = old.get("spec")
                meta = spec_data.get("meta") if isinstance(spec_data, dict) else None
                name = meta.get("name", "?") if isinstance(meta, dict) else "?"
                raise ConfigError(
                    f"{self.out} holds results of another sweep ({str(name)[:60]!r}: different "
                    f"base hardware, energy tables, model, inputs or settings, or one of their "
                    f"files changed); choose another output folder or delete it"
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
        """The journaled rows of this sweep's points. A line torn by a crash, or one that is
        not a valid row of this sweep (bad bytes, bad JSON, another key, a metric of the
        wrong type) is ignored: its point is recomputed."""
        if not self.journal.exists():
            return {}
        try:
            data = self.journal.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{self.journal}: cannot read the resume journal: {exc.strerror or exc}"
            ) from None
        if data and not data.endswith(b"\n"):
            # A line torn by a crash mid-write: drop it (its point is simply recomputed).
            data = data[: data.rfind(b"\n") + 1]
            atomic_write(self.journal, data)
        keys = set(self.keys)
        rows = {}
        for raw in data.split(b"\n"):
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue
            if _valid_row(row, keys):
                rows[row["key"]] = row
        return rows

    def finished(self, key: str) -> bool:
        return key in self.rows

    def add(self, row: dict[str, Any]) -> None:
        """Journal a finished point (appended and flushed at once), then maybe flush."""
        line = json.dumps(row, allow_nan=True) + "\n"
        try:
            with open(self.journal, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
        except OSError as exc:
            raise ConfigError(
                f"{self.journal}: cannot append to the resume journal: {exc.strerror or exc}"
            ) from None
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
        for col in int_metrics():
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


def _read_manifest(manifest: Path) -> dict[str, Any]:
    """The manifest of an output folder, or ConfigError: unreadable or not a JSON object."""
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(
            f"{manifest}: unreadable sweep manifest ({str(reason)[:120]}); delete it or choose "
            f"another output folder"
        ) from None
    if not isinstance(old, dict):
        raise ConfigError(
            f"{manifest}: not a sweep manifest (a JSON {type(old).__name__}, not an object); "
            f"delete it or choose another output folder"
        )
    return old


def _valid_row(row: Any, keys: set[str]) -> bool:
    """Whether a journal line is a row this sweep wrote: one of its keys, a status, and every
    metric a number (integers where the column is one) or null."""
    if not isinstance(row, dict) or not isinstance(row.get("key"), str) or row["key"] not in keys:
        return False
    if row.get("status") not in ("ok", "error") or not isinstance(row.get("error", ""), str):
        return False
    integers = set(int_metrics())
    for column in metric_columns():
        value = row.get(column)
        if value is None or column in ("hw", "family", "scheme"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if column in integers and not isinstance(value, int):
            return False
    return True


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Identity
# --------------------------------------------------------------------------------------------


def spec_identity(
    spec: SweepSpec, base: hw.HwConfig, images: np.ndarray, labels: np.ndarray | None
) -> str:
    """16 hex digits over what every point's numbers depend on besides its own values: the
    content of every file the sweep reads (the base hardware file and its parsed values, each
    energy table the base or an ``energy_table`` axis names, the model file, the inputs file
    and the inputs actually used), the zoo name of a zoo model, the base settings (samples,
    stream, batch size, scheme, options) and the neurosim version. Editing any of those files
    between a crash and a resume therefore changes the identity: the output folder is refused
    instead of mixing rows of two versions."""
    if spec.model == BUNDLED or spec.model.startswith("zoo:"):
        model = spec.model
        if spec.model == BUNDLED:
            model = _file_hash(bundled_path(BUNDLED_MODEL))
    else:
        model = _file_hash(spec.resolve(spec.model))
    hw_file = spec.resolve(spec.hw)
    tables = {base.energy_table}
    for axis in spec.axes:
        if axis.name == "energy_table":
            tables.update(str(v) for v in axis.values)
    energy = {name: _energy_hash(name) for name in sorted(tables)}
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
        "hw_file": _file_hash(hw_file) if path_kind(hw_file) == "file" else hw_file,
        "energy_tables": energy,
        "model": model,
        "inputs": h.hexdigest(),
        "inputs_file": None if spec.inputs is None else _file_hash(spec.resolve(spec.inputs)),
        "samples": spec.samples,
        "stream": spec.stream,
        "batch_size": spec.batch_size,
        "scheme": spec.scheme,
        "options": dict(sorted(spec.options)),
    }
    return hashlib.sha256(canonical(payload).encode()).hexdigest()[:16]


def _file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a regular file's bytes (ConfigError for anything else)."""
    path = Path(path)
    if path_kind(path) != "file":
        raise ConfigError(f"{path}: not a regular file; a sweep reads files it can hash")
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _energy_hash(name_or_path: str) -> str:
    """SHA-256 of the energy table file ``hw.energy_table.load_energy_table`` would read (a
    shipped table too: a new neurosim may ship other numbers); a table that cannot be found
    is hashed by its name, and the points that use it fail with its error."""
    try:
        return hashlib.sha256(energy_table_bytes(name_or_path)).hexdigest()
    except ConfigError:
        return f"missing:{name_or_path}"
