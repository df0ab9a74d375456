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
from retention.data.simulator import process
from retention.data.simulator.portfolio import TARIFFS, Portfolio, _standard_size
from retention.data.simulator.process import V1, C, E, H, L, W
from retention.data.simulator.profiles import (
    CAPACITY_CHARGE,
    DEMAND_CHARGE,
    FLAT_PRICE,
    INDUSTRIES,
    festival_share,
    policy_multiplier,
    tou_factors,
)
from retention.data.simulator.scenarios import Scenario, factors

DAY = 86_400
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


def run(
    p: Portfolio,
    start: np.datetime64,
    months: int,
    burn_in: int,
    rng: np.random.Generator,
    on_month: Callable[[], None] | None = None,
    scenarios: tuple[Scenario, ...] = (),
) -> Outcome:
    """Simulate burn_in hidden months, then `months` months of data (with `scenarios`'
    shifts from their months)."""
    n = p.size
    tariff_names = np.array(TARIFFS, dtype=object)[p.tariff]
    industry_codes = np.array([ind.code for ind in INDUSTRIES], dtype=object)[p.industry]
    rates = build_rates(p)
    phase = rng.uniform(0, 60, len(INDUSTRIES))
    ind_season = np.array([ind.seasonality for ind in INDUSTRIES])
    ind_festival = np.array([ind.festival_dip for ind in INDUSTRIES])[p.industry]
    ind_winter_stop = np.array([ind.winter_stop for ind in INDUSTRIES])[p.industry]
    flat_price = np.array(
        [
            FLAT_PRICE[TARIFFS[t]].get(v, FLAT_PRICE[TARIFFS[t]][10.0])
            for t, v in zip(p.tariff, p.voltage_kv, strict=True)
        ]
    )
    extract_day = int((start + months).astype("datetime64[D]").astype(np.int64))
    open_day = p.open_day.astype(np.int64)

    state = np.full(n, H, dtype=np.int64)
    route = np.full(n, -1)
    distress = np.ones(n)
    self_gen = p.self_generation_kw.astype(float).copy()
    captive_kw = np.zeros(n)
    capacity = p.capacity_kva.astype(float).copy()
    market = p.market.copy()
    discount = np.where(market > 0, rng.uniform(0.95, 0.99, n), 1.0)
    susp_start = np.full(n, NEVER, dtype=np.int64)
    susp_end = np.full(n, NEVER, dtype=np.int64)
    closed_day = np.full(n, NEVER, dtype=np.int64)
    filed_day = np.full(n, -1, dtype=np.int64)
    last_reduction = np.full(n, -100)
    level = np.ones(n)  # capacity-driven level changes
    ring = np.ones((n, 12))
    states = np.zeros((months, n), dtype=np.int8)
    capacity_start = capacity.copy()
    agency_noise = 1.0

    # Every table's columns and dtypes, for a small portfolio that never adds a row to one.
    month_row = {"who": "int64", "t": "int64"}
    usage = Rows(
        month_row
        | dict.fromkeys(
            ("kwh_total", "kwh_peak", "kwh_flat", "kwh_valley", "max_demand_kw", "power_factor"),
            "float64",
        )
    )
    billing = Rows(
        month_row
        | {"amount_due_cny": "float64", "amount_paid_cny": "float64"}
        | {"due_day": "int64", "paid_day": "int64"}
    )
    tickets = Rows(
        month_row
        | dict.fromkeys(("category", "channel", "opened", "closed", "satisfaction", "sla"), "int64")
    )
    outages = Rows({"who": "int64", "start": "int64", "end": "int64", "planned": "bool"})
    events = Rows({"who": "int64", "day": "int64", "type": "object"})
    orders = Orders()

    # Accounts that open during the data get their connection order before opening.
    new = np.flatnonzero(p.opens_at >= 0)
    applied = open_day[new] - rng.integers(40, 150, new.size)
    orders.add(
        new,
        NEW,
        applied * DAY + _work_seconds(rng, new.size),
        open_day[new] * DAY + 9 * 3600,
        change=capacity[new],
    )

    for t in range(-burn_in, months):
        month = start + t
        d0 = int(month.astype("datetime64[D]").astype(np.int64))
        d1 = int((month + 1).astype("datetime64[D]").astype(np.int64))
        dim = d1 - d0
        calendar_month = int(str(month)[5:7]) - 1
        record = t >= 0
        opened = p.opens_at <= t

        # 1. Hidden state moves for accounts that existed last month and have not churned.
        if t == 0:
            capacity_start = capacity.copy()
        cyc = cycle_value(t, p.industry, phase)
        volume_possible = t >= VOLUME_LOSS_FROM
        matrix = process.transition_matrix(
            rates, hazard_cycle(t, p.industry, phase), volume_possible
        )
        movers = (p.opens_at < t) & (state != C)
        previous = state.copy()
        state[movers] = process.step(state[movers], matrix[movers], rng)
        new_route = process.draw_route(
            previous, state, process.exit_mix(rates, volume_possible), rng
        )
        left = movers & (new_route >= 0)
        route[left] = new_route[left]
        if t < 0:  # burn-in: an account that leaves is replaced by a healthy one
            renew = state == C
            state[renew] = H
            route[renew] = -1
            distress[renew] = 1.0
            captive_kw[renew] = 0.0

        # 2. Exits: applications, the churn event itself, the load leaving.
        filed = movers & (state == E) & (previous != E)
        if filed.any():
            idx = np.flatnonzero(filed)
            filed_day[idx] = d0 + rng.integers(12, min(27, dim - 1), idx.size)
            kinds = np.where(route[idx] == process.CLOSURE, CLOSE, REDUCTION)
            if t >= -1:  # filings from the last burn-in month complete inside the data
                for kind in (CLOSE, REDUCTION):
                    who = idx[kinds == kind]
                    _file_exit(orders, who, kind, filed_day[who], capacity, rng)

        churned = movers & (state == C) & (previous != C)
        if churned.any() and record:
            _churn(
                churned,
                previous,
                route,
                d0,
                dim,
                capacity,
                filed_day,
                closed_day,
                susp_start,
                susp_end,
                distress,
                level,
                extract_day,
                orders,
                events,
                rng,
            )

        lost = movers & (state == V1) & (previous != V1)
        if lost.any():
            idx = np.flatnonzero(lost)
            past = ring[idx][:, [(t - 12 + k) % 12 for k in range(3)]].min(axis=1)
            target = rng.uniform(0.04, 0.26, idx.size) * np.minimum(past, 1.0)
            self_driven = p.driver[idx] == 1
            # The load leaves: to captive generation (self-generation driver) or elsewhere.
            demand_kw = p.capacity_kva[idx] * p.utilisation[idx] * 0.9 * level[idx]
            need = np.maximum(distress[idx] - target, 0.0) * demand_kw / CAPTIVE_CF
            captive_kw[idx[self_driven]] += np.round(need[self_driven], -1)
            distress[idx[~self_driven]] = target[~self_driven]

        # 3. Slow dynamics: trouble shows in the load, self-generation grows, markets open.
        vis = p.visibility
        in_w, in_l = state == W, state == L
        decline_like = p.driver != 1
        # Entering trouble is an event: a shift or a line stops, or panels go on the roof.
        weakened = movers & in_w & (previous == H)
        step_down = weakened & decline_like
        distress = np.where(step_down, distress * (1 - rng.uniform(0.10, 0.25, n) * vis), distress)
        # Most accounts that weaken leave a trace that month (a visit, a call, an application).
        deciding = movers & in_l & (previous == W)
        trigger = (weakened | deciding) & (rng.random(n) < 0.85 * vis)
        distress = np.where(
            deciding & decline_like,
            np.maximum(distress * (1 - rng.uniform(0.05, 0.15, n) * vis), 0.56),
            distress,
        )
        first_panels = trigger & (p.driver == 1)
        distress = np.where(
            in_w & decline_like, np.maximum(distress * (1 - 0.022 * vis), 0.75), distress
        )
        distress = np.where(
            in_l & decline_like, np.maximum(distress * (1 - 0.10 * vis), 0.56), distress
        )
        distress = np.where(state == H, distress + (1 - distress) * 0.4, distress)
        pv_install = opened & (
            first_panels
            | ((state == H) & (rng.random(n) < 0.003))
            | (in_w & (p.driver == 1) & (rng.random(n) < 0.12 * vis))
            | (in_l & (p.driver == 1) & (rng.random(n) < 0.4 * vis))
        )
        pv_size = np.where((state == H), rng.uniform(0.03, 0.10, n), rng.uniform(0.4, 0.8, n))
        self_gen = np.where(pv_install, self_gen + np.round(capacity * pv_size, -1), self_gen)
        captive_step = opened & in_l & (p.driver == 1) & p.captive & (rng.random(n) < 0.15 * vis)
        captive_kw = np.where(
            captive_step, captive_kw + np.round(capacity * p.utilisation * 0.12, -1), captive_kw
        )
        switch = opened & (market == 0) & (p.tariff != 2) & (rng.random(n) < 0.004)
        market = np.where(switch, 2, market)
        discount = np.where(switch, rng.uniform(0.95, 0.99, n), discount)

        alive = opened & (closed_day >= d0)
        not_suspended = (susp_start >= d1) | (susp_end <= d0)
        background = alive & (state != C) & not_suspended & (state != E)
        _background_orders(
            t,
            record,
            background,
            state,
            trigger,
            p,
            capacity,
            level,
            last_reduction,
            susp_start,
            susp_end,
            d0,
            dim,
            calendar_month,
            ind_winter_stop,
            extract_day,
            orders,
            rng,
        )

        agency_noise = 0.7 * agency_noise + 0.3 * rng.lognormal(0, 0.03)
        if not record:
            ring[:, t % 12] = distress  # keep the year-earlier memory warm during burn-in
            continue
        states[t] = state

        # 4. What the meters, the billing system, 95598 and the outage system record.
        idx = np.flatnonzero(alive)
        season = ind_season[p.industry[idx], calendar_month]
        festival = 1 - ind_festival[idx] * festival_share(month)
        growth = (1 + p.growth[idx]) ** (t / 12)
        ramp = np.clip(0.45 + 0.1 * (t - p.opens_at[idx]), 0.45, 1.0)
        active_from = np.clip(open_day[idx], d0, d1)
        active_to = np.clip(closed_day[idx], d0, d1)
        s_lo = np.clip(susp_start[idx], active_from, active_to)
        s_hi = np.clip(susp_end[idx], active_from, active_to)
        suspended_days = np.maximum(s_hi - s_lo, 0)
        active_days = np.maximum(active_to - active_from, 0)
        running = np.maximum(active_days - suspended_days, 0) / dim
        on_book = active_days / dim
        base = p.capacity_kva[idx] * p.utilisation[idx] * 0.9 * 730 * level[idx]
        expected = base * season * (1 + cyc[idx]) * festival * growth * ramp
        demand = expected * rng.lognormal(0, 0.035, idx.size)
        pv_kwh = self_gen[idx] * PV_CF * 730 * PV_SEASON[calendar_month]
        captive_kwh = captive_kw[idx] * CAPTIVE_CF * 730
        grid = np.maximum(demand * distress[idx] - pv_kwh - captive_kwh, 0.03 * demand)
        # Until the load has gone (V1 on), trouble alone never halves consumption: that is
        # what a volume loss means, and it is dated by the hidden process, not by chance.
        still_here = np.isin(state[idx], [H, W, L, E])
        grid = np.where(still_here, np.maximum(grid, MIN_SHARE_BEFORE_LOSS * demand), grid)
        grid = grid * running + 0.02 * expected * suspended_days / dim
        ratio = grid / np.maximum(expected * on_book, 1e-9)
        ring[idx, t % 12] = np.where(on_book > 0.5, ratio, ring[idx, t % 12])

        shares = p.tou_shares[idx] * rng.lognormal(0, 0.03, (idx.size, 3))
        pv_share = np.clip(pv_kwh / np.maximum(demand, 1.0), 0, 0.8)
        shares[:, 0] *= 1 - 0.5 * pv_share
        shares[:, 1] *= 1 - 0.5 * pv_share
        shares /= shares.sum(axis=1, keepdims=True)
        grid = grid * factors(scenarios, "industry_downturn", month, industry_codes[idx])
        kwh = np.round(grid, 0)
        peak, flat = np.round(kwh * shares[:, 0], 0), np.round(kwh * shares[:, 1], 0)
        valley = np.maximum(kwh - peak - flat, 0)
        max_demand = np.minimum(
            grid
            / (730 * np.maximum(running, 0.05))
            / p.load_factor[idx]
            * rng.lognormal(0, 0.04, idx.size),
            capacity[idx] * 0.98,
        )
        price_trouble = (p.driver[idx] == 3) & ((state[idx] == W) | (state[idx] == L))
        pf = np.clip(
            p.power_factor[idx] - 0.06 * vis[idx] * price_trouble + rng.normal(0, 0.007, idx.size),
            0.6,
            1.0,
        )
        no_tou = (p.tariff[idx] == 2) & (idx % 2 == 0)
        usage.add(
            who=idx,
            t=np.full(idx.size, t),
            kwh_total=kwh,
            kwh_peak=np.where(no_tou, np.nan, peak),
            kwh_flat=np.where(no_tou, np.nan, flat),
            kwh_valley=np.where(no_tou, np.nan, valley),
            max_demand_kw=np.where(
                (p.tariff[idx] == 1) & (idx % 3 == 0), np.nan, np.round(max_demand, 1)
            ),
            power_factor=np.where(rng.random(idx.size) < 0.01, np.nan, np.round(pf, 3)),
        )

        fp, ff, fv = tou_factors(month)
        unit = flat_price[idx] * policy_multiplier(month) * discount[idx]
        unit = unit * factors(scenarios, "tariff_reform", month, tariff_names[idx])
        unit = unit * np.where(market[idx] == 0, agency_noise, 1.0)
        tou_kwh = np.where(no_tou, kwh, peak * fp + flat * ff + valley * fv)
        energy = tou_kwh * unit
        large = p.tariff[idx] == 0
        basic = (
            np.where(
                p.demand_charged[idx],
                max_demand * DEMAND_CHARGE * running,
                capacity[idx] * CAPACITY_CHARGE * running,
            )
            * large
        )
        adjust = np.where(pf < 0.9, (0.9 - pf) * 0.5, -np.minimum(pf - 0.9, 0.05) * 0.15)
        due = np.round((energy + basic) * (1 + adjust), 2)
        _bills(idx, t, due, d1, state, p, extract_day, billing, rng)
        _tickets(
            idx,
            state,
            trigger,
            p,
            d0,
            dim,
            extract_day,
            tickets,
            rng,
            month_idx=t,
            outages=_outages(idx, p, d0, dim, calendar_month, extract_day, outages, rng),
        )
        if on_month is not None:
            on_month()

    return Outcome(
        usage=usage.frame(),
        billing=billing.frame(),
        tickets=tickets.frame(),
        orders=orders.rows.frame(),
        outages=outages.frame(),
        states=states,
        events=events.frame(),
        capacity_start=capacity_start,
        market=market,
        self_generation_kw=self_gen + captive_kw,
        closed_day=closed_day,
        rates=rates,
        cycle_phase=phase,
        open_day=open_day,
    )


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
    route: np.ndarray,
    d0: int,
    dim: int,
    capacity: np.ndarray,
    filed_day: np.ndarray,
    closed_day: np.ndarray,
    susp_start: np.ndarray,
    susp_end: np.ndarray,
    distress: np.ndarray,
    level: np.ndarray,
    extract_day: int,
    orders: Orders,
    events: Rows,
    rng: np.random.Generator,
) -> None:
    """Write the churn event of every account that churns this month, and its work orders."""
    idx = np.flatnonzero(churned)
    was_filed = previous[idx] == E
    r = route[idx]
    apply_day = np.where(was_filed, filed_day[idx], d0 + rng.integers(0, 12, idx.size))
    done_day = np.where(
        was_filed,
        d0 + rng.integers(1, 20, idx.size),
        np.minimum(apply_day + rng.integers(3, 13, idx.size), d0 + dim - 2),
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
        closed_day[close] = done_day[r == process.CLOSURE]
    cut = idx[r == process.REDUCTION]
    if cut.size:
        direct = cut[~was_filed[r == process.REDUCTION]]
        keep = _keep_after_cut(capacity[direct], rng)
        orders.add(
            direct,
            REDUCTION,
            apply_day[np.isin(idx, direct)] * DAY + _work_seconds(rng, direct.size),
            np.full(direct.size, -1),
            change=-(capacity[direct] - keep),
        )
    stop = idx[r == process.SUSPENSION]
    if stop.size:
        start_day = done_day[r == process.SUSPENSION]
        lasting = rng.integers(100, 400, stop.size)
        end = np.where(rng.random(stop.size) < 0.5, start_day + lasting, NEVER)
        susp_start[stop], susp_end[stop] = start_day, end
        orders.add(
            stop,
            SUSPEND,
            apply_day[r == process.SUSPENSION] * DAY + _work_seconds(rng, stop.size),
            start_day * DAY + 9 * 3600,
        )
        back = end < extract_day
        orders.add(
            stop[back],
            RESUME,
            (end[back] - rng.integers(3, 10, back.sum())) * DAY
            + _work_seconds(rng, int(back.sum())),
            end[back] * DAY + 9 * 3600,
        )
    # Completion of filed and direct exits is written by `_complete` once capacity is known.
    _complete(
        orders,
        idx[r != process.SUSPENSION],
        done_s[r != process.SUSPENSION],
        capacity,
        distress,
        level,
    )
    events.add(who=idx, day=day, type=np.array(process.CHURN_TYPE_OF_ROUTE, dtype=object)[r])


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
    t: int,
    record: bool,
    eligible: np.ndarray,
    state: np.ndarray,
    trigger: np.ndarray,
    p: Portfolio,
    capacity: np.ndarray,
    level: np.ndarray,
    last_reduction: np.ndarray,
    susp_start: np.ndarray,
    susp_end: np.ndarray,
    d0: int,
    dim: int,
    calendar_month: int,
    winter_stop: np.ndarray,
    extract_day: int,
    orders: Orders,
    rng: np.random.Generator,
) -> None:
    """Everyday change-of-use orders; more reductions and stops when an account is in trouble."""
    n = state.size
    in_w, in_l = state == W, state == L
    decline = p.driver == 0
    service = p.driver == 2
    slow = np.where(service & (in_w | in_l), 1.9, 1.0)

    def durations(low: int, high: int, size: int, who: np.ndarray) -> np.ndarray:
        days = rng.lognormal(np.log((low + high) / 2), 0.45, size) * slow[who]
        return np.maximum(days * DAY, 3600).astype(np.int64)

    # Temporary suspensions (错峰生产, maintenance): 20-45 days, so never a churn by themselves.
    winter = calendar_month in (11, 0, 1)
    cut_now = trigger & decline & (rng.random(n) < 0.5)
    p_stop = 0.0012 + (winter_stop if winter else 0.0) + 0.02 * (in_w & decline)
    p_stop = np.where(trigger & decline & ~cut_now, 1.0, p_stop)
    rested = (susp_start == NEVER) | (susp_end < d0 - 60)
    stop = np.flatnonzero(eligible & ~in_l & rested & (rng.random(n) < p_stop))
    if stop.size:
        start = d0 + rng.integers(0, dim, stop.size)
        end = start + rng.integers(20, 46, stop.size)
        susp_start[stop], susp_end[stop] = start, end
        if record:
            orders.add(
                stop,
                SUSPEND,
                (start - rng.integers(3, 10, stop.size)) * DAY + _work_seconds(rng, stop.size),
                start * DAY + 9 * 3600,
            )
            back = end < extract_day
            orders.add(
                stop[back],
                RESUME,
                (end[back] - rng.integers(2, 7, back.sum())) * DAY
                + _work_seconds(rng, int(back.sum())),
                end[back] * DAY + 9 * 3600,
            )

    # Partial capacity reductions: at most 30%, at least 7 months apart (never a churn alone).
    p_cut = np.select([cut_now, in_l, in_w & decline, in_w], [1.0, 0.04, 0.02, 0.006], 0.0008)
    cut = np.flatnonzero(eligible & (rng.random(n) < p_cut) & (t - last_reduction >= 7))
    if cut.size:
        keep = _standard_size(capacity[cut] * rng.uniform(0.7, 0.9, cut.size))
        ok = (keep < capacity[cut]) & (keep >= 0.7 * capacity[cut])
        cut, keep = cut[ok], keep[ok]
        change = -(capacity[cut] - keep)
        level[cut] *= 1 + 0.2 * change / capacity[cut]  # idle transformers go first
        capacity[cut] = keep
        last_reduction[cut] = t
        if record:
            applied = (d0 + rng.integers(0, dim, cut.size)) * DAY + _work_seconds(rng, cut.size)
            orders.add(cut, REDUCTION, applied, applied + durations(8, 25, cut.size, cut), change)

    # Growth: capacity increases by healthy, growing accounts.
    grow = np.flatnonzero(eligible & (state == H) & (p.growth > 0.02) & (rng.random(n) < 0.004))
    if grow.size:
        new_capacity = _standard_size(capacity[grow] * rng.uniform(1.25, 1.7, grow.size))
        change = np.maximum(new_capacity - capacity[grow], 0)
        cancelled = rng.random(grow.size) < 0.06
        if record:
            applied = (d0 + rng.integers(0, dim, grow.size)) * DAY + _work_seconds(rng, grow.size)
            orders.add(
                grow,
                INCREASE,
                applied,
                applied + durations(30, 90, grow.size, grow),
                change,
                cancelled,
            )
        done = grow[~cancelled]
        level[done] *= 1 + 0.5 * change[~cancelled] / capacity[done]
        capacity[done] += change[~cancelled]

    for kind, rate in (
        (TARIFF, np.full(n, 0.0008)),
        (TRANSFER, np.where(in_w | in_l, 0.003, 0.0004)),
    ):
        who = np.flatnonzero(eligible & (rng.random(n) < rate))
        if who.size and record:
            applied = (d0 + rng.integers(0, dim, who.size)) * DAY + _work_seconds(rng, who.size)
            orders.add(
                who,
                kind,
                applied,
                applied + durations(5, 20, who.size, who),
                cancelled=rng.random(who.size) < 0.05,
            )


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
