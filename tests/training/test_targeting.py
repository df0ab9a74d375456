"""Targeting (issue 17, item 4): each account's best action by money saved (effect x revenue),
the capacity spent on the accounts saving most; today's list by money at risk for comparison."""

from __future__ import annotations

import numpy as np
import pytest

from retention.training import targeting

# Three accounts x two actions: churn averted (probability points as shares).
EFFECT = np.array(
    [
        [0.10, 0.02],  # a small account where the first action works well
        [0.01, 0.05],  # a large account where the second works a little
        [-0.02, 0.00],  # an account no action helps
    ]
)
REVENUE = np.array([1e6, 1e7, 5e7])


def test_each_account_gets_the_action_that_saves_most_money() -> None:
    # When the best actions are computed, then the money decides, not the effect alone
    action, money = targeting.best_actions(EFFECT, REVENUE)
    assert action.tolist() == [0, 1, 1]
    assert money == pytest.approx([1e5, 5e5, 0.0])


def test_the_capacity_goes_to_the_accounts_saving_most_and_none_to_lost_causes() -> None:
    # When two places are given, then the large account comes first, the small second
    chosen = targeting.choose_by_effect(EFFECT, REVENUE, capacity=2)
    assert chosen.account.tolist() == [1, 0] and chosen.action.tolist() == [1, 0]
    assert chosen.money == pytest.approx([5e5, 1e5])

    # and with room for all, the account no action helps is still left out
    assert targeting.choose_by_effect(EFFECT, REVENUE, capacity=10).account.tolist() == [1, 0]


def test_ineligible_and_unknown_actions_are_never_chosen() -> None:
    # Given the large account's second action not allowed and the first's effect unknown
    effect = EFFECT.copy()
    effect[1, 0] = np.nan
    eligible = np.array([[True, True], [True, False], [True, True]])

    # When the best actions are computed, then that account has none and is not chosen
    action, money = targeting.best_actions(effect, REVENUE, eligible)
    assert action[1] == -1 and money[1] == 0.0
    assert targeting.choose_by_effect(effect, REVENUE, 3, eligible).account.tolist() == [0]


def test_money_at_risk_ranks_by_probability_times_revenue_with_the_given_action() -> None:
    # Given the playbook's action of each account (the third none)
    chosen = targeting.choose_by_risk(
        np.array([0.5, 0.1, 0.9]), REVENUE, np.array([1, 0, -1]), capacity=2
    )

    # Then the list is by money at risk, the account without an action left out
    assert chosen.account.tolist() == [1, 0] and chosen.action.tolist() == [0, 1]
    assert chosen.money == pytest.approx([1e6, 5e5])

    # and the money a list saves is counted by the effects of its own actions
    assert targeting.money_saved(chosen, EFFECT, REVENUE) == pytest.approx(0.01e7 + 0.02e6)


def test_bad_shapes_and_capacity_are_refused() -> None:
    with pytest.raises(ValueError, match="effect must be"):
        targeting.best_actions(EFFECT, REVENUE[:2])
    with pytest.raises(ValueError, match="eligible"):
        targeting.best_actions(EFFECT, REVENUE, np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="capacity"):
        targeting.top_by(np.ones(3), np.zeros(3, dtype=int), -1)
    assert targeting.choose_by_effect(EFFECT, REVENUE, 0).account.size == 0
