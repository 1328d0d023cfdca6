"""NIR import: the NIR paper's graphs, every supported node, the reset override, event inputs
through ``run`` on both hardware families, and bad graphs failing with one line naming the node."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neurosim import cli, experiment, frontends, functional, hw, io
from neurosim.errors import ModelError, UnsupportedError
from tests.nir_graphs import FIXTURES, chain, random_spikes, write

nir = pytest.importorskip("nir")

CNN = FIXTURES / "cnn_sinabs.nir"
LIF = FIXTURES / "lif_norse.nir"


# --------------------------------------------------------------------------------------------
# The NIR paper's graphs
# --------------------------------------------------------------------------------------------


def test_cnn_sinabs_imports_as_the_papers_network():
    net = frontends.load_model(CNN)
    assert net.kind == "snn"
    assert net.scheme == "lif"
    assert net.input.steps == 16
    assert net.shapes["input"] == (2, 34, 34)
    assert [(lay.name, lay.op) for lay in net.layers] == [
        ("input", "input"),
        ("0", "conv2d"),
        ("2", "conv2d"),
        ("4", "avgpool2d"),
        ("5", "conv2d"),
        ("7", "avgpool2d"),
        ("8", "flatten"),
        ("9", "linear"),
        ("11", "linear"),
    ]
    assert [net.shapes[n] for n in ("0", "2", "4", "5", "7", "9", "11")] == [
        (16, 16, 16),
        (16, 16, 16),
        (16, 8, 8),
        (8, 8, 8),
        (8, 4, 4),
        (256,),
        (10,),
    ]
    conv = net.layer("0")
    assert (conv.stride, conv.padding) == (2, 1)
    # IF nodes: no leak, v_reset = 0 in the file → reset to zero, fire on V > Θ (NIR).
    for neuron in net.neurons():
        assert neuron.leak is None
        assert neuron.reset == "zero"
        assert neuron.strict
    assert net.layer("11").neuron is not None  # the graph ends in IF: spike-count outputs
    assert json.loads(json.dumps(net.meta))["nir_nodes"]["0"] == "0+1"
    # Per output channel 8-bit weights; θ = 1 becomes Θ = 1/σ_P ≥ 2^16 LSBs.
    assert conv.weight.dtype == np.int8
    assert int(np.abs(conv.weight).max()) == 127
    np.testing.assert_allclose(conv.neuron.threshold * conv.out_scale, 1.0, rtol=1e-5)
    assert conv.neuron.threshold.min() >= 2**16


def test_reset_override_for_subtractive_exporters():
    """Sinabs wrote its reset by subtraction as v_reset = 0: reset='subtract' restores it, in
    the integer network and in the float reference alike."""
    net = frontends.load_model(CNN, reset="subtract", num_steps=20)
    assert {n.reset for n in net.neurons()} == {"subtract"}
    spikes = random_spikes((2, 34, 34), 20, batch=2, rate=0.05)
    trace = functional.run(net, spikes)
    zero = frontends.reference(CNN)(spikes)
    sub = frontends.reference(CNN, reset="subtract")(spikes)
    assert sub.spikes["5"].sum() > zero.spikes["5"].sum()  # subtracting keeps the surplus
    agree = np.mean(trace.layer("0").spikes == sub.spikes["0"])
    assert agree > 0.99


def _agreement(bits: int, spikes: np.ndarray) -> dict[str, float]:
    net = frontends.load_model(CNN, weight_bits=bits, num_steps=spikes.shape[1])
    trace = functional.run(net, spikes)
    ref = frontends.reference(CNN)(spikes)
    return {
        lt.name: float(np.mean(lt.spikes == ref.spikes[lt.name]))
        for lt in trace.layers
        if lt.name in ref.spikes
    }


def test_cnn_sinabs_agreement_with_the_float_reference_grows_with_weight_bits():
    """Per layer, the share of equal spikes: every layer agrees better with 16-bit weights than
    with 8-bit ones (the README's table comes from scripts/nir_agreement.py)."""
    spikes = random_spikes((2, 34, 34), 40, batch=4, rate=0.05, seed=5)
    a8, a16 = _agreement(8, spikes), _agreement(16, spikes)
    assert list(a8) == ["0", "2", "5", "9", "11"]
    assert all(a16[k] >= a8[k] for k in a8)
    assert min(a8.values()) > 0.85
    assert min(a16.values()) > 0.98
    assert a8["0"] > 0.99  # the first layer sees the exact input spikes


@pytest.mark.parametrize("config", ["pe_array", "multicore"])
def test_cnn_sinabs_runs_on_event_inputs_on_both_families(tmp_path, config, capsys):
    """neurosim run --model cnn_sinabs.nir --inputs events.npz: the network follows the inputs'
    T, costs latency and energy on the hardware, and reports agreement with the reference."""
    spikes = random_spikes((2, 34, 34), 24, batch=3, rate=0.05, seed=9)
    events = io.save_spike_inputs(tmp_path / "ev.npz", np.swapaxes(spikes, 0, 1), [1, 2, 3])
    out = tmp_path / "run.json"
    argv = ["run", "--model", str(CNN), "--inputs", str(events), "--hw", config]
    code = cli.main([*argv, "--stream", "2", "--json", str(out), "--no-progress"])
    assert code == 0
    row = json.loads(out.read_text())["schemes"][0]
    assert row["scheme"] == "lif"
    assert row["mean_time_steps"] == 24
    assert row["latency_cycles"] > 0
    assert row["energy_pj"] > 0
    assert row["latency_us"] > 0
    assert row["spikes_per_inference"] > 0
    assert 0.9 < row["reference_spike_agreement"] <= 1
    assert "ann_agreement" not in row
    text = capsys.readouterr().out
    assert "spike agreement with the float reference, per layer" in text
    # The same figures through the Python API, with the trace's input events costed.
    net, images, labels = experiment.resolve_model(str(CNN), str(events), None)
    assert net.input.steps == 24
    assert images.shape == (3, 24, 2, 34, 34)
    ev = experiment.evaluate(
        net,
        images,
        labels,
        "lif",
        {},
        hw.load(config),
        stream=2,
        float_reference=experiment.float_reference(str(CNN)),
    )
    assert ev.row["latency_cycles"] == row["latency_cycles"]
    assert ev.trace.layer("input").total("spikes") == int(spikes.sum())
    assert list(ev.reference_layers["layer"]) == ["0", "2", "5", "9", "11"]


def test_an_imported_snn_runs_as_it_is(tmp_path, capsys):
    """table compares conversions of an ANN: an SNN model is refused; run takes no other scheme;
    a sweep over hardware fields costs it like any model."""
    events = io.save_spike_inputs(tmp_path / "ev.npz", np.ones((5, 2, 1), np.uint8))
    model = ["--model", str(LIF), "--inputs", str(events), "--no-progress"]
    assert cli.main(["table", *model, "--out", str(tmp_path / "t")]) == 2
    assert "already a 'lif' SNN: the table compares conversion" in capsys.readouterr().err
    assert cli.main(["run", *model, "--scheme", "if"]) == 2
    assert "is already a 'lif' SNN and runs as it is" in capsys.readouterr().err
    from neurosim.sweep import SweepSpec, run_sweep

    spec = SweepSpec.from_dict(
        {
            "meta": {"name": "nir"},
            "base": {
                "hw": "multicore_tiny",
                "model": str(LIF),
                "inputs": str(events),
                "stream": 1,
                "scheme": "lif",
            },
            "axes": {"core.synops_per_cycle": [1, 2]},
        }
    )
    table = run_sweep(spec, tmp_path / "sweep", workers=1).table
    assert (table["status"] == "ok").all()
    assert (table["latency_cycles"] > 0).all()


def test_lif_norse_imports_and_matches_a_hand_computed_trace():
    """One LIF neuron, τ = 2.5 ms, θ = 0.1, r = 1, dt = 1e-4: λ = 1 − dt/τ = 0.96, gain
    dt/τ = 0.04, so in u = v/0.04 units u_t = 0.96·u + x_t and θ_u = 2.5. A spike every step:
    u = 1, 1.96, 2.8816 > 2.5 fires at step 3 and resets to 0, so every third step fires."""
    net = frontends.load_model(LIF, num_steps=9)
    neuron = net.layers[1].neuron
    assert neuron.leak_bits == 16
    assert neuron.leak.tolist() == [round(0.96 * 2**16)]
    spikes = np.ones((1, 9, 1), np.uint8)
    trace = functional.run(net, spikes)
    assert trace.layer("0").spikes[:, 0, 0].tolist() == [0, 0, 1] * 3
    ref = frontends.reference(LIF)(spikes)
    np.testing.assert_array_equal(ref.spikes["0"], trace.layer("0").spikes)
    # dt is explicit: 1e-3 gives λ = 0.6 and gain 0.4, θ_u = 0.25 → a spike every step.
    fast = frontends.load_model(LIF, num_steps=3, dt=1e-3)
    assert functional.run(fast, spikes[:, :3]).layer("0").spikes.ravel().tolist() == [1, 1, 1]


def test_run_retimes_an_imported_network_to_its_inputs():
    net = frontends.load_model(LIF, num_steps=4)
    longer = experiment.fit_inputs(net, np.zeros((2, 11, 1), np.uint8))
    assert longer.input.steps == 11
    assert longer.neurons()[0].steps == 11
    with pytest.raises(ModelError, match="takes event inputs: inputs needs an array 'spikes'"):
        experiment.fit_inputs(net, np.zeros((2, 1), np.int64))
    with pytest.raises(ModelError, match="layer 'input': the network runs 4 steps"):
        functional.run(net, np.zeros((1, 5, 1), np.uint8))


# --------------------------------------------------------------------------------------------
# Every supported node
# --------------------------------------------------------------------------------------------


def _w(rng, shape):
    return rng.integers(-8, 9, size=shape) / 8.0


def test_conv1d_groups_dilation_scale_threshold_and_cuba_lif(tmp_path):
    """Conv1d (padding 2, dilation 2, groups 2) over (C, L), a Scale after it, IF; a Scale
    before an Affine; a Threshold node; a CubaLIF with τ_syn = dt (its synaptic current is the
    input): all exact values, so the integer spikes equal the reference's."""
    rng = np.random.default_rng(4)
    graph = chain(
        nir.Input(input_type={"input": np.array([4, 10])}),
        nir.Conv1d(10, _w(rng, (6, 2, 3)), 1, 2, 2, 2, _w(rng, (6,))),
        nir.Scale(scale=np.full((6, 10), 2.0)),
        nir.IF(r=np.ones((6, 10)), v_threshold=rng.integers(1, 8, (6, 10)) / 4.0),
        nir.Flatten(input_type={"input": np.array([6, 10])}, start_dim=0),
        nir.Scale(scale=np.full(60, 0.5)),
        nir.Affine(_w(rng, (7, 60)), _w(rng, (7,))),
        nir.Threshold(threshold=np.full(7, 0.25)),
        nir.Linear(_w(rng, (5, 7))),
        nir.CubaLIF(
            tau_syn=np.full(5, 1e-4),
            tau_mem=np.full(5, 2e-4),
            r=np.full(5, 2.0),
            v_leak=np.zeros(5),
            v_threshold=np.full(5, 0.5),
            w_in=np.ones(5),
        ),
        nir.Output(output_type={"output": np.array([5])}),
        type_check=False,
    )
    path = write(graph, tmp_path / "g.nir")
    net = frontends.load_model(path, num_steps=10, frac_bits=16)
    assert net.shapes["input"] == (4, 1, 10)
    assert net.layer("0").weight.shape == (6, 2, 3, 3)
    assert net.layer("0").groups == 2
    assert net.layer("0").dilation == 2
    spikes = random_spikes((4, 1, 10), 10, batch=3, rate=0.3, seed=6)
    trace = functional.run(net, spikes)
    ref = frontends.reference(path)(spikes)
    for lt in trace.layers:
        if lt.name in ref.spikes:
            np.testing.assert_array_equal(lt.spikes, ref.spikes[lt.name], err_msg=lt.name)
            assert lt.spikes.any()
    np.testing.assert_array_equal(trace.outputs, ref.outputs)


def test_conv1d_without_padding_counts_its_synaptic_ops(tmp_path):
    """Conv1d over L = 10, kernel 4, stride 2, no padding: a 1×4 kernel on (C, 1, L); output
    L' = 4. All-ones input: every (output, tap) pair reads one input, so per step the synaptic
    ops are Co·L'·Ci·4 = 3·4·2·4 = 96."""
    rng = np.random.default_rng(1)
    graph = chain(
        nir.Input(input_type={"input": np.array([2, 10])}),
        nir.Conv1d(10, _w(rng, (3, 2, 4)), 2, 0, 1, 1, np.zeros(3)),
        nir.IF(r=np.ones((3, 4)), v_threshold=np.ones((3, 4))),
        nir.Output(output_type={"output": np.array([3, 4])}),
        type_check=False,
    )
    net = frontends.load_model(write(graph, tmp_path / "c.nir"), num_steps=2)
    assert net.layer("0").weight.shape == (3, 2, 1, 4)
    trace = functional.run(net, np.ones((1, 2, 2, 1, 10), np.uint8))
    assert trace.layer("0").ops["synaptic_ops"].tolist() == [96, 96]


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)), r"node '1' \(LI\): not supp"),
        (nir.Delay(delay=np.ones(3)), r"node '1' \(Delay\): not supported: a per-edge delay"),
        (nir.I(r=np.ones(3)), r"node '1' \(I\): not supported: an integrator without spikes"),
    ],
)
def test_unsupported_nodes_say_so(tmp_path, node, message):
    graph = chain(
        nir.Input(input_type={"input": np.array([3])}),
        nir.Affine(np.eye(3), np.zeros(3)),
        node,
        nir.Output(output_type={"output": np.array([3])}),
        type_check=False,
    )
    with pytest.raises(UnsupportedError, match=message):
        frontends.load_model(write(graph, tmp_path / "u.nir"))


