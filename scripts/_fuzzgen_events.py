"""Fuzz cases of event inputs files (``spikes`` [T, N, *shape] with ``labels``) and of the
``import`` and ``export`` commands (hostile options and output paths)."""

from __future__ import annotations

import math

import numpy as np
from _fuzzbase import (
    FOLDER,
    Case,
    Corpus,
    damage_bytes,
    hostile_array,
    lying_npy,
    npz_bytes,
    npz_with_member,
    read_npz,
)

from neurosim import schemes


def _spikes_model(rng: np.random.Generator, corpus: Corpus) -> tuple[str, bytes, bytes, str]:
    """(model file name, its bytes, valid event inputs, what): a NIR graph reading spikes
    (mostly), or a model reading image codes (spikes then do not fit)."""
    event = [k for k, (_, inputs) in enumerate(corpus.nir_models) if "spikes" in read_npz(inputs)]
    if rng.random() < 0.9:
        k = event[int(rng.integers(len(event)))]
        return "m.nir", corpus.nir_models[k][0], corpus.nir_models[k][1], f"nir seed {k}"
    k = event[int(rng.integers(len(event)))]
    return "m.npz", corpus.models[0], corpus.nir_models[k][1], "an image model"


def spikes_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    model, model_bytes, valid, what = _spikes_model(rng, corpus)
    base = read_npz(valid)
    spikes, labels = base["spikes"], base["labels"]
    r = rng.random()
    if r < 0.1:
        data, how = damage_bytes(valid, rng)
    elif r < 0.35:
        arr, how, pickle = hostile_array(rng, spikes)
        data = npz_bytes({**base, "spikes": arr}, pickle=pickle)
        how = f"spikes: {how}"
    elif r < 0.5:
        value = [2, -1, 255, 0.5, 1.0, math.nan, 2**40][int(rng.integers(7))]
        dtype = np.float64 if isinstance(value, float) else np.int64
        arr = spikes.astype(dtype)
        if rng.random() < 0.3:
            arr[...] = value
        else:
            arr.flat[int(rng.integers(arr.size))] = value
        data = npz_bytes({**base, "spikes": arr})
        how = f"a spike = {value} ({np.dtype(dtype).name})"
    elif r < 0.62:
        t = int(rng.choice([0, 1, 4096, 4097, 5000, 10**9, 2**40]))
        if t <= 5000:
            arr = np.resize(spikes, (t, *spikes.shape[1:]))
            data = npz_bytes({**base, "spikes": arr})
        else:
            data = npz_with_member(valid, "spikes", lying_npy((t, *spikes.shape[1:]), "|u1"))
        how = f"T = {t}"
    elif r < 0.68:
        n = int(rng.choice([0, 1, 2**31]))
        if n < 2:
            data = npz_bytes({"spikes": spikes[:, :n], "labels": labels[:n]})
        else:
            data = npz_with_member(valid, "spikes", lying_npy((4, n, *spikes.shape[2:]), "|u1"))
        how = f"N = {n}"
    elif r < 0.84:
        variants = [
            (labels[:1], "one label fewer"),
            (np.zeros(len(labels), np.float64), "float labels"),
            (labels.reshape(-1, 1), "2-D labels"),
            (np.full(len(labels), -1), "labels -1"),
            (np.full(len(labels), 2**62), "labels 2**62"),
            (np.full(len(labels), "a"), "string labels"),
            (np.zeros(spikes.shape[0], np.int64), "labels of length T"),
        ]
        lab, how = variants[int(rng.integers(len(variants)))]
        data = npz_bytes({"spikes": spikes, "labels": lab})
    else:
        variants = [
            (np.swapaxes(spikes, 0, 1), "[N, T, ...] (batch first)"),
            (np.concatenate([spikes, spikes], axis=-1), "last axis doubled"),
            (spikes[..., :1], "last axis 1"),
            (spikes.reshape(*spikes.shape[:2], -1), "per-sample values flattened"),
            (spikes[:, :, None], "an extra axis"),
        ]
        arr, how = variants[int(rng.integers(len(variants)))]
        extra = {"images": np.zeros((len(labels), 1, 6, 6), np.int64)} if rng.random() < 0.2 else {}
        how += "; images too" if extra else ""
        data = npz_bytes({**base, "spikes": arr, **extra})
    files = {model: model_bytes, "i.npz": data}
    hw_name = str(rng.choice(["multicore", "pe_array_tiny"]))
    argv = ["run", "--model", model, "--inputs", "i.npz", "--hw", hw_name, "--no-progress"]
    argv += ["--samples", str(int(rng.choice([1, 2, 3]))), "--json", "out.json"]
    outputs = ["out.json"]
    if rng.random() < 0.1:
        argv = ["table", "--model", model, "--inputs", "i.npz", "--hw", hw_name]
        argv += ["--samples", "2", "--no-progress", "--out", "table"]
        outputs = ["table/table.csv"]
    return Case("spikes", index, files, argv, f"{what}: {how} {argv[0]}", outputs)


