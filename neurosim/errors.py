"""One exception family for neurosim; only ``neurosim.cli`` turns these into messages.

A leaf module: every other module may import it.
"""


class NeurosimError(Exception):
    """Base class of every error neurosim raises on purpose."""


class ConfigError(NeurosimError, ValueError):
    """A hardware, sweep or run configuration is invalid (names file, field, allowed values)."""


class ModelError(NeurosimError, ValueError):
    """A model file or network is malformed (names the file, field or layer)."""


class MappingError(NeurosimError):
    """A network does not fit the hardware (names the layer, the resource, needed vs available)."""


class OverflowDetected(NeurosimError, ArithmeticError):
    """An integer membrane or accumulator left its configured width (names layer, step, width)."""


class UnsupportedError(NeurosimError, NotImplementedError):
    """A combination neurosim does not simulate yet, said plainly instead of approximated."""
