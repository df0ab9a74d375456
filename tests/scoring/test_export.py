"""Exports the team opens in Excel: CSV with BOM and a formatted workbook, in zh or en."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from retention.records.batch import ScoredList
from retention.scoring.export import HEADERS, TARGET_HEADERS, export_frame, write_export
from retention.store.batches import StoredBatch, load_batch, save_batch
from retention.store.database import open_store


@pytest.fixture(scope="module")
def stored(scored: ScoredList, tmp_path_factory: pytest.TempPathFactory) -> StoredBatch:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('export') / 'store.db'}")
    save_batch(engine, scored, "key-account-churn", "7", 40, dt.date(2026, 11, 30))
    return load_batch(engine)


def test_csv_has_a_bom_chinese_headers_and_every_account(
    stored: StoredBatch, tmp_path: Path
) -> None:
    out = write_export(stored, "csv", tmp_path / "list.csv", lang="zh")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel then reads UTF-8
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype={"户号": str})
    # a batch without effect estimates has today's columns, no money saved
    assert list(frame.columns) == [zh for k, (zh, _) in HEADERS.items() if k not in TARGET_HEADERS]
    assert len(frame) == len(stored.scores)
    assert frame["户号"].tolist() == stored.scores["customer_id"].tolist()
    assert set(frame["风险等级"]) <= {"高", "中", "低", "正在办理销户/减容"}
    assert (frame["风险等级"].iloc[:40] == "高").all()
    # The first account's reason is its own reason text, with its own value.
    first = stored.scores["customer_id"].iloc[0]
    own = stored.reasons[(stored.reasons["customer_id"] == first) & (stored.reasons["rank"] == 1)]
    assert frame["主要风险因素1"].iloc[0] == own["text_zh"].iloc[0]
    assert "完成时限：" in frame["建议措施（责任人，完成时限）"].iloc[0]


def test_english_export_uses_english_headers_and_texts(stored: StoredBatch) -> None:
    frame = export_frame(stored, "en")
    assert set(frame["band"]) <= {"high", "medium", "low", "in exit process"}
    first_actions = frame["actions"].iloc[0]
    assert (
        first_actions.startswith("1. ")
        and "(owner: " in first_actions
        and "due 20" in first_actions
    )
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in frame["reason_1"].dropna().iloc[0][:8])


def test_xlsx_is_formatted_for_the_team(stored: StoredBatch, tmp_path: Path) -> None:
    out = write_export(stored, "xlsx", tmp_path / "list.xlsx", lang="zh")
    book = load_workbook(out)
    assert book.sheetnames == ["风险名单", "说明"]
    sheet = book["风险名单"]
    assert sheet.freeze_panes == "C2"
    assert sheet.auto_filter.ref == f"A1:U{len(stored.scores) + 1}"  # 21 columns
    assert sheet["A1"].value == "排名" and sheet["A1"].font.b
    assert sheet.max_row == len(stored.scores) + 1
    assert sheet.column_dimensions["M"].width == 70  # actions
    band = [c.value for c in sheet[1]].index("风险等级") + 1
    high = sheet.cell(row=2, column=band)
    low_row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, band).value == "低")
    assert high.value == "高" and high.fill.fgColor.rgb.endswith("F8CBAD")
    assert sheet.cell(low_row, band).fill.fill_type is None
    probability = [c.value for c in sheet[1]].index("流失概率") + 1
    assert sheet.cell(2, probability).number_format == "0.0%"
    assert book["说明"]["B1"].value == stored.info.id


def test_exports_carry_the_churn_within_1_and_3_months(stored: StoredBatch, tmp_path: Path) -> None:
    # Given the tests' batch, scored by a 6-month model with timing models
    listed = stored.scores["rank"].notna()
    # When it is exported as CSV and as a workbook
    csv = pd.read_csv(write_export(stored, "csv", tmp_path / "l.csv"), encoding="utf-8-sig")
    book = load_workbook(write_export(stored, "xlsx", tmp_path / "l.xlsx"))
    # Then both horizons sit beside the probability, Chinese first, never above it
    headers = list(csv.columns)
    assert headers[4:7] == ["流失概率", "1个月内流失概率", "3个月内流失概率"]
    assert export_frame(stored, "en").columns[5] == "probability_1m"
    assert HEADERS["probability_3m"] == ("3个月内流失概率", "Churn within 3 months")
    within = csv[listed.to_numpy()]
    assert within["1个月内流失概率"].notna().all()
    assert (within["1个月内流失概率"] <= within["3个月内流失概率"]).all()
    assert (within["3个月内流失概率"] <= within["流失概率"] + 1e-4).all()  # rounded to 0.01 pp
    assert csv.loc[~listed.to_numpy(), "1个月内流失概率"].isna().all()  # accounts leaving
    sheet = book["风险名单"]
    column = [c.value for c in sheet[1]].index("1个月内流失概率") + 1
    assert sheet.cell(2, column).number_format == "0.0%"
    about = {row[0].value: row[1].value for row in book["说明"].iter_rows()}
    assert about["流失概率的预测期（月）"] == 6


def test_a_failed_export_leaves_the_previous_file(
    stored: StoredBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "list.xlsx"
    out.write_bytes(b"previous")

    def disk_full(frame, headers, batch, path, lang):  # type: ignore[no-untyped-def]
        path.write_bytes(b"half a workbook")
        raise OSError("No space left on device")

    monkeypatch.setattr("retention.scoring.export._write_xlsx", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_export(stored, "xlsx", out)
    assert out.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [out]  # no staging file left behind
    with pytest.raises(ValueError, match="choose one of"):
        write_export(stored, "pdf", out)


def test_text_that_excel_would_run_as_a_formula_stays_text(stored: StoredBatch) -> None:
    scores = stored.scores.copy()
    scores.loc[0, "customer_name"] = '=HYPERLINK("http://evil","x")'
    frame = export_frame(StoredBatch(stored.info, scores, stored.reasons, stored.actions))
    assert frame["customer_name"].iloc[0] == '\'=HYPERLINK("http://evil","x")'
    assert frame["customer_name"].iloc[1] == scores["customer_name"].iloc[1]


def test_numbers_that_are_not_finite_in_an_older_store_export_as_empty_cells(
    stored: StoredBatch, tmp_path: Path
) -> None:
    # Given a batch stored before the store refused them: infinite money, a revenue no
    # integer holds, an infinite probability
    scores = stored.scores.copy()
    scores.loc[0, "money_at_risk_cny"] = float("inf")
    scores.loc[1, "expected_revenue_cny"] = 2e307
    scores.loc[2, "probability"] = float("-inf")
    scores.loc[3, "contract_capacity_kva"] = float("nan")
    batch = StoredBatch(stored.info, scores, stored.reasons, stored.actions)
    # when it is exported, then those cells are empty and every other one is as before
    frame = export_frame(batch)
    assert frame["money_at_risk_cny"].isna().tolist()[:4] == [True, False, False, False]
    assert frame["expected_revenue_cny"].isna().tolist()[:4] == [False, True, False, False]
    assert frame["probability"].isna().tolist()[:4] == [False, False, True, False]
    assert frame["contract_capacity_kva"].isna().tolist()[:4] == [False, False, False, True]
    assert frame["money_at_risk_cny"].iloc[1] == round(stored.scores["money_at_risk_cny"].iloc[1])
    csv = pd.read_csv(write_export(batch, "csv", tmp_path / "l.csv"), encoding="utf-8-sig")
    assert csv["风险电费(元)"].isna().tolist()[:2] == [True, False]
    sheet = load_workbook(write_export(batch, "xlsx", tmp_path / "l.xlsx"))["风险名单"]
    column = [c.value for c in sheet[1]].index("风险电费(元)") + 1
    assert sheet.cell(2, column).value is None and isinstance(sheet.cell(3, column).value, int)


def test_exports_carry_the_best_tariff_plan_and_its_saving(
    stored: StoredBatch, tmp_path: Path
) -> None:
    # Given a batch whose tariff_plan actions carry offers
    actions = stored.actions
    offered = actions[actions["plan_code"].notna()].set_index("customer_id")
    assert not offered.empty
    # When it is exported as CSV (Chinese) and as a workbook (English)
    out = write_export(stored, "csv", tmp_path / "list.csv", lang="zh")
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype={"户号": str}).set_index("户号")
    book = load_workbook(write_export(stored, "xlsx", tmp_path / "list.xlsx", lang="en"))
    rows = list(book["Risk list"].iter_rows(values_only=True))
    # then beside the actions: the best plan in words and its saving in whole yuan
    headers = list(frame.columns)
    assert headers.index("最佳电价电费方案") == headers.index("建议措施（责任人，完成时限）") + 1
    saving = frame["电价方案近12个月可节省(元)"]
    for customer, action in offered.iterrows():
        assert saving[customer] == round(action["saving_cny"])
        assert frame.at[customer, "最佳电价电费方案"]
    assert saving.drop(offered.index).isna().all()  # no offer: an empty cell, not a zero
    english = dict(
        zip(
            rows[0],
            rows[1 + list(stored.scores["customer_id"]).index(offered.index[0])],
            strict=True,
        )
    )
    assert english["Best tariff plan"] and english["Tariff plan saving, 12 months (CNY)"]


def test_the_formula_guard_covers_the_tariff_plan_column(stored: StoredBatch) -> None:
    # Given a plan whose label a spreadsheet would run (a user's own tables name it)
    actions = stored.actions.copy()
    at = actions.index[actions["plan_code"].notna()][0]
    detail = json.loads(actions.at[at, "plan_detail"])
    for plan in detail["plans"]:
        plan["zh"] = "=1+1"
    actions.at[at, "plan_detail"] = json.dumps(detail)
    # when exported, then it stays text
    frame = export_frame(StoredBatch(stored.info, stored.scores, stored.reasons, actions))
    row = frame[frame["customer_id"] == actions.at[at, "customer_id"]]
    assert row["tariff_plan"].iloc[0] == "'=1+1"
