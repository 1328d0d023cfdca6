"""Command line: ``neurosim run | table | sweep | inspect | import``; the only place that
prints and sets exit codes.

Imports everything upstream of it.
"""

from __future__ import annotations

import argparse
import json
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
    frontends,
    hw,
    ir,
    metrics,
    provenance,
    qann,
    report,
    schemes,
    sweep,
)
from neurosim import cli_text as text
from neurosim._files import atomic_write
from neurosim.errors import ConfigError, ModelError, NeurosimError
from neurosim.experiment import load_network, resolve_model
from neurosim.hw.derive import parse_assignment

DEFAULT_HW = "pe_array"
_MODEL_HELP = (
    "model file (.npz, or a format neurosim imports: .onnx) or zoo:NAME[:DATASET]; default: "
    "the bundled digits CNN"
)
_INPUTS_HELP = (
    ".npz with 'images' (integer codes, or real values the model's input quantizes) and 'labels'"
)


def run_columns() -> tuple[str, ...]:
    """Columns of the ``run`` table (and keys of each JSON row under ``"schemes"``): the
    scheme, then the shared metrics (``metrics.columns()``)."""
    return ("scheme", *metrics.columns())


def hw_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set FIELD=VALUE`` assignments as dotted path → value (later ones win)."""
    return dict(parse_assignment(a) for a in getattr(args, "set", None) or ())


def load_config(args: argparse.Namespace) -> hw.HwConfig:
    """The hardware config of ``--hw`` (default ``DEFAULT_HW``) with the ``--set`` overrides."""
    return hw.load(args.hw or DEFAULT_HW, hw_overrides(args))


def result_provenance(
    args: argparse.Namespace, net: ir.Network | None, config: hw.HwConfig | None, **extra: Any
) -> dict[str, Any]:
    """``provenance.collect`` for this command line."""
    return provenance.collect(
        network=net, config=config, overrides=hw_overrides(args), argv=args.argv, extra=extra
    )


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
    latency, throughput and stalls of a stream on the hardware config, and energy."""
    ref = qann.forward(net, images)
    config = load_config(args)
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
        )
        for s in schemes
    }
    cols = run_columns()
    rows = [{k: ev.row[k] for k in cols} for ev in evals.values()]
    return pd.DataFrame(rows, columns=list(cols)), evals


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
    config = load_config(args)
    prov = result_provenance(args, net, config, samples=len(images), stream=args.stream)
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
                info={**prov, "scheme": scheme},
            )
    print(
        f"model: {net.name}   hw: {config.meta.name}   samples: {len(images)}   "
        f"stream: {args.stream}   (hardware figures are modelled estimates)"
    )
    shown = table[metrics.select(args.columns, list(table.columns), "scheme")]
    print(report.terminal_table(shown))
    if args.json:
        payload = {
            "model": net.name,
            "samples": len(images),
            "schemes": table.to_dict(orient="records"),
        }
        atomic_write(args.json, report.json_payload(payload, prov).encode())
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    net = load_network(args.model)
    config = load_config(args)
    snn = convert.convert(net, args.scheme, **scheme_options(args, args.scheme))
    table = families.compile(snn, config).to_frame()
    print(f"model: {net.name}   scheme: {args.scheme}   hw: {config.meta.name} ({config.family})")
    print(report.terminal_table(report.with_totals(table, "layer")))
    return 0


_IMPORT_OPTION_DEST = "import_option_"
"""``neurosim import`` flags whose dest starts with this pass the rest of the dest as a keyword
to the importer (``frontends.import_model(path, out, **options)``); unset flags (default None)
pass nothing, and an importer rejects keywords it does not take. A new option is one
``add_argument(..., dest=_IMPORT_OPTION_DEST + keyword, default=None)`` on the subcommand."""


def _cmd_import(args: argparse.Namespace) -> int:
    options = {
        key.removeprefix(_IMPORT_OPTION_DEST): value
        for key, value in vars(args).items()
        if key.startswith(_IMPORT_OPTION_DEST) and value is not None
    }
    if Path(args.model).suffix.lower() == frontends.NATIVE_SUFFIX:
        raise ModelError(f"{args.model}: already a native model file; nothing to import")
    net, out = frontends.import_model(args.model, args.out, **options)
    inp = net.input
    acts = [lay for lay in net.layers if ir.is_spiking(lay)]
    rounding = sorted({inp.rounding, *(lay.act.rounding for lay in acts)})
    print(
        f"imported {args.model}: {len(net.layers)} layers, {len(acts)} quantized activations "
        f"(levels {sorted({lay.act.levels for lay in acts})}), input {inp.shape} scale "
        f"{inp.scale:g} codes 0..{inp.levels}, rounding {', '.join(rounding)}"
    )
    print(f"written to: {out}")
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    net, images, labels = resolve_model(args.model, args.inputs, args.samples)
    config = load_config(args)
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
        )
    finally:
        if bar is not None:
            bar.close()
    out = Path(args.out)
    prov = result_provenance(args, net, config, samples=len(images), stream=args.stream)
    report.export_table(table, out, "table", digits=args.digits, provenance=prov)
    title = f"{net.name} on {config.meta.name}"
    report.plot_tradeoffs(table, out / "tradeoffs.png", title=title, pdf=args.pdf, info=prov)
    for label, ev in evals.items():
        stem = label.replace(" ", "_").replace("=", "")
        info = {**prov, "scheme": label}
        report.plot_energy_by_layer(
            ev.energy.per_layer,
            out / f"energy_{stem}.png",
            title=f"Energy per layer: {label}, {title}",
            pdf=args.pdf,
            info=info,
        )
        report.plot_latency_by_layer(
            ev.timing.per_layer(),
            out / f"latency_{stem}.png",
            title=f"Cycles per layer: {label}, {title}",
            pdf=args.pdf,
            info=info,
        )
    print(
        f"model: {net.name}   hw: {config.meta.name}   samples: {len(images)}   "
        f"stream: {args.stream}   written to: {out}   (hardware figures are modelled estimates)"
    )
    shown = table[metrics.select(args.columns, list(table.columns), "setting")]
    print(report.terminal_table(shown))
    for _, row in table[table["status"] == "error"].iterrows():
        print(f"  {row['setting']}: {row['error']}")
    return 0


