"""The PE-array stream without SimPy: the max-plus engine's layer-by-layer schedule
(``pipeline``) over the same per-item costs, giving the intervals the SimPy processes log or
their per-(sample, layer, stage, kind, cause) sums.

Imports ``timing.pipeline``, ``timing.stages``, ``timing.result``, ``timing.pe_array_costs``,
``hw``, ``mapping`` and ``errors``; ``timing.pe_array`` picks it for ``engine="maxplus"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurosim.errors import MappingError
from neurosim.hw import PEArrayConfig
from neurosim.mapping.pe_array import PELayerSchedule
from neurosim.timing import pipeline
from neurosim.timing.pe_array_costs import LayerCosts
from neurosim.timing.pipeline_stream import stream_summary
from neurosim.timing.result import Columns, CycleSums
from neurosim.timing.stages import INTERVAL_COLUMNS, no_intervals, text_array

STAGES = ("load", "pe", "neuron", "writeback")


def item_waits(c: LayerCosts) -> np.ndarray:
    """The neuron unit's wait per item (zeros without one)."""
    return np.zeros(len(c.neuron), np.int64) if c.neuron_wait is None else c.neuron_wait


def item_occupancy(c: LayerCosts) -> np.ndarray:
    """The write-buffer bytes of each item's posted write (zeros: writes not posted)."""
    return np.zeros(len(c.writeback), np.int64) if c.occ is None else c.occ


