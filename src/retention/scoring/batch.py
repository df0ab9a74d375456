"""Scoring every active account at a snapshot: probability, money at risk, band, reasons and
the playbook's actions; accounts already leaving are listed apart with their exit visit.

The same feature code as training builds the rows; the model reads them through its own
columns, so a feature the model never saw cannot slip in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention.data.io import Dataset
from retention.features.catalogue import Catalogue
from retention.features.snapshot import EXPECTED_REVENUE, build_features
from retention.features.sources import Tables
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import Playbook, recommend
from retention.scoring.reasons import contributions, reason_table
from retention.training.model import ChurnModel

ACCOUNT_COLUMNS = [
    "customer_id",
    "customer_name",
    "industry_code",
    "region",
    "account_manager_id",
    "contract_capacity_kva",
]


@dataclass(frozen=True)
class ScoredList:
    """One scoring run: the ranked list, its reasons and actions, and the accounts leaving."""

    snapshot: pd.Timestamp
    accounts: pd.DataFrame  # one row per account, ranked by money at risk
    reasons: pd.DataFrame  # customer_id, rank, group, contribution, feature, value, texts
    actions: pd.DataFrame  # customer_id, code, texts, owner, due_date
    leaving: pd.DataFrame  # accounts in exit process, with their exit visit


def default_snapshot(dataset: Dataset | Tables) -> pd.Timestamp:
    """The first day of the month after the latest data."""
    tables = dataset if isinstance(dataset, Tables) else Tables(dataset)
    return tables.data_end


def bands(
    money_at_risk: np.ndarray, probability: np.ndarray, capacity: int, medium_probability: float
) -> np.ndarray:
    """high: the top K by money at risk (K = the team's capacity); then medium by probability."""
    band = np.where(probability >= medium_probability, "medium", "low").astype(object)
    top = np.argsort(-np.nan_to_num(money_at_risk), kind="stable")[:capacity]
    band[top] = "high"
    return band


def score_snapshot(
    dataset: Dataset | Tables,
    model: ChurnModel,
    catalogue: Catalogue,
    playbook: Playbook,
    calendar: WorkingCalendar,
    capacity: int,
    medium_probability: float = 0.10,
    snapshot: pd.Timestamp | None = None,
    scored_on: dt.date | None = None,
) -> ScoredList:
    """Score the accounts active at the snapshot (default: after the latest data)."""
    tables = dataset if isinstance(dataset, Tables) else Tables(dataset)
    when = pd.Timestamp(snapshot) if snapshot is not None else default_snapshot(tables)
    today = scored_on or when.date()
    frame = build_features(tables, when, catalogue)
    customers = tables.dataset.customers.set_index("customer_id")
    leaving_mask = frame["in_exit_process"].to_numpy(dtype=bool)
    rows = frame[~leaving_mask]

    matrix = model.matrix(rows)
    probability = model.calibration(model.raw_score(matrix))
    revenue = rows[EXPECTED_REVENUE].to_numpy(dtype=float)
    money = probability * np.nan_to_num(revenue)
    band = bands(money, probability, capacity, medium_probability)
    accounts = customers.reindex(rows.index)[[c for c in ACCOUNT_COLUMNS[1:]]].reset_index()
    accounts["probability"] = probability
    accounts["expected_revenue_cny"] = revenue
    accounts["money_at_risk_cny"] = money
    accounts["band"] = band

    # Reasons (TreeSHAP, ~100x a plain predict) for the accounts the team acts on: the high
    # and medium bands. A low-band account's reasons are computed when someone asks for them.
    acted_on = np.flatnonzero(band != "low")
    reasons = reason_table(rows.iloc[acted_on], contributions(model, matrix[acted_on]), catalogue)
    reasons["row"] = acted_on[reasons["row"].to_numpy()]
    reasons.insert(0, "customer_id", rows.index.to_numpy()[reasons["row"].to_numpy()])
    reasons = reasons.drop(columns="row")
    groups_of: dict[str, list[str]] = defaultdict(list)
    for customer, group in zip(reasons["customer_id"], reasons["group"], strict=True):
        groups_of[customer].append(group)

    facts = pd.DataFrame(
        {
            "market_mode": rows["market_mode"].astype("object").to_numpy(),
            "self_generation": customers.reindex(rows.index)["self_generation_kw"]
            .fillna(0)
            .to_numpy()
            > 0,
            "slow_orders": rows["order_delay_days_12m"].fillna(0).to_numpy() > 0,
            "has_manager": rows["has_dedicated_manager"].to_numpy() > 0,
        },
        index=rows.index,
    )
    managers = customers["account_manager_id"]
    records = []
    account_facts: list[dict[str, object]] = facts.to_dict("records")  # type: ignore[assignment]
    for customer, account_band, known in zip(rows.index, band, account_facts, strict=True):
        for item in recommend(
            playbook,
            calendar,
            today,
            account_band,
            groups_of.get(customer, []),
            known,
            manager_id=_manager(managers, customer),
        ):
            records.append({"customer_id": customer, **item.__dict__})
    actions = pd.DataFrame.from_records(
        records,
        columns=[
            "customer_id",
            "code",
            "text_zh",
            "text_en",
            "owner",
            "owner_zh",
            "owner_en",
            "due_date",
            "due_working_days",
        ],
    )

    leaving_rows = frame[leaving_mask]
    leaving = customers.reindex(leaving_rows.index)[ACCOUNT_COLUMNS[1:]].reset_index()
    leaving["expected_revenue_cny"] = leaving_rows[EXPECTED_REVENUE].to_numpy(dtype=float)
    exits = [
        recommend(
            playbook,
            calendar,
            today,
            "low",
            [],
            {},
            in_exit_process=True,
            manager_id=_manager(managers, c),
        )[0]
        for c in leaving_rows.index
    ]
    leaving["action"] = [e.code for e in exits]
    leaving["owner"] = [e.owner for e in exits]
    leaving["due_date"] = [e.due_date for e in exits]

    accounts = accounts.sort_values("money_at_risk_cny", ascending=False, kind="stable")
    accounts.insert(0, "rank", np.arange(1, len(accounts) + 1))
    return ScoredList(
        snapshot=when,
        accounts=accounts.reset_index(drop=True),
        reasons=reasons,
        actions=actions,
        leaving=leaving,
    )


def _manager(managers: pd.Series, customer: str) -> str | None:
    value = managers.get(customer)
    return None if value is None or pd.isna(value) else str(value)
