"""Energy tables: per-operation, per-byte and per-bit-hop energies, each entry with its source.

Imports ``neurosim.errors`` only. A table is a TOML file (shipped ones in ``hwconfigs/energy/``,
package ``neurosim.hwconfigs``) read once into a frozen ``EnergyTable``; validation collects
every problem of a file into one ``ConfigError`` whose lines name the file and the field.

File format (``schema_version = 1``)::

    [meta]      schema_version, name, description, sources (list of strings)
    [[op]]      op, kind ("int" | "fp"), bits, energy_pj, source     -- one per operation width
    [[memory]]  memory ("sram" | "dram"), access_bits, energy_pj, source, and for SRAM max_bytes
    [noc]       energy_pj_per_bit_hop, source                          (optional)
    [static]    power_mw_per_core, source                              (optional)

Operations (``OPS``): ``add``, ``mult`` (n-bit × n-bit), ``mult_x8`` (n-bit × 8-bit integer, the
activation × weight multiply of MT-SNN Table 8's starred rows), ``mac`` (multiply-accumulate),
``shift`` and ``compare``. A memory entry gives the energy of one access of ``access_bits`` bits,
as the sources quote it; the energy per byte is ``energy_pj / (access_bits / 8)``. An SRAM entry
applies to buffers of at most ``max_bytes`` bytes (the smallest class that holds the buffer is
used).
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

from neurosim.errors import ConfigError
from neurosim.hw.source import is_file_source, read_source

SCHEMA_VERSION = 1
"""The ``[meta].schema_version`` this neurosim reads."""

PACKAGE = "neurosim.hwconfigs"
"""Package holding the shipped tables, in its ``energy/`` folder."""

FOLDER = "energy"
"""Folder of the shipped energy tables inside ``PACKAGE``."""

DEFAULT_TABLE = "horowitz_45nm"
"""Name of the default table (``hwconfigs/energy/45nm.toml``)."""

OPS = ("add", "mult", "mult_x8", "mac", "shift", "compare")
"""Operation names an ``[[op]]`` entry may use."""

KINDS = ("int", "fp")
"""Number formats of an operation."""

MEMORIES = ("sram", "dram")
"""Memory kinds of a ``[[memory]]`` entry."""

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
    source_path: str = field(default="", compare=False)
    """The file the table came from (for messages)."""

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


# --------------------------------------------------------------------------------------------
# Finding and reading files
# --------------------------------------------------------------------------------------------


def _shipped_files() -> dict[str, Any]:
    """File stem → resource of every shipped table."""
    folder = files(PACKAGE).joinpath(FOLDER)
    return {
        entry.name[: -len(".toml")]: entry
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".toml")
    }


@functools.cache
def _shipped_names() -> dict[str, str]:
    """Table name ([meta].name) → file stem, for every shipped table."""
    out: dict[str, str] = {}
    for stem, entry in sorted(_shipped_files().items()):
        try:
            name = tomllib.loads(entry.read_text(encoding="utf-8"))["meta"]["name"]
        except (tomllib.TOMLDecodeError, KeyError, TypeError):
            name = stem
        out[str(name)] = stem
    return out


def list_energy_tables() -> list[str]:
    """Names of the shipped energy tables (their ``[meta].name``), as ``load_energy_table`` takes.

    Returns
    -------
    list[str]
        Sorted names, e.g. ``["horowitz_45nm"]``.
    """
    return sorted(_shipped_names())


@functools.cache
def _load_shipped(stem: str) -> EnergyTable:
    entry = _shipped_files()[stem]
    return _parse(entry.read_text(encoding="utf-8"), str(entry))


def load_energy_table(name_or_path: str | os.PathLike) -> EnergyTable:
    """Read and validate an energy table.

    Parameters
    ----------
    name_or_path
        A shipped table's name (``"horowitz_45nm"``), its file stem (``"45nm"``, ``"45nm.toml"``),
        or the path of a TOML file. A string with a path separator, or naming an existing file,
        is read from disk.

    Returns
    -------
    EnergyTable
        The validated, frozen table.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the shipped tables), unreadable file, invalid TOML, or
        invalid content: one line per problem, each naming the file and the field.
    """
    if is_file_source(name_or_path):
        return _parse(read_source(name_or_path, "energy table"), str(Path(name_or_path)))
    name = str(name_or_path)
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    names = _shipped_names()
    if name in names:
        return _load_shipped(names[name])
    if stem in _shipped_files():
        return _load_shipped(stem)
    known = [f"{n} ({s}.toml)" for n, s in sorted(names.items())]
    hint = difflib.get_close_matches(name, [*names, *_shipped_files()], n=1)
    did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ConfigError(
        f"unknown energy table {name!r}{did_you_mean} shipped tables: "
        f"{', '.join(known)}; or give the path of a .toml file"
    )


# --------------------------------------------------------------------------------------------
# Validation (all problems collected, each naming file and field)
# --------------------------------------------------------------------------------------------

_Report = Callable[[str, str], None]

# Field rules: name → (required, type name, check returning a problem or None, allowed text).
_Rule = tuple[bool, str, Callable[[Any], str | None], str]


def _positive(v: Any) -> str | None:
    return None if v >= 1 else "is out of range"


def _non_negative(v: Any) -> str | None:
    return None if math.isfinite(v) and v >= 0 else "is out of range"


def _non_empty(v: Any) -> str | None:
    return None if v.strip() else "is empty"


def _choice(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v in options:
            return None
        hint = difflib.get_close_matches(str(v), options, n=1)
        return f"is not allowed (did you mean {hint[0]!r}?)" if hint else "is not allowed"

    return check


_META_RULES: dict[str, _Rule] = {
    "schema_version": (
        True,
        "int",
        lambda v: None if v == SCHEMA_VERSION else "is not allowed",
        f"{SCHEMA_VERSION}",
    ),
    "name": (True, "str", _non_empty, "a non-empty string"),
    "description": (True, "str", _non_empty, "a non-empty string"),
    "sources": (
        True,
        "list[str]",
        lambda v: None if v and all(s.strip() for s in v) else "is empty or holds an empty string",
        "a non-empty list of non-empty strings",
    ),
}
_OP_RULES: dict[str, _Rule] = {
    "op": (True, "str", _choice(OPS), ", ".join(OPS)),
    "kind": (True, "str", _choice(KINDS), ", ".join(KINDS)),
    "bits": (
        True,
        "int",
        lambda v: None if 1 <= v <= 64 else "is out of range",
        "an integer in [1, 64] (bits)",
    ),
    "energy_pj": (True, "float", _non_negative, "a number >= 0 (pJ per operation)"),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_MEMORY_RULES: dict[str, _Rule] = {
    "memory": (True, "str", _choice(MEMORIES), ", ".join(MEMORIES)),
    "max_bytes": (False, "int", _positive, "an integer >= 1 (bytes; SRAM entries only)"),
    "access_bits": (True, "int", _positive, "an integer >= 1 (bits per access)"),
    "energy_pj": (True, "float", _non_negative, "a number >= 0 (pJ per access)"),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_NOC_RULES: dict[str, _Rule] = {
    "energy_pj_per_bit_hop": (True, "float", _non_negative, "a number >= 0 (pJ per bit per hop)"),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_STATIC_RULES: dict[str, _Rule] = {
    "power_mw_per_core": (True, "float", _non_negative, "a number >= 0 (mW per core)"),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_TOP_LEVEL = ("meta", "op", "memory", "noc", "static")


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _coerce(value: Any, tp: str) -> tuple[Any, str | None]:
    if tp == "int":
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value), None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        return None, "is not an integer"
    if tp == "float":
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value), None
        return None, "is not a number"
    if tp == "str":
        return (value, None) if isinstance(value, str) else (None, "is not a string")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value), None
    return None, "is not a list of strings"


def _fields(raw: Any, rules: dict[str, _Rule], path: str, report: _Report) -> dict[str, Any] | None:
    """Coerced and checked fields of one table; None if any problem was reported."""
    if not isinstance(raw, Mapping):
        report(path, f"expected a table, got {_show(raw)}")
        return None
    ok = True
    for key in raw:
        if key not in rules:
            hint = difflib.get_close_matches(str(key), list(rules), n=1)
            did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
            report(f"{path}.{key}", f"unknown key;{did_you_mean} allowed keys: {', '.join(rules)}")
            ok = False
    out: dict[str, Any] = {}
    for key, (required, tp, check, allowed) in rules.items():
        if key not in raw:
            if required:
                report(f"{path}.{key}", f"missing required field; allowed: {allowed}")
                ok = False
            continue
        value, error = _coerce(raw[key], tp)
        if error is None:
            error = check(value)
        if error is not None:
            report(f"{path}.{key}", f"= {_show(raw[key])} {error}; allowed: {allowed}")
            ok = False
        out[key] = value
    return out if ok else None


def _array(raw: Mapping[str, Any], key: str, report: _Report) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        report(key, f"expected an array of tables [[{key}]], got {_show(value)}")
        return []
    return value


def _parse(text: str, label: str) -> EnergyTable:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML: {exc}") from exc
    return from_dict(data, source=label)


def from_dict(data: Mapping[str, Any], source: str = "<dict>") -> EnergyTable:
    """Validate a parsed energy-table document and build the table.

    Raises
    ------
    ConfigError
        All problems at once, one line each: ``file: field = value problem; allowed: ...``.
    """
    problems: list[str] = []

    def report(path: str, text: str) -> None:
        separator = " " if text.startswith("= ") else ": "
        problems.append(f"{source}: {path}{separator}{text}")

    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a TOML document (table)")
    for key in data:
        if key not in _TOP_LEVEL:
            hint = difflib.get_close_matches(str(key), _TOP_LEVEL, n=1)
            did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
            report(
                str(key),
                f"unknown key;{did_you_mean} allowed keys at the top level: "
                f"{', '.join(_TOP_LEVEL)}",
            )
    if "meta" not in data:
        report("meta", "missing required section [meta]")
        meta_fields = None
    else:
        meta_fields = _fields(data["meta"], _META_RULES, "meta", report)

    ops: list[OpEntry] = []
    seen_ops: dict[tuple[str, str, int], int] = {}
    raw_ops = _array(data, "op", report)
    if "op" in data and not raw_ops and isinstance(data.get("op"), list):
        report("op", "is empty; give at least one [[op]] entry")
    if "op" not in data:
        report("op", "missing: give at least one [[op]] entry (op, kind, bits, energy_pj, source)")
    for i, raw in enumerate(raw_ops):
        f = _fields(raw, _OP_RULES, f"op[{i}]", report)
        if f is None:
            continue
        if f["op"] == "mult_x8" and f["kind"] != "int":
            report(
                f"op[{i}].kind",
                f"= {_show(f['kind'])} is not allowed for op 'mult_x8' "
                f"(an integer n-bit x 8-bit multiply); allowed: int",
            )
            continue
        key = (f["op"], f["kind"], f["bits"])
        if key in seen_ops:
            report(
                f"op[{i}]",
                f"duplicates op[{seen_ops[key]}] ({f['bits']}-bit {f['op']}, "
                f"{f['kind']}); give each op, kind and width once",
            )
            continue
        seen_ops[key] = i
        ops.append(OpEntry(f["op"], f["kind"], f["bits"], f["energy_pj"], f["source"]))

    memories: list[MemoryEntry] = []
    seen_mem: dict[tuple[str, int | None], int] = {}
    for i, raw in enumerate(_array(data, "memory", report)):
        f = _fields(raw, _MEMORY_RULES, f"memory[{i}]", report)
        if f is None:
            continue
        max_bytes = f.get("max_bytes")
        if f["memory"] == "sram" and max_bytes is None:
            report(
                f"memory[{i}].max_bytes",
                "missing required field for an SRAM entry; allowed: an integer >= 1 (bytes)",
            )
            continue
        if f["memory"] == "dram" and max_bytes is not None:
            report(
                f"memory[{i}].max_bytes",
                f"= {max_bytes} is not allowed for a DRAM entry "
                f"(one DRAM entry covers all DRAM traffic)",
            )
            continue
        key = (f["memory"], max_bytes)
        if key in seen_mem:
            what = "DRAM entry" if max_bytes is None else f"SRAM class of {max_bytes} bytes"
            report(f"memory[{i}]", f"duplicates memory[{seen_mem[key]}] (the same {what})")
            continue
        seen_mem[key] = i
        memories.append(
            MemoryEntry(f["memory"], f["access_bits"], f["energy_pj"], f["source"], max_bytes)
        )

    noc = static = None
    if "noc" in data:
        f = _fields(data["noc"], _NOC_RULES, "noc", report)
        noc = None if f is None else NocEntry(f["energy_pj_per_bit_hop"], f["source"])
    if "static" in data:
        f = _fields(data["static"], _STATIC_RULES, "static", report)
        static = None if f is None else StaticEntry(f["power_mw_per_core"], f["source"])

    if problems:
        raise ConfigError("\n".join(problems))
    meta = EnergyMeta(
        meta_fields["schema_version"],
        meta_fields["name"],
        meta_fields["description"],
        meta_fields["sources"],
    )
    return EnergyTable(
        meta=meta,
        ops=tuple(ops),
        memories=tuple(memories),
        noc=noc,
        static=static,
        source_path=source,
    )
