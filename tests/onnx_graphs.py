"""Quantized ONNX graphs built with ``onnx.helper`` for the importer tests (no torch).

Every scale is a power of two and every value small, so float32 (the ONNX reference evaluator),
float64 (neurosim's quantized ANN) and the integer SNN compute the same real numbers. Biases
are odd multiples of half the accumulator's LSB (2^-b with 2^-b = input LSB x weight scale) and
every activation scale 2^-a has a < b: then z / 2^-a = odd · 2^(a-b-1) is never k + 1/2, so no
activation sits on a rounding tie (``tie_free=False`` puts biases on the grid instead, where
ties happen and the rounding mode decides).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OPSET = 21


class Graph:
    """A QDQ graph under construction; methods return the name of their output tensor."""

    def __init__(
        self,
        shape,
        *,
        in_exp=4,
        in_levels=15,
        seed=0,
        tie_free=True,
        qcdq_input=True,
        weight_qcdq=False,
    ):
        self.rng = np.random.default_rng(seed)
        self.weight_qcdq = weight_qcdq
        """Weights as Brevitas exports them: float constant → QuantizeLinear (int8) → Clip to
        the 4-bit range ±7 → DequantizeLinear, instead of DequantizeLinear of int8 codes."""
        self.nodes, self.inits = [], []
        self.shape = tuple(shape)
        self.tie_free = tie_free
        self.acts: dict[str, tuple[str, int]] = {}
        """Layer name → (tensor of its quantized codes, zero point)."""
        self.lsb: dict[str, int] = {}
        """Tensor → exponent e of its grid: every value is a multiple of 2^-e."""
        self.odd: dict[str, int] = {}
        """Tensor → e where every value is an odd multiple of 2^-e plus a multiple of
        2^-(e-1) (tie-free biases); quantizing it with a scale 2^-a, a <= e - 2, never ties."""
        self.calib = self.rng.random((16, *shape)).astype(np.float32)
        self.node(
            "QuantizeLinear",
            ["x", self.const(2.0**-in_exp), self.const(0, np.uint8)],
            "x_q",
            name="input_q",
        )
        src = "x_q"
        if qcdq_input:
            self.node(
                "Clip",
                [src, self.const(0, np.uint8), self.const(in_levels, np.uint8)],
                "x_qc",
                name="input_clip",
            )
            src = "x_qc"
        self.node(
            "DequantizeLinear",
            [src, self.const(2.0**-in_exp), self.const(0, np.uint8)],
            "x_dq",
            name="input_dq",
        )
        self.lsb["x_dq"] = in_exp

    # -- plumbing -----------------------------------------------------------------------------
    def const(self, value, dtype=np.float32, name=None):
        name = name or f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op, inputs, output, *, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def model(self, output, *, checked=True):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *self.shape])
        shape = None
        if checked:
            shape = ["N", *self.evaluate(output, self.calib[:1]).shape[1:]]
        y = helper.make_tensor_value_info(output, TensorProto.FLOAT, shape)
        g = helper.make_graph(self.nodes, "test", [x], [y], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        if checked:
            onnx.checker.check_model(m, full_check=True)
        return m

    def evaluate(self, tensor, x=None):
        """float64 value of ``tensor`` on ``x`` (the calibration batch by default)."""
        x = self.calib if x is None else x
        ref = ReferenceEvaluator(self.model(tensor, checked=False))
        return np.asarray(ref.run(None, {"x": x})[0], np.float64)

    # -- layers --------------------------------------------------------------------------------
    def _weights(self, name, shape, axis=0, w_exps=None):
        co = shape[axis]
        w_exps = np.asarray(w_exps if w_exps is not None else self.rng.integers(2, 5, co))
        q = self.rng.integers(-7, 8, shape).astype(np.int8)
        scale = (2.0**-w_exps).astype(np.float32)
        wq = self.const(q, np.int8, f"{name}_wq")
        if self.weight_qcdq:
            along = [1] * len(shape)
            along[axis] = co
            # codes ±7 pushed to ±8 in the float weights: the Clip brings them back
            over = q + np.sign(q) * (np.abs(q) == 7)
            wf = over.astype(np.float32) * scale.reshape(along)
            zero = self.const(np.zeros(co, np.int8), np.int8)
            wi = self.node(
                "QuantizeLinear",
                [self.const(wf), self.const(scale), zero],
                f"{name}_wi",
                name=f"{name}_wq",
                axis=axis,
            )
            wq = self.node(
                "Clip",
                [wi, self.const(-7, np.int8), self.const(7, np.int8)],
                f"{name}_wc",
                name=f"{name}_wclip",
            )
        dq = self.node(
            "DequantizeLinear",
            [wq, self.const(scale), self.const(np.zeros(co, np.int8), np.int8)],
            f"{name}_w",
            name=f"{name}_wdq",
            axis=axis,
        )
        return dq, w_exps

    def _bias(self, b_exps):
        """Odd multiples of 2^-(b+1) (tie-free) or multiples of 2^-b, per channel."""
        m = self.rng.integers(-20, 21, len(b_exps))
        if self.tie_free:
            return (2 * m + 1) * 2.0 ** -(np.asarray(b_exps) + 1.0)
        return m * 2.0 ** -np.asarray(b_exps, np.float64)

    def conv(self, x, name, co, k=3, *, stride=1, pad=1, groups=1, dilation=1, bias=True):
        ci = self._channels(x)
        w, w_exps = self._weights(name, (co, ci // groups, k, k))
        b_exps = self.lsb[x] + w_exps
        ins = [x, w] + ([self.const(self._bias(b_exps))] if bias else [])
        out = self.node(
            "Conv",
            ins,
            f"{name}_z",
            name=name,
            strides=[stride, stride],
            pads=[pad] * 4,
            group=groups,
            dilations=[dilation, dilation],
            kernel_shape=[k, k],
        )
        return self._synaptic_out(out, b_exps, bias)

    def _synaptic_out(self, out, b_exps, bias=True):
        odd = bias and self.tie_free
        self.lsb[out] = int(np.max(b_exps)) + (1 if odd else 0)
        if odd:
            self.odd[out] = int(np.min(b_exps)) + 1
        return out

    def gemm(self, x, name, n_out, *, trans_b=1):
        n_in = self._channels(x)
        shape, axis = ((n_out, n_in), 0) if trans_b else ((n_in, n_out), 1)
        w, w_exps = self._weights(name, shape, axis=axis)
        b_exps = self.lsb[x] + w_exps
        out = self.node(
            "Gemm", [x, w, self.const(self._bias(b_exps))], f"{name}_z", name=name, transB=trans_b
        )
        return self._synaptic_out(out, b_exps)

    def matmul_add(self, x, name, n_out):
        n_in = self._channels(x)
        w, w_exps = self._weights(name, (n_in, n_out), axis=1)
        b_exps = self.lsb[x] + w_exps
        mm = self.node("MatMul", [x, w], f"{name}_mm", name=name)
        out = self.node(
            "Add", [mm, self.const(self._bias(b_exps))], f"{name}_z", name=f"{name}_bias"
        )
        return self._synaptic_out(out, b_exps)

    def batch_norm(self, x, name, co):
        """gamma/√var a power of two (some negative), mean and beta on a grid coarser than
        the input's odd part (so the odd part survives)."""
        e = self.odd[x] - 1 if x in self.odd else self.lsb[x]
        gamma = np.array([(-1.0) ** i * 2.0 ** -(i % 2) for i in range(co)], np.float32)
        var = np.full(co, 0.25, np.float32)  # √var = 1/2, epsilon 0
        a = gamma / 0.5
        mean = self.rng.integers(-8, 9, co) * 2.0**-e
        beta = self.rng.integers(-8, 9, co) * 2.0**-e * np.abs(a)
        out = self.node(
            "BatchNormalization",
            [x, self.const(gamma), self.const(beta), self.const(mean), self.const(var)],
            f"{name}_bn",
            name=name,
            epsilon=0.0,
        )
        self.lsb[out] = e
        if x in self.odd:
            self.odd[out] = self.odd[x] - 1  # |a| = 2 halves the odd part's exponent
        return out

    def act(self, z, layer, *, levels=None, relu=True, clip_frac=None, signed_qcdq=False):
        """[Relu | Clip(0, c)] → QuantizeLinear → [Clip] → DequantizeLinear, scale 2^-a chosen
        so that the calibration batch's 95th percentile reaches about Q (and a <= odd − 2 for
        a tie-free pre-activation). ``clip_frac``: a float Clip at c = (⌊frac·Q⌋ + 1/4)·2^-a,
        whose top level is ⌊frac·Q⌋."""
        q_levels = levels or 255
        p95 = max(np.percentile(self.evaluate(z), 95), 2.0**-20)
        a = int(np.floor(np.log2(q_levels / p95)))
        if self.tie_free:
            a = min(a, self.odd[z] - 2)
        if clip_frac is not None:
            top = (np.floor(clip_frac * q_levels) + 0.25) * 2.0**-a
            z = self.node(
                "Clip", [z, self.const(0.0), self.const(top)], f"{layer}_clip", name=f"{layer}_clip"
            )
        elif relu:
            z = self.node("Relu", [z], f"{layer}_relu", name=f"{layer}_relu")
        s = self.const(2.0**-a)
        if signed_qcdq:  # Brevitas: int8 codes clipped to [0, Q]
            zp = self.const(0, np.int8)
            q = self.node("QuantizeLinear", [z, s, zp], f"{layer}_q", name=f"{layer}_q")
            codes = self.node(
                "Clip",
                [q, self.const(0, np.int8), self.const(q_levels, np.int8)],
                f"{layer}_qc",
                name=f"{layer}_qclip",
            )
        else:
            zp = self.const(0, np.uint8)
            q = self.node("QuantizeLinear", [z, s, zp], f"{layer}_q", name=f"{layer}_q")
            codes = q
            if levels:
                codes = self.node(
                    "Clip",
                    [q, self.const(0, np.uint8), self.const(q_levels, np.uint8)],
                    f"{layer}_qc",
                    name=f"{layer}_qclip",
                )
        out = self.node("DequantizeLinear", [codes, s, zp], f"{layer}_a", name=f"{layer}_dq")
        self.acts[layer] = (codes, 0)
        self.lsb[out] = a
        return out

    def add(self, a, b, name):
        out = self.node("Add", [a, b], f"{name}_z", name=name)
        self.lsb[out] = max(self.lsb[a], self.lsb[b])
        odd = [self.odd[t] for t in (a, b) if t in self.odd]
        if odd:
            assert all(self.lsb[t] <= odd[0] - 1 for t in (a, b) if t not in self.odd)
            self.odd[out] = min(odd)
        return out

    def avgpool(self, x, name, k=2):
        out = self.node(
            "AveragePool", [x], f"{name}_y", name=name, kernel_shape=[k, k], strides=[k, k]
        )
        self.lsb[out] = self.lsb[x] + int(np.log2(k * k))
        return out

    def global_avgpool(self, x, name, hw):
        out = self.node("GlobalAveragePool", [x], f"{name}_y", name=name)
        self.lsb[out] = self.lsb[x] + int(np.log2(hw * hw))
        return out

    def maxpool(self, x, name, k=2, stride=2, pad=0):
        out = self.node(
            "MaxPool",
            [x],
            f"{name}_y",
            name=name,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
        )
        self.lsb[out] = self.lsb[x]
        return out

    def flatten(self, x, name):
        out = self.node("Flatten", [x], f"{name}_y", name=name, axis=1)
        self.lsb[out] = self.lsb[x]
        return out

    def reshape(self, x, name):
        out = self.node("Reshape", [x, self.const([0, -1], np.int64)], f"{name}_y", name=name)
        self.lsb[out] = self.lsb[x]
        return out

    def _channels(self, x):
        return int(self.evaluate(x)[:1].shape[1])


def onnx_codes(model, graph: Graph, x):
    """The ONNX reference evaluator's integer levels (codes − zero point) of every activation
    and the graph's output, on float images ``x``."""
    ref = ReferenceEvaluator(model)
    names = [t for t, _ in graph.acts.values()]
    out_name = model.graph.output[0].name
    values = ref.run([*names, out_name], {"x": x})
    levels = {
        layer: np.asarray(v).astype(np.int64) - zp
        for (layer, (_, zp)), v in zip(graph.acts.items(), values, strict=False)
    }
    return levels, np.asarray(values[-1], np.float64)
