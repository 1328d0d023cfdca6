"""What the multi-core plan counts from a trace: events per core and per core pair, and each
edge's static pair table, for every sample variant and slot at once.

Imports ``ir``, ``errors``, ``mapping.multicore``/``multicore_geometry``, ``trace``,
``timing.multicore_bundles`` (the pair table) and ``timing.activity`` (max pooling);
``timing.multicore_plan`` calls it while it builds a plan. Arrays carry a leading row axis of
(variant, slot) pairs, so one call serves every sample of the stream; the sums over runs and
cells are compiled passes. Every count is an exact integer (float64 only where a product of counts
stays far below 2^53).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from neurosim import ir
from neurosim.errors import ConfigError
from neurosim.mapping.multicore import EdgeMapping, LayerPartition
from neurosim.mapping.multicore_geometry import input_channel_bounds
from neurosim.timing import multicore_bundles as bundles
from neurosim.timing.activity import max_pool_winner
from neurosim.trace import Trace


def sum_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Sum over k×k windows at stride s of the last two axes (int64)."""
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(-2, -1))
    return win[..., ::s, ::s, :, :].sum(axis=(-2, -1), dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _run_sums(x, bounds, out):  # pragma: no cover - compiled
    """out[a, r, b] = Σ x[a, n, b] over n in [bounds[r], bounds[r + 1]) (contiguous runs)."""
    for a in range(x.shape[0]):
        for r in range(bounds.shape[0] - 1):
            if x.shape[2] == 1:
                # A slice walked from 0 vectorises (a loop from bounds[r] did not: ~5x slower).
                seg = x[a, bounds[r] : bounds[r + 1], 0]
                acc = np.int64(0)
                for n in range(seg.shape[0]):
                    acc += seg[n]
                out[a, r, 0] = acc
            else:
                row = out[a, r]
                for n in range(bounds[r], bounds[r + 1]):
                    src = x[a, n]
                    for b in range(x.shape[2]):
                        row[b] += src[b]


def _as_3d(x: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...], int]:
    """x as a C-contiguous [before, axis, after] array of a compiled dtype (uint8 or int64)."""
    shape = x.shape
    axis %= x.ndim
    a = math.prod(shape[:axis])
    b = math.prod(shape[axis + 1 :])
    flat = np.ascontiguousarray(x).reshape(a, shape[axis], b)
    if flat.dtype == np.bool_:
        flat = flat.view(np.uint8)
    elif flat.dtype not in (np.uint8, np.int64):
        flat = flat.astype(np.int64)
    return flat, shape, axis


def run_sums(x: np.ndarray, bounds: np.ndarray, axis: int, dtype: type = np.int64) -> np.ndarray:
    """Σ of x over the runs [bounds[i], bounds[i+1]) of ``axis``: ``dtype`` (int64, or float64
    for a matrix product next), ``axis`` replaced by the runs (a compiled pass; numpy's
    reduceat along an inner axis was ~10× slower)."""
    flat, shape, axis = _as_3d(x, axis)
    runs = len(bounds) - 1
    out = np.zeros((flat.shape[0], runs, flat.shape[2]), dtype)
    _run_sums(flat, np.ascontiguousarray(bounds, np.int64), out)
    return out.reshape(*shape[:axis], runs, *shape[axis + 1 :])


def grid_sums(x: np.ndarray, channel_bounds: np.ndarray, position_bounds: np.ndarray):
    """Σ of x [..., C, H·W] over each (channel run, position run) cell: [..., runs, runs]."""
    return run_sums(run_sums(x, position_bounds, -1), channel_bounds, -2)


def core_sums(x: np.ndarray, part: LayerPartition) -> np.ndarray:
    """Σ over each core's neurons of x [..., C or 1, H·W] (C-order neurons of ``part``;
    a channel axis of 1 stands for the same value in every channel): int64 [..., cores]."""
    if x.shape[-2] == 1:
        by_chunk = run_sums(x[..., 0, :], part.chunk_bounds, -1)
        out = by_chunk[..., None, :] * np.diff(part.group_bounds)[:, None]
    else:
        out = grid_sums(x, part.group_bounds, part.chunk_bounds)
    return out.reshape(*x.shape[:-2], part.num_cores)


