"""The interventions table's bad input (issue 17's must-show): an unknown action code, a
contact before the assignment, propensities outside (0, 1] and a randomised assignment
without its propensity are each named with file, column and rule, by `retention validate`
too, and nothing is loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from retention import cli
from retention.cli import app
from retention.data.contract import ACTION_CODES, Rule
from retention.data.loading import validate_dataset

from .conftest import Tables, places

CONTACT_BEFORE = "contacted_at must be >= created_at / 联系时间早于分配时间"


def _bad_log(tables: Tables) -> None:
    """Six assignments: an unknown action, a contact before the assignment, propensities of
    0 and 1.5, a held-out control and a randomised follow-up without a propensity."""
    iv = pd.concat([tables["interventions"]] * 3, ignore_index=True)
    iv["intervention_id"] = [f"I{i}" for i in range(1, 7)]
    iv["action_code"] = ["call_boss", *["tariff_plan"] * 5]
    iv["created_at"] = pd.to_datetime(["2024-02-02 09:00:00"] * 6)
    iv["contacted_at"] = pd.to_datetime(
        [None, "2024-02-01 15:00:00", None, None, None, "2024-02-03 10:00:00"]
    )
    iv["outcome"] = ["pending", "retained", "pending", "pending", "churned", "retained"]
    iv["assignment_probability"] = [0.4, 0.4, 0.0, 1.5, None, None]
    iv["assignment"] = [None, None, None, None, "held_out", None]
    iv["randomised"] = pd.array([None, None, None, None, True, True], dtype="boolean")
    tables["interventions"] = iv


def test_each_bad_assignment_is_named_with_file_column_and_rule(
    tables: Tables, write: Callable[..., Path]
) -> None:
    # Given an interventions table with each mistake once
    _bad_log(tables)

    # When validated
    report = validate_dataset(write(tables, "csv"))

    # Then each is named with its file, column, rule and line; nothing is loaded
    found = {(p.file, p.column, p.rule, tuple(places(p))) for p in report.problems}
    assert found == {
        ("interventions.csv", "action_code", Rule.one_of(ACTION_CODES), (2,)),
        ("interventions.csv", "contacted_at", CONTACT_BEFORE, (3,)),
        ("interventions.csv", "assignment_probability", Rule.PROBABILITY, (4, 5)),
        (
            "interventions.csv",
            "assignment_probability",
            Rule.RANDOMISED_WITHOUT_PROBABILITY,
            (6, 7),
        ),
    }, [p.to_dict() for p in report.problems]
    assert report.dataset is None


def test_retention_validate_names_them(
    tables: Tables, write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the same table in a dataset folder, when `retention validate` checks it
    monkeypatch.setattr(cli.console, "width", 400)  # each problem on one line
    _bad_log(tables)
    result = CliRunner().invoke(app, ["validate", str(write(tables, "csv"))])

    # Then it fails, naming the file, the columns and the rules
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    for words in (
        "interventions.csv",
        "action_code",
        "call_boss",
        CONTACT_BEFORE,
        "assignment_probability",
        "须为 (0, 1] 之间的概率",
        "随机分配或对照组的记录须有分配概率",
    ):
        assert words in text, (words, result.output)
