"""What the withdrawal model reads: an open application's state at a date, and whether it
withdrew within the horizon after it.

Features at a snapshot T come from the watch list at T (retention.applications.watch), so they
use only what was known strictly before T: how long the application has been open, how far it
got, its clocks (on time, late, overdue and by how much), how long since anything happened,
repeated document requests, how fast the applicant did its own parts between steps, and what
it is (type, supply, channel, voltage, capacity, unit). The label: withdrawn with closed_at
in [T, T + horizon). Rows are stacked over monthly snapshots, like the accounts' training
rows, and split by time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention.applications.clocks import ServiceClocks
from retention.applications.stake import expected_revenue_cny
from retention.applications.watch import known_steps, no_steps, open_applications, watch_list
from retention.data.contract import STEP_CODES
from retention.data.dataset import Dataset
from retention.features.sources import Tables
from retention.scoring.calendar import WorkingCalendar, working_days_between

APPLICATION_HORIZON_MONTHS = 3
LABEL = "withdrawn"
REVENUE = "revenue_at_stake_cny"  # what the application would bring a year (stake.py)
TIME = "snapshot_date"
KEY = "application_id"
# The usual working days an applicant takes for its own part (design, works) between the
# previous step's finish and its request of these steps (a new connection's norms).
USUAL_OWN_WORKING_DAYS = {
    "dispatch_agreement": 8.0,
    "design_review": 15.0,
    "mid_inspection": 30.0,
    "completion_inspection": 20.0,
}
CATEGORICAL = ["application_type", "supply_type", "channel", "region"]
NUMERIC = [
    "voltage_kv",
    "log_requested_capacity_kva",
    "working_days_open",
    "steps_finished",
    "steps_on_time",
    "steps_late",
    "late_working_days",
    "steps_running",
    "steps_overdue",
    "worst_overdue_working_days",
    "working_days_since_progress",
    "working_days_in_hand",
    "document_requests",
    "repeated_document_requests",
    "applicant_pace",
    "own_parts_measured",
    "own_part_under_way",
    "working_days_waited",
    "clocks_breached",
    "company_pace",
    "working_days_to_due",
    "channel_gap",
]
FEATURES = NUMERIC + CATEGORICAL
# Channel fit: how big an applicant each channel serves well, on a 0..1 scale of need (below),
# and that need: log10(kVA) from 10^2.5 (316 kVA) to 10^4.5 (31,600 kVA), plus 0.3 at 35 kV
# and above. The online app suits small low-voltage applicants; a large or high-voltage one
# needs the service hall's staff or an account manager (a poor fit breeds repeated document
# requests and withdrawals). A tree finds this interaction of three columns only with many
# rows; the few thousand an applicants' model has need it spelled out.
CHANNEL_REACH = {"online_app": 0.25, "service_hall": 0.55, "account_manager": 1.0}
NEED_LOG10_KVA = (2.5, 4.5)
NEED_HIGH_VOLTAGE_KV, NEED_HIGH_VOLTAGE = 35.0, 0.3
# More trouble never makes withdrawal less likely, all else equal (LightGBM's constraints).
MONOTONE = {
    "steps_late": 1,
    "late_working_days": 1,
    "steps_overdue": 1,
    "worst_overdue_working_days": 1,
    "working_days_since_progress": 1,
    "working_days_in_hand": 1,
    "repeated_document_requests": 1,
    "working_days_waited": 1,
    "clocks_breached": 1,
    "channel_gap": 1,
}
# What each feature is called where a person reads it.
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "voltage_kv": ("电压等级", "voltage (kV)"),
    "log_requested_capacity_kva": ("申请容量（对数）", "requested capacity (log kVA)"),
    "working_days_open": ("已办理工作日", "working days open"),
    "steps_finished": ("已完成环节数", "steps finished"),
    "steps_on_time": ("按时完成环节数", "steps finished on time"),
    "steps_late": ("超时完成环节数", "steps finished late"),
    "late_working_days": ("超时工作日合计", "working days late in all"),
    "steps_running": ("办理中环节数", "steps running"),
    "steps_overdue": ("已超期环节数", "steps overdue"),
    "worst_overdue_working_days": ("最长超期工作日", "most working days overdue"),
    "working_days_since_progress": ("距上次进展工作日", "working days since any progress"),
    "working_days_in_hand": (
        "当前环节已办理工作日",
        "working days the company has had the current step",
    ),
    "document_requests": ("补充资料次数", "document requests"),
    "repeated_document_requests": ("重复要求资料次数", "documents asked for again"),
    "applicant_pace": (
        "客户自身环节用时（相对常规）",
        "the applicant's own time between steps, relative to the usual",
    ),
    "own_parts_measured": ("已计客户自身环节数", "own parts of the applicant measured"),
    "own_part_under_way": (
        "客户当前自身环节已用时（相对常规）",
        "the applicant's own part under way so far, relative to the usual",
    ),
    "working_days_waited": ("等待供电公司工作日合计", "working days waited on the company in all"),
    "clocks_breached": ("已超时限环节数", "clocks breached (late or overdue)"),
    "company_pace": (
        "供电公司已完成环节用时（相对时限）",
        "the company's time on the steps it finished, relative to their limits",
    ),
    "working_days_to_due": ("当前环节距时限工作日", "working days to the current step's limit"),
    "channel_gap": ("申请规模超出受理渠道服务能力", "how far the applicant outgrows its channel"),
    "application_type": ("申请类型", "application type"),
    "supply_type": ("供电方式", "supply type"),
    "channel": ("受理渠道", "channel"),
    "region": ("供电单位", "supplying unit"),
}


@dataclass(frozen=True)
class Applicants:
    """The applications and their steps of one dataset (typed as the contract loads them)."""

    applications: pd.DataFrame
    steps: pd.DataFrame
    data_end: pd.Timestamp  # the first day after the data


class NoApplications(LookupError):
    """The dataset has no applications table."""


def applicants_of(dataset: Dataset) -> Applicants:
    """The dataset's applications and steps (no steps table: none), and the data's end."""
    if dataset.applications is None:
        where = f" {dataset.folder}" if dataset.folder else ""
        raise NoApplications(
            f"数据集没有业扩报装申请表 / the dataset{where} has no applications table "
            "(applications.csv or applications.parquet)"
        )
    steps = no_steps() if dataset.application_steps is None else dataset.application_steps
    return Applicants(dataset.applications, steps, Tables(dataset).data_end)


def features_at(
    applicants: Applicants,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    as_of: dt.date,
    watch: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per application open at `as_of`, indexed by application_id, FEATURES only;
    `watch`: the watch list at `as_of` when the caller has it already."""
    opened = open_applications(applicants.applications, as_of)
    if watch is None:
        watch = watch_list(opened, applicants.steps, clocks, calendar, as_of)
    known = known_steps(applicants.steps, as_of)
    known = known[known[KEY].isin(opened[KEY])]
    ids = pd.Index(opened[KEY], name=KEY)
    today = np.full(len(opened), np.datetime64(as_of, "D"))
    accepted = opened["accepted_at"].to_numpy().astype("datetime64[D]")
    state = watch.groupby([KEY, "state"]).size().unstack(fill_value=0)
    state = state.reindex(index=ids, columns=list(("on_time", "late", "running", "overdue")))
    state = state.fillna(0)
    overdue = watch[watch["state"] == "overdue"].groupby(KEY)["overdue_working_days"].max()
    late = watch.groupby(KEY)["late_working_days"].sum()
    requests = known["document_requests"].astype("float64")
    asked = requests.groupby(known[KEY]).sum()
    again = (requests - 1).clip(lower=0).groupby(known[KEY]).sum()
    finished = known["finished_at"].notna().groupby(known[KEY]).sum()
    last = _last_progress(opened, known).to_numpy().astype("datetime64[D]")
    in_hand = _in_hand(watch, calendar, as_of).reindex(ids).fillna(0)
    pace, measured = _applicant_pace(known, calendar)
    frame = pd.DataFrame(
        {
            "voltage_kv": opened["voltage_kv"].to_numpy(dtype=float),
            "log_requested_capacity_kva": np.log1p(
                opened["requested_capacity_kva"].to_numpy(dtype=float)
            ),
            "working_days_open": working_days_between(calendar, accepted, today).astype(float),
            "steps_finished": finished.reindex(ids).fillna(0).to_numpy(dtype=float),
            "steps_on_time": state["on_time"].to_numpy(dtype=float),
            "steps_late": state["late"].to_numpy(dtype=float),
            "late_working_days": late.reindex(ids).fillna(0).to_numpy(dtype=float),
            "steps_running": state["running"].to_numpy(dtype=float),
            "steps_overdue": state["overdue"].to_numpy(dtype=float),
            "worst_overdue_working_days": overdue.reindex(ids).fillna(0).to_numpy(dtype=float),
            "working_days_since_progress": working_days_between(calendar, last, today).astype(
                float
            ),
            "working_days_in_hand": in_hand.to_numpy(dtype=float),
            "document_requests": asked.reindex(ids).fillna(0).to_numpy(dtype=float),
            "repeated_document_requests": again.reindex(ids).fillna(0).to_numpy(dtype=float),
            "applicant_pace": pace.reindex(ids).to_numpy(dtype=float),
            "own_parts_measured": measured.reindex(ids).fillna(0).to_numpy(dtype=float),
            "own_part_under_way": _own_part_under_way(opened, known, clocks, calendar, as_of)
            .reindex(ids)
            .to_numpy(dtype=float),
            "working_days_waited": _waited(known, calendar, as_of)
            .reindex(ids)
            .fillna(0)
            .to_numpy(dtype=float),
            "clocks_breached": (state["late"] + state["overdue"]).to_numpy(dtype=float),
            "company_pace": _company_pace(watch, calendar).reindex(ids).to_numpy(dtype=float),
            "working_days_to_due": _to_due(watch).reindex(ids).to_numpy(dtype=float),
            "channel_gap": channel_gap(opened),
            **{name: opened[name].to_numpy() for name in CATEGORICAL},
        },
        index=ids,
    )
    for name in CATEGORICAL:
        frame[name] = frame[name].astype("str")
    return frame[FEATURES]


