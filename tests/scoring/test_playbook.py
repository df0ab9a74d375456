"""The playbook file: actions from reasons, band and facts; owners; due dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retention.data.contract import ACTION_CODES
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook, recommend
from retention.settings import ConfigFileError, packaged_file

MONDAY = dt.date(2026, 11, 2)


def test_the_playbook_has_every_action_of_the_service_rules() -> None:
    playbook = load_playbook()
    assert set(playbook.actions) == set(ACTION_CODES)
    assert playbook.actions["dedicated_manager"].due_working_days == 1
    assert playbook.actions["connection_project"].due_working_days == 10


def test_reasons_band_and_facts_choose_the_actions() -> None:
    playbook, calendar = load_playbook(), WorkingCalendar()
    high = recommend(
        playbook,
        calendar,
        MONDAY,
        "high",
        ["price_bill", "payment"],
        {"market_mode": "grid_agency"},
        manager_id="AM31007",
    )
    assert [r.code for r in high] == ["dedicated_manager", "tariff_plan", "payment_arrangement"]
    assert high[0].owner == "AM31007" and high[0].due_date == dt.date(2026, 11, 3)
    assert high[1].owner == "tariff_specialist" and high[1].owner_zh == "电价电费专责"
    medium = recommend(
        playbook,
        calendar,
        MONDAY,
        "medium",
        ["consumption"],
        {"self_generation": True, "market_mode": "retailer"},
    )
    assert {r.code for r in medium} >= {"new_energy_support", "market_retention_offer"}
    assert all(r.owner != "AM31007" for r in medium)
    low = recommend(playbook, calendar, MONDAY, "low", ["price_bill"], {})
    assert low == []


def test_accounts_in_exit_process_get_an_exit_visit() -> None:
    actions = recommend(
        load_playbook(), WorkingCalendar(), MONDAY, "low", [], {}, in_exit_process=True
    )
    assert actions[0].code == "capacity_change_visit"
    assert actions[0].due_date == dt.date(2026, 11, 4)


def test_a_rule_naming_an_unknown_action_fails_loudly(tmp_path: Path) -> None:
    text = packaged_file("serving/playbook.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "playbook.yaml"
    broken.write_text(text.replace("then: [tariff_plan]", "then: [tarif_plan]"), encoding="utf-8")
    with pytest.raises(ConfigFileError, match=r"playbook.yaml.*unknown actions \['tarif_plan'\]"):
        load_playbook(broken)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("due_working_days: 1\n", "due_working_days: 1\n    min_saving_cny: 5000\n"),
         r"dedicated_manager.min_saving_cny: only tariff_plan"),
        (("min_saving_cny: 10000", "min_saving_cny: -1"), r"min_saving_cny"),
    ],
)  # fmt: skip
def test_a_minimum_saving_is_tariff_plans_own_and_never_negative(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = packaged_file("serving/playbook.yaml").read_text(encoding="utf-8")
    assert edit[0] in text
    broken = tmp_path / "playbook.yaml"
    broken.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(ConfigFileError, match=message):
        load_playbook(broken)
