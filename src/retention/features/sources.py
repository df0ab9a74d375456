"""What the feature groups read: the dataset's tables arranged once, viewed for a grid of rows.

`Tables` arranges each table once (monthly tables as account x month panels, event tables as
sorted event indexes); `Sources` binds those arrangements to the rows being computed. The same
`Tables` serves the eligibility grid and the feature grid, and any number of snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from retention.data.dataset import Dataset
from retention.features.catalogue import Catalogue
from retention.features.grid import (
    END_OF_TIME,
    NAT,
    EventIndex,
    EventView,
    Grid,
    MonthPanel,
    PanelView,
    account_codes,
    to_seconds,
)

USAGE_COLUMNS = [
    "kwh_total",
    "kwh_peak",
    "kwh_flat",
    "kwh_valley",
    "max_demand_kw",
    "power_factor",
    "kwh_total_tou",
    "pf_penalty",
]
FAR_FUTURE = np.iinfo(np.int64).max // 4
# What a feature group returns: one array (or categorical) per feature, one value per row.
Columns = dict[str, np.ndarray | pd.Categorical]


@dataclass(eq=False)
class Tables:
    """A dataset with its tables arranged for fast windows; built once per dataset."""

    dataset: Dataset
    _events: dict[tuple[str, str, str | None], EventIndex] = field(default_factory=dict, repr=False)
    _codes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _categories: dict[str, pd.Categorical] = field(default_factory=dict, repr=False)
    _values: dict[tuple[str, str], tuple[np.ndarray, dict[object, int]]] = field(
        default_factory=dict, repr=False
    )
    _seconds: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    @cached_property
    def customer_ids(self) -> pd.Index:
        return pd.Index(self.dataset.customers["customer_id"])

    def codes(self, customer_id: pd.Series) -> np.ndarray:
        return account_codes(self.customer_ids, customer_id)

    def table_codes(self, table: str) -> np.ndarray:
        """Account codes of every row of a table, computed once."""
        if table not in self._codes:
            frame = self.dataset.table(table)
            assert frame is not None
            self._codes[table] = self.codes(frame["customer_id"])
        return self._codes[table]

    @cached_property
    def usage(self) -> MonthPanel:
        usage = self.dataset.monthly_usage
        columns = {
            c: usage[c].to_numpy(dtype=float, na_value=np.nan)
            for c in USAGE_COLUMNS
            if c in usage.columns
        }
        # consumption of the months whose time-of-use split is known (shares need both)
        columns["kwh_total_tou"] = np.where(
            np.isnan(columns["kwh_peak"]), np.nan, columns["kwh_total"]
        )
        factor = columns["power_factor"]
        with np.errstate(invalid="ignore"):
            columns["pf_penalty"] = np.where(np.isnan(factor), np.nan, (factor < 0.9) * 1.0)
        panel = MonthPanel.build(
            self.customer_ids,
            usage["customer_id"],
            usage["month"],
            {c: columns[c] for c in USAGE_COLUMNS},
        )
        # Month-by-month comparisons with a year earlier, once per account and month.
        yoy = panel.year_on_year("kwh_total")
        log_yoy = np.log(np.clip(yoy, 0.05, 20))
        panel.values["kwh_yoy"] = yoy
        panel.values["kwh_low_yoy"] = np.where(np.isnan(yoy), np.nan, (yoy <= 0.7).astype(float))
        panel.values["kwh_log_yoy"] = log_yoy
        panel.values["kwh_log_yoy_sq"] = log_yoy**2
        return panel

    @cached_property
    def billing(self) -> MonthPanel:
        bills = self.dataset.monthly_billing
        columns = {
            "amount_due_cny": bills["amount_due_cny"].to_numpy(dtype=float, na_value=np.nan),
            "amount_paid_cny": bills["amount_paid_cny"].to_numpy(dtype=float, na_value=np.nan),
            "due_seconds": _seconds_or_nan(bills["due_date"]),
            "paid_seconds": _seconds_or_nan(bills["paid_date"]),
        }
        return MonthPanel.build(self.customer_ids, bills["customer_id"], bills["month"], columns)

    def events(
        self, table: str, time_column: str, where: tuple[str, object] | None = None
    ) -> EventIndex | None:
        """Rows of a table keyed by a time column (optionally only where column == value).

        None when the optional table is absent, so its features stay missing.
        """
        frame = self.dataset.table(table)
        if frame is None:
            return None
        key = (table, time_column, None if where is None else f"{where[0]}={where[1]}")
        if key not in self._events:
            codes = self.table_codes(table)
            if where is not None:
                codes = np.where(self._equals(table, *where), codes, -1)
            if (table, time_column) not in self._seconds:
                self._seconds[(table, time_column)] = to_seconds(frame[time_column])
            self._events[key] = EventIndex.build(codes, self._seconds[(table, time_column)])
        return self._events[key]

    def _equals(self, table: str, column: str, value: object) -> np.ndarray:
        """Rows of a table whose column equals the value (nulls never do); the column is
        factorised once, so each of its filters (complaints, repairs, 95598, ...) is one
        integer comparison."""
        if (table, column) not in self._values:
            frame = self.dataset.table(table)
            assert frame is not None
            codes, uniques = pd.factorize(frame[column])
            # value -> code as a dict: an Index lookup of one value costs ~0.2 ms, and an
            # on-demand request filters tickets a dozen times
            self._values[(table, column)] = codes, {v: i for i, v in enumerate(uniques)}
        codes, position_of = self._values[(table, column)]
        position = position_of.get(value, -1)
        return (codes == position) & (position >= 0)

    def categories(self, column: str) -> pd.Categorical:
        """A customers column as a categorical over the accounts, computed once."""
        if column not in self._categories:
            self._categories[column] = pd.Categorical(self.dataset.customers[column])
        return self._categories[column]

    @cached_property
    def capacity_changes(self) -> EventIndex | None:
        """Completed capacity increases and reductions, by completion time."""
        orders = self.dataset.work_orders
        if orders is None:
            return None
        changing = orders["order_type"].isin(["capacity_increase", "capacity_reduction"])
        done = (changing & (orders["status"] == "completed")).to_numpy(dtype=bool)
        codes = np.where(done, self.table_codes("work_orders"), -1)
        return EventIndex.build(codes, to_seconds(orders["completed_at"]))

    @cached_property
    def data_end(self) -> pd.Timestamp:
        """The first day after the latest month of usage or billing: the extract date."""
        last = max(
            self.dataset.monthly_usage["month"].max(), self.dataset.monthly_billing["month"].max()
        )
        return pd.Timestamp(last) + pd.DateOffset(months=1)


@dataclass(eq=False)
class Sources:
    """The arranged tables, viewed for the rows of one grid, and the catalogue."""

    tables: Tables
    grid: Grid
    catalogue: Catalogue
    _views: dict[int, EventView] = field(default_factory=dict, repr=False)

    @property
    def dataset(self) -> Dataset:
        return self.tables.dataset

    @cached_property
    def usage(self) -> PanelView:
        return self.tables.usage.on(self.grid)

    @cached_property
    def billing(self) -> PanelView:
        return self.tables.billing.on(self.grid)

    def events(
        self, table: str, time_column: str, where: tuple[str, object] | None = None
    ) -> EventView | None:
        """The rows' view of an event index, one per index: a view remembers where each
        row's windows start and end, so features reading the same events share them."""
        index = self.tables.events(table, time_column, where)
        if index is None:
            return None
        if id(index) not in self._views:
            self._views[id(index)] = index.on(self.grid)
        return self._views[id(index)]

    def customer_column(self, column: str) -> np.ndarray:
        """A customers column, per row of the grid."""
        return np.asarray(self.dataset.customers[column])[self.grid.account]

    def customer_category(self, column: str) -> pd.Categorical:
        """A customers text column as a categorical, per row (cheap: codes, not strings)."""
        categories = self.tables.categories(column)
        return pd.Categorical.from_codes(categories.codes[self.grid.account], categories.categories)

    def capacity_at(self, seconds: np.ndarray) -> np.ndarray:
        """Contract capacity per row at a time: today's capacity less the changes since.

        The archive holds today's capacity; completed increases and reductions on or after the
        time are undone, so the value is what the archive said then.
        """
        current = np.asarray(self.dataset.customers["contract_capacity_kva"], dtype=float)
        capacity = current[self.grid.account]
        changes = self.tables.capacity_changes
        if changes is None:
            return capacity
        orders = self.dataset.work_orders
        assert orders is not None
        later = changes.on(self.grid).total(
            orders["capacity_change_kva"].to_numpy(dtype=float),
            start=seconds,
            end=np.full_like(seconds, END_OF_TIME),
        )
        return capacity - later


def _seconds_or_nan(values: pd.Series) -> np.ndarray:
    seconds = to_seconds(values)
    return np.where(seconds == NAT, np.nan, seconds.astype(float))
