"""Static traits of the simulated key accounts: who they are and how they tend to behave."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retention.data.contract import EARLIEST, TARIFF_CATEGORIES
from retention.data.simulator.profiles import (
    BRANDS,
    CITY_PREFIX,
    DRIVERS,
    INDUSTRIES,
    REGIONS,
    STANDARD_KVA,
)

TARIFFS = TARIFF_CATEGORIES
# The example tables' capacity price over their demand price (25 / 38.4 元): below this share of
# capacity, a maximum demand is cheaper to pay for than the capacity.
DEMAND_BREAK_EVEN = 0.65
COSTLIER_MODE_SHARE = 0.25  # accounts on the basic-charge mode that costs them more


@dataclass
class Portfolio:
    """One entry per account in every array; `opens_at` is a month index (negative: before data)."""

    customer_id: np.ndarray
    customer_name: np.ndarray
    industry: np.ndarray  # index into INDUSTRIES
    region: np.ndarray  # index into REGIONS
    capacity_kva: np.ndarray  # at the start (or at opening)
    voltage_kv: np.ndarray
    tariff: np.ndarray  # index into TARIFFS
    market: np.ndarray  # index into MARKET_MODES, at the start
    manager_id: np.ndarray  # object array, None where no dedicated manager
    open_day: np.ndarray  # datetime64[D]
    opens_at: np.ndarray  # month index of opening (int)
    utilisation: np.ndarray
    load_factor: np.ndarray  # average over peak demand
    power_factor: np.ndarray
    tou_shares: np.ndarray  # (n, 3) peak, flat, valley
    demand_charged: np.ndarray  # bool: demand-based basic charge
    due_day: np.ndarray
    late_trait: np.ndarray  # probability of paying late when healthy
    outage_rate: np.ndarray  # expected outages a month
    visibility: np.ndarray  # how strongly trouble shows in the data (0..1)
    driver: np.ndarray  # index into DRIVERS
    frailty: np.ndarray  # hidden multiplier of the drift hazard
    growth: np.ndarray  # yearly growth of the load
    captive: np.ndarray  # bool: self-generation is a captive plant, not PV
    self_generation_kw: np.ndarray  # at the start

    @property
    def size(self) -> int:
        return int(self.customer_id.shape[0])


def _standard_size(kva: np.ndarray) -> np.ndarray:
    """Round capacities to the nearest standard transformer size (on a log scale)."""
    logs = np.log(STANDARD_KVA)
    idx = np.abs(np.log(kva)[:, None] - logs[None, :]).argmin(axis=1)
    return STANDARD_KVA[idx]


def draw_portfolio(
    n: int, start: np.datetime64, months: int, new_share: float, rng: np.random.Generator
) -> Portfolio:
    """Draw n accounts: most open years before the data starts, some during it.

    The steps draw in a fixed order: the same seed gives the same portfolio.
    """
    industry, region, capacity, voltage = _trade_place_and_size(n, rng)
    tariff, market = _tariff_and_market(n, industry, capacity, voltage, rng)
    manager_id = _managers(n, region, capacity, rng)
    open_day, opens_at = _opening(n, start, months, new_share, rng)
    usage = _usage_habits(n, industry, rng)
    payment = _payment_habits(n, tariff, usage, rng)
    outage_rate = _outage_rate(n, region, voltage, rng)
    hidden = _hidden_traits(n, industry, capacity, tariff, market, outage_rate, rng)
    customer_id, customer_name = _identity(n, industry, region, rng)
    return Portfolio(
        customer_id=customer_id,
        customer_name=customer_name,
        industry=industry,
        region=region,
        capacity_kva=capacity,
        voltage_kv=voltage,
        tariff=tariff,
        market=market,
        manager_id=manager_id,
        open_day=open_day,
        opens_at=opens_at,
        utilisation=usage["utilisation"],
        load_factor=usage["load_factor"],
        power_factor=usage["power_factor"],
        tou_shares=usage["tou_shares"],
        demand_charged=payment["demand_charged"],
        due_day=payment["due_day"],
        late_trait=payment["late_trait"],
        outage_rate=outage_rate,
        visibility=hidden["visibility"],
        driver=hidden["driver"],
        frailty=hidden["frailty"],
        growth=hidden["growth"],
        captive=hidden["captive"],
        self_generation_kw=hidden["self_generation_kw"],
    )


def _trade_place_and_size(
    n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Industry, region, contract capacity and supply voltage of each account."""
    weights = np.array([ind.weight for ind in INDUSTRIES], dtype=float)
    industry = rng.choice(len(INDUSTRIES), size=n, p=weights / weights.sum())
    region_share = np.array([share for _, share, _ in REGIONS])
    region = rng.choice(len(REGIONS), size=n, p=region_share / region_share.sum())

    median = np.array([ind.median_kva for ind in INDUSTRIES])[industry]
    capacity = _standard_size(np.clip(median * rng.lognormal(0.0, 0.9, n), 315, 100_000))

    is_industrial = np.array([ind.industrial for ind in INDUSTRIES])[industry]
    voltage = np.full(n, 10.0)
    u = rng.random(n)
    voltage[(capacity <= 630) & ~is_industrial & (u < 0.35)] = 0.4
    voltage[(capacity <= 8000) & (capacity > 630) & (u < 0.08)] = 20.0
    mid = (capacity > 8000) & (capacity <= 31500)
    voltage[mid] = np.where(u[mid] < 0.25, 10.0, np.where(u[mid] < 0.95, 35.0, 66.0))
    big = capacity > 31500
    voltage[big] = np.where(u[big] < 0.2, 35.0, np.where(u[big] < 0.85, 110.0, 220.0))
    voltage[(capacity >= 80000)] = np.where(u[capacity >= 80000] < 0.6, 220.0, 110.0)
    return industry, region, capacity, voltage


