"""Tests of the integer LM-HT kernels: known answers, re-parameterisation, reference equality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels.lmht import lmht_reparam_scan, lmht_scan
from tests.reference.if_mt import rhu
from tests.reference.lmht import (
    lmht_reparam_scan_reference,
    lmht_scan_reference,
    mixed_drives,
)

IDENTITY_2 = np.eye(2, dtype=np.int64)


def _column(values: list[int]) -> np.ndarray:
    """Per-step inputs of one neuron as a [Tq, 1, 1] int64 array."""
    return np.array(values, dtype=np.int64).reshape(-1, 1, 1)


def _block_counts(spikes: np.ndarray, num_levels: int) -> np.ndarray:
    """Spikes per block of L sub-steps: [T·L, B, n] -> [T, B, n]."""
    steps = spikes.shape[0] // num_levels
    return spikes.reshape(steps, num_levels, *spikes.shape[1:]).sum(axis=1, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------------


def test_e7_uniform_drive_both_forms() -> None:
    """L=4, Θ=4, v0=2, T=2, J=[12, 12] (identity T-GIM, λ=1).

    Multi-level: m = 2+12 = 14 -> k = floor(14/4) = 3, v = 2; the same again: k = [3, 3].
    Re-parameterised (membrane ×4: fire at 16, v0' = 8, +12 per sub-step):
    20 -> spike (4), 16 -> spike (0), 12, 24 -> spike (8): block [1,1,0,1], twice.
    Block counts [3, 3]; final v' = 8 = 4·2.
    """
    args = (_column([12, 12]), IDENTITY_2, 0, 1, 0, 4, np.array([4]), np.array([2]))
    levels, v = lmht_scan(*args)
    assert levels.dtype == np.uint8
    assert levels[:, 0, 0].tolist() == [3, 3]
    assert v.tolist() == [[2]]
    spikes, v_scaled = lmht_reparam_scan(*args)
    assert spikes.dtype == np.uint8
    assert spikes[:, 0, 0].tolist() == [1, 1, 0, 1, 1, 1, 0, 1]
    assert v_scaled.tolist() == [[8]]


def test_e8_non_uniform_tgim() -> None:
    """Ω = [[3/4, 1/4], [1/2, 1/2]] (tgim = [[3,1],[2,2]], g=2), I = [4, 8], L=2, Θ=4, v0=2.

    J(1) = rhu(3·4 + 1·8, 4) = rhu(20, 4) = 5 (step 1 already sees I(2)),
    J(2) = rhu(2·4 + 2·8, 4) = 6. m = 2+5 = 7 -> k=1, v=3; m = 3+6 = 9 -> k=2, v=1.
    Re-parameterised (fire at 8, v0' = 4): 9 -> 1, 6 | 12 -> 4, 10 -> 2: counts [1, 2],
    v' = 2 = 2·1.
    """
    args = (_column([4, 8]), np.array([[3, 1], [2, 2]]), 2, 1, 0, 2, np.array([4]), np.array([2]))
    levels, v = lmht_scan(*args)
    assert levels[:, 0, 0].tolist() == [1, 2]
    assert v.tolist() == [[1]]
    spikes, v_scaled = lmht_reparam_scan(*args)
    assert spikes[:, 0, 0].tolist() == [1, 0, 1, 1]
    assert v_scaled.tolist() == [[2]]


def test_e9_qcfs_mapping() -> None:
    """QCFS ϑ=8, Q=4 with T=2, L=2 -> θ = ϑ/L = 4, v0 = 2; uniform Ω = 1/2 (tgim 1, g=1).

    I = [3, 7] -> J = rhu(3+7, 2) = 5 at both steps. m = 7 -> k=1 (v=3); m = 3+5 = 8 -> k=2
    (v=0). Σk = 3, mean output 4·3/2 = 6 = QCFS(5) = 2·clip(floor(5/2 + 1/2), 0, 4).
    Re-parameterised (fire at 8, v0' = 4): 9 -> 1, 6 | 11 -> 3, 8 -> 0: [1,0 | 1,1].
    The authors' form (θ = 8, input ×2 so J = 10, v0 = 4): 14 -> k=1 (6); 16 -> k=2 (0),
    mean 8·3/2 = 12 = L·6.
    """
    uniform = np.ones((2, 2), dtype=np.int64)
    levels, v = lmht_scan(_column([3, 7]), uniform, 1, 1, 0, 2, np.array([4]), np.array([2]))
    assert levels[:, 0, 0].tolist() == [1, 2]
    assert v.tolist() == [[0]]
    assert 4 * int(levels.sum()) / 2 == 6 == 2 * min(max(rhu(5, 2), 0), 4)
    spikes, v_scaled = lmht_reparam_scan(
        _column([3, 7]), uniform, 1, 1, 0, 2, np.array([4]), np.array([2])
    )
    assert spikes[:, 0, 0].tolist() == [1, 0, 1, 1]
    assert v_scaled.tolist() == [[0]]
    code_levels, _ = lmht_scan(_column([6, 14]), uniform, 1, 1, 0, 2, np.array([8]), np.array([4]))
    assert code_levels[:, 0, 0].tolist() == [1, 2]
    assert 8 * int(code_levels.sum()) / 2 == 12


def test_e10_saturation_breaks_reparameterisation() -> None:
    """Counter-example: L=2, Θ=2, v0=-4, T=1, J=10 > L·Θ = 4.

    Multi-level: m = -4+10 = 6 -> floor(6/2) = 3 clips to k=2, v = 6-4 = 2.
    Re-parameterised (fire at 4, v0' = -8): -8+10 = 2 (no spike), 12 -> spike (8).
    One spike instead of two, and v' = 8 = 2·4, not 2·2: the forms disagree when saturated.
    """
    args = (_column([10]), np.array([[1]]), 0, 1, 0, 2, np.array([2]), np.array([-4]))
    levels, v = lmht_scan(*args)
    spikes, v_scaled = lmht_reparam_scan(*args)
    assert levels[:, 0, 0].tolist() == [2]
    assert v.tolist() == [[2]]
    assert spikes[:, 0, 0].tolist() == [0, 1]
    assert v_scaled.tolist() == [[8]]
    assert int(spikes.sum()) != int(levels.sum())
    assert int(v_scaled[0, 0]) != 2 * int(v[0, 0])


def test_single_step_current_equals_repeated_current() -> None:
    """A [1, B, n] input must act exactly like the same input repeated at every one of T steps."""
    rng = np.random.default_rng(11)
    once = rng.integers(-30, 30, size=(1, 2, 4)).astype(np.int32)
    tgim = rng.integers(0, 8, size=(3, 3))
    threshold = rng.integers(1, 12, size=4)
    v0 = rng.integers(-5, 5, size=4)
    for scan in (lmht_scan, lmht_reparam_scan):
        a = scan(once, tgim, 2, 3, 2, 3, threshold, v0)
        b = scan(np.repeat(once, 3, axis=0), tgim, 2, 3, 2, 3, threshold, v0)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_steps=st.integers(1, 4),
    num_levels=st.integers(1, 4),
    tgim_bits=st.integers(0, 4),
    num_neurons=st.integers(1, 5),
    per_step=st.booleans(),
)
def test_reparameterisation_matches_when_not_saturated(
    seed: int, num_steps: int, num_levels: int, tgim_bits: int, num_neurons: int, per_step: bool
) -> None:
    """λ = 1, v0 < Θ and J(t) <= L·Θ at every step: block counts == k and v' == L·v.

    Inputs are drawn below (L·Θ·2^g) // (largest T-GIM row sum), so J(t) <= L·Θ; negative
    inputs, negative J and negative v0 are allowed.
    """
    rng = np.random.default_rng(seed)
    tgim = rng.integers(0, 2 ** (tgim_bits + 1) + 1, size=(num_steps, num_steps))
    row_sum = max(int(tgim.sum(axis=1).max()), 1)
    threshold = rng.integers(1, 13, size=num_neurons)
    v0 = rng.integers(-2 * threshold, threshold)
    high = (num_levels * threshold * 2**tgim_bits) // row_sum
    steps = num_steps if per_step else 1
    current = rng.integers(-3 * high - 5, high + 1, size=(steps, 2, num_neurons))
    for b in range(2):
        for i in range(num_neurons):
            inputs = [int(current[j if per_step else 0, b, i]) for j in range(num_steps)]
            drives = mixed_drives(inputs, tgim, tgim_bits)
            assert max(drives) <= num_levels * threshold[i]
    args = (current, tgim, tgim_bits, 1, 0, num_levels, threshold, v0)
    levels, v = lmht_scan(*args)
    spikes, v_scaled = lmht_reparam_scan(*args)
    np.testing.assert_array_equal(_block_counts(spikes, num_levels), levels)
    np.testing.assert_array_equal(v_scaled, num_levels * v)


@settings(max_examples=200, deadline=None)
@given(
    num_steps=st.integers(1, 6),
    num_levels=st.integers(1, 4),
    pairs=st.lists(st.tuples(st.integers(-40, 80), st.integers(1, 10)), min_size=1, max_size=6),
)
def test_uniform_drive_gives_quantised_level(
    num_steps: int, num_levels: int, pairs: list[tuple[int, int]]
) -> None:
    """Same J every step, v0 = Θ/2 (Θ even), λ = 1: Σ_t k(t) == clip(rhu(T·J, Θ), 0, T·L).

    Identity T-GIM with a one-step input makes J(t) = I at every step; saturation and
    negative J included.
    """
    drive = np.array([[[j for j, _ in pairs]]], dtype=np.int64)
    threshold = np.array([2 * half for _, half in pairs])
    tgim = np.eye(num_steps, dtype=np.int64)
    levels, _ = lmht_scan(drive, tgim, 0, 1, 0, num_levels, threshold, threshold // 2)
    totals = levels.sum(axis=0, dtype=np.int64)[0]
    for i, (j, _) in enumerate(pairs):
        expected = min(max(rhu(num_steps * j, int(threshold[i])), 0), num_steps * num_levels)
        assert totals[i] == expected


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_steps=st.integers(1, 5),
    num_levels=st.integers(1, 4),
    half=st.integers(1, 10),
)
def test_uniform_tgim_scaled_membrane_is_exact(
    seed: int, num_steps: int, num_levels: int, half: int
) -> None:
    """All-ones T-GIM (g=0) on per-step inputs, membrane scaled by T: no rounding anywhere.

    J = Σ_j I(j) at every step, threshold T·Θ, v0 = T·Θ/2 (Θ even):
    Σ_t k(t) == clip(rhu(T·J, T·Θ), 0, T·L).
    """
    rng = np.random.default_rng(seed)
    theta = 2 * half
    current = rng.integers(-3 * theta, 3 * theta, size=(num_steps, 3, 4))
    threshold = np.full(4, num_steps * theta)
    tgim = np.ones((num_steps, num_steps), dtype=np.int64)
    levels, _ = lmht_scan(current, tgim, 0, 1, 0, num_levels, threshold, threshold // 2)
    totals = levels.sum(axis=0, dtype=np.int64)
    sums = current.sum(axis=0)
    for b in range(3):
        for i in range(4):
            expected = rhu(num_steps * int(sums[b, i]), num_steps * theta)
            assert totals[b, i] == min(max(expected, 0), num_steps * num_levels)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_steps=st.integers(1, 4),
    num_levels=st.integers(1, 4),
    tgim_bits=st.integers(0, 4),
    leak_bits=st.integers(0, 4),
    batch=st.integers(1, 2),
    num_neurons=st.integers(1, 4),
    amplitude=st.integers(1, 50),
    per_step=st.booleans(),
    dtype=st.sampled_from([np.int32, np.int64]),
)
def test_kernels_match_references(
    seed: int,
    num_steps: int,
    num_levels: int,
    tgim_bits: int,
    leak_bits: int,
    batch: int,
    num_neurons: int,
    amplitude: int,
    per_step: bool,
    dtype: type,
) -> None:
    """Both scans equal their rational references bit for bit (λ in [0, 2], negative inputs)."""
    rng = np.random.default_rng(seed)
    tgim = rng.integers(-(2**tgim_bits), 2 ** (tgim_bits + 1) + 1, size=(num_steps, num_steps))
    leak = int(rng.integers(0, 2 ** (leak_bits + 1) + 1))
    threshold = rng.integers(1, 17, size=num_neurons)
    v0 = rng.integers(-3 * threshold, 3 * threshold + 1)
    steps = num_steps if per_step else 1
    shape = (steps, batch, num_neurons)
    current = rng.integers(-amplitude, amplitude + 1, size=shape).astype(dtype)
    args = (current, tgim, tgim_bits, leak, leak_bits, num_levels, threshold, v0)
    levels, v = lmht_scan(*args)
    ref_levels, ref_v = lmht_scan_reference(*args)
    np.testing.assert_array_equal(levels, ref_levels)
    np.testing.assert_array_equal(v, ref_v)
    spikes, v_scaled = lmht_reparam_scan(*args)
    ref_spikes, ref_v_scaled = lmht_reparam_scan_reference(*args)
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_array_equal(v_scaled, ref_v_scaled)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_steps=st.integers(1, 3),
    num_levels=st.sampled_from([1, 2, 4, 255]),
    tgim_bits=st.integers(0, 3),
    channels=st.integers(1, 3),
    channel_size=st.integers(1, 3),
    shift=st.integers(0, 2),
    per_step=st.booleans(),
    dtype=st.sampled_from([np.int32, np.int64]),
)
def test_scan_shift_channels_and_by_products_match_reference(
    seed: int,
    num_steps: int,
    num_levels: int,
    tgim_bits: int,
    channels: int,
    channel_size: int,
    shift: int,
    per_step: bool,
    dtype: type,
) -> None:
    """lmht_scan reading current << shift with per-channel Θ and v0 equals the reference on
    the shifted current and per-neuron parameters; its events, level sums, per-step counts and
    peak equal those of the reference levels."""
    rng = np.random.default_rng(seed)
    tgim = rng.integers(-(2**tgim_bits), 2 ** (tgim_bits + 1) + 1, size=(num_steps, num_steps))
    threshold = rng.integers(1, 9, size=channels)
    v0 = rng.integers(-3 * threshold, 3 * threshold + 1)
    n = channels * channel_size
    current = rng.integers(-60, 200, size=(num_steps if per_step else 1, 2, n)).astype(dtype)
    counts = np.zeros(num_steps + 1, np.int64)
    events = np.empty((num_steps, 2, n), np.uint8)
    level_sum = np.empty((2, n), np.int64)
    levels, v = lmht_scan(
        current,
        tgim,
        tgim_bits,
        3,
        1,
        num_levels,
        threshold,
        v0,
        shift=shift,
        channel_size=channel_size,
        step_spikes=counts,
        events=events,
        level_sum=level_sum,
    )
    ref_levels, ref_v = lmht_scan_reference(
        current.astype(np.int64) << shift,
        tgim,
        tgim_bits,
        3,
        1,
        num_levels,
        np.repeat(threshold, channel_size),
        np.repeat(v0, channel_size),
    )
    np.testing.assert_array_equal(levels, ref_levels)
    np.testing.assert_array_equal(v, ref_v)
    np.testing.assert_array_equal(events, ref_levels != 0)
    np.testing.assert_array_equal(level_sum, ref_levels.sum(axis=0, dtype=np.int64))
    nonzero = np.count_nonzero(ref_levels.reshape(num_steps, -1), axis=1)
    assert counts.tolist() == [*nonzero.tolist(), int(ref_levels.max())]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scan", [lmht_scan, lmht_reparam_scan])
@pytest.mark.parametrize("bad", [0, -4])
def test_threshold_not_positive_raises(scan, bad: int) -> None:
    current = np.zeros((1, 1, 2), np.int64)
    with pytest.raises(ModelError, match=r"layer 'lm2'.*threshold must be > 0"):
        scan(current, IDENTITY_2, 0, 1, 0, 2, np.array([4, bad]), 0, layer="lm2")


def test_overflow_names_layer_step_and_width() -> None:
    """int16, identity T-GIM, I = [10, 32766], L=2, Θ=4, v0=0.

    Multi-level: m = 10 -> k=2, v=2; m = 2 + 32766 = 32768 > 32767 at step 2.
    Re-parameterised (fire at 8): 10 -> 2, 12 -> 4 | leak keeps 4, 4 + 32766 = 32770 at
    sub-step 3.
    """
    args = (_column([10, 32_766]), IDENTITY_2, 0, 1, 0, 2, np.array([4]), np.array([0]))
    with pytest.raises(OverflowDetected) as info:
        lmht_scan(*args, mem_bits=16, layer="lm1")
    assert str(info.value) == (
        "layer 'lm1': membrane overflow at step 2: |v| exceeded int16 range (±32767)"
    )
    with pytest.raises(OverflowDetected) as info:
        lmht_reparam_scan(*args, mem_bits=16, layer="lm1")
    assert str(info.value) == (
        "layer 'lm1': membrane overflow at step 3: |v| exceeded int16 range (±32767)"
    )


def test_leak_overflow_in_reparameterised_form() -> None:
    """λ = 4 (leak 4, h=0), L=2, Θ=100 (fire at 200), v0=0, J=180 every step, int16.

    Block 1: leak 0; 180; 360 -> spike (160). Block 2: leak 640; 820 -> 620; 800 -> 600.
    Block 3: leak 2400; 2580 -> 2380; 2560 -> 2360. Block 4: leak 9440; 9620 -> 9420;
    9600 -> 9400. Block 5: leak 37600 > 32767, at its first sub-step, 4·2 + 1 = 9.
    """
    args = (_column([180]), np.eye(6, dtype=np.int64), 0, 4, 0, 2, np.array([100]), 0)
    with pytest.raises(OverflowDetected, match=r"^layer 'leaky': membrane overflow at step 9:"):
        lmht_reparam_scan(*args, mem_bits=16, layer="leaky")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"current": np.zeros((3, 1, 1), np.int64)}, "current has 3 steps"),
        ({"tgim": np.ones((2, 3), np.int64)}, "square"),
        ({"tgim": np.ones((2, 2))}, "integer array"),
        ({"threshold": np.ones(2, np.int64)}, "threshold must have shape"),
        ({"v0": np.zeros(3, np.int64)}, "v0 must have shape"),
        ({"num_levels": 0}, "num_levels"),
        ({"num_levels": 256}, "num_levels"),
        ({"leak": -1}, "leak"),
        ({"tgim_bits": -1}, "tgim_bits"),
        ({"threshold": np.array([40_000])}, "does not fit"),
        ({"v0": np.array([-40_000])}, "does not fit"),
        ({"tgim": np.full((2, 2), 2**40), "current": np.full((2, 1, 1), 2**30)}, "headroom"),
    ],
)
def test_bad_inputs_raise_model_error(kwargs: dict, match: str) -> None:
    args = {
        "current": np.zeros((2, 1, 1), np.int64),
        "tgim": IDENTITY_2,
        "tgim_bits": 0,
        "leak": 1,
        "leak_bits": 0,
        "num_levels": 2,
        "threshold": np.array([4]),
        "v0": np.array([0]),
    }
    args.update(kwargs)
    for scan in (lmht_scan, lmht_reparam_scan):
        with pytest.raises(ModelError, match=match):
            scan(**args, mem_bits=16, layer="bad")


def test_reparameterised_threshold_must_fit_scaled_membrane() -> None:
    """L·Θ = 4·10000 = 40000 does not fit int16, although Θ itself does."""
    args = (_column([1]), np.array([[1]]), 0, 1, 0, 4, np.array([10_000]), np.array([0]))
    lmht_scan(*args, mem_bits=16)
    with pytest.raises(ModelError, match=r"scaled by 4"):
        lmht_reparam_scan(*args, mem_bits=16, layer="lm")
