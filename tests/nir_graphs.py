"""NIR graphs built in the tests with the ``nir`` package (no file from elsewhere needed).

``exact_graph`` holds only values that are integers times a power of two — weights k/8, biases
k/8, thresholds k/4, reset values k/4, leaks 1/2 or 3/4 (τ = 2·dt or 4·dt), gains r = 1 or 2 —
CubaLIF synaptic decay 1/2 — so both the integer path and the float64 reference compute them
without rounding.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

nir = __import__("pytest").importorskip("nir")

DT = 1e-4
FIXTURES = Path(__file__).parent / "fixtures" / "nir"


def _w(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-8, 9, size=shape) / 8.0


def neuron(kind: str, shape: tuple[int, ...], rng: np.random.Generator, *, value_reset: bool):
    """An IF (r = 2), LIF (λ = 1/2 or 3/4, r = 1, v_leak k/4) or CubaLIF (α = 1/2, λ = 3/4) node
    with per-neuron thresholds."""
    theta = rng.integers(1, 8, size=shape) / 4.0
    v_reset = rng.integers(-3, 1, size=shape) / 4.0 if value_reset else np.zeros(shape)
    if kind == "IF":
        return nir.IF(r=np.full(shape, 2.0), v_threshold=theta, v_reset=v_reset)
    if kind == "CUBA":
        # α = 1 − dt/τ_syn = 1/2, λ = 3/4, gain (dt/τ_mem)·r·(dt/τ_syn)·w_in = 1/4·1·1/2·4 = 1/2.
        return nir.CubaLIF(
            tau_syn=np.full(shape, 2 * DT),
            tau_mem=np.full(shape, 4 * DT),
            r=np.ones(shape),
            v_leak=np.zeros(shape),
            v_threshold=theta,
            v_reset=v_reset,
            w_in=np.full(shape, 4.0),
        )
    tau = np.full(shape, (2.0 if kind == "LIF2" else 4.0) * DT)
    return nir.LIF(
        tau=tau,
        r=np.ones(shape),
        v_leak=rng.integers(-1, 2, size=shape) / 4.0,
        v_threshold=theta,
        v_reset=v_reset,
    )


def exact_graph(kinds: tuple[str, str, str], pool: str, seed: int, *, value_reset: bool):
    """Input 2×8×8 → Conv 3×3 (pad 1) → neuron → pool 2×2 → Conv 3×3 /2 (pad 1) → neuron →
    Flatten → Affine 24→5 → neuron → Output."""
    rng = np.random.default_rng(seed)
    pool_node = (nir.SumPool2d if pool == "sum" else nir.AvgPool2d)(
        np.array([2, 2]), np.array([2, 2]), np.array([0, 0])
    )
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 8, 8])}),
        "c0": nir.Conv2d((8, 8), _w(rng, (4, 2, 3, 3)), 1, 1, 1, 1, _w(rng, (4,))),
        "n0": neuron(kinds[0], (4, 8, 8), rng, value_reset=value_reset),
        "p0": pool_node,
        "c1": nir.Conv2d((4, 4), _w(rng, (6, 4, 3, 3)), 2, 1, 1, 1, _w(rng, (6,))),
        "n1": neuron(kinds[1], (6, 2, 2), rng, value_reset=value_reset),
        "f": nir.Flatten(input_type={"input": np.array([6, 2, 2])}, start_dim=0),
        "fc": nir.Affine(_w(rng, (5, 24)), _w(rng, (5,))),
        "n2": neuron(kinds[2], (5,), rng, value_reset=value_reset),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)))


def write(graph, path: Path) -> Path:
    nir.write(str(path), graph)
    return path


def chain(*nodes, type_check: bool = True):
    """A sequential graph input → nodes… → output with names '0', '1', …"""
    named = {
        "input": nodes[0],
        **{str(i): n for i, n in enumerate(nodes[1:-1])},
        "output": nodes[-1],
    }
    names = list(named)
    edges = list(itertools.pairwise(names))
    return nir.NIRGraph(nodes=named, edges=edges, type_check=type_check)


def random_spikes(shape: tuple[int, ...], steps: int, batch: int, rate: float, seed: int = 0):
    """Batch-first 0/1 spikes [batch, steps, *shape]."""
    rng = np.random.default_rng(seed)
    return (rng.random((batch, steps, *shape)) < rate).astype(np.uint8)
