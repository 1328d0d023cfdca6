"""What a float reference of an imported SNN returns (``Importer.reference``).

Imports numpy only; ``experiment`` compares it with the integer run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ReferenceRun:
    """The float reference's run of a batch, keyed by neurosim layer names."""

    spikes: dict[str, np.ndarray]
    """Spiking layer → uint8 0/1 spikes [T, batch, *shape]."""
    outputs: np.ndarray
    """float64 [batch, classes]: spike counts of a spiking output layer, else Σ_t of its
    per-step values."""
    predictions: np.ndarray
    """int64 [batch]: argmax of ``outputs`` (the first on ties)."""
