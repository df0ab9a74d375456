"""Each plan's bill and saving equal a hand computation on one-month accounts (round prices:
large industry below 35 kV at peak 1.0 / flat 0.6 / valley 0.3 元/kWh, from 35 kV at
0.9 / 0.5 / 0.25; basic charge 20 元/kVA or 30 元/kW, demand no less than 40% of capacity;
the national power-factor tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retention.data.checks import validate_tables
from retention.data.simulator import SimulationResult
from retention.tariffs.calculator import TariffNotInForce, compare_plans
from retention.tariffs.report import plan_label
from retention.tariffs.tables import TariffTables, load_tariffs

from .conftest import account_tables, write_tables

AS_OF = pd.Timestamp("2024-07-01")

# A: 10 kV, 1000 kVA by capacity, demand 500 kW, power factor 0.93 (standard 0.90: -0.45%).
#    energy 10000 x 1.0 + 20000 x 0.6 + 10000 x 0.3 = 25000; by capacity 20000, by demand
#    max(500, 400) x 30 = 15000.
A = dict(customer_id="A", tariff_category="large_industry", voltage_kv=10.0, capacity=1000,
         mode="capacity", peak=10000, flat=20000, valley=10000, demand=500, pf=0.93,
         billed=44897.50)  # fmt: skip
# B: 110 kV, 2000 kVA by demand, demand 600 kW (billed at 40% of capacity: 800 kW), power
#    factor 0.86 (standard 0.90: +4 x 0.5% = +2%). energy 20000 x 0.9 + 40000 x 0.5 +
#    40000 x 0.25 = 48000; by demand 24000, by capacity 40000.
B = dict(customer_id="B", tariff_category="large_industry", voltage_kv=110.0, capacity=2000,
         mode="demand", peak=20000, flat=40000, valley=40000, demand=600, pf=0.86)  # fmt: skip
# C: general commercial, 200 kVA (standard 0.85), no basic charge, no time-of-use readings:
#    10000 kWh at flat 0.7 = 7000; power factor 0.80: +5 x 0.5% = +2.5%.
C = dict(customer_id="C", tariff_category="general_commercial", voltage_kv=10.0, capacity=200,
         kwh_total=10000, pf=0.80)  # fmt: skip
# D: other, 50 kVA: below every standard's capacity, no adjustment whatever its power factor.
D = dict(customer_id="D", tariff_category="other", voltage_kv=0.4, capacity=50,
         peak=1000, flat=1000, valley=1000, pf=0.50)  # fmt: skip


def _compare(tables: TariffTables, *accounts: dict[str, Any], shift: float = 0.1) -> Any:
    frames = account_tables(list(accounts))
    return compare_plans(
        frames["customers"],
        frames["monthly_usage"],
        frames["monthly_billing"],
        tables,
        as_of=AS_OF,
        shift=shift,
    )


def test_capacity_charged_account_saves_by_demand_and_by_shifting(tables: TariffTables) -> None:
    # Given A, billed 100 元 more than the tables give,
    result = _compare(tables, A).accounts.loc["A"]

    # then its current bill is 45000 x 0.9955, by demand 40000 x 0.9955; moving 10% of peak
    # to valley takes 1000 kWh x (1.0 - 0.3) = 700 off the energy; its power factor is above
    # the standard, so raising it saves nothing; together: (24300 + 15000) x 0.9955.
    assert result["bill_current"] == pytest.approx(44797.50)
    assert result["saving_other_mode"] == pytest.approx(44797.50 - 39820.00)
    assert result["saving_pf_standard"] == 0
    assert result["saving_shift"] == pytest.approx(44797.50 - 44100.65)
    assert result["saving_combined"] == pytest.approx(44797.50 - 39123.15)
    assert (result["best_plan"], result["combined_mode"]) == ("combined", "demand")
    assert result["difference_cny"] == pytest.approx(-100.0)
    assert result["power_factor_standard"] == 0.90


def test_demand_charged_account_below_its_floor_keeps_its_mode(tables: TariffTables) -> None:
    result = _compare(tables, B).accounts.loc["B"]

    # Current: (48000 + 24000) x 1.02; by capacity (48000 + 40000) x 1.02 costs more, so it
    # stays by demand; at the
    # standard 72000; shifting takes 2000 x (0.9 - 0.25) = 1300 off; together, by demand
    # still: 46700 + 24000.
    assert result["bill_current"] == pytest.approx(73440.00)
    # by capacity costs more in every quarter: the other mode is taken in none of them.
    assert result["saving_other_mode"] == 0 and result["other_mode_months"] == 0
    assert result["saving_pf_standard"] == pytest.approx(1440.00)
    assert result["saving_shift"] == pytest.approx(73440.00 - 72114.00)
    assert result["saving_combined"] == pytest.approx(73440.00 - 70700.00)
    assert (result["best_plan"], result["combined_mode"]) == ("combined", "demand")
    assert result["billed_months"] == 0 and np.isnan(result["difference_cny"])  # no bill


def test_an_account_without_basic_charge_or_time_of_use_can_only_raise_its_power_factor(
    tables: TariffTables,
) -> None:
    result = _compare(tables, C, D).accounts

    c, d = result.loc["C"], result.loc["D"]
    assert c["bill_current"] == pytest.approx(7175.00)
    assert np.isnan(c["saving_other_mode"]) and np.isnan(c["saving_shift"])
    assert c["other_mode"] is None
    assert c["saving_pf_standard"] == pytest.approx(175.00) == c["saving_combined"]
    assert (c["best_plan"], c["power_factor_standard"]) == ("pf_standard", 0.85)
    # D: 3000 kWh at 0.5, no standard applies below 100 kVA: nothing to save.
    assert d["bill_current"] == pytest.approx(1500.00)
    assert np.isnan(d["power_factor_standard"])
    assert (d["best_plan"], d["best_saving"]) == ("current", 0.0)


def test_the_shift_is_a_parameter(tables: TariffTables) -> None:
    none, half = (_compare(tables, A, shift=s).accounts.loc["A"] for s in (0.0, 0.5))

    assert none["saving_shift"] == 0
    # Half of 10000 peak kWh at 1.0 - 0.3, with A's -0.45%: 3500 x 0.9955.
    assert half["saving_shift"] == pytest.approx(3484.25)
    with pytest.raises(ValueError, match="shift"):
        _compare(tables, A, shift=1.5)


# The national tables (功率因数调整电费办法), percent of the bill: + surcharge, - reduction.
NATIONAL = {
    (0.90, "large_industry", 1000): {
        1.00: -0.75, 0.95: -0.75, 0.94: -0.60, 0.91: -0.15, 0.90: 0.0, 0.89: 0.5, 0.70: 10.0,
        0.69: 11.0, 0.65: 15.0, 0.64: 17.0, 0.60: 25.0, 0.895: 0.0, 0.8949: 0.5,
    },
    (0.85, "general_commercial", 200): {
        1.00: -1.10, 0.94: -1.10, 0.93: -0.95, 0.91: -0.65, 0.90: -0.5, 0.86: -0.1, 0.85: 0.0,
        0.84: 0.5, 0.65: 10.0, 0.64: 11.0, 0.60: 15.0, 0.59: 17.0,
    },
    (0.80, "other", 200): {
        1.00: -1.30, 0.92: -1.30, 0.91: -1.15, 0.90: -1.0, 0.81: -0.1, 0.80: 0.0, 0.79: 0.5,
        0.60: 10.0, 0.59: 11.0, 0.55: 15.0, 0.54: 17.0,
    },
}  # fmt: skip


@pytest.mark.parametrize("standard", list(NATIONAL), ids=lambda s: f"{s[0]:.2f}")
def test_power_factor_adjustment_follows_every_band_of_the_table(
    tables: TariffTables, standard: tuple[float, str, int]
) -> None:
    # Given one account per power factor, all with the same standard,
    value, category, capacity = standard
    table = NATIONAL[standard]
    accounts = [
        dict(
            customer_id=f"P{i}",
            tariff_category=category,
            voltage_kv=10.0,
            capacity=capacity,
            kwh_total=10000,
            pf=pf,
        )
        for i, pf in enumerate(table)
    ]
    months = _compare(tables, *accounts).months.set_index("customer_id")

    # then each month's adjustment is the table's.
    got = dict(
        zip(table, months.loc[[a["customer_id"] for a in accounts]].to_dict("records"), strict=True)
    )
    assert {pf: row["power_factor_percent"] for pf, row in got.items()} == pytest.approx(table)
    assert {row["power_factor_standard"] for row in got.values()} == {value}


def test_a_tariff_change_applies_from_its_month(raw_tables: dict[str, Any], tmp_path: Path) -> None:
    # Given a second energy table from 2024-06 with large industry's flat price at 0.8,
    energy = raw_tables["companies"]["test"]["energy"]
    changed = {**energy[0], "valid_from": "2024-06"}
    changed["prices"] = {**changed["prices"], "large_industry": [
        {"from_kv": 0, "peak": 1.0, "flat": 0.8, "valley": 0.3}
    ]}  # fmt: skip
    energy.append(changed)
    tables = load_tariffs(write_tables(raw_tables, tmp_path))
    frames = account_tables([{**A, "billed": None}])
    may = frames["monthly_usage"].assign(month=pd.Timestamp("2024-05-01"))
    usage = pd.concat([may, frames["monthly_usage"]], ignore_index=True)

    months = compare_plans(frames["customers"], usage, frames["monthly_billing"], tables, AS_OF)

    # then May is priced by the first table (25000) and June by the second (+20000 x 0.2).
    assert list(months.months["energy_cny"]) == [25000.0, 29000.0]


def test_a_month_before_every_table_is_an_error_naming_it(tables: TariffTables) -> None:
    frames = account_tables([A])
    old = frames["monthly_usage"].assign(month=pd.Timestamp("2023-12-01"))

    with pytest.raises(TariffNotInForce, match=r"companies\.test\.energy: 2023-12"):
        compare_plans(frames["customers"], old, frames["monthly_billing"], tables, AS_OF)


def test_a_month_that_cannot_be_priced_by_demand_is_not_shown_as_a_saving(
    tables: TariffTables,
) -> None:
    # Given B on demand without a maximum demand reading,
    result = _compare(tables, {**B, "demand": np.nan}).accounts.loc["B"]

    # then its bill cannot be recomputed and nothing is recommended.
    assert np.isnan(result["bill_current"])
    assert (result["best_plan"], result["best_saving"]) == ("current", 0.0)


def test_on_simulated_data_every_account_is_priced_and_differences_are_reported(
    simulation: SimulationResult,
) -> None:
    # Given the small simulated portfolio (billed by these tables), with one account's bills
    # made 1% dearer, as by a table that is not the one it is billed by,
    report = validate_tables(simulation.tables)
    assert report.dataset is not None
    data = report.dataset
    billing = data.monthly_billing.copy()
    wrong = data.customers["customer_id"].iloc[0]
    mine = billing["customer_id"] == wrong
    billing.loc[mine, "amount_due_cny"] = (billing.loc[mine, "amount_due_cny"] * 1.01).round(2)

    result = compare_plans(data.customers, data.monthly_usage, billing, load_tariffs())

    # then every account with months in the window has a recomputed bill and a difference,
    # and the altered account's is what was added, month by month.
    accounts = result.accounts
    assert len(accounts) > 0.8 * len(data.customers)
    assert accounts["months"].max() == 12
    priced = accounts["bill_current"].notna()
    assert priced.mean() > 0.9
    assert accounts.loc[priced, "difference_cny"].notna().all()
    months = result.months[result.months["customer_id"] == wrong]
    added = months["billed_cny"] - (months["billed_cny"] / 1.01)
    assert (months["difference_cny"] < 0).all()
    assert months["difference_cny"].to_numpy() == pytest.approx(-added.to_numpy(), abs=0.02)
    assert set(accounts["best_plan"]) <= {
        "current",
        "other_mode",
        "pf_standard",
        "shift",
        "combined",
    }
    assert (accounts["best_saving"] >= 0).all()


def _orders(*rows: tuple[str, str, str, float]) -> pd.DataFrame:
    """Completed work orders: (customer_id, order_type, completed_at, capacity_change_kva)."""
    completed = pd.to_datetime([r[2] for r in rows]).astype("datetime64[us]")
    return pd.DataFrame(
        {
            "order_id": [f"W{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "order_type": [r[1] for r in rows],
            "applied_at": completed - pd.Timedelta(days=5),
            "completed_at": completed,
            "capacity_change_kva": [r[3] for r in rows],
            "status": "completed",
        }
    )


def _suspended(tables: TariffTables, orders: pd.DataFrame, *accounts: dict[str, Any]) -> Any:
    frames = account_tables([{**a, "billed": None} for a in accounts])
    return compare_plans(
        frames["customers"],
        frames["monthly_usage"],
        frames["monthly_billing"],
        tables,
        as_of=AS_OF,
        work_orders=orders,
    ).accounts


def test_a_suspension_frees_the_sealed_days_of_the_basic_charge(tables: TariffTables) -> None:
    # Given A's whole capacity sealed on 11 June and resumed on 26 June (15 of June's 30 days
    # sealed), B (by demand) sealed on 21 June and not resumed (10 days), and a 400 kVA
    # suspension of A2 (A's copy) covering all of June,
    orders = _orders(
        ("A", "suspension", "2024-06-11 10:00", 0.0),
        ("A", "resumption", "2024-06-26 09:00", 0.0),
        ("B", "suspension", "2024-06-21 09:00", 0.0),
        ("A2", "suspension", "2024-05-20 09:00", -400.0),
        ("A2", "resumption", "2024-07-05 09:00", 0.0),
    )
    result = _suspended(tables, orders, A, B, {**A, "customer_id": "A2"})

    # then A pays 15 days in use of 1/30 each: 20000 x 15/30 by capacity, 15000 x 15/30 by
    # demand, with its -0.45%; B 24000 x 20/30 with its +2%; A2 the 600 kVA left.
    a, b, a2 = result.loc["A"], result.loc["B"], result.loc["A2"]
    assert a["bill_current"] == pytest.approx((25000 + 10000) * 0.9955)
    assert a["bill_other_mode"] == pytest.approx((25000 + 7500) * 0.9955)
    assert b["bill_current"] == pytest.approx((48000 + 16000) * 1.02)
    assert a2["bill_current"] == pytest.approx((25000 + 600 * 20) * 0.9955)


def test_a_suspension_is_freed_for_six_months_a_year_at_most(tables: TariffTables) -> None:
    # Given A sealed from 1 January 2024 and never resumed: 152 days by the end of May, so 28
    # of June's days are left of the 180 (6 months of 30 days) a calendar year allows,
    orders = _orders(("A", "suspension", "2024-01-01 09:00", 0.0))
    june = _suspended(tables, orders, A).loc["A"]

    # then June is charged for 2 days (20000 x 2/30), and without the orders in full; a
    # cancelled suspension frees nothing.
    assert june["bill_current"] == pytest.approx(round((25000 + 20000 * 2 / 30) * 0.9955, 2))
    assert _suspended(tables, orders.iloc[:0], A).loc["A"]["bill_current"] == pytest.approx(
        44797.50
    )
    cancelled = orders.assign(status="cancelled", completed_at=pd.NaT)
    assert _suspended(tables, cancelled, A).loc["A"]["bill_current"] == pytest.approx(44797.50)


def _seasonal(every: int, raw: dict[str, Any], tmp_path: Path) -> Any:
    """A (by capacity) from January to June 2024, at 900 kW in the first quarter and 500 kW in
    the second, its mode changeable every `every` months."""
    raw["companies"]["test"]["basic_charge"][0]["switch_every_months"] = every
    tables = load_tariffs(write_tables(raw, tmp_path, f"every-{every}.yaml"))
    frames = account_tables([{**A, "billed": None}])
    usage = pd.concat(
        [
            frames["monthly_usage"].assign(
                month=pd.Timestamp(f"2024-{m:02d}-01"), max_demand_kw=900.0 if m <= 3 else 500.0
            )
            for m in range(1, 7)
        ],
        ignore_index=True,
    )
    usage["month"] = usage["month"].astype("datetime64[us]")
    return compare_plans(frames["customers"], usage, frames["monthly_billing"], tables, AS_OF)


def test_the_mode_changes_only_as_often_as_the_table_allows(
    raw_tables: dict[str, Any], tmp_path: Path
) -> None:
    # Given A seasonal: by demand 900 x 30 = 27000 in the first quarter (capacity 20000 is
    # cheaper) and 500 x 30 = 15000 in the second (cheaper than capacity),
    quarterly = _seasonal(3, raw_tables, tmp_path).accounts.loc["A"]
    yearly = _seasonal(12, raw_tables, tmp_path).accounts.loc["A"]

    # then changing every quarter takes demand in the second only: 3 x 5000 x 0.9955; the
    # combination also moves 10% of peak (3 x 44100.65 + 3 x 39123.15 against 6 x 44797.50);
    assert quarterly["bill_current"] == pytest.approx(6 * 44797.50)
    assert quarterly["saving_other_mode"] == pytest.approx(14932.50)
    assert quarterly["other_mode_months"] == 3 == quarterly["combined_other_months"]
    assert quarterly["saving_combined"] == pytest.approx(6 * 44797.50 - 249671.40)
    label = plan_label("other_mode", quarterly, 0.1)
    assert label.startswith("基本电费每 3 个月择优：3 个月按最大需量、其余按容量计收")
    # once a year, the whole half-year is one period: 120000 by capacity against 126000 by
    # demand, so the mode stays and the other saves nothing.
    assert yearly["saving_other_mode"] == 0 and yearly["other_mode_months"] == 0
    assert plan_label("other_mode", yearly, 0.1).startswith(
        "基本电费按容量计收（改为按最大需量计收不更省）"
    )
