"""Fuzz cases of NIR graphs (``.nir``, HDF5): valid seeds built with the ``nir`` package, the
NIR project's Norse LIF fixture and a neurosim export, then damaged bytes, hostile node
parameters and shapes, edges (missing, cyclic, dangling), node types and metadata. Each case
runs ``run``/``inspect`` on matching event inputs, or ``import``."""

from __future__ import annotations

import io
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
from _fuzzbase import Case, Corpus, damage_bytes, npz_bytes, run_argv, tiny_qann

from neurosim import convert, schemes
from neurosim.frontends import export_model

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "nir" / "lif_norse.nir"
"""A one-neuron LIF graph from the NIR project (see that folder's README and LICENSE)."""
STEPS, SAMPLES = 4, 3


class Declared(tuple):
    """A dataset's shape only: written chunked with no data (the file stays small, the header
    declares it all)."""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self)


def h5_bytes(tree: dict[str, Any]) -> bytes:
    """An HDF5 file with ``version`` and the group ``node`` holding ``tree`` (a dict of dicts,
    arrays, strings and scalars), as ``nir.write`` lays it out."""
    import h5py

    def put(group: Any, node: dict[str, Any]) -> None:
        todo = [(group, node)]  # iterative: a hostile tree may nest thousands deep
        while todo:
            group, node = todo.pop()
            for k, v in node.items():
                if isinstance(v, dict):
                    todo.append((group.create_group(str(k)), v))
                elif isinstance(v, str):
                    group.create_dataset(k, data=v, dtype=h5py.string_dtype())
                elif isinstance(v, Declared):
                    group.create_dataset(k, shape=v.shape, dtype="f8", chunks=(1024,))
                elif isinstance(v, np.ndarray) and v.dtype == object:
                    group.create_dataset(k, data=v.astype("S"))
                else:
                    group.create_dataset(k, data=v)

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("version", data="1.0.8", dtype=h5py.string_dtype())
        put(f.create_group("node"), tree)
    return buf.getvalue()


def read_tree(data: bytes) -> dict[str, Any]:
    import h5py
    from nir.serialization import hdf2dict

    with h5py.File(io.BytesIO(data), "r") as f:
        return hdf2dict(f["node"])


def _conv_graph(rng: np.random.Generator) -> dict[str, Any]:
    """Input 2×6×6 → Conv2d 3×3 (pad 1) → IF → SumPool2d 2×2 → Flatten → Affine 27→4 → LIF."""
    import nir

    def w(*shape):
        return rng.integers(-8, 9, size=shape) / 8.0

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "conv": nir.Conv2d((6, 6), w(3, 2, 3, 3), 1, 1, 1, 1, w(3)),
        "if": nir.IF(r=np.full((3, 6, 6), 2.0), v_threshold=np.full((3, 6, 6), 0.5)),
        "pool": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0),
        "fc": nir.Affine(w(4, 27), w(4)),
        "lif": nir.LIF(
            tau=np.full(4, 4e-4), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.full(4, 0.75)
        ),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(nodes))).to_dict()


def _dense_graph(rng: np.random.Generator) -> dict[str, Any]:
    """Input 8 → Affine 8→5 → CubaLIF → Linear 5→3 → LIF → Output."""
    import nir

    nodes = {
        "input": nir.Input(input_type={"input": np.array([8])}),
        "fc1": nir.Affine(rng.integers(-8, 9, (5, 8)) / 8.0, rng.integers(-8, 9, 5) / 8.0),
        "cuba": nir.CubaLIF(
            tau_syn=np.full(5, 2e-4),
            tau_mem=np.full(5, 4e-4),
            r=np.ones(5),
            v_leak=np.zeros(5),
            v_threshold=np.full(5, 0.5),
            w_in=np.full(5, 4.0),
        ),
        "fc2": nir.Linear(rng.integers(-8, 9, (3, 5)) / 8.0),
        "lif": nir.LIF(
            tau=np.full(3, 2e-4), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.full(3, 0.25)
        ),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(nodes))).to_dict()


