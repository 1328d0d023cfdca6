"""What the multi-core plan counts from a trace: events per core, per core pair and per bundle,
for every sample variant and slot at once.

Imports ``ir``, ``errors``, ``mapping.multicore``/``multicore_geometry``, ``trace``,
``timing.multicore_cost`` and ``timing.activity`` (max pooling); ``timing.multicore_plan``
calls it while it builds a plan. Arrays carry a leading row axis of (variant, slot) pairs, so
one call serves every sample of the stream; the sums over labels and the bundles' link loads
are compiled passes. Every count is an exact integer (float64 only where a product of counts
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
from neurosim.timing import multicore_cost as cost
from neurosim.timing.activity import max_pool_winner
from neurosim.trace import Trace


def sum_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Sum over k×k windows at stride s of the last two axes (int64)."""
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(-2, -1))
    return win[..., ::s, ::s, :, :].sum(axis=(-2, -1), dtype=np.int64)


@numba.njit(cache=True)
def _label_sums(x, labels, out):  # pragma: no cover - compiled
    """out[a, labels[n], b] += x[a, n, b] over x [A, N, B] (one pass, exact integers)."""
    if x.shape[2] == 1:
        for a in range(x.shape[0]):
            for n in range(x.shape[1]):
                out[a, labels[n], 0] += x[a, n, 0]
        return
    for a in range(x.shape[0]):
        for n in range(x.shape[1]):
            row = out[a, labels[n]]
            src = x[a, n]
            for b in range(x.shape[2]):
                row[b] += src[b]


def label_sums(x: np.ndarray, labels: np.ndarray, num: int, axis: int) -> np.ndarray:
    """Σ of x over the entries of ``axis`` that share a label (0..num−1): int64, ``axis``
    replaced by ``num`` (a compiled pass; numpy's reduceat along an inner axis was ~10× slower)."""
    flat, shape, axis = _as_3d(x, axis)
    out = np.zeros((flat.shape[0], num, flat.shape[2]), np.int64)
    _label_sums(flat, np.ascontiguousarray(labels, np.int64), out)
    return out.reshape(*shape[:axis], num, *shape[axis + 1 :])


@numba.njit(cache=True)
def _run_sums(x, bounds, out):  # pragma: no cover - compiled
    """out[a, r, b] = Σ x[a, n, b] over n in [bounds[r], bounds[r + 1]) (contiguous runs)."""
    for a in range(x.shape[0]):
        for r in range(bounds.shape[0] - 1):
            if x.shape[2] == 1:
                acc = np.int64(0)
                for n in range(bounds[r], bounds[r + 1]):
                    acc += x[a, n, 0]
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


class Grouper:
    """Sums per label: Σ of x [rows, N] over the columns sharing a label → int64 [rows, num]."""

    def __init__(self, labels: np.ndarray, num: int) -> None:
        self.labels = np.ascontiguousarray(labels, np.int64)
        self.num = num

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return label_sums(x, self.labels, self.num, 1)


@numba.njit(cache=True)
def _link_index(route_link, route_pair, start, by_link):  # pragma: no cover - compiled
    """Counting sort of the route entries by link: the pairs crossing link l are
    by_link[start[l] : start[l + 1]], in route order (``start`` zeroed, [links + 1])."""
    for k in range(route_link.shape[0]):
        start[route_link[k] + 1] += 1
    for link in range(start.shape[0] - 1):
        start[link + 1] += start[link]
    fill = start[:-1].copy()
    for k in range(route_link.shape[0]):
        by_link[fill[route_link[k]]] = route_pair[k]
        fill[route_link[k]] += 1


