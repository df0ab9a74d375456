"""Uplift metrics: a ranking that finds the accounts an action saves scores above random, one
that finds them last below, and the true-effect area agrees."""

from __future__ import annotations

import numpy as np

from retention.training import uplift


def _experiment(seed: int = 0, n: int = 4000) -> tuple[np.ndarray, ...]:
    """A randomised experiment where the action halves the churn of the riskier half only."""
    rng = np.random.default_rng(seed)
    risky = rng.random(n) < 0.5
    treated = (rng.random(n) < 0.5).astype(float)
    base = np.where(risky, 0.4, 0.05)
    effect = np.where(risky, 0.2, 0.0)
    churned = (rng.random(n) < base - treated * effect).astype(float)
    return risky.astype(float), churned, treated, np.full(n, 2.0), effect


def test_a_ranking_that_finds_the_saved_accounts_beats_random() -> None:
    # Given a randomised experiment with a known effect on half the accounts
    score, churned, treated, weight, effect = _experiment()
    noise = np.random.default_rng(1).random(len(score))

    # When ranked right, at random and backwards
    right = uplift.qini_coefficient(score + noise * 0.01, churned, treated, weight)
    random = uplift.qini_coefficient(noise, churned, treated, weight)
    backwards = uplift.qini_coefficient(-score + noise * 0.01, churned, treated, weight)

    # Then right > random (about 0) > backwards, and the AUUC agrees
    assert right > 0.01 > abs(random)
    assert backwards < -0.01
    assert uplift.auuc(score + noise * 0.01, churned, treated, weight) > 0.01
    assert uplift.true_qini(score, effect) > 0.02 > abs(uplift.true_qini(noise, effect))


def test_weights_stand_for_the_assignments_not_drawn() -> None:
    # Given the same experiment where only a fifth of the treated are kept, weighted 5x
    score, churned, treated, _, _ = _experiment(seed=2, n=20000)
    keep = (treated == 0) | (np.random.default_rng(3).random(len(score)) < 0.2)
    weight = np.where(treated == 1, 5.0, 1.0)

    # When measured with and without the weights, then the weighted Qini is the full one's
    full = uplift.qini_coefficient(score, churned, treated, np.ones(len(score)))
    weighted = uplift.qini_coefficient(score[keep], churned[keep], treated[keep], weight[keep])
    assert abs(weighted - full) < 0.25 * full
