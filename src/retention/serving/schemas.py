"""Request and response models: what the CRM sends and gets, with examples that work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from retention.data.contract import ACTION_CODES, APPLICATION_CHANNELS, STEP_CODES
from retention.data.local_time import LOCAL_TIMEZONE
from retention.records.applications import ClockState, KpiDimension
from retention.records.evidence import ControlComparison, EffectCell
from retention.records.labels import Band, FollowUpOutcome
from retention.records.monitoring import (
    FeatureDrift,
    RealisedChurn,
    RetrainReason,
    SegmentDrift,
)
from retention.scoring.tariff_offers import offer_of
from retention.tariffs.calculator import PLANS

_LOCAL = ZoneInfo(LOCAL_TIMEZONE)


def _stored_utc(value: dt.datetime) -> dt.datetime:
    """A time from the store (naive UTC) as an RFC 3339 instant."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def to_store(value: dt.datetime) -> dt.datetime:
    """A time sent by a client as the store keeps it (naive UTC); a time without a zone is
    local time (Asia/Shanghai), as the CRM and the team mean it."""
    zoned = value.replace(tzinfo=_LOCAL) if value.tzinfo is None else value
    try:
        stored = zoned.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError as err:
        raise ValueError("time out of range") from err
    if not 1900 <= stored.year <= 2100:
        raise ValueError("time must be between 1900 and 2100")
    return stored


def _local(value: dt.datetime) -> dt.datetime:
    """A time of the data (naive local time, as the data contract reads it) with its zone."""
    return value.replace(tzinfo=_LOCAL) if value.tzinfo is None else value


Instant = Annotated[dt.datetime, AfterValidator(_stored_utc)]
LocalTime = Annotated[dt.datetime, AfterValidator(_local)]
ClientTime = Annotated[
    dt.datetime,
    AfterValidator(to_store),
    Field(description="with a zone, or local time (Asia/Shanghai) without one"),
]

# Made from the records' and the contract's lists, so the API cannot drift from them.
Outcome = FollowUpOutcome
ActionCode = Literal[ACTION_CODES]  # type: ignore[valid-type]
StepCode = Literal[STEP_CODES]  # type: ignore[valid-type]
Channel = Literal[APPLICATION_CHANNELS]  # type: ignore[valid-type]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Error(BaseModel):
    """Every error: a machine-readable code and a message for people."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["customer 1234567890 is not in the latest batch"])


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model_version: str
    latest_batch: int | None


class Reason(_Out):
    rank: int
    group: str = Field(description="feature group, e.g. consumption")
    feature: str
    value_number: float | None
    value_text: str | None
    contribution: float = Field(description="log-odds this group adds to the risk")
    text_zh: str = Field(examples=["近 3 个月用电量同比下降 42%"])
    text_en: str = Field(examples=["consumption down 42% year on year over 3 months"])


class PlanAlternative(BaseModel):
    plan: Literal[PLANS]  # type: ignore[valid-type]
    label_zh: str
    label_en: str
    bill_cny: float | None = Field(description="12-month bill under this plan (null: unpriced)")
    saving_cny: float | None = Field(
        description="against the current plan (null: the current plan, or not open to it)"
    )


class TariffPlanOffer(BaseModel):
    """The tariff tables' best plan for the account over the 12 months before the snapshot."""

    code: Literal[PLANS] = Field(  # type: ignore[valid-type]
        description="the best plan; current: no alternative saves"
    )
    label_zh: str = Field(examples=["基本电费改为按最大需量计收"])
    label_en: str = Field(examples=["basic charge by maximum demand"])
    saving_cny: float | None = Field(examples=[182000.0])
    alternatives: list[PlanAlternative]
    recomputed_cny: float | None = Field(description="the billed months recomputed from tables")
    billed_cny: float | None
    difference_cny: float | None
    tables_match: bool | None = Field(
        description="recomputed within 0.5% of billed (false: the tables may not be the ones "
        "the account is billed by; null: no bills to compare with)"
    )


class RecommendedAction(_Out):
    code: ActionCode
    text_zh: str
    text_en: str
    role: str
    owner: str = Field(description="the account manager's id where there is one, else the role")
    owner_zh: str
    owner_en: str
    due_date: dt.date
    due_working_days: int
    plan: TariffPlanOffer | None = Field(
        default=None,
        description="tariff_plan only: the computed best plan and saving (null elsewhere, or "
        "where the tariff tables cannot price the account)",
    )

    @model_validator(mode="before")
    @classmethod
    def _offer(cls, data: Any) -> Any:
        """A stored or freshly scored action row carries its offer as plan_* columns."""
        if isinstance(data, Mapping) and "plan" not in data:
            return {**data, "plan": offer_of(data)}
        return data


class FollowUpIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "action_code": "dedicated_manager",
                    "outcome": "contacted",
                    "note": "客户经理已电话联系，约定周三上门 / called, visit on Wednesday",
                    "contacted_at": "2026-11-30T10:30:00+08:00",
                }
            ]
        },
    )

    action_code: ActionCode
    outcome: Outcome = "pending"
    note: str | None = Field(default=None, max_length=2000)
    contacted_at: ClientTime | None = None


class FollowUpPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome | None = None
    note: str | None = Field(default=None, max_length=2000)
    contacted_at: ClientTime | None = None


class FollowUp(_Out):
    """A follow-up of an account (customer_id, batch_id) or of a connection application
    (application_id, watch_run_id): exactly one of customer_id and application_id is set."""

    id: int
    customer_id: str | None
    batch_id: int | None
    application_id: str | None = None
    watch_run_id: int | None = None
    action_code: str
    owner: str | None
    due_date: dt.date | None
    outcome: Outcome
    note: str | None
    contacted_at: Instant | None
    created_at: Instant
    updated_at: Instant


class FollowUpWarning(BaseModel):
    """Something the team should know about a follow-up that was stored all the same."""

    code: Literal["control_group_followed_up"] = Field(
        description="control_group_followed_up: the account is held out as the batch's "
        "control group (对照组), no follow-up due; its assignment is now not complied with"
    )
    message: str = Field(
        examples=[
            "该客户本期为对照组（不跟进）：跟进已记录，随机分配记为未遵从 / the account is held "
            "out as this batch's control group (no follow-up due): the follow-up is stored and "
            "the assignment marked as not complied with"
        ]
    )


class LoggedFollowUp(FollowUp):
    """A follow-up just logged (or found again by its Idempotency-Key), with a warning when
    it should not have been needed."""

    warning: FollowUpWarning | None = Field(
        default=None, description="null: nothing to say; else a code and a message (中文 / English)"
    )


class FollowUps(BaseModel):
    data: list[FollowUp]
    count: int


class FollowUpChange(_Out):
    """One entry of a follow-up's history: its logging, or a change of its outcome, contact
    time or note; who made it and the changed fields before and after."""

    id: int
    follow_up_id: int
    customer_id: str | None
    application_id: str | None = None
    changed_at: Instant
    change: Literal["created", "updated"]
    changed_by: int | None = Field(description="the API key's id (none: on the web page)")
    changed_by_user: int | None = Field(description="the person signed in on the web page")
    changed_by_name: str | None = Field(
        description="who, as they were called then: the key's name and prefix, or the person",
        examples=["王经理 (wang)"],
    )
    before: dict[str, str | None] | None = Field(
        description="the changed fields before (none for the entry that logged it)",
        examples=[{"outcome": "pending", "contacted_at": None}],
    )
    after: dict[str, str | None] = Field(
        description="the changed fields after (all of them when it was logged); times in UTC",
        examples=[{"outcome": "contacted", "contacted_at": "2026-11-30T02:30:00Z"}],
    )


class FollowUpChanges(BaseModel):
    data: list[FollowUpChange] = Field(description="oldest first")
    count: int


class Assignment(BaseModel):
    """The account's draw at the capacity edge (README.md, "Effects of the actions")."""

    assignment: Literal["followed_up", "held_out"] = Field(
        description="held_out: the control group, no follow-up due this batch"
    )
    label: str = Field(examples=["对照组（本期不跟进） / control group (no follow-up due)"])
    action_code: str = Field(
        description="the assigned action, or the one a held-out account would have got"
    )
    assignment_probability: float = Field(description="the propensity of the draw's result")
    seed: int = Field(description="the batch's seed: replaying it gives the same draws")
    complied: bool = Field(
        default=True,
        description="false: a held-out account the team followed up all the same (the "
        "follow-up is kept; the export keeps the account a control, intention to treat)",
    )


