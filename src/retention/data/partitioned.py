"""A dataset partitioned by account: each table a folder of Parquet files, one per partition.

Layout (what `retention partition` and `retention simulate --partitions N` write):

    DIR/customers/part-00000.parquet ... part-000{N-1}.parquet
    DIR/monthly_usage/part-00000.parquet ...     (every table present: the same N files)
    DIR/_partitioned.json                        N, the key and the rule (for people)

All rows of an account are in the same part number in every table, so one part number of
every table is a dataset of its own: an account's partition is pandas' stable hash of its
customer_id (`hash_pandas_object`, fixed key: the same in every process and run) mod N; an
application without an account goes by its application_id, and a step with its application.
A partition without rows of a table still has that table's file, with none.

The files sit flat in each table's folder (no `key=value` subfolders, which would add a
column): `pandas.read_parquet(DIR/TABLE)` and `dask.dataframe.read_parquet(DIR/TABLE)` read
a table whole; the distributed jobs read one part number of every table per task.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retention.data.contract import TABLE_NAMES, Rule
from retention.data.dataset import Dataset
from retention.data.report import Problem
from retention.data.writing import replace_folder, table_arrow

PART_FILE = "part-{:05d}.parquet"
MANIFEST = "_partitioned.json"
MAX_EXAMPLES = 5


def is_partitioned(folder: Path) -> bool:
    """Whether a dataset folder is partitioned: its customers table is a folder."""
    return (Path(folder) / "customers").is_dir()


def partition_of(keys: pd.Series, partitions: int) -> np.ndarray:
    """Each key's partition number: a stable 64-bit hash of the text mod `partitions`."""
    hashed = pd.util.hash_pandas_object(keys.astype(str), index=False, categorize=False)
    return (hashed.to_numpy(dtype=np.uint64) % np.uint64(partitions)).astype(np.int64)


def assign_partitions(tables: Mapping[str, pd.DataFrame], partitions: int) -> dict[str, np.ndarray]:
    """Each table's rows' partition numbers: by customer_id; applications without one by
    application_id, and steps with their application."""
    parts: dict[str, np.ndarray] = {}
    for name, frame in tables.items():
        if name == "application_steps":
            continue
        if name == "applications":
            key = frame["customer_id"].where(frame["customer_id"].notna(), frame["application_id"])
            parts[name] = partition_of(key, partitions)
        else:
            parts[name] = partition_of(frame["customer_id"], partitions)
    steps = tables.get("application_steps")
    if steps is not None:
        own = partition_of(steps["application_id"], partitions)
        applications = tables.get("applications")
        if applications is not None:
            by_id = pd.Series(parts["applications"], index=applications["application_id"])
            found = steps["application_id"].map(by_id[~by_id.index.duplicated()])
            own = np.where(found.notna(), found.to_numpy(dtype=float, na_value=0), own)
        parts["application_steps"] = own.astype(np.int64)
    return parts


def write_partitioned(tables: Mapping[str, pd.DataFrame], folder: Path, partitions: int) -> None:
    """Write the tables into `folder` (new or empty) as a partitioned dataset of N parts."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, not {partitions}")
    parts = assign_partitions(tables, partitions)
    for name, frame in tables.items():
        arrow = table_arrow(name, frame)
        order = np.argsort(parts[name], kind="stable")  # a partition keeps the rows' order
        bounds = np.searchsorted(parts[name][order], np.arange(partitions + 1))
        (folder / name).mkdir(parents=True)
        for k in range(partitions):
            rows = pa.array(order[bounds[k] : bounds[k + 1]])
            pq.write_table(arrow.take(rows), folder / name / PART_FILE.format(k))
    write_manifest(folder, partitions, list(tables))


def write_manifest(folder: Path, partitions: int, tables: list[str]) -> None:
    """The manifest for people: N, the key and the rule (the chunked simulator writes it too)."""
    manifest = {
        "partitions": partitions,
        "key": "customer_id (applications without one: application_id; steps: their application)",
        "rule": "pandas.util.hash_pandas_object(key, index=False, categorize=False) mod partitions",
        "tables": tables,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def write_partitioned_folder(
    tables: Mapping[str, pd.DataFrame], out: Path, partitions: int, truth: Path | None = None
) -> list[Path]:
    """Write a partitioned dataset to `out` whole or not at all (staged beside it, then
    swapped in); return its files. `truth`, a folder that exists (the simulator's _truth/ of
    the dataset read), is copied in under its name, so the oracle's comparisons still run on
    the copy."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_partitioned(tables, staging, partitions)
        if truth is not None and truth.is_dir():
            shutil.copytree(truth, staging / truth.name)
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(path for path in out.rglob("*") if path.is_file())


