"""The evidence of the randomised outcomes (issue 17, item 5): each action's effect with its
interval, overall and by segment, checked against the simulator's true effects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retention.data.contract import ACTION_CODES
from retention.data.dataset import Dataset
from retention.data.simulator import SimulationResult
from retention.features.catalogue import load_catalogue
from retention.model import registry
from retention.records.evidence import EffectEvidence
from retention.store.database import open_store
from retention.store.evidence import latest_evidence
from retention.training import effects, evidence

NOW = pd.Timestamp("2026-12-03 08:00")


@pytest.fixture(scope="module")
def measured(campaign_rows: pd.DataFrame) -> tuple[EffectEvidence, pd.DataFrame]:
    return evidence.measure_evidence(
        campaign_rows, load_catalogue(), list(ACTION_CODES), "campaigns", 6, NOW
    )


def test_effects_are_within_their_interval_of_the_truth_in_nine_segments_of_ten(
    measured: tuple[EffectEvidence, pd.DataFrame], campaign_simulation: SimulationResult
) -> None:
    # Given the evidence of the small campaign portfolio's randomised outcomes
    found, segmented = measured
    cells = [c for c in found.cells if c.status == "estimated"]
    assert {c.dimension for c in cells} == {"overall", "industry", "driver", "band"}
    assert len(cells) >= 15

    # When each cell is compared with the true effect of assigning the action over the same
    # rows (the simulator's effect if contacted, times the chance the contact is made)
    policy = campaign_simulation.config.campaigns
    assert policy is not None
    manager = segmented["has_dedicated_manager"].astype(float).to_numpy() > 0
    reach = 1.0 - np.minimum(policy.unreachable * np.where(manager, 1.0, 1.5), 0.9)
    truth = effects.as_truth(campaign_simulation.truth["action_effects"])
    true = evidence.true_cell_effects(segmented, cells, truth, reach)

    # Then the truth lies within the 95% interval in at least 90% of them
    assert np.isfinite(true).all()
    inside = [
        c.ci_low is not None and c.ci_high is not None and c.ci_low <= t <= c.ci_high
        for c, t in zip(cells, true, strict=True)
    ]
    missed = [(c, t) for c, t, i in zip(cells, true, inside, strict=True) if not i]
    assert np.mean(inside) >= 0.9, missed
    # and the intervals say something: the overall ones narrower than 25 points
    overall = [c for c in cells if c.dimension == "overall"]
    assert all(c.ci_high - c.ci_low < 0.25 for c in overall if c.ci_high and c.ci_low), overall


def test_followed_up_accounts_are_retained_more_than_the_controls(
    measured: tuple[EffectEvidence, pd.DataFrame],
) -> None:
    # Given the evidence, then the follow-ups' retention beats the controls', surely
    k = measured[0].comparison
    assert k is not None and k.followed_up + k.controls == measured[0].rows
    assert k.difference == pytest.approx(k.followed_up_retention - k.control_retention)
    assert 0 < k.ci_low < k.difference < k.ci_high


def test_segments_with_too_little_data_are_marked_without_figures(
    measured: tuple[EffectEvidence, pd.DataFrame],
) -> None:
    found = measured[0]
    thin = [c for c in found.cells if c.status == "not_enough_evidence"]
    assert thin and all(c.effect is None and c.ci_low is None for c in thin)
    assert all(min(c.treated, c.controls) < found.minimum_per_arm for c in thin)
    # an action never followed up at random has its overall line only
    never = [c for c in found.cells if c.action == "integrated_channel"]
    assert [c.dimension for c in never] == ["overall"] and never[0].treated == 0


def test_too_few_randomised_outcomes_say_why_and_estimate_nothing(
    campaign_rows: pd.DataFrame,
) -> None:
    # Given fewer randomised outcomes than the minimum
    few = campaign_rows.head(150)

    # When the evidence is measured
    found, _ = evidence.measure_evidence(few, load_catalogue(), ["tariff_plan"], "few", 6, NOW)

    # Then nothing is estimated, and the reason names the minimum in both languages
    assert not found.estimable and not found.cells and found.comparison is None
    assert found.reason_zh == "随机对照样本不足：需要至少 200 个，现有 150 个"
    assert found.reason_en == "too few randomised outcomes: at least 200 needed, 150 so far"


def test_a_weighted_rate_and_an_outcome_never_seen_still_have_a_variance() -> None:
    # Given two churned of four, weights 1, 1, 2, 4
    rate, adjusted, variance = evidence.weighted_rate(
        np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 1.0, 2.0, 4.0])
    )
    assert rate == pytest.approx(3 / 8)
    effective = 8**2 / 22
    assert adjusted == pytest.approx((3 / 8 * effective + 1) / (effective + 2))
    # Given no churn among 40 accounts, the interval still has a width
    rate, _, variance = evidence.weighted_rate(np.zeros(40), np.ones(40))
    assert rate == 0 and variance > 0.0001


def test_the_effects_job_stores_its_evidence(
    campaign_dataset: Dataset, tracking_uri: str, store_url: str, tmp_path: Path
) -> None:
    # Given the campaign dataset, an empty store and an MLflow store of its own: the effects
    # champion the job registers (100 + 100 is enough here) must not reach other tests' lists
    engine = open_store(store_url)
    assert latest_evidence(engine) is None
    config = effects.EffectsConfig(min_treated=100, min_controls=100, rounds=20, shift_rounds=5)
    own_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    # When the effects job runs with the store
    try:
        result = effects.train_effects(
            campaign_dataset, own_uri, config, source="campaigns", store=engine
        )
    finally:
        registry.configure(tracking_uri)  # MLflow's URI is process-wide

    # Then the store holds its evidence, whole: the run's time, dataset, horizon, cells
    stored = latest_evidence(engine)
    assert stored is not None and stored == result.evidence
    assert stored.estimable and stored.dataset == "campaigns" and stored.horizon_months == 6
    assert {c.action for c in stored.cells} == set(ACTION_CODES)
