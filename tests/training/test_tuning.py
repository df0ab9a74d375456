"""`retention tune`: a small study writes a config `retention train` accepts, continues when run
again, logs each trial as a nested MLflow run, and works on a user's own table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from optuna.distributions import FloatDistribution
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from retention.cli import app
from retention.model import registry
from retention.training import tuning
from retention.training.baselines import DEFAULT_LIGHTGBM_ROUNDS, default_lightgbm
from retention.training.config import TrainingConfig, load_config
from retention.training.fit import fit_booster, kept_rounds
from retention.training.pipeline import (
    ID,
    LABEL,
    PART,
    TIME,
    TrainingRows,
    _default_lightgbm,
    _fit,
)
from retention.training.tuning import TuningResult, tune

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "RETENTION_WORK_DIR": str(tmp_path / "var"),
        "RETENTION_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def _config_file(config: TrainingConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    return path


def _study(result: TuningResult) -> optuna.Study:
    return optuna.load_study(study_name=result.study, storage=f"sqlite:///{result.storage}")


def test_a_tiny_study_writes_a_config_that_train_accepts(
    simulated_dir: Path, fast_config: TrainingConfig, tmp_path: Path, env: dict[str, str]
) -> None:
    base = _config_file(fast_config, tmp_path / "fast.yaml")
    out = tmp_path / "training" / "tuned-fast.yaml"
    args = ["tune", str(simulated_dir), "--config", str(base), "--trials", "3", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    tuned = load_config(out)
    assert tuned.name == "tuned-fast"
    # what the search does not touch stays the base config's
    assert tuned.churn == fast_config.churn and tuned.split == fast_config.split
    assert tuned.lightgbm.max_rounds == fast_config.lightgbm.max_rounds
    trained = runner.invoke(app, ["train", str(simulated_dir), "--config", str(out)])
    assert trained.exit_code == 0, trained.output
    assert "key-account-churn" in trained.output


def test_the_best_is_never_worse_than_the_current_config_or_the_defaults(
    training_rows: TrainingRows, fast_config: TrainingConfig, tmp_path: Path
) -> None:
    result = _tune(training_rows, fast_config, tmp_path, trials=3)
    current, defaults = result.seeded["current"], result.seeded["defaults"]
    assert current is not None and defaults is not None
    assert result.best_value >= max(current, defaults)
    trials = _study(result).trials
    assert trials[0].params["learning_rate"] == fast_config.lightgbm.learning_rate
    assert trials[0].params["monotone_constraints"] is fast_config.monotone_constraints
    assert trials[1].params == tuning.LIGHTGBM_DEFAULTS


def test_resuming_adds_trials_to_the_same_study_and_parent_run(
    training_rows: TrainingRows, fast_config: TrainingConfig, tmp_path: Path
) -> None:
    first = _tune(training_rows, fast_config, tmp_path, trials=2)
    again = _tune(training_rows, fast_config, tmp_path, trials=4)
    assert again.study == first.study and again.storage == first.storage
    assert again.parent_run_id == first.parent_run_id
    trials = _study(again).trials
    assert len(trials) == 4
    assert [t.user_attrs.get("seed") for t in trials[:2]] == ["current", "defaults"]
    assert again.complete + again.pruned == 4


def test_each_trial_is_a_nested_run_under_the_parent(
    training_rows: TrainingRows, fast_config: TrainingConfig, tmp_path: Path
) -> None:
    result = _tune(training_rows, fast_config, tmp_path, trials=3)
    experiment = registry.configure(_uri(tmp_path), registry.TUNING_EXPERIMENT)
    children = registry.child_runs(experiment, result.parent_run_id)
    assert sorted(c["name"] for c in children) == ["trial-0", "trial-1", "trial-2"]
    for child in children:
        assert child["status"] == "FINISHED"
        assert "learning_rate" in child["params"]
        assert child["tags"]["optuna.state"] in {"COMPLETE", "PRUNED"}
    best = max(c["metrics"].get("validation_roc_auc", 0.0) for c in children)
    assert best == pytest.approx(result.best_value)


def test_a_stopped_study_runs_the_interrupted_seed_again(
    training_rows: TrainingRows,
    fast_config: TrainingConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = tuning.trial_booster
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning, "trial_booster", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _tune(training_rows, fast_config, tmp_path, trials=2)
    result = _tune(training_rows, fast_config, tmp_path, trials=2)
    assert result.seeded["current"] is not None and result.seeded["defaults"] is not None
    assert result.failed == 1


def test_the_trial_fit_is_the_training_fit(
    training_rows: TrainingRows, fast_config: TrainingConfig
) -> None:
    """Tuning judges the booster `retention train` would fit with the same config."""
    fold = tuning.validation_folds(training_rows, fast_config)[0]
    args = (fold.train, fold.train_label, fold.valid, fold.valid_label)
    names = (training_rows.features, training_rows.categorical, training_rows.monotone)
    trained = fit_booster(*args, *names, fast_config.lightgbm)
    judged = tuning.trial_booster(fold, *names, fast_config.lightgbm)
    assert judged.best_iteration == trained.best_iteration
    np.testing.assert_allclose(judged.predict(fold.valid), trained.predict(fold.valid))


def test_an_own_table_without_times_is_tuned_on_stratified_folds(
    tmp_path: Path, env: dict[str, str]
) -> None:
    rng = np.random.default_rng(3)
    n = 1200
    risk = rng.normal(size=n)
    table = pd.DataFrame(
        {
            "account": [f"A{i:05d}" for i in range(n)],
            "complaints": rng.poisson(np.exp(risk)),
            "noise": rng.normal(size=n),
            "industry": rng.choice(["steel", "cement", "chemicals"], size=n),
            "left": (rng.random(n) < 1 / (1 + np.exp(-(2 * risk - 1.5)))).astype(int),
        }
    )
    path = tmp_path / "features.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "tuned-table.yaml"
    own = ["--table", str(path), "--id-column", "account", "--label-column", "left"]
    result = runner.invoke(app, ["tune", *own, "--trials", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tuned = load_config(out)
    assert tuned.monotone_constraints is False  # a table has no directions of risk
    trained = runner.invoke(app, ["train", *own, "--config", str(out)])
    assert trained.exit_code == 0, trained.output


def test_patience_follows_the_learning_rate() -> None:
    base = TrainingConfig().lightgbm
    assert tuning.patience(base, base.learning_rate) == base.early_stopping_rounds
    assert tuning.patience(base, base.learning_rate / 3) == base.early_stopping_rounds
    assert tuning.patience(base, 0.1) == 60
    assert tuning.patience(base, 1.0) == 10


def _uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def _tune(rows: TrainingRows, config: TrainingConfig, tmp_path: Path, trials: int) -> TuningResult:
    return tune(
        rows,
        config,
        tmp_path / "tuned.yaml",
        tmp_path / "var",
        _uri(tmp_path),
        trials=trials,
        progress=False,
    )


def test_the_defaults_seed_is_the_default_lightgbm_baseline(
    training_rows: TrainingRows, fast_config: TrainingConfig
) -> None:
    """The seed of LightGBM's defaults fits the very booster of the run's "default LightGBM"
    baseline (100 rounds, no early stopping), so the search always has it to pick."""
    config = tuning.tuned_config(fast_config, tuning.LIGHTGBM_DEFAULTS)
    assert config.lightgbm.max_rounds == DEFAULT_LIGHTGBM_ROUNDS
    assert config.lightgbm.early_stopping_rounds == 0
    fold = tuning.validation_folds(training_rows, fast_config)[0]
    names = (training_rows.features, training_rows.categorical)
    off = [0] * len(training_rows.features)
    judged = tuning.trial_booster(fold, *names, off, config.lightgbm)
    assert kept_rounds(judged) == DEFAULT_LIGHTGBM_ROUNDS
    plain = default_lightgbm(fold.train, fold.train_label, *names, 42, 2)
    np.testing.assert_allclose(judged.predict(fold.valid), plain.predict(fold.valid))


def test_training_with_the_defaults_seed_ranks_as_the_default_baseline(
    training_rows: TrainingRows, fast_config: TrainingConfig
) -> None:
    """`retention train` with a tuned config that picked the defaults refits that booster on
    every row before the test: on the test rows it ranks exactly as the baseline does."""
    config = tuning.tuned_config(fast_config, tuning.LIGHTGBM_DEFAULTS)
    frame = training_rows.frame
    parts = {p: frame[frame[PART] == p] for p in ("train", "validation", "test")}
    model, x, y, fitted = _fit(training_rows, parts, config)
    assert fitted.rounds == DEFAULT_LIGHTGBM_ROUNDS and not fitted.early_stopped
    assert "fixed" in fitted.sentence(config.calibration)
    baseline = _default_lightgbm(training_rows, x, y, config)
    raw = model.raw_score(x["test"])
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-raw)), baseline, rtol=1e-6)
    model_auc = roc_auc_score(y["test"], model.calibration(raw))
    assert model_auc == pytest.approx(roc_auc_score(y["test"], baseline))


def test_each_account_is_validated_once_on_the_split_and_never_on_the_test(
    training_rows: TrainingRows, fast_config: TrainingConfig
) -> None:
    """The trials are judged on every account's validation snapshots (in disjoint groups),
    each group trained on the others' earlier snapshots; no fit sees a test row."""
    frame = training_rows.frame
    windows = tuning.window_parts(training_rows, fast_config)
    latest = windows[: tuning.ACCOUNT_GROUPS]
    validated = [set(frame.loc[p.eq("validation"), ID]) for p in latest]
    at_validation = frame[TIME].isin(frame.loc[frame[PART].eq("validation"), TIME])
    assert set().union(*validated) == set(frame.loc[at_validation, ID])
    assert sum(len(v) for v in validated) == len(set().union(*validated))  # disjoint groups
    for parts in windows:
        train, valid = frame[parts.eq("train")], frame[parts.eq("validation")]
        assert train[TIME].max() < valid[TIME].min()
        assert not set(train[ID]) & set(valid[ID])
        assert not frame.loc[parts.notna(), PART].eq("test").any()
        assert train[LABEL].nunique() == valid[LABEL].nunique() == 2
    assert len(tuning.validation_folds(training_rows, fast_config)) == len(windows)


