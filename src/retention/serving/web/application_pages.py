"""The team's pages of the connection applications (业扩报装): the list of the latest watch
run with its filters, sorting, paging and Excel export, one application's steps against their
limits with its actions and follow-ups, and the run's assessment figures.

Rendered on the server with the same store queries as the API (routers/applications.py).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi import Path as FastPath
from fastapi.responses import RedirectResponse, Response

from retention.data.contract import STEP_CODES
from retention.records.applications import KPI_DIMENSIONS, ClockRow, KpiRow
from retention.records.labels import FOLLOW_UP_OUTCOMES
from retention.serving.deps import Model, Store
from retention.serving.routers.applications import MAX_DUE_WITHIN, step_names
from retention.serving.web.auth import Csrf, Viewer
from retention.serving.web.pages import XLSX, _format_sheet, _lang, _local_time, render
from retention.serving.web.texts import translator
from retention.store.applications import (
    ApplicationFilters,
    Sort,
    WatchRunInfo,
    WatchRunNotFound,
    application_detail,
    latest_watch_run,
    list_applications,
    run_kpis,
)
from retention.store.follow_ups import (
    IdempotencyConflict,
    NewFollowUp,
    application_follow_ups,
    create_follow_up,
    follow_up_changes,
    get_follow_up,
    update_follow_up,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
EXPORT_ROWS = 1_000_000
ACTION_CODE = r"^[a-z][a-z0-9_]{0,39}$"
STATE_COLOURS = {
    "on_time": "#2e7d32",
    "late": "#ef6c00",
    "running": "#1f4e79",
    "overdue": "#c62828",
}


def _run(engine: Store) -> WatchRunInfo | None:
    try:
        return latest_watch_run(engine)
    except WatchRunNotFound:
        return None


@dataclass(frozen=True)
class ApplicationsView:
    """The list's filters and order as the page's query string carries them."""

    unit: str | None
    owner: str | None
    step: str | None
    overdue: str | None  # "yes", "no" or empty
    due_within: int | None
    sort: Sort

    @property
    def filters(self) -> ApplicationFilters:
        overdue = {"yes": True, "no": False}.get(self.overdue or "")
        return ApplicationFilters(
            unit=self.unit or None,
            owner=self.owner or None,
            step=self.step or None,
            overdue=overdue,
            due_within=self.due_within,
        )

    def query(self) -> dict[str, str]:
        values = {
            "unit": self.unit, "owner": self.owner, "step": self.step, "overdue": self.overdue,
            "due_within": None if self.due_within is None else str(self.due_within),
            "sort": self.sort,
        }  # fmt: skip
        return {k: v or "" for k, v in values.items()}


def applications_view(
    unit: Annotated[str | None, Query(max_length=100)] = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    step: Annotated[str | None, Query(pattern="^(" + "|".join(STEP_CODES) + ")?$")] = None,
    overdue: Annotated[str | None, Query(pattern="^(yes|no)?$")] = None,
    due_within: Annotated[str | None, Query(max_length=3, pattern="^[0-9]*$")] = None,
    sort: Annotated[Sort, Query()] = "rank",
) -> ApplicationsView:
    # an empty number field of the form sends "": no filter
    days = int(due_within) if due_within else None
    if days is not None and days > MAX_DUE_WITHIN:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=("invalid_request", f"due_within: at most {MAX_DUE_WITHIN} working days"),
        )
    return ApplicationsView(unit, owner, step, overdue, days, sort)


View = Annotated[ApplicationsView, Depends(applications_view)]


def _step_labels(lang: str) -> dict[str, str]:
    index = 0 if lang == "zh" else 1
    return {code: pair[index] for code, pair in step_names().items()}


def _overall(rows: list[KpiRow]) -> KpiRow | None:
    return next((r for r in rows if r["dimension"] == "overall"), None)


@router.get("/applications")
def applications_page(
    request: Request,
    engine: Store,
    person: Viewer,
    view: View,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    run = _run(engine)
    if run is None:
        return render(request, "applications.html", person, run=None)
    with engine.connect() as connection:
        rows, count = list_applications(
            connection, run.id, view.filters, view.sort, PAGE_SIZE, (page - 1) * PAGE_SIZE
        )
        overall = _overall(run_kpis(connection, run.id))
    return render(
        request,
        "applications.html",
        person,
        run=run,
        rows=rows,
        count=count,
        page=page,
        pages=max(1, math.ceil(count / PAGE_SIZE)),
        overall=overall,
        query=view.query(),
        steps=_step_labels(_lang(request)),
        max_due_within=MAX_DUE_WITHIN,
    )


# column of the list's workbook: key, (中文 English) header
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "排名 Rank"),
    ("application_id", "申请编号 Application"),
    ("application_type", "业务类型 Type"),
    ("unit", "供电单位 Supplying unit"),
    ("owner_id", "客户经理 Account manager"),
    ("channel", "受理渠道 Channel"),
    ("voltage_kv", "电压等级(kV) Voltage (kV)"),
    ("requested_capacity_kva", "申请容量(kVA) Requested capacity (kVA)"),
    ("supply_type", "供电方式 Supply"),
    ("accepted_at", "受理时间 Accepted"),
    ("customer_id", "户号 Customer"),
    ("working_days_open", "已办理工作日 Working days open"),
    ("steps_overdue", "超期环节 Overdue steps"),
    ("worst_overdue_working_days", "最长超期(工作日) Worst overdue (working days)"),
    ("next_due_step", "下一时限环节 Next due step"),
    ("next_due_date", "下一时限 Next due date"),
    ("document_requests", "补充资料次数 Document requests"),
    ("withdrawal_probability", "撤销概率 Withdrawal probability"),
    ("revenue_at_stake_cny", "预计年电费(元) Revenue at stake (CNY)"),
    ("money_at_stake_cny", "风险电费(元) Money at stake (CNY)"),
)
_BOTH = {
    "new_connection": "新装 new connection", "capacity_increase": "增容 capacity increase",
    "online_app": "网上国网 online app", "service_hall": "营业厅 service hall",
    "account_manager": "客户经理 account manager", "single": "单电源 single", "dual": "双电源 dual",
}  # fmt: skip


@router.get("/applications.xlsx")
def applications_export(engine: Store, person: Viewer, view: View) -> Response:
    """The current view (all its pages) as a workbook: Chinese and English headers, texts
    behind the lists' formula guard."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from retention.scoring.export import inert

    run = _run(engine)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("no_watch_run", "no watch run"))
    rows, _count = list_applications(engine, run.id, view.filters, view.sort, EXPORT_ROWS, 0)
    steps = {code: f"{zh} {en}" for code, (zh, en) in step_names().items()}
    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = "业扩报装 Applications"
    sheet.append([header for _, header in EXPORT_COLUMNS])
    for row in rows:
        values: list[Any] = []
        for key, _header in EXPORT_COLUMNS:
            value: Any = row[key]  # type: ignore[literal-required]
            if key in ("application_type", "channel", "supply_type"):
                value = _BOTH.get(value, value)
            elif key == "next_due_step" and value is not None:
                value = steps.get(value, value)
            values.append(inert(value))
        sheet.append(values)
    _format_sheet(sheet, Font(bold=True))
    for cell in list(sheet.columns)[17][1:]:
        cell.number_format = "0.0%"
    about = book.create_sheet("说明 About")
    for pair in (
        ("监测 Watch run", run.id), ("监测日期 As of", run.as_of),
        ("撤销模型版本 Withdrawal model version", run.model_version or "—"),
    ):  # fmt: skip
        about.append(list(pair))
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{run.label}.xlsx"'},
    )


