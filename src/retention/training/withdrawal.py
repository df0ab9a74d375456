"""The applicants' withdrawal model: trained out of time on past applications, compared with
a rule ("any step overdue"), a logistic regression and, on the simulator, the oracle; tracked
in MLflow and registered as `applicant-withdrawal`, promoted to champion when it is not worse
than the current one on the same test rows.

Snapshots are monthly; the last `test_snapshots` are the test window, the `validation_snapshots`
before them (a horizon apart, so no label window reaches into the next part) stop the booster
early and calibrate it, and the rest train it. The final booster is then refitted with the
rounds early stopping chose on every row whose label window ends before the test (train, the
gap after it and validation: "learning"), as the churn training does, and the logistic
regression is fitted on the same rows. With a few thousand applications every row counts: on
the simulator (20,000 accounts, seeds 20261129 and 7) the refit raised the test ROC AUC by
0.013 and 0.007 (benchmarks/withdrawal.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from retention.applications.clocks import ServiceClocks
from retention.applications.withdrawal import (
    APPLICATION_HORIZON_MONTHS,
    CATEGORICAL,
    FEATURES,
    KEY,
    LABEL,
    MONOTONE,
    NUMERIC,
    REVENUE,
    TIME,
    Applicants,
    snapshot_dates,
    training_rows,
)
from retention.data.simulator import TRUTH_DIR
from retention.model import registry
from retention.model.artifact import Calibration, ChurnModel, category_levels, feature_matrix
from retention.model.info import ModelInfo
from retention.model.registry import WITHDRAWAL_EXPERIMENT, WITHDRAWAL_MODEL
from retention.scoring.calendar import WorkingCalendar
from retention.training import evaluate as ev
from retention.training.baselines import as_object, logistic_regression
from retention.training.config import LightGBMConfig
from retention.training.fit import fit_booster, fit_rounds

if TYPE_CHECKING:
    from rich.console import Console

# Not worse than the champion: its test ROC AUC on the same rows, less this much.
CHAMPION_ROC_AUC_TOLERANCE = 0.005
# The model against the logistic regression on the test rows: the difference of their ROC AUC
# with a 90% interval from resamples of the test's applications (each with all its rows). A
# model whose interval lies wholly below zero is worse than the baseline beyond the window's
# noise and is not promoted; one merely below it is promoted and said to trail, loudly (a
# demo-size window of a few dozen withdrawals cannot tell them apart).
BASELINE_BOOTSTRAP = 200
BASELINE_INTERVAL = (0.05, 0.95)


class WithdrawalConfig(BaseModel):
    """How the withdrawal model is trained (small data: a few thousand application-months)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_months: int = Field(default=APPLICATION_HORIZON_MONTHS, ge=1, le=12)
    test_snapshots: int = Field(default=6, ge=1, le=24)
    validation_snapshots: int = Field(default=3, ge=1, le=24)
    capacity: int = Field(default=20, ge=1)  # applications the team can follow per month
    # The final booster refitted on every learning row (false: the one stopped on validation).
    refit: bool = True
    lightgbm: LightGBMConfig = LightGBMConfig(
        learning_rate=0.05,
        num_leaves=7,
        min_child_samples=20,
        max_rounds=1000,
        early_stopping_rounds=100,
    )


