"""Values that a spreadsheet would run as a formula reach the team's files as plain text.

OWASP's CSV injection guidance: a cell must not start with = + - @, a tab or a carriage
return; such a cell is prefixed with a single quote. Spaces before the sign, and the
full-width signs of Chinese input methods (＝ ＋ － ＠), count too: Excel skips the one and
reads the others as the ASCII signs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, update

from retention.data.local_time import local_today
from retention.model.registry import MODEL_NAME, load_version
from retention.records.batch import ScoredList
from retention.scoring.export import inert, write_export
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.batches import ACTIONS, SCORES, load_batch, save_batch
from retention.store.database import open_store
from retention.store.follow_ups import NewFollowUp, create_follow_up
from retention.store.users import create_user
from retention.training.pipeline import TrainResult

HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-1+1",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "  =1+1",
    " \t +cmd|' /C calc'!A0",
    "\u3000=1+1",  # an ideographic space, as a Chinese input method types it
    "\u00a0@SUM(A1)",
    "＝1+1",
    "＋1+1",
    "－1+1",
    "＠SUM(A1)",
    "﹦1+1",  # the small form of =, another look-alike Excel reads as the sign
]
HARMLESS = ["南京供电公司", "C31", "AM0042", "a=b", "1+1", "", "'=quoted already"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_a_spreadsheet_would_run_is_quoted(value: str) -> None:
    assert inert(value) == "'" + value


@pytest.mark.parametrize("value", [*HARMLESS, None, 12.5, dt.date(2026, 12, 1)])
def test_other_values_are_left_as_they_are(value: object) -> None:
    assert inert(value) == value


# The stored columns that carry people's text into the exports, and their headers.
COLUMNS = {"customer_name": "户名", "region": "供电单位", "account_manager_id": "客户经理"}


@dataclass
class Poisoned:
    engine: Engine
    url: str
    customers: dict[str, str]  # customer_id -> the hostile value its text columns hold


@pytest.fixture(scope="module")
def poisoned(
    scored: ScoredList, trained: TrainResult, tmp_path_factory: pytest.TempPathFactory
) -> Poisoned:
    """A batch whose first high-risk accounts carry a hostile name, unit and manager (and the
    manager as the owner of their actions), with an overdue follow-up each."""
    url = f"sqlite:///{tmp_path_factory.mktemp('formula') / 'store.db'}"
    engine = open_store(url)
    batch_id = save_batch(engine, scored, MODEL_NAME, trained.version, 40, dt.date(2026, 11, 1))
    customers = dict(zip(scored.accounts["customer_id"].iloc[: len(HOSTILE)], HOSTILE, strict=True))
    with engine.begin() as connection:
        for customer, value in customers.items():
            mine = (SCORES.c.batch_id == batch_id) & (SCORES.c.customer_id == customer)
            connection.execute(update(SCORES).where(mine).values(**dict.fromkeys(COLUMNS, value)))
            connection.execute(
                update(ACTIONS)
                .where(ACTIONS.c.batch_id == batch_id, ACTIONS.c.customer_id == customer)
                .values(owner=value)
            )
    for customer in customers:
        action = scored.actions[scored.actions["customer_id"] == customer]["code"].iloc[0]
        create_follow_up(engine, NewFollowUp(customer, action), batch_id, caller_id=None)
    return Poisoned(engine, url, customers)


def _no_formulas(book_bytes: bytes | Path) -> list[list[object]]:
    """Every sheet's cells, after checking none of them is a formula."""
    source = io.BytesIO(book_bytes) if isinstance(book_bytes, bytes) else book_bytes
    book = load_workbook(source)
    rows: list[list[object]] = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row), [c.value for c in row]
            rows.append([cell.value for cell in row])
    return rows


def _quoted(text: object, value: str) -> bool:
    """The cell holds the value behind a quote (a workbook keeps \\r as \\n, or drops it)."""
    if not isinstance(text, str) or not text.startswith("'"):
        return False
    return text[1:].replace("\r\n", "\n") in {value, value.replace("\r", "\n")}


def test_the_csv_export_quotes_every_hostile_cell(poisoned: Poisoned, tmp_path: Path) -> None:
    out = write_export(load_batch(poisoned.engine), "csv", tmp_path / "list.csv", lang="zh")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["户号"]: row for row in csv.DictReader(handle)}
    for customer, value in poisoned.customers.items():
        for header in COLUMNS.values():
            assert rows[customer][header] == "'" + value, (header, value)
    untouched = next(r for c, r in rows.items() if c not in poisoned.customers)
    assert not untouched["供电单位"].startswith("'")


def test_the_workbook_export_holds_text_not_formulas(poisoned: Poisoned, tmp_path: Path) -> None:
    out = write_export(load_batch(poisoned.engine), "xlsx", tmp_path / "list.xlsx", lang="en")
    rows = _no_formulas(out)
    header = rows[0]
    by_customer = {row[header.index("Customer ID")]: row for row in rows[1:]}
    for customer, value in poisoned.customers.items():
        for name in ("Customer name", "Supplying unit", "Account manager"):
            assert _quoted(by_customer[customer][header.index(name)], value), (name, value)


@pytest.fixture(scope="module")
def client(poisoned: Poisoned, trained: TrainResult, tmp_path_factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    model = ServingModel(MODEL_NAME, trained.version, load_version(trained.version))
    settings = Settings(database_url=poisoned.url, work_dir=tmp_path_factory.mktemp("site"))
    create_user(poisoned.engine, "gao", "gao-pass-123", "retention")
    with TestClient(create_app(settings, load_model=lambda: model)) as client:
        page = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        signed = client.post(
            "/login",
            data={"username": "gao", "password": "gao-pass-123", "csrf": csrf.group(1)},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        yield client


def test_the_lists_page_export_holds_text_not_formulas(client: TestClient, poisoned) -> None:  # type: ignore[no-untyped-def]
    book = client.get("/list.xlsx", params={"band": "high"})
    assert book.status_code == 200
    rows = _no_formulas(book.content)
    header = rows[0]
    by_customer = {row[header.index("户号")]: row for row in rows[1:]}
    for customer, value in poisoned.customers.items():
        for name in COLUMNS.values():
            assert _quoted(by_customer[customer][header.index(name)], value), (name, value)


def test_the_assessment_export_holds_text_not_formulas(client: TestClient, poisoned) -> None:  # type: ignore[no-untyped-def]
    assert local_today() > dt.date(2026, 11, 3)  # the follow-ups' first due dates have passed
    book = client.get("/assessment.xlsx")
    assert book.status_code == 200
    rows = _no_formulas(book.content)
    cells = [cell for row in rows for cell in row if isinstance(cell, str)]
    for value in poisoned.customers.values():
        # a group key (manager, supplying unit) and an overdue follow-up's owner
        assert sum(_quoted(cell, value) for cell in cells) >= 3, value
    starts = tuple("=+-@\t\r＝＋－＠")
    assert not [c for c in cells if c.lstrip().startswith(starts) or c.startswith(starts)]
