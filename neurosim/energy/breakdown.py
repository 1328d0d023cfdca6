"""The ``EnergyBreakdown`` value, the component and column names of its rows, default widths.

Imports nothing from neurosim. ``neurosim.energy`` documents what each component counts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

MODES = ("full", "paper")
"""``full``: every component; ``paper``: synaptic ops and first-layer MACs only."""

COMPONENTS = (
    "synaptic",
    "first_layer_macs",
    "neuron_updates",
    "reset",
    "amplification",
    "compares",
    "alignment",
    "tgim_mixing",
    "leak",
    "sram",
    "dram",
    "noc",
    "static",
)
"""Energy components, in report order."""

PAPER_COMPONENTS = ("synaptic", "first_layer_macs")
"""Components kept by ``mode="paper"``."""

ALL_LAYERS = "(all layers)"
"""``layer`` of rows not attributable to one layer (static power; traffic without a per-layer
split)."""

DEFAULT_WEIGHT_BITS = 8
"""Weight width without a hardware config: the int8 weights neurosim converts (MT-SNN App. C)."""

DEFAULT_MEMBRANE_BITS = 32
"""Membrane width without a config or neuron spec (``ir.NeuronSpec.mem_bits`` default)."""

PER_LAYER_COLUMNS = ("layer", "component", "count", "unit", "energy_pj_per_unit", "energy_pj")
"""Columns of ``EnergyBreakdown.per_layer`` (tidy: one row per layer and component)."""

ANN_COLUMNS = ("layer", "macs", "act_bits", "weight_bits", "energy_pj_per_mac", "energy_pj")
"""Columns of ``EnergyBreakdown.ann_per_layer``."""


@dataclass(frozen=True, eq=False)
class EnergyBreakdown:
    """SNN energy per inference by layer and component, with the quantized-ANN baseline."""

    rows: tuple[Mapping[str, Any], ...]
    """The rows of ``per_layer``, one dict each."""
    totals: Mapping[str, float]
    """Component → pJ per inference (components with at least one row)."""
    total_pj: float
    """E_SNN: sum of ``per_layer.energy_pj`` (pJ per inference)."""
    ann_rows: tuple[Mapping[str, Any], ...]
    """The rows of ``ann_per_layer``, one dict each."""
    ann_total_pj: float
    """E_ANN = Σ_l E_MAC^l · FLOPS_ANN^l (pJ per inference)."""
    ratio: float
    """E_ANN / E_SNN = ann_total_pj / total_pj (NaN, undefined, when E_SNN = 0). In ``full``
    mode E_SNN includes memory, NoC and static energy while E_ANN is compute only;
    ``paper_ratio`` is the like-for-like figure."""
    paper_pj: float
    """Synaptic ops + first-layer MACs (pJ per inference), whatever the mode: the papers' E_SNN."""
    paper_ratio: float
    """E_ANN / ``paper_pj``, the ratio of MT-SNN Table 7 (NaN, undefined, when ``paper_pj`` = 0)."""
    opf: float | None
    """SWS eq. 10 operations per frame of a TSA network, encoder excluded; None otherwise."""
    opf_encoder: float | None
    """Encoder spikes × fan-out per frame (reported apart from ``opf``); None if not TSA."""
    mode: str
    """``full`` or ``paper``."""
    table: str
    """Name of the energy table used."""
    assumptions: Mapping[str, str] = field(default_factory=dict)
    """The modelling choices in force (widths, multilevel cost, SRAM class, …), for reports."""

    @functools.cached_property
    def per_layer(self) -> pd.DataFrame:
        """Tidy rows (``PER_LAYER_COLUMNS``), per inference: energy_pj = count ×
        energy_pj_per_unit (built from ``rows`` on first use: a sweep point never needs it)."""
        return _frame(self.rows, PER_LAYER_COLUMNS)

    @functools.cached_property
    def ann_per_layer(self) -> pd.DataFrame:
        """The quantized-ANN baseline per conv/linear layer (``ANN_COLUMNS``; MT-SNN eq.
        22-23), built from ``ann_rows`` on first use."""
        return _frame(self.ann_rows, ANN_COLUMNS)

    def to_frame(self) -> pd.DataFrame:
        """One row: totals, the ANN baseline, the ratio, OPF and ``energy_<component>_pj``."""
        row: dict[str, Any] = {
            "energy_table": self.table,
            "energy_mode": self.mode,
            "energy_pj": self.total_pj,
            "ann_energy_pj": self.ann_total_pj,
            "energy_ratio": self.ratio,
            "paper_energy_pj": self.paper_pj,
            "paper_energy_ratio": self.paper_ratio,
            "opf": math.nan if self.opf is None else self.opf,
            "opf_encoder": math.nan if self.opf_encoder is None else self.opf_encoder,
        }
        for comp in COMPONENTS:
            row[f"energy_{comp}_pj"] = float(self.totals.get(comp, 0.0))
        return pd.DataFrame([row])


def _frame(rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows (dicts) as a frame, built column by column (a tenth of the time pandas takes to
    read a list of dicts; a sweep builds two per point)."""
    return pd.DataFrame({c: [r[c] for r in rows] for c in columns}, columns=list(columns))
