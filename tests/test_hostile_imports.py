"""Damaged and hostile ONNX and NIR files, and export paths that cannot be written: each a
ModelError (or ConfigError) naming the file and the node, initializer or field, and from the
command line one line and exit 2.

Each case is one the fuzz campaign's onnx, nir and import-export types (``scripts/fuzz.py``)
found raising an untyped exception (``ValueError``, ``IndexError``, ``ZeroDivisionError``,
``OverflowError``, ``RecursionError``, h5py's ``RuntimeError``, ``IsADirectoryError``...).
"""

from __future__ import annotations

import io
import itertools
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
nir = pytest.importorskip("nir")
h5py = pytest.importorskip("h5py")

from onnx import helper, numpy_helper  # noqa: E402

from neurosim import convert, frontends  # noqa: E402
from neurosim.cli import main  # noqa: E402
from neurosim.errors import ConfigError, ModelError  # noqa: E402
from neurosim.frontends.nir_graph import MAX_DATASET_BYTES, MAX_GROUP_DEPTH  # noqa: E402
from tests.conftest import random_qann  # noqa: E402
from tests.onnx_graphs import Graph  # noqa: E402

# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------


def _onnx_model(batch_norm: bool = False):
    """Input 2×6×6 → Conv (per-channel DequantizeLinear weights) [→ BatchNorm] → ReLU → QDQ →
    AveragePool → Flatten → Gemm."""
    g = Graph((2, 6, 6), seed=1)
    z = g.conv("x_dq", "conv", 3)
    if batch_norm:
        z = g.batch_norm(z, "bn", 3)
    a = g.act(z, "conv", levels=7)
    return g.model(g.gemm(g.flatten(g.avgpool(a, "pool"), "flat"), "fc", 2))


def _node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def _init(model, name):
    return next(t for t in model.graph.initializer if t.name == name)


def _set(node, key, value):
    for i, a in enumerate(node.attribute):
        if a.name == key:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(key, value))


