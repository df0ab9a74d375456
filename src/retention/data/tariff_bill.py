"""A month's electricity bill from the tariff tables: the one implementation of the bill, shared
by the tariff plan (retention.tariffs.calculator recomputes bills and prices the alternatives
with it) and the simulator (which bills every account-month with it, so recomputation matches
to the cent). It sits in the data layer because the simulator does; every account-month at
once, as arrays.

A month's bill is (energy + basic charge) x (1 + the power-factor adjustment), to the cent:
- energy: kWh by time-of-use period at the category's and voltage band's prices; a month
  without time-of-use readings at the flat price;
- basic charge (two-part tariff only): contract capacity x 元/kVA·月, or maximum demand, no
  less than the table's share of capacity, x 元/kW·月 (a month without a maximum demand
  reading cannot be priced by demand), at the contract capacity in force in the month;
  during an approved suspension (暂停) the suspended capacity pays none from the day it is
  sealed: a month a suspension touches charges it for its days in use, each 1/30 of the
  month (供电营业规则: 按实用天数, 每日按全月基本电费三十分之一), and only up to the table's
  months of suspension a calendar year (past them it is charged again);
- power-factor adjustment: the month's power factor rounded to 0.01 against the account's
  standard (none applies, or no reading: no adjustment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from retention.data.contract import (
    BASIC_CHARGE_MODES,
    DEFAULT_BASIC_CHARGE_MODE,
    TARIFF_CATEGORIES,
    VOLTAGES_KV,
)
from retention.data.tariff_tables import PERIODS, TariffTables

NEVER_DAY = np.int64(1 << 40)  # a suspension not (yet) resumed
DAYS_OF_A_MONTH = 30  # the basic charge's day: 1/30 of the month's, and 30 days a month


class TariffNotInForce(ValueError):
    """A month the data has but no entry of a table covers (before its first valid_from)."""


@dataclass(frozen=True)
class MeterMonths:
    """Account-months' meter readings as arrays (acc: the account's position in the accounts)."""

    acc: np.ndarray
    month: np.ndarray  # datetime64[M]
    kwh: np.ndarray  # (n, 3) peak, flat, valley; NaN without time-of-use readings
    kwh_total: np.ndarray
    demand: np.ndarray
    power_factor: np.ndarray
    capacity: np.ndarray  # the contract capacity in force in the month (kVA)


@dataclass(frozen=True)
class BillAccounts:
    """What prices an account, as arrays in the order of customers."""

    company: np.ndarray  # index into tables.companies
    category: np.ndarray  # index into TARIFF_CATEGORIES
    voltage: np.ndarray  # index into VOLTAGES_KV
    capacity: np.ndarray  # today's, from customers
    on_demand: np.ndarray  # billed by maximum demand today


@dataclass(frozen=True)
class Suspensions:
    """Approved suspensions (暂停) as spells, in days since 1970-01-01: the account (its
    position in the accounts), the day its equipment was sealed (the suspension's completion),
    the day it was resumed (the next completed resumption's; NEVER_DAY while none), and the
    kVA suspended (NaN: the whole capacity, which an order of 0 kVA change means)."""

    acc: np.ndarray
    start: np.ndarray
    end: np.ndarray
    kva: np.ndarray

    @classmethod
    def of(
        cls,
        acc: np.ndarray,
        suspension: np.ndarray,
        resumption: np.ndarray,
        day: np.ndarray,
        change: np.ndarray,
    ) -> Suspensions:
        """The spells of completed work orders: each order's account (-1: none of the
        accounts, left out), whether it is a suspension or a resumption, the day it was
        completed and its capacity_change_kva. A suspension lasts until the account's next
        resumption (one completed the same day ends it that day)."""
        stops, backs = (acc >= 0) & suspension, (acc >= 0) & resumption
        change = np.asarray(change, dtype=float)
        left = pd.DataFrame(
            {
                "acc": acc[stops].astype(np.int64),
                "start": day[stops].astype(np.int64),
                "kva": np.where(change[stops] < 0, -change[stops], np.nan),
            }
        ).sort_values("start", kind="stable")
        right = pd.DataFrame(
            {"acc": acc[backs].astype(np.int64), "end": day[backs].astype(np.int64)}
        ).sort_values("end", kind="stable")
        spells = pd.merge_asof(
            left, right, left_on="start", right_on="end", by="acc", direction="forward"
        )
        return cls(
            acc=spells["acc"].to_numpy(dtype=np.int64),
            start=spells["start"].to_numpy(dtype=np.int64),
            end=spells["end"].fillna(NEVER_DAY).to_numpy(dtype=np.int64),
            kva=spells["kva"].to_numpy(dtype=float),
        )


def _basic_share(s: Suspensions | None, r: MeterMonths, months_a_year: np.ndarray) -> np.ndarray:
    """Each row's share of its month's basic charge that is charged: 1 but in a month an
    approved suspension touches, where the suspended capacity is charged for its days in use,
    1/30 of the month each (30 and more: the whole month), the sealed days past
    `months_a_year` x 30 in the calendar year counting as in use."""
    share = np.ones(r.acc.size)
    if s is None or s.acc.size == 0:
        return share
    rows = np.flatnonzero(np.isin(r.acc, s.acc))
    pairs = pd.DataFrame({"row": rows, "acc": r.acc[rows]}).merge(
        pd.DataFrame({"acc": s.acc, "spell": np.arange(s.acc.size)}), on="acc"
    )
    row, spell = pairs["row"].to_numpy(), pairs["spell"].to_numpy()
    order = np.lexsort((s.start[spell], row))  # the allowance goes to the earlier spells
    row, spell = row[order], spell[order]
    month = r.month[row].astype("datetime64[M]")
    m0 = month.astype("datetime64[D]").astype(np.int64)
    m1 = (month + 1).astype("datetime64[D]").astype(np.int64)
    y0 = month.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    start, end = s.start[spell], s.end[spell]
    sealed = np.clip(np.minimum(end, m1) - np.maximum(start, m0), 0, None)
    before = np.clip(np.minimum(end, m0) - np.maximum(start, y0), 0, None)
    used_before = np.bincount(row, weights=before, minlength=r.acc.size)[row]
    earlier = pd.Series(sealed).groupby(row).cumsum().to_numpy() - sealed
    allowance = months_a_year[row] * DAYS_OF_A_MONTH
    exempt = np.clip(allowance - used_before - earlier, 0, sealed)
    in_use = np.minimum(m1 - m0 - exempt, DAYS_OF_A_MONTH) / DAYS_OF_A_MONTH
    charged = np.where(exempt > 0, in_use, 1.0)
    capacity, kva = r.capacity[row], s.kva[spell]
    suspended = np.where(np.isnan(kva), capacity, np.minimum(kva, capacity))
    part = np.divide(suspended, capacity, out=np.zeros(row.size), where=capacity > 0)
    reduction = np.bincount(row, weights=part * (1 - charged), minlength=r.acc.size)
    return np.clip(share - reduction, 0.0, 1.0)


def bill_accounts(customers: pd.DataFrame, tables: TariffTables) -> BillAccounts:
    codes = list(tables.companies)
    regions = customers["region"].astype(object)
    company_of = {r: codes.index(tables.company_of(r)) for r in pd.unique(regions)}
    mode = (
        customers["basic_charge_mode"].fillna(DEFAULT_BASIC_CHARGE_MODE)
        if "basic_charge_mode" in customers
        else pd.Series(DEFAULT_BASIC_CHARGE_MODE, index=customers.index)
    )
    category = pd.Index(TARIFF_CATEGORIES).get_indexer(pd.Index(customers["tariff_category"]))
    voltage = pd.Index(VOLTAGES_KV).get_indexer(pd.Index(customers["voltage_kv"].astype(float)))
    if (category < 0).any() or (voltage < 0).any():  # -1 would price at the last band
        raise ValueError(
            "客户档案的电价类别或电压等级不在数据约定内，请先校验数据 / customers: a "
            "tariff_category or voltage_kv outside the data contract: validate the dataset first"
        )
    return BillAccounts(
        company=regions.map(company_of).to_numpy(dtype=np.int64),
        category=category,
        voltage=voltage,
        capacity=customers["contract_capacity_kva"].to_numpy(dtype=float),
        on_demand=(mode == BASIC_CHARGE_MODES[1]).to_numpy(dtype=bool),
    )


def _entries(
    tables: TariffTables, table: str, company: np.ndarray, month: np.ndarray
) -> np.ndarray:
    """Each row's entry of `table` (an index into all companies' entries, in order): the last
    whose valid_from is not after the row's month."""
    entry = np.full(month.size, -1, dtype=np.int64)
    offset = 0
    for position, (code, tariffs) in enumerate(tables.companies.items()):
        dated = getattr(tariffs, table)
        starts = np.array([e.valid_from for e in dated], dtype="datetime64[M]")
        mine = company == position
        found = np.searchsorted(starts, month[mine], side="right") - 1
        if (found < 0).any():
            earliest = str(month[mine][found < 0].min())
            raise TariffNotInForce(
                f"companies.{code}.{table}: {earliest} 早于第一张表的生效月份 {starts[0]} / "
                f"no entry in force in {earliest} (the first is valid from {starts[0]})"
            )
        entry[mine] = offset + found
        offset += len(dated)
    return entry


