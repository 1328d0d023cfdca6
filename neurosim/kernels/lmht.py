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
    MAX_SHIFT,
    _abs_max,
    _as_current,
    _as_int,
    _as_threshold,
    _channels,
    _check_int_dtype,
    _membrane_limit,
    _out,
    _per_neuron,
    _raise_on_overflow,
)
from neurosim.kernels.operands import _run_threads

__all__ = ["lmht_reparam_scan", "lmht_scan"]

_MAX_LEVELS = 255
"""Most levels L per step: levels are returned as uint8."""

_MAX_FRACTION_BITS = 60
"""Most fraction bits for the fixed-point T-GIM and leak (keeps 2**bits inside int64)."""


_BLOCK = 2048
"""Neurons of one sample one ``lmht_scan`` task covers (one overflow flag per task)."""

_LEVEL_CAP = 1 << 62
"""Largest L·Θ the scan precomputes to saturate a level without a division."""


@numba.njit(cache=True, nogil=True)
def _rhu(x, bits):
    """Round x / 2^bits half up: floor((2x + 2^bits) / 2^(bits+1)), an arithmetic shift."""
    return (2 * x + (np.int64(1) << bits)) >> (bits + 1)


@numba.njit(cache=True, nogil=True)
def _mixed_drive(current, shift, tgim, tgim_bits, t, b, i):
    """J(t) = rhu(Σ_j tgim[t, j]·I(j), 2^g), I = current << shift; a one-step current stands
    for every I(j)."""
    num_q = current.shape[0]
    acc = np.int64(0)
    for j in range(tgim.shape[1]):
        acc += tgim[t, j] * (np.int64(current[j if num_q > 1 else 0, b, i]) << shift)
    return _rhu(acc, tgim_bits)


@numba.njit(cache=True, nogil=True)
def _lmht_scan(
    current,
    shift,
    tgim,
    tgim_bits,
    leak,
    leak_bits,
    num_levels,
    threshold,
    v0,
    channel_size,
    limit,
    levels,
    events,
    level_sum,
    v_out,
    fired,
    overflow_step,
    lo,
    hi,
):
    """Multi-level scan over T steps of tasks lo..hi-1 (one sample's block of ``_BLOCK``
    neurons each, neuron by neuron); fill levels, fired[task, t] (non-zero levels at step t),
    fired[task, T] (the largest level) and overflow_step[task] (the earliest 1-based step a
    neuron of the block left ``limit``, -1 if none). events (k != 0), level_sum (Σ_t k) and
    v_out are written unless they have no rows. Neuron i reads threshold and v0 at
    i // channel_size. Divisions by 2^g and 2^h are shifts; a level divides only when
    Θ <= m < L·Θ (else it is 0 or L)."""
    num_q, _, num_neurons = current.shape
    num_steps = tgim.shape[0]
    num_blocks = (num_neurons + _BLOCK - 1) // _BLOCK
    # A one-step current: Σ_j tgim[t, j]·I = I·Σ_j tgim[t, j], exact within the headroom.
    row_sum = np.zeros(num_steps, np.int64)
    for t in range(num_steps):
        for j in range(num_steps):
            row_sum[t] += tgim[t, j]
    for task in range(lo, hi):
        b = task // num_blocks
        i0 = (task - b * num_blocks) * _BLOCK
        i1 = min(num_neurons, i0 + _BLOCK)
        earliest = -1
        peak = 0
        for t in range(num_steps):
            fired[task, t] = 0
        for i in range(i0, i1):
            c = i // channel_size
            theta = threshold[c]
            top = num_levels * theta if theta <= _LEVEL_CAP // num_levels else _LEVEL_CAP
            v = v0[c]
            first = -1
            total = 0
            for t in range(num_steps):
                if num_q == 1:
                    drive = _rhu(row_sum[t] * (np.int64(current[0, b, i]) << shift), tgim_bits)
                else:
                    drive = _mixed_drive(current, shift, tgim, tgim_bits, t, b, i)
                m = _rhu(leak * v, leak_bits) + drive
                if m > limit or m < -limit:
                    first = t + 1
                    break
                # k = clip(floor(m / Θ), 0, L) for Θ > 0.
                if m < theta:
                    k = 0
                elif m >= top:
                    k = num_levels
                else:
                    k = m // theta
                levels[t, b, i] = k
                if events.shape[0]:
                    events[t, b, i] = k != 0
                fired[task, t] += k != 0
                peak = max(peak, k)
                total += k
                # 0 <= k·Θ <= max(m, 0), so v lies between min(m, 0) and m: no new overflow.
                v = m - k * theta
            if level_sum.shape[0]:
                level_sum[b, i] = total
            if v_out.shape[0]:
                v_out[b, i] = v
            if first >= 0 and (earliest < 0 or first < earliest):
                earliest = first
        fired[task, num_steps] = peak
        overflow_step[task] = earliest


