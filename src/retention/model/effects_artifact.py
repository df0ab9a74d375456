"""The effect models of the retention actions as scoring loads them (issue 17, item 4): each
action's relative reductions of churn from the randomised outcomes (`relative`), which
scoring scales each account's churn probability by (scoring/targeting.py), and, for a
feature frame, each modelled action's churn averted per account by the per-account models
(`averted`: measured by `retention effects` and benchmarks/targeting.py, not ranked by).

Fitted by `retention.training.effects` (`retention effects DIR`) and registered by
`model/registry.py` as `key-account-effects`; scoring loads the champion version and needs
no training code. Each arm (the controls, each action) is a log-odds of churn within the
effects' horizon: the shared risk booster's raw score (`base`, absent for a T-learner whose
arms are whole models) plus the arm's constant plus its own booster's raw score when it has
one. An action's churn averted is the controls' probability minus the action's.

`evidence` keeps every action's randomised outcomes (follow-ups, controls) and the minimum
they were held to, so that scoring can say, in the batch, why it did or did not rank by the
money a follow-up is expected to save.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from retention.model.artifact import feature_matrix, prediction_threads

META_FILE = "effects.json"
BASE_FILE = "base.txt"
ARM_FILE = "arm_{arm}.txt"
CONTROL = "control"
MODELLED = "modelled"  # the training job's status of an action it fitted


@dataclass(frozen=True)
class Arm:
    """One arm's shift of the base log-odds: a constant and, where found, a booster."""

    constant: float = 0.0
    booster: lgb.Booster | None = None

    def log_odds(self, matrix: np.ndarray, base: np.ndarray) -> np.ndarray:
        out = base + self.constant
        if self.booster is not None and len(matrix):
            threads = prediction_threads(len(matrix))
            out = out + np.asarray(
                self.booster.predict(matrix, raw_score=True, num_threads=threads), dtype=float
            )
        return np.asarray(out, dtype=float)


@dataclass(frozen=True)
class ActionEvidence:
    """An action's randomised outcomes with matured labels, and what the job made of them."""

    action: str
    treated: int
    controls: int
    status: str  # the training job's: modelled, not_enough_evidence, no_test_rows


@dataclass(frozen=True)
class RelativeEffect:
    """An action's relative reduction of churn (1 - the follow-ups' churn over what it would
    have been untreated, from the randomised outcomes, partially pooled across actions) where
    it is the action the playbook's reading of the account points to (`on`) and where it is
    not (`off`), each with the standard error of its log ratio."""

    on: float
    on_se: float
    off: float
    off_se: float


@dataclass
class EffectModels:
    """Every modelled action's effect model, the features they read, and the evidence."""

    features: list[str]
    categories: dict[str, list[str]]
    base: lgb.Booster | None
    control: Arm
    actions: dict[str, Arm]
    evidence: list[ActionEvidence]
    min_treated: int
    min_controls: int
    horizon_months: int = 6
    learner: str = "shared_base"
    test_from: str | None = None  # the first test month (YYYY-MM) the figures came from
    # per action: the relative reductions targeting scales each account's risk by
    relative: dict[str, RelativeEffect] = field(default_factory=dict)
    run_id: str | None = field(default=None, compare=False)

    def enough(self) -> list[str]:
        """The actions with a model and at least the minimum of randomised outcomes."""
        return [
            e.action
            for e in self.evidence
            if e.action in self.actions
            and e.status == MODELLED
            and e.treated >= self.min_treated
            and e.controls >= self.min_controls
        ]

    def averted(self, frame: pd.DataFrame, actions: list[str] | None = None) -> pd.DataFrame:
        """Expected churn averted by each action (columns; default: those with enough
        evidence) for each row of a feature frame (its index): P(churn | no follow-up) minus
        P(churn | a follow-up with the action), within the effects' horizon."""
        codes = self.enough() if actions is None else actions
        churn = self.churn(frame, codes)
        out = {c: churn[CONTROL] - churn[c] for c in codes}
        return pd.DataFrame(out, index=frame.index, columns=codes, dtype=float)

    def churn(self, frame: pd.DataFrame, actions: list[str] | None = None) -> pd.DataFrame:
        """P(churn within the horizon) of each row of a feature frame (its index) under each
        arm: `CONTROL` (no follow-up) and each action (default: every modelled one)."""
        codes = list(self.actions) if actions is None else actions
        matrix = feature_matrix(frame, self.features, self.categories)
        base = np.zeros(len(matrix))
        if self.base is not None and len(matrix):
            threads = prediction_threads(len(matrix))
            base = np.asarray(
                self.base.predict(matrix, raw_score=True, num_threads=threads), dtype=float
            )
        arms = {CONTROL: self.control, **{c: self.actions[c] for c in codes}}
        out = {name: _sigmoid(arm.log_odds(matrix, base)) for name, arm in arms.items()}
        return pd.DataFrame(out, index=frame.index, columns=list(arms), dtype=float)

    def save(self, folder: Path) -> Path:
        """The boosters as LightGBM text files and the rest as JSON, in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.base is not None:
            self.base.save_model(str(folder / BASE_FILE))
        arms = {CONTROL: self.control, **self.actions}
        for name, arm in arms.items():
            if arm.booster is not None:
                arm.booster.save_model(str(folder / ARM_FILE.format(arm=name)))
        meta = {
            "features": self.features,
            "categories": self.categories,
            "base": self.base is not None,
            "arms": {
                n: {"constant": a.constant, "booster": a.booster is not None}
                for n, a in arms.items()
            },
            "evidence": [asdict(e) for e in self.evidence],
            "min_treated": self.min_treated,
            "min_controls": self.min_controls,
            "horizon_months": self.horizon_months,
            "learner": self.learner,
            "test_from": self.test_from,
            "relative": {a: asdict(r) for a, r in self.relative.items()},
        }
        (folder / META_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: Path) -> EffectModels:
        """What `save` wrote."""
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))

        def booster(path: Path) -> lgb.Booster:
            return lgb.Booster(model_file=str(path))

        arms = {
            name: Arm(
                float(spec["constant"]),
                booster(folder / ARM_FILE.format(arm=name)) if spec["booster"] else None,
            )
            for name, spec in meta["arms"].items()
        }
        control = arms.pop(CONTROL)
        return cls(
            features=list(meta["features"]),
            categories={k: list(v) for k, v in meta["categories"].items()},
            base=booster(folder / BASE_FILE) if meta["base"] else None,
            control=control,
            actions=arms,
            evidence=[ActionEvidence(**e) for e in meta["evidence"]],
            min_treated=int(meta["min_treated"]),
            min_controls=int(meta["min_controls"]),
            horizon_months=int(meta["horizon_months"]),
            learner=str(meta["learner"]),
            test_from=meta.get("test_from"),
            relative={a: RelativeEffect(**r) for a, r in meta.get("relative", {}).items()},
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))