class ListedAccount(_Out):
    customer_id: str
    rank: int | None = Field(description="place in the list; none for accounts in exit process")
    band: Band
    probability: float | None
    money_at_risk_cny: float | None
    expected_revenue_cny: float | None
    customer_name: str | None
    industry_code: str | None
    region: str | None
    account_manager_id: str | None
    contract_capacity_kva: float | None
    best_action: ActionCode | None = Field(
        default=None,
        description="targeting: the eligible action expected to save most (null: no effect "
        "model with enough randomised evidence)",
    )
    churn_averted: float | None = Field(
        default=None, description="the best action's expected churn averted (probability)"
    )
    money_saved_cny: float | None = Field(
        default=None,
        description="the best action's expected money saved: churn averted x expected revenue",
    )
    assignment: Assignment | None = Field(
        default=None, description="only for an account of the randomised window"
    )


class ExpectedEffect(_Out):
    """An eligible action's expected effect on the account, by the effects champion."""

    code: ActionCode
    churn_averted: float = Field(
        description="churn probability within the effects' horizon without the follow-up "
        "minus with it",
        examples=[0.031],
    )
    money_saved_cny: float = Field(description="churn averted x expected revenue of 12 months")
    recommended: bool = Field(description="the playbook recommends it for the account")
    best: bool = Field(description="the action expected to save most")


ListMode = Literal["money_at_risk", "money_saved"]
LIST_MODE_FIELD = Field(
    default=None,
    description="what ranked the batch's list (null: a batch scored before targeting)",
)
LIST_REASON_FIELD = Field(
    default=None,
    description="why, 中文 / English (e.g. not enough randomised evidence yet)",
    examples=["证据不足：尚无效果模型冠军 ... / not enough evidence: no effect model champion yet"],
)


class Horizon(BaseModel):
    """The probability of churn within some months of the snapshot."""

    months: int = Field(examples=[3])
    probability: float = Field(examples=[0.042])


HORIZONS_FIELD = Field(
    description=(
        "time to churn: the probability of churn within 1, 3 and the model's horizon "
        "(6 by default) months, shortest first, never decreasing; only the horizon's own "
        "from a model without timing models, none for an account in exit process"
    ),
    examples=[
        [
            {"months": 1, "probability": 0.012},
            {"months": 3, "probability": 0.042},
            {"months": 6, "probability": 0.081},
        ]
    ],
)


class RiskList(BaseModel):
    batch_id: int
    snapshot_date: dt.date
    list_mode: ListMode | None = LIST_MODE_FIELD
    list_reason: str | None = LIST_REASON_FIELD
    data: list[ListedAccount]
    count: int = Field(description="accounts matching the filters, over all pages")


class AccountRisk(ListedAccount):
    batch_id: int
    snapshot_date: dt.date
    model_version: str
    in_exit_process: bool
    horizons: list[Horizon] = HORIZONS_FIELD
    reasons: list[Reason]
    actions: list[RecommendedAction]
    expected_effects: list[ExpectedEffect] = Field(
        default_factory=list,
        description="each eligible action's expected effect, most money saved first (empty: "
        "no effect model with enough randomised evidence; list_reason says why)",
    )
    list_mode: ListMode | None = LIST_MODE_FIELD
    list_reason: str | None = LIST_REASON_FIELD
    follow_ups: list[FollowUp]


class ModelInfo(BaseModel):
    name: str
    version: str
    trained_at: str | None
    horizon_months: int | None
    test_metrics: dict[str, float]
    horizon_metrics: dict[int, dict[str, float]] = Field(
        default_factory=dict,
        description="time to churn: months -> test ROC AUC, PR AUC, churn rate of each horizon",
        examples=[{"1": {"roc_auc": 0.88, "pr_auc": 0.24}, "3": {"roc_auc": 0.92}}],
    )
    feature_groups: dict[str, str] = Field(description="group: 中文 / English")


class ScoredAccount(BaseModel):
    customer_id: str
    snapshot_date: dt.date
    probability: float | None
    band: Band
    money_at_risk_cny: float | None
    expected_revenue_cny: float | None
    in_exit_process: bool
    horizons: list[Horizon] = HORIZONS_FIELD
    reasons: list[Reason]
    actions: list[RecommendedAction]
    best_action: ActionCode | None = Field(
        default=None,
        description="the eligible action expected to save most, as the batch would give it "
        "(null: no effects champion with enough randomised evidence, or in exit process)",
    )
    churn_averted: float | None = Field(
        default=None, description="the best action's expected churn averted (probability)"
    )
    money_saved_cny: float | None = Field(
        default=None,
        description="the best action's expected money saved: churn averted x expected revenue",
    )
    expected_effects: list[ExpectedEffect] = Field(
        default_factory=list,
        description="each eligible action's expected effect, most money saved first (empty: "
        "no effects champion with enough evidence; effects_reason says why)",
    )


