"""The house's layers hold: the import contracts in .importlinter (layers from the CLI down to
the data contract, serving never loading training, monitoring or Evidently, no import cycle)
are all kept. `make lint` runs the same check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_are_kept() -> None:
    # Given the contracts in .importlinter, when import-linter checks src/retention,
    checked = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports; "
            "raise SystemExit(lint_imports(config_filename='.importlinter', no_cache=True))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then every contract is kept (the output names the import that breaks one).
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 kept, 0 broken" in checked.stdout
