"""Publishable outputs: terminal width, one vocabulary across commands, --set, help texts, and
screenshot-level checks of every plot (rows present, labels apart, units, caption)."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from neurosim import experiment, hw, report, schemes
from neurosim.cli import build_parser, main
from neurosim.report.figure import MODELLED, pyplot, value_ticks

plt = pyplot()


def test_matplotlib_is_imported_only_to_draw():
    """The command line, the sweep and the reports load without matplotlib (its import is
    ~0.3 s of every command); the first figure imports it."""
    code = (
        "import sys, neurosim.cli, neurosim.sweep, neurosim.report as r;"
        "assert 'matplotlib' not in sys.modules;"
        "r.figure.pyplot();"
        "assert sys.modules['matplotlib'].get_backend().lower() == 'agg'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_on_the_bundled_model_fits_120_characters(capsys):
    assert main(["run", "--samples", "40", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 1 + len(schemes.names())
    assert max(len(ln) for ln in lines) <= 120
    assert "modelled" in lines[0]


def test_run_and_table_give_identical_figures(tmp_path):
    """The same setting (if T=8) with every default left alone: the same stream, latency,
    stalls and energy in ``run`` and ``table``."""
    common = ["--samples", "24", "--hw", "pe_array_tiny", "--no-progress"]
    assert (
        main(
            [
                "run",
                "--scheme",
                "if",
                "--num-steps",
                "8",
                "--json",
                str(tmp_path / "r.json"),
                *common,
            ]
        )
        == 0
    )
    assert main(["table", "--out", str(tmp_path / "t"), *common]) == 0
    run_row = json.loads((tmp_path / "r.json").read_text())["schemes"][0]
    table = pd.read_csv(tmp_path / "t" / "table.csv").set_index("setting")
    tab_row = table.loc["if T=8"]
    keys = [k for k in run_row if k.startswith(("latency", "stall", "energy", "throughput"))]
    assert "stall_cycles_per_sample" in keys
    for key in keys:
        assert run_row[key] == pytest.approx(float(tab_row[key]), rel=1e-12), key
    shared = set(run_row) - {"scheme"}
    assert shared <= set(table.columns)


def test_set_dram_bandwidth_follows_the_roofline(tmp_path):
    """``--set dram.bandwidth_gbps=25.6`` doubles pe_array's 12.8 GB/s: the result equals a
    config made with ``hw.replace_field``, and by the roofline (DRAM time = bytes /
    (bandwidth_gbps·1e9 / (frequency_mhz·1e6)) bytes per cycle, here 85.33 B/cycle) the latency
    falls, by at most half, and stays above the DRAM bound of one sample's traffic."""
    base = ["run", "--scheme", "mtif", "--samples", "4", "--stream", "1", "--no-progress"]
    assert main([*base, "--json", str(tmp_path / "a.json")]) == 0
    argv = [*base, "--set", "dram.bandwidth_gbps=25.6", "--json", str(tmp_path / "b.json")]
    assert main(argv) == 0
    slow = json.loads((tmp_path / "a.json").read_text())
    fast = json.loads((tmp_path / "b.json").read_text())
    assert fast["provenance"]["hw_overrides"] == {"dram.bandwidth_gbps": 25.6}
    lat_slow = slow["schemes"][0]["latency_cycles"]
    lat_fast = fast["schemes"][0]["latency_cycles"]
    assert lat_slow / 2 <= lat_fast < lat_slow
    cfg = hw.replace_field(hw.load("pe_array"), "dram.bandwidth_gbps", 25.6)
    assert cfg.dram_bytes_per_cycle == pytest.approx(25.6e9 / 300e6)
    net, images, labels = experiment.resolve_model(None, None, 4)
    ev = experiment.evaluate(net, images, labels, "mtif", {}, cfg, stream=1)
    assert ev.row["latency_cycles"] == lat_fast
    read = ev.timing.traffic["dram_read_bytes"]
    assert lat_fast >= read / cfg.dram_bytes_per_cycle


