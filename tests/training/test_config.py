"""Training configurations: the horizon comes from RETENTION_HORIZON_MONTHS unless the file
sets its own, and a bad file is refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from retention.settings import Settings
from retention.training.config import ConfigError, load_config


def test_the_default_file_takes_the_horizon_from_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RETENTION_HORIZON_MONTHS", "12")
    config = load_config(horizon_months=Settings().horizon_months)
    assert config.churn.horizon_months == 12
    assert config.gap_months == 12  # the split keeps a horizon between training and test
    assert config.churn.volume_loss_months == 3  # the file's other churn rules stay
    assert load_config().churn.horizon_months == 6  # no setting given: the contract's 6


def test_a_file_that_sets_the_horizon_keeps_it(tmp_path: Path) -> None:
    own = tmp_path / "nine.yaml"
    own.write_text("name: nine\nchurn:\n  horizon_months: 9\n", encoding="utf-8")
    assert load_config(own, horizon_months=12).churn.horizon_months == 9
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\n", encoding="utf-8")
    assert load_config(bare, horizon_months=12).churn.horizon_months == 12


def test_a_horizon_out_of_range_is_refused(tmp_path: Path) -> None:
    own = tmp_path / "long.yaml"
    own.write_text("churn:\n  horizon_months: 48\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="horizon_months"):
        load_config(own)


def test_refit_and_calibration_folds_are_on_by_default_and_one_fold_is_refused(
    tmp_path: Path,
) -> None:
    config = load_config()
    assert config.refit and config.calibration_folds == 4
    own = tmp_path / "one.yaml"
    own.write_text("calibration_folds: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="calibration_folds"):
        load_config(own)
