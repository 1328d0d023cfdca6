"""Integer TSA neuron with stepwise weighted ternary spikes (SWS), plus the two input encoders.

Imports numpy, numba, ``neurosim.errors``, the shared input checks of ``kernels.if_mt`` and the
threads of ``kernels.operands``.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError
from neurosim.kernels.if_mt import (
    _INT64_HEADROOM,
    _as_current,
    _as_int,
    _as_threshold,
    _check_int_dtype,
    _membrane_limit,
    _raise_on_overflow,
)
from neurosim.kernels.operands import _run_threads

__all__ = ["encode_digital", "encode_neuron", "tsa_scan"]

_MAX_CODING_STEPS = 60
"""Longest coding window accepted (steps); keeps the slot weight 2**(Tc-1) well inside int64."""


_BLOCK = 2048
"""Neurons one task scans together, step by step (the IF scan's layout): contiguous rows of
the [T, B, n] current and spikes, a branch-free update (measured ~3x faster than scanning
each neuron's frame with early exits)."""


@numba.njit(cache=True, nogil=True)
def _tsa_scan(
    current, silent_steps, threshold, max_level, limit, spikes, u_out, overflow_step, lo, hi
):
    """Scan the neurons of tasks lo..hi-1 (one sample's block of ``_BLOCK`` neurons each) over
    Tc + Ts local steps; fill spikes, u_out and overflow_step (per task: the first 1-based
    step at which a neuron of the block left ``limit``, -1 if none; after it the neuron's
    values are not meaningful, and the caller raises)."""
    coding_steps, _, num_neurons = current.shape
    num_blocks = (num_neurons + _BLOCK - 1) // _BLOCK
    for task in range(lo, hi):
        b = task // num_blocks
        i0 = (task - b * num_blocks) * _BLOCK
        i1 = min(num_neurons, i0 + _BLOCK)
        # Spike amplitude seen from the membrane: Θ·β^Ts with β = 2 done as a shift.
        reset = threshold[i0:i1] << silent_steps
        u = np.zeros(i1 - i0, np.int64)
        encoded = np.zeros(i1 - i0, np.int64)
        earliest = -1
        for t in range(1, coding_steps + silent_steps + 1):
            coding = t <= coding_steps
            row = current[min(t, coding_steps) - 1, b, i0:i1]
            slot = t - silent_steps
            out = spikes[max(slot, 1) - 1, b, i0:i1]
            weight = np.int64(1) << max(coding_steps - slot, 0)
            bad = False
            for k in range(i1 - i0):
                z = np.int64(row[k]) if coding else np.int64(0)
                # |z| > 3·limit forces |2u + z| > limit; clamping keeps the sum inside int64.
                bad |= (z > 3 * limit) | (z < -3 * limit)
                z = min(max(z, -3 * limit - 1), 3 * limit + 1)
                v = 2 * u[k] + z
                bad |= (v > limit) | (v < -limit)
                v = min(max(v, -limit - 1), limit + 1)
                if slot >= 1:
                    # Compare 2u with Θ·2^Ts so the half threshold needs no division; the
                    # strict negative test makes ties round half up.
                    spike = np.int64(2 * v >= reset[k]) - np.int64(2 * v < -reset[k])
                    if max_level >= 0:
                        candidate = encoded[k] + spike * weight
                        spike *= (candidate >= 0) & (candidate <= max_level)
                        encoded[k] += spike * weight
                    out[k] = spike
                    # A fired reset moves u towards zero (|u - Θ'| <= |u| when 2|u| >= Θ').
                    v -= spike * reset[k]
                u[k] = v
            if bad and earliest < 0:
                earliest = t
        for k in range(i1 - i0):
            u_out[b, i0 + k] = u[k]
        overflow_step[task] = earliest


def tsa_scan(
    current: np.ndarray,
    coding_steps: int,
    silent_steps: int,
    threshold: np.ndarray,
    *,
    max_level: int = -1,
    mem_bits: int = 32,
    layer: str = "?",
) -> tuple[np.ndarray, np.ndarray]:
    """Run one frame of TSA neurons with stepwise weighted ternary spikes (SWS eq. 3, β = 2).

    Per frame the residual starts at u = 0. For local steps t = 1 .. Tc+Ts the membrane is
    amplified and charged, ``u = 2u + z(t)`` with ``z(t) = current[t-1]`` for t <= Tc and 0
    afterwards. From t = Ts+1 on, the neuron fires ``a = +1`` if ``2u >= Θ·2^Ts``, ``a = -1``
    if ``2u < -Θ·2^Ts`` and 0 otherwise, then ``u -= a·Θ·2^Ts``; the spike goes to output slot
    τ = t - Ts, which carries weight 2^(Tc-τ) downstream (SWS eq. 7). Ties round half up. The
    residual satisfies ``u_final = 2^Ts·(X - A·Θ)`` with ``X = Σ_τ 2^(Tc-τ) z(τ)`` and
    ``A = Σ_τ a_τ 2^(Tc-τ)``; for Ts >= Tc, ``A = clip(rhu(X, Θ), -(2^Tc-1), 2^Tc-1)``.

    Parameters
    ----------
    current : numpy.ndarray
        Integer input z_int for the input steps t = 1..Tc (membrane LSBs, bias already
        injected), shape [Tc, B, n]. int32 and int64 are used as they are; other integer
        dtypes are widened to int64.
    coding_steps : int
        Tc, the number of input and output slots (1..60); must equal ``current.shape[0]``.
    silent_steps : int
        Ts >= 0, the steps the neuron integrates before its first firing decision.
    threshold : numpy.ndarray
        Integer spike amplitude Θ per neuron (membrane LSBs), shape [n], every entry > 0; a
        scalar is broadcast to all neurons.
    max_level : int, optional
        If >= 0, rectify the output: a spike that would move the running value
        ``A_k = Σ_{j<=k} a_j 2^(Tc-j)`` (levels) outside [0, max_level] is neither emitted nor
        reset. With Ts >= Tc this gives ``A = clip(rhu(X, Θ), 0, max_level)``. If < 0 (the
        default), spikes are plain symmetric ternary. The clamp is a neurosim rule: the paper
        does not say how the layer realises its ReLU.
    mem_bits : int, optional
        Width of the signed membrane u (bits, 2..60). Default 32.
    layer : str, optional
        Layer name used in error messages.

    Returns
    -------
    spikes : numpy.ndarray
        int8 array [Tc, B, n] with values in {-1, 0, 1}; index τ-1 holds slot τ.
    residual : numpy.ndarray
        int64 array [B, n]: the membrane u after the last step t = Tc+Ts (LSBs).

    Raises
    ------
    ModelError
        On a non-integer or mis-shaped input, a threshold <= 0, bad step counts, or a
        ``Θ·2^Ts`` beyond the int64 headroom of the core.
    OverflowDetected
        If |u| exceeds 2**(mem_bits-1) - 1 after any update; the message names the layer, the
        earliest offending local step t (1-based, silent steps included) and the width.
    """
    limit = _membrane_limit(mem_bits, layer)
    coding_steps = _as_int(
        coding_steps, "coding_steps", layer, minimum=1, maximum=_MAX_CODING_STEPS
    )
    silent_steps = _as_int(silent_steps, "silent_steps", layer, minimum=0)
    max_level = _as_int(max_level, "max_level", layer, minimum=-(1 << 62))
    cur = _as_current(current, layer)
    num_q, batch, num_neurons = cur.shape
    if num_q != coding_steps:
        raise ModelError(
            f"layer {layer!r}: current has {num_q} steps; expected coding_steps={coding_steps}"
        )
    theta = _as_threshold(threshold, num_neurons, layer)
    if theta.size and (int(theta.max()) << silent_steps) > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: threshold·2^silent_steps = {int(theta.max())}·2^{silent_steps} "
            f"exceeds the kernel's int64 headroom (2^61)"
        )
    # No running value can pass 2^Tc - 1, so a larger bound is the same as no upper bound.
    max_level = min(max_level, (1 << coding_steps) - 1)
    spikes = np.zeros((coding_steps, batch, num_neurons), dtype=np.int8)
    residual = np.zeros((batch, num_neurons), dtype=np.int64)
    if batch * num_neurons == 0:
        return spikes, residual
    tasks = batch * -(-num_neurons // _BLOCK)
    overflow_step = np.empty(tasks, dtype=np.int64)
    _run_threads(
        _tsa_scan,
        tasks,
        4 * (coding_steps + silent_steps) * batch * num_neurons,
        cur,
        silent_steps,
        theta,
        max_level,
        limit,
        spikes,
        residual,
        overflow_step,
    )
    _raise_on_overflow(overflow_step, layer, mem_bits)
    return spikes, residual


def _as_codes(codes: np.ndarray, coding_steps: int, layer: str) -> tuple[np.ndarray, int]:
    """Check unsigned codes in [0, 2^Tc - 1]; return them as int64 with the checked Tc."""
    coding_steps = _as_int(
        coding_steps, "coding_steps", layer, minimum=1, maximum=_MAX_CODING_STEPS
    )
    arr = np.asarray(codes)
    _check_int_dtype(arr, "codes", layer)
    top = (1 << coding_steps) - 1
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > top):
        raise ModelError(
            f"layer {layer!r}: codes must lie in [0, {top}] for coding_steps={coding_steps}, "
            f"got [{int(arr.min())}, {int(arr.max())}]"
        )
    return arr.astype(np.int64), coding_steps


def encode_digital(codes: np.ndarray, coding_steps: int) -> np.ndarray:
    """Encode unsigned integer codes as binary spike trains, most significant digit first.

    Slot τ = 1..Tc carries weight 2^(Tc-τ) (SWS eq. 7 with β = 2, θ = 1), so
    ``Σ_τ spikes[τ-1] · 2^(Tc-τ) == codes`` exactly. This is the exact alternative to the
    paper's constant-current encoder (:func:`encode_neuron`).

    Parameters
    ----------
    codes : numpy.ndarray
        Integer codes (levels), any shape, each in [0, 2^Tc - 1].
    coding_steps : int
        Tc, the number of output slots (1..60).

    Returns
    -------
    numpy.ndarray
        int8 array [Tc, *codes.shape] of 0/1 digits.

    Raises
    ------
    ModelError
        If the codes are not integers or fall outside [0, 2^Tc - 1].
    """
    values, coding_steps = _as_codes(codes, coding_steps, "encoder")
    shifts = np.arange(coding_steps - 1, -1, -1, dtype=np.int64)
    shifts = shifts.reshape((coding_steps,) + (1,) * values.ndim)
    return ((values[np.newaxis] >> shifts) & 1).astype(np.int8)


def encode_neuron(
    codes: np.ndarray, coding_steps: int, silent_steps: int, *, mem_bits: int = 32
) -> np.ndarray:
    """Encode codes with the paper's constant-current TSA encoder, in integers (SWS eq. 8-9).

    The membrane is scaled by D = 2^Tc - 1: every one of the Tc input steps injects z = code,
    the spike amplitude is Θ = D and there is no rectification, so the weighted input is
    X = code·D and ``rhu(X, Θ) = code``. Whether the spikes reach that value depends on Ts:

    * Ts = 0 (the paper's choice) is not exact for every code: at Tc = 4 the code 12 comes out
      as [1, 0, 1, 1] = 11, and at Tc = 8, 63 of the 256 codes are wrong, the worst by 21
      (212 comes out as 191).
    * Ts = 1 is exact for every code at Tc = 4 and Tc = 8.

    Prefer Ts = 1 or :func:`encode_digital`.

    Parameters
    ----------
    codes : numpy.ndarray
        Integer codes (levels), any shape, each in [0, 2^Tc - 1].
    coding_steps : int
        Tc, the number of input and output slots (1..60).
    silent_steps : int
        Ts >= 0, the silent steps before the first firing decision.
    mem_bits : int, optional
        Width of the signed encoder membrane (bits, 2..60). Default 32.

    Returns
    -------
    numpy.ndarray
        int8 array [Tc, *codes.shape] with values in {-1, 0, 1}.

    Raises
    ------
    ModelError
        If the codes are not integers or fall outside [0, 2^Tc - 1].
    OverflowDetected
        If the encoder membrane leaves ``mem_bits`` (layer named ``'encoder'``).
    """
    values, coding_steps = _as_codes(codes, coding_steps, "encoder")
    flat = values.reshape(1, 1, -1)
    current = np.ascontiguousarray(np.broadcast_to(flat, (coding_steps, 1, flat.shape[2])))
    scale = (1 << coding_steps) - 1
    threshold = np.full(flat.shape[2], scale, dtype=np.int64)
    spikes, _ = tsa_scan(
        current, coding_steps, silent_steps, threshold, mem_bits=mem_bits, layer="encoder"
    )
    return spikes.reshape((coding_steps, *values.shape))
