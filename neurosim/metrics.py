"""The metrics vocabulary: one name, unit and meaning per figure that ``run``, ``table``,
``sweep`` and the Python API report, and the row builders they share.

Imports ``timing`` (the stall-cause registry, ``TimingResult``) and ``errors``. Units are in
the names; every figure is per inference (one sample) unless its name says otherwise
(``_stream``, ``_share``). Stall-cause columns are derived from ``timing.STALL_CAUSES`` when
asked for, so a cause registered at run time is reported everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from neurosim.errors import ConfigError
from neurosim.timing.result import TimingResult
from neurosim.timing.stages import STALL_CAUSES


@dataclass(frozen=True)
class Metric:
    """One reported figure: its column name, unit (``""`` for a pure number) and meaning."""

    name: str
    unit: str
    doc: str


FUNCTIONAL = (
    Metric("accuracy", "", "fraction of samples classified correctly by the SNN"),
    Metric("ann_accuracy", "", "fraction classified correctly by the quantized ANN"),
    Metric("ann_agreement", "", "fraction of samples where SNN and quantized ANN agree"),
    Metric("mean_time_steps", "steps", "time-steps per inference, averaged over layers"),
    Metric("spikes_per_inference", "spikes", "spikes emitted per inference"),
    Metric("synaptic_ops_per_inference", "ops", "synaptic accumulates per inference"),
    Metric(
        "first_layer_macs_per_inference", "MACs", "first-layer multiply-accumulates per inference"
    ),
)
"""Hardware-independent figures (the functional pass over every sample)."""


def stall_share_column(cause: str) -> str:
    """Column of one cause's share of stage time, e.g. ``stall_memory_share``."""
    return f"stall_{cause}_share"


def stall_metric_columns() -> tuple[str, ...]:
    """The columns ``stall_metrics`` fills, in report order (one share per registered cause)."""
    return (
        "stall_cycles_per_sample",
        "stall_share",
        *(stall_share_column(c) for c in STALL_CAUSES),
    )


def hardware() -> tuple[Metric, ...]:
    """Per-hardware-point figures, with one share column per registered stall cause."""
    return (
        Metric("hw", "", "hardware config name"),
        Metric("latency_cycles", "cycles", "one sample from first input to last output"),
        Metric("latency_us", "µs", "latency_cycles at the config's clock"),
        Metric("throughput_sps", "samples/s", "steady-state samples per second of a stream"),
        Metric(
            "stall_cycles_per_sample",
            "cycles",
            "stall cycles of all stages (summed over stages, which overlap) per streamed sample",
        ),
        Metric("stall_share", "", "stall cycles / (busy + stall cycles), over all stages"),
        *(
            Metric(
                stall_share_column(c),
                "",
                f"share of stage time stalled {STALL_CAUSES.get(c).description}",
            )
            for c in STALL_CAUSES
        ),
        Metric("energy_pj", "pJ", "whole-system energy per inference (modelled)"),
        Metric("compute_energy_pj", "pJ", "the papers' E_SNN: synaptic ops + first-layer MACs"),
        Metric("ann_energy_pj", "pJ", "the quantized ANN's compute energy (E_ANN)"),
        Metric("energy_ratio", "", "ann_energy_pj / compute_energy_pj (E_ANN / E_SNN)"),
        Metric("opf", "", "operations per frame of the scheme, where it defines one"),
    )


def vocabulary() -> dict[str, Metric]:
    """Every shared metric by name (functional first, then hardware)."""
    return {m.name: m for m in (*FUNCTIONAL, *hardware())}


def columns() -> tuple[str, ...]:
    """The shared metric columns in report order (``run``'s and ``table``'s after their key)."""
    return tuple(vocabulary())


def unit(name: str) -> str:
    """The unit of a metric column (``""`` when it has none or is not in the vocabulary)."""
    m = vocabulary().get(name)
    return m.unit if m else ""


def stall_metrics(
    busy_cycles: int, stall_by_cause: Mapping[str, int], num_samples: int
) -> dict[str, float]:
    """Stalls as they read beside a per-sample latency.

    ``stall_cycles_per_sample`` = Σ stall cycles / ``num_samples``; ``stall_share`` = Σ stall /
    (``busy_cycles`` + Σ stall), and one ``stall_<cause>_share`` per registered cause with the
    same denominator (the shares add up to ``stall_share``). All sums run over every stage of
    the whole stream.
    """
    stalled = sum(int(v) for v in stall_by_cause.values())
    stage_time = int(busy_cycles) + stalled
    out = {
        "stall_cycles_per_sample": stalled / num_samples if num_samples else math.nan,
        "stall_share": stalled / stage_time if stage_time else 0.0,
    }
    for c in STALL_CAUSES:
        v = int(stall_by_cause.get(c, 0))
        out[stall_share_column(c)] = v / stage_time if stage_time else 0.0
    return out


def timing_stalls(result: TimingResult) -> dict[str, float]:
    """``stall_metrics`` of a timing result (busy and stall cycles summed from its cycles)."""
    sums = result.cycle_sums()
    return stall_metrics(sums.busy, sums.stall_by_cause, result.num_samples)


def hardware_row(hw_name: str, result: TimingResult, eb) -> dict[str, object]:
    """The hardware metrics of one point from its timing result and ``EnergyBreakdown``."""
    return {
        "hw": hw_name,
        "latency_cycles": result.latency_cycles,
        "latency_us": result.latency_us,
        "throughput_sps": result.throughput_sps,
        **timing_stalls(result),
        "energy_pj": eb.total_pj,
        "compute_energy_pj": eb.paper_pj,
        "ann_energy_pj": eb.ann_total_pj,
        "energy_ratio": eb.paper_ratio,
        "opf": eb.opf if eb.opf is not None else math.nan,
    }


PRESETS: Mapping[str, tuple[str, ...]] = {
    "brief": (
        "accuracy",
        "ann_agreement",
        "mean_time_steps",
        "latency_us",
        "throughput_sps",
        "stall_share",
        "energy_pj",
        "energy_ratio",
    ),
    "timing": ("latency_cycles", "latency_us", "throughput_sps", "stall_cycles_per_sample"),
    "energy": ("energy_pj", "compute_energy_pj", "ann_energy_pj", "energy_ratio", "opf"),
    "activity": ("mean_time_steps", "spikes_per_inference", "synaptic_ops_per_inference"),
}
"""Named column choices for terminal tables (``--columns``); ``stalls`` and ``all`` are
derived: the stall columns of the registered causes, and every column."""


def preset_names() -> tuple[str, ...]:
    return (*PRESETS, "stalls", "all")


def select(spec: str | None, available: Sequence[str], key: str) -> list[str]:
    """Columns for ``--columns``: a preset name (``preset_names()``) or a comma-separated list
    of column names, after the key column ``key`` (``scheme`` or ``setting``); ``None`` is the
    ``brief`` preset. Unknown names raise one ConfigError listing what is allowed."""
    spec = spec or "brief"
    if spec == "all":
        chosen: Sequence[str] = [c for c in available if c != key]
    elif spec == "stalls":
        chosen = stall_metric_columns()
    elif spec in PRESETS:
        chosen = PRESETS[spec]
    else:
        chosen = [c.strip() for c in spec.split(",") if c.strip()]
        unknown = [c for c in chosen if c not in available]
        if unknown or not chosen:
            raise ConfigError(
                f"--columns {spec!r}: unknown column(s) {unknown}; allowed: a preset "
                f"({', '.join(preset_names())}) or a comma-separated list of {', '.join(available)}"
            )
    return [key, *(c for c in chosen if c != key and c in available)]
