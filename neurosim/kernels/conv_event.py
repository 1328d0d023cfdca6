"""Event back end of ``conv2d``: a Numba scatter over the non-zero inputs only, exact in int32
or int64 (with an int16 accumulator between flushes where the bound allows it).

Imports numpy, numba and the sibling ``operands``.
"""

from __future__ import annotations

import numba
import numpy as np

from neurosim.kernels.conv_positions import _scatter_positions
from neurosim.kernels.operands import _INT16_MAX, _INT32_MAX
from neurosim.kernels.simd import LANES


@numba.njit(cache=True, nogil=True)
def _scatter(
    acc,
    w_flat,
    row_start,
    cols,
    vals,
    c_lo,
    c_hi,
    height,
    band,
    kernel_h,
    kernel_w,
    acc_rows,
    out_w,
    stride,
    padding,
    dilation,
    num_out,
    in_per_group,
):
    """Add the compacted non-zero inputs of channels c_lo..c_hi-1 of one frame into the
    mirrored channel-last accumulator ``acc`` [groups, acc_rows, Wo, num_out] of one output
    band, whose row 0 is output row oy_lo (see ``_conv_event``).

    Input channel c feeds only the ``num_out`` outputs of its group c // ``in_per_group``.
    ``band`` = (iy_lo, iy_hi, oy_lo, oy_hi): only the input rows iy_lo..iy_hi-1, and of their
    taps only those into output rows oy_lo..oy_hi-1 (a band of the output, see
    ``_conv_event``). Dilated kernels go to ``_scatter_dilated``, kept apart so that this loop
    compiles as it did before dilation existed (with both in one loop the VGG-16 event convs
    ran ~2 % slower).
    """
    if dilation > 1:
        _scatter_dilated(
            acc,
            w_flat,
            row_start,
            cols,
            vals,
            c_lo,
            c_hi,
            height,
            band,
            kernel_h,
            kernel_w,
            acc_rows,
            out_w,
            stride,
            padding,
            dilation,
            num_out,
            in_per_group,
        )
        return
    group_size = acc_rows * out_w * num_out
    iy_lo, iy_hi, oy_lo, oy_hi = band
    for c in range(c_lo, c_hi):
        base = (c // in_per_group) * group_size - oy_lo * out_w * num_out
        for iy in range(iy_lo, iy_hi):
            for e in range(row_start[c * height + iy], row_start[c * height + iy + 1]):
                ix = cols[e]
                v = vals[e]
                if stride == 1:
                    rx0 = out_w - 1 - ix - padding
                    kx0 = max(0, -rx0)
                    kx1 = min(kernel_w, out_w - rx0)
                    if kx1 <= kx0:
                        continue
                    run = (kx1 - kx0) * num_out
                    ky0 = max(0, iy + padding - oy_hi + 1)
                    ky1 = min(kernel_h, iy + padding - oy_lo + 1)
                    for ky in range(ky0, ky1):
                        oy = iy + padding - ky
                        a = base + (oy * out_w + rx0 + kx0) * num_out
                        b = ((c * kernel_h + ky) * kernel_w + kx0) * num_out
                        acc_run = acc[a : a + run]
                        w_run = w_flat[b : b + run]
                        # Binary and ternary spikes skip the multiply.
                        if v == 1:
                            for q in range(run):
                                acc_run[q] += w_run[q]
                        elif v == -1:
                            for q in range(run):
                                acc_run[q] -= w_run[q]
                        else:
                            for q in range(run):
                                acc_run[q] += v * w_run[q]
                else:
                    # Only the taps this input reaches: ky ≡ iy + padding (mod stride), and
                    # then oy falls by one per tap (kx and ox alike). One division per input
                    # instead of two per tap: 10-15 % faster on ResNet-18's 3x3 stride-2
                    # convs, as fast as a stride-2 special case with shifts.
                    qy = (iy + padding) // stride
                    qx = (ix + padding) // stride
                    oy = qy + 1
                    for ky in range(iy + padding - qy * stride, kernel_h, stride):
                        oy -= 1
                        if oy < oy_lo:
                            break
                        if oy >= oy_hi:
                            continue
                        ox = qx + 1
                        for kx in range(ix + padding - qx * stride, kernel_w, stride):
                            ox -= 1
                            if ox < 0:
                                break
                            if ox >= out_w:
                                continue
                            a = base + (oy * out_w + out_w - 1 - ox) * num_out
                            b = ((c * kernel_h + ky) * kernel_w + kx) * num_out
                            acc_run = acc[a : a + num_out]
                            w_run = w_flat[b : b + num_out]
                            if v == 1:
                                for q in range(num_out):
                                    acc_run[q] += w_run[q]
                            else:
                                for q in range(num_out):
                                    acc_run[q] += v * w_run[q]


@numba.njit(cache=True, nogil=True)
def _scatter_dilated(
    acc,
    w_flat,
    row_start,
    cols,
    vals,
    c_lo,
    c_hi,
    height,
    band,
    kernel_h,
    kernel_w,
    acc_rows,
    out_w,
    stride,
    padding,
    dilation,
    num_out,
    in_per_group,
):
    """``_scatter`` for a dilated kernel (any stride): one run of ``num_out`` per tap."""
    group_size = acc_rows * out_w * num_out
    # The taps that reach one input are every tap_step-th one, tap_step = stride /
    # gcd(stride, dilation), and the output index falls by out_step between them.
    tap_step = 1
    while (tap_step * dilation) % stride != 0:
        tap_step += 1
    out_step = tap_step * dilation // stride
    iy_lo, iy_hi, oy_lo, oy_hi = band
    for c in range(c_lo, c_hi):
        base = (c // in_per_group) * group_size - oy_lo * out_w * num_out
        for iy in range(iy_lo, iy_hi):
            for e in range(row_start[c * height + iy], row_start[c * height + iy + 1]):
                ix = cols[e]
                v = vals[e]
                # Dilated: tap ky of output row oy reads padded row oy·stride + ky·dilation,
                # so input row ty = iy + padding is read by the taps ky with
                # ty - ky·dilation ≡ 0 (mod stride). They are every tap_step-th tap from
                # the first, found among taps 0..tap_step-1 (columns alike).
                ty = iy + padding
                tx = ix + padding
                ky0 = 0
                while ky0 < tap_step and (ty - ky0 * dilation) % stride != 0:
                    ky0 += 1
                kx0 = 0
                while kx0 < tap_step and (tx - kx0 * dilation) % stride != 0:
                    kx0 += 1
                if ky0 == tap_step or kx0 == tap_step:
                    continue  # no tap reaches this input (gcd(stride, dilation) ∤ ty, tx)
                oy = (ty - ky0 * dilation) // stride
                for ky in range(ky0, kernel_h, tap_step):
                    if oy < oy_lo:
                        break
                    if oy < oy_hi:
                        ox = (tx - kx0 * dilation) // stride
                        for kx in range(kx0, kernel_w, tap_step):
                            if ox < 0:
                                break
                            if ox < out_w:
                                a = base + (oy * out_w + out_w - 1 - ox) * num_out
                                b = ((c * kernel_h + ky) * kernel_w + kx) * num_out
                                acc_run = acc[a : a + num_out]
                                w_run = w_flat[b : b + num_out]
                                if v == 1:
                                    for q in range(num_out):
                                        acc_run[q] += w_run[q]
                                else:
                                    for q in range(num_out):
                                        acc_run[q] += v * w_run[q]
                            ox -= out_step
                    oy -= out_step


@numba.njit(cache=True, nogil=True)
def _conv_event(
    x, weight_t, stride, padding, dilation, out, flush_channels, band_rows, parts, lo, hi
):
    """Scatter-add the non-zero inputs of the items lo..hi-1 into ``out``; item i is part
    i % ``parts`` of frame i // ``parts``, a run of whole output bands.

    x is [N, Ci, H, W]; weight_t is [Ci, Kh, Kw, Co/groups], weight_t[c, ky, kx, o] the weight
    from input channel c to output channel o of c's group; out is [N, Co, Ho, Wo] in the
    accumulator dtype (int32 or int64), its rows of these items fully overwritten (groups = Co /
    weight_t.shape[3]). Outputs are made ``band_rows`` rows at a time: the input rows with a
    tap into the band are compacted and add those taps only, so the band's accumulators stay
    in cache on large planes (``_event_band_rows``) and each output is written by one item.
    With ``flush_channels`` > 0 the inputs are added that many channels at a time into an int16
    accumulator, flushed into the wide one after each block (a contiguous, vectorised pass):
    twice the SIMD lanes and half the bytes of the scatter, while the un-mirroring below, which
    cannot be vectorised, reads one accumulator. ``conv2d`` sizes the block so that int16
    cannot overflow (``_int16_block``); a block of every channel is un-mirrored straight from
    int16, with no wide accumulator or flush (10-13 % faster, one thread, on VGG-16 ImageNet's
    64 -> 64 @ 224 and 3 -> 64 @ 224 convs).
    """
    _num_frames, num_in, height, width = x.shape
    _, kernel_h, kernel_w, num_out = weight_t.shape
    out_h = out.shape[2]
    out_w = out.shape[3]
    groups = out.shape[1] // num_out
    in_per_group = num_in // groups
    group_size = band_rows * out_w * num_out
    num_bands = (out_h + band_rows - 1) // band_rows
    w_flat = weight_t.ravel()
    # Channel-last accumulator of one band [groups, band_rows, Wo, Co/groups] with the columns
    # mirrored (index Wo-1-ox): input column ix reaches mirrored column Wo-1-ix-padding+kx,
    # increasing with kx, so one kernel row (stride 1, dilation 1) is one contiguous run of
    # Kw·Co/groups in both the accumulator and weight_t.
    single = flush_channels >= num_in  # one int16 block: no wide accumulator
    acc = np.zeros(0 if single else groups * group_size, out.dtype)
    acc16 = np.zeros(groups * group_size if flush_channels > 0 else 0, np.int16)
    # Stride 1 without dilation into int16 blocks, whole 32-lane steps of outputs: the
    # position-major scatter, which lists one input row at a time (``_scatter_positions``).
    positions = stride == 1 and dilation == 1 and flush_channels > 0 and num_out % LANES == 0
    # Otherwise the non-zero inputs of the rows one band reads, compacted per (channel, row)
    # without branches; channel c's entries start at chan_start[c].
    band_in = min(height, (band_rows - 1) * stride + (kernel_h - 1) * dilation + 1)
    list_size = num_in * width if positions else num_in * band_in * width
    row_start = np.empty(num_in * height + 1, np.int64)
    chan_start = np.empty(num_in + 1, np.int64)
    cols = np.empty(list_size, np.int64)  # positions: weight_t offsets
    vals = np.empty(list_size, out.dtype)
    pos_start = np.empty(width + 1 if positions else 0, np.int64)
    masks = np.empty((num_in + 63) // 64 * width if positions else 0, np.uint64)
    for item in range(lo, hi):
        n = item // parts
        part = item % parts
        for b in range(num_bands * part // parts, num_bands * (part + 1) // parts):
            oy0 = b * band_rows
            oy1 = min(out_h, oy0 + band_rows)
            # Input rows with a tap into output rows oy0..oy1-1.
            iy0 = max(0, oy0 * stride - padding)
            iy1 = min(height, (oy1 - 1) * stride - padding + (kernel_h - 1) * dilation + 1)
            iy1 = max(iy0, iy1)  # none: every tap of the band in the padding
            k = 0
            for c in range(0 if positions else num_in):
                chan_start[c] = k
                for iy in range(iy0, iy1):
                    row_start[c * height + iy] = k
                    for ix in range(width):
                        v = x[n, c, iy, ix]
                        cols[k] = ix
                        vals[k] = v
                        k += v != 0
                row_start[c * height + iy1] = k  # end of the last row (see _scatter)
            chan_start[num_in] = k
            band = (iy0, iy1, oy0, oy1)
            if flush_channels <= 0:
                _scatter(
                    acc,
                    w_flat,
                    row_start,
                    cols,
                    vals,
                    0,
                    num_in,
                    height,
                    band,
                    kernel_h,
                    kernel_w,
                    band_rows,
                    out_w,
                    stride,
                    padding,
                    dilation,
                    num_out,
                    in_per_group,
                )
            else:
                for c0 in range(0, num_in, flush_channels):
                    c1 = min(num_in, c0 + flush_channels)
                    if positions:
                        count = _scatter_positions(
                            x,
                            n,
                            acc16,
                            w_flat,
                            c0,
                            c1,
                            (iy0, iy1, oy0, oy1, oy0),
                            kernel_h,
                            kernel_w,
                            band_rows,
                            out_w,
                            padding,
                            num_out,
                            in_per_group,
                            cols,
                            vals,
                            pos_start,
                            masks,
                        )
                        if count == 0:
                            continue  # no input in this block
                    elif chan_start[c1] == chan_start[c0]:
                        continue  # no input in this block
                    else:
                        _scatter(
                            acc16,
                            w_flat,
                            row_start,
                            cols,
                            vals,
                            c0,
                            c1,
                            height,
                            band,
                            kernel_h,
                            kernel_w,
                            band_rows,
                            out_w,
                            stride,
                            padding,
                            dilation,
                            num_out,
                            in_per_group,
                        )
                    if single:
                        continue
                    # Flush the band's rows of the conv groups that channels c0..c1-1 feed.
                    # A loop from 0 over views: indexing acc from a computed start measured
                    # ~40 % slower over the VGG-16 event convs.
                    for g in range(c0 // in_per_group, (c1 - 1) // in_per_group + 1):
                        a = g * group_size
                        b = a + (oy1 - oy0) * out_w * num_out
                        acc_blk = acc[a:b]
                        acc16_blk = acc16[a:b]
                        for i in range(b - a):  # contiguous: vectorised
                            acc_blk[i] += acc16_blk[i]
                            acc16_blk[i] = 0
            # Back to [Co, Ho, Wo]; from int16 when one block holds every channel (no flush).
            for g in range(groups):
                if single:
                    _unmirror(acc16, out, n, g * num_out, num_out, g * group_size, oy0, oy1)
                else:
                    _unmirror(acc, out, n, g * num_out, num_out, g * group_size, oy0, oy1)


@numba.njit(cache=True, nogil=True)
def _unmirror(acc, out, n, co0, num_out, a, oy0, oy1):
    """out[n, co0 + c, oy, ox] = acc[a + ((oy - oy0)·Wo + Wo-1-ox)·num_out + c] for the
    num_out channels of one group and output rows oy0..oy1-1, then those accumulators cleared
    (the mirrored channel-last layout of ``_conv_event``).

    Per output row, four channels' rows at a time (each written in order, from reads num_out
    apart), then the accumulator cleared in one contiguous pass. 30-40 % faster than 8-channel
    blocks across ox that cleared as they read (rows Ho·Wo apart share cache sets: 16 of them
    thrash an 8-way L1). 8 x 8 and 16 x 16 tiles measured slower at 128-512 channels and not
    clearly faster at 64.
    """
    out_w = out.shape[3]
    for oy in range(oy0, oy1):
        row = acc[a + (oy - oy0) * out_w * num_out : a + (oy - oy0 + 1) * out_w * num_out]
        co = 0
        while co + 4 <= num_out:
            d0 = out[n, co0 + co, oy]
            d1 = out[n, co0 + co + 1, oy]
            d2 = out[n, co0 + co + 2, oy]
            d3 = out[n, co0 + co + 3, oy]
            for ox in range(out_w):
                j = (out_w - 1 - ox) * num_out + co
                d0[ox] = row[j]
                d1[ox] = row[j + 1]
                d2[ox] = row[j + 2]
                d3[ox] = row[j + 3]
            co += 4
        for c in range(co, num_out):
            d = out[n, co0 + c, oy]
            for ox in range(out_w):
                d[ox] = row[(out_w - 1 - ox) * num_out + c]
    acc_blk = acc[a : a + (oy1 - oy0) * out_w * num_out]
    for i in range(acc_blk.size):  # contiguous: vectorised
        acc_blk[i] = 0


_EVENT_BAND_BYTES = 1 << 20
"""Accumulator bytes (int32 and int16) of one output band of the event conv: up to this, the
whole frame is one band (CIFAR planes); beyond it, bands of rows that fit (VGG-16 ImageNet's
64 -> 64 @ 224 conv: 12-row bands of 1 MiB instead of one 19 MiB plane)."""


def _event_band_rows(out_h: int, out_w: int, num_out: int, flush_channels: int) -> int:
    """Output rows per band of the event conv (see ``_EVENT_BAND_BYTES``)."""
    row_bytes = out_w * num_out * (4 + (2 if flush_channels > 0 else 0))
    return max(1, min(out_h, _EVENT_BAND_BYTES // max(1, row_bytes)))


_EVENT_ITEMS_PER_THREAD = 4
"""Work items per thread the event conv aims for when there are too few frames: a frame is
then cut into parts of whole output bands (VGG-16 ImageNet under LM-HT: 1 frame per conv,
64 -> 64 @ 224 on 2 threads 76 -> 35 ms). 1, 2, 4 and 8 measured alike (within noise) on those
convs and on MT-IF's 4-frame ones; 4 leaves chunks to rebalance when another process holds a
core."""


def _event_split(num_frames: int, out_h: int, band_rows: int, threads: int) -> tuple[int, int]:
    """(band rows, parts per frame) of the event conv on ``threads`` threads.

    Frames are the items while there are at least ``_EVENT_ITEMS_PER_THREAD`` per thread (one
    compaction and weight pass per band, as on one thread); with fewer, each frame is cut into
    parts of whole bands, and the bands shrink if a frame has fewer than the parts wanted.
    """
    wanted = threads * _EVENT_ITEMS_PER_THREAD
    if threads <= 1 or num_frames >= wanted:
        return band_rows, 1
    parts = min(out_h, -(-wanted // num_frames))
    num_bands = -(-out_h // band_rows)
    if num_bands < parts:
        band_rows = -(-out_h // parts)
        num_bands = -(-out_h // band_rows)
    return band_rows, min(parts, num_bands)


def _int16_group(term_bound: int, window: int, num_in: int, acc_dtype: type) -> int:
    """Input channels the event conv may add into its int16 accumulator between two flushes
    (0: accumulate wide only).

    One input channel reaches one output through at most ``window`` = Kh·Kw inputs, each term
    of magnitude <= ``term_bound`` = max|w|·max|x|; so after g channels every partial sum of
    the int16 accumulator is bounded by g·window·term_bound, and g = ⌊32767 / (window ·
    term_bound)⌋ keeps it exact (binary spikes, 3×3 kernel, |w| <= 127: 28 channels). Only
    for int32 accumulation (int8 or int16 weights), where it measured 15-30 % faster on
    ResNet-18's layers; int64 accumulation means wide inputs, for which g would be 0 or tiny.
    The worst case over all weights: ``_int16_block`` widens it from the actual ones.
    """
    if acc_dtype != np.int32 or term_bound <= 0:
        return 0
    group = _INT16_MAX // (window * term_bound)
    return min(group, num_in) if group >= 1 else 0


@numba.njit(cache=True, nogil=True)
def _int16_channels(weight_t, limit):
    """Largest g such that any g consecutive input channels give every output a Σ|w| over their
    taps of at most ``limit`` <= 32767 (0 if one channel exceeds it); weight_t is [Ci, Kh, Kw,
    Co/groups].

    With ``limit`` = ⌊32767 / max|x|⌋ every partial sum of the event conv's int16 accumulator
    over a block of g channels is exact: each tap reaches an output at most once. On VGG-16's
    trained int8 weights (mean |w| ~30 of 127) g is 3-4x ``_int16_group``'s worst case, so
    3-4x fewer flushes.
    """
    num_in, kernel_h, kernel_w, num_out = weight_t.shape
    # int32 sums (twice the lanes of int64: 0.34 -> 0.17 ms on 512 x 512 x 3 x 3; the caller
    # ensures Kh·Kw·max|w| fits), capped at limit + 1 per channel: still above the limit.
    cap = np.int32(limit + 1)
    sums = np.zeros((num_in, num_out), np.int32)
    for c in range(num_in):
        s = sums[c]
        for ky in range(kernel_h):
            for kx in range(kernel_w):
                w = weight_t[c, ky, kx]
                for o in range(num_out):
                    s[o] += abs(np.int32(w[o]))
        for o in range(num_out):
            s[o] = min(s[o], cap)
    # Two pointers: channels start..end-1 is the longest feasible run from start; the answer
    # is the shortest such run that the last channel does not cut short.
    window = np.zeros(num_out, np.int64)
    best = num_in
    end = 0
    for start in range(num_in):
        while end < num_in:
            top = np.int64(0)
            for o in range(num_out):
                top = max(top, window[o] + sums[end, o])
            if top > limit:
                break
            for o in range(num_out):
                window[o] += sums[end, o]
            end += 1
        if end == start:
            return 0  # one channel alone exceeds the limit
        if end < num_in:
            best = min(best, end - start)
        for o in range(num_out):
            window[o] -= sums[start, o]
    return best


_INT16_SUMS_RATIO = 4
"""``_int16_block`` reads the weights (~0.2 ms for 512 x 512 x 3 x 3) only when the flushes of
the worst-case blocks pass over at least this many times as many accumulator elements (each
costs several weight elements' time). VGG-16 CIFAR's 512 -> 512 @ 2 convs (S·B = 128) fall
below it: with the pass they ran 6.2 -> 6.6 ms; the 512 @ 4 ones, above it, 27 -> 22 ms."""


def _int16_block(
    weight_t: np.ndarray, max_abs_w: int, max_abs_x: int, acc_dtype: type, flush_elements: int
) -> int:
    """Input channels per int16 block of the event conv (0: accumulate wide only): the worst
    case ``_int16_group``, widened from the weights (``_int16_channels``) when that can save
    enough flushes; ``flush_elements`` = N·Ho·Wo·Co, the elements one flush of all frames adds."""
    num_in, kernel_h, kernel_w, _ = weight_t.shape
    window = kernel_h * kernel_w
    group = _int16_group(max_abs_w * max_abs_x, window, num_in, acc_dtype)
    if (
        acc_dtype != np.int32
        or max_abs_x <= 0
        or group >= num_in
        or window * max_abs_w > _INT32_MAX
        or flush_elements * -(-num_in // max(1, group)) < _INT16_SUMS_RATIO * weight_t.size
    ):
        return group
    return max(group, _int16_channels(weight_t, _INT16_MAX // max_abs_x))
