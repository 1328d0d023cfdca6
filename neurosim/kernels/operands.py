"""Operand checks, statistics, dtype choice and threading shared by the synaptic kernels.

Imports numpy, numba and ``neurosim.errors`` only. Everything here is private to
``neurosim.kernels``; the public names live in ``synapse``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from neurosim.errors import ModelError, OverflowDetected

METHODS = ("auto", "dense", "event")
"""Values accepted by the keyword-only ``method`` argument of ``conv2d`` and ``linear``."""

_INT16_MAX = (1 << 15) - 1
_INT32_MAX = (1 << 31) - 1
_INT64_MAX = (1 << 63) - 1

_PARALLEL_MIN_WORK = 4_000_000
"""Operations (about 1 ms on one core) below which a call stays on one thread: starting a pool
of two threads costs 0.3-2 ms (measured; a 512 -> 512 linear layer ran 2x slower threaded)."""

_X_DTYPES = (np.int8, np.uint8, np.int16, np.int32, np.int64)
_W_DTYPES = (np.int8, np.int16)


# The jitted cores of every module are serial and release the GIL; ``_run_threads`` splits the
# frames over the numba thread count (numba.get_num_threads()). Python threads instead of
# ``prange`` keep the compile time of each specialisation at 1-3 s rather than 4-6 s, and run as
# fast (measured).


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


def _output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output positions along one axis: the kernel spans dilation·(kernel - 1) + 1 inputs."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


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
