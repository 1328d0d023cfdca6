"""Multi-core geometry shared by the mapping and the timing model: core placements on the
mesh, balanced splits, receptive-field fan-out maps, pooling expansion and XY routes
(hardware-models §2.1). Imports nothing from neurosim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numba
import numpy as np

# --------------------------------------------------------------------------------------------
# Placement registry
# --------------------------------------------------------------------------------------------

Placement = Callable[[Sequence[int], int, int], np.ndarray]
"""``placement(core_counts, mesh_width, mesh_height) -> int64 [sum(core_counts), 2]`` (x, y):
the mesh position of every core, layers in network order, each layer's cores consecutive."""


def place_snake(core_counts: Sequence[int], width: int, height: int) -> np.ndarray:
    """Boustrophedon placement: cores in layer order along row 0 left→right, row 1 right→left, …

    Consecutive layers land on neighbouring cores, so most spike traffic travels few hops.
    """
    total = int(sum(core_counts))
    idx = np.arange(total, dtype=np.int64)
    y = idx // width
    x = idx % width
    x = np.where(y % 2 == 0, x, width - 1 - x)
    return np.stack([x, y], axis=1)


PLACEMENTS: Mapping[str, Placement] = {"snake": place_snake}
"""Placement name → function. Add a better placement here (e.g. one that minimises bit-hops)."""


# --------------------------------------------------------------------------------------------
# Geometry helpers (shared with the timing model)
# --------------------------------------------------------------------------------------------

LINK_DIRECTIONS = ("east", "west", "north", "south")
"""Directed mesh links leave a router towards +x, -x, +y, -y; link id = 4·(y·width + x) + dir."""


