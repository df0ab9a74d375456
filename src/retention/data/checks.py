"""The contract's rules on the tables that were read, every problem reported at once.

Each table goes through the same steps, and none stops the others:
1. required columns are there (extra columns: one warning per file);
2. each column is parsed into its contract type (retention.data.parsing); every cell that does
   not parse is reported with its CSV line or Parquet row;
3. the table's pandera checks (retention.data.contract.schema_of) run on the typed frame:
   nullability, value rules, enums;
4. in vectorised pandas/Arrow: unique keys, end before start, peak+flat+valley against the
   total, an application's closed_at against its status and an increase without its account,
   and across tables customer ids unknown to `customers`, monthly kWh, demand and money beyond
   what the account's capacity allows (contract.CAPACITY_RULES), applications of a supplying
   unit customers do not have, and steps of an unknown application or started before it was
   accepted.

Examples never show customer_name or applicant_name values (PERSONAL_COLUMNS). A
100,000-account x 36-month Parquet dataset (3.6 million usage and billing rows, 1.5 million
tickets) loads and validates in about 5 s on 2 cores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

from retention.data.contract import (
    APPLICATION_STATUSES,
    CAPACITY_RULES,
    CLOSED_APPLICATION_STATUSES,
    EARLIEST,
    KWH_PARTS,
    KWH_PARTS_TOLERANCE,
    PERSONAL_COLUMNS,
    REQUIRED_TABLES,
    TABLE_NAMES,
    TABLES,
    CapacityRule,
    Rule,
    TableSpec,
    largest_capacity_kva,
    month_hours,
    schema_of,
)
from retention.data.dataset import Dataset
from retention.data.parsing import arrow_array, is_positional, parse_column
from retention.data.reading import RawTable
from retention.data.report import Problem, TableFile, ValidationReport
from retention.data.value_checks import failing_rows

MAX_EXAMPLES = 5
MASK = "***"


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
        if not is_positional(frame.index):
            frame = frame.reset_index(drop=True)
        if not all(isinstance(c, str) for c in frame.columns):
            frame = frame.rename(columns=str)
        rows = np.arange(len(frame), dtype=np.int64)
        raws[name] = RawTable(name, Path(name), "memory", None, frame, rows, "row")
        report.files.append(TableFile(name, name, "memory", None, len(frame)))
    check_tables(raws, unread, report, None)
    return report


def check_tables(
    raws: Mapping[str, RawTable],
    unread: Mapping[str, Problem],
    report: ValidationReport,
    folder: Path | None,
    units: pyarrow.Array | None = None,
) -> None:
    """Check the tables that were read; report every problem in contract table order.

    `units` are the supplying units applications may name, when they are not only this
    folder's customers' regions (a partition of a partitioned dataset: all partitions').
    """
    checked: dict[str, _TableCheck] = {}
    for name, raw in raws.items():
        check = _TableCheck(TABLES[name], raw, file=file_label(raw.path, folder))
        check.run()
        checked[name] = check
    customers = checked.get("customers")
    if customers is not None and customers.typed is not None and "customer_id" in customers.typed:
        known = arrow_array(customers.typed["customer_id"])
        for check in checked.values():
            if check.spec.refers_to_customers:
                check.check_customer_ids(known)
        _check_capacity_rules(checked)
    _check_applications(checked, unread, units)
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
            applications=typed.get("applications"),
            application_steps=typed.get("application_steps"),
            folder=folder,
        )


def file_label(path: Path, folder: Path | None) -> str:
    """How a report names a table file: its path inside the dataset folder (a partition's
    file is `TABLE/part-00007.parquet`), else its name."""
    if folder is not None and path.is_relative_to(folder):
        return path.relative_to(folder).as_posix()
    return path.name


def _check_applications(
    checked: Mapping[str, _TableCheck],
    unread: Mapping[str, Problem],
    units: pyarrow.Array | None = None,
) -> None:
    """The rules across applications, their steps and customers."""
    applications = checked.get("applications")
    customers = checked.get("customers")
    regions = None if customers is None or customers.typed is None else customers.typed
    if applications is not None and units is not None:
        applications.check_units(units)
    elif applications is not None and regions is not None and "region" in regions:
        applications.check_units(pc.unique(arrow_array(regions["region"]).drop_null()))
    steps = checked.get("application_steps")
    if steps is None or "applications" in unread:
        return  # an unreadable applications file is reported; its steps are not judged by it
    if applications is None or applications.typed is None:
        steps.check_application_ids(None)  # steps without applications: none is known
    elif "application_id" in applications.typed:
        steps.check_application_ids(applications)


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
        # The typed frame's columns as the parser gave them: the rules read columns ~100
        # times per request, and a frame's column lookup costs ~25 us, a dict's nothing.
        self._columns: dict[str, pd.Series] = {}

    def trusted(self, *columns: str) -> pd.DataFrame:
        """These typed columns with every cell already reported as bad made null."""
        assert self.typed is not None
        frame = self.typed[list(columns)].copy()
        for column in columns:
            bad = self.broken.get(column)
            if bad is not None and len(bad):
                frame.loc[bad, column] = None
        return frame

    def column(self, name: str) -> pd.Series:
        """A typed column (the same values as `typed[name]`)."""
        return self._columns[name]

    def months(self) -> np.ndarray:
        """The month column as datetime64[M] (two rules need it; the cast is ~0.1 s)."""
        assert self.typed is not None
        if self._months is None:
            self._months = self.column("month").to_numpy().astype("datetime64[M]")
        return self._months

    def trusted_times(self, column: str) -> np.ndarray:
        """A datetime column as datetime64[us], NaT where a cell was already reported as bad."""
        assert self.typed is not None
        values = self.column(column).to_numpy(dtype="datetime64[us]")
        bad = self.broken.get(column)
        if bad is not None and len(bad):
            values = values.copy()
            values[bad] = np.datetime64("NaT")
        return values

    def _reported(self, column: str) -> np.ndarray:
        """Rows whose cell of `column` already broke a rule of its own (a parse or a value)."""
        assert self.typed is not None
        reported = np.zeros(len(self.typed), dtype=bool)
        unparsed = self.unparsed.get(column)
        if unparsed is not None:
            reported |= unparsed
        reported[self.broken.get(column, np.array([], dtype=np.int64))] = True
        return reported

    def trusted_numbers(self, column: str) -> np.ndarray:
        """A float column as numbers, NaN where a cell was already reported as bad."""
        assert self.typed is not None
        values = self.column(column).to_numpy(dtype=float, na_value=np.nan)
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
            if column.name not in names and not column.optional:
                self.problems.append(Problem(self.file, column.name, Rule.MISSING_COLUMN))
        extra = [c for c in frame.columns if c not in self.spec.column_names]
        if extra:
            self.warnings.append(Problem(self.file, ", ".join(map(str, extra)), Rule.EXTRA_COLUMNS))
        if frame.empty and self.spec.required:
            examples = [{"detail": "header only, no rows"}]
            self.problems.append(Problem(self.file, None, Rule.EMPTY_FILE, examples=examples))
        raw_columns = dict(frame.items())  # positional: cheaper than a lookup per column
        typed = {}
        for column in self.spec.columns:
            if column.name not in names:  # an optional column left out: empty, so readers
                if column.optional:  # find every contract column in a loaded frame
                    typed[column.name] = pd.Series(np.nan, index=frame.index, dtype=column.dtype)
                continue
            raw = raw_columns[column.name]
            values, bad, rule = parse_column(raw, column)
            typed[column.name] = values
            if bad is not None and bad.any():
                positions = np.flatnonzero(bad)
                self.unparsed[column.name] = bad
                self._problem(column.name, rule, positions, _raw_values(raw))
        for name in extra:
            typed[name] = raw_columns[name]
        # copy=False: no consolidation of millions of floats into one block (CoW keeps it
        # safe); the columns' arrays, not Series, so nothing is aligned on an index again
        arrays = {name: values.array for name, values in typed.items()}
        self.typed = pd.DataFrame(arrays, index=pd.RangeIndex(len(frame)), copy=False)
        self._columns = typed
        self._run_schema([c.name for c in present])
        self._check_key()
        self._check_time_orders()
        if self.spec.name == "monthly_usage":
            self._check_kwh_parts()
        if self.spec.name == "interventions":
            self._check_held_out()
            self._check_randomised_propensity()
        if self.spec.name == "applications":
            self._check_closed_at_status()
            self._check_increase_has_customer()

    def _run_schema(self, present: list[str]) -> None:
        """The schema's nullability and value checks (schema_of), column by column.

        Each check runs on its column (value_checks.failing_rows: pandera's built-in checks
        as one comparison each, with pandera's null handling) rather than through
        DataFrameSchema.validate: the schema's lazy machinery costs about 0.6 ms per column
        and a Check call 0.5 ms whatever the rows, most of an on-demand request's
        validation, and the columns already have their dtypes (parse_column). The key is
        checked apart (_check_key): pandera's uniqueness runs DataFrame.duplicated, ~0.6 s
        per 3.6M-row table against ~0.3 s for one int64 key.
        """
        assert self.typed is not None
        schema = schema_of(self.spec.name)
        for name in present:
            values = self.column(name)
            column = schema.columns[name]
            if not column.nullable or column.checks:
                null = values.isna().to_numpy(dtype=bool)
            if not column.nullable:
                empty = null.copy()
                unparsed = self.unparsed.get(name)
                if unparsed is not None:  # a cell that did not parse is reported once
                    empty &= ~unparsed
                if empty.any():
                    self._problem(
                        name, Rule.NOT_NULL, np.flatnonzero(empty), self._typed_values(name)
                    )
            for check in column.checks:
                positions = failing_rows(check, values, null)
                if not len(positions):
                    continue
                self.broken[name] = np.union1d(self.broken.get(name, positions), positions)
                self._problem(name, str(check.error), positions, self._typed_values(name))

    def _check_key(self) -> None:
        """Rows sharing a key; rows with an empty key part are reported as empty, not here."""
        assert self.typed is not None
        key = list(self.spec.key)
        if not key or not all(k in self.typed for k in key) or self.typed.empty:
            return
        if _strictly_increasing([self.column(k) for k in key]):
            return  # sorted by its key, as exports usually are: nothing can repeat
        combined = np.zeros(len(self.typed), dtype=np.int64)  # one int64 per key value
        incomplete = np.zeros(len(self.typed), dtype=bool)
        for name in key:
            codes, cardinality = _key_codes(self.column(name))
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
            start, end = self.column(order.start), self.column(order.end)
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
        total = self.column("kwh_total").to_numpy()
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

    def _check_held_out(self) -> None:
        """A held-out assignment (the control group) was not contacted: no contacted_at, and
        its outcome is measured as churned, retained or pending, never unreachable."""
        assert self.typed is not None
        if "assignment" not in self.typed or "contacted_at" not in self.typed:
            return
        held_out = (self.typed["assignment"] == "held_out").to_numpy(dtype=bool, na_value=False)
        if not held_out.any():
            return
        shown = self._typed_values("intervention_id", "assignment", "contacted_at", "outcome")
        contacted = held_out & self.typed["contacted_at"].notna().to_numpy(dtype=bool)
        contacted &= ~self._reported("contacted_at")
        if contacted.any():
            self._problem("contacted_at", Rule.HELD_OUT_CONTACTED, np.flatnonzero(contacted), shown)
        if "outcome" in self.typed:
            outcome = self.typed["outcome"] == "unreachable"
            unreachable = held_out & outcome.to_numpy(dtype=bool, na_value=False)
            if unreachable.any():
                positions = np.flatnonzero(unreachable)
                self._problem("outcome", Rule.HELD_OUT_UNREACHABLE, positions, shown)

    def _check_randomised_propensity(self) -> None:
        """A randomised or held-out assignment has its propensity (assignment_probability):
        without it its outcome cannot be weighted, and the effects would drop it unseen."""
        assert self.typed is not None
        if "assignment_probability" not in self.spec.column_names:
            return
        drawn = np.zeros(len(self.typed), dtype=bool)
        if "assignment" in self.typed:
            drawn |= (self.typed["assignment"] == "held_out").to_numpy(dtype=bool, na_value=False)
        if "randomised" in self.typed:
            drawn |= self.typed["randomised"].astype("boolean").to_numpy(dtype=bool, na_value=False)
        if "assignment_probability" in self.typed:
            empty = self.typed["assignment_probability"].isna().to_numpy(dtype=bool)
            missing = empty & ~self._reported("assignment_probability")
        else:  # the column left out of the file: every drawn row lacks it
            missing = np.ones(len(self.typed), dtype=bool)
        positions = np.flatnonzero(drawn & missing)
        if len(positions):
            self._problem(
                "assignment_probability",
                Rule.RANDOMISED_WITHOUT_PROBABILITY,
                positions,
                self._typed_values("intervention_id", "assignment", "randomised"),
            )

    def _check_closed_at_status(self) -> None:
        """An application has closed_at exactly when its status is connected or withdrawn."""
        assert self.typed is not None
        if not {"status", "closed_at"} <= set(self.typed.columns):
            return
        status = self.typed["status"]
        closed = status.isin(CLOSED_APPLICATION_STATUSES).to_numpy(dtype=bool)
        known = status.isin(APPLICATION_STATUSES).to_numpy(dtype=bool)  # others: reported
        dated = self.typed["closed_at"].notna().to_numpy(dtype=bool)
        wrong = known & (closed != dated) & ~self._reported("closed_at")
        positions = np.flatnonzero(wrong)
        if len(positions):
            self._problem(
                "closed_at",
                Rule.CLOSED_AT_STATUS,
                positions,
                self._typed_values("application_id", "status", "closed_at"),
            )

    def _check_increase_has_customer(self) -> None:
        """A capacity increase is an existing account's: its customer_id must be given."""
        assert self.typed is not None
        if not {"application_type", "customer_id"} <= set(self.typed.columns):
            return
        increase = self.typed["application_type"] == "capacity_increase"
        missing = increase.to_numpy(dtype=bool, na_value=False) & self.typed[
            "customer_id"
        ].isna().to_numpy(dtype=bool)
        positions = np.flatnonzero(missing)
        if len(positions):
            self._problem(
                "customer_id",
                Rule.INCREASE_WITHOUT_CUSTOMER,
                positions,
                self._typed_values("application_id", "application_type", "customer_id"),
            )

    def check_units(self, units: pyarrow.Array) -> None:
        """Every region of this table must be one of `units`, the regions of customers."""
        if self.typed is None or "region" not in self.typed:
            return
        regions = self.typed["region"]
        found = pc.is_in(arrow_array(regions), value_set=units)
        known = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
        positions = np.flatnonzero(~known & regions.notna().to_numpy(dtype=bool))
        if len(positions):
            self._problem("region", Rule.UNKNOWN_UNIT, positions, self._typed_values("region"))

    def check_application_ids(self, applications: _TableCheck | None) -> None:
        """Every step's application_id must be in applications (None: the table is absent),
        and no step may start before its application was accepted."""
        if self.typed is None or "application_id" not in self.typed:
            return
        ids = self.typed["application_id"]
        given = ids.notna().to_numpy(dtype=bool)
        rows = np.full(len(ids), -1, dtype=np.int64)
        if applications is not None and applications.typed is not None:
            known = arrow_array(applications.typed["application_id"])
            found = pc.index_in(arrow_array(ids), value_set=known)
            rows = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        rows = np.where(given, rows, -1)
        positions = np.flatnonzero((rows < 0) & given)
        if len(positions):
            self._problem(
                "application_id",
                Rule.UNKNOWN_APPLICATION,
                positions,
                self._typed_values("application_id"),
            )
        if applications is not None:
            self._check_started_after_acceptance(applications, rows)

    def _check_started_after_acceptance(self, applications: _TableCheck, rows: np.ndarray) -> None:
        """No step starts before its application's accepted_at (`rows`: its row there, or -1)."""
        assert self.typed is not None
        if applications.typed is None or "accepted_at" not in applications.typed:
            return
        if "started_at" not in self.typed:
            return
        accepted_at = applications.trusted_times("accepted_at")
        if not len(accepted_at):
            return  # no applications: every step was reported as unknown
        accepted = np.where(rows >= 0, accepted_at[np.maximum(rows, 0)], np.datetime64("NaT", "us"))
        started = self.trusted_times("started_at")
        positions = np.flatnonzero(started < accepted)  # NaT on either side: False
        if not len(positions):
            return
        typed = self.typed

        def shown(i: int) -> dict[str, Any]:
            example = {
                c: _jsonable(typed[c].iat[i], self.spec.column(c).kind)
                for c in ("application_id", "step_code", "started_at")
                if c in typed
            }
            example["accepted_at"] = _jsonable(accepted[i], "timestamp")
            return example

        self._problem("started_at", Rule.STEP_BEFORE_ACCEPTANCE, positions, shown)

    def check_customer_ids(self, known: pyarrow.Array) -> None:
        """Every customer_id of this table must be in customers (nulls are reported apart);
        `known` is customers' column, and each row's place in it is kept (customer_rows)."""
        if self.typed is None or "customer_id" not in self.typed:
            return
        ids = self.typed["customer_id"]
        # pyarrow's index_in is ~15x faster than Series.isin on millions of strings.
        found = pc.index_in(arrow_array(ids), value_set=known)
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


def _strictly_increasing(columns: list[pd.Series]) -> bool:
    """Whether the rows are in strictly increasing order of these columns (nulls: no).

    One vectorised pass over neighbouring rows, ~10x cheaper than hashing the key.
    """
    if len(columns[0]) < 2:
        return True
    increasing: pyarrow.Array | None = None  # over rows 1..n-1 against the row before
    tied: pyarrow.Array | None = None
    for column in columns:
        values = arrow_array(column)
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
        encoded = pc.dictionary_encode(arrow_array(series))
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        codes = np.where(np.isnan(codes), -1, codes) if codes.dtype.kind == "f" else codes
        return codes.astype(np.int64), len(encoded.dictionary)
    codes, uniques = pd.factorize(series)
    return codes.astype(np.int64), len(uniques)


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
