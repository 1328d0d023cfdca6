"""Synaptic kernels against the plain-numpy reference, bit for bit, on both back ends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels import conv_event, synapse
from neurosim.kernels.conv_event import _int16_block, _int16_channels, _int16_group
from tests.reference import synapse as reference

X_DTYPES = (np.int8, np.uint8, np.int16, np.int32, np.int64)
W_DTYPES = (np.int8, np.int16)
INT32_MAX = 2**31 - 1

# Seeded (derandomized) and without deadline: the first example of a dtype pays Numba's compile.
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)


def _values(rng: np.random.Generator, shape: tuple, dtype: type, density: float) -> np.ndarray:
    """Random integers over the dtype's range (int32/int64 capped at ±2**20), zeroed at random."""
    info = np.iinfo(dtype)
    low, high = max(int(info.min), -(2**20)), min(int(info.max), 2**20)
    values = rng.integers(low, high, size=shape, endpoint=True)
    return (values * (rng.random(shape) < density)).astype(dtype)


def _expected_dtype(max_w: int, max_x: int, fan_in: int) -> type:
    return np.int32 if max_w * max_x * fan_in <= INT32_MAX else np.int64


def _max_abs(a: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64)).max(initial=0))


@st.composite
def conv_cases(draw):
    """(x, weight, stride, padding) with S, B <= 3, C <= 5, H, W <= 9, kernel 1-3, stride 1-3
    (the event conv has a path for each of stride 1, stride 2 and larger strides)."""
    kernel = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 1))
    smallest = max(1, kernel - 2 * padding)
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 3)),
        draw(st.integers(1, 5)),
        draw(st.integers(smallest, 9)),
        draw(st.integers(smallest, 9)),
    )
    num_out = draw(st.integers(1, 5))
    x_dtype = draw(st.sampled_from(X_DTYPES))
    w_dtype = draw(st.sampled_from(W_DTYPES))
    density = draw(st.sampled_from((0.0, 0.1, 0.5, 1.0)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _values(rng, shape, x_dtype, density)
    weight = _values(rng, (num_out, shape[2], kernel, kernel), w_dtype, 1.0)
    return x, weight, draw(st.integers(1, 3)), padding


@PROPERTY
@given(case=conv_cases(), method=st.sampled_from(synapse.METHODS))
def test_conv2d_equals_reference(case, method):
    x, weight, stride, padding = case
    out = synapse.conv2d(x, weight, stride, padding, method=method)
    expected = reference.conv2d(x, weight, stride, padding)
    assert out.shape == expected.shape
    assert out.dtype == _expected_dtype(_max_abs(weight), _max_abs(x), weight[0].size)
    np.testing.assert_array_equal(out, expected)


@PROPERTY
@given(case=conv_cases(), method=st.sampled_from(synapse.METHODS))
def test_linear_equals_reference(case, method):
    x, weight, _, _ = case
    x = x.reshape(x.shape[0], x.shape[1], -1)
    weight = np.resize(weight, (weight.shape[0] + 1, x.shape[2]))
    out = synapse.linear(x, weight, method=method)
    assert out.dtype == _expected_dtype(_max_abs(weight), _max_abs(x), x.shape[2])
    np.testing.assert_array_equal(out, reference.linear(x, weight))


def test_narrow_fan_in_takes_the_event_path_at_full_density(rng, monkeypatch):
    """A 3 x 3 conv over 3 channels (fan-in 27 = ``EVENT_FAN_IN``) of dense codes 0..255
    runs on the event path and equals the reference; 4 channels (fan-in 36) stays dense."""
    from neurosim.kernels import conv as conv_module

    calls = []
    event = conv_module._conv_event
    monkeypatch.setattr(conv_module, "_conv_event", lambda *a: calls.append(1) or event(*a))
    for channels, expect_event in ((3, True), (4, False)):
        calls.clear()
        x = rng.integers(1, 256, size=(2, 1, channels, 9, 9))
        weight = rng.integers(-128, 128, size=(5, channels, 3, 3)).astype(np.int8)
        out = synapse.conv2d(x, weight, 1, 1)
        np.testing.assert_array_equal(out, reference.conv2d(x, weight, 1, 1))
        assert bool(calls) == expect_event


@pytest.mark.parametrize("frames", [1, 32, 33, 70])
def test_linear_dense_both_sides_of_the_row_kernel(frames, rng):
    """Up to ``LINEAR_ROW_FRAMES`` frames the dense path multiplies in integers per weight
    row, beyond it by float GEMM: both equal the reference, int8 and int16 weights, with
    ternary and level inputs."""
    from neurosim.kernels.fully_connected import LINEAR_ROW_FRAMES

    assert LINEAR_ROW_FRAMES == 32
    for x_max, w_dtype, w_max in ((1, np.int8, 127), (100, np.int16, 32767)):
        x = rng.integers(-x_max, x_max + 1, size=(frames, 1, 300)).astype(np.int8)
        weight = rng.integers(-w_max - 1, w_max + 1, size=(45, 300)).astype(w_dtype)
        out = synapse.linear(x, weight, method="dense")
        np.testing.assert_array_equal(out, reference.linear(x, weight))


@PROPERTY
@given(case=conv_cases(), kernel=st.integers(1, 3), stride=st.integers(1, 2))
def test_sum_pool2d_equals_reference(case, kernel, stride):
    x = case[0]
    kernel = min(kernel, x.shape[3], x.shape[4])
    out = synapse.sum_pool2d(x, kernel, stride)
    bound = _max_abs(x) * kernel * kernel
    narrowest = next(t for t in (np.int8, np.int16, np.int32, np.int64) if bound <= np.iinfo(t).max)
    assert out.dtype == narrowest
    np.testing.assert_array_equal(out, reference.sum_pool2d(x, kernel, stride))
    # A caller's fixed dtype: the same sums in it; one too narrow for them is refused.
    wide = synapse.sum_pool2d(x, kernel, stride, dtype=np.int32)
    assert wide.dtype == np.int32
    np.testing.assert_array_equal(wide, out)
    if bound > np.iinfo(np.int8).max:
        with pytest.raises(ModelError, match="dtype int8 cannot hold the window sums"):
            synapse.sum_pool2d(x, kernel, stride, dtype=np.int8)


@pytest.mark.parametrize("method", synapse.METHODS)
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_wide_layer_equals_reference(method, stride, rng):
    """Co = 40 and Ci = 7 exercise full SIMD runs and their remainders; ternary and level spikes."""
    x = rng.integers(-3, 4, size=(2, 2, 7, 11, 10)).astype(np.int8)
    x[rng.random(x.shape) < 0.7] = 0
    weight = rng.integers(-128, 128, size=(40, 7, 3, 3)).astype(np.int8)
    out = synapse.conv2d(x, weight, stride, 1, method=method)
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, stride, 1))