HOSTILE_OUTS = (
    "out",
    "out.txt",
    "m.npz/out.npz",
    "/proc/self/neurosim-fuzz.npz",
    "/sys/neurosim-fuzz.nir",
    "/dev/null",
    "",
    ".",
    "/",
    "a" * 300 + ".npz",
    "missing/deeper/out.npz",
    "out.onnx",
    "out.nir",
    "out.npz",
    "m.onnx",
    "m.nir",
)
IMPORT_OPTIONS = {
    "--dt": [0, -1, "nan", "inf", "1e-300", "1e300", "1e-4"],
    "--weight-bits": [0, 1, 17, 2**40, -1, 16],
    "--num-steps": [0, 10**8, 4097, 2**62, 1],
    "--frac-bits": [-1, 63, 2**40, 0, 30],
    "--mem-bits": [0, 7, 61, 2**40, 60],
    "--leak-bits": [-1, 31, 2**40, 0],
    "--reset": ["zero", "value", "subtract"],
}


def import_export_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    """``neurosim import`` of a valid ONNX or NIR file, or ``neurosim export`` of a native
    model, with hostile options and output paths (an existing folder among them)."""
    files: dict[str, bytes] = {"m.npz": corpus.models[int(rng.integers(len(corpus.models)))]}
    notes = []
    if rng.random() < 0.6:
        if rng.random() < 0.5:
            src = "m.onnx"
            files[src] = corpus.onnx_models[int(rng.integers(len(corpus.onnx_models)))]
        else:
            src = "m.nir"
            files[src] = corpus.nir_models[int(rng.integers(len(corpus.nir_models)))][0]
        if rng.random() < 0.05:
            src = "m.npz"
        argv = ["import", src]
        for _ in range(int(rng.integers(0, 3))):
            flag = list(IMPORT_OPTIONS)[int(rng.integers(len(IMPORT_OPTIONS)))]
            values = IMPORT_OPTIONS[flag]
            argv += [flag, str(values[int(rng.integers(len(values)))])]
            notes.append(f"{flag} {argv[-1]}")
        default = "out.npz"
    else:
        argv = ["export", "m.npz"]
        if rng.random() < 0.9:
            argv += ["--scheme", schemes.names()[int(rng.integers(len(schemes.names())))]]
        if rng.random() < 0.3:
            argv += ["--dt", str(IMPORT_OPTIONS["--dt"][int(rng.integers(7))])]
        if rng.random() < 0.3:
            flag, _ = corpus.scheme_flags[int(rng.integers(len(corpus.scheme_flags)))]
            argv += [flag, str(int(rng.choice([0, -1, 1, 3, 64, 5000, 2**40])))]
        notes.append(" ".join(argv[2:]))
        default = "out.nir"
    out = default
    r = rng.random()
    if r < 0.5:
        out = HOSTILE_OUTS[int(rng.integers(len(HOSTILE_OUTS)))]
    elif r < 0.65:
        out = default
        files[out] = FOLDER
        notes.append("the output path is an existing folder")
    argv += ["-o", out]
    what = f"{argv[0]} {argv[1]} -o {out[:40]!r} {'; '.join(n for n in notes if n)}"
    return Case("import-export", index, files, argv, what.strip(), [])
