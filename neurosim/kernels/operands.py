"""Operand checks, statistics, dtype choice and threading shared by the synaptic kernels.

Imports numpy, numba and ``neurosim.errors`` only. Everything here is private to
``neurosim.kernels``; the public names live in ``synapse``.
"""

from __future__ import annotations

import itertools
import threading

import numba
import numpy as np

from neurosim.errors import ModelError, OverflowDetected

METHODS = ("auto", "dense", "event")
"""Values accepted by the keyword-only ``method`` argument of ``conv2d`` and ``linear``."""

_INT16_MAX = (1 << 15) - 1
_INT32_MAX = (1 << 31) - 1
_INT64_MAX = (1 << 63) - 1

_PARALLEL_MIN_WORK = 1_000_000
"""Operations (about 0.3 ms on one core) below which a call stays on the calling thread:
starting a thread costs 30-100 µs (measured on 2 cores)."""

_CHUNKS_PER_THREAD = 8
"""Chunks per thread of a split call: threads take the next chunk when they finish one, so a
slower core (or one another process holds) does less and neither waits at the end."""

_X_DTYPES = (np.int8, np.uint8, np.int16, np.int32, np.int64)
_W_DTYPES = (np.int8, np.int16)


# The jitted cores of every module are serial, release the GIL and take a range of items
# [lo, hi); ``_run_threads`` hands chunks of the items to the calling thread and
# numba.get_num_threads() - 1 others. Python threads instead of ``prange``: one threading
# mechanism for every kernel (OpenMP workers spinning after a parallel region held a core the
# next call's threads needed), compile times of 1-3 s rather than 4-6 s, and chunks taken
# dynamically. Every item's result depends on that item only, so the split never changes a
# bit (tests run each kernel on 1 and 2 threads).


@numba.njit(cache=True, nogil=True)
def _flat_stats(flat, size, result, lo, hi):
    """result[c] = (min, max, non-zero count) of flat[c·size : (c+1)·size], min/max counting 0,
    for the chunks c in [lo, hi)."""
    for c in range(lo, hi):
        low = np.int64(0)
        high = np.int64(0)
        nnz = np.int64(0)
        for i in range(c * size, min(flat.shape[0], (c + 1) * size)):
            v = np.int64(flat[i])
            low = min(low, v)
            high = max(high, v)
            nnz += v != 0
        result[c, 0] = low
        result[c, 1] = high
        result[c, 2] = nnz


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


def _run_threads(kernel, num_items: int, work: int, *args, max_chunk: int = 0) -> None:
    """Call kernel(*args, lo, hi) over the items [0, num_items) on up to
    numba.get_num_threads() threads, the calling one included.

    The items are cut into about ``_CHUNKS_PER_THREAD`` chunks per thread (at most
    ``max_chunk`` items each, if given) that the threads take in turn as they finish. ``work``
    estimates the elementary operations: below ``_PARALLEL_MIN_WORK`` the calling thread does
    everything (in chunks of at most ``max_chunk``). An exception in any thread is raised here.
    """
    num_threads = max(1, min(numba.get_num_threads(), num_items))
    if num_threads == 1 or work < _PARALLEL_MIN_WORK:
        num_threads = 1
        chunks = 1
    else:
        chunks = min(num_items, num_threads * _CHUNKS_PER_THREAD)
    if max_chunk > 0:
        chunks = max(chunks, -(-num_items // max_chunk))
    if chunks <= 1:
        if num_items > 0:
            kernel(*args, 0, num_items)
        return
    bounds = [num_items * i // chunks for i in range(chunks + 1)]
    taken = itertools.count()  # next() is atomic under the GIL
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for i in taken:
                if i >= chunks or errors:
                    return
                kernel(*args, bounds[i], bounds[i + 1])
        except BaseException as exc:  # re-raised by the calling thread
            errors.append(exc)

    helpers = [threading.Thread(target=worker, daemon=True) for _ in range(num_threads - 1)]
    for thread in helpers:
        thread.start()
    worker()
    for thread in helpers:
        thread.join()
    if errors:
        raise errors[0]


def _stats(arr: np.ndarray, *, count: bool = True) -> tuple[int, int, int]:
    """Return (min(0, min), max(0, max), non-zero count or 0) of an integer array.

    Split over threads in chunks of 1 Mi values: numpy's SIMD reductions on values of up to 4
    bytes (3x faster than a fused compiled pass there), one fused pass on int64 (2-4x
    faster than numpy's three).
    """
    flat = arr.reshape(-1)
    if flat.size == 0:
        return 0, 0, 0
    if flat.dtype == np.bool_:
        flat = flat.view(np.uint8)
    flat = np.ascontiguousarray(flat)
    size = 1 << 20
    chunks = -(-flat.size // size)
    result = np.zeros((chunks, 3), np.int64)
    if flat.dtype.itemsize <= 4 or not count:

        def narrow(lo: int, hi: int) -> None:
            for c in range(lo, hi):
                part = flat[c * size : (c + 1) * size]
                result[c] = (part.min(), part.max(), np.count_nonzero(part) if count else 0)

        _run_threads(narrow, chunks, flat.size, max_chunk=1)
    else:
        _run_threads(_flat_stats, chunks, flat.size, flat, size, result)
    return (
        min(0, int(result[:, 0].min())),
        max(0, int(result[:, 1].max())),
        int(result[:, 2].sum()),
    )


def _max_abs(arr: np.ndarray, *, count: bool = True) -> tuple[int, int]:
    """Return (max |value|, non-zero count or 0) of an integer array."""
    lo, hi, nnz = _stats(arr, count=count)
    return max(-lo, hi), nnz


def max_abs(arr: np.ndarray) -> int:
    """max |value| of an integer array (0 if empty): the ``weight_max`` that ``conv2d`` and
    ``linear`` accept, measured as they measure it when it is not given."""
    return _max_abs(arr, count=False)[0]


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