def test_int16_group_sizes():
    """Channels per int16 flush: ⌊32767 / (Kh·Kw·max|w|·max|x|)⌋, capped at Ci; none for int64
    accumulation or a single term too wide for int16."""
    assert _int16_group(127, 9, 64, np.int32) == 28
    assert _int16_group(127 * 4, 9, 64, np.int32) == 7
    assert _int16_group(127, 1, 64, np.int32) == 64
    assert _int16_group(127, 9, 64, np.int64) == 0
    assert _int16_group(32767, 9, 64, np.int32) == 0
    assert _int16_group(0, 9, 64, np.int32) == 0


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize(("level", "stride"), [(1, 1), (1, 2), (3, 1)])
def test_event_conv_int16_groups_are_exact_at_their_bound(sign, level, stride):
    """The worst case of the int16 accumulator: every input at the largest level and every
    weight at ±127 with one sign, so every partial sum of a group reaches its bound exactly;
    Ci = 61 flushes several groups (28 channels at level 1, 9 at level 3)."""
    x = np.full((1, 2, 61, 9, 8), level, np.int8)
    weight = np.full((5, 61, 3, 3), 127 * sign, np.int8)
    assert 1 <= _int16_group(127 * level, 9, 61, np.int32) < 61
    out = synapse.conv2d(x, weight, stride, 1, method="event")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, stride, 1))
    assert int(np.abs(out).max()) == 61 * 9 * 127 * level


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    num_in=st.integers(1, 40),
    num_out=st.integers(1, 6),
    scale=st.sampled_from((3, 40, 127)),
    limit=st.integers(1, 5000),
)
def test_int16_channels_is_the_longest_run_every_window_allows(seed, num_in, num_out, scale, limit):
    """_int16_channels equals a brute force: the largest g for which every g consecutive
    input channels give each output a Σ|w| of at most the limit (0 if none)."""
    rng = np.random.default_rng(seed)
    weight_t = rng.integers(-scale, scale + 1, size=(num_in, 3, 2, num_out)).astype(np.int8)
    sums = np.abs(weight_t.astype(np.int64)).sum(axis=(1, 2))
    expected = 0
    for g in range(1, num_in + 1):
        windows = [sums[c : c + g].sum(axis=0).max() for c in range(num_in - g + 1)]
        if max(windows) <= limit:
            expected = g
    assert _int16_channels(weight_t, limit) == expected


