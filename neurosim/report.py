"""Reports: tidy tables and plots that take results and never recompute them.

Imports ``timing`` (for the result type and stall causes). Plots use matplotlib's Agg backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from neurosim.timing.result import TimingResult
from neurosim.timing.stages import STALL_CAUSES

TIMELINE_COLOURS = {
    "busy": "#2b8a3e",
    "memory": "#e8590c",
    "dependency": "#1971c2",
    "backpressure": "#c2255c",
    "link": "#9c36b5",
    "barrier": "#868e96",
}
"""Colour of busy time and of each stall cause in the pipeline timeline."""


def plot_timeline(result: TimingResult, path: str | os.PathLike, *, title: str | None = None,
                  max_stages: int = 60) -> Path:
    """Save the pipeline timeline: one row per stage or core, busy and stall intervals coloured.

    The x axis is cycles (and µs on a second axis); at most ``max_stages`` rows are drawn,
    the busiest first, in pipeline order.
    """
    iv = result.intervals
    if iv.empty:
        raise ValueError("the timing result has no intervals to plot")
    stages = list(dict.fromkeys(iv["stage"]))
    if len(stages) > max_stages:
        busy = (iv.assign(c=iv["end_cycles"] - iv["start_cycles"])
                .groupby("stage")["c"].sum().sort_values(ascending=False))
        keep = set(busy.index[:max_stages])
        stages = [s for s in stages if s in keep]
    row = {s: i for i, s in enumerate(stages)}
    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.28 * len(stages) + 1.5)))
    for key, grp in iv[iv["stage"].isin(row)].groupby(
            iv["kind"].where(iv["kind"] == "busy", iv["cause"])):
        colour = TIMELINE_COLOURS.get(key, "#000000")
        for stage, sgrp in grp.groupby("stage"):
            spans = list(zip(sgrp["start_cycles"], sgrp["end_cycles"] - sgrp["start_cycles"],
                             strict=True))
            ax.broken_barh(spans, (row[stage] - 0.4, 0.8), facecolors=colour)
    ax.set_yticks(range(len(stages)), stages, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time (cycles)")
    ax.set_ylabel("stage / core")
    freq = result.frequency_mhz
    sec = ax.secondary_xaxis("top", functions=(lambda c: c / freq, lambda u: u * freq))
    sec.set_xlabel("time (µs)")
    ax.set_title(title or f"{result.family} pipeline: {result.num_samples} sample(s), "
                 f"latency {result.latency_cycles} cycles ({result.latency_us:.2f} µs)")
    handles = [Patch(color=TIMELINE_COLOURS["busy"], label="busy")] + [
        Patch(color=TIMELINE_COLOURS[c], label=f"stall: {c}") for c in STALL_CAUSES]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
