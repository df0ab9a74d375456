"""Check a dataset against the data contract and report every problem at once.

Each table goes through the same steps, and none stops the others:
1. the file is read (encoding, empty file, not a CSV/Parquet file);
2. required columns are there (extra columns: one warning per file);
3. each column is parsed into its contract type; every cell that does not parse is reported
   ("not a number", "not a month YYYY-MM", ...) with its CSV line or Parquet row;
4. the table's pandera checks (retention.data.contract.schema_of) run lazily on the typed
   frame: nullability, value rules, enums;
5. in vectorised pandas/Arrow: unique keys, end before start, peak+flat+valley against the
   total, and across tables customer ids unknown to `customers` and monthly kWh, demand and
   money beyond what the account's capacity allows (contract.CAPACITY_RULES).

Examples never show customer_name values. Everything is vectorised: numbers go through one
Arrow cast (pandas' slower parse only runs when the cast fails), dates and months are parsed
once per distinct text; a 100,000-account x 36-month Parquet dataset (3.6 million usage and
billing rows, 1.5 million tickets) loads and validates in about 5 s on 2 cores.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from retention.data.contract import (
    CAPACITY_RULES,
    DATETIME_DTYPE,
    DATETIME_KINDS,
    EARLIEST,
    KWH_PARTS,
    KWH_PARTS_TOLERANCE,
    PANDAS_DTYPES,
    PERSONAL_COLUMNS,
    REQUIRED_TABLES,
    STRING_DTYPE,
    TABLE_NAMES,
    TABLES,
    CapacityRule,
    ColumnSpec,
    Rule,
    TableSpec,
    largest_capacity_kva,
    month_hours,
    schema_of,
)
from retention.data.io import (
    LOCAL_TIMEZONE,
    Dataset,
    RawTable,
    TableReadError,
    read_table_file,
    table_files,
)

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5
MASK = "***"


@dataclass(frozen=True)
class Problem:
    """One broken rule in one file: how many rows break it and up to 5 examples.

    Each example names its place, `line` (CSV line number, line 1 is the header) or `row`
    (0-based row of a Parquet file or an in-memory frame), and the offending value(s).
    `count` is 0 for file- or column-level problems (a missing table or column).
    """

    file: str
    column: str | None
    rule: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TableFile:
    """A table file that was read: what it is and how many data rows it has."""

    table: str
    file: str
    format: str
    encoding: str | None
    rows: int


@dataclass
class ValidationReport:
    """The verdict on a dataset: problems block it, warnings do not."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    files: list[TableFile] = field(default_factory=list)
    dataset: Dataset | None = None  # the typed tables, only when ok

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (for `retention validate --json` and the API)."""
        return {
            "ok": self.ok,
            "source": self.source,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
            "files": [asdict(f) for f in self.files],
        }

    def print(self, console: Console) -> None:
        """Print the report for a person: the verdict, then problems and warnings as tables."""
        if self.ok:
            console.print(f"[bold green]OK[/] {self.source}: valid dataset / 数据合格")
        else:
            console.print(
                f"[bold red]INVALID[/] {self.source}: {len(self.problems)} problem(s) "
                f"/ 数据不合格，共 {len(self.problems)} 项问题"
            )
        if self.files:
            files = Table(title="files / 文件", title_justify="left")
            for name in ("table", "file", "rows", "encoding"):
                files.add_column(name, justify="right" if name == "rows" else "left")
            for f in self.files:
                files.add_row(f.table, f.file, f"{f.rows:,}", f.encoding or "")
            console.print(files)
        for title, items, style in (
            ("problems / 问题", self.problems, "red"),
            ("warnings / 提示", self.warnings, "yellow"),
        ):
            if not items:
                continue
            table = Table(title=title, title_justify="left", title_style=style, show_lines=True)
            table.add_column("file")
            table.add_column("column")
            table.add_column("rule")
            table.add_column("rows", justify="right")
            table.add_column("examples")
            for p in items:
                table.add_row(
                    p.file,
                    p.column or "",
                    p.rule,
                    f"{p.count:,}" if p.count else "",
                    "\n".join(_example_text(e) for e in p.examples),
                )
            console.print(table)

    def to_text(self, width: int = 120) -> str:
        """The printed report as plain text (the message of InvalidDatasetError)."""
        buffer = io.StringIO()
        self.print(Console(file=buffer, width=width, no_color=True, highlight=False))
        return buffer.getvalue().rstrip()


def _example_text(example: Mapping[str, Any]) -> str:
    place = next((k for k in ("line", "row") if k in example), None)
    rest = {k: v for k, v in example.items() if k != place}
    if list(rest) == ["value"]:
        shown = repr(rest["value"])
    elif list(rest) == ["detail"]:
        shown = str(rest["detail"])
    else:
        shown = ", ".join(f"{k}={v!r}" for k, v in rest.items())
    return f"{place} {example[place]}: {shown}" if place else shown


# --- entry points ----------------------------------------------------------------------------


def validate_dataset(folder: Path, encoding: str | None = None) -> ValidationReport:
    """Read and check every table file of a dataset folder; `encoding` forces the CSV one."""
    folder = Path(folder)
    report = ValidationReport(source=str(folder))
    if not folder.is_dir():
        report.problems.append(Problem(str(folder), None, Rule.FOLDER_NOT_FOUND))
        return report
    found, unknown = table_files(folder)
    for path in unknown:
        report.warnings.append(Problem(path.name, None, Rule.UNKNOWN_FILE))
    raws: dict[str, RawTable] = {}
    unread: dict[str, Problem] = {}  # table -> why its file could not be read
    for name in TABLE_NAMES:
        paths = found[name]
        if not paths:
            if name in REQUIRED_TABLES:
                unread[name] = Problem(f"{name}.csv / {name}.parquet", None, Rule.MISSING_TABLE)
            continue
        if len(paths) > 1:
            files = " + ".join(p.name for p in paths)
            unread[name] = Problem(files, None, Rule.TWO_FILES.replace("NAME", name))
            continue
        try:
            raw = read_table_file(name, paths[0], encoding=encoding)
        except TableReadError as err:
            if err.rule == Rule.EMPTY_FILE and name not in REQUIRED_TABLES:
                report.warnings.append(Problem(paths[0].name, None, Rule.EMPTY_OPTIONAL_FILE))
                continue
            examples = [{"line": line, "detail": detail} for line, detail in err.lines]
            if not examples:
                example: dict[str, Any] = {"line": err.line} if err.line is not None else {}
                if err.detail:
                    example["detail"] = err.detail
                examples = [example] if example else []
            unread[name] = Problem(paths[0].name, None, err.rule, err.count, examples)
            continue
        raws[name] = raw
        report.files.append(
            TableFile(name, paths[0].name, raw.format, raw.encoding, len(raw.frame))
        )
    _check_tables(raws, unread, report, folder)
    log.info(
        "validated %s: %d problem(s), %d warning(s)",
        folder,
        len(report.problems),
        len(report.warnings),
    )
    return report


def validate_tables(
    tables: Mapping[str, pd.DataFrame], source: str = "<memory>"
) -> ValidationReport:
    """The same checks on in-memory frames (text or typed); examples name 0-based rows."""
    report = ValidationReport(source=source)
    raws: dict[str, RawTable] = {}
    unread: dict[str, Problem] = {}
    for name in tables:
        if name not in TABLES:
            report.warnings.append(Problem(name, None, Rule.UNKNOWN_FILE))
    for name in TABLE_NAMES:
        if name not in tables:
            if name in REQUIRED_TABLES:
                unread[name] = Problem(name, None, Rule.MISSING_TABLE)
            continue
        frame = tables[name]
        if not _positional(frame.index):
            frame = frame.reset_index(drop=True)
        if not all(isinstance(c, str) for c in frame.columns):
            frame = frame.rename(columns=str)
        rows = np.arange(len(frame), dtype=np.int64)
        raws[name] = RawTable(name, Path(name), "memory", None, frame, rows, "row")
        report.files.append(TableFile(name, name, "memory", None, len(frame)))
    _check_tables(raws, unread, report, None)
    return report


def _check_tables(
    raws: Mapping[str, RawTable],
    unread: Mapping[str, Problem],
    report: ValidationReport,
    folder: Path | None,
) -> None:
    """Check the tables that were read; report every problem in contract table order."""
    checked: dict[str, _TableCheck] = {}
    for name, raw in raws.items():
        check = _TableCheck(TABLES[name], raw, file=raw.path.name)
        check.run()
        checked[name] = check
    customers = checked.get("customers")
    if customers is not None and customers.typed is not None and "customer_id" in customers.typed:
        known = _arrow(customers.typed["customer_id"])
        for check in checked.values():
            if check.spec.refers_to_customers:
                check.check_customer_ids(known)
        _check_capacity_rules(checked)
    for name in TABLE_NAMES:
        if name in unread:
            report.problems.append(unread[name])
        if name in checked:
            report.problems.extend(checked[name].problems)
            report.warnings.extend(checked[name].warnings)
    if report.ok:
        typed = {n: c.typed for n, c in checked.items() if c.typed is not None}
        report.dataset = Dataset(
            customers=typed["customers"],
            monthly_usage=typed["monthly_usage"],
            monthly_billing=typed["monthly_billing"],
            service_tickets=typed.get("service_tickets"),
            work_orders=typed.get("work_orders"),
            outages=typed.get("outages"),
            interventions=typed.get("interventions"),
            folder=folder,
        )


def _check_capacity_rules(checked: Mapping[str, _TableCheck]) -> None:
    """Monthly kWh, demand and money against the account's capacity (CAPACITY_RULES).

    Cells that already broke a rule of their own, and accounts whose capacity did, are left
    out: one fault is reported once.
    """
    customers = checked["customers"]
    if customers.typed is None or "contract_capacity_kva" not in customers.typed:
        return
    orders = checked.get("work_orders")
    capacity = largest_capacity_kva(
        customers.trusted("customer_id", "contract_capacity_kva"),
        orders.trusted("customer_id", "status", "capacity_change_kva") if orders else None,
    )
    usage = checked.get("monthly_usage")
    for table in ("monthly_usage", "monthly_billing"):
        check = checked.get(table)
        if check is None or check.typed is None or check.customer_rows is None:
            continue
        if "month" not in check.typed:
            continue
        rows = check.customer_rows
        account = np.where(rows >= 0, capacity[np.maximum(rows, 0)], np.nan)
        hours = month_hours(check.months())
        kwh = _kwh_of_the_month(usage, check) if table == "monthly_billing" else None
        months_kwh = np.full(len(rows), np.nan) if kwh is None else kwh
        limits: dict[str, np.ndarray] = {}  # by rule text: the kWh columns share their bound
        for rule in CAPACITY_RULES:
            if rule.table == table and rule.column in check.typed:
                if rule.rule not in limits:
                    limits[rule.rule] = rule.limit(account, hours, months_kwh)
                check.check_capacity_rule(rule, limits[rule.rule], account, kwh)


def _month_keys(check: _TableCheck) -> np.ndarray:
    """One int64 per row for (account, month); -1 where either is unknown."""
    assert check.typed is not None and check.customer_rows is not None
    number = (check.months() - np.datetime64(EARLIEST, "M")).astype(np.int64)  # NaT: int64 min
    # months since 1900 stay below 4096 (the contract ends in 2100); others are reported apart
    known = (check.customer_rows >= 0) & (number >= 0) & (number < 4096)
    return np.where(known, check.customer_rows * 4096 + number, -1)


def _kwh_of_the_month(usage: _TableCheck | None, billing: _TableCheck) -> np.ndarray:
    """Each bill's kWh of the same account and month (NaN where there is no reading)."""
    found = np.full(len(billing.raw.frame), np.nan)
    if usage is None or usage.typed is None or usage.customer_rows is None:
        return found
    if not {"kwh_total", "month"} <= set(usage.typed.columns):
        return found
    kwh = usage.trusted_numbers("kwh_total")
    assert usage.customer_rows is not None and billing.customer_rows is not None
    if np.array_equal(usage.customer_rows, billing.customer_rows) and np.array_equal(
        usage.months(), billing.months()
    ):  # the usual export: both tables in the same row order
        return np.where(billing.customer_rows >= 0, kwh, np.nan)
    keys, wanted = _month_keys(usage), _month_keys(billing)
    # Sorted keys and a binary search; a repeated key (reported apart) gives one reading.
    order = np.argsort(keys, kind="stable")
    place = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
    match = (wanted >= 0) & (len(keys) > 0) & (keys[order][place] == wanted)
    found[match] = kwh[order][place][match]
    return found


