"""Churn labels, accounts already lost, and accounts already leaving (DATA_CONTRACT.md).

Churn of an account within the horizon H after a snapshot T is the first of these in [T, T+H):
- closure: customers.close_date or a completed closure order;
- capacity_loss: completed capacity reductions in the window summing to at least a share (50%)
  of the capacity at T, or the start of a suspension lasting at least 3 months;
- volume_loss: consumption at most half of the same month a year earlier for 3 consecutive
  months. It is dated on the first day of the third month (when it is confirmed), and all
  three months lie in the window; only the year-earlier comparison months lie before T, as
  the definition itself requires.

A suspension that starts in the window and is still running at the end of the data, younger
than 3 months, cannot be judged yet: that row's label is unknown (NA), as is every label whose
window runs past the end of the data.

Accounts already lost at T (a churn event known before T, from data before T only) are not in
the snapshot. Accounts in exit process at T (an open closure application, or open reduction
applications that would meet the capacity threshold) are flagged: they need an exit visit, not
a risk score, and stay out of training and metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from retention.features.grid import NAT, Grid, to_seconds
from retention.features.sources import FAR_FUTURE, Tables

CHURN_TYPES = ("closure", "capacity_loss", "volume_loss")


class ChurnDefinition(BaseModel):
    """What counts as churn; thresholds and H are settings, each event type can be off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_months: int = Field(default=6, ge=1, le=24)
    closure: bool = True
    capacity_loss: bool = True
    volume_loss: bool = True
    capacity_loss_share: float = Field(default=0.5, gt=0, le=1)
    suspension_months: int = Field(default=3, ge=1, le=24)
    volume_loss_share: float = Field(default=0.5, gt=0, lt=1)
    volume_loss_months: int = Field(default=3, ge=1, le=12)


def _add_months(seconds: np.ndarray, months: int) -> np.ndarray:
    """Calendar months added to times in seconds (NAT stays NAT)."""
    valid = seconds != NAT
    out = np.full(seconds.shape, NAT, dtype=np.int64)
    if valid.any():
        shifted = pd.DatetimeIndex(seconds[valid].astype("datetime64[s]")) + pd.DateOffset(
            months=months
        )
        out[valid] = to_seconds(shifted)
    return out


