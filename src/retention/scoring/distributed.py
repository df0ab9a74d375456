"""A scoring batch of a partitioned dataset on a Dask cluster, the same as in one process.

Each partition's accounts are scored on a worker by `score_snapshot` itself (probabilities,
reasons, the playbook's actions, tariff offers, expected effects, the account page's kWh).
What is global goes through the client:
- the features against the industry: the medians of every partition (features/distributed.py),
  which are also the batch's peer medians;
- the high band (the top K by money at risk over the whole list, K = the team's capacity):
  each partition's probabilities and money at risk are gathered (three numbers an account), the
  top K taken by `bands` and given back, so each partition's actions follow the batch's bands;
- the ranks, and in money-saved mode the accounts to visit: `combine` after gathering.
Nothing is written here: the job stores the gathered batch in one `save_batch`, so a worker
that fails or dies leaves no batch at all, and the previous one stays the latest.

Dask is imported inside the functions only (through features/distributed.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from retention.data.dataset import Dataset
from retention.features.catalogue import Catalogue
from retention.features.distributed import (
    TaskProgress,
    Tasks,
    features_on_workers,
    load_spread,
)
from retention.features.labels import ChurnDefinition
from retention.features.snapshot import snapshot_index
from retention.features.sources import Tables
from retention.model.artifact import ChurnModel
from retention.model.effects_artifact import EffectModels
from retention.records.batch import ScoredList
from retention.records.labels import HIGH
from retention.scoring import targeting as target
from retention.scoring.batch import bands, combine, listed_risk, score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import Playbook
from retention.tariffs.tables import TariffTables

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


def score_distributed(
    client: Client,
    folder: Path,
    model: ChurnModel,
    catalogue: Catalogue,
    playbook: Playbook,
    calendar: WorkingCalendar,
    capacity: int,
    medium_probability: float = 0.10,
    snapshot: pd.Timestamp | None = None,
    scored_on: dt.date | None = None,
    tariffs: TariffTables | None = None,
    effects: tuple[str, EffectModels] | None = None,
    list_mode: target.ListMode = "auto",
    task_progress: TaskProgress | None = None,
) -> ScoredList:
    """Score the accounts of a partitioned dataset active at the snapshot (default: after
    the latest data of every partition) on the cluster; the same list as `score_snapshot` on
    the whole dataset, gathered on the client. A partition's task that fails raises here;
    `task_progress` hears of every task submitted and finished."""
    spread = load_spread(client, Path(folder), Tasks(task_progress))
    watch = spread.tasks.watch
    when = pd.Timestamp(snapshot) if snapshot is not None else spread.data_end
    spread = features_on_workers(
        client, spread, snapshot_index([when]), catalogue, ChurnDefinition()
    )
    frames = watch(client.map(_one_snapshot, spread.frames))
    risk = pd.concat(client.gather(watch(client.map(listed_risk, frames, model=model))))
    band = bands(
        risk["money_at_risk_cny"].to_numpy(),
        risk["probability"].to_numpy(),
        capacity,
        medium_probability,
    )
    high = pd.Index(risk["customer_id"].to_numpy()[band == HIGH])
    shared = client.scatter(
        {"model": model, "effects": effects, "tariffs": tariffs, "high": high}, broadcast=True
    )
    parts = watch(
        client.map(
            _score_part,
            spread.datasets,
            frames,
            shared=shared,
            when=when,
            data_end=spread.data_end,
            peers=spread.medians[when],
            options={
                "catalogue": catalogue,
                "playbook": playbook,
                "calendar": calendar,
                "capacity": capacity,
                "medium_probability": medium_probability,
                "scored_on": scored_on,
            },
            pure=False,  # a batch is scored anew each time, never taken from an earlier result
        )
    )
    scored = combine(
        client.gather(parts),
        pd.Index(risk["customer_id"].to_numpy()),
        capacity,
        playbook,
        calendar,
        scored_on or when.date(),
        effects,
        list_mode,
    )
    log.info("scored %d accounts from %d partitions", len(risk), len(spread.datasets))
    return scored


def _one_snapshot(frame: pd.DataFrame) -> pd.DataFrame:
    """The one snapshot's rows indexed by customer_id, as `build_features` gives them."""
    return frame.droplevel("snapshot_date")


def _score_part(
    dataset: Dataset,
    frame: pd.DataFrame,
    shared: dict[str, Any],
    when: pd.Timestamp,
    data_end: pd.Timestamp,
    peers: pd.DataFrame,
    options: dict[str, Any],
) -> ScoredList:
    """One partition scored with the batch's peers and high band, its list ranked by money
    at risk (the client ranks the whole list)."""
    tables = Tables(dataset)
    tables.data_end = data_end  # the dataset's, not this partition's latest month
    return score_snapshot(
        tables,
        shared["model"],
        snapshot=when,
        peers=peers,
        tariffs=shared["tariffs"],
        effects=shared["effects"],
        list_mode=target.MONEY_AT_RISK,
        features=frame,
        high=shared["high"],
        **options,
    )
