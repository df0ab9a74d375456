"""The monthly loop: moves every account's hidden state and writes what the company's systems see.

Vectorised over accounts; the only loop is over months. Hidden state and observables are kept
apart: `process` decides who drifts into trouble and who leaves, this module turns that into
meter readings, bills, payments, tickets, work orders and outages with lead signals whose
strength varies by account (some churn is visible months ahead, some is a surprise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from retention.data.contract import CHANNELS as CONTRACT_CHANNELS
from retention.data.contract import ORDER_TYPES, TICKET_CATEGORIES
from retention.data.simulator import bills, campaigns, process, variants
from retention.data.simulator.portfolio import Portfolio, _standard_size
from retention.data.simulator.process import V1, C, E, H, L, W
from retention.data.simulator.profiles import (
    INDUSTRIES,
    festival_share,
)
from retention.data.simulator.scenarios import Scenario, factors
from retention.data.tariff_tables import TariffTables, load_tariffs
from retention.settings import packaged_file

DAY = 86_400
TARIFFS_FILE = "serving/tariffs.yaml"  # the packaged example province the bills follow
# A volume loss is measured against the same month a year earlier, so the load can only be
# seen leaving once the data hold a year: before that, such exits close instead.
VOLUME_LOSS_FROM = 12
MIN_SHARE_BEFORE_LOSS = 0.56
NEVER = np.iinfo(np.int64).max // 4
PV_SEASON = np.array([0.70, 0.80, 0.95, 1.05, 1.15, 1.10, 1.20, 1.25, 1.05, 0.95, 0.80, 0.70])
CAPTIVE_CF, PV_CF = 0.75, 0.13
# Positions in the contract's enums (the order the matrices below follow).
NEW, INCREASE, REDUCTION, SUSPEND, RESUME, CLOSE, TARIFF, TRANSFER = range(len(ORDER_TYPES))
CATEGORIES, CHANNELS = TICKET_CATEGORIES, CONTRACT_CHANNELS
CHANNEL_MIX = np.array(
    [
        [0.60, 0.25, 0.05, 0.10],  # complaint
        [0.40, 0.40, 0.10, 0.10],  # opinion
        [0.25, 0.35, 0.15, 0.25],  # inquiry
        [0.70, 0.20, 0.00, 0.10],  # repair
        [0.30, 0.30, 0.00, 0.40],  # praise
    ]
)
# Median hours to close and the service time limit, by category.
TICKET_HOURS = np.array([60.0, 40.0, 4.0, 2.5, 1.0])
TICKET_LIMIT_HOURS = np.array([96.0, 120.0, 24.0, 6.0, np.inf])


@dataclass
class Rows:
    """Column arrays collected month by month, concatenated at the end; `columns` (name ->
    dtype) makes the empty table of a small portfolio (ten accounts over 13 months may have
    no work order at all)."""

    columns: dict[str, str]
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.parts.setdefault(name, []).append(np.asarray(values))

    def frame(self) -> dict[str, np.ndarray]:
        if not self.parts:
            return {name: np.array([], dtype=dtype) for name, dtype in self.columns.items()}
        return {name: np.concatenate(values) for name, values in self.parts.items()}


_ORDER_COLUMNS = {
    "who": "int64",
    "kind": "int64",
    "applied": "int64",
    "completed": "int64",
    "change": "float64",
    "cancelled": "bool",
}


@dataclass
class Orders:
    """Work orders as they happen: account, type, applied and completed (seconds), change."""

    rows: Rows = field(default_factory=lambda: Rows(_ORDER_COLUMNS))

    def add(
        self,
        who: np.ndarray,
        kind: int,
        applied: np.ndarray,
        completed: np.ndarray,
        change: np.ndarray | float = 0.0,
        cancelled: np.ndarray | None = None,
    ) -> None:
        if who.size == 0:
            return
        self.rows.add(
            who=who,
            kind=np.full(who.size, kind),
            applied=applied.astype(np.int64),
            completed=completed.astype(np.int64),
            change=np.broadcast_to(np.asarray(change, dtype=float), who.shape).copy(),
            cancelled=np.zeros(who.size, bool) if cancelled is None else cancelled,
        )


@dataclass
class Outcome:
    """What the loop produced: raw column arrays, per-month hidden states and churn events."""

    usage: dict[str, np.ndarray]
    billing: dict[str, np.ndarray]
    tickets: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    outages: dict[str, np.ndarray]
    states: np.ndarray  # (months, n) hidden state during each data month
    events: dict[str, np.ndarray]  # who, day, type
    capacity_start: np.ndarray  # at the start of the data (new accounts: at opening)
    market: np.ndarray  # at the end
    self_generation_kw: np.ndarray  # at the end
    closed_day: np.ndarray
    rates: process.Rates
    cycle_phase: np.ndarray
    open_day: np.ndarray
    campaign: campaigns.Campaign | None = None  # the follow-ups, when campaigns are on


def cycle_value(t: np.ndarray | int, industry: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The business cycle of each account's industry in month t, as a share of load."""
    amp = np.array([ind.cycle_amplitude for ind in INDUSTRIES])[industry]
    period = np.array([ind.cycle_period for ind in INDUSTRIES])[industry]
    return np.asarray(amp * np.sin(2 * np.pi * (t + phase[industry]) / period))


