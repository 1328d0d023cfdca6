"""Run a recorded SNN on SANA-FE (the ``sanafe`` package) with its calibrated Loihi architecture
and print its figures as JSON.

A standalone script, not a module of the package (its folder is on ``sys.path`` when it runs,
and nothing there shadows the tool). ``neurosim validate`` runs it as an external tool with the
interpreter that has ``sanafe`` installed (``--tool-python``) and never imports it: SANA-FE is
GPL-3.0, and neurosim only compares its outputs. Needs ``sanafe`` and numpy; neurosim need not
be installed in that interpreter.

Reads a JSON job on stdin::

    {"networks": "<path of networks.npz>", "out": "<path of the JSON result>",
     "runs": [{"net": "dense", "leak_decay": 1.0, "reset_mode": "soft",
               "timing_model": "detailed"}]}

``networks.npz`` holds per network ``<net>/input_spikes`` (uint8 [T, N]), per layer
``<net>/<layer>/core`` (global core id of each neuron) and ``<net>/<layer>/weight`` (int8,
[C_o, C_i, K, K] or [N_out, N_in]), and a JSON ``__header__`` with each layer's kind, shapes,
kernel, stride, threshold and synapse unit. Neurons are numbered channels first
(c·H·W + y·W + x), SANA-FE's order. Writes to ``out`` (SANA-FE's own progress lines go to
stdout)::

    {"version": "2.2.9", "arch_sha256": "...", "runs": [{..., "layers": {"conv1":
      [fired per step]}, "per_step": {...}, "totals": {...}}]}
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib.metadata import version
from importlib.resources import files

import numpy as np

LOIHI = files("sanafe.examples") / "loihi.yaml"
"""The Loihi architecture file shipped with sanafe (sanafe.load_loihi() reads the same)."""


def _load(path: str) -> dict:
    z = np.load(path)
    header = json.loads(bytes(z["__header__"]).decode())
    nets = {}
    for name, net in header.items():
        layers = []
        for layer in net["layers"]:
            entry = dict(layer)
            entry["core"] = z[f"{name}/{layer['name']}/core"]
            key = f"{name}/{layer['name']}/weight"
            if key in z:
                entry["weight"] = z[key].astype(np.int64)
            layers.append(entry)
        nets[name] = {"layers": layers, "input_spikes": z[f"{name}/input_spikes"]}
    return nets


def _build(sanafe, net: dict, arch, leak_decay: float, reset_mode: str):
    """The network through SANA-FE's Python API, every neuron mapped to its recorded core."""
    cores = arch.cores()
    snn = sanafe.Network()
    groups = []
    raster = net["input_spikes"]
    for layer in net["layers"]:
        if layer["kind"] == "input":
            group = snn.create_neuron_group(layer["name"], layer["n"], log_spikes=True)
            used: dict[int, int] = {}
            for i, neuron in enumerate(group.neurons):
                core = int(layer["core"][i])
                unit = used.get(core, 0)  # one input soma unit per neuron of the core
                used[core] = unit + 1
                neuron.set_attributes(
                    soma_hw_name=f"loihi_inputs[{unit}]",
                    model_attributes={"spikes": [bool(s) for s in raster[:, i]]},
                )
        else:
            group = snn.create_neuron_group(
                layer["name"],
                layer["n"],
                model_attributes={
                    "threshold": float(layer["threshold"]),
                    "leak_decay": float(leak_decay),
                    "reset_mode": reset_mode,
                },
                default_synapse_hw_name=layer["synapse_hw"],
                soma_hw_name="loihi_lif",
                log_spikes=True,
            )
        groups.append(group)
    for pre, (layer, group) in enumerate(zip(net["layers"][1:], groups[1:], strict=True)):
        w = layer["weight"]
        if layer["kind"] == "conv":
            c_in, h, width = layer["in_shape"]
            k, s = layer["kernel"], layer["stride"]
            hwio = w.transpose(2, 3, 1, 0)  # SANA-FE reads [kh][kw][c_in][c_out]
            groups[pre].connect_neurons_conv2d(
                group,
                {"weight": [float(x) for x in hwio.ravel()]},
                width,
                h,
                c_in,
                k,
                k,
                w.shape[0],
                s,
                s,
            )
        else:
            groups[pre].connect_neurons_dense(
                group,
                {"weight": [float(x) for x in w.T.ravel()]},  # [n_in][n_out]
            )
    for layer, group in zip(net["layers"], groups, strict=True):
        for i, neuron in enumerate(group.neurons):
            neuron.map_to_core(cores[int(layer["core"][i])])
    return snn


def run_one(sanafe, nets: dict, run: dict) -> dict:
    net = nets[run["net"]]
    arch = sanafe.load_arch(str(LOIHI))
    snn = _build(sanafe, net, arch, run["leak_decay"], run["reset_mode"])
    chip = sanafe.SpikingChip(arch)  # a fresh chip per run: reset() keeps the input position
    chip.load(snn)
    steps = int(net["input_spikes"].shape[0])
    out = chip.sim(
        steps,
        timing_model=run["timing_model"],
        processing_threads=1,
        spike_trace=True,
        perf_trace=True,
    )
    names = [layer["name"] for layer in net["layers"]]
    fired = {name: [0] * steps for name in names}
    for t, spikes in enumerate(out["spike_trace"]):
        for address in spikes:
            group = str(address).split(".")[0]
            fired[group][t] += 1
    perf = out["perf_trace"]
    return {
        **run,
        "steps": steps,
        "layers": fired,
        "per_step": {k: [float(x) for x in perf[k]] for k in perf},
        "totals": {
            "neurons_fired": int(out["neurons_fired"]),
            "neurons_updated": int(out["neurons_updated"]),
            "synaptic_events": int(out["spikes"]),
            "messages": int(out["packets_sent"]),
            "energy_pj": {k: float(v) * 1e12 for k, v in out["energy"].items()},
            "latency_ns": float(out["sim_time"]) * 1e9,
        },
    }


def main() -> int:
    import sanafe

    job = json.load(sys.stdin)
    nets = _load(job["networks"])
    result = {
        "version": version("sanafe"),
        "arch_sha256": hashlib.sha256(LOIHI.read_bytes()).hexdigest(),
        "runs": [run_one(sanafe, nets, run) for run in job["runs"]],
    }
    with open(job["out"], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
