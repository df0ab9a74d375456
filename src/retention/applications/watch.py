"""The watch list: at a date, every clocked step of the applications open then, with its due
date and state, and one summary row per open application.

Point in time (the data contract's): only what happened strictly before the date is known. An
application is open at D when accepted before D and not closed before D; a step has started
at D when it started before D, finished when it finished before D. A clock starts on the local
date of its event (acceptance, the step's own start, or another step's finish; see
serving/service_clocks.yaml) and is due on the N-th working day after it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from retention.applications.clocks import ACCEPTED, ServiceClocks
from retention.data.contract import STEP_CODES
from retention.records.applications import CLOCK_COLUMNS, CLOCK_STATE_LABELS, CLOCK_STATES
from retention.scoring.calendar import WorkingCalendar, due_dates, working_days_between

# The clock rows are the watch run's record (retention.records.applications).
STATES = CLOCK_STATES
STATE_LABELS = CLOCK_STATE_LABELS
WATCH_COLUMNS = tuple(CLOCK_COLUMNS)
SUMMARY_COLUMNS = (
    "application_id", "unit", "owner_id", "channel", "voltage_kv", "requested_capacity_kva",
    "working_days_open", "steps_overdue", "worst_overdue_working_days", "next_due_step",
    "next_due_date", "document_requests",
)  # fmt: skip
_STEP_ORDER = {code: i for i, code in enumerate(STEP_CODES)}


def no_steps() -> pd.DataFrame:
    """An empty application_steps table, typed: for a dataset without one."""
    return pd.DataFrame(
        {
            "application_id": pd.Series(dtype="str"),
            "step_code": pd.Series(dtype="str"),
            "started_at": pd.Series(dtype="datetime64[us]"),
            "finished_at": pd.Series(dtype="datetime64[us]"),
            "document_requests": pd.Series(dtype="Int64"),
            "handled_by": pd.Series(dtype="str"),
        }
    )


def open_applications(applications: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The applications open at `as_of`: accepted before it and not closed before it."""
    moment = pd.Timestamp(as_of)
    is_open = (applications["accepted_at"] < moment) & ~(applications["closed_at"] < moment)
    return applications[is_open].reset_index(drop=True)