@router.get("/applications/{application_id}")
def application_page(
    request: Request, application_id: str, engine: Store, serving: Model, person: Viewer
) -> Response:
    run = _run(engine)
    found = None if run is None else application_detail(engine, run.id, application_id)
    if run is None or found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=(
                "not_found",
                f"申请 {application_id} 不在最新监测中 / application {application_id} is not "
                "open in the latest watch run",
            ),
        )
    row, clocks, actions = found
    follow_ups = application_follow_ups(engine, application_id)
    changes: dict[int, list[dict[str, Any]]] = {}
    for change in follow_up_changes(engine, [f["id"] for f in follow_ups]):
        changes.setdefault(change["follow_up_id"], []).append(change)
    lang = _lang(request)
    roles = {
        key: (role.zh if lang == "zh" else role.en) for key, role in serving.playbook.roles.items()
    }
    steps = _step_labels(lang)
    return render(
        request,
        "application.html",
        person,
        run=run,
        app=row,
        clocks=clocks,
        actions=actions,
        follow_ups=follow_ups,
        changes=changes,
        steps=steps,
        roles=roles,
        timeline=timeline_svg(clocks, run.as_of, steps, translator(lang)("today")),
        form_id=secrets.token_urlsafe(16),  # a double submit of the form is stored once
        action_codes=[a["code"] for a in actions],
        outcomes=FOLLOW_UP_OUTCOMES,
    )


