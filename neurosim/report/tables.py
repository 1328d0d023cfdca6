"""Tables for people and for programs: CSV keeps exact values, Markdown and LaTeX round to a
chosen number of significant digits, terminal tables pick columns, and every file records its
provenance.

Imports ``_files`` only. Provenance is a plain dict (``neurosim.provenance.collect``): JSON gets
it as a field, CSV a ``<stem>.provenance.json`` sidecar (so ``pandas.read_csv`` stays plain),
Markdown a footer line and LaTeX ``%`` comment lines.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim._files import atomic_write

DEFAULT_DIGITS = 4
"""Significant digits of numbers in Markdown, LaTeX and terminal tables (``--digits``)."""

TERMINAL_WIDTH = 120
"""Widest terminal table line ``neurosim`` prints (wider tables wrap into column blocks)."""

SIDECAR_SUFFIX = ".provenance.json"
"""Suffix of the provenance file beside a CSV (``table.csv`` → ``table.provenance.json``)."""


def _cell(value: object) -> str:
    """A cell as text that parses back to the same value (floats by their shortest repr)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def significant(value: object, digits: int = DEFAULT_DIGITS) -> str:
    """A number rounded to ``digits`` significant digits, for reading: ``0.9611``, ``94.99``,
    ``1,053,000`` (large numbers keep their magnitude with thousands separators), ``1.2e-07``
    (tiny ones in exponent form); other values as ``_cell`` writes them.

    An integer or float whose magnitude needs more than ``digits`` digits is rounded, so no
    number shown has more than ``digits`` significant digits.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        return _cell(value)
    v = float(value)
    if not math.isfinite(v):
        return "" if math.isnan(v) else str(v)
    if v == 0:
        return "0"
    exponent = math.floor(math.log10(abs(v)))
    if exponent >= 15 or exponent < -4:
        return f"{v:.{digits - 1}e}".replace("e+", "e")
    if exponent >= digits - 1:
        rounded = round(v, digits - 1 - exponent)
        return f"{rounded:,.0f}"
    text = f"{v:.{max(0, digits - 1 - exponent)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def terminal_table(df: pd.DataFrame, digits: int = DEFAULT_DIGITS) -> str:
    """``df`` as aligned text with ``digits`` significant digits, wrapped into column blocks
    no wider than ``TERMINAL_WIDTH``."""
    shown = df.copy()
    for c in shown.columns:
        if pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c]):
            shown[c] = [significant(v, digits) for v in shown[c]]
    with pd.option_context("display.max_columns", None, "display.max_colwidth", 40):
        return shown.to_string(index=False, line_width=TERMINAL_WIDTH, justify="right")


def with_totals(df: pd.DataFrame, label_column: str, label: str = "total") -> pd.DataFrame:
    """``df`` and a last row summing its additive columns (counts, bytes, cycles, tiles,
    cores, neurons); ratios, utilisations, means, maxima, per-unit and position columns are
    left blank there."""
    not_additive = ("per_", "utilisation", "mean_", "max_", "first_", "ratio", "share")
    total: dict[str, Any] = {label_column: label}
    for c in df.columns:
        if c == label_column or any(part in str(c) for part in not_additive):
            continue
        col = df[c]
        if pd.api.types.is_integer_dtype(col) and not pd.api.types.is_bool_dtype(col):
            total[c] = int(col.sum())
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def provenance_lines(provenance: Mapping[str, Any] | None) -> list[str]:
    """Provenance as short ``key: value`` lines (for Markdown and LaTeX files)."""
    if not provenance:
        return []
    lines = []
    for key, value in provenance.items():
        if isinstance(value, Mapping):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if v not in (None, "", {}))
        lines.append(f"{key}: {value}")
    return lines


def to_markdown(
    df: pd.DataFrame,
    *,
    digits: int | None = DEFAULT_DIGITS,
    provenance: Mapping[str, Any] | None = None,
) -> str:
    """GitHub Markdown table with numbers to ``digits`` significant digits (None: exact, as
    CSV writes them), and the provenance in a footer."""
    cols = [str(c) for c in df.columns]
    fmt: Callable[[object], str] = _cell if digits is None else (lambda v: significant(v, digits))
    lines = [
        "| " + " | ".join(cols) + " |",
        "|"
        + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns)
        + "|",
    ]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v).replace("|", "\\|") for v in row) + " |")
    footer = provenance_lines(provenance)
    if footer:
        lines += ["", "<sub>" + " · ".join(footer).replace("|", "\\|") + "</sub>"]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    label: str | None = None,
    digits: int | None = DEFAULT_DIGITS,
    provenance: Mapping[str, Any] | None = None,
) -> str:
    """A booktabs ``tabular`` (in a ``table`` float when a caption is given), numbers to
    ``digits`` significant digits (None: exact), provenance in ``%`` comment lines on top."""
    fmt: Callable[[object], str] = _cell if digits is None else (lambda v: significant(v, digits))
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    body = [
        r"\begin{tabular}{" + align + "}",
        r"\toprule",
        " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    for row in df.itertuples(index=False):
        body.append(" & ".join(_latex_escape(fmt(v)) for v in row) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    comments = ["% " + line.replace("\n", " ") for line in provenance_lines(provenance)]
    if caption is None:
        return "\n".join([*comments, *body]) + "\n"
    head = [r"\begin{table}[t]", r"\centering", r"\caption{" + _latex_escape(caption) + "}"]
    if label:
        head.append(r"\label{" + label + "}")
    return "\n".join([*comments, *head, *body, r"\end{table}"]) + "\n"


def to_csv(df: pd.DataFrame, **_: Any) -> str:
    """Plain CSV with exact values (provenance goes to the sidecar)."""
    return df.to_csv(index=False)


EXPORT_FORMATS: Mapping[str, Callable[..., str]] = {
    "csv": to_csv,
    "md": to_markdown,
    "tex": to_latex,
}
"""Report format registry: file suffix → writer (keywords ``digits``, ``provenance``)."""


def sidecar_path(path: str | os.PathLike) -> Path:
    """The provenance sidecar of a CSV: ``results.csv`` → ``results.provenance.json``."""
    path = Path(path)
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def write_sidecar(path: str | os.PathLike, provenance: Mapping[str, Any]) -> Path:
    """Write ``provenance`` as the sidecar of the file at ``path``, atomically."""
    return atomic_write(
        sidecar_path(path), (json.dumps(dict(provenance), indent=2) + "\n").encode()
    )


def export_table(
    df: pd.DataFrame,
    out_dir: str | os.PathLike,
    stem: str,
    formats: Iterable[str] = ("csv", "md", "tex"),
    *,
    digits: int | None = DEFAULT_DIGITS,
    provenance: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``df`` as ``<stem>.<fmt>`` for each format, atomically; returns the paths (the
    CSV's provenance sidecar last, when there is provenance)."""
    paths = []
    for fmt in formats:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown report format {fmt!r}; allowed: {sorted(EXPORT_FORMATS)}")
        path = Path(out_dir) / f"{stem}.{fmt}"
        text = EXPORT_FORMATS[fmt](df, digits=digits, provenance=provenance)
        paths.append(atomic_write(path, text.encode()))
    if provenance and "csv" in formats:
        paths.append(write_sidecar(Path(out_dir) / f"{stem}.csv", provenance))
    return paths


def json_payload(payload: Mapping[str, Any], provenance: Mapping[str, Any] | None) -> str:
    """``payload`` as JSON text with a ``provenance`` field (NaN written as null)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, Mapping):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return clean(v.item())
        return v

    full = {**payload, **({"provenance": dict(provenance)} if provenance else {})}
    return json.dumps(clean(full), indent=2) + "\n"


def columns_present(df: pd.DataFrame, wanted: Sequence[str]) -> pd.DataFrame:
    """``df`` restricted to ``wanted`` columns it has, in that order."""
    return df[[c for c in wanted if c in df.columns]]
