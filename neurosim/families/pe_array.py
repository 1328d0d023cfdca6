"""The PE-array accelerator family (MT-SNN App. E, Algorithm 2): its registry record.

Imports ``hw``, ``mapping.pe_array`` and ``timing.pe_array``.
"""

from __future__ import annotations

import math

from neurosim import hw
from neurosim.families.base import HardwareFamily
from neurosim.mapping.pe_array import PEArrayMapping, compile_pe_array
from neurosim.timing.pe_array import simulate_pe_array


def _compute_stages(mapping: PEArrayMapping) -> list[str]:
    """The PE array's stage of every scheduled layer (``<layer>.pe``)."""
    return [f"{s.name}.pe" for s in mapping.layers]


def _mapping_utilisation(mapping: PEArrayMapping) -> float:
    """Useful lane-cycles / (dense PE cycles × M·N·S·V) over all layers."""
    dense = sum(s.dense_pe_cycles for s in mapping.layers)
    if not dense:
        return math.nan
    return sum(s.utilisation * s.dense_pe_cycles for s in mapping.layers) / dense


def _sram_class_bytes(config: hw.PEArrayConfig) -> int:
    """The largest on-chip buffer: one size class prices all SRAM bytes (the conservative
    choice, since the timing model reports SRAM bytes summed over the buffers)."""
    b = config.buffers
    return int(max(b.weight_bytes, b.spike_bytes, b.membrane_bytes))


PE_ARRAY = HardwareFamily(
    name="pe_array",
    config=hw.PEArrayConfig,
    compile=compile_pe_array,
    simulate=simulate_pe_array,
    engines=("simpy", "maxplus"),
    fast_engine="maxplus",
    compute_stages=_compute_stages,
    compute_units=lambda mapping: 1,
    mapping_utilisation=_mapping_utilisation,
    sram_class_bytes=_sram_class_bytes,
    static_units=lambda config: 1,
    aliases={
        "pe.M": "pe.unroll_out_channels",
        "pe.N": "pe.unroll_out_columns",
        "pe.S": "pe.unroll_steps",
        "pe.V": "pe.unroll_in_channels",
    },
)
"""Layer by layer on one PE array; aliases are MT-SNN Algorithm 2's unroll symbols."""
