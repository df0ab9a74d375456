"""The metrics this team works with, and the plots a data scientist checks before trusting a run.

Ranking: ROC AUC, PR AUC. Probabilities: log loss, Brier, expected calibration error. The
team's view, per snapshot (one visiting cycle) and averaged: lift and recall in the top 10%,
recall in the top K accounts (K = the team's capacity) and the share of the money lost to churn
that the top K by money at risk would have covered.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

ECE_BINS = 15


def expected_calibration_error(label: np.ndarray, prob: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed rate - mean prediction| over equal-count bins, weighted by bin size.

    Equal-count bins, because with a churn rate of a few percent nearly every prediction falls
    into the first of ten equal-width bins.
    """
    order = np.argsort(prob, kind="stable")
    parts = np.array_split(order, bins)
    total = len(prob)
    return float(
        sum(len(p) / total * abs(label[p].mean() - prob[p].mean()) for p in parts if len(p))
    )


def evaluate(
    label: np.ndarray,
    score: np.ndarray,
    snapshot: np.ndarray,
    revenue: np.ndarray,
    capacity: int,
    probabilistic: bool = True,
) -> dict[str, float]:
    """All metrics of one scorer on one set of rows (scores need not be probabilities when
    `probabilistic` is False: then only ranking metrics are given)."""
    label = np.asarray(label, dtype=int)
    score = np.asarray(score, dtype=float)
    revenue = np.nan_to_num(np.asarray(revenue, dtype=float))
    out = {
        "roc_auc": float(roc_auc_score(label, score)),
        "pr_auc": float(average_precision_score(label, score)),
        "base_rate": float(label.mean()),
    }
    if probabilistic:
        clipped = np.clip(score, 1e-6, 1 - 1e-6)
        out |= {
            "log_loss": float(log_loss(label, clipped)),
            "brier": float(brier_score_loss(label, clipped)),
            "ece": expected_calibration_error(label, clipped),
            "mean_prediction": float(clipped.mean()),
        }
    per_snapshot = []
    for when in np.unique(snapshot):
        rows = snapshot == when
        y, s, money = label[rows], score[rows], revenue[rows]
        if y.sum() == 0:
            continue
        order = np.argsort(-s, kind="stable")
        top10 = order[: max(1, round(0.1 * len(s)))]
        # The list is ranked by money at risk; a scorer without probabilities ranks by score.
        at_risk = s * money if probabilistic else s
        top_k = np.argsort(-at_risk, kind="stable")[:capacity]
        lost = (money * y).sum()
        per_snapshot.append(
            {
                "lift_top10pct": y[top10].mean() / y.mean(),
                "recall_top10pct": y[top10].sum() / y.sum(),
                "recall_top_k": y[top_k].sum() / y.sum(),
                "precision_top_k": y[top_k].mean(),
                "money_captured_top_k": (money[top_k] * y[top_k]).sum() / lost if lost > 0 else 0.0,
            }
        )
    if per_snapshot:
        out |= {k: float(np.mean([p[k] for p in per_snapshot])) for k in per_snapshot[0]}
    return out


def plot_curves(label: np.ndarray, scores: dict[str, np.ndarray], folder: Path) -> list[Path]:
    """ROC, precision-recall and cumulative gains of each scorer on the same rows."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(label, score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(label, score):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test window")
    ax.legend(fontsize=8)
    paths.append(_save(fig, folder / "roc.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(label, score)
        ax.plot(
            recall, precision, label=f"{name} (PR AUC {average_precision_score(label, score):.3f})"
        )
    ax.axhline(label.mean(), ls=":", color="grey")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, test window")
    ax.legend(fontsize=8)
    paths.append(_save(fig, folder / "precision_recall.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    share = np.arange(1, len(label) + 1) / len(label)
    for name, score in scores.items():
        found = np.cumsum(label[np.argsort(-score, kind="stable")]) / max(label.sum(), 1)
        ax.plot(share, found, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(
        xlabel="share of accounts visited (highest risk first)",
        ylabel="share of churners found",
        title="Cumulative gains, test window",
    )
    ax.legend(fontsize=8)
    paths.append(_save(fig, folder / "gains.png"))
    return paths


def plot_calibration(label: np.ndarray, probabilities: dict[str, np.ndarray], folder: Path) -> Path:
    """Reliability diagram: observed churn rate against mean prediction, equal-count bins."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name, prob in probabilities.items():
        order = np.argsort(prob, kind="stable")
        parts = [p for p in np.array_split(order, ECE_BINS) if len(p)]
        x = [prob[p].mean() for p in parts]
        y = [label[p].mean() for p in parts]
        top = max(top, *x, *y)
        ece = expected_calibration_error(label, prob)
        ax.plot(x, y, "o-", label=f"{name} (ECE {ece:.4f})")
    ax.plot([0, top], [0, top], ":", color="grey")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed churn rate",
        title="Calibration, test window",
    )
    ax.legend(fontsize=8)
    return _save(fig, folder / "calibration.png")


def plot_group_importance(importance: pd.Series, folder: Path) -> Path:
    """Total gain by feature group."""
    fig, ax = plt.subplots(figsize=(6, 4))
    importance.sort_values().plot.barh(ax=ax)
    ax.set(xlabel="total gain", title="Importance by feature group")
    return _save(fig, folder / "importance_by_group.png")


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
