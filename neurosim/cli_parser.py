"""The ``neurosim`` command line's parser: every subcommand, its options, help, description and
examples (texts in ``cli_text``); scheme options generated from the scheme records.

Imports ``schemes``, ``families``, ``frontends``, ``metrics``, ``report``, ``experiment``,
``sweep``, ``validate``, ``cli_text`` and ``errors``; ``cli`` runs what it parses.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from neurosim import (
    __version__,
    experiment,
    families,
    frontends,
    metrics,
    report,
    schemes,
    sweep,
    validate,
)
from neurosim import cli_text as text
from neurosim.errors import ConfigError

DEFAULT_HW = "pe_array"
"""The hardware config of ``run`` and ``table`` without ``--hw``."""
_MODEL_HELP = (
    "model file (.npz, or a format neurosim imports: "
    f"{', '.join(frontends.REGISTRY.suffixes())}) or zoo:NAME[:DATASET]; default: the bundled "
    "digits CNN"
)
_INPUTS_HELP = (
    ".npz with 'images' (integer codes, or real values the model's input quantizes) or "
    "'spikes' ([T, N, ...] events), and 'labels'"
)


_IMPORT_OPTION_DEST = "import_option_"
"""``neurosim import`` flags whose dest starts with this pass the rest of the dest as a keyword
to the importer (``frontends.import_model(path, out, **options)``); unset flags (default None)
pass nothing, and an importer rejects keywords it does not take. A new option is one
``add_argument(..., dest=_IMPORT_OPTION_DEST + keyword, default=None)`` on the subcommand."""


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
        else:
            kwargs["metavar"] = first.metadata.get("label") or name.upper()
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


class _Parser(argparse.ArgumentParser):
    """argparse with a mistake on the command line reported like every other one: a
    ConfigError, printed as one line, exit 2 (argparse's own way prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message} (see {self.prog} --help)")


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


def _add_jobs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, help=text.JOBS_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    _add_jobs_option(run)
    _add_hw_options(run)
    _add_stream_option(run)
    _add_columns_option(run)
    run.add_argument("--timeline", help="save the pipeline timeline plot (PNG) here")
    _add_engine(run)
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
    _add_jobs_option(tab)
    tab.add_argument(
        "--digits",
        type=int,
        default=report.DEFAULT_DIGITS,
        help=f"significant digits in table.md and table.tex (default {report.DEFAULT_DIGITS}; "
        f"table.csv keeps exact values)",
    )
    _add_columns_option(tab)
    tab.add_argument("--pdf", action="store_true", help="also save the plots as PDF")
    _add_engine(tab)
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
        f"and write it as a native model file",
    )
    imp.add_argument("model", help="the model file to import")
    imp.add_argument(
        "-o", "--out", required=True, help="native model file to write (.npz, e.g. m.qann.npz)"
    )
    nir_opts = imp.add_argument_group("NIR options (.nir)")
    for flag, kw in (
        ("--dt", {"type": float, "help": "seconds per step (default 1e-4, the NIR paper's)"}),
        ("--weight-bits", {"type": int, "help": "weight width per output channel (default 8)"}),
        (
            "--reset",
            {
                "choices": ["zero", "value", "subtract"],
                "help": "override every node's reset (default: the file's; Sinabs and snnTorch "
                "write a subtractive reset as reset to zero)",
            },
        ),
        ("--num-steps", {"type": int, "help": "T written into the model (default 16)"}),
        ("--frac-bits", {"type": int, "help": "fraction bits of every layer (default: per layer)"}),
        ("--mem-bits", {"type": int, "help": "membrane width in bits (default 32)"}),
        ("--leak-bits", {"type": int, "help": "most fraction bits of the leak (default 16)"}),
    ):
        dest = _IMPORT_OPTION_DEST + flag[2:].replace("-", "_")
        if "type" in kw:
            kw = {**kw, "metavar": "S" if kw["type"] is float else "N"}
        nir_opts.add_argument(flag, dest=dest, default=None, **kw)
    exp = _sub(sub, "export", "write an SNN model file as a NIR graph (.nir)")
    exp.add_argument("model", help="the model file (an SNN, or an ANN with --scheme)")
    exp.add_argument("-o", "--out", required=True, help="file to write (.nir)")
    exp.add_argument("--dt", type=float, help="seconds per step for LIF time constants (1e-4)")
    exp.add_argument("--scheme", choices=list(schemes.names()), help="convert an ANN model first")
    _add_scheme_options(exp)
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
    val = _sub(
        sub,
        "validate",
        "compare neurosim's hardware figures with outside simulators (SCALE-Sim, SANA-FE); "
        "exit 1 if a check fails",
    )
    val.add_argument(
        "--target",
        action="append",
        choices=list(validate.TARGETS),
        help="target to run (repeatable); default: every target",
    )
    how = val.add_mutually_exclusive_group()
    how.add_argument(
        "--live", action="store_true", help="run the external tool now (error if it is absent)"
    )
    how.add_argument(
        "--recorded",
        action="store_true",
        help="use the recorded reference figures even if the tool is installed",
    )
    val.add_argument(
        "--tool-python",
        help="interpreter that has the external tool installed (default: this one, if it can "
        "import the tool)",
    )
    val.add_argument(
        "--references",
        help="folder of the recorded reference figures (default: the source checkout's "
        "tests/fixtures/validation)",
    )
    val.add_argument(
        "--quick", action="store_true", help="small workloads only (what the tests run)"
    )
    val.add_argument(
        "--record",
        action="store_true",
        help="with --live: rewrite the recorded reference figures from this run",
    )
    val.add_argument("--csv", help="write every check (one row each) to this CSV file")
    val.add_argument(
        "--write-docs",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="rewrite each target's generated section of docs/validation.md (default path: "
        "the source checkout's)",
    )
    val.add_argument("--no-progress", action="store_true", help="no progress lines")
    return parser
