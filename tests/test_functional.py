"""Functional simulation: exact equivalences with the integer quantized ANN, op counts."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim import convert, functional, ir, qann, schemes
from neurosim.errors import ModelError, OverflowDetected
from neurosim.functional import batch
from neurosim.kernels import if_scan
from neurosim.schemes import integrate_fire
from tests.conftest import random_codes, random_qann

SEEDS = st.integers(0, 100_000)


def _assert_levels_match(snn, trace, ref, count):
    """Every spiking layer's per-neuron count (the ``count`` of its spikes) equals M."""
    for lay in snn.spiking_layers():
        spikes = trace.layer(lay.name).spikes.astype(np.int64)
        got = count(lay.neuron, spikes)
        np.testing.assert_array_equal(got, ref.levels[lay.name], err_msg=lay.name)
    np.testing.assert_array_equal(trace.output_int, ref.output_int)


def _if_count(neuron, spikes):
    return spikes.sum(axis=0)


def _tsa_value(neuron, spikes):
    tc = neuron.coding_steps
    w = (2 ** np.arange(tc - 1, -1, -1)).reshape((tc,) + (1,) * (spikes.ndim - 1))
    return (spikes * w).sum(axis=0)


def _lmht_count(neuron, spikes):
    return spikes.sum(axis=0)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, residual=st.booleans())
def test_mtif_always_aligned_counts_equal_ann_levels(seed, residual):
    """MT-SNN Theorem 1 (neuron-models §1.6): N^l = M^l = clip(rhu(T^l·P, Θ), 0, T^l)."""
    net = random_qann(seed, residual=residual)
    snn = convert.convert(net, "mtif", align="always")
    codes = random_codes(net, 5, seed)
    trace = functional.run(snn, codes)
    ref = functional.evaluate_levels(snn, codes)
    _assert_levels_match(snn, trace, ref, _if_count)
    for lay in snn.spiking_layers():
        assert trace.layer(lay.name).num_steps == lay.neuron.steps == net.layer(lay.name).act.levels


def test_integer_ann_matches_float_quantized_ann_closely():
    """The integer ANN differs from the float one only by the 2^-f rounding of Θ and B."""
    net = random_qann(11)
    codes = random_codes(net, 50, 1)
    snn = convert.convert(net, "mtif", align="always", frac_bits=12)
    ints = functional.evaluate_levels(snn, codes)
    flt = qann.forward(net, codes)
    for name, levels in flt.levels.items():
        assert np.mean(ints.levels[name] == levels) > 0.98, name


def test_paper_alignment_mode_aligns_only_when_t_differs():
    """'when_T_differs' (MT-SNN Alg. 1) propagates raw spikes between equal-T layers.

    conv1 (T=4) → fc1 (T=4): raw per-step currents, checked against the IF kernel fed with
    the per-step input T·Σ W·s_t << f + B. With T differing the result equals 'always'.
    """
    net = random_qann(5, levels=(4, 4, 4, 4))
    codes = random_codes(net, 6, 2)
    raw = convert.convert(net, "mtif")
    tr = functional.run(raw, codes)
    fc1 = raw.layer("fc1")
    s = tr.layer("conv1").spikes.astype(np.int64)
    pooled = s.reshape(4, 6, s.shape[2], s.shape[3] // 2, 2, s.shape[4] // 2, 2).sum((4, 6))
    x = 4 * pooled.reshape(4, 6, -1)
    cur = ((x @ fc1.weight.T.astype(np.int64)) << fc1.shift) + fc1.bias
    expect, _ = if_scan(cur, 4, fc1.neuron.threshold)
    np.testing.assert_array_equal(tr.layer("fc1").spikes, expect)
    assert "alignment_ops" not in tr.layer("fc1").ops

    mixed = random_qann(5, levels=(8, 1, 1, 4))
    a = functional.run(convert.convert(mixed, "mtif"), codes)
    b = functional.run(convert.convert(mixed, "mtif", align="always"), codes)
    np.testing.assert_array_equal(a.output_int, b.output_int)
    # fc1 (T=4) reads conv1 (T=8) through the pool: Alg. 1 costs T^{l-1} − 1 adds per neuron.
    assert a.layer("fc1").total("alignment_ops") == 6 * 6 * (8 - 1)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, residual=st.booleans(), tc=st.integers(2, 5))
