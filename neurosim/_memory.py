"""The ``neurosim`` command's memory settings: numpy's large arrays on ordinary pages, freed
memory kept for reuse instead of handed back to the kernel, and the start-up's objects out of
the garbage collector's scans.

Imports nothing from neurosim. Called once by the console script (``neurosim.__main__``),
never on import: it changes the whole process, which a library must leave to its caller.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
"""glibc ``mallopt`` parameters (``malloc.h``)."""

_NEVER_TRIM = -1
"""``M_TRIM_THRESHOLD`` -1: the heap's freed top is never returned (mallopt(3))."""


def ordinary_pages() -> bool:
    """Stop numpy from asking for transparent huge pages on its large arrays (Linux
    ``madvise(MADV_HUGEPAGE)``); returns whether numpy had that switch.

    The functional passes allocate and drop arrays of tens of MiB per layer and batch, so
    their cost includes the kernel's first-touch page faults. Where transparent huge pages are
    granted on request ("madvise", with defrag on request too) each fault zeroes a 2 MiB page
    and may compact memory first: ``neurosim run --model zoo:vgg16:imagenet --samples 4``
    spent 5.5 s of system time and 14.0 s of wall time with numpy's default, 2.0 s and 11.7 s
    on ordinary pages (2 CPUs, the same user time).
    """
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")  # numpy >= 2
    except ImportError:
        multiarray = importlib.import_module("numpy.core.multiarray")
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is None:  # numpy without the switch (documented since 1.20)
        return False
    setter(False)
    return True


def reuse_freed_memory() -> bool:
    """Make glibc's malloc serve every block from one heap that it never shrinks, so a freed
    array's pages are reused by the next one instead of faulted in afresh; returns whether the
    C library is glibc and took the settings.

    By default glibc maps each block of 128 KiB – 32 MiB (and every larger one) separately
    and unmaps it on free: a pass that allocates and drops tens of MiB per layer and batch
    pays a zeroed page fault per 4 KiB each time. No mmap'd blocks (``M_MMAP_MAX`` 0), one
    arena (``M_ARENA_MAX`` 1: a thread's arena could not hold a block over 64 MiB) and no
    trimming keep the process at its peak: ``neurosim run --model zoo:vgg16:imagenet --samples
    4`` took 1.24 M page faults, 2.1 s of system time and 1.31 GiB peak RSS by default, 0.36 M,
    0.8 s and 1.51 GiB with these settings (2 CPUs, the same user time). Call it before the
    process starts threads.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _NEVER_TRIM))
    return all(mallopt(param, value) == 1 for param, value in settings)


def freeze_start_up() -> None:
    """Move every object alive now into the garbage collector's permanent generation, which
    its collections never scan. Call it once the start-up imports are done (and a sweep's
    start-up: ``cli.main(started=...)``). It does not count them: ``gc.get_freeze_count``
    walks the whole generation (~10 ms for a sweep's ~280 k objects).

    The modules imported at start-up (numpy, pandas, Numba, neurosim: ~150 k tracked
    objects) live until the process exits, yet each full collection walks all of them: 60–260
    ms each on this machine, two of them in a 1.6 s 200-point sweep. Frozen, the process's
    collections scan only what it makes later (a sweep's process: 0.16 → 0.05 s of
    collections). What it keeps for good is what a collection would have freed at that point:
    ~20 unreachable objects after the command's imports.
    """
    gc.freeze()
