"""Events of a multi-core chip that a per-event (Loihi-style) energy table prices, per core and
time-step, and the step time they take when the table also gives each event's latency.

Imports ``ir`` and ``timing.result`` (the cycle bound); ``timing.multicore_plan`` calls it
while it builds a plan. Counts (all int64, per local time-step and core of one layer and
sample):

* ``neurons``: neuron-steps (every neuron of the core, every step: an access each);
* ``active``: neurons updated with input in that step — a synaptic event reached them (a conv
  neuron: an event in its receptive field; a linear one: any input event; an Add neuron: its
  own input), every step for a direct-coded first layer, and under a whole-sample schedule
  (MT-SNN alignment) every step for a neuron that received input at all, since its integrated
  current is re-added each step;
* ``fired``: spikes the core's neurons emit in that step;
* ``messages_out`` / ``messages_in``: spike messages sent / received (one per firing neuron and
  destination core: the core-pair events of the plan's bundles);
* hops east-west and north-south: Σ messages × |Δx| and × |Δy| of their XY routes.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim import ir
from neurosim.timing.result import check_cycle_bound


@numba.njit(cache=True, nogil=True)
def _receptive_any(padded, kh, kw, s, d, out):  # pragma: no cover - compiled
    """out[r, oy, ox] = Σ of the zero-padded padded [rows, H + 2p, W + 2p] over the taps of
    output (oy, ox) — input (oy·s + ky·d, ox·s + kx·d) — is positive."""
    wo = out.shape[2]
    acc = np.zeros(wo, np.int64)
    for r in range(padded.shape[0]):
        for oy in range(out.shape[1]):
            acc[:] = 0
            for ky in range(kh):
                row = padded[r, oy * s + ky * d]
                for kx in range(kw):
                    tap = row[kx * d : kx * d + (wo - 1) * s + 1 : s]  # walked from 0
                    for ox in range(wo):
                        acc[ox] += tap[ox]
            for ox in range(wo):
                out[r, oy, ox] = acc[ox] > 0


def receptive_active(m: np.ndarray, lay: ir.Conv2d, out_hw: tuple[int, int]) -> np.ndarray:
    """bool [rows, H_out·W_out]: output positions whose receptive field got an event
    (``m`` [rows, H_in, W_in] events per input position, channels summed; a compiled pass
    over the zero-padded counts)."""
    kh, kw = lay.weight.shape[2:]
    p = lay.padding
    ho, wo = out_hw
    padded = np.zeros((m.shape[0], m.shape[1] + 2 * p, m.shape[2] + 2 * p), np.int64)
    padded[:, p : p + m.shape[1], p : p + m.shape[2]] = m
    out = np.empty((m.shape[0], ho, wo), np.bool_)
    _receptive_any(
        padded, np.int64(kh), np.int64(kw), np.int64(lay.stride), np.int64(lay.dilation), out
    )
    return out.reshape(m.shape[0], -1)


def per_step(values: np.ndarray, slot_step: np.ndarray, steps: int, axis: int = 0) -> np.ndarray:
    """OR (bool) or Σ (int) of per-slot rows (slots along ``axis``) into the local steps that
    consume them (``slot_step``): the same array with ``steps`` along ``axis`` (``values``
    itself when slot t is consumed in step t of as many steps)."""
    lead = (slice(None),) * (axis % values.ndim)
    shape = list(values.shape)
    shape[axis] = steps
    n = len(slot_step)
    in_order = n <= steps and bool((slot_step == np.arange(n)).all())
    if in_order and n == steps:
        return values
    out = np.zeros(shape, values.dtype)
    if in_order:
        out[(*lead, slice(0, n))] = values
    else:
        for t in np.unique(slot_step):
            rows = values[(*lead, slot_step == t)]
            out[(*lead, t)] = rows.any(axis=axis) if values.dtype == bool else rows.sum(axis=axis)
    return out


def emitted_per_step(per_slot: np.ndarray, emit: np.ndarray, axis: int = 0) -> np.ndarray:
    """Rows of output slots (along ``axis``) at the local step that emits each (``emit``: slot
    sent after step t, or −1): the same array with len(emit) steps along ``axis``."""
    lead = (slice(None),) * (axis % per_slot.ndim)
    shape = list(per_slot.shape)
    shape[axis] = len(emit)
    out = np.zeros(shape, per_slot.dtype)
    for t, slot in enumerate(emit.tolist()):
        if 0 <= slot < per_slot.shape[axis]:
            out[(*lead, t)] = per_slot[(*lead, slot)]
    return out


def table_step_cycles(
    counts: dict[str, np.ndarray], table, *, linear: bool, frequency_mhz: float
) -> np.ndarray:
    """Cycles of each (step, core) from the table's event latencies (``core.op_latencies =
    "table"``): ⌈Σ_events count × latency_ns × f_MHz / 1000⌉ over synaptic ops, neuron
    accesses, active and inactive updates, spikes out and messages out and in."""

    def t(op: str) -> float:
        return table.core_op(op).latency_ns

    inactive = counts["neurons"] - counts["active"]
    ns = (
        counts["synaptic_ops"] * t("synaptic_op_linear" if linear else "synaptic_op")
        + counts["neurons"] * t("neuron_access")
        + counts["active"] * t("neuron_update_active")
        + inactive * t("neuron_update_inactive")
        + counts["fired"] * t("spike_out")
        + counts["messages_out"] * t("message_out")
        + counts["messages_in"] * t("message_in")
    )
    return ns_to_cycles(ns, frequency_mhz)


def ns_to_cycles(ns, frequency_mhz: float) -> np.ndarray:
    """⌈ns × f_MHz / 1000⌉ (cycles of the nominal clock), rounding float noise (1e-9) down."""
    cycles = np.asarray(ns, np.float64) * float(frequency_mhz) / 1000.0
    check_cycle_bound(
        float(np.max(cycles, initial=0.0)),
        "an event latency of the energy table times its event count is that large",
    )
    return np.ceil(cycles - 1e-9).astype(np.int64)


def hop_latency_cycles(dx: np.ndarray, dy: np.ndarray, table, frequency_mhz: float) -> np.ndarray:
    """Per core pair: ⌈(|Δx|·t_EW + |Δy|·t_NS) × f / 1000⌉ cycles (the table's hop latencies)."""
    ns = (
        np.abs(dx) * table.core_op("hop_east_west").latency_ns
        + np.abs(dy) * table.core_op("hop_north_south").latency_ns
    )
    return ns_to_cycles(ns, frequency_mhz)


def barrier_cycles(table, tiles: int, frequency_mhz: float) -> int:
    """The table's barrier time at ``tiles`` tiles used, in cycles (at least 1: a barrier)."""
    return int(max(1, ns_to_cycles(table.barrier_ns(tiles), frequency_mhz)))
