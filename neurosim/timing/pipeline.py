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
WB_READY, WB_GOT, WB_SPACE, WB_END, WB_DONE = 13, 14, 15, 16, 17
NUM_TIMES = 18


@numba.njit(cache=True, nogil=True)
def _layer_times(
    t0: int,
    load: np.ndarray,
    pe: np.ndarray,
    neuron: np.ndarray,
    wb: np.ndarray,
    wait: np.ndarray,
    occ: np.ndarray,
    cap_load: int,
    cap_pe: int,
    cap_wb: int,
    psum: bool,
    buffer: int,
    latency: int,
) -> np.ndarray:  # pragma: no cover - compiled
    n = load.shape[0]
    out = np.empty((n, NUM_TIMES), np.int64)
    load_t = t0
    pe_t = t0
    neuron_t = t0
    wb_t = t0
    head = 0  # oldest posted write still in the buffer
    level = 0  # bytes of write buffer held
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
        # write-back: get (dependency), room in the write buffer (memory), work
        out[i, WB_READY] = wb_t
        got = wb_t if wb_t > put else put
        out[i, WB_GOT] = got
        space = got
        if occ[i] > 0:
            # Posted writes leave the buffer in order: drop the oldest until this one fits.
            while head < i and level + occ[i] > buffer:
                if occ[head] > 0:
                    if out[head, WB_DONE] > space:
                        space = out[head, WB_DONE]
                    level -= occ[head]
                head += 1
            level += occ[i]
        out[i, WB_SPACE] = space
        end = space + wb[i]
        out[i, WB_END] = end
        out[i, WB_DONE] = end + latency if occ[i] > 0 else end
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
    occ=None,
    buffer: int = 0,
    latency: int = 0,
) -> np.ndarray:
    """Times (cycles) of every item of one layer's pipeline started at ``t0``.

    Parameters
    ----------
    t0
        Cycle at which the four stages start (the previous layer's end, ``layer_end``).
    load, pe, neuron, wb
        Cycles of each item in each stage (equal lengths); for a posted write ``wb`` is the
        transfer alone.
    wait
        Cycles the neuron unit waits before each item's update (None: none).
    occ
        Bytes of write buffer each item's posted write holds until it completes (None or 0:
        the write is not posted: ``wb`` is its whole cost). Each must be <= ``buffer``.
    buffer
        Write-buffer capacity (bytes).
    latency
        Cycles from the end of a posted write's transfer until it leaves the buffer.
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
    if occ is None:
        occ = np.zeros(len(load), np.int64)
    arrays = [_int64_array(a) for a in (load, pe, neuron, wb, wait, occ)]
    n = arrays[0].shape[0]
    if any(a.shape != (n,) for a in arrays):
        raise ValueError(
            "load, pe, neuron, wb, wait and occ need one value (cycle count or bytes) per item each"
        )
    if min(cap_load, cap_pe, cap_wb) < 1:
        raise ValueError("queue capacities must be >= 1")
    if n and (int(arrays[5].min()) < 0 or int(arrays[5].max()) > int(buffer)):
        raise ValueError(f"write-buffer occupancies must be in [0, buffer = {buffer}]")
    return _layer_times(
        int(t0),
        *arrays,
        int(cap_load),
        int(cap_pe),
        int(cap_wb),
        bool(psum),
        int(buffer),
        int(latency),
    )


@numba.njit(cache=True, nogil=True)
def _layer_end(times: np.ndarray, t0: int, prefetch: int) -> tuple:  # pragma: no cover
    """(load stage free, write-back drained, layer end) of one layer's times."""
    n = times.shape[0]
    last_put = times[n - 1, LOAD_PUT] if n > 0 else t0
    drained = times[n - 1, WB_END] if n > 0 else t0
    for i in range(n):
        if times[i, WB_DONE] > drained:
            drained = times[i, WB_DONE]
    load_free = last_put + prefetch
    end = drained if drained > load_free else load_free
    return load_free, drained, end


def layer_end(times: np.ndarray, t0: int, prefetch: int = 0) -> tuple[int, int, int]:
    """(load_free, drained, end) of one layer started at ``t0`` (``layer_times``).

    ``load_free``: the load stage's last put plus the ``prefetch`` cycles it then spends on the
    next layer's first weight block; ``drained``: the last write-back, or the last posted
    write leaving the buffer; ``end`` = max of the two, when the next layer may start.
    """
    a, b, c = _layer_end(np.ascontiguousarray(times, np.int64), int(t0), int(prefetch))
    return int(a), int(b), int(c)


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
        (3, 1, 1, WB_GOT, WB_SPACE),
        (3, 0, 0, WB_SPACE, WB_END),
    ],
    np.int64,
)
CAUSES = ("", "memory", "dependency", "backpressure", "")
"""Cause names of the codes in ``ITEM_INTERVALS`` and ``layer_intervals``; code ``WAIT_CODE``
stands for the layer's neuron-wait cause, which the caller names."""

