"""The playbook (serving/playbook.yaml): which follow-up an account gets, who owns it, by when.

Rules are data users edit (shipped in the package; RETENTION_PLAYBOOK points at a user's own
copy); this module only reads them and applies them to an account's risk band, top reason
groups and facts, with due dates in Chinese working days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retention.data.contract import ACTION_CODES, STEP_CODES
from retention.scoring.assignment import AssignmentPolicy
from retention.scoring.calendar import WorkingCalendar
from retention.settings import Settings, load_yaml_model

Band = Literal["high", "medium", "low", "exit"]
FactValue = str | bool | list[str] | list[bool]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Role(_Frozen):
    zh: str
    en: str


class Action(_Frozen):
    zh: str
    en: str
    owner: str
    due_working_days: int = Field(ge=0, le=60)
    # tariff_plan only: recommended only when the tariff tables' best plan saves at least this
    # over 12 months (None: no minimum; an account the tables cannot price keeps the action)
    min_saving_cny: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class Condition(_Frozen):
    bands: tuple[Band, ...] | None = None
    reason_groups: tuple[str, ...] | None = None
    facts: dict[str, FactValue] = {}
    in_exit_process: bool | None = None

    def holds(self, band: str, groups: set[str], facts: dict[str, object], leaving: bool) -> bool:
        if self.in_exit_process is not None and self.in_exit_process != leaving:
            return False
        if self.bands is not None and band not in self.bands:
            return False
        if self.reason_groups is not None and not groups & set(self.reason_groups):
            return False
        return _facts_hold(self.facts, facts)


def _facts_hold(wanted_facts: dict[str, FactValue], facts: dict[str, object]) -> bool:
    """Every wanted fact is the value given, or one of the values listed."""
    for name, wanted in wanted_facts.items():
        value = facts.get(name)
        if isinstance(wanted, list) and value not in wanted:
            return False
        if not isinstance(wanted, list) and value != wanted:
            return False
    return True


class Rule(_Frozen):
    when: Condition
    then: tuple[str, ...] = Field(min_length=1)


class ApplicantCondition(_Frozen):
    """When an applicant's rule applies: its clocks, its facts and its withdrawal risk."""

    overdue_steps: Literal["any"] | tuple[str, ...] | None = None
    running_steps: tuple[str, ...] | None = None
    facts: dict[str, FactValue] = {}
    min_withdrawal_probability: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _known_steps(self) -> ApplicantCondition:
        overdue = self.overdue_steps if isinstance(self.overdue_steps, tuple) else ()
        named = [*(self.running_steps or ()), *overdue]
        unknown = [code for code in named if code not in STEP_CODES]
        if unknown:
            raise ValueError(
                f"unknown step codes {unknown}: the contract's are {', '.join(STEP_CODES)}"
            )
        return self

    def holds(
        self,
        overdue: set[str],
        running: set[str],
        facts: dict[str, object],
        probability: float | None,
    ) -> bool:
        if self.overdue_steps == "any" and not overdue:
            return False
        if isinstance(self.overdue_steps, tuple) and not overdue & set(self.overdue_steps):
            return False
        if self.running_steps is not None and not running & set(self.running_steps):
            return False
        if self.min_withdrawal_probability is not None and (
            probability is None or probability < self.min_withdrawal_probability
        ):
            return False
        return _facts_hold(self.facts, facts)


class ApplicantRule(_Frozen):
    when: ApplicantCondition
    then: tuple[str, ...] = Field(min_length=1)


class Playbook(_Frozen):
    roles: dict[str, Role]
    actions: dict[str, Action]
    rules: tuple[Rule, ...]
    applicant_rules: tuple[ApplicantRule, ...] = ()
    # the randomised window at the capacity edge (scoring/assignment.py)
    assignment: AssignmentPolicy = AssignmentPolicy()

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        unknown = sorted(set(self.actions) - set(ACTION_CODES))
        if unknown:
            raise ValueError(f"actions not in the playbook codes of SPEC.md: {unknown}")
        for code, action in self.actions.items():
            if action.owner not in self.roles:
                raise ValueError(f"actions.{code}.owner: unknown role {action.owner!r}")
            if action.min_saving_cny is not None and code != "tariff_plan":
                raise ValueError(
                    f"actions.{code}.min_saving_cny: only tariff_plan has a computed saving"
                )
        thens = [("rules", i, rule.then) for i, rule in enumerate(self.rules)] + [
            ("applicant_rules", i, rule.then) for i, rule in enumerate(self.applicant_rules)
        ]
        for part, i, then in thens:
            missing = [code for code in then if code not in self.actions]
            if missing:
                raise ValueError(f"{part}.{i}.then: unknown actions {missing}")
        return self


@dataclass(frozen=True)
class Recommendation:
    """One recommended follow-up with its owner and due date."""

    code: str
    text_zh: str
    text_en: str
    role: str
    owner: str  # the account manager's id where the account has one, else the role
    owner_zh: str
    owner_en: str
    due_date: dt.date
    due_working_days: int


def load_playbook(path: Path | None = None) -> Playbook:
    """Read the playbook (default: the RETENTION_PLAYBOOK setting, else the packaged one)."""
    return load_yaml_model(path or Settings().playbook_file, Playbook, "playbook")


def recommend(
    playbook: Playbook,
    calendar: WorkingCalendar,
    scored_on: dt.date,
    band: str,
    reason_groups: list[str],
    facts: dict[str, object],
    in_exit_process: bool = False,
    manager_id: str | None = None,
) -> list[Recommendation]:
    """The actions every applicable rule names, once each, with owners and due dates."""
    codes: list[str] = []
    groups = set(reason_groups)
    for rule in playbook.rules:
        if rule.when.holds(band, groups, facts, in_exit_process):
            codes += [code for code in rule.then if code not in codes]
    return recommendations(playbook, calendar, scored_on, codes, manager_id)


def recommend_for_applicant(
    playbook: Playbook,
    calendar: WorkingCalendar,
    as_of: dt.date,
    overdue: set[str],
    running: set[str],
    facts: dict[str, object],
    probability: float | None = None,
    owner_id: str | None = None,
) -> list[Recommendation]:
    """The actions every applicable applicant rule names, once each, with due dates."""
    codes: list[str] = []
    for rule in playbook.applicant_rules:
        if rule.when.holds(overdue, running, facts, probability):
            codes += [code for code in rule.then if code not in codes]
    return recommendations(playbook, calendar, as_of, codes, owner_id)


def recommendations(
    playbook: Playbook,
    calendar: WorkingCalendar,
    day: dt.date,
    codes: list[str],
    manager_id: str | None,
) -> list[Recommendation]:
    """The given actions with owners and due dates (targeting's chosen action of an account)."""
    out = []
    for code in codes:
        action = playbook.actions[code]
        role = playbook.roles[action.owner]
        personal = action.owner == "account_manager" and manager_id
        out.append(
            Recommendation(
                code=code,
                text_zh=action.zh,
                text_en=action.en,
                role=action.owner,
                owner=str(manager_id) if personal else action.owner,
                owner_zh=role.zh,
                owner_en=role.en,
                due_date=calendar.add_working_days(day, action.due_working_days),
                due_working_days=action.due_working_days,
            )
        )
    return out
