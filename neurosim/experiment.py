"""One evaluation of a model under a scheme on a hardware config, and the papers' comparison table.

Imports the whole flow (convert, functional, hw, mapping, timing, energy, qann). Used by
``neurosim run`` and ``neurosim table``; a setting that cannot run becomes a row with its error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurosim import convert, energy, functional, ir, mapping, qann, timing
from neurosim.errors import NeurosimError
from neurosim.hw.energy_table import load_energy_table
from neurosim.trace import Trace

TABLE_SETTINGS: tuple[tuple[str, Mapping[str, int]], ...] = (
    *(("if", {"num_steps": t}) for t in (4, 8, 16, 32)),
    ("mtif", {}),
    *(("sws", {"coding_steps": tc, "silent_steps": ts}) for tc in (4, 8) for ts in (1, 2)),
    *(("lmht", {"num_steps": t, "num_levels": lv}) for t in (1, 2, 4) for lv in (2, 4)),
)
"""The settings ``neurosim table`` compares (one row each), after the papers' tables."""

TABLE_COLUMNS = (
    "setting", "scheme", "status", "error", "accuracy", "ann_accuracy", "ann_agreement",
    "mean_time_steps", "latency_cycles", "latency_us", "throughput_sps", "stall_cycles",
    "energy_pj", "compute_energy_pj", "ann_energy_pj", "energy_ratio", "spikes_per_inference",
    "synaptic_ops_per_inference", "opf",
)
"""Columns of the comparison table (units in the names; energies per inference).

``energy_pj`` is the whole system (compute, neurons, SRAM, DRAM, NoC, static);
``compute_energy_pj`` is the papers' E_SNN (synaptic ops + first-layer MACs) and
``energy_ratio`` = ``ann_energy_pj`` / ``compute_energy_pj``, the like-for-like E_ANN/E_SNN of
MT-SNN Table 7 (both sides compute only)."""


def setting_label(scheme: str, options: Mapping[str, int]) -> str:
    """Readable name of a setting, e.g. ``sws Tc=8 Ts=2``."""
    names = {"num_steps": "T", "coding_steps": "Tc", "silent_steps": "Ts", "num_levels": "L"}
    parts = [f"{names.get(k, k)}={v}" for k, v in options.items()]
    if scheme == "mtif" and "num_steps" not in options:
        parts.append("T=learned")
    return " ".join([scheme, *parts])


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything one setting produced: the row and the values behind it."""

    row: dict[str, object]
    network: ir.Network | None = None
    trace: Trace | None = None
    timing: timing.TimingResult | None = None
    energy: energy.EnergyBreakdown | None = None


def evaluate(net: ir.Network, images: np.ndarray, labels: np.ndarray | None, scheme: str,
             options: Mapping[str, object], config, *, stream: int = 16,
             batch_size: int = 256, reference: qann.QannResult | None = None,
             progress: Callable[[int], None] | None = None) -> Evaluation:
    """Convert, simulate (all images), time a stream of ``stream`` samples and estimate energy.

    Op counts and accuracy come from every image; latency, stalls and memory/NoC traffic from
    the timed stream (the functional pass runs on it again with spikes kept, which is cheap).
    """
    ref = reference if reference is not None else qann.forward(net, images)
    snn = convert.convert(net, scheme, **options)
    tr = functional.run(snn, images, batch_size=batch_size, keep_spikes=False,
                        progress=progress)
    n = max(1, min(stream, len(images)))
    timed = functional.run(snn, images[:n], batch_size=batch_size)
    result = timing.simulate(mapping.compile(snn, config), timed, config, num_samples=n)
    table = load_energy_table(config.energy_table)
    eb = energy.estimate(tr, table, network=snn, timing=result, hw=config, ann=net)
    row = {
        "scheme": scheme,
        "accuracy": _accuracy(tr.predictions, labels),
        "ann_accuracy": _accuracy(ref.predictions, labels),
        "ann_agreement": float(np.mean(tr.predictions == ref.predictions)),
        "mean_time_steps": convert.mean_time_steps(snn),
        "spikes_per_image": tr.per_sample("spikes"),
        "synaptic_ops_per_image": tr.per_sample("synaptic_ops"),
        "first_layer_macs_per_image": tr.per_sample("first_layer_macs"),
        "hw": config.meta.name,
        "latency_cycles": result.latency_cycles,
        "latency_us": result.latency_us,
        "throughput_sps": result.throughput_sps,
        "stall_cycles": result.stall_cycles,
        "energy_pj": eb.total_pj,
        "compute_energy_pj": eb.paper_pj,
        "ann_energy_pj": eb.ann_total_pj,
        "energy_ratio": eb.paper_ratio,
        "opf": eb.opf if eb.opf is not None else math.nan,
    }
    return Evaluation(row=row, network=snn, trace=tr, timing=result, energy=eb)


def _accuracy(pred: np.ndarray, labels: np.ndarray | None) -> float:
    return float(np.mean(pred == labels)) if labels is not None else math.nan


def comparison_table(net: ir.Network, images: np.ndarray, labels: np.ndarray | None, config,
                     *, settings: Sequence[tuple[str, Mapping[str, int]]] = TABLE_SETTINGS,
                     stream: int = 4, batch_size: int = 256,
                     progress: Callable[[int], None] | None = None
                     ) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """The papers' comparison: one row per scheme / time-step setting (``TABLE_COLUMNS``).

    A setting the model cannot run (e.g. input codes that need more coding steps) becomes a
    row with ``status = "error"`` and the message; the others go on.
    """
    ref = qann.forward(net, images)
    rows, evals = [], {}
    for scheme, options in settings:
        label = setting_label(scheme, options)
        try:
            ev = evaluate(net, images, labels, scheme, options, config, stream=stream,
                          batch_size=batch_size, reference=ref, progress=progress)
        except NeurosimError as exc:
            rows.append({"setting": label, "scheme": scheme, "status": "error",
                         "error": str(exc)})
            if progress is not None:
                progress(len(images))
            continue
        r = ev.row
        rows.append({"setting": label, "scheme": scheme, "status": "ok", "error": "",
                     **{k: r[k] for k in TABLE_COLUMNS if k in r},
                     "spikes_per_inference": r["spikes_per_image"],
                     "synaptic_ops_per_inference": r["synaptic_ops_per_image"]})
        evals[label] = ev
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    df["error"] = df["error"].fillna("")
    return df, evals
