"""Exact max-plus evaluation of the PE array's four-stage pipeline (load → PE → neuron → write).

Imports nothing from neurosim. ``timing.pe_array``'s SimPy processes and this module compute the
same times: every stage serves its items in order, so each completion time is a max over the
events it waits for plus its own cycles (a max-plus system), and the SimPy event order at equal
times never changes a time. ``tests/timing/test_pipeline.py`` checks the two engines give the
same intervals, event counts and finish times, bit for bit.

Per item i (``c_*`` = queue capacities; g_{i-c} = −∞ for i < c):

* load: works L_i cycles from the previous put, then puts into the load queue at
  lp_i = max(end, pe_get_{i−c_load}) (waiting = ``backpressure``);
* PE: gets at pg_i = max(pp_{i−1}, lp_i) (waiting = ``memory``); without overlap also waits for
  the neuron unit to drain item i−1 (``backpressure``); works P_i; puts at
  pp_i = max(end, neuron_get_{i−c_pe}) (``backpressure``);
* neuron: gets at ng_i = max(np_{i−1}, pp_i) (``dependency``), waits its family's H_i cycles
  (``NeuronSpec.neuron_wait``; recorded under that cause), works N_i, puts at
  np_i = max(end, wb_get_{i−c_wb}) (``backpressure``);
* write-back: gets at wg_i = max(we_{i−1}, np_i) (``dependency``), works W_i.
"""

from __future__ import annotations

import numba
import numpy as np

# Columns of the per-item time array returned by ``layer_times``.
LOAD_START, LOAD_END, LOAD_PUT = 0, 1, 2
PE_READY, PE_GOT, PE_PSUM, PE_END, PE_PUT = 3, 4, 5, 6, 7
NEURON_READY, NEURON_GOT, NEURON_WAITED, NEURON_END, NEURON_PUT = 8, 9, 10, 11, 12
WB_READY, WB_GOT, WB_END = 13, 14, 15
NUM_TIMES = 16