@pytest.mark.parametrize("sign", [1, -1])
def test_event_conv_int16_blocks_from_the_weights_are_exact_at_their_bound(sign, monkeypatch):
    """Taps of ±84 but one of ±127 per (output, channel), inputs 1: Σ|w| = 799 per channel, so
    blocks of 41 channels (32759 <= 32767, where the worst case 9·127 allows 28) reach the
    int16 bound; Ci = 61 is two blocks and every interior sum is 61·799, wider than int16."""
    x = np.ones((1, 2, 61, 7, 8), np.int8)
    weight = np.full((5, 61, 3, 3), 84 * sign, np.int8)
    weight[:, :, 1, 1] = 127 * sign
    weight_t = np.ascontiguousarray(weight.transpose(1, 2, 3, 0))
    assert _int16_channels(weight_t, 32767) == 41
    assert _int16_block(weight_t, 127, 1, np.int32, 0) == 28  # too small to read the weights
    monkeypatch.setattr(conv_event, "_INT16_SUMS_RATIO", 0)
    assert _int16_block(weight_t, 127, 1, np.int32, 0) == 41
    out = synapse.conv2d(x, weight, 1, 1, method="event")
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, 1, 1))
    assert int(np.abs(out).max()) == 61 * 799


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    num_in=st.integers(1, 90),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    level=st.integers(1, 7),
    ternary=st.booleans(),
    density=st.sampled_from((0.05, 0.3, 1.0)),
    widen=st.booleans(),
    scale=st.sampled_from((9, 127)),
)
def test_event_conv_with_int16_groups_equals_reference(
    seed, num_in, kernel, stride, level, ternary, density, widen, scale
):
    """Spikes and levels up to 7 (binary, ternary or signed levels), int8 weights up to ±127 or
    ±9, up to 90 input channels, int16 blocks of the worst case or widened from the weights
    (``_int16_block`` forced to read them): the grouped int16 accumulation gives the
    reference's sums."""
    rng = np.random.default_rng(seed)
    shape = (2, 2, num_in, 7, 6)
    x = rng.integers(-level if ternary else 0, level + 1, size=shape)
    x = (x * (rng.random(shape) < density)).astype(np.int8)
    weight = rng.integers(-scale, scale + 1, size=(9, num_in, kernel, kernel)).astype(np.int8)
    weight[0, 0, 0, 0] = 127  # the worst case sees max|w| = 127
    before = conv_event._INT16_SUMS_RATIO
    conv_event._INT16_SUMS_RATIO = 0 if widen else before
    try:
        out = synapse.conv2d(x, weight, stride, kernel // 2, method="event")
    finally:
        conv_event._INT16_SUMS_RATIO = before
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, stride, kernel // 2))


@pytest.mark.parametrize("method", synapse.METHODS)
@pytest.mark.parametrize(("stride", "size"), [(2, 11), (2, 10), (3, 7)])
def test_strided_1x1_conv_reads_only_the_strided_inputs(method, stride, size, rng):
    """A 1x1 conv with stride s (a ResNet downsample) is computed on every s-th row and column;
    odd sizes, several strides and level spikes give the reference's values and shape."""
    x = rng.integers(-3, 4, size=(2, 2, 6, size, size)).astype(np.int8)
    x[rng.random(x.shape) < 0.6] = 0
    weight = rng.integers(-128, 128, size=(24, 6, 1, 1)).astype(np.int8)
    out = synapse.conv2d(x, weight, stride, 0, method=method)
    expected = reference.conv2d(x, weight, stride, 0)
    assert (
        out.shape
        == expected.shape
        == (2, 2, 24, (size - 1) // stride + 1, (size - 1) // stride + 1)
    )
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("method", synapse.METHODS)
def test_float32_bound_exceeded_stays_exact(method):
    """Every interior output is 9 · 4097 · 4095 = 9 · (2**24 - 1) = 150994935, which float32
    cannot hold (it rounds to 150994928), so the bound 4097 · 4095 · 9 >= 2**24 must keep the sum
    off float32 BLAS."""
    x = np.full((1, 2, 1, 5, 5), 4097, np.int16)
    weight = np.full((3, 1, 3, 3), 4095, np.int16)
    assert int(np.float32(150994935)) != 150994935
    out = synapse.conv2d(x, weight, 1, 1, method=method)
    assert out[0, 0, 0, 2, 2] == 150994935
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, 1, 1))


@pytest.mark.parametrize("method", synapse.METHODS)
def test_values_near_2_pow_20_with_int16_weights_are_exact(method, rng):
    """bound = 2**20 · 32767 · 5 · 9 > 2**31: int64 accumulation, float64 or integer GEMM."""
    x = rng.integers(2**20 - 64, 2**20, size=(2, 2, 5, 6, 6), endpoint=True).astype(np.int32)
    x[rng.random(x.shape) < 0.5] *= -1
    weight = rng.integers(-(2**15), 2**15, size=(4, 5, 3, 3)).astype(np.int16)
    out = synapse.conv2d(x, weight, 2, 1, method=method)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, 2, 1))
    flat = x.reshape(2, 2, -1)
    w_flat = np.resize(weight, (3, flat.shape[2]))
    np.testing.assert_array_equal(
        synapse.linear(flat, w_flat, method=method), reference.linear(flat, w_flat)
    )


@pytest.mark.parametrize("method", synapse.METHODS)
def test_beyond_float64_bound_uses_integer_path(method, rng):
    """|x| near 2**40 with int16 weights: bound > 2**53, so no float GEMM is exact."""
    x = rng.integers(-(2**40), 2**40, size=(1, 2, 3, 4, 4)).astype(np.int64)
    weight = rng.integers(-(2**15), 2**15, size=(2, 3, 3, 3)).astype(np.int16)
    out = synapse.conv2d(x, weight, 1, 1, method=method)
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, 1, 1))


def test_bound_beyond_int64_raises_overflow():
    x = np.full((1, 1, 4, 3, 3), 2**60, np.int64)
    weight = np.full((1, 4, 3, 3), 1000, np.int16)
    with pytest.raises(OverflowDetected, match="int64"):
        synapse.conv2d(x, weight, 1, 1)
    with pytest.raises(OverflowDetected, match="int64"):
        synapse.linear(x.reshape(1, 1, -1), np.ones((2, 36), np.int16) * 1000)


