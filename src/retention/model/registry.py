"""Every MLflow call, behind one adapter: where runs and models live, what a training run
logs, how a model version is registered, the champion alias, and what a version's run logged.

Tracking and registry share one URI (default `sqlite:///<project>/mlruns/mlflow.db`), set when a
job starts, never at import. Serving loads `models:/key-account-churn@champion`; promotion
(`retention.training.promotion`) moves the alias through `set_champion`. The applicants'
withdrawal model is registered the same way under its own name (the `name` arguments).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

from retention.model.artifact import ChurnModel
from retention.model.effects_artifact import EffectModels
from retention.model.pyfunc import ARTIFACT_KEY, EFFECTS_ARTIFACT_KEY
from retention.private_files import private_file

MODEL_NAME = "key-account-churn"
EXPERIMENT = "key-account-churn"
# The applicants' withdrawal model (retention.training.withdrawal), registered beside it.
WITHDRAWAL_MODEL = "applicant-withdrawal"
WITHDRAWAL_EXPERIMENT = "applicant-withdrawal"
# `retention tune`'s searches: a parent run per study, a nested run per trial.
TUNING_EXPERIMENT = "key-account-churn-tuning"
# The effect models of the retention actions (retention.training.effects): a run per job,
# a nested run per action.
EFFECTS_EXPERIMENT = "key-account-effects"
# ... and registered under the same name; its champion is the version with enough evidence
# (retention.model.effects_artifact.EffectModels.enough), which scoring reads.
EFFECTS_MODEL = "key-account-effects"
CHAMPION = "champion"
TEST_ROWS_ARTIFACT = "evaluation/test_rows.parquet"
REFERENCE_ARTIFACT = "monitoring/reference.parquet"


log = logging.getLogger(__name__)


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


@contextmanager
def start_run(experiment_id: str, run_name: str, tags: dict[str, str]) -> Iterator[str]:
    """A training run, active inside the block (yields its id); leaving the block by an
    exception ends it FAILED, what it logged kept."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        yield run.info.run_id


def log_params(params: dict[str, object]) -> None:
    mlflow.log_params(params)


def log_metrics(metrics: dict[str, float]) -> None:
    mlflow.log_metrics(metrics)


def log_rows(frame: pd.DataFrame, part: str, target: str, digest: str) -> None:
    """Rows the active run used, as an MLflow input named after their part."""
    dataset = from_pandas(frame, name=f"{part}-rows", targets=target, digest=digest)
    mlflow.log_input(dataset, context=part)