@numba.njit(cache=True, nogil=True)
def _cell_sums(x, channel_bounds, pos_a, pos_b, labels, out):  # pragma: no cover - compiled
    """out[r, labels[i, k]] += Σ x[r, c, pos_a[k] : pos_b[k]] over the channels c of run
    [channel_bounds[i], channel_bounds[i + 1]) (one pass over x [R, C, P], exact integers)."""
    for r in range(x.shape[0]):
        for i in range(channel_bounds.shape[0] - 1):
            for c in range(channel_bounds[i], channel_bounds[i + 1]):
                src = x[r, c]
                for k in range(pos_a.shape[0]):
                    seg = src[pos_a[k] : pos_b[k]]  # walked from 0: vectorises
                    acc = np.int64(0)
                    for p in range(seg.shape[0]):
                        acc += seg[p]
                    out[r, labels[i, k]] += acc


class CellSums:
    """Σ of x [rows, C, P] over cells (a run of channels × a run of positions), each cell
    added to its label: int64 [rows, num]; the labels are then read per core pair (``pairs``).
    One compiled pass over x, without float intermediates."""

    def __init__(
        self,
        channel_bounds: np.ndarray,
        pos_runs: tuple[np.ndarray, np.ndarray],
        labels: np.ndarray,
        num: int,
        pairs: np.ndarray,
    ) -> None:
        self.channel_bounds = np.ascontiguousarray(channel_bounds, np.int64)
        self.pos_a, self.pos_b = (np.ascontiguousarray(v, np.int64) for v in pos_runs)
        self.labels = np.ascontiguousarray(labels, np.int64)
        self.num, self.pairs = num, pairs

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.label_values(x)[:, self.pairs]

    def label_values(self, x: np.ndarray) -> np.ndarray:
        """int64 [rows, num]: the sums per label (before they are read per pair)."""
        if x.dtype == np.bool_:
            x = x.view(np.uint8)
        elif x.dtype not in (np.uint8, np.int64):
            x = x.astype(np.int64)
        out = np.zeros((x.shape[0], self.num), np.int64)
        _cell_sums(x, self.channel_bounds, self.pos_a, self.pos_b, self.labels, out)
        return out


@numba.njit(cache=True, nogil=True)
def _need_runs(need, chunk_bounds, out):  # pragma: no cover - compiled
    """Count the runs of ``need_runs`` and write the first out.shape[1] of them into out
    [4, capacity] (rows: target chunk, source chunk, start, stop); returns the count."""
    positions = need.shape[1]
    cut = np.zeros(positions + 1, np.bool_)
    for b in chunk_bounds:
        cut[b] = True
    cap = out.shape[1]
    k = 0
    for jt in range(need.shape[0]):
        js = -1
        for pos in range(positions):
            while js + 1 < chunk_bounds.shape[0] and chunk_bounds[js + 1] <= pos:
                js += 1
            if not need[jt, pos]:
                continue
            if pos == 0 or not need[jt, pos - 1] or cut[pos]:
                if k < cap:
                    out[0, k], out[1, k], out[2, k] = jt, js, pos
                k += 1
            if (pos + 1 == positions or not need[jt, pos + 1] or cut[pos + 1]) and k <= cap:
                out[3, k - 1] = pos + 1
    return k


def need_runs(need: np.ndarray, chunk_bounds: np.ndarray) -> tuple[np.ndarray, ...]:
    """The runs of consecutive needed positions of each target chunk, cut at the source
    chunks' bounds: (target chunk, source chunk, start, stop) per run, int64, in row-major
    order of ``need`` (bool [J_target, positions]; two compiled passes: count, then fill)."""
    need = np.ascontiguousarray(need, np.bool_)
    bounds = np.ascontiguousarray(chunk_bounds, np.int64)
    out = np.zeros((4, _need_runs(need, bounds, np.zeros((4, 0), np.int64))), np.int64)
    _need_runs(need, bounds, out)
    return out[0], out[1], out[2], out[3]


