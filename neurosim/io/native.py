"""The native model file: one versioned ``.npz`` for quantized ANNs and converted SNNs.

Layout: a JSON header (array ``__header__``, UTF-8 bytes) lists the layers with their scalar
fields; every array field is an entry ``<layer>/<field>`` (``<layer>/gains/<i>`` for Add gains,
``<layer>/act.tgim`` and ``<layer>/neuron.<field>`` for nested arrays). No pickle is used.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import typing
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import ir, schemes
from neurosim._files import atomic_write
from neurosim.errors import ModelError

FORMAT = "neurosim-model"
VERSION = 1

_INT_FIELDS = {"stride", "padding", "kernel", "shift", "levels", "groups", "dilation", "steps"}
_OMIT_AT_DEFAULT = {("input", "steps")}
"""Fields written only when they differ from their default (files of older versions stay
byte-identical)."""
_FLOAT_FIELDS = {"scale", "clip"}
_BOOL_FIELDS: set[str] = set()
_STR_FIELDS = {"rounding"}
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
    """Decodes the header with errors that name the file and the field."""

    def __init__(self, path: Path, arrays: Any) -> None:
        self.path = path
        self.arrays = arrays

    def fail(self, where: str, msg: str) -> ModelError:
        return ModelError(f"{self.path}: {where}: {msg}")

    def array(self, ref: Any, where: str) -> np.ndarray:
        if not isinstance(ref, dict) or "array" not in ref:
            raise self.fail(where, "expected an array reference")
        key = ref["array"]
        if key not in self.arrays:
            raise self.fail(where, f"array entry '{key}' is missing from the file")
        return np.asarray(self.arrays[key])

    def scalar(self, name: str, value: Any, where: str) -> Any:
        try:
            if name in _INT_FIELDS:
                if isinstance(value, bool) or int(value) != value:
                    raise TypeError
                return int(value)
            if name in _FLOAT_FIELDS:
                if isinstance(value, bool):
                    raise TypeError
                return float(value)
            if name in _BOOL_FIELDS:
                if not isinstance(value, bool):
                    raise TypeError
                return value
            if name in _STR_FIELDS:
                if not isinstance(value, str):
                    raise TypeError
                return value
        except (TypeError, ValueError):
            kind = (
                "an integer"
                if name in _INT_FIELDS
                else "a number"
                if name in _FLOAT_FIELDS
                else "true/false"
                if name in _BOOL_FIELDS
                else "a string"
            )
            raise self.fail(f"{where}.{name}", f"must be {kind}, got {value!r}") from None
        raise self.fail(f"{where}.{name}", "unknown field")

    def typed(self, tp: Any, value: Any, where: str) -> Any:
        """A neuron-spec field by its declared type: int, float, bool, str or an array."""
        kinds = set(typing.get_args(tp)) or {tp}
        if np.ndarray in kinds:
            return self.array(value, where)
        for kind, name in ((bool, "true/false"), (int, "an integer"), (float, "a number")):
            if kind in kinds:
                ok = (
                    isinstance(value, bool)
                    if kind is bool
                    else (
                        not isinstance(value, bool)
                        and isinstance(value, int | float)
                        and (kind is float or int(value) == value)
                    )
                )
                if not ok:
                    raise self.fail(where, f"must be {name}, got {value!r}")
                return kind(value)
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, got {value!r}")
        return value

    def nested(self, cls: type, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise self.fail(where, "expected an object")
        allowed = {f.name for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "family":
                continue
            if key not in allowed:
                raise self.fail(f"{where}.{key}", f"unknown field; allowed: {sorted(allowed)}")
            if cls is ir.ActQuant:
                if key == "tgim":
                    kwargs[key] = self.array(value, f"{where}.{key}")
                elif key == "leak":
                    kwargs[key] = float(value)
                else:
                    kwargs[key] = self.scalar(key, value, where)
            else:
                kwargs[key] = self.typed(hints[key], value, f"{where}.{key}")
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise self.fail(where, f"missing field ({exc})") from None

    def layer(self, entry: Any, index: int) -> ir.Layer:
        where = f"layers[{index}]"
        if not isinstance(entry, dict):
            raise self.fail(where, "expected an object")
        op = entry.get("op")
        if op not in ir.LAYER_TYPES:
            raise self.fail(f"{where}.op", f"unknown op {op!r}; allowed: {sorted(ir.LAYER_TYPES)}")
        cls = ir.LAYER_TYPES[op]
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{where}.name", "must be a non-empty string")
        where = f"layer '{name}'"
        inputs = entry.get("inputs", [])
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            raise self.fail(f"{where}.inputs", "must be a list of layer names")
        allowed = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {"name": name, "inputs": tuple(inputs)}
        for key, value in entry.items():
            if key in ("op", "name", "inputs"):
                continue
            if key not in allowed:
                raise self.fail(
                    f"{where}.{key}",
                    f"unknown field for {op}; allowed: {sorted(allowed - {'name', 'inputs'})}",
                )
            if key == "act":
                kwargs[key] = self.nested(ir.ActQuant, value, f"{where}.act")
            elif key == "neuron":
                fam = value.get("family") if isinstance(value, dict) else None
                families = schemes.REGISTRY.families()
                if fam not in families:
                    raise self.fail(
                        f"{where}.neuron.family",
                        f"unknown family {fam!r}; allowed: {sorted(families)}",
                    )
                kwargs[key] = self.nested(families[fam], value, f"{where}.neuron")
            elif key == "gains":
                if not isinstance(value, list):
                    raise self.fail(f"{where}.gains", "must be a list of arrays")
                kwargs[key] = tuple(
                    self.array(v, f"{where}.gains[{i}]") for i, v in enumerate(value)
                )
            elif key in ("shape", "delays"):
                if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
                    raise self.fail(f"{where}.{key}", "must be a list of integers")
                kwargs[key] = tuple(value)
            elif isinstance(value, dict):
                kwargs[key] = self.array(value, f"{where}.{key}")
            else:
                kwargs[key] = self.scalar(key, value, where)
        return cls(**kwargs)


def load_model(path: str | os.PathLike) -> ir.Network:
    """Read a native model file; a malformed file raises ModelError naming the field."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable .npz model file ({exc})") from None
    with arrays:
        if "__header__" not in arrays.files:
            raise ModelError(f"{path}: missing '__header__' (not a neurosim model file)")
        try:
            header = json.loads(bytes(arrays["__header__"]).decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: '__header__' is not valid JSON ({exc})") from None
        contents = {k: arrays[k] for k in arrays.files}
    return decode_network(header, contents, path)


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
            f"{path}: version: unsupported {header.get('version')!r}; "
            f"this neurosim reads version {VERSION}"
        )
    layers_data = header.get("layers")
    if not isinstance(layers_data, list):
        raise ModelError(f"{path}: layers: must be a list")
    layers = [reader.layer(entry, i) for i, entry in enumerate(layers_data)]
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: meta: must be an object")
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
