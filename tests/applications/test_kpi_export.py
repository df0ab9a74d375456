"""`retention applications DIR --kpis-out`: the period's KPIs printed overall and per unit,
and written as CSV or xlsx with bilingual headers, shares as percentages, text guarded."""

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
SHARE = "服务时限达标率 On-time share"


@pytest.fixture
def loaded(
    monkeypatch: pytest.MonkeyPatch, applications_table: Table, steps_table: Table
) -> SimpleNamespace:
    """Two orders of unit "=1+1" connected in March 2026 (one contacted late), one of
    unit-02 connected the day after its acceptance in 2025, one withdrawn in February."""
    connected = {"status": "connected", "region": "=1+1", "accepted_at": "2026-03-02 09:00"}
    dataset = SimpleNamespace(
        applications=applications_table(
            [
                {"application_id": "ON", "closed_at": "2026-03-20 10:00", **connected},
                {"application_id": "LATE", "closed_at": "2026-03-20 10:00", **connected},
                {
                    "application_id": "OLD",
                    "status": "connected",
                    "region": "unit-02",
                    "accepted_at": "2025-11-03 09:00",
                    "closed_at": "2025-11-04 10:00",
                },
                {
                    "application_id": "GONE",
                    "status": "withdrawn",
                    "owner_id": None,
                    "accepted_at": "2026-01-05 09:00",
                    "closed_at": "2026-02-02 10:00",
                },
            ]
        ),
        application_steps=steps_table(
            [
                {
                    "application_id": name,
                    "step_code": "site_survey_contact",
                    "started_at": "2026-03-02 09:00",
                    "finished_at": finished,
                }
                for name, finished in (("ON", "2026-03-03 10:00"), ("LATE", "2026-03-05 10:00"))
            ]
        ),
    )
    monkeypatch.setattr(retention.cli, "_load", lambda folder, encoding: dataset)
    monkeypatch.setattr(retention.cli, "console", Console(width=250))
    return dataset


def _invoke(*args: str) -> Any:
    return runner.invoke(app, ["applications", "data", "--date", "2026-04-01", *args])


def test_the_year_to_date_kpis_are_printed_and_written_as_csv(
    loaded: SimpleNamespace, tmp_path: Path
) -> None:
    out = tmp_path / "kpis.csv"
    result = _invoke("--kpis-out", str(out))
    assert result.exit_code == 0, result.output
    # 2026 to date: the two March orders, half on time; the one of 2025 is not in it.
    assert "2026-01-01 至 2026-04-01（不含）归档 2 件，服务时限达标率 50.0%" in result.output
    assert "archived 2, on time 50.0%, withdrawn 1" in result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    written = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    overall = written[written["维度 Dimension"] == "总体 overall"].iloc[0]
    assert overall[SHARE] == "50.0%" and overall["归档(已接电) Archived"] == "2"
    units = written[written["维度 Dimension"] == "供电单位 unit"]
    assert units["项目 Item"].tolist() == ["'=1+1", "unit-01"]  # guarded; unit-02 had nothing
    owners = set(written.loc[written["维度 Dimension"] == "客户经理 owner", "项目 Item"])
    assert owners == {"无客户经理 no owner", "AM0001"}
    assert written["项目 Item"].str.startswith("现场勘查联系").sum() == 1


def test_a_period_given_counts_the_orders_closed_in_it(
    loaded: SimpleNamespace, tmp_path: Path
) -> None:
    out = tmp_path / "kpis.xlsx"
    result = _invoke(
        "--kpis-out", str(out), "--period-start", "2025-11-04", "--period-end", "2026-01-01"
    )
    assert result.exit_code == 0, result.output
    from openpyxl import load_workbook

    sheet = load_workbook(out).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    overall = [cell for cell in sheet[2]]
    share = overall[header.index(SHARE)]
    assert overall[0].value == "总体 overall"
    # The order of 2025 closed within its limits.
    assert share.value == 1.0 and share.number_format == "0.0%"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--kpis-out", "kpis.json"], "--kpis-out"),
        (["--kpis-out", "k.csv", "--period-start", "2026-03-01", "--period-end", "2026-02-01"],
         "--period-end"),
        (["--kpis-out", "k.csv", "--period-start", "2026-13-01"], "--period-start"),
    ],
)  # fmt: skip
def test_a_wrong_kpi_file_or_period_is_refused_by_name(
    loaded: SimpleNamespace, args: list[str], option: str
) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2 and option in result.output