@numba.njit(cache=True, nogil=True)
def _merged_runs(a, b):  # pragma: no cover - compiled
    """The union of two sorted run-bound arrays (``np.union1d``) and, for each bound, the run
    of ``a`` and of ``b`` holding the items from it on (``searchsorted(·, side="right") − 1``)."""
    na, nb = a.shape[0], b.shape[0]
    bounds = np.empty(na + nb, np.int64)
    run_a = np.empty(na + nb, np.int64)
    run_b = np.empty(na + nb, np.int64)
    i = j = k = 0
    while i < na or j < nb:
        if j == nb or (i < na and a[i] < b[j]):
            v = a[i]
        else:
            v = b[j]
        while i < na and a[i] == v:
            i += 1
        while j < nb and b[j] == v:
            j += 1
        bounds[k], run_a[k], run_b[k] = v, i - 1, j - 1
        k += 1
    return bounds[:k], run_a[:k], run_b[:k]


@numba.njit(cache=True, nogil=True)
def _shared_cells(src_groups, src_chunks, tgt_groups, tgt_chunks):  # pragma: no cover - compiled
    """Cells of an elementwise edge (the same neurons on both sides): the union of both
    partitions' channel bounds and of their position bounds, and int64 [channel runs,
    position runs] the (source core, target core) pair label of each cell, source core ·
    target cores + target core (core = group · chunks + chunk on either side)."""
    channels, gs, gt = _merged_runs(src_groups, tgt_groups)
    positions, js, jt = _merged_runs(src_chunks, tgt_chunks)
    ns, nt = src_chunks.shape[0] - 1, tgt_chunks.shape[0] - 1
    d = (tgt_groups.shape[0] - 1) * nt
    labels = np.empty((channels.shape[0] - 1, positions.shape[0] - 1), np.int64)
    for i in range(labels.shape[0]):
        for k in range(labels.shape[1]):
            labels[i, k] = (gs[i] * ns + js[k]) * d + gt[i] * nt + jt[k]
    return channels, positions, labels


