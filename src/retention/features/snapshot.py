"""Feature frames for one snapshot or many, and the stacked training set.

One code path serves every use: `build_snapshots` computes all rows of all requested snapshots
at once (each feature group is a pure function of the arranged tables and the grid of rows);
`build_features` is the one-snapshot case; `build_training_set` picks every month with enough
history before it and a complete label window after it and adds the labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from retention.data.dataset import Dataset
from retention.features import (
    consumption,
    contract_market,
    payment,
    price_bill,
    profile,
    reliability,
    service,
    work_orders,
)
from retention.features.catalogue import Catalogue, load_catalogue
from retention.features.grid import Grid, to_seconds
from retention.features.labels import ChurnDefinition, ChurnEvents
from retention.features.sources import Columns, Sources, Tables

GROUPS: tuple[Callable[[Sources], Columns], ...] = (
    consumption.features,
    price_bill.features,
    payment.features,
    service.features,
    work_orders.features,
    reliability.features,
    contract_market.features,
    profile.features,
)
MIN_HISTORY_MONTHS = 12
CHUNK_SNAPSHOTS = 2
MIN_PEERS = 5  # fewer accounts of an industry at a snapshot: compare with all accounts
EXPECTED_REVENUE = "expected_revenue_cny"  # next 12 months' bills: money at risk = P x this


def snapshot_index(snapshots: Iterable[pd.Timestamp | str]) -> pd.DatetimeIndex:
    """Sorted, distinct snapshot dates at the dataset's time resolution."""
    unique = sorted({pd.Timestamp(s) for s in snapshots})
    return pd.DatetimeIndex(np.array(unique, dtype="datetime64[us]"))


def _full_grid(tables: Tables, snapshots: pd.DatetimeIndex) -> Grid:
    n = tables.customer_ids.size
    return Grid(
        customer_ids=tables.customer_ids,
        snapshots=snapshots,
        account=np.tile(np.arange(n), snapshots.size),
        snap=np.repeat(np.arange(snapshots.size), n),
    )


