"""The withdrawal model's rows: features known at the snapshot, labels in the horizon after it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from retention.applications.clocks import load_service_clocks
from retention.applications.withdrawal import (
    FEATURES,
    Applicants,
    channel_gap,
    features_at,
    training_rows,
    withdrawn_within,
)
from retention.scoring.calendar import WorkingCalendar, working_days_between

Table = Callable[[list[dict[str, object]]], pd.DataFrame]
AS_OF = dt.date(2025, 6, 2)  # a Monday


@pytest.fixture(scope="module")
def clocks():  # type: ignore[no-untyped-def]
    return load_service_clocks()


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def _applicants(applications_table: Table, steps_table: Table) -> Applicants:
    applications = applications_table(
        [
            # accepted, contacted on time, the plan reply overdue and documents asked twice
            {"application_id": "A1", "accepted_at": "2025-04-01 09:00"},
            # accepted, contacted on time, its plan reply given in time
            {"application_id": "A2", "accepted_at": "2025-04-01 09:00"},
            # withdrawn after the snapshot
            {
                "application_id": "A3",
                "accepted_at": "2025-05-06 10:00",
                "status": "withdrawn",
                "closed_at": "2025-07-15 10:00",
            },
        ]
    )
    steps = steps_table(
        [
            {
                "application_id": "A1",
                "step_code": "site_survey_contact",
                "started_at": "2025-04-01 09:00",
                "finished_at": "2025-04-02 10:00",
                "document_requests": 1,
            },
            {
                "application_id": "A1",
                "step_code": "supply_plan_reply",
                "started_at": "2025-04-01 09:00",
                "document_requests": 2,
            },
            {
                "application_id": "A2",
                "step_code": "site_survey_contact",
                "started_at": "2025-04-01 09:00",
                "finished_at": "2025-04-02 10:00",
                "document_requests": 1,
            },
            {
                "application_id": "A2",
                "step_code": "supply_plan_reply",
                "started_at": "2025-04-01 09:00",
                "finished_at": "2025-04-15 16:00",
            },
        ]
    )
    return Applicants(applications, steps, pd.Timestamp("2025-10-01"))


def test_features_count_the_overdue_step_and_the_repeated_request(
    applications_table: Table, steps_table: Table, clocks, calendar: WorkingCalendar
) -> None:
    # Given A1 whose plan reply (15 working days from 2025-04-01) is still not given in June
    applicants = _applicants(applications_table, steps_table)

    # When its features are built on 2025-06-02
    features = features_at(applicants, clocks, calendar, AS_OF)

    # Then A1 has one step overdue and one repeated request; A2 none; all three are open
    assert list(features.columns) == FEATURES
    assert set(features.index) == {"A1", "A2", "A3"}
    assert features.loc["A1", "steps_overdue"] == 1
    assert features.loc["A1", "repeated_document_requests"] == 1
    assert features.loc["A2", "steps_overdue"] == 0
    assert features.loc["A2", "steps_on_time"] == 2
    assert features.loc["A1", "worst_overdue_working_days"] > 10
    assert features.loc["A1", "working_days_in_hand"] > features.loc["A2", "working_days_in_hand"]


def test_features_ignore_everything_that_happens_from_the_snapshot_on(
    applications_table: Table, steps_table: Table, clocks, calendar: WorkingCalendar
) -> None:
    # Given the same applications, and a copy where A1's plan reply is given on the snapshot
    # day and A3 withdraws that day
    applicants = _applicants(applications_table, steps_table)
    later = applicants.steps.copy()
    plan_of_a1 = (later["application_id"] == "A1") & (later["step_code"] == "supply_plan_reply")
    later.loc[plan_of_a1, "finished_at"] = pd.Timestamp(AS_OF)
    apps = applicants.applications.copy()
    apps.loc[apps["application_id"] == "A3", "closed_at"] = pd.Timestamp(AS_OF)
    changed = Applicants(apps, later, applicants.data_end)

    # When features are built at the snapshot from both
    before = features_at(applicants, clocks, calendar, AS_OF)
    after = features_at(changed, clocks, calendar, AS_OF)

    # Then they are the same: only what happened strictly before it is known
    pd.testing.assert_frame_equal(before, after)


def test_the_label_is_a_withdrawal_in_the_horizon_after_the_snapshot(
    applications_table: Table, steps_table: Table
) -> None:
    applicants = _applicants(applications_table, steps_table)
    ids = pd.Index(["A1", "A2", "A3"])
    snapshot = pd.Timestamp(AS_OF)

    assert list(withdrawn_within(applicants.applications, ids, snapshot, 3)) == [0, 0, 1]
    assert list(withdrawn_within(applicants.applications, ids, snapshot, 1)) == [0, 0, 0]


def test_training_rows_stack_every_open_application_of_every_snapshot(
    applications_table: Table, steps_table: Table, clocks, calendar: WorkingCalendar
) -> None:
    applicants = _applicants(applications_table, steps_table)
    snapshots = [pd.Timestamp("2025-05-01"), pd.Timestamp("2025-06-01")]

    rows = training_rows(applicants, clocks, calendar, snapshots, horizon_months=3)

    # A3 was accepted on May 6: open only at the June snapshot; it withdrew on July 15
    assert len(rows) == 5
    june = rows[rows["snapshot_date"] == snapshots[1]].set_index("application_id")
    assert june.loc["A3", "withdrawn"] == 1
    assert (rows["revenue_at_stake_cny"] > 0).all()


def test_the_applicants_pace_is_its_own_time_between_steps_relative_to_the_usual(
    applications_table: Table, steps_table: Table, clocks, calendar: WorkingCalendar
) -> None:
    # Given A2, whose plan reply came on 2025-04-15, requesting its design review on 2025-05-13
    # (18 working days later: the Labour Day holiday and its make-up Sunday in between; the
    # usual is 15), and A3 requesting one only on the snapshot day
    applicants = _applicants(applications_table, steps_table)
    requests = steps_table(
        [
            {
                "application_id": "A2",
                "step_code": "design_review",
                "started_at": "2025-05-13 10:00",
            },
            {
                "application_id": "A3",
                "step_code": "site_survey_contact",
                "started_at": "2025-05-06 10:00",
                "finished_at": "2025-05-07 10:00",
            },
            {
                "application_id": "A3",
                "step_code": "design_review",
                "started_at": f"{AS_OF} 09:00",
            },
        ]
    )
    steps = pd.concat([applicants.steps, requests], ignore_index=True)
    with_requests = Applicants(applicants.applications, steps, applicants.data_end)

    # When the features are built at the snapshot
    features = features_at(with_requests, clocks, calendar, AS_OF)

    # Then A2's pace is (18 + 1) / (15 + 1); A1 and A3 have requested nothing of their own yet
    assert features.loc["A2", "applicant_pace"] == pytest.approx(19 / 16)
    assert features.loc[["A1", "A3"], "applicant_pace"].isna().all()


def test_the_applicants_own_part_under_way_and_the_days_waited_on_the_company(
    applications_table: Table, steps_table: Table, clocks, calendar: WorkingCalendar
) -> None:
    # Given A2 (10 kV, single supply) whose plan reply came on 2025-04-15 and that has not yet
    # asked for its design review, and A1 whose plan reply the company still has in hand
    applicants = _applicants(applications_table, steps_table)

    # When the features are built at the snapshot
    features = features_at(applicants, clocks, calendar, AS_OF)

    # Then A2's own part has lasted since the plan reply, against the usual 8 working days
    # before the next step the shipped clocks apply to it (the dispatch agreement: no
    # condition on voltage or supply there); A1's is not under way; the days waited sum each
    # step's time in hand
    def days(after: str, through: str) -> int:
        return int(
            working_days_between(
                calendar, np.array([after], "datetime64[D]"), np.array([through], "datetime64[D]")
            )[0]
        )

    since = days("2025-04-15", str(AS_OF))
    assert features.loc["A2", "own_part_under_way"] == pytest.approx((since + 1) / 9)
    assert np.isnan(features.loc["A1", "own_part_under_way"])
    waited = days("2025-04-01", "2025-04-02") + days("2025-04-01", "2025-04-15")
    assert features.loc["A2", "working_days_waited"] == waited
    assert features.loc["A1", "working_days_waited"] > waited
    assert features.loc["A1", "clocks_breached"] == 1
    assert features.loc["A2", "clocks_breached"] == 0
    assert features.loc["A2", "own_parts_measured"] == 0


def test_the_company_pace_and_the_days_to_the_current_limit(
    applications_table: Table, steps_table: Table, clocks, calendar: WorkingCalendar
) -> None:
    # Given A2 whose survey contact (limit 1) and plan reply (limit 15) are done, both clocked
    # from the acceptance on 2025-04-01, and A1 whose plan reply is still in hand in June
    applicants = _applicants(applications_table, steps_table)

    # When the features are built at the snapshot
    features = features_at(applicants, clocks, calendar, AS_OF)

    # Then A2's company pace is the geometric mean of (days + 1) / (limit + 1) over both steps,
    # A1's over its survey contact only; A1's nearest limit is as far behind as it is overdue,
    # and A2, with nothing in hand, has none
    def days(through: str) -> int:
        return int(
            working_days_between(
                calendar,
                np.array(["2025-04-01"], "datetime64[D]"),
                np.array([through], "datetime64[D]"),
            )[0]
        )

    survey, plan = (days("2025-04-02") + 1) / 2, (days("2025-04-15") + 1) / 16
    assert features.loc["A2", "company_pace"] == pytest.approx(np.sqrt(survey * plan))
    assert features.loc["A1", "company_pace"] == pytest.approx(survey)
    assert (
        features.loc["A1", "working_days_to_due"]
        == -features.loc["A1", "worst_overdue_working_days"]
    )
    assert np.isnan(features.loc["A2", "working_days_to_due"])


def test_the_channel_gap_is_how_far_an_applicant_outgrows_its_channel() -> None:
    # Given a large high-voltage applicant on each channel, a small one online, and one whose
    # channel the fit does not know
    applications = pd.DataFrame(
        {
            "requested_capacity_kva": [20_000.0, 20_000.0, 20_000.0, 200.0, 20_000.0],
            "voltage_kv": [110.0, 110.0, 110.0, 0.4, 110.0],
            "channel": ["online_app", "service_hall", "account_manager", "online_app", "fax"],
        }
    )

    # When the gap is computed
    gap = channel_gap(applications)

    # Then the large one's need (capped at 1) exceeds the app's reach most, the hall's less,
    # the account manager's not at all; the small online applicant and the unknown channel: 0
    np.testing.assert_allclose(gap, [0.75, 0.45, 0.0, 0.0, 0.0])
