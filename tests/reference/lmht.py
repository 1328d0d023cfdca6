"""Plain-Python reference for the LM-HT neuron and its re-parameterised IF form (no numba).

Uses exact rationals Ω = tgim/2^g and λ = leak/2^h, rounding half up where the integer form does.
"""

from __future__ import annotations

from fractions import Fraction
from math import floor

import numpy as np


def round_half_up(x: Fraction) -> int:
    """floor(x + 1/2)."""
    return floor(x + Fraction(1, 2))


def mixed_drives(inputs: list[int], tgim: np.ndarray, tgim_bits: int) -> list[int]:
    """J(t) = round_half_up(Σ_j Ω[t, j]·I(j)) for t = 1..T, with Ω = tgim / 2^g."""
    num_steps = tgim.shape[0]
    return [
        round_half_up(
            sum(Fraction(int(tgim[t, j]), 2**tgim_bits) * inputs[j] for j in range(num_steps))
        )
        for t in range(num_steps)
    ]


def _inputs(cur: np.ndarray, num_steps: int, b: int, i: int) -> list[int]:
    """I(1..T) for one neuron; a one-step current stands for every step."""
    return [int(cur[j if cur.shape[0] > 1 else 0, b, i]) for j in range(num_steps)]


def lmht_scan_reference(
    current: np.ndarray,
    tgim: np.ndarray,
    tgim_bits: int,
    leak: int,
    leak_bits: int,
    num_levels: int,
    threshold: np.ndarray,
    v0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-level LM-HT; returns uint8 levels [T, B, n] and int64 final v [B, n]."""
    cur = np.asarray(current)
    _, batch, num_neurons = cur.shape
    num_steps = tgim.shape[0]
    lam = Fraction(leak, 2**leak_bits)
    levels = np.zeros((num_steps, batch, num_neurons), dtype=np.uint8)
    final = np.zeros((batch, num_neurons), dtype=np.int64)
    for b in range(batch):
        for i in range(num_neurons):
            theta = int(threshold[i])
            drives = mixed_drives(_inputs(cur, num_steps, b, i), tgim, tgim_bits)
            v = int(v0[i])
            for t in range(num_steps):
                m = round_half_up(lam * v) + drives[t]
                k = min(num_levels, max(0, floor(Fraction(m, theta))))
                levels[t, b, i] = k
                v = m - k * theta
            final[b, i] = v
    return levels, final


def lmht_reparam_scan_reference(
    current: np.ndarray,
    tgim: np.ndarray,
    tgim_bits: int,
    leak: int,
    leak_bits: int,
    num_levels: int,
    threshold: np.ndarray,
    v0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary IF over T·L sub-steps on the L-scaled membrane; uint8 spikes, int64 final v'."""
    cur = np.asarray(current)
    _, batch, num_neurons = cur.shape
    num_steps = tgim.shape[0]
    lam = Fraction(leak, 2**leak_bits)
    spikes = np.zeros((num_steps * num_levels, batch, num_neurons), dtype=np.uint8)
    final = np.zeros((batch, num_neurons), dtype=np.int64)
    for b in range(batch):
        for i in range(num_neurons):
            fire_at = num_levels * int(threshold[i])
            drives = mixed_drives(_inputs(cur, num_steps, b, i), tgim, tgim_bits)
            v = num_levels * int(v0[i])
            sub = 0
            for t in range(num_steps):
                v = round_half_up(lam * v)
                for _ in range(num_levels):
                    v += drives[t]
                    if v >= fire_at:
                        spikes[sub, b, i] = 1
                        v -= fire_at
                    sub += 1
            final[b, i] = v
    return spikes, final
