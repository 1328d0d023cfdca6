"""Busy/stall bookkeeping for SimPy stages: every wait is recorded with its cause.

Imports ``registry``. Time is integer cycles; a stage is a string (e.g. ``conv1.pe`` or
``core3``). Causes: ``memory``, ``dependency``, ``backpressure``, ``link``, ``barrier``.
"""

from __future__ import annotations

import contextlib
from array import array
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurosim import registry


@dataclass(frozen=True)
class StallCause:
    """One reason a stage waits: its name (``stall_<name>_cycles`` in every table), what it
    means, and its colour in timeline plots."""

    name: str
    description: str
    colour: str


class StallCauses(registry.Registry[StallCause]):
    """The stall-cause registry: a sequence of names in report order, extensible at run time.

    Every table (per stage, per layer, sweep metrics) and plot derives its stall columns from
    it, so a timing model that records a newly registered cause is reported everywhere.
    """

    def __init__(self, causes: tuple[StallCause, ...]) -> None:
        super().__init__(causes, key=_name, what="stall cause", error=KeyError)

    def check(self, cause: StallCause) -> None:
        """Names are lower-case identifiers (they become ``stall_<name>_cycles`` columns)."""
        if not cause.name or not cause.name.isidentifier() or cause.name != cause.name.lower():
            raise ValueError(f"stall causes are lower-case identifiers, got {cause.name!r}")


def _name(cause: StallCause) -> str:
    return cause.name


STALL_CAUSES = StallCauses(
    (
        StallCause("memory", "waiting for DRAM data", "#e8590c"),
        StallCause("dependency", "waiting for an upstream result", "#1971c2"),
        StallCause("backpressure", "output buffer full", "#c2255c"),
        StallCause("link", "waiting for a NoC link", "#9c36b5"),
        StallCause("barrier", "waiting for the time-step barrier", "#868e96"),
    )
)
"""Why a stage waited, in report order (``StallCauses``; ``registered_cause`` adds one)."""


def registered_cause(cause: StallCause) -> contextlib.AbstractContextManager[StallCause]:
    """Register a stall cause for the duration of a ``with`` block (tests, extensions)."""
    return STALL_CAUSES.registered(cause)


def stall_columns() -> tuple[str, ...]:
    """``stall_<cause>_cycles`` for every registered cause, in report order."""
    return tuple(f"stall_{c}_cycles" for c in STALL_CAUSES)


INTERVAL_COLUMNS = ("stage", "layer", "sample", "kind", "cause", "start_cycles", "end_cycles")

_NO_INTERVALS = pd.DataFrame(columns=list(INTERVAL_COLUMNS))
"""Never handed out: ``no_intervals`` copies it (a copy is ~10x cheaper than a new frame)."""


def no_intervals() -> pd.DataFrame:
    """An empty interval table (``INTERVAL_COLUMNS``): the ``intervals`` of a result that keeps
    summed cycles only."""
    return _NO_INTERVALS.copy()


BUSY = 0
"""``StageLog`` code of a busy interval; a stall's code is its cause's (``StageLog.code``)."""


_TEXT_DTYPE = pd.Series(["stage"]).dtype
"""The dtype pandas infers for a column of Python strings (``str`` or ``object``, by version)."""


