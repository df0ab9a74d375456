"""Scoring every active account at a snapshot: probability, money at risk, band, reasons and
the playbook's actions; accounts already leaving are listed apart with their exit visit.

The same feature code as training builds the rows; the model reads them through its own
columns, so a feature the model never saw cannot slip in.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict

import numpy as np
import pandas as pd

from retention.data.dataset import Dataset
from retention.features.catalogue import Catalogue
from retention.features.snapshot import EXPECTED_REVENUE, build_features, peer_medians
from retention.features.sources import Tables
from retention.model.artifact import ChurnModel
from retention.model.effects_artifact import EffectModels
from retention.records.batch import (
    ACCOUNT_COLUMNS,
    ACTION_COLUMNS,
    HORIZON_COLUMNS,
    TARGET_COLUMNS,
    USAGE_COLUMN,
    USAGE_MONTHS,
    ScoredList,
)
from retention.records.labels import EXIT, HIGH, LOW, MEDIUM
from retention.scoring import targeting as target
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import Playbook, recommend, recommendations
from retention.scoring.reasons import contributions, reason_table
from retention.scoring.tariff_offers import TARIFF_PLAN, attach_offers, tariff_offers
from retention.tariffs.tables import TariffTables


def usage_months(usage: pd.DataFrame, when: pd.Timestamp) -> pd.Series:
    """Each account's kWh of the 36 months before T, oldest first, as a JSON list (null for a
    month without a reading): the account page draws 24 months against the year before."""
    months = np.asarray(usage["month"], dtype="datetime64[M]").astype(np.int64)
    # the 36 months before T's month (a T inside a month leaves that month out)
    start = np.datetime64(when.to_period("M").to_timestamp(), "M").astype(np.int64) - USAGE_MONTHS
    offset = months - start
    # every account with a reading from the start to T is listed, even if only T's own month
    recent = (offset >= 0) & (np.asarray(usage["month"]) < np.datetime64(when))
    codes, ids = pd.factorize(usage["customer_id"].to_numpy()[recent])
    inside = offset[recent] < USAGE_MONTHS
    totals = np.zeros((len(ids), USAGE_MONTHS))
    seen = np.zeros((len(ids), USAGE_MONTHS), dtype=bool)
    kwh = usage["kwh_total"].to_numpy(dtype=float)[recent][inside]
    np.add.at(totals, (codes[inside], offset[recent][inside]), np.nan_to_num(kwh))
    seen[codes[inside], offset[recent][inside]] = True
    values = np.where(seen, np.round(totals, 0), np.nan)
    texts = [
        "[" + ",".join("null" if np.isnan(v) else str(int(v)) for v in row) + "]" for row in values
    ]
    return pd.Series(texts, index=pd.Index(ids, dtype=usage["customer_id"].dtype), dtype=object)


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = now - self._last
        self._last = now


def default_snapshot(dataset: Dataset | Tables) -> pd.Timestamp:
    """The first day of the month after the latest data."""
    tables = dataset if isinstance(dataset, Tables) else Tables(dataset)
    return tables.data_end


def bands(
    money_at_risk: np.ndarray,
    probability: np.ndarray,
    capacity: int,
    medium_probability: float,
    high_floor: float | None = None,
    high: np.ndarray | None = None,
) -> np.ndarray:
    """high: the top K by money at risk (K = the team's capacity), or, for a few accounts
    scored on demand, at least the batch's smallest high money at risk (`high_floor`), or
    where `high` is True (a partition of a batch whose top K was taken over all); then
    medium by probability."""
    band = np.where(probability >= medium_probability, MEDIUM, LOW).astype(object)
    if high is not None:
        band[high] = HIGH
        return band
    if high_floor is not None:
        band[np.nan_to_num(money_at_risk) >= high_floor] = HIGH
        return band
    top = np.argsort(-np.nan_to_num(money_at_risk), kind="stable")[:capacity]
    band[top] = HIGH
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
    peers: pd.DataFrame | None = None,
    high_floor: float | None = None,
    usage_history: bool = True,
    tariffs: TariffTables | None = None,
    effects: tuple[str, EffectModels] | None = None,
    list_mode: target.ListMode = "auto",
    features: pd.DataFrame | None = None,
    high: pd.Index | None = None,
) -> ScoredList:
    """Score the accounts active at the snapshot (default: after the latest data).

    A few accounts scored on demand pass the latest batch's `peers` (peer medians) and
    `high_floor` (see `bands`), so they are judged as the batch judged its accounts, and
    leave out the account page's 36 months of kWh (`usage_history`); `tariffs`: _with_offers;
    `effects` (the effects champion's version and models) and `list_mode`: scoring.targeting.
    A cluster's partition passes its `features` (against the batch's `peers`) and the batch's
    `high` band (the top K over every partition): scoring/distributed.py."""
    clock = _Clock()
    tables = dataset if isinstance(dataset, Tables) else Tables(dataset)
    when = pd.Timestamp(snapshot) if snapshot is not None else default_snapshot(tables)
    if (frame := features) is None:
        frame = build_features(tables, when, catalogue, peers=peers)
    clock.lap("features")
    customer_rows = _archive_rows(tables, frame)
    leaving_mask = frame["in_exit_process"].to_numpy(dtype=bool)
    rows = frame[~leaving_mask]

    matrix = model.matrix(rows)
    accounts = customer_rows.loc[~leaving_mask, ACCOUNT_COLUMNS].reset_index(drop=True)
    _predict(accounts, model, matrix, rows[EXPECTED_REVENUE].to_numpy(dtype=float))
    is_high = None if high is None else accounts["customer_id"].isin(high).to_numpy()
    accounts["band"] = bands(
        accounts["money_at_risk_cny"].to_numpy(), accounts["probability"].to_numpy(),
        capacity, medium_probability, high_floor, is_high,
    )  # fmt: skip
    clock.lap("predict")
    reasons = _reasons(rows, model, matrix, catalogue)
    clock.lap("reasons")
    band_of, today = dict(zip(rows.index, accounts["band"], strict=True)), scored_on or when.date()
    groups_of, facts = _groups(reasons), _facts(frame, customer_rows)
    actions = _actions(frame, customer_rows, band_of, groups_of, facts, playbook, calendar, today)
    leaving = _leaving(frame, customer_rows, leaving_mask)
    if usage_history:
        _with_usage(accounts, leaving, tables, when)
    clock.lap("actions")
    actions = _with_offers(actions, customer_rows, tables, tariffs, playbook, when)
    clock.lap("tariff_offers")
    chosen, targeting = _targeting(
        accounts, groups_of, facts[~leaving_mask], playbook, capacity, effects, list_mode
    )
    accounts = _ranked(accounts, chosen, targeting)
    managers = customer_rows["account_manager_id"].set_axis(frame.index)
    actions = _chosen_first(actions, targeting, chosen, playbook, calendar, today, managers)
    clock.lap("targeting")
    peers = _own_peers(frame, customer_rows, catalogue) if peers is None else peers
    return ScoredList(
        snapshot=when,
        accounts=accounts.reset_index(drop=True),
        reasons=reasons,
        actions=actions,
        leaving=leaving,
        seconds=clock.laps,
        horizon_months=model.info.horizon_months,
        peers=peers,
        list_mode=targeting.mode,
        list_reason=targeting.reason,
        effects=targeting.effects,
        effects_version=targeting.version,
    )


def _own_peers(
    frame: pd.DataFrame, customer_rows: pd.DataFrame, catalogue: Catalogue
) -> pd.DataFrame:
    """The batch's own peer medians: what an account scored on demand is compared with."""
    industry = pd.Series(customer_rows["industry_code"].to_numpy(), frame.index)
    return peer_medians(frame, industry, catalogue)


def _archive_rows(tables: Tables, frame: pd.DataFrame) -> pd.DataFrame:
    """Each feature row's archive record, in the frame's order (a take, not an index lookup)."""
    archive = tables.dataset.customers
    at = pd.Index(archive["customer_id"]).get_indexer(frame.index)
    return archive.take(at).reset_index(drop=True)


def _reasons(
    rows: pd.DataFrame, model: ChurnModel, matrix: np.ndarray, catalogue: Catalogue
) -> pd.DataFrame:
    """Every listed account's reasons, from the model's own per-row contributions (TreeSHAP:
    about 100x a plain predict, so this is the batch's longest step; benchmarks/score.py)."""
    reasons = reason_table(rows, contributions(model, matrix), catalogue)
    reasons.insert(0, "customer_id", rows.index.to_numpy()[reasons["row"].to_numpy()])
    return reasons.drop(columns="row")


def _with_usage(
    accounts: pd.DataFrame, leaving: pd.DataFrame, tables: Tables, when: pd.Timestamp
) -> None:
    """The account page's 36 months of kWh of every account, listed or leaving, in place."""
    usage = usage_months(tables.dataset.monthly_usage, when)
    accounts[USAGE_COLUMN] = accounts["customer_id"].map(usage)
    leaving[USAGE_COLUMN] = leaving["customer_id"].map(usage)


def _ranked(accounts: pd.DataFrame, chosen: list[str], targeting: target.Targeting) -> pd.DataFrame:
    """The list in its mode's order, ranked 1, 2, ..."""
    if targeting.mode == target.MONEY_SAVED:
        accounts = target.rank_by_money_saved(accounts, chosen)
    else:
        accounts = accounts.sort_values("money_at_risk_cny", ascending=False, kind="stable")
    accounts.insert(0, "rank", np.arange(1, len(accounts) + 1))
    return accounts


def _targeting(
    accounts: pd.DataFrame,
    groups_of: dict[str, list[str]],
    facts: pd.DataFrame,
    playbook: Playbook,
    capacity: int,
    effects: tuple[str, EffectModels] | None,
    list_mode: target.ListMode,
) -> tuple[list[str], target.Targeting]:
    """Each listed account's expected effects, its best action in the accounts' columns (in
    place), and the accounts to visit when the list is ranked by money saved."""
    for column in TARGET_COLUMNS:
        accounts[column] = None if column == "best_action" else np.nan
    if effects is None:
        return [], target.no_effects(target.NO_CHAMPION)
    version, models = effects
    lacking = target.evidence_reason(models, version)
    if lacking is not None:
        return [], target.no_effects(lacking)
    facts_of: dict[str, dict[str, object]] = facts.to_dict("index")  # type: ignore[assignment]
    eligible = target.eligible_actions(playbook, groups_of, facts_of, target.qualifying(models))
    first = target.first_actions(playbook, groups_of, facts_of)
    effect_rows = target.expected_effects(models, accounts, first, eligible)
    best = target.best_actions(effect_rows).reindex(accounts["customer_id"])
    code = best["code"].astype(object)
    accounts["best_action"] = code.where(code.notna(), None).to_numpy()
    accounts["churn_averted"] = best["churn_averted"].to_numpy(dtype=float)
    accounts["money_saved_cny"] = best["money_saved_cny"].to_numpy(dtype=float)
    if list_mode == target.MONEY_AT_RISK:
        return [], target.Targeting(target.MONEY_AT_RISK, target.PINNED, effect_rows, version)
    chosen = target.select(best.dropna(subset=["money_saved_cny"]), capacity)
    reason = target.enough_reason(models, version)
    return chosen, target.Targeting(target.MONEY_SAVED, reason, effect_rows, version)


def _chosen_first(
    actions: pd.DataFrame,
    targeting: target.Targeting,
    chosen: list[str],
    playbook: Playbook,
    calendar: WorkingCalendar,
    today: dt.date,
    managers: pd.Series,
) -> pd.DataFrame:
    """The actions with each chosen account's best action first (added from the playbook
    when its rules had not named it), positions renumbered; no chosen account: as they are."""
    if not chosen:
        return actions
    best = target.best_actions(targeting.effects)["code"].reindex(chosen)
    have = set(zip(actions["customer_id"], actions["code"], strict=True))
    added = []
    for customer, code in best.items():
        if (customer, code) in have:
            continue
        manager = managers.get(customer)
        item = recommendations(
            playbook, calendar, today, [str(code)], None if pd.isna(manager) else str(manager)
        )[0]
        added.append({"customer_id": customer, "position": 0, **item.__dict__})
    extra = pd.DataFrame.from_records(added, columns=ACTION_COLUMNS)
    extra["saving_cny"] = extra["saving_cny"].astype(float)
    out = pd.concat([actions, extra], ignore_index=True) if added else actions.copy()
    first = pd.Series(dict(best.items()))
    is_best = (out["code"] == out["customer_id"].map(first)).to_numpy()
    out["position"] = np.where(is_best, 0, out["position"].to_numpy(dtype=float))
    out = out.sort_values(["customer_id", "position"], kind="stable")
    out["position"] = out.groupby("customer_id", sort=False).cumcount() + 1
    return out.reset_index(drop=True)


def _with_offers(
    actions: pd.DataFrame,
    customer_rows: pd.DataFrame,
    tables: Tables,
    tariffs: TariffTables | None,
    playbook: Playbook,
    when: pd.Timestamp,
) -> pd.DataFrame:
    """The actions with the tariff_plan offers of the 12 months before the snapshot (one
    comparison of just the accounts recommended it: the rest are never priced) and the
    playbook's min_saving_cny applied; without `tariffs`, the playbook's sentence alone."""
    action = playbook.actions.get(TARIFF_PLAN)
    wanted = actions.loc[actions["code"] == TARIFF_PLAN, "customer_id"]
    if tariffs is None or action is None or wanted.empty:
        return attach_offers(actions, None, None)
    dataset = tables.dataset
    offers = tariff_offers(
        customer_rows[customer_rows["customer_id"].isin(wanted)],
        dataset.monthly_usage,
        dataset.monthly_billing,
        tariffs,
        when,
        work_orders=dataset.work_orders,
    )
    return attach_offers(actions, offers, action.min_saving_cny)


def _leaving(
    frame: pd.DataFrame, customer_rows: pd.DataFrame, leaving_mask: np.ndarray
) -> pd.DataFrame:
    """The accounts in exit process: listed apart, in the exit band, without a probability."""
    leaving = customer_rows.loc[leaving_mask, ACCOUNT_COLUMNS].reset_index(drop=True)
    leaving["expected_revenue_cny"] = frame.loc[leaving_mask, EXPECTED_REVENUE].to_numpy(
        dtype=float
    )
    leaving["band"] = EXIT
    return leaving


def _predict(
    accounts: pd.DataFrame, model: ChurnModel, matrix: np.ndarray, revenue: np.ndarray
) -> None:
    """The listed accounts' probability (within the model's horizon, and within 1 and 3
    months where its timing models say), expected revenue and money at risk, in place."""
    probability = model.calibration(model.raw_score(matrix))
    accounts["probability"] = probability
    chained = model.horizon_probabilities(matrix, probability)
    for months, column in HORIZON_COLUMNS.items():
        accounts[column] = chained.get(months, np.full(len(probability), np.nan))
    accounts["expected_revenue_cny"] = revenue
    accounts["money_at_risk_cny"] = probability * np.nan_to_num(revenue)


def _groups(reasons: pd.DataFrame) -> dict[str, list[str]]:
    """Each account's top reason groups, in rank order."""
    groups_of: dict[str, list[str]] = defaultdict(list)
    for customer, group in zip(reasons["customer_id"], reasons["group"], strict=True):
        groups_of[customer].append(group)
    return groups_of


def _facts(frame: pd.DataFrame, customer_rows: pd.DataFrame) -> pd.DataFrame:
    """The facts the playbook's rules read, per account (the frame's index)."""
    return pd.DataFrame(
        {
            "market_mode": frame["market_mode"].astype("object").to_numpy(),
            "self_generation": customer_rows["self_generation_kw"].fillna(0).to_numpy() > 0,
            "slow_orders": frame["order_delay_days_12m"].fillna(0).to_numpy() > 0,
            "has_manager": frame["has_dedicated_manager"].to_numpy() > 0,
        },
        index=frame.index,
    )


def _actions(
    frame: pd.DataFrame,
    customer_rows: pd.DataFrame,
    band_of: dict[str, str],
    groups_of: dict[str, list[str]],
    facts: pd.DataFrame,
    playbook: Playbook,
    calendar: WorkingCalendar,
    today: dt.date,
) -> pd.DataFrame:
    """The playbook's actions of every account, listed (by band and reasons) or leaving."""
    leaving_mask = frame["in_exit_process"].to_numpy(dtype=bool)
    managers = customer_rows["account_manager_id"]
    records = []
    account_facts: list[dict[str, object]] = facts.to_dict("records")  # type: ignore[assignment]
    for customer, leaves, known, manager in zip(
        frame.index, leaving_mask, account_facts, managers, strict=True
    ):
        recommended = recommend(
            playbook,
            calendar,
            today,
            EXIT if leaves else band_of[customer],
            groups_of.get(customer, []),
            known,
            in_exit_process=bool(leaves),
            manager_id=None if pd.isna(manager) else str(manager),
        )
        for position, item in enumerate(recommended, start=1):
            records.append({"customer_id": customer, "position": position, **item.__dict__})
    return pd.DataFrame.from_records(records, columns=ACTION_COLUMNS)  # offers: None


def listed_risk(frame: pd.DataFrame, model: ChurnModel) -> pd.DataFrame:
    """The listed accounts' (not leaving) probability and money at risk, in the frame's
    order: what a cluster gathers of each partition to take the batch's top K."""
    rows = frame[~frame["in_exit_process"].to_numpy(dtype=bool)]
    probability = model.calibration(model.raw_score(model.matrix(rows)))
    revenue = np.nan_to_num(rows[EXPECTED_REVENUE].to_numpy(dtype=float))
    return pd.DataFrame(
        {
            "customer_id": rows.index.to_numpy(),
            "probability": probability,
            "money_at_risk_cny": probability * revenue,
        }
    )


def combine(
    parts: list[ScoredList],
    order: pd.Index,
    capacity: int,
    playbook: Playbook,
    calendar: WorkingCalendar,
    today: dt.date,
    effects: tuple[str, EffectModels] | None,
    list_mode: target.ListMode,
) -> ScoredList:
    """One batch of partitions scored apart (each with the batch's high band and peers, its
    list ranked by money at risk): the accounts in `order` (the frame's, so ties rank as in
    one process), then what is global: the accounts to visit when the list is ranked by
    money saved, the ranks, the chosen accounts' best action first."""
    first = parts[0]
    accounts = _stack([p.accounts.drop(columns="rank") for p in parts])
    accounts = accounts.set_index("customer_id").loc[order].rename_axis("customer_id").reset_index()
    effect_rows = _stack([p.effects for p in parts])
    targeting = target.Targeting(
        first.list_mode, first.list_reason or "", effect_rows, first.effects_version
    )
    chosen: list[str] = []
    if effects is not None and list_mode != target.MONEY_AT_RISK:
        version, models = effects
        if target.evidence_reason(models, version) is None:
            best = accounts.set_index("customer_id")[["money_saved_cny"]]
            chosen = target.select(best.dropna(subset=["money_saved_cny"]), capacity)
            reason = target.enough_reason(models, version)
            targeting = target.Targeting(target.MONEY_SAVED, reason, effect_rows, version)
    accounts = _ranked(accounts, chosen, targeting)
    leaving = _stack([p.leaving for p in parts])
    people = pd.concat([accounts, leaving])
    managers = people.set_index("customer_id")["account_manager_id"]
    actions = _stack([p.actions for p in parts])
    actions = _chosen_first(actions, targeting, chosen, playbook, calendar, today, managers)
    seconds: dict[str, float] = defaultdict(float)
    for part in parts:  # the workers' time per step, summed
        for step, spent in part.seconds.items():
            seconds[step] += spent
    return ScoredList(
        snapshot=first.snapshot,
        accounts=accounts.reset_index(drop=True),
        reasons=_stack([p.reasons for p in parts]),
        actions=actions,
        leaving=leaving,
        seconds=dict(seconds),
        horizon_months=first.horizon_months,
        peers=first.peers,
        list_mode=targeting.mode,
        list_reason=targeting.reason,
        effects=effect_rows,
        effects_version=targeting.version,
    )


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' frames as one; a partition without rows adds none and leaves the dtypes
    as the others have them (an empty column is object, the others may be str)."""
    kept = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(kept, ignore_index=True)
