"""Where a result came from: neurosim's version, the model (name and content hash), the
hardware config and energy table (names and hashes), any ``--set`` overrides and the command
line. Every result file records it (``report.tables``: JSON field, CSV sidecar, Markdown footer,
LaTeX comment).

Imports ``ir`` and ``hw``. Hashes are the first 16 hex digits of SHA-256: the model's over its
layers' fields and arrays (so the same network from any file format hashes alike), the config's
over its canonical dict (``hw.to_dict``), the energy table's over its file's bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import __version__, hw, ir
from neurosim.hw.energy_table import load_energy_table

NOTE = "every hardware figure is a model's estimate (modelled, not measured)"
"""The sentence each provenance record carries."""


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        h.update(f"array{value.shape}{value.dtype}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(type(value).__name__.encode())
        for f in dataclasses.fields(value):
            if f.init:
                h.update(f.name.encode())
                _feed(h, getattr(value, f.name))
    elif isinstance(value, Mapping):
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _feed(h, value[k])
    elif isinstance(value, list | tuple):
        h.update(b"[")
        for v in value:
            _feed(h, v)
        h.update(b"]")
    else:
        h.update(repr(value).encode())


def network_hash(net: ir.Network) -> str:
    """16 hex digits over a network's layers (every field and array), kind and scheme."""
    h = hashlib.sha256()
    _feed(h, (net.kind, net.scheme, net.layers))
    return h.hexdigest()[:16]


def config_hash(config: hw.HwConfig) -> str:
    """16 hex digits over a hardware config's content (``hw.to_dict``)."""
    text = json.dumps(hw.to_dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def energy_table_info(name_or_path: str) -> dict[str, str]:
    """Name and hash (of its file's bytes) of an energy table."""
    table = load_energy_table(name_or_path)
    source = getattr(table, "source_path", "") or ""
    try:
        data = Path(source).read_bytes()
    except OSError:
        data = repr(table).encode()
    name = getattr(getattr(table, "meta", None), "name", None) or str(name_or_path)
    return {"name": str(name), "sha256": hashlib.sha256(data).hexdigest()[:16]}


def command_line(argv: Sequence[str] | None) -> str:
    """``neurosim <args>`` as a shell would read it back."""
    return "neurosim " + shlex.join(list(argv or []))


def collect(
    *,
    network: ir.Network | None = None,
    config: hw.HwConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    argv: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of a result (a JSON-ready dict)."""
    out: dict[str, Any] = {"neurosim": __version__, "note": NOTE}
    if network is not None:
        out["model"] = {"name": network.name, "sha256": network_hash(network)}
    if config is not None:
        out["hw"] = {
            "name": config.meta.name,
            "family": config.family,
            "sha256": config_hash(config),
        }
        if overrides:
            out["hw_overrides"] = dict(overrides)
        out["energy_table"] = energy_table_info(config.energy_table)
    if extra:
        out.update(extra)
    if argv is not None:
        out["command"] = command_line(argv)
    return out
