"""The monitoring summary as stored: JSON that reads back whole, and refuses what it cannot
keep (a number that is not finite, a field under another name)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

from retention.records.monitoring import MonitoringSummary


def _summary(**changes: Any) -> dict[str, Any]:
    feature = {
        "feature": "avg_price_3m",
        "psi": 0.31,
        "drifted": True,
        "missing": False,
        "missing_share": None,
    }
    summary = {
        "batch_id": 7,
        "snapshot_date": "2026-11-01",
        "model_version": "3",
        "mlflow_run_id": "abc",
        "monitored_at": "2026-12-01T02:30:00+00:00",
        "reference": {"source": "训练样本", "rows": 900, "snapshots": ["2025-11-01"]},
        "current_rows": 850,
        "accounts_not_in_dataset": 0,
        "settings": {
            "method": "psi",
            "drift_threshold": 0.2,
            "drift_share": 0.3,
            "max_auc_drop": 0.05,
        },
        "drift": {
            "features_compared": 1,
            "drifted_share": 1.0,
            "drifted": ["avg_price_3m"],
            "missing": [],
            "score_psi": 0.05,
            "score_drifted": False,
            "not_compared": [],
            "features": [feature],
        },
        "segments": [
            {
                "segment": "industry_code",
                "value": "C26",
                "accounts": 310,
                "features_compared": 1,
                "drifted_share": 1.0,
                "drifted": [{"feature": "avg_price_3m", "psi": 0.4}],
            }
        ],
        "churn_definition": {"horizon_months": 6},
        "horizon_months": 6,
        "matures_on": "2027-05-01",
        "realised": {
            "accounts": 850,
            "churned": 20,
            "predicted_rate": 0.03,
            "realised_rate": 0.0235,
            "roc_auc": 0.8,
            "pr_auc": None,
            "by_band": [
                {
                    "band": "exit",
                    "accounts": 5,
                    "churned": 4,
                    "predicted_rate": None,
                    "realised_rate": 0.8,
                }
            ],
        },
        "realised_note_zh": "已到期",
        "realised_note_en": "matured",
        "test_roc_auc": 0.82,
        "retrain_recommended": True,
        "reasons": [{"code": "feature_drift", "text_zh": "漂移", "text_en": "drift"}],
        "reports": {"drift": "/tmp/r-drift.html"},
    }
    summary.update(changes)
    return summary


def test_a_summary_round_trips_through_its_json() -> None:
    summary = MonitoringSummary.model_validate(_summary())
    text = summary.model_dump_json()
    assert MonitoringSummary.model_validate_json(text) == summary
    assert "训练样本" in text  # Chinese kept as text, not escaped
    stored = json.loads(text)
    assert stored["snapshot_date"] == "2026-11-01" and stored["matures_on"] == "2027-05-01"
    assert summary.monitored_at == dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC)


def test_a_number_that_is_not_finite_is_refused() -> None:
    drift = _summary()["drift"]
    with pytest.raises(ValidationError):
        MonitoringSummary.model_validate(_summary(drift={**drift, "score_psi": float("nan")}))


def test_a_renamed_field_fails_to_read() -> None:
    renamed = _summary()
    renamed["rows_current"] = renamed.pop("current_rows")
    with pytest.raises(ValidationError, match="current_rows"):
        MonitoringSummary.model_validate(renamed)
