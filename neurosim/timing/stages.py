"""Busy/stall bookkeeping for SimPy stages: every wait is recorded with its cause.

Imports nothing from neurosim. Time is integer cycles; a stage is a string (e.g. ``conv1.pe``
or ``core3``). Causes: ``memory``, ``dependency``, ``backpressure``, ``link``, ``barrier``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pandas as pd
import simpy

STALL_CAUSES = ("memory", "dependency", "backpressure", "link", "barrier")
"""Why a stage waited: DRAM data (memory), an upstream result (dependency), a full output
buffer (backpressure), a NoC link (link), or a time-step barrier (barrier)."""

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
            raise ValueError(f"unknown stall cause {cause!r}; allowed: {STALL_CAUSES}")
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
