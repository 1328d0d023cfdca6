"""Sweep plots: the Pareto front and the effect of each swept axis.

Imports ``report.figure`` and ``metrics`` (units of the metric columns). Axis units come from
the caller (``sweep.save_plots`` reads them from the hardware field declarations).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from neurosim import metrics
from neurosim.report.figure import (
    add_caption,
    energy_scale,
    place_labels,
    pyplot,
    save,
    value_ticks,
)

Info = Mapping[str, object] | None

_NAMES = {
    "latency_us": "latency per inference",
    "latency_cycles": "latency per inference",
    "throughput_sps": "throughput",
    "energy_pj": "energy per inference",
}


def _scale(table: pd.DataFrame, col: str) -> tuple[float, str]:
    """(divisor, axis label with the unit) of a metric column (energy in nJ or µJ)."""
    name = _NAMES.get(col, col)
    if col.endswith("_pj"):
        scale, unit = energy_scale(pd.to_numeric(table[col], errors="coerce").dropna().tolist())
        return scale, f"{name} ({unit})"
    unit = metrics.unit(col)
    return 1.0, f"{name} ({unit})" if unit else name


def _scaled(table: pd.DataFrame, col: str) -> tuple[pd.Series, str]:
    """A metric column ready to plot and its axis label."""
    scale, label = _scale(table, col)
    return pd.to_numeric(table[col], errors="coerce") / scale, label


def pareto_figure(
    table: pd.DataFrame,
    front: pd.DataFrame,
    *,
    x: str = "latency_us",
    y: str = "energy_pj",
    title: str = "Sweep",
    info: Info = None,
):
    """Every successful point of a sweep in the (``x``, ``y``) plane, the Pareto front joined
    and labelled with point indices (columns ``point``, ``x``, ``y``)."""
    xs, xlabel = _scaled(table, x)
    ys, ylabel = _scaled(table, y)
    fig, ax = pyplot().subplots(figsize=(8, 5.5))
    ax.scatter(xs, ys, s=14, color="#adb5bd", label="point")
    if not front.empty:
        front = front.sort_values(x, kind="stable")
        fx = pd.to_numeric(front[x], errors="coerce") / _scale(table, x)[0]
        fy = pd.to_numeric(front[y], errors="coerce") / _scale(table, y)[0]
        ax.plot(fx, fy, "o-", color="#e03131", markersize=5, label="Pareto front")
    for col, values in ((x, xs), (y, ys)):
        v = values.dropna()
        if len(v) and (v > 0).all() and v.max() / v.min() > 30:
            (ax.set_xscale if col == x else ax.set_yscale)("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}: Pareto front ({len(front)} of {len(table)} points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    if not front.empty:
        points = list(zip(fx, fy, strict=True))
        place_labels(ax, points, [str(p) for p in front["point"]], fontsize=7)
    add_caption(fig, info)
    return fig


def plot_pareto(
    table: pd.DataFrame,
    front: pd.DataFrame,
    path: str | os.PathLike,
    *,
    x: str = "latency_us",
    y: str = "energy_pj",
    title: str = "Sweep",
    pdf: bool = False,
    info: Info = None,
) -> Path:
    """Save ``pareto_figure`` to ``path``."""
    return save(pareto_figure(table, front, x=x, y=y, title=title, info=info), path, pdf)


def axis_effects_figure(
    table: pd.DataFrame,
    axes: Iterable[str],
    *,
    metrics_shown: tuple[str, str] = ("latency_us", "energy_pj"),
    units: Mapping[str, str] | None = None,
    title: str = "Sweep",
    info: Info = None,
):
    """One row per swept axis, one column per metric: every point (grey) against the axis
    value and the median per value (line). Numeric axes get ticks at their values, on a log
    scale when they span 8× or more (``figure.value_ticks``; integer axes integer ticks);
    other axes (strings, booleans) are categories in the order they appear. ``units`` maps an
    axis to its unit, shown in the axis label."""
    axes = list(axes)
    units = units or {}
    fig, grid = pyplot().subplots(
        len(axes),
        len(metrics_shown),
        figsize=(5.2 * len(metrics_shown), 2.9 * len(axes) + 0.8),
        squeeze=False,
    )
    for row, axis in zip(grid, axes, strict=True):
        values = table[axis]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric:
            pos = values.astype(float)
            order: list = sorted(set(pos))
        else:
            order = list(dict.fromkeys(values.astype(str)))
            pos = values.astype(str).map({v: i for i, v in enumerate(order)})
        unit = units.get(axis, "")
        for ax, metric in zip(row, metrics_shown, strict=True):
            ys, ylabel = _scaled(table, metric)
            ax.scatter(pos, ys, s=10, color="#adb5bd")
            med = ys.groupby(pos).median().sort_index()
            ax.plot(med.index, med.to_numpy(), "o-", color="#1971c2", markersize=4, label="median")
            if numeric:
                value_ticks(ax, order)
            else:
                ax.set_xticks(range(len(order)), order, fontsize=7)
            v = ys.dropna()
            if len(v) and (v > 0).all() and v.max() / v.min() > 30:
                ax.set_yscale("log")
            ax.set_xlabel(f"{axis} ({unit})" if unit else f"{axis} (no unit)")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}: effect of each axis")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    add_caption(fig, info)
    return fig


def plot_axis_effects(
    table: pd.DataFrame,
    axes: Iterable[str],
    path: str | os.PathLike,
    *,
    metrics: tuple[str, str] = ("latency_us", "energy_pj"),
    units: Mapping[str, str] | None = None,
    title: str = "Sweep",
    pdf: bool = False,
    info: Info = None,
) -> Path:
    """Save ``axis_effects_figure`` to ``path``."""
    fig = axis_effects_figure(
        table, axes, metrics_shown=metrics, units=units, title=title, info=info
    )
    return save(fig, path, pdf)
