"""Command line: ``neurosim run | table | sweep | inspect | import | export | validate``; the
only place that prints and sets exit codes.

Imports everything upstream of it; the parser is ``cli_parser``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim import (
    comparison,
    convert,
    evaluations,
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
    validate,
)
from neurosim._files import atomic_write
from neurosim.cli_parser import (
    _IMPORT_OPTION_DEST,
    _OPTION_DEST,
    DEFAULT_HW,
    build_parser,
)
from neurosim.errors import ConfigError, ModelError, NeurosimError
from neurosim.experiment import load_network, resolve_model
from neurosim.hw.derive import parse_assignment


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


@contextlib.contextmanager
def provenance_beside(
    args: argparse.Namespace, net: ir.Network, config: hw.HwConfig, **extra: Any
) -> Iterator[Future]:
    """``result_provenance`` computed in a thread while the caller simulates (its value:
    ``.result()``): hashing a large model's arrays (VGG-16 ImageNet: ~0.15 s) then costs no
    time after the simulation."""
    with ThreadPoolExecutor(1, thread_name_prefix="neurosim-provenance") as pool:
        yield pool.submit(result_provenance, args, net, config, **extra)


def snn_run_columns() -> tuple[str, ...]:
    """Columns of ``run`` for a model that is an SNN (an imported NIR graph): agreement with its
    float reference in place of the quantized ANN's."""
    return tuple(
        c
        for col in run_columns()
        for c in (experiment.REFERENCE_COLUMNS if col == "ann_accuracy" else (col,))
        if c != "ann_agreement"
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
    """One row per scheme: accuracy, agreement with the quantized ANN (with the float reference
    for a model that is an SNN), time-steps, op counts, latency, throughput and stalls of a
    stream on the hardware config, and energy.

    Every scheme is converted and mapped first, so a model that does not fit the hardware
    fails before any simulation. Without a timeline the timing runs on the family's fast
    engine and keeps summed cycles only (the same numbers); a timeline needs the intervals.
    """
    is_snn = net.kind == "snn"
    config = load_config(args)
    engine = args.engine
    if args.timeline and engine == "fast":
        engine = "simpy"
    families.resolve_engine(config, engine)
    options = {s: {} if is_snn else scheme_options(args, s) for s in schemes}
    prepared = [experiment.prepare(net, s, options[s], config) for s in schemes]
    float_ref = experiment.float_reference(args.model) if is_snn else None
    results = evaluations.evaluate_settings(
        net,
        images,
        labels,
        [(s, options[s]) for s in schemes],
        config,
        prepared,
        jobs=args.jobs,
        stream=args.stream,
        batch_size=args.batch_size,
        reference=None if is_snn else functools.partial(qann.predict, net, images),
        progress=progress,
        float_reference=float_ref,
        engine=engine,
        keep_intervals=bool(args.timeline),
    )
    evaluations.first_error(results)
    evals = dict(zip(schemes, results, strict=True))
    cols = snn_run_columns() if is_snn else run_columns()
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
    if net.kind == "snn":
        if args.scheme and args.scheme != [net.scheme]:
            raise ModelError(
                f"--scheme: model '{net.name}' is already a '{net.scheme}' SNN and runs as it is"
            )
        chosen = [net.scheme]
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
    config = load_config(args)
    extra = {"samples": len(images), "stream": args.stream}
    with provenance_beside(args, net, config, **extra) as provenance_of:
        try:
            table, results = run_table(
                net, images, labels, chosen, args, progress=None if bar is None else bar.update
            )
        finally:
            if bar is not None:
                bar.close()
        prov = provenance_of.result()
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
        f"stream: {min(args.stream, len(images))}   (hardware figures are modelled estimates)"
    )
    shown = table[metrics.select(args.columns, list(table.columns), "scheme")]
    print(report.terminal_table(shown))
    for ev in results.values():
        if ev.reference_layers is not None:
            print("spike agreement with the float reference, per layer:")
            print(report.terminal_table(ev.reference_layers))
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
    snn = _as_snn(net, args)
    table = families.compile(snn, config).to_frame()
    print(f"model: {net.name}   scheme: {snn.scheme}   hw: {config.meta.name} ({config.family})")
    print(report.terminal_table(report.with_totals(table, "layer")))
    return 0


def _as_snn(net: ir.Network, args: argparse.Namespace) -> ir.Network:
    """The model itself when it is an SNN, else converted to ``--scheme`` with its options."""
    if net.kind == "snn":
        return net
    return convert.convert(net, args.scheme, **scheme_options(args, args.scheme))


