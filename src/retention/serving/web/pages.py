"""The team's pages: sign-in, the list, an account, the assessment, the model.

Rendered on the server; each page reads the latest complete batch with the same queries as
the API, so the page and the CRM always show the same list.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi import Path as FastPath
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from retention.data.contract import ACTION_CODES
from retention.data.local_time import LOCAL_TIMEZONE, local_today
from retention.records.batch import AccountInBatch, horizons
from retention.records.labels import BANDS, EXIT, FOLLOW_UP_OUTCOMES
from retention.scoring.export import in_lang
from retention.scoring.targeting import marked_effects
from retention.scoring.tariff_offers import offer_of
from retention.serving.deps import Model, Store
from retention.serving.routers.admin import monitoring_summary
from retention.serving.web.auth import (
    Csrf,
    LoginThrottle,
    PageAdmin,
    Viewer,
    csrf_token,
    signed_in,
)
from retention.serving.web.texts import translator
from retention.store.assignments import assignments_of
from retention.store.batches import BatchInfo, BatchNotFound, StoredBatch, batch_info, load_batch
from retention.store.evidence import latest_evidence
from retention.store.follow_ups import (
    IdempotencyConflict,
    NewFollowUp,
    account_follow_ups,
    create_follow_up,
    follow_up_changes,
    get_follow_up,
    kpis,
    list_follow_ups,
    update_follow_up,
)
from retention.store.monitoring import latest_report, report_by_id, report_history
from retention.store.risk import (
    ListFilters,
    account_effects,
    account_history,
    account_risk,
    firsts,
    risk_list,
    tariff_savings,
)
from retention.store.users import authenticate, end_sessions, get_user

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _beijing(value: dt.datetime | str | None) -> str:
    """A stored time (naive UTC, or an RFC 3339 instant from a follow-up's history) as Beijing
    wall-clock time, as people entered it."""
    if not value:
        return ""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    local = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(
        ZoneInfo(LOCAL_TIMEZONE)
    )
    return local.strftime("%Y-%m-%d %H:%M")


templates.env.filters["beijing"] = _beijing
# the bands a person filters the list by (the exit band has its own tab)
templates.env.globals["listed_bands"] = [band for band in BANDS if band != EXIT]
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
SHOWN_FEATURES = 10  # drifted features listed on the model page
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts; default-src 'none'; "
    "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Every page (error pages too): never in a frame (clickjacking), scripts, styles and images
# from this site only, forms sent only here, and no copy left in a cache after sign-out.
# The templates have no inline script or style, so the policy needs no 'unsafe-inline'.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _lang(request: Request) -> str:
    wanted = request.query_params.get("lang")
    if wanted in ("zh", "en"):
        request.session["lang"] = wanted
    return str(request.session.get("lang", "zh"))


def render(request: Request, name: str, person: Any = None, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            "t": translator(lang),
            "lang": lang,
            "user": person,
            "csrf": csrf_token(request),
            **context,
        },
        headers=PAGE_HEADERS,
    )


def _batch(engine: Store) -> BatchInfo | None:
    try:
        return batch_info(engine)
    except BatchNotFound:
        return None


@router.get("/login")
def login_page(request: Request, engine: Store, next: str = "/list") -> Response:
    if signed_in(request, engine) is not None:
        return RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    return render(request, "login.html", next=_safe_next(next), failed=False)


@router.post("/login")
def login(
    request: Request,
    engine: Store,
    _: Csrf,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/list",
) -> Response:
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(username, address)
    if wait:
        response = render(
            request, "login.html", next=_safe_next(next), failed=False, wait_minutes=-(-wait // 60)
        )
        response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
        response.headers["Retry-After"] = str(wait)
        return response
    person = authenticate(engine, username, password)
    if person is None:
        throttle.failed(username, address)
        response = render(request, "login.html", next=_safe_next(next), failed=True)
        response.status_code = status.HTTP_401_UNAUTHORIZED
        return response
    throttle.succeeded(username)
    lang = request.session.get("lang", "zh")
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in person
    request.session.update(
        {"user_id": person.id, "session_version": person.session_version, "lang": lang}
    )
    return RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)


@router.post("/logout")
def logout(request: Request, engine: Store, _: Csrf) -> Response:
    person = signed_in(request, engine)
    if person is not None:  # a copy of the cookie must not stay signed in
        end_sessions(engine, person.id)
    request.session.clear()
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)


def _safe_next(target: str) -> str:
    """Only a path on this site (never another host) after sign-in. Browsers read a backslash
    as a slash ("/\\host" is "//host"), so neither may follow the first slash, and no
    control characters anywhere."""
    local = (
        target.startswith("/")
        and target[1:2] != "/"
        and not any(ord(c) < 32 or c == "\\" for c in target)
    )
    return target if local else "/list"


@router.get("/")
def home() -> Response:
    return RedirectResponse("/list", status.HTTP_303_SEE_OTHER)


@dataclass(frozen=True)
class ListView:
    """The list's filters as the page's query string carries them (the page and its export)."""

    band: str | None
    region: str | None
    manager: str | None
    industry: str | None
    q: str | None
    tab: str

    @property
    def filters(self) -> ListFilters:
        # the exit tab lists the accounts in exit process; the ranked list leaves them out
        return ListFilters(
            band="exit" if self.tab == "exit" else self.band or None,
            region=self.region or None,
            account_manager_id=self.manager or None,
            industry_code=self.industry or None,
            text=(self.q or "").strip() or None,
            exclude_exit=self.tab == "list",
        )

    def query(self, **extra: str) -> dict[str, str]:
        values = {
            "band": self.band, "region": self.region, "manager": self.manager,
            "industry": self.industry, "q": self.q, "tab": self.tab,
        }  # fmt: skip
        return {k: v or "" for k, v in values.items()} | extra


def list_view(
    band: Annotated[str | None, Query(max_length=8)] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    manager: Annotated[str | None, Query(max_length=64)] = None,
    industry: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    tab: Annotated[str, Query(pattern="^(list|exit)$")] = "list",
) -> ListView:
    return ListView(band, region, manager, industry, q, tab)


View = Annotated[ListView, Depends(list_view)]


@router.get("/list")
def list_page(
    request: Request,
    engine: Store,
    person: Viewer,
    view: View,
    sort: Annotated[str, Query(pattern="^(rank|probability)$")] = "rank",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    batch = _batch(engine)
    if batch is None:
        return render(request, "list.html", person, batch=None)
    offset = (page - 1) * PAGE_SIZE
    rows, count = risk_list(engine, batch.id, view.filters, PAGE_SIZE, offset, sort)
    top, first = firsts(engine, batch.id, [r["customer_id"] for r in rows])
    savings = tariff_savings(engine, batch.id, [r["customer_id"] for r in rows])
    lang = _lang(request)
    assigned = assignments_of(engine, batch.id, [r["customer_id"] for r in rows])
    figures = kpis(engine, batch.id, local_today())["overall"]
    query = view.query(sort=sort)
    return render(
        request,
        "list.html",
        person,
        batch=batch,
        rows=rows,
        top=top,
        first=first,
        savings=savings,
        assigned=assigned,
        count=count,
        page=page,
        pages=max(1, math.ceil(count / PAGE_SIZE)),
        figures=figures,
        query=query,
        money_saved_mode=batch.list_mode == "money_saved",
        list_reason=in_lang(batch.list_reason, lang),  # type: ignore[arg-type]
    )


@router.get("/list.xlsx")
def list_export(
    request: Request,
    engine: Store,
    person: Viewer,
    view: View,
) -> Response:
    """The current view (all its pages) as the formatted workbook of `retention export`."""
    from retention.scoring.export import write_export

    try:
        stored = load_batch(engine)
    except BatchNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("no_batch", str(err))) from err
    rows, _count = risk_list(engine, stored.info.id, view.filters, 1_000_000, 0)
    keep = {r["customer_id"] for r in rows}
    shown = StoredBatch(
        info=stored.info,
        scores=stored.scores[stored.scores["customer_id"].isin(keep)].reset_index(drop=True),
        reasons=stored.reasons[stored.reasons["customer_id"].isin(keep)],
        actions=stored.actions[stored.actions["customer_id"].isin(keep)],
        assignments=stored.assignments[stored.assignments["customer_id"].isin(keep)],
    )
    lang = _lang(request)
    with tempfile.TemporaryDirectory() as folder:
        path = write_export(shown, "xlsx", Path(folder) / "list.xlsx", lang)  # type: ignore[arg-type]
        content = path.read_bytes()
    name = f"{stored.info.label}-{view.tab}-{lang}.xlsx"
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/accounts/{customer_id}")
def account_page(
    request: Request, customer_id: str, engine: Store, serving: Model, person: Viewer
) -> Response:
    batch = _batch(engine)
    found = None if batch is None else account_risk(engine, batch.id, customer_id)
    if batch is None or found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=("not_found", f"customer {customer_id} is not in the latest batch"),
        )
    score, reasons, actions = found
    effects = account_effects(engine, batch.id, customer_id)
    follow_ups = account_follow_ups(engine, customer_id)
    loggers: dict[int, str] = {}  # who logged each follow-up on the page
    for user_id in {f["created_by_user"] for f in follow_ups if f.get("created_by_user")}:
        logger = get_user(engine, int(user_id))
        loggers[user_id] = "" if logger is None else logger.display_name or logger.username
    changes: dict[int, list[dict[str, Any]]] = {}  # each follow-up's history, oldest first
    for change in follow_up_changes(engine, [f["id"] for f in follow_ups]):
        changes.setdefault(change["follow_up_id"], []).append(change)
    history = account_history(engine, customer_id)
    return render(
        request,
        "account.html",
        person,
        batch=batch,
        score=score,
        horizons=horizons(score, batch.horizon_months),
        reasons=reasons,
        actions=[{**a, "plan": offer_of(a)} for a in actions],  # tariff_plan's offer
        effects=marked_effects(effects, actions, score.get("best_action")),
        list_reason=in_lang(batch.list_reason, _lang(request)),  # type: ignore[arg-type]
        assignment=assignments_of(engine, batch.id, [customer_id]).get(customer_id),
        follow_ups=follow_ups,
        changes=changes,
        loggers=loggers,
        form_id=secrets.token_urlsafe(16),  # a double submit of this form is stored once
        history=history,
        chart=_history_svg(history),
        usage_chart=_usage_svg(score.get("kwh_36m"), batch.snapshot_date, lang=_lang(request)),
        action_codes=ACTION_CODES,
        action_names={code: (a.zh, a.en) for code, a in serving.playbook.actions.items()},
        outcomes=FOLLOW_UP_OUTCOMES,
    )


@router.post("/accounts/{customer_id}/follow-ups")
def log_follow_up(
    customer_id: str,
    engine: Store,
    person: Viewer,
    _: Csrf,
    action_code: Annotated[str, Form()],
    outcome: Annotated[str, Form()] = "pending",
    note: Annotated[str, Form(max_length=2000)] = "",
    contacted_at: Annotated[str, Form(max_length=32)] = "",
    form_id: Annotated[str, Form(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")] = "",
) -> Response:
    batch = _batch(engine)
    if batch is None or account_risk(engine, batch.id, customer_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("not_found", customer_id))
    if action_code not in ACTION_CODES or outcome not in FOLLOW_UP_OUTCOMES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=("invalid", "form"))
    item = NewFollowUp(
        customer_id=customer_id,
        action_code=action_code,
        outcome=outcome,
        note=note.strip() or None,
        contacted_at=_local_time(contacted_at),
    )
    try:
        create_follow_up(
            engine, item, batch.id, caller_id=None, idempotency_key=form_id or None,
            user_id=person.id,
        )  # fmt: skip
    except IdempotencyConflict:  # the same form sent again with other values: a new entry
        create_follow_up(engine, item, batch.id, caller_id=None, user_id=person.id)
    return RedirectResponse(f"/accounts/{customer_id}", status.HTTP_303_SEE_OTHER)


@router.post("/follow-ups/{follow_up_id}")
def update_page_follow_up(
    follow_up_id: Annotated[int, FastPath(ge=1, le=2**62)],
    engine: Store,
    person: Viewer,
    _: Csrf,
    outcome: Annotated[str, Form()],
    customer_id: Annotated[str, Form(max_length=64)],
    contacted_at: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if outcome not in FOLLOW_UP_OUTCOMES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=("invalid", "outcome"))
    changes: dict[str, Any] = {"outcome": outcome}
    when = _local_time(contacted_at)
    if when is not None:
        changes["contacted_at"] = when
    found = get_follow_up(engine, follow_up_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("not_found", str(follow_up_id)))
    # The form names the account whose page it is on: a form of one account must not change
    # another account's follow-up (a follow-up never moves to another account).
    if found["customer_id"] != customer_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=(
                "invalid",
                f"跟进记录 {follow_up_id} 不属于户号 {customer_id} / follow-up {follow_up_id} "
                f"is not one of account {customer_id}'s",
            ),
        )
    if update_follow_up(engine, follow_up_id, changes, user_id=person.id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("not_found", str(follow_up_id)))
    return RedirectResponse(f"/accounts/{found['customer_id']}", status.HTTP_303_SEE_OTHER)


def _local_time(text: str) -> dt.datetime | None:
    """A datetime-local form value (Beijing time) as the store keeps it (naive UTC)."""
    from retention.serving.schemas import to_store

    if not text.strip():
        return None
    try:
        return to_store(dt.datetime.fromisoformat(text.strip()))
    except ValueError as err:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=("invalid", "contacted_at")
        ) from err


@router.get("/assessment")
def assessment_page(request: Request, engine: Store, person: Viewer) -> Response:
    batch = _batch(engine)
    evidence = latest_evidence(engine)  # the follow-ups against the control group (/effects)
    control_group = None if evidence is None else evidence.comparison
    if batch is None:
        return render(request, "assessment.html", person, batch=None, control_group=control_group)
    figures = kpis(engine, batch.id, local_today())
    overdue, _count = list_follow_ups(
        engine, local_today(), overdue=True, limit=500, accounts_only=True
    )
    return render(
        request, "assessment.html", person,
        batch=batch, figures=figures, overdue=overdue, control_group=control_group,
    )  # fmt: skip


@router.get("/assessment.xlsx")
def assessment_export(request: Request, engine: Store, person: Viewer) -> Response:
    """The assessment as a workbook: by manager, by supplying unit, the overdue follow-ups."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from retention.scoring.export import inert

    batch = _batch(engine)
    if batch is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("no_batch", "no scored list"))
    t = translator(_lang(request))
    figures = kpis(engine, batch.id, local_today())
    overdue, _count = list_follow_ups(
        engine, local_today(), overdue=True, limit=100_000, accounts_only=True
    )
    book = Workbook()
    book.remove(book.active)
    columns = [
        ("high_risk_accounts", "high_risk"), ("followed_up", "followed"),
        ("coverage", "coverage"), ("on_time_contact_rate", "on_time"),
        ("overdue", "overdue"), ("money_at_risk_cny", "money_at_risk"),
    ]  # fmt: skip
    for key, title, first in (
        ("by_account_manager", "by_manager", "manager"),
        ("by_region", "by_region", "region"),
    ):
        sheet = book.create_sheet(t(title))
        sheet.append([t(first)] + [t(label) for _, label in columns])
        for group in figures[key]:
            sheet.append([inert(group["key"])] + [group[name] for name, _ in columns])
        _format_sheet(sheet, Font(bold=True), percent=(4, 5))
    sheet = book.create_sheet(t("overdue_follow_ups"))
    sheet.append(["户号 customer", t("action"), t("owner"), t("due"), t("outcome")])
    for item in overdue:
        sheet.append(
            [inert(item["customer_id"]), item["action_code"], inert(item["owner"]),
             item["due_date"], t(item["outcome"])]
        )  # fmt: skip
    _format_sheet(sheet, Font(bold=True))
    buffer = io.BytesIO()
    book.save(buffer)
    name = f"assessment-{batch.label}.xlsx"
    return Response(
        buffer.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _format_sheet(sheet: Any, bold: Any, percent: tuple[int, ...] = ()) -> None:
    for cell in sheet[1]:
        cell.font = bold
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for column in sheet.columns:
        sheet.column_dimensions[column[0].column_letter].width = 16
    for index in percent:
        for cell in list(sheet.columns)[index - 1][1:]:
            cell.number_format = "0.0%"


@router.get("/model")
def model_page(request: Request, serving: Model, engine: Store, person: PageAdmin) -> Response:
    info = serving.model.info
    report = latest_report(engine)
    return render(
        request,
        "model.html",
        person,
        serving=serving,
        info=info,
        metrics=info.test_metrics,
        baselines=info.baselines,
        monitoring=None if report is None else monitoring_summary(report, report_history(engine)),
        shown_features=SHOWN_FEATURES,
        feature_names={f.name: (f.zh, f.en) for f in serving.catalogue.features},
    )


@router.get("/model/reports/{report_id}/{kind}")
def monitoring_report(
    engine: Store,
    person: PageAdmin,
    report_id: Annotated[int, FastPath(ge=1, le=2**31 - 1)],
    kind: Annotated[str, FastPath(pattern="^(drift|realised)$")],
) -> Response:
    """An Evidently report written by `retention monitor` (self-contained HTML, no CDN).

    The report carries the data's own values (industry codes, regions) inside its scripts, so
    it runs sandboxed: an opaque origin without this site's cookies, and no network."""
    report = report_by_id(engine, report_id)
    path = None if report is None else report.summary.reports.get(kind)
    if path is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=("not_found", f"没有该报告 / no {kind} report {report_id}"),
        )
    if not Path(path).is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=(
                "not_found",
                f"报告文件不在本服务器 / the report file is not on this server: {path}",
            ),
        )
    return FileResponse(path, media_type="text/html; charset=utf-8", headers=REPORT_HEADERS)