# --------------------------------------------------------------------------------------------
# Bad graphs: one line naming the node
# --------------------------------------------------------------------------------------------


def _small(**lif):
    params = {
        "tau": np.full(4, 1e-3),
        "r": np.ones(4),
        "v_leak": np.zeros(4),
        "v_threshold": np.ones(4),
        **lif,
    }
    return [
        nir.Input(input_type={"input": np.array([3])}),
        nir.Affine(np.ones((4, 3)), np.zeros(4)),
        nir.LIF(**params),
        nir.Output(output_type={"output": np.array([4])}),
    ]


def _unknown(tmp_path):
    path = write(chain(*_small()), tmp_path / "bad.nir")
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/type"]
        f["node/nodes/1"].create_dataset("type", data="Spiky", dtype=h5py.string_dtype())
    return path


def _recurrent(tmp_path):
    g = chain(*_small(), type_check=False)
    g.edges.append(("1", "0"))
    return write(g, tmp_path / "bad.nir")


def _shape(tmp_path):
    return write(
        chain(
            *_small(v_threshold=np.ones(3), tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)),
            type_check=False,
        ),
        tmp_path / "bad.nir",
    )


def _nan(tmp_path):
    nodes = _small()
    nodes[1] = nir.Affine(np.array([[1.0, np.nan, 0.0]] * 4), np.zeros(4))
    return write(chain(*nodes, type_check=False), tmp_path / "bad.nir")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_unknown, r"node '1': unknown NIR node type 'Spiky'"),
        (_recurrent, r"node '0' \(Affine\): recurrent edge from '1'"),
        (
            _shape,
            r"node '1' \(LIF\): parameter 'v_threshold' has shape \(3,\), its input \(from "
            r"node '0'\) is \(4,\)",
        ),
        (_nan, r"node '0' \(Affine\): parameter 'weight' has NaN or infinite values"),
    ],
)
def test_bad_graphs_fail_with_one_line_naming_the_node(tmp_path, capsys, make, message):
    path = make(tmp_path)
    with pytest.raises(ModelError, match=message) as err:
        frontends.load_model(path)
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)
    code = cli.main(["import", str(path), "-o", str(tmp_path / "m.npz")])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("neurosim: error:")


def test_without_the_nir_package_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "nir.serialization", None)
    with pytest.raises(UnsupportedError, match=r'pip install "neurosim-snn\[nir\]"'):
        frontends.load_model(LIF)
