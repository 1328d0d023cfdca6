"""Multi-core mapping: split each layer over neuromorphic cores and place the cores on the mesh.

Imports ``ir``, ``errors`` and ``mapping.multicore_geometry`` (placements, fan-out maps, XY
routes); the hardware config is read through its documented fields only. Owns the values the
timing model reads: core partitions and which core pairs exchange spikes (hardware-models §2.1).

Mapped layers ("stages") are every ``Conv2d``, ``Linear`` and ``Add``: the spiking layers, the
non-spiking conv of a residual branch (its neurons are accumulators whose partial sums feed the
``Add``) and the output layer. ``AvgPool2d``, ``MaxPool2d`` (of whole-sample levels) and
``Flatten`` are folded into their consumer:
the consumer's cores receive the producer's spikes unchanged and apply the pooling window in
their synapse addressing (a pooled input is the sum of the window's spikes), so pooling costs no
core, no neuron and no synapse memory of its own. That holds for a conv, a linear layer and an
Add (an ImageNet ResNet's first residual input arrives through the stem's pooling: an Add core
receives the spikes of its channels in its positions' pooling windows).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from neurosim import ir
from neurosim.errors import MappingError, UnsupportedError
from neurosim.mapping.multicore_geometry import (
    PLACEMENTS,
    Placement,
    balanced_bounds,
    conv_fanout,
    core_pairs,
    input_channel_bounds,
    pool_expand,
    run_overlap,
)

# --------------------------------------------------------------------------------------------
# Mapping values
# --------------------------------------------------------------------------------------------


def _read_only(*arrays: np.ndarray | None) -> None:
    """Frozen values hold read-only arrays (STYLE 4.2)."""
    for arr in arrays:
        if arr is not None:
            arr.flags.writeable = False


def _frozen(arr: np.ndarray) -> np.ndarray:
    """``arr``, read-only (a frozen value's derived array, shared by every reader)."""
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class LayerPartition:
    """One mapped layer split over cores: channel groups × runs of spatial positions."""

    name: str
    op: str
    role: str
    """``spiking`` (has a neuron), ``partial_sum`` (non-spiking conv feeding an Add) or
    ``output`` (the network's output layer)."""
    shape: tuple[int, int, int]
    """Output shape as (C, H, W); a vector layer of n neurons is (n, 1, 1)."""
    group_bounds: np.ndarray
    """int64 [G + 1]: channel boundaries of the G channel groups."""
    chunk_bounds: np.ndarray
    """int64 [J + 1]: boundaries of the J runs of C-order positions ``h·W + w``."""
    synapse_bytes: np.ndarray
    """int64 [cores]: synapse memory used on each core (bytes)."""
    first_core: int
    """Global index of this layer's first core (cores are numbered in placement order)."""
    xy: np.ndarray
    """int64 [cores, 2]: mesh position (x, y) of each core."""
    fanout: np.ndarray | None = None
    """Conv only: int64 [J, H_in·W_in], fan-out of an input position into chunk j
    (``conv_fanout``), in the layer's input space (after folded pooling)."""

    def __post_init__(self) -> None:
        _read_only(self.group_bounds, self.chunk_bounds, self.synapse_bytes, self.xy, self.fanout)

    @property
    def num_groups(self) -> int:
        return len(self.group_bounds) - 1

    @property
    def num_chunks(self) -> int:
        return len(self.chunk_bounds) - 1

    @property
    def num_cores(self) -> int:
        return self.num_groups * self.num_chunks

    @functools.cached_property
    def core_group(self) -> np.ndarray:
        """int64 [cores]: channel group of each core (core = group·J + chunk); read-only,
        computed on first use (the plan reads it once per edge and layer)."""
        return _frozen(np.arange(self.num_cores) // self.num_chunks)

    @functools.cached_property
    def core_chunk(self) -> np.ndarray:
        """int64 [cores]: position chunk of each core; read-only, computed on first use."""
        return _frozen(np.arange(self.num_cores) % self.num_chunks)

    @functools.cached_property
    def channels_per_core(self) -> np.ndarray:
        """int64 [cores]: output channels of each core; read-only, computed on first use."""
        return _frozen((self.group_bounds[1:] - self.group_bounds[:-1])[self.core_group])

    @functools.cached_property
    def positions_per_core(self) -> np.ndarray:
        """int64 [cores]: positions of each core; read-only, computed on first use."""
        return _frozen((self.chunk_bounds[1:] - self.chunk_bounds[:-1])[self.core_chunk])

    @functools.cached_property
    def neurons_per_core(self) -> np.ndarray:
        """int64 [cores]: neurons (or accumulators) held by each core; read-only, computed
        on first use."""
        return _frozen(self.channels_per_core * self.positions_per_core)

    @property
    def num_neurons(self) -> int:
        return int(np.prod(self.shape))

    def neuron_core(self) -> np.ndarray:
        """int64 [C·H·W]: the core (within this layer) holding each neuron, C-order."""
        c, h, w = self.shape
        g = np.searchsorted(self.group_bounds, np.arange(c), side="right") - 1
        j = np.searchsorted(self.chunk_bounds, np.arange(h * w), side="right") - 1
        return (g[:, None] * self.num_chunks + j[None, :]).reshape(-1)


@dataclass(frozen=True, eq=False)
class EdgeMapping:
    """Spikes (or partial sums) from one mapped layer to one consumer, and who talks to whom."""

    source: str
    """Producer: a mapped layer, or the network input (then ``from_host``)."""
    target: str
    via: tuple[str, ...]
    """Pool/flatten layers folded between them, in data-flow order."""
    kind: str
    """``dense`` (Linear: every core needs every input), ``spatial`` (Conv2d: a core needs its
    chunk's receptive fields) or ``one_to_one`` (Add: same neuron)."""
    payload: str
    """``spikes`` or ``partial_sums`` (multi-bit values of a non-spiking conv)."""
    from_host: bool
    """True for the network input: streamed in by the host, not over the mesh."""
    delay_steps: int = 0
    """``Add.delays`` of this input (global time-steps; SWS skip paths)."""
    need: np.ndarray | None = None
    """``spatial``, and ``one_to_one`` through pooling: bool [J_target, source positions],
    positions chunk j needs."""
    pair_source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 [pairs]: source core (within the source layer) of each communicating pair."""
    pair_target: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 [pairs]: target core (within the target layer)."""
    hops: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 [pairs]: XY hop count (Manhattan distance) of each pair."""

    def __post_init__(self) -> None:
        _read_only(self.need, self.pair_source, self.pair_target, self.hops)

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"


@dataclass(frozen=True, eq=False)
class MulticoreMapping:
    """A converted network resident on a multi-core chip: partitions, placement, hop counts."""

    family: ClassVar[str] = "multicore"
    network: ir.Network = field(repr=False)
    layers: tuple[LayerPartition, ...]
    """Mapped layers in network order (the pipeline stages)."""
    edges: tuple[EdgeMapping, ...]
    """Every input of every mapped layer (host inputs included), in consumer order."""
    mesh_width: int
    mesh_height: int
    neurons_per_core: int
    synapse_bytes_per_core: int
    weight_bits: int
    placement: str = "snake"

    @property
    def num_cores(self) -> int:
        """Cores used."""
        return sum(p.num_cores for p in self.layers)

    def layer(self, name: str) -> LayerPartition:
        for p in self.layers:
            if p.name == name:
                return p
        raise KeyError(f"layer '{name}' is not mapped; mapped: {[p.name for p in self.layers]}")

    def to_frame(self) -> pd.DataFrame:
        """One row per mapped layer: cores, per-core load, utilisation, hops to consumers."""
        rows = []
        for p in self.layers:
            out = [e for e in self.edges if e.source == p.name and not e.from_host]
            hops = np.concatenate([e.hops for e in out]) if out else np.zeros(0, np.int64)
            rows.append(
                {
                    "layer": p.name,
                    "op": p.op,
                    "role": p.role,
                    "cores": p.num_cores,
                    "first_core": p.first_core,
                    "neurons": p.num_neurons,
                    "neurons_per_core": int(p.neurons_per_core.max()),
                    "synapse_bytes_per_core": int(p.synapse_bytes.max()),
                    "neuron_utilisation": p.num_neurons / (p.num_cores * self.neurons_per_core),
                    "synapse_utilisation": float(p.synapse_bytes.sum())
                    / (p.num_cores * self.synapse_bytes_per_core),
                    "mean_hops": float(hops.mean()) if hops.size else float("nan"),
                    "max_hops": int(hops.max()) if hops.size else 0,
                }
            )
        return pd.DataFrame(rows)

    def cores_frame(self) -> pd.DataFrame:
        """One row per core: layer, mesh (x, y), channels, positions, neurons, synapse bytes."""
        frames = []
        for p in self.layers:
            g, j = p.core_group, p.core_chunk
            frames.append(
                pd.DataFrame(
                    {
                        "core": p.first_core + np.arange(p.num_cores),
                        "layer": p.name,
                        "x": p.xy[:, 0],
                        "y": p.xy[:, 1],
                        "channel_start": p.group_bounds[g],
                        "channel_stop": p.group_bounds[g + 1],
                        "position_start": p.chunk_bounds[j],
                        "position_stop": p.chunk_bounds[j + 1],
                        "neurons": p.neurons_per_core,
                        "synapse_bytes": p.synapse_bytes,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Compiler
# --------------------------------------------------------------------------------------------


def _shape3(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (
        (int(shape[0]), int(shape[1]), int(shape[2]))
        if len(shape) == 3
        else (int(np.prod(shape)), 1, 1)
    )


def _role(net: ir.Network, lay: ir.Layer) -> str:
    if ir.is_spiking(lay):
        return "spiking"
    return "output" if lay.name == net.output.name else "partial_sum"


def _source_chain(net: ir.Network, name: str) -> tuple[ir.Layer, tuple[ir.Layer, ...]]:
    """Follow pool/flatten layers back from ``name`` to a mapped layer or the input."""
    chain: list[ir.Layer] = []
    lay = net.layer(name)
    while isinstance(lay, ir.AvgPool2d | ir.MaxPool2d | ir.Flatten):
        chain.append(lay)
        lay = net.layer(lay.inputs[0])
    return lay, tuple(reversed(chain))


def _bits_per_channel(lay: ir.Layer, weight_bits: int) -> int:
    """Synapse memory one output channel needs (bits): its weights, or its Add gains."""
    if isinstance(lay, ir.Conv2d):
        return math.prod(lay.weight.shape[1:]) * weight_bits
    if isinstance(lay, ir.Linear):
        return int(lay.weight.shape[1]) * weight_bits
    return len(lay.inputs) * weight_bits


def _partition(
    lay: ir.Layer, shape: tuple[int, int, int], hw: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel groups and position chunks within the per-core neuron and synapse capacity."""
    npc = int(hw.core.neurons_per_core)
    syn_bits = 8 * int(hw.core.synapse_bytes_per_core)
    c, h, w = shape
    positions = h * w
    per_channel = _bits_per_channel(lay, int(hw.datapath.weight_bits))
    if per_channel > syn_bits:
        raise MappingError(
            f"layer '{lay.name}' does not fit: one output channel's synapses need "
            f"{-(-per_channel // 8)} bytes, a core has {hw.core.synapse_bytes_per_core} bytes "
            f"(core.synapse_bytes_per_core)"
        )
    if positions <= npc:
        chunks, by_neurons = 1, npc // positions
    else:
        chunks, by_neurons = -(-positions // npc), 1
    per_group = min(c, by_neurons, syn_bits // per_channel)
    groups = -(-c // per_group)
    group_bounds = balanced_bounds(c, groups)
    chunk_bounds = balanced_bounds(positions, chunks)
    sizes = np.diff(group_bounds)
    syn = -(-(sizes * per_channel) // 8)
    return group_bounds, chunk_bounds, np.repeat(syn, chunks).astype(np.int64)


def compile_multicore(
    network: ir.Network, hw: Any, *, placement: str | Placement = "snake"
) -> MulticoreMapping:
    """Map a converted network onto a multi-core chip (hardware-models §2.1).

    Each mapped layer (every Conv2d, Linear and Add) is split into channel groups × runs of
    spatial positions so that a core holds at most ``core.neurons_per_core`` neurons and its
    synapses fit ``core.synapse_bytes_per_core``: a conv core stores the K_h·K_w·C_in weights of
    each of its output channels once (weight sharing over positions), a linear core stores
    fan-in × neurons weights, an Add core one gain per input per channel, each at
    ``datapath.weight_bits``. The cores are placed on the mesh by ``placement`` (default
    ``snake``: layer order along a boustrophedon); hops are XY (Manhattan) distances.

    Parameters
    ----------
    network
        A converted SNN (``kind="snn"``).
    hw
        A ``MulticoreConfig``.
    placement
        A name in ``PLACEMENTS`` or a placement function.

    Returns
    -------
    MulticoreMapping

    Raises
    ------
    MappingError
        A layer does not fit: one output channel's synapses exceed a core's memory, or the
        network needs more cores than the chip has (names the layer, its cores and bytes per
        core, and the chip's capacity).
    """
    if network.kind != "snn":
        raise MappingError(f"compile_multicore needs a converted SNN, got kind '{network.kind}'")
    if callable(placement):
        place, place_name = placement, getattr(placement, "__name__", "custom")
    elif placement in PLACEMENTS:
        place, place_name = PLACEMENTS[placement], placement
    else:
        raise MappingError(f"unknown placement {placement!r}; allowed: {sorted(PLACEMENTS)}")
    width, height = int(hw.mesh.width), int(hw.mesh.height)
    num_cores = width * height
    mapped = [lay for lay in network.layers if isinstance(lay, ir.Conv2d | ir.Linear | ir.Add)]
    parts = []
    used = 0
    for lay in mapped:
        shape = _shape3(network.shapes[lay.name])
        gb, cb, syn = _partition(lay, shape, hw)
        cores = (len(gb) - 1) * (len(cb) - 1)
        if used + cores > num_cores:
            total = used + sum(
                (len(p[0]) - 1) * (len(p[1]) - 1)
                for p in (
                    _partition(x, _shape3(network.shapes[x.name]), hw)
                    for x in mapped[mapped.index(lay) + 1 :]
                )
            )
            raise MappingError(
                f"layer '{lay.name}' does not fit: it needs {cores} core{'s' * (cores != 1)} "
                f"({int(np.prod(shape))} neurons, up to {int(syn.max())} synapse bytes per "
                f"core) and the layers before it use {used} of the chip's {num_cores} cores "
                f"({width}x{height} mesh, {hw.core.neurons_per_core} neurons and "
                f"{hw.core.synapse_bytes_per_core} synapse bytes per core); the whole network "
                f"needs {total + cores} cores"
            )
        parts.append((lay, shape, gb, cb, syn, used))
        used += cores
    xy_all = np.asarray(
        place([(len(p[2]) - 1) * (len(p[3]) - 1) for p in parts], width, height), dtype=np.int64
    )
    if (
        xy_all.shape != (used, 2)
        or np.any(xy_all < 0)
        or np.any(xy_all[:, 0] >= width)
        or np.any(xy_all[:, 1] >= height)
        or len(np.unique(xy_all[:, 1] * width + xy_all[:, 0])) != used
    ):
        raise MappingError(
            f"placement '{place_name}' must give {used} distinct (x, y) "
            f"positions on the {width}x{height} mesh"
        )
    partitions: dict[str, LayerPartition] = {}
    for lay, shape, gb, cb, syn, first in parts:
        fan = None
        if isinstance(lay, ir.Conv2d):
            in_shape = network.shapes[lay.inputs[0]]
            fan = conv_fanout(
                (in_shape[1], in_shape[2]),
                (shape[1], shape[2]),
                tuple(lay.weight.shape[2:]),
                lay.stride,
                lay.padding,
                cb,
                lay.dilation,
            )
        partitions[lay.name] = LayerPartition(
            name=lay.name,
            op=lay.op,
            role=_role(network, lay),
            shape=shape,
            group_bounds=gb,
            chunk_bounds=cb,
            synapse_bytes=syn,
            first_core=first,
            xy=xy_all[first : first + (len(gb) - 1) * (len(cb) - 1)],
            fanout=fan,
        )
    edges = tuple(e for lay in mapped for e in _edges(network, lay, partitions, width))
    return MulticoreMapping(
        network=network,
        layers=tuple(partitions[lay.name] for lay in mapped),
        edges=edges,
        mesh_width=width,
        mesh_height=height,
        neurons_per_core=int(hw.core.neurons_per_core),
        synapse_bytes_per_core=int(hw.core.synapse_bytes_per_core),
        weight_bits=int(hw.datapath.weight_bits),
        placement=place_name,
    )


def _edges(
    net: ir.Network, lay: ir.Layer, parts: Mapping[str, LayerPartition], width: int
) -> list[EdgeMapping]:
    """The inputs of mapped layer ``lay``, with the core pairs that exchange data."""
    tgt = parts[lay.name]
    kind = (
        "spatial"
        if isinstance(lay, ir.Conv2d)
        else "dense"
        if isinstance(lay, ir.Linear)
        else "one_to_one"
    )
    delays = tuple(getattr(lay, "delays", ()) or ())
    out = []
    for i, name in enumerate(lay.inputs):
        root, chain = _source_chain(net, name)
        via = tuple(c.name for c in chain)
        delay = int(delays[i]) if i < len(delays) else 0
        if isinstance(root, ir.Input):
            out.append(
                EdgeMapping(
                    source=root.name,
                    target=lay.name,
                    via=via,
                    kind=kind,
                    payload="spikes",
                    from_host=True,
                    delay_steps=delay,
                )
            )
            continue
        src = parts[root.name]
        payload = "spikes" if ir.is_spiking(root) else "partial_sums"
        need = None
        # Who talks to whom: core (g_s, j_s) to core (g_t, j_t) iff their channel groups
        # and their position chunks both communicate (a Kronecker product of two small masks).
        if kind == "dense":
            group_comm = np.ones((src.num_groups, tgt.num_groups), dtype=bool)
            chunk_comm = np.ones((src.num_chunks, tgt.num_chunks), dtype=bool)
        elif kind == "one_to_one" and chain:
            if payload != "spikes":
                raise UnsupportedError(
                    f"layer '{lay.name}' (add) reads the partial sums of '{root.name}' through "
                    f"'{chain[0].name}'; only spikes are pooled into an Add"
                )
            need = _pooled_need(net, lay, root, chain, tgt)
            group_comm = run_overlap(src.group_bounds, tgt.group_bounds)
            chunk_comm = _chunk_need(src, need)
        elif kind == "one_to_one":
            group_comm, chunk_comm = _shared_neurons(src, tgt)
        else:
            need = _spatial_need(net, lay, root, chain, tgt)
            chunk_comm = _chunk_need(src, need)
            group_comm = np.ones((src.num_groups, tgt.num_groups), dtype=bool)
            if lay.groups > 1:
                # A grouped conv: a target core needs only its groups' input channels.
                lo, hi = input_channel_bounds(
                    tgt.group_bounds, src.shape[0], tgt.shape[0], lay.groups
                )
                sgb = src.group_bounds
                group_comm = np.minimum(sgb[1:, None], hi[None, :]) > np.maximum(
                    sgb[:-1, None], lo[None, :]
                )
        ps, pt, hops = core_pairs(group_comm, chunk_comm, src.xy, tgt.xy)
        out.append(
            EdgeMapping(
                source=root.name,
                target=lay.name,
                via=via,
                kind=kind,
                payload=payload,
                from_host=False,
                delay_steps=delay,
                need=need,
                pair_source=ps,
                pair_target=pt,
                hops=hops,
            )
        )
    return out


def _shared_neurons(src: LayerPartition, tgt: LayerPartition) -> tuple[np.ndarray, np.ndarray]:
    """bool [source groups, target groups] and [source chunks, target chunks] of an elementwise
    input (equal shapes, as an Add's inputs have): neuron (c, pos) is on the core of its
    channel group and position chunk on either side, so two cores share a neuron iff their
    channels and their positions overlap (``core_pairs`` of the two masks)."""
    return (
        run_overlap(src.group_bounds, tgt.group_bounds),
        run_overlap(src.chunk_bounds, tgt.chunk_bounds),
    )


def _chunk_need(src: LayerPartition, need: np.ndarray) -> np.ndarray:
    """bool [J_source, J_target]: source chunk j_s holds a position target chunk j_t needs
    (``need``: bool [J_target, source positions])."""
    bounds = src.chunk_bounds
    if need.shape[1] and bool((bounds[1:] > bounds[:-1]).all()):
        # Every chunk holds a position: one OR-reduction over the runs.
        return np.logical_or.reduceat(need, bounds[:-1], axis=1).T
    return np.stack([need[:, a:b].any(axis=1) for a, b in itertools.pairwise(bounds)])


def _pooled_need(
    net: ir.Network,
    lay: ir.Layer,
    root: ir.Layer,
    chain: tuple[ir.Layer, ...],
    tgt: LayerPartition,
) -> np.ndarray:
    """bool [J_target, source positions] for an elementwise (Add) input read through pooling:
    the source positions inside the pooling windows of each target chunk's own positions."""
    _, h, w = tgt.shape
    pos = np.arange(h * w)
    owner = np.searchsorted(tgt.chunk_bounds, pos, side="right") - 1
    own = np.zeros((tgt.num_chunks, h * w), dtype=bool)
    own[owner, pos] = True
    return _expand_through(net, lay, root, chain, own)


def _expand_through(
    net: ir.Network, lay: ir.Layer, root: ir.Layer, chain: tuple[ir.Layer, ...], need: np.ndarray
) -> np.ndarray:
    """Pull a per-chunk mask over ``lay``'s input space back through the folded pooling."""
    shapes = [net.shapes[root.name]] + [net.shapes[c.name] for c in chain]
    for c, before, after in zip(
        reversed(chain), reversed(shapes[:-1]), reversed(shapes[1:]), strict=True
    ):
        if not isinstance(c, ir.AvgPool2d | ir.MaxPool2d):
            raise UnsupportedError(
                f"layer '{lay.name}' ({lay.op}) reads through '{c.name}' "
                f"({c.op}); only pooling folds into its input"
            )
        pad = c.padding if isinstance(c, ir.MaxPool2d) else 0
        need = pool_expand(
            need, (after[1], after[2]), (before[1], before[2]), c.kernel, c.stride, pad
        )
    return need


def _spatial_need(
    net: ir.Network,
    lay: ir.Conv2d,
    root: ir.Layer,
    chain: tuple[ir.Layer, ...],
    tgt: LayerPartition,
) -> np.ndarray:
    """bool [J_target, source positions]: which source positions each target chunk reads."""
    return _expand_through(net, lay, root, chain, tgt.fanout > 0)
