"""A NIR file read, checked and discretised: the float network both the importer (which
quantizes it) and the float reference (which runs it in float64) start from.

Imports ``errors`` and ``frontends.nir_common``; the ``nir`` package (h5py) only inside
``read_file``. NIR is continuous-time; with time step dt (forward Euler, input held over the step,
spikes worth 1) a node becomes, per step t and neuron n:

- IF (dv/dt = R·I): v_t = v_{t−1} + R·I_t;
- LIF (τ dv/dt = v_leak − v + R·I): v_t = λ·v_{t−1} + (dt/τ)·R·I_t + (dt/τ)·v_leak, λ = 1 − dt/τ;
- CubaLIF (τ_syn dI/dt = −I + w_in·x; τ_mem dv/dt = v_leak − v + R·I): I_t = (1 − dt/τ_syn)·I_{t−1}
  + (dt/τ_syn)·w_in·x_t, then the LIF update on I_t (the current of the same step);
- Threshold: v_t = I_t (λ = 0);
- then z_t = [v_t > v_threshold] and, on a spike, v_t = v_reset (the file), 0, or v_t − v_threshold
  (``reset="subtract"``, for exporters that wrote a subtractive reset as reset to zero).

IF carries no dt: every framework that exports IF nodes (Sinabs, Norse, snnTorch) integrates
its input unscaled. A neuron is written v_t = λ·v_{t−1} + g·J_t + d with per-neuron λ, gain g and
drive d, where J_t is the input x_t or, for a CubaLIF, J_t = α·J_{t−1} + x_t (α = 1 − dt/τ_syn).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import ModelError, UnsupportedError

DEFAULT_DT = 1e-4
"""Seconds per step: the NIR paper's time step (its LIF and CNN comparisons use dt = 0.0001)."""

RESETS = ("zero", "value", "subtract")

NEURON_TYPES = ("IF", "LIF", "CubaLIF", "Threshold")
SYNAPTIC_TYPES = ("Conv1d", "Conv2d", "Affine", "Linear")
POOL_TYPES = ("SumPool2d", "AvgPool2d")
UNSUPPORTED = {
    "LI": "a leaky integrator without spikes (a non-spiking state the lif family does not hold)",
    "CubaLI": "a current-based leaky integrator without spikes",
    "I": "an integrator without spikes",
    "Delay": "a per-edge delay (neurosim layers have none)",
    "NIRGraph": "a nested graph (recurrent layers)",
    "Identity": "an identity node",
}
"""NIR node types the importer leaves out, and why."""
KNOWN = (*NEURON_TYPES, *SYNAPTIC_TYPES, *POOL_TYPES, "Input", "Output", "Flatten", "Scale")


@dataclass(frozen=True, eq=False)
class FloatNeuron:
    """One spiking node discretised: J_t = α·J_{t−1} + x_t (or J_t = x_t), v_t = λ·v_{t−1} +
    g·J_t + d, z_t = [v_t > θ], reset."""

    node: str
    kind: str
    """The NIR node type."""
    leak: np.ndarray
    """λ per neuron (float64 [N], C-order)."""
    gain: np.ndarray
    """g per neuron (> 0)."""
    drive: np.ndarray
    """d per neuron and step."""
    threshold: np.ndarray
    reset: str
    """``zero``, ``value`` or ``subtract``."""
    v_reset: np.ndarray
    syn_leak: np.ndarray | None = None
    """α per neuron of a CubaLIF's synaptic current, or None (the input drives v directly)."""


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """One neurosim layer of the float network: a synaptic node (with the neuron after it), a
    pooling node, a flatten or the input. ``op`` is the ``ir`` op it becomes."""

    name: str
    op: str
    nodes: tuple[str, ...]
    input: str | None
    shape: tuple[int, ...]
    weight: np.ndarray | None = None
    """float64 conv [Co, Ci/groups, Kh, Kw] or linear [out, in]."""
    bias: np.ndarray | None = None
    """float64 [Co] (per output channel)."""
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    kernel: int = 0
    """Pooling window side."""
    pool_scale: float = 1.0
    """1 for a sum pool, 1/k² for an average pool."""
    neuron: FloatNeuron | None = None


@dataclass(frozen=True, eq=False)
class FloatGraph:
    """A checked, discretised NIR graph: layers in order, the last one the output."""

    name: str
    layers: tuple[FloatLayer, ...]
    dt: float
    reset: str | None
    """The reset override, or None (each node's own)."""
    native: dict[str, Any] | None = field(default=None)
    """neurosim's own description when the file is a neurosim export (graph metadata)."""

    @property
    def input(self) -> FloatLayer:
        return self.layers[0]