def _save(model, tmp_path: Path) -> Path:
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _refused(path: Path, match: str, capsys, tmp_path: Path, error=ModelError) -> None:
    """Loading ``path`` raises ``error`` matching ``match`` and naming the file; ``neurosim
    import`` prints that one line and exits 2."""
    with pytest.raises(error, match=match) as info:
        frontends.load_model(path)
    assert str(path) in str(info.value)
    assert main(["import", str(path), "-o", str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("neurosim: error: "), err
    assert "Traceback" not in err


def test_the_onnx_seed_imports(tmp_path):
    """The graph every ONNX case below damages imports as it is (so the errors are theirs)."""
    net = frontends.load_model(_save(_onnx_model(batch_norm=True), tmp_path))
    assert [lay.name for lay in net.spiking_layers()] == ["conv"]


def test_an_initializer_declaring_more_values_than_it_holds_is_refused_unread(tmp_path, capsys):
    model = _onnx_model()
    weight = _init(model, "conv_wq")
    weight.dims[:] = [2**20] * 3  # 2^60 values over 54 bytes
    path = _save(model, tmp_path)
    tracemalloc.start()
    try:
        _refused(
            path, r"initializer 'conv_wq': dims \[1048576, 1048576, 1048576\]", capsys, tmp_path
        )
        assert tracemalloc.get_traced_memory()[1] < 64 * 2**20
    finally:
        tracemalloc.stop()


def test_an_initializer_whose_data_does_not_fill_its_dims_is_refused(tmp_path, capsys):
    model = _onnx_model()
    _init(model, "conv_wq").dims[:] = [7, 7]  # 49 values declared, 54 stored
    _refused(_save(model, tmp_path), r"initializer 'conv_wq' cannot be read", capsys, tmp_path)


@pytest.mark.parametrize(
    ("axis", "scale_shape"),
    [(-10, (3,)), (1, (3,)), (0, (2, 2)), (0, (5,))],
)
def test_a_dequantize_scale_of_the_wrong_shape_or_axis_names_the_node(
    tmp_path, capsys, axis, scale_shape
):
    """Per-axis scales must hold one value per entry along a valid axis (weights 3×2×3×3)."""
    model = _onnx_model()
    node = _node(model, "conv_wdq")
    _set(node, "axis", axis)
    scale = _init(model, node.input[1])
    scale.CopyFrom(numpy_helper.from_array(np.full(scale_shape, 0.25, np.float32), scale.name))
    _refused(
        _save(model, tmp_path),
        r"node 'conv_wdq' \(DequantizeLinear\): scale must be",
        capsys,
        tmp_path,
    )


@pytest.mark.parametrize("value", [0.0, -0.5, math.nan, math.inf])
def test_a_weight_quantizer_scale_must_be_finite_and_positive(tmp_path, capsys, value):
    model = _onnx_model()
    scale = _init(model, _node(model, "conv_wdq").input[1])
    scale.CopyFrom(numpy_helper.from_array(np.full(3, value, np.float32), scale.name))
    _refused(_save(model, tmp_path), r"conv_wdq.*scale must be finite and > 0", capsys, tmp_path)


def test_a_scalar_weight_with_per_channel_scales_is_refused(tmp_path, capsys):
    """Was a ZeroDivisionError (an axis modulo the 0 dimensions of a scalar)."""
    model = _onnx_model()
    weight = _init(model, "conv_wq")
    weight.CopyFrom(numpy_helper.from_array(np.array(3, np.int8), weight.name))
    _refused(
        _save(model, tmp_path), r"conv_wdq.*scale must be one value or one per", capsys, tmp_path
    )


@pytest.mark.parametrize(
    ("value", "match"),
    [(np.zeros(2), r"min must be one number, got shape \(2,\)"), (np.array(np.nan), "min is NaN")],
)
def test_clip_bounds_must_be_one_number(tmp_path, capsys, value, match):
    model = _onnx_model()
    bound = _init(model, _node(model, "input_clip").input[1])
    bound.CopyFrom(
        numpy_helper.from_array(
            value.astype(np.uint8 if value.size == 2 else np.float32), bound.name
        )
    )
    _refused(_save(model, tmp_path), rf"node 'input_clip' \(Clip\): {match}", capsys, tmp_path)


def test_an_infinite_clip_bound_is_no_bound(tmp_path):
    """Was an OverflowError (int(-inf)); ONNX reads an infinite bound as none."""
    model = _onnx_model()
    node = _node(model, "input_clip")
    node.input[1] = "minus_inf"
    model.graph.initializer.append(
        numpy_helper.from_array(np.array(-np.inf, np.float32), "minus_inf")
    )
    net = frontends.load_model(_save(model, tmp_path))
    assert net.input.levels == 15  # the clip's max still bounds the codes


def test_a_node_missing_its_input_names_the_node(tmp_path, capsys):
    model = _onnx_model()
    del _node(model, "pool").input[:]
    _refused(
        _save(model, tmp_path), r"node 'pool' \(AveragePool\): input 0 is missing", capsys, tmp_path
    )


def test_a_node_without_output_names_the_node(tmp_path, capsys):
    model = _onnx_model()
    del _node(model, "input_q").output[:]
    _refused(
        _save(model, tmp_path),
        r"node 'input_q' \(QuantizeLinear\): has no output",
        capsys,
        tmp_path,
    )


def test_batch_norm_parameters_of_the_wrong_size_name_the_node(tmp_path, capsys):
    """Was a broadcast ValueError in the fold (scale, B, mean, var: 1 or C values each)."""
    model = _onnx_model(batch_norm=True)
    mean = _init(model, _node(model, "bn").input[3])
    mean.CopyFrom(numpy_helper.from_array(np.zeros((2, 2), np.float32), mean.name))
    _refused(
        _save(model, tmp_path),
        r"node 'bn' \(BatchNormalization\): mean must hold 1 or 3",
        capsys,
        tmp_path,
    )


# --------------------------------------------------------------------------------------------
# NIR
# --------------------------------------------------------------------------------------------


def _nir_graph(weight_scale: float = 1.0, r: float = 1.0, bias: float = 0.25):
    """Input 4 → Affine 4→3 → LIF → Output (weights k/8 · ``weight_scale``)."""
    w = np.arange(-6, 6).reshape(3, 4) / 8.0 * weight_scale
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4])}),
        "fc": nir.Affine(w, np.full(3, bias)),
        "lif": nir.LIF(
            tau=np.full(3, 4e-4), r=np.full(3, r), v_leak=np.zeros(3), v_threshold=np.full(3, 0.5)
        ),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(nodes)))


