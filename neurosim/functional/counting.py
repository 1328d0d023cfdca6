"""Synaptic op counts of a batch run's layers (ACs = incoming non-zero spikes × fan-out).

Imports ``ir``, ``kernels`` and ``functional.context`` (the ``BatchRun`` it reads);
``functional.batch`` calls ``count_synaptic`` before a layer's neurons run.
"""

from __future__ import annotations

import numpy as np

from neurosim import ir
from neurosim.functional.context import BatchRun
from neurosim.kernels import conv2d_fanout, linear_fanout


def _pad_add(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    """Sum of two per-step count arrays of possibly different lengths."""
    if a is None:
        return b.astype(np.int64)
    n = max(len(a), len(b))
    out = np.zeros(n, np.int64)
    out[: len(a)] += a
    out[: len(b)] += b
    return out


def count_synaptic(run: BatchRun, lay: ir.Layer) -> None:
    """Synaptic ops of ``lay`` from its inputs' spikes (ACs = non-zero spikes × fan-out)."""
    ops = run.ops[lay.name]
    if isinstance(lay, ir.Conv2d | ir.Linear):
        src = lay.inputs[0]
        events = run.value(src, "events")
        shape_out = run.net.shapes[lay.name]
        if events is None:
            fan_in = int(np.prod(lay.weight.shape[1:]))
            ops["first_layer_macs"] = np.array(
                [int(np.prod(shape_out)) * fan_in * run.batch], np.int64
            )
            return
        mags = run.value(src, "magnitude")
        if isinstance(lay, ir.Conv2d):
            kernel = (int(lay.weight.shape[2]), int(lay.weight.shape[3]))
            geometry = (lay.out_channels, kernel, lay.stride, lay.padding)
            shape = {"groups": lay.groups, "dilation": lay.dilation}
            ops["synaptic_ops"] = conv2d_fanout(events, *geometry, **shape)
            ops["synaptic_ac_equiv"] = (
                ops["synaptic_ops"] if mags is events else conv2d_fanout(mags, *geometry, **shape)
            )
        else:
            ops["synaptic_ops"] = linear_fanout(events, lay.out_channels)
            ops["synaptic_ac_equiv"] = (
                ops["synaptic_ops"] if mags is events else linear_fanout(mags, lay.out_channels)
            )
    elif isinstance(lay, ir.Add):
        syn, equiv = None, None
        for src in lay.inputs:
            src_lay = run.net.layer(src)
            if isinstance(src_lay, ir.Conv2d | ir.Linear) and not ir.is_spiking(src_lay):
                # A residual branch's conv without activation: its ACs are its own.
                count_synaptic(run, src_lay)
                continue
            ev = run.value(src, "events")
            if ev is None:
                continue
            # One accumulation per event: a spike is 1, a pooled input (an ImageNet
            # ResNet's skip through the stem's pooling) the spikes of its window.
            step_ops = ev.reshape(ev.shape[0], -1).sum(axis=1, dtype=np.int64)
            syn = _pad_add(syn, step_ops)
            mg = run.value(src, "magnitude")
            equiv = _pad_add(
                equiv,
                step_ops if mg is ev else mg.reshape(mg.shape[0], -1).sum(axis=1, dtype=np.int64),
            )
        if syn is not None:
            ops["synaptic_ops"], ops["synaptic_ac_equiv"] = syn, equiv
