"""NIR import: a ``.nir`` graph (snnTorch, Sinabs, Norse, Rockpool, Spyx, Lava-dl, SpikingJelly)
as an integer ``lif`` network, and its float reference.

Imports ``ir``, ``io``, ``schemes``, ``errors`` and the ``frontends.nir_*`` modules; the ``nir``
package only when a file is read or written (the ``nir`` extra). The graph is checked and
discretised by ``nir_graph`` (the equations are there), then quantized here:

- weights per output channel c to ``weight_bits``: s_w[c] = 2^e when every weight of the channel
  is an integer multiple of 2^e that fits (exact), else max|W[c]| / (2^(bits−1) − 1);
- each neuron's gain g folds into its parameters (the membrane u = v/g: u_t = λ·u + I_t + d/g),
  so the layer current is P = (Σ W_int·x) << f + B in LSBs of σ_P[c] = s_w[c]·σ_x / 2^f, with
  σ_x the real value of one input unit (a spike is 1, an average pool divides by k²);
- thresholds Θ = round(θ/(g·σ_P)), biases, reset values and drives likewise; f is the fewest
  fraction bits (≤ 24) that make all of them exact, and at least enough for every threshold to
  span 2^16 LSBs (or ``frac_bits`` for every layer);
- leaks λ = 1 − dt/τ (and a CubaLIF's α = 1 − dt/τ_syn) as λ_int / 2^h, exact in the fewest
  h ≤ ``leak_bits`` (else rounded).

A file that neurosim exported carries its own layers in node metadata and is read back from
them, bit for bit (``nir_export``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from neurosim import ir, schemes
from neurosim.errors import ModelError, UnsupportedError
from neurosim.frontends import nir_float
from neurosim.frontends.nir_graph import DEFAULT_DT, FloatGraph, FloatLayer, read_raw
from neurosim.frontends.nir_nodes import build
from neurosim.frontends.reference import ReferenceRun
from neurosim.io import native
from neurosim.schemes.base import THRESHOLD_LSBS
from neurosim.schemes.lif import LEAK_BITS, LIF, MAX_SHIFT, LIFSpec, leak_fixed_point

NATIVE_KEY = "neurosim"
"""Graph metadata key of a neurosim export (the native header without its layers)."""
LAYER_KEY = "neurosim_layer"
"""Node metadata key of a neurosim export: the layer's native header entry (JSON)."""
ARRAYS_KEY = "neurosim_arrays"
"""Node metadata key of a neurosim export: the layer's arrays ('/' written as '|')."""

DEFAULT_STEPS = 16
"""T written into an imported model; ``run`` re-times it to the steps of its event inputs."""

OUTPUT_FRAC_BITS = 8
"""Fraction bits of a non-spiking output layer whose bias is not exact in fewer."""


def load(
    path: str | Path,
    *,
    dt: float = DEFAULT_DT,
    weight_bits: int = 8,
    reset: str | None = None,
    num_steps: int = DEFAULT_STEPS,
    frac_bits: int | None = None,
    mem_bits: int = 32,
    leak_bits: int = LEAK_BITS,
    native_layers: bool = True,
) -> ir.Network:
    """Read a NIR file as an integer ``lif`` SNN (a spike-raster input of ``num_steps`` steps).

    Parameters
    ----------
    dt
        Seconds per step (default 1e-4, the NIR paper's); sets λ = 1 − dt/τ of LIF nodes.
    weight_bits
        Weight width (2..16), per output channel.
    reset
        None honours each node (v_reset all zero: reset to zero, else to v_reset); ``"zero"``,
        ``"value"`` or ``"subtract"`` override it. Sinabs and snnTorch export a subtractive reset
        as reset to zero: pass ``reset="subtract"`` for their graphs.
    num_steps
        T of the written model (``run`` follows its event inputs).
    frac_bits
        Fraction bits f of every layer (None: per layer, as the module docstring says).
    mem_bits, leak_bits
        Membrane width (overflow is raised) and most fractional bits of the leak.
    native_layers
        Read a neurosim export from its metadata (False: from its NIR primitives, as another
        framework would).
    """
    path = Path(path)
    raw = read_raw(path)
    meta = raw.get("metadata")
    if native_layers and isinstance(meta, dict) and NATIVE_KEY in meta:
        return _read_native(path, raw)
    _check_int("weight_bits", weight_bits, 2, 16)
    _check_int("num_steps", num_steps, 1, None)
    _check_int("mem_bits", mem_bits, 8, 60)
    _check_int("leak_bits", leak_bits, 0, 30)
    if frac_bits is not None:
        _check_int("frac_bits", frac_bits, 0, MAX_SHIFT)
    try:
        graph = build(raw, path.stem, dt=dt, reset=reset)
        return quantize(
            graph,
            num_steps=num_steps,
            weight_bits=weight_bits,
            frac_bits=frac_bits,
            mem_bits=mem_bits,
            leak_bits=leak_bits,
        )
    except (ModelError, UnsupportedError) as exc:
        raise type(exc)(f"{path}: {exc}") from None