MAX_GROUP_DEPTH = 32
"""Deepest nesting of HDF5 groups read from a NIR file (a graph's nodes sit at depth 2, their
metadata at 3; subgraphs add two levels each)."""
MAX_DATASET_BYTES = 2**28
"""Largest dataset read from a NIR file (256 MiB): the header of a damaged or hostile file may
declare far more than it holds."""


READ_TIMEOUT_S = 20.0
"""Longest a NIR file's read may take. The HDF5 library can loop for ever inside one read of a
damaged file (a zeroed global heap under a variable-length string), where no Python signal
reaches it; the read therefore runs in a forked child that is killed after this long."""


def read_raw(path: str | Path) -> dict[str, Any]:
    """The file's graph as a plain dict (as ``nir.serialization.hdf2dict`` reads it, without
    its recursion); ModelError if it is not a readable NIR file, nests groups deeper than
    ``MAX_GROUP_DEPTH``, declares a dataset beyond ``MAX_DATASET_BYTES`` or takes the HDF5
    library longer than ``READ_TIMEOUT_S`` to read; UnsupportedError naming the extra if
    ``nir`` is missing.

    Where ``os.fork`` exists the read runs in a child process that sends the dict back by pipe
    (a legitimate graph reads in well under a second)."""
    if not hasattr(os, "fork"):
        return _read_file(path)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its outcome is checked in the parent
        os.close(read_fd)
        try:
            payload = (True, _read_file(path))
        except (ModelError, UnsupportedError) as exc:
            payload = (False, (type(exc).__name__, str(exc)))
        except BaseException as exc:  # any failure of the library: the file's fault
            payload = (False, ("ModelError", f"{path}: not a readable NIR file ({exc})"))
        try:
            with os.fdopen(write_fd, "wb") as out:
                pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        data = _collect(read_fd, pid, path)
    finally:
        os.close(read_fd)
    ok, value = pickle.loads(data) if data else (False, ("ModelError", ""))
    if ok:
        return value
    kind, message = value
    if not message:
        raise ModelError(f"{path}: not a readable NIR file (its reader stopped without a result)")
    raise (UnsupportedError if kind == "UnsupportedError" else ModelError)(message)


