"""The PE-array schedule values: what ``compile_pe_array`` returns.

Imports ``ir``, ``hw`` and ``mapping.pe_array_bytes`` (the reuse rule: ``tile_load_bytes`` and
``tile_store_bytes``, the DRAM bytes of every tile). ``PEInput``, ``PELayerSchedule`` and
``PEArrayMapping`` describe the tiling and reuse of every layer; the model they follow is
described in ``neurosim.mapping.pe_array``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurosim import ir
from neurosim.hw import PEArrayConfig
from neurosim.mapping.pe_array_bytes import _ceil_div, _store_row, tile_load_bytes
from neurosim.mapping.systolic import SystolicLayer

LOOP_ORDER = "o>h>w>t>kh>kw>i"
"""Algorithm 2's loop nest, outermost first (MT-SNN App. E)."""

INPUT_KINDS = ("spikes", "analog", "psum")
"""What a layer reads: spikes (1-bit, ternary or multi-level), the analog input codes of a
direct-coded first layer, or the per-step partial sums of a conv/linear without activation."""

OUTPUT_KINDS = ("spikes", "psum", "logits")
"""What a layer writes: spikes, per-step partial sums (for an Add), or the accumulated output."""

INPUT_REUSE = ("layer", "band", "tile")
"""Input reuse tier: whole input resident (fetched once per layer), a K_h-row band resident
(fetched once per ``o`` iteration, hardware-models §1.4), or each tile's receptive field."""


@dataclass(frozen=True)
class PEInput:
    """One input of a scheduled layer, as the load stage reads it from DRAM."""

    source: str
    """Producer layer: a spiking layer, the input layer, or a conv/linear without activation."""
    kind: str
    """One of ``INPUT_KINDS``."""
    element_bits: int
    """Stored bits per element of the consumer's input space per stored step: producer bits ×
    pooling window area (1 bit binary, 2 ternary, ⌈log2(L+1)⌉ LM-HT, membrane_bits partial sums,
    bit_length(levels) analog codes)."""
    stored_steps: int
    """Steps the producer writes (T of the producer; 1 for analog codes)."""
    aligned: bool
    """True if every tile needs all ``stored_steps`` (MT-SNN average alignment needs counts)."""
    max_level: int
    """Largest magnitude of one input value per consumer step (1 for binary and ternary spikes;
    L for LM-HT; × T_src under alignment; × pooling area). Dense ``repeat`` passes per step."""
    pool_area: int
    """Product of k² over the pooling layers (average and max) folded into this input's load:
    producer values read per input value."""


