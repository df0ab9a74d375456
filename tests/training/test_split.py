"""Splits are by time, with a gap of at least the horizon before the test."""

from __future__ import annotations

import pandas as pd
import pytest

from retention.training.config import SplitConfig, TrainingConfig
from retention.training.split import split_by_time


def test_split_keeps_the_horizon_between_training_and_test() -> None:
    dates = pd.date_range("2024-11-01", "2026-05-01", freq="MS")
    split = split_by_time(dates, TrainingConfig())
    assert len(split.test) == 3 and len(split.validation) == 3
    assert split.train.max() < split.validation.min()
    months = (split.test.min().year - split.validation.max().year) * 12 + (
        split.test.min().month - split.validation.max().month
    )
    assert months >= 6
    assert split.train.max() + pd.DateOffset(months=6) <= split.test.min()


def test_too_short_a_history_is_refused_with_the_reason() -> None:
    dates = pd.date_range("2025-01-01", "2025-09-01", freq="MS")
    config = TrainingConfig(split=SplitConfig(test_snapshots=3, validation_snapshots=3))
    with pytest.raises(ValueError, match="too short to split by time"):
        split_by_time(dates, config)


def test_validation_accounts_are_not_trained_on() -> None:
    from retention.training.split import hold_out_accounts

    accounts = pd.Series([f"a{i % 40}" for i in range(400)])
    parts = pd.Series(["train"] * 200 + ["validation"] * 120 + ["test"] * 80)
    out = hold_out_accounts(parts, accounts, 0.25, seed=1)
    trained = set(accounts[out.eq("train")])
    validated = set(accounts[out.eq("validation")])
    assert not trained & validated
    assert len(validated) == 10 and len(trained) == 30
    assert out[parts.eq("test")].eq("test").all()
    assert hold_out_accounts(parts, accounts, 0.0, seed=1).equals(parts)
    # the rows left out can be marked instead, for the refit on all rows
    marked = hold_out_accounts(parts, accounts, 0.25, seed=1, left_out="spare")
    assert marked.eq("spare").sum() == out.isna().sum() > 0
    assert (marked.where(marked.ne("spare")).fillna("-") == out.fillna("-")).all()