@router.post("/applications/{application_id}/follow-ups")
def log_application_follow_up(
    application_id: str,
    engine: Store,
    person: Viewer,
    _: Csrf,
    action_code: Annotated[str, Form(pattern=ACTION_CODE)],
    outcome: Annotated[str, Form()] = "pending",
    note: Annotated[str, Form(max_length=2000)] = "",
    contacted_at: Annotated[str, Form(max_length=32)] = "",
    form_id: Annotated[str, Form(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")] = "",
) -> Response:
    run = _run(engine)
    if run is None or application_detail(engine, run.id, application_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("not_found", application_id))
    if outcome not in FOLLOW_UP_OUTCOMES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=("invalid", "form"))
    item = NewFollowUp(
        customer_id=None,
        application_id=application_id,
        action_code=action_code,
        outcome=outcome,
        note=note.strip() or None,
        contacted_at=_local_time(contacted_at),
    )
    try:
        create_follow_up(
            engine, item, None, caller_id=None, idempotency_key=form_id or None,
            user_id=person.id, run_id=run.id,
        )  # fmt: skip
    except IdempotencyConflict:  # the same form sent again with other values: a new entry
        create_follow_up(engine, item, None, caller_id=None, user_id=person.id, run_id=run.id)
    return RedirectResponse(f"/applications/{application_id}", status.HTTP_303_SEE_OTHER)


@router.post("/applications/{application_id}/follow-ups/{follow_up_id}")
def update_application_follow_up(
    application_id: str,
    follow_up_id: Annotated[int, FastPath(ge=1, le=2**62)],
    engine: Store,
    person: Viewer,
    _: Csrf,
    outcome: Annotated[str, Form()],
    contacted_at: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Record an outcome or contact time from the application's page: only a follow-up of
    this application (a form of one application must not change another's)."""
    if outcome not in FOLLOW_UP_OUTCOMES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=("invalid", "outcome"))
    found = get_follow_up(engine, follow_up_id)
    if found is None or found["application_id"] != application_id:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=(
                "not_found",
                f"申请 {application_id} 没有跟进记录 {follow_up_id} / application "
                f"{application_id} has no follow-up {follow_up_id}",
            ),
        )
    changes: dict[str, Any] = {"outcome": outcome}
    when = _local_time(contacted_at)
    if when is not None:
        changes["contacted_at"] = when
    update_follow_up(engine, follow_up_id, changes, user_id=person.id)
    return RedirectResponse(f"/applications/{application_id}", status.HTTP_303_SEE_OTHER)


def timeline_svg(
    clocks: list[ClockRow], as_of: dt.date, steps: dict[str, str], today: str, width: int = 760
) -> str:
    """Each step as a bar from its clock start: the limit as an outline to the due date, the
    time taken (to its finish, or to the run's date while it runs) filled in its state's
    colour; a line marks the run's date. Inline SVG: no script, no CDN."""
    if not clocks:
        return ""
    left, right, row_height = 150, 20, 22
    start = min(c["clock_start"] for c in clocks)
    ends = [max(c["due_date"], c["finished_date"] or as_of, as_of) for c in clocks]
    span = max(1, (max(ends) - start).days)
    scale = (width - left - right) / span

    def x(day: dt.date) -> float:
        return left + (day - start).days * scale

    height = 30 + row_height * len(clocks)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'class="timeline">'
    ]
    for i, clock in enumerate(clocks):
        y = 8 + i * row_height
        until = clock["finished_date"] or as_of
        colour = STATE_COLOURS.get(clock["state"], "#777")
        name = steps.get(clock["step_code"], clock["step_code"])
        parts.append(
            f'<text x="4" y="{y + 12}" font-size="11">{_escape(name)}</text>'
            f'<rect x="{x(clock["clock_start"]):.1f}" y="{y}" height="14" '
            f'width="{max(1.0, x(clock["due_date"]) - x(clock["clock_start"])):.1f}" '
            f'fill="none" stroke="#999" stroke-dasharray="3 2"/>'
            f'<rect x="{x(clock["clock_start"]):.1f}" y="{y + 3}" height="8" '
            f'width="{max(1.0, x(until) - x(clock["clock_start"])):.1f}" fill="{colour}">'
            f"<title>{_escape(name)}: {clock['clock_start']} → {clock['due_date']}</title></rect>"
        )
    line = x(as_of)
    parts.append(
        f'<line x1="{line:.1f}" x2="{line:.1f}" y1="2" y2="{height - 14}" stroke="#333"/>'
        f'<text x="{line:.1f}" y="{height - 2}" font-size="10" text-anchor="middle">'
        f"{_escape(today)} {as_of}</text></svg>"
    )
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@router.get("/assessment/applications")
def application_kpis_page(request: Request, engine: Store, person: Viewer) -> Response:
    run = _run(engine)
    rows = [] if run is None else run_kpis(engine, run.id)
    grouped = {d: [r for r in rows if r["dimension"] == d] for d in KPI_DIMENSIONS}
    return render(
        request,
        "application_kpis.html",
        person,
        run=run,
        grouped=grouped,
        steps=_step_labels(_lang(request)),
    )


