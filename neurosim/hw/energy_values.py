"""The energy-table value: per-operation, per-byte, per-bit-hop and static entries, each with
its source, and the lookups the energy model calls (the bit-width rule, SRAM size classes).

Imports ``neurosim.errors`` only. Reading and validating table files is ``hw.energy_table``.

Operations (``OPS``): ``add``, ``mult`` (n-bit × n-bit), ``mult_x8`` (n-bit × 8-bit integer, the
activation × weight multiply of MT-SNN Table 8's starred rows), ``mac`` (multiply-accumulate),
``shift`` and ``compare``. A memory entry gives the energy of one access of ``access_bits`` bits,
as the sources quote it; the energy per byte is ``energy_pj / (access_bits / 8)``. An SRAM entry
applies to buffers of at most ``max_bytes`` bytes (the smallest class that holds the buffer is
used).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neurosim.errors import ConfigError

OPS = ("add", "mult", "mult_x8", "mac", "shift", "compare")
"""Operation names an ``[[op]]`` entry may use."""

KINDS = ("int", "fp")
"""Number formats of an operation."""

MEMORIES = ("sram", "dram")
"""Memory kinds of a ``[[memory]]`` entry."""

CORE_OPS = (
    "synaptic_op",
    "neuron_access",
    "neuron_update_active",
    "neuron_update_inactive",
    "spike_out",
    "message_out",
    "message_in",
    "hop_east_west",
    "hop_north_south",
)
"""Events of a neuromorphic core a ``[[core_op]]`` table prices (each energy includes the
memory accesses of the event, as chip tables quote them): a synaptic operation (one synapse
read and accumulate); per neuron and step an access, plus an active update (the neuron
received input) or an inactive one; a spike fired; a spike message sent and received (one
per firing neuron and destination core); a mesh hop east-west and north-south. A table that
has any ``[[core_op]]`` entry lists all of them (0 where its source has no figure, with a
source saying so)."""

OPTIONAL_CORE_OPS = ("synaptic_op_linear",)
"""``[[core_op]]`` entries a table may add: a linear layer's synaptic operation when the chip
prices it apart from a conv's (``synaptic_op`` otherwise)."""

WIDTH_EXPONENT: Mapping[str, int] = {
    "add": 1,
    "shift": 1,
    "compare": 1,
    "mult": 2,
    "mult_x8": 1,
}
"""Bit-width rule: energy ∝ bits^exponent, scaled from the nearest listed width of the same op.

Adders grow linearly and multipliers quadratically with bit width (Nagendra et al. 1996,
Potipireddi & Asati 2013, as MT-SNN appendix C applies them: an INT2 multiply costs 1/16 of an
INT8 one). ``mult_x8`` has one operand fixed at 8 bits, so the quadratic law n·m is linear in n
(MT-SNN Table 8: 0.025 pJ per activation bit). Shifters and comparators are adder-like (linear).
``mac`` has no rule: a MAC of another width is ``mac_energy`` (a multiply plus an add).
"""

FALLBACK_OP: Mapping[str, str] = {"shift": "add", "compare": "add"}
"""An op the table does not list at all is costed as this op of the same width.

Horowitz 2014 and MT-SNN Table 8 give no shift or compare energy (neuron-models §4 [open]).
neurosim charges a comparison as a subtraction (a comparator is a subtractor's carry chain) and
a β = 2 membrane shift as an add (the membrane is read, shifted and written back through the
same datapath; SWS eq. 10 counts each amplification as one operation, like an AC). A table
that lists ``shift`` or ``compare`` entries overrides this.
"""


# --------------------------------------------------------------------------------------------
# Entries and the table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpEntry:
    """Energy of one arithmetic operation at one bit width."""

    op: str
    """Operation name (``OPS``)."""
    kind: str
    """``int`` or ``fp``."""
    bits: int
    """Operand width (bits); for ``mult_x8`` the width of the non-8-bit operand."""
    energy_pj: float
    """Energy of one operation (pJ)."""
    source: str
    """Where the number comes from."""


