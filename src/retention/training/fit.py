"""Fitting the booster: LightGBM with early stopping; the model it makes is in retention.model."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from retention.training.config import LightGBMConfig


def fit_booster(
    train: np.ndarray,
    train_label: np.ndarray,
    valid: np.ndarray,
    valid_label: np.ndarray,
    features: list[str],
    categorical: list[str],
    monotone: list[int],
    params: LightGBMConfig,
) -> lgb.Booster:
    """LightGBM with early stopping on the validation snapshots; no resampling or weights, so
    the raw probabilities stay close to the true rate and calibration has little to fix."""
    lgb_params = {
        "objective": "binary",
        "metric": "binary_logloss",  # early stopping watches the probabilities, nothing else
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": params.bagging_freq,
        "lambda_l2": params.lambda_l2,
        "seed": params.seed,
        "deterministic": True,
        "num_threads": params.num_threads,
        "verbosity": -1,
        "monotone_constraints": monotone,
        "monotone_constraints_method": "advanced",
        "first_metric_only": True,
    }
    categorical_index = [features.index(c) for c in categorical]
    train_set = lgb.Dataset(
        train,
        train_label,
        feature_name=features,
        categorical_feature=categorical_index,
        free_raw_data=False,
    )
    valid_set = lgb.Dataset(valid, valid_label, reference=train_set)
    return lgb.train(
        lgb_params,
        train_set,
        num_boost_round=params.max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False)
        ],
    )
