"""Reasons come from the model's contributions and carry the account's own values."""

from __future__ import annotations

import numpy as np
import pytest

from retention.features.catalogue import load_catalogue
from retention.model.registry import evaluation_rows, load_version
from retention.scoring.reasons import contributions, reason_table
from retention.training.pipeline import TrainResult


@pytest.fixture(scope="module")
def scored(trained: TrainResult):  # type: ignore[no-untyped-def]
    model = load_version(trained.version)
    rows = evaluation_rows(trained.version).head(400).reset_index(drop=True)
    return model, rows


def test_contributions_and_bias_add_up_to_the_raw_score(scored) -> None:  # type: ignore[no-untyped-def]
    model, rows = scored
    matrix = model.matrix(rows)
    parts = contributions(model, matrix)
    np.testing.assert_allclose(parts.raw_score, model.raw_score(matrix), rtol=1e-6, atol=1e-6)
    groups = {f.name: f.group for f in load_catalogue().features}
    np.testing.assert_allclose(
        parts.by_group(groups)[1].sum(axis=1) + parts.bias,
        model.raw_score(matrix),
        rtol=1e-6,
        atol=1e-6,
    )


def test_top_reasons_raise_risk_and_quote_the_accounts_values(scored) -> None:  # type: ignore[no-untyped-def]
    model, rows = scored
    catalogue = load_catalogue()
    table = reason_table(rows, contributions(model, model.matrix(rows)), catalogue)
    riskiest = int(np.argmax(model.predict_proba(rows)))
    top = table[table["row"] == riskiest]
    assert 1 <= len(top) <= 3 and list(top["rank"]) == list(range(1, len(top) + 1))
    assert (top["contribution"] > 0).all()
    assert list(top["contribution"]) == sorted(top["contribution"], reverse=True)
    for reason in top.itertuples():
        feature = catalogue.by_name[reason.feature]
        assert reason.text_zh == feature.reason(rows.iloc[riskiest][reason.feature], "zh")
        assert reason.group_zh == catalogue.groups[reason.group].zh
    assert table.groupby("row").size().max() <= 3
