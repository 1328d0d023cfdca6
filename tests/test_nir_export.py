"""NIR export: every shipped scheme → NIR → neurosim gives an identical file; exported graphs load
in ``nir.read`` with its type checks; what other frameworks see of each scheme."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import cli, convert, experiment, frontends, io, schemes
from neurosim.errors import ModelError
from tests.conftest import random_qann
from tests.nir_graphs import FIXTURES

nir = pytest.importorskip("nir")

SETTINGS = [
    ("if", {"num_steps": 4}),
    ("mtif", {"align": "always"}),
    ("sws", {"encoder": "neuron", "silent_steps": 1}),
    ("lmht", {"num_levels": 2, "reparameterize": True}),
    ("lif", {"leak": 0.875, "reset": "zero", "v_init": "zero"}),
]


def _contents(path) -> tuple[bytes, dict[str, tuple[str, bytes]]]:
    """A native file's header bytes and every array's dtype and bytes."""
    with np.load(path) as data:
        arrays = {k: (str(data[k].dtype), data[k].tobytes()) for k in data.files}
    return arrays.pop("__header__")[1], arrays


def _round_trip(snn, tmp_path, name: str) -> None:
    a = io.save_model(snn, tmp_path / f"{name}.snn.npz")
    graph = frontends.export_model(snn, tmp_path / f"{name}.nir")
    nir.read(str(graph))  # type-checked by nir itself
    back, b = frontends.import_model(graph, tmp_path / f"{name}.back.npz")
    assert _contents(a) == _contents(b)
    assert back.scheme == snn.scheme


@pytest.mark.parametrize(("scheme", "options"), SETTINGS)
def test_every_scheme_round_trips_to_an_identical_file(tmp_path, scheme, options):
    """The bundled digits CNN and a residual network (Add, a conv without activation), each
    converted with non-default options, come back from NIR byte for byte."""
    assert {s for s, _ in SETTINGS} == set(schemes.names())
    digits = experiment.load_network(None)
    _round_trip(convert.convert(digits, scheme, **options), tmp_path, "digits")
    residual = random_qann(11, residual=True)
    _round_trip(convert.convert(residual, scheme, **options), tmp_path, "residual")


def test_imported_graph_round_trips_and_the_cli_exports(tmp_path, capsys):
    """cnn_sinabs (reset by subtraction) → native → NIR → native: the same file, through the
    import and export commands."""
    first = tmp_path / "cnn.snn.npz"
    argv = ["import", str(FIXTURES / "cnn_sinabs.nir"), "-o", str(first), "--reset", "subtract"]
    assert cli.main([*argv, "--weight-bits", "6", "--num-steps", "30"]) == 0
    assert "spikes over T = 30 steps" in capsys.readouterr().out
    graph = tmp_path / "cnn.nir"
    assert cli.main(["export", str(first), "-o", str(graph)]) == 0
    second = tmp_path / "again.snn.npz"
    assert cli.main(["import", str(graph), "-o", str(second)]) == 0
    assert _contents(first) == _contents(second)
    assert frontends.load_model(second).layer("0").weight.max() <= 31  # 6-bit weights


@pytest.mark.parametrize("leak", [1.0, 0.75])
def test_exported_if_and_lif_graphs_pass_nirs_checks(tmp_path, leak):
    """A converted lif network exports IF nodes (λ = 1) or LIF nodes with τ = dt/(1 − λ) and
    r = τ/dt; nir.read type-checks every edge; thresholds are Θ·σ_P in real units."""
    snn = convert.convert(experiment.load_network(None), "lif", leak=leak)
    path = frontends.export_model(snn, tmp_path / "m.nir", dt=1e-3)
    graph = nir.read(str(path))
    node = graph.nodes["conv1.neuron"]
    conv = snn.layer("conv1")
    if leak == 1.0:
        assert type(node).__name__ == "IF"
        np.testing.assert_array_equal(node.r, 1.0)
    else:
        assert type(node).__name__ == "LIF"
        np.testing.assert_allclose(node.tau, 1e-3 / 0.25)
        np.testing.assert_allclose(node.r, 4.0)
    assert node.v_threshold.shape == snn.shapes["conv1"]
    np.testing.assert_allclose(
        node.v_threshold[:, 0, 0], conv.neuron.threshold * conv.out_scale, rtol=1e-12
    )
    # Spikes are worth T units in a converted network: the exported weights say so.
    w = graph.nodes["conv2"].weight
    c2 = snn.layer("conv2")
    np.testing.assert_allclose(
        w,
        c2.weight.astype(float) * 8 * 2.0**c2.shift * c2.out_scale.reshape(-1, 1, 1, 1),
        rtol=1e-12,
    )


def test_an_ann_is_converted_before_export(tmp_path, capsys):
    net = experiment.load_network(None)
    with pytest.raises(ModelError, match="is a quantized ANN; convert it"):
        frontends.export_model(net, tmp_path / "a.nir")
    src = io.save_model(net, tmp_path / "ann.npz")
    assert cli.main(["export", str(src), "-o", str(tmp_path / "a.nir")]) == 2
    assert "give --scheme" in capsys.readouterr().err
    out = tmp_path / "b.nir"
    assert cli.main(["export", str(src), "-o", str(out), "--scheme", "if", "--num-steps", "4"]) == 0
    assert frontends.load_model(out).neurons()[0].steps == 4
    with pytest.raises(ModelError, match=r"no format for '\.onnx'|does not write"):
        frontends.export_model(convert.convert(net, "if"), tmp_path / "a.onnx")
