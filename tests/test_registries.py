"""The scheme, hardware-family and stall-cause registries: their discipline, and that nothing
outside a scheme's own package names it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import neurosim
from neurosim import families, hw, schemes, timing
from neurosim.errors import ConfigError, ModelError
from neurosim.timing.stages import StallCause

PACKAGE = Path(neurosim.__file__).parent

SCHEME_WORDS = {"if", "mtif", "sws", "lmht", "tsa", "lif"}
"""The issue's list: scheme names and the neuron families they use."""


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_scheme_name_outside_the_scheme_registry():
    """No string literal equal to a scheme or neuron-family name in neurosim/, outside
    neurosim/schemes/ (the registry's package): every stage asks the record instead."""
    words = SCHEME_WORDS | set(schemes.names()) | set(schemes.REGISTRY.families())
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "schemes"):
            continue
        for line, value in _string_constants(path):
            if value in words:
                found.append(f"{path.relative_to(PACKAGE)}:{line}: {value!r}")
    assert not found, found


def test_no_hardware_family_branch_outside_its_record():
    """No comparison with a hardware family's name outside that family's own modules (its
    record in neurosim/families/, its mapping and timing modules): others ask the record."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "families":
            continue
        own = {
            n
            for n in families.names()
            if rel.parts[0] in ("mapping", "timing") and path.stem.startswith(n)
        }
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            for side in (node.left, *node.comparators):
                names = [side] if isinstance(side, ast.Constant) else getattr(side, "elts", [])
                for c in names:
                    if isinstance(c, ast.Constant) and c.value in set(families.names()) - own:
                        found.append(f"{rel}:{node.lineno}: {c.value!r}")
    assert not found, found


def test_scheme_registry_discipline():
    assert schemes.names() == ("if", "mtif", "sws", "lmht", "lif")
    with pytest.raises(ModelError, match=r"unknown scheme 'nope'; allowed: \['if', 'mtif'"):
        schemes.get("nope")
    with pytest.raises(ValueError, match="registered already"):
        schemes.REGISTRY.register(schemes.get("sws"))
    with pytest.raises(ModelError, match="unknown neuron family 'x'"):
        schemes.spec_class("x")
    assert schemes.spec_class("tsa") is schemes.TSASpec
    # Options are declared once: defaults, ranges and labels come from the record.
    assert schemes.get("if").options().num_steps == 8
    assert schemes.get("lmht").options().num_steps == 2
    assert schemes.get("sws").label({"coding_steps": 8, "silent_steps": 2}) == "sws Tc=8 Ts=2"
    assert schemes.get("mtif").label({}) == "mtif T=learned"
    with pytest.raises(ModelError, match=r"coding_steps must be an integer in \[1, 16\], got 0"):
        schemes.get("sws").options.parse("sws", {"coding_steps": 0})
    with pytest.raises(ModelError, match="scheme 'if' has no option 'coding_steps'"):
        schemes.get("if").options.parse("if", {"coding_steps": 4})


def test_family_registry_matches_the_config_classes():
    assert families.names() == tuple(hw.FAMILIES)
    for name in families.names():
        record = families.get(name)
        assert record.config is hw.FAMILIES[name]
        assert record.fast_engine in record.engines
    with pytest.raises(ConfigError, match="unknown hardware family 'gpu'"):
        families.get("gpu")
    with pytest.raises(ValueError, match="registered already"):
        families.REGISTRY.register(families.get("pe_array"))


def test_stall_cause_registry():
    assert tuple(timing.STALL_CAUSES) == (
        "memory",
        "dependency",
        "backpressure",
        "link",
        "barrier",
    )
    with timing.registered_cause(StallCause("probe", "a test cause", "#123456")):
        assert "probe" in timing.STALL_CAUSES
        assert timing.stages.stall_columns()[-1] == "stall_probe_cycles"
        with pytest.raises(ValueError, match="registered already"):
            timing.STALL_CAUSES.register(StallCause("probe", "again", "#000000"))
    assert "probe" not in timing.STALL_CAUSES
    with pytest.raises(ValueError, match="lower-case identifiers"):
        timing.STALL_CAUSES.register(StallCause("Bad Cause", "", "#000000"))