def _collect(fd: int, pid: int, path: str | Path) -> bytes:
    """Everything the reading child writes to ``fd``, or ModelError once ``READ_TIMEOUT_S``
    has passed; a child that has not finished (a timeout, Ctrl-C) is killed, and every child
    is reaped."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    finished = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ModelError(
                    f"{path}: the HDF5 library did not finish reading it within "
                    f"{READ_TIMEOUT_S:g} s (a damaged file)"
                )
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                finished = True
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _read_file(path: str | Path) -> dict[str, Any]:
    """``read_raw`` in this process."""
    try:
        import h5py
        import nir.serialization  # noqa: F401  (the extra that brings h5py)
    except ImportError:
        raise UnsupportedError(
            'reading NIR files needs the nir package: pip install "neurosim-snn[nir]"'
        ) from None
    try:
        with h5py.File(path, "r") as f:
            root = f.get("node")
            if not isinstance(root, h5py.Group):
                raise ModelError(f"{path}: not a NIR file (no group 'node')")
            return _read_group(h5py, root, path)
    except ModelError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        # h5py's errors on damaged files (a bad signature, a truncated B-tree, invalid UTF-8).
        raise ModelError(f"{path}: not a readable NIR file ({exc})") from None


def _read_group(h5py: Any, root: Any, path: str | Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = [(root, out, 1)]
    while todo:
        group, into, depth = todo.pop()
        if depth > MAX_GROUP_DEPTH:
            raise ModelError(f"{path}: groups nested deeper than {MAX_GROUP_DEPTH} ({group.name})")
        for key, item in group.items():
            key = _str(key)
            if isinstance(item, h5py.Group):
                into[key] = {}
                todo.append((item, into[key], depth + 1))
            elif isinstance(item, h5py.Dataset):
                size = item.size if item.shape is not None else 0
                if size * item.dtype.itemsize > MAX_DATASET_BYTES:
                    raise ModelError(
                        f"{path}: dataset {item.name} declares shape {item.shape} "
                        f"({item.dtype}); at most {MAX_DATASET_BYTES} bytes are read"
                    )
                value = item[()]
                into[key] = value.decode("utf8") if isinstance(value, bytes) else value
    return out


def node_error(node: str, kind: str, msg: str) -> ModelError:
    return ModelError(f"node '{node}' ({kind}): {msg}")


def param_array(
    node: str, kind: str, d: dict[str, Any], key: str, default: Any = None
) -> np.ndarray:
    if key not in d:
        if default is None:
            raise node_error(node, kind, f"missing parameter '{key}'")
        return np.asarray(default, np.float64)
    try:
        arr = np.asarray(d[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise node_error(node, kind, f"parameter '{key}' is not numeric") from None
    if not np.all(np.isfinite(arr)):
        raise node_error(node, kind, f"parameter '{key}' has NaN or infinite values")
    return arr


def _whole(node: str, kind: str, value: Any, what: str) -> np.ndarray:
    """``value`` as a 1-D array of whole numbers within ±2^62; ModelError naming the node."""
    arr = np.atleast_1d(np.asarray(value)).reshape(-1)
    ok = arr.dtype.kind in "biuf"
    if ok and arr.dtype.kind == "f":
        ok = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    if not ok or (arr.size and float(np.max(np.abs(arr.astype(np.float64)))) > 2.0**62):
        raise node_error(
            node, kind, f"{what} must be whole numbers within ±2^62, got {arr.tolist()[:4]}"
        )
    return arr.astype(np.int64)


def one_int(node: str, kind: str, value: Any, what: str) -> int:
    """One int from a NIR int, [a] or [a, a]; ModelError unless whole numbers, UnsupportedError
    for unequal axes."""
    arr = _whole(node, kind, value, what)
    if arr.size == 0:
        raise node_error(node, kind, f"{what} is empty")
    if not np.all(arr == arr[0]):
        raise UnsupportedError(
            f"node '{node}' ({kind}): {what} {arr.tolist()} differs between axes; neurosim's "
            f"layers take one {what} for both"
        )
    return int(arr[0])


def chain(raw: dict[str, Any]) -> tuple[dict[str, dict], list[str]]:
    """The nodes and their names from the Input to the Output (a feed-forward chain)."""
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        raise ModelError("the graph has no nodes")
    for name, d in nodes.items():
        kind = d.get("type") if isinstance(d, dict) else None
        kind = kind if isinstance(kind, str) else None
        if kind in UNSUPPORTED:
            raise UnsupportedError(f"node '{name}' ({kind}): not supported: {UNSUPPORTED[kind]}")
        if kind not in KNOWN:
            raise ModelError(
                f"node '{name}': unknown NIR node type {kind!r}; supported: {', '.join(KNOWN)}"
            )
    edges = _edges(raw.get("edges", []))
    src: dict[str, list[str]] = {n: [] for n in nodes}
    dst: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ModelError(f"edge ('{a}', '{b}'): node '{end}' is not in the graph")
        src[b].append(a)
        dst[a].append(b)
    _no_cycle(nodes, dst)
    inputs = [n for n, d in nodes.items() if d["type"] == "Input"]
    outputs = [n for n, d in nodes.items() if d["type"] == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(
            f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; neurosim "
            f"imports graphs with one of each"
        )
    order, node = [], inputs[0]
    while True:
        order.append(node)
        kind = nodes[node]["type"]
        if len(src[node]) > 1:
            raise UnsupportedError(
                f"node '{node}' ({kind}): {len(src[node])} incoming edges "
                f"({', '.join(src[node])}); merging branches is not supported"
            )
        if kind == "Output":
            break
        if len(dst[node]) != 1:
            what = "no outgoing edge" if not dst[node] else f"{len(dst[node])} outgoing edges"
            raise UnsupportedError(
                f"node '{node}' ({kind}): {what}; neurosim imports a chain from the Input to "
                f"the Output"
            )
        node = dst[node][0]
    stray = [n for n in nodes if n not in order]
    if stray:
        raise UnsupportedError(f"node '{stray[0]}': not on the path from Input to Output")
    return nodes, order


def _edges(value: Any) -> list[tuple[str, str]]:
    """The graph's edges as (source, target) names; ModelError unless [E, 2] node names."""
    arr = np.asarray(value)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "SUO":
        raise ModelError(
            f"edges must be [E, 2] node names (pairs of strings), got shape {arr.shape} of "
            f"{arr.dtype}"
        )
    return [(_str(a), _str(b)) for a, b in arr]


def _no_cycle(nodes: dict[str, dict], dst: dict[str, list[str]]) -> None:
    """ModelError naming the node a recurrent edge returns to (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in nodes:
        if root in state:
            continue
        stack = [(root, iter(dst[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                raise ModelError(
                    f"node '{nxt}' ({nodes[nxt]['type']}): recurrent edge from '{node}'; "
                    f"neurosim imports feed-forward graphs"
                )
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(dst[nxt])))


def _str(value: Any) -> str:
    return value.decode("utf8", "replace") if isinstance(value, bytes) else str(value)


def shape_of(d: dict[str, Any], key: str, node: str = "") -> tuple[int, ...] | None:
    """A node's shape parameter as ints (None when absent); ModelError naming ``node``
    unless whole numbers within ±2^62."""
    if key not in d or d[key] is None:
        return None
    return tuple(int(v) for v in _whole(node, str(d.get("type")), d[key], key))