class ChurnEvents:
    """Every account's churn evidence, arranged once, read for any grid of snapshots."""

    def __init__(self, tables: Tables, definition: ChurnDefinition) -> None:
        self.tables = tables
        self.definition = definition
        d = tables.dataset
        self.data_end = to_seconds(pd.DatetimeIndex([tables.data_end]))[0]

        # Closure: the earlier of the archive's close date and a completed closure order.
        closed = to_seconds(d.customers["close_date"])
        closed = np.where(closed == NAT, FAR_FUTURE, closed)
        orders = d.work_orders
        if orders is not None:
            done = orders[(orders["order_type"] == "closure") & (orders["status"] == "completed")]
            codes = tables.codes(done["customer_id"])
            np.minimum.at(closed, codes[codes >= 0], to_seconds(done["completed_at"])[codes >= 0])
        self.closure = closed

        self.suspensions = self._suspension_spells()
        self.reductions = self._reductions()
        self.low_months = self._low_months()

    # -- evidence -----------------------------------------------------------------------------
    def _suspension_spells(self) -> pd.DataFrame:
        """Completed suspensions with the next completed resumption (or none yet)."""
        orders = self.tables.dataset.work_orders
        columns = ["account", "start", "end", "long", "unresolved", "known"]
        if orders is None:
            return pd.DataFrame(columns=columns)
        done = orders[orders["status"] == "completed"]
        stops = done[done["order_type"] == "suspension"]
        backs = done[done["order_type"] == "resumption"]
        left = pd.DataFrame(
            {
                "account": self.tables.codes(stops["customer_id"]),
                "start": to_seconds(stops["completed_at"]),
            }
        ).sort_values("start")
        right = pd.DataFrame(
            {
                "account": self.tables.codes(backs["customer_id"]),
                "end": to_seconds(backs["completed_at"]),
            }
        ).sort_values("end")
        spells = pd.merge_asof(
            left,
            right,
            left_on="start",
            right_on="end",
            by="account",
            direction="forward",
            allow_exact_matches=False,
        )
        end = spells["end"].fillna(NAT).to_numpy(dtype=np.int64)
        start = spells["start"].to_numpy(dtype=np.int64)
        lasting_until = _add_months(start, self.definition.suspension_months)
        ongoing = end == NAT
        long = np.where(ongoing, lasting_until <= self.data_end, end >= lasting_until)
        return pd.DataFrame(
            {
                "account": spells["account"].to_numpy(),
                "start": start,
                "end": end,
                "long": long,
                "unresolved": ongoing & (lasting_until > self.data_end),
                "known": lasting_until,  # from then on, data before T shows it lasted
            }
        )

    def _reductions(self) -> pd.DataFrame:
        orders = self.tables.dataset.work_orders
        if orders is None:
            return pd.DataFrame(columns=["account", "done", "kva"])
        cuts = orders[
            (orders["order_type"] == "capacity_reduction") & (orders["status"] == "completed")
        ]
        return pd.DataFrame(
            {
                "account": self.tables.codes(cuts["customer_id"]),
                "done": to_seconds(cuts["completed_at"]),
                "kva": -np.minimum(cuts["capacity_change_kva"].to_numpy(dtype=float), 0.0),
            }
        ).sort_values(["account", "done"], kind="stable")

    def _low_months(self) -> np.ndarray:
        """(accounts, months) True where consumption is at most half of a year earlier."""
        kwh = self.tables.usage.values["kwh_total"]
        before = np.full_like(kwh, np.nan)
        before[:, 12:] = kwh[:, :-12]
        with np.errstate(invalid="ignore"):
            return (before > 0) & (kwh <= (1 - self.definition.volume_loss_share) * before)

    # -- reading ------------------------------------------------------------------------------
    def known_before(self, grid: Grid, capacity_at: object) -> np.ndarray:
        """Per row: the account had churned before T, as data before T shows."""
        t = grid.t_seconds
        d = self.definition
        lost = np.zeros(grid.size, dtype=bool)
        if d.closure:
            lost |= self.closure[grid.account] < t
        if d.capacity_loss:
            lost |= (
                _first_per_account(self.suspensions[self.suspensions["long"]], "known", grid) < t
            )
            lost |= self._reduction_churn_times(capacity_at, grid) < t
        if d.volume_loss:
            confirmed = self._confirmations(self.low_months)
            first = np.where(confirmed.any(axis=1), confirmed.argmax(axis=1), 10**6)
            first_day_ordinal = first + self.tables.usage.first_month
            # The confirming month's row is stamped on its first day: known when that is < T.
            lost |= first_day_ordinal[grid.account] <= grid.last_month
        return lost

    def _confirmations(self, low: np.ndarray) -> np.ndarray:
        """True at month j when months j-k+1 .. j are all low."""
        k = self.definition.volume_loss_months
        run = low.copy()
        for back in range(1, k):
            shifted = np.zeros_like(low)
            shifted[:, back:] = low[:, :-back]
            run &= shifted
        return run

    def _reduction_churn_times(self, capacity_at: object, grid: Grid) -> np.ndarray:
        """Per row: the first time reductions within H months reached the share of capacity."""
        cuts = self.reductions
        out = np.full(grid.size, FAR_FUTURE, dtype=np.int64)
        if cuts.empty:
            return out
        h = self.definition.horizon_months
        pairs = cuts.merge(cuts, on="account", suffixes=("", "_earlier"))
        window_start = _add_months(pairs["done"].to_numpy(dtype=np.int64), -h)
        inside = (pairs["done_earlier"] <= pairs["done"]) & (pairs["done_earlier"] >= window_start)
        pairs = pairs[inside.to_numpy()]
        summed = pairs.groupby(["account", "done"], as_index=False)["kva_earlier"].sum()
        before = _add_months(summed["done"].to_numpy(dtype=np.int64), -h)
        capacity = capacity_at(summed["account"].to_numpy(), before)  # type: ignore[operator]
        churn = summed[
            summed["kva_earlier"].to_numpy() >= self.definition.capacity_loss_share * capacity
        ]
        first = churn.groupby("account")["done"].min()
        per_account = np.full(self.tables.customer_ids.size, FAR_FUTURE, dtype=np.int64)
        per_account[first.index.to_numpy(dtype=int)] = first.to_numpy(dtype=np.int64)
        return per_account[grid.account]

    def labels(self, grid: Grid, capacity_t: np.ndarray) -> pd.DataFrame:
        """Per row: churn (1/0, NA when unknown), churn_type and churn_date in [T, T+H)."""
        d = self.definition
        t = grid.t_seconds
        end = _add_months(t, d.horizon_months)
        candidates: dict[str, np.ndarray] = {}
        unknown = end > self.data_end

        if d.closure:
            closed = self.closure[grid.account]
            candidates["closure"] = np.where((closed >= t) & (closed < end), closed, FAR_FUTURE)
        if d.capacity_loss:
            spells = self.suspensions
            first_long, first_unresolved = _first_in_window(spells, grid, t, end)
            cut = self._cut_in_window(grid, t, end, capacity_t)
            candidates["capacity_loss"] = np.minimum(first_long, cut)
            # An unresolved suspension decides the label only if nothing came before it.
            candidates["_unresolved"] = first_unresolved
        if d.volume_loss:
            candidates["volume_loss"] = self._volume_loss_in_window(grid)

        kinds = [k for k in candidates if not k.startswith("_")]
        times = (
            np.stack([candidates[k] for k in kinds], axis=1)
            if kinds
            else np.full((grid.size, 1), FAR_FUTURE)
        )
        first = times.min(axis=1)
        kind = np.array(kinds or ["none"], dtype=object)[times.argmin(axis=1)]
        churned = first < FAR_FUTURE
        if "_unresolved" in candidates:
            unknown |= candidates["_unresolved"] < first
        label = pd.Series(churned.astype(int)).astype("Int64").mask(unknown)
        dates = pd.Series(np.where(churned, first, NAT).astype("datetime64[s]"))
        return pd.DataFrame(
            {
                "churn": label.array,
                "churn_type": pd.Series(kind).where(churned & ~unknown).astype("str"),
                "churn_date": dates.astype("datetime64[us]").mask(~churned | unknown).to_numpy(),
            }
        )

    def _cut_in_window(
        self, grid: Grid, t: np.ndarray, end: np.ndarray, capacity_t: np.ndarray
    ) -> np.ndarray:
        """Per row: when completed reductions in [T, end) first reach the share of capacity."""
        out = np.full(grid.size, FAR_FUTURE, dtype=np.int64)
        cuts = self.reductions
        if cuts.empty:
            return out
        rows = pd.DataFrame(
            {
                "row": np.arange(grid.size),
                "account": grid.account,
                "t": t,
                "end": end,
                "capacity": capacity_t,
            }
        )
        pairs = rows.merge(cuts, on="account")
        pairs = pairs[(pairs["done"] >= pairs["t"]) & (pairs["done"] < pairs["end"])]
        if pairs.empty:
            return out
        pairs = pairs.sort_values(["row", "done"], kind="stable")
        pairs["cumulative"] = pairs.groupby("row")["kva"].cumsum()
        hit = pairs[pairs["cumulative"] >= self.definition.capacity_loss_share * pairs["capacity"]]
        first = hit.groupby("row")["done"].min()
        out[first.index.to_numpy(dtype=int)] = first.to_numpy(dtype=np.int64)
        return out

    def _volume_loss_in_window(self, grid: Grid) -> np.ndarray:
        """Per row: first day of the month confirming 3 low months, all inside [T, T+H)."""
        panel = self.low_months
        h, k = self.definition.horizon_months, self.definition.volume_loss_months
        first_col = grid.last_month + 1 - self.tables.usage.first_month  # first month >= T
        cols = first_col[:, None] + np.arange(h)[None, :]
        inside = (cols >= 0) & (cols < panel.shape[1])
        low = panel[grid.account[:, None], np.clip(cols, 0, panel.shape[1] - 1)] & inside
        run = low.copy()
        for back in range(1, k):
            shifted = np.zeros_like(low)
            shifted[:, back:] = low[:, :-back]
            run &= shifted
        run[:, : k - 1] = False  # the run must start inside the window
        hit = run.any(axis=1)
        month = first_col + run.argmax(axis=1) + self.tables.usage.first_month
        days = (month - 1970 * 12).astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
        return np.where(hit, days, FAR_FUTURE)

    def in_exit_process(self, grid: Grid, capacity_t: np.ndarray) -> np.ndarray:
        """Per row: an open closure application, or open reductions meeting the threshold."""
        orders = self.tables.dataset.work_orders
        flag = np.zeros(grid.size, dtype=bool)
        if orders is None:
            return flag
        applied = to_seconds(orders["applied_at"])
        completed = to_seconds(orders["completed_at"])
        live = (orders["status"] != "cancelled").to_numpy(dtype=bool)
        kind = orders["order_type"].to_numpy(dtype=object)
        leaving = live & np.isin(kind, ["closure", "capacity_reduction"])
        if not leaving.any():
            return flag
        rows = pd.DataFrame(
            {
                "row": np.arange(grid.size),
                "account": grid.account,
                "t": grid.t_seconds,
                "capacity": capacity_t,
            }
        )
        apps = pd.DataFrame(
            {
                "account": self.tables.codes(orders["customer_id"])[leaving],
                "applied": applied[leaving],
                "completed": completed[leaving],
                "closure": kind[leaving] == "closure",
                "kva": -np.minimum(orders["capacity_change_kva"].to_numpy(dtype=float)[leaving], 0),
            }
        )
        pairs = rows.merge(apps, on="account")
        open_at_t = (pairs["applied"] < pairs["t"]) & (
            (pairs["completed"] == NAT) | (pairs["completed"] >= pairs["t"])
        )
        pairs = pairs[open_at_t]
        closing = pairs.loc[pairs["closure"], "row"].unique()
        flag[closing] = True
        cut = (
            pairs[~pairs["closure"]]
            .groupby("row")
            .agg(kva=("kva", "sum"), capacity=("capacity", "first"))
        )
        big = cut.index[cut["kva"] >= self.definition.capacity_loss_share * cut["capacity"]]
        flag[big.to_numpy(dtype=int)] = True
        return flag


