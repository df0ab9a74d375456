"""The assessment figures (KPIs) of the connection applications for a period: how many orders
were archived (connected) and how many of them met every service clock (业扩报装服务时限达标率),
the working days to energising, what is open and overdue now, what was withdrawn and the
revenue it took with it; overall and by step, supplying unit, owner, channel and voltage.

The period is [period_start, period_end) on the applications' closed_at. An archived order's
clocks are judged once everything is known (watch.closed_clocks); the open ones at `as_of` as
the watch list sees them then. For dimension "step" a row counts the applications with a
clock of that step: archived ones with it (on time when that clock was met; their working
days to energising), open ones whose clock of it runs or is overdue at `as_of`; a withdrawn
application counts at the last step (in process order) it had started.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from retention.applications.clocks import ServiceClocks
from retention.applications.stake import expected_revenue_cny
from retention.applications.watch import closed_clocks, open_applications, watch_list
from retention.data.contract import STEP_CODES
from retention.records.applications import KPI_COLUMNS, KPI_DIMENSIONS
from retention.scoring.calendar import WorkingCalendar, working_days_between

NO_OWNER = "-"  # the key of applications without an owner
# The facts the KPI rows add up, per application (or per application and step): flags
# archived, on_time, open, overdue, withdrawn; days to energise; withdrawn kva, revenue.
_FLAGS = ("archived", "on_time", "open", "overdue", "withdrawn")
_STEP_ORDER = {code: i for i, code in enumerate(STEP_CODES)}


def kpis(
    applications: pd.DataFrame,
    steps: pd.DataFrame,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    period_start: dt.date,
    period_end: dt.date,
    as_of: dt.date,
    watch: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One KPI row (KPI_COLUMNS) per dimension and key: "overall" / "all" and every clocked
    step always, then the units, owners, channels and voltages that have a figure; `watch`:
    the watch list at `as_of` when the caller has it already."""
    start, end = pd.Timestamp(period_start), pd.Timestamp(period_end)
    in_period = (applications["closed_at"] >= start) & (applications["closed_at"] < end)
    archived = applications[in_period & (applications["status"] == "connected")]
    withdrawn = applications[in_period & (applications["status"] == "withdrawn")]
    judged = closed_clocks(archived, steps, clocks, calendar)
    judged = judged.assign(met=judged["state"] == "on_time")
    days = _days_to_energise(archived, steps, calendar)
    watched = watch_list(applications, steps, clocks, calendar, as_of) if watch is None else watch
    opened = open_applications(applications, as_of)["application_id"]
    facts = _application_facts(archived, withdrawn, opened, judged, days, watched)
    keyed = _keys(applications.set_index("application_id").loc[facts.index])
    members = [
        facts.assign(dimension=dimension, key=keyed[dimension])
        for dimension in KPI_DIMENSIONS
        if dimension != "step"
    ]
    by_step = _step_facts(judged, days, watched, withdrawn, steps)
    frame = pd.concat([*members, by_step.assign(dimension="step")], ignore_index=True)
    return _rows(frame, list(clocks.steps))


def _days_to_energise(
    archived: pd.DataFrame, steps: pd.DataFrame, calendar: WorkingCalendar
) -> pd.Series:
    """Working days from acceptance to the energising step's finish, by application (those
    archived with a finished energising step)."""
    energised = steps[(steps["step_code"] == "energising") & steps["finished_at"].notna()]
    pairs = archived[["application_id", "accepted_at"]].merge(
        energised[["application_id", "finished_at"]], on="application_id"
    )
    counted = working_days_between(
        calendar,
        pairs["accepted_at"].to_numpy().astype("datetime64[D]"),
        pairs["finished_at"].to_numpy().astype("datetime64[D]"),
    )
    return pd.Series(counted.astype(float), index=pd.Index(pairs["application_id"]))


def _application_facts(
    archived: pd.DataFrame,
    withdrawn: pd.DataFrame,
    opened: pd.Series,
    judged: pd.DataFrame,
    days: pd.Series,
    watched: pd.DataFrame,
) -> pd.DataFrame:
    """One row per application with a figure (archived or withdrawn in the period, or open
    at as_of), indexed by application_id, with the facts' columns."""
    ids = pd.Index(pd.concat([archived["application_id"], withdrawn["application_id"], opened]))
    ids = ids.drop_duplicates()
    is_archived = _among(ids, archived["application_id"])
    # An archived order without any clocked step missed no limit.
    every_met = judged.groupby("application_id")["met"].all().reindex(ids, fill_value=True)
    lost = withdrawn.set_index("application_id")
    revenue = pd.Series(expected_revenue_cny(withdrawn), index=lost.index)
    overdue_ids = watched.loc[watched["state"] == "overdue", "application_id"]
    return pd.DataFrame(
        {
            "archived": is_archived,
            "on_time": is_archived & every_met.to_numpy(dtype=bool),
            "days": days.reindex(ids).to_numpy(dtype=float),
            "open": _among(ids, opened),
            "overdue": _among(ids, overdue_ids),
            "withdrawn": _among(ids, lost.index),
            "kva": lost["requested_capacity_kva"].reindex(ids, fill_value=0.0).to_numpy(),
            "revenue": revenue.reindex(ids, fill_value=0.0).to_numpy(),
        },
        index=ids,
    )


