"""The watch job: every open connection application at a date, on its service clocks, with
the risk that it withdraws, what is at stake, the follow-ups the playbook prescribes and the
period's assessment figures, as one `WatchRun` for the store, the API and the pages.

Ranked as the team works the list: applications with an overdue step first, then by money at
stake (withdrawal probability x a year of the requested capacity's revenue; without a model,
by the worst overdue step and the next due date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention.applications.clocks import ServiceClocks, load_service_clocks
from retention.applications.kpis import kpis
from retention.applications.stake import expected_revenue_cny
from retention.applications.watch import application_summary, open_applications, watch_list
from retention.applications.withdrawal import Applicants, applicants_of, features_at
from retention.data.dataset import Dataset
from retention.model import registry
from retention.model.artifact import ChurnModel
from retention.model.registry import WITHDRAWAL_EXPERIMENT, WITHDRAWAL_MODEL
from retention.records.applications import (
    APPLICATION_ACTION_COLUMNS,
    APPLICATION_COLUMNS,
    CLOCK_COLUMNS,
    WatchRun,
)
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import Playbook, load_playbook, recommend_for_applicant
from retention.settings import Settings

HIGH_VOLTAGE_KV = 10.0  # 高压: 10 kV and above
KEY = "application_id"


@dataclass(frozen=True)
class WatchSetup:
    """What a watch run reads besides the data: the clocks, the playbook, the calendar and
    the withdrawal champion (None before one is trained)."""

    clocks: ServiceClocks
    playbook: Playbook
    calendar: WorkingCalendar
    model: ChurnModel | None
    model_version: str | None


def watch_setup(settings: Settings) -> WatchSetup:
    """The configured clocks and playbook (settings' files), and the registry's withdrawal
    champion if there is one; a bad file raises ConfigFileError naming it."""
    playbook = load_playbook(settings.playbook_file)
    clocks = load_service_clocks(settings.service_clocks_file, roles=playbook.roles)
    registry.configure(settings.tracking_uri, WITHDRAWAL_EXPERIMENT)
    version = registry.champion_version(WITHDRAWAL_MODEL)
    model = None if version is None else registry.load_version(version, WITHDRAWAL_MODEL)
    return WatchSetup(clocks, playbook, WorkingCalendar(settings.holidays_file), model, version)


def run_watch(
    setup: WatchSetup,
    dataset: Dataset,
    as_of: dt.date,
    period: tuple[dt.date, dt.date] | None = None,
) -> WatchRun:
    """The watch run of a dataset's applications at `as_of` (NoApplications without them)."""
    return build_watch_run(
        applicants_of(dataset),
        setup.clocks,
        setup.calendar,
        setup.playbook,
        as_of,
        model=setup.model,
        model_version=setup.model_version,
        period=period,
    )


def year_to_date(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The default assessment period: from the first of January to the watch date."""
    return dt.date(as_of.year, 1, 1), as_of


def build_watch_run(
    applicants: Applicants,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    playbook: Playbook,
    as_of: dt.date,
    model: ChurnModel | None = None,
    model_version: str | None = None,
    period: tuple[dt.date, dt.date] | None = None,
) -> WatchRun:
    """The watch run at `as_of` (only what happened before it is known)."""
    applications, steps = applicants.applications, applicants.steps
    watch = watch_list(applications, steps, clocks, calendar, as_of)
    summary = application_summary(applications, steps, watch, calendar, as_of)
    opened = open_applications(applications, as_of).set_index(KEY).reindex(summary[KEY])
    probability = _withdrawal_probability(
        applicants, clocks, calendar, as_of, model, summary, watch
    )
    revenue = expected_revenue_cny(opened.reset_index())
    listed = summary.assign(
        application_type=opened["application_type"].to_numpy(),
        supply_type=opened["supply_type"].to_numpy(),
        accepted_at=opened["accepted_at"].to_numpy(),
        customer_id=opened["customer_id"].to_numpy(),
        withdrawal_probability=probability,
        revenue_at_stake_cny=revenue,
        money_at_stake_cny=probability * revenue,
    )
    listed = _ranked(listed)
    start, end = period or year_to_date(as_of)
    return WatchRun(
        as_of=as_of,
        period_start=start,
        period_end=end,
        model_version=model_version if model is not None else None,
        applications=listed[APPLICATION_COLUMNS],
        clocks=watch[CLOCK_COLUMNS],
        actions=_actions(listed, watch, playbook, calendar, as_of),
        kpis=kpis(applications, steps, clocks, calendar, start, end, as_of, watch),
    )


def _withdrawal_probability(
    applicants: Applicants,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    as_of: dt.date,
    model: ChurnModel | None,
    summary: pd.DataFrame,
    watch: pd.DataFrame,
) -> np.ndarray:
    """The model's probability for each summary row (NaN without a model)."""
    if model is None or summary.empty:
        return np.full(len(summary), np.nan)
    features = features_at(applicants, clocks, calendar, as_of, watch).reindex(summary[KEY])
    return np.asarray(model.predict_proba(features), dtype=float)


def _ranked(listed: pd.DataFrame) -> pd.DataFrame:
    """Overdue first, then money at stake, the worst overdue and the next due date."""
    ordered = listed.assign(_overdue=listed["steps_overdue"] > 0).sort_values(
        ["_overdue", "money_at_stake_cny", "worst_overdue_working_days", "next_due_date", KEY],
        ascending=[False, False, False, True, True],
        na_position="last",
        kind="stable",
    )
    return ordered.drop(columns="_overdue").assign(rank=np.arange(1, len(ordered) + 1))


def _actions(
    listed: pd.DataFrame,
    watch: pd.DataFrame,
    playbook: Playbook,
    calendar: WorkingCalendar,
    as_of: dt.date,
) -> pd.DataFrame:
    """The playbook's applicant rules for every listed application, with due dates."""
    by_state = watch.groupby([KEY, "state"])["step_code"].agg(set)
    rows = []
    for app in listed.to_dict("records"):
        application_id, owner = str(app[KEY]), app["owner_id"]
        probability = app["withdrawal_probability"]
        facts = {
            "application_type": app["application_type"],
            "supply_type": app["supply_type"],
            "channel": app["channel"],
            "high_voltage": bool(float(app["voltage_kv"]) >= HIGH_VOLTAGE_KV),
            "has_owner": isinstance(owner, str),
        }
        found = recommend_for_applicant(
            playbook,
            calendar,
            as_of,
            overdue=by_state.get((application_id, "overdue"), set()),
            running=by_state.get((application_id, "running"), set()),
            facts=facts,
            probability=None if pd.isna(probability) else float(probability),
            owner_id=owner if isinstance(owner, str) else None,
        )
        for position, action in enumerate(found, start=1):
            rows.append(
                {
                    KEY: application_id,
                    "position": position,
                    "code": action.code,
                    "text_zh": action.text_zh,
                    "text_en": action.text_en,
                    "role": action.role,
                    "owner_zh": action.owner_zh,
                    "owner_en": action.owner_en,
                    "due_date": action.due_date,
                    "due_working_days": action.due_working_days,
                }
            )
    return pd.DataFrame(rows, columns=APPLICATION_ACTION_COLUMNS)
