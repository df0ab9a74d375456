"""Reading and writing dataset folders: one `NAME.parquet` or `NAME.csv` per table.

`load_dataset` validates before it returns anything (retention.data.validation) and raises
`InvalidDatasetError` listing every problem; it never writes. The typed tables follow
`retention.data.contract`: ids, text and enums as pandas `str`; floats as float64; satisfaction
as `Int64`; booleans as `boolean`; months, dates and timestamps as naive local-time
`datetime64[us]` (a month is its first day). Microseconds are pandas 3's own resolution for
parsed text and date ranges, so loaded frames merge with frames built by feature code.

On disk (`write_dataset`): months are "YYYY-MM" text in both formats; dates are "YYYY-MM-DD"
in CSV and date32 in Parquet; timestamps are "YYYY-MM-DD HH:MM:SS" in CSV and timestamp[us] in
Parquet; booleans are true/false in CSV; CSV is UTF-8. The reader accepts more than that (see
retention.data.validation): GBK/GB18030 and BOM-prefixed CSV, "YYYY-MM-DD HH:MM" timestamps,
months stored as dates, 1/0 and 是/否 booleans.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from retention.data.contract import TABLE_NAMES, Rule, table_spec

if TYPE_CHECKING:
    from retention.data.validation import ValidationReport

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")
FileFormat = Literal["parquet", "csv", "memory"]
LOCAL_TIMEZONE = "Asia/Shanghai"  # zone-aware timestamps brought by users are converted to it


def local_today() -> dt.date:
    """Today in Beijing: due dates and "overdue" turn at local midnight, whatever the host's
    clock zone."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(LOCAL_TIMEZONE)).date()


