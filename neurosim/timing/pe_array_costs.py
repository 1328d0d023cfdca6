"""Per-layer cost arrays of the PE-array model, computed before its event loop starts: the
cycles of every work item of every stage (``layer_costs``) and the layer's traffic.

Imports ``hw``, ``mapping.pe_array``, ``trace``, ``errors`` and ``timing`` (``cost`` for the
formulas, ``activity`` for the trace's input activity, ``pipeline_stream`` for the warm-up).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from neurosim.errors import MappingError
from neurosim.hw import PEArrayConfig
from neurosim.mapping.pe_array import (
    PEArrayMapping,
    PELayerSchedule,
    tile_load_bytes,
    tile_store_bytes,
)
from neurosim.timing import cost
from neurosim.timing.activity import TraceStats, layer_inputs
from neurosim.timing.pipeline_stream import stream_summary
from neurosim.timing.result import check_cycle_bound
from neurosim.trace import Trace


@dataclass(frozen=True, eq=False)
class LayerCosts:
    """Per-item cycles of one layer for one trace sample, plus its traffic (precomputed)."""

    layer: str
    load: np.ndarray
    """int64 cycles per work item (tiles in loop order, ``tiles_per_item`` at a time)."""
    pe_block: np.ndarray
    """int64 PE cycles of the items of one run of ``pe_repeats`` equal runs: those of one ``o``
    block when every block sees the same input, else of every item (``pe``)."""
    neuron: np.ndarray
    writeback: np.ndarray
    tiles_per_item: int
    traffic: dict[str, int]
    pe_cycles: int
    """Σ PE cycles of the layer (all tiles)."""
    neuron_wait: np.ndarray | None = None
    """int64 cycles the neuron unit waits before each item's update (None: no wait)."""
    wait_cause: str = ""
    """Stall cause of ``neuron_wait`` (``NeuronSpec.neuron_wait``)."""
    occ: np.ndarray | None = None
    """int64 write-buffer bytes of each item's posted write (None: writes are not posted, and
    ``writeback`` includes the DRAM latency of each burst)."""
    prefetch: int = 0
    """Cycles the load stage spends, after its last item, fetching the next layer's first
    weight block (``buffers.prefetch_weights``)."""
    work_bound: float = 0.0
    """Σ of every item's load, PE, neuron, write-back and neuron-wait cycles, each array summed
    in float64 and added in that order (the stream's a-priori cycle bound per run of the
    layer; computed with the arrays, so that a stream sums floats instead of arrays)."""
    pe_repeats: int = 1
    """How many times ``pe_block`` repeats in ``pe`` (the layer's ``o`` blocks, or 1)."""

    @functools.cached_property
    def pe(self) -> np.ndarray:
        """int64 PE cycles per work item: ``pe_block`` repeated ``pe_repeats`` times."""
        if self.pe_repeats == 1:
            return self.pe_block
        return np.tile(self.pe_block, self.pe_repeats)


def _group(arr: np.ndarray, sched: PELayerSchedule, per_item: int) -> np.ndarray:
    """Flatten a tile array [n_o, H_o, n_w, n_t] in loop order, summing ``per_item``
    consecutive tiles of the same (o, h) row into one work item."""
    return _group_rows(arr, sched.tiles, per_item)


def _group_rows(arr: np.ndarray, tiles: tuple[int, ...], per_item: int) -> np.ndarray:
    """``_group`` of a tile array of shape ``tiles`` = (n_o, H_o, n_w, n_t)."""
    n_o, h_o, n_w, n_t = tiles
    rows = arr.reshape(n_o * h_o, n_w * n_t)
    if per_item > 1:
        width = rows.shape[1]
        pad = cost.ceil_div(width, per_item) * per_item - width
        if pad:
            rows = np.pad(rows, ((0, 0), (0, pad)))
        rows = rows.reshape(rows.shape[0], -1, per_item).sum(axis=2)
    return np.array(rows.ravel(), dtype=np.int64)


def _group_each_row(row: np.ndarray, tiles: tuple[int, ...], per_item: int) -> np.ndarray:
    """``_group_rows`` of an array that is the same in every output row h, given as one row
    [n_o, 1, n_w, n_t]: grouped once, its items repeated H_o times (the same int64 items as
    grouping the [n_o, H_o, n_w, n_t] broadcast)."""
    n_o, _, n_w, n_t = tiles
    return _repeat_rows(_group_rows(row, (n_o, 1, n_w, n_t), per_item), tiles)


