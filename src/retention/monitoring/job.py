"""`retention monitor`: a batch against its model's training reference, and the retrain signal.

1. The batch (default: the latest complete one) and the model version that scored it.
2. The reference logged with that version's training run (`monitoring/reference.parquet`: a
   sample of its training, validation and test rows with their probabilities; models trained
   before it existed fall back to their test rows).
3. The batch's features, recomputed from the dataset at the batch's snapshot with the batch's
   peer medians (the same code and values the batch was scored with), and the probabilities
   the batch stored.
4. Evidently's drift report (features and scores, PSI) and, when the horizon after the
   snapshot has passed in the dataset, realised churn against predicted by band.
5. The HTML reports under `<work_dir>/reports/`, logged to the model's MLflow run; the JSON
   summary stored with the batch. The summary recommends retraining, with its reasons, when
   the share of drifted features reaches `drift_share`, when the scores drifted, or when the
   realised ROC AUC is more than `max_auc_drop` below the model's test AUC.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from sqlalchemy import Engine

from retention.data.dataset import Dataset
from retention.features.labels import ChurnDefinition
from retention.features.snapshot import build_snapshots
from retention.features.sources import Tables
from retention.model.artifact import ChurnModel
from retention.model.registry import (
    REFERENCE_ARTIFACT,
    TEST_ROWS_ARTIFACT,
    configure,
    load_version,
    log_to_run,
    logged_artifacts,
    run_rows,
    training_run,
)
from retention.monitoring.drift import SCORE, Drift, measure_drift, segment_drift
from retention.monitoring.realised import Realised, realised_churn, save_classification_html
from retention.records.labels import EXIT
from retention.records.monitoring import (
    DriftSummary,
    FeatureDrift,
    MonitoringSummary,
    MonitoringThresholds,
    RealisedChurn,
    ReferenceSample,
    RetrainReason,
    SegmentDrift,
)
from retention.settings import Settings
from retention.store.batches import (
    BatchInfo,
    batch_info,
    batch_scores,
    list_batches,
    load_peer_medians,
)
from retention.store.monitoring import save_report

log = logging.getLogger(__name__)

RETRAIN_EXIT_CODE = 3  # `retention monitor` exits with this when retraining is recommended
SHOWN_FEATURES = 10  # drifted features named in a reason and on the model page


class MonitorError(ValueError):
    """The batch cannot be compared: its accounts are not in the dataset, or the like."""


@dataclass(frozen=True)
class MonitorRun:
    report_id: int
    batch: BatchInfo
    summary: MonitoringSummary
    reports: dict[str, Path]
    seconds: dict[str, float]

    @property
    def retrain_recommended(self) -> bool:
        return self.summary.retrain_recommended

    def print(self, console: Console) -> None:
        s = self.summary
        drift = s.drift
        console.print(
            f"批次 / batch {self.batch.id} ({self.batch.snapshot_date}), 模型 / model "
            f"v{s.model_version}: 参照 / reference {s.reference.rows:,} 行 rows "
            f"({s.reference.source}), 本批 / batch {s.current_rows:,} 户 accounts"
        )
        console.print(
            f"  特征漂移 / drifted features: {len(drift.drifted)} / {drift.features_compared}"
            f" ({drift.drifted_share:.1%}); 评分 PSI / score PSI {drift.score_psi:.3f}"
        )
        for segment in s.segments[:3]:
            if segment.drifted:
                named = ", ".join(d.feature for d in segment.drifted)
                console.print(
                    f"    {segment.segment}={segment.value} ({segment.accounts:,}): "
                    f"{segment.drifted_share:.1%} 漂移 drifted: {named}"
                )
        if drift.missing:
            console.print("  [red]缺失特征 / missing features:[/] " + ", ".join(drift.missing))
        if s.accounts_not_in_dataset:
            console.print(
                f"  数据中缺少本批 {s.accounts_not_in_dataset:,} 户 / "
                f"{s.accounts_not_in_dataset:,} of the batch's accounts are not in the data"
            )
        self._print_realised(console)
        if s.retrain_recommended:
            console.print("[bold red]建议重新训练 / retraining recommended[/]")
            for reason in s.reasons:
                console.print(f"  - {reason.text_zh}\n    {reason.text_en}")
        else:
            console.print("[green]模型状态正常 / the model is healthy[/]")
        for kind, path in self.reports.items():
            console.print(f"  报告 / report ({kind}): {path}", soft_wrap=True)
        console.print(
            "  " + " · ".join(f"{step} {seconds:.1f}s" for step, seconds in self.seconds.items())
        )

    def _print_realised(self, console: Console) -> None:
        s = self.summary
        realised = s.realised
        if realised is not None and realised.realised_rate is None:
            console.print("  实际流失 / realised churn: 无已知结果 / no known outcomes")
        elif realised is None:
            console.print(
                f"  实际流失 / realised churn: {s.realised_note_zh} / {s.realised_note_en}"
            )
        else:
            auc = realised.roc_auc
            predicted = realised.predicted_rate or 0.0  # known whenever realised_rate is
            rates = f"{realised.realised_rate:.1%}, 预测 predicted {predicted:.1%}"
            console.print(
                f"  实际流失 / realised churn: {realised.churned:,} / {realised.accounts:,} "
                f"({rates})" + (f", ROC AUC {auc:.3f}" if auc is not None else "")
            )


def reference_rows(version: str, model: ChurnModel) -> tuple[pd.DataFrame, str]:
    """The version's drift reference and where it came from."""
    folder = str(Path(REFERENCE_ARTIFACT).parent)
    logged = logged_artifacts(version, folder)
    if REFERENCE_ARTIFACT in logged:
        rows = run_rows(version, REFERENCE_ARTIFACT)
        if len(rows):
            return rows, "训练样本 / training reference sample"
    rows = run_rows(version, TEST_ROWS_ARTIFACT)
    log.warning("version %s has no %s: using its test rows", version, REFERENCE_ARTIFACT)
    return rows.assign(**{SCORE: model.predict_proba(rows)}), "测试集 / test rows"


