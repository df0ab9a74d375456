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
    steps = {"features", "predict", "reasons", "actions", "tariff_offers", "targeting"}
    assert set(scored.seconds) == steps


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


def test_the_list_has_churn_within_1_and_3_months_never_above_the_longer(
    scored: ScoredList,
) -> None:
    # Given the small portfolio scored by a 6-month model with timing models
    accounts = scored.accounts
    columns = ("probability_1m", "probability_3m", "probability")
    p1, p3, p6 = (accounts[c].to_numpy() for c in columns)
    # Then every listed account has both, and p1 <= p3 <= p6 on every row
    assert scored.horizon_months == 6
    assert np.isfinite(p1).all() and np.isfinite(p3).all()
    assert (p1 <= p3).all() and (p3 <= p6).all()
    assert (p1 >= 0).all() and p3.std() > 0
    # and the 3-month risk is not simply the 6-month one scaled: the order changes
    assert not np.array_equal(np.argsort(p3), np.argsort(p6))


def test_a_model_without_timing_models_still_scores_with_horizons_missing(  # type: ignore[no-untyped-def]
    scored: ScoredList, trained, simulation
) -> None:
    # Given the tests' model as an artifact from before timing models (none in it)
    from dataclasses import replace

    from retention.features.catalogue import load_catalogue
    from retention.scoring.batch import score_snapshot
    from retention.scoring.calendar import WorkingCalendar
    from retention.scoring.playbook import load_playbook

    old = replace(load_version(trained.version), timing=[])
    # When it scores the same portfolio
    again = score_snapshot(
        Dataset(**simulation.tables), old, load_catalogue(), load_playbook(),
        WorkingCalendar(), capacity=40,
    )  # fmt: skip
    # Then the list is the same, with the shorter horizons missing
    np.testing.assert_allclose(again.accounts["probability"], scored.accounts["probability"])
    assert again.accounts[["probability_1m", "probability_3m"]].isna().all().all()
