"""Hardware descriptions: shipped files, error messages, round-trips, replace_field, reference."""

import dataclasses
import math
import string
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import hw
from neurosim.errors import ConfigError
from neurosim.hw.fields import leaf_fields, type_name

# The field names other modules code against (the contract), in file order.
PE_ARRAY_PATHS = [
    "meta.schema_version",
    "meta.name",
    "meta.family",
    "meta.description",
    "meta.sources",
    "energy_table",
    "clock.frequency_mhz",
    "pe.unroll_out_channels",
    "pe.unroll_out_columns",
    "pe.unroll_steps",
    "pe.unroll_in_channels",
    "pe.zero_skipping",
    "pe.events_per_cycle",
    "pe.multilevel",
    "pe.dataflow",
    "pe.array_rows",
    "pe.array_cols",
    "neuron_unit.updates_per_cycle",
    "neuron_unit.overlap_with_pe",
    "buffers.weight_bytes",
    "buffers.spike_bytes",
    "buffers.membrane_bytes",
    "buffers.load_queue_tiles",
    "buffers.pe_queue_tiles",
    "buffers.writeback_queue_tiles",
    "buffers.write_buffer_bytes",
    "buffers.prefetch_weights",
    "dram.bandwidth_gbps",
    "dram.latency_cycles",
    "datapath.weight_bits",
    "datapath.membrane_bits",
    "datapath.spike_format",
    "datapath.event_address_bits",
]
MULTICORE_PATHS = [
    "meta.schema_version",
    "meta.name",
    "meta.family",
    "meta.description",
    "meta.sources",
    "energy_table",
    "clock.frequency_mhz",
    "mesh.width",
    "mesh.height",
    "core.neurons_per_core",
    "core.synapse_bytes_per_core",
    "core.synops_per_cycle",
    "core.neuron_updates_per_cycle",
    "core.op_latencies",
    "core.input_buffer_samples",
    "noc.link_bits_per_cycle",
    "noc.hop_latency_cycles",
    "noc.event_bits",
    "noc.routing",
    "sync.barrier_cycles",
    "datapath.weight_bits",
    "datapath.membrane_bits",
]
PATHS = {"pe_array": PE_ARRAY_PATHS, "multicore": MULTICORE_PATHS}


def _shipped_text(name: str) -> str:
    return files("neurosim.hwconfigs").joinpath(f"{name}.hw.toml").read_text(encoding="utf-8")