def text_array(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A text column with the dtype pandas infers for Python strings, without running the
    inference over every row (every engine's interval table gets the same dtypes)."""
    return pd.array(values, dtype=_TEXT_DTYPE)


class StageLog:
    """Collects (stage, layer, sample, kind, cause, start, end) intervals as integer records.

    A process asks once for its stage's ``key`` (stage and layer name) and for the ``code``
    of each stall cause it records; each interval is then five integers appended to one
    typed array (no tuples, strings or per-row objects), turned into a DataFrame once, by
    ``to_frame``.
    """

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], int] = {}
        self._stages: list[str] = []
        self._layers: list[str] = []
        self._codes: dict[str, int] = {}
        self._causes: list[str] = [""]
        self._data = array("q")

    def key(self, stage: str, layer: str) -> int:
        """The integer key of ``stage`` working on ``layer`` (made on first use)."""
        found = self._keys.get((stage, layer))
        if found is None:
            found = self._keys[(stage, layer)] = len(self._stages)
            self._stages.append(stage)
            self._layers.append(layer)
        return found

    def code(self, cause: str) -> int:
        """The integer code (>= 1) of a registered stall cause."""
        found = self._codes.get(cause)
        if found is None:
            if cause not in STALL_CAUSES:
                raise ValueError(f"unknown stall cause {cause!r}; allowed: {tuple(STALL_CAUSES)}")
            found = self._codes[cause] = len(self._causes)
            self._causes.append(cause)
        return found

    def record(self, key: int, sample: int, code: int, start: int, end: int) -> None:
        """Record [start, end) of stage ``key`` on ``sample``: busy (``code`` = ``BUSY``) or
        a stall (a cause's ``code``); an empty interval is not recorded."""
        if end > start:
            self._data.extend((key, sample, code, start, end))

    def busy(self, stage: str, layer: str, sample: int, start: int, end: int) -> None:
        """Record ``stage`` working on ``layer`` for ``sample`` during [start, end) cycles."""
        self.record(self.key(stage, layer), sample, BUSY, int(start), int(end))

    def stall(self, stage: str, layer: str, sample: int, start: int, end: int, cause: str) -> None:
        """Record ``stage`` waiting during [start, end) cycles because of ``cause``."""
        self.record(self.key(stage, layer), sample, self.code(cause), int(start), int(end))

    def __len__(self) -> int:
        return len(self._data) // 5

    def summed(self) -> dict[str, np.ndarray]:
        """Cycles summed per (stage, layer, sample, kind, cause), in order of first appearance,
        from the integer records: the columns of ``timing.result.TOTAL_COLUMNS`` (text as
        object arrays), what ``summarise_intervals`` gives of ``to_frame`` (tested)."""
        rows = self._rows()
        key, sample, code = rows[:, 0], rows[:, 1], rows[:, 2]
        # One integer per (key, sample, code): a key is one (stage, layer), a code one (kind,
        # cause).
        n_samples = int(sample.max()) + 1 if len(sample) else 1
        group = (key * n_samples + sample) * len(self._causes) + code
        _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
        sums = np.zeros(len(first), np.int64)
        np.add.at(sums, inverse.ravel(), rows[:, 4] - rows[:, 3])
        order = np.argsort(first, kind="stable")
        head = first[order]
        g_key, g_code = key[head], code[head]
        return {
            "stage": np.array(self._stages, dtype=object)[g_key],
            "layer": np.array(self._layers, dtype=object)[g_key],
            "sample": sample[head],
            "kind": np.array(["busy", "stall"], dtype=object)[(g_code != BUSY).astype(np.int64)],
            "cause": np.array(self._causes, dtype=object)[g_code],
            "cycles": sums[order],
        }

    def _rows(self) -> np.ndarray:
        """The records as int64 [intervals, 5] (key, sample, code, start, end)."""
        if not self._data:
            return np.zeros((0, 5), np.int64)
        return np.frombuffer(self._data, dtype=np.int64).reshape(-1, 5)

    def to_frame(self) -> pd.DataFrame:
        """Intervals as a tidy DataFrame (integer cycles), in the order they were recorded."""
        rows = self._rows()
        key, code = rows[:, 0], rows[:, 2]
        stages = np.array(self._stages, dtype=object)
        layers = np.array(self._layers, dtype=object)
        kinds = np.array(["busy", "stall"], dtype=object)
        causes = np.array(self._causes, dtype=object)
        return pd.DataFrame(
            {
                "stage": text_array(stages[key]),
                "layer": text_array(layers[key]),
                "sample": rows[:, 1].copy(),
                "kind": text_array(kinds[(code != BUSY).astype(np.int64)]),
                "cause": text_array(causes[code]),
                "start_cycles": rows[:, 3].copy(),
                "end_cycles": rows[:, 4].copy(),
            },
            columns=list(INTERVAL_COLUMNS),
        )
