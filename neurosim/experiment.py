"""One evaluation of a model under a scheme on a hardware config, and the papers' comparison table.

Imports the whole flow (io, zoo, convert, functional, hw, mapping, timing, energy, qann). Used by
``neurosim run``, ``neurosim table`` and ``neurosim sweep``; an evaluation is a functional step
(``run_functional``, hardware-independent) followed by a cost step per hardware point
(``hardware_cost``). A setting that cannot run becomes a row with its error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurosim import (
    convert,
    energy,
    families,
    frontends,
    functional,
    io,
    ir,
    metrics,
    qann,
    schemes,
    timing,
    zoo,
)
from neurosim._cache import cache_dir
from neurosim._files import atomic_write
from neurosim.errors import ConfigError, ModelError, NeurosimError
from neurosim.hw.energy_table import load_energy_table
from neurosim.io.inputs import BUNDLED_MODEL, BUNDLED_TEST_SET, bundled_path, load_inputs
from neurosim.trace import Trace


def table_settings() -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """The settings ``neurosim table`` compares (one row each), after the papers' tables: every
    registered scheme's ``table_settings``, in registry order."""
    return schemes.settings()


DEFAULT_STREAM = 8
"""Samples streamed through the timing model unless told otherwise: the one default of
``run``, ``table``, sweeps and the Python API, so one setting gives the same figures in each."""


def table_columns() -> tuple[str, ...]:
    """Columns of the comparison table: the setting, its status, then the shared metrics
    (``metrics.columns()``: units in the names, per inference unless named otherwise).

    ``energy_pj`` is the whole system (compute, neurons, SRAM, DRAM, NoC, static);
    ``compute_energy_pj`` is the papers' E_SNN (synaptic ops + first-layer MACs) and
    ``energy_ratio`` = ``ann_energy_pj`` / ``compute_energy_pj``, the like-for-like E_ANN/E_SNN
    of MT-SNN Table 7 (both sides compute only)."""
    return ("setting", "scheme", "status", "error", *metrics.columns())


def load_network(spec: str | None) -> ir.Network:
    """The network named by ``spec``: a model file (native ``.npz`` or any format
    ``neurosim.frontends`` imports), ``zoo:NAME[:DATASET]`` or, for None, the bundled digits
    CNN."""
    if spec is None:
        return io.load_model(bundled_path(BUNDLED_MODEL))
    if spec.startswith("zoo:"):
        parts = spec.split(":")
        if len(parts) > 3:
            raise ModelError(f"model {spec!r}: expected zoo:NAME or zoo:NAME:DATASET")
        return zoo_network(parts[1], parts[2] if len(parts) > 2 else "cifar10")
    return frontends.load_model(spec)


def zoo_network(name: str, dataset: str = "cifar10") -> ir.Network:
    """``zoo.build(name, dataset=dataset)`` through the model cache (``neurosim._cache``).

    A zoo model is a pure function of its name, its dataset, the code that builds it and
    numpy's random streams; its file name hashes all of them, so a changed builder never
    serves a stale model. Building VGG-16 takes about 0.6 s (CIFAR) or 15 s (ImageNet),
    loading it about 0.03 s or 0.3 s. The name and dataset are checked before anything is
    looked up (a name is never a path). An entry is trusted only if its bytes hash to the
    SHA-256 recorded beside it when it was written (``<entry>.sha256``): a damaged, truncated
    or edited entry, or one without its hash, is rebuilt and rewritten. A cache folder that
    cannot be written is left alone (the model is built each time).
    """
    zoo.check_name(name, dataset)
    folder = cache_dir()
    if folder is None:
        return zoo.build(name, dataset=dataset)
    path = folder / "zoo" / f"{name}_{dataset}_{_zoo_key(name, dataset)}.npz"
    net = _cached(path)
    if net is not None and net.meta.get("zoo") == name and net.meta.get("dataset") == dataset:
        return net
    net = zoo.build(name, dataset=dataset)
    with contextlib.suppress(OSError, NeurosimError):
        io.save_model(net, path, compress=False)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        atomic_write(_hash_path(path), (digest + "\n").encode())
    return net


def _hash_path(path: Path) -> Path:
    """The file beside a cache entry that holds the SHA-256 of its bytes."""
    return path.with_name(path.name + ".sha256")


