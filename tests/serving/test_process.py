"""The serving process loads the champion from the registry, and only what serving needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SERVE = """
import json, sys, time
began = time.perf_counter()
from fastapi.testclient import TestClient
from retention.serving.app import create_app
with TestClient(create_app()) as client:
    ready = client.get("/readyz").json()
print(json.dumps({
    "ready": ready,
    "seconds": time.perf_counter() - began,
    "modules": sorted(m for m in sys.modules if m.startswith(("evidently", "retention"))),
}))
"""


def test_serving_loads_the_champion_and_no_training_or_monitoring_code(
    champion: str, tracking_uri: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "RETENTION_MLFLOW_TRACKING_URI": tracking_uri,
        "RETENTION_WORK_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ready"] == {"status": "ready", "model_version": champion, "latest_batch": None}
    modules = set(result["modules"])
    assert not {m for m in modules if m.startswith(("evidently", "retention.monitoring"))}
    training = {m for m in modules if m.startswith("retention.training.")}
    assert training <= {
        "retention.training.model",
        "retention.training.registry",
        "retention.training.pyfunc",
        "retention.training.config",
    }
    assert result["seconds"] < 30  # "ready within seconds" (measured in benchmarks/api.py)


IMPORT_ONLY = """
import json, sys
from retention.serving.app import create_app
create_app()
print(json.dumps(sorted(sys.modules)))
"""


def test_the_serving_app_imports_no_training_monitoring_or_evidently(tmp_path: Path) -> None:
    # Given a fresh process, when it imports the serving app and creates it
    env = {**os.environ, "RETENTION_WORK_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    # then no module of training, monitoring or Evidently is loaded
    forbidden = ("retention.training", "retention.monitoring", "evidently")
    assert not [m for m in modules if m.startswith(forbidden)]
    assert "retention.model.artifact" in modules  # the model is read through retention.model
