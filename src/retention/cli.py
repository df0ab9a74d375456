"""The `retention` command: one thin command per job; the work lives in the packages."""

from __future__ import annotations

import datetime
import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape  # error texts hold keys like [from 0 kV], which are not markup

from retention.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pandas as pd
    from rich.progress import Progress, TaskID
    from sqlalchemy import Engine

    from retention.data.dataset import Dataset
    from retention.data.simulator import SimulationConfig
    from retention.records.applications import WatchRun
    from retention.training.config import TrainingConfig
    from retention.training.pipeline import TrainingRows

app = typer.Typer(
    help="Key-account churn prediction and retention (大客户流失预警与挽留).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DatasetDir = Annotated[
    Path, typer.Argument(help="Dataset folder: one CSV or Parquet file per table.")
]
Encoding = Annotated[
    str | None,
    typer.Option(help="Force the CSV encoding (utf-8, utf-8-sig, gb18030); default: detect."),
]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Set up logging when a job starts (never at import)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def validate(
    folder: DatasetDir,
    encoding: Encoding = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a dataset against the data contract and report every problem at once."""
    from retention.data.loading import validate_dataset

    with err_console.status("校验中 / validating ..."):
        report = validate_dataset(folder, encoding=encoding)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        report.print(console)
    raise typer.Exit(0 if report.ok else 1)


Scheduler = Annotated[
    str | None,
    typer.Option(
        help="Run on the Dask cluster at this scheduler, e.g. tcp://host:8786 (default: "
        "RETENTION_DASK_SCHEDULER); needs a partitioned dataset (retention partition)."
    ),
]
LocalWorkers = Annotated[
    int | None,
    typer.Option(min=1, help="Run on a Dask LocalCluster of N worker processes on this machine."),
]
WorkerMemory = Annotated[
    str, typer.Option(help="Memory limit of each --local-cluster worker, e.g. 6GB (auto: share).")
]


@app.command()
def features(
    folder: DatasetDir,
    snapshot: Annotated[str, typer.Option(help="Snapshot date T, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Output file: .parquet or .csv.")],
    encoding: Encoding = None,
    scheduler: Scheduler = None,
    local_cluster: LocalWorkers = None,
    worker_memory: WorkerMemory = "auto",
) -> None:
    """Write one snapshot's feature frame (active accounts at T, data before T only)."""
    from retention.features.export import SUFFIXES, write_feature_frame

    when = _date(snapshot, "--snapshot")
    if out.suffix.lower() not in SUFFIXES:
        raise typer.BadParameter(f"{out} must end in .parquet or .csv", param_hint="--out")
    address = scheduler or Settings().dask_scheduler
    if address or local_cluster:
        _features_on_cluster(folder, when, out, address, local_cluster, worker_memory)
        return
    dataset = _load(folder, encoding)
    with err_console.status("计算特征 / building features ..."):
        rows = write_feature_frame(dataset, when, out)
    console.print(f"{rows:,} 个账户 / accounts -> {out}")


def _features_on_cluster(
    folder: Path,
    when: pd.Timestamp,
    out: Path,
    scheduler: str | None,
    local_workers: int | None,
    worker_memory: str,
) -> None:
    """`retention features` on a Dask cluster: every partition on a worker."""
    from retention.data.loading import InvalidDatasetError
    from retention.features.distributed import build_features_distributed, cluster_client
    from retention.features.export import write_frame_at

    _require_partitioned(folder)
    with cluster_client(scheduler, local_workers, worker_memory) as client:
        err_console.print(f"Dask 控制台 / dashboard: {client.dashboard_link}")
        try:
            with _bars() as bars:
                shown = _shown(bars, "集群计算特征 / features: tasks")
                frame = build_features_distributed(client, folder, when, task_progress=shown)
        except InvalidDatasetError as err:
            err.report.print(err_console)
            raise typer.Exit(1) from err
    rows = write_frame_at(frame, when, out)
    console.print(f"{rows:,} 个账户 / accounts -> {out}")


@contextmanager
def _bars() -> Iterator[Progress]:
    """Progress bars on stderr for a job on a cluster (gone when it ends): each bar a count,
    e.g. the cluster's tasks finished of those submitted so far (each step submits its own,
    so the total grows as the job goes)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bars:
        yield bars


def _shown(bars: Progress, description: str) -> Callable[[int, int], None]:
    """A (done, total) callback driving a bar, added when it first hears of work."""
    task: list[TaskID] = []

    def show(done: int, total: int) -> None:
        if not task:
            task.append(bars.add_task(description, total=total))
        bars.update(task[0], completed=done, total=total)

    return show


def _require_partitioned(folder: Path) -> None:
    """A cluster option on a plain folder: refused before a cluster starts."""
    from retention.data.partitioned import is_partitioned

    if not is_partitioned(folder):
        raise typer.BadParameter(
            f"{folder}: 集群计算需要分区数据集 / a cluster needs a partitioned dataset "
            "(retention partition DIR --out DIR)",
            param_hint="FOLDER",
        )


@app.command()
def partition(
    folder: DatasetDir,
    out: Annotated[Path, typer.Option(help="Folder to write the partitioned dataset to.")],
    partitions: Annotated[
        int, typer.Option(min=1, help="Partitions: part files per table (by account).")
    ] = 16,
    encoding: Encoding = None,
) -> None:
    """Write a dataset as a partitioned Parquet dataset for the Dask jobs: each table a
    folder of N part files, all rows of an account in the same part number; a simulated
    dataset's hidden truth (_truth/) is copied along."""
    from retention.data.partitioned import write_partitioned_folder
    from retention.data.simulator import TRUTH_DIR

    if out.resolve() == folder.resolve():
        raise typer.BadParameter("write to another folder than the one read", param_hint="--out")
    dataset = _load(folder, encoding)
    with err_console.status("分区写入 / writing partitions ..."):
        files = write_partitioned_folder(dataset.tables(), out, partitions, folder / TRUTH_DIR)
    console.print(
        f"{len(dataset.customers):,} 个账户 / accounts, {partitions} 个分区 / partitions, "
        f"{len(files)} 个文件 / files -> {out}"
    )


@app.command("train-withdrawal")
def train_withdrawal(
    folder: Annotated[
        Path | None, typer.Argument(help="Dataset folder (default: the demo dataset).")
    ] = None,
    encoding: Encoding = None,
) -> None:
    """Train the applicants' withdrawal model (业扩报装撤销风险) out of time, compare it with
    the rule "any step overdue" and a logistic regression, track it in MLflow, register it and
    make it the champion unless the champion does better."""
    from retention.applications.clocks import load_service_clocks
    from retention.applications.withdrawal import NoApplications, applicants_of
    from retention.scoring.calendar import WorkingCalendar
    from retention.scoring.playbook import load_playbook
    from retention.settings import ConfigFileError
    from retention.training import withdrawal

    settings = Settings()
    folder = folder or settings.dataset_dir
    dataset = _load(folder, encoding)
    try:
        clocks = load_service_clocks(roles=load_playbook().roles)
        applicants = applicants_of(dataset)
        with err_console.status("训练中 / training ..."):
            result = withdrawal.train_withdrawal(
                applicants,
                clocks,
                WorkingCalendar(),
                settings.tracking_uri,
                oracle=withdrawal.simulator_oracle(folder),
            )
    except (ConfigFileError, NoApplications, withdrawal.NotEnoughApplications) as err:
        err_console.print(f"[red]无法训练 / cannot train:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err
    result.print(console)


@app.command()
def effects(
    folder: Annotated[
        Path | None, typer.Argument(help="Dataset folder (default: the demo dataset).")
    ] = None,
    encoding: Encoding = None,
    from_store: Annotated[
        bool,
        typer.Option(
            help="Also learn from the store's assignments at the capacity edge and the "
            "team's follow-ups (as `retention export-interventions` writes them)."
        ),
    ] = False,
) -> None:
    """Train the effect model of each retention action (挽留行动效果) on the randomised
    follow-ups and controls in interventions, out of time, track it in MLflow and print, per
    action, the evidence and the Qini of the model against the oracle's (on the simulator);
    store each action's effect with its interval by segment (GET /v1/effects, /effects)."""
    from dataclasses import replace

    from retention.training import effects as effect_models
    from retention.training.evidence import print_evidence

    settings = Settings()
    folder = folder or settings.dataset_dir
    dataset = _load(folder, encoding)
    store = _open_store(settings)
    if from_store:
        from retention.store.assignments import interventions_table, with_store_interventions

        stored = interventions_table(store)
        console.print(f"库中分配与跟进 / from the store: {len(stored):,} 条 rows")
        dataset = replace(
            dataset, interventions=with_store_interventions(dataset.interventions, stored)
        )
    with err_console.status("训练中 / training ..."):
        result = effect_models.train_effects(
            dataset,
            settings.tracking_uri,
            truth=effect_models.simulator_effects(folder),
            source=f"dataset:{folder.name}",
            store=store,
        )
    result.print(console)
    if result.evidence is not None:
        print_evidence(result.evidence, console)


@app.command("export-interventions")
def export_interventions(
    out: Annotated[Path, typer.Option(help="Output file, .csv (UTF-8 with BOM) or .parquet.")],
) -> None:
    """Write the store's assignments at the capacity edge and the team's follow-ups as an
    interventions table in the data contract (put it in a dataset folder as
    interventions.csv, or run `retention effects --from-store`)."""
    from retention.data.writing import FRAME_SUFFIXES, write_frame
    from retention.store.assignments import interventions_table

    if out.suffix.lower() not in FRAME_SUFFIXES:
        raise typer.BadParameter(f"{out} must end in .parquet or .csv", param_hint="--out")
    table = interventions_table(_open_store(Settings()))
    try:
        write_frame(table, out)
    except OSError as err:
        err_console.print(
            f"[red]无法导出 / cannot export:[/red] {err.filename or out}: {err.strerror}"
        )
        raise typer.Exit(1) from err
    held = int(table["assignment"].eq("held_out").sum())
    console.print(
        f"{len(table):,} 条干预记录 / interventions ({int(table['randomised'].sum()):,} 随机 "
        f"randomised, {held:,} 对照 held out) -> {out}"
    )


def _open_store(settings: Settings) -> Engine:
    """The store, or a clear stop when it cannot be opened."""
    from retention.store.database import StoreError, open_store

    try:
        return open_store(settings.store_url)
    except StoreError as err:
        err_console.print(f"[red]无法打开数据库 / cannot open the store:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err


@app.command()
def train(
    folder: Annotated[
        Path | None, typer.Argument(help="Dataset folder (default: the demo dataset).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Training config YAML.")] = None,
    table: Annotated[Path | None, typer.Option(help="Train on your own feature table.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Id column of --table.")] = None,
    label_column: Annotated[str | None, typer.Option(help="0/1 label column of --table.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Time column: split by time.")] = None,
    test_table: Annotated[Path | None, typer.Option(help="Evaluate on this table.")] = None,
    predictions_out: Annotated[
        Path | None, typer.Option(help="Write id and probability of the test rows.")
    ] = None,
    scheduler: Scheduler = None,
    local_cluster: LocalWorkers = None,
    worker_memory: WorkerMemory = "auto",
) -> None:
    """Train, calibrate, compare with baselines, track in MLflow, register the model.

    With --scheduler/--local-cluster the training set of a partitioned dataset is built on
    the cluster and the model fitted in this process on the gathered rows."""
    from retention.data.loading import InvalidDatasetError
    from retention.data.writing import FRAME_SUFFIXES
    from retention.training.config import ConfigError, load_config
    from retention.training.pipeline import TrainingStopped, fit_evaluate_log
    from retention.training.rows import TableError, rows_from_table

    if predictions_out is not None and predictions_out.suffix.lower() not in FRAME_SUFFIXES:
        raise typer.BadParameter(
            f"{predictions_out} must end in .parquet or .csv", param_hint="--predictions-out"
        )
    settings = Settings()
    try:
        training = load_config(config, settings.horizon_months)
        if table is not None:
            if id_column is None or label_column is None:
                raise typer.BadParameter("--table needs --id-column and --label-column")
            with err_console.status("准备训练数据 / building training rows ..."):
                rows = rows_from_table(table, id_column, label_column, time_column, test_table)
            run_name = f"table:{table.name}"
        else:
            source = folder or settings.dataset_dir
            address = scheduler or settings.dask_scheduler
            rows = _training_rows(source, training, address, local_cluster, worker_memory)
            run_name = f"dataset:{source.name}"
        with err_console.status("训练中 / training ..."):
            result = fit_evaluate_log(
                rows, training, settings.capacity, settings.tracking_uri, run_name
            )
    except InvalidDatasetError as err:
        err.report.print(err_console)
        raise typer.Exit(1) from err
    except (ConfigError, TableError, ValueError) as err:
        err_console.print(f"[red]无法训练 / cannot train:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err
    except TrainingStopped as err:  # SIGTERM: the MLflow run is already ended FAILED
        err_console.print(f"[red]训练已停止 / training {err}[/red]: its MLflow run is FAILED")
        raise typer.Exit(128 + err.signum) from err
    result.print(console)
    if predictions_out is not None:
        from retention.data.writing import write_frame

        write_frame(result.predictions, predictions_out)
        console.print(f"predictions -> {predictions_out}")


def _training_rows(
    folder: Path,
    training: TrainingConfig,
    scheduler: str | None,
    local_workers: int | None,
    worker_memory: str,
) -> TrainingRows:
    """The dataset's training rows: in this process, or built on a Dask cluster (a
    partitioned dataset, its tasks' progress shown) and gathered; the cluster is closed
    before the fit starts."""
    from retention.training.rows import rows_from_dataset

    if not (scheduler or local_workers):
        with err_console.status("准备训练数据 / building training rows ..."):
            return rows_from_dataset(folder, training)
    from retention.features.distributed import cluster_client

    _require_partitioned(folder)
    with cluster_client(scheduler, local_workers, worker_memory) as client:
        err_console.print(f"Dask 控制台 / dashboard: {client.dashboard_link}")
        with _bars() as bars:
            shown = _shown(bars, "集群构建训练集 / training set: tasks")
            return rows_from_dataset(folder, training, client, task_progress=shown)


@app.command()
def tune(
    folder: Annotated[
        Path | None, typer.Argument(help="Dataset folder (default: the demo dataset).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Training config YAML to start from.")] = None,
    table: Annotated[Path | None, typer.Option(help="Tune on your own feature table.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Id column of --table.")] = None,
    label_column: Annotated[str | None, typer.Option(help="0/1 label column of --table.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Time column: split by time.")] = None,
    test_table: Annotated[Path | None, typer.Option(help="The test rows (left out).")] = None,
    trials: Annotated[int, typer.Option(min=1, help="Trials the study should have.")] = 30,
    minutes: Annotated[float | None, typer.Option(min=0, help="Stop after this long.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Tuned config (default: training/tuned-NAME.yaml).")
    ] = None,
) -> None:
    """Search LightGBM's parameters on the validation rows (Optuna, resumable, each trial an
    MLflow run) and write the best as a training config for `retention train --config`."""
    from retention.data.loading import InvalidDatasetError
    from retention.training.config import ConfigError, load_config
    from retention.training.pipeline import TrainingStopped
    from retention.training.rows import TableError, rows_from_dataset, rows_from_table
    from retention.training.tuning import tune as run_tune

    settings = Settings()
    try:
        base = load_config(config, settings.horizon_months)
        with err_console.status("准备训练数据 / building training rows ..."):
            if table is not None:
                if id_column is None or label_column is None:
                    raise typer.BadParameter("--table needs --id-column and --label-column")
                rows = rows_from_table(table, id_column, label_column, time_column, test_table)
            else:
                rows = rows_from_dataset(folder or settings.dataset_dir, base)
        target = out or Path("training") / f"tuned-{base.name}.yaml"
        result = run_tune(
            rows, base, target, settings.work_dir, settings.tracking_uri, trials, minutes
        )
    except InvalidDatasetError as err:
        err.report.print(err_console)
        raise typer.Exit(1) from err
    except (ConfigError, TableError, ValueError) as err:
        err_console.print(f"[red]无法调参 / cannot tune:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err
    except TrainingStopped as err:  # SIGTERM: the study continues next time
        err_console.print(f"[red]调参已停止 / tuning {err}[/red]: run it again to continue")
        raise typer.Exit(128 + err.signum) from err
    result.print(console)


@app.command()
def promote(
    version: Annotated[
        str | None, typer.Option(help="Version to promote (default: latest).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote even if the gate refuses.")] = False,
) -> None:
    """Make a registered model the champion if it is not worse than the current one."""
    from retention.model.registry import configure
    from retention.training.promotion import PromotionRefused
    from retention.training.promotion import promote as promote_version

    configure(Settings().tracking_uri)
    try:
        decision = promote_version(version, force=force)
    except PromotionRefused as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    except ValueError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    console.print(decision.text())


@app.command()
def score(
    folder: Annotated[
        Path | None, typer.Argument(help="Dataset folder (default: the demo dataset).")
    ] = None,
    snapshot: Annotated[
        str | None,
        typer.Option(help="Snapshot date YYYY-MM-DD (default: the month after the latest data)."),
    ] = None,
    encoding: Encoding = None,
    scheduler: Scheduler = None,
    local_cluster: LocalWorkers = None,
    worker_memory: WorkerMemory = "auto",
) -> None:
    """Score every active account with the champion and store the list as a new batch."""
    from retention.model.compatibility import CatalogueMismatch
    from retention.model.registry import NoChampion
    from retention.scoring.job import run_scoring
    from retention.store.database import StoreError, open_store

    settings = Settings()
    when = _date(snapshot, "--snapshot") if snapshot else None
    source = folder or settings.dataset_dir
    address = scheduler or settings.dask_scheduler
    if address or local_cluster:
        _score_on_cluster(settings, source, when, address, local_cluster, worker_memory)
        return
    dataset = _load(source, encoding)
    try:
        engine = open_store(settings.store_url)
        with err_console.status("评分中 / scoring ..."):
            run = run_scoring(settings, dataset, engine, snapshot=when)
    except (NoChampion, CatalogueMismatch, StoreError) as err:
        err_console.print(f"[red]无法评分 / cannot score:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err
    run.print(console)


def _score_on_cluster(
    settings: Settings,
    folder: Path,
    when: pd.Timestamp | None,
    scheduler: str | None,
    local_workers: int | None,
    worker_memory: str,
) -> None:
    """`retention score` on a Dask cluster: each partition scored on a worker, the batch
    stored whole by this process (nothing stored when a worker fails)."""
    from retention.data.loading import InvalidDatasetError
    from retention.features.distributed import cluster_client
    from retention.model.compatibility import CatalogueMismatch
    from retention.model.registry import NoChampion
    from retention.scoring.job import run_scoring_on_cluster
    from retention.store.database import StoreError, open_store

    _require_partitioned(folder)
    try:
        engine = open_store(settings.store_url)
        with cluster_client(scheduler, local_workers, worker_memory) as client:
            err_console.print(f"Dask 控制台 / dashboard: {client.dashboard_link}")
            with _bars() as bars:
                run = run_scoring_on_cluster(
                    settings,
                    client,
                    folder,
                    engine,
                    snapshot=when,
                    progress=_shown(bars, "写入批次 / batch rows stored"),
                    task_progress=_shown(bars, "集群评分 / scoring: tasks"),
                )
    except InvalidDatasetError as err:
        err.report.print(err_console)
        raise typer.Exit(1) from err
    except (NoChampion, CatalogueMismatch, StoreError) as err:
        err_console.print(f"[red]无法评分 / cannot score:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err
    run.print(console)


@app.command()
def monitor(
    folder: Annotated[
        Path | None,
        typer.Argument(help="Dataset folder the batch was scored from (default: the demo)."),
    ] = None,
    batch: Annotated[int | None, typer.Option(help="Batch id (default: the latest).")] = None,
    matured: Annotated[
        bool,
        typer.Option(
            "--matured",
            help="The latest batch whose horizon has passed in the data (realised churn).",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the HTML reports (default: <work_dir>/reports).")
    ] = None,
    encoding: Encoding = None,
) -> None:
    """Drift and realised-churn reports of a batch against its model's training reference.

    Exit status: 0 healthy; 3 retraining recommended (reasons printed, stored); 1 cannot monitor.
    """
    from retention.monitoring.job import RETRAIN_EXIT_CODE, MonitorError, run_monitoring
    from retention.store.batches import BatchNotFound
    from retention.store.database import StoreError, open_store

    settings = Settings()
    dataset = _load(folder or settings.dataset_dir, encoding)
    try:
        engine = open_store(settings.store_url)
        with err_console.status("监测中 / monitoring ..."):
            run = run_monitoring(
                settings, dataset, engine, batch_id=batch, reports_dir=out, matured_only=matured
            )
    except (BatchNotFound, MonitorError, StoreError) as err:
        err_console.print(f"[red]无法监测 / cannot monitor:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err
    except OSError as err:  # the reports folder cannot be written: nothing was stored
        err_console.print(
            f"[red]无法写入报告 / cannot write the report:[/red] {err.filename}: {err.strerror}"
        )
        raise typer.Exit(1) from err
    run.print(console)
    raise typer.Exit(RETRAIN_EXIT_CODE if run.retrain_recommended else 0)


@app.command()
def export(
    batch: Annotated[int | None, typer.Option(help="Batch id (default: the latest).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "xlsx",
    lang: Annotated[str, typer.Option(help="zh or en: headers and texts.")] = "zh",
    out: Annotated[
        Path | None, typer.Option(help="Output file (default: outputs/<batch>-<lang>.<format>).")
    ] = None,
) -> None:
    """Write a scored batch as CSV (UTF-8 with BOM) or a formatted Excel workbook."""
    from retention.scoring.export import FORMATS, default_name, write_export
    from retention.store.batches import BatchNotFound, load_batch
    from retention.store.database import StoreError, open_store

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}: choose csv or xlsx", param_hint="--format")
    if lang not in ("zh", "en"):
        raise typer.BadParameter(f"{lang!r}: choose zh or en", param_hint="--lang")
    settings = Settings()
    try:
        stored = load_batch(open_store(settings.store_url), batch)
    except (BatchNotFound, StoreError) as err:
        err_console.print(f"[red]无法导出 / cannot export:[/red] {escape(str(err))}")
        raise typer.Exit(1) from err
    target = out or settings.outputs_dir / default_name(stored, fmt, lang)  # type: ignore[arg-type]
    try:
        write_export(stored, fmt, target, lang)  # type: ignore[arg-type]
    except OSError as err:  # the folder cannot be made or written: nothing was written
        err_console.print(
            f"[red]无法导出 / cannot export:[/red] {err.filename or target}: {err.strerror}"
        )
        raise typer.Exit(1) from err
    console.print(f"{len(stored.scores):,} 个账户 / accounts -> {target}")


@app.command()
def applications(
    folder: DatasetDir,
    date: Annotated[
        str | None,
        typer.Option(
            help="Watch date YYYY-MM-DD: only what happened before it is known "
            "(default: today in Beijing, or the data's end if earlier)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the per-step watch list: FILE.csv or FILE.xlsx.")
    ] = None,
    rows: Annotated[int, typer.Option(min=0, help="Applications to print (0: all).")] = 50,
    kpis_out: Annotated[
        Path | None,
        typer.Option(
            help="Print the period's KPIs per unit and write them: FILE.xlsx or FILE.csv."
        ),
    ] = None,
    period_start: Annotated[
        str | None,
        typer.Option(help="KPI period start YYYY-MM-DD (default: January 1 of --date's year)."),
    ] = None,
    period_end: Annotated[
        str | None,
        typer.Option(help="KPI period end YYYY-MM-DD, not included (default: --date)."),
    ] = None,
    store: Annotated[
        bool, typer.Option(help="Keep the run in the store for the API and the page.")
    ] = True,
    encoding: Encoding = None,
) -> None:
    """The open connection applications (业扩报装) at a date: their steps' service clocks, the
    risk that each withdraws (with a trained withdrawal model) and the follow-ups due, those
    with overdue steps first; with --kpis-out, the period's assessment figures too."""
    from retention.applications.export import (
        SUFFIXES,
        print_model_note,
        print_summary,
        write_watch_list,
    )
    from retention.applications.job import run_watch, watch_setup
    from retention.applications.withdrawal import NoApplications
    from retention.settings import ConfigFileError

    if out is not None and out.suffix.lower() not in SUFFIXES:
        raise typer.BadParameter(f"{out} must end in .csv or .xlsx", param_hint="--out")
    if kpis_out is not None and kpis_out.suffix.lower() not in SUFFIXES:
        raise typer.BadParameter(f"{kpis_out} must end in .csv or .xlsx", param_hint="--kpis-out")
    given = _date(date, "--date").date() if date else None
    if given is not None:  # a wrong period is refused before anything is read
        _kpi_period(given, period_start, period_end)
    try:
        setup = watch_setup(Settings())
    except ConfigFileError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    dataset = _load(folder, encoding)
    try:
        as_of = given or _watch_date(dataset)
        period = _kpi_period(as_of, period_start, period_end)
        run = run_watch(setup, dataset, as_of, period)
    except NoApplications as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    print_summary(console, run.applications, setup.clocks, as_of, rows)
    print_model_note(console, setup.model.info if setup.model else None, setup.model_version)
    if store:
        _store_watch_run(run)
    if out is not None:
        _write_or_exit(
            lambda: write_watch_list(run.clocks, setup.clocks, setup.playbook.roles, out), out
        )
        console.print(f"{len(run.clocks):,} 个环节时限 / step clocks -> {out}")
    if kpis_out is not None:
        from retention.applications.export import print_kpis, write_kpis

        print_kpis(console, run.kpis, *period)
        _write_or_exit(lambda: write_kpis(run.kpis, setup.clocks, kpis_out), kpis_out)
        console.print(f"{len(run.kpis):,} 行考核指标 / KPI rows -> {kpis_out}")


def _watch_date(dataset: Dataset) -> datetime.date:
    """Today in Beijing, or the data's end when the extract is older: after it, every clock
    still running in the extract would count on as if nothing had happened since."""
    from retention.applications.withdrawal import applicants_of
    from retention.data.local_time import local_today

    today, end = local_today(), applicants_of(dataset).data_end.date()
    if end < today:
        console.print(
            f"评估日期 / watch date: {end}（数据截止日 / the data's end; --date to choose）"
        )
        return end
    return today


def _store_watch_run(run: WatchRun) -> None:
    """Keep a watch run in the store: the API and the 业扩报装 page show the latest."""
    from retention.store.applications import write_watch_run
    from retention.store.database import StoreError, open_store

    try:
        run_id = write_watch_run(open_store(Settings().store_url), run)
    except StoreError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    console.print(f"已保存 / stored as watch run {run_id}: the API and the 业扩报装 page show it")


def _write_or_exit(write: Callable[[], object], out: Path) -> None:
    """Write a file; an OS error ends the command with the file and the reason."""
    try:
        write()
    except OSError as err:
        err_console.print(
            f"[red]无法写入 / cannot write:[/red] {err.filename or out}: {err.strerror}"
        )
        raise typer.Exit(1) from err


def _kpi_period(
    as_of: datetime.date, start: str | None, end: str | None
) -> tuple[datetime.date, datetime.date]:
    """The KPI period [start, end): by default the calendar year to date of `as_of`."""
    first = _date(start, "--period-start").date() if start else as_of.replace(month=1, day=1)
    last = _date(end, "--period-end").date() if end else as_of
    if last < first:
        raise typer.BadParameter(
            f"{last} is before the period start {first}", param_hint="--period-end"
        )
    return first, last


@app.command()
def tariff(
    folder: DatasetDir,
    customer: Annotated[str, typer.Option(help="The account's customer_id (户号).")],
    date: Annotated[
        str | None,
        typer.Option(
            help="The 12 whole months before this date YYYY-MM-DD (default: the month after "
            "the latest reading)."
        ),
    ] = None,
    shift: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of peak kWh moved to valley.")
    ] = 0.1,
    encoding: Encoding = None,
) -> None:
    """The account's electricity price and bill plan (电价电费方案): its last 12 months
    recomputed from the tariff tables beside the billed amounts, and what each alternative the
    rules allow (the other basic-charge mode, the power factor at its standard, peak energy
    moved to valley, all three) would have saved."""
    from retention.settings import ConfigFileError
    from retention.tariffs.calculator import TariffNotInForce, UnknownCustomer, account_comparison
    from retention.tariffs.report import print_comparison
    from retention.tariffs.tables import load_tariffs

    as_of = _date(date, "--date") if date else None
    try:
        tables = load_tariffs()
    except ConfigFileError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    dataset = _load(folder, encoding)
    try:
        comparison = account_comparison(dataset, tables, customer, as_of, shift)
    except (UnknownCustomer, TariffNotInForce) as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    if customer not in comparison.accounts.index:
        err_console.print(
            f"[red]户号 {customer} 在 {comparison.first_month:%Y-%m} 起的 12 个月没有抄表电量 / "
            f"account {customer} has no usage in the 12 months from "
            f"{comparison.first_month:%Y-%m}[/red]"
        )
        raise typer.Exit(1)
    print_comparison(console, comparison, customer, tables)


@app.command()
def batches() -> None:
    """List the scoring batches in the store, newest first (running and failed ones too)."""
    from rich.table import Table

    from retention.store.batches import list_batches
    from retention.store.database import StoreError, open_store

    try:
        found = list_batches(open_store(Settings().store_url))
    except StoreError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    table = Table("batch", "status", "snapshot", "model", "accounts", "created (UTC)")
    for info in found:
        table.add_row(
            str(info.id),
            info.status,
            str(info.snapshot_date),
            f"v{info.model_version}",
            "" if info.accounts is None else f"{info.accounts:,}",
            str(info.created_at),
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=16)] = 1,
) -> None:
    """Serve the HTTP API (and its docs at /docs) with the champion and the store."""
    import uvicorn

    console.print(f"API: http://{host}:{port}/v1  ·  docs: http://{host}:{port}/docs")
    uvicorn.run(
        "retention.serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # query strings can hold a searched customer name; /metrics counts
    )


keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="crm, retention or admin.")],
    name: Annotated[str, typer.Option(help="Who holds the key, e.g. crm-prod.")],
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from retention.store.database import open_store
    from retention.store.keys import create_key

    try:
        key, info = create_key(open_store(Settings().store_url), role, name)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    err_console.print(f"key {info.prefix} ({info.role}, {info.name}); shown once, keep it safe:")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """The keys in the store (prefix, role, name; never the key)."""
    from rich.table import Table

    from retention.store.database import open_store
    from retention.store.keys import list_keys

    table = Table("prefix", "role", "name", "created (UTC)", "revoked (UTC)")
    for info in list_keys(open_store(Settings().store_url)):
        table.add_row(
            info.prefix, info.role, info.name, str(info.created_at), str(info.revoked_at or "")
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (keys list).")],
) -> None:
    """Revoke a key: it stops working at once."""
    from retention.store.database import open_store
    from retention.store.keys import revoke_key

    if revoke_key(open_store(Settings().store_url), prefix) == 0:
        err_console.print(f"[red]no active key with prefix {prefix}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {prefix}")


users_app = typer.Typer(help="People who sign in to the web page.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User name to sign in with.")],
    role: Annotated[str, typer.Option(help="retention or admin.")] = "retention",
    display_name: Annotated[str | None, typer.Option(help="Name shown on the page.")] = None,
    manager_id: Annotated[
        str | None, typer.Option(help="The account manager id this person is (my accounts).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user, or set a new password and role for an existing one."""
    import sys

    from retention.store.database import open_store
    from retention.store.users import create_user, get_user_by_name

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password / 密码", hide_input=True, confirmation_prompt=True)
    engine = open_store(Settings().store_url)
    existed = get_user_by_name(engine, name.strip()) is not None
    try:
        person = create_user(engine, name, password, role, display_name, manager_id)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    console.print(f"user {person.username} ({person.role}) can sign in")
    if existed:
        console.print("已结束其原有会话 / their earlier sessions have ended: sign in again")


@users_app.command("deactivate")
def users_deactivate(
    name: Annotated[str, typer.Argument(help="User name of the person leaving.")],
) -> None:
    """Stop a person signing in; their sessions end at once (the user row stays, for history)."""
    from retention.store.database import open_store
    from retention.store.users import deactivate_user

    if not deactivate_user(open_store(Settings().store_url), name):
        console.print(f"[red]没有用户 / no user named {name!r}[/]")
        raise typer.Exit(1)
    console.print(f"user {name} can no longer sign in; their sessions have ended")


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write the dataset to.")],
    accounts: Annotated[int, typer.Option(min=10, help="Number of key accounts.")] = 3000,
    months: Annotated[int, typer.Option(min=13, max=240, help="Months of history.")] = 36,
    start: Annotated[str, typer.Option(help="First month, YYYY-MM.")] = "2023-11",
    seed: Annotated[int, typer.Option(help="Same seed, same dataset.")] = 20261129,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            help="A shift from a month, KIND:YYYY-MM:TARGET:CHANGE, e.g. "
            "tariff_reform:2026-06:large_industry:+0.3 or industry_downturn:2026-03:C31:-0.4 "
            "(repeatable)."
        ),
    ] = None,
    variant: Annotated[
        str,
        typer.Option(
            help="The hidden churn process: base, weak-signal, short-lead, no-lead, low-churn "
            "or high-churn (docs/simulator.md)."
        ),
    ] = "base",
    campaigns: Annotated[
        bool,
        typer.Option(
            help="Add past retention campaigns: follow-ups with known effects, randomised at "
            "the team's capacity edge, in interventions (docs/simulator.md)."
        ),
    ] = False,
    tariffs: Annotated[
        Path | None,
        typer.Option(
            help="The tariff tables (电价表) the bills are made by, so `retention tariff` with "
            "the same tables recomputes them to the cent (default: RETENTION_TARIFFS, else the "
            "packaged example province)."
        ),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(min=1, help="Write a partitioned Parquet dataset of N parts (Dask jobs)."),
    ] = None,
    chunk_accounts: Annotated[
        int | None,
        typer.Option(
            min=10,
            help="With --partitions: simulate N accounts at a time straight into the part "
            "files, so memory is bounded by a chunk (a million accounts); each chunk has its "
            "own seed from --seed, so the data differ from the one-frame simulation's.",
        ),
    ] = None,
) -> None:
    """Write a simulated key-account portfolio (and its hidden truth under _truth/)."""
    from retention.data.simulator import simulate_to_folder

    config = _simulation_config(
        accounts, months, start, seed, scenario, variant, campaigns, tariffs
    )
    if partitions and fmt != "parquet":
        raise typer.BadParameter("a partitioned dataset is Parquet only", param_hint="--format")
    if chunk_accounts is not None:
        from retention.data.simulator.chunked import simulate_partitioned

        if not partitions:
            raise typer.BadParameter(
                "分块模拟需要 --partitions / needs --partitions", param_hint="--chunk-accounts"
            )
        summary = simulate_partitioned(config, out, partitions, chunk_accounts, err_console)
    else:
        summary = simulate_to_folder(config, out, fmt, err_console, partitions)
    summary.print(console)


def _simulation_config(
    accounts: int,
    months: int,
    start: str,
    seed: int,
    scenario: list[str] | None,
    variant: str,
    campaigns: bool,
    tariffs: Path | None,
) -> SimulationConfig:
    """The simulation the options describe; a bad option is named before anything is written."""
    from retention.data.simulator import SimulationConfig, variants
    from retention.data.simulator.campaigns import CampaignPolicy
    from retention.data.simulator.scenarios import Scenario

    try:
        variants.get(variant)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--variant") from err
    try:
        shifts = tuple(Scenario.parse(text) for text in scenario or [])
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--scenario") from err
    tariffs = _checked_tariffs(tariffs or Settings().tariffs_file)
    try:
        config = SimulationConfig(
            accounts=accounts,
            months=months,
            start=start,
            seed=seed,
            scenarios=shifts,
            variant=variant,
            campaigns=CampaignPolicy() if campaigns else None,
            tariffs=tariffs,
        )
    except ValueError as err:  # a start the simulator cannot write valid data for
        raise typer.BadParameter(str(err), param_hint="--start") from err
    return config


def _checked_tariffs(path: Path) -> Path:
    """The tariff tables a simulation bills by; a bad table is named before anything is written."""
    from retention.data.tariff_tables import load_tariffs
    from retention.settings import ConfigFileError

    try:
        load_tariffs(path)
    except ConfigFileError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from err
    return path


@app.command()
def demo(
    serve: Annotated[bool, typer.Option(help="End by serving the API (Ctrl-C stops).")] = True,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """The main job on embedded defaults: simulate, validate, train, promote, score, export,
    serve."""
    from retention.demo import run_demo

    run_demo(Settings(), console, serve=serve, port=port)


def _load(folder: Path, encoding: str | None) -> Dataset:
    """Load and validate a dataset; an invalid one stops the job with its report."""
    from retention.data.loading import InvalidDatasetError, load_dataset

    try:
        with err_console.status("读取并校验数据 / reading and validating ..."):
            return load_dataset(folder, encoding=encoding)
    except InvalidDatasetError as err:
        err.report.print(err_console)
        raise typer.Exit(1) from err


def _date(text: str, option: str) -> pd.Timestamp:
    import pandas as pd

    try:
        return pd.Timestamp(datetime.date.fromisoformat(text))
    except ValueError as err:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from err


if __name__ == "__main__":  # pragma: no cover
    app()
