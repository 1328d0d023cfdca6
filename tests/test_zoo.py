"""Synthetic zoo: architecture shapes and calibrated firing rates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import ir, qann, zoo
from neurosim.errors import ModelError


@pytest.mark.parametrize(
    ("name", "convs", "adds"),
    [
        ("vgg16", 13, 0),
        ("resnet18", 1 + 16 + 3, 8),
        ("resnet20", 1 + 18 + 2, 9),
        ("resnet34", 1 + 32 + 3, 16),
    ],
)
def test_cifar_architectures(name, convs, adds):
    net = zoo.build(name, calibration_samples=2)
    ops = [lay.op for lay in net.layers]
    assert ops.count("conv2d") == convs
    assert ops.count("add") == adds
    assert net.shapes[net.output.name] == (10,)
    assert net.shapes["input"] == (3, 32, 32)


def test_calibrated_rate_holds_on_other_inputs():
    """Clips are fitted on calibration inputs; fresh random inputs fire near the same rate."""
    net = zoo.build("resnet20", firing_rate=0.15, seed=3)
    result = qann.forward(net, zoo.random_inputs(net, 4, seed=99))
    rates = [lv.mean() / net.layer(k).act.levels for k, lv in result.levels.items()]
    assert abs(np.mean(rates) - 0.15) < 0.02
    assert all(0.08 < r < 0.25 for r in rates)


def test_imagenet_variant_and_seeding():
    net = zoo.build("resnet18", dataset="imagenet", calibration_samples=1)
    assert net.shapes["input"] == (3, 224, 224)
    assert net.shapes["conv1"] == (64, 112, 112)
    assert net.shapes["layer4.1.add"] == (512, 7, 7)
    assert net.shapes["fc"] == (1000,)
    a, b = zoo.build("resnet20", seed=5), zoo.build("resnet20", seed=5)
    for x, y in zip(a.layers, b.layers, strict=True):
        if isinstance(x, ir.Conv2d):
            np.testing.assert_array_equal(x.weight, y.weight)
            assert x.act == y.act or x.act.clip == y.act.clip


def test_unknown_model_lists_choices():
    with pytest.raises(ModelError, match=r"allowed: \['resnet18', 'resnet20', 'resnet34', 'vgg"):
        zoo.build("alexnet")


def _solve_clip_reference(z: np.ndarray, q: int, rate: float) -> float:
    """The bisection written plainly: the mean clipped level over every value."""
    flat = z.ravel()
    hi = float(np.max(np.abs(flat))) * q + 1e-9
    lo = hi * 1e-6
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        level = np.clip(np.floor(flat * (q / mid) + 0.5), 0, q).mean() / q
        if level > rate:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(1, 400),
    q=st.integers(1, 16),
    rate=st.floats(0.01, 0.99),
    scale=st.sampled_from([1e-3, 1.0, 50.0]),
)
def test_clip_bisection_on_sorted_values_equals_the_plain_one(seed, size, q, rate, scale):
    """The counted bisection gives the same γ, bit for bit, as averaging the clipped levels
    (ties and values exactly at a rounding boundary included, via repeated values)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, scale, size)
    z[: size // 3] = np.round(z[: size // 3], 1)  # repeated values
    assert zoo._solve_clip(z, q, rate) == _solve_clip_reference(z, q, rate)
