"""Plain-numpy truth for ``neurosim.timing.multicore_traffic``: ``np.add.at`` scatters,
``bincount`` and ``lexsort``, one row at a time; slow on purpose.
"""

from __future__ import annotations

import itertools

import numpy as np


def label_sums(x: np.ndarray, labels: np.ndarray, num: int) -> np.ndarray:
    """out[r, l] = Σ_{n: labels[n] = l} x[r, n] for x [rows, N]."""
    out = np.zeros((x.shape[0], num), np.int64)
    np.add.at(out.T, labels, x.T.astype(np.int64))
    return out


def run_sums(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """out[r, i] = Σ x[r, bounds[i]:bounds[i + 1]] for x [rows, N] (empty runs give 0)."""
    return np.stack(
        [x[:, a:b].astype(np.int64).sum(axis=1) for a, b in itertools.pairwise(bounds)], axis=1
    )


def neuron_core(shape, group_bounds, chunk_bounds) -> np.ndarray:
    """Core (group·J + chunk) of every C-order neuron."""
    c, h, w = shape
    g = np.searchsorted(group_bounds, np.arange(c), side="right") - 1
    j = np.searchsorted(chunk_bounds, np.arange(h * w), side="right") - 1
    return (g[:, None] * (len(chunk_bounds) - 1) + j[None, :]).reshape(-1)


def receptive_active(m, kernel, padding, stride, dilation, out_hw):
    """bool [rows, H_out·W_out]: Σ of the zero-padded m [rows, H, W] over each output's
    strided, dilated taps is positive (one shifted slice per tap)."""
    kh, kw = kernel
    p, s, d = padding, stride, dilation
    padded = np.pad(m.astype(np.int64), ((0, 0), (p, p), (p, p)))
    ho, wo = out_hw
    acc = np.zeros((m.shape[0], ho, wo), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            dy, dx = ky * d, kx * d
            acc += padded[:, dy : dy + (ho - 1) * s + 1 : s, dx : dx + (wo - 1) * s + 1 : s]
    return (acc > 0).reshape(m.shape[0], -1)


def need_runs(need, chunk_bounds):
    """(target chunk, source chunk, start, stop) of every maximal run of needed positions
    within one source chunk, row by row (a plain loop)."""
    out = []
    for jt, row in enumerate(need):
        for js, (a, b) in enumerate(itertools.pairwise(chunk_bounds)):
            pos = a
            while pos < b:
                if row[pos]:
                    start = pos
                    while pos < b and row[pos]:
                        pos += 1
                    out.append((jt, js, start, pos))
                else:
                    pos += 1
    cols = np.array(out, np.int64).reshape(-1, 4).T
    return tuple(cols)


def bundles(bits, route_pair, route_link, hops, pair_lat, num_links, tokens):
    """(link cycles before the link width, latency, route pair or −1, bits × hops) per row:
    bincount link loads, the first most loaded link, the heaviest pair through it, then the
    one with the fewest hops, then the first (a stable lexsort)."""
    rows = bits.shape[0]
    peak = np.zeros(rows, np.int64)
    lat = np.zeros(rows, np.int64)
    best = np.full(rows, -1, np.int64)
    total = np.zeros(rows, np.int64)
    max_lat = int(pair_lat.max()) if pair_lat.size else 0
    for r in range(rows):
        loads = np.bincount(route_link, weights=bits[r, route_pair], minlength=num_links)
        loads = loads.astype(np.int64)
        total[r] = loads.sum()
        peak[r] = loads.max() if num_links else 0
        if peak[r] == 0:
            lat[r] = max_lat if tokens else 0
            continue
        lat[r] = int(pair_lat[bits[r] > 0].max())
        link = int(np.argmax(loads))
        cand = route_pair[route_link == link]
        best[r] = int(cand[np.lexsort((hops[cand], -bits[r, cand]))[0]])
    return peak, lat, best, total


def spatial_pair_events(x, src_groups, src_chunks, need, pair_source, pair_target_chunk):
    """Events of each (source core, target core) pair per row of x [rows, C, P]: the source
    core's channels × its chunk's positions that the target chunk needs (a masked sum)."""
    chunks = len(src_chunks) - 1
    out = np.zeros((x.shape[0], len(pair_source)), np.int64)
    for q, (s, jt) in enumerate(zip(pair_source, pair_target_chunk, strict=True)):
        g, j = divmod(int(s), chunks)
        mask = np.zeros(x.shape[2], bool)
        mask[src_chunks[j] : src_chunks[j + 1]] = True
        mask &= need[jt]
        block = x[:, src_groups[g] : src_groups[g + 1], :].astype(np.int64)
        out[:, q] = block[:, :, mask].sum(axis=(1, 2))
    return out
