"""A batch's assignments at the capacity edge: written whole with the batch, read back, and
exported with the team's follow-ups as the contract's interventions table."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from retention.data.contract import ACTION_CODES, ASSIGNMENTS
from retention.records.batch import ScoredList
from retention.scoring.assignment import AssignmentPolicy, assign
from retention.store.assignments import (
    INTERVENTION_COLUMNS,
    assignments_of,
    interventions_table,
    with_store_interventions,
)
from retention.store.batches import list_batches, load_batch, save_batch
from retention.store.database import open_store
from retention.store.follow_ups import NewFollowUp, create_follow_up, kpis
from retention.store.tables import Action, Assignment, Score

CAPACITY = 40
POLICY = AssignmentPolicy(edge_share=0.5)


@pytest.fixture(scope="module")
def assigned(scored: ScoredList) -> ScoredList:
    out = assign(scored, CAPACITY, POLICY)
    assert len(out.assignments) > 5 and out.assignments["assignment"].nunique() == 2
    return out


def _save(engine, scored: ScoredList) -> int:  # type: ignore[no-untyped-def]
    return save_batch(engine, scored, "key-account-churn", "1", CAPACITY, dt.date(2026, 11, 30))


def test_assignments_read_back_with_their_batch(store_url: str, assigned: ScoredList) -> None:
    engine = open_store(store_url)
    batch_id = _save(engine, assigned)
    stored = load_batch(engine, batch_id)
    expected = assigned.assignments.sort_values("rank", ignore_index=True)
    pd.testing.assert_frame_equal(stored.assignments, expected, check_dtype=False)
    held = expected.loc[expected["assignment"] == "held_out", "customer_id"].tolist()
    found = assignments_of(engine, batch_id, [*held, "not-an-account"])
    assert set(found) == set(held) and found[held[0]]["seed"] == expected["seed"].iloc[0]
    assert not stored.actions["customer_id"].isin(held).any()  # no follow-up due
    # and the KPIs do not count the control group as high-band accounts left without a visit
    high = stored.scores["band"].eq("high")
    held_high = stored.scores.loc[high, "customer_id"].isin(held).sum()
    assert held_high > 0
    figures = kpis(engine, batch_id, dt.date(2026, 12, 1))["overall"]
    assert figures["high_risk_accounts"] == high.sum() - held_high


def test_a_batch_without_the_policy_has_no_assignments(store_url: str, scored: ScoredList) -> None:
    engine = open_store(store_url)
    batch_id = _save(engine, assign(scored, CAPACITY, AssignmentPolicy(enabled=False)))
    assert load_batch(engine, batch_id).assignments.empty


def test_a_batch_whose_assignments_cannot_be_written_is_not_written_at_all(
    store_url: str, assigned: ScoredList
) -> None:
    # Given assignments the store refuses (a propensity of 0), when the batch is saved
    engine = open_store(store_url)
    bad = assigned.assignments.assign(assignment_probability=0.0)
    with pytest.raises(Exception, match=r"propensity|CHECK|check"):
        _save(engine, replace(assigned, assignments=bad))
    # then the batch is failed and none of its scores, actions or assignments is stored
    (batch,) = list_batches(engine)
    assert batch.status == "failed"
    with engine.connect() as connection:
        for table in (Score, Action, Assignment):
            rows = select(func.count()).select_from(table).where(table.batch_id == batch.id)
            assert connection.execute(rows).scalar_one() == 0


def test_the_store_exports_its_assignments_and_follow_ups_as_interventions(
    store_url: str, assigned: ScoredList
) -> None:
    engine = open_store(store_url)
    batch_id = _save(engine, assigned)
    rows = assigned.assignments
    followed = rows[rows["assignment"] == "followed_up"].iloc[0]
    contacted = dt.datetime(2026, 12, 2, 2, 30)  # UTC: 10:30 in Beijing
    create_follow_up(
        engine,
        NewFollowUp(followed["customer_id"], followed["action_code"], "retained", None, contacted),
        batch_id,
        None,
    )
    top = assigned.accounts.iloc[0]["customer_id"]  # the top: followed up for sure
    create_follow_up(engine, NewFollowUp(top, "dedicated_manager"), batch_id, None)

    table = interventions_table(engine)
    assert list(table.columns) == list(INTERVENTION_COLUMNS)
    randomised = table[table["randomised"].astype(bool)].set_index("customer_id")
    assert len(randomised) == len(rows)
    assert set(table["action_code"]) <= set(ACTION_CODES)
    assert set(table["assignment"]) <= set(ASSIGNMENTS)
    # every randomised row at the batch's snapshot with its propensity
    assert (randomised["created_at"] == assigned.snapshot).all()
    np.testing.assert_allclose(
        randomised.loc[rows["customer_id"], "assignment_probability"],
        rows["assignment_probability"],
    )
    # the follow-up's outcome and contact time (Beijing time) on its assignment
    mine = randomised.loc[followed["customer_id"]]
    assert mine["outcome"] == "retained" and mine["contacted_at"] == pd.Timestamp(
        "2026-12-02 10:30"
    )
    held = randomised[randomised["assignment"] == "held_out"]
    assert (held["outcome"] == "pending").all() and held["contacted_at"].isna().all()
    # the top's follow-up is there, not randomised and without a probability
    other = table[~table["randomised"].astype(bool)]
    assert other["customer_id"].tolist() == [top]
    assert other["assignment_probability"].isna().all()
    # imported back beside a dataset's own table, nothing is counted twice
    both = with_store_interventions(table.iloc[:3], table)
    assert len(both) == len(table) and both["intervention_id"].is_unique
