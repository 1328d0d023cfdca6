"""Tests of the integer MT-SNN/QCFS IF kernel: known answers, closed form, reference equality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels.if_mt import if_scan
from tests.reference.if_mt import if_count_closed_form, if_scan_reference, rhu


def _column(values: list[int]) -> np.ndarray:
    """Per-step currents of one neuron as a [T, 1, 1] int64 array."""
    return np.array(values, dtype=np.int64).reshape(-1, 1, 1)


# --------------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------------


def test_e1_single_neuron_constant_current() -> None:
    """Θ=8, V0=4, T=4, P=3 every step.

    V: 4+3=7 (no spike), 7+3=10 >= 8 fire -> 2, 2+3=5, 5+3=8 >= 8 fire -> 0.
    s = [0,1,0,1], N = 2 = clip(rhu(4·3, 8), 0, 4) = clip(floor(12/8 + 1/2), 0, 4) = 2.
    The final V is 0, not V0 = 4, so the doubled membrane is 0.
    """
    spikes, doubled = if_scan(_column([3]), 4, np.array([8]))
    assert spikes[:, 0, 0].tolist() == [0, 1, 0, 1]
    assert spikes.dtype == np.uint8
    assert doubled.dtype == np.int64
    assert doubled.tolist() == [[0]]
    assert int(spikes.sum()) == if_count_closed_form(3, 8, 4) == 2


def test_e2_two_layers_with_alignment() -> None:
    """Layer 1: Θ=4, V0=2, T=2, constant P = [5, 2] on two neurons.

    Neuron 0: 2+5=7 fire -> 3, 3+5=8 fire -> 4: s=[1,1], N=2 (rhu(10,4)=3 clips to 2).
    Neuron 1: 2+2=4 fire -> 0, 0+2=2: s=[1,0], N=1 (rhu(4,4)=1). Doubled finals: [8, 4].
    Layer 2 (aligned, T 2 -> 4): W_int=[3,-2], P = 3·2 - 2·1 = 4, Θ=6, V0=3:
    3+4=7 fire -> 1, 1+4=5, 5+4=9 fire -> 3, 3+4=7 fire -> 1: s=[1,0,1,1], N=3 =
    clip(rhu(16,6),0,4) = 3, final V=1 (doubled 2).
    """
    spikes1, doubled1 = if_scan(np.array([[[5, 2]]]), 2, np.array([4, 4]), layer="l1")
    assert spikes1[:, 0, :].T.tolist() == [[1, 1], [1, 0]]
    counts = spikes1.sum(axis=0, dtype=np.int64)[0]
    assert counts.tolist() == [2, 1]
    assert doubled1.tolist() == [[8, 4]]
    p2 = int(np.array([3, -2]) @ counts)
    assert p2 == 4
    spikes2, doubled2 = if_scan(_column([p2]), 4, np.array([6]), layer="l2")
    assert spikes2[:, 0, 0].tolist() == [1, 0, 1, 1]
    assert doubled2.tolist() == [[2]]
    assert int(spikes2.sum()) == if_count_closed_form(4, 6, 4) == 3


def test_e3_raw_versus_aligned_input() -> None:
    """T=2, Θ=2, V0=1.

    Raw per-step inputs [0, 6]: 1+0=1, 1+6=7 fire -> 5: s=[0,1], N=1.
    Aligned [3, 3]: 1+3=4 fire -> 2, 2+3=5 fire -> 3: s=[1,1], N=2 = clip(rhu(6,2),0,2).
    """
    raw, _ = if_scan(_column([0, 6]), 2, np.array([2]))
    aligned, _ = if_scan(_column([3, 3]), 2, np.array([2]))
    assert raw[:, 0, 0].tolist() == [0, 1]
    assert aligned[:, 0, 0].tolist() == [1, 1]
    assert int(aligned.sum()) == if_count_closed_form(3, 2, 2) == 2


def test_single_step_current_equals_repeated_current() -> None:
    """A [1, B, n] current must act exactly like the same current repeated T times."""
    rng = np.random.default_rng(7)
    once = rng.integers(-20, 20, size=(1, 3, 5), dtype=np.int64)
    threshold = rng.integers(1, 10, size=5)
    a = if_scan(once, 6, threshold)
    b = if_scan(np.repeat(once, 6, axis=0), 6, threshold)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    num_steps=st.integers(1, 16),
    pairs=st.lists(st.tuples(st.integers(-60, 60), st.integers(1, 24)), min_size=1, max_size=8),
)
def test_constant_current_count_is_qcfs_level(num_steps: int, pairs: list[tuple[int, int]]) -> None:
    """N = clip(rhu(T·P, Θ), 0, T) for constant P (negative P included), and charge balances."""
    current = np.array([[[p for p, _ in pairs]]], dtype=np.int32)
    threshold = np.array([theta for _, theta in pairs])
    spikes, doubled = if_scan(current, num_steps, threshold)
    counts = spikes.sum(axis=0, dtype=np.int64)[0]
    for i, (p, theta) in enumerate(pairs):
        assert counts[i] == if_count_closed_form(p, theta, num_steps)
        # 2V_T = 2V_0 + 2·Σq - 2Θ·N
        assert doubled[0, i] == theta + 2 * num_steps * p - 2 * theta * counts[i]


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_steps=st.integers(1, 12),
    batch=st.integers(1, 3),
    num_neurons=st.integers(1, 6),
    amplitude=st.integers(1, 50),
    per_step=st.booleans(),
    dtype=st.sampled_from([np.int32, np.int64]),
)
def test_kernel_matches_reference(
    seed: int,
    num_steps: int,
    batch: int,
    num_neurons: int,
    amplitude: int,
    per_step: bool,
    dtype: type,
) -> None:
    """Bit-for-bit equality with the rational reference on random (also negative) currents."""
    rng = np.random.default_rng(seed)
    steps = num_steps if per_step else 1
    current = rng.integers(-amplitude, amplitude + 1, size=(steps, batch, num_neurons)).astype(
        dtype
    )
    threshold = rng.integers(1, 2 * amplitude + 2, size=num_neurons)
    spikes, doubled = if_scan(current, num_steps, threshold)
    ref_spikes, ref_doubled = if_scan_reference(current, num_steps, threshold)
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_array_equal(doubled, ref_doubled)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_steps=st.integers(1, 6),
    shift=st.integers(0, 8),
    per_step=st.booleans(),
    dtype=st.sampled_from([np.int32, np.int64]),
)
def test_shift_and_bias_equal_a_precomputed_charge(
    seed: int, num_steps: int, shift: int, per_step: bool, dtype: type
) -> None:
    """q = (current << shift) + bias inside the scan equals handing over that q; neurons span
    several parallel blocks (2048 each) with a partial last one."""
    rng = np.random.default_rng(seed)
    batch, num_neurons = 2, 2 * 2048 + 37
    steps = num_steps if per_step else 1
    current = rng.integers(-40, 41, size=(steps, batch, num_neurons)).astype(dtype)
    bias = rng.integers(-300, 301, size=num_neurons)
    threshold = rng.integers(1, 60 << shift, size=num_neurons)
    spikes, doubled = if_scan(current, num_steps, threshold, shift=shift, bias=bias)
    charge = (current.astype(np.int64) << shift) + bias
    ref_spikes, ref_doubled = if_scan_reference(charge, num_steps, threshold)
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_array_equal(doubled, ref_doubled)
    lean, none = if_scan(current, num_steps, threshold, shift=shift, bias=bias, keep_membrane=False)
    np.testing.assert_array_equal(lean, spikes)
    assert none is None


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    channels=st.integers(1, 4),
    channel_size=st.sampled_from([1, 3, 1500]),
    shift=st.integers(0, 3),
)
def test_per_channel_threshold_and_bias(
    seed: int, channels: int, channel_size: int, shift: int
) -> None:
    """Θ and B per channel of ``channel_size`` neurons (blocks of 2048 cross channel bounds)
    equal them expanded to every neuron; small layers also equal the reference."""
    rng = np.random.default_rng(seed)
    n = channels * channel_size
    current = rng.integers(-40, 41, size=(3, 2, n)).astype(np.int32)
    theta = rng.integers(1, 60 << shift, size=channels)
    bias = rng.integers(-300, 301, size=channels)
    fired = np.zeros(3, np.int64)
    spikes, doubled = if_scan(
        current, 3, theta, shift=shift, bias=bias, channel_size=channel_size, step_spikes=fired
    )
    theta_n, bias_n = np.repeat(theta, channel_size), np.repeat(bias, channel_size)
    wide, wide_doubled = if_scan(current, 3, theta_n, shift=shift, bias=bias_n)
    np.testing.assert_array_equal(spikes, wide)
    np.testing.assert_array_equal(doubled, wide_doubled)
    np.testing.assert_array_equal(fired, spikes.reshape(3, -1).sum(axis=1))
    if n <= 12:
        charge = (current.astype(np.int64) << shift) + bias_n
        ref_spikes, ref_doubled = if_scan_reference(charge, 3, theta_n)
        np.testing.assert_array_equal(spikes, ref_spikes)
        np.testing.assert_array_equal(doubled, ref_doubled)
    with pytest.raises(ModelError, match="does not divide"):
        if_scan(current, 3, theta, channel_size=n + 1)


def test_charge_that_could_wrap_int64_is_refused() -> None:
    current = np.full((1, 1, 1), 1 << 50, np.int64)
    with pytest.raises(OverflowDetected, match="layer 'big'"):
        if_scan(current, 2, np.array([5]), shift=20, layer="big")
    with pytest.raises(ModelError, match=r"shift must be in 0\.\.24"):
        if_scan(current, 2, np.array([5]), shift=25)


def test_reference_rounding_helper() -> None:
    """rhu rounds half up, also for negatives: 12/8 -> 2, 4/8 -> 1, -4/8 -> 0, -5/8 -> -1."""
    assert [rhu(12, 8), rhu(4, 8), rhu(-4, 8), rhu(-5, 8)] == [2, 1, 0, -1]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3])
def test_threshold_not_positive_raises(bad: int) -> None:
    with pytest.raises(ModelError, match=r"layer 'conv1'.*threshold must be > 0"):
        if_scan(np.ones((1, 1, 2), np.int64), 2, np.array([5, bad]), layer="conv1")


def test_overflow_names_layer_step_and_width() -> None:
    """Θ=4, int16 (±32767), q=10000: U2 = 4+20000 = 20004 fires -> 19996; +20000 = 39996."""
    with pytest.raises(OverflowDetected) as info:
        if_scan(_column([10_000]), 4, np.array([4]), mem_bits=16, layer="fc1")
    assert str(info.value) == (
        "layer 'fc1': membrane overflow at step 2: |v| exceeded int16 range (±32767)"
    )


def test_overflow_reports_earliest_step_over_neurons() -> None:
    """int16, Θ=1000 (2Θ=2000) on both neurons.

    Neuron 0, q=7000: U2 = 1000+14000 = 15000 fire -> 13000, +14000 = 27000 fire -> 25000,
    +14000 = 39000 > 32767: step 3. Neuron 1, q=15000: 1000+30000 = 31000 fire -> 29000,
    +30000 = 59000: step 2. The earliest step over all neurons is reported.
    """
    current = np.array([[[7000, 15_000]]], dtype=np.int64)
    threshold = np.array([1000, 1000])
    with pytest.raises(OverflowDetected, match=r"^layer 'x': membrane overflow at step 2:"):
        if_scan(current, 4, threshold, mem_bits=16, layer="x")
    with pytest.raises(OverflowDetected, match=r"^layer 'x': membrane overflow at step 3:"):
        if_scan(current[..., :1], 4, threshold[:1], mem_bits=16, layer="x")


def test_current_beyond_membrane_range_overflows_at_its_step() -> None:
    """|q| > 32767 cannot fit an int16 membrane: flagged at the step it arrives (step 2)."""
    current = _column([1, -(2**40), 1])
    with pytest.raises(OverflowDetected, match=r"at step 2: \|v\| exceeded int16"):
        if_scan(current, 3, np.array([5]), mem_bits=16, layer="x")


@pytest.mark.parametrize(
    ("current", "num_steps", "threshold", "match"),
    [
        (np.zeros((3, 1, 2), np.int64), 4, np.ones(2, np.int64), "current has 3 steps"),
        (np.zeros((1, 1, 2), np.int64), 4, np.ones(3, np.int64), r"threshold must have shape"),
        (np.zeros((1, 2), np.int64), 4, np.ones(2, np.int64), "shape \\[steps, batch"),
        (np.zeros((1, 1, 2)), 4, np.ones(2, np.int64), "integer array"),
        (np.zeros((1, 1, 2), np.int64), 4, np.ones(2), "integer array"),
        (np.zeros((1, 1, 2), np.int64), 0, np.ones(2, np.int64), "num_steps"),
        (np.zeros((1, 1, 1), np.int64), 4, np.array([40_000]), "does not fit"),
    ],
)
def test_bad_inputs_raise_model_error(
    current: np.ndarray, num_steps: int, threshold: np.ndarray, match: str
) -> None:
    with pytest.raises(ModelError, match=match):
        if_scan(current, num_steps, threshold, mem_bits=16, layer="bad")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 5), n=st.integers(0, 5000))
def test_step_spikes_are_counted_during_the_scan(seed: int, steps: int, n: int) -> None:
    """The per-step spike counts the scan fills equal a count of the spikes it returns."""
    rng = np.random.default_rng(seed)
    current = rng.integers(-20, 40, size=(steps, 2, n)).astype(np.int32)
    counted = np.full(steps, -1, np.int64)
    spikes, _ = if_scan(current, steps, rng.integers(1, 30, size=n), step_spikes=counted)
    np.testing.assert_array_equal(counted, spikes.reshape(steps, -1).sum(axis=1))


def test_scans_write_into_a_given_out_array() -> None:
    """``out`` (e.g. a sample's slice of a trace's array) gets exactly the spikes a scan
    would return otherwise, and is what it returns; a wrong shape, dtype or layout is refused."""
    from neurosim.kernels.lmht import lmht_scan
    from neurosim.kernels.tsa import tsa_scan

    rng = np.random.default_rng(5)
    cur = rng.integers(-40, 60, size=(4, 1, 4100)).astype(np.int32)
    theta = rng.integers(5, 30, size=4100)
    scans = [
        (lambda **kw: if_scan(cur, 4, theta, **kw), np.uint8),
        (lambda **kw: tsa_scan(cur, 4, 1, theta, **kw), np.int8),
        (
            lambda **kw: lmht_scan(
                cur[:2], np.eye(2, dtype=np.int64), 0, 1, 0, 3, theta, theta // 2, **kw
            ),
            np.uint8,
        ),
    ]
    for scan, dtype in scans:
        plain, _ = scan()
        slab = np.full((3, *plain.shape), 7, dtype)
        written, _ = scan(out=slab[1])
        assert written is slab[1] or np.shares_memory(written, slab[1])
        np.testing.assert_array_equal(slab[1], plain)
        assert (slab[0] == 7).all()
        assert (slab[2] == 7).all()
        strided = np.zeros((*plain.shape[:2], 2 * plain.shape[2]), dtype)[:, :, ::2]
        with pytest.raises(ModelError, match="out must be a C-contiguous"):
            scan(out=strided)
