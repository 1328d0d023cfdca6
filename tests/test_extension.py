"""Proof that a new scheme and a new stall cause are one registration each: both are defined
here, in the test, and run through ``run`` → timing → energy → report on both hardware
families without touching a package module.

The scheme: a hard-reset IF neuron (v += P each step; spike when v >= Θ, then v = 0; T steps),
whose hardware waits ``wait_cycles`` before each time-step's update, recorded under a new stall
cause, ``refractory``. Known answers: the PE array's neuron unit waits wait_cycles × (neuron
steps of a tile) per tile, so a layer waits wait_cycles · ⌈C_o/M⌉ · H_o · ⌈W_o/N⌉ · T per
sample; a multi-core layer waits wait_cycles per local step, wait_cycles · T per sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from neurosim import cli, experiment, functional, hw, ir, report, schemes, timing
from neurosim.schemes import NeuronBuild, Options, Scheme, option
from neurosim.sweep import SweepSpec, run_sweep
from neurosim.timing.stages import StallCause

WAIT = 3
"""Cycles the test family's hardware waits before each step's update."""


@dataclass(frozen=True, eq=False)
class HardResetSpec(ir.NeuronSpec):
    """Hard-reset IF: v += P(t); fire at v >= Θ, then v = 0; T steps."""

    family: ClassVar[str] = "hard_reset_probe"
    steps: int = 4
    wait_cycles: int = WAIT

    @property
    def level_gain(self) -> int:
        return self.steps

    @property
    def num_steps(self) -> int:
        return self.steps

    @property
    def neuron_wait(self) -> tuple[int, str] | None:
        return (self.wait_cycles, "refractory")

    def run(self, ctx) -> None:
        t, n, b = self.steps, ctx.neurons, ctx.batch
        cur = ctx.current("steps").astype(np.int64).reshape(-1, b, n)
        th = np.repeat(self.threshold, n // self.threshold.size)
        v = np.zeros((b, n), np.int64)
        spikes = np.zeros((t, b, n), np.uint8)
        for step in range(t):
            v += cur[min(step, cur.shape[0] - 1)]
            fired = v >= th
            spikes[step] = fired
            v[fired] = 0
        ctx.store(spikes, None, t, t)
        per = np.full(t, n * b, np.int64)
        ctx.count(neuron_updates=per, compares=per.copy())


def hard_reset_reference(current: np.ndarray, threshold: np.ndarray, t: int) -> np.ndarray:
    """The same neuron written out per neuron with Python ints (the test's own reference)."""
    steps_in, n = current.shape
    out = np.zeros((t, n), np.uint8)
    for i in range(n):
        v = 0
        for step in range(t):
            v += int(current[min(step, steps_in - 1), i])
            if v >= int(threshold[i]):
                out[step, i] = 1
                v = 0
    return out


@dataclass(frozen=True, kw_only=True)
class HardResetOptions(Options):
    num_steps: int = option(4, minimum=1, maximum=64, label="T", help="T, time-steps")
    wait_cycles: int = option(WAIT, minimum=0, help="hardware wait before each step")


@dataclass(frozen=True, eq=False)
class HardResetScheme(Scheme):
    def theta(self, act: ir.ActQuant, opts: Options) -> float:
        return float(act.clip)

    def make_neuron(self, build: NeuronBuild) -> tuple[ir.NeuronSpec, float]:
        opts = build.options
        spec = HardResetSpec(
            threshold=build.threshold(self.theta(build.act, opts)),
            max_level=opts.num_steps,
            mem_bits=build.mem_bits,
            steps=opts.num_steps,
            wait_cycles=opts.wait_cycles,
        )
        return spec, float(build.act.clip) / opts.num_steps


PROBE = HardResetScheme(
    name="hard_reset_probe",
    spec=HardResetSpec,
    options=HardResetOptions,
    description="a test scheme: hard-reset IF with a refractory wait",
    table_settings=({"num_steps": 4},),
)
REFRACTORY = StallCause("refractory", "the neuron's refractory hand-shake", "#f59f00")


@pytest.fixture
def registered():
    with schemes.registered(PROBE), timing.registered_cause(REFRACTORY):
        yield


@pytest.fixture
def digits():
    return experiment.resolve_model(None, None, 6)


def _expected_wait(ev, family: str, samples: int) -> int:
    spiking = [lay.name for lay in ev.network.layers if getattr(lay, "neuron", None) is not None]
    if family == "pe_array":
        mapped = experiment.families.compile(ev.network, hw.load("pe_array_tiny"))
        per_sample = sum(
            s.tiles[0] * s.tiles[1] * s.tiles[2] * s.steps
            for s in mapped.layers
            if s.name in spiking
        )
    else:
        per_sample = sum(ev.network.layer(name).neuron.steps for name in spiking)
    return WAIT * per_sample * samples


@pytest.mark.usefixtures("registered")
def test_the_new_neuron_runs_as_its_reference(digits):
    net, images, _ = digits
    snn = experiment.convert.convert(net, PROBE.name, num_steps=4)
    assert snn.scheme == PROBE.name
    assert isinstance(snn.layer("conv1").neuron, HardResetSpec)
    trace = functional.run(snn, images)
    # conv1 reads the analog codes: its current is held for all 4 steps.
    run = functional._BatchRun(snn, images.astype(np.int64), "snn", True)
    cur = run.current(snn.layer("conv1"), "steps").astype(np.int64)
    n = int(np.prod(snn.shapes["conv1"]))
    th = np.repeat(snn.layer("conv1").neuron.threshold, n // 16)
    for b in range(len(images)):
        want = hard_reset_reference(cur[:, b].reshape(cur.shape[0], n), th, 4)
        got = trace.layer("conv1").spikes[:, b].reshape(4, n)
        np.testing.assert_array_equal(got, want)
    assert trace.layer("conv1").ops["neuron_updates"].tolist() == [n * len(images)] * 4


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize(
    ("config", "family"), [("pe_array_tiny", "pe_array"), ("multicore", "multicore")]
)
def test_scheme_and_stall_cause_through_timing_energy_and_reports(digits, config, family, tmp_path):
    net, images, labels = digits
    cfg = hw.load(config)
    ev = experiment.evaluate(net, images, labels, PROBE.name, {}, cfg, stream=2)
    # timing: the new cause is a column of every table, with the known total
    stages = ev.timing.per_stage()
    assert "stall_refractory_cycles" in stages.columns
    assert int(stages["stall_refractory_cycles"].sum()) == _expected_wait(ev, family, 2)
    assert "stall_refractory_cycles" in ev.timing.per_layer().columns
    # energy: the new scheme's ops are priced like any other
    totals = ev.energy.totals
    assert totals["neuron_updates"] > 0
    assert np.isfinite(ev.energy.total_pj)
    assert ev.row["scheme"] == PROBE.name
    assert ev.row["latency_cycles"] > 0
    # reports: the timeline's legend and the per-layer plot carry the new cause
    path = report.plot_timeline(ev.timing, tmp_path / "timeline.png")
    assert path.stat().st_size > 0
    report.plot_latency_by_layer(ev.timing.per_layer(), tmp_path / "layers.png")
    assert (tmp_path / "layers.png").stat().st_size > 0
    # the wait costs time: the same network without it is faster
    fast = experiment.evaluate(net, images, labels, PROBE.name, {"wait_cycles": 0}, cfg, stream=2)
    assert fast.row["latency_cycles"] < ev.row["latency_cycles"]
    assert int(fast.timing.per_stage()["stall_refractory_cycles"].sum()) == 0


@pytest.mark.usefixtures("registered")
def test_both_pe_array_engines_agree_with_the_wait(digits):
    net, images, labels = digits
    fn = experiment.run_functional(net, images, labels, PROBE.name, {}, stream=2)
    cfg = hw.load("pe_array_tiny")
    mapped = experiment.families.compile(fn.snn, cfg)
    a = experiment.families.simulate(mapped, fn.timed, cfg, num_samples=2, engine="simpy")
    b = experiment.families.simulate(mapped, fn.timed, cfg, num_samples=2, engine="maxplus")
    c = experiment.families.simulate(
        mapped, fn.timed, cfg, num_samples=2, engine="maxplus", keep_intervals=False
    )
    assert a.event_count == b.event_count == c.event_count
    assert a.latency_cycles == b.latency_cycles == c.latency_cycles
    for other in (b, c):
        assert a.per_stage().equals(other.per_stage())


@pytest.mark.usefixtures("registered")
def test_cli_run_table_and_sweep_know_the_new_scheme(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = cli.main(
        [
            "run",
            "--scheme",
            PROBE.name,
            "--samples",
            "6",
            "--stream",
            "2",
            "--hw",
            "pe_array_tiny",
            "--wait-cycles",
            "5",
            "--json",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    row = json.loads(out.read_text())["schemes"][0]
    assert row["scheme"] == PROBE.name
    assert row["latency_cycles"] > 0
    # the table compares the new scheme's own settings, labelled from its options
    settings = [s for s in experiment.table_settings() if s[0] == PROBE.name]
    assert settings == [(PROBE.name, {"num_steps": 4})]
    assert experiment.setting_label(*settings[0]) == "hard_reset_probe T=4"
    # a sweep over its options (in this process: the registration is this process's)
    spec = SweepSpec.from_dict(
        {
            "meta": {"name": "probe"},
            "base": {"hw": "pe_array_tiny", "samples": 4, "stream": 1, "scheme": PROBE.name},
            "axes": {"pe.M": [2, 4]},
            "scheme_axes": {"wait_cycles": [0, 2]},
        }
    )
    result = run_sweep(spec, tmp_path / "sweep", workers=1)
    table = result.table
    assert (table["status"] == "ok").all()
    waits = table.groupby("wait_cycles")["stall_refractory_cycles"].sum()
    assert waits[0] == 0
    assert waits[2] > 0
