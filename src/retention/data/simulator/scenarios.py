"""Shifts the simulator can introduce from a given month, so drift can be shown and tested.

- `tariff_reform`: unit prices of one tariff category change by `change` (+0.3 = 30% dearer);
- `industry_downturn`: metered consumption of one industry (GB/T 4754 division) changes by
  `change` (-0.4 = 40% less), as when a sector turns down or moves load elsewhere.

Only what the data shows moves: the hidden churn process, and every random draw, stay as they
are, so a run with a scenario equals the run without it before the scenario's month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from retention.data.contract import TARIFF_CATEGORIES

Kind = Literal["tariff_reform", "industry_downturn"]
KINDS: tuple[Kind, ...] = ("tariff_reform", "industry_downturn")


@dataclass(frozen=True)
class Scenario:
    kind: Kind
    start: str  # first month of the shift, YYYY-MM
    target: str  # a tariff category (tariff_reform) or an industry code (industry_downturn)
    change: float  # relative change, e.g. +0.3 or -0.4

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"scenario kind {self.kind!r}: choose one of {', '.join(KINDS)}")
        try:
            np.datetime64(self.start, "M")
        except ValueError as err:
            raise ValueError(f"scenario start must be a month YYYY-MM, got {self.start!r}") from err
        if self.kind == "tariff_reform" and self.target not in TARIFF_CATEGORIES:
            raise ValueError(
                f"tariff_reform target {self.target!r}: one of {', '.join(TARIFF_CATEGORIES)}"
            )
        if not -0.95 <= self.change <= 5:
            raise ValueError(f"scenario change {self.change} must be between -0.95 and 5")

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """KIND:YYYY-MM:TARGET:CHANGE, e.g. tariff_reform:2026-06:large_industry:+0.3."""
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError(f"{text!r}: write KIND:YYYY-MM:TARGET:CHANGE")
        kind, start, target, change = parts
        try:
            value = float(change)
        except ValueError as err:
            raise ValueError(f"{text!r}: CHANGE must be a number such as +0.3") from err
        return cls(kind, start, target, value)  # type: ignore[arg-type]


def factors(
    scenarios: tuple[Scenario, ...], kind: Kind, month: np.datetime64, targets: np.ndarray
) -> np.ndarray:
    """Per account: the product of (1 + change) of the scenarios of `kind` in force at `month`
    whose target is the account's (tariff category or industry code)."""
    out = np.ones(targets.size)
    for scenario in scenarios:
        if scenario.kind == kind and month >= np.datetime64(scenario.start, "M"):
            out = np.where(targets == scenario.target, out * (1 + scenario.change), out)
    return out
