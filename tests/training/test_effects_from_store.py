"""The effects job learns from the store's assignments as from an imported interventions
table: the same randomised rows, the same propensities, the same labels (issue 17, item 2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert

from retention.data.dataset import Dataset
from retention.store.assignments import interventions_table, with_store_interventions
from retention.store.batches import ASSIGNMENTS, BATCHES
from retention.store.database import open_store
from retention.training import effects

SMALL = effects.EffectsConfig(min_treated=100, min_controls=100)
KEY = [effects.TIME, effects.ID]


def _randomised(dataset: Dataset, months: int = 3) -> pd.DataFrame:
    """The campaign log's randomised assignments of its first months."""
    iv = dataset.interventions
    assert iv is not None
    randomised = iv[iv["randomised"].astype(bool)]
    first = randomised["created_at"].dt.to_period("M").drop_duplicates().sort_values()[:months]
    return randomised[randomised["created_at"].dt.to_period("M").isin(first)]


def _store_them(url: str, log: pd.DataFrame) -> None:
    """A complete batch per month holding that month's assignments, as scoring writes them."""
    engine = open_store(url)
    months = log["created_at"].dt.to_period("M").dt.to_timestamp()
    with engine.begin() as connection:
        for month, rows in log.groupby(months):
            batch_id = connection.execute(
                insert(BATCHES)
                .values(
                    snapshot_date=month.date(), scored_on=month.date(), model_name="m",
                    model_version="1", capacity=len(rows), status="complete",
                    created_at=dt.datetime(2026, 1, 1),
                )
                .returning(BATCHES.c.id)
            ).scalar_one()  # fmt: skip
            connection.execute(
                insert(ASSIGNMENTS),
                [
                    {
                        "batch_id": batch_id, "customer_id": r.customer_id, "rank": i,
                        "assignment": r.assignment, "action_code": r.action_code,
                        "follow_up_probability": 0.5, "action_probability": None,
                        "assignment_probability": float(r.assignment_probability),
                        "draw": 0.0, "seed": 0,
                    }
                    for i, r in enumerate(rows.itertuples(), start=1)
                ],
            )  # fmt: skip


def test_the_stores_assignments_give_the_rows_the_imported_table_gives(
    campaign_dataset: Dataset, tmp_path: Path
) -> None:
    # Given the first months of the campaign log, imported, and the same assignments in
    # the store (with no follow-up logged: the label comes from the data either way)
    log = _randomised(campaign_dataset)
    imported = effects.assignment_rows(replace(campaign_dataset, interventions=log), SMALL)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store_them(url, log)

    # When the effects job builds its rows from the store's export instead
    table = with_store_interventions(None, interventions_table(open_store(url)))
    from_store = effects.assignment_rows(replace(campaign_dataset, interventions=table), SMALL)

    # Then they are the same rows: assignment, action, weight and churn label
    columns = [*KEY, effects.ACTION, effects.TREATED, effects.WEIGHT, effects.LABEL]
    assert len(imported) > 100
    pd.testing.assert_frame_equal(
        from_store[columns].sort_values(KEY, ignore_index=True),
        imported[columns].sort_values(KEY, ignore_index=True),
        check_dtype=False,
    )


def test_export_interventions_writes_the_contracts_table(
    campaign_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from retention.cli import app

    log = _randomised(campaign_dataset, months=1)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store_them(url, log)
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_DATABASE_URL", url)
    out = tmp_path / "interventions.csv"
    result = CliRunner().invoke(app, ["export-interventions", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, encoding="utf-8-sig")
    assert len(written) == len(log) and set(written["randomised"]) == {True}
    assert sorted(written["customer_id"].astype(str)) == sorted(log["customer_id"].astype(str))
    refused = CliRunner().invoke(app, ["export-interventions", "--out", str(tmp_path / "x.txt")])
    assert refused.exit_code != 0 and "x.txt" in refused.output