def _history_svg(history: list[AccountInBatch], width: int = 520, height: int = 120) -> str:
    """Probability over past batches as an inline SVG polyline (no script, no CDN)."""
    points = [(h["snapshot_date"], h["probability"]) for h in history if h["probability"]]
    if len(points) < 2:
        return ""
    step = (width - 40) / (len(points) - 1)
    top = max(p for _, p in points) or 1.0
    xy = [
        (20 + i * step, height - 20 - (p / top) * (height - 40)) for i, (_, p) in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    labels = "".join(
        f'<text x="{x:.1f}" y="{height - 4}" font-size="10" text-anchor="middle">{d:%Y-%m}</text>'
        for (x, _), (d, _) in zip(xy, points, strict=True)
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">'
        f'<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{line}"/>'
        f"{labels}</svg>"
    )


def _usage_svg(
    kwh_36m: str | None, snapshot: dt.date, lang: str, width: int = 720, height: int = 200
) -> str:
    """24 months of kWh (solid) against the same months a year before (dashed), as SVG."""
    import json

    if not kwh_36m:
        return ""
    values = [None if v is None else float(v) for v in json.loads(kwh_36m)]
    if len(values) < 36:
        return ""
    recent, year_before = values[12:], values[:24]
    known = [v for v in recent + year_before if v is not None]
    if not known:
        return ""
    top = max(known) or 1.0
    step = (width - 60) / 23

    def line(series: list[float | None]) -> str:
        return " ".join(
            f"{50 + i * step:.1f},{height - 25 - (v / top) * (height - 45):.1f}"
            for i, v in enumerate(series)
            if v is not None
        )

    first = (pd_month(snapshot, -24), pd_month(snapshot, -1))
    legend = (
        ("近 24 个月用电量", "上年同期")
        if lang == "zh"
        else ("kWh, last 24 months", "a year before")
    )
    ticks = "".join(
        f'<text x="{50 + i * step:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
        f"{pd_month(snapshot, i - 24)}</text>"
        for i in range(0, 24, 3)
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{legend[0]} {first[0]}..{first[1]}">'
        f'<text x="50" y="12" font-size="11">{top:,.0f} kWh</text>'
        f'<polyline fill="none" stroke="#999" stroke-dasharray="4 3" stroke-width="1.5" '
        f'points="{line(year_before)}"/>'
        f'<polyline fill="none" stroke="#1f4e79" stroke-width="2" points="{line(recent)}"/>'
        f'<text x="{width - 230}" y="12" font-size="11" fill="#1f4e79">— {legend[0]}</text>'
        f'<text x="{width - 110}" y="12" font-size="11" fill="#777">- - {legend[1]}</text>'
        f"{ticks}</svg>"
    )


def pd_month(snapshot: dt.date, offset: int) -> str:
    """The month `offset` months from the snapshot's month, as YYYY-MM."""
    index = snapshot.year * 12 + snapshot.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
