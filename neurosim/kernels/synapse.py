"""Exact integer synaptic accumulation for all time-steps of a layer in one call, and AC counts.

Imports numpy, numba, threadpoolctl and ``neurosim.errors`` only (DESIGN decisions 2 and 3).

Every function takes integer tensors whose first two axes are [steps S, batch B] and treats the
S·B frames as one batch, because the synaptic sum is linear and does not depend on the neuron
state. ``conv2d`` and ``linear`` have two interchangeable back ends with the same exact result:

* **dense**: im2col (conv) plus a float32 or float64 BLAS GEMM, used only where the exactness
  bound below proves that the float sums are integers the format holds exactly;
* **event**: a Numba scatter over the non-zero inputs only, accumulating in int32 or int64.

``method="auto"`` picks the event path when the fraction of non-zero inputs is at most
``EVENT_DENSITY_THRESHOLD`` (conv) or ``LINEAR_EVENT_DENSITY_THRESHOLD`` (linear), or when no
float format is exact; the dense path otherwise.

Exactness bound. For one output, y = Σ_{i<F} w_i·x_i over at most F = fan_in terms, each
|w_i·x_i| <= max|w|·max|x|. Any partial sum, in any order or blocking a BLAS or a scatter may use,
is a sum over a subset of those terms, so |partial| <= bound = max|w|·max|x|·F. Products and
partial sums are integers; float32 holds every integer of magnitude <= 2**24 and float64 every
integer <= 2**53, so when bound < 2**24 (float32) or bound < 2**53 (float64) no operation
(multiply, add or fused multiply-add) ever rounds, and the float result equals the integer sum.
The same argument with the int32 range gives exact int32 accumulation when bound <= 2**31 - 1;
otherwise int64 is used, and a bound above 2**63 - 1 raises ``OverflowDetected``.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from neurosim.errors import ModelError, OverflowDetected

__all__ = [
    "EVENT_DENSITY_THRESHOLD",
    "LINEAR_EVENT_DENSITY_THRESHOLD",
    "METHODS",
    "channel_axpy",
    "conv2d",
    "conv2d_fanout",
    "linear",
    "linear_fanout",
    "sum_pool2d",
]

METHODS = ("auto", "dense", "event")
"""Values accepted by the keyword-only ``method`` argument of ``conv2d`` and ``linear``."""

EVENT_DENSITY_THRESHOLD = 0.5
"""Largest fraction of non-zero inputs for which ``conv2d(method="auto")`` takes the event path.

Measured with ``python scripts/bench_synapse.py --sweep`` (2 AMD EPYC Zen 3 cores, float32 GEMM
about 150 GFLOP/s, numpy's OpenBLAS): over the 13 VGG-16 CIFAR conv layers (S = 4, B = 32,
random binary int8/int64 inputs, int8 weights) the event path's total time grows with density
and meets the dense path's (flat, 0.55-0.6x the GEMM rate) at 56-60 % non-zero inputs; at 15 %
the event path is 2.3-2.7x faster (1.4-1.6x the GEMM rate). The constant sits below that
crossover because spike values other than ±1 cost the event path a multiply.
"""

LINEAR_EVENT_DENSITY_THRESHOLD = 0.02
"""Largest fraction of non-zero inputs for which ``linear(method="auto")`` takes the event path.

Measured like ``EVENT_DENSITY_THRESHOLD`` on linear layers 512 -> 4096 -> 4096 -> 10 and
512 -> 512 -> 10 (S·B = 128 frames): every call must transpose the whole weight matrix for the
event path (41 ms for 4096 x 4096), while BLAS reads it in place, so the event path only wins
below about 2-5 % non-zero inputs.
"""

_FLOAT32_EXACT = 1 << 24
"""float32 holds every integer of magnitude <= 2**24; the bound must stay below it."""

_FLOAT64_EXACT = 1 << 53
"""float64 holds every integer of magnitude <= 2**53; the bound must stay below it."""

_INT16_MAX = (1 << 15) - 1
_INT32_MAX = (1 << 31) - 1
_INT64_MAX = (1 << 63) - 1

_DENSE_CHUNK_BYTES = 32 << 20
"""Size of one im2col block (bytes). 32-128 MiB measured alike on VGG-16 shapes, 8 MiB ~20 %
slower; 32 MiB keeps the scratch memory far below the ~1 GB budget."""

_PARALLEL_MIN_WORK = 4_000_000
"""Operations (about 1 ms on one core) below which a call stays on one thread: starting a pool
of two threads costs 0.3-2 ms (measured; a 512 -> 512 linear layer ran 2x slower threaded)."""

_SMALL_GEMM_FLOPS = 2_000_000_000
"""Float GEMMs of the dense paths below this many FLOPs run on one BLAS thread. After a
multi-threaded GEMM, OpenBLAS's idle workers spin for ~0.1 s on the other cores and slow the
event kernels that follow (measured on 2 cores: ResNet-18's first event conv took 80-95 ms
after the 0.1 GFLOP first-layer GEMM instead of 55-65 ms, and the whole pass ~10 % longer); a
large GEMM's own speed-up outweighs that."""

