"""Past retention campaigns with known effects (docs/simulator.md, "Campaigns").

At each monthly snapshot T from `CampaignPolicy.from_month` on, the retention team follows up
a capacity of accounts. It ranks them by the risk a scoring model would see (the oracle's
untreated churn probability with noise on the logit, not the hidden truth), follows up the top
of the list for sure and randomises at the capacity edge: each account ranked within
`edge_share` x capacity of the cut is followed up with probability `edge_probability`, and the
edge accounts left alone are the control group. With `explore_share` > 0 (0 by default), each
account below the edge joins that randomised band with this probability: evidence on the whole
portfolio for a benchmark that asks for it. The action is the one the account's visible
reason points to (the hidden driver when its signal shows, else a dedicated manager), and a
share `other_action_share` is given another action, drawn evenly. Every assignment records its
probability: P(followed up) x P(this action | followed up).

A follow-up that reaches the account multiplies its hazard of W -> L by (1 - efficacy) and of
L -> exit by (1 - efficacy x `LEAVING_SHARE`) in the months from the contact on
(`effect_months`). The efficacy depends on the action and the hidden driver (`EFFICACY`) and on
the account's traits the data show (`response`: tenure, manager, basic-charge mode, outages,
size, captive plant). A declining business in L is closing or exiting: a lost cause for every
action (`LEAVING_SHARE` 0.03), while in W (shrinking, not gone) a capacity visit keeps it. In H
an account has no such hazard yet, in E the exit is filed and nothing helps. Contact fails
(outcome unreachable, no effect) with `unreachable` probability, more often without an account
manager.

The policy draws from its own random stream: with campaigns off the engine's draws, and so the
default dataset, are exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retention.data.simulator import process
from retention.data.simulator.portfolio import DEMAND_BREAK_EVEN, Portfolio
from retention.data.simulator.process import E, L, W

DAY = 86_400
HORIZON = 6  # the oracle's horizon: effects and outcomes are measured over it
CAMPAIGN_STREAM = 17  # the policy's random stream: (seed, 17)

# The actions the simulated team uses, and what each does by hidden driver
# (decline, self_generation, service, price): the share of the W -> L hazard it removes while
# it lasts, and of the L -> exit hazard as far as `LEAVING_SHARE` keeps it. A tariff plan helps
# a price-driven account and does next to nothing for a plant that is closing; a dispatch plan
# helps one hurt by outages; a visit about a capacity reduction helps a shrinking business;
# new-energy support helps one moving its load behind the meter; a dedicated manager helps a
# little everywhere.
ACTIONS = (
    "dedicated_manager",
    "tariff_plan",
    "dispatch_reliability_plan",
    "capacity_change_visit",
    "new_energy_support",
)
EFFICACY = np.array(
    [
        [0.10, 0.10, 0.15, 0.15],  # dedicated_manager
        [0.02, 0.15, 0.05, 0.55],  # tariff_plan
        [0.02, 0.05, 0.55, 0.05],  # dispatch_reliability_plan
        [0.60, 0.10, 0.10, 0.10],  # capacity_change_visit
        [0.02, 0.50, 0.02, 0.10],  # new_energy_support
    ]
)
# The share of an action's efficacy that still acts on the L -> exit hazard, by driver. A
# declining business in L is a plant closing or exiting: the decision is made and no action
# changes it (a lost cause among the highest risks), while the same business in W is
# shrinking but not gone, which is when a capacity visit keeps it (a smaller contract, not a
# closure). An account leaving for price, service or self-generation can still be won back.
LEAVING_SHARE = np.array([0.03, 1.0, 1.0, 1.0])
MAX_EFFICACY = 0.9
TENURE_YEARS = 15.0  # the tenure at which the relationship's response stops growing
# The action the account's visible reason points to, by hidden driver.
DRIVER_ACTION = np.array([3, 4, 2, 1])
GENERAL_ACTION = 0  # when the driver does not show: a dedicated manager


def response(p: Portfolio, start: np.datetime64) -> np.ndarray:
    """(actions, n): how much of its driver's efficacy each action has on each account, from
    traits the data show (docs/simulator.md, "The effects"): effects vary within a driver and
    a model can learn them from the features.

    - tenure (`open_date`): an old relationship answers a follow-up more (x0.7 new .. x1.3
      at 15 years and more);
    - a dedicated manager (`account_manager_id`): a follow-up from someone the account knows
      does more (x1.15, x0.85 without), but assigning a dedicated manager gives an account
      that has one little new (x0.4) and one without the most (x1.5);
    - the tariff plan finds a saving on the basic charge for a large-industry account on the
      costlier mode (by demand or by capacity against its load): x1.5, else x0.8;
    - the dispatch plan does as much as the outages it removes (`outages`): x0.5 .. x1.6;
    - a capacity visit keeps more of a larger contract (x0.8 at 1,000 kVA .. x1.2 at 100,000);
    - new-energy support competes with PV better than with a captive plant (x1.2 / x0.5).
    """
    opened = (start.astype("datetime64[D]") - p.open_day).astype(np.int64) / 365.25
    tenure = np.clip(opened, 0.0, TENURE_YEARS) / TENURE_YEARS
    manager = p.manager_id != None  # noqa: E711 (object array)
    common = (0.7 + 0.6 * tenure) * np.where(manager, 1.15, 0.85)
    expected_demand_share = p.utilisation * 0.9 / p.load_factor
    costlier = (p.tariff == 0) & (p.demand_charged == (expected_demand_share >= DEMAND_BREAK_EVEN))
    size = np.clip(np.log10(p.capacity_kva / 1000.0), 0.0, 2.0)
    outages = np.clip(0.5 + 0.5 * p.outage_rate / p.outage_rate.mean(), 0.5, 1.6)
    by_action = np.stack(
        [
            np.where(manager, 0.4, 1.5),  # dedicated_manager
            np.where(costlier, 1.5, 0.8),  # tariff_plan
            outages,  # dispatch_reliability_plan
            0.8 + 0.2 * size,  # capacity_change_visit
            np.where(p.captive, 0.5, 1.2),  # new_energy_support
        ]
    )
    return by_action * common[None, :]


def account_efficacy(
    p: Portfolio, start: np.datetime64, scale: np.ndarray | None = None
) -> np.ndarray:
    """(2, actions, n): every account's efficacy of every action on its W -> L hazard [0] and
    its L -> exit hazard [1]: the driver's (`EFFICACY`) times the account's `response`, at most
    `MAX_EFFICACY`, on L -> exit times the driver's `LEAVING_SHARE`; times `scale` (n,)."""
    weakening = np.minimum(EFFICACY[:, p.driver] * response(p, start), MAX_EFFICACY)
    if scale is not None:
        weakening = weakening * scale[None, :]
    return np.stack([weakening, weakening * LEAVING_SHARE[p.driver][None, :]])


