"""Fitting the booster: LightGBM with early stopping, or a fixed number of rounds (the refit
on all rows and the calibration folds); the model it makes is in retention.model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np

from retention.training.config import LightGBMConfig


def booster_params(params: LightGBMConfig, monotone: list[int]) -> dict[str, Any]:
    """The configured LightGBM parameters; no resampling or weights, so the raw probabilities
    stay close to the true rate and calibration has little to fix."""
    return {
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
        "first_metric_only": True,
        # only when one is set: constraints of zeros still take LightGBM's constrained path,
        # whose trees differ (slightly) from the unconstrained ones of its plain defaults
        **(
            {"monotone_constraints": monotone, "monotone_constraints_method": "advanced"}
            if any(monotone)
            else {}
        ),
    }


def training_set(
    train: np.ndarray, train_label: np.ndarray, features: list[str], categorical: list[str]
) -> lgb.Dataset:
    """A LightGBM dataset of a feature matrix whose categorical columns hold category codes."""
    return lgb.Dataset(
        train,
        train_label,
        feature_name=features,
        categorical_feature=[features.index(c) for c in categorical],
        free_raw_data=False,
    )


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
    """LightGBM with early stopping on the validation snapshots (`kept_rounds` of it is the
    number of rounds the refit uses); with `early_stopping_rounds: 0`, max_rounds rounds."""
    train_set = training_set(train, train_label, features, categorical)
    valid_set = lgb.Dataset(valid, valid_label, reference=train_set)
    return lgb.train(
        booster_params(params, monotone),
        train_set,
        num_boost_round=params.max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=stopping(params),
    )


def stopping(params: LightGBMConfig) -> list[Callable[[Any], None]]:
    """Early stopping on the validation log loss, or none when its patience is 0."""
    if not params.early_stopping_rounds:
        return []
    return [lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False)]


def kept_rounds(booster: lgb.Booster) -> int:
    """The rounds a booster keeps: early stopping's best, or every round it ran without it."""
    return max(1, int(booster.best_iteration or booster.current_iteration()))


def fit_rounds(
    train: np.ndarray,
    train_label: np.ndarray,
    features: list[str],
    categorical: list[str],
    monotone: list[int],
    params: LightGBMConfig,
    rounds: int,
) -> lgb.Booster:
    """LightGBM with the configured parameters and a fixed number of rounds, no validation:
    the final model refitted on every training row, and the calibration folds' boosters."""
    return lgb.train(
        booster_params(params, monotone),
        training_set(train, train_label, features, categorical),
        num_boost_round=max(1, rounds),
    )