def test_bad_set_is_one_line_and_exit_2(capsys):
    assert main(["run", "--set", "dram.bandwith_gbps=1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "did you mean 'dram.bandwidth_gbps'" in err


def _walk(parser: argparse.ArgumentParser, name: str = "neurosim"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, f"{name} {sub_name}")


def test_every_command_and_option_explains_itself():
    for name, parser in _walk(build_parser()):
        assert parser.description, name
        assert parser.epilog, name
        assert "example" in parser.epilog, name
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, (name, action.dest)
            assert action.help != argparse.SUPPRESS, (name, action.dest)


def test_version(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.startswith("neurosim ")


def test_inspect_has_a_totals_row(capsys):
    assert main(["inspect", "--hw", "pe_array"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.strip().startswith("total") for ln in lines)
    assert max(len(ln) for ln in lines) <= 120


# --------------------------------------------------------------------------------------------
# Screenshot-level plot checks
# --------------------------------------------------------------------------------------------

INFO = {"model": "m", "scheme": "if T=2", "hw": "pe_array_tiny", "energy_table": "e"}


def _texts(fig):
    return [t for t in fig.findobj(lambda o: hasattr(o, "get_text")) if t.get_text()]


def _caption_ok(fig):
    assert any(MODELLED in t.get_text() and "hw pe_array_tiny" in t.get_text() for t in _texts(fig))


@pytest.fixture(scope="module")
def resnet20_timing():
    net = experiment.load_network("zoo:resnet20")
    images = np.asarray(__import__("neurosim").zoo.random_inputs(net, 1))
    cfg = hw.load("pe_array_tiny")
    ev = experiment.evaluate(net, images, None, "if", {"num_steps": 2}, cfg, stream=1)
    return net, ev


def test_resnet20_timeline_shows_every_layer(resnet20_timing):
    _net, ev = resnet20_timing
    fig = report.timeline_figure(ev.timing, info=INFO)
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    layers = set(ev.timing.intervals["layer"])
    assert len(ev.timing.intervals["stage"].unique()) > 60
    assert layers == set(rows)
    assert any("aggregated" in t.get_text() for t in _texts(fig))
    legend = ax.get_legend()
    renderer = fig.canvas.get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert "cycles" in ax.get_xlabel()
    _caption_ok(fig)
    plt.close(fig)


def test_bundled_timeline_one_row_per_stage():
    net, images, labels = experiment.resolve_model(None, None, 2)
    ev = experiment.evaluate(net, images, labels, "if", {}, hw.load("pe_array"), stream=2)
    fig = report.timeline_figure(ev.timing, info=INFO)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows == list(dict.fromkeys(ev.timing.intervals["stage"]))
    _caption_ok(fig)
    plt.close(fig)


def test_tradeoff_labels_never_overlap():
    """Twelve settings crowded into a small range: the labels that are drawn do not overlap,
    energy is in nJ or µJ, lines run in latency order."""
    rng = np.random.default_rng(0)
    rows = []
    for scheme in ("a", "b", "c"):
        for t in (1, 2, 4, 8):
            rows.append(
                {
                    "setting": f"{scheme} T={t}",
                    "scheme": scheme,
                    "latency_us": 10 + t + rng.random(),
                    "accuracy": 0.9 + 0.01 * rng.random(),
                    "energy_pj": 1.4e7 * (1 + 0.01 * rng.random()),
                }
            )
    fig = report.tradeoffs_figure(pd.DataFrame(rows).sample(frac=1, random_state=1), info=INFO)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes[:2]:
        boxes = [a.get_window_extent(renderer) for a in ax.texts if a.get_text()]
        assert boxes
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b)
        for line in ax.get_lines():
            xs = line.get_xdata()
            assert list(xs) == sorted(xs)
    assert fig.axes[1].get_ylabel() == "SNN energy per inference (µJ)"
    _caption_ok(fig)
    plt.close(fig)


def test_axis_effects_units_and_ticks():
    table = pd.DataFrame(
        {
            "dram.bandwidth_gbps": [0.8, 1.6, 3.2, 6.4, 12.8] * 2,
            "pe.unroll_steps": [1, 2, 3, 4, 5, 1, 2, 3, 4, 5],
            "latency_us": np.linspace(1, 10, 10),
            "energy_pj": np.linspace(1e5, 2e5, 10),
        }
    )
    fig = report.axis_effects_figure(
        table,
        ["dram.bandwidth_gbps", "pe.unroll_steps"],
        units={"dram.bandwidth_gbps": "GB/s", "pe.unroll_steps": "steps"},
        info=INFO,
    )
    fig.canvas.draw()
    bw, steps = fig.axes[0], fig.axes[2]
    assert bw.get_xlabel() == "dram.bandwidth_gbps (GB/s)"
    assert bw.get_xscale() == "log"
    assert [t.get_text() for t in bw.get_xticklabels()] == ["0.8", "1.6", "3.2", "6.4", "12.8"]
    assert [t.get_text() for t in steps.get_xticklabels()] == ["1", "2", "3", "4", "5"]
    assert fig.axes[1].get_ylabel() == "energy per inference (nJ)"
    _caption_ok(fig)
    plt.close(fig)


def test_value_ticks_linear_for_narrow_range():
    fig, ax = plt.subplots()
    value_ticks(ax, [4, 5, 6])
    assert ax.get_xscale() == "linear"
    assert list(ax.get_xticks()) == [4, 5, 6]
    plt.close(fig)


def test_zero_digits_and_an_unknown_base_are_one_line_and_exit_2(tmp_path, capsys):
    """--digits below 1 is refused; a derived config whose base does not exist names the file
    and its base."""
    assert main(["table", "--digits", "0", "--out", str(tmp_path / "t"), "--no-progress"]) == 2
    assert "--digits must be >= 1, got 0" in capsys.readouterr().err
    cfg = tmp_path / "b.hw.toml"
    cfg.write_text('base = "nosuch"\n')
    assert main(["run", "--hw", str(cfg), "--samples", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{cfg}: base = 'nosuch': unknown hardware config 'nosuch'" in err
