"""A whole PE-array stream of layer pipelines summed in one compiled pass (``stream_summary``):
the per-(stage, kind, cause) totals, block ends and SimPy event count of a run that keeps no
intervals.

Imports ``timing.pipeline`` (its recurrence, interval codes and cell layout). The kernel
evaluates ``pipeline.layer_times``'s recurrence item by item and adds each interval's length to
its cell as it goes, instead of storing every item's 18 times and summing them afterwards
(about 3x faster on a VGG-16 stream); ``tests/timing/test_pipeline.py`` checks it against the
layer-by-layer functions and the SimPy processes.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.timing.pipeline import NUM_CAUSES, NUM_TOTALS

# Cells (stage·2 + kind)·NUM_CAUSES + cause of the intervals ``pipeline.ITEM_INTERVALS`` and
# ``pipeline._TAILS`` name (kind 0 busy, 1 stall; causes 1 memory, 2 dependency,
# 3 backpressure, 4 the neuron family's wait).
_LOAD_BUSY = (0 * 2 + 0) * NUM_CAUSES + 0
_LOAD_DEPENDENCY = (0 * 2 + 1) * NUM_CAUSES + 2
_LOAD_BACKPRESSURE = (0 * 2 + 1) * NUM_CAUSES + 3
_PE_BUSY = (1 * 2 + 0) * NUM_CAUSES + 0
_PE_MEMORY = (1 * 2 + 1) * NUM_CAUSES + 1
_PE_BACKPRESSURE = (1 * 2 + 1) * NUM_CAUSES + 3
_NEURON_BUSY = (2 * 2 + 0) * NUM_CAUSES + 0
_NEURON_DEPENDENCY = (2 * 2 + 1) * NUM_CAUSES + 2
_NEURON_BACKPRESSURE = (2 * 2 + 1) * NUM_CAUSES + 3
_NEURON_WAIT = (2 * 2 + 1) * NUM_CAUSES + 4
_WB_BUSY = (3 * 2 + 0) * NUM_CAUSES + 0
_WB_MEMORY = (3 * 2 + 1) * NUM_CAUSES + 1
_WB_DEPENDENCY = (3 * 2 + 1) * NUM_CAUSES + 2


@numba.njit(cache=True, nogil=True)
def _stream_cells(
    load: np.ndarray,
    pe: np.ndarray,
    neuron: np.ndarray,
    wb: np.ndarray,
    wait: np.ndarray,
    occ: np.ndarray,
    starts: np.ndarray,
    pe_starts: np.ndarray,
    caps: np.ndarray,
    layer: np.ndarray,
    prefetch: np.ndarray,
    num_layers: int,
    psum: bool,
    buffer: int,
    latency: int,
    cells: np.ndarray,
    ends: np.ndarray,
) -> int:  # pragma: no cover - compiled
    # Block b's PE items are pe[pe_starts[b]:pe_starts[b + 1]] repeated (its o blocks see the
    # same input). Results go into ``cells`` (zeros on entry) and ``ends`` (a cached kernel that
    # returned a tuple holding an array failed to box it after a reload); returns the event
    # count.
    blocks = starts.shape[0] - 1
    longest = 0
    for blk in range(blocks):
        longest = max(longest, starts[blk + 1] - starts[blk])
    # The times a later item looks back at: gets (queue capacities) and posted-write ends.
    pe_got = np.empty(longest, np.int64)
    neuron_got = np.empty(longest, np.int64)
    wb_got = np.empty(longest, np.int64)
    wb_done = np.empty(longest, np.int64)
    load_idle = np.zeros(num_layers, np.int64)
    now = 0
    events = 2  # the controller process: its start and its end
    for blk in range(blocks):
        lo = starts[blk]
        n = starts[blk + 1] - lo
        pe_lo = pe_starts[blk]
        pe_hi = pe_starts[blk + 1]
        p = pe_lo
        cap_load = caps[blk, 0]
        cap_pe = caps[blk, 1]
        cap_wb = caps[blk, 2]
        c = cells[blk]
        t0 = now
        # The load stage waited for the layer since it was last free (dependency).
        idle = load_idle[layer[blk]]
        if t0 > idle:
            c[_LOAD_DEPENDENCY] += t0 - idle
        load_t = t0
        pe_t = t0
        neuron_t = t0
        wb_t = t0
        drained = t0
        neuron_end = t0
        head = 0  # oldest posted write still in the buffer
        level = 0  # bytes of write buffer held
        ev = 8 + 6 * n + (2 * n if psum else 0)
        for i in range(n):
            k = lo + i
            # load: work, then put (blocks while the queue holds cap_load items)
            work = load[k]
            if work > 0:
                c[_LOAD_BUSY] += work
            end = load_t + work
            put = end
            if i >= cap_load and pe_got[i - cap_load] > put:
                put = pe_got[i - cap_load]
            if put > end:
                c[_LOAD_BACKPRESSURE] += put - end
            load_t = put
            # PE: get (memory), [psum token (backpressure)], work, put (backpressure)
            got = pe_t if pe_t > put else put
            if got > pe_t:
                c[_PE_MEMORY] += got - pe_t
            pe_got[i] = got
            token = got
            if psum and i > 0 and neuron_end > token:
                token = neuron_end
            if token > got:
                c[_PE_BACKPRESSURE] += token - got
            pe_work = pe[p]
            p += 1
            if p == pe_hi:
                p = pe_lo
            work = pe_work
            if work > 0:
                c[_PE_BUSY] += work
            end = token + work
            put = end
            if i >= cap_pe and neuron_got[i - cap_pe] > put:
                put = neuron_got[i - cap_pe]
            if put > end:
                c[_PE_BACKPRESSURE] += put - end
            pe_t = put
            # neuron unit: get (dependency), wait (the family's cause), work, put
            got = neuron_t if neuron_t > put else put
            if got > neuron_t:
                c[_NEURON_DEPENDENCY] += got - neuron_t
            neuron_got[i] = got
            held = wait[k]
            if held > 0:
                c[_NEURON_WAIT] += held
            work = neuron[k]
            if work > 0:
                c[_NEURON_BUSY] += work
            end = got + held + work
            neuron_end = end
            put = end
            if i >= cap_wb and wb_got[i - cap_wb] > put:
                put = wb_got[i - cap_wb]
            if put > end:
                c[_NEURON_BACKPRESSURE] += put - end
            neuron_t = put
            # write-back: get (dependency), room in the write buffer (memory), work
            got = wb_t if wb_t > put else put
            if got > wb_t:
                c[_WB_DEPENDENCY] += got - wb_t
            wb_got[i] = got
            space = got
            bytes_held = occ[k]
            if bytes_held > 0:
                # Posted writes leave the buffer in order: drop the oldest until this fits.
                while head < i and level + bytes_held > buffer:
                    if occ[lo + head] > 0:
                        if wb_done[head] > space:
                            space = wb_done[head]
                        level -= occ[lo + head]
                    head += 1
                level += bytes_held
            if space > got:
                c[_WB_MEMORY] += space - got
            work = wb[k]
            if work > 0:
                c[_WB_BUSY] += work
            end = space + work
            done = end + latency if bytes_held > 0 else end
            wb_done[i] = done
            if done > drained:
                drained = done
            wb_t = end
            ev += (load[k] != 0) + (pe_work != 0) + (neuron[k] != 0) + (wb[k] != 0) + (held != 0)
            if bytes_held > 0:
                ev += 2 + (latency > 0)
        # After the items: the load stage's prefetch (busy), the write-back stage's wait for its
        # last posted write (memory); the layer ends when both are done.
        ahead = prefetch[blk]
        if ahead > 0:
            c[_LOAD_BUSY] += ahead
        if drained > wb_t:
            c[_WB_MEMORY] += drained - wb_t
        ev += (ahead > 0) + (drained > wb_t)
        events += ev
        load_free = load_t + ahead
        load_idle[layer[blk]] = load_free
        now = drained if drained > load_free else load_free
        ends[blk] = now
    return events


def _joined(parts: list[np.ndarray | None], sizes: list[int]) -> np.ndarray:
    """int64 concatenation of one column of every block (a None part: that many zeros)."""
    if all(p is None for p in parts):
        return np.zeros(sum(sizes), np.int64)
    return np.concatenate(
        [np.zeros(n, np.int64) if p is None else p for p, n in zip(parts, sizes, strict=True)]
        or [np.zeros(0, np.int64)]
    ).astype(np.int64, copy=False)


def stream_summary(
    blocks: list[tuple[np.ndarray, ...]],
    caps: np.ndarray,
    layer: np.ndarray,
    num_layers: int,
    *,
    psum: bool,
    prefetch: np.ndarray | None = None,
    buffer: int = 0,
    latency: int = 0,
    pe_repeats: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """A whole stream of layer pipelines, back to back, in one compiled call, for runs that
    keep no intervals: (cells, ends, events).

    ``blocks`` are the (load, pe, neuron, wb[, wait[, occ]]) item cycles of each layer run in
    order (sample by sample, layer by layer; ``wait``: the neuron unit's wait, ``occ``: the
    write-buffer bytes of posted writes, none if left out or None); block b starts at the end
    (``pipeline.layer_end``) of block b−1 and runs on layer ``layer[b]`` with the queue
    capacities ``caps[b]`` (load, PE, neuron) and ``prefetch[b]`` cycles of weight prefetch
    after its last load. ``buffer`` and ``latency`` are the write buffer's bytes and a posted
    write's completion latency (``pipeline.layer_times``). ``pe_repeats[b]``: block b's PE
    cycles are its ``pe`` repeated that many times (``numpy.tile``; default once), as a layer's
    ``o`` blocks repeat the cycles of one block (``LayerCosts.pe_block``).
    ``cells`` [blocks, ``pipeline.NUM_TOTALS``]: ``pipeline.layer_intervals`` of each block
    summed per (stage, kind, cause), index (stage·2 + kind)·NUM_CAUSES + cause, the load
    stage's wait counted since the same layer's load stage was last free; ``ends``: each
    block's end; ``events``: ``pipeline.layer_events`` summed, plus the controller's 2.
    """
    if caps.shape != (len(blocks), 3) or layer.shape != (len(blocks),):
        raise ValueError("caps needs 3 capacities and layer one index per block")
    if len(blocks) and int(caps.min()) < 1:
        raise ValueError("queue capacities must be >= 1")
    prefetch = (
        np.zeros(len(blocks), np.int64)
        if prefetch is None
        else np.ascontiguousarray(prefetch, np.int64)
    )
    if prefetch.shape != (len(blocks),):
        raise ValueError("prefetch needs one cycle count per block")
    repeats = (
        np.ones(len(blocks), np.int64)
        if pe_repeats is None
        else np.ascontiguousarray(pe_repeats, np.int64)
    )
    if repeats.shape != (len(blocks),) or (len(blocks) and int(repeats.min()) < 1):
        raise ValueError("pe_repeats needs one count >= 1 per block")
    sizes = [len(b[0]) for b in blocks]
    pe_sizes = [n if b[1] is None else len(b[1]) for b, n in zip(blocks, sizes, strict=True)]
    if any(
        a is not None and (len(a) * int(r) if j == 1 else len(a)) != n
        for b, n, r in zip(blocks, sizes, repeats, strict=True)
        for j, a in enumerate(b)
    ):
        raise ValueError(
            "load, pe, neuron, wb, wait and occ need one value (cycle count or bytes) per item "
            "each (pe: per item of one of pe_repeats equal runs)"
        )
    starts = np.zeros(len(blocks) + 1, np.int64)
    np.cumsum(sizes, out=starts[1:])
    pe_starts = np.zeros(len(blocks) + 1, np.int64)
    np.cumsum(pe_sizes, out=pe_starts[1:])
    arrays = [
        _joined([b[j] if j < len(b) else None for b in blocks], pe_sizes if j == 1 else sizes)
        for j in range(6)
    ]
    if arrays[5].size and (int(arrays[5].min()) < 0 or int(arrays[5].max()) > int(buffer)):
        raise ValueError(f"write-buffer occupancies must be in [0, buffer = {buffer}]")
    cells = np.zeros((len(blocks), NUM_TOTALS), np.int64)
    ends = np.zeros(len(blocks), np.int64)
    events = _stream_cells(
        *arrays,
        starts,
        pe_starts,
        np.ascontiguousarray(caps, np.int64),
        np.ascontiguousarray(layer, np.int64),
        prefetch,
        int(num_layers),
        bool(psum),
        int(buffer),
        int(latency),
        cells,
        ends,
    )
    return cells, ends, int(events)
