"""Targeting end to end (issue 17, item 4): `retention effects` registers the effect models,
`retention score` ranks by expected money saved when their evidence is enough, and the API
shows each action's expected effect; without randomised outcomes the list is today's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from retention.cli import app
from retention.data.dataset import Dataset
from retention.data.simulator import SimulationResult
from retention.model import registry
from retention.model.effects_artifact import EffectModels
from retention.records.batch import ScoredList
from retention.scoring.assignment import assign
from retention.scoring.export import write_export
from retention.scoring.playbook import load_playbook
from retention.scoring.targeting import MONEY_AT_RISK, MONEY_SAVED
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.serving.score_input import body_from_dataset
from retention.settings import Settings
from retention.store.batches import StoredBatch, load_batch
from retention.store.database import open_store
from retention.store.keys import create_key
from retention.store.users import create_user
from retention.training.pipeline import TrainResult

runner = CliRunner()


def _own_registry(folder: Path, trained: TrainResult, session_uri: str) -> str:
    """A fresh MLflow store holding the session's churn model as champion (and no effect
    model): the effects champion of one test must not reach another."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    model = registry.load_version(trained.version)
    example = registry.evaluation_rows(trained.version)
    try:
        experiment = registry.configure(uri)
        with registry.start_run(experiment, "copy", {"job": "tests"}):
            version = registry.register(model, example, {"source": "tests"})
        registry.set_champion(version)
    finally:
        registry.configure(session_uri)  # MLflow's URI is process-wide
    return uri


def _run(monkeypatch: pytest.MonkeyPatch, work: Path, uri: str, *args: str) -> str:
    monkeypatch.setenv("RETENTION_WORK_DIR", str(work))
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("RETENTION_CAPACITY", "40")
    monkeypatch.setenv("RETENTION_LIST_MODE", "auto")  # opt-in: money at risk by default
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def targeted(
    campaign_dir: Path,
    trained: TrainResult,
    tracking_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, str, str]]:
    """The campaign portfolio: its effect models trained and registered (the product's
    minimum of 200 + 200), then scored; yields the work folder, the URI and the output."""
    work = tmp_path_factory.mktemp("targeted")
    uri = _own_registry(work, trained, tracking_uri)
    with pytest.MonkeyPatch.context() as monkeypatch:
        try:
            _run(monkeypatch, work, uri, "effects", str(campaign_dir))
            output = _run(monkeypatch, work, uri, "score", str(campaign_dir))
        finally:
            registry.configure(tracking_uri)
    yield work, uri, output


def _batch(work: Path, batch_id: int | None = None) -> StoredBatch:
    engine = open_store(f"sqlite:///{work / 'retention.db'}")
    try:
        return load_batch(engine, batch_id)
    finally:
        engine.dispose()


