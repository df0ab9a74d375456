"""The watch list as people read it: the open applications as a console table (overdue ones
first) and the per-step watch list as CSV (UTF-8 with BOM) or an Excel workbook.

Texts are Chinese first with English beside; every text cell passes the scored list's formula
guard (`inert`), so an id typed as "=..." stays text in a spreadsheet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from retention.applications.clocks import ServiceClocks
from retention.applications.watch import STATE_LABELS
from retention.data.writing import staged
from retention.scoring.export import inert
from retention.scoring.playbook import Role

SUFFIXES = (".csv", ".xlsx")
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "online_app": ("网上国网", "online app"),
    "service_hall": ("营业厅", "service hall"),
    "account_manager": ("客户经理", "account manager"),
}
# column of the watch list: its header, Chinese first with English beside
WATCH_HEADERS: dict[str, str] = {
    "application_id": "申请编号 Application",
    "step": "环节 Step",
    "step_code": "环节代码 Step code",
    "owner": "责任部门 Owner",
    "limit_working_days": "时限(工作日) Limit (working days)",
    "clock_start": "起算日 Clock start",
    "due_date": "完成时限 Due date",
    "finished_date": "完成日期 Finished",
    "state": "状态 State",
    "working_days_left": "剩余工作日 Working days left",
    "overdue_working_days": "超期工作日 Overdue working days",
    "late_working_days": "超时工作日 Late by working days",
}
DATE_COLUMNS = ("clock_start", "due_date", "finished_date")


def _both(pair: tuple[str, str]) -> str:
    return f"{pair[0]} {pair[1]}"


def watch_export_frame(
    watch: pd.DataFrame, clocks: ServiceClocks, roles: Mapping[str, Role]
) -> pd.DataFrame:
    """The watch list with readable steps, owners and states, under WATCH_HEADERS' names."""
    steps = {code: f"{clock.zh} {clock.en}" for code, clock in clocks.steps.items()}
    owners = {key: f"{role.zh} {role.en}" for key, role in roles.items()}
    frame = watch.assign(
        step=watch["step_code"].map(steps),
        owner=watch["owner_role"].map(lambda key: owners.get(key, key)),
        state=watch["state"].map(lambda state: _both(STATE_LABELS[state])),
    )
    for name in ("application_id", "step", "step_code", "owner"):
        frame[name] = frame[name].map(inert)
    return frame[list(WATCH_HEADERS)]


def write_watch_list(
    watch: pd.DataFrame, clocks: ServiceClocks, roles: Mapping[str, Role], out: Path
) -> Path:
    """Write the watch list to `out` (.csv or .xlsx), atomically."""
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{out}: the watch list is written as {' or '.join(SUFFIXES)}")
    frame = watch_export_frame(watch, clocks, roles)
    with staged(out) as staging:
        if suffix == ".csv":
            dated = frame.assign(
                **{name: frame[name].dt.strftime("%Y-%m-%d") for name in DATE_COLUMNS}
            )
            # UTF-8 with BOM for Excel; CRLF rows so a field holding a line break is quoted.
            dated.rename(columns=WATCH_HEADERS).to_csv(
                staging, index=False, encoding="utf-8-sig", lineterminator="\r\n"
            )
        else:
            _write_xlsx(frame, staging)
    return out


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """One sheet: a bold frozen header with filters, dates as dates, overdue rows in red."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("环节时限 Step clocks")
    for i, name in enumerate(frame.columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = 36 if name == "step" else 16
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"
    header = []
    for name in frame.columns:
        cell = WriteOnlyCell(sheet, value=WATCH_HEADERS[name])
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    overdue = _both(STATE_LABELS["overdue"])
    red = PatternFill("solid", fgColor="F8CBAD")
    columns = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for name, value in zip(columns, values, strict=True):
            if pd.isna(value):
                value = None
            elif name in DATE_COLUMNS:
                value = value.date()
            cell = WriteOnlyCell(sheet, value=value)
            if name in DATE_COLUMNS:
                cell.number_format = "yyyy-mm-dd"
            if values[columns.index("state")] == overdue:
                cell.fill = red
            cells.append(cell)
        sheet.append(cells)
    book.save(path)


def print_summary(
    console: Console, summary: pd.DataFrame, clocks: ServiceClocks, as_of: dt.date, rows: int
) -> None:
    """The open applications at `as_of`, those with overdue steps first; `rows` of them
    (0: all)."""
    overdue = int((summary["steps_overdue"] > 0).sum())
    console.print(
        f"{as_of} 办理中的业扩申请 {len(summary):,} 件，其中有超期环节 {overdue:,} 件 / "
        f"open applications: {len(summary):,}, with overdue steps: {overdue:,}"
    )
    table = Table(
        "供电单位\nUnit", "客户经理\nOwner", "渠道\nChannel", "kV / kVA",
        "已办理(工作日)\nDays open", "超期环节\nOverdue", "最长超期(工作日)\nWorst",
        "下一时限\nNext due", "补资料\nDocs asked",
    )  # fmt: skip
    table.columns.insert(0, Column("申请编号\nApplication", no_wrap=True))
    shown = summary if rows == 0 else summary.head(rows)
    for row in shown.itertuples(index=False):
        next_due = ""
        if isinstance(row.next_due_step, str):  # a narrow column: the step's Chinese name
            next_due = f"{clocks.steps[row.next_due_step].zh} {row.next_due_date:%Y-%m-%d}"
        channel = CHANNEL_LABELS.get(str(row.channel))
        table.add_row(
            escape(str(row.application_id)),  # the data's text, never rich markup
            escape(str(row.unit)),
            escape(row.owner_id) if isinstance(row.owner_id, str) else "",
            channel[0] if channel else escape(str(row.channel)),
            f"{row.voltage_kv:g} / {row.requested_capacity_kva:,.0f}",
            str(row.working_days_open),
            str(row.steps_overdue),
            str(row.worst_overdue_working_days),
            next_due,
            str(row.document_requests),
            style="red" if row.steps_overdue else None,
        )
    console.print(table)
    if len(shown) < len(summary):
        console.print(f"前 {len(shown):,} 件 / the first {len(shown):,} (--rows 0: all)")