@dataclass(frozen=True)
class Layout:
    """The part files of a partitioned dataset: table -> part file name -> path."""

    folder: Path
    tables: dict[str, dict[str, Path]]

    @property
    def parts(self) -> list[str]:
        """The part file names, those of customers/ (the accounts' partitions)."""
        return list(self.tables.get("customers", {}))

    def files(self, part: str) -> dict[str, list[Path]]:
        """One partition as `validate_files` takes it: table -> [its part file] or []."""
        return {name: [files[part]] if part in files else [] for name, files in self.tables.items()}

    def problems(self) -> list[Problem]:
        """Part files missing from a table, or in a table but not in customers/."""
        found = []
        parts = set(self.parts)
        for name, files in self.tables.items():
            for part in sorted(parts.symmetric_difference(files)):
                found.append(Problem(f"{name}/{part}", None, Rule.PARTITION_MISSING))
        return found


def layout(folder: Path) -> Layout:
    """The part files of each table folder of a partitioned dataset."""
    folder = Path(folder)
    tables = {
        name: {path.name: path for path in sorted((folder / name).glob("part-*.parquet"))}
        for name in TABLE_NAMES
        if (folder / name).is_dir()
    }
    return Layout(folder, tables)


@dataclass(frozen=True)
class Owners:
    """Which partition each account's customers row is in (the first, if in several)."""

    customer_ids: pa.Array
    parts: np.ndarray  # index into Layout.parts

    def of(self, ids: pa.Array) -> np.ndarray:
        """Each id's partition index, -1 when no partition has it."""
        found = pc.index_in(ids, value_set=self.customer_ids)
        rows = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return np.where(rows >= 0, self.parts[np.maximum(rows, 0)], -1)


def owners(lay: Layout) -> Owners:
    """The accounts' partitions, from customers/ (only the customer_id column is read)."""
    ids, parts = [], []
    for k, part in enumerate(lay.parts):
        column = _column(lay.tables["customers"][part], "customer_id")
        if column is not None:
            ids.append(column)
            parts.append(np.full(len(column), k, dtype=np.int64))
    if not ids:
        return Owners(pa.array([], type=pa.string()), np.zeros(0, dtype=np.int64))
    every = pd.Series(pa.concat_arrays(ids).to_pandas())
    # an id in two partitions belongs to the first; a missing id is the own checks' to name
    first = (~every.duplicated() & every.notna()).to_numpy()
    return Owners(pa.array(every[first], type=pa.string()), np.concatenate(parts)[first])


def units(lay: Layout) -> pa.Array | None:
    """Every partition's customers' regions: the supplying units applications may name."""
    if "applications" not in lay.tables:
        return None
    regions = [_column(path, "region") for path in lay.tables["customers"].values()]
    present = [r for r in regions if r is not None]
    return pc.unique(pa.concat_arrays(present).drop_null()) if present else None


def span_problems(lay: Layout, part: str, who: Owners) -> list[Problem]:
    """Rows of one partition whose account's customers row is in another partition."""
    k = lay.parts.index(part)
    found = []
    for name, files in lay.tables.items():
        if name in ("applications", "application_steps") or part not in files:
            continue
        ids = _column(files[part], "customer_id")
        if ids is None:
            continue  # the partition's own checks name the missing column
        owner = who.of(ids)
        rows = np.flatnonzero((owner >= 0) & (owner != k))  # unknown ids: the own checks
        if len(rows):
            examples = [
                {"row": int(r), "value": ids[int(r)].as_py(), "partition": lay.parts[owner[r]]}
                for r in rows[:MAX_EXAMPLES]
            ]
            label = f"{name}/{part}"
            found.append(
                Problem(label, "customer_id", Rule.ROWS_IN_OTHER_PARTITION, len(rows), examples)
            )
    return found


def _column(path: Path, column: str) -> pa.Array | None:
    """One column of a part file as text, None when the file or column cannot be read."""
    try:
        chunked = pq.read_table(path, columns=[column]).column(column)
    except (pa.ArrowException, OSError, KeyError):
        return None
    return pc.cast(chunked.combine_chunks(), pa.string())


def combine(datasets: list[Dataset], folder: Path) -> Dataset:
    """The partitions' typed tables put together, partition after partition."""
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLE_NAMES:
        frames = [f for d in datasets if (f := d.table(name)) is not None]
        if frames:
            tables[name] = pd.concat(frames, ignore_index=True)
    return Dataset(**tables, folder=folder)
