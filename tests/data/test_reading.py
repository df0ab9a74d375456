"""Reading table files: encodings, NUL bytes and binary files, and the forms users bring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retention.data.contract import TABLE_NAMES, Rule
from retention.data.loading import load_dataset, validate_dataset
from retention.data.writing import write_dataset

from .conftest import Tables, places, the_problem


def _recode(folder: Path, table: str, encoding: str, bom: bool = False) -> Path:
    """Re-save one UTF-8 CSV of the dataset in another encoding, as office software does."""
    path = folder / f"{table}.csv"
    text = path.read_text(encoding="utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


# --- encodings -------------------------------------------------------------------------------


def test_a_gbk_csv_with_chinese_text_loads(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    _recode(folder, "customers", "gbk")

    report = validate_dataset(folder)

    assert report.ok, report.to_text()
    assert {f.table: f.encoding for f in report.files}["customers"] == "gb18030"
    assert report.dataset is not None
    customers = report.dataset.customers
    assert customers["region"].iloc[0] == "杭州供电公司"
    assert customers["customer_name"].iloc[1] == "明珠数据科技有限公司"


def test_utf8_with_bom_loads(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    _recode(folder, "customers", "utf-8", bom=True)

    report = validate_dataset(folder)

    assert report.ok, report.to_text()
    assert {f.table: f.encoding for f in report.files}["customers"] == "utf-8-sig"
    assert report.dataset is not None
    assert report.dataset.customers.columns[0] == "customer_id"


def test_forcing_the_right_encoding_works(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    for name in TABLE_NAMES:
        _recode(folder, name, "gb18030")

    report = validate_dataset(folder, encoding="gb18030")

    assert report.ok, report.to_text()
    assert {f.encoding for f in report.files} == {"gb18030"}


def test_forcing_utf8_on_a_bom_file_drops_the_bom(
    tables: Tables, write: Callable[..., Path]
) -> None:
    folder = write(tables, "csv")
    _recode(folder, "customers", "utf-8", bom=True)

    assert validate_dataset(folder, encoding="utf-8").ok


def test_forcing_the_wrong_encoding_names_the_file_and_line(
    tables: Tables, write: Callable[..., Path]
) -> None:
    folder = write(tables, "csv")
    _recode(folder, "customers", "gbk")

    report = validate_dataset(folder, encoding="utf-8")

    problem = the_problem(report)
    assert problem.file == "customers.csv"
    assert problem.rule == Rule.UNREADABLE_ENCODING
    assert places(problem) == [2]  # the first Chinese name
    assert "utf-8" in problem.examples[0]["detail"]


def test_an_unknown_encoding_name_is_a_problem(tables: Tables, write: Callable[..., Path]) -> None:
    report = validate_dataset(write(tables, "csv"), encoding="klingon")

    assert not report.ok
    assert {p.rule for p in report.problems} == {Rule.UNREADABLE_ENCODING}
    assert "klingon" in report.problems[0].examples[0]["detail"]


def test_bytes_neither_utf8_nor_gb18030_are_an_unreadable_encoding(
    tables: Tables, write: Callable[..., Path]
) -> None:
    folder = write(tables, "csv")
    path = folder / "monthly_billing.csv"
    data = path.read_bytes().splitlines(keepends=True)
    data[3] = data[3].replace(b"C001", b"C\xff\xfe1")  # 0xFF starts no character in either
    path.write_bytes(b"".join(data))

    report = validate_dataset(folder)

    problem = the_problem(report)
    assert (problem.file, problem.column, problem.rule) == (
        "monthly_billing.csv",
        None,
        Rule.UNREADABLE_ENCODING,
    )
    assert places(problem) == [4]


def test_nul_bytes_in_a_utf8_csv_are_named_with_their_lines(
    tables: Tables, write: Callable[..., Path]
) -> None:
    # Given a UTF-8 CSV with a NUL byte on line 3 and two on line 5 (a damaged export)
    folder = write(tables, "csv")
    path = folder / "monthly_usage.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b",", b",\x00", 1)
    lines[4] = b"\x00" + lines[4].replace(b",", b",\x00", 1)
    path.write_bytes(b"".join(lines))

    problem = the_problem(validate_dataset(folder))

    # then the report says NUL bytes, on which lines, not "UTF-16 or binary"
    assert (problem.file, problem.column, problem.rule) == (
        "monthly_usage.csv",
        None,
        Rule.NUL_BYTES,
    )
    assert problem.count == 2 and places(problem) == [3, 5]
    assert problem.examples[0]["detail"] == "1 NUL byte (\\x00), the first at byte 6 of the line"
    assert problem.examples[1]["detail"] == "2 NUL bytes (\\x00), the first at byte 1 of the line"
    assert "UTF-16" not in problem.rule + str(problem.examples)


def test_nul_bytes_are_found_past_the_first_64_kib(
    tables: Tables, write: Callable[..., Path]
) -> None:
    folder = write(tables, "csv")
    path = folder / "customers.csv"
    text = path.read_text(encoding="utf-8")
    padded = text + "".join(
        f"X{i:05d},厂{i},C31,杭州供电公司,10.0,1000.0,large_industry,grid_agency,,2010-01-01,,0.0\n"
        for i in range(1500)
    )
    path.write_bytes(padded.encode("utf-8") + b"X99999,\x00,C31\n")
    assert path.stat().st_size > 65536

    problem = the_problem(validate_dataset(folder))

    assert problem.rule == Rule.NUL_BYTES
    assert places(problem) == [padded.count("\n") + 1]


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("customer_id,start_at\nC001,2024-01-01\n".encode("utf-16"), "UTF-16"),  # with a BOM
        ("customer_id,start_at\nC001,2024-01-01\n".encode("utf-16-le"), "UTF-16"),  # without
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5\xfa\x91\xc3" * 40, "binary"),
        (b"\x00\x00\x00\x01\x02\x03\x00\x00" * 64, "binary (many NUL bytes)"),
    ],
)
def test_utf16_and_binary_files_are_still_named_as_such(
    tables: Tables, write: Callable[..., Path], content: bytes, detail: str
) -> None:
    folder = write(tables, "csv")
    (folder / "outages.csv").write_bytes(content)

    problem = the_problem(validate_dataset(folder))

    assert (problem.file, problem.rule) == ("outages.csv", Rule.UNREADABLE_ENCODING)
    assert detail in problem.examples[0]["detail"]


# --- what users bring ------------------------------------------------------------------------


def test_csv_accepts_user_forms_of_timestamps_booleans_and_months(
    tables: Tables, write: Callable[..., Path]
) -> None:
    folder = write(tables, "csv")
    (folder / "service_tickets.csv").write_text(
        "ticket_id,customer_id,opened_at,closed_at,channel,category,satisfaction,sla_met\n"
        "T1,C001,2024-01-05 09:12,2024-01-06 10:00:00,hotline_95598,complaint,2,TRUE\n"
        "T2,C002,2024/02/10 14:30,,online_app,inquiry,,否\n"
        "T3,C003,2024-03-02T08:00:00,,service_hall,praise,5.0,1\n",
        encoding="utf-8",
    )
    (folder / "outages.csv").write_text(
        "customer_id,start_at,end_at,planned\nC001,2024-01-15 02:00,2024-01-15 06:30,是\n",
        encoding="utf-8",
    )
    usage = (folder / "monthly_usage.csv").read_text(encoding="utf-8")
    usage = usage.replace("C001,2024-01,", "C001,2024/01,").replace("C001,2024-02,", "C001,202402,")
    (folder / "monthly_usage.csv").write_text(usage, encoding="utf-8")

    dataset = load_dataset(folder)

    tickets = dataset.service_tickets
    assert tickets is not None
    assert tickets["opened_at"].tolist() == [
        pd.Timestamp("2024-01-05 09:12"),
        pd.Timestamp("2024-02-10 14:30"),
        pd.Timestamp("2024-03-02 08:00"),
    ]
    assert tickets["sla_met"].tolist() == [True, False, True]
    assert tickets["satisfaction"].tolist() == [2, pd.NA, 5]
    assert dataset.outages is not None
    assert dataset.outages["planned"].tolist() == [True]
    assert dataset.monthly_usage["month"].iloc[:3].tolist() == list(
        pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    )


def test_parquet_months_as_dates_or_timestamps_on_day_one_load(
    tables: Tables, tmp_path: Path
) -> None:
    write_dataset(tables, tmp_path, fmt="parquet")
    usage = pq.read_table(tmp_path / "monthly_usage.parquet")
    as_dates = pa.array(tables["monthly_usage"]["month"]).cast(pa.date32())
    pq.write_table(usage.set_column(1, "month", as_dates), tmp_path / "monthly_usage.parquet")
    billing = pq.read_table(tmp_path / "monthly_billing.parquet")
    as_stamps = pa.array(tables["monthly_billing"]["month"]).cast(pa.timestamp("ns"))
    pq.write_table(billing.set_column(1, "month", as_stamps), tmp_path / "monthly_billing.parquet")

    dataset = load_dataset(tmp_path)

    assert dataset.monthly_usage["month"].iloc[1] == pd.Timestamp("2024-02-01")
    assert str(dataset.monthly_billing["month"].dtype) == "datetime64[us]"


def test_parquet_month_not_on_day_one_is_not_a_month(tables: Tables, tmp_path: Path) -> None:
    tables["monthly_usage"].loc[4, "month"] = pd.Timestamp("2024-02-15")
    write_dataset(tables, tmp_path, fmt="parquet")
    usage = pq.read_table(tmp_path / "monthly_usage.parquet")
    stamps = pa.array(tables["monthly_usage"]["month"]).cast(pa.timestamp("us"))
    pq.write_table(usage.set_column(1, "month", stamps), tmp_path / "monthly_usage.parquet")

    problem = the_problem(validate_dataset(tmp_path))

    assert (problem.column, problem.rule) == ("month", Rule.NOT_A_MONTH)
    assert problem.examples == [{"row": 4, "value": "2024-02-15"}]


def test_blank_lines_in_a_csv_keep_line_numbers_right(
    tables: Tables, write: Callable[..., Path]
) -> None:
    folder = write(tables, "csv")
    path = folder / "monthly_usage.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "")  # a blank line 4
    lines.insert(5, ",,,,,,,")  # and a row of empty cells, line 6, as Excel leaves them
    lines[8] = lines[8].replace("C002", "C404")  # data that was on line 7 is now on line 9
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    problem = the_problem(validate_dataset(folder))

    assert problem.rule == Rule.UNKNOWN_CUSTOMER
    assert places(problem) == [9]
