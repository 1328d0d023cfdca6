"""Multi-core traffic geometry of a plan: who sends what to whom, and one sample's events.

Imports ``ir``, ``mapping.multicore`` (and its geometry), ``timing.multicore_cost`` and
``timing.activity``; ``timing.multicore_plan`` builds plans from these. ``_EdgeGeometry``
holds an edge's core pairs, XY routes and the events each pair carries per slot;
``_bundles`` turns those into link cycles, latency and bit-hops; ``_SampleEvents`` gives one
trace sample's spikes in each consumer's input space (through folded pooling: summed windows,
or each max-pool window's winner).
"""

from __future__ import annotations

import numpy as np

from neurosim import ir
from neurosim.errors import ConfigError
from neurosim.mapping.multicore import EdgeMapping, LayerPartition
from neurosim.mapping.multicore_geometry import input_channel_bounds, xy_routes
from neurosim.timing import multicore_cost as cost
from neurosim.timing.activity import max_pool_winner
from neurosim.trace import Trace


def _sum_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(-2, -1))
    return win[..., ::s, ::s, :, :].sum(axis=(-2, -1))


class _Grouper:
    """Sums per label: Σ of x [slots, N] over the neurons sharing a label → [slots, num]."""

    def __init__(self, labels: np.ndarray, num: int) -> None:
        # Partitions with one position chunk give labels already in order: no gather needed.
        self.order = (
            None if np.all(labels[1:] >= labels[:-1]) else np.argsort(labels, kind="stable")
        )
        lab = labels if self.order is None else labels[self.order]
        self.starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        self.keys = lab[self.starts]
        self.num = num

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = x if self.order is None else x[:, self.order]
        out = np.zeros((x.shape[0], self.num), dtype=np.int64)
        out[:, self.keys] = np.add.reduceat(x, self.starts, axis=1)
        return out


class _EdgeGeometry:
    """Static per-edge data: core pairs, their XY routes, label maps."""

    def __init__(
        self,
        edge: EdgeMapping,
        src: LayerPartition,
        tgt: LayerPartition,
        width: int,
        conv_groups: int = 1,
    ) -> None:
        self.edge = edge
        self.src, self.tgt = src, tgt
        self.conv_groups = conv_groups
        """Groups of a spatial edge's target conv (its cores read their groups' channels)."""
        self.ps, self.pt = edge.pair_source, edge.pair_target
        self.route_pair, self.route_link = xy_routes(src.xy[self.ps], tgt.xy[self.pt], width)
        self.hops = edge.hops
        self.need = None if edge.need is None else edge.need.astype(np.float64)
        # Route of pair p = route_link[route_start[p]:route_start[p + 1]] (pairs in order);
        # the pairs crossing link l are by_link_pair where by_link == l (sorted by link).
        self.route_start = np.concatenate([[0], np.cumsum(self.hops)])
        order = np.argsort(self.route_link, kind="stable")
        self.by_link_pair = self.route_pair[order]
        self.by_link = self.route_link[order]
        if edge.kind == "one_to_one" and edge.need is None:
            d = tgt.num_cores
            self.group = _Grouper(src.neuron_core() * d + tgt.neuron_core(), src.num_cores * d)
        elif edge.kind == "dense":
            self.group = _Grouper(src.neuron_core(), src.num_cores)

    def pair_events(self, x: np.ndarray) -> np.ndarray:
        """Events each core pair carries per slot, from source events x [slots, C, H·W]."""
        kind = self.edge.kind
        slots = x.shape[0]
        if kind == "dense":
            return self.group(x.reshape(slots, -1))[:, self.ps]
        if kind == "one_to_one" and self.need is None:
            per = self.group(x.reshape(slots, -1))
            return per[:, self.ps * self.tgt.num_cores + self.pt]
        if kind == "one_to_one":
            return self._pooled_pair_events(x)
        if self.conv_groups > 1:
            lo, hi = input_channel_bounds(
                self.tgt.group_bounds, self.src.shape[0], self.tgt.shape[0], self.conv_groups
            )
            return self._channel_pair_events(x, lo, hi)
        src = self.src
        sizes = np.diff(src.group_bounds)
        if np.all(sizes == sizes[0]):
            # Equal channel groups: a reshape-sum, much faster than reduceat along axis 1.
            gsum = x.reshape(slots, len(sizes), int(sizes[0]), -1).sum(axis=2)
        else:
            gsum = np.add.reduceat(x, src.group_bounds[:-1], axis=1)
        gsum = gsum.astype(np.float64)
        need = self.need
        per = np.zeros((slots, src.num_cores, need.shape[0]), dtype=np.float64)
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
        slots = x.shape[0]
        # per[t, c, j_s, j_t]: channel c's events in source chunk j_s needed by target chunk j_t.
        per = np.stack(
            [
                x[:, :, a:b].astype(np.float64) @ need[:, a:b].T
                for a, b in zip(src.chunk_bounds[:-1], src.chunk_bounds[1:], strict=True)
            ],
            axis=2,
        )
        cum = np.concatenate([np.zeros((slots, 1, *per.shape[2:])), np.cumsum(per, axis=1)], 1)
        gs, gt = src.core_group[self.ps], tgt.core_group[self.pt]
        lo = np.maximum(src.group_bounds[gs], lo_t[gt])
        hi = np.maximum(np.minimum(src.group_bounds[gs + 1], hi_t[gt]), lo)
        js, jt = src.core_chunk[self.ps], tgt.core_chunk[self.pt]
        out = cum[:, hi, js, jt] - cum[:, lo, js, jt]
        return np.rint(out).astype(np.int64)


