"""The scored list: ranked by money at risk, bands, reasons, actions, accounts leaving apart."""

from __future__ import annotations

import numpy as np

from retention.data.dataset import Dataset
from retention.features.snapshot import build_features
from retention.model.registry import load_version
from retention.records.batch import ScoredList
from retention.scoring.reasons import contributions


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


def test_every_high_account_has_a_dated_owned_action(scored: ScoredList) -> None:
    high = scored.accounts[scored.accounts["band"] == "high"]["customer_id"]
    actions = scored.actions[scored.actions["customer_id"].isin(high)]
    assert set(high) <= set(actions["customer_id"])
    first = actions[actions["code"] == "dedicated_manager"]
    assert (first["due_date"] > scored.snapshot.date()).all()


def test_accounts_leaving_are_apart_with_an_exit_visit(scored: ScoredList) -> None:
    assert not set(scored.leaving["customer_id"]) & set(scored.accounts["customer_id"])
    visits = scored.actions[scored.actions["customer_id"].isin(scored.leaving["customer_id"])]
    first = visits[visits["position"] == 1].set_index("customer_id")["code"]
    assert (first.reindex(scored.leaving["customer_id"]) == "capacity_change_visit").all()


def test_every_account_scored_above_the_base_rate_has_reasons(  # type: ignore[no-untyped-def]
    scored: ScoredList, trained, simulation
) -> None:
    # Given the model's contributions for every listed account
    model = load_version(trained.version)
    frame = build_features(Dataset(**simulation.tables), scored.snapshot)
    rows = frame.loc[scored.accounts["customer_id"]]
    lift = contributions(model, model.matrix(rows)).by_feature.sum(axis=1)
    # then an account scored above the model's base (the bias) has at least one reason, and
    # every reason raises risk (an account the model scores below its base may have none:
    # a very large account can be high by money at risk alone)
    above = set(scored.accounts["customer_id"][lift > 0])
    assert above and above <= set(scored.reasons["customer_id"])
    assert set(scored.reasons["customer_id"]) <= set(scored.accounts["customer_id"])
    assert scored.reasons.groupby("customer_id")["rank"].max().max() <= 3
    assert (scored.reasons["contribution"] > 0).all()
    assert set(scored.seconds) == {"features", "predict", "reasons", "actions"}


def test_scores_of_valid_data_are_finite_numbers(scored: ScoredList) -> None:
    """What the store refuses (BatchRefused) never comes from data the contract accepts."""
    accounts = scored.accounts
    assert np.isfinite(accounts[["probability", "money_at_risk_cny"]].to_numpy()).all()
    for frame, column in (
        (accounts, "expected_revenue_cny"),
        (scored.leaving, "expected_revenue_cny"),
        (scored.reasons, "contribution"),
        (scored.peers, "median"),
    ):
        values = frame[column].to_numpy(dtype=float)
        assert not np.isinf(values).any(), column
    assert np.isfinite(scored.reasons["contribution"].to_numpy(dtype=float)).all()
