"""Plain-Python reference for the integer LIF neuron (no numba), written from its definition.

Per step: V ← λ_int·V shifted right by h bits (floor, or toward zero), V += (I << shift) + bias,
fire on V > Θ (strict) or V ≥ Θ, then reset to 0, to V_reset or by subtracting Θ.
"""

from __future__ import annotations

import numpy as np


def _leak(v: int, lam: int, bits: int, toward_zero: bool) -> int:
    prod = lam * v
    if toward_zero and prod < 0:
        return -((-prod) // (1 << bits))
    return prod // (1 << bits)  # Python's // is floor division, exact on ints


def lif_scan_reference(
    current: np.ndarray,
    num_steps: int,
    threshold: np.ndarray,
    *,
    leak: np.ndarray,
    leak_bits: int,
    reset: str,
    v_reset: np.ndarray,
    v_init: np.ndarray,
    bias: np.ndarray,
    shift: int = 0,
    strict: bool = True,
    toward_zero: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 spikes [T, B, n] and the final membrane [B, n] (int64), one neuron at a time."""
    cur = np.asarray(current)
    num_q, batch, n = cur.shape
    spikes = np.zeros((num_steps, batch, n), np.uint8)
    final = np.zeros((batch, n), np.int64)
    for b in range(batch):
        for i in range(n):
            v = int(v_init[i])
            theta = int(threshold[i])
            for t in range(num_steps):
                v = _leak(v, int(leak[i]), leak_bits, toward_zero)
                v += (int(cur[t if num_q > 1 else 0, b, i]) << shift) + int(bias[i])
                fired = v > theta if strict else v >= theta
                spikes[t, b, i] = fired
                if fired:
                    v = {"zero": 0, "value": int(v_reset[i]), "subtract": v - theta}[reset]
            final[b, i] = v
    return spikes, final
