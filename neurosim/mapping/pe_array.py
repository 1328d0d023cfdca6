"""PE-array mapping: tile every Conv2d/Linear/Add after MT-SNN Algorithm 2 and fix data reuse.

Imports ``ir``, ``schemes``, ``hw``, ``errors``, ``mapping.pe_array_schedule`` and
``mapping.pe_array_bytes``. ``compile_pe_array(network, hw)`` returns a ``PEArrayMapping`` with
one ``PELayerSchedule`` per synaptic or Add layer. The schedule types live in
``pe_array_schedule.py`` and the reuse rule (``tile_load_bytes``, ``tile_store_bytes``) in
``pe_array_bytes.py``; they are re-exported here.

Model (every choice is repeated in the README's PE-array section):

* Loop order o (⌈C_o/M⌉) → h (H_o) → w (⌈W_o/N⌉) → t (⌈T/S⌉) → k_h → k_w → i (⌈C_i/V⌉), the
  order of Algorithm 2. A tile is M output channels × 1 row × N columns × S steps. A Linear is a
  1×1 conv with H_o = W_o = 1; an Add is elementwise: it has tiles but no reduction (its inputs
  are summed by the neuron unit).
* AvgPool2d, MaxPool2d and Flatten are not scheduled: they fold into the consumer's input
  load, which sums (or, for max pooling of whole-sample levels, maxes) each pooling window
  while reading the producer's spikes (no cycles; the bytes read are the producer's). A
  pooled value v (up to k² per spike level) is costed like a level-v spike: v accumulate
  passes with ``pe.multilevel = "repeat"`` (v ACs, as the energy model counts it), one cycle
  with ``"multiply"``; ``dense_pe_cycles`` counts the largest value's passes.
* MT-SNN average alignment: the load unit reads the producer's whole sample and counts it; the
  array integrates the counts once per sample (one ``t`` tile, like a direct-coded first
  layer) and the neuron unit re-adds that current at every step of the layer.
* A grouped conv's ``o`` block reduces only the C_i/g input channels of each group its M
  output channels belong to (``PELayerSchedule.block_in_channels``); a dilated conv reads a
  (K − 1)·d + 1 span (docs/hardware.md, grouped and dilated convs).
* ``t`` is innermost, so the M·N membranes of an (o, h, w) tile group are live only during its
  ⌈T/S⌉ tiles: membranes never leave the chip.
* ``datapath.spike_format`` is the off-chip (DRAM) format; on chip the spike buffer holds the
  bitmap Algorithm 2 indexes, so buffer capacities never depend on the data.
"""

from __future__ import annotations

import math

import numpy as np

from neurosim import ir, schemes
from neurosim.errors import MappingError, UnsupportedError
from neurosim.hw import PEArrayConfig
from neurosim.mapping.pe_array_bytes import (
    _ceil_div,
    tile_load_bytes,
    tile_store_bytes,
    weight_prefetch_bytes,
)
from neurosim.mapping.pe_array_schedule import (
    INPUT_KINDS,
    INPUT_REUSE,
    LOOP_ORDER,
    OUTPUT_KINDS,
    PEArrayMapping,
    PEInput,
    PELayerSchedule,
)
from neurosim.mapping.systolic import SystolicLayer, systolic_layer

__all__ = [
    "INPUT_KINDS",
    "INPUT_REUSE",
    "LOOP_ORDER",
    "OUTPUT_KINDS",
    "PEArrayMapping",
    "PEInput",
    "PELayerSchedule",
    "compile_pe_array",
    "layer_steps",
    "tile_load_bytes",
    "tile_store_bytes",
    "weight_prefetch_bytes",
]


# --------------------------------------------------------------------------------------------
# Compiling
# --------------------------------------------------------------------------------------------


def _aligned(consumer: ir.Layer, producer_steps: int) -> bool:
    """MT-SNN average alignment at this boundary (the consumer's neuron family decides)."""
    neuron = getattr(consumer, "neuron", None)
    return neuron is not None and neuron.receives_levels([producer_steps])


