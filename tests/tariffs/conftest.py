"""Small tariff tables with round prices, so every saving can be worked out by hand."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from retention.settings import packaged_file
from retention.tariffs.tables import TariffTables, load_tariffs


def _packaged_power_factor() -> list[dict[str, Any]]:
    raw = yaml.safe_load(packaged_file("serving/tariffs.yaml").read_text(encoding="utf-8"))
    power_factor: list[dict[str, Any]] = raw["companies"]["example_province"]["power_factor"]
    return power_factor


def round_tables() -> dict[str, Any]:
    """One company, prices in round figures; the packaged (national) power-factor tables."""
    return {
        "label": {"zh": "测试电价表", "en": "Test tariffs"},
        "default_company": "test",
        "companies": {
            "test": {
                "zh": "测试",
                "en": "Test",
                "energy": [
                    {
                        "valid_from": "2024-01",
                        "prices": {
                            "large_industry": [
                                {"from_kv": 0, "peak": 1.0, "flat": 0.6, "valley": 0.3},
                                {"from_kv": 35, "peak": 0.9, "flat": 0.5, "valley": 0.25},
                            ],
                            "general_commercial": [
                                {"from_kv": 0, "peak": 1.2, "flat": 0.7, "valley": 0.4}
                            ],
                            "other": [{"from_kv": 0, "peak": 0.5, "flat": 0.5, "valley": 0.5}],
                        },
                    }
                ],
                "basic_charge": [
                    {
                        "valid_from": "2024-01",
                        "categories": ["large_industry"],
                        "min_capacity_kva": 315,
                        "capacity_cny_per_kva_month": 20.0,
                        "demand_cny_per_kw_month": 30.0,
                        "min_demand_share_of_capacity": 0.4,
                        "switch_every_months": 3,
                    }
                ],
                "power_factor": _packaged_power_factor(),
            }
        },
    }


@pytest.fixture
def raw_tables() -> dict[str, Any]:
    return deepcopy(round_tables())


@pytest.fixture
def tables(raw_tables: dict[str, Any], tmp_path: Path) -> TariffTables:
    return load_tariffs(write_tables(raw_tables, tmp_path))


def write_tables(raw: dict[str, Any], folder: Path, name: str = "tariffs.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def account_tables(accounts: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """customers, monthly_usage and monthly_billing of one-month accounts (2024-06), each
    given as {customer_id, tariff_category, voltage_kv, capacity, mode, peak, flat, valley,
    kwh_total, demand, pf, billed}."""
    frame = pd.DataFrame(accounts)
    month = np.full(len(frame), np.datetime64("2024-06-01"), dtype="datetime64[us]")
    customers = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "region": "测试供电公司",
            "tariff_category": frame["tariff_category"].astype(str),
            "voltage_kv": frame["voltage_kv"].astype(float),
            "contract_capacity_kva": frame["capacity"].astype(float),
            "basic_charge_mode": frame.get("mode", pd.Series([None] * len(frame))),
        }
    )
    usage = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "month": month,
            **{f"kwh_{p}": frame.get(p, np.nan) for p in ("peak", "flat", "valley")},
            "max_demand_kw": frame.get("demand", np.nan),
            "power_factor": frame.get("pf", np.nan),
        }
    )
    parts = usage[["kwh_peak", "kwh_flat", "kwh_valley"]].sum(axis=1, min_count=3)
    usage["kwh_total"] = frame.get("kwh_total", parts)
    usage["kwh_total"] = usage["kwh_total"].fillna(parts)
    billing = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "month": month,
            "amount_due_cny": frame.get("billed", np.nan),
        }
    ).dropna(subset=["amount_due_cny"])
    return {"customers": customers, "monthly_usage": usage, "monthly_billing": billing}
