"""From PyTorch to ONNX to neurosim: the digits CNN as a quantized (QCDQ) ONNX graph.

Usage::

    pip install torch==2.13.0 onnx      # this script only (scikit-learn too for --train)
    python examples/onnx_digits.py [--train] [--out examples/digits_qdq.onnx]

Builds the digits CNN of ``scripts/train_digits.py`` (``QuantInput``, ``QuantReLU``), either
trained now (``--train``, ~30 s) or holding the weights of the bundled model
(``neurosim/data/digits.qann.npz``: real weight = scale · integer weight), writes it with
``neurosim.frontends.torch.export_onnx`` (weights as DequantizeLinear of int8 constants,
every quantizer QuantizeLinear → Clip → DequantizeLinear), imports the file with
``neurosim import`` and runs ``neurosim run`` on it. Without ``--train`` the imported network
equals the bundled one, layer for layer and array for array (checked).

The written file is shipped, so ``neurosim run --model examples/digits_qdq.onnx --inputs
neurosim/data/digits_test.npz`` works without torch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from neurosim import cli, io
from neurosim.frontends import torch as ft

ROOT = Path(__file__).resolve().parents[1]


def _recipe():
    """scripts/train_digits.py as a module (its DigitsCNN and train)."""
    spec = importlib.util.spec_from_file_location("train_digits", ROOT / "scripts/train_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bundled_weights(model: torch.nn.Module) -> None:
    """Load the bundled quantized model's weights, biases and clips into ``model``."""
    net = io.load_model(io.bundled_path(io.BUNDLED_MODEL))
    with torch.no_grad():
        for lay in net.layers:
            if not hasattr(lay, "weight"):
                continue
            m = model.get_submodule(lay.name)
            shape = (-1,) + (1,) * (lay.weight.ndim - 1)
            w = lay.weight.astype(np.float64) * np.asarray(lay.weight_scale).reshape(shape)
            m.weight.copy_(torch.from_numpy(w))
            m.bias.copy_(torch.from_numpy(np.asarray(lay.bias)))
        for name, act in ((n, m) for n, m in model.named_modules() if isinstance(m, ft.QuantReLU)):
            layer = {"act1": "conv1", "act2": "conv2", "act3": "conv3", "act4": "fc1"}[name]
            act.clip.copy_(torch.tensor(net.layer(layer).act.clip))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--train", action="store_true", help="train now instead of reusing")
    ap.add_argument("--out", default=str(ROOT / "examples" / "digits_qdq.onnx"))
    args = ap.parse_args(argv)
    recipe = _recipe()
    test_set = io.bundled_path(io.BUNDLED_TEST_SET)
    with np.load(test_set) as f:
        example = recipe.to_input(f["images"][:1])
    if args.train:
        from sklearn.datasets import load_digits

        torch.manual_seed(0)
        digits = load_digits()
        x = recipe.to_input(digits.images.astype(np.uint8)[:, None])
        model = recipe.train(x, torch.from_numpy(digits.target.astype(np.int64)), 100, 0)
    else:
        model = recipe.DigitsCNN().double()
        bundled_weights(model)
        model = model.float().eval()
    out = ft.export_onnx(model, example, args.out)
    print(f"wrote {out}")
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / "digits_qdq.qann.npz"
        if cli.main(["import", str(out), "-o", str(native)]) != 0:
            return 1
        if not args.train:
            same = _layers(native) == _layers(io.bundled_path(io.BUNDLED_MODEL))
            print(f"imported network equals the bundled one: {same}")
            if not same:
                return 1
    run = ["run", "--model", str(out), "--inputs", str(test_set)]
    return cli.main([*run, "--scheme", "mtif", "--scheme", "lmht", "--no-progress"])


def _layers(path: Path) -> tuple[str, dict[str, bytes]]:
    """The header's layers and every array's bytes of a native file (its meta left out)."""
    with np.load(path) as f:
        header = json.loads(bytes(f["__header__"]).decode())
        arrays = {
            k: f[k].tobytes() + str(f[k].dtype).encode() for k in f.files if k != "__header__"
        }
    return json.dumps(header["layers"], sort_keys=True), arrays


if __name__ == "__main__":
    raise SystemExit(main())