_X_DTYPES = (np.int8, np.uint8, np.int16, np.int32, np.int64)
_W_DTYPES = (np.int8, np.int16)


# ---------------------------------------------------------------------------------------------
# Jitted cores. All are serial and release the GIL; ``_run_threads`` splits the frames over the
# numba thread count (numba.get_num_threads()). Python threads instead of ``prange`` keep the
# compile time of each specialisation at 1-3 s rather than 4-6 s, and run as fast (measured).
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _flat_stats(flat, start, stop, result, slot):
    """Write (min, max, non-zero count) of flat[start:stop], min/max counting 0, to result[slot]."""
    lo = np.int64(0)
    hi = np.int64(0)
    nnz = np.int64(0)
    for i in range(start, stop):
        v = np.int64(flat[i])
        lo = min(lo, v)
        hi = max(hi, v)
        nnz += v != 0
    result[slot, 0] = lo
    result[slot, 1] = hi
    result[slot, 2] = nnz


@numba.njit(cache=True, nogil=True)
def _scatter(
    acc,
    w_flat,
    row_start,
    cols,
    vals,
    c_lo,
    c_hi,
    height,
    kernel_h,
    kernel_w,
    out_h,
    out_w,
    stride,
    padding,
):
    """Add the compacted non-zero inputs of channels c_lo..c_hi-1 of one frame into the
    mirrored channel-last accumulator ``acc`` (see ``_conv_event``)."""
    num_out = acc.size // (out_h * out_w)
    for c in range(c_lo, c_hi):
        for iy in range(height):
            for e in range(row_start[c * height + iy], row_start[c * height + iy + 1]):
                ix = cols[e]
                v = vals[e]
                if stride == 1:
                    rx0 = out_w - 1 - ix - padding
                    kx0 = max(0, -rx0)
                    kx1 = min(kernel_w, out_w - rx0)
                    if kx1 <= kx0:
                        continue
                    run = (kx1 - kx0) * num_out
                    ky0 = max(0, iy + padding - out_h + 1)
                    ky1 = min(kernel_h, iy + padding + 1)
                    for ky in range(ky0, ky1):
                        oy = iy + padding - ky
                        a = (oy * out_w + rx0 + kx0) * num_out
                        b = ((c * kernel_h + ky) * kernel_w + kx0) * num_out
                        acc_run = acc[a : a + run]
                        w_run = w_flat[b : b + run]
                        # Binary and ternary spikes skip the multiply.
                        if v == 1:
                            for q in range(run):
                                acc_run[q] += w_run[q]
                        elif v == -1:
                            for q in range(run):
                                acc_run[q] -= w_run[q]
                        else:
                            for q in range(run):
                                acc_run[q] += v * w_run[q]
                else:
                    # Only the taps this input reaches: ky ≡ iy + padding (mod stride), and
                    # then oy falls by one per tap (kx and ox alike). One division per input
                    # instead of two per tap: 10-15 % faster on ResNet-18's 3x3 stride-2
                    # convs, as fast as a stride-2 special case with shifts.
                    qy = (iy + padding) // stride
                    qx = (ix + padding) // stride
                    oy = qy + 1
                    for ky in range(iy + padding - qy * stride, kernel_h, stride):
                        oy -= 1
                        if oy < 0:
                            break
                        if oy >= out_h:
                            continue
                        ox = qx + 1
                        for kx in range(ix + padding - qx * stride, kernel_w, stride):
                            ox -= 1
                            if ox < 0:
                                break
                            if ox >= out_w:
                                continue
                            a = (oy * out_w + out_w - 1 - ox) * num_out
                            b = ((c * kernel_h + ky) * kernel_w + kx) * num_out
                            acc_run = acc[a : a + num_out]
                            w_run = w_flat[b : b + num_out]
                            if v == 1:
                                for q in range(num_out):
                                    acc_run[q] += w_run[q]
                            else:
                                for q in range(num_out):
                                    acc_run[q] += v * w_run[q]


