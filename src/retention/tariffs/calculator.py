"""An account's last 12 months of bills recomputed from the tariff tables, beside what was
billed, and the same months under each alternative the rules allow: the other basic-charge
mode, the power factor raised to its standard, a share of peak energy moved to valley, and the
three together. Every account at once, as arrays.

A month's bill is (energy + basic charge) x (1 + the power-factor adjustment), to the cent:
- energy: kWh by time-of-use period at the category's and voltage band's prices; a month
  without time-of-use readings at the flat price;
- basic charge (two-part tariff only): contract capacity x 元/kVA·月, or maximum demand, no
  less than the table's share of capacity, x 元/kW·月 (a month without a maximum demand
  reading cannot be priced by demand); the capacity is today's, from customers;
- power-factor adjustment: the month's power factor rounded to 0.01 against the account's
  standard (none applies, or no reading: no adjustment).
Moving energy from peak to valley leaves the maximum demand as it was (it may fall too: the
saving shown is the least of it).
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
from retention.data.dataset import Dataset
from retention.tariffs.tables import PERIODS, TariffTables

WINDOW_MONTHS = 12
DEFAULT_SHIFT = 0.10  # share of peak kWh moved to valley
ALTERNATIVES = ("other_mode", "pf_standard", "shift", "combined")
PLANS = ("current", *ALTERNATIVES)
SMALLEST_SAVING_CNY = 0.01  # less is the same bill


class TariffNotInForce(ValueError):
    """A month the data has but no entry of a table covers (before its first valid_from)."""


@dataclass(frozen=True)
class TariffComparison:
    """The comparison of every account with months in the window.

    accounts: one row per account (index customer_id): the plans' 12-month bills (bill_<plan>),
      the savings against the current plan (saving_<alternative>; NaN: not open to the
      account), best_plan and best_saving, the recomputed and billed totals and their
      difference, the current and other basic-charge modes and the power-factor standard.
    months: one row per account-month: the recomputed bill's parts beside the billed amount.
    """

    accounts: pd.DataFrame
    months: pd.DataFrame
    first_month: pd.Timestamp
    end_month: pd.Timestamp  # the month after the window's last
    shift: float


@dataclass(frozen=True)
class _Rows:
    """The window's account-months as arrays (acc: the account's position in customers)."""

    acc: np.ndarray
    month: np.ndarray  # datetime64[M]
    kwh: np.ndarray  # (n, 3) peak, flat, valley; NaN without time-of-use readings
    kwh_total: np.ndarray
    demand: np.ndarray
    power_factor: np.ndarray
    billed: np.ndarray  # NaN without a bill


def window(usage: pd.DataFrame, as_of: pd.Timestamp | None) -> tuple[np.datetime64, np.datetime64]:
    """The 12 whole months before `as_of` (default: the month after the latest reading)."""
    if as_of is None:
        end = usage["month"].max().to_datetime64().astype("datetime64[M]") + 1
    else:
        end = np.datetime64(pd.Timestamp(as_of), "M")  # a month under way is not whole yet
    return end - WINDOW_MONTHS, end


def _rows(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    billing: pd.DataFrame,
    first: np.datetime64,
    end: np.datetime64,
) -> _Rows:
    months = usage["month"].to_numpy().astype("datetime64[M]")
    ids = pd.Index(customers["customer_id"])
    acc = ids.get_indexer(usage["customer_id"])
    keep = (months >= first) & (months < end) & (acc >= 0)
    acc, months = acc[keep], months[keep]
    # Bills found by one int64 key per (account, month) rather than a merge on strings.
    span = np.int64(WINDOW_MONTHS)
    key = acc.astype(np.int64) * span + (months - first).astype(np.int64)
    bill_months = billing["month"].to_numpy().astype("datetime64[M]")
    bill_acc = ids.get_indexer(billing["customer_id"])
    in_window = (bill_months >= first) & (bill_months < end) & (bill_acc >= 0)
    bill_key = bill_acc[in_window].astype(np.int64) * span + (
        bill_months[in_window] - first
    ).astype(np.int64)
    found = pd.Index(bill_key).get_indexer(key)
    due = billing["amount_due_cny"].to_numpy(dtype=float)[in_window]
    billed = np.append(due, np.nan)[found]  # not found (-1): the NaN after the bills

    def column(name: str) -> np.ndarray:
        return usage[name].to_numpy(dtype=float, na_value=np.nan)[keep]

    kwh = np.column_stack([column(f"kwh_{period}") for period in PERIODS])
    return _Rows(
        acc=acc,
        month=months,
        kwh=kwh,
        kwh_total=column("kwh_total"),
        demand=column("max_demand_kw"),
        power_factor=column("power_factor"),
        billed=billed,
    )


@dataclass(frozen=True)
class _Accounts:
    """What prices an account, as arrays in the order of customers."""

    company: np.ndarray  # index into tables.companies
    category: np.ndarray  # index into TARIFF_CATEGORIES
    voltage: np.ndarray  # index into VOLTAGES_KV
    capacity: np.ndarray
    on_demand: np.ndarray  # billed by maximum demand today


def _accounts(customers: pd.DataFrame, tables: TariffTables) -> _Accounts:
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
    return _Accounts(
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
    tables: TariffTables, entry: np.ndarray, a: _Accounts, acc: np.ndarray
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
    tables: TariffTables, entry: np.ndarray, a: _Accounts, r: _Rows
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's basic charge by capacity and by maximum demand (0 for an account that pays
    none; NaN by demand without a demand reading), and whether it pays one."""
    dated = _all(tables, "basic_charge")
    pays_category = np.array([[c in e.categories for c in TARIFF_CATEGORIES] for e in dated])
    least_kva = np.array([e.min_capacity_kva for e in dated])[entry]
    capacity = a.capacity[r.acc]
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
    tables: TariffTables, entry: np.ndarray, a: _Accounts, r: _Rows
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's adjustment in percent of the bill (+ surcharge, - reduction) and its
    account's standard (NaN: none applies)."""
    percent = np.zeros(r.acc.size)
    standard = np.full(r.acc.size, np.nan)
    # Rounded half up to 0.01, in whole hundredths so the bands' steps are exact.
    hundredths = np.floor(r.power_factor * 100 + 0.5 + 1e-9)
    category, capacity = a.category[r.acc], a.capacity[r.acc]
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