def test_sws_exact_when_silent_period_covers_coding(seed, residual, tc):
    """SWS with Ts ≥ Tc is exact: A = clip(rhu(X, Θ), 0, A_max) in every layer (§2.5)."""
    net = random_qann(seed, residual=residual, in_levels=2**tc - 1)
    snn = convert.convert(net, "sws", coding_steps=tc, silent_steps=tc)
    codes = random_codes(net, 4, seed)
    trace = functional.run(snn, codes)
    ref = functional.evaluate_levels(snn, codes)
    _assert_levels_match(snn, trace, ref, _tsa_value)


def test_sws_residual_skip_delay_is_ts_per_skipped_layer():
    snn = convert.convert(random_qann(4, residual=True), "sws", coding_steps=4, silent_steps=2)
    # res.conv2 is non-spiking; the main path holds one TSA layer (res.conv1) the skip lacks.
    assert snn.layer("res.add").delays == (0, 2)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, residual=st.booleans(), t=st.integers(1, 3), lv=st.integers(1, 4))
def test_lmht_uniform_equals_qcfs_with_tl_levels(seed, residual, t, lv):
    """Uniform Ω, λ = 1, v0 = θ/2, θ = ϑ/L: Σ_t k(t) = clip(rhu(T·P, Θ), 0, T·L) (§3.3)."""
    net = random_qann(seed, residual=residual, levels=(t * lv,))
    snn = convert.convert(net, "lmht", num_steps=t, num_levels=lv, exact=True)
    codes = random_codes(net, 4, seed)
    trace = functional.run(snn, codes)
    ref = functional.evaluate_levels(snn, codes)
    _assert_levels_match(snn, trace, ref, _lmht_count)
    # ... and that integer ANN is the float quantized ANN with Q = T·L (up to Θ rounding).
    flt = qann.forward(net, codes)
    for name, levels in flt.levels.items():
        assert np.mean(levels == ref.levels[name]) >= 0.9, name


def test_lmht_exact_mode_requires_q_equal_tl():
    net = random_qann(2, levels=(4,))
    with pytest.raises(
        ModelError,
        match=r"layer 'conv1': exact LM-HT conversion needs levels "
        r"Q = T·L = 8, the layer has Q = 4",
    ):
        convert.convert(net, "lmht", num_steps=2, num_levels=4, exact=True)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, t=st.integers(1, 3), lv=st.integers(1, 4))
def test_lmht_reparameterised_equals_multilevel_unless_saturated(seed, t, lv):
    """Block spike counts of the T·L-step IF form equal the levels k wherever J ≤ L·Θ (§3.2).

    Checked on the first layer, whose constant input current P is known: with uniform Ω each
    step gets J = P, so the condition is P ≤ L·Θ per neuron.
    """
    net = random_qann(seed, levels=(t * lv,))
    snn = convert.convert(net, "lmht", num_steps=t, num_levels=lv)
    rep = schemes.reparameterize(snn)
    codes = random_codes(net, 4, seed)
    multi = functional.run(snn, codes).layer("conv1").spikes.astype(np.int64)
    binary = functional.run(rep, codes).layer("conv1")
    assert binary.num_steps == t * lv
    blocks = binary.spikes.astype(np.int64).reshape(t, lv, *multi.shape[1:]).sum(axis=1)
    conv1 = snn.layer("conv1")
    p = functional._BatchRun(snn, np.asarray(codes, np.int64), "ann", False).current(
        conv1, "const"
    )[0]
    ok = p <= lv * conv1.neuron.threshold.reshape(-1, 1, 1)
    np.testing.assert_array_equal(blocks[:, ok], multi[:, ok])