@numba.njit(cache=True, nogil=True)
def _conv_event(x, weight_t, stride, padding, out, group, first, step):
    """Scatter-add the non-zero inputs of frames first, first+step, ... into ``out``.

    x is [N, Ci, H, W]; weight_t is [Ci, Kh, Kw, Co]; out is [N, Co, Ho, Wo] in the accumulator
    dtype (int32 or int64), fully overwritten. With ``group`` > 0 the inputs are added
    ``group`` channels at a time into an int16 accumulator, flushed into the wide one after
    each group (a contiguous, vectorised pass): twice the SIMD lanes and half the bytes of the
    scatter, while the un-mirroring below, which cannot be vectorised, reads one accumulator.
    ``conv2d`` sizes the group so that int16 cannot overflow (``_int16_group``).
    """
    num_frames, num_in, height, width = x.shape
    _, kernel_h, kernel_w, num_out = weight_t.shape
    out_h = out.shape[2]
    out_w = out.shape[3]
    plane = out_h * out_w
    w_flat = weight_t.ravel()
    # Channel-last accumulator [Ho, Wo, Co] with the columns mirrored (index Wo-1-ox): input
    # column ix reaches mirrored column Wo-1-ix-padding+kx, increasing with kx, so one kernel row
    # (stride 1) is one contiguous run of Kw·Co in both the accumulator and weight_t.
    acc = np.zeros(plane * num_out, out.dtype)
    acc16 = np.zeros(plane * num_out if group > 0 else 0, np.int16)
    # Non-zero inputs of one frame, compacted per (channel, row) without branches.
    row_start = np.empty(num_in * height + 1, np.int64)
    cols = np.empty(num_in * height * width, np.int64)
    vals = np.empty(num_in * height * width, out.dtype)
    for n in range(first, num_frames, step):
        k = 0
        for c in range(num_in):
            for iy in range(height):
                row_start[c * height + iy] = k
                for ix in range(width):
                    v = x[n, c, iy, ix]
                    cols[k] = ix
                    vals[k] = v
                    k += v != 0
        row_start[num_in * height] = k
        if group <= 0:
            _scatter(
                acc,
                w_flat,
                row_start,
                cols,
                vals,
                0,
                num_in,
                height,
                kernel_h,
                kernel_w,
                out_h,
                out_w,
                stride,
                padding,
            )
        else:
            for c0 in range(0, num_in, group):
                c1 = min(num_in, c0 + group)
                if row_start[c1 * height] == row_start[c0 * height]:
                    continue  # no input in this group
                _scatter(
                    acc16,
                    w_flat,
                    row_start,
                    cols,
                    vals,
                    c0,
                    c1,
                    height,
                    kernel_h,
                    kernel_w,
                    out_h,
                    out_w,
                    stride,
                    padding,
                )
                for i in range(plane * num_out):  # contiguous: vectorised
                    acc[i] += acc16[i]
                    acc16[i] = 0
        # Back to [Co, Ho, Wo] (un-mirrored), clearing the accumulator for the next frame as
        # it is read. Blocks of 8 channels: each (oy, ox) reads one contiguous run of the
        # accumulator and writes 8 output rows that stay in L1 across ox (rows Ho·Wo apart
        # share cache sets: 16 of them thrash an 8-way L1, measured 2x slower).
        for oy in range(out_h):
            for co0 in range(0, num_out, 8):
                co1 = min(co0 + 8, num_out)
                for ox in range(out_w):
                    src = (oy * out_w + out_w - 1 - ox) * num_out
                    for co in range(co0, co1):
                        out[n, co, oy, ox] = acc[src + co]
                        acc[src + co] = 0


@numba.njit(cache=True, nogil=True)
def _linear_event(x, weight_t, out, block, first, step):
    """out[n] = Σ_i x[n, i]·weight_t[i] over the non-zero x[n, i], in blocks of ``block`` frames
    (blocks first, first+step, ...).

    A block shares each weight row among its frames, so a weight matrix larger than the caches
    streams from memory once per block rather than once per frame (measured ~2x on 4096 x 4096).
    """
    num_frames, num_in = x.shape
    num_out = weight_t.shape[1]
    num_blocks = (num_frames + block - 1) // block
    for b in range(first, num_blocks, step):
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


@numba.njit(cache=True, nogil=True)
def _transpose(matrix, matrix_t):
    """matrix_t[j, i] = matrix[i, j], in 16 x 16 tiles (constant trip counts) walked in strips
    of 64 source rows, so the source lines a strip touches stay in L1 between tiles.

    Measured 1.3-4x faster than numpy's transposed copy and than plain tiles (a 4096 x 4096
    int16 matrix: 38 ms vs 156 ms and 51 ms); a second thread did not help.
    """
    rows, cols = matrix.shape
    for s0 in range(0, rows, 64):
        s1 = min(rows, s0 + 64)
        for j0 in range(0, cols, 16):
            for i0 in range(s0, s1, 16):
                if i0 + 16 <= rows and j0 + 16 <= cols:
                    for j in range(16):
                        for i in range(16):
                            matrix_t[j0 + j, i0 + i] = matrix[i0 + i, j0 + j]
                else:
                    for j in range(j0, min(cols, j0 + 16)):
                        for i in range(i0, min(s1, i0 + 16)):
                            matrix_t[j, i] = matrix[i, j]