def _write_variant(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    """A copy of a shipped file with exact-line edits (old line -> new line; "" deletes)."""
    text = _shipped_text(name)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "bad.hw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(excinfo: pytest.ExceptionInfo) -> list[str]:
    return str(excinfo.value).splitlines()


def _line_for(excinfo: pytest.ExceptionInfo, path: str) -> str:
    lines = [line for line in _problems(excinfo) if f": {path}: " in line or f": {path} = " in line]
    assert len(lines) == 1, (path, _problems(excinfo))
    return lines[0]


# --------------------------------------------------------------------------------------------
# Shipped configs
# --------------------------------------------------------------------------------------------


def test_shipped_configs_are_listed_and_load():
    names = hw.list_configs()
    assert names == [
        "firefly_v2",
        "loihi",
        "loihi_sanafe",
        "multicore",
        "multicore_tiny",
        "pe_array",
        "pe_array_tiny",
    ]
    for name in names:
        cfg = hw.load(name)
        assert cfg.meta.name == name
        assert cfg.family == cfg.meta.family
        assert cfg.meta.schema_version == 1
        assert len(cfg.meta.sources) >= 2
        assert cfg.energy_table in ("horowitz_45nm", "loihi_davies2018", "loihi_sanafe")
        assert cfg.source_path.endswith(f"{name}.hw.toml")
        # Same config by suffixed name, by Path and by path string.
        assert hw.load(f"{name}.hw.toml") == cfg
        assert hw.load(Path(cfg.source_path)) == cfg
        assert hw.load(cfg.source_path) == cfg
        assert field_names(cfg) == PATHS[cfg.family]


def field_names(cfg) -> list[str]:
    return hw.field_paths(cfg.family)


def test_tiny_configs_say_they_are_for_tests():
    for name in ("pe_array_tiny", "multicore_tiny"):
        assert hw.load(name).meta.description.startswith("For tests")


def test_pe_array_tiny_values():
    cfg = hw.load("pe_array_tiny")
    assert isinstance(cfg, hw.PEArrayConfig)
    assert (cfg.pe.unroll_out_channels, cfg.pe.unroll_out_columns) == (2, 2)
    assert (cfg.pe.unroll_steps, cfg.pe.unroll_in_channels) == (1, 2)
    assert cfg.pe.zero_skipping == "none"
    assert cfg.neuron_unit == hw.NeuronUnitConfig(updates_per_cycle=1, overlap_with_pe=False)
    assert cfg.dram.latency_cycles == 10
    # 0.1 GB/s = 1e8 bytes/s at 100 MHz = 1e8 cycles/s -> exactly 1 byte per cycle.
    assert cfg.dram_bytes_per_cycle == 1.0
    assert type(cfg.clock.frequency_mhz) is float


def test_pe_array_values_reproduce_the_dense_cycle_example():
    cfg = hw.load("pe_array")
    pe = cfg.pe
    assert (pe.unroll_out_channels, pe.unroll_out_columns) == (16, 4)
    assert (pe.unroll_steps, pe.unroll_in_channels) == (2, 8)
    assert pe.zero_skipping == "group"
    assert cfg.buffers.weight_bytes == 256 * 1024
    assert cfg.buffers.spike_bytes == 64 * 1024
    assert cfg.buffers.membrane_bytes == 128 * 1024
    assert cfg.datapath.weight_bits == 8
    # 12.8 GB/s at 300 MHz: 12.8e9 / 300e6 = 128/3 = 42.67 bytes per cycle.
    assert cfg.dram_bytes_per_cycle == pytest.approx(128 / 3, rel=1e-12)
    # Dense Alg. 2: C_o=64, H_o=W_o=8, T=4, K=3, C_i=32 -> 4·8·2·2·3·3·4 = 4608 cycles.
    cycles = (
        math.ceil(64 / pe.unroll_out_channels)
        * 8
        * math.ceil(8 / pe.unroll_out_columns)
        * math.ceil(4 / pe.unroll_steps)
        * 3
        * 3
        * math.ceil(32 / pe.unroll_in_channels)
    )
    assert cycles == 4608


def test_multicore_values():
    big, tiny = hw.load("multicore"), hw.load("multicore_tiny")
    assert isinstance(big, hw.MulticoreConfig)
    # 8 Loihi chips: 8 x 128 cores of 1024 neurons; 16 MB / 128 = 128 KiB synapse memory per
    # core, so 16 MB per chip.
    assert big.num_cores == 32 * 32 == 8 * 128
    assert big.core.neurons_per_core == 1024
    assert big.core.synapse_bytes_per_core * 128 == 16 * 1024 * 1024
    assert big.datapath == hw.MulticoreDatapathConfig(weight_bits=8, membrane_bits=24)
    assert tiny.num_cores == 4
    assert tiny.core.neurons_per_core == 64
    assert (tiny.core.synops_per_cycle, tiny.core.neuron_updates_per_cycle) == (1, 1)
    assert (tiny.noc.hop_latency_cycles, tiny.noc.link_bits_per_cycle) == (1, 8)
    assert tiny.sync.barrier_cycles == 0
    assert tiny.noc.routing == "xy"


def test_configs_are_frozen_and_equality_ignores_the_file():
    cfg = hw.load("pe_array_tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.pe.unroll_steps = 4
    copy = hw.from_dict(hw.to_dict(cfg))
    assert copy == cfg
    assert copy.source_path == "<dict>"


# --------------------------------------------------------------------------------------------
# Errors: each names the file, the dotted field, the bad value and what is allowed
# --------------------------------------------------------------------------------------------


def test_unknown_key_suggests_the_right_one(tmp_path):
    path = _write_variant(
        tmp_path, "pe_array_tiny", ("unroll_out_channels = 2", "unroll_out_chanels = 2")
    )
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    line = _line_for(excinfo, "pe.unroll_out_chanels")
    assert line.startswith(f"{path}: pe.unroll_out_chanels: unknown key;")
    assert "did you mean 'unroll_out_channels'?" in line
    assert "allowed keys in [pe]: unroll_out_channels, unroll_out_columns" in line
    # The misspelt key also leaves the real one missing: both are reported.
    missing = _line_for(excinfo, "pe.unroll_out_channels")
    assert missing == (
        f"{path}: pe.unroll_out_channels: missing required field; allowed: integer in [1, 65536]"
    )


def test_wrong_type(tmp_path):
    path = _write_variant(
        tmp_path, "pe_array_tiny", ("unroll_out_columns = 2", 'unroll_out_columns = "2"')
    )
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    assert _problems(excinfo) == [
        f'{path}: pe.unroll_out_columns = "2" is not an integer (a string); '
        f"allowed: integer in [1, 65536]"
    ]


def test_zero_pes(tmp_path):
    path = _write_variant(
        tmp_path, "pe_array_tiny", ("unroll_out_channels = 2", "unroll_out_channels = 0")
    )
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    assert _problems(excinfo) == [
        f"{path}: pe.unroll_out_channels = 0 is out of range; allowed: integer in [1, 65536]"
    ]


def test_negative_bandwidth(tmp_path):
    path = _write_variant(
        tmp_path, "pe_array_tiny", ("bandwidth_gbps = 0.1", "bandwidth_gbps = -12.8")
    )
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    assert _problems(excinfo) == [
        f"{path}: dram.bandwidth_gbps = -12.8 is out of range; allowed: finite float in "
        f"[1e-06, 1000000]"
    ]


def test_bad_enum(tmp_path):
    path = _write_variant(
        tmp_path, "pe_array_tiny", ('zero_skipping = "none"', 'zero_skipping = "events"')
    )
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    assert _problems(excinfo) == [
        f'{path}: pe.zero_skipping = "events" is not allowed (did you mean "event"?); '
        'allowed: one of "none", "group", "event"'
    ]


def test_missing_required_field(tmp_path):
    path = _write_variant(tmp_path, "multicore_tiny", ("hop_latency_cycles = 1\n", ""))
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    assert _problems(excinfo) == [
        f"{path}: noc.hop_latency_cycles: missing required field; allowed: integer in [0, 2^32]"
    ]


def test_weight_buffer_smaller_than_one_tile(tmp_path):
    # Tiny PE: one weight tile is M·V·1·1·weight_bits/8 = 2·2·1·1·8/8 = 4 bytes.
    path = _write_variant(tmp_path, "pe_array_tiny", ("weight_bytes = 256", "weight_bytes = 3"))
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    assert _problems(excinfo) == [
        f"{path}: buffers.weight_bytes = 3 is smaller than one weight tile: "
        "M·V·K_h·K_w·weight_bits/8 = 2·2·1·1·8/8 = 4 bytes (1x1 kernel, the smallest); "
        "allowed: integer >= 4"
    ]
    # 4 bytes is enough.
    ok = _write_variant(tmp_path, "pe_array_tiny", ("weight_bytes = 256", "weight_bytes = 4"))
    assert hw.load(ok).buffers.weight_bytes == 4


def test_spike_and_membrane_buffers_hold_one_tile():
    base = hw.to_dict(hw.load("pe_array"))
    # One input slice: N·S·V/8 = 4·2·8/8 = 8 bytes; one tile's membranes: 16·4·32/8 = 256 bytes.
    base["buffers"].update(spike_bytes=7, membrane_bytes=255)
    with pytest.raises(ConfigError) as excinfo:
        hw.from_dict(base, source="x.hw.toml")
    assert "allowed: integer >= 8" in _line_for(excinfo, "buffers.spike_bytes")
    assert "4·2·8/8 -> 8 bytes" in _line_for(excinfo, "buffers.spike_bytes")
    assert "16·4·32/8 = 256 bytes" in _line_for(excinfo, "buffers.membrane_bytes")


def test_all_problems_in_one_error(tmp_path):
    path = _write_variant(
        tmp_path,
        "pe_array_tiny",
        ("unroll_out_channels = 2", "unroll_out_channels = 0"),
        ("bandwidth_gbps = 0.1", "bandwidth_gbps = -1.0"),
        ('multilevel = "repeat"', 'multilevel = "multi"'),
        ("latency_cycles = 10\n", ""),
        ("membrane_bits = 16", "membrane_bits = 64"),
        ("[dram]", "[dramm]\nsize = 1\n\n[dram]"),
        ("spike_bytes = 64", "spike_bytes = 0"),
    )
    with pytest.raises(ConfigError) as excinfo:
        hw.load(path)
    lines = _problems(excinfo)
    assert len(lines) == 7, lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert "allowed: integer in [1, 65536]" in _line_for(excinfo, "pe.unroll_out_channels")
    assert "allowed: finite float in [1e-06, 1000000]" in _line_for(excinfo, "dram.bandwidth_gbps")
    assert 'allowed: one of "repeat", "multiply"' in _line_for(excinfo, "pe.multilevel")
    assert "missing required field" in _line_for(excinfo, "dram.latency_cycles")
    assert "= 64 is out of range; allowed: integer in [8, 63]" in _line_for(
        excinfo, "datapath.membrane_bits"
    )
    assert "did you mean 'dram'?" in _line_for(excinfo, "dramm")
    assert "= 0 is out of range" in _line_for(excinfo, "buffers.spike_bytes")


def test_family_and_schema_errors():
    data = hw.to_dict(hw.load("multicore_tiny"))
    data["meta"]["family"] = "multi_core"
    with pytest.raises(ConfigError) as excinfo:
        hw.from_dict(data, source="m.hw.toml")
    assert _line_for(excinfo, "meta.family") == (
        'm.hw.toml: meta.family = "multi_core" is not allowed (did you mean "multicore"?); '
        'allowed: one of "pe_array", "multicore"'
    )
    data["meta"]["family"] = "multicore"
    data["meta"]["schema_version"] = 2
    with pytest.raises(ConfigError) as excinfo:
        hw.from_dict(data, source="m.hw.toml")
    assert _problems(excinfo) == [
        "m.hw.toml: meta.schema_version = 2 is not allowed; allowed: one of 1"
    ]
    with pytest.raises(ConfigError, match=r"x: meta.family: missing required field"):
        hw.from_dict({}, source="x")


def test_section_errors():
    data = hw.to_dict(hw.load("multicore_tiny"))
    data["noc"] = 3
    data["meta"]["sources"] = []
    with pytest.raises(ConfigError) as excinfo:
        hw.from_dict(data, source="m.hw.toml")
    assert "= 3 is not a table; expected a [noc] section" in _line_for(excinfo, "noc")
    assert "missing required field" in _line_for(excinfo, "noc.link_bits_per_cycle")
    assert "allowed: non-empty list of non-empty strings" in _line_for(excinfo, "meta.sources")


def test_types_are_coerced_losslessly_and_booleans_are_not_numbers():
    data = hw.to_dict(hw.load("pe_array_tiny"))
    data["clock"]["frequency_mhz"] = 100  # int for a float field
    data["pe"]["unroll_steps"] = 1.0  # integral float for an int field
    cfg = hw.from_dict(data)
    assert type(cfg.clock.frequency_mhz) is float
    assert type(cfg.pe.unroll_steps) is int
    data["pe"]["unroll_steps"] = True
    data["neuron_unit"]["overlap_with_pe"] = 1
    data["dram"]["bandwidth_gbps"] = float("nan")
    with pytest.raises(ConfigError) as excinfo:
        hw.from_dict(data, source="t")
    assert "is not an integer (a boolean)" in _line_for(excinfo, "pe.unroll_steps")
    assert "= 1 is not a boolean (an integer); allowed: true or false" in _line_for(
        excinfo, "neuron_unit.overlap_with_pe"
    )
    assert "= nan is not finite" in _line_for(excinfo, "dram.bandwidth_gbps")


def test_optional_sections_take_their_declared_defaults():
    data = hw.to_dict(hw.load("multicore_tiny"))
    del data["sync"], data["datapath"], data["energy_table"], data["core"]["input_buffer_samples"]
    cfg = hw.from_dict(data)
    assert cfg.sync.barrier_cycles == 0
    assert cfg.datapath == hw.MulticoreDatapathConfig(weight_bits=8, membrane_bits=32)
    assert cfg.energy_table == "horowitz_45nm"
    assert cfg.core.input_buffer_samples == 2


def test_load_errors_for_names_paths_and_syntax(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        hw.load("pe_aray")
    message = str(excinfo.value)
    assert "unknown hardware config 'pe_aray'; did you mean 'pe_array'?" in message
    assert "multicore, multicore_tiny, pe_array, pe_array_tiny" in message
    missing = tmp_path / "nope.hw.toml"
    with pytest.raises(ConfigError, match="no such hardware config file"):
        hw.load(missing)
    broken = tmp_path / "broken.hw.toml"
    broken.write_text("[pe\nunroll_steps = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.hw\.toml: not valid TOML"):
        hw.load(str(broken))


# --------------------------------------------------------------------------------------------
# Property tests: random valid files round-trip; one bad numeric value is always caught
# --------------------------------------------------------------------------------------------

_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12)


def _value_strategy(f: dataclasses.Field, tp) -> st.SearchStrategy:
    meta, kind = f.metadata, type_name(tp)
    if "choices" in meta:
        return st.sampled_from(meta["choices"])
    if kind == "bool":
        return st.booleans()
    if kind == "str":
        return _TEXT
    if kind == "list[str]":
        return st.lists(_TEXT, min_size=1, max_size=3)
    if kind == "float":
        return st.floats(min_value=1e-3, max_value=1e5, allow_nan=False)
    low = meta.get("min", 0)
    return st.integers(low, min(meta.get("max", low + 5000), low + 5000))


@st.composite
def valid_documents(draw, family: str) -> dict:
    doc: dict = {}
    for path, f, tp in leaf_fields(hw.FAMILIES[family]):
        *sections, leaf = path.split(".")
        table = doc
        for name in sections:
            table = table.setdefault(name, {})
        table[leaf] = draw(_value_strategy(f, tp))
    doc["meta"]["family"] = family
    if family == "pe_array":
        pe, dp, buf = doc["pe"], doc["datapath"], doc["buffers"]
        m, n = pe["unroll_out_channels"], pe["unroll_out_columns"]
        s, v = pe["unroll_steps"], pe["unroll_in_channels"]
        buf["weight_bytes"] += math.ceil(m * v * dp["weight_bits"] / 8)
        buf["spike_bytes"] += math.ceil(n * s * v / 8)
        buf["membrane_bytes"] += math.ceil(m * n * dp["membrane_bits"] / 8)
        if pe["dataflow"] != "algorithm2":
            pe["zero_skipping"] = "none"  # a systolic array computes dense MACs
        # DRAM bytes per cycle within [1e-6, 1e6] (a cross-field rule): at most 1e3 x clock.
        doc["dram"]["bandwidth_gbps"] = min(
            doc["dram"]["bandwidth_gbps"], doc["clock"]["frequency_mhz"]
        )
    return doc


def _toml(doc: dict) -> str:
    """Minimal TOML writer for the documents above (scalars first, then one table each)."""

    def scalar(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return f'"{value}"'
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        return repr(value)

    lines = [f"{k} = {scalar(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {scalar(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(data=st.data(), family=st.sampled_from(sorted(PATHS)))
def test_random_valid_documents_round_trip(data, family):
    doc = data.draw(valid_documents(family))
    cfg = hw.from_dict(tomllib.loads(_toml(doc)), source="random.hw.toml")
    assert cfg.family == family
    assert hw.to_dict(cfg) == doc
    assert hw.from_dict(hw.to_dict(cfg)) == cfg
    assert hw.validate(cfg) == cfg


def _numeric_paths(family: str) -> list[tuple[str, dict]]:
    return [
        (path, f.metadata)
        for path, f, tp in leaf_fields(hw.FAMILIES[family])
        if type_name(tp) in ("int", "float") and "choices" not in f.metadata
    ]


@st.composite
def invalid_numeric(draw, family: str) -> tuple[str, object]:
    path, meta = draw(st.sampled_from(_numeric_paths(family)))
    bad = []
    if "gt" in meta:
        bad.append(st.floats(max_value=meta["gt"], allow_nan=False, allow_infinity=False))
    floats = {"allow_nan": False, "allow_infinity": False}
    if "min" in meta and isinstance(meta["min"], float):
        bad.append(st.floats(max_value=meta["min"], exclude_max=True, **floats))
    elif "min" in meta:
        bad.append(st.integers(meta["min"] - 10**6, meta["min"] - 1))
    if "max" in meta and isinstance(meta["max"], float):
        bad.append(st.floats(min_value=meta["max"], exclude_min=True, **floats))
    elif "max" in meta:
        bad.append(st.integers(meta["max"] + 1, meta["max"] + 10**6))
    bad.append(st.sampled_from(["3", None, [1], {"a": 1}, True]))
    return path, draw(st.one_of(bad))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), family=st.sampled_from(sorted(PATHS)))
def test_one_invalid_numeric_value_is_rejected_naming_its_field(data, family):
    doc = data.draw(valid_documents(family))
    path, value = data.draw(invalid_numeric(family))
    section, leaf = path.split(".")
    doc[section][leaf] = value
    with pytest.raises(ConfigError) as excinfo:
        hw.from_dict(doc, source="random.hw.toml")
    line = _line_for(excinfo, path)
    assert line.startswith(f"random.hw.toml: {path} = ")
    assert "allowed: " in line
    assert len(_problems(excinfo)) == 1


# --------------------------------------------------------------------------------------------
# replace_field, validate, reference
# --------------------------------------------------------------------------------------------


def test_replace_field_returns_a_new_validated_config():
    cfg = hw.load("pe_array")
    wider = hw.replace_field(cfg, "pe.unroll_out_channels", 32)
    assert wider.pe.unroll_out_channels == 32
    assert cfg.pe.unroll_out_channels == 16
    assert wider.source_path == cfg.source_path
    assert wider.pe == dataclasses.replace(cfg.pe, unroll_out_channels=32)
    # An int bandwidth is coerced to float; 25.6 GB/s at 300 MHz = 85.33 bytes/cycle.
    faster = hw.replace_field(cfg, "dram.bandwidth_gbps", 25.6)
    assert faster.dram_bytes_per_cycle == pytest.approx(2 * cfg.dram_bytes_per_cycle)
    assert hw.replace_field(cfg, "dram.bandwidth_gbps", 25).dram.bandwidth_gbps == 25.0
    assert hw.replace_field(cfg, "energy_table", "other").energy_table == "other"
    bigger = hw.replace_field(hw.load("multicore_tiny"), "mesh.width", 3)
    assert bigger.num_cores == 6


def test_replace_field_revalidates():
    cfg = hw.load("pe_array_tiny")
    with pytest.raises(ConfigError) as excinfo:
        hw.replace_field(cfg, "pe.unroll_out_channels", 0)
    (line,) = _problems(excinfo)
    assert "pe.unroll_out_channels = 0 is out of range; allowed: integer in [1, 65536]" in line
    assert line.startswith(cfg.source_path)
    # Cross-field rules too: M=64 needs a 64·2·1·1·8/8 = 128-byte tile; 256 bytes hold it, but
    # M=200 needs 400 bytes.
    assert hw.replace_field(cfg, "pe.unroll_out_channels", 64).pe.unroll_out_channels == 64
    with pytest.raises(ConfigError, match=r"buffers\.weight_bytes = 256 .* >= 400"):
        hw.replace_field(cfg, "pe.unroll_out_channels", 200)


def test_replace_field_typo_lists_valid_paths():
    cfg = hw.load("pe_array_tiny")
    with pytest.raises(ConfigError) as excinfo:
        hw.replace_field(cfg, "pe.unroll_out_chanels", 4)
    message = str(excinfo.value)
    assert "'pe.unroll_out_chanels' is not a field of a pe_array config" in message
    assert "did you mean 'pe.unroll_out_channels'?" in message
    assert "valid paths: " + ", ".join(PE_ARRAY_PATHS) in message
    with pytest.raises(ConfigError, match=r"valid paths: meta\.schema_version"):
        hw.replace_field(hw.load("multicore_tiny"), "pe.unroll_steps", 2)


def test_validate_checks_configs_built_in_code():
    cfg = hw.load("pe_array_tiny")
    built = hw.PEArrayConfig(
        meta=cfg.meta,
        clock=hw.ClockConfig(frequency_mhz=100.0),
        pe=cfg.pe,
        neuron_unit=cfg.neuron_unit,
        buffers=cfg.buffers,
        dram=hw.DramConfig(bandwidth_gbps=0.1, latency_cycles=10),
        datapath=cfg.datapath,
    )
    assert hw.validate(built) == cfg
    broken = dataclasses.replace(built, clock=hw.ClockConfig(frequency_mhz=0.0))
    with pytest.raises(ConfigError, match=r"^<HwConfig>: clock.frequency_mhz = 0.0"):
        hw.validate(broken)


def test_every_field_declares_unit_doc_and_source():
    for family, cls in hw.FAMILIES.items():
        assert hw.field_paths(family) == PATHS[family]
        for path, f, _ in leaf_fields(cls):
            assert set(f.metadata) >= {"unit", "doc", "source"}, path
            assert f.metadata["doc"].strip(), path
            assert f.metadata["source"].strip(), path
            if path.endswith(("_bytes", "_bits", "_cycles", "_mhz", "_gbps")):
                assert f.metadata["unit"], path


def test_config_reference_lists_every_field_of_both_families():
    text = hw.config_reference()
    for family, paths in PATHS.items():
        assert f"## `{family}`" in text
        body = text.split(f"## `{family}`")[1].split("\n## ")[0]
        for path in paths:
            section, _, name = path.rpartition(".")
            where = f"`[{section}]`" if section else "(top level)"
            rows = [row for row in body.splitlines() if row.startswith(f"| {where} | `{name}` |")]
            assert len(rows) == 1, path
            assert row_cells(rows[0]) == 7
    assert (
        "| `[pe]` | `unroll_out_channels` | int | channels | required | integer in [1, 65536] |"
        in text
    )
    assert '| `[pe]` | `zero_skipping` | str | - | `"none"` | one of "none", "group", ' in text
    assert "`dram_bytes_per_cycle`" in text
    assert "`num_cores`" in text


def row_cells(row: str) -> int:
    return len(row.strip().strip("|").split(" | "))
