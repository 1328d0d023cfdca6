"""One functional pass for two schemes that fire alike: a scheme names the network of another
scheme it fires spike for spike like (``Scheme.spikes_like``, e.g. a ``lif`` conversion at its
defaults is the ``if`` one); the trace of that network, relabelled, is this one's.

Imports ``ir``, ``schemes``, ``trace`` and the sibling ``batch`` (how a trace is labelled).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurosim import ir, schemes
from neurosim.functional.batch import layer_family, trace_meta
from neurosim.trace import Trace


def same_spikes(source: ir.Network, target: ir.Network) -> bool:
    """Whether ``target`` fires as ``source`` on every input: its scheme's ``spikes_like``
    network has ``source``'s scheme, input encoding and layers (every field equal, arrays by
    value), so ``source``'s trace relabelled (``carry_trace``) is ``target``'s. A trace is
    never carried into a network of the scheme that owns the dynamics: ``source`` is it."""
    if source.kind != "snn" or target.kind != "snn" or source.scheme == target.scheme:
        return False
    like = schemes.get(target.scheme).spikes_like(target)
    if like is None or like.scheme != source.scheme:
        return False
    if schemes.input_encoding(like) != schemes.input_encoding(source):
        return False
    if len(like.layers) != len(source.layers):
        return False
    return all(_equal(a, b) for a, b in zip(like.layers, source.layers, strict=True))


def carry_trace(trace: Trace, target: ir.Network) -> Trace:
    """``trace`` (of a network ``target`` fires like, ``same_spikes``) as ``functional.run``
    labels a trace of ``target``: its name, scheme, neuron families and meta."""
    layers = []
    for lt, lay in zip(trace.layers, target.layers, strict=True):
        family, _ = layer_family(target, lay)
        layers.append(dataclasses.replace(lt, family=family))
    return dataclasses.replace(
        trace,
        network=target.name,
        scheme=target.scheme,
        layers=tuple(layers),
        meta=trace_meta(target),
    )


def _equal(a: object, b: object) -> bool:
    """Field-by-field equality of layers and neuron specs (arrays by dtype, shape and value)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(
            _equal(getattr(a, f.name), getattr(b, f.name))
            for f in dataclasses.fields(a)
            if f.compare
        )
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b
