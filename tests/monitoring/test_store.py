"""Monitoring summaries in the store, on SQLite and PostgreSQL: written, read back whole, the
headline taken from the latest snapshot, and one history row per batch."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from retention.store.batches import save_batch
from retention.store.database import open_store
from retention.store.monitoring import latest_report, report_by_id, report_history, save_report


def test_summaries_round_trip_and_the_headline_is_the_latest_snapshot(  # type: ignore[no-untyped-def]
    store_url: str, scored, monitored
) -> None:
    engine = open_store(store_url)
    later = save_batch(engine, scored, "m", "1", 40, dt.date(2026, 11, 30))
    earlier = save_batch(
        engine,
        dataclasses.replace(scored, snapshot=pd.Timestamp("2026-04-01")),
        "m",
        "1",
        40,
        dt.date(2026, 11, 30),
    )
    assert latest_report(engine) is None
    summary = monitored.runs["shifted"].summary  # a real summary: Chinese text, nulls, lists
    first = save_report(
        engine, later, "1", summary.model_copy(update={"snapshot_date": dt.date(2026, 11, 1)})
    )
    again = save_report(
        engine, later, "1", summary.model_copy(update={"snapshot_date": dt.date(2026, 11, 1)})
    )
    matured = monitored.runs["matured"].summary
    backfill = save_report(
        engine, earlier, "1", matured.model_copy(update={"snapshot_date": dt.date(2026, 4, 1)})
    )
    stored = report_by_id(engine, first)
    assert stored is not None and stored.summary.reasons == summary.reasons
    assert stored.retrain_recommended is summary.retrain_recommended
    # a matured batch monitored last does not take the headline from the latest snapshot
    headline = latest_report(engine)
    assert headline is not None and headline.id == again
    history = report_history(engine)
    assert [r.id for r in history] == [again, backfill]
    assert history[1].summary.realised == matured.realised
    engine.dispose()
