"""Fuzz cases of hardware configs (``.hw.toml``), energy tables and sweep specs with their
output folders."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import numpy as np
from _fuzzbase import (
    HW_NAMES,
    Case,
    Corpus,
    leaf_paths,
    mutate_toml,
    run_argv,
    set_path,
    toml_dumps,
)

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
