"""Must-show: a NIR graph whose weights and thresholds are exactly representable runs bit for bit
like the float64 reference of the graph's own semantics — IF and LIF, every reset mode, conv and
linear, sum and average pooling — and an exported IF/LIF graph is, for another framework, the same
network."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neurosim import frontends, functional
from neurosim.frontends import nir as nir_frontend
from tests.nir_graphs import exact_graph, neuron, random_spikes, write

nir = pytest.importorskip("nir")

STEPS = 12


def _compare(trace, ref) -> int:
    """Assert every spike of every spiking layer equals the reference's; returns the spikes."""
    total = 0
    for lt in trace.layers:
        if lt.name in ref.spikes:
            np.testing.assert_array_equal(lt.spikes, ref.spikes[lt.name], err_msg=lt.name)
            total += int(lt.spikes.sum())
    np.testing.assert_array_equal(trace.outputs, ref.outputs)
    np.testing.assert_array_equal(trace.predictions, ref.predictions)
    return total


@pytest.mark.parametrize("pool", ["sum", "avg"])
@pytest.mark.parametrize("reset", [None, "value", "subtract"])
@pytest.mark.parametrize(
    "kinds",
    [
        ("IF", "IF", "IF"),
        ("LIF2", "LIF4", "LIF2"),
        ("LIF4", "IF", "LIF2"),
        ("CUBA", "LIF2", "CUBA"),
    ],
)
def test_exactly_representable_graph_is_bit_identical(tmp_path, kinds, reset, pool):
    """Every spike of every layer at every step equals the float reference's.

    reset None: the file's reset to zero; "value": the file's v_reset (k/4, per neuron);
    "subtract": the override. LIF leaks 1/2 and 3/4 (and a CubaLIF's synaptic decay 1/2) need
    one and two fraction bits per step: frac_bits = 20 keeps the 12 steps exact; IF layers take
    the automatic fraction bits, which the importer picks exact (thresholds k/4 over weights k/8).
    """
    graph = exact_graph(kinds, pool, seed=len(kinds[0]) + len(pool), value_reset=reset == "value")
    path = write(graph, tmp_path / "exact.nir")
    leaky = any(k != "IF" for k in kinds)
    options = {"reset": "subtract"} if reset == "subtract" else {}
    net = frontends.load_model(
        path, num_steps=STEPS, **options, **({"frac_bits": 20} if leaky else {})
    )
    assert all(n.reset == (reset or "zero") for n in net.neurons())
    spikes = random_spikes((2, 8, 8), STEPS, batch=5, rate=0.3, seed=1)
    trace = functional.run(net, spikes)
    ref = frontends.reference(path, **options)(spikes)
    fired = _compare(trace, ref)
    assert fired > 50  # the comparison is not of silent layers
    # Every layer fires, so each neuron kind and pooling path is exercised.
    assert all(lt.spikes.any() for lt in trace.layers if lt.name in ref.spikes)


def test_if_graph_takes_exact_fraction_bits_without_options(tmp_path):
    """Weights k/8 make s_w = 1/8 exactly; thresholds k/4 over r = 2 are k/8 = k' LSBs of the
    unshifted sum: the automatic rule keeps them exact and adds bits only for 2^16-LSB
    thresholds, so the spikes are exact with default options."""
    path = write(exact_graph(("IF", "IF", "IF"), "sum", 3, value_reset=False), tmp_path / "a.nir")
    net = frontends.load_model(path, num_steps=STEPS)
    conv = net.layer("c0")
    assert conv.neuron.leak is None
    assert conv.neuron.strict
    assert np.all(net.layer("fc").weight == np.round(net.layer("fc").weight))
    theta = conv.neuron.threshold.astype(float) * conv.out_scale.repeat(64) * 2  # θ_u·g
    raw = nir.read(str(path)).nodes["n0"].v_threshold.reshape(-1)
    np.testing.assert_array_equal(theta, raw)
    spikes = random_spikes((2, 8, 8), STEPS, batch=3, rate=0.3, seed=2)
    _compare(functional.run(net, spikes), frontends.reference(path)(spikes))