def channel_gap(applications: pd.DataFrame) -> np.ndarray:
    """How far each applicant's need (its capacity and voltage, 0..1) exceeds what its channel
    serves well (CHANNEL_REACH); 0 where the channel fits. An unknown channel: no gap."""
    low, high = NEED_LOG10_KVA
    kva = applications["requested_capacity_kva"].to_numpy(dtype=float)
    need = np.clip((np.log10(np.maximum(kva, 1.0)) - low) / (high - low), 0, 1)
    need += NEED_HIGH_VOLTAGE * (applications["voltage_kv"].to_numpy(dtype=float) >= 35)
    reach = applications["channel"].astype("str").map(CHANNEL_REACH).fillna(1.0)
    return np.maximum(np.minimum(need, 1.0) - reach.to_numpy(dtype=float), 0.0)


def _company_pace(watch: pd.DataFrame, calendar: WorkingCalendar) -> pd.Series:
    """Per application, how fast the company handled the steps it finished: the geometric
    mean of (working days from the clock's start to the finish + 1) / (the limit + 1); a slow
    file or unit stays slow, so its next steps stall and breach more. None before any."""
    done = watch[watch["finished_date"].notna()]
    days = working_days_between(
        calendar,
        done["clock_start"].to_numpy().astype("datetime64[D]"),
        done["finished_date"].to_numpy().astype("datetime64[D]"),
    )
    ratio = np.log((np.maximum(days, 0) + 1) / (done["limit_working_days"].to_numpy(float) + 1))
    return pd.Series(ratio, index=done.index).groupby(done[KEY]).mean().transform(np.exp)


