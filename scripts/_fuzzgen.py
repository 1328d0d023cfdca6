"""Case generators of ``scripts/fuzz.py``: a seed corpus of valid files and, per input type,
mutators that damage them the way a tester (or a bad day) would.

Imported by ``scripts/fuzz.py`` (run from ``scripts/``). Every case is a pure function of
(seed, input type, case index): the same numbers give the same files and command line.
A case is a dict of files (name -> bytes, or a folder marker) written into an empty folder,
and the ``neurosim`` arguments to run there.
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

from neurosim import hw, ir, schemes
from neurosim.hw.energy_table import _shipped_files
from neurosim.io import save_model

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


def npz_bytes(arrays: dict[str, Any], *, compress: bool = False, pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=pickle)
            z.writestr(name + ".npy", member.getvalue())
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
                z.writestr(info.filename, src.read(info.filename))
        z.writestr(name + ".npy", member)
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


def build_corpus(folder) -> Corpus:
    models = []
    for i, residual in enumerate((False, True)):
        for compress in (False, True):
            path = folder / f"seed{i}{int(compress)}.npz"
            save_model(tiny_qann(i, residual=residual), path, compress=compress)
            models.append(path.read_bytes())
    rng = np.random.default_rng(0)
    images = rng.integers(0, 16, size=(4, 1, 6, 6)).astype(np.int64)
    labels = rng.integers(0, 3, size=4)
    inputs = npz_bytes({"images": images, "labels": labels})
    from importlib.resources import files

    hw_texts = {
        name: files("neurosim.hwconfigs").joinpath(f"{name}.hw.toml").read_text()
        for name in hw.list_configs()
    }
    energy_texts = {stem: entry.read_text() for stem, entry in sorted(_shipped_files().items())}
    flags = []
    for record in schemes.records():
        for f in record.options.declared():
            if f.metadata.get("cli", True) and isinstance(f.default, int):
                if not isinstance(f.default, bool):
                    flags.append(("--" + f.name.replace("_", "-"), "int"))
    return Corpus(
        models=models,
        inputs=inputs,
        hw_texts=hw_texts,
        energy_texts=energy_texts,
        sweep_text=SWEEP_SEED,
        scheme_flags=sorted(set(flags)),
    )


SWEEP_SEED = """\
[meta]
schema_version = 1
name = "fuzz"
description = "seed of the sweep-spec fuzz cases"

[base]
hw = "pe_array_tiny"
model = "m.npz"
inputs = "i.npz"
samples = 2
stream = 1
scheme = "if"
options = { num_steps = 2 }

[axes]
pe.M = [1, 2]
dram.bandwidth_gbps = [0.1, 0.2]

[scheme_axes]
num_steps = [2, 3]

[sampling]
mode = "grid"
constraints = ["pe.M * num_steps <= 4"]
"""


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
) -> tuple[list[str], list[str], str]:
    """(argv, result files, note) of a ``run`` (mostly) or ``inspect`` of the case's files."""
    hw_name = hw_name or HW_NAMES[int(rng.integers(len(HW_NAMES)))]
    scheme = schemes.names()[int(rng.integers(len(schemes.names())))]
    if rng.random() < 0.12:
        argv = ["inspect", "--model", model, "--hw", hw_name, "--scheme", scheme]
        return argv, [], "inspect"
    if rng.random() < 0.03:
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


# --------------------------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------------------------


