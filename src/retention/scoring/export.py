"""The scored list as the team opens it: CSV (UTF-8 with BOM) or a formatted Excel workbook.

One row per account in list order, then the accounts in exit process; headers, bands,
reasons and actions in the chosen language (Chinese by default). Each action reads
"text（责任人 owner，完成时限 date）" so a manager sees what, who and by when in one cell.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from retention.data.writing import staged
from retention.records.batch import FOLLOWED_UP, HELD_OUT, HELD_OUT_TEXT, RANDOMISED_TEXT
from retention.records.labels import BAND_LABELS, EXIT, HIGH
from retention.scoring.tariff_offers import offer_of
from retention.store.batches import StoredBatch

Lang = Literal["zh", "en"]
FORMATS = ("csv", "xlsx")
TOP_REASONS = 3

# column: (中文, English), in the order of the file
HEADERS: dict[str, tuple[str, str]] = {
    "rank": ("排名", "Rank"),
    "customer_id": ("户号", "Customer ID"),
    "customer_name": ("户名", "Customer name"),
    "band": ("风险等级", "Risk band"),
    "probability": ("流失概率", "Churn probability"),
    "probability_1m": ("1个月内流失概率", "Churn within 1 month"),
    "probability_3m": ("3个月内流失概率", "Churn within 3 months"),
    "money_at_risk_cny": ("风险电费(元)", "Money at risk (CNY)"),
    # targeting (a batch holding the effect models' estimates only)
    "best_action": ("预计最有效措施", "Best action by expected effect"),
    "churn_averted": ("预计降低流失概率", "Expected churn averted"),
    "money_saved_cny": ("预计挽回电费(元)", "Expected money saved (CNY)"),
    "expected_revenue_cny": ("预计年电费(元)", "Expected 12-month revenue (CNY)"),
    "reason_1": ("主要风险因素1", "Reason 1"),
    "reason_2": ("主要风险因素2", "Reason 2"),
    "reason_3": ("主要风险因素3", "Reason 3"),
    "actions": ("建议措施（责任人，完成时限）", "Recommended actions (owner, due date)"),
    "tariff_plan": ("最佳电价电费方案", "Best tariff plan"),
    "tariff_saving_cny": ("电价方案近12个月可节省(元)", "Tariff plan saving, 12 months (CNY)"),
    "first_due_date": ("最早完成时限", "Earliest due date"),
    "account_manager_id": ("客户经理", "Account manager"),
    "industry_code": ("行业", "Industry"),
    "region": ("供电单位", "Supplying unit"),
    "contract_capacity_kva": ("合同容量(kVA)", "Contract capacity (kVA)"),
    "assignment": ("能力边界随机分配", "Randomised at the capacity edge"),
}
BAND_TEXT = BAND_LABELS
SHEETS = {"list": ("风险名单", "Risk list"), "about": ("说明", "About")}
ABOUT = {
    "batch": ("批次", "Batch"),
    "snapshot_date": ("评估日期", "Snapshot date"),
    "scored_on": ("评分日期（完成时限起算日）", "Scored on (due dates count from)"),
    "model": ("模型版本", "Model version"),
    "horizon_months": ("流失概率的预测期（月）", "Churn probability within (months)"),
    "capacity": ("团队走访能力（高风险户数）", "Team capacity (high-risk accounts)"),
    "accounts": ("账户数", "Accounts"),
    "created_at": ("生成时间 (UTC)", "Created (UTC)"),
    "list_mode": ("名单排序依据", "List ranked by"),
}
TARGET_HEADERS = ("best_action", "churn_averted", "money_saved_cny")


TEXT_COLUMNS = (
    "customer_id", "customer_name", "reason_1", "reason_2", "reason_3", "actions",
    "tariff_plan", "account_manager_id", "industry_code", "region", "best_action",
)  # fmt: skip
# What makes a spreadsheet read a cell as a formula (OWASP's CSV injection guidance), as the
# cell's first character, or the first after spaces: Excel skips those, and reads the
# full-width and small forms that Chinese input methods type (＝ ＋ － ＠, ﹦) as the signs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "zh" else pair[1]


def export_frame(batch: StoredBatch, lang: Lang = "zh") -> pd.DataFrame:
    """The batch as one table with the export's columns (identifiers as headers)."""
    scores = batch.scores.copy()
    reasons = batch.reasons.pivot(index="customer_id", columns="rank", values=f"text_{lang}")
    for rank in range(1, TOP_REASONS + 1):
        scores[f"reason_{rank}"] = (
            scores["customer_id"].map(reasons[rank]) if rank in reasons.columns else None
        )
    actions = batch.actions
    owner = actions["owner"].where(
        actions["role"] != "account_manager", actions["owner"] + " " + actions[f"owner_{lang}"]
    )
    owner = owner.where(actions["owner"] != actions["role"], actions[f"owner_{lang}"])
    due = pd.to_datetime(actions["due_date"]).dt.strftime("%Y-%m-%d")
    if lang == "zh":
        line = actions["text_zh"] + "（责任人：" + owner + "，完成时限：" + due + "）"
    else:
        line = actions["text_en"] + " (owner: " + owner + ", due " + due + ")"
    numbered = actions["position"].astype(str) + ". " + line
    scores["actions"] = scores["customer_id"].map(
        numbered.groupby(actions["customer_id"]).agg("\n".join)
    )
    scores["first_due_date"] = scores["customer_id"].map(
        actions.groupby("customer_id")["due_date"].min()
    )
    _tariff_columns(scores, actions, lang)
    _best_action_text(scores, actions, lang)
    _assignment_column(scores, batch.assignments, lang)
    scores["band"] = scores["band"].map(lambda b: _pick(BAND_TEXT[b], lang))
    # What a person reads: whole yuan and kVA, probabilities to 0.01 percentage points.
    for name in (
        "money_at_risk_cny",
        "expected_revenue_cny",
        "contract_capacity_kva",
        "tariff_saving_cny",
        "money_saved_cny",
    ):
        scores[name] = _whole(scores[name])
    for name in ("probability", "probability_1m", "probability_3m", "churn_averted"):
        scores[name] = _readable(scores[name]).round(4)
    for name in TEXT_COLUMNS:
        scores[name] = scores[name].map(inert)
    if batch.info.effects_version is None:  # no estimates: today's columns only
        return scores[[c for c in HEADERS if c not in TARGET_HEADERS]]
    return scores[list(HEADERS)]


