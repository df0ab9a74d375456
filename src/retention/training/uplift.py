"""Uplift metrics of a ranking of accounts by expected churn averted: the Qini coefficient and
the area under the uplift curve (AUUC), both from randomised assignments weighted by their
inverse propensity, and the same areas from known true effects (the simulator's).

Churn averted is the outcome: at the top k of the ranking, the weighted churn of the controls
scaled to the treated minus the churn of the treated (Qini curve), or the difference of their
churn rates times k (uplift curve). A random ranking gives the straight line from 0 to the
whole group's value; each coefficient is the mean distance of the curve above that line, per
account of the group, so 0 is no better than random and the figures compare across groups.
"""

from __future__ import annotations

import numpy as np


def _ranked(score: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """Columns ordered by the score, highest first (ties in their given order)."""
    order = np.argsort(-score, kind="stable")
    return [np.asarray(c, dtype=float)[order] for c in columns]


def qini_curve(
    score: np.ndarray, churned: np.ndarray, treated: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Churn averted among the top k = 1..n (weighted counts): the controls' churn scaled to
    the treated at the top k, minus the treated's churn."""
    y, t, w = _ranked(score, churned, treated, weight)
    wt, wc = np.cumsum(w * t), np.cumsum(w * (1 - t))
    yt, yc = np.cumsum(w * t * y), np.cumsum(w * (1 - t) * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(wc > 0, yc * wt / wc, 0.0) - yt


def uplift_curve(
    score: np.ndarray, churned: np.ndarray, treated: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """The difference of weighted churn rates (controls minus treated) at the top k, times the
    weighted accounts of the top k."""
    y, t, w = _ranked(score, churned, treated, weight)
    wt, wc = np.cumsum(w * t), np.cumsum(w * (1 - t))
    yt, yc = np.cumsum(w * t * y), np.cumsum(w * (1 - t) * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where((wt > 0) & (wc > 0), yc / wc - yt / wt, 0.0)
    return rates * np.cumsum(w)


def _above_random(curve: np.ndarray, weight: np.ndarray) -> float:
    """Mean height of the curve above the straight line to its end, per account: the x axis
    and the scale in weighted accounts, so a weighted sample measures what the full would."""
    total = float(np.sum(weight))
    if len(curve) == 0 or total <= 0:
        return float("nan")
    share = np.cumsum(weight) / total
    return float(np.sum((curve - curve[-1] * share) * weight) / total**2)


def qini_coefficient(
    score: np.ndarray, churned: np.ndarray, treated: np.ndarray, weight: np.ndarray
) -> float:
    """The Qini curve's mean distance above random, per account (0: no better than random)."""
    (ranked,) = _ranked(score, weight)
    return _above_random(qini_curve(score, churned, treated, weight), ranked)


def auuc(score: np.ndarray, churned: np.ndarray, treated: np.ndarray, weight: np.ndarray) -> float:
    """The uplift curve's mean distance above random, per account (0: no better than random)."""
    (ranked,) = _ranked(score, weight)
    return _above_random(uplift_curve(score, churned, treated, weight), ranked)


def true_qini(score: np.ndarray, effect: np.ndarray) -> float:
    """The same area when each account's true effect is known: the true churn averted by
    giving the action to the top k, above random, per account."""
    (ranked,) = _ranked(score, effect)
    return _above_random(np.cumsum(ranked), np.ones(len(ranked)))
