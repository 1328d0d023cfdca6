"""Benchmark of the functional pass (issue: foundation, "Speed").

VGG-16 and ResNet-18 (CIFAR shapes, zoo weights calibrated to ~15 % firing), T = 4, batch 32,
scheme ``if``. For each model, in a fresh subprocess (so peak memory is the model's own):
images/s, synaptic ops/s, the dense-equivalent work rate (dense MACs × 2 per image × images/s)
and, measured in the same run, the machine's float32 GEMM rate on a conv-shaped product
((4096 × 4608) @ (4608 × 512), i.e. a 3×3×512 → 512 conv on a 64×64 output batch).

Dense MACs per image = Σ_layers Co·Ho·Wo·fan_in × T, except the direct-coded first layer,
counted once (a dense simulator would redo it every step; counting it once is conservative).

Usage: ``python scripts/bench_functional.py [--repeats 3] [--out bench_results/functional.json]
[--write-docs]`` (``--write-docs`` also rewrites this script's section of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import _benchdoc
import numpy as np
from gemm_reference import gemm_rate

TARGET_RATIO = 0.8
MEMORY_LIMIT_GIB = 4.0


def dense_macs(net, steps: int) -> int:
    """Dense MACs per image of the SNN (see the module docstring)."""
    from neurosim import ir

    total = 0
    for lay in net.layers:
        if isinstance(lay, ir.Conv2d | ir.Linear):
            out = int(np.prod(net.shapes[lay.name]))
            macs = out * int(np.prod(lay.weight.shape[1:]))
            first = lay.inputs[0] == net.input.name
            total += macs * (1 if first else steps)
    return total


def bench_model(name: str, steps: int, batch: int, repeats: int) -> dict:
    """Time ``functional.run`` on one zoo model (called in a subprocess)."""
    from neurosim import convert, functional, zoo

    net = zoo.build(name, dataset="cifar10", levels=steps, firing_rate=0.15)
    snn = convert.convert(net, "if", num_steps=steps)
    images = zoo.random_inputs(net, batch, seed=1)
    functional.run(snn, images[:2], batch_size=batch)  # JIT compile outside the timing
    best, trace = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        trace = functional.run(snn, images, batch_size=batch)
        best = min(best, time.perf_counter() - t0)
    syn = trace.total("synaptic_ops")
    spikes = sum(lt.total("spikes") for lt in trace.layers if lt.family == "if")
    neurons = sum(
        int(np.prod(lt.shape)) * lt.num_steps * batch for lt in trace.layers if lt.family == "if"
    )
    ips = batch / best
    macs = dense_macs(net, steps)
    return {
        "model": f"{name}_cifar10",
        "scheme": "if",
        "num_steps": steps,
        "batch": batch,
        "seconds": best,
        "images_per_s": ips,
        "synaptic_ops_per_s": syn / best,
        "firing_rate": spikes / neurons,
        "dense_macs_per_image": macs,
        "dense_equiv_flops_per_s": 2 * macs * ips,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet18"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench_results/functional.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    _benchdoc.add_argument(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(bench_model(args.child, args.steps, args.batch, args.repeats)))
        return 0
    # GEMM is measured before and after the models and the faster figure kept: on a shared
    # machine the rate swings by ±20 % between runs, and the faster one is the harder target.
    gemm_before = gemm_rate(repeats=10)
    rows = []
    for name in args.models:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
                "--repeats",
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    gemm = max(gemm_before, gemm_rate(repeats=10))
    for row in rows:
        row["gemm_flops_per_s"] = gemm
        row["ratio_to_gemm"] = row["dense_equiv_flops_per_s"] / gemm
    print(f"float32 GEMM (4096x4608 @ 4608x512): {gemm / 1e9:.1f} GFLOP/s")
    print(
        f"{'model':<18}{'img/s':>8}{'synops/s':>12}{'fire':>7}{'dense GFLOP/s':>15}"
        f"{'x GEMM':>8}{'peak GiB':>10}"
    )
    for r in rows:
        print(
            f"{r['model']:<18}{r['images_per_s']:>8.1f}{r['synaptic_ops_per_s']:>12.3g}"
            f"{r['firing_rate']:>7.3f}{r['dense_equiv_flops_per_s'] / 1e9:>15.1f}"
            f"{r['ratio_to_gemm']:>8.2f}{r['peak_rss_gib']:>10.2f}"
        )
    met = all(r["ratio_to_gemm"] >= TARGET_RATIO for r in rows) and all(
        r["peak_rss_gib"] < MEMORY_LIMIT_GIB for r in rows if r["model"].startswith("vgg16")
    )
    print(
        f"target: ratio >= {TARGET_RATIO}, VGG-16 peak memory < {MEMORY_LIMIT_GIB} GiB -> "
        f"{'met' if met else 'NOT met'}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"gemm_flops_per_s": gemm, "results": rows}, indent=2) + "\n")
    if args.write_docs:
        write_docs(args, rows, gemm, met)
    return 0


def write_docs(args: argparse.Namespace, rows: list[dict], gemm: float, met: bool) -> None:
    """Rewrite this script's section of docs/benchmarks.md (``--write-docs``)."""
    table = _benchdoc.markdown_table(
        [
            {
                **r,
                "dense_gflops": r["dense_equiv_flops_per_s"] / 1e9,
                "synaptic_gops": r["synaptic_ops_per_s"] / 1e9,
            }
            for r in rows
        ],
        [
            ("model", "model", ""),
            ("images_per_s", "images/s", ".1f"),
            ("synaptic_gops", "synaptic ops/s (G)", ".2f"),
            ("firing_rate", "firing rate", ".3f"),
            ("dense_gflops", "dense-equivalent GFLOP/s", ".1f"),
            ("ratio_to_gemm", "× GEMM", ".2f"),
            ("peak_rss_gib", "peak memory (GiB)", ".2f"),
        ],
    )
    text = _benchdoc.section(
        "bench_functional",
        "Functional pass (`scripts/bench_functional.py`)",
        what=(
            f"`functional.run` on zoo models (CIFAR-10 shapes, ~15 % firing), scheme `if`, "
            f"T = {args.steps}, batch {args.batch}, best of {args.repeats}, each model in a fresh "
            "process. The dense-equivalent rate is the dense MACs × 2 per image × images/s "
            "(the direct-coded first layer counted once); × GEMM divides it by the float32 GEMM "
            "rate measured in the same run."
        ),
        table=table,
        reference=(
            f"float32 GEMM (4096 × 4608) @ (4608 × 512): {gemm / 1e9:.1f} GFLOP/s "
            "(the faster of a measurement before and after the models)"
        ),
        target=(
            f"dense-equivalent rate ≥ {TARGET_RATIO} × GEMM for every model; VGG-16 peak memory "
            f"< {MEMORY_LIMIT_GIB:g} GiB"
        ),
        met=met,
    )
    print(f"written: {_benchdoc.write_section('bench_functional', text, args.write_docs)}")


if __name__ == "__main__":
    sys.exit(main())
