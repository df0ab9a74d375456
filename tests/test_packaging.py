"""The configs users edit ship inside the package; the repository's copies stay in step."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import retention
from retention.features.catalogue import load_catalogue
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.settings import Settings, packaged_file
from retention.tariffs.tables import load_tariffs
from retention.training.config import DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (
    "features/catalogue.yaml",
    "serving/playbook.yaml",
    "serving/holidays.yaml",
    "serving/service_clocks.yaml",
    "serving/tariffs.yaml",
    "training/default.yaml",
)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_repository_copy_is_the_packaged_file(name: str) -> None:
    # The packaged file is the source; the top-level copy is what users find and edit.
    assert packaged_file(name).read_bytes() == (ROOT / name).read_bytes(), (
        f"{name} differs from src/retention/resources/{name}: copy the one you changed over"
    )


def test_by_default_the_loaders_read_the_files_inside_the_package() -> None:
    package = Path(retention.__file__).parent
    settings = Settings()
    for path in (
        settings.catalogue_file,
        settings.playbook_file,
        settings.holidays_file,
        settings.service_clocks_file,
        settings.tariffs_file,
        DEFAULT_CONFIG,
    ):
        assert path.is_relative_to(package / "resources") and path.is_file()


def test_settings_point_the_loaders_at_a_users_own_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = tmp_path / "catalogue.yaml"
    text = packaged_file("features/catalogue.yaml").read_text(encoding="utf-8")
    catalogue.write_text(text.replace("{zh: 用电量,", "{zh: 用电情况,", 1), encoding="utf-8")
    playbook = tmp_path / "playbook.yaml"
    text = packaged_file("serving/playbook.yaml").read_text(encoding="utf-8")
    playbook.write_text(text.replace("due_working_days: 5", "due_working_days: 9"), "utf-8")
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text("years:\n  2030:\n    holidays: [2030-01-01]\n", encoding="utf-8")
    monkeypatch.setenv("RETENTION_CATALOGUE", str(catalogue))
    monkeypatch.setenv("RETENTION_PLAYBOOK", str(playbook))
    monkeypatch.setenv("RETENTION_HOLIDAYS", str(holidays))
    tariffs = tmp_path / "tariffs.yaml"
    text = packaged_file("serving/tariffs.yaml").read_text(encoding="utf-8")
    tariffs.write_text(text.replace("switch_every_months: 3", "switch_every_months: 12"), "utf-8")
    monkeypatch.setenv("RETENTION_TARIFFS", str(tariffs))

    assert load_catalogue().groups["consumption"].zh == "用电情况"
    assert 9 in {action.due_working_days for action in load_playbook().actions.values()}
    assert load_tariffs().companies["example_province"].basic_charge[0].switch_every_months == 12
    calendar = WorkingCalendar()
    assert calendar.source(2030) == "holiday file" and calendar.source(2027) == "Mon-Fri"


def test_a_setting_naming_no_file_is_refused_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_HOLIDAYS", str(tmp_path / "holidays-2030.yaml"))
    with pytest.raises(ValidationError, match="holidays"):
        Settings()
