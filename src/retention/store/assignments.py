"""The randomised assignments of the batches (scoring/assignment.py): read back for the list,
the page and the API, and exported with the team's follow-ups as the data contract's
`interventions` table, so the effects job learns from what the store logged.

The export: one row per assignment of every complete batch (created at the batch's snapshot,
00:00 Beijing time: the effects job builds its features at that month), its outcome and
contact time from the follow-up the team logged for that batch, account and action (pending
when none was logged, and for every held-out account: its churn comes from the data, not from
the team); then every other follow-up of an account (the top of the list, followed up for
sure), created when logged, without a probability and not randomised. A held-out account the
team followed up all the same (its assignment not complied with) stays a control as drawn
(intention to treat), its follow-up one of those other rows.
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
from sqlalchemy import Connection, Engine, select

from retention.data.local_time import LOCAL_TIMEZONE
from retention.records.batch import ASSIGNMENT_COLUMNS, HELD_OUT, StoredAssignment
from retention.records.labels import AS_INTERVENTION
from retention.store.batches import ASSIGNMENTS, BATCHES
from retention.store.database import reading
from retention.store.follow_ups import FOLLOW_UPS
from retention.store.tables import BATCH_COMPLETE

INTERVENTION_COLUMNS = (
    "intervention_id", "customer_id", "action_code", "created_at", "contacted_at", "outcome",
    "assignment_probability", "assignment", "randomised",
)  # fmt: skip


def assignments_of(
    engine: Engine | Connection, batch_id: int, customer_ids: list[str]
) -> dict[str, StoredAssignment]:
    """The assignments of these accounts in a batch (accounts outside the window absent)."""
    if not customer_ids:
        return {}
    names = [*ASSIGNMENT_COLUMNS, "complied"]
    query = select(*(ASSIGNMENTS.c[name] for name in names)).where(
        ASSIGNMENTS.c.batch_id == batch_id, ASSIGNMENTS.c.customer_id.in_(customer_ids)
    )
    with reading(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return {row["customer_id"]: cast(StoredAssignment, dict(row)) for row in rows}


def follows_up_a_control(engine: Engine, follow_up: dict[str, Any]) -> bool:
    """Whether a stored follow-up is of an account its batch held out as the control group
    (no follow-up due: logging it marked the assignment as not complied with)."""
    batch_id, customer_id = follow_up.get("batch_id"), follow_up.get("customer_id")
    if batch_id is None or customer_id is None:
        return False
    found = assignments_of(engine, int(batch_id), [str(customer_id)]).get(str(customer_id))
    return found is not None and found["assignment"] == HELD_OUT


def _local(values: pd.Series) -> pd.Series:
    """Naive UTC times (the store's) as naive Beijing times (the data contract's)."""
    times = pd.to_datetime(values)
    return times.dt.tz_localize("UTC").dt.tz_convert(LOCAL_TIMEZONE).dt.tz_localize(None)


def interventions_table(engine: Engine) -> pd.DataFrame:
    """The store's assignments and follow-ups as the contract's interventions table."""
    assigned_query = (
        select(ASSIGNMENTS, BATCHES.c.snapshot_date)
        .join(BATCHES, BATCHES.c.id == ASSIGNMENTS.c.batch_id)
        .where(BATCHES.c.status == BATCH_COMPLETE)
        .order_by(ASSIGNMENTS.c.batch_id, ASSIGNMENTS.c.rank)
    )
    follow_query = select(
        FOLLOW_UPS.c.id, FOLLOW_UPS.c.batch_id, FOLLOW_UPS.c.customer_id,
        FOLLOW_UPS.c.action_code, FOLLOW_UPS.c.outcome, FOLLOW_UPS.c.created_at,
        FOLLOW_UPS.c.contacted_at,
    ).where(FOLLOW_UPS.c.customer_id.is_not(None)).order_by(FOLLOW_UPS.c.id)  # fmt: skip
    with engine.connect() as connection:
        assigned = pd.DataFrame(connection.execute(assigned_query).mappings().all())
        follow = pd.DataFrame(connection.execute(follow_query).mappings().all())
    if assigned.empty:
        assigned = pd.DataFrame(columns=[*ASSIGNMENT_COLUMNS, "batch_id", "snapshot_date"])
    if follow.empty:
        follow = pd.DataFrame(
            columns=["id", "batch_id", "customer_id", "action_code", "outcome", "created_at",
                     "contacted_at"]
        )  # fmt: skip
    key = ["batch_id", "customer_id", "action_code"]
    # the first follow-up logged for the assignment's batch, account and action
    first = follow.dropna(subset=["batch_id"]).drop_duplicates(key, keep="first")
    first = first.astype({"batch_id": "int64"})
    matched = assigned.merge(first, on=key, how="left", suffixes=("", "_follow_up"))
    held_out = matched["assignment"].eq("held_out")
    randomised = pd.DataFrame(
        {
            "intervention_id": "AS" + matched["batch_id"].astype(str) + "-"
            + matched["customer_id"].astype(str),
            "customer_id": matched["customer_id"],
            "action_code": matched["action_code"],
            "created_at": pd.to_datetime(matched["snapshot_date"]),
            "contacted_at": _local(matched["contacted_at"]).where(~held_out),
            "outcome": matched["outcome"].map(AS_INTERVENTION).fillna("pending").where(
                ~held_out, "pending"
            ),
            "assignment_probability": matched["assignment_probability"].astype(float),
            "assignment": matched["assignment"],
            "randomised": True,
        }
    )  # fmt: skip
    # A held-out account's follow-up stays its own row (followed up, not randomised): its
    # randomised row stays a control (intention to treat, README "Effects of the actions").
    used = set(matched.loc[~held_out, "id"].dropna().astype(int))
    rest = follow[~follow["id"].isin(used)]
    others = pd.DataFrame(
        {
            "intervention_id": "FU" + rest["id"].astype(str),
            "customer_id": rest["customer_id"],
            "action_code": rest["action_code"],
            "created_at": _local(rest["created_at"]),
            "contacted_at": _local(rest["contacted_at"]),
            "outcome": rest["outcome"].map(AS_INTERVENTION),
            "assignment_probability": float("nan"),
            "assignment": "followed_up",
            "randomised": False,
        }
    )
    table = pd.concat([randomised, others], ignore_index=True)
    return _typed(table)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """The contract's types: strings, naive timestamps, float, nullable bool."""
    out = table.reindex(columns=list(INTERVENTION_COLUMNS))
    for name in ("intervention_id", "customer_id", "action_code", "outcome", "assignment"):
        out[name] = out[name].astype("str")
    for name in ("created_at", "contacted_at"):
        out[name] = pd.to_datetime(out[name]).astype("datetime64[us]")
    out["assignment_probability"] = out["assignment_probability"].astype(float)
    out["randomised"] = out["randomised"].astype("boolean")
    return out.sort_values(["created_at", "customer_id"], kind="stable", ignore_index=True)


def with_store_interventions(own: pd.DataFrame | None, store: pd.DataFrame) -> pd.DataFrame:
    """A dataset's imported interventions and the store's, one table: an id in both is the
    imported row (the store's export imported back into the dataset is not counted twice)."""
    if own is None or own.empty:
        return store.reset_index(drop=True)
    fresh = store[~store["intervention_id"].isin(set(own["intervention_id"].astype(str)))]
    if fresh.empty:
        return own
    return pd.concat([own, fresh.astype(object)], ignore_index=True)
