"""Dense back end of the synaptic sums: im2col plus a float BLAS GEMM, and its exactness guard.

Imports numpy, numba, threadpoolctl and the sibling ``operands``.

Exactness bound. For one output, y = Σ_{i<F} w_i·x_i over at most F = fan_in terms, each
|w_i·x_i| <= max|w|·max|x|. Any partial sum, in any order or blocking a BLAS or a scatter may use,
is a sum over a subset of those terms, so |partial| <= bound = max|w|·max|x|·F. Products and
partial sums are integers; float32 holds every integer of magnitude <= 2**24 and float64 every
integer <= 2**53, so when bound < 2**24 (float32) or bound < 2**53 (float64) no operation
(multiply, add or fused multiply-add) ever rounds, and the float result equals the integer sum.
Without such a format the dense path falls back to an int64 product (numpy's non-BLAS loop).
"""

from __future__ import annotations

import contextlib
import threading

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from neurosim.kernels.operands import _canonical_x, _run_threads

_FLOAT32_EXACT = 1 << 24
"""float32 holds every integer of magnitude <= 2**24; the bound must stay below it."""

_FLOAT64_EXACT = 1 << 53
"""float64 holds every integer of magnitude <= 2**53; the bound must stay below it."""

_DENSE_CHUNK_BYTES = 32 << 20
"""Size of one im2col block (bytes). 32-128 MiB measured alike on VGG-16 shapes, 8 MiB ~20 %
slower; 32 MiB keeps the scratch memory far below the ~1 GB budget."""

_SMALL_GEMM_FLOPS = 2_000_000_000
"""Float GEMMs of the dense paths below this many FLOPs run on one BLAS thread. After a
multi-threaded GEMM, OpenBLAS's idle workers spin for ~0.1 s on the other cores and slow the
event kernels that follow (measured on 2 cores: ResNet-18's first event conv took 80-95 ms
after the 0.1 GFLOP first-layer GEMM instead of 55-65 ms, and the whole pass ~10 % longer); a
large GEMM's own speed-up outweighs that."""


@numba.njit(cache=True, nogil=True)
def _im2col(x, padding, kernel_h, kernel_w, stride, dilation, groups, x_pad, cols, lo, hi):
    """Fill the im2col rows of frames lo..hi-1: cols[(n·Ho + oy)·Wo + ox] holds
    x_pad[n, oy·s + ky·d, ox·s + kx·d, g·Cg + c] in (g, ky, kx, c) order (d the dilation,
    Cg = Ci / groups; without groups, (ky, kx, c)).

    x [N, Ci, H, W] is first copied into the channel-last, zero-bordered x_pad [N, Hp, Wp, Ci]
    (border already zero); there a kernel row is one contiguous run of Kw·Ci values, so each
    im2col row is Kh plain copies. Measured 2-4x faster than gathering from x directly. With
    dilation or groups the run shrinks to one tap of one group (Cg values).
    """
    _num_frames, num_in, height, width = x.shape
    _, pad_h, pad_w, _ = x_pad.shape
    out_h = (pad_h - dilation * (kernel_h - 1) - 1) // stride + 1
    out_w = (pad_w - dilation * (kernel_w - 1) - 1) // stride + 1
    run = kernel_w * num_in
    in_per_group = num_in // groups
    for n in range(lo, hi):
        for c in range(num_in):
            for iy in range(height):
                row = x_pad[n, iy + padding]
                for ix in range(width):
                    row[ix + padding, c] = x[n, c, iy, ix]
        frame = x_pad[n].reshape((pad_h, pad_w * num_in))
        if dilation == 1 and groups == 1:
            for oy in range(out_h):
                for ox in range(out_w):
                    dst_row = cols[(n * out_h + oy) * out_w + ox]
                    for ky in range(kernel_h):
                        a = ox * stride * num_in
                        src = frame[oy * stride + ky, a : a + run]
                        dst = dst_row[ky * run : (ky + 1) * run]
                        for q in range(run):
                            dst[q] = src[q]
            continue
        for oy in range(out_h):
            for ox in range(out_w):
                dst_row = cols[(n * out_h + oy) * out_w + ox]
                q0 = 0
                for g in range(groups):
                    for ky in range(kernel_h):
                        src_row = frame[oy * stride + ky * dilation]
                        for kx in range(kernel_w):
                            a = (ox * stride + kx * dilation) * num_in + g * in_per_group
                            for q in range(in_per_group):
                                dst_row[q0 + q] = src_row[a + q]
                            q0 += in_per_group