def _bill(energy: np.ndarray, basic: np.ndarray, percent: np.ndarray) -> np.ndarray:
    return np.round((energy + basic) * (1 + percent / 100), 2)


def compare_plans(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    billing: pd.DataFrame,
    tables: TariffTables,
    as_of: pd.Timestamp | None = None,
    shift: float = DEFAULT_SHIFT,
) -> TariffComparison:
    """Every account's 12 months before `as_of` recomputed and priced under each plan.

    Frames in the data contract's columns and dtypes (customers.basic_charge_mode may be
    absent: capacity). TariffNotInForce when a month has no table in force.
    """
    if not 0 <= shift <= 1:
        raise ValueError(f"shift {shift}: 须在 0 到 1 之间 / must be between 0 and 1")
    first, end = window(usage, as_of)
    r = _rows(customers, usage, billing, first, end)
    a = _accounts(customers, tables)
    company = a.company[r.acc]
    priced = _monthly_plans(tables, a, r, company, shift)
    accounts = _by_account(customers, tables, a, r, priced)
    months = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[r.acc],
            "month": r.month.astype("datetime64[us]"),
            **{k: priced[k] for k in _MONTH_COLUMNS},
            "billed_cny": r.billed,
            "difference_cny": priced["bill_current"] - r.billed,
        }
    )
    return TariffComparison(accounts, months, pd.Timestamp(first), pd.Timestamp(end), float(shift))


_MONTH_COLUMNS = (
    "energy_cny",
    "basic_charge_cny",
    "power_factor_percent",
    "power_factor_standard",
    "bill_current",
)


def _monthly_plans(
    tables: TariffTables, a: _Accounts, r: _Rows, company: np.ndarray, shift: float
) -> dict[str, np.ndarray]:
    """Each row's bill under every plan, and the current bill's parts."""
    price = _energy_prices(tables, _entries(tables, "energy", company, r.month), a, r.acc)
    has_tou = ~np.isnan(r.kwh).any(axis=1)
    energy = np.where(
        has_tou, (np.nan_to_num(r.kwh) * price).sum(axis=1), r.kwh_total * price[:, 1]
    )
    moved = np.where(has_tou, shift * np.nan_to_num(r.kwh[:, 0]) * (price[:, 0] - price[:, 2]), 0)
    shifted = energy - moved
    basic_entry = _entries(tables, "basic_charge", company, r.month)
    by_capacity, by_demand, pays = _basic_charges(tables, basic_entry, a, r)
    on_demand = a.on_demand[r.acc]
    basic_now = np.where(on_demand, by_demand, by_capacity)
    basic_other = np.where(on_demand, by_capacity, by_demand)
    pf_entry = _entries(tables, "power_factor", company, r.month)
    percent, standard = _power_factor_percent(tables, pf_entry, a, r)
    at_standard = np.minimum(percent, 0)  # surcharges gone, reductions kept
    return {
        "energy_cny": np.round(energy, 2),
        "basic_charge_cny": np.round(basic_now, 2),
        "power_factor_percent": percent,
        "power_factor_standard": standard,
        "bill_current": _bill(energy, basic_now, percent),
        "bill_other_mode": _bill(energy, basic_other, percent),
        "bill_pf_standard": _bill(energy, basic_now, at_standard),
        "bill_shift": _bill(shifted, basic_now, percent),
        "combined_now": _bill(shifted, basic_now, at_standard),
        "combined_other": _bill(shifted, basic_other, at_standard),
        "pays_basic": pays,
        "has_tou": has_tou,
    }


