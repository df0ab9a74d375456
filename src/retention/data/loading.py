"""Loading a dataset folder: read each table file, parse and check it, and return the typed
tables only when every rule holds (`load_dataset`); it never writes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from retention.data.checks import check_tables
from retention.data.contract import REQUIRED_TABLES, TABLE_NAMES, Rule
from retention.data.dataset import Dataset
from retention.data.reading import RawTable, TableReadError, read_table_file, table_files
from retention.data.report import Problem, TableFile, ValidationReport

log = logging.getLogger(__name__)


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
    check_tables(raws, unread, report, folder)
    log.info(
        "validated %s: %d problem(s), %d warning(s)",
        folder,
        len(report.problems),
        len(report.warnings),
    )
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
