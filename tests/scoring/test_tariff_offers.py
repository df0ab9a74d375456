"""The tariff_plan action as a computed offer: the best plan and its saving beside the action,
the playbook's minimum saving, and no crash where the tables cannot price an account."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pandas as pd
import pytest

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationResult
from retention.records.batch import ACTION_COLUMNS, ScoredList
from retention.scoring.playbook import load_playbook
from retention.scoring.tariff_offers import OFFER_COLUMNS, attach_offers, tariff_offers
from retention.tariffs.calculator import PLANS
from retention.tariffs.tables import TariffTables, load_tariffs


def _actions(*rows: tuple[str, str]) -> pd.DataFrame:
    """Actions of (customer, code), positions in order per customer."""
    frame = pd.DataFrame(
        [
            {column: None for column in ACTION_COLUMNS} | {"customer_id": c, "code": code}
            for c, code in rows
        ],
        columns=ACTION_COLUMNS,
    )
    frame["position"] = frame.groupby("customer_id").cumcount() + 1
    return frame


def _offers(**savings: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plan_code": ["other_mode"] * len(savings),
            "saving_cny": list(savings.values()),
            "plan_detail": ["{}"] * len(savings),
        },
        index=pd.Index(list(savings), name="customer_id"),
    )


ROWS = (
    ("A", "dedicated_manager"), ("A", "tariff_plan"), ("A", "payment_arrangement"),
    ("B", "tariff_plan"), ("C", "tariff_plan"),
)  # fmt: skip


def test_a_saving_below_the_minimum_drops_the_action_and_positions_close_up() -> None:
    # Given A saving 5,000 and B 20,000 against a minimum of 10,000, and C without an offer
    out = attach_offers(_actions(*ROWS), _offers(A=5000.0, B=20000.0), 10000.0)
    # then A's tariff_plan is gone and its payment arrangement is second
    a = out[out["customer_id"] == "A"]
    assert list(a["code"]) == ["dedicated_manager", "payment_arrangement"]
    assert list(a["position"]) == [1, 2]
    # B keeps it with its figures; C keeps it without any (nothing silently dropped)
    b = out[out["customer_id"] == "B"].iloc[0]
    assert (b["plan_code"], b["saving_cny"]) == ("other_mode", 20000.0)
    c = out[out["customer_id"] == "C"].iloc[0]
    assert c["code"] == "tariff_plan" and pd.isna(c["plan_code"]) and pd.isna(c["saving_cny"])
    assert list(out.columns) == ACTION_COLUMNS


def test_without_a_minimum_every_tariff_plan_stays_with_its_offer() -> None:
    out = attach_offers(_actions(*ROWS), _offers(A=5000.0, B=20000.0), None)
    assert len(out) == len(ROWS)
    a = out[(out["customer_id"] == "A") & (out["code"] == "tariff_plan")].iloc[0]
    assert a["saving_cny"] == 5000.0 and a["position"] == 2
    others = out[out["code"] != "tariff_plan"]
    assert others[OFFER_COLUMNS].isna().all().all()  # the offer belongs to tariff_plan only


def test_the_shipped_playbook_asks_a_minimum_saving_of_tariff_plan_only() -> None:
    actions = load_playbook().actions
    assert actions["tariff_plan"].min_saving_cny == 10000
    assert all(a.min_saving_cny is None for code, a in actions.items() if code != "tariff_plan")


def test_the_scored_list_carries_the_offer_on_tariff_plan(scored: ScoredList) -> None:
    actions = scored.actions
    tariff = actions[actions["code"] == "tariff_plan"]
    assert not tariff.empty
    priced = tariff[tariff["plan_code"].notna()]
    # every offer shown clears the shipped playbook's minimum
    assert (priced["saving_cny"] >= 10000).all()
    for text in priced["plan_detail"]:
        detail = json.loads(text)
        assert [p["plan"] for p in detail["plans"]] == list(PLANS)
        assert detail["best_plan"] in PLANS
        assert all(p["zh"] and p["en"] for p in detail["plans"])
    assert actions.loc[actions["code"] != "tariff_plan", OFFER_COLUMNS].isna().all().all()
    positions = actions.groupby("customer_id")["position"]
    assert (positions.min() == 1).all() and (positions.max() == positions.count()).all()


def test_offers_recompute_the_simulated_bills_to_the_cent(scored: ScoredList) -> None:
    """Given a portfolio the simulator billed by the shipped tables (capacity changes
    included), when its offers are priced, then each recomputed 12 months equals the billed
    amount: the offer starts from the bill the account really paid."""
    tariff = scored.actions[scored.actions["plan_detail"].notna()]
    assert not tariff.empty
    details = [json.loads(text) for text in tariff["plan_detail"]]
    assert all(d["difference_cny"] is None or abs(d["difference_cny"]) < 0.01 for d in details)
    assert any(d["difference_cny"] is not None for d in details)


def _later_tables() -> TariffTables:
    """The packaged tables with every entry starting after the simulated data."""
    raw = load_tariffs().model_dump(mode="json")
    for company in raw["companies"].values():
        for table in ("energy", "basic_charge", "power_factor"):
            company[table] = [company[table][-1] | {"valid_from": "2031-01"}]
    return TariffTables.model_validate(raw)


def test_tables_that_do_not_cover_the_months_give_no_offer_and_a_plain_warning(
    simulation: SimulationResult, caplog: pytest.LogCaptureFixture
) -> None:
    # Given tables in force only from 2031
    dataset = Dataset(**simulation.tables)
    customers = dataset.customers.head(20)
    # when offers are asked for the months before 2026-11
    with caplog.at_level(logging.WARNING):
        offers = tariff_offers(
            customers,
            dataset.monthly_usage,
            dataset.monthly_billing,
            _later_tables(),
            pd.Timestamp(dt.date(2026, 11, 1)),
        )
    # then none, no crash, and a warning naming the table, not the accounts
    assert offers.empty and list(offers.columns) == OFFER_COLUMNS
    assert "2031-01" in caplog.text
    assert not any(c in caplog.text for c in customers["customer_id"])
    assert not any(n in caplog.text for n in customers["customer_name"])
