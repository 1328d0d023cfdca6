"""Integer logits of a run as real values and predicted classes (per-channel output scales).

Imports ``ir`` only.
"""

from __future__ import annotations

import numpy as np

from neurosim import ir


def real_outputs(network: ir.Network, output_int: np.ndarray) -> np.ndarray:
    """Real-valued logits: each output channel's integer times its own LSB value σ_P[c]; the
    spike counts of a spiking output layer as they are."""
    scale = None if ir.is_spiking(network.output) else getattr(network.output, "out_scale", None)
    scale = 1.0 if scale is None else np.asarray(scale, np.float64).reshape(1, -1)
    return output_int.astype(np.float64) * scale


def predict(network: ir.Network, output_int: np.ndarray) -> np.ndarray:
    """Predicted classes from integer logits (argmax of the real values: per-channel scales)."""
    return np.argmax(real_outputs(network, output_int), axis=1).astype(np.int64)
