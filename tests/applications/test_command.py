"""`retention applications DIR`: the open applications printed, overdue first, and the
per-step watch list written safely as CSV or xlsx."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import retention.cli
from retention.cli import app

runner = CliRunner()
Table = Callable[[list[dict[str, Any]]], pd.DataFrame]


@pytest.fixture(autouse=True)
def _registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command looks for a withdrawal champion in an empty registry of the test's own, and
    stores its run in a store of the test's own."""
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path))


@pytest.fixture
def loaded(
    monkeypatch: pytest.MonkeyPatch, applications_table: Table, steps_table: Table
) -> SimpleNamespace:
    """The dataset the command loads: two open applications on 2026-03-10, one overdue."""
    dataset = SimpleNamespace(
        applications=applications_table(
            [
                {"application_id": "YK-FRESH", "accepted_at": "2026-03-09 10:00"},
                {
                    "application_id": "=1+1",
                    "accepted_at": "2026-03-02 10:00",
                    "applicant_name": "保密的公司名",
                },
            ]
        ),
        application_steps=steps_table(
            [
                {
                    "application_id": "YK-FRESH",
                    "step_code": "site_survey_contact",
                    "started_at": "2026-03-09 10:00",
                    "document_requests": 2,
                },
            ]
        ),
        # the accounts' months say where the extract ends (the watch needs no more of them)
        monthly_usage=pd.DataFrame({"month": pd.to_datetime(["2026-03-01"])}),
        monthly_billing=pd.DataFrame({"month": pd.to_datetime(["2026-03-01"])}),
    )
    monkeypatch.setattr(retention.cli, "_load", lambda folder, encoding: dataset)
    monkeypatch.setattr(retention.cli, "console", Console(width=200))  # a wide terminal
    return dataset


def test_the_open_applications_are_printed_overdue_first(loaded: SimpleNamespace) -> None:
    result = runner.invoke(app, ["applications", "data", "--date", "2026-03-10"])
    assert result.exit_code == 0, result.output
    assert "有超期环节 1 件" in result.output and "with overdue steps: 1" in result.output
    assert result.output.index("=1+1") < result.output.index("YK-FRESH")
    assert "现场勘查联系" in result.output  # the fresh one's next due step
    assert "保密的公司名" not in result.output  # the applicant's name is never shown
    assert "no withdrawal model" in result.output  # none trained in this store


def test_a_model_that_trailed_the_logistic_regression_is_named_so() -> None:
    # Given a champion whose training found it below the logistic regression within the noise
    from retention.applications.export import print_model_note
    from retention.model.info import ModelInfo

    metrics = {"roc_auc": 0.66, "roc_auc_minus_logistic": -0.07, "positives": 32.0}
    trailing = ModelInfo(test_metrics=metrics, description={"against_logistic": "trails"})
    ahead = ModelInfo(test_metrics=metrics | {"roc_auc_minus_logistic": 0.01})

    # When the watch command names the model
    console = Console(record=True, width=200)
    print_model_note(console, trailing, "3")
    print_model_note(console, ahead, "4")
    text = console.export_text()

    # Then the trailing one is flagged with its difference and the window's withdrawals, once
    assert "withdrawal model v3 test ROC AUC 0.660" in text
    assert text.count("below the logistic regression") == 1
    assert "-0.070" in text and "32 withdrawals" in text


def test_the_run_is_stored_for_the_api_and_the_page(
    loaded: SimpleNamespace, tmp_path: Path
) -> None:
    from retention.store.applications import latest_watch_run
    from retention.store.database import open_store

    result = runner.invoke(app, ["applications", "data", "--date", "2026-03-10"])
    assert result.exit_code == 0, result.output
    engine = open_store(f"sqlite:///{tmp_path / 'retention.db'}")
    stored = latest_watch_run(engine)
    assert str(stored.as_of) == "2026-03-10"
    assert "watch run" in result.output


def test_no_store_leaves_the_store_alone(loaded: SimpleNamespace, tmp_path: Path) -> None:
    result = runner.invoke(app, ["applications", "data", "--date", "2026-03-10", "--no-store"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "retention.db").exists()


def test_the_watch_list_is_written_as_csv_with_a_bom_and_the_formula_guard(
    loaded: SimpleNamespace, tmp_path: Path
) -> None:
    out = tmp_path / "watch.csv"
    result = runner.invoke(app, ["applications", "data", "--date", "2026-03-10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    written = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert "'=1+1" in set(written["申请编号 Application"])
    overdue = written[written["状态 State"] == "已超期 overdue"]
    assert overdue["完成时限 Due date"].tolist() == ["2026-03-03"]
    assert overdue["超期工作日 Overdue working days"].tolist() == ["5"]


def test_the_watch_list_is_written_as_a_workbook(loaded: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "watch.xlsx"
    result = runner.invoke(app, ["applications", "data", "--date", "2026-03-10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = pd.read_excel(out)
    assert len(written) == 4 and "'=1+1" in set(written["申请编号 Application"])


def test_a_dataset_without_applications_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A dataset of the accounts' tables only: its optional application tables are absent
    no_applications = SimpleNamespace(applications=None, application_steps=None, folder=None)
    monkeypatch.setattr(retention.cli, "_load", lambda folder, encoding: no_applications)
    result = runner.invoke(app, ["applications", "data", "--date", "2026-03-10"])
    assert result.exit_code == 1
    assert "the dataset has no applications table" in result.output


def test_an_output_that_is_neither_csv_nor_xlsx_is_refused_before_reading(
    loaded: SimpleNamespace, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["applications", "data", "--out", str(tmp_path / "w.json")])
    assert result.exit_code == 2 and "--out" in result.output


def test_without_a_date_an_old_extract_is_watched_at_its_end(loaded: SimpleNamespace) -> None:
    # Given an extract whose months end in March 2026 (its data end: 2026-04-01), before today
    # When the command runs without --date
    result = runner.invoke(app, ["applications", "data", "--no-store"])

    # Then it watches at the data's end, says so, and counts no clock on past it
    assert result.exit_code == 0, result.output
    assert "2026-04-01" in result.output
    assert "the data's end" in result.output
