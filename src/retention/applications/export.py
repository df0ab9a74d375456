"""The watch list as people read it: the open applications as a console table (overdue ones
first) and the per-step watch list as CSV (UTF-8 with BOM) or an Excel workbook; the period's
KPIs printed per unit and written the same ways.

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
from retention.data.contract import APPLICATION_CHANNELS, VALUE_LABELS_ZH
from retention.data.writing import staged
from retention.model.info import ModelInfo
from retention.scoring.export import inert
from retention.scoring.playbook import Role

SUFFIXES = (".csv", ".xlsx")
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    code: (VALUE_LABELS_ZH[code], code.replace("_", " ")) for code in APPLICATION_CHANNELS
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


def print_model_note(console: Console, info: ModelInfo | None, version: str | None) -> None:
    """Which withdrawal model gave the risks, and a warning when it ranked its test window
    below the logistic regression baseline (the training job's verdict, recorded with it)."""
    if info is None:
        console.print("无撤销风险模型 / no withdrawal model: no risks (retention train-withdrawal)")
        return
    metrics = info.test_metrics
    auc = f"test ROC AUC {metrics['roc_auc']:.3f}" if "roc_auc" in metrics else ""
    console.print(f"撤销风险模型 / withdrawal model v{version} {auc}")
    verdict = info.description.get("against_logistic")
    if verdict in ("trails", "worse"):
        difference = metrics.get("roc_auc_minus_logistic", float("nan"))
        colour, within = ("yellow", "within") if verdict == "trails" else ("red", "beyond")
        console.print(
            f"[{colour}]该模型测试期排序低于逻辑回归基线 / this model ranked its test window "
            f"below the logistic regression baseline (ROC AUC {difference:+.3f}, {within} the "
            f"window's noise of {metrics.get('positives', 0):.0f} withdrawals)[/{colour}]"
        )


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
    # With a withdrawal model (a watch run's rows), its risk and the money at stake too.
    risky = "withdrawal_probability" in summary and summary["withdrawal_probability"].notna().any()
    if risky:
        table.add_column("撤销风险\nRisk", justify="right")
        table.add_column("风险金额(万元)\nAt stake (10k CNY)", justify="right")
    shown = summary if rows == 0 else summary.head(rows)
    risk = shown.get("withdrawal_probability", pd.Series(dtype=float)).to_numpy(dtype=float)
    money = shown.get("money_at_stake_cny", pd.Series(dtype=float)).to_numpy(dtype=float)
    for i, row in enumerate(shown.itertuples(index=False)):
        at_stake = [f"{risk[i]:.0%}", f"{money[i] / 1e4:,.1f}"] if risky else []
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
            *at_stake,
            style="red" if row.steps_overdue else None,
        )
    console.print(table)
    if len(shown) < len(summary):
        console.print(f"前 {len(shown):,} 件 / the first {len(shown):,} (--rows 0: all)")


# column of the KPI sheet: its header, Chinese first with English beside
KPI_HEADERS: dict[str, str] = {
    "dimension": "维度 Dimension",
    "key": "项目 Item",
    "archived": "归档(已接电) Archived",
    "archived_on_time": "时限达标 On time",
    "on_time_share": "服务时限达标率 On-time share",
    "median_working_days_to_energise": "接电时长中位数(工作日) Median working days to energise",
    "p90_working_days_to_energise": "接电时长90分位(工作日) P90 working days to energise",
    "open_now": "在途 Open now",
    "open_overdue_now": "在途超期 Open overdue now",
    "withdrawn": "撤销 Withdrawn",
    "withdrawn_capacity_kva": "撤销容量(kVA) Withdrawn capacity (kVA)",
    "withdrawn_revenue_cny": "撤销流失年收入(元) Withdrawn revenue a year (CNY)",
}
DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    "overall": ("总体", "overall"),
    "step": ("环节", "step"),
    "unit": ("供电单位", "unit"),
    "owner": ("客户经理", "owner"),
    "channel": ("渠道", "channel"),
    "voltage": ("电压等级", "voltage"),
}
ALL_LABEL = ("全部", "all")
NO_OWNER_LABEL = ("无客户经理", "no owner")