def test_op_counts_by_hand():
    """A 2-pixel input → fc1 (3 neurons, T=2) → fc2 (2 outputs): counts worked by hand."""
    layers = (
        ir.Input(name="in", shape=(2,), scale=1.0, levels=3),
        ir.Linear(
            name="fc1",
            inputs=("in",),
            weight=np.array([[1, 0], [0, 1], [1, 1]], np.int8),
            weight_scale=np.ones(3),
            bias=np.zeros(3),
            act=ir.ActQuant(2, 2.0),
        ),
        ir.Linear(
            name="fc2",
            inputs=("fc1",),
            weight=np.ones((2, 3), np.int8),
            weight_scale=np.ones(2),
            bias=np.zeros(2),
        ),
    )
    net = ir.Network(layers=layers, kind="qann", name="hand")
    snn = convert.convert(net, "if", num_steps=2)
    # Input [2, 0]: z = [2, 0, 2]; θ = 2, V0 = 1 → U = 3 (fire, V = 1), 3 (fire) for z = 2;
    # z = 0 never fires. Spikes per step: [2, 2]; ACs of fc2 = 2 spikes × 2 fan-out per step.
    tr = functional.run(snn, np.array([[2, 0]]))
    fc1 = tr.layer("fc1")
    np.testing.assert_array_equal(fc1.spikes[:, 0], [[1, 0, 1], [1, 0, 1]])
    assert fc1.ops["spikes"].tolist() == [2, 2]
    assert fc1.ops["first_layer_macs"].tolist() == [3 * 2]
    assert fc1.ops["neuron_updates"].tolist() == [3, 3]
    assert tr.layer("fc2").ops["synaptic_ops"].tolist() == [4, 4]
    assert tr.per_sample("synaptic_ops") == 8


def test_overflow_is_raised_not_wrapped():
    """One neuron, w = −127, input 15, f = 8: P = −127·15·256 = −487680 per step, Θ = 256.

    A 16-bit doubled membrane holds 2Θ = 512 but not U2 = 256 − 2·487680 after one step.
    """
    layers = (
        ir.Input(name="in", shape=(1,), scale=1.0, levels=15),
        ir.Linear(
            name="fc1",
            inputs=("in",),
            weight=np.array([[-127]], np.int8),
            weight_scale=np.ones(1),
            bias=np.zeros(1),
            act=ir.ActQuant(8, 1.0),
        ),
        ir.Linear(
            name="out",
            inputs=("fc1",),
            weight=np.ones((1, 1), np.int8),
            weight_scale=np.ones(1),
            bias=np.zeros(1),
        ),
    )
    snn = convert.convert(ir.Network(layers=layers, kind="qann"), "mtif", mem_bits=16)
    assert snn.layer("fc1").neuron.threshold.tolist() == [256]
    with pytest.raises(OverflowDetected, match=r"layer .fc1.: membrane overflow at step 1"):
        functional.run(snn, np.array([[15]]))
    assert functional.run(snn, np.array([[0]])).output_int.tolist() == [[0]]


def test_bad_inputs_are_rejected():
    snn = convert.convert(random_qann(3), "if")
    with pytest.raises(ModelError, match=r"input codes must lie in \[0, 15\]"):
        functional.run(snn, np.full((1, *snn.input.shape), 16))
    with pytest.raises(ModelError, match="inputs must be"):
        functional.run(snn, np.zeros((1, 9, 9, 9), np.int64))
    with pytest.raises(ModelError, match="needs a converted SNN"):
        functional.run(random_qann(3), np.zeros((1, *snn.input.shape), np.int64))


def test_trace_frame_and_batches_join():
    net = random_qann(9)
    snn = convert.convert(net, "if", num_steps=3)
    codes = random_codes(net, 7, 0)
    whole = functional.run(snn, codes)
    parts = functional.run(snn, codes, batch_size=3)
    np.testing.assert_array_equal(whole.output_int, parts.output_int)
    assert whole.total("synaptic_ops") == parts.total("synaptic_ops")
    df = whole.to_frame()
    assert set(df.columns) == {"layer", "op", "step", "count"}
    assert df["count"].sum() == sum(int(np.sum(v)) for lt in whole.layers for v in lt.ops.values())


def test_residual_branch_conv_counts_its_synaptic_ops():
    """res.conv2 (no activation) accumulates res.conv1's spikes: ACs = spikes × fan-out."""
    net = random_qann(6, residual=True, levels=(2,))
    snn = convert.convert(net, "mtif")
    tr = functional.run(snn, random_codes(net, 3, 0))
    spikes = tr.layer("res.conv1").spikes
    conv2 = snn.layer("res.conv2")
    # 3×3 kernel, padding 1: an input pixel reaches 9 outputs inside, fewer on the border.
    h = spikes.shape[-1]
    reach = np.zeros((h, h), np.int64)
    for y in range(h):
        for x in range(h):
            reach[y, x] = (min(y + 1, h - 1) - max(y - 1, 0) + 1) * (
                min(x + 1, h - 1) - max(x - 1, 0) + 1
            )
    expect = (spikes.astype(np.int64) * reach).sum(axis=(1, 2, 3, 4)) * conv2.out_channels
    np.testing.assert_array_equal(tr.layer("res.conv2").ops["synaptic_ops"], expect)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=SEEDS, t=st.sampled_from([2, 3, 4, 8]), residual=st.booleans())
