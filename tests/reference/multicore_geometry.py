"""Plain-numpy truth for ``neurosim.mapping.multicore_geometry``: one shifted slice per kernel
tap over a zero-padded one-hot map of the output chunks; slow on purpose.
"""

from __future__ import annotations

import numpy as np


def conv_fanout(in_hw, out_hw, kernel, stride, padding, chunk_bounds, dilation=1) -> np.ndarray:
    """int64 [chunks, H_in·W_in]: output positions of each chunk that read each input."""
    h_in, w_in = in_hw
    h_out, w_out = out_hw
    kh, kw = kernel
    chunks = len(chunk_bounds) - 1
    pos = np.arange(h_out * w_out)
    owner = np.searchsorted(chunk_bounds, pos, side="right") - 1
    onehot = np.zeros((chunks, h_out, w_out), dtype=np.int64)
    onehot[owner, pos // w_out, pos % w_out] = 1
    out = np.zeros((chunks, h_in + 2 * padding, w_in + 2 * padding), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            dy, dx = ky * dilation, kx * dilation
            out[
                :,
                dy : dy + (h_out - 1) * stride + 1 : stride,
                dx : dx + (w_out - 1) * stride + 1 : stride,
            ] += onehot
    return out[:, padding : padding + h_in, padding : padding + w_in].reshape(chunks, -1)


def random_conv_geometry(rng: np.random.Generator) -> tuple[int, ...] | None:
    """(kh, kw, stride, dilation, padding, h, w, ho, wo) of a random small conv (kernel,
    stride and dilation 1..3, padding 0..2, input 1..9 per side), or None if it has no output."""
    kh, kw, stride, dilation = (int(v) for v in rng.integers(1, 4, size=4))
    padding = int(rng.integers(0, 3))
    h, w = (int(v) for v in rng.integers(1, 10, size=2))
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    if ho < 1 or wo < 1:
        return None
    return kh, kw, stride, dilation, padding, h, w, ho, wo