def _model_targeted(doc: Any, rng: np.random.Generator) -> str:
    """A value that loads but may break later: scales, clips, levels, geometry, shapes."""
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list) or not layers:
        return "no layers to target"
    lay = layers[int(rng.integers(len(layers)))]
    if not isinstance(lay, dict):
        return "layer is not an object"
    options = {
        "scale": [0, 0.0, math.nan, math.inf, -1.0, 5e-324, 1e308, 10**400],
        "levels": [0, -1, 2**31, 2**40, 2**62, 2**63, 10**400],
        "stride": [0, -1, 2**40, math.inf, 1.5],
        "padding": [-1, 2**20, 2**40, 2**62],
        "kernel": [0, 2**40, 7],
        "groups": [0, 2**40, 3],
        "dilation": [0, 2**20, 2**40],
        "shift": [-1, 64, 2**40],
        "shape": [[1, 6, 6, 6], [0, 6, 6], [2**20, 2**20, 2**20], [10**12], [], [1, -6, 6]],
        "op": [["conv2d"], {"op": "x"}, "linear", "add", "input", 7],
        "inputs": [[], ["missing"], [7], "input", [lay.get("name", "x")]],
        "name": ["", 7, ["x"], "conv1"],
    }
    if "act" in lay and isinstance(lay["act"], dict):
        options["act.clip"] = [math.inf, 0.0, math.nan, -1.0, 1e-300, 1e300, "1.0"]
        options["act.levels"] = [0, 2**16, 2**31, 2**40, 1.5, "4"]
        options["act.leak"] = [math.nan, 0.5, "x", [1], 1e300]
        options["act.tgim"] = [{"array": "input/scale"}, [[1]], 7]
    for key in ("weight", "bias", "weight_scale"):
        if key in lay:
            options[key] = [{"array": "nope"}, 7, "w", [1, 2], {"array": ["x"]}, {"a": 1}, {}]
    key = list(options)[int(rng.integers(len(options)))]
    values = options[key]
    value = copy.deepcopy(values[int(rng.integers(len(values)))])
    if "." in key:
        outer, inner = key.split(".")
        lay[outer][inner] = value
    else:
        lay[key] = value
    return f"{lay.get('name')}.{key} = {str(value)[:40]}"


def model_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    base = corpus.models[int(rng.integers(len(corpus.models)))]
    files = {"i.npz": corpus.inputs}
    model = "m.npz"
    r = rng.random()
    if r < 0.15:
        data, what = damage_bytes(base, rng)
    elif r < 0.55:
        arrays = read_npz(base)
        header = json.loads(bytes(arrays["__header__"]).decode())
        what = mutate_tree(header, rng, _model_targeted)
        text = expand_nested(json.dumps(header))
        arrays["__header__"] = np.frombuffer(text.encode(), np.uint8)
        data = npz_bytes(arrays, compress=rng.random() < 0.3)
    elif r < 0.75:
        arrays = read_npz(base)
        keys = [k for k in arrays if k != "__header__"]
        key = keys[int(rng.integers(len(keys)))]
        if rng.random() < 0.35:
            # Weights as int16/int64 at their extremes, scales and biases out of range.
            if key.endswith("weight"):
                dtype = np.int16 if rng.random() < 0.5 else np.int64
                extreme = np.iinfo(dtype).max if rng.random() < 0.5 else 2**40
                arrays[key] = np.full(arrays[key].shape, min(extreme, np.iinfo(dtype).max), dtype)
                what = f"{key} all {arrays[key].flat[0]} ({np.dtype(dtype).name})"
            else:
                value = float(rng.choice([1e300, 1e-300, 1e18, -1e18, 0.0, np.inf, np.nan]))
                arrays[key] = np.full(arrays[key].shape, value)
                what = f"{key} all {value}"
            pickle = False
        else:
            arrays[key], what, pickle = hostile_array(rng, arrays[key])
            what = f"{key}: {what}"
        data = npz_bytes(arrays, pickle=pickle)
    elif r < 0.82:
        arrays = read_npz(base)
        keys = list(arrays)
        key = keys[int(rng.integers(len(keys)))]
        shape = tuple(
            int(x) for x in rng.choice([10**6, 10**9, 2**40], size=int(rng.integers(1, 4)))
        )
        data = npz_with_member(npz_bytes(arrays), key, lying_npy(shape))
        what = f"{key}.npy header declares {shape}"
    elif r < 0.87:
        arrays = read_npz(base)
        if rng.random() < 0.5:
            depth = int(rng.integers(900, 200_000))
            text = "[" * depth + "]" * depth
            what = f"header nested {depth} deep"
        else:
            text = '{"format": "neurosim-model", "version": 1, "layers": ['
            what = "header with invalid UTF-8"
        raw = text.encode() + (b"\xff\xfe" if what.endswith("UTF-8") else b"")
        arrays["__header__"] = np.frombuffer(raw, np.uint8)
        data = npz_bytes(arrays)
    elif r < 0.94:
        arrays = read_npz(base)
        how = int(rng.integers(6))
        if how == 0:
            buf = io.BytesIO()
            np.save(buf, arrays["conv1/weight"])
            data, what = buf.getvalue(), ".npy given as the model"
        elif how == 1:
            data, what = b"# not a model\n", "a text file"
        elif how == 2:
            data, what = FOLDER, "a folder"
        elif how == 3:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("readme.txt", "hello")
            data, what = buf.getvalue(), "a zip without .npy members"
        elif how == 4:
            data = npz_bytes({"__header__": arrays["__header__"]})
            what = "header without arrays"
        else:
            data, what = base, "a model path with another suffix"
            model = "m" + str(rng.choice([".onnx", ".nir", ".pt", ".h5", ".NPZ", ""]))
    else:
        data = None
        name = str(
            rng.choice(
                [
                    "zoo:../../evil/vgg16",
                    "zoo:vgg16:../../../elsewhere/x",
                    "zoo:",
                    "zoo::",
                    "zoo:resnet20:mnist",
                    "zoo:/etc/passwd",
                    "zoo:vgg16\x00",
                    "zoo:" + "a" * 5000,
                    "zoo:resnet20:cifar10:extra",
                ]
            )
        )
        model, what = name, f"model {name[:40]!r}"
    if data is not None:
        files[model] = data
    argv, outputs, note = run_argv(rng, corpus, model=model)
    return Case("model", index, files, argv, f"{what} {note}".strip(), outputs)