def kpi_export_frame(kpis: pd.DataFrame, clocks: ServiceClocks) -> pd.DataFrame:
    """The KPI rows with readable dimensions and items (steps, channels, kV), text guarded."""
    steps = {code: (clock.zh, clock.en) for code, clock in clocks.steps.items()}

    def item(dimension: str, key: str) -> str:
        if dimension == "overall":
            return _both(ALL_LABEL)
        if dimension == "step" and key in steps:
            return _both(steps[key])
        if dimension == "channel" and key in CHANNEL_LABELS:
            return _both(CHANNEL_LABELS[key])
        if dimension == "owner" and key == "-":
            return _both(NO_OWNER_LABEL)  # not "-": a spreadsheet reads it as a formula
        return f"{key} kV" if dimension == "voltage" else key

    frame = kpis.assign(
        key=[item(d, k) for d, k in zip(kpis["dimension"], kpis["key"], strict=True)],
        dimension=kpis["dimension"].map(lambda d: _both(DIMENSION_LABELS[d])),
    )
    frame["key"] = frame["key"].map(inert)
    return frame[list(KPI_HEADERS)]


def write_kpis(kpis: pd.DataFrame, clocks: ServiceClocks, out: Path) -> Path:
    """Write the KPI rows to `out` (.csv or .xlsx), atomically; shares as percentages."""
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{out}: the KPIs are written as {' or '.join(SUFFIXES)}")
    frame = kpi_export_frame(kpis, clocks)
    with staged(out) as staging:
        if suffix == ".csv":
            share = frame["on_time_share"].map(lambda s: "" if pd.isna(s) else f"{s:.1%}")
            # UTF-8 with BOM for Excel; CRLF rows so a field holding a line break is quoted.
            frame.assign(on_time_share=share).rename(columns=KPI_HEADERS).to_csv(
                staging, index=False, encoding="utf-8-sig", lineterminator="\r\n"
            )
        else:
            _write_kpi_xlsx(frame, staging)
    return out


_KPI_FORMATS = {
    "on_time_share": "0.0%",
    "median_working_days_to_energise": "0.0",
    "p90_working_days_to_energise": "0.0",
    "withdrawn_capacity_kva": "#,##0",
    "withdrawn_revenue_cny": "#,##0",
}


def _write_kpi_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """One sheet: a bold frozen header with filters, shares as percentages."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("考核指标 KPIs")
    for i, name in enumerate(frame.columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = 30 if name == "key" else 16
    sheet.freeze_panes = "C2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"
    header = []
    for name in frame.columns:
        cell = WriteOnlyCell(sheet, value=KPI_HEADERS[name])
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    columns = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for name, value in zip(columns, values, strict=True):
            cell = WriteOnlyCell(sheet, value=None if pd.isna(value) else value)
            if name in _KPI_FORMATS:
                cell.number_format = _KPI_FORMATS[name]
            cells.append(cell)
        sheet.append(cells)
    book.save(path)


def _share(value: object) -> str:
    """A share as a percentage, "-" when there is none."""
    return f"{value:.1%}" if isinstance(value, float) and not pd.isna(value) else "-"


def _days(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) and not pd.isna(value) else "-"


def print_kpis(
    console: Console, kpis: pd.DataFrame, period_start: dt.date, period_end: dt.date
) -> None:
    """The period's overall figures, then a table of them per supplying unit."""
    overall = kpis[kpis["dimension"] == "overall"].iloc[0]
    console.print(
        f"{period_start} 至 {period_end}（不含）归档 {overall['archived']:,} 件，"
        f"服务时限达标率 {_share(overall['on_time_share'])}，"
        f"撤销 {overall['withdrawn']:,} 件 {overall['withdrawn_capacity_kva']:,.0f} kVA / "
        f"{period_start} to {period_end} (exclusive): archived {overall['archived']:,}, "
        f"on time {_share(overall['on_time_share'])}, withdrawn {overall['withdrawn']:,} "
        f"({overall['withdrawn_capacity_kva']:,.0f} kVA)"
    )
    table = Table(
        "供电单位\nUnit", "归档\nArchived", "达标率\nOn time", "接电中位数(工作日)\nMedian days",
        "90分位\nP90", "在途\nOpen", "在途超期\nOverdue", "撤销\nWithdrawn",
        "撤销容量 kVA\nWithdrawn kVA", "流失年收入(元)\nRevenue lost (CNY)",
    )  # fmt: skip
    for row in kpis[kpis["dimension"].isin(["overall", "unit"])].itertuples(index=False):
        table.add_row(
            _both(ALL_LABEL) if row.dimension == "overall" else escape(str(row.key)),
            f"{row.archived:,}",
            _share(row.on_time_share),
            _days(row.median_working_days_to_energise),
            _days(row.p90_working_days_to_energise),
            f"{row.open_now:,}",
            f"{row.open_overdue_now:,}",
            f"{row.withdrawn:,}",
            f"{row.withdrawn_capacity_kva:,.0f}",
            f"{row.withdrawn_revenue_cny:,.0f}",
            style="bold" if row.dimension == "overall" else None,
        )
    console.print(table)