@dataclass(frozen=True)
class MemoryEntry:
    """Energy of one memory access, as quoted by its source, and the size class it covers."""

    memory: str
    """``sram`` or ``dram``."""
    access_bits: int
    """Bits moved by one access (bits)."""
    energy_pj: float
    """Energy of one access (pJ)."""
    source: str
    """Where the number comes from."""
    max_bytes: int | None = None
    """SRAM only: the entry covers buffers of at most this size (bytes)."""

    @property
    def energy_pj_per_byte(self) -> float:
        """energy_pj / (access_bits / 8) (pJ/byte)."""
        return self.energy_pj * 8.0 / self.access_bits


@dataclass(frozen=True)
class NocEntry:
    """Energy of moving one bit across one mesh hop (router plus link)."""

    energy_pj_per_bit_hop: float
    """pJ per bit per hop."""
    source: str
    """Where the number comes from."""


@dataclass(frozen=True)
class StaticEntry:
    """Leakage (static) power of one core, charged over the simulated time."""

    power_mw_per_core: float
    """Static power of one core (mW); a PE array counts as one core."""
    source: str
    """Where the number comes from."""


@dataclass(frozen=True)
class CoreOpEntry:
    """Energy and latency of one event of a neuromorphic core (``CORE_OPS``)."""

    op: str
    energy_pj: float
    """Energy of one event (pJ)."""
    latency_ns: float
    """Time the event takes on its core or link (ns); the multi-core timing model sums these
    with ``core.op_latencies = "table"``."""
    source: str


@dataclass(frozen=True)
class BarrierEntry:
    """Time of the time-step barrier of a chip whose mapping uses ``tiles`` tiles."""

    tiles: int
    latency_ns: float
    source: str


