"""A server follows the registry: when the champion alias moves, it loads the new champion
by itself (every worker of a multi-worker server, not only the one that was asked to reload)."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from retention.model.registry import CHAMPION, MODEL_NAME
from retention.serving.app import create_app
from retention.settings import Settings


def test_a_promotion_reaches_a_running_server_without_a_reload(
    champion: str, tracking_uri: str, tmp_path: Path
) -> None:
    client = MlflowClient()
    # the same model registered again: a challenger to promote
    challenger = mlflow.register_model(
        client.get_model_version(MODEL_NAME, champion).source, MODEL_NAME
    ).version
    settings = Settings(
        work_dir=tmp_path, mlflow_tracking_uri=tracking_uri, model_check_seconds=0.2
    )
    try:
        with TestClient(create_app(settings)) as served:
            assert served.get("/readyz").json()["model_version"] == champion
            client.set_registered_model_alias(MODEL_NAME, CHAMPION, challenger)
            deadline = time.monotonic() + 30
            version = champion
            while version != str(challenger) and time.monotonic() < deadline:
                time.sleep(0.2)
                version = served.get("/readyz").json()["model_version"]
            assert version == str(challenger)
    finally:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, champion)