def test_outputs_are_contiguous_and_input_views_accepted(rng):
    """A non-contiguous input view and bool spikes give the same result as a contiguous copy."""
    base = rng.integers(0, 2, size=(2, 3, 8, 8, 4)).astype(bool)
    x = base.transpose(0, 1, 4, 2, 3)
    weight = rng.integers(-9, 10, size=(6, 4, 3, 3)).astype(np.int8)
    out = synapse.conv2d(x, weight, 1, 0)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, reference.conv2d(x.astype(np.int8), weight, 1, 0))


def test_empty_and_all_zero_inputs_give_zeros():
    weight = np.ones((3, 2, 3, 3), np.int8)
    out = synapse.conv2d(np.zeros((2, 0, 2, 5, 5), np.int8), weight, 1, 1)
    assert out.shape == (2, 0, 3, 5, 5)
    out = synapse.conv2d(np.zeros((2, 1, 2, 5, 5), np.int64), weight, 2, 1, method="event")
    assert out.shape == (2, 1, 3, 3, 3)
    assert out.dtype == np.int32
    assert not out.any()


def test_conv2d_fanout_known_answer():
    """3×3 input, kernel 3, stride 1, padding 1, 2 output channels: a corner is read by 4 output
    positions, an edge by 6, the centre by 9, so all-ones inputs give 2·(4·4 + 4·6 + 9) = 98."""
    values = np.ones((1, 1, 1, 3, 3), np.int8)
    np.testing.assert_array_equal(synapse.conv2d_fanout(values, 2, 3, 1, 1), [98])


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    shape=st.tuples(
        st.integers(1, 3),
        st.integers(1, 3),
        st.integers(1, 4),
        st.integers(1, 9),
        st.integers(1, 9),
    ),
    out_channels=st.integers(0, 7),
    dtype=st.sampled_from((np.bool_, np.int8, np.uint8, np.int64)),
)
def test_conv2d_fanout_equals_brute_force(
    seed, kernel, stride, padding, shape, out_channels, dtype
):
    rng = np.random.default_rng(seed)
    height = max(shape[3], kernel - 2 * padding)
    width = max(shape[4], kernel - 2 * padding)
    values = rng.integers(0, 5, size=(*shape[:3], height, width)).astype(dtype)
    out = synapse.conv2d_fanout(values, out_channels, kernel, stride, padding)
    assert out.dtype == np.int64
    assert out.shape == (shape[0],)
    np.testing.assert_array_equal(
        out, reference.conv2d_fanout(values, out_channels, kernel, stride, padding)
    )


def test_linear_fanout(rng):
    values = rng.integers(0, 4, size=(3, 2, 7)).astype(np.int16)
    out = synapse.linear_fanout(values, 5)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, values.sum(axis=(1, 2)) * 5)
    np.testing.assert_array_equal(out, reference.linear_fanout(values, 5))


def test_channel_mismatch_names_both_shapes():
    x = np.zeros((1, 1, 3, 5, 5), np.int8)
    weight = np.zeros((4, 2, 3, 3), np.int8)
    with pytest.raises(ModelError, match=r"\(1, 1, 3, 5, 5\).*\(4, 2, 3, 3\)"):
        synapse.conv2d(x, weight, 1, 1)
    with pytest.raises(ModelError, match=r"\(1, 1, 6\).*\(4, 5\)"):
        synapse.linear(np.zeros((1, 1, 6), np.int8), np.zeros((4, 5), np.int8))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 1, 3, 3)), np.zeros((1, 1, 1, 1), np.int8), 1, 0
            ),
            "dtype",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 3, 3), np.int8), np.zeros((1, 1, 1, 1), np.int8), 1, 0
            ),
            "shape",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 1, 3, 3), np.int8), np.zeros((1, 1, 1, 1), np.int32), 1, 0
            ),
            "int8 or int16",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 1, 2, 2), np.int8), np.zeros((1, 1, 3, 3), np.int8), 1, 0
            ),
            "does not fit",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 1, 3, 3), np.int8), np.zeros((1, 1, 1, 1), np.int8), 0, 0
            ),
            "stride",
        ),
        (lambda: synapse.sum_pool2d(np.zeros((1, 1, 1, 2, 2), np.int8), 3, 1), "does not fit"),
        (
            lambda: synapse.conv2d_fanout(-np.ones((1, 1, 1, 3, 3), np.int8), 2, 3, 1, 1),
            "non-negative",
        ),
        (lambda: synapse.linear_fanout(np.ones((1, 3), np.int8), 2), "shape"),
    ],
)
def test_bad_inputs_raise_model_error(call, message):
    with pytest.raises(ModelError, match=message):
        call()