@numba.njit(cache=True, nogil=True)
def _im2col(x, padding, kernel_h, kernel_w, stride, x_pad, cols, first, step):
    """Fill the im2col rows of frames first, first+step, ...: cols[(n·Ho + oy)·Wo + ox] holds
    x_pad[n, oy·s + ky, ox·s + kx, c] in (ky, kx, c) order.

    x [N, Ci, H, W] is first copied into the channel-last, zero-bordered x_pad [N, Hp, Wp, Ci]
    (border already zero); there a kernel row is one contiguous run of Kw·Ci values, so each
    im2col row is Kh plain copies. Measured 2-4x faster than gathering from x directly.
    """
    num_frames, num_in, height, width = x.shape
    _, pad_h, pad_w, _ = x_pad.shape
    out_h = (pad_h - kernel_h) // stride + 1
    out_w = (pad_w - kernel_w) // stride + 1
    run = kernel_w * num_in
    for n in range(first, num_frames, step):
        for c in range(num_in):
            for iy in range(height):
                row = x_pad[n, iy + padding]
                for ix in range(width):
                    row[ix + padding, c] = x[n, c, iy, ix]
        frame = x_pad[n].reshape((pad_h, pad_w * num_in))
        for oy in range(out_h):
            for ox in range(out_w):
                dst_row = cols[(n * out_h + oy) * out_w + ox]
                for ky in range(kernel_h):
                    a = ox * stride * num_in
                    src = frame[oy * stride + ky, a : a + run]
                    dst = dst_row[ky * run : (ky + 1) * run]
                    for q in range(run):
                        dst[q] = src[q]


@numba.njit(cache=True, nogil=True)
def _plane_sums(values, plane):
    """plane[s, y, x] += Σ_{b, c} values[s, b, c, y, x], in one pass over 1- or 2-byte values.

    numpy's widening sum over two axes ran ~5x slower on the largest arrays of the pass.
    """
    steps, batch, channels, height, width = values.shape
    for s in range(steps):
        acc = plane[s]
        for b in range(batch):
            for c in range(channels):
                for y in range(height):
                    row = values[s, b, c, y]
                    out = acc[y]
                    for x in range(width):
                        out[x] += row[x]


@numba.njit(cache=True, parallel=True)
def _channel_axpy(out, x, gain, init):
    """out[s, b, c, :] (= if init, else +=) x[s or 0, b, c, :]·gain[c], one pass, no temporary."""
    steps, batch, channels, size = out.shape
    num_x = x.shape[0]
    for task in numba.prange(steps * batch * channels):
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


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _run_threads(kernel, num_items: int, work: int, *args) -> None:
    """Call kernel(*args, first, step) on up to numba.get_num_threads() threads (interleaved).

    ``work`` estimates the elementary operations; below ``_PARALLEL_MIN_WORK`` one call on the
    calling thread beats starting a pool.
    """
    num_threads = max(1, min(numba.get_num_threads(), num_items))
    if num_threads == 1 or work < _PARALLEL_MIN_WORK:
        kernel(*args, 0, 1)
        return
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        futures = [pool.submit(kernel, *args, t, num_threads) for t in range(num_threads)]
        for future in futures:
            future.result()


def _stats(arr: np.ndarray, *, count: bool = True) -> tuple[int, int, int]:
    """Return (min(0, min), max(0, max), non-zero count or 0) of an integer array.

    numpy's SIMD reductions are fastest on narrow data; int64 inputs (what the functional pass
    hands over) use one fused, threaded pass instead of three (measured 2-4x faster).
    """
    flat = arr.reshape(-1)
    if flat.size == 0:
        return 0, 0, 0
    if arr.dtype != np.int64 or not count:
        nnz = int(np.count_nonzero(flat)) if count else 0
        return min(0, int(flat.min())), max(0, int(flat.max())), nnz
    # Threads only pay off above about a million values.
    num_threads = max(1, min(numba.get_num_threads(), flat.size >> 20))
    bounds = np.linspace(0, flat.size, num_threads + 1).astype(np.int64)
    result = np.zeros((num_threads, 3), np.int64)
    if num_threads == 1:
        _flat_stats(flat, 0, flat.size, result, 0)
    else:
        with ThreadPoolExecutor(max_workers=num_threads) as pool:
            futures = [
                pool.submit(_flat_stats, flat, bounds[t], bounds[t + 1], result, t)
                for t in range(num_threads)
            ]
            for future in futures:
                future.result()
    return int(result[:, 0].min()), int(result[:, 1].max()), int(result[:, 2].sum())


def _max_abs(arr: np.ndarray, *, count: bool = True) -> tuple[int, int]:
    """Return (max |value|, non-zero count or 0) of an integer array."""
    lo, hi, nnz = _stats(arr, count=count)
    return max(-lo, hi), nnz


def _check_method(method: str, function: str) -> None:
    if method not in METHODS:
        raise ModelError(
            f"{function}: method must be one of {', '.join(map(repr, METHODS))}, got {method!r}"
        )