# --------------------------------------------------------------------------------------------
# Inputs files
# --------------------------------------------------------------------------------------------


def inputs_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    files = {"m.npz": corpus.models[int(rng.integers(len(corpus.models)))]}
    base = read_npz(corpus.inputs)
    r = rng.random()
    if r < 0.15:
        data, what = damage_bytes(corpus.inputs, rng)
    elif r < 0.45:
        key = "images" if rng.random() < 0.7 else "labels"
        arr, what, pickle = hostile_array(rng, base[key])
        data = npz_bytes({**base, key: arr}, pickle=pickle)
        what = f"{key}: {what}"
    elif r < 0.65:
        images = base["images"].copy()
        how = int(rng.integers(6))
        value = [16, 255, -1, 2**31, 2**40, 2**62][how]
        images.flat[int(rng.integers(images.size))] = value
        dtype = images.dtype if rng.random() < 0.7 else np.float64
        data = npz_bytes({**base, "images": images.astype(dtype)})
        what = f"one image code = {value} ({np.dtype(dtype).name})"
    elif r < 0.72:
        key = "images" if rng.random() < 0.7 else "labels"
        shape = tuple(
            int(x) for x in rng.choice([10**6, 10**9, 2**40], size=int(rng.integers(1, 5)))
        )
        data = npz_with_member(corpus.inputs, key, lying_npy(shape))
        what = f"{key}.npy header declares {shape}"
    elif r < 0.85:
        how = int(rng.integers(7))
        if how == 0:
            data, what = npz_bytes({"labels": base["labels"]}), "no images"
        elif how == 1:
            data, what = npz_bytes({}), "no arrays"
        elif how == 2:
            buf = io.BytesIO()
            np.save(buf, base["images"])
            data, what = buf.getvalue(), ".npy given as inputs"
        elif how == 3:
            data, what = FOLDER, "a folder"
        elif how == 4:
            data = npz_bytes({**base, "labels": base["labels"][:2]})
            what = "labels shorter than images"
        elif how == 5:
            data = npz_bytes({"images": base["images"][:0], "labels": base["labels"][:0]})
            what = "zero samples"
        else:
            data = npz_bytes({**base, "extra": np.zeros(3)})
            what = "an extra member"
    else:
        images = base["images"]
        how = int(rng.integers(5))
        if how == 0:
            arr, what = images[0], "one image without the batch axis"
        elif how == 1:
            arr, what = images.reshape(4, -1), "flattened images"
        elif how == 2:
            arr, what = np.repeat(images, 2, axis=1), "two channels"
        elif how == 3:
            arr, what = images.astype(np.uint8), "uint8 codes"
        else:
            arr, what = images.astype(bool), "bool codes"
        data = npz_bytes({**base, "images": arr})
    files["i.npz"] = data
    argv, outputs, note = run_argv(rng, corpus)
    if argv[0] == "inspect":
        argv, outputs, note = (
            ["run", "--model", "m.npz", "--inputs", "i.npz", "--no-progress"],
            [],
            "",
        )
        argv += ["--samples", "2", "--stream", "1", "--hw", "pe_array_tiny", "--scheme", "if"]
    return Case("inputs", index, files, argv, f"{what} {note}".strip(), outputs)


