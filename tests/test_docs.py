"""The docs stay in step with the code they describe."""

from pathlib import Path

from neurosim import hw

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_current():
    """docs/hwconfig.md is generated from the field declarations; regenerate it with
    ``python -c "from neurosim import hw; print(hw.config_reference())" > docs/hwconfig.md``."""
    text = (ROOT / "docs" / "hwconfig.md").read_text()
    assert text.rstrip() == hw.config_reference().rstrip()


def test_readme_names_every_shipped_config_and_command():
    readme = (ROOT / "README.md").read_text()
    for name in hw.list_configs():
        assert f"`{name}`" in readme, name
    for command in ("neurosim run", "neurosim inspect", 'pip install -e ".[test]" && pytest -q'):
        assert command in readme, command
