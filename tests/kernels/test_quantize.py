"""``affine_levels`` (the quantized-ANN reference's activation) against plain numpy, for one,
two and three terms of every sums dtype: the same float64 levels and the same near ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import ModelError
from neurosim.kernels import affine_levels

DTYPES = (np.uint8, np.int8, np.int16, np.int32, np.int64)


def affine_levels_numpy(terms, scale, top, tolerance):
    """float64 z = Σ_t (sums_t·gain_t[c] + bias_t[c]) summed term by term, as the kernels do;
    level = clip(⌊z·scale + ½⌋, 0, top); near where the fraction lies within
    tolerance·Σ_t (|sums_t·gain_t| + |bias_t|)·scale of 0 or 1."""
    shape = terms[0][0].shape
    per = (1, shape[1]) + (1,) * (len(shape) - 2)
    z = np.zeros(shape)
    mag = np.zeros(shape)
    for sums, gain, bias in terms:
        g = np.broadcast_to(np.asarray(gain, np.float64), (shape[1],)).reshape(per)
        b = np.broadcast_to(np.asarray(bias, np.float64), (shape[1],)).reshape(per)
        s = sums.astype(np.float64) * g
        z = z + (s + b)
        mag = mag + (np.abs(s) + np.abs(b))
    u = z * scale + 0.5
    k = np.floor(u)
    frac = u - k
    near = np.minimum(frac, 1.0 - frac) <= tolerance * mag * scale
    return np.clip(k, 0, top), np.argwhere(near)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtypes=st.lists(st.sampled_from(DTYPES), min_size=1, max_size=3),
    shape=st.sampled_from(((2, 3), (3, 4, 5), (2, 5, 3, 7))),
    top=st.sampled_from((1, 8, 255, 1000)),
    tolerance=st.sampled_from((1e-9, 1e-5, 1e-4)),
)
def test_affine_levels_equal_numpy(seed, dtypes, shape, top, tolerance):
    rng = np.random.default_rng(seed)
    terms = []
    for dtype in dtypes:
        info = np.iinfo(dtype)
        bound = int(rng.choice((2, 3000)))
        sums = rng.integers(max(info.min, -bound), min(info.max, bound) + 1, size=shape)
        # Quarter-step gains and biases put many z·scale + ½ on whole numbers (ties); a hair
        # off them, in a third of the terms, puts them in or out of the tolerance band.
        hair = 1e-6 * (rng.random() < 0.3)
        gain = rng.integers(-8, 9, size=shape[1]) / 4 + (rng.random(shape[1]) - 0.5) * hair
        bias = rng.integers(-8, 9, size=shape[1]) / 4 + (rng.random(shape[1]) - 0.5) * hair
        terms.append((sums.astype(dtype), gain, bias if rng.random() < 0.7 else 0.0))
    scale = float(rng.choice((0.5, 1.0, 3.7)))
    levels, near = affine_levels(terms, scale, top, tolerance)
    want_levels, want_near = affine_levels_numpy(terms, scale, top, tolerance)
    assert levels.dtype == (np.uint8 if top <= 255 else np.int64)
    np.testing.assert_array_equal(levels, want_levels)
    np.testing.assert_array_equal(near, want_near)


def test_affine_levels_of_one_term_by_hand():
    """sums 0..5 of one channel, gain 1, bias 0, scale ½: u = s/2 + ½ → levels 0, 1, 1, 2, 2,
    3 capped at 2; every odd sum is a tie (u whole), the even ones half-way between two levels."""
    sums = np.arange(6, dtype=np.int32).reshape(1, 1, 6)
    levels, near = affine_levels([(sums, np.ones(1), np.zeros(1))], 0.5, 2, 1e-9)
    np.testing.assert_array_equal(levels.reshape(-1), [0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(near, [[0, 0, 1], [0, 0, 3], [0, 0, 5]])


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_tie_band_counts_every_product_and_bias(count):
    """z = ½ + 2^-20 (dyadic: exact in float64), scale 1, so the fraction of z + ½ is 2^-20;
    the band is tolerance·M with M = Σ_t |s_t·g_t| + |b_t|: the position is a near tie for a
    tolerance just above 2^-20/M and not for one just below, whatever the number of terms."""
    sums, gains = [3, -2, 5][:count], [0.25, 0.5, 0.125][:count]
    biases = [0.5] * count
    biases[0] = (
        0.5 + 2.0**-20 - sum(s * g for s, g in zip(sums, gains, strict=True)) - 0.5 * (count - 1)
    )
    terms = [
        (np.full((1, 1, 2), s, np.int32), np.full(1, g), np.full(1, b))
        for s, g, b in zip(sums, gains, biases, strict=True)
    ]
    width = sum(abs(s * g) + abs(b) for s, g, b in zip(sums, gains, biases, strict=True))
    levels, near = affine_levels(terms, 1.0, 4, 1.01 * 2.0**-20 / width)
    assert levels.tolist() == [[[1, 1]]]
    assert len(near) == 2
    _, near = affine_levels(terms, 1.0, 4, 0.99 * 2.0**-20 / width)
    assert len(near) == 0


def test_affine_levels_refuse_float_sums():
    with pytest.raises(ModelError, match="affine_levels: needs integer"):
        affine_levels([(np.zeros((2, 3)), 1.0, 0.0)], 1.0, 4, 1e-9)