def _by_account(
    customers: pd.DataFrame,
    tables: TariffTables,
    a: _Accounts,
    r: _Rows,
    priced: dict[str, np.ndarray],
) -> pd.DataFrame:
    """The plans' 12-month totals per account (a NaN month makes its plan's total NaN: a
    bill that cannot be priced is not shown as a smaller one), the savings and the best."""
    n = len(customers)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(r.acc, weights=values.astype(float), minlength=n)

    months = np.bincount(r.acc, minlength=n)
    has = months > 0
    bills = {plan: total(priced[f"bill_{plan}"]) for plan in PLANS if plan != "combined"}
    now, other = total(priced["combined_now"]), total(priced["combined_other"])
    switch = other < now  # NaN compares False: the other mode only where it can be priced
    bills["combined"] = np.where(switch, other, now)
    pays = total(priced["pays_basic"]) > 0
    bills["other_mode"] = np.where(pays, bills["other_mode"], np.nan)
    bills["shift"] = np.where(total(priced["has_tou"]) > 0, bills["shift"], np.nan)
    savings = {plan: bills["current"] - bills[plan] for plan in ALTERNATIVES}
    stacked = np.column_stack([np.nan_to_num(savings[p], nan=-np.inf) for p in ALTERNATIVES])
    best = stacked.argmax(axis=1)
    best_saving = stacked[np.arange(n), best]
    worthwhile = best_saving >= SMALLEST_SAVING_CNY
    billed_months = ~np.isnan(r.billed)
    mode_now = np.where(a.on_demand, BASIC_CHARGE_MODES[1], BASIC_CHARGE_MODES[0])
    mode_other = np.where(a.on_demand, BASIC_CHARGE_MODES[0], BASIC_CHARGE_MODES[1])
    recomputed = total(np.where(billed_months, priced["bill_current"], 0.0))
    billed = total(np.where(billed_months, r.billed, 0.0))
    billed_count = np.bincount(r.acc, weights=billed_months, minlength=n).astype(int)
    frame = pd.DataFrame(
        {
            "company": np.array(list(tables.companies), dtype=object)[a.company],
            "months": months,
            "billed_months": billed_count,
            "basic_charge_mode": mode_now,
            "other_mode": np.where(pays, mode_other, np.array(None, dtype=object)),
            "combined_mode": np.where(switch & pays, mode_other, mode_now),
            "power_factor_standard": _latest_per_account(
                r.acc, r.month, priced["power_factor_standard"], n
            ),
            **{f"bill_{plan}": np.round(bills[plan], 2) for plan in PLANS},
            **{f"saving_{plan}": np.round(savings[plan], 2) for plan in ALTERNATIVES},
            "best_plan": np.where(
                worthwhile, np.array(ALTERNATIVES, dtype=object)[best], "current"
            ),
            "best_saving": np.where(worthwhile, np.round(best_saving, 2), 0.0),
            "recomputed_cny": np.round(recomputed, 2),
            "billed_cny": np.round(billed, 2),
            # no bill to compare with: no difference (not a zero one)
            "difference_cny": np.where(billed_count > 0, np.round(recomputed - billed, 2), np.nan),
        },
        index=pd.Index(customers["customer_id"].to_numpy(), name="customer_id"),
    )
    return frame[has]


def _latest_per_account(
    acc: np.ndarray, month: np.ndarray, values: np.ndarray, n: int
) -> np.ndarray:
    """The value of each account's latest month (the standard in force at the window's end)."""
    order = np.lexsort((month, acc))
    ordered = acc[order]
    last = np.r_[ordered[1:] != ordered[:-1], True]
    out = np.full(n, np.nan)
    out[ordered[last]] = values[order][last]
    return out


class UnknownCustomer(KeyError):
    """A customer id that is not in customers."""

    def __str__(self) -> str:
        return f"户号 {self.args[0]} 不在客户档案中 / customer {self.args[0]} is not in customers"


def account_comparison(
    dataset: Dataset,
    tables: TariffTables,
    customer_id: str,
    as_of: pd.Timestamp | None = None,
    shift: float = DEFAULT_SHIFT,
) -> TariffComparison:
    """One account's comparison (the window as for the whole dataset: by default the 12
    months before the month after the latest reading of any account)."""
    customers = dataset.customers[dataset.customers["customer_id"] == customer_id]
    if customers.empty:
        raise UnknownCustomer(customer_id)
    usage = dataset.monthly_usage
    if as_of is None:
        as_of = pd.Timestamp(window(usage, None)[1])
    mine = usage[usage["customer_id"] == customer_id]
    billing = dataset.monthly_billing
    return compare_plans(
        customers, mine, billing[billing["customer_id"] == customer_id], tables, as_of, shift
    )