def log_files(path: Path, artifact_path: str | None = None) -> None:
    """A file, or a folder's files, to the active run (under `artifact_path`)."""
    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path)
    else:
        mlflow.log_artifact(str(path), artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    mlflow.log_text(text, artifact_file)


def log_to_run(
    run_id: str,
    artifact_path: str,
    files: Iterable[Path] = (),
    documents: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Files, and JSON documents by name, to a finished run: monitoring adds its reports to
    the run that trained the model."""
    client = MlflowClient()
    for path in files:
        client.log_artifact(run_id, str(path), artifact_path)
    for name, content in (documents or {}).items():
        client.log_dict(run_id, content, f"{artifact_path}/{name}")


def running_runs(experiment_id: str, tags: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Id and tags of the experiment's RUNNING runs carrying these tags (none when the
    tracking store cannot be searched so: an old or odd one)."""
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    try:
        runs = MlflowClient().search_runs(
            [experiment_id], filter_string=f"attributes.status = 'RUNNING' and {where}"
        )
    except MlflowException as err:
        log.warning("could not look for running MLflow runs: %s", err)
        return []
    return [(run.info.run_id, dict(run.data.tags)) for run in runs]


def tuning_run(
    experiment_id: str, run_name: str, tags: dict[str, str], params: dict[str, object]
) -> str:
    """The parent run of a search: the latest one with these tags, running again, or a new
    one with these parameters; ended by `end_run`."""
    client = MlflowClient()
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    found = client.search_runs(
        [experiment_id], filter_string=where, order_by=["attributes.start_time DESC"]
    )
    if found:
        run_id = str(found[0].info.run_id)
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return run_id
    run = client.create_run(experiment_id, tags=tags, run_name=run_name)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    return str(run.info.run_id)


def log_child_run(
    experiment_id: str,
    parent_run_id: str,
    run_name: str,
    params: dict[str, object],
    metrics: dict[str, float],
    tags: dict[str, str],
    failed: bool = False,
) -> str:
    """A finished run nested under a parent (a search's trial), logged in one go."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = MlflowClient()
    run = client.create_run(
        experiment_id, tags={**tags, MLFLOW_PARENT_RUN_ID: parent_run_id}, run_name=run_name
    )
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    status = RunStatus.FAILED if failed else RunStatus.FINISHED
    client.set_terminated(run.info.run_id, RunStatus.to_string(status))
    return str(run.info.run_id)


def log_run_metrics(run_id: str, metrics: dict[str, float]) -> None:
    client = MlflowClient()
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))


def end_run(run_id: str, status: str = "FINISHED") -> None:
    """End a run that no block holds: FINISHED or FAILED."""
    MlflowClient().set_terminated(run_id, status)


def child_runs(experiment_id: str, parent_run_id: str) -> list[dict[str, Any]]:
    """The runs nested under a parent: name, status, params, metrics and tags of each."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    runs = MlflowClient().search_runs(
        [experiment_id], filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'"
    )
    return [
        {
            "name": run.info.run_name,
            "status": run.info.status,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": dict(run.data.tags),
        }
        for run in runs
    ]


def end_failed(run_id: str) -> None:
    MlflowClient().set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))


def local_model_dir(version: str | int, name: str = MODEL_NAME) -> Path:
    """Download a registered version's ChurnModel artifacts; returns the folder to load."""
    root = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    return root / "artifacts" / ARTIFACT_KEY


def load_version(version: str | int, name: str = MODEL_NAME) -> ChurnModel:
    return ChurnModel.load(local_model_dir(version, name))


class NoChampion(LookupError):
    """Nothing has been promoted yet: there is no model to score with."""


def load_champion(name: str = MODEL_NAME) -> tuple[str, ChurnModel]:
    """The champion's version and model, loaded through `models:/key-account-churn@champion`."""
    version = champion_version(name)
    if version is None:
        raise NoChampion(
            f"no champion model in the registry yet: run `retention train` then "
            f"`retention promote` (registry: {mlflow.get_registry_uri()})"
        )
    root = Path(mlflow.artifacts.download_artifacts(f"models:/{name}@{CHAMPION}"))
    return version, ChurnModel.load(root / "artifacts" / ARTIFACT_KEY)


