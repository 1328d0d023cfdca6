"""The values of a validation run: one ``Check`` per compared figure, one ``TargetResult`` per
outside tool, and the Markdown they are written as.

Imports nothing of neurosim but ``errors``.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neurosim.errors import ConfigError, UnsupportedError

MODES = ("recorded", "live")
"""Where reference figures come from: the recorded files in the repository, or the external
tool run now."""


@dataclass(frozen=True)
class Check:
    """One neurosim figure next to its reference figure."""

    group: str
    """The summary line this check belongs to (e.g. ``VGG-16 CIFAR-10, 32×32, os``)."""
    workload: str
    """What ran (e.g. a layer name)."""
    quantity: str
    """What is compared, with its unit (e.g. ``compute cycles``)."""
    reference: float
    neurosim: float
    tolerance: float | None
    """Largest allowed |relative error|; 0 demands equality; None: shown, not judged (a
    component whose error the notes explain, beside a judged total)."""

    @property
    def error(self) -> float:
        """(neurosim − reference) / reference; 0 when both are 0, ±inf when only the reference
        is."""
        if self.reference == 0:
            return 0.0 if self.neurosim == 0 else math.copysign(math.inf, self.neurosim)
        return (self.neurosim - self.reference) / self.reference

    @property
    def judged(self) -> bool:
        return self.tolerance is not None

    @property
    def passed(self) -> bool:
        """Within the tolerance (True for a check that is not judged)."""
        if self.tolerance is None:
            return True
        if self.tolerance == 0:
            return self.neurosim == self.reference
        return abs(self.error) <= self.tolerance


@dataclass(frozen=True, eq=False)
class TargetResult:
    """Every check against one outside tool, with where its references come from."""

    key: str
    """Registry key (``scalesim``, ``sanafe``): the name of its docs section."""
    title: str
    mode: str
    """One of ``MODES``."""
    provenance: tuple[str, ...]
    """Lines naming the tool, its version, its configuration and the recorded file."""
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()
    """Residuals explained, and what the comparison does not cover."""
    workloads: tuple[str, ...] = field(default=())
    """One line per workload: what ran on both sides."""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def judged(self) -> tuple[Check, ...]:
        """The checks with a tolerance."""
        return tuple(c for c in self.checks if c.judged)

    def to_frame(self) -> pd.DataFrame:
        """One row per check: target, group, workload, quantity, reference, neurosim, error,
        tolerance, passed."""
        return pd.DataFrame(
            [
                {
                    "target": self.key,
                    "group": c.group,
                    "workload": c.workload,
                    "quantity": c.quantity,
                    "reference": c.reference,
                    "neurosim": c.neurosim,
                    "error": c.error,
                    "tolerance": c.tolerance,
                    "passed": c.passed,
                }
                for c in self.checks
            ],
            columns=[
                "target",
                "group",
                "workload",
                "quantity",
                "reference",
                "neurosim",
                "error",
                "tolerance",
                "passed",
            ],
        )

    def summary(self) -> pd.DataFrame:
        """One row per group and quantity: judged checks, passed, Σ reference, Σ neurosim,
        error of the sums, largest |error| of one check, tolerance (NaN: not judged)."""
        frame = self.to_frame()
        rows = []
        for (group, quantity), grp in frame.groupby(["group", "quantity"], sort=False):
            ref, ns = float(grp["reference"].sum()), float(grp["neurosim"].sum())
            judged = grp["tolerance"].notna()
            rows.append(
                {
                    "group": group,
                    "quantity": quantity,
                    "checks": int(judged.sum()),
                    "passed": int(grp.loc[judged, "passed"].sum()),
                    "reference": ref,
                    "neurosim": ns,
                    "error": (ns - ref) / ref if ref else 0.0,
                    "max_abs_error": float(grp["error"].abs().max()),
                    "tolerance": float(grp["tolerance"].max()),
                }
            )
        return pd.DataFrame(rows)


def run_tool(tool_python: str, script: Path, job: dict, out: Path, tool: str) -> Any:
    """Run an outside tool's runner ``script`` with ``tool_python``, the ``job`` as JSON on its
    standard input, and read the JSON result it writes to ``out``; UnsupportedError with the
    last line of its standard error if it fails."""
    done = subprocess.run(
        [tool_python, str(script)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.is_file():
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise UnsupportedError(f"{tool} run with {tool_python} failed: {tail[0]}")
    return json.loads(out.read_text())


def read_recorded(path: Path, tool: str, columns: Sequence[str]) -> pd.DataFrame:
    """A recorded reference table (CSV) of ``tool``; ConfigError if the file is missing or
    lacks one of ``columns``."""
    if not path.is_file():
        raise ConfigError(
            f"recorded {tool} figures not found: {path}; pass --references DIR (the "
            f"repository's tests/fixtures/validation) or run the tool (--live)"
        )
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path}: missing columns {missing}; expected {list(columns)}")
    return frame


def percent(value: float) -> str:
    """A relative error in percent with enough digits to see a one-cycle residual."""
    if math.isinf(value):
        return "∞"
    if value == 0:
        return "0"
    return f"{100 * value:+.4g} %"


def number(value: float) -> str:
    """An integer with thousands separators; a float of magnitude ≥ 1000 rounded to one with
    separators, a smaller one to 6 significant digits."""
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.6g}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _tolerance(value: float) -> str:
    if math.isnan(value):
        return "not judged"
    return f"≤ {100 * value:g} %" if value else "equal"


def section_markdown(result: TargetResult, *, details: bool = True) -> str:
    """The generated docs section of one target: provenance, workloads, summary per group,
    notes and (in a collapsed block) every check."""
    judged = result.judged
    ok = sum(c.passed for c in judged)
    shown = len(result.checks) - len(judged)
    lines = [
        f"### {result.title}",
        "",
        f"**{ok} of {len(judged)} checks pass.** "
        + ("All within tolerance." if result.passed else "Some checks fail (marked below).")
        + (f" {shown} more figures are shown, not judged (see the notes)." if shown else ""),
        "",
        "Reference figures:",
        "",
        *[f"- {line}" for line in result.provenance],
        "",
    ]
    if result.workloads:
        lines += ["Workloads:", "", *[f"- {w}" for w in result.workloads], ""]
    summary = result.summary()
    rows = [
        (
            r.group,
            r.quantity,
            f"{r.passed}/{r.checks}" if r.checks else "shown",
            number(r.reference),
            number(r.neurosim),
            percent(r.error),
            percent(r.max_abs_error).lstrip("+"),
            _tolerance(r.tolerance),
        )
        for r in summary.itertuples()
    ]
    lines += markdown_table(
        (
            "workload",
            "quantity",
            "pass",
            "reference",
            "neurosim",
            "error",
            "largest error",
            "tolerance",
        ),
        rows,
    )
    lines += [
        "",
        "*reference* and *neurosim* are sums over the group's checks, *error* is the error of "
        "the sums, *largest error* the largest |error| of one check.",
        "",
    ]
    if result.notes:
        lines += ["Notes:", "", *[f"- {n}" for n in result.notes], ""]
    if details:
        lines += [
            "<details><summary>Every check</summary>",
            "",
            *markdown_table(
                ("group", "workload", "quantity", "reference", "neurosim", "error", "pass"),
                [
                    (
                        c.group,
                        c.workload,
                        c.quantity,
                        number(c.reference),
                        number(c.neurosim),
                        percent(c.error),
                        "-" if not c.judged else "yes" if c.passed else "**no**",
                    )
                    for c in result.checks
                ],
            ),
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
