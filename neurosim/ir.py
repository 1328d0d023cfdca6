"""Network IR: a typed DAG of named layers, neuron specs, shape inference and validation.

A leaf module (imports only numpy, ``neurosim.errors``, ``neurosim.limits``, the stated
bounds it checks, and ``neurosim.ir_neuron``, the quantizer and neuron spec it re-exports).
One IR serves both stages of the
flow: a *quantized ANN* (``kind="qann"``: int weights with float scales, float biases and an
``ActQuant`` per activation) and a *converted SNN* (``kind="snn"``: int weights, integer biases
and thresholds in membrane LSBs, and a ``NeuronSpec`` per spiking layer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from neurosim.errors import ModelError
from neurosim.ir_neuron import (  # noqa: F401  (re-exported: ir.ActQuant, ...)
    ROUNDING_MODES,
    ActQuant,
    Dynamics,
    NeuronSpec,
    StepSchedule,
    rhu,
    round_levels,
)
from neurosim.limits import (  # noqa: F401  (re-exported: ir.MAX_LEVELS, ...)
    MAX_FILE_INT,
    MAX_LAYER_NEURONS,
    MAX_LEVELS,
    MAX_REAL,
    MAX_SCALE,
    MAX_TIME_STEPS,
    MIN_SCALE,
    WEIGHT_DTYPES,
    check_values,
)

# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Layer:
    """A named node of the network DAG; ``inputs`` name its producer layers."""

    op: ClassVar[str] = ""
    spiking_capable: ClassVar[bool] = False
    name: str
    inputs: tuple[str, ...] = ()

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        """Output shape (without batch) from the input shapes; ModelError names the layer."""
        raise NotImplementedError

    def _need_inputs(self, in_shapes: list[tuple[int, ...]], n: int) -> None:
        if len(in_shapes) != n:
            raise ModelError(
                f"layer '{self.name}' ({self.op}): needs {n} input(s), got {len(in_shapes)}"
            )


@dataclass(frozen=True, eq=False)
class Input(Layer):
    """The network input: analog integer codes 0..levels (real value = scale · code), or with
    ``steps`` > 0 a spike raster of that many time-steps (events, given with the inputs)."""

    op: ClassVar[str] = "input"
    shape: tuple[int, ...] = ()
    """(C, H, W) or (n,)."""
    scale: float = 1.0
    """Real value of one input code (input units per code; one spike of a raster)."""
    levels: int = 255
    """Largest input code (1 for a spike raster)."""
    steps: int = 0
    """0: analog codes [batch, *shape]; T > 0: 0/1 spikes [T, batch, *shape], emitted as given
    whatever the scheme (a scheme-independent input encoding)."""
    rounding: str = "half_up"
    """How real (float) inputs are rounded to codes (``ROUNDING_MODES``; ``quantize``)."""

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Integer codes of ``images``: integer arrays are codes already (returned as they
        are); real arrays become clip(round(x / scale), 0, levels) with this input's rounding,
        as the source graph's input quantizer computes them."""
        x = np.asarray(images)
        if not np.issubdtype(x.dtype, np.floating):
            return x
        if not np.all(np.isfinite(x)):
            raise ModelError(f"layer '{self.name}' (input): real inputs must be finite")
        # float32 images are divided in float32, as an ONNX QuantizeLinear does.
        wide = np.dtype(np.float32 if x.dtype == np.float32 else np.float64)
        q = round_levels(x.astype(wide) / wide.type(self.scale), self.rounding)
        return np.clip(q, 0, self.levels).astype(np.int64)

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        self._need_inputs(in_shapes, 0)
        if len(self.shape) not in (1, 3) or any(int(s) <= 0 for s in self.shape):
            raise ModelError(
                f"layer '{self.name}' (input): shape must be (C, H, W) or (n,) of positive "
                f"sizes, got {self.shape}"
            )
        if not MIN_SCALE <= float(self.scale) <= MAX_SCALE:
            raise ModelError(
                f"layer '{self.name}' (input): scale must be a number in [{MIN_SCALE:g}, "
                f"{MAX_SCALE:g}], got {self.scale}"
            )
        if not 1 <= int(self.levels) <= MAX_LEVELS:
            raise ModelError(
                f"layer '{self.name}' (input): levels must be in [1, {MAX_LEVELS}] (16-bit "
                f"codes), got {self.levels}"
            )
        if self.steps < 0 or (self.steps > 0 and self.levels != 1):
            raise ModelError(
                f"layer '{self.name}' (input): steps must be >= 0, and a spike raster "
                f"(steps > 0) has levels 1; got steps={self.steps} levels={self.levels}"
            )
        return tuple(int(s) for s in self.shape)


