"""Training the applicants' withdrawal model on the simulated portfolio: tracked, compared with
its baselines and the oracle, registered and promoted by alias."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from retention.applications.clocks import load_service_clocks
from retention.applications.withdrawal import MONOTONE, applicants_of
from retention.cli import app
from retention.data.loading import load_dataset
from retention.model import registry
from retention.scoring.calendar import WorkingCalendar
from retention.training import withdrawal
from retention.training.withdrawal import (
    WITHDRAWAL_MODEL,
    WithdrawalConfig,
    against_baseline,
    baseline_verdict,
    baseline_warning,
    simulator_oracle,
    split_rows,
    train_withdrawal,
)


@pytest.fixture(scope="module")
def trained_withdrawal(simulated_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path_factory.mktemp('withdrawal')}/mlflow.db"
    applicants = applicants_of(load_dataset(simulated_dir))
    result = train_withdrawal(
        applicants,
        load_service_clocks(),
        WorkingCalendar(),
        uri,
        oracle=simulator_oracle(simulated_dir),
    )
    return result, uri, applicants


def test_a_run_is_measured_against_the_rule_the_logistic_regression_and_the_oracle(
    trained_withdrawal,  # type: ignore[no-untyped-def]
) -> None:
    result, _uri, _ = trained_withdrawal
    assert set(result.metrics) == {
        "model",
        "rule_any_step_overdue",
        "logistic_regression",
        "oracle",
    }
    for metrics in result.metrics.values():
        assert 0 <= metrics["roc_auc"] <= 1
    assert 0 < result.metrics["model"]["mean_prediction"] < 1
    assert min(result.rows.values()) > 0
    # the difference from the logistic regression, with its interval, is measured and tagged
    model = result.metrics["model"]
    assert model["roc_auc_minus_logistic"] == pytest.approx(
        model["roc_auc"] - result.metrics["logistic_regression"]["roc_auc"]
    )
    assert model["roc_auc_minus_logistic_low"] <= model["roc_auc_minus_logistic_high"]
    assert model["positives"] > 0
    registry.configure(_uri)
    tags = mlflow.MlflowClient().get_model_version(WITHDRAWAL_MODEL, result.version).tags
    assert tags["against_logistic"] == result.against_logistic


def test_the_first_model_becomes_champion_and_is_served_by_alias(trained_withdrawal) -> None:  # type: ignore[no-untyped-def]
    result, uri, _ = trained_withdrawal
    registry.configure(uri)
    assert result.promoted
    assert registry.champion_version(WITHDRAWAL_MODEL) == result.version
    # the churn model's registry entry is untouched
    assert registry.champion_version() is None
    loaded = mlflow.pyfunc.load_model(f"models:/{WITHDRAWAL_MODEL}@champion")
    assert loaded.metadata.run_id == result.run_id


def test_more_overdue_steps_never_lower_the_risk(trained_withdrawal) -> None:  # type: ignore[no-untyped-def]
    # Given the champion and the test rows
    result, uri, applicants = trained_withdrawal
    registry.configure(uri)
    model = registry.load_version(result.version, WITHDRAWAL_MODEL)
    from retention.applications.withdrawal import snapshot_dates, training_rows

    rows = training_rows(
        applicants, load_service_clocks(), WorkingCalendar(), snapshot_dates(applicants, 3)
    )
    test = split_rows(rows, WithdrawalConfig())["test"]

    # When every constrained sign of trouble grows by one
    worse = test.copy()
    for name in MONOTONE:
        worse[name] = worse[name] + 1

    # Then no application's risk falls
    assert (model.predict_proba(worse) >= model.predict_proba(test) - 1e-12).all()
    assert np.isfinite(model.predict_proba(test)).all()


def test_the_command_trains_and_prints_the_comparison(
    simulated_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    result = CliRunner().invoke(app, ["train-withdrawal", str(simulated_dir)])
    assert result.exit_code == 0, result.output
    assert "any step overdue" in result.output
    assert "oracle" in result.output


def test_the_command_refuses_a_dataset_without_applications(
    simulated_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    folder = tmp_path / "no_applications"
    shutil.copytree(simulated_dir, folder)
    for name in ("applications", "application_steps"):
        (folder / f"{name}.parquet").unlink()
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    result = CliRunner().invoke(app, ["train-withdrawal", str(folder)])
    assert result.exit_code == 1
    assert "no applications table" in result.output


def test_with_the_model_the_watch_run_ranks_by_money_at_stake(trained_withdrawal) -> None:  # type: ignore[no-untyped-def]
    # Given the champion withdrawal model
    from retention.applications.job import build_watch_run
    from retention.scoring.playbook import load_playbook

    result, uri, applicants = trained_withdrawal
    registry.configure(uri)
    model = registry.load_version(result.version, WITHDRAWAL_MODEL)
    as_of = (applicants.data_end - pd.DateOffset(months=2)).date()

    # When the watch job runs with it
    run = build_watch_run(
        applicants,
        load_service_clocks(),
        WorkingCalendar(),
        load_playbook(),
        as_of,
        model=model,
        model_version=result.version,
    )

    # Then every open application has a probability, money at stake = probability x revenue,
    # and within the applications without an overdue step the money at stake never rises
    listed = run.applications
    assert run.model_version == result.version
    assert listed["withdrawal_probability"].between(0, 1).all()
    np.testing.assert_allclose(
        listed["money_at_stake_cny"],
        listed["withdrawal_probability"] * listed["revenue_at_stake_cny"],
    )
    clean = listed[listed["steps_overdue"] == 0]["money_at_stake_cny"].to_numpy()
    assert (np.diff(clean) <= 1e-9).all()


def test_the_difference_from_the_logistic_regression_has_an_interval_over_applications() -> None:
    # Given 400 applications of two rows each, a model that ranks them well and a coin flip
    rng = np.random.default_rng(1)
    label = np.repeat(rng.random(400) < 0.2, 2).astype(int)
    good = label + rng.normal(0, 0.7, label.size)
    coin = rng.random(label.size)
    groups = np.repeat(np.arange(400), 2)

    # When each is measured against the other
    ahead = against_baseline(label, good, coin, groups)
    behind = against_baseline(label, coin, good, groups)

    # Then the good one is ahead beyond the noise and the coin worse; the withdrawals counted
    assert 0 < ahead["roc_auc_minus_logistic_low"] < ahead["roc_auc_minus_logistic"]
    assert ahead["roc_auc_minus_logistic"] < ahead["roc_auc_minus_logistic_high"]
    assert behind["roc_auc_minus_logistic"] == pytest.approx(-ahead["roc_auc_minus_logistic"])
    assert ahead["positives"] == label.sum()
    assert baseline_verdict(ahead) == "ahead" and baseline_warning(ahead) is None
    assert baseline_verdict(behind) == "worse"


def test_a_model_below_the_logistic_regression_is_named_and_worse_is_not_promoted(
    simulated_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a window where the model trails within the noise, and one where it is worse
    trails = {
        "roc_auc_minus_logistic": -0.02,
        "roc_auc_minus_logistic_low": -0.08,
        "roc_auc_minus_logistic_high": 0.03,
        "positives": 40.0,
    }
    worse = trails | {"roc_auc_minus_logistic_high": -0.005}
    assert baseline_verdict(trails) == "trails"
    assert "within the test window's noise" in (baseline_warning(trails) or "")
    assert "40 withdrawals" in (baseline_warning(trails) or "")
    assert "worse than the logistic regression" in (baseline_warning(worse) or "")

    # When a model is trained whose comparison says worse
    monkeypatch.setattr(withdrawal, "against_baseline", lambda *args: worse)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = train_withdrawal(
        applicants_of(load_dataset(simulated_dir)), load_service_clocks(), WorkingCalendar(), uri
    )

    # Then, as the first model, it becomes the champion (risks beat none) with the warning
    registry.configure(uri)
    assert result.against_logistic == "worse" and result.promoted
    assert registry.champion_version(WITHDRAWAL_MODEL) == result.version
    from rich.console import Console

    console = Console(record=True, width=200)
    result.print(console)
    assert "worse than the logistic regression" in console.export_text()

    # and a second one as bad is registered but never replaces it; the console says why, in red
    again = train_withdrawal(
        applicants_of(load_dataset(simulated_dir)), load_service_clocks(), WorkingCalendar(), uri
    )
    registry.configure(uri)
    assert again.against_logistic == "worse" and not again.promoted
    assert registry.champion_version(WITHDRAWAL_MODEL) == result.version
    console = Console(record=True, width=200)
    again.print(console)
    text = console.export_text()
    assert "不如逻辑回归基线" in text and "not promoted" in text
