"""Splitting snapshots by time: train, then validation, then (a horizon later) test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention.training.config import TrainingConfig


@dataclass(frozen=True)
class TimeSplit:
    """Snapshot dates of each part. The last validation snapshot is at least `gap_months`
    before the first test snapshot, so no training or validation label window reaches into
    the test's."""

    train: pd.DatetimeIndex
    validation: pd.DatetimeIndex
    test: pd.DatetimeIndex
    gap_months: int

    def part_of(self, snapshot_dates: pd.Series) -> pd.Series:
        """'train', 'validation', 'test' or None for each snapshot date."""
        names = {
            **{d: "train" for d in self.train},
            **{d: "validation" for d in self.validation},
            **{d: "test" for d in self.test},
        }
        return snapshot_dates.map(names)

    def describe(self) -> dict[str, str]:
        def span(dates: pd.DatetimeIndex) -> str:
            return f"{dates.min():%Y-%m} .. {dates.max():%Y-%m} ({len(dates)})"

        return {
            "train": span(self.train),
            "validation": span(self.validation),
            "test": span(self.test),
        }


def split_by_time(snapshots: pd.DatetimeIndex, config: TrainingConfig) -> TimeSplit:
    """Split monthly snapshots: the latest for test, validation a gap before, train before."""
    dates = pd.DatetimeIndex(sorted(set(snapshots)))
    n_test, n_val = config.split.test_snapshots, config.split.validation_snapshots
    gap = config.gap_months
    if len(dates) < n_test:
        raise ValueError(
            f"only {len(dates)} snapshots with complete labels; the test needs {n_test}"
        )
    test = dates[-n_test:]
    last_validation = test[0] - pd.DateOffset(months=gap)
    validation = dates[dates <= last_validation][-n_val:]
    train = dates[dates < (validation[0] if len(validation) else last_validation)]
    if len(validation) < n_val or len(train) < 2:
        raise ValueError(
            f"the data are too short to split by time: {len(dates)} monthly snapshots with "
            f"complete labels, but {n_test} test + a {gap}-month gap + {n_val} validation + at "
            f"least 2 training snapshots are needed"
        )
    return TimeSplit(train=train, validation=validation, test=test, gap_months=gap)


def hold_out_accounts(
    parts: pd.Series,
    accounts: pd.Series,
    share: float,
    seed: int,
    left_out: str | None = None,
) -> pd.Series:
    """Validation on accounts the booster never saw: a share of the accounts is held out.

    Snapshots of one account a month apart have nearly the same features and, within a
    horizon, the same label, and the training label windows run into the validation's. With
    the same accounts on both sides, early stopping rewards memorising accounts (thousands of
    rounds that do worse on the test) and calibration learns the same optimism. The held-out
    accounts' training rows and the other accounts' validation rows are left out of early
    stopping: marked `left_out` (None by default), so that the refit on all rows and the
    default LightGBM baseline can still use them. Accounts with no training rows (opened
    later) stay in the validation. share 0: as before.
    """
    if share <= 0:
        return parts
    ids = np.sort(accounts[parts.eq("train")].astype(str).unique())
    rng = np.random.default_rng(seed)
    held = set(rng.choice(ids, size=round(share * len(ids)), replace=False))
    is_held = accounts.astype(str).isin(held)
    trained = accounts.astype(str).isin(set(ids) - held)
    out = parts.copy()
    out[parts.eq("train") & is_held] = left_out
    out[parts.eq("validation") & trained] = left_out
    return out
