"""The rows of one ``estimate`` call: each layer's op counts, traffic and static power priced.

Imports ``ir``, ``trace``, ``hw`` (the energy table), ``schemes`` (OPF), ``families`` (SRAM class,
static units), ``errors`` and ``energy.breakdown``; a ``TimingResult`` is read through its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neurosim import families, ir, schemes
from neurosim.energy.breakdown import ALL_LAYERS, DEFAULT_MEMBRANE_BITS, DEFAULT_WEIGHT_BITS
from neurosim.errors import ConfigError, ModelError
from neurosim.hw.energy_table import EnergyTable
from neurosim.trace import LayerTrace, Trace

if TYPE_CHECKING:
    from neurosim.timing.result import TimingResult


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
        if table.prices_core_ops:
            return self._core_op_rows(lt, lay)
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

    def _core_op_rows(self, lt: LayerTrace, lay: ir.Layer) -> list[dict[str, Any]]:
        """A per-event table: each synaptic operation (one synapse read and accumulate) at
        the table's ``synaptic_op`` energy (``synaptic_op_linear`` for a linear layer), and a
        direct-coded first layer's MACs at the same price (assumption: one synaptic
        operation per multi-bit input and fan-out). Neuron, message and hop events come from
        the timing model (``traffic_rows``)."""
        out = []
        op = "synaptic_op_linear" if isinstance(lay, ir.Linear) else "synaptic_op"
        price = self.table.core_op(op).energy_pj
        for key, component in (
            ("synaptic_ops", "synaptic"),
            ("first_layer_macs", "first_layer_macs"),
        ):
            if key in lt.ops:
                count = lt.total(key) / self.batch
                out.append(self._row(lt.name, component, count, f"{op}s", price))
        return out

    def _core_event_rows(self, frame: pd.DataFrame, n: int) -> list[dict[str, Any]]:
        """Neuron, spike, message and hop events of a multi-core timing result, each at its
        ``[[core_op]]`` energy (a per-event table prices synapse memory inside
        ``synaptic_op``: no SRAM or bit-hop rows)."""
        if "neuron_steps" not in frame.columns:
            raise ConfigError(
                f"energy table '{self.table.name}' prices a multi-core chip's events "
                f"([[core_op]]); this timing result does not count them (family "
                f"{getattr(self.hw, 'family', None)!r}): use a table with [[op]] and "
                f"[[memory]] entries"
            )
        t = self.table
        inactive = frame["neuron_steps"] - frame["active_neuron_steps"]
        message = t.core_op("message_out").energy_pj + t.core_op("message_in").energy_pj
        groups = (
            ("neuron_updates", frame["neuron_steps"], "neuron-steps", "neuron_access"),
            (
                "neuron_updates",
                frame["active_neuron_steps"],
                "active updates",
                "neuron_update_active",
            ),
            ("neuron_updates", inactive, "inactive updates", "neuron_update_inactive"),
            ("neuron_updates", frame["spikes_out"], "spikes out", "spike_out"),
            ("noc", frame["messages"], "messages", None),
            ("noc", frame["hops_east_west"], "E-W hops", "hop_east_west"),
            ("noc", frame["hops_north_south"], "N-S hops", "hop_north_south"),
        )
        out = []
        for component, counts, unit, op in groups:
            per_unit = message if op is None else t.core_op(op).energy_pj
            values = counts.to_numpy(np.float64) / n
            for layer, count in zip(frame["layer"].tolist(), values.tolist(), strict=True):
                out.append(self._row(str(layer), component, count, unit, per_unit))
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
        if self.table.prices_core_ops:
            frame = timing.layer_traffic
            if frame is None or len(frame) == 0:
                frame = pd.DataFrame([{"layer": ALL_LAYERS, **dict(timing.traffic)}])
            return self._core_event_rows(frame, n)
        cols = timing.layer_traffic_columns()
        if cols is None or len(cols["layer"]) == 0:
            cols = {
                "layer": np.array([ALL_LAYERS], dtype=object),
                **{k: np.array([v]) for k, v in timing.traffic.items()},
            }
        groups = (
            ("sram", ("sram_read_bytes", "sram_write_bytes"), "bytes"),
            ("dram", ("dram_read_bytes", "dram_write_bytes"), "bytes"),
            ("noc", ("noc_bit_hops",), "bit_hops"),
        )
        out = []
        for comp, keys, unit in groups:
            present = [k for k in keys if k in cols]
            if not present:
                continue
            per_unit = self.price(comp)
            counts = sum(np.asarray(cols[k], np.float64) for k in present) / n
            layers = np.asarray(cols["layer"]).tolist()
            for layer, count in zip(layers, counts.tolist(), strict=True):
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
        """MT-SNN eq. 22-23 per conv/linear layer: dense MACs at the input activation width
        (none for a per-event table without [[op]] entries: the baseline is then NaN)."""
        rows = []
        if not self.table.ops:
            return rows
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
        if self.table.prices_core_ops:
            out["core_ops"] = (
                f"per-event energies of '{self.table.name}': synaptic ops from the trace, "
                f"neuron, spike, message and hop events from the timing model"
            )
        if self.hw is not None and hasattr(self.hw, "family"):
            try:
                out["sram_class_bytes"] = str(self.sram_buffer_bytes())
            except (AttributeError, ConfigError):
                pass
        return out