@dataclass(frozen=True, eq=False)
class _Synaptic(Layer):
    """Common fields of Conv2d and Linear (ANN or SNN form)."""

    spiking_capable: ClassVar[bool] = True
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    """Integer weights (int8, or int16 after subtracting a weight zero point)."""
    bias: np.ndarray | None = None
    """ANN: real bias per output channel (float64). SNN: integer bias B in membrane LSBs."""
    weight_scale: np.ndarray | None = None
    """ANN only: real value of one weight LSB per output channel (float64)."""
    shift: int = 0
    """SNN only: fractional bits f; P = (Σ W·x) << f + B (neuron-models §1.5, §2.4)."""
    out_scale: np.ndarray | None = None
    """SNN only: real value of one LSB of P per output channel (diagnostics and readout)."""
    act: ActQuant | None = None
    """ANN only: the quantized activation after this layer (None = linear output)."""
    neuron: NeuronSpec | None = None
    """SNN only: the neuron spec (None = non-spiking, its P is consumed directly)."""

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def _check_vector(self, arr: np.ndarray | None, what: str) -> None:
        if arr is not None and np.asarray(arr).shape not in ((self.out_channels,), ()):
            raise ModelError(
                f"layer '{self.name}': {what} must have one value per output "
                f"channel ({self.out_channels}), got shape {np.shape(arr)}"
            )


@dataclass(frozen=True, eq=False)
class Conv2d(_Synaptic):
    """2-D convolution (cross-correlation, zero padding), weight [Co, Ci/groups, Kh, Kw].

    PyTorch/ONNX semantics: input channels split into ``groups`` equal groups, each feeding
    Co/groups outputs (depthwise: groups = Ci); kernel taps ``dilation`` apart.
    """

    op: ClassVar[str] = "conv2d"
    stride: int = 1
    padding: int = 0
    groups: int = 1
    dilation: int = 1

    @property
    def extent(self) -> tuple[int, int]:
        """Rows and columns of input one output reads: (K − 1)·dilation + 1 each."""
        kh, kw = self.weight.shape[2:]
        return ((kh - 1) * self.dilation + 1, (kw - 1) * self.dilation + 1)

    @property
    def dense(self) -> bool:
        """True for an ordinary convolution (one group, adjacent taps)."""
        return self.groups == 1 and self.dilation == 1

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        self._need_inputs(in_shapes, 1)
        shape = in_shapes[0]
        if self.weight.ndim != 4:
            raise ModelError(
                f"layer '{self.name}' (conv2d): weight must be [Co, Ci, Kh, Kw], "
                f"got shape {self.weight.shape}"
            )
        if len(shape) != 3:
            raise ModelError(f"layer '{self.name}' (conv2d): input must be (C, H, W), got {shape}")
        co, ci, kh, kw = self.weight.shape
        if self.groups < 1 or self.dilation < 1 or co % self.groups:
            raise ModelError(
                f"layer '{self.name}' (conv2d): groups and dilation must be >= 1 and groups "
                f"must divide the {co} output channels, got groups={self.groups} "
                f"dilation={self.dilation}"
            )
        if ci * self.groups != shape[0]:
            raise ModelError(
                f"layer '{self.name}' (conv2d): weight expects {ci * self.groups} input "
                f"channels, input has {shape[0]}"
            )
        if self.stride < 1 or self.padding < 0 or kh < 1 or kw < 1:
            raise ModelError(
                f"layer '{self.name}' (conv2d): stride must be >= 1, padding >= 0 and the "
                f"kernel at least 1x1, got stride={self.stride} padding={self.padding} "
                f"kernel {kh}x{kw}"
            )
        if self.dilation > max(shape[1:]):
            raise ModelError(
                f"layer '{self.name}' (conv2d): dilation {self.dilation} is larger than the "
                f"{shape[1]}x{shape[2]} input; allowed: at most {max(shape[1:])}"
            )
        ekh, ekw = self.extent
        if self.padding > max(ekh, ekw):
            raise ModelError(
                f"layer '{self.name}' (conv2d): padding {self.padding} is wider than the "
                f"{ekh}x{ekw} kernel extent; allowed: at most {max(ekh, ekw)}"
            )
        ho = (shape[1] + 2 * self.padding - ekh) // self.stride + 1
        wo = (shape[2] + 2 * self.padding - ekw) // self.stride + 1
        if ho < 1 or wo < 1:
            raise ModelError(
                f"layer '{self.name}' (conv2d): kernel {kh}x{kw} does not fit "
                f"input {shape[1]}x{shape[2]} with padding {self.padding}"
            )
        self._check_vector(self.bias, "bias")
        self._check_vector(self.weight_scale, "weight_scale")
        return (int(co), int(ho), int(wo))


