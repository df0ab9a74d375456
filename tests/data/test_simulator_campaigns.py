"""Past retention campaigns in the simulator (issue 17): follow-ups assigned by a recorded
policy, effects that depend on the account, and a truth that lets every estimate be checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from retention.data.checks import validate_tables
from retention.data.simulator import SimulationConfig, SimulationResult, simulate
from retention.data.simulator.campaigns import ACTIONS, CampaignPolicy
from retention.data.simulator.variants import VARIANTS

SMALL = {"accounts": 400, "months": 24, "start": "2023-11"}
POLICY = CampaignPolicy()


@pytest.fixture(scope="module")
def medium() -> SimulationResult:
    """5,000 accounts over three years with the default policy (about 8 s)."""
    return simulate(SimulationConfig(accounts=5000, months=36, seed=1, campaigns=POLICY))


def _effects_by(result: SimulationResult) -> pd.DataFrame:
    """The truth's effects with each account's driver and hidden state at the snapshot."""
    effects = result.truth["action_effects"]
    drivers = result.truth["accounts"][["customer_id", "driver"]]
    states = result.truth["churn_probability"][["customer_id", "snapshot_date", "hidden_state"]]
    return effects.merge(drivers, on="customer_id").merge(
        states, on=["customer_id", "snapshot_date"]
    )


def test_campaigns_are_off_by_default() -> None:
    # Given the default config and the same with campaigns
    config = SimulationConfig(**SMALL, seed=5)  # type: ignore[arg-type]
    assert config.campaigns is None
    off = simulate(config)
    on = simulate(SimulationConfig(**SMALL, seed=5, campaigns=POLICY))  # type: ignore[arg-type]

    # Then only the campaigns write interventions and their truth
    assert "interventions" not in off.tables
    assert not {"campaign_assignments", "action_effects"} & set(off.truth)
    assert len(on.tables["interventions"]) > 0
    # and the policy draws from its own stream: before the first follow-up, the same data
    first = pd.Timestamp("2023-11-01") + pd.DateOffset(months=POLICY.from_month)
    for name in ("monthly_usage", "monthly_billing"):
        before_off = off.tables[name][off.tables[name]["month"] < first]
        before_on = on.tables[name][on.tables[name]["month"] < first]
        pd.testing.assert_frame_equal(
            before_off.reset_index(drop=True), before_on.reset_index(drop=True)
        )
    # while the follow-ups change what happens after
    assert not off.truth["churn_events"].equals(on.truth["churn_events"])


def test_the_same_seed_gives_the_same_campaigns() -> None:
    config = SimulationConfig(**SMALL, seed=9, campaigns=POLICY)  # type: ignore[arg-type]
    first, again = simulate(config), simulate(config)
    other = simulate(SimulationConfig(**SMALL, seed=10, campaigns=POLICY))  # type: ignore[arg-type]

    for name in ("campaign_assignments", "action_effects"):
        pd.testing.assert_frame_equal(first.truth[name], again.truth[name])
    pd.testing.assert_frame_equal(first.tables["interventions"], again.tables["interventions"])
    assert not first.tables["interventions"].equals(other.tables["interventions"])


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_the_contract_accepts_the_campaign_dataset(seed: int) -> None:
    result = simulate(SimulationConfig(**SMALL, seed=seed, campaigns=POLICY))  # type: ignore[arg-type]

    report = validate_tables(result.tables)

    assert report.ok, [p.to_dict() for p in report.problems]
    assert not report.warnings
    interventions = result.tables["interventions"]
    assert interventions["assignment_probability"].between(0, 1, inclusive="right").all()


def test_each_follow_up_records_its_probability(medium: SimulationResult) -> None:
    a = medium.truth["campaign_assignments"]
    followed = a[a["arm"] == "followed_up"]
    other = POLICY.other_action_share
    action_p = {1 - other, other / (len(ACTIONS) - 1)}
    assert set(followed["action_probability"].round(6)) == {round(p, 6) for p in action_p}
    # The top of the list is followed up for sure; the edge at random, the control held out.
    assert set(a.loc[~a["randomised"], "treat_probability"]) == {1.0}
    assert set(a.loc[a["randomised"], "treat_probability"]) == {POLICY.edge_probability}
    assert (a.loc[a["arm"] == "control", "randomised"]).all()
    edge = a[a["randomised"]]
    assert abs((edge["arm"] == "control").mean() - (1 - POLICY.edge_probability)) < 0.03
    # The risk the team saw ranks the edge below the top, not perfectly (it is noisy).
    assert a.loc[~a["randomised"], "risk_seen"].mean() > edge["risk_seen"].mean()
    # The data's propensity is the truth's product of the two.
    interventions = medium.tables["interventions"]
    given = interventions[interventions["assignment"] == "followed_up"]
    expected = followed["treat_probability"] * followed["action_probability"]
    assert sorted(given["assignment_probability"]) == pytest.approx(sorted(expected))


def test_the_controls_are_in_the_data(medium: SimulationResult) -> None:
    # Given the truth's assignments and the data's interventions
    a = medium.truth["campaign_assignments"]
    iv = medium.tables["interventions"]
    held_out = iv[iv["assignment"] == "held_out"]

    # Then every control is in the data, randomised, held out with probability 1 - p(edge)
    assert len(held_out) == int((a["arm"] == "control").sum()) > 0
    assert held_out["randomised"].all()
    assert set(held_out["assignment_probability"]) == {1 - POLICY.edge_probability}
    # never contacted, with the action it would have got and a measured outcome
    assert held_out["contacted_at"].isna().all()
    assert set(held_out["outcome"]) <= {"churned", "retained", "pending"}
    assert set(held_out["action_code"]) <= set(ACTIONS)
    # and the randomised follow-ups are exactly the truth's followed-up edge
    edge = a[a["randomised"] & (a["arm"] == "followed_up")]
    followed = iv[iv["assignment"] == "followed_up"]
    assert int(followed["randomised"].sum()) == len(edge)
    keys = ["customer_id", "snapshot_date"]
    data = held_out.assign(snapshot_date=held_out["created_at"].dt.normalize())[keys]
    truth = a.loc[a["arm"] == "control", keys]
    pd.testing.assert_frame_equal(
        data.sort_values(keys).reset_index(drop=True),
        truth.sort_values(keys).reset_index(drop=True),
    )


def test_contact_fails_sometimes_and_outcomes_follow_the_data(medium: SimulationResult) -> None:
    iv = medium.tables["interventions"]
    iv = iv[iv["assignment"] == "followed_up"]
    unreachable = iv["outcome"] == "unreachable"
    assert 0.08 < unreachable.mean() < 0.25
    assert (iv["contacted_at"].isna() == unreachable).all()
    assert (iv.loc[~unreachable, "contacted_at"] >= iv.loc[~unreachable, "created_at"]).all()
    # Retained once the horizon is in the data, pending only where it runs past the data.
    horizon_end = iv["created_at"].dt.normalize() + pd.DateOffset(months=6)
    extract = medium.config.extract_date
    assert (horizon_end[iv["outcome"] == "pending"] > extract).all()
    assert (horizon_end[iv["outcome"] == "retained"] <= extract).all()
    # Churned exactly when the account's churn event falls within the horizon.
    first = medium.truth["churn_events"].groupby("customer_id")["event_date"].min()
    event = iv["customer_id"].map(first)
    within = (event >= iv["created_at"].dt.normalize()) & (event < horizon_end)
    reached = iv[~unreachable]
    assert ((reached["outcome"] == "churned") == within[~unreachable]).all()


def test_effects_have_the_documented_signs(medium: SimulationResult) -> None:
    effects = _effects_by(medium)
    mean = effects.pivot_table(index="action_code", columns="driver", values="effect")
    # Each driver's own action helps it most; a tariff plan does little for a closing plant.
    assert mean.loc["tariff_plan", "price"] > 5 * mean.loc["tariff_plan", "decline"]
    assert (
        mean.loc["dispatch_reliability_plan", "service"]
        > 4 * mean.loc["dispatch_reliability_plan", ["decline", "price", "self_generation"]].max()
    )
    assert (
        mean.loc["capacity_change_visit", "decline"]
        > 3 * mean.loc["capacity_change_visit", ["price", "service", "self_generation"]].max()
    )
    assert (
        mean.loc["new_energy_support", "self_generation"]
        > 3 * mean.loc["new_energy_support", ["decline", "service"]].max()
    )
    # No action harms; once the exit is filed nothing helps; in W or L an action does most.
    assert effects["effect"].min() > -1e-12
    assert (effects.loc[effects["hidden_state"].isin(["E", "V1", "V2"]), "effect"] == 0).all()
    tariff = effects[(effects["action_code"] == "tariff_plan") & (effects["driver"] == "price")]
    tariff = tariff.groupby("hidden_state")["effect"].mean()
    assert tariff["W"] > 3 * tariff["H"] and tariff["L"] > 3 * tariff["H"]


def test_a_business_that_is_gone_is_a_lost_cause(medium: SimulationResult) -> None:
    """A declining account in L (a plant closing or exiting) gains next to nothing from any
    action, though it is among the highest risks; the same business shrinking (W) gains most
    from a capacity visit; an account leaving for price can still be won back by a tariff."""
    effects = _effects_by(medium)
    mean = effects.pivot_table(
        index="action_code", columns=["driver", "hidden_state"], values="effect"
    )
    closing = mean[("decline", "L")]
    assert closing.max() < 0.02, closing
    assert mean.loc["capacity_change_visit", ("decline", "W")] > 4 * closing.max()
    assert mean.loc["capacity_change_visit", ("decline", "W")] == mean[("decline", "W")].max()
    assert mean.loc["tariff_plan", ("price", "L")] > 0.15
    assert mean.loc["dispatch_reliability_plan", ("service", "L")] > 0.15
    # Among the top 3% by the oracle's risk, a good share are lost causes (best effect < 2
    # points): they are the declining accounts in L and the exits already filed.
    best = effects.groupby(["customer_id", "snapshot_date"]).agg(
        best=("effect", "max"), risk=("probability_without", "first")
    )
    top = best[best["risk"] >= best["risk"].quantile(0.97)]
    assert 0.25 < (top["best"] < 0.02).mean() < 0.8


def test_effects_vary_within_a_driver_by_what_the_data_show(medium: SimulationResult) -> None:
    """The same action on the same driver does more or less by traits in the data: an old
    relationship answers more, a dedicated manager helps an account that has none."""
    effects = _effects_by(medium)
    effects = effects[effects["hidden_state"] == "W"]
    customers = medium.tables["customers"].set_index("customer_id")
    start = pd.Timestamp(str(medium.config.start_month) + "-01")
    years = (start - effects["customer_id"].map(customers["open_date"])).dt.days / 365.25
    manager = effects["customer_id"].map(customers["account_manager_id"]).notna()
    share = effects["effect"] / effects["probability_without"]

    own = {
        "decline": "capacity_change_visit",
        "price": "tariff_plan",
        "service": "dispatch_reliability_plan",
        "self_generation": "new_energy_support",
    }
    mine = effects["action_code"] == effects["driver"].map(own)
    for driver in own:
        of = mine & (effects["driver"] == driver)
        assert share[of].std() > 0.08, driver  # not one number per driver
        assert share[of & (years >= 12)].mean() > 1.15 * share[of & (years < 3)].mean(), driver
    assigned = effects["action_code"] == "dedicated_manager"
    assert share[assigned & ~manager].mean() > 2 * share[assigned & manager].mean()


def test_randomised_follow_ups_save_what_the_truth_says(medium: SimulationResult) -> None:
    """The randomised edge's realised difference (control minus followed up) is the mean true
    effect of the actions given, counting the unreachable as no effect."""
    a = medium.truth["campaign_assignments"]
    edge = a[a["randomised"]]
    edge = edge[edge["snapshot_date"] + pd.DateOffset(months=6) <= medium.config.extract_date]
    first = medium.truth["churn_events"].groupby("customer_id")["event_date"].min()
    event = edge["customer_id"].map(first)
    churned = (event >= edge["snapshot_date"]) & (
        event < edge["snapshot_date"] + pd.DateOffset(months=6)
    )
    control, followed = churned[edge["arm"] == "control"], churned[edge["arm"] == "followed_up"]
    realised = control.mean() - followed.mean()
    se = np.sqrt(control.var() / len(control) + followed.var() / len(followed))

    given = edge[edge["arm"] == "followed_up"]
    effects = medium.truth["action_effects"].set_index(
        ["customer_id", "snapshot_date", "action_code"]
    )["effect"]
    keys = pd.MultiIndex.from_frame(given[["customer_id", "snapshot_date", "action_code"]])
    true = float(np.mean(effects.reindex(keys).to_numpy() * given["contacted"].to_numpy()))

    assert min(len(control), len(followed)) > 800
    assert true > 0.01
    assert abs(realised - true) < 3 * se, (realised, true, se)


def test_the_oracle_stays_calibrated_with_campaigns(medium: SimulationResult) -> None:
    oracle = medium.truth["churn_probability"]
    first = medium.truth["churn_events"].groupby("customer_id")["event_date"].min()
    event = oracle["customer_id"].map(first)
    end = oracle["snapshot_date"] + pd.DateOffset(months=6)
    known = end <= medium.config.extract_date
    churned = ((event >= oracle["snapshot_date"]) & (event < end))[known]
    realised, predicted = churned.mean(), oracle.loc[known, "probability"].mean()
    # The oracle is the risk with no new follow-up: the follow-ups only lower the realised.
    assert predicted - 0.1 * realised < realised < predicted * 1.02, (realised, predicted)


def test_simulate_takes_campaigns(tmp_path: Path) -> None:
    from retention.cli import app

    out = tmp_path / "data"
    args = ["simulate", "--out", str(out), "--accounts", "200", "--months", "18", "--campaigns"]
    done = CliRunner().invoke(app, args)

    assert done.exit_code == 0, done.output
    assert (out / "interventions.parquet").exists()
    for name in ("campaign_assignments", "action_effects"):
        assert (out / "_truth" / f"{name}.parquet").exists()


def test_a_tiny_portfolio_with_campaigns_passes_the_contract() -> None:
    # Given ten accounts over 13 months: one snapshot with follow-ups, maybe none at all
    config = SimulationConfig(accounts=10, months=13, seed=2, campaigns=POLICY)

    result = simulate(config)

    assert validate_tables(result.tables).ok
    assert set(result.tables["interventions"]["outcome"]) <= {"pending", "churned", "unreachable"}
    with pytest.raises(ValueError, match="from_month"):
        SimulationConfig(months=13, campaigns=CampaignPolicy(from_month=13))


def test_the_realised_chain_includes_the_effects(medium: SimulationResult) -> None:
    """Accounts reached at T churn as the truth's probability with their action says, not as
    the untreated oracle says (no second follow-up comes within the horizon)."""
    a = medium.truth["campaign_assignments"]
    end = a["snapshot_date"] + pd.DateOffset(months=6)
    reached = a[(a["arm"] == "followed_up") & a["contacted"] & (end <= medium.config.extract_date)]
    keys = pd.MultiIndex.from_frame(reached[["customer_id", "snapshot_date", "action_code"]])
    truth = (
        medium.truth["action_effects"]
        .set_index(["customer_id", "snapshot_date", "action_code"])
        .reindex(keys)
    )
    first = medium.truth["churn_events"].groupby("customer_id")["event_date"].min()
    event = reached["customer_id"].map(first)
    realised = ((event >= reached["snapshot_date"]) & (event < end[reached.index])).mean()
    with_action = truth["probability_with"]
    se = float(np.sqrt((with_action * (1 - with_action)).sum()) / len(with_action))

    assert abs(realised - with_action.mean()) < 3 * se, (realised, with_action.mean(), se)
    assert realised < truth["probability_without"].mean() - 5 * se


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,  # the same cases on every run
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    accounts=st.integers(10, 150),
    months=st.integers(13, 30),
    start_year=st.sampled_from([1971, 2000, 2097]),
    variant=st.sampled_from(list(VARIANTS)),
)
def test_every_campaign_dataset_passes_the_contract(
    seed: int, accounts: int, months: int, start_year: int, variant: str
) -> None:
    """Any seed, size, variant and a start at either end of the simulator's time range."""
    try:
        config = SimulationConfig(
            accounts=accounts,
            months=months,
            start=f"{start_year}-01",
            seed=seed,
            variant=variant,
            campaigns=POLICY,
        )
    except ValueError:  # too close to 2100 for these months: refused, nothing written
        return
    report = validate_tables(simulate(config).tables)
    assert report.ok, [p.to_dict() for p in report.problems]
    assert not report.warnings


