"""A portfolio too big for one frame, simulated chunk by chunk straight into partition files.

`simulate_partitioned(config, folder, partitions, chunk_accounts)` splits the portfolio's
accounts into chunks of at most `chunk_accounts`, simulates each chunk as a portfolio of its
own (the same months, start, variant, scenarios, campaigns and tariffs, so the same extract
date; its own seed drawn from the portfolio's seed and the chunk's number) and appends its
rows to the partitioned dataset's part files (data/partitioned.py) before the next chunk is
drawn: memory is bounded by one chunk, not by the portfolio.

What makes the chunks one portfolio: every id is the portfolio's own. Account numbers keep
their region prefix and take a serial from one draw for the whole portfolio (distinct across
chunks); ticket, order, intervention and application numbers continue from the chunk before.
What stays a chunk's: each chunk draws its industries' business-cycle phases and its
managers' rosters, like the supplying units of a group company simulated one by one. The
same config and chunk size give the same dataset; a different chunk size a different one.
The truth is written under _truth/, one file per table as `write_result` writes it.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from retention.data.partitioned import PART_FILE, assign_partitions, write_manifest
from retention.data.simulator import (
    TRUTH_DIR,
    SimulationConfig,
    SimulationResult,
    SimulationSummary,
    applicants,
    simulate,
)
from retention.data.writing import replace_folder, table_arrow

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ACCOUNTS = 50_000
# Numbered ids: the column, its prefix and the digits after it (as the simulator writes them).
NUMBERED = (
    ("ticket_id", "GD", 10),
    ("order_id", "YK", 9),
    ("intervention_id", "WH", 9),
    ("application_id", "SQ", 9),
)
SERIAL_DIGITS = 8  # an account number: two digits of region, then the serial
SERIAL_STREAM = 0x5E71A1  # the account serials' own stream, apart from every chunk's


def chunk_sizes(accounts: int, chunk_accounts: int) -> list[int]:
    """The chunks' account counts: as even as possible, none above `chunk_accounts` (and none
    below the simulator's 10 accounts, so a portfolio of 10 or more always splits)."""
    if chunk_accounts < 10:
        raise ValueError(f"chunk_accounts must be at least 10, not {chunk_accounts}")
    count = -(-accounts // chunk_accounts)
    base, extra = divmod(accounts, count)
    return [base + (k < extra) for k in range(count)]


def chunk_seed(seed: int, chunk: int) -> int:
    """A chunk's own seed, from the portfolio's seed and the chunk's number."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, np.uint64)[0] >> 1)


@dataclass
class _Totals:
    """What the summary reports, added up chunk by chunk."""

    rows: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    oracle_sum: float = 0.0
    oracle_count: int = 0

    def add(self, tables: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]) -> None:
        for name, frame in tables.items():
            self.rows[name] = self.rows.get(name, 0) + len(frame)
        kinds = truth["churn_events"]["churn_type"].value_counts()
        for kind in ("closure", "capacity_loss", "volume_loss"):
            self.events[kind] = self.events.get(kind, 0) + int(kinds.get(kind, 0))
        if "applications" in tables:
            for status in applicants.STATUSES:
                found = int((tables["applications"]["status"] == status).sum())
                self.statuses[status] = self.statuses.get(status, 0) + found
        probability = truth["churn_probability"]["probability"]
        self.oracle_sum += float(probability.sum())
        self.oracle_count += len(probability)


class _Writers:
    """One Parquet writer per table and part file (and per truth table): a chunk's rows are
    appended as row groups; the first chunk fixes each file's schema."""

    def __init__(self, folder: Path, partitions: int) -> None:
        self.folder, self.partitions = folder, partitions
        self.open: dict[tuple[str, int], pq.ParquetWriter] = {}

    def _writer(self, name: str, part: int, schema: pa.Schema) -> pq.ParquetWriter:
        key = (name, part)
        if key not in self.open:
            path = (
                self.folder / TRUTH_DIR / f"{name}.parquet"
                if part < 0
                else self.folder / name / PART_FILE.format(part)
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            self.open[key] = pq.ParquetWriter(path, schema)
        return self.open[key]

    def tables(self, tables: dict[str, pd.DataFrame]) -> None:
        """A chunk's contract tables, each row into its account's part file."""
        parts = assign_partitions(tables, self.partitions)
        for name, frame in tables.items():
            arrow = table_arrow(name, frame)
            order = np.argsort(parts[name], kind="stable")  # a part keeps the rows' order
            bounds = np.searchsorted(parts[name][order], np.arange(self.partitions + 1))
            for k in range(self.partitions):
                rows = arrow.take(pa.array(order[bounds[k] : bounds[k + 1]]))
                self._append(name, k, rows)

    def truth(self, truth: dict[str, pd.DataFrame]) -> None:
        """A chunk's truth tables, appended to _truth/NAME.parquet."""
        for name, frame in truth.items():
            self._append(name, -1, pa.Table.from_pandas(frame, preserve_index=False))

    def _append(self, name: str, part: int, rows: pa.Table) -> None:
        writer = self._writer(name, part, rows.schema)
        if not rows.schema.equals(writer.schema):  # e.g. a column all null in this chunk
            rows = rows.cast(writer.schema)
        writer.write_table(rows)

    def close(self) -> None:
        for writer in self.open.values():
            writer.close()
        self.open.clear()


def simulate_chunk(config: SimulationConfig, chunk: int, size: int) -> SimulationResult:
    """One chunk of the portfolio as the simulator draws it, with its own ids (not yet the
    portfolio's): a picklable task for a process of its own."""
    return simulate(replace(config, accounts=size, seed=chunk_seed(config.seed, chunk)))


def _chunks(
    config: SimulationConfig, sizes: list[int], processes: int
) -> Iterator[SimulationResult]:
    """The chunks in order, drawn `processes` at a time in processes of their own (at most
    that many waiting, so memory stays bounded by a few chunks); 1: in this process."""
    if processes <= 1:
        for k, size in enumerate(sizes):
            yield simulate_chunk(config, k, size)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        waiting: deque[Future[SimulationResult]] = deque()
        for k, size in enumerate(sizes):
            waiting.append(pool.submit(simulate_chunk, config, k, size))
            if len(waiting) >= processes:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()


def simulate_partitioned(
    config: SimulationConfig,
    folder: Path,
    partitions: int,
    chunk_accounts: int = DEFAULT_CHUNK_ACCOUNTS,
    console: Console | None = None,
    processes: int = 1,
) -> SimulationSummary:
    """Simulate `config.accounts` accounts in chunks into a partitioned Parquet dataset of
    `partitions` parts (and its truth), whole or not at all; memory bounded by a chunk (by
    `processes` + 1 chunks when that many draw chunks side by side: the same dataset)."""
    from rich.progress import Progress

    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, not {partitions}")
    sizes = chunk_sizes(config.accounts, chunk_accounts)
    serials = np.random.default_rng([config.seed, SERIAL_STREAM]).choice(
        10**SERIAL_DIGITS, size=config.accounts, replace=False
    )
    folder = folder.resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    writers, totals = _Writers(staging, partitions), _Totals()
    offsets = dict.fromkeys((column for column, _, _ in NUMBERED), 0)
    try:
        with Progress(console=console, transient=True, disable=console is None) as progress:
            task = progress.add_task("分块模拟 / simulating in chunks", total=len(sizes))
            for k, result in enumerate(_chunks(config, sizes, processes)):
                first, size = sum(sizes[:k]), sizes[k]
                _renumber(result.tables, result.truth, serials[first : first + size], offsets)
                writers.tables(result.tables)
                writers.truth(result.truth)
                totals.add(result.tables, result.truth)
                del result  # the next chunk is drawn without this one in memory
                progress.advance(task)
                log.info("chunk %d of %d written: %d accounts", k + 1, len(sizes), first + size)
        writers.close()
        write_manifest(staging, partitions, list(totals.rows))
        replace_folder(staging, folder)
    except BaseException:
        writers.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SimulationSummary(
        config=config,
        folder=folder,
        rows=totals.rows,
        events_by_type=totals.events,
        churn_rate_6m=totals.oracle_sum / totals.oracle_count if totals.oracle_count else np.nan,
        files=sorted(path for path in folder.rglob("*") if path.is_file()),
        applications_by_status=totals.statuses,
    )


def _renumber(
    tables: dict[str, pd.DataFrame],
    truth: dict[str, pd.DataFrame],
    serials: np.ndarray,
    offsets: dict[str, int],
) -> None:
    """Give a chunk's rows the portfolio's ids, in place: its accounts the serials given (in
    the customers table's order), its numbered ids the numbers after the chunks before (and
    move `offsets` on past this chunk's)."""
    local = tables["customers"]["customer_id"]
    portfolio_ids = local.str[:2] + pd.Series(serials, index=local.index).map(
        f"{{:0{SERIAL_DIGITS}d}}".format
    )
    accounts = pd.Series(portfolio_ids.to_numpy(), index=local.to_numpy())
    highest = dict.fromkeys(offsets, 0)
    for frame in [*tables.values(), *truth.values()]:
        if "customer_id" in frame.columns:
            known = frame["customer_id"].notna()
            mapped = frame["customer_id"].map(accounts)
            if mapped[known].isna().any():
                raise ValueError("a row names an account the chunk's customers do not have")
            frame["customer_id"] = mapped.where(known).astype(frame["customer_id"].dtype)
        for column, prefix, digits in NUMBERED:
            if column in frame.columns and len(frame):
                number = frame[column].str[len(prefix) :].astype(np.int64)
                highest[column] = max(highest[column], int(number.max()))
                shifted = (number + offsets[column]).map(f"{prefix}{{:0{digits}d}}".format)
                frame[column] = shifted.astype(frame[column].dtype)
    for column in offsets:
        offsets[column] += highest[column]
