"""MLflow: where runs and models live, how a model is registered, and the champion gate.

Tracking and registry share one URI (default `sqlite:///<project>/mlruns/mlflow.db`), set when a
job starts, never at import. Serving loads `models:/key-account-churn@champion`; promotion is its
own step: a challenger becomes champion only if it is not worse than the champion on the
challenger's own test window.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.metrics import average_precision_score, roc_auc_score

from retention.private_files import private_file
from retention.training.model import ChurnModel
from retention.training.pyfunc import ARTIFACT_KEY

MODEL_NAME = "key-account-churn"
EXPERIMENT = "key-account-churn"
CHAMPION = "champion"
TEST_ROWS_ARTIFACT = "evaluation/test_rows.parquet"
REFERENCE_ARTIFACT = "monitoring/reference.parquet"
MAX_AUC_DROP = 0.005
MAX_PR_AUC_DROP = 0.01


def configure(tracking_uri: str, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the tracking/registry URI and make sure the experiment exists.

    For a local SQLite store, artifacts go next to it, under mlruns/artifacts.
    Returns the experiment id.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # The pyfunc wrapper is our own class, imported from the installed package, not a pickle
    # of foreign code; MLflow's advice about pickled objects is noise here.
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    local = tracking_uri.startswith("sqlite:///")
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    if local:
        db.parent.mkdir(parents=True, exist_ok=True)
        private_file(db)  # before MLflow creates it world-readable
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    location = (db.parent / "artifacts").resolve().as_uri() if local else None
    return str(mlflow.create_experiment(experiment, artifact_location=location))


def local_model_dir(version: str | int) -> Path:
    """Download a registered version's ChurnModel artifacts; returns the folder to load."""
    root = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}/{version}"))
    return root / "artifacts" / ARTIFACT_KEY


def load_version(version: str | int) -> ChurnModel:
    return ChurnModel.load(local_model_dir(version))


class NoChampion(LookupError):
    """Nothing has been promoted yet: there is no model to score with."""


def load_champion() -> tuple[str, ChurnModel]:
    """The champion's version and model, loaded through `models:/key-account-churn@champion`."""
    version = champion_version()
    if version is None:
        raise NoChampion(
            f"no champion model in the registry yet: run `retention train` then "
            f"`retention promote` (registry: {mlflow.get_registry_uri()})"
        )
    root = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}@{CHAMPION}"))
    return version, ChurnModel.load(root / "artifacts" / ARTIFACT_KEY)


def champion_version() -> str | None:
    """The version the champion alias points to, or None before the first promotion."""
    try:
        return str(MlflowClient().get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def latest_version() -> str | None:
    versions = MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")
    return max((str(v.version) for v in versions), key=int, default=None)


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
    def __init__(self, decision: PromotionDecision) -> None:
        super().__init__(decision.text())
        self.decision = decision


def training_run(version: str) -> str:
    """The id of the MLflow run that trained a registered version."""
    run_id = MlflowClient().get_model_version(MODEL_NAME, version).run_id
    if run_id is None:
        raise ValueError(f"version {version} of {MODEL_NAME} has no training run")
    return run_id


def run_rows(version: str, artifact: str) -> pd.DataFrame:
    """Rows logged as a parquet artifact with a version's training run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = MlflowClient().download_artifacts(training_run(version), artifact, tmp)
        return pd.read_parquet(path)


def evaluation_rows(version: str) -> pd.DataFrame:
    """The test rows (features and labels) logged with a version's training run."""
    return run_rows(version, TEST_ROWS_ARTIFACT)


def promote(version: str | None = None, force: bool = False) -> PromotionDecision:
    """Make a version champion if it is not worse than the champion on its test window."""
    client = MlflowClient()
    challenger = version or latest_version()
    if challenger is None:
        raise ValueError(f"no version of {MODEL_NAME} is registered yet: train a model first")
    client.get_model_version(MODEL_NAME, challenger)  # an unknown version fails here, clearly
    current = champion_version()
    if current is None or current == challenger:
        reasons = [
            "no champion yet: the first model becomes champion"
            if current is None
            else "already the champion"
        ]
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, challenger)
        return PromotionDecision(True, challenger, current, reasons, {})

    rows = evaluation_rows(challenger)
    label = rows["churn"].to_numpy(dtype=int)
    scores = {v: load_version(v).predict_proba(rows) for v in (challenger, current)}
    comparison = {
        "challenger_roc_auc": float(roc_auc_score(label, scores[challenger])),
        "champion_roc_auc": float(roc_auc_score(label, scores[current])),
        "challenger_pr_auc": float(average_precision_score(label, scores[challenger])),
        "champion_pr_auc": float(average_precision_score(label, scores[current])),
        "test_rows": float(len(rows)),
    }
    reasons = []
    auc_drop = comparison["champion_roc_auc"] - comparison["challenger_roc_auc"]
    pr_drop = comparison["champion_pr_auc"] - comparison["challenger_pr_auc"]
    if auc_drop > MAX_AUC_DROP:
        reasons.append(
            f"ROC AUC {comparison['challenger_roc_auc']:.4f} is {auc_drop:.4f} below "
            f"the champion's {comparison['champion_roc_auc']:.4f} (allowed "
            f"{MAX_AUC_DROP})"
        )
    if pr_drop > MAX_PR_AUC_DROP:
        reasons.append(
            f"PR AUC {comparison['challenger_pr_auc']:.4f} is {pr_drop:.4f} below "
            f"the champion's {comparison['champion_pr_auc']:.4f} (allowed "
            f"{MAX_PR_AUC_DROP})"
        )
    passed = not reasons
    if passed:
        reasons.append(
            f"not worse than champion version {current} on the same {len(rows):,} test rows"
        )
    elif force:
        reasons.append("promoted anyway (--force)")
    decision = PromotionDecision(passed or force, challenger, current, reasons, comparison)
    if not decision.promoted:
        raise PromotionRefused(decision)
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, challenger)
    client.set_model_version_tag(
        MODEL_NAME, challenger, "promotion", json.dumps(comparison, default=float)
    )
    return decision


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of a frame's contents (order-sensitive), for the run's data lineage."""
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(hashed).tobytes()).hexdigest()[:16]