_BOM_UTF8 = codecs.BOM_UTF8
_BOMS_UTF16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True, eq=False)
class Dataset:
    """The loaded, typed tables of one dataset; optional tables are None when absent."""

    customers: pd.DataFrame
    monthly_usage: pd.DataFrame
    monthly_billing: pd.DataFrame
    service_tickets: pd.DataFrame | None = None
    work_orders: pd.DataFrame | None = None
    outages: pd.DataFrame | None = None
    interventions: pd.DataFrame | None = None
    folder: Path | None = None

    def table(self, name: str) -> pd.DataFrame | None:
        """One table by its contract name (None when an optional table is absent)."""
        table_spec(name)  # KeyError for a name that is not a table
        frame: pd.DataFrame | None = getattr(self, name)
        return frame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, in contract order."""
        return {name: f for name in TABLE_NAMES if (f := self.table(name)) is not None}

    def only(self, customer_ids: Iterable[str]) -> Dataset:
        """The same dataset restricted to some accounts (every table's rows of them)."""
        keep = set(customer_ids)
        return Dataset(
            **{
                name: frame[frame["customer_id"].isin(keep)].reset_index(drop=True)
                for name, frame in self.tables().items()
            },
            folder=self.folder,
        )


class InvalidDatasetError(ValueError):
    """The dataset breaks the contract; `report` lists every problem, str() is readable."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.to_text())
        self.report = report


class TableReadError(Exception):
    """A table file could not be read at all (empty, encoding, not a CSV/Parquet file).

    A fault on many lines names the first few as `lines` ((line, detail) pairs) and how many
    lines have it as `count`.
    """

    def __init__(
        self,
        rule: str,
        detail: str | None = None,
        line: int | None = None,
        lines: Sequence[tuple[int, str]] = (),
        count: int = 0,
    ) -> None:
        super().__init__(rule if detail is None else f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail
        self.line = line
        self.lines = list(lines)
        self.count = count


@dataclass(frozen=True, eq=False)
class RawTable:
    """One table file as read, before parsing: CSV cells are all text.

    `locations[i]` names row i of `frame` for a person: the CSV line number (line 1 is the
    header) or the 0-based Parquet row number; `location_key` says which ("line" or "row").
    """

    table: str
    path: Path
    format: FileFormat
    encoding: str | None
    frame: pd.DataFrame
    locations: np.ndarray
    location_key: Literal["line", "row"]


def table_files(folder: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """The files of each contract table in `folder`, and other CSV/Parquet files found there.

    Subfolders and names starting with "_" or "." (e.g. the simulator's `_truth/`) are skipped.
    """
    found: dict[str, list[Path]] = {name: [] for name in TABLE_NAMES}
    unknown: list[Path] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(("_", ".")):
            continue
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in FORMATS:
            continue
        if path.stem in found:
            found[path.stem].append(path)
        else:
            unknown.append(path)
    return found, unknown


def detect_encoding(data: bytes) -> str:
    """The text encoding of a CSV: UTF-8 with BOM, UTF-8, else GB18030 (a superset of GBK).

    Raises TableReadError for UTF-16 and binary files, and naming where the bytes stop making
    sense when no encoding fits. A few NUL bytes in UTF-8 or GBK text are left to the reader,
    which names their lines.
    """
    if data.startswith(_BOM_UTF8):
        _check_decodes(data, "utf-8-sig")
        return "utf-8-sig"
    sample = data[:65536]
    if data.startswith(_BOMS_UTF16) or _looks_like_utf16(sample):
        raise TableReadError(
            Rule.UNREADABLE_ENCODING, "UTF-16, not supported; save as CSV UTF-8 or GBK", line=1
        )
    binary = _binary_kind(sample)
    if binary is not None:
        raise TableReadError(
            Rule.UNREADABLE_ENCODING,
            f"binary ({binary}), not a CSV; save it as CSV UTF-8 or GBK",
            line=1,
        )
    errors: list[tuple[int, str]] = []
    for encoding in ("utf-8", "gb18030"):
        start = _first_undecodable(data, encoding)
        if start is None:
            return encoding
        errors.append((start, encoding))
    # Neither fits: point at the spot where the more plausible encoding breaks.
    start, encoding = max(errors)
    raise TableReadError(
        Rule.UNREADABLE_ENCODING,
        f"neither UTF-8 nor GB18030/GBK; as {encoding} it breaks at byte {start}",
        line=data.count(b"\n", 0, start) + 1,
    )


# A text file is not this full of NUL bytes; UTF-16 and binary files are.
BINARY_NUL_SHARE = 0.1
_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive: an .xlsx workbook?",
    b"\xd0\xcf\x11\xe0": "an Excel 97-2003 .xls workbook?",
    b"PAR1": "a Parquet file: name it .parquet",
}


def _looks_like_utf16(sample: bytes) -> bool:
    """UTF-16 without a BOM: CSV text is mostly ASCII (digits, commas, dates), which UTF-16
    writes as the byte and a NUL, so NULs are many and nearly all on even or on odd offsets."""
    nul = np.flatnonzero(np.frombuffer(sample, dtype=np.uint8) == 0)
    if not len(nul) or len(nul) < BINARY_NUL_SHARE * len(sample):
        return False
    odd = float((nul % 2).mean())
    return max(odd, 1 - odd) > 0.9


def _binary_kind(sample: bytes) -> str | None:
    """What a binary file is (by its signature, or "many NUL bytes"), None for text."""
    for signature, kind in _SIGNATURES.items():
        if sample.startswith(signature):
            return kind
    if sample.count(b"\x00") >= BINARY_NUL_SHARE * len(sample) > 0:
        return "many NUL bytes"
    return None


def _refuse_nul_bytes(data: bytes) -> None:
    """Raise TableReadError naming the lines with NUL bytes (valid UTF-8 and GBK, but no
    spreadsheet or database writes them into a CSV: a damaged file)."""
    if b"\x00" not in data:
        return
    raw = np.frombuffer(data, dtype=np.uint8)
    nul = np.flatnonzero(raw == 0)
    newline = np.flatnonzero(raw == 0x0A)
    line_of = np.searchsorted(newline, nul) + 1  # line 1 is the header
    lines, first, counts = np.unique(line_of, return_index=True, return_counts=True)
    line_start = np.concatenate(([0], newline + 1))[lines - 1]
    column = nul[first] - line_start + 1
    examples = [
        (
            int(line),
            f"{count} NUL byte{'s' if count > 1 else ''} (\\x00), the first at byte {int(at)} "
            f"of the line",
        )
        for line, count, at in zip(lines[:5], counts[:5], column[:5], strict=True)
    ]
    raise TableReadError(Rule.NUL_BYTES, lines=examples, count=len(lines))


def _ascii_compatible(encoding: str) -> bool:
    """Whether NUL and ASCII are single bytes of their own in `encoding` (UTF-8, GBK), so a
    0x00 byte is a NUL character (in UTF-16 it is half of most characters)."""
    return "\x00,\n".encode(encoding).endswith(b"\x00,\n")


def _first_undecodable(data: bytes, encoding: str, chunk: int = 1 << 24) -> int | None:
    """The offset of the first byte that does not decode, or None (in chunks: low memory)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    for offset in range(0, max(len(data), 1), chunk):
        held = len(decoder.getstate()[0])  # bytes of a character split across chunks
        try:
            decoder.decode(data[offset : offset + chunk], final=offset + chunk >= len(data))
        except UnicodeDecodeError as err:
            return offset - held + err.start
    return None


def _check_decodes(data: bytes, encoding: str) -> None:
    start = _first_undecodable(data, encoding)
    if start is not None:
        raise TableReadError(
            Rule.UNREADABLE_ENCODING,
            f"not valid {encoding} at byte {start}",
            line=data.count(b"\n", 0, start) + 1,
        )


def _forced_encoding(data: bytes, encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise TableReadError(Rule.UNREADABLE_ENCODING, f"unknown encoding {encoding!r}") from None
    if name == "utf-8" and data.startswith(_BOM_UTF8):
        name = "utf-8-sig"  # the BOM is not part of the first column's name
    _check_decodes(data, name)
    return name


def read_table_file(table: str, path: Path, encoding: str | None = None) -> RawTable:
    """Read one table file without interpreting its values (CSV: every cell as text).

    Raises TableReadError when the file cannot be read at all.
    """
    try:
        size = path.stat().st_size
    except OSError as err:
        raise TableReadError(Rule.UNREADABLE_FILE, err.strerror) from None
    if size == 0:
        raise TableReadError(Rule.EMPTY_FILE, "0 bytes")
    if path.suffix.lower() == ".csv":
        return _read_csv(table, path, encoding)
    return _read_parquet(table, path)


def _read_csv(table: str, path: Path, encoding: str | None) -> RawTable:
    data = path.read_bytes()
    used = _forced_encoding(data, encoding) if encoding else detect_encoding(data)
    if _ascii_compatible(used):
        _refuse_nul_bytes(data)
    try:
        frame = _read_csv_fast(data, used)
    except (pa.ArrowInvalid, ValueError):
        frame = _read_csv_careful(data, used)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    lines = np.arange(len(frame), dtype=np.int64) + 2
    # Rows with every cell empty (blank lines, Excel's trailing ",,,," rows) are not data.
    if len(frame.columns) and len(frame):
        empty = frame.iloc[:, 0].eq("").to_numpy(dtype=bool, na_value=True, copy=True)
        if empty.any():
            empty[empty] = (frame.loc[empty].fillna("") == "").all(axis=1).to_numpy()
            frame = frame.loc[~empty].reset_index(drop=True)
            lines = lines[~empty]
    return RawTable(table, path, "csv", used, frame, lines, "line")


def _read_csv_fast(data: bytes, encoding: str) -> pd.DataFrame:
    """Every cell as text with Arrow's multi-threaded reader (~5x faster than pandas' C one).

    Raises on anything unusual (ragged rows, duplicate or missing header): the careful reader
    then reads the file again and names the line.
    """
    read_options = pa_csv.ReadOptions(encoding=encoding, block_size=1 << 24)
    names = pa_csv.open_csv(io.BytesIO(data), read_options=read_options).schema.names
    if len(set(names)) != len(names):
        raise ValueError("duplicate column names")
    arrow = pa_csv.read_csv(
        io.BytesIO(data),
        read_options=read_options,
        parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),  # keeps line numbers
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return arrow.to_pandas()


def _read_csv_careful(data: bytes, encoding: str) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # more fields than header names: pandas would drop or shift data with a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.BytesIO(data),
                encoding=encoding,
                dtype=str,
                keep_default_na=False,  # every cell stays text; parsing reports bad cells
                skip_blank_lines=False,  # keeps row i on line i + 2
                index_col=False,
            )
    except pd.errors.EmptyDataError:
        raise TableReadError(Rule.EMPTY_FILE, "no header") from None
    except pd.errors.ParserWarning:
        raise TableReadError(
            Rule.UNREADABLE_FILE, "rows have more fields than the header"
        ) from None
    except (pd.errors.ParserError, ValueError) as err:
        message = str(err).strip()
        line = re.search(r"line (\d+)", message)
        raise TableReadError(
            Rule.UNREADABLE_FILE, message, line=int(line.group(1)) if line else None
        ) from None


def _read_parquet(table: str, path: Path) -> RawTable:
    try:
        arrow = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise TableReadError(Rule.UNREADABLE_FILE, f"not a Parquet file ({err})") from None
    frame = arrow_to_pandas(arrow)
    return RawTable(
        table, path, "parquet", None, frame, np.arange(len(frame), dtype=np.int64), "row"
    )


def arrow_to_pandas(arrow: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas without object columns where a typed one exists.

    Dates become datetime64[us] (not Python dates), integers Int64 and booleans `boolean`
    (no float or object upcasts for nulls), dictionary columns are decoded, decimals are float.
    """
    columns = []
    for column in arrow.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        if pa.types.is_date(kind):
            column = column.cast(pa.timestamp("us"))
        elif pa.types.is_timestamp(kind) and kind.unit != "us":
            column = column.cast(pa.timestamp("us", tz=kind.tz), safe=False)
        elif pa.types.is_decimal(kind):
            column = column.cast(pa.float64())
        columns.append(column)
    arrow = pa.table(columns, names=arrow.column_names)

    def mapper(kind: pa.DataType) -> object:
        if pa.types.is_boolean(kind):
            return pd.BooleanDtype()
        if pa.types.is_integer(kind):
            return pd.Int64Dtype()
        return None

    return arrow.to_pandas(types_mapper=mapper)


# --- writing ---------------------------------------------------------------------------------


def write_dataset(
    tables: Mapping[str, pd.DataFrame], folder: Path, fmt: str = "parquet"
) -> list[Path]:
    """Write each table to `folder/NAME.{fmt}` in the on-disk conventions; return the paths.

    Contract columns come first in contract order, extra columns after them. Values are not
    checked (loading does that), so a test can write a bad dataset on purpose. Each file is
    written to a temporary name and moved into place; a file of the other format for the same
    table is removed, since a table may only have one file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    for name in tables:
        table_spec(name)  # fail before writing anything when a name is not a table
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        spec = table_spec(name)
        order = [c for c in spec.column_names if c in frame.columns]
        order += [c for c in frame.columns if c not in order]
        frame = frame.reset_index(drop=True)[order]
        kinds = {c.name: c.kind for c in spec.columns}
        path = folder / f"{name}.{fmt}"
        tmp = folder / f".{name}.{fmt}.tmp"
        if fmt == "csv":
            _csv_frame(frame, kinds).to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        else:
            pq.write_table(_arrow_table(frame, kinds), tmp)
        os.replace(tmp, path)
        other = path.with_suffix(".csv" if fmt == "parquet" else ".parquet")
        if other.exists():
            other.unlink()
            log.info("removed %s: %s replaces it", other.name, path.name)
        written.append(path)
    log.info("wrote %d tables to %s (%s)", len(written), folder, fmt)
    return written


FRAME_SUFFIXES = (".parquet", ".csv")  # files write_frame can write


def write_frame(frame: pd.DataFrame, out: Path) -> Path:
    """Write a frame for people and tools to open: `.csv` (UTF-8 with a BOM, so Excel shows
    Chinese text) or `.parquet`, atomically (see `staged`)."""
    suffix = out.suffix.lower()
    if suffix not in FRAME_SUFFIXES:
        raise ValueError(f"{out}: the output must end in .parquet or .csv")
    with staged(out) as staging:
        if suffix == ".csv":
            frame.to_csv(staging, index=False, encoding="utf-8-sig")
        else:
            frame.to_parquet(staging, index=False)
    return out


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A temporary path beside `out`, moved into place only when the block succeeds, so a
    reader never sees half a file and a failed write leaves the previous file as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        yield Path(staging)
        os.replace(staging, out)
    finally:
        Path(staging).unlink(missing_ok=True)


_DATETIME_KINDS = ("month", "date", "timestamp")


def _as_naive_datetime(series: pd.Series) -> pd.Series | None:
    """`series` as naive local datetime64[us] when it holds datetimes or dates, else None."""
    if isinstance(series.dtype, pd.PeriodDtype):
        return series.dt.to_timestamp().astype("datetime64[us]")
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert(LOCAL_TIMEZONE).dt.tz_localize(None).astype("datetime64[us]")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.astype("datetime64[us]")
    if series.dtype == object:
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind in ("date", "datetime", "datetime64"):
            return pd.to_datetime(series).astype("datetime64[us]")
    return None


def _datetime_text(series: pd.Series, kind: str) -> pa.Array:
    """Datetimes as "YYYY-MM" (month), "YYYY-MM-DD" (date) or "YYYY-MM-DD HH:MM:SS" text.

    A month not on day 1 or a date with a time of day is written in full, so that loading
    reports it instead of the writer hiding it. Arrow's casts to string are ~5x faster than its
    strftime; months and dates repeat, so they are formatted once per distinct value and then
    taken (~0.1 s for 3.6 million months).
    """
    codes, uniques = pd.factorize(series)
    if len(uniques) * 4 > len(series):  # mostly distinct values: format them all
        return _format_datetimes(pa.array(series), kind)
    dictionary = _format_datetimes(pa.array(uniques), kind)
    indices = pa.array(codes, mask=codes < 0).cast(pa.int32())
    return pc.take(dictionary, indices)


def _format_datetimes(values: pa.Array, kind: str) -> pa.Array:
    full = values.cast(pa.timestamp("s"), safe=False).cast(pa.string())
    if kind == "timestamp":
        return full
    text = values.cast(pa.date32(), safe=False).cast(pa.string())
    if kind == "month":
        text = pc.utf8_slice_codeunits(text, 0, 7)
    return pc.if_else(_off_grid(values, kind), full, text)


def _off_grid(values: pa.Array, kind: str) -> pa.Array:
    """True for a date with a time of day, or a month not at midnight on day 1."""
    unit = "month" if kind == "month" else "day"
    return pc.not_equal(pc.floor_temporal(values, unit=unit), values)


def _as_str(kind: pa.DataType) -> object:
    return pd.StringDtype(na_value=np.nan) if pa.types.is_string(kind) else None


def _csv_frame(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    out = {}
    for name in frame.columns:
        series = frame[name]
        kind = kinds.get(name)
        if kind in _DATETIME_KINDS:
            as_datetime = _as_naive_datetime(series)
            if as_datetime is not None:
                text = _datetime_text(as_datetime, kind).to_pandas(types_mapper=_as_str)
                series = pd.Series(text, index=series.index, dtype="str")
        elif kind == "bool" and (
            pd.api.types.is_bool_dtype(series.dtype) or series.dtype == object
        ):
            series = series.map({True: "true", False: "false"}, na_action="ignore")
        out[name] = series
    return pd.DataFrame(out, index=frame.index)


def _arrow_table(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pa.Table:
    columns = {}
    for name in frame.columns:
        series = frame[name]
        kind = kinds.get(name)
        as_datetime = _as_naive_datetime(series) if kind in _DATETIME_KINDS else None
        if as_datetime is None:
            try:
                columns[name] = pa.Array.from_pandas(series)
            except (pa.ArrowTypeError, pa.ArrowInvalid):  # mixed Python objects: write text
                columns[name] = pa.Array.from_pandas(series.astype("str"))
        elif kind == "month":
            columns[name] = _datetime_text(as_datetime, kind)
        elif kind == "date":
            values = pa.array(as_datetime)
            if not pc.any(_off_grid(values, kind)).as_py():  # else keep the times to be seen
                values = values.cast(pa.date32())
            columns[name] = values
        else:
            columns[name] = pa.array(as_datetime)
    return pa.table(columns)


def load_dataset(folder: Path, encoding: str | None = None) -> Dataset:
    """Load and validate a dataset folder; raise InvalidDatasetError listing every problem."""
    # Imported here: validation builds on this module's readers and Dataset.
    from retention.data.validation import validate_dataset

    report = validate_dataset(folder, encoding=encoding)
    if report.dataset is None:
        raise InvalidDatasetError(report)
    return report.dataset