def _among(values: pd.Index | pd.Series, ids: pd.Index | pd.Series) -> np.ndarray:
    """Whether each of `values` is one of `ids` (a hash lookup: `str` isin is slow)."""
    return pd.Index(ids).unique().get_indexer(pd.Index(values)) >= 0


def _keys(applications: pd.DataFrame) -> pd.DataFrame:
    """Each application's key per dimension but step, as text (voltage as "10", "0.4")."""
    return pd.DataFrame(
        {
            "overall": "all",
            "unit": applications["region"].astype("str"),
            "owner": applications["owner_id"].fillna(NO_OWNER).astype("str"),
            "channel": applications["channel"].astype("str"),
            "voltage": applications["voltage_kv"].map(lambda kv: f"{kv:g}").astype("str"),
        },
        index=applications.index,
    )


def _step_facts(
    judged: pd.DataFrame,
    days: pd.Series,
    watched: pd.DataFrame,
    withdrawn: pd.DataFrame,
    steps: pd.DataFrame,
) -> pd.DataFrame:
    """The facts per (application, step), keyed by step code: an archived order's clock of
    the step, an open one's clock of it running or overdue, a withdrawn one's last step."""
    archived = pd.DataFrame(
        {
            "key": judged["step_code"],
            "archived": True,
            "on_time": judged["met"],
            "days": judged["application_id"].map(days),
        }
    )
    waiting = watched[watched["state"].isin(["running", "overdue"])]
    opened = pd.DataFrame({"key": waiting["step_code"], "open": True})
    opened = opened.assign(overdue=(waiting["state"] == "overdue").to_numpy())
    taken = steps[_among(steps["application_id"], withdrawn["application_id"])]
    taken = taken.assign(_order=taken["step_code"].map(_STEP_ORDER)).sort_values("_order")
    last = taken.drop_duplicates("application_id", keep="last")
    lost = withdrawn.assign(revenue=expected_revenue_cny(withdrawn)).merge(
        last[["application_id", "step_code"]], on="application_id"
    )
    gone = pd.DataFrame(
        {
            "key": lost["step_code"],
            "withdrawn": True,
            "kva": lost["requested_capacity_kva"],
            "revenue": lost["revenue"],
        }
    )
    frame = pd.concat([archived, opened, gone], ignore_index=True)
    flags = {name: frame[name].fillna(False).astype(bool) for name in _FLAGS}
    amounts = {name: frame[name].fillna(0.0).astype(float) for name in ("kva", "revenue")}
    return frame.assign(**flags, **amounts, days=frame["days"].astype(float))


def _rows(frame: pd.DataFrame, step_codes: list[str]) -> pd.DataFrame:
    """Add the facts up per (dimension, key) into KPI_COLUMNS, in the dimensions' order."""
    grouped = frame.groupby(["dimension", "key"], sort=False)
    figures = grouped.agg(
        archived=("archived", "sum"),
        archived_on_time=("on_time", "sum"),
        median_working_days_to_energise=("days", "median"),
        open_now=("open", "sum"),
        open_overdue_now=("overdue", "sum"),
        withdrawn=("withdrawn", "sum"),
        withdrawn_capacity_kva=("kva", "sum"),
        withdrawn_revenue_cny=("revenue", "sum"),
    )
    figures["p90_working_days_to_energise"] = grouped["days"].quantile(0.9)
    # The overall row and every clocked step are shown even when nothing happened.
    always = [("overall", "all"), *(("step", code) for code in step_codes)]
    index = figures.index.union(pd.MultiIndex.from_tuples(always, names=figures.index.names))
    figures = figures.reindex(index)
    counts = ["archived", "archived_on_time", "open_now", "open_overdue_now", "withdrawn"]
    figures[counts] = figures[counts].fillna(0).astype(np.int64)
    amounts = ["withdrawn_capacity_kva", "withdrawn_revenue_cny"]
    figures[amounts] = figures[amounts].fillna(0.0).astype(float)
    archived = figures["archived"].astype(float)
    figures["on_time_share"] = (figures["archived_on_time"] / archived).where(archived > 0)
    rows = figures.reset_index()
    rows = rows.assign(dimension=rows["dimension"].astype("str"), key=rows["key"].astype("str"))
    order = rows.apply(lambda row: _order(row["dimension"], row["key"]), axis=1)
    rows = rows.assign(_order=order).sort_values("_order")
    return rows[KPI_COLUMNS].reset_index(drop=True)


def _order(dimension: str, key: str) -> tuple[int, float, str]:
    """Dimensions in KPI_DIMENSIONS' order; steps in process order, voltages by kV."""
    position = KPI_DIMENSIONS.index(dimension)
    if dimension == "step":
        return position, float(_STEP_ORDER.get(key, len(STEP_CODES))), key
    if dimension == "voltage":
        return position, float(key), key
    return position, 0.0, key