def test_step_gain_folds_change_no_spike(seed, t, residual, monkeypatch):
    """``if`` at T steps reads IF spikes as T × binary events. With T a power of two the gain
    joins the IF scan's shift, or a residual Add's channel gains, instead of a multiply pass
    over the sums: every spike, op count and output equals the run with both folds off."""
    net = random_qann(seed, residual=residual)
    snn = convert.convert(net, "if", num_steps=t)
    codes = random_codes(net, 3, seed)
    folded = functional.run(snn, codes)
    with monkeypatch.context() as m:
        m.setattr(integrate_fire, "MAX_SHIFT", -64)
        m.setattr(batch, "_MAX_GAIN_SHIFT", -1)
        plain = functional.run(snn, codes)
    np.testing.assert_array_equal(folded.output_int, plain.output_int)
    for a, b in zip(folded.layers, plain.layers, strict=True):
        np.testing.assert_array_equal(a.spikes, b.spikes, err_msg=a.name)
        assert a.ops.keys() == b.ops.keys()
        for op in a.ops:
            np.testing.assert_array_equal(a.ops[op], b.ops[op], err_msg=f"{a.name} {op}")


def test_batches_are_capped_by_memory_and_change_nothing(monkeypatch):
    """max_batch: PASS_BYTES // (16 bytes × max(steps, 4) × largest layer); a run cut into
    batches of that size gives the same spikes, op counts and outputs as one batch."""
    net = random_qann(5, residual=True)
    snn = convert.convert(net, "if", num_steps=4)
    codes = random_codes(net, 7, 5)
    largest = max(int(np.prod(snn.shapes[lay.name])) for lay in snn.layers)
    assert functional.max_batch(snn) == functional.PASS_BYTES // (16 * 4 * largest)
    whole = functional.run(snn, codes)
    monkeypatch.setattr(functional, "PASS_BYTES", 16 * 4 * largest * 3)
    assert functional.max_batch(snn) == 3
    parts = functional.run(snn, codes)
    assert parts.batch_size == whole.batch_size == 7
    np.testing.assert_array_equal(parts.output_int, whole.output_int)
    for a, b in zip(parts.layers, whole.layers, strict=True):
        if b.spikes is not None:
            np.testing.assert_array_equal(a.spikes, b.spikes)
        for key in b.ops:
            np.testing.assert_array_equal(a.ops[key], b.ops[key])
    light = whole.without_spikes()
    assert all(lt.spikes is None for lt in light.layers)
    assert light.inputs is None
    assert light.total("synaptic_ops") == whole.total("synaptic_ops")


def test_batches_join_into_the_trace_of_one_batch():
    """functional.run in batches of 1 and 3 (joined by TraceJoin as they finish) gives the
    one-batch trace exactly: spikes, op counts, outputs and inputs; Trace.concat agrees."""
    for net, scheme in [
        (random_qann(3, residual=residual), scheme)
        for residual in (False, True)
        for scheme in ("if", "mtif", "sws", "lmht")
    ]:
        codes = random_codes(net, 7, 1)
        snn = convert.convert(net, scheme)
        whole = functional.run(snn, codes, batch_size=7)
        parts = [functional.run(snn, codes[i : i + 3], batch_size=3) for i in range(0, 7, 3)]
        one_by_one = functional.run(snn, codes, batch_size=1)
        for lt in one_by_one.layers:
            if lt.spikes is not None and lt.family not in (None, "encoder"):
                # The scans wrote each sample's spikes in place: sample-major, not copied.
                assert np.moveaxis(lt.spikes, 1, 0).flags.c_contiguous
        for joined in (
            one_by_one,
            functional.run(snn, codes, batch_size=3),
            parts[0].concat(*parts[1:]),
        ):
            assert joined.batch_size == whole.batch_size
            for a, b in zip(joined.layers, whole.layers, strict=True):
                assert (a.name, a.num_steps, a.shape, a.spike_levels) == (
                    b.name,
                    b.num_steps,
                    b.shape,
                    b.spike_levels,
                )
                if b.spikes is None:
                    assert a.spikes is None
                else:
                    assert a.spikes.dtype == b.spikes.dtype
                    np.testing.assert_array_equal(a.spikes, b.spikes)
                assert a.ops.keys() == b.ops.keys()
                for k in b.ops:
                    assert a.ops[k].dtype == b.ops[k].dtype
                    np.testing.assert_array_equal(a.ops[k], b.ops[k])
            for x, y in [
                (joined.outputs, whole.outputs),
                (joined.output_int, whole.output_int),
                (joined.predictions, whole.predictions),
                (joined.inputs, whole.inputs),
            ]:
                assert x.dtype == y.dtype
                np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("scheme", ["if", "mtif", "sws", "lmht"])
