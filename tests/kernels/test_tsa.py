"""Tests of the integer TSA/SWS kernel and encoders: known answers, identities, reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels.tsa import encode_digital, encode_neuron, tsa_scan
from tests.reference.if_mt import rhu
from tests.reference.tsa import encoded_value, tsa_scan_reference, weighted_input


def _column(values: list[int]) -> np.ndarray:
    """Input currents of one neuron as a [Tc, 1, 1] int64 array."""
    return np.array(values, dtype=np.int64).reshape(-1, 1, 1)


def _random_frame(
    seed: int, coding_steps: int, batch: int, num_neurons: int, amplitude: int, dtype: type
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random currents in [-amplitude, amplitude] and thresholds in [1, 2·amplitude]."""
    rng = np.random.default_rng(seed)
    shape = (coding_steps, batch, num_neurons)
    current = rng.integers(-amplitude, amplitude + 1, size=shape).astype(dtype)
    threshold = rng.integers(1, 2 * amplitude + 1, size=num_neurons)
    return current, threshold


# --------------------------------------------------------------------------------------------
# Known answers (Tc=4, Θ=16; z = [0, -6, 20, 26] from Q_i = [3, 5], W_int = [20, -6], B = 12)
# --------------------------------------------------------------------------------------------

E4_Z = [0, -6, 20, 26]


@pytest.mark.parametrize(
    ("silent_steps", "expected_spikes", "expected_residual"),
    [
        (0, [0, 0, 1, 1], -6),
        (1, [0, 0, 1, 1], -12),
        (2, [0, 1, -1, 1], -24),
        (4, [0, 1, -1, 1], -96),
    ],
)
def test_e4_layer_example(
    silent_steps: int, expected_spikes: list[int], expected_residual: int
) -> None:
    """X = 2·(-6) + 20·2 + 26 = 42 (weights 8, 4, 2, 1 on z = [0, -6, 20, 26]), rhu(42, 16) = 3.

    Ts=4 trace (fire when 2u >= 16·16 = 256, negative when 2u < -256, reset 256):
    silent u = 0, -6, 8, 42; then 84 (no fire); 168 -> +1 -> -88; -176 -> -1 -> 80;
    160 -> +1 -> -96 = 16·(42 - 3·16). Ts=0: [0,0,1,1] leaves -6 = 42 - 48; Ts=1 leaves
    2·(-6) = -12; Ts=2 gives [0,1,-1,1] (4 - 2 + 1 = 3) and -24 = 4·(-6).
    """
    spikes, residual = tsa_scan(_column(E4_Z), 4, silent_steps, np.array([16]))
    assert spikes.dtype == np.int8
    assert residual.dtype == np.int64
    assert spikes[:, 0, 0].tolist() == expected_spikes
    assert residual.tolist() == [[expected_residual]]
    assert int(encoded_value(spikes)[0, 0]) == rhu(weighted_input(E4_Z), 16) == 3


@pytest.mark.parametrize(
    ("silent_steps", "expected_spikes"),
    [
        (0, [0, 0, 0, 1]),
        (1, [0, 0, 1, 1]),
        (2, [0, 1, -1, 1]),
        (3, [0, 1, -1, 1]),
        (4, [0, 1, -1, 1]),
    ],
)
def test_e5_late_burst(silent_steps: int, expected_spikes: list[int]) -> None:
    """z = [0, 0, 0, 40], X = 40, target rhu(40, 16) = 3 (2.5 rounds up).

    Ts=0 sees the burst only at the last slot: 2·40 = 80 >= 16 fires once, A = 1 (wrong), and
    u = 40 - 16 = 24. Ts=1 sees it one slot earlier: A = 2 + 1 = 3. Ts>=2: A = 4 - 2 + 1 = 3.
    """
    spikes, residual = tsa_scan(_column([0, 0, 0, 40]), 4, silent_steps, np.array([16]))
    assert spikes[:, 0, 0].tolist() == expected_spikes
    if silent_steps == 0:
        assert residual.tolist() == [[24]]
        assert int(encoded_value(spikes)[0, 0]) == 1
    else:
        assert int(encoded_value(spikes)[0, 0]) == 3


