"""The native model file: one versioned ``.npz`` for quantized ANNs and converted SNNs.

Layout: a JSON header (array ``__header__``, UTF-8 bytes) lists the layers with their scalar
fields; every array field is an entry ``<layer>/<field>`` (``<layer>/gains/<i>`` for Add gains,
``<layer>/act.tgim`` and ``<layer>/neuron.<field>`` for nested arrays). No pickle is used.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import ir, schemes
from neurosim._files import atomic_write
from neurosim.errors import ModelError
from neurosim.io.archive import read_npz
from neurosim.limits import MAX_FILE_INT

FORMAT = "neurosim-model"
VERSION = 1

_OMIT_AT_DEFAULT = {("input", "steps")}
"""Fields written only when they differ from their default (files of older versions stay
byte-identical)."""
_DEFAULTS_LEFT_OUT = {"rounding": "half_up"}
"""Fields written only when they differ from this default, whatever the layer (files without
them stay as they were, and older readers still read them)."""


def _is_left_out(name: str, value: Any) -> bool:
    return (
        name in _DEFAULTS_LEFT_OUT and isinstance(value, str) and _DEFAULTS_LEFT_OUT[name] == value
    )


def _encode_value(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"array": key}
    if isinstance(value, ir.ActQuant | ir.NeuronSpec):
        out: dict[str, Any] = {}
        if isinstance(value, ir.NeuronSpec):
            out["family"] = value.family
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is not None and not _is_left_out(f.name, v):
                out[f.name] = _encode_value(v, f"{key}.{f.name}", arrays)
        return out
    if isinstance(value, tuple) and value and isinstance(value[0], np.ndarray):
        return [_encode_value(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def encode_layer(lay: ir.Layer, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The header entry of one layer; its array fields go into ``arrays`` under the keys the
    entry names (``<layer>/<field>``)."""
    entry: dict[str, Any] = {"op": lay.op, "name": lay.name, "inputs": list(lay.inputs)}
    for f in dataclasses.fields(lay):
        if f.name in ("name", "inputs"):
            continue
        v = getattr(lay, f.name)
        if v is None or (isinstance(v, tuple) and not v) or _is_left_out(f.name, v):
            continue
        if (lay.op, f.name) in _OMIT_AT_DEFAULT and v == f.default:
            continue
        entry[f.name] = _encode_value(v, f"{lay.name}/{f.name}", arrays)
    return entry


