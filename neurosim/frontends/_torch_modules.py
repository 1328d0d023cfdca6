"""The quantizer modules a PyTorch model is trained with (``QuantInput``, ``QuantReLU``) and
their ONNX form (QuantizeLinear → Clip → DequantizeLinear); ``frontends.torch`` re-exports them.

Needs PyTorch. Imports ``errors``; ``frontends._torch_graph`` reads these modules as leaves.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from neurosim.errors import ModelError


class QuantInput(nn.Module):
    """Input quantizer: codes n = clip(round(x / scale), 0, levels), output scale·n.

    The exported network's ``Input`` layer (scale, levels, rounding half to even); integer
    images are codes already, real images are quantized like this by ``neurosim run``.
    """

    def __init__(self, scale: float, levels: int) -> None:
        super().__init__()
        if not scale > 0 or int(levels) < 1:
            raise ModelError(
                f"QuantInput: scale must be > 0 and levels >= 1, got {scale}, {levels}"
            )
        self.register_buffer("scale", torch.tensor(float(np.float32(scale)), dtype=torch.float64))
        self.levels = int(levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale.to(x.dtype)
        if torch.onnx.is_in_onnx_export():
            return _QCDQ.apply(x, float(self.scale), self.levels)
        return torch.clamp(torch.round(x / s), 0, self.levels) * s


class QuantReLU(nn.Module):
    """Clipped L-level ReLU with a learnable clip γ (QCFS; MT-SNN combination 4 [t, γ]).

    a = (γ/L)·clip(round(z·L/γ), 0, L), rounded half to even; levels 0..L. Gradients are
    straight-through for the rounding: ∂a/∂z = 1 inside (0, γ), ∂a/∂γ = round(u)/L − z/γ inside
    and 1 above (u = z·L/γ; LSQ / QCFS). Export: ``ActQuant(levels=L, clip=L·s)`` with
    s = float32(γ/L) (a step an ONNX scale can hold exactly).
    """

    def __init__(self, levels: int, clip: float = 1.0, *, learn_clip: bool = True) -> None:
        super().__init__()
        if int(levels) < 1 or not clip > 0:
            raise ModelError(f"QuantReLU: levels must be >= 1 and clip > 0, got {levels}, {clip}")
        self.levels = int(levels)
        self.clip = nn.Parameter(torch.tensor(float(clip)), requires_grad=learn_clip)

    def step(self) -> float:
        """s = float32(γ/L), the real value of one level as exported."""
        return float(np.float32(float(self.clip.detach()) / self.levels))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return _QCDQ.apply(z, self.step(), self.levels)
        g = self.clip.to(z.dtype).clamp_min(1e-8)
        u = z * (self.levels / g)  # the operation order of neurosim.qann.quantize
        u = u + (torch.round(u) - u).detach()
        return torch.clamp(u, 0, self.levels) * (g / self.levels)


class _QCDQ(torch.autograd.Function):
    """ONNX export of a quantizer: QuantizeLinear (uint8, zero point 0) → Clip(0, L) →
    DequantizeLinear; eager forward computes the same values."""

    @staticmethod
    def forward(ctx, x, step, levels):
        return torch.clamp(torch.round(x / step), 0, levels) * step

    @staticmethod
    def symbolic(g, x, step, levels):
        if levels > 255:
            raise ModelError(f"ONNX export: {levels} levels need more than uint8 codes")
        s = g.op("Constant", value_t=torch.tensor(step, dtype=torch.float32))
        zp = g.op("Constant", value_t=torch.tensor(0, dtype=torch.uint8))
        q = g.op("QuantizeLinear", x, s, zp)
        if levels < 255:
            top = g.op("Constant", value_t=torch.tensor(levels, dtype=torch.uint8))
            q = g.op("Clip", q, zp, top)
        return g.op("DequantizeLinear", q, s, zp)
