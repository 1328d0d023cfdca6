"""How a hardware config field is declared (``spec``, ``section``, ``CrossCheck``, ``EFFECTS``)
and the walkers over a config class that the loader and the reference share.

Imports only the standard library.
"""

import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any

# Limits every field's declared range draws from (docs/hardware.md, "Errors and limits"). They
# keep each cycle count a timing model forms from a config exact in int64 arithmetic: a delay
# of at most 2^32 cycles, counted at most a few million times per stream, stays far below the
# 2^48 cycles a stream may take (``timing.CYCLE_LIMIT``).
MAX_DELAY_CYCLES = 2**32
"""Largest fixed latency a field may add (DRAM burst latency, NoC hop latency, barrier)."""
MAX_UNITS = 2**16
"""Largest unroll factor of a PE array."""
MAX_RATE = 2**30
"""Largest per-cycle rate (updates, events, synaptic operations, link bits per cycle): about
10^9, which stands for "unbounded" when an ideal machine is modelled."""
MAX_BYTES = 2**40
"""Largest memory size (1 TiB)."""
MAX_QUEUE = 2**16
"""Largest queue or buffer capacity counted in tiles or samples."""
MAX_MESH_SIDE = 256
"""Largest mesh width and height (65,536 cores): per-link NoC loads are kept per step."""
MAX_CORE_NEURONS = 2**24
"""Largest number of neurons one core holds."""
MIN_FREQUENCY_MHZ, MAX_FREQUENCY_MHZ = 1e-3, 1e6
"""Clock range: 1 kHz to 1 THz."""
MIN_BANDWIDTH_GBPS, MAX_BANDWIDTH_GBPS = 1e-6, 1e6
"""DRAM bandwidth range: 1 kB/s to 1 PB/s."""
MIN_DRAM_BYTES_PER_CYCLE, MAX_DRAM_BYTES_PER_CYCLE = 1e-6, 1e6
"""Range of bandwidth / clock (checked across the two fields): cycle counts of a burst stay
exact integers (``timing.cost.dram_rate``)."""

EFFECTS = ("mapping", "activity", "energy", "timing")
"""What a field's value can change, each the key of one kind of reuse (``reuse_key``):

- ``mapping``: the family's compile (tiles, reuse, core placement): a sweep reuses a mapping
  while no such field changes;
- ``activity``: the trace statistics the timing model memoises (PE cycles per tile);
- ``energy``: the timing-independent part of the energy estimate (op and ANN-baseline rows,
  the SRAM/DRAM energy per byte), memoised per setting;
- ``timing``: the timing simulation and what follows it each point (traffic, static energy).

A field lists every effect it has; a field with none (``[meta]``) only names the point."""


def spec(
    default: Any = MISSING,
    *,
    unit: str,
    doc: str,
    source: str,
    minimum: float | None = None,
    maximum: float | None = None,
    greater_than: float | None = None,
    choices: tuple[Any, ...] | None = None,
    affects: tuple[str, ...],
) -> Any:
    """Declare one leaf field: default (MISSING = required), unit, range, description, source
    and what its value affects (``EFFECTS``; every reuse key is derived from these)."""
    unknown = set(affects) - set(EFFECTS)
    if unknown:
        raise ValueError(f"unknown effects {sorted(unknown)}; allowed: {EFFECTS}")
    metadata: dict[str, Any] = {"unit": unit, "doc": doc, "source": source, "affects": affects}
    for key, value in (("min", minimum), ("max", maximum), ("gt", greater_than)):
        if value is not None:
            metadata[key] = value
    if choices is not None:
        metadata["choices"] = choices
    return field(default=default, metadata=metadata)


def section(doc: str) -> dict[str, Any]:
    """Metadata marking a field as a TOML table (``field(metadata=section(...))``)."""
    return {"section": True, "doc": doc}


def _source_path() -> Any:
    """The file a config came from, for messages; not a TOML key and not part of equality."""
    return field(default="", compare=False, repr=False, metadata={"internal": True})


@dataclass(frozen=True)
class CrossCheck:
    """A rule over several fields: ``check`` returns the problem text for ``path`` or None.

    It runs only when every field in ``reads`` passed its own checks.
    """

    path: str
    reads: tuple[str, ...]
    rule: str
    check: Callable[[Any], str | None]


# --------------------------------------------------------------------------------------------
# Walking the declarations (shared by the loader and the reference)
# --------------------------------------------------------------------------------------------


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """Resolved field annotations of a config dataclass."""
    return typing.get_type_hints(cls)


@functools.cache
def toml_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    """Fields of ``cls`` that are TOML keys (everything except internal ones), walked once
    per class (validating a sweep point's config reads them two dozen times)."""
    return tuple(f for f in dataclasses.fields(cls) if not f.metadata.get("internal"))


def leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field, type]]:
    """(dotted path, field, Python type) of every leaf value under ``cls``, in file order."""
    return list(_leaf_fields(cls, prefix))


@functools.cache
def _leaf_fields(cls: type, prefix: str) -> tuple[tuple[str, dataclasses.Field, type], ...]:
    """``leaf_fields``, walked once per class (a sweep point reads them several times)."""
    out: list[tuple[str, dataclasses.Field, type]] = []
    hints = type_hints(cls)
    for f in toml_fields(cls):
        if f.metadata.get("section"):
            out.extend(_leaf_fields(hints[f.name], f"{prefix}{f.name}."))
        else:
            out.append((f"{prefix}{f.name}", f, hints[f.name]))
    return tuple(out)


def field_value(cfg: Any, path: str) -> Any:
    """The value of dotted field ``path`` of a config."""
    value = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def type_name(tp: Any) -> str:
    """Short TOML-facing name of a field type."""
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if typing.get_origin(tp) is tuple:
        return "list[str]"
    raise TypeError(f"unsupported config field type {tp!r}")


def show(value: Any) -> str:
    """A value as it would be written in TOML (strings quoted, booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 2**20 and int(value).bit_count() == 1:
        return f"2^{int(value).bit_length() - 1}"
    return str(int(value)) if float(value).is_integer() else repr(value)


def allowed_text(f: dataclasses.Field, tp: Any) -> str:
    """The allowed values of a leaf field in words, from its metadata (validator and reference)."""
    meta = f.metadata
    if "choices" in meta:
        return "one of " + ", ".join(show(c) for c in meta["choices"])
    name = type_name(tp)
    if name == "bool":
        return "true or false"
    if name == "str":
        return "non-empty string"
    if name == "list[str]":
        return "non-empty list of non-empty strings"
    kind = "integer" if name == "int" else "finite float"
    low = meta.get("min")
    high = meta.get("max")
    if "gt" in meta:
        return f"{kind} > {_number(meta['gt'])}"
    if low is not None and high is not None:
        return f"{kind} in [{_number(low)}, {_number(high)}]"
    if low is not None:
        return f"{kind} >= {_number(low)}"
    if high is not None:
        return f"{kind} <= {_number(high)}"
    return kind
