"""The store: migrations, batches written whole or not at all, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from retention.records.batch import ScoredList
from retention.store.batches import (
    BatchNotFound,
    BatchRefused,
    list_batches,
    load_batch,
    reason_rows,
    save_batch,
    score_rows,
)
from retention.store.database import current_revision, head_revision, open_store
from retention.store.tables import Base, Reason, Score, ScoringBatch

SCORED_ON = dt.date(2026, 11, 30)


def _save(engine, scored: ScoredList, version: str = "1", **kwargs) -> int:  # type: ignore[no-untyped-def]
    return save_batch(engine, scored, "key-account-churn", version, 40, SCORED_ON, **kwargs)


def test_migrations_build_exactly_the_schema_the_code_queries(store_url: str) -> None:
    engine = open_store(store_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    open_store(store_url)  # opening again migrates nothing and loses nothing


def test_a_batch_reads_back_as_it_was_written(store_url: str, scored: ScoredList) -> None:
    # Given a scored list, when it is saved and loaded back
    engine = open_store(store_url)
    batch_id = _save(engine, scored)
    stored = load_batch(engine)
    # then it is the latest batch, complete, and every value is the one written
    assert stored.info.id == batch_id and stored.info.status == "complete"
    assert stored.info.accounts == len(scored.accounts) + len(scored.leaving)
    assert stored.info.snapshot_date == scored.snapshot.date()
    expected = score_rows(scored)
    pd.testing.assert_frame_equal(stored.scores, expected, check_dtype=False)
    reasons = reason_rows(scored).sort_values(["customer_id", "rank"], ignore_index=True)
    pd.testing.assert_frame_equal(stored.reasons, reasons, check_dtype=False)
    actions = scored.actions.sort_values(["customer_id", "position"], ignore_index=True)
    pd.testing.assert_frame_equal(stored.actions, actions, check_dtype=False)


def test_the_horizons_and_the_batchs_horizon_read_back(store_url: str, scored: ScoredList) -> None:
    # Given the tests' scored list (a 6-month model with timing models), saved
    engine = open_store(store_url)
    _save(engine, scored)
    stored = load_batch(engine)
    # Then the batch knows its horizon and every listed account its 1- and 3-month risk
    assert stored.info.horizon_months == 6
    listed = stored.scores[stored.scores["rank"].notna()]
    np.testing.assert_allclose(listed["probability_1m"], scored.accounts["probability_1m"])
    np.testing.assert_allclose(listed["probability_3m"], scored.accounts["probability_3m"])
    leaving = stored.scores[stored.scores["rank"].isna()]
    assert leaving[["probability_1m", "probability_3m"]].isna().all().all()
    # and a list from a model without timing models stores them as missing, not as zero
    old = replace(
        scored,
        accounts=scored.accounts.assign(probability_1m=np.nan, probability_3m=np.nan),
        horizon_months=None,
    )
    _save(engine, old)
    latest = load_batch(engine)
    assert latest.info.horizon_months is None
    assert latest.scores[["probability_1m", "probability_3m"]].isna().all().all()
    engine.dispose()


@pytest.mark.postgres
def test_sqlite_and_postgresql_hold_the_same_batch(
    tmp_path: Path, postgres_url: str, scored: ScoredList
) -> None:
    sqlite = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    postgres = open_store(postgres_url)
    _save(sqlite, scored)
    _save(postgres, scored)
    a, b = load_batch(sqlite), load_batch(postgres)
    for name in ("scores", "reasons", "actions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert (a.info.snapshot_date, a.info.accounts) == (b.info.snapshot_date, b.info.accounts)
    postgres.dispose()


def test_the_latest_is_the_newest_complete_batch_and_a_failure_leaves_nothing(
    store_url: str, scored: ScoredList
) -> None:
    engine = open_store(store_url)
    with pytest.raises(BatchNotFound, match="retention score"):
        load_batch(engine)
    first = _save(engine, scored, version="1")

    def fail_half_way(written: int, total: int) -> None:
        if written > total / 2:
            raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="disk is full"):
        _save(engine, scored, version="2", progress=fail_half_way)
    assert load_batch(engine).info.id == first
    statuses = {b.id: b.status for b in list_batches(engine)}
    assert statuses == {first: "complete", first + 1: "failed"}
    with engine.connect() as connection:
        for table in (Score, Reason):
            rows = select(func.count()).select_from(table).where(table.batch_id == first + 1)
            assert connection.execute(rows).scalar_one() == 0
    with pytest.raises(BatchNotFound, match="not complete"):
        load_batch(engine, first + 1)
    second = _save(engine, scored, version="3")
    assert load_batch(engine).info.model_version == "3"
    assert load_batch(engine, first).info.model_version == "1"
    assert second > first


def _with(scored: ScoredList, part: str, column: str, value: float) -> ScoredList:
    """The scored list with one number of its first row of `part` replaced."""
    frame = getattr(scored, part).copy()
    frame.loc[frame.index[0], column] = value
    return replace(scored, **{part: frame})


@pytest.mark.parametrize(
    ("part", "column", "value"),
    [
        ("accounts", "money_at_risk_cny", float("inf")),
        ("accounts", "expected_revenue_cny", float("inf")),
        ("accounts", "probability", float("nan")),
        ("accounts", "money_at_risk_cny", float("-inf")),
        ("leaving", "expected_revenue_cny", float("inf")),
        ("reasons", "contribution", float("nan")),
        ("reasons", "value", float("inf")),
        ("peers", "median", float("inf")),
    ],
)
def test_a_batch_with_a_number_that_is_not_finite_is_refused_and_marked_failed(
    store_url: str, scored: ScoredList, part: str, column: str, value: float
) -> None:
    # Given a complete batch in the store
    engine = open_store(store_url)
    first = _save(engine, scored, version="1")
    broken = _with(scored, part, column, value)
    # when a scored list holding a number that is not finite is saved
    with pytest.raises(BatchRefused, match=rf"{column}.*not a finite number") as refused:
        _save(engine, broken, version="2")
    # then the error names the account, the batch is failed and nothing of it is stored
    rows = getattr(broken, part)
    assert rows["customer_id" if part != "peers" else "feature"].iloc[0] in str(refused.value)
    assert load_batch(engine).info.id == first
    failed = {b.id: b for b in list_batches(engine)}[first + 1]
    assert failed.status == "failed"
    with engine.connect() as connection:
        error = connection.execute(
            select(ScoringBatch.error).where(ScoringBatch.id == first + 1)
        ).scalar_one()
        assert "BatchRefused" in error and column in error
        for table in (Score, Reason):
            rows = select(func.count()).select_from(table).where(table.batch_id == first + 1)
            assert connection.execute(rows).scalar_one() == 0


def test_missing_values_that_mean_missing_are_stored(store_url: str, scored: ScoredList) -> None:
    # An account without bills has no expected revenue; accounts leaving have no probability.
    engine = open_store(store_url)
    no_bills = _with(scored, "accounts", "expected_revenue_cny", float("nan"))
    batch = load_batch(engine, _save(engine, no_bills))
    assert batch.scores["expected_revenue_cny"].isna().sum() >= 1
    assert batch.scores.loc[batch.scores["band"] == "exit", "probability"].isna().all()


KILLED_JOB = """
import datetime as dt, os, pickle, sys, time
from retention.store.batches import save_batch
from retention.store.database import open_store