def test_unknown_method_lists_allowed_values():
    x = np.zeros((1, 1, 1, 3, 3), np.int8)
    weight = np.zeros((1, 1, 1, 1), np.int8)
    with pytest.raises(ModelError, match=r"'auto', 'dense', 'event'.*'fast'"):
        synapse.conv2d(x, weight, 1, 0, method="fast")
    with pytest.raises(ModelError, match="'auto', 'dense', 'event'"):
        synapse.linear(x.reshape(1, 1, 9), np.zeros((2, 9), np.int8), method="gemm")


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(1, 3),
    one_step_x=st.booleans(),
    x_dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.int64]),
    out_dtype=st.sampled_from([np.int32, np.int64]),
)
def test_channel_axpy_equals_numpy(seed, steps, one_step_x, x_dtype, out_dtype):
    """The residual sum's fused step: out = x·g[c], then out += x2·g2[c], as numpy computes it."""
    rng = np.random.default_rng(seed)
    shape = (steps, 2, 3, 5)
    lo = 0 if x_dtype == np.uint8 else -100
    x1 = rng.integers(lo, 101, size=(1 if one_step_x else steps, *shape[1:])).astype(x_dtype)
    x2 = rng.integers(lo, 101, size=shape).astype(x_dtype)
    g1, g2 = rng.integers(-50, 51, size=3), rng.integers(-50, 51, size=3)
    out = np.empty(shape, out_dtype)
    synapse.channel_axpy(out, x1, g1, True)
    synapse.channel_axpy(out, x2, g2, False)
    want = (
        x1.astype(np.int64) * g1[None, None, :, None]
        + x2.astype(np.int64) * g2[None, None, :, None]
    )
    np.testing.assert_array_equal(out, want)


def test_channel_axpy_rejects_mismatched_shapes():
    out = np.empty((2, 1, 3, 4), np.int32)
    with pytest.raises(ModelError, match="does not match"):
        synapse.channel_axpy(out, np.zeros((2, 1, 3, 5), np.int8), np.ones(3, np.int64), True)
    with pytest.raises(ModelError, match="gain must have shape"):
        synapse.channel_axpy(out, np.zeros((2, 1, 3, 4), np.int8), np.ones(2, np.int64), True)


# -- Grouped and dilated convolution ----------------------------------------------------------


