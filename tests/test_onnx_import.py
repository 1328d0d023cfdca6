"""ONNX import: graphs built with onnx.helper, checked against onnx's reference evaluator.

For every supported op and attribute: the imported quantized ANN's levels (``qann.forward``,
rounding half to even like QuantizeLinear) and the integer quantized ANN of its mtif
align="always" conversion (``functional.evaluate_levels``) equal the ONNX graph's quantized
activations on every element, and the SNN's spike counts and predictions equal them too. The
graphs are tie-free (``tests/onnx_graphs.py``); ``test_ties_*`` shows what a tie does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper

from neurosim import convert, frontends, functional, io, ir, qann
from neurosim.errors import ModelError, UnsupportedError
from neurosim.frontends import onnx as onnx_frontend
from neurosim.io import BUNDLED_MODEL, BUNDLED_TEST_SET, bundled_path
from tests.onnx_graphs import Graph, onnx_codes


def _check(
    graph: Graph, out: str, *, samples: int = 24, seed: int = 1, varied: bool = True
) -> ir.Network:
    """Import, then compare levels and predictions with the ONNX reference evaluator."""
    model = graph.model(out)
    net = onnx_frontend.from_model(model, source="test.onnx")
    x = np.random.default_rng(seed).random((samples, *graph.shape)).astype(np.float32)
    onnx_levels, logits = onnx_codes(model, graph, x)
    onnx_pred = np.argmax(logits, axis=1)
    assert set(onnx_levels) == {lay.name for lay in net.spiking_layers()}
    ref = qann.forward(net, x)
    codes = net.input.quantize(x)
    snn = convert.convert(net, "mtif", align="always", mem_bits=48)
    ints = functional.evaluate_levels(snn, codes)
    trace = functional.run(snn, codes)
    for name, levels in onnx_levels.items():
        assert not varied or len(np.unique(levels)) > 2, f"{name}: too few levels to test"
        np.testing.assert_array_equal(ref.levels[name], levels, err_msg=name)
        np.testing.assert_array_equal(ints.levels[name], levels, err_msg=name)
        counts = trace.layer(name).spikes.astype(np.int64).sum(axis=0)
        np.testing.assert_array_equal(counts, levels, err_msg=name)
    np.testing.assert_allclose(ref.logits, logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ref.predictions, onnx_pred)
    np.testing.assert_array_equal(ints.predictions, onnx_pred)
    np.testing.assert_array_equal(trace.predictions, onnx_pred)
    return net


def test_conv_strides_pads_per_channel_scales_gemm():
    g = Graph((2, 8, 8))
    a = g.act(g.conv("x_dq", "conv1", 4, stride=2, pad=1), "conv1")
    a = g.act(g.conv(a, "conv2", 3, pad=0), "conv2", levels=15)
    net = _check(g, g.gemm(g.flatten(a, "flat"), "fc", 5))
    conv1 = net.layer("conv1")
    assert (conv1.stride, conv1.padding, conv1.weight.dtype) == (2, 1, np.int8)
    assert len(np.unique(conv1.weight_scale)) > 1  # per-channel scales kept
    assert net.input.levels == 15
    assert net.input.scale == 2.0**-4
    assert net.input.rounding == "half_even"
    assert [lay.act.levels for lay in net.spiking_layers()] == [255, 15]


@settings(max_examples=15, deadline=None)
@given(
    k=st.sampled_from([1, 3]),
    stride=st.integers(1, 2),
    pad=st.integers(0, 2),
    groups=st.sampled_from([1, 2, 4]),
    dilation=st.integers(1, 2),
    seed=st.integers(0, 1000),
)
def test_conv_attributes_property(k, stride, pad, groups, dilation, seed):
    """Any stride, padding (up to the kernel's extent, the most neurosim takes), groups,
    dilation and kernel: levels and predictions equal the ONNX reference evaluator's (tie-free
    graphs)."""
    pad = min(pad, (k - 1) * dilation + 1)
    g = Graph((4, 7, 7), seed=seed)
    z = g.conv("x_dq", "conv1", 4, k=k, stride=stride, pad=pad, groups=groups, dilation=dilation)
    a = g.act(z, "conv1", levels=15)
    net = _check(g, g.gemm(g.flatten(a, "flat"), "fc", 3), samples=8, varied=False)
    lay = net.layer("conv1")
    assert (lay.stride, lay.padding, lay.groups, lay.dilation) == (stride, pad, groups, dilation)


def test_depthwise_dilated_conv_and_global_average_pool():
    g = Graph((3, 8, 8), seed=2)
    a = g.act(g.conv("x_dq", "conv1", 6), "conv1", levels=31)
    a = g.act(g.conv(a, "dw", 6, groups=6, dilation=2, pad=2), "dw", levels=31)
    a = g.act(g.conv(a, "pw", 4, k=1, pad=0), "pw", levels=31)
    net = _check(g, g.gemm(g.flatten(g.global_avgpool(a, "gap", 8), "flat"), "fc", 3))
    assert (net.layer("dw").groups, net.layer("dw").dilation) == (6, 2)
    assert net.layer("gap").kernel == 8


def test_batch_norm_folded_into_conv_with_negative_gamma():
    g = Graph((2, 6, 6), seed=3)
    z = g.batch_norm(g.conv("x_dq", "conv1", 4), "bn1", 4)
    a = g.act(z, "conv1", levels=63)
    net = _check(g, g.gemm(g.flatten(a, "flat"), "fc", 4, trans_b=0))
    assert [lay.name for lay in net.layers] == ["input", "conv1", "flat", "fc"]
    # gamma alternates sign: those channels' integer weights are negated
    w0 = numpy_helper.to_array(next(t for t in g.inits if t.name == "conv1_wq"))
    np.testing.assert_array_equal(net.layer("conv1").weight[1], -w0[1])
    np.testing.assert_array_equal(net.layer("conv1").weight[0], w0[0])


def test_residual_add_average_pool_reshape_matmul_add():
    g = Graph((2, 8, 8), seed=4)
    a1 = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=15)
    a2 = g.act(g.conv(a1, "conv2", 4), "conv2", levels=15)
    z3 = g.conv(a2, "conv3", 4)  # the residual branch: no activation
    a = g.act(g.add(a1, z3, "add1"), "add1", levels=15)
    p = g.reshape(g.avgpool(a, "pool", 2), "flat")
    net = _check(g, g.matmul_add(p, "fc", 6))
    assert net.layer("add1").inputs == ("conv1", "conv3")
    assert net.layer("conv3").act is None
    assert net.layer("fc").bias is not None


def test_brevitas_qcdq_and_relu_clip_ceiling():
    g = Graph((1, 6, 6), seed=5, qcdq_input=False)
    a = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=7, signed_qcdq=True)
    a = g.act(g.conv(a, "conv2", 4), "conv2", levels=63, clip_frac=0.5)
    net = _check(g, g.gemm(g.flatten(a, "flat"), "fc", 3))
    assert net.input.levels == 255  # the uint8 input quantizer without a clip
    assert net.layer("conv1").act.levels == 7
    assert net.layer("conv2").act.levels == 31  # ⌊0.5·63⌋: the float Clip's ceiling


def test_identity_dropout_squeeze_constant_lossless_requant_and_output_quantizer():
    """A lossless QuantizeLinear after an average pool (scale = the pooled step, range holds
    the sums), Identity, Dropout, GlobalAveragePool → Squeeze, a Gemm bias from a Constant
    node and an int16 quantizer on the logits (dropped; here it changes nothing)."""
    g = Graph((2, 4, 4), seed=11)
    a = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=15)
    p = g.avgpool(a, "pool", 2)
    step, zp = g.const(2.0 ** -g.lsb[p]), g.const(0, np.uint8)
    q = g.node("QuantizeLinear", [p, step, zp], "pool_q", name="pool_q")
    p = g.node("DequantizeLinear", [q, step, zp], "pool_dq", name="pool_dq")
    p = g.node("Identity", [p], "pool_id", name="pool_id")
    p = g.node("Dropout", [p], "pool_drop", name="pool_drop")
    p = g.node("GlobalAveragePool", [p], "gap_y", name="gap")
    g.lsb["gap_y"] = g.lsb["pool_y"] + 2
    p = g.node("Squeeze", [p, g.const([2, 3], np.int64)], "sq_y", name="squeeze")
    g.lsb["sq_y"] = g.lsb["gap_y"]
    z = g.gemm(p, "fc", 3)
    bias = next(t for t in g.inits if t.name == g.nodes[-1].input[2])
    g.nodes[-1].input[2] = "fc_bias"  # from a Constant node (the initializer stays unused)
    g.nodes.insert(0, helper.make_node("Constant", [], ["fc_bias"], name="bias", value=bias))
    out_step, out_zp = g.const(2.0 ** -g.lsb[z]), g.const(0, np.int16)
    zq = g.node("QuantizeLinear", [z, out_step, out_zp], "out_q", name="out_q")
    g.node("DequantizeLinear", [zq, out_step, out_zp], "logits", name="out_dq")
    net = _check(g, "logits", varied=False)
    assert [lay.op for lay in net.layers] == [
        "input", "conv2d", "avgpool2d", "avgpool2d", "flatten", "linear",
    ]  # fmt: skip
    assert net.meta["dropped_output_quantizer"] == "out_q"


def test_brevitas_qcdq_weights_from_float_constants():
    """Weights as Brevitas writes them — float constant → QuantizeLinear → Clip(±7) →
    DequantizeLinear — fold to the 4-bit integer codes (the clipped ±8 back at ±7)."""
    g = Graph((2, 6, 6), seed=10, weight_qcdq=True)
    a = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=15, signed_qcdq=True)
    net = _check(g, g.gemm(g.flatten(a, "flat"), "fc", 3))
    w = net.layer("conv1").weight
    assert w.dtype == np.int8
    assert int(np.abs(w).max()) == 7


def test_max_pool_exact_on_levels():
    """MaxPool (stride < kernel with padding, and 2x2): exact where the consumer integrates
    levels (mtif align="always"); per-step consumers and the output layer are refused."""
    g = Graph((2, 8, 8), seed=6)
    a = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=15)
    a = g.act(g.conv(g.maxpool(a, "mp1", 3, stride=1, pad=1), "conv2", 4), "conv2", levels=15)
    a = g.act(g.conv(g.maxpool(a, "mp2", 2), "conv3", 4), "conv3", levels=15)
    net = _check(g, g.gemm(g.flatten(a, "flat"), "fc", 3))
    assert isinstance(net.layer("mp1"), ir.MaxPool2d)
    assert net.layer("mp1").padding == 1
    with pytest.raises(UnsupportedError, match=r"layer 'mp1' \(maxpool2d\).*use AvgPool2d"):
        convert.convert(net, "mtif")
    g = Graph((2, 8, 8), seed=6)
    a = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=15)
    net = onnx_frontend.from_model(g.model(g.gemm(g.flatten(g.maxpool(a, "mp", 2), "f"), "fc", 3)))
    with pytest.raises(UnsupportedError, match=r"'mp' \(maxpool2d\).*consumer 'fc' has no neuron"):
        convert.convert(net, "mtif", align="always")


def test_ties_round_half_to_even_in_the_reference_half_up_in_the_snn():
    """Biases on the grid: some pre-activations sit exactly on k + 1/2. The quantized-ANN
    reference rounds them to even like ONNX; the integer SNN (and its integer reference) rounds
    them up — one level above ONNX exactly where k is even, equal everywhere else."""
    g = Graph((2, 6, 6), seed=7, tie_free=False)
    z = g.conv("x_dq", "conv1", 4)
    a = g.act(z, "conv1", levels=15)
    model = g.model(g.gemm(g.flatten(a, "flat"), "fc", 3))
    net = onnx_frontend.from_model(model)
    x = np.random.default_rng(0).random((32, 2, 6, 6)).astype(np.float32)
    onnx_levels, _ = onnx_codes(model, g, x)
    scale = net.layer("conv1").act.clip / net.layer("conv1").act.levels
    u = np.maximum(g.evaluate("conv1_relu", x), 0) / scale
    ties = (u - np.floor(u) == 0.5) & (u < 15)
    even_ties = ties & (np.floor(u) % 2 == 0)
    assert even_ties.sum() > 10
    ref = qann.forward(net, x)
    np.testing.assert_array_equal(ref.levels["conv1"], onnx_levels["conv1"])
    up = dataclasses.replace(
        net.layer("conv1"), act=dataclasses.replace(net.layer("conv1").act, rounding="half_up")
    )
    half_up = qann.forward(
        ir.Network(tuple(up if lay.name == "conv1" else lay for lay in net.layers)), x
    )
    snn = convert.convert(net, "mtif", align="always", mem_bits=48)
    ints = functional.evaluate_levels(snn, net.input.quantize(x))
    np.testing.assert_array_equal(ints.levels["conv1"], half_up.levels["conv1"])
    diff = ints.levels["conv1"] - onnx_levels["conv1"]
    np.testing.assert_array_equal(diff, even_ties.astype(np.int64))


def test_native_file_keeps_rounding_and_float_inputs(tmp_path):
    g = Graph((2, 6, 6), seed=8)
    a = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=15)
    model = g.model(g.gemm(g.flatten(a, "flat"), "fc", 3))
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    net, out = frontends.import_model(path, tmp_path / "m.qann.npz")
    back = io.load_model(out)
    assert back.input.rounding == "half_even"
    assert back.layer("conv1").act.rounding == "half_even"
    x = np.random.default_rng(3).random((16, 2, 6, 6)).astype(np.float32)
    onnx_levels, logits = onnx_codes(model, g, x)
    for m in (net, back, frontends.load_model(path)):
        res = qann.forward(m, x)
        np.testing.assert_array_equal(res.levels["conv1"], onnx_levels["conv1"])
        np.testing.assert_array_equal(res.predictions, np.argmax(logits, axis=1))
    # codes 2.5 → 2 (half to even), as the graph's QuantizeLinear computes them
    codes = back.input.quantize(np.array([[2.5, 3.5, 0.49, 99.0]], np.float32) / 16)
    np.testing.assert_array_equal(codes, [[2, 4, 0, 15]])


# -- bad input: one line naming the node ----------------------------------------------------


def _float_graph(nodes, inits, shape=("N", 1, 4, 4)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "bad", [x], [y], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


def _raises(model, error, pattern):
    with pytest.raises(error, match=pattern) as exc:
        onnx_frontend.from_model(model, source="bad.onnx")
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_float_model_without_qdq():
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    model = _float_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], [w])
    _raises(
        model,
        UnsupportedError,
        r"^bad\.onnx: node 'conv1' \(Conv\): reads the graph input 'x' without a "
        r"QuantizeLinear",
    )


def test_unsupported_op_names_node_op_and_supported_list():
    g = Graph((1, 4, 4))
    z = g.conv("x_dq", "conv1", 2)
    g.node("Sigmoid", [z], "sig", name="act_sig")
    msg = _raises(
        g.model("sig"), UnsupportedError, r"node 'act_sig' \(Sigmoid\): op 'Sigmoid' is not "
    )
    assert "supported ops: QuantizeLinear, DequantizeLinear, Clip, Conv" in msg


def test_non_zero_weight_zero_point():
    g = Graph((1, 4, 4))
    g.conv("x_dq", "conv1", 2)
    zp = next(t for t in g.inits if numpy_helper.to_array(t).dtype == np.int8 and t.dims == [2])
    zp.CopyFrom(numpy_helper.from_array(np.array([0, 3], np.int8), zp.name))
    _raises(
        g.model("conv1_z"),
        UnsupportedError,
        r"node 'conv1' \(Conv\): weight 'conv1_w' has a non-zero zero point \(from node "
        r"'conv1_wdq'\)",
    )


def test_dynamic_shape():
    g = Graph((1, 4, 4))
    model = g.model(g.conv("x_dq", "conv1", 2))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    _raises(model, ModelError, r"input 'x': dimension 2 is dynamic \(H\)")


def test_unsupported_attribute_and_signed_activation():
    g = Graph((1, 6, 6))
    z = g.conv("x_dq", "conv1", 2)
    next(a for a in g.nodes[-1].attribute if a.name == "pads").ints[:] = [1, 1, 0, 0]
    _raises(g.model(z), UnsupportedError, r"node 'conv1' \(Conv\): pads must be equal")
    g = Graph((1, 6, 6))
    z = g.conv("x_dq", "conv1", 2)
    s, zp = g.const(0.25), g.const(0, np.int8)
    q = g.node("QuantizeLinear", [z, s, zp], "q", name="q1")
    dq = g.node("DequantizeLinear", [q, s, zp], "dq", name="dq1")
    g.lsb[dq] = 2
    out = g.gemm(g.flatten(dq, "flat"), "fc", 2)
    _raises(
        g.model(out),
        UnsupportedError,
        r"node 'flat' \(Flatten\): reads the output of "
        r"quantizer 'q1'",
    )


def test_cli_import_and_run_on_float_images(tmp_path, capsys):
    from neurosim import cli

    g = Graph((2, 6, 6), seed=9)
    a = g.act(g.conv("x_dq", "conv1", 4), "conv1", levels=15)
    model = g.model(g.gemm(g.flatten(a, "flat"), "fc", 3))
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.random.default_rng(5).random((6, 2, 6, 6)).astype(np.float32)
    _, logits = onnx_codes(model, g, x)
    labels = np.argmax(logits, axis=1)
    np.savez(tmp_path / "in.npz", images=x, labels=labels)
    assert cli.main(["import", str(path), "-o", str(tmp_path / "m.qann.npz")]) == 0
    assert "rounding half_even" in capsys.readouterr().out
    for model_path in (path, tmp_path / "m.qann.npz"):
        js = tmp_path / "r.json"
        argv = ["run", "--model", str(model_path), "--inputs", str(tmp_path / "in.npz")]
        argv += ["--scheme", "mtif", "--align", "always", "--mem-bits", "48", "--stream", "2"]
        assert cli.main([*argv, "--no-progress", "--json", str(js)]) == 0
        import json

        row = json.loads(js.read_text())["schemes"][0]
        assert row["accuracy"] == 1.0
        assert row["ann_accuracy"] == 1.0
    assert cli.main(["import", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "o.npz")]) == 2


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_qdq.onnx"


def _layers_and_arrays(path):
    with np.load(path) as f:
        header = json.loads(bytes(f["__header__"]).decode())
        arrays = {k: f[k] for k in f.files if k != "__header__"}
    return header["layers"], arrays


def test_shipped_example_imports_to_the_bundled_model_and_runs(tmp_path):
    """examples/digits_qdq.onnx (written by examples/onnx_digits.py from the bundled model's
    weights) imports to the bundled model layer for layer and array for array, and
    ``neurosim run`` takes it without torch."""
    from neurosim import cli

    _, out = frontends.import_model(EXAMPLE, tmp_path / "d.qann.npz")
    (la, aa), (lb, ab) = _layers_and_arrays(out), _layers_and_arrays(bundled_path(BUNDLED_MODEL))
    assert la == lb
    assert aa.keys() == ab.keys()
    for k in aa:
        np.testing.assert_array_equal(aa[k], ab[k], err_msg=k)
        assert aa[k].dtype == ab[k].dtype
    js = tmp_path / "r.json"
    argv = ["run", "--model", str(EXAMPLE), "--inputs", str(bundled_path(BUNDLED_TEST_SET))]
    argv += ["--scheme", "mtif", "--samples", "60", "--no-progress", "--json", str(js)]
    assert cli.main(argv) == 0
    row = json.loads(js.read_text())["schemes"][0]
    assert cli.main(["inspect", "--model", str(EXAMPLE), "--hw", "multicore"]) == 0
    ref = qann.forward(io.load_model(bundled_path(BUNDLED_MODEL)), _test_images()[:60])
    assert row["ann_accuracy"] == pytest.approx(np.mean(ref.predictions == _test_labels()[:60]))


def _test_images():
    with np.load(bundled_path(BUNDLED_TEST_SET)) as f:
        return f["images"]


def _test_labels():
    with np.load(bundled_path(BUNDLED_TEST_SET)) as f:
        return f["labels"]


def test_sweep_spec_takes_an_onnx_model(tmp_path, capsys):
    """A sweep spec's model may be an .onnx file (imported on the fly) with float images."""
    from neurosim import cli

    with np.load(bundled_path(BUNDLED_TEST_SET)) as f:
        np.savez(tmp_path / "x.npz", images=f["images"][:8] / 16.0, labels=f["labels"][:8])
    spec = tmp_path / "s.sweep.toml"
    spec.write_text(
        f'[meta]\nname = "onnx"\n[base]\nhw = "pe_array_tiny"\nmodel = "{EXAMPLE}"\n'
        f'inputs = "{tmp_path / "x.npz"}"\nstream = 1\nscheme = "mtif"\n'
        "[axes]\npe.M = [1, 2]\n"
    )
    argv = ["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--no-progress"]
    assert cli.main(argv) == 0
    assert "points: 2   ok: 2   failed: 0" in capsys.readouterr().out


def test_without_the_onnx_package_the_message_names_the_extra(monkeypatch, capsys):
    """Reading an .onnx file without the onnx package: one line naming the extra (exit 2)."""
    import sys

    from neurosim import cli

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(
        ModelError, match=r"needs the onnx package: pip install 'neurosim-snn\[onnx\]'"
    ):
        frontends.load_model(EXAMPLE)
    assert cli.main(["import", str(EXAMPLE), "-o", "unused.npz"]) == 2
    assert "neurosim-snn[onnx]" in capsys.readouterr().err
