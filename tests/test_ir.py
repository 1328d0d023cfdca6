"""IR: shape inference, validation errors that name the layer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import ir
from neurosim.errors import ModelError
from tests.conftest import random_qann


def _conv(name, src, co, ci, k=3, stride=1, padding=0, act=True):
    return ir.Conv2d(
        name=name,
        inputs=(src,),
        weight=np.ones((co, ci, k, k), np.int8),
        weight_scale=np.ones(co),
        bias=np.zeros(co),
        stride=stride,
        padding=padding,
        act=ir.ActQuant(4, 1.0) if act else None,
    )


def _net(*layers):
    return ir.Network(layers=(ir.Input(name="in", shape=(3, 8, 8)), *layers), kind="qann")


def test_shapes_of_a_small_network():
    net = _net(
        _conv("c1", "in", 4, 3, padding=1),
        ir.AvgPool2d(name="p", inputs=("c1",), kernel=2, stride=2),
        _conv("c2", "p", 5, 4, stride=2, padding=1),
        ir.Flatten(name="f", inputs=("c2",)),
        ir.Linear(
            name="fc",
            inputs=("f",),
            weight=np.ones((10, 20), np.int8),
            weight_scale=np.ones(10),
            bias=np.zeros(10),
        ),
    )
    # c1: (8 + 2 - 3) + 1 = 8; pool 2 → 4; c2: (4 + 2 - 3)//2 + 1 = 2 → 5·2·2 = 20.
    assert net.shapes == {
        "in": (3, 8, 8),
        "c1": (4, 8, 8),
        "p": (4, 4, 4),
        "c2": (5, 2, 2),
        "f": (20,),
        "fc": (10,),
    }
    assert [lay.name for lay in net.spiking_layers()] == ["c1", "c2"]


@settings(max_examples=200, deadline=None)
@given(h=st.integers(1, 20), k=st.integers(1, 5), stride=st.integers(1, 3), pad=st.integers(0, 2))
def test_conv_shape_formula(h, k, stride, pad):
    conv = _conv("c", "in", 2, 3, k=k, stride=stride, padding=pad)
    expected = (h + 2 * pad - k) // stride + 1
    if expected < 1 or pad > k:  # padding wider than the kernel is refused
        with pytest.raises(ModelError, match="layer 'c'"):
            conv.infer_shape([(3, h, h)])
    else:
        assert conv.infer_shape([(3, h, h)]) == (2, expected, expected)


def test_errors_name_the_layer():
    with pytest.raises(ModelError, match=r"layer .c1.*expects 2 input channels, input has 3"):
        _net(_conv("c1", "in", 4, 2, act=False))
    with pytest.raises(ModelError, match="layer 'c1': input 'nope' is not defined"):
        _net(_conv("c1", "nope", 4, 3, act=False))
    with pytest.raises(ModelError, match="'c1' is used twice"):
        _net(_conv("c1", "in", 3, 3), _conv("c1", "c1", 3, 3, act=False))
    with pytest.raises(ModelError, match="layer 'c1': the output layer must be linear"):
        _net(_conv("c1", "in", 4, 3))
    with pytest.raises(ModelError, match="layer 'a' \\(add\\): input shapes differ"):
        _net(
            _conv("c1", "in", 4, 3),
            _conv("c2", "in", 4, 3, k=1),
            ir.Add(name="a", inputs=("c1", "c2"), act=None),
        )
    with pytest.raises(ModelError, match=r"layer 'fc' \(linear\).*add a Flatten"):
        _net(
            ir.Linear(
                name="fc", inputs=("in",), weight=np.ones((2, 3), np.int8), weight_scale=np.ones(2)
            )
        )
    with pytest.raises(ModelError, match="layers nobody reads"):
        _net(_conv("c1", "in", 4, 3), _conv("c2", "in", 4, 3, act=False))


def test_rhu_rounds_half_up_for_negatives():
    assert ir.rhu(np.array([5, 4, -4, -5, -6, 0]), 2).tolist() == [3, 2, -2, -2, -3, 0]


def test_residual_network_validates():
    net = random_qann(3, residual=True)
    assert net.shapes["res.add"] == net.shapes["conv1"]
    assert net.consumers("conv1")[0].name == "res.conv1"