def _as_input(x: np.ndarray, ndim: int, layout: str, function: str, name: str = "x") -> np.ndarray:
    """Check an integer input tensor of ``ndim`` axes; return it (bool is viewed as int8)."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        arr = arr.view(np.int8)
    if arr.dtype.type not in _X_DTYPES:
        allowed = ", ".join(np.dtype(t).name for t in _X_DTYPES)
        raise ModelError(f"{function}: {name} must have dtype in {{{allowed}}}, got {arr.dtype}")
    if arr.ndim != ndim:
        raise ModelError(f"{function}: {name} must have shape {layout}, got shape {arr.shape}")
    return arr


def _as_weight(weight: np.ndarray, ndim: int, layout: str, function: str) -> np.ndarray:
    arr = np.asarray(weight)
    if arr.dtype.type not in _W_DTYPES:
        raise ModelError(f"{function}: weight must have dtype int8 or int16, got {arr.dtype}")
    if arr.ndim != ndim:
        raise ModelError(f"{function}: weight must have shape {layout}, got shape {arr.shape}")
    return arr


def _as_size(value: object, name: str, function: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ModelError(f"{function}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _accumulator_dtype(bound: int, function: str, terms: str) -> type[np.signedinteger]:
    """int32 if the worst-case |sum| bound fits int32, else int64; OverflowDetected beyond."""
    if bound <= _INT32_MAX:
        return np.int32
    if bound <= _INT64_MAX:
        return np.int64
    raise OverflowDetected(
        f"{function}: worst-case |sum| {terms} = {bound} exceeds the int64 range "
        f"(±{_INT64_MAX}); an exact result cannot be guaranteed"
    )


def _canonical_x(x: np.ndarray, max_abs: int | None = None) -> np.ndarray:
    """x C-contiguous as int8 or int64, the two input dtypes the cores are compiled for.

    int8 passes through; any input whose values fit int8 (``max_abs`` <= 127: spikes, pooled
    spikes) is narrowed to it — a uint8 array is reinterpreted without a copy — and the rest
    widens to int64. Each extra compiled dtype would cost ~3 s of compile time; a narrow input
    moves 8x fewer bytes than int64 through the cores.
    """
    if x.dtype == np.int8:
        return np.ascontiguousarray(x)
    if max_abs is not None and max_abs <= 127:
        if x.dtype == np.uint8:
            return np.ascontiguousarray(x).view(np.int8)
        return np.ascontiguousarray(x, np.int8)
    return np.ascontiguousarray(x, np.int64)


def _event_operands(
    x: np.ndarray, weight: np.ndarray, acc_dtype: type, max_abs_x: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cast operands to the five dtype combinations the event cores are compiled for.

    int32 accumulation: x int8 or int64, weights int8 as given, other weights int16 (int32
    weights ~15 % slower). int8 weights halve the bytes the scatter streams: with the int16
    group accumulator, layers ran 3-20 % faster than with the weights widened to int16 (the
    deep layers, whose weights outgrow L2, the most). int64 accumulation: x and weights int64.
    The caller transposes the returned C-contiguous weight.
    """
    if acc_dtype == np.int64:
        return np.ascontiguousarray(x, np.int64), np.ascontiguousarray(weight, np.int64)
    w_dtype = np.int8 if weight.dtype == np.int8 else np.int16
    return _canonical_x(x, max_abs_x), np.ascontiguousarray(weight, w_dtype)


def _int16_group(term_bound: int, window: int, num_in: int, acc_dtype: type) -> int:
    """Input channels the event conv may add into its int16 accumulator between two flushes
    (0: accumulate wide only).

    One input channel reaches one output through at most ``window`` = Kh·Kw inputs, each term
    of magnitude <= ``term_bound`` = max|w|·max|x|; so after g channels every partial sum of
    the int16 accumulator is bounded by g·window·term_bound, and g = ⌊32767 / (window ·
    term_bound)⌋ keeps it exact (binary spikes, 3×3 kernel, |w| <= 127: 28 channels). Only
    for int32 accumulation (int8 or int16 weights), where it measured 15-30 % faster on
    ResNet-18's layers; int64 accumulation means wide inputs, for which g would be 0 or tiny.
    """
    if acc_dtype != np.int32 or term_bound <= 0:
        return 0
    group = _INT16_MAX // (window * term_bound)
    return min(group, num_in) if group >= 1 else 0


def _blas_threads(flops: int) -> contextlib.AbstractContextManager:
    """One BLAS thread for a GEMM below ``_SMALL_GEMM_FLOPS`` (see there), else unchanged."""
    if flops < _SMALL_GEMM_FLOPS:
        return threadpool_limits(1, user_api="blas")
    return contextlib.nullcontext()


