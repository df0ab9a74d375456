"""Features of a partitioned dataset on a Dask cluster, the same as in one process.

Each partition (data/partitioned.py: every row of an account in one part number of every
table) is loaded, validated and turned into features on a worker by the same functions the
single-process path uses (`load_partition`, `build_snapshots`). Two things cross partitions,
and both go through the client as small reductions:
- the extract date (`Tables.data_end`, which the labels and the exit process read): each
  partition's latest month, the maximum taken and given back to every partition;
- the industry peer medians (features less their industry's median at T): each partition's
  few compared columns are gathered, `peer_medians` takes the exact medians over all of
  them, and the table is broadcast to the workers, where `against_peers` applies it.
The frame is therefore identical, column by column, to `build_features` on the whole
dataset (tests/features/test_distributed.py); its rows come partition after partition.
Every task submitted is counted as it finishes (`Tasks`: the futures' done callbacks), so
the command shows a progress bar of the cluster's tasks.

Dask is imported inside the functions only: the serving process and the single-process path
never load it (tests/architecture checks this).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from retention.data import partitioned
from retention.data.dataset import Dataset
from retention.data.loading import InvalidDatasetError, validate_partition
from retention.data.report import ValidationReport
from retention.features.catalogue import Catalogue, load_catalogue
from retention.features.labels import ChurnDefinition
from retention.features.snapshot import (
    against_peers,
    build_snapshots,
    labelled_rows,
    peer_medians,
    sample_share,
    sampled_accounts,
    snapshot_index,
    snapshot_range,
    too_short,
)
from retention.features.sources import Tables

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)
TaskProgress = Callable[[int, int], None]  # tasks finished, tasks submitted so far

# No medians yet: the first pass leaves the features against the industry missing (cheap)
# and `against_peers` fills them once every partition's values are known.
NO_PEERS = pd.DataFrame(
    {
        "industry_code": pd.Series([], dtype=object),
        "feature": pd.Series([], dtype=object),
        "median": pd.Series([], dtype=float),
        "peers": pd.Series([], dtype=int),
    }
)


@contextmanager
def cluster_client(
    scheduler: str | None = None,
    local_workers: int | None = None,
    memory_limit: str | float = "auto",
    processes: bool = True,
) -> Iterator[Client]:
    """A Dask client: on the cluster at `scheduler` (tcp://host:8786), else on a
    LocalCluster of `local_workers` single-threaded workers with `memory_limit` each
    (processes=False keeps them in this process: tests)."""
    from distributed import Client, LocalCluster

    # the workers' start and stop lines would bury the job's own output at INFO
    logging.getLogger("distributed").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    if not local_workers:
        raise ValueError("give a scheduler address or a number of local workers")
    with (
        LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=processes,
            memory_limit=memory_limit,
            dashboard_address=":0",  # any free port: several jobs may run on one machine
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def build_features_distributed(
    client: Client,
    folder: Path,
    snapshot: pd.Timestamp | str,
    catalogue: Catalogue | None = None,
    definition: ChurnDefinition | None = None,
    task_progress: TaskProgress | None = None,
) -> pd.DataFrame:
    """One snapshot's features of a partitioned dataset on the cluster, indexed by
    customer_id; the same frame as `build_features` on the whole dataset."""
    frame = build_snapshots_distributed(
        client, folder, [snapshot], catalogue, definition, task_progress=task_progress
    )
    return frame.droplevel("snapshot_date")


@dataclass(frozen=True)
class TrainingSet:
    """A training set gathered from the cluster: its rows, and the share of accounts they
    are (1.0: every account; less when the whole set was over its budget) with the whole
    set's rows and bytes, so the run can say what it was trained on."""

    frame: pd.DataFrame
    share: float = 1.0
    whole_rows: int = 0
    whole_bytes: int = 0


def build_training_set_distributed(
    client: Client,
    folder: Path,
    catalogue: Catalogue | None = None,
    definition: ChurnDefinition | None = None,
    max_rows: int | None = None,
    max_bytes: int | None = None,
    task_progress: TaskProgress | None = None,
) -> TrainingSet:
    """The training set of a partitioned dataset on the cluster: every month with enough
    history and a complete label window, with labels; the same as `build_training_set`.
    When it has more than `max_rows` rows or would take more than `max_bytes` here, a share
    of the accounts is sampled on the workers (`sampled_accounts`: all of an account's rows
    or none) so that it has neither, and only those rows cross to the client."""
    definition = definition or ChurnDefinition()
    spread = snapshots_on_workers(
        client, folder, None, catalogue, definition, with_labels=True, task_progress=task_progress
    )
    # the rows left out are left on the workers: only the training rows cross to the client
    labelled = spread.tasks.watch(list(client.map(labelled_rows, spread.frames)))
    del spread  # each partition's features and Dataset, released once its rows are taken
    sizes = client.gather(list(client.map(_frame_size, labelled)))
    rows, size = sum(r for r, _ in sizes), sum(b for _, b in sizes)
    share = sample_share(rows, max_rows, size, max_bytes)
    if share < 1:
        labelled = list(client.map(sampled_accounts, labelled, share=share))
    return TrainingSet(gather_frames(client, labelled), share, rows, size)


def build_snapshots_distributed(
    client: Client,
    folder: Path,
    snapshots: Iterable[pd.Timestamp | str] | None,
    catalogue: Catalogue | None = None,
    definition: ChurnDefinition | None = None,
    with_labels: bool = False,
    task_progress: TaskProgress | None = None,
) -> pd.DataFrame:
    """Features of every active account at every snapshot (None: the training snapshots),
    indexed by (snapshot_date, customer_id); the same frame as `build_snapshots`.
    `task_progress` hears of every task submitted and finished.

    Raises InvalidDatasetError listing every partition's problems when one breaks the
    contract (nothing is computed from a partly valid dataset).
    """
    spread = snapshots_on_workers(
        client, folder, snapshots, catalogue, definition, with_labels, task_progress
    )
    return gather_frames(client, spread.frames)


def snapshots_on_workers(
    client: Client,
    folder: Path,
    snapshots: Iterable[pd.Timestamp | str] | None,
    catalogue: Catalogue | None = None,
    definition: ChurnDefinition | None = None,
    with_labels: bool = False,
    task_progress: TaskProgress | None = None,
) -> Spread:
    """Every partition's features at the snapshots (None: the training snapshots), left on
    the workers: `Spread.frames` are futures, in part order; `task_progress` hears of every
    task submitted and finished."""
    catalogue = catalogue or load_catalogue()
    definition = definition or ChurnDefinition()
    spread = load_spread(client, Path(folder), Tasks(task_progress))
    dates = (
        snapshot_index(snapshots)
        if snapshots is not None
        else snapshot_range(spread.first, spread.data_end, definition)
    )
    if dates.empty:
        raise too_short(definition)
    return features_on_workers(client, spread, dates, catalogue, definition, with_labels)


def gather_frames(client: Client, frames: list[Any]) -> pd.DataFrame:
    """The partitions' frames (futures) gathered as one, in part order."""
    frame = concat_frames(client.gather(frames))
    log.info("gathered %d rows from %d partitions", len(frame), len(frames))
    return frame


def _frame_size(frame: pd.DataFrame) -> tuple[int, int]:
    """A partition's frame's rows and what it takes in memory, index and text included."""
    return len(frame), int(frame.memory_usage(deep=True, index=True).sum())


class Tasks:
    """The job's tasks on the cluster, counted as they finish (a progress bar's figures).
    The futures' done callbacks run on the client's threads, hence the lock."""

    def __init__(self, progress: TaskProgress | None = None) -> None:
        self.progress = progress
        self.submitted = 0
        self.finished = 0
        self._lock = threading.Lock()

    def watch(self, futures: list[Any]) -> list[Any]:
        """The futures (a `client.map`'s), each counted when it finishes or fails."""
        if self.progress is None:
            return futures
        with self._lock:
            self.submitted += len(futures)
            self.progress(self.finished, self.submitted)
        for future in futures:
            future.add_done_callback(self._finished)
        return futures

    def _finished(self, _future: Any) -> None:
        assert self.progress is not None
        with self._lock:
            self.finished += 1
            self.progress(self.finished, self.submitted)


@dataclass(frozen=True)
class Spread:
    """A partitioned dataset on the workers: each partition's Dataset (futures, in part
    order), the dataset's first month and extract date, and once features are built each
    partition's frame (futures) and each snapshot's industry medians; the job's tasks."""

    datasets: list[Any]
    first: pd.Timestamp
    data_end: pd.Timestamp
    frames: list[Any] = field(default_factory=list)
    medians: dict[pd.Timestamp, pd.DataFrame] = field(default_factory=dict)
    tasks: Tasks = field(default_factory=Tasks)


def load_spread(client: Client, folder: Path, tasks: Tasks | None = None) -> Spread:
    """Every partition read and validated on a worker, kept there; the months reduced.

    Raises InvalidDatasetError listing every partition's problems when one breaks the contract.
    """
    tasks = tasks or Tasks()
    with _stage("partitions read and validated"):
        loaded = _load_partitions(client, Path(folder), tasks)
        spans = client.gather(tasks.watch(client.map(_months, loaded)))
    return Spread(loaded, min(s[0] for s in spans), max(s[1] for s in spans), tasks=tasks)


def features_on_workers(
    client: Client,
    spread: Spread,
    dates: pd.DatetimeIndex,
    catalogue: Catalogue,
    definition: ChurnDefinition,
    with_labels: bool = False,
) -> Spread:
    """Each partition's features at the snapshots, against the medians of every partition,
    left on the workers (futures); the medians kept for the batch."""
    watch = spread.tasks.watch
    with _stage("features of each partition"):
        kept = watch(
            client.map(
                _first_pass,
                spread.datasets,
                dates=dates,
                data_end=spread.data_end,
                catalogue=catalogue,
                definition=definition,
                with_labels=with_labels,
            )
        )
        columns = client.gather(watch(client.map(_peer_columns, kept, catalogue=catalogue)))
    with _stage("industry medians taken and applied"):
        values = concat_frames(columns)
        when = values.index.get_level_values("snapshot_date")
        medians = {
            date: peer_medians(
                values[when == date], values["industry_code"][when == date], catalogue
            )
            for date in dates
        }
        broadcast = client.scatter(medians, broadcast=True)
        final = watch(client.map(_against_peers, kept, catalogue=catalogue, medians=broadcast))
    return replace(spread, frames=list(final), medians=medians)


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """Log how long a step of the distributed job took (where a cluster's time goes)."""
    began = time.perf_counter()
    yield
    log.info("%s: %.1f s", name, time.perf_counter() - began)


def _load_partitions(client: Client, folder: Path, tasks: Tasks) -> list[Any]:
    """Each partition loaded and validated on a worker (futures of Datasets); every
    partition's problems in one InvalidDatasetError when any has one."""
    lay = partitioned.layout(folder)
    report = ValidationReport(source=str(folder))
    report.problems.extend(lay.problems())
    if not lay.parts:
        raise ValueError(f"{folder}: not a partitioned dataset (no customers/part-*.parquet)")
    who, units = client.scatter([partitioned.owners(lay), partitioned.units(lay)], broadcast=True)
    checked = tasks.watch(
        client.map(
            validate_partition, [lay] * len(lay.parts), lay.parts, who=who, units=units, pure=False
        )
    )
    outcome = client.gather(tasks.watch(client.map(_outcome, checked)))
    for problems, warnings in outcome:
        report.problems.extend(problems)
        report.warnings.extend(warnings)
    if report.problems:
        raise InvalidDatasetError(report)
    return tasks.watch(client.map(_dataset_of, checked))


def _outcome(report: ValidationReport) -> tuple[list, list]:
    """What the client needs of a partition's report: its problems and warnings."""
    return report.problems, report.warnings


def _dataset_of(report: ValidationReport) -> Dataset:
    assert report.dataset is not None
    return report.dataset


def _months(dataset: Dataset) -> tuple[pd.Timestamp, pd.Timestamp]:
    """This partition's first month and extract date (the day after its latest month)."""
    first = min(dataset.monthly_usage["month"].min(), dataset.monthly_billing["month"].min())
    return pd.Timestamp(first), Tables(dataset).data_end


def _first_pass(
    dataset: Dataset,
    dates: pd.DatetimeIndex,
    data_end: pd.Timestamp,
    catalogue: Catalogue,
    definition: ChurnDefinition,
    with_labels: bool,
) -> pd.DataFrame:
    """A partition's features at the snapshots, the whole dataset's extract date in force,
    without the features against the industry (filled by `_against_peers`)."""
    tables = Tables(dataset)
    tables.data_end = data_end  # the dataset's, not this partition's latest month
    return build_snapshots(
        tables, dates, catalogue, definition, with_labels=with_labels, peers=NO_PEERS
    )


def _against_peers(
    frame: pd.DataFrame, catalogue: Catalogue, medians: dict[pd.Timestamp, pd.DataFrame]
) -> pd.DataFrame:
    """Each snapshot's rows against that snapshot's medians, in the frame's row order
    (build_snapshots: snapshot after snapshot)."""
    when = frame.index.get_level_values("snapshot_date")
    parts = [against_peers(frame[when == date], catalogue, medians[date]) for date in medians]
    return pd.concat(parts) if parts else frame


def _peer_columns(frame: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """The columns the industry medians are taken of, and the industry."""
    names = sorted({f.peer_of for f in catalogue.features if f.peer_of and f.peer_of in frame})
    return frame[[*names, "industry_code"]]


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' frames as one, their categorical columns over the union of categories
    (sorted, as one process's categories of the whole customers table are)."""
    categorical = [
        c for c in frames[0].columns if isinstance(frames[0][c].dtype, pd.CategoricalDtype)
    ]
    for column in categorical:
        union = pd.Index(np.unique(np.concatenate([f[column].cat.categories for f in frames])))
        for f in frames:  # the gathered copies: ours to change
            f[column] = f[column].cat.set_categories(union)
    return pd.concat(frames)