@pytest.mark.parametrize(
    ("code", "silent_steps", "expected"),
    [
        (11, 0, [1, 0, 1, 1]),
        (3, 0, [0, 1, -1, 1]),
        (5, 0, [0, 1, 0, 1]),
        (13, 0, [1, 1, 0, 1]),
        (12, 0, [1, 0, 1, 1]),
        (12, 1, [1, 1, 0, 0]),
        (11, 1, [1, 1, 0, -1]),
        (3, 1, [0, 1, 0, -1]),
    ],
)
def test_e6_neuron_encoder(code: int, silent_steps: int, expected: list[int]) -> None:
    """Encoder Tc=4, D=15: z = p at every step, Θ = 15 (fire when 2u >= 15·2^Ts).

    p=11, Ts=0: u=11 fire -> -4; -8+11=3; 6+11=17 fire -> 2; 4+11=15 fire -> 0: [1,0,1,1].
    p=12, Ts=0: 12 fire -> -3; -6+12=6; 12+12=24 fire -> 9; 18+12=30 fire -> 15: [1,0,1,1]
    = 11, wrong. p=12, Ts=1 (Θ·2 = 30): 12 silent; 36 fire -> 6; 24 fire -> -6; 0; 0:
    [1,1,0,0] = 12.
    """
    spikes = encode_neuron(np.array([code]), 4, silent_steps)
    assert spikes.shape == (4, 1)
    assert spikes[:, 0].tolist() == expected


def test_neuron_encoder_ts0_errors_at_tc8() -> None:
    """Tc=8, Ts=0: 63 of the 256 codes decode wrongly, worst by 21 (212 comes out as 191)."""
    codes = np.arange(256)
    decoded = encoded_value(encode_neuron(codes, 8, 0))
    wrong = decoded != codes
    assert int(wrong.sum()) == 63
    assert int(np.abs(decoded - codes).max()) == 21
    assert int(decoded[212]) == 191


@pytest.mark.parametrize("coding_steps", [4, 8])
def test_neuron_encoder_ts1_is_exact(coding_steps: int) -> None:
    """With one silent step the constant-current encoder reproduces every code."""
    codes = np.arange(2**coding_steps).reshape(2, -1)
    spikes = encode_neuron(codes, coding_steps, 1)
    assert spikes.shape == (coding_steps, *codes.shape)
    np.testing.assert_array_equal(encoded_value(spikes), codes)


def test_digital_encoder_digits_and_round_trip() -> None:
    """5 = 0101, 12 = 1100 (MSB first); all 8-bit codes decode back exactly."""
    assert encode_digital(np.array([5, 12]), 4).T.tolist() == [[0, 1, 0, 1], [1, 1, 0, 0]]
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    spikes = encode_digital(codes, 8)
    assert spikes.dtype == np.int8
    assert spikes.shape == (8, 16, 16)
    np.testing.assert_array_equal(encoded_value(spikes), codes)


