"""``neurosim validate``: the reduced suite (recorded reference figures) passes with the
explained residual, docs/validation.md holds its rows, the docs writer and the errors; the live
suite where the external tool is installed."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from neurosim import validate
from neurosim.cli import main
from neurosim.errors import ConfigError
from neurosim.validate import scalesim
from neurosim.validate.checks import Check, number, percent

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "fixtures" / "validation"


@pytest.fixture(scope="module")
def quick():
    (result,) = validate.run(["scalesim"], mode="recorded", quick=True)
    return result


def test_check_error_and_tolerance():
    """error = (neurosim − reference)/reference: 5696 vs 5695 → +1/5695 ≈ +0.0176 %."""
    c = Check("g", "conv1", "compute cycles", 5695, 5696, 0.01)
    assert c.error == pytest.approx(1 / 5695)
    assert c.passed
    assert percent(c.error) == "+0.01756 %"
    assert not Check("g", "x", "q", 100, 102, 0.01).passed
    assert Check("g", "x", "q", 100, 99, 0.01).passed
    exact = Check("g", "x", "spikes", 7, 7, 0.0)
    assert exact.passed
    assert exact.error == 0
    assert not Check("g", "x", "spikes", 7, 8, 0.0).passed
    assert Check("g", "x", "q", 0, 3, 0.5).error == math.inf
    assert number(1682405.0) == "1,682,405"


def test_reduced_scalesim_suite_passes_with_the_one_cycle_residual(quick):
    """All 216 CIFAR-10 settings (VGG-16 15 and ResNet-18 21 dense layers × 32², 128² × os, ws,
    is) pass; neurosim's PE stage is busy exactly one cycle more than SCALE-Sim's report (the
    0-based index of its last output write), so the error is +1/reference everywhere."""
    assert quick.mode == "recorded"
    assert len(quick.checks) == 216
    assert quick.passed
    for c in quick.checks:
        assert c.neurosim - c.reference == 1, (c.group, c.workload)
    summary = quick.summary().set_index("group")
    # SCALE-Sim 3.0.0's network totals (sum over conv + FC layers)
    assert summary.loc["VGG-16 CIFAR-10, 32×32, os", "reference"] == 622127
    assert summary.loc["VGG-16 CIFAR-10, 32×32, os", "neurosim"] == 622127 + 15
    assert summary.loc["ResNet-18 CIFAR-10, 128×128, is", "reference"] == 265399
    worst = max(abs(c.error) for c in quick.checks)
    assert worst == pytest.approx(1 / 573)  # fc2 (512 → 10) on 32², os: one fold, 512 + 62 − 1


def test_docs_page_holds_the_suite_rows(quick):
    """docs/validation.md was written by the suite: its SCALE-Sim section has every check of the
    reduced run, figure for figure, and its summary rows."""
    text = (ROOT / "docs" / "validation.md").read_text()
    begin, end = "<!-- validate:scalesim:begin -->", "<!-- validate:scalesim:end -->"
    assert begin in text
    assert end in text
    section = text[text.index(begin) : text.index(end)]
    for c in quick.checks:
        row = (
            f"| {c.group} | {c.workload} | {c.quantity} | {number(c.reference)} | "
            f"{number(c.neurosim)} | {percent(c.error)} | yes |"
        )
        assert row in section, row
    for r in quick.summary().itertuples():
        assert f"| {r.group} | {r.quantity} | {r.passed}/{r.checks} | {number(r.reference)} |" in (
            section
        )


def test_write_docs_rewrites_only_its_section(tmp_path, quick):
    page = tmp_path / "validation.md"
    page.write_text(
        "# Validation\n\nhand-written preface\n\n<!-- validate:scalesim:begin -->\nold\n"
        "<!-- validate:scalesim:end -->\n\nhand-written tail\n"
    )
    validate.write_docs([quick], page)
    text = page.read_text()
    assert text.startswith("# Validation\n\nhand-written preface\n\n")
    assert text.endswith("<!-- validate:scalesim:end -->\n\nhand-written tail\n")
    assert "\nold\n" not in text
    assert "**216 of 216 checks pass.**" in text
    once = text
    validate.write_docs([quick], page)
    assert page.read_text() == once
    fresh = tmp_path / "new.md"
    validate.write_docs([quick], fresh)
    assert fresh.read_text().startswith("# Validation\n\n<!-- validate:scalesim:begin -->\n")


def test_recording_that_does_not_match_the_zoo_is_an_error(tmp_path):
    frame = pd.read_csv(REFERENCES / scalesim.RECORDED)
    frame.loc[(frame["model"] == "vgg16") & (frame["layer"] == "conv3"), "c_out"] = 99
    frame.to_csv(tmp_path / scalesim.RECORDED, index=False)
    with pytest.raises(ConfigError, match=r"layer 'conv3' of vgg16 cifar10: c_out 99 \(zoo: 128\)"):
        validate.run(["scalesim"], mode="recorded", quick=True, references=tmp_path)
    frame = pd.read_csv(REFERENCES / scalesim.RECORDED)
    frame.loc[0, "layer"] = "conv99"
    frame.to_csv(tmp_path / scalesim.RECORDED, index=False)
    with pytest.raises(ConfigError, match="layer 'conv99' of vgg16 cifar10 is not a dense layer"):
        validate.run(["scalesim"], mode="recorded", quick=True, references=tmp_path)


def test_option_errors(tmp_path):
    with pytest.raises(ConfigError, match="recorded SCALE-Sim figures not found"):
        validate.run(["scalesim"], mode="recorded", references=tmp_path)
    with pytest.raises(ConfigError, match="unknown validation target 'nope'"):
        validate.run(["nope"])
    with pytest.raises(ConfigError, match="--record rewrites the recorded figures"):
        validate.run(["scalesim"], record=True)
    (tmp_path / scalesim.RECORDED).write_text("model,dataset\n")
    with pytest.raises(ConfigError, match="missing columns"):
        validate.run(["scalesim"], mode="recorded", references=tmp_path)
    if scalesim.tool_available(None) is None:
        with pytest.raises(ConfigError, match="the tool is not importable here"):
            validate.run(["scalesim"], mode="live", quick=True)


def test_cli_validate(tmp_path, capsys):
    csv, page = tmp_path / "checks.csv", tmp_path / "validation.md"
    argv = ["validate", "--target", "scalesim", "--quick", "--recorded", "--no-progress"]
    argv += ["--csv", str(csv)]
    assert main([*argv, "--write-docs", str(page)]) == 0
    out = capsys.readouterr().out
    assert "SCALE-Sim: systolic-array compute cycles: 216/216 checks pass" in out
    frame = pd.read_csv(csv)
    assert len(frame) == 216
    assert frame["passed"].all()
    assert "<!-- validate:scalesim:begin -->" in page.read_text()
    assert main(["validate", "--record", "--recorded"]) == 2  # mutually exclusive flags
    assert main(["validate", "--recorded", "--references", str(tmp_path / "none")]) == 2
    assert "recorded SCALE-Sim figures not found" in capsys.readouterr().err


def _tool_python() -> str | None:
    """The interpreter with SCALE-Sim: NEUROSIM_VALIDATE_SCALESIM_PYTHON, or this one."""
    found = os.environ.get("NEUROSIM_VALIDATE_SCALESIM_PYTHON")
    if found:
        return found
    return scalesim.tool_available(None)


@pytest.mark.skipif(_tool_python() is None, reason="SCALE-Sim is not installed")
def test_live_scalesim_reproduces_the_recording(tmp_path):
    """The full suite's live path on a small subset: the tool run now gives the recorded
    figures, and --record writes them back byte for byte."""
    frame = pd.read_csv(REFERENCES / scalesim.RECORDED)
    keep = (frame["model"] == "vgg16") & (frame["layer"] == "fc2")
    frame[keep].to_csv(tmp_path / scalesim.RECORDED, index=False, lineterminator="\n")
    before = (tmp_path / scalesim.RECORDED).read_bytes()
    (result,) = validate.run(
        ["scalesim"],
        mode="live",
        tool_python=_tool_python(),
        references=tmp_path,
        quick=True,
        record=True,
    )
    assert result.mode == "live"
    assert result.passed
    assert len(result.checks) == 6
    assert not any(re.search("differ from the recording", n) for n in result.notes)
    assert (tmp_path / scalesim.RECORDED).read_bytes() == before