def _best_action_text(scores: pd.DataFrame, actions: pd.DataFrame, lang: Lang) -> None:
    """The best action in words (the playbook's text the batch holds for its code), in place."""
    for name in TARGET_HEADERS:  # a batch stored before targeting has none
        if name not in scores:
            scores[name] = None if name == "best_action" else np.nan
    text = dict(zip(actions["code"], actions[f"text_{lang}"], strict=True))
    scores["best_action"] = scores["best_action"].map(
        lambda code: None if code is None or pd.isna(code) else text.get(code, code)
    )


def _assignment_column(scores: pd.DataFrame, assignments: pd.DataFrame, lang: Lang) -> None:
    """The randomised window's accounts, in place: a held-out account reads as the control
    group with no follow-up due (in its actions too, so nobody contacts it by mistake), a
    followed-up one as a randomised follow-up; empty elsewhere."""
    arm = scores["customer_id"].map(assignments.set_index("customer_id")["assignment"])
    held = arm.eq(HELD_OUT)
    words = {HELD_OUT: _pick(HELD_OUT_TEXT, lang), FOLLOWED_UP: _pick(RANDOMISED_TEXT, lang)}
    scores["assignment"] = arm.map(words).astype(object)
    scores.loc[held, "actions"] = _pick(HELD_OUT_TEXT, lang)


def _tariff_columns(scores: pd.DataFrame, actions: pd.DataFrame, lang: Lang) -> None:
    """The tariff_plan offer beside the actions, in place: the best plan in words and its
    12-month saving (empty without a tariff_plan, or where the tables could not price it)."""
    offers = actions[(actions["code"] == "tariff_plan") & actions["plan_detail"].notna()]
    plan, saving = {}, {}
    for customer, detail in zip(offers["customer_id"], offers["plan_detail"], strict=True):
        offer = offer_of({"plan_detail": detail})
        if offer is not None:
            plan[customer] = offer[f"label_{lang}"]
            saving[customer] = offer["saving_cny"]
    scores["tariff_plan"] = scores["customer_id"].map(plan)
    scores["tariff_saving_cny"] = scores["customer_id"].map(saving).astype(float)


def in_lang(text: str | None, lang: Lang) -> str | None:
    """A stored "中文 / English" text in one language (the whole text if it has no " / ")."""
    if text is None or " / " not in text:
        return text
    zh, en = text.split(" / ", 1)
    return zh if lang == "zh" else en


def inert(value: object) -> object:
    """Text that a spreadsheet would run as a formula kept as text behind a single quote."""
    if not isinstance(value, str):
        return value
    sign = unicodedata.normalize("NFKC", value.lstrip()[:1])  # "＝" and "﹦" become "="
    if value[:1] in FORMULA_STARTS or sign in FORMULA_STARTS:
        return "'" + value
    return value


def default_name(batch: StoredBatch, fmt: str, lang: Lang) -> str:
    return f"{batch.info.label}-{lang}.{fmt}"


# Beyond 2**53 a float no longer holds every whole number: no amount of a key account's is
# that large (the contract bounds a year's bills far below it), so such a value is an error.
LARGEST_WHOLE = 2.0**53


def _readable(values: pd.Series) -> pd.Series:
    """The numbers a cell can show: NaN for infinite ones (a batch stored before the store
    refused them), so the export writes an empty cell rather than inf or failing."""
    numbers = values.astype(float)
    return numbers.where(np.isfinite(numbers))


