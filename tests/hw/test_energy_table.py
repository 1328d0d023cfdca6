"""Energy tables: the shipped 45 nm table, the bit-width rule, memory classes, loading errors."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import hw
from neurosim.errors import ConfigError
from neurosim.hw.energy_table import (
    DEFAULT_TABLE,
    from_dict,
    list_energy_tables,
    load_energy_table,
)
from neurosim.hw.energy_values import CORE_OPS, EnergyTable

# MT-SNN appendix C, Table 8 ("Energy Table for 45nm CMOS Process", Horowitz 2014), row by row.
TABLE_8 = [
    ("add", "int", 8, 0.03),
    ("add", "int", 32, 0.1),
    ("mult", "int", 8, 0.2),
    ("mult", "int", 32, 3.1),
    ("mac", "int", 8, 0.23),
    ("add", "fp", 16, 0.4),
    ("add", "fp", 32, 0.9),
    ("mult", "fp", 16, 1.1),
    ("mult", "fp", 32, 3.7),
    ("mult_x8", "int", 1, 0.025),
    ("mult_x8", "int", 2, 0.05),
    ("mult_x8", "int", 3, 0.075),
]

META = {"schema_version": 1, "name": "t", "description": "test table", "sources": ["tests"]}


def _table(*ops: tuple[str, str, int, float], **sections) -> EnergyTable:
    entries = [
        {"op": o, "kind": k, "bits": b, "energy_pj": e, "source": "test"} for o, k, b, e in ops
    ]
    return from_dict({"meta": META, "op": entries, **sections}, source="test.toml")


@pytest.fixture(scope="module")
def table() -> EnergyTable:
    return load_energy_table(DEFAULT_TABLE)


# -- the shipped table ------------------------------------------------------------------------


def test_shipped_table_holds_every_row_of_mt_snn_table_8(table):
    listed = {(e.op, e.kind, e.bits): e.energy_pj for e in table.ops}
    assert listed == {(o, k, b): e for o, k, b, e in TABLE_8}
    for op, kind, bits, energy in TABLE_8:
        assert table.op_energy(op, bits, kind) == energy


def test_every_shipped_number_has_a_source(table):
    frame = table.to_frame()
    assert len(frame) == len(TABLE_8) + 5 + 1  # 12 ops, 4 SRAM classes + DRAM, the NoC
    assert frame["source"].str.strip().str.len().gt(10).all()
    assert table.meta.schema_version == 1
    assert table.name == "horowitz_45nm"


def test_shipped_table_is_found_by_name_stem_and_path(table):
    assert list_energy_tables() == ["horowitz_45nm", "loihi_davies2018", "loihi_sanafe"]
    assert load_energy_table("45nm") is table
    assert load_energy_table("45nm.toml") is table
    from_path = load_energy_table(Path(table.source_path))
    assert from_path.ops == table.ops
    assert from_path.memories == table.memories


@pytest.mark.parametrize("name", hw.list_configs())
def test_every_shipped_hw_config_names_a_loadable_table(name):
    cfg = hw.load(name)
    assert load_energy_table(cfg.energy_table).name == cfg.energy_table


def test_memory_and_noc_entries(table):
    """Horowitz 2014, 64-bit accesses: 8 KB 10 pJ, 32 KB 20 pJ, (256 KB 56.6 pJ, derived),
    1 MB 100 pJ, DRAM 1.3 nJ → per byte 1.25, 2.5, 7.075, 12.5, 162.5 pJ; NoC 0.6 pJ/bit/hop."""
    assert table.sram_energy_per_byte(1) == 1.25
    assert table.sram_energy_per_byte(8192) == 1.25
    assert table.sram_energy_per_byte(8193) == 2.5
    assert table.sram_energy_per_byte(32768) == 2.5
    assert table.sram_energy_per_byte(65536) == pytest.approx(7.075)
    assert table.sram_energy_per_byte(262144) == pytest.approx(7.075)
    assert table.sram_energy_per_byte(262145) == 12.5
    assert table.sram_energy_per_byte(1 << 20) == 12.5
    assert table.dram_energy_per_byte() == 162.5
    assert table.noc_energy_per_bit_hop() == 0.6
    assert table.static is None


def test_sram_larger_than_every_class_is_an_error(table):
    with pytest.raises(
        ConfigError,
        match=r"2097152-byte SRAM is larger than the largest SRAM "
        r"class \(1048576 bytes\)",
    ):
        table.sram_energy_per_byte(2 << 20)


# -- the bit-width rule (MT-SNN appendix C) ---------------------------------------------------


def test_multiplier_energy_is_quadratic_in_width(table):
    """INT2 multiply = 1/16 of INT8 (MT-SNN App. C: 2×2 vs 8×8): 0.2·(2/8)² = 0.0125 pJ.
    16-bit: nearest listed width 8 (|16−8| < |16−32|) → 0.2·(16/8)² = 0.8 pJ."""
    assert table.op_energy("mult", 2) == pytest.approx(0.2 / 16)
    assert table.op_energy("mult", 4) == pytest.approx(0.05)
    assert table.op_energy("mult", 16) == pytest.approx(0.8)
    assert table.op_energy("mult", 24, "fp") == pytest.approx(3.7 * (24 / 32) ** 2)


def test_adder_energy_is_linear_in_width(table):
    """16b: from 8b, 0.03·2 = 0.06; 24b: from 32b, 0.1·24/32 = 0.075; 20b is 12 from both
    8 and 32 and the tie goes to the wider entry: 0.1·20/32 = 0.0625; fp 8b: 0.4·8/16 = 0.2."""
    assert table.op_energy("add", 16) == pytest.approx(0.06)
    assert table.op_energy("add", 24) == pytest.approx(0.075)
    assert table.op_energy("add", 20) == pytest.approx(0.0625)
    assert table.op_energy("add", 8, "fp") == pytest.approx(0.2)


@pytest.mark.parametrize("n", range(1, 9))
def test_mac_energy_is_the_spec_rule(table, n):
    """E_MAC(n) = E_mult(n×8) + E_add(8) = 0.025·n + 0.03 pJ (neuron-models §5.1)."""
    assert table.mult_energy(n) == pytest.approx(0.025 * n)
    assert table.mac_energy(n) == pytest.approx(0.025 * n + 0.03)


def test_derived_mac_matches_the_table_8_mac_row(table):
    """0.025·8 + 0.03 = 0.23 pJ = Table 8 '8b MAC (INT)'."""
    assert table.mac_energy(8) == pytest.approx(table.op_energy("mac", 8))


def test_mac_has_no_width_rule(table):
    with pytest.raises(ConfigError, match=r"no 4-bit 'mac' \(int\) entry.*mac_energy"):
        table.op_energy("mac", 4)


def test_shift_and_compare_cost_an_add_unless_listed(table):
    assert table.op_energy("compare", 32) == table.op_energy("add", 32) == 0.1
    assert table.op_energy("shift", 24) == pytest.approx(0.075)
    own = _table(("add", "int", 32, 0.1), ("compare", "int", 32, 0.05), ("shift", "int", 32, 0.0))
    assert own.op_energy("compare", 16) == pytest.approx(0.025)
    assert own.op_energy("shift", 32) == 0.0


@settings(max_examples=40, deadline=None)
@given(listed=st.integers(1, 64), energy=st.floats(0.001, 10.0), wanted=st.integers(1, 64))
def test_width_rule_scales_from_the_only_listed_width(listed, energy, wanted):
    t = _table(("add", "int", listed, energy), ("mult", "int", listed, energy))
    assert t.op_energy("add", wanted) == pytest.approx(energy * wanted / listed)
    assert t.op_energy("mult", wanted) == pytest.approx(energy * (wanted / listed) ** 2)
    assert t.op_energy("add", listed) == energy


# -- missing entries are errors, never zeros ----------------------------------------------------


def test_missing_op_names_op_and_width():
    t = _table(("add", "int", 8, 0.03))
    with pytest.raises(
        ConfigError,
        match=r"no 'mult' \(int\) entry of any width, needed for a "
        r"8-bit mult; listed ops: add \(int\)",
    ):
        t.op_energy("mult", 8)
    with pytest.raises(ConfigError, match=r"no 'add' \(fp\) entry of any width.*16-bit add"):
        t.op_energy("add", 16, "fp")
    with pytest.raises(ConfigError, match=r"no 'mult_x8' \(int\) entry of any width.*2-bit"):
        t.mac_energy(2)
    with pytest.raises(ConfigError, match=r"unknown op 'div'; allowed: add, mult"):
        t.op_energy("div", 8)


def test_missing_memory_and_noc_entries_are_named():
    t = _table(("add", "int", 8, 0.03))
    with pytest.raises(ConfigError, match=r"no \[\[memory\]\] entry with memory = 'dram'"):
        t.dram_energy_per_byte()
    with pytest.raises(ConfigError, match=r"memory = 'sram', needed for a 100-byte SRAM"):
        t.sram_energy_per_byte(100)
    with pytest.raises(ConfigError, match=r"no \[noc\] section"):
        t.noc_energy_per_bit_hop()


# -- loading errors -----------------------------------------------------------------------------


def test_unknown_table_lists_the_known_ones():
    with pytest.raises(
        ConfigError,
        match=r"unknown energy table 'horowitz_45'; did you mean "
        r"'horowitz_45nm'\?",
    ) as err:
        load_energy_table("horowitz_45")
    assert "shipped tables: horowitz_45nm (45nm.toml)" in str(err.value)
    with pytest.raises(ConfigError, match=r"shipped tables: horowitz_45nm"):
        load_energy_table("7nm")


def test_missing_file_and_bad_toml_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: no such energy table file"):
        load_energy_table(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[meta\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_energy_table(bad)


BAD_TABLE = """
[meta]
schema_version = 2
name = "bad"
description = "every kind of mistake"
sources = ["tests"]

