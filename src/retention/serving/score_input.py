"""The body of POST /v1/score, generated from the data contract so it cannot drift from it.

Each account brings its customer record and its recent rows of the contract's tables, in the
same columns as the files (without customer_id, which the account gives). The rows become
text tables and go through the same contract checks as a dataset folder.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from retention.data.contract import DATETIME_DTYPE, TABLES, ColumnSpec
from retention.data.dataset import Dataset
from retention.data.local_time import LOCAL_TIMEZONE

MAX_ACCOUNTS = 100
ROW_TABLES = ("monthly_usage", "monthly_billing", "service_tickets", "work_orders", "outages")
MAX_ROWS = 400  # per table and account: 3 years of months, or a busy account's tickets


def _annotation(column: ColumnSpec) -> Any:
    kind = column.kind
    if kind == "enum" and column.values:
        base: Any = Literal[tuple(column.values)]
    elif kind in ("string", "enum"):
        base = str
    elif kind == "float":
        base = float
    elif kind == "int":
        base = int
    elif kind == "bool":
        base = bool
    elif kind == "date":
        base = dt.date
    elif kind == "timestamp":
        base = dt.datetime
    else:  # month
        base = str
    return base | None if column.nullable else base


def _field(column: ColumnSpec) -> Any:
    extra: dict[str, Any] = {"description": column.description or None}
    if column.kind == "month":
        extra["pattern"] = r"^\d{4}-(0[1-9]|1[0-2])$"
        extra["examples"] = ["2026-10"]
    if column.kind == "string":
        extra["max_length"] = 200
    return Field(default=None, **extra) if column.nullable else Field(**extra)


class Closed(BaseModel):
    """A model that refuses fields it does not have, with one error however many there are
    (pydantic's extra="forbid" makes one error per field: a body of 300,000 unknown fields
    cost seconds and most of a gigabyte to refuse)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [name for name in data if name not in cls.model_fields]
            if unknown:
                shown = ", ".join(repr(name[:40]) for name in unknown[:5])
                more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
                raise ValueError(
                    f"未知字段 / unknown fields {shown}{more}; the fields are: "
                    + ", ".join(cls.model_fields)
                )
        return data


def _row_model(table: str, skip_id: bool) -> type[BaseModel]:
    spec = TABLES[table]
    fields = {
        c.name: (_annotation(c), _field(c))
        for c in spec.columns
        if not (skip_id and c.name == "customer_id")
    }
    name = "".join(part.title() for part in table.split("_")) + ("Row" if skip_id else "Record")
    return create_model(name, __base__=Closed, **fields)  # type: ignore[call-overload]


CustomerRecord = _row_model("customers", skip_id=False)
ROW_MODELS = {table: _row_model(table, skip_id=True) for table in ROW_TABLES}

AccountData = create_model(  # type: ignore[call-overload]
    "AccountData",
    __base__=Closed,
    customer=(CustomerRecord, ...),
    **{
        table: (list[model], Field(default_factory=list, max_length=MAX_ROWS, fail_fast=True))  # type: ignore[valid-type]
        for table, model in ROW_MODELS.items()
    },
)


def _example() -> dict[str, Any]:
    """One simulated account with 24 months of rows (resources/score_example.json)."""
    text = resources.files("retention").joinpath("resources/score_example.json").read_text("utf-8")
    example: dict[str, Any] = json.loads(text)
    return example


class ScoreRequest(Closed):
    """Up to 100 accounts, each with its record and recent rows (24 months for every feature:
    12-month windows compared with the year before)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_example()], "additionalProperties": False}
    )

    # fail_fast: the first broken item stops validation, so a body of a million broken items
    # costs one error, not a million (the rows' data problems are all named by the contract).
    accounts: list[AccountData] = Field(min_length=1, fail_fast=True)  # type: ignore[valid-type]
    snapshot_date: dt.date | None = Field(
        default=None,
        description="Score at this date (first day of a month); default: after the latest row.",
    )

    @field_validator("snapshot_date")
    @classmethod
    def _first_of_a_month(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and (value.day != 1 or not 2000 <= value.year <= 2100):
            raise ValueError("the first day of a month between 2000 and 2100")
        return value


def request_frames(request: ScoreRequest) -> dict[str, pd.DataFrame]:
    """The request as one frame per contract table, in the contract's dtypes (customer_id
    filled in), ready for the contract's checks. JSON already typed the values, so no text is
    parsed again, and columns are built whole from the validated fields."""
    customers = [account.customer for account in request.accounts]  # type: ignore[attr-defined]
    frames = {"customers": _typed("customers", customers, [])}
    for table in ROW_TABLES:
        rows, owners = [], []
        for account, customer in zip(request.accounts, customers, strict=True):
            mine = getattr(account, table)
            rows += mine
            owners += [customer.customer_id] * len(mine)
        if rows:
            frames[table] = _typed(table, rows, owners)
    return frames


def _local_naive(value: Any) -> Any:
    """A time with a zone as Beijing wall-clock time, as the contract's loader reads it."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(ZoneInfo(LOCAL_TIMEZONE)).replace(tzinfo=None)
    return value


def _typed(table: str, rows: list[BaseModel], owners: list[str]) -> pd.DataFrame:
    """The rows' fields as columns of the contract's dtypes (customer_id from `owners` where
    the rows do not carry it)."""
    columns: dict[str, Any] = {}
    for column in TABLES[table].columns:
        if column.name == "customer_id" and owners:
            values: list[Any] = owners
        else:
            values = [getattr(row, column.name) for row in rows]
        try:
            columns[column.name] = _as_dtype(values, column)
        except (TypeError, ValueError, OverflowError):
            # Out of range for the dtype (a 25-digit integer): as text, so the contract's
            # parser names the cell and the rule.
            columns[column.name] = pd.Series([_text(v) for v in values], dtype=object)
    return pd.DataFrame(columns, copy=False)


def _as_dtype(values: list[Any], column: ColumnSpec) -> Any:
    kind = column.kind
    if kind == "month":  # YYYY-MM, checked by the field's pattern
        return np.array(values, dtype="datetime64[M]").astype(DATETIME_DTYPE)
    if kind in ("date", "timestamp"):
        return np.array(
            [None if v is None else np.datetime64(_local_naive(v)) for v in values],
            dtype=DATETIME_DTYPE,
        )
    if kind == "float":
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return pd.array(values, dtype=column.dtype)


def _text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return (
            value.strftime("%Y-%m-%d %H:%M:%S")
            if value.time() != dt.time()
            else value.strftime("%Y-%m-%d")
        )
    if isinstance(value, np.generic):
        return value.item()
    return value


def body_from_dataset(dataset: Dataset, customer_ids: list[str]) -> dict[str, Any]:
    """A POST /v1/score body (JSON) with these accounts' records and all their rows."""
    accounts = []
    customers = dataset.customers.set_index("customer_id", drop=False)
    for customer in customer_ids:
        record = {k: _cell(v) for k, v in customers.loc[customer].items()}
        account: dict[str, Any] = {"customer": record}
        for table in ROW_TABLES:
            frame = dataset.table(table)
            if frame is None:
                continue
            rows = frame[frame["customer_id"] == customer].drop(columns="customer_id")
            account[table] = [
                {k: _cell(v) for k, v in row.items()} for row in rows.to_dict("records")
            ]
            if table == "monthly_usage" or table == "monthly_billing":
                for row in account[table]:
                    row["month"] = row["month"][:7]
        accounts.append(account)
    return {"accounts": accounts}
