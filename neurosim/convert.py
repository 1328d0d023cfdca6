"""Quantized ANN → integer SNN for each scheme: thresholds, biases and neuron parameters.

Imports ``ir``, ``schemes`` and ``errors``; each scheme's own rules (threshold, neuron spec,
delays, options) come from its record in ``neurosim.schemes``. Every spiking layer's integer
pre-activation is P = (Σ W_int·x) << f + B in LSBs of σ_P = s_w·σ_x / 2^f, where σ_x is the
real value of one unit of the layer's integer input; thresholds are Θ = round(θ / σ_P)
(neuron-models §1.5, §2.4).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurosim import ir, schemes
from neurosim.errors import ModelError, UnsupportedError
from neurosim.schemes import base
from neurosim.schemes.base import exact_int64

THRESHOLD_LSBS = base.THRESHOLD_LSBS
"""Fractional bits are added to a layer only until its smallest threshold spans this many LSBs."""


def convert(network: ir.Network, scheme: str, **options: Any) -> ir.Network:
    """Convert a quantized ANN into an integer SNN of ``scheme``.

    Parameters
    ----------
    network
        A ``kind="qann"`` network.
    scheme
        A registered scheme (``neurosim.schemes.names()``): ``if`` (uniform T, soft-reset IF,
        V0 = θ/2, θ = γ), ``mtif`` (T^l = the layer's levels; MT-SNN Theorem 1), ``sws`` (TSA
        neurons, β = 2; SWS App. A.1) or ``lmht`` (L levels, T steps, θ = γ/L; neuron-models
        §3.3).
    **options
        The scheme's keywords, declared in its ``Options`` dataclass (``neurosim.schemes
        .get(scheme).options``) with defaults, ranges and help; ``neurosim run --help`` lists
        them. Every scheme takes ``frac_bits`` (most fractional bits f of the integer
        membranes: a layer gets the fewest f_l <= f that give its smallest threshold at least
        ``THRESHOLD_LSBS`` LSBs) and ``mem_bits`` (membrane width; overflow is raised, never
        wrapped).

    Raises
    ------
    ModelError
        The network is not a quantized ANN, the scheme is unknown, or an option is unknown
        or out of range (names it).
    UnsupportedError
        A graph pattern the integer conversion cannot express.
    """
    if network.kind != "qann":
        raise ModelError(
            f"convert() needs a quantized ANN (kind 'qann'), got kind '{network.kind}'"
        )
    record = schemes.get(scheme)
    opts = record.options.parse(record.name, options)
    record.check(network, opts)
    ctx = _Converter(network, record, opts)
    layers = tuple(ctx.convert_layer(lay) for lay in network.layers)
    meta: dict[str, object] = {
        "source_model": network.name,
        "frac_bits": opts.frac_bits,
        "mem_bits": opts.mem_bits,
        **record.meta(network, opts),
    }
    snn = ir.Network(
        layers=layers, kind="snn", scheme=record.name, name=f"{network.name}:{scheme}", meta=meta
    )
    _check_max_pools(snn)
    return snn


def _check_max_pools(snn: ir.Network) -> None:
    """Max pooling is exact on whole-sample levels only: every layer reading through a
    MaxPool2d must integrate its producers' levels (``NeuronSpec.receives_levels``), unless
    the pool reads the analog input (its codes are the same at every step)."""
    analog = schemes.get(snn.scheme).input_encoding(snn.meta) is None
    for lay in snn.layers:
        if not isinstance(lay, ir.Conv2d | ir.Linear | ir.Add):
            continue
        for src in lay.inputs:
            root, chain = snn.producer(src)
            pool = next((c for c in chain if isinstance(c, ir.MaxPool2d)), None)
            if pool is None or (analog and isinstance(root, ir.Input)):
                continue
            neuron = lay.neuron
            if neuron is None or not neuron.receives_levels(snn.source_steps(lay.name)):
                how = (
                    "has no neuron (it reads per-step values)"
                    if neuron is None
                    else f"integrates per-step spikes under scheme '{snn.scheme}'"
                )
                raise UnsupportedError(
                    f"layer '{pool.name}' (maxpool2d): max pooling is exact only on "
                    f"whole-sample levels, and its consumer '{lay.name}' {how}; use AvgPool2d, "
                    f"or a scheme whose neurons receive their producers' levels "
                    f"(docs/import.md#max-pooling)"
                )


def mean_time_steps(network: ir.Network) -> float:
    """Latency metric in time-steps of a converted network, as its scheme defines it (MT-SNN
    T̄ = Σ_l T^l / L; SWS eq. 6 T_inf = Tc + Ts·L_TSA)."""
    return schemes.get(network.scheme).mean_time_steps(network)


class _Converter:
    """Walks the ANN in topological order, tracking σ (real value of one integer unit)."""

    def __init__(self, network: ir.Network, record: schemes.Scheme, opts: schemes.Options):
        self.net = network
        self.record = record
        self.opts = opts
        self.f = opts.frac_bits
        self.scale: dict[str, np.ndarray] = {}
        self.pending_bias: dict[str, np.ndarray] = {}
        self.depth: dict[str, int] = {}
        """Spiking layers on the longest path from the input (skip-path delays)."""

    # -- per layer ---------------------------------------------------------------------------
    def convert_layer(self, lay: ir.Layer) -> ir.Layer:
        depth = max((self.depth[s] for s in lay.inputs), default=0)
        self.depth[lay.name] = depth + (1 if ir.is_spiking(lay) else 0)
        if isinstance(lay, ir.Input):
            self.scale[lay.name] = np.asarray(float(lay.scale))
            return lay
        if isinstance(lay, ir.AvgPool2d):
            self.scale[lay.name] = self.scale[lay.inputs[0]] / float(lay.kernel**2)
            self._require_scalar(lay, lay.inputs[0])
            return lay
        if isinstance(lay, ir.MaxPool2d):
            self._require_scalar(lay, lay.inputs[0])
            self.scale[lay.name] = self.scale[lay.inputs[0]]
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

    def _lsb(self, lay: ir.Layer, sigma: np.ndarray, what: str) -> np.ndarray:
        """``sigma`` (the real value of one integer LSB), checked finite and > 0: scales whose
        product leaves the float range cannot be converted."""
        sigma = np.asarray(sigma, dtype=np.float64)
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            raise ModelError(
                f"layer '{lay.name}': the real value of one LSB of its {what} leaves the float "
                f"range ({float(np.min(sigma)):g} to {float(np.max(sigma)):g}); the weight "
                f"and input scales of the model multiply to 0 or infinity"
            )
        return sigma

    def _synaptic(self, lay: ir.Conv2d | ir.Linear) -> ir.Layer:
        src = lay.inputs[0]
        self._require_scalar(lay, src)
        co = lay.out_channels
        sigma_x = float(self.scale[src])
        s_w = np.broadcast_to(np.asarray(lay.weight_scale, dtype=np.float64), (co,))
        self._lsb(lay, s_w * sigma_x / 2.0**self.f, "pre-activation")
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
            b_int = exact_int64(bias / sigma_p, f"layer '{lay.name}': integer bias B")
            return dataclasses.replace(lay, bias=b_int, shift=self.f, out_scale=sigma_p, **common)
        shift = self._frac_bits_for(lay.act, s_w * sigma_x)
        sigma_p = self._lsb(lay, s_w * sigma_x / 2.0**shift, "pre-activation")
        b_int = exact_int64(bias / sigma_p, f"layer '{lay.name}': integer bias B")
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
        sigma_add = self._lsb(lay, np.min(np.stack(sigmas), axis=0) / 2.0**self.f, "sum")
        gains = tuple(
            exact_int64(s / sigma_add, f"layer '{lay.name}': integer gain of input '{src}'")
            for s, src in zip(sigmas, lay.inputs, strict=True)
        )
        bias = sum(
            (self.pending_bias.get(s, np.zeros(channels)) for s in lay.inputs), np.zeros(channels)
        )
        b_int = exact_int64(bias / sigma_add, f"layer '{lay.name}': integer bias B")
        delays = self.record.add_delays([self.depth[s] for s in lay.inputs], self.opts)
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
    def _frac_bits_for(self, act: ir.ActQuant, sigma_unshifted: np.ndarray) -> int:
        """Fewest fractional bits (<= frac_bits) giving the smallest Θ >= THRESHOLD_LSBS LSBs."""
        theta0 = self.record.theta(act, self.opts) / float(np.max(sigma_unshifted))
        with np.errstate(over="ignore", divide="ignore"):
            ratio = THRESHOLD_LSBS / theta0 if theta0 > 0 else np.inf
        if not np.isfinite(theta0) or not np.isfinite(ratio):
            return self.f  # the threshold check then names the layer
        need = int(np.ceil(np.log2(ratio)))
        return min(self.f, max(0, need))

    def _neuron(
        self, lay: ir.Layer, act: ir.ActQuant, sigma_p: np.ndarray
    ) -> tuple[ir.NeuronSpec, float]:
        build = schemes.NeuronBuild(
            layer=lay.name,
            act=act,
            sigma_p=sigma_p,
            options=self.opts,
            network=self.net,
            mem_bits=self.opts.mem_bits,
        )
        return self.record.make_neuron(build)