@numba.njit(cache=True, nogil=True)
def _lmht_reparam_scan(
    current,
    shift,
    tgim,
    tgim_bits,
    leak,
    leak_bits,
    num_levels,
    threshold,
    v0,
    channel_size,
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
        fire_at = num_levels * threshold[i // channel_size]
        v = num_levels * v0[i // channel_size]
        first = -1
        for t in range(num_steps):
            v = _rhu(leak * v, leak_bits)
            if v > limit or v < -limit:
                first = t * num_levels + 1
                break
            drive = _mixed_drive(current, shift, tgim, tgim_bits, t, b, i)
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
    shift: int,
    channel_size: int,
) -> tuple[np.ndarray, np.ndarray, int, int, int, int, np.ndarray, np.ndarray, int, int, int]:
    """Validate LM-HT inputs shared by both scans; ``scaled`` marks the L-scaled membrane.
    Returns (current, tgim, g, leak, h, L, Θ, v0, limit, shift, channel_size), Θ and v0 per
    channel."""
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
    shift = _as_int(shift, "shift", layer, minimum=0, maximum=MAX_SHIFT)
    membrane_scale = num_levels if scaled else 1
    cur = _as_current(current, layer)
    num_q, _, num_neurons = cur.shape
    if num_q not in (1, num_steps):
        raise ModelError(
            f"layer {layer!r}: current has {num_q} steps; expected 1 (same input every step) "
            f"or T={num_steps} (tgim is {num_steps}x{num_steps})"
        )
    channels = _channels(num_neurons, channel_size, layer)
    theta = _as_threshold(threshold, channels, layer)
    start = _per_neuron(v0, channels, "v0", layer)
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
    # before its membrane check runs. An int32 current's bound 2^31 saves a pass if it fits.
    row_sum = max(sum(abs(int(w)) for w in row) for row in tgim_arr.tolist())
    peak = 1 << 31 if cur.dtype == np.int32 else None
    if peak is None or row_sum * (peak << shift) > _INT64_HEADROOM:
        peak = _abs_max(cur)
    if row_sum * (peak << shift) > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: T-GIM mixing (row sum {row_sum} x |I| {peak << shift}) exceeds "
            f"the kernel's int64 headroom (2^61)"
        )
    if leak * limit > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: leak {leak} times the int{mem_bits} membrane range exceeds the "
            f"kernel's int64 headroom (2^61)"
        )
    return (
        cur,
        tgim_arr,
        tgim_bits,
        leak,
        leak_bits,
        num_levels,
        theta,
        start,
        limit,
        shift,
        channel_size,
    )


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
    shift: int = 0,
    channel_size: int = 1,
    keep_membrane: bool = True,
    step_spikes: np.ndarray | None = None,
    events: np.ndarray | None = None,
    level_sum: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
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
    shift : int, optional
        The input is I = current << shift (0..24): a caller's scale applied as the scan reads
        it, instead of a scaled copy of the current. Default 0.
    channel_size : int, optional
        Neurons per channel: ``threshold`` and ``v0`` then hold one value per channel of that
        many consecutive neurons ([n / channel_size]). Default 1.
    keep_membrane : bool, optional
        False skips the final membrane (returned as None). Default True.
    step_spikes, events, level_sum : numpy.ndarray, optional
        Filled during the scan when given (each saves the caller a pass over the levels):
        int64 [T + 1] the non-zero levels per step and, last, the largest level; uint8
        [T, B, n] k != 0; int64 [B, n] Σ_t k(t).
    out : numpy.ndarray, optional
        C-contiguous uint8 [T, B, n] the levels are written into (and returned), e.g. the
        caller's slice of a larger array; default a new array.

    Returns
    -------
    levels : numpy.ndarray
        uint8 array [T, B, n] of levels k(t) in 0..L.
    membrane : numpy.ndarray or None
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
    checked = _check_lmht(
        current,
        tgim,
        tgim_bits,
        leak,
        leak_bits,
        num_levels,
        threshold,
        v0,
        mem_bits,
        layer,
        False,
        shift,
        channel_size,
    )
    cur, tgim_arr, g, leak, h, num_levels, theta, start, limit, shift, channel_size = checked
    _, batch, num_neurons = cur.shape
    num_steps = tgim_arr.shape[0]
    shape = (num_steps, batch, num_neurons)
    levels = np.empty(shape, np.uint8) if out is None else _out(out, shape, np.uint8, "out", layer)
    membrane = np.zeros((batch, num_neurons) if keep_membrane else (0, 0), dtype=np.int64)
    tasks = batch * -(-num_neurons // _BLOCK)
    fired = np.zeros((tasks, num_steps + 1), np.int64)
    overflow_step = np.empty(tasks, dtype=np.int64)
    if tasks:
        _run_threads(
            _lmht_scan,
            tasks,
            4 * num_steps * num_steps * batch * num_neurons,
            cur,
            shift,
            tgim_arr,
            g,
            leak,
            h,
            num_levels,
            theta,
            start,
            channel_size,
            limit,
            levels,
            _out(events, levels.shape, np.uint8, "events", layer),
            _out(level_sum, (batch, num_neurons), np.int64, "level_sum", layer),
            membrane,
            fired,
            overflow_step,
        )
        _raise_on_overflow(overflow_step, layer, mem_bits)
    else:
        for arr in (levels, events, level_sum):
            if arr is not None:
                arr[...] = 0
    if step_spikes is not None:
        step_spikes[:num_steps] = fired[:, :num_steps].sum(axis=0)
        step_spikes[num_steps] = fired[:, num_steps].max(initial=0)
    return levels, membrane if keep_membrane else None


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
    cur, tgim_arr, g, leak, h, num_levels, theta, start, limit, shift, channel_size = _check_lmht(
        current,
        tgim,
        tgim_bits,
        leak,
        leak_bits,
        num_levels,
        threshold,
        v0,
        mem_bits,
        layer,
        True,
        0,
        1,
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
        shift,
        tgim_arr,
        g,
        leak,
        h,
        num_levels,
        theta,
        start,
        channel_size,
        limit,
        spikes,
        membrane,
        overflow_step,
    )
    _raise_on_overflow(overflow_step, layer, mem_bits)
    return spikes, membrane