class ScoreResponse(BaseModel):
    model_version: str
    effects_version: str | None = Field(
        default=None,
        description="the effects champion (key-account-effects) behind expected_effects; null: "
        "none with enough randomised evidence is loaded",
    )
    effects_reason: str | None = Field(
        default=None,
        description="why there are no expected effects (中文 / English); null when there are",
        examples=[
            "证据不足：尚无效果模型冠军 ... / not enough evidence: no effect model champion yet"
        ],
    )
    data: list[ScoredAccount]
    count: int


class KpiFigures(BaseModel):
    high_risk_accounts: int
    followed_up: int
    coverage: float = Field(description="跟进覆盖率: high-risk accounts with a follow-up")
    contacted_on_time: int
    on_time_contact_rate: float = Field(description="按时联系率")
    overdue: int
    money_at_risk_cny: float
    money_at_risk_covered_cny: float
    money_covered_share: float


class KpiGroup(KpiFigures):
    key: str


class Kpis(BaseModel):
    batch_id: int
    snapshot_date: dt.date
    overall: KpiFigures
    outcomes: dict[str, int]
    by_account_manager: list[KpiGroup]
    by_region: list[KpiGroup]
    control_group: ControlComparison | None = Field(
        default=None,
        description="跟进客户与对照组的留存率: the latest effects run's randomised follow-ups "
        "against the held-out controls (GET /v1/effects); none until effects can be estimated",
    )


class EffectsEvidence(BaseModel):
    """挽留行动效果: each action's average effect on churn from the randomised outcomes, with
    its 95% interval, overall and by industry, driver of risk and band; and the retention of
    the followed-up accounts against the control group. `estimable` false: the reason says
    why effects cannot be estimated yet, and nothing else is given."""

    estimable: bool
    reason_zh: str | None = Field(examples=["随机对照样本不足：需要至少 200 个，现有 0 个"])
    reason_en: str | None = Field(
        examples=["too few randomised outcomes: at least 200 needed, 0 so far"]
    )
    measured_at: Instant | None = Field(description="the effects run; none before the first")
    dataset: str | None
    horizon_months: int | None = Field(description="churn within this many months after")
    rows: int = Field(description="randomised outcomes: follow-ups and controls, matured")
    followed_up: int
    controls: int
    minimum_outcomes: int
    minimum_per_arm: int = Field(description="follow-ups and controls a segment needs")
    method: str | None
    first_snapshot: dt.date | None
    last_snapshot: dt.date | None
    control_group: ControlComparison | None
    effects: list[EffectCell] = Field(
        description="per action: overall, then by industry, driver of risk and band"
    )


class Reloaded(BaseModel):
    previous_version: str
    model_version: str


class MonitoredBatch(BaseModel):
    """One monitored batch in the history: drift then, realised churn once matured."""

    batch_id: int
    snapshot_date: dt.date
    model_version: str
    retrain_recommended: bool
    drifted_share: float
    score_psi: float
    predicted_rate: float | None = Field(description="realised batches: mean probability")
    realised_rate: float | None
    roc_auc: float | None


class Monitoring(BaseModel):
    """The latest `retention monitor` summary: drift from the training reference, realised
    churn once labels mature, and whether to retrain (with the reasons)."""

    report_id: int
    batch_id: int
    snapshot_date: dt.date
    model_version: str
    monitored_at: Instant
    retrain_recommended: bool
    reasons: list[RetrainReason]
    reference_source: str = Field(examples=["训练样本 / training reference sample"])
    reference_rows: int
    accounts: int
    accounts_not_in_dataset: int = Field(description="batch accounts the dataset lacked")
    drift_threshold: float
    drift_share_threshold: float
    drifted_share: float
    drifted_features: list[str]
    missing_features: list[str]
    score_psi: float
    features: list[FeatureDrift] = Field(description="every compared feature, most drifted first")
    segments: list[SegmentDrift] = Field(
        description="segments of 300+ accounts, most drifted first"
    )
    matures_on: dt.date = Field(description="when the horizon after the snapshot has passed")
    realised: RealisedChurn | None
    history: list[MonitoredBatch] = Field(
        description="the latest monitored batches, latest snapshot first (calibration over time)"
    )
    report_pages: dict[str, str] = Field(
        description="the HTML reports on the web page (administrators), by kind",
        examples=[{"drift": "/model/reports/1/drift"}],
    )


