"""Integer TSA neuron with stepwise weighted ternary spikes (SWS), plus the two input encoders.

Imports numpy, numba, ``neurosim.errors``, the shared input checks of ``kernels.if_mt`` and the
threads of ``kernels.operands``.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError, OverflowDetected
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

__all__ = ["encode_digital", "encode_neuron", "tsa_scan"]

_MAX_CODING_STEPS = 60
"""Longest coding window accepted (steps); keeps the slot weight 2**(Tc-1) well inside int64."""


_BLOCK = 2048
"""Neurons one task scans together, step by step (the IF scan's layout): contiguous rows of
the [T, B, n] current and spikes, a branch-free update (measured ~3x faster than scanning
each neuron's frame with early exits)."""


@numba.njit(cache=True, nogil=True)
def _tsa_scan(
    current,
    shift,
    step_bias,
    last_bias,
    channel_size,
    silent_steps,
    threshold,
    max_level,
    limit,
    spikes,
    events,
    encoded_out,
    u_out,
    fired,
    overflow_step,
    lo,
    hi,
):
    """Scan the neurons of tasks lo..hi-1 (one sample's block of ``_BLOCK`` neurons each) over
    Tc + Ts local steps; fill spikes, overflow_step (per task: the first 1-based step at which
    a neuron of the block left ``limit``, -1 if none; after it the neuron's values are not
    meaningful, and the caller raises) and fired[task, slot] = (+1 spikes, -1 spikes).

    Neuron i's charge at coding step t is (current[t] << shift) + step_bias[c] (+ last_bias[c]
    at t = Tc), c = i // channel_size, which also indexes threshold. events (|a|), encoded_out
    (A) and u_out (the residual) are written unless they have no rows."""
    num_q, _, num_neurons = current.shape
    coding_steps = spikes.shape[0]
    num_blocks = (num_neurons + _BLOCK - 1) // _BLOCK
    for task in range(lo, hi):
        b = task // num_blocks
        i0 = (task - b * num_blocks) * _BLOCK
        i1 = min(num_neurons, i0 + _BLOCK)
        size = i1 - i0
        # Spike amplitude seen from the membrane: Θ·β^Ts with β = 2 done as a shift.
        reset = np.empty(size, np.int64)
        charge = np.empty(size, np.int64)
        extra = np.empty(size, np.int64)
        for k in range(size):
            c = (i0 + k) // channel_size
            reset[k] = threshold[c] << silent_steps
            charge[k] = step_bias[c]
            extra[k] = last_bias[c]
        u = np.zeros(size, np.int64)
        encoded = np.zeros(size, np.int64)
        earliest = -1
        for t in range(1, coding_steps + silent_steps + 1):
            coding = t <= coding_steps
            last = t == coding_steps
            row = current[min(t, coding_steps) - 1 if num_q > 1 else 0, b, i0:i1]
            slot = t - silent_steps
            out = spikes[max(slot, 1) - 1, b, i0:i1]
            weight = np.int64(1) << max(coding_steps - slot, 0)
            bad = False
            positive = 0
            negative = 0
            for k in range(size):
                z = np.int64(0)
                if coding:
                    z = (np.int64(row[k]) << shift) + charge[k]
                    if last:
                        z += extra[k]
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
                    positive += spike > 0
                    negative += spike < 0
                    # A fired reset moves u towards zero (|u - Θ'| <= |u| when 2|u| >= Θ').
                    v -= spike * reset[k]
                u[k] = v
            if slot >= 1:
                fired[task, slot - 1, 0] = positive
                fired[task, slot - 1, 1] = negative
                if events.shape[0]:
                    magnitude = events[slot - 1, b, i0:i1]
                    for k in range(size):
                        magnitude[k] = out[k] != 0
            if bad and earliest < 0:
                earliest = t
        if u_out.shape[0]:
            for k in range(size):
                u_out[b, i0 + k] = u[k]
        if encoded_out.shape[0]:
            for k in range(size):
                encoded_out[b, i0 + k] = encoded[k]
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
    shift: int = 0,
    bias: np.ndarray | None = None,
    channel_size: int = 1,
    keep_membrane: bool = True,
    step_spikes: np.ndarray | None = None,
    sign_counts: np.ndarray | None = None,
    events: np.ndarray | None = None,
    encoded: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
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
        Integer input z_int for the input steps t = 1..Tc (membrane LSBs), shape [Tc, B, n]
        (or [1, B, n]: the same input at every coding step). int32 and int64 are used as they
        are; other integer dtypes are widened to int64.
    coding_steps : int
        Tc, the number of input and output slots (1..60); ``current.shape[0]`` is Tc or 1.
    silent_steps : int
        Ts >= 0, the steps the neuron integrates before its first firing decision.
    threshold : numpy.ndarray
        Integer spike amplitude Θ per neuron (membrane LSBs), shape [n], or per channel
        [n / channel_size]; every entry > 0; a scalar is broadcast to all neurons.
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
    shift, bias : optional
        The charge is z(t) = (current_t << shift) + q (+ r at t = Tc) with the integer bias
        B = q·(2^Tc − 1) + r (floor division), so the slot-weighted input gains exactly B
        (SWS eq. 19 in integers): the scan forms it, saving passes over the largest array.
        ``shift`` 0..24; ``bias`` shaped like ``threshold``. Default 0 and none.
    channel_size : int, optional
        Neurons per channel: ``threshold`` and ``bias`` hold one value per channel of that
        many consecutive neurons (saves expanding them to every neuron). Default 1.
    keep_membrane : bool, optional
        False skips the residual (returned as None). Default True.
    step_spikes, sign_counts, events, encoded : numpy.ndarray, optional
        Filled during the scan when given (each saves the caller a pass over the spikes):
        int64 [Tc] non-zero spikes per slot, int64 [2] the +1 and −1 spikes in all, uint8
        [Tc, B, n] |a_τ|, and int64 [B, n] the encoded value A = Σ_τ a_τ 2^(Tc−τ).
    out : numpy.ndarray, optional
        C-contiguous int8 [Tc, B, n] the spikes are written into (and returned), e.g. the
        caller's slice of a larger array; default a new array.

    Returns
    -------
    spikes : numpy.ndarray
        int8 array [Tc, B, n] with values in {-1, 0, 1}; index τ-1 holds slot τ.
    residual : numpy.ndarray or None
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
    if num_q not in (1, coding_steps):
        raise ModelError(
            f"layer {layer!r}: current has {num_q} steps; expected coding_steps={coding_steps}"
        )
    channels = _channels(num_neurons, channel_size, layer)
    theta = _as_threshold(threshold, channels, layer)
    if theta.size and (int(theta.max()) << silent_steps) > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: threshold·2^silent_steps = {int(theta.max())}·2^{silent_steps} "
            f"exceeds the kernel's int64 headroom (2^61)"
        )
    shift = _as_int(shift, "shift", layer, minimum=0, maximum=MAX_SHIFT)
    q = r = np.zeros(channels, np.int64)
    if bias is not None:
        q, r = np.divmod(_per_neuron(bias, channels, "bias", layer), (1 << coding_steps) - 1)
    # A shifted or biased charge is formed in int64: refuse what could wrap there (|z| that
    # large overflows any membrane width anyway). int32 << 24 cannot; a plain one is clamped.
    peak = _abs_max(cur) if cur.dtype == np.int64 and (shift or bias is not None) else 1 << 31
    if (peak << shift) + _abs_max(q) + _abs_max(r) >= 1 << 62:
        raise OverflowDetected(
            f"layer {layer!r}: membrane overflow at step 1: the charge "
            f"(current << {shift}) + bias exceeds the int{mem_bits} range"
        )
    # No running value can pass 2^Tc - 1, so a larger bound is the same as no upper bound.
    max_level = min(max_level, (1 << coding_steps) - 1)
    # The scan writes every slot of every neuron, so no zero-fill pass.
    shape = (coding_steps, batch, num_neurons)
    spikes = np.empty(shape, np.int8) if out is None else _out(out, shape, np.int8, "out", layer)
    residual = np.zeros((batch, num_neurons) if keep_membrane else (0, 0), dtype=np.int64)
    tasks = batch * -(-num_neurons // _BLOCK)
    fired = np.zeros((tasks, coding_steps, 2), np.int64)
    overflow_step = np.empty(tasks, dtype=np.int64)
    if tasks:
        _run_threads(
            _tsa_scan,
            tasks,
            4 * (coding_steps + silent_steps) * batch * num_neurons,
            cur,
            shift,
            q,
            r,
            channel_size,
            silent_steps,
            theta,
            max_level,
            limit,
            spikes,
            _out(events, (coding_steps, batch, num_neurons), np.uint8, "events", layer),
            _out(encoded, (batch, num_neurons), np.int64, "encoded", layer),
            residual,
            fired,
            overflow_step,
        )
        _raise_on_overflow(overflow_step, layer, mem_bits)
    else:
        for arr in (spikes, events, encoded):
            if arr is not None:
                arr[...] = 0
    per_slot = fired.sum(axis=0)
    if step_spikes is not None:
        step_spikes[:] = per_slot.sum(axis=1)
    if sign_counts is not None:
        sign_counts[:] = per_slot.sum(axis=0)
    return spikes, residual if keep_membrane else None


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
