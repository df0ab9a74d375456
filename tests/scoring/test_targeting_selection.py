"""The list mode's selection (scoring/targeting.py, issue 17 item 4): each account's best action
by money saved (effect x revenue), the capacity spent on the accounts saving most, nothing on
lost causes, and only the actions an account is eligible for with enough evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention.model.effects_artifact import (
    MODELLED,
    ActionEvidence,
    Arm,
    EffectModels,
    RelativeEffect,
)
from retention.records.batch import EFFECT_COLUMNS
from retention.scoring import targeting

ACCOUNTS = ["small", "large", "lost"]
CODES = ["capacity_change_visit", "tariff_plan"]
# Three accounts x two actions: churn averted (probability points as shares).
EFFECT = np.array(
    [
        [0.10, 0.02],  # a small account where the first action works well
        [0.01, 0.05],  # a large account where the second works a little
        [-0.02, 0.00],  # an account no action helps
    ]
)
REVENUE = np.array([1e6, 1e7, 5e7])


def _effects(effect: np.ndarray = EFFECT) -> pd.DataFrame:
    """The long frame scoring stores (EFFECT_COLUMNS), in the playbook's order of actions."""
    return pd.DataFrame(
        {
            "customer_id": np.repeat(ACCOUNTS, len(CODES)),
            "code": np.tile(CODES, len(ACCOUNTS)),
            "churn_averted": effect.ravel(),
            "money_saved_cny": (effect * REVENUE[:, None]).ravel(),
        }
    )[EFFECT_COLUMNS]


def test_each_account_gets_the_action_that_saves_most_money() -> None:
    # When the best actions are taken, then the money decides, not the effect alone
    best = targeting.best_actions(_effects())
    assert best["code"].reindex(ACCOUNTS).tolist() == [CODES[0], CODES[1], CODES[1]]
    assert best["money_saved_cny"].reindex(ACCOUNTS).tolist() == pytest.approx([1e5, 5e5, 0.0])


def test_a_tie_goes_to_the_first_action_in_the_playbooks_order() -> None:
    effect = EFFECT.copy()
    effect[0] = [0.03, 0.03]
    assert targeting.best_actions(_effects(effect)).loc["small", "code"] == CODES[0]


def test_the_capacity_goes_to_the_accounts_saving_most_and_none_to_lost_causes() -> None:
    best = targeting.best_actions(_effects())

    # When two places are given, then the large account comes first, the small second
    assert targeting.select(best, 2) == ["large", "small"]
    # and with room for all, the account no action helps is still left out; none: nobody
    assert targeting.select(best, 10) == ["large", "small"]
    assert targeting.select(best, 0) == []
    assert targeting.best_actions(_effects().iloc[:0]).empty


def _models(enough_second: bool = False) -> EffectModels:
    """Relative reductions of two actions: capacity_change_visit 20% on the playbook's action
    (5% off it, uncertain), tariff_plan 30% on it and 40% off it (sure); tariff_plan with
    too few follow-ups unless `enough_second`."""
    evidence = [
        ActionEvidence(CODES[0], 250, 300, MODELLED),
        ActionEvidence(CODES[1], 250 if enough_second else 120, 300, MODELLED),
    ]
    arms = {CODES[0]: Arm(-0.2), CODES[1]: Arm(-1.0)}
    relative = {
        CODES[0]: RelativeEffect(on=0.2, on_se=0.1, off=0.05, off_se=0.5),
        CODES[1]: RelativeEffect(on=0.3, on_se=0.1, off=0.4, off_se=0.1),
    }
    return EffectModels(["x"], {}, None, Arm(0.0), arms, evidence, 200, 200, relative=relative)


def _accounts() -> pd.DataFrame:
    """The three accounts as scoring lists them: churn probability and revenue."""
    return pd.DataFrame(
        {"customer_id": ACCOUNTS, "probability": [0.5, 0.2, 0.4], "expected_revenue_cny": REVENUE}
    )


def test_only_eligible_actions_with_enough_evidence_are_estimated_and_chosen() -> None:
    # Given accounts eligible for both actions, for the one without enough evidence only,
    # and for none; the playbook pointing each to the visit
    eligible = {"small": CODES, "large": [CODES[1]], "lost": []}
    first = dict.fromkeys(ACCOUNTS, CODES[0])

    # When the expected effects are computed
    effects = targeting.expected_effects(_models(), _accounts(), first, eligible)

    # Then only the eligible action with enough evidence is there: the churn probability x
    # its reduction on the playbook's action, money = averted x revenue
    assert effects[["customer_id", "code"]].values.tolist() == [["small", CODES[0]]]
    assert effects["churn_averted"].tolist() == pytest.approx([0.5 * 0.2])
    assert effects["money_saved_cny"].tolist() == pytest.approx([0.5 * 0.2 * 1e6])
    # and only that account can be chosen
    assert targeting.select(targeting.best_actions(effects), 3) == ["small"]


