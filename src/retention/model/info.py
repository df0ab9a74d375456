"""What a model says about its training, written by training and read by every job.

Stored as JSON beside the booster (`model.json`); a renamed field fails type checking and
the tests, where a dict key read with `.get()` failed silently in another process.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from retention.features.labels import ChurnDefinition


class ModelInfo(BaseModel):
    """When and how a model was trained, and how it did on its test window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trained_at: str | None = None  # ISO time, seconds
    run_id: str | None = None  # the MLflow run that trained it
    churn_definition: ChurnDefinition = ChurnDefinition()
    test_metrics: dict[str, float] = Field(default_factory=dict)  # the model on test rows
    baselines: dict[str, dict[str, float]] = Field(default_factory=dict)  # scorer -> metrics
    importance_by_group: dict[str, float] = Field(default_factory=dict)  # total gain
    description: dict[str, str] = Field(default_factory=dict)  # source, rows, windows, ...
    # Digest of the feature catalogue it was trained with (None: trained on a user's table).
    catalogue_sha256: str | None = None
    # Months -> the test ROC and PR AUC of the probability of churn within them, against the
    # churn that came within them (the model's horizon and its timing models' shorter ones).
    horizon_metrics: dict[int, dict[str, float]] = Field(default_factory=dict)

    @property
    def horizon_months(self) -> int:
        return self.churn_definition.horizon_months
