"""Energy tables from TOML: finding the shipped tables, reading and validating a file.

Imports ``neurosim.errors`` and ``hw.energy_values``/``hw.source``. A table is a TOML file (shipped
ones in ``hwconfigs/energy/``, package ``neurosim.hwconfigs``) read once into a frozen
``EnergyTable`` (``hw.energy_values``, which also holds the lookups; imported here for the
loader's callers); validation collects every problem of a file into one ``ConfigError`` whose
lines name the file and the field.

File format (``schema_version = 1``)::

    [meta]      schema_version, name, description, sources (list of strings)
    [[op]]      op, kind ("int" | "fp"), bits, energy_pj, source     -- one per operation width
    [[memory]]  memory ("sram" | "dram"), access_bits, energy_pj, source, and for SRAM max_bytes
    [noc]       energy_pj_per_bit_hop, source                          (optional)
    [static]    power_mw_per_core, source                              (optional)
    [[core_op]] op, energy_pj, latency_ns, source  -- a multi-core chip's events (optional;
                then every op of CORE_OPS, and [[op]] entries become optional)
    [[barrier]] tiles, latency_ns, source          -- time-step barrier by tiles used (with
                [[core_op]]: at least one)
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
import os
from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from neurosim.errors import ConfigError
from neurosim.hw.energy_values import (
    CORE_OPS,
    KINDS,
    MEMORIES,
    OPS,
    OPTIONAL_CORE_OPS,
    BarrierEntry,
    CoreOpEntry,
    EnergyMeta,
    EnergyTable,
    MemoryEntry,
    NocEntry,
    OpEntry,
    StaticEntry,
)
from neurosim.hw.source import is_file_source, parse_toml, read_source

SCHEMA_VERSION = 1
"""The ``[meta].schema_version`` this neurosim reads."""

PACKAGE = "neurosim.hwconfigs"
"""Package holding the shipped tables, in its ``energy/`` folder."""

FOLDER = "energy"
"""Folder of the shipped energy tables inside ``PACKAGE``."""

DEFAULT_TABLE = "horowitz_45nm"
"""Name of the default table (``hwconfigs/energy/45nm.toml``)."""


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
            name = parse_toml(entry.read_text(encoding="utf-8"), str(entry))["meta"]["name"]
        except (ConfigError, KeyError, TypeError):
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


def energy_table_bytes(name_or_path: str | os.PathLike) -> bytes:
    """The bytes of the file ``load_energy_table(name_or_path)`` reads (for content hashes).

    Raises
    ------
    ConfigError
        As ``load_energy_table`` for an unknown name or an unreadable file.
    """
    if is_file_source(name_or_path):
        return read_source(name_or_path, "energy table").encode("utf-8")
    name = str(name_or_path)
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    stem = _shipped_names().get(name, stem)
    if stem not in _shipped_files():
        load_energy_table(name)  # raises the unknown-name error
    return _shipped_files()[stem].read_bytes()


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


MAX_ENERGY_PJ = 1e6
"""Largest energy of one operation or memory access (1 µJ): far above any CMOS figure, far
below what would let a per-inference sum leave the float range."""
MAX_BIT_HOP_PJ = 1e3
"""Largest NoC energy per bit per hop (pJ)."""
MAX_STATIC_MW = 1e6
"""Largest static power of one core (mW; 1 kW)."""
MAX_LATENCY_NS = 1e6
"""Largest latency of one event or barrier (1 ms): with the 1 THz clock limit, at most 10^9
cycles, within the hardware fields' delay bound."""
MAX_TILES = 2**16
"""Most tiles (cores) a barrier entry may name: the largest mesh."""
MAX_ACCESS_BITS = 2**16
"""Widest memory access (bits)."""
MAX_SRAM_BYTES = 2**48
"""Largest SRAM size class (bytes)."""


