"""Sweep specifications: ``*.sweep.toml`` files (or dicts) → a validated, frozen ``SweepSpec``.

Imports ``hw``, ``families``, ``schemes``, ``errors`` and ``sweep.constraints`` (the constraint
grammar, checked here at load). Validation collects every problem of a file into one
``ConfigError``, each line naming the file, the key and what is allowed.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from neurosim import hw, schemes
from neurosim.errors import ConfigError
from neurosim.experiment import DEFAULT_STREAM
from neurosim.hw.fields import show as _show
from neurosim.hw.source import is_file_source, parse_toml, path_kind, read_source
from neurosim.sweep.constraints import Constraint, _is_scalar, aliases, known_names

SCHEMA_VERSION = 1
"""The ``[meta].schema_version`` this neurosim reads."""

MAX_POINTS = 1_000_000
"""Most points a sweep may have (a full grid, or ``points`` of ``random`` and ``lhs``)."""

MAX_COUNT = 2**31
"""Largest ``samples``, ``stream``, ``batch_size`` or ``seed`` a spec may give."""

SUFFIX = ".sweep.toml"
"""File-name suffix of sweep specifications."""

PACKAGE = "neurosim.hwconfigs"
"""Package holding the shipped sweep specifications (next to the hardware descriptions)."""

MODES = ("grid", "random", "lhs")
"""``[sampling].mode``: the full grid, a seeded random sample of grid points, or a seeded Latin
hypercube over the axes' value lists."""

ENGINES = ("fast", "simpy")
"""``[base].engine``: ``fast`` = the exact max-plus timing engine where the family has one (PE
array; identical numbers), SimPy otherwise; ``simpy`` = always the SimPy processes."""


def scheme_options(scheme: str) -> tuple[str, ...]:
    """The ``neurosim.convert.convert`` keywords ``scheme`` takes (its record's options; none
    for an unknown scheme)."""
    return schemes.get(scheme).options.names() if scheme in schemes.names() else ()


BUNDLED = "bundled"
"""``[base].model`` value for the bundled digits CNN (the default)."""

Scalar = bool | int | float | str


