"""Integer leaky integrate-and-fire neuron: fixed-point leak, three reset modes, bias, per-neuron
parameters (numba core plus a checked public wrapper).

Imports numpy, numba, ``neurosim.errors`` and the shared input checks of ``kernels.if_mt``.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels.if_mt import (
    _INT64_HEADROOM,
    _abs_max,
    _as_current,
    _as_int,
    _as_threshold,
    _membrane_limit,
    _per_neuron,
    _raise_on_overflow,
)
from neurosim.kernels.operands import _run_threads

__all__ = ["LEAK_ROUNDING", "MAX_LEAK_BITS", "MAX_SHIFT", "RESET_MODES", "lif_scan"]

RESET_MODES = ("zero", "value", "subtract")
"""After a spike: V = 0, V = V_reset, or V −= Θ (reset by subtraction)."""

LEAK_ROUNDING = ("floor", "zero")
"""How the leak product λ_int·V is brought back to membrane LSBs: an arithmetic shift right
(rounds toward −∞) or a truncation toward zero (Loihi, SANA-FE)."""

MAX_LEAK_BITS = 30
"""Most fractional bits of the fixed-point leak λ_int / 2^leak_bits."""

MAX_SHIFT = 24
"""Largest ``shift`` (fraction bits) applied to the current."""

_BLOCK = 2048
"""Neurons one parallel task scans step-major (as the IF scan)."""


@numba.njit(cache=True, nogil=True)
def _decay(x, factor, bits, trunc):
    """⌊factor·x / 2^bits⌋, or rounded toward zero (|factor·x| < 2^62: no wrap)."""
    prod = factor * x
    if trunc and prod < 0:
        return -((-prod) >> bits)
    return prod >> bits


@numba.njit(cache=True, nogil=True)
def _lif_scan(
    current,
    shift,
    bias,
    drive,
    threshold,
    leak,
    leak_bits,
    syn_leak,
    syn_bits,
    has_syn,
    trunc,
    reset,
    v_reset,
    v_init,
    strict,
    limit,
    spikes,
    v_out,
    overflow_step,
    fired,
    lo,
    hi,
):
    """Scan the neurons of tasks lo..hi-1 over ``spikes.shape[0]`` steps; fill spikes, v_out,
    overflow_step and fired[task, t] (the task's spikes at step t); a task is one sample's
    block of ``_BLOCK`` neurons, scanned step-major like the IF scan.

    Step t of neuron i: q = (I_t << shift) + bias_i; with a synaptic state
    J ← (α_i·J) >> h_s + q, else J = q; V ← (λ_i·V) >> h (or truncated toward zero) + J +
    drive_i; overflow if |J| or |V| > limit; fire if V > Θ_i (``strict``) or V ≥ Θ_i; reset 0:
    V = 0, 1: V = V_reset_i, 2: V −= Θ_i. overflow_step[task] gets the first 1-based step at
    which a neuron of the task's block left the range (-1: never; one flag per step).
    """
    num_q, _, num_neurons = current.shape
    num_steps = spikes.shape[0]
    num_blocks = (num_neurons + _BLOCK - 1) // _BLOCK
    for task in range(lo, hi):
        b = task // num_blocks
        i0 = (task - b * num_blocks) * _BLOCK
        i1 = min(num_neurons, i0 + _BLOCK)
        v = v_init[i0:i1].copy()
        syn = np.zeros(i1 - i0, np.int64)
        earliest = -1
        for t in range(num_steps):
            row = current[t if num_q > 1 else 0, b, i0:i1]
            out = spikes[t, b, i0:i1]
            count = 0
            bad = False
            for k in range(i1 - i0):
                i = i0 + k
                q = (np.int64(row[k]) << shift) + bias[i]
                # Clamping q to ±(limit + 1) keeps the sums inside int64 and still flags them.
                q = min(max(q, -limit - 1), limit + 1)
                if has_syn:
                    q = _decay(syn[k], syn_leak[i], syn_bits, trunc) + q
                    bad |= (q > limit) | (q < -limit)
                    q = min(max(q, -limit - 1), limit + 1)
                    syn[k] = q
                u = _decay(v[k], leak[i], leak_bits, trunc) + q + drive[i]
                bad |= (u > limit) | (u < -limit)
                theta = threshold[i]
                fire = (u > theta) if strict else (u >= theta)
                out[k] = fire
                count += fire
                if reset == 0:
                    after = np.int64(0)
                elif reset == 1:
                    after = v_reset[i]
                else:
                    after = u - theta
                v[k] = after if fire else u
            fired[task, t] = count
            if bad and earliest < 0:
                earliest = t + 1
        if v_out.shape[0]:
            for k in range(i1 - i0):
                v_out[b, i0 + k] = v[k]
        overflow_step[task] = earliest


def lif_scan(
    current: np.ndarray,
    num_steps: int,
    threshold: np.ndarray,
    *,
    leak: np.ndarray | int = 1,
    leak_bits: int = 0,
    syn_leak: np.ndarray | int | None = None,
    syn_leak_bits: int = 0,
    leak_rounding: str = "floor",
    reset: str = "zero",
    v_reset: np.ndarray | int | None = None,
    v_init: np.ndarray | int | None = None,
    bias: np.ndarray | None = None,
    drive: np.ndarray | None = None,
    shift: int = 0,
    strict: bool = True,
    mem_bits: int = 32,
    layer: str = "?",
    keep_membrane: bool = False,
    step_spikes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run integer LIF neurons over ``num_steps`` steps.

    Per neuron i and step t (all integers, membrane LSBs):

    - input: q_t = (I_t << shift) + bias_i; with a synaptic current (``syn_leak``, a
      current-based LIF) J_t = ⌊α_i·J_{t−1} / 2^h_s⌋ + q_t, else J_t = q_t;
    - leak and charge: V ← ⌊λ_i·V / 2^h⌋ + J_t + drive_i (``leak_rounding="floor"``, an
      arithmetic shift, or rounded toward zero, ``"zero"``, for both decays); λ = λ_i / 2^h
      exactly, h = ``leak_bits`` (λ_i = 2^h: no leak, an IF);
    - fire: s_t = [V > Θ_i] (``strict``, NIR and SANA-FE) or [V ≥ Θ_i];
    - reset on a spike: ``"zero"`` V = 0, ``"value"`` V = V_reset_i, ``"subtract"`` V −= Θ_i.

    V starts at ``v_init`` (0 by default). A leak is one multiply at membrane width per neuron
    and step (the trace's ``leak_mults``).

    Parameters
    ----------
    current : numpy.ndarray
        Integer input current [Tq, B, n], Tq = 1 (held every step) or ``num_steps``.
    num_steps : int
        T (>= 1).
    threshold : numpy.ndarray
        Θ per neuron [n] (or a scalar), every entry > 0.
    leak, leak_bits, leak_rounding : optional
        λ_i per neuron [n] or scalar in [0, 2^h], h in 0..30, and the rounding of the products.
    syn_leak, syn_leak_bits : optional
        α_i in [0, 2^h_s] of a synaptic current state (None: none).
    reset, v_reset, v_init : optional
        Reset mode (``RESET_MODES``), the reset value per neuron (``"value"`` only) and the
        initial membrane per neuron (default 0).
    bias, drive, shift : optional
        Per-neuron constants added to the input (through the synaptic current) and to the
        membrane, and the fraction bits applied to the current (0..24).
    strict : bool, optional
        Fire on V > Θ (default) or on V ≥ Θ.
    mem_bits : int, optional
        Signed membrane width (2..60); leaving it raises OverflowDetected.
    layer : str, optional
        Layer name for messages.
    keep_membrane : bool, optional
        Also return the final membrane [B, n] (int64).
    step_spikes : numpy.ndarray, optional
        int64 [num_steps] filled with the number of spikes at each step (over the batch),
        counted during the scan (saves the caller a pass over the spikes).

    Returns
    -------
    spikes : numpy.ndarray
        uint8 [num_steps, B, n] of 0/1.
    membrane : numpy.ndarray or None
        The final V, if ``keep_membrane``.

    Raises
    ------
    ModelError
        Bad dtype, shape or option; a threshold, reset value or initial membrane outside the
        membrane; a leak product that could leave int64.
    OverflowDetected
        |V| exceeded 2^(mem_bits−1) − 1 after a charge (names the layer and the first step).
    """
    limit = _membrane_limit(mem_bits, layer)
    num_steps = _as_int(num_steps, "num_steps", layer, minimum=1)
    cur = _as_current(current, layer)
    num_q, batch, num_neurons = cur.shape
    if num_q not in (1, num_steps):
        raise ModelError(
            f"layer {layer!r}: current has {num_q} steps; expected 1 (same current every step) "
            f"or num_steps={num_steps}"
        )
    if reset not in RESET_MODES:
        raise ModelError(
            f"layer {layer!r}: reset must be one of {list(RESET_MODES)}, got {reset!r}"
        )
    if leak_rounding not in LEAK_ROUNDING:
        raise ModelError(
            f"layer {layer!r}: leak_rounding must be one of {list(LEAK_ROUNDING)}, "
            f"got {leak_rounding!r}"
        )
    theta = _as_threshold(threshold, num_neurons, layer)
    bits = _as_int(leak_bits, "leak_bits", layer, minimum=0, maximum=MAX_LEAK_BITS)
    lam = _per_neuron(leak, num_neurons, "leak", layer)
    if lam.size and (int(lam.min()) < 0 or int(lam.max()) > 1 << bits):
        raise ModelError(
            f"layer {layer!r}: leak must lie in [0, 2^{bits}] (λ in [0, 1]), got "
            f"[{int(lam.min())}, {int(lam.max())}]"
        )
    if _abs_max(lam) * limit > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: the leak product (λ_int up to {_abs_max(lam)} times the "
            f"int{mem_bits} membrane) exceeds the kernel's int64 headroom (2^61); use fewer "
            f"leak_bits or a narrower membrane"
        )
    has_syn = syn_leak is not None
    syn_bits = _as_int(syn_leak_bits, "syn_leak_bits", layer, minimum=0, maximum=MAX_LEAK_BITS)
    alpha = _per_neuron(0 if syn_leak is None else syn_leak, num_neurons, "syn_leak", layer)
    if alpha.size and (int(alpha.min()) < 0 or int(alpha.max()) > 1 << syn_bits):
        raise ModelError(
            f"layer {layer!r}: syn_leak must lie in [0, 2^{syn_bits}], got "
            f"[{int(alpha.min())}, {int(alpha.max())}]"
        )
    if _abs_max(alpha) * limit > _INT64_HEADROOM:
        raise ModelError(
            f"layer {layer!r}: the synaptic decay product exceeds the kernel's int64 headroom"
        )
    reset_n = (
        np.zeros(num_neurons, np.int64)
        if v_reset is None
        else _per_neuron(v_reset, num_neurons, "v_reset", layer)
    )
    start = (
        np.zeros(num_neurons, np.int64)
        if v_init is None
        else _per_neuron(v_init, num_neurons, "v_init", layer)
    )
    for name, arr in (("threshold", theta), ("v_reset", reset_n), ("v_init", start)):
        if _abs_max(arr) > limit:
            raise ModelError(
                f"layer {layer!r}: {name} {_abs_max(arr)} does not fit the int{mem_bits} "
                f"membrane (±{limit})"
            )
    shift = _as_int(shift, "shift", layer, minimum=0, maximum=MAX_SHIFT)
    bias_n = (
        np.zeros(num_neurons, np.int64)
        if bias is None
        else _per_neuron(bias, num_neurons, "bias", layer)
    )
    drive_n = (
        np.zeros(num_neurons, np.int64)
        if drive is None
        else _per_neuron(drive, num_neurons, "drive", layer)
    )
    if _abs_max(drive_n) > limit:
        raise ModelError(
            f"layer {layer!r}: drive {_abs_max(drive_n)} does not fit the int{mem_bits} membrane"
        )
    peak = _abs_max(cur) if cur.dtype == np.int64 else (1 << 31)
    if (peak << shift) + _abs_max(bias_n) >= 1 << 62:
        raise OverflowDetected(
            f"layer {layer!r}: membrane overflow at step 1: the charge "
            f"(current << {shift}) + bias exceeds the int{mem_bits} range"
        )
    spikes = np.empty((num_steps, batch, num_neurons), dtype=np.uint8)
    membrane = np.zeros((batch, num_neurons) if keep_membrane else (0, 0), dtype=np.int64)
    if batch * num_neurons == 0:
        return spikes, membrane if keep_membrane else None
    tasks = batch * -(-num_neurons // _BLOCK)
    overflow_step = np.empty(tasks, dtype=np.int64)
    fired = np.zeros((tasks, num_steps), dtype=np.int64)
    _run_threads(
        _lif_scan,
        tasks,
        4 * num_steps * batch * num_neurons,
        cur,
        shift,
        bias_n,
        drive_n,
        theta,
        lam,
        bits,
        alpha,
        syn_bits,
        has_syn,
        leak_rounding == "zero",
        RESET_MODES.index(reset),
        reset_n,
        start,
        bool(strict),
        limit,
        spikes,
        membrane,
        overflow_step,
        fired,
    )
    _raise_on_overflow(overflow_step, layer, mem_bits)
    if step_spikes is not None:
        step_spikes[:] = fired.sum(axis=0)
    return spikes, membrane if keep_membrane else None
