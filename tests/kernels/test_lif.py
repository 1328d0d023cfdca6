"""Tests of the integer LIF kernel: known answers, reset modes, leak rounding, overflow, and
bit-for-bit equality with the plain-Python reference (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import ModelError, OverflowDetected
from neurosim.kernels.lif import lif_scan
from tests.reference.lif import lif_scan_reference


def _column(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64).reshape(-1, 1, 1)


def test_leak_half_reset_zero_known_answer() -> None:
    """λ = 1/2 (λ_int = 1, h = 1), Θ = 10, strict, reset to zero, I = [8, 8, 8, 0, 12].

    V: ⌊0/2⌋+8 = 8; ⌊8/2⌋+8 = 12 > 10 fire → 0; 0+8 = 8; ⌊8/2⌋+0 = 4; ⌊4/2⌋+12 = 14 fire → 0.
    """
    spikes, v = lif_scan(
        _column([8, 8, 8, 0, 12]), 5, np.array([10]), leak=1, leak_bits=1, keep_membrane=True
    )
    assert spikes[:, 0, 0].tolist() == [0, 1, 0, 0, 1]
    assert v.tolist() == [[0]]


def test_reset_modes_and_compare() -> None:
    """Θ = 4, no leak, I = 5 every step, 3 steps.

    subtract: 5 fire → 1, 6 fire → 2, 7 fire → 3 (final 3); zero: 5 → 0 each step (final 0);
    value −2: 5 → −2, 3 (no spike), 8 fire → −2. Non-strict at I = 4: 4 ≥ 4 fires every step,
    strict never does (4, 8 fire → 0, 4 with reset zero: [0, 1, 0]).
    """
    th = np.array([4])
    sub, v = lif_scan(_column([5]), 3, th, reset="subtract", keep_membrane=True)
    assert sub[:, 0, 0].tolist() == [1, 1, 1]
    assert v.tolist() == [[3]]
    zero, v = lif_scan(_column([5]), 3, th, reset="zero", keep_membrane=True)
    assert zero[:, 0, 0].tolist() == [1, 1, 1]
    assert v.tolist() == [[0]]
    val, v = lif_scan(_column([5]), 3, th, reset="value", v_reset=-2, keep_membrane=True)
    assert val[:, 0, 0].tolist() == [1, 0, 1]
    assert v.tolist() == [[-2]]
    loose, _ = lif_scan(_column([4]), 3, th, strict=False)
    assert loose[:, 0, 0].tolist() == [1, 1, 1]
    tight, _ = lif_scan(_column([4]), 3, th, strict=True)
    assert tight[:, 0, 0].tolist() == [0, 1, 0]


def test_leak_rounding_floor_versus_toward_zero() -> None:
    """λ = 3/4 (λ_int = 3, h = 2) on V0 = −5 with no input: floor gives ⌊−15/4⌋ = −4,
    toward zero gives −3; then ⌊−12/4⌋ = −3 and ⌈−9/4⌉ = −2."""
    cur = _column([0, 0])
    init = np.array([-5])
    _, floor = lif_scan(cur, 2, np.array([9]), leak=3, leak_bits=2, v_init=init, keep_membrane=True)
    _, zero = lif_scan(
        cur,
        2,
        np.array([9]),
        leak=3,
        leak_bits=2,
        v_init=init,
        leak_rounding="zero",
        keep_membrane=True,
    )
    assert floor.tolist() == [[-3]]
    assert zero.tolist() == [[-2]]


def test_bias_shift_and_held_current() -> None:
    """A [1, B, n] current is held: I = 1 << 2 = 4 plus bias 1 = 5 per step, Θ = 9 strict,
    subtract: 5, 10 fire → 1, 6, 11 fire → 2."""
    spikes, v = lif_scan(
        _column([1]),
        4,
        np.array([9]),
        shift=2,
        bias=np.array([1]),
        reset="subtract",
        keep_membrane=True,
    )
    assert spikes[:, 0, 0].tolist() == [0, 1, 0, 1]
    assert v.tolist() == [[2]]


def test_synaptic_current_known_answer() -> None:
    """A current-based LIF: α = 1/2 (J ← ⌊J/2⌋ + q), λ = 1 (no leak), Θ = 9 strict, reset to
    zero, q = 8 then 0s: J = 8, 4, 2, 1; V = 8, 12 > 9 fires → 0, 2, 3."""
    spikes, v = lif_scan(
        _column([8, 0, 0, 0]),
        4,
        np.array([9]),
        syn_leak=1,
        syn_leak_bits=1,
        keep_membrane=True,
    )
    assert spikes[:, 0, 0].tolist() == [0, 1, 0, 0]
    assert v.tolist() == [[3]]


def test_overflow_is_raised_with_layer_and_step() -> None:
    """int8 membrane (±127): 100, then 200 > 127 at step 2."""
    with pytest.raises(OverflowDetected, match=r"layer 'fc': membrane overflow at step 2"):
        lif_scan(_column([100]), 3, np.array([126]), mem_bits=8, layer="fc")


def test_bad_arguments_name_the_layer() -> None:
    cur = _column([1])
    with pytest.raises(ModelError, match="layer 'x': reset must be one of"):
        lif_scan(cur, 2, np.array([3]), reset="soft", layer="x")
    with pytest.raises(ModelError, match=r"leak must lie in \[0, 2\^2\]"):
        lif_scan(cur, 2, np.array([3]), leak=5, leak_bits=2, layer="x")
    with pytest.raises(ModelError, match="v_reset 200 does not fit the int8 membrane"):
        lif_scan(cur, 2, np.array([3]), reset="value", v_reset=200, mem_bits=8, layer="x")
    with pytest.raises(ModelError, match="int64 headroom"):
        lif_scan(cur, 2, np.array([3]), leak=1 << 20, leak_bits=20, mem_bits=60, layer="x")


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    steps=st.integers(1, 6),
    batch=st.integers(1, 3),
    n=st.integers(1, 5),
    bits=st.integers(0, 4),
    reset=st.sampled_from(["zero", "value", "subtract"]),
    strict=st.booleans(),
    toward_zero=st.booleans(),
    held=st.booleans(),
    shift=st.integers(0, 3),
    synaptic=st.booleans(),
)
def test_kernel_equals_reference(
    data, steps, batch, n, bits, reset, strict, toward_zero, held, shift, synaptic
) -> None:
    """Random currents (negative too), leaks, synaptic decays, thresholds, resets, drives and
    starts: every spike and the final membrane equal the plain-Python reference."""
    ints = st.integers(-40, 40)
    q = 1 if held else steps
    cur = np.array(data.draw(st.lists(ints, min_size=q * batch * n, max_size=q * batch * n)))
    cur = cur.reshape(q, batch, n).astype(np.int64)

    def vec(lo: int, hi: int) -> np.ndarray:
        return np.array(data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)))

    kw = {
        "leak": vec(0, 1 << bits),
        "leak_bits": bits,
        "reset": reset,
        "v_reset": vec(-20, 20),
        "v_init": vec(-30, 30),
        "bias": vec(-5, 5),
        "drive": vec(-3, 3),
        "syn_leak": vec(0, 1 << bits) if synaptic else None,
        "syn_leak_bits": bits,
        "shift": shift,
        "strict": strict,
    }
    theta = vec(1, 60)
    counted = np.full(steps, -1, np.int64)
    got, v = lif_scan(
        cur,
        steps,
        theta,
        **kw,
        leak_rounding="zero" if toward_zero else "floor",
        mem_bits=40,
        keep_membrane=True,
        step_spikes=counted,
    )
    want, v_ref = lif_scan_reference(cur, steps, theta, **kw, toward_zero=toward_zero)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(v, v_ref)
    # The spikes the scan counts per step are the reference's.
    np.testing.assert_array_equal(counted, want.reshape(steps, -1).sum(axis=1))


def test_int32_and_int64_currents_agree() -> None:
    rng = np.random.default_rng(3)
    cur = rng.integers(-50, 50, size=(5, 2, 3000))
    th = rng.integers(1, 80, size=3000)
    a, _ = lif_scan(cur.astype(np.int32), 5, th, leak=7, leak_bits=3, reset="subtract")
    b, _ = lif_scan(cur.astype(np.int64), 5, th, leak=7, leak_bits=3, reset="subtract")
    np.testing.assert_array_equal(a, b)
