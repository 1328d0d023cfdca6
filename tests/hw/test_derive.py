"""Hardware files that start from a shipped config (``base = ...``) and ``--set`` overrides."""

import pytest

from neurosim import hw
from neurosim.errors import ConfigError
from neurosim.hw.derive import merge, parse_assignment


def test_three_line_toml_with_base_loads(tmp_path):
    """The 3-line file of the README: everything else comes from the shipped pe_array."""
    path = tmp_path / "fast_dram.hw.toml"
    path.write_text('base = "pe_array"\n[dram]\nbandwidth_gbps = 25.6\n')
    cfg = hw.load(path)
    shipped = hw.load("pe_array")
    assert cfg.dram.bandwidth_gbps == 25.6
    assert cfg.meta.name == "fast_dram"
    assert "dram.bandwidth_gbps" in cfg.meta.description
    assert hw.replace_field(shipped, "dram.bandwidth_gbps", 25.6).pe == cfg.pe
    assert cfg.dram.latency_cycles == shipped.dram.latency_cycles
    assert cfg.energy_table == shipped.energy_table


def test_base_file_is_validated_like_a_full_file(tmp_path):
    path = tmp_path / "bad.hw.toml"
    path.write_text('base = "pe_array"\n[dram]\nbandwidth_gbps = -1\nbogus = 3\n')
    with pytest.raises(ConfigError) as info:
        hw.load(path)
    text = str(info.value)
    assert "dram.bandwidth_gbps = -1" in text
    assert "out of range" in text
    assert "dram.bogus" in text


def test_base_chain_and_relative_path(tmp_path):
    (tmp_path / "a.hw.toml").write_text('base = "pe_array"\n[clock]\nfrequency_mhz = 200.0\n')
    (tmp_path / "b.hw.toml").write_text('base = "a.hw.toml"\n[dram]\nlatency_cycles = 7\n')
    cfg = hw.load(tmp_path / "b.hw.toml")
    assert (cfg.clock.frequency_mhz, cfg.dram.latency_cycles, cfg.meta.name) == (200.0, 7, "b")


def test_base_cycle_is_one_error(tmp_path):
    (tmp_path / "a.hw.toml").write_text('base = "b.hw.toml"\n')
    (tmp_path / "b.hw.toml").write_text('base = "a.hw.toml"\n')
    with pytest.raises(ConfigError, match="base chain"):
        hw.load(tmp_path / "a.hw.toml")


def test_unknown_base_names_shipped_configs(tmp_path):
    path = tmp_path / "x.hw.toml"
    path.write_text('base = "pe_aray"\n')
    with pytest.raises(ConfigError, match="did you mean 'pe_array'"):
        hw.load(path)


def test_overrides_validated_and_applied():
    cfg = hw.load("pe_array", {"dram.bandwidth_gbps": 25.6, "pe.zero_skipping": "event"})
    assert (cfg.dram.bandwidth_gbps, cfg.pe.zero_skipping) == (25.6, "event")
    with pytest.raises(ConfigError, match=r"did you mean 'dram\.bandwidth_gbps'"):
        hw.load("pe_array", {"dram.bandwith_gbps": 1.0})
    with pytest.raises(ConfigError, match="out of range"):
        hw.load("pe_array", {"dram.bandwidth_gbps": 0})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dram.bandwidth_gbps=25.6", ("dram.bandwidth_gbps", 25.6)),
        ("pe.unroll_steps = 4", ("pe.unroll_steps", 4)),
        ("neuron_unit.overlap_with_pe=false", ("neuron_unit.overlap_with_pe", False)),
        ('pe.zero_skipping="event"', ("pe.zero_skipping", "event")),
        ("pe.zero_skipping=event", ("pe.zero_skipping", "event")),
    ],
)
def test_parse_assignment(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["dram.bandwidth_gbps", "=3", "dram.bandwidth_gbps="])
def test_parse_assignment_rejects(text):
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_assignment(text)


def test_merge_tables_key_by_key():
    assert merge({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]}) == {
        "a": {"x": 1, "y": 3},
        "b": [2],
    }