# --------------------------------------------------------------------------------------------
# Hardware configs and energy tables
# --------------------------------------------------------------------------------------------

_INT_EXTREMES = (0, -1, 2**31, 2**40, 2**62, 2**63 - 1, 10**4, 1e308, 1.5, 2**62 - 1)
_FLOAT_EXTREMES = (0.0, 5e-324, 1e-300, 1e-12, 1e12, 1e300, 1e308, math.inf, math.nan, -1.0)


def _leaf_targeted(doc: Any, rng: np.random.Generator) -> str:
    """An extreme value for a numeric leaf (an int field gets huge ints and floats)."""
    paths = [p for p in leaf_paths(doc) if isinstance(_get(doc, p), int | float)]
    paths = [p for p in paths if not isinstance(_get(doc, p), bool)]
    if not paths:
        return "no numeric field"
    path = paths[int(rng.integers(len(paths)))]
    pool = _INT_EXTREMES if isinstance(_get(doc, path), int) else _FLOAT_EXTREMES
    value = pool[int(rng.integers(len(pool)))]
    set_path(doc, path, value)
    return f"{'.'.join(map(str, path))} = {value}"


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _hw_targeted(doc: Any, rng: np.random.Generator) -> str:
    # Beyond the declared ranges, and at their edges (which must run with finite results).
    specific = [
        (("dram", "bandwidth_gbps"), [1e-300, 1e-12, 1e-6, 2e-6, 1e6, 1e12, 1e300, 1e308]),
        (("dram", "latency_cycles"), [2**62, 2**61, 2**40, 2**63 - 1, 2**32, 2**32 - 1]),
        (("noc", "hop_latency_cycles"), [2**62, 2**61, 2**40, 2**63 - 1, 2**32]),
        (("sync", "barrier_cycles"), [2**62, 2**61, 2**40, 2**63 - 1, 2**32]),
        (("mesh", "width"), [10**4, 2**20, 2**31, 256, 255]),
        (("mesh", "height"), [10**4, 2**20, 2**31, 256, 1]),
        (("clock", "frequency_mhz"), [1e-300, 1e-9, 1e-3, 1e6, 1e12, 1e300]),
        (("core", "neurons_per_core"), [1, 2**24, 2**40]),
        (("core", "synops_per_cycle"), [2**30, 2**31, 1]),
        (("core", "neuron_updates_per_cycle"), [2**30, 2**62]),
        (("noc", "link_bits_per_cycle"), [2**30, 1]),
        (("neuron_unit", "updates_per_cycle"), [2**62, 2**40, 2**30]),
        (("pe", "unroll_out_channels"), [2**16, 2**20, 2**40, 1e308]),
        (("pe", "unroll_in_channels"), [2**16, 1]),
        (("pe", "events_per_cycle"), [2**30, 1]),
        (("buffers", "weight_bytes"), [2**40, 2**41]),
        (("buffers", "load_queue_tiles"), [2**16, 1]),
    ]
    if rng.random() < 0.5:
        return _leaf_targeted(doc, rng)
    present = [(p, v) for p, v in specific if isinstance(doc.get(p[0]), dict) and p[1] in doc[p[0]]]
    if not present:
        return _leaf_targeted(doc, rng)
    path, values = present[int(rng.integers(len(present)))]
    value = values[int(rng.integers(len(values)))]
    set_path(doc, path, value)
    if rng.random() < 0.3 and path[0] == "mesh":
        other = "height" if path[1] == "width" else "width"
        set_path(doc, ("mesh", other), value)
    return f"{'.'.join(path)} = {value}"


def hw_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    name = list(corpus.hw_texts)[int(rng.integers(len(corpus.hw_texts)))]
    data, what = mutate_toml(corpus.hw_texts[name], rng, _hw_targeted)
    files = {"m.npz": corpus.models[int(rng.integers(len(corpus.models)))], "i.npz": corpus.inputs}
    files["h.hw.toml"] = data
    argv, outputs, note = run_argv(rng, corpus, hw_name="h.hw.toml")
    return Case("hw", index, files, argv, f"{name}: {what} {note}".strip(), outputs)


