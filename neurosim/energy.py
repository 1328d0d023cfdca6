"""Energy per inference: op counts × energy per op + traffic × energy per byte (+ static power).

Imports ``ir``, ``trace``, ``hw`` (the energy table) and ``errors``; a ``TimingResult`` is read
through its fields (``traffic``, ``layer_traffic``, ``num_samples``, ``makespan_cycles``,
``frequency_mhz``). Every component is a count from the ``Trace`` (or the timing traffic) times
one table energy; ``EnergyBreakdown.per_layer`` shows both factors.

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

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neurosim import families, ir, schemes
from neurosim.errors import ConfigError, ModelError
from neurosim.hw.config import reuse_key
from neurosim.hw.energy_table import EnergyTable, load_energy_table
from neurosim.trace import LayerTrace, Trace

if TYPE_CHECKING:
    from neurosim.hw.config import HwConfig
    from neurosim.timing.result import TimingResult

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


def _add(table: EnergyTable, bits: int) -> float:
    return table.op_energy("add", bits)


NEURON_OPS: tuple[tuple[str, str, str, Callable[[EnergyTable, int], float], bool], ...] = (
    ("neuron_updates", "neuron_updates", "adds", _add, False),
    ("spikes", "reset", "subtracts", _add, True),
    ("amplifications", "amplification", "shifts", lambda t, b: t.op_energy("shift", b), False),
    ("compares", "compares", "compares", lambda t, b: t.op_energy("compare", b), False),
    ("alignment_ops", "alignment", "adds", _add, False),
    ("tgim_macs", "tgim_mixing", "MACs", lambda t, b: t.op_energy("mult", b) + _add(t, b), False),
    ("leak_mults", "leak", "mults", lambda t, b: t.op_energy("mult", b), False),
)
"""Neuron-side trace ops and how each is priced at the membrane width: (op, component, unit,
energy per unit from the table and the width, counted for spiking layers only). ``spikes`` of
a spiking layer are its resets (one subtract each); the encoder's spikes are not resets."""

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
    """E_ANN / E_SNN = ann_total_pj / total_pj (inf when E_SNN = 0). In ``full`` mode E_SNN
    includes memory, NoC and static energy while E_ANN is compute only; ``paper_ratio`` is the
    like-for-like figure."""
    paper_pj: float
    """Synaptic ops + first-layer MACs (pJ per inference), whatever the mode: the papers' E_SNN."""
    paper_ratio: float
    """E_ANN / ``paper_pj``, the ratio of MT-SNN Table 7 (inf when ``paper_pj`` = 0)."""
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


# --------------------------------------------------------------------------------------------
# Paper formulas (pure functions, for known-answer tests and reports)
# --------------------------------------------------------------------------------------------


def conv_flops(out_size: int, in_channels: int, kernel: int, out_channels: int) -> int:
    """FLOPS_ANN = O²·N·k²·M of a conv layer (MT-SNN eq. 22, after Panda et al. 2020)."""
    return int(out_size) ** 2 * int(in_channels) * int(kernel) ** 2 * int(out_channels)


def mt_snn_eq23(
    flops_ann: float | Sequence[float],
    firing_rates: float | Sequence[float],
    time_steps: int | Sequence[int],
    act_bits: int | Sequence[int],
    table: EnergyTable,
    *,
    weight_bits: int = DEFAULT_WEIGHT_BITS,
) -> tuple[float, float]:
    """(E_SNN, E_ANN) in pJ by MT-SNN eq. 22-23, one value (or sequence entry) per layer.

    E_SNN = E_AC · Σ_l T_l · FLOPS_ANN^l · f_r^l with E_AC = E_add(weight_bits) (T_l inside the
    sum: it varies per layer); E_ANN = Σ_l E_MAC(act_bits^l) · FLOPS_ANN^l with
    E_MAC(n) = E_mult(n × weight_bits) + E_add(weight_bits) = 0.025·n + 0.03 pJ by default.
    """
    flops, rates, steps, bits = np.broadcast_arrays(
        np.atleast_1d(np.asarray(flops_ann, dtype=np.float64)),
        np.atleast_1d(np.asarray(firing_rates, dtype=np.float64)),
        np.atleast_1d(np.asarray(time_steps, dtype=np.float64)),
        np.atleast_1d(np.asarray(act_bits)),
    )
    e_ac = table.op_energy("add", weight_bits)
    e_snn = e_ac * float(np.sum(steps * flops * rates))
    e_ann = sum(
        table.mac_energy(int(b), weight_bits) * float(f)
        for b, f in zip(bits.tolist(), flops.tolist(), strict=True)
    )
    return e_snn, float(e_ann)


