"""Atomic file writes (temporary file in the same folder, then rename): a leaf module.

Imports ``errors`` only. A temporary file is named ``.<name>.<pid>-<token>.<random>.tmp``,
where ``token`` is drawn once per process: a write killed half-way leaves one behind, and the
next write into that folder removes every such file whose process is gone (or that another
process with a reused pid left), so no ``.tmp`` file outlives the run after the crash.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from neurosim.errors import ConfigError

_TOKEN = secrets.token_hex(4)
"""Drawn once per process: tells this process's temporary files from those of a dead one
that had the same pid."""

_TEMP = re.compile(r"^\..+\.(\d+)-([0-9a-f]{8})\.[^.]+\.tmp$")
_LEGACY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
LEGACY_AGE_SECONDS = 60.0
"""A temporary file without a pid (written by an older neurosim) is stale after this long."""


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    Raises
    ------
    ConfigError
        The file cannot be written (its folder is a file, read-only, not creatable, full, or
        ``path`` is a folder), naming the path and the reason.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{os.getpid()}-{_TOKEN}.", suffix=".tmp"
        )
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write this file: {_reason(exc)}") from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of writes that never finished in ``folder`` (their process
    is gone); returns what was removed. Files of live writers are kept."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = _TEMP.match(name)
        path = Path(folder) / name
        try:
            if match:
                pid, token = int(match.group(1)), match.group(2)
                stale = token != _TOKEN and not (pid != os.getpid() and _alive(pid))
            elif _LEGACY_TEMP.match(name):
                stale = now - path.stat().st_mtime > LEGACY_AGE_SECONDS
            else:
                continue
            if stale:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (on Windows, unknown: assumed alive)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _reason(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return "a part of its folder path is a file"
    return exc.strerror or str(exc)
