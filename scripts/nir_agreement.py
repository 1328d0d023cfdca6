"""Per-layer spike agreement of an imported NIR graph with its float64 reference, by weight width.

    python scripts/nir_agreement.py [tests/fixtures/nir/cnn_sinabs.nir] [--samples 16]
        [--steps 100] [--rate 0.05] [--bits 8 16] [--seed 0] [--reset subtract]

Random 0/1 event inputs of the graph's input shape (N-MNIST: 2×34×34), seeded; for each weight
width the integer network (``frontends.load_model(..., weight_bits=b)``) and the reference
(``frontends.reference``) run the same spikes, and each spiking layer's share of equal spikes
(every neuron, step and sample) is printed, with the share of equal predictions. The README's
figures come from this script with its defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurosim import frontends, functional

ROOT = Path(__file__).resolve().parents[1]


def agreement(
    path: Path, bits: int, spikes: np.ndarray, reset: str | None
) -> tuple[dict[str, float], float]:
    net = frontends.load_model(path, weight_bits=bits, num_steps=spikes.shape[1], reset=reset)
    trace = functional.run(net, spikes)
    ref = frontends.reference(path, reset=reset)(spikes)
    layers = {
        lt.name: float(np.mean(lt.spikes == ref.spikes[lt.name]))
        for lt in trace.layers
        if lt.name in ref.spikes
    }
    return layers, float(np.mean(trace.predictions == ref.predictions))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("graph", nargs="?", default=str(ROOT / "tests/fixtures/nir/cnn_sinabs.nir"))
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rate", type=float, default=0.05)
    p.add_argument("--bits", type=int, nargs="+", default=[8, 16])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reset", choices=["zero", "value", "subtract"], help="reset override")
    args = p.parse_args()
    path = Path(args.graph)
    shape = frontends.load_model(path).shapes["input"]
    rng = np.random.default_rng(args.seed)
    spikes = (rng.random((args.samples, args.steps, *shape)) < args.rate).astype(np.uint8)
    results = {b: agreement(path, b, spikes, args.reset) for b in args.bits}
    names = list(results[args.bits[0]][0])
    print(
        f"{path.name}: {args.samples} samples, T = {args.steps}, input rate {args.rate}, "
        f"seed {args.seed}, reset {args.reset or 'as the file says'}"
    )
    print("| layer | " + " | ".join(f"{b}-bit weights" for b in args.bits) + " |")
    print("|---|" + "---|" * len(args.bits))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{results[b][0][name]:.4f}" for b in args.bits) + " |")
    print("| predictions | " + " | ".join(f"{results[b][1]:.4f}" for b in args.bits) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