@pytest.mark.parametrize("encoder", [encode_digital, lambda c, tc: encode_neuron(c, tc, 1)])
@pytest.mark.parametrize("codes", [np.array([16]), np.array([-1]), np.array([1.0])])
def test_encoders_reject_bad_codes(encoder, codes: np.ndarray) -> None:
    with pytest.raises(ModelError, match="layer 'encoder'"):
        encoder(codes, 4)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    coding_steps=st.integers(1, 8),
    silent_steps=st.integers(0, 8),
    amplitude=st.integers(1, 40),
)
def test_residual_identity(seed: int, coding_steps: int, silent_steps: int, amplitude: int) -> None:
    """u(Tc+Ts) == 2^Ts·(X - A·Θ) for any Ts (no rectification)."""
    current, threshold = _random_frame(seed, coding_steps, 2, 5, amplitude, np.int64)
    spikes, residual = tsa_scan(current, coding_steps, silent_steps, threshold)
    value = encoded_value(spikes)
    for b in range(2):
        for i in range(5):
            x = weighted_input(current[:, b, i].tolist())
            assert residual[b, i] == 2**silent_steps * (x - int(value[b, i]) * int(threshold[i]))


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    coding_steps=st.integers(1, 6),
    extra_silent=st.integers(0, 3),
    amplitude=st.integers(1, 40),
    rectified=st.booleans(),
    max_level_draw=st.integers(0, 63),
)
def test_long_silence_is_exact(
    seed: int,
    coding_steps: int,
    extra_silent: int,
    amplitude: int,
    rectified: bool,
    max_level_draw: int,
) -> None:
    """Ts >= Tc: A == clip(rhu(X, Θ), -(2^Tc-1), 2^Tc-1), or clip(rhu(X, Θ), 0, Amax)."""
    current, threshold = _random_frame(seed, coding_steps, 2, 5, amplitude, np.int32)
    top = 2**coding_steps - 1
    max_level = max_level_draw % (top + 1) if rectified else -1
    spikes, _ = tsa_scan(
        current, coding_steps, coding_steps + extra_silent, threshold, max_level=max_level
    )
    value = encoded_value(spikes)
    low, high = (0, max_level) if rectified else (-top, top)
    for b in range(2):
        for i in range(5):
            x = weighted_input(current[:, b, i].tolist())
            assert value[b, i] == min(max(rhu(x, int(threshold[i])), low), high)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    coding_steps=st.integers(1, 8),
    silent_steps=st.integers(0, 9),
    batch=st.integers(1, 3),
    num_neurons=st.integers(1, 5),
    amplitude=st.integers(1, 60),
    max_level=st.integers(-1, 300),
    dtype=st.sampled_from([np.int32, np.int64]),
)
def test_kernel_matches_reference(
    seed: int,
    coding_steps: int,
    silent_steps: int,
    batch: int,
    num_neurons: int,
    amplitude: int,
    max_level: int,
    dtype: type,
) -> None:
    """Bit-for-bit equality with the rational reference, with and without rectification."""
    current, threshold = _random_frame(seed, coding_steps, batch, num_neurons, amplitude, dtype)
    spikes, residual = tsa_scan(current, coding_steps, silent_steps, threshold, max_level=max_level)
    ref_spikes, ref_residual = tsa_scan_reference(current, silent_steps, threshold, max_level)
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_array_equal(residual, ref_residual)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -16])
def test_threshold_not_positive_raises(bad: int) -> None:
    with pytest.raises(ModelError, match=r"layer 'tsa3'.*threshold must be > 0"):
        tsa_scan(np.zeros((4, 1, 2), np.int64), 4, 1, np.array([16, bad]), layer="tsa3")


def test_overflow_names_layer_step_and_width() -> None:
    """int16, Θ=1, Ts=0, z = [20000, 20000, 0, 0]: u=20000 fires (2u >= 1) -> 19999;
    then 2·19999 + 20000 = 59998 > 32767 at step 2.
    """
    with pytest.raises(OverflowDetected) as info:
        tsa_scan(_column([20_000, 20_000, 0, 0]), 4, 0, np.array([1]), mem_bits=16, layer="tsa1")
    assert str(info.value) == (
        "layer 'tsa1': membrane overflow at step 2: |v| exceeded int16 range (±32767)"
    )


def test_overflow_in_silent_period() -> None:
    """Ts=3, int16: silent u = 9000, 2·9000 + 9000 = 27000, 2·27000 = 54000 at step 3."""
    with pytest.raises(OverflowDetected, match=r"layer 'tsa2': membrane overflow at step 3:"):
        tsa_scan(_column([9000, 9000, 0]), 3, 3, np.array([4]), mem_bits=16, layer="tsa2")