@st.composite
def grouped_conv_cases(draw):
    """(x, weight, stride, padding, groups, dilation): groups 1-4 (depthwise: one input channel
    per group, channel multiplier 1-2), dilation 1-3, stride 1-3, padding 0-2, kernel 1-3."""
    kernel = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    groups = draw(st.integers(1, 4))
    depthwise = draw(st.booleans())
    in_per_group = 1 if depthwise else draw(st.integers(1, 3))
    out_per_group = draw(st.integers(1, 2 if depthwise else 3))
    smallest = max(1, dilation * (kernel - 1) + 1 - 2 * padding)
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 2)),
        groups * in_per_group,
        draw(st.integers(smallest, smallest + 6)),
        draw(st.integers(smallest, smallest + 6)),
    )
    x_dtype = draw(st.sampled_from(X_DTYPES))
    w_dtype = draw(st.sampled_from(W_DTYPES))
    density = draw(st.sampled_from((0.0, 0.1, 0.5, 1.0)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _values(rng, shape, x_dtype, density)
    weight = _values(rng, (groups * out_per_group, in_per_group, kernel, kernel), w_dtype, 1.0)
    return x, weight, draw(st.integers(1, 3)), padding, groups, dilation


def _full_weight(weight: np.ndarray, groups: int, dilation: int) -> np.ndarray:
    """The same layer as an ungrouped, undilated conv: a block-diagonal [Co, Ci, ...] weight
    whose taps are spread ``dilation`` apart with zeros between them."""
    num_out, in_per_group, kernel_h, kernel_w = weight.shape
    out_per_group = num_out // groups
    span_h, span_w = dilation * (kernel_h - 1) + 1, dilation * (kernel_w - 1) + 1
    full = np.zeros((num_out, in_per_group * groups, span_h, span_w), weight.dtype)
    for g in range(groups):
        outs = slice(g * out_per_group, (g + 1) * out_per_group)
        ins = slice(g * in_per_group, (g + 1) * in_per_group)
        full[outs, ins, ::dilation, ::dilation] = weight[outs]
    return full


@PROPERTY
@given(case=grouped_conv_cases(), method=st.sampled_from(synapse.METHODS))
def test_grouped_dilated_conv2d_equals_reference(case, method):
    x, weight, stride, padding, groups, dilation = case
    out = synapse.conv2d(
        x, weight, stride, padding, groups=groups, dilation=dilation, method=method
    )
    expected = reference.conv2d(x, weight, stride, padding, groups, dilation)
    assert out.shape == expected.shape
    if not (weight.shape[2] == 1 and stride > 1 and padding == 0):
        # (a strided 1x1 conv bounds max|x| over the inputs it reads only)
        assert out.dtype == _expected_dtype(_max_abs(weight), _max_abs(x), weight[0].size)
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=grouped_conv_cases(), method=st.sampled_from(synapse.METHODS))
def test_grouped_dilated_conv2d_equals_block_diagonal_spread_kernel(case, method):
    """Cross-check without the reference: groups and dilation give the sums of an ordinary
    conv whose weight is block-diagonal over the groups and zero between the dilated taps."""
    x, weight, stride, padding, groups, dilation = case
    out = synapse.conv2d(
        x, weight, stride, padding, groups=groups, dilation=dilation, method=method
    )
    full = synapse.conv2d(x, _full_weight(weight, groups, dilation), stride, padding, method=method)
    np.testing.assert_array_equal(out, full)


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    groups=st.sampled_from((2, 3, 6, 48)),
    out_per_group=st.integers(1, 3),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 3),
    level=st.integers(1, 7),
    density=st.sampled_from((0.05, 0.3, 1.0)),
)
def test_event_conv_grouped_int16_flushes_equal_reference(
    seed, groups, out_per_group, kernel, stride, dilation, level, density
):
    """48 input channels of signed levels up to 7 and int8 weights: the int16 accumulator is
    flushed every ⌊32767 / (Kh·Kw·127·level)⌋ channels (4 at level 7 with a 3×3 kernel), so a
    flush block spans several conv groups or ends inside one; the sums stay the reference's."""
    rng = np.random.default_rng(seed)
    shape = (2, 2, 48, 8, 7)
    x = rng.integers(-level, level + 1, size=shape)
    x = (x * (rng.random(shape) < density)).astype(np.int8)
    weight = rng.integers(-127, 128, size=(groups * out_per_group, 48 // groups, kernel, kernel))
    weight = weight.astype(np.int8)
    padding = dilation * (kernel - 1) // 2
    out = synapse.conv2d(
        x, weight, stride, padding, groups=groups, dilation=dilation, method="event"
    )
    expected = reference.conv2d(x, weight, stride, padding, groups, dilation)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("method", synapse.METHODS)
def test_depthwise_conv_of_a_one_hot_input_known_answer(method):
    """Depthwise 3×3 (groups = Ci = 2), stride 1, padding 1, on a 5×5 input whose only spike is
    x[c=1, y=2, x=2]; weight w[c, 0, u, v] = 10·c + 3·u + v + 1 (channel 1: 11..19).

    out[c, i, j] = Σ_{u,v} w[c, 0, u, v]·x[c, i + u - 1, j + v - 1], so the spike reaches
    out[1, i, j] through tap (u, v) = (3 - i, 3 - j) for i, j in 1..3: the kernel rotated by
    180° around (2, 2), e.g. out[1, 1, 1] = w[1, 0, 2, 2] = 10 + 6 + 2 + 1 = 19 and
    out[1, 3, 3] = w[1, 0, 0, 0] = 11. Channel 0 sees only input channel 0 and stays 0.
    """
    x = np.zeros((1, 1, 2, 5, 5), np.int8)
    x[0, 0, 1, 2, 2] = 1
    c, u, v = np.meshgrid(np.arange(2), np.arange(3), np.arange(3), indexing="ij")
    weight = (10 * c + 3 * u + v + 1).astype(np.int8)[:, None]
    out = synapse.conv2d(x, weight, 1, 1, groups=2, method=method)
    expected = np.zeros((1, 1, 2, 5, 5), np.int64)
    expected[0, 0, 1, 1:4, 1:4] = [[19, 18, 17], [16, 15, 14], [13, 12, 11]]
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(reference.conv2d(x, weight, 1, 1, 2), expected)


@pytest.mark.parametrize("method", synapse.METHODS)
@pytest.mark.parametrize(("stride", "counts"), [(1, [2, 2, 3, 2, 2]), (2, [2, 3, 2]), (3, [2, 2])])
def test_dilated_conv_of_ones_known_answer(method, stride, counts):
    """All-ones 5×5 input and 3×3 kernel, dilation 2, padding 2: the kernel spans 5 inputs, and
    output row o reads input rows o·stride + 2·u - 2 (u = 0, 1, 2), of which n_o lie in 0..4.
    Stride 1: rows {-2, 0, 2}, {-1, 1, 3}, {0, 2, 4}, {1, 3, 5}, {2, 4, 6} give n = 2, 2, 3, 2, 2;
    stride 2: o = 0, 1, 2 give 2, 3, 2; stride 3: o = 0, 1 give 2, 2. Columns alike, so
    out[i, j] = n_i · n_j (9 at the centre, 4 at the corners)."""
    x = np.ones((1, 1, 1, 5, 5), np.int8)
    weight = np.ones((1, 1, 3, 3), np.int8)
    out = synapse.conv2d(x, weight, stride, 2, dilation=2, method=method)
    np.testing.assert_array_equal(out[0, 0, 0], np.outer(counts, counts))


def test_conv2d_fanout_grouped_dilated_known_answer():
    """5×5 all-ones input with 2 channels; kernel 3, stride 1, padding 2, dilation 2.

    Input row y is read by the (output row o, tap u) pairs with o + 2·u = y + 2, 0 <= o < 5:
    n_y = 2, 2, 3, 2, 2 (as in the dilated known answer above), Σ n_y = 11, so each channel
    has 11 · 11 = 121 memberships. Co = 4 in 2 groups: each membership feeds 4 / 2 = 2 outputs,
    2 channels · 121 · 2 = 484 ACs; ungrouped 968; depthwise (Co = groups = 2) 242.
    """
    values = np.ones((1, 1, 2, 5, 5), np.int8)
    np.testing.assert_array_equal(synapse.conv2d_fanout(values, 4, 3, 1, 2, dilation=2), [968])
    np.testing.assert_array_equal(
        synapse.conv2d_fanout(values, 4, 3, 1, 2, groups=2, dilation=2), [484]
    )
    np.testing.assert_array_equal(
        synapse.conv2d_fanout(values, 2, 3, 1, 2, groups=2, dilation=2), [242]
    )


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 3),
    groups=st.integers(1, 3),
    in_per_group=st.integers(1, 2),
    out_per_group=st.integers(0, 3),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 9), st.integers(1, 9)),
    dtype=st.sampled_from((np.bool_, np.int8, np.uint8, np.int64)),
)
def test_conv2d_fanout_grouped_dilated_equals_brute_force(
    seed, kernel, stride, padding, dilation, groups, in_per_group, out_per_group, shape, dtype
):
    rng = np.random.default_rng(seed)
    span = dilation * (kernel - 1) + 1
    height = max(shape[2], span - 2 * padding)
    width = max(shape[3], span - 2 * padding)
    size = (shape[0], shape[1], groups * in_per_group, height, width)
    values = rng.integers(0, 5, size=size).astype(dtype)
    out_channels = groups * out_per_group
    out = synapse.conv2d_fanout(
        values, out_channels, kernel, stride, padding, groups=groups, dilation=dilation
    )
    assert out.dtype == np.int64
    assert out.shape == (shape[0],)
    np.testing.assert_array_equal(
        out,
        reference.conv2d_fanout(values, out_channels, kernel, stride, padding, groups, dilation),
    )


