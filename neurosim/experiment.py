"""One evaluation of a model under a scheme on a hardware config, and the papers' comparison table.

Imports the whole flow (io, zoo, convert, functional, hw, mapping, timing, energy, qann). Used by
``neurosim run``, ``neurosim table`` and ``neurosim sweep``; an evaluation is a functional step
(``run_functional``, hardware-independent) followed by a cost step per hardware point
(``hardware_cost``). A setting that cannot run becomes a row with its error.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
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
        return zoo_network(parts[1], parts[2] if len(parts) > 2 else "cifar10")
    return frontends.load_model(spec)


def zoo_network(name: str, dataset: str = "cifar10") -> ir.Network:
    """``zoo.build(name, dataset=dataset)`` through the model cache (``neurosim._cache``).

    A zoo model is a pure function of its name, its dataset, the code that builds it and
    numpy's random streams; its file name hashes all of them, so a changed builder never
    serves a stale model. Building VGG-16 takes about 0.6 s (CIFAR) or 15 s (ImageNet),
    loading it about 0.03 s or 0.3 s. An unreadable entry is rebuilt and a cache folder that
    cannot be written is left alone (the model is built each time).
    """
    folder = cache_dir()
    if folder is None:
        return zoo.build(name, dataset=dataset)
    path = folder / "zoo" / f"{name}_{dataset}_{_zoo_key(name, dataset)}.npz"
    if path.is_file():
        try:
            net = io.load_model(path)
        except ModelError:
            net = None
        if net is not None and net.meta.get("zoo") == name and net.meta.get("dataset") == dataset:
            return net
    net = zoo.build(name, dataset=dataset)
    with contextlib.suppress(OSError):
        io.save_model(net, path, compress=False)
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
    elif spec is None:
        images, labels = load_inputs(bundled_path(BUNDLED_TEST_SET))
    elif spec.startswith("zoo:"):
        images, labels = zoo.random_inputs(net, samples or 8), None
    else:
        raise ModelError(
            f"--model {spec}: give --inputs FILE.npz (arrays 'images' and "
            f"optionally 'labels') to simulate it"
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
    return net, images, labels


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


@dataclass(frozen=True, eq=False)
class FunctionalResult:
    """The hardware-independent half of an evaluation (DESIGN decision 1: functional once).

    Depends only on (model, scheme and options, inputs): a sweep computes it once and costs it
    on every hardware point with ``hardware_cost``.
    """

    ann: ir.Network
    """The quantized ANN (its MACs are the E_ANN baseline)."""
    snn: ir.Network
    """The converted SNN."""
    trace: Trace
    """Op counts over every input (spikes not kept): accuracy and energy per inference."""
    timed: Trace
    """The first ``stream`` inputs again, spikes kept: the timing models read them."""
    stream: int
    """Samples streamed through the timing model (``timed.batch_size``)."""
    row: Mapping[str, object]
    """``scheme``, accuracy, agreement with the quantized ANN, mean time-steps and per-image
    op counts (spikes, synaptic ops, first-layer MACs)."""


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
    reference: qann.QannResult | None = None,
    progress: Callable[[int], None] | None = None,
) -> FunctionalResult:
    """Convert ``net`` to ``scheme`` and run the functional pass: the hardware-independent step.

    Op counts and accuracy come from every image (spikes not kept); the first ``stream``
    images run again with spikes kept for the timing models (cheap next to the first run).
    When the stream is every image, one run with spikes kept serves both.
    """
    ref = reference if reference is not None else qann.forward(net, images)
    snn = convert.convert(net, scheme, **options)
    n = max(1, min(stream, len(images)))
    whole = n == len(images)
    tr = functional.run(snn, images, batch_size=batch_size, keep_spikes=whole, progress=progress)
    timed = tr if whole else functional.run(snn, images[:n], batch_size=batch_size)
    row = {
        "scheme": scheme,
        "accuracy": _accuracy(tr.predictions, labels),
        "ann_accuracy": _accuracy(ref.predictions, labels),
        "ann_agreement": float(np.mean(tr.predictions == ref.predictions)),
        "mean_time_steps": convert.mean_time_steps(snn),
        "spikes_per_inference": tr.per_sample("spikes"),
        "synaptic_ops_per_inference": tr.per_sample("synaptic_ops"),
        "first_layer_macs_per_inference": tr.per_sample("first_layer_macs"),
    }
    return FunctionalResult(ann=net, snn=snn, trace=tr, timed=timed, stream=n, row=row)


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
    reference: qann.QannResult | None = None,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Convert, simulate (all images), time a stream of ``stream`` samples and estimate energy.

    ``run_functional`` followed by ``hardware_cost``: op counts and accuracy come from every
    image; latency, stalls and memory/NoC traffic from the timed stream.
    """
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
    )
    cost = hardware_cost(fn, config)
    return Evaluation(
        row={**fn.row, **cost.row},
        network=fn.snn,
        trace=fn.trace,
        timing=cost.timing,
        energy=cost.energy,
    )


def _accuracy(pred: np.ndarray, labels: np.ndarray | None) -> float:
    return float(np.mean(pred == labels)) if labels is not None else math.nan


def comparison_table(
    net: ir.Network,
    images: np.ndarray,
    labels: np.ndarray | None,
    config,
    *,
    settings: Sequence[tuple[str, Mapping[str, Any]]] | None = None,
    stream: int = DEFAULT_STREAM,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """The papers' comparison: one row per scheme / time-step setting (``table_columns()``).

    A setting the model cannot run (e.g. input codes that need more coding steps) becomes a
    row with ``status = "error"`` and the message; the others go on.
    """
    ref = qann.forward(net, images)
    rows, evals = [], {}
    for scheme, options in table_settings() if settings is None else settings:
        label = setting_label(scheme, options)
        try:
            ev = evaluate(
                net,
                images,
                labels,
                scheme,
                options,
                config,
                stream=stream,
                batch_size=batch_size,
                reference=ref,
                progress=progress,
            )
        except NeurosimError as exc:
            rows.append({"setting": label, "scheme": scheme, "status": "error", "error": str(exc)})
            if progress is not None:
                progress(len(images))
            continue
        r = ev.row
        rows.append(
            {
                "setting": label,
                "scheme": scheme,
                "status": "ok",
                "error": "",
                **{k: r[k] for k in metrics.columns() if k in r},
            }
        )
        evals[label] = ev
    df = pd.DataFrame(rows, columns=list(table_columns()))
    df["error"] = df["error"].fillna("")
    return df, evals
