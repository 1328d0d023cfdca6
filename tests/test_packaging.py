"""Packaging: every package of the source tree is shipped, the version is reported."""

import subprocess
import sys
import tomllib
from pathlib import Path

import neurosim

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    """A package missing from [tool.setuptools] packages would be absent from a wheel."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    source = ROOT / "neurosim"
    found = {
        ".".join(("neurosim", *p.parent.relative_to(source).parts))
        for p in source.rglob("__init__.py")
    }
    assert found - listed == set(), found - listed


def test_licence_file_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_version_flag_prints_the_version():
    done = subprocess.run(
        [sys.executable, "-m", "neurosim", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"neurosim {neurosim.__version__}"
    assert neurosim.__version__ != "0.0.0"
