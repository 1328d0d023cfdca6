"""The float reference of a NIR graph: its own discretised semantics in plain numpy float64.

Imports ``frontends.nir_graph`` and ``frontends.reference`` only: it shares nothing with the
integer path (no quantization, no kernels). Layer by layer over all steps at once (the graph is
feed-forward), neurons scanned step by step: J_t = α·J_{t−1} + x_t (CubaLIF) or x_t, v_t =
λ·v_{t−1} + g·J_t + d, z_t = [v_t > θ], reset (``nir_graph`` states the discretisation).
"""

from __future__ import annotations

import numpy as np

from neurosim.frontends.nir_graph import FloatGraph, FloatLayer, FloatNeuron
from neurosim.frontends.reference import ReferenceRun

_CHUNK = 256
"""Frames (step × sample) convolved at once (bounds the float64 temporaries)."""


def _windows(x: np.ndarray, kh: int, kw: int, stride: int, pad: int, dil: int):
    """Yield (i, j, patch) for every kernel tap:
    patch[s, c, ho, wo] = xpad[s, c, ho·stride + i·dil, wo·stride + j·dil]."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    ho = (xp.shape[2] - dil * (kh - 1) - 1) // stride + 1
    wo = (xp.shape[3] - dil * (kw - 1) - 1) // stride + 1
    for i in range(kh):
        for j in range(kw):
            r, c = i * dil, j * dil
            yield (
                i,
                j,
                xp[
                    :,
                    :,
                    r : r + stride * (ho - 1) + 1 : stride,
                    c : c + stride * (wo - 1) + 1 : stride,
                ],
            )


def conv2d(x: np.ndarray, lay: FloatLayer) -> np.ndarray:
    """Cross-correlation with zero padding, stride, dilation and groups (PyTorch semantics):
    [S, Ci, H, W] → [S, Co, Ho, Wo], plus the bias."""
    w = lay.weight
    co, cg, kh, kw = w.shape
    og = co // lay.groups
    out = []
    for start in range(0, x.shape[0], _CHUNK):
        part = x[start : start + _CHUNK]
        acc = None
        for i, j, patch in _windows(part, kh, kw, lay.stride, lay.padding, lay.dilation):
            for g in range(lay.groups):
                tap = np.tensordot(
                    w[g * og : (g + 1) * og, :, i, j],
                    patch[:, g * cg : (g + 1) * cg],
                    axes=([1], [1]),
                )
                if acc is None:
                    acc = np.zeros((co, *tap.shape[1:]))
                acc[g * og : (g + 1) * og] += tap
        out.append(np.moveaxis(acc, 0, 1) + lay.bias.reshape(1, -1, 1, 1))
    return np.concatenate(out)


def pool2d(x: np.ndarray, lay: FloatLayer) -> np.ndarray:
    """Sum over k×k windows (stride s) times 1 (sum pool) or 1/k² (average pool)."""
    acc = None
    for _, _, patch in _windows(x, lay.kernel, lay.kernel, lay.stride, 0, 1):
        acc = patch.copy() if acc is None else acc + patch
    return acc * lay.pool_scale


def scan(current: np.ndarray, neuron: FloatNeuron) -> np.ndarray:
    """Spikes [T, B, N] of the discretised neuron driven by ``current`` [T, B, N]."""
    steps, batch, n = current.shape
    v = np.zeros((batch, n))
    syn = np.zeros((batch, n))
    out = np.zeros((steps, batch, n), np.uint8)
    for t in range(steps):
        x = current[t]
        if neuron.syn_leak is not None:
            syn = neuron.syn_leak * syn + x
            x = syn
        v = neuron.leak * v + neuron.gain * x + neuron.drive
        fired = v > neuron.threshold
        out[t] = fired
        if neuron.reset == "zero":
            v = np.where(fired, 0.0, v)
        elif neuron.reset == "value":
            v = np.where(fired, neuron.v_reset, v)
        else:
            v = v - fired * neuron.threshold
    return out


def simulate(graph: FloatGraph, spikes: np.ndarray) -> ReferenceRun:
    """Run ``graph`` on 0/1 input spikes [batch, T, *input_shape] (batch first)."""
    x = np.asarray(spikes, np.float64)
    batch, steps = x.shape[:2]
    values: dict[str, np.ndarray] = {}
    out_spikes: dict[str, np.ndarray] = {}
    for lay in graph.layers:
        if lay.op == "input":
            values[lay.name] = np.swapaxes(x, 0, 1).reshape(steps * batch, *lay.shape)
            continue
        src = values[lay.input]
        if lay.op == "conv2d":
            val = conv2d(src, lay)
        elif lay.op == "linear":
            val = src @ lay.weight.T + lay.bias
        elif lay.op == "avgpool2d":
            val = pool2d(src, lay)
        else:
            val = src.reshape(src.shape[0], -1)
        if lay.neuron is not None:
            z = scan(val.reshape(steps, batch, -1), lay.neuron)
            out_spikes[lay.name] = z.reshape(steps, batch, *lay.shape)
            val = z.reshape(steps * batch, *lay.shape).astype(np.float64)
        values[lay.name] = val
    last = graph.layers[-1]
    outputs = values[last.name].reshape(steps, batch, -1).sum(axis=0)
    return ReferenceRun(
        spikes=out_spikes,
        outputs=outputs,
        predictions=np.argmax(outputs, axis=1).astype(np.int64),
    )