def maxplus_stream(
    hw: PEArrayConfig,
    layers: tuple[PELayerSchedule, ...],
    costs: dict[tuple[str, int], LayerCosts],
    num_samples: int,
    batch: int,
    *,
    keep_intervals: bool = True,
) -> tuple[pd.DataFrame, Columns | None, list[int], int, int, CycleSums | None]:
    """The SimPy stream without SimPy: (intervals, totals (as ``Columns``: a sweep point
    reads only their ``CycleSums``), finish per sample, events, makespan, the totals'
    ``CycleSums`` or None with intervals).

    Layer by layer, ``pipeline.layer_times`` gives every item's times from the layer's start
    (the previous layer's last write-back) and ``pipeline.layer_intervals`` the same tuples the
    SimPy processes log, kept where end > start, ordered by sample, layer, stage and time.
    Without ``keep_intervals``, ``pipeline_stream.stream_summary`` sums them per (sample, layer,
    stage, kind, cause) in one compiled call instead (``totals``) and ``intervals`` is empty.
    """
    buf = hw.buffers
    psum = not hw.neuron_unit.overlap_with_pe
    names = [s.name for s in layers]
    runs = [
        (k, li, costs[(sched.name, k % batch)])
        for k in range(num_samples)
        for li, sched in enumerate(layers)
    ]
    per_item = np.array([c.tiles_per_item for _, _, c in runs], np.int64).reshape(-1, 1)
    queues = np.array(
        [buf.load_queue_tiles, buf.pe_queue_tiles, buf.writeback_queue_tiles], np.int64
    )
    caps = np.maximum(1, queues[None, :] // per_item)
    block_stage0 = [4 * li for _, li, _ in runs]
    block_sample = [k for k, _, _ in runs]
    finish: list[int] = []
    if not keep_intervals:
        cells, ends, events = stream_summary(
            [(c.load, c.pe_block, c.neuron, c.writeback, c.neuron_wait, c.occ) for _, _, c in runs],
            caps,
            np.array([li for _, li, _ in runs], np.int64),
            len(layers),
            psum=psum,
            prefetch=np.array([c.prefetch for _, _, c in runs], np.int64),
            buffer=buf.write_buffer_bytes,
            latency=hw.dram.latency_cycles,
            pe_repeats=np.array([c.pe_repeats for _, _, c in runs], np.int64),
        )
        per_sample = len(layers)
        finish = [
            int(ends[(k + 1) * per_sample - 1]) if per_sample else 0 for k in range(num_samples)
        ]
        now = finish[-1] if finish else 0
    else:
        blocks: list[np.ndarray] = []
        load_idle: dict[str, int] = {}
        now = 0
        events = 2  # the controller process: its start and its end
        for b, (_, li, c) in enumerate(runs):
            name = layers[li].name
            t0 = now
            cycles = (c.load, c.pe, c.neuron, c.writeback)
            latency = hw.dram.latency_cycles
            times = pipeline.layer_times(
                t0,
                *cycles,
                cap_load=int(caps[b, 0]),
                cap_pe=int(caps[b, 1]),
                cap_wb=int(caps[b, 2]),
                psum=psum,
                wait=item_waits(c),
                occ=item_occupancy(c),
                buffer=buf.write_buffer_bytes,
                latency=latency,
            )
            load_free, drained, end = pipeline.layer_end(times, t0, c.prefetch)
            wb_end = int(times[-1, pipeline.WB_END]) if len(times) else t0
            events += pipeline.layer_events(
                *cycles,
                psum=psum,
                wait=item_waits(c),
                occ=item_occupancy(c),
                latency=latency,
                prefetch=c.prefetch,
                drain=drained - wb_end,
            )
            blocks.append(
                pipeline.layer_intervals(
                    times, load_wait=(load_idle.get(name, 0), t0), t0=t0, prefetch=c.prefetch
                )
            )
            now = end
            load_idle[name] = load_free
            if li == len(layers) - 1:
                finish.append(now)
        if not layers:
            finish = [0] * num_samples
    stage_names = np.array([f"{n}.{st}" for n in names for st in STAGES], dtype=object)
    layer_names = np.array(names, dtype=object)
    kinds = np.array(["busy", "stall"], dtype=object)
    causes = np.array(pipeline.CAUSES, dtype=object)
    # The neuron-wait code names each layer's own cause (one family per network).
    wait_causes = {costs[(s.name, 0)].wait_cause for s in layers} - {""}
    if len(wait_causes) > 1:
        raise MappingError(f"the max-plus engine takes one neuron-wait cause, got {wait_causes}")
    if wait_causes:
        causes[pipeline.WAIT_CODE] = wait_causes.pop()
    # Text columns get the dtype pandas infers for strings (as in the SimPy log).
    strings = text_array
    stage0 = np.asarray(block_stage0, np.int64)
    samples = np.asarray(block_sample, np.int64)
    if not keep_intervals:
        # One row per non-zero (block, stage, kind, cause) cell, in that order.
        blk, cell = np.nonzero(cells)
        nc = pipeline.NUM_CAUSES
        cause, kind, local = cell % nc, (cell // nc) % 2, cell // (2 * nc)
        stage = stage0[blk] + local
        cycles = cells[blk, cell]
        totals = Columns(
            {
                "stage": stage_names[stage],
                "layer": layer_names[stage // 4],
                "sample": samples[blk],
                "kind": kinds[kind],
                "cause": causes[cause],
                "cycles": cycles,
            },
            text=("stage", "layer", "kind", "cause"),
        )
        busy = kind == 0
        sums = CycleSums(
            busy_by_stage=_code_sums(stage[busy], cycles[busy], stage_names),
            stall_by_cause=_code_sums(cause[~busy], cycles[~busy], causes),
        )
        return no_intervals(), totals, finish, events, now, sums
    rows = np.concatenate(blocks) if blocks else np.zeros((0, 5), np.int64)
    block = np.repeat(np.arange(len(blocks), dtype=np.int64), [len(b) for b in blocks])
    stage = rows[:, 0] + stage0[block]
    frame = pd.DataFrame(
        {
            "stage": strings(stage_names[stage]),
            "layer": strings(layer_names[stage // 4]),
            "sample": samples[block],
            "kind": strings(kinds[rows[:, 1]]),
            "cause": strings(causes[rows[:, 2]]),
            "start_cycles": rows[:, 3].copy(),
            "end_cycles": rows[:, 4].copy(),
        },
        columns=list(INTERVAL_COLUMNS),
    )
    return frame, None, finish, events, now, None


def _code_sums(codes: np.ndarray, values: np.ndarray, names: np.ndarray) -> dict[str, int]:
    """Σ ``values`` per code, keyed by ``names[code]`` (codes that occur only): the
    ``CycleSums`` of the totals without a pass over their text columns."""
    sums = np.zeros(len(names), np.int64)
    np.add.at(sums, codes, values)
    present = np.zeros(len(names), bool)
    present[codes] = True
    return {str(names[i]): int(sums[i]) for i in np.flatnonzero(present)}
