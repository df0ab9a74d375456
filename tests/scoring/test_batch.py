"""The scored list: ranked by money at risk, bands, reasons, actions, accounts leaving apart."""

from __future__ import annotations

import numpy as np

from retention.scoring.batch import ScoredList


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
    visits = scored.actions[scored.actions["customer_id"].isin(scored.leaving["customer_id"])]
    first = visits[visits["position"] == 1].set_index("customer_id")["code"]
    assert (first.reindex(scored.leaving["customer_id"]) == "capacity_change_visit").all()


def test_every_listed_account_with_a_risk_raising_group_has_reasons(scored: ScoredList) -> None:
    # Every account the team acts on has reasons; a low-risk account only lacks them when
    # nothing about it raises risk (all groups push its score down).
    acted_on = set(scored.accounts.loc[scored.accounts["band"] != "low", "customer_id"])
    assert acted_on <= set(scored.reasons["customer_id"])
    assert set(scored.reasons["customer_id"]) <= set(scored.accounts["customer_id"])
    assert scored.reasons.groupby("customer_id")["rank"].max().max() <= 3
    assert (scored.reasons["contribution"] > 0).all()
    assert set(scored.seconds) == {"features", "predict", "reasons", "actions"}
