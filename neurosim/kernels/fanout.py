"""Synaptic op (AC) counts of conv and linear layers: Σ input values × fan-out, per step.

Imports numpy, numba, ``neurosim.errors`` and the sibling ``operands``.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels.operands import (
    _INT64_MAX,
    _as_input,
    _as_size,
    _output_size,
    _run_threads,
    _stats,
)


@numba.njit(cache=True, nogil=True)
def _plane_sums(values, plane, lo, hi):
    """plane[s, b] = Σ_c values[s, b, c] over flattened [H·W] planes, for the frames s·B + b
    in [lo, hi): one contiguous (vectorised) run per channel, summed in ``plane``'s dtype
    (int32 when max value × channels fits it).

    numpy's widening sum over two axes ran ~5x slower on the largest arrays of the pass; rows
    of W values were 3x slower than whole planes on CIFAR's 32-wide maps.
    """
    _, batch, channels, size = values.shape
    for f in range(lo, hi):
        s, b = f // batch, f % batch
        acc = plane[s, b]
        for c in range(channels):
            row = values[s, b, c]
            for i in range(size):
                acc[i] += row[i]


def _axis_fanout(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1
) -> np.ndarray:
    """Number of (output position, kernel tap) pairs along one axis that read input position i
    (int64 [size]); without dilation, the output positions whose window covers i."""
    out_size = _output_size(size, kernel, stride, padding, dilation)
    position = np.arange(size, dtype=np.int64) + padding
    if dilation == 1:
        # Output o covers padded position p iff o·stride <= p <= o·stride + kernel - 1.
        first = np.maximum(0, -((kernel - 1 - position) // stride))
        last = np.minimum(out_size - 1, position // stride)
        return np.maximum(0, last - first + 1)
    # Tap k of output o reads padded position o·stride + k·dilation: count, for each tap k,
    # whether p - k·dilation is such an o·stride with 0 <= o < out_size.
    count = np.zeros(size, np.int64)
    for k in range(kernel):
        start = position - k * dilation
        count += (start >= 0) & (start % stride == 0) & (start // stride < out_size)
    return count


def _as_counts(values: np.ndarray, ndim: int, layout: str, function: str) -> tuple[np.ndarray, int]:
    """Check non-negative integer counts; return them and a bound on their maximum (the
    dtype's largest value for unsigned counts, which need no pass: binary events are uint8)."""
    arr = _as_input(values, ndim, layout, function, name="values")
    if arr.dtype.kind == "u":
        return arr, int(np.iinfo(arr.dtype).max)
    lo, hi, _ = _stats(arr, count=False)
    if lo < 0:
        raise ModelError(f"{function}: values must be non-negative, got minimum {lo}")
    return arr, hi


def conv2d_fanout(
    values: np.ndarray,
    out_channels: int,
    kernel: int | tuple[int, int],
    stride: int,
    padding: int,
    *,
    groups: int = 1,
    dilation: int = 1,
) -> np.ndarray:
    """Synaptic ops (ACs) per step of a conv layer: Σ values × fan-out, over batch and positions.

    The fan-out of input element (c, y, x) is the number of (output channel, output position)
    pairs whose receptive field contains it: (out_channels / groups) · n_y · n_x, where n_y counts
    the pairs of output row o (0 <= o < Ho) and kernel row k (0 <= k < kernel) with
    o·stride + k·dilation = y + padding (n_x alike), so borders, padding, stride, dilation and
    groups are counted exactly. Without dilation, n_y is the number of rows o with
    o·stride <= y + padding <= o·stride + kernel - 1.

    Parameters
    ----------
    values : np.ndarray
        Non-negative integer [S, B, Ci, H, W] (e.g. 1 per non-zero spike, or the spike level).
    out_channels : int
        Co of the layer.
    kernel : int or (int, int)
        Kernel side, or (rows, columns) of a non-square kernel.
    stride, padding : int
        Stride and zero padding of the layer (both axes).
    groups : int
        Channel groups of the layer (>= 1, dividing Ci and out_channels): an input channel
        feeds only the out_channels / groups outputs of its group.
    dilation : int
        Spacing (>= 1) between the kernel taps of the layer.

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
    kh, kw = (kernel, kernel) if isinstance(kernel, int | np.integer) else tuple(kernel)
    kh = _as_size(kh, "kernel", function, 1)
    kw = _as_size(kw, "kernel", function, 1)
    stride = _as_size(stride, "stride", function, 1)
    padding = _as_size(padding, "padding", function, 0)
    groups = _as_size(groups, "groups", function, 1)
    dilation = _as_size(dilation, "dilation", function, 1)
    _, batch, channels, height, width = values.shape
    if channels % groups or out_channels % groups:
        raise ModelError(
            f"{function}: groups {groups} must divide both the {channels} input channels "
            f"(values shape {values.shape}) and the {out_channels} output channels"
        )
    if _output_size(height, kh, stride, padding, dilation) < 1 or (
        _output_size(width, kw, stride, padding, dilation) < 1
    ):
        raise ModelError(
            f"{function}: kernel {kernel} (dilation {dilation}) does not fit values of shape "
            f"{values.shape} with padding {padding}"
        )
    out_per_group = out_channels // groups
    fan_y = _axis_fanout(height, kh, stride, padding, dilation)
    fan_x = _axis_fanout(width, kw, stride, padding, dilation)
    per_step_max = max_value * batch * channels * int(fan_y.sum()) * int(fan_x.sum())
    if per_step_max * out_per_group > _INT64_MAX:
        raise OverflowDetected(
            f"{function}: the per-step total could reach {per_step_max * out_per_group}, "
            f"beyond int64"
        )
    # Σ over (b, c) first: at most max_value·B·Ci per position, far inside int64 after the check.
    if values.dtype in (np.uint8, np.int8, np.int16):
        frames = values.shape[0] * batch
        flat = np.ascontiguousarray(values).reshape(values.shape[0], batch, channels, -1)
        narrow = max_value * channels <= np.iinfo(np.int32).max
        per_frame = np.zeros(
            (values.shape[0], batch, height * width), np.int32 if narrow else np.int64
        )
        _run_threads(_plane_sums, frames, values.size, flat, per_frame)
        plane = per_frame.sum(axis=1, dtype=np.int64).reshape(-1, height, width)
    else:
        plane = values.sum(axis=(1, 2), dtype=np.int64)
    return (plane @ fan_x) @ fan_y * np.int64(out_per_group)


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
