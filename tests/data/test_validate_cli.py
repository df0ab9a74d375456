"""`retention validate DIR`: the verdict, the report and the exit status."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from retention.cli import app
from retention.data.contract import Rule

from .conftest import Tables

runner = CliRunner()


def test_a_valid_dataset_exits_0(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "parquet")

    result = runner.invoke(app, ["validate", str(folder)])

    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    assert "monthly_usage.parquet" in result.output


def test_an_invalid_dataset_exits_1_and_names_file_column_rule_and_line(
    tables: Tables, write: Callable[..., Path]
) -> None:
    tables["monthly_usage"].loc[3, "kwh_total"] = -7.0
    tables["monthly_usage"].loc[3, ["kwh_peak", "kwh_flat", "kwh_valley"]] = float("nan")
    folder = write(tables, "csv")

    result = runner.invoke(app, ["validate", str(folder)], terminal_width=200)

    assert result.exit_code == 1
    for text in ("INVALID", "monthly_usage.csv", "kwh_total", "must be >= 0", "line 5"):
        assert text in result.output


def test_json_output_parses(tables: Tables, write: Callable[..., Path]) -> None:
    tables["service_tickets"].loc[0, "customer_id"] = "C999"
    folder = write(tables, "csv")

    result = runner.invoke(app, ["validate", str(folder), "--json"])

    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["problems"] == [
        {
            "file": "service_tickets.csv",
            "column": "customer_id",
            "rule": Rule.UNKNOWN_CUSTOMER,
            "count": 1,
            "examples": [{"line": 2, "value": "C999"}],
        }
    ]
    assert [f["table"] for f in report["files"]][:3] == [
        "customers",
        "monthly_usage",
        "monthly_billing",
    ]


def test_json_output_of_a_valid_dataset(tables: Tables, write: Callable[..., Path]) -> None:
    result = runner.invoke(app, ["validate", str(write(tables, "csv")), "--json"])

    assert result.exit_code == 0
    assert json.loads(result.output)["ok"] is True


def test_the_encoding_option_is_passed_on(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    for name in ("customers.csv", "applications.csv"):  # the tables with Chinese text
        path = folder / name
        path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))

    forced_right = runner.invoke(app, ["validate", str(folder), "--encoding", "gbk"])
    forced_wrong = runner.invoke(app, ["validate", str(folder), "--encoding", "utf-8", "--json"])

    assert forced_right.exit_code == 0, forced_right.output
    assert forced_wrong.exit_code == 1
    problem = json.loads(forced_wrong.output)["problems"][0]
    assert (problem["file"], problem["rule"]) == ("customers.csv", Rule.UNREADABLE_ENCODING)


def test_a_missing_folder_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nowhere"), "--json"])

    assert result.exit_code == 1
    assert json.loads(result.output)["problems"][0]["rule"] == Rule.FOLDER_NOT_FOUND


def test_customer_names_stay_out_of_the_output(tables: Tables, write: Callable[..., Path]) -> None:
    tables["customers"].loc[0, "tariff_category"] = "vip"
    folder = write(tables, "csv")

    result = runner.invoke(app, ["validate", str(folder), "--json"])

    assert result.exit_code == 1
    for name in tables["customers"]["customer_name"]:
        assert name not in result.output
