"""Time to churn: timing models chained onto the main probability, never decreasing with the
horizon, each horizon measured on the test rows and travelling with the model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from retention.model.artifact import META_FILE, ChurnModel
from retention.model.registry import configure, evaluation_rows, load_version
from retention.training.config import LightGBMConfig
from retention.training.horizons import (
    churn_within,
    fit_timing_models,
    horizon_metrics,
    never_decreasing,
)
from retention.training.pipeline import PART, TrainingRows, TrainResult, learning_rows


@pytest.fixture(scope="module")
def model(trained: TrainResult, tracking_uri: str) -> ChurnModel:
    configure(tracking_uri)  # another module's test may have pointed MLflow elsewhere
    return load_version(trained.version)


@pytest.fixture(scope="module")
def test_rows(trained: TrainResult, model: ChurnModel) -> pd.DataFrame:
    return evaluation_rows(trained.version)


def test_the_model_carries_timing_models_for_1_and_3_months(model: ChurnModel) -> None:
    # Given the tests' 6-month model, as the registry gives it back
    # Then it holds P(within 3 | within 6) and P(within 1 | within 3), longest first
    assert model.info.horizon_months == 6
    assert [(t.months, t.given_months) for t in model.timing] == [(3, 6), (1, 3)]


def test_no_row_gets_a_higher_probability_for_a_shorter_horizon(
    model: ChurnModel, test_rows: pd.DataFrame
) -> None:
    # Given every test row
    matrix = model.matrix(test_rows)
    # When the horizons' probabilities are computed
    chained = model.horizon_probabilities(matrix)
    # Then p1 <= p3 <= p6 on every row, and they are probabilities
    assert set(chained) == {1, 3, 6}
    assert (chained[1] <= chained[3]).all() and (chained[3] <= chained[6]).all()
    assert never_decreasing(chained).all()
    assert all(((p >= 0) & (p <= 1)).all() for p in chained.values())
    # and the main horizon is the calibrated probability itself
    np.testing.assert_allclose(chained[6], model.predict_proba(test_rows))


def test_a_shorter_horizon_is_the_longer_one_times_its_timing_model(
    model: ChurnModel, test_rows: pd.DataFrame
) -> None:
    # Given the timing models' own conditional probabilities
    matrix = model.matrix(test_rows)
    three, one = model.timing
    chained = model.horizon_probabilities(matrix)
    # Then each horizon is the product, which is what keeps them in order
    np.testing.assert_allclose(chained[3], chained[6] * three.conditional(matrix))
    np.testing.assert_allclose(chained[1], chained[3] * one.conditional(matrix))
    # and the timing models tell soon from later (not a constant)
    assert three.conditional(matrix).std() > 0.01


def test_never_decreasing_catches_a_row_out_of_order() -> None:
    # Given probabilities where one row's 3-month risk exceeds its 6-month one
    chained = {1: np.array([0.1, 0.1]), 3: np.array([0.2, 0.5]), 6: np.array([0.3, 0.4])}
    # Then that row, and only it, is flagged
    assert never_decreasing(chained).tolist() == [True, False]


def test_each_horizons_auc_is_reported_in_the_run_the_card_and_the_model(
    trained: TrainResult, model: ChurnModel
) -> None:
    # Given the tests' training run
    # Then every horizon has its test ROC and PR AUC, against its own label
    assert set(trained.horizons) == {1, 3, 6}
    for months, figures in trained.horizons.items():
        assert 0.6 < figures["roc_auc"] <= 1.0, months
        assert 0 < figures["pr_auc"] <= 1.0, months
    assert trained.horizons[6]["roc_auc"] == pytest.approx(trained.metrics["model"]["roc_auc"])
    rates = [trained.horizons[m]["churn_rate"] for m in (1, 3, 6)]
    assert rates == sorted(rates) and rates[0] < rates[2]
    assert trained.horizons[1]["monotone_share"] == trained.horizons[3]["monotone_share"] == 1.0
    # in MLflow, in the model card and in the model's own info
    metrics = MlflowClient().get_run(trained.run_id).data.metrics
    assert {"test_horizon_1m_roc_auc", "test_horizon_3m_pr_auc"} <= set(metrics)
    assert "## Time to churn" in trained.card and "| 1 months |" in trained.card
    assert model.info.horizon_metrics[1]["roc_auc"] == pytest.approx(trained.horizons[1]["roc_auc"])


def test_churn_within_reads_the_churn_date_against_the_snapshot() -> None:
    # Given churned rows 0, 2 and 5 months after their snapshot, and one that did not churn
    frame = pd.DataFrame(
        {
            "snapshot_date": pd.to_datetime(["2025-01-01"] * 4),
            "churn": [1, 1, 1, 0],
            "churn_date": pd.to_datetime(["2025-01-20", "2025-03-31", "2025-06-15", None]),
        }
    )
    # Then within 1 month is the first, within 3 the first two, within 6 all churned
    assert churn_within(frame, 1).tolist() == [1, 0, 0, 0]
    assert churn_within(frame, 3).tolist() == [1, 1, 0, 0]
    assert churn_within(frame, 6).tolist() == [1, 1, 1, 0]


def _learning(rows: TrainingRows) -> tuple[pd.DataFrame, np.ndarray]:
    frame = learning_rows(rows.frame)
    return frame, model_matrix(rows, frame)


def model_matrix(rows: TrainingRows, frame: pd.DataFrame) -> np.ndarray:
    from retention.model.artifact import category_levels, feature_matrix

    return feature_matrix(frame, rows.features, category_levels(frame, rows.categorical))


def test_horizons_that_do_not_fit_under_the_configured_one_are_skipped(
    training_rows: TrainingRows, model: ChurnModel, test_rows: pd.DataFrame
) -> None:
    # Given the training rows, and a model horizon of 3 months, then of 1
    frame, matrix = _learning(training_rows)
    shape = (frame, matrix, training_rows.features, training_rows.categorical)
    # Then a 3-month model gets only the 1-month timing model, a 1-month one none
    three = fit_timing_models(*shape, 3, LightGBMConfig())
    assert [(t.months, t.given_months) for t in three] == [(1, 3)]
    # and chained onto a 3-month probability it gives 1 and 3 months, in order
    chained = replace(model, timing=three).horizon_probabilities(model.matrix(test_rows))
    assert set(chained) == {1, 3} and (chained[1] <= chained[3]).all()
    assert fit_timing_models(*shape, 1, LightGBMConfig()) == []


def test_rows_without_churn_dates_get_no_timing_models(training_rows: TrainingRows) -> None:
    # Given rows without churn dates (a user's own table)
    frame, matrix = _learning(training_rows)
    frame = frame.drop(columns="churn_date")
    # Then no timing model is fitted, and only the main horizon is measured
    models = fit_timing_models(
        frame, matrix, training_rows.features, training_rows.categorical, 6, LightGBMConfig()
    )
    assert models == []


def test_too_few_churned_rows_skip_a_timing_model(training_rows: TrainingRows) -> None:
    # Given the rows before the test with only a handful of churned rows left
    frame, matrix = _learning(training_rows)
    keep = (frame["churn"] == 0).to_numpy() | (np.cumsum(frame["churn"].to_numpy()) <= 10)
    # Then no timing model is fitted rather than one learnt from ten rows
    models = fit_timing_models(
        frame[keep], matrix[keep], training_rows.features, training_rows.categorical, 6,
        LightGBMConfig(),
    )  # fmt: skip
    assert models == []


def test_a_model_saved_without_timing_models_loads_and_gives_only_its_horizon(
    model: ChurnModel, test_rows: pd.DataFrame, tmp_path: Path
) -> None:
    # Given a model saved as before timing models existed: no timing entry, no timing files
    folder = replace(model, timing=[]).save(tmp_path / "old")
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    meta.pop("timing")
    meta["info"].pop("horizon_metrics")
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir()) == ["booster.txt", "model.json"]
    # When it is loaded
    old = ChurnModel.load(folder)
    # Then it scores as before, with its own horizon only
    assert old.timing == [] and old.info.horizon_metrics == {}
    matrix = old.matrix(test_rows)
    assert set(old.horizon_probabilities(matrix)) == {6}
    np.testing.assert_allclose(old.predict_proba(test_rows), model.predict_proba(test_rows))


def test_timing_models_survive_a_save_and_load(
    model: ChurnModel, test_rows: pd.DataFrame, tmp_path: Path
) -> None:
    # Given the model saved and loaded again
    again = ChurnModel.load(model.save(tmp_path / "again"))
    matrix = model.matrix(test_rows)
    # Then every horizon gives the same probabilities
    before, after = model.horizon_probabilities(matrix), again.horizon_probabilities(matrix)
    assert set(before) == set(after)
    for months in before:
        np.testing.assert_allclose(after[months], before[months])


def test_horizon_metrics_of_a_model_without_timing_measure_the_main_horizon(
    model: ChurnModel, test_rows: pd.DataFrame
) -> None:
    # Given the model without its timing models
    bare = replace(model, timing=[])
    matrix = bare.matrix(test_rows)
    # Then only the main horizon is measured
    figures = horizon_metrics(bare, matrix, test_rows, bare.predict_proba(test_rows))
    assert list(figures) == [6] and "roc_auc" in figures[6]
    assert PART in test_rows.columns  # the test rows as logged, label columns included


def test_the_timing_models_travel_with_the_registered_pyfunc(
    trained: TrainResult, model: ChurnModel
) -> None:
    # Given the registered version loaded as MLflow's pyfunc (what any MLflow user gets)
    import mlflow

    from retention.model.registry import MODEL_NAME

    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{trained.version}")
    # Then its ChurnModel holds the timing models, and predict still gives one probability
    inner = loaded.unwrap_python_model().model
    assert [t.months for t in inner.timing] == [3, 1]
    rows = evaluation_rows(trained.version).head(20)
    np.testing.assert_allclose(
        np.asarray(loaded.predict(rows[inner.features])), inner.predict_proba(rows)
    )
