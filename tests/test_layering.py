"""Each module imports only modules upstream of it (DESIGN: one module per arrow)."""

import ast
from pathlib import Path

import neurosim

ALLOWED = {
    "errors": set(),
    "_files": {"errors"},
    "_cache": set(),
    "_memory": set(),
    "limits": {"errors"},
    "ir_neuron": {"errors"},
    "ir": {"errors", "limits", "ir_neuron"},
    "trace": set(),
    "registry": {"errors"},
    "io": {"ir", "errors", "_files", "io", "schemes", "limits"},
    "qann": {"ir", "errors", "kernels"},
    "zoo": {"ir", "qann", "errors"},
    "kernels": {"errors", "kernels"},
    "frontends": {
        "ir",
        "io",
        "schemes",
        "qann",
        "convert",
        "errors",
        "_files",
        "frontends",
        "registry",
    },
    "schemes": {"ir", "trace", "kernels", "errors", "schemes", "registry"},
    "convert": {"ir", "errors", "schemes"},
    "functional": {"ir", "trace", "kernels", "errors", "schemes", "functional"},
    "hw": {"errors", "hw"},
    "mapping": {"ir", "hw", "errors", "mapping", "schemes"},
    "timing": {
        "ir",
        "trace",
        "hw",
        "mapping",
        "errors",
        "timing",
        "schemes",
        "registry",
        "kernels",
    },
    "families": {"ir", "trace", "hw", "mapping", "timing", "errors", "families", "registry"},
    "energy": {"ir", "trace", "hw", "timing", "errors", "schemes", "families", "energy"},
    "metrics": {"timing", "errors"},
    "provenance": {"__init__", "ir", "hw"},
    "cli_text": set(),
    "report": {"timing", "_files", "errors", "metrics", "report"},
    "experiment": {
        "frontends",
        "families",
        "convert",
        "energy",
        "functional",
        "hw",
        "io",
        "ir",
        "mapping",
        "qann",
        "timing",
        "trace",
        "zoo",
        "errors",
        "_cache",
        "_files",
        "schemes",
        "metrics",
    },
    "evaluations": {"experiment", "functional", "ir", "errors"},
    "comparison": {"evaluations", "experiment", "ir", "metrics", "qann", "errors"},
    "sweep": {
        "frontends",
        "families",
        "schemes",
        "experiment",
        "report",
        "hw",
        "io",
        "ir",
        "energy",
        "mapping",
        "qann",
        "timing",
        "trace",
        "errors",
        "_files",
        "sweep",
        "metrics",
    },
    "validate": {
        "convert",
        "energy",
        "ir",
        "experiment",
        "families",
        "functional",
        "hw",
        "mapping",
        "schemes",
        "zoo",
        "errors",
        "_files",
        "validate",
    },
    "cli": {
        "comparison",
        "evaluations",
        "frontends",
        "validate",
        "families",
        "__init__",
        "schemes",
        "convert",
        "experiment",
        "hw",
        "io",
        "ir",
        "mapping",
        "qann",
        "report",
        "sweep",
        "zoo",
        "errors",
        "_files",
        "metrics",
        "provenance",
        "cli_text",
        "cli_parser",
    },
    "cli_parser": {
        "__init__",
        "experiment",
        "families",
        "frontends",
        "metrics",
        "report",
        "schemes",
        "sweep",
        "validate",
        "cli_text",
        "errors",
    },
    "__main__": {"cli", "_memory"},
    "__init__": set(),
    "data": set(),
}


def _module_key(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_imports_follow_the_data_flow():
    root = Path(neurosim.__file__).parent
    for path in root.rglob("*.py"):
        key = _module_key(path, root)
        tree = ast.parse(path.read_text())
        used = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("neurosim")
            ):
                parts = node.module.split(".")
                if len(parts) > 1:
                    used.add(parts[1])
                else:
                    # ``from neurosim import __version__`` reads the package's own __init__.
                    used.update(
                        "__init__" if alias.name.startswith("__") else alias.name
                        for alias in node.names
                    )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("neurosim."):
                        used.add(alias.name.split(".")[1])
        assert used <= ALLOWED[key], (str(path.relative_to(root)), used - ALLOWED[key])
