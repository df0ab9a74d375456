"""Reading one table file of a dataset folder as it is, before parsing (CSV: all text).

The reader accepts more than the writer writes: UTF-8, BOM-prefixed UTF-8 and GBK/GB18030 CSV
(detected, or forced); it refuses UTF-16, binary files and NUL bytes, naming where they are.
"""

from __future__ import annotations

import codecs
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from retention.data.contract import TABLE_NAMES, Rule
from retention.data.dataset import FORMATS

FileFormat = Literal["parquet", "csv", "memory"]

_BOM_UTF8 = codecs.BOM_UTF8
_BOMS_UTF16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


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
