"""neurosim: integer SNN kernels and a cycle-level cost model of neuromorphic hardware."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurosim-snn")
except PackageNotFoundError:
    __version__ = "0.0.0"
