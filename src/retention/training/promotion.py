"""Promotion, its own step with its own gate: a challenger becomes champion only if it is not
worse than the champion on the challenger's own test window."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sklearn.metrics import average_precision_score, roc_auc_score

from retention.model import registry
from retention.model.registry import MODEL_NAME

# How far a challenger may fall below the champion on the same test rows and still be
# promoted: about the noise of a retraining on the same data. (Not the monitoring setting
# `max_auc_drop`, which compares a batch's realised AUC with the model's test AUC.)
CHALLENGER_ROC_AUC_TOLERANCE = 0.005
CHALLENGER_PR_AUC_TOLERANCE = 0.01


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    challenger: str
    champion: str | None
    reasons: list[str]
    comparison: dict[str, float]

    def text(self) -> str:
        verdict = (
            "已设为 champion / promoted to champion" if self.promoted else "未晋级 / not promoted"
        )
        lines = [f"version {self.challenger}: {verdict}"]
        lines += [f"  - {r}" for r in self.reasons]
        return "\n".join(lines)


class PromotionRefused(RuntimeError):
    """The gate found the challenger worse than the champion; `decision` says by how much."""

    def __init__(self, decision: PromotionDecision) -> None:
        super().__init__(decision.text())
        self.decision = decision


def promote(version: str | None = None, force: bool = False) -> PromotionDecision:
    """Make a version champion if it is not worse than the champion on its test window."""
    challenger = version or registry.latest_version()
    if challenger is None:
        raise ValueError(f"no version of {MODEL_NAME} is registered yet: train a model first")
    registry.require_version(challenger)
    current = registry.champion_version()
    if current is None or current == challenger:
        reasons = [
            "no champion yet: the first model becomes champion"
            if current is None
            else "already the champion"
        ]
        registry.set_champion(challenger)
        return PromotionDecision(True, challenger, current, reasons, {})

    comparison = compare(challenger, current)
    reasons = refusals(comparison)
    passed = not reasons
    if passed:
        reasons.append(
            f"not worse than champion version {current} on the same "
            f"{int(comparison['test_rows']):,} test rows"
        )
    elif force:
        reasons.append("promoted anyway (--force)")
    decision = PromotionDecision(passed or force, challenger, current, reasons, comparison)
    if not decision.promoted:
        raise PromotionRefused(decision)
    registry.set_champion(challenger)
    registry.tag_version(challenger, {"promotion": json.dumps(comparison, default=float)})
    return decision


def compare(challenger: str, champion: str) -> dict[str, float]:
    """Both versions on the challenger's test rows."""
    rows = registry.evaluation_rows(challenger)
    label = rows["churn"].to_numpy(dtype=int)
    scores = {v: registry.load_version(v).predict_proba(rows) for v in (challenger, champion)}
    return {
        "challenger_roc_auc": float(roc_auc_score(label, scores[challenger])),
        "champion_roc_auc": float(roc_auc_score(label, scores[champion])),
        "challenger_pr_auc": float(average_precision_score(label, scores[challenger])),
        "champion_pr_auc": float(average_precision_score(label, scores[champion])),
        "test_rows": float(len(rows)),
    }


def refusals(comparison: dict[str, float]) -> list[str]:
    """Why the gate refuses the challenger (empty: it passes)."""
    reasons = []
    auc_drop = comparison["champion_roc_auc"] - comparison["challenger_roc_auc"]
    pr_drop = comparison["champion_pr_auc"] - comparison["challenger_pr_auc"]
    if auc_drop > CHALLENGER_ROC_AUC_TOLERANCE:
        reasons.append(
            f"ROC AUC {comparison['challenger_roc_auc']:.4f} is {auc_drop:.4f} below "
            f"the champion's {comparison['champion_roc_auc']:.4f} (allowed "
            f"{CHALLENGER_ROC_AUC_TOLERANCE})"
        )
    if pr_drop > CHALLENGER_PR_AUC_TOLERANCE:
        reasons.append(
            f"PR AUC {comparison['challenger_pr_auc']:.4f} is {pr_drop:.4f} below "
            f"the champion's {comparison['champion_pr_auc']:.4f} (allowed "
            f"{CHALLENGER_PR_AUC_TOLERANCE})"
        )
    return reasons
