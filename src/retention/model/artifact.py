"""The churn model: a LightGBM booster, its calibration and the columns it reads.

`ChurnModel` is what scoring and serving use directly (fast numpy path, per-row contributions
for reasons); the MLflow pyfunc wrapper in `pyfunc.py` delegates to it. Training fits it
(`retention.training.fit`). Categorical features
are encoded with the categories seen in training (unknown values become missing), so the
DataFrame and the array paths give the same numbers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from retention.model.info import ModelInfo

BOOSTER_FILE = "booster.txt"
META_FILE = "model.json"
TIMING_FILE = "timing_{months}m.txt"  # one timing booster per shorter horizon
SHARED_CONTRIBUTION_ROWS = 200  # from this many rows, contributions run on every core
SHARED_PREDICTION_ROWS = 5_000  # and plain predictions (about 100x cheaper a row)


@dataclass(frozen=True)
class Calibration:
    """Raw LightGBM score -> probability.

    temperature: P = 1 / (1 + exp(-a * raw)), the spread corrected, the level kept from the
    (longer) training window; sigmoid (Platt): P = 1 / (1 + exp(-(a * raw + b))); isotonic: a
    step function over the raw score. The churn rate moves from one window to the next, and
    an intercept fitted on a few validation snapshots chases that window's rate, which is why
    temperature is the default.
    """

    method: str
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    @classmethod
    def fit(cls, raw: np.ndarray, label: np.ndarray, method: str) -> Calibration:
        raw = np.asarray(raw, dtype=float)
        if method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, label)
            return cls(method, x=tuple(iso.X_thresholds_), y=tuple(iso.y_thresholds_))
        with_intercept = method == "sigmoid"
        platt = LogisticRegression(C=1e6, max_iter=1000, fit_intercept=with_intercept)
        platt.fit(raw.reshape(-1, 1), label)
        b = float(platt.intercept_[0]) if with_intercept else 0.0
        return cls(method, a=float(platt.coef_[0, 0]), b=b)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        return 1.0 / (1.0 + np.exp(-(self.a * raw + self.b)))


def prediction_threads(rows: int) -> int:
    """Threads for a plain prediction of `rows` rows: OpenMP's threads for a few rows cost
    ~1 ms to start (25x the prediction of one row) and, on a busy machine, wait for a free
    core: an on-demand call's tail latency."""
    return (os.cpu_count() or 1) if rows >= SHARED_PREDICTION_ROWS else 1


@dataclass(frozen=True)
class TimingModel:
    """P(churn within `months` | churn within `given_months`): a booster fitted on the
    churned training rows only, which says how soon a churn comes, not whether it comes.

    Chained onto the main probability (P(within 3) = P(within 6) x P(within 3 | within 6)),
    a shorter horizon's probability can never exceed a longer one's.
    """

    months: int
    given_months: int
    booster: lgb.Booster

    def conditional(self, matrix: np.ndarray) -> np.ndarray:
        """The conditional probability of each row, within [0, 1]."""
        if len(matrix) == 0:
            return np.zeros(0)
        threads = prediction_threads(len(matrix))
        return np.clip(
            np.asarray(self.booster.predict(matrix, num_threads=threads), dtype=float), 0.0, 1.0
        )


