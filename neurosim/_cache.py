"""Where neurosim keeps files it can rebuild (zoo models): a leaf module.

``NEUROSIM_CACHE_DIR`` names the folder; unset, it is ``$XDG_CACHE_HOME/neurosim`` or
``~/.cache/neurosim``; set to ``off`` (or ``0``, ``none``, or empty), nothing is cached.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "NEUROSIM_CACHE_DIR"
"""Environment variable naming the cache folder (``off`` turns the cache off)."""

_OFF = {"", "0", "off", "none", "false", "no"}


def cache_dir() -> Path | None:
    """The cache folder (read from the environment at each call), or None when turned off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neurosim"
