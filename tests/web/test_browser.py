"""The team's page in a real browser: headless Chromium (Debian's) driven by Playwright.

Needs /usr/bin/chromium and a Chinese font: `make browser-deps` installs both (CI runs it).
Without Chromium these tests skip and say so.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from retention.records.batch import ScoredList
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.database import open_store
from retention.store.users import create_user

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason="Chromium is not installed: run `make browser-deps` (Debian's chromium and "
        "fonts-wqy-zenhei) to enable the browser tests",
    ),
]


@pytest.fixture(scope="module")
def site(  # type: ignore[no-untyped-def]
    served_model: ServingModel, stocked, tmp_path_factory: pytest.TempPathFactory, running
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("site")
    url = f"sqlite:///{folder / 'store.db'}"
    stocked(url)
    engine = open_store(url)
    create_user(engine, "wang", "s3cret-pass", "retention", display_name="王经理")
    create_user(engine, "admin", "admin-pass-1", "admin")
    settings = Settings(database_url=url, work_dir=folder)
    app = create_app(settings, load_model=lambda: served_model)
    with running(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def _policy_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """What the page's Content-Security-Policy refused, as Chromium reports it on the console
    and to the page (filled in while the page is used)."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective))"
    )
    return refused


def _sign_in(page, site: str, user: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_a_manager_works_the_list_in_a_browser(browser, site: str, scored: ScoredList) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    refused = _policy_violations(page)
    # a signed-out visit is sent to sign-in
    page.goto(f"{site}/list")
    assert "/login" in page.url
    _sign_in(page, site, "wang", "s3cret-pass")
    page.wait_for_url(f"{site}/list")
    assert page.locator("#kpi-high").inner_text() == "40"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "list.png"))
    # filter the list to the high band
    page.select_option("select[name=band]", "high")
    page.click("#filters button[type=submit]")
    assert page.locator("tr.band-high").count() == 40
    coverage_before = page.locator("#kpi-coverage").inner_text()
    # open the top account, log a follow-up, see it in the history
    first = scored.accounts["customer_id"].iloc[0]
    page.click(f"a[href='/accounts/{first}']")
    page.wait_for_url(f"{site}/accounts/{first}")
    assert page.locator("#reasons li").count() >= 1
    assert page.locator("#usage-chart svg polyline").count() == 2
    form = page.locator("#log-follow-up")
    form.locator("select[name=action_code]").select_option("dedicated_manager")
    form.locator("select[name=outcome]").select_option("contacted")
    form.locator("input[name=note]").fill("客户经理已上门")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{site}/accounts/{first}")
    assert "客户经理已上门" in page.locator("#follow-ups").inner_text()
    # record its outcome from the history's form: the change shows under the follow-up
    row = page.locator("#follow-ups form.inline").first
    row.locator("select[name=outcome]").select_option("retained")
    row.locator("button[type=submit]").click()
    page.wait_for_url(f"{site}/accounts/{first}")
    history = page.locator("ol.changes li")
    assert history.count() == 2 and "已联系 → 已挽留" in history.nth(1).inner_text()
    assert "王经理 (wang)" in history.nth(1).inner_text()
    page.screenshot(path=str(SCREENSHOTS / "account.png"), full_page=True)
    # the KPI strip counts it
    page.goto(f"{site}/list")
    assert page.locator("#kpi-coverage").inner_text() != coverage_before
    # export the view and open the workbook
    with page.expect_download() as download:
        page.click("#export")
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert book.worksheets[0]["A1"].value == "排名"
    # a retention user cannot reach the admin page; sign out ends the session
    response = page.goto(f"{site}/model")
    assert response is not None and response.status == 403
    assert "仅限管理员" in page.locator("main").inner_text()  # a page, not JSON
    page.goto(f"{site}/list")
    page.click("#sign-out")
    page.wait_for_url(f"{site}/login")
    page.goto(f"{site}/list")
    assert "/login" in page.url
    assert refused == []  # every page works under its Content-Security-Policy
    context.close()


def test_a_form_without_its_csrf_token_is_refused_in_the_browser(browser, site: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    page = context.new_page()
    refused = _policy_violations(page)
    _sign_in(page, site, "admin", "admin-pass-1")
    page.wait_for_url(f"{site}/list")
    assert page.goto(f"{site}/model").status == 200  # type: ignore[union-attr]
    page.goto(f"{site}/assessment")
    assert refused == []
    forged = page.request.post(f"{site}/logout", form={"csrf": "forged"}, max_redirects=0)
    assert forged.status == 403
    context.close()