def sws_opf(
    coding_steps: int,
    silent_steps: int,
    num_tsa_neurons: int,
    spikes: Sequence[Sequence[float]],
    fan_out: Sequence[float],
) -> float:
    """SWS eq. 10: OPF = (Tc + Ts)·N_TSA + Σ_l Σ_τ f_out^l · n^l(τ).

    ``spikes[l]`` holds layer l's spike counts n^l(τ) over its firing window
    τ ∈ [Ts·l + 1, Ts·l + Tc] and ``fan_out[l]`` its fan-out f_out^l.
    """
    syn = sum(float(f) * float(np.sum(n)) for n, f in zip(spikes, fan_out, strict=True))
    return (int(coding_steps) + int(silent_steps)) * int(num_tsa_neurons) + syn


# --------------------------------------------------------------------------------------------
# estimate
# --------------------------------------------------------------------------------------------


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
    ann_total = _column_sum(ann_rows, "energy_pj")
    paper = sum(totals.get(c, 0.0) for c in PAPER_COMPONENTS)
    opf, opf_encoder = ctx.opf()
    return EnergyBreakdown(
        rows=tuple(rows),
        totals=totals,
        total_pj=total,
        ann_rows=tuple(ann_rows),
        ann_total_pj=ann_total,
        ratio=ann_total / total if total > 0 else math.inf,
        paper_pj=paper,
        paper_ratio=ann_total / paper if paper > 0 else math.inf,
        opf=opf,
        opf_encoder=opf_encoder,
        mode=mode,
        table=table.name,
        assumptions=ctx.assumptions(),
    )


def _column_sum(rows: Sequence[Mapping[str, Any]], column: str) -> float:
    """Σ of a column as its frame's ``sum()`` gives it (numpy's pairwise float64 sum)."""
    return float(np.asarray([r[column] for r in rows], np.float64).sum())


