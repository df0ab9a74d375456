"""The store's tables, designed once for every stage of the service.

Scoring writes a batch (its scores, reasons and actions); the team's follow-ups, the users of
the web page and the CRM's API keys live beside them. Times are naive UTC everywhere, so
SQLite and PostgreSQL read back the same values. The schema is created and changed only by the
migrations under `store/migrations/` (Alembic); these classes are what the code queries.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from retention.records.labels import PENDING

BATCH_RUNNING = "running"
BATCH_COMPLETE = "complete"
BATCH_FAILED = "failed"
BATCH_ABANDONED = "abandoned"  # a job that died before completing (found by a later batch)
BATCH_STATUSES = (BATCH_RUNNING, BATCH_COMPLETE, BATCH_FAILED, BATCH_ABANDONED)

ROLES = ("crm", "retention", "admin")  # the CRM system, the retention team, administrators

# Stable constraint names, so migrations can alter them on SQLite and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ScoringBatch(Base):
    """One scoring run; visible to readers only once `status` is complete."""

    __tablename__ = "scoring_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_date: Mapped[dt.date] = mapped_column(Date)
    scored_on: Mapped[dt.date] = mapped_column(Date)  # due dates count from this day
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(20))
    capacity: Mapped[int] = mapped_column(Integer)
    # The model's horizon: scores.probability is the churn within it (None: batches stored
    # before it was recorded).
    horizon_months: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=BATCH_RUNNING)
    accounts: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utc_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # What ranked the list (money_at_risk, money_saved) and why, Chinese first; the effect
    # model whose estimates the batch holds (None: none with enough evidence, or older batches).
    list_mode: Mapped[str | None] = mapped_column(String(16))
    list_reason: Mapped[str | None] = mapped_column(Text)
    effects_version: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (Index("ix_scoring_batches_status_id", "status", "id"),)


class Score(Base):
    """An account's place in a batch: probability, money at risk, band, and the facts the list
    shows (copied, so a batch reads the same however the archive changes later)."""

    __tablename__ = "scores"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int | None] = mapped_column(Integer)  # None for accounts in exit process
    band: Mapped[str] = mapped_column(String(8))  # records.labels.Band
    probability: Mapped[float | None] = mapped_column(Double)
    # Churn within 1 and 3 months (time to churn); None from a model without timing models.
    probability_1m: Mapped[float | None] = mapped_column(Double)
    probability_3m: Mapped[float | None] = mapped_column(Double)
    expected_revenue_cny: Mapped[float | None] = mapped_column(Double)
    money_at_risk_cny: Mapped[float | None] = mapped_column(Double)
    customer_name: Mapped[str | None] = mapped_column(String(200))
    industry_code: Mapped[str | None] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(100))
    account_manager_id: Mapped[str | None] = mapped_column(String(64))
    contract_capacity_kva: Mapped[float | None] = mapped_column(Double)
    # kWh of the 36 months before the snapshot, oldest first (JSON list): the account page's
    # chart of 24 months against the year before, without the dataset at hand.
    kwh_36m: Mapped[str | None] = mapped_column(Text)
    # The best eligible action by the effects champion, its churn averted and money saved.
    best_action: Mapped[str | None] = mapped_column(String(40))
    churn_averted: Mapped[float | None] = mapped_column(Double)
    money_saved_cny: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (Index("ix_scores_batch_rank", "batch_id", "rank"),)


class ExpectedEffect(Base):
    """An account's expected effect of one of its eligible actions in a batch (targeting)."""

    __tablename__ = "expected_effects"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    churn_averted: Mapped[float] = mapped_column(Double)
    money_saved_cny: Mapped[float] = mapped_column(Double)


class Reason(Base):
    """One of an account's top risk-raising feature groups, in words with its own value."""

    __tablename__ = "reasons"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    group: Mapped[str] = mapped_column(String(32))
    contribution: Mapped[float] = mapped_column(Double)  # log-odds the group adds
    feature: Mapped[str] = mapped_column(String(64))
    value_number: Mapped[float | None] = mapped_column(Double)
    value_text: Mapped[str | None] = mapped_column(String(100))
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)


class Action(Base):
    """A recommended follow-up from the playbook, with owner and due date."""

    __tablename__ = "actions"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # the playbook's order for this account
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(64))  # the account manager's id, else the role
    owner_zh: Mapped[str] = mapped_column(String(100))
    owner_en: Mapped[str] = mapped_column(String(100))
    due_date: Mapped[dt.date] = mapped_column(Date)
    due_working_days: Mapped[int] = mapped_column(Integer)
    # The tariff_plan action's computed offer (null elsewhere, or where it cannot be priced):
    # the best plan, its 12-month saving and every plan's bill as JSON text.
    plan_code: Mapped[str | None] = mapped_column(String(20))
    saving_cny: Mapped[float | None] = mapped_column(Double)
    plan_detail: Mapped[str | None] = mapped_column(Text)


