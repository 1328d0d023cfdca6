"""The bundled digits model: exactness and accuracy of every scheme on the held-out set."""

import numpy as np
import pytest

from neurosim import convert, functional, qann


def test_bundled_files_are_consistent(bundled):
    net, images, labels = bundled
    assert net.kind == "qann"
    assert images.shape[1:] == net.input.shape
    assert images.dtype == np.uint8
    assert images.max() <= net.input.levels
    ref = qann.forward(net, images)
    # The accuracy the training script measured and stored in the file.
    assert np.mean(ref.predictions == labels) == pytest.approx(net.meta["ann_test_accuracy"])
    assert np.mean(ref.predictions == labels) >= 0.95


def test_bundled_model_is_made_by_the_torch_front_end(bundled):
    """scripts/train_digits.py re-made it through neurosim.frontends.torch: int8 weights,
    rounding half to even, and the accuracy kept (97.04 % before; 97 % - 0.5 at least: it is
    97.96 %)."""
    net, images, labels = bundled
    assert net.meta["source_format"] == "torch"
    assert net.meta["trained_by"] == "scripts/train_digits.py"
    assert net.meta["weight_bits"] == 8
    assert {lay.act.rounding for lay in net.spiking_layers()} == {"half_even"}
    assert net.input.rounding == "half_even"
    accuracy = np.mean(qann.forward(net, images).predictions == labels)
    assert accuracy == pytest.approx(0.9796, abs=5e-5)
    assert accuracy >= 0.97 - 0.005


@pytest.mark.slow
def test_mtif_counts_equal_levels_on_bundled_model(bundled):
    """Aligned at every boundary: every neuron's N equals M, logits bit for bit (§1.6)."""
    net, images, _ = bundled
    snn = convert.convert(net, "mtif", align="always")
    trace = functional.run(snn, images)
    ref = functional.evaluate_levels(snn, images)
    for lay in snn.spiking_layers():
        counts = trace.layer(lay.name).spikes.sum(axis=0)
        np.testing.assert_array_equal(counts, ref.levels[lay.name])
    np.testing.assert_array_equal(trace.output_int, ref.output_int)
    # The integer ANN predicts as the float quantized ANN does (Θ rounded to 2^-8).
    assert np.mean(ref.predictions == qann.forward(net, images).predictions) >= 0.995


@pytest.mark.slow
def test_sws_within_one_point_of_ann(bundled):
    net, images, labels = bundled
    snn = convert.convert(net, "sws", coding_steps=8, silent_steps=2)
    acc = np.mean(functional.run(snn, images, keep_spikes=False).predictions == labels)
    ann = np.mean(qann.forward(net, images).predictions == labels)
    assert abs(acc - ann) <= 0.01
