"""The bounds a model must keep, in one place: stated in docs/formats.md ("Errors and limits")
and checked when a network is built or loaded, before anything is allocated.

A leaf module (imports only numpy and ``neurosim.errors``); ``neurosim.ir`` re-exports the
constants.
"""

from __future__ import annotations

import math

import numpy as np

from neurosim.errors import ModelError

MAX_LEVELS = 2**16
"""Largest input code range and quantized-activation level count Q (``Input.levels``,
``ActQuant.levels``): 16-bit codes. A model beyond it is refused at load."""

MAX_TIME_STEPS = 4096
"""Most time-steps (output slots) one spiking layer may run per sample (``NeuronSpec
.num_steps``, e.g. T, T^l = Q^l, Tc + Ts, T·L): spike tensors grow with it."""

MAX_LAYER_NEURONS = 2**28
"""Most values one layer's output may hold per sample (C·H·W): a file whose geometry
(padding, dilation, shape) declares more is refused before anything is allocated."""

MIN_SCALE, MAX_SCALE = 1e-30, 1e30
"""Range of a real scale (``Input.scale``, ``weight_scale``, ``ActQuant.clip``): far beyond any
trained model, near enough to 1 that products of a few of them stay in the float range."""

MAX_REAL = 1e30
"""Largest magnitude of a real-valued parameter (an ANN bias, ``out_scale``)."""

WEIGHT_DTYPES = (np.int8, np.int16)
"""Integer weights the kernels take (int8, or int16 after subtracting a zero point)."""

MAX_FILE_INT = 2**62
"""Largest magnitude of an integer field in a model file (each field has its own range too)."""


def check_numbers(arr: np.ndarray | None, what: str, *, integer: bool = False) -> None:
    """ModelError unless ``arr`` (if given) holds finite booleans, integers or floats (only
    integers with ``integer``)."""
    if arr is None:
        return
    arr = np.asarray(arr)
    kinds = "iu" if integer else "biuf"
    if arr.dtype.kind not in kinds:
        allowed = "integers" if integer else "numbers"
        raise ModelError(f"{what} must hold {allowed}, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ModelError(f"{what} holds a NaN or infinite value")
    if arr.dtype.kind == "f" and arr.size and float(np.max(np.abs(arr))) > MAX_REAL:
        raise ModelError(f"{what} holds a value beyond ±{MAX_REAL:g}")


def check_values(lay, kind: str) -> None:
    """ModelError unless every value of layer ``lay`` of a ``kind`` (``"qann"``/``"snn"``)
    network keeps the bounds above: numeric arrays, finite reals within ±``MAX_REAL``, int8 or
    int16 weights, scales and clips in [``MIN_SCALE``, ``MAX_SCALE``], levels up to
    ``MAX_LEVELS``, a shift in [0, 62], neurons of 1 to ``MAX_TIME_STEPS`` steps with positive
    integer thresholds and membranes of 2 to 60 bits. (Duck-typed: ``neurosim.ir`` calls it.)"""
    name = lay.name
    for key in ("weight", "bias", "weight_scale", "out_scale"):
        check_numbers(getattr(lay, key, None), f"layer '{name}': {key}")
    for i, g in enumerate(getattr(lay, "gains", None) or ()):
        check_numbers(g, f"layer '{name}': gains[{i}]", integer=True)
    weight = getattr(lay, "weight", None)
    if weight is not None and weight.dtype not in WEIGHT_DTYPES:
        raise ModelError(f"layer '{name}': weight must be int8 or int16, got {weight.dtype}")
    scale = getattr(lay, "weight_scale", None)
    if kind == "qann" and scale is not None:
        scale = np.asarray(scale)
        if np.any(~((scale >= MIN_SCALE) & (scale <= MAX_SCALE))):
            raise ModelError(
                f"layer '{name}': weight_scale must be in [{MIN_SCALE:g}, {MAX_SCALE:g}]"
            )
    if kind == "snn" and weight is not None and not 0 <= int(lay.shift) <= 62:
        raise ModelError(f"layer '{name}': shift must be in [0, 62], got {lay.shift}")
    act = getattr(lay, "act", None)
    if kind == "qann" and act is not None:
        if not 1 <= int(act.levels) <= MAX_LEVELS or not MIN_SCALE <= float(act.clip) <= MAX_SCALE:
            raise ModelError(
                f"layer '{name}': act.levels must be in [1, {MAX_LEVELS}] and act.clip in "
                f"[{MIN_SCALE:g}, {MAX_SCALE:g}], got levels={act.levels} clip={act.clip}"
            )
        check_numbers(act.tgim, f"layer '{name}': act.tgim")
        if act.leak is not None and not math.isfinite(float(act.leak)):
            raise ModelError(f"layer '{name}': act.leak must be finite, got {act.leak}")
    neuron = getattr(lay, "neuron", None)
    if neuron is not None:
        th = np.asarray(neuron.threshold)
        check_numbers(th, f"layer '{name}': neuron.threshold", integer=True)
        if th.size == 0 or np.any(th <= 0):
            raise ModelError(f"layer '{name}': thresholds must be positive integers")
        if not 1 <= int(neuron.num_steps) <= MAX_TIME_STEPS:
            raise ModelError(
                f"layer '{name}': {neuron.num_steps} time-steps; allowed: 1 to "
                f"{MAX_TIME_STEPS} per layer"
            )
        if not 2 <= int(neuron.mem_bits) <= 60:
            raise ModelError(
                f"layer '{name}': neuron.mem_bits must be in [2, 60], got {neuron.mem_bits}"
            )