def _repeat_rows(items: np.ndarray, tiles: tuple[int, ...]) -> np.ndarray:
    """The items of one output row of each ``o`` block ([n_o · items per row], in loop order)
    repeated for every row h: the items of all n_o · H_o rows in loop order."""
    return np.repeat(items.reshape(tiles[0], 1, -1), tiles[1], axis=1).reshape(-1)


def layer_costs(
    mapping: PEArrayMapping,
    sched: PELayerSchedule,
    trace: Trace,
    hw: PEArrayConfig,
    sample: int,
    *,
    tiles_per_item: int = 1,
    stats: TraceStats | None = None,
    shared: dict | None = None,
    prefetched: int = 0,
    prefetch_next: int = 0,
) -> LayerCosts:
    """Cycles of every tile of one layer for trace sample ``sample``, and its traffic.

    load: ``cost.dram_cycles`` of the reuse rule's bytes (``mapping.pe_array.tile_load_bytes``);
    pe: ``cost.pe_tile_cycles`` (``cost.systolic_tile_cycles`` on a systolic dataflow); neuron:
    ``cost.neuron_tile_cycles``; write-back: ``cost.dram_cycles`` of ``tile_store_bytes``.
    Tiles are summed ``tiles_per_item`` at a time within each (o, h) row. ``stats`` (a
    ``TraceStats`` of ``trace``) memoises the input activity and the PE cycles, which do not
    depend on M, buffers, DRAM or the neuron unit.
    ``shared`` (a dict kept by the caller for one ``mapping`` and ``hw``) holds what does not
    depend on the sample with bitmap spikes — neuron, load and write-back cycles and bytes —
    so a stream of samples computes them once.

    With ``buffers.write_buffer_bytes`` > 0 writes are posted: write-back costs the transfer
    ⌈bytes / bytes_per_cycle⌉ alone and each item holds min(its bytes, buffer) bytes of write
    buffer until ``dram.latency_cycles`` after its transfer (``pipeline``). ``prefetched``:
    bytes of this layer's first weight block the previous layer's load stage already fetched
    (they leave the first tile's burst); ``prefetch_next``: bytes of the next layer's first
    block this layer's load stage fetches after its last tile, one burst (``prefetch``).
    """
    pe_cfg = hw.pe
    events_format = sched.spike_format == "event_list"
    looked_up: list[list] = []

    def input_mags() -> list:
        # Looked up on first use only: a memoised sweep point never needs them.
        if not looked_up:
            looked_up.append(_input_magnitudes(mapping, sched, trace, hw, sample, stats))
        return looked_up[0]

    inp0 = sched.inputs[0] if sched.inputs else None

    def pe_cycles() -> np.ndarray:
        mags = input_mags()
        return cost.pe_tile_cycles(
            sched,
            mags[0] if mags else None,
            inp0,
            zero_skipping=pe_cfg.zero_skipping,
            events_per_cycle=pe_cfg.events_per_cycle,
            multilevel=pe_cfg.multilevel,
        )

    g = max(1, int(tiles_per_item))
    n_o, h_o, n_w, n_t = sched.tiles
    items = n_o * h_o * cost.ceil_div(n_w * n_t, g)

    def pe_items(tile_cycles: np.ndarray) -> np.ndarray:
        # Every o block sees the same input: the [H_o, n_w, n_t] cycles repeat n_o times, so
        # one block's items repeat n_o times in loop order (``pe_repeats``); a grouped conv's
        # blocks differ: [n_o, H_o, n_w, n_t], every item.
        if tile_cycles.ndim == 4:
            return _group(np.broadcast_to(tile_cycles, sched.tiles), sched, g)
        return _group_rows(tile_cycles, (1, h_o, n_w, n_t), g)

    if sched.systolic is not None:
        # Dense and data-independent: a closed form, no trace activity (nothing to memoise).
        pe = _group(cost.systolic_tile_cycles(sched), sched, g)
        pe_total, pe_float = int(pe.sum()), _fsum(pe)
    elif stats is None:
        pe = pe_items(pe_cycles())
        pe_total, pe_float = int(pe.sum()), _fsum(pe)
    else:
        # pe_tile_cycles reads the schedule's geometry, N, S, V and the PE options, never M
        # (which only sets n_o, how often one block's items repeat) — except in a grouped conv,
        # whose o blocks reduce the channels of the groups M puts in them (then M is in the key).
        key = (
            "pe_tile_cycles",
            sched.name,
            sample,
            sched.unroll[1:] if sched.groups == 1 else sched.unroll,
            sched.tiles[1:],
            pe_cfg.zero_skipping,
            pe_cfg.events_per_cycle,
            pe_cfg.multilevel,
        )
        # The items and their Σ (grouping only sums tiles: the layer's PE cycles) and float64
        # bound are memoised together, per grouping.
        pe, pe_total, pe_float = stats.memo_summed(
            (*key, g), lambda: pe_items(stats.memo(key, pe_cycles))
        )
    repeats = items // len(pe)
    if repeats > 1:
        # Σ of the layer's items: one block's, n_o times (the float one exact below 2^53,
        # where every sum the cycle bound accepts lies).
        pe_total, pe_float = repeats * pe_total, repeats * pe_float
    if events_format:
        fixed = _fixed_costs(
            mapping, sched, trace, hw, sample, g, input_mags(), shared, stats, prefetched
        )
    else:
        key = (sched.name, g, prefetched)
        fixed = shared.get(key) if shared is not None else None
        if fixed is None:
            fixed = _fixed_costs(
                mapping, sched, trace, hw, sample, g, [], shared, stats, prefetched
            )
            if shared is not None:
                shared[key] = fixed
    read, write = cost.sram_bytes(
        sched,
        pe_cycles=pe_total,
        updates=fixed["updates"],
        load_bytes=fixed["load_bytes"],
        store_bytes=fixed["store_bytes"],
    )
    traffic = {
        "dram_read_bytes": fixed["load_bytes"],
        "dram_write_bytes": fixed["store_bytes"],
        "sram_read_bytes": read,
        "sram_write_bytes": write,
    }
    wait, cause, wait_float = fixed["neuron_wait"]
    return LayerCosts(
        layer=sched.name,
        load=fixed["load"],
        pe_block=pe,
        pe_repeats=repeats,
        neuron=fixed["neuron"],
        writeback=fixed["writeback"],
        tiles_per_item=g,
        traffic=traffic,
        pe_cycles=pe_total,
        neuron_wait=wait,
        wait_cause=cause,
        occ=fixed["occ"],
        prefetch=_prefetch_cycles(prefetch_next, fixed["rate"], hw, shared),
        work_bound=(((fixed["load_float"] + pe_float) + fixed["neuron_float"]) + fixed["wb_float"])
        + wait_float,
    )


