"""The monitoring summary: written by `retention monitor`, stored as JSON with the batch and
logged to MLflow, read by the API, the model page and the store (which never import
Evidently). One record for the writer and every reader, so a renamed field fails mypy and the
tests instead of a reader in another process.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retention.records.labels import Band

ReasonCode = Literal["missing_features", "feature_drift", "score_drift", "realised_auc"]


class _Record(BaseModel):
    # A number that is not finite has no JSON: refused when the summary is built.
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)


class RetrainReason(_Record):
    code: ReasonCode
    text_zh: str
    text_en: str


class FeatureDrift(_Record):
    feature: str
    psi: float | None = Field(
        description="population stability index against the training reference (none when "
        "the batch has no values)"
    )
    drifted: bool
    missing: bool = Field(description="empty, or far more often empty than in training")
    missing_share: float | None = Field(description="share of the batch's accounts without it")


class SegmentFeature(_Record):
    feature: str
    psi: float


class SegmentDrift(_Record):
    """Drift within a tariff category or an industry (informational: industries have cycles,
    and the model compares accounts with their industry's peers)."""

    segment: Literal["tariff_category", "industry_code"]
    value: str = Field(examples=["C26"])
    accounts: int
    features_compared: int
    drifted_share: float
    drifted: list[SegmentFeature] = Field(description="the most drifted, at most five")


class BandRealised(_Record):
    band: Band
    accounts: int
    churned: int
    predicted_rate: float | None = Field(description="mean churn probability (none for exit)")
    realised_rate: float


class RealisedChurn(_Record):
    """Over the listed accounts (the exit band apart), once the horizon has passed."""

    accounts: int
    churned: int
    predicted_rate: float | None
    realised_rate: float | None
    roc_auc: float | None
    pr_auc: float | None
    by_band: list[BandRealised]


class ReferenceSample(_Record):
    """The training reference the batch was compared with."""

    source: str  # training reference sample, or the test rows of older models
    rows: int
    snapshots: list[dt.date]


class MonitoringThresholds(_Record):
    method: Literal["psi"]
    drift_threshold: float  # a feature with PSI at or above this drifted
    drift_share: float  # retrain when this share of features drifted
    max_auc_drop: float  # retrain when the realised ROC AUC is this far below the test's


class DriftSummary(_Record):
    features_compared: int
    drifted_share: float
    drifted: list[str]
    missing: list[str]
    score_psi: float
    score_drifted: bool
    not_compared: list[str]  # empty in the training reference: nothing to judge by
    features: list[FeatureDrift]  # most drifted first


class MonitoringSummary(_Record):
    """One `retention monitor` run on a batch: drift, realised churn, the retrain signal."""

    batch_id: int
    snapshot_date: dt.date
    model_version: str
    mlflow_run_id: str
    monitored_at: dt.datetime
    reference: ReferenceSample
    current_rows: int  # the batch's listed accounts compared (exit band left out)
    accounts_not_in_dataset: int
    settings: MonitoringThresholds
    drift: DriftSummary
    segments: list[SegmentDrift]
    churn_definition: dict[str, Any]  # features.labels.ChurnDefinition, as logged
    horizon_months: int
    matures_on: dt.date
    realised: RealisedChurn | None  # None until the horizon has passed
    realised_note_zh: str
    realised_note_en: str
    test_roc_auc: float | None
    retrain_recommended: bool
    reasons: list[RetrainReason]
    reports: dict[str, str]  # kind: the HTML report's path
