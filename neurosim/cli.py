"""Command line: ``neurosim run | table | sweep | inspect``; the only place that prints and sets
exit codes.

Imports everything upstream of it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim import (
    __version__,
    convert,
    experiment,
    families,
    hw,
    ir,
    qann,
    report,
    schemes,
    sweep,
)
from neurosim._files import atomic_write
from neurosim.errors import ConfigError, ModelError, NeurosimError
from neurosim.experiment import load_network, resolve_model

DEFAULT_HW = "pe_array"

RUN_COLUMNS = (
    "scheme",
    "accuracy",
    "ann_accuracy",
    "ann_agreement",
    "mean_time_steps",
    "spikes_per_image",
    "synaptic_ops_per_image",
    "first_layer_macs_per_image",
    "hw",
    "latency_cycles",
    "latency_us",
    "throughput_sps",
    "stall_cycles",
    "energy_pj",
    "compute_energy_pj",
    "ann_energy_pj",
    "energy_ratio",
)
"""Columns of the ``run`` table (and keys of each JSON row under ``"schemes"``)."""


def scheme_options(args: argparse.Namespace, scheme: str) -> dict[str, object]:
    """Conversion keywords for ``scheme`` from the command-line overrides (the options its
    record declares for the command line; the others keep their defaults)."""
    opts: dict[str, object] = {}
    for f in schemes.get(scheme).options.declared():
        value = getattr(args, _OPTION_DEST + f.name, None)
        if f.metadata.get("cli", True) and value is not None:
            opts[f.name] = value
    return opts


def run_table(
    net: ir.Network,
    images: np.ndarray,
    labels: np.ndarray | None,
    schemes: Sequence[str],
    args: argparse.Namespace,
    progress=None,
) -> tuple[pd.DataFrame, dict[str, experiment.Evaluation]]:
    """One row per scheme: accuracy, agreement with the quantized ANN, time-steps, op counts,
    latency, throughput and stalls of a stream on the hardware config, and energy.

    Every scheme is converted and mapped first, so a model that does not fit the hardware
    fails before any simulation. Without a timeline the timing runs on the family's fast
    engine and keeps summed cycles only (the same numbers); a timeline needs the intervals.
    """
    config = hw.load(args.hw or DEFAULT_HW)
    engine = args.engine
    if args.timeline and engine == "fast":
        engine = "simpy"
    families.resolve_engine(config, engine)
    prepared = {s: experiment.prepare(net, s, scheme_options(args, s), config) for s in schemes}
    ref = qann.predict(net, images)
    evals = {
        s: experiment.evaluate(
            net,
            images,
            labels,
            s,
            scheme_options(args, s),
            config,
            stream=args.stream,
            batch_size=args.batch_size,
            reference=ref,
            progress=progress,
            engine=engine,
            keep_intervals=bool(args.timeline),
            prepared=prepared[s],
        )
        for s in schemes
    }
    rows = [{k: ev.row[k] for k in RUN_COLUMNS} for ev in evals.values()]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS)), evals


def write_json_atomic(path: str | os.PathLike, payload: object) -> None:
    """Write JSON to ``path`` atomically (never a half-written file)."""
    atomic_write(path, (json.dumps(payload, indent=2) + "\n").encode())


def _cmd_run(args: argparse.Namespace) -> int:
    chosen = list(schemes.names()) if not args.scheme else args.scheme
    for s in chosen:
        if s not in schemes.names():
            raise ModelError(f"--scheme {s!r}: allowed values are {list(schemes.names())}")
    net, images, labels = resolve_model(args.model, args.inputs, args.samples)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(
            total=len(images) * len(chosen),
            unit="img",
            desc="simulating",
            file=sys.stderr,
            disable=None,
        )
    try:
        table, results = run_table(
            net, images, labels, chosen, args, progress=None if bar is None else bar.update
        )
    finally:
        if bar is not None:
            bar.close()
    if args.timeline:
        for scheme, ev in results.items():
            path = Path(args.timeline)
            if len(results) > 1:
                path = path.with_name(f"{path.stem}_{scheme}{path.suffix or '.png'}")
            report.plot_timeline(
                ev.timing,
                path,
                title=f"{net.name} · {scheme} on "
                f"{table.loc[0, 'hw']}: {ev.timing.num_samples} sample(s)",
            )
    print(f"model: {net.name}   samples: {len(images)}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.json:
        rows = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")
        ]
        write_json_atomic(args.json, {"model": net.name, "samples": len(images), "schemes": rows})
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    net = load_network(args.model)
    config = hw.load(args.hw)
    snn = convert.convert(net, args.scheme, **scheme_options(args, args.scheme))
    table = families.compile(snn, config).to_frame()
    print(f"model: {net.name}   scheme: {args.scheme}   hw: {config.meta.name} ({config.family})")
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.to_string(index=False))
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    net, images, labels = resolve_model(args.model, args.inputs, args.samples)
    config = hw.load(args.hw or DEFAULT_HW)
    settings = experiment.table_settings()
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(
            total=len(images) * len(settings),
            unit="img",
            desc="settings",
            file=sys.stderr,
            disable=None,
        )
    try:
        table, evals = experiment.comparison_table(
            net,
            images,
            labels,
            config,
            stream=args.stream,
            batch_size=args.batch_size,
            settings=settings,
            progress=None if bar is None else bar.update,
            engine=args.engine,
            keep_intervals=False,
        )
    finally:
        if bar is not None:
            bar.close()
    out = Path(args.out)
    report.export_table(table, out, "table")
    title = f"{net.name} on {config.meta.name}"
    report.plot_tradeoffs(table, out / "tradeoffs.png", title=title, pdf=args.pdf)
    for label, ev in evals.items():
        stem = label.replace(" ", "_").replace("=", "")
        report.plot_energy_by_layer(
            ev.energy.per_layer,
            out / f"energy_{stem}.png",
            title=f"Energy per layer: {label}, {title}",
            pdf=args.pdf,
        )
        report.plot_latency_by_layer(
            ev.timing.per_layer(),
            out / f"latency_{stem}.png",
            title=f"Cycles per layer: {label}, {title}",
            pdf=args.pdf,
        )
    shown = table.drop(columns=["error"])
    print(
        f"model: {net.name}   hw: {config.meta.name}   samples: {len(images)}   written to: {out}"
    )
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for _, row in table[table["status"] == "error"].iterrows():
        print(f"  {row['setting']}: {row['error']}")
    return 0


PARETO_SHOWN = ("latency_us", "energy_pj", "throughput_sps", "energy_ratio")
"""Metric columns printed with each Pareto-optimal point (after its axis values)."""


def _cmd_sweep(args: argparse.Namespace) -> int:
    spec = sweep.load_spec(args.spec)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="pt", desc=f"sweep {spec.name}", file=sys.stderr, disable=None)

    def progress(p: sweep.SweepProgress) -> None:
        if bar is None:
            return
        if bar.total != p.total:
            bar.reset(total=p.total)
        bar.set_postfix(failed=p.failed, resumed=p.resumed, dropped=p.dropped, refresh=False)
        bar.update(p.done - bar.n)

    try:
        result = sweep.run_sweep(
            spec, args.out, workers=args.workers, scheduler=args.scheduler, progress=progress
        )
    except KeyboardInterrupt:
        print(
            f"neurosim: interrupted; finished points are saved in {args.out}, run the same "
            f"command again to resume",
            file=sys.stderr,
        )
        return 130
    finally:
        if bar is not None:
            bar.close()
    plots = sweep.save_plots(result, title=spec.name)
    status = result.table["status"]
    print(
        f"sweep: {spec.name}   points: {len(result.table)}   ok: {int((status == 'ok').sum())}"
        f"   failed: {int((status == 'error').sum())}   dropped: {result.dropped}   "
        f"computed now: {result.computed}   resumed: {result.resumed}"
    )
    print(f"written to: {result.out}")
    if result.pareto.empty:
        print("no point succeeded: no Pareto front")
    else:
        cols = ["point", *result.axes, *PARETO_SHOWN]
        print(f"Pareto-optimal points (latency vs energy, {len(result.pareto)}):")
        with pd.option_context("display.width", 250, "display.max_columns", None):
            print(result.pareto[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    errors = result.table[result.table["status"] == "error"]
    if len(errors):
        print(
            f"{len(errors)} point(s) failed; first: point {errors['point'].iloc[0]}: "
            f"{errors['error'].iloc[0]}"
        )
    for path in plots:
        print(f"plot: {path}")
    return 0


_OPTION_DEST = "scheme_option_"
"""Prefix of the argparse destinations of the generated scheme-option flags."""


def _add_scheme_options(p: argparse.ArgumentParser) -> None:
    """One flag per conversion keyword some scheme declares for the command line, with its
    help and each scheme's default, generated from the scheme records."""
    declared: dict[str, list[tuple[str, Any]]] = {}
    for record in schemes.records():
        for f in record.options.declared():
            if f.metadata.get("cli", True):
                declared.setdefault(f.name, []).append((record.name, f))
    group = p.add_argument_group("scheme options (each applies to the schemes that take it)")
    for name, users in declared.items():
        first = users[0][1]
        shown = {_show_default(f.default) for _, f in users}
        if len(shown) == 1 and len(users) == len(schemes.names()):
            defaults = shown.pop()
        else:
            defaults = ", ".join(f"{s} {_show_default(f.default)}" for s, f in users)
        kwargs: dict[str, Any] = {"dest": _OPTION_DEST + name, "default": None}
        if isinstance(first.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif "choices" in first.metadata:
            kwargs["choices"] = list(first.metadata["choices"])
        elif isinstance(first.default, int):
            kwargs["type"] = int
            kwargs["metavar"] = first.metadata.get("label") or "N"
        kwargs["help"] = f"{first.metadata['help']} (default: {defaults})"
        group.add_argument("--" + name.replace("_", "-"), **kwargs)


def _add_engine(p: argparse.ArgumentParser) -> None:
    """``--engine``: the timing engine (any family's, or ``fast``)."""
    engines = dict.fromkeys(e for n in families.names() for e in families.get(n).engines)
    p.add_argument(
        "--engine",
        default="fast",
        choices=["fast", *engines],
        help="timing engine: 'fast' = the hardware family's fastest engine giving the same "
        "numbers (the exact max-plus recurrence on a PE array; a timeline then uses the "
        "SimPy processes), or one the family has (default: fast)",
    )


def _show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurosim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"neurosim {__version__}")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="convert a model to each scheme and simulate it")
    run.add_argument(
        "--model", help="model file (.npz) or zoo:NAME[:DATASET]; default: the bundled digits CNN"
    )
    run.add_argument("--inputs", help=".npz with 'images' (integer codes) and 'labels'")
    run.add_argument(
        "--scheme",
        action="append",
        choices=list(schemes.names()),
        help="scheme to run (repeatable); default: every scheme",
    )
    run.add_argument("--samples", type=int, help="simulate only the first N samples")
    run.add_argument("--json", help="also write the table as JSON to this path")
    run.add_argument("--batch-size", type=int, default=256)
    run.add_argument(
        "--hw", help=f"hardware config: a shipped name or a .hw.toml path (default: {DEFAULT_HW})"
    )
    run.add_argument(
        "--stream",
        type=int,
        default=16,
        help="samples streamed through the timing model (default 16)",
    )
    run.add_argument("--timeline", help="save the pipeline timeline plot (PNG) here")
    _add_engine(run)
    _add_scheme_options(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    tab = sub.add_parser(
        "table",
        help="the papers' comparison table over schemes and "
        "time-steps, as CSV, Markdown, LaTeX and plots",
    )
    tab.add_argument(
        "--model", help="model file (.npz) or zoo:NAME[:DATASET]; default: the bundled digits CNN"
    )
    tab.add_argument("--inputs", help=".npz with 'images' (integer codes) and 'labels'")
    tab.add_argument("--hw", help=f"hardware config name or .hw.toml path (default: {DEFAULT_HW})")
    tab.add_argument("--out", required=True, help="folder for table.csv/.md/.tex and the plots")
    tab.add_argument("--samples", type=int, help="use only the first N samples")
    tab.add_argument(
        "--stream",
        type=int,
        default=4,
        help="samples streamed through the timing model (default 4)",
    )
    tab.add_argument("--batch-size", type=int, default=256)
    tab.add_argument("--pdf", action="store_true", help="also save the plots as PDF")
    _add_engine(tab)
    tab.add_argument("--no-progress", action="store_true", help="no progress bar")
    swp = sub.add_parser(
        "sweep",
        help="run an architecture sweep (.sweep.toml) over hardware "
        "fields and conversion settings; resumable",
    )
    swp.add_argument(
        "spec", help=f"a .sweep.toml file or a shipped sweep name ({', '.join(sweep.list_specs())})"
    )
    swp.add_argument(
        "--out",
        required=True,
        help="folder for results.csv, the resume journal, "
        "pareto.csv and the plots (rerun into it to resume)",
    )
    swp.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that cost points: this one and N-1 workers (default: "
        "the number of cores; 1 = all in this process)",
    )
    swp.add_argument(
        "--scheduler",
        help="dask.distributed scheduler address "
        "(tcp://host:8786): run the points on that cluster instead",
    )
    swp.add_argument("--no-progress", action="store_true", help="no progress bar")
    ins = sub.add_parser("inspect", help="print how a model maps onto a hardware config")
    ins.add_argument(
        "--model", help="model file (.npz) or zoo:NAME[:DATASET]; default: the bundled digits CNN"
    )
    ins.add_argument("--hw", required=True, help="hardware config name or .hw.toml path")
    ins.add_argument("--scheme", default=schemes.names()[0], choices=list(schemes.names()))
    _add_scheme_options(ins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neurosim`` console script."""
    parser = build_parser()
    args = parser.parse_args(["run"] if argv is None and len(sys.argv) == 1 else argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    try:
        if args.command == "run":
            if args.stream < 1:
                raise ConfigError(f"--stream must be >= 1, got {args.stream}")
            return _cmd_run(args)
        if args.command == "inspect":
            return _cmd_inspect(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "table":
            if args.stream < 1:
                raise ConfigError(f"--stream must be >= 1, got {args.stream}")
            return _cmd_table(args)
    except NeurosimError as exc:
        print(f"neurosim: error: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