def _fsum(items: np.ndarray | None) -> float:
    """Σ of a cycle array summed in float64 (0 for None): a term of ``work_bound``, a float
    so that no int64 sum can wrap before the bound is checked."""
    return 0.0 if items is None else float(items.sum(dtype=np.float64))


def _byte_totals(arr: np.ndarray) -> tuple[int, float, int]:
    """(Σ, Σ in float64, non-zero count) of a byte array, as
    ``PELayerSchedule.bitmap_tile_totals`` gives them for bitmap spikes."""
    return int(arr.sum()), float(arr.sum(dtype=np.float64)), int(np.count_nonzero(arr))


def _prefetch_cycles(num_bytes: int, rate: Fraction, hw: PEArrayConfig, shared: dict | None) -> int:
    """``cost.dram_cycles`` of a prefetch of ``num_bytes`` (0 for none), kept in ``shared``
    (one value per prefetch size for the mapping and hw ``shared`` belongs to)."""
    if not num_bytes:
        return 0
    key = ("prefetch_cycles", num_bytes)
    found = None if shared is None else shared.get(key)
    if found is None:
        found = cost.burst_cycles(num_bytes, rate, hw.dram.latency_cycles)
        if shared is not None:
            shared[key] = found
    return found


def _neuron_wait(
    mapping: PEArrayMapping, sched: PELayerSchedule, g: int
) -> tuple[np.ndarray | None, str]:
    """The neuron unit's wait per item: the layer's neuron family waits ``cycles`` before each
    time-step's update (``NeuronSpec.neuron_wait``), so a tile waits cycles × its neuron steps."""
    neuron = getattr(mapping.network.layer(sched.name), "neuron", None)
    found = None if neuron is None else neuron.neuron_wait
    if not found or found[0] <= 0:
        return None, ""
    cycles, cause = found
    steps = sched.neuron_step_extent()[None, None, None, :] * int(cycles)
    n_o, _, n_w, n_t = sched.tiles
    return _group_each_row(np.broadcast_to(steps, (n_o, 1, n_w, n_t)), sched.tiles, g), cause


