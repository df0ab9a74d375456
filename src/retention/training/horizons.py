"""Time to churn: the probability of churn within 1 and 3 months beside the model's horizon.

The main model says whether an account churns within its horizon H (6 months by default).
Small timing models, fitted on the churned rows before the test only, say how soon: P(churn
within 3 | within H) and P(within 1 | within 3), from the label builder's churn date. Chained
onto the calibrated main probability, P(within 3) = P(within H) x P(within 3 | within H) and
P(within 1) = P(within 3) x P(within 1 | within 3): a shorter horizon can never get a higher
probability than a longer one, whatever the boosters say. Horizons that do not fit under H
are skipped (H = 3 keeps only the 1-month one), as are those with too few churned rows on
either side to learn from. A table without churn dates (a user's own table) gets none.
"""

from __future__ import annotations

import itertools
import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from retention.model.artifact import ChurnModel, TimingModel
from retention.training.config import LightGBMConfig
from retention.training.fit import training_set

log = logging.getLogger(__name__)
CHURN_DATE = "churn_date"  # the label builder's date of the churn event (features/labels.py)
TIME, LABEL = "snapshot_date", "churn"
SHORTER_HORIZONS = (3, 1)  # months, longest first: each is conditional on the one before
# A churned row of either kind fewer than this and the timing model is not fitted.
MIN_ROWS_PER_CLASS = 20
# Small and fixed: the churned rows are a few percent of all, and the question (soon or
# later) is simpler than the main one. Shallow trees with many rows per leaf do not memorise.
TIMING_ROUNDS = 150


def churn_within(frame: pd.DataFrame, months: int) -> np.ndarray:
    """1 where the row's churn came within `months` of its snapshot (churn date < T + months)."""
    churned = frame[LABEL].to_numpy(dtype=int) == 1
    if CHURN_DATE not in frame.columns:
        return churned.astype(int)
    end = pd.to_datetime(frame[TIME]) + pd.DateOffset(months=months)
    soon = (pd.to_datetime(frame[CHURN_DATE]) < end).to_numpy(dtype=bool)
    return (churned & soon).astype(int)


def timing_params(params: LightGBMConfig) -> dict[str, object]:
    """LightGBM parameters of a timing model: the config's seed and threads, small trees."""
    return {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 7,
        "min_child_samples": 40,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 5.0,
        "seed": params.seed,
        "deterministic": True,
        "num_threads": params.num_threads,
        "verbosity": -1,
    }


def fit_timing_models(
    frame: pd.DataFrame,
    matrix: np.ndarray,
    features: list[str],
    categorical: list[str],
    horizon_months: int,
    params: LightGBMConfig,
) -> list[TimingModel]:
    """Timing models for the horizons shorter than the model's, longest first, fitted on the
    churned rows of `frame` (the rows before the test; `matrix` is their feature matrix)."""
    if CHURN_DATE not in frame.columns:
        return []
    given, fitted = horizon_months, []
    for months in (m for m in SHORTER_HORIZONS if m < horizon_months):
        pool = churn_within(frame, given) == 1
        target = churn_within(frame[pool], months)
        counts = np.bincount(target, minlength=2)
        if counts.min() < MIN_ROWS_PER_CLASS:
            log.warning(
                "no %d-month timing model: %d churned rows within %d months, %d later "
                "(at least %d of each are needed)",
                months, counts[1], months, counts[0], MIN_ROWS_PER_CLASS,
            )  # fmt: skip
            continue
        booster = lgb.train(
            timing_params(params),
            training_set(matrix[pool], target, features, categorical),
            num_boost_round=TIMING_ROUNDS,
        )
        fitted.append(TimingModel(months=months, given_months=given, booster=booster))
        given = months
    return fitted


def horizon_metrics(
    model: ChurnModel, matrix: np.ndarray, frame: pd.DataFrame, probability: np.ndarray
) -> dict[int, dict[str, float]]:
    """Months -> ROC AUC, PR AUC, churn rate and mean probability on the test rows, each
    horizon's probability against the churn that came within it; for a shorter horizon also
    the share of rows whose probability is at most the next longer one's (1.0 by design)."""
    chained = model.horizon_probabilities(matrix, probability)
    months = sorted(chained)
    out: dict[int, dict[str, float]] = {}
    for shorter, longer in zip(months, [*months[1:], None], strict=True):
        label = churn_within(frame, shorter)
        p = chained[shorter]
        figures = {"churn_rate": float(label.mean()), "mean_probability": float(p.mean())}
        if 0 < label.sum() < len(label):
            figures["roc_auc"] = float(roc_auc_score(label, p))
            figures["pr_auc"] = float(average_precision_score(label, p))
        if longer is not None:
            figures["monotone_share"] = float(np.mean(p <= chained[longer]))
        out[shorter] = figures
    return out


def never_decreasing(chained: dict[int, np.ndarray]) -> np.ndarray:
    """Per row: every horizon's probability is at most the next longer one's."""
    ordered = [chained[m] for m in sorted(chained)]
    ok = np.ones(len(ordered[0]), dtype=bool)
    for shorter, longer in itertools.pairwise(ordered):
        ok &= shorter <= longer
    return ok
