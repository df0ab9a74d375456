"""Realised churn against predicted, for a batch whose horizon has passed.

The labels are the data contract's churn definition over the horizon after the batch's
snapshot, computed from the dataset as it stands now; the predictions are the probabilities
and bands the batch gave the team. By band: how many accounts, the churn the model expected
(the mean probability), the churn that happened, and the realised ROC and PR AUC overall.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from retention.records.labels import BANDS, EXIT

BAND_ORDER = BANDS


@dataclass(frozen=True)
class Realised:
    by_band: pd.DataFrame  # band, accounts, churned, predicted_rate, realised_rate
    accounts: int
    churned: int
    predicted_rate: float | None  # None when no scored account has a known label
    realised_rate: float | None
    roc_auc: float | None  # None when only one class happened
    pr_auc: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "churned": self.churned,
            "predicted_rate": self.predicted_rate,
            "realised_rate": self.realised_rate,
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "by_band": [
                {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                for row in self.by_band.to_dict("records")
            ],
        }


def realised_churn(frame: pd.DataFrame) -> Realised:
    """`frame`: one row per account with band, probability (NaN in the exit band) and churn
    (0/1). Accounts in exit process are counted in their own band and left out of the AUC and
    of the overall rates: the model did not score them."""
    churn = frame["churn"].astype(int)
    grouped = frame.assign(churn=churn).groupby("band", sort=False)
    by_band = pd.DataFrame(
        {
            "accounts": grouped.size(),
            "churned": grouped["churn"].sum(),
            "predicted_rate": grouped["probability"].mean(),
            "realised_rate": grouped["churn"].mean(),
        }
    )
    order = [b for b in BAND_ORDER if b in by_band.index]
    by_band = by_band.reindex(order).rename_axis("band").reset_index()
    by_band[["accounts", "churned"]] = by_band[["accounts", "churned"]].astype(int)
    scored = frame[frame["band"] != EXIT]
    label = scored["churn"].astype(int).to_numpy()
    probability = scored["probability"].to_numpy(dtype=float)
    both = 0 < label.sum() < label.size
    return Realised(
        by_band=by_band,
        accounts=int(label.size),
        churned=int(label.sum()),
        predicted_rate=float(probability.mean()) if label.size else None,
        realised_rate=float(label.mean()) if label.size else None,
        roc_auc=float(roc_auc_score(label, probability)) if both else None,
        pr_auc=float(average_precision_score(label, probability)) if both else None,
    )


def save_classification_html(
    reference: pd.DataFrame, current: pd.DataFrame, path: Path, title: str, threshold: float
) -> None:
    """Evidently's classification report: the batch's realised quality beside the reference's
    (the training rows and their labels). Both frames: probability and churn. `threshold`
    turns probabilities into yes/no for precision and recall: the medium band's floor, since
    at 0.5 almost no account of a few-percent churn rate would count as predicted."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    definition = DataDefinition(
        numerical_columns=["probability"],
        categorical_columns=["churn"],
        classification=[BinaryClassification(target="churn", prediction_probas="probability")],
    )
    ref, cur = (
        Dataset.from_pandas(
            pd.DataFrame(
                {
                    "probability": side["probability"].to_numpy(dtype=float),
                    "churn": side["churn"].to_numpy(dtype=int),
                }
            ),
            data_definition=definition,
        )
        for side in (reference, current)
    )
    report = Report([ClassificationPreset(probas_threshold=threshold)], metadata={"title": title})
    report.run(current_data=cur, reference_data=ref).save_html(str(path))