def _nir_file(tmp_path: Path, graph=None, edit=None) -> Path:
    """``graph`` written by nir, then ``edit(h5py.File)`` applied to the file in place."""
    path = tmp_path / "m.nir"
    nir.write(str(path), graph or _nir_graph())
    if edit is not None:
        with h5py.File(path, "r+") as f:
            edit(f)
    return path


def test_the_nir_seed_imports(tmp_path):
    net = frontends.load_model(_nir_file(tmp_path))
    assert [lay.name for lay in net.spiking_layers()] == ["fc"]


def test_every_damaged_hdf5_signature_is_a_model_error(tmp_path, capsys):
    """h5py raised RuntimeError ("bad symbol table node signature", "Link iteration failed")
    from inside a group's iteration: every B-tree, local heap and symbol-table node of the file
    damaged in turn (one flipped bit in its signature) is a ModelError naming the file."""
    path = _nir_file(tmp_path)
    base = path.read_bytes()
    damaged = 0
    for sig in (b"SNOD", b"TREE", b"HEAP"):
        at = base.find(sig)
        while at >= 0:
            data = bytearray(base)
            data[at] ^= 0x20
            path.write_bytes(bytes(data))
            with pytest.raises(ModelError, match=r"not a (readable )?NIR file") as info:
                frontends.load_model(path)
            assert str(path) in str(info.value)
            damaged += 1
            at = base.find(sig, at + 1)
    assert damaged >= 20  # 7 symbol-table nodes, 16 B-trees, 7 heaps in this file
    assert main(["import", str(path), "-o", str(tmp_path / "out.npz")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_groups_nested_thousands_deep_are_refused_without_recursion(tmp_path, capsys):
    def edit(f):
        f.create_group("node/nodes/deep/" + "/".join(["n"] * 2000))

    _refused(
        _nir_file(tmp_path, edit=edit),
        f"groups nested deeper than {MAX_GROUP_DEPTH}",
        capsys,
        tmp_path,
    )


def test_a_dataset_declaring_terabytes_is_refused_unread(tmp_path, capsys):
    def edit(f):
        del f["node/nodes/fc/bias"]
        f.create_dataset("node/nodes/fc/bias", shape=(2**40,), dtype="f8", chunks=(1024,))

    path = _nir_file(tmp_path, edit=edit)
    assert path.stat().st_size < 10**6  # a chunked dataset stores nothing it was not given
    _refused(
        path,
        rf"dataset /node/nodes/fc/bias declares shape \(1099511627776,\).*{MAX_DATASET_BYTES}",
        capsys,
        tmp_path,
    )


@pytest.mark.parametrize("edges", [np.arange(3), np.arange(6).reshape(2, 3), np.zeros((2, 2))])
def test_edges_must_be_pairs_of_node_names(tmp_path, capsys, edges):
    def edit(f):
        del f["node/edges"]
        f.create_dataset("node/edges", data=edges)

    _refused(_nir_file(tmp_path, edit=edit), r"edges must be \[E, 2\] node names", capsys, tmp_path)


def test_a_node_type_that_is_not_a_string_is_an_unknown_type(tmp_path, capsys):
    def edit(f):
        del f["node/nodes/lif/type"]
        f.create_dataset("node/nodes/lif/type", data=np.zeros(3))

    _refused(
        _nir_file(tmp_path, edit=edit), r"node 'lif': unknown NIR node type None", capsys, tmp_path
    )


@pytest.mark.parametrize(
    ("graph", "match"),
    [
        # 2^-1074-sized weights: threshold / weight scale overflowed log2 (ValueError).
        (lambda: _nir_graph(weight_scale=5e-324), "must be finite and the thresholds > 0"),
        # r = 1.8e308: the threshold ratio underflowed and log2 overflowed (OverflowError).
        (lambda: _nir_graph(r=1.7976931348623157e308), "threshold rounds to 0 LSBs"),
        # A bias of 1e30 at a weight LSB of 2^-3: 8e30 LSBs would have wrapped in int64.
        (lambda: _nir_graph(bias=1e30), r"bias is .* LSBs .*within ±2\^62"),
    ],
)
def test_parameters_that_do_not_quantize_name_the_node(tmp_path, capsys, graph, match):
    _refused(
        _nir_file(tmp_path, graph()), rf"node 'lif'.*{match}|node 'fc'.*{match}", capsys, tmp_path
    )


@pytest.fixture
def exported(tmp_path) -> Path:
    """A neurosim export (its layers in metadata) of a converted quantized ANN."""
    snn = convert.convert(random_qann(3), "if", num_steps=4)
    return frontends.export_model(snn, tmp_path / "export.nir")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda meta: meta.__setitem__("neurosim_arrays", "x"),
            "'neurosim_arrays' must be a group",
        ),
        (
            lambda meta: meta.__setitem__("neurosim_layer", "{"),
            "'neurosim_layer' is not valid JSON",
        ),
        (lambda meta: meta.__delitem__("neurosim_layer"), "without 'neurosim_layer' metadata"),
    ],
)
def test_damaged_neurosim_metadata_is_a_model_error(exported, tmp_path, capsys, edit, match):
    """Was an AttributeError ('str' object has no attribute 'items') and friends."""
    with h5py.File(exported, "r+") as f:
        node = next(
            n for n in f["node/nodes"].values() if "neurosim_layer" in n.get("metadata", {})
        )
        meta = _H5Meta(node["metadata"])
        edit(meta)
    _refused(exported, f"neurosim metadata: .*{match}", capsys, tmp_path)


