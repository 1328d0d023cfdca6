"""Weight-free exact sums: sum pooling and the per-channel residual axpy.

Imports numpy, numba, ``neurosim.errors`` and the sibling ``operands``.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError
from neurosim.kernels.operands import (
    _accumulator_dtype,
    _as_input,
    _as_size,
    _max_abs,
    _output_size,
    _run_threads,
)


@numba.njit(cache=True, nogil=True)
def _channel_axpy(out, x, gain, init, lo, hi):
    """out[s, b, c, :] (= if init, else +=) x[s or 0, b, c, :]·gain[c] for the planes
    (s, b, c) numbered lo..hi-1: one pass, no temporary."""
    _, batch, channels, size = out.shape
    num_x = x.shape[0]
    for task in range(lo, hi):
        s = task // (batch * channels)
        b = (task // channels) % batch
        c = task % channels
        g = out.dtype.type(gain[c])
        src = x[s if num_x > 1 else 0, b, c]
        dst = out[s, b, c]
        if init:
            for m in range(size):
                dst[m] = src[m] * g
        else:
            for m in range(size):
                dst[m] += src[m] * g


@numba.njit(cache=True, nogil=True)
def _sum_pool(x, kernel, stride, out, lo, hi):
    """out[p, i, j] = Σ x[p, i·stride + ky, j·stride + kx] over the kernel×kernel window, for
    the planes p = lo..hi-1: one pass over each plane, the sums in out's dtype (the caller
    bounds them). The common 2×2, stride 2 window has its own constant-stride loop, which
    vectorises (measured ~7x faster than numpy's four strided adds on VGG-16 spikes)."""
    out_h, out_w = out.shape[1], out.shape[2]
    for p in range(lo, hi):
        src = x[p]
        dst = out[p]
        for i in range(out_h):
            d = dst[i]
            if kernel == 2 and stride == 2:
                r0 = src[2 * i]
                r1 = src[2 * i + 1]
                for j in range(out_w):
                    d[j] = r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1]
                continue
            for j in range(out_w):
                d[j] = 0
            for ky in range(kernel):
                r = src[i * stride + ky]
                for kx in range(kernel):
                    for j in range(out_w):
                        d[j] += r[j * stride + kx]


def sum_pool2d(x: np.ndarray, kernel: int, stride: int, *, dtype: type | None = None) -> np.ndarray:
    """Exact sum over each kernel×kernel window (no padding) of every step and sample.

    Parameters
    ----------
    x : np.ndarray
        Integer [S, B, C, H, W] inputs (int8, uint8, int16, int32 or int64; bool is read as 0/1).
    kernel : int
        Window side (>= 1).
    stride : int
        Window step (>= 1).
    dtype : integer type, optional
        The result's dtype (a caller's fixed choice); it must hold max|x|·kernel².

    Returns
    -------
    np.ndarray
        [S, B, C, Ho, Wo] with Ho = (H - kernel) // stride + 1, in ``dtype`` or else the
        narrowest of int8, int16, int32 and int64 that holds max|x|·kernel² (every partial sum
        is bounded by it).

    Raises
    ------
    ModelError
        Bad dtype or shape, a window larger than the input, or a ``dtype`` that cannot hold
        max|x|·kernel².
    OverflowDetected
        max|x|·kernel² exceeds int64.
    """
    function = "sum_pool2d"
    x = _as_input(x, 5, "[S, B, C, H, W]", function)
    kernel = _as_size(kernel, "kernel", function, 1)
    stride = _as_size(stride, "stride", function, 1)
    height, width = x.shape[3], x.shape[4]
    out_h = _output_size(height, kernel, stride, 0)
    out_w = _output_size(width, kernel, stride, 0)
    if out_h < 1 or out_w < 1:
        raise ModelError(f"{function}: window {kernel}x{kernel} does not fit x of shape {x.shape}")
    max_abs_x, _ = _max_abs(x, count=False)
    bound = max_abs_x * kernel * kernel
    acc_dtype = _accumulator_dtype(bound, function, f"max|x| {max_abs_x} · {kernel}²")
    # Pooled spikes stay narrow (a 2x2 window of binary spikes is 0..4): less to move later.
    for narrow in (np.int8, np.int16):
        if bound <= np.iinfo(narrow).max:
            acc_dtype = narrow
            break
    if dtype is not None:
        if not np.issubdtype(dtype, np.signedinteger) or bound > np.iinfo(dtype).max:
            raise ModelError(
                f"{function}: dtype {np.dtype(dtype).name} cannot hold the window sums "
                f"(up to {bound}); use a signed integer dtype that holds them"
            )
        acc_dtype = np.dtype(dtype).type
    out = np.empty((*x.shape[:3], out_h, out_w), acc_dtype)
    planes = out.shape[0] * out.shape[1] * out.shape[2]
    # Each partial sum is bounded like the result, so acc_dtype holds every one exactly.
    _run_threads(
        _sum_pool,
        planes,
        out.size * kernel * kernel,
        np.ascontiguousarray(x).reshape(planes, height, width),
        kernel,
        stride,
        out.reshape(planes, out_h, out_w),
    )
    return out


def channel_axpy(out: np.ndarray, x: np.ndarray, gain: np.ndarray, init: bool) -> None:
    """Residual sum step: out = x·gain[c] (``init``) or out += x·gain[c], per channel c.

    ``out`` is [S, B, C, M] int32 or int64; ``x`` is [S or 1, B, C, M] of any integer dtype
    (a one-step x is added at every step); ``gain`` is int64 [C]. The caller guarantees the
    result fits ``out``'s dtype (functional bounds Σ max|x|·max|gain| first).

    Raises
    ------
    ModelError
        Mismatched shapes or non-integer dtypes.
    """
    function = "channel_axpy"
    if out.dtype not in (np.int32, np.int64) or out.ndim != 4:
        raise ModelError(
            f"{function}: out must be a 4-d int32/int64 array, got {out.dtype} {out.shape}"
        )
    x = _as_input(x, 4, "[S or 1, B, C, M]", function)
    if x.shape[1:] != out.shape[1:] or x.shape[0] not in (1, out.shape[0]):
        raise ModelError(f"{function}: x of shape {x.shape} does not match out {out.shape}")
    gain = np.ascontiguousarray(gain, np.int64)
    if gain.shape != (out.shape[2],):
        raise ModelError(f"{function}: gain must have shape ({out.shape[2]},), got {gain.shape}")
    planes = out.shape[0] * out.shape[1] * out.shape[2]
    _run_threads(
        _channel_axpy, planes, 2 * out.size, out, np.ascontiguousarray(x), gain, bool(init)
    )
