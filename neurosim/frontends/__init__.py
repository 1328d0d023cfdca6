"""Importers of other ecosystems' models: one registry record per file suffix.

Imports ``ir``, ``io``, ``schemes``, ``qann``, ``registry`` and ``errors``. Each importer turns
a file (ONNX, NIR, …) into the same ``ir.Network`` the native reader gives; ``load_model`` picks
it by the file's suffix, so every command that takes a model takes these files too, and
``neurosim import`` writes the native file once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import io, ir, registry
from neurosim.errors import ModelError
from neurosim.frontends import nir as _nir
from neurosim.frontends import nir_export as _nir_export
from neurosim.frontends.reference import ReferenceRun


@dataclass(frozen=True)
class Importer:
    """How one foreign format is read (and, for some, written)."""

    suffix: str
    """File suffix, lower-case with the dot (``".onnx"``)."""
    name: str
    """The format's name, for messages."""
    load: Callable[..., ir.Network]
    """``load(path, **options) -> ir.Network``; options are the importer's own keywords."""
    extra: str = ""
    """The optional dependency it needs (``pip install "neurosim-snn[<extra>]"``), if any."""
    reference: Callable[..., Callable[[np.ndarray], ReferenceRun]] | None = None
    """For SNN formats: ``reference(path, **options)`` → a function of batch-first input
    spikes giving the float reference of the file's own semantics (``ReferenceRun``)."""
    save: Callable[..., Path] | None = None
    """``save(network, path, **options)`` for formats neurosim also writes."""


class Registry(registry.Registry[Importer]):
    """Suffix → importer; a duplicate suffix is rejected, an unknown one lists the known."""

    def __init__(self, importers: tuple[Importer, ...] = ()) -> None:
        super().__init__(
            importers,
            key=_suffix,
            what="suffix",
            error=ModelError,
            duplicate="suffix {key!r} has an importer already",
        )

    def check(self, importer: Importer) -> None:
        """The native suffix is read by ``neurosim.io``, never by an importer."""
        if importer.suffix == NATIVE_SUFFIX:
            raise ValueError(f"suffix {importer.suffix!r} has an importer already")

    def get(self, suffix: str) -> Importer | None:
        """The importer of ``suffix``, or None (callers word the error: it names the file)."""
        return self.find(suffix)

    def suffixes(self) -> tuple[str, ...]:
        return self.names()


def _suffix(importer: Importer) -> str:
    return importer.suffix


NATIVE_SUFFIX = ".npz"
"""The native model file (``neurosim.io``)."""


def _load_onnx(path: Path, **options: Any) -> ir.Network:
    from neurosim.frontends import onnx

    return onnx.load(path, **options)


ONNX = Importer(suffix=".onnx", name="ONNX (QDQ / QCDQ)", load=_load_onnx, extra="onnx")
"""Quantized ONNX graphs (QDQ, Brevitas QCDQ): read as quantized ANNs."""

NIR = Importer(
    suffix=".nir",
    name="NIR",
    load=_nir.load,
    extra="nir",
    reference=_nir.reference,
    save=_nir_export.save,
)
"""NIR graphs (``nir`` 1.0.x, HDF5): read as ``lif`` SNNs, written from any SNN."""

REGISTRY = Registry((ONNX, NIR))
"""The importers neurosim ships (each format's module registers nothing itself: it is listed
here)."""


def registered(importer: Importer) -> contextlib.AbstractContextManager[Importer]:
    """Register an importer for the duration of a ``with`` block."""
    return REGISTRY.registered(importer)


def load_model(path: str | os.PathLike, **options: Any) -> ir.Network:
    """Read a model file: the native ``.npz`` or any registered foreign format (by suffix).

    ``options`` go to the importer (e.g. ``weight_bits``); the native reader takes none.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == NATIVE_SUFFIX:
        if options:
            raise ModelError(
                f"{path}: a native model file takes no import options, got {sorted(options)}"
            )
        return io.load_model(path)
    importer = REGISTRY.get(suffix)
    if importer is None:
        known = [NATIVE_SUFFIX, *REGISTRY.suffixes()]
        raise ModelError(
            f"{path}: no importer for {suffix or 'files without a suffix'!r}; "
            f"model files may be {', '.join(known)}"
        )
    try:
        path.stat()
    except (OSError, ValueError):
        raise ModelError(f"{path}: no such model file") from None
    return importer.load(path, **options)


def import_model(
    path: str | os.PathLike, out: str | os.PathLike, **options: Any
) -> tuple[ir.Network, Path]:
    """Read a foreign model file and write it as a native ``.npz``; returns both."""
    net = load_model(path, **options)
    return net, io.save_model(net, out)


def _format(path: Path, verb: str) -> Importer:
    importer = REGISTRY.get(path.suffix.lower())
    if importer is None:
        raise ModelError(
            f"{path}: no format for {path.suffix or 'files without a suffix'!r}; "
            f"{verb} {', '.join(REGISTRY.suffixes())}"
        )
    return importer


def reference(path: str | os.PathLike, **options: Any):
    """The float reference of a foreign SNN file (``Importer.reference``), or None when its
    format has none (a native file, an ANN format)."""
    path = Path(path)
    importer = REGISTRY.get(path.suffix.lower())
    if importer is None or importer.reference is None:
        return None
    return importer.reference(path, **options)


def export_model(
    network: ir.Network | str | os.PathLike, out: str | os.PathLike, **options: Any
) -> Path:
    """Write a network (or a model file) in the format of ``out``'s suffix (e.g. ``.nir``)."""
    out = Path(out)
    importer = _format(out, "neurosim writes")
    if importer.save is None:
        writable = [s for s in REGISTRY.suffixes() if REGISTRY.get(s).save is not None]
        raise ModelError(f"{out}: neurosim does not write {importer.name}; it writes {writable}")
    net = network if isinstance(network, ir.Network) else load_model(network)
    return importer.save(net, out, **options)


__all__ = [
    "NATIVE_SUFFIX",
    "NIR",
    "REGISTRY",
    "Importer",
    "ReferenceRun",
    "Registry",
    "export_model",
    "import_model",
    "load_model",
    "reference",
    "registered",
]