def _float_dtype(bound: int) -> type[np.floating] | None:
    """Narrowest float whose GEMM is exact for this bound (see the module docstring), or None."""
    if bound < _FLOAT32_EXACT:
        return np.float32
    if bound < _FLOAT64_EXACT:
        return np.float64
    return None


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def conv2d(
    x: np.ndarray, weight: np.ndarray, stride: int, padding: int, *, method: str = "auto"
) -> np.ndarray:
    """Exact integer 2-D cross-correlation of every step and sample in one call.

    PyTorch ``conv2d`` semantics (zero padding, square stride and padding, no bias), computed
    exactly in integers (DESIGN decisions 2 and 3).

    Parameters
    ----------
    x : np.ndarray
        Integer [S, B, Ci, H, W] inputs (int8, uint8, int16, int32 or int64; bool is read as 0/1),
        e.g. spikes or spike levels of S steps; values may be negative.
    weight : np.ndarray
        int8 or int16 [Co, Ci, Kh, Kw] weights.
    stride : int
        Stride (>= 1) along both spatial axes.
    padding : int
        Zero padding (>= 0) on every spatial border.
    method : {"auto", "dense", "event"}
        Back end: im2col + float GEMM ("dense"), Numba scatter over non-zero inputs ("event"),
        or the faster one at this input density ("auto", see ``EVENT_DENSITY_THRESHOLD``).

    Returns
    -------
    np.ndarray
        [S, B, Co, Ho, Wo] with Ho = (H + 2·padding - Kh) // stride + 1 (Wo alike); int32 if the
        bound max|w|·max|x|·Ci·Kh·Kw fits int32 (max|x| over the inputs the kernel reads), else
        int64.

    Raises
    ------
    ModelError
        Bad dtypes or shapes (e.g. Ci of x differs from weight's), an invalid stride, padding or
        method, or a kernel larger than the padded input.
    OverflowDetected
        The bound exceeds int64, so an exact int64 result cannot be guaranteed.
    """
    function = "conv2d"
    _check_method(method, function)
    x = _as_input(x, 5, "[S, B, Ci, H, W]", function)
    weight = _as_weight(weight, 4, "[Co, Ci, Kh, Kw]", function)
    stride = _as_size(stride, "stride", function, 1)
    padding = _as_size(padding, "padding", function, 0)
    steps, batch, num_in, height, width = x.shape
    num_out, w_in, kernel_h, kernel_w = weight.shape
    if w_in != num_in:
        raise ModelError(
            f"{function}: x has {num_in} input channels (shape {x.shape}) but weight expects "
            f"{w_in} (shape {weight.shape})"
        )
    out_h = _output_size(height, kernel_h, stride, padding)
    out_w = _output_size(width, kernel_w, stride, padding)
    if out_h < 1 or out_w < 1 or kernel_h < 1 or kernel_w < 1:
        raise ModelError(
            f"{function}: kernel {kernel_h}x{kernel_w} does not fit input {height}x{width} "
            f"with padding {padding} (x shape {x.shape}, weight shape {weight.shape})"
        )
    if kernel_h == kernel_w == 1 and stride > 1 and padding == 0:
        # A 1x1 kernel with stride s reads every s-th row and column only (a ResNet
        # downsample): convolve those, at stride 1. The same sums; a quarter of the input.
        x = x[..., ::stride, ::stride]
        stride = 1
        height, width = x.shape[3], x.shape[4]
    fan_in = num_in * kernel_h * kernel_w
    max_abs_x, nnz = _max_abs(x)
    max_abs_w, _ = _max_abs(weight, count=False)
    bound = max_abs_w * max_abs_x * fan_in
    acc_dtype = _accumulator_dtype(
        bound, function, f"max|w| {max_abs_w} · max|x| {max_abs_x} · fan_in {fan_in}"
    )
    num_frames = steps * batch
    out = np.empty((num_frames, num_out, out_h, out_w), acc_dtype)
    if out.size == 0 or nnz == 0:
        out[...] = 0
        return out.reshape(steps, batch, num_out, out_h, out_w)
    frames = x.reshape(num_frames, num_in, height, width)
    float_dtype = _float_dtype(bound)
    if method == "auto":
        dense = float_dtype is not None and nnz > EVENT_DENSITY_THRESHOLD * x.size
        method = "dense" if dense else "event"
    if method == "event":
        x_k, w_k = _event_operands(frames, weight, acc_dtype, max_abs_x)
        weight_t = np.empty((num_in, kernel_h, kernel_w, num_out), w_k.dtype)
        _transpose(w_k.reshape(num_out, fan_in), weight_t.reshape(fan_in, num_out))
        work = x.size + nnz * kernel_h * kernel_w * num_out
        group = _int16_group(max_abs_w * max_abs_x, kernel_h * kernel_w, num_in, acc_dtype)
        _run_threads(_conv_event, num_frames, work, x_k, weight_t, stride, padding, out, group)
    else:
        _conv_dense(frames, weight, stride, padding, out, float_dtype, max_abs_x)
    return out.reshape(steps, batch, num_out, out_h, out_w)