class _H5Meta:
    """Item assignment and deletion on an h5py group, as on a dict of strings."""

    def __init__(self, group) -> None:
        self.group = group

    def __setitem__(self, key, value) -> None:
        if key in self.group:
            del self.group[key]
        self.group.create_dataset(key, data=value, dtype=h5py.string_dtype())

    def __delitem__(self, key) -> None:
        del self.group[key]


# --------------------------------------------------------------------------------------------
# Export paths
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "reason"),
    [("folder.nir", "it is a folder"), ("file/out.nir", "a part of its folder path is a file")],
)
def test_export_to_a_path_that_cannot_be_written_is_one_line(tmp_path, capsys, where, reason):
    """h5py raised IsADirectoryError / NotADirectoryError from inside nir.write."""
    from neurosim.io import save_model

    model = save_model(random_qann(3), tmp_path / "m.npz")
    (tmp_path / "folder.nir").mkdir()
    (tmp_path / "file").write_text("x")
    out = tmp_path / where
    with pytest.raises(ConfigError, match=f"cannot write this file: {reason}"):
        frontends.export_model(convert.convert(random_qann(3), "if"), out)
    assert main(["export", str(model), "--scheme", "if", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert str(out) in err, err
    assert reason in err, err


def test_export_writes_atomically(tmp_path):
    """The file appears whole (written to a temporary file, then renamed) and reads back."""
    out = frontends.export_model(
        convert.convert(random_qann(3), "if", num_steps=4), tmp_path / "x.nir"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nir"]
    with h5py.File(io.BytesIO(out.read_bytes())) as f:
        assert "node" in f


# --------------------------------------------------------------------------------------------
# Found by a second, longer run
# --------------------------------------------------------------------------------------------


def test_a_reshape_target_that_is_not_integers_names_the_node(tmp_path, capsys):
    """Was ``int(nan)`` (ValueError) on a Reshape's shape constant."""
    g = Graph((2, 6, 6), seed=1)
    a = g.act(g.conv("x_dq", "conv", 3), "conv", levels=7)
    model = g.model(g.gemm(g.reshape(a, "rs"), "fc", 2))
    shape = _init(model, _node(model, "rs").input[1])
    shape.CopyFrom(numpy_helper.from_array(np.array([0, np.nan], np.float32), shape.name))
    _refused(
        _save(model, tmp_path), r"node 'rs' \(Reshape\): shape must hold integers", capsys, tmp_path
    )


def test_an_added_bias_of_the_wrong_size_names_the_node(tmp_path, capsys):
    """Was a broadcast ValueError (MatMul + Add with a bias of 6 values for 2 outputs)."""
    g = Graph((2, 6, 6), seed=1)
    a = g.act(g.conv("x_dq", "conv", 3), "conv", levels=7)
    model = g.model(g.matmul_add(g.flatten(a, "flat"), "fc", 2))
    bias = _init(model, _node(model, "fc_bias").input[1])
    bias.CopyFrom(numpy_helper.from_array(np.zeros(6, np.float32), bias.name))
    _refused(
        _save(model, tmp_path), r"node 'fc_bias' \(Add\): a bias must hold 1 or 2", capsys, tmp_path
    )


def test_batch_norm_parameters_of_one_value_in_many_dimensions_are_one_value(tmp_path):
    """A [1, 1, ..., 1] mean is one value (was a broadcast ValueError)."""
    model = _onnx_model(batch_norm=True)
    mean = _init(model, _node(model, "bn").input[3])
    mean.CopyFrom(numpy_helper.from_array(np.zeros((1,) * 9, np.float32), mean.name))
    assert frontends.load_model(_save(model, tmp_path)).layer("conv").bias.shape == (3,)


def _conv_nir(**conv):
    """Input 2×6×6 → Conv2d 3×3 (``conv`` overrides stride, padding, dilation, groups) → IF."""
    kw = {"stride": 1, "padding": 1, "dilation": 1, "groups": 1, **conv}
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "conv": nir.Conv2d((6, 6), np.ones((3, 2, 3, 3)) / 8, bias=np.zeros(3), **kw),
        "if": nir.IF(r=np.ones((3, 6, 6)), v_threshold=np.ones((3, 6, 6))),
        "output": nir.Output(output_type={"output": np.array([3, 6, 6])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(nodes)), type_check=False)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("stride", 0, r"stride and dilation must be >= 1 and padding in \[0, 3\]"),
        ("padding", 2**62, r".*padding in \[0, 3\].*padding=4611686018427387904"),
        ("groups", np.zeros(0), "groups is empty"),
        ("stride", np.array([np.nan]), r"stride must be whole numbers within ±2\^62"),
        ("padding", np.array([np.inf, np.inf]), r"padding must be whole numbers"),
    ],
)
def test_conv_geometry_out_of_range_names_the_node(tmp_path, capsys, key, value, match):
    """Stride 0 was a ZeroDivisionError, padding 2^62 'Maximum allowed dimension exceeded',
    an empty groups an IndexError, NaN or inf an int() error."""

    def edit(f):
        del f[f"node/nodes/conv/{key}"]
        f.create_dataset(f"node/nodes/conv/{key}", data=value)

    _refused(
        _nir_file(tmp_path, _conv_nir(), edit),
        rf"node 'conv' \(Conv2d\): {match}",
        capsys,
        tmp_path,
    )


@pytest.mark.parametrize("value", [np.array(["text"], "S"), np.array([np.nan, np.inf])])
def test_a_shape_that_is_not_whole_numbers_names_the_node(tmp_path, capsys, value):
    def edit(f):
        del f["node/nodes/output/shape"]
        f.create_dataset("node/nodes/output/shape", data=value)

    _refused(
        _nir_file(tmp_path, edit=edit),
        r"node 'output' \(Output\): shape must be whole numbers",
        capsys,
        tmp_path,
    )


def test_neurosim_arrays_stored_as_an_array_are_refused(exported, tmp_path, capsys):
    """Was 'The truth value of an array ... is ambiguous' (``array or {}``)."""
    with h5py.File(exported, "r+") as f:
        node = next(
            n for n in f["node/nodes"].values() if "neurosim_layer" in n.get("metadata", {})
        )
        del node["metadata/neurosim_arrays"]
        node["metadata"].create_dataset("neurosim_arrays", data=np.zeros(3))
    _refused(exported, "'neurosim_arrays' must be a group", capsys, tmp_path)


def test_a_file_the_hdf5_library_never_finishes_reading_is_stopped(monkeypatch):
    """A damaged NIR file on which libhdf5 loops inside one read (a zeroed global heap under
    the edge strings): the forked read is killed after READ_TIMEOUT_S and reported in one
    line naming the file; the CLI exits 2."""
    from neurosim.frontends import nir_graph

    path = Path(__file__).parent / "fixtures" / "hostile" / "zeroed_heap.nir"
    monkeypatch.setattr(nir_graph, "READ_TIMEOUT_S", 1.0)
    with pytest.raises(ModelError, match=r"zeroed_heap\.nir: the HDF5 library did not finish"):
        nir_graph.read_raw(path)


def test_the_forked_read_equals_the_read_in_process():
    """The child's dict, sent back by pipe, equals the one read in this process."""
    from neurosim.frontends import nir_graph

    path = Path(__file__).parent / "fixtures" / "nir" / "cnn_sinabs.nir"
    forked, here = nir_graph.read_raw(path), nir_graph._read_file(path)

    def same(a, b):
        if isinstance(a, dict):
            assert a.keys() == b.keys()
            for k in a:
                same(a[k], b[k])
        else:
            np.testing.assert_array_equal(a, b)

    same(forked, here)
