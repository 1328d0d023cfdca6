"""The SANA-FE target: spikes, energy and latency of two SNNs on Loihi, neurosim next to SANA-FE
with the same neuron semantics and the same per-event energy table.

Imports ``ir``, ``schemes``, ``functional``, ``families``, ``hw``, ``energy`` and ``errors``.
The networks (``sanafe_networks.npz`` in the references folder) are a DVS-gesture-shaped conv
network (32×32×1 → conv3×3/2 16 → conv3×3 32 → conv3×3 64 → conv3×3 11 → dense 11) and a dense
random one (256 → 256 → 128 → 64), 16 time-steps of a recorded input raster. neurosim runs
them as ``lif`` networks with SANA-FE's semantics (Loihi LIF as SANA-FE 2.2.9 computes it):

* V starts at 0 and fires on V > θ (``strict``); reset by subtraction (soft) or to 0 (hard);
* every connection delays a spike by one step (``LIFSpec.delay = 1``): a spike sent at step t
  is integrated at t + 1, the input raster's row t at step t + 1 of the first layer;
* the membrane is kept in 1/64 units (the current shifted left by 6, θ × 64) and the leak
  λ = 7/8 truncates toward zero, SANA-FE's ``trunc(v·64)/64`` after each leak.

Spikes must be equal; energy (per-event table ``loihi_sanafe``, SANA-FE's calibrated Loihi
figures) within 5 %; latency (config ``loihi_sanafe``, per-event latencies and the barrier
table) within 25 % of SANA-FE's ``detailed`` timing model.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from neurosim import energy, families, functional, hw, ir, schemes
from neurosim.errors import ConfigError
from neurosim.hw.energy_table import load_energy_table
from neurosim.schemes.lif import leak_fixed_point
from neurosim.validate import checks
from neurosim.validate.checks import Check, TargetResult

KEY = "sanafe"
TITLE = "SANA-FE: spikes, energy and latency on Loihi"
NETWORKS = "sanafe_networks.npz"
RUNS = "sanafe.csv"
LAYERS = "sanafe_layers.csv"
"""Recorded files in the references folder: the networks, SANA-FE's totals per run and its
spikes per layer and step."""
TOOL = Path(__file__).parent / "tools" / "sanafe_run.py"
CONFIG = "loihi_sanafe"

VARIANTS = ((0.875, "soft"), (1.0, "soft"), (0.875, "hard"), (1.0, "hard"))
"""(leak_decay, reset_mode) of SANA-FE's soma; ``quick`` runs each network's first one."""
PRIMARY = {"dvs_conv": (0.875, "soft"), "dense": (1.0, "soft")}
"""The variant of each network the quick suite runs."""
RESETS = {"soft": "subtract", "hard": "zero"}
"""SANA-FE reset mode → the ``lif`` reset."""
FRACTION_BITS = 6
"""SANA-FE keeps v in steps of 1/64 (Loihi's 6-bit shift)."""
TIMING = "detailed"
"""SANA-FE's timing model the latency is compared with."""
TOLERANCE = {"spikes": 0.0, "energy": 0.05, "latency": 0.25}

RUN_COLUMNS = (
    "net",
    "leak_decay",
    "reset_mode",
    "timing_model",
    "steps",
    "neurons_fired",
    "neurons_updated",
    "synaptic_events",
    "messages",
    "energy_total_pj",
    "energy_synapse_pj",
    "energy_soma_pj",
    "energy_network_pj",
    "latency_ns",
    "sanafe_version",
    "arch_sha256",
)
LAYER_COLUMNS = ("net", "leak_decay", "reset_mode", "layer", "step", "fired")
COMPONENTS = (("synapse", "synaptic"), ("soma", "neuron_updates"), ("network", "noc"))
"""SANA-FE energy component → neurosim's (energy model components)."""


def load_networks(folder: Path) -> dict[str, dict]:
    """The recorded networks: per name its layers (header entries plus ``weight`` and
    ``core`` arrays) and its input raster [T, N]."""
    path = folder / NETWORKS
    if not path.is_file():
        raise ConfigError(
            f"recorded SANA-FE networks not found: {path}; pass --references DIR (the "
            f"repository's tests/fixtures/validation)"
        )
    with np.load(path) as z:
        header = json.loads(bytes(z["__header__"]).decode())
        nets = {}
        for name, net in header.items():
            layers = []
            for layer in net["layers"]:
                entry = dict(layer)
                for key in ("weight", "core"):
                    if f"{name}/{layer['name']}/{key}" in z:
                        entry[key] = z[f"{name}/{layer['name']}/{key}"]
                layers.append(entry)
            nets[name] = {"layers": layers, "raster": z[f"{name}/input_spikes"], "meta": net}
    return nets


def build_network(net: dict, name: str, leak_decay: float, reset_mode: str) -> ir.Network:
    """A recorded network as a ``lif`` SNN with SANA-FE's semantics (module docstring)."""
    steps = int(net["raster"].shape[0])
    lam, bits = leak_fixed_point(leak_decay)
    layers: list[ir.Layer] = []
    prev = ""
    for layer in net["layers"]:
        if layer["kind"] == "input":
            layers.append(
                ir.Input(name=layer["name"], shape=tuple(layer["shape"]), levels=1, steps=steps)
            )
            prev = layer["name"]
            continue
        neuron = schemes.LIFSpec(
            threshold=np.array([int(layer["threshold"]) << FRACTION_BITS], np.int64),
            max_level=1,
            steps=steps,
            leak=None if leak_decay == 1.0 else lam,
            leak_bits=0 if leak_decay == 1.0 else bits,
            leak_rounding="zero",
            reset=RESETS[reset_mode],
            strict=True,
            gain=1,
            delay=1,
        )
        weight = np.asarray(layer["weight"])
        if layer["kind"] == "conv":
            layers.append(
                ir.Conv2d(
                    name=layer["name"],
                    inputs=(prev,),
                    weight=weight,
                    stride=int(layer["stride"]),
                    padding=int(layer["padding"]),
                    shift=FRACTION_BITS,
                    neuron=neuron,
                )
            )
        else:
            if isinstance(layers[-1], ir.Conv2d):
                layers.append(ir.Flatten(name=f"{prev}.flat", inputs=(prev,)))
                prev = f"{prev}.flat"
            layers.append(
                ir.Linear(
                    name=layer["name"],
                    inputs=(prev,),
                    weight=weight,
                    shift=FRACTION_BITS,
                    neuron=neuron,
                )
            )
        prev = layer["name"]
    return ir.Network(
        layers=tuple(layers), kind="snn", scheme=schemes.LIF.name, name=f"sanafe_{name}"
    )


def neurosim_figures(net: dict, name: str, leak_decay: float, reset_mode: str) -> dict:
    """Spikes per layer and step (functional pass), energy per SANA-FE component (per-event
    table) and latency in ns (``loihi_sanafe``, one sample) of one network and variant."""
    snn = build_network(net, name, leak_decay, reset_mode)
    raster = net["raster"]
    trace = functional.run(snn, raster.reshape(raster.shape[0], *snn.input.shape)[None])
    spikes = {
        lt.name: lt.spikes[:, 0].reshape(lt.spikes.shape[0], -1).sum(axis=1)
        for lt in trace.layers
        if lt.spikes is not None and lt.name in {layer["name"] for layer in net["layers"]}
    }
    config = hw.load(CONFIG)
    mapping = families.compile(snn, config)
    timing = families.simulate(mapping, trace, config, num_samples=1)
    table = load_energy_table(config.energy_table)
    eb = energy.estimate(trace, table, network=snn, timing=timing, hw=config)
    per = eb.per_layer.groupby("component")["energy_pj"].sum()
    return {
        "spikes": spikes,
        "energy": {ours: float(per.get(theirs, 0.0)) for ours, theirs in COMPONENTS},
        "energy_total": float(eb.total_pj),
        "latency_ns": float(timing.latency_us) * 1000.0,
        "cores": int(mapping.num_cores),
    }


def load_recorded(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SANA-FE's recorded totals per run and spikes per layer and step."""
    runs = checks.read_recorded(folder / RUNS, "SANA-FE", RUN_COLUMNS)
    return runs, checks.read_recorded(folder / LAYERS, "SANA-FE", LAYER_COLUMNS)


def run_tool(
    folder: Path, runs: list[tuple[str, float, str]], tool_python: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run SANA-FE on the recorded networks (``runs``: net, leak_decay, reset_mode; both timing
    models) with ``tool_python``, one process per run; rows as in the recorded files.

    One process per run because SANA-FE's ``detailed`` latency depends slightly on what ran
    before it in the same process (0.02-0.06 % seen); alone, a run gives the same figures
    every time."""
    results = []
    with tempfile.TemporaryDirectory(prefix="neurosim-sanafe-") as tmp:
        out = Path(tmp) / "result.json"
        for n, leak, reset in runs:
            for model in ("detailed", "simple"):
                one = {"net": n, "leak_decay": leak, "reset_mode": reset, "timing_model": model}
                job = {"networks": str(folder / NETWORKS), "out": str(out), "runs": [one]}
                out.unlink(missing_ok=True)
                results.append(checks.run_tool(tool_python, TOOL, job, out, "SANA-FE"))
    runs_rows, layer_rows = [], []
    for result, run in ((r, r["runs"][0]) for r in results):
        tot, e = run["totals"], run["totals"]["energy_pj"]
        runs_rows.append(
            {
                "net": run["net"],
                "leak_decay": run["leak_decay"],
                "reset_mode": run["reset_mode"],
                "timing_model": run["timing_model"],
                "steps": run["steps"],
                "neurons_fired": tot["neurons_fired"],
                "neurons_updated": tot["neurons_updated"],
                "synaptic_events": tot["synaptic_events"],
                "messages": tot["messages"],
                "energy_total_pj": round(e["total"], 6),
                "energy_synapse_pj": round(e["synapse"], 6),
                "energy_soma_pj": round(e["soma"], 6),
                "energy_network_pj": round(e["network"], 6),
                "latency_ns": round(tot["latency_ns"], 6),
                "sanafe_version": result["version"],
                "arch_sha256": result["arch_sha256"],
            }
        )
        if run["timing_model"] != TIMING:
            continue
        for layer, counts in run["layers"].items():
            for step, fired in enumerate(counts, start=1):
                layer_rows.append(
                    {
                        "net": run["net"],
                        "leak_decay": run["leak_decay"],
                        "reset_mode": run["reset_mode"],
                        "layer": layer,
                        "step": step,
                        "fired": fired,
                    }
                )
    return (
        pd.DataFrame(runs_rows, columns=list(RUN_COLUMNS)),
        pd.DataFrame(layer_rows, columns=list(LAYER_COLUMNS)),
    )


def tool_available(tool_python: str | None) -> str | None:
    """The interpreter that can run SANA-FE: ``tool_python`` if given, this one if it can
    import ``sanafe``, else None."""
    if tool_python:
        return tool_python
    import importlib.util
    import sys

    return sys.executable if importlib.util.find_spec("sanafe") is not None else None


def _cores(net: dict) -> int:
    """Cores the recorded mapping uses for the layers after the input."""
    return len({int(c) for layer in net["layers"][1:] for c in layer["core"]})


def _select(frame: pd.DataFrame, net: str, leak: float, reset: str) -> pd.DataFrame:
    return frame[
        (frame["net"] == net) & (frame["leak_decay"] == leak) & (frame["reset_mode"] == reset)
    ]


def _replace(old: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``old`` with the rows of ``new`` in place of those with the same keys (order kept)."""
    table = pd.concat([old, new], ignore_index=True).drop_duplicates(subset=keys, keep="last")
    order = table[keys].merge(old[keys].reset_index(), on=keys, how="left")["index"]
    return table.iloc[order.fillna(len(old)).to_numpy().argsort(kind="stable")]


def run(
    references: Path,
    *,
    live: bool,
    tool_python: str | None,
    quick: bool = False,
    record: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TargetResult:
    """Compare neurosim with SANA-FE on every recorded network and variant (``quick``: each
    network's primary variant): spikes per layer and step, energy, latency."""
    say = progress or (lambda text: None)
    nets = load_networks(references)
    runs, layers = load_recorded(references)
    chosen = [
        (name, leak, reset)
        for name in nets
        for leak, reset in VARIANTS
        if not quick or PRIMARY.get(name) == (leak, reset)
    ]
    if live:
        say(f"SANA-FE target: running the tool on {len(chosen)} network variants")
        fresh_runs, fresh_layers = run_tool(references, chosen, tool_python)
        run_keys = ["net", "leak_decay", "reset_mode", "timing_model"]
        layer_keys = ["net", "leak_decay", "reset_mode", "layer", "step"]
        if record:
            _replace(runs, fresh_runs, run_keys).to_csv(
                references / RUNS, index=False, lineterminator="\n"
            )
            _replace(layers, fresh_layers, layer_keys).to_csv(
                references / LAYERS, index=False, lineterminator="\n"
            )
        merged = fresh_runs.merge(runs, on=run_keys, suffixes=("", "_recorded"))
        drift = int((merged["energy_total_pj"] != merged["energy_total_pj_recorded"]).sum())
        runs, layers = fresh_runs, fresh_layers
    checks, cores = [], {}
    for name, leak, reset in chosen:
        say(f"SANA-FE target: {name}, leak {leak:g}, {reset} reset")
        ref_run = _select(runs, name, leak, reset)
        ref_run = ref_run[ref_run["timing_model"] == TIMING]
        ref_layers = _select(layers, name, leak, reset)
        if ref_run.empty or ref_layers.empty:
            raise ConfigError(
                f"no recorded SANA-FE figures for {name}, leak {leak:g}, {reset} reset in "
                f"{references}"
            )
        ref = ref_run.iloc[0]
        ours = neurosim_figures(nets[name], name, leak, reset)
        cores[name] = ours["cores"]
        group = f"{name}, leak {leak:g}, {reset} reset"
        cells = equal = 0
        for layer in nets[name]["layers"][1:]:
            rows = ref_layers[ref_layers["layer"] == layer["name"]].sort_values("step")
            theirs = rows["fired"].to_numpy(np.int64)
            mine = np.asarray(ours["spikes"][layer["name"]], np.int64)
            cells += len(theirs)
            equal += int(np.sum(mine == theirs)) if len(mine) == len(theirs) else 0
            checks.append(
                Check(group, layer["name"], "spikes", float(theirs.sum()), float(mine.sum()), 0.0)
            )
        checks.append(
            Check(group, "every layer", "layer × step spike counts equal", cells, equal, 0.0)
        )
        checks.append(
            Check(
                group,
                "all layers",
                "energy (pJ)",
                float(ref["energy_total_pj"]),
                ours["energy_total"],
                TOLERANCE["energy"],
            )
        )
        for component, _ in COMPONENTS:
            checks.append(
                Check(
                    group,
                    component,
                    f"{component} energy (pJ)",
                    float(ref[f"energy_{component}_pj"]),
                    ours["energy"][component],
                    None,
                )
            )
        checks.append(
            Check(
                group,
                "16 steps",
                "latency (ns)",
                float(ref["latency_ns"]),
                ours["latency_ns"],
                TOLERANCE["latency"],
            )
        )
    version = sorted(set(runs["sanafe_version"].astype(str)))
    sha = sorted(set(runs["arch_sha256"].astype(str)))
    provenance = [
        f"SANA-FE {', '.join(version)} (`pip install sanafe`; GPL-3.0: run as an external tool "
        f"by `neurosim/validate/tools/sanafe_run.py`, outputs compared, no code used), "
        f"github.com/SLAM-Lab/SANA-FE; J. Boyle et al., IEEE TCAD 2025.",
        f"Architecture: the wheel's `sanafe/examples/loihi.yaml` (sha256 {sha[0][:16]}…), "
        f"timing model `{TIMING}`, one thread; neurons mapped to the recorded cores.",
        f"neurosim: config `{CONFIG}` with energy table `{CONFIG}` (the same per-event figures), "
        f"the `lif` family with SANA-FE's semantics (v0 = 0, fire on v > θ, one-step synaptic "
        f"delay, 1/64 membrane steps, leak truncated toward zero).",
        f"Figures recorded in `tests/fixtures/validation/{RUNS}` and `{LAYERS}` (networks: "
        f"`{NETWORKS}`; how they were made: that folder's README); `neurosim validate --live` "
        f"runs the tool again and compares.",
    ]
    if live:
        provenance.append(
            f"This run: the tool was run now on {len(chosen)} variants "
            f"({'the recording was rewritten' if record else 'the recording was not changed'}"
            f"{f'; {drift} energy totals differ from it' if drift else ''})."
        )
    workloads = []
    for name, net in nets.items():
        shapes = " → ".join(
            "×".join(str(d) for d in layer["shape"]) for layer in net["meta"]["layers"]
        )
        workloads.append(
            f"`{name}`: {shapes}, {net['raster'].shape[0]} steps of a recorded input raster; "
            f"layers after the input on {_cores(net)} cores in SANA-FE (the recorded mapping), "
            f"on {cores.get(name, '–')} in neurosim (its own partition)"
        )
    notes = [
        "Spikes are equal per layer and per step: neurosim's `lif` neuron with these options "
        "computes SANA-FE's soma exactly (integer membrane in 1/64 units).",
        "Energy: synapse energy is the same count × 24.0 / 35.5 pJ on both sides. Soma energy "
        "differs because neurosim charges the update energy to neurons an input reached in "
        "that step, SANA-FE also to neurons whose potential is non-zero. Network energy "
        "differs because neurosim's input raster reaches the first layer's cores without "
        "spike messages (SANA-FE places the input neurons on a core: 111 pJ per message), and "
        "because neurosim routes between cores (one per mesh node, the config's stated "
        "assumption) where SANA-FE routes between tiles of 4 cores.",
        "Latency: SANA-FE's `detailed` model schedules each core's messages within a global "
        "time-step; neurosim's multi-core model times each core's step as the sum of its "
        "events' latencies and pipelines the layers, with the same barrier table.",
    ]
    return TargetResult(
        key=KEY,
        title=TITLE,
        mode="live" if live else "recorded",
        provenance=tuple(provenance),
        checks=tuple(checks),
        notes=tuple(notes),
        workloads=tuple(workloads),
    )