@dataclass(frozen=True)
class Axis:
    """One swept parameter: a hardware field or a conversion setting, and its values."""

    name: str
    """Full dotted hardware path (``"pe.unroll_out_channels"``), ``"scheme"`` or a conversion
    keyword (``"num_steps"``); the results column."""
    values: tuple[Scalar, ...]
    """Values in the order given (grid order; random/LHS pick among them)."""
    target: str
    """``"hw"`` (applied with ``hw.replace_fields``) or ``"scheme"`` (the conversion)."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the base evaluation, the axes, how points are drawn, constraints.

    Build it with ``load_spec`` (a file or a shipped name) or ``SweepSpec.from_dict`` (the
    same structure as the TOML file); ``to_dict`` gives that structure back.
    """

    name: str
    """Short name, used in reports."""
    hw: str
    """Base hardware config: a shipped name (``hw.list_configs()``) or a ``.hw.toml`` path
    (relative paths are read from ``base_dir``)."""
    description: str = ""
    model: str = BUNDLED
    """``"bundled"``, ``"zoo:NAME[:DATASET]"`` or a model file path (relative to
    ``base_dir``)."""
    inputs: str | None = None
    """Inputs ``.npz`` (``images``, optional ``labels``); default: the bundled test images for
    the bundled model, seeded random codes for a zoo model."""
    samples: int | None = None
    """Inputs through the functional pass (op counts, accuracy): the first N; None = all
    (zoo: 8)."""
    stream: int = DEFAULT_STREAM
    """Of those, the first ``stream`` are timed as a stream on every hardware point."""
    batch_size: int = 256
    """Samples the functional pass simulates together (memory bound)."""
    scheme: str = field(default_factory=lambda: schemes.names()[0])
    """Base conversion scheme (default: the first registered, ``if``)."""
    options: tuple[tuple[str, Scalar], ...] = ()
    """Base conversion keywords (``convert.convert``), as (name, value) pairs."""
    engine: str = "fast"
    """Timing engine: ``ENGINES``."""
    axes: tuple[Axis, ...] = ()
    mode: str = "grid"
    points: int | None = None
    """Points drawn by ``random`` and ``lhs`` (required there; unused by ``grid``)."""
    seed: int = 0
    """Seed of ``random`` and ``lhs``."""
    constraints: tuple[str, ...] = ()
    """Expressions over axis (and base) values; a point is kept only if all are true."""
    source: str = field(default="<SweepSpec>", compare=False)
    """File the spec came from (for messages)."""
    base_dir: str = field(default=".", compare=False)
    """Folder relative paths are read from (the spec file's folder)."""

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", base_dir: str | os.PathLike = "."
    ) -> SweepSpec:
        """Validate a spec shaped like the TOML file (``{"meta": ..., "base": ..., ...}``).

        Raises
        ------
        ConfigError
            Every problem at once, one line each naming ``source``, the key and what is
            allowed.
        """
        return _parse(data, source, str(base_dir))

    def to_dict(self) -> dict[str, Any]:
        """The spec as the nested dict its TOML file parses to (dotted axes flattened)."""
        base: dict[str, Any] = {
            "hw": self.hw,
            "model": self.model,
            "stream": self.stream,
            "batch_size": self.batch_size,
            "scheme": self.scheme,
            "engine": self.engine,
            "options": dict(self.options),
        }
        if self.inputs is not None:
            base["inputs"] = self.inputs
        if self.samples is not None:
            base["samples"] = self.samples
        sampling: dict[str, Any] = {
            "mode": self.mode,
            "seed": self.seed,
            "constraints": list(self.constraints),
        }
        if self.points is not None:
            sampling["points"] = self.points
        return {
            "meta": {
                "schema_version": SCHEMA_VERSION,
                "name": self.name,
                "description": self.description,
            },
            "base": base,
            "axes": {a.name: list(a.values) for a in self.axes if a.target == "hw"},
            "scheme_axes": {a.name: list(a.values) for a in self.axes if a.target == "scheme"},
            "sampling": sampling,
        }

    def resolve(self, value: str) -> str:
        """A path from the spec made absolute against ``base_dir`` if it names a file there;
        otherwise unchanged (a shipped name, or a path ``hw.load``/``io`` will report)."""
        candidate = Path(self.base_dir) / value
        return str(candidate) if path_kind(candidate) == "file" else value

    def load_hw(self) -> hw.HwConfig:
        """The base hardware config."""
        return hw.load(self.resolve(self.hw))

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def list_specs() -> list[str]:
    """Names of the shipped sweep specifications (``load_spec`` accepts them)."""
    return sorted(
        entry.name[: -len(SUFFIX)]
        for entry in files(PACKAGE).iterdir()
        if entry.is_file() and entry.name.endswith(SUFFIX)
    )


def load_spec(name_or_path: str | os.PathLike) -> SweepSpec:
    """Read and validate a ``.sweep.toml`` file, or a shipped spec by name.

    A string with a path separator, or naming an existing file, is read from disk; otherwise
    it must be a shipped name (``list_specs()``).

    Raises
    ------
    ConfigError
        Unknown name, unreadable file, invalid TOML, or invalid content (all problems, each
        naming the file and key).
    """
    text = str(name_or_path)
    path = Path(name_or_path)
    if is_file_source(name_or_path):
        raw = read_source(path, "sweep", unreadable="sweep file")
        source, base_dir = str(path), str(path.resolve().parent)
    else:
        stem = text[: -len(SUFFIX)] if text.endswith(SUFFIX) else text
        shipped = list_specs()
        if stem not in shipped:
            hint = difflib.get_close_matches(stem, shipped, n=1)
            did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(
                f"unknown sweep {text!r};{did_you_mean} shipped sweeps: "
                f"{', '.join(shipped) or '(none)'}; or give a {SUFFIX} path"
            )
        entry = files(PACKAGE).joinpath(stem + SUFFIX)
        raw, source, base_dir = entry.read_text(encoding="utf-8"), str(entry), "."
    return _parse(parse_toml(raw, source), source, base_dir)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_SECTIONS = ("meta", "base", "axes", "scheme_axes", "sampling")
_KEYS = {
    "meta": ("schema_version", "name", "description"),
    "base": (
        "hw",
        "model",
        "inputs",
        "samples",
        "stream",
        "batch_size",
        "scheme",
        "options",
        "engine",
    ),
    "sampling": ("mode", "points", "seed", "constraints"),
}