def _whole(values: pd.Series) -> pd.Series:
    """Rounded to whole units as integers; empty where not finite or too large to be one."""
    numbers = _readable(values).round(0)
    return numbers.where(numbers.abs() < LARGEST_WHOLE).astype("Int64")


def write_export(batch: StoredBatch, fmt: str, out: Path, lang: Lang = "zh") -> Path:
    """Write the batch as `fmt` (csv or xlsx) to `out`, atomically."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
    frame = export_frame(batch, lang)
    headers = {name: _pick(pair, lang) for name, pair in HEADERS.items()}
    with staged(out) as staging:
        if fmt == "csv":
            # UTF-8 with BOM: Excel then opens the Chinese text correctly. CRLF rows (RFC
            # 4180): the writer then quotes a field holding a carriage return, which would
            # otherwise start a new row whose first cell escaped the formula guard.
            frame.rename(columns=headers).to_csv(
                staging, index=False, encoding="utf-8-sig", lineterminator="\r\n"
            )
        else:
            _write_xlsx(frame, headers, batch, staging, lang)
    return out


# The workbook's column widths (characters) and number formats.
COLUMN_WIDTHS = {
    "rank": 7, "customer_id": 13, "customer_name": 26, "band": 10, "probability": 10,
    "probability_1m": 10, "probability_3m": 10,
    "money_at_risk_cny": 15, "expected_revenue_cny": 17, "reason_1": 38, "reason_2": 38,
    "reason_3": 38, "actions": 70, "assignment": 24, "tariff_plan": 30, "tariff_saving_cny": 16,
    "first_due_date": 13, "account_manager_id": 12, "best_action": 30, "churn_averted": 12,
    "money_saved_cny": 16,
    "industry_code": 8, "region": 14, "contract_capacity_kva": 14,
}  # fmt: skip
NUMBER_FORMATS = {
    "probability": "0.0%",
    "probability_1m": "0.0%",
    "probability_3m": "0.0%",
    "money_at_risk_cny": "#,##0",
    "expected_revenue_cny": "#,##0",
    "contract_capacity_kva": "#,##0",
    "tariff_saving_cny": "#,##0",
    "churn_averted": "0.0%",
    "money_saved_cny": "#,##0",
    "first_due_date": "yyyy-mm-dd",
}


def _write_xlsx(
    frame: pd.DataFrame, headers: dict[str, str], batch: StoredBatch, path: Path, lang: Lang
) -> None:
    """Frozen header, filters, widths, wrapped reasons and actions, the high band in red.

    Write-only mode: a 100,000-row list streams to disk instead of living in memory as cells.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_pick(SHEETS["list"], lang))
    for i, name in enumerate(frame.columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = COLUMN_WIDTHS.get(name, 12)
    sheet.freeze_panes = "C2"  # header row and the account's id/rank stay in view
    last = get_column_letter(len(frame.columns))
    sheet.auto_filter.ref = f"A1:{last}{len(frame) + 1}"

    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    high_fill = PatternFill("solid", fgColor="F8CBAD")
    exit_fill = PatternFill("solid", fgColor="EDEDED")
    wrap = Alignment(wrap_text=True, vertical="top")
    wrapped = {"reason_1", "reason_2", "reason_3", "actions"}

    header = []
    for name in frame.columns:
        cell = WriteOnlyCell(sheet, value=headers[name])
        cell.font, cell.fill = bold, header_fill
        header.append(cell)
    sheet.append(header)
    high_text, exit_text = _pick(BAND_TEXT[HIGH], lang), _pick(BAND_TEXT[EXIT], lang)
    columns = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        row_band = values[columns.index("band")]
        fill = high_fill if row_band == high_text else exit_fill if row_band == exit_text else None
        cells = []
        for name, value in zip(columns, values, strict=True):
            cell = WriteOnlyCell(sheet, value=None if pd.isna(value) else value)
            if name in NUMBER_FORMATS:
                cell.number_format = NUMBER_FORMATS[name]
            if name in wrapped:
                cell.alignment = wrap
            if fill is not None:
                cell.fill = fill
            cells.append(cell)
        sheet.append(cells)

    about = book.create_sheet(_pick(SHEETS["about"], lang))
    about.column_dimensions["A"].width = 34
    about.column_dimensions["B"].width = 30
    info = batch.info
    facts = {
        "batch": info.id,
        "snapshot_date": info.snapshot_date,
        "scored_on": info.scored_on,
        "model": f"{info.model_name} v{info.model_version}",
        "horizon_months": info.horizon_months,
        "capacity": info.capacity,
        "accounts": info.accounts,
        "created_at": info.created_at,
        "list_mode": in_lang(info.list_reason, lang),
    }
    for key, value in facts.items():
        about.append([_pick(ABOUT[key], lang), value])
    book.save(path)