def _all(tables: TariffTables, table: str) -> list[Any]:
    return [e for tariffs in tables.companies.values() for e in getattr(tariffs, table)]


def _energy_prices(
    tables: TariffTables, entry: np.ndarray, a: BillAccounts, acc: np.ndarray
) -> np.ndarray:
    """(n, 3) 元/kWh of each row by period."""
    grid = np.array(
        [
            [
                [[getattr(e.band(c, v), p) for p in PERIODS] for v in VOLTAGES_KV]
                for c in TARIFF_CATEGORIES
            ]
            for e in _all(tables, "energy")
        ]
    )
    return grid[entry, a.category[acc], a.voltage[acc]]


def _basic_charges(
    tables: TariffTables,
    entry: np.ndarray,
    a: BillAccounts,
    r: MeterMonths,
    suspensions: Suspensions | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's basic charge by capacity and by maximum demand (0 for an account that pays
    none; NaN by demand without a demand reading), whether it pays one, and the share of the
    month's charged (less than 1 in a month of suspension, in either mode: by demand a
    suspension is of the whole capacity, so the month is charged for its days in use)."""
    dated = _all(tables, "basic_charge")
    pays_category = np.array([[c in e.categories for c in TARIFF_CATEGORIES] for e in dated])
    least_kva = np.array([e.min_capacity_kva for e in dated])[entry]
    capacity = r.capacity
    pays = pays_category[entry, a.category[r.acc]] & (capacity >= least_kva)
    per_kva = np.array([e.capacity_cny_per_kva_month for e in dated])[entry]
    per_kw = np.array([e.demand_cny_per_kw_month for e in dated])[entry]
    share = np.array([e.min_demand_share_of_capacity for e in dated])[entry]
    charged = _basic_share(
        suspensions, r, np.array([e.suspension_months_per_year for e in dated])[entry]
    )
    by_capacity = np.where(pays, capacity * per_kva * charged, 0.0)
    billed_kw = np.fmax(r.demand, share * capacity)  # fmax: NaN only where demand is NaN...
    billed_kw = np.where(np.isnan(r.demand), np.nan, billed_kw)  # ...which cannot be priced
    by_demand = np.where(pays, billed_kw * per_kw * charged, 0.0)
    return by_capacity, by_demand, pays, charged


def _power_factor_percent(
    tables: TariffTables, entry: np.ndarray, a: BillAccounts, r: MeterMonths
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's adjustment in percent of the bill (+ surcharge, - reduction) and its
    account's standard (NaN: none applies)."""
    percent = np.zeros(r.acc.size)
    standard = np.full(r.acc.size, np.nan)
    # Rounded half up to 0.01, in whole hundredths so the bands' steps are exact.
    hundredths = np.floor(r.power_factor * 100 + 0.5 + 1e-9)
    category, capacity = a.category[r.acc], r.capacity
    for position, table in enumerate(_all(tables, "power_factor")):
        rows = entry == position
        chosen = np.full(r.acc.size, np.nan)
        for rule in reversed(table.applies):  # the first rule that holds wins
            holds = rows & (capacity >= rule.min_capacity_kva)
            if rule.categories is not None:
                codes = [TARIFF_CATEGORIES.index(c) for c in rule.categories]
                holds &= np.isin(category, codes)
            chosen[holds] = rule.standard
        for candidate in table.standards:
            mine = (chosen == candidate.standard) & ~np.isnan(hundredths)
            xs, ys = candidate.knots()
            percent[mine] = np.round(np.interp(hundredths[mine], xs, ys), 6)
        standard[rows] = chosen[rows]
    return percent, standard


