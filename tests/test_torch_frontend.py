"""PyTorch export: a small residual network with batch-norms, trained for a few steps here.

neurosim's quantized-ANN forward of the export equals torch's forward of the same quantized
model (``quantized_copy``, float64) on every level of every activation; the ONNX export of the
model imports to the same layers, fields and arrays as the native export.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from neurosim import frontends, io, qann  # noqa: E402
from neurosim.errors import UnsupportedError  # noqa: E402
from neurosim.frontends import torch as ft  # noqa: E402
from neurosim.io import BUNDLED_TEST_SET, bundled_path  # noqa: E402


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.act1 = ft.QuantReLU(4, 2.0)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.act2 = ft.QuantReLU(8, 2.0)

    def forward(self, x):
        return self.act2(x + self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = ft.QuantInput(1 / 16, 16)
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = ft.QuantReLU(8, 2.0)
        self.block = Block(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.dw_act = ft.QuantReLU(4, 2.0)
        self.pool = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.block(self.act(self.bn(self.conv(self.quant(x)))))
        x = self.gap(self.pool(self.dw_act(self.dw(x))))
        return self.fc(self.drop(torch.flatten(x, 1)))


@pytest.fixture(scope="module")
def trained():
    with np.load(bundled_path(BUNDLED_TEST_SET)) as d:
        images = d["images"].astype(np.float32) / 16.0
        labels = d["labels"].astype(np.int64)
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    model.train()
    for step in range(30):
        idx = slice((step * 32) % 480, (step * 32) % 480 + 32)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    model.eval()
    return model, x


def _torch_levels(model, acts, x):
    """Each QuantReLU's integer levels, read from torch's own forward with hooks."""
    out = {}

    def hook(name):
        def f(m, _, a):
            out[acts[name]] = torch.round(a / (m.clip / m.levels)).to(torch.int64).numpy()

        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n in acts]
    with torch.no_grad():
        logits = model(x).numpy()
    for h in handles:
        h.remove()
    return out, logits


def test_export_equals_torch_on_every_level(trained, tmp_path):
    model, x = trained
    exp = ft.export(model, x[:4], tmp_path / "m.qann.npz")
    net = exp.network
    assert [lay.op for lay in net.layers] == [
        "input", "conv2d", "conv2d", "conv2d", "add", "conv2d", "avgpool2d", "avgpool2d",
        "flatten", "linear",
    ]  # fmt: skip
    assert net.layer("dw").groups == 8
    assert net.layer("dw").dilation == 2
    assert net.layer("block.conv2").act is None  # the residual branch
    assert set(exp.activations) == {"act", "block.act1", "block.act2", "dw_act"}
    assert all(0 < e.max_rel < 0.5 / 127 + 1e-12 for e in exp.weight_error.values())
    q = ft.quantized_copy(model, x[:4])
    levels, logits = _torch_levels(q, exp.activations, x.double())
    ref = qann.forward(io.load_model(exp.path), x.numpy().astype(np.float64))
    for name, lv in levels.items():
        assert len(np.unique(lv)) > 2
        np.testing.assert_array_equal(ref.levels[name], lv, err_msg=name)
    np.testing.assert_allclose(ref.logits, logits, rtol=1e-12, atol=1e-12)
    # the trained float model agrees with its quantized export on most images
    with torch.no_grad():
        agree = (model(x).argmax(1).numpy() == ref.predictions).mean()
    assert agree > 0.9


def test_onnx_export_imports_to_the_same_native_file(trained, tmp_path):
    pytest.importorskip("onnx")
    model, x = trained
    native = ft.export(model, x[:4], tmp_path / "a.qann.npz").path
    onnx_path = ft.export_onnx(model, x[:4], tmp_path / "m.onnx")
    _, imported = frontends.import_model(onnx_path, tmp_path / "b.qann.npz")

    def content(path):
        with np.load(path) as f:
            header = json.loads(bytes(f["__header__"]).decode())
            arrays = {k: f[k] for k in f.files if k != "__header__"}
        return header["layers"], arrays

    (la, aa), (lb, ab) = content(native), content(imported)
    assert la == lb
    assert aa.keys() == ab.keys()
    for k in aa:
        assert aa[k].dtype == ab[k].dtype, k
        np.testing.assert_array_equal(aa[k], ab[k], err_msg=k)


def test_unsupported_module_names_the_node(trained):
    _model, x = trained

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = ft.QuantInput(1 / 16, 16)
            self.conv = nn.Conv2d(1, 4, 3)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(4 * 36, 10)

        def forward(self, x):
            return self.fc(torch.flatten(self.relu(self.conv(self.quant(x))), 1))

    with pytest.raises(UnsupportedError, match=r"fx node 'relu' \(ReLU\): an unquantized"):
        ft.export(Bad(), x[:2])
    model2 = Bad()
    model2.relu = nn.Sigmoid()
    with pytest.raises(UnsupportedError, match=r"module Sigmoid is not supported; supported: "):
        ft.export(model2, x[:2])


def test_example_script_reproduces_the_shipped_onnx(tmp_path):
    """examples/onnx_digits.py (reusing the bundled weights) writes the shipped file byte for
    byte, checks that its import equals the bundled model and runs it."""
    pytest.importorskip("onnx")
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("onnx_digits", root / "examples/onnx_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "d.onnx"
    assert module.main(["--out", str(out)]) == 0
    assert out.read_bytes() == (root / "examples" / "digits_qdq.onnx").read_bytes()


def test_weight_bits_option(trained):
    """weight_bits=4: codes within ±7, error at most half a step (1/14 of max|W|), and the
    export still equals torch's quantized copy on every level."""
    model, x = trained
    exp = ft.export(model, x[:4], weight_bits=4)
    for lay in exp.network.layers:
        if hasattr(lay, "weight"):
            assert int(np.abs(lay.weight).max()) == 7
    assert all(e.max_rel <= 0.5 / 7 + 1e-12 for e in exp.weight_error.values())
    q = ft.quantized_copy(model, x[:4], weight_bits=4)
    levels, _ = _torch_levels(q, exp.activations, x.double())
    ref = qann.forward(exp.network, x.numpy().astype(np.float64))
    for name, lv in levels.items():
        np.testing.assert_array_equal(ref.levels[name], lv, err_msg=name)