def _to_due(watch: pd.DataFrame) -> pd.Series:
    """Per application with a step in hand, the working days to the nearest limit: left
    while running, less the days overdue once past it (negative). None with none in hand."""
    running = watch[watch["state"].isin(["running", "overdue"])]
    left = running["working_days_left"].astype("Float64").fillna(0)
    over = running["overdue_working_days"].astype("Float64").fillna(0)
    return (left - over).astype(float).groupby(running[KEY]).min()


def _last_progress(opened: pd.DataFrame, known: pd.DataFrame) -> pd.Series:
    """Each open application's latest known event: its acceptance or a step's start or finish."""
    events = pd.concat(
        [
            opened[[KEY, "accepted_at"]].rename(columns={"accepted_at": "at"}),
            known[[KEY, "started_at"]].rename(columns={"started_at": "at"}),
            known[[KEY, "finished_at"]].rename(columns={"finished_at": "at"}),
        ]
    )
    latest = events.groupby(KEY)["at"].max()
    return latest.reindex(opened[KEY]).dt.normalize()


def _applicant_pace(known: pd.DataFrame, calendar: WorkingCalendar) -> tuple[pd.Series, pd.Series]:
    """Per application, how fast the applicant has done its own parts so far: the geometric
    mean, over the steps it has requested, of (working days from the previous step's finish to
    the request + 1) / (the usual + 1); 1 is usual, below 1 quicker. None before any. And how
    many own parts that mean is over (how much it says)."""
    ordered = known.assign(_order=known["step_code"].map(STEP_CODES.index))
    ordered = ordered.sort_values([KEY, "_order"], kind="stable")
    previous = ordered.groupby(KEY)["finished_at"].shift()
    usual = ordered["step_code"].map(USUAL_OWN_WORKING_DAYS).astype("float64")
    own = usual.notna() & previous.notna()
    gap = working_days_between(
        calendar,
        previous[own].to_numpy().astype("datetime64[D]"),
        ordered.loc[own, "started_at"].to_numpy().astype("datetime64[D]"),
    )
    ratio = np.log((np.maximum(gap, 0) + 1) / (usual[own].to_numpy() + 1))
    grouped = pd.Series(ratio, index=ordered.index[own]).groupby(ordered.loc[own, KEY])
    return grouped.mean().transform(np.exp), grouped.size()


