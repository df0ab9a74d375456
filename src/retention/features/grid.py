"""The rows features are computed for, and the time arithmetic every feature group shares.

A feature frame has one row per (snapshot date T, account active at T). All snapshots are built
at once: monthly tables become dense account x month panels whose windows are read with
cumulative sums; event tables become one sorted array of (account, time) keys that is searched
for every row's window. Nothing loops over snapshots or accounts, so 12 snapshots cost little
more than one.

Time stamps follow DATA_CONTRACT.md: a month row is stamped by the month's first day, events by
their opening/application/start time; a row is usable at T when its stamp is strictly before T.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400
_KEY_SPAN = 10**11  # seconds since 1970 stay below this until the year 5138
END_OF_TIME = _KEY_SPAN - 1  # a time after every event, for windows open to the future


def to_seconds(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Naive datetimes as int64 seconds since the epoch; NaT becomes the int64 minimum."""
    array = np.asarray(values, dtype="datetime64[s]")
    return array.astype(np.int64)


NAT = np.iinfo(np.int64).min


def month_ordinal(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Months as integers (year * 12 + month - 1)."""
    array = np.asarray(values, dtype="datetime64[M]")
    return array.astype(np.int64) + 1970 * 12


def months_before(snapshots: pd.DatetimeIndex, months: int) -> np.ndarray:
    """T minus a number of calendar months, in seconds, for each snapshot."""
    return to_seconds(pd.DatetimeIndex([t - pd.DateOffset(months=months) for t in snapshots]))


@dataclass(frozen=True, eq=False)
class Grid:
    """Rows (snapshot, account) and, per row, the account code and the snapshot time."""

    customer_ids: pd.Index  # account code -> customer_id
    snapshots: pd.DatetimeIndex  # snapshot position -> T
    account: np.ndarray  # row -> account code
    snap: np.ndarray  # row -> snapshot position
    _cache: dict[object, object] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return int(self.account.shape[0])

    @cached_property
    def t_seconds(self) -> np.ndarray:
        return to_seconds(self.snapshots)[self.snap]

    @cached_property
    def beginning(self) -> np.ndarray:
        """Per row: a time before every event (for windows open to the past)."""
        return np.zeros(self.size, dtype=np.int64)

    @cached_property
    def last_month(self) -> np.ndarray:
        """Ordinal of the last month whose first day is before T, per row."""
        first_days = self.snapshots.normalize()
        ordinals = month_ordinal(first_days)
        # T on the first of a month: that month starts at T, so the last usable one is before.
        on_first = np.asarray(first_days.day == 1) & np.asarray(
            self.snapshots == self.snapshots.normalize()
        )
        return (ordinals - on_first.astype(np.int64))[self.snap]

    def seconds_before(self, months: int = 0, days: int = 0) -> np.ndarray:
        """Per row: T minus calendar months and days, in seconds (the same array each call)."""
        key = ("before", months, days)
        if key not in self._cache:
            per_snapshot = months_before(self.snapshots, months) - days * SECONDS_PER_DAY
            self._cache[key] = per_snapshot[self.snap]
        return self._cache[key]  # type: ignore[return-value]

    def blocks(self) -> list[tuple[slice | np.ndarray, int]]:
        """Each snapshot's rows (a slice when rows are in snapshot order) and its last month."""
        key = ("blocks",)
        if key not in self._cache:
            last = self.last_month
            if self.size and np.all(np.diff(self.snap) >= 0):
                bounds = np.searchsorted(self.snap, np.arange(self.snapshots.size + 1))
                blocks: list[tuple[slice | np.ndarray, int]] = [
                    (slice(int(a), int(b)), int(last[a]))
                    for a, b in itertools.pairwise(bounds)
                    if b > a
                ]
            else:
                blocks = [
                    (np.flatnonzero(self.snap == k), int(last[np.argmax(self.snap == k)]))
                    for k in np.unique(self.snap)
                ]
            self._cache[key] = blocks
        return self._cache[key]  # type: ignore[return-value]

    def index(self) -> pd.MultiIndex:
        return pd.MultiIndex.from_arrays(
            [self.snapshots[self.snap], self.customer_ids[self.account]],
            names=["snapshot_date", "customer_id"],
        )

    def codes(self, customer_id: pd.Series) -> np.ndarray:
        """Account codes of a column of customer ids (-1 for ids not in customers)."""
        return account_codes(self.customer_ids, customer_id)


def account_codes(customer_ids: pd.Index, customer_id: pd.Series) -> np.ndarray:
    """Positions of ids in `customer_ids` (-1 where unknown).

    Factorising first hashes each distinct id once: several times faster than looking up
    millions of repeated ids one by one.
    """
    codes, uniques = pd.factorize(customer_id)
    lookup = customer_ids.get_indexer(uniques)
    return np.where(codes >= 0, lookup[codes], -1)


@dataclass(frozen=True, eq=False)
class MonthPanel:
    """A monthly table as dense account x month arrays (NaN where there is no row)."""

    first_month: int
    values: dict[str, np.ndarray]  # column -> (accounts, months)
    _prefix: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        customer_ids: pd.Index,
        customer_id: pd.Series,
        month: pd.Series,
        columns: dict[str, np.ndarray],
    ) -> MonthPanel:
        """Rows (customer_id, month, and a float array per column) as panels."""
        codes = account_codes(customer_ids, customer_id)
        ordinal = month_ordinal(month)
        known = codes >= 0
        first = int(ordinal.min()) if len(ordinal) else 0
        width = (int(ordinal.max()) - first + 1) if len(ordinal) else 1
        cells = (codes * width + ordinal - first)[known]  # flat positions, computed once
        values = {}
        for column, row_values in columns.items():
            panel = np.full(customer_ids.size * width, np.nan)
            panel[cells] = row_values[known]
            values[column] = panel.reshape(customer_ids.size, width)
        return cls(first_month=first, values=values)

    def on(self, grid: Grid) -> PanelView:
        return PanelView(self, grid)

    def year_on_year(self, column: str) -> np.ndarray:
        """Each month against the same month a year earlier (NaN where either is missing)."""
        values = self.values[column]
        before = np.full_like(values, np.nan)
        before[:, 12:] = values[:, :-12]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(before > 0, values / before, np.nan)

    def prefix(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Running sums and counts of observed months along each account's row (width + 1)."""
        key = f"__prefix__{column}"
        if key not in self._prefix:
            values = self.values[column]
            observed = ~np.isnan(values)
            zeros = np.zeros((values.shape[0], 1))
            total = np.hstack([zeros, np.cumsum(np.where(observed, values, 0.0), axis=1)])
            count = np.hstack([zeros, np.cumsum(observed, axis=1, dtype=float)])
            self._prefix[key] = (total, count)
        return self._prefix[key]


@dataclass(frozen=True, eq=False)
class PanelView:
    """A panel read for the rows of a grid."""

    panel: MonthPanel
    grid: Grid
    _windows: dict[tuple[str, int, int], np.ndarray] = field(default_factory=dict, repr=False)

    def window(self, column: str, months: int, lag: int = 0) -> np.ndarray:
        """Per row: the (row, months) values of the window ending `lag` months before T.

        The window is the `months` months up to the last month stamped before T, shifted back
        by `lag` months (lag=12: the same months a year earlier). Months outside the table
        are NaN. Rows of one snapshot share their window, so each snapshot's block of rows is
        one slice of the panel.
        """
        key = (column, months, lag)
        if key not in self._windows:
            self._windows[key] = self._window(column, months, lag)
        return self._windows[key]

    def mean(self, column: str, months: int, lag: int = 0, min_count: int = 1) -> np.ndarray:
        """Per row: the mean over the window's observed months (NaN with fewer than min_count).

        Read from running sums: two lookups per row, whatever the window's length.
        """
        total, count = self._sums(column, months, lag)
        return np.where(count >= min_count, total / np.maximum(count, 1), np.nan)

    def total(self, column: str, months: int, lag: int = 0, min_count: int = 1) -> np.ndarray:
        """Per row: the sum over the window's observed months (NaN with fewer than min_count)."""
        total, count = self._sums(column, months, lag)
        return np.where(count >= min_count, total, np.nan)

    def _sums(self, column: str, months: int, lag: int) -> tuple[np.ndarray, np.ndarray]:
        running, observed = self.panel.prefix(column)
        width = running.shape[1] - 1
        stop = self.grid.last_month - self.panel.first_month - lag + 1  # exclusive column
        end, start = np.clip(stop, 0, width), np.clip(stop - months, 0, width)
        rows = self.grid.account
        return (
            running[rows, end] - running[rows, start],
            observed[rows, end] - observed[rows, start],
        )

    def observed(self, column: str, months: int, lag: int = 0) -> np.ndarray:
        """Per row: how many months of the window have a value."""
        return self._sums(column, months, lag)[1]

    def _window(self, column: str, months: int, lag: int) -> np.ndarray:
        values = self.panel.values[column]
        width = values.shape[1]
        out = np.full((self.grid.size, months), np.nan)
        for rows, last in self.grid.blocks():
            end = last - self.panel.first_month - lag  # inclusive panel column
            lo = end - months + 1
            src_lo, src_hi = max(lo, 0), min(end + 1, width)
            if src_hi > src_lo:
                out[rows, src_lo - lo : src_hi - lo] = values[
                    self.grid.account[rows], src_lo:src_hi
                ]
        return out


@dataclass(frozen=True, eq=False)
class EventIndex:
    """Event times per account, sorted, to count and sum events in windows."""

    keys: np.ndarray  # account * span + seconds, sorted
    order: np.ndarray  # position in the source table of each sorted key

    @classmethod
    def build(cls, codes: np.ndarray, seconds: np.ndarray) -> EventIndex:
        """Events of accounts `codes` (-1: skip) at `seconds` (NAT: skip)."""
        known = (codes >= 0) & (seconds != NAT)
        keys = codes[known].astype(np.int64) * _KEY_SPAN + seconds[known]
        order = np.argsort(keys, kind="stable")
        return cls(keys=keys[order], order=np.flatnonzero(known)[order])

    def on(self, grid: Grid) -> EventView:
        return EventView(self, grid)


@dataclass(frozen=True, eq=False)
class EventView:
    """An event index read for the rows of a grid: windows default to the past before T."""

    index: EventIndex
    grid: Grid
    _positions: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def _position(self, seconds: np.ndarray) -> np.ndarray:
        """Per row: the number of keys before (account, seconds); remembered per time array."""
        cached = self._positions.get(id(seconds))
        if cached is not None and cached[0] is seconds:
            return cached[1]
        query = self.grid.account.astype(np.int64) * _KEY_SPAN + seconds
        found = np.searchsorted(self.index.keys, query, side="left")
        self._positions[id(seconds)] = (seconds, found)
        return found

    def _bounds(
        self, start: np.ndarray | None, end: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        hi = self._position(self.grid.t_seconds if end is None else end)
        lo = self._position(self.grid.beginning if start is None else start)
        return lo, hi

    def count(self, start: np.ndarray | None = None, end: np.ndarray | None = None) -> np.ndarray:
        """Per row: events with start <= time < end (default: the account's past before T)."""
        lo, hi = self._bounds(start, end)
        return (hi - lo).astype(float)

    def total(
        self, values: np.ndarray, start: np.ndarray | None = None, end: np.ndarray | None = None
    ) -> np.ndarray:
        """Per row: the sum of a source column over events with start <= time < end."""
        lo, hi = self._bounds(start, end)
        # Sums per segment (not differences of one running sum), so a row's total is exactly
        # the same whatever other accounts' or later events' values are.
        ordered = np.append(np.nan_to_num(np.asarray(values, dtype=float)[self.index.order]), 0)
        out = np.zeros(lo.shape)
        has = hi > lo
        if has.any():
            bounds = np.stack([lo[has], hi[has]], axis=1).ravel()
            out[has] = np.add.reduceat(ordered, bounds)[::2]
        return out

    def maximum(
        self, values: np.ndarray, start: np.ndarray | None = None, end: np.ndarray | None = None
    ) -> np.ndarray:
        """Per row: the largest value over events in [start, end); NaN where there is none."""
        lo, hi = self._bounds(start, end)
        # A sentinel at the end lets a segment run to the last event.
        ordered = np.asarray(values, dtype=float)[self.index.order]
        ordered = np.append(np.nan_to_num(ordered, nan=-np.inf), -np.inf)
        out = np.full(lo.shape, -np.inf)
        has = hi > lo
        if has.any():
            # reduceat over [lo, hi): even positions are the segments, odd ones are ignored
            bounds = np.stack([lo[has], hi[has]], axis=1).ravel()
            out[has] = np.maximum.reduceat(ordered, bounds)[::2]
        return np.where(np.isfinite(out), out, np.nan)


def window_total(window: np.ndarray, min_count: int) -> np.ndarray:
    """Sum over a window's observed months; NaN with fewer than min_count of them."""
    count = np.sum(~np.isnan(window), axis=1)
    return np.where(count >= min_count, np.nansum(window, axis=1), np.nan)


def relative_change(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """now / before - 1; NaN where before is missing or not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0, now / before - 1.0, np.nan)


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator; NaN where the denominator is missing or not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)