def _input_magnitudes(
    mapping: PEArrayMapping,
    sched: PELayerSchedule,
    trace: Trace,
    hw: PEArrayConfig,
    sample: int,
    stats: TraceStats | None,
) -> list:
    """The magnitude of each input of the layer in trace sample ``sample`` (None where the
    timing model does not read it: dense PE cycles with bitmap spikes)."""
    events_format = sched.spike_format == "event_list"
    need_activity = (hw.pe.zero_skipping != "none" or events_format) and bool(sched.inputs)
    acts = {}
    if need_activity:
        try:
            found = (
                layer_inputs(mapping.network, trace, sched.name, sample)
                if stats is None
                else stats.layer_inputs(sched.name, sample)
            )
        except ValueError as exc:  # the trace was run without keep_spikes
            raise MappingError(
                f"layer '{sched.name}': cannot time it from this trace: {exc}"
            ) from exc
        acts = {a.source: a for a in found}
    mags = []
    for inp in sched.inputs:
        act = acts.get(inp.source)
        mag = None if act is None else act.magnitude
        if mag is not None and inp.aligned and mag.shape[0] == 1 < sched.compute_steps:
            # An Add that also reads a per-step input: the count is re-read every step.
            mag = np.broadcast_to(mag, (sched.compute_steps, *mag.shape[1:]))
        if mag is not None and mag.shape[0] != sched.compute_steps:
            raise MappingError(
                f"layer '{sched.name}': the trace gives {mag.shape[0]} input "
                f"steps from '{inp.source}', the mapping expects "
                f"{sched.compute_steps}; recompile for this network"
            )
        mags.append(mag)
    return mags


