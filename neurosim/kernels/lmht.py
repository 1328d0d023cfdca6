"""Integer LM-HT multi-level neuron and its single-threshold IF re-parameterisation over T·L steps.

Imports numpy, numba, ``neurosim.errors``, the shared input checks of ``kernels.if_mt`` and the
threads of ``kernels.operands``.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError
from neurosim.kernels.if_mt import (
    _INT64_HEADROOM,
    _abs_max,
    _as_current,
    _as_int,
    _as_threshold,
    _check_int_dtype,
    _membrane_limit,
    _per_neuron,
    _raise_on_overflow,
)
from neurosim.kernels.operands import _run_threads

__all__ = ["lmht_reparam_scan", "lmht_scan"]

_MAX_LEVELS = 255
"""Most levels L per step: levels are returned as uint8."""

_MAX_FRACTION_BITS = 60
"""Most fraction bits for the fixed-point T-GIM and leak (keeps 2**bits inside int64)."""


@numba.njit(cache=True)
def _rhu(x, divisor):
    """Round x / divisor half up for a positive divisor: floor((2x + d) / (2d))."""
    return (2 * x + divisor) // (2 * divisor)


@numba.njit(cache=True)
def _mixed_drive(current, tgim, tgim_div, t, b, i):
    """J(t) = rhu(Σ_j tgim[t, j]·I(j), 2^g); a one-step current stands for every I(j)."""
    num_q = current.shape[0]
    acc = np.int64(0)
    for j in range(tgim.shape[1]):
        acc += tgim[t, j] * np.int64(current[j if num_q > 1 else 0, b, i])
    return _rhu(acc, tgim_div)


@numba.njit(cache=True, nogil=True)
def _lmht_scan(
    current,
    tgim,
    tgim_div,
    leak,
    leak_div,
    num_levels,
    threshold,
    v0,
    limit,
    levels,
    v_out,
    overflow_step,
    lo,
    hi,
):
    """Multi-level scan over T steps of neurons lo..hi-1 (sample-major); fill levels, v_out
    and overflow_step."""
    num_neurons = current.shape[2]
    num_steps = tgim.shape[0]
    for p in range(lo, hi):
        b = p // num_neurons
        i = p - b * num_neurons
        theta = threshold[i]
        v = v0[i]
        first = -1
        for t in range(num_steps):
            m = _rhu(leak * v, leak_div) + _mixed_drive(current, tgim, tgim_div, t, b, i)
            if m > limit or m < -limit:
                first = t + 1
                break
            k = m // theta
            if k < 0:
                k = 0
            elif k > num_levels:
                k = num_levels
            levels[t, b, i] = k
            # 0 <= k·Θ <= max(m, 0), so v lies between min(m, 0) and m: no new overflow.
            v = m - k * theta
        v_out[b, i] = v
        overflow_step[p] = first


@numba.njit(cache=True, nogil=True)
def _lmht_reparam_scan(
    current,
    tgim,
    tgim_div,
    leak,
    leak_div,
    num_levels,
    threshold,
    v0,
    limit,
    spikes,
    v_out,
    overflow_step,
    lo,
    hi,
):
    """Binary IF scan over T·L sub-steps on an L-scaled membrane of neurons lo..hi-1; fill
    spikes, v_out, steps."""
    num_neurons = current.shape[2]
    num_steps = tgim.shape[0]
    for p in range(lo, hi):
        b = p // num_neurons
        i = p - b * num_neurons
        # Scaling the membrane by L replaces the per-sub-step input J/L by J: no rounding.
        fire_at = num_levels * threshold[i]
        v = num_levels * v0[i]
        first = -1
        for t in range(num_steps):
            v = _rhu(leak * v, leak_div)
            if v > limit or v < -limit:
                first = t * num_levels + 1
                break
            drive = _mixed_drive(current, tgim, tgim_div, t, b, i)
            for s in range(num_levels):
                v += drive
                if v > limit or v < -limit:
                    first = t * num_levels + s + 1
                    break
                if v >= fire_at:
                    spikes[t * num_levels + s, b, i] = 1
                    v -= fire_at
            if first >= 0:
                break
        v_out[b, i] = v
        overflow_step[p] = first


def _check_lmht(
    current: np.ndarray,
    tgim: np.ndarray,
    tgim_bits: int,
    leak: int,
    leak_bits: int,
    num_levels: int,
    threshold: np.ndarray,
    v0: np.ndarray,
    mem_bits: int,
    layer: str,
    scaled: bool,
) -> tuple[np.ndarray, np.ndarray, int, int, int, int, np.ndarray, np.ndarray, int]:
    """Validate LM-HT inputs shared by both scans; ``scaled`` marks the L-scaled membrane."""
    limit = _membrane_limit(mem_bits, layer)
    tgim_arr = np.asarray(tgim)
    _check_int_dtype(tgim_arr, "tgim", layer)
    if tgim_arr.ndim != 2 or tgim_arr.shape[0] != tgim_arr.shape[1] or tgim_arr.shape[0] < 1:
        raise ModelError(
            f"layer {layer!r}: tgim must be a square [T, T] array, got {tgim_arr.shape}"
        )
    tgim_arr = np.ascontiguousarray(tgim_arr, dtype=np.int64)
    num_steps = tgim_arr.shape[0]
    tgim_bits = _as_int(tgim_bits, "tgim_bits", layer, minimum=0, maximum=_MAX_FRACTION_BITS)
    leak_bits = _as_int(leak_bits, "leak_bits", layer, minimum=0, maximum=_MAX_FRACTION_BITS)
    leak = _as_int(leak, "leak", layer, minimum=0)
    num_levels = _as_int(num_levels, "num_levels", layer, minimum=1, maximum=_MAX_LEVELS)
    membrane_scale = num_levels if scaled else 1
    cur = _as_current(current, layer)
    num_q, _, num_neurons = cur.shape
    if num_q not in (1, num_steps):
        raise ModelError(
            f"layer {layer!r}: current has {num_q} steps; expected 1 (same input every step) "
            f"or T={num_steps} (tgim is {num_steps}x{num_steps})"
        )
    theta = _as_threshold(threshold, num_neurons, layer)
    start = _per_neuron(v0, num_neurons, "v0", layer)
    if theta.size and membrane_scale * int(theta.max()) > limit:
        raise ModelError(
            f"layer {layer!r}: threshold {int(theta.max())} (scaled by {membrane_scale}) does "
            f"not fit the int{mem_bits} membrane (±{limit})"
        )
    if membrane_scale * _abs_max(start) > limit:
        raise ModelError(
            f"layer {layer!r}: v0 {_abs_max(start)} (scaled by {membrane_scale}) does not fit "
            f"the int{mem_bits} membrane (±{limit})"
        )
    # Below, T-GIM sums and leak products stay under 2^61, so the int64 core cannot wrap
    # before its membrane check runs.
    row_sum = max(sum(abs(int(w)) for w in row) for row in tgim_arr.tolist())
    if row_sum * _abs_max(cur) > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: T-GIM mixing (row sum {row_sum} x |I| {_abs_max(cur)}) exceeds "
            f"the kernel's int64 headroom (2^61)"
        )
    if leak * limit > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: leak {leak} times the int{mem_bits} membrane range exceeds the "
            f"kernel's int64 headroom (2^61)"
        )
    return cur, tgim_arr, 1 << tgim_bits, leak, 1 << leak_bits, num_levels, theta, start, limit


def lmht_scan(
    current: np.ndarray,
    tgim: np.ndarray,
    tgim_bits: int,
    leak: int,
    leak_bits: int,
    num_levels: int,
    threshold: np.ndarray,
    v0: np.ndarray,
    *,
    mem_bits: int = 32,
    layer: str = "?",
) -> tuple[np.ndarray, np.ndarray]:
    """Run LM-HT multi-level neurons over T steps in fixed point (LM-HT, Hao et al. 2024).

    Integer form of ``LMHTNeuron.forward`` in the authors' code. With Ω = tgim / 2^g and
    λ = leak / 2^h, each step t = 1..T computes

    * ``J(t) = rhu(Σ_j tgim[t, j]·I(j), 2^g)``: the T-GIM mixes all T input steps, so the
      layer needs its whole input before its first step;
    * ``m = rhu(leak·v, 2^h) + J(t)``;
    * ``k(t) = clip(floor(m / Θ), 0, L)``, the multi-level spike (value k·Θ);
    * ``v = m - k(t)·Θ``, a soft reset by the emitted value.

    With g = 0 or h = 0 the corresponding rounding is the identity.

    Parameters
    ----------
    current : numpy.ndarray
        Integer input I (membrane LSBs), shape [Tq, B, n] with Tq = 1 (the same I(j) for every
        j) or Tq = T. int32 and int64 are used as they are; other integer dtypes are widened.
    tgim : numpy.ndarray
        Fixed-point T-GIM Ω·2^g, integer [T, T]; T is taken from its shape.
    tgim_bits : int
        g, the fraction bits of ``tgim`` (0..60).
    leak : int
        Fixed-point leak λ·2^h (>= 0).
    leak_bits : int
        h, the fraction bits of ``leak`` (0..60).
    num_levels : int
        L, the highest level a step can emit (1..255).
    threshold : numpy.ndarray
        Integer threshold Θ per neuron (membrane LSBs), shape [n], every entry > 0; a scalar
        is broadcast.
    v0 : numpy.ndarray
        Integer initial membrane per neuron (LSBs), shape [n]; a scalar is broadcast.
    mem_bits : int, optional
        Width of the signed membrane (bits, 2..60). Default 32.
    layer : str, optional
        Layer name used in error messages.

    Returns
    -------
    levels : numpy.ndarray
        uint8 array [T, B, n] of levels k(t) in 0..L.
    membrane : numpy.ndarray
        int64 array [B, n]: the final membrane v(T) (LSBs).

    Raises
    ------
    ModelError
        On non-integer or mis-shaped inputs, Tq not in {1, T}, a threshold <= 0, a threshold or
        v0 that does not fit the membrane, or operands beyond the kernel's int64 headroom.
    OverflowDetected
        If |m| exceeds 2**(mem_bits-1) - 1 at some step; the message names the layer, the
        earliest offending step (1-based) and the width.
    """
    cur, tgim_arr, tgim_div, leak, leak_div, num_levels, theta, start, limit = _check_lmht(
        current, tgim, tgim_bits, leak, leak_bits, num_levels, threshold, v0, mem_bits, layer, False
    )
    _, batch, num_neurons = cur.shape
    num_steps = tgim_arr.shape[0]
    levels = np.zeros((num_steps, batch, num_neurons), dtype=np.uint8)
    membrane = np.zeros((batch, num_neurons), dtype=np.int64)
    if batch * num_neurons == 0:
        return levels, membrane
    overflow_step = np.empty(batch * num_neurons, dtype=np.int64)
    _run_threads(
        _lmht_scan,
        batch * num_neurons,
        4 * num_steps * num_steps * batch * num_neurons,
        cur,
        tgim_arr,
        tgim_div,
        leak,
        leak_div,
        num_levels,
        theta,
        start,
        limit,
        levels,
        membrane,
        overflow_step,
    )
    _raise_on_overflow(overflow_step, layer, mem_bits)
    return levels, membrane


def lmht_reparam_scan(
    current: np.ndarray,
    tgim: np.ndarray,
    tgim_bits: int,
    leak: int,
    leak_bits: int,
    num_levels: int,
    threshold: np.ndarray,
    v0: np.ndarray,
    *,
    mem_bits: int = 32,
    layer: str = "?",
) -> tuple[np.ndarray, np.ndarray]:
    """Run LM-HT re-parameterised as a single-threshold IF neuron over T·L sub-steps.

    Integer form of the authors' ``LMHT_Inference_Neuron`` re-parameterisation (LM-HT,
    Hao et al. 2024). Instead of feeding J(t)/L per sub-step, the membrane is scaled by L:
    v' starts at L·v0; at the start of block t the leak is applied once,
    ``v' = rhu(leak·v', 2^h)``; then for each of the L sub-steps ``v' += J(t)``, a spike fires
    if ``v' >= L·Θ`` and the reset subtracts L·Θ. J(t) is mixed and rounded exactly as in
    :func:`lmht_scan`.

    The spike count of block t equals the level k(t) of :func:`lmht_scan`, and the final
    v' equals L·v, when λ = 1 and no step saturates (v0 < Θ and J(t) <= L·Θ at every step).
    A saturated step (J(t) > L·Θ) can give a different count, and so can λ > 1. With λ != 1
    the leak is rounded on the L-scaled membrane, so the two forms may also differ by that
    rounding.

    Parameters
    ----------
    current : numpy.ndarray
        Integer input I (membrane LSBs), shape [Tq, B, n] with Tq = 1 or Tq = T.
    tgim : numpy.ndarray
        Fixed-point T-GIM Ω·2^g, integer [T, T].
    tgim_bits : int
        g, the fraction bits of ``tgim`` (0..60).
    leak : int
        Fixed-point leak λ·2^h (>= 0), applied once per block.
    leak_bits : int
        h, the fraction bits of ``leak`` (0..60).
    num_levels : int
        L, the number of sub-steps per block (1..255).
    threshold : numpy.ndarray
        Integer multi-level threshold Θ per neuron (LSBs), shape [n], every entry > 0; the
        binary neuron fires at L·Θ.
    v0 : numpy.ndarray
        Integer initial membrane per neuron in multi-level units (LSBs), shape [n].
    mem_bits : int, optional
        Width of the signed L-scaled membrane v' (bits, 2..60). Default 32.
    layer : str, optional
        Layer name used in error messages.

    Returns
    -------
    spikes : numpy.ndarray
        uint8 array [T·L, B, n] of 0/1 spikes; sub-step t·L + s is block t, sub-step s.
    membrane : numpy.ndarray
        int64 array [B, n]: the final L-scaled membrane v' (LSBs).

    Raises
    ------
    ModelError
        As :func:`lmht_scan`; here L·Θ and L·v0 must fit the membrane.
    OverflowDetected
        If |v'| exceeds 2**(mem_bits-1) - 1 after a leak or a charge; the message names the
        layer, the earliest offending sub-step (1-based, the leak counts as the block's first)
        and the width.
    """
    cur, tgim_arr, tgim_div, leak, leak_div, num_levels, theta, start, limit = _check_lmht(
        current, tgim, tgim_bits, leak, leak_bits, num_levels, threshold, v0, mem_bits, layer, True
    )
    _, batch, num_neurons = cur.shape
    num_steps = tgim_arr.shape[0]
    spikes = np.zeros((num_steps * num_levels, batch, num_neurons), dtype=np.uint8)
    membrane = np.zeros((batch, num_neurons), dtype=np.int64)
    if batch * num_neurons == 0:
        return spikes, membrane
    overflow_step = np.empty(batch * num_neurons, dtype=np.int64)
    _run_threads(
        _lmht_reparam_scan,
        batch * num_neurons,
        4 * num_steps * (num_steps + num_levels) * batch * num_neurons,
        cur,
        tgim_arr,
        tgim_div,
        leak,
        leak_div,
        num_levels,
        theta,
        start,
        limit,
        spikes,
        membrane,
        overflow_step,
    )
    _raise_on_overflow(overflow_step, layer, mem_bits)
    return spikes, membrane
