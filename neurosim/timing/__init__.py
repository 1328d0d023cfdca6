"""Timing models, one per hardware family, and what they share: ``TimingResult``, the stall
causes, ``TraceStats``.

Imports ``mapping``, ``trace``, ``hw``, ``ir``, ``schemes``, ``registry``, ``kernels`` and
``errors``. The family registry (``neurosim.families``) runs the right model:
``families.simulate(mapping, trace, hw)``.
"""

from neurosim.timing.activity import TraceStats
from neurosim.timing.multicore import simulate_multicore
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.result import TimingResult
from neurosim.timing.stages import STALL_CAUSES, StallCause, registered_cause

__all__ = [
    "STALL_CAUSES",
    "StallCause",
    "TimingResult",
    "TraceStats",
    "registered_cause",
    "simulate_multicore",
    "simulate_pe_array",
]
