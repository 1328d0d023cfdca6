"""Compiling a converted network onto a hardware description: ``compile(network, hw)``.

Imports ``ir`` and ``errors`` (a hardware config is read through its fields).
``FAMILIES`` is the hardware-family registry.
"""

from collections.abc import Callable, Mapping

from neurosim import ir
from neurosim.errors import ConfigError
from neurosim.mapping.multicore import MulticoreMapping, compile_multicore
from neurosim.mapping.pe_array import PEArrayMapping, compile_pe_array
from neurosim.mapping.pe_array import compile_key as _pe_array_key

Mapping_ = PEArrayMapping | MulticoreMapping

FAMILIES: Mapping[str, Callable] = {
    "pe_array": compile_pe_array,
    "multicore": compile_multicore,
}
"""Hardware family → compiler."""


def compile(network: ir.Network, hw) -> Mapping_:
    """Map ``network`` (a converted SNN) onto ``hw``; MappingError if it does not fit."""
    try:
        fn = FAMILIES[hw.family]
    except KeyError:
        raise ConfigError(
            f"unknown hardware family {hw.family!r}; allowed: {sorted(FAMILIES)}"
        ) from None
    return fn(network, hw)


def compile_key(hw) -> tuple | None:
    """A key such that configs with equal keys get the same mapping of any network (PE array:
    unroll factors, buffers and datapath), or None (multi-core: compile each config)."""
    return (hw.family, _pe_array_key(hw)) if hw.family == "pe_array" else None


__all__ = ["FAMILIES", "MulticoreMapping", "PEArrayMapping", "compile", "compile_key"]