@dataclass
class ChurnModel:
    """A fitted booster with what it needs to read a feature frame and give probabilities."""

    booster: lgb.Booster
    features: list[str]
    categories: dict[str, list[str]]
    calibration: Calibration
    groups: dict[str, str] = field(default_factory=dict)  # feature -> catalogue group
    info: ModelInfo = field(default_factory=ModelInfo)
    # Shorter horizons, longest first, each conditional on the one before (the first on the
    # model's own horizon); empty for a model trained without churn dates (or before them).
    timing: list[TimingModel] = field(default_factory=list)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The frame's features as a float matrix in training order (categories as codes)."""
        return feature_matrix(frame, self.features, self.categories)

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        threads = prediction_threads(len(matrix))
        return np.asarray(
            self.booster.predict(matrix, raw_score=True, num_threads=threads), dtype=float
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn within the horizon, one per row."""
        return self.calibration(self.raw_score(self.matrix(frame)))

    def horizon_probabilities(
        self, matrix: np.ndarray, probability: np.ndarray | None = None
    ) -> dict[int, np.ndarray]:
        """Months -> probability of churn within them, the model's horizon first: each
        shorter horizon is the longer one's probability times its timing model's conditional
        probability, so they never increase as the horizon shortens. `probability` is the
        calibrated main probability when the caller has it already."""
        main = self.calibration(self.raw_score(matrix)) if probability is None else probability
        # The chain's head was fitted for the model's horizon: it holds even before training
        # has written the model's info.
        horizon = self.timing[0].given_months if self.timing else self.info.horizon_months
        out = {horizon: np.asarray(main, dtype=float)}
        for timing in self.timing:
            out[timing.months] = out[timing.given_months] * timing.conditional(matrix)
        return out

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-row contributions to the raw score (last column: the bias); rows sum to it."""
        if len(matrix) == 0:  # LightGBM divides by the row count
            return np.zeros((0, len(self.features) + 1))
        # TreeSHAP is about 100x a plain predict: use every core, except for the few rows of
        # an on-demand call, where starting the threads costs more than it saves.
        threads = (os.cpu_count() or 1) if len(matrix) >= SHARED_CONTRIBUTION_ROWS else 1
        return np.asarray(
            self.booster.predict(matrix, pred_contrib=True, num_threads=threads), dtype=float
        )

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / BOOSTER_FILE))
        for timing in self.timing:
            timing.booster.save_model(str(folder / TIMING_FILE.format(months=timing.months)))
        meta = {
            "features": self.features,
            "categories": self.categories,
            "calibration": self.calibration.__dict__,
            "groups": self.groups,
            "info": self.info.model_dump(),
            "timing": [{"months": t.months, "given_months": t.given_months} for t in self.timing],
        }
        (folder / META_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: Path) -> ChurnModel:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        calibration = meta["calibration"]
        return cls(
            booster=lgb.Booster(model_file=str(folder / BOOSTER_FILE)),
            features=list(meta["features"]),
            categories={k: list(v) for k, v in meta["categories"].items()},
            calibration=Calibration(
                method=calibration["method"],
                a=calibration["a"],
                b=calibration["b"],
                x=tuple(calibration["x"]),
                y=tuple(calibration["y"]),
            ),
            groups=dict(meta.get("groups", {})),
            info=ModelInfo.model_validate(meta.get("info", {})),
            timing=[  # a model saved before timing models has none: no shorter horizons
                TimingModel(
                    months=int(t["months"]),
                    given_months=int(t["given_months"]),
                    booster=lgb.Booster(
                        model_file=str(folder / TIMING_FILE.format(months=t["months"]))
                    ),
                )
                for t in meta.get("timing", [])
            ],
        )


def feature_matrix(
    frame: pd.DataFrame, features: list[str], categories: dict[str, list[str]]
) -> np.ndarray:
    """Features as a float matrix in the given order; categories as codes of the training
    categories (an unseen value or a missing column becomes missing)."""
    out = np.full((len(frame), len(features)), np.nan)
    position = {name: i for i, name in enumerate(features)}
    numeric = [n for n in features if n not in categories and n in frame.columns]
    if numeric:  # one conversion for the whole block: per column costs ~0.1 ms each
        block = frame[numeric]
        try:
            values = block.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):  # text in a numeric column: it becomes missing
            values = np.column_stack(
                [pd.to_numeric(block[n], errors="coerce").to_numpy(dtype=float) for n in numeric]
            )
        out[:, [position[n] for n in numeric]] = values
    for name in features:
        if name in categories and name in frame.columns:
            out[:, position[name]] = _training_codes(frame[name], categories[name])
    return out


def _training_codes(column: pd.Series, levels: list[str]) -> np.ndarray:
    """A column's values as codes of the training levels (NaN: unseen or missing)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Map the column's own few categories, then index by its codes: no per-row lookup.
        index = {level: i for i, level in enumerate(levels)}
        mapped = np.array([index.get(c, -1) for c in column.cat.categories] + [-1], dtype=float)
        codes = mapped[np.asarray(column.cat.codes)]  # code -1 (missing) takes the last: -1
    else:
        codes = pd.Categorical(column.astype("object"), categories=levels).codes.astype(float)
    return np.where(codes < 0, np.nan, codes)


def category_levels(frame: pd.DataFrame, columns: list[str]) -> dict[str, list[str]]:
    """The categories of each categorical column, as seen in training."""
    levels = {}
    for name in columns:
        values = frame[name].astype("object").dropna()
        levels[name] = sorted(str(v) for v in values.unique())
    return levels