def _cached(path: Path) -> ir.Network | None:
    """The model in cache entry ``path`` if its bytes match their recorded hash, else None.

    The bytes are hashed in a thread while they are decoded (both release the GIL for most of
    their work): VGG-16 ImageNet's 139 MB took 0.12 s to hash and 0.2 s to decode, one after
    the other, at the start of every command that used it."""
    try:
        data = path.read_bytes()
        expected = _hash_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    with ThreadPoolExecutor(1, thread_name_prefix="neurosim-cache-hash") as pool:
        digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        try:
            net, failure = io.load_model(path, data=data), None
        except Exception as exc:  # judged once the hash is known, as if decoded after it
            net, failure = None, exc
        if digest.result() != expected:
            return None
    if failure is not None and not isinstance(failure, ModelError):
        raise failure
    return net


def _zoo_key(name: str, dataset: str) -> str:
    """Hash of what a zoo model depends on: name, dataset, numpy's version and the source of
    the modules that build and store it."""
    h = hashlib.sha256(f"{name}:{dataset}:{np.__version__}".encode())
    for module in (zoo, qann, ir, io.native):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def resolve_model(
    spec: str | None, inputs: str | None, samples: int | None
) -> tuple[ir.Network, np.ndarray, np.ndarray | None]:
    """Model, input codes and labels for a model ``spec`` (see ``load_network``) and an
    optional inputs file; ``samples`` keeps the first N. Real-valued (float) images are
    quantized by the model's input layer (``ir.Input.quantize``: its scale, levels and
    rounding).

    The bundled model defaults to its 540 held-out images, a zoo model to ``samples`` (default
    8) seeded random codes; a model file needs an inputs file.
    """
    if samples is not None and samples < 1:
        raise ConfigError(f"samples (--samples) must be an integer >= 1, got {samples}")
    net = load_network(spec)
    if inputs:
        images, labels = load_inputs(inputs)
        net = fit_inputs(net, images, inputs)
    elif spec is None:
        images, labels = load_inputs(bundled_path(BUNDLED_TEST_SET))
    elif spec.startswith("zoo:"):
        images, labels = zoo.random_inputs(net, samples or 8), None
    else:
        raise ModelError(
            f"--model {spec}: give --inputs FILE.npz (array 'images', or 'spikes' for event "
            f"inputs, and optionally 'labels') to simulate it"
        )
    if samples is not None:
        images = images[:samples]
        labels = None if labels is None else labels[:samples]
    # Real-valued images become codes as the model's input quantizer makes them.
    images = net.input.quantize(images)
    if len(images) == 0:
        raise ModelError(
            f"inputs {inputs or 'of the model'} hold no images; at least one is needed"
        )
    try:
        functional.check_inputs(net, images)
    except ModelError as exc:
        raise ModelError(f"{inputs or 'inputs'}: {exc}") from None
    return net, images, labels


def fit_inputs(net: ir.Network, inputs: np.ndarray, source: str = "inputs") -> ir.Network:
    """``net`` run on ``inputs``: a network with a spike-raster input takes spikes [N, T, ...]
    and is re-timed to their T (``Scheme.with_steps``: an imported network follows its event
    inputs); one reading codes takes codes."""
    rank = len(net.shapes[net.input.name])
    if net.input.steps:
        if inputs.ndim != rank + 2:
            raise ModelError(
                f"model '{net.name}' takes event inputs: {source} needs an array 'spikes' "
                f"[T, N, {', '.join(map(str, net.input.shape))}], got shape {inputs.shape}"
            )
        steps = int(inputs.shape[1])
        if steps != net.input.steps:
            net = schemes.get(net.scheme).with_steps(net, steps)
    elif inputs.ndim == rank + 2:
        raise ModelError(f"model '{net.name}' reads images (integer codes); {source} holds spikes")
    return net


def float_reference(spec: str | None):
    """The float reference of a model file in a foreign SNN format (a NIR graph's own
    semantics; ``frontends.reference``), or None (native, zoo and ANN models)."""
    if spec is None or spec.startswith("zoo:"):
        return None
    return frontends.reference(spec)


