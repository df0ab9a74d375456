"""Watch runs of the connection applications in the store: written whole or not at all, the
latest complete one served, its list filtered and sorted, an application's clocks in process
order, and follow-ups of an application kept as the accounts' are."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from retention.store import applications as store
from retention.store.applications import (
    RUNS,
    ApplicationFilters,
    WatchRunNotFound,
    WatchRunRefused,
    application_detail,
    latest_watch_run,
    list_applications,
    run_kpis,
    write_watch_run,
)
from retention.store.database import open_store
from retention.store.follow_ups import (
    FOLLOW_UPS,
    NewFollowUp,
    account_follow_ups,
    application_follow_ups,
    create_follow_up,
    follow_up_changes,
    update_follow_up,
)
from retention.store.keys import create_key

A, B, C = "YK2026110001", "YK2026110002", "YK2026110003"


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)


@pytest.fixture
def three(make_watch_run):  # type: ignore[no-untyped-def]
    """Three open applications: A overdue on its supply plan, B due in 2 working days on
    design review, C running with 9 days left; A and C in unit-01."""
    return make_watch_run(
        [
            {
                "application_id": A,
                "steps_overdue": 1,
                "worst_overdue_working_days": 4,
                "money_at_stake_cny": 5_000.0,
                "withdrawal_probability": 0.5,
            },
            {
                "application_id": B,
                "unit": "unit-02",
                "owner_id": "AM0002",
                "next_due_date": dt.date(2026, 12, 4),
                "money_at_stake_cny": 90_000.0,
                "withdrawal_probability": 0.05,
            },
            {
                "application_id": C,
                "next_due_date": dt.date(2026, 12, 15),
                "money_at_stake_cny": None,
                "withdrawal_probability": None,
            },
        ],
        clocks=[
            {
                "application_id": A,
                "step_code": "site_survey_contact",
                "state": "on_time",
                "limit_working_days": 1,
                "finished_date": dt.date(2026, 11, 3),
                "working_days_left": None,
            },
            {
                "application_id": A,
                "step_code": "supply_plan_reply",
                "state": "overdue",
                "working_days_left": None,
                "overdue_working_days": 4,
            },
            {"application_id": B, "step_code": "design_review", "working_days_left": 2},
            {"application_id": C, "step_code": "supply_plan_reply", "working_days_left": 9},
        ],
        actions=[{"application_id": A}, {"application_id": A, "position": 2, "code": "visit"}],
        kpis=[
            {},
            {"dimension": "unit", "key": "unit-02"},
            {"dimension": "unit", "key": "unit-01"},
            {"dimension": "step", "key": "supply_plan_reply"},
            {"dimension": "step", "key": "site_survey_contact"},
        ],
    )


def _ids(rows) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["application_id"] for r in rows]


def test_without_a_run_the_readers_are_told_so(engine: Engine) -> None:
    with pytest.raises(WatchRunNotFound, match="retention applications"):
        latest_watch_run(engine)


def test_a_written_run_reads_back_as_the_records_rows(engine: Engine, three) -> None:  # type: ignore[no-untyped-def]
    run_id = write_watch_run(engine, three)
    info = latest_watch_run(engine)
    assert (info.id, info.as_of, info.model_version) == (run_id, dt.date(2026, 12, 2), "3")
    assert (info.period_start, info.period_end, info.applications) == (
        dt.date(2026, 12, 1), dt.date(2026, 12, 2), 3,
    )  # fmt: skip
    row, clocks, actions = application_detail(engine, run_id, A)  # type: ignore[misc]
    assert row["rank"] == 1 and row["accepted_at"] == dt.datetime(2026, 11, 2, 9, 30)
    assert row["customer_id"] is None and row["next_due_date"] is None
    assert [c["step_code"] for c in clocks] == ["site_survey_contact", "supply_plan_reply"]
    assert clocks[0]["finished_date"] == dt.date(2026, 11, 3) and clocks[0]["state"] == "on_time"
    assert clocks[1]["overdue_working_days"] == 4 and clocks[1]["working_days_left"] is None
    assert [a["code"] for a in actions] == ["chase_supply_plan", "visit"]
    assert application_detail(engine, run_id, "YK-unknown") is None


def test_frames_typed_as_the_job_makes_them_are_stored(engine: Engine, three) -> None:  # type: ignore[no-untyped-def]
    # Given frames with datetime64 dates and pandas' nullable integers, as the watch list has
    clocks = three.clocks.astype(
        {
            "working_days_left": "Int64",
            "overdue_working_days": "Int64",
            "late_working_days": "Int64",
        }
    )
    for name in ("clock_start", "due_date", "finished_date"):
        clocks[name] = pd.to_datetime(clocks[name])
    applications = three.applications.assign(
        accepted_at=pd.to_datetime(three.applications["accepted_at"]),
        next_due_date=pd.to_datetime(three.applications["next_due_date"]),
        application_id=three.applications["application_id"].astype("str"),
    )
    typed = type(three)(**{**three.__dict__, "clocks": clocks, "applications": applications})
    run_id = write_watch_run(engine, typed)
    _, clocks_b, _ = application_detail(engine, run_id, B)  # type: ignore[misc]
    assert clocks_b[0]["due_date"] == dt.date(2026, 11, 23) and clocks_b[0]["finished_date"] is None
    assert clocks_b[0]["working_days_left"] == 2
    rows, _ = list_applications(engine, run_id, ApplicationFilters(), sort="next_due")
    assert rows[0]["next_due_date"] == dt.date(2026, 12, 4)


def test_the_latest_complete_run_is_served_and_a_killed_write_leaves_it(
    engine: Engine, three, make_watch_run
) -> None:  # type: ignore[no-untyped-def]
    first = write_watch_run(engine, three)
    later = make_watch_run(
        [{"application_id": "YK2026120001"}],
        clocks=[{"application_id": "x", "step_code": "energising"}],
    )
    # When the second run's write dies half-way: its application is in, its clock is not
    real, calls = store._plain, iter(range(1_000))

    def dying(value: object, kind: type) -> object:
        if next(calls) == 25:  # the application has 20 columns, the clock 12
            raise KeyboardInterrupt
        return real(value, kind)

    with mock.patch.object(store, "_plain", dying), pytest.raises(KeyboardInterrupt):
        write_watch_run(engine, later)
    # Then the first is still the latest, the dead one is failed, and a next run is served
    assert latest_watch_run(engine).id == first
    with engine.connect() as connection:
        statuses = connection.execute(select(RUNS.c.status).order_by(RUNS.c.id)).scalars().all()
    assert statuses == ["complete", "failed"]
    newest = write_watch_run(engine, later)
    assert latest_watch_run(engine).id == newest
    _rows, total = list_applications(engine, first, ApplicationFilters())
    assert total == 3, "runs are kept"


def test_a_run_with_a_number_that_is_not_finite_is_refused_by_application(
    engine: Engine, make_watch_run
) -> None:  # type: ignore[no-untyped-def]
    run = make_watch_run([{"application_id": A, "revenue_at_stake_cny": float("inf")}])
    with pytest.raises(WatchRunRefused, match=f"revenue_at_stake_cny .* {A}"):
        write_watch_run(engine, run)
    with pytest.raises(WatchRunNotFound):
        latest_watch_run(engine)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ApplicationFilters(), [A, B, C]),
        (ApplicationFilters(unit="unit-01"), [A, C]),
        (ApplicationFilters(owner="AM0002"), [B]),
        (ApplicationFilters(overdue=True), [A]),
        (ApplicationFilters(overdue=False), [B, C]),
        (ApplicationFilters(step="supply_plan_reply"), [A, C]),
        (ApplicationFilters(step="site_survey_contact"), []),  # finished: no longer counting
        (ApplicationFilters(due_within=2), [B]),
        (ApplicationFilters(due_within=9), [B, C]),
        (ApplicationFilters(step="supply_plan_reply", due_within=5), []),
        (ApplicationFilters(unit="unit-01", step="supply_plan_reply", overdue=False), [C]),
    ],
)
def test_the_list_is_filtered(engine: Engine, three, filters, expected) -> None:  # type: ignore[no-untyped-def]
    run_id = write_watch_run(engine, three)
    rows, total = list_applications(engine, run_id, filters)
    assert _ids(rows) == expected and total == len(expected)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("rank", [A, B, C]),
        ("money", [B, A, C]),  # no money at stake: last
        ("probability", [A, B, C]),
        ("overdue", [A, B, C]),
        ("next_due", [B, C, A]),  # no next due date: last
    ],
)
def test_the_list_is_sorted_and_paged(engine: Engine, three, sort, expected) -> None:  # type: ignore[no-untyped-def]
    run_id = write_watch_run(engine, three)
    rows, _ = list_applications(engine, run_id, ApplicationFilters(), sort=sort)
    assert _ids(rows) == expected
    page, total = list_applications(engine, run_id, ApplicationFilters(), sort, limit=1, offset=1)
    assert _ids(page) == expected[1:2] and total == 3


def test_the_kpis_come_overall_then_by_step_in_process_order_then_by_unit(
    engine: Engine, three
) -> None:  # type: ignore[no-untyped-def]
    run_id = write_watch_run(engine, three)
    rows = run_kpis(engine, run_id)
    assert [(r["dimension"], r["key"]) for r in rows] == [
        ("overall", "all"),
        ("step", "site_survey_contact"),
        ("step", "supply_plan_reply"),
        ("unit", "unit-01"),
        ("unit", "unit-02"),
    ]
    assert rows[0]["on_time_share"] == 0.8 and rows[0]["archived"] == 10


def test_an_applications_follow_up_takes_owner_and_due_date_and_keeps_its_history(
    engine: Engine, three
) -> None:  # type: ignore[no-untyped-def]
    run_id = write_watch_run(engine, three)
    _key, info = create_key(engine, "crm", "crm-prod")
    item = NewFollowUp(None, "chase_supply_plan", note="已催办", application_id=A)
    row, replayed = create_follow_up(
        engine, item, None, info.id, idempotency_key="k-1", run_id=run_id
    )
    assert not replayed and row["application_id"] == A and row["customer_id"] is None
    assert (row["owner"], row["due_date"]) == ("connection_team", dt.date(2026, 12, 4))
    assert row["watch_run_id"] == run_id and row["batch_id"] is None
    # a retry with the same key is stored once
    again, replayed = create_follow_up(
        engine, item, None, info.id, idempotency_key="k-1", run_id=run_id
    )
    assert replayed and again["id"] == row["id"]
    update_follow_up(engine, row["id"], {"outcome": "contacted"}, caller_id=info.id)
    history = follow_up_changes(engine, [row["id"]])
    assert [(c["change"], c["application_id"], c["customer_id"]) for c in history] == [
        ("created", A, None),
        ("updated", A, None),
    ]
    assert [f["id"] for f in application_follow_ups(engine, A)] == [row["id"]]
    assert account_follow_ups(engine, A) == []


def test_an_account_managers_action_is_owned_by_the_applications_manager(
    engine: Engine, make_watch_run
) -> None:  # type: ignore[no-untyped-def]
    run = make_watch_run(
        [{"application_id": A, "owner_id": "AM0042"}],
        actions=[{"application_id": A, "code": "call_applicant", "role": "account_manager"}],
    )
    run_id = write_watch_run(engine, run)
    item = NewFollowUp(None, "call_applicant", application_id=A)
    row, _ = create_follow_up(engine, item, None, None, run_id=run_id)
    assert row["owner"] == "AM0042"


def test_a_follow_up_is_of_exactly_one_account_or_application(engine: Engine) -> None:
    with pytest.raises(ValueError, match="one account or of one application"):
        NewFollowUp(None, "visit")
    with pytest.raises(ValueError, match="one account or of one application"):
        NewFollowUp("3200000001", "visit", application_id=A)
    # and the database itself refuses a row with neither or both
    for subject in ({}, {"customer_id": "3200000001", "application_id": A}):
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                insert(FOLLOW_UPS).values(
                    action_code="visit", outcome="pending", created_at=dt.datetime(2026, 12, 1),
                    updated_at=dt.datetime(2026, 12, 1), **subject,
                )
            )  # fmt: skip


def test_an_accounts_retry_hashes_as_before_applications_came() -> None:
    from retention.store.follow_ups import request_hash

    item = NewFollowUp("3200000001", "dedicated_manager", note="x")
    # the hash the code before follow-ups of applications stored for this request: a retry
    # sent across the upgrade is still a retry, not a conflict
    assert request_hash(item) == "69a4f8d49d82dcfd8b76941454a83c976047865ecb952dbbefa4927b9fc06fae"


def test_the_follow_ups_list_finds_an_applications_and_can_leave_them_out(
    engine: Engine, three
) -> None:  # type: ignore[no-untyped-def]
    from retention.store.follow_ups import list_follow_ups

    run_id = write_watch_run(engine, three)
    of_account, _ = create_follow_up(engine, NewFollowUp("3200000001", "visit"), None, None)
    of_application, _ = create_follow_up(
        engine, NewFollowUp(None, "visit", application_id=A), None, None, run_id=run_id
    )
    today = dt.date(2026, 12, 2)
    everything, total = list_follow_ups(engine, today)
    assert [f["id"] for f in everything] == [of_application["id"], of_account["id"]]
    found, _ = list_follow_ups(engine, today, application_id=A)
    assert [f["id"] for f in found] == [of_application["id"]]
    accounts, total = list_follow_ups(engine, today, accounts_only=True)
    assert [f["id"] for f in accounts] == [of_account["id"]] and total == 1


def test_the_watch_jobs_run_of_a_simulated_portfolio_reads_back_whole(
    engine: Engine, simulation
) -> None:  # type: ignore[no-untyped-def]
    from retention.applications.clocks import load_service_clocks
    from retention.applications.job import build_watch_run
    from retention.applications.withdrawal import Applicants
    from retention.scoring.calendar import WorkingCalendar
    from retention.scoring.playbook import load_playbook

    # Given the job's run six months before the end of the simulated extract
    tables = simulation.tables
    applicants = Applicants(
        tables["applications"], tables["application_steps"], simulation.config.extract_date
    )
    as_of = (applicants.data_end - pd.DateOffset(months=6)).date()
    run = build_watch_run(
        applicants, load_service_clocks(), WorkingCalendar(), load_playbook(), as_of
    )
    # When it is written and read back
    run_id = write_watch_run(engine, run)
    rows, total = list_applications(engine, run_id, ApplicationFilters(), limit=500)
    # Then every application, clock, action and KPI row is there as the job made it
    assert total == len(run.applications) and _ids(rows) == list(run.applications["application_id"])
    first = run.applications.iloc[0]
    row, clocks, actions = application_detail(engine, run_id, first["application_id"])  # type: ignore[misc]
    assert row["accepted_at"] == first["accepted_at"].to_pydatetime()
    expected = run.clocks[run.clocks["application_id"] == first["application_id"]]
    assert len(clocks) == len(expected)
    assert {(c["step_code"], c["state"], c["due_date"]) for c in clocks} == {
        (r.step_code, r.state, r.due_date.date()) for r in expected.itertuples()
    }
    assert len(actions) == (run.actions["application_id"] == first["application_id"]).sum()
    assert len(run_kpis(engine, run_id)) == len(run.kpis)