def _own_part_under_way(
    opened: pd.DataFrame,
    known: pd.DataFrame,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    as_of: dt.date,
) -> pd.Series:
    """Per application whose turn it is (every step asked for finished, the next one that
    applies to it the applicant's to request): (working days since the last finish + 1) /
    (the usual for that step + 1). A long wait for the applicant's own request says it is in
    no hurry. None while the company has a step in hand."""
    applicable = clocks.applicable_limits(opened)[[KEY, "step_code"]]
    asked = pd.MultiIndex.from_frame(known[[KEY, "step_code"]])
    pending = applicable[~pd.MultiIndex.from_frame(applicable).isin(asked)]
    pending = pending.assign(_order=pending["step_code"].map(STEP_CODES.index))
    pending = pending.sort_values([KEY, "_order"], kind="stable")
    usual = pending.groupby(KEY)["step_code"].first().map(USUAL_OWN_WORKING_DAYS)
    busy = known["finished_at"].isna().groupby(known[KEY]).any()
    last = known.groupby(KEY)["finished_at"].max()
    turn = pd.DataFrame({"usual": usual, "busy": busy, "last": last}).dropna()
    turn = turn[~turn["busy"].astype(bool)]
    since = working_days_between(
        calendar,
        turn["last"].to_numpy().astype("datetime64[D]"),
        np.full(len(turn), np.datetime64(as_of, "D")),
    )
    return pd.Series((since + 1) / (turn["usual"].to_numpy(dtype=float) + 1), index=turn.index)


def _waited(known: pd.DataFrame, calendar: WorkingCalendar, as_of: dt.date) -> pd.Series:
    """Per application, the working days the company has had its steps in hand so far
    (from each step's start to its finish, or to `as_of` while it runs), summed."""
    start = known["started_at"].to_numpy().astype("datetime64[D]")
    end = known["finished_at"].fillna(pd.Timestamp(as_of)).to_numpy().astype("datetime64[D]")
    days = working_days_between(calendar, start, end)
    return pd.Series(days, index=known.index).groupby(known[KEY]).sum()


def _in_hand(watch: pd.DataFrame, calendar: WorkingCalendar, as_of: dt.date) -> pd.Series:
    """Per application, the working days since the company's longest-running step started:
    how long the applicant has been waiting on the company (not on its own design or works)."""
    running = watch[watch["state"].isin(["running", "overdue"])]
    start = running["clock_start"].to_numpy().astype("datetime64[D]")
    today = np.full(len(running), np.datetime64(as_of, "D"))
    days = pd.Series(working_days_between(calendar, start, today), index=running.index)
    return days.groupby(running[KEY]).max()


def withdrawn_within(
    applications: pd.DataFrame, ids: pd.Index, snapshot: pd.Timestamp, months: int
) -> np.ndarray:
    """1 where the application (of `ids`) withdrew in [snapshot, snapshot + months)."""
    end = snapshot + pd.DateOffset(months=months)
    rows = applications.set_index(KEY).reindex(ids)
    closed = rows["closed_at"]
    withdrew = (rows["status"] == "withdrawn") & (closed >= snapshot) & (closed < end)
    return withdrew.fillna(False).to_numpy(dtype=int)


def snapshot_dates(applicants: Applicants, horizon_months: int) -> list[pd.Timestamp]:
    """Monthly snapshots (first days) whose horizon ends by the data's end, from the second
    month with any application."""
    first = applicants.applications["accepted_at"].min()
    if pd.isna(first):
        return []
    start = (first.to_period("M") + 2).to_timestamp()
    last = applicants.data_end - pd.DateOffset(months=horizon_months)
    return list(pd.date_range(start, last, freq="MS"))


def training_rows(
    applicants: Applicants,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    snapshots: Iterable[pd.Timestamp],
    horizon_months: int = APPLICATION_HORIZON_MONTHS,
) -> pd.DataFrame:
    """Features and label of every application open at each snapshot, stacked; with the
    snapshot date and the revenue at stake (for the metrics on money)."""
    parts = []
    for snapshot in snapshots:
        features = features_at(applicants, clocks, calendar, snapshot.date())
        if features.empty:
            continue
        label = withdrawn_within(applicants.applications, features.index, snapshot, horizon_months)
        opened = applicants.applications.set_index(KEY).reindex(features.index)
        part = features.reset_index()
        part[TIME] = snapshot
        part[LABEL] = label
        part[REVENUE] = expected_revenue_cny(opened)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[KEY, *FEATURES, TIME, LABEL, REVENUE])
    return pd.concat(parts, ignore_index=True)