def _cmd_import(args: argparse.Namespace) -> int:
    options = {
        key.removeprefix(_IMPORT_OPTION_DEST): value
        for key, value in vars(args).items()
        if key.startswith(_IMPORT_OPTION_DEST) and value is not None
    }
    if Path(args.model).suffix.lower() == frontends.NATIVE_SUFFIX:
        raise ModelError(f"{args.model}: already a native model file; nothing to import")
    try:
        net, out = frontends.import_model(args.model, args.out, **options)
    except TypeError as exc:
        raise ModelError(f"{args.model}: {exc}") from None
    inp = net.input
    if net.kind == "snn":
        spiking = [lay for lay in net.layers if getattr(lay, "neuron", None) is not None]
        print(
            f"imported {args.model}: {net.kind} ({net.scheme}), {len(net.layers)} layers, "
            f"{len(spiking)} spiking, input {inp.shape}"
            + (f" spikes over T = {inp.steps} steps" if inp.steps else "")
        )
    else:
        acts = [lay for lay in net.layers if ir.is_spiking(lay)]
        rounding = sorted({inp.rounding, *(lay.act.rounding for lay in acts)})
        print(
            f"imported {args.model}: quantized ANN, {len(net.layers)} layers, {len(acts)} "
            f"quantized activations (levels {sorted({lay.act.levels for lay in acts})}), input "
            f"{inp.shape} scale {inp.scale:g} codes 0..{inp.levels}, rounding {', '.join(rounding)}"
        )
    print(f"written to: {out}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    net = load_network(args.model)
    if net.kind != "snn" and not args.scheme:
        raise ModelError(
            f"{args.model}: a quantized ANN; give --scheme to convert it before exporting"
        )
    snn = _as_snn(net, args)
    options = {} if args.dt is None else {"dt": args.dt}
    out = frontends.export_model(snn, args.out, **options)
    print(f"exported {snn.name} ({snn.scheme}, {len(snn.layers)} layers) to: {out}")
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
    extra = {"samples": len(images), "stream": args.stream}
    with provenance_beside(args, net, config, **extra) as provenance_of:
        try:
            table, evals = comparison.comparison_table(
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
                jobs=args.jobs,
            )
        finally:
            if bar is not None:
                bar.close()
        prov = provenance_of.result()
    out = Path(args.out)
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
        f"stream: {min(args.stream, len(images))}   written to: {out}   "
        "(hardware figures are modelled estimates)"
    )
    shown = table[metrics.select(args.columns, list(table.columns), "setting")]
    print(report.terminal_table(shown))
    for _, row in table[table["status"] == "error"].iterrows():
        print(f"  {row['setting']}: {row['error']}")
    return 0


PARETO_SHOWN = ("latency_us", "energy_pj", "throughput_sps", "stall_share", "energy_ratio")
"""Metric columns printed with each Pareto-optimal point (after its axis values)."""


def _cmd_sweep(args: argparse.Namespace, started: Callable[[], object] | None = None) -> int:
    spec = sweep.load_spec(args.spec)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        class Bar(tqdm):
            monitor_interval = 0  # no monitor thread: the sweep's workers fork from here

        bar = Bar(total=0, unit="pt", desc=f"sweep {spec.name}", file=sys.stderr, disable=None)
    first_report = [True]

    def progress(p: sweep.SweepProgress) -> None:
        if first_report:
            first_report.clear()
            if started is not None:
                started()  # the sweep's start-up is done
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


def _cmd_validate(args: argparse.Namespace) -> int:
    mode = "live" if args.live else "recorded" if args.recorded else None

    def progress(text: str) -> None:
        if not args.no_progress:
            print(text, file=sys.stderr)

    results = validate.run(
        args.target,
        mode=mode,
        tool_python=args.tool_python,
        references=args.references,
        quick=args.quick,
        record=args.record,
        progress=progress,
    )
    for result in results:
        ok = sum(c.passed for c in result.judged)
        print(
            f"{result.title}: {ok}/{len(result.judged)} checks pass "
            f"(reference figures: {result.mode})"
        )
        table = result.summary()
        with pd.option_context("display.width", 200, "display.max_columns", None):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    if args.csv:
        frame = pd.concat([r.to_frame() for r in results], ignore_index=True)
        atomic_write(args.csv, frame.to_csv(index=False).encode())
    if args.write_docs is not None:
        path = validate.write_docs(results, args.write_docs or None)
        print(f"written: {path}")
    return 0 if all(r.passed for r in results) else 1


EXIT_USER_ERROR = 2
"""Exit status of a user's mistake (a ``NeurosimError``, an argparse error, out of memory)."""
EXIT_BUG = 1
"""Exit status of a bug in neurosim (any other exception: a traceback is printed)."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT)."""
EXIT_BROKEN_PIPE = 141
"""Exit status when the reader of standard output went away (128 + SIGPIPE, ``| head``)."""

BUG_MESSAGE = (
    "neurosim: internal error: this is a bug in neurosim, not a problem with your input; "
    "please report it with the command line and the traceback above"
)


def main(argv: Sequence[str] | None = None, *, started: Callable[[], object] | None = None) -> int:
    """Entry point of the ``neurosim`` console script.

    The contract: a user's mistake (``NeurosimError``) prints one line per problem, naming it,
    and exits 2; Ctrl-C prints one line and exits 130; a closed output pipe exits 141
    quietly; anything else is a bug in neurosim: a traceback, a line saying so, exit 1.
    ``started`` is called once a sweep's start-up is done (its first progress report, the
    model and traces made); the console script freezes them out of the garbage collector's
    scans there (``neurosim._memory``).
    """
    try:
        return _main(argv, started)
    except NeurosimError as exc:
        print(f"neurosim: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("neurosim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except MemoryError:
        print(
            "neurosim: error: out of memory; lower --batch-size or --samples, or simulate a "
            "smaller model",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except Exception:
        traceback.print_exc()
        print(BUG_MESSAGE, file=sys.stderr)
        return EXIT_BUG


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit does not complain
    about the closed pipe a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: Sequence[str] | None, started: Callable[[], object] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(["run"] if argv is None and len(sys.argv) == 1 else argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    args.argv = list(sys.argv[1:] if argv is None else argv)
    for flag in ("stream", "batch_size", "digits", "jobs"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "inspect":
        return _cmd_inspect(args)
    if args.command == "import":
        return _cmd_import(args)
    if args.command == "export":
        return _cmd_export(args)
    if args.command == "sweep":
        return _cmd_sweep(args, started)
    if args.command == "validate":
        return _cmd_validate(args)
    if args.command == "table":
        return _cmd_table(args)
    parser.print_help()
    return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