@dataclass(frozen=True, eq=False)
class Linear(_Synaptic):
    """Fully connected layer, weight [n_out, n_in]."""

    op: ClassVar[str] = "linear"

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        self._need_inputs(in_shapes, 1)
        shape = in_shapes[0]
        if self.weight.ndim != 2:
            raise ModelError(
                f"layer '{self.name}' (linear): weight must be [n_out, n_in], "
                f"got shape {self.weight.shape}"
            )
        if len(shape) != 1 or shape[0] != self.weight.shape[1]:
            raise ModelError(
                f"layer '{self.name}' (linear): weight expects input "
                f"({self.weight.shape[1]},), got {shape} (add a Flatten?)"
            )
        self._check_vector(self.bias, "bias")
        self._check_vector(self.weight_scale, "weight_scale")
        return (int(self.weight.shape[0]),)


@dataclass(frozen=True, eq=False)
class AvgPool2d(Layer):
    """Average pooling; the SNN sums the window and folds 1/k² into the consumer's scale."""

    op: ClassVar[str] = "avgpool2d"
    kernel: int = 2
    stride: int = 2

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        self._need_inputs(in_shapes, 1)
        shape = in_shapes[0]
        if len(shape) != 3:
            raise ModelError(
                f"layer '{self.name}' (avgpool2d): input must be (C, H, W), got {shape}"
            )
        if self.kernel < 1 or self.stride < 1:
            raise ModelError(
                f"layer '{self.name}' (avgpool2d): kernel and stride must be "
                f">= 1, got {self.kernel}, {self.stride}"
            )
        ho = (shape[1] - self.kernel) // self.stride + 1
        wo = (shape[2] - self.kernel) // self.stride + 1
        if ho < 1 or wo < 1:
            raise ModelError(
                f"layer '{self.name}' (avgpool2d): kernel {self.kernel} larger "
                f"than input {shape[1]}x{shape[2]}"
            )
        return (shape[0], ho, wo)