def _tariff_and_market(
    n: int,
    industry: np.ndarray,
    capacity: np.ndarray,
    voltage: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Tariff category and market mode: large industrial accounts trade directly more often."""
    is_industrial = np.array([ind.industrial for ind in INDUSTRIES])[industry]
    tariff = np.where(is_industrial, 0, 1)
    tariff[is_industrial & (rng.random(n) < 0.06)] = 1
    service_other = ~is_industrial & np.isin(
        industry, [i for i, ind in enumerate(INDUSTRIES) if ind.code in ("P83", "Q84")]
    )
    tariff[service_other & (rng.random(n) < 0.3)] = 2
    tariff[(voltage == 0.4) & (tariff == 0)] = 1  # 大工业 is not supplied at 0.4 kV

    size_score = np.log10(capacity / 1000.0)
    p_direct = np.clip(0.04 + 0.18 * size_score, 0.0, 0.55) * (tariff == 0)
    p_retailer = np.where(tariff == 2, 0.0, 0.30)
    u = rng.random(n)
    market = np.where(u < p_direct, 1, np.where(u < p_direct + p_retailer, 2, 0))
    return tariff, market


def _managers(
    n: int, region: np.ndarray, capacity: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Dedicated account managers (None where there is none): bigger accounts have one."""
    size_score = np.log10(capacity / 1000.0)
    p_manager = 1 / (1 + np.exp(-(0.2 + 1.8 * size_score)))
    has_manager = rng.random(n) < p_manager
    manager_id = np.full(n, None, dtype=object)
    for r in range(len(REGIONS)):
        idx = np.flatnonzero(has_manager & (region == r))
        if idx.size:
            staff = max(1, idx.size // 35)
            pick = rng.integers(0, staff, idx.size)
            manager_id[idx] = [f"AM{31 + r:02d}{k:03d}" for k in pick]
    return manager_id


def _opening(
    n: int, start: np.datetime64, months: int, new_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Opening day, and the month index of opening (-10,000 for accounts open before the data)."""
    is_new = rng.random(n) < new_share
    opens_at = np.where(is_new, rng.integers(0, max(1, months - 4), n), -1)
    start_day = start.astype("datetime64[D]")
    tenure_days = (rng.lognormal(np.log(8 * 365), 0.7, n)).astype(int) + 400
    open_day = np.where(
        is_new,
        (start + opens_at).astype("datetime64[D]") + rng.integers(0, 27, n),
        start_day - tenure_days,
    ).astype("datetime64[D]")
    # The tenure's lognormal tail reaches past a century (about 1 in 20,000 accounts for data
    # starting in 2023), before any date the contract accepts: those accounts open on its
    # earliest day. Clipped, not redrawn, so every other account and draw stays the same.
    open_day = np.maximum(open_day, np.datetime64(EARLIEST.date(), "D"))
    opens_at = np.where(is_new, opens_at, -10_000)
    return open_day, opens_at


def _usage_habits(n: int, industry: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """How each account draws power: utilisation, load factor, power factor, time-of-use."""
    utilisation = np.array([ind.utilisation for ind in INDUSTRIES])[industry] * rng.lognormal(
        0, 0.2, n
    )
    utilisation = np.clip(utilisation, 0.08, 0.9)
    load_factor = np.clip(rng.normal(0.72, 0.08, n), 0.45, 0.92)
    power_factor = np.clip(rng.normal(0.935, 0.025, n), 0.82, 0.995)
    base_tou = np.array([ind.peak_flat_valley for ind in INDUSTRIES])[industry]
    tou = base_tou * rng.lognormal(0, 0.08, (n, 3))
    tou = tou / tou.sum(axis=1, keepdims=True)
    return {
        "utilisation": utilisation,
        "load_factor": load_factor,
        "power_factor": power_factor,
        "tou_shares": tou,
    }


def _payment_habits(
    n: int, tariff: np.ndarray, usage: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The basic charge, the bill's due day and how often a healthy account pays late.

    A large-industry account mostly chose the basic-charge mode that is cheaper for its load
    as drawn (by demand when its maximum demand is expected below DEMAND_BREAK_EVEN of its
    capacity), and a share COSTLIER_MODE_SHARE kept the other, which the tariff plan finds."""
    expected_demand_share = usage["utilisation"] * 0.9 / usage["load_factor"]
    cheaper_by_demand = expected_demand_share < DEMAND_BREAK_EVEN
    costlier = rng.random(n) < COSTLIER_MODE_SHARE
    demand_charged = (tariff == 0) & (cheaper_by_demand != costlier)
    due_day = rng.choice([15, 20, 25], size=n, p=[0.3, 0.4, 0.3])
    late_trait = np.where(rng.random(n) < 0.12, rng.uniform(0.15, 0.5, n), rng.uniform(0, 0.04, n))
    return {"demand_charged": demand_charged, "due_day": due_day, "late_trait": late_trait}


def _outage_rate(
    n: int, region: np.ndarray, voltage: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Expected outages a month: by region and voltage (higher voltage, fewer outages)."""
    region_outage = np.array([mult for _, _, mult in REGIONS])[region]
    voltage_outage = np.select([voltage <= 10, voltage <= 35], [1.0, 0.55], 0.3)
    return np.asarray(0.22 * region_outage * voltage_outage * rng.lognormal(0, 0.45, n))


def _hidden_traits(
    n: int,
    industry: np.ndarray,
    capacity: np.ndarray,
    tariff: np.ndarray,
    market: np.ndarray,
    outage_rate: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The churn driver, visibility, frailty and growth only the truth knows, and the
    self-generation each account has at the start."""
    visibility = rng.beta(8.0, 1.5, n)
    driver_weights = np.array([ind.drivers for ind in INDUSTRIES], dtype=float)[industry]
    driver_weights[:, 2] *= 0.5 + outage_rate / outage_rate.mean()
    driver_weights[:, 3] *= np.where(market > 0, 1.4, 1.0) * np.where(tariff == 0, 1.2, 1.0)
    driver_weights /= driver_weights.sum(axis=1, keepdims=True)
    driver = (rng.random(n)[:, None] > np.cumsum(driver_weights, axis=1)).sum(axis=1)
    driver = np.minimum(driver, len(DRIVERS) - 1)

    frailty = np.exp(rng.normal(-0.045, 0.3, n))
    growth = rng.normal(0.015, 0.02, n)
    captive_share = np.array([ind.captive for ind in INDUSTRIES])[industry]
    captive = rng.random(n) < captive_share
    has_pv = rng.random(n) < 0.12
    self_gen = np.where(has_pv, np.round(capacity * rng.uniform(0.03, 0.12, n), -1), 0.0)
    return {
        "visibility": visibility,
        "driver": driver,
        "frailty": frailty,
        "growth": growth,
        "captive": captive,
        "self_generation_kw": self_gen,
    }


def _identity(
    n: int, industry: np.ndarray, region: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Customer number (region prefix and a unique serial) and a plausible company name."""
    serial = rng.choice(10**8, size=n, replace=False)
    customer_id = np.array([f"{31 + r:02d}{s:08d}" for r, s in zip(region, serial, strict=True)])
    suffix = np.array([ind.name_suffix for ind in INDUSTRIES])[industry]
    city = np.array(CITY_PREFIX)[region]
    brand = np.array(BRANDS)[rng.integers(0, len(BRANDS), n)]
    brand2 = np.array(BRANDS)[rng.integers(0, len(BRANDS), n)]
    customer_name = np.char.add(np.char.add(np.char.add(city, brand), brand2), suffix)
    return customer_id, customer_name