def _fixed_costs(
    mapping: PEArrayMapping,
    sched: PELayerSchedule,
    trace: Trace,
    hw: PEArrayConfig,
    sample: int,
    g: int,
    mags: list,
    shared: dict | None,
    stats: TraceStats | None = None,
    prefetched: int = 0,
) -> dict[str, Any]:
    """Neuron, load and write-back cycles per item and the layer's DRAM bytes and neuron
    updates; they depend on the sample only through event lists (``spike_format``).
    ``shared`` (as in ``layer_costs``) keeps the DRAM rate for every layer; ``stats`` keeps the
    neuron cycles and updates of a schedule (a sweep reuses one mapping for many points)."""
    upc = hw.neuron_unit.updates_per_cycle

    def neuron_items() -> np.ndarray:
        return _group_each_row(cost.neuron_row_cycles(sched, upc), sched.tiles, g)

    def neuron_updates() -> np.ndarray:
        return np.array([cost.neuron_updates_total(sched)], np.int64)

    if stats is None:
        neuron, updates = neuron_items(), neuron_updates()
        neuron_float = _fsum(neuron)
    else:
        neuron, _, neuron_float = stats.memo_summed(("neuron_items", sched, upc, g), neuron_items)
        updates = stats.memo(("neuron_updates", sched), neuron_updates)
    store_row = None
    if sched.spike_format == "event_list":
        out_events = None
        row_events = [
            None if inp.kind != "spikes" else cost.input_row_events(mag, inp, sched)
            for inp, mag in zip(sched.inputs, mags, strict=True)
        ]
        tile_events = [
            None if inp.kind != "spikes" else cost.input_tile_events(mag, sched, inp)
            for inp, mag in zip(sched.inputs, mags, strict=True)
        ]
        if sched.output_kind == "spikes":
            spikes = trace.layer(sched.name).spikes
            if spikes is None:
                raise MappingError(
                    f"layer '{sched.name}': event-list write-back needs the "
                    f"layer's spikes (run with keep_spikes=True)"
                )
            out = np.abs(spikes[:, sample].astype(np.int64))
            out_events = cost.region_events(out.reshape(out.shape[0], *sched.out_shape), sched)
        w_bytes, i_bytes = tile_load_bytes(sched, row_events=row_events, tile_events=tile_events)
        load_bytes = w_bytes + i_bytes
        store_bytes = tile_store_bytes(sched, tile_events=out_events)
    else:
        load_bytes, store_bytes = sched.bitmap_tile_bytes
        # The same bytes in every output row: items of one row, repeated.
        store_row = sched.bitmap_store_row
    totals = (
        sched.bitmap_tile_totals
        if sched.spike_format != "event_list"
        else tuple(_byte_totals(a) for a in (load_bytes, store_bytes))
    )
    rate = None if shared is None else shared.get("dram_rate")
    if rate is None:
        rate = cost.dram_rate(hw.dram_bytes_per_cycle)
        if shared is not None:
            shared["dram_rate"] = rate
    latency = hw.dram.latency_cycles
    for name, (_, fsum, bursts) in zip(("loads", "write-backs"), totals, strict=True):
        # A float bound first: the integer cycles below are then exact (no int64 wrap).
        bound = fsum * rate.denominator / rate.numerator
        check_cycle_bound(
            bound + float(latency) * bursts,
            lambda name=name: (
                f"layer '{sched.name}': its DRAM {name} alone need that many at "
                f"{hw.dram_bytes_per_cycle:g} bytes per cycle and {latency} cycles of latency "
                f"per burst (dram.bandwidth_gbps, clock.frequency_mhz, dram.latency_cycles)"
            ),
        )
    buffer = hw.buffers.write_buffer_bytes
    occ = None
    if buffer > 0:

        def occupancy() -> np.ndarray:
            if store_row is not None:
                return np.minimum(_group_each_row(store_row, sched.tiles, g), buffer)
            return np.minimum(_group(np.asarray(store_bytes, np.int64), sched, g), buffer)

        # Bitmap bytes are the schedule's own: one array per schedule, grouping and buffer.
        occ = (
            occupancy()
            if stats is None or sched.spike_format == "event_list"
            else stats.memo(("occupancy", sched, g, buffer), occupancy)
        )
    # The cycle sums come from the kernel's pass; below the bounds checked above (2^48) they
    # are exact in float64, as summing the items in float64 would give them.
    load, load_sum = cost.dram_item_cycles_summed(load_bytes, rate, latency, group=g)
    if prefetched:
        # The first tile's burst leaves out the prefetched bytes; it is in the first item.
        first = int(load_bytes[0, 0, 0, 0])
        saved = cost.burst_cycles(first, rate, latency) - cost.burst_cycles(
            first - prefetched, rate, latency
        )
        load[0] -= saved
        load_sum -= saved
    wb_latency = 0 if occ is not None else latency
    if store_row is None:
        writeback, wb_sum = cost.dram_item_cycles_summed(store_bytes, rate, wb_latency, group=g)
    else:
        row_items, row_sum = cost.dram_item_cycles_summed(store_row, rate, wb_latency, group=g)
        writeback, wb_sum = _repeat_rows(row_items, sched.tiles), sched.tiles[1] * row_sum
    wait, cause = _neuron_wait(mapping, sched, g)
    return {
        "load": load,
        "neuron": neuron,
        "writeback": writeback,
        "neuron_wait": (wait, cause, _fsum(wait)),
        "load_float": float(load_sum),
        "neuron_float": neuron_float,
        "wb_float": float(wb_sum),
        "load_bytes": totals[0][0],
        "store_bytes": totals[1][0],
        "updates": int(updates[0]),
        "occ": occ,
        "rate": rate,
    }


def warm_up() -> None:
    """Load the compiled kernels a lean max-plus run calls (``pipeline_stream.stream_summary``,
    group zero skipping, DRAM cycles per item) from Numba's cache, in the specialisations a
    sweep point uses: Numba keys them by dtype and by whether an array is read-only (the
    ``TraceStats`` memo freezes its arrays), each a separate load of ~10 ms. The first load in
    a process also sets up Numba's compiler (about 0.4 s), so a sweep does this in a worker
    before its first point."""
    one = np.ones(1, np.int64)
    stream_summary(
        [(one, one, one, one)], np.ones((1, 3), np.int64), np.zeros(1, np.int64), 1, psum=False
    )
    # Activity maps: |spikes| or levels as int8, window sums of pooled inputs as int16.
    for dtype in (np.int8, np.int16):
        for frozen in (False, True):
            maps = np.ones((1, 1, 1, 1), dtype)
            maps.flags.writeable = not frozen
            cost._group_levels(maps, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1)
    for frozen in (False, True):
        tile_bytes = np.ones((1, 1, 1, 1), np.int64)
        tile_bytes.flags.writeable = not frozen
        cost.dram_item_cycles(tile_bytes, 1.0, 0)