@numba.njit(cache=True)
def _layer_times(
    t0: int,
    load: np.ndarray,
    pe: np.ndarray,
    neuron: np.ndarray,
    wb: np.ndarray,
    wait: np.ndarray,
    cap_load: int,
    cap_pe: int,
    cap_wb: int,
    psum: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    n = load.shape[0]
    out = np.empty((n, NUM_TIMES), np.int64)
    load_t = t0
    pe_t = t0
    neuron_t = t0
    wb_t = t0
    for i in range(n):
        # load: work, then put (blocks while the queue holds cap_load items)
        out[i, LOAD_START] = load_t
        end = load_t + load[i]
        out[i, LOAD_END] = end
        put = end
        if i >= cap_load and out[i - cap_load, PE_GOT] > put:
            put = out[i - cap_load, PE_GOT]
        out[i, LOAD_PUT] = put
        load_t = put
        # PE: get (memory), [psum token (backpressure)], work, put
        out[i, PE_READY] = pe_t
        got = pe_t if pe_t > put else put
        out[i, PE_GOT] = got
        token = got
        if psum and i > 0 and out[i - 1, NEURON_END] > token:
            token = out[i - 1, NEURON_END]
        out[i, PE_PSUM] = token
        end = token + pe[i]
        out[i, PE_END] = end
        put = end
        if i >= cap_pe and out[i - cap_pe, NEURON_GOT] > put:
            put = out[i - cap_pe, NEURON_GOT]
        out[i, PE_PUT] = put
        pe_t = put
        # neuron unit: get (dependency), wait (the family's cause), work, put
        out[i, NEURON_READY] = neuron_t
        got = neuron_t if neuron_t > put else put
        out[i, NEURON_GOT] = got
        waited = got + wait[i]
        out[i, NEURON_WAITED] = waited
        end = waited + neuron[i]
        out[i, NEURON_END] = end
        put = end
        if i >= cap_wb and out[i - cap_wb, WB_GOT] > put:
            put = out[i - cap_wb, WB_GOT]
        out[i, NEURON_PUT] = put
        neuron_t = put
        # write-back: get (dependency), work
        out[i, WB_READY] = wb_t
        got = wb_t if wb_t > put else put
        out[i, WB_GOT] = got
        end = got + wb[i]
        out[i, WB_END] = end
        wb_t = end
    return out


def _int64_array(a) -> np.ndarray:
    """``a`` as a writable C-contiguous int64 array, copied only if it is not one already: one
    compiled signature per kernel (a read-only memoised array would add one)."""
    if (
        isinstance(a, np.ndarray)
        and a.dtype == np.int64
        and a.flags.c_contiguous
        and a.flags.writeable
    ):
        return a
    return np.require(a, np.int64, "CW")


def layer_times(
    t0: int,
    load,
    pe,
    neuron,
    wb,
    *,
    cap_load: int,
    cap_pe: int,
    cap_wb: int,
    psum: bool,
    wait=None,
) -> np.ndarray:
    """Times (cycles) of every item of one layer's pipeline started at ``t0``.

    Parameters
    ----------
    t0
        Cycle at which the four stages start (the previous layer's last write-back).
    load, pe, neuron, wb
        Cycles of each item in each stage (equal lengths).
    wait
        Cycles the neuron unit waits before each item's update (None: none).
    cap_load, cap_pe, cap_wb
        Capacities (items) of the queues after load, PE and neuron unit.
    psum
        True without neuron/PE overlap: a one-item partial-sum buffer makes the PE array wait
        until the neuron unit has finished the previous item.

    Returns
    -------
    numpy.ndarray
        int64 [items, ``NUM_TIMES``], columns named by this module's constants.
    """
    if wait is None:
        wait = np.zeros(len(load), np.int64)
    arrays = [_int64_array(a) for a in (load, pe, neuron, wb, wait)]
    n = arrays[0].shape[0]
    if any(a.shape != (n,) for a in arrays):
        raise ValueError("load, pe, neuron, wb and wait need one cycle count per item each")
    if min(cap_load, cap_pe, cap_wb) < 1:
        raise ValueError("queue capacities must be >= 1")
    return _layer_times(int(t0), *arrays, int(cap_load), int(cap_pe), int(cap_wb), bool(psum))


# Interval columns: (stage 0..3, kind 0 busy / 1 stall, cause code, start column, end column),
# grouped by stage, in the order a stage's process records them for one item. Cause codes:
# 0 none (busy), 1 memory, 2 dependency, 3 backpressure, 4 the neuron family's wait cause.
ITEM_INTERVALS = np.array(
    [
        (0, 0, 0, LOAD_START, LOAD_END),
        (0, 1, 3, LOAD_END, LOAD_PUT),
        (1, 1, 1, PE_READY, PE_GOT),
        (1, 1, 3, PE_GOT, PE_PSUM),
        (1, 0, 0, PE_PSUM, PE_END),
        (1, 1, 3, PE_END, PE_PUT),
        (2, 1, 2, NEURON_READY, NEURON_GOT),
        (2, 1, 4, NEURON_GOT, NEURON_WAITED),
        (2, 0, 0, NEURON_WAITED, NEURON_END),
        (2, 1, 3, NEURON_END, NEURON_PUT),
        (3, 1, 2, WB_READY, WB_GOT),
        (3, 0, 0, WB_GOT, WB_END),
    ],
    np.int64,
)
CAUSES = ("", "memory", "dependency", "backpressure", "")
"""Cause names of the codes in ``ITEM_INTERVALS`` and ``layer_intervals``; code ``WAIT_CODE``
stands for the layer's neuron-wait cause, which the caller names."""

WAIT_CODE = 4
"""Cause code of the neuron unit's wait (``NeuronSpec.neuron_wait``)."""


@numba.njit(cache=True)
def _layer_intervals(
    times: np.ndarray, spec: np.ndarray, first_start: int, first_end: int
) -> np.ndarray:  # pragma: no cover - compiled
    n = times.shape[0]
    out = np.empty((1 + n * spec.shape[0], 5), np.int64)
    k = 0
    if first_end > first_start:
        out[0, 0] = 0
        out[0, 1] = 1
        out[0, 2] = 2
        out[0, 3] = first_start
        out[0, 4] = first_end
        k = 1
    j0 = 0
    while j0 < spec.shape[0]:
        j1 = j0
        while j1 < spec.shape[0] and spec[j1, 0] == spec[j0, 0]:
            j1 += 1
        for i in range(n):
            for j in range(j0, j1):
                a = times[i, spec[j, 3]]
                b = times[i, spec[j, 4]]
                if b > a:
                    out[k, 0] = spec[j, 0]
                    out[k, 1] = spec[j, 1]
                    out[k, 2] = spec[j, 2]
                    out[k, 3] = a
                    out[k, 4] = b
                    k += 1
        j0 = j1
    return out[:k]


def layer_intervals(times: np.ndarray, *, load_wait: tuple[int, int]) -> np.ndarray:
    """The non-empty intervals of one layer as int64 rows (stage, kind, cause, start, end).

    Stage by stage (load, PE, neuron, write-back), each in time order — the order its process
    records them; ``load_wait`` = (start, end) of the load stage's wait for the layer to begin
    (a ``dependency`` stall, recorded first). Codes: ``ITEM_INTERVALS``, ``CAUSES``.
    """
    return _layer_intervals(
        np.ascontiguousarray(times, np.int64), ITEM_INTERVALS, int(load_wait[0]), int(load_wait[1])
    )


NUM_CAUSES = len(CAUSES)

NUM_TOTALS = 4 * 2 * NUM_CAUSES
"""Cells of ``stream_summary``'s totals: (stage 0..3, kind 0..1, cause code), row-major:
``layer_intervals`` summed per cell; a cell is non-zero exactly when that stage has at least
one non-empty interval of that kind and cause."""


@numba.njit(cache=True)
def _layer_totals(
    times: np.ndarray, spec: np.ndarray, first_start: int, first_end: int
) -> np.ndarray:  # pragma: no cover - compiled
    out = np.zeros(NUM_TOTALS, np.int64)
    if first_end > first_start:
        out[(0 * 2 + 1) * NUM_CAUSES + 2] += first_end - first_start
    for i in range(times.shape[0]):
        for j in range(spec.shape[0]):
            d = times[i, spec[j, 4]] - times[i, spec[j, 3]]
            if d > 0:
                out[(spec[j, 0] * 2 + spec[j, 1]) * NUM_CAUSES + spec[j, 2]] += d
    return out


@numba.njit(cache=True)
def _stream_summary(
    load: np.ndarray,
    pe: np.ndarray,
    neuron: np.ndarray,
    wb: np.ndarray,
    wait: np.ndarray,
    starts: np.ndarray,
    caps: np.ndarray,
    layer: np.ndarray,
    num_layers: int,
    psum: bool,
    spec: np.ndarray,
    cells: np.ndarray,
    ends: np.ndarray,
) -> int:  # pragma: no cover - compiled
    # Results go into ``cells`` and ``ends`` (a cached kernel that returned a tuple holding
    # an array failed to box it after a reload: "descr is NULL"); returns the event count.
    load_idle = np.zeros(num_layers, np.int64)
    now = 0
    events = 2  # the controller process: its start and its end
    for blk in range(starts.shape[0] - 1):
        lo = starts[blk]
        hi = starts[blk + 1]
        n = hi - lo
        t0 = now
        times = _layer_times(
            t0,
            load[lo:hi],
            pe[lo:hi],
            neuron[lo:hi],
            wb[lo:hi],
            wait[lo:hi],
            caps[blk, 0],
            caps[blk, 1],
            caps[blk, 2],
            psum,
        )
        cells[blk, :] = _layer_totals(times, spec, load_idle[layer[blk]], t0)
        nonzero = 0
        for i in range(lo, hi):
            nonzero += (load[i] != 0) + (pe[i] != 0) + (neuron[i] != 0) + (wb[i] != 0)
            nonzero += wait[i] != 0
        events += 8 + 6 * n + nonzero + (2 * n if psum else 0)
        if n > 0:
            now = times[n - 1, WB_END]
            load_idle[layer[blk]] = times[n - 1, LOAD_PUT]
        else:
            load_idle[layer[blk]] = t0
        ends[blk] = now
    return events


def stream_summary(
    blocks: list[tuple[np.ndarray, ...]],
    caps: np.ndarray,
    layer: np.ndarray,
    num_layers: int,
    *,
    psum: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    """A whole stream of layer pipelines, back to back, in one compiled call, for runs that
    keep no intervals: (cells, ends, events).

    ``blocks`` are the (load, pe, neuron, wb[, wait]) item cycles of each layer run in order
    (sample by sample, layer by layer; ``wait``: the neuron unit's wait, none if left out);
    block b starts when block b−1 has written back its last item and runs on layer
    ``layer[b]`` with the queue capacities ``caps[b]`` (load, PE, neuron).
    ``cells`` [blocks, ``NUM_TOTALS``]: ``layer_intervals`` of each block summed per (stage,
    kind, cause), index (stage·2 + kind)·NUM_CAUSES + cause, the load stage's wait counted
    since the same layer's last load put; ``ends``: each block's last write-back; ``events``:
    ``layer_events`` summed, plus the controller's 2.
    """
    if caps.shape != (len(blocks), 3) or layer.shape != (len(blocks),):
        raise ValueError("caps needs 3 capacities and layer one index per block")
    if len(blocks) and int(caps.min()) < 1:
        raise ValueError("queue capacities must be >= 1")
    sizes = [len(b[0]) for b in blocks]
    blocks = [
        b if len(b) == 5 else (*b, np.zeros(n, np.int64))
        for b, n in zip(blocks, sizes, strict=True)
    ]
    if any(len(a) != n for b, n in zip(blocks, sizes, strict=True) for a in b):
        raise ValueError("load, pe, neuron, wb and wait need one cycle count per item each")
    starts = np.zeros(len(blocks) + 1, np.int64)
    np.cumsum(sizes, out=starts[1:])
    arrays = [
        np.concatenate([b[j] for b in blocks]).astype(np.int64, copy=False)
        if blocks
        else np.zeros(0, np.int64)
        for j in range(5)
    ]
    cells = np.zeros((len(blocks), NUM_TOTALS), np.int64)
    ends = np.zeros(len(blocks), np.int64)
    events = _stream_summary(
        *arrays,
        starts,
        np.ascontiguousarray(caps, np.int64),
        np.ascontiguousarray(layer, np.int64),
        int(num_layers),
        bool(psum),
        ITEM_INTERVALS,
        cells,
        ends,
    )
    return cells, ends, int(events)


def layer_events(load, pe, neuron, wb, *, psum: bool, wait=None) -> int:
    """SimPy events one layer's four processes take (what ``env.step()`` would count).

    Each process: its start and its end (8). Load: a timeout per non-zero item, a put per item.
    PE: get, put, a timeout per non-zero item, and the partial-sum token without overlap.
    Neuron: get, put, a timeout per non-zero wait and per non-zero update, and the token it
    returns. Write-back: get and timeout.
    """
    n = len(load)
    arrays = (load, pe, neuron, wb) if wait is None else (load, pe, neuron, wb, wait)
    nonzero = sum(int(np.count_nonzero(np.asarray(a))) for a in arrays)
    return 8 + 6 * n + nonzero + (2 * n if psum else 0)
