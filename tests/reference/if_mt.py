"""Plain-Python reference for the MT-SNN/QCFS IF neuron, in exact rationals (no numba).

Written from the paper's form (V0 = θ/2, charge, fire at equality, subtract), not from the kernel.
"""

from __future__ import annotations

from fractions import Fraction
from math import floor

import numpy as np


def rhu(x: int, d: int) -> int:
    """Round x/d half up, computed as floor(x/d + 1/2) on exact rationals."""
    return floor(Fraction(x, d) + Fraction(1, 2))


def if_count_closed_form(current: int, threshold: int, num_steps: int) -> int:
    """Spike count under a constant current: clip(rhu(T·P, Θ), 0, T) (QCFS level)."""
    return min(max(rhu(num_steps * current, threshold), 0), num_steps)


def if_scan_reference(
    current: np.ndarray, num_steps: int, threshold: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-reset IF with V0 = Θ/2; returns uint8 spikes [T, B, n] and int64 2·V_T [B, n]."""
    cur = np.asarray(current)
    num_q, batch, num_neurons = cur.shape
    spikes = np.zeros((num_steps, batch, num_neurons), dtype=np.uint8)
    doubled = np.zeros((batch, num_neurons), dtype=np.int64)
    for b in range(batch):
        for i in range(num_neurons):
            theta = Fraction(int(threshold[i]))
            v = theta / 2
            for t in range(num_steps):
                u = v + int(cur[t if num_q > 1 else 0, b, i])
                fired = u >= theta
                spikes[t, b, i] = int(fired)
                v = u - theta * int(fired)
            assert (2 * v).denominator == 1
            doubled[b, i] = int(2 * v)
    return spikes, doubled