class WatchedApplication(_Out):
    """An open connection application (业扩报装) in the latest watch run: how its clocks
    stand and what is at stake. No applicant name: the service does not hold it."""

    application_id: str = Field(examples=["YK2026110001"])
    rank: int = Field(description="overdue first, then by money at stake")
    application_type: Literal["new_connection", "capacity_increase"]
    unit: str = Field(description="the supplying unit (供电单位)")
    owner_id: str | None = Field(description="the account manager responsible (责任客户经理)")
    channel: Channel
    voltage_kv: float
    requested_capacity_kva: float
    supply_type: Literal["single", "dual"]
    accepted_at: LocalTime = Field(description="order accepted (受理), Beijing time")
    customer_id: str | None = Field(description="the account, for a capacity increase")
    working_days_open: int
    steps_overdue: int
    worst_overdue_working_days: int
    next_due_step: str | None
    next_due_date: dt.date | None
    document_requests: int
    withdrawal_probability: float | None = Field(description="none without a withdrawal model")
    revenue_at_stake_cny: float = Field(description="a year of the requested capacity's revenue")
    money_at_stake_cny: float | None = Field(description="probability x revenue at stake")


class ApplicationList(BaseModel):
    watch_run_id: int
    as_of: dt.date
    model_version: str | None
    data: list[WatchedApplication]
    count: int = Field(description="applications matching the filters, over all pages")


class ApplicationStep(_Out):
    """One clocked step against its limit (业扩环节时限)."""

    step_code: StepCode
    step_zh: str = Field(examples=["供电方案答复"])
    step_en: str = Field(examples=["Supply plan reply"])
    owner_role: str
    limit_working_days: int
    clock_start: dt.date
    due_date: dt.date
    finished_date: dt.date | None
    state: ClockState
    working_days_left: int | None = Field(description="running: working days in [as_of, due]")
    overdue_working_days: int | None = Field(description="overdue: working days past due")
    late_working_days: int | None = Field(description="finished late: working days past due")


class ApplicationAction(_Out):
    code: str
    text_zh: str
    text_en: str
    role: str
    owner_zh: str
    owner_en: str
    due_date: dt.date
    due_working_days: int


class ApplicationDetail(WatchedApplication):
    watch_run_id: int
    as_of: dt.date
    model_version: str | None
    clocks: list[ApplicationStep] = Field(description="in process order")
    actions: list[ApplicationAction]
    follow_ups: list[FollowUp] = Field(description="newest first")


class ApplicationFollowUpIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "action_code": "chase_supply_plan",
                    "outcome": "contacted",
                    "note": "已催办供电方案答复 / chased the supply plan reply",
                    "contacted_at": "2026-12-02T10:30:00+08:00",
                }
            ]
        },
    )

    action_code: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,39}$", description="one of the application's actions' codes"
    )
    outcome: Outcome = "pending"
    note: str | None = Field(default=None, max_length=2000)
    contacted_at: ClientTime | None = None


class ApplicationKpi(_Out):
    """业扩报装服务时限达标率 and the other figures of the run's period, for one dimension
    and key: the share of orders archived (connected) in the period whose every clocked step
    met its limit; working days from acceptance to energising; open and withdrawn orders."""

    dimension: KpiDimension
    key: str = Field(description='"all" overall; else a step code, unit, owner, channel or kV')
    archived: int
    archived_on_time: int
    on_time_share: float | None = Field(description="none when nothing was archived")
    median_working_days_to_energise: float | None
    p90_working_days_to_energise: float | None
    open_now: int
    open_overdue_now: int
    withdrawn: int
    withdrawn_capacity_kva: float
    withdrawn_revenue_cny: float


class ApplicationKpis(BaseModel):
    watch_run_id: int
    as_of: dt.date
    period_start: dt.date
    period_end: dt.date = Field(description="the period is [period_start, period_end)")
    data: list[ApplicationKpi] = Field(
        description="overall, then by step (process order), unit, owner, channel and voltage"
    )