scored = pickle.load(open(sys.argv[2], "rb"))
engine = open_store(sys.argv[1])

def pause(written, total):
    if written > total / 3:
        print("half-way", flush=True)
        time.sleep(60)  # the test kills us here, mid-transaction

save_batch(engine, scored, "key-account-churn", "2", 40, dt.date(2026, 11, 30), progress=pause)
"""


def test_a_job_killed_half_way_leaves_the_previous_batch_the_latest(
    store_url: str, scored: ScoredList, tmp_path: Path
) -> None:
    import pickle

    # Given a complete batch in the store
    engine = open_store(store_url)
    previous = _save(engine, scored, version="1")
    before = load_batch(engine)
    pickled = tmp_path / "scored.pkl"
    pickled.write_bytes(pickle.dumps(scored))
    # when another scoring process is killed (SIGKILL) while writing its batch
    job = subprocess.Popen(
        [sys.executable, "-c", KILLED_JOB, store_url, str(pickled)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert job.stdout is not None
    assert job.stdout.readline().strip() == "half-way"
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)
    # then the previous batch is intact and still the latest
    engine.dispose()
    engine = open_store(store_url)
    after = load_batch(engine)
    assert after.info.id == previous
    for name in ("scores", "reasons", "actions"):
        pd.testing.assert_frame_equal(getattr(after, name), getattr(before, name))
    statuses = {b.id: b.status for b in list_batches(engine)}
    assert statuses == {previous: "complete", previous + 1: "running"}
    # and the next complete batch marks the dead one abandoned
    _save(engine, scored, version="3")
    assert {b.id: b.status for b in list_batches(engine)}[previous + 1] == "abandoned"


def test_an_older_store_is_migrated_in_place_without_losing_batches(
    tmp_path: Path, scored: ScoredList
) -> None:
    # Given a store at the first schema with a batch in it
    from sqlalchemy import insert

    from retention.store.batches import BATCHES
    from retention.store.database import engine_for, migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = engine_for(url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    with engine.begin() as connection:
        connection.execute(
            insert(BATCHES).values(
                id=1, snapshot_date=dt.date(2026, 10, 1), scored_on=SCORED_ON, model_name="m",
                model_version="1", capacity=40, status="complete", accounts=0,
                created_at=dt.datetime(2026, 10, 2),
            )
        )  # fmt: skip
    engine.dispose()
    # when a job opens it, then the schema is the newest and the old batch still reads
    engine = open_store(url)
    assert current_revision(engine) == head_revision()
    assert load_batch(engine, 1).info.snapshot_date == dt.date(2026, 10, 1)
    _save(engine, scored)
    assert load_batch(engine).scores["kwh_36m"].notna().any()
    assert load_batch(engine, 1).info.horizon_months is None  # stored before 0009
