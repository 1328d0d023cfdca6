"""Quick self-benchmark of the PE-array timing pass (mapping + SimPy), not part of the tests.

ResNet-18 (CIFAR shapes, zoo weights calibrated to ~15 % firing), scheme ``if`` with T = 4,
functional pass on 2 random inputs, then ``compile_pe_array`` + ``simulate_pe_array`` for one
sample on a shipped config. Reports the best of ``--repeats`` wall-clock times, the SimPy events
and events per second. Targets: < 2 s and >= 100k events/s.

Usage: ``python scripts/bench_timing_pe.py [--hw pe_array] [--repeats 3] [--samples 1]
[--tiles-per-event N] [--out bench_results/timing_pe.json] [--write-docs]`` (``--write-docs``
also rewrites this script's section of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _benchdoc

from neurosim import convert, functional, hw, zoo
from neurosim.mapping.pe_array import compile_pe_array
from neurosim.timing.pe_array import simulate_pe_array

TARGET_SECONDS = 2.0
TARGET_EVENTS_PER_SECOND = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--hw", default="pe_array")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--tiles-per-event", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    _benchdoc.add_argument(parser)
    args = parser.parse_args()

    t0 = time.perf_counter()
    snn = convert.convert(zoo.build(args.model), "if", num_steps=4)
    trace = functional.run(snn, zoo.random_inputs(snn, 2))
    prep = time.perf_counter() - t0
    cfg = hw.load(args.hw)

    best = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        mapping = compile_pe_array(snn, cfg)
        t1 = time.perf_counter()
        result = simulate_pe_array(
            mapping, trace, cfg, num_samples=args.samples, tiles_per_event=args.tiles_per_event
        )
        t2 = time.perf_counter()
        run = {"compile_s": t1 - t0, "simulate_s": t2 - t1, "total_s": t2 - t0}
        if best is None or run["total_s"] < best["total_s"]:
            best = run
    row = {
        "model": args.model,
        "hw": args.hw,
        "samples": args.samples,
        "tiles": sum(s.num_tiles for s in mapping.layers),
        "events": result.event_count,
        **{k: round(v, 4) for k, v in best.items()},
        "events_per_s": round(result.event_count / best["simulate_s"]),
        "latency_cycles": result.latency_cycles,
        "latency_us": round(result.latency_us, 1),
        "dram_read_bytes": result.traffic["dram_read_bytes"],
        "dram_write_bytes": result.traffic["dram_write_bytes"],
        "prep_s (build+convert+run, not timed)": round(prep, 2),
    }
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(f"{key:<{width}}  {value}")
    ok = best["total_s"] < TARGET_SECONDS and row["events_per_s"] >= TARGET_EVENTS_PER_SECOND
    print(
        f"target: < {TARGET_SECONDS} s and >= {TARGET_EVENTS_PER_SECOND} events/s -> "
        f"{'met' if ok else 'NOT met'}"
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(row, indent=2) + "\n")
    if args.write_docs:
        write_docs(args, row, ok)


def write_docs(args: argparse.Namespace, row: dict, met: bool) -> None:
    """Rewrite this script's section of docs/benchmarks.md (``--write-docs``)."""
    table = _benchdoc.markdown_table(
        [row],
        [
            ("hw", "hw", ""),
            ("samples", "samples", "d"),
            ("tiles", "tiles", ",d"),
            ("events", "events", ",d"),
            ("compile_s", "compile s", ".3f"),
            ("simulate_s", "simulate s", ".3f"),
            ("total_s", "total s", ".3f"),
            ("events_per_s", "events/s (simulate)", ",d"),
            ("latency_cycles", "latency cycles", ",d"),
            ("latency_us", "latency µs", ".1f"),
        ],
    )
    text = _benchdoc.section(
        "bench_timing_pe",
        "PE-array timing, one sample (`scripts/bench_timing_pe.py`)",
        what=(
            f"Mapping and SimPy simulation of {args.model} (CIFAR-10 shapes, zoo weights at ~15 % "
            f"firing, `if` T = 4, functional pass on 2 random inputs) on `{args.hw}`, "
            f"{args.samples} sample(s), best of {args.repeats} wall-clock times."
        ),
        table=table,
        target=(
            f"< {TARGET_SECONDS:g} s in total and ≥ {TARGET_EVENTS_PER_SECOND:,} events/s "
            "in the simulation"
        ),
        met=met,
    )
    print(f"written: {_benchdoc.write_section('bench_timing_pe', text, args.write_docs)}")


if __name__ == "__main__":
    main()
