"""A champion whose features the current catalogue cannot compute is refused, by name, by
scoring and by serving, instead of reading those features as missing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from retention.cli import app
from retention.features.catalogue import Catalogue, load_catalogue
from retention.model.compatibility import (
    CatalogueMismatch,
    catalogue_sha256,
    missing_features,
    require_catalogue,
)
from retention.model.registry import configure, load_version
from retention.serving.app import create_app
from retention.settings import Settings
from retention.training.pipeline import TrainResult

runner = CliRunner()


def _without(catalogue: Catalogue, name: str) -> Catalogue:
    return catalogue.model_copy(
        update={"features": tuple(f for f in catalogue.features if f.name != name)}
    )


def _removable(catalogue: Catalogue, model_features: list[str]) -> str:
    """A feature the model reads that no other feature is the peer of."""
    peers = {f.peer_of for f in catalogue.features}
    return next(n for n in model_features if n not in peers)


def test_a_model_reading_a_feature_the_catalogue_lacks_is_refused_by_name(
    trained: TrainResult,
) -> None:
    # Given a model whose features include one the catalogue no longer has
    model = load_version(trained.version)
    renamed = replace(model, features=[*model.features, "kwh_renamed_3m"])
    catalogue = load_catalogue()
    # then it is refused, naming the feature
    assert missing_features(renamed, catalogue) == ["kwh_renamed_3m"]
    with pytest.raises(CatalogueMismatch, match="kwh_renamed_3m") as refused:
        require_catalogue("7", renamed, catalogue)
    assert refused.value.missing == ["kwh_renamed_3m"]
    # and the model as trained passes with the catalogue it was trained with
    require_catalogue(trained.version, model, catalogue)
    assert model.info.catalogue_sha256 == catalogue_sha256(catalogue)


def test_scoring_refuses_the_champion_when_the_catalogue_lost_a_feature(
    simulated_dir: Path,
    champion: str,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalogue = load_catalogue()
    gone = _removable(catalogue, load_version(champion).features)
    monkeypatch.setattr("retention.scoring.job.load_catalogue", lambda: _without(catalogue, gone))
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", tracking_uri)
    result = runner.invoke(app, ["score", str(simulated_dir)])
    assert result.exit_code == 1, result.output
    assert "cannot score" in result.output and gone in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_serving_does_not_load_the_champion_when_the_catalogue_lost_a_feature(
    champion: str, tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = load_catalogue()
    gone = _removable(catalogue, load_version(champion).features)
    monkeypatch.setattr("retention.serving.model.load_catalogue", lambda: _without(catalogue, gone))
    settings = Settings(work_dir=tmp_path, mlflow_tracking_uri=tracking_uri)
    try:
        with pytest.raises(CatalogueMismatch, match=gone), TestClient(create_app(settings)):
            pass
    finally:
        configure(tracking_uri)