KPI_EXPORT: tuple[tuple[str, str], ...] = (
    ("archived", "已归档 Archived"),
    ("archived_on_time", "按时归档 Archived on time"),
    ("on_time_share", "服务时限达标率 On-time share"),
    ("median_working_days_to_energise", "接电时长中位数(工作日) Median working days to energise"),
    ("p90_working_days_to_energise", "接电时长P90(工作日) P90 working days to energise"),
    ("open_now", "在途申请 Open now"),
    ("open_overdue_now", "在途超期 Open and overdue"),
    ("withdrawn", "已撤销 Withdrawn"),
    ("withdrawn_capacity_kva", "撤销容量(kVA) Withdrawn capacity (kVA)"),
    ("withdrawn_revenue_cny", "撤销电费(元) Withdrawn revenue (CNY)"),
)
DIMENSION_SHEETS = {
    "overall": "全公司 Overall", "step": "按环节 By step", "unit": "按供电单位 By unit",
    "owner": "按客户经理 By manager", "channel": "按渠道 By channel",
    "voltage": "按电压 By voltage",
}  # fmt: skip


@router.get("/assessment/applications.xlsx")
def application_kpis_export(engine: Store, person: Viewer) -> Response:
    """The run's KPIs as a workbook, a sheet per dimension."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from retention.scoring.export import inert

    run = _run(engine)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("no_watch_run", "no watch run"))
    rows = run_kpis(engine, run.id)
    steps = {code: f"{zh} {en}" for code, (zh, en) in step_names().items()}
    book = Workbook()
    book.remove(book.active)
    for dimension in KPI_DIMENSIONS:
        sheet = book.create_sheet(DIMENSION_SHEETS[dimension])
        sheet.append(["维度 Key"] + [header for _, header in KPI_EXPORT])
        for row in (r for r in rows if r["dimension"] == dimension):
            key = steps.get(row["key"], row["key"]) if dimension == "step" else row["key"]
            sheet.append([inert(key)] + [row[name] for name, _ in KPI_EXPORT])  # type: ignore[literal-required]
        _format_sheet(sheet, Font(bold=True), percent=(4,))
    buffer = io.BytesIO()
    book.save(buffer)
    name = f"assessment-{run.label}.xlsx"
    return Response(
        buffer.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