def test_huge_current_overflows_without_wrapping() -> None:
    """A current near the int64 limit is reported as an overflow, not wrapped."""
    current = _column([2**62, 0])
    with pytest.raises(OverflowDetected, match="at step 1: "):
        tsa_scan(current, 2, 0, np.array([3]), layer="big")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"current": np.zeros((3, 1, 1), np.int64)}, "current has 3 steps"),
        ({"threshold": np.ones(2, np.int64)}, "threshold must have shape"),
        ({"silent_steps": -1}, "silent_steps"),
        ({"coding_steps": 0}, "coding_steps"),
        ({"threshold": np.array([2**60]), "silent_steps": 4}, "headroom"),
        ({"mem_bits": 64}, "mem_bits"),
    ],
)
def test_bad_inputs_raise_model_error(kwargs: dict, match: str) -> None:
    args = {
        "current": np.zeros((4, 1, 1), np.int64),
        "coding_steps": 4,
        "silent_steps": 1,
        "threshold": np.array([3]),
    }
    args.update(kwargs)
    mem_bits = args.pop("mem_bits", 32)
    with pytest.raises(ModelError, match=match):
        tsa_scan(**args, mem_bits=mem_bits, layer="bad")


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    coding_steps=st.integers(1, 6),
    silent_steps=st.integers(0, 4),
    batch=st.integers(1, 2),
    channels=st.integers(1, 3),
    channel_size=st.integers(1, 3),
    shift=st.integers(0, 3),
    one_step=st.booleans(),
    biased=st.booleans(),
    max_level=st.integers(-1, 70),
    dtype=st.sampled_from([np.int32, np.int64]),
)
def test_fused_charge_and_outputs_match_reference(
    seed: int,
    coding_steps: int,
    silent_steps: int,
    batch: int,
    channels: int,
    channel_size: int,
    shift: int,
    one_step: bool,
    biased: bool,
    max_level: int,
    dtype: type,
) -> None:
    """The scan's own shift, bias split (B = q·(2^Tc − 1) + r, SWS eq. 19), per-channel
    parameters and by-products equal the reference on the charge formed in numpy."""
    rng = np.random.default_rng(seed)
    n = channels * channel_size
    current = rng.integers(-30, 31, size=(1 if one_step else coding_steps, batch, n))
    current = current.astype(dtype)
    theta_c = rng.integers(1, 80, size=channels)
    bias_c = rng.integers(-200, 201, size=channels) if biased else None
    step_spikes, signs = np.zeros(coding_steps, np.int64), np.zeros(2, np.int64)
    events = np.empty((coding_steps, batch, n), np.uint8)
    encoded = np.empty((batch, n), np.int64)
    spikes, residual = tsa_scan(
        current,
        coding_steps,
        silent_steps,
        theta_c,
        max_level=max_level,
        shift=shift,
        bias=bias_c,
        channel_size=channel_size,
        step_spikes=step_spikes,
        sign_counts=signs,
        events=events,
        encoded=encoded,
    )
    # Plain numpy: the charge z(t) the scan forms, then the rational reference.
    z = np.broadcast_to(current.astype(np.int64) << shift, (coding_steps, batch, n)).copy()
    if bias_c is not None:
        q, r = np.divmod(bias_c, 2**coding_steps - 1)
        z += np.repeat(q, channel_size)
        z[-1] += np.repeat(r, channel_size)
    theta = np.repeat(theta_c, channel_size)
    ref_spikes, ref_residual = tsa_scan_reference(z, silent_steps, theta, max_level)
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_array_equal(residual, ref_residual)
    np.testing.assert_array_equal(events, ref_spikes != 0)
    np.testing.assert_array_equal(encoded, encoded_value(ref_spikes))
    np.testing.assert_array_equal(
        step_spikes, np.count_nonzero(ref_spikes.reshape(coding_steps, -1), axis=1)
    )
    assert signs.tolist() == [int((ref_spikes > 0).sum()), int((ref_spikes < 0).sum())]
    without, none = tsa_scan(
        current,
        coding_steps,
        silent_steps,
        theta_c,
        max_level=max_level,
        shift=shift,
        bias=bias_c,
        channel_size=channel_size,
        keep_membrane=False,
    )
    assert none is None
    np.testing.assert_array_equal(without, spikes)


def test_channel_size_must_divide_the_neurons() -> None:
    with pytest.raises(ModelError, match="channel_size 2 does not divide the 3 neurons"):
        tsa_scan(np.zeros((2, 1, 3), np.int32), 2, 0, np.array([3]), channel_size=2)


def test_a_shifted_charge_beyond_int64_headroom_raises() -> None:
    current = _column([2**40, 0])
    with pytest.raises(OverflowDetected, match=r"at step 1: the charge \(current << 24\)"):
        tsa_scan(current, 2, 0, np.array([3]), shift=24, layer="big")
