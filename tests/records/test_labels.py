"""Bands and outcomes are defined once; every reader agrees with the records."""

from __future__ import annotations

import typing

from retention.data import contract
from retention.records.labels import (
    AS_INTERVENTION,
    BAND_LABELS,
    BANDS,
    FOLLOW_UP_OUTCOMES,
    INTERVENTION_OUTCOMES,
    OUTCOME_LABELS,
    InterventionOutcome,
)
from retention.serving import schemas
from retention.serving.web.texts import translator


def test_every_follow_up_outcome_exports_as_a_contract_outcome() -> None:
    # the service's log keeps "contacted" (reached, result not known): exported as pending
    assert set(AS_INTERVENTION) == set(FOLLOW_UP_OUTCOMES)
    assert AS_INTERVENTION["contacted"] == "pending"
    assert typing.get_args(InterventionOutcome) == INTERVENTION_OUTCOMES
    assert contract.OUTCOMES == INTERVENTION_OUTCOMES
    assert set(INTERVENTION_OUTCOMES) == set(FOLLOW_UP_OUTCOMES) - {"contacted"}


def test_every_band_and_outcome_has_both_labels() -> None:
    assert set(BAND_LABELS) == set(BANDS)
    assert set(OUTCOME_LABELS) == set(FOLLOW_UP_OUTCOMES)
    zh, en = translator("zh"), translator("en")
    for value, (chinese, english) in {**BAND_LABELS, **OUTCOME_LABELS}.items():
        assert (zh(value), en(value)) == (chinese, english)
    for outcome in INTERVENTION_OUTCOMES:
        assert contract.VALUE_LABELS_ZH[outcome] == OUTCOME_LABELS[outcome][0]


def test_the_api_accepts_the_follow_up_outcomes_and_bands() -> None:
    field = schemas.FollowUpIn.model_json_schema()["properties"]["outcome"]
    assert tuple(field["enum"]) == FOLLOW_UP_OUTCOMES
    assert typing.get_args(schemas.Band) == BANDS
