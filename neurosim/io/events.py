"""Event streams to spike frames: bin (t, x, y, p) events into the [T, N, C, H, W] rasters that
inputs files hold (array ``spikes``).

Imports numpy, ``errors`` and ``_files``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neurosim._files import atomic_write
from neurosim.errors import ModelError


def bin_events(
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    *,
    sensor_size: tuple[int, int],
    num_steps: int | None = None,
    bin_width: float | None = None,
    t_start: float = 0.0,
    channels: int = 2,
) -> np.ndarray:
    """0/1 frames [T, channels, H, W] of one event stream (N-MNIST, DVS).

    Event k lands in step ⌊(t_k − t_start) / bin_width⌋, channel p_k (polarity 0/1; −1 is read
    as 0), row y_k, column x_k; several events of one pixel and channel in one step make one
    spike. Give ``bin_width`` (in the unit of ``t``, e.g. 1000 µs for 1 ms bins as the NIR
    paper's N-MNIST frames) and optionally ``num_steps`` (later events are dropped, missing
    steps are empty), or only ``num_steps`` (the bins then split [t_start, max t] evenly).
    ``sensor_size`` is (W, H) as event cameras state it (N-MNIST: (34, 34)).
    """
    t = np.asarray(t, np.float64)
    x, y, p = (np.asarray(a, np.int64) for a in (x, y, p))
    if not (t.shape == x.shape == y.shape == p.shape) or t.ndim != 1:
        raise ModelError(
            f"events: t, x, y, p must be 1-D of one length, got {[a.shape for a in (t, x, y, p)]}"
        )
    width, height = (int(v) for v in sensor_size)
    if num_steps is None and bin_width is None:
        raise ModelError("events: give bin_width, num_steps or both")
    if bin_width is None:
        span = float(t.max(initial=t_start)) - t_start
        bin_width = span / num_steps if span > 0 else 1.0
        bin_width = np.nextafter(bin_width, np.inf)  # the last event falls in the last bin
    if not bin_width > 0:
        raise ModelError(f"events: bin_width must be > 0, got {bin_width}")
    step = np.floor((t - t_start) / bin_width).astype(np.int64)
    if num_steps is None:
        num_steps = int(step.max(initial=-1)) + 1 if step.size else 1
    pol = np.where(p < 0, 0, p)
    bad = (x < 0) | (x >= width) | (y < 0) | (y >= height) | (pol >= channels)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ModelError(
            f"events: event {k} (x={x[k]}, y={y[k]}, p={p[k]}) lies outside the sensor "
            f"{width}x{height} with {channels} channels"
        )
    keep = (step >= 0) & (step < num_steps)
    frames = np.zeros((num_steps, channels, height, width), np.uint8)
    frames[step[keep], pol[keep], y[keep], x[keep]] = 1
    return frames


def save_spike_inputs(
    path: str | os.PathLike, spikes: np.ndarray | Sequence[np.ndarray], labels=None
) -> Path:
    """Write an inputs file with ``spikes`` [T, N, *shape] (or a list of per-sample [T, *shape]
    frames of one T) and optional ``labels`` [N]; returns the path."""
    if not isinstance(spikes, np.ndarray):
        spikes = np.stack([np.asarray(s) for s in spikes], axis=1)
    spikes = np.asarray(spikes)
    if spikes.size and (spikes.min() < 0 or spikes.max() > 1):
        raise ModelError("spikes must be 0 or 1")
    arrays = {"spikes": spikes.astype(np.uint8)}
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (spikes.shape[1],):
            raise ModelError(f"labels must be [{spikes.shape[1]}], got {labels.shape}")
        arrays["labels"] = labels
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write(Path(path), buf.getvalue())


__all__ = ["bin_events", "save_spike_inputs"]
