"""Plain-Python reference for the integer LIF neuron (no numba), written from its definition.

Per step: q = (I << shift) + bias; with a synaptic current J ← α_int·J shifted right by h_s bits,
J += q (else J = q); V ← λ_int·V shifted right by h bits (floor, or toward zero), V += J + drive;
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
    drive: np.ndarray | None = None,
    syn_leak: np.ndarray | None = None,
    syn_leak_bits: int = 0,
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
            v, j = int(v_init[i]), 0
            theta = int(threshold[i])
            for t in range(num_steps):
                q = (int(cur[t if num_q > 1 else 0, b, i]) << shift) + int(bias[i])
                if syn_leak is not None:
                    j = _leak(j, int(syn_leak[i]), syn_leak_bits, toward_zero) + q
                    q = j
                v = _leak(v, int(leak[i]), leak_bits, toward_zero)
                v += q + (0 if drive is None else int(drive[i]))
                fired = v > theta if strict else v >= theta
                spikes[t, b, i] = fired
                if fired:
                    v = {"zero": 0, "value": int(v_reset[i]), "subtract": v - theta}[reset]
            final[b, i] = v
    return spikes, final