def churn_definition(model: ChurnModel) -> ChurnDefinition:
    """The churn definition the model was trained with."""
    return model.info.churn_definition


def matures_on(snapshot: dt.date, definition: ChurnDefinition) -> dt.date:
    """The first day the horizon after `snapshot` has passed: labels can be known."""
    return (pd.Timestamp(snapshot) + pd.DateOffset(months=definition.horizon_months)).date()


def latest_matured_batch(engine: Engine, tables: Tables) -> BatchInfo:
    """The complete batch with the latest snapshot whose horizon has passed in the data."""
    definitions: dict[str, ChurnDefinition] = {}
    batches = sorted(
        list_batches(engine, complete_only=True),
        key=lambda b: (b.snapshot_date, b.id),
        reverse=True,
    )
    for batch in batches:
        if batch.model_version not in definitions:
            definitions[batch.model_version] = churn_definition(load_version(batch.model_version))
        if pd.Timestamp(matures_on(batch.snapshot_date, definitions[batch.model_version])) <= (
            tables.data_end
        ):
            return batch
    raise MonitorError(
        f"没有观察期已满的批次 / no batch has matured: the data end at {tables.data_end:%Y-%m-%d}"
        f", and a batch's labels are known a horizon after its snapshot"
    )


def _batch_frame(
    tables: Tables, engine: Engine, batch: BatchInfo, definition: ChurnDefinition
) -> tuple[pd.DataFrame, bool, int]:
    """The batch's accounts with their features, stored band and probability, and (when the
    horizon has passed in the data) their realised churn; whether it has; and how many of
    the batch's accounts the dataset lacks at the snapshot."""
    snapshot = pd.Timestamp(batch.snapshot_date)
    matured = tables.data_end >= pd.Timestamp(matures_on(batch.snapshot_date, definition))
    features = build_snapshots(
        tables,
        [snapshot],
        definition=definition,
        with_labels=matured,
        peers=load_peer_medians(engine, batch.id),
    ).droplevel("snapshot_date")
    scores = batch_scores(engine, batch.id, ["customer_id", "band", SCORE]).set_index("customer_id")
    missing = scores.index.difference(features.index)
    if len(missing) == len(scores):
        raise MonitorError(
            f"批次 {batch.id} 的 {len(scores):,} 户在该数据中于 {batch.snapshot_date} 均不在册，"
            f"请确认是评分所用的数据 / none of batch {batch.id}'s {len(scores):,} accounts is "
            f"active in the dataset at {batch.snapshot_date}: is this the dataset the batch was "
            f"scored from?"
        )
    if len(missing):
        log.warning(
            "%d of batch %d's accounts are not in the dataset at %s; they are left out",
            len(missing),
            batch.id,
            batch.snapshot_date,
        )
    frame = features.drop(columns=[SCORE], errors="ignore").join(scores, how="inner")
    return frame, matured, len(missing)