PARETO_SHOWN = ("latency_us", "energy_pj", "throughput_sps", "stall_share", "energy_ratio")
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
    prov = result_provenance(args, None, None, sweep=spec.name, sweep_spec=str(args.spec))
    for name in ("results.csv", "pareto.csv"):
        if (result.out / name).is_file():
            report.write_sidecar(result.out / name, prov)
    plots = sweep.save_plots(result, title=spec.name, info=prov)
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
            print(report.terminal_table(result.pareto[cols]))
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


def _show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _sub(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand with its description and examples (``cli_text``)."""
    return sub.add_parser(
        name,
        help=help_text,
        description=text.DESCRIPTIONS[name],
        epilog=text.EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_hw_options(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    default = "" if required else f" (default: {DEFAULT_HW})"
    p.add_argument("--hw", required=required, help=text.HW_HELP + default)
    p.add_argument(
        "--set", action="append", metavar="FIELD=VALUE", default=None, help=text.SET_HELP
    )


def _add_columns_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--columns",
        metavar="PRESET|COLS",
        help=f"columns printed: a preset ({', '.join(metrics.preset_names())}; default brief, "
        f"fits 120 characters) or a comma-separated list of column names",
    )


def _add_stream_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stream",
        type=int,
        default=experiment.DEFAULT_STREAM,
        help=f"samples streamed through the timing model (default {experiment.DEFAULT_STREAM}, "
        f"the same in every command)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurosim",
        description=text.PROGRAM,
        epilog=text.PROGRAM_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"neurosim {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    run = _sub(sub, "run", "convert a model to each scheme and simulate it (the default)")
    run.add_argument("--model", help=_MODEL_HELP)
    run.add_argument("--inputs", help=_INPUTS_HELP)
    run.add_argument(
        "--scheme",
        action="append",
        choices=list(schemes.names()),
        help="scheme to run (repeatable); default: every scheme",
    )
    run.add_argument("--samples", type=int, help="simulate only the first N samples")
    run.add_argument("--json", help="also write every column as JSON (with provenance) here")
    run.add_argument("--batch-size", type=int, default=256, help=text.BATCH_HELP)
    _add_hw_options(run)
    _add_stream_option(run)
    _add_columns_option(run)
    run.add_argument("--timeline", help="save the pipeline timeline plot (PNG) here")
    _add_scheme_options(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    tab = _sub(
        sub,
        "table",
        "the papers' comparison table over schemes and time-steps, as CSV, Markdown, LaTeX "
        "and plots",
    )
    tab.add_argument("--model", help=_MODEL_HELP)
    tab.add_argument("--inputs", help=_INPUTS_HELP)
    _add_hw_options(tab)
    tab.add_argument("--out", required=True, help="folder for table.csv/.md/.tex and the plots")
    tab.add_argument("--samples", type=int, help="use only the first N samples")
    _add_stream_option(tab)
    tab.add_argument("--batch-size", type=int, default=256, help=text.BATCH_HELP)
    tab.add_argument(
        "--digits",
        type=int,
        default=report.DEFAULT_DIGITS,
        help=f"significant digits in table.md and table.tex (default {report.DEFAULT_DIGITS}; "
        f"table.csv keeps exact values)",
    )
    _add_columns_option(tab)
    tab.add_argument("--pdf", action="store_true", help="also save the plots as PDF")
    tab.add_argument("--no-progress", action="store_true", help="no progress bar")
    swp = _sub(
        sub,
        "sweep",
        "run an architecture sweep (.sweep.toml) over hardware fields and conversion "
        "settings; resumable",
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
    imp = _sub(
        sub,
        "import",
        f"read a model of another format ({', '.join(frontends.REGISTRY.suffixes())}) "
        f"and write it as a native quantized-ANN file",
    )
    imp.add_argument("model", help="the model file to import")
    imp.add_argument("-o", "--out", required=True, help="native model file to write (.qann.npz)")
    ins = _sub(sub, "inspect", "print how a model maps onto a hardware config")
    ins.add_argument("--model", help=_MODEL_HELP)
    _add_hw_options(ins, required=True)
    ins.add_argument(
        "--scheme",
        default=schemes.names()[0],
        choices=list(schemes.names()),
        help=f"scheme the model is converted to first (default: {schemes.names()[0]})",
    )
    _add_scheme_options(ins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neurosim`` console script."""
    parser = build_parser()
    args = parser.parse_args(["run"] if argv is None and len(sys.argv) == 1 else argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "run":
            if args.stream < 1:
                raise ConfigError(f"--stream must be >= 1, got {args.stream}")
            return _cmd_run(args)
        if args.command == "inspect":
            return _cmd_inspect(args)
        if args.command == "import":
            return _cmd_import(args)
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
