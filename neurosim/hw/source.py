"""Where a TOML input comes from: a file on disk or a shipped name.

Shared by hardware configs, energy tables and sweep specs (imports ``errors`` only).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from neurosim.errors import ConfigError


def path_kind(path: str | os.PathLike) -> str | None:
    """``"file"``, ``"folder"`` or ``"other"`` (a device, a socket...) for an existing path;
    None for one that does not exist or cannot be looked up (too long, a part is a file, no
    permission): never an OSError."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "folder" if stat.S_ISDIR(st.st_mode) else "other"


def is_file_source(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` names a file on disk (a path object, a string with a path
    separator, or an existing file) rather than a shipped name."""
    if isinstance(name_or_path, os.PathLike):
        return True
    name = str(name_or_path)
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(sep in name for sep in separators) or path_kind(name) == "file"


MAX_TOML_DEPTH = 16
"""Deepest nesting of tables and arrays a TOML input may have (the formats use 3)."""


def read_source(path: str | os.PathLike, what: str, *, unreadable: str | None = None) -> str:
    """The UTF-8 text of ``path``; ConfigError ``<path>: no such <what> file`` or ``<path>:
    cannot read <unreadable or what>: <reason>`` (also for a folder or a device)."""
    path = Path(path)
    kind = path_kind(path)
    if kind in ("folder", "other"):
        shown = "a folder" if kind == "folder" else "not a regular file"
        raise ConfigError(f"{path}: {shown}; expected a {what} file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read {unreadable or what}: {reason}") from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """``tomllib.loads(text)`` with every failure a ConfigError naming ``source``: syntax, an
    integer too long to convert (tomllib raises ValueError), nesting deeper than
    ``MAX_TOML_DEPTH`` (RecursionError inside tomllib, or later in a validator)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"{source}: not valid TOML here: nested deeper than {MAX_TOML_DEPTH} levels"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{source}: not valid TOML here: {str(exc).split(';')[0]}") from None
    todo: list[tuple[Any, int]] = [(data, 0)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_TOML_DEPTH:
            raise ConfigError(
                f"{source}: not valid TOML here: nested deeper than {MAX_TOML_DEPTH} levels"
            )
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)
    return data