def hazard_cycle(t: int, industry: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Downturns raise the drift hazard: exp(-6 x cycle)."""
    return np.exp(-6.0 * cycle_value(t, industry, phase))


def build_rates(p: Portfolio) -> process.Rates:
    """Account-specific monthly transition probabilities from the static traits."""
    hazard = np.array([ind.hazard for ind in INDUSTRIES])[p.industry]
    size = (p.capacity_kva / 2000.0) ** -0.15
    manager = np.where(p.manager_id == None, 1.4, 1.0)  # noqa: E711 (object array)
    market = np.array([1.0, 1.1, 1.2])[p.market]
    outage = np.clip(0.6 + 0.4 * p.outage_rate / p.outage_rate.mean(), 0.6, 2.0)
    drift = 0.011 * hazard * size * manager * market * outage * p.frailty
    weaken = np.where(p.manager_id == None, 0.11, 0.085)  # noqa: E711
    mix = process.ROUTE_MIX[p.driver].copy()
    young = p.opens_at >= 0  # no year-earlier consumption to lose against: they close instead
    mix[young, process.CLOSURE] += mix[young, process.VOLUME]
    mix[young, process.VOLUME] = 0.0
    return process.Rates(drift=drift, weaken_to_leave=weaken, route_mix=mix)


@dataclass(eq=False)
class _Setting:
    """What the monthly loop reads and never changes: the portfolio and lookups drawn from it."""

    p: Portfolio
    scenarios: tuple[Scenario, ...]
    rates: process.Rates
    phase: np.ndarray  # each industry's business-cycle phase
    industry_codes: np.ndarray
    season: np.ndarray  # (industry, calendar month) share of load
    festival: np.ndarray  # each account's Spring Festival dip
    winter_stop: np.ndarray  # each account's extra chance of a winter stop
    biller: bills.Biller  # the tariff tables the bills are made by
    extract_day: int  # the first day after the data
    open_day: np.ndarray  # int64 days

    @classmethod
    def of(
        cls,
        p: Portfolio,
        start: np.datetime64,
        months: int,
        scenarios: tuple[Scenario, ...],
        rng: np.random.Generator,
        variant: variants.Variant = variants.BASE,
        sudden: np.ndarray | None = None,
        tariffs: TariffTables | None = None,
    ) -> _Setting:
        industry_codes = np.array([ind.code for ind in INDUSTRIES], dtype=object)[p.industry]
        sudden = np.zeros(p.size, dtype=bool) if sudden is None else sudden
        rates = variants.rates(build_rates(p), p, variant, sudden)
        phase = rng.uniform(0, 60, len(INDUSTRIES))
        return cls(
            p=p,
            scenarios=scenarios,
            rates=rates,
            phase=phase,
            industry_codes=industry_codes,
            season=np.array([ind.seasonality for ind in INDUSTRIES]),
            festival=np.array([ind.festival_dip for ind in INDUSTRIES])[p.industry],
            winter_stop=np.array([ind.winter_stop for ind in INDUSTRIES])[p.industry],
            biller=bills.Biller.of(
                p, tariffs or load_tariffs(packaged_file(TARIFFS_FILE)), scenarios, start
            ),
            extract_day=int((start + months).astype("datetime64[D]").astype(np.int64)),
            open_day=p.open_day.astype(np.int64),
        )


@dataclass(eq=False)
class _Accounts:
    """Every account's state as the months pass: its hidden state and what it has done."""

    state: np.ndarray
    route: np.ndarray  # the exit route taken, -1 while none
    distress: np.ndarray  # share of the normal load the business still draws
    self_gen: np.ndarray  # PV kW
    captive_kw: np.ndarray
    capacity: np.ndarray
    market: np.ndarray
    discount: np.ndarray
    susp_start: np.ndarray
    susp_end: np.ndarray
    closed_day: np.ndarray
    filed_day: np.ndarray
    last_reduction: np.ndarray  # month index
    level: np.ndarray  # capacity-driven level changes
    ring: np.ndarray  # (n, 12) the last year's load ratios
    states: np.ndarray  # (months, n) hidden state during each data month
    capacity_start: np.ndarray
    # `discount` (a market account's) and `agency_noise` (the agency price's drift) no longer
    # price a bill (the tariff tables do); they are still drawn so every other table stays
    # the run it was.
    agency_noise: float = 1.0

    @classmethod
    def of(cls, p: Portfolio, months: int, rng: np.random.Generator) -> _Accounts:
        n = p.size
        capacity = p.capacity_kva.astype(float).copy()
        market = p.market.copy()
        return cls(
            state=np.full(n, H, dtype=np.int64),
            route=np.full(n, -1),
            distress=np.ones(n),
            self_gen=p.self_generation_kw.astype(float).copy(),
            captive_kw=np.zeros(n),
            capacity=capacity,
            market=market,
            discount=np.where(market > 0, rng.uniform(0.95, 0.99, n), 1.0),
            susp_start=np.full(n, NEVER, dtype=np.int64),
            susp_end=np.full(n, NEVER, dtype=np.int64),
            closed_day=np.full(n, NEVER, dtype=np.int64),
            filed_day=np.full(n, -1, dtype=np.int64),
            last_reduction=np.full(n, -100),
            level=np.ones(n),
            ring=np.ones((n, 12)),
            states=np.zeros((months, n), dtype=np.int8),
            capacity_start=capacity.copy(),
        )


@dataclass(eq=False)
class _Tables:
    """The rows written so far; every table's columns and dtypes are known from the start, for
    a small portfolio that never adds a row to one."""

    usage: Rows
    billing: Rows
    tickets: Rows
    outages: Rows
    events: Rows
    orders: Orders

    @classmethod
    def empty(cls) -> _Tables:
        month_row = {"who": "int64", "t": "int64"}
        readings = ("kwh_total", "kwh_peak", "kwh_flat", "kwh_valley", "max_demand_kw")
        ticket = ("category", "channel", "opened", "closed", "satisfaction", "sla")
        return cls(
            usage=Rows(month_row | dict.fromkeys((*readings, "power_factor"), "float64")),
            billing=Rows(
                month_row
                | {"amount_due_cny": "float64", "amount_paid_cny": "float64"}
                | {"due_day": "int64", "paid_day": "int64"}
            ),
            tickets=Rows(month_row | dict.fromkeys(ticket, "int64")),
            outages=Rows({"who": "int64", "start": "int64", "end": "int64", "planned": "bool"}),
            events=Rows({"who": "int64", "day": "int64", "type": "object"}),
            orders=Orders(),
        )


@dataclass(frozen=True, eq=False)
class _Month:
    """One month of the loop: t < 0 is burn-in, hidden and not recorded."""

    t: int
    month: np.datetime64
    d0: int  # its first day
    d1: int  # the first day of the next month
    calendar_month: int  # 0 = January
    opened: np.ndarray  # accounts open by this month

    @classmethod
    def of(cls, start: np.datetime64, t: int, p: Portfolio) -> _Month:
        month = start + t
        return cls(
            t=t,
            month=month,
            d0=int(month.astype("datetime64[D]").astype(np.int64)),
            d1=int((month + 1).astype("datetime64[D]").astype(np.int64)),
            calendar_month=int(str(month)[5:7]) - 1,
            opened=p.opens_at <= t,
        )

    @property
    def dim(self) -> int:
        return self.d1 - self.d0

    @property
    def record(self) -> bool:
        return self.t >= 0


def run(
    p: Portfolio,
    start: np.datetime64,
    months: int,
    burn_in: int,
    rng: np.random.Generator,
    on_month: Callable[[], None] | None = None,
    scenarios: tuple[Scenario, ...] = (),
    variant: variants.Variant = variants.BASE,
    sudden: np.ndarray | None = None,
    campaign_policy: campaigns.CampaignPolicy | None = None,
    seed: int = 0,
    tariffs: TariffTables | None = None,
) -> Outcome:
    """Simulate burn_in hidden months, then `months` months of data (with `scenarios`'
    shifts from their months), under the hidden process's `variant` (`sudden`: the accounts
    whose only driver is a sudden exit, in the no-lead variant), with the retention team's
    follow-ups of `campaign_policy` if given (from their own stream of `seed`), billed by
    `tariffs` (default: the packaged tables, whatever RETENTION_TARIFFS says, so a seed gives
    one dataset).

    The steps draw from `rng` in a fixed order: the same seed gives the same data.
    """
    fixed = _Setting.of(p, start, months, scenarios, rng, variant, sudden, tariffs)
    campaign = _campaign(fixed, months, campaign_policy, seed, sudden, start)
    acc = _Accounts.of(p, months, rng)
    out = _Tables.empty()
    _connection_orders(fixed, acc, out.orders, rng)
    for t in range(-burn_in, months):
        m = _Month.of(start, t, p)
        if t == 0:
            acc.capacity_start = acc.capacity.copy()
        # 1. Hidden state moves for accounts that existed last month and have not churned.
        if campaign is not None and t >= 0:  # the team's follow-ups at the snapshot T_t
            campaign.at_snapshot(t, acc.state, _active_at(fixed, acc, m))
        movers, previous = _move_hidden_states(fixed, acc, m, rng, campaign)
        # 2. Exits: applications, the churn event itself, the load leaving.
        _exits(fixed, acc, m, movers, previous, out, rng)
        # 3. Slow dynamics: trouble shows in the load, self-generation grows, markets open.
        trigger = _trouble_shows(fixed, acc, movers, previous, rng)
        _generation_and_market(fixed, acc, m, trigger, rng)
        alive = m.opened & (acc.closed_day >= m.d0)
        not_suspended = (acc.susp_start >= m.d1) | (acc.susp_end <= m.d0)
        background = alive & (acc.state != C) & not_suspended & (acc.state != E)
        _background_orders(fixed, acc, m, background, trigger, out.orders, rng)

        acc.agency_noise = 0.7 * acc.agency_noise + 0.3 * rng.lognormal(0, 0.03)
        if not m.record:
            acc.ring[:, t % 12] = acc.distress  # keep the year-earlier memory warm in burn-in
            continue
        acc.states[t] = acc.state
        # 4. What the meters, the billing system, 95598 and the outage system record.
        _record_month(fixed, acc, m, np.flatnonzero(alive), trigger, out, rng)
        if on_month is not None:
            on_month()

    return Outcome(
        usage=out.usage.frame(),
        billing=out.billing.frame(),
        tickets=out.tickets.frame(),
        orders=out.orders.rows.frame(),
        outages=out.outages.frame(),
        states=acc.states,
        events=out.events.frame(),
        capacity_start=acc.capacity_start,
        market=acc.market,
        self_generation_kw=acc.self_gen + acc.captive_kw,
        closed_day=acc.closed_day,
        rates=fixed.rates,
        cycle_phase=fixed.phase,
        open_day=fixed.open_day,
        campaign=campaign,
    )


def month_matrix(
    rates: process.Rates, t: int, industry: np.ndarray, phase: np.ndarray
) -> np.ndarray:
    """The hidden chain's transition matrix of month t, before any follow-up's effect."""
    return process.transition_matrix(
        rates, hazard_cycle(t, industry, phase), volume_possible=t >= VOLUME_LOSS_FROM
    )


def _campaign(
    fixed: _Setting,
    months: int,
    policy: campaigns.CampaignPolicy | None,
    seed: int,
    sudden: np.ndarray | None,
    start: np.datetime64,
) -> campaigns.Campaign | None:
    """The team's follow-ups; an account whose only driver is a sudden exit gets no effect."""
    if policy is None:
        return None
    cache: dict[int, np.ndarray] = {}

    def matrix_of(k: int) -> np.ndarray:
        if k not in cache:
            cache[k] = month_matrix(fixed.rates, k, fixed.p.industry, fixed.phase)
            for old in [old for old in cache if abs(old - k) > campaigns.HORIZON]:
                del cache[old]
        return cache[k]

    scale = None if sudden is None else np.where(sudden, 0.0, 1.0)
    return campaigns.Campaign(policy, fixed.p, months, seed, matrix_of, scale, start)


def _active_at(fixed: _Setting, acc: _Accounts, m: _Month) -> np.ndarray:
    """Accounts open before the first day of month m that have not churned."""
    return (fixed.open_day < m.d0) & (acc.state != C) & (acc.closed_day >= m.d0)


def _connection_orders(
    fixed: _Setting, acc: _Accounts, orders: Orders, rng: np.random.Generator
) -> None:
    """Accounts that open during the data get their connection order before opening."""
    open_day = fixed.open_day
    new = np.flatnonzero(fixed.p.opens_at >= 0)
    applied = open_day[new] - rng.integers(40, 150, new.size)
    orders.add(
        new,
        NEW,
        applied * DAY + _work_seconds(rng, new.size),
        open_day[new] * DAY + 9 * 3600,
        change=acc.capacity[new],
    )


def _move_hidden_states(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    rng: np.random.Generator,
    campaign: campaigns.Campaign | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One step of the hidden chain (with the effects of follow-ups that reached); returns
    who could move and the states before."""
    p, t = fixed.p, m.t
    volume_possible = t >= VOLUME_LOSS_FROM
    matrix = month_matrix(fixed.rates, t, p.industry, fixed.phase)
    if campaign is not None:
        matrix = campaign.adjust(t, matrix)
    movers = (p.opens_at < t) & (acc.state != C)
    previous = acc.state.copy()
    acc.state[movers] = process.step(acc.state[movers], matrix[movers], rng)
    new_route = process.draw_route(
        previous, acc.state, process.exit_mix(fixed.rates, volume_possible), rng
    )
    left = movers & (new_route >= 0)
    acc.route[left] = new_route[left]
    if t < 0:  # burn-in: an account that leaves is replaced by a healthy one
        renew = acc.state == C
        acc.state[renew] = H
        acc.route[renew] = -1
        acc.distress[renew] = 1.0
        acc.captive_kw[renew] = 0.0
    return movers, previous


def _exits(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    movers: np.ndarray,
    previous: np.ndarray,
    out: _Tables,
    rng: np.random.Generator,
) -> None:
    """Exit applications filed, churn events and their orders, and the load leaving."""
    p, t, state = fixed.p, m.t, acc.state
    filed = movers & (state == E) & (previous != E)
    if filed.any():
        idx = np.flatnonzero(filed)
        acc.filed_day[idx] = m.d0 + rng.integers(12, min(27, m.dim - 1), idx.size)
        kinds = np.where(acc.route[idx] == process.CLOSURE, CLOSE, REDUCTION)
        if t >= -1:  # filings from the last burn-in month complete inside the data
            for kind in (CLOSE, REDUCTION):
                who = idx[kinds == kind]
                _file_exit(out.orders, who, kind, acc.filed_day[who], acc.capacity, rng)

    churned = movers & (state == C) & (previous != C)
    if churned.any() and m.record:
        _churn(churned, previous, acc, m, fixed.extract_day, out, rng)

    lost = movers & (state == V1) & (previous != V1)
    if lost.any():
        idx = np.flatnonzero(lost)
        past = acc.ring[idx][:, [(t - 12 + k) % 12 for k in range(3)]].min(axis=1)
        target = rng.uniform(0.04, 0.26, idx.size) * np.minimum(past, 1.0)
        self_driven = p.driver[idx] == 1
        # The load leaves: to captive generation (self-generation driver) or elsewhere.
        demand_kw = p.capacity_kva[idx] * p.utilisation[idx] * 0.9 * acc.level[idx]
        need = np.maximum(acc.distress[idx] - target, 0.0) * demand_kw / CAPTIVE_CF
        acc.captive_kw[idx[self_driven]] += np.round(need[self_driven], -1)
        acc.distress[idx[~self_driven]] = target[~self_driven]


def _trouble_shows(
    fixed: _Setting,
    acc: _Accounts,
    movers: np.ndarray,
    previous: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Trouble shows in the load; returns who leaves a trace this month (a visit, a call, an
    application) as an account weakens."""
    p, n, state = fixed.p, fixed.p.size, acc.state
    vis = p.visibility
    in_w, in_l = state == W, state == L
    decline_like = p.driver != 1
    distress = acc.distress
    # Entering trouble is an event: a shift or a line stops, or panels go on the roof (straight
    # from healthy to leaving in the short-lead variant: both steps in one month).
    weakened = movers & (in_w | in_l) & (previous == H)
    step_down = weakened & decline_like
    distress = np.where(step_down, distress * (1 - rng.uniform(0.10, 0.25, n) * vis), distress)
    # Most accounts that weaken leave a trace that month (a visit, a call, an application).
    deciding = movers & in_l & ((previous == W) | (previous == H))
    trigger = (weakened | deciding) & (rng.random(n) < 0.85 * vis)
    distress = np.where(
        deciding & decline_like,
        np.maximum(distress * (1 - rng.uniform(0.05, 0.15, n) * vis), 0.56),
        distress,
    )
    distress = np.where(
        in_w & decline_like, np.maximum(distress * (1 - 0.022 * vis), 0.75), distress
    )
    distress = np.where(
        in_l & decline_like, np.maximum(distress * (1 - 0.10 * vis), 0.56), distress
    )
    acc.distress = np.where(state == H, distress + (1 - distress) * 0.4, distress)
    return np.asarray(trigger)


def _generation_and_market(
    fixed: _Setting, acc: _Accounts, m: _Month, trigger: np.ndarray, rng: np.random.Generator
) -> None:
    """Panels and captive plants go up (most where self-generation drives an exit), and some
    grid-agency accounts move to the market."""
    p, n, state, opened = fixed.p, fixed.p.size, acc.state, m.opened
    vis = p.visibility
    in_w, in_l = state == W, state == L
    first_panels = trigger & (p.driver == 1)
    pv_install = opened & (
        first_panels
        | ((state == H) & (rng.random(n) < 0.003))
        | (in_w & (p.driver == 1) & (rng.random(n) < 0.12 * vis))
        | (in_l & (p.driver == 1) & (rng.random(n) < 0.4 * vis))
    )
    pv_size = np.where((state == H), rng.uniform(0.03, 0.10, n), rng.uniform(0.4, 0.8, n))
    capacity = acc.capacity
    acc.self_gen = np.where(
        pv_install, acc.self_gen + np.round(capacity * pv_size, -1), acc.self_gen
    )
    captive_step = opened & in_l & (p.driver == 1) & p.captive & (rng.random(n) < 0.15 * vis)
    acc.captive_kw = np.where(
        captive_step,
        acc.captive_kw + np.round(capacity * p.utilisation * 0.12, -1),
        acc.captive_kw,
    )
    switch = opened & (acc.market == 0) & (p.tariff != 2) & (rng.random(n) < 0.004)
    acc.market = np.where(switch, 2, acc.market)
    acc.discount = np.where(switch, rng.uniform(0.95, 0.99, n), acc.discount)


def _record_month(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    idx: np.ndarray,
    trigger: np.ndarray,
    out: _Tables,
    rng: np.random.Generator,
) -> None:
    """The month's meter readings, bills, outages and tickets of the accounts `idx` on book."""
    p = fixed.p
    grid, demand, pv_kwh, running = _consumption(fixed, acc, m, idx, rng)
    readings = _meter_readings(fixed, acc, m, idx, grid, demand, pv_kwh, running, out.usage, rng)
    _bill_month(fixed, acc, m, readings, out, rng)
    _tickets(
        idx,
        acc.state,
        trigger,
        p,
        m.d0,
        m.dim,
        fixed.extract_day,
        out.tickets,
        rng,
        month_idx=m.t,
        outages=_outages(
            idx, p, m.d0, m.dim, m.calendar_month, fixed.extract_day, out.outages, rng
        ),
    )


def _consumption(
    fixed: _Setting, acc: _Accounts, m: _Month, idx: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """kWh from the grid (before scenarios), the business's demand, PV kWh and the share of
    the month each account ran; keeps the year-earlier memory of the load."""
    p, t, d0, d1, dim = fixed.p, m.t, m.d0, m.d1, m.dim
    cyc = cycle_value(t, p.industry, fixed.phase)
    season = fixed.season[p.industry[idx], m.calendar_month]
    festival = 1 - fixed.festival[idx] * festival_share(m.month)
    growth = (1 + p.growth[idx]) ** (t / 12)
    ramp = np.clip(0.45 + 0.1 * (t - p.opens_at[idx]), 0.45, 1.0)
    active_from = np.clip(fixed.open_day[idx], d0, d1)
    active_to = np.clip(acc.closed_day[idx], d0, d1)
    s_lo = np.clip(acc.susp_start[idx], active_from, active_to)
    s_hi = np.clip(acc.susp_end[idx], active_from, active_to)
    suspended_days = np.maximum(s_hi - s_lo, 0)
    active_days = np.maximum(active_to - active_from, 0)
    running = np.maximum(active_days - suspended_days, 0) / dim
    on_book = active_days / dim
    base = p.capacity_kva[idx] * p.utilisation[idx] * 0.9 * 730 * acc.level[idx]
    expected = base * season * (1 + cyc[idx]) * festival * growth * ramp
    demand = expected * rng.lognormal(0, 0.035, idx.size)
    pv_kwh = acc.self_gen[idx] * PV_CF * 730 * PV_SEASON[m.calendar_month]
    captive_kwh = acc.captive_kw[idx] * CAPTIVE_CF * 730
    grid = np.maximum(demand * acc.distress[idx] - pv_kwh - captive_kwh, 0.03 * demand)
    # Until the load has gone (V1 on), trouble alone never halves consumption: that is
    # what a volume loss means, and it is dated by the hidden process, not by chance.
    still_here = np.isin(acc.state[idx], [H, W, L, E])
    grid = np.where(still_here, np.maximum(grid, MIN_SHARE_BEFORE_LOSS * demand), grid)
    grid = grid * running + 0.02 * expected * suspended_days / dim
    ratio = grid / np.maximum(expected * on_book, 1e-9)
    acc.ring[idx, t % 12] = np.where(on_book > 0.5, ratio, acc.ring[idx, t % 12])
    return grid, demand, pv_kwh, running


@dataclass(frozen=True, eq=False)
class _Readings:
    """One month's meter readings of the accounts `idx`, as billing needs them."""

    idx: np.ndarray
    running: np.ndarray
    kwh: np.ndarray
    peak: np.ndarray
    flat: np.ndarray
    valley: np.ndarray
    no_tou: np.ndarray  # billed without time-of-use
    recorded: dict[str, np.ndarray]  # the usage table's columns, as written (bills read these)


def _meter_readings(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    idx: np.ndarray,
    grid: np.ndarray,
    demand: np.ndarray,
    pv_kwh: np.ndarray,
    running: np.ndarray,
    usage: Rows,
    rng: np.random.Generator,
) -> _Readings:
    """kWh by time of use, maximum demand and power factor, written to `usage`."""
    p = fixed.p
    shares = p.tou_shares[idx] * rng.lognormal(0, 0.03, (idx.size, 3))
    pv_share = np.clip(pv_kwh / np.maximum(demand, 1.0), 0, 0.8)
    shares[:, 0] *= 1 - 0.5 * pv_share
    shares[:, 1] *= 1 - 0.5 * pv_share
    shares /= shares.sum(axis=1, keepdims=True)
    grid = grid * factors(fixed.scenarios, "industry_downturn", m.month, fixed.industry_codes[idx])
    kwh = np.round(grid, 0)
    peak, flat = np.round(kwh * shares[:, 0], 0), np.round(kwh * shares[:, 1], 0)
    valley = np.maximum(kwh - peak - flat, 0)
    max_demand = np.minimum(
        grid
        / (730 * np.maximum(running, 0.05))
        / p.load_factor[idx]
        * rng.lognormal(0, 0.04, idx.size),
        acc.capacity[idx] * 0.98,
    )
    price_trouble = (p.driver[idx] == 3) & ((acc.state[idx] == W) | (acc.state[idx] == L))
    pf = np.clip(
        p.power_factor[idx]
        - 0.06 * p.visibility[idx] * price_trouble
        + rng.normal(0, 0.007, idx.size),
        0.6,
        1.0,
    )
    no_tou = (p.tariff[idx] == 2) & (idx % 2 == 0)
    recorded = {
        "kwh_total": kwh,
        "kwh_peak": np.where(no_tou, np.nan, peak),
        "kwh_flat": np.where(no_tou, np.nan, flat),
        "kwh_valley": np.where(no_tou, np.nan, valley),
        "max_demand_kw": np.where(
            (p.tariff[idx] == 1) & (idx % 3 == 0), np.nan, np.round(max_demand, 1)
        ),
        "power_factor": np.where(rng.random(idx.size) < 0.01, np.nan, np.round(pf, 3)),
    }
    usage.add(who=idx, t=np.full(idx.size, m.t), **recorded)
    return _Readings(idx, running, kwh, peak, flat, valley, no_tou, recorded)


def _bill_month(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    r: _Readings,
    out: _Tables,
    rng: np.random.Generator,
) -> None:
    """The month's bill, made from the tariff tables as the tariff plan recomputes it
    (bills.py: energy by time of use, the basic charge at the capacity the completed work
    orders leave, less what the approved suspensions free, the power-factor adjustment, on
    the readings as recorded); then when (and whether) it is paid."""
    orders = out.orders.rows.frame()
    capacity = bills.capacity_in_force(
        acc.capacity_start, orders, (INCREASE, REDUCTION), m.d1 * DAY
    )
    suspensions = bills.suspensions_of(orders, SUSPEND, RESUME, DAY)
    due = fixed.biller.due(r.idx, m.month, capacity[r.idx], r.recorded, suspensions)
    _bills(r.idx, m.t, due, m.d1, acc.state, fixed.p, fixed.extract_day, out.billing, rng)


def _work_seconds(rng: np.random.Generator, size: int) -> np.ndarray:
    """Seconds into a day during office hours."""
    return rng.integers(8 * 3600, 18 * 3600, size)


def _file_exit(
    orders: Orders,
    who: np.ndarray,
    kind: int,
    day: np.ndarray,
    capacity: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """A closure or large reduction application filed this month, completing next month."""
    if who.size == 0:
        return
    change = 0.0 if kind == CLOSE else -(capacity[who] - _keep_after_cut(capacity[who], rng))
    orders.add(who, kind, day * DAY + _work_seconds(rng, who.size), np.full(who.size, -1), change)


def _keep_after_cut(capacity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Capacity kept after a churn-level reduction: 20-45% of what there was."""
    keep = _standard_size(np.maximum(capacity * rng.uniform(0.2, 0.45, capacity.size), 315))
    return np.minimum(keep, np.floor(capacity * 0.45))


def _churn(
    churned: np.ndarray,
    previous: np.ndarray,
    acc: _Accounts,
    m: _Month,
    extract_day: int,
    out: _Tables,
    rng: np.random.Generator,
) -> None:
    """Write the churn event of every account that churns this month, and its work orders."""
    orders, d0 = out.orders, m.d0
    idx = np.flatnonzero(churned)
    was_filed = previous[idx] == E
    r = acc.route[idx]
    apply_day = np.where(was_filed, acc.filed_day[idx], d0 + rng.integers(0, 12, idx.size))
    done_day = np.where(
        was_filed,
        d0 + rng.integers(1, 20, idx.size),
        np.minimum(apply_day + rng.integers(3, 13, idx.size), d0 + m.dim - 2),
    )
    done_s = done_day * DAY + _work_seconds(rng, idx.size)
    day = np.where(r == process.VOLUME, d0, done_day)

    close = idx[r == process.CLOSURE]
    if close.size:
        direct = close[~was_filed[r == process.CLOSURE]]
        orders.add(
            direct,
            CLOSE,
            apply_day[np.isin(idx, direct)] * DAY + _work_seconds(rng, direct.size),
            np.full(direct.size, -1),
        )
        acc.closed_day[close] = done_day[r == process.CLOSURE]
    cut = idx[r == process.REDUCTION]
    if cut.size:
        direct = cut[~was_filed[r == process.REDUCTION]]
        keep = _keep_after_cut(acc.capacity[direct], rng)
        orders.add(
            direct,
            REDUCTION,
            apply_day[np.isin(idx, direct)] * DAY + _work_seconds(rng, direct.size),
            np.full(direct.size, -1),
            change=-(acc.capacity[direct] - keep),
        )
    stop = idx[r == process.SUSPENSION]
    if stop.size:
        suspension = r == process.SUSPENSION
        _suspend(stop, apply_day[suspension], done_day[suspension], acc, extract_day, orders, rng)
    # Completion of filed and direct exits is written by `_complete` once capacity is known.
    _complete(
        orders,
        idx[r != process.SUSPENSION],
        done_s[r != process.SUSPENSION],
        acc.capacity,
        acc.distress,
        acc.level,
    )
    out.events.add(who=idx, day=day, type=np.array(process.CHURN_TYPE_OF_ROUTE, dtype=object)[r])


def _suspend(
    stop: np.ndarray,
    apply_day: np.ndarray,
    start_day: np.ndarray,
    acc: _Accounts,
    extract_day: int,
    orders: Orders,
    rng: np.random.Generator,
) -> None:
    """A churn by suspension: half of them resume after 100-400 days, the others never."""
    lasting = rng.integers(100, 400, stop.size)
    end = np.where(rng.random(stop.size) < 0.5, start_day + lasting, NEVER)
    acc.susp_start[stop], acc.susp_end[stop] = start_day, end
    orders.add(
        stop,
        SUSPEND,
        apply_day * DAY + _work_seconds(rng, stop.size),
        start_day * DAY + 9 * 3600,
    )
    back = end < extract_day
    orders.add(
        stop[back],
        RESUME,
        (end[back] - rng.integers(3, 10, back.sum())) * DAY + _work_seconds(rng, int(back.sum())),
        end[back] * DAY + 9 * 3600,
    )


def _complete(
    orders: Orders,
    who: np.ndarray,
    done_s: np.ndarray,
    capacity: np.ndarray,
    distress: np.ndarray,
    level: np.ndarray,
) -> None:
    """Complete the open exit orders of these accounts and apply large reductions."""
    if who.size == 0 or "who" not in orders.rows.parts:
        return
    # Open exit orders are the last ones written for an account; patch them in place.
    pending = {int(w): s for w, s in zip(who, done_s, strict=True)}
    for part_who, part_kind, part_done, part_change in zip(
        reversed(orders.rows.parts["who"]),
        reversed(orders.rows.parts["kind"]),
        reversed(orders.rows.parts["completed"]),
        reversed(orders.rows.parts["change"]),
        strict=True,
    ):
        open_exit = (part_done < 0) & np.isin(part_kind, [CLOSE, REDUCTION])
        for i in np.flatnonzero(open_exit & np.isin(part_who, who)):
            account = int(part_who[i])
            if account in pending:
                part_done[i] = pending.pop(account)
                if part_kind[i] == REDUCTION:
                    new_capacity = capacity[account] + part_change[i]
                    level[account] *= 0.5 + 0.5 * new_capacity / capacity[account]
                    distress[account] = min(distress[account], 0.45)
                    capacity[account] = new_capacity
        if not pending:
            return


def _background_orders(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    eligible: np.ndarray,
    trigger: np.ndarray,
    orders: Orders,
    rng: np.random.Generator,
) -> None:
    """Everyday change-of-use orders; more reductions and stops when an account is in trouble."""
    p, n = fixed.p, acc.state.size
    in_w, in_l = acc.state == W, acc.state == L
    service = p.driver == 2
    slow = np.where(service & (in_w | in_l), 1.9, 1.0)  # trouble with service slows the office
    cut_now = trigger & (p.driver == 0) & (rng.random(n) < 0.5)
    _temporary_suspensions(fixed, acc, m, eligible, trigger, cut_now, orders, rng)
    _partial_reductions(fixed, acc, m, eligible, cut_now, slow, orders, rng)
    _capacity_increases(fixed, acc, m, eligible, slow, orders, rng)
    for kind, rate in (
        (TARIFF, np.full(n, 0.0008)),
        (TRANSFER, np.where(in_w | in_l, 0.003, 0.0004)),
    ):
        who = np.flatnonzero(eligible & (rng.random(n) < rate))
        if who.size and m.record:
            applied = (m.d0 + rng.integers(0, m.dim, who.size)) * DAY + _work_seconds(rng, who.size)
            orders.add(
                who,
                kind,
                applied,
                applied + _durations(rng, slow, 5, 20, who),
                cancelled=rng.random(who.size) < 0.05,
            )


def _durations(
    rng: np.random.Generator, slow: np.ndarray, low: int, high: int, who: np.ndarray
) -> np.ndarray:
    """Seconds an order of these accounts takes, around (low + high) / 2 days."""
    days = rng.lognormal(np.log((low + high) / 2), 0.45, who.size) * slow[who]
    return np.maximum(days * DAY, 3600).astype(np.int64)


def _temporary_suspensions(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    eligible: np.ndarray,
    trigger: np.ndarray,
    cut_now: np.ndarray,
    orders: Orders,
    rng: np.random.Generator,
) -> None:
    """Temporary suspensions (错峰生产, maintenance): 20-45 days, so never a churn by themselves."""
    n, d0 = acc.state.size, m.d0
    in_w, in_l = acc.state == W, acc.state == L
    decline = fixed.p.driver == 0
    winter = m.calendar_month in (11, 0, 1)
    p_stop = 0.0012 + (fixed.winter_stop if winter else 0.0) + 0.02 * (in_w & decline)
    p_stop = np.where(trigger & decline & ~cut_now, 1.0, p_stop)
    rested = (acc.susp_start == NEVER) | (acc.susp_end < d0 - 60)
    stop = np.flatnonzero(eligible & ~in_l & rested & (rng.random(n) < p_stop))
    if not stop.size:
        return
    start = d0 + rng.integers(0, m.dim, stop.size)
    end = start + rng.integers(20, 46, stop.size)
    acc.susp_start[stop], acc.susp_end[stop] = start, end
    if m.record:
        orders.add(
            stop,
            SUSPEND,
            (start - rng.integers(3, 10, stop.size)) * DAY + _work_seconds(rng, stop.size),
            start * DAY + 9 * 3600,
        )
        back = end < fixed.extract_day
        orders.add(
            stop[back],
            RESUME,
            (end[back] - rng.integers(2, 7, back.sum())) * DAY
            + _work_seconds(rng, int(back.sum())),
            end[back] * DAY + 9 * 3600,
        )


def _partial_reductions(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    eligible: np.ndarray,
    cut_now: np.ndarray,
    slow: np.ndarray,
    orders: Orders,
    rng: np.random.Generator,
) -> None:
    """Partial capacity reductions: at most 30%, at least 7 months apart (never a churn alone)."""
    n, capacity = acc.state.size, acc.capacity
    in_w, in_l = acc.state == W, acc.state == L
    decline = fixed.p.driver == 0
    p_cut = np.select([cut_now, in_l, in_w & decline, in_w], [1.0, 0.04, 0.02, 0.006], 0.0008)
    cut = np.flatnonzero(eligible & (rng.random(n) < p_cut) & (m.t - acc.last_reduction >= 7))
    if not cut.size:
        return
    keep = _standard_size(capacity[cut] * rng.uniform(0.7, 0.9, cut.size))
    ok = (keep < capacity[cut]) & (keep >= 0.7 * capacity[cut])
    cut, keep = cut[ok], keep[ok]
    change = -(capacity[cut] - keep)
    acc.level[cut] *= 1 + 0.2 * change / capacity[cut]  # idle transformers go first
    capacity[cut] = keep
    acc.last_reduction[cut] = m.t
    if m.record:
        applied = (m.d0 + rng.integers(0, m.dim, cut.size)) * DAY + _work_seconds(rng, cut.size)
        orders.add(cut, REDUCTION, applied, applied + _durations(rng, slow, 8, 25, cut), change)


def _capacity_increases(
    fixed: _Setting,
    acc: _Accounts,
    m: _Month,
    eligible: np.ndarray,
    slow: np.ndarray,
    orders: Orders,
    rng: np.random.Generator,
) -> None:
    """Growth: capacity increases by healthy, growing accounts."""
    n, capacity = acc.state.size, acc.capacity
    growing = eligible & (acc.state == H) & (fixed.p.growth > 0.02)
    grow = np.flatnonzero(growing & (rng.random(n) < 0.004))
    if not grow.size:
        return
    new_capacity = _standard_size(capacity[grow] * rng.uniform(1.25, 1.7, grow.size))
    change = np.maximum(new_capacity - capacity[grow], 0)
    cancelled = rng.random(grow.size) < 0.06
    if m.record:
        applied = (m.d0 + rng.integers(0, m.dim, grow.size)) * DAY + _work_seconds(rng, grow.size)
        orders.add(
            grow,
            INCREASE,
            applied,
            applied + _durations(rng, slow, 30, 90, grow),
            change,
            cancelled,
        )
    done = grow[~cancelled]
    acc.level[done] *= 1 + 0.5 * change[~cancelled] / capacity[done]
    capacity[done] += change[~cancelled]


def _bills(
    idx: np.ndarray,
    t: int,
    due: np.ndarray,
    d1: int,
    state: np.ndarray,
    p: Portfolio,
    extract_day: int,
    billing: Rows,
    rng: np.random.Generator,
) -> None:
    """Bills are due in the next month; late payers and arrears grow when a business declines."""
    s = state[idx]
    trouble = (p.driver[idx] == 0) | (p.driver[idx] == 3)
    vis = p.visibility[idx]
    late_p = p.late_trait[idx] + trouble * vis * np.select(
        [s == W, s == L, s == E], [0.25, 0.5, 0.6], 0
    )
    unpaid_p = 0.002 + trouble * vis * np.select([s == W, s == L, s == E], [0.03, 0.15, 0.3], 0)
    u = rng.random(idx.size)
    due_day = d1 + p.due_day[idx] - 1
    paid_day = np.where(
        u < late_p,
        due_day + 1 + rng.exponential(np.where(s == L, 30, 12)).astype(int),
        due_day - rng.integers(0, 12, idx.size),
    )
    unpaid = rng.random(idx.size) < unpaid_p
    partial = ~unpaid & (u < late_p) & (rng.random(idx.size) < 0.25)
    paid = np.where(partial, np.round(due * rng.uniform(0.3, 0.9, idx.size), 2), due)
    not_yet = unpaid | (paid_day >= extract_day)
    billing.add(
        who=idx,
        t=np.full(idx.size, t),
        amount_due_cny=due,
        amount_paid_cny=np.where(not_yet, 0.0, paid),
        due_day=due_day,
        paid_day=np.where(not_yet, -1, paid_day),
    )


def _outages(
    idx: np.ndarray,
    p: Portfolio,
    d0: int,
    dim: int,
    calendar_month: int,
    extract_day: int,
    outages: Rows,
    rng: np.random.Generator,
) -> np.ndarray:
    """Planned and fault outages; summer storms add faults. Returns faults per account."""
    storm = 1.6 if calendar_month in (5, 6, 7, 8) else 1.0
    rate = p.outage_rate[idx]
    planned = rng.poisson(rate * 0.45)
    faults = rng.poisson(rate * 0.55 * storm)
    for count, is_planned, median_h in ((planned, True, 6.0), (faults, False, 1.5)):
        who = np.repeat(idx, count)
        if who.size == 0:
            continue
        start = (d0 + rng.integers(0, dim, who.size)) * DAY + rng.integers(0, DAY, who.size)
        if is_planned:
            start = (start // DAY) * DAY + 8 * 3600
        hours = rng.lognormal(np.log(median_h), 0.7 if is_planned else 1.0, who.size)
        end = start + np.maximum(hours * 3600, 300).astype(np.int64)
        keep = end < extract_day * DAY
        outages.add(
            who=who[keep],
            start=start[keep],
            end=end[keep],
            planned=np.full(int(keep.sum()), is_planned),
        )
    full = np.zeros(p.size, dtype=np.int64)
    full[idx] = faults
    return full


def _tickets(
    idx: np.ndarray,
    state: np.ndarray,
    trigger: np.ndarray,
    p: Portfolio,
    d0: int,
    dim: int,
    extract_day: int,
    tickets: Rows,
    rng: np.random.Generator,
    month_idx: int,
    outages: np.ndarray,
) -> None:
    """95598 and other-channel tickets: trouble shows as inquiries, opinions and complaints."""
    s = state[idx]
    vis = p.visibility[idx]
    drv = p.driver[idx]
    w, lv = (s == W), (s == L) | (s == E)
    size = (p.capacity_kva[idx] / 2000.0) ** 0.2
    manager = p.manager_id[idx] != None  # noqa: E711
    faults = outages[idx]
    rates = np.zeros((idx.size, 5))
    rates[:, 0] = (
        0.006
        + vis * ((drv == 2) * (0.15 * w + 0.6 * lv) + (drv == 3) * (0.04 * w + 0.2 * lv))
        + 0.03 * faults
    )
    rates[:, 1] = 0.015 + vis * (
        (drv == 3) * (0.2 * w + 0.7 * lv) + (drv == 2) * (0.08 * w + 0.3 * lv)
    )
    rates[:, 2] = 0.10 * size + vis * (
        (drv == 0) * (0.3 * w + 0.9 * lv) + (drv == 1) * (0.25 * w + 0.8 * lv)
    )
    rates[:, 3] = 0.02 + 0.3 * faults
    rates[:, 4] = 0.015 * np.where(manager, 2.0, 1.0) * np.where(w | lv, 0.3, 1.0)
    # The trace left when an account weakens: a complaint (service), an opinion on the bill
    # (price), an inquiry about reducing capacity or connecting panels (decline, self-generation).
    first = trigger[idx]
    rates[:, 0] += 1.2 * (first & (drv == 2))
    rates[:, 1] += 1.2 * (first & (drv == 3))
    rates[:, 2] += 1.0 * (first & ((drv == 0) | (drv == 1)))
    counts = rng.poisson(rates)
    who = np.repeat(np.repeat(idx, 5), counts.ravel())
    category = np.repeat(np.tile(np.arange(5), idx.size), counts.ravel())
    if who.size == 0:
        return
    has_manager = p.manager_id[who] != None  # noqa: E711
    mix = CHANNEL_MIX[category].copy()
    mix[~has_manager, 3] = 0.0
    mix /= mix.sum(axis=1, keepdims=True)
    channel = np.minimum((rng.random(who.size)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1), 3)
    opened = (d0 + rng.integers(0, dim, who.size)) * DAY + rng.integers(
        7 * 3600, 21 * 3600, who.size
    )
    troubled = np.isin(state[who], [W, L, E]) & (p.driver[who] == 2)
    hours = rng.lognormal(np.log(TICKET_HOURS[category]), 0.9) * np.where(troubled, 2.2, 1.0)
    closed = opened + (hours * 3600).astype(np.int64)
    never = (category == 0) & troubled & (rng.random(who.size) < 0.15)
    closed = np.where(never | (closed >= extract_day * DAY), -1, closed)
    sla = np.where(category == 4, -1, (hours <= TICKET_LIMIT_HOURS[category]).astype(int))
    sla = np.where(closed < 0, np.where(hours <= TICKET_LIMIT_HOURS[category], -1, 0), sla)
    base = np.array([0.01, 0.02, 0.07, 0.30, 0.60])
    score = (rng.random(who.size)[:, None] > np.cumsum(base)).sum(axis=1) + 1
    worse = (category <= 1).astype(int) + troubled.astype(int) * (rng.random(who.size) < 0.6)
    score = np.clip(score - worse - (category == 0) * rng.integers(0, 2, who.size), 1, 5)
    score = np.where((rng.random(who.size) < 0.4) | (closed < 0), -1, score)
    score = np.where(category == 4, np.maximum(score, 4) * (score > 0) - (score < 0), score)
    tickets.add(
        who=who,
        t=np.full(who.size, month_idx),
        category=category,
        channel=channel,
        opened=opened,
        closed=closed,
        satisfaction=score,
        sla=sla,
    )