def _in_range(low: float, high: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        finite = not isinstance(v, float) or math.isfinite(v)
        return None if finite and low <= v <= high else "is out of range"

    return check


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
    "energy_pj": (
        True,
        "float",
        _in_range(0, MAX_ENERGY_PJ),
        f"a number in [0, {MAX_ENERGY_PJ:g}] (pJ per operation)",
    ),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_MEMORY_RULES: dict[str, _Rule] = {
    "memory": (True, "str", _choice(MEMORIES), ", ".join(MEMORIES)),
    "max_bytes": (
        False,
        "int",
        _in_range(1, MAX_SRAM_BYTES),
        "an integer in [1, 2^48] (bytes; SRAM entries only)",
    ),
    "access_bits": (
        True,
        "int",
        _in_range(1, MAX_ACCESS_BITS),
        "an integer in [1, 65536] (bits per access)",
    ),
    "energy_pj": (
        True,
        "float",
        _in_range(0, MAX_ENERGY_PJ),
        f"a number in [0, {MAX_ENERGY_PJ:g}] (pJ per access)",
    ),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_NOC_RULES: dict[str, _Rule] = {
    "energy_pj_per_bit_hop": (
        True,
        "float",
        _in_range(0, MAX_BIT_HOP_PJ),
        f"a number in [0, {MAX_BIT_HOP_PJ:g}] (pJ per bit per hop)",
    ),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_STATIC_RULES: dict[str, _Rule] = {
    "power_mw_per_core": (
        True,
        "float",
        _in_range(0, MAX_STATIC_MW),
        f"a number in [0, {MAX_STATIC_MW:g}] (mW per core)",
    ),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_CORE_OP_RULES: dict[str, _Rule] = {
    "op": (
        True,
        "str",
        _choice(CORE_OPS + OPTIONAL_CORE_OPS),
        ", ".join(CORE_OPS + OPTIONAL_CORE_OPS),
    ),
    "energy_pj": (
        True,
        "float",
        _in_range(0, MAX_ENERGY_PJ),
        f"a number in [0, {MAX_ENERGY_PJ:g}] (pJ per event)",
    ),
    "latency_ns": (
        True,
        "float",
        _in_range(0, MAX_LATENCY_NS),
        f"a number in [0, {MAX_LATENCY_NS:g}] (ns per event)",
    ),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_BARRIER_RULES: dict[str, _Rule] = {
    "tiles": (True, "int", _in_range(1, MAX_TILES), f"an integer in [1, {MAX_TILES}] (tiles used)"),
    "latency_ns": (
        True,
        "float",
        _in_range(0, MAX_LATENCY_NS),
        f"a number in [0, {MAX_LATENCY_NS:g}] (ns per time-step barrier)",
    ),
    "source": (True, "str", _non_empty, "a non-empty string"),
}
_TOP_LEVEL = ("meta", "op", "memory", "noc", "static", "core_op", "barrier")


def _show(value: Any) -> str:
    """A value for a message, cut to 80 characters (a 4,000-digit integer too)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _coerce(value: Any, tp: str) -> tuple[Any, str | None]:
    if tp == "int":
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value), None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        return None, "is not an integer"
    if tp == "float":
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                return float(value), None
            except OverflowError:
                return None, "is out of range"
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
    return from_dict(parse_toml(text, label), source=label)


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

    core_ops, barriers = _core_entries(data, report)
    ops: list[OpEntry] = []
    seen_ops: dict[tuple[str, str, int], int] = {}
    raw_ops = _array(data, "op", report)
    if "op" in data and not raw_ops and isinstance(data.get("op"), list) and not core_ops:
        report("op", "is empty; give at least one [[op]] entry")
    if "op" not in data and "core_op" not in data:
        report(
            "op",
            "missing: give at least one [[op]] entry (op, kind, bits, energy_pj, source) "
            "or the [[core_op]] entries of a multi-core chip",
        )
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
        core_ops=core_ops,
        barriers=barriers,
        source_path=source,
    )


def _core_entries(
    data: Mapping[str, Any], report: _Report
) -> tuple[tuple[CoreOpEntry, ...], tuple[BarrierEntry, ...]]:
    """The ``[[core_op]]`` and ``[[barrier]]`` entries: every op of ``CORE_OPS`` once, at
    least one barrier, distinct tile counts."""
    entries: dict[str, CoreOpEntry] = {}
    raw = _array(data, "core_op", report)
    for i, item in enumerate(raw):
        f = _fields(item, _CORE_OP_RULES, f"core_op[{i}]", report)
        if f is None:
            continue
        if f["op"] in entries:
            report(f"core_op[{i}]", f"duplicates the '{f['op']}' entry; give each op once")
            continue
        entries[f["op"]] = CoreOpEntry(f["op"], f["energy_pj"], f["latency_ns"], f["source"])
    barriers: dict[int, BarrierEntry] = {}
    raw_barriers = _array(data, "barrier", report)
    for i, item in enumerate(raw_barriers):
        f = _fields(item, _BARRIER_RULES, f"barrier[{i}]", report)
        if f is None:
            continue
        if f["tiles"] in barriers:
            report(f"barrier[{i}].tiles", f"= {f['tiles']} is listed twice; give each once")
            continue
        barriers[f["tiles"]] = BarrierEntry(f["tiles"], f["latency_ns"], f["source"])
    if raw or raw_barriers:
        missing = [op for op in CORE_OPS if op not in entries]
        if missing and raw:
            report(
                "core_op",
                f"missing entries {', '.join(missing)}: a table that prices core events "
                f"lists every one of {', '.join(CORE_OPS)} (energy_pj = 0 with a source "
                f"saying so where the source gives no figure)",
            )
        if not raw:
            report("core_op", "missing: [[barrier]] entries need the [[core_op]] entries")
        if not raw_barriers:
            report(
                "barrier",
                "missing: a table with [[core_op]] entries gives at least one [[barrier]] "
                "(tiles, latency_ns, source)",
            )
    ordered = tuple(entries[op] for op in (*CORE_OPS, *OPTIONAL_CORE_OPS) if op in entries)
    return ordered, tuple(barriers[t] for t in sorted(barriers))