@dataclass(frozen=True)
class WithdrawalResult:
    run_id: str
    version: str
    promoted: bool
    metrics: dict[str, dict[str, float]]  # scorer -> metrics on the test rows
    rows: dict[str, int]  # part -> rows

    @property
    def against_logistic(self) -> str:
        """ahead, trails (below the logistic regression within the noise) or worse (below
        it beyond the noise), on the test's ROC AUC."""
        return baseline_verdict(self.metrics["model"])

    def print(self, console: Console) -> None:
        """The test metrics next to the baselines and the oracle, and what became of it."""
        from rich.table import Table

        names = {
            "model": "模型 model",
            "rule_any_step_overdue": "规则 rule: any step overdue",
            "logistic_regression": "逻辑回归 logistic",
            "oracle": "理论上限 oracle",
        }
        table = Table(
            title=f"撤销风险模型测试期指标 / test metrics — {WITHDRAWAL_MODEL} v{self.version}"
        )
        columns = {"roc_auc": "AUC", "pr_auc": "PR AUC", "brier": "Brier", "base_rate": "rate"}
        table.add_column("")
        for header in columns.values():
            table.add_column(header, justify="right")
        for name, values in self.metrics.items():
            cells = [f"{values[c]:.3f}" if c in values else "-" for c in columns]
            table.add_row(names.get(name, name), *cells)
        console.print(table)
        gap = self.metrics["model"].get("roc_auc_gap_to_oracle")
        if gap is not None:
            console.print(f"与理论上限的 AUC 差距 / ROC AUC gap to the oracle: {gap:.3f}")
        rows = ", ".join(f"{part} {count:,}" for part, count in self.rows.items())
        console.print(f"样本 / rows: {rows}")
        warning = baseline_warning(self.metrics["model"])
        if warning:
            colour = "red" if self.against_logistic == "worse" else "yellow"
            console.print(f"[{colour}]{warning}[/{colour}]")
        if self.promoted and self.against_logistic == "worse":
            console.print(
                f"[red]已设为当前模型（尚无其他模型；不如逻辑回归基线）/ now the champion, as the "
                f"first one, though worse than the logistic regression: {WITHDRAWAL_MODEL} "
                f"v{self.version}[/red]"
            )
        elif self.promoted:
            console.print(f"已设为当前模型 / now the champion: {WITHDRAWAL_MODEL} v{self.version}")
        elif self.against_logistic == "worse":
            console.print(
                f"[red]未设为当前模型（不如逻辑回归基线）/ not promoted: worse than the logistic "
                f"regression on the test window (v{self.version} is registered)[/red]"
            )
        else:
            console.print(
                f"未替换当前模型（不如当前模型）/ not promoted: the champion ranks the same "
                f"test rows better (v{self.version} is registered)"
            )


def baseline_verdict(model: dict[str, float]) -> str:
    """ahead, trails or worse: the model's test ROC AUC against the logistic regression's
    (`model`: the model's test metrics, with the difference and its interval)."""
    if model.get("roc_auc_minus_logistic", 0.0) >= 0:
        return "ahead"
    return "worse" if model["roc_auc_minus_logistic_high"] < 0 else "trails"


def baseline_warning(model: dict[str, float]) -> str | None:
    """What a person is told when the model ranks the test window below the logistic
    regression; None when it does not."""
    verdict = baseline_verdict(model)
    if verdict == "ahead":
        return None
    difference = model["roc_auc_minus_logistic"]
    low, high = model["roc_auc_minus_logistic_low"], model["roc_auc_minus_logistic_high"]
    where = (
        f"ROC AUC {difference:+.3f} vs the logistic regression, 90% [{low:+.3f}, {high:+.3f}] "
        f"over {model.get('positives', 0):.0f} withdrawals in the test window"
    )
    if verdict == "worse":
        return (
            "模型不如逻辑回归基线（超出测试期噪声）/ the model is worse than the logistic "
            f"regression: {where}"
        )
    return (
        f"模型略低于逻辑回归基线（在测试期噪声范围内）/ the model trails the logistic regression "
        f"within the test window's noise: {where}"
    )


class NotEnoughApplications(ValueError):
    """Too few snapshots or withdrawals to train and test out of time."""


def split_rows(rows: pd.DataFrame, config: WithdrawalConfig) -> dict[str, pd.DataFrame]:
    """train / validation / test by snapshot date, a horizon apart; and learning: every
    snapshot before the test's gap (train, the gap after it and validation), for the refit."""
    snapshots = sorted(rows[TIME].unique())
    gap = config.horizon_months
    needed = config.test_snapshots + config.validation_snapshots + 2 * gap + 3
    if len(snapshots) < needed:
        raise NotEnoughApplications(
            f"申请数据的月份不足 / {len(snapshots)} monthly snapshots with open applications; "
            f"the time split needs at least {needed}"
        )
    test = snapshots[-config.test_snapshots :]
    valid_end = len(snapshots) - config.test_snapshots - gap
    valid = snapshots[valid_end - config.validation_snapshots : valid_end]
    train = snapshots[: valid_end - config.validation_snapshots - gap]
    learning = snapshots[:valid_end]  # every label window ends before the test begins
    parts = {
        name: rows[rows[TIME].isin(when)].reset_index(drop=True)
        for name, when in (
            ("train", train),
            ("validation", valid),
            ("test", test),
            ("learning", learning),
        )
    }
    for name, part in parts.items():
        if part[LABEL].nunique() < 2:
            raise NotEnoughApplications(
                f"撤销样本不足 / the {name} snapshots have no withdrawal (or nothing else): "
                "more months of applications are needed"
            )
    return parts


