"""The verdict on a dataset: its problems and warnings, for a person (rich tables, plain
text) and for tools (JSON-able data)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from retention.data.dataset import Dataset


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
