"""Plain-Python reference for the TSA neuron (SWS eq. 3, β = 2) in exact rationals (no numba).

Uses the paper's half threshold V_th = β^Ts·θ/2 directly instead of the kernel's doubled compare.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def weighted_input(z: list[int]) -> int:
    """X = Σ_τ 2^(Tc-τ) z(τ) for τ = 1..Tc."""
    coding_steps = len(z)
    return sum(int(v) * 2 ** (coding_steps - tau) for tau, v in enumerate(z, start=1))


def encoded_value(spikes: np.ndarray) -> np.ndarray:
    """A = Σ_τ a_τ 2^(Tc-τ) along axis 0, as int64 (SWS eq. 7 in levels)."""
    coding_steps = spikes.shape[0]
    weights = np.array([2 ** (coding_steps - tau) for tau in range(1, coding_steps + 1)])
    weights = weights.reshape((coding_steps,) + (1,) * (spikes.ndim - 1))
    return (spikes.astype(np.int64) * weights).sum(axis=0)


def tsa_neuron_reference(
    z: list[int], silent_steps: int, threshold: int, max_level: int = -1
) -> tuple[list[int], int]:
    """One neuron, one frame: spikes a_1..a_Tc and the final residual u(Tc+Ts)."""
    coding_steps = len(z)
    v_th = Fraction(threshold * 2**silent_steps, 2)
    u = Fraction(0)
    value = 0
    out = []
    for t in range(1, coding_steps + silent_steps + 1):
        u = 2 * u + (int(z[t - 1]) if t <= coding_steps else 0)
        if t <= silent_steps:
            continue
        tau = t - silent_steps
        a = 1 if u >= v_th else (-1 if u < -v_th else 0)
        if a and max_level >= 0:
            trial = value + a * 2 ** (coding_steps - tau)
            if not 0 <= trial <= max_level:
                a = 0
        value += a * 2 ** (coding_steps - tau)
        u -= a * threshold * 2**silent_steps
        out.append(a)
    assert u.denominator == 1
    return out, int(u)


def tsa_scan_reference(
    current: np.ndarray, silent_steps: int, threshold: np.ndarray, max_level: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Every neuron of a [Tc, B, n] current; returns int8 spikes [Tc, B, n], int64 u [B, n]."""
    cur = np.asarray(current)
    coding_steps, batch, num_neurons = cur.shape
    spikes = np.zeros((coding_steps, batch, num_neurons), dtype=np.int8)
    residual = np.zeros((batch, num_neurons), dtype=np.int64)
    for b in range(batch):
        for i in range(num_neurons):
            a, u = tsa_neuron_reference(
                [int(x) for x in cur[:, b, i]], silent_steps, int(threshold[i]), max_level
            )
            spikes[:, b, i] = a
            residual[b, i] = u
    return spikes, residual
