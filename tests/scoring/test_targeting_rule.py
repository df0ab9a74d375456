"""Scoring with an effects champion (scoring/targeting.py, issue 17 item 4): the list mode
ranks by the churn probability x each action's relative reduction from the randomised
outcomes, the rule benchmarks/targeting.py measures; an action that does not reduce churn is
never the best one, and with none that does the list is today's, and says why."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from retention.model.effects_artifact import (
    MODELLED,
    ActionEvidence,
    Arm,
    EffectModels,
    RelativeEffect,
)
from retention.records.batch import ScoredList
from retention.scoring import targeting

HELPS, HURTS = "dedicated_manager", "tariff_plan"


def _models(helps: float, hurts: float) -> EffectModels:
    """Two actions with enough randomised outcomes, their reductions on the playbook's action
    `helps` and `hurts` (off it: none)."""
    evidence = [ActionEvidence(a, 300, 300, MODELLED) for a in (HELPS, HURTS)]
    relative = {
        HELPS: RelativeEffect(on=helps, on_se=0.1, off=0.0, off_se=0.3),
        HURTS: RelativeEffect(on=hurts, on_se=0.1, off=-0.2, off_se=0.3),
    }
    arms = {HELPS: Arm(), HURTS: Arm()}
    return EffectModels(["x"], {}, None, Arm(), arms, evidence, 200, 200, relative=relative)


def test_the_list_ranks_by_risk_times_the_reduction_and_never_picks_an_action_that_hurts(
    score_portfolio: Callable[..., ScoredList],
) -> None:
    # Given an effects champion: the dedicated manager reduces churn by 30% where the
    # playbook points to it, the tariff plan raises it
    scored = score_portfolio(effects=("7", _models(0.3, -0.4)), list_mode="auto")

    # Then the list is ranked by money saved and only the dedicated manager is estimated,
    # at the account's churn probability x 0.3, and only where the playbook points to it
    assert scored.list_mode == targeting.MONEY_SAVED
    effects = scored.effects
    assert not effects.empty and set(effects["code"]) == {HELPS}
    probability = scored.accounts.set_index("customer_id")["probability"]
    np.testing.assert_allclose(
        effects["churn_averted"], 0.3 * probability.reindex(effects["customer_id"]).to_numpy()
    )
    best = scored.accounts["best_action"].dropna()
    assert set(best) == {HELPS}
    # and the visit list is the accounts with most money saved by it
    chosen = scored.accounts.head(40)
    assert chosen["money_saved_cny"].notna().all()
    saved = chosen["money_saved_cny"].to_numpy()
    assert (np.diff(saved) <= 1e-9).all()


def test_with_no_action_reducing_churn_the_list_and_actions_are_todays(
    score_portfolio: Callable[..., ScoredList], scored: ScoredList
) -> None:
    # Given an effects champion whose actions, with enough randomised outcomes, reduce
    # nothing (no reduction on the playbook's action, a negative one off it)
    got = score_portfolio(effects=("7", _models(0.0, -0.4)), list_mode="auto")

    # Then the list is ranked by money at risk as without a champion, with the same actions
    assert got.list_mode == targeting.MONEY_AT_RISK and got.effects.empty
    assert got.effects_version is None
    pd.testing.assert_frame_equal(got.accounts, scored.accounts)
    pd.testing.assert_frame_equal(got.actions, scored.actions)
    # and the batch says why, Chinese first
    reason = got.list_reason
    assert reason.startswith("证据不足") and "positive relative reduction" in reason
