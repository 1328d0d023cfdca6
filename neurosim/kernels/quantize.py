"""The quantized ReLU of a synaptic layer's integer sums, in one pass: the quantized-ANN
reference's activation (``qann.predict``).

Imports numpy, numba, ``neurosim.errors`` and the sibling ``operands``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from neurosim.errors import ModelError
from neurosim.kernels.operands import _run_threads


@numba.njit(cache=True, nogil=True, inline="always")
def _level(z, mag, scale, top, tolerance):  # pragma: no cover - compiled
    """(clip(⌊z·scale + ½⌋, 0, top), whether the fraction of z·scale + ½ lies within
    tolerance·mag·scale of 0 or 1): one element of the kernels below (inlined)."""
    u = z * scale + 0.5
    k = np.floor(u)
    frac = u - k
    return min(max(k, 0.0), top), min(frac, 1.0 - frac) <= tolerance * mag * scale


@numba.njit(cache=True, nogil=True)
def _affine_levels(terms, gain, bias, scale, top, tolerance, levels, near, counts, lo, hi):
    """Planes lo..hi-1 of terms [T, B·C, M]: levels and the near-tie mask.

    z = Σ_t terms[t]·gain[t, c] + bias[t, c], u = z·scale + 1/2, level = clip(⌊u⌋, 0, top);
    near is 1 where the fraction of u lies within tolerance·Σ_t (|terms·gain| + |bias|)·scale
    of 0 or 1. counts[plane] gets the plane's near ties.
    """
    num_terms, _, size = terms.shape
    channels = gain.shape[1]
    for p in range(lo, hi):
        c = p % channels
        found = 0
        for m in range(size):
            z = 0.0
            mag = 0.0
            for t in range(num_terms):
                s = terms[t, p, m] * gain[t, c]
                z += s + bias[t, c]
                mag += abs(s) + abs(bias[t, c])
            level, flag = _level(z, mag, scale, top, tolerance)
            near[p, m] = flag
            found += flag
            levels[p, m] = level
        counts[p] = found


@numba.njit(cache=True, nogil=True)
def _affine_pair(
    x0, g0, b0, x1, g1, b1, scale, top, tolerance, levels, near, counts, lo, hi
):  # pragma: no cover - compiled
    """``_affine_levels`` for exactly two terms x0, x1 [B·C, M] of their own dtypes (a
    residual Add: no stacked int64 copy of them)."""
    _, size = x0.shape
    channels = g0.shape[0]
    for p in range(lo, hi):
        c = p % channels
        found = 0
        for m in range(size):
            s0 = x0[p, m] * g0[c]
            s1 = x1[p, m] * g1[c]
            z = s0 + b0[c] + (s1 + b1[c])
            mag = abs(s0) + abs(b0[c]) + (abs(s1) + abs(b1[c]))
            level, flag = _level(z, mag, scale, top, tolerance)
            near[p, m] = flag
            found += flag
            levels[p, m] = level
        counts[p] = found


@numba.njit(cache=True, nogil=True)
def _affine_one(
    x0, g0, b0, scale, top, tolerance, levels, near, counts, lo, hi
):  # pragma: no cover - compiled
    """``_affine_levels`` for one term x0 [B·C, M] of its own dtype (a synaptic layer's sums),
    without the loop over terms, which keeps LLVM from vectorising the element loop."""
    _, size = x0.shape
    channels = g0.shape[0]
    for p in range(lo, hi):
        c = p % channels
        gain = g0[c]
        bias = b0[c]
        found = 0
        for m in range(size):
            s0 = x0[p, m] * gain
            z = s0 + bias
            mag = abs(s0) + abs(bias)
            level, flag = _level(z, mag, scale, top, tolerance)
            near[p, m] = flag
            found += flag
            levels[p, m] = level
        counts[p] = found


def _compiled(a: np.ndarray) -> np.ndarray:
    """Integer sums in a dtype the pair kernel is compiled for (uint8, int16, int32, int64)."""
    if a.dtype in (np.uint8, np.int16, np.int32, np.int64):
        return a
    return a.astype(np.int64)


def affine_levels(
    terms: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    scale: float,
    top: int,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantized levels of z = Σ_t sums_t·gain_t[c] + bias_t[c] (channel c = axis 1), in
    float64, in one pass.

    level = clip(⌊z·scale + 1/2⌋, 0, top): the QCFS quantized ReLU with scale = Q/γ, round
    half up. Where float64 cannot decide the rounding — the fraction of z·scale + 1/2 lies
    within ``tolerance``·Σ_t (|sums_t·gain_t| + |bias_t|)·scale of a boundary — the level is
    the float64 guess and the position is returned, for the caller to round exactly.

    Parameters
    ----------
    terms : sequence of (sums, gain, bias)
        Integer [B, C, ...] sums of one shape, and float64 [C] gain and bias (a scalar is
        broadcast) for each term (a synaptic layer's sums; levels × step with bias 0).
    scale : float
        Levels per unit of z (Q/γ).
    top : int
        Largest level Q.
    tolerance : float
        Relative width of the band around a boundary that is reported.

    Returns
    -------
    levels : np.ndarray
        uint8 [B, C, ...] if ``top`` <= 255, else int64.
    near : np.ndarray
        int64 [k, ndim]: the indices of the near ties.

    Raises
    ------
    ModelError
        No terms, non-integer sums, shapes that differ or have fewer than two axes.
    """
    function = "affine_levels"
    arrays = [np.asarray(t[0]) for t in terms]
    if not arrays or any(a.dtype.kind not in "iu" or a.ndim < 2 for a in arrays):
        raise ModelError(f"{function}: needs integer [B, C, ...] sums, at least one term")
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ModelError(
            f"{function}: the terms' sums differ in shape: {[a.shape for a in arrays]}"
        )
    channels = shape[1]
    planes = shape[0] * channels
    gain = np.array([np.broadcast_to(np.asarray(t[1], np.float64), (channels,)) for t in terms])
    bias = np.array([np.broadcast_to(np.asarray(t[2], np.float64), (channels,)) for t in terms])
    gain, bias = gain.reshape(len(arrays), channels), bias.reshape(len(arrays), channels)
    size = arrays[0].size // max(planes, 1)
    levels = np.empty((planes, size), np.uint8 if top <= 255 else np.int64)
    near = np.empty((planes, size), np.bool_)
    counts = np.zeros(planes, np.int64)
    consts = (float(scale), float(top), float(tolerance), levels, near, counts)
    if levels.size and len(arrays) == 2:
        x0, x1 = (np.ascontiguousarray(_compiled(a)).reshape(planes, size) for a in arrays)
        pair = (x0, gain[0], bias[0], x1, gain[1], bias[1])
        _run_threads(_affine_pair, planes, 16 * levels.size, *pair, *consts)
    elif levels.size and len(arrays) == 1:
        x0 = np.ascontiguousarray(_compiled(arrays[0])).reshape(planes, size)
        _run_threads(_affine_one, planes, 8 * levels.size, x0, gain[0], bias[0], *consts)
    elif levels.size:  # three terms or more
        stacked = np.empty((len(arrays), planes, size), np.int64)
        for t, a in enumerate(arrays):
            stacked[t] = a.reshape(planes, size)
        _run_threads(_affine_levels, planes, 8 * stacked.size, stacked, gain, bias, *consts)
    hit = np.flatnonzero(counts)
    if not hit.size:
        return levels.reshape(shape), np.zeros((0, len(shape)), np.int64)
    plane, pos = np.nonzero(near[hit])
    flat = hit[plane] * near.shape[1] + pos
    return levels.reshape(shape), np.stack(np.unravel_index(flat, shape), axis=1)