class _Compiler:
    def __init__(self, net: ir.Network, hw: PEArrayConfig) -> None:
        self.net = net
        self.hw = hw
        self.encoding = schemes.input_encoding(net)
        """How the scheme encodes the input into spikes (None: direct coding)."""
        self.out_steps: dict[str, int] = {}
        pe = hw.pe
        self.unroll = (
            pe.unroll_out_channels,
            pe.unroll_out_columns,
            pe.unroll_steps,
            pe.unroll_in_channels,
        )

    # -- inputs ------------------------------------------------------------------------------
    def _inputs(self, lay: ir.Layer) -> tuple[list[PEInput], int]:
        """The layer's inputs and the steps they arrive with (max over inputs)."""
        net, dp = self.net, self.hw.datapath
        found: list[PEInput] = []
        for src_name in lay.inputs:
            src, chain = net.producer(src_name)
            # A pooled input value sums (AvgPool) or maxes (MaxPool, levels only) the k²
            # producer values the load reads for it: bytes scale with every window, the
            # largest value with the summing ones.
            area = net.pool_area(src_name)
            read = area * math.prod(c.kernel**2 for c in chain if isinstance(c, ir.MaxPool2d))
            if isinstance(src, ir.Input):
                if self.encoding is not None:
                    steps = self.encoding.steps
                    found.append(
                        PEInput(
                            src.name,
                            "spikes",
                            self.encoding.spike_bits * read,
                            steps,
                            _aligned(lay, steps),
                            area,
                            read,
                        )
                    )
                else:
                    bits = max(1, int(src.levels).bit_length())
                    found.append(
                        PEInput(
                            src.name, "analog", bits * read, 1, False, int(src.levels) * area, read
                        )
                    )
                continue
            steps = self.out_steps[src.name]
            aligned = _aligned(lay, steps)
            if ir.is_spiking(src):
                level = src.neuron.spike_levels
                consumer_steps = layer_steps(lay, steps)
                if aligned:
                    level *= steps
                elif steps > consumer_steps and steps % consumer_steps == 0:
                    level *= steps // consumer_steps
                found.append(
                    PEInput(
                        src.name,
                        "spikes",
                        src.neuron.spike_bits * read,
                        steps,
                        aligned,
                        level * area,
                        read,
                    )
                )
            else:
                if not isinstance(lay, ir.Add):
                    raise UnsupportedError(
                        f"layer '{lay.name}' reads the partial sums of '{src.name}' (a layer "
                        f"without activation); on the PE array only an Add may do that"
                    )
                found.append(
                    PEInput(src.name, "psum", dp.membrane_bits * area, steps, aligned, 1, area)
                )
        return found, max((i.stored_steps for i in found), default=1)

    # -- one layer ---------------------------------------------------------------------------
    def schedule(self, lay: ir.Layer) -> PELayerSchedule:
        net, hw = self.net, self.hw
        dp = hw.datapath
        m, n, s, _ = self.unroll
        inputs, in_steps = self._inputs(lay)
        in_shape = net.shapes[lay.inputs[0]]
        out_shape = net.shapes[lay.name]
        groups, dilation = 1, 1
        if isinstance(lay, ir.Conv2d):
            kernel = (int(lay.weight.shape[2]), int(lay.weight.shape[3]))
            stride, padding, op = int(lay.stride), int(lay.padding), "conv2d"
            groups, dilation = int(lay.groups), int(lay.dilation)
        else:
            kernel, stride, padding = (1, 1), 1, 0
            op = "linear" if isinstance(lay, ir.Linear) else "add"
        if len(in_shape) == 1:
            in_shape = (in_shape[0], 1, 1)
        if len(out_shape) == 1:
            out_shape = (out_shape[0], 1, 1)
        spiking = ir.is_spiking(lay)
        neuron = getattr(lay, "neuron", None)
        steps = layer_steps(lay, in_steps)
        analog = any(i.kind == "analog" for i in inputs)
        # An aligned input holds the producer's whole-sample counts: the array integrates them
        # once (Σ counts × fan-out, the synaptic ops the functional pass counts) and the neuron
        # unit re-adds that current at each of the layer's steps, as for an analog input.
        aligned = bool(inputs) and all(i.aligned for i in inputs)
        compute_steps = 1 if analog or aligned else steps
        passes = 1
        systolic = hw.pe.dataflow != "algorithm2"  # a systolic PE multiplies: one pass
        if op != "add" and not analog and hw.pe.multilevel == "repeat" and not systolic:
            passes = max(i.max_level for i in inputs)
        c_o, h_o, w_o = out_shape
        tiles = (_ceil_div(c_o, m), h_o, _ceil_div(w_o, n), _ceil_div(compute_steps, s))
        if spiking:
            output_kind, output_bits = "spikes", neuron.spike_bits
        elif net.consumers(lay.name):
            output_kind, output_bits = "psum", dp.membrane_bits
        else:
            output_kind, output_bits = "logits", dp.membrane_bits
        silent = 0 if neuron is None else neuron.silent_shift_steps
        mixing = 1 if neuron is None else neuron.mixing_steps
        c_i, h_i, w_i = in_shape
        k_h, k_w = kernel
        # A grouped conv: C_i/g weights per output channel; an o block reads the C_i/g input
        # channels of each group its output channels belong to (the band holds the most).
        c_w = c_i // groups
        first = m * np.arange(_ceil_div(c_o, m))
        touched = (np.minimum(first + m, c_o) - 1) // (c_o // groups) - first // (c_o // groups)
        c_band = int(touched.max() + 1) * c_w
        ext_h = (k_h - 1) * dilation + 1
        block = 0 if op == "add" else _ceil_div(min(m, c_o) * c_w * k_h * k_w * dp.weight_bits, 8)
        band = sum(
            _ceil_div(c_band * min(ext_h, h_i) * w_i * i.element_bits * i.stored_steps, 8)
            for i in inputs
        )
        total = sum(_ceil_div(c_i * h_i * w_i * i.element_bits * i.stored_steps, 8) for i in inputs)
        spike_buf = hw.buffers.spike_bytes
        reuse = (
            "tile"
            if op == "add"
            else "layer"
            if total <= spike_buf
            else "band"
            if band <= spike_buf
            else "tile"
        )
        self.out_steps[lay.name] = steps
        sched = PELayerSchedule(
            name=lay.name,
            op=op,
            in_shape=in_shape,
            out_shape=out_shape,
            kernel=kernel,
            stride=stride,
            padding=padding,
            steps=steps,
            compute_steps=compute_steps,
            dense_passes=passes,
            unroll=self.unroll,
            tiles=tiles,
            spiking=spiking,
            neuron_family=None if neuron is None else neuron.family,
            silent_steps=silent,
            mixing_steps=mixing,
            inputs=tuple(inputs),
            output_kind=output_kind,
            output_bits=output_bits,
            weight_bits=dp.weight_bits,
            membrane_bits=dp.membrane_bits,
            spike_format=dp.spike_format,
            event_address_bits=dp.event_address_bits,
            weights_resident=block <= hw.buffers.weight_bytes,
            input_reuse=reuse,
            weight_block_bytes=block,
            band_bytes=band,
            input_total_bytes=total,
            membrane_tile_bytes=_ceil_div(min(m, c_o) * min(n, w_o) * dp.membrane_bits, 8),
            groups=groups,
            dilation=dilation,
            systolic=self._systolic(lay, op, in_shape, out_shape, kernel, compute_steps, groups),
        )
        self._check_fits(sched)
        return sched

    def _systolic(
        self,
        lay: ir.Layer,
        op: str,
        in_shape: tuple[int, int, int],
        out_shape: tuple[int, int, int],
        kernel: tuple[int, int],
        compute_steps: int,
        groups: int,
    ) -> SystolicLayer | None:
        """A conv/linear on the systolic array of ``pe.dataflow`` (None for algorithm2 or an
        Add): the GEMM of steps·H_o·W_o output positions by K_h·K_w·C_i by C_o."""
        pe = self.hw.pe
        if pe.dataflow == "algorithm2" or op == "add":
            return None
        if groups > 1:
            raise UnsupportedError(
                f"layer '{lay.name}': a grouped conv (groups = {groups}) is modelled only on "
                f'pe.dataflow = "algorithm2", not on the systolic "{pe.dataflow}" dataflow'
            )
        c_o, h_o, w_o = out_shape
        return systolic_layer(
            pe.dataflow,
            pe.array_rows,
            pe.array_cols,
            pixels=compute_steps * h_o * w_o,
            window=kernel[0] * kernel[1] * in_shape[0],
            c_out=c_o,
        )

    def _check_fits(self, sched: PELayerSchedule) -> None:
        """MappingError if one reduction step's operands or one tile's membranes do not fit."""
        buf = self.hw.buffers
        m, n, _, v = sched.unroll
        c_i = sched.in_shape[0]
        m_e, n_e = min(m, sched.out_shape[0]), min(n, sched.out_shape[2])
        s_e = int(sched.step_extent()[0])
        c_i = int(sched.block_in_channels().max())
        if sched.op != "add":
            v_e = min(v, c_i)
            need = _ceil_div(m_e * v_e * sched.weight_bits, 8)
            if need > buf.weight_bytes:
                raise MappingError(
                    f"layer '{sched.name}': weight buffer too small for one reduction step: "
                    f"needs M·V·weight_bits/8 = {m_e}·{v_e}·{sched.weight_bits}/8 = {need} bytes, "
                    f"available {buf.weight_bytes} bytes (buffers.weight_bytes)"
                )
        lanes = min(v, c_i) if sched.op != "add" else m_e
        need, terms = 0, []
        for inp in sched.inputs:
            covered = int(sched.stored_steps_covered(inp)[0])
            need += _ceil_div(n_e * lanes * covered * inp.element_bits, 8)
            terms.append(f"{n_e}·{lanes}·{covered}·{inp.element_bits}/8 ({inp.source})")
        if need > buf.spike_bytes:
            what = "M" if sched.op == "add" else "V"
            raise MappingError(
                f"layer '{sched.name}': spike buffer too small for one input slice: needs "
                f"N·{what}·steps·bits/8 = {' + '.join(terms)} = {need} bytes, available "
                f"{buf.spike_bytes} bytes (buffers.spike_bytes); S = {s_e} step(s) per tile"
            )
        if sched.membrane_tile_bytes > buf.membrane_bytes:
            raise MappingError(
                f"layer '{sched.name}': membrane buffer too small for one tile: needs "
                f"M·N·membrane_bits/8 = {m_e}·{n_e}·{sched.membrane_bits}/8 = "
                f"{sched.membrane_tile_bytes} bytes, available {buf.membrane_bytes} bytes "
                f"(buffers.membrane_bytes)"
            )


