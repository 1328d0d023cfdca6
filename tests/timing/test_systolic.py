"""The systolic dataflow option of the PE-array family (``pe.dataflow`` = os / ws / is): config
rules, the mapping's per-layer record, the PE stage's cycles in both timing engines, SRAM bytes.

The network is ``conv_net()`` (tests/mapping/test_pe_array.py): input (4×4×4 codes) → src
(1×1 conv, analog input: one computed step) → conv (3×3, pad 1, C_i = C_o = 4, T = 2) → flatten
→ fc (64 → 3, two steps), on ``pe_array_tiny`` (M=2, N=2, S=1, V=2, 8-bit weights, 16-bit
membranes) with a 4 × 2 systolic array.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import families, hw
from neurosim.errors import ConfigError
from neurosim.mapping.pe_array import compile_pe_array
from neurosim.timing import cost
from neurosim.timing.pe_array import simulate_pe_array
from neurosim.timing.pe_array_costs import layer_costs
from tests.mapping.test_pe_array import conv_net
from tests.timing.test_pe_array import AMPLE, _config, _trace


def _systolic(dataflow: str = "os", rows: int = 4, cols: int = 2, **more) -> hw.PEArrayConfig:
    return _config(pe__dataflow=dataflow, pe__array_rows=rows, pe__array_cols=cols, **more)


def test_config_rules():
    cfg = _systolic("ws", 8, 3)
    assert (cfg.pe.dataflow, cfg.pe.array_rows, cfg.pe.array_cols) == ("ws", 8, 3)
    assert hw.load("pe_array_tiny").pe.dataflow == "algorithm2"
    with pytest.raises(ConfigError, match=r'pe.zero_skipping = "group" with pe.dataflow = "os"'):
        _systolic(pe__zero_skipping="group")
    with pytest.raises(ConfigError, match=r"pe\.dataflow"):
        _config(pe__dataflow="rs")
    with pytest.raises(ConfigError, match=r"pe\.array_rows"):
        _config(pe__array_rows=0)


def test_mapping_records_the_systolic_layer():
    """os on 4 × 2 (R × C):

    src: pixels 1·4·4 = 16 (analog: one step), window 1·1·4 = 4, C_o 4 → folds ⌈16/4⌉·⌈4/2⌉ = 8,
         per fold 4 + 4 + 2 − 2 = 8 → 64 cycles;
    conv: pixels 2·4·4 = 32, window 3·3·4 = 36 → folds 8·2 = 16, per fold 36 + 4 = 40 → 640;
    fc: pixels 2·1·1 = 2, window 64, C_o 3 → folds 1·2 = 2, per fold 64 + 4 = 68 → 136."""
    mapping = compile_pe_array(conv_net(), _systolic())
    got = {
        s.name: (s.systolic.folds, s.systolic.fold_cycles, s.dense_pe_cycles)
        for s in mapping.layers
    }
    assert got == {"src": (8, 8, 64), "conv": (16, 40, 640), "fc": (2, 68, 136)}
    conv = mapping.layer("conv")
    assert conv.utilisation == pytest.approx(32 * 36 * 4 / (640 * 8))
    assert conv.tiles == (2, 4, 2, 2)  # Algorithm 2's tiles still carry loads and updates
    frame = mapping.to_frame().set_index("layer")
    assert frame.loc["conv", "pe_dataflow"] == "os 4x2, 16 folds"
    assert frame.loc["conv", "dense_pe_cycles"] == 640
    plain = compile_pe_array(conv_net(), _config())
    assert plain.layer("conv").systolic is None
    assert plain.to_frame().set_index("layer").loc["conv", "pe_dataflow"] == "algorithm2"


def test_tile_cycles_spread_evenly_in_loop_order():
    """conv on 3 × 2, os: folds ⌈32/3⌉·⌈4/2⌉ = 22 of 36 + 3 + 2 − 2 = 39 → 858 cycles over 32
    tiles: 858 = 32·26 + 26, so the first 26 tiles take 27 and the last 6 take 26."""
    sched = compile_pe_array(conv_net(), _systolic(rows=3)).layer("conv")
    tiles = cost.systolic_tile_cycles(sched)
    assert tiles.shape == sched.tiles
    flat = tiles.ravel()
    assert flat.sum() == 858
    np.testing.assert_array_equal(flat, [27] * 26 + [26] * 6)


@pytest.mark.parametrize("engine", ["simpy", "maxplus"])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_pe_stage_is_busy_for_the_systolic_cycles(engine, dataflow):
    """Whatever the spikes (dense MACs), the PE stage of each layer is busy exactly its
    systolic cycles, in both engines, for every sample of a stream."""
    net = conv_net()
    cfg = _systolic(dataflow, **AMPLE)
    mapping = compile_pe_array(net, cfg)
    expected = {s.name: s.systolic.cycles for s in mapping.layers}
    for density in (0.0, 0.4):
        trace = _trace(net, density=density, batch=2)
        result = simulate_pe_array(mapping, trace, cfg, num_samples=3, engine=engine)
        stages = result.per_stage().set_index("stage")
        for name, cycles in expected.items():
            assert stages.loc[f"{name}.pe", "busy_cycles"] == 3 * cycles


def test_is_and_ws_cycles_by_hand():
    """conv, pixels 32, window 36, C_o 4 on 4 × 2:
    ws: folds ⌈36/4⌉·⌈4/2⌉ = 18, per fold 32 + 2·4 + 2 − 2 = 40 → 720;
    is: folds ⌈36/4⌉·⌈32/2⌉ = 144, per fold 4 + 8 + 2 − 2 = 12 → 1728."""
    for dataflow, cycles in (("ws", 720), ("is", 1728)):
        mapping = compile_pe_array(conv_net(), _systolic(dataflow))
        assert mapping.layer("conv").dense_pe_cycles == cycles


def test_sram_bytes_follow_the_dataflow():
    """conv on 4 × 2. Membranes: 4·4·4·2 = 128 updates × 16 bits = 256 bytes read and written;
    spikes written: 32 tiles × ⌈2·2·1·1/8⌉ = 32 bytes.

    os: inputs 32·36·⌈4/2⌉ = 2304 at 1 bit, weights 36·4·⌈32/4⌉ = 1152 at 8 bits →
        ⌈(2304 + 9216)/8⌉ = 1440 bytes, no partial sums;
    ws: inputs 32·36·2 = 2304 bits, weights 36·4 = 144 bytes → 288 + 144 = 432 bytes; partial
        sums of ⌈36/4⌉ − 1 = 8 row folds: 32·4·8 = 1024 × 16 bits = 2048 bytes read and written."""
    net = conv_net()
    trace = _trace(net, density=0.3)
    for dataflow, operands, psums in (("os", 1440, 0), ("ws", 432, 2048)):
        cfg = _systolic(dataflow, **AMPLE)
        mapping = compile_pe_array(net, cfg)
        sched = mapping.layer("conv")
        c = layer_costs(mapping, sched, trace, cfg, 0)
        load = c.traffic["dram_read_bytes"]
        assert c.traffic["sram_read_bytes"] == 256 + 32 + operands + psums
        assert c.traffic["sram_write_bytes"] == load + 256 + 32 + psums


def test_family_utilisation_uses_the_array():
    """mapping_utilisation weighs each layer's useful MACs / (cycles·R·C) by its cycles: the
    sum of MACs over Σ cycles·R·C. src 16·4·4 = 256, conv 32·36·4 = 4608, fc 2·64·3 = 384 MACs;
    cycles 64 + 640 + 136 = 840 on 8 PEs."""
    mapping = families.compile(conv_net(), _systolic())
    record = families.of(_systolic())
    assert record.mapping_utilisation(mapping) == pytest.approx((256 + 4608 + 384) / (840 * 8))