def _energy_targeted(doc: Any, rng: np.random.Generator) -> str:
    entries = [
        (section, i)
        for section in ("op", "memory", "core_op", "barrier")
        for i in range(len(doc.get(section, [])))
    ]
    if rng.random() < 0.3 or not entries:
        return _leaf_targeted(doc, rng)
    section, i = entries[int(rng.integers(len(entries)))]
    entry = doc[section][i]
    keys = ["energy_pj", "bits", "access_bits", "max_bytes", "latency_ns", "tiles"]
    key = keys[int(rng.integers(len(keys)))]
    values = [1.8e308, 1e308, 1e300, 1e30, 2**62, 2**40, 0, -1e-300, 1e-320, 1e6, 65536]
    value = values[int(rng.integers(len(values)))]
    entry[key] = value
    return f"{section}[{i}].{key} = {value}"


def energy_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    stem = list(corpus.energy_texts)[int(rng.integers(len(corpus.energy_texts)))]
    data, what = mutate_toml(corpus.energy_texts[stem], rng, _energy_targeted)
    what = f"{stem}: {what}"
    per_event = "core_op" in tomllib.loads(corpus.energy_texts[stem])
    name = "multicore" if per_event else HW_NAMES[int(rng.integers(len(HW_NAMES)))]
    doc = tomllib.loads(corpus.hw_texts[name])
    doc["energy_table"] = "./e.toml"
    if per_event and rng.random() < 0.5:
        doc["core"]["op_latencies"] = "table"
        what += "; core.op_latencies = table"
    files = {
        "m.npz": corpus.models[int(rng.integers(len(corpus.models)))],
        "i.npz": corpus.inputs,
        "e.toml": data,
        "h.hw.toml": toml_dumps(doc).encode(),
    }
    argv, outputs, note = run_argv(rng, corpus, hw_name="h.hw.toml")
    return Case("energy", index, files, argv, f"{what} {note}".strip(), outputs)


# --------------------------------------------------------------------------------------------
# Sweep specs and their output folder
# --------------------------------------------------------------------------------------------

HOSTILE_CONSTRAINTS = (
    "1+" * 3000 + "1",
    "-" * 100000 + "1",
    "'a' * 10**10",
    "'a' * 10**5 * 10**5",
    "((9**64)**64)**64",
    "9**9**9",
    "2**64 ** 64",
    "(2**63) * (2**63) * (2**63) * (2**63) > 0",
    "(" * 300 + "1" + ")" * 300,
    "(" * 5000 + "1" + ")" * 5000,
    "not " * 5000 + "1",
    "1 < " * 5000 + "2",
    "max(" * 400 + "1" + ")" * 400,
    "9" * 5000 + " > 1",
    "1e308 * 1e308 > 0",
    "log2(0) > 1",
    "log2(-1) > 1",
    "1 / 0 > 1",
    "1 % 0 > 1",
    "abs('a') > 1",
    "min() > 1",
    "max(1) > 1",
    "pe.M.__class__ > 1",
    "__import__('os')",
    "scheme * 10**9 == 'x'",
    "'a' < 1",
    "pe.M ** -1000 > 0",
    "num_steps ** num_steps ** num_steps ** num_steps > 0",
    "(pe.M * 10**300) ** 64 > 0",
    "10**300 * 10**300 * 10**300 > 0",
    "min(" + ", ".join(["1"] * 50000) + ") > 0",
)


