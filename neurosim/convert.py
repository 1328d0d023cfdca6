"""Quantized ANN → integer SNN for each scheme: thresholds, biases and neuron parameters.

Imports ``ir`` and ``errors`` only. Every spiking layer's integer pre-activation is
P = (Σ W_int·x) << f + B in LSBs of σ_P = s_w·σ_x / 2^f, where σ_x is the real value of one
unit of the layer's integer input; thresholds are Θ = round(θ / σ_P) (neuron-models §1.5, §2.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from neurosim import ir
from neurosim.errors import ModelError, UnsupportedError

DEFAULTS: Mapping[str, Mapping[str, object]] = {
    "if": {"num_steps": 8},
    "mtif": {"num_steps": None},
    "sws": {"coding_steps": 8, "silent_steps": 2},
    "lmht": {"num_steps": 2, "num_levels": 4},
}
"""``neurosim run`` defaults per scheme (mtif: each layer's learned T^l = its levels)."""

THRESHOLD_LSBS = 2**16
"""Fractional bits are added to a layer only until its smallest threshold spans this many LSBs."""

FIXED_POINT_BITS = 16
"""Fractional bits of a trained LM-HT T-GIM Ω and leak λ in fixed point (neuron-models §3.4)."""


def convert(
    network: ir.Network,
    scheme: str,
    *,
    num_steps: int | Mapping[str, int] | None = None,
    coding_steps: int = 8,
    silent_steps: int = 2,
    num_levels: int = 4,
    frac_bits: int = 8,
    align: str | None = None,
    mem_bits: int = 32,
    encoder: str = "digital",
    encoder_silent_steps: int = 1,
    rectify: bool = True,
    reparameterize: bool = False,
    exact: bool = False,
) -> ir.Network:
    """Convert a quantized ANN into an integer SNN of ``scheme``.

    Parameters
    ----------
    network
        A ``kind="qann"`` network.
    scheme
        ``if`` (uniform T, soft-reset IF, V0 = θ/2, θ = γ), ``mtif`` (T^l = the layer's levels
        or ``num_steps``; MT-SNN Theorem 1), ``sws`` (TSA neurons, β = 2; SWS App. A.1) or
        ``lmht`` (L levels, T steps, θ = γ/L, uniform Ω, λ = 1, v0 = θ/2; neuron-models §3.3).
    num_steps
        ``if``: T of every layer (default 8). ``mtif``: None (learned per-layer T^l), an int,
        or a mapping layer name → T^l. ``lmht``: T (default 2).
    coding_steps, silent_steps
        ``sws``: Tc and Ts.
    num_levels
        ``lmht``: L.
    frac_bits
        Most fractional bits f of the integer membranes. A layer gets the fewest bits
        f_l <= f that give its smallest threshold at least ``THRESHOLD_LSBS`` (2^16) LSBs, so
        precision is kept without spending membrane headroom on long windows.
    align
        ``mtif``: ``when_T_differs`` (paper, default) or ``always`` (exact at every boundary).
    mem_bits
        Membrane width in bits; overflow is raised, never wrapped.
    encoder, encoder_silent_steps
        ``sws``: ``digital`` (binary digits of the input code, exact) or ``neuron`` (the paper's
        constant-current encoder, SWS eq. 8-9, with this silent period; exact for Ts ≥ 1).
    rectify
        ``sws``: clamp each TSA layer's encoded value to [0, levels] (neuron-models §2.4).
    reparameterize
        ``lmht``: run each layer as a single-threshold IF over T·L sub-steps.
    exact
        ``lmht``: require levels Q = T·L in every layer (the exact QCFS equivalence).

    Raises
    ------
    ModelError
        The network is not a quantized ANN, or a parameter is out of range (names it).
    UnsupportedError
        A graph pattern the integer conversion cannot express.
    """
    if network.kind != "qann":
        raise ModelError(
            f"convert() needs a quantized ANN (kind 'qann'), got kind '{network.kind}'"
        )
    if scheme not in ir.SCHEMES:
        raise ModelError(f"unknown scheme {scheme!r}; allowed: {list(ir.SCHEMES)}")
    _check_range("frac_bits", frac_bits, 0, 24)
    _check_range("mem_bits", mem_bits, 8, 63)
    if scheme == "if":
        num_steps = 8 if num_steps is None else num_steps
        if not isinstance(num_steps, int):
            raise ModelError("scheme 'if' uses one T for every layer: num_steps must be an int")
        align = "when_T_differs"
    if scheme == "mtif":
        align = align or "when_T_differs"
    if align is not None and align not in ir.ALIGN_MODES:
        raise ModelError(f"align must be one of {list(ir.ALIGN_MODES)}, got {align!r}")
    if scheme == "sws":
        _check_range("coding_steps", coding_steps, 1, 16)
        _check_range("silent_steps", silent_steps, 0, 16)
        if encoder not in ("digital", "neuron"):
            raise ModelError(f"encoder must be 'digital' or 'neuron', got {encoder!r}")
        if network.input.levels > 2**coding_steps - 1:
            raise ModelError(
                f"layer '{network.input.name}': input codes up to "
                f"{network.input.levels} need coding_steps >= "
                f"{int(network.input.levels).bit_length()}, got {coding_steps}"
            )
    if scheme == "lmht":
        num_steps = 2 if num_steps is None else num_steps
        if not isinstance(num_steps, int):
            raise ModelError("scheme 'lmht' uses one T for every layer: num_steps must be an int")
        _check_range("num_steps", num_steps, 1, 64)
        _check_range("num_levels", num_levels, 1, 127)

    ctx = _Converter(
        network,
        scheme,
        num_steps,
        coding_steps,
        silent_steps,
        num_levels,
        frac_bits,
        align,
        mem_bits,
        rectify,
        reparameterize,
        exact,
    )
    layers = tuple(ctx.convert_layer(lay) for lay in network.layers)
    meta: dict[str, object] = {
        "source_model": network.name,
        "frac_bits": frac_bits,
        "mem_bits": mem_bits,
    }
    if scheme in ("if", "mtif"):
        meta["align"] = align
    if scheme == "sws":
        meta.update(
            coding_steps=coding_steps,
            silent_steps=silent_steps,
            encoder=encoder,
            encoder_silent_steps=encoder_silent_steps,
            rectify=rectify,
        )
    if scheme == "lmht":
        meta.update(num_steps=num_steps, num_levels=num_levels, reparameterized=reparameterize)
    return ir.Network(
        layers=layers, kind="snn", scheme=scheme, name=f"{network.name}:{scheme}", meta=meta
    )


def reparameterize(network: ir.Network) -> ir.Network:
    """Turn every LM-HT layer into its single-threshold IF form over T·L sub-steps."""
    if network.scheme != "lmht":
        raise ModelError(f"only an 'lmht' network can be re-parameterised, got {network.scheme!r}")
    layers = []
    for lay in network.layers:
        neuron = getattr(lay, "neuron", None)
        if isinstance(neuron, ir.LMHTSpec):
            lay = dataclasses.replace(lay, neuron=dataclasses.replace(neuron, reparameterized=True))
        layers.append(lay)
    return ir.Network(
        layers=tuple(layers),
        kind="snn",
        scheme="lmht",
        name=network.name,
        meta={**network.meta, "reparameterized": True},
    )


def mean_time_steps(network: ir.Network) -> float:
    """Latency metric in time-steps: MT-SNN T̄ = Σ_l T^l / L for IF; SWS eq. 6 for TSA.

    ``if``/``mtif``: mean over spiking layers of T^l; ``sws``: T_inf = Tc + Ts·L_TSA;
    ``lmht``: T (T·L when re-parameterised).
    """
    neurons = [lay.neuron for lay in network.layers if getattr(lay, "neuron", None)]
    if not neurons:
        return 0.0
    if network.scheme == "sws":
        tsa = [n for n in neurons if isinstance(n, ir.TSASpec)]
        return float(tsa[0].coding_steps + tsa[0].silent_steps * len(tsa))
    return float(np.mean([n.num_steps for n in neurons]))


def _check_range(name: str, value: object, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ModelError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


class _Converter:
    """Walks the ANN in topological order, tracking σ (real value of one integer unit)."""

    def __init__(
        self,
        network: ir.Network,
        scheme: str,
        num_steps,
        coding_steps: int,
        silent_steps: int,
        num_levels: int,
        frac_bits: int,
        align: str | None,
        mem_bits: int,
        rectify: bool,
        reparam: bool,
        exact: bool,
    ) -> None:
        self.net = network
        self.scheme = scheme
        self.num_steps = num_steps
        self.tc = coding_steps
        self.ts = silent_steps
        self.levels = num_levels
        self.f = frac_bits
        self.align = align
        self.mem_bits = mem_bits
        self.rectify = rectify
        self.reparam = reparam
        self.exact = exact
        self.scale: dict[str, np.ndarray] = {}
        self.pending_bias: dict[str, np.ndarray] = {}
        self.tsa_depth: dict[str, int] = {}

    # -- per layer ---------------------------------------------------------------------------
    def convert_layer(self, lay: ir.Layer) -> ir.Layer:
        depth = max((self.tsa_depth[s] for s in lay.inputs), default=0)
        self.tsa_depth[lay.name] = depth + (1 if ir.is_spiking(lay) else 0)
        if isinstance(lay, ir.Input):
            self.scale[lay.name] = np.asarray(float(lay.scale))
            return lay
        if isinstance(lay, ir.AvgPool2d):
            self.scale[lay.name] = self.scale[lay.inputs[0]] / float(lay.kernel**2)
            self._require_scalar(lay, lay.inputs[0])
            return lay
        if isinstance(lay, ir.Flatten):
            self._require_scalar(lay, lay.inputs[0])
            self.scale[lay.name] = self.scale[lay.inputs[0]]
            return lay
        if isinstance(lay, ir.Conv2d | ir.Linear):
            return self._synaptic(lay)
        if isinstance(lay, ir.Add):
            return self._add(lay)
        raise UnsupportedError(f"layer '{lay.name}': op '{lay.op}' cannot be converted")

    def _require_scalar(self, lay: ir.Layer, src: str) -> None:
        if np.ndim(self.scale[src]) != 0:
            raise UnsupportedError(
                f"layer '{lay.name}' reads '{src}', a non-spiking layer's per-channel output; "
                f"only an Add (residual) may consume a conv/linear without activation"
            )

    def _synaptic(self, lay: ir.Conv2d | ir.Linear) -> ir.Layer:
        src = lay.inputs[0]
        self._require_scalar(lay, src)
        co = lay.out_channels
        sigma_x = float(self.scale[src])
        s_w = np.broadcast_to(np.asarray(lay.weight_scale, dtype=np.float64), (co,))
        bias = (
            np.zeros(co)
            if lay.bias is None
            else np.broadcast_to(np.asarray(lay.bias, dtype=np.float64), (co,))
        )
        is_output = lay.name == self.net.output.name
        common = {"weight_scale": None, "act": None}
        if lay.act is None and not is_output:
            consumers = self.net.consumers(lay.name)
            if not consumers or not all(isinstance(c, ir.Add) for c in consumers):
                raise UnsupportedError(
                    f"layer '{lay.name}' has no activation and feeds "
                    f"{[c.name for c in consumers]}; a conv/linear without activation may only "
                    f"feed Add layers or be the network output"
                )
            sigma = s_w * sigma_x
            self.scale[lay.name] = sigma
            self.pending_bias[lay.name] = bias
            return dataclasses.replace(lay, bias=None, shift=0, out_scale=sigma, **common)
        if lay.act is None:
            sigma_p = s_w * sigma_x / 2.0**self.f
            self.scale[lay.name] = sigma_p
            b_int = np.round(bias / sigma_p).astype(np.int64)
            return dataclasses.replace(lay, bias=b_int, shift=self.f, out_scale=sigma_p, **common)
        shift = self._frac_bits_for(lay.act, s_w * sigma_x)
        sigma_p = s_w * sigma_x / 2.0**shift
        b_int = np.round(bias / sigma_p).astype(np.int64)
        neuron, sigma_out = self._neuron(lay, lay.act, sigma_p)
        self.scale[lay.name] = np.asarray(sigma_out)
        return dataclasses.replace(
            lay, bias=b_int, shift=shift, out_scale=sigma_p, neuron=neuron, **common
        )

    def _add(self, lay: ir.Add) -> ir.Layer:
        shape = self.net.shapes[lay.name]
        channels = shape[0]
        sigmas = [
            np.broadcast_to(self.scale[s], (channels,)).astype(np.float64) for s in lay.inputs
        ]
        sigma_add = np.min(np.stack(sigmas), axis=0) / 2.0**self.f
        gains = tuple(np.round(s / sigma_add).astype(np.int64) for s in sigmas)
        bias = sum(
            (self.pending_bias.get(s, np.zeros(channels)) for s in lay.inputs), np.zeros(channels)
        )
        b_int = np.round(bias / sigma_add).astype(np.int64)
        depths = [self.tsa_depth[s] for s in lay.inputs]
        delays = tuple(self.ts * (max(depths) - d) for d in depths) if self.scheme == "sws" else ()
        if lay.act is None:
            if lay.name != self.net.output.name:
                raise UnsupportedError(
                    f"layer '{lay.name}': an Add without activation must be the network output"
                )
            self.scale[lay.name] = sigma_add
            return dataclasses.replace(
                lay, gains=gains, bias=b_int, out_scale=sigma_add, delays=delays, act=None
            )
        neuron, sigma_out = self._neuron(lay, lay.act, sigma_add)
        self.scale[lay.name] = np.asarray(sigma_out)
        return dataclasses.replace(
            lay,
            gains=gains,
            bias=b_int,
            out_scale=sigma_add,
            neuron=neuron,
            delays=delays,
            act=None,
        )

    # -- neurons -----------------------------------------------------------------------------
    def _theta(self, act: ir.ActQuant) -> float:
        """Real threshold of one neuron: γ (IF/MT-IF), γ/Q (TSA step), γ/L (LM-HT)."""
        gamma = float(act.clip)
        if self.scheme in ("if", "mtif"):
            return gamma
        if self.scheme == "sws":
            return gamma / int(act.levels)
        return gamma / self.levels

    def _frac_bits_for(self, act: ir.ActQuant, sigma_unshifted: np.ndarray) -> int:
        """Fewest fractional bits (<= frac_bits) giving the smallest Θ >= THRESHOLD_LSBS LSBs."""
        theta0 = self._theta(act) / float(np.max(sigma_unshifted))
        if theta0 <= 0:
            return self.f
        need = int(np.ceil(np.log2(THRESHOLD_LSBS / theta0)))
        return min(self.f, max(0, need))

    def _threshold(self, lay: ir.Layer, theta: float, sigma_p: np.ndarray) -> np.ndarray:
        th = np.round(theta / sigma_p).astype(np.int64)
        if np.any(th < 1):
            raise ModelError(
                f"layer '{lay.name}': integer threshold rounds to 0 "
                f"(θ={theta:g}); raise frac_bits (now {self.f})"
            )
        return th

    def _neuron(
        self, lay: ir.Layer, act: ir.ActQuant, sigma_p: np.ndarray
    ) -> tuple[ir.NeuronSpec, float]:
        q, gamma = int(act.levels), float(act.clip)
        if self.scheme in ("if", "mtif"):
            steps = self._steps_for(lay, q)
            th = self._threshold(lay, self._theta(act), sigma_p)
            spec = ir.IFSpec(
                threshold=th,
                max_level=steps,
                mem_bits=self.mem_bits,
                steps=steps,
                align=self.align or "when_T_differs",
            )
            return spec, gamma / steps
        if self.scheme == "sws":
            step = self._theta(act)
            th = self._threshold(lay, step, sigma_p)
            spec = ir.TSASpec(
                threshold=th,
                max_level=min(q, 2**self.tc - 1),
                mem_bits=self.mem_bits,
                coding_steps=self.tc,
                silent_steps=self.ts,
                rectify=self.rectify,
            )
            return spec, step
        t, lv = int(self.num_steps), self.levels
        if self.exact and q != t * lv:
            raise ModelError(
                f"layer '{lay.name}': exact LM-HT conversion needs levels Q = T·L "
                f"= {t * lv}, the layer has Q = {q}"
            )
        theta = self._theta(act)
        th = self._threshold(lay, theta, sigma_p)
        tgim, tgim_bits = None, 0
        if act.tgim is not None:
            omega = np.asarray(act.tgim, dtype=np.float64)
            if omega.shape != (t, t):
                raise ModelError(
                    f"layer '{lay.name}': act.tgim must be [T, T] = [{t}, {t}], got {omega.shape}"
                )
            tgim = np.round(omega * 2**FIXED_POINT_BITS).astype(np.int64)
            tgim_bits = FIXED_POINT_BITS
        leak, leak_bits = 1, 0
        if act.leak is not None and float(act.leak) != 1.0:
            if not 0.0 < float(act.leak) < 2.0:
                raise ModelError(f"layer '{lay.name}': act.leak must be in (0, 2), got {act.leak}")
            leak = round(float(act.leak) * 2**FIXED_POINT_BITS)
            leak_bits = FIXED_POINT_BITS
        spec = ir.LMHTSpec(
            threshold=th,
            max_level=t * lv,
            mem_bits=self.mem_bits,
            steps=t,
            num_levels=lv,
            tgim=tgim,
            tgim_bits=tgim_bits,
            leak=leak,
            leak_bits=leak_bits,
            reparameterized=self.reparam,
        )
        return spec, theta / t

    def _steps_for(self, lay: ir.Layer, levels: int) -> int:
        ns = self.num_steps
        if ns is None:
            steps = levels
        elif isinstance(ns, Mapping):
            steps = int(ns.get(lay.name, levels))
        else:
            steps = int(ns)
        if steps < 1:
            raise ModelError(f"layer '{lay.name}': time-steps must be >= 1, got {steps}")
        return steps