def _conv_dense(
    frames: np.ndarray,
    weight: np.ndarray,
    stride: int,
    padding: int,
    out: np.ndarray,
    float_dtype: type | None,
    max_abs_x: int | None = None,
) -> None:
    """im2col in blocks of frames, one GEMM per block, cast back into out [N, Co, Ho, Wo]."""
    num_frames, num_in = frames.shape[:2]
    num_out, _, kernel_h, kernel_w = weight.shape
    out_h, out_w = out.shape[2], out.shape[3]
    plane = out_h * out_w
    fan_in = num_in * kernel_h * kernel_w
    if float_dtype is None:
        # No float format is exact: integer GEMM in int64 (numpy's non-BLAS loop, exact while
        # the bound fits int64, which the caller checked). Only reached with method="dense".
        block = max(1, min(num_frames, _DENSE_CHUNK_BYTES // max(1, plane * fan_in * 8)))
        w_int = weight.astype(np.int64)
        pad = ((0, 0), (0, 0), (padding, padding), (padding, padding))
        for n0 in range(0, num_frames, block):
            n1 = min(num_frames, n0 + block)
            padded = np.pad(frames[n0:n1].astype(np.int64), pad)
            windows = np.lib.stride_tricks.sliding_window_view(
                padded, (kernel_h, kernel_w), axis=(2, 3)
            )[:, :, ::stride, ::stride][:, :, :out_h, :out_w]
            prod = np.tensordot(windows, w_int, axes=([1, 4, 5], [1, 2, 3]))
            out[n0:n1] = prod.transpose(0, 3, 1, 2)
        return
    itemsize = np.dtype(float_dtype).itemsize
    block = max(1, min(num_frames, _DENSE_CHUNK_BYTES // max(1, plane * fan_in * itemsize)))
    # GEMM columns in (ky, kx, c) order to match the channel-last im2col rows.
    w_mat = np.ascontiguousarray(
        weight.transpose(2, 3, 1, 0).reshape(fan_in, num_out), dtype=float_dtype
    )
    height, width = frames.shape[2:]
    x_pad = np.zeros((block, height + 2 * padding, width + 2 * padding, num_in), float_dtype)
    cols = np.empty((block * plane, fan_in), float_dtype)
    prod = np.empty((block * plane, num_out), float_dtype)
    x_k = _canonical_x(frames, max_abs_x)
    with _blas_threads(2 * num_frames * plane * fan_in * num_out):
        for n0 in range(0, num_frames, block):
            n1 = min(num_frames, n0 + block)
            m = n1 - n0
            work = m * (plane * fan_in + num_in * height * width)
            _run_threads(
                _im2col, m, work, x_k[n0:n1], padding, kernel_h, kernel_w, stride, x_pad, cols
            )
            np.matmul(cols[: m * plane], w_mat, out=prod[: m * plane])
            # Exact: every entry is an integer of magnitude < 2**24 (float32) or 2**53
            # (float64).
            out[n0:n1] = prod[: m * plane].reshape(m, out_h, out_w, num_out).transpose(0, 3, 1, 2)


def linear(x: np.ndarray, weight: np.ndarray, *, method: str = "auto") -> np.ndarray:
    """Exact integer fully-connected sum x @ weight.T of every step and sample in one call.

    Parameters
    ----------
    x : np.ndarray
        Integer [S, B, n_in] inputs (int8, uint8, int16, int32 or int64; bool is read as 0/1).
    weight : np.ndarray
        int8 or int16 [n_out, n_in] weights.
    method : {"auto", "dense", "event"}
        As for ``conv2d``; "auto" compares the density with ``LINEAR_EVENT_DENSITY_THRESHOLD``.

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
    max_abs_w, _ = _max_abs(weight, count=False)
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
    elif float_dtype is None:
        out[...] = np.matmul(frames.astype(np.int64), weight.astype(np.int64).T)
    else:
        itemsize = np.dtype(float_dtype).itemsize
        block = max(1, min(num_frames, _DENSE_CHUNK_BYTES // max(1, num_in * itemsize)))
        # BLAS reads the transposed operand in place; a contiguous cast avoids a transpose copy.
        w_mat = weight.astype(float_dtype)
        with _blas_threads(2 * num_frames * num_in * num_out):
            for n0 in range(0, num_frames, block):
                n1 = min(num_frames, n0 + block)
                out[n0:n1] = np.matmul(frames[n0:n1].astype(float_dtype), w_mat.T)
    return out.reshape(steps, batch, num_out)


def sum_pool2d(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Exact sum over each kernel×kernel window (no padding) of every step and sample.

    Parameters
    ----------
    x : np.ndarray
        Integer [S, B, C, H, W] inputs (int8, uint8, int16, int32 or int64; bool is read as 0/1).
    kernel : int
        Window side (>= 1).
    stride : int
        Window step (>= 1).

    Returns
    -------
    np.ndarray
        [S, B, C, Ho, Wo] with Ho = (H - kernel) // stride + 1, in the narrowest of int8, int16,
        int32 and int64 that holds max|x|·kernel² (every partial sum is bounded by it).

    Raises
    ------
    ModelError
        Bad dtype or shape, or a window larger than the input.
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
    out = np.zeros((*x.shape[:3], out_h, out_w), acc_dtype)
    span_h = (out_h - 1) * stride + 1
    span_w = (out_w - 1) * stride + 1
    # kernel² strided adds; each partial sum is bounded like the result, so acc_dtype is exact.
    for ky in range(kernel):
        for kx in range(kernel):
            np.add(
                out,
                x[..., ky : ky + span_h : stride, kx : kx + span_w : stride],
                out=out,
                casting="unsafe",
            )
    return out


def _axis_fanout(size: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """Number of output positions along one axis whose window covers input position i (int64)."""
    out_size = _output_size(size, kernel, stride, padding)
    position = np.arange(size, dtype=np.int64) + padding
    # Output o covers padded position p iff o·stride <= p <= o·stride + kernel - 1.
    first = np.maximum(0, -((kernel - 1 - position) // stride))
    last = np.minimum(out_size - 1, position // stride)
    return np.maximum(0, last - first + 1)


def _as_counts(values: np.ndarray, ndim: int, layout: str, function: str) -> tuple[np.ndarray, int]:
    """Check non-negative integer counts; return them and their maximum."""
    arr = _as_input(values, ndim, layout, function, name="values")
    lo, hi, _ = _stats(arr, count=False)
    if lo < 0:
        raise ModelError(f"{function}: values must be non-negative, got minimum {lo}")
    return arr, hi


def conv2d_fanout(
    values: np.ndarray, out_channels: int, kernel: int, stride: int, padding: int
) -> np.ndarray:
    """Synaptic ops (ACs) per step of a conv layer: Σ values × fan-out, over batch and positions.

    The fan-out of input element (c, y, x) is the number of (output channel, output position)
    pairs whose receptive field contains it: out_channels · n_y · n_x, where n_y counts the output
    rows o with o·stride <= y + padding <= o·stride + kernel - 1 and 0 <= o < Ho (n_x alike), so
    borders, padding and stride are counted exactly.

    Parameters
    ----------
    values : np.ndarray
        Non-negative integer [S, B, Ci, H, W] (e.g. 1 per non-zero spike, or the spike level).
    out_channels : int
        Co of the layer.
    kernel, stride, padding : int
        Square kernel side, stride and zero padding of the layer.

    Returns
    -------
    np.ndarray
        int64 [S].

    Raises
    ------
    ModelError
        Bad dtype, shape or sizes, or negative values.
    OverflowDetected
        The total could exceed int64.
    """
    function = "conv2d_fanout"
    values, max_value = _as_counts(values, 5, "[S, B, Ci, H, W]", function)
    out_channels = _as_size(out_channels, "out_channels", function, 0)
    kernel = _as_size(kernel, "kernel", function, 1)
    stride = _as_size(stride, "stride", function, 1)
    padding = _as_size(padding, "padding", function, 0)
    _, batch, channels, height, width = values.shape
    if _output_size(height, kernel, stride, padding) < 1 or (
        _output_size(width, kernel, stride, padding) < 1
    ):
        raise ModelError(
            f"{function}: kernel {kernel} does not fit values of shape {values.shape} "
            f"with padding {padding}"
        )
    fan_y = _axis_fanout(height, kernel, stride, padding)
    fan_x = _axis_fanout(width, kernel, stride, padding)
    per_step_max = max_value * batch * channels * int(fan_y.sum()) * int(fan_x.sum())
    if per_step_max * out_channels > _INT64_MAX:
        raise OverflowDetected(
            f"{function}: the per-step total could reach {per_step_max * out_channels}, "
            f"beyond int64"
        )
    # Σ over (b, c) first: at most max_value·B·Ci per position, far inside int64 after the check.
    if values.dtype in (np.uint8, np.int8, np.int16):
        plane = np.zeros((values.shape[0], height, width), np.int64)
        _plane_sums(np.ascontiguousarray(values), plane)
    else:
        plane = values.sum(axis=(1, 2), dtype=np.int64)
    return (plane @ fan_x) @ fan_y * np.int64(out_channels)


def linear_fanout(values: np.ndarray, out_features: int) -> np.ndarray:
    """Synaptic ops (ACs) per step of a linear layer: Σ values × out_features.

    Parameters
    ----------
    values : np.ndarray
        Non-negative integer [S, B, n_in].
    out_features : int
        n_out of the layer.

    Returns
    -------
    np.ndarray
        int64 [S].

    Raises
    ------
    ModelError
        Bad dtype or shape, or negative values.
    OverflowDetected
        The total could exceed int64.
    """
    function = "linear_fanout"
    values, max_value = _as_counts(values, 3, "[S, B, n_in]", function)
    out_features = _as_size(out_features, "out_features", function, 0)
    per_step_max = max_value * values.shape[1] * values.shape[2] * out_features
    if per_step_max > _INT64_MAX:
        raise OverflowDetected(
            f"{function}: the per-step total could reach {per_step_max}, beyond int64"
        )
    return values.sum(axis=(1, 2), dtype=np.int64) * np.int64(out_features)


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
    _channel_axpy(out, np.ascontiguousarray(x), gain, bool(init))