def _sweep_targeted(doc: Any, rng: np.random.Generator) -> str:
    how = int(rng.integers(9))
    sampling = doc.setdefault("sampling", {}) if isinstance(doc, dict) else {}
    base = doc.setdefault("base", {}) if isinstance(doc, dict) else {}
    if not isinstance(sampling, dict) or not isinstance(base, dict):
        return "sections are not tables"
    if how <= 2:
        text = HOSTILE_CONSTRAINTS[int(rng.integers(len(HOSTILE_CONSTRAINTS)))]
        sampling["constraints"] = [text]
        return f"constraint {text[:40]!r}"
    if how == 3:
        sampling["mode"] = str(rng.choice(["lhs", "random"]))
        sampling["points"] = int(rng.choice([2**40, 10**9, 10**7, 2**62]))
        return f"{sampling['mode']} with points = {sampling['points']}"
    if how == 4:
        key = str(rng.choice(["samples", "stream", "batch_size"]))
        base[key] = int(rng.choice([10**9, 2**40, 2**62, 0]))
        return f"base.{key} = {base[key]}"
    if how == 5:
        opts = base.setdefault("options", {})
        if isinstance(opts, dict):
            opts["num_steps"] = int(rng.choice([10**8, 2**31, 5000]))
            return f"options.num_steps = {opts['num_steps']}"
        return "options is not a table"
    if how == 6:
        key = str(rng.choice(["model", "inputs", "hw"]))
        base[key] = str(
            rng.choice(["/dev/zero", "/proc/self/mem", "..", "/", "i.npz", "m.npz", "missing.npz"])
        )
        return f"base.{key} = {base[key]!r}"
    if how == 7:
        axes = doc.setdefault("axes", {})
        if isinstance(axes, dict):
            # Long value lists: repeated (an error) or distinct (a few hundred points).
            n = int(rng.choice([200, 10**5]))
            values = list(range(n)) if n < 1000 else [1] * n
            axes.clear()
            axes["dram"] = {"latency_cycles": values}
            return f"axis with {n} values"
        return "axes is not a table"
    axes = doc.setdefault("axes", {})
    if isinstance(axes, dict):
        axes["energy_table"] = ["./e.toml", "horowitz_45nm"]
        return "energy table axis by path"
    return "axes is not a table"


BAD_MANIFESTS = (
    b"[]",
    b'"text"',
    b"{",
    b"{}",
    b"\xff\xfe\x00",
    b'{"identity": 5}',
    b'{"identity": "x", "spec": []}',
    b'{"identity": "x", "spec": {"meta": 7}}',
    b"null",
    b"1e999",
)
BAD_JOURNALS = (
    b"\xff\xfe\xfd\n",
    b'{"key": "x"\n',
    b"[1, 2]\n{}\n",
    b'{"key": 7}\n',
    b'{"key": {"a": 1}}\n',
    b"\x00" * 100,
    b'{"key": "k", "point": "zz"}\n',
)


def sweep_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    data, what = mutate_toml(corpus.sweep_text, rng, _sweep_targeted)
    files = {
        "s.sweep.toml": data,
        "m.npz": corpus.models[int(rng.integers(len(corpus.models)))],
        "i.npz": corpus.inputs,
        "e.toml": corpus.energy_texts["45nm"].encode(),
    }
    out = "out"
    r = rng.random()
    if r < 0.12:
        files["out/sweep.json"] = BAD_MANIFESTS[int(rng.integers(len(BAD_MANIFESTS)))]
        what += "; bad sweep.json"
    elif r < 0.2:
        files["out/points.jsonl"] = BAD_JOURNALS[int(rng.integers(len(BAD_JOURNALS)))]
        what += "; bad journal"
    elif r < 0.27:
        out = str(
            rng.choice(
                [
                    "m.npz",
                    "m.npz/out",
                    "/proc/self/neurosim-fuzz",
                    "/proc/neurosim-fuzz",
                    "/sys/neurosim-fuzz",
                    "/dev/null",
                ]
            )
        )
        what += f"; --out {out}"
    argv = ["sweep", "s.sweep.toml", "--out", out, "--no-progress", "--workers", "1"]
    if rng.random() < 0.03:
        argv[-1] = str(int(rng.choice([0, -1])))
    return Case("sweep", index, files, argv, what, [f"{out}/results.csv"])


FORMATS: dict[str, str] = {
    "model": "native model files (.npz: zip, .npy members, JSON header; quantized ANNs with "
    "and without a residual block), zoo: names, other suffixes",
    "inputs": "inputs files (.npz: images, labels)",
    "hw": "every shipped hardware config (.hw.toml), both families",
    "energy": "every shipped energy table (.toml: per-op 45 nm and per-event Loihi tables)",
    "sweep": "sweep specs (.sweep.toml: axes, scheme axes, sampling, constraints) and their "
    "output folders (sweep.json, points.jsonl, output paths)",
}
"""What each input type's cases are made from (``--write-docs`` lists it)."""

GENERATORS: dict[str, Callable[[np.random.Generator, Corpus, int], Case]] = {
    "model": model_case,
    "inputs": inputs_case,
    "hw": hw_case,
    "energy": energy_case,
    "sweep": sweep_case,
}
"""Input type -> case generator."""
