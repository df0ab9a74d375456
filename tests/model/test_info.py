"""The model's info is a typed record: training writes it, every job reads the same fields."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pydantic
import pytest

from retention.features.catalogue import load_catalogue
from retention.features.labels import ChurnDefinition
from retention.model.artifact import ChurnModel
from retention.model.compatibility import catalogue_sha256
from retention.model.info import ModelInfo
from retention.model.registry import load_version
from retention.training.pipeline import TrainResult


def test_training_writes_the_info_every_reader_uses(trained: TrainResult) -> None:
    # Given the tests' model as the registry stores it
    info = load_version(trained.version).info
    # then its fields are typed and filled by training
    assert info.run_id == trained.run_id
    assert info.trained_at is not None and info.horizon_months == 6
    assert info.churn_definition == ChurnDefinition()
    assert info.test_metrics["roc_auc"] == pytest.approx(trained.metrics["model"]["roc_auc"])
    assert "logistic_regression" in info.baselines and info.importance_by_group
    assert info.description == trained.description
    assert info.catalogue_sha256 == catalogue_sha256(load_catalogue())


def test_the_info_round_trips_through_the_saved_model(trained: TrainResult, tmp_path: Path) -> None:
    model = load_version(trained.version)
    changed = replace(
        model, info=model.info.model_copy(update={"test_metrics": {"x": float("nan")}})
    )
    again = ChurnModel.load(changed.save(tmp_path / "model"))
    assert again.info.model_dump(exclude={"test_metrics"}) == model.info.model_dump(
        exclude={"test_metrics"}
    )
    assert list(again.info.test_metrics) == ["x"]  # NaN survives the JSON file


def test_a_misspelt_field_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="horizon"):
        ModelInfo.model_validate({"horizon": 6})
