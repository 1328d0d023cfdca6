"""The output folder of a sweep: its identity hash, the result columns, the manifest, the
resume journal and the results table.

Imports ``hw``, ``energy`` (component names), ``io.inputs``, ``timing.stages``, ``_files``,
``errors`` and ``sweep.spec``/``sweep.points``. Files written into the output folder:

* ``sweep.json`` — the spec, its identity hash and the columns (written first);
* ``points.jsonl`` — one JSON line per finished point, appended and flushed as each point
  finishes: the resume journal (a torn last line from a crash is discarded);
* ``results.csv`` (and ``results.parquet`` when pyarrow is installed) — every point in index
  order, rewritten atomically at most every ``flush_seconds`` and at the end;
* ``pareto.csv`` — the latency/energy Pareto front, at the end (written by ``sweep.run``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
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
from neurosim.io.inputs import BUNDLED_MODEL, bundled_path
from neurosim.metrics import stall_share_column
from neurosim.sweep.points import Point, canonical
from neurosim.sweep.spec import BUNDLED, SweepSpec
from neurosim.timing.stages import STALL_CAUSES, stall_columns

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
        "stall_cycles_per_sample",
        "stall_share",
        *(stall_share_column(c) for c in STALL_CAUSES),
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