@pytest.mark.parametrize(
    "kinds", [("IF", "IF", "IF"), ("LIF2", "LIF4", "LIF2"), ("CUBA", "IF", "LIF4")]
)
@pytest.mark.parametrize("value_reset", [False, True])
def test_exported_graph_is_the_same_network_for_other_frameworks(tmp_path, kinds, value_reset):
    """Import → export: the exported file passes nir.read's type checks; read from its NIR
    primitives (not neurosim's metadata) its float reference spikes exactly as the integer
    network and as the original file's reference."""
    src = write(exact_graph(kinds, "avg", 7, value_reset=value_reset), tmp_path / "src.nir")
    net = frontends.load_model(src, num_steps=STEPS, frac_bits=20)
    out = frontends.export_model(net, tmp_path / "out.nir")
    graph = nir.read(str(out))  # type_check=True: every edge's shapes agree
    assert {type(n).__name__ for n in graph.nodes.values()} >= {"Conv2d", "SumPool2d", "Affine"}
    want = {"IF": "IF", "CUBA": "CubaLIF"}.get(kinds[0], "LIF")
    assert type(graph.nodes["c0.neuron"]).__name__ == want
    spikes = random_spikes((2, 8, 8), STEPS, batch=4, rate=0.3, seed=3)
    trace = functional.run(net, spikes)
    seen = nir_frontend.reference(out)(spikes)
    _compare(trace, seen)
    original = frontends.reference(src)(spikes)
    for name, z in original.spikes.items():
        np.testing.assert_array_equal(seen.spikes[name], z)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_random_exact_chains_are_bit_identical(tmp_path_factory, data):
    """Hypothesis over the reader and the quantizer: random chains Input → Conv (kernel, stride,
    padding, dilation, groups drawn) → neuron → optional pool → Flatten → Affine → neuron with
    exact values run spike for spike like the float reference."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    size, k = draw(st.integers(4, 8)), draw(st.integers(1, 3))
    stride, pad, dil = draw(st.integers(1, 2)), draw(st.integers(0, 1)), draw(st.integers(1, 2))
    out = (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
    assume(out >= 2)
    kinds = [draw(st.sampled_from(["IF", "LIF2", "LIF4", "CUBA"])) for _ in range(2)]
    reset = draw(st.sampled_from([None, "value", "subtract"]))
    pool = draw(st.sampled_from([None, "sum", "avg"]))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([c_in, size, size])}),
        "c": nir.Conv2d(
            (size, size),
            rng.integers(-8, 9, (c_out, c_in // groups, k, k)) / 8.0,
            stride,
            pad,
            dil,
            groups,
            rng.integers(-4, 5, c_out) / 8.0,
        ),
        "n": neuron(kinds[0], (c_out, out, out), rng, value_reset=reset == "value"),
    }
    shape = (c_out, out, out)
    if pool is not None:
        cls = nir.SumPool2d if pool == "sum" else nir.AvgPool2d
        nodes["p"] = cls(np.array([2, 2]), np.array([2, 2]), np.array([0, 0]))
        shape = (c_out, out // 2, out // 2)
    n = int(np.prod(shape))
    nodes["f"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
    nodes["a"] = nir.Affine(rng.integers(-8, 9, (3, n)) / 8.0, rng.integers(-4, 5, 3) / 8.0)
    nodes["m"] = neuron(kinds[1], (3,), rng, value_reset=reset == "value")
    nodes["output"] = nir.Output(output_type={"output": np.array([3])})
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)), type_check=False)
    path = write(graph, tmp_path_factory.mktemp("h") / "g.nir")
    options = {"reset": "subtract"} if reset == "subtract" else {}
    net = frontends.load_model(path, num_steps=8, frac_bits=20, mem_bits=48, **options)
    spikes = random_spikes((c_in, size, size), 8, batch=2, rate=0.4, seed=int(rng.integers(99)))
    _compare(functional.run(net, spikes), frontends.reference(path, **options)(spikes))
