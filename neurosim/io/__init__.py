"""Model files (the native versioned ``.npz`` for quantized ANNs and SNNs), input sets and
event binning."""

from neurosim.io.events import bin_events, save_spike_inputs
from neurosim.io.inputs import BUNDLED_MODEL, BUNDLED_TEST_SET, bundled_path, load_inputs
from neurosim.io.native import load_model, save_model

__all__ = [
    "BUNDLED_MODEL",
    "BUNDLED_TEST_SET",
    "bin_events",
    "bundled_path",
    "load_inputs",
    "load_model",
    "save_model",
    "save_spike_inputs",
]