@numba.njit(cache=True)
def _bundle_rows(
    bits, route_pair, route_link, link_start, by_link, hops, pair_lat, peak, lat, best, total
):  # pragma: no cover - compiled
    """Per row of bits [rows, pairs]: the most loaded link's bits (``peak``), the longest
    latency of the pairs carrying bits (``lat``, left as given for an empty bundle), the pair
    whose route the bundle holds (``best``: heaviest through that link, then fewest hops, then
    first) and Σ bits × hops (``total``)."""
    loads = np.zeros(link_start.shape[0] - 1, np.int64)
    for r in range(bits.shape[0]):
        row = bits[r]
        acc = 0
        for k in range(route_pair.shape[0]):
            v = row[route_pair[k]]
            loads[route_link[k]] += v
            acc += v
        total[r] = acc
        link = -1
        top = 0
        for k in range(route_link.shape[0]):
            at = route_link[k]
            if loads[at] > top or (loads[at] == top and top > 0 and at < link):
                top = loads[at]
                link = at
        for k in range(route_link.shape[0]):
            loads[route_link[k]] = 0
        peak[r] = top
        best[r] = -1
        if top == 0:
            continue
        longest = np.iinfo(np.int64).min
        for q in range(row.shape[0]):
            if row[q] > 0 and pair_lat[q] > longest:
                longest = pair_lat[q]
        lat[r] = longest
        # The pairs through that link, in pair order (a route crosses a link at most once).
        pick = -1
        for k in range(link_start[link], link_start[link + 1]):
            q = by_link[k]
            if pick < 0 or row[q] > row[pick] or (row[q] == row[pick] and hops[q] < hops[pick]):
                pick = q
        best[r] = pick


@numba.njit(cache=True)
def _xy_routes(src_xy, dst_xy, width, pair, link):  # pragma: no cover - compiled
    """``mapping.multicore_geometry.xy_routes`` in one pass (arrays sized Σ hops)."""
    k = 0
    for p in range(src_xy.shape[0]):
        x, y = src_xy[p, 0], src_xy[p, 1]
        tx, ty = dst_xy[p, 0], dst_xy[p, 1]
        while x != tx:
            step = 1 if tx > x else -1
            pair[k] = p
            link[k] = 4 * (y * width + x) + (0 if step > 0 else 1)
            x += step
            k += 1
        while y != ty:
            step = 1 if ty > y else -1
            pair[k] = p
            link[k] = 4 * (y * width + x) + (2 if step > 0 else 3)
            y += step
            k += 1