def spikes_for(shape: tuple[int, ...], seed: int) -> bytes:
    """An inputs file of 0/1 ``spikes`` [T, N, *shape] and ``labels`` [N]."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random((STEPS, SAMPLES, *shape)) < 0.3).astype(np.uint8)
    return npz_bytes({"spikes": spikes, "labels": rng.integers(0, 3, SAMPLES)})


def seed_graphs(folder: Path, images: bytes) -> list[tuple[bytes, bytes]]:
    """(NIR file, inputs file) pairs: the two graphs above and the Norse LIF with event inputs,
    and a neurosim export (its layers in metadata) of a converted tiny ANN with image codes."""
    rng = np.random.default_rng(3)
    pairs = [
        (h5_bytes(_conv_graph(rng)), spikes_for((2, 6, 6), 1)),
        (h5_bytes(_dense_graph(rng)), spikes_for((8,), 2)),
        (FIXTURE.read_bytes(), spikes_for((1,), 3)),
    ]
    snn = convert.convert(tiny_qann(0, residual=False), schemes.names()[0], num_steps=4)
    out = export_model(snn, folder / "export.nir")
    pairs.append((out.read_bytes(), images))
    return pairs


# --------------------------------------------------------------------------------------------
# Mutations of a graph's tree
# --------------------------------------------------------------------------------------------

HOSTILE_PARAMS: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -1.0,
    5e-324,
    1e-300,
    1e300,
    1.7976931348623157e308,
    2**62,
    -(2**63),
    "text",
    True,
]
SHAPES: list[Any] = [
    [2**31, 2**31],
    [2**62],
    [0],
    [-1, 6, 6],
    [],
    [1, 1, 1, 1, 1, 1],
    [2**16, 2**16, 2**16],
    [6, 6],
    [7],
]
INT_PARAMS = {"stride", "padding", "dilation", "groups", "input_shape", "kernel_size", "start_dim"}
INT_PARAMS |= {"end_dim", "shape"}
UNSUPPORTED_TYPES = ["Foo", "Delay", "Threshold", "Scale", "Integrator", "LI", "I", "Conv1d", ""]


def _param_edit(tree: dict[str, Any], rng: np.random.Generator) -> str:
    nodes = tree["nodes"]
    name = list(nodes)[int(rng.integers(len(nodes)))]
    node = nodes[name]
    keys = [k for k in node if k not in ("type", "metadata")] or ["zz"]
    key = keys[int(rng.integers(len(keys)))]
    old = np.asarray(node.get(key, 0))
    how = int(rng.integers(7))
    if how == 6:
        value = Declared((int(rng.choice([2**26, 2**40, 2**50])),))
        node[key] = value
        return f"node '{name}' ({node.get('type')}).{key}: a dataset declaring {value.shape}"
    if key in INT_PARAMS or how == 0:
        value: Any = np.asarray(SHAPES[int(rng.integers(len(SHAPES)))], np.int64)
        if rng.random() < 0.3:
            value = np.int64(rng.choice([0, -1, 2**40, 2**62, 3]))
    elif how == 1 and old.size:
        value = np.ones((*old.shape, 2)) if rng.random() < 0.5 else np.ones(old.shape[:-1] or 3)
    elif how == 2:
        value = np.zeros(0)
    elif how == 3 and old.size and old.dtype.kind == "f":
        # One entry hostile, the rest intact.
        value = old.astype(np.float64).copy()
        value.flat[int(rng.integers(value.size))] = HOSTILE_PARAMS[int(rng.integers(9))]
    else:
        v = HOSTILE_PARAMS[int(rng.integers(len(HOSTILE_PARAMS)))]
        value = v if isinstance(v, str) else np.full(old.shape, v)
    node[key] = value
    return f"node '{name}' ({node.get('type')}).{key} = {str(value)[:40]}"


def _edge_edit(tree: dict[str, Any], rng: np.random.Generator) -> str:
    edges = [list(map(_s, e)) for e in np.asarray(tree.get("edges", [])).reshape(-1, 2)]
    names = list(tree["nodes"])
    how = int(rng.integers(8))
    if how == 0 and edges:
        del edges[int(rng.integers(len(edges)))]
        what = "an edge removed"
    elif how == 1:
        i, j = sorted(rng.integers(len(names), size=2))
        edges.append([names[j], names[i]])
        what = f"edge {names[j]} -> {names[i]} (back)"
    elif how == 2:
        edges.append([names[int(rng.integers(len(names)))], "nowhere"])
        what = "edge to a node not in the graph"
    elif how == 3:
        edges = []
        what = "no edges"
    elif how == 4:
        tree["edges"] = np.arange(int(rng.choice([3, 6]))).reshape(-1, 3)
        return "edges of integers"
    elif how == 5:
        tree.pop("edges", None)
        return "edges missing"
    elif how == 6 and edges:
        edges.append(edges[int(rng.integers(len(edges)))])
        what = "an edge twice"
    else:
        edges.append([names[1], names[1]])
        what = f"self-loop on {names[1]}"
    tree["edges"] = np.array([[a.encode(), b.encode()] for a, b in edges] or np.zeros((0, 2)), "S")
    return what


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _node_edit(tree: dict[str, Any], rng: np.random.Generator) -> str:
    nodes = tree["nodes"]
    name = list(nodes)[int(rng.integers(len(nodes)))]
    how = int(rng.integers(6))
    if how == 0:
        nodes[name]["type"] = UNSUPPORTED_TYPES[int(rng.integers(len(UNSUPPORTED_TYPES)))]
        return f"node '{name}' type {nodes[name]['type']!r}"
    if how == 1:
        del nodes[name]["type"]
        return f"node '{name}' without a type"
    if how == 2:
        del nodes[name]
        return f"node '{name}' removed (its edges stay)"
    if how == 3:
        nodes[name] = {"type": "NIRGraph", "nodes": {"x": dict(nodes[name])}, "edges": np.zeros(0)}
        return f"node '{name}' wrapped in a subgraph"
    if how == 4:
        depth = int(rng.choice([50, 400, 2000]))
        inner: dict[str, Any] = {"type": "Input", "shape": np.array([1])}
        for _ in range(depth):
            inner = {"type": "NIRGraph", "nodes": {"n": inner}}
        nodes["deep"] = inner
        return f"a subgraph nested {depth} deep"
    nodes[name] = np.float64(1.0)
    return f"node '{name}' is a number"


def _meta_edit(tree: dict[str, Any], rng: np.random.Generator) -> str:
    holders = [("graph", tree)] + [(n, d) for n, d in tree["nodes"].items() if "metadata" in d]
    where, d = holders[int(rng.integers(len(holders)))]
    meta = d.setdefault("metadata", {})
    if not meta or rng.random() < 0.3:
        meta["neurosim"] = str(rng.choice(["{", "[]", '{"format": 7}', "null", "x" * 10000]))
        return f"{where}: metadata neurosim = garbage"
    key = list(meta)[int(rng.integers(len(meta)))]
    value = meta[key]
    text = value if isinstance(value, str) else str(value)
    how = int(rng.integers(4))
    if how == 0:
        meta[key] = text[: int(rng.integers(len(text) + 1))]
    elif how == 1:
        meta[key] = text.replace("4", str(rng.choice(["1e309", "-4", "99999999999999999999"])))
    elif how == 2:
        meta[key] = np.zeros(3)
    else:
        meta[key] = text.replace('"', "'", 1)
    return f"{where}: metadata {key} damaged"


def nir_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    k = int(rng.integers(len(corpus.nir_models)))
    base, inputs = corpus.nir_models[k]
    r = rng.random()
    if r < 0.15:
        data, what = damage_bytes(base, rng)
    elif r < 0.2:
        data, what = base, "valid seed"
    else:
        tree = read_tree(base)
        edits = [_param_edit, _edge_edit, _node_edit, _meta_edit]
        weights = [0.5, 0.2, 0.15, 0.15] if k == 3 else [0.6, 0.2, 0.2, 0.0]
        done = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            try:
                done.append(edits[int(rng.choice(len(edits), p=weights))](tree, rng))
            except (KeyError, TypeError, ValueError, AttributeError):
                done.append("edit skipped (an earlier edit changed the shape)")
        data, what = h5_bytes(tree), "; ".join(done)
    files = {"m.nir": data, "i.npz": inputs}
    if rng.random() < 0.2:
        argv, outputs, note = ["import", "m.nir", "-o", "out.snn.npz"], [], "import"
    else:
        argv, outputs, note = run_argv(rng, corpus, model="m.nir", table=0.0)  # see onnx_case
    return Case("nir", index, files, argv, f"seed {k}: {what} {note}".strip(), outputs)
