"""Typed frames of the applications tables, as the data contract loads them (ids and enums
as `str`, floats float64, timestamps naive local datetime64[us], document_requests Int64),
built from a few rows that name only what a test is about."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

Rows = list[dict[str, Any]]

APPLICATION_DEFAULTS: dict[str, Any] = {
    "applicant_name": "某某制造有限公司",
    "application_type": "new_connection",
    "customer_id": None,
    "industry_code": "C30",
    "region": "unit-01",
    "voltage_kv": 10.0,
    "requested_capacity_kva": 800.0,
    "supply_type": "single",
    "channel": "service_hall",
    "status": "open",
    "closed_at": None,
    "owner_id": "AM0001",
}
APPLICATION_TYPES = {
    "application_id": "str", "applicant_name": "str", "application_type": "str",
    "customer_id": "str", "industry_code": "str", "region": "str", "voltage_kv": "float64",
    "requested_capacity_kva": "float64", "supply_type": "str", "channel": "str",
    "accepted_at": "datetime64[us]", "status": "str", "closed_at": "datetime64[us]",
    "owner_id": "str",
}  # fmt: skip
STEP_DEFAULTS: dict[str, Any] = {"finished_at": None, "document_requests": 0, "handled_by": None}
STEP_TYPES = {
    "application_id": "str", "step_code": "str", "started_at": "datetime64[us]",
    "finished_at": "datetime64[us]", "document_requests": "Int64", "handled_by": "str",
}  # fmt: skip


def _typed(rows: Rows, defaults: dict[str, Any], types: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame([defaults | row for row in rows], columns=list(types))
    for name, kind in types.items():
        if kind.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name])
    return frame.astype(types)


@pytest.fixture
def applications_table() -> Callable[[Rows], pd.DataFrame]:
    return lambda rows: _typed(rows, APPLICATION_DEFAULTS, APPLICATION_TYPES)


@pytest.fixture
def steps_table() -> Callable[[Rows], pd.DataFrame]:
    return lambda rows: _typed(rows, STEP_DEFAULTS, STEP_TYPES)