def _bundles(
    geo: _EdgeGeometry,
    bits: np.ndarray,
    hw,
    num_links: int,
    tokens: bool,
    pair_lat: np.ndarray | None = None,
):
    """Link cycles, latency, route and bit-hops of each slot's bundle (vectorised over pairs);
    ``pair_lat``: each pair's hop latency in cycles (default hops × ``noc.hop_latency_cycles``)."""
    loads = cost.link_loads(bits, geo.route_pair, geo.route_link, num_links)
    peak = loads.max(axis=1) if num_links else np.zeros(bits.shape[0], np.int64)
    ser = cost.link_cycles(peak, hw.noc.link_bits_per_cycle)
    if pair_lat is None:
        pair_lat = geo.hops * int(hw.noc.hop_latency_cycles)
    max_lat = int(pair_lat.max()) if pair_lat.size else 0
    lat = np.zeros(bits.shape[0], np.int64)
    routes = []
    for t in range(bits.shape[0]):
        if peak[t] == 0:
            lat[t] = max_lat if tokens else 0
            routes.append(())
            continue
        lat[t] = int(pair_lat[bits[t] > 0].max())
        best = int(np.argmax(loads[t]))
        lo, hi = np.searchsorted(geo.by_link, [best, best + 1])
        cand = geo.by_link_pair[lo:hi]
        # The heaviest flow through the bottleneck link; on a tie the shorter route.
        pair = int(cand[np.lexsort((geo.hops[cand], -bits[t, cand]))[0]])
        route = geo.route_link[geo.route_start[pair] : geo.route_start[pair + 1]]
        routes.append(tuple(route.tolist()))
    return ser, lat, tuple(routes), loads.sum(axis=1)