def setting_label(scheme: str, options: Mapping[str, Any]) -> str:
    """Readable name of a setting, e.g. ``sws Tc=8 Ts=2`` (the scheme's option labels)."""
    return schemes.get(scheme).label(options)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything one setting produced: the row and the values behind it."""

    row: dict[str, object]
    network: ir.Network | None = None
    trace: Trace | None = None
    timing: timing.TimingResult | None = None
    energy: energy.EnergyBreakdown | None = None
    reference_layers: pd.DataFrame | None = None
    """Per-layer spike agreement with the float reference (imported SNNs)."""
    functional: FunctionalResult | None = None
    """The functional half, which a later setting on the same images may carry over (``known``
    of ``evaluate``); ``evaluations.evaluate_settings`` drops it once its group is done."""


@dataclass(frozen=True, eq=False)
class FunctionalResult:
    """The hardware-independent half of an evaluation (DESIGN decision 1: functional once).

    Depends only on (model, scheme and options, inputs): a sweep computes it once and costs it
    on every hardware point with ``hardware_cost``.
    """

    ann: ir.Network | None
    """The quantized ANN (its MACs are the E_ANN baseline); None for a model that is an SNN."""
    snn: ir.Network
    """The converted SNN (or the model itself when it is one)."""
    trace: Trace
    """Op counts over every input (spikes not kept): accuracy and energy per inference."""
    timed: Trace
    """The first ``stream`` inputs again, spikes kept: the timing models read them."""
    stream: int
    """Samples streamed through the timing model (``timed.batch_size``)."""
    row: Mapping[str, object]
    """``scheme``, accuracy, agreement with the quantized ANN (or, for an imported SNN, with its
    float reference), mean time-steps and per-image op counts (spikes, synaptic ops,
    first-layer MACs)."""
    reference_layers: pd.DataFrame | None = None
    """Per spiking layer, the share of spikes (every neuron, step and sample) equal to the
    float reference's, when the model has one (``reference_agreement``)."""


REFERENCE_BATCH = 16
"""Samples an imported SNN and its float reference run together (bounds the reference's memory:
float64 values of every layer for T steps)."""

REFERENCE_COLUMNS = ("reference_accuracy", "reference_agreement", "reference_spike_agreement")
"""Row keys of a model that is an SNN with a float reference: its accuracy, the share of
samples whose prediction equals the reference's, the share of equal output spikes."""


@dataclass(frozen=True, eq=False)
class HardwareCost:
    """The per-hardware-point half of an evaluation: mapping, timing and energy of one config."""

    row: Mapping[str, object]
    """``metrics.hardware()``: ``hw``, latency (cycles, µs), throughput (samples/s), stalls per
    sample and as shares of stage time, energies (pJ per inference), E_ANN/E_SNN and OPF."""
    mapping: object
    """``families.compile(snn, config)`` (the family's mapping, e.g. a ``PEArrayMapping``)."""
    timing: timing.TimingResult
    energy: energy.EnergyBreakdown


def run_functional(
    net: ir.Network,
    images: np.ndarray,
    labels: np.ndarray | None,
    scheme: str,
    options: Mapping[str, object],
    *,
    stream: int = DEFAULT_STREAM,
    batch_size: int = 256,
    reference: qann.QannPrediction | Callable[[], qann.QannPrediction] | None = None,
    progress: Callable[[int], None] | None = None,
    float_reference: Callable[[np.ndarray], Any] | None = None,
    snn: ir.Network | None = None,
    known: Sequence[FunctionalResult] = (),
) -> FunctionalResult:
    """Convert ``net`` to ``scheme`` and run the functional pass: the hardware-independent step.

    Op counts and accuracy come from every image (spikes not kept); the first ``stream``
    images run again with spikes kept for the timing models (cheap next to the first run).
    When the stream is every image, one run with spikes kept serves both. ``reference``: the
    quantized ANN's ``qann.predict`` on ``images``, or a function giving it (called after the
    functional pass: it may still be computing meanwhile), computed here if None; ``snn``: the
    conversion, if the caller made it already (``evaluate`` maps it first). ``known``:
    functional results of other settings on the same images and stream; one whose SNN this
    one fires spike for spike like (``functional.same_spikes``) is carried over, not rerun.

    A ``net`` that is already an SNN (``kind="snn"``, e.g. an imported NIR graph) runs as it
    is: ``scheme`` must be its own and ``options`` empty, there is no quantized-ANN reference
    (``ann_*`` are NaN), and ``float_reference`` (``float_reference(spec)``), if given, is run
    on the same inputs for ``REFERENCE_COLUMNS`` and ``reference_layers``.
    """
    if net.kind == "snn":
        return _run_snn(
            net, images, labels, scheme, options, stream, batch_size, float_reference, progress
        )
    if snn is None:
        snn = convert.convert(net, scheme, **options)
    n = max(1, min(stream, len(images)))
    for k in known:
        if _carries(k, snn, len(images), n):
            return carry(k, snn)
    whole = n == len(images)
    tr = functional.run(snn, images, batch_size=batch_size, keep_spikes=whole, progress=progress)
    timed = tr if whole else functional.run(snn, images[:n], batch_size=batch_size)
    if reference is None:
        ref = qann.predict(net, images)
    else:
        ref = reference() if callable(reference) else reference
    if whole:
        tr = tr.without_spikes()  # the spikes live in ``timed`` only
    row = {
        "scheme": scheme,
        "accuracy": _accuracy(tr.predictions, labels),
        "ann_accuracy": _accuracy(ref.predictions, labels),
        "ann_agreement": float(np.mean(tr.predictions == ref.predictions)),
        **_op_row(snn, tr),
    }
    return FunctionalResult(ann=net, snn=snn, trace=tr, timed=timed, stream=n, row=row)


