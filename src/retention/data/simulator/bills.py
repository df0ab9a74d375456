"""The simulator's billing system: every account-month's amount due made from the tariff tables
by retention.data.tariff_bill, the code the tariff plan recomputes bills with, so a
recomputation with the same tables matches to the cent.

What a bill says about an account is carried by the tariff's own inputs, as on a real bill: the
meter readings as recorded (kWh by time of use, the maximum demand to 0.1 kW, the power factor
to 0.001, a missing reading as missing), the contract capacity in force that month, the basic-
charge mode (customers.basic_charge_mode) and the tables' dated entries (a price change from its
valid_from month). A price-driven account in trouble shows it through a falling power factor
(engine._meter_readings) and so through the power-factor surcharge; a capacity reduction
through the basic charge from the month its work order is completed (capacity_in_force); an
approved suspension (暂停) through the basic charge its sealed days are freed of
(suspensions_of, read from the work orders as the tariff plan reads them). A
`tariff_reform` scenario is a dated energy entry added to the tables: the simulated bills
match a recomputation with those tables (with_scenarios), not the shipped ones, from the
scenario's month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from retention.data.contract import BASIC_CHARGE_MODES
from retention.data.simulator.portfolio import TARIFFS, Portfolio
from retention.data.simulator.profiles import REGIONS
from retention.data.simulator.scenarios import Scenario
from retention.data.tariff_bill import (
    BillAccounts,
    MeterMonths,
    Suspensions,
    bill_accounts,
    bill_parts,
)
from retention.data.tariff_tables import PERIODS, TariffTables


def basic_charge_modes(p: Portfolio) -> np.ndarray:
    """Each account's basic-charge mode as customers.basic_charge_mode writes it."""
    return np.where(p.demand_charged, BASIC_CHARGE_MODES[1], BASIC_CHARGE_MODES[0])


def _scaled(entry: dict[str, Any], category: str, change: float) -> dict[str, Any]:
    prices = dict(entry["prices"])
    prices[category] = [
        {**band, **{period: round(band[period] * (1 + change), 6) for period in PERIODS}}
        for band in prices[category]
    ]
    return {**entry, "prices": prices}


def with_scenarios(tables: TariffTables, scenarios: tuple[Scenario, ...]) -> TariffTables:
    """The tables with each tariff_reform scenario as an energy entry valid from its month (a
    copy of the entry then in force, its category's prices changed by `change`), later entries
    changed alike; a scenario before a company's first entry changes its entries from then."""
    raw = tables.model_dump()
    for scenario in sorted(scenarios, key=lambda s: s.start):
        if scenario.kind != "tariff_reform":
            continue
        for company in raw["companies"].values():
            entries = list(company["energy"])  # in month order (the tables sort them)
            before = [e for e in entries if e["valid_from"] < scenario.start]
            after = [e for e in entries if e["valid_from"] >= scenario.start]
            if before and (not after or after[0]["valid_from"] != scenario.start):
                after.insert(0, {**before[-1], "valid_from": scenario.start})
            company["energy"] = before + [
                _scaled(e, scenario.target, scenario.change) for e in after
            ]
    return TariffTables.model_validate(raw)


def from_month(tables: TariffTables, first: np.datetime64) -> TariffTables:
    """The tables with every table's first entry valid from `first` if it starts later: data
    may start in any month, and months before a table's first entry are billed as by it (a
    recomputation of those months needs tables that reach back to them)."""
    raw = tables.model_dump()
    month = str(first.astype("datetime64[M]"))
    for company in raw["companies"].values():
        for name in ("energy", "basic_charge", "power_factor"):
            entries = company[name] = list(company[name])
            entries[0] = {**entries[0], "valid_from": min(entries[0]["valid_from"], month)}
    return TariffTables.model_validate(raw)


@dataclass(frozen=True, eq=False)
class Biller:
    """The tables the bills are made by and what prices each account but its capacity (which
    changes with its work orders, and is given month by month)."""

    tables: TariffTables
    accounts: BillAccounts

    @classmethod
    def of(
        cls,
        p: Portfolio,
        tables: TariffTables,
        scenarios: tuple[Scenario, ...],
        first: np.datetime64,
    ) -> Biller:
        """The biller of the accounts of `p`, for data from month `first`."""
        tables = with_scenarios(from_month(tables, first), scenarios)
        customers = pd.DataFrame(
            {
                "region": np.array([name for name, _, _ in REGIONS], dtype=object)[p.region],
                "tariff_category": np.array(TARIFFS, dtype=object)[p.tariff],
                "voltage_kv": p.voltage_kv.astype(float),
                "contract_capacity_kva": p.capacity_kva.astype(float),
                "basic_charge_mode": basic_charge_modes(p),
            }
        )
        return cls(tables, bill_accounts(customers, tables))

    def due(
        self,
        idx: np.ndarray,
        month: np.datetime64,
        capacity: np.ndarray,
        recorded: dict[str, np.ndarray],
        suspensions: Suspensions | None = None,
    ) -> np.ndarray:
        """The amounts due of the accounts `idx` in `month` (元, to the cent), from the readings
        as the usage table records them (`recorded`: its columns), their contract capacity
        in force (`capacity`, in the order of `idx`) and the approved suspensions."""
        readings = MeterMonths(
            acc=idx,
            month=np.full(idx.size, month, dtype="datetime64[M]"),
            kwh=np.column_stack([recorded[f"kwh_{period}"] for period in PERIODS]),
            kwh_total=recorded["kwh_total"],
            demand=recorded["max_demand_kw"],
            power_factor=recorded["power_factor"],
            capacity=np.asarray(capacity, dtype=float),
        )
        return bill_parts(self.tables, self.accounts, readings, suspensions).due


def capacity_in_force(
    start: np.ndarray, orders: dict[str, np.ndarray], kinds: tuple[int, ...], before_s: int
) -> np.ndarray:
    """Every account's contract capacity as the billing system has it: its capacity at the
    start of the data plus the changes of the capacity orders (`kinds`) completed before
    `before_s` (seconds), the rule the tariff plan reads the work orders by. The load may have
    moved the day an order was applied; the bill moves when the order is completed."""
    capacity = np.asarray(start, dtype=float).copy()
    if not orders or orders["who"].size == 0:
        return capacity
    completed = orders["completed"]
    done = (
        np.isin(orders["kind"], kinds)
        & (completed >= 0)
        & (completed < before_s)
        & ~orders["cancelled"]
    )
    np.add.at(capacity, orders["who"][done], orders["change"][done])
    return capacity


def suspensions_of(
    orders: dict[str, np.ndarray], suspend: int, resume: int, day_s: int
) -> Suspensions | None:
    """The approved suspensions as the billing system has them: the completed, not cancelled
    suspension orders (kind `suspend`) each until the account's next resumption (`resume`),
    in days (`day_s` seconds a day), as the tariff plan reads them from work_orders."""
    if not orders or orders["who"].size == 0:
        return None
    done = (orders["completed"] >= 0) & ~orders["cancelled"]
    kind = orders["kind"][done]
    return Suspensions.of(
        acc=orders["who"][done],
        suspension=kind == suspend,
        resumption=kind == resume,
        day=orders["completed"][done] // day_s,
        change=orders["change"][done],
    )
