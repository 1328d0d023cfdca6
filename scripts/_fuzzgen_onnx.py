"""Fuzz cases of ONNX model files (``.onnx``): valid quantized (QDQ) seeds built with
``onnx.helper``, then damaged bytes, hostile attributes, initializers, graph structure, input
shapes, opsets and nesting. Each case runs ``run``/``inspect`` or ``import``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from _fuzzbase import Case, Corpus, damage_bytes, run_argv

IN_SHAPE = (1, 6, 6)
"""The seeds' input [C, H, W]: the corpus inputs (codes 0..15, 4 samples) fit it."""


def _onnx():
    import onnx

    return onnx


class _Seed:
    """A QDQ graph under construction (codes 0..15 in, logits out), as ``tests/onnx_graphs``."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [name + "_y"], name=name, **attrs))
        return name + "_y"

    def qdq(self, x: str, name: str, exp: int, top: int) -> str:
        s, zp = self.const(2.0**-exp), self.const(0, np.uint8)
        q = self.node("QuantizeLinear", [x, s, zp], name + "_q")
        c = self.node("Clip", [q, self.const(0, np.uint8), self.const(top, np.uint8)], name + "_c")
        return self.node("DequantizeLinear", [c, s, zp], name + "_dq")

    def weight(self, name: str, shape: tuple[int, ...], rng: np.random.Generator, axis=0) -> str:
        co = shape[axis]
        q = self.const(rng.integers(-7, 8, shape), np.int8)
        s = self.const(2.0 ** -rng.integers(2, 5, co).astype(np.float32))
        zp = self.const(np.zeros(co, np.int8), np.int8)
        return self.node("DequantizeLinear", [q, s, zp], name + "_w", axis=axis)

    def bias(self, n: int, rng: np.random.Generator) -> str:
        return self.const(rng.integers(-20, 21, n) * 2.0**-8)

    def model(self, output: str) -> Any:
        from onnx import TensorProto, helper

        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *IN_SHAPE])
        y = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, "fuzz", [x], [y], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def seed_models() -> list[bytes]:
    """Two valid QDQ graphs: Conv → ReLU → QDQ → AveragePool → Flatten → Gemm, and Conv →
    BatchNorm → QDQ → residual Conv + Add → ReLU → QDQ → AveragePool → Reshape → MatMul
    + Add."""
    rng = np.random.default_rng(7)
    a = _Seed()
    x = a.qdq("x", "input", 4, 15)
    z = a.node(
        "Conv", [x, a.weight("conv", (3, 1, 3, 3), rng), a.bias(3, rng)], "conv", pads=[1] * 4
    )
    h = a.qdq(a.node("Relu", [z], "relu"), "act", 3, 7)
    h = a.node("AveragePool", [h], "pool", kernel_shape=[2, 2], strides=[2, 2])
    h = a.node("Flatten", [h], "flat", axis=1)
    out_a = a.node("Gemm", [h, a.weight("fc", (3, 27), rng), a.bias(3, rng)], "fc", transB=1)
    b = _Seed()
    x = b.qdq("x", "input", 4, 15)
    z = b.node("Conv", [x, b.weight("c1", (2, 1, 3, 3), rng), b.bias(2, rng)], "c1", pads=[1] * 4)
    bn = [b.const(v) for v in ([1.0, -2.0], [0.0, 0.25], [0.0, 0.5], [0.25, 0.25])]
    z = b.node("BatchNormalization", [z, *bn], "bn", epsilon=0.0)
    h = b.qdq(z, "a1", 3, 7)
    r = b.node("Conv", [h, b.weight("c2", (2, 2, 3, 3), rng), b.bias(2, rng)], "c2", pads=[1] * 4)
    h = b.qdq(b.node("Relu", [b.node("Add", [r, h], "add")], "relu2"), "a2", 3, 7)
    h = b.node("AveragePool", [h], "ap", kernel_shape=[2, 2], strides=[2, 2])
    h = b.node("Reshape", [h, b.const([0, -1], np.int64)], "rs")
    mm = b.node("MatMul", [h, b.weight("fc", (18, 3), rng, axis=1)], "fc")
    out_b = b.node("Add", [mm, b.bias(3, rng)], "fc_bias")
    return [a.model(out_a).SerializeToString(), b.model(out_b).SerializeToString()]


# --------------------------------------------------------------------------------------------
# Mutations of a parsed model
# --------------------------------------------------------------------------------------------

HOSTILE_ATTRS: dict[str, list[Any]] = {
    "pads": [[-1] * 4, [2**40] * 4, [2**31] * 4, [1, 1], [0] * 8, [2**62] * 4, [-(2**63)] * 4],
    "strides": [[0, 0], [-1, -1], [2**40, 2**40], [1], [1, 2, 3], [2**63 - 1] * 2],
    "group": [0, -1, 2, 3, 2**40, 2**63 - 1],
    "kernel_shape": [[0, 0], [2**40, 2**40], [3], [-3, -3], [7, 7], [2**31, 1]],
    "dilations": [[0, 0], [-1, -1], [2**31, 2**31], [2**20, 2**20], [2, 2, 2]],
    "auto_pad": [b"SAME_UPPER", b"VALID", b"NOTSET", b"bogus"],
    "axis": [5, -10, 2**40, -1, 1],
    "transB": [0, 7, -1],
    "transA": [1],
    "alpha": [0.0, math.nan, math.inf, -1.0],
    "epsilon": [math.nan, -1.0, math.inf, 1e30],
    "ceil_mode": [1, 5],
    "count_include_pad": [1],
    "block_size": [2],
    "saturate": [0],
}


def _set_attr(node: Any, key: str, value: Any) -> None:
    from onnx import helper

    for i, a in enumerate(node.attribute):
        if a.name == key:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(key, value))


def _attr_edit(model: Any, rng: np.random.Generator) -> str:
    nodes = list(model.graph.node)
    node = nodes[int(rng.integers(len(nodes)))]
    key = list(HOSTILE_ATTRS)[int(rng.integers(len(HOSTILE_ATTRS)))]
    # Mostly an attribute the node has (or one its op takes).
    own = [a.name for a in node.attribute if a.name in HOSTILE_ATTRS]
    if own and rng.random() < 0.6:
        key = own[int(rng.integers(len(own)))]
    values = HOSTILE_ATTRS[key]
    value = values[int(rng.integers(len(values)))]
    _set_attr(node, key, value)
    return f"{node.name}.{key} = {str(value)[:40]}"


SCALES = [0.0, -0.0, math.nan, math.inf, -math.inf, -0.5, 5e-45, 1e-40, 3e38, 1e-30, 1e30]


def _init_edit(model: Any, rng: np.random.Generator) -> str:
    from onnx import numpy_helper

    inits = list(model.graph.initializer)
    k = int(rng.integers(len(inits)))
    t = inits[k]
    arr = numpy_helper.to_array(t)
    how = int(rng.integers(9))
    if how == 0:
        new = np.full(arr.shape, SCALES[int(rng.integers(len(SCALES)))], np.float32)
        what = f"values {new.flat[0] if new.size else ''}"
    elif how == 1:
        dtype = [np.int8, np.uint8, np.int32, np.int64][int(rng.integers(4))]
        info = np.iinfo(dtype)
        new = np.full(arr.shape, [info.max, info.min, 3, -1][int(rng.integers(4))]).astype(dtype)
        what = f"{np.dtype(dtype).name} {new.flat[0] if new.size else ''}"
    elif how == 2:
        shapes = [(), (0,), (2, 2, 2, 2, 2), (1,) * 9, (*arr.shape, 2), arr.shape[:-1]]
        shape = shapes[int(rng.integers(len(shapes)))]
        new = np.ones(shape, arr.dtype)
        what = f"shape {shape}"
    elif how == 3:
        # A header that declares far more values than the tensor holds.
        t.dims[:] = [int(rng.choice([2**20, 2**31, 2**40, 2**62]))] * int(rng.integers(1, 4))
        return f"initializer {t.name}: dims {list(t.dims)} over {arr.nbytes} bytes"
    elif how == 4:
        new = arr.astype([np.float64, np.float16, np.int64, np.bool_][int(rng.integers(4))])
        what = f"dtype {new.dtype}"
    elif how == 5:
        t.data_location = 1  # EXTERNAL
        where = ["../../etc/passwd", "/etc/passwd", "missing.bin", "a" * 300, "."]
        from onnx import StringStringEntryProto

        del t.external_data[:]
        t.external_data.append(StringStringEntryProto(key="location", value=str(rng.choice(where))))
        t.external_data.append(
            StringStringEntryProto(key="length", value=str(int(rng.choice([4, 2**40]))))
        )
        t.ClearField("raw_data")
        return f"initializer {t.name}: external data"
    elif how == 6:
        model.graph.initializer.append(numpy_helper.from_array(arr, t.name))
        return f"initializer {t.name} twice"
    elif how == 7:
        del model.graph.initializer[k]
        return f"initializer {t.name} removed"
    else:
        new = np.ones(arr.shape, np.float32) * np.float32(rng.choice([3.0, 0.1, 1e20]))
        what = f"float values {new.flat[0] if new.size else ''}"
    model.graph.initializer[k].CopyFrom(numpy_helper.from_array(new, t.name))
    return f"initializer {t.name}: {what}"


UNKNOWN_OPS = ["FooBar", "LSTM", "Softmax", "Loop", "Sigmoid", "Resize", "Concat", "Split"]


def _graph_edit(model: Any, rng: np.random.Generator) -> str:
    from onnx import helper

    g = model.graph
    nodes = g.node
    i = int(rng.integers(len(nodes)))
    node = nodes[i]
    how = int(rng.integers(10))
    if how == 0 and len(node.input):
        del node.input[int(rng.integers(len(node.input)))]
        return f"{node.name}: an input removed"
    if how == 1 and len(node.input):
        node.input[int(rng.integers(len(node.input)))] = "nowhere"
        return f"{node.name}: input from no node"
    if how == 2:
        # A cycle: this node reads the output of a node at or after it.
        j = int(rng.integers(i, len(nodes)))
        if len(node.input):
            node.input[0] = nodes[j].output[0]
        return f"{node.name} reads {nodes[j].name} (a cycle)"
    if how == 3:
        node.op_type = UNKNOWN_OPS[int(rng.integers(len(UNKNOWN_OPS)))]
        return f"{node.name}: op {node.op_type}"
    if how == 4:
        node.domain = str(rng.choice(["com.example", "ai.onnx.ml", "com.microsoft"]))
        return f"{node.name}: domain {node.domain}"
    if how == 5:
        del nodes[i]
        return f"{node.name} removed"
    if how == 6:
        j = int(rng.integers(len(nodes)))
        a, b = nodes[i], nodes[j]
        tmp = type(a)()
        tmp.CopyFrom(a)
        a.CopyFrom(b)
        b.CopyFrom(tmp)
        return f"nodes {i} and {j} swapped (not topological)"
    if how == 7:
        node.output[0] = nodes[max(0, i - 1)].output[0]
        return f"{node.name}: output name taken twice"
    if how == 8:
        extra = helper.make_tensor_value_info("y2", 1, None)
        g.output.append(extra)
        return "a second graph output"
    # A long chain of Identity nodes after the input quantizer.
    n = int(rng.choice([100, 5000, 20000]))
    src = nodes[0].output[0]
    chain = [helper.make_node("Identity", [src], ["id0"], name="id0")]
    chain += [helper.make_node("Identity", [f"id{k}"], [f"id{k + 1}"]) for k in range(n - 1)]
    for other in nodes[1:]:
        for k, name in enumerate(other.input):
            if name == src:
                other.input[k] = f"id{n - 1}"
    rest = list(nodes)
    del nodes[:]
    nodes.extend([rest[0], *chain, *rest[1:]])
    return f"{n} Identity nodes in a chain"


def _shape_edit(model: Any, rng: np.random.Generator) -> str:
    x = model.graph.input[0]
    dims = x.type.tensor_type.shape.dim
    how = int(rng.integers(7))
    if how == 0:
        d = dims[int(rng.integers(1, len(dims)))]
        d.dim_param = str(rng.choice(["H", "W", "C", ""]))
        return f"input dimension {d.dim_param or '?'} dynamic"
    if how == 1:
        d = dims[int(rng.integers(len(dims)))]
        d.dim_value = int(rng.choice([0, 2**31, 2**40, 2**62, 7]))
        return f"input dimension {d.dim_value}"
    if how == 2:
        x.type.tensor_type.ClearField("shape")
        return "input without a shape"
    if how == 3:
        del dims[int(rng.integers(len(dims)))]
        return "input of one dimension fewer"
    if how == 4:
        dims.add().dim_value = 2
        return "input of one dimension more"
    if how == 5:
        x.type.tensor_type.elem_type = int(rng.choice([6, 7, 8, 11, 0]))
        return f"input elem_type {x.type.tensor_type.elem_type}"
    for d in dims:
        d.dim_value = int(rng.choice([1, 2**16, 2**20]))
    return f"input dims {[d.dim_value for d in dims]}"


def _meta_edit(model: Any, rng: np.random.Generator) -> str:
    how = int(rng.integers(5))
    if how == 0:
        model.opset_import[0].version = int(rng.choice([10**6, 2**62, 1, 0, -1, 7]))
        return f"opset {model.opset_import[0].version}"
    if how == 1:
        del model.opset_import[:]
        return "no opset"
    if how == 2:
        model.ir_version = int(rng.choice([0, 1, 10**6, 2**62]))
        return f"ir_version {model.ir_version}"
    if how == 3:
        model.graph.name = "a" * 100000
        return "graph name of 100,000 characters"
    return _nest(model, int(rng.choice([5, 15, 25])))


def _nest(model: Any, depth: int) -> str:
    """An If node whose branch holds an If ... ``depth`` deep, inserted as the first node."""
    from onnx import TensorProto, helper

    cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
    leaf = helper.make_graph(
        [helper.make_node("Constant", [], ["o"], value=helper.make_tensor("v", 1, [], [1.0]))],
        "leaf",
        [],
        [helper.make_tensor_value_info("o", 1, None)],
    )
    inner = leaf
    for k in range(depth):
        node = helper.make_node("If", ["cond"], ["o"], then_branch=inner, else_branch=leaf)
        inner = helper.make_graph(
            [node], f"g{k}", [], [helper.make_tensor_value_info("o", 1, None)]
        )
    top = helper.make_node("If", ["cond"], ["nest"], then_branch=inner, else_branch=leaf)
    model.graph.initializer.append(cond)
    model.graph.node.insert(0, top)
    return f"If nested {depth} deep"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_node_bytes(depth: int) -> bytes:
    """Wire bytes that, appended to a serialized ModelProto, add to its graph an If node whose
    branch nests ``depth`` deep (deeper than protobuf lets a program build)."""
    graph = b""
    for _ in range(depth):
        attr = _field(1, b"then_branch") + _field(6, graph) + _varint(20 << 3) + _varint(5)
        node = _field(1, b"cond") + _field(2, b"o") + _field(4, b"If") + _field(5, attr)
        graph = _field(1, node)
    return _field(7, graph)


def onnx_case(rng: np.random.Generator, corpus: Corpus, index: int) -> Case:
    onnx = _onnx()
    base = corpus.onnx_models[int(rng.integers(len(corpus.onnx_models)))]
    r = rng.random()
    if r < 0.15:
        data, what = damage_bytes(base, rng)
    elif r < 0.2:
        data, what = base, "valid seed"
    else:
        model = onnx.load_from_string(base)
        edits = [_attr_edit, _init_edit, _graph_edit, _shape_edit, _meta_edit]
        weights = [0.3, 0.3, 0.2, 0.1, 0.1]
        done = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            edit = edits[int(rng.choice(len(edits), p=weights))]
            try:
                done.append(edit(model, rng))
            except (ValueError, TypeError, IndexError, KeyError):
                done.append("edit skipped (an earlier edit broke what it reads)")
        what = "; ".join(done)
        data = model.SerializeToString()
        if rng.random() < 0.03:
            depth = int(rng.choice([40, 200, 5000]))
            data += deep_node_bytes(depth)
            what += f"; an If node nested {depth} deep (wire bytes)"
    files = {"m.onnx": data, "i.npz": corpus.inputs}
    if rng.random() < 0.2:
        argv, outputs, note = ["import", "m.onnx", "-o", "out.qann.npz"], [], "import"
    else:
        # No ``table``: it reads the model as ``run`` does, then runs every scheme variant
        # (about 5 s for these seeds, past the time limit on a busy machine).
        argv, outputs, note = run_argv(rng, corpus, model="m.onnx", table=0.0)
    return Case("onnx", index, files, argv, f"{what} {note}".strip(), outputs)