def _op_row(snn: ir.Network, tr: Trace) -> dict[str, float]:
    return {
        "mean_time_steps": convert.mean_time_steps(snn),
        "spikes_per_inference": tr.per_sample("spikes"),
        "synaptic_ops_per_inference": tr.per_sample("synaptic_ops"),
        "first_layer_macs_per_inference": tr.per_sample("first_layer_macs"),
    }


def _run_snn(
    snn: ir.Network,
    images: np.ndarray,
    labels: np.ndarray | None,
    scheme: str,
    options: Mapping[str, object],
    stream: int,
    batch_size: int,
    float_ref,
    progress,
) -> FunctionalResult:
    """A model that is already an SNN (an imported NIR graph, a converted native file): no
    conversion and no quantized ANN; with a float reference, agreement with it per layer."""
    _check_runs_as_is(snn, scheme, options)
    n = max(1, min(stream, len(images)))
    parts, same, total = [], {}, {}
    ref_pred, out_same, out_total = [], 0, 0
    out = snn.output.name
    # The float reference holds every layer's float64 values of a batch: keep batches small.
    step = batch_size if float_ref is None else min(batch_size, REFERENCE_BATCH)
    for start in range(0, len(images), step):
        batch = images[start : start + step]
        tr = functional.run(snn, batch, batch_size=len(batch), keep_spikes=float_ref is not None)
        if float_ref is not None:
            ref = float_ref(batch)
            ref_pred.append(ref.predictions)
            for lt in tr.layers:
                if lt.name in ref.spikes:
                    eq = int(np.count_nonzero(lt.spikes == ref.spikes[lt.name]))
                    same[lt.name] = same.get(lt.name, 0) + eq
                    total[lt.name] = total.get(lt.name, 0) + lt.spikes.size
            if out in ref.spikes:
                out_same, out_total = same[out], total[out]
            tr = tr.without_spikes()
        parts.append(tr)
        if progress is not None:
            progress(len(batch))
    trace = parts[0]
    for part in parts[1:]:
        trace = trace.concat(part)
    timed = functional.run(snn, images[:n], batch_size=batch_size)
    row: dict[str, object] = {
        "scheme": snn.scheme,
        "accuracy": _accuracy(trace.predictions, labels),
        "ann_accuracy": math.nan,
        "ann_agreement": math.nan,
        **dict.fromkeys(REFERENCE_COLUMNS, math.nan),
        **_op_row(snn, trace),
    }
    layers = None
    if float_ref is not None:
        pred = np.concatenate(ref_pred)
        row["reference_accuracy"] = _accuracy(pred, labels)
        row["reference_agreement"] = float(np.mean(trace.predictions == pred))
        row["reference_spike_agreement"] = out_same / out_total if out_total else math.nan
        layers = pd.DataFrame(
            [
                {
                    "layer": name,
                    "spikes_compared": total[name],
                    "agreement": same[name] / total[name],
                }
                for name in same
            ],
            columns=["layer", "spikes_compared", "agreement"],
        )
    return FunctionalResult(
        ann=None, snn=snn, trace=trace, timed=timed, stream=n, row=row, reference_layers=layers
    )


def _check_runs_as_is(snn: ir.Network, scheme: str, options: Mapping[str, object]) -> None:
    if scheme != snn.scheme or options:
        raise ModelError(
            f"model '{snn.name}' is already a '{snn.scheme}' SNN and runs as it is; it takes "
            f"no other scheme and no conversion options (got {scheme!r} {dict(options)})"
        )


def prepare(
    net: ir.Network, scheme: str, options: Mapping[str, object], config
) -> tuple[ir.Network, Any]:
    """(SNN, mapping): convert ``net`` to ``scheme`` (an SNN model runs as it is) and map it
    onto ``config``.

    Cheap next to the functional pass, so callers run it first: a model that does not fit
    the hardware raises ``MappingError`` at once instead of after simulating every image.
    """
    if net.kind == "snn":
        _check_runs_as_is(net, scheme, options)
        snn = net
    else:
        snn = convert.convert(net, scheme, **options)
    return snn, families.compile(snn, config)