def encode_network(network: ir.Network) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of the native file of ``network`` (without the ``__header__`` entry)."""
    arrays: dict[str, np.ndarray] = {}
    layers = [encode_layer(lay, arrays) for lay in network.layers]
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kind": network.kind,
        "scheme": network.scheme,
        "name": network.name,
        "meta": network.meta,
        "layers": layers,
    }
    return header, arrays


def save_model(network: ir.Network, path: str | os.PathLike, *, compress: bool = True) -> Path:
    """Write ``network`` to ``path`` (``.npz``) atomically; returns the path written.

    ``compress=False`` stores the arrays uncompressed: a larger file that loads about four
    times faster (the zoo model cache)."""
    header, arrays = encode_network(network)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = Path(path)
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return atomic_write(path, buf.getvalue())


class _Reader:
    """Decodes the header with errors that name the file and the field.

    Every field is decoded by its declared type (the layer, ``ActQuant`` and neuron-spec
    dataclasses' annotations): an array field takes an array reference, an integer field an
    integer (or an integral float) within ±``MAX_FILE_INT``, a float field a finite number, a
    tuple a list, a nested spec an object. Anything else is a ModelError.
    """

    def __init__(self, path: Path, arrays: Any) -> None:
        self.path = path
        self.arrays = arrays

    def fail(self, where: str, msg: str) -> ModelError:
        return ModelError(f"{self.path}: {where}: {msg}")

    def array(self, ref: Any, where: str) -> np.ndarray:
        if not isinstance(ref, dict) or set(ref) != {"array"} or not isinstance(ref["array"], str):
            raise self.fail(
                where, f"expected an array reference {{'array': NAME}}, got {_show(ref)}"
            )
        key = ref["array"]
        if key not in self.arrays:
            raise self.fail(where, f"array entry '{key}' is missing from the file")
        return self.arrays[key]

    def value(self, tp: Any, value: Any, where: str) -> Any:
        """``value`` decoded as the annotated type ``tp``."""
        args = typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            kinds = [a for a in args if a is not type(None)]
            if np.ndarray in kinds:
                return self.array(value, where)
            if len(kinds) == 1:
                return self.value(kinds[0], value, where)
            for kind in (bool, int, float, str):
                if kind in kinds and _is(kind, value):
                    return self.value(kind, value, where)
            allowed = [_name(k) for k in kinds]
            raise self.fail(where, f"must be one of {allowed}, got {_show(value)}")
        if tp is np.ndarray:
            return self.array(value, where)
        if typing.get_origin(tp) is tuple:
            if not isinstance(value, list):
                raise self.fail(where, f"must be a list, got {_show(value)}")
            item = args[0]
            return tuple(self.value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
        if tp is ir.ActQuant:
            return self.nested(ir.ActQuant, value, where)
        if tp is ir.NeuronSpec:
            fam = value.get("family") if isinstance(value, dict) else None
            families = schemes.REGISTRY.families()
            if not isinstance(fam, str) or fam not in families:
                raise self.fail(
                    f"{where}.family", f"unknown family {_show(fam)}; allowed: {sorted(families)}"
                )
            return self.nested(families[fam], value, where)
        if tp in (bool, int, float, str):
            if not _is(tp, value):
                raise self.fail(where, f"must be {_name(tp)}, got {_show(value)}")
            if tp is int:
                return int(value)
            if tp is float:
                return float(value)
            return value
        raise self.fail(where, f"cannot decode a field of type {tp!r}")  # pragma: no cover

    def nested(self, cls: type, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise self.fail(where, f"expected an object, got {_show(data)}")
        allowed = {f.name for f in dataclasses.fields(cls)}
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "family":
                continue
            if key not in allowed:
                raise self.fail(f"{where}.{key}", f"unknown field; allowed: {sorted(allowed)}")
            kwargs[key] = self.value(hints[key], value, f"{where}.{key}")
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in kwargs
        )
        if missing:
            raise self.fail(where, f"missing field(s) {missing}")
        return cls(**kwargs)

    def layer(self, entry: Any, index: int) -> ir.Layer:
        where = f"layers[{index}]"
        if not isinstance(entry, dict):
            raise self.fail(where, f"expected an object, got {_show(entry)}")
        op = entry.get("op")
        if not isinstance(op, str) or op not in ir.LAYER_TYPES:
            raise self.fail(
                f"{where}.op", f"unknown op {_show(op)}; allowed: {sorted(ir.LAYER_TYPES)}"
            )
        cls = ir.LAYER_TYPES[op]
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{where}.name", f"must be a non-empty string, got {_show(name)}")
        where = f"layer '{name}'"
        inputs = entry.get("inputs", [])
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            raise self.fail(
                f"{where}.inputs", f"must be a list of layer names, got {_show(inputs)}"
            )
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        hints = _hints(cls)
        kwargs: dict[str, Any] = {"name": name, "inputs": tuple(inputs)}
        for key, value in entry.items():
            if key in ("op", "name", "inputs"):
                continue
            if key not in fields:
                raise self.fail(
                    f"{where}.{key}",
                    f"unknown field for {op}; allowed: {sorted(fields - {'name', 'inputs'})}",
                )
            kwargs[key] = self.value(hints[key], value, f"{where}.{key}")
        return cls(**kwargs)


def _is(tp: type, value: Any) -> bool:
    """Whether a JSON value fits a scalar type (an integral float fits int; no bool as a number;
    numbers finite and integers within ±MAX_FILE_INT)."""
    if tp is bool:
        return isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if tp is int:
        return (isinstance(value, int) or value.is_integer()) and abs(value) <= MAX_FILE_INT
    return abs(value) <= sys.float_info.max  # a huge int converts to a finite float or not


def _name(tp: Any) -> str:
    return {
        bool: "true/false",
        int: "an integer within ±2^62",
        float: "a finite number",
        str: "a string",
    }.get(tp, getattr(tp, "__name__", str(tp)))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field annotations, resolved once per class: every layer of a model
    file asks for its class's, and resolving them compiles each annotation's text."""
    return typing.get_type_hints(cls)


def _show(value: Any) -> str:
    """A JSON value, shortened for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_model(path: str | os.PathLike, *, data: bytes | None = None) -> ir.Network:
    """Read a native model file; a malformed file raises ModelError naming the field.

    ``data``: the file's bytes, when the caller has read them already (the model cache checks
    their hash first).
    """
    path = Path(path)
    arrays = read_npz(path, "model file", data=data)
    if "__header__" not in arrays:
        raise ModelError(f"{path}: missing '__header__' (not a neurosim model file)")
    raw = arrays.pop("__header__")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelError(f"{path}: '__header__' must be UTF-8 bytes (uint8), got {raw.dtype}")
    try:
        header = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: '__header__' is not valid JSON ({exc})") from None
    except RecursionError:
        raise ModelError(f"{path}: '__header__' is nested too deep to be a model header") from None
    return decode_network(header, arrays, path)


def decode_network(
    header: Any, arrays: dict[str, np.ndarray], path: str | os.PathLike
) -> ir.Network:
    """The network of a native header and its arrays; ModelError naming ``path`` and the field."""
    path = Path(path)
    reader = _Reader(path, arrays)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelError(f"{path}: format must be '{FORMAT}'")
    if header.get("version") != VERSION:
        raise ModelError(
            f"{path}: version: unsupported {_show(header.get('version'))}; "
            f"this neurosim reads version {VERSION}"
        )
    layers_data = header.get("layers")
    if not isinstance(layers_data, list):
        raise ModelError(f"{path}: layers: must be a list")
    layers = [reader.layer(entry, i) for i, entry in enumerate(layers_data)]
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: meta: must be an object")
    for key in ("kind", "scheme", "name"):
        if header.get(key) is not None and not isinstance(header.get(key), str):
            raise ModelError(f"{path}: {key}: must be a string, got {_show(header.get(key))}")
    try:
        net = ir.Network(
            layers=tuple(layers),
            kind=header.get("kind"),
            scheme=header.get("scheme"),
            name=str(header.get("name", path.stem)),
            meta=meta,
        )
        if net.kind == "snn":
            schemes.check_network(net)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    return net
