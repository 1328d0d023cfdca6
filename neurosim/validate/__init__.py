"""``neurosim validate``: neurosim's hardware figures next to those of outside simulators.

Imports ``experiment``, ``families``, ``functional``, ``hw``, ``convert``, ``schemes``, ``zoo``,
``mapping``, ``energy``, ``ir``, ``errors`` and ``_files``. One module per target
(``scalesim``, ``sanafe``), each returning a
``TargetResult``; ``run`` runs the chosen targets and ``write_docs`` writes each one's section
of docs/validation.md between its marker comments, leaving the hand-written rest alone.

Reference figures are recorded in the repository (``tests/fixtures/validation/``, with their
provenance) and used when the external tool is absent; with the tool installed (importable in
this interpreter, or ``tool_python`` naming another interpreter) the target runs it now. The
tools are never dependencies of neurosim: they run as separate processes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from neurosim._files import atomic_write
from neurosim.errors import ConfigError
from neurosim.validate import sanafe, scalesim
from neurosim.validate.checks import MODES, Check, TargetResult, section_markdown

__all__ = [
    "MODES",
    "TARGETS",
    "Check",
    "Target",
    "TargetResult",
    "default_docs",
    "default_references",
    "run",
    "section_markdown",
    "write_docs",
]


@dataclass(frozen=True)
class Target:
    """One outside tool neurosim is compared with."""

    key: str
    """Name on the command line and of the docs section."""
    tool: str
    """What to install to run it live."""
    available: Callable[[str | None], str | None]
    """``available(tool_python)`` → the interpreter that can run the tool, or None."""
    run: Callable[..., TargetResult]
    """``run(references, *, live, tool_python, quick, record, progress)``."""


TARGETS: dict[str, Target] = {
    scalesim.KEY: Target(
        key=scalesim.KEY,
        tool="pip install scalesim (3.0.0; with numpy < 2.4)",
        available=scalesim.tool_available,
        run=scalesim.run,
    ),
    sanafe.KEY: Target(
        key=sanafe.KEY,
        tool="pip install sanafe (2.2.9)",
        available=sanafe.tool_available,
        run=sanafe.run,
    ),
}
"""The validation targets, in report order."""


def _checkout() -> Path:
    return Path(__file__).resolve().parents[2]


def default_references() -> Path:
    """The recorded reference figures of a source checkout: ``tests/fixtures/validation``."""
    return _checkout() / "tests" / "fixtures" / "validation"


def default_docs() -> Path:
    """docs/validation.md of a source checkout."""
    return _checkout() / "docs" / "validation.md"


def run(
    targets: Sequence[str] | None = None,
    *,
    mode: str | None = None,
    tool_python: str | None = None,
    references: str | Path | None = None,
    quick: bool = False,
    record: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[TargetResult, ...]:
    """Run the validation targets.

    Parameters
    ----------
    targets
        Keys of ``TARGETS`` (default: all).
    mode
        ``"recorded"`` (the figures in ``references``), ``"live"`` (run the tool; ConfigError if
        it cannot be found) or None: live where the tool is found, else recorded.
    tool_python
        An interpreter that has the tool installed (e.g. a separate venv's ``bin/python``).
    references
        Folder of the recorded figures (default: ``default_references()``).
    quick
        Only the small workloads (what the test suite runs).
    record
        Live mode only: rewrite the recorded figures from this run.
    progress
        Called with a line of text as each workload starts.

    Returns
    -------
    tuple of TargetResult
        One per target, in the order given.
    """
    chosen = list(TARGETS) if not targets else list(targets)
    for key in chosen:
        if key not in TARGETS:
            raise ConfigError(f"unknown validation target {key!r}; allowed: {list(TARGETS)}")
    if mode is not None and mode not in MODES:
        raise ConfigError(f"validation mode must be one of {MODES}, got {mode!r}")
    if record and mode != "live":
        raise ConfigError("--record rewrites the recorded figures from a live run: add --live")
    folder = Path(references) if references is not None else default_references()
    results = []
    for key in chosen:
        target = TARGETS[key]
        python = target.available(tool_python) if mode != "recorded" else None
        if mode == "live" and python is None:
            raise ConfigError(
                f"validation target {key!r}: the tool is not importable here; install it "
                f"({target.tool}) or pass --tool-python PATH to an interpreter that has it"
            )
        results.append(
            target.run(
                folder,
                live=python is not None,
                tool_python=python,
                quick=quick,
                record=record,
                progress=progress,
            )
        )
    return tuple(results)


_SECTION = "<!-- validate:{key}:{end} -->"


def write_docs(results: Sequence[TargetResult], path: str | Path | None = None) -> Path:
    """Rewrite each result's section of docs/validation.md (between ``<!-- validate:KEY:begin
    -->`` and ``<!-- validate:KEY:end -->``); a section not there yet is appended. The rest of
    the page (the hand-written preface) is kept."""
    path = Path(path) if path is not None else default_docs()
    text = path.read_text() if path.is_file() else "# Validation\n"
    for result in results:
        begin = _SECTION.format(key=result.key, end="begin")
        end = _SECTION.format(key=result.key, end="end")
        block = f"{begin}\n{section_markdown(result)}{end}"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        found = pattern.search(text)
        if found:
            text = text[: found.start()] + block + text[found.end() :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write(path, text.encode())
    return path
