"""The ``neurosim`` command's memory setting: numpy's large arrays on ordinary pages.

Imports nothing from neurosim. Called once by the console script (``neurosim.__main__``),
never on import: it changes the whole process, which a library must leave to its caller.
"""

from __future__ import annotations

import importlib


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
