"""Connection applicants (业扩报装): the applications, their steps and the withdrawal truth.

The world. An applicant is accepted (受理) and moves through the steps in process order
(site survey contact, supply plan reply, dispatch agreement only for dual supply or >= 35 kV,
design review only >= 10 kV, mid inspection, completion inspection, energising), each a
request (or, for the first two, the acceptance) and a finish, on a grid of Chinese working
days (`chinese_calendar` for the years it knows, the packaged holiday file for the years it
lists, Monday to Friday otherwise). A trajectory is a chain of segments: the company handling
a step and, between steps, the applicant's own work (design, construction). The company's
time scales with a hidden slowness of the supplying unit and of the applicant's file, stalls
now and then (longer at slow units), and asks for documents again (document_requests > 1,
against the one-time-notice rule) more at sloppy units and when the channel fits the applicant
poorly (a large high-voltage applicant on the online app). The applicant's own work scales
with its hidden impatience ** -PACE_EFFECT (0.5; relative to the median impatience): the impatient
push their design and works on, so their own pace between steps is a visible, noisy trace of
their impatience (the withdrawal model's `applicant_pace`). Every working week (each fifth
working day after acceptance) an open applicant withdraws with hazard
1 - exp(-rate), rate = BASE x impatience x exp(stall weeks, clocks breached, repeated document
requests, poor channel fit), with the service clocks' shipped default limits.

Who the applicants are. Every account the engine opens during the data is the connected end
of a new_connection application, and every completed capacity_increase work order the
connected end of a capacity_increase application of its customer (rejection by time shift):
for each, trajectories are drawn until one connects; the draws that withdrew before it are
withdrawn applications (new connections: other applicants of the same kind, no customer;
increases: the same customer), placed at a seasonal arrival date within six months of the
connected one's acceptance. The connecting trajectory is then shifted so that energising
finishes at the account's open day (the order's completion); among connecting draws one is
kept with probability proportional to the arrival season at its shifted acceptance (spring
busy, Spring Festival quiet), so the kept one is a draw from the process given its end. The
engine's work order then takes the application's accepted_at as its applied_at (nothing else
of the engine changes; the work_orders rows keep their order and ids, so they are no longer
sorted by applied_at). Applications still open at the extract come from forward draws:
seasonal arrivals in the last two years, at the engine's monthly rate of connections, kept
when they connect after the extract (increases pick a random customer open at the extract).

The truth. `application_withdrawal`: for every application and every monthly snapshot
(the first day of months 1..months of the data) at which it is open, the probability that it
withdraws within APPLICATION_HORIZON_MONTHS, the best possible given everything the data show
before the snapshot, and the unit's and the file's slowness and the channel fit (the unit,
the channel, the voltage and the capacity nearly reveal the unit's slowness and the fit; the
file's slowness only shows in the company's handling so far: a model given the true fit and
file slowness gained 0.01 to 0.02 test ROC AUC at 20,000 accounts). It does not know the
applicant's impatience: that trait leaves only a faint trace in the data (its own pace between
steps, and having stayed so far), and an oracle that knew it would rank far above anything the
data allow (on the withdrawal benchmark's test rows at 20,000 accounts, seed 20261129: ROC AUC
0.827 knowing it, 0.771 not, the trained model 0.745; seed 7: 0.851, 0.807, 0.772). So
each of the ORACLE_DRAWS (64) continuations takes one of 64 prior quantiles of impatience,
weighed by the likelihood of what is known: the lengths of the applicant's own segments
finished (rounded lognormals), that the one under way has lasted its elapsed days, and that it
has not withdrawn at any earlier check day (exp(-impatience x the past weekly rates per unit
of impatience)); the answer is the weighted mean, a posterior mean. Within a continuation
the segments finished keep their lengths; the segment under way (the company's step in hand, or the
applicant's own work) is not known to end when it will: its length is drawn from its
distribution given that it has lasted its elapsed working days (the applicant's own work
exactly, a truncated lognormal; the company's handling given its document requests, which the
step shows, by rejection, with the memoryless tail of a stall for the rare long ones still
unmatched after REDRAW_ROUNDS); the segments not yet begun are fresh draws. Each continuation
is weighed exactly by the survival over the weekly hazards (no uniform draws); where the
horizon has no check day after the snapshot's own (whose hazard the past decides) one pass per
quantile is exact. `withdrawal_probability(..., knows_impatience=True)` gives the
trait-knowing answer for comparison.
`applicants`: each application's hidden traits, its eventual outcome and where it came from.

Biases accepted. (1) The engine opens no account in the last four months of data, so no new
connection finishes there: the applications open in the last months are short of ones about to
connect, and their realised withdrawal may run above the oracle. (2) Accounts opened before
the data have no applications, so the withdrawn siblings of their applications are missing
too: early snapshots see fewer withdrawals than the oracle. At 20,000 accounts over 36 months
(seed 20261129), by quarters of the 33 snapshots whose horizon the data cover, realised 7.5,
9.2, 7.8, 9.8% against 8.7, 9.1, 9.5, 8.4% predicted (about 3,000 rows and 250 withdrawals a
quarter, so a point or so either way is noise). The applications accepted before the data that
connect in it give the withdrawal model snapshots before the data's first month, with almost no
withdrawals (only the ones that stayed are in the extract; 1,342 of 14,233 rows at that seed,
no oracle there). (3) The connected applications' acceptance is
the account's opening less the process's duration: the engine opens accounts evenly over the
year, so their arrivals are only mildly seasonal (the withdrawn and forward ones are fully).
(4) Withdrawn siblings closed before the data, accepted after the extract or placed outside
their customer's life are dropped. (5) An increase that no connecting draw can fit after its
customer's opening within MAX_ROUNDS rounds keeps the engine's applied_at and has no
application, and completed increases of 0 kVA (accounts at the largest standard size) have
none. (6) Cancelled and open engine increase orders have no application; the increases open at
the extract are forward draws on random customers open at the extract. (7) Withdrawn new
connections copy the industry, unit, voltage and capacity of the account they were drawn for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources

import chinese_calendar
import numpy as np
import pandas as pd
import yaml
from scipy.special import ndtr, ndtri

from retention.data.contract import (
    APPLICATION_CHANNELS,
    APPLICATION_STATUSES,
    APPLICATION_TYPES,
    STEP_CODES,
    SUPPLY_TYPES,
)
from retention.data.simulator.portfolio import _standard_size
from retention.data.simulator.profiles import (
    BRANDS,
    CITY_PREFIX,
    INDUSTRIES,
    REGIONS,
    SPRING_FESTIVAL,
)

APPLICATION_HORIZON_MONTHS = 3
STEPS = STEP_CODES
SURVEY, PLAN, DISPATCH, DESIGN, MID, COMPLETION, ENERGISING = range(len(STEPS))
CHANNELS = APPLICATION_CHANNELS
STATUSES = APPLICATION_STATUSES
# The shipped service clocks (working days): plan 15 single / 30 dual from acceptance.
LIMIT_WD = np.array([1, 15, 3, 10, 5, 5, 5])
DUAL_PLAN_LIMIT_WD = 30
# The company's median handling (working days) and the applicant's own work before a request.
HANDLING_WD = np.array([0.8, 8.0, 2.0, 6.0, 3.0, 3.0, 3.0])
APPLICANT_WD = np.array([0.0, 0.0, 8.0, 15.0, 30.0, 20.0, 0.0])
STALL_WD = np.array([4.0, 12.0, 6.0, 10.0, 6.0, 6.0, 6.0])
FIRST_DOCUMENTS = np.array([1, 0, 1, 1, 0, 1, 0])  # the steps that ask for documents at all
# Segments: the company on the survey, then on the plan, then for each later step the
# applicant's own work and the company's handling.
N_SEGMENTS = 2 + 2 * (len(STEPS) - 2)
COMPANY_SEGMENT = np.array([0, 1, 3, 5, 7, 9, 11])
WEEK_WD = 5
MAX_SEGMENT_WD = 120
# The weekly withdrawal hazard.
BASE_RATE = 0.0045
STALL_EFFECT, MAX_STALL_WEEKS = 0.18, 12
BREACH_EFFECT, REPEAT_EFFECT, MISFIT_EFFECT = 0.6, 0.5, 1.6
# The impatient do their own parts faster: own work scales with impatience ** -PACE_EFFECT
# (relative to the median applicant's impatience, so the median pace is unchanged).
IMPATIENCE_LOG_MEAN, IMPATIENCE_LOG_SD = -0.2, 0.7  # impatience is lognormal
IMPATIENCE_MEDIAN, PACE_EFFECT = np.exp(IMPATIENCE_LOG_MEAN), 0.5
ORACLE_DRAWS = 64
REDRAW_ROUNDS = 50  # rejection rounds for the company's handling under way, given its elapsed days
OWN_SPREAD = 0.7  # of the applicant's own work (lognormal sigma)
MAX_ROUNDS = 60
FAILURE_SPREAD_WD = 130  # about six months either side of the connected sibling's acceptance
FORWARD_MONTHS = 24
# Arrivals by calendar month (January first): spring is the busy season; the Spring
# Festival fortnight is quiet on top of it.
ARRIVAL_SEASON = np.array([0.95, 0.95, 1.5, 1.5, 1.4, 1.0, 1.0, 0.95, 1.0, 1.0, 1.0, 0.9])
FESTIVAL_QUIET = 0.35


@dataclass(frozen=True)
class WorkingDays:
    """The working days around the data, in order; an index is a working day."""

    days: np.ndarray  # datetime64[D]
    season: np.ndarray  # arrival intensity on each working day

    @classmethod
    def around(cls, first: np.datetime64, last: np.datetime64) -> WorkingDays:
        every = np.arange(first, last, dtype="datetime64[D]")
        work = np.is_busday(every)
        library_years = {d.year for d in chinese_calendar.holidays}
        days = every.astype(object)
        known = np.array([d.year in library_years for d in days])
        off = np.array([d in chinese_calendar.holidays for d in days]) & known
        on = np.array([d in chinese_calendar.workdays for d in days]) & known
        for year, (holidays, workdays) in _holiday_file().items():
            in_year = np.array([d.year == year for d in days])
            off = np.where(in_year, np.isin(every, holidays), off)
            on = np.where(in_year, np.isin(every, workdays), on)
        working = every[(work & ~off) | on]
        return cls(days=working, season=_arrival_season(working))

    def ceil(self, day: np.ndarray | np.datetime64) -> np.ndarray:
        """The index of the first working day on or after each day."""
        return np.searchsorted(self.days, np.asarray(day, dtype="datetime64[D]"), side="left")

    def day(self, index: np.ndarray) -> np.ndarray:
        return self.days[np.clip(index, 0, self.days.size - 1)]


def _holiday_file() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The packaged holiday file's years (the file wins over the library, as in scoring)."""
    text = resources.files("retention.resources").joinpath("serving/holidays.yaml").read_text()
    years = (yaml.safe_load(text) or {}).get("years") or {}
    return {
        int(year): tuple(  # type: ignore[misc]
            np.array(
                [np.datetime64(d, "D") for d in (entry or {}).get(kind) or []], "datetime64[D]"
            )
            for kind in ("holidays", "workdays")
        )
        for year, entry in years.items()
    }


