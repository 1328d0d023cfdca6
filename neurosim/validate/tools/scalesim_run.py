"""Run SCALE-Sim v3 (the ``scalesim`` package) on conv/FC layers and print its figures as JSON.

A standalone script, not a module of the package (its folder is on ``sys.path`` when it runs,
and nothing there shadows the tool). ``neurosim validate`` runs it as an external tool with the
interpreter that has ``scalesim`` installed (``--tool-python``) and never imports it. Standard
library and ``scalesim`` only; neurosim need not be installed in that interpreter.

Reads a JSON job on stdin::

    {"workdir": "...", "out": "<path of the JSON result>",
     "runs": [{"name": "vgg16_cifar10_32x32_os", "rows": 32, "cols": 32, "dataflow": "os",
               "layers": [["conv1", 34, 34, 3, 3, 3, 64, 1], ...]}]}

(layer = name, IFMAP height, width, filter height, width, channels, filters, stride; the IFMAP
already padded: SCALE-Sim never pads). Writes each run's config, topology and layout files under
``workdir/<name>/`` (the exact inputs) and writes to ``out``::

    {"version": "3.0.0", "config": "<the .cfg text of the first run>",
     "runs": {"<name>": [{"layer": ..., "compute_cycles": ..., "stall_cycles": ...,
                          "mapping_eff_pct": ..., "sram_ifmap_reads": ..., ...}]}}
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from importlib.metadata import version

CONFIG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 64
FilterSramSzkB: 64
OfmapSramSzkB: 64
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
"""SCALE-Sim v3 configuration: R × C array, 64 KiB SRAMs, CALC bandwidth (no memory stalls)."""

TOPOLOGY_HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
    "Num Filter, Strides,\n"
)


def _report(path: str) -> list[list[str]]:
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    return [[x.strip() for x in row if x.strip()] for row in rows]


def run_one(run: dict, workdir: str) -> tuple[str, list[dict]]:
    """Run SCALE-Sim on one (array, dataflow) and its layers; (config text, one dict per
    layer: COMPUTE_REPORT and DETAILED_ACCESS_REPORT columns)."""
    from scalesim.scale_sim import scalesim

    name = run["name"]
    folder = os.path.join(workdir, name)
    os.makedirs(folder, exist_ok=True)
    config = CONFIG.format(name=name, rows=run["rows"], cols=run["cols"], dataflow=run["dataflow"])
    paths = {
        k: os.path.join(folder, f)
        for k, f in (
            ("config", f"{name}.cfg"),
            ("topology", f"{name}_topo.csv"),
            ("layout", "layout.csv"),
        )
    }
    with open(paths["config"], "w") as f:
        f.write(config)
    with open(paths["topology"], "w") as f:
        f.write(TOPOLOGY_HEADER)
        for layer in run["layers"]:
            f.write(",".join(str(x) for x in layer) + ",\n")
    with open(paths["layout"], "w") as f:
        f.write("Layer name,\n")  # read even with custom layouts off
    out = os.path.join(folder, "out")
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(
            save_disk_space=True,
            verbose=False,
            config=paths["config"],
            topology=paths["topology"],
            layout=paths["layout"],
            input_type_gemm=False,
        )
        sim.run_scale(top_path=out)
    compute = _report(os.path.join(out, name, "COMPUTE_REPORT.csv"))
    access = _report(os.path.join(out, name, "DETAILED_ACCESS_REPORT.csv"))
    results = []
    for layer, c, a in zip(run["layers"], compute, access, strict=True):
        results.append(
            {
                "layer": layer[0],
                "compute_cycles": int(c[2]),
                "stall_cycles": int(c[3]),
                "mapping_eff_pct": float(c[5]),
                "sram_ifmap_reads": int(a[3]),
                "sram_filter_reads": int(a[6]),
                "sram_ofmap_writes": int(a[9]),
            }
        )
    return config, results


def main() -> int:
    job = json.load(sys.stdin)
    out: dict = {"version": version("scalesim"), "config": "", "runs": {}}
    for run in job["runs"]:
        config, results = run_one(run, job["workdir"])
        out["config"] = out["config"] or config
        out["runs"][run["name"]] = results
    with open(job["out"], "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