@dataclass(frozen=True)
class CampaignPolicy:
    """How the simulated team assigns its follow-ups (docs/simulator.md, "Campaigns")."""

    capacity_share: float = 0.03  # accounts followed up per month, a share of the active ones
    # The randomised band: this share of capacity either side of the cut. 0.75: a quarter of the
    # capacity at the top for sure, 1.5 x capacity randomised (1.5x the evidence of 0.5): with
    # lost causes among the high risks, 0.5 left the edge's comparison without power.
    edge_share: float = 0.75
    edge_probability: float = 0.5  # P(followed up) of an account in the band
    other_action_share: float = 0.2  # followed-up accounts given another action at random
    risk_noise: float = 0.6  # sd of the noise on the logit of the risk the team sees
    unreachable: float = 0.12  # P(contact fails) with an account manager (x 1.5 without)
    effect_months: int = HORIZON  # how long an effect lasts, and the gap between follow-ups
    from_month: int = 12  # the first snapshot (data month) with follow-ups
    # Each account below the edge joins the randomised band with this probability: evidence on
    # the whole portfolio, not only at the cut (the effects learned at the edge do not carry to
    # the low risks). 0 by default: the team's policy as documented, the same draws as before.
    explore_share: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.capacity_share <= 0.5:
            raise ValueError("capacity_share must be in (0, 0.5]")
        if not 0 <= self.edge_share <= 1:
            raise ValueError("edge_share must be in [0, 1]")
        if not 0 <= self.explore_share < 1:
            raise ValueError("explore_share must be in [0, 1)")
        for name in ("edge_probability", "other_action_share", "unreachable"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1)")
        if self.effect_months < 1 or self.from_month < 1 or self.risk_noise < 0:
            raise ValueError("effect_months and from_month must be >= 1, risk_noise >= 0")


