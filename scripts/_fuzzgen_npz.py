"""Fuzz cases of native model files (``.npz``: zip, ``.npy`` members, JSON header, zoo names)
and inputs files (``images``, ``labels``)."""

from __future__ import annotations

import copy
import io
import json
import math
import zipfile
from typing import Any

import numpy as np
from _fuzzbase import (
    FOLDER,
    Case,
    Corpus,
    damage_bytes,
    expand_nested,
    hostile_array,
    lying_npy,
    mutate_tree,
    npz_bytes,
    npz_with_member,
    read_npz,
    run_argv,
    zip_entry,
)

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
                z.writestr(zip_entry("readme.txt"), "hello")
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
