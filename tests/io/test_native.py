"""Native model files: lossless round-trips of quantized ANNs and SNNs; errors name the field."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import convert, ir
from neurosim.errors import ModelError
from neurosim.io import load_model, save_model
from tests.conftest import random_qann


def _same(a, b, where="") -> None:
    """Field-by-field equality of IR values (arrays compared with dtype and values)."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def assert_networks_equal(a: ir.Network, b: ir.Network) -> None:
    assert (a.kind, a.scheme, a.name, dict(a.meta)) == (b.kind, b.scheme, b.name, dict(b.meta))
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers, strict=True):
        _same(x, y, x.name)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), residual=st.booleans())
def test_qann_round_trip_is_lossless(tmp_path_factory, seed, residual):
    net = random_qann(seed, residual=residual)
    path = save_model(net, tmp_path_factory.mktemp("m") / "net.npz")
    assert_networks_equal(net, load_model(path))


@pytest.mark.parametrize("scheme", ["if", "mtif", "sws", "lmht"])
def test_snn_round_trip_is_lossless(tmp_path, scheme):
    net = random_qann(7, residual=True)
    snn = convert.convert(net, scheme)
    assert_networks_equal(snn, load_model(save_model(snn, tmp_path / "snn.npz")))


def test_trained_lmht_parameters_round_trip(tmp_path):
    net = random_qann(8)
    layers = [
        dataclasses.replace(
            lay,
            act=dataclasses.replace(lay.act, tgim=np.array([[0.75, 0.25], [0.5, 0.5]]), leak=0.875),
        )
        if getattr(lay, "act", None)
        else lay
        for lay in net.layers
    ]
    net = ir.Network(layers=tuple(layers), kind="qann", name="trained")
    assert_networks_equal(net, load_model(save_model(net, tmp_path / "t.npz")))
    snn = convert.convert(net, "lmht", num_steps=2)
    assert_networks_equal(snn, load_model(save_model(snn, tmp_path / "s.npz")))


def _rewrite_header(path, edit):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(bytes(arrays["__header__"]).decode())
    edit(header, arrays)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h, a: h.update(version=99), "version: unsupported 99"),
        (lambda h, a: h.update(format="other"), "format must be 'neurosim-model'"),
        (
            lambda h, a: h["layers"][1].update(stride="two"),
            "layer 'conv1'.stride: must be an integer",
        ),
        (lambda h, a: h["layers"][1].update(colour=3), "layer 'conv1'.colour: unknown field"),
        (lambda h, a: h["layers"][1].update(op="conv3d"), r"layers\[1\].op: unknown op 'conv3d'"),
        (lambda h, a: h["layers"][1]["act"].update(levels=2.5), "layer 'conv1'.act.levels"),
        (lambda h, a: a.pop("conv1/weight"), "array entry 'conv1/weight' is missing"),
        (lambda h, a: h["layers"][1].update(inputs=["ghost"]), "input 'ghost' is not defined"),
    ],
)
def test_malformed_file_names_the_field(tmp_path, edit, message):
    path = save_model(random_qann(1), tmp_path / "m.npz")
    _rewrite_header(path, edit)
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(3))
    with pytest.raises(ModelError, match="missing '__header__'"):
        load_model(bad)
    (tmp_path / "y.npz").write_text("hello")
    with pytest.raises(ModelError, match=r"not an \.npz archive"):
        load_model(tmp_path / "y.npz")
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "missing.npz")