def reference(path: str | Path, *, dt: float = DEFAULT_DT, reset: str | None = None, **_: Any):
    """The float reference of a NIR file (its primitives, discretised with ``dt`` and the reset
    override): a function of batch-first spikes [batch, T, *shape] → ``ReferenceRun``. Other
    import options do not change the graph's semantics and are ignored."""
    path = Path(path)
    try:
        graph = build(read_raw(path), path.stem, dt=dt, reset=reset)
    except (ModelError, UnsupportedError) as exc:
        raise type(exc)(f"{path}: {exc}") from None

    def run(spikes: np.ndarray) -> ReferenceRun:
        return nir_float.simulate(graph, spikes)

    return run


def _check_int(name: str, value: Any, lo: int, hi: int | None) -> None:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ModelError(f"{name} must be an integer {bound}, got {value!r}")


# --------------------------------------------------------------------------------------------
# Quantization
# --------------------------------------------------------------------------------------------


def _low_exponent(values: np.ndarray) -> int | None:
    """The largest e with every value an integer multiple of 2^e (None for all zeros)."""
    nz = values[values != 0]
    if nz.size == 0:
        return None
    mant, exp = np.frexp(nz)  # |mant| in [0.5, 1): nz = mant·2^exp, mant·2^53 an integer
    ints = np.abs(mant * 2.0**53).astype(np.int64)
    trailing = np.array([(int(i) & -int(i)).bit_length() - 1 for i in ints])
    return int(np.min(exp - 53 + trailing))


def weight_scales(w: np.ndarray, bits: int) -> np.ndarray:
    """s_w per output channel: the exact power of two when the channel's weights are integer
    multiples of it within ±(2^(bits−1) − 1), else max|W[c]| / (2^(bits−1) − 1); 1 for an
    all-zero channel."""
    qmax = 2 ** (bits - 1) - 1
    flat = w.reshape(w.shape[0], -1)
    out = np.ones(w.shape[0])
    for c, row in enumerate(flat):
        e = _low_exponent(row)
        if e is None:
            continue
        peak = float(np.max(np.abs(row)))
        out[c] = 2.0**e if peak / 2.0**e <= qmax else peak / qmax
    return out


def _fewest_exact_bits(ratios: list[np.ndarray], most: int) -> int | None:
    """The fewest f <= ``most`` with every ratio·2^f an integer, or None."""
    for f in range(most + 1):
        if all(np.all(r * 2.0**f == np.round(r * 2.0**f)) for r in ratios):
            return f
    return None