def test_without_randomised_outcomes_the_list_and_actions_are_todays(
    simulated_dir: Path,
    scored: ScoredList,
    trained: TrainResult,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a portfolio without any follow-up: `retention effects` finds no evidence
    uri = _own_registry(tmp_path, trained, tracking_uri)
    try:
        printed = _run(monkeypatch, tmp_path, uri, "effects", str(simulated_dir))
        assert "未登记效果模型 / no effect model registered" in printed
        # When it is scored (the session's list: same model, data and capacity)
        output = _run(monkeypatch, tmp_path, uri, "score", str(simulated_dir))
        assert registry.champion_version(registry.EFFECTS_MODEL) is None
    finally:
        registry.configure(tracking_uri)

    # Then the list is ranked by money at risk and its actions are the playbook's as assigned
    # at the capacity edge (the randomised window, seeded by the snapshot), as today
    batch = _batch(tmp_path)
    listed = batch.scores[batch.scores["rank"].notna()]
    today = assign(scored, 40, load_playbook().assignment)
    assert listed["customer_id"].tolist() == today.accounts["customer_id"].tolist()
    assert listed["band"].tolist() == today.accounts["band"].tolist()
    assert not batch.assignments.empty
    pd.testing.assert_frame_equal(batch.assignments, today.assignments, check_dtype=False)
    stored = batch.actions[["customer_id", "position", "code"]]
    expected = today.actions[["customer_id", "position", "code"]]
    key = ["customer_id", "position"]
    pd.testing.assert_frame_equal(
        stored.sort_values(key, ignore_index=True),
        expected.sort_values(key, ignore_index=True),
        check_dtype=False,
    )
    # and the batch says why, Chinese first, with no expected effects
    assert batch.info.list_mode == MONEY_AT_RISK and batch.info.effects_version is None
    assert batch.info.list_reason is not None and batch.info.list_reason.startswith("证据不足")
    assert batch.effects.empty and listed["money_saved_cny"].isna().all()
    assert "证据不足" in output


def test_enough_evidence_ranks_the_list_by_expected_money_saved(
    targeted: tuple[Path, str, str],
) -> None:
    # Given the campaign portfolio's effects champion and its scored batch
    work, _, output = targeted
    batch = _batch(work)
    info, scores, effects = batch.info, batch.scores, batch.effects

    # Then the batch was ranked by money saved, with the evidence in its reason
    assert info.list_mode == MONEY_SAVED and info.effects_version is not None
    assert info.list_reason is not None and "随机证据充足" in info.list_reason
    assert "随机证据充足" in output
    # every listed account has each eligible action's estimate, money = averted x revenue
    listed = scores[scores["rank"].notna()]
    assert set(effects["customer_id"]) <= set(listed["customer_id"])
    revenue = listed.set_index("customer_id")["expected_revenue_cny"]
    np.testing.assert_allclose(
        effects["money_saved_cny"],
        effects["churn_averted"] * revenue.reindex(effects["customer_id"]).to_numpy(),
        rtol=1e-9,
    )
    # the best action is the one saving most, and the visit list (the team's 40) saves most
    best = effects.sort_values("money_saved_cny", ascending=False).drop_duplicates("customer_id")
    chosen = listed.head(40)
    best_of = best.set_index("customer_id")["code"]
    assert (chosen["best_action"] == chosen["customer_id"].map(best_of)).all()
    saved = chosen["money_saved_cny"].to_numpy()
    assert (np.diff(saved) <= 1e-9).all() and (saved > 0).all()
    assert saved.min() >= listed["money_saved_cny"].iloc[40:].max() - 1e-9
    # the chosen accounts' first action is their best one, with the playbook's owner, except
    # the control group the randomised window holds out (no follow-up due: no action)
    first = batch.actions[batch.actions["position"] == 1].set_index("customer_id")["code"]
    held = set(batch.assignments.loc[batch.assignments["assignment"] == "held_out", "customer_id"])
    assert held and held <= set(listed["customer_id"].iloc[30:50])
    followed = chosen[~chosen["customer_id"].isin(held)]
    assert (first.reindex(followed["customer_id"]).to_numpy() == followed["best_action"]).all()
    assert not first.index.isin(held).any()


def _effects_champion(uri: str, tracking_uri: str) -> tuple[str, EffectModels]:
    """The effects champion registered under `uri` (MLflow's URI is process-wide: it is put
    back to the tests' own after)."""
    try:
        registry.configure(uri)
        found = registry.load_effects_champion()
    finally:
        registry.configure(tracking_uri)
    assert found is not None
    return found


def test_the_effect_models_load_without_training_code(
    targeted: tuple[Path, str, str], tracking_uri: str
) -> None:
    # Given the registered effects champion
    work, uri, _ = targeted
    batch = _batch(work)
    found = _effects_champion(uri, tracking_uri)
    version, models = found
    assert isinstance(models, EffectModels) and version == batch.info.effects_version
    # Then its estimates are those the batch stored (the same rows, the same numbers)
    assert models.enough() and set(batch.effects["code"]) <= set(models.enough())


def test_the_api_shows_each_actions_expected_effect_and_the_list_mode(
    targeted: tuple[Path, str, str], served_model: ServingModel
) -> None:
    # Given the targeted batch served
    work, _, _ = targeted
    url = f"sqlite:///{work / 'retention.db'}"
    engine = open_store(url)
    key = create_key(engine, "retention", "tests-targeting")[0]
    engine.dispose()
    settings = Settings(database_url=url, work_dir=work)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, load_model=lambda: served_model)) as client:
        listed = client.get("/v1/risk-list", params={"limit": 5}, headers=headers).json()
        first = listed["data"][0]
        risk = client.get(f"/v1/accounts/{first['customer_id']}/risk", headers=headers).json()
        list_page, account_page = _pages(client, work, first["customer_id"])

    # Then the list says which mode ranked it and why, with each account's money saved
    assert listed["list_mode"] == MONEY_SAVED
    assert "enough randomised evidence" in listed["list_reason"]
    assert first["money_saved_cny"] > 0 and first["best_action"]
    # and the account shows each eligible action's effect beside the playbook's actions
    effects = risk["expected_effects"]
    assert effects and sum(e["best"] for e in effects) == 1
    best = next(e for e in effects if e["best"])
    assert best["code"] == first["best_action"] and best["recommended"]
    assert best["money_saved_cny"] == pytest.approx(first["money_saved_cny"])
    assert risk["actions"][0]["code"] == best["code"]
    # and the pages: the list says what ranked it and shows the money saved, the account
    # page each action's expected effect beside the playbook's actions
    assert 'id="list-mode"' in list_page and "随机证据充足" in list_page
    assert "预计挽回电费" in list_page and "money-saved" in list_page
    assert 'id="expected-effects"' in account_page and "best-action" in account_page
    assert "effects-unavailable" not in account_page


