"""What every run is compared with on the same test rows: LightGBM with its default parameters
(what a data scientist gets without this product), a logistic regression on the same features,
and the plain rule a team uses without a model (consumption down 30% year on year)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DEFAULT_LIGHTGBM_ROUNDS = 100  # lightgbm's own num_iterations


def default_lightgbm(
    train: np.ndarray,
    label: np.ndarray,
    features: list[str],
    categorical: list[str],
    seed: int,
    threads: int,
) -> lgb.Booster:
    """LightGBM as it comes: its default parameters (100 rounds, 31 leaves, learning rate 0.1,
    20 rows per leaf), objective binary, no monotone constraints, no early stopping; only the
    seed and the threads are set, which change nothing a user would tune."""
    params = {
        "objective": "binary",
        "seed": seed,
        "num_threads": threads,
        "deterministic": True,
        "verbosity": -1,
    }
    train_set = lgb.Dataset(
        train,
        label,
        feature_name=features,
        categorical_feature=[features.index(c) for c in categorical],
    )
    return lgb.train(params, train_set, num_boost_round=DEFAULT_LIGHTGBM_ROUNDS)


def logistic_regression(numeric: list[str], categorical: list[str]) -> Pipeline:
    """Median-imputed (with missing indicators), scaled numbers and one-hot categories."""
    numbers = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    )
    categories = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True),
        OneHotEncoder(handle_unknown="ignore", min_frequency=20),
    )
    columns = ColumnTransformer(
        [("numbers", numbers, numeric), ("categories", categories, categorical)]
    )
    return make_pipeline(columns, LogisticRegression(C=0.1, max_iter=2000))


def as_object(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as plain objects (what scikit-learn's encoders expect)."""
    out = frame.copy()
    for name in categorical:
        out[name] = out[name].astype("object").where(out[name].notna(), None)
    return out


def consumption_rule(yoy: pd.Series, threshold: float) -> np.ndarray:
    """1 for accounts whose consumption fell by the threshold or more year on year, ranked
    among themselves by the size of the fall (how a team would sort its flagged list)."""
    change = yoy.to_numpy(dtype=float)
    flagged = np.nan_to_num(change, nan=0.0) <= threshold
    return flagged.astype(float) + 1e-3 * np.clip(-np.nan_to_num(change, nan=0.0), 0, 1)
