"""Case generators of ``scripts/fuzz.py``: a seed corpus of valid files and, per input type,
mutators that damage them the way a tester (or a bad day) would.

Imported by ``scripts/fuzz.py`` (run from ``scripts/``). Every case is a pure function of
(seed, input type, case index): the same numbers give the same files and command line.
A case is a dict of files (name -> bytes, or a folder marker) written into an empty folder,
and the ``neurosim`` arguments to run there.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

import numpy as np
from _fuzzbase import FOLDER, Case, Corpus, npz_bytes, tiny_qann
from _fuzzgen_events import import_export_case, spikes_case
from _fuzzgen_nir import nir_case, seed_graphs
from _fuzzgen_npz import inputs_case, model_case
from _fuzzgen_onnx import onnx_case, seed_models
from _fuzzgen_toml import SWEEP_SEED, energy_case, hw_case, sweep_case

from neurosim import hw, schemes
from neurosim.hw.energy_table import _shipped_files
from neurosim.io import save_model

__all__ = ["FOLDER", "FORMATS", "GENERATORS", "Case", "Corpus", "build_corpus"]


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
        onnx_models=seed_models(),
        nir_models=seed_graphs(folder, inputs),
    )


FORMATS: dict[str, str] = {
    "model": "native model files (.npz: zip, .npy members, JSON header; quantized ANNs with "
    "and without a residual block), zoo: names, other suffixes",
    "inputs": "inputs files (.npz: images, labels)",
    "hw": "every shipped hardware config (.hw.toml), both families",
    "energy": "every shipped energy table (.toml: per-op 45 nm and per-event Loihi tables)",
    "sweep": "sweep specs (.sweep.toml: axes, scheme axes, sampling, constraints) and their "
    "output folders (sweep.json, points.jsonl, output paths)",
    "onnx": "ONNX models (.onnx: two QDQ graphs, conv/pool/gemm and batch-norm/residual/"
    "matmul; damaged bytes, hostile attributes, initializers, graph structure, input "
    "shapes, opsets, nesting) for run, inspect and import",
    "nir": "NIR graphs (.nir, HDF5: conv and dense graphs built with nir, the NIR project's "
    "Norse LIF, a neurosim export; damaged bytes, hostile node parameters and shapes, edges, "
    "node types, metadata) for run, inspect and import",
    "spikes": "event inputs files (.npz: spikes [T, N, ...], labels; wrong dimensions and "
    "dtypes, values other than 0/1, T from 0 to 2**40, mismatched labels) on NIR graphs and an "
    "image model",
    "import-export": "the import and export commands (valid ONNX, NIR and native files; hostile "
    "options; output paths that are folders, unwritable, too long or of another format)",
}
"""What each input type's cases are made from (``--write-docs`` lists it)."""

GENERATORS: dict[str, Callable[[np.random.Generator, Corpus, int], Case]] = {
    "model": model_case,
    "inputs": inputs_case,
    "hw": hw_case,
    "energy": energy_case,
    "sweep": sweep_case,
    "onnx": onnx_case,
    "nir": nir_case,
    "spikes": spikes_case,
    "import-export": import_export_case,
}
"""Input type -> case generator."""
