"""Building blocks of the fuzz cases (``scripts/fuzz.py``): the case record, hostile values,
byte/TOML/JSON/.npz damage, the seed corpus record and the command lines cases run.

The generators live by input kind in ``_fuzzgen_npz.py`` (model and inputs files),
``_fuzzgen_toml.py`` (hardware configs, energy tables, sweep specs), ``_fuzzgen_onnx.py``,
``_fuzzgen_nir.py`` (NIR graphs, event inputs, import/export); ``_fuzzgen.py`` builds the corpus
and registers them. Every case is a pure function of (seed, input type, case index).
"""

from __future__ import annotations

import copy
import io
import json
import math
import struct
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim import ir, schemes

FOLDER = b"\x00<folder>"
"""A file value that stands for an empty folder of that name."""


@dataclass
class Case:
    """One fuzz case: files to write into an empty folder and the command to run there."""

    kind: str
    index: int
    files: dict[str, bytes]
    argv: list[str]
    what: str
    """Which mutation made it (for the reproducer line)."""
    outputs: list[str] = field(default_factory=list)
    """Result files to check for non-finite numbers when the command succeeds."""


# --------------------------------------------------------------------------------------------
# Hostile values
# --------------------------------------------------------------------------------------------

HOSTILE_INTS = (
    0,
    1,
    -1,
    2,
    3,
    7,
    255,
    2**15,
    2**16,
    2**31 - 1,
    2**31,
    2**32,
    2**40,
    2**53 + 1,
    2**62,
    2**63 - 1,
    -(2**63),
    10**20,
    10**400,
)
HOSTILE_FLOATS = (
    0.0,
    -0.0,
    5e-324,
    1e-300,
    1e-6,
    0.5,
    1.5,
    1e6,
    1e15,
    1e300,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    math.nan,
)
HOSTILE_OTHER = (
    "",
    " ",
    "x",
    "a" * 5000,
    "../../evil",
    True,
    False,
    [],
    [1, 2],
    [[]],
    {},
    {"a": 1},
)


def hostile(rng: np.random.Generator) -> Any:
    """One value from the pools above (ints, floats, strings, containers)."""
    pool = (HOSTILE_INTS, HOSTILE_FLOATS, HOSTILE_OTHER)[int(rng.integers(3))]
    return copy.deepcopy(pool[int(rng.integers(len(pool)))])


def nested(depth: int) -> str:
    """A placeholder for a list nested ``depth`` deep: ``expand_nested`` turns it into text
    after serialisation (the serialisers here would recurse that deep themselves)."""
    return f"__NESTED_{depth}__"


def expand_nested(text: str) -> str:
    """Replace every quoted ``nested`` placeholder by ``[[...[1]...]]``."""
    while '"__NESTED_' in text:
        start = text.index('"__NESTED_')
        end = text.index('__"', start + 10)
        depth = int(text[start + 10 : end])
        text = text[:start] + "[" * depth + "1" + "]" * depth + text[end + 3 :]
    return text


# --------------------------------------------------------------------------------------------
# Bytes, TOML and JSON helpers
# --------------------------------------------------------------------------------------------


