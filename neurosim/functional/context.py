"""What a neuron family's runner sees of one layer of a batch run (``LayerContext``).

Imports ``ir`` and ``schemes.base``. The batch run it wraps (``functional.batch``) is seen
through the ``BatchRun`` protocol, so this module does not import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from neurosim import ir
from neurosim.schemes.base import per_neuron


class BatchRun(Protocol):
    """What ``LayerContext`` uses of the batch run (``functional.batch._BatchRun``)."""

    net: ir.Network
    batch: int
    meta: Mapping[str, Any]
    ops: dict[str, dict[str, np.ndarray]]

    def value(self, name: str, form: str) -> np.ndarray | None: ...

    def current(self, lay: ir.Layer, form: str, *, with_bias: bool = True) -> np.ndarray: ...

    def _weighted_sum(
        self, lay: ir.Layer, form: str, *, max_shift: int
    ) -> tuple[np.ndarray, int]: ...

    def _store(self, lay: ir.Layer, *args: Any) -> None: ...

    def spike_out(self, lay: ir.Layer, num_steps: int) -> np.ndarray | None: ...


class LayerContext:
    """What a neuron family's runner (``NeuronSpec.run``) sees of one layer of a batch run.

    The runner reads the layer's integer input current in the form it integrates, scans its
    neurons with its kernel, then hands back the spikes (``store``) and its op counts
    (``count``); everything else (caching, forms for the consumers, synaptic op counts) stays
    here.
    """

    def __init__(self, run: BatchRun, lay: ir.Layer) -> None:
        self._run = run
        self.layer = lay
        self.name = lay.name
        self.shape = run.net.shapes[lay.name]
        self.batch = run.batch
        self.neurons = int(np.prod(self.shape))
        self.meta = run.meta

    @property
    def network(self) -> ir.Network:
        """The network the layer belongs to."""
        return self._run.net

    def own(self, form: str) -> np.ndarray | None:
        """This layer's own output in ``form`` (a spiking layer is run first if need be): e.g.
        ``own("const")`` holds a spiking output layer's spike counts [1, batch, *shape]."""
        return self._run.value(self.name, form)

    @property
    def source_steps(self) -> list[int]:
        """T of each spiking layer feeding this one (the network input excluded)."""
        return self._run.net.source_steps(self.name)

    def current(self, form: str, *, with_bias: bool = True) -> np.ndarray:
        """Integer input current P = (Σ W·x) << f (+ B) [steps, batch, *shape] of the inputs'
        ``const`` (whole-sample levels) or ``steps`` (per-step values) form."""
        return self._run.current(self.layer, form, with_bias=with_bias)

    def unshifted_current(self, form: str, max_shift: int) -> tuple[np.ndarray, int]:
        """(I, k) with P − B = I << k: a synaptic layer's Σ W·x and its shift f (plus a
        power-of-two step gain, k <= ``max_shift``), which a scan applies as it charges; an
        Add's sum with k = 0. The bias is left to the scan (``bias_per_neuron``)."""
        lay = self.layer
        if isinstance(lay, ir.Conv2d | ir.Linear):
            cur, extra = self._run._weighted_sum(lay, form, max_shift=max_shift - lay.shift)
            return cur, lay.shift + extra
        return self._run.current(lay, form, with_bias=False), 0

    def bias_per_neuron(self) -> np.ndarray | None:
        """The integer bias B expanded to one value per neuron, or None."""
        bias = getattr(self.layer, "bias", None)
        return None if bias is None else per_neuron(bias, self.shape)

    def spike_out(self, num_steps: int) -> np.ndarray | None:
        """int8 [num_steps, batch, n] the scan should write its spikes into (they are kept in
        the trace as they are: no copy), or None to allocate them itself."""
        return self._run.spike_out(self.layer, num_steps)

    def store(
        self,
        spikes: np.ndarray,
        const: np.ndarray | Callable[[], np.ndarray] | None,
        steps: np.ndarray | int | Callable[[], np.ndarray],
        num_steps: int,
        *,
        counts: np.ndarray | None = None,
        events: np.ndarray | None = None,
        bounds: tuple[int, int] | None = None,
        peaks: dict[str, int] | None = None,
    ) -> None:
        """Keep the layer's output: ``spikes`` [steps, batch, n]; ``const`` its whole-sample
        level, or a function making it if something asks for it (None: the spike count, made
        on demand); ``steps`` its per-step value (or a function making it on demand), or
        an int G when that is G × the (binary) spikes; ``num_steps`` its own clock. What the kernel
        found while scanning saves passes over the spikes: ``counts`` the non-zero spikes per
        step, ``events`` (spikes != 0) as uint8, ``bounds`` (min, max) of the spikes (without
        it, spikes with ``counts`` are taken as 0/1), ``peaks`` a bound on max |form| of the
        ``steps`` or ``const`` form (a reader's sums then need no measuring pass)."""
        self._run._store(
            self.layer, spikes, const, steps, num_steps, self.shape, counts, events, bounds, peaks
        )

    def count(self, **ops: np.ndarray) -> None:
        """Record op counts (int64 per step, summed over the batch; ``trace.OP_NAMES``)."""
        self._run.ops[self.name].update(ops)
