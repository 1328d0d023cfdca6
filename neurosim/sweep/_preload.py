"""Imported by the fork server that a sweep's local workers are forked from (``LocalPool``).

Importing it imports the costing modules and loads their compiled kernels once, in the fork
server, so that every forked worker starts with both (this side effect is its purpose). On
Linux it asks the kernel to kill the fork server when its parent, the sweep's process, dies. It
also quiets one failure that is not an error: a worker that the fork server creates after its
sweep has ended (Ctrl-C while the fork server was still starting) cannot rebuild the queues'
locks, which the sweep removed on exit; it then exits without a traceback.
"""

import sys
import traceback

from neurosim.sweep import run  # noqa: F401  (imports every module a point needs)
from neurosim.sweep.pool import die_with_parent
from neurosim.timing import pe_array_costs

die_with_parent()  # Linux: the fork server goes when the sweep's process does
pe_array_costs.warm_up()


def _sweep_ended(exc: BaseException) -> bool:
    """Whether ``exc`` is a worker failing to unpickle a lock its (finished) sweep removed."""
    if not isinstance(exc, FileNotFoundError):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f.name == "__setstate__" and f.filename.endswith("synchronize.py") for f in frames)


def _excepthook(kind, exc, tb, _default=sys.excepthook):
    if not _sweep_ended(exc):
        _default(kind, exc, tb)


sys.excepthook = _excepthook
