"""Busy/stall bookkeeping for SimPy stages: every wait is recorded with its cause.

Imports nothing from neurosim. Time is integer cycles; a stage is a string (e.g. ``conv1.pe``
or ``core3``). Causes: ``memory``, ``dependency``, ``backpressure``, ``link``, ``barrier``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import simpy


@dataclass(frozen=True)
class StallCause:
    """One reason a stage waits: its name (``stall_<name>_cycles`` in every table), what it
    means, and its colour in timeline plots."""

    name: str
    description: str
    colour: str


class StallCauses:
    """The stall-cause registry: a sequence of names in report order, extensible at run time.

    Every table (per stage, per layer, sweep metrics) and plot derives its stall columns from
    it, so a timing model that records a newly registered cause is reported everywhere.
    """

    def __init__(self, causes: tuple[StallCause, ...]) -> None:
        self._causes: dict[str, StallCause] = {}
        for cause in causes:
            self.register(cause)

    def register(self, cause: StallCause) -> StallCause:
        if not cause.name or not cause.name.isidentifier() or cause.name != cause.name.lower():
            raise ValueError(f"stall causes are lower-case identifiers, got {cause.name!r}")
        if cause.name in self._causes:
            raise ValueError(f"stall cause {cause.name!r} is registered already")
        self._causes[cause.name] = cause
        return cause

    def unregister(self, name: str) -> None:
        self._causes.pop(name, None)

    def get(self, name: str) -> StallCause:
        return self._causes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._causes))

    def __contains__(self, name: object) -> bool:
        return name in self._causes

    def __len__(self) -> int:
        return len(self._causes)

    def __repr__(self) -> str:
        return f"StallCauses({tuple(self._causes)})"


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


@contextlib.contextmanager
def registered_cause(cause: StallCause) -> Iterator[StallCause]:
    """Register a stall cause for the duration of a ``with`` block (tests, extensions)."""
    STALL_CAUSES.register(cause)
    try:
        yield cause
    finally:
        STALL_CAUSES.unregister(cause.name)


def stall_columns() -> tuple[str, ...]:
    """``stall_<cause>_cycles`` for every registered cause, in report order."""
    return tuple(f"stall_{c}_cycles" for c in STALL_CAUSES)


INTERVAL_COLUMNS = ("stage", "layer", "sample", "kind", "cause", "start_cycles", "end_cycles")


class StageLog:
    """Collects (stage, layer, sample, kind, cause, start, end) intervals in plain lists."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, str, str, int, int]] = []

    def busy(self, stage: str, layer: str, sample: int, start: int, end: int) -> None:
        """Record ``stage`` working on ``layer`` for ``sample`` during [start, end) cycles."""
        if end > start:
            self.rows.append((stage, layer, sample, "busy", "", int(start), int(end)))

    def stall(self, stage: str, layer: str, sample: int, start: int, end: int, cause: str) -> None:
        """Record ``stage`` waiting during [start, end) cycles because of ``cause``."""
        if cause not in STALL_CAUSES:
            raise ValueError(f"unknown stall cause {cause!r}; allowed: {tuple(STALL_CAUSES)}")
        if end > start:
            self.rows.append((stage, layer, sample, "stall", cause, int(start), int(end)))

    def work(
        self, env: simpy.Environment, stage: str, layer: str, sample: int, cycles: int
    ) -> Generator[Any, Any, None]:
        """Process step: be busy for ``cycles`` (an int) and record it."""
        start = env.now
        if cycles > 0:
            yield env.timeout(int(cycles))
        self.busy(stage, layer, sample, start, env.now)

    def get(
        self,
        env: simpy.Environment,
        store: simpy.Store,
        stage: str,
        layer: str,
        sample: int,
        cause: str,
    ) -> Generator[Any, Any, Any]:
        """Take an item from ``store``; time spent waiting is a stall with ``cause``."""
        start = env.now
        item = yield store.get()
        self.stall(stage, layer, sample, start, env.now, cause)
        return item

    def put(
        self,
        env: simpy.Environment,
        store: simpy.Store,
        item: Any,
        stage: str,
        layer: str,
        sample: int,
    ) -> Generator[Any, Any, None]:
        """Put ``item`` into ``store``; time blocked on a full store is backpressure."""
        start = env.now
        yield store.put(item)
        self.stall(stage, layer, sample, start, env.now, "backpressure")

    def to_frame(self) -> pd.DataFrame:
        """Intervals as a tidy DataFrame (integer cycles)."""
        return pd.DataFrame(self.rows, columns=list(INTERVAL_COLUMNS))
