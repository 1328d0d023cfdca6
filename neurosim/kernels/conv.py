"""Public ``conv2d``: checks, the exactness bound and the choice between the dense and event
back ends.

Imports numpy, numba, ``neurosim.errors`` and the sibling kernel modules.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.errors import ModelError
from neurosim.kernels import operands
from neurosim.kernels.conv_event import (
    _conv_event,
    _event_band_rows,
    _event_split,
    _int16_block,
)
from neurosim.kernels.gemm import _conv_dense, _float_dtype
from neurosim.kernels.operands import (
    _accumulator_dtype,
    _as_input,
    _as_size,
    _as_weight,
    _check_method,
    _event_operands,
    _max_abs,
    _output_size,
    _run_threads,
    _transpose,
)

EVENT_DENSITY_THRESHOLD = 0.5
"""Largest fraction of non-zero inputs for which ``conv2d(method="auto")`` takes the event path.

Measured with ``python scripts/bench_synapse.py --sweep`` (2 AMD EPYC Zen 3 cores, float32 GEMM
about 150 GFLOP/s, numpy's OpenBLAS): over the 13 VGG-16 CIFAR conv layers (S = 4, B = 32,
random binary int8/int64 inputs, int8 weights) the event path's total time grows with density
and meets the dense path's (flat, 0.55-0.6x the GEMM rate) at 56-60 % non-zero inputs; at 15 %
the event path is 2.3-2.7x faster (1.4-1.6x the GEMM rate). The constant sits below that
crossover because spike values other than ±1 cost the event path a multiply. Grouped and
dilated convs use the same rule, not re-tuned: on 64 -> 64 channel 32×32 layers (S·B = 128)
the event path won at 15, 50 and 100 % density with groups 4 or 64, whereas the dense path won
at 50 and 100 % with groups 4, dilation 2 and stride 2.
"""

EVENT_FAN_IN = 27
"""Largest fan-in (Ci/groups · Kh · Kw) for which ``conv2d(method="auto")`` takes the event path
at any density: a GEMM this narrow spends its time on im2col, not on multiplying. Measured on
3 x 3 convs over 3 input channels (an RGB input layer; one thread): binary inputs at 50 % and
100 % density 2.1-3.5x faster than dense on 224 x 224 and 112 x 112 planes, 1.5-1.8x on
32 x 32; input codes 0..255 at 224 x 224 2x faster. At 8 and 16 input channels the dense
path won at full density, so the rule stops at 27.
"""


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    stride: int,
    padding: int,
    *,
    groups: int = 1,
    dilation: int = 1,
    method: str = "auto",
    stats: tuple[int, int] | None = None,
    weight_max: int | None = None,
) -> np.ndarray:
    """Exact integer 2-D cross-correlation of every step and sample in one call.

    PyTorch ``conv2d`` semantics (zero padding, square stride, padding and dilation, grouped
    channels, no bias), computed exactly in integers (DESIGN decisions 2 and 3):
    out[o, i, j] = Σ_{c, u, v} w[o, c, u, v] · xpad[g·Ci/groups + c, i·stride + u·dilation,
    j·stride + v·dilation], with g = o // (Co/groups) the group of output channel o.

    Parameters
    ----------
    x : np.ndarray
        Integer [S, B, Ci, H, W] inputs (int8, uint8, int16, int32 or int64; bool is read as 0/1),
        e.g. spikes or spike levels of S steps; values may be negative.
    weight : np.ndarray
        int8 or int16 [Co, Ci/groups, Kh, Kw] weights.
    stride : int
        Stride (>= 1) along both spatial axes.
    padding : int
        Zero padding (>= 0) on every spatial border.
    groups : int
        Channel groups (>= 1, dividing Ci and Co): output channel o reads only the Ci/groups
        input channels of its group. groups = Ci is a depthwise conv.
    dilation : int
        Spacing (>= 1) between kernel taps along both spatial axes.
    method : {"auto", "dense", "event"}
        Back end: im2col + float GEMM ("dense"), Numba scatter over non-zero inputs ("event"),
        or the faster one at this input density ("auto", see ``EVENT_DENSITY_THRESHOLD``; a
        fan-in of at most ``EVENT_FAN_IN`` always takes the event path).
    stats : (int, int), optional
        (max |x|, number of non-zero x) when the caller already knows them (e.g. binary spikes
        it has counted): saves the pass that measures them. They must be exact — the bound and
        the accumulator depend on them. (A strided 1×1 conv, which reads a subset of x,
        measures its own.)
    weight_max : int, optional
        max |weight| when the caller already knows it (e.g. from an earlier call on the same
        weights): saves a pass over the weights. It must be exact, like ``stats``.

    Returns
    -------
    np.ndarray
        [S, B, Co, Ho, Wo] with Ho = (H + 2·padding - dilation·(Kh - 1) - 1) // stride + 1 (Wo
        alike); int32 if the bound max|w|·max|x|·(Ci/groups)·Kh·Kw fits int32 (max|x| over the
        inputs the kernel reads), else int64.

    Raises
    ------
    ModelError
        Bad dtypes or shapes (e.g. Ci of x differs from weight's times groups), an invalid
        stride, padding, groups, dilation or method, or a kernel larger than the padded input.
    OverflowDetected
        The bound exceeds int64, so an exact int64 result cannot be guaranteed.
    """
    function = "conv2d"
    _check_method(method, function)
    x = _as_input(x, 5, "[S, B, Ci, H, W]", function)
    weight = _as_weight(weight, 4, "[Co, Ci/groups, Kh, Kw]", function)
    stride = _as_size(stride, "stride", function, 1)
    padding = _as_size(padding, "padding", function, 0)
    groups = _as_size(groups, "groups", function, 1)
    dilation = _as_size(dilation, "dilation", function, 1)
    steps, batch, num_in, height, width = x.shape
    num_out, w_in, kernel_h, kernel_w = weight.shape
    if num_in % groups or num_out % groups:
        raise ModelError(
            f"{function}: groups {groups} must divide both the {num_in} input channels "
            f"(x shape {x.shape}) and the {num_out} output channels (weight shape "
            f"{weight.shape})"
        )
    if w_in * groups != num_in:
        per_group = "" if groups == 1 else f" x groups {groups} = {w_in * groups}"
        raise ModelError(
            f"{function}: x has {num_in} input channels (shape {x.shape}) but weight expects "
            f"{w_in}{per_group} (shape {weight.shape})"
        )
    out_h = _output_size(height, kernel_h, stride, padding, dilation)
    out_w = _output_size(width, kernel_w, stride, padding, dilation)
    if out_h < 1 or out_w < 1 or kernel_h < 1 or kernel_w < 1:
        raise ModelError(
            f"{function}: kernel {kernel_h}x{kernel_w} (dilation {dilation}) does not fit input "
            f"{height}x{width} with padding {padding} (x shape {x.shape}, weight shape "
            f"{weight.shape})"
        )
    if kernel_h == kernel_w == 1:
        dilation = 1  # one tap: nothing to space out
        if stride > 1 and padding == 0:
            # A 1x1 kernel with stride s reads every s-th row and column only (a ResNet
            # downsample): convolve those, at stride 1. The same sums; a quarter of the input.
            x = x[..., ::stride, ::stride]
            stride = 1
            height, width = x.shape[3], x.shape[4]
            stats = None  # the caller's count is of every input, not of the ones read
    fan_in = w_in * kernel_h * kernel_w
    max_abs_x, nnz = _max_abs(x) if stats is None else (int(stats[0]), int(stats[1]))
    max_abs_w = _max_abs(weight, count=False)[0] if weight_max is None else int(weight_max)
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
        dense = (
            float_dtype is not None
            and nnz > EVENT_DENSITY_THRESHOLD * x.size
            and fan_in > EVENT_FAN_IN
        )
        method = "dense" if dense else "event"
    if method == "event":
        x_k, w_k = _event_operands(frames, weight, acc_dtype, max_abs_x)
        out_per_group = num_out // groups
        # weight_t[g·Cg + c, ky, kx, o] = weight[g·Co/groups + o, c, ky, kx]: one transpose
        # per group.
        weight_t = np.empty((num_in, kernel_h, kernel_w, out_per_group), w_k.dtype)
        for g in range(groups):
            _transpose(
                w_k[g * out_per_group : (g + 1) * out_per_group].reshape(out_per_group, fan_in),
                weight_t[g * w_in : (g + 1) * w_in].reshape(fan_in, out_per_group),
            )
        work = x.size + nnz * kernel_h * kernel_w * out_per_group
        flush = _int16_block(weight_t, max_abs_w, max_abs_x, acc_dtype, out.size)
        band = _event_band_rows(out_h, out_w, num_out, flush)
        threads = numba.get_num_threads() if work >= operands._PARALLEL_MIN_WORK else 1
        band, parts = _event_split(num_frames, out_h, band, threads)
        _run_threads(
            _conv_event,
            num_frames * parts,
            work,
            x_k,
            weight_t,
            stride,
            padding,
            dilation,
            out,
            flush,
            band,
            parts,
        )
    else:
        _conv_dense(frames, weight, stride, padding, dilation, out, float_dtype, max_abs_x)
    return out.reshape(steps, batch, num_out, out_h, out_w)
