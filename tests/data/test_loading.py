"""Loading dataset folders: the typed in-memory tables, optional tables, bad data refused."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from retention.data.contract import TABLE_NAMES, columns_of, table_spec
from retention.data.dataset import Dataset
from retention.data.loading import InvalidDatasetError, load_dataset, validate_dataset

from .conftest import Tables

EXPECTED_DTYPES = {
    "customer_id": "str",
    "voltage_kv": "float64",
    "month": "datetime64[us]",
    "open_date": "datetime64[us]",
    "opened_at": "datetime64[us]",
    "satisfaction": "Int64",
    "sla_met": "boolean",
    "planned": "boolean",
    "channel": "str",
}


# --- round trips -----------------------------------------------------------------------------


def test_a_written_dataset_loads_back_typed_and_equal(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    folder = write(tables, fmt)

    dataset = load_dataset(folder)

    assert isinstance(dataset, Dataset)
    assert dataset.folder == folder
    assert list(dataset.tables()) == list(TABLE_NAMES)
    for name, original in tables.items():
        loaded = dataset.table(name)
        assert loaded is not None
        assert list(loaded.columns) == columns_of(name)
        for column, dtype in EXPECTED_DTYPES.items():
            if column in loaded:
                assert str(loaded[column].dtype) == dtype, (name, column)
        expected = original.copy()
        for column in expected.columns:
            expected[column] = expected[column].astype(loaded[column].dtype)
        # An optional column the file leaves out (interventions.assignment_probability) loads
        # empty; the rest is what was written.
        left_out = [c for c in loaded.columns if c not in original.columns]
        assert all(table_spec(name).column(c).optional for c in left_out), (name, left_out)
        assert loaded[left_out].isna().all().all()
        pd.testing.assert_frame_equal(loaded[list(original.columns)], expected, check_exact=False)


def test_months_are_the_first_day_and_keep_their_name(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    usage = load_dataset(write(tables, fmt)).monthly_usage

    assert (usage["month"].dt.day == 1).all()
    assert usage["month"].min() == pd.Timestamp("2024-01-01")


def test_optional_tables_may_be_absent(tables: Tables, write: Callable[..., Path]) -> None:
    required = {
        k: v for k, v in tables.items() if k in ("customers", "monthly_usage", "monthly_billing")
    }

    dataset = load_dataset(write(required, "parquet"))

    assert dataset.service_tickets is None
    assert dataset.table("outages") is None
    assert list(dataset.tables()) == ["customers", "monthly_usage", "monthly_billing"]


def test_a_header_only_optional_table_loads_with_zero_typed_rows(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    tables["outages"] = tables["outages"].iloc[:0]

    outages = load_dataset(write(tables, fmt)).outages

    assert outages is not None
    assert len(outages) == 0
    assert str(outages["start_at"].dtype) == "datetime64[us]"
    assert str(outages["planned"].dtype) == "boolean"


def test_extra_columns_are_kept_after_the_contract_columns(
    tables: Tables, write: Callable[..., Path]
) -> None:
    tables["customers"]["营销备注"] = "x"

    customers = load_dataset(write(tables, "csv")).customers

    assert list(customers.columns) == [*columns_of("customers"), "营销备注"]


# --- load_dataset on bad data ----------------------------------------------------------------


def test_load_dataset_raises_with_the_whole_report_and_writes_nothing(
    tables: Tables, write: Callable[..., Path]
) -> None:
    tables["monthly_usage"].loc[2, "kwh_total"] = -1.0
    tables["service_tickets"].loc[0, "customer_id"] = "C999"
    folder = write(tables, "csv")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())

    with pytest.raises(InvalidDatasetError) as caught:
        load_dataset(folder)

    assert len(caught.value.report.problems) >= 2
    message = str(caught.value)
    assert "monthly_usage.csv" in message
    assert "must be >= 0" in message
    assert "C999" in message
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) == before


def test_customer_names_never_reach_the_log(
    tables: Tables, write: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    tables["customers"].loc[1, "voltage_kv"] = 11.0
    folder = write(tables, "csv")

    with caplog.at_level(logging.DEBUG):
        report = validate_dataset(folder)
        report.to_text()

    assert not report.ok
    assert caplog.records
    for name in tables["customers"]["customer_name"]:
        assert name not in caplog.text
