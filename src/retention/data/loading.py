"""Loading a dataset folder: read each table file, parse and check it, and return the typed
tables only when every rule holds (`load_dataset`); it never writes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow

from retention.data import partitioned
from retention.data.checks import check_tables, file_label
from retention.data.contract import REQUIRED_TABLES, TABLE_NAMES, Rule
from retention.data.dataset import Dataset
from retention.data.reading import RawTable, TableReadError, read_table_file, table_files
from retention.data.report import Problem, TableFile, ValidationReport

log = logging.getLogger(__name__)


def validate_dataset(folder: Path, encoding: str | None = None) -> ValidationReport:
    """Read and check every table file of a dataset folder; `encoding` forces the CSV one.

    A partitioned dataset (a `customers/` folder of part files, see data/partitioned.py) is
    checked partition by partition and its typed tables put together.
    """
    folder = Path(folder)
    if not folder.is_dir():
        report = ValidationReport(source=str(folder))
        report.problems.append(Problem(str(folder), None, Rule.FOLDER_NOT_FOUND))
        return report
    if partitioned.is_partitioned(folder):
        return validate_partitioned(folder)
    found, unknown = table_files(folder)
    report = validate_files(found, folder, encoding)
    report.warnings[:0] = [Problem(path.name, None, Rule.UNKNOWN_FILE) for path in unknown]
    log.info(
        "validated %s: %d problem(s), %d warning(s)",
        folder,
        len(report.problems),
        len(report.warnings),
    )
    return report


def validate_files(
    found: Mapping[str, list[Path]],
    folder: Path,
    encoding: str | None = None,
    units: pyarrow.Array | None = None,
) -> ValidationReport:
    """Read and check the files of each table (`found`: table -> its files in `folder`)."""
    report = ValidationReport(source=str(folder))
    raws: dict[str, RawTable] = {}
    unread: dict[str, Problem] = {}  # table -> why its file could not be read
    for name in TABLE_NAMES:
        paths = found.get(name, [])
        if not paths:
            if name in REQUIRED_TABLES:
                unread[name] = Problem(f"{name}.csv / {name}.parquet", None, Rule.MISSING_TABLE)
            continue
        label = file_label(paths[0], folder)
        if len(paths) > 1:
            files = " + ".join(file_label(p, folder) for p in paths)
            unread[name] = Problem(files, None, Rule.TWO_FILES.replace("NAME", name))
            continue
        try:
            raw = read_table_file(name, paths[0], encoding=encoding)
        except TableReadError as err:
            if err.rule == Rule.EMPTY_FILE and name not in REQUIRED_TABLES:
                report.warnings.append(Problem(label, None, Rule.EMPTY_OPTIONAL_FILE))
                continue
            unread[name] = _unread(label, err)
            continue
        raws[name] = raw
        report.files.append(TableFile(name, label, raw.format, raw.encoding, len(raw.frame)))
    check_tables(raws, unread, report, folder, units)
    return report


def _unread(label: str, err: TableReadError) -> Problem:
    examples = [{"line": line, "detail": detail} for line, detail in err.lines]
    if not examples:
        example: dict[str, Any] = {"line": err.line} if err.line is not None else {}
        if err.detail:
            example["detail"] = err.detail
        examples = [example] if example else []
    return Problem(label, None, err.rule, err.count, examples)


def validate_partitioned(folder: Path, keep: bool = True) -> ValidationReport:
    """Check a partitioned dataset partition by partition, in one report naming each
    partition's files (`monthly_usage/part-00007.parquet`); an account's rows in two
    partitions are a problem. With `keep`, the partitions' typed tables are put together."""
    lay = partitioned.layout(folder)
    report = ValidationReport(source=str(folder))
    report.problems.extend(lay.problems())
    who = partitioned.owners(lay)
    units = partitioned.units(lay)
    datasets: list[Dataset] = []
    for part in lay.parts:
        sub = validate_partition(lay, part, who, units)
        report.problems.extend(sub.problems)
        report.warnings.extend(sub.warnings)
        report.files.extend(sub.files)
        if keep and sub.dataset is not None and report.ok:
            datasets.append(sub.dataset)
    if report.ok and keep:
        report.dataset = partitioned.combine(datasets, Path(folder))
    log.info(
        "validated %s (%d partitions): %d problem(s), %d warning(s)",
        folder,
        len(lay.parts),
        len(report.problems),
        len(report.warnings),
    )
    return report


def validate_partition(
    lay: partitioned.Layout,
    part: str,
    who: partitioned.Owners,
    units: pyarrow.Array | None,
) -> ValidationReport:
    """One partition checked as a dataset of its own, and its rows against the accounts'
    partitions (`who`); `units` are every partition's supplying units."""
    report = validate_files(lay.files(part), lay.folder, units=units)
    report.problems.extend(partitioned.span_problems(lay, part, who))
    if report.problems:
        report.dataset = None
    return report


class InvalidDatasetError(ValueError):
    """The dataset breaks the contract; `report` lists every problem, str() is readable."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.to_text())
        self.report = report


def load_dataset(folder: Path, encoding: str | None = None) -> Dataset:
    """Load and validate a dataset folder; raise InvalidDatasetError listing every problem."""
    report = validate_dataset(folder, encoding=encoding)
    if report.dataset is None:
        raise InvalidDatasetError(report)
    return report.dataset


def load_partition(
    lay: partitioned.Layout,
    part: str,
    who: partitioned.Owners,
    units: pyarrow.Array | None = None,
) -> Dataset:
    """Load and validate one partition; raise InvalidDatasetError listing every problem."""
    report = validate_partition(lay, part, who, units)
    if report.dataset is None:
        raise InvalidDatasetError(report)
    return report.dataset
