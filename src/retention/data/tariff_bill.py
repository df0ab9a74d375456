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
    tables: TariffTables, entry: np.ndarray, a: BillAccounts, r: MeterMonths
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's basic charge by capacity and by maximum demand (0 for an account that pays
    none; NaN by demand without a demand reading), and whether it pays one."""
    dated = _all(tables, "basic_charge")
    pays_category = np.array([[c in e.categories for c in TARIFF_CATEGORIES] for e in dated])
    least_kva = np.array([e.min_capacity_kva for e in dated])[entry]
    capacity = r.capacity
    pays = pays_category[entry, a.category[r.acc]] & (capacity >= least_kva)
    per_kva = np.array([e.capacity_cny_per_kva_month for e in dated])[entry]
    per_kw = np.array([e.demand_cny_per_kw_month for e in dated])[entry]
    share = np.array([e.min_demand_share_of_capacity for e in dated])[entry]
    by_capacity = np.where(pays, capacity * per_kva, 0.0)
    billed_kw = np.fmax(r.demand, share * capacity)  # fmax: NaN only where demand is NaN...
    billed_kw = np.where(np.isnan(r.demand), np.nan, billed_kw)  # ...which cannot be priced
    by_demand = np.where(pays, billed_kw * per_kw, 0.0)
    return by_capacity, by_demand, pays


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
    power_factor_percent: np.ndarray
    power_factor_standard: np.ndarray

    @property
    def due(self) -> np.ndarray:
        """The amount due (元, to the cent)."""
        return bill(self.energy, self.basic_now, self.power_factor_percent)


def bill_parts(tables: TariffTables, a: BillAccounts, r: MeterMonths) -> BillParts:
    """Every account-month priced by the tables in force in its month. TariffNotInForce when a
    month has no table in force."""
    company = a.company[r.acc]
    price = _energy_prices(tables, _entries(tables, "energy", company, r.month), a, r.acc)
    has_tou = ~np.isnan(r.kwh).any(axis=1)
    energy = np.where(
        has_tou, (np.nan_to_num(r.kwh) * price).sum(axis=1), r.kwh_total * price[:, 1]
    )
    basic_entry = _entries(tables, "basic_charge", company, r.month)
    by_capacity, by_demand, pays = _basic_charges(tables, basic_entry, a, r)
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
        power_factor_percent=percent,
        power_factor_standard=standard,
    )
