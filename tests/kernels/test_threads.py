"""Kernels split over threads give the same bits on one and two threads.

Every kernel hands chunks of independent items (frames, neuron blocks, planes, output
features) to ``operands._run_threads``; the tests lower its work threshold to 0 so that even
these small calls are cut into chunks, run each kernel on 1 and on 2 Numba threads, and compare
the results bit for bit (and with the plain-numpy references where one exists).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import convert, functional
from neurosim.errors import OverflowDetected
from neurosim.kernels import (
    affine_levels,
    channel_axpy,
    conv2d,
    if_scan,
    lif_scan,
    linear,
    lmht_reparam_scan,
    lmht_scan,
    operands,
    sum_pool2d,
    tsa_scan,
)
from tests.conftest import random_codes, random_qann
from tests.kernels.test_synapse import grouped_conv_cases
from tests.reference import synapse as reference

TWO = min(2, numba.config.NUMBA_NUM_THREADS)
pytestmark = pytest.mark.skipif(TWO < 2, reason="needs two Numba threads")
PROPERTY = settings(max_examples=30, deadline=None, derandomize=True)
SEEDS = st.integers(0, 2**32 - 1)


@pytest.fixture(autouse=True)
def _split_every_call(monkeypatch):
    """Every call is split into chunks, however small; the thread count is restored after."""
    monkeypatch.setattr(operands, "_PARALLEL_MIN_WORK", 0)
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)


def _on(threads: int, call):
    numba.set_num_threads(threads)
    return call()


def _same(call) -> object:
    """call() on 1 and on 2 threads; every array of the results equal, bit for bit."""
    one, two = _on(1, call), _on(TWO, call)
    pairs = zip(*(r if isinstance(r, tuple) else (r,) for r in (one, two)), strict=True)
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
        assert np.asarray(a).dtype == np.asarray(b).dtype
    return two


@PROPERTY
@given(
    seed=SEEDS,
    method=st.sampled_from(["event", "dense"]),
    stride=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    levels=st.sampled_from([1, 3, 200]),
)
def test_conv2d_is_the_same_on_two_threads(seed, method, stride, groups, levels):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels + 1, size=(2, 3, 4, 7, 7)) * (rng.random((2, 3, 4, 7, 7)) < 0.4)
    x = x.astype(np.uint8 if levels <= 255 else np.int64)
    w = rng.integers(-127, 128, size=(6, 4 // groups, 3, 3)).astype(np.int8)
    out = _same(lambda: conv2d(x, w, stride, 1, groups=groups, method=method))
    if groups == 1:
        np.testing.assert_array_equal(out, reference.conv2d(x, w, stride, 1))


@PROPERTY
@given(
    case=grouped_conv_cases(),
    band_bytes=st.sampled_from([1, 300, 1 << 20]),
    items=st.sampled_from([2, 8]),
)
def test_event_conv_split_within_frames_equals_reference(case, band_bytes, items):
    """Few frames: each is cut into parts of whole output bands (1-row bands up to the whole
    plane, 2 or 8 items per thread wanted), and every stride, dilation, padding, grouping and
    dtype gives the reference's sums on 1 and 2 threads."""
    from neurosim.kernels import conv_event

    x, weight, stride, padding, groups, dilation = case
    before = conv_event._EVENT_BAND_BYTES, conv_event._EVENT_ITEMS_PER_THREAD
    conv_event._EVENT_BAND_BYTES, conv_event._EVENT_ITEMS_PER_THREAD = band_bytes, items
    try:
        out = _same(
            lambda: conv2d(
                x, weight, stride, padding, groups=groups, dilation=dilation, method="event"
            )
        )
    finally:
        conv_event._EVENT_BAND_BYTES, conv_event._EVENT_ITEMS_PER_THREAD = before
    np.testing.assert_array_equal(
        out, reference.conv2d(x, weight, stride, padding, groups, dilation)
    )