class _SampleEvents:
    """Events of every producer for one trace sample, computed once and shared by consumers."""

    def __init__(self, trace: Trace, net: ir.Network, sample: int) -> None:
        self.trace, self.net, self.v = trace, net, sample
        self._spikes: dict[str, np.ndarray] = {}
        self._chsum: dict[str, np.ndarray] = {}

    def spikes(self, name: str) -> np.ndarray:
        """int32 [slots, C, H·W]: 1 per non-zero spike (the network input: per non-zero code,
        one slot, unless SWS encodes it into spikes)."""
        if name not in self._spikes:
            net, trace = self.net, self.trace
            shape = net.shapes[name]
            lt = trace.layer(name)
            if isinstance(net.layer(name), ir.Input) and lt.spikes is None:
                if trace.inputs is None:
                    raise ConfigError(
                        "the trace has no input codes; run functional.run(..., keep_spikes=True)"
                    )
                ev = (np.asarray(trace.inputs[self.v]) != 0)[None]
            elif lt.spikes is None:
                raise ConfigError(
                    f"the trace has no spikes for layer '{name}'; run "
                    f"functional.run(..., keep_spikes=True)"
                )
            else:
                ev = lt.spikes[:, self.v] != 0
            c = shape[0] if len(shape) == 3 else int(np.prod(shape))
            self._spikes[name] = ev.reshape(ev.shape[0], c, -1).astype(np.int32)
        return self._spikes[name]

    def pooled_spikes(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """int [slots, C, positions] of the consumer's input space: the spikes, each pooling
        window summed (a pooled value v is v accumulations); the spikes themselves without
        pooling."""
        x = self.spikes(name)
        pools = [self.net.layer(n) for n in via]
        if any(isinstance(lay, ir.MaxPool2d) for lay in pools):
            return self._max_pooled(name, via)
        pools = [lay for lay in pools if isinstance(lay, ir.AvgPool2d)]
        if not pools:
            return x
        shape = self.net.shapes[name]
        m = x.reshape(x.shape[0], shape[0], shape[1], shape[2]).astype(np.int64)
        for lay in pools:
            m = _sum_pool(m, lay.kernel, lay.stride)
        return m.reshape(m.shape[0], m.shape[1], -1)

    def _max_pooled(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """int64 [slots, C, positions]: the spikes through folded pooling that includes max
        pooling of whole-sample levels — each max-pool window forwards its winner's spikes
        (``activity.max_pool_winner``, as the functional pass does)."""
        x = self.spikes(name)
        shape = self.net.shapes[name]
        m = x.reshape(x.shape[0], *shape).astype(np.int64)
        for layer_name in via:
            lay = self.net.layer(layer_name)
            if isinstance(lay, ir.AvgPool2d):
                m = _sum_pool(m, lay.kernel, lay.stride)
            elif isinstance(lay, ir.MaxPool2d):
                m = max_pool_winner(m, lay)
        return m.reshape(m.shape[0], m.shape[1], -1)

    def pooled_group_sum(self, name: str, via: tuple[str, ...], groups: int) -> np.ndarray:
        """int [slots, groups, H, W]: events per position summed over each of ``groups`` equal
        runs of channels (a grouped conv's input groups), through folded pooling."""
        if any(isinstance(self.net.layer(n), ir.MaxPool2d) for n in via):
            m = self._max_pooled(name, via)
            out_hw = self.net.shapes[via[-1]][1:]
            g = m.reshape(m.shape[0], groups, m.shape[1] // groups, -1).sum(axis=2)
            return g.reshape(m.shape[0], groups, *out_hw)
        key = (name, groups)
        if key not in self._chsum:
            x = self.spikes(name)
            shape = self.net.shapes[name]
            g = x.reshape(x.shape[0], groups, shape[0] // groups, -1).sum(axis=2, dtype=np.int64)
            self._chsum[key] = g.reshape(x.shape[0], groups, *shape[1:])
        m = self._chsum[key]
        for layer_name in via:
            lay = self.net.layer(layer_name)
            if isinstance(lay, ir.AvgPool2d):
                m = _sum_pool(m, lay.kernel, lay.stride)
        return m

    def pooled_channel_sum(self, name: str, via: tuple[str, ...]) -> np.ndarray:
        """int [slots, H, W] (or [slots, n]): events per position summed over channels, carried
        through folded pooling (a pooled input counts the spikes of its window)."""
        if any(isinstance(self.net.layer(n), ir.MaxPool2d) for n in via):
            m = self._max_pooled(name, via).sum(axis=1)
            shape = self.net.shapes[via[-1]]
            return m.reshape(m.shape[0], *shape[1:]) if len(shape) == 3 else m
        key = name
        if key not in self._chsum:
            x = self.spikes(name)
            shape = self.net.shapes[name]
            per_pos = x.sum(axis=1, dtype=np.int64)
            self._chsum[key] = (
                per_pos.reshape(x.shape[0], *shape[1:])
                if len(shape) == 3
                else x[:, :, 0].astype(np.int64)
            )
        m = self._chsum[key]
        for layer_name in via:
            lay = self.net.layer(layer_name)
            if isinstance(lay, ir.AvgPool2d):
                m = _sum_pool(m, lay.kernel, lay.stride)
        return m