class _Problems:
    """Collects ``file: key: problem`` lines; raises them together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, key: str, text: str) -> None:
        self.lines.append(f"{self.source}: {key}: {text}")

    def unknown(self, key: str, allowed: Sequence[str], where: str) -> None:
        hint = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(allowed), n=1)
        did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
        self.add(key, f"unknown key;{did_you_mean} allowed in {where}: {', '.join(allowed)}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise ConfigError("\n".join(self.lines))


def _table(data: Mapping[str, Any], name: str, problems: _Problems) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        problems.add(name, f"expected a table [{name}], got {_short(value)}")
        return {}
    return value


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted TOML keys (``pe.unroll_out_channels = [...]`` parses to nested tables) → paths."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _int(
    problems: _Problems, key: str, value: Any, minimum: int, maximum: int = MAX_COUNT
) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        problems.add(
            key,
            f"= {_short(value)} is not allowed; allowed: an integer in [{minimum}, {maximum}]",
        )
        return None
    return int(value)


def _short(value: Any) -> str:
    """A TOML value for a message (long ones cut)."""
    try:
        text = _show(value)
    except (RecursionError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _str(
    problems: _Problems, key: str, value: Any, choices: Sequence[str] | None = None
) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(
            key,
            f"= {_short(value)} is not allowed; allowed: "
            f"{', '.join(repr(c) for c in choices) if choices else 'a string'}",
        )
        return None
    if choices is not None and value not in choices:
        hint = difflib.get_close_matches(value, list(choices), n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        problems.add(
            key,
            f"= {_short(value)} is not allowed{did_you_mean}; allowed: "
            f"{', '.join(repr(c) for c in choices)}",
        )
        return None
    return value


def _parse(data: Mapping[str, Any], source: str, base_dir: str) -> SweepSpec:
    problems = _Problems(source)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a TOML document (table), got {type(data).__name__}")
    for key in data:
        if key not in _SECTIONS:
            problems.unknown(str(key), _SECTIONS, "the top level")
    meta, base, sampling = (_table(data, s, problems) for s in ("meta", "base", "sampling"))
    hw_axes_raw = _flatten(_table(data, "axes", problems))
    scheme_axes_raw = _flatten(_table(data, "scheme_axes", problems))
    for section, table in (("meta", meta), ("base", base), ("sampling", sampling)):
        for key in table:
            if key not in _KEYS[section]:
                problems.unknown(f"{section}.{key}", _KEYS[section], f"[{section}]")

    version = meta.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        problems.add(
            "meta.schema_version", f"= {_short(version)} is not allowed; allowed: {SCHEMA_VERSION}"
        )
    name = _str(problems, "meta.name", meta.get("name", Path(source).name.split(".")[0]))
    description = meta.get("description", "")
    if not isinstance(description, str):
        problems.add("meta.description", "must be a string")
        description = ""

    # [base]
    if "hw" not in base:
        problems.add(
            "base.hw",
            f"missing required key; allowed: a shipped config "
            f"({', '.join(hw.list_configs())}) or a .hw.toml path",
        )
    hw_name = _str(problems, "base.hw", base.get("hw", "pe_array"))
    base_cfg = None
    if hw_name is not None:
        candidate = Path(base_dir) / hw_name
        try:
            base_cfg = hw.load(str(candidate) if path_kind(candidate) == "file" else hw_name)
        except ConfigError as exc:
            problems.add("base.hw", str(exc).replace("\n", "\n    "))
    model = _str(problems, "base.model", base.get("model", BUNDLED))
    inputs = base.get("inputs")
    if inputs is not None:
        inputs = _str(problems, "base.inputs", inputs)
    if model is not None and model != BUNDLED and not model.startswith("zoo:") and inputs is None:
        problems.add(
            "base.inputs",
            f"missing: model {model!r} is a file, so an inputs .npz "
            f"(arrays 'images', optionally 'labels') is required",
        )
    samples = base.get("samples")
    if samples is not None:
        samples = _int(problems, "base.samples", samples, 1)
    stream = _int(problems, "base.stream", base.get("stream", DEFAULT_STREAM), 1)
    batch_size = _int(problems, "base.batch_size", base.get("batch_size", 256), 1)
    scheme = _str(problems, "base.scheme", base.get("scheme", schemes.names()[0]), schemes.names())
    engine = _str(problems, "base.engine", base.get("engine", "fast"), ENGINES)
    options_raw = base.get("options", {})
    options: list[tuple[str, Scalar]] = []
    if not isinstance(options_raw, Mapping):
        problems.add("base.options", "expected a table, e.g. options = { num_steps = 4 }")
        options_raw = {}
    for key, value in options_raw.items():
        if key not in schemes.option_names():
            problems.unknown(f"base.options.{key}", schemes.option_names(), "base.options")
        elif not _is_scalar(value):
            problems.add(
                f"base.options.{key}",
                f"= {_short(value)} is not allowed; allowed: a number, string or boolean",
            )
        else:
            options.append((key, value))

    # axes
    axes: list[Axis] = []
    family = base_cfg.family if base_cfg is not None else None
    if family is not None:
        paths = [p for p in hw.field_paths(family) if not p.startswith("meta.")]
        short = aliases(family)
        for key, values in hw_axes_raw.items():
            path = short.get(key, key)
            if path not in paths:
                hint = difflib.get_close_matches(key, [*paths, *short], n=1)
                did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
                problems.add(
                    f"axes.{key}",
                    f"not a field of a {family} config;{did_you_mean}"
                    f" allowed: {', '.join(paths)}"
                    + (f" (aliases: {', '.join(short)})" if short else ""),
                )
                continue
            vals = _values(problems, f"axes.{key}", values)
            if vals is not None:
                if any(a.name == path for a in axes):
                    problems.add(f"axes.{key}", f"{path} is swept twice")
                else:
                    axes.append(Axis(name=path, values=vals, target="hw"))
    for key, values in scheme_axes_raw.items():
        if key != "scheme" and key not in schemes.option_names():
            problems.unknown(
                f"scheme_axes.{key}", ("scheme", *schemes.option_names()), "[scheme_axes]"
            )
            continue
        vals = _values(problems, f"scheme_axes.{key}", values)
        if vals is None:
            continue
        if key == "scheme":
            for v in vals:
                if v not in schemes.names():
                    _str(problems, "scheme_axes.scheme", v, schemes.names())
        axes.append(Axis(name=key, values=vals, target="scheme"))
    swept_schemes = next((a.values for a in axes if a.name == "scheme"), (scheme,))
    for key, _ in options:
        if not any(key in scheme_options(str(s)) for s in swept_schemes):
            problems.add(
                f"base.options.{key}",
                f"does not apply to scheme(s) {', '.join(map(str, swept_schemes))}",
            )
    for a in axes:
        if (
            a.target == "scheme"
            and a.name != "scheme"
            and not any(a.name in scheme_options(str(s)) for s in swept_schemes)
        ):
            problems.add(
                f"scheme_axes.{a.name}",
                f"does not apply to scheme(s) {', '.join(map(str, swept_schemes))}",
            )

    # [sampling]
    mode = _str(problems, "sampling.mode", sampling.get("mode", "grid"), MODES)
    points = sampling.get("points")
    if points is not None:
        points = _int(problems, "sampling.points", points, 1, MAX_POINTS)
    if mode in ("random", "lhs") and "points" not in sampling:
        problems.add(
            "sampling.points",
            f"missing: mode {mode!r} needs the number of points (an integer >= 1)",
        )
    seed = _int(problems, "sampling.seed", sampling.get("seed", 0), 0)
    constraints_raw = sampling.get("constraints", [])
    if isinstance(constraints_raw, str):
        constraints_raw = [constraints_raw]
    if not isinstance(constraints_raw, list) or not all(
        isinstance(c, str) for c in constraints_raw
    ):
        problems.add("sampling.constraints", "expected a list of strings (expressions)")
        constraints_raw = []
    if family is not None:
        known = known_names(family, [a.name for a in axes])
        for i, text in enumerate(constraints_raw):
            try:
                Constraint.parse(text, known)
            except ConfigError as exc:
                problems.add(f"sampling.constraints[{i}]", str(exc))
    problems.raise_if_any()
    return SweepSpec(
        name=name,
        hw=hw_name,
        description=description,
        model=model,
        inputs=inputs,
        samples=samples,
        stream=stream,
        batch_size=batch_size,
        scheme=scheme,
        options=tuple(options),
        engine=engine,
        axes=tuple(axes),
        mode=mode,
        points=points,
        seed=seed,
        constraints=tuple(constraints_raw),
        source=source,
        base_dir=base_dir,
    )


def _values(problems: _Problems, key: str, values: Any) -> tuple[Scalar, ...] | None:
    if not isinstance(values, list) or not values:
        problems.add(
            key,
            f"= {_short(values)} is not allowed; allowed: a non-empty "
            f"list of values, e.g. [8, 16, 32]",
        )
        return None
    if not all(_is_scalar(v) for v in values):
        problems.add(
            key, f"= {_short(values)} is not allowed; allowed: numbers, strings or booleans"
        )
        return None
    if len(set(map(repr, values))) != len(values):
        problems.add(key, f"= {_short(values)} repeats a value")
        return None
    return tuple(values)