WAIT_CODE = 4
"""Cause code of the neuron unit's wait (``NeuronSpec.neuron_wait``)."""

# After its items, a stage may record one more interval: the load stage's prefetch of the next
# layer's weights (busy) and the write-back stage's wait for its posted writes (memory).
_TAILS = np.array([(0, 0, 0), (3, 1, 1)], np.int64)


@numba.njit(cache=True, nogil=True)
def _tails(times: np.ndarray, t0: int, prefetch: int) -> np.ndarray:  # pragma: no cover
    """[2, 2] (start, end) of the load stage's prefetch and the write-back stage's drain."""
    n = times.shape[0]
    load_free, drained, _ = _layer_end(times, t0, prefetch)
    out = np.empty((2, 2), np.int64)
    out[0, 0] = load_free - prefetch
    out[0, 1] = load_free
    out[1, 0] = times[n - 1, WB_END] if n > 0 else t0
    out[1, 1] = drained
    return out


@numba.njit(cache=True, nogil=True)
def _layer_intervals(
    times: np.ndarray,
    spec: np.ndarray,
    first_start: int,
    first_end: int,
    tails: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    n = times.shape[0]
    out = np.empty((3 + n * spec.shape[0], 5), np.int64)
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
        for r in range(_TAILS.shape[0]):
            if _TAILS[r, 0] == spec[j0, 0] and tails[r, 1] > tails[r, 0]:
                out[k, 0] = _TAILS[r, 0]
                out[k, 1] = _TAILS[r, 1]
                out[k, 2] = _TAILS[r, 2]
                out[k, 3] = tails[r, 0]
                out[k, 4] = tails[r, 1]
                k += 1
        j0 = j1
    return out[:k]


def layer_intervals(
    times: np.ndarray, *, load_wait: tuple[int, int], t0: int | None = None, prefetch: int = 0
) -> np.ndarray:
    """The non-empty intervals of one layer as int64 rows (stage, kind, cause, start, end).

    Stage by stage (load, PE, neuron, write-back), each in time order — the order its process
    records them; ``load_wait`` = (start, end) of the load stage's wait for the layer to begin
    (a ``dependency`` stall, recorded first; its end is the layer's start ``t0`` unless given).
    After its items the load stage records its ``prefetch`` (busy) and the write-back stage its
    wait for the last posted write (``memory``). Codes: ``ITEM_INTERVALS``, ``CAUSES``.
    """
    start = int(load_wait[1]) if t0 is None else int(t0)
    times = np.ascontiguousarray(times, np.int64)
    return _layer_intervals(
        times,
        ITEM_INTERVALS,
        int(load_wait[0]),
        int(load_wait[1]),
        _tails(times, start, int(prefetch)),
    )


NUM_CAUSES = len(CAUSES)

NUM_TOTALS = 4 * 2 * NUM_CAUSES
"""Cells of ``pipeline_stream.stream_summary``'s totals: (stage 0..3, kind 0..1, cause code),
row-major: ``layer_intervals`` summed per cell; a cell is non-zero exactly when that stage
has at least one non-empty interval of that kind and cause."""


@numba.njit(cache=True, nogil=True)
def _events(
    load: np.ndarray,
    pe: np.ndarray,
    neuron: np.ndarray,
    wb: np.ndarray,
    wait: np.ndarray,
    occ: np.ndarray,
    psum: bool,
    latency: int,
    prefetch: int,
    drain: int,
) -> int:  # pragma: no cover - compiled
    n = load.shape[0]
    events = 8 + 6 * n + (2 * n if psum else 0)
    for i in range(n):
        events += (load[i] != 0) + (pe[i] != 0) + (neuron[i] != 0) + (wb[i] != 0)
        events += wait[i] != 0
        if occ[i] > 0:
            events += 2 + (latency > 0)
    return events + (prefetch > 0) + (drain > 0)


def layer_events(
    load,
    pe,
    neuron,
    wb,
    *,
    psum: bool,
    wait=None,
    occ=None,
    latency: int = 0,
    prefetch: int = 0,
    drain: int = 0,
) -> int:
    """SimPy events one layer's four processes take (what ``env.step()`` would count).

    Each process: its start and its end (8). Load: a timeout per non-zero item, a put per item,
    and a timeout for a non-zero ``prefetch``. PE: get, put, a timeout per non-zero item, and
    the partial-sum token without overlap. Neuron: get, put, a timeout per non-zero wait and
    per non-zero update, and the token it returns. Write-back: get and timeout; a posted write
    (``occ`` > 0) adds its put into the write buffer, the completion timeout (when ``latency``
    > 0) and its get out of the buffer; a non-zero ``drain`` (the wait for the last posted
    write, ``layer_end``) one timeout.
    """
    n = len(load)
    cols = [
        _int64_array(np.zeros(n, np.int64) if a is None else a)
        for a in (load, pe, neuron, wb, wait, occ)
    ]
    return int(_events(*cols, bool(psum), int(latency), int(prefetch), int(drain)))