def test_on_demand_scoring_gives_the_batchs_expected_effects(
    targeted: tuple[Path, str, str],
    campaign_dataset: Dataset,
    served_model: ServingModel,
    tracking_uri: str,
) -> None:
    # Given the effects champion loaded with the churn model, as the server's lifespan does
    work, uri, _ = targeted
    batch = _batch(work)
    found = _effects_champion(uri, tracking_uri)
    serving = replace(served_model, effects=found)
    url = f"sqlite:///{work / 'retention.db'}"
    engine = open_store(url)
    key = create_key(engine, "crm", "tests-on-demand")[0]
    engine.dispose()
    listed = batch.scores[batch.scores["rank"].notna()].set_index("customer_id")
    chosen = [str(c) for c in listed.index[[0, 7, 25]]]
    # When the CRM scores three of the batch's accounts from the same rows
    settings = Settings(database_url=url, work_dir=work, score_workers=1)
    with TestClient(create_app(settings, load_model=lambda: serving)) as client:
        response = client.post(
            "/v1/score",
            json=body_from_dataset(campaign_dataset, chosen),
            headers={"Authorization": f"Bearer {key}"},
        )
    # Then each answer carries the batch's best action, money saved and expected effects
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["effects_version"] == batch.info.effects_version and not body["effects_reason"]
    answers = {a["customer_id"]: a for a in body["data"]}
    for customer in chosen:
        got = answers[customer]
        assert got["best_action"] == listed.at[customer, "best_action"]
        assert got["money_saved_cny"] == pytest.approx(listed.at[customer, "money_saved_cny"])
        stored = batch.effects[batch.effects["customer_id"] == customer]
        stored = stored.sort_values("money_saved_cny", ascending=False)
        assert [e["code"] for e in got["expected_effects"]] == stored["code"].tolist()
        np.testing.assert_allclose(
            [e["churn_averted"] for e in got["expected_effects"]], stored["churn_averted"]
        )
        assert sum(e["best"] for e in got["expected_effects"]) == (1 if len(stored) else 0)


def _pages(client: TestClient, work: Path, customer_id: str) -> tuple[str, str]:
    """The list page and an account's page, signed in as a new member of the team."""
    create_user(open_store(f"sqlite:///{work / 'retention.db'}"), "li", "s3cret-pass", "retention")
    login = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login)
    assert csrf is not None
    form = {"username": "li", "password": "s3cret-pass", "csrf": csrf.group(1), "next": "/list"}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    return client.get("/list").text, client.get(f"/accounts/{customer_id}").text


def test_the_exports_carry_money_saved_and_say_what_ranked_the_list(
    targeted: tuple[Path, str, str], tmp_path: Path
) -> None:
    # Given the targeted batch, when it is exported
    work, _, _ = targeted
    batch = _batch(work)
    csv = write_export(batch, "csv", tmp_path / "list.csv", lang="zh")
    xlsx = write_export(batch, "xlsx", tmp_path / "list.xlsx", lang="en")

    # Then the CSV has the best action, churn averted and money saved in list order
    frame = pd.read_csv(csv, encoding="utf-8-sig", dtype={"户号": str})
    assert {"预计最有效措施", "预计降低流失概率", "预计挽回电费(元)"} <= set(frame.columns)
    saved = frame["预计挽回电费(元)"].head(40).to_numpy(dtype=float)
    assert (np.diff(saved) <= 1).all() and (saved > 0).all()
    # and the workbook's About sheet says the list was ranked by money saved, and why
    about = load_workbook(xlsx, read_only=True)["About"]
    facts = {row[0]: row[1] for row in about.iter_rows(values_only=True)}
    assert "enough randomised evidence" in str(facts["List ranked by"])


def test_a_cluster_batch_ranked_by_money_saved_equals_one_process(
    targeted: tuple[Path, str, str],
    campaign_simulation: SimulationResult,
    tracking_uri: str,
    tmp_path: Path,
) -> None:
    from retention.data.loading import load_dataset
    from retention.data.partitioned import write_partitioned
    from retention.features.catalogue import load_catalogue
    from retention.features.distributed import cluster_client
    from retention.scoring.batch import score_snapshot
    from retention.scoring.calendar import WorkingCalendar
    from retention.scoring.distributed import score_distributed

    uri = targeted[1]
    parted = tmp_path / "parted"
    write_partitioned(campaign_simulation.tables, parted, 3)
    try:
        registry.configure(uri)
        _, model = registry.load_champion()
        effects = registry.load_effects_champion()
    finally:
        registry.configure(tracking_uri)
    assert effects is not None
    args = (model, load_catalogue(), load_playbook(), WorkingCalendar())
    common = {"capacity": 40, "effects": effects, "list_mode": "auto"}
    single = score_snapshot(load_dataset(parted), *args, **common)  # type: ignore[arg-type]
    with cluster_client(local_workers=2, processes=False) as client:
        spread = score_distributed(client, parted, *args, **common)  # type: ignore[arg-type]
    assert single.list_mode == spread.list_mode == MONEY_SAVED
    assert spread.list_reason == single.list_reason
    for name in ("accounts", "actions", "effects"):
        pd.testing.assert_frame_equal(
            getattr(spread, name), getattr(single, name), check_exact=False, rtol=0, atol=1e-9
        )