def xy_routes(src_xy: np.ndarray, dst_xy: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(pair, link) of every XY route, as ``mapping.multicore_geometry.xy_routes`` (compiled:
    the numpy version's repeats were a third of a one-sample plan)."""
    src = np.ascontiguousarray(src_xy, np.int64)
    dst = np.ascontiguousarray(dst_xy, np.int64)
    total = int(np.abs(src - dst).sum())
    pair = np.empty(total, np.int64)
    link = np.empty(total, np.int64)
    _xy_routes(src, dst, int(width), pair, link)
    return pair, link


class EdgeGeometry:
    """Static per-edge data: core pairs, their XY routes and hop offsets, label maps."""

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
        self.route_pair, self.route_link = xy_routes(src.xy[self.ps], tgt.xy[self.pt], width)
        self.hops = edge.hops
        d = src.xy[self.ps] - tgt.xy[self.pt]
        self.dx, self.dy = d[:, 0], d[:, 1]
        self.need = None if edge.need is None else edge.need.astype(np.float64)
        # Route of pair p = route_link[route_start[p]:route_start[p + 1]] (pairs in order).
        self.route_start = np.concatenate([[0], np.cumsum(self.hops)])
        self.link_start = np.zeros(links + 1, np.int64)
        self.by_link = np.empty(len(self.route_link), np.int64)
        _link_index(self.route_link, self.route_pair, self.link_start, self.by_link)
        self.sent = Grouper(self.ps, src.num_cores)
        self.received = Grouper(self.pt, tgt.num_cores)
        if edge.kind == "one_to_one" and edge.need is None:
            # Same neurons on both sides: sum over the cells of both partitions' channel and
            # position runs, then label each cell with its (source core, target core) pair.
            self.channels = np.union1d(src.group_bounds, tgt.group_bounds)
            self.positions = np.union1d(src.chunk_bounds, tgt.chunk_bounds)
            c0, p0 = self.channels[:-1], self.positions[:-1]

            def core(part: LayerPartition) -> np.ndarray:
                g = np.searchsorted(part.group_bounds, c0, side="right") - 1
                j = np.searchsorted(part.chunk_bounds, p0, side="right") - 1
                return (g[:, None] * part.num_chunks + j[None, :]).reshape(-1)

            d = tgt.num_cores
            self.pair_label = self.ps * d + self.pt
            self.group = Grouper(core(src) * d + core(tgt), src.num_cores * d)

    def pair_events(self, x: np.ndarray) -> np.ndarray:
        """Events each core pair carries per row, from source events x [rows, C, H·W]."""
        kind = self.edge.kind
        rows = x.shape[0]
        if kind == "dense":
            return core_sums(x, self.src)[:, self.ps]
        if kind == "one_to_one" and self.need is None:
            cells = grid_sums(x, self.channels, self.positions).reshape(rows, -1)
            return self.group(cells)[:, self.pair_label]
        if kind == "one_to_one":
            return self._pooled_pair_events(x)
        if self.conv_groups > 1:
            lo, hi = input_channel_bounds(
                self.tgt.group_bounds, self.src.shape[0], self.tgt.shape[0], self.conv_groups
            )
            return self._channel_pair_events(x, lo, hi)
        src = self.src
        gsum = run_sums(x, src.group_bounds, 1, np.float64)
        need = self.need
        per = np.zeros((rows, src.num_cores, need.shape[0]), dtype=np.float64)
        groups = np.arange(src.num_groups) * src.num_chunks
        for j, (a, b) in enumerate(zip(src.chunk_bounds[:-1], src.chunk_bounds[1:], strict=True)):
            per[:, groups + j, :] = gsum[:, :, a:b] @ need[:, a:b].T
        return np.rint(per[:, self.ps, self.tgt.core_chunk[self.pt]]).astype(np.int64)

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

    def bundles(
        self,
        bits: np.ndarray,
        link_bits_per_cycle: int,
        tokens: bool,
        pair_lat: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, ...]], np.ndarray]:
        """Link cycles, latency, route and bit-hops of each row's bundle, from the bits of
        every pair [rows, pairs] and each pair's hop latency in cycles.

        A bundle holds the busiest route — the XY route of the heaviest flow through the most
        loaded link (on a tie the shorter route, then the first pair) — for ⌈peak link bits /
        link_bits_per_cycle⌉ cycles and arrives after the longest latency of the pairs it
        carries; an empty bundle holds no link and, without a barrier (``tokens``), still
        takes the longest pair latency (an end-of-step token).
        """
        rows = bits.shape[0]
        bits = np.ascontiguousarray(bits, np.int64)
        max_lat = int(pair_lat.max()) if pair_lat.size else 0
        peak = np.zeros(rows, np.int64)
        lat = np.full(rows, max_lat if tokens else 0, np.int64)
        best = np.full(rows, -1, np.int64)
        total = np.zeros(rows, np.int64)
        if len(self.link_start) > 1 and rows:
            _bundle_rows(
                bits,
                self.route_pair,
                self.route_link,
                self.link_start,
                self.by_link,
                np.ascontiguousarray(self.hops, np.int64),
                np.ascontiguousarray(pair_lat, np.int64),
                peak,
                lat,
                best,
                total,
            )
        ser = cost.link_cycles(peak, link_bits_per_cycle)
        routes = [
            ()
            if pair < 0
            else tuple(
                self.route_link[self.route_start[pair] : self.route_start[pair + 1]].tolist()
            )
            for pair in best.tolist()
        ]
        return ser, lat, routes, total


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
