"""Public ``linear``: the fully-connected sum on the dense (GEMM) or event back end, and the
event core.

Imports numpy, numba, ``neurosim.errors`` and the sibling kernel modules.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError
from neurosim.kernels.gemm import _float_dtype, _linear_dense
from neurosim.kernels.operands import (
    _accumulator_dtype,
    _as_input,
    _as_weight,
    _canonical_x,
    _check_method,
    _event_operands,
    _max_abs,
    _run_threads,
    _transpose,
)

LINEAR_EVENT_DENSITY_THRESHOLD = 0.02
"""Largest fraction of non-zero inputs for which ``linear(method="auto")`` takes the event path.

Measured like ``EVENT_DENSITY_THRESHOLD`` on linear layers 512 -> 4096 -> 4096 -> 10 and
512 -> 512 -> 10 (S·B = 128 frames): every call must transpose the whole weight matrix for the
event path (41 ms for 4096 x 4096), while BLAS reads it in place, so the event path only wins
below about 2-5 % non-zero inputs.
"""

LINEAR_ROW_FRAMES = 32
"""Most frames (steps × samples) for which the dense path of ``linear`` multiplies in integers,
one weight row at a time, instead of casting the weights for a float GEMM.

With few frames the GEMM is bound by reading the weights, and the float path must cast every
weight first: on VGG-16's 25088 -> 4096 layer (int8 weights, 15 % binary inputs, one thread)
8 frames took 0.09 s by GEMM and 0.04 s in integers, 32 frames 0.52 s and 0.22 s, 64 frames
0.47 s and 0.41 s (an ImageNet pass runs one sample per batch: T frames).
"""


@numba.njit(cache=True, nogil=True)
def _linear_rows(x, weight, out, lo, hi):
    """out[n, o] = Σ_i x[n, i]·weight[o, i] for the output features o in [lo, hi): each weight
    row is read once for every frame (it stays in cache), a vectorised integer dot product
    accumulated in out's dtype (the caller's bound proves it cannot wrap)."""
    num_frames, num_in = x.shape
    for o in range(lo, hi):
        w_row = weight[o]
        for n in range(num_frames):
            x_row = x[n]
            acc = out[n, o] - out[n, o]  # a zero of the accumulator's dtype
            for i in range(num_in):
                acc += np.int32(w_row[i]) * np.int32(x_row[i])
            out[n, o] = acc


@numba.njit(cache=True, nogil=True)
def _linear_event(x, weight_t, out, block, lo, hi):
    """out[n] = Σ_i x[n, i]·weight_t[i] over the non-zero x[n, i], in blocks of ``block`` frames
    (blocks lo..hi-1).

    A block shares each weight row among its frames, so a weight matrix larger than the caches
    streams from memory once per block rather than once per frame (measured ~2x on 4096 x 4096).
    """
    num_frames, num_in = x.shape
    num_out = weight_t.shape[1]
    for b in range(lo, hi):
        n0 = b * block
        n1 = min(num_frames, n0 + block)
        out[n0:n1] = 0
        for i in range(num_in):
            w_row = weight_t[i]
            for n in range(n0, n1):
                v = x[n, i]
                if v == 0:
                    continue
                acc = out[n]
                if v == 1:
                    for q in range(num_out):
                        acc[q] += w_row[q]
                elif v == -1:
                    for q in range(num_out):
                        acc[q] -= w_row[q]
                else:
                    for q in range(num_out):
                        acc[q] += v * w_row[q]


def linear(
    x: np.ndarray, weight: np.ndarray, *, method: str = "auto", weight_max: int | None = None
) -> np.ndarray:
    """Exact integer fully-connected sum x @ weight.T of every step and sample in one call.

    Parameters
    ----------
    x : np.ndarray
        Integer [S, B, n_in] inputs (int8, uint8, int16, int32 or int64; bool is read as 0/1).
    weight : np.ndarray
        int8 or int16 [n_out, n_in] weights.
    method : {"auto", "dense", "event"}
        As for ``conv2d``; "auto" compares the density with ``LINEAR_EVENT_DENSITY_THRESHOLD``.
    weight_max : int, optional
        max |weight| when the caller already knows it (exact, as for ``conv2d``): saves a
        pass over the weights.

    Returns
    -------
    np.ndarray
        [S, B, n_out]; int32 if max|w|·max|x|·n_in fits int32, else int64.

    Raises
    ------
    ModelError
        Bad dtypes or shapes (n_in of x differs from weight's) or an invalid method.
    OverflowDetected
        The bound exceeds int64.
    """
    function = "linear"
    _check_method(method, function)
    x = _as_input(x, 3, "[S, B, n_in]", function)
    weight = _as_weight(weight, 2, "[n_out, n_in]", function)
    steps, batch, num_in = x.shape
    num_out, w_in = weight.shape
    if w_in != num_in:
        raise ModelError(
            f"{function}: x has {num_in} input features (shape {x.shape}) but weight expects "
            f"{w_in} (shape {weight.shape})"
        )
    max_abs_x, nnz = _max_abs(x)
    max_abs_w = _max_abs(weight, count=False)[0] if weight_max is None else int(weight_max)
    bound = max_abs_w * max_abs_x * num_in
    acc_dtype = _accumulator_dtype(
        bound, function, f"max|w| {max_abs_w} · max|x| {max_abs_x} · fan_in {num_in}"
    )
    num_frames = steps * batch
    out = np.empty((num_frames, num_out), acc_dtype)
    if out.size == 0 or nnz == 0:
        out[...] = 0
        return out.reshape(steps, batch, num_out)
    frames = x.reshape(num_frames, num_in)
    float_dtype = _float_dtype(bound)
    if method == "auto":
        dense = float_dtype is not None and nnz > LINEAR_EVENT_DENSITY_THRESHOLD * x.size
        method = "dense" if dense else "event"
    if method == "event":
        x_k, w_k = _event_operands(frames, weight, acc_dtype, max_abs_x)
        weight_t = np.empty((num_in, num_out), w_k.dtype)
        _transpose(w_k, weight_t)
        # Frames per block: their int32/int64 rows together stay within ~256 KiB (L2).
        block = max(1, min(32, (256 << 10) // (num_out * out.itemsize)))
        num_blocks = -(-num_frames // block)
        work = x.size + nnz * num_out
        _run_threads(_linear_event, num_blocks, work, x_k, weight_t, out, block)
    elif num_frames <= LINEAR_ROW_FRAMES and max_abs_x <= 127:
        # int8 inputs times int8/int16 weights: each product fits int32 (<= 127 · 32768).
        x_k = _canonical_x(frames, max_abs_x)
        out[...] = 0
        _run_threads(_linear_rows, num_out, x.size * num_out, x_k, weight, out)
    else:
        _linear_dense(frames, weight, out, float_dtype)
    return out.reshape(steps, batch, num_out)
