"""The simulator's scenario switch: a shift from a month, and nothing else changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from retention.cli import app
from retention.data.simulator import SimulationConfig, simulate
from retention.data.simulator.scenarios import Scenario

BASE = SimulationConfig(accounts=300, months=24, start="2024-11", seed=4)


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    return simulate(BASE)


def _with(*scenarios: Scenario):  # type: ignore[no-untyped-def]
    return simulate(
        SimulationConfig(
            accounts=BASE.accounts, months=BASE.months, start=BASE.start, seed=BASE.seed,
            scenarios=scenarios,
        )
    )  # fmt: skip


def test_a_tariff_reform_raises_one_category_s_prices_from_its_month(base) -> None:  # type: ignore[no-untyped-def]
    reform = _with(Scenario("tariff_reform", "2026-03", "large_industry", 0.3))
    customers = base.tables["customers"].set_index("customer_id")["tariff_category"]
    before, after = base.tables["monthly_billing"], reform.tables["monthly_billing"]
    pd.testing.assert_frame_equal(base.tables["monthly_usage"], reform.tables["monthly_usage"])
    merged = before.merge(after, on=["customer_id", "month"], suffixes=("", "_new"))
    ratio = merged["amount_due_cny_new"] / merged["amount_due_cny"]
    large = merged["customer_id"].map(customers).eq("large_industry").to_numpy()
    later = (merged["month"] >= "2026-03-01").to_numpy()
    assert np.allclose(ratio[~later | ~large], 1.0)  # before the month, or other tariffs
    # energy is 30% dearer; the basic charge is not, so the bill rises by a little less
    assert 1.15 < ratio[later & large].median() <= 1.3


def test_an_industry_downturn_cuts_its_consumption_from_its_month(base) -> None:  # type: ignore[no-untyped-def]
    downturn = _with(Scenario("industry_downturn", "2026-01", "C31", -0.4))
    industry = base.tables["customers"].set_index("customer_id")["industry_code"]
    merged = base.tables["monthly_usage"].merge(
        downturn.tables["monthly_usage"], on=["customer_id", "month"], suffixes=("", "_new")
    )
    ratio = (merged["kwh_total_new"] / merged["kwh_total"]).to_numpy()
    hit = merged["customer_id"].map(industry).eq("C31").to_numpy()
    later = (merged["month"] >= "2026-01-01").to_numpy()
    valid = np.isfinite(ratio)
    assert hit[later].any()
    assert np.allclose(ratio[valid & (~later | ~hit)], 1.0)
    assert np.allclose(ratio[valid & later & hit], 0.6, atol=0.01)
    # the hidden churn process is untouched
    pd.testing.assert_frame_equal(base.truth["churn_events"], downturn.truth["churn_events"])


def test_scenarios_are_checked_and_reach_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tariff_reform target"):
        Scenario("tariff_reform", "2026-03", "steel", 0.3)
    with pytest.raises(ValueError, match="KIND:YYYY-MM:TARGET:CHANGE"):
        Scenario.parse("tariff_reform:2026-03")
    runner = CliRunner()
    out = tmp_path / "shifted"
    result = runner.invoke(
        app,
        ["simulate", "--out", str(out), "--accounts", "60", "--months", "14",
         "--scenario", "industry_downturn:2024-12:C31:-0.5"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bad = runner.invoke(
        app, ["simulate", "--out", str(tmp_path / "x"), "--scenario", "downturn:2024-12:C31:-1"]
    )
    assert bad.exit_code == 2 and "--scenario" in bad.output
    assert not (tmp_path / "x").exists()
