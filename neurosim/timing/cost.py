"""Cycle formulas of the PE-array accelerator: pure functions of arrays, no SimPy.

Imports ``mapping.pe_array`` only (for the schedule type and the reuse rule). Every function
computes whole per-tile arrays from a layer's input activity (``timing.activity.LayerInput``
magnitudes) with sliding windows and reshape + any/max/sum — never a Python loop over spikes;
group zero skipping, a max over overlapping slices, is one compiled loop nest.
Sources: MT-SNN App. E / Algorithm 2 (loop nest), hardware-models §1.2-§1.4 (proposed costs),
neuron-models §6.1 (dense count). Tile arrays are indexed in loop order [o, h, w, t].
"""

from __future__ import annotations

from fractions import Fraction

import numba
import numpy as np

from neurosim.mapping.pe_array import PEInput, PELayerSchedule

ZERO_SKIPPING = ("none", "group", "event")
MULTILEVEL = ("repeat", "multiply")


def ceil_div(a, b):
    """Integer ⌈a / b⌉ for non-negative ints or int arrays."""
    return -(-a // b)


def dense_cycles(c_out, m, h_out, w_out, n, steps, s, k_h, k_w, c_in, v):
    """Dense PE cycles of a conv layer from Algorithm 2's loop bounds (works on arrays).

    ⌈C_o/M⌉·H_o·⌈W_o/N⌉·⌈T/S⌉·K_h·K_w·⌈C_i/V⌉ (MT-SNN App. E, Alg. 2; neuron-models §6.1).
    Example: C_o=64, M=16, H_o=W_o=8, N=4, T=4, S=2, K=3, C_i=32, V=8 →
    4·8·2·2·3·3·4 = 4608.
    """
    return (
        ceil_div(c_out, m)
        * h_out
        * ceil_div(w_out, n)
        * ceil_div(steps, s)
        * k_h
        * k_w
        * ceil_div(c_in, v)
    )


def reduction_steps(k_h, k_w, c_in, v):
    """Reduction steps of one tile: K_h·K_w·⌈C_i/V⌉ (Alg. 2's three inner loops)."""
    return k_h * k_w * ceil_div(c_in, v)


# --------------------------------------------------------------------------------------------
# Input activity in the tile geometry
# --------------------------------------------------------------------------------------------


def _as_maps(magnitude: np.ndarray) -> np.ndarray:
    """[steps, C, H, W] view of a conv input, or [steps, C, 1, 1] for a Linear input."""
    mag = np.asarray(magnitude)
    if mag.ndim == 2:
        return mag[:, :, None, None]
    if mag.ndim != 4:
        raise ValueError(
            f"input magnitude must be [steps, C] or [steps, C, H, W], got shape {mag.shape}"
        )
    return mag


def _step_tiles(x: np.ndarray, n_t: int, s: int, reduce: str) -> np.ndarray:
    """Reduce axis 0 (steps) in groups of S (zero-padded to n_t·S): [n_t, ...]."""
    pad = n_t * s - x.shape[0]
    if pad:
        x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
    x = x.reshape(n_t, s, *x.shape[1:])
    return x.max(axis=1) if reduce == "max" else x.sum(axis=1)


def _taps_read(sched: PELayerSchedule) -> tuple[np.ndarray, np.ndarray]:
    """int64 masks of the padded input rows [H_o, H_i + 2p] and columns [n_w, W_i + 2p] a
    tile's kernel taps read: rows h·s + k_h·d, columns (w·N + j)·s + k_w·d (j < the tile's
    columns), d the dilation."""
    p, st, d = sched.padding, sched.stride, sched.dilation
    k_h, k_w = sched.kernel
    _, h_i, w_i = sched.in_shape
    _, h_o, w_o = sched.out_shape
    n, n_w = sched.unroll[1], sched.tiles[2]
    rows = np.zeros((h_o, h_i + 2 * p), np.int64)
    r = np.arange(h_o)[:, None] * st + np.arange(k_h)[None, :] * d
    rows[np.repeat(np.arange(h_o), k_h), r.ravel()] = 1
    cols = np.zeros((n_w, w_i + 2 * p), np.int64)
    out_col = np.arange(w_o)
    c = out_col[:, None] * st + np.arange(k_w)[None, :] * d
    cols[np.repeat(out_col // n, k_w), c.ravel()] = 1
    return rows, cols


def _window_sums(e: np.ndarray, sched: PELayerSchedule) -> np.ndarray:
    """Sum of ``e`` [n, H_i, W_i] over each tile's receptive field: [n, H_o, n_w].

    Rows h·s−p … h·s−p+K_h−1 and columns w·N·s−p … (last column)·s−p+K_w−1 (zero padding),
    by a 2-D prefix sum. A dilated conv (d > 1) sums the positions its taps read only
    (``_taps_read``): the PE array processes those events, not the gaps between taps.
    """
    p, st = sched.padding, sched.stride
    if sched.dilation > 1:
        rows, cols = _taps_read(sched)
        e = np.pad(np.asarray(e, np.int64), ((0, 0), (p, p), (p, p)))
        return np.einsum("hr,nrc,wc->nhw", rows, e, cols)
    k_h, k_w = sched.kernel
    _, h_o, w_o = sched.out_shape
    n = sched.unroll[1]
    n_w = sched.tiles[2]
    e = np.pad(e, ((0, 0), (p, p), (p, p)))
    cum = np.zeros((e.shape[0], e.shape[1] + 1, e.shape[2] + 1), np.int64)
    np.cumsum(np.cumsum(e, axis=1, dtype=np.int64), axis=2, out=cum[:, 1:, 1:])
    r0 = np.arange(h_o) * st
    r1 = r0 + k_h
    first = np.arange(n_w) * n
    last = np.minimum(first + n, w_o) - 1
    c0 = first * st
    c1 = last * st + k_w
    r0, r1 = r0[:, None], r1[:, None]
    c0, c1 = c0[None, :], c1[None, :]
    return cum[:, r1, c1] - cum[:, r0, c1] - cum[:, r1, c0] + cum[:, r0, c0]


def receptive_field_events(
    magnitude: np.ndarray, sched: PELayerSchedule, *, count: str = "level", all_steps: bool = False
) -> np.ndarray:
    """Input events in each tile's receptive field, int64 [H_o, n_w, n_t].

    An event is a non-zero input value (``count="nonzero"``), or a level-k value counts k
    (``count="level"``: LM-HT ``repeat``, pooled sums). Summed over all C_i channels, the tile's
    valid receptive-field rows and columns, and the tile's S steps — or, with ``all_steps``,
    over step 0 only, replicated for every ``t`` tile (aligned inputs: step 0 already holds the
    producer's whole count).
    """
    mag = _as_maps(magnitude)
    val = (mag != 0) if count == "nonzero" else mag
    n_t, s = sched.tiles[3], sched.unroll[2]

    def events(v: np.ndarray) -> np.ndarray:
        if all_steps:
            win = _window_sums(v[:1].sum(axis=1, dtype=np.int64), sched)
            return np.repeat(win.transpose(1, 2, 0), n_t, axis=2)
        e = _step_tiles(v.sum(axis=1, dtype=np.int64), n_t, s, "sum")
        return _window_sums(e, sched).transpose(1, 2, 0)

    if sched.groups == 1:
        return events(val)
    # A grouped conv: each o block sums the input channels of its own groups.
    return np.stack([events(val[:, a : a + c]) for a, c in _block_channels(sched)])


def _block_channels(sched: PELayerSchedule) -> list[tuple[int, int]]:
    """(first input channel, channels) each ``o`` block of a grouped conv reduces."""
    return [
        (int(a), int(c))
        for a, c in zip(sched.block_in_offset(), sched.block_in_channels(), strict=True)
    ]


@numba.njit(cache=True, nogil=True)
def _group_levels(
    lvl: np.ndarray,
    n_t: int,
    s: int,
    v: int,
    groups: int,
    pad: int,
    stride: int,
    k_h: int,
    k_w: int,
    h_o: int,
    w_o: int,
    n: int,
    n_w: int,
    dil: int,
) -> np.ndarray:  # pragma: no cover - compiled
    steps, c_i, h_i, w_i = lvl.shape
    # Largest level of each (t tile, channel group, pixel): the S×V part of a slice, in the
    # levels' own dtype, over whole contiguous maps (``lvl`` is C-contiguous) with a
    # branch-free loop that LLVM vectorises; then copied into zero-padded planes. (A loop per
    # row into the padded planes, indexed ``x + pad``, was not vectorised: 6-11x slower.)
    hw = h_i * w_i
    maps = lvl.reshape(steps, c_i, hw)
    peak = np.zeros((n_t, groups, hw), lvl.dtype)
    for t in range(steps):
        for c in range(c_i):
            dst = peak[t // s, c // v]
            src = maps[t, c]
            for i in range(hw):
                a = src[i]
                b = dst[i]
                dst[i] = a if a > b else b
    x = np.zeros((n_t, groups, h_i + 2 * pad, w_i + 2 * pad), lvl.dtype)
    x[:, :, pad : pad + h_i, pad : pad + w_i] = peak.reshape(n_t, groups, h_i, w_i)
    # Per padded row r: col[r, w] = Σ_kw of the largest of the N pixels of tile column w;
    # a tile row h then sums col[h·stride + kh·dil, w] over k_h (each row serves k_h tile rows).
    # For the tiles with all N columns, big[p] = max(0, row[p + j·stride] for j < N) is taken
    # for every p of the row first, in N whole-row passes over slices (vectorised; a max per
    # tile and kernel column was 3x slower), and col[r, w] = Σ_kw big[w·N·stride + kw·dil].
    rows = (h_o - 1) * stride + (k_h - 1) * dil + 1
    col = np.zeros((rows, n_w), np.int64)
    total = np.zeros((h_o, n_w, n_t), np.int64)
    full = w_o // n
    span = (full - 1) * n * stride + (k_w - 1) * dil + 1 if full > 0 else 0
    big = np.zeros(max(span, 1), lvl.dtype)
    for tt in range(n_t):
        for g in range(groups):
            plane = x[tt, g]
            for r in range(rows):
                if dil == 1 and r % stride >= k_h:
                    continue  # a row between two strided windows: no tile reads it
                row = plane[r]
                crow = col[r]
                if full > 0:
                    for p in range(span):
                        a = row[p]
                        big[p] = a if a > 0 else 0
                    for j in range(1, n):
                        src = row[j * stride : j * stride + span]
                        for p in range(span):
                            a = src[p]
                            b = big[p]
                            big[p] = a if a > b else b
                    for w in range(full):
                        crow[w] = 0
                    step = n * stride
                    for kw in range(k_w):
                        sub = big[kw * dil :]
                        for w in range(full):
                            crow[w] += sub[w * step]
                for w in range(full, n_w):
                    j1 = min(n, w_o - w * n)
                    acc = 0
                    for kw in range(k_w):
                        m = 0
                        for j in range(j1):
                            val = row[(w * n + j) * stride + kw * dil]
                            if val > m:
                                m = val
                        acc += m
                    crow[w] = acc
            for h in range(h_o):
                for w in range(n_w):
                    acc = 0
                    for kh in range(k_h):
                        acc += col[h * stride + kh * dil, w]
                    total[h, w, tt] += acc
    return total


def group_step_levels(
    magnitude: np.ndarray, sched: PELayerSchedule, *, multilevel: str = "repeat"
) -> np.ndarray:
    """Group zero skipping: cycles of each tile, int64 [H_o, n_w, n_t].

    A reduction step (k_h, k_w, i-group) of tile (h, w, t) reads the V×N×S slice of input
    channels i·V…, row h·s−p+k_h, columns (w·N+j)·s−p+k_w (j < N) and the tile's S steps. It
    is skipped when the slice is all zero (hardware-models §1.2, ``group``); otherwise it costs
    1 cycle (binary/ternary, or ``multiply``) or the largest level in the slice (``repeat``: a
    level-k value needs k accumulate passes, hardware-models §1.2). Compiled: a sweep computes
    it once per layer, sample and (N, S, V); ``tests/timing/test_cost.py`` keeps a numpy
    reference.
    """
    mag = _as_maps(magnitude)
    _, n, s, v = sched.unroll
    _, h_o, w_o = sched.out_shape
    n_w, n_t = sched.tiles[2], sched.tiles[3]
    k_h, k_w = sched.kernel
    lvl = (mag != 0) if multilevel == "multiply" else mag

    def levels(x: np.ndarray) -> np.ndarray:
        return _group_levels(
            np.ascontiguousarray(x.view(np.uint8) if x.dtype == np.bool_ else x),
            n_t,
            s,
            v,
            ceil_div(x.shape[1], v),
            sched.padding,
            sched.stride,
            k_h,
            k_w,
            h_o,
            w_o,
            n,
            n_w,
            sched.dilation,
        )

    if sched.groups == 1:
        return levels(lvl)
    # A grouped conv: each o block's V-channel slices run over its own groups' channels.
    return np.stack([levels(lvl[:, a : a + c]) for a, c in _block_channels(sched)])


def pe_tile_cycles(
    sched: PELayerSchedule,
    magnitude: np.ndarray | None,
    inp: PEInput | None,
    *,
    zero_skipping: str,
    events_per_cycle: int = 1,
    multilevel: str = "repeat",
) -> np.ndarray:
    """PE-array cycles of every tile of one layer and sample, int64 [H_o, n_w, n_t].

    (Every ``o`` block sees the same input, so the array broadcasts over o — except in a
    grouped conv, whose blocks reduce their own groups' channels: [n_o, H_o, n_w, n_t].)

    * Add: 0 (elementwise; its inputs are summed in the neuron unit).
    * Direct-coded (analog) first layer: K_h·K_w·⌈C_i/V⌉ per tile with multi-bit MACs, one
      ``t`` tile (its current is computed once per sample), whatever ``zero_skipping`` says.
    * ``none``: K_h·K_w·⌈C_i/V⌉ per tile (hardware-models §1.2), × the input's largest possible
      level with ``repeat`` (a level-k value needs k passes; 1 for binary/ternary spikes);
      K_h·K_w·⌈C_i(o)/V⌉ for the ``o`` blocks of a grouped conv (``block_in_channels``).
    * ``group``: ``group_step_levels`` (skip all-zero V×N×S slices).
    * ``event``: ⌈events in the tile's receptive field / events_per_cycle⌉, a level-k event
      counting k with ``repeat`` and 1 with ``multiply`` (ternary ±1 counts 1).

    ``magnitude`` is the layer input's ``LayerInput.magnitude`` ([steps, C, H, W] or
    [steps, C]); it may be None for ``none`` and for an Add.
    """
    n_o, h_o, n_w, n_t = sched.tiles
    if zero_skipping not in ZERO_SKIPPING:
        raise ValueError(f"zero_skipping must be one of {ZERO_SKIPPING}, got {zero_skipping!r}")
    if multilevel not in MULTILEVEL:
        raise ValueError(f"multilevel must be one of {MULTILEVEL}, got {multilevel!r}")
    if sched.op == "add":
        return np.zeros((h_o, n_w, n_t), np.int64)
    dense = sched.reduction_steps
    analog = inp is not None and inp.kind == "analog"
    if analog or zero_skipping == "none":
        passes = 1 if analog or multilevel == "multiply" or inp is None else inp.max_level
        if sched.groups > 1:
            per_block = sched.block_reduction_steps()[:, None, None, None] * passes
            return np.broadcast_to(per_block, (n_o, h_o, n_w, n_t)).copy()
        return np.full((h_o, n_w, n_t), dense * passes, np.int64)
    if magnitude is None:
        raise ValueError(
            f"layer '{sched.name}': zero_skipping={zero_skipping!r} needs the input magnitude"
        )
    if zero_skipping == "group":
        return group_step_levels(magnitude, sched, multilevel=multilevel)
    count = "nonzero" if multilevel == "multiply" else "level"
    events = receptive_field_events(magnitude, sched, count=count)
    return ceil_div(events, int(events_per_cycle))


def systolic_tile_cycles(sched: PELayerSchedule) -> np.ndarray:
    """Systolic-array cycles of every tile, int64 [n_o, H_o, n_w, n_t] (``pe.dataflow`` os,
    ws or is): the layer's ``sched.systolic.cycles`` spread evenly over its tiles in loop order,
    the first ``cycles mod tiles`` tiles one cycle more. Dense MACs whatever the spikes.

    The loads, neuron updates and write-backs keep Algorithm 2's tiles; the array's folds do not
    line up with them, so a tile's share stands for the time the array takes to produce its
    outputs (the layer's sum is exact). Example: 5696 cycles over 4 tiles → 1424 each.
    """
    total, tiles = sched.systolic.cycles, sched.num_tiles
    base, extra = divmod(int(total), tiles)
    out = np.full(tiles, base, np.int64)
    out[:extra] += 1
    return out.reshape(sched.tiles)


def neuron_tile_cycles(sched: PELayerSchedule, updates_per_cycle: int) -> np.ndarray:
    """Neuron-unit cycles of every tile, int64 [n_o, H_o, n_w, n_t].

    ⌈m·n·s·X / updates_per_cycle⌉ with m, n, s the tile's actual output channels, columns and
    neuron steps (hardware-models §1.3 writes M·N·S; refinement: edge tiles and a Linear, whose
    single column leaves N−1 of the N columns empty, would otherwise be charged updates of
    neurons that do not exist). An analog first layer's single ``t`` tile updates all T steps.
    X = T for LM-HT with a trained T-GIM (each update mixes T step currents, neuron-models §6.1),
    else 1. TSA adds its Ts silent-period shifts, ⌈m·n·Ts / updates_per_cycle⌉, once per
    (o, h, w) tile group, on its last ``t`` tile (SWS §3.3). A layer without a neuron uses the
    same unit to add the bias and pass (or, for the output, accumulate) its partial sums.
    """
    return np.broadcast_to(neuron_row_cycles(sched, updates_per_cycle), sched.tiles).copy()


def neuron_row_cycles(sched: PELayerSchedule, updates_per_cycle: int) -> np.ndarray:
    """``neuron_tile_cycles`` of one output row, int64 [n_o, 1, n_w, n_t]: a tile's neuron
    cycles depend on its channels, columns and steps, never on its row h."""
    m = sched.channel_extent()[:, None, None, None]
    n = sched.column_extent()[None, None, :, None]
    s = sched.neuron_step_extent()[None, None, None, :]
    lanes = int(updates_per_cycle)
    # [n_o, 1, n_w, n_t] already: one extent array on each tile axis but h.
    cyc = ceil_div(m * n * s * sched.mixing_steps, lanes)
    if sched.silent_steps:
        cyc[..., -1] += ceil_div(m[..., 0] * n[..., 0] * sched.silent_steps, lanes)
    return cyc


def neuron_tile_updates(sched: PELayerSchedule) -> np.ndarray:
    """Neuron updates (membrane read-modify-writes) of every tile, [n_o, H_o, n_w, n_t]."""
    m = sched.channel_extent()[:, None, None, None]
    n = sched.column_extent()[None, None, :, None]
    s = sched.neuron_step_extent()[None, None, None, :]
    upd = np.broadcast_to(m * n * s, sched.tiles).copy()
    if sched.silent_steps:
        upd[..., -1] += m[..., 0] * n[..., 0] * sched.silent_steps
    return upd


def neuron_updates_total(sched: PELayerSchedule) -> int:
    """Σ ``neuron_tile_updates`` without forming the tile array: every ``o`` block's channels
    m, ``w`` tile's columns n and ``t`` tile's steps s meet once per output row, so the sum is
    H_o·Σm·Σn·(Σs + Ts) (TSA's Ts silent shifts on each (o, h, w) group's last ``t`` tile)."""
    m = int(sched.channel_extent().sum())
    n = int(sched.column_extent().sum())
    s = int(sched.neuron_step_extent().sum())
    return sched.tiles[1] * m * n * (s + int(sched.silent_steps))


def dram_rate(bytes_per_cycle: float) -> Fraction:
    """DRAM bytes per cycle as an exact fraction (denominator ≤ 10^6).

    ``hw.dram_bytes_per_cycle`` is a float (12.8 GB/s at 300 MHz = 42.666… B/cycle); taking the
    nearest fraction (128/3) makes every ⌈bytes / rate⌉ exact integer arithmetic.
    """
    return Fraction(bytes_per_cycle).limit_denominator(10**6)


def dram_cycles(num_bytes, bytes_per_cycle: float | Fraction, latency_cycles: int):
    """Cycles of one DRAM burst: ⌈bytes / bytes_per_cycle⌉ + latency, and 0 for 0 bytes.

    hardware-models §1.4 (latency once per burst; one burst per tile load or write-back).
    Works on int arrays.
    """
    rate = bytes_per_cycle if isinstance(bytes_per_cycle, Fraction) else dram_rate(bytes_per_cycle)
    b = np.asarray(num_bytes, np.int64)
    cyc = ceil_div(b * rate.denominator, rate.numerator) + int(latency_cycles)
    return np.where(b > 0, cyc, 0)


def burst_cycles(num_bytes: int, rate: Fraction, latency_cycles: int) -> int:
    """``dram_cycles`` of one burst of ``num_bytes`` (a Python int, exact ``rate``) without
    numpy: a sweep point asks it for a few single bursts per layer (prefetches)."""
    if num_bytes <= 0:
        return 0
    return ceil_div(int(num_bytes) * rate.denominator, rate.numerator) + int(latency_cycles)


@numba.njit(cache=True, nogil=True)
def _dram_items(
    num_bytes: np.ndarray,
    row: int,
    group: int,
    numerator: int,
    denominator: int,
    latency: int,
    out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    per_row = (row + group - 1) // group
    total = 0
    for r in range(num_bytes.size // row):
        for j in range(per_row):
            acc = 0
            for t in range(r * row + j * group, r * row + min(row, (j + 1) * group)):
                b = num_bytes[t]
                if b > 0:
                    acc += (b * denominator + numerator - 1) // numerator + latency
            out[r * per_row + j] = acc
            total += acc
    return total


def dram_item_cycles(
    num_bytes: np.ndarray, bytes_per_cycle: float | Fraction, latency_cycles: int, *, group: int = 1
) -> np.ndarray:
    """``dram_cycles`` of every tile of a [n_o, H_o, n_w, n_t] byte array, flattened in loop
    order with ``group`` consecutive tiles of one (o, h) row summed per work item (int64).

    One compiled pass for what a sweep point asks of every layer twice (loads and
    write-backs); the same integers as summing ``dram_cycles`` per item (tested).
    """
    return dram_item_cycles_summed(num_bytes, bytes_per_cycle, latency_cycles, group=group)[0]


def dram_item_cycles_summed(
    num_bytes: np.ndarray, bytes_per_cycle: float | Fraction, latency_cycles: int, *, group: int = 1
) -> tuple[np.ndarray, int]:
    """``dram_item_cycles`` and the Σ of its items, summed in the same compiled pass (int64:
    exact as long as the caller has bounded the bytes' cycles, ``check_cycle_bound``)."""
    rate = bytes_per_cycle if isinstance(bytes_per_cycle, Fraction) else dram_rate(bytes_per_cycle)
    b = np.ascontiguousarray(num_bytes, np.int64)
    row = int(b.shape[2] * b.shape[3])
    out = np.empty(b.shape[0] * b.shape[1] * ceil_div(row, group), np.int64)
    if not row:
        return out, 0
    total = _dram_items(
        b.reshape(-1),
        row,
        int(group),
        int(rate.numerator),
        int(rate.denominator),
        int(latency_cycles),
        out,
    )
    return out, int(total)


# --------------------------------------------------------------------------------------------
# Event-list byte counts (spike_format = "event_list")
# --------------------------------------------------------------------------------------------


def input_row_events(
    magnitude: np.ndarray, inp: PEInput, sched: PELayerSchedule | None = None
) -> np.ndarray:
    """Events in each input row over all stored steps, int64 [H_i] (level k counts k); for a
    grouped conv in the ``band`` reuse tier, per ``o`` block over its groups' channels
    [n_o, H_i].

    Aligned inputs hold the producer's count at every step, so step 0 is all of it.
    """
    mag = _as_maps(magnitude)
    if inp.aligned:
        mag = mag[:1]
    if sched is not None and sched.groups > 1 and sched.input_reuse == "band":
        rows = mag.sum(axis=(0, 3), dtype=np.int64)  # [C, H_i]
        return np.stack([rows[a : a + c].sum(axis=0) for a, c in _block_channels(sched)])
    return mag.sum(axis=(0, 1, 3), dtype=np.int64)


def input_tile_events(magnitude: np.ndarray, sched: PELayerSchedule, inp: PEInput) -> np.ndarray:
    """Events each tile loads of input ``inp``: receptive field (conv/linear, [H_o, n_w, n_t])
    or the tile's own m × 1 × n × s region (Add, [n_o, H_o, n_w, n_t]); level k counts k."""
    if sched.op != "add":
        return receptive_field_events(magnitude, sched, count="level", all_steps=inp.aligned)
    return region_events(
        magnitude[:1] if inp.aligned else magnitude, sched, replicate_steps=inp.aligned
    )


def region_events(
    magnitude: np.ndarray, sched: PELayerSchedule, *, replicate_steps: bool = False
) -> np.ndarray:
    """Σ of ``magnitude`` [steps, C_o, H_o, W_o] over each tile's own output region,
    int64 [n_o, H_o, n_w, n_t] (the layer's output spikes, or an Add's elementwise input).

    With ``replicate_steps`` the single step given is summed once and repeated for every ``t``.
    """
    mag = _as_maps(magnitude)
    m, n, s, _ = sched.unroll
    n_o, h_o, n_w, n_t = sched.tiles
    _, c, _, w = mag.shape
    if replicate_steps:
        mag = mag[:1]
    x = np.pad(
        mag.astype(np.int64, copy=False), ((0, 0), (0, n_o * m - c), (0, 0), (0, n_w * n - w))
    )
    x = x.reshape(x.shape[0], n_o, m, h_o, n_w, n).sum(axis=(2, 5))  # [steps, o, h, w]
    if replicate_steps or n_t == 1:
        # One t tile covers every step (analog first layer), or the count is replicated.
        x = np.repeat(x.sum(axis=0)[..., None], n_t, axis=3)
    else:
        x = _step_tiles(x, n_t, s, "sum").transpose(1, 2, 3, 0)
    return np.ascontiguousarray(x)


def sram_bytes(
    sched: PELayerSchedule, *, pe_cycles: int, updates: int, load_bytes: int, store_bytes: int
) -> tuple[int, int]:
    """On-chip SRAM (read, write) bytes of one layer and sample.

    Model: every PE cycle fetches one M×V weight block and one V×N×S input slice
    (⌈pe_cycles·(M·V·weight_bits + V·N·S·input_bits)/8⌉, S = 1 for a layer computed once per
    sample: analog or aligned inputs); every neuron
    update reads and writes one membrane (membrane_bits); loads write their DRAM bytes into the
    buffers; the neuron unit writes the outputs that write-back then reads; an Add's neuron unit
    reads its loaded inputs once. On a systolic dataflow the array reads each operand element
    once per fold that uses it (``mapping.systolic.operand_reads``), and ws/is write and read
    back the partial sums of every row fold but the last (membrane_bits each).
    """
    m, n, s, v = sched.unroll
    mem = ceil_div(updates * sched.membrane_bits, 8)
    read = mem + store_bytes
    write = load_bytes + mem + store_bytes
    if sched.op == "add":
        read += load_bytes
    elif sched.systolic is not None and sched.inputs:
        sys = sched.systolic
        operands = sys.input_reads * sched.inputs[0].element_bits + sys.weight_reads * (
            sched.weight_bits
        )
        psums = ceil_div(sys.psum_reads * sched.membrane_bits, 8)
        read += ceil_div(operands, 8) + psums
        write += psums
    elif sched.inputs:
        inp = sched.inputs[0]
        s_eff = 1 if sched.compute_steps == 1 else s
        read += ceil_div(
            pe_cycles * (m * v * sched.weight_bits + v * n * s_eff * inp.element_bits), 8
        )
    return int(read), int(write)
