"""Hardware configs derived from others: ``base = "pe_array"`` files and ``--set`` overrides.

Imports ``neurosim.errors`` and ``neurosim.hw.source`` only. A derived file names a shipped
config (or a path) in ``base`` and states only the fields it changes; ``load`` merges the two
documents before validation, so a derived file is checked by exactly the same rules as a full
one. ``parse_assignment`` reads the ``FIELD=VALUE`` of ``--set`` as a TOML value.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from neurosim.errors import ConfigError

BASE_KEY = "base"
"""Top-level key of a hardware file naming the config it starts from."""

MAX_BASE_DEPTH = 8
"""Longest chain of ``base`` references followed (a cycle stops here with a ConfigError)."""


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it: tables merge key by key, any other value
    (numbers, strings, lists) replaces the base's."""
    out = dict(base)
    for key, value in changes.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def resolve_base(
    data: Mapping[str, Any],
    source: str,
    read: Callable[[str], tuple[dict[str, Any], str]],
    depth: int = 0,
) -> dict[str, Any]:
    """The full document of a file that may name a ``base``: the base's document (itself
    resolved) with this file's keys laid over it. ``read(name_or_path)`` returns a parsed
    document and its source; a relative path in ``base`` is taken from ``source``'s folder.

    Without its own ``meta.name`` a derived config is named after its file (``fast_dram`` for
    ``fast_dram.hw.toml``) and described as the base with the changed fields, so reports never
    show the base's name for a changed config.
    """
    if BASE_KEY not in data:
        return dict(data)
    base = data[BASE_KEY]
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(
            f"{source}: base = {base!r} is not a config name; allowed: a shipped name such as "
            f"'pe_array' or the path of a .hw.toml file"
        )
    if depth >= MAX_BASE_DEPTH:
        raise ConfigError(f"{source}: base chain longer than {MAX_BASE_DEPTH} (a cycle?)")
    target = base
    if ("/" in base or base.endswith(".toml")) and not Path(base).is_absolute():
        candidate = Path(source).parent / base
        if candidate.is_file():
            target = str(candidate)
    try:
        base_data, base_source = read(target)
    except ConfigError as exc:
        raise ConfigError(f"{source}: base = {base!r}: {exc}") from None
    full = resolve_base(base_data, base_source, read, depth + 1)
    own = {k: v for k, v in data.items() if k != BASE_KEY}
    merged = merge(full, own)
    own_meta = own.get("meta", {}) if isinstance(own.get("meta"), Mapping) else {}
    meta = dict(merged.get("meta", {})) if isinstance(merged.get("meta"), Mapping) else {}
    if "name" not in own_meta:
        meta["name"] = Path(source).name.split(".")[0] or f"{base}_derived"
    if "description" not in own_meta:
        changed = ", ".join(changed_paths(own)) or "no changes"
        meta["description"] = f"{base} with {changed} changed (derived with base = {base!r})"
    merged["meta"] = meta
    return merged


def changed_paths(doc: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the leaf values of a (partial) document, ``meta`` left out."""
    out = []
    for key, value in doc.items():
        if not prefix and key == "meta":
            continue
        if isinstance(value, Mapping):
            out += changed_paths(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"dram.bandwidth_gbps=25.6"`` → ``("dram.bandwidth_gbps", 25.6)``.

    The value is read as a TOML value (``25.6``, ``4``, ``true``, ``"group"``, ``[1, 2]``); a
    bare word that is not TOML is kept as a string (``zero_skipping=group``).
    """
    path, sep, raw = text.partition("=")
    path, raw = path.strip(), raw.strip()
    if not sep or not path or not raw:
        raise ConfigError(
            f"--set {text!r}: expected FIELD=VALUE with a dotted hardware field, e.g. "
            f"dram.bandwidth_gbps=25.6"
        )
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    except (ValueError, RecursionError):  # an integer too long to convert, deep nesting
        raise ConfigError(f"--set {text!r}: the value is too long or nested too deep") from None
    return path, value
