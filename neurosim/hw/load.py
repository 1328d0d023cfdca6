"""TOML hardware files -> validated frozen dataclasses, with every problem of a file in one error.

Imports ``neurosim.errors``, ``neurosim.hw.config`` (the registry), ``neurosim.hw.derive``,
``neurosim.hw.fields`` and ``neurosim.hw.source`` only. Validation reads the field metadata
declared in the family modules; nothing here knows a field by name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from neurosim.errors import ConfigError
from neurosim.hw.common import Meta
from neurosim.hw.config import FAMILIES, HwConfig, field_paths
from neurosim.hw.derive import resolve_base
from neurosim.hw.fields import allowed_text, show, toml_fields, type_hints, type_name
from neurosim.hw.source import is_file_source, parse_toml, read_source

SUFFIX = ".hw.toml"
"""File-name suffix of hardware descriptions."""

PACKAGE = "neurosim.hwconfigs"
"""Package holding the shipped hardware descriptions (the repository's ``hwconfigs/``)."""

_Report = Callable[[str, str], None]


# --------------------------------------------------------------------------------------------
# Finding and reading files
# --------------------------------------------------------------------------------------------


def list_configs() -> list[str]:
    """Names of the shipped hardware descriptions, as accepted by ``load``.

    Returns
    -------
    list[str]
        Sorted names without the ``.hw.toml`` suffix, e.g. ``["multicore", "pe_array", ...]``.
    """
    folder = files(PACKAGE)
    return sorted(
        entry.name[: -len(SUFFIX)]
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(SUFFIX)
    )


def _read(name_or_path: str | os.PathLike) -> tuple[str, str]:
    """(text, source) of a shipped name or a file on disk."""
    if is_file_source(name_or_path):
        return read_source(name_or_path, "hardware config"), str(Path(name_or_path))
    name = str(name_or_path)
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    shipped = list_configs()
    if stem not in shipped:
        hint = difflib.get_close_matches(stem, shipped, n=1)
        did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(
            f"unknown hardware config {name!r}{did_you_mean} shipped configs: "
            f"{', '.join(shipped)}; or give the path of a {SUFFIX} file"
        )
    entry = files(PACKAGE).joinpath(stem + SUFFIX)
    return entry.read_text(encoding="utf-8"), str(entry)


def load(name_or_path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> HwConfig:
    """Read and validate a hardware description.

    A file may start from another config with ``base = "pe_array"`` (a shipped name or a path)
    and state only the fields it changes (``hw.derive``); ``overrides`` (dotted path → value,
    what ``--set`` passes) replace fields afterwards, validated like the file.

    Parameters
    ----------
    name_or_path
        A shipped name (``"pe_array"``, ``"multicore_tiny.hw.toml"``; see ``list_configs``) or
        the path of a ``.hw.toml`` file. A string containing a path separator, or naming an
        existing file, is read from disk.
    overrides
        Dotted field paths and new values (``{"dram.bandwidth_gbps": 25.6}``), applied with
        ``replace_fields``.

    Returns
    -------
    PEArrayConfig | MulticoreConfig
        The validated, frozen description; ``source_path`` records the file it came from.

    Raises
    ------
    ConfigError
        The name is unknown, the file is unreadable or not TOML, or the content is invalid: one
        line per problem, each naming the file, the dotted field, the bad value and what is
        allowed.
    """
    data, source = _document(name_or_path)
    cfg = from_dict(resolve_base(data, source, _document), source=source)
    return replace_fields(cfg, overrides) if overrides else cfg


def _document(name_or_path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """(parsed TOML document, source) of a shipped name or a file on disk."""
    text, source = _read(name_or_path)
    return parse_toml(text, source), source


# --------------------------------------------------------------------------------------------
# Dict <-> dataclasses
# --------------------------------------------------------------------------------------------


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config as the nested dict its TOML file parses to (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in toml_fields(type(cfg)):
        value = getattr(cfg, f.name)
        if f.metadata.get("section"):
            out[f.name] = to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def from_dict(data: Mapping[str, Any], source: str = "<dict>") -> HwConfig:
    """Validate a parsed TOML document (nested dict) and build its config.

    Parameters
    ----------
    data
        The document, shaped like the ``.hw.toml`` file (``{"meta": {...}, "pe": {...}}``).
    source
        File name used in messages and stored as ``source_path``.

    Returns
    -------
    PEArrayConfig | MulticoreConfig
        The validated config of the family named in ``data["meta"]["family"]``.

    Raises
    ------
    ConfigError
        All problems at once, one line each (file, dotted field, bad value, allowed values).
    """
    return _from_dict(data, source, label=source)


def _from_dict(data: Mapping[str, Any], source: str, label: str) -> HwConfig:
    """``from_dict`` with ``label`` (what messages call the input) apart from ``source``."""
    problems: list[str] = []

    def report(path: str, text: str) -> None:
        # "file: path = value ..." when the text starts with the bad value, else "file: path: ...".
        separator = " " if text.startswith("= ") else ": "
        problems.append(f"{label}: {path}{separator}{text}")

    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: expected a TOML document (table), got {type(data).__name__}")
    meta_raw = data.get("meta")
    family = meta_raw.get("family") if isinstance(meta_raw, Mapping) else None
    cls = FAMILIES.get(family) if isinstance(family, str) else None
    bad: set[str] = set()
    if cls is None:
        # Without a valid family the other sections cannot be judged; report [meta] only.
        if meta_raw is not None and not isinstance(meta_raw, Mapping):
            report("meta", f"expected a table [meta], got {_brief(meta_raw)}")
            meta_raw = {}
        meta = _build(Meta, meta_raw or {}, "meta.", report, bad)
        _check_values(meta, "meta.", report, bad)
        problems.append(f"{label}: other sections not checked until meta.family is valid")
        raise ConfigError("\n".join(problems))
    cfg = _build(cls, data, "", report, bad, source_path=source)
    _check_values(cfg, "", report, bad)
    for cross in cls.CROSS_CHECKS:
        if bad.isdisjoint(cross.reads):
            text = cross.check(cfg)
            if text is not None:
                report(cross.path, text)
    if problems:
        raise ConfigError("\n".join(problems))
    return cfg


def _build(
    cls: type,
    raw: Mapping[str, Any],
    prefix: str,
    report: _Report,
    bad: set[str],
    **extra: Any,
) -> Any:
    """Instantiate ``cls`` from ``raw``, coercing types; problems are reported, paths marked bad.

    A field that is missing or of the wrong type is set to None and its path added to ``bad``;
    such an instance never leaves ``from_dict``.
    """
    fields = {f.name: f for f in toml_fields(cls)}
    hints = type_hints(cls)
    for key in raw:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
            where = f"[{prefix[:-1]}]" if prefix else "the top level"
            report(
                f"{prefix}{key}",
                f"unknown key;{did_you_mean} allowed keys in {where}: {', '.join(fields)}",
            )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        path = prefix + name
        tp = hints[name]
        if f.metadata.get("section"):
            sub = raw.get(name, {})
            if not isinstance(sub, Mapping):
                report(path, f"= {_brief(sub)} is not a table; expected a [{path}] section")
                sub = {}
            kwargs[name] = _build(tp, sub, path + ".", report, bad)
        elif name in raw:
            value, error = _coerce(raw[name], tp)
            if error is not None:
                report(path, f"= {_brief(raw[name])} {error}; allowed: {allowed_text(f, tp)}")
                bad.add(path)
            kwargs[name] = value
        elif f.default is dataclasses.MISSING:
            report(path, f"missing required field; allowed: {allowed_text(f, tp)}")
            bad.add(path)
            kwargs[name] = None
    return cls(**kwargs, **extra)


def _coerce(value: Any, tp: Any) -> tuple[Any, str | None]:
    """(value converted to the field's type, None) or (None, what is wrong with it)."""
    name = type_name(tp)
    if name == "bool":
        if isinstance(value, bool):
            return value, None
        return None, f"is not a boolean ({_kind(value)})"
    if name == "int":
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value), None
        # A float with an integral value (e.g. 16.0) converts losslessly (Brian2-style coercion).
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        return None, f"is not an integer ({_kind(value)})"
    if name == "float":
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                return float(value), None
            except OverflowError:
                return None, "is out of range"
        return None, f"is not a number ({_kind(value)})"
    if name == "str":
        if isinstance(value, str):
            return value, None
        return None, f"is not a string ({_kind(value)})"
    # list[str]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value), None
    return None, f"is not a list of strings ({_kind(value)})"


def _brief(value: Any) -> str:
    """A value as TOML for a message, cut to 80 characters (a 4,000-digit integer too)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {len(str(abs(value)))} digits"
    text = show(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _check_values(obj: Any, prefix: str, report: _Report, bad: set[str]) -> None:
    """Range, choice and emptiness checks of every well-typed leaf under ``obj``."""
    hints = type_hints(type(obj))
    for f in toml_fields(type(obj)):
        path = prefix + f.name
        value = getattr(obj, f.name)
        if f.metadata.get("section"):
            _check_values(value, path + ".", report, bad)
            continue
        if path in bad:
            continue
        problem = _value_problem(value, f.metadata, type_name(hints[f.name]))
        if problem is not None:
            report(path, f"= {_brief(value)} {problem}; allowed: {allowed_text(f, hints[f.name])}")
            bad.add(path)


def _value_problem(value: Any, meta: Mapping[str, Any], name: str) -> str | None:
    if "choices" in meta:
        if value in meta["choices"]:
            return None
        options = [str(c) for c in meta["choices"]]
        hint = difflib.get_close_matches(str(value), options, n=1)
        return f"is not allowed (did you mean {show(hint[0])}?)" if hint else "is not allowed"
    if name == "str":
        return "is empty" if not value.strip() else None
    if name == "list[str]":
        if not value or any(not v.strip() for v in value):
            return "is empty or holds an empty string"
        return None
    if name in ("int", "float"):
        if isinstance(value, float) and not math.isfinite(value):
            return "is not finite"
        out_of_range = (
            ("gt" in meta and not value > meta["gt"])
            or ("min" in meta and value < meta["min"])
            or ("max" in meta and value > meta["max"])
        )
        return "is out of range" if out_of_range else None
    return None


# --------------------------------------------------------------------------------------------
# Re-validation and dotted-path replacement (sweeps)
# --------------------------------------------------------------------------------------------


def validate(cfg: HwConfig) -> HwConfig:
    """Check a config built in code as ``load`` checks a file; returns a normalised copy.

    Raises
    ------
    ConfigError
        As ``load``; lines name ``cfg.source_path`` (or ``<HwConfig>``).
    """
    return _from_dict(to_dict(cfg), cfg.source_path, label=cfg.source_path or "<HwConfig>")


def replace_field(cfg: HwConfig, path: str, value: Any) -> HwConfig:
    """A copy of ``cfg`` with one dotted field replaced, validated like a loaded file.

    Parameters
    ----------
    cfg
        A hardware config.
    path
        Dotted field path, e.g. ``"pe.unroll_out_channels"`` or ``"energy_table"``
        (all paths: ``neurosim.hw.field_paths(cfg.family)``).
    value
        The new value; coerced like a TOML value (an int for a float field is fine).

    Returns
    -------
    PEArrayConfig | MulticoreConfig
        The new config (``dataclasses.replace`` semantics; ``cfg`` is unchanged).

    Raises
    ------
    ConfigError
        ``path`` is not a field of this family (the message lists the valid paths), or the
        new value, alone or with the other fields, is invalid.
    """
    return replace_fields(cfg, {path: value})


def replace_fields(cfg: HwConfig, values: Mapping[str, Any]) -> HwConfig:
    """A copy of ``cfg`` with several dotted fields replaced at once, validated once.

    Like ``replace_field``, but cross-field checks see all the new values together (a sweep
    point changes several fields). The message of a ``ConfigError`` names the file and every
    replaced field.
    """
    paths = field_paths(type(cfg))
    for path in values:
        if path not in paths:
            hint = difflib.get_close_matches(path, paths, n=1)
            did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(
                f"{path!r} is not a field of a {cfg.family} config;{did_you_mean} "
                f"valid paths: {', '.join(paths)}"
            )
    data = to_dict(cfg)
    for path, value in values.items():
        *sections, leaf = path.split(".")
        table = data
        for name in sections:
            table = table[name]
        table[leaf] = value
    changes = ", ".join(f"{path} = {show(value)}" for path, value in values.items())
    label = f"{cfg.source_path or '<HwConfig>'} (with {changes})"
    return _from_dict(data, cfg.source_path, label=label)