def _frame(rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows (dicts) as a frame, built column by column (a tenth of the time pandas takes to
    read a list of dicts; a sweep builds two per point)."""
    return pd.DataFrame({c: [r[c] for r in rows] for c in columns}, columns=list(columns))


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


class _Context:
    """Widths, sources and table look-ups shared by the rows of one ``estimate`` call."""

    def __init__(
        self, trace: Trace, table: EnergyTable, network: ir.Network, hw: Any, ann: ir.Network | None
    ) -> None:
        self.trace = trace
        self.table = table
        self.net = network
        self.hw = hw
        self.ann = ann
        self.batch = max(int(trace.batch_size), 1)
        datapath = getattr(hw, "datapath", None)
        self.weight_bits = int(datapath.weight_bits) if datapath else DEFAULT_WEIGHT_BITS
        self.hw_membrane_bits = int(datapath.membrane_bits) if datapath else None
        self.multilevel = str(getattr(getattr(hw, "pe", None), "multilevel", "repeat"))
        self.prices: dict[str, float] = {}
        """Per-unit memory and NoC energies, kept with the memo entry (they need no timing)."""

    # -- widths and graph --------------------------------------------------------------------
    def membrane_bits(self, lay: ir.Layer) -> int:
        if self.hw_membrane_bits is not None:
            return self.hw_membrane_bits
        neuron = getattr(lay, "neuron", None)
        if neuron is not None:
            return int(neuron.mem_bits)
        return int(self.trace.meta.get("mem_bits", DEFAULT_MEMBRANE_BITS))

    def _spike_levels(self, src: ir.Layer) -> int:
        """Largest level of one spike the producer ``src`` emits (1: binary or ternary)."""
        if isinstance(src, ir.Input):
            return 1
        lt = self._trace_layer(src.name)
        return 1 if lt is None else int(lt.spike_levels)

    def _trace_layer(self, name: str) -> LayerTrace | None:
        for lt in self.trace.layers:
            if lt.name == name:
                return lt
        return None

    def _act_levels(self, lay: ir.Layer) -> int:
        """Largest level of the activation a producer emits (ANN levels Q, or the input codes)."""
        if isinstance(lay, ir.Input):
            return int(lay.levels)
        if self.ann is not None:
            src = self.ann.layer(lay.name)
            act = getattr(src, "act", None)
            if act is not None:
                return int(act.levels)
        neuron = getattr(lay, "neuron", None)
        if neuron is not None:
            return int(neuron.max_level)
        act = getattr(lay, "act", None)
        if act is not None:
            return int(act.levels)
        raise ModelError(
            f"layer '{lay.name}' ({lay.op}) feeds a conv/linear layer but has no "
            f"activation or neuron: its activation width is unknown"
        )

    # -- rows --------------------------------------------------------------------------------
    def _row(
        self, layer: str, component: str, count: float, unit: str, per_unit: float
    ) -> dict[str, Any]:
        return {
            "layer": layer,
            "component": component,
            "count": float(count),
            "unit": unit,
            "energy_pj_per_unit": float(per_unit),
            "energy_pj": float(count) * per_unit,
        }

    def layer_rows(self, lt: LayerTrace, mode: str) -> list[dict[str, Any]]:
        lay = self.net.layer(lt.name)
        table, name, out = self.table, lt.name, []

        def per(op: str) -> float:
            return lt.total(op) / self.batch

        wbits = self.weight_bits
        if "synaptic_ops" in lt.ops:
            sources = self.net.spike_sources(lay.name)
            levels = [lv for lv in map(self._spike_levels, sources) if lv > 1]
            if self.multilevel == "multiply" and levels:
                level_bits = max(levels).bit_length()
                out.append(
                    self._row(
                        name,
                        "synaptic",
                        per("synaptic_ops"),
                        "events",
                        table.mac_energy(level_bits, wbits),
                    )
                )
            else:
                key = "synaptic_ac_equiv" if "synaptic_ac_equiv" in lt.ops else "synaptic_ops"
                out.append(
                    self._row(name, "synaptic", per(key), "ACs", table.op_energy("add", wbits))
                )
        if "first_layer_macs" in lt.ops:
            in_bits = int(self.net.input.levels).bit_length()
            out.append(
                self._row(
                    name,
                    "first_layer_macs",
                    per("first_layer_macs"),
                    "MACs",
                    table.mac_energy(in_bits, wbits),
                )
            )
        if mode == "paper":
            return out
        mbits = self.membrane_bits(lay)
        for op, component, unit, price, spiking_only in NEURON_OPS:
            if op in lt.ops and (ir.is_spiking(lay) or not spiking_only):
                out.append(self._row(name, component, per(op), unit, price(table, mbits)))
        return out

    def sram_buffer_bytes(self) -> int:
        """Size that selects the SRAM class: the largest on-chip buffer of the config.

        ``TimingResult`` reports SRAM bytes summed over all buffers, so one class prices them
        all; the largest buffer's class is the conservative choice.
        """
        if self.hw is None:
            raise ConfigError(
                "SRAM traffic needs the hardware config (hw=...): the buffer size "
                "selects the SRAM energy per byte"
            )
        return families.of(self.hw).sram_class_bytes(self.hw)

    def price(self, component: str) -> float:
        """Energy per byte (SRAM, DRAM) or per bit-hop (NoC), computed once per memo entry."""
        if component not in self.prices:
            if component == "sram":
                value = self.table.sram_energy_per_byte(self.sram_buffer_bytes())
            elif component == "dram":
                value = self.table.dram_energy_per_byte()
            else:
                value = self.table.noc_energy_per_bit_hop()
            self.prices[component] = value
        return self.prices[component]

    def traffic_rows(self, timing: TimingResult) -> list[dict[str, Any]]:
        n = max(int(timing.num_samples), 1)
        frame = timing.layer_traffic
        if frame is None or len(frame) == 0:
            frame = pd.DataFrame([{"layer": ALL_LAYERS, **dict(timing.traffic)}])
        groups = (
            ("sram", ("sram_read_bytes", "sram_write_bytes"), "bytes"),
            ("dram", ("dram_read_bytes", "dram_write_bytes"), "bytes"),
            ("noc", ("noc_bit_hops",), "bit_hops"),
        )
        out = []
        for comp, keys, unit in groups:
            present = [k for k in keys if k in frame.columns]
            if not present:
                continue
            per_unit = self.price(comp)
            counts = sum(frame[k].to_numpy(np.float64) for k in present) / n
            for layer, count in zip(frame["layer"].tolist(), counts.tolist(), strict=True):
                out.append(self._row(str(layer), comp, count, unit, per_unit))
        return out

    def static_rows(self, timing: TimingResult) -> list[dict[str, Any]]:
        static = self.table.static
        if static is None:
            return []
        if self.hw is None:
            raise ConfigError(
                "static power needs the hardware config (hw=...) for the number of units "
                "that draw it"
            )
        cores = families.of(self.hw).static_units(self.hw)
        cycles = timing.makespan_cycles / max(int(timing.num_samples), 1)
        # P (mW) · t (s) = P·t mJ = P·t·1e9 pJ, with t = cycles / (f_MHz·1e6): 1e3·P/f per cycle.
        per_cycle = static.power_mw_per_core * cores * 1e3 / float(timing.frequency_mhz)
        return [self._row(ALL_LAYERS, "static", cycles, "cycles", per_cycle)]

    def ann_rows(self) -> list[dict[str, Any]]:
        """MT-SNN eq. 22-23 per conv/linear layer: dense MACs at the input activation width."""
        rows = []
        for lay in self.net.layers:
            if not isinstance(lay, ir.Conv2d | ir.Linear):
                continue
            macs = int(np.prod(self.net.shapes[lay.name])) * int(np.prod(lay.weight.shape[1:]))
            src = self.net.producer(lay.inputs[0])[0]
            bits = self._act_levels(src).bit_length()
            e_mac = self.table.mac_energy(bits, self.weight_bits)
            rows.append(
                {
                    "layer": lay.name,
                    "macs": macs,
                    "act_bits": bits,
                    "weight_bits": self.weight_bits,
                    "energy_pj_per_mac": e_mac,
                    "energy_pj": macs * e_mac,
                }
            )
        return rows

    def opf(self) -> tuple[float | None, float | None]:
        """(OPF, the encoder's term) where the trace's scheme defines them (SWS eq. 10)."""
        found = schemes.get(self.trace.scheme).opf(self.trace, self.net)
        return (None, None) if found is None else found

    def assumptions(self) -> dict[str, str]:
        out = {
            "weight_bits": str(self.weight_bits),
            "membrane_bits": (
                str(self.hw_membrane_bits)
                if self.hw_membrane_bits is not None
                else "per neuron spec (mem_bits)"
            ),
            "synaptic": (
                "LM-HT level-k events: one low-bit multiply-accumulate"
                if self.multilevel == "multiply"
                else "ACs = Σ level × fan-out (an LM-HT level-k spike is k ACs)"
            ),
            "shift": "costed as an add of membrane width unless the table lists 'shift'",
            "compare": "costed as an add of membrane width unless the table lists 'compare'",
            "alignment": str(self.trace.meta.get("alignment_cost", "alg1_average_currents")),
            "ann_activation_width": (
                "ANN act.levels"
                if self.ann is not None
                else "neuron.max_level of the converted layers"
            ),
        }
        if self.hw is not None and hasattr(self.hw, "family"):
            try:
                out["sram_class_bytes"] = str(self.sram_buffer_bytes())
            except (AttributeError, ConfigError):
                pass
        return out
