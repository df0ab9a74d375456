"""The scored list: ranked by money at risk, bands, reasons, actions, accounts leaving apart."""

from __future__ import annotations

import numpy as np
import pytest

from retention.data.io import Dataset
from retention.features.catalogue import load_catalogue
from retention.scoring.batch import ScoredList, score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.training.pipeline import TrainResult
from retention.training.registry import load_version


@pytest.fixture(scope="module")
def scored(trained: TrainResult, simulation) -> ScoredList:  # type: ignore[no-untyped-def]
    return score_snapshot(
        Dataset(**simulation.tables),
        load_version(trained.version),
        load_catalogue(),
        load_playbook(),
        WorkingCalendar(),
        capacity=40,
    )


def test_list_is_ranked_by_money_at_risk_with_the_top_k_high(scored: ScoredList) -> None:
    accounts = scored.accounts
    assert scored.snapshot.strftime("%Y-%m-%d") == "2026-11-01"  # after the latest data
    assert accounts["money_at_risk_cny"].is_monotonic_decreasing
    np.testing.assert_allclose(
        accounts["money_at_risk_cny"],
        accounts["probability"] * accounts["expected_revenue_cny"].fillna(0),
    )
    assert (accounts["band"].iloc[:40] == "high").all()
    assert set(accounts["band"].iloc[40:]) <= {"medium", "low"}
    assert accounts["customer_id"].is_unique


def test_every_high_account_has_reasons_and_a_dated_owned_action(scored: ScoredList) -> None:
    high = scored.accounts[scored.accounts["band"] == "high"]["customer_id"]
    assert set(high) <= set(scored.reasons["customer_id"])
    actions = scored.actions[scored.actions["customer_id"].isin(high)]
    assert set(high) <= set(actions["customer_id"])
    first = actions[actions["code"] == "dedicated_manager"]
    assert (first["due_date"] > scored.snapshot.date()).all()


def test_accounts_leaving_are_apart_with_an_exit_visit(scored: ScoredList) -> None:
    assert not set(scored.leaving["customer_id"]) & set(scored.accounts["customer_id"])
    assert (scored.leaving["action"] == "capacity_change_visit").all()


def test_reasons_are_computed_for_the_accounts_the_team_acts_on(scored: ScoredList) -> None:
    acted_on = set(scored.accounts.loc[scored.accounts["band"] != "low", "customer_id"])
    assert set(scored.reasons["customer_id"]) <= acted_on