def _first_per_account(frame: pd.DataFrame, column: str, grid: Grid) -> np.ndarray:
    """Per row: the account's earliest value of a column (far future when none)."""
    out = np.full(grid.customer_ids.size, FAR_FUTURE, dtype=np.int64)
    if not frame.empty:
        first = frame.groupby("account")[column].min()
        out[first.index.to_numpy(dtype=int)] = first.to_numpy(dtype=np.int64)
    return out[grid.account]


def _first_in_window(
    spells: pd.DataFrame, grid: Grid, t: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the first long suspension, and the first unresolved one, starting in [T, end)."""
    long_first = np.full(grid.size, FAR_FUTURE, dtype=np.int64)
    unresolved_first = np.full(grid.size, FAR_FUTURE, dtype=np.int64)
    if spells.empty:
        return long_first, unresolved_first
    rows = pd.DataFrame(
        {"row": np.arange(grid.size), "account": grid.account, "t": t, "window_end": end}
    )
    pairs = rows.merge(spells, on="account")
    pairs = pairs[(pairs["start"] >= pairs["t"]) & (pairs["start"] < pairs["window_end"])]
    for flag, out in (("long", long_first), ("unresolved", unresolved_first)):
        chosen = pairs[pairs[flag].astype(bool)]
        if not chosen.empty:
            first = chosen.groupby("row")["start"].min()
            out[first.index.to_numpy(dtype=int)] = first.to_numpy(dtype=np.int64)
    return long_first, unresolved_first