def test_event_split_cuts_few_frames_into_parts_of_whole_bands():
    """(band rows, parts): frames alone once there are enough; else parts of whole bands, the
    bands shrunk when a frame has fewer bands than parts wanted, never more parts than rows."""
    from neurosim.kernels.conv_event import _EVENT_ITEMS_PER_THREAD, _event_split

    wanted = 2 * _EVENT_ITEMS_PER_THREAD
    assert _event_split(wanted, 224, 12, 2) == (12, 1)
    assert _event_split(1, 224, 12, 1) == (12, 1)
    assert _event_split(1, 224, 12, 2) == (12, wanted)
    assert _event_split(1, 14, 14, 2) == (-(-14 // wanted), -(-14 // -(-14 // wanted)))
    assert _event_split(1, 3, 3, 2) == (1, 3)


@PROPERTY
@given(seed=SEEDS, method=st.sampled_from(["event", "dense"]))
def test_linear_is_the_same_on_two_threads(seed, method):
    rng = np.random.default_rng(seed)
    x = (rng.random((3, 5, 40)) < 0.3).astype(np.uint8)
    w = rng.integers(-127, 128, size=(37, 40)).astype(np.int8)
    out = _same(lambda: linear(x, w, method=method))
    np.testing.assert_array_equal(out, reference.linear(x, w))


@PROPERTY
@given(seed=SEEDS, steps=st.integers(1, 4))
def test_neuron_scans_are_the_same_on_two_threads(seed, steps):
    """IF (blocks of 2048 neurons: n spans several), LIF, TSA and both LM-HT forms."""
    rng = np.random.default_rng(seed)
    n = 4100
    current = rng.integers(-40, 60, size=(steps, 3, n)).astype(np.int32)
    theta = rng.integers(5, 30, size=n)
    bias = rng.integers(-9, 9, size=n)
    _same(lambda: if_scan(current, steps, theta, shift=2, bias=bias))
    leak = rng.integers(0, 9, size=n)
    for reset in ("zero", "subtract"):
        _same(
            lambda reset=reset: lif_scan(
                current,
                steps,
                theta,
                leak=leak,
                leak_bits=3,
                reset=reset,
                bias=bias,
                keep_membrane=True,
            )
        )
    _same(lambda: tsa_scan(current, steps, 1, theta, max_level=(1 << steps) - 1))
    tgim = np.full((steps, steps), 1 << 8, np.int64) // steps
    args = (current, tgim, 8, 1 << 4, 4, 2, theta, np.zeros(n, np.int64))
    _same(lambda: lmht_scan(*args))
    _same(lambda: lmht_reparam_scan(*args))


def test_the_earliest_overflow_is_reported_on_two_threads():
    """Overflow flags are per task; the reported step is the earliest over all of them."""
    current = np.zeros((3, 2, 5000), np.int64)
    current[2, 0, 100] = 1 << 40  # step 3, first block
    current[1, 1, 4500] = 1 << 40  # step 2, last block of the second sample
    for threads in (1, TWO):
        numba.set_num_threads(threads)
        with pytest.raises(OverflowDetected, match="at step 2"):
            if_scan(current, 3, np.full(5000, 10))


@PROPERTY
@given(seed=SEEDS, init=st.booleans())
def test_channel_axpy_and_affine_levels_are_the_same_on_two_threads(seed, init):
    rng = np.random.default_rng(seed)
    x = rng.integers(-100, 100, size=(2, 3, 5, 40)).astype(np.int16)
    gain = rng.integers(-50, 51, size=5)

    def axpy():
        out = np.full(x.shape, 7, np.int32)
        channel_axpy(out, x, gain, init)
        return out

    _same(axpy)
    sums = rng.integers(-500, 500, size=(3, 5, 40))
    terms = [(sums, rng.random(5), rng.random(5)), (x[0].astype(np.int64), 0.25, 0.0)]
    _same(lambda: affine_levels(terms, 3.7, 8, 1e-9))


@PROPERTY
@given(seed=SEEDS, kernel=st.integers(1, 3), stride=st.integers(1, 3))
def test_sum_pool2d_is_the_same_on_two_threads(seed, kernel, stride):
    rng = np.random.default_rng(seed)
    for dtype, top in ((np.uint8, 1), (np.int8, 127), (np.int16, 3000), (np.int64, 2**40)):
        x = rng.integers(-top if dtype != np.uint8 else 0, top + 1, size=(2, 3, 5, 9, 8))
        x = x.astype(dtype)
        out = _same(lambda x=x: sum_pool2d(x, kernel, stride))
        np.testing.assert_array_equal(out, reference.sum_pool2d(x, kernel, stride))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000), residual=st.booleans())
def test_a_whole_pass_is_the_same_on_two_threads(seed, residual):
    """functional.run on a random residual network: spikes, op counts and outputs."""
    net = random_qann(seed, residual=residual)
    snn = convert.convert(net, "if", num_steps=4)
    codes = random_codes(net, 4, seed)
    one, two = (
        _on(1, lambda: functional.run(snn, codes)),
        _on(TWO, lambda: functional.run(snn, codes)),
    )
    np.testing.assert_array_equal(one.output_int, two.output_int)
    for a, b in zip(one.layers, two.layers, strict=True):
        if a.spikes is not None:
            np.testing.assert_array_equal(a.spikes, b.spikes)
        assert a.ops.keys() == b.ops.keys()
        for key in a.ops:
            np.testing.assert_array_equal(a.ops[key], b.ops[key])


def test_run_threads_covers_every_item_once_and_raises():
    """Chunks cover [0, n) exactly once on any thread count; a failing chunk's error is raised
    in the caller."""
    for threads in (1, TWO):
        numba.set_num_threads(threads)
        seen = np.zeros(103, np.int64)

        def mark(lo: int, hi: int, seen: np.ndarray = seen) -> None:
            seen[lo:hi] += 1

        operands._run_threads(mark, 103, 10**9)
        np.testing.assert_array_equal(seen, 1)
        operands._run_threads(mark, 103, 0, max_chunk=5)  # below the threshold: still chunked
        np.testing.assert_array_equal(seen, 2)

        def fail(lo: int, hi: int) -> None:
            if lo <= 50 < hi:
                raise ValueError("chunk with item 50")

        with pytest.raises(ValueError, match="item 50"):
            operands._run_threads(fail, 103, 10**9)
