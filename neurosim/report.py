"""Reports: tidy tables (CSV, Markdown, LaTeX) and plots that take results, never recompute.

Imports ``timing`` (result type, stall causes), ``_files`` and ``errors``. Plots use
matplotlib's Agg backend and carry titles, axis units and legends; files are written
atomically.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from neurosim._files import atomic_write
from neurosim.errors import ConfigError
from neurosim.timing.result import TimingResult
from neurosim.timing.stages import STALL_CAUSES

BUSY_COLOUR = "#2b8a3e"
"""Colour of busy time in the pipeline timeline (each stall cause has its own colour)."""


def _colour(kind: str) -> str:
    """Colour of busy time or of a stall cause (``timing.stages.STALL_CAUSES``)."""
    return BUSY_COLOUR if kind == "busy" else STALL_CAUSES.get(kind).colour


NON_COMPUTE_COMPONENTS = ("sram", "dram", "noc", "static")
"""Energy components that are not arithmetic (left out of the right panel of the energy plot)."""

LABEL_OFFSETS = (3, -9, 12, -15)
"""Vertical offsets (points) cycled over a scheme's point labels so neighbours do not overlap."""


def plot_timeline(
    result: TimingResult, path: str | os.PathLike, *, title: str | None = None, max_stages: int = 60
) -> Path:
    """Save the pipeline timeline: one row per stage or core, busy and stall intervals coloured.

    The x axis is cycles (and µs on a second axis); at most ``max_stages`` rows are drawn,
    the busiest first, in pipeline order.
    """
    iv = result.intervals
    if iv.empty:
        raise ValueError("the timing result has no intervals to plot")
    stages = list(dict.fromkeys(iv["stage"]))
    if len(stages) > max_stages:
        busy = (
            iv.assign(c=iv["end_cycles"] - iv["start_cycles"])
            .groupby("stage")["c"]
            .sum()
            .sort_values(ascending=False)
        )
        keep = set(busy.index[:max_stages])
        stages = [s for s in stages if s in keep]
    row = {s: i for i, s in enumerate(stages)}
    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.28 * len(stages) + 1.5)))
    for key, grp in iv[iv["stage"].isin(row)].groupby(
        iv["kind"].where(iv["kind"] == "busy", iv["cause"])
    ):
        colour = _colour(key)
        for stage, sgrp in grp.groupby("stage"):
            spans = list(
                zip(sgrp["start_cycles"], sgrp["end_cycles"] - sgrp["start_cycles"], strict=True)
            )
            ax.broken_barh(spans, (row[stage] - 0.4, 0.8), facecolors=colour)
    ax.set_yticks(range(len(stages)), stages, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time (cycles)")
    ax.set_ylabel("stage / core")
    freq = result.frequency_mhz
    sec = ax.secondary_xaxis("top", functions=(lambda c: c / freq, lambda u: u * freq))
    sec.set_xlabel("time (µs)")
    ax.set_title(
        title
        or f"{result.family} pipeline: {result.num_samples} sample(s), "
        f"latency {result.latency_cycles} cycles ({result.latency_us:.2f} µs)"
    )
    handles = [Patch(color=BUSY_COLOUR, label="busy")] + [
        Patch(color=_colour(c), label=f"stall: {c}") for c in STALL_CAUSES
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    return _save(fig, path, pdf=False)


# --------------------------------------------------------------------------------------------
# Table export
# --------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A cell as text that parses back to the same value (floats by their shortest repr)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def to_markdown(df: pd.DataFrame) -> str:
    """GitHub Markdown table; numbers written so they parse back exactly."""
    cols = [str(c) for c in df.columns]
    lines = [
        "| " + " | ".join(cols) + " |",
        "|"
        + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns)
        + "|",
    ]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame, *, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs ``tabular`` (in a ``table`` float when a caption is given)."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    body = [
        r"\begin{tabular}{" + align + "}",
        r"\toprule",
        " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    for row in df.itertuples(index=False):
        body.append(" & ".join(_latex_escape(_cell(v)) for v in row) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    if caption is None:
        return "\n".join(body) + "\n"
    head = [r"\begin{table}[t]", r"\centering", r"\caption{" + _latex_escape(caption) + "}"]
    if label:
        head.append(r"\label{" + label + "}")
    return "\n".join([*head, *body, r"\end{table}"]) + "\n"


EXPORT_FORMATS: Mapping[str, Callable[[pd.DataFrame], str]] = {
    "csv": lambda df: df.to_csv(index=False),
    "md": to_markdown,
    "tex": to_latex,
}
"""Report format registry: file suffix → writer."""


def export_table(
    df: pd.DataFrame,
    out_dir: str | os.PathLike,
    stem: str,
    formats: Iterable[str] = ("csv", "md", "tex"),
) -> list[Path]:
    """Write ``df`` as ``<stem>.<fmt>`` for each format, atomically; returns the paths."""
    paths = []
    for fmt in formats:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown report format {fmt!r}; allowed: {sorted(EXPORT_FORMATS)}")
        path = Path(out_dir) / f"{stem}.{fmt}"
        paths.append(atomic_write(path, EXPORT_FORMATS[fmt](df).encode()))
    return paths


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _save(fig: plt.Figure, path: str | os.PathLike, pdf: bool) -> Path:
    """Render ``fig`` to ``path`` (its suffix picks the format; PNG without one) and, with
    ``pdf``, beside it as PDF; each file written atomically (ConfigError if it cannot be)."""
    path = Path(path)
    try:
        fig.tight_layout()
        for target, fmt, dpi in (
            (path, path.suffix[1:].lower() or "png", 120),
            *(((path.with_suffix(".pdf"), "pdf", None),) if pdf else ()),
        ):
            buf = io.BytesIO()
            try:
                fig.savefig(buf, format=fmt, dpi=dpi)
            except ValueError as exc:
                raise ConfigError(f"{target}: cannot save a plot in this format: {exc}") from None
            atomic_write(target, buf.getvalue())
    finally:
        plt.close(fig)
    return path


def plot_energy_by_layer(
    per_layer: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str = "Energy per layer",
    pdf: bool = False,
) -> Path:
    """Stacked bars of energy per inference (pJ) per layer by component, in two panels.

    Left: every component. Right: the arithmetic components alone (memory, NoC and static
    energy left out), which the memory share would otherwise hide. ``per_layer`` is tidy:
    columns ``layer``, ``component``, ``energy_pj``.
    """
    wide = per_layer.pivot_table(
        index="layer", columns="component", values="energy_pj", aggfunc="sum", sort=False
    ).fillna(0.0)
    wide = wide.loc[:, wide.sum(axis=0) > 0]
    colours = {c: plt.get_cmap("tab20")(i % 20) for i, c in enumerate(wide.columns)}
    compute = wide.loc[:, [c for c in wide.columns if c not in NON_COMPUTE_COMPONENTS]]
    compute = compute.loc[compute.sum(axis=1) > 0]
    fig, axes = plt.subplots(1, 2, figsize=(2 * max(5, 0.45 * len(wide) + 2.5), 4.5))
    for ax, data, sub in (
        (axes[0], wide, "all components"),
        (axes[1], compute, "arithmetic only (no memory, NoC, static)"),
    ):
        bottom = np.zeros(len(data))
        for comp in data.columns:
            ax.bar(data.index, data[comp], bottom=bottom, label=comp, color=colours[comp])
            bottom += data[comp].to_numpy()
        ax.set_ylabel("energy per inference (pJ)")
        ax.set_xlabel("layer")
        ax.set_title(sub, fontsize=9)
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        if len(data.columns):
            ax.legend(fontsize=7, title="component", title_fontsize=7)
    fig.suptitle(title)
    return _save(fig, path, pdf)


def plot_latency_by_layer(
    per_layer: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str = "Cycles per layer",
    pdf: bool = False,
) -> Path:
    """Stacked bars per layer: busy and stall cycles by cause (``TimingResult.per_layer()``)."""
    df = per_layer.set_index("layer")
    cols = ["busy_cycles"] + [c for c in df.columns if c.startswith("stall_") and df[c].sum() > 0]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(df) + 3), 4.5))
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
    ax.legend(fontsize=7)
    return _save(fig, path, pdf)


