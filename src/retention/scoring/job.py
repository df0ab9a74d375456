"""The scoring job: the champion model on a dataset at a snapshot, into the store as a batch."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from rich.console import Console
from sqlalchemy import Engine

from retention.data.dataset import Dataset
from retention.data.local_time import local_today
from retention.features.catalogue import load_catalogue
from retention.model.artifact import ChurnModel
from retention.model.compatibility import require_catalogue
from retention.model.registry import (
    MODEL_NAME,
    configure,
    load_champion,
    load_effects_champion,
)
from retention.scoring.assignment import assign
from retention.scoring.batch import ScoredList, score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import Playbook, load_playbook
from retention.settings import Settings
from retention.store.batches import BatchInfo, Progress, batch_info, save_batch
from retention.tariffs.tables import load_tariffs

if TYPE_CHECKING:
    from distributed import Client

    from retention.features.distributed import TaskProgress


@dataclass(frozen=True)
class ScoringRun:
    batch: BatchInfo
    scored: ScoredList
    seconds: dict[str, float]  # features, predict, reasons, actions, ..., targeting, store

    def print(self, console: Console) -> None:
        """The batch in a few lines: counts by band, the top of the list, the time it took."""
        from rich.table import Table

        batch, scored = self.batch, self.scored
        counts = scored.accounts["band"].value_counts()
        console.print(
            f"批次 / batch {batch.id}: 评估日期 / snapshot {batch.snapshot_date}, "
            f"模型版本 / model v{batch.model_version}, {batch.accounts:,} 个账户 / accounts"
        )
        console.print(
            f"  高 high {counts.get('high', 0):,} · 中 medium {counts.get('medium', 0):,} · "
            f"低 low {counts.get('low', 0):,} · 正在办理销户/减容 in exit process "
            f"{len(scored.leaving):,}"
        )
        money = scored.accounts.loc[scored.accounts["band"] == "high", "money_at_risk_cny"].sum()
        console.print(f"  高风险户风险电费合计 / money at risk in the high band: {money:,.0f} 元")
        assigned = scored.assignments["assignment"]
        if len(assigned):
            seed = scored.assignments["seed"].iloc[0]
            console.print(
                f"  能力边界随机分配 / randomised at the capacity edge: {len(assigned):,} 户, "
                f"对照组 held out {int((assigned == 'held_out').sum()):,} · 跟进 followed up "
                f"{int((assigned == 'followed_up').sum()):,} (seed {seed})"
            )
        top = Table(
            "排名 rank",
            "户号 customer",
            "流失概率 P",
            "3个月内 within 3 months",
            "风险电费 money at risk (元)",
        )
        first = scored.accounts.head(5)
        # NaN from a model without timing models
        within_3 = first["probability_3m"].to_numpy(dtype=float)
        for row, soon in zip(first.itertuples(), within_3, strict=True):
            top.add_row(
                str(row.rank),
                str(row.customer_id),
                f"{row.probability:.1%}",
                "-" if np.isnan(soon) else f"{soon:.1%}",
                f"{row.money_at_risk_cny:,.0f}",
            )
        console.print(top)
        console.print(f"  排序 / list: {scored.list_reason}")
        if scored.list_mode == "money_saved":
            saved = scored.accounts["money_saved_cny"].head(batch.capacity).clip(lower=0).sum()
            console.print(
                f"  走访名单预计挽回电费合计 / expected money saved by the visit list: "
                f"{saved:,.0f} 元"
            )
        console.print(
            "  " + " · ".join(f"{step} {seconds:.1f}s" for step, seconds in self.seconds.items())
        )


def run_scoring(
    settings: Settings,
    dataset: Dataset,
    engine: Engine,
    snapshot: pd.Timestamp | None = None,
    scored_on: dt.date | None = None,
    progress: Progress | None = None,
) -> ScoringRun:
    """Score every account active at the snapshot with the champion and store the batch.

    Due dates count working days from `scored_on` (default: today in Beijing, the day the list is
    handed to the team).
    """
    version, model, inputs = _champion_and_inputs(settings, snapshot, scored_on)
    scored = score_snapshot(dataset, model, **inputs)
    return _stored(settings, engine, scored, inputs["playbook"], version, scored_on, progress)


def run_scoring_on_cluster(
    settings: Settings,
    client: Client,
    folder: Path,
    engine: Engine,
    snapshot: pd.Timestamp | None = None,
    scored_on: dt.date | None = None,
    progress: Progress | None = None,
    task_progress: TaskProgress | None = None,
) -> ScoringRun:
    """`run_scoring` of a partitioned dataset on a Dask cluster: every partition scored on
    a worker (scoring/distributed.py), the gathered batch stored whole as one batch; a
    worker's failure stores nothing, so the previous batch stays the latest. `progress`
    hears of the rows stored, `task_progress` of the cluster's tasks."""
    from retention.scoring.distributed import score_distributed

    version, model, inputs = _champion_and_inputs(settings, snapshot, scored_on)
    scored = score_distributed(client, folder, model, **inputs, task_progress=task_progress)
    return _stored(settings, engine, scored, inputs["playbook"], version, scored_on, progress)


def _champion_and_inputs(
    settings: Settings, snapshot: pd.Timestamp | None, scored_on: dt.date | None
) -> tuple[str, ChurnModel, dict[str, Any]]:
    """The champion, refused before any work when the current catalogue cannot compute it,
    and what scoring takes besides the data and the model, each file read once: the
    catalogue, playbook, calendar, settings, tariffs and the effects champion (None until
    `retention effects` found enough evidence)."""
    configure(settings.tracking_uri)
    version, model = load_champion()
    catalogue = load_catalogue()
    require_catalogue(version, model, catalogue)
    inputs = {
        "catalogue": catalogue,
        "playbook": load_playbook(),
        "calendar": WorkingCalendar(),
        "capacity": settings.capacity,
        "medium_probability": settings.medium_probability,
        "snapshot": snapshot,
        "scored_on": scored_on or local_today(),
        "tariffs": load_tariffs(settings.tariffs_file),
        "effects": load_effects_champion(),
        "list_mode": settings.list_mode,
    }
    return version, model, inputs


def _stored(
    settings: Settings,
    engine: Engine,
    scored: ScoredList,
    playbook: Playbook,
    version: str,
    scored_on: dt.date | None,
    progress: Progress | None,
) -> ScoringRun:
    """The randomised window at the capacity edge assigned, then the batch written whole."""
    scored = assign(scored, settings.capacity, playbook.assignment)
    started = time.perf_counter()
    batch_id = save_batch(
        engine,
        scored,
        model_name=MODEL_NAME,
        model_version=version,
        capacity=settings.capacity,
        scored_on=scored_on or local_today(),
        progress=progress,
    )
    seconds = {**scored.seconds, "store": time.perf_counter() - started}
    return ScoringRun(batch=batch_info(engine, batch_id), scored=scored, seconds=seconds)