def active_grid(
    tables: Tables, snapshots: pd.DatetimeIndex, events: ChurnEvents, catalogue: Catalogue
) -> Grid:
    """Rows for accounts active at each T: opened before T, not closed, not already lost."""
    full = _full_grid(tables, snapshots)
    opened = to_seconds(tables.dataset.customers["open_date"])[full.account]

    def capacity_at(accounts: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        probe = Grid(
            tables.customer_ids,
            pd.DatetimeIndex([snapshots[0]]),
            accounts,
            np.zeros(accounts.size, dtype=int),
        )
        return Sources(tables, probe, catalogue).capacity_at(seconds)

    lost = events.known_before(full, capacity_at)
    keep = (opened < full.t_seconds) & ~lost
    return Grid(tables.customer_ids, snapshots, full.account[keep], full.snap[keep])


def build_snapshots(
    dataset: Dataset | Tables,
    snapshots: Iterable[pd.Timestamp | str],
    catalogue: Catalogue | None = None,
    definition: ChurnDefinition | None = None,
    with_labels: bool = False,
    peers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features of every active account at every snapshot, indexed by (snapshot_date, customer_id).

    Features against the industry compare with the medians of the accounts in the same
    snapshot, or with `peers` (from `peer_medians` of a batch) when a few accounts are
    scored on their own.

    Columns: the catalogue's features in catalogue order, `in_exit_process`,
    `expected_revenue_cny` (not a feature: it turns probability into money at risk), and with
    `with_labels` the label columns `churn`, `churn_type`, `churn_date`.
    """
    tables = dataset if isinstance(dataset, Tables) else Tables(dataset)
    catalogue = catalogue or load_catalogue()
    definition = definition or ChurnDefinition()
    dates = snapshot_index(snapshots)
    events = ChurnEvents(tables, definition)
    # Snapshots go in small chunks: the arrangements of the tables are shared, the per-row
    # temporaries stay small enough for the cache, and chunks run on all cores (numpy
    # releases the GIL). The first chunk runs alone so the shared arrangements are built once.
    chunks = [dates[i : i + CHUNK_SNAPSHOTS] for i in range(0, len(dates), CHUNK_SNAPSHOTS)]
    parts = [_build_chunk(tables, chunks[0], catalogue, events, with_labels, peers)]
    if len(chunks) > 1:
        workers = max(1, min(len(chunks) - 1, os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts += pool.map(
                lambda chunk: _build_chunk(tables, chunk, catalogue, events, with_labels, peers),
                chunks[1:],
            )
    return parts[0] if len(parts) == 1 else pd.concat(parts)


def _build_chunk(
    tables: Tables,
    dates: pd.DatetimeIndex,
    catalogue: Catalogue,
    events: ChurnEvents,
    with_labels: bool,
    peers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    grid = active_grid(tables, dates, events, catalogue)
    sources = Sources(tables, grid, catalogue)
    computed: Columns = {}
    for group in GROUPS:
        computed.update(group(sources))
    computed |= _against_industry(computed, catalogue, grid, sources, peers)
    columns: dict[str, object] = {}
    for feature in catalogue.features:
        values = computed.get(feature.name)
        if values is None:  # an optional table is absent: the feature is missing, not an error
            columns[feature.name] = np.full(grid.size, np.nan)
        elif feature.categorical:
            columns[feature.name] = values  # a pandas Categorical from the feature group
        else:
            columns[feature.name] = np.asarray(values, dtype=float)
    capacity_t = sources.capacity_at(grid.t_seconds)
    columns["in_exit_process"] = events.in_exit_process(grid, capacity_t)
    columns[EXPECTED_REVENUE] = price_bill.expected_revenue(sources)
    frame = pd.DataFrame(columns, index=grid.index())
    if with_labels:
        labels = events.labels(grid, capacity_t)
        labels.index = frame.index
        frame = frame.join(labels)
    return frame


def _against_industry(
    computed: Columns,
    catalogue: Catalogue,
    grid: Grid,
    sources: Sources,
    given: pd.DataFrame | None = None,
) -> Columns:
    """Features less the median of the same feature among the industry's accounts at the
    same snapshot (all accounts when the industry has fewer than MIN_PEERS of them), or less
    the `given` medians."""
    peers = [f for f in catalogue.features if f.peer_of is not None and f.peer_of in computed]
    if not peers:
        return {}
    industry = sources.customer_category("industry_code")
    if given is not None:
        return _against_given(computed, peers, np.asarray(industry, dtype=object), given)
    keys = pd.DataFrame({"snap": grid.snap, "industry": industry.codes})
    sizes = keys.groupby(["snap", "industry"])["snap"].transform("size").to_numpy()
    out: Columns = {}
    for feature in peers:
        assert feature.peer_of is not None
        values = pd.Series(np.asarray(computed[feature.peer_of], dtype=float))
        by_industry = values.groupby([keys["snap"], keys["industry"]]).transform("median")
        overall = values.groupby(keys["snap"]).transform("median")
        median = np.where(sizes >= MIN_PEERS, by_industry.to_numpy(), overall.to_numpy())
        out[feature.name] = values.to_numpy() - median
    return out


def _against_given(
    computed: Columns, features: list, industry: np.ndarray, given: pd.DataFrame
) -> Columns:
    """Features less a batch's medians: the industry's where it had MIN_PEERS accounts, else
    all accounts' ("*"). Plain lookups: this path serves a handful of accounts per request."""
    median_of = {
        (code, name): value
        for code, name, value, peers in given[
            ["industry_code", "feature", "median", "peers"]
        ].itertuples(index=False, name=None)
        if peers >= MIN_PEERS or code == "*"
    }
    out: Columns = {}
    for feature in features:
        values = np.asarray(computed[feature.peer_of], dtype=float)
        overall = median_of.get(("*", feature.peer_of), np.nan)
        median = np.array(
            [median_of.get((code, feature.peer_of), overall) for code in industry], dtype=float
        )
        out[feature.name] = values - median
    return out


def against_peers(frame: pd.DataFrame, catalogue: Catalogue, peers: pd.DataFrame) -> pd.DataFrame:
    """One snapshot's frame (from `build_snapshots`) with its features against the industry
    taken against `peers` (from `peer_medians`), as `build_snapshots(..., peers=peers)` would:
    the same rule, vectorised for whole partitions (the distributed path's broadcast step)."""
    features = [f for f in catalogue.features if f.peer_of is not None and f.peer_of in frame]
    if not features:
        return frame
    industry = frame["industry_code"].astype(object).to_numpy()
    usable = peers[(peers["peers"] >= MIN_PEERS) | (peers["industry_code"] == "*")]
    out = frame.copy()
    for feature in features:
        assert feature.peer_of is not None
        rows = usable[usable["feature"] == feature.peer_of]
        median_of = pd.Series(rows["median"].to_numpy(), index=rows["industry_code"].to_numpy())
        overall = median_of.get("*", np.nan)
        median = pd.Series(industry).map(median_of).to_numpy(dtype=float, na_value=np.nan)
        median = np.where(pd.Series(industry).isin(median_of.index), median, overall)
        out[feature.name] = frame[feature.peer_of].to_numpy(dtype=float) - median
    return out


def peer_medians(frame: pd.DataFrame, industry: pd.Series, catalogue: Catalogue) -> pd.DataFrame:
    """One snapshot's medians of the features compared with peers, per industry and overall
    ("*"): industry_code, feature, median, peers. `frame` is indexed by customer_id."""
    names = sorted({f.peer_of for f in catalogue.features if f.peer_of and f.peer_of in frame})
    values = frame[names].astype(float)
    codes = industry.reindex(frame.index).astype(object).to_numpy()
    by_industry = values.groupby(codes).median()
    counts = values.groupby(codes).size()
    rows = [
        (str(code), name, by_industry.at[code, name], int(counts[code]))
        for code in by_industry.index
        for name in names
    ]
    overall = values.median()
    rows += [("*", name, overall[name], len(frame)) for name in names]
    table = pd.DataFrame.from_records(rows, columns=["industry_code", "feature", "median", "peers"])
    table["median"] = table["median"].astype(float)
    return table


def build_features(
    dataset: Dataset | Tables,
    snapshot: pd.Timestamp | str,
    catalogue: Catalogue | None = None,
    definition: ChurnDefinition | None = None,
    peers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The feature frame of one snapshot, indexed by customer_id."""
    frame = build_snapshots(dataset, [snapshot], catalogue, definition, peers=peers)
    return frame.droplevel("snapshot_date")


def training_snapshots(tables: Tables, definition: ChurnDefinition) -> pd.DatetimeIndex:
    """First days of months with 12 months of data before them and a full label window after."""
    first = pd.Timestamp(
        min(
            tables.dataset.monthly_usage["month"].min(),
            tables.dataset.monthly_billing["month"].min(),
        )
    )
    return snapshot_range(first, tables.data_end, definition)


def snapshot_range(
    first: pd.Timestamp, data_end: pd.Timestamp, definition: ChurnDefinition
) -> pd.DatetimeIndex:
    """The training snapshots of data from the month `first` to the extract date `data_end`."""
    start = first + pd.DateOffset(months=MIN_HISTORY_MONTHS)
    last = data_end - pd.DateOffset(months=definition.horizon_months)
    return snapshot_index(pd.date_range(start, last, freq="MS"))


def too_short(definition: ChurnDefinition) -> ValueError:
    """The error of data without one training snapshot."""
    return ValueError(
        f"the data are too short for training: need {MIN_HISTORY_MONTHS} months of history "
        f"and a {definition.horizon_months}-month label window after a snapshot"
    )


def labelled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The training rows of labelled snapshots: rows in exit process and rows whose label
    cannot be known yet are left out."""
    keep = ~frame["in_exit_process"] & frame["churn"].notna()
    return frame[keep.to_numpy()]


def sample_share(
    rows: int, max_rows: int | None, size: int = 0, max_bytes: int | None = None
) -> float:
    """The share of accounts a training set of `rows` rows and `size` bytes keeps under its
    budget: at most `max_rows` rows and `max_bytes` bytes (None: no limit); 1.0 within it."""
    share = 1.0
    if max_rows is not None and rows > max_rows:
        share = max_rows / rows
    if max_bytes is not None and size > max_bytes:
        share = min(share, max_bytes / size)
    return share


def in_sample(accounts: np.ndarray | pd.Series, share: float) -> np.ndarray:
    """Whether each row's account is in a sample of `share` of the accounts, by a hash of its
    id: every row of an account is in or out together, the same in any partition, process or
    run, so a sampled training set keeps the split by account and by time."""
    if share >= 1:
        return np.ones(len(accounts), dtype=bool)
    ids = np.asarray(accounts).astype(str).astype(object)
    hashed = pd.util.hash_array(ids)  # uint64, with pandas' fixed key: the same everywhere
    return hashed < np.uint64(int(share * 2.0**64))


def sampled_accounts(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """The rows of a training set (indexed by snapshot_date, customer_id) whose account is in
    the sample of `share` of the accounts (`in_sample`)."""
    if share >= 1:
        return frame
    return frame[in_sample(frame.index.get_level_values("customer_id").to_numpy(), share)]


def build_training_set(
    dataset: Dataset | Tables,
    catalogue: Catalogue | None = None,
    definition: ChurnDefinition | None = None,
    snapshots: Iterable[pd.Timestamp | str] | None = None,
) -> pd.DataFrame:
    """Stacked monthly snapshots with labels, for training and evaluation.

    Rows in exit process and rows whose label cannot be known yet are left out.
    """
    tables = dataset if isinstance(dataset, Tables) else Tables(dataset)
    definition = definition or ChurnDefinition()
    dates = (
        snapshot_index(snapshots)
        if snapshots is not None
        else training_snapshots(tables, definition)
    )
    if dates.empty:
        raise too_short(definition)
    frame = build_snapshots(tables, dates, catalogue, definition, with_labels=True)
    return labelled_rows(frame)