@dataclass(frozen=True, eq=False)
class PELayerSchedule:
    """The tiling, reuse and DRAM traffic of one layer on the PE array (MT-SNN Alg. 2)."""

    name: str
    op: str
    """``conv2d``, ``linear`` or ``add``."""
    in_shape: tuple[int, int, int]
    """(C_i, H_i, W_i) of the input space (after pooling/flatten; a Linear is (C_i, 1, 1))."""
    out_shape: tuple[int, int, int]
    """(C_o, H_o, W_o); a Linear is (C_o, 1, 1)."""
    kernel: tuple[int, int]
    """(K_h, K_w); (1, 1) for Linear and Add."""
    stride: int
    padding: int
    steps: int
    """T: steps of the layer's output (neuron steps; a non-spiking layer inherits its input's)."""
    compute_steps: int
    """Steps the PE array iterates: T, or 1 for a direct-coded (analog) first layer and for a
    layer whose inputs are all MT-SNN aligned (integrated once from whole-sample counts)."""
    dense_passes: int
    """Accumulate passes of one dense reduction step: the largest input value (a pooled sum of
    spikes, an LM-HT level, an aligned count) with ``pe.multilevel = "repeat"``, else 1."""
    unroll: tuple[int, int, int, int]
    """(M, N, S, V) of the array."""
    tiles: tuple[int, int, int, int]
    """Tile grid (⌈C_o/M⌉, H_o, ⌈W_o/N⌉, ⌈compute_steps/S⌉) in loop order."""
    spiking: bool
    neuron_family: str | None
    silent_steps: int
    """TSA silent period Ts (neuron unit shifts once per (o, h, w) tile group); 0 otherwise."""
    mixing_steps: int
    """LM-HT with a trained T-GIM: T (each update mixes T currents); 1 otherwise."""
    inputs: tuple[PEInput, ...]
    output_kind: str
    """One of ``OUTPUT_KINDS``."""
    output_bits: int
    """Bits per output element per step (spike bits, or membrane_bits for psums/logits)."""
    weight_bits: int
    membrane_bits: int
    spike_format: str
    event_address_bits: int
    weights_resident: bool
    """The M-channel weight block fits the weight buffer: fetched once per ``o`` iteration;
    otherwise it is streamed through the buffer again for every tile."""
    input_reuse: str
    """One of ``INPUT_REUSE``."""
    weight_block_bytes: int
    """Bytes of one full M-channel weight block, M·C_i·K_h·K_w·weight_bits/8."""
    band_bytes: int
    """Bytes of the K_h-row input band (all channels, full width, all stored steps)."""
    input_total_bytes: int
    """Bytes of the whole input as stored (bitmap size)."""
    membrane_tile_bytes: int
    """On-chip membranes of one tile group: M·N·membrane_bits/8."""
    systolic: SystolicLayer | None = None
    """The conv/linear on the ``pe.dataflow`` systolic array (None: Algorithm 2 computes it, or
    an Add). The tiles above still carry loads, neuron updates and write-backs."""
    loop_order: str = LOOP_ORDER
    groups: int = 1
    """Conv groups g (PyTorch/ONNX): output channel c reads input channels of group
    c // (C_o/g) only, C_i/g of them (depthwise: g = C_i)."""
    dilation: int = 1
    """Conv dilation d: kernel taps d input rows/columns apart."""

    @property
    def num_tiles(self) -> int:
        return math.prod(self.tiles)

    @property
    def extent(self) -> tuple[int, int]:
        """Input rows and columns one output reads: (K − 1)·d + 1 each (K without dilation)."""
        return tuple((k - 1) * self.dilation + 1 for k in self.kernel)

    def _block_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) conv group of each ``o`` block's output channels, int64 [n_o] each."""
        cog = self.out_shape[0] // self.groups
        first = self.unroll[0] * np.arange(self.tiles[0], dtype=np.int64)
        return first // cog, (first + self.channel_extent() - 1) // cog

    def block_in_channels(self) -> np.ndarray:
        """Input channels each ``o`` block reduces, int64 [n_o]: C_i, or for a grouped conv
        the C_i/g channels of every group its output channels belong to."""
        if self.groups == 1:
            return np.full(self.tiles[0], self.in_shape[0], np.int64)
        first, last = self._block_groups()
        return (last - first + 1) * (self.in_shape[0] // self.groups)

    def block_in_offset(self) -> np.ndarray:
        """First input channel each ``o`` block reduces, int64 [n_o] (0 without groups)."""
        if self.groups == 1:
            return np.zeros(self.tiles[0], np.int64)
        return self._block_groups()[0] * (self.in_shape[0] // self.groups)

    def block_reduction_steps(self) -> np.ndarray:
        """Reduction steps of one tile of each ``o`` block, int64 [n_o]: K_h·K_w·⌈C_i(o)/V⌉
        with C_i(o) = ``block_in_channels`` (0 for an elementwise Add)."""
        if self.op == "add":
            return np.zeros(self.tiles[0], np.int64)
        k = self.kernel[0] * self.kernel[1]
        return k * _ceil_div(self.block_in_channels(), self.unroll[3])

    @property
    def reduction_steps(self) -> int:
        """Reduction steps of one tile: K_h·K_w·⌈C_i/V⌉ (0 for an elementwise Add); for a
        grouped conv the largest over the ``o`` blocks (``block_reduction_steps``)."""
        return int(self.block_reduction_steps().max(initial=0))

    @functools.cached_property
    def bitmap_tile_bytes(self) -> tuple[np.ndarray, np.ndarray]:
        """(loaded, written back) DRAM bytes of every tile without event lists: the sums of
        ``tile_load_bytes`` and ``tile_store_bytes``, read-only int64 [n_o, H_o, n_w, n_t],
        computed once per schedule (a sweep reuses one mapping for many DRAM settings); the
        written-back bytes are ``bitmap_store_row`` seen in every row."""
        w_bytes, i_bytes = tile_load_bytes(self)
        load = w_bytes + i_bytes
        load.flags.writeable = False
        return load, np.broadcast_to(self.bitmap_store_row, self.tiles)

    @functools.cached_property
    def bitmap_store_row(self) -> np.ndarray:
        """``tile_store_bytes`` without event lists, of one output row: read-only int64
        [n_o, 1, n_w, n_t] (a tile writes back the same bytes in every row h)."""
        row = _store_row(self)
        row.flags.writeable = False
        return row

    @property
    def data_dependent(self) -> bool:
        """Whether the layer's DRAM bytes depend on the trace: an input or its output is spikes
        stored as an event list."""
        return self.spike_format == "event_list" and (
            self.output_kind == "spikes" or any(i.kind == "spikes" for i in self.inputs)
        )

    @property
    def dram_read_bytes(self) -> int | None:
        """DRAM bytes read per sample (weights + inputs) by the reuse rule; None when the
        bytes are data-dependent (``data_dependent``: the timing model counts them from the
        trace)."""
        return None if self.data_dependent else self.bitmap_tile_totals[0][0]

    @property
    def dram_write_bytes(self) -> int | None:
        """DRAM bytes written per sample; None when data-dependent (as ``dram_read_bytes``)."""
        return None if self.data_dependent else self.bitmap_tile_totals[1][0]

    @functools.cached_property
    def bitmap_tile_totals(self) -> tuple[tuple[int, float, int], tuple[int, float, int]]:
        """(Σ bytes, Σ bytes summed in float64, non-empty tiles) of the loaded and of the
        written-back ``bitmap_tile_bytes``: what the DRAM cycle bound and the traffic read,
        computed once per schedule rather than per DRAM setting. The written-back sums are
        H_o times those of ``bitmap_store_row`` (the float one too while it is exact, < 2^53)."""
        load, store = self.bitmap_tile_bytes
        row, h_o = self.bitmap_store_row, self.tiles[1]
        written = h_o * int(row.sum())
        return (
            (int(load.sum()), float(load.sum(dtype=np.float64)), int(np.count_nonzero(load))),
            (
                written,
                float(written) if written < 2**53 else float(store.sum(dtype=np.float64)),
                h_o * int(np.count_nonzero(row)),
            ),
        )

    @functools.cached_property
    def dense_pe_cycles(self) -> int:
        """Dense PE cycles (zero_skipping = none): tiles × reduction steps × passes.

        ⌈C_o/M⌉·H_o·⌈W_o/N⌉·⌈T/S⌉·K_h·K_w·⌈C_i/V⌉ (MT-SNN Alg. 2 loop bounds; neuron-models
        §6.1) × ``dense_passes`` (a value-v input needs v passes under ``repeat``), T being
        ``compute_steps``: what the timing model charges with ``zero_skipping = "none"``, and
        an upper bound of group and event skipping. A grouped conv sums its ``o`` blocks:
        H_o·⌈W_o/N⌉·⌈T/S⌉·Σ_o K_h·K_w·⌈C_i(o)/V⌉. On a systolic dataflow: the array's folds ×
        per-fold cycles (``mapping.systolic.compute_cycles``). Computed once per schedule
        (every sweep point reads it for its mapping utilisation).
        """
        if self.systolic is not None:
            return self.systolic.cycles
        per_block = self.num_tiles // max(1, self.tiles[0])
        return per_block * int(self.block_reduction_steps().sum()) * self.dense_passes

    @functools.cached_property
    def utilisation(self) -> float:
        """Useful lane-cycles / (dense PE cycles × M·N·S·V); 0 for an Add (no reduction). On a
        systolic dataflow: useful MACs / (cycles × R·C).

        Useful lane-cycles are C_o·H_o·W_o·T·K_h·K_w·(C_i/g) × passes: a pass of a multi-valued
        input fills the same lanes as the first, so the passes cancel and the figure is the
        share of the lanes the tile geometry fills.
        """
        if self.systolic is not None:
            return self.systolic.utilisation
        if self.dense_pe_cycles == 0:
            return 0.0
        c_o, h_o, w_o = self.out_shape
        useful = (
            c_o
            * h_o
            * w_o
            * self.compute_steps
            * self.kernel[0]
            * self.kernel[1]
            * (self.in_shape[0] // self.groups)
            * self.dense_passes
        )
        return useful / (self.dense_pe_cycles * math.prod(self.unroll))

    # -- tile extents -------------------------------------------------------------------------
    @functools.cached_property
    def _extents(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(channel, column, step) extents, read-only: formed once per schedule (the cost
        model asks for them many times per layer)."""
        m, n, s, _ = self.unroll
        c_o, _, w_o = self.out_shape
        out = (
            np.minimum(m, c_o - m * np.arange(self.tiles[0], dtype=np.int64)),
            np.minimum(n, w_o - n * np.arange(self.tiles[2], dtype=np.int64)),
            np.minimum(s, self.compute_steps - s * np.arange(self.tiles[3], dtype=np.int64)),
        )
        for a in out:
            a.flags.writeable = False
        return out

    def channel_extent(self) -> np.ndarray:
        """Output channels of each ``o`` block, int64 [n_o] (the last may be < M), read-only."""
        return self._extents[0]

    def column_extent(self) -> np.ndarray:
        """Output columns of each ``w`` tile, int64 [n_w], read-only."""
        return self._extents[1]

    def step_extent(self) -> np.ndarray:
        """PE steps of each ``t`` tile, int64 [n_t] (1 for an analog first layer), read-only."""
        return self._extents[2]

    def neuron_step_extent(self) -> np.ndarray:
        """Neuron steps each ``t`` tile updates, int64 [n_t]: the PE steps, or all T steps for an
        analog first layer (its current is computed once and held for every step)."""
        if self.compute_steps == 1 and self.steps > 1:
            return np.array([self.steps], np.int64)
        return self.step_extent()

    def stored_steps_covered(self, inp: PEInput) -> np.ndarray:
        """Producer steps each ``t`` tile reads of input ``inp``, int64 [n_t].

        All of them under alignment (or a step ratio that is not an integer), else the tile's
        steps × (stored steps per consumer step) (L for a re-parameterised LM-HT producer read by
        a plain LM-HT layer).
        """
        ext = self.step_extent()
        if inp.aligned or inp.stored_steps % self.compute_steps:
            return np.full_like(ext, inp.stored_steps)
        return ext * (inp.stored_steps // self.compute_steps)

    def input_row_counts(self) -> np.ndarray:
        """Valid input rows of each output row's receptive field, int64 [H_o]."""
        h = np.arange(self.out_shape[1], dtype=np.int64)
        lo = h * self.stride - self.padding
        hi = lo + self.extent[0] - 1
        return np.maximum(np.minimum(hi, self.in_shape[1] - 1) - np.maximum(lo, 0) + 1, 0)

    def _new_row_span(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) input row first needed by each output row h of the sliding K_h-row
        band, int64 [H_o] each (empty when first > last), read-only."""
        return _row_span(
            self.out_shape[1], self.in_shape[1], self.stride, self.padding, self.extent[0]
        )

    def new_input_rows(self) -> np.ndarray:
        """Input rows first needed by output row h (a sliding K_h-row band), int64 [H_o]."""
        start, hi = self._new_row_span()
        return np.maximum(hi - start + 1, 0)

    def new_input_row_mask(self) -> np.ndarray:
        """bool [H_o, H_i]: input row r is first fetched for output row h (sliding band)."""
        start, hi = self._new_row_span()
        r = np.arange(self.in_shape[1], dtype=np.int64)
        return (r[None, :] >= start[:, None]) & (r[None, :] <= hi[:, None])

    def input_column_counts(self) -> np.ndarray:
        """Valid input columns of each ``w`` tile's receptive field, int64 [n_w]."""
        n = self.unroll[1]
        w = np.arange(self.tiles[2], dtype=np.int64)
        first = w * n
        last = np.minimum(first + n, self.out_shape[2]) - 1
        lo = first * self.stride - self.padding
        hi = last * self.stride - self.padding + self.extent[1] - 1
        return np.maximum(np.minimum(hi, self.in_shape[2] - 1) - np.maximum(lo, 0) + 1, 0)

    def _dataflow_text(self) -> str:
        """How the PE stage computes the layer, for the mapping table."""
        if self.op == "add":
            return "none (elementwise)"
        if self.systolic is None:
            return "algorithm2"
        sys = self.systolic
        return f"{sys.dataflow} {sys.rows}x{sys.cols}, {sys.folds} folds"

    def to_row(self) -> dict[str, object]:
        """This schedule as one row of ``PEArrayMapping.to_frame``."""
        m, n, s, _ = self.unroll
        where_w = "o-block resident" if self.weights_resident else "streamed per tile"
        where_i = {
            "layer": "whole input resident",
            "band": "K_h-row band per o",
            "tile": "receptive field per tile",
        }[self.input_reuse]
        dram = (
            None
            if self.dram_read_bytes is None or self.dram_write_bytes is None
            else self.dram_read_bytes + self.dram_write_bytes
        )
        c_o, h_o, w_o = self.out_shape
        return {
            "layer": self.name,
            "op": self.op,
            "tiles": self.num_tiles,
            "tile_grid": "x".join(str(x) for x in self.tiles),
            "loop_order": self.loop_order,
            "tile_size": f"{m}x1x{n}x{s}",
            "reduction_steps": self.reduction_steps,
            "dense_passes": self.dense_passes,
            "pe_dataflow": self._dataflow_text(),
            "dense_pe_cycles": self.dense_pe_cycles,
            "utilisation": self.utilisation,
            "weight_bytes": (
                0
                if self.op == "add"
                else _ceil_div(
                    c_o
                    * (self.in_shape[0] // self.groups)
                    * self.kernel[0]
                    * self.kernel[1]
                    * self.weight_bits,
                    8,
                )
            ),
            "input_bytes": self.input_total_bytes,
            "output_bytes": _ceil_div(
                c_o
                * h_o
                * w_o
                * self.output_bits
                * (1 if self.output_kind == "logits" else self.steps),
                8,
            ),
            "membrane_bytes": self.membrane_tile_bytes,
            "weights_on_chip": "none" if self.op == "add" else where_w,
            "inputs_on_chip": where_i,
            "membranes_on_chip": "tile group (never written to DRAM)",
            "dram_read_bytes": self.dram_read_bytes,
            "dram_write_bytes": self.dram_write_bytes,
            "dram_bytes": dram,
        }


@dataclass(frozen=True, eq=False)
class PEArrayMapping:
    """A converted network compiled onto a PE array: one schedule per Conv2d/Linear/Add."""

    network: ir.Network = field(repr=False)
    """The network the schedules index (the timing model reads its layers and the trace)."""
    hw: PEArrayConfig = field(repr=False)
    """The hardware point it was compiled for (tiling depends on unroll factors and buffers)."""
    layers: tuple[PELayerSchedule, ...]
    family: str = field(default="pe_array", init=False)

    def layer(self, name: str) -> PELayerSchedule:
        """The schedule of layer ``name``; KeyError lists the scheduled layers otherwise."""
        for sched in self.layers:
            if sched.name == name:
                return sched
        raise KeyError(f"no scheduled layer '{name}'; scheduled: {[s.name for s in self.layers]}")

    def to_frame(self) -> pd.DataFrame:
        """One row per scheduled layer (tiles, loop order, sizes, reuse, DRAM bytes/sample)."""
        frame = pd.DataFrame([s.to_row() for s in self.layers])
        for col in ("dram_read_bytes", "dram_write_bytes", "dram_bytes"):
            frame[col] = frame[col].astype("Int64")
        return frame


@functools.cache
def _row_span(
    h_o: int, h_i: int, stride: int, padding: int, extent: int
) -> tuple[np.ndarray, np.ndarray]:
    """``PELayerSchedule._new_row_span`` of a layer's row geometry, read-only: the same for
    every mapping of the layer (a sweep compiles one per M, N, S, V)."""
    h = np.arange(h_o, dtype=np.int64)
    lo = h * stride - padding
    hi = np.minimum(lo + extent - 1, h_i - 1)
    prev_hi = np.concatenate([[-1], hi[:-1]])
    first = np.maximum(np.maximum(lo, prev_hi + 1), 0)
    for a in (first, hi):
        a.flags.writeable = False
    return first, hi