def simulator_oracle(folder: Path | None) -> pd.DataFrame | None:
    """The simulator's hidden withdrawal probabilities, when the folder has them."""
    if folder is None:
        return None
    path = folder / TRUTH_DIR / "application_withdrawal.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=[KEY, TIME, "probability"])
    return truth.assign(**{TIME: pd.to_datetime(truth[TIME]).astype("datetime64[us]")})


def fit_withdrawal(parts: dict[str, pd.DataFrame], config: WithdrawalConfig) -> ChurnModel:
    """LightGBM stopped early on validation and (config.refit) refitted with those rounds on
    the learning rows; calibrated (temperature) on the stopped booster's validation scores,
    the only scores of rows its booster did not learn from."""
    levels = category_levels(parts["learning"], CATEGORICAL)
    x = {p: feature_matrix(s, FEATURES, levels) for p, s in parts.items()}
    y = {p: s[LABEL].to_numpy(dtype=int) for p, s in parts.items()}
    shape = (FEATURES, CATEGORICAL, [MONOTONE.get(name, 0) for name in FEATURES], config.lightgbm)
    booster = fit_booster(x["train"], y["train"], x["validation"], y["validation"], *shape)
    raw = np.asarray(booster.predict(x["validation"], raw_score=True), dtype=float)
    calibration = Calibration.fit(raw, y["validation"], "temperature")
    if config.refit:
        rounds = max(1, int(booster.best_iteration or booster.current_iteration()))
        booster = fit_rounds(x["learning"], y["learning"], *shape, rounds)
    return ChurnModel(booster, FEATURES, levels, calibration)


def measure(
    model: ChurnModel,
    parts: dict[str, pd.DataFrame],
    oracle: pd.DataFrame | None,
    capacity: int,
) -> dict[str, dict[str, float]]:
    """The model, the rule, the logistic regression (fitted on the rows the model learnt
    from) and the oracle on the same test rows; the model's with its difference from the
    logistic regression (against_baseline)."""
    test = parts["test"]
    label = test[LABEL].to_numpy(dtype=int)
    when = test[TIME].to_numpy()
    revenue = test[REVENUE].to_numpy(dtype=float)

    def scored(score: np.ndarray, probabilistic: bool = True) -> dict[str, float]:
        return ev.evaluate(label, score, when, revenue, capacity, probabilistic)

    score = model.predict_proba(test)
    metrics = {"model": scored(score)}
    rule = (test["steps_overdue"].to_numpy(dtype=float) > 0).astype(float)
    metrics["rule_any_step_overdue"] = scored(rule, probabilistic=False)
    learnt = parts["learning"]
    lr = logistic_regression(NUMERIC, CATEGORICAL).fit(
        as_object(learnt[FEATURES], CATEGORICAL), learnt[LABEL].to_numpy(int)
    )
    logistic = lr.predict_proba(as_object(test[FEATURES], CATEGORICAL))[:, 1]
    metrics["logistic_regression"] = scored(logistic)
    metrics["model"] |= against_baseline(label, score, logistic, test[KEY].to_numpy())
    if oracle is not None:
        truth = test[[KEY, TIME]].merge(oracle, on=[KEY, TIME], how="left")["probability"]
        known = truth.notna().to_numpy()
        if known.mean() > 0.9:
            keep = np.flatnonzero(known)
            metrics["oracle"] = ev.evaluate(
                label[keep], truth.to_numpy(float)[keep], when[keep], revenue[keep], capacity
            )
            same = ev.evaluate(
                label[keep], model.predict_proba(test.iloc[keep]), when[keep], revenue[keep],
                capacity,
            )  # fmt: skip
            metrics["model"]["roc_auc_gap_to_oracle"] = (
                metrics["oracle"]["roc_auc"] - same["roc_auc"]
            )
    return metrics