# --- one table -------------------------------------------------------------------------------


class _TableCheck:
    """Parse one raw table into its contract types and collect its problems."""

    def __init__(self, spec: TableSpec, raw: RawTable, file: str) -> None:
        self.spec = spec
        self.raw = raw
        self.file = file
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.typed: pd.DataFrame | None = None
        self.unparsed: dict[str, np.ndarray] = {}  # column -> rows already reported as bad
        self.broken: dict[str, np.ndarray] = {}  # column -> rows breaking a value rule
        self.customer_rows: np.ndarray | None = None  # each row's account in customers, or -1
        self._months: np.ndarray | None = None

    def trusted(self, *columns: str) -> pd.DataFrame:
        """These typed columns with every cell already reported as bad made null."""
        assert self.typed is not None
        frame = self.typed[list(columns)].copy()
        for column in columns:
            bad = self.broken.get(column)
            if bad is not None and len(bad):
                frame.loc[bad, column] = None
        return frame

    def months(self) -> np.ndarray:
        """The month column as datetime64[M] (two rules need it; the cast is ~0.1 s)."""
        assert self.typed is not None
        if self._months is None:
            self._months = self.typed["month"].to_numpy().astype("datetime64[M]")
        return self._months

    def trusted_numbers(self, column: str) -> np.ndarray:
        """A float column as numbers, NaN where a cell was already reported as bad."""
        assert self.typed is not None
        values = self.typed[column].to_numpy(dtype=float, na_value=np.nan)
        bad = self.broken.get(column)
        if bad is not None and len(bad):
            values = values.copy()
            values[bad] = np.nan
        return values

    # places and examples
    def _place(self, position: int) -> dict[str, Any]:
        return {self.raw.location_key: int(self.raw.locations[position])}

    def _problem(
        self,
        column: str | None,
        rule: str,
        positions: np.ndarray,
        values: Callable[[int], dict[str, Any]],
    ) -> None:
        examples = []
        for position in positions[:MAX_EXAMPLES]:
            example = self._place(int(position))
            for key, value in values(int(position)).items():
                personal = key in PERSONAL_COLUMNS or (
                    key == "value" and column in PERSONAL_COLUMNS
                )
                example[key] = MASK if personal and value is not None else value
            examples.append(example)
        self.problems.append(Problem(self.file, column, rule, len(positions), examples))

    def _typed_values(self, *columns: str) -> Callable[[int], dict[str, Any]]:
        assert self.typed is not None
        frame = self.typed
        kinds = {c: self.spec.column(c).kind for c in columns}
        if len(columns) == 1:
            (column,) = columns
            return lambda i: {"value": _jsonable(frame[column].iat[i], kinds[column])}
        return lambda i: {c: _jsonable(frame[c].iat[i], kinds[c]) for c in columns}

    # steps
    def run(self) -> None:
        frame = self.raw.frame
        names = set(frame.columns)
        present = [c for c in self.spec.columns if c.name in names]
        for column in self.spec.columns:
            if column.name not in names:
                self.problems.append(Problem(self.file, column.name, Rule.MISSING_COLUMN))
        extra = [c for c in frame.columns if c not in self.spec.column_names]
        if extra:
            self.warnings.append(Problem(self.file, ", ".join(map(str, extra)), Rule.EXTRA_COLUMNS))
        if frame.empty and self.spec.required:
            examples = [{"detail": "header only, no rows"}]
            self.problems.append(Problem(self.file, None, Rule.EMPTY_FILE, examples=examples))
        typed = {}
        for column in present:
            values, bad, rule = parse_column(frame[column.name], column)
            typed[column.name] = values
            if bad is not None and bad.any():
                positions = np.flatnonzero(bad)
                self.unparsed[column.name] = bad
                self._problem(column.name, rule, positions, _raw_values(frame[column.name]))
        for name in extra:
            typed[name] = frame[name]
        # copy=False: no consolidation of millions of floats into one block (CoW keeps it safe)
        self.typed = pd.DataFrame(typed, index=pd.RangeIndex(len(frame)), copy=False)
        self._run_schema([c.name for c in present])
        self._check_key()
        self._check_time_orders()
        if self.spec.name == "monthly_usage":
            self._check_kwh_parts()

    def _run_schema(self, present: list[str]) -> None:
        """The schema's nullability and value checks (schema_of), column by column.

        Each pandera Check is called on its column (Check.__call__: the check and its
        null handling as pandera defines them) rather than through DataFrameSchema.validate:
        the schema's lazy machinery costs about 0.6 ms per column whatever the rows, most of
        an on-demand request's validation, and the columns already have their dtypes
        (parse_column). The key is checked apart (_check_key): pandera's uniqueness runs
        DataFrame.duplicated, ~0.6 s per 3.6M-row table against ~0.3 s for one int64 key.
        """
        assert self.typed is not None
        schema = schema_of(self.spec.name)
        for name in present:
            values = self.typed[name]
            column = schema.columns[name]
            if not column.nullable:
                empty = values.isna().to_numpy(dtype=bool, copy=True)
                unparsed = self.unparsed.get(name)
                if unparsed is not None:  # a cell that did not parse is reported once
                    empty &= ~unparsed
                if empty.any():
                    self._problem(
                        name, Rule.NOT_NULL, np.flatnonzero(empty), self._typed_values(name)
                    )
            for check in column.checks:
                result = check(values)
                if bool(result.check_passed):
                    continue
                # The output is indexed by row (the frame has a RangeIndex); with ignore_na
                # pandera leaves the empty cells out of it.
                output = result.check_output
                failed = ~output.fillna(True).to_numpy(dtype=bool)
                positions = output.index.to_numpy(dtype=np.int64)[failed]
                self.broken[name] = np.union1d(self.broken.get(name, positions), positions)
                self._problem(name, str(check.error), positions, self._typed_values(name))

    def _check_key(self) -> None:
        """Rows sharing a key; rows with an empty key part are reported as empty, not here."""
        assert self.typed is not None
        key = list(self.spec.key)
        if not key or not all(k in self.typed for k in key) or self.typed.empty:
            return
        if _strictly_increasing([self.typed[k] for k in key]):
            return  # sorted by its key, as exports usually are: nothing can repeat
        combined = np.zeros(len(self.typed), dtype=np.int64)  # one int64 per key value
        incomplete = np.zeros(len(self.typed), dtype=bool)
        for name in key:
            codes, cardinality = _key_codes(self.typed[name])
            if len(key) == 1 and cardinality == int((codes >= 0).sum()):
                return  # as many distinct values as values: nothing repeats
            combined = combined * (cardinality + 1) + (codes + 1)  # null -> 0, no collisions
            incomplete |= codes < 0
        complete = np.flatnonzero(~incomplete)
        # A sort finds out whether anything repeats faster than hashing millions of keys;
        # the rows are only looked for when something does.
        ordered = np.sort(combined[complete])
        if not (ordered[1:] == ordered[:-1]).any():
            return
        repeated = pd.Series(combined[complete]).duplicated(keep=False).to_numpy()
        positions = complete[repeated]
        order = np.lexsort((positions, combined[positions]))  # same key next to each other
        self._problem(
            ", ".join(key),
            Rule.duplicate_key(self.spec.key),
            positions[order],
            self._typed_values(*key),
        )

    def _check_time_orders(self) -> None:
        # Row rules across two columns in plain pandas: a pandera frame-level check would
        # report every column of every failing row.
        assert self.typed is not None
        for order in self.spec.time_orders:
            if order.start not in self.typed or order.end not in self.typed:
                continue
            start, end = self.typed[order.start], self.typed[order.end]
            wrong = (end <= start) if order.strict else (end < start)
            positions = np.flatnonzero(wrong.to_numpy(dtype=bool, na_value=False))
            if len(positions):
                self._problem(
                    order.end, order.rule, positions, self._typed_values(order.start, order.end)
                )

    def _check_kwh_parts(self) -> None:
        assert self.typed is not None
        columns = ["kwh_total", *KWH_PARTS]
        if not all(c in self.typed for c in columns):
            return
        total = self.typed["kwh_total"].to_numpy()
        parts = self.typed[list(KWH_PARTS)].to_numpy().sum(axis=1)  # NaN when one is missing
        with np.errstate(invalid="ignore"):
            wrong = np.abs(parts - total) > KWH_PARTS_TOLERANCE * np.abs(total) + 1e-6
        positions = np.flatnonzero(wrong & ~np.isnan(parts) & ~np.isnan(total))
        if len(positions):
            self._problem(
                ", ".join(KWH_PARTS),
                Rule.KWH_PARTS_MISMATCH,
                positions,
                self._typed_values(*columns),
            )

    def check_customer_ids(self, known: pyarrow.Array) -> None:
        """Every customer_id of this table must be in customers (nulls are reported apart);
        `known` is customers' column, and each row's place in it is kept (customer_rows)."""
        if self.typed is None or "customer_id" not in self.typed:
            return
        ids = self.typed["customer_id"]
        # pyarrow's index_in is ~15x faster than Series.isin on millions of strings.
        found = pc.index_in(_arrow(ids), value_set=known)
        rows = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        self.customer_rows = np.where(ids.notna().to_numpy(), rows, -1)
        positions = np.flatnonzero((rows < 0) & ids.notna().to_numpy())
        if len(positions):
            self._problem(
                "customer_id", Rule.UNKNOWN_CUSTOMER, positions, self._typed_values("customer_id")
            )

    def check_capacity_rule(
        self, rule: CapacityRule, limit: np.ndarray, capacity: np.ndarray, kwh: np.ndarray | None
    ) -> None:
        """`rule.column` against each row's `limit`, from its account's largest `capacity`
        (and, for bills, the month's `kwh`): both are shown in the examples."""
        assert self.typed is not None
        values = self.trusted_numbers(rule.column)
        with np.errstate(invalid="ignore"):
            positions = np.flatnonzero(values > limit)  # NaN on either side: no bound
        if not len(positions):
            return
        typed = self.typed

        def shown(i: int) -> dict[str, Any]:
            example = {
                "customer_id": _jsonable(typed["customer_id"].iat[i], "string"),
                "month": _jsonable(typed["month"].iat[i], "month"),
                rule.column: float(values[i]),
                "capacity_kva": float(capacity[i]),
                "limit": float(limit[i]),
            }
            if kwh is not None:
                example["kwh_total"] = None if np.isnan(kwh[i]) else float(kwh[i])
            return example

        self._problem(rule.column, rule.rule, positions, shown)


