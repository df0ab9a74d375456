"""The scoring job: the champion model on a dataset at a snapshot, into the store as a batch."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from retention.data.io import Dataset
from retention.features.catalogue import load_catalogue
from retention.scoring.batch import ScoredList, score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.settings import Settings
from retention.store.batches import BatchInfo, Progress, batch_info, save_batch
from retention.training.registry import MODEL_NAME, configure, load_champion


@dataclass(frozen=True)
class ScoringRun:
    batch: BatchInfo
    scored: ScoredList
    seconds: dict[str, float]  # features, predict, reasons, actions, store


def run_scoring(
    settings: Settings,
    dataset: Dataset,
    engine: Engine,
    snapshot: pd.Timestamp | None = None,
    scored_on: dt.date | None = None,
    progress: Progress | None = None,
) -> ScoringRun:
    """Score every account active at the snapshot with the champion and store the batch.

    Due dates count working days from `scored_on` (default: today, the day the list is
    handed to the team).
    """
    configure(settings.tracking_uri)
    version, model = load_champion()
    calendar = WorkingCalendar()
    scored = score_snapshot(
        dataset,
        model,
        load_catalogue(),
        load_playbook(),
        calendar,
        capacity=settings.capacity,
        medium_probability=settings.medium_probability,
        snapshot=snapshot,
        scored_on=scored_on or dt.date.today(),
    )
    started = time.perf_counter()
    batch_id = save_batch(
        engine,
        scored,
        model_name=MODEL_NAME,
        model_version=version,
        capacity=settings.capacity,
        scored_on=scored_on or dt.date.today(),
        progress=progress,
    )
    seconds = {**scored.seconds, "store": time.perf_counter() - started}
    return ScoringRun(batch=batch_info(engine, batch_id), scored=scored, seconds=seconds)
