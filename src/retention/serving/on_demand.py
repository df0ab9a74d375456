"""POST /v1/score: a few accounts from fresh rows, through the batch's contract and code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from retention.data.validation import ValidationReport, validate_tables
from retention.scoring.batch import ScoredList, score_snapshot
from retention.serving.model import ServingModel
from retention.serving.score_input import ScoreRequest, request_frames


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
    snapshot = None if request.snapshot_date is None else pd.Timestamp(request.snapshot_date)
    return score_snapshot(
        report.dataset,
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
                "reasons": reasons.get(customer, []),
                "actions": actions.get(customer, []),
            }
        )
    return items


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
