"""The effects page (挽留行动效果) and GET /v1/effects through the app: before any effects run
they say that effects cannot be estimated yet and why; with a run's evidence, each action's
effect with its interval by segment, and the follow-ups' retention against the control group,
on the page, the API, the KPIs and the assessment page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retention.records.evidence import ControlComparison, EffectCell, EffectEvidence
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.database import open_store
from retention.store.evidence import latest_evidence, save_evidence
from retention.store.users import create_user


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def _cell(dimension: str, segment: str, treated: int, effect: float | None) -> EffectCell:
    enough = effect is not None
    return EffectCell(
        action="tariff_plan",
        dimension=dimension,  # type: ignore[arg-type]
        segment=segment,
        treated=treated,
        controls=300,
        status="estimated" if enough else "not_enough_evidence",
        control_churn=0.10 if enough else None,
        treated_churn=None if effect is None else 0.10 - effect,
        effect=effect,
        ci_low=None if effect is None else effect - 0.03,
        ci_high=None if effect is None else effect + 0.03,
    )


EVIDENCE = EffectEvidence(
    created_at=dt.datetime(2026, 12, 3, 6, 0),
    dataset="dataset:campaigns",
    horizon_months=6,
    rows=1459,
    followed_up=727,
    controls=732,
    minimum_outcomes=200,
    minimum_per_arm=30,
    estimable=True,
    method="IPW",
    first_snapshot=dt.date(2024, 1, 1),
    last_snapshot=dt.date(2026, 5, 1),
    comparison=ControlComparison(
        followed_up=727,
        controls=732,
        followed_up_retention=0.954,
        control_retention=0.902,
        difference=0.052,
        ci_low=0.027,
        ci_high=0.079,
    ),
    cells=[
        _cell("overall", "all", 161, 0.065),
        _cell("driver", "price_bill", 70, 0.214),
        _cell("band", "high", 86, 0.106),
        _cell("industry", "C31", 12, None),
    ],
)


@pytest.fixture(scope="module")
def site(  # type: ignore[no-untyped-def]
    served_model: ServingModel, stocked, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str, dict[str, str]]]:
    """The app on a store with a scored batch and no effects run yet; a member signed in."""
    folder = tmp_path_factory.mktemp("effect-pages")
    url = f"sqlite:///{folder / 'store.db'}"
    keys = stocked(url, "crm", "retention")
    create_user(open_store(url), "wang", "s3cret-pass", "retention", "王经理", "AM0001")
    app = create_app(Settings(database_url=url, work_dir=Path(folder)), lambda: served_model)
    with TestClient(app) as client:
        page = client.get("/login")
        signed = client.post(
            "/login",
            data={"username": "wang", "password": "s3cret-pass", "csrf": _csrf(page.text)},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        yield client, url, keys


def test_before_any_effects_run_the_page_and_api_say_why_nothing_is_estimated(site) -> None:  # type: ignore[no-untyped-def]
    client, _, keys = site
    # The page: linked from the nav, and the reason with the minimum
    page = client.get("/effects")
    assert page.status_code == 200 and 'href="/effects" id="effects-tab"' in page.text
    assert "暂时无法估计效果" in page.text and "随机对照样本不足：需要至少 200 个" in page.text
    assert "effect-tariff_plan" not in page.text
    english = client.get("/effects", params={"lang": "en"}).text
    assert "too few randomised outcomes: at least 200 needed" in english
    client.get("/effects", params={"lang": "zh"})
    # The API says the same; the KPIs have no control group; nothing else changes
    team = {"Authorization": f"Bearer {keys['retention']}"}
    body = client.get("/v1/effects", headers=team).json()
    assert body["estimable"] is False and body["effects"] == [] and body["rows"] == 0
    assert body["reason_zh"].startswith("随机对照样本不足：需要至少 200 个")
    assert client.get("/v1/kpis", headers=team).json()["control_group"] is None
    assert "暂时无法估计效果" in client.get("/assessment").text


def test_the_api_needs_a_reading_key(site) -> None:  # type: ignore[no-untyped-def]
    client, _, keys = site
    refused = client.get("/v1/effects")
    assert refused.status_code == 401 and set(refused.json()) == {"code", "message"}
    crm = client.get("/v1/effects", headers={"Authorization": f"Bearer {keys['crm']}"})
    assert crm.status_code == 200


@pytest.fixture(scope="module")
def with_evidence(site):  # type: ignore[no-untyped-def]
    client, url, keys = site
    save_evidence(open_store(url), EVIDENCE)
    assert latest_evidence(open_store(url)) == EVIDENCE
    return client, url, keys


def test_the_page_shows_each_action_by_segment_and_the_control_group(with_evidence) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = with_evidence
    page = client.get("/effects").text
    assert "暂时无法估计效果" not in page
    section = page[page.index('id="effect-tariff_plan"') :]
    # the overall effect with its interval, in points; the segments by their names
    assert "+6.5" in section and "[+3.5, +9.5]" in section
    assert "电价电费" in section and "+21.4" in section  # the driver of risk: price and bill
    assert "高" in section and "+10.6" in section  # the high band
    assert "证据不足 / not enough evidence" in section and "C31" in section
    # the follow-ups against the control group
    group = page[page.index('id="control-group"') :]
    assert "95.4%" in group and "90.2%" in group and "+5.2" in group and "[+2.7, +7.9]" in group
    assert "1459" in page and "2026-12-03 14:00" in page  # the run's time in Beijing


def test_the_api_kpis_and_assessment_give_the_latest_evidence(with_evidence) -> None:  # type: ignore[no-untyped-def]
    client, _, keys = with_evidence
    team = {"Authorization": f"Bearer {keys['retention']}"}
    body = client.get("/v1/effects", headers=team).json()
    assert body["estimable"] is True and body["measured_at"] == "2026-12-03T06:00:00Z"
    assert [c["segment"] for c in body["effects"]] == ["all", "price_bill", "high", "C31"]
    assert body["effects"][3]["status"] == "not_enough_evidence"
    assert body["effects"][3]["effect"] is None
    assert body["control_group"]["difference"] == pytest.approx(0.052)
    kpis = client.get("/v1/kpis", headers=team).json()
    assert kpis["control_group"]["control_retention"] == pytest.approx(0.902)
    assessment = client.get("/assessment").text
    assert "跟进客户与对照组的留存率" in assessment and "95.4%" in assessment
