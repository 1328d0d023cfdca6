"""Compiling a converted network onto a hardware description, one module per family.

Imports ``ir``, ``schemes``, ``hw`` and ``errors``. ``pe_array.compile_pe_array`` tiles layers on
a PE array; ``multicore.compile_multicore`` partitions and places them on a core mesh. The
family registry (``neurosim.families``) calls the right one: ``families.compile(network, hw)``.
"""

from neurosim.mapping.multicore import MulticoreMapping, compile_multicore
from neurosim.mapping.pe_array import PEArrayMapping, compile_pe_array

__all__ = ["MulticoreMapping", "PEArrayMapping", "compile_multicore", "compile_pe_array"]
