"""An account's last 12 months of bills recomputed from the tariff tables, beside what was
billed, and the same months under each alternative the rules allow: the other basic-charge
mode, the power factor raised to its standard, a share of peak energy moved to valley, and the
three together. Every account at once, as arrays.

A month's bill (retention.data.tariff_bill: the one implementation, which the simulator bills
with too) is (energy + basic charge) x (1 + the power-factor adjustment), to the cent:
- energy: kWh by time-of-use period at the category's and voltage band's prices; a month
  without time-of-use readings at the flat price;
- basic charge (two-part tariff only): contract capacity x 元/kVA·月, or maximum demand, no
  less than the table's share of capacity, x 元/kW·月 (a month without a maximum demand
  reading cannot be priced by demand); the capacity in force that month: today's, from
  customers, less the capacity orders completed after it (work_orders, when given); during
  an approved suspension (暂停: a completed suspension until the next completed resumption)
  the suspended capacity pays none from the day it is sealed, the month charged for its days
  in use, 1/30 each, up to the table's months of suspension a calendar year;
- power-factor adjustment: the month's power factor rounded to 0.01 against the account's
  standard (none applies, or no reading: no adjustment).
The basic-charge mode may change only every `switch_every_months` (the table's: quarterly by
the national rules), from the start of a calendar period of that many months (quarters for 3,
years for 12): the other mode is an alternative period by period, taken in each period whose
months it would have billed for less. Moving energy from peak to valley leaves the maximum
demand as it was (it may fall too: the saving shown is the least of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention.data.contract import BASIC_CHARGE_MODES
from retention.data.dataset import Dataset
from retention.data.tariff_bill import (
    BillAccounts,
    MeterMonths,
    Suspensions,
    TariffNotInForce,
    bill,
    bill_accounts,
    bill_parts,
)
from retention.tariffs.tables import PERIODS, TariffTables

__all__ = ["TariffNotInForce", "account_comparison", "compare_plans"]

WINDOW_MONTHS = 12
DEFAULT_SHIFT = 0.10  # share of peak kWh moved to valley
ALTERNATIVES = ("other_mode", "pf_standard", "shift", "combined")
PLANS = ("current", *ALTERNATIVES)
SMALLEST_SAVING_CNY = 0.01  # less is the same bill
CAPACITY_ORDERS = ("capacity_increase", "capacity_reduction")


@dataclass(frozen=True)
class TariffComparison:
    """The comparison of every account with months in the window.

    accounts: one row per account (index customer_id): the plans' 12-month bills (bill_<plan>),
      the savings against the current plan (saving_<alternative>; NaN: not open to the
      account), best_plan and best_saving, the recomputed and billed totals and their
      difference, the current and other basic-charge modes and the power-factor standard; how
      often the mode may change (switch_every_months) and how many of the months the other
      mode (other_mode_months) and the combination (combined_other_months) take the other
      mode in, period by period.
    months: one row per account-month: the recomputed bill's parts beside the billed amount.
    """

    accounts: pd.DataFrame
    months: pd.DataFrame
    first_month: pd.Timestamp
    end_month: pd.Timestamp  # the month after the window's last
    shift: float


@dataclass(frozen=True)
class _Rows(MeterMonths):
    """The window's account-months as arrays (acc: the account's position in customers)."""

    billed: np.ndarray  # NaN without a bill


def window(usage: pd.DataFrame, as_of: pd.Timestamp | None) -> tuple[np.datetime64, np.datetime64]:
    """The 12 whole months before `as_of` (default: the month after the latest reading)."""
    if as_of is None:
        end = usage["month"].max().to_datetime64().astype("datetime64[M]") + 1
    else:
        end = np.datetime64(pd.Timestamp(as_of), "M")  # a month under way is not whole yet
    return end - WINDOW_MONTHS, end


def _capacity_in_force(
    customers: pd.DataFrame,
    work_orders: pd.DataFrame | None,
    acc: np.ndarray,
    months: np.ndarray,
    first: np.datetime64,
) -> np.ndarray:
    """Each row's contract capacity: today's (customers), less the changes of the capacity
    orders completed after its month (an order completed in a month bills that month at the
    new capacity). Without work orders, today's for every month."""
    capacity = customers["contract_capacity_kva"].to_numpy(dtype=float)[acc]
    if work_orders is None or work_orders.empty:
        return capacity
    done = work_orders["order_type"].isin(CAPACITY_ORDERS) & (work_orders["status"] == "completed")
    done &= work_orders["completed_at"].notna()
    orders = work_orders[done]
    who = pd.Index(customers["customer_id"]).get_indexer(orders["customer_id"])
    month = orders["completed_at"].to_numpy().astype("datetime64[M]")
    k = (month - first).astype(np.int64)
    keep = (who >= 0) & (k >= 0)  # completed before the window: in every month's capacity
    # changes[a, k]: account a's changes completed in the window's month k (the last column:
    # after the window); a row of month i is owed back every change from month i + 1 on.
    changes = np.zeros((len(customers), WINDOW_MONTHS + 1))
    np.add.at(
        changes,
        (who[keep], np.minimum(k[keep], WINDOW_MONTHS)),
        orders["capacity_change_kva"].to_numpy(dtype=float)[keep],
    )
    later = np.cumsum(changes[:, ::-1], axis=1)[:, ::-1]
    return capacity - later[acc, (months - first).astype(np.int64) + 1]


