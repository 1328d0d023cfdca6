"""The ``neurosim`` command's allocator setting: freed large arrays go back to the system.

Imports nothing from neurosim. Called once by the console script (``neurosim.__main__``),
never on import: it changes the whole process, which a library must leave to its caller.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3
"""glibc ``mallopt`` parameter: the size from which ``malloc`` maps memory of its own."""

MMAP_THRESHOLD_BYTES = 1 << 20
"""Allocations of 1 MiB or more are mapped, and unmapped when freed. glibc's default starts at
128 KiB but rises to the largest block freed (up to 32 MiB), after which such arrays come from
heaps that keep freed memory, one heap per thread: `neurosim run` on VGG-16 ImageNet (4
samples, two settings at once) peaked at 1.87 GiB resident by default and 1.58 GiB with this
fixed threshold, in the same CPU time."""


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD_BYTES`` (Linux with glibc; elsewhere
    nothing changes); returns whether it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