[[op]]
op = "add"
kind = "int"
bits = 8
energy_pj = 0.03
source = "ok"

[[op]]
op = "add"
kind = "int"
bits = 8
energy_pj = 0.04
source = "duplicate of op[0]"

[[op]]
op = "mul"
kind = "int"
bits = "eight"
energy_pj = -1.0
source = "bad op, bits and energy"

[[op]]
op = "mult_x8"
kind = "fp"
bits = 2
energy_pJ = 0.05
source = ""

[[memory]]
memory = "sram"
access_bits = 64
energy_pj = 10.0
source = "no max_bytes"

[[memory]]
memory = "dram"
max_bytes = 100
access_bits = 64
energy_pj = 1300.0
source = "max_bytes on DRAM"

[noc]
energy_pj_per_bit_hop = "cheap"
source = "x"

[extra]
x = 1
"""


def test_every_problem_of_a_file_is_reported_with_file_and_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_TABLE)
    with pytest.raises(ConfigError) as err:
        load_energy_table(path)
    lines = str(err.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    text = str(err.value)
    expected = [
        "meta.schema_version = 2 is not allowed; allowed: 1",
        "op[1]: duplicates op[0] (8-bit add, int)",
        "op[2].op = 'mul' is not allowed (did you mean 'mult'?); allowed: add, mult, mult_x8",
        "op[2].bits = 'eight' is not an integer; allowed: an integer in [1, 64] (bits)",
        "op[2].energy_pj = -1.0 is out of range; "
        "allowed: a number in [0, 1e+06] (pJ per operation)",
        "op[3].energy_pJ: unknown key; did you mean 'energy_pj'?",
        "op[3].energy_pj: missing required field",
        "op[3].source = '' is empty",
        "memory[0].max_bytes: missing required field for an SRAM entry",
        "memory[1].max_bytes = 100 is not allowed for a DRAM entry",
        "noc.energy_pj_per_bit_hop = 'cheap' is not a number",
        "extra: unknown key;",
        "allowed keys at the top level: meta, op, memory, noc, static",
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert len(lines) == len(expected) - 1  # the last two fragments share a line


def test_mult_x8_must_be_an_integer_op():
    with pytest.raises(
        ConfigError,
        match=r"op\[0\]\.kind = 'fp' is not allowed for op "
        r"'mult_x8'",
    ):
        _table(("mult_x8", "fp", 2, 0.05))


def test_a_table_needs_meta_and_ops():
    with pytest.raises(ConfigError) as err:
        from_dict({}, source="empty.toml")
    assert "empty.toml: meta: missing required section [meta]" in str(err.value)
    assert "empty.toml: op: missing: give at least one [[op]] entry" in str(err.value)


def test_static_section_is_read():
    t = _table(
        ("add", "int", 8, 0.03),
        static={"power_mw_per_core": 2.5, "source": "assumption for a test"},
    )
    assert t.static is not None
    assert t.static.power_mw_per_core == 2.5


# --------------------------------------------------------------------------------------------
# Per-event ([[core_op]]) tables
# --------------------------------------------------------------------------------------------


def _core(ops, barriers=({"tiles": 1, "latency_ns": 100.0, "source": "s"},)):
    entries = [{"op": op, "energy_pj": 1.0, "latency_ns": 2.0, "source": "s"} for op in ops]
    return {"meta": META, "core_op": entries, "barrier": list(barriers)}


@pytest.mark.parametrize("name", ["loihi_davies2018", "loihi_sanafe"])
def test_shipped_per_event_tables_list_every_event_with_a_source(name):
    t = load_energy_table(name)
    assert t.prices_core_ops
    assert not t.ops
    assert [e.op for e in t.core_ops][: len(CORE_OPS)] == list(CORE_OPS)
    assert all(e.source.strip() for e in (*t.core_ops, *t.barriers))
    assert (
        t.core_op("synaptic_op").energy_pj == {"loihi_davies2018": 23.6, "loihi_sanafe": 24.0}[name]
    )


def test_per_event_table_errors_name_each_problem():
    """Missing events are listed together; a table without a barrier, a duplicate op or tile
    count and an unknown op are each one line naming the field."""
    with pytest.raises(ConfigError) as err:
        from_dict(_core(["synaptic_op", "spike_out", "spike_out", "synapse"], barriers=()))
    text = str(err.value)
    assert "core_op: missing entries neuron_access, neuron_update_active" in text
    assert "core_op[2]: duplicates the 'spike_out' entry" in text
    assert "core_op[3].op = 'synapse' is not allowed" in text
    assert "barrier: missing" in text
    twice = [{"tiles": 2, "latency_ns": 1.0, "source": "s"}] * 2
    with pytest.raises(ConfigError, match=r"barrier\[1\]\.tiles = 2 is listed twice"):
        from_dict(_core(CORE_OPS, barriers=twice))
    t = from_dict(_core(CORE_OPS))
    assert t.core_op("synaptic_op_linear") == t.core_op("synaptic_op")
    assert t.barrier_ns(7) == 100.0
    with pytest.raises(ConfigError, match=r"no \[\[core_op\]\] entry 'spike_out'"):
        _table(("add", "int", 8, 0.03)).core_op("spike_out")
