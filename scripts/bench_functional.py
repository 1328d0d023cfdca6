"""Benchmark of the functional pass and of the quantized-ANN reference (issues: foundation,
"Speed"; "speed at scale").

VGG-16 and ResNet-18 (CIFAR shapes, zoo weights calibrated to ~15 % firing), T = 4, batch 32,
scheme ``if``, on 1 and on 2 threads (Numba and BLAS). For each model and thread count, in a
fresh subprocess (so peak memory is the model's own): images/s, synaptic ops/s, the
dense-equivalent work rate (dense MACs × 2 per image × images/s) and, measured in the same run
on the same thread count, the machine's float32 GEMM rate on a conv-shaped product
((4096 × 4608) @ (4608 × 512), i.e. a 3×3×512 → 512 conv on a 64×64 output batch). The
children of both thread counts alternate, so a busy spell of the shared machine hits both.

Dense MACs per image = Σ_layers Co·Ho·Wo·fan_in × T, except the direct-coded first layer,
counted once (a dense simulator would redo it every step; counting it once is conservative).

The quantized-ANN reference (``qann.predict``, what ``neurosim run`` reports as ann_accuracy)
is timed on the same images in the same child, and both passes' peak memory is measured with
``tracemalloc`` (numpy's arrays; each pass alone), for information: at T = 4 its event work is
about 0.6 of the SNN pass's (levels at ~37 % density against 4 steps at ~16 %); its target
("a quarter of the SNN pass's time and memory") is checked where the issue measured it, in
``neurosim run`` (``bench_scale.py``).

Usage: ``python scripts/bench_functional.py [--repeats 3] [--threads 1 2]
[--out bench_results/functional.json] [--write-docs]`` (``--write-docs`` also rewrites this
script's section of docs/benchmarks.md).
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

TARGET_RATIO = {1: 1.0, 2: 0.8}
"""Dense-equivalent rate over the same run's GEMM rate, per thread count."""
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