def _compact(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per-neuron int64 values as [C] when constant within every channel, else [N]."""
    per = values.reshape(shape[0], -1)
    return per[:, 0].copy() if np.all(per == per[:, :1]) else values


def quantize(
    graph: FloatGraph,
    *,
    num_steps: int,
    weight_bits: int,
    frac_bits: int | None,
    mem_bits: int,
    leak_bits: int,
) -> ir.Network:
    """The integer ``lif`` network of a discretised NIR graph (module docstring)."""
    layers: list[ir.Layer] = []
    sigma: dict[str, float] = {}
    for lay in graph.layers:
        if lay.op == "input":
            layers.append(
                ir.Input(name=lay.name, shape=lay.shape, scale=1.0, levels=1, steps=num_steps)
            )
            sigma[lay.name] = 1.0
        elif lay.op == "avgpool2d":
            layers.append(
                ir.AvgPool2d(
                    name=lay.name, inputs=(lay.input,), kernel=lay.kernel, stride=lay.stride
                )
            )
            sigma[lay.name] = sigma[lay.input] * lay.pool_scale
        elif lay.op == "flatten":
            layers.append(ir.Flatten(name=lay.name, inputs=(lay.input,)))
            sigma[lay.name] = sigma[lay.input]
        else:
            # Out-of-range parameters give inf/NaN ratios: checked there, named, not warned.
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                layer, sigma[lay.name] = _synaptic(
                    lay, sigma[lay.input], num_steps, weight_bits, frac_bits, mem_bits, leak_bits
                )
            layers.append(layer)
    meta = {
        "source_format": "NIR",
        "dt": graph.dt,
        "weight_bits": weight_bits,
        "reset": graph.reset or "file",
        "num_steps": num_steps,
        "nir_nodes": {lay.name: "+".join(lay.nodes) for lay in graph.layers},
    }
    net = ir.Network(layers=tuple(layers), kind="snn", scheme=LIF.name, name=graph.name, meta=meta)
    schemes.check_network(net)
    return net


def _synaptic(
    lay: FloatLayer,
    sigma_x: float,
    steps: int,
    weight_bits: int,
    frac_bits: int | None,
    mem_bits: int,
    leak_bits: int,
) -> tuple[ir.Layer, float]:
    """One conv/linear layer (and its neuron) in integers, and the real value of its output unit."""
    w, co = lay.weight, lay.weight.shape[0]
    s_w = weight_scales(w, weight_bits)
    w_int = np.round(w / s_w.reshape((-1,) + (1,) * (w.ndim - 1)))
    w_int = w_int.astype(np.int8 if weight_bits <= 8 else np.int16)
    unit = s_w * sigma_x  # real value of one unit of Σ W_int·x, per channel
    per = math.prod(lay.shape) // co
    unit_n = np.repeat(unit, per)
    b_ratio = lay.bias / unit
    neuron = lay.neuron
    where = f"node '{lay.nodes[-1]}'"
    if neuron is None:
        f = frac_bits
        if f is None:
            f = _fewest_exact_bits([b_ratio], MAX_SHIFT)
            f = OUTPUT_FRAC_BITS if f is None else f
        sigma_p = unit / 2.0**f
        bias = _ints(b_ratio * 2.0**f, where, "bias")
        cls = ir.Conv2d if lay.op == "conv2d" else ir.Linear
        layer = cls(
            name=lay.name,
            inputs=(lay.input,),
            weight=w_int,
            bias=bias if np.any(bias) else None,
            shift=f,
            out_scale=sigma_p,
            **_geometry(lay),
        )
        return layer, float(np.max(sigma_p))
    g = neuron.gain
    th_ratio = neuron.threshold / g / unit_n
    vr_ratio = neuron.v_reset / g / unit_n
    d_ratio = neuron.drive / g / unit_n
    ratios = [th_ratio, b_ratio, d_ratio] + ([vr_ratio] if neuron.reset == "value" else [])
    if not all(np.all(np.isfinite(r)) for r in ratios) or not np.all(th_ratio > 0):
        raise ModelError(
            f"{where}: threshold, bias and reset in units of (weight scale × input gain) must be "
            f"finite and the thresholds > 0; the node's weights or r, tau, v_threshold are too "
            f"small or too large to quantize"
        )
    if frac_bits is None:
        exact = _fewest_exact_bits(ratios, MAX_SHIFT) or 0
        need = math.ceil(math.log2(THRESHOLD_LSBS) - math.log2(float(np.min(th_ratio))))
        f = min(MAX_SHIFT, max(exact, need, 0))
    else:
        f = frac_bits
    scale = 2.0**f
    theta = _ints(th_ratio * scale, where, "v_threshold")
    if np.any(theta < 1):
        raise ModelError(
            f"{where}: a threshold rounds to 0 LSBs at {f} fraction bits; raise frac_bits"
        )
    lam, h = leak_fixed_point(neuron.leak, leak_bits)
    no_leak = bool(np.all(lam == 1 << h))
    syn, hs = (None, 0) if neuron.syn_leak is None else leak_fixed_point(neuron.syn_leak, leak_bits)
    drive = _ints(d_ratio * scale, where, "v_leak")
    spec = LIFSpec(
        threshold=_compact(theta, lay.shape),
        max_level=steps,
        mem_bits=mem_bits,
        steps=steps,
        leak=None if no_leak else _compact(lam, lay.shape),
        leak_bits=0 if no_leak else h,
        syn_leak=None if syn is None else _compact(syn, lay.shape),
        syn_leak_bits=hs,
        reset=neuron.reset,
        v_reset=(
            _compact(_ints(vr_ratio * scale, where, "v_reset"), lay.shape)
            if neuron.reset == "value"
            else None
        ),
        bias=_compact(drive, lay.shape) if np.any(drive) else None,
        strict=True,
        gain=1,
    )
    bias = _ints(b_ratio * scale, where, "bias")
    cls = ir.Conv2d if lay.op == "conv2d" else ir.Linear
    layer = cls(
        name=lay.name,
        inputs=(lay.input,),
        weight=w_int,
        bias=bias if np.any(bias) else None,
        shift=f,
        out_scale=unit / scale,
        neuron=spec,
        **_geometry(lay),
    )
    return layer, 1.0


def _ints(values: np.ndarray, where: str, what: str) -> np.ndarray:
    """``values`` rounded to int64; ModelError (never a wrap) beyond ±2^62 or not finite."""
    if not np.all(np.abs(values) < 2.0**62):
        raise ModelError(
            f"{where}: {what} is {float(np.max(np.abs(values))):g} LSBs at this layer's scale; "
            f"integers must stay within ±2^62 (a parameter is out of range for the weights)"
        )
    return np.round(values).astype(np.int64)


def _geometry(lay: FloatLayer) -> dict[str, int]:
    if lay.op != "conv2d":
        return {}
    return {
        "stride": lay.stride,
        "padding": lay.padding,
        "dilation": lay.dilation,
        "groups": lay.groups,
    }


# --------------------------------------------------------------------------------------------
# neurosim's own exports
# --------------------------------------------------------------------------------------------


def _read_native(path: Path, raw: dict[str, Any]) -> ir.Network:
    """The network a neurosim export describes in its metadata, exactly as it was written."""

    def fail(what: str) -> ModelError:
        return ModelError(f"{path}: neurosim metadata: {what}")

    def obj(text: Any, where: str) -> Any:
        try:
            return json.loads(_text(text))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise fail(f"{where} is not valid JSON (or nested too deep)") from None

    header = obj(raw["metadata"][NATIVE_KEY], f"graph metadata '{NATIVE_KEY}'")
    nodes = raw.get("nodes")
    names = header.pop("layer_nodes", None) if isinstance(header, dict) else None
    if not isinstance(names, list) or not isinstance(nodes, dict):
        raise fail("the graph's 'layer_nodes' must be a list of its node names")
    arrays: dict[str, np.ndarray] = {}
    entries = []
    for name in names:
        node = nodes.get(name) if isinstance(name, str) else None
        meta = node.get("metadata") if isinstance(node, dict) else None
        if not isinstance(meta, dict) or LAYER_KEY not in meta:
            raise fail(f"node {name!r}: missing, or without '{LAYER_KEY}' metadata")
        entries.append(obj(meta[LAYER_KEY], f"node '{name}': '{LAYER_KEY}'"))
        stored = meta.get(ARRAYS_KEY, {})
        if not isinstance(stored, dict):
            raise fail(f"node '{name}': '{ARRAYS_KEY}' must be a group of arrays")
        for key, arr in stored.items():
            arrays[str(key).replace("|", "/")] = np.asarray(arr)
    header["layers"] = entries
    return native.decode_network(header, arrays, path)


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


__all__ = ["DEFAULT_DT", "DEFAULT_STEPS", "load", "quantize", "reference", "weight_scales"]