def test_an_explore_share_randomises_below_the_edge_too() -> None:
    # Given the default policy and one that also randomises 5% of the accounts below the edge
    config = {**SMALL, "accounts": 1500, "seed": 4}
    edge_only = simulate(SimulationConfig(**config, campaigns=POLICY))  # type: ignore[arg-type]
    wider = simulate(
        SimulationConfig(**config, campaigns=CampaignPolicy(explore_share=0.05))  # type: ignore[arg-type]
    )

    # Then the randomised band reaches far lower risks, with the same probabilities
    a, b = edge_only.truth["campaign_assignments"], wider.truth["campaign_assignments"]
    a_edge, b_edge = a[a["randomised"]], b[b["randomised"]]
    assert len(b_edge) > 1.4 * len(a_edge)
    below = b_edge["untreated_probability"] < a_edge["untreated_probability"].quantile(0.25)
    assert below.mean() > 0.4
    assert set(b_edge["treat_probability"]) == {POLICY.edge_probability}
    assert abs((b_edge["arm"] == "control").mean() - (1 - POLICY.edge_probability)) < 0.04
    # and the dataset still passes the contract
    assert validate_tables(wider.tables).ok
    with pytest.raises(ValueError, match="explore_share"):
        CampaignPolicy(explore_share=1.0)
