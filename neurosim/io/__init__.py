"""Reading and writing model files (the native versioned ``.npz`` for quantized ANNs and SNNs)."""

from neurosim.io.native import load_model, save_model

__all__ = ["load_model", "save_model"]