def suspensions_of(customers: pd.DataFrame, work_orders: pd.DataFrame | None) -> Suspensions | None:
    """The accounts' approved suspensions (暂停), from their completed suspension and
    resumption orders (None without work orders)."""
    if work_orders is None or work_orders.empty:
        return None
    done = work_orders[(work_orders["status"] == "completed") & work_orders["completed_at"].notna()]
    kind = done["order_type"].to_numpy(dtype=object)
    return Suspensions.of(
        acc=pd.Index(customers["customer_id"]).get_indexer(done["customer_id"]),
        suspension=kind == "suspension",
        resumption=kind == "resumption",
        day=done["completed_at"].to_numpy().astype("datetime64[D]").astype(np.int64),
        change=done["capacity_change_kva"].to_numpy(dtype=float),
    )


def _rows(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    billing: pd.DataFrame,
    first: np.datetime64,
    end: np.datetime64,
    work_orders: pd.DataFrame | None = None,
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
        capacity=_capacity_in_force(customers, work_orders, acc, months, first),
        billed=billed,
    )


def compare_plans(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    billing: pd.DataFrame,
    tables: TariffTables,
    as_of: pd.Timestamp | None = None,
    shift: float = DEFAULT_SHIFT,
    work_orders: pd.DataFrame | None = None,
) -> TariffComparison:
    """Every account's 12 months before `as_of` recomputed and priced under each plan.

    Frames in the data contract's columns and dtypes (customers.basic_charge_mode may be
    absent: capacity). Each month is priced at the capacity in force then: today's, less the
    completed capacity orders of `work_orders` after it (without them, today's), its basic
    charge less the capacity an approved suspension of `work_orders` frees. The alternatives
    are priced alike. TariffNotInForce when a month has no table in force.
    """
    if not 0 <= shift <= 1:
        raise ValueError(f"shift {shift}: 须在 0 到 1 之间 / must be between 0 and 1")
    first, end = window(usage, as_of)
    r = _rows(customers, usage, billing, first, end, work_orders)
    a = bill_accounts(customers, tables)
    priced = _monthly_plans(tables, a, r, shift, suspensions_of(customers, work_orders))
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
    "basic_charge_share",
    "power_factor_percent",
    "power_factor_standard",
    "bill_current",
)


def _monthly_plans(
    tables: TariffTables,
    a: BillAccounts,
    r: _Rows,
    shift: float,
    suspensions: Suspensions | None = None,
) -> dict[str, np.ndarray]:
    """Each row's bill under every plan, and the current bill's parts."""
    parts = bill_parts(tables, a, r, suspensions)
    price, energy, has_tou = parts.price, parts.energy, parts.has_tou
    moved = np.where(has_tou, shift * np.nan_to_num(r.kwh[:, 0]) * (price[:, 0] - price[:, 2]), 0)
    shifted = energy - moved
    basic_now, basic_other = parts.basic_now, parts.basic_other
    percent = parts.power_factor_percent
    at_standard = np.minimum(percent, 0)  # surcharges gone, reductions kept
    return {
        "energy_cny": np.round(energy, 2),
        "basic_charge_cny": np.round(basic_now, 2),
        "basic_charge_share": parts.basic_share,
        "power_factor_percent": percent,
        "power_factor_standard": parts.power_factor_standard,
        "bill_current": parts.due,
        "bill_other_mode": bill(energy, basic_other, percent),
        "bill_pf_standard": bill(energy, basic_now, at_standard),
        "bill_shift": bill(shifted, basic_now, percent),
        "combined_now": bill(shifted, basic_now, at_standard),
        "combined_other": bill(shifted, basic_other, at_standard),
        "pays_basic": parts.pays_basic,
        "has_tou": has_tou,
        "switch_every": parts.switch_every,
    }


def _by_period(
    r: _Rows, every: np.ndarray, now: np.ndarray, other: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's bill when the basic-charge mode may change every `every` months, from the
    start of a calendar period (months since 1970-01 divisible by it): in each account's
    period, the other mode where its months there total less (NaN totals: the current mode);
    and whether the row is on the other mode."""
    month = r.month.astype("datetime64[M]").astype(np.int64)
    period = (month // every) * every
    key = (r.acc.astype(np.int64) << 24) + (period << 8) + every
    codes, _ = pd.factorize(key)
    total_now = np.bincount(codes, weights=now)
    total_other = np.bincount(codes, weights=other)
    on_other = (total_other < total_now)[codes]  # NaN compares False
    return np.where(on_other, other, now), on_other


def _by_account(
    customers: pd.DataFrame,
    tables: TariffTables,
    a: BillAccounts,
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
    every = priced["switch_every"]
    monthly_other, other_rows = _by_period(
        r, every, priced["bill_current"], priced["bill_other_mode"]
    )
    monthly_combined, combined_rows = _by_period(
        r, every, priced["combined_now"], priced["combined_other"]
    )
    bills = {plan: total(priced[f"bill_{plan}"]) for plan in ("current", "pf_standard", "shift")}
    bills["other_mode"], bills["combined"] = total(monthly_other), total(monthly_combined)
    other_months, combined_other_months = total(other_rows), total(combined_rows)
    switch = combined_other_months * 2 > months  # the mode of most of the combination's months
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
            "other_mode_months": other_months.astype(int),
            "combined_other_months": combined_other_months.astype(int),
            "switch_every_months": _latest_per_account(r.acc, r.month, every, n),
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
    orders = dataset.work_orders
    return compare_plans(
        customers,
        mine,
        billing[billing["customer_id"] == customer_id],
        tables,
        as_of,
        shift,
        None if orders is None else orders[orders["customer_id"] == customer_id],
    )