def against_baseline(
    label: np.ndarray, model: np.ndarray, baseline: np.ndarray, groups: np.ndarray
) -> dict[str, float]:
    """The model's ROC AUC less the baseline's on these rows, with its BASELINE_INTERVAL
    over BASELINE_BOOTSTRAP resamples of the groups (applications: each with all its rows),
    and the withdrawals the rows hold (how much the difference can say)."""
    from sklearn.metrics import roc_auc_score

    members = list(pd.Series(np.arange(len(label))).groupby(groups).indices.values())
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(BASELINE_BOOTSTRAP):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        if 0 < label[pick].sum() < len(pick):
            draws.append(
                roc_auc_score(label[pick], model[pick]) - roc_auc_score(label[pick], baseline[pick])
            )
    low, high = np.quantile(draws, BASELINE_INTERVAL) if draws else (np.nan, np.nan)
    return {
        "roc_auc_minus_logistic": float(
            roc_auc_score(label, model) - roc_auc_score(label, baseline)
        ),
        "roc_auc_minus_logistic_low": float(low),
        "roc_auc_minus_logistic_high": float(high),
        "positives": float(label.sum()),
    }


def train_withdrawal(
    applicants: Applicants,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    tracking_uri: str,
    oracle: pd.DataFrame | None = None,
    config: WithdrawalConfig | None = None,
) -> WithdrawalResult:
    """Build the rows, fit, measure, log to MLflow, register, and promote unless worse than
    the logistic regression beyond the test window's noise or than the champion."""
    config = config or WithdrawalConfig()
    rows = training_rows(
        applicants, clocks, calendar, snapshot_dates(applicants, config.horizon_months),
        config.horizon_months,
    )  # fmt: skip
    parts = split_rows(rows, config)
    experiment = registry.configure(tracking_uri, WITHDRAWAL_EXPERIMENT)
    tags = {"model": WITHDRAWAL_MODEL}
    with registry.start_run(experiment, "withdrawal", tags) as run_id:
        registry.log_params(
            {
                "horizon_months": config.horizon_months,
                "refit": config.refit,
                **{f"lightgbm_{k}": v for k, v in config.lightgbm.model_dump().items()},
                **{f"{part}_rows": len(frame) for part, frame in parts.items()},
            }
        )
        model = fit_withdrawal(parts, config)
        metrics = measure(model, parts, oracle, config.capacity)
        for scorer, values in metrics.items():
            registry.log_metrics({f"test_{scorer}_{k}": v for k, v in values.items()})
        model.info = ModelInfo(
            trained_at=pd.Timestamp.now().isoformat(timespec="seconds"),
            run_id=run_id,
            test_metrics=metrics["model"],
            baselines={k: v for k, v in metrics.items() if k != "model"},
            description={
                "horizon_months": str(config.horizon_months),
                "against_logistic": baseline_verdict(metrics["model"]),
            },
        )
        version = registry.register(
            model,
            parts["test"],
            {
                "test_roc_auc": f"{metrics['model']['roc_auc']:.4f}",
                "against_logistic": baseline_verdict(metrics["model"]),
            },
            name=WITHDRAWAL_MODEL,
        )
    # A model worse than the logistic regression never replaces a champion; without one it
    # becomes the first (its risks beat none, and the rule's by far), with the warning kept.
    worse = baseline_verdict(metrics["model"]) == "worse"
    first = registry.champion_version(WITHDRAWAL_MODEL) is None
    promoted = (not worse or first) and _promote_if_not_worse(version, model, parts["test"])
    return WithdrawalResult(
        run_id, version, promoted, metrics, {p: len(f) for p, f in parts.items()}
    )


def _promote_if_not_worse(version: str, model: ChurnModel, test: pd.DataFrame) -> bool:
    """The champion alias moves to `version` unless the champion ranks these rows better."""
    from sklearn.metrics import roc_auc_score

    current = registry.champion_version(WITHDRAWAL_MODEL)
    if current is not None:
        champion = registry.load_version(current, WITHDRAWAL_MODEL)
        label = test[LABEL].to_numpy(dtype=int)
        theirs = roc_auc_score(label, champion.predict_proba(test))
        ours = roc_auc_score(label, model.predict_proba(test))
        if ours < theirs - CHAMPION_ROC_AUC_TOLERANCE:
            return False
    registry.set_champion(version, WITHDRAWAL_MODEL)
    return True