def test_known_form_bounds_only_save_passes(monkeypatch, scheme):
    """A reader's sums use a spiking source's known peak (through pooling) as their a priori
    bound: the currents keep the dtypes (and the trace the values) that measuring each sum's
    peak gives."""
    for residual in (False, True):
        net = random_qann(11, residual=residual)
        snn = convert.convert(net, scheme)
        codes = random_codes(net, 3, 2)
        seen: dict[bool, list] = {}
        traces = {}
        original = batch._BatchRun._weighted_sum
        for measured in (False, True):
            log: list = []

            def weighted_sum(self, lay, form, *args, log=log, original=original, **kwargs):
                p, extra = original(self, lay, form, *args, **kwargs)
                log.append((lay.name, form, p.dtype, extra))
                return p, extra

            monkeypatch.setattr(batch._BatchRun, "_weighted_sum", weighted_sum)
            if measured:
                monkeypatch.setattr(batch._BatchRun, "_form_bound", lambda self, n, f: None)
            traces[measured] = functional.run(snn, codes)
            seen[measured] = log
        monkeypatch.undo()
        assert seen[False]
        assert seen[False] == seen[True]
        for a, b in zip(traces[False].layers, traces[True].layers, strict=True):
            if b.spikes is not None:
                np.testing.assert_array_equal(a.spikes, b.spikes)
        np.testing.assert_array_equal(traces[False].output_int, traces[True].output_int)


def test_sws_const_form_is_the_encoded_value_made_on_demand():
    """A TSA layer's const form, made only when read, is A = Σ_τ a_τ·2^(Tc−τ) of its slots."""
    from tests.reference.tsa import encoded_value

    net = random_qann(4)
    snn = convert.convert(net, "sws", coding_steps=4, silent_steps=1)
    run = batch._BatchRun(snn, random_codes(net, 3, 4), "snn", True)
    for lay in snn.spiking_layers():
        steps = run.value(lay.name, "steps")
        # The steps form is the ternary spikes: readers know its peak without a pass.
        assert run.peak[(lay.name, "steps")] == np.abs(steps).max(initial=0)
        assert (lay.name, "const") in run.lazy
        const = run.value(lay.name, "const")
        assert const.dtype == np.int64
        np.testing.assert_array_equal(const[0], encoded_value(steps))


def test_lmht_steps_form_is_made_on_demand():
    """An LM-HT layer's steps form T·k (read by a trained T-GIM) is made only when read, in
    the narrowest dtype, with the known peak T·max k; its const form is Σ_t k."""
    net = random_qann(6)
    snn = convert.convert(net, "lmht", num_steps=2, num_levels=3)
    run = batch._BatchRun(snn, random_codes(net, 3, 6), "snn", True)
    for lay in snn.spiking_layers():
        levels = run.value(lay.name, "events") is not None and run.spikes[lay.name]
        assert (lay.name, "steps") in run.lazy
        steps = run.value(lay.name, "steps")
        assert steps.dtype == np.int16
        np.testing.assert_array_equal(steps, 2 * levels.astype(np.int64))
        assert run.peak[(lay.name, "steps")] == 2 * int(levels.max(initial=0))
        const = run.value(lay.name, "const")
        np.testing.assert_array_equal(const[0], levels.astype(np.int64).sum(axis=0))