@dataclass(frozen=True, eq=False)
class MaxPool2d(Layer):
    """Max pooling (zero padding: its inputs are activations >= 0, so a zero pad never wins).

    Exact only on whole-sample levels: a consumer must integrate its producer's levels
    (``NeuronSpec.receives_levels``); per-step spikes cannot be max-pooled exactly, so the
    conversion raises UnsupportedError there (docs/import.md).
    """

    op: ClassVar[str] = "maxpool2d"
    kernel: int = 2
    stride: int = 2
    padding: int = 0

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        self._need_inputs(in_shapes, 1)
        shape = in_shapes[0]
        if len(shape) != 3:
            raise ModelError(
                f"layer '{self.name}' (maxpool2d): input must be (C, H, W), got {shape}"
            )
        if self.kernel < 1 or self.stride < 1 or not 0 <= self.padding < self.kernel:
            raise ModelError(
                f"layer '{self.name}' (maxpool2d): kernel and stride must be >= 1 and "
                f"0 <= padding < kernel, got {self.kernel}, {self.stride}, {self.padding}"
            )
        ho = (shape[1] + 2 * self.padding - self.kernel) // self.stride + 1
        wo = (shape[2] + 2 * self.padding - self.kernel) // self.stride + 1
        if ho < 1 or wo < 1:
            raise ModelError(
                f"layer '{self.name}' (maxpool2d): kernel {self.kernel} larger "
                f"than input {shape[1]}x{shape[2]}"
            )
        return (shape[0], ho, wo)


@dataclass(frozen=True, eq=False)
class Flatten(Layer):
    """Flatten (C, H, W) to (C·H·W,), C-order."""

    op: ClassVar[str] = "flatten"

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        self._need_inputs(in_shapes, 1)
        return (math.prod(in_shapes[0]),)


@dataclass(frozen=True, eq=False)
class Add(Layer):
    """Residual addition of its inputs, optionally followed by an activation / neuron.

    SNN form: current = Σ_i gains[i]·x_i + bias, with integer per-channel gains that put every
    input on the common LSB scale of the sum.
    """

    op: ClassVar[str] = "add"
    spiking_capable: ClassVar[bool] = True
    act: ActQuant | None = None
    """ANN only: the quantized activation after the sum."""
    gains: tuple[np.ndarray, ...] | None = None
    """SNN only: integer gain per input (per channel, int64)."""
    bias: np.ndarray | None = None
    """SNN only: integer bias per channel (the folded biases of non-spiking inputs)."""
    out_scale: np.ndarray | None = None
    """SNN only: real value of one LSB of the sum per channel."""
    neuron: NeuronSpec | None = None
    """SNN only: neuron after the sum."""
    delays: tuple[int, ...] = ()
    """SNN only: delay per input in global time-steps (TSA skip paths: Ts per skipped layer)."""

    def infer_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        if len(in_shapes) < 2:
            raise ModelError(
                f"layer '{self.name}' (add): needs at least 2 inputs, got {len(in_shapes)}"
            )
        if any(s != in_shapes[0] for s in in_shapes):
            raise ModelError(f"layer '{self.name}' (add): input shapes differ: {in_shapes}")
        if self.gains is not None and len(self.gains) != len(in_shapes):
            raise ModelError(
                f"layer '{self.name}' (add): {len(self.gains)} gains for {len(in_shapes)} inputs"
            )
        return in_shapes[0]


