"""The main job on embedded defaults (`make run`): the demo portfolio from end to end."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from sqlalchemy import Engine

from retention.settings import Settings

if TYPE_CHECKING:
    from retention.data.dataset import Dataset
    from retention.data.simulator import SimulationConfig
    from retention.store.batches import BatchInfo


def run_demo(settings: Settings, console: Console, serve: bool = True, port: int = 8000) -> None:
    """Simulate the demo portfolio (unless RETENTION_DATA_DIR names real data), validate it,
    train, compare and register a model, promote it through the champion gate, score the
    portfolio into the store, export the list (CSV and Excel) and write its drift report;
    train the applicants' withdrawal model and store the watch run of their applications; then
    serve the API on 127.0.0.1 with a fresh admin key (until Ctrl-C)."""
    from retention.data.loading import load_dataset
    from retention.store.database import open_store

    folder = settings.dataset_dir
    _dataset(settings, console, folder)
    _train_and_promote(settings, console, folder)
    engine = open_store(settings.store_url)
    dataset = load_dataset(folder)  # validated above; loaded once for scoring and applicants
    batch, exports = _score_and_export(settings, console, dataset, engine)
    reports = _monitor(settings, console, folder, batch)
    exports += _applicants(settings, console, dataset, engine)
    _effects(settings, console, dataset)
    _summary(settings, console, folder, exports + reports)
    if serve:
        _serve(settings, console, engine, port)


def _dataset(settings: Settings, console: Console, folder: Path) -> None:
    """Steps 1-2: the demo portfolio simulated (or the user's folder), then validated."""
    from retention.data.loading import validate_dataset
    from retention.data.simulator import simulate_to_folder

    if settings.data_dir is None:
        console.rule("1. 模拟大客户数据 / simulate the demo portfolio")
        summary = simulate_to_folder(demo_simulation(settings), folder, console=console)
        summary.print(console)
    else:
        console.print(f"使用已有数据 / using the dataset in {folder}")

    console.rule("2. 校验数据 / validate against the data contract")
    report = validate_dataset(folder)
    report.print(console)
    if not report.ok:
        raise SystemExit(1)


def demo_simulation(settings: Settings) -> SimulationConfig:
    """The demo portfolio: the settings' size, start and seed, with a history of retention
    campaigns (follow-ups randomised at the capacity edge, in interventions) so the demo's
    effect models have randomised outcomes to learn from."""
    from retention.data.simulator import SimulationConfig
    from retention.data.simulator.campaigns import CampaignPolicy

    return SimulationConfig(
        accounts=settings.demo_accounts,
        months=settings.demo_months,
        start=settings.demo_start,
        seed=settings.demo_seed,
        campaigns=CampaignPolicy(),
    )


def _train_and_promote(settings: Settings, console: Console, folder: Path) -> None:
    """Steps 3-4: train, compare with the baselines, register; the champion gate decides."""
    from retention.training.config import load_config
    from retention.training.pipeline import fit_evaluate_log
    from retention.training.promotion import PromotionRefused, promote
    from retention.training.rows import rows_from_dataset

    console.rule("3. 训练、比较、登记 / train, compare with baselines, register")
    training = load_config(horizon_months=settings.horizon_months)
    with console.status("训练中 / training ..."):
        rows = rows_from_dataset(folder, training)
        result = fit_evaluate_log(rows, training, settings.capacity, settings.tracking_uri, "demo")
    result.print(console)
    console.rule("4. 晋级 / promote")
    try:
        decision = promote(result.version)
        console.print(decision.text())
    except PromotionRefused as refused:  # the gate said no: the previous champion stays
        console.print(str(refused))


def _score_and_export(
    settings: Settings, console: Console, dataset: Dataset, engine: Engine
) -> tuple[BatchInfo, list[Path]]:
    """Steps 5-6: the portfolio scored into the store; the list as a workbook and a CSV."""
    from retention.scoring.export import default_name, write_export
    from retention.scoring.job import run_scoring
    from retention.store.batches import load_batch

    console.rule("5. 评分 / score the portfolio into the store")
    with console.status("评分中 / scoring ..."):
        run = run_scoring(settings, dataset, engine)
    run.print(console)
    console.rule("6. 导出 / export the scored list")
    stored = load_batch(engine, run.batch.id)
    exports = [
        write_export(stored, fmt, settings.outputs_dir / default_name(stored, fmt, "zh"), "zh")
        for fmt in ("xlsx", "csv")
    ]
    return run.batch, exports


def _monitor(settings: Settings, console: Console, folder: Path, batch: BatchInfo) -> list[Path]:
    """Step 7: the batch's drift report, in a child process: Evidently (seconds to import, a
    large footprint) never enters the process that goes on to serve."""
    console.rule("7. 监测 / monitor: drift from the training reference")
    child = {  # the settings this run was given, whatever the environment said
        "RETENTION_WORK_DIR": str(settings.work_dir),
        "RETENTION_DATABASE_URL": settings.store_url,
        "RETENTION_MLFLOW_TRACKING_URI": settings.tracking_uri,
    }
    monitored = subprocess.run(
        [sys.executable, "-m", "retention", "monitor", str(folder), "--batch", str(batch.id)],
        env={**os.environ, **child},
        check=False,
    )
    if monitored.returncode not in (0, 3):
        console.print("[yellow]监测未完成 / monitoring did not finish (see above)[/]")
    return sorted(settings.reports_dir.glob(f"{batch.label}-*.html"))


def _applicants(
    settings: Settings, console: Console, dataset: Dataset, engine: Engine
) -> list[Path]:
    """Step 8: the connection applicants (业扩报装), when the dataset has them: the withdrawal
    model trained and promoted by its gate, then the watch run at the data's end stored and
    its watch list written."""
    from retention.applications.export import write_watch_list
    from retention.applications.job import run_watch, watch_setup
    from retention.applications.withdrawal import applicants_of
    from retention.data.local_time import local_today
    from retention.store.applications import write_watch_run
    from retention.training.withdrawal import (
        NotEnoughApplications,
        simulator_oracle,
        train_withdrawal,
    )

    if dataset.applications is None:
        return []
    console.rule("8. 业扩报装 / connection applicants: withdrawal model and watch list")
    setup = watch_setup(settings)
    applicants = applicants_of(dataset)
    try:
        with console.status("训练中 / training ..."):
            trained = train_withdrawal(
                applicants,
                setup.clocks,
                setup.calendar,
                settings.tracking_uri,
                oracle=simulator_oracle(dataset.folder),
            )
        trained.print(console)
        setup = watch_setup(settings)  # the champion, if the gate let the new model in
    except NotEnoughApplications as err:  # the watch list still works without a model
        console.print(f"[yellow]{err}[/]")
    # The watch date: today, or the data's end when the extract is older (a watch after the
    # extract would count every running clock on as if nothing had happened since).
    as_of = min(local_today(), applicants.data_end.date())
    run = run_watch(setup, dataset, as_of)
    run_id = write_watch_run(engine, run)
    overdue = int((run.applications["steps_overdue"] > 0).sum())
    console.print(
        f"{as_of} 办理中 {len(run.applications):,} 件，超期 {overdue:,} 件 / open applications "
        f"{len(run.applications):,}, overdue {overdue:,} (watch run {run_id})"
    )
    out = settings.outputs_dir / f"applications-{as_of}.xlsx"
    return [write_watch_list(run.clocks, setup.clocks, setup.playbook.roles, out)]


def _effects(settings: Settings, console: Console, dataset: Dataset) -> None:
    """Step 9: the retention actions' effect models (`retention effects`), from the
    randomised follow-ups and controls in interventions, when the dataset has them."""
    from retention.training.effects import simulator_effects, train_effects

    if dataset.interventions is None or dataset.interventions.empty:
        return
    console.rule("9. 挽留行动效果 / effects of the retention actions")
    with console.status("训练中 / training ..."):
        result = train_effects(
            dataset,
            settings.tracking_uri,
            truth=simulator_effects(dataset.folder),
            source="demo",
        )
    result.print(console)


def _summary(settings: Settings, console: Console, folder: Path, files: list[Path]) -> None:
    from retention.store.database import safe_url

    console.rule("完成 / done")
    console.print(f"数据目录 / dataset: {folder}")
    for path in files:
        what = (
            "监测报告 / monitoring report"
            if path.suffix == ".html"
            else "业扩报装时限 / applications watch list"
            if path.name.startswith("applications-")
            else "风险名单 / scored list"
        )
        console.print(f"{what}: {path}", soft_wrap=True)
    console.print(f"数据库 / store: {safe_url(settings.store_url)}")
    console.print(f"模型登记 / MLflow: {settings.tracking_uri}")
    console.print("  .venv/bin/mlflow ui --backend-store-uri " + settings.tracking_uri)


def _serve(settings: Settings, console: Console, engine: Engine, port: int) -> None:
    """Create an admin key for this run and serve the API on 127.0.0.1 until Ctrl-C."""
    import uvicorn

    from retention.serving.app import create_app
    from retention.store.keys import create_key
    from retention.store.users import create_user

    key, info = create_key(engine, "admin", "demo-admin")
    password = secrets.token_urlsafe(9)
    create_user(engine, "demo", password, "admin", display_name="演示用户 demo")
    base = f"http://127.0.0.1:{port}"
    console.rule("10. 服务 / serving the API (Ctrl-C to stop)")
    console.print(f"API:  {base}/v1/risk-list  ·  {base}/v1/applications")
    console.print(f"文档 / docs: {base}/docs")
    console.print(f"模型与监测 / model and monitoring: {base}/model")
    console.print(
        f"网页 / web page: {base}/list  登录 / sign in: demo / {password}", soft_wrap=True
    )
    console.print(f"业扩报装 / applications watch list: {base}/applications")
    console.print(
        f"管理员密钥 / admin key (shown once; revoke with `retention keys revoke {info.prefix}`):"
    )
    console.print(f"  {key}", soft_wrap=True)  # one line, so it copies whole
    console.print(
        f'  curl -H "Authorization: Bearer {key}" "{base}/v1/risk-list?band=high"', soft_wrap=True
    )
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
