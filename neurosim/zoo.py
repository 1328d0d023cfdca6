"""Synthetic model zoo: VGG-16 and ResNet-18/20/34 shapes as quantized ANNs with random weights.

Imports ``ir``, ``qann`` and ``errors``. The weights are seeded random int8 and every activation
clip γ^l is calibrated so that the layer fires at a chosen mean rate; these models exist to
measure hardware cost at realistic scale, and their accuracy is meaningless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from neurosim import ir, qann
from neurosim.errors import ModelError

DATASETS: Mapping[str, tuple[tuple[int, int, int], int]] = {
    "cifar10": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
    "imagenet": ((3, 224, 224), 1000),
}
"""Dataset → (input shape, classes)."""


class _Builder:
    """Appends quantized-ANN layers with He-initialised random int8 weights."""

    def __init__(self, shape: tuple[int, int, int], seed: int, levels: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.levels = levels
        self.layers: list[ir.Layer] = [
            ir.Input(name="input", shape=shape, scale=1 / 255, levels=255)
        ]
        self.channels = shape[0]

    def _weights(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fan_in = int(np.prod(shape[1:]))
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        rows = w.reshape(shape[0], -1)
        # max|w| per row, then round(w / s) clipped to ±127, in place (no temporaries).
        s_w = np.maximum(rows.max(axis=1), -rows.min(axis=1)) / 127.0
        np.divide(rows, s_w[:, None], out=rows)
        np.round(rows, out=rows)
        np.clip(rows, -127, 127, out=rows)
        bias = self.rng.normal(0.0, 0.02, size=shape[0])
        return w.astype(np.int8), s_w, bias

    def act(self) -> ir.ActQuant:
        return ir.ActQuant(levels=self.levels, clip=1.0)

    def conv(
        self,
        name: str,
        src: str,
        out: int,
        k: int = 3,
        stride: int = 1,
        pad: int | None = None,
        act: bool = True,
        cin: int | None = None,
    ) -> str:
        cin = self.channels if cin is None else cin
        w, s_w, b = self._weights((out, cin, k, k))
        self.layers.append(
            ir.Conv2d(
                name=name,
                inputs=(src,),
                weight=w,
                bias=b,
                weight_scale=s_w,
                stride=stride,
                padding=k // 2 if pad is None else pad,
                act=self.act() if act else None,
            )
        )
        self.channels = out
        return name

    def linear(self, name: str, src: str, n_in: int, n_out: int, act: bool = True) -> str:
        w, s_w, b = self._weights((n_out, n_in))
        self.layers.append(
            ir.Linear(
                name=name,
                inputs=(src,),
                weight=w,
                bias=b,
                weight_scale=s_w,
                act=self.act() if act else None,
            )
        )
        return name

    def pool(self, name: str, src: str, k: int) -> str:
        self.layers.append(ir.AvgPool2d(name=name, inputs=(src,), kernel=k, stride=k))
        return name

    def flatten(self, src: str) -> str:
        self.layers.append(ir.Flatten(name="flatten", inputs=(src,)))
        return "flatten"

    def basic_block(self, name: str, src: str, out: int, stride: int) -> str:
        cin = self.channels
        a = self.conv(f"{name}.conv1", src, out, stride=stride)
        b = self.conv(f"{name}.conv2", a, out, act=False)
        skip = src
        if stride != 1 or cin != out:
            skip = self.conv(
                f"{name}.shortcut", src, out, k=1, stride=stride, pad=0, act=False, cin=cin
            )
        self.layers.append(ir.Add(name=f"{name}.add", inputs=(b, skip), act=self.act()))
        self.channels = out
        return f"{name}.add"


def _vgg16(b: _Builder, imagenet: bool, classes: int) -> None:
    cfg = [64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P"]
    x, i, p = "input", 0, 0
    for c in cfg:
        if c == "P":
            p += 1
            x = b.pool(f"pool{p}", x, 2)
        else:
            i += 1
            x = b.conv(f"conv{i}", x, int(c))
    x = b.flatten(x)
    if imagenet:
        x = b.linear("fc1", x, 512 * 7 * 7, 4096)
        x = b.linear("fc2", x, 4096, 4096)
        b.linear("fc3", x, 4096, classes, act=False)
    else:
        x = b.linear("fc1", x, 512, 512)
        b.linear("fc2", x, 512, classes, act=False)


def _resnet(
    blocks: list[int], widths: list[int], b: _Builder, imagenet: bool, classes: int
) -> None:
    if imagenet:
        x = b.conv("conv1", "input", widths[0], k=7, stride=2, pad=3)
        x = b.pool("pool1", x, 2)
    else:
        x = b.conv("conv1", "input", widths[0])
    for s, (n, w) in enumerate(zip(blocks, widths, strict=True)):
        for j in range(n):
            stride = 2 if j == 0 and s > 0 else 1
            x = b.basic_block(f"layer{s + 1}.{j}", x, w, stride)
    spatial = 7 if imagenet else 32 // 2 ** (len(blocks) - 1)
    x = b.pool("avgpool", x, spatial)
    x = b.flatten(x)
    b.linear("fc", x, widths[-1], classes, act=False)


MODELS: Mapping[str, Callable[[_Builder, bool, int], None]] = {
    "vgg16": _vgg16,
    "resnet18": lambda b, im, c: _resnet([2, 2, 2, 2], [64, 128, 256, 512], b, im, c),
    "resnet20": lambda b, im, c: _resnet([3, 3, 3], [16, 32, 64], b, im, c),
    "resnet34": lambda b, im, c: _resnet([3, 4, 6, 3], [64, 128, 256, 512], b, im, c),
}
"""Model name → builder."""


def check_name(name: object, dataset: object) -> None:
    """ModelError unless ``name`` is a zoo model and ``dataset`` a dataset (exact names)."""
    if not isinstance(name, str) or name not in MODELS:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise ModelError(f"unknown zoo model {shown}; allowed: {sorted(MODELS)}")
    if not isinstance(dataset, str) or dataset not in DATASETS:
        shown = repr(dataset) if len(repr(dataset)) <= 60 else repr(dataset)[:57] + "..."
        raise ModelError(f"unknown dataset {shown}; allowed: {sorted(DATASETS)}")


def random_inputs(network: ir.Network, n: int, seed: int = 0) -> np.ndarray:
    """Seeded random input codes [n, *input_shape] in 0..levels (a stand-in for images)."""
    inp = network.input
    rng = np.random.default_rng(seed)
    return rng.integers(0, inp.levels + 1, size=(n, *inp.shape), dtype=np.int64)


def build(
    name: str,
    *,
    dataset: str = "cifar10",
    levels: int = 4,
    firing_rate: float = 0.15,
    seed: int = 0,
    calibration_samples: int = 4,
) -> ir.Network:
    """A zoo model as a quantized ANN whose activations fire at ``firing_rate`` on average.

    Each clip γ^l is set, layer by layer on seeded random inputs, so that the mean activation
    level is ``firing_rate``·Q (an IF layer at T = Q then spikes at that rate per step).
    """
    check_name(name, dataset)
    if not 0.0 < firing_rate < 1.0:
        raise ModelError(f"firing_rate must be in (0, 1), got {firing_rate}")
    if levels < 1:
        raise ModelError(f"levels must be >= 1, got {levels}")
    shape, classes = DATASETS[dataset]
    b = _Builder(shape, seed, levels)
    MODELS[name](b, dataset == "imagenet", classes)
    layers = _calibrate(b.layers, firing_rate, seed, calibration_samples)
    return ir.Network(
        layers=tuple(layers),
        kind="qann",
        name=f"{name}_{dataset}",
        meta={
            "zoo": name,
            "dataset": dataset,
            "seed": seed,
            "firing_rate": firing_rate,
            "levels": levels,
            "note": "random weights: accuracy is meaningless",
        },
    )


def _calibrate(layers: list[ir.Layer], rate: float, seed: int, samples: int) -> list[ir.Layer]:
    """Set each clip γ by bisection so the mean quantized level is rate·Q."""
    import dataclasses

    shape = layers[0].shape
    codes = np.random.default_rng(seed + 1).integers(0, 256, size=(samples, *shape))
    vals: dict[str, np.ndarray] = {}
    out: list[ir.Layer] = []
    for lay in layers:
        z = qann.layer_preactivation(lay, vals, codes)
        act = getattr(lay, "act", None)
        if act is not None:
            gamma = _solve_clip(z, act.levels, rate)
            act = ir.ActQuant(levels=act.levels, clip=gamma)
            lay = dataclasses.replace(lay, act=act)
            z = qann.quantize(z, act) * (gamma / act.levels)
        vals[lay.name] = z
        out.append(lay)
    return out


def _solve_clip(z: np.ndarray, q: int, rate: float) -> float:
    """γ with mean(clip(rhu(z·Q/γ), 0, Q))/Q ≈ rate (the mean level falls as γ grows)."""
    flat = np.sort(z, axis=None)
    n = flat.size
    hi = float(max(abs(flat[0]), abs(flat[-1]))) * q + 1e-9
    lo = hi * 1e-6
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        c = q / mid
        # Σ_k #(floor(z·c + 0.5) >= k), k = 1..Q, on the sorted values: the clipped level sum,
        # bit for bit the same as summing the levels (the test is monotone in z).
        total = 0
        for k in range(1, q + 1):
            i = int(np.searchsorted(flat, (k - 0.5) / c))
            while i > 0 and np.floor(flat[i - 1] * c + 0.5) >= k:
                i -= 1
            while i < n and np.floor(flat[i] * c + 0.5) < k:
                i += 1
            total += n - i
        level = total / n / q
        if level > rate:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))