def _arrival_season(days: np.ndarray) -> np.ndarray:
    months = days.astype("datetime64[M]").astype(np.int64) % 12
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    festival = np.array(
        [np.datetime64(SPRING_FESTIVAL.get(int(y), f"{int(y)}-02-05"), "D") for y in years]
    )
    quiet = np.abs((days - festival).astype(np.int64)) <= 7
    return np.asarray(ARRIVAL_SEASON[months] * np.where(quiet, FESTIVAL_QUIET, 1.0))


@dataclass(frozen=True)
class Applicants:
    """One entry per applicant (a draw of the process): who they are and their hidden traits."""

    increase: np.ndarray  # bool: capacity_increase
    region: np.ndarray  # index into the portfolio's regions
    voltage_kv: np.ndarray
    capacity_kva: np.ndarray  # requested
    dual: np.ndarray  # bool
    channel: np.ndarray  # index into CHANNELS
    fit: np.ndarray  # how well the channel fits the applicant (0..1]
    impatience: np.ndarray
    slowness: np.ndarray  # of the applicant's file at the company
    unit_slowness: np.ndarray  # of its supplying unit
    unit_sloppiness: np.ndarray  # the unit's habit of asking for documents again

    @property
    def size(self) -> int:
        return int(self.region.shape[0])

    def take(self, idx: np.ndarray) -> Applicants:
        return Applicants(**{k: v[idx] for k, v in self.__dict__.items()})

    def steps_present(self) -> np.ndarray:
        present = np.ones((self.size, len(STEPS)), dtype=bool)
        present[:, DISPATCH] = self.dual | (self.voltage_kv >= 35)
        present[:, DESIGN] = self.voltage_kv >= 10
        return present