def test_conv2d_fanout_counts_the_grouped_dilated_conv_products():
    """The fan-out is the number of products the conv adds: with all-ones weights, Σ out of
    conv2d equals Σ fan-out ACs for the same layer (groups 2, dilation 2, stride 2, padding 1)."""
    values = (np.arange(2 * 4 * 7 * 6).reshape(1, 2, 4, 7, 6) % 3).astype(np.int8)
    weight = np.ones((6, 2, 3, 3), np.int8)
    out = synapse.conv2d(values, weight, 2, 1, groups=2, dilation=2)
    acs = synapse.conv2d_fanout(values, 6, 3, 2, 1, groups=2, dilation=2)
    assert int(acs[0]) == int(out.sum())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 4, 5, 5), np.int8), np.zeros((3, 2, 3, 3), np.int8), 1, 1, groups=2
            ),
            "groups 2 must divide",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 6, 5, 5), np.int8), np.zeros((4, 2, 3, 3), np.int8), 1, 1, groups=2
            ),
            r"weight expects 2 x groups 2 = 4 \(shape \(4, 2, 3, 3\)\)",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 2, 5, 5), np.int8), np.zeros((2, 1, 3, 3), np.int8), 1, 1, groups=0
            ),
            "groups must be an integer >= 1",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 1, 5, 5), np.int8),
                np.zeros((1, 1, 3, 3), np.int8),
                1,
                0,
                dilation=0,
            ),
            "dilation must be an integer >= 1",
        ),
        (
            lambda: synapse.conv2d(
                np.zeros((1, 1, 1, 4, 4), np.int8),
                np.zeros((1, 1, 3, 3), np.int8),
                1,
                0,
                dilation=2,
            ),
            "does not fit",
        ),
        (
            lambda: synapse.conv2d_fanout(np.ones((1, 1, 3, 5, 5), np.int8), 4, 3, 1, 1, groups=2),
            "groups 2 must divide",
        ),
        (
            lambda: synapse.conv2d_fanout(
                np.ones((1, 1, 1, 4, 4), np.int8), 1, 3, 1, 0, dilation=2
            ),
            "does not fit",
        ),
    ],
)
def test_bad_groups_or_dilation_raise_model_error(call, message):
    with pytest.raises(ModelError, match=message):
        call()


@pytest.mark.parametrize("method", synapse.METHODS)
@pytest.mark.parametrize(("groups", "dilation", "stride"), [(3, 1, 1), (1, 2, 2), (3, 2, 1)])
def test_grouped_dilated_beyond_float64_bound_uses_integer_path(
    method, groups, dilation, stride, rng
):
    """|x| near 2**40 with int16 weights: bound > 2**53, so the dense path's grouped or dilated
    windows go through the int64 product, and the event path accumulates in int64."""
    x = rng.integers(-(2**40), 2**40, size=(1, 2, 6, 7, 7)).astype(np.int64)
    weight = rng.integers(-(2**15), 2**15, size=(6, 6 // groups, 3, 3)).astype(np.int16)
    out = synapse.conv2d(x, weight, stride, 2, groups=groups, dilation=dilation, method=method)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, stride, 2, groups, dilation))


@PROPERTY
@given(case=conv_cases(), method=st.sampled_from(synapse.METHODS))
def test_conv2d_with_known_stats_equals_measured(case, method):
    """Handing conv2d the exact (max |x|, non-zero count) it would measure changes nothing."""
    x, weight, stride, padding = case
    stats = (_max_abs(x), int(np.count_nonzero(x)))
    out = synapse.conv2d(x, weight, stride, padding, method=method, stats=stats)
    np.testing.assert_array_equal(out, synapse.conv2d(x, weight, stride, padding, method=method))
    assert out.dtype == synapse.conv2d(x, weight, stride, padding, method=method).dtype


@PROPERTY
@given(case=grouped_conv_cases(), band_bytes=st.sampled_from([1, 300, 3000]))
def test_event_conv_in_output_bands_equals_reference(case, band_bytes):
    """The event conv makes large planes in bands of output rows; with a tiny band budget
    (bands of 1 to a few rows) every stride, dilation, padding and grouping gives the
    reference's sums, flushes of the int16 accumulator included."""
    from neurosim.kernels import conv_event

    x, weight, stride, padding, groups, dilation = case
    before = conv_event._EVENT_BAND_BYTES
    conv_event._EVENT_BAND_BYTES = band_bytes
    try:
        out = synapse.conv2d(
            x, weight, stride, padding, groups=groups, dilation=dilation, method="event"
        )
    finally:
        conv_event._EVENT_BAND_BYTES = before
    np.testing.assert_array_equal(
        out, reference.conv2d(x, weight, stride, padding, groups, dilation)
    )


