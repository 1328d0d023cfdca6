"""Event inputs: binning (t, x, y, p) into frames, the ``spikes`` array of inputs files, and the
checks ``functional.run`` makes on given spikes."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import functional
from neurosim.errors import ModelError
from neurosim.io import bin_events, load_inputs, save_spike_inputs


def test_bin_events_known_answer():
    """1 ms bins (t in µs) on a 3×2 sensor (W = 3, H = 2): events at 0, 999 µs fall in step 0,
    1000 in step 1, 2500 in step 2; two events of one pixel and polarity in one bin make one
    spike; polarity −1 is channel 0."""
    t = [0, 999, 999, 1000, 2500]
    x = [0, 2, 2, 1, 0]
    y = [1, 0, 0, 1, 0]
    p = [1, -1, -1, 1, 0]
    frames = bin_events(t, x, y, p, sensor_size=(3, 2), bin_width=1000)
    assert frames.shape == (3, 2, 2, 3)
    assert frames.dtype == np.uint8
    assert frames.sum() == 4
    assert frames[0, 1, 1, 0] == 1
    assert frames[0, 0, 0, 2] == 1
    assert frames[1, 1, 1, 1] == 1
    assert frames[2, 0, 0, 0] == 1
    # A fixed number of steps: later events dropped, missing steps empty.
    assert bin_events(t, x, y, p, sensor_size=(3, 2), bin_width=1000, num_steps=2).sum() == 3
    assert bin_events(t, x, y, p, sensor_size=(3, 2), bin_width=1000, num_steps=5).shape[0] == 5
    # Only num_steps: [0, 2500] split evenly in 5 bins of 500 µs (999 and 1000 in bin 1), the
    # last event in the last bin.
    even = bin_events(t, x, y, p, sensor_size=(3, 2), num_steps=5)
    assert [int(even[k].sum()) for k in range(5)] == [1, 2, 0, 0, 1]
    assert even[4, 0, 0, 0] == 1
    with pytest.raises(ModelError, match=r"event 0 \(x=5, y=0, p=0\) lies outside the sensor 3x2"):
        bin_events([0], [5], [0], [0], sensor_size=(3, 2), bin_width=1)


def test_inputs_file_holds_spikes_time_first_and_loads_batch_first(tmp_path):
    spikes = np.zeros((4, 3, 2, 5), np.uint8)  # [T, N, ...]
    spikes[2, 1, 0, 3] = 1
    path = save_spike_inputs(tmp_path / "ev.npz", spikes, labels=[0, 1, 2])
    data, labels = load_inputs(path)
    assert data.shape == (3, 4, 2, 5)
    assert data[1, 2, 0, 3] == 1
    assert data.sum() == 1
    assert labels.tolist() == [0, 1, 2]
    per_sample = save_spike_inputs(tmp_path / "b.npz", [spikes[:, i] for i in range(3)])
    assert np.array_equal(load_inputs(per_sample)[0], data)
    bad = tmp_path / "bad.npz"
    np.savez(bad, spikes=np.full((2, 1, 3), 2))
    with pytest.raises(ModelError, match="spikes must be 0 or 1"):
        load_inputs(bad)
    np.savez(bad, spikes=np.zeros((2, 1, 3)), images=np.zeros((1, 3)))
    with pytest.raises(ModelError, match="holds both 'images' and 'spikes'"):
        load_inputs(bad)


def test_functional_run_checks_given_spikes():
    from neurosim import ir
    from neurosim.schemes import LIF, LIFSpec

    net = ir.Network(
        layers=(
            ir.Input(name="in", shape=(3,), levels=1, steps=2),
            ir.Linear(
                name="fc",
                inputs=("in",),
                weight=np.ones((1, 3), np.int8),
                neuron=LIFSpec(threshold=np.array([1]), max_level=2, steps=2),
            ),
        ),
        kind="snn",
        scheme=LIF.name,
    )
    with pytest.raises(ModelError, match=r"takes spikes \[batch, 2, 3\]"):
        functional.run(net, np.zeros((1, 3), np.uint8))
    with pytest.raises(ModelError, match="input spikes must be 0 or 1"):
        functional.run(net, np.full((1, 2, 3), 3))
    with pytest.raises(ModelError, match=r"a spike raster \(steps > 0\) has levels 1"):
        ir.Input(name="in", shape=(3,), levels=255, steps=2).infer_shape([])
    trace = functional.run(net, np.array([[[1, 1, 0], [0, 0, 1]]], np.uint8))
    # Reset by subtraction (the spec's default): 2 > 1 fires → 1; 1 + 1 = 2 > 1 fires again.
    assert trace.layer("fc").spikes[:, 0, 0].tolist() == [1, 1]
    assert trace.inputs is None
    assert trace.layer("in").spikes.shape == (2, 1, 3)