class Assignment(Base):
    """An account of a batch's randomised window at the capacity edge (scoring/assignment.py):
    followed up or held out as the control group, the action, its probability (propensity),
    the draw and the batch's seed; written with the batch, in the same transaction. `complied`
    turns false when a held-out account is followed up all the same (store/follow_ups.py)."""

    __tablename__ = "assignments"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    assignment: Mapped[str] = mapped_column(String(16))  # followed_up or held_out
    action_code: Mapped[str] = mapped_column(String(40))
    follow_up_probability: Mapped[float] = mapped_column(Double)
    action_probability: Mapped[float | None] = mapped_column(Double)
    assignment_probability: Mapped[float] = mapped_column(Double)
    draw: Mapped[float] = mapped_column(Double)
    seed: Mapped[int] = mapped_column(BigInteger)
    # False once the team logged a follow-up of a held-out account in its batch (the control
    # group was followed up after all): the assignment was not complied with.
    complied: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    __table_args__ = (
        CheckConstraint("assignment IN ('followed_up', 'held_out')", name="assignment"),
        CheckConstraint(
            "assignment_probability > 0 AND assignment_probability <= 1", name="propensity"
        ),
    )


class User(Base):
    """A person who signs in to the web page (team, admin) or owns API keys."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    # The account manager this person is (客户经理编号), so the page can show "my accounts".
    account_manager_id: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utc_now)
    # Kept in each session at sign-in and checked on every page: raising it (sign-out, a new
    # password or role, deactivation) ends every session of the person, copied cookies too.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiKey(Base):
    """A machine credential (the CRM): only a hash is kept; the prefix identifies it in lists."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The person who holds the key; None for a system such as the CRM.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)  # sha256 of the key
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utc_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class FollowUp(Base):
    """What the team did for an account, or for a connection application (业扩报装), and what
    came of it (跟进记录): exactly one of customer_id and application_id is set."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="SET NULL")
    )
    application_id: Mapped[str | None] = mapped_column(String(64), index=True)
    watch_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("watch_runs.id", ondelete="SET NULL")
    )
    action_code: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    due_date: Mapped[dt.date | None] = mapped_column(Date)  # from the batch's action
    outcome: Mapped[str] = mapped_column(String(16), default=PENDING)  # FollowUpOutcome
    note: Mapped[str | None] = mapped_column(Text)
    contacted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utc_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    # a follow-up logged on the web page: the signed-in person who logged it
    created_by_user: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A retried POST with the same key is stored once (the API scopes keys by caller); the
    # request's hash tells a true retry from a different request reusing a key.
    idempotency_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("(customer_id IS NULL) <> (application_id IS NULL)", name="one_subject"),
    )


class FollowUpChange(Base):
    """One entry of a follow-up's history (append-only): its logging, then every change of its
    outcome, contact time or note; who made it (an API key or a person signed in on the page,
    with the name they had then) and the changed fields before and after (JSON).

    Nothing here ever goes: who is kept by id and name without foreign keys (a deleted key or
    person leaves the entry as it was), a follow-up with a history cannot be deleted, and
    database triggers refuse to change or delete an entry (migration 0007)."""

    __tablename__ = "follow_up_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    follow_up_id: Mapped[int] = mapped_column(
        ForeignKey("follow_ups.id", ondelete="RESTRICT"), index=True
    )
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    application_id: Mapped[str | None] = mapped_column(String(64), index=True)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    change: Mapped[str] = mapped_column(String(16))  # created or updated
    changed_by: Mapped[int | None] = mapped_column(Integer)  # the API key's id
    changed_by_user: Mapped[int | None] = mapped_column(Integer)  # the person's id
    changed_by_name: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[str | None] = mapped_column(Text)  # None for the entry that logged it
    after: Mapped[str] = mapped_column(Text)


class PeerMedian(Base):
    """A batch's median of a feature among an industry's accounts ("*": all accounts), so one
    account scored on demand is compared with the same peers as in the batch."""

    __tablename__ = "peer_medians"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="CASCADE"), primary_key=True
    )
    industry_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    feature: Mapped[str] = mapped_column(String(64), primary_key=True)
    median: Mapped[float | None] = mapped_column(Double)
    peers: Mapped[int] = mapped_column(Integer)


class MonitoringReport(Base):
    """One `retention monitor` run on a batch: the JSON summary (drift, realised churn, the
    retrain signal) and where its HTML reports were written. Serving reads the summary only."""

    __tablename__ = "monitoring_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("scoring_batches.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    model_version: Mapped[str] = mapped_column(String(20))
    retrain_recommended: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[str] = mapped_column(Text)  # JSON of records.monitoring.MonitoringSummary


class WatchRun(Base):
    """One watch run of the connection applications (业扩报装); like a scoring batch, visible
    to readers only once `status` is complete. Runs are kept: the latest complete one is
    what the API and the pages show."""

    __tablename__ = "watch_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    model_version: Mapped[str | None] = mapped_column(String(20))  # the withdrawal model's
    status: Mapped[str] = mapped_column(String(16), default=BATCH_RUNNING)
    applications: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utc_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_watch_runs_status_id", "status", "id"),)


class WatchedApplication(Base):
    """An open application in a run (records.applications.ApplicationRow); no applicant name:
    the run does not carry it."""

    __tablename__ = "watched_applications"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("watch_runs.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    application_type: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    voltage_kv: Mapped[float] = mapped_column(Double)
    requested_capacity_kva: Mapped[float] = mapped_column(Double)
    supply_type: Mapped[str] = mapped_column(String(16))
    accepted_at: Mapped[dt.datetime] = mapped_column(DateTime)  # local time, as in the data
    customer_id: Mapped[str | None] = mapped_column(String(64))
    working_days_open: Mapped[int] = mapped_column(Integer)
    steps_overdue: Mapped[int] = mapped_column(Integer)
    worst_overdue_working_days: Mapped[int] = mapped_column(Integer)
    next_due_step: Mapped[str | None] = mapped_column(String(40))
    next_due_date: Mapped[dt.date | None] = mapped_column(Date)
    document_requests: Mapped[int] = mapped_column(Integer)
    withdrawal_probability: Mapped[float | None] = mapped_column(Double)
    revenue_at_stake_cny: Mapped[float] = mapped_column(Double)
    money_at_stake_cny: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        Index("ix_watched_applications_run_rank", "run_id", "rank"),
        Index("ix_watched_applications_run_unit", "run_id", "unit"),
        Index("ix_watched_applications_run_owner", "run_id", "owner_id"),
    )


class ApplicationClock(Base):
    """A clocked step of an application in a run (records.applications.ClockRow)."""

    __tablename__ = "application_clocks"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("watch_runs.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_role: Mapped[str] = mapped_column(String(40))
    limit_working_days: Mapped[int] = mapped_column(Integer)
    clock_start: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    finished_date: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))  # records.applications.ClockState
    working_days_left: Mapped[int | None] = mapped_column(Integer)
    overdue_working_days: Mapped[int | None] = mapped_column(Integer)
    late_working_days: Mapped[int | None] = mapped_column(Integer)

    # the list's step and due-within filters look clocks up by step and state
    __table_args__ = (
        Index("ix_application_clocks_run_step_state", "run_id", "step_code", "state"),
    )


class ApplicationAction(Base):
    """A follow-up the playbook recommends for an application in a run."""

    __tablename__ = "application_actions"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("watch_runs.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(40))
    owner_zh: Mapped[str] = mapped_column(String(100))
    owner_en: Mapped[str] = mapped_column(String(100))
    due_date: Mapped[dt.date] = mapped_column(Date)
    due_working_days: Mapped[int] = mapped_column(Integer)


class ApplicationKpi(Base):
    """The assessment figures of a run's period for one dimension and key (KpiRow)."""

    __tablename__ = "application_kpis"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("watch_runs.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    archived: Mapped[int] = mapped_column(Integer)
    archived_on_time: Mapped[int] = mapped_column(Integer)
    on_time_share: Mapped[float | None] = mapped_column(Double)
    median_working_days_to_energise: Mapped[float | None] = mapped_column(Double)
    p90_working_days_to_energise: Mapped[float | None] = mapped_column(Double)
    open_now: Mapped[int] = mapped_column(Integer)
    open_overdue_now: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[int] = mapped_column(Integer)
    withdrawn_capacity_kva: Mapped[float] = mapped_column(Double)
    withdrawn_revenue_cny: Mapped[float] = mapped_column(Double)


class EffectEvidenceRun(Base):
    """One effects run's evidence (`retention effects`): each action's effect with its
    interval, overall and by segment, and the follow-ups' retention against the controls, as
    JSON of records.evidence.EffectEvidence, written whole in one insert. The newest is what
    GET /v1/effects, the effects page and the KPIs show."""

    __tablename__ = "effect_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    dataset: Mapped[str] = mapped_column(String(200))
    horizon_months: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)  # randomised outcomes measured
    estimable: Mapped[bool] = mapped_column(Boolean)
    evidence: Mapped[str] = mapped_column(Text)