def with_effect(matrix: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """The (n, 7, 7) matrix with each account's W -> L hazard times `factor[0]` and its
    L -> exit hazards times `factor[1]` (`factor`: (2, n))."""
    if np.all(factor == 1.0):
        return matrix
    p = matrix.copy()
    p[:, W, L] *= factor[0]
    p[:, L, E:] *= factor[1][:, None]  # every way out of L: filed (E), load gone (V1), churned (C)
    for row in (W, L):
        p[:, row, row] = 0.0
        p[:, row, row] = 1.0 - p[:, row, :].sum(axis=1)
    return p


@dataclass
class FollowUps:
    """The follow-ups decided so far, one entry per assignment (controls included)."""

    who: list[np.ndarray] = field(default_factory=list)
    month: list[np.ndarray] = field(default_factory=list)
    action: list[np.ndarray] = field(default_factory=list)  # -1: control
    planned: list[np.ndarray] = field(default_factory=list)  # the action, controls' included
    treat_probability: list[np.ndarray] = field(default_factory=list)
    action_probability: list[np.ndarray] = field(default_factory=list)
    randomised: list[np.ndarray] = field(default_factory=list)
    contacted: list[np.ndarray] = field(default_factory=list)
    contact_day: list[np.ndarray] = field(default_factory=list)  # days after T, -1 if none
    risk_seen: list[np.ndarray] = field(default_factory=list)
    untreated: list[np.ndarray] = field(default_factory=list)  # the oracle at T

    def arrays(self) -> dict[str, np.ndarray]:
        names = [n for n in self.__dataclass_fields__]
        if not self.who:
            return {n: np.array([], dtype=float if n in _FLOATS else np.int64) for n in names}
        return {n: np.concatenate(getattr(self, n)) for n in names}


_FLOATS = {"treat_probability", "action_probability", "risk_seen", "untreated"}


class Campaign:
    """The team's monthly follow-ups inside the engine's loop, and the effects they have."""

    def __init__(
        self,
        policy: CampaignPolicy,
        p: Portfolio,
        months: int,
        seed: int,
        matrix_of: Callable[[int], np.ndarray],
        efficacy_scale: np.ndarray | None,
        start: np.datetime64,
    ) -> None:
        self.policy = policy
        self.p = p
        self.months = months
        self.matrix_of = matrix_of
        self.rng = np.random.default_rng([seed, CAMPAIGN_STREAM])
        # Every account's efficacy of every action on its two hazards: (2, actions, n); the
        # tenure is counted at the data's first month (`start`).
        self.efficacy = account_efficacy(p, start, efficacy_scale)
        self.log = FollowUps()
        self.last_follow_up = np.full(p.size, -(10**6))
        self.minutes = np.zeros(0, dtype=np.int64)  # each assignment's minute of creation
        self._known: tuple[tuple[int, int], np.ndarray] | None = None
        # factor[h, k, i]: the realised effect on account i's hazard h (0: W -> L, 1: L -> exit)
        # in month k.
        self.factor = np.ones((2, months + HORIZON, p.size))

    def factor_known_at(self, m: int) -> np.ndarray:
        """(2, HORIZON, n): the effect on months m .. m+HORIZON-1 of follow-ups decided before T_m.

        Kept for the last m asked: the truth asks it once per action at each snapshot."""
        key = (m, len(self.log.who))
        if self._known is None or self._known[0] != key:
            self._known = (key, self._factor_known_at(m))
        return self._known[1]

    def _factor_known_at(self, m: int) -> np.ndarray:
        out = np.ones((2, HORIZON, self.p.size))
        if not self.log.who:
            return out
        log = self.log.arrays()
        reached = (log["action"] >= 0) & (log["contacted"] == 1) & (log["month"] < m)
        reached &= log["month"] + self.policy.effect_months > m
        who, start = log["who"][reached], log["month"][reached]
        eff = self.efficacy[:, log["action"][reached], who]
        for j in range(HORIZON):
            on = m + j < start + self.policy.effect_months
            for h in range(2):
                np.multiply.at(out[h, j], who[on], 1.0 - eff[h, on])
        return out

    def churn_within(
        self, m: int, idx: np.ndarray, before: np.ndarray, extra: np.ndarray | None = None
    ) -> np.ndarray:
        """P(churn in months m .. m+5) of accounts `idx` in states `before`, under the effects
        known at T_m and, if given, `extra` (2, n_idx) factor from a follow-up at T_m."""
        known = self.factor_known_at(m)[:, :, idx]
        mats = []
        for j in range(HORIZON):
            factor = (
                known[:, j]
                if extra is None
                else known[:, j] * np.where(j < self.policy.effect_months, extra, 1.0)
            )
            mats.append(with_effect(self.matrix_of(m + j)[idx], factor))
        return process.churn_within(before, mats)

    def at_snapshot(self, m: int, state: np.ndarray, active: np.ndarray) -> None:
        """Decide the follow-ups of snapshot T_m (first day of data month m)."""
        pol = self.policy
        if not pol.from_month <= m < self.months:
            return
        idx = np.flatnonzero(active & (m - self.last_follow_up >= pol.effect_months))
        if idx.size == 0:
            return
        untreated = self.churn_within(m, idx, state[idx])
        logit = np.log(np.clip(untreated, 1e-6, 1 - 1e-6) / np.clip(1 - untreated, 1e-6, 1))
        seen = logit + self.rng.normal(0, pol.risk_noise, idx.size)
        top, edge = self._top_and_edge(seen, max(1, round(pol.capacity_share * active.sum())))
        if pol.explore_share > 0:  # drawn only when asked: the default policy's draws stay
            edge |= ~top & (self.rng.random(idx.size) < pol.explore_share)
        treated = top | (edge & (self.rng.random(idx.size) < pol.edge_probability))
        action, action_p = self._actions(idx)
        contacted = treated & (self.rng.random(idx.size) >= self._unreachable(idx))
        day = self.rng.integers(0, 10, idx.size)
        minutes = self.rng.integers(0, 8 * 60, idx.size)  # created in the working day of T
        sel = top | edge
        log = self.log
        log.who.append(idx[sel])
        log.month.append(np.full(int(sel.sum()), m))
        log.action.append(np.where(treated, action, -1)[sel])
        log.planned.append(action[sel])
        log.treat_probability.append(np.where(top, 1.0, pol.edge_probability)[sel])
        log.action_probability.append(np.where(treated, action_p, np.nan)[sel])
        log.randomised.append(edge[sel].astype(np.int64))
        log.contacted.append(contacted[sel].astype(np.int64))
        log.contact_day.append(np.where(contacted, day, -1)[sel])
        log.risk_seen.append(1 / (1 + np.exp(-seen[sel])))
        log.untreated.append(untreated[sel])
        self.minutes = np.append(self.minutes, minutes[sel])
        # Held-out edge accounts wait as long as followed-up ones: the control group stays a
        # control over the horizon, and nobody gets a second follow-up while one works.
        self.last_follow_up[idx[sel]] = m
        eff = self.efficacy[:, action[contacted], idx[contacted]]
        for k in range(m, min(m + pol.effect_months, self.factor.shape[1])):
            self.factor[:, k, idx[contacted]] *= 1.0 - eff

    def _top_and_edge(self, seen: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
        """The top of the list (followed up for sure) and the randomised band at the cut."""
        band = round(self.policy.edge_share * capacity)
        rank = np.empty(seen.size, dtype=np.int64)
        rank[np.argsort(-seen, kind="stable")] = np.arange(seen.size)
        return rank < capacity - band, (rank >= capacity - band) & (rank < capacity + band)

    def _actions(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each account's action and its probability given a follow-up."""
        pol, p = self.policy, self.p
        shows = self.rng.random(idx.size) < p.visibility[idx]
        default = np.where(shows, DRIVER_ACTION[p.driver[idx]], GENERAL_ACTION)
        other = self.rng.random(idx.size) < pol.other_action_share
        shift = self.rng.integers(1, len(ACTIONS), idx.size)  # another action, evenly
        action = np.where(other, (default + shift) % len(ACTIONS), default)
        # Given the default (the team knows which reason it read), the action's probability:
        # 1 - share for the default, an even part of the share for each other action.
        probability = np.where(
            other, pol.other_action_share / (len(ACTIONS) - 1), 1 - pol.other_action_share
        )
        return action, probability

    def _unreachable(self, idx: np.ndarray) -> np.ndarray:
        without_manager = self.p.manager_id[idx] == None  # noqa: E711 (object array)
        return np.minimum(self.policy.unreachable * np.where(without_manager, 1.5, 1.0), 0.9)

    def adjust(self, t: int, matrix: np.ndarray) -> np.ndarray:
        """The month's realised transition matrix: the effects of follow-ups that reached."""
        if t < 0 or t >= self.factor.shape[1]:
            return matrix
        return with_effect(matrix, self.factor[:, t])


def interventions_table(
    campaign: Campaign, states: np.ndarray, start: np.datetime64
) -> pd.DataFrame:
    """The contract's interventions: every assignment, the held-out controls included
    (`assignment` held_out, the action they would have got, never contacted), created on the
    snapshot's first working hour; a follow-up is contacted within ten days unless unreachable.
    The outcome is churned or retained over the horizon from the snapshot, pending where the
    data end first, for controls and follow-ups alike. `states` is the hidden chain (months, n)
    as realised."""
    log = campaign.log.arrays()
    who, m = log["who"], log["month"]
    followed = log["action"] >= 0
    months = states.shape[0]
    churned = np.zeros(who.size, dtype=bool)
    for j in range(HORIZON):
        k = np.minimum(m + j, months - 1)
        churned |= (m + j < months) & (states[k, who] == process.C)
    known = m + HORIZON <= months
    reached = log["contacted"] == 1
    outcome = np.where(churned, "churned", np.where(known, "retained", "pending"))
    outcome = np.where(followed & ~reached, "unreachable", outcome)
    first_day = (start + m).astype("datetime64[D]").astype("datetime64[s]").astype(np.int64)
    created = first_day + 8 * 3600 + campaign.minutes * 60
    contacted = created + log["contact_day"] * DAY + 3600 * 2
    # The probability of the assignment made: followed up with this action, or held out.
    probability = np.where(
        followed,
        log["treat_probability"] * np.nan_to_num(log["action_probability"]),
        1.0 - log["treat_probability"],
    )
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(campaign.p.customer_id[who], dtype="str"),
            "action_code": pd.array(np.array(ACTIONS)[log["planned"]], dtype="str"),
            "created_at": pd.Series(created.astype("datetime64[s]")).astype("datetime64[us]"),
            "contacted_at": pd.Series(contacted.astype("datetime64[s]"))
            .astype("datetime64[us]")
            .where(reached),
            "outcome": pd.array(outcome, dtype="str"),
            "assignment_probability": probability,
            "assignment": pd.array(np.where(followed, "followed_up", "held_out"), dtype="str"),
            "randomised": pd.array(log["randomised"] == 1, dtype="boolean"),
        }
    ).sort_values(["created_at", "customer_id"], kind="stable")
    frame.insert(0, "intervention_id", [f"WH{i:09d}" for i in range(1, len(frame) + 1)])
    return frame.reset_index(drop=True)


def assignments_table(campaign: Campaign, start: np.datetime64) -> pd.DataFrame:
    """The truth of every assignment: followed up (at the top or at random at the edge) or
    held out at the edge (the control group), with its probabilities and what the team saw."""
    log = campaign.log.arrays()
    followed = log["action"] >= 0
    codes = np.array(ACTIONS)[np.maximum(log["action"], 0)]
    return pd.DataFrame(
        {
            "customer_id": pd.array(campaign.p.customer_id[log["who"]], dtype="str"),
            "snapshot_date": pd.Series((start + log["month"]).astype("datetime64[D]")).astype(
                "datetime64[us]"
            ),
            "arm": pd.array(np.where(followed, "followed_up", "control"), dtype="str"),
            "randomised": log["randomised"] == 1,
            "treat_probability": log["treat_probability"],
            "action_code": pd.Series(codes, dtype="str").where(followed),
            "action_probability": log["action_probability"],
            "contacted": log["contacted"] == 1,
            "risk_seen": log["risk_seen"],
            "untreated_probability": log["untreated"],
        }
    )


def effects_table(
    campaign: Campaign,
    states: np.ndarray,
    active: Callable[[int], np.ndarray],
    start: np.datetime64,
) -> pd.DataFrame:
    """Every active account's true effect of every action at every snapshot T_m: its churn
    probability over the horizon with no new follow-up (the oracle) minus with the action
    delivered at T_m (contact made), both by the oracle's backward recursion under the effects
    of the follow-ups decided before T_m."""
    parts = []
    for m in range(1, states.shape[0] + 1):
        idx = np.flatnonzero(active(m))
        before = states[m - 1, idx].astype(np.int64)
        without = campaign.churn_within(m, idx, before)
        for a, code in enumerate(ACTIONS):
            with_action = campaign.churn_within(m, idx, before, 1.0 - campaign.efficacy[:, a, idx])
            parts.append(
                pd.DataFrame(
                    {
                        "customer_id": campaign.p.customer_id[idx],
                        "snapshot_date": pd.Timestamp(str(start + m) + "-01"),
                        "action_code": code,
                        "probability_without": without,
                        "probability_with": with_action,
                        "effect": without - with_action,
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    for column in ("customer_id", "action_code"):
        frame[column] = frame[column].astype("str")
    return frame
