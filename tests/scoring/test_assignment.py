"""The randomised window at the capacity edge (scoring/assignment.py): shares, propensities,
the seed, and nobody at the top withheld."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from retention.records.batch import ACTION_COLUMNS, ScoredList
from retention.scoring.assignment import AssignmentPolicy, assign, batch_seed
from retention.scoring.playbook import load_playbook

CAPACITY = 200
SNAPSHOT = pd.Timestamp("2026-12-01")


def _scored(n: int = 2000, seed: int = 0) -> ScoredList:
    """n accounts ranked by money at risk, probabilities falling with the rank (a few high
    ones further down), each with the playbook's usual [dedicated_manager, a reason's action]
    or one action only."""
    rng = np.random.default_rng(seed)
    probability = np.clip(0.6 * np.exp(-np.arange(n) / 300) + rng.normal(0, 0.05, n), 0.001, 0.99)
    probability[[150, 180, 210]] = 0.8  # likely to leave, yet ranked at the edge
    accounts = pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "probability": probability,
            "money_at_risk_cny": np.linspace(1e6, 1e3, n),
            "band": np.where(np.arange(n) < CAPACITY, "high", "medium"),
        }
    )
    records = []
    for i, customer in enumerate(accounts["customer_id"]):
        codes = ["dedicated_manager", "tariff_plan"] if i % 3 else ["dispatch_reliability_plan"]
        for position, code in enumerate(codes, start=1):
            records.append({"customer_id": customer, "position": position, "code": code})
    actions = pd.DataFrame.from_records(records).reindex(columns=ACTION_COLUMNS)
    empty = pd.DataFrame()
    return ScoredList(SNAPSHOT, accounts, empty, actions, empty)


def test_the_window_straddles_the_cut_and_never_reaches_the_top() -> None:
    policy = AssignmentPolicy(edge_share=0.25)
    out = assign(_scored(), CAPACITY, policy)
    rows = out.assignments
    # the window: 50 ranks either side of the cut, less the accounts protected by their risk
    assert rows["rank"].min() > CAPACITY - 50 and rows["rank"].max() <= CAPACITY + 50
    assert len(rows) == 100 - 3
    # a held-out account at high risk is impossible: never in the top, never that likely
    held = rows[rows["assignment"] == "held_out"]
    probability = out.accounts.set_index("customer_id")["probability"]
    assert (held["rank"] > CAPACITY - 50).all()
    assert (probability[held["customer_id"]] < policy.protect_probability).all()
    # and every account of the top keeps all its actions
    top = out.accounts.loc[out.accounts["rank"] <= CAPACITY - 50, "customer_id"]
    before = _scored().actions
    assert out.actions[out.actions["customer_id"].isin(top)].equals(
        before[before["customer_id"].isin(top)].reset_index(drop=True)
    )


@pytest.mark.parametrize("edge_share", [0.6, 1.0, 0.0])
def test_a_window_reaching_the_top_half_is_refused(edge_share: float) -> None:
    with pytest.raises(ValidationError, match="edge_share"):
        AssignmentPolicy(edge_share=edge_share)


def test_shares_and_propensities_follow_the_policy() -> None:
    policy = AssignmentPolicy(edge_share=0.5, follow_up_probability=0.3, other_action_share=0.4)
    rows = pd.concat([assign(_scored(seed=s), CAPACITY, policy).assignments for s in range(8)])
    followed = rows["assignment"] == "followed_up"
    # about 30% followed up (8 x ~197 draws: within 4 standard errors)
    share = followed.mean()
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / len(rows))
    # P(held out) = 0.7; followed up: 0.3 x P(action), which is 1 for a single action,
    # 0.6 for the reason's action and 0.4 for the other one of two
    assert np.allclose(rows.loc[~followed, "assignment_probability"], 0.7)
    single = rows["action_code"] == "dispatch_reliability_plan"
    assert np.allclose(rows.loc[followed & single, "assignment_probability"], 0.3)
    pointed = followed & (rows["action_code"] == "tariff_plan")
    other = followed & (rows["action_code"] == "dedicated_manager")
    assert np.allclose(rows.loc[pointed, "assignment_probability"], 0.3 * 0.6)
    assert np.allclose(rows.loc[other, "assignment_probability"], 0.3 * 0.4)
    assert abs(other.sum() / (pointed.sum() + other.sum()) - 0.4) < 0.1
    # a held-out account keeps the action its draw would have given it
    assert set(rows.loc[~followed, "action_code"]) <= set(rows.loc[followed, "action_code"])
    assert ((rows["assignment_probability"] > 0) & (rows["assignment_probability"] <= 1)).all()


def test_held_out_accounts_have_no_follow_up_due_and_followed_up_ones_one_action() -> None:
    out = assign(_scored(), CAPACITY, AssignmentPolicy())
    rows = out.assignments.set_index("customer_id")
    held = rows.index[rows["assignment"] == "held_out"]
    assert len(held) > 0 and not out.actions["customer_id"].isin(held).any()
    followed = rows[rows["assignment"] == "followed_up"]
    mine = out.actions[out.actions["customer_id"].isin(followed.index)]
    assert mine.groupby("customer_id").size().eq(1).all()
    assert (mine.set_index("customer_id")["code"] == followed["action_code"]).all()
    assert (mine["position"] == 1).all()
    # without another-action share, the action is the one the account's reasons point to
    held_actions = rows.loc[held, "action_code"]
    assert set(held_actions) == {"tariff_plan", "dispatch_reliability_plan"}


def test_the_draw_is_seeded_per_batch_and_replays() -> None:
    policy = AssignmentPolicy()
    first = assign(_scored(), CAPACITY, policy).assignments
    again = assign(_scored(), CAPACITY, policy).assignments
    pd.testing.assert_frame_equal(first, again)
    assert (first["seed"] == batch_seed(policy, SNAPSHOT)).all()
    # an audit replays the draws from the stored seed, in rank order
    replay = np.random.default_rng(int(first["seed"].iloc[0])).random(len(first))
    np.testing.assert_array_equal(first["draw"].to_numpy(), replay)
    assert ((first["draw"] < 0.5) == (first["assignment"] == "followed_up")).all()
    later = assign(
        ScoredList(SNAPSHOT + pd.DateOffset(months=1), *_parts()), CAPACITY, policy
    ).assignments
    assert not later["assignment"].equals(first["assignment"])


def _parts() -> tuple[pd.DataFrame, ...]:
    s = _scored()
    return s.accounts, s.reasons, s.actions, s.leaving


def test_the_policy_off_leaves_the_batch_as_scored() -> None:
    scored = _scored()
    assert assign(scored, CAPACITY, AssignmentPolicy(enabled=False)) is scored
    assert assign(scored, CAPACITY, None).assignments.empty


def test_the_packaged_playbook_randomises_at_the_edge_by_default() -> None:
    policy = load_playbook().assignment
    assert policy.enabled and policy.edge_share <= 0.5 and 0 < policy.follow_up_probability < 1
