"""Numba integer kernels: bulk synaptic accumulation and one scan kernel per neuron family.

``NEURON_KERNELS`` is the family → scan-kernel registry (see ``neurosim.ir.NEURON_SPECS``).
"""

from collections.abc import Callable, Mapping

from neurosim.kernels.if_mt import if_scan
from neurosim.kernels.lmht import lmht_reparam_scan, lmht_scan
from neurosim.kernels.synapse import (
    channel_axpy,
    conv2d,
    conv2d_fanout,
    linear,
    linear_fanout,
    sum_pool2d,
)
from neurosim.kernels.tsa import encode_digital, encode_neuron, tsa_scan

NEURON_KERNELS: Mapping[str, Callable[..., tuple]] = {
    "if": if_scan,
    "tsa": tsa_scan,
    "lmht": lmht_scan,
}
"""Neuron family → scan kernel (LM-HT's re-parameterised form is ``lmht_reparam_scan``)."""

__all__ = [
    "NEURON_KERNELS",
    "channel_axpy",
    "conv2d",
    "conv2d_fanout",
    "encode_digital",
    "encode_neuron",
    "if_scan",
    "linear",
    "linear_fanout",
    "lmht_reparam_scan",
    "lmht_scan",
    "sum_pool2d",
    "tsa_scan",
]