class EdgeGeometry:
    """Static per-edge data: core pairs, their mesh positions and hop offsets, label maps."""

    def __init__(
        self,
        edge: EdgeMapping,
        src: LayerPartition,
        tgt: LayerPartition,
        width: int,
        links: int,
        conv_groups: int = 1,
    ) -> None:
        self.edge = edge
        self.src, self.tgt = src, tgt
        self.conv_groups = conv_groups
        """Groups of a spatial edge's target conv (its cores read their groups' channels)."""
        self.ps, self.pt = edge.pair_source, edge.pair_target
        self.width, self.links = width, links
        self.cells: CellSums | None = None
        if edge.kind == "one_to_one" and edge.need is None:
            # Same neurons on both sides: sum over the cells of both partitions' channel and
            # position runs, each labelled with its (source core, target core) pair.
            channels, positions, labels = _shared_cells(
                src.group_bounds, src.chunk_bounds, tgt.group_bounds, tgt.chunk_bounds
            )
            d = tgt.num_cores
            self.cells = CellSums(
                channels,
                (positions[:-1], positions[1:]),
                labels,
                src.num_cores * d,
                self.ps * d + self.pt,
            )
        elif edge.kind == "spatial" and conv_groups == 1:
            # A source core's events in the positions a target chunk needs: cells of a channel
            # group × a run of needed positions within one source chunk, labelled with
            # (source core, target chunk).
            jt, js, a, b = need_runs(edge.need, src.chunk_bounds)
            nt = edge.need.shape[0]
            groups = np.arange(src.num_groups)[:, None]
            self.cells = CellSums(
                src.group_bounds,
                (a, b),
                (groups * src.num_chunks + js[None, :]) * nt + jt[None, :],
                src.num_cores * nt,
                self.ps * nt + tgt.core_chunk[self.pt],
            )
        if edge.kind == "dense":
            label = self.ps
        elif self.cells is not None:
            label = self.cells.pairs
        else:
            label = np.arange(len(self.ps))
        self.pairs = bundles.pair_table(label, self.ps, self.pt, src.xy, tgt.xy)
        """Static pair columns (``multicore_bundles.PAIR_COLUMNS``) of ``pair_values``."""

    @property
    def hops(self) -> np.ndarray:
        """int64 [pairs]: XY hops of each core pair."""
        return self.pairs[:, 5]

    @property
    def dx(self) -> np.ndarray:
        """int64 [pairs]: source x − target x of each core pair."""
        return self.pairs[:, 6] - self.pairs[:, 8]

    @property
    def dy(self) -> np.ndarray:
        """int64 [pairs]: source y − target y of each core pair."""
        return self.pairs[:, 7] - self.pairs[:, 9]

    @property
    def need(self) -> np.ndarray | None:
        """float64 [J_target, source positions] of ``EdgeMapping.need`` (for the matrix
        products of the pooled and grouped paths), or None."""
        return None if self.edge.need is None else self.edge.need.astype(np.float64)

    def pair_events(self, x: np.ndarray) -> np.ndarray:
        """Events each core pair carries per row, from source events x [rows, C, H·W]."""
        return self.pair_values(x)[:, self.pairs[:, 0]]

    def pair_values(self, x: np.ndarray) -> np.ndarray:
        """int64 [rows, labels]: events per label (pair q carries label ``pairs[q, 0]``) per
        row, from source events x [rows, C, H·W]: per source core of a dense edge, per
        labelled cell, else per pair."""
        kind = self.edge.kind
        if kind == "dense":
            return core_sums(x, self.src)
        if self.cells is not None:
            return self.cells.label_values(x)
        if kind == "one_to_one":
            return self._pooled_pair_events(x)
        lo, hi = input_channel_bounds(
            self.tgt.group_bounds, self.src.shape[0], self.tgt.shape[0], self.conv_groups
        )
        return self._channel_pair_events(x, lo, hi)

    def _pooled_pair_events(self, x: np.ndarray) -> np.ndarray:
        """Events per pair of an elementwise input read through pooling: the source core's
        spikes in the channels both cores hold and the positions the target chunk's pooling
        windows cover (``EdgeMapping.need``)."""
        tgt = self.tgt
        return self._channel_pair_events(x, tgt.group_bounds[:-1], tgt.group_bounds[1:])

    def _channel_pair_events(self, x: np.ndarray, lo_t: np.ndarray, hi_t: np.ndarray):
        """Events per pair: the source core's spikes in its channels within [lo_t, hi_t) of
        the target core's channel group (the channels the target reads) and in the positions
        the target chunk needs (``need``)."""
        src, tgt, need = self.src, self.tgt, self.need
        rows = x.shape[0]
        # per[r, c, j_s, j_t]: channel c's events in source chunk j_s needed by target chunk j_t.
        per = np.stack(
            [
                x[:, :, a:b].astype(np.float64) @ need[:, a:b].T
                for a, b in zip(src.chunk_bounds[:-1], src.chunk_bounds[1:], strict=True)
            ],
            axis=2,
        )
        cum = np.concatenate([np.zeros((rows, 1, *per.shape[2:])), np.cumsum(per, axis=1)], 1)
        gs, gt = src.core_group[self.ps], tgt.core_group[self.pt]
        lo = np.maximum(src.group_bounds[gs], lo_t[gt])
        hi = np.maximum(np.minimum(src.group_bounds[gs + 1], hi_t[gt]), lo)
        js, jt = src.core_chunk[self.ps], tgt.core_chunk[self.pt]
        out = cum[:, hi, js, jt] - cum[:, lo, js, jt]
        return np.rint(out).astype(np.int64)


