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
from retention.scoring.assignment import assign
from retention.scoring.playbook import load_playbook
from retention.store.batches import (
    BatchNotFound,
    BatchRefused,
    list_batches,
    load_batch,
    load_peer_medians,
    reason_rows,
    save_batch,
    score_rows,
)
from retention.store.database import current_revision, head_revision, open_store
from retention.store.risk import account_risk
from retention.store.tables import Action, Assignment, Base, Reason, Score, ScoringBatch

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


def _awkward(scored: ScoredList) -> ScoredList:
    """The scored list with texts COPY must escape: tabs, newlines, backslashes, quotes, its
    own null marker, an empty text (not missing), and Chinese."""
    accounts = scored.accounts.copy()
    accounts["customer_name"] = accounts["customer_name"].astype(object)
    accounts.loc[accounts.index[0], "customer_name"] = '华东\t"电力"\\N 公司\n二期\\'
    accounts.loc[accounts.index[1], "region"] = ""
    accounts.loc[accounts.index[2], "customer_name"] = None
    return replace(scored, accounts=accounts)


@pytest.mark.postgres
def test_sqlite_and_postgresql_hold_the_same_batch(
    tmp_path: Path, postgres_url: str, scored: ScoredList, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the same scored list (with awkward texts) saved in SQLite and, by COPY, PostgreSQL
    from retention.store import batches

    copied: list[str] = []
    copy_table = batches._copy_table

    def spy(connection, table, *args):  # type: ignore[no-untyped-def]
        copied.append(table.name)
        copy_table(connection, table, *args)

    monkeypatch.setattr(batches, "_copy_table", spy)
    awkward = assign(_awkward(scored), 40, load_playbook().assignment)
    assert len(awkward.assignments) and len(awkward.peers)
    sqlite = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    postgres = open_store(postgres_url)
    first = _save(sqlite, awkward)
    second = _save(postgres, awkward)
    assert set(copied) == {"scores", "reasons", "actions", "peer_medians", "expected_effects",
                           "assignments"}  # fmt: skip
    # when both are read back, then every table holds the same values, missing ones, dates
    a, b = load_batch(sqlite), load_batch(postgres)
    for name in ("scores", "reasons", "actions", "effects", "assignments"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    pd.testing.assert_frame_equal(
        load_peer_medians(sqlite, first).sort_values(
            ["industry_code", "feature"], ignore_index=True
        ),
        load_peer_medians(postgres, second).sort_values(
            ["industry_code", "feature"], ignore_index=True
        ),
    )
    assert (a.info.snapshot_date, a.info.accounts) == (b.info.snapshot_date, b.info.accounts)
    # and they are the values written: texts as they were, an empty text is not missing
    names = b.scores.set_index("customer_id")
    ids = awkward.accounts["customer_id"]
    assert names.loc[ids.iloc[0], "customer_name"] == awkward.accounts["customer_name"].iloc[0]
    assert names.loc[ids.iloc[1], "region"] == ""
    assert pd.isna(names.loc[ids.iloc[2], "customer_name"])
    assert b.actions["due_date"].map(type).eq(dt.date).all()
    assert b.actions["text_zh"].str.contains("[\u4e00-\u9fff]").all()
    assert b.scores.loc[b.scores["band"] == "exit", "probability"].isna().all()
    postgres.dispose()


def test_a_batch_the_database_refuses_half_way_leaves_the_previous_one_the_latest(
    store_url: str, scored: ScoredList
) -> None:
    # Given a complete batch, and a next one whose last table breaks a constraint of the
    # database (a propensity of 0): every other table is written before it fails
    engine = open_store(store_url)
    first = _save(engine, scored, version="1")
    broken = assign(scored, 40, load_playbook().assignment)
    assignments = broken.assignments.copy()
    assignments.loc[assignments.index[-1], "assignment_probability"] = 0.0
    broken = replace(broken, assignments=assignments)
    # when it is saved, then the write fails, the batch is failed and holds no rows
    # (SQLAlchemy's IntegrityError on SQLite; psycopg's CheckViolation from the COPY)
    with pytest.raises(Exception, match="propensity"):
        _save(engine, broken, version="2")
    assert load_batch(engine).info.id == first
    assert {b.id: b.status for b in list_batches(engine)} == {
        first: "complete",
        first + 1: "failed",
    }
    with engine.connect() as connection:
        for table in (Score, Reason, Action, Assignment):
            rows = select(func.count()).select_from(table).where(table.batch_id == first + 1)
            assert connection.execute(rows).scalar_one() == 0
    engine.dispose()


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


def test_the_tariff_plan_offers_read_back(store_url: str, scored: ScoredList) -> None:
    # Given a scored list whose tariff_plan actions carry offers
    offered = scored.actions[scored.actions["plan_code"].notna()]
    assert not offered.empty
    # when it is saved and read back, whole and account by account
    engine = open_store(store_url)
    batch_id = _save(engine, scored)
    stored = load_batch(engine).actions
    # then each offer is the one written, and every other action has none
    back = stored[stored["plan_code"].notna()].set_index(["customer_id", "code"])
    written = offered.set_index(["customer_id", "code"])
    pd.testing.assert_frame_equal(
        back[["plan_code", "saving_cny", "plan_detail"]].sort_index(),
        written[["plan_code", "saving_cny", "plan_detail"]].sort_index(),
        check_dtype=False,
    )
    assert stored.loc[stored["code"] != "tariff_plan", "saving_cny"].isna().all()
    customer = offered["customer_id"].iloc[0]
    risk = account_risk(engine, batch_id, customer)
    assert risk is not None
    action = next(a for a in risk[2] if a["code"] == "tariff_plan")
    assert action["plan_code"] == offered["plan_code"].iloc[0]
    assert action["saving_cny"] == pytest.approx(offered["saving_cny"].iloc[0])
    engine.dispose()


def test_actions_stored_before_0010_have_no_offer(tmp_path: Path) -> None:
    # Given a store at 0009 holding a batch with a tariff_plan action
    from sqlalchemy import text

    from retention.store.database import engine_for, migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = engine_for(url)
    migrate(engine, "0009")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO scoring_batches (id, snapshot_date, scored_on, model_name, "
                "model_version, capacity, status, accounts, created_at) VALUES (1, '2026-10-01', "
                "'2026-11-30', 'm', '1', 40, 'complete', 1, '2026-10-02 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO actions (batch_id, customer_id, code, position, text_zh, text_en, "
                "role, owner, owner_zh, owner_en, due_date, due_working_days) VALUES (1, 'C1', "
                "'tariff_plan', 1, '方案', 'plan', 'tariff_specialist', 'tariff_specialist', "
                "'电价电费专责', 'tariff specialist', '2026-12-03', 3)"
            )
        )
    engine.dispose()
    # when a job opens it, then the action reads back with its text and an empty offer
    engine = open_store(url)
    actions = load_batch(engine, 1).actions
    assert list(actions["code"]) == ["tariff_plan"]
    assert actions[["plan_code", "saving_cny", "plan_detail"]].isna().all().all()
    engine.dispose()
