"""POST /v1/score: a few accounts from fresh rows, through the batch's contract and code.

`answer` turns a request body into the finished response (it runs in a scoring worker, see
retention.serving.score_workers): parse, the contract's checks, features, the model, reasons
and actions, and each account's expected effects by the effects champion loaded with the
model (as the batch estimates them), every refusal as an error with its code.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any, cast

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import Engine

from retention.data.checks import validate_tables
from retention.data.report import ValidationReport
from retention.features.sources import Tables
from retention.records.batch import EffectRow, horizons
from retention.scoring.batch import ScoredList, score_snapshot
from retention.scoring.targeting import MONEY_AT_RISK, marked_effects
from retention.serving.answers import Answer, error_answer
from retention.serving.model import ServingModel
from retention.serving.schemas import ScoreResponse
from retention.serving.score_input import MAX_ACCOUNTS, ScoreRequest, request_frames
from retention.store.batches import BatchNotFound, batch_info, load_peer_medians
from retention.store.risk import high_band_floor

MAX_PROBLEMS = 20  # schema problems named in one error message


class Refused(ValueError):
    """The request cannot be scored: an HTTP status, an error code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def answer(
    body: bytes, serving: ServingModel, engine: Engine, medium_probability: float, today: dt.date
) -> Answer:
    """The response to a POST /v1/score body: 200 with the scored accounts, or an error."""
    try:
        request = parse(body)
        if len(request.accounts) > MAX_ACCOUNTS:
            raise Refused(
                413,
                "too_many_accounts",
                f"{len(request.accounts)} accounts in one call; at most {MAX_ACCOUNTS}: "
                "split the request, or use `retention score` for a whole portfolio",
            )
        ids = [a.customer.customer_id for a in request.accounts]  # type: ignore[attr-defined]
        if len(set(ids)) != len(ids):
            raise Refused(422, "duplicate_accounts", "each account may appear once in a request")
        try:
            peers, floor = batch_reference(engine, batch_info(engine).id)
        except BatchNotFound:  # no batch yet: peers from the request itself, no high band
            peers, floor = None, float("inf")
        try:
            scored = score_request(request, serving, peers, floor, medium_probability, today)
        except InvalidRows as err:
            raise Refused(422, "invalid_rows", rows_message(err.report)) from err
        items = scored_accounts(scored)
        missing = sorted(set(ids) - {item["customer_id"] for item in items})
        if missing:
            raise Refused(
                422,
                "not_active",
                f"评估日期时不在运行 / not active at the snapshot {scored.snapshot.date()} "
                f"(closed, not yet open, or already lost): {', '.join(missing[:10])}",
            )
    except Refused as refused:
        return error_answer(refused.status, refused.code, refused.message)
    response = ScoreResponse.model_validate(
        {
            "model_version": serving.version,
            "effects_version": scored.effects_version,
            "effects_reason": None if scored.effects_version else scored.list_reason,
            "data": items,
            "count": len(items),
        }
    )
    return Answer(200, response.model_dump_json().encode("utf-8"), len(items))


def parse(body: bytes) -> ScoreRequest:
    """The body as a ScoreRequest; a body that is not one is refused with its problems."""
    try:
        return ScoreRequest.model_validate_json(body)
    except ValidationError as err:
        # Never the inputs themselves: they can be megabytes, and hold customers' data.
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in err.errors(include_input=False, include_url=False)[:MAX_PROBLEMS]
        ]
        raise Refused(422, "invalid_request", "; ".join(problems)) from err


@lru_cache(maxsize=4)
def batch_reference(engine: Engine, batch_id: int) -> tuple[pd.DataFrame, float | None]:
    """A complete batch's peer medians and high-band floor (a complete batch never changes)."""
    return load_peer_medians(engine, batch_id), high_band_floor(engine, batch_id)


