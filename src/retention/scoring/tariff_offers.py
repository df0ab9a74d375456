"""The `tariff_plan` action as a computed offer: for the accounts the playbook sends a tariff
specialist to, the plan the tariff tables say would have cost least over the 12 months before
the snapshot, what it would have saved, and every plan's bill (issue 19).

One compare_plans call for all of them. Where the tables cannot price an account (no table in
force for its months, a month without the reading its mode needs) the action keeps its text
and carries no figures: a missing offer is shown as missing, never as a zero saving.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from retention.tariffs.calculator import DEFAULT_SHIFT, PLANS, compare_plans
from retention.tariffs.report import MATCHING_SHARE, plan_texts
from retention.tariffs.tables import TariffTables

log = logging.getLogger(__name__)

TARIFF_PLAN: Final = "tariff_plan"
OFFER_COLUMNS: Final = ["plan_code", "saving_cny", "plan_detail"]


def _number(value: Any) -> float | None:
    return None if value is None or math.isnan(float(value)) else round(float(value), 2)


def plan_detail(account: Mapping[Any, Any], shift: float) -> str:
    """An account's plans as JSON text: each plan's label, 12-month bill and saving (null: not
    open to the account), the best, and the recomputed bills against the billed ones."""
    plans = []
    for plan in PLANS:
        zh, en = plan_texts(plan, account, shift)
        saving = None if plan == "current" else _number(account[f"saving_{plan}"])
        plans.append(
            {
                "plan": plan,
                "zh": zh,
                "en": en,
                "bill_cny": _number(account[f"bill_{plan}"]),
                "saving_cny": saving,
            }
        )
    detail = {
        "best_plan": account["best_plan"],
        "best_saving_cny": _number(account["best_saving"]),
        "plans": plans,
        "months": int(account["months"]),
        "billed_months": int(account["billed_months"]),
        "recomputed_cny": _number(account["recomputed_cny"]),
        "billed_cny": _number(account["billed_cny"]),
        "difference_cny": _number(account["difference_cny"]),
    }
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"))


def tariff_offers(
    customers: pd.DataFrame,
    usage: pd.DataFrame,
    billing: pd.DataFrame,
    tables: TariffTables,
    as_of: pd.Timestamp,
    shift: float = DEFAULT_SHIFT,
    work_orders: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The offer of each account in `customers` the tables can price (index customer_id,
    OFFER_COLUMNS); the others are absent. Tables that do not cover the months give no offer
    at all, with a warning that names the table, not the accounts. `work_orders`: each month
    is priced at the capacity then in force (as the bills were), not today's."""
    ids = customers["customer_id"]
    if ids.empty:
        return pd.DataFrame(columns=OFFER_COLUMNS, index=pd.Index([], name="customer_id"))
    try:
        comparison = compare_plans(
            customers,
            usage[usage["customer_id"].isin(ids)],
            billing[billing["customer_id"].isin(ids)],
            tables,
            as_of,
            shift,
            None if work_orders is None else work_orders[work_orders["customer_id"].isin(ids)],
        )
    except ValueError as error:  # TariffNotInForce, or a category outside the tables
        log.warning("电价电费方案未计算 / tariff plans not computed: %s", error)
        return pd.DataFrame(columns=OFFER_COLUMNS, index=pd.Index([], name="customer_id"))
    accounts = comparison.accounts
    # a month the current plan cannot price leaves the whole comparison unknown
    priced = accounts[~np.isnan(accounts["bill_current"].to_numpy(dtype=float))]
    return pd.DataFrame(
        {
            "plan_code": priced["best_plan"].astype(object),
            "saving_cny": priced["best_saving"].to_numpy(dtype=float),
            # records, not iterrows: a Series per row costs ~10x (benchmarks/score.py)
            "plan_detail": [plan_detail(row, shift) for row in priced.to_dict("records")],
        },
        index=priced.index,
    )


def attach_offers(
    actions: pd.DataFrame, offers: pd.DataFrame | None, min_saving_cny: float | None
) -> pd.DataFrame:
    """The actions with each tariff_plan row's offer (None: no offers computed); a tariff_plan
    whose computed saving is below the playbook's minimum is dropped (one without an offer
    stays), and positions are renumbered so each account's run 1, 2, ... again."""
    out = actions.copy()
    if offers is None:
        offers = pd.DataFrame(columns=OFFER_COLUMNS)
    tariff = (out["code"] == TARIFF_PLAN).to_numpy()
    found = offers.reindex(out.loc[tariff, "customer_id"])
    for column in OFFER_COLUMNS:
        values = np.full(len(out), None, dtype=object)
        offered = np.array(found[column], dtype=object)
        offered[pd.isna(offered)] = None  # no offer (a frame may show it as NaN: the store None)
        values[tariff] = offered
        out[column] = values
    out["saving_cny"] = out["saving_cny"].astype(float)
    if min_saving_cny is not None:
        saving = out["saving_cny"].to_numpy(dtype=float)
        below = tariff & ~np.isnan(saving) & (np.nan_to_num(saving) < min_saving_cny)
        out = out[~below]
        out["position"] = out.groupby("customer_id", sort=False).cumcount() + 1
    return out.reset_index(drop=True)


def offer_of(action: Mapping[str, Any]) -> dict[str, Any] | None:
    """An action row's offer as the API, the page and the exports show it (None: not a
    tariff_plan action, or one the tables could not price): the best plan in words, its
    saving, every plan's 12-month bill and saving, and whether the recomputed bills match the
    billed ones (None: nothing billed to compare with)."""
    text = action.get("plan_detail")
    if not isinstance(text, str) or not text:  # None, or NaN in a frame
        return None
    detail = json.loads(text)
    plans = {p["plan"]: p for p in detail["plans"]}
    best = plans[detail["best_plan"]]
    recomputed, billed = detail["recomputed_cny"], detail["billed_cny"]
    matches = None
    if detail["billed_months"] and recomputed is not None and billed:
        matches = abs(recomputed - billed) <= MATCHING_SHARE * abs(billed)
    return {
        "code": detail["best_plan"],
        "label_zh": best["zh"],
        "label_en": best["en"],
        "saving_cny": detail["best_saving_cny"],
        "alternatives": [
            {
                "plan": p["plan"],
                "label_zh": p["zh"],
                "label_en": p["en"],
                "bill_cny": p["bill_cny"],
                "saving_cny": p["saving_cny"],
            }
            for p in detail["plans"]
        ],
        "recomputed_cny": recomputed,
        "billed_cny": billed,
        "difference_cny": detail["difference_cny"],
        "tables_match": matches,
    }
