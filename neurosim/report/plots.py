"""Result plots: the pipeline timeline, energy and cycles per layer, and the scheme trade-offs.

Imports ``timing`` (result type, stall-cause registry) and ``report.figure``. Each plot has a
``*_figure`` function returning the matplotlib figure (tests read its texts and boxes) and a
``plot_*`` function saving it; every figure carries the caption of ``figure.caption_text``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim.report.figure import add_caption, energy_scale, place_labels, pyplot, save
from neurosim.timing.result import TimingResult
from neurosim.timing.stages import STALL_CAUSES

BUSY_COLOUR = "#2b8a3e"
"""Colour of busy time in the pipeline timeline (each stall cause has its own colour)."""

NON_COMPUTE_COMPONENTS = ("sram", "dram", "noc", "static")
"""Energy components that are not arithmetic (left out of the right panel of the energy plot)."""

MAX_TIMELINE_ROWS = 60
"""Most stage rows a timeline draws; beyond, stages are aggregated into one row per layer."""

Info = Mapping[str, Any] | None


def _colour(kind: str) -> str:
    """Colour of busy time or of a stall cause (``timing.stages.STALL_CAUSES``)."""
    return BUSY_COLOUR if kind == "busy" else STALL_CAUSES.get(kind).colour


def timeline_rows(result: TimingResult, max_rows: int = MAX_TIMELINE_ROWS) -> tuple[str, list]:
    """(``"stage"`` or ``"layer"``, row names): one row per stage when they fit in
    ``max_rows``, else one per layer (every layer is always shown)."""
    iv = result.intervals
    stages = list(dict.fromkeys(iv["stage"]))
    if len(stages) <= max_rows:
        return "stage", stages
    return "layer", list(dict.fromkeys(iv["layer"]))


def timeline_figure(
    result: TimingResult, *, title: str | None = None, info: Info = None, max_rows: int = 60
):
    """The pipeline timeline: one row per stage or core, busy and stall intervals coloured.

    With more than ``max_rows`` stages, each row is a layer with its stages drawn over each
    other (stalls first, busy on top, so a row is green wherever one of its stages works),
    and the figure says so. The x axis is cycles (µs on top); the legend sits outside the data.
    """
    iv = result.intervals
    if iv.empty:
        raise ValueError("the timing result has no intervals to plot")
    by, rows = timeline_rows(result, max_rows)
    row = {name: i for i, name in enumerate(rows)}
    fig, ax = pyplot().subplots(figsize=(11, max(2.5, 0.22 * len(rows) + 1.8)))
    kind = iv["kind"].where(iv["kind"] == "busy", iv["cause"])
    for key in [*(c for c in STALL_CAUSES), "busy"]:
        grp = iv[kind == key]
        if grp.empty:
            continue
        for name, sgrp in grp.groupby(by, sort=False):
            spans = list(
                zip(sgrp["start_cycles"], sgrp["end_cycles"] - sgrp["start_cycles"], strict=True)
            )
            ax.broken_barh(spans, (row[name] - 0.4, 0.8), facecolors=_colour(key))
    ax.set_yticks(range(len(rows)), rows, fontsize=7 if len(rows) <= 40 else 6)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("time (cycles)")
    n_stages = iv["stage"].nunique()
    ax.set_ylabel("stage / core" if by == "stage" else "layer (its stages aggregated)")
    freq = result.frequency_mhz
    sec = ax.secondary_xaxis("top", functions=(lambda c: c / freq, lambda u: u * freq))
    sec.set_xlabel("time (µs)")
    ax.set_title(
        title
        or f"{result.family} pipeline: {result.num_samples} sample(s), "
        f"latency {result.latency_cycles} cycles ({result.latency_us:.4g} µs)",
        fontsize=10,
    )
    if by == "layer":
        ax.text(
            0.0,
            1.0 + 0.9 / max(3.0, fig.get_figheight()),
            f"{n_stages} stages aggregated into {len(rows)} layer rows (busy drawn over stalls)",
            transform=ax.transAxes,
            fontsize=7,
            color="#495057",
        )
    rect = pyplot().Rectangle
    handles = [rect((0, 0), 1, 1, color=BUSY_COLOUR, label="busy")] + [
        rect((0, 0), 1, 1, color=_colour(c), label=f"stall: {c}") for c in STALL_CAUSES
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    add_caption(fig, info)
    return fig


def plot_timeline(
    result: TimingResult,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    info: Info = None,
    max_stages: int = MAX_TIMELINE_ROWS,
) -> Path:
    """Save ``timeline_figure`` to ``path``."""
    return save(timeline_figure(result, title=title, info=info, max_rows=max_stages), path)


def energy_by_layer_figure(
    per_layer: pd.DataFrame, *, title: str = "Energy per layer", info: Info = None
):
    """Stacked bars of energy per inference per layer by component, in two panels (nJ or µJ).

    Left: every component. Right: the arithmetic components alone (memory, NoC and static
    energy left out), which the memory share would otherwise hide. ``per_layer`` is tidy:
    columns ``layer``, ``component``, ``energy_pj``.
    """
    wide = per_layer.pivot_table(
        index="layer", columns="component", values="energy_pj", aggfunc="sum", sort=False
    ).fillna(0.0)
    wide = wide.loc[:, wide.sum(axis=0) > 0]
    colours = {c: pyplot().get_cmap("tab20")(i % 20) for i, c in enumerate(wide.columns)}
    compute = wide.loc[:, [c for c in wide.columns if c not in NON_COMPUTE_COMPONENTS]]
    compute = compute.loc[compute.sum(axis=1) > 0]
    fig, axes = pyplot().subplots(1, 2, figsize=(2 * max(5, 0.45 * len(wide) + 2.5), 4.8))
    for ax, data, sub in (
        (axes[0], wide, "all components"),
        (axes[1], compute, "arithmetic only (no memory, NoC, static)"),
    ):
        scale, unit = energy_scale(data.sum(axis=1).tolist())
        bottom = np.zeros(len(data))
        for comp in data.columns:
            ax.bar(data.index, data[comp] / scale, bottom=bottom, label=comp, color=colours[comp])
            bottom += data[comp].to_numpy() / scale
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.set_xlabel("layer")
        ax.set_title(sub, fontsize=9)
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        if len(data.columns):
            ax.legend(fontsize=7, title="component", title_fontsize=7)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    add_caption(fig, info)
    return fig


def plot_energy_by_layer(
    per_layer: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str = "Energy per layer",
    pdf: bool = False,
    info: Info = None,
) -> Path:
    """Save ``energy_by_layer_figure`` to ``path``."""
    return save(energy_by_layer_figure(per_layer, title=title, info=info), path, pdf)


def latency_by_layer_figure(
    per_layer: pd.DataFrame, *, title: str = "Cycles per layer", info: Info = None
):
    """Stacked bars per layer: busy and stall cycles by cause (``TimingResult.per_layer()``)."""
    df = per_layer.set_index("layer")
    cols = ["busy_cycles"] + [c for c in df.columns if c.startswith("stall_") and df[c].sum() > 0]
    fig, ax = pyplot().subplots(figsize=(max(6, 0.45 * len(df) + 3), 4.8))
    bottom = np.zeros(len(df))
    for c in cols:
        key = "busy" if c == "busy_cycles" else c[len("stall_") : -len("_cycles")]
        ax.bar(
            df.index,
            df[c],
            bottom=bottom,
            color=_colour(key),
            label="busy" if key == "busy" else f"stall: {key}",
        )
        bottom += df[c].to_numpy()
    ax.set_ylabel("cycles (all stages of the layer, whole stream)")
    ax.set_xlabel("layer")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    add_caption(fig, info)
    return fig


def plot_latency_by_layer(
    per_layer: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str = "Cycles per layer",
    pdf: bool = False,
    info: Info = None,
) -> Path:
    """Save ``latency_by_layer_figure`` to ``path``."""
    return save(latency_by_layer_figure(per_layer, title=title, info=info), path, pdf)


def tradeoffs_figure(
    table: pd.DataFrame, *, title: str = "Schemes and time-steps", info: Info = None
):
    """Two panels over the rows of a comparison table: accuracy vs latency, energy (nJ or µJ)
    vs latency; each scheme's points joined in latency order and labelled with their setting
    where the label overlaps nothing (``figure.place_labels``).

    Needs columns ``setting``, ``scheme``, ``latency_us``, ``accuracy``, ``energy_pj``.
    """
    ok = table.dropna(subset=["latency_us"]).sort_values("latency_us", kind="stable")
    scale, unit = energy_scale(ok["energy_pj"].tolist())
    fig, (a1, a2) = pyplot().subplots(1, 2, figsize=(12, 5))
    for scheme, grp in ok.groupby("scheme", sort=False):
        a1.plot(grp["latency_us"], grp["accuracy"], "o-", label=scheme, markersize=4)
        a2.plot(grp["latency_us"], grp["energy_pj"] / scale, "o-", label=scheme, markersize=4)
    a1.set_xlabel("latency per inference (µs)")
    a1.set_ylabel("accuracy (fraction correct)")
    a1.set_title("accuracy vs latency", fontsize=10)
    a2.set_xlabel("latency per inference (µs)")
    a2.set_ylabel(f"SNN energy per inference ({unit})")
    a2.set_title("energy vs latency", fontsize=10)
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.margins(0.15)
    if ok.empty:
        for a in (a1, a2):
            a.text(
                0.5,
                0.5,
                "no setting has a latency (see the table's errors)",
                ha="center",
                transform=a.transAxes,
                fontsize=8,
            )
    else:
        a2.legend(
            fontsize=7, title="scheme", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1)
        )
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    labels = ok["setting"].astype(str).tolist()
    place_labels(a1, list(zip(ok["latency_us"], ok["accuracy"], strict=True)), labels)
    place_labels(a2, list(zip(ok["latency_us"], ok["energy_pj"] / scale, strict=True)), labels)
    add_caption(fig, info)
    return fig


def plot_tradeoffs(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str = "Schemes and time-steps",
    pdf: bool = False,
    info: Info = None,
) -> Path:
    """Save ``tradeoffs_figure`` to ``path``."""
    return save(tradeoffs_figure(table, title=title, info=info), path, pdf)
