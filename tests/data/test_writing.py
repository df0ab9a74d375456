"""Writing dataset folders: the on-disk forms of each format, one file per table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retention.data.loading import validate_dataset
from retention.data.writing import write_dataset

from .conftest import Tables


def test_csv_on_disk_forms(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")

    usage = (folder / "monthly_usage.csv").read_text(encoding="utf-8").splitlines()
    billing = (folder / "monthly_billing.csv").read_text(encoding="utf-8").splitlines()
    tickets = (folder / "service_tickets.csv").read_text(encoding="utf-8").splitlines()

    assert usage[0].startswith("customer_id,month,kwh_total")
    assert usage[1].startswith("C001,2024-01,")
    assert ",2024-02-15," in billing[1]
    assert tickets[1] == (
        "T1,C001,2024-01-05 09:12:00,2024-01-06 10:00:00,hotline_95598,complaint,2,false"
    )
    assert tickets[2].endswith("inquiry,,")  # nulls are empty cells


def test_parquet_on_disk_types(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "parquet")

    usage = pq.read_schema(folder / "monthly_usage.parquet")
    billing = pq.read_schema(folder / "monthly_billing.parquet")
    tickets = pq.read_schema(folder / "service_tickets.parquet")

    assert pa.types.is_string(usage.field("month").type)
    assert billing.field("due_date").type == pa.date32()
    assert pa.types.is_timestamp(tickets.field("opened_at").type)
    assert tickets.field("sla_met").type == pa.bool_()
    assert pq.read_table(folder / "monthly_usage.parquet").column("month")[0].as_py() == "2024-01"


def test_writing_one_format_replaces_the_other(tables: Tables, tmp_path: Path) -> None:
    write_dataset(tables, tmp_path, fmt="csv")

    written = write_dataset(tables, tmp_path, fmt="parquet")

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert validate_dataset(tmp_path).ok


def test_writing_an_unknown_table_or_format_fails_before_writing(
    tables: Tables, tmp_path: Path
) -> None:
    with pytest.raises(KeyError, match="customer"):
        write_dataset({"customer": tables["customers"]}, tmp_path / "a")
    with pytest.raises(ValueError, match="fmt"):
        write_dataset(tables, tmp_path / "b", fmt="xlsx")
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
