"""One functional pass for schemes that fire alike: a ``lif`` conversion at its defaults is the
``if`` neuron (``Scheme.spikes_like``), so ``run`` and ``table`` carry the ``if`` trace over,
relabelled, instead of simulating again; the carried trace and every row figure equal those of
a pass of their own."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import cli, cli_parser, convert, evaluations, experiment, functional, hw
from neurosim.trace import Trace
from tests.conftest import random_codes, random_qann


def assert_traces_equal(a: Trace, b: Trace) -> None:
    """Every field of two traces equal: labels, op counts, spikes, outputs, meta."""
    for f in dataclasses.fields(Trace):
        if f.name != "layers":
            x, y = getattr(a, f.name), getattr(b, f.name)
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                np.testing.assert_array_equal(x, y, err_msg=f.name)
                assert np.asarray(x).dtype == np.asarray(y).dtype, f.name
            else:
                assert x == y, f.name
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert (la.name, la.op, la.family, la.num_steps, la.shape, la.spike_levels) == (
            lb.name,
            lb.op,
            lb.family,
            lb.num_steps,
            lb.shape,
            lb.spike_levels,
        )
        assert la.ops.keys() == lb.ops.keys(), la.name
        for op in la.ops:
            np.testing.assert_array_equal(la.ops[op], lb.ops[op], err_msg=f"{la.name} {op}")
        if la.spikes is None:
            assert lb.spikes is None
        else:
            np.testing.assert_array_equal(la.spikes, lb.spikes, err_msg=la.name)


def test_a_carried_if_trace_is_the_lif_trace_of_the_bundled_model(bundled):
    net, images, _ = bundled
    source = convert.convert(net, "if", num_steps=8)
    target = convert.convert(net, "lif", num_steps=8)
    assert functional.same_spikes(source, target)
    carried = functional.carry_trace(functional.run(source, images[:40]), target)
    assert_traces_equal(carried, functional.run(target, images[:40]))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), residual=st.booleans(), steps=st.integers(1, 12))
def test_a_carried_if_trace_is_the_lif_trace_of_random_networks(seed, residual, steps):
    net = random_qann(seed, residual=residual)
    codes = random_codes(net, 3, seed)
    source = convert.convert(net, "if", num_steps=steps)
    target = convert.convert(net, "lif", num_steps=steps)
    assert functional.same_spikes(source, target)
    carried = functional.carry_trace(functional.run(source, codes), target)
    assert_traces_equal(carried, functional.run(target, codes))


@pytest.mark.parametrize(
    "options",
    [
        {"leak": 0.9375},
        {"v_init": "zero"},
        {"strict": True},
        {"reset": "zero"},
        {"num_steps": 4},
    ],
)
def test_a_lif_that_is_not_the_if_neuron_runs_its_own_pass(bundled, options):
    """A leak, V0 = 0, firing above Θ, a reset to zero or another T: not the ``if`` network."""
    net, _, _ = bundled
    source = convert.convert(net, "if", num_steps=8)
    target = convert.convert(net, "lif", **{"num_steps": 8, **options})
    assert not functional.same_spikes(source, target)


def test_a_trace_is_carried_only_from_the_scheme_that_owns_the_dynamics(bundled):
    """``if`` → ``lif`` only: never ``lif`` → ``if`` (the ``if`` pass's doubled membrane has
    its own overflow check), nor between networks of one scheme or with other weights."""
    net, _, _ = bundled
    a = convert.convert(net, "if", num_steps=8)
    b = convert.convert(net, "lif", num_steps=8)
    assert not functional.same_spikes(b, a)
    assert not functional.same_spikes(a, convert.convert(net, "if", num_steps=8))
    layers = list(b.layers)
    i = next(i for i, lay in enumerate(layers) if getattr(lay, "weight", None) is not None)
    weight = layers[i].weight.copy()
    weight.flat[0] += 1 if weight.flat[0] < 127 else -1
    layers[i] = dataclasses.replace(layers[i], weight=weight)
    changed = dataclasses.replace(b, layers=tuple(layers))
    assert not functional.same_spikes(a, changed)


def test_run_reuses_the_if_pass_for_lif_with_every_figure_equal(bundled, functional_runs):
    """``neurosim run``'s five schemes: four functional passes (each all images plus the timed
    stream), and the ``lif`` row equal to the one ``evaluate`` gives on its own."""
    net, images, labels = bundled
    images, labels = images[:48], labels[:48]
    schemes_run = functional_runs
    args = cli_parser.build_parser().parse_args(["run", "--samples", "48"])
    table, evals = cli.run_table(net, images, labels, ["if", "mtif", "lif"], args)
    # Two groups, (if, lif) and (mtif), run side by side: their passes may interleave.
    assert sorted(schemes_run) == ["if", "if", "mtif", "mtif"]
    # No setting is left to carry a pass over: no functional half (its spikes) is kept.
    assert [ev.functional for ev in evals.values()] == [None, None, None]
    config = hw.load("pe_array")
    alone = experiment.evaluate(net, images, labels, "lif", {"num_steps": 8}, config)
    assert schemes_run[-2:] == ["lif", "lif"]
    carried = evals["lif"]
    assert carried.row == alone.row
    assert_traces_equal(carried.trace, alone.trace)
    assert carried.timing.latency_cycles == alone.timing.latency_cycles
    assert carried.energy.total_pj == alone.energy.total_pj
    got = table.loc[table["scheme"] == "lif"].reset_index(drop=True)
    want = pd.DataFrame([{k: alone.row[k] for k in table.columns}])
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_settings_that_fire_alike_form_one_group_and_groups_keep_their_order(bundled):
    """``share_groups``: ``if``, ``mtif``, ``lif`` (T = 8), ``lif`` (T = 4) make the groups
    (if, lif 8), (mtif), (lif 4): a group's later settings carry its first one's pass; a
    setting that could not be prepared (None) is a group of its own."""
    net, _, _ = bundled
    snns = [
        convert.convert(net, "if", num_steps=8),
        convert.convert(net, "mtif"),
        convert.convert(net, "lif", num_steps=8),
        convert.convert(net, "lif", num_steps=4),
    ]
    assert evaluations.share_groups(snns) == [[0, 2], [1], [3]]
    assert evaluations.share_groups(snns[1:]) == [[0], [1], [2]]
    assert evaluations.share_groups([snns[0], None, snns[2]]) == [[0, 2], [1]]
    assert evaluations.parallel_groups(1, 3) == 1
    assert evaluations.parallel_groups(4, 3) == 3
    assert evaluations.parallel_groups(None, 1) == 1
    # Side by side, each pass takes its share of one pass's batch memory bound.
    bound = functional.max_batch(snns[0])
    assert evaluations.shared_batch(snns[0], 256, 1) == 256
    assert evaluations.shared_batch(snns[0], 10**6, 2) == bound // 2
    assert evaluations.shared_batch(snns[0], 3, 2) == min(3, bound // 2)


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_run_rows_do_not_depend_on_how_many_settings_run_at_once(bundled, jobs, monkeypatch):
    """``--jobs``: the groups run side by side (each with its share of Numba's threads), and
    every row and trace equals the one-at-a-time run; no functional half is kept after; the
    quantized-ANN reference is computed once per run."""
    from neurosim import qann

    net, images, labels = bundled
    images, labels = images[:24], labels[:24]
    chosen = ["if", "mtif", "lif", "lmht"]
    calls = []
    real = qann.predict

    def predict(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(qann, "predict", predict)
    one = cli_parser.build_parser().parse_args(["run", "--jobs", "1"])
    many = cli_parser.build_parser().parse_args(["run", "--jobs", str(jobs)])
    want, want_evals = cli.run_table(net, images, labels, chosen, one)
    assert len(calls) == 1
    got, got_evals = cli.run_table(net, images, labels, chosen, many)
    assert len(calls) == 2
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    for s in chosen:
        assert got_evals[s].row == want_evals[s].row
        assert_traces_equal(got_evals[s].trace, want_evals[s].trace)
        assert got_evals[s].functional is None
