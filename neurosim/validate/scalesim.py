"""The SCALE-Sim target: compute cycles of every dense conv and FC layer of VGG-16 and
ResNet-18 on 32 × 32 and 128 × 128 systolic arrays, os / ws / is, neurosim next to SCALE-Sim v3.

Imports ``experiment``, ``families``, ``functional``, ``hw``, ``convert``, ``schemes``, ``zoo``,
``mapping`` and ``errors``. neurosim's figure is the PE stage's busy cycles of each layer in
``families.simulate`` (max-plus engine, one sample) of the zoo network converted to the uniform
IF scheme at T = 1 (one dense pass per layer, the case SCALE-Sim models) on the shipped
``pe_array`` config with ``pe.dataflow``, ``pe.array_rows`` and ``pe.array_cols`` set. The
reference is SCALE-Sim's "Total Cycles" (printed as "Compute cycles"), recorded in
``scalesim.csv`` of the references folder or computed now by running the tool
(``tools/scalesim_run.py``) in the interpreter that has it.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from neurosim import convert, experiment, families, functional, hw, schemes, zoo
from neurosim.errors import ConfigError
from neurosim.mapping.systolic import DATAFLOWS
from neurosim.validate import checks
from neurosim.validate.checks import Check, TargetResult

KEY = "scalesim"
TITLE = "SCALE-Sim: systolic-array compute cycles"
RECORDED = "scalesim.csv"
"""File name of the recorded reference figures in the references folder."""
TOOL = Path(__file__).parent / "tools" / "scalesim_run.py"

WORKLOADS = (
    ("vgg16", "cifar10"),
    ("resnet18", "cifar10"),
    ("vgg16", "imagenet"),
    ("resnet18", "imagenet"),
)
"""(zoo model, dataset) pairs; ``quick`` runs the CIFAR-10 ones only."""
ARRAYS = ((32, 32), (128, 128))
"""(R, C) of the arrays compared."""
TOLERANCE = 0.01
"""Compute cycles within 1 %."""

SHAPE_COLUMNS = (
    "kind",
    "c_in",
    "ifmap_h",
    "ifmap_w",
    "padding",
    "k_h",
    "k_w",
    "stride",
    "c_out",
    "scalesim_ifmap_h",
    "scalesim_ifmap_w",
)
"""A layer as neurosim maps it, and the padded IFMAP SCALE-Sim is given."""
COLUMNS = (
    "model",
    "dataset",
    "layer",
    *SHAPE_COLUMNS,
    "array_rows",
    "array_cols",
    "dataflow",
    "compute_cycles",
    "stall_cycles",
    "mapping_eff_pct",
    "sram_ifmap_reads",
    "sram_filter_reads",
    "sram_ofmap_writes",
    "scalesim_version",
)
"""Columns of the recorded file (one row per layer × array × dataflow)."""

PRETTY = {"vgg16": "VGG-16", "resnet18": "ResNet-18", "cifar10": "CIFAR-10", "imagenet": "ImageNet"}


def _config(rows: int, cols: int, dataflow: str) -> hw.PEArrayConfig:
    return hw.replace_fields(
        hw.load("pe_array"),
        {
            "pe.dataflow": dataflow,
            "pe.array_rows": rows,
            "pe.array_cols": cols,
            "pe.zero_skipping": "none",
        },
    )


def workload_layers(model: str, dataset: str) -> tuple[object, object, pd.DataFrame]:
    """The zoo network at T = 1 (converted), its trace on one seeded input, and its dense
    layers as SCALE-Sim is given them: shape columns (``SHAPE_COLUMNS``) in network order.

    SCALE-Sim never pads and rounds the output size up, so each layer's IFMAP is the padded
    extent the convolution reads, H' = (H_o − 1)·S + K (= H + 2P when (H + 2P − K) is a
    multiple of S): its output size then equals neurosim's ⌊(H + 2P − K)/S⌋ + 1.
    """
    net = experiment.zoo_network(model, dataset)
    uniform = schemes.UNIFORM
    snn = convert.convert(net, uniform.name, num_steps=1)
    trace = functional.run(snn, zoo.random_inputs(net, 1), keep_spikes=False)
    mapping = families.compile(snn, _config(*ARRAYS[0], DATAFLOWS[0]))
    rows = []
    for sched in mapping.layers:
        if sched.systolic is None:
            continue
        c_in, h_in, w_in = sched.in_shape
        _, h_o, w_o = sched.out_shape
        (k_h, k_w), s = sched.kernel, sched.stride
        rows.append(
            {
                "layer": sched.name,
                "kind": "conv" if sched.op == "conv2d" else "fc",
                "c_in": c_in,
                "ifmap_h": h_in,
                "ifmap_w": w_in,
                "padding": sched.padding,
                "k_h": k_h,
                "k_w": k_w,
                "stride": s,
                "c_out": sched.out_shape[0],
                "scalesim_ifmap_h": (h_o - 1) * s + k_h,
                "scalesim_ifmap_w": (w_o - 1) * s + k_w,
            }
        )
    return snn, trace, pd.DataFrame(rows)


def neurosim_cycles(snn, trace, rows: int, cols: int, dataflow: str) -> dict[str, int]:
    """PE-stage busy cycles of every dense layer: ``families.simulate`` of one sample."""
    config = _config(rows, cols, dataflow)
    mapping = families.compile(snn, config)
    result = families.simulate(mapping, trace, config, engine="fast", keep_intervals=False)
    stages = result.per_stage().set_index("stage")["busy_cycles"]
    return {s.name: int(stages.get(f"{s.name}.pe", 0)) for s in mapping.layers if s.systolic}


def load_recorded(folder: Path) -> pd.DataFrame:
    """The recorded SCALE-Sim figures (``RECORDED``); ConfigError if the file is missing or
    lacks a column."""
    return checks.read_recorded(folder / RECORDED, "SCALE-Sim", COLUMNS)


def run_tool(jobs: pd.DataFrame, tool_python: str, workdir: Path) -> pd.DataFrame:
    """Run SCALE-Sim on every (model, dataset, array, dataflow) of ``jobs`` (shape rows with
    those columns) with ``tool_python``: rows in ``COLUMNS``. The tool's input files are
    written under ``workdir``."""
    runs = []
    keys = ["model", "dataset", "array_rows", "array_cols", "dataflow"]
    for (model, dataset, r, c, df), grp in jobs.groupby(keys, sort=False):
        runs.append(
            {
                "name": f"{model}_{dataset}_{r}x{c}_{df}",
                "rows": int(r),
                "cols": int(c),
                "dataflow": df,
                "layers": [
                    [
                        row.layer,
                        int(row.scalesim_ifmap_h),
                        int(row.scalesim_ifmap_w),
                        int(row.k_h),
                        int(row.k_w),
                        int(row.c_in),
                        int(row.c_out),
                        int(row.stride),
                    ]
                    for row in grp.itertuples()
                ],
                "meta": (model, dataset),
            }
        )
    result = workdir / "result.json"
    job = {
        "workdir": str(workdir),
        "out": str(result),
        "runs": [{k: v for k, v in r.items() if k != "meta"} for r in runs],
    }
    out = checks.run_tool(tool_python, TOOL, job, result, "SCALE-Sim")
    shapes = jobs.set_index(["model", "dataset", "layer"])
    rows = []
    for run in runs:
        model, dataset = run["meta"]
        for res in out["runs"][run["name"]]:
            shape = shapes.loc[(model, dataset, res["layer"])].iloc[0]
            rows.append(
                {
                    "model": model,
                    "dataset": dataset,
                    "layer": res["layer"],
                    **{c: shape[c] for c in SHAPE_COLUMNS},
                    "array_rows": run["rows"],
                    "array_cols": run["cols"],
                    "dataflow": run["dataflow"],
                    **{k: res[k] for k in COLUMNS if k in res and k != "layer"},
                    "scalesim_version": out["version"],
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def tool_available(tool_python: str | None) -> str | None:
    """The interpreter that can run SCALE-Sim: ``tool_python`` if given, this one if it can
    import ``scalesim``, else None."""
    if tool_python:
        return tool_python
    import importlib.util

    return sys.executable if importlib.util.find_spec("scalesim") is not None else None


def run(
    references: Path,
    *,
    live: bool,
    tool_python: str | None,
    quick: bool = False,
    record: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TargetResult:
    """Compare neurosim's PE-stage cycles with SCALE-Sim's for every workload layer, array and
    dataflow that has a reference figure.

    Recorded mode reads ``references/scalesim.csv``; live mode runs the tool on the same
    layers (those the recording holds, so that the comparison covers the same set), checks
    its figures against the recording and, with ``record``, rewrites the recording.
    """
    say = progress or (lambda text: None)
    recorded = load_recorded(references)
    chosen = WORKLOADS[:2] if quick else WORKLOADS
    shapes, figures = [], {}
    for model, dataset in chosen:
        say(f"SCALE-Sim target: {model} {dataset}: functional pass and timing")
        snn, trace, layers = workload_layers(model, dataset)
        shapes.append(layers.assign(model=model, dataset=dataset))
        for r, c in ARRAYS:
            for df in DATAFLOWS:
                for layer, cyc in neurosim_cycles(snn, trace, r, c, df).items():
                    figures[(model, dataset, layer, r, c, df)] = cyc
    keys = ["model", "dataset", "layer", "array_rows", "array_cols", "dataflow"]
    ours = pd.concat(shapes, ignore_index=True)
    refs = recorded[recorded[["model", "dataset"]].apply(tuple, axis=1).isin(chosen)]
    notes = [
        "neurosim counts the cycles the array is busy, folds × cycles per fold; SCALE-Sim "
        "reports the 0-based cycle of its last output write, one less. That one cycle per "
        "layer is the whole residual (largest on the smallest layer).",
    ]
    if live:
        jobs = refs[keys].merge(ours, on=keys[:3])
        say(f"SCALE-Sim target: running the tool on {len(jobs)} layer settings")
        with tempfile.TemporaryDirectory(prefix="neurosim-scalesim-") as tmp:
            fresh = run_tool(jobs, tool_python, Path(tmp))
        merged = fresh.merge(recorded, on=keys, suffixes=("", "_recorded"))
        drift = merged[merged["compute_cycles"] != merged["compute_cycles_recorded"]]
        if len(drift):
            notes.append(
                f"{len(drift)} live figure(s) differ from the recording (e.g. "
                f"{drift.iloc[0]['layer']}: {drift.iloc[0]['compute_cycles']} vs "
                f"{drift.iloc[0]['compute_cycles_recorded']}); rerun with --record to update it"
            )
        if record:
            # The fresh rows replace theirs in place (the file keeps its order); new ones last.
            table = pd.concat([recorded[list(COLUMNS)], fresh], ignore_index=True)
            table = table.drop_duplicates(subset=keys, keep="last")
            order = (
                table[keys]
                .merge(recorded[keys].reset_index(), on=keys, how="left")["index"]
                .fillna(len(recorded))
                .to_numpy()
            )
            table = table.iloc[order.argsort(kind="stable")]
            table.to_csv(references / RECORDED, index=False, lineterminator="\n")
        refs = fresh
    checks = []
    for row in refs.itertuples():
        key = (row.model, row.dataset, row.layer, row.array_rows, row.array_cols, row.dataflow)
        if key not in figures:
            raise ConfigError(
                f"{RECORDED}: layer '{row.layer}' of {row.model} {row.dataset} is not a dense "
                f"layer of neurosim's zoo network; the recording does not match the zoo"
            )
        shape = ours[(ours["model"] == row.model) & (ours["dataset"] == row.dataset)]
        shape = shape[shape["layer"] == row.layer].iloc[0]
        bad = [c for c in SHAPE_COLUMNS if str(shape[c]) != str(getattr(row, c))]
        if bad:
            raise ConfigError(
                f"{RECORDED}: layer '{row.layer}' of {row.model} {row.dataset}: "
                f"{', '.join(f'{c} {getattr(row, c)} (zoo: {shape[c]})' for c in bad)}; "
                f"the recording does not match the zoo"
            )
        checks.append(
            Check(
                group=f"{PRETTY[row.model]} {PRETTY[row.dataset]}, "
                f"{row.array_rows}×{row.array_cols}, {row.dataflow}",
                workload=row.layer,
                quantity="compute cycles",
                reference=float(row.compute_cycles),
                neurosim=float(figures[key]),
                tolerance=TOLERANCE,
            )
        )
    versions = sorted(set(refs["scalesim_version"].astype(str)))
    skipped = [w for w in WORKLOADS if w not in chosen]
    workloads = []
    for m, d in chosen:
        mine = refs[(refs["model"] == m) & (refs["dataset"] == d)]
        layers = int(((ours["model"] == m) & (ours["dataset"] == d)).sum())
        settings = len(ARRAYS) * len(DATAFLOWS)
        workloads.append(
            f"{PRETTY[m]} {PRETTY[d]} (`zoo:{m}:{d}`): {layers} dense layers × {settings} "
            f"array and dataflow settings = {layers * settings}, of which {len(mine)} have a "
            f"SCALE-Sim figure"
        )
    unreferenced = len(ours) * len(ARRAYS) * len(DATAFLOWS) - len(refs)
    if unreferenced:
        notes.append(
            f"{unreferenced} layer × array × dataflow settings have no SCALE-Sim figure and are "
            f"not checked: the tool was not run on them (its memory model walks the demand "
            f"matrix row by row in Python; e.g. VGG-16 ImageNet conv2 on 32 × 32, os — 3,136 "
            f"folds, 2.0 M rows — would take hours)."
        )
    if skipped:
        notes.append(
            "Not run (quick mode): "
            + ", ".join(f"{PRETTY[m]} {PRETTY[d]}" for m, d in skipped)
            + "."
        )
    provenance = [
        f"SCALE-Sim {', '.join(versions)} (`pip install scalesim`, MIT licence; "
        f"github.com/scalesim-project/SCALE-Sim), run as an external tool "
        f"(`neurosim/validate/tools/scalesim_run.py`).",
        "Config: R × C array, 64 KiB IFMAP/filter/OFMAP SRAM, `InterfaceBandwidth: CALC` (no "
        "memory stalls: every recorded stall count is 0), batch 1, dense; figure: "
        "COMPUTE_REPORT.csv *Total Cycles*.",
        "Layers as given to the tool: IFMAP = the padded extent the convolution reads, "
        "(H_o − 1)·S + K; FC layers as 1 × 1 convolutions.",
        f"Figures recorded in `tests/fixtures/validation/{RECORDED}` (how they were made: "
        f"that folder's README); `neurosim validate --live` runs the tool again and compares.",
    ]
    if live:
        provenance.append(
            f"This run: the tool was run now on {len(refs)} layer settings "
            f"({'the recording was rewritten' if record else 'the recording was not changed'})."
        )
    return TargetResult(
        key=KEY,
        title=TITLE,
        mode="live" if live else "recorded",
        provenance=tuple(provenance),
        checks=tuple(checks),
        notes=tuple(notes),
        workloads=tuple(workloads),
    )