# --- parsing one column into its contract type -----------------------------------------------

INT64_LIMIT = 2.0**63  # the first float an int64 cannot hold
_NULL_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "nat"})
_TRUE_TOKENS = frozenset({"true", "1", "是"})
_FALSE_TOKENS = frozenset({"false", "0", "否"})
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")

_BAD_RULE = {
    "string": Rule.NOT_TEXT,
    "enum": Rule.NOT_TEXT,
    "float": Rule.NOT_A_NUMBER,
    "int": Rule.NOT_AN_INTEGER,
    "bool": Rule.NOT_A_BOOL,
    "date": Rule.NOT_A_DATE,
    "month": Rule.NOT_A_MONTH,
    "timestamp": Rule.NOT_A_TIMESTAMP,
}
# Formats tried in order, first on every distinct text, then on the ones still unparsed
# after normalising separators ("/", ".", "T", 年月日). Dates must be at midnight, months on
# day 1 at midnight.
_FAST_FORMATS = {
    "date": ("%Y-%m-%d",),
    "month": ("%Y-%m",),
    "timestamp": ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"),
}
_SLOW_FORMATS = {
    "date": ("%Y-%m-%d", "%Y%m%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"),
    "month": ("%Y-%m", "%Y%m", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"),
    "timestamp": ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d"),
}

Parsed = tuple[pd.Series, np.ndarray | None, str]


def parse_column(series: pd.Series, column: ColumnSpec) -> Parsed:
    """`series` in the contract type of `column`, the mask of cells that did not parse (None
    when all did) and the rule those cells break. Unparsable cells become null."""
    kind = column.kind
    rule = _BAD_RULE[kind]
    if not _positional(series.index):
        series = series.reset_index(drop=True)
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(series.dtype.categories.dtype)
    if isinstance(series.dtype, pd.PeriodDtype):
        series = series.dt.to_timestamp()
    dtype = series.dtype
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        if dtype != STRING_DTYPE:
            series = series.astype("str")  # Python objects (dates, numbers, text) as text
        return _parse_text(series, kind, rule)
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        if kind in DATETIME_KINDS:
            return _parse_datetimes(series, kind, rule)
        return _all_bad(series, kind, rule)
    if pd.api.types.is_bool_dtype(dtype):
        if kind == "bool":
            return series.astype("boolean"), None, rule
        return _all_bad(series, kind, rule)
    if pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        return _numbers_to_kind(values, np.zeros(len(values), dtype=bool), kind, rule)
    return _all_bad(series, kind, rule)  # lists, structs, ... have no place in the contract


def _empty_of(kind: str, length: int) -> pd.Series:
    return pd.Series(np.full(length, None), dtype=PANDAS_DTYPES[kind])


def _all_bad(series: pd.Series, kind: str, rule: str) -> Parsed:
    return _empty_of(kind, len(series)), series.notna().to_numpy(dtype=bool), rule


def _numbers_to_kind(values: np.ndarray, bad: np.ndarray, kind: str, rule: str) -> Parsed:
    """float64 values (NaN = null) in the column's kind; `bad` marks cells already wrong."""
    bad = bad | np.isinf(values)  # inf is not a number anyone meant
    if kind == "float":
        if bad.any():
            values = np.where(bad, np.nan, values)
        return pd.Series(values, dtype="float64", copy=False), bad, rule
    finite = np.isfinite(values)
    if kind in DATETIME_KINDS:  # numbers are not dates
        return _empty_of(kind, len(values)), bad | finite, rule
    if kind == "bool":
        ok = finite & np.isin(values, (0.0, 1.0))
        bad |= finite & ~ok
        flags = pd.Series(values == 1.0, dtype="boolean")
        return flags.mask(~ok), bad, rule
    # int, and ids stored as numbers (their integer text is the id); beyond int64 (1e30) a
    # cast would wrap round to -9223372036854775808, so such a number is no integer here
    integral = finite & (np.floor(values) == values) & (np.abs(values) < INT64_LIMIT)
    bad |= finite & ~integral
    ok = integral & ~bad
    ints = pd.Series(np.where(ok, values, 0).astype(np.int64), dtype="Int64").mask(~ok)
    return (ints if kind == "int" else ints.astype("str")), bad, rule


def _arrow(series: pd.Series) -> pyarrow.Array:
    """A column as one Arrow array (pyarrow.array gives a ChunkedArray for chunked data)."""
    array = pyarrow.array(series)
    return array.combine_chunks() if isinstance(array, pyarrow.ChunkedArray) else array


def _strictly_increasing(columns: list[pd.Series]) -> bool:
    """Whether the rows are in strictly increasing order of these columns (nulls: no).

    One vectorised pass over neighbouring rows, ~10x cheaper than hashing the key.
    """
    if len(columns[0]) < 2:
        return True
    increasing: pyarrow.Array | None = None  # over rows 1..n-1 against the row before
    tied: pyarrow.Array | None = None
    for column in columns:
        values = _arrow(column)
        before, after = values.slice(0, len(values) - 1), values.slice(1)
        less, equal = pc.less(before, after), pc.equal(before, after)
        if increasing is None or tied is None:
            increasing, tied = less, equal
        else:
            increasing = pc.or_(increasing, pc.and_(tied, less))
            tied = pc.and_(tied, equal)
    assert increasing is not None
    return bool(pc.all(pc.fill_null(increasing, False)).as_py())


def _key_codes(series: pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes of a key column (-1 for null) and the number of distinct values."""
    if pd.api.types.is_string_dtype(series.dtype):
        # Arrow's dictionary encoding is ~2.5x faster than pd.factorize on unique strings.
        encoded = pc.dictionary_encode(_arrow(series))
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        codes = np.where(np.isnan(codes), -1, codes) if codes.dtype.kind == "f" else codes
        return codes.astype(np.int64), len(encoded.dictionary)
    codes, uniques = pd.factorize(series)
    return codes.astype(np.int64), len(uniques)


def _positional(index: pd.Index) -> bool:
    """Whether an index is already 0..n-1 (then resetting it would only copy)."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _text_nulls(series: pd.Series) -> np.ndarray:
    """Empty, blank (whitespace only) or missing cells: one Arrow pass, ~7x pandas' three
    operations on the few rows of an on-demand request."""
    text = _arrow(series)
    blank = pc.or_kleene(pc.equal(pc.utf8_length(text), 0), pc.utf8_is_space(text))
    return np.asarray(pc.fill_null(blank, True).to_numpy(zero_copy_only=False), dtype=bool)


def _parse_text(series: pd.Series, kind: str, rule: str) -> Parsed:
    null = _text_nulls(series)
    text = series.mask(null) if null.any() else series
    if kind in ("string", "enum"):
        return text, None, rule
    if kind in ("float", "int"):
        values, bad = _text_to_float(text, null)
        return _numbers_to_kind(values, bad, kind, rule)
    # Booleans, dates and months repeat: parse each distinct text once.
    codes, uniques = pd.factorize(text)
    if kind == "bool":
        parsed_bool, bad_u = _parse_bool_uniques(uniques)
        out = pd.Series(pd.array(parsed_bool, dtype="boolean").take(codes, allow_fill=True))
    else:
        parsed_time, bad_u = _parse_datetime_uniques(uniques, kind)
        values = np.append(parsed_time, np.datetime64("NaT", "us"))[codes]  # code -1 -> NaT
        out = pd.Series(values, dtype=DATETIME_DTYPE)
    bad = np.append(bad_u, False)[codes]
    return out, bad, rule


def _text_to_float(text: pd.Series, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text (NaN = null) as float64, and the mask of cells that are not numbers."""
    try:
        # One Arrow cast parses millions of cells in ~0.1 s (pd.to_numeric: ~2.5 s); it fails
        # as a whole on any bad cell, and only then the slower paths below find which ones.
        cast = pc.cast(pyarrow.array(text), pyarrow.float64())
        return cast.to_numpy(zero_copy_only=False), np.zeros(len(text), dtype=bool)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError):
        pass
    values = pd.to_numeric(text, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan, copy=True
    )
    failed = np.flatnonzero(np.isnan(values) & ~null)
    cells = text.iloc[failed].str.strip()
    null_token = cells.str.lower().isin(_NULL_TOKENS).to_numpy(dtype=bool)
    # 1,234.5: thousands separators as office software exports them
    cells = cells.where(~cells.str.match(_THOUSANDS), cells.str.replace(",", "", regex=False))
    retried = pd.to_numeric(cells, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    values[failed] = retried
    bad = np.zeros(len(values), dtype=bool)
    bad[failed] = np.isnan(retried) & ~null_token
    return values, bad


def _parse_bool_uniques(uniques: pd.Index) -> tuple[list[bool | None], np.ndarray]:
    lowered = [str(u).strip().lower() for u in uniques]
    parsed = [True if u in _TRUE_TOKENS else False if u in _FALSE_TOKENS else None for u in lowered]
    bad = np.array(
        [p is None and u not in _NULL_TOKENS for p, u in zip(parsed, lowered, strict=True)],
        dtype=bool,
    )
    return parsed, bad


def _normalise_datetime_text(text: str) -> str:
    text = text.strip()
    for old, new in (("年", "-"), ("月", "-"), ("日", ""), ("/", "-"), (".", "-"), ("T", " ")):
        text = text.replace(old, new)
    return text.rstrip("-")


def _parse_datetime_uniques(uniques: pd.Index, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct text as a datetime (NaT when bad), and the mask of bad ones."""
    parsed = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[us]")
    todo = np.ones(len(uniques), dtype=bool)
    candidates = pd.Index(uniques, dtype="str")
    for stage, formats in enumerate((_FAST_FORMATS[kind], _SLOW_FORMATS[kind])):
        if stage == 1 and todo.any():
            fixed = np.array(candidates, dtype=object)
            fixed[todo] = [_normalise_datetime_text(str(u)) for u in fixed[todo]]
            candidates = pd.Index(fixed, dtype="str")
        for fmt in formats:
            if not todo.any():
                break
            positions = np.flatnonzero(todo)
            result = pd.to_datetime(candidates[positions], format=fmt, errors="coerce")
            result_values = np.asarray(result, dtype="datetime64[us]")
            got = ~np.isnat(result_values)
            parsed[positions[got]] = result_values[got]
            todo[positions[got]] = False
    bad = todo.copy()
    for position in np.flatnonzero(todo):
        if str(uniques[int(position)]).strip().lower() in _NULL_TOKENS:
            bad[position] = False
    bad |= _off_grid(parsed, kind)
    parsed[bad] = np.datetime64("NaT")
    return parsed, bad


def _off_grid(values: np.ndarray, kind: str) -> np.ndarray:
    """Dates with a time of day; months not on day 1 at midnight."""
    if kind == "timestamp":
        return np.zeros(len(values), dtype=bool)
    present = ~np.isnat(values)
    midnight = values.astype("datetime64[D]") == values
    if kind == "date":
        return present & ~midnight
    first_day = values.astype("datetime64[M]") == values
    return present & ~(midnight & first_day)


def _parse_datetimes(series: pd.Series, kind: str, rule: str) -> Parsed:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert(LOCAL_TIMEZONE).dt.tz_localize(None)
    series = series.astype(PANDAS_DTYPES[kind])
    bad = _off_grid(series.to_numpy(), kind)
    return (series.mask(bad) if bad.any() else series), bad, rule


def _raw_values(series: pd.Series) -> Callable[[int], dict[str, Any]]:
    return lambda i: {"value": _jsonable(series.iat[i], None)}


def _jsonable(value: Any, kind: str | None) -> Any:
    """A cell as JSON-able data; datetimes as text in the contract's on-disk forms."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        if pd.isna(value):
            return None
        # numpy's text, not strftime: a typo such as year 0 must still be shown, not crash
        raw = value.to_datetime64() if isinstance(value, pd.Timestamp) else value
        text = np.datetime_as_string(raw.astype("datetime64[s]")).replace("T", " ")
        if kind == "month":
            return text[:7]
        if kind == "date" or (kind is None and text.endswith("00:00:00")):
            return text[:10]
        return text
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


__all__: Sequence[str] = (
    "Problem",
    "TableFile",
    "ValidationReport",
    "parse_column",
    "validate_dataset",
    "validate_tables",
)
