"""The service clocks file: the shipped defaults, first-match limits, and clear refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from retention.applications.clocks import STEP_CODES, load_service_clocks
from retention.scoring.playbook import load_playbook
from retention.settings import ConfigFileError, packaged_file

SHIPPED = packaged_file("serving/service_clocks.yaml")


def test_the_shipped_clocks_cover_every_step_with_a_playbook_role() -> None:
    clocks = load_service_clocks()
    roles = load_playbook().roles
    assert tuple(clocks.steps) == STEP_CODES
    assert {clock.owner for clock in clocks.steps.values()} <= set(roles)
    assert clocks.steps["energising"].owner == "metering"
    assert roles["metering"].zh == "计量/装表接电班组"
    assert clocks.steps["energising"].after_step == "completion_inspection"


def test_the_first_limit_that_holds_applies_and_none_means_no_clock(
    applications_table: Callable[[list[dict[str, object]]], pd.DataFrame],
) -> None:
    # Given a single- and a dual-supply application at 10 kV and a single one at 0.4 kV,
    applications = applications_table(
        [
            {"application_id": "A1", "accepted_at": "2026-03-02", "supply_type": "single"},
            {"application_id": "A2", "accepted_at": "2026-03-02", "supply_type": "dual"},
            {"application_id": "A3", "accepted_at": "2026-03-02", "voltage_kv": 0.4},
        ]
    )
    # when the shipped clocks pick their limits,
    limits = (
        load_service_clocks()
        .applicable_limits(applications)
        .set_index(["application_id", "step_code"])
    )
    days = limits["limit_working_days"]
    # then the supply plan is due in 15 or 30 working days, and design review has a clock
    # only at 10 kV and above.
    assert days["A1", "supply_plan_reply"] == 15 and days["A2", "supply_plan_reply"] == 30
    assert days["A1", "design_review"] == 10
    assert ("A3", "design_review") not in days.index
    assert days["A3", "site_survey_contact"] == 1


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "service_clocks.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_an_unknown_step_code_is_refused_naming_the_file_and_the_code(tmp_path: Path) -> None:
    path = _edited(tmp_path, "  energising:\n", "  energizing:\n")
    with pytest.raises(ConfigFileError, match="unknown step codes \\['energizing'\\]") as err:
        load_service_clocks(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "counts_from", ["acceptance", "finished:energizing", "'finished:'", "started_at"]
)
def test_a_bad_counts_from_is_refused_naming_the_file_and_the_step(
    tmp_path: Path, counts_from: str
) -> None:
    path = _edited(
        tmp_path, "counts_from: finished:completion_inspection", f"counts_from: {counts_from}"
    )
    with pytest.raises(ConfigFileError, match=r"steps\.energising\.counts_from") as err:
        load_service_clocks(path)
    assert str(path) in str(err.value) and "finished:<step code>" in str(err.value)


def test_a_clock_counting_from_its_own_finish_is_refused(tmp_path: Path) -> None:
    path = _edited(
        tmp_path, "counts_from: finished:completion_inspection", "counts_from: finished:energising"
    )
    with pytest.raises(ConfigFileError, match="cycle energising -> energising"):
        load_service_clocks(path)


def test_an_owner_that_is_not_a_playbook_role_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, "owner: metering", "owner: meter_team")
    with pytest.raises(
        ConfigFileError, match=r"steps\.energising\.owner: unknown role 'meter_team'"
    ) as err:
        load_service_clocks(path)
    assert str(path) in str(err.value)


def test_a_misspelt_condition_is_refused(tmp_path: Path) -> None:
    path = _edited(
        tmp_path, "{supply_type: dual, working_days: 30}", "{supply: dual, working_days: 30}"
    )
    with pytest.raises(ConfigFileError, match=r"supply_plan_reply\.limits\.1\.supply"):
        load_service_clocks(path)


def test_the_setting_points_at_a_users_own_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _edited(
        tmp_path,
        "{supply_type: single, working_days: 15}",
        "{supply_type: single, working_days: 12}",
    )
    monkeypatch.setenv("RETENTION_SERVICE_CLOCKS", str(path))
    limits = load_service_clocks().steps["supply_plan_reply"].limits
    assert limits[0].working_days == 12