class InvalidRows(ValueError):
    """The rows break the data contract; `report` lists every problem."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.to_text())
        self.report = report


def rows_message(report: ValidationReport) -> str:
    """Every problem on one line: table.column: rule (rows; examples by 0-based row of the
    table, counting all accounts' rows in request order)."""
    lines = []
    for problem in report.problems:
        where = problem.file + (f".{problem.column}" if problem.column else "")
        examples = "; ".join(
            ", ".join(f"{k}={v}" for k, v in example.items()) for example in problem.examples[:3]
        )
        count = f" ({problem.count} rows: {examples})" if problem.count else ""
        lines.append(f"{where}: {problem.rule}{count}")
    return "\n".join(lines)


def score_request(
    request: ScoreRequest,
    serving: ServingModel,
    peers: pd.DataFrame | None,
    high_floor: float | None,
    medium_probability: float,
    today: dt.date,
) -> ScoredList:
    """Validate the rows like a dataset folder, then score them like a batch (same features,
    the latest batch's peer medians and high-band floor)."""
    report = validate_tables(request_frames(request), source="request")
    if not report.ok or report.dataset is None:
        raise InvalidRows(report)
    tables = Tables(report.dataset)
    snapshot = None if request.snapshot_date is None else pd.Timestamp(request.snapshot_date)
    if snapshot is not None:
        _check_snapshot(snapshot, tables)
    return score_snapshot(
        tables,
        serving.model,
        serving.catalogue,
        serving.playbook,
        serving.calendar,
        capacity=0,
        medium_probability=medium_probability,
        snapshot=snapshot,
        scored_on=today,
        peers=peers,
        high_floor=high_floor,
        usage_history=False,  # the account page's chart: not part of the answer
        tariffs=serving.tariffs,  # priced only for the accounts recommended tariff_plan
        # each account's expected effects as the batch estimates them; nothing is ranked
        effects=serving.effects,
        list_mode=MONEY_AT_RISK,
    )


def _check_snapshot(snapshot: pd.Timestamp, tables: Tables) -> None:
    """A snapshot the rows can speak for: after their first month (features look back from
    T), and no later than the month after their last (a later T would read months nobody
    sent as months without consumption)."""
    usage, billing = tables.dataset.monthly_usage, tables.dataset.monthly_billing
    first = min(usage["month"].min(), billing["month"].min())
    if snapshot > tables.data_end:
        raise Refused(
            422,
            "snapshot_after_data",
            f"评估日期晚于所送数据 / the snapshot {snapshot.date()} is after the rows sent: "
            f"their latest month is {(tables.data_end - pd.DateOffset(months=1)):%Y-%m}, so "
            f"score at {tables.data_end.date()} at the latest",
        )
    if snapshot <= first:
        raise Refused(
            422,
            "snapshot_before_data",
            f"评估日期早于所送数据 / the snapshot {snapshot.date()} is not after the first "
            f"month sent ({first:%Y-%m}): features need months before the snapshot",
        )


def scored_accounts(scored: ScoredList) -> list[dict[str, Any]]:
    """One response item per scored account: the listed ones, then those in exit process."""
    reasons: dict[str, list[dict[str, Any]]] = {}
    for record in scored.reasons.to_dict("records"):
        reasons.setdefault(str(record["customer_id"]), []).append(_reason(record))
    actions: dict[str, list[dict[str, Any]]] = {}
    for record in scored.actions.to_dict("records"):
        actions.setdefault(str(record["customer_id"]), []).append(
            {str(k): v for k, v in record.items()}
        )
    effects = _effects_by_account(scored)
    items = []
    listed: list[dict[str, Any]] = scored.accounts.to_dict("records")  # type: ignore[assignment]
    leaving: list[dict[str, Any]] = scored.leaving.to_dict("records")  # type: ignore[assignment]
    for row, in_exit in [(r, False) for r in listed] + [(r, True) for r in leaving]:
        customer = str(row["customer_id"])
        items.append(
            {
                "customer_id": customer,
                "snapshot_date": scored.snapshot.date(),
                "probability": None if in_exit else _number(row["probability"]),
                "band": row["band"],
                "money_at_risk_cny": None if in_exit else _number(row["money_at_risk_cny"]),
                "expected_revenue_cny": _number(row["expected_revenue_cny"]),
                "in_exit_process": in_exit,
                "horizons": [] if in_exit else horizons(row, scored.horizon_months),
                "reasons": reasons.get(customer, []),
                "actions": actions.get(customer, []),
                **_targeted(row, in_exit, effects.get(customer, []), actions.get(customer, [])),
            }
        )
    return items


def _effects_by_account(scored: ScoredList) -> dict[str, list[EffectRow]]:
    """Each account's expected effects, most money saved first (as the store reads them)."""
    order = scored.effects.sort_values(
        ["customer_id", "money_saved_cny"], ascending=[True, False], kind="stable"
    )
    out: dict[str, list[EffectRow]] = {}
    for record in order.to_dict("records"):
        effect = {str(k): v for k, v in record.items()}
        out.setdefault(str(record["customer_id"]), []).append(cast(EffectRow, effect))
    return out


def _targeted(
    row: dict[str, Any],
    in_exit: bool,
    effects: list[EffectRow],
    actions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The account's best action, churn averted, money saved and every eligible action's
    expected effect: what the batch stores for it (none for an account in exit process)."""
    if in_exit:
        return {"best_action": None, "churn_averted": None, "money_saved_cny": None}
    best = row.get("best_action")
    best = None if best is None or pd.isna(best) else str(best)
    return {
        "best_action": best,
        "churn_averted": _number(row.get("churn_averted")),
        "money_saved_cny": _number(row.get("money_saved_cny")),
        "expected_effects": marked_effects(effects, actions, best),
    }


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _reason(row: dict[Any, Any]) -> dict[str, Any]:
    value = row.get("value")
    numeric = isinstance(value, int | float) and not pd.isna(value)
    return {
        **row,
        "value_number": float(value) if numeric and value is not None else None,
        "value_text": None if numeric or value is None or pd.isna(value) else str(value),
    }
