"""Realised churn against predicted, checked by hand on a fixture small enough to read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention.monitoring.realised import realised_churn

# Ten accounts: three high (two churned), three medium (one churned), three low (none
# churned), one in exit process (churned; not scored).
FIXTURE = pd.DataFrame(
    {
        "band": ["high", "high", "high", "medium", "medium", "medium", "low", "low", "low", "exit"],
        "probability": [0.6, 0.5, 0.4, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01, np.nan],
        "churn": [1, 1, 0, 0, 1, 0, 0, 0, 0, 1],
    }
)


def test_by_band_figures_match_a_hand_computation() -> None:
    realised = realised_churn(FIXTURE)
    table = realised.by_band.set_index("band")
    assert table.index.tolist() == ["high", "medium", "low", "exit"]
    assert table["accounts"].tolist() == [3, 3, 3, 1]
    assert table["churned"].tolist() == [2, 1, 0, 1]
    assert table.loc["high", "predicted_rate"] == pytest.approx((0.6 + 0.5 + 0.4) / 3)
    assert table.loc["high", "realised_rate"] == pytest.approx(2 / 3)
    assert table.loc["medium", "predicted_rate"] == pytest.approx(0.45 / 3)
    assert table.loc["medium", "realised_rate"] == pytest.approx(1 / 3)
    assert table.loc["low", "realised_rate"] == 0
    assert np.isnan(table.loc["exit", "predicted_rate"])


def test_overall_figures_leave_the_exit_band_out() -> None:
    realised = realised_churn(FIXTURE)
    assert realised.accounts == 9 and realised.churned == 3
    assert realised.realised_rate == pytest.approx(3 / 9)
    assert realised.predicted_rate == pytest.approx(2.03 / 9)
    # churners at 0.6, 0.5, 0.15; non-churners at 0.4, 0.2, 0.1, 0.05, 0.02, 0.01:
    # of the 3 x 6 pairs the churner is above in 6 + 6 + 4 = 16, so AUC = 16 / 18
    assert realised.roc_auc == pytest.approx(16 / 18)
    # ranked: 0.6 (1/1), 0.5 (2/2), 0.4, 0.2, 0.15 (3/5): AP = (1 + 1 + 3/5) / 3
    assert realised.pr_auc == pytest.approx((1 + 1 + 0.6) / 3)
    stored = realised.as_dict()
    assert stored["by_band"][-1] == {
        "band": "exit",
        "accounts": 1,
        "churned": 1,
        "predicted_rate": None,
        "realised_rate": 1.0,
    }


def test_without_both_outcomes_there_is_no_auc() -> None:
    nobody = FIXTURE.assign(churn=0)
    realised = realised_churn(nobody)
    assert realised.churned == 0 and realised.roc_auc is None and realised.pr_auc is None
