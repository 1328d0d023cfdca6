"""Benchmark of ``neurosim run`` at scale: wall time, peak memory and the share of each phase.

``neurosim run --model zoo:NAME:DATASET --samples N --hw HW`` (every scheme, the command's
defaults otherwise) on ResNet-20, VGG-16, ResNet-18 and ResNet-34 with CIFAR-10 shapes and on
ResNet-18 and VGG-16 with ImageNet shapes, on the shipped ``pe_array`` and ``multicore``
configs, with a warm zoo model cache (filled first, untimed) and Numba's cache filled by an
untimed small run. The phases are timed by wrapping the functions the command calls:

* model: loading the model (``experiment.load_network``);
* reference: the quantized ANN (``qann.predict``);
* mapping: conversion and mapping of every scheme (``experiment.prepare``), before any
  simulation, so a model that does not fit fails here (reported as "does not map");
* functional: the functional passes (``functional.run``);
* timing: the timing model (``families.simulate``);
* energy: the energy model (``energy.estimate``); other: the rest (imports, tables, output).

The command is first run as a user runs it, ``--repeats`` times (fresh processes: the median
wall time and the largest maximum resident set size), then in a second process three times: to
load every kernel, with its phases timed, and with the reference's and the functional passes'
peak numpy memory traced (``tracemalloc``), these three with ``--jobs 1`` (one setting at a
time, so that the phases do not overlap). Targets (the issue "speed at scale"): VGG-16
ImageNet, 4 samples, ≤ 10 s and ≤ 2 GiB; ResNet-18 CIFAR, 64 samples, ≤ 600 MiB, its
quantized-ANN reference ≤ a quarter of the ``if`` scheme's SNN passes in time and memory; the
PE array times a ResNet-18 sample in ≤ 0.25 s. A case MODEL:DATASET:SAMPLES:SCHEME runs that
one scheme (the default cases add VGG-16 ImageNet with ``--scheme if``).

Usage: ``python scripts/bench_scale.py [--cases resnet18:cifar10:64[:if] ...]
[--hw pe_array ...] [--repeats 3] [--out bench_results/scale.json] [--write-docs]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _benchdoc

CASES = (
    "resnet20:cifar10:64",
    "vgg16:cifar10:64",
    "resnet18:cifar10:64",
    "resnet34:cifar10:64",
    "resnet18:imagenet:4",
    "vgg16:imagenet:4",
    "vgg16:imagenet:4:if",
)
"""MODEL:DATASET:SAMPLES[:SCHEME] of the default run (no scheme: every scheme)."""

PHASES = ("model", "reference", "mapping", "functional", "timing", "energy", "other")

TARGET_VGG16_IMAGENET_S = 10.0
TARGET_VGG16_IMAGENET_GIB = 2.0
TARGET_RESNET18_CIFAR_MIB = 600.0
TARGET_PE_SAMPLE_S = 0.25
TARGET_REFERENCE_SHARE = 0.25
"""The quantized-ANN reference's time and peak memory over the SNN passes' (one scheme)."""


def child(model: str, dataset: str, samples: int, hw: str, scheme: str) -> dict:
    """The command three times in this process (the subprocess side): once to load every
    kernel it needs (untimed), once with its phases timed, once with the reference's and the
    functional passes' peak numpy memory traced (``tracemalloc`` slows Python allocations, so
    it stays out of the timed run)."""
    import contextlib
    import io
    import tracemalloc

    from neurosim import cli, energy, experiment, families, functional, qann

    spent = dict.fromkeys(PHASES, 0.0)
    calls = {"timed_samples": 0}
    peak = {"reference": 0, "functional": 0}
    per_scheme: dict[str, list[float]] = {}
    """Scheme → [seconds, peak bytes] of its functional passes."""
    trace_memory = [False]

    def timed(module, name: str, phase: str) -> None:
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            traced = trace_memory[0] and phase in peak
            if traced:
                tracemalloc.start()
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                used = 0
                if traced:
                    used = tracemalloc.get_traced_memory()[1]
                    peak[phase] = max(peak[phase], used)
                    tracemalloc.stop()
                if not trace_memory[0]:
                    spent[phase] += seconds
                    if phase == "timing":
                        calls["timed_samples"] += int(kwargs.get("num_samples", 1))
                if phase == "functional":
                    entry = per_scheme.setdefault(str(args[0].scheme), [0.0, 0])
                    entry[0] += 0.0 if trace_memory[0] else seconds
                    entry[1] = max(entry[1], used)

        setattr(module, name, wrapper)

    timed(experiment, "load_network", "model")
    timed(qann, "predict", "reference")
    timed(experiment, "prepare", "mapping")
    timed(functional, "run", "functional")
    timed(families, "simulate", "timing")
    timed(energy, "estimate", "energy")
    # One setting at a time: the phases are timed by wrapping functions, and tracemalloc is
    # process-wide, so settings running side by side would overlap both.
    argv = [*_command(model, dataset, samples, hw, scheme), "--no-progress", "--jobs", "1"]

    def run() -> tuple[int, str, float]:
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
        return code, err.getvalue(), time.perf_counter() - start

    run()  # warm-up: every kernel and specialisation this command uses is loaded
    spent.update(dict.fromkeys(PHASES, 0.0))
    calls["timed_samples"] = 0
    per_scheme.clear()
    code, err, wall = run()
    spent["other"] = max(0.0, wall - sum(spent.values()))
    trace_memory[0] = True
    run()
    return {
        "model": model,
        "dataset": dataset,
        "samples": samples,
        "hw": hw,
        "scheme": scheme,
        "status": "ok" if code == 0 else "does not map" if "fit" in err else "error",
        "message": err.strip().splitlines()[-1] if code else "",
        "warm_s": wall,
        "phases_s": spent,
        "reference_peak_mib": peak["reference"] / 2**20,
        "functional_peak_mib": peak["functional"] / 2**20,
        "functional_by_scheme": {
            k: {"seconds": v[0], "peak_mib": v[1] / 2**20} for k, v in per_scheme.items()
        },
        "timed_samples": calls["timed_samples"],
        "command": "neurosim " + " ".join(argv),
    }


def _command(model: str, dataset: str, samples: int, hw: str, scheme: str = "") -> list[str]:
    argv = ["run", "--model", f"zoo:{model}:{dataset}", "--samples", str(samples), "--hw", hw]
    return [*argv, "--scheme", scheme] if scheme else argv


def _run_command(argv: list[str]) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MiB, exit code, standard error) of the command in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "neurosim", *argv, "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), err


def run_case(
    model: str, dataset: str, samples: int, hw: str, scheme: str = "", repeats: int = 1
) -> dict:
    """The command as a user runs it, ``repeats`` times (the median wall time and the largest
    peak RSS of the whole process), then its phases in a second process after a warm-up
    (``child``)."""
    argv = _command(model, dataset, samples, hw, scheme)
    wall, rss, code, err = _run_command(argv)
    walls, peaks = [wall], [rss]
    for _ in range(repeats - 1 if code == 0 else 0):
        wall, rss, _, _ = _run_command(argv)
        walls.append(wall)
        peaks.append(rss)
    row = {
        "wall_s": statistics.median(walls),
        "wall_runs_s": sorted(walls),
        "peak_rss_mib": max(peaks),
    }
    if code != 0:
        message = err.strip().splitlines()[-1] if err.strip() else "failed"
        status_text = "does not map" if "fit" in message else "error"
        return {
            "model": model,
            "dataset": dataset,
            "samples": samples,
            "hw": hw,
            "scheme": scheme,
            "status": status_text,
            "message": message,
            **row,
        }
    warm = subprocess.run(
        [sys.executable, __file__, "--child", model, dataset, str(samples), hw, scheme or "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {**json.loads(warm.stdout.strip().splitlines()[-1]), **row}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=list(CASES),
        help="MODEL:DATASET:SAMPLES[:SCHEME] (default: the six of the issue, and VGG-16 "
        "ImageNet with one scheme)",
    )
    parser.add_argument("--hw", nargs="+", default=["pe_array", "multicore"])
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of the command per case (the median wall time, the largest peak RSS)",
    )
    parser.add_argument("--out", default="bench_results/scale.json")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    _benchdoc.add_argument(parser)
    args = parser.parse_args()
    if args.child:
        model, dataset, samples, hw, scheme = args.child
        print(json.dumps(child(model, dataset, int(samples), hw, "" if scheme == "-" else scheme)))
        return 0
    cases = []
    for text in args.cases:
        model, dataset, samples, *scheme = text.split(":")
        cases.append((model, dataset, int(samples), scheme[0] if scheme else ""))
    # A warm zoo cache, untimed, filled in a child: a parent holding the models would count
    # towards every child's peak RSS (a forked child's pages are its own until exec).
    warm = "; ".join(f"experiment.zoo_network({m!r}, {d!r})" for m, d, _, _ in cases)
    subprocess.run([sys.executable, "-c", f"from neurosim import experiment; {warm}"], check=True)
    run_case("resnet20", "cifar10", 2, args.hw[0])  # Numba's cache, untimed
    rows = []
    for model, dataset, samples, scheme in cases:
        for hw in args.hw:
            row = run_case(model, dataset, samples, hw, scheme, args.repeats)
            rows.append(row)
            print(_line(row), flush=True)
    verdicts = _verdicts(rows)
    for text, ok in verdicts:
        print(f"target: {text} -> {'met' if ok else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": rows}, indent=2) + "\n")
    if args.write_docs:
        write_docs(args, rows, verdicts)
    return 0


def _line(row: dict) -> str:
    only = f" ({row['scheme']})" if row.get("scheme") else ""
    name = f"{row['model']} {row['dataset']} ×{row['samples']}{only} on {row['hw']}"
    if row["status"] != "ok":
        return f"{name}: {row['status']} ({row['message']})"
    shares = ", ".join(f"{p} {100 * row['phases_s'][p] / row['warm_s']:.0f}%" for p in PHASES)
    return (
        f"{name}: {row['wall_s']:.2f} s, {row['peak_rss_mib']:.0f} MiB; warm "
        f"{row['warm_s']:.2f} s ({shares})"
    )


def _find(
    rows: list[dict], model: str, dataset: str, scheme: str = "", hw: str = "pe_array"
) -> dict | None:
    for row in rows:
        if (row["model"], row["dataset"], row["hw"], row.get("scheme", "")) == (
            model,
            dataset,
            hw,
            scheme,
        ):
            return row if row["status"] == "ok" else None
    return None


def _verdicts(rows: list[dict]) -> list[tuple[str, bool]]:
    """(statement with the figure, met) for each target whose case was run."""
    out = []
    for scheme in ("", "if"):
        vgg = _find(rows, "vgg16", "imagenet", scheme)
        if vgg is None:
            continue
        gib = vgg["peak_rss_mib"] / 1024
        which = f"`--scheme {scheme}`" if scheme else "every scheme"
        out.append(
            (
                f"VGG-16 ImageNet ×{vgg['samples']}, {which}: {vgg['wall_s']:.1f} s "
                f"(≤ {TARGET_VGG16_IMAGENET_S:g} s), {gib:.2f} GiB "
                f"(≤ {TARGET_VGG16_IMAGENET_GIB:g} GiB)",
                vgg["wall_s"] <= TARGET_VGG16_IMAGENET_S and gib <= TARGET_VGG16_IMAGENET_GIB,
            )
        )
    r18 = _find(rows, "resnet18", "cifar10")
    if r18 is not None:
        out.append(
            (
                f"ResNet-18 CIFAR ×{r18['samples']}: {r18['peak_rss_mib']:.0f} MiB "
                f"(≤ {TARGET_RESNET18_CIFAR_MIB:g} MiB)",
                r18["peak_rss_mib"] <= TARGET_RESNET18_CIFAR_MIB,
            )
        )
        snn = r18["functional_by_scheme"].get("if")
        if snn is not None:
            time_share = r18["phases_s"]["reference"] / snn["seconds"]
            memory_share = r18["reference_peak_mib"] / max(snn["peak_mib"], 1e-9)
            out.append(
                (
                    f"ResNet-18 CIFAR ×{r18['samples']}: quantized-ANN reference "
                    f"{r18['phases_s']['reference']:.2f} s and "
                    f"{r18['reference_peak_mib']:.0f} MiB against the `if` SNN passes' "
                    f"{snn['seconds']:.2f} s and {snn['peak_mib']:.0f} MiB (peak numpy memory): "
                    f"{time_share:.3f} and {memory_share:.3f} (≤ {TARGET_REFERENCE_SHARE:g})",
                    max(time_share, memory_share) <= TARGET_REFERENCE_SHARE,
                )
            )
        per_sample = r18["phases_s"]["timing"] / max(1, r18["timed_samples"])
        out.append(
            (
                f"PE array, ResNet-18 CIFAR: {per_sample:.3f} s of timing per streamed sample "
                f"(≤ {TARGET_PE_SAMPLE_S:g} s)",
                per_sample <= TARGET_PE_SAMPLE_S,
            )
        )
    return out


def write_docs(args: argparse.Namespace, rows: list[dict], verdicts) -> None:
    """Rewrite this script's section of docs/benchmarks.md (``--write-docs``)."""
    table_rows = []
    for row in rows:
        only = f" (`{row['scheme']}`)" if row.get("scheme") else ""
        cells = {
            "case": f"{row['model']} {row['dataset']}{only}",
            "samples": row["samples"],
            "hw": row["hw"],
        }
        if row["status"] == "ok":
            cells.update(
                wall=row["wall_s"],
                rss=row["peak_rss_mib"],
                warm=row["warm_s"],
                **{p: 100 * row["phases_s"][p] / row["warm_s"] for p in PHASES},
            )
        else:
            cells["status"] = row["status"]
        table_rows.append(cells)
    columns = [
        ("case", "model", ""),
        ("samples", "samples", "d"),
        ("hw", "hw", ""),
        ("wall", "command s", ".2f"),
        ("rss", "peak MiB", ".0f"),
        ("warm", "warm s", ".2f"),
        *((p, f"{p} %", ".0f") for p in PHASES),
    ]
    table = _benchdoc.markdown_table(table_rows, columns)
    skipped = [
        f"{r['model']} {r['dataset']}{' (`' + r['scheme'] + '`)' if r.get('scheme') else ''} "
        f"on {r['hw']}: {r['status']} ({r['message']})"
        for r in rows
        if r["status"] != "ok"
    ]
    text = _benchdoc.section(
        "bench_scale",
        "`neurosim run` at scale (`scripts/bench_scale.py`)",
        what=(
            "`neurosim run --model zoo:MODEL:DATASET --samples N --hw HW` (every scheme, the "
            "command's defaults otherwise: T = 8 for `if`, a timed stream of up to 16 samples "
            "on the fast timing engine) with a warm zoo model cache. *command s* and *peak MiB*: "
            f"the command as a user runs it, {args.repeats} times: the median wall time of a "
            "fresh process (interpreter start and loading the compiled kernels included) and "
            "the largest of its maximum resident set sizes (by default two groups of settings "
            "run side by side, `--jobs`). *warm s* and the phase shares: the same command "
            "with `--jobs 1` (one setting at a time) in a process that has run it once (every "
            "kernel loaded), its phases timed "
            "by wrapping the functions the command calls (model load, quantized-ANN reference, "
            "conversion and mapping, functional passes, timing, energy; other = the rest); "
            "peak numpy memory of the reference and of the functional passes from a third run "
            "under tracemalloc. Empty cells: the model does not fit that hardware."
        ),
        table=table,
        target="; ".join(text for text, _ in verdicts) or "no target case was run",
        met=all(ok for _, ok in verdicts) if verdicts else None,
        notes=[*(f"not run: {s}" for s in skipped)],
    )
    print(f"written: {_benchdoc.write_section('bench_scale', text, args.write_docs)}")


if __name__ == "__main__":
    sys.exit(main())
