"""Variants of the hidden churn process, so a setting tuned to one mechanism cannot hide.

The base process (see `process`): a healthy account (H) drifts into weakening (W), which
shows for months (softer load, inquiries, late payments), may move on to leaving (L, strong
signals for about three months) and then exits; a little churn is a surprise from H or W.
Each variant changes one thing; the portfolio is drawn first, so the same seed gives the
same accounts and traits under every variant (the months differ: what the data show moves
the later draws):

- `base`: the process as it is; the same seed gives the same dataset as before variants.
- `weak-signal`: every account's visibility is halved, so every lead signal that scales with
  it (the load stepping down, the trace an account leaves as it weakens, tickets, late and
  unpaid bills, panels, the power factor) is half as strong. The hidden chain is the base's.
- `short-lead`: no weakening stage. A healthy account moves straight to leaving, at the rate
  that keeps the base's share of trouble ending in churn, and leaves within one or two
  months (exit 0.65 a month, no way back), so the signals start 1-2 months before churn
  instead of many.
- `no-lead`: 30% of the accounts (drawn from a stream of their own) face a sudden driver
  instead of the usual four: relocation, a move of production or a competing incremental
  distribution network (增量配电网) taking the load. They never weaken and show nothing
  beforehand (visibility 0): each month they may exit straight from healthy, about 1.1% a
  month, more for accounts on the market (a competitor can offer them a price). The other
  70% keep the usual drivers and signals.
- `low-churn` / `high-churn`: every hazard into trouble and every surprise exit times 0.4 /
  2.5 (the 6-month churn rate about 1.5% / 9% instead of 3.5%); signals as in the base.

The truth stays true: every change is in the chain's transition probabilities (`Rates`), which
the oracle under _truth/ reads, or in what the data shows (visibility), which it does not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from retention.data.simulator import process
from retention.data.simulator.portfolio import Portfolio

# Exit routes of a sudden exit (closure, capacity_reduction, suspension, volume_loss): the plant
# moves (a closure), or the load goes to a competing network or a new site (volume loss).
SUDDEN_MIX = np.array([0.55, 0.10, 0.05, 0.30])
SUDDEN_HAZARD = 0.011  # per month, before the market factor
SUDDEN_MARKET = np.array([0.85, 1.25, 1.45])  # grid agency, direct trading, retailer


@dataclass(frozen=True)
class Variant:
    """One mechanism of the hidden process; the numbers are multipliers of the base's."""

    name: str
    zh: str
    en: str
    visibility: float = 1.0  # multiplier of each account's visibility
    hazard: float = 1.0  # multiplier of the drift into trouble and of the surprise exits
    short_lead: bool = False  # healthy -> leaving directly, leaving within 1-2 months
    sudden_share: float = 0.0  # share of accounts whose only driver is a sudden exit


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("base", "基准机制", "the base process"),
        Variant("weak-signal", "先兆信号减半", "lead signals half as strong", visibility=0.5),
        Variant("short-lead", "先兆仅提前1-2个月", "signals 1-2 months ahead", short_lead=True),
        Variant(
            "no-lead", "含无先兆的突然流失", "a sudden driver with no signal", sudden_share=0.3
        ),
        Variant("low-churn", "低流失率", "lower churn rate (x0.4)", hazard=0.4),
        Variant("high-churn", "高流失率", "higher churn rate (x2.5)", hazard=2.5),
    )
}
BASE = VARIANTS["base"]
# Leaving (L) in the short-lead variant: exits at this rate a month and never steadies.
SHORT_LEAD_EXIT = 0.65
# The base's share of accounts entering W that churn before recovering (about 0.55).
SHORT_LEAD_SHARE = 0.55


def get(name: str) -> Variant:
    """The variant called `name`; a ValueError names the choices."""
    if name not in VARIANTS:
        raise ValueError(f"variant {name!r}: choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def sudden_accounts(variant: Variant, n: int, seed: int) -> np.ndarray:
    """Which accounts have the sudden driver: drawn from a stream of their own, so the base's
    draws (the portfolio and every month) stay as they are."""
    if variant.sudden_share <= 0:
        return np.zeros(n, dtype=bool)
    rng = np.random.default_rng([seed, 16])
    return rng.random(n) < variant.sudden_share


def portfolio(p: Portfolio, variant: Variant, sudden: np.ndarray) -> Portfolio:
    """The portfolio as the variant shows it: visibility scaled, none for a sudden driver."""
    if variant.visibility == 1.0 and not sudden.any():
        return p
    visibility = np.where(sudden, 0.0, p.visibility * variant.visibility)
    return replace(p, visibility=visibility)


def rates(base: process.Rates, p: Portfolio, variant: Variant, sudden: np.ndarray) -> process.Rates:
    """The chain's monthly transition probabilities under the variant."""
    if variant == BASE:
        return base
    drift = base.drift * variant.hazard
    surprise = np.full(p.size, base.surprise_healthy * variant.hazard)
    changed = replace(
        base,
        drift=drift,
        surprise_healthy=surprise,
        surprise_weak=base.surprise_weak * variant.hazard,
    )
    if variant.short_lead:
        changed = replace(
            changed,
            drift=np.zeros(p.size),
            leave_direct=drift * SHORT_LEAD_SHARE,
            exit=SHORT_LEAD_EXIT,
            steady=0.0,
        )
    if sudden.any():
        size = (p.capacity_kva / 2000.0) ** -0.15
        hazard = SUDDEN_HAZARD * variant.hazard * SUDDEN_MARKET[p.market] * size
        mix = changed.route_mix.copy()
        mix[sudden] = SUDDEN_MIX
        young = sudden & (p.opens_at >= 0)  # no year-earlier load to lose: they close instead
        mix[young, process.CLOSURE] += mix[young, process.VOLUME]
        mix[young, process.VOLUME] = 0.0
        changed = replace(
            changed,
            drift=np.where(sudden, 0.0, changed.drift),
            leave_direct=np.where(sudden, 0.0, changed.leave_direct),
            surprise_healthy=np.where(sudden, hazard, changed.surprise_healthy),
            route_mix=mix,
        )
    return changed