class SampleEvents:
    """Events of every producer for trace samples 0..variants−1, computed once and shared by
    consumers: arrays [variants, slots, ...]."""

    def __init__(self, trace: Trace, net: ir.Network, variants: int) -> None:
        self.trace, self.net, self.variants = trace, net, variants
        self._spikes: dict[str, np.ndarray] = {}
        self._chsum: dict[str, np.ndarray] = {}

    def spikes(self, name: str) -> np.ndarray:
        """uint8 [variants, slots, C, H·W]: 1 per non-zero spike (the network input: per
        non-zero code, one slot, unless SWS encodes it into spikes)."""
        if name not in self._spikes:
            net, trace, nv = self.net, self.trace, self.variants
            shape = net.shapes[name]
            lt = trace.layer(name)
            if isinstance(net.layer(name), ir.Input) and lt.spikes is None:
                if trace.inputs is None:
                    raise ConfigError(
                        "the trace has no input codes; run functional.run(..., keep_spikes=True)"
                    )
                ev = (np.asarray(trace.inputs[:nv]) != 0)[:, None]
            elif lt.spikes is None:
                raise ConfigError(
                    f"the trace has no spikes for layer '{name}'; run "
                    f"functional.run(..., keep_spikes=True)"
                )
            else:
                ev = np.moveaxis(lt.spikes[:, :nv] != 0, 1, 0)
            c = shape[0] if len(shape) == 3 else int(np.prod(shape))
            self._spikes[name] = ev.reshape(nv, ev.shape[1], c, -1).view(np.uint8)
        return self._spikes[name]

    def pooled_spikes(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """[variants, slots, C, positions] of the consumer's input space: the spikes, each
        pooling window summed (a pooled value v is v accumulations); the spikes themselves
        without pooling."""
        x = self.spikes(name)
        if self._has_max_pool(via):
            return self._max_pooled(name, via)
        pools = [lay for lay in map(self.net.layer, via) if isinstance(lay, ir.AvgPool2d)]
        if not pools:
            return x
        c, h, w = self.net.shapes[name]
        m = x.reshape(*x.shape[:2], c, h, w)
        for lay in pools:
            m = sum_pool(m, lay.kernel, lay.stride)
        return m.reshape(*m.shape[:3], -1)

    def pooled_channel_sum(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """int64 [variants, slots, H, W] (or [variants, slots, n]): events per position summed
        over channels, carried through folded pooling (a pooled input counts the spikes of
        its window)."""
        if self._has_max_pool(via):
            m = self._max_pooled(name, via).sum(axis=2)
            shape = self.net.shapes[via[-1]]
            return m.reshape(*m.shape[:2], *shape[1:]) if len(shape) == 3 else m
        if name not in self._chsum:
            x = self.spikes(name)
            shape = self.net.shapes[name]
            total = run_sums(x, np.array([0, x.shape[2]]), 2)
            self._chsum[name] = (
                total.reshape(*x.shape[:2], *shape[1:])
                if len(shape) == 3
                else x[:, :, :, 0].astype(np.int64)
            )
        m = self._chsum[name]
        for layer_name in via:
            lay = self.net.layer(layer_name)
            if isinstance(lay, ir.AvgPool2d):
                m = sum_pool(m, lay.kernel, lay.stride)
        return m

    def pooled_group_sum(self, name: str, via: tuple[str, ...], groups: int) -> np.ndarray:
        """int64 [variants, slots, groups, H, W]: events per position summed over each of
        ``groups`` equal runs of channels (a grouped conv's input groups), through folded
        pooling."""
        if self._has_max_pool(via):
            m = self._max_pooled(name, via)
            hw = self.net.shapes[via[-1]][1:]
        else:
            m = self.spikes(name)
            hw = self.net.shapes[name][1:]
        g = run_sums(m, np.linspace(0, m.shape[2], groups + 1).astype(np.int64), 2)
        g = g.reshape(*m.shape[:2], groups, *hw)
        for layer_name in () if self._has_max_pool(via) else via:
            lay = self.net.layer(layer_name)
            if isinstance(lay, ir.AvgPool2d):
                g = sum_pool(g, lay.kernel, lay.stride)
        return g

    def _has_max_pool(self, via: tuple[str, ...]) -> bool:
        return any(isinstance(self.net.layer(n), ir.MaxPool2d) for n in via)

    def _max_pooled(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """int64 [variants, slots, C, positions]: the spikes through folded pooling that
        includes max pooling of whole-sample levels — each max-pool window forwards its
        winner's spikes (``activity.max_pool_winner``, per variant, as the functional pass
        does)."""
        x = self.spikes(name)
        m = x.reshape(*x.shape[:2], *self.net.shapes[name]).astype(np.int64)
        for layer_name in via:
            lay = self.net.layer(layer_name)
            if isinstance(lay, ir.AvgPool2d):
                m = sum_pool(m, lay.kernel, lay.stride)
            elif isinstance(lay, ir.MaxPool2d):
                m = np.stack([max_pool_winner(v, lay) for v in m])
        return m.reshape(*m.shape[:3], -1)
