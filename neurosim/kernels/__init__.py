"""Numba integer kernels: bulk synaptic accumulation and one scan kernel per neuron family (and
the quantized ReLU of the ANN reference).

Each neuron family's record in ``neurosim.schemes`` calls its scan kernel.
"""

from neurosim.kernels.if_mt import if_scan
from neurosim.kernels.lif import lif_scan
from neurosim.kernels.lmht import lmht_reparam_scan, lmht_scan
from neurosim.kernels.quantize import affine_levels
from neurosim.kernels.synapse import (
    channel_axpy,
    conv2d,
    conv2d_fanout,
    linear,
    linear_fanout,
    max_abs,
    sum_pool2d,
)
from neurosim.kernels.tsa import encode_digital, encode_neuron, tsa_scan

__all__ = [
    "affine_levels",
    "channel_axpy",
    "conv2d",
    "conv2d_fanout",
    "encode_digital",
    "encode_neuron",
    "if_scan",
    "lif_scan",
    "linear",
    "linear_fanout",
    "lmht_reparam_scan",
    "lmht_scan",
    "max_abs",
    "sum_pool2d",
    "tsa_scan",
]
