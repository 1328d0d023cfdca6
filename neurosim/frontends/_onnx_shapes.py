"""The ONNX importer's pooling, flatten and reshape nodes (a mixin of ``onnx._Importer``).

Imports ``ir`` and ``frontends._onnx_values``. Each handler reads a quantized operand (levels
or input codes), adds one neurosim layer and records its output's integer step: average
pooling divides the step by k² and multiplies the largest value by k², so a lossless
quantizer after it can be recognised (``_onnx_values.lossless_requant``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurosim import ir
from neurosim.frontends._onnx_values import NodeInfo, Real, attrs


class _ShapeOps:
    """Pooling and reshaping handlers; the importer provides ``_operand``, ``_add_layer``,
    ``_set`` and ``consts``."""

    # -- pooling and reshaping ------------------------------------------------------------------
    def _pool_attrs(self, info: NodeInfo) -> tuple[int, int, int]:
        a = attrs(info.node)
        if a.get("ceil_mode", 0):
            raise info.unsupported("ceil_mode=1 is not supported")
        if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise info.unsupported(f"auto_pad={a['auto_pad']!r} is not supported")
        if a.get("storage_order", 0):
            raise info.unsupported("storage_order=1 is not supported")
        if info.square(a, "dilations", 1) != 1:
            raise info.unsupported("dilated pooling is not supported")
        kernel = info.square(a, "kernel_shape", None)
        stride = info.square(a, "strides", 1)
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if len(set(pads)) != 1:
            raise info.unsupported(f"pads must be equal on every side, got {pads}")
        return kernel, stride, int(pads[0])

    def _op_average_pool(self, info: NodeInfo) -> None:
        x = self._operand(info, 0)
        kernel, stride, pad = self._pool_attrs(info)
        if pad:
            raise info.unsupported(f"padded average pooling (pads={pad}) is not supported")
        self._pool(info, x, ir.AvgPool2d(name="", inputs=(x.layer,), kernel=kernel, stride=stride))

    def _op_global_average_pool(self, info: NodeInfo) -> None:
        x = self._operand(info, 0)
        if len(x.shape) != 3 or x.shape[1] != x.shape[2]:
            raise info.unsupported(f"needs a square (C, H, W) input, got {x.shape}")
        k = x.shape[1]
        self._pool(info, x, ir.AvgPool2d(name="", inputs=(x.layer,), kernel=k, stride=k))

    def _op_max_pool(self, info: NodeInfo) -> None:
        if len(info.node.output) > 1 and self.readers.get(info.node.output[1]):
            raise info.unsupported("the Indices output is not supported")
        x = self._operand(info, 0)
        kernel, stride, pad = self._pool_attrs(info)
        layer = ir.MaxPool2d(name="", inputs=(x.layer,), kernel=kernel, stride=stride, padding=pad)
        self._pool(info, x, layer)

    def _pool(self, info: NodeInfo, x: Real, layer: ir.Layer) -> None:
        real = self._add_layer(info, layer)
        area = layer.kernel**2 if isinstance(layer, ir.AvgPool2d) else 1
        self._set(
            info,
            dataclasses.replace(real, quantized=True, lsb=x.lsb / area, units=x.units * area),
        )

    def _op_flatten(self, info: NodeInfo) -> None:
        if attrs(info.node).get("axis", 1) != 1:
            raise info.unsupported(f"only axis=1 is supported, got {attrs(info.node)['axis']}")
        self._flatten(info)

    def _op_reshape(self, info: NodeInfo) -> None:
        x = self._operand(info, 0)
        shape = np.asarray(self.consts.get(info, 1, "shape")).reshape(-1)
        if not np.all(np.isfinite(shape)) or np.any(np.abs(shape) > 2**62):
            raise info.fail(f"shape must hold integers, got {shape.tolist()[:4]}")
        target = [int(t) for t in shape]
        size = int(np.prod(x.shape))
        if len(target) != 2 or target[0] not in (0, -1, 1) or target[1] not in (-1, size):
            raise info.unsupported(
                f"only a reshape to [batch, {size}] (a flatten) is supported, got {target}"
            )
        self._flatten(info)

    def _op_squeeze(self, info: NodeInfo) -> None:
        x = self._operand(info, 0)
        a = attrs(info.node)
        axes = a.get("axes")
        if axes is None and len(info.node.input) > 1 and info.node.input[1]:
            axes = [int(t) for t in np.asarray(self.consts.get(info, 1, "axes")).reshape(-1)]
        if len(x.shape) != 3 or x.shape[1:] != (1, 1) or sorted(axes or [2, 3]) != [2, 3]:
            raise info.unsupported(
                f"only squeezing the 1x1 spatial axes (2, 3) of a (C, 1, 1) tensor is "
                f"supported, got shape {x.shape} axes {axes}"
            )
        self._flatten(info)

    def _flatten(self, info: NodeInfo) -> None:
        x = self._operand(info, 0)
        if len(x.shape) == 1:
            self._set(info, x)
            return
        real = self._add_layer(info, ir.Flatten(name="", inputs=(x.layer,)))
        self._set(info, dataclasses.replace(real, quantized=True, lsb=x.lsb, units=x.units))
