"""Every reuse key is derived from the config fields' declared effects, and it changes exactly
when what it guards changes (issue: no hand-kept reuse lists).

For each family and every declared field, a few valid perturbations of several base contexts
(schemes and config variants in which the field matters) are compared with the base:

* soundness — a perturbation that leaves a key unchanged leaves its result unchanged: the
  compiled mapping (``mapping``), the per-tile PE cycles the trace statistics memoise
  (``activity``) and the timing-independent energy rows and per-byte prices (``energy``);
* precision — for a field that declares an effect, some perturbation changes both the key
  and the result (the declaration is not stale).
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from neurosim import convert, energy, families, functional, hw
from neurosim.errors import ConfigError, MappingError
from neurosim.hw.energy_table import load_energy_table
from neurosim.timing import pe_array_costs
from tests.conftest import random_codes, random_qann

EFFECTS = ("mapping", "activity", "energy")


def _perturbations(f: dataclasses.Field, tp: type, value):
    """A few other values of a leaf field (validation drops the invalid ones later)."""
    meta = f.metadata
    if "choices" in meta:
        return [c for c in meta["choices"] if c != value]
    if tp is bool:
        return [not value]
    if tp is int:
        found = {value * 2, value + 1, value // 2, value * 64, value * 4096, value // 16, 1}
        found.add(value // 64)
        return sorted(v for v in found if v != value)
    if tp is float:
        return [value * 2, value / 2, value * 64]
    return []


def _mapping_result(cfg, snn):
    try:
        mapped = families.compile(snn, cfg)
    except MappingError as exc:
        return ("error", str(exc).split(":")[0])
    if cfg.family == "pe_array":
        return tuple(dataclasses.astuple(s) for s in mapped.layers)
    return (mapped.to_frame().to_csv(), mapped.cores_frame().to_csv())


def _activity_result(cfg, snn, trace):
    """Per-tile PE cycles of every layer ([H_o, n_w, n_t], before the o-block repetition), or
    for a layer on a systolic dataflow the layer's total (its closed form fixes the total; the
    spread over tiles follows the mapping's tile grid, a mapping result); None where the
    network does not map (a mapping result, not an activity one)."""
    if cfg.family != "pe_array":
        return ()
    try:
        mapped = families.compile(snn, cfg)
    except MappingError:
        return None
    out = []
    for sched in mapped.layers:
        costs = pe_array_costs.layer_costs(mapped, sched, trace, cfg, 0, tiles_per_item=1)
        if sched.systolic is not None:
            out.append(int(costs.pe.sum()))
        else:
            out.append(costs.pe.reshape(sched.tiles)[0].tolist())
    return tuple(map(str, out))


def _energy_result(cfg, snn, trace, ann):
    table = load_energy_table(cfg.energy_table)
    eb = energy.estimate(trace, table, network=snn, hw=cfg, ann=ann)
    record = families.of(cfg)
    try:
        sram = table.sram_energy_per_byte(record.sram_class_bytes(cfg))
    except ConfigError:
        sram = math.nan
    prices = (sram, table.dram_energy_per_byte(), table.noc_energy_per_bit_hop())
    return (tuple(map(str, eb.rows)), tuple(map(str, eb.ann_rows)), str(prices))


CONTEXTS = {
    "pe_array": [
        ("pe_array_tiny", "if", {}),
        ("pe_array_tiny", "lmht", {"pe.zero_skipping": "group"}),
        (
            "pe_array_tiny",
            "lmht",
            {"pe.zero_skipping": "event", "datapath.spike_format": "event_list"},
        ),
        ("pe_array_tiny", "if", {"pe.dataflow": "ws", "pe.array_rows": 4, "pe.array_cols": 3}),
    ],
    "multicore": [("multicore_tiny", "if", {}), ("multicore_tiny", "sws", {})],
}


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    qann = random_qann(3, levels=(4, 4, 4, 4))
    codes = random_codes(qann, 2, 3)
    out = {}
    for scheme, opts in (("if", {"num_steps": 4}), ("lmht", {}), ("sws", {})):
        snn = convert.convert(qann, scheme, **opts)
        out[scheme] = (snn, functional.run(snn, codes), qann)
    return out


@pytest.fixture(scope="module")
def other_table(tmp_path_factory):
    """A copy of the shipped table with one op energy changed (another energy table)."""
    from importlib.resources import files

    text = files("neurosim.hwconfigs").joinpath("energy/45nm.toml").read_text()
    path = tmp_path_factory.mktemp("tables") / "other.toml"
    path.write_text(text.replace("energy_pj = 0.03", "energy_pj = 0.04", 1))
    return str(path)


@pytest.mark.parametrize("family", ["pe_array", "multicore"])
def test_reuse_keys_change_exactly_when_results_change(family, networks, other_table):
    declared = {p: f for p, f, _ in hw.fields.leaf_fields(hw.FAMILIES[family])}
    changed_somewhere: dict[tuple[str, str], bool] = {}
    for config_name, scheme, overrides in CONTEXTS[family]:
        base = hw.replace_fields(hw.load(config_name), overrides) if overrides else None
        base = base or hw.load(config_name)
        snn, trace, ann = networks[scheme]
        results = {
            "mapping": lambda c, s=snn: _mapping_result(c, s),
            "activity": lambda c, s=snn, t=trace: _activity_result(c, s, t),
            "energy": lambda c, s=snn, t=trace, a=ann: _energy_result(c, s, t, a),
        }
        base_results = {e: results[e](base) for e in EFFECTS}
        base_keys = {e: hw.reuse_key(base, e) for e in EFFECTS}
        for path, f, tp in hw.fields.leaf_fields(hw.FAMILIES[family]):
            if path.startswith("meta."):
                continue
            value = hw.field_value(base, path)
            candidates = [other_table] if path == "energy_table" else _perturbations(f, tp, value)
            for new in candidates:
                try:
                    cfg = hw.replace_field(base, path, new)
                except ConfigError:
                    continue
                for effect in EFFECTS:
                    key_changed = hw.reuse_key(cfg, effect) != base_keys[effect]
                    got = results[effect](cfg)
                    if got is None:
                        continue
                    result_changed = got != base_results[effect]
                    if not key_changed:
                        assert not result_changed, (
                            f"{family} {config_name} {scheme} {overrides}: {path} = {new!r} "
                            f"changes the {effect} result but not its reuse key"
                        )
                    if key_changed and result_changed:
                        changed_somewhere[(path, effect)] = True
    for path, f in declared.items():
        for effect in f.metadata["affects"]:
            if effect in EFFECTS:
                assert changed_somewhere.get((path, effect)), (
                    f"{family}: {path} declares {effect!r}, but no perturbation changed that "
                    f"result (a stale declaration?)"
                )


def test_reuse_key_is_derived_from_the_declarations():
    """The key lists exactly the declared fields' values, in file order, after the family."""
    cfg = hw.load("pe_array")
    paths = hw.effect_paths("pe_array", "activity")
    assert paths == (
        "pe.unroll_out_columns",
        "pe.unroll_steps",
        "pe.unroll_in_channels",
        "pe.zero_skipping",
        "pe.events_per_cycle",
        "pe.multilevel",
        "pe.dataflow",
        "pe.array_rows",
        "pe.array_cols",
    )
    assert hw.reuse_key(cfg, "activity") == (
        "pe_array",
        *(hw.field_value(cfg, p) for p in paths),
    )
    # Every leaf field declares its effects from the known set.
    for family, cls in hw.FAMILIES.items():
        for path, f, _ in hw.fields.leaf_fields(cls):
            assert set(f.metadata["affects"]) <= set(hw.fields.EFFECTS), (family, path)
            assert path.startswith("meta.") or f.metadata["affects"], (family, path)


def test_energy_memo_keys_on_table_content_not_identity(networks, other_table):
    """Two loads of the same table file are equal: a sweep's memo is hit; a table with other
    content misses it."""
    snn, trace, _ = networks["if"]
    cfg = hw.load("pe_array_tiny")
    memo: dict = {}
    a = energy.estimate(trace, load_energy_table("horowitz_45nm"), network=snn, hw=cfg, memo=memo)
    b = energy.estimate(trace, load_energy_table("horowitz_45nm"), network=snn, hw=cfg, memo=memo)
    assert len(memo) == 1
    assert a.total_pj == b.total_pj
    c = energy.estimate(trace, load_energy_table(other_table), network=snn, hw=cfg, memo=memo)
    assert len(memo) == 2
    assert c.total_pj != a.total_pj
