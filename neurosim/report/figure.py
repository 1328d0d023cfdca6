"""What every figure shares: the caption line saying the numbers are modelled and where they
come from, energy units chosen from the values, ticks chosen from the values, labels placed so
they never overlap, and saving.

Imports ``_files`` (atomic writes) and ``errors``. matplotlib's Agg backend only, imported on
the first figure (``pyplot``): commands that draw nothing do not pay its ~0.3 s import.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from neurosim._files import atomic_write
from neurosim.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MODELLED = "modelled estimates"
"""Words every caption starts with: each hardware figure is a model's estimate."""

CAPTION_KEYS = ("model", "scheme", "hw", "energy_table")
"""Caption fields, in order (missing ones are left out)."""


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def caption_text(info: Mapping[str, Any] | None) -> str:
    """``modelled estimates · model digits_cnn · scheme if T=8 · hw pe_array · energy table
    horowitz_45nm``; ``info`` values may be strings or dicts with a ``name``."""
    parts = [MODELLED]
    for key in CAPTION_KEYS:
        value = (info or {}).get(key)
        if isinstance(value, Mapping):
            value = value.get("name")
        if value:
            parts.append(f"{key.replace('_', ' ')} {value}")
    overrides = (info or {}).get("hw_overrides")
    if overrides:
        parts.append("with " + ", ".join(f"{k}={v}" for k, v in dict(overrides).items()))
    return " · ".join(parts)


def add_caption(fig: Figure, info: Mapping[str, Any] | None) -> None:
    """The caption line under the figure (``caption_text``)."""
    fig.text(0.01, 0.005, caption_text(info), fontsize=7, color="#495057", ha="left", va="bottom")


def energy_scale(values_pj: Sequence[float]) -> tuple[float, str]:
    """(divisor, unit) that shows pJ values in nJ, or µJ from 1 µJ up."""
    finite = [abs(v) for v in values_pj if v is not None and math.isfinite(v)]
    top = max(finite, default=0.0)
    return (1e6, "µJ") if top >= 1e6 else (1e3, "nJ")


def value_ticks(ax: Axes, values: Sequence[float], *, axis: str = "x") -> None:
    """Ticks from the values of a swept axis: a log scale when they are positive and span 8×
    or more, linear otherwise; at most 12 distinct values get a tick each, labelled with the
    value itself (``0.8``, ``12.8`` — never ``2^k``); integer values get integer ticks only."""
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

    distinct = sorted({float(v) for v in values if math.isfinite(float(v))})
    if not distinct:
        return
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    target = ax.xaxis if axis == "x" else ax.yaxis
    if distinct[0] > 0 and distinct[-1] / distinct[0] >= 8:
        set_scale("log")
    integer = all(v == int(v) for v in distinct)
    if len(distinct) <= 12:
        target.set_major_locator(FixedLocator(distinct))
        target.set_minor_locator(NullLocator())
        labels = [f"{int(v)}" if integer else f"{v:g}" for v in distinct]
        (ax.set_xticks if axis == "x" else ax.set_yticks)(distinct, labels)
    elif integer:
        target.set_major_locator(MaxNLocator(integer=True))


def _overlaps(box, boxes) -> bool:
    return any(box.overlaps(b) for b in boxes)


OFFSETS = tuple(
    (round(r * math.cos(a), 1), round(r * math.sin(a), 1))
    for r in (6, 14, 24, 36, 52, 72)
    for a in (math.radians(d) for d in (30, -30, 150, -150, 90, -90, 0, 180))
)
"""Candidate label offsets (points) tried in order, nearest first."""


def place_labels(
    ax: Axes, points: Sequence[tuple[float, float]], texts: Sequence[str], *, fontsize: float = 6
) -> list[Any]:
    """Annotate each point with its text at the first offset (``OFFSETS``) where the label's box
    overlaps no label placed before and stays inside the axes; a label with no free place is
    numbered and listed in a note under the axes instead. Returns the annotations."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    placed: list[Any] = []
    boxes: list[Any] = []
    unplaced: list[str] = []
    for (x, y), text in zip(points, texts, strict=True):
        for dx, dy in OFFSETS:
            ann = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=fontsize,
                ha="left" if dx >= 0 else "right",
                va="bottom" if dy >= 0 else "top",
                arrowprops={"arrowstyle": "-", "color": "#adb5bd", "lw": 0.5}
                if abs(dx) + abs(dy) > 20
                else None,
            )
            box = ann.get_window_extent(renderer)
            if (
                not _overlaps(box, boxes)
                and (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0)
                and box.y1 <= inside.y1
            ):
                placed.append(ann)
                boxes.append(box)
                break
            ann.remove()
        else:
            unplaced.append(text)
    if unplaced:
        ax.text(
            0.0,
            -0.22,
            "not labelled for lack of room: " + "; ".join(unplaced),
            transform=ax.transAxes,
            fontsize=fontsize,
            va="top",
        )
    return placed


def save(fig: Figure, path: str | os.PathLike, pdf: bool = False) -> Path:
    """Render ``fig`` to ``path`` (PNG, 120 dpi; the suffix picks the format) and, with
    ``pdf``, beside it as PDF; everything outside the axes (legends, caption) is kept. Each
    file is written atomically (ConfigError naming it if it cannot be)."""
    path = Path(path)
    try:
        for target, fmt, dpi in (
            (path, path.suffix[1:].lower() or "png", 120),
            *(((path.with_suffix(".pdf"), "pdf", None),) if pdf else ()),
        ):
            buf = io.BytesIO()
            try:
                fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
            except ValueError as exc:
                raise ConfigError(f"{target}: cannot save a plot in this format: {exc}") from None
            atomic_write(target, buf.getvalue())
    finally:
        pyplot().close(fig)
    return path
