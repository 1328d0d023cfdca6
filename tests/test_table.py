"""`neurosim table`: the golden comparison table, exports that parse back, error rows."""

import io
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurosim import report
from neurosim.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from update_golden import GOLDEN, GOLDEN_ARGS  # noqa: E402


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("table")
    assert main(["table", "--out", str(out), *GOLDEN_ARGS]) == 0
    return out


def _compare(got: pd.DataFrame, want: pd.DataFrame, rtol: float = 1e-9) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for col in want.columns:
        g, w = got[col], want[col]
        if pd.api.types.is_integer_dtype(w) and rtol == 1e-9:
            np.testing.assert_array_equal(g.to_numpy(), w.to_numpy(), err_msg=col)
        elif pd.api.types.is_float_dtype(w):
            np.testing.assert_allclose(
                g.to_numpy(float), w.to_numpy(float), rtol=rtol, equal_nan=True, err_msg=col
            )
        else:
            assert g.fillna("").astype(str).tolist() == w.fillna("").astype(str).tolist(), col


@pytest.mark.slow
def test_golden_table(table_dir):
    _compare(pd.read_csv(table_dir / "table.csv"), pd.read_csv(GOLDEN))


def _parse_markdown(text: str) -> pd.DataFrame:
    lines = [ln for ln in text.strip().splitlines() if ln.startswith("|")]
    rows = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    csv = "\n".join(",".join(f'"{c}"' for c in r) for r in [rows[0], *rows[2:]])
    return pd.read_csv(io.StringIO(csv), thousands=",")


def _parse_latex(text: str) -> pd.DataFrame:
    body = text.split(r"\midrule")[1].split(r"\bottomrule")[0]
    head = text.split(r"\toprule")[1].split(r"\midrule")[0]

    def cells(line: str) -> list[str]:
        line = line.strip().removesuffix(r"\\").strip()
        return [
            re.sub(r"\\(.)", r"\1", c.strip()).replace("textbackslash{}", "\\")
            for c in re.split(r"(?<!\\)&", line)
        ]

    rows = [cells(ln) for ln in [head, *body.strip().splitlines()] if ln.strip()]
    csv = "\n".join(",".join(f'"{c}"' for c in r) for r in rows)
    return pd.read_csv(io.StringIO(csv), thousands=",")


@pytest.mark.slow
def test_markdown_and_latex_round_to_four_significant_digits(table_dir):
    """table.md and table.tex read back as table.csv rounded to 4 significant digits (a
    relative error of at most 5e-4), and hold no number with more than 4 significant digits."""
    want = pd.read_csv(table_dir / "table.csv")
    for text, parse in (
        ((table_dir / "table.md").read_text(), _parse_markdown),
        ((table_dir / "table.tex").read_text(), _parse_latex),
    ):
        _compare(parse(text), want, rtol=5e-4)
        body = "\n".join(
            ln for ln in text.splitlines() if ln.startswith("|") or ln.endswith("\\\\")
        )
        numbers = re.findall(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?", body)
        assert numbers
        assert max(_significant_digits(n) for n in numbers) <= 4


def _significant_digits(number: str) -> int:
    """Significant digits of a number as printed: ``0.9611`` 4, ``1,053,000`` 4, ``12`` 2."""
    mantissa = number.lstrip("-").split("e")[0].replace(",", "")
    if "." in mantissa:
        return len(mantissa.replace(".", "").lstrip("0"))
    return len(mantissa.strip("0")) or 1


def test_markdown_and_latex_exact_when_asked():
    """digits=None keeps every float's shortest repr, as CSV does."""
    df = pd.DataFrame({"a": [0.9611111111111111, 11854.0], "b": ["x", "y"]})
    md = report.to_markdown(df, digits=None)
    assert "0.9611111111111111" in md
    assert "11854.0" in md
    assert "0.9611 " in report.to_markdown(df)
    assert "11,850" in report.to_latex(df, digits=4)
    assert "11854.0" in report.to_latex(df, digits=None)


def test_table_files_record_provenance(table_dir):
    import json

    prov = json.loads((table_dir / "table.provenance.json").read_text())
    assert prov["model"]["name"] == "digits_cnn"
    assert prov["hw"]["name"] == "pe_array_tiny"
    assert len(prov["model"]["sha256"]) == 16
    assert prov["command"].startswith("neurosim table --out")
    md = (table_dir / "table.md").read_text()
    tex = (table_dir / "table.tex").read_text()
    for key in ("neurosim", "model", "hw", "energy_table", "command"):
        assert f"{key}: " in md.splitlines()[-1]
        assert any(ln.startswith(f"% {key}: ") for ln in tex.splitlines())
    assert prov["hw"]["sha256"] in md
    assert "modelled" in md
    assert pd.read_csv(table_dir / "table.csv").columns[0] == "setting"


@pytest.mark.slow
def test_table_rows_plots_and_error_rows(table_dir):
    df = pd.read_csv(table_dir / "table.csv")
    assert df["setting"].tolist()[:5] == [
        "if T=4",
        "if T=8",
        "if T=16",
        "if T=32",
        "mtif T=learned",
    ]
    assert len(df) == 4 + 1 + 4 + 6 + 1
    # Digits codes reach 16: Tc = 4 cannot encode them — an error row, the rest goes on.
    bad = df[df["setting"].str.startswith("sws Tc=4")]
    assert (bad["status"] == "error").all()
    assert bad["error"].str.contains("coding_steps >= 5").all()
    ok = df[df["status"] == "ok"]
    np.testing.assert_allclose(
        ok["energy_ratio"], ok["ann_energy_pj"] / ok["compute_energy_pj"], rtol=1e-12
    )
    assert (ok["energy_pj"] > ok["compute_energy_pj"]).all()
    # The IF baseline's synaptic energy grows with T, its ANN baseline does not change.
    if_rows = ok[ok["scheme"] == "if"]
    assert if_rows["compute_energy_pj"].is_monotonic_increasing
    assert if_rows["ann_energy_pj"].nunique() == 1
    # More time-steps: latency never falls for the IF baseline.
    lat = ok[ok["scheme"] == "if"]["latency_cycles"].tolist()
    assert lat == sorted(lat)
    for name in ("tradeoffs.png", "energy_if_T8.png", "latency_sws_Tc8_Ts2.png"):
        assert (table_dir / name).read_bytes()[:4] == b"\x89PNG"