def _peak_bytes(call) -> int:
    """Peak bytes numpy and Python allocate while ``call()`` runs (``tracemalloc``)."""
    import tracemalloc

    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_model(name: str, steps: int, batch: int, repeats: int, threads: int) -> dict:
    """Time ``functional.run`` and ``qann.predict`` on one zoo model (called in a subprocess)."""
    import numba
    from threadpoolctl import threadpool_limits

    from neurosim import convert, functional, qann, zoo

    numba.set_num_threads(threads)
    limits = threadpool_limits(threads, user_api="blas")
    net = zoo.build(name, dataset="cifar10", levels=steps, firing_rate=0.15)
    snn = convert.convert(net, "if", num_steps=steps)
    images = zoo.random_inputs(net, batch, seed=1)
    functional.run(snn, images[:2], batch_size=batch)  # JIT compile outside the timing
    qann.predict(net, images[:2])
    best, best_ref, trace = np.inf, np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        trace = functional.run(snn, images, batch_size=batch)
        best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        qann.predict(net, images)
        best_ref = min(best_ref, time.perf_counter() - t0)
    snn_bytes = _peak_bytes(lambda: functional.run(snn, images, batch_size=batch))
    ref_bytes = _peak_bytes(lambda: qann.predict(net, images))
    gemm = gemm_rate(repeats=10)
    limits.restore_original_limits()
    syn = trace.total("synaptic_ops")
    spikes = sum(lt.total("spikes") for lt in trace.layers if lt.family == "if")
    neurons = sum(
        int(np.prod(lt.shape)) * lt.num_steps * batch for lt in trace.layers if lt.family == "if"
    )
    ips = batch / best
    macs = dense_macs(net, steps)
    return {
        "model": f"{name}_cifar10",
        "threads": threads,
        "scheme": "if",
        "num_steps": steps,
        "batch": batch,
        "seconds": best,
        "reference_seconds": best_ref,
        "pass_peak_mib": snn_bytes / 2**20,
        "reference_peak_mib": ref_bytes / 2**20,
        "gemm_in_child": gemm,
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
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds of children (the best kept)"
    )
    parser.add_argument("--out", default="bench_results/functional.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    _benchdoc.add_argument(parser)
    args = parser.parse_args()
    if args.child:
        result = bench_model(args.child, args.steps, args.batch, args.repeats, args.threads[0])
        print(json.dumps(result))
        return 0
    # GEMM is measured before and after the models, per thread count, and the fastest figure
    # kept (also the children's own): on a shared machine the rate swings by ±20 % between
    # runs, and the faster one is the harder target. Rounds alternate models and thread counts.
    gemm = {t: _gemm(t) for t in args.threads}
    best: dict[tuple[str, int], dict] = {}
    for _ in range(args.rounds):
        for name in args.models:
            for threads in args.threads:
                row = _child(args, name, threads)
                gemm[threads] = max(gemm[threads], row.pop("gemm_in_child"))
                key = (name, threads)
                if key not in best or row["seconds"] < best[key]["seconds"]:
                    best[key] = row
    for threads in args.threads:
        gemm[threads] = max(gemm[threads], _gemm(threads))
    rows = [best[(name, t)] for name in args.models for t in args.threads]
    for row in rows:
        row["gemm_flops_per_s"] = gemm[row["threads"]]
        row["ratio_to_gemm"] = row["dense_equiv_flops_per_s"] / row["gemm_flops_per_s"]
        row["reference_time_share"] = row["reference_seconds"] / row["seconds"]
        row["reference_memory_share"] = row["reference_peak_mib"] / row["pass_peak_mib"]
    print(
        "float32 GEMM (4096x4608 @ 4608x512): "
        + ", ".join(f"{gemm[t] / 1e9:.1f} GFLOP/s on {t} thread(s)" for t in args.threads)
    )
    print(
        f"{'model':<18}{'thr':>4}{'img/s':>8}{'synops/s':>12}{'fire':>7}{'dense GFLOP/s':>15}"
        f"{'x GEMM':>8}{'peak GiB':>10}{'ref time':>10}{'ref mem':>9}"
    )
    for r in rows:
        print(
            f"{r['model']:<18}{r['threads']:>4}{r['images_per_s']:>8.1f}"
            f"{r['synaptic_ops_per_s']:>12.3g}{r['firing_rate']:>7.3f}"
            f"{r['dense_equiv_flops_per_s'] / 1e9:>15.1f}{r['ratio_to_gemm']:>8.2f}"
            f"{r['peak_rss_gib']:>10.2f}{r['reference_time_share']:>10.2f}"
            f"{r['reference_memory_share']:>9.2f}"
        )
    met = all(r["ratio_to_gemm"] >= TARGET_RATIO.get(r["threads"], 0.8) for r in rows) and all(
        r["peak_rss_gib"] < MEMORY_LIMIT_GIB for r in rows if r["model"].startswith("vgg16")
    )
    print(f"target: {_target_text()} -> {'met' if met else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"gemm_flops_per_s": gemm, "results": rows}, indent=2) + "\n")
    if args.write_docs:
        write_docs(args, rows, gemm, met)
    return 0


def _gemm(threads: int) -> float:
    """The GEMM reference on ``threads`` BLAS threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads, user_api="blas"):
        return gemm_rate(repeats=10)


def _child(args: argparse.Namespace, name: str, threads: int) -> dict:
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
            "--threads",
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _target_text() -> str:
    ratios = ", ".join(f"≥ {v:g} × GEMM on {t} thread(s)" for t, v in TARGET_RATIO.items())
    return (
        f"dense-equivalent rate {ratios} for every model; VGG-16 peak memory "
        f"< {MEMORY_LIMIT_GIB:g} GiB"
    )


def write_docs(
    args: argparse.Namespace, rows: list[dict], gemm: dict[int, float], met: bool
) -> None:
    """Rewrite this script's section of docs/benchmarks.md (``--write-docs``)."""
    table = _benchdoc.markdown_table(
        [
            {
                **r,
                "dense_gflops": r["dense_equiv_flops_per_s"] / 1e9,
                "synaptic_gops": r["synaptic_ops_per_s"] / 1e9,
                "gemm_gflops": r["gemm_flops_per_s"] / 1e9,
            }
            for r in rows
        ],
        [
            ("model", "model", ""),
            ("threads", "threads", "d"),
            ("images_per_s", "images/s", ".1f"),
            ("synaptic_gops", "synaptic ops/s (G)", ".2f"),
            ("firing_rate", "firing rate", ".3f"),
            ("dense_gflops", "dense-equivalent GFLOP/s", ".1f"),
            ("gemm_gflops", "GEMM GFLOP/s", ".1f"),
            ("ratio_to_gemm", "× GEMM", ".2f"),
            ("peak_rss_gib", "peak memory (GiB)", ".2f"),
            ("reference_time_share", "reference time / pass", ".2f"),
            ("reference_memory_share", "reference memory / pass", ".2f"),
        ],
    )
    text = _benchdoc.section(
        "bench_functional",
        "Functional pass (`scripts/bench_functional.py`)",
        what=(
            f"`functional.run` on zoo models (CIFAR-10 shapes, ~15 % firing), scheme `if`, "
            f"T = {args.steps}, batch {args.batch}, on {' and '.join(map(str, args.threads))} "
            f"thread(s), best of {args.repeats} × {args.rounds} alternating rounds, each model "
            "and thread count in a fresh process. The dense-equivalent rate is the dense MACs × "
            "2 per image × images/s (the direct-coded first layer counted once); × GEMM divides "
            "it by the float32 GEMM rate on the same thread count, measured in the same run. "
            "Reference columns (information): `qann.predict` (the quantized ANN `neurosim run` "
            "reports) on the same images, its time and its peak numpy memory (tracemalloc) over "
            "the SNN pass's; its target is checked in `neurosim run` (bench_scale)."
        ),
        table=table,
        reference=(
            "float32 GEMM (4096 × 4608) @ (4608 × 512): "
            + ", ".join(f"{gemm[t] / 1e9:.1f} GFLOP/s on {t} thread(s)" for t in args.threads)
            + " (the fastest of the measurements before, during and after the models)"
        ),
        target=_target_text(),
        met=met,
    )
    print(f"written: {_benchdoc.write_section('bench_functional', text, args.write_docs)}")


if __name__ == "__main__":
    sys.exit(main())