LAYER_TYPES: Mapping[str, type[Layer]] = {
    cls.op: cls for cls in (Input, Conv2d, Linear, AvgPool2d, MaxPool2d, Flatten, Add)
}
"""Layer registry: op name → class (used by the file formats)."""


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Network:
    """A validated DAG of layers in topological order, with the shape of every layer.

    ``kind`` is ``"qann"`` (quantized ANN) or ``"snn"`` (converted, integer); ``scheme`` names
    the conversion scheme of an SNN; ``meta`` holds file-level facts (strings and numbers).
    """

    layers: tuple[Layer, ...]
    kind: str = "qann"
    scheme: str | None = None
    name: str = "network"
    meta: Mapping[str, object] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "shapes", self._validate())
        # Name -> layer (names are unique once validated): ``layer`` is asked per layer and
        # edge by the mappings and timing plans.
        object.__setattr__(self, "_by_name", {lay.name: lay for lay in self.layers})

    # -- queries -----------------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        """The layer called ``name``; ModelError lists the known names otherwise."""
        lay = self._by_name.get(name) if isinstance(name, str) else None
        if lay is not None:
            return lay
        raise ModelError(f"no layer '{name}'; layers are {[x.name for x in self.layers]}")

    @property
    def input(self) -> Input:
        return next(lay for lay in self.layers if isinstance(lay, Input))

    @property
    def output(self) -> Layer:
        """The sink of the graph (the classifier): a linear layer, or in an SNN also a spiking
        layer whose spike counts are the outputs."""
        return self.layers[-1]

    def consumers(self, name: str) -> list[Layer]:
        """Layers that read layer ``name``."""
        return [lay for lay in self.layers if name in lay.inputs]

    def spiking_layers(self) -> list[Layer]:
        """Layers with a neuron (SNN) or a quantized activation (ANN), in order."""
        return [lay for lay in self.layers if is_spiking(lay)]

    def neurons(self) -> list[NeuronSpec]:
        """The neuron spec of every spiking layer of an SNN, in order."""
        return [lay.neuron for lay in self.layers if getattr(lay, "neuron", None) is not None]

    # -- graph walks ---------------------------------------------------------------------------
    def producer(self, name: str) -> tuple[Layer, tuple[Layer, ...]]:
        """Follow AvgPool2d, MaxPool2d and Flatten back from layer ``name`` to the layer whose
        output they carry (the input, a spiking layer or a synaptic layer without activation).

        Returns the producer and the folded pool/flatten layers in data-flow order (what a
        consumer applies while reading the producer's output).
        """
        lay = self.layer(name)
        chain: list[Layer] = []
        while isinstance(lay, AvgPool2d | MaxPool2d | Flatten):
            chain.append(lay)
            lay = self.layer(lay.inputs[0])
        return lay, tuple(reversed(chain))

    def pool_area(self, name: str) -> int:
        """Product of k² over the AvgPool2d layers between ``name`` and its producer."""
        return math.prod(p.kernel**2 for p in self.producer(name)[1] if isinstance(p, AvgPool2d))

    def spiking_sources(self, name: str) -> list[Layer]:
        """The spiking layers whose outputs reach layer ``name`` through non-spiking layers
        (pooling, flatten, a residual branch's conv without activation); the input excluded.
        MT-SNN alignment compares a layer's T with these producers' T."""
        found, todo = [], list(self.layer(name).inputs)
        while todo:
            src = self.layer(todo.pop())
            if isinstance(src, Input):
                continue
            if is_spiking(src):
                found.append(src)
            else:
                todo.extend(src.inputs)
        return found

    def spike_sources(self, name: str) -> list[Layer]:
        """The producers (``producer``) whose spikes feed layer ``name``'s synaptic ops: a
        conv/linear's one input; an Add's inputs except a residual branch's conv without
        activation (whose accumulations are its own)."""
        lay = self.layer(name)
        if isinstance(lay, Conv2d | Linear):
            return [self.producer(lay.inputs[0])[0]]
        if not isinstance(lay, Add):
            return []
        out = []
        for src in lay.inputs:
            prod = self.producer(src)[0]
            if not (isinstance(prod, Conv2d | Linear) and not is_spiking(prod)):
                out.append(prod)
        return out

    def source_steps(self, name: str) -> list[int]:
        """T of each spiking source of layer ``name`` (``spiking_sources``; SNN only)."""
        return [src.neuron.num_steps for src in self.spiking_sources(name)]

    # -- validation --------------------------------------------------------------------------
    def _validate(self) -> dict[str, tuple[int, ...]]:
        if self.kind not in ("qann", "snn"):
            raise ModelError(f"network kind must be 'qann' or 'snn', got {self.kind!r}")
        if self.kind == "snn" and (not isinstance(self.scheme, str) or not self.scheme):
            raise ModelError(f"an SNN names its conversion scheme, got {self.scheme!r}")
        if not self.layers:
            raise ModelError("network has no layers")
        shapes: dict[str, tuple[int, ...]] = {}
        inputs = [lay for lay in self.layers if isinstance(lay, Input)]
        if len(inputs) != 1:
            raise ModelError(f"network needs exactly one input layer, found {len(inputs)}")
        for lay in self.layers:
            if not isinstance(lay, Layer) or type(lay) not in LAYER_TYPES.values():
                raise ModelError(
                    f"unknown layer object {lay!r}; allowed ops: {sorted(LAYER_TYPES)}"
                )
            if not lay.name or not isinstance(lay.name, str):
                raise ModelError(f"layer {lay!r} has no name")
            if lay.name in shapes:
                raise ModelError(f"layer name '{lay.name}' is used twice")
            for src in lay.inputs:
                if src not in shapes:
                    raise ModelError(
                        f"layer '{lay.name}': input '{src}' is not defined before "
                        f"it (layers must be in topological order)"
                    )
            shapes[lay.name] = lay.infer_shape([shapes[s] for s in lay.inputs])
            size = math.prod(shapes[lay.name])
            if size > MAX_LAYER_NEURONS:
                raise ModelError(
                    f"layer '{lay.name}' ({lay.op}): output {shapes[lay.name]} holds {size} values "
                    f"per sample, more than the {MAX_LAYER_NEURONS} neurosim simulates in a layer"
                )
            self._check_payload(lay)
        sinks = [
            lay.name
            for lay in self.layers
            if not self.consumers(lay.name) and not isinstance(lay, Input)
        ]
        if sinks != [self.layers[-1].name]:
            raise ModelError(
                f"network must have exactly one output, the last layer; "
                f"layers nobody reads: {sinks}"
            )
        if is_spiking(self.output) and self.kind == "qann":
            raise ModelError(
                f"layer '{self.output.name}': the output layer must be linear "
                f"(no activation / neuron)"
            )
        return shapes

    def _check_payload(self, lay: Layer) -> None:
        name = lay.name
        check_values(lay, self.kind)  # the stated bounds of every value (neurosim.limits)
        if isinstance(lay, _Synaptic):
            if self.kind == "qann":
                if lay.weight_scale is None:
                    raise ModelError(f"layer '{name}': weight_scale must be given")
                if lay.neuron is not None:
                    raise ModelError(f"layer '{name}': a quantized ANN carries act, not neuron")
            else:
                if lay.act is not None:
                    raise ModelError(f"layer '{name}': an SNN layer carries neuron, not act")
                if lay.bias is not None and not np.issubdtype(lay.bias.dtype, np.integer):
                    raise ModelError(f"layer '{name}': SNN bias must be integer")
        for quantizer in (lay, getattr(lay, "act", None)):
            rounding = getattr(quantizer, "rounding", "half_up")
            if not isinstance(quantizer, Layer | ActQuant) or rounding in ROUNDING_MODES:
                continue
            raise ModelError(
                f"layer '{name}': rounding must be one of {list(ROUNDING_MODES)}, got {rounding!r}"
            )
        neuron = getattr(lay, "neuron", None)
        if neuron is not None:
            first = next(
                (x.neuron for x in self.layers if getattr(x, "neuron", None) is not None), None
            )
            if first is not None and neuron.family != first.family:
                raise ModelError(
                    f"layer '{name}': neuron family '{neuron.family}' does not belong to "
                    f"scheme '{self.scheme}' (its layers use '{first.family}')"
                )


def is_spiking(layer: Layer) -> bool:
    """True for a layer followed by an activation (ANN) or a neuron (SNN)."""
    return getattr(layer, "act", None) is not None or getattr(layer, "neuron", None) is not None
