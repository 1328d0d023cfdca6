"""Max pooling of a batch run's tensors (whole-sample levels pick the winner of each window).

Imports numpy only; ``functional.batch`` calls it for ``ir.MaxPool2d`` layers.
"""

from __future__ import annotations

import numpy as np


def max_pool(
    const: np.ndarray, x: np.ndarray, form: str, kernel: int, stride: int, padding: int
) -> np.ndarray:
    """Max pooling of [S, B, C, H, W] tensors by whole-sample levels ``const`` [1, B, C, H, W]:
    the const form is the window's largest level; every per-step form ``x`` forwards the
    winner's values (the first position, in raster order, holding that level), so the pooled
    steps sum to the pooled level and op counts follow the winner's spikes."""
    k, s, p = kernel, stride, padding
    pad = ((0, 0), (0, 0), (0, 0), (p, p), (p, p))

    def windows(a: np.ndarray) -> np.ndarray:
        w = np.lib.stride_tricks.sliding_window_view(np.pad(a, pad), (k, k), axis=(3, 4))
        w = w[:, :, :, ::s, ::s]
        return w.reshape(*w.shape[:5], k * k)

    wc = windows(const)
    if form == "const":
        return wc.max(axis=-1)
    win = np.argmax(wc, axis=-1)[..., None]
    return np.take_along_axis(windows(x), np.broadcast_to(win, (x.shape[0], *win.shape[1:])), -1)[
        ..., 0
    ]
