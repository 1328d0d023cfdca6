"""Systolic dataflows of a dense conv/linear layer on an R × C array, as SCALE-Sim v3 computes
them: output-, weight- and input-stationary (``os``, ``ws``, ``is``).

Pure integer formulas (they work on ints and on int arrays alike); imports nothing of neurosim.
A layer is the GEMM [pixels × window] · [window × C_o] with pixels = steps·H_o·W_o (every
computed time-step is another set of output pixels) and window = K_h·K_w·C_i (im2col).
SCALE-Sim maps it onto the array as (Samajdar et al., SCALE-Sim, 2018/2020; v3 source
``scalesim/topology_utils.py``, ``scalesim/compute/systolic_compute_{os,ws,is}.py``):

========  ==============  =============  ====================
dataflow  S_r (rows)      S_c (columns)  streamed T
========  ==============  =============  ====================
os        pixels          C_o            window
ws        window          C_o            pixels
is        window          pixels         C_o
========  ==============  =============  ====================

folds = ⌈S_r/R⌉·⌈S_c/C⌉, each fold costs T + R + C − 2 cycles (os: operands skewed in, the
last result drained) or T + 2R + C − 2 (ws, is: R more cycles to pre-load the stationary
operand), and folds run back to back: cycles = folds × per-fold. SCALE-Sim reports one less
(the 0-based index of its last output write, ``scalesim_report_cycles``).
"""

from __future__ import annotations

from dataclasses import dataclass

DATAFLOWS = ("os", "ws", "is")
"""Systolic dataflows: output-, weight- and input-stationary (SCALE-Sim's ``Dataflow``)."""


