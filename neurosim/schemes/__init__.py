"""The scheme registry: one record per conversion scheme, one module per scheme.

Imports ``ir``, ``registry``, ``kernels``, ``errors`` (and ``trace`` for types). Each record
owns its neuron family (an ``ir.NeuronSpec`` subclass with its kernel runner and the answers
mapping, timing and energy ask), its options (``Options`` dataclass: names, defaults, ranges,
help, labels), its conversion hooks and its report hooks. Nothing outside this package branches
on a scheme's name: it looks the record up here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from neurosim import ir, registry
from neurosim.errors import ModelError
from neurosim.schemes.base import InputEncoding, NeuronBuild, Options, Scheme, option
from neurosim.schemes.integrate_fire import MIXED, UNIFORM, IFSpec
from neurosim.schemes.lif import LIF, LIFSpec
from neurosim.schemes.lmht import LMHT, LMHTSpec, reparameterize
from neurosim.schemes.sws import SWS, TSASpec


class Registry(registry.Registry[Scheme]):
    """Name → scheme record, in registration order (the order of tables and help texts).

    Brian2's discipline: lower-case names, a duplicate is rejected, an unknown name is an error
    that lists the known ones. State lives on this object, which the package creates once.
    """

    def __init__(self, records: tuple[Scheme, ...]) -> None:
        super().__init__(records, key=_name, what="scheme", error=ModelError)

    def register(self, record: Scheme) -> Scheme:
        """Add a scheme; ValueError for a duplicate name or a clash with another family."""
        if not isinstance(record, Scheme):
            raise TypeError(f"a scheme record must be a Scheme, got {type(record).__name__}")
        return super().register(record)

    def check(self, record: Scheme) -> None:
        """Lower-case names; a neuron family belongs to one spec class."""
        if not record.name or record.name != record.name.lower():
            raise ValueError(f"scheme names are lower-case and non-empty, got {record.name!r}")
        family = self.families().get(record.spec.family)
        if family is not None and family is not record.spec:
            raise ValueError(
                f"neuron family {record.spec.family!r} of scheme {record.name!r} is already "
                f"another spec class ({family.__name__})"
            )

    def families(self) -> dict[str, type[ir.NeuronSpec]]:
        """Neuron family name → spec class, over the registered schemes."""
        out: dict[str, type[ir.NeuronSpec]] = {}
        for record in self.records():
            out.setdefault(record.spec.family, record.spec)
        return out


def _name(record: Scheme) -> str:
    return record.name


REGISTRY = Registry((UNIFORM, MIXED, SWS, LMHT, LIF))
"""The schemes neurosim ships, in report order."""


def get(name: str) -> Scheme:
    """The record of scheme ``name``; ModelError lists the known names otherwise."""
    return REGISTRY.get(name)


def names() -> tuple[str, ...]:
    """Registered scheme names, in report order."""
    return REGISTRY.names()


def records() -> tuple[Scheme, ...]:
    return REGISTRY.records()


def spec_class(family: str) -> type[ir.NeuronSpec]:
    """The ``NeuronSpec`` subclass of a neuron family; ModelError lists the known ones."""
    found = REGISTRY.families()
    if family not in found:
        raise ModelError(f"unknown neuron family {family!r}; allowed: {sorted(found)}")
    return found[family]


def option_names() -> tuple[str, ...]:
    """Every keyword some registered scheme takes, in declaration order."""
    return tuple(dict.fromkeys(n for r in REGISTRY.records() for n in r.options.names()))


def registered(record: Scheme) -> contextlib.AbstractContextManager[Scheme]:
    """Register ``record`` for the duration of a ``with`` block (tests, notebooks)."""
    return REGISTRY.registered(record)


def check_network(network: ir.Network) -> Scheme:
    """The record of an SNN's scheme, after checking that its neurons belong to it."""
    record = get(network.scheme)
    for lay in network.layers:
        neuron = getattr(lay, "neuron", None)
        if neuron is not None and not isinstance(neuron, record.spec):
            raise ModelError(
                f"layer '{lay.name}': neuron family '{neuron.family}' does not belong to "
                f"scheme '{record.name}' (it uses '{record.spec.family}')"
            )
    return record


def input_encoding(network: ir.Network) -> InputEncoding | None:
    """How ``network``'s input becomes spikes: a spike-raster input (``Input.steps`` > 0) emits
    its given spikes whatever the scheme; otherwise the scheme's encoding (None: direct
    coding of the analog codes)."""
    inp = network.input
    if inp.steps > 0:
        return InputEncoding(int(inp.steps), 1, given_spikes)
    return get(network.scheme).input_encoding(network.meta)


def given_spikes(raster: np.ndarray) -> np.ndarray:
    """Batch-first given spikes [batch, T, *shape] → int8 [T, batch, *shape] (the encoder form)."""
    return np.ascontiguousarray(np.swapaxes(np.asarray(raster), 0, 1)).astype(np.int8)


def settings() -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """(scheme, options) of every row ``neurosim table`` compares, in report order."""
    return tuple((r.name, dict(o)) for r in REGISTRY.records() for o in r.table_settings)


__all__ = [
    "LIF",
    "LMHT",
    "MIXED",
    "REGISTRY",
    "SWS",
    "UNIFORM",
    "IFSpec",
    "InputEncoding",
    "LIFSpec",
    "LMHTSpec",
    "NeuronBuild",
    "Options",
    "Registry",
    "Scheme",
    "TSASpec",
    "check_network",
    "get",
    "given_spikes",
    "input_encoding",
    "names",
    "option",
    "option_names",
    "records",
    "registered",
    "reparameterize",
    "settings",
    "spec_class",
]
