"""Plain-numpy truth for ``neurosim.kernels.synapse``: direct loops and int64 einsum, no BLAS.

Written from the definitions (PyTorch conv2d semantics), not from the kernels; slow on purpose.
"""

from __future__ import annotations

import numpy as np


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    stride: int,
    padding: int,
    groups: int = 1,
    dilation: int = 1,
) -> np.ndarray:
    """out[s, b, o, i, j] = Σ_{c, u, v} w[o, c, u, v] · xpad[s, b, g·Cg + c, i·stride + u·dilation,
    j·stride + v·dilation], with Cg = Ci / groups and g = o // (Co / groups) (PyTorch/ONNX)."""
    x = np.asarray(x).astype(np.int64)
    w = np.asarray(weight).astype(np.int64)
    steps, batch, channels, height, width = x.shape
    num_out, in_per_group, kernel_h, kernel_w = w.shape
    out_per_group = num_out // groups
    xpad = np.zeros((steps, batch, channels, height + 2 * padding, width + 2 * padding), np.int64)
    xpad[:, :, :, padding : padding + height, padding : padding + width] = x
    span_h = dilation * (kernel_h - 1) + 1
    span_w = dilation * (kernel_w - 1) + 1
    out_h = (height + 2 * padding - span_h) // stride + 1
    out_w = (width + 2 * padding - span_w) // stride + 1
    out = np.zeros((steps, batch, num_out, out_h, out_w), np.int64)
    for i in range(out_h):
        for j in range(out_w):
            patch = xpad[
                :,
                :,
                :,
                i * stride : i * stride + span_h : dilation,
                j * stride : j * stride + span_w : dilation,
            ]
            for g in range(groups):
                outs = slice(g * out_per_group, (g + 1) * out_per_group)
                ins = slice(g * in_per_group, (g + 1) * in_per_group)
                out[:, :, outs, i, j] = np.einsum("sbcuv,ocuv->sbo", patch[:, :, ins], w[outs])
    return out


def linear(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """out[s, b, o] = Σ_i w[o, i] · x[s, b, i]."""
    return np.einsum(
        "sbi,oi->sbo", np.asarray(x).astype(np.int64), np.asarray(weight).astype(np.int64)
    )


def sum_pool2d(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """out[..., i, j] = Σ x[..., i·stride : i·stride + kernel, j·stride : j·stride + kernel]."""
    x = np.asarray(x).astype(np.int64)
    height, width = x.shape[-2:]
    out_h = (height - kernel) // stride + 1
    out_w = (width - kernel) // stride + 1
    out = np.zeros((*x.shape[:-2], out_h, out_w), np.int64)
    for i in range(out_h):
        for j in range(out_w):
            window = x[..., i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            out[..., i, j] = window.sum(axis=(-2, -1))
    return out


def conv2d_fanout(
    values: np.ndarray,
    out_channels: int,
    kernel: int,
    stride: int,
    padding: int,
    groups: int = 1,
    dilation: int = 1,
) -> np.ndarray:
    """Σ values × fan-out per step, the fan-out counted by brute force over receptive fields.

    For every output position and every kernel tap, the input element it reads (if it is not
    padding) gains one membership; each membership stands for the ``out_channels / groups``
    synapses from that input channel to the output channels of its group.
    """
    values = np.asarray(values).astype(np.int64)
    height, width = values.shape[-2:]
    span = dilation * (kernel - 1) + 1
    out_h = (height + 2 * padding - span) // stride + 1
    out_w = (width + 2 * padding - span) // stride + 1
    members = np.zeros((height, width), np.int64)
    for i in range(out_h):
        for j in range(out_w):
            for u in range(kernel):
                for v in range(kernel):
                    y = i * stride + u * dilation - padding
                    x = j * stride + v * dilation - padding
                    if 0 <= y < height and 0 <= x < width:
                        members[y, x] += 1
    per_member = out_channels // groups
    totals = [int((values[s] * members).sum()) * per_member for s in range(values.shape[0])]
    return np.array(totals, np.int64)


def linear_fanout(values: np.ndarray, out_features: int) -> np.ndarray:
    """Σ values × out_features per step."""
    values = np.asarray(values).astype(np.int64)
    return np.array([int(v.sum()) * out_features for v in values], np.int64)
