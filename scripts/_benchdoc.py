"""The ``--write-docs`` option of the benchmark scripts: each rewrites its own section of
``docs/benchmarks.md``.

Imported by ``scripts/bench_*.py`` (run from ``scripts/``). A section lies between the marker
comments ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``; writing one keeps every other
section as it was, puts the generated-file header on top, and replaces the file atomically (a
temporary file in the same folder, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS_PATH = ROOT / "docs" / "benchmarks.md"

ORDER = (
    "bench_functional",
    "bench_synapse",
    "bench_timing",
    "bench_timing_pe",
    "bench_sweep",
    "bench_scale",
)
"""Section order in the file; a section not listed here goes after these, by name."""

HEADER = """# Benchmarks

<!-- Generated file: do not edit by hand. Rerun the benchmark script instead. -->

**This file is generated.** Each section is written by one benchmark script run with
`--write-docs` (e.g. `python scripts/bench_functional.py --write-docs`), which rewrites its own
section, between its marker comments, and leaves the others as they are. Do not edit it by hand:
a hand edit is lost at the next run, and a figure here must come from the run it names.

Each section gives the date, the machine, the library versions and the exact command of its
run, the figures, the reference figure measured in the same run where there is one, and the
target. Figures from a shared machine vary by about ±20 % between runs.
"""

_SECTION = re.compile(r"<!-- (?P<name>[\w.-]+):begin -->\n.*?<!-- (?P=name):end -->", re.DOTALL)


def add_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--write-docs [PATH]`` (default path: the repository's docs/benchmarks.md)."""
    parser.add_argument(
        "--write-docs",
        nargs="?",
        const=DOCS_PATH,
        default=None,
        type=Path,
        metavar="PATH",
        help="also rewrite this script's section of docs/benchmarks.md (or of PATH)",
    )


def cpu_model() -> str:
    """The CPU's model name as the operating system reports it (or the architecture)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
                for line in info:
                    key, _, value = line.partition(":")
                    if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                        return value.strip()
        except OSError:
            pass
    elif sys.platform == "darwin":
        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """One line: CPUs, CPU model, operating system, Python and the numeric libraries."""
    versions = [f"Python {platform.python_version()}"]
    for module in ("numpy", "numba", "simpy"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            continue
    # Numba imports scipy's BLAS bindings when it sets itself up in a process, if scipy is
    # installed: 0.2-0.4 s of every process's start-up on this machine (not imported here).
    try:
        versions.append(f"scipy {importlib.metadata.version('scipy')} (Numba imports it)")
    except importlib.metadata.PackageNotFoundError:
        versions.append("no scipy")
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.machine()}; "
        + ", ".join(versions)
    )


def command_line() -> str:
    """The command that ran this script, with the script's path relative to the repository."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = script.relative_to(ROOT).as_posix()
    except ValueError:
        shown = f"scripts/{script.name}"
    return shlex.join(["python", shown, *sys.argv[1:]])


def markdown_table(rows: Sequence[Mapping[str, object]], columns: Sequence[tuple]) -> str:
    """A Markdown table; ``columns`` are (key, header, format spec) triples, e.g.
    ``("images_per_s", "img/s", ".1f")``. A missing or None value prints as an em dash."""
    lines = [
        "| " + " | ".join(header for _, header, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        cells = []
        for key, _, spec in columns:
            value = row.get(key)
            cells.append("—" if value is None else format(value, spec))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(
    name: str,
    title: str,
    *,
    what: str,
    table: str,
    target: str,
    met: bool | None,
    reference: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The Markdown of one benchmark's section, markers included."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "" if met is None else (" — **met**" if met else " — **not met**")
    lines = [
        f"<!-- {name}:begin -->",
        f"## {title}",
        "",
        what,
        "",
        table,
        "",
    ]
    if reference:
        lines.append(f"- **Reference, same run:** {reference}")
    lines += [
        f"- **Target:** {target}{verdict}",
        *(f"- {note}" for note in notes),
        f"- **Run:** {stamp}, `{command_line()}`",
        f"- **Machine:** {machine()}",
        f"<!-- {name}:end -->",
    ]
    return "\n".join(lines)


def write_section(name: str, text: str, path: Path = DOCS_PATH) -> Path:
    """Replace (or add) section ``name`` of the benchmarks file at ``path``; keep the others.

    ``text`` is the whole section, markers included (``section`` makes it). The file is
    written to a temporary file in the same folder and renamed over the old one.
    """
    path = Path(path)
    if not text.startswith(f"<!-- {name}:begin -->") or not text.endswith(f"<!-- {name}:end -->"):
        raise ValueError(f"section text must start and end with the {name!r} markers")
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    sections = {m["name"]: m.group(0) for m in _SECTION.finditer(old)}
    sections[name] = text
    rank = {n: i for i, n in enumerate(ORDER)}
    names = sorted(sections, key=lambda n: (rank.get(n, len(ORDER)), n))
    content = HEADER + "\n" + "\n\n".join(sections[n] for n in names) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