def _ceil_div(a, b):
    return -(-a // b)


def _check(dataflow: str) -> None:
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")


def operand_shape(dataflow: str, pixels, window, c_out):
    """(S_r, S_c, T) of the GEMM [pixels × window]·[window × c_out] for ``dataflow``.

    ``pixels`` = steps·H_o·W_o output positions, ``window`` = K_h·K_w·C_i (table above).
    """
    _check(dataflow)
    if dataflow == "os":
        return pixels, c_out, window
    if dataflow == "ws":
        return window, c_out, pixels
    return window, pixels, c_out


def fold_grid(dataflow: str, pixels, window, c_out, rows, cols):
    """(row folds, column folds) = (⌈S_r/R⌉, ⌈S_c/C⌉)."""
    s_r, s_c, _ = operand_shape(dataflow, pixels, window, c_out)
    return _ceil_div(s_r, rows), _ceil_div(s_c, cols)


def fold_cycles(dataflow: str, streamed, rows, cols):
    """Cycles of one fold: T + R + C − 2 (os) or T + 2R + C − 2 (ws, is).

    os: T operand rows skewed over R + C − 2 cycles; ws/is: R cycles pre-load the stationary
    operand before the T streamed rows (SCALE-Sim v3 demand matrices; a partial fold costs as
    much as a full one).
    """
    _check(dataflow)
    extra = rows if dataflow != "os" else 0
    return streamed + rows + cols - 2 + extra


def compute_cycles(dataflow: str, pixels, window, c_out, rows, cols):
    """Cycles the array is busy for one layer: folds × per-fold cycles.

    Example (VGG-16 CIFAR conv1 on 32 × 32, os): pixels 32·32 = 1024, window 3·3·3 = 27,
    C_o = 64 → folds ⌈1024/32⌉·⌈64/32⌉ = 64, per fold 27 + 32 + 32 − 2 = 89, 64·89 = 5696
    (SCALE-Sim 3.0.0 reports 5695).
    """
    _, _, streamed = operand_shape(dataflow, pixels, window, c_out)
    f_r, f_c = fold_grid(dataflow, pixels, window, c_out, rows, cols)
    return f_r * f_c * fold_cycles(dataflow, streamed, rows, cols)


def scalesim_report_cycles(dataflow: str, pixels, window, c_out, rows, cols):
    """SCALE-Sim v3's "Total Cycles" ("Compute cycles") with no stalls: the 0-based index of
    its last output write, ``compute_cycles − 1``."""
    return compute_cycles(dataflow, pixels, window, c_out, rows, cols) - 1


def operand_reads(dataflow: str, pixels, window, c_out, rows, cols):
    """(input reads, weight reads, output writes, partial-sum reads) in elements.

    Each operand element enters the array once per fold that uses it; unused rows and columns
    of a partial fold read nothing:

    * os: inputs pixels·window·⌈C_o/C⌉, weights window·C_o·⌈pixels/R⌉, outputs written once;
    * ws: weights window·C_o (pre-loaded once), inputs pixels·window·⌈C_o/C⌉;
    * is: inputs window·pixels (pre-loaded once), weights window·C_o·⌈pixels/C⌉;
    * ws and is leave a partial sum per row fold: pixels·C_o·⌈window/R⌉ writes, of which all but
      the first fold's are read back to accumulate.

    The input and weight reads equal SCALE-Sim 3.0.0's SRAM IFMAP and filter reads.
    """
    _check(dataflow)
    outputs = pixels * c_out
    if dataflow == "os":
        return (
            pixels * window * _ceil_div(c_out, cols),
            window * c_out * _ceil_div(pixels, rows),
            outputs,
            0 * outputs,
        )
    row_folds = _ceil_div(window, rows)
    if dataflow == "ws":
        ins, weights = pixels * window * _ceil_div(c_out, cols), window * c_out
    else:
        ins, weights = window * pixels, window * c_out * _ceil_div(pixels, cols)
    return ins, weights, outputs * row_folds, outputs * (row_folds - 1)


@dataclass(frozen=True)
class SystolicLayer:
    """One dense layer on an R × C systolic array (``systolic_layer``)."""

    dataflow: str
    rows: int
    """R, the array's rows (SCALE-Sim ``ArrayHeight``)."""
    cols: int
    """C, the array's columns (SCALE-Sim ``ArrayWidth``)."""
    pixels: int
    """steps·H_o·W_o: output positions of all computed time-steps."""
    window: int
    """K_h·K_w·C_i: the reduction length."""
    c_out: int
    folds: int
    fold_cycles: int
    cycles: int
    """folds × fold_cycles: the array's busy cycles for the layer."""
    input_reads: int
    weight_reads: int
    output_writes: int
    psum_reads: int

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates: pixels·window·C_o."""
        return self.pixels * self.window * self.c_out

    @property
    def mapping_efficiency(self) -> float:
        """Mean over folds of used PEs / (R·C) = S_r·S_c / (folds·R·C) (SCALE-Sim's
        "Mapping Efficiency")."""
        s_r, s_c, _ = operand_shape(self.dataflow, self.pixels, self.window, self.c_out)
        return s_r * s_c / (self.folds * self.rows * self.cols)

    @property
    def utilisation(self) -> float:
        """Useful MACs / (cycles × R·C)."""
        return self.macs / (self.cycles * self.rows * self.cols)


def systolic_layer(
    dataflow: str, rows: int, cols: int, *, pixels: int, window: int, c_out: int
) -> SystolicLayer:
    """The folds, cycles and operand traffic of one dense layer (formulas above)."""
    f_r, f_c = fold_grid(dataflow, pixels, window, c_out, rows, cols)
    _, _, streamed = operand_shape(dataflow, pixels, window, c_out)
    per_fold = fold_cycles(dataflow, streamed, rows, cols)
    ins, weights, outs, psums = operand_reads(dataflow, pixels, window, c_out, rows, cols)
    return SystolicLayer(
        dataflow=dataflow,
        rows=int(rows),
        cols=int(cols),
        pixels=int(pixels),
        window=int(window),
        c_out=int(c_out),
        folds=int(f_r * f_c),
        fold_cycles=int(per_fold),
        cycles=int(f_r * f_c * per_fold),
        input_reads=int(ins),
        weight_reads=int(weights),
        output_writes=int(outs),
        psum_reads=int(psums),
    )