def balanced_bounds(total: int, parts: int) -> np.ndarray:
    """Boundaries [parts + 1] splitting ``total`` items into ``parts`` near-equal runs."""
    # The first total % parts runs hold one item more: bound i = i·⌊total/parts⌋ + min(i, rest).
    i = np.arange(parts + 1, dtype=np.int64)
    return i * (total // parts) + np.minimum(i, total % parts)


def run_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """bool [runs of a, runs of b]: run [a_i, a_{i+1}) and run [b_j, b_{j+1}) share an item
    (``a``, ``b``: run boundaries, e.g. two partitions' channel groups)."""
    lo = np.maximum(a[:-1, None], b[None, :-1])
    return lo < np.minimum(a[1:, None], b[None, 1:])


def conv_fanout(
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: int,
    padding: int,
    chunk_bounds: np.ndarray,
    dilation: int = 1,
) -> np.ndarray:
    """Fan-out of each input position into each chunk of output positions of a conv.

    Returns int64 [chunks, H_in·W_in]: how many output positions of chunk j (a run of C-order
    positions ``oy·W_out + ox``) have input (y, x) among their K_h×K_w taps (``dilation`` d
    apart). An input spike at (c_in, y, x) costs ``fanout[j, y·W_in + x]`` synaptic operations
    per output channel held by a core of chunk j (that reads c_in: its group's channels in a
    grouped conv). A compiled pass over the output positions' taps.
    """
    chunks = len(chunk_bounds) - 1
    out = np.zeros((chunks, in_hw[0] * in_hw[1]), dtype=np.int64)
    _conv_fanout(
        np.array([*in_hw, *out_hw, *kernel, stride, padding, dilation], np.int64),
        np.ascontiguousarray(chunk_bounds, np.int64),
        out,
    )
    return out


@numba.njit(cache=True, nogil=True)
def _conv_fanout(geometry, chunk_bounds, out):  # pragma: no cover - compiled
    """out[j, iy·W_in + ix] += 1 for every tap (iy, ix) inside the input of every output
    position of chunk j; ``geometry`` = (H_in, W_in, H_out, W_out, K_h, K_w, stride,
    padding, dilation)."""
    h_in, w_in, _, w_out, kh, kw, stride, padding, dilation = geometry
    for j in range(chunk_bounds.shape[0] - 1):
        row = out[j]
        for pos in range(chunk_bounds[j], chunk_bounds[j + 1]):
            oy, ox = pos // w_out, pos % w_out
            for ky in range(kh):
                iy = oy * stride + ky * dilation - padding
                if iy < 0 or iy >= h_in:
                    continue
                for kx in range(kw):
                    ix = ox * stride + kx * dilation - padding
                    if 0 <= ix < w_in:
                        row[iy * w_in + ix] += 1


def core_pairs(
    group_comm: np.ndarray, chunk_comm: np.ndarray, src_xy: np.ndarray, tgt_xy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The communicating (source core, target core) pairs of an edge and their XY hops.

    Cores are numbered group·J + chunk on both sides; source core (g_s, j_s) talks to target
    core (g_t, j_t) iff ``group_comm[g_s, g_t]`` and ``chunk_comm[j_s, j_t]`` (bool; the edge's
    core matrix is their Kronecker product). Returns int64 ``(source, target, hops)`` in
    row-major order of that matrix (as ``np.nonzero`` of it), built in one compiled pass
    over the pairs instead of over the whole [source cores, target cores] matrix.
    """
    group_comm = np.ascontiguousarray(group_comm, np.bool_)
    chunk_comm = np.ascontiguousarray(chunk_comm, np.bool_)
    cores = (
        group_comm.shape[0] * chunk_comm.shape[0],
        group_comm.shape[1] * chunk_comm.shape[1],
    )
    if np.shape(src_xy) != (cores[0], 2) or np.shape(tgt_xy) != (cores[1], 2):
        raise ValueError(
            f"core_pairs needs one (x, y) per core: {cores[0]} source and {cores[1]} target "
            f"cores, got positions of shape {np.shape(src_xy)} and {np.shape(tgt_xy)}"
        )
    n = int(np.count_nonzero(group_comm)) * int(np.count_nonzero(chunk_comm))
    source, target, hops = (np.empty(n, np.int64) for _ in range(3))
    _core_pairs(
        group_comm,
        chunk_comm,
        np.ascontiguousarray(src_xy, np.int64),
        np.ascontiguousarray(tgt_xy, np.int64),
        source,
        target,
        hops,
    )
    return source, target, hops


@numba.njit(cache=True, nogil=True)
def _core_pairs(
    group_comm, chunk_comm, src_xy, tgt_xy, source, target, hops
):  # pragma: no cover - compiled
    """(source[k], target[k], hops[k]) = (source core, target core, |Δx| + |Δy|) of the k-th
    pair of kron(group_comm, chunk_comm) in row-major order."""
    js_n, jt_n = chunk_comm.shape
    k = 0
    for gs in range(group_comm.shape[0]):
        for js in range(js_n):
            s = gs * js_n + js
            for gt in range(group_comm.shape[1]):
                if not group_comm[gs, gt]:
                    continue
                for jt in range(jt_n):
                    if chunk_comm[js, jt]:
                        t = gt * jt_n + jt
                        source[k], target[k] = s, t
                        hops[k] = abs(src_xy[s, 0] - tgt_xy[t, 0]) + abs(
                            src_xy[s, 1] - tgt_xy[t, 1]
                        )
                        k += 1


def input_channel_bounds(
    group_bounds: np.ndarray, c_in: int, c_out: int, groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Input channels [lo, hi) that each channel group [b_k, b_{k+1}) of a conv's output
    channels reads, int64 [G] each: every input channel without conv groups; with ``groups``
    g, the C_in/g channels of each conv group its output channels belong to."""
    gb = np.asarray(group_bounds, np.int64)
    if groups == 1:
        return np.zeros(len(gb) - 1, np.int64), np.full(len(gb) - 1, c_in, np.int64)
    cog, cig = c_out // groups, c_in // groups
    return (gb[:-1] // cog) * cig, ((gb[1:] - 1) // cog + 1) * cig


def pool_expand(
    need: np.ndarray,
    pooled_hw: tuple[int, int],
    src_hw: tuple[int, int],
    kernel: int,
    stride: int,
    padding: int = 0,
) -> np.ndarray:
    """Pull a per-chunk mask over pooled positions back to the positions it pools.

    ``need`` [chunks, H_p·W_p] (bool or counts) → [chunks, H_s·W_s]: a source position is
    needed by a chunk if any pooling window containing it is needed (bool), or the sum over the
    windows containing it (counts: the fan-out of a source spike through the pool).
    """
    chunks = need.shape[0]
    hp, wp = pooled_hw
    hs, ws = src_hw
    src = np.zeros((chunks, hs + 2 * padding, ws + 2 * padding), dtype=need.dtype)
    pooled = need.reshape(chunks, hp, wp)
    for dy in range(kernel):
        for dx in range(kernel):
            rows = slice(dy, dy + (hp - 1) * stride + 1, stride)
            cols = slice(dx, dx + (wp - 1) * stride + 1, stride)
            view = src[:, rows, cols]
            if need.dtype == bool:
                view |= pooled
            else:
                view += pooled
    src = src[:, padding : padding + hs, padding : padding + ws]
    return np.ascontiguousarray(src).reshape(chunks, -1)


def xy_routes(src_xy: np.ndarray, dst_xy: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Links of the XY (dimension-ordered) route of every (source, destination) core pair.

    Returns ``(pair, link)``: two int64 arrays of equal length, one entry per link a pair's
    route uses, in route order (x first, then y). Hops of pair p = count of p in ``pair``
    = |Δx| + |Δy| (Manhattan distance).
    """
    sx, sy = src_xy[:, 0], src_xy[:, 1]
    dx, dy = dst_xy[:, 0], dst_xy[:, 1]
    nx = np.abs(dx - sx)
    ny = np.abs(dy - sy)
    hops = nx + ny
    pair = np.repeat(np.arange(len(sx), dtype=np.int64), hops)
    step = np.arange(len(pair), dtype=np.int64) - np.repeat(np.cumsum(hops) - hops, hops)
    nxr = np.repeat(nx, hops)
    sxr, syr = np.repeat(sx, hops), np.repeat(sy, hops)
    dxr = np.repeat(dx, hops)
    sgx = np.sign(np.repeat(dx - sx, hops))
    sgy = np.sign(np.repeat(dy - sy, hops))
    in_x = step < nxr
    # Router the link leaves: along x from the source row; then along y in the target column.
    rx = np.where(in_x, sxr + sgx * step, dxr)
    ry = np.where(in_x, syr, syr + sgy * (step - nxr))
    direction = np.where(in_x, np.where(sgx > 0, 0, 1), np.where(sgy > 0, 2, 3))
    link = 4 * (ry * width + rx) + direction
    return pair, link.astype(np.int64)
