"""A watch run of the connection applications (业扩报装): what the watch job hands the store,
and the rows the store hands back to the API, the pages and the exports.

The job (retention.applications.job) builds a `WatchRun` at a date: one summary row per open
application (its clocks, the risk that it withdraws, what is at stake), one row per clocked
step, the follow-ups the playbook recommends, and the assessment figures (KPI rows) of the
period. The row types are the tables' columns: a renamed column fails type checking in every
reader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

import pandas as pd

ClockState = Literal["on_time", "late", "running", "overdue"]
CLOCK_STATES: Final = ("on_time", "late", "running", "overdue")
CLOCK_STATE_LABELS: Final[dict[str, tuple[str, str]]] = {
    "on_time": ("按时完成", "on time"),
    "late": ("超时完成", "finished late"),
    "running": ("办理中", "running"),
    "overdue": ("已超期", "overdue"),
}
# The KPI rows' dimensions: the whole company, then by step, unit, owner, channel, voltage.
KpiDimension = Literal["overall", "step", "unit", "owner", "channel", "voltage"]
KPI_DIMENSIONS: Final = ("overall", "step", "unit", "owner", "channel", "voltage")


class ClockRow(TypedDict):
    """One clocked step of an open application at the run's date (the watch list)."""

    application_id: str
    step_code: str
    owner_role: str
    limit_working_days: int
    clock_start: dt.date
    due_date: dt.date
    finished_date: dt.date | None
    state: ClockState
    working_days_left: int | None  # running: working days in [as_of, due]
    overdue_working_days: int | None  # overdue: working days in (due, as_of], at least 1
    late_working_days: int | None  # finished late: working days in (due, finished], >= 1


class ApplicationRow(TypedDict):
    """An open application at the run's date: what it is, how its clocks stand, what is at
    stake (the summary; ranked overdue first, then by money at stake)."""

    application_id: str
    rank: int
    application_type: str
    unit: str  # the supplying unit (the contract's `region`)
    owner_id: str | None
    channel: str
    voltage_kv: float
    requested_capacity_kva: float
    supply_type: str
    accepted_at: dt.datetime
    customer_id: str | None
    working_days_open: int
    steps_overdue: int
    worst_overdue_working_days: int
    next_due_step: str | None
    next_due_date: dt.date | None
    document_requests: int
    withdrawal_probability: float | None  # None without a withdrawal model
    revenue_at_stake_cny: float  # a year of the requested capacity's expected revenue
    money_at_stake_cny: float | None  # probability x revenue at stake


class ApplicationActionRow(TypedDict):
    """A follow-up the playbook recommends for an application, with owner and due date."""

    application_id: str
    position: int
    code: str
    text_zh: str
    text_en: str
    role: str
    owner_zh: str
    owner_en: str
    due_date: dt.date
    due_working_days: int


class KpiRow(TypedDict):
    """The assessment figures of the run's period for one dimension and key.

    on_time_share is 业扩报装服务时限达标率: of the orders archived (connected) in the period,
    the share whose every clocked step met its limit (for dimension "step": the share of
    that step's clocks met). Working days to energising are from acceptance to the
    energising step's finish, of the orders connected in the period. For dimension "step"
    the open ones are those whose clock of the step runs or is overdue, and a withdrawn
    application counts at the last step it had started (retention.applications.kpis).
    """

    dimension: KpiDimension
    key: str  # "all" for overall; a step code, unit, owner id, channel or voltage
    archived: int
    archived_on_time: int
    on_time_share: float | None  # None when nothing was archived
    median_working_days_to_energise: float | None
    p90_working_days_to_energise: float | None
    open_now: int
    open_overdue_now: int
    withdrawn: int
    withdrawn_capacity_kva: float
    withdrawn_revenue_cny: float


CLOCK_COLUMNS: Final = list(ClockRow.__annotations__)
APPLICATION_COLUMNS: Final = list(ApplicationRow.__annotations__)
APPLICATION_ACTION_COLUMNS: Final = list(ApplicationActionRow.__annotations__)
KPI_COLUMNS: Final = list(KpiRow.__annotations__)


@dataclass(frozen=True)
class WatchRun:
    """One watch run: the open applications at `as_of`, their clocks and follow-ups, and the
    KPIs of the period [period_start, period_end)."""

    as_of: dt.date
    period_start: dt.date
    period_end: dt.date
    model_version: str | None  # the withdrawal model's version, None without one
    applications: pd.DataFrame  # APPLICATION_COLUMNS
    clocks: pd.DataFrame  # CLOCK_COLUMNS
    actions: pd.DataFrame  # APPLICATION_ACTION_COLUMNS
    kpis: pd.DataFrame  # KPI_COLUMNS
