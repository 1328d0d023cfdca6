"""Cycle formulas of the multi-core chip: pure, vectorised numpy, no SimPy (hardware-models §2).

Imports nothing from neurosim. Every function takes counts (events, neurons, bits, hops) and
hardware rates and returns integer cycles, so each formula can be checked by hand. The SimPy
model (``timing.multicore``) only sequences these numbers.
"""

from __future__ import annotations

import numpy as np


def ceil_div(numerator: np.ndarray | int, denominator: np.ndarray | int) -> np.ndarray:
    """Integer ceil(a / b) for a >= 0, b > 0 (int64, exact)."""
    a = np.asarray(numerator, dtype=np.int64)
    return -(-a // np.asarray(denominator, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# Per core and time-step (hardware-models §2.2)
# --------------------------------------------------------------------------------------------


def syn_cycles(synaptic_events: np.ndarray | int, synops_per_cycle: int) -> np.ndarray:
    """Synaptic phase alone: ceil(incoming events × fan-out within the core / synops_per_cycle).

    ``synaptic_events`` is already events × fan-out (the synaptic operations of the core).
    """
    return ceil_div(synaptic_events, synops_per_cycle)


def neuron_cycles(
    neurons: np.ndarray | int, neuron_updates_per_cycle: int, updates_per_neuron: int = 1
) -> np.ndarray:
    """Neuron phase alone: ceil(neurons × updates per neuron / neuron_updates_per_cycle).

    ``updates_per_neuron`` is 1 for IF and TSA (the β-shift and the ternary compare are one
    update) and L for an LM-HT layer that is not re-parameterised (L threshold compares).
    """
    return ceil_div(np.asarray(neurons, np.int64) * updates_per_neuron, neuron_updates_per_cycle)


def step_cycles(
    synaptic_events: np.ndarray | int,
    neurons: np.ndarray | int,
    synops_per_cycle: int,
    neuron_updates_per_cycle: int,
    updates_per_neuron: int = 1,
) -> np.ndarray:
    """Cycles of one core's time-step: ceil(syn_ops / synops_per_cycle + updates / lanes).

    Refinement of hardware-models §2.2 (``syn_cycles + neuron_cycles``): the sum of the two
    phases is rounded up once, not each phase separately, i.e.
    ``ceil((syn_ops·U + updates·S) / (S·U))`` with S = synops_per_cycle and
    U = neuron_updates_per_cycle. Reason: the neuron unit starts in the cycle the synaptic unit
    finishes, so a step whose phases each need a fraction of a cycle takes one cycle, not two —
    which is what makes a step of ideal hardware (S, U → ∞) exactly one cycle, the unit in which
    SWS eq. 6 is stated. With S = U = 1 (the shipped configs) both forms are equal; otherwise
    this is at most one cycle less than ``syn_cycles + neuron_cycles``.
    """
    syn = np.asarray(synaptic_events, dtype=np.int64)
    upd = np.asarray(neurons, dtype=np.int64) * updates_per_neuron
    s, u = int(synops_per_cycle), int(neuron_updates_per_cycle)
    # syn/s + upd/u split into whole cycles and remainders (r1 < s, r2 < u), so no product
    # is larger than 2·s·u (< 2^61 for rates up to 2^30): exact in int64.
    q1, r1 = np.divmod(syn, s)
    q2, r2 = np.divmod(upd, u)
    return q1 + q2 + ceil_div(r1 * u + r2 * s, s * u)


def conv_synaptic_events(
    inputs: np.ndarray, fanout: np.ndarray, channels_per_core: np.ndarray, core_chunk: np.ndarray
) -> np.ndarray:
    """Synaptic operations of each core of a conv layer at each step.

    Parameters
    ----------
    inputs
        int [steps, H_in·W_in]: incoming events per input position, summed over input channels
        (pooled counts when pooling is folded in).
    fanout
        int [chunks, H_in·W_in]: output positions of chunk j fed by an input position.
    channels_per_core, core_chunk
        int [cores]: output channels a core holds and its position chunk.

    Returns
    -------
    np.ndarray
        int64 [steps, cores]: Σ_pos inputs[t, pos] · fanout[chunk, pos] · channels.
    """
    per_chunk = np.asarray(inputs, np.int64) @ np.asarray(fanout, np.int64).T
    return per_chunk[:, core_chunk] * np.asarray(channels_per_core, np.int64)[None, :]


def grouped_conv_synaptic_events(
    inputs: np.ndarray, fanout: np.ndarray, overlap: np.ndarray, core_chunk: np.ndarray
) -> np.ndarray:
    """Synaptic operations of each core of a grouped conv at each step: an input event of
    conv group g reaches only the output channels of group g.

    ``inputs`` int [steps, groups, H_in·W_in] (events per position summed over each group's
    input channels), ``fanout`` as in ``conv_synaptic_events``, ``overlap`` int [cores, groups]
    (output channels of each core in each group). Returns int64 [steps, cores]:
    Σ_g Σ_pos inputs[t, g, pos] · fanout[chunk, pos] · overlap[core, g]; with one group it is
    ``conv_synaptic_events``.
    """
    per_chunk = np.asarray(inputs, np.int64) @ np.asarray(fanout, np.int64).T  # [t, g, J]
    per_core = per_chunk[:, :, core_chunk]  # [t, g, cores]
    return np.einsum("tgc,cg->tc", per_core, np.asarray(overlap, np.int64))


def dense_synaptic_events(events: np.ndarray, neurons_per_core: np.ndarray) -> np.ndarray:
    """Synaptic operations of each core of a linear layer: events[t] × neurons on the core."""
    return np.asarray(events, np.int64)[:, None] * np.asarray(neurons_per_core, np.int64)[None, :]


# --------------------------------------------------------------------------------------------
# NoC (hardware-models §2.3)
# --------------------------------------------------------------------------------------------


def bundle_bits(events: np.ndarray | int, bits_per_event: int) -> np.ndarray:
    """Bits of a bundle: events × bits per event (``noc.event_bits`` for spikes)."""
    return np.asarray(events, np.int64) * int(bits_per_event)


def link_cycles(bits: np.ndarray | int, link_bits_per_cycle: int) -> np.ndarray:
    """Cycles a bundle holds a link: ceil(bits / link_bits_per_cycle)."""
    return ceil_div(bits, link_bits_per_cycle)


def transfer_cycles(
    bits: np.ndarray | int,
    hops: np.ndarray | int,
    link_bits_per_cycle: int,
    hop_latency_cycles: int,
) -> np.ndarray:
    """Cycles from sending a bundle to its last bit arriving, without contention.

    ceil(bits / link_bits_per_cycle) + hops × hop_latency_cycles (wormhole: the links of the
    route are held for the serialisation time, the tail then needs the per-hop latency).
    """
    return link_cycles(bits, link_bits_per_cycle) + np.asarray(hops, np.int64) * int(
        hop_latency_cycles
    )


def link_loads(
    bits: np.ndarray, route_pair: np.ndarray, route_link: np.ndarray, num_links: int
) -> np.ndarray:
    """Bits each directed link carries: Σ over the pairs whose XY route uses it.

    ``bits`` [steps, pairs]; ``route_pair``/``route_link`` list the links of each pair's route
    (``mapping.multicore_geometry.xy_routes``). Returns int64 [steps, num_links]. Summed over
    links this is the bundle's bits × hops.
    """
    bits = np.asarray(bits, np.int64)
    out = np.zeros((bits.shape[0], num_links), dtype=np.int64)
    for t in range(bits.shape[0]):
        out[t] = np.bincount(route_link, weights=bits[t, route_pair], minlength=num_links).astype(
            np.int64
        )
    return out


# --------------------------------------------------------------------------------------------
# Closed forms of the pipeline (hardware-models §2.4; neuron-models §6.2, §6.3)
# --------------------------------------------------------------------------------------------


def stage_cycles(step_cycles_per_step: np.ndarray) -> np.ndarray:
    """Per-sample stage time τ_l = Σ over the layer's steps of its step cycles (last axis)."""
    return np.asarray(step_cycles_per_step, np.int64).sum(axis=-1)


def latency_whole_sample(stage_times: np.ndarray, noc_cycles: np.ndarray | int = 0) -> int:
    """One-sample latency when each layer waits for its predecessor's whole sample.

    Σ_l τ_l + Σ NoC transfer cycles between consecutive layers (MT-IF with alignment, LM-HT;
    neuron-models §6.2: start_l = finish_{l−1} + NoC).
    """
    return int(np.sum(stage_times) + np.sum(noc_cycles))


def latency_per_step(step_times: np.ndarray, noc_cycles: np.ndarray | int, num_steps: int) -> int:
    """One-sample latency of a chain pipelined step by step (uniform-T IF, no barrier).

    With a constant c_l cycles per step of layer l and n_l NoC cycles per bundle after it,
    e_l(t) = max(e_l(t−1), e_{l−1}(t) + n_{l−1}) + c_l gives
    Σ_l c_l + Σ n + (T − 1)·max_l c_l: the slowest layer runs its T−1 other steps on the
    critical path (the "T + layers − 1 steps" of neuron-models §6.2 when every c_l is equal).
    """
    c = np.asarray(step_times, np.int64)
    return int(c.sum() + np.sum(noc_cycles) + (num_steps - 1) * c.max())


def steady_interval(stage_times: np.ndarray) -> int:
    """Steady-state initiation interval of a pipelined stream: max_l τ_l."""
    return int(np.max(stage_times))


def idle_per_sample(stage_times: np.ndarray) -> np.ndarray:
    """Cycles stage l idles per sample in steady state: max τ − τ_l."""
    tau = np.asarray(stage_times, np.int64)
    return tau.max() - tau


def sws_latency_steps(coding_steps: int, silent_steps: int, num_tsa_layers: int) -> int:
    """SWS eq. 6: T_inf = Tc + Ts·L_TSA time-steps."""
    return int(coding_steps + silent_steps * num_tsa_layers)


def sws_frame_interval_steps(coding_steps: int, silent_steps: int) -> int:
    """A new SWS frame enters every Tc + Ts steps (SWS §3.3, Fig. 2d)."""
    return int(coding_steps + silent_steps)