def test_an_action_that_does_not_reduce_churn_is_never_the_best_action() -> None:
    # Given the visit's randomised follow-ups churning more than the controls (a negative
    # reduction on the playbook's action and off it), the tariff plan's a small positive one
    models = _models(enough_second=True)
    models.relative[CODES[0]] = RelativeEffect(on=-0.3, on_se=0.1, off=-0.1, off_se=0.2)
    models.relative[CODES[1]] = RelativeEffect(on=0.05, on_se=0.1, off=0.02, off_se=0.01)
    eligible = dict.fromkeys(ACCOUNTS, CODES)
    first = dict.fromkeys(ACCOUNTS, CODES[0])

    # When every account's expected effects are computed
    effects = targeting.expected_effects(models, _accounts(), first, eligible)

    # Then the visit is not estimated for anyone, and the tariff plan is every best action
    assert targeting.qualifying(models) == [CODES[1]]
    assert set(effects["code"]) == {CODES[1]} and (effects["churn_averted"] > 0).all()
    best = targeting.best_actions(effects)
    assert best["code"].reindex(ACCOUNTS).tolist() == [CODES[1]] * 3
    assert targeting.evidence_reason(models, "7") is None


def test_with_no_action_reducing_churn_the_list_stays_ranked_by_money_at_risk() -> None:
    # Given both actions with enough evidence, neither reducing churn as far as the randomised
    # outcomes tell (the tariff plan's gain off the playbook within its uncertainty)
    models = _models(enough_second=True)
    models.relative[CODES[0]] = RelativeEffect(on=-0.3, on_se=0.1, off=-0.1, off_se=0.2)
    models.relative[CODES[1]] = RelativeEffect(on=0.0, on_se=0.1, off=0.1, off_se=0.5)

    # Then no action qualifies, nothing is estimated, and the reason says why, Chinese first
    assert targeting.qualifying(models) == []
    effects = targeting.expected_effects(
        models, _accounts(), dict.fromkeys(ACCOUNTS, CODES[1]), dict.fromkeys(ACCOUNTS, CODES)
    )
    assert effects.empty
    reason = targeting.evidence_reason(models, "7")
    assert reason is not None and reason.startswith("证据不足")
    assert "not enough evidence" in reason and "positive relative reduction" in reason
    # and so does an older artifact without relative reductions
    models.relative.clear()
    assert targeting.qualifying(models) == []
    assert str(targeting.evidence_reason(models, "7")).startswith("证据不足")


def test_another_action_than_the_playbooks_must_gain_beyond_its_uncertainty() -> None:
    # Given two accounts at churn probability 0.5, the playbook pointing the first to the
    # visit and the second to the tariff plan, both actions with enough evidence
    models, first = _models(enough_second=True), np.array(CODES, dtype=object)

    # When each action's churn averted is estimated
    averted = targeting.risk_scaled_averted(models, np.array([0.5, 0.5]), first, CODES)

    # Then each account's playbook action counts its reduction on it; the other action its
    # reduction off it less one standard error (log ratio), not estimated (NaN) where that is
    # not positive: the visit off the playbook, 1 - 0.95 x e^0.5 < 0
    off = 1 - 0.6 * np.exp(0.1)
    expected = [[0.5 * 0.2, 0.5 * off], [np.nan, 0.15]]
    np.testing.assert_allclose(averted, expected)
    # so the tariff plan, sure to do more than the visit even off the playbook, is the first
    # account's best action, and the uncertain visit is never the second's
    assert averted[0, 1] > averted[0, 0] and np.isnan(averted[1, 0]) and averted[1, 1] > 0
    # and an action without relative reductions (an older artifact) is not estimated
    models.relative.pop(CODES[1])
    assert np.isnan(targeting.risk_scaled_averted(models, np.array([0.5]), first[:1], CODES)[0, 1])


def test_the_list_puts_the_chosen_first_then_the_rest_by_money_saved() -> None:
    # Given four accounts, one with no estimate, two of the rest chosen
    accounts = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "money_saved_cny": [10.0, np.nan, 30.0, 20.0],
            "money_at_risk_cny": [1.0, 9.0, 2.0, 3.0],
        }
    )
    ranked = targeting.rank_by_money_saved(accounts, ["d", "a"])
    # Then the chosen come first by money saved, the rest after, the one without last
    assert ranked["customer_id"].tolist() == ["d", "a", "c", "b"]


def test_the_action_an_accounts_reasons_point_to_is_its_first_not_the_general_one() -> None:
    # Given the shipped playbook: on the visit list every account gets a dedicated manager
    # first (a general action), and a price reason points to the tariff plan
    from retention.scoring.playbook import load_playbook

    facts = {"market_mode": "grid_agency", "self_generation": False, "slow_orders": False}
    first = targeting.first_actions(
        load_playbook(),
        {"priced": ["price_bill"], "plain": ["profile"]},
        {"priced": {**facts, "has_manager": True}, "plain": {**facts, "has_manager": True}},
    )
    # Then the priced account's action is the tariff plan (what the capacity edge's follow-up
    # is given), the other's the dedicated manager
    assert first == {"priced": "tariff_plan", "plain": "dedicated_manager"}
