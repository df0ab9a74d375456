"""Training configurations: small YAML files under training/, validated into frozen models.

The default one is shipped in the package; `retention train --config` reads a user's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from retention.features.labels import ChurnDefinition
from retention.settings import ConfigFileError, load_yaml_model, packaged_file

DEFAULT_CONFIG = packaged_file("training/default.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SplitConfig(_Frozen):
    """How snapshots are split by time."""

    test_snapshots: int = Field(default=3, ge=1, le=24)
    validation_snapshots: int = Field(default=3, ge=1, le=24)
    gap_months: int | None = Field(default=None, ge=0, le=36)
    # Share of accounts whose rows make the validation (and are left out of training): the
    # same accounts in both would let early stopping reward memorising accounts.
    validation_accounts: float = Field(default=0.25, ge=0, lt=1)


class LightGBMConfig(_Frozen):
    learning_rate: float = Field(default=0.03, gt=0, le=1)
    num_leaves: int = Field(default=15, ge=2, le=1024)
    min_child_samples: int = Field(default=80, ge=1)
    feature_fraction: float = Field(default=0.7, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=5.0, ge=0)
    max_rounds: int = Field(default=3000, ge=1)
    # 0: no early stopping, exactly max_rounds rounds (how LightGBM's plain defaults train:
    # 100 rounds; the tuner's seed of them, so the search can pick that very booster).
    early_stopping_rounds: int = Field(default=200, ge=0)
    seed: int = 42
    # Two by default: results are the same on any host, and a shared one keeps cores free.
    num_threads: int = Field(default=2, ge=1, le=256)


class TrainingConfig(_Frozen):
    """Everything a training run needs besides the data."""

    name: str = "default"
    churn: ChurnDefinition = ChurnDefinition()
    split: SplitConfig = SplitConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    monotone_constraints: bool = True
    calibration: Literal["temperature", "sigmoid", "isotonic"] = "temperature"
    # The final booster refitted on every training and validation row with the rounds early
    # stopping chose (false: the booster fitted on train and stopped on validation).
    refit: bool = True
    # Calibration on out-of-fold scores of this many folds grouped by account over those rows
    # (0: on the validation part, scored by the early-stopping booster, as before).
    calibration_folds: int = Field(default=4, ge=0, le=20)
    rule_threshold: float = Field(default=-0.30, gt=-1, lt=0)
    # The fit is in memory: a training set of more rows (or, on a cluster, over a third of the
    # free memory) is sampled by account (all of an account's rows or none). None: no cap.
    max_training_rows: int | None = Field(default=3_000_000, ge=1_000)

    @field_validator("calibration_folds")
    @classmethod
    def _folds(cls, folds: int) -> int:
        if folds == 1:
            raise ValueError("calibration_folds must be 0 (the validation part) or at least 2")
        return folds

    @property
    def gap_months(self) -> int:
        return (
            self.split.gap_months
            if self.split.gap_months is not None
            else (self.churn.horizon_months)
        )


class ConfigError(ConfigFileError):
    """A configuration file that cannot be used; the message names the file and the field."""


def load_config(path: Path | None = None, horizon_months: int | None = None) -> TrainingConfig:
    """Read a training configuration (default: the packaged training/default.yaml).

    `horizon_months` (RETENTION_HORIZON_MONTHS) is the churn horizon when the file leaves
    `churn.horizon_months` out, as the default file does; a file that sets it keeps its own."""
    try:
        config = load_yaml_model(path or DEFAULT_CONFIG, TrainingConfig, "training configuration")
    except ConfigFileError as err:
        raise ConfigError(str(err)) from err
    if horizon_months is None or "horizon_months" in config.churn.model_fields_set:
        return config
    churn = config.churn.model_copy(update={"horizon_months": horizon_months})
    return config.model_copy(update={"churn": ChurnDefinition.model_validate(churn.model_dump())})
