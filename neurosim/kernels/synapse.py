"""Exact integer synaptic accumulation for all time-steps of a layer in one call, and AC counts.

The public front of the synaptic kernels: it re-exports them and holds no code (DESIGN
decisions 2 and 3). Imports only its sibling modules, each of which owns one concern:

* ``conv``: ``conv2d`` (checks, exactness bound, choice of back end);
* ``gemm``: the dense back end (im2col plus a float or int64 GEMM) and its exactness guard;
* ``conv_event``: the event back end of ``conv2d`` (a scatter over the non-zero inputs);
* ``fully_connected``: ``linear`` and its event core;
* ``fanout``: ``conv2d_fanout`` and ``linear_fanout`` (synaptic op counts);
* ``sums``: ``sum_pool2d`` and ``channel_axpy`` (weight-free sums);
* ``operands``: input checks, statistics (``max_abs``), dtype choice and threading shared by
  all of them.

Every function takes integer tensors whose first two axes are [steps S, batch B] and treats the
S·B frames as one batch, because the synaptic sum is linear and does not depend on the neuron
state. ``conv2d`` and ``linear`` have two interchangeable back ends with the same exact result:

* **dense**: im2col (conv) plus a float32 or float64 BLAS GEMM, used only where the exactness
  bound (see ``gemm``) proves that the float sums are integers the format holds exactly;
* **event**: a Numba scatter over the non-zero inputs only, accumulating in int32 or int64.

``method="auto"`` picks the event path when the fraction of non-zero inputs is at most
``EVENT_DENSITY_THRESHOLD`` (conv) or ``LINEAR_EVENT_DENSITY_THRESHOLD`` (linear), or when no
float format is exact; the dense path otherwise. The accumulator is int32 when the worst-case
bound max|w|·max|x|·fan_in is at most 2**31 - 1, else int64; a bound above 2**63 - 1 raises
``OverflowDetected``.
"""

from neurosim.kernels.conv import EVENT_DENSITY_THRESHOLD, conv2d
from neurosim.kernels.fanout import conv2d_fanout, linear_fanout
from neurosim.kernels.fully_connected import LINEAR_EVENT_DENSITY_THRESHOLD, linear
from neurosim.kernels.operands import METHODS, max_abs
from neurosim.kernels.sums import channel_axpy, sum_pool2d

__all__ = [
    "EVENT_DENSITY_THRESHOLD",
    "LINEAR_EVENT_DENSITY_THRESHOLD",
    "METHODS",
    "channel_axpy",
    "conv2d",
    "conv2d_fanout",
    "linear",
    "linear_fanout",
    "max_abs",
    "sum_pool2d",
]