def hardware_cost(
    fn: FunctionalResult,
    config,
    *,
    engine: str = "simpy",
    stats: timing.TraceStats | None = None,
    keep_intervals: bool = True,
    mapped=None,
    energy_memo: dict | None = None,
) -> HardwareCost:
    """Map, time (a stream of ``fn.stream`` samples) and estimate the energy of ``fn`` on
    ``config``: the per-hardware-point step.

    ``engine``, ``stats`` and ``keep_intervals`` are passed to ``families.simulate``
    (``"fast"``, a shared ``TraceStats`` and no intervals give the same numbers faster).
    ``mapped``: the mapping of ``fn.snn`` onto a config with the same
    ``hw.reuse_key(config, "mapping")`` (compiled here if None). ``energy_memo``: a dict kept
    for ``fn`` across points (``energy.estimate``'s ``memo``).
    """
    if mapped is None:
        mapped = families.compile(fn.snn, config)
    result = families.simulate(
        mapped,
        fn.timed,
        config,
        num_samples=fn.stream,
        engine=engine,
        stats=stats,
        keep_intervals=keep_intervals,
    )
    table = load_energy_table(config.energy_table)
    eb = energy.estimate(
        fn.trace, table, network=fn.snn, timing=result, hw=config, ann=fn.ann, memo=energy_memo
    )
    row = metrics.hardware_row(config.meta.name, result, eb)
    return HardwareCost(row=row, mapping=mapped, timing=result, energy=eb)


def evaluate(
    net: ir.Network,
    images: np.ndarray,
    labels: np.ndarray | None,
    scheme: str,
    options: Mapping[str, object],
    config,
    *,
    stream: int = DEFAULT_STREAM,
    batch_size: int = 256,
    reference: qann.QannPrediction | Callable[[], qann.QannPrediction] | None = None,
    progress: Callable[[int], None] | None = None,
    float_reference: Callable[[np.ndarray], Any] | None = None,
    engine: str = "fast",
    keep_intervals: bool = True,
    prepared: tuple[ir.Network, Any] | None = None,
    known: Sequence[FunctionalResult] = (),
) -> Evaluation:
    """Convert, map, simulate (all images), time a stream of ``stream`` samples and estimate
    energy.

    ``prepare`` (a model that does not fit the hardware fails here, before the functional
    pass), ``run_functional`` and ``hardware_cost``: op counts and accuracy come from every
    image; latency, stalls and memory/NoC traffic from the timed stream. ``engine`` and
    ``keep_intervals`` go to ``families.simulate`` (``"fast"``: the family's fastest engine
    giving the same numbers; ``"simpy"`` for the SimPy processes). ``prepared``: ``prepare``'s
    result, if the caller made it already. ``known``: as in ``run_functional``.
    """
    families.resolve_engine(config, engine)
    snn, mapped = prepared if prepared is not None else prepare(net, scheme, options, config)
    fn = run_functional(
        net,
        images,
        labels,
        scheme,
        options,
        stream=stream,
        batch_size=batch_size,
        reference=reference,
        progress=progress,
        float_reference=float_reference,
        snn=snn,
        known=known,
    )
    cost = hardware_cost(fn, config, engine=engine, keep_intervals=keep_intervals, mapped=mapped)
    return Evaluation(
        row={**fn.row, **cost.row},
        network=fn.snn,
        trace=fn.trace,
        timing=cost.timing,
        energy=cost.energy,
        reference_layers=fn.reference_layers,
        functional=fn,
    )


def carry(fn: FunctionalResult, snn: ir.Network) -> FunctionalResult:
    """``fn`` as the functional result of ``snn``, which fires spike for spike like ``fn.snn``
    (``functional.same_spikes``): its traces relabelled, its row's scheme and time-steps."""
    trace = functional.carry_trace(fn.trace, snn)
    timed = functional.carry_trace(fn.timed, snn)
    row = {**fn.row, "scheme": snn.scheme, **_op_row(snn, trace)}
    return dataclasses.replace(fn, snn=snn, trace=trace, timed=timed, row=row)


def _carries(fn: FunctionalResult, snn: ir.Network, images: int, stream: int) -> bool:
    same_inputs = fn.trace.batch_size == images and fn.stream == stream
    return same_inputs and fn.reference_layers is None and functional.same_spikes(fn.snn, snn)


def _accuracy(pred: np.ndarray, labels: np.ndarray | None) -> float:
    return float(np.mean(pred == labels)) if labels is not None else math.nan
