"""The store knows the records, never scoring: a read query does not load the model's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import retention

HEAVY = ("lightgbm", "sklearn", "mlflow", "evidently", "retention.scoring", "retention.training")


def test_importing_the_store_loads_no_model_or_scoring_code() -> None:
    # given a fresh interpreter, when every store module is imported
    code = (
        "import sys\n"
        "import retention.store.risk, retention.store.batches, retention.store.follow_ups\n"
        "import retention.store.monitoring\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    # then none of the model's libraries or the jobs' modules came with it
    assert out.strip() == "[]"


def test_no_store_module_imports_scoring() -> None:
    store = Path(retention.__file__).parent / "store"
    for path in store.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "retention.scoring" not in text and "retention.training" not in text, path