@dataclass(frozen=True)
class EnergyMeta:
    """``[meta]`` of an energy table."""

    schema_version: int
    name: str
    """Name used by ``energy_table = "..."`` in hardware files and by ``load_energy_table``."""
    description: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class EnergyTable:
    """A validated energy table: op, memory, NoC and static entries, each with its source."""

    meta: EnergyMeta
    ops: tuple[OpEntry, ...]
    memories: tuple[MemoryEntry, ...] = ()
    noc: NocEntry | None = None
    static: StaticEntry | None = None
    core_ops: tuple[CoreOpEntry, ...] = ()
    """Per-event energies and latencies of a neuromorphic core (``CORE_OPS``), if any."""
    barriers: tuple[BarrierEntry, ...] = ()
    """Barrier time by tiles used, sorted by ``tiles`` (with ``core_ops``)."""
    source_path: str = field(default="", compare=False)
    """The file the table came from (for messages)."""

    # -- neuromorphic core events ---------------------------------------------------------------
    @property
    def prices_core_ops(self) -> bool:
        """True if the table prices a multi-core chip's events (``[[core_op]]`` entries)."""
        return bool(self.core_ops)

    def core_op(self, op: str) -> CoreOpEntry:
        """The ``[[core_op]]`` entry of event ``op``; an optional op falls back to its base
        (``synaptic_op_linear`` → ``synaptic_op``).

        Raises
        ------
        ConfigError
            The table has no such entry.
        """
        for entry in self.core_ops:
            if entry.op == op:
                return entry
        if op in OPTIONAL_CORE_OPS:
            return self.core_op(op.rsplit("_", 1)[0])
        raise ConfigError(
            f"{self._label}: no [[core_op]] entry '{op}'; a multi-core chip's events are "
            f"priced by [[core_op]] entries {', '.join(CORE_OPS)}"
        )

    def barrier_ns(self, tiles: int) -> float:
        """Barrier time (ns) at ``tiles`` tiles used: piecewise linear between the listed
        points, the nearest end's value outside them (a step table is listed with both edges
        of each step, e.g. 3 → 1.0 µs and 4 → 1.4 µs).

        Raises
        ------
        ConfigError
            The table has no ``[[barrier]]`` entry.
        """
        if not self.barriers:
            raise ConfigError(f"{self._label}: no [[barrier]] entry (tiles, latency_ns)")
        xs = [float(b.tiles) for b in self.barriers]
        ys = [float(b.latency_ns) for b in self.barriers]
        return float(np.interp(float(tiles), xs, ys))

    @property
    def name(self) -> str:
        """The table's ``[meta].name``."""
        return self.meta.name

    @property
    def _label(self) -> str:
        return f"energy table '{self.name}' ({self.source_path or 'built in code'})"

    # -- operations ----------------------------------------------------------------------------
    def op_energy(self, op: str, bits: int, kind: str = "int") -> float:
        """Energy of one ``op`` on ``bits``-bit operands (pJ).

        The exact entry if listed; otherwise the bit-width rule (``WIDTH_EXPONENT``) applied to
        the nearest listed width of the same op and kind (ties go to the wider entry):
        E(bits) = E(b) · (bits / b)^exponent. ``shift``/``compare`` without any entry are
        costed as ``add`` (``FALLBACK_OP``).

        Raises
        ------
        ConfigError
            Unknown op or kind, or no entry of any width for this op and kind (and no
            fallback), or a width missing for an op without a bit-width rule (``mac``).
        """
        if op not in OPS:
            raise ConfigError(f"{self._label}: unknown op {op!r}; allowed: {', '.join(OPS)}")
        if kind not in KINDS:
            raise ConfigError(
                f"{self._label}: unknown kind {kind!r} for op '{op}'; allowed: {', '.join(KINDS)}"
            )
        if not isinstance(bits, numbers.Integral) or bits < 1:
            raise ConfigError(
                f"{self._label}: bit width of op '{op}' must be a positive integer, got {bits!r}"
            )
        entries = [e for e in self.ops if e.op == op and e.kind == kind]
        if not entries:
            if op in FALLBACK_OP:
                return self.op_energy(FALLBACK_OP[op], bits, kind)
            listed = sorted({f"{e.op} ({e.kind})" for e in self.ops})
            raise ConfigError(
                f"{self._label}: no '{op}' ({kind}) entry of any width, needed for "
                f"a {bits}-bit {op}; listed ops: {', '.join(listed)}"
            )
        for e in entries:
            if e.bits == bits:
                return e.energy_pj
        widths = sorted(e.bits for e in entries)
        exponent = WIDTH_EXPONENT.get(op)
        if exponent is None:
            raise ConfigError(
                f"{self._label}: no {bits}-bit '{op}' ({kind}) entry and '{op}' "
                f"has no bit-width rule; listed widths: {widths}"
                + ("; use mac_energy for other widths" if op == "mac" else "")
            )
        nearest = min(entries, key=lambda e: (abs(e.bits - bits), -e.bits))
        return nearest.energy_pj * (bits / nearest.bits) ** exponent

    def mult_energy(self, act_bits: int, weight_bits: int = 8) -> float:
        """Energy of an ``act_bits`` × ``weight_bits`` integer multiply (pJ).

        ``mult_x8`` at ``act_bits`` (MT-SNN Table 8, 0.025 pJ per activation bit), scaled by
        weight_bits / 8 when the weight is not 8 bits (the quadratic rule: energy ∝ n·m).
        """
        return self.op_energy("mult_x8", act_bits) * weight_bits / 8.0

    def mac_energy(self, act_bits: int, weight_bits: int = 8) -> float:
        """E_MAC = E_mult(act_bits × weight_bits) + E_add(weight_bits) (pJ).

        With 8-bit weights and the default table this is 0.025·n + 0.03 pJ (neuron-models §5.1,
        derived from MT-SNN Table 8: 8b MAC 0.23 = 8b MULT 0.2 + 8b ADD 0.03).
        """
        return self.mult_energy(act_bits, weight_bits) + self.op_energy("add", weight_bits)

    # -- memories and NoC ----------------------------------------------------------------------
    def sram_energy_per_byte(self, buffer_bytes: int) -> float:
        """pJ per byte of an SRAM of ``buffer_bytes`` bytes: the smallest class that holds it.

        Raises
        ------
        ConfigError
            No SRAM entry, or the buffer is larger than the largest SRAM class.
        """
        classes = sorted(
            (m for m in self.memories if m.memory == "sram"), key=lambda m: m.max_bytes or 0
        )
        if not classes:
            raise ConfigError(
                f"{self._label}: no [[memory]] entry with memory = 'sram', needed "
                f"for a {buffer_bytes}-byte SRAM"
            )
        for entry in classes:
            if buffer_bytes <= (entry.max_bytes or 0):
                return entry.energy_pj_per_byte
        raise ConfigError(
            f"{self._label}: a {buffer_bytes}-byte SRAM is larger than the largest "
            f"SRAM class ({classes[-1].max_bytes} bytes); add a [[memory]] entry "
            f"with max_bytes >= {buffer_bytes}"
        )

    def dram_energy_per_byte(self) -> float:
        """pJ per byte of DRAM traffic.

        Raises
        ------
        ConfigError
            The table has no DRAM entry.
        """
        for entry in self.memories:
            if entry.memory == "dram":
                return entry.energy_pj_per_byte
        raise ConfigError(
            f"{self._label}: no [[memory]] entry with memory = 'dram', needed for DRAM traffic"
        )

    def noc_energy_per_bit_hop(self) -> float:
        """pJ per bit per NoC hop.

        Raises
        ------
        ConfigError
            The table has no ``[noc]`` section.
        """
        if self.noc is None:
            raise ConfigError(
                f"{self._label}: no [noc] section (energy_pj_per_bit_hop), needed for NoC traffic"
            )
        return self.noc.energy_pj_per_bit_hop

    def to_frame(self) -> pd.DataFrame:
        """Every entry as a row: entry, name, kind, bits, max_bytes, energy, unit, source."""
        rows: list[dict[str, Any]] = [
            {
                "entry": "op",
                "name": e.op,
                "kind": e.kind,
                "bits": e.bits,
                "energy_pj": e.energy_pj,
                "unit": "pJ/op",
                "source": e.source,
            }
            for e in self.ops
        ]
        rows += [
            {
                "entry": "memory",
                "name": m.memory,
                "kind": "",
                "bits": m.access_bits,
                "max_bytes": m.max_bytes,
                "energy_pj": m.energy_pj_per_byte,
                "unit": "pJ/byte",
                "source": m.source,
            }
            for m in self.memories
        ]
        if self.noc is not None:
            rows.append(
                {
                    "entry": "noc",
                    "name": "hop",
                    "kind": "",
                    "bits": 1,
                    "energy_pj": self.noc.energy_pj_per_bit_hop,
                    "unit": "pJ/(bit·hop)",
                    "source": self.noc.source,
                }
            )
        rows += [
            {
                "entry": "core_op",
                "name": e.op,
                "kind": "",
                "bits": None,
                "energy_pj": e.energy_pj,
                "unit": f"pJ/event ({e.latency_ns} ns)",
                "source": e.source,
            }
            for e in self.core_ops
        ]
        rows += [
            {
                "entry": "barrier",
                "name": f"{b.tiles} tiles",
                "kind": "",
                "bits": None,
                "energy_pj": 0.0,
                "unit": f"{b.latency_ns} ns",
                "source": b.source,
            }
            for b in self.barriers
        ]
        if self.static is not None:
            rows.append(
                {
                    "entry": "static",
                    "name": "core",
                    "kind": "",
                    "bits": None,
                    "energy_pj": self.static.power_mw_per_core,
                    "unit": "mW/core",
                    "source": self.static.source,
                }
            )
        columns = ["entry", "name", "kind", "bits", "max_bytes", "energy_pj", "unit", "source"]
        return pd.DataFrame(rows, columns=columns)
