"""Regenerate the golden tables in tests/golden/ (run deliberately when the model changes).

    python scripts/update_golden.py

Writes tests/golden/table_digits_pe_array_tiny.csv: ``neurosim table`` on the bundled digits
model with the ``pe_array_tiny`` config, the first 60 test images and a one-sample timing
stream (the arguments are in GOLDEN_ARGS, shared with the test).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "table_digits_pe_array_tiny.csv"
GOLDEN_ARGS = ["--hw", "pe_array_tiny", "--samples", "60", "--stream", "1", "--no-progress"]


def main() -> int:
    from neurosim.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        code = cli(["table", "--out", tmp, *GOLDEN_ARGS])
        if code != 0:
            return code
        shutil.copyfile(Path(tmp) / "table.csv", GOLDEN)
    print(f"wrote {GOLDEN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
