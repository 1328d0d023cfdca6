"""One compiled pass over a NoC edge's core-pair events: the messages each core sends and
receives, their hops, and every bundle's busiest link, route, latency and bits × hops.

Imports ``timing.multicore_cost`` only; ``timing.multicore_traffic`` (``EdgeGeometry``) calls
it once per edge and build, for every (variant, slot) row at once. One call instead of label
sums, matrix products and a bundle pass each: the plan's Python work per edge stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurosim.timing import multicore_cost as cost

PAIR_COLUMNS = ("label", "source", "target", "abs_dx", "abs_dy", "hops", "sx", "sy", "tx", "ty")
"""Columns of an edge's static pair table (int64 [pairs, len(PAIR_COLUMNS)], ``pair_table``):
the column of a pair's count in the values, its source and target core (within their
layers), |Δx|, |Δy|, XY hops, and the source and target mesh positions."""

STAT_COLUMNS = (
    "messages",
    "hops_east_west",
    "hops_north_south",
    "peak",
    "latency",
    "pair",
    "route_hops",
)
"""Columns of the per-row statistics the pass returns besides the routes (``EdgeTraffic``)."""


def pair_table(
    label: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    src_xy: np.ndarray,
    tgt_xy: np.ndarray,
) -> np.ndarray:
    """int64 [pairs, len(PAIR_COLUMNS)]: an edge's static pair columns in one array (one
    argument of the compiled pass instead of ten), from each pair's label, source and target
    core and the mesh positions (x, y) of the source and target layers' cores (int64
    [cores, 2]); hops are the XY (Manhattan) distance. One compiled pass over the pairs.

    One record per pair: the compiled passes read a pair's columns from one cache line (ten
    rows of a power-of-two number of pairs fall into the same cache sets and ran ~5× slower)."""
    out = np.empty((len(source), len(PAIR_COLUMNS)), np.int64)
    src_xy = np.ascontiguousarray(src_xy, np.int64).reshape(-1, 2)
    tgt_xy = np.ascontiguousarray(tgt_xy, np.int64).reshape(-1, 2)
    bad = _pair_table(
        np.ascontiguousarray(label, np.int64),
        np.ascontiguousarray(source, np.int64),
        np.ascontiguousarray(target, np.int64),
        src_xy,
        tgt_xy,
        out,
    )
    if bad >= 0:
        raise ValueError(
            f"pair {bad} names source core {int(source[bad])} or target core "
            f"{int(target[bad])}; the layers have {len(src_xy)} and {len(tgt_xy)} cores"
        )
    return out


@numba.njit(cache=True, nogil=True)
def _pair_table(label, source, target, src_xy, tgt_xy, out):  # pragma: no cover - compiled
    """Fill ``pair_table``'s columns, pair by pair; returns the first pair whose source or
    target core is not a core of its layer (nothing read for it), or −1."""
    for q in range(source.shape[0]):
        s, t = source[q], target[q]
        if s < 0 or s >= src_xy.shape[0] or t < 0 or t >= tgt_xy.shape[0]:
            return q
        sx, sy, tx, ty = src_xy[s, 0], src_xy[s, 1], tgt_xy[t, 0], tgt_xy[t, 1]
        adx, ady = abs(sx - tx), abs(sy - ty)
        row = out[q]
        row[0], row[1], row[2] = label[q], s, t
        row[3], row[4], row[5] = adx, ady, adx + ady
        row[6], row[7], row[8], row[9] = sx, sy, tx, ty
    return -1


@numba.njit(cache=True, nogil=True)
def _edge_rows(
    values, pairs, pair_lat, scale, width, bundles, sent, received, stats, total, route
):  # pragma: no cover - compiled
    """Per row r of values [rows, labels] (non-negative; pair q carries values[r, label[q]]
    events, ``scale`` bits each): sent[r, source] and received[r, target] (Σ events),
    stats[r] (``STAT_COLUMNS``: Σ events, Σ events·|Δx|, Σ events·|Δy|; the most loaded
    link's bits, on a tie the lowest link id; the longest latency of the pairs carrying bits,
    left as given for an empty bundle; the pair whose route the bundle holds — heaviest
    through that link, then fewest hops, then first, −1 for none — and its hops),
    total[r] = Σ bits × hops and route[r] that pair's links in route order. ``bundles`` 0
    skips the links (a mesh without links).

    XY routes (x first) make every link's load a prefix sum: a pair adds its bits along a run
    of east or west links of its source row and a run of north or south links of its target
    column, so each run is two entries of a difference array over the pairs' bounding box —
    O(pairs + box) per row instead of O(Σ hops)."""
    n = pairs.shape[0]
    if n == 0:
        return
    label, src, tgt = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    adx, ady, hops = pairs[:, 3], pairs[:, 4], pairs[:, 5]
    sxs, sys, txs, tys = pairs[:, 6], pairs[:, 7], pairs[:, 8], pairs[:, 9]
    x0, x1 = min(sxs.min(), txs.min()), max(sxs.max(), txs.max())
    y0, y1 = min(sys.min(), tys.min()), max(sys.max(), tys.max())
    nx, ny = x1 - x0 + 1, y1 - y0 + 1
    # [direction, y, x] of the box (one spare row and column for the run ends), flat, and a
    # spare last entry that absorbs the runs of pairs without a move along an axis.
    plane = (ny + 1) * (nx + 1)
    flat = np.zeros(4 * plane + 1, np.int64)
    spare = 4 * plane
    at_idx = np.empty((n, 4), np.int64)  # one record per pair (see ``pair_table``)
    for q in range(n):
        sx, sy = sxs[q] - x0, sys[q] - y0
        tx, ty = txs[q] - x0, tys[q] - y0
        if tx > sx:  # east links leaving x = sx .. tx − 1 of row sy
            at_idx[q, 0] = sy * (nx + 1) + sx
            at_idx[q, 1] = sy * (nx + 1) + tx
        elif tx < sx:  # west links leaving x = tx + 1 .. sx
            at_idx[q, 0] = plane + sy * (nx + 1) + tx + 1
            at_idx[q, 1] = plane + sy * (nx + 1) + sx + 1
        else:
            at_idx[q, 0] = spare
            at_idx[q, 1] = spare
        if ty > sy:  # north links leaving y = sy .. ty − 1 of column tx
            at_idx[q, 2] = 2 * plane + sy * (nx + 1) + tx
            at_idx[q, 3] = 2 * plane + ty * (nx + 1) + tx
        elif ty < sy:  # south links leaving y = ty + 1 .. sy
            at_idx[q, 2] = 3 * plane + (ty + 1) * (nx + 1) + tx
            at_idx[q, 3] = 3 * plane + (sy + 1) * (nx + 1) + tx
        else:
            at_idx[q, 2] = spare
            at_idx[q, 3] = spare
    runs = flat[: 4 * plane].reshape((4, ny + 1, nx + 1))
    for r in range(values.shape[0]):
        row = values[r]
        srow, rrow = sent[r], received[r]
        msgs = np.int64(0)
        ew = np.int64(0)
        ns = np.int64(0)
        acc = np.int64(0)
        longest = np.iinfo(np.int64).min
        flat[:] = 0
        for q in range(n):
            e = row[label[q]]
            if e == 0:
                continue
            if pair_lat[q] > longest:
                longest = pair_lat[q]
            srow[src[q]] += e
            rrow[tgt[q]] += e
            msgs += e
            ew += e * adx[q]
            ns += e * ady[q]
            v = e * scale
            acc += v * hops[q]
            flat[at_idx[q, 0]] += v
            flat[at_idx[q, 1]] -= v
            flat[at_idx[q, 2]] += v
            flat[at_idx[q, 3]] -= v
        stats[r, 0], stats[r, 1], stats[r, 2] = msgs, ew, ns
        stats[r, 5] = -1
        if bundles == 0:
            continue
        total[r] = acc
        for d in range(2):
            for y in range(ny):
                for x in range(1, nx):
                    runs[d, y, x] += runs[d, y, x - 1]
        for d in range(2, 4):
            for y in range(1, ny):
                for x in range(nx):
                    runs[d, y, x] += runs[d, y - 1, x]
        # Links in id order 4·(y·width + x) + direction: the first maximum is the lowest id.
        top = np.int64(0)
        at = -1
        for y in range(ny):
            for x in range(nx):
                for d in range(4):
                    if runs[d, y, x] > top:
                        top = runs[d, y, x]
                        at = 4 * ((y + y0) * width + x + x0) + d
        stats[r, 3] = top
        if top == 0:
            continue
        stats[r, 4] = longest  # a link carries bits: scale > 0 and some pair has events
        # The pairs whose route crosses that link, in pair order (branch-free tests).
        lx, ly, d = (at // 4) % width, (at // 4) // width, at % 4
        pick = -1
        best_v = np.int64(-1)
        best_h = np.int64(0)
        for q in range(n):
            sx, sy, tx, ty = sxs[q], sys[q], txs[q], tys[q]
            if d == 0:
                crosses = (sy == ly) & (sx <= lx) & (lx < tx)
            elif d == 1:
                crosses = (sy == ly) & (tx < lx) & (lx <= sx)
            elif d == 2:
                crosses = (tx == lx) & (sy <= ly) & (ly < ty)
            else:
                crosses = (tx == lx) & (ty < ly) & (ly <= sy)
            if crosses:
                vq = row[label[q]]
                if vq > best_v or (vq == best_v and hops[q] < best_h):
                    pick, best_v, best_h = q, vq, hops[q]
        stats[r, 5] = pick
        stats[r, 6] = hops[pick]
        x, y, tx, ty = sxs[pick], sys[pick], txs[pick], tys[pick]
        k = 0
        while x != tx or y != ty:
            if x != tx:
                route[r, k] = 4 * (y * width + x) + (0 if tx > x else 1)
                x += 1 if tx > x else -1
            else:
                route[r, k] = 4 * (y * width + x) + (2 if ty > y else 3)
                y += 1 if ty > y else -1
            k += 1


@dataclass(frozen=True, eq=False)
class EdgeTraffic:
    """What one NoC edge carries per (variant, slot) row."""

    sent: np.ndarray
    """int64 [rows, source cores]: messages each source core sends."""
    received: np.ndarray
    """int64 [rows, target cores]: messages each target core receives."""
    moves: np.ndarray
    """int64 [rows, 3]: messages, Σ messages × |Δx| and Σ messages × |Δy|."""
    link_cycles: np.ndarray
    """int64 [rows]: cycles the bundle holds its route (⌈peak link bits / link width⌉)."""
    latency: np.ndarray
    """int64 [rows]: the longest hop latency of the pairs it carries (an empty bundle: the
    longest of the edge with ``tokens``, else 0)."""
    routes: list[tuple[int, ...]]
    """Links the bundle holds (the busiest route), per row; () for an empty bundle."""
    bit_hops: np.ndarray
    """int64 [rows]: Σ bits × hops."""


def edge_traffic(
    values: np.ndarray,
    pairs: np.ndarray,
    num_sources: int,
    num_targets: int,
    *,
    bits_per_event: int,
    link_bits_per_cycle: int,
    tokens: bool,
    pair_lat: np.ndarray,
    width: int,
    links: int,
) -> EdgeTraffic:
    """Messages, hops and bundles of every row of ``values`` (int64 [rows, labels]: events
    per label, read per pair through ``pairs``, a ``pair_table``).

    A bundle holds the busiest route — the XY route of the heaviest flow through the most
    loaded link (on a tie the shorter route, then the first pair) — for ⌈peak link bits /
    link_bits_per_cycle⌉ cycles and arrives after the longest latency (``pair_lat``, cycles)
    of the pairs it carries; an empty bundle holds no link and, without a barrier
    (``tokens``), still takes the longest pair latency (an end-of-step token).
    """
    rows = values.shape[0]
    values = np.ascontiguousarray(values, np.int64)
    pair_lat = np.ascontiguousarray(pair_lat, np.int64)
    hops = pairs[:, 5]
    max_lat = int(pair_lat.max()) if pair_lat.size else 0
    sent = np.zeros((rows, num_sources), np.int64)
    received = np.zeros((rows, num_targets), np.int64)
    stats = np.zeros((rows, len(STAT_COLUMNS)), np.int64)
    stats[:, 4] = max_lat if tokens else 0
    stats[:, 5] = -1
    total = np.zeros(rows, np.int64)
    route = np.zeros((rows, int(hops.max()) if hops.size else 0), np.int64)
    _edge_rows(
        values,
        pairs,
        pair_lat,
        np.int64(bits_per_event),
        np.int64(width),
        np.int64(1 if links and rows else 0),
        sent,
        received,
        stats,
        total,
        route,
    )
    routes = [
        tuple(links_[:k]) for k, links_ in zip(stats[:, 6].tolist(), route.tolist(), strict=True)
    ]
    return EdgeTraffic(
        sent=sent,
        received=received,
        moves=stats[:, :3],
        link_cycles=cost.link_cycles(stats[:, 3], link_bits_per_cycle),
        latency=stats[:, 4].copy(),
        routes=routes,
        bit_hops=total,
    )
