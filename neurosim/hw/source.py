"""Where a TOML input comes from: a file on disk or a shipped name.

Shared by hardware configs, energy tables and sweep specs (imports ``errors`` only).
"""

from __future__ import annotations

import os
from pathlib import Path

from neurosim.errors import ConfigError


def is_file_source(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` names a file on disk (a path object, a string with a path
    separator, or an existing file) rather than a shipped name."""
    if isinstance(name_or_path, os.PathLike):
        return True
    name = str(name_or_path)
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(sep in name for sep in separators) or Path(name).is_file()


def read_source(path: str | os.PathLike, what: str, *, unreadable: str | None = None) -> str:
    """The UTF-8 text of ``path``; ConfigError ``<path>: no such <what> file`` or ``<path>:
    cannot read <unreadable or what>: <reason>``."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {unreadable or what}: {exc}") from exc