def known_steps(steps: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The steps started before `as_of`, finished_at blanked where it is not before it."""
    moment = pd.Timestamp(as_of)
    known = steps[steps["started_at"] < moment]
    return known.assign(finished_at=known["finished_at"].where(known["finished_at"] < moment))


def watch_list(
    applications: pd.DataFrame,
    steps: pd.DataFrame,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    as_of: dt.date,
) -> pd.DataFrame:
    """One row per (application open at `as_of`, step with a clock running or run by then),
    with WATCH_COLUMNS, ordered by application and the steps' process order."""
    opened = open_applications(applications, as_of)
    clocked = _clock_starts(
        clocks.applicable_limits(opened), opened, known_steps(steps, as_of), clocks
    )
    clocked = clocked[clocked["clock_start"].notna()].reset_index(drop=True)
    clocked = clocked.assign(owner_role=clocked["step_code"].map(_owners(clocks)).astype("str"))
    today = np.full(len(clocked), np.datetime64(as_of, "D"))
    return _ordered(pd.concat([clocked, _states(clocked, calendar, today)], axis=1))


def closed_clocks(
    applications: pd.DataFrame,
    steps: pd.DataFrame,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
) -> pd.DataFrame:
    """The clocks of the closed ones of `applications` once everything is known (WATCH_COLUMNS,
    states on_time or late): a step the extract leaves unfinished counts as finished on the
    day its application closed, as the order was archived then."""
    closed = applications[applications["closed_at"].notna()].reset_index(drop=True)
    clocked = _clock_starts(clocks.applicable_limits(closed), closed, steps, clocks)
    clocked = clocked[clocked["clock_start"].notna()].reset_index(drop=True)
    closing = clocked[["application_id"]].merge(
        closed[["application_id", "closed_at"]], on="application_id", how="left"
    )["closed_at"]
    clocked = clocked.assign(
        finished_date=clocked["finished_date"].fillna(
            pd.Series(closing.dt.normalize().to_numpy(), index=clocked.index)
        ),
        owner_role=clocked["step_code"].map(_owners(clocks)).astype("str"),
    )
    today = clocked["finished_date"].to_numpy().astype("datetime64[D]")
    return _ordered(pd.concat([clocked, _states(clocked, calendar, today)], axis=1))


def _owners(clocks: ServiceClocks) -> dict[str, str]:
    return {code: clock.owner for code, clock in clocks.steps.items()}


def _ordered(watched: pd.DataFrame) -> pd.DataFrame:
    """The clock rows under WATCH_COLUMNS, by application and the steps' process order."""
    order = watched["step_code"].map(_STEP_ORDER)
    watched = watched.assign(_order=order).sort_values(["application_id", "_order"])
    return watched[list(WATCH_COLUMNS)].reset_index(drop=True)


def _clock_starts(
    clocked: pd.DataFrame, opened: pd.DataFrame, known: pd.DataFrame, clocks: ServiceClocks
) -> pd.DataFrame:
    """`clocked` with clock_start (the start event's date, NaT while it has not happened)
    and finished_date (NaT while the step runs)."""
    kinds = {code: clock.counts_from for code, clock in clocks.steps.items()}
    after = {code: clock.after_step for code, clock in clocks.steps.items()}
    own = known[["application_id", "step_code", "started_at", "finished_at"]]
    before = known[["application_id", "step_code", "finished_at"]].rename(
        columns={"step_code": "after_step", "finished_at": "after_finished_at"}
    )
    frame = (
        clocked.assign(after_step=clocked["step_code"].map(after).astype("str"))
        .merge(opened[["application_id", "accepted_at"]], on="application_id", how="left")
        .merge(own, on=["application_id", "step_code"], how="left")
        .merge(before, on=["application_id", "after_step"], how="left")
    )
    kind = frame["step_code"].map(kinds)
    start = frame["after_finished_at"].where(frame["after_step"].notna(), frame["started_at"])
    start = start.where(kind != ACCEPTED, frame["accepted_at"])
    return frame.assign(
        clock_start=start.dt.normalize(), finished_date=frame["finished_at"].dt.normalize()
    )


def _states(clocked: pd.DataFrame, calendar: WorkingCalendar, today: np.ndarray) -> pd.DataFrame:
    """Due date, state and the working days left, overdue or late of every clocked step,
    each read on its `today` (datetime64[D])."""
    start = clocked["clock_start"].to_numpy().astype("datetime64[D]")
    due = due_dates(calendar, start, clocked["limit_working_days"].to_numpy())
    finished = clocked["finished_date"].to_numpy().astype("datetime64[D]")
    done = ~np.isnat(finished)
    # A step finished on or before its due date is on time; an open one is due today at the
    # latest (it may still finish today), overdue from the day after its due date.
    state = np.select(
        [done & (finished <= due), done, today <= due], ["on_time", "late", "running"], "overdue"
    )
    yesterday = today - np.timedelta64(1, "D")
    return pd.DataFrame(
        {
            "due_date": due.astype("datetime64[us]"),
            "state": pd.Series(state, dtype="str"),
            # running: working days in [as_of, due]; overdue: in (due, as_of]; late: in
            # (due, finished]; at least one, as a weekend after the due date is still late.
            "working_days_left": _count(calendar, state == "running", yesterday, due, 0),
            "overdue_working_days": _count(calendar, state == "overdue", due, today, 1),
            "late_working_days": _count(calendar, state == "late", due, finished, 1),
        }
    )


def _count(
    calendar: WorkingCalendar,
    where: np.ndarray,
    after: np.ndarray,
    through: np.ndarray,
    at_least: int,
) -> pd.Series:
    """Working days in (after, through], at least `at_least`, where `where` holds; else NA."""
    counted = pd.Series(pd.NA, index=range(len(where)), dtype="Int64")
    if where.any():
        days = working_days_between(calendar, after[where], through[where])
        counted[where] = np.maximum(days, at_least)
    return counted


def application_summary(
    applications: pd.DataFrame,
    steps: pd.DataFrame,
    watch: pd.DataFrame,
    calendar: WorkingCalendar,
    as_of: dt.date,
) -> pd.DataFrame:
    """One row per application open at `as_of` (SUMMARY_COLUMNS; `watch` is its watch list),
    those with overdue steps first, the most overdue first, then by the next due date."""
    opened = open_applications(applications, as_of)
    ids = opened["application_id"]
    accepted = opened["accepted_at"].to_numpy().astype("datetime64[D]")
    today = np.full(len(opened), np.datetime64(as_of, "D"))
    overdue = watch[watch["state"] == "overdue"].groupby("application_id")["overdue_working_days"]
    # The next deadline ahead: the running step due first (overdue ones are already past).
    running = watch[watch["state"] == "running"]
    running = running.assign(_order=running["step_code"].map(_STEP_ORDER))
    ahead = running.sort_values(["due_date", "_order"]).drop_duplicates("application_id")
    ahead = ahead.set_index("application_id")
    # The extract's request counts of the steps started before as_of (when each request
    # was made is not in the data).
    requests = known_steps(steps, as_of).groupby("application_id")["document_requests"].sum()
    summary = pd.DataFrame(
        {
            "application_id": ids,
            "unit": opened["region"],
            "owner_id": opened["owner_id"],
            "channel": opened["channel"],
            "voltage_kv": opened["voltage_kv"],
            "requested_capacity_kva": opened["requested_capacity_kva"],
            "working_days_open": working_days_between(calendar, accepted, today),
            "steps_overdue": _per(ids, overdue.size(), 0).astype(np.int64),
            "worst_overdue_working_days": _per(ids, overdue.max(), 0).astype(np.int64),
            "next_due_step": _per(ids, ahead["step_code"]).astype("str"),
            "next_due_date": _per(ids, ahead["due_date"]).astype("datetime64[us]"),
            "document_requests": _per(ids, requests, 0).astype(np.int64),
        }
    )
    ranked = summary.sort_values(
        ["steps_overdue", "worst_overdue_working_days", "next_due_date", "application_id"],
        ascending=[False, False, True, True],
        na_position="last",
    )
    return ranked[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def _per(ids: pd.Series, values: pd.Series, missing: int | None = None) -> pd.Series:
    """`values` (indexed by application) for each of `ids`, `missing` where it has none."""
    found = values.reindex(pd.Index(ids))
    if missing is not None:
        found = found.fillna(missing)
    return pd.Series(found.to_numpy(), index=ids.index)
