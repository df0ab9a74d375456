"""Dask is loaded only by the cluster path: the server and the default jobs never import it."""

from __future__ import annotations

import subprocess
import sys

MODULES = (
    "retention.cli",
    "retention.serving.app",
    "retention.features.snapshot",
    "retention.features.export",
    "retention.features.distributed",  # its dask imports are inside the functions
    "retention.data.loading",
    "retention.scoring.job",
)


def test_importing_the_service_and_the_default_path_loads_no_dask() -> None:
    code = (
        f"import sys\nfor m in {MODULES!r}: __import__(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.strip() == "[]", done.stdout
