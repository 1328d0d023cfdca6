"""Reports: tidy tables (CSV, Markdown, LaTeX, terminal) and plots that take results, never
recompute.

``tables`` (formats, significant digits, provenance footers and sidecars), ``figure`` (caption,
units, ticks, label placement, saving), ``plots`` (timeline, per-layer energy and cycles,
trade-offs) and ``sweep_plots`` (Pareto front, axis effects). Every figure and file says that
its hardware figures are modelled and where they come from.
"""

from neurosim.report.figure import MODELLED, caption_text
from neurosim.report.plots import (
    BUSY_COLOUR,
    NON_COMPUTE_COMPONENTS,
    energy_by_layer_figure,
    latency_by_layer_figure,
    plot_energy_by_layer,
    plot_latency_by_layer,
    plot_timeline,
    plot_tradeoffs,
    timeline_figure,
    timeline_rows,
    tradeoffs_figure,
)
from neurosim.report.sweep_plots import (
    axis_effects_figure,
    pareto_figure,
    plot_axis_effects,
    plot_pareto,
)
from neurosim.report.tables import (
    DEFAULT_DIGITS,
    EXPORT_FORMATS,
    export_table,
    json_payload,
    significant,
    terminal_table,
    to_latex,
    to_markdown,
    with_totals,
    write_sidecar,
)

__all__ = [
    "BUSY_COLOUR",
    "DEFAULT_DIGITS",
    "EXPORT_FORMATS",
    "MODELLED",
    "NON_COMPUTE_COMPONENTS",
    "axis_effects_figure",
    "caption_text",
    "energy_by_layer_figure",
    "export_table",
    "json_payload",
    "latency_by_layer_figure",
    "pareto_figure",
    "plot_axis_effects",
    "plot_energy_by_layer",
    "plot_latency_by_layer",
    "plot_pareto",
    "plot_timeline",
    "plot_tradeoffs",
    "significant",
    "terminal_table",
    "timeline_figure",
    "timeline_rows",
    "to_latex",
    "to_markdown",
    "tradeoffs_figure",
    "with_totals",
    "write_sidecar",
]