def bill(energy: np.ndarray, basic: np.ndarray, percent: np.ndarray) -> np.ndarray:
    """The bill to the cent: (energy + basic charge) x (1 + the adjustment in percent)."""
    return np.round((energy + basic) * (1 + percent / 100), 2)


@dataclass(frozen=True)
class BillParts:
    """Each account-month's bill as charged, its parts, and what the alternatives need."""

    price: np.ndarray  # (n, 3) 元/kWh by period
    has_tou: np.ndarray
    energy: np.ndarray  # unrounded
    by_capacity: np.ndarray
    by_demand: np.ndarray
    pays_basic: np.ndarray
    basic_now: np.ndarray  # by the account's mode
    basic_other: np.ndarray  # by the other mode
    basic_share: np.ndarray  # of the month's basic charge charged (< 1: a suspension)
    switch_every: np.ndarray  # months the basic-charge mode is held at least (the table's)
    power_factor_percent: np.ndarray
    power_factor_standard: np.ndarray

    @property
    def due(self) -> np.ndarray:
        """The amount due (元, to the cent)."""
        return bill(self.energy, self.basic_now, self.power_factor_percent)


def bill_parts(
    tables: TariffTables,
    a: BillAccounts,
    r: MeterMonths,
    suspensions: Suspensions | None = None,
) -> BillParts:
    """Every account-month priced by the tables in force in its month (and its approved
    suspensions, when given). TariffNotInForce when a month has no table in force."""
    company = a.company[r.acc]
    price = _energy_prices(tables, _entries(tables, "energy", company, r.month), a, r.acc)
    has_tou = ~np.isnan(r.kwh).any(axis=1)
    energy = np.where(
        has_tou, (np.nan_to_num(r.kwh) * price).sum(axis=1), r.kwh_total * price[:, 1]
    )
    basic_entry = _entries(tables, "basic_charge", company, r.month)
    by_capacity, by_demand, pays, charged = _basic_charges(tables, basic_entry, a, r, suspensions)
    on_demand = a.on_demand[r.acc]
    pf_entry = _entries(tables, "power_factor", company, r.month)
    percent, standard = _power_factor_percent(tables, pf_entry, a, r)
    return BillParts(
        price=price,
        has_tou=has_tou,
        energy=energy,
        by_capacity=by_capacity,
        by_demand=by_demand,
        pays_basic=pays,
        basic_now=np.where(on_demand, by_demand, by_capacity),
        basic_other=np.where(on_demand, by_capacity, by_demand),
        basic_share=charged,
        switch_every=np.array([e.switch_every_months for e in _all(tables, "basic_charge")])[
            basic_entry
        ],
        power_factor_percent=percent,
        power_factor_standard=standard,
    )