def _reasons(
    drift: Drift, realised: Realised | None, test_auc: float | None, settings: Settings
) -> list[RetrainReason]:
    reasons = []
    if drift.missing:
        named = ", ".join(drift.missing[:SHOWN_FEATURES])
        reasons.append(
            RetrainReason(
                code="missing_features",
                text_zh=f"{len(drift.missing)} 个特征在本批数据中为空或缺失率远高于训练时"
                f"（可能缺少数据表或字段，请先核对数据）：{named}",
                text_en=f"{len(drift.missing)} features are empty, or far more often empty than "
                f"in training (a table or column may be missing: check the data first): {named}",
            )
        )
    if drift.drifted_share >= settings.drift_share:
        named = ", ".join(drift.drifted[:SHOWN_FEATURES])
        more = len(drift.drifted) - SHOWN_FEATURES
        named += f" …(+{more})" if more > 0 else ""
        n, m = len(drift.drifted), len(drift.features)
        reasons.append(
            RetrainReason(
                code="feature_drift",
                text_zh=f"{m} 个特征中有 {n} 个（{drift.drifted_share:.1%}）分布偏离训练参照"
                f"（PSI ≥ {drift.threshold:g}；阈值 {settings.drift_share:.0%}）：{named}",
                text_en=f"{n} of {m} features ({drift.drifted_share:.1%}) drifted from the "
                f"training reference (PSI ≥ {drift.threshold:g}; retrain from "
                f"{settings.drift_share:.0%}): {named}",
            )
        )
    if drift.score_drifted:
        reasons.append(
            RetrainReason(
                code="score_drift",
                text_zh=f"流失概率分布偏离训练参照：PSI {drift.score_psi:.3f} "
                f"≥ {drift.threshold:g}",
                text_en=f"the churn probabilities drifted from the training reference: PSI "
                f"{drift.score_psi:.3f} ≥ {drift.threshold:g}",
            )
        )
    if realised is not None and realised.roc_auc is not None and test_auc is not None:
        drop = test_auc - realised.roc_auc
        if drop > settings.max_auc_drop:
            reasons.append(
                RetrainReason(
                    code="realised_auc",
                    text_zh=f"实际流失的 ROC AUC {realised.roc_auc:.3f} 比训练测试的 "
                    f"{test_auc:.3f} 低 {drop:.3f}（允许 {settings.max_auc_drop:g}）",
                    text_en=f"realised ROC AUC {realised.roc_auc:.3f} is {drop:.3f} below the "
                    f"test ROC AUC {test_auc:.3f} (allowed {settings.max_auc_drop:g})",
                )
            )
    return reasons


