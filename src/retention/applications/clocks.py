"""The service clocks (serving/service_clocks.yaml): how many working days each step of a
connection application may take, counted from which event, owned by which role.

Time limits are data users edit (shipped in the package; RETENTION_SERVICE_CLOCKS points at a
user's own copy); this module reads them and picks each application's limit per step.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retention.data.contract import STEP_CODES
from retention.scoring.playbook import load_playbook
from retention.settings import ConfigFileError, Settings, load_yaml_model

ACCEPTED, STARTED, FINISHED = "accepted", "started", "finished:"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limit(_Frozen):
    """A time limit and the conditions on the application under which it applies."""

    working_days: int = Field(ge=1, le=250)
    supply_type: Literal["single", "dual"] | None = None
    min_voltage_kv: float | None = Field(default=None, ge=0)
    application_type: Literal["new_connection", "capacity_increase"] | None = None

    def holds(self, applications: pd.DataFrame) -> pd.Series:
        """For each application (a frame with the contract's columns), whether this applies."""
        holds = pd.Series(True, index=applications.index)
        if self.supply_type is not None:
            holds &= applications["supply_type"] == self.supply_type
        if self.min_voltage_kv is not None:
            holds &= applications["voltage_kv"] >= self.min_voltage_kv
        if self.application_type is not None:
            holds &= applications["application_type"] == self.application_type
        return holds.fillna(False).astype(bool)


class StepClock(_Frozen):
    """One step's clock: its names, owner role, starting event and limits (first match)."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    counts_from: str
    limits: tuple[Limit, ...] = Field(min_length=1)

    @field_validator("counts_from")
    @classmethod
    def _known_event(cls, value: str) -> str:
        if value in (ACCEPTED, STARTED):
            return value
        if value.startswith(FINISHED) and value.removeprefix(FINISHED) in STEP_CODES:
            return value
        raise ValueError(
            f"{value!r}: counts_from is 'accepted', 'started' or 'finished:<step code>' "
            f"with a step code of {', '.join(STEP_CODES)}"
        )

    @property
    def after_step(self) -> str | None:
        """The step whose finishing starts this clock (counts_from finished:<step>), or None."""
        if self.counts_from.startswith(FINISHED):
            return self.counts_from.removeprefix(FINISHED)
        return None


class ServiceClocks(_Frozen):
    """The clocks of the steps that have one, by step code."""

    steps: dict[str, StepClock]

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, steps: dict[str, StepClock]) -> dict[str, StepClock]:
        unknown = [code for code in steps if code not in STEP_CODES]
        if unknown:
            raise ValueError(
                f"unknown step codes {unknown}: the data contract's are {', '.join(STEP_CODES)}"
            )
        return {code: steps[code] for code in STEP_CODES if code in steps}  # process order

    @model_validator(mode="after")
    def _clocks_start(self) -> ServiceClocks:
        # A clock counting from a step that never finishes, or from itself, would never run.
        for code in self.steps:
            seen, step = [code], self.steps[code].after_step
            while step is not None:
                if step in seen:
                    cycle = " -> ".join([*seen, step])
                    raise ValueError(f"steps.{code}.counts_from: a cycle {cycle}")
                seen.append(step)
                step = self.steps[step].after_step if step in self.steps else None
        return self

    def applicable_limits(self, applications: pd.DataFrame) -> pd.DataFrame:
        """Each application's limit per step (the first limit that holds): application_id,
        step_code, limit_working_days; an application no limit holds for has no row there."""
        parts = []
        for code, clock in self.steps.items():
            limit = pd.Series(np.nan, index=applications.index)
            for candidate in clock.limits:
                limit = limit.where(
                    limit.notna() | ~candidate.holds(applications), float(candidate.working_days)
                )
            found = limit.notna()
            parts.append(
                pd.DataFrame(
                    {
                        "application_id": applications.loc[found, "application_id"],
                        "step_code": code,
                        "limit_working_days": limit[found].astype(np.int64),
                    }
                )
            )
        if not parts:
            return pd.DataFrame(
                {"application_id": pd.Series(dtype="str"), "step_code": pd.Series(dtype="str"),
                 "limit_working_days": pd.Series(dtype=np.int64)}
            )  # fmt: skip
        return pd.concat(parts, ignore_index=True)


def load_service_clocks(
    path: Path | None = None, roles: Iterable[str] | None = None
) -> ServiceClocks:
    """Read the service clocks (default: the RETENTION_SERVICE_CLOCKS setting, else the
    packaged file); every owner must be one of `roles` (default: the playbook's roles)."""
    path = path or Settings().service_clocks_file
    clocks = load_yaml_model(path, ServiceClocks, "service clocks")
    if roles is None:
        roles = load_playbook().roles
    known = set(roles)
    for code, clock in clocks.steps.items():
        if clock.owner not in known:
            raise ConfigFileError(
                f"{path}: steps.{code}.owner: unknown role {clock.owner!r} "
                f"(the playbook's roles are {', '.join(sorted(known))})"
            )
    return clocks
