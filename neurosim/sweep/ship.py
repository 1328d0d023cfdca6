"""What a sweep sends its worker processes: the functional results with the networks' weights
left out, since a point's mapping, timing and energy read only their shapes.

Imports ``experiment`` and ``ir``. VGG-16's weights were 15 MB of the 20 MB each worker was sent;
pickling them held the parent's GIL for tens of milliseconds just as it started costing points.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurosim import experiment, ir


class _Shape(np.ndarray):
    """A zero-stride array of zeros that pickles as its dtype and shape alone."""

    def __reduce__(self):
        return (_zeros, (self.dtype.str, self.shape))


def _zeros(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Read-only zeros of ``shape`` in one element: the stand-in for weights never read."""
    return np.broadcast_to(np.zeros((), np.dtype(dtype)), shape)


def _shape_only(net: ir.Network | None) -> ir.Network | None:
    """``net`` with each synaptic layer's weights replaced by zeros of their shape and dtype
    that pickle in a few bytes (``_Shape``); everything else as it was."""
    if net is None:
        return None
    layers = [
        dataclasses.replace(lay, weight=_zeros(lay.weight.dtype.str, lay.weight.shape).view(_Shape))
        if isinstance(lay, ir.Conv2d | ir.Linear)
        else lay
        for lay in net.layers
    ]
    return dataclasses.replace(net, layers=layers)


def for_workers(fn: experiment.FunctionalResult | str) -> experiment.FunctionalResult | str:
    """The functional result a worker process costs points on: its quantized ANN and SNN
    without weight values (an error message stays as it is)."""
    if isinstance(fn, str):
        return fn
    return dataclasses.replace(fn, ann=_shape_only(fn.ann), snn=_shape_only(fn.snn))
