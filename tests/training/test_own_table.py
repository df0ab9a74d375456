"""Training on a data scientist's own feature table, and the clear refusals of bad ones."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from retention.cli import app
from retention.model.registry import REFERENCE_ARTIFACT, latest_version, run_rows
from retention.training.pipeline import REFERENCE_ROWS

runner = CliRunner()


def _table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    return pd.DataFrame(
        {
            "account": [f"A{i:05d}" for i in range(n)],
            "month": pd.date_range("2024-01-01", periods=12, freq="MS")[rng.integers(0, 12, n)],
            "usage_drop": risk + rng.normal(scale=0.5, size=n),
            "segment": rng.choice(["steel", "cement", "mall"], n),
            "opened": pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), "D"),
            "noise": rng.normal(size=n),
            "churned": (rng.random(n) < 1 / (1 + np.exp(-(risk * 2 - 3)))).astype(int),
        }
    )


def _train(table: Path, *extra: str) -> list[str]:
    """`retention train` on a table with the id and label columns of `_table`."""
    return [
        "train",
        "--table",
        str(table),
        "--id-column",
        "account",
        "--label-column",
        "churned",
        *extra,
    ]


def _runs(tracking_uri: str) -> int:
    experiment = mlflow.get_experiment_by_name("key-account-churn")
    return 0 if experiment is None else len(MlflowClient().search_runs([experiment.experiment_id]))


@pytest.fixture
def env(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", tracking_uri)
    return tracking_uri


def test_own_table_trains_by_time_and_writes_predictions(env: str, tmp_path: Path) -> None:
    table = tmp_path / "features.csv"
    _table().to_csv(table, index=False)
    out = tmp_path / "predictions.csv"
    result = runner.invoke(
        app, _train(table, "--time-column", "month", "--predictions-out", str(out))
    )
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out, encoding="utf-8-sig")
    assert {"customer_id", "probability"} <= set(predictions.columns)
    assert predictions["probability"].between(0, 1).all()
    assert "money@K" in result.output or "AUC" in result.output, result.output


def test_own_table_with_a_test_table_and_no_time_column(env: str, tmp_path: Path) -> None:
    frame = _table()
    train, test = tmp_path / "train.parquet", tmp_path / "test.parquet"
    frame.iloc[:2000].drop(columns="month").to_parquet(train)
    frame.iloc[2000:].drop(columns="month").to_parquet(test)
    result = runner.invoke(
        app,
        [
            "train",
            "--table",
            str(train),
            "--id-column",
            "account",
            "--label-column",
            "churned",
            "--test-table",
            str(test),
        ],
    )
    assert result.exit_code == 0, result.output
    # the drift reference keeps rows that have no time (one group, not dropped)
    version = latest_version()
    assert version is not None
    reference = run_rows(version, REFERENCE_ARTIFACT)
    assert len(reference) == min(REFERENCE_ROWS, 2000 + 1000)
    assert reference["probability"].between(0, 1).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.iloc[0:0], "no rows"),
        (lambda f: f.assign(churned=f["churned"].replace(1, 2)), "must be 0 or 1"),
        (lambda f: f.assign(churned=0), "only the value 0"),
        (lambda f: f.drop(columns="account"), "no column 'account'"),
        (lambda f: f.assign(noise=f["noise"].replace(f["noise"].iloc[3], np.inf)), "'noise'"),
        (lambda f: f.assign(usage_drop=f["usage_drop"] * 1e306), "not a finite number"),
    ],
)
def test_bad_tables_are_refused_clearly_and_leave_no_run(
    env: str, tmp_path: Path, change: object, message: str
) -> None:
    table = tmp_path / "bad.csv"
    change(_table()).to_csv(table, index=False)  # type: ignore[operator]
    before = _runs(env)
    result = runner.invoke(app, _train(table, "--time-column", "month"))
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # the console wraps long lines
    assert message in said and "bad.csv" in said
    assert _runs(env) == before


def test_an_empty_file_is_refused(env: str, tmp_path: Path) -> None:
    table = tmp_path / "empty.csv"
    table.write_text("", encoding="utf-8")
    result = runner.invoke(
        app, ["train", "--table", str(table), "--id-column", "a", "--label-column", "b"]
    )
    assert result.exit_code == 1 and "empty" in result.output
