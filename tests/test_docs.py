"""The docs stay in step with the code they describe."""

import importlib.util
import re
from pathlib import Path

import pytest

from neurosim import hw

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 300
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_config_reference_is_current():
    """docs/hwconfig.md is generated from the field declarations; regenerate it with
    ``python -c "from neurosim import hw; print(hw.config_reference())" > docs/hwconfig.md``."""
    text = (ROOT / "docs" / "hwconfig.md").read_text()
    assert text.rstrip() == hw.config_reference().rstrip()


def test_readme_names_every_shipped_config_and_command():
    readme = README.read_text()
    for name in hw.list_configs():
        assert f"`{name}`" in readme, name
    for command in ("neurosim run", "neurosim inspect", 'pip install -e ".[test]" && pytest -q'):
        assert command in readme, command


def test_readme_is_at_most_300_lines():
    """The README is a user's guide; depth goes to docs/ (``wc -l README.md`` <= 300)."""
    num_lines = README.read_bytes().count(b"\n")
    assert num_lines <= README_MAX_LINES, f"README.md has {num_lines} lines"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_readme_python_snippets_run_as_written(capsys):
    """Every ```python block of the README runs from a clean namespace, unchanged."""
    blocks = _python_blocks(README.read_text())
    assert blocks, "the README has no Python snippet"
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md python block {i + 1}", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out  # the snippet prints its results


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.DOTALL | re.MULTILINE)
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    """Every relative link in the README and docs/ names an existing file (and heading)."""
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.DOTALL | re.MULTILINE)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        assert linked.exists(), f"{doc.name}: broken link {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{doc.name}: no heading for {target}"


def _benchdoc():
    spec = importlib.util.spec_from_file_location("_benchdoc", ROOT / "scripts" / "_benchdoc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmarks_file_is_generated_and_well_formed():
    """docs/benchmarks.md starts with the generated-file header and holds each section once."""
    benchdoc = _benchdoc()
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.startswith(benchdoc.HEADER)
    begins = re.findall(r"<!-- ([\w.-]+):begin -->", text)
    ends = re.findall(r"<!-- ([\w.-]+):end -->", text)
    assert begins == ends
    assert len(set(begins)) == len(begins)
    for name in begins:
        assert (ROOT / "scripts" / f"{name}.py").exists(), name


def test_benchdoc_rewrites_only_its_own_section(tmp_path):
    """Writing one section keeps the others byte for byte and orders them by ORDER."""
    benchdoc = _benchdoc()
    path = tmp_path / "benchmarks.md"

    def block(name, body):
        return f"<!-- {name}:begin -->\n## {name}\n\n{body}\n<!-- {name}:end -->"

    benchdoc.write_section("bench_sweep", block("bench_sweep", "sweep v1"), path)
    benchdoc.write_section("bench_functional", block("bench_functional", "fn v1"), path)
    benchdoc.write_section("bench_sweep", block("bench_sweep", "sweep v2"), path)
    text = path.read_text()
    assert text.startswith(benchdoc.HEADER)
    assert "sweep v1" not in text
    assert text.index("fn v1") < text.index("sweep v2")
    assert text.count("<!-- bench_sweep:begin -->") == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    with pytest.raises(ValueError, match="markers"):
        benchdoc.write_section("bench_sweep", "no markers", path)


def test_benchdoc_table_and_section():
    benchdoc = _benchdoc()
    table = benchdoc.markdown_table(
        [{"a": "x", "b": 1.234}, {"a": "y", "b": None}], [("a", "A", ""), ("b", "B", ".1f")]
    )
    assert table.splitlines() == ["| A | B |", "|---|---|", "| x | 1.2 |", "| y | — |"]
    text = benchdoc.section(
        "bench_x", "X", what="w", table=table, target="t", met=False, reference="r"
    )
    assert text.startswith("<!-- bench_x:begin -->\n## X")
    assert text.endswith("<!-- bench_x:end -->")
    assert "**Target:** t — **not met**" in text
    assert "CPUs (" in text