def _blas_threads(flops: int, threads: int) -> contextlib.AbstractContextManager:
    """One BLAS thread while our own ``threads`` split the GEMMs, or for a GEMM below
    ``_SMALL_GEMM_FLOPS`` (see there); else BLAS's own threads."""
    if threads > 1 or flops < _SMALL_GEMM_FLOPS:
        return threadpool_limits(1, user_api="blas")
    return contextlib.nullcontext()


def _float_dtype(bound: int) -> type[np.floating] | None:
    """Narrowest float whose GEMM is exact for this bound (see the module docstring), or None."""
    if bound < _FLOAT32_EXACT:
        return np.float32
    if bound < _FLOAT64_EXACT:
        return np.float64
    return None


def _conv_dense(
    frames: np.ndarray,
    weight: np.ndarray,
    stride: int,
    padding: int,
    dilation: int,
    out: np.ndarray,
    float_dtype: type | None,
    max_abs_x: int | None = None,
) -> None:
    """im2col in blocks of frames, one GEMM per block (per group and block with groups), cast
    back into out [N, Co, Ho, Wo]; groups = Ci / weight.shape[1]."""
    num_frames, num_in = frames.shape[:2]
    num_out, in_per_group, kernel_h, kernel_w = weight.shape
    groups = num_in // in_per_group
    out_per_group = num_out // groups
    out_h, out_w = out.shape[2], out.shape[3]
    plane = out_h * out_w
    row_size = num_in * kernel_h * kernel_w  # of one im2col row, all groups
    fan_in = row_size // groups
    if float_dtype is None:
        # No float format is exact: integer GEMM in int64 (numpy's non-BLAS loop, exact while
        # the bound fits int64, which the caller checked). Only reached with method="dense".
        block = max(1, min(num_frames, _DENSE_CHUNK_BYTES // max(1, plane * row_size * 8)))
        w_int = weight.astype(np.int64)
        pad = ((0, 0), (0, 0), (padding, padding), (padding, padding))
        span = (dilation * (kernel_h - 1) + 1, dilation * (kernel_w - 1) + 1)
        for n0 in range(0, num_frames, block):
            n1 = min(num_frames, n0 + block)
            padded = np.pad(frames[n0:n1].astype(np.int64), pad)
            windows = np.lib.stride_tricks.sliding_window_view(padded, span, axis=(2, 3))[
                :, :, ::stride, ::stride
            ][:, :, :out_h, :out_w, ::dilation, ::dilation]
            if groups == 1:
                prod = np.tensordot(windows, w_int, axes=([1, 4, 5], [1, 2, 3]))
                out[n0:n1] = prod.transpose(0, 3, 1, 2)
            else:
                shape = (n1 - n0, groups, in_per_group, out_h, out_w, kernel_h, kernel_w)
                w_groups = w_int.reshape(groups, out_per_group, in_per_group, kernel_h, kernel_w)
                prod = np.einsum("ngcyxuv,gocuv->ngoyx", windows.reshape(shape), w_groups)
                out[n0:n1] = prod.reshape(n1 - n0, num_out, out_h, out_w)
        return
    itemsize = np.dtype(float_dtype).itemsize
    height, width = frames.shape[2:]
    x_k = _canonical_x(frames, max_abs_x)
    if groups == 1:
        # GEMM columns in (ky, kx, c) order to match the channel-last im2col rows.
        w_mat = np.ascontiguousarray(
            weight.transpose(2, 3, 1, 0).reshape(fan_in, num_out), dtype=float_dtype
        )
    else:
        # One [fan_in, Co/groups] matrix per group, rows in the (ky, kx, c) order of the
        # group's block of im2col columns.
        w_mat = np.ascontiguousarray(
            weight.reshape(groups, out_per_group, in_per_group, kernel_h, kernel_w)
            .transpose(0, 3, 4, 2, 1)
            .reshape(groups, fan_in, out_per_group),
            dtype=float_dtype,
        )

    # Frames per chunk: every thread's im2col block together within _DENSE_CHUNK_BYTES.
    threads = numba.get_num_threads()
    max_chunk = max(1, _DENSE_CHUNK_BYTES // (max(1, plane * row_size * itemsize) * threads))
    scratch = threading.local()  # each thread's zero-bordered copy and im2col block

    def chunk(lo: int, hi: int) -> None:
        """im2col, GEMM and cast back of frames lo..hi-1 (one thread's share)."""
        m = hi - lo
        if getattr(scratch, "x_pad", None) is None or scratch.x_pad.shape[0] < m:
            scratch.x_pad = np.zeros(
                (m, height + 2 * padding, width + 2 * padding, num_in), float_dtype
            )
            scratch.cols = np.empty((m * plane, row_size), float_dtype)
        x_pad, cols = scratch.x_pad[:m], scratch.cols[: m * plane]
        _im2col(
            x_k[lo:hi], padding, kernel_h, kernel_w, stride, dilation, groups, x_pad, cols, 0, m
        )
        # Exact: every entry is an integer of magnitude < 2**24 (float32) or 2**53 (float64).
        if groups == 1:
            prod = np.matmul(cols, w_mat)
            out[lo:hi] = prod.reshape(m, out_h, out_w, num_out).transpose(0, 3, 1, 2)
        else:
            # A stack of GEMMs, one per group, each reading its block of columns in place.
            rows = cols.reshape(m * plane, groups, fan_in).transpose(1, 0, 2)
            prod = np.matmul(rows, w_mat)
            out[lo:hi].reshape(m, groups, out_per_group, out_h, out_w)[...] = prod.reshape(
                groups, m, out_h, out_w, out_per_group
            ).transpose(1, 0, 4, 2, 3)

    flops = 2 * num_frames * plane * fan_in * num_out
    work = num_frames * (plane * row_size + num_in * height * width) + flops // 16
    with _blas_threads(flops, threads):
        _run_threads(chunk, num_frames, work, max_chunk=max_chunk)


def _linear_dense(
    frames: np.ndarray, weight: np.ndarray, out: np.ndarray, float_dtype: type | None
) -> None:
    """out [N, n_out] = frames [N, n_in] @ weight.T: float GEMM in blocks, else int64 matmul."""
    num_frames, num_in = frames.shape
    num_out = weight.shape[0]
    if float_dtype is None:
        out[...] = np.matmul(frames.astype(np.int64), weight.astype(np.int64).T)
        return
    itemsize = np.dtype(float_dtype).itemsize
    x_f = frames.astype(float_dtype)

    def chunk(lo: int, hi: int) -> None:
        """Output features lo..hi-1: their weight rows cast (BLAS reads the transposed
        operand in place) and one GEMM; the threads split the weights, not the frames, so
        a large matrix streams from memory once."""
        out[:, lo:hi] = np.matmul(x_f, weight[lo:hi].astype(float_dtype).T)

    threads = numba.get_num_threads()
    max_chunk = max(1, _DENSE_CHUNK_BYTES // max(1, num_in * itemsize * threads))
    flops = 2 * num_frames * num_in * num_out
    with _blas_threads(flops, threads):
        _run_threads(chunk, num_out, flops // 16, max_chunk=max_chunk)
