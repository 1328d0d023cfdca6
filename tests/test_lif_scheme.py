"""The ``lif`` scheme: a known answer through the functional pass, the conversion that is the
``if`` neuron exactly, the leak priced as a multiply at membrane width, options and errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurosim import convert, energy, experiment, functional, ir
from neurosim.errors import ModelError, OverflowDetected, UnsupportedError
from neurosim.hw.energy_table import load_energy_table
from neurosim.schemes import LIF, LIFSpec
from neurosim.schemes.lif import leak_fixed_point


def _tiny(reset: str = "subtract") -> ir.Network:
    """Two input spike trains over 3 steps → one LIF neuron (W = [1, 2], Θ = 2, λ = 1/2)."""
    spec = LIFSpec(
        threshold=np.array([2]), max_level=3, steps=3, leak=np.array([1]), leak_bits=1, reset=reset
    )
    return ir.Network(
        layers=(
            ir.Input(name="in", shape=(2,), levels=1, steps=3),
            ir.Linear(name="fc", inputs=("in",), weight=np.array([[1, 2]], np.int8), neuron=spec),
        ),
        kind="snn",
        scheme=LIF.name,
    )


def test_known_answer_through_the_functional_pass():
    """Spikes (1,1), (0,1), (1,0) give currents 3, 2, 1. V: ⌊0/2⌋+3 = 3 > 2 fires → 3−2 = 1;
    ⌊1/2⌋+2 = 2, not > 2; ⌊2/2⌋+1 = 2, no spike. Output: one spike (a spiking output layer
    reads out its spike counts). Ops per step: one update, one compare, one leak multiply;
    synaptic ops = input spikes × fan-out 1 = 2, 1, 1."""
    net = _tiny()
    spikes = np.array([[[1, 1], [0, 1], [1, 0]]], np.uint8)
    trace = functional.run(net, spikes)
    lt = trace.layer("fc")
    assert lt.spikes[:, 0, 0].tolist() == [1, 0, 0]
    assert trace.output_int.tolist() == [[1]]
    assert trace.outputs.tolist() == [[1.0]]
    assert lt.ops["leak_mults"].tolist() == [1, 1, 1]
    assert lt.ops["neuron_updates"].tolist() == [1, 1, 1]
    assert lt.ops["synaptic_ops"].tolist() == [2, 1, 1]
    assert trace.layer("in").ops["spikes"].tolist() == [2, 1, 1]
    # Reset to zero: V = 0 after the spike, then 2, then ⌊2/2⌋+1 = 2: the same spikes here.
    zero = functional.run(_tiny("zero"), spikes)
    assert zero.layer("fc").spikes[:, 0, 0].tolist() == [1, 0, 0]


def test_leak_is_priced_as_a_multiply_at_membrane_width():
    """energy.md: a leak is one multiply of membrane width per neuron and step."""
    net = _tiny()
    trace = functional.run(net, np.ones((2, 3, 2), np.uint8))
    table = load_energy_table("horowitz_45nm")
    eb = energy.estimate(trace, table, network=net)
    row = eb.per_layer[eb.per_layer["component"] == "leak"].iloc[0]
    assert row["count"] == 3  # 3 leak multiplies per inference (2 samples, 6 in total)
    assert row["unit"] == "mults"
    assert row["energy_pj_per_unit"] == pytest.approx(table.op_energy("mult", 32))


def test_converted_lif_is_the_if_neuron_spike_for_spike():
    """λ = 1, reset by subtraction, V0 = ⌊Θ/2⌋, fire at V ≥ Θ: for integer currents
    ⌊Θ/2⌋ + ΣP ≥ Θ ⟺ Θ/2 + ΣP ≥ Θ, so every spike equals the if scheme's."""
    net, images, _ = experiment.resolve_model(None, None, 60)
    a = functional.run(convert.convert(net, "if", num_steps=8), images)
    lif = convert.convert(net, "lif", num_steps=8)
    assert all(n.leak is None and n.gain == 8 for n in lif.neurons())
    b = functional.run(lif, images)
    for la, lb in zip(a.layers, b.layers, strict=True):
        if la.spikes is not None and la.family is not None:
            np.testing.assert_array_equal(la.spikes, lb.spikes, err_msg=la.name)
    np.testing.assert_array_equal(a.output_int, b.output_int)
    assert b.total("leak_mults") == 0
    leaky = functional.run(convert.convert(net, "lif", num_steps=8, leak=0.9375), images)
    assert leaky.total("leak_mults") > 0
    assert leaky.per_sample("spikes") < b.per_sample("spikes")  # the leak drains the membranes


def test_leak_fixed_point_uses_the_fewest_exact_bits():
    lam, bits = leak_fixed_point([0.5, 0.75])
    assert (lam.tolist(), bits) == ([2, 3], 2)
    lam, bits = leak_fixed_point(0.96, 16)
    assert bits == 16
    assert lam.tolist() == [62915]
    with pytest.raises(ModelError, match=r"leak λ must lie in \[0, 1\]"):
        leak_fixed_point(1.5)


def test_options_labels_and_errors():
    assert LIF.label({"num_steps": 8, "leak": 0.9375}) == "lif T=8 leak=0.9375"
    with pytest.raises(ModelError, match=r"leak must be a number in \[0, 1\], got 2"):
        LIF.options.parse("lif", {"leak": 2})
    assert LIF.options.parse("lif", {"leak": "0.5"}).leak == 0.5  # the command line's string
    net = experiment.load_network(None)
    snn = convert.convert(net, "lif", num_steps=4)
    with pytest.raises(UnsupportedError, match="was converted with T = 4"):
        LIF.with_steps(snn, 8)
    small = _tiny()
    fc = small.layer("fc")
    narrow = ir.Network(
        layers=(
            small.input,
            dataclasses.replace(
                fc,
                weight=np.array([[2, 2]], np.int8),
                neuron=dataclasses.replace(fc.neuron, mem_bits=3),
            ),
        ),
        kind="snn",
        scheme=LIF.name,
    )
    # int3 membrane (±3), W = [2, 2]: currents 2, 0, 2 give V = 2, 1, 2 (no spike, fits);
    # currents 2 then 4 give ⌊2/2⌋ + 4 = 5 > 3 at step 2.
    ok = functional.run(narrow, np.array([[[1, 0], [0, 0], [0, 1]]], np.uint8))
    assert ok.layer("fc").spikes.sum() == 0
    with pytest.raises(OverflowDetected, match="layer 'fc': membrane overflow at step 2"):
        functional.run(narrow, np.array([[[1, 0], [1, 1], [1, 1]]], np.uint8))