def _trial(windows: list[float], seed: str | None = None) -> optuna.trial.FrozenTrial:
    attrs: dict[str, Any] = {tuning.WINDOW_SCORES: windows}
    if seed:
        attrs["seed"] = seed
    return optuna.trial.create_trial(
        value=float(np.mean(windows)),
        params={"learning_rate": 0.1},
        distributions={"learning_rate": FloatDistribution(0.01, 0.3)},
        user_attrs=attrs,
    )


def test_the_defaults_are_kept_unless_beaten_by_more_than_one_standard_error() -> None:
    """The best trial's lead over the defaults is judged window by window (paired)."""
    defaults = _trial([0.80, 0.76, 0.84, 0.78], seed="defaults")
    noisy = _trial([0.83, 0.75, 0.85, 0.77])  # +0.0050 on average, SE 0.0096
    steady = _trial([0.81, 0.77, 0.85, 0.79])  # +0.01 in every window
    kept = tuning.choose([defaults, noisy])
    assert kept.best is noisy and kept.trial is defaults
    assert kept.margin == pytest.approx(0.005) and kept.standard_error > kept.margin
    assert "within one SE" in kept.reason
    chosen = tuning.choose([defaults, noisy, steady])
    assert chosen.trial is steady and "beats the defaults" in chosen.reason
    assert tuning.choose([_trial([0.7, 0.8]), defaults]).trial is defaults