def damage_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Flip, zero, truncate, empty, extend or splice ``data`` (one of them)."""
    n = len(data)
    how = int(rng.integers(7))
    if how == 0 and n:
        buf = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(n))
            buf[i] ^= 1 << int(rng.integers(8))
        return bytes(buf), "flipped bits"
    if how == 1 and n:
        return data[: int(rng.integers(n))], "truncated"
    if how == 2:
        return b"", "empty file"
    if how == 3 and n:
        i = int(rng.integers(n))
        j = min(n, i + int(rng.integers(1, 64)))
        return data[:i] + b"\x00" * (j - i) + data[j:], "zeroed a range"
    if how == 4:
        return data + rng.bytes(int(rng.integers(1, 200))), "appended junk"
    if how == 5 and n:
        i = int(rng.integers(n))
        return data[:i] + b"\xff\xfe\x80" + data[i:], "inserted invalid UTF-8"
    return rng.bytes(int(rng.integers(0, 300))), "random bytes"


def _toml_key(key: str) -> str:
    if key and all(c.isalnum() or c in "_-" for c in key):
        return key
    return json.dumps(key)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def toml_dumps(data: dict[str, Any]) -> str:
    """A TOML document of ``data``: scalars and inline values, ``[tables]`` and
    ``[[arrays of tables]]`` at the top level (nested tables inline)."""
    lines: list[str] = []
    tables, arrays = [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        lines.append(f"[{_toml_key(k)}]")
        lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items()]
    for k, v in arrays:
        for entry in v:
            lines.append(f"[[{_toml_key(k)}]]")
            lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in entry.items()]
    return "\n".join(lines) + "\n"


def leaf_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Paths (tuples of keys and indices) of every value inside dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += leaf_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += leaf_paths(v, (*prefix, i))
    return out


def set_path(obj: Any, path: tuple, value: Any, *, delete: bool = False) -> None:
    for key in path[:-1]:
        obj = obj[key]
    if delete:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


def mutate_tree(
    doc: Any, rng: np.random.Generator, targeted: Callable[[Any, np.random.Generator], str] | None
) -> str:
    """Mutate a parsed document in place (1-3 edits); returns what was done."""
    done = []
    edits = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
    for _ in range(edits):
        paths = leaf_paths(doc)
        how = int(rng.integers(10))
        if targeted is not None and how < 5:
            try:
                done.append(targeted(doc, rng))
            except (TypeError, KeyError, IndexError, AttributeError):
                done.append("targeted edit skipped (an earlier edit changed the shape)")
            continue
        if not paths:
            break
        path = paths[int(rng.integers(len(paths)))]
        if how == 5 and isinstance(path[-1], str):
            set_path(doc, path, None, delete=True)
            done.append(f"deleted {'.'.join(map(str, path))}")
        elif how == 6:
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict):
                parent["zz_unknown"] = hostile(rng)
                done.append(f"unknown key beside {'.'.join(map(str, path))}")
        elif how == 7:
            set_path(doc, path, nested(int(rng.integers(20, 1200))))
            done.append(f"deep nesting at {'.'.join(map(str, path))}")
        else:
            value = hostile(rng)
            set_path(doc, path, value)
            done.append(f"{'.'.join(map(str, path))} = {str(value)[:40]}")
    return "; ".join(done) or "unchanged"


def mutate_toml(
    text: str,
    rng: np.random.Generator,
    targeted: Callable[[Any, np.random.Generator], str] | None = None,
) -> tuple[bytes, str]:
    """A damaged TOML file: structural edits re-serialised, or text-level damage."""
    how = int(rng.integers(10))
    if how == 0:
        data, what = damage_bytes(text.encode(), rng)
        return data, what
    if how == 1:
        digits = int(rng.integers(4000, 6000))
        key = "zz" if rng.random() < 0.3 else _first_int_key(text)
        return (text + f"\n[zzdeep]\n{key} = 1{'0' * digits}\n").encode(), f"{digits}-digit int"
    if how == 2:
        depth = int(rng.integers(500, 5000))
        if rng.random() < 0.5:
            value = "[" * depth + "1" + "]" * depth
        else:
            value = "{a = " * depth + "1" + "}" * depth
        return (text + f"\n[zzdeep]\nv = {value}\n").encode(), f"nested {depth} deep"
    doc = tomllib.loads(text)
    what = mutate_tree(doc, rng, targeted)
    return expand_nested(toml_dumps(doc)).encode(), what


def _first_int_key(text: str) -> str:
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and value.strip()[:1].isdigit():
            return key.strip()
    return "zz"


# --------------------------------------------------------------------------------------------
# .npz helpers
# --------------------------------------------------------------------------------------------


def zip_entry(name: str) -> zipfile.ZipInfo:
    """A zip member with a fixed date: a case's bytes are a function of its seed alone (a
    member named by a string takes the current time, which changes every two seconds)."""
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def npz_bytes(arrays: dict[str, Any], *, compress: bool = False, pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=pickle)
            z.writestr(zip_entry(name + ".npy"), member.getvalue(), compress_type=method)
    return buf.getvalue()


def lying_npy(shape: tuple[int, ...], dtype: str = "<i8", payload: int = 16) -> bytes:
    """A ``.npy`` member whose header declares ``shape`` but holds ``payload`` bytes."""
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * payload


def npz_with_member(base: bytes, name: str, member: bytes) -> bytes:
    """``base`` (an uncompressed .npz) with member ``name``.npy replaced or added."""
    src = zipfile.ZipFile(io.BytesIO(base))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            if info.filename != name + ".npy":
                z.writestr(zip_entry(info.filename), src.read(info.filename))
        z.writestr(zip_entry(name + ".npy"), member)
    return buf.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def hostile_array(rng: np.random.Generator, like: np.ndarray) -> tuple[Any, str, bool]:
    """(array, what, needs pickle) replacing ``like``: other dtypes, shapes, extreme values."""
    how = int(rng.integers(14))
    shape = like.shape
    if how == 0:
        return np.array(7, like.dtype if like.dtype.kind in "iu" else np.int64), "0-d array", False
    if how == 1:
        return np.zeros((0, *shape[1:]), like.dtype), "empty array", False
    if how == 2:
        return np.zeros(shape, "V4"), "void dtype", False
    if how == 3:
        return np.array([{"a": 1}] * max(1, like.size), dtype=object), "object dtype", True
    if how == 4:
        arr = np.full(shape, np.nan)
        return arr, "NaN floats", False
    if how == 5:
        return np.full(shape, np.inf), "inf floats", False
    if how == 6:
        return np.full(shape, np.iinfo(np.int64).max, np.int64), "int64 max", False
    if how == 7:
        return np.full(shape, np.iinfo(np.int64).min, np.int64), "int64 min", False
    if how == 8:
        return np.zeros(shape, np.complex128), "complex", False
    if how == 9:
        return np.full(shape, "ab", "<U2"), "strings", False
    if how == 10:
        return np.zeros((*shape, 2), like.dtype), "extra dimension", False
    if how == 11:
        return np.zeros(shape[:-1] or (1,), like.dtype), "one dimension fewer", False
    if how == 12:
        return (
            np.zeros(shape, [("a", "<i4"), ("b", "<f8")]),
            "structured dtype",
            False,
        )
    extreme = int(rng.choice([2**15 - 1, -(2**15), 2**31 - 1, 2**40, -(2**40)]))
    arr = np.full(shape, extreme, np.int64)
    return arr, f"all {extreme}", False


# --------------------------------------------------------------------------------------------
# The seed corpus
# --------------------------------------------------------------------------------------------


def tiny_qann(seed: int, *, residual: bool) -> ir.Network:
    """A small quantized ANN on 1x6x6 codes 0..15: conv (+ residual block) -> pool -> fc -> fc."""
    rng = np.random.default_rng(seed)

    def weights(shape):
        w = rng.integers(-127, 128, size=shape).astype(np.int8)
        return w, rng.uniform(0.002, 0.02, size=shape[0]), rng.normal(0.0, 0.2, size=shape[0])

    def act(q):
        return ir.ActQuant(levels=q, clip=float(rng.uniform(0.5, 3.0)))

    layers: list[ir.Layer] = [ir.Input(name="input", shape=(1, 6, 6), scale=1 / 15, levels=15)]
    w, s, b = weights((3, 1, 3, 3))
    layers.append(
        ir.Conv2d(
            name="conv1", inputs=("input",), weight=w, weight_scale=s, bias=b, padding=1, act=act(4)
        )
    )
    x = "conv1"
    if residual:
        w, s, b = weights((3, 3, 3, 3))
        layers.append(
            ir.Conv2d(
                name="res", inputs=(x,), weight=w, weight_scale=s, bias=b, padding=1, act=None
            )
        )
        layers.append(ir.Add(name="add", inputs=("res", x), act=act(4)))
        x = "add"
    layers.append(ir.AvgPool2d(name="pool", inputs=(x,), kernel=2, stride=2))
    layers.append(ir.Flatten(name="flatten", inputs=("pool",)))
    w, s, b = weights((5, 27))
    layers.append(
        ir.Linear(name="fc1", inputs=("flatten",), weight=w, weight_scale=s, bias=b, act=act(3))
    )
    w, s, b = weights((3, 5))
    layers.append(ir.Linear(name="fc2", inputs=("fc1",), weight=w, weight_scale=s, bias=b))
    return ir.Network(layers=tuple(layers), kind="qann", name=f"tiny{seed}")


@dataclass
class Corpus:
    """Valid seed files every mutator starts from."""

    models: list[bytes]
    inputs: bytes
    hw_texts: dict[str, str]
    """Every shipped hardware config (name -> text)."""
    energy_texts: dict[str, str]
    """Every shipped energy table (file stem -> text)."""
    sweep_text: str
    scheme_flags: list[tuple[str, str]]
    """(flag, kind) of the integer scheme options the CLI takes."""
    onnx_models: list[bytes] = field(default_factory=list)
    """Valid quantized (QDQ) ONNX graphs reading the inputs above."""
    nir_models: list[tuple[bytes, bytes]] = field(default_factory=list)
    """Valid NIR graphs, each with an inputs file it runs on (event spikes or image codes)."""


# --------------------------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------------------------

HW_NAMES = ("pe_array_tiny", "multicore")
"""Configs the model, inputs and energy cases run on (the tiny multi-core chip's four cores
do not hold the residual seed model)."""
BAD_OUTPUTS = (
    "m.npz/out.json",
    "/proc/self/neurosim-fuzz/out.json",
    "/proc/neurosim-fuzz.json",
    "/sys/neurosim-fuzz.json",
    "folder",
    "",
)


def run_argv(
    rng: np.random.Generator,
    corpus: Corpus,
    *,
    model: str = "m.npz",
    inputs: str | None = "i.npz",
    hw_name: str | None = None,
    table: float = 0.03,
) -> tuple[list[str], list[str], str]:
    """(argv, result files, note) of a ``run`` (mostly), ``inspect`` or (with probability
    ``table``) ``table`` of the case's files."""
    hw_name = hw_name or HW_NAMES[int(rng.integers(len(HW_NAMES)))]
    scheme = schemes.names()[int(rng.integers(len(schemes.names())))]
    if rng.random() < 0.12:
        argv = ["inspect", "--model", model, "--hw", hw_name, "--scheme", scheme]
        return argv, [], "inspect"
    if rng.random() < table:
        out = "table" if rng.random() < 0.8 else BAD_OUTPUTS[int(rng.integers(len(BAD_OUTPUTS)))]
        argv = ["table", "--model", model, "--hw", hw_name, "--samples", "2", "--stream", "1"]
        argv += ["--no-progress", "--out", out] + (["--inputs", inputs] if inputs else [])
        return argv, [f"{out}/table.csv"], f"table --out {out!r}"
    argv = ["run", "--model", model, "--hw", hw_name, "--scheme", scheme, "--no-progress"]
    argv += ["--samples", "2", "--stream", str(int(rng.integers(1, 3)))]
    if inputs is not None:
        argv += ["--inputs", inputs]
    note = ""
    if rng.random() < 0.15:
        flag, _ = corpus.scheme_flags[int(rng.integers(len(corpus.scheme_flags)))]
        value = rng.choice([0, -1, 1, 2, 3, 16, 64, 200, 2**31, 10**8, 2**40])
        argv += [flag, str(int(value))]
        note = f"{flag} {int(value)}"
    if rng.random() < 0.05:
        argv += ["--batch-size", str(int(rng.choice([0, -3, 1, 10**9])))]
    out = "out.json"
    if rng.random() < 0.06:
        out = BAD_OUTPUTS[int(rng.integers(len(BAD_OUTPUTS)))]
        note += f" --json {out!r}"
    argv += ["--json", out]
    return argv, [out], note.strip()
