"""The watch job on the simulated portfolio: every open application ranked, with its clocks,
its risk, what is at stake and the playbook's follow-ups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from retention.applications.clocks import load_service_clocks
from retention.applications.job import build_watch_run, year_to_date
from retention.applications.watch import open_applications
from retention.applications.withdrawal import Applicants
from retention.data.simulator import SimulationResult
from retention.records.applications import (
    APPLICATION_ACTION_COLUMNS,
    APPLICATION_COLUMNS,
    CLOCK_COLUMNS,
    KPI_COLUMNS,
)
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook


@pytest.fixture(scope="module")
def applicants(simulation: SimulationResult) -> Applicants:
    tables = simulation.tables
    return Applicants(
        tables["applications"], tables["application_steps"], simulation.config.extract_date
    )


@pytest.fixture(scope="module")
def as_of(applicants: Applicants) -> dt.date:
    return (applicants.data_end - pd.DateOffset(months=6)).date()


def test_every_open_application_is_listed_once_overdue_ones_first(
    applicants: Applicants, as_of: dt.date
) -> None:
    # When the job runs without a withdrawal model
    run = build_watch_run(
        applicants, load_service_clocks(), WorkingCalendar(), load_playbook(), as_of
    )

    # Then each open application is a row, ranked 1..n, every overdue one before the rest
    opened = open_applications(applicants.applications, as_of)
    assert len(opened) > 10
    assert sorted(run.applications["application_id"]) == sorted(opened["application_id"])
    assert list(run.applications.columns) == APPLICATION_COLUMNS
    assert list(run.applications["rank"]) == list(range(1, len(opened) + 1))
    overdue = (run.applications["steps_overdue"] > 0).to_numpy()
    assert overdue.any() and not overdue.all()
    assert not (np.diff(overdue.astype(int)) > 0).any()  # no overdue row after a clean one
    assert run.model_version is None
    assert run.applications["withdrawal_probability"].isna().all()
    assert (run.applications["revenue_at_stake_cny"] > 0).all()
    assert list(run.clocks.columns) == CLOCK_COLUMNS
    assert list(run.kpis.columns) == KPI_COLUMNS
    assert (run.period_start, run.period_end) == year_to_date(as_of)


def test_the_playbook_sends_a_manager_to_every_overdue_application(
    applicants: Applicants, as_of: dt.date
) -> None:
    run = build_watch_run(
        applicants, load_service_clocks(), WorkingCalendar(), load_playbook(), as_of
    )

    assert list(run.actions.columns) == APPLICATION_ACTION_COLUMNS
    overdue = set(run.applications.loc[run.applications["steps_overdue"] > 0, "application_id"])
    managed = set(run.actions.loc[run.actions["code"] == "dedicated_manager", "application_id"])
    assert overdue <= managed
    # the first-contact follow-up is due the next working day
    calendar = WorkingCalendar()
    first = run.actions[run.actions["code"] == "dedicated_manager"]
    assert (first["due_date"] == calendar.add_working_days(as_of, 1)).all()
    # nobody at the service hall is moved to another channel
    hall = set(
        run.applications.loc[run.applications["channel"] == "service_hall", "application_id"]
    )
    moved = set(run.actions.loc[run.actions["code"] == "integrated_channel", "application_id"])
    assert not hall & moved