def champion_version(name: str = MODEL_NAME) -> str | None:
    """The version the champion alias points to, or None before the first promotion."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def latest_version(name: str = MODEL_NAME) -> str | None:
    versions = MlflowClient().search_model_versions(f"name='{name}'")
    return max((str(v.version) for v in versions), key=int, default=None)


def require_version(version: str, name: str = MODEL_NAME) -> None:
    """An unknown version fails here, clearly (MLflow names it)."""
    MlflowClient().get_model_version(name, version)


def set_champion(version: str, name: str = MODEL_NAME) -> None:
    """Point the champion alias at a version: serving and scoring load it from now on."""
    MlflowClient().set_registered_model_alias(name, CHAMPION, version)


def tag_version(version: str, tags: dict[str, str], name: str = MODEL_NAME) -> None:
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def register(
    model: ChurnModel, example: pd.DataFrame, tags: dict[str, str], name: str = MODEL_NAME
) -> str:
    """Log a fitted model as the active run's pyfunc (signature, input example, pinned
    requirements), register it as a new version with its tags; returns the version."""
    import sklearn

    from retention.model.pyfunc import ChurnPyfunc

    categorical = [name for name in model.features if name in model.categories]
    example = _example(example[model.features], categorical)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model.save(Path(tmp) / ARTIFACT_KEY)
        logged = mlflow.pyfunc.log_model(
            name="model",
            python_model=ChurnPyfunc(),
            artifacts={ARTIFACT_KEY: str(model_dir)},
            signature=_signature(model.features, categorical, model.predict_proba(example)),
            input_example=example,
            pip_requirements=_requirements(f"scikit-learn=={sklearn.__version__}"),
        )
    version = str(mlflow.register_model(logged.model_uri, name).version)
    tag_version(version, tags, name)
    return version


def _requirements(*more: str) -> list[str]:
    """The pinned packages a logged model needs (given, MLflow does not spend seconds
    inferring them)."""
    import lightgbm as lgb

    return [
        f"lightgbm=={lgb.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        *more,
        f"mlflow=={mlflow.__version__}",
    ]


def register_effects(models: EffectModels, example: pd.DataFrame, tags: dict[str, str]) -> str:
    """Log the effect models as the active run's pyfunc (signature from a few rows of the
    features they read, pinned requirements), register a new version of `key-account-effects`
    with its tags; returns the version. The champion alias moves only by `set_champion`."""

    from retention.model.pyfunc import EffectsPyfunc

    categorical = [name for name in models.features if name in models.categories]
    example = _example(example.reindex(columns=models.features), categorical)
    averted = models.averted(example, list(models.actions))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = models.save(Path(tmp) / EFFECTS_ARTIFACT_KEY)
        logged = mlflow.pyfunc.log_model(
            name="effects",
            python_model=EffectsPyfunc(),
            artifacts={EFFECTS_ARTIFACT_KEY: str(model_dir)},
            signature=ModelSignature(
                inputs=_signature(models.features, categorical, averted.to_numpy()).inputs,
                outputs=infer_signature(None, averted).outputs,
            ),
            input_example=example,
            pip_requirements=_requirements(),
        )
    version = str(mlflow.register_model(logged.model_uri, EFFECTS_MODEL).version)
    tag_version(version, tags, EFFECTS_MODEL)
    return version


def load_effects_champion() -> tuple[str, EffectModels] | None:
    """The effects champion's version and models (`models:/key-account-effects@champion`),
    or None before a `retention effects` run found enough evidence."""
    version = champion_version(EFFECTS_MODEL)
    if version is None:
        return None
    root = Path(mlflow.artifacts.download_artifacts(f"models:/{EFFECTS_MODEL}@{CHAMPION}"))
    models = EffectModels.load(root / "artifacts" / EFFECTS_ARTIFACT_KEY)
    models.run_id = training_run(version, EFFECTS_MODEL)
    return version, models


def _signature(features: list[str], categorical: list[str], output: np.ndarray) -> ModelSignature:
    """Every feature may be missing (an absent optional table leaves whole groups empty)."""
    inputs = Schema(
        [
            ColSpec("string" if name in categorical else "double", name, required=False)
            for name in features
        ]
    )
    return ModelSignature(inputs=inputs, outputs=infer_signature(None, output).outputs)


def _example(features: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """A few complete test rows, categories as text, for the signature and the input example."""
    complete = features[features[categorical].notna().all(axis=1)] if categorical else features
    example = (complete if len(complete) >= 3 else features).head(5).copy()
    for name in categorical:
        example[name] = example[name].astype("object").astype(str)
    return example.reset_index(drop=True)


def training_run(version: str, name: str = MODEL_NAME) -> str:
    """The id of the MLflow run that trained a registered version."""
    run_id = MlflowClient().get_model_version(name, version).run_id
    if run_id is None:
        raise ValueError(f"version {version} of {name} has no training run")
    return run_id


def run_rows(version: str, artifact: str) -> pd.DataFrame:
    """Rows logged as a parquet artifact with a version's training run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = MlflowClient().download_artifacts(training_run(version), artifact, tmp)
        return pd.read_parquet(path)


def evaluation_rows(version: str) -> pd.DataFrame:
    """The test rows (features and labels) logged with a version's training run."""
    return run_rows(version, TEST_ROWS_ARTIFACT)


def logged_artifacts(version: str, folder: str) -> set[str]:
    """The paths a version's training run logged under a folder."""
    return {a.path for a in MlflowClient().list_artifacts(training_run(version), folder)}