def layer_steps(lay: ir.Layer, input_steps: int) -> int:
    """Output steps of a layer: its neuron's steps, or (no neuron) the steps of its input."""
    neuron = getattr(lay, "neuron", None)
    return input_steps if neuron is None else int(neuron.num_steps)


def compile_pe_array(network: ir.Network, hw: PEArrayConfig) -> PEArrayMapping:
    """Tile every Conv2d, Linear and Add of a converted SNN onto a PE array (MT-SNN Alg. 2).

    Parameters
    ----------
    network
        A converted network (``kind="snn"``).
    hw
        A PE-array hardware description (``hw.family == "pe_array"``).

    Returns
    -------
    PEArrayMapping
        One ``PELayerSchedule`` per Conv2d/Linear/Add in network order; AvgPool2d and Flatten
        fold into their consumer's input load.

    Raises
    ------
    MappingError
        A layer cannot run at all: one reduction step's weights, one input slice or one tile's
        membranes exceed their buffer (the message names the layer, the buffer, the bytes
        needed and available).
    UnsupportedError
        A conv/linear reads another layer's partial sums (only an Add may).
    """
    if hw.family != "pe_array":
        raise MappingError(
            f"compile_pe_array needs a pe_array hardware description, got family '{hw.family}'"
        )
    if network.kind != "snn":
        raise MappingError(
            f"network '{network.name}' is a {network.kind!r}; convert it to an "
            f"SNN first (neurosim.convert.convert)"
        )
    comp = _Compiler(network, hw)
    schedules = []
    for lay in network.layers:
        if isinstance(lay, ir.Input):
            comp.out_steps[lay.name] = 1 if comp.encoding is None else comp.encoding.steps
        elif isinstance(lay, ir.Conv2d | ir.Linear | ir.Add):
            schedules.append(comp.schedule(lay))
    return PEArrayMapping(network=network, hw=hw, layers=tuple(schedules))
