"""The quantized-ANN reference: ``qann.predict`` is the exact quantized ANN, in batches."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import ir, qann
from tests.conftest import random_codes, random_qann
from tests.reference import qann_exact


def _near_tie_qann(seed: int, residual: bool, codes: np.ndarray) -> ir.Network:
    """random_qann with every clip γ set so that one pre-activation z of ``codes`` lies on a
    rounding boundary: γ = float(z·Q / (k − ½)). The float rounds γ, so z·Q/γ is k − ½ within
    ~1e-16: float64 sums cannot tell the side, exact arithmetic can (what calibrating a clip
    on data does, as the zoo does)."""
    net = random_qann(seed, residual=residual)
    for i, lay in enumerate(net.layers):
        act = getattr(lay, "act", None)
        if act is None:
            continue
        _, _, pre = qann_exact.forward(net, codes, until=lay.name)
        z = max(pre[lay.name].reshape(-1))
        if z > 0:
            k = max(1, act.levels // 2)
            gamma = float(z * act.levels / (k - Fraction(1, 2)))
            layers = list(net.layers)
            layers[i] = dataclasses.replace(lay, act=dataclasses.replace(act, clip=gamma))
            net = ir.Network(layers=tuple(layers), kind="qann", name=net.name)
    return net


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 100_000), residual=st.booleans(), batch=st.integers(1, 4))
def test_predict_equals_the_exact_quantized_ann_at_ties(seed, residual, batch):
    """Logits and classes equal those of the rational-arithmetic reference on networks whose
    every clip puts a pre-activation within float rounding of a boundary."""
    codes = random_codes(random_qann(seed, residual=residual), 3, seed)
    net = _near_tie_qann(seed, residual, codes)
    logits, _, _ = qann_exact.forward(net, codes)
    exact = logits.astype(np.float64)
    got = qann.predict(net, codes, batch_size=batch)
    np.testing.assert_allclose(got.logits, exact, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got.predictions, np.argmax(exact, axis=1))


def test_predict_rounds_an_exact_tie_up():
    """A hand-made tie that float64 sums miss: five codes 1 at scale 0.1 through unit weights
    give z = 5·fl(0.1); with Q = 4 and γ = 8·fl(0.1) (exact: a power-of-two multiple),
    z·Q/γ = 20/8 = 2.5 exactly, so the level is rhu(2.5) = 3, and fc2 reads ±3·γ/Q = ±0.6
    (to float rounding). Summed in float64, 5 × 0.1 is 0.5 and 0.5·Q/γ just under 2.5."""
    step = 0.1
    layers = (
        ir.Input(name="input", shape=(5,), scale=step, levels=1),
        ir.Linear(
            name="fc1",
            inputs=("input",),
            weight=np.ones((1, 5), np.int8),
            weight_scale=np.ones(1),
            act=ir.ActQuant(levels=4, clip=8 * step),
        ),
        ir.Linear(
            name="fc2",
            inputs=("fc1",),
            weight=np.array([[1], [-1]], np.int8),
            weight_scale=np.ones(2),
        ),
    )
    net = ir.Network(layers=layers, kind="qann", name="tie")
    got = qann.predict(net, np.ones((1, 5), np.int64))
    level = got.logits[0, 0] / (8 * step / 4)
    assert round(level) == 3
    assert abs(level - 3) < 1e-12
    np.testing.assert_array_equal(got.predictions, [0])


def test_predict_batches_change_nothing(bundled):
    """The bundled digits model: batches of 1, 7 and all images give the same logits, bit for
    bit, and the classes of the float64 ``forward`` (its trained clips sit on no tie)."""
    net, images, _ = bundled
    codes = images[:40]
    whole = qann.predict(net, codes, batch_size=len(codes))
    for size in (1, 7):
        part = qann.predict(net, codes, batch_size=size)
        np.testing.assert_array_equal(part.logits, whole.logits)
    ref = qann.forward(net, codes)
    np.testing.assert_array_equal(whole.predictions, ref.predictions)
    np.testing.assert_allclose(whole.logits, ref.logits, rtol=1e-12, atol=1e-12)


def test_predict_rounds_an_exact_tie_to_even_when_the_quantizer_does():
    """The tie above (z·Q/γ = 2.5 exactly) under ``rounding="half_even"`` (an ONNX or torch
    quantizer): level 2, so fc2 reads ±2·γ/Q = ±0.4."""
    step = 0.1
    act = ir.ActQuant(levels=4, clip=8 * step, rounding="half_even")
    layers = (
        ir.Input(name="input", shape=(5,), scale=step, levels=1),
        ir.Linear(
            name="fc1",
            inputs=("input",),
            weight=np.ones((1, 5), np.int8),
            weight_scale=np.ones(1),
            act=act,
        ),
        ir.Linear(
            name="fc2", inputs=("fc1",), weight=np.array([[1]], np.int8), weight_scale=np.ones(1)
        ),
    )
    got = qann.predict(ir.Network(layers=layers, kind="qann", name="tie"), np.ones((1, 5)))
    level = got.logits[0, 0] / (8 * step / 4)
    assert abs(level - 2) < 1e-12


def test_predict_with_max_pooling_equals_forward():
    """conv → max pool (k 2, s 2, padding 1) → linear, half-even quantizers, real-valued
    images: ``predict`` (levels pooled as levels) equals the float64 ``forward``."""
    rng = np.random.default_rng(3)
    act = ir.ActQuant(levels=7, clip=1.3, rounding="half_even")
    layers = (
        ir.Input(name="input", shape=(2, 6, 6), scale=1 / 15, levels=15, rounding="half_even"),
        ir.Conv2d(
            name="conv",
            inputs=("input",),
            weight=rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8),
            weight_scale=rng.uniform(0.002, 0.01, 4),
            bias=rng.normal(0, 0.1, 4),
            padding=1,
            act=act,
        ),
        ir.MaxPool2d(name="pool", inputs=("conv",), kernel=2, stride=2, padding=1),
        ir.Flatten(name="flat", inputs=("pool",)),
        ir.Linear(
            name="fc",
            inputs=("flat",),
            weight=rng.integers(-127, 128, (3, 64)).astype(np.int8),
            weight_scale=np.full(3, 0.01),
        ),
    )
    net = ir.Network(layers=layers, kind="qann", name="maxpool")
    images = rng.uniform(0, 1, (12, 2, 6, 6))
    got = qann.predict(net, images, batch_size=5)
    ref = qann.forward(net, images)
    np.testing.assert_allclose(got.logits, ref.logits, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got.predictions, ref.predictions)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=8
    ),
    num=st.integers(-(2**70), 2**70),
    den=st.integers(1, 2**70),
)
def test_rounded_products_equal_the_rounded_fraction_products(values, num, den):
    """The float64 gains ``predict`` uses are the exact products value·step rounded once: the
    same floats as ``float(Fraction(value) * step)``, bit for bit (zeros, subnormals and huge
    steps included)."""
    step = Fraction(num, den)
    finite, want = [], []
    for v in values:
        try:
            want.append(float(Fraction(v) * step))
            finite.append(v)
        except OverflowError:  # beyond float64: both refuse alike
            with pytest.raises(OverflowError):
                qann._rounded_products(np.array([v]), step)
    got = qann._rounded_products(np.array(finite, np.float64).reshape(-1, 1), step)
    assert got.shape == (len(finite), 1)
    assert got.reshape(-1).tolist() == want
    assert np.signbit(got.reshape(-1)).tolist() == np.signbit(np.array(want)).tolist()
