"""Shared fixtures: a seeded rng, tiny random quantized ANNs, the bundled model."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import ir
from neurosim._cache import CACHE_ENV
from neurosim.io import BUNDLED_MODEL, BUNDLED_TEST_SET, bundled_path, load_inputs, load_model


@pytest.fixture(autouse=True, scope="session")
def _model_cache(tmp_path_factory):
    """Zoo models are cached in a folder of this test session, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def _weights(rng: np.random.Generator, shape: tuple[int, ...]):
    w = rng.integers(-127, 128, size=shape).astype(np.int8)
    s_w = rng.uniform(0.002, 0.02, size=shape[0])
    b = rng.normal(0.0, 0.2, size=shape[0])
    return w, s_w, b


def random_qann(
    seed: int, *, residual: bool = False, levels: tuple[int, ...] | None = None, in_levels: int = 15
) -> ir.Network:
    """A small random quantized ANN: conv → (residual block) → pool → flatten → fc → fc."""
    rng = np.random.default_rng(seed)
    c_in, h = int(rng.integers(1, 3)), int(rng.integers(4, 7))
    c1 = int(rng.integers(2, 5))
    qs = levels or tuple(int(q) for q in rng.integers(1, 9, size=4))

    def act(i: int) -> ir.ActQuant:
        return ir.ActQuant(levels=qs[i % len(qs)], clip=float(rng.uniform(0.5, 3.0)))

    layers: list[ir.Layer] = [
        ir.Input(name="input", shape=(c_in, h, h), scale=1 / in_levels, levels=in_levels)
    ]
    w, s, b = _weights(rng, (c1, c_in, 3, 3))
    layers.append(
        ir.Conv2d(
            name="conv1", inputs=("input",), weight=w, weight_scale=s, bias=b, padding=1, act=act(0)
        )
    )
    x = "conv1"
    if residual:
        w, s, b = _weights(rng, (c1, c1, 3, 3))
        layers.append(
            ir.Conv2d(
                name="res.conv1",
                inputs=(x,),
                weight=w,
                weight_scale=s,
                bias=b,
                padding=1,
                act=act(1),
            )
        )
        w, s, b = _weights(rng, (c1, c1, 3, 3))
        layers.append(
            ir.Conv2d(
                name="res.conv2", inputs=("res.conv1",), weight=w, weight_scale=s, bias=b, padding=1
            )
        )
        layers.append(ir.Add(name="res.add", inputs=("res.conv2", x), act=act(2)))
        x = "res.add"
    layers.append(ir.AvgPool2d(name="pool", inputs=(x,), kernel=2, stride=2))
    layers.append(ir.Flatten(name="flatten", inputs=("pool",)))
    n = c1 * (h // 2) ** 2
    w, s, b = _weights(rng, (6, n))
    layers.append(
        ir.Linear(name="fc1", inputs=("flatten",), weight=w, weight_scale=s, bias=b, act=act(3))
    )
    w, s, b = _weights(rng, (3, 6))
    layers.append(ir.Linear(name="fc2", inputs=("fc1",), weight=w, weight_scale=s, bias=b))
    return ir.Network(layers=tuple(layers), kind="qann", name=f"random{seed}")


def random_codes(net: ir.Network, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, net.input.levels + 1, size=(n, *net.input.shape))


@pytest.fixture(scope="session")
def bundled():
    """(quantized ANN, test images, labels) of the bundled digits model."""
    net = load_model(bundled_path(BUNDLED_MODEL))
    images, labels = load_inputs(bundled_path(BUNDLED_TEST_SET))
    return net, images, labels


@pytest.fixture
def functional_runs(monkeypatch) -> list[str]:
    """The scheme of every ``functional.run`` call made while the test runs, in order."""
    from neurosim import functional

    runs: list[str] = []
    real = functional.run

    def counting(network, *args, **kwargs):
        runs.append(network.scheme)
        return real(network, *args, **kwargs)

    monkeypatch.setattr(functional, "run", counting)
    return runs