def plot_tradeoffs(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str = "Schemes and time-steps",
    pdf: bool = False,
) -> Path:
    """Two panels over the rows of a comparison table: accuracy vs latency, energy vs latency.

    Needs columns ``setting``, ``scheme``, ``latency_us``, ``accuracy``, ``energy_pj``.
    """
    ok = table.dropna(subset=["latency_us"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for scheme, grp in ok.groupby("scheme", sort=False):
        a1.plot(grp["latency_us"], grp["accuracy"], "o-", label=scheme)
        a2.plot(grp["latency_us"], grp["energy_pj"], "o-", label=scheme)
        for i, (_, r) in enumerate(grp.iterrows()):
            offset = (3, LABEL_OFFSETS[i % len(LABEL_OFFSETS)])
            a1.annotate(
                r["setting"],
                (r["latency_us"], r["accuracy"]),
                fontsize=6,
                xytext=offset,
                textcoords="offset points",
            )
            a2.annotate(
                r["setting"],
                (r["latency_us"], r["energy_pj"]),
                fontsize=6,
                xytext=offset,
                textcoords="offset points",
            )
    a1.set_xlabel("latency per inference (µs)")
    a1.set_ylabel("accuracy (fraction correct)")
    a1.set_title("accuracy vs latency")
    a2.set_xlabel("latency per inference (µs)")
    a2.set_ylabel("SNN energy per inference (pJ)")
    a2.set_title("energy vs latency")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=7, title="scheme", title_fontsize=7)
    fig.suptitle(title)
    return _save(fig, path, pdf)


# --------------------------------------------------------------------------------------------
# Sweep plots
# --------------------------------------------------------------------------------------------

_UNITS = {
    "latency_us": "latency per inference (µs)",
    "energy_pj": "energy per inference (pJ)",
    "latency_cycles": "latency per inference (cycles)",
    "throughput_sps": "throughput (samples/s)",
}


def plot_pareto(
    table: pd.DataFrame,
    front: pd.DataFrame,
    path: str | os.PathLike,
    *,
    x: str = "latency_us",
    y: str = "energy_pj",
    title: str = "Sweep",
    pdf: bool = False,
) -> Path:
    """Every successful point of a sweep in the (``x``, ``y``) plane, the Pareto front joined
    and labelled with point indices (columns ``point``, ``x``, ``y``)."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.scatter(table[x], table[y], s=14, color="#adb5bd", label="point")
    if not front.empty:
        ax.plot(front[x], front[y], "o-", color="#e03131", markersize=5, label="Pareto front")
        for _, r in front.iterrows():
            ax.annotate(
                str(r["point"]), (r[x], r[y]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
    for col, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        vals = pd.to_numeric(table[col], errors="coerce").dropna()
        if len(vals) and (vals > 0).all() and vals.max() / vals.min() > 30:
            setter("log")
    ax.set_xlabel(_UNITS.get(x, x))
    ax.set_ylabel(_UNITS.get(y, y))
    ax.set_title(f"{title}: Pareto front ({len(front)} of {len(table)} points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path, pdf)


def plot_axis_effects(
    table: pd.DataFrame,
    axes: Iterable[str],
    path: str | os.PathLike,
    *,
    metrics: tuple[str, str] = ("latency_us", "energy_pj"),
    title: str = "Sweep",
    pdf: bool = False,
) -> Path:
    """One row per swept axis, one column per metric: every point (grey) against the axis
    value and the median per value (line). Numeric axes spanning more than 8× use a log x;
    other axes (strings, booleans) are categories in the order they appear."""
    axes = list(axes)
    fig, grid = plt.subplots(
        len(axes), len(metrics), figsize=(5.2 * len(metrics), 2.8 * len(axes) + 0.6), squeeze=False
    )
    for row, axis in zip(grid, axes, strict=True):
        values = table[axis]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric:
            xs = values.astype(float)
            order = sorted(set(xs))
            pos = xs
        else:
            order = list(dict.fromkeys(values.astype(str)))
            pos = values.astype(str).map({v: i for i, v in enumerate(order)})
        for ax, metric in zip(row, metrics, strict=True):
            ys = pd.to_numeric(table[metric], errors="coerce")
            ax.scatter(pos, ys, s=10, color="#adb5bd")
            med = ys.groupby(pos).median()
            ax.plot(med.index, med.to_numpy(), "o-", color="#1971c2", markersize=4, label="median")
            if numeric and min(order) > 0 and max(order) / min(order) >= 8:
                ax.set_xscale("log", base=2)
            if not numeric:
                ax.set_xticks(range(len(order)), order, fontsize=7)
            if (ys.dropna() > 0).all() and len(ys.dropna()) and ys.max() / ys.min() > 30:
                ax.set_yscale("log")
            ax.set_xlabel(axis)
            ax.set_ylabel(_UNITS.get(metric, metric))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}: effect of each axis")
    return _save(fig, path, pdf)