def draw_applicants(
    increase: np.ndarray,
    region: np.ndarray,
    voltage_kv: np.ndarray,
    capacity_kva: np.ndarray,
    has_manager: np.ndarray,
    units: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> Applicants:
    """Supply type, channel and hidden traits of applicants of these kinds and sizes."""
    n = region.size
    p_dual = np.interp(voltage_kv, [0.4, 10, 20, 35, 66, 110, 220], [2, 12, 20, 45, 60, 80, 95])
    dual = rng.random(n) < p_dual / 100
    need = np.clip((np.log10(capacity_kva) - 2.5) / 2.0, 0, 1) + 0.3 * (voltage_kv >= 35)
    need = np.clip(need, 0, 1)
    mix = np.column_stack([0.55 - 0.35 * need, 0.35 - 0.15 * need, 0.10 + 0.50 * need])
    mix[has_manager, 2] += 0.6
    mix /= mix.sum(axis=1, keepdims=True)
    channel = np.minimum((rng.random(n)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1), 2)
    reach = np.array([0.25, 0.55, 1.0])[channel]
    fit = np.minimum(np.exp(-2.5 * np.maximum(need - reach, 0)) * rng.lognormal(0, 0.1, n), 1)
    return Applicants(
        increase=increase,
        region=region,
        voltage_kv=voltage_kv,
        capacity_kva=capacity_kva,
        dual=dual,
        channel=channel,
        fit=fit,
        impatience=rng.lognormal(IMPATIENCE_LOG_MEAN, IMPATIENCE_LOG_SD, n),
        slowness=rng.lognormal(0, 0.25, n),
        unit_slowness=units[0][region],
        unit_sloppiness=units[1][region],
    )


@dataclass(frozen=True)
class Plan:
    """How long each segment takes (working days) and how often each step asks for documents."""

    lengths: np.ndarray  # (n, N_SEGMENTS)
    documents: np.ndarray  # (n, steps)

    def take(self, idx: np.ndarray) -> Plan:
        return Plan(self.lengths[idx], self.documents[idx])


def draw_plans(who: Applicants, rng: np.random.Generator) -> Plan:
    """Each segment's length; absent steps take no time. A loop over steps, not applicants."""
    n, present = who.size, who.steps_present()
    lengths = np.zeros((n, N_SEGMENTS), dtype=np.int64)
    documents = np.zeros((n, len(STEPS)), dtype=np.int64)
    repeat_rate = 0.12 * who.unit_sloppiness * (1 + 2 * (1 - who.fit))
    for k in range(len(STEPS)):
        step = np.full(n, k)
        handling = _company_days(who, step, rng)
        asked = np.where(
            FIRST_DOCUMENTS[k], 1 + rng.poisson(repeat_rate), rng.poisson(0.3 * repeat_rate)
        )
        handling += _document_days(asked, rng)
        documents[:, k] = np.where(present[:, k], np.minimum(asked, 50), 0)
        lengths[:, COMPANY_SEGMENT[k]] = np.where(present[:, k], handling, 0)
        if APPLICANT_WD[k] > 0:
            own = _own_days(who, step, rng)
            lengths[:, COMPANY_SEGMENT[k] - 1] = np.where(present[:, k], own, 0)
    return Plan(np.minimum(lengths, MAX_SEGMENT_WD), documents)


def _company_days(who: Applicants, step: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The company's handling of each row's step, before any documents asked for again."""
    n, slow = who.size, who.unit_slowness * who.slowness
    median = HANDLING_WD[step] * np.where((step == PLAN) & who.dual, 2.0, 1.0)
    handling = np.maximum(np.round(median * slow * rng.lognormal(0, 0.35, n)), 1)
    stalled = rng.random(n) < np.minimum(0.05 * slow**2, 0.5)
    return handling + stalled * np.round(3 + rng.exponential(STALL_WD[step], n))


def _document_days(asked: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The days each request beyond the first adds to the step's handling."""
    return np.maximum(asked - 1, 0) * rng.integers(2, 7, asked.shape[0])


def _own_days(who: Applicants, step: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The applicant's own work before requesting each row's step."""
    return np.maximum(np.round(_own_median(who, step) * rng.lognormal(0, OWN_SPREAD, who.size)), 1)


def _own_median(who: Applicants, step: np.ndarray) -> np.ndarray:
    """Increases are quicker, and the impatient push their design and works on (the visible
    trace of impatience)."""
    pace = np.where(who.increase, 0.6, 1.0) * (who.impatience / IMPATIENCE_MEDIAN) ** -PACE_EFFECT
    return np.asarray(APPLICANT_WD[step] * pace)


def _own_days_beyond(
    who: Applicants, step: np.ndarray, elapsed: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The applicant's own work given that it lasts at least `elapsed` (>= 1) working days:
    the lognormal truncated where its rounding reaches `elapsed` (exact, no rejection loss)."""
    median = _own_median(who, step)
    floor = np.log(np.maximum(elapsed - 0.5, 0.5) / median) / OWN_SPREAD
    floor = np.where(elapsed >= 2, floor, -np.inf)
    own = np.round(median * np.exp(OWN_SPREAD * _normal_beyond(floor, rng)))
    return np.minimum(np.maximum(own, 1), MAX_SEGMENT_WD)


def _normal_beyond(floor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Standard normal draws given z >= floor: plain rejection near the body, Robert's (1995)
    exponential proposal in the tail (acceptance above 3/4 there)."""
    out, todo = np.empty(floor.size), np.ones(floor.size, bool)
    for _ in range(100):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        lo = floor[idx]
        plain = lo < 0.5
        tail = np.maximum(lo, 0.5)  # the body's floors (-inf too) take the plain branch
        tilt = (tail + np.sqrt(tail**2 + 4)) / 2
        z = np.where(plain, rng.standard_normal(idx.size), lo + rng.exponential(1 / tilt))
        fits = np.where(plain, z >= lo, rng.random(idx.size) < np.exp(-((z - tilt) ** 2) / 2))
        out[idx[fits]] = z[fits]
        todo[idx[fits]] = False
    out[todo] = floor[todo]
    return out


@dataclass(frozen=True)
class Timeline:
    """A plan laid out from acceptance (index 0): each step's start, finish and due index."""

    segment_start: np.ndarray  # (n, N_SEGMENTS)
    segment_end: np.ndarray
    start: np.ndarray  # (n, steps)
    finish: np.ndarray
    due: np.ndarray
    present: np.ndarray
    late: np.ndarray  # finished after its due day
    repeats: np.ndarray  # document requests beyond the first
    connect: np.ndarray  # energising's finish
    company_start: np.ndarray  # (n, steps): when the company has each step in hand
    company_end: np.ndarray

    def take(self, idx: np.ndarray) -> Timeline:
        return Timeline(**{k: v[idx] for k, v in self.__dict__.items()})

    @classmethod
    def of(cls, who: Applicants, plan: Plan) -> Timeline:
        end = np.cumsum(plan.lengths, axis=1)
        begin = end - plan.lengths
        start = begin[:, COMPANY_SEGMENT].copy()
        start[:, [SURVEY, PLAN]] = 0  # both count from acceptance
        finish = end[:, COMPANY_SEGMENT]
        limit = np.broadcast_to(LIMIT_WD, start.shape).copy()
        limit[:, PLAN] = np.where(who.dual, DUAL_PLAN_LIMIT_WD, LIMIT_WD[PLAN])
        due = start + limit  # energising starts when completion finishes: its clock's start
        present = who.steps_present()
        return cls(
            segment_start=begin,
            segment_end=end,
            start=start,
            finish=finish,
            due=due,
            present=present,
            late=present & (finish > due),
            repeats=np.where(present, np.maximum(plan.documents - 1, 0), 0),
            connect=finish[:, ENERGISING],
            company_start=begin[:, COMPANY_SEGMENT],
            company_end=finish,
        )


def weekly_hazard(who: Applicants, line: Timeline, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(withdraw at check day t) of these rows, from what happened before day t."""
    return _Hazard.of(who.take(rows), line.take(rows)).at(t)


@dataclass(frozen=True)
class _Hazard:
    """The weekly hazard's inputs, laid out once for many check days."""

    base: np.ndarray  # the rate without stalls, breaches and repeats
    company_start: np.ndarray  # (n, steps), int32
    company_end: np.ndarray
    breach_from: np.ndarray  # the due day of a step finished late (felt after it), else never
    repeats: np.ndarray

    @classmethod
    def of(cls, who: Applicants, line: Timeline) -> _Hazard:
        never = np.iinfo(np.int32).max
        return cls(
            base=BASE_RATE * who.impatience * np.exp(MISFIT_EFFECT * (1 - who.fit)),
            company_start=line.company_start.astype(np.int32),
            company_end=line.company_end.astype(np.int32),
            breach_from=np.where(line.late, line.due, never).astype(np.int32),
            repeats=line.repeats.astype(np.int32),
        )

    def at(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(1 - np.exp(-self.rate_at(slice(None), t)))

    def rate_at(self, rows: np.ndarray | slice, t: np.ndarray) -> np.ndarray:
        """The weekly rate of these rows at check day t (one per row)."""
        tt = np.asarray(t, dtype=np.int32)[:, None]
        start, end = self.company_start[rows], self.company_end[rows]
        # A repeated request is felt once the company has the step in hand.
        in_hand = start < tt
        waiting = in_hand & (tt <= end)
        stall_wd = np.where(waiting, tt - start, 0).sum(axis=1)
        stall_weeks = np.minimum(stall_wd / WEEK_WD, MAX_STALL_WEEKS)
        breaches = (self.breach_from[rows] < tt).sum(axis=1)
        repeats = np.where(in_hand, self.repeats[rows], 0).sum(axis=1)
        return np.asarray(
            self.base[rows]
            * np.exp(
                STALL_EFFECT * stall_weeks + BREACH_EFFECT * breaches + REPEAT_EFFECT * repeats
            )
        )


def draw_withdrawals(who: Applicants, line: Timeline, rng: np.random.Generator) -> np.ndarray:
    """The check day each applicant withdraws (index from acceptance), -1 if it connects."""
    withdrawn = np.full(who.size, -1, dtype=np.int64)
    for week in range(1, int(line.connect.max(initial=0)) // WEEK_WD + 1):
        t = week * WEEK_WD
        rows = np.flatnonzero((withdrawn < 0) & (t < line.connect))
        if rows.size == 0:
            break
        h = weekly_hazard(who, line, rows, np.full(rows.size, t))
        withdrawn[rows[rng.random(rows.size) < h]] = t
    return withdrawn


def withdrawal_probability(
    who: Applicants,
    plan: Plan,
    rows: np.ndarray,
    begin: np.ndarray,
    end: np.ndarray,
    rng: np.random.Generator,
    draws: int = ORACLE_DRAWS,
    knows_impatience: bool = False,
) -> np.ndarray:
    """P(withdraw at a check day in [begin, end)) of these applicants, given what happened
    before `begin`: the segments finished keep their lengths, the one under way is redrawn
    given its elapsed days (and, for the company's, its document requests), the ones not
    begun are redrawn; `draws` times (Monte Carlo continuation).

    The applicant's impatience is not known (unless `knows_impatience`): each continuation
    takes one of `draws` prior quantiles of it, weighed by the likelihood of what the data show
    before `begin` (the applicant's own segments finished and the one under way, and that it
    has not withdrawn at any earlier check day), so the answer is the posterior mean.
    A check day at `begin` sees only what is known then; when no later check day of the
    horizon comes, one pass over the plan in hand is exact (given the impatience)."""
    whole = Timeline.of(who, plan)
    first = np.maximum(-(-begin // WEEK_WD) * WEEK_WD, WEEK_WD)
    exact = first + np.where(first == begin, WEEK_WD, 0) >= end
    if knows_impatience:
        grid, exposure = None, np.zeros(rows.size)
    else:
        grid = np.exp(
            IMPATIENCE_LOG_MEAN + IMPATIENCE_LOG_SD * ndtri((np.arange(draws) + 0.5) / draws)
        )
        exposure = _past_exposure(who.take(rows), whole.take(rows), begin)
    out = np.empty(rows.size)
    chunk = max(1, 400_000 // draws)
    for lo in range(0, rows.size, chunk):
        part = np.arange(lo, min(lo + chunk, rows.size))
        rep = np.repeat(rows[part], draws)
        b, e = np.repeat(begin[part], draws), np.repeat(end[part], draws)
        mine, weight = who.take(rep), np.ones(rep.size)
        if grid is not None:
            mine = replace(mine, impatience=np.tile(grid, part.size))
            log_weight = _own_log_likelihood(mine, whole.take(rep), b)
            log_weight -= mine.impatience * np.repeat(exposure[part], draws)
            per_row = log_weight.reshape(-1, draws)
            weight = np.exp(per_row - per_row.max(axis=1, keepdims=True)).ravel()
        fixed = np.repeat(exact[part], draws)
        survive = np.empty(rep.size)
        survive[fixed] = _survival(
            mine.take(np.flatnonzero(fixed)), whole.take(rep[fixed]), b[fixed], e[fixed]
        )
        free = np.flatnonzero(~fixed)
        if free.size:
            sub = mine.take(free)
            spliced = _continuation(sub, plan.take(rep[free]), whole.take(rep[free]), b[free], rng)
            survive[free] = _survival(sub, Timeline.of(sub, spliced), b[free], e[free])
        w = weight.reshape(-1, draws)
        out[part] = 1 - (w * survive.reshape(-1, draws)).sum(axis=1) / w.sum(axis=1)
    return out


def _past_exposure(who: Applicants, line: Timeline, begin: np.ndarray) -> np.ndarray:
    """Per row, the sum of the weekly withdrawal rates per unit of impatience over the check
    days before `begin`: surviving them all has likelihood exp(-impatience x this)."""
    hazard = _Hazard.of(replace(who, impatience=np.ones(who.size)), line)
    total = np.zeros(who.size)
    t = np.full(who.size, WEEK_WD)
    while True:
        live = np.flatnonzero((t < begin) & (t < line.connect))
        if live.size == 0:
            return total
        total[live] += hazard.rate_at(live, t[live])
        t = t + WEEK_WD


def _own_log_likelihood(who: Applicants, line: Timeline, begin: np.ndarray) -> np.ndarray:
    """Per row, the log likelihood under its impatience of the applicant's own segments known
    before `begin`: the lengths of those finished (rounded lognormals, 1 to MAX_SEGMENT_WD
    working days) and, for the one under way, that it has lasted its elapsed days."""
    total = np.zeros(who.size)
    for segment in range(2, N_SEGMENTS - 1, 2):
        step = np.full(who.size, segment // 2 + 1)
        if APPLICANT_WD[segment // 2 + 1] == 0:
            continue
        log_median = np.log(_own_median(who, step))
        start, stop = line.segment_start[:, segment], line.segment_end[:, segment]
        length = stop - start
        done = (length > 0) & (stop < begin)
        running = (length > 0) & (start < begin) & ~done
        upper = np.where(length >= MAX_SEGMENT_WD, 1.0, ndtr(_z(length + 0.5, log_median)))
        lower = np.where(length <= 1, 0.0, ndtr(_z(length - 0.5, log_median)))
        elapsed = begin - start
        beyond = np.where(elapsed >= 2, ndtr(-_z(elapsed - 0.5, log_median)), 1.0)
        p = np.where(done, upper - lower, np.where(running, beyond, 1.0))
        total += np.log(np.maximum(p, 1e-300))
    return total


def _z(days: np.ndarray, log_median: np.ndarray) -> np.ndarray:
    """The standard normal point at which the own work's lognormal reaches `days`."""
    return np.asarray((np.log(np.maximum(days, 0.5)) - log_median) / OWN_SPREAD)


def _continuation(
    who: Applicants, plan: Plan, line: Timeline, begin: np.ndarray, rng: np.random.Generator
) -> Plan:
    """A plan that keeps the segments finished before `begin`, draws the one under way given
    that it has run so long, and draws afresh the ones not begun."""
    fresh = draw_plans(who, rng)
    before = begin[:, None]
    begun = line.segment_start < before
    keep = begun & (line.segment_end < before)
    lengths = np.where(keep, plan.lengths, fresh.lengths)
    row, segment = np.nonzero(begun & ~keep & (plan.lengths > 0))
    elapsed = begin[row] - line.segment_start[row, segment]
    lengths[row, segment] = _length_beyond(
        who.take(row), segment, elapsed, plan.documents[row], rng
    )
    return Plan(lengths, np.where(begun[:, COMPANY_SEGMENT], plan.documents, fresh.documents))


def _length_beyond(
    who: Applicants,
    segment: np.ndarray,
    elapsed: np.ndarray,
    documents: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each segment's length drawn from its distribution given that it is at least `elapsed`:
    the applicant's own work exactly (a truncated lognormal); the company's handling given
    its document requests by rejection, REDRAW_ROUNDS rounds, and for the rare long stalls
    still unmatched the stall's memoryless tail (elapsed plus a fresh stall)."""
    company = (segment == 0) | (segment % 2 == 1)
    # Segment 0 is the survey; then odd ones the company's steps, even ones the applicant's.
    step = np.where(company, (segment + 1) // 2, segment // 2 + 1)
    asked = documents[np.arange(step.size), step]
    out = np.zeros(step.size)
    own = np.flatnonzero(~company)
    out[own] = _own_days_beyond(who.take(own), step[own], elapsed[own], rng)
    todo = company.copy()
    for _ in range(REDRAW_ROUNDS):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        length = _company_days(who.take(idx), step[idx], rng) + _document_days(asked[idx], rng)
        length = np.minimum(length, MAX_SEGMENT_WD)
        fits = length >= elapsed[idx]
        out[idx[fits]] = length[fits]
        todo[idx[fits]] = False
    tail = elapsed[todo] + np.round(rng.exponential(STALL_WD[step[todo]]))
    out[todo] = np.minimum(tail, MAX_SEGMENT_WD)
    return out


def _survival(who: Applicants, line: Timeline, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """P(no withdrawal at the check days in [begin, end) before connecting), row by row."""
    hazard = _Hazard.of(who, line)
    survive = np.ones(who.size)
    t = np.maximum(-(-begin // WEEK_WD) * WEEK_WD, WEEK_WD)  # the first check day from begin
    while True:
        live = (t < end) & (t < line.connect)
        if not live.any():
            return survive
        survive = np.where(live, survive * (1 - hazard.at(t)), survive)
        t = t + WEEK_WD


@dataclass(frozen=True)
class Draws:
    """Applicants drawn from the process, their plans and when they withdraw (-1: connect)."""

    who: Applicants
    plan: Plan
    withdrawn: np.ndarray

    @property
    def size(self) -> int:
        return self.who.size

    def take(self, idx: np.ndarray) -> Draws:
        return Draws(
            self.who.take(idx),
            Plan(self.plan.lengths[idx], self.plan.documents[idx]),
            self.withdrawn[idx],
        )

    @property
    def line(self) -> Timeline:
        return Timeline.of(self.who, self.plan)

    @property
    def closes(self) -> np.ndarray:
        """The index (from acceptance) at which the application ends, connected or withdrawn."""
        return np.where(self.withdrawn >= 0, self.withdrawn, self.line.connect)

    @staticmethod
    def concat(parts: list[Draws]) -> Draws:
        who = Applicants(
            **{k: np.concatenate([p.who.__dict__[k] for p in parts]) for k in parts[0].who.__dict__}
        )
        plan = Plan(
            np.concatenate([p.plan.lengths for p in parts]),
            np.concatenate([p.plan.documents for p in parts]),
        )
        return Draws(who, plan, np.concatenate([p.withdrawn for p in parts]))


def draw_process(who: Applicants, rng: np.random.Generator) -> Draws:
    plan = draw_plans(who, rng)
    return Draws(who, plan, draw_withdrawals(who, Timeline.of(who, plan), rng))


@dataclass(frozen=True)
class Targets:
    """What an application must end in (engine targets) or start at (forward targets)."""

    increase: np.ndarray
    region: np.ndarray
    voltage_kv: np.ndarray
    capacity_kva: np.ndarray
    has_manager: np.ndarray
    end: np.ndarray  # working-day index of energising's finish; -1 for forward targets
    arrival: np.ndarray  # acceptance index of forward targets; -1 for engine targets
    earliest: np.ndarray  # the first index acceptance may take (the customer's opening)
    last: np.ndarray  # acceptance must come before this index (the customer's closing)

    @property
    def size(self) -> int:
        return int(self.region.shape[0])

    def take(self, idx: np.ndarray) -> Targets:
        return Targets(**{k: v[idx] for k, v in self.__dict__.items()})

    def applicants(
        self, units: tuple[np.ndarray, np.ndarray], rng: np.random.Generator
    ) -> Applicants:
        return draw_applicants(
            self.increase,
            self.region,
            self.voltage_kv,
            self.capacity_kva,
            self.has_manager,
            units,
            rng,
        )


@dataclass(frozen=True)
class Connected:
    """Each target's connected application (or none) and the withdrawn draws before it."""

    chosen: np.ndarray  # bool per target
    draws: Draws  # of the chosen targets, in target order
    accepted: np.ndarray  # acceptance index of the chosen
    failures: Draws
    sibling: np.ndarray  # the target of each failure


def connect_targets(
    t: Targets, days: WorkingDays, units: tuple[np.ndarray, np.ndarray], rng: np.random.Generator
) -> Connected:
    """Rejection by time shift: draw until a connecting applicant fits each target."""
    top = days.season.max()
    first_connect = np.zeros(t.size, bool)
    pending = np.ones(t.size, bool)
    chosen_parts: list[tuple[np.ndarray, Draws, np.ndarray]] = []
    failures: list[Draws] = []
    siblings: list[np.ndarray] = []
    for _ in range(MAX_ROUNDS):
        idx = np.flatnonzero(pending)
        if idx.size == 0 and chosen_parts:  # one round even for no target: empty parts
            break
        d = draw_process(t.take(idx).applicants(units, rng), rng)
        connects = d.withdrawn < 0
        fail = np.flatnonzero(~first_connect[idx] & ~connects)
        failures.append(d.take(fail))
        siblings.append(idx[fail])
        first_connect[idx[connects]] = True
        forward = t.end[idx] < 0
        accepted = np.where(forward, t.arrival[idx], t.end[idx] - d.line.connect)
        season = days.season[np.clip(accepted, 0, days.days.size - 1)] / top
        fits = (accepted >= t.earliest[idx]) & (accepted < t.last[idx])
        take = np.flatnonzero(connects & fits & (forward | (rng.random(idx.size) < season)))
        chosen_parts.append((idx[take], d.take(take), accepted[take]))
        pending[idx[take]] = False
    who = np.concatenate([p[0] for p in chosen_parts])
    order = np.argsort(who, kind="stable")
    chosen = np.zeros(t.size, bool)
    chosen[who] = True
    return Connected(
        chosen=chosen,
        draws=Draws.concat([p[1] for p in chosen_parts]).take(order),
        accepted=np.concatenate([p[2] for p in chosen_parts])[order],
        failures=Draws.concat(failures),
        sibling=np.concatenate(siblings),
    )


def place_failures(
    c: Connected, t: Targets, days: WorkingDays, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal acceptance days near the connected sibling's; returns (kept rows, accepted)."""
    sibling_accepted = np.full(t.size, -1, dtype=np.int64)
    sibling_accepted[c.chosen] = c.accepted
    base = sibling_accepted[c.sibling]
    rows = np.flatnonzero(base >= 0)
    base = base[rows]
    accepted = base.copy()
    todo = np.ones(rows.size, bool)
    top = days.season.max()
    for _ in range(10):
        if not todo.any():
            break
        idx = np.flatnonzero(todo)
        guess = base[idx] + rng.integers(-FAILURE_SPREAD_WD, FAILURE_SPREAD_WD + 1, idx.size)
        guess = np.clip(guess, 0, days.days.size - 1)
        accepted[idx] = guess
        todo[idx[rng.random(idx.size) < days.season[guess] / top]] = False
    target = c.sibling[rows]
    fits = (accepted >= t.earliest[target]) & (accepted < t.last[target])
    return rows[fits], accepted[fits]


@dataclass(frozen=True)
class Who:
    """Each target's identity in the tables: customer, linked order, names and industry."""

    customer: np.ndarray  # row in customers, -1 for none
    order: np.ndarray  # row in work_orders whose applied_at follows, -1 for none
    finished_at: np.ndarray  # energising's exact finish (datetime64[s]), NaT where free
    industry_code: np.ndarray

    def take(self, idx: np.ndarray) -> Who:
        return Who(**{k: v[idx] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list[Who]) -> Who:
        return Who(**{k: np.concatenate([p.__dict__[k] for p in parts]) for k in parts[0].__dict__})


@dataclass(frozen=True)
class World:
    """What the applicants need to know of the engine's data."""

    customers: pd.DataFrame
    work_orders: pd.DataFrame
    region: np.ndarray  # each customer's region index
    days: WorkingDays
    start: np.datetime64  # first day of the data
    extract: np.datetime64  # first day after it
    months: int

    def customer_span(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The acceptance indices a customer's applications may take: from opening to closing."""
        opened = self.customers["open_date"].to_numpy().astype("datetime64[D]")[rows]
        closed = self.customers["close_date"].to_numpy().astype("datetime64[D]")[rows]
        last = np.where(
            np.isnat(closed),
            self.days.days.size,
            self.days.ceil(np.where(np.isnat(closed), opened, closed)),
        )
        return self.days.ceil(opened), last


def _engine_targets(w: World) -> tuple[Targets, Who]:
    """New connections of accounts opened in the data, completed capacity increases."""
    orders = w.work_orders
    kind = orders["order_type"].to_numpy()
    done = (orders["status"] == "completed").to_numpy()
    change = orders["capacity_change_kva"].to_numpy(dtype=float)
    rows = np.flatnonzero(
        done & ((kind == "new_connection") | ((kind == "capacity_increase") & (change > 0)))
    )
    customer = pd.Index(w.customers["customer_id"]).get_indexer(
        orders["customer_id"].to_numpy()[rows]
    )
    increase = kind[rows] == "capacity_increase"
    finished = orders["completed_at"].to_numpy()[rows].astype("datetime64[s]")
    earliest, last = w.customer_span(customer)
    c = w.customers
    targets = Targets(
        increase=increase,
        region=w.region[customer],
        voltage_kv=c["voltage_kv"].to_numpy(dtype=float)[customer],
        capacity_kva=change[rows],
        has_manager=c["account_manager_id"].notna().to_numpy()[customer],
        end=w.days.ceil(finished.astype("datetime64[D]")),
        arrival=np.full(rows.size, -1),
        earliest=np.where(increase, earliest, 0),
        last=np.where(increase, last, w.days.days.size),
    )
    who = Who(customer, rows, finished, c["industry_code"].to_numpy(dtype=object)[customer])
    return targets, who


def _forward_targets(
    w: World, engine: Targets, engine_who: Who, rng: np.random.Generator
) -> tuple[Targets, Who]:
    """Seasonal arrivals of the last FORWARD_MONTHS at the engine's rate of connections."""
    lo = int(w.days.ceil(w.extract - np.timedelta64(FORWARD_MONTHS * 30, "D")))
    hi = int(w.days.ceil(w.extract))
    weight = w.days.season[lo:hi] / w.days.season[lo:hi].sum()
    parts, whos = [], []
    for increase, months in ((False, max(w.months - 4, 1)), (True, w.months)):
        rate = (engine.increase == increase).sum() / months
        n = int(rng.poisson(rate * FORWARD_MONTHS))
        arrival = lo + rng.choice(hi - lo, size=n, p=weight)
        c = w.customers
        if increase:
            alive = np.flatnonzero(c["close_date"].isna().to_numpy())
            customer = rng.choice(alive, size=n) if alive.size else np.zeros(0, np.int64)
            capacity = c["contract_capacity_kva"].to_numpy(dtype=float)[customer]
            grown = _standard_size(capacity * rng.uniform(1.25, 1.7, n)) if n else capacity
            requested = np.maximum(grown - capacity, 100.0)
            earliest, last = w.customer_span(customer)
        else:
            pool = engine_who.customer[~engine.increase]
            pool = pool if pool.size else np.arange(len(c))
            like = rng.choice(pool, size=n)  # a new applicant like the accounts that opened
            customer = np.full(n, -1)
            requested = c["contract_capacity_kva"].to_numpy(dtype=float)[like]
            earliest, last = np.zeros(n, np.int64), np.full(n, w.days.days.size)
        source = customer if increase else like
        parts.append(
            Targets(
                increase=np.full(n, increase),
                region=w.region[source],
                voltage_kv=c["voltage_kv"].to_numpy(dtype=float)[source],
                capacity_kva=requested,
                has_manager=c["account_manager_id"].notna().to_numpy()[source],
                end=np.full(n, -1),
                arrival=arrival,
                earliest=earliest,
                last=last,
            )
        )
        whos.append(
            Who(
                customer,
                np.full(n, -1),
                np.full(n, np.datetime64("NaT"), "datetime64[s]"),
                c["industry_code"].to_numpy(dtype=object)[source],
            )
        )
    return Targets(
        **{k: np.concatenate([p.__dict__[k] for p in parts]) for k in parts[0].__dict__}
    ), Who.concat(whos)


@dataclass(frozen=True)
class Applications:
    """The applications of the extract's world, with their whole (hidden) future."""

    draws: Draws
    accepted: np.ndarray  # working-day index
    who: Who
    origin: np.ndarray  # "engine", "forward" or "withdrawn_draw"


def simulate_applicants(
    seed: int,
    start_month: np.datetime64,
    months: int,
    customers: pd.DataFrame,
    work_orders: pd.DataFrame,
    region: np.ndarray,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The application tables, the work orders with linked applied_at, and the truth."""
    rng = np.random.default_rng([seed, 15])
    start = start_month.astype("datetime64[D]")
    extract = (start_month + months).astype("datetime64[D]")
    days = WorkingDays.around(
        start - np.timedelta64(5 * 366, "D"), extract + np.timedelta64(4 * 366, "D")
    )
    w = World(customers, work_orders, region, days, start, extract, months)
    units = (rng.lognormal(0, 0.25, len(CITY_PREFIX)), rng.lognormal(0, 0.4, len(CITY_PREFIX)))
    engine, engine_who = _engine_targets(w)
    forward, forward_who = _forward_targets(w, engine, engine_who, rng)
    targets = Targets(
        **{k: np.concatenate([engine.__dict__[k], forward.__dict__[k]]) for k in engine.__dict__}
    )
    who = Who.concat([engine_who, forward_who])
    c = connect_targets(targets, days, units, rng)
    apps = _applications(w, targets, who, c, rng)
    tables, stamps = _application_tables(w, apps, rng)
    orders = work_orders.copy()
    linked = apps.who.order >= 0
    applied = orders["applied_at"].to_numpy().copy()
    applied[apps.who.order[linked]] = stamps.accepted_at[linked].astype(applied.dtype)
    orders["applied_at"] = pd.Series(applied, index=orders.index)
    truth = {
        "application_withdrawal": _oracle(w, apps, stamps, rng),
        "applicants": _traits(apps, stamps),
    }
    return {"work_orders": orders, **tables}, truth


def _applications(
    w: World, t: Targets, who: Who, c: Connected, rng: np.random.Generator
) -> Applications:
    """The chosen connected applications that the extract sees and their withdrawn siblings."""
    days = w.days
    chosen = np.flatnonzero(c.chosen)
    forward = t.end[chosen] < 0
    ends = c.accepted + c.draws.line.connect
    seen = ~forward | (days.day(ends) >= w.extract)
    kept_target = np.zeros(t.size, bool)
    kept_target[chosen[seen]] = True
    rows, accepted = place_failures(c, t, days, rng)
    f = c.failures.take(rows)
    closes = accepted + f.withdrawn
    visible = (
        kept_target[c.sibling[rows]]
        & (days.day(accepted) < w.extract)
        & (days.day(closes) >= w.start)
    )
    f_who = who.take(c.sibling[rows][visible])
    new_applicant = ~f.who.increase[visible]
    f_who = replace(
        f_who,
        customer=np.where(new_applicant, -1, f_who.customer),
        order=np.full(f_who.order.size, -1),
        finished_at=np.full(f_who.order.size, np.datetime64("NaT"), "datetime64[s]"),
    )
    return Applications(
        draws=Draws.concat([c.draws.take(np.flatnonzero(seen)), f.take(np.flatnonzero(visible))]),
        accepted=np.concatenate([c.accepted[seen], accepted[visible]]),
        who=Who.concat([who.take(chosen[seen]), f_who]),
        origin=np.concatenate(
            [
                np.where(forward[seen], "forward", "engine"),
                np.full(int(visible.sum()), "withdrawn_draw"),
            ]
        ),
    )


@dataclass(frozen=True)
class Stamps:
    """Per application (in draw order): its id, acceptance and true end, after the extract too."""

    application_id: np.ndarray
    accepted_at: np.ndarray  # datetime64[s]
    closes_at: np.ndarray  # datetime64[s]: connected or withdrawn, whenever that is


def _seconds(days: WorkingDays, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A time in office hours (08:30-17:30) on each of these working days."""
    day = days.day(index).astype("datetime64[s]")
    return day + (8 * 3600 + 1800 + rng.integers(0, 9 * 3600, np.shape(index))).astype(
        "timedelta64[s]"
    )


def _step_times(w: World, apps: Applications, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """accepted_at, started_at and finished_at of every step, and the true end."""
    d, line, accepted = apps.draws, apps.draws.line, apps.accepted
    accepted_at = _seconds(w.days, accepted, rng)
    started = _seconds(w.days, accepted[:, None] + line.start, rng)
    finished = _seconds(w.days, accepted[:, None] + line.finish, rng)
    fixed = ~np.isnat(apps.who.finished_at)
    finished[fixed, ENERGISING] = apps.who.finished_at[fixed]
    started[:, [SURVEY, PLAN]] = accepted_at[:, None]
    started[:, ENERGISING] = finished[:, COMPLETION]  # the request to connect is the passing
    withdrawn_at = _seconds(w.days, accepted + np.maximum(d.withdrawn, 0), rng)
    closes = np.where(d.withdrawn >= 0, withdrawn_at, finished[:, ENERGISING])
    return accepted_at, started, finished, closes


def _application_tables(
    w: World, apps: Applications, rng: np.random.Generator
) -> tuple[dict[str, pd.DataFrame], Stamps]:
    """applications and application_steps as the extract sees them, ids in acceptance order."""
    accepted_at, started, finished, closes = _step_times(w, apps, rng)
    extract = w.extract.astype("datetime64[s]")
    d, line = apps.draws, apps.draws.line
    rank = np.empty(d.size, np.int64)
    rank[np.lexsort((np.arange(d.size), accepted_at))] = np.arange(d.size)
    ids = np.array([f"SQ{r + 1:09d}" for r in rank], dtype=object)
    ended = closes < extract
    status = np.where(~ended, "open", np.where(d.withdrawn >= 0, "withdrawn", "connected"))
    gone = d.withdrawn[:, None]
    shown = line.present & (started < extract) & ((gone < 0) | (line.start < gone))
    done = shown & (finished < extract) & ((gone < 0) | (line.finish < gone))
    applications = pd.DataFrame(
        {
            "application_id": ids,
            "applicant_name": _names(w, apps, rng),
            "application_type": np.array(APPLICATION_TYPES, dtype=object)[
                d.who.increase.astype(int)
            ],
            "customer_id": np.where(
                apps.who.customer >= 0,
                w.customers["customer_id"].to_numpy(dtype=object)[np.maximum(apps.who.customer, 0)],
                None,
            ),
            "industry_code": apps.who.industry_code,
            "region": np.array([name for name, _, _ in REGIONS], dtype=object)[d.who.region],
            "voltage_kv": d.who.voltage_kv.astype(float),
            "requested_capacity_kva": d.who.capacity_kva.astype(float),
            "supply_type": np.array(SUPPLY_TYPES, dtype=object)[d.who.dual.astype(int)],
            "channel": np.array(CHANNELS, dtype=object)[d.who.channel],
            "accepted_at": pd.Series(accepted_at.astype("datetime64[us]")),
            "status": status.astype(object),
            "closed_at": pd.Series(
                np.where(ended, closes, np.datetime64("NaT")).astype("datetime64[us]")
            ),
            "owner_id": _owners(w, apps, rng),
        }
    ).iloc[np.argsort(rank)]
    app_row, step = np.nonzero(shown)
    staff = rng.integers(0, 12, app_row.size)
    handled = np.array(
        [f"YX{31 + r:02d}{k:02d}" for r, k in zip(d.who.region[app_row], staff, strict=True)],
        dtype=object,
    )
    steps = pd.DataFrame(
        {
            "application_id": ids[app_row],
            "step_code": np.array(STEPS, dtype=object)[step],
            "started_at": pd.Series(started[app_row, step].astype("datetime64[us]")),
            "finished_at": pd.Series(
                np.where(done[app_row, step], finished[app_row, step], np.datetime64("NaT")).astype(
                    "datetime64[us]"
                )
            ),
            "document_requests": d.plan.documents[app_row, step].astype(np.int64),
            "handled_by": np.where(
                rng.random(app_row.size) < 0.03, _nothing(app_row.size), handled
            ),
        }
    ).iloc[np.lexsort((step, rank[app_row]))]
    frames = {"applications": applications, "application_steps": steps}
    for frame in frames.values():
        frame.reset_index(drop=True, inplace=True)
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].astype("str")
    return frames, Stamps(ids, accepted_at, closes)


def _nothing(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def _names(w: World, apps: Applications, rng: np.random.Generator) -> np.ndarray:
    """The customer's name where there is one, else a plausible company name."""
    n, region = apps.draws.size, apps.draws.who.region
    suffix_of = {ind.code: ind.name_suffix for ind in INDUSTRIES}
    suffix = np.array(
        [suffix_of.get(str(code), "有限公司") for code in apps.who.industry_code], dtype=object
    )
    brand = np.array(BRANDS, dtype=object)
    made = (
        np.array(CITY_PREFIX, dtype=object)[region]
        + brand[rng.integers(0, brand.size, n)]
        + brand[rng.integers(0, brand.size, n)]
        + suffix
    )
    known = apps.who.customer >= 0
    names = w.customers["customer_name"].to_numpy(dtype=object)[np.maximum(apps.who.customer, 0)]
    return np.where(known, names, made)


def _owners(w: World, apps: Applications, rng: np.random.Generator) -> np.ndarray:
    """The customer's account manager, else (bigger applicants more often) one of the unit's."""
    n, region = apps.draws.size, apps.draws.who.region
    managers = w.customers["account_manager_id"].to_numpy(dtype=object)
    known = managers[np.maximum(apps.who.customer, 0)]
    known = np.where((apps.who.customer >= 0) & pd.notna(known), known, _nothing(n))
    pools = [
        sorted({m for m in managers[w.region == r] if isinstance(m, str)}) or [f"AM{31 + r:02d}000"]
        for r in range(len(CITY_PREFIX))
    ]
    pick = rng.random(n)
    drawn = np.array(
        [pools[r][int(u * len(pools[r]))] for r, u in zip(region, pick, strict=True)], dtype=object
    )
    size = np.log10(apps.draws.who.capacity_kva / 1000.0)
    gets = rng.random(n) < 1 / (1 + np.exp(-(0.2 + 1.8 * size)))
    return np.where(known != None, known, np.where(gets, drawn, _nothing(n)))  # noqa: E711


def _oracle(w: World, apps: Applications, stamps: Stamps, rng: np.random.Generator) -> pd.DataFrame:
    """P(withdraw within APPLICATION_HORIZON_MONTHS) at each monthly snapshot it is open."""
    snapshots = (w.start.astype("datetime64[M]") + np.arange(1, w.months + 1)).astype(
        "datetime64[D]"
    )
    moment = snapshots.astype("datetime64[s]")
    open_at = (stamps.accepted_at[:, None] < moment[None, :]) & (
        stamps.closes_at[:, None] >= moment[None, :]
    )
    app, month = np.nonzero(open_at)
    horizon = (snapshots.astype("datetime64[M]") + APPLICATION_HORIZON_MONTHS).astype(
        "datetime64[D]"
    )
    begin = w.days.ceil(snapshots)[month] - apps.accepted[app]
    end = w.days.ceil(horizon)[month] - apps.accepted[app]
    probability = withdrawal_probability(apps.draws.who, apps.draws.plan, app, begin, end, rng)
    frame = pd.DataFrame(
        {
            "application_id": pd.array(stamps.application_id[app], dtype="str"),
            "snapshot_date": pd.Series(snapshots[month].astype("datetime64[us]")),
            "probability": probability,
        }
    )
    return frame.sort_values(["application_id", "snapshot_date"], kind="stable").reset_index(
        drop=True
    )


def _traits(apps: Applications, stamps: Stamps) -> pd.DataFrame:
    """Each application's hidden traits, its eventual outcome and where it came from."""
    d = apps.draws
    frame = pd.DataFrame(
        {
            "application_id": pd.array(stamps.application_id, dtype="str"),
            "impatience": d.who.impatience,
            "channel_fit": d.who.fit,
            "slowness": d.who.slowness,
            "unit_slowness": d.who.unit_slowness,
            "unit_sloppiness": d.who.unit_sloppiness,
            "outcome": pd.array(np.where(d.withdrawn >= 0, "withdrawn", "connected"), dtype="str"),
            "outcome_at": pd.Series(stamps.closes_at.astype("datetime64[us]")),
            "origin": pd.array(apps.origin, dtype="str"),
        }
    )
    return frame.sort_values("application_id", kind="stable").reset_index(drop=True)
