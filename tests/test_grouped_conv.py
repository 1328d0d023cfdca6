"""Grouped (depthwise) and dilated convolutions through the IR, the float quantized ANN, the
conversion, the integer kernels and the files (the hardware models: test_grouped_hardware.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import convert, functional, ir, qann
from neurosim.errors import ModelError
from neurosim.io import load_model, save_model


def _net(seed: int, groups: int, dilation: int) -> ir.Network:
    """input 4×9×9 → conv 4→8 3×3 (groups, dilation, padding = dilation: 9×9 stays) →
    depthwise 8→8 3×3 (padding 1) → fc 10."""
    rng = np.random.default_rng(seed)

    def conv(name, src, co, ci, g, d, levels):
        return ir.Conv2d(
            name=name,
            inputs=(src,),
            weight=rng.integers(-127, 128, size=(co, ci // g, 3, 3)).astype(np.int8),
            weight_scale=rng.uniform(0.002, 0.02, co),
            bias=rng.normal(0, 0.2, co),
            padding=d,
            groups=g,
            dilation=d,
            act=ir.ActQuant(levels=levels, clip=float(rng.uniform(0.5, 3.0))),
        )

    c2 = conv("c2", "c1", 8, 8, 8, 1, 4)
    return ir.Network(
        layers=(
            ir.Input(name="input", shape=(4, 9, 9), scale=1 / 15, levels=15),
            conv("c1", "input", 8, 4, groups, dilation, 8),
            c2,
            ir.Flatten(name="flat", inputs=("c2",)),
            ir.Linear(
                name="fc",
                inputs=("flat",),
                weight=rng.integers(-127, 128, size=(10, 8 * 9 * 9)).astype(np.int8),
                weight_scale=rng.uniform(0.002, 0.02, 10),
                bias=rng.normal(0, 0.2, 10),
            ),
        ),
        name="grouped",
    )


def _direct_conv(x, w, stride, padding, groups, dilation):
    """The definition, loop by loop (float64): out[o, i, j] = Σ w[o, c, u, v]·x[g·cig + c,
    i·s + u·d, j·s + v·d] over the padded input."""
    b, _, h, wd = x.shape
    co, cig, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - (kh - 1) * dilation - 1) // stride + 1
    wo = (wd + 2 * padding - (kw - 1) * dilation - 1) // stride + 1
    out = np.zeros((b, co, ho, wo))
    for o in range(co):
        g = o // (co // groups)
        for i in range(ho):
            for j in range(wo):
                for c in range(cig):
                    for u in range(kh):
                        for v in range(kw):
                            out[:, o, i, j] += (
                                w[o, c, u, v]
                                * xp[
                                    :,
                                    g * cig + c,
                                    i * stride + u * dilation,
                                    j * stride + v * dilation,
                                ]
                            )
    return out


@settings(max_examples=20, deadline=None)
@given(
    groups=st.sampled_from([1, 2, 4]),
    dilation=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    seed=st.integers(0, 10_000),
)
def test_float_conv_matches_the_definition(groups, dilation, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 4, 8, 8))
    w = rng.normal(size=(4, 4 // groups, 3, 3))
    want = _direct_conv(x, w, stride, padding, groups, dilation)
    got = qann.conv2d_float(x, w, stride, padding, groups, dilation)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("groups", "dilation"), [(1, 2), (2, 1), (4, 2)])
def test_aligned_mtif_counts_equal_the_integer_ann(groups, dilation):
    """MT-SNN Theorem 1 holds for grouped and dilated layers too: every spike count equals
    the integer quantized ANN's level, and the logits are equal."""
    net = _net(7, groups, dilation)
    # Extent (3 − 1)·d + 1 with padding d: 9 + 2d − (2d + 1) + 1 = 9.
    assert net.shapes["c1"] == net.shapes["c2"] == (8, 9, 9)
    codes = np.random.default_rng(1).integers(0, 16, size=(4, 4, 9, 9))
    snn = convert.convert(net, "mtif", align="always")
    trace = functional.run(snn, codes)
    ref = functional.evaluate_levels(snn, codes)
    for name in ("c1", "c2"):
        counts = trace.layer(name).spikes.astype(np.int64).sum(axis=0)
        np.testing.assert_array_equal(counts, ref.levels[name], err_msg=name)
    np.testing.assert_array_equal(trace.output_int, ref.output_int)
    # The integer ANN agrees with the float one up to the 2^-f rounding of thresholds.
    flt = qann.forward(net, codes)
    assert np.mean(flt.levels["c1"] == ref.levels["c1"]) > 0.97


def test_files_keep_groups_and_dilation(tmp_path):
    net = _net(3, 2, 2)
    back = load_model(save_model(net, tmp_path / "g.npz"))
    assert (back.layer("c1").groups, back.layer("c1").dilation) == (2, 2)
    assert back.layer("c2").groups == 8
    assert back.shapes == net.shapes


def test_bad_groups_name_the_layer():
    with pytest.raises(ModelError, match=r"layer 'c1' \(conv2d\): weight expects 12 input"):
        ir.Network(
            layers=(
                ir.Input(name="input", shape=(4, 9, 9)),
                ir.Conv2d(
                    name="c1", inputs=("input",), weight=np.ones((6, 4, 3, 3), np.int8), groups=3
                ),
            )
        )
