"""The simulator bills by the tariff tables: the tariff plan's recomputation of its bills, with
the same tables, equals them to the cent; some accounts are on the costlier basic-charge mode
and some below their power-factor standard, so the plan finds savings in both."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention.data.checks import validate_tables
from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, SimulationResult, simulate
from retention.data.simulator.bills import with_scenarios
from retention.data.simulator.scenarios import Scenario
from retention.tariffs.calculator import TariffComparison, compare_plans
from retention.tariffs.tables import TariffTables, load_tariffs

CAPACITY_CHANGES = ("capacity_increase", "capacity_reduction", "suspension")


def _dataset(result: SimulationResult) -> Dataset:
    report = validate_tables(result.tables)
    assert report.dataset is not None, "the simulated dataset passes the contract"
    return report.dataset


def _every_month(data: Dataset, tables: TariffTables, orders: bool = True) -> pd.DataFrame:
    """Every account-month recomputed, window after window back from the last month (at the
    capacity the work orders leave each month; orders=False: at today's)."""
    months = data.monthly_usage["month"]
    first, end = months.min(), months.max() + pd.offsets.MonthBegin(1)
    parts = []
    as_of = end
    while as_of > first:
        c: TariffComparison = compare_plans(
            data.customers,
            data.monthly_usage,
            data.monthly_billing,
            tables,
            as_of,
            work_orders=data.work_orders if orders else None,
        )
        parts.append(c.months[c.months["month"] >= max(first, c.first_month)])
        as_of = c.first_month
    return pd.concat(parts, ignore_index=True)


def _capacity_changed(data: Dataset, kinds: tuple[str, ...] = CAPACITY_CHANGES) -> set[str]:
    """Accounts with a completed capacity increase, reduction or suspension."""
    orders = data.work_orders
    done = orders["order_type"].isin(kinds) & (orders["status"] == "completed")
    return set(orders.loc[done, "customer_id"])


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_recomputed_bills_equal_the_simulated_ones_to_the_cent(seed: int) -> None:
    # Given a small simulation billed by the shipped tables,
    data = _dataset(simulate(SimulationConfig(accounts=200, months=25, seed=seed)))

    # when the tariff plan recomputes every account-month with those tables,
    months = _every_month(data, load_tariffs())

    # then every month is priced and billed, and equals the bill to the cent, the months of
    # an approved suspension (a basic charge freed of its sealed days) included.
    assert len(months) == len(data.monthly_billing)
    assert months["billed_cny"].notna().all() and months["bill_current"].notna().all()
    assert (np.round(months["difference_cny"].to_numpy() * 100) == 0).all()
    share = months["basic_charge_share"]
    assert ((share > 0) & (share < 1)).any() and (share == 0).any()


def test_without_the_work_orders_a_changed_capacity_shows_as_a_difference() -> None:
    # Given a simulation in which some accounts changed or suspended their capacity,
    data = _dataset(simulate(SimulationConfig(accounts=200, months=25, seed=3)))
    changed = _capacity_changed(data)
    assert changed

    # when it is recomputed at today's capacity for every month, no suspension known,
    months = _every_month(data, load_tariffs(), orders=False)

    # then the months priced at a capacity the account no longer has differ, and are shown:
    # only accounts that changed capacity, every other month to the cent.
    cents = np.round(months["difference_cny"].to_numpy() * 100)
    assert (cents != 0).any()
    assert set(months.loc[cents != 0, "customer_id"]) <= changed
    suspended_only = changed - _capacity_changed(data, CAPACITY_CHANGES[:2])
    assert (cents[months["customer_id"].isin(suspended_only)] != 0).any()
    assert (cents[~months["customer_id"].isin(changed)] == 0).all()


def test_a_tariff_reform_bills_by_the_tables_with_its_dated_entry() -> None:
    # Given a simulation with large industry 30% dearer from 2025-06,
    reform = (Scenario("tariff_reform", "2025-06", "large_industry", 0.3),)
    config = SimulationConfig(accounts=150, months=25, seed=5, scenarios=reform)
    data = _dataset(simulate(config))

    # when it is recomputed with the tables and the reform as an entry valid from its month,
    months = _every_month(data, with_scenarios(load_tariffs(), reform))

    # then the bills match again (the shipped tables alone price them lower from then).
    assert (np.round(months["difference_cny"] * 100) == 0).all()
    shipped = _every_month(data, load_tariffs())
    industry = data.customers.loc[
        data.customers["tariff_category"] == "large_industry", "customer_id"
    ]
    after = months["customer_id"].isin(industry) & (months["month"] >= "2025-06")
    assert after.any()
    assert (shipped.loc[after, "difference_cny"] < 0).all()


def test_some_accounts_pay_the_costlier_basic_charge_or_a_power_factor_surcharge(
    simulation: SimulationResult,
) -> None:
    # Given the session's simulated portfolio,
    data = _dataset(simulation)

    # when the tariff plan compares every account's last 12 months,
    accounts = compare_plans(
        data.customers, data.monthly_usage, data.monthly_billing, load_tariffs()
    ).accounts

    # then both basic-charge modes are written, some accounts on either would save by the
    # other, and some pay a surcharge for a power factor below their standard.
    modes = data.customers["basic_charge_mode"].value_counts()
    assert modes.get("capacity", 0) > 0 and modes.get("demand", 0) > 0
    saves = accounts[accounts["saving_other_mode"] > 0]
    assert set(saves["basic_charge_mode"]) == {"capacity", "demand"}
    assert (accounts["saving_pf_standard"] > 0).sum() >= 0.02 * len(accounts)