@pytest.mark.parametrize("stride", [1, 2])
def test_event_conv_bands_on_a_wide_layer(stride, rng, monkeypatch):
    """Ci = 61 (three int16 flushes per band), Co = 40, 3-row bands of a 13-row plane."""
    from neurosim.kernels import conv_event

    monkeypatch.setattr(conv_event, "_EVENT_BAND_BYTES", 3 * 13 * 40 * 6)
    x = (rng.random((2, 2, 61, 13, 13)) < 0.3).astype(np.uint8)
    w = rng.integers(-127, 128, size=(40, 61, 3, 3)).astype(np.int8)
    assert conv_event._event_band_rows(13, 13, 40, 28) == 3
    out = synapse.conv2d(x, w, stride, 1, method="event")
    np.testing.assert_array_equal(out, reference.conv2d(x, w, stride, 1))


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    num_in=st.integers(1, 140),
    out_lanes=st.sampled_from((1, 2)),
    groups=st.sampled_from((1, 2)),
    kernel=st.integers(1, 3),
    padding=st.integers(0, 2),
    level=st.sampled_from((1, 3, 8)),
    ternary=st.booleans(),
    density=st.sampled_from((0.03, 0.2, 1.0)),
    w_dtype=st.sampled_from((np.int8, np.int16)),
    band_bytes=st.sampled_from((1, 20_000, 1 << 20)),
)
def test_event_conv_position_scatter_equals_reference(
    seed, num_in, out_lanes, groups, kernel, padding, level, ternary, density, w_dtype, band_bytes
):
    """The position-major scatter (stride 1, int16 blocks, Co/groups a multiple of 32): up to
    140 input channels (three 64-bit mask words), binary, ternary or level inputs (the four-,
    two- and one-row steps, with and without multiplies), int8 or int16 weights, two groups,
    padding beyond the kernel's reach, one-row to whole-plane bands: the reference's sums."""
    from neurosim.kernels import conv_event
    from neurosim.kernels.simd import LANES

    rng = np.random.default_rng(seed)
    num_in = num_in // groups * groups or groups
    num_out = LANES * out_lanes * groups
    shape = (2, 1, num_in, 7, 9)
    x = rng.integers(-level if ternary else 0, level + 1, size=shape)
    x = (x * (rng.random(shape) < density)).astype(np.int8)
    scale = 127 if w_dtype == np.int8 else 300
    weight = rng.integers(-scale, scale + 1, size=(num_out, num_in // groups, kernel, kernel))
    weight = weight.astype(w_dtype)
    before = conv_event._EVENT_BAND_BYTES
    conv_event._EVENT_BAND_BYTES = band_bytes
    try:
        out = synapse.conv2d(x, weight, 1, padding, groups=groups, method="event")
    finally:
        conv_event._EVENT_BAND_BYTES = before
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, 1, padding, groups))


def test_event_conv_position_scatter_is_exact_at_the_int16_bound():
    """Every input 1 and every weight 127 on 61 channels into 64 outputs (stride 1: the
    position scatter, int16 blocks of 28 channels, four-row steps): the bound is reached."""
    x = np.ones((1, 2, 61, 9, 8), np.int8)
    weight = np.full((64, 61, 3, 3), 127, np.int8)
    out = synapse.conv2d(x, weight, 1, 1, method="event")
    np.testing.assert_array_equal(out, reference.conv2d(x, weight, 1, 1))
    assert int(out.max()) == 61 * 9 * 127


def test_strided_1x1_conv_measures_its_own_density(rng, monkeypatch):
    """A strided 1×1 conv reads a quarter of x: the caller's count of all of x would make a
    sparse subset look dense, so the conv counts the inputs it reads (and stays on the event
    path at 17 % density)."""
    from neurosim.kernels import conv as conv_module

    x = (rng.random((2, 4, 8, 8, 8)) < 0.17).astype(np.uint8)
    w = rng.integers(-127, 128, size=(16, 8, 1, 1)).astype(np.int8)
    chosen = []
    monkeypatch.setattr(conv_module, "_conv_dense", lambda *a, **k: chosen.append("dense"))
    out = synapse.conv2d(x, w, 2, 0, stats=(1, int(np.count_nonzero(x))))
    assert chosen == []
    np.testing.assert_array_equal(out, reference.conv2d(x, w, 2, 0))


@pytest.mark.parametrize(
    ("dtype", "values", "expected"),
    [
        (np.int8, [-128, 3, 127], 128),  # |−128| does not wrap
        (np.int16, [5, -7, 0], 7),
        (np.int64, [2**40, -(2**41)], 2**41),
        (np.int8, [], 0),
    ],
)
def test_max_abs_known_answers(dtype, values, expected):
    """``synapse.max_abs``, the ``weight_max`` conv2d and linear accept: hand-worked values,
    the int8 minimum included, and 0 for an empty array."""
    assert synapse.max_abs(np.array(values, dtype)) == expected
