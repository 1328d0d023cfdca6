"""The PE array's reuse rule: the DRAM bytes every tile loads and writes back.

Imports nothing of neurosim at run time (``PELayerSchedule`` is read, not built, here).
Shared by the schedule (``PELayerSchedule.bitmap_tile_bytes``, the mapping table) and the
timing model, so that the two never disagree; the model they follow is described in
``neurosim.mapping.pe_array``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from neurosim.mapping.pe_array_schedule import PELayerSchedule


def _ceil_div(a, b):
    """Integer ceil(a / b) for non-negative ints or int arrays."""
    return -(-a // b)


def _event_bytes(events, address_bits: int):
    return _ceil_div(np.asarray(events, np.int64) * address_bits, 8)


def tile_load_bytes(
    sched: PELayerSchedule,
    *,
    row_events: Sequence[np.ndarray | None] | None = None,
    tile_events: Sequence[np.ndarray | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """DRAM bytes each tile loads: (weights, inputs), int64 [n_o, H_o, n_w, n_t] in loop order.

    Output-stationary reuse (hardware-models §1.4), with one refinement:

    * Weights: the M-channel block (m_o·C_i·K_h·K_w·weight_bits/8 bytes) is loaded on the first
      tile of each ``o`` iteration if ``weight_block_bytes`` ≤ the weight buffer, else it is
      streamed again on every tile.
    * Inputs of a conv/linear, by tier (``input_reuse``):
      ``layer`` (refinement) — the whole input fits the spike buffer: each input row is fetched
      once per *layer*, when output row h of the first ``o`` iteration first needs it. Reason:
      the rule below would re-read an input the buffer already holds ⌈C_o/M⌉ times; the shipped
      64 KiB buffer holds the whole input of every ResNet-18/CIFAR layer after layer1.
      ``band`` — the K_h-row band fits: each input row is fetched once per ``o`` iteration, by
      the first tile (w = t = 0) of the output row that first needs it (a sliding band:
      ``new_input_rows``). ``tile`` — every tile fetches its receptive field (valid rows × valid
      columns × C_i × the stored steps it covers).
    * A grouped conv (``groups`` g): a weight block is m_o·(C_i/g)·K_h·K_w·weight_bits/8 bytes
      and an ``o`` block reads only the C_i(o) input channels of its groups
      (``block_in_channels``) — in the ``band`` and ``tile`` tiers, where each ``o`` iteration
      fetches its own inputs; the ``layer`` tier fetches every channel once. A dilated conv's
      receptive field spans (K − 1)·d + 1 rows and columns (``extent``): a tile fetches the
      span, as one contiguous burst per row.
    * Inputs of an Add (elementwise, no reuse): every tile fetches its own m_o × 1 × n × s region
      of each input.

    Bytes of a region are ⌈elements × element_bits × stored steps / 8⌉ (bitmap, analog codes and
    partial sums), or ⌈events × event_address_bits / 8⌉ for spikes stored as an event list.

    Parameters
    ----------
    sched
        The layer's schedule.
    row_events, tile_events
        Needed only for ``spike_format = "event_list"``, one entry per input (None for inputs
        that are not spikes): ``row_events[i]`` int64 [H_i], events in each input row over all
        stored steps ([n_o, H_i], each ``o`` block's channels, for a grouped conv in the
        ``band`` tier); ``tile_events[i]`` events in each tile's receptive field over the stored
        steps the tile covers, broadcastable to [n_o, H_o, n_w, n_t]. A level-k value counts as
        k events (an LM-HT level-k spike is k address words; a pooled sum of p spikes is p).

    Returns
    -------
    tuple of numpy.ndarray
        (weight_bytes, input_bytes) per tile.
    """
    shape = sched.tiles
    weights = np.zeros(shape, np.int64)
    inputs = np.zeros(shape, np.int64)
    c_i, _, w_i = sched.in_shape
    k_h, k_w = sched.kernel
    c_blk = sched.block_in_channels()  # [n_o]: C_i, or a grouped conv's channels per block
    if sched.op != "add":
        per_channel = (c_i // sched.groups) * k_h * k_w * sched.weight_bits
        block = _ceil_div(sched.channel_extent() * per_channel, 8)
        if sched.weights_resident:
            weights[:, 0, 0, 0] = block
        else:
            weights[:] = block[:, None, None, None]
    for idx, inp in enumerate(sched.inputs):
        events = inp.kind == "spikes" and sched.spike_format == "event_list"
        if events and (
            row_events is None
            or tile_events is None
            or row_events[idx] is None
            or tile_events[idx] is None
        ):
            raise ValueError(
                f"layer '{sched.name}': event-list input '{inp.source}' needs "
                f"row_events and tile_events"
            )
        covered = sched.stored_steps_covered(inp)  # [n_t]
        if sched.op == "add":
            elems = (
                sched.channel_extent()[:, None, None, None]
                * sched.column_extent()[None, None, :, None]
            )
            if events:
                inputs += np.broadcast_to(
                    _event_bytes(tile_events[idx], sched.event_address_bits), shape
                )
            else:
                inputs += _ceil_div(elems * covered[None, None, None, :] * inp.element_bits, 8)
            continue
        if sched.input_reuse == "tile":
            if events:
                tile = np.broadcast_to(
                    _event_bytes(tile_events[idx], sched.event_address_bits), shape
                )
            else:
                elems = (
                    c_blk[:, None, None, None]
                    * sched.input_row_counts()[None, :, None, None]
                    * sched.input_column_counts()[None, None, :, None]
                )
                tile = _ceil_div(elems * covered[None, None, None, :] * inp.element_bits, 8)
            inputs += np.broadcast_to(tile, shape)
            continue
        if events:
            # [H_o], or [n_o, H_o] from a grouped conv's per-block rows
            mask = sched.new_input_row_mask().astype(np.int64)
            per_row = np.asarray(row_events[idx], np.int64) @ mask.T
            row_bytes = _event_bytes(per_row, sched.event_address_bits)
        else:
            channels = c_blk if sched.input_reuse == "band" else np.array([c_i])
            row_bytes = _ceil_div(
                channels[:, None]
                * sched.new_input_rows()[None, :]
                * (w_i * inp.element_bits * inp.stored_steps),
                8,
            )
            row_bytes = row_bytes if row_bytes.shape[0] > 1 else row_bytes[0]
        if sched.input_reuse == "layer":
            inputs[0, :, 0, 0] += row_bytes
        else:
            inputs[:, :, 0, 0] += row_bytes if row_bytes.ndim == 2 else row_bytes[None, :]
    return weights, inputs


def weight_prefetch_bytes(
    current: PELayerSchedule, following: PELayerSchedule, weight_buffer: int
) -> int:
    """Bytes of ``following``'s first weight block the load stage can fetch while ``current``
    computes: the first o-block (m_0·(C_i/g)·K_h·K_w·weight_bits/8, the weights of its first
    tile), when ``following`` keeps its blocks resident and the weight buffer holds a full
    block of each layer (``weight_block_bytes`` of both ≤ ``weight_buffer``); else 0.
    """
    if following.op == "add" or not following.weights_resident:
        return 0
    if current.weight_block_bytes + following.weight_block_bytes > weight_buffer:
        return 0
    c_i = following.in_shape[0] // following.groups
    k_h, k_w = following.kernel
    first = int(following.channel_extent()[0])
    return _ceil_div(first * c_i * k_h * k_w * following.weight_bits, 8)


def tile_store_bytes(
    sched: PELayerSchedule, *, tile_events: np.ndarray | None = None
) -> np.ndarray:
    """DRAM bytes each tile writes back, int64 [n_o, H_o, n_w, n_t] in loop order.

    Spikes: ⌈m_o·n·s·output_bits/8⌉ per tile (bitmap; s = the neuron steps of the tile), or
    ⌈events·event_address_bits/8⌉ with an event list (``tile_events``: the layer's own output
    events per tile, same shape; level k counts k). Partial sums (a conv/linear feeding an Add):
    ⌈m_o·n·s·membrane_bits/8⌉ per tile. Logits (the network output): ⌈m_o·n·membrane_bits/8⌉,
    once per (o, h, w) group, on its last ``t`` tile.
    """
    shape = sched.tiles
    if sched.output_kind == "spikes" and sched.spike_format == "event_list":
        if tile_events is None:
            raise ValueError(f"layer '{sched.name}': event-list output needs tile_events")
        return np.broadcast_to(_event_bytes(tile_events, sched.event_address_bits), shape).copy()
    return np.broadcast_to(_store_row(sched), shape).copy()


def _store_row(sched: PELayerSchedule) -> np.ndarray:
    """``tile_store_bytes`` without event lists, of one output row: int64 [n_o, 1, n_w, n_t]
    (the bytes depend on a tile's channels, columns and steps, never on its row h)."""
    n_o, _, n_w, n_t = sched.tiles
    elems = sched.channel_extent()[:, None, None, None] * sched.column_extent()[None, None, :, None]
    if sched.output_kind == "logits":
        out = np.zeros((n_o, 1, n_w, n_t), np.int64)
        out[..., -1] = _ceil_div(elems[..., 0] * sched.output_bits, 8)
        return out
    steps = sched.neuron_step_extent()[None, None, None, :]
    return _ceil_div(elems * steps * sched.output_bits, 8)  # [n_o, 1, n_w, n_t] already
