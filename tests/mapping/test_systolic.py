"""Systolic dataflows (``mapping.systolic``): hand-worked folds, cycles and operand reads, and
equality with SCALE-Sim 3.0.0's own figures (``tests/fixtures/validation/scalesim.csv``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurosim.mapping import systolic

FIXTURE = Path(__file__).parents[1] / "fixtures" / "validation" / "scalesim.csv"


def _scalesim_rows() -> list[dict[str, str]]:
    with FIXTURE.open() as f:
        return list(csv.DictReader(f))


def _gemm(row: dict[str, str]) -> tuple[int, int, int]:
    """(pixels, window, C_o) of a recorded layer: SCALE-Sim's output size from the padded
    ifmap it was given, ⌈(H − K + S)/S⌉ (it never pads)."""
    k_h, k_w, s = int(row["k_h"]), int(row["k_w"]), int(row["stride"])
    h_o = -(-(int(row["scalesim_ifmap_h"]) - k_h + s) // s)
    w_o = -(-(int(row["scalesim_ifmap_w"]) - k_w + s) // s)
    return h_o * w_o, k_h * k_w * int(row["c_in"]), int(row["c_out"])


def test_operand_shapes_per_dataflow():
    """pixels 10, window 5, C_o 6: os (10, 6, 5), ws (5, 6, 10), is (5, 10, 6)."""
    assert systolic.operand_shape("os", 10, 5, 6) == (10, 6, 5)
    assert systolic.operand_shape("ws", 10, 5, 6) == (5, 6, 10)
    assert systolic.operand_shape("is", 10, 5, 6) == (5, 10, 6)
    with pytest.raises(ValueError, match="dataflow must be one of"):
        systolic.operand_shape("rs", 10, 5, 6)


def test_cycles_worked_by_hand_on_a_4x4_array():
    """pixels 10, window 5, C_o 6 on R = C = 4:

    os: folds ⌈10/4⌉·⌈6/4⌉ = 3·2 = 6, per fold 5 + 4 + 4 − 2 = 11 → 66;
    ws: folds ⌈5/4⌉·⌈6/4⌉ = 2·2 = 4, per fold 10 + 2·4 + 4 − 2 = 20 → 80;
    is: folds ⌈5/4⌉·⌈10/4⌉ = 2·3 = 6, per fold 6 + 2·4 + 4 − 2 = 16 → 96.
    SCALE-Sim reports one less (its last output write's 0-based cycle)."""
    got = {df: systolic.compute_cycles(df, 10, 5, 6, 4, 4) for df in systolic.DATAFLOWS}
    assert got == {"os": 66, "ws": 80, "is": 96}
    assert systolic.scalesim_report_cycles("ws", 10, 5, 6, 4, 4) == 79
    layer = systolic.systolic_layer("is", 4, 4, pixels=10, window=5, c_out=6)
    assert (layer.folds, layer.fold_cycles, layer.cycles) == (6, 16, 96)
    assert layer.macs == 300
    # used PEs S_r·S_c = 5·10 = 50 over 6 folds of 16 PEs
    assert layer.mapping_efficiency == pytest.approx(50 / 96)
    assert layer.utilisation == pytest.approx(300 / (96 * 16))


def test_non_square_array():
    """R = 3, C = 5, os, pixels 7, window 2, C_o 11: folds ⌈7/3⌉·⌈11/5⌉ = 3·3 = 9, per fold
    2 + 3 + 5 − 2 = 8 → 72; ws: ⌈2/3⌉·⌈11/5⌉ = 3 folds of 7 + 6 + 5 − 2 = 16 → 48."""
    assert systolic.compute_cycles("os", 7, 2, 11, 3, 5) == 72
    assert systolic.compute_cycles("ws", 7, 2, 11, 3, 5) == 48


def test_formulas_work_on_arrays():
    got = systolic.compute_cycles("os", np.array([10, 16, 17]), 5, 6, 4, 4)
    # pixel folds 3, 4, 5 → 6, 8, 10 folds of 11 cycles
    np.testing.assert_array_equal(got, [66, 88, 110])


def test_operand_reads_worked_by_hand():
    """pixels 10, window 5, C_o 6 on 4 × 4.

    os: inputs 10·5·⌈6/4⌉ = 100, weights 5·6·⌈10/4⌉ = 90, outputs 60, no partial sums;
    ws: inputs 10·5·2 = 100, weights 5·6 = 30 (loaded once), outputs 60·⌈5/4⌉ = 120, of which
        60 are read back;
    is: inputs 5·10 = 50 (loaded once), weights 5·6·⌈10/4⌉ = 90, outputs 120, 60 read back."""
    assert systolic.operand_reads("os", 10, 5, 6, 4, 4) == (100, 90, 60, 0)
    assert systolic.operand_reads("ws", 10, 5, 6, 4, 4) == (100, 30, 120, 60)
    assert systolic.operand_reads("is", 10, 5, 6, 4, 4) == (50, 90, 120, 60)


def test_every_recorded_scalesim_figure_equals_the_closed_form():
    """All 316 layers × arrays × dataflows SCALE-Sim 3.0.0 was run on (VGG-16 and ResNet-18,
    CIFAR-10 and ImageNet, 32 × 32 and 128 × 128): compute cycles, mapping efficiency and the
    SRAM input and filter reads are the closed forms exactly, with no stalls."""
    rows = _scalesim_rows()
    assert len(rows) == 316
    for row in rows:
        pixels, window, c_out = _gemm(row)
        r, c, df = int(row["array_rows"]), int(row["array_cols"]), row["dataflow"]
        layer = systolic.systolic_layer(df, r, c, pixels=pixels, window=window, c_out=c_out)
        where = f"{row['model']} {row['dataset']} {row['layer']} {r}x{c} {df}"
        assert int(row["stall_cycles"]) == 0, where
        assert layer.cycles - 1 == int(row["compute_cycles"]), where
        assert systolic.scalesim_report_cycles(df, pixels, window, c_out, r, c) == int(
            row["compute_cycles"]
        )
        assert 100 * layer.mapping_efficiency == pytest.approx(
            float(row["mapping_eff_pct"]), rel=1e-12
        ), where
        assert layer.input_reads == int(row["sram_ifmap_reads"]), where
        assert layer.weight_reads == int(row["sram_filter_reads"]), where


def test_output_writes_against_scalesim():
    """ws and is write every row fold's partial sums, as SCALE-Sim does; for os SCALE-Sim 3.0.0
    records 2·R writes more per fold than outputs exist (each output is written once here)."""
    for row in _scalesim_rows():
        pixels, window, c_out = _gemm(row)
        r, c, df = int(row["array_rows"]), int(row["array_cols"]), row["dataflow"]
        layer = systolic.systolic_layer(df, r, c, pixels=pixels, window=window, c_out=c_out)
        extra = 2 * r * layer.folds if df == "os" else 0
        assert layer.output_writes + extra == int(row["sram_ofmap_writes"])


@given(
    dataflow=st.sampled_from(systolic.DATAFLOWS),
    pixels=st.integers(1, 300),
    window=st.integers(1, 300),
    c_out=st.integers(1, 300),
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
)
def test_invariants(dataflow, pixels, window, c_out, rows, cols):
    """Cycles cover the MACs (at most R·C per cycle); a bigger array never needs more folds;
    every operand element is read at least once; partial sums are read back only for ws/is."""
    layer = systolic.systolic_layer(dataflow, rows, cols, pixels=pixels, window=window, c_out=c_out)
    assert layer.cycles * rows * cols >= layer.macs
    assert 0 < layer.mapping_efficiency <= 1
    bigger = systolic.systolic_layer(
        dataflow, rows + 1, cols + 1, pixels=pixels, window=window, c_out=c_out
    )
    assert bigger.folds <= layer.folds
    assert layer.input_reads >= pixels * window
    assert layer.weight_reads >= window * c_out
    assert layer.output_writes - layer.psum_reads == pixels * c_out
    assert (layer.psum_reads == 0) == (dataflow == "os" or window <= rows)
