"""Energy per inference: op counts × energy per op + traffic × energy per byte (+ static power).

Imports ``ir``, ``trace``, ``hw`` (the energy table), ``schemes``, ``families`` and ``errors``; a
``TimingResult`` is read through its fields (``traffic``, ``layer_traffic``, ``num_samples``,
``makespan_cycles``, ``frequency_mhz``). Every component is a count from the ``Trace`` (or the
timing traffic) times one table energy; ``EnergyBreakdown.per_layer`` shows both factors. This
``__init__`` holds ``estimate``; ``breakdown.py`` the result value and its names, ``rows.py``
the priced rows of one call, ``formulas.py`` the papers' formulas.

Components (pJ per inference = per sample):

===================  ========================================================  ===============
component            count                                                     energy per unit
===================  ========================================================  ===============
``synaptic``         ``synaptic_ac_equiv`` (ACs; = ``synaptic_ops`` for         E_add(weight
                     binary/ternary spikes, Σk·fan-out for LM-HT levels)       bits)
                     — or, with ``pe.multilevel = "multiply"`` and an LM-HT    E_MAC(⌈log2(L+1)⌉
                     source, ``synaptic_ops`` events                           × weight bits)
``first_layer_macs`` ``first_layer_macs``                                      E_MAC(input bits)
``neuron_updates``   ``neuron_updates``                                        E_add(membrane)
``reset``            ``spikes`` of a spiking layer (one subtract per spike)    E_add(membrane)
``amplification``    ``amplifications`` (TSA β-shifts)                         E_shift(membrane)
``compares``         ``compares``                                              E_compare(membr.)
``alignment``        ``alignment_ops`` (MT-SNN Alg. 1 adds)                    E_add(membrane)
``tgim_mixing``      T²·N (LM-HT with a trained, non-uniform Ω)                E_mult + E_add
``leak``             T·N (LM-HT with λ ≠ 1)                                    E_mult(membrane)
``sram``             SRAM read + write bytes (timing)                          pJ/byte of the
                                                                               largest buffer
``dram``             DRAM read + write bytes (timing)                          pJ/byte
``noc``              NoC bit-hops (timing)                                     pJ/(bit·hop)
``static``           makespan cycles per sample (timing)                       mW/core × cores
===================  ========================================================  ===============

``mode="paper"`` keeps ``synaptic`` and ``first_layer_macs`` only (MT-SNN eq. 23, SWS §4.3 and
LM-HT all count synaptic operations only). The quantized-ANN baseline (MT-SNN eq. 22-23) is
computed beside it: dense MACs of every conv/linear layer at the bit width of the activation
that feeds it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from neurosim import ir
from neurosim.energy.breakdown import (
    ALL_LAYERS,
    ANN_COLUMNS,
    COMPONENTS,
    DEFAULT_MEMBRANE_BITS,
    DEFAULT_WEIGHT_BITS,
    MODES,
    PAPER_COMPONENTS,
    PER_LAYER_COLUMNS,
    EnergyBreakdown,
)
from neurosim.energy.formulas import conv_flops, mt_snn_eq23, sws_opf
from neurosim.energy.rows import NEURON_OPS, _Context
from neurosim.errors import ConfigError, ModelError
from neurosim.hw.config import reuse_key
from neurosim.hw.energy_table import EnergyTable, load_energy_table
from neurosim.trace import Trace

if TYPE_CHECKING:
    from neurosim.hw.config import HwConfig
    from neurosim.timing.result import TimingResult

__all__ = [
    "ALL_LAYERS",
    "ANN_COLUMNS",
    "COMPONENTS",
    "DEFAULT_MEMBRANE_BITS",
    "DEFAULT_WEIGHT_BITS",
    "MODES",
    "NEURON_OPS",
    "PAPER_COMPONENTS",
    "PER_LAYER_COLUMNS",
    "EnergyBreakdown",
    "conv_flops",
    "estimate",
    "mt_snn_eq23",
    "sws_opf",
]


def estimate(
    trace: Trace,
    table: EnergyTable | str | os.PathLike,
    *,
    network: ir.Network,
    timing: TimingResult | None = None,
    hw: HwConfig | None = None,
    mode: str = "full",
    ann: ir.Network | None = None,
    memo: dict | None = None,
) -> EnergyBreakdown:
    """Energy per inference of a functional run, by layer and component, with the ANN baseline.

    Parameters
    ----------
    trace
        Op counts of the run (``functional.run``); counts are divided by ``trace.batch_size``.
    table
        An ``EnergyTable`` or a name/path for ``load_energy_table``.
    network
        The network the trace ran (the converted SNN) or its quantized ANN: both have the same
        layers. Gives the graph (whose spikes feed which layer), layer shapes and weights.
    timing
        A ``TimingResult``: its SRAM/DRAM bytes and NoC bit-hops (divided by ``num_samples``)
        become the ``sram``/``dram``/``noc`` components, and its makespan the ``static`` one
        when the table has a ``[static]`` entry.
    hw
        The hardware config: weight and membrane widths (``datapath``), the LM-HT synapse
        (``pe.multilevel``), buffer sizes (the SRAM size class) and core count (static power).
        Without it: 8-bit weights, each neuron spec's ``mem_bits``, ``multilevel = "repeat"``.
    mode
        ``full`` (every component) or ``paper`` (synaptic ops and first-layer MACs only).
    ann
        The quantized ANN the network was converted from, for the baseline's activation widths
        (⌈log2(levels+1)⌉ bits). Without it (and with an SNN ``network``) each spiking layer's
        ``neuron.max_level`` stands for its levels, which equals the ANN's Q for ``mtif`` with
        learned T^l, for ``sws`` when Q ≤ 2^Tc − 1 and for exact ``lmht`` (Q = T·L), but not
        for ``if`` with a fixed T.
    memo
        A dict the caller keeps for one (``trace``, ``network``, ``ann``): the per-layer op
        rows, the ANN baseline and the per-byte memory prices, which do not depend on
        ``timing``, are then computed once per table (by content), mode and the values of the
        config fields that declare an ``energy`` effect, and reused (a sweep's points share
        them).

    Returns
    -------
    EnergyBreakdown

    Raises
    ------
    ConfigError
        Unknown mode, or a table entry the counts need is missing (named by op and width).
    ModelError
        The trace has a layer the network lacks, or a layer's input activation width is unknown.
    """
    if mode not in MODES:
        raise ConfigError(f"energy mode must be one of {list(MODES)}, got {mode!r}")
    if not isinstance(table, EnergyTable):
        table = load_energy_table(table)
    _check_match(trace, network)
    if ann is not None and ann.kind != "qann":
        raise ModelError(f"ann must be a quantized ANN (kind 'qann'), got kind '{ann.kind}'")
    ctx = _Context(
        trace,
        table,
        network,
        hw,
        ann if ann is not None else (network if network.kind == "qann" else None),
    )
    # Equal tables (by content), modes and fields declaring an energy effect give the same
    # timing-independent rows and per-byte prices (hw.reuse_key).
    key = (table, mode, None if hw is None else reuse_key(hw, "energy"))
    entry = None if memo is None else memo.get(key)
    if entry is None:
        entry = {
            "op_rows": [r for lt in trace.layers for r in ctx.layer_rows(lt, mode)],
            "ann_rows": ctx.ann_rows(),
            "prices": {},
        }
        if memo is not None:
            memo[key] = entry
    op_rows, ann_rows = entry["op_rows"], entry["ann_rows"]
    ctx.prices = entry["prices"]
    rows: list[dict[str, Any]] = list(op_rows)
    if mode == "full" and timing is not None:
        rows.extend(ctx.traffic_rows(timing))
        rows.extend(ctx.static_rows(timing))
    # Summed from the rows, in row order, as the frame would sum them (pandas per component
    # cost ~20 ms per call, most of a sweep point); the frames are built on first use.
    sums: dict[str, float] = {}
    for r in rows:
        sums[r["component"]] = sums.get(r["component"], 0.0) + r["energy_pj"]
    totals = {c: float(sums[c]) for c in COMPONENTS if c in sums}
    total = _column_sum(rows, "energy_pj")
    # A per-event table without [[op]] entries has no MAC energy: no ANN baseline.
    ann_total = _column_sum(ann_rows, "energy_pj") if table.ops else math.nan
    paper = sum(totals.get(c, 0.0) for c in PAPER_COMPONENTS)
    # The ANN baseline is NaN, not a number, for a table without [[op]] entries (per event).
    if not all(math.isfinite(v) for v in (total, paper, *totals.values())) or math.isinf(ann_total):
        raise ConfigError(
            f"energy table '{table.name}': the energy per inference is not a finite number "
            f"(total {total:g} pJ, ANN {ann_total:g} pJ); check the table's entries"
        )
    opf, opf_encoder = ctx.opf()
    return EnergyBreakdown(
        rows=tuple(rows),
        totals=totals,
        total_pj=total,
        ann_rows=tuple(ann_rows),
        ann_total_pj=ann_total,
        ratio=ann_total / total if total > 0 else math.nan,
        paper_pj=paper,
        paper_ratio=ann_total / paper if paper > 0 else math.nan,
        opf=opf,
        opf_encoder=opf_encoder,
        mode=mode,
        table=table.name,
        assumptions=ctx.assumptions(),
    )


def _column_sum(rows: Sequence[Mapping[str, Any]], column: str) -> float:
    """Σ of a column as its frame's ``sum()`` gives it (numpy's pairwise float64 sum)."""
    return float(np.asarray([r[column] for r in rows], np.float64).sum())


def _check_match(trace: Trace, network: ir.Network) -> None:
    """ModelError unless every trace layer is a network layer of the same shape."""
    for lt in trace.layers:
        shape = network.shapes.get(lt.name)
        if shape is None or tuple(shape) != tuple(lt.shape):
            where = (
                "is missing from the network"
                if shape is None
                else f"has shape {tuple(lt.shape)} in the trace, {tuple(shape)} in the network"
            )
            raise ModelError(
                f"trace of '{trace.network}' does not match network "
                f"'{network.name}': layer '{lt.name}' {where}; pass the network "
                f"the trace was run on (or its quantized ANN)"
            )