def _write(report: Any, path: Path, lines: list[str]) -> Path:
    """Write an HTML report whole or not at all, headed by `lines` (what was compared with
    what: Evidently's page does not say)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        report(Path(temporary))
        page = Path(temporary).read_text(encoding="utf-8")
        banner = "".join(f"<p style='margin:4px 0'>{html.escape(line)}</p>" for line in lines)
        banner = (
            "<div style='font-family:sans-serif;padding:12px 24px;background:#f5f7fa;"
            f"border-bottom:1px solid #ddd'>{banner}</div>"
        )
        page = page.replace("<body>", "<body>" + banner, 1)
        Path(temporary).write_text(page, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path


def _number(value: object) -> float | None:
    """A float for the JSON summary: NaN (nothing to measure) as null."""
    number = float(value)  # type: ignore[arg-type]
    return None if np.isnan(number) else round(number, 6)


def run_monitoring(
    settings: Settings,
    dataset: Dataset,
    engine: Engine,
    batch_id: int | None = None,
    reports_dir: Path | None = None,
    matured_only: bool = False,
) -> MonitorRun:
    """Monitor a batch (default: the latest; with `matured_only`, the latest whose horizon has
    passed in the data): reports, summary in the store, retrain signal."""
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = now - clock
        clock = now

    configure(settings.tracking_uri)
    tables = Tables(dataset)
    batch = (
        latest_matured_batch(engine, tables)
        if matured_only and batch_id is None
        else batch_info(engine, batch_id)
    )
    model = load_version(batch.model_version)
    definition = churn_definition(model)
    reference, source = reference_rows(batch.model_version, model)
    current, matured, absent = _batch_frame(tables, engine, batch, definition)
    compared = _Compared(batch, source, reference, current[current["band"] != EXIT], current)
    lap("load")

    drift, segments = _drift(compared, model, settings)
    lap("drift")

    realised = None
    if matured:
        known = current[current["churn"].notna()]
        realised = realised_churn(known[["band", SCORE, "churn"]])
    test_auc = model.info.test_metrics.get("roc_auc")
    reasons = _reasons(drift, realised, test_auc, settings)
    lap("realised")

    # Every figure is computed: now the files, named by the run so that earlier summaries
    # keep their own reports, and removed again if a later step fails.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stem = f"{batch.label}-{now:%Y%m%dT%H%M%SZ}"
    folder = (reports_dir or settings.reports_dir).expanduser().resolve()
    reports: dict[str, Path] = {}
    try:
        _write_reports(reports, folder / stem, compared, drift, realised, settings, now)
        lap("reports")
        summary = _summary(
            compared, absent, drift, segments, definition, matured, realised, test_auc,
            reasons, reports, settings, now,
        )  # fmt: skip
        log_to_run(
            summary.mlflow_run_id,
            f"monitoring/{stem}",
            files=reports.values(),
            documents={"summary.json": summary.model_dump(mode="json")},
        )
        report_id = save_report(engine, batch.id, batch.model_version, summary)
    except BaseException:
        for path in reports.values():
            path.unlink(missing_ok=True)
        raise
    lap("store")
    return MonitorRun(report_id, batch, summary, reports, seconds)


@dataclass(frozen=True)
class _Compared:
    """What a run compares: the batch's listed accounts against the model's reference."""

    batch: BatchInfo
    source: str  # where the reference came from
    reference: pd.DataFrame
    listed: pd.DataFrame  # the batch's accounts without the exit band
    current: pd.DataFrame  # all of the batch's accounts in the dataset, with labels if matured


def _drift(
    compared: _Compared, model: ChurnModel, settings: Settings
) -> tuple[Drift, list[dict[str, object]]]:
    """Drift of the listed accounts from the reference, overall and by segment."""
    batch, reference, listed = compared.batch, compared.reference, compared.listed
    categorical = list(model.categories)
    drift = measure_drift(
        reference,
        listed,
        model.features,
        categorical,
        settings.drift_threshold,
        settings.drift_share,
        title=f"{batch.label}: {len(listed):,} accounts against model v{batch.model_version}'s "
        f"training reference ({compared.source}: {len(reference):,} rows)",
    )
    segments = segment_drift(
        reference,
        listed,
        [f for f in drift.features["feature"] if f not in drift.missing],
        categorical,
        settings.drift_threshold,
    )
    return drift, segments


def _write_reports(
    reports: dict[str, Path],
    stem: Path,
    compared: _Compared,
    drift: Drift,
    realised: Realised | None,
    settings: Settings,
    now: dt.datetime,
) -> None:
    """The drift report and, once realised churn has both classes, the classification
    report; each path goes into `reports` as soon as it is written (the caller removes them
    if a later step fails)."""
    batch, source, reference, current = (
        compared.batch,
        compared.source,
        compared.reference,
        compared.current,
    )
    about = [
        f"批次 / batch {batch.id} · 评估日期 / snapshot {batch.snapshot_date} · "
        f"模型 / model {batch.model_name} v{batch.model_version} · 监测时间 / monitored at "
        f"{now:%Y-%m-%d %H:%M} UTC",
        f"本批 / batch: {len(compared.listed):,} 户 accounts (正在办理销户/减容的除外 / in exit "
        f"process left out) · 参照 / reference: {source}, 抽样 {len(reference):,} 行 / a "
        f"sample of {len(reference):,} rows (同样行数取自每个评估月 / the same number from "
        f"every snapshot)",
    ]
    reports["drift"] = _write(
        drift.save_html,
        stem.with_name(f"{stem.name}-drift.html"),
        [
            "数据与评分漂移（PSI）/ data and score drift (PSI), "
            f"PSI ≥ {settings.drift_threshold:g} 为漂移 / counts as drifted",
            *about,
        ],
    )
    if realised is None or realised.roc_auc is None:
        return
    # The reference's test rows: the model's own training rows would flatter it.
    tested = reference[reference["part"] == "test"] if "part" in reference else reference
    scored = current[(current["band"] != EXIT) & current["churn"].notna()]
    reports["realised"] = _write(
        lambda path: save_classification_html(
            tested,
            scored,
            path,
            title=f"{batch.label}: realised churn against predicted "
            f"(reference: the model's test rows)",
            threshold=settings.medium_probability,
        ),
        stem.with_name(f"{stem.name}-realised.html"),
        [
            "实际流失与预测对比 / realised churn against predicted; 参照为模型的测试集 / "
            f"reference: the model's test rows ({len(tested):,}); 判为流失的概率阈值 / "
            f"probability threshold {settings.medium_probability:g}",
            *about,
        ],
    )


def _summary(
    compared: _Compared,
    absent: int,
    drift: Drift,
    segments: list[dict[str, object]],
    definition: ChurnDefinition,
    matured: bool,
    realised: Realised | None,
    test_auc: float | None,
    reasons: list[RetrainReason],
    reports: dict[str, Path],
    settings: Settings,
    now: dt.datetime,
) -> MonitoringSummary:
    """The summary stored with the batch and logged to MLflow."""
    batch, reference = compared.batch, compared.reference
    ripe = matures_on(batch.snapshot_date, definition)
    return MonitoringSummary(
        batch_id=batch.id,
        snapshot_date=batch.snapshot_date,
        model_version=batch.model_version,
        mlflow_run_id=training_run(batch.model_version),
        monitored_at=now,
        reference=_reference(compared.source, reference),
        current_rows=len(compared.listed),
        accounts_not_in_dataset=absent,
        settings=MonitoringThresholds(
            method="psi",
            drift_threshold=settings.drift_threshold,
            drift_share=settings.drift_share,
            max_auc_drop=settings.max_auc_drop,
        ),
        drift=_drift_summary(drift),
        segments=[SegmentDrift.model_validate(segment) for segment in segments],
        churn_definition=definition.model_dump(),
        horizon_months=definition.horizon_months,
        matures_on=ripe,
        realised=None if realised is None else RealisedChurn.model_validate(realised.as_dict()),
        realised_note_zh="已到期" if matured else f"观察期未满，{ripe} 后可评估",
        realised_note_en="matured"
        if matured
        else f"the horizon has not passed: labels mature on {ripe}",
        test_roc_auc=test_auc,
        retrain_recommended=bool(reasons),
        reasons=reasons,
        reports={kind: str(path) for kind, path in reports.items()},
    )


def _reference(source: str, reference: pd.DataFrame) -> ReferenceSample:
    times = (
        pd.to_datetime(reference["snapshot_date"]).dropna()
        if "snapshot_date" in reference
        else pd.Series([], dtype="datetime64[us]")
    )
    return ReferenceSample(
        source=source,
        rows=len(reference),
        snapshots=sorted({pd.Timestamp(d).date() for d in times}),
    )


def _drift_summary(drift: Drift) -> DriftSummary:
    return DriftSummary(
        features_compared=len(drift.features),
        drifted_share=drift.drifted_share,
        drifted=drift.drifted,
        missing=drift.missing,
        score_psi=drift.score_psi,
        score_drifted=drift.score_drifted,
        not_compared=drift.not_compared,
        features=[
            FeatureDrift(
                feature=str(row.feature),
                psi=_number(row.psi),
                drifted=bool(row.drifted),
                missing=bool(row.missing),
                missing_share=_number(row.missing_share),
            )
            for row in drift.features.itertuples(index=False)
        ],
    )
